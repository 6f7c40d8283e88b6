//! A Tofino compiler's output folder with made-up contents, for tests of
//! the tofino mode: the controller only packs the files and passes them on.

use std::fs;
use std::path::{Path, PathBuf};

/// Writes `tofino.bin`, `context.json` and `bf-rt.json` into a fresh
/// folder `name` under the test scratch space, and returns it.
pub fn sample_build(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("scratch dir");
    fs::write(dir.join("tofino.bin"), b"\x01\x02\x03").expect("write");
    fs::write(
        dir.join("context.json"),
        b"{\"program_name\": \"fairshare\"}",
    )
    .expect("write");
    fs::write(dir.join("bf-rt.json"), b"{\"tables\": []}").expect("write");
    dir
}
