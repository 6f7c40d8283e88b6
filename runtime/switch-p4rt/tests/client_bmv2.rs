//! `fairshare_p4rt::client` against a real `simple_switch_grpc`: the same
//! controller scenario as against `fairshare switch`.
//!
//! BMv2 is found through `FAIRSHARE_BMV2` (a folder with `bin/`), then
//! `../shared/bmv2` beside the workspace root, then `PATH`. Without it the
//! test prints `skipped: <reason>` and passes, unless
//! `FAIRSHARE_REQUIRE_BMV2=1`, when it fails.

mod client_scenario;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

const DEVICE_ID: u64 = 1;
const CPU_PORT: u32 = 255;

fn find_simple_switch_grpc() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("FAIRSHARE_BMV2") {
        let p = PathBuf::from(dir).join("bin/simple_switch_grpc");
        return p.is_file().then_some(p);
    }
    let shared = client_scenario::root().join("../shared/bmv2/bin/simple_switch_grpc");
    if shared.is_file() {
        return Some(shared);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("simple_switch_grpc"))
        .find(|p| p.is_file())
}

/// Stops the switch when the test ends, however it ends: SIGTERM, then
/// SIGKILL if it is still there after three seconds.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_drives_simple_switch_grpc_through_the_controller_scenario() -> Result<()> {
    let Some(bin) = find_simple_switch_grpc() else {
        if std::env::var_os("FAIRSHARE_REQUIRE_BMV2").is_some_and(|v| v == "1") {
            anyhow::bail!("FAIRSHARE_REQUIRE_BMV2=1 but no simple_switch_grpc in FAIRSHARE_BMV2, ../shared/bmv2 or PATH");
        }
        eprintln!("skipped: no simple_switch_grpc (set FAIRSHARE_BMV2 to a folder with bin/simple_switch_grpc)");
        return Ok(());
    };
    // simple_switch_grpc does not report a port it chose: pick a free one.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let log = tempdir()?;
    let child = Command::new(&bin)
        .args([
            "--no-p4",
            "--device-id",
            &DEVICE_ID.to_string(),
            "--log-file",
            &log.join("bmv2").to_string_lossy(),
            "--",
            "--grpc-server-addr",
            &format!("127.0.0.1:{port}"),
            "--cpu-port",
            &CPU_PORT.to_string(),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let running = Running(child);
    let outcome = client_scenario::run(&format!("127.0.0.1:{port}"), DEVICE_ID, CPU_PORT).await;
    drop(running);
    let _ = std::fs::remove_dir_all(&log);
    outcome
}

fn tempdir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("fairshare-client-bmv2-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
