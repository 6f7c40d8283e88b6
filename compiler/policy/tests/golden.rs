//! Golden tests for bad input: every `tests/bad/<name>.fsp` must fail to
//! load, and its rendered diagnostics must equal `tests/bad/<name>.stderr`.
//!
//! A missing `.stderr` is written and the test fails saying so; with
//! `UPDATE_EXPECT=1` every `.stderr` is rewritten. Review the diff before
//! committing.

use std::path::{Path, PathBuf};

fn bad_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad")
}

/// Loads `<name>.fsp`, renders its diagnostics under the bare file name (so
/// the output does not depend on where the repository lives) and compares
/// them with `<name>.stderr`. Returns a description of the failure, if any.
fn check(name: &str) -> Option<String> {
    let dir = bad_dir();
    let fsp = dir.join(format!("{name}.fsp"));
    let expected_path = dir.join(format!("{name}.stderr"));
    let src = match std::fs::read_to_string(&fsp) {
        Ok(s) => s,
        Err(e) => return Some(format!("{name}: cannot read {}: {e}", fsp.display())),
    };
    let actual = match fairshare_policy::load(&src) {
        Ok(_) => {
            return Some(format!(
                "{name}.fsp loaded without errors, but it is a bad-input case"
            ))
        }
        Err(diags) => fairshare_policy::render(&diags, &format!("{name}.fsp"), &src),
    };
    let update = std::env::var_os("UPDATE_EXPECT").is_some_and(|v| v == "1");
    match std::fs::read_to_string(&expected_path) {
        Ok(expected) if expected == actual => None,
        Ok(_) if update => write(&expected_path, &actual).err(),
        Ok(expected) => Some(format!(
            "{name}: output differs from {name}.stderr (rerun with UPDATE_EXPECT=1 to accept)\n--- expected\n{expected}\n--- actual\n{actual}"
        )),
        Err(_) => Some(write(&expected_path, &actual).err().unwrap_or_else(|| {
            format!("{name}: {name}.stderr was missing and has been written; review it and rerun")
        })),
    }
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

#[test]
fn bad_inputs_match_their_stderr() {
    let mut names: Vec<String> = std::fs::read_dir(bad_dir())
        .expect("tests/bad exists")
        .filter_map(|e| {
            let path = e.ok()?.path();
            (path.extension()? == "fsp").then(|| path.file_stem()?.to_str().map(str::to_owned))?
        })
        .collect();
    names.sort();
    assert!(
        names.len() >= 14,
        "expected at least 14 bad-input cases, found {}",
        names.len()
    );
    let failures: Vec<String> = names.iter().filter_map(|n| check(n)).collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n\n{}",
        failures.len(),
        names.len(),
        failures.join("\n\n")
    );
}

#[test]
fn every_stderr_has_its_fsp() {
    for entry in std::fs::read_dir(bad_dir()).expect("tests/bad exists") {
        let path = entry.expect("readable directory entry").path();
        if path.extension().is_some_and(|e| e == "stderr") {
            assert!(
                path.with_extension("fsp").exists(),
                "{} has no .fsp beside it",
                path.display()
            );
        }
    }
}
