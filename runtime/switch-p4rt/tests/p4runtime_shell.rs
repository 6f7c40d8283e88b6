//! The switch driven by the official p4runtime-shell (PyPI
//! `p4runtime-shell==0.0.5`): it pushes the `dc1-sw` pipeline of
//! `examples/single.fsp`, writes, reads and deletes entries, sets a meter,
//! reads counters, sends a packet-out and receives a packet-in. The script
//! is `tests/interop/p4runtime_shell_driver.py`.
//!
//! The interpreter comes from `FAIRSHARE_PYTHON`, else
//! `target/venv/bin/python` of the workspace, prepared with
//! `python3 -m venv target/venv && target/venv/bin/pip install p4runtime-shell==0.0.5 scapy==2.6.1`.
//! Without it the test prints `skipped: ...`, unless
//! `FAIRSHARE_REQUIRE_PEERS=1`.

mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use common::*;

const WORKSPACE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/interop/p4runtime_shell_driver.py"
);

/// The Python with p4runtime-shell, or why there is none.
fn python() -> Result<PathBuf, String> {
    let python = std::env::var_os("FAIRSHARE_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(WORKSPACE).join("target/venv/bin/python"));
    let ok = Command::new(&python)
        .args(["-c", "import p4runtime_sh.shell"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        Ok(python)
    } else {
        Err(format!(
            "{} cannot import p4runtime_sh (set FAIRSHARE_PYTHON or create target/venv)",
            python.display()
        ))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p4runtime_shell_pushes_writes_reads_and_exchanges_packets() -> Result<()> {
    let python = match python() {
        Ok(p) => p,
        Err(reason) if std::env::var("FAIRSHARE_REQUIRE_PEERS").as_deref() != Ok("1") => {
            println!("skipped: {reason}");
            return Ok(());
        }
        Err(reason) => bail!("FAIRSHARE_REQUIRE_PEERS=1 but {reason}"),
    };
    let h = Harness::start().await?;
    let addr = h.addr;
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("p4runtime-shell");
    std::fs::create_dir_all(&dir)?;
    let (json, p4info) = single_pipeline()?;
    std::fs::write(dir.join("dc1-sw.json"), json)?;
    std::fs::write(dir.join("dc1-sw.p4info.txtpb"), p4info)?;

    let packet_out = ipv4_frame(17, [10, 0, 0, 9], [10, 0, 0, 1], &[0; 12]);
    let rsvp = ipv4_frame(
        46,
        [192, 0, 2, 5],
        [10, 0, 0, 1],
        &[0x10, 1, 0, 0, 0, 0, 0, 8],
    );
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();

    let switch = h.switch.clone();
    let output = h.output;
    let packet_out_hex = hex(&packet_out);
    let script_dir = dir.clone();
    let punted = rsvp.clone();
    // The script runs on a thread of its own: it blocks on its pipes.
    let driver = tokio::task::spawn_blocking(move || -> Result<Vec<serde_json::Value>> {
        let mut child = Command::new(&python)
            .arg(SCRIPT)
            .arg(addr.to_string())
            .arg(script_dir.join("dc1-sw.p4info.txtpb"))
            .arg(script_dir.join("dc1-sw.json"))
            .arg(&packet_out_hex)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting the p4runtime-shell driver")?;
        let stdout = child.stdout.take().context("stdout")?;
        let mut lines = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let line = line?;
            println!("shell: {line}");
            let value: serde_json::Value = serde_json::from_str(&line)
                .with_context(|| format!("expected a JSON line from the driver, found `{line}`"))?;
            let event = value["event"].as_str().unwrap_or_default().to_owned();
            if event == "packet-out-sent" {
                let (port, bytes) = output
                    .recv_timeout(Duration::from_secs(10))
                    .context("no packet left the switch after the packet-out")?;
                assert_eq!(port, 2, "the packet-out's egress port");
                assert_eq!(bytes, packet_out, "the packet-out's payload");
            }
            if event == "waiting-for-packet-in" {
                assert!(switch.inject(3, &punted));
            }
            lines.push(value);
        }
        let out = child.wait_with_output()?;
        if !out.status.success() {
            bail!(
                "p4runtime-shell driver failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(lines)
    });
    let lines = tokio::time::timeout(Duration::from_secs(120), driver)
        .await
        .context("the p4runtime-shell driver did not finish within 120 s")???;
    let events: Vec<&str> = lines
        .iter()
        .map(|l| l["event"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        events,
        [
            "primary",
            "read",
            "duplicate-refused",
            "deleted",
            "meter",
            "counters",
            "packet-out-sent",
            "waiting-for-packet-in",
            "packet-in",
            "done"
        ]
    );
    let duplicate = lines[2]["error"].as_str().unwrap_or_default();
    assert!(duplicate.contains("ALREADY_EXISTS"), "{duplicate}");
    // The packet-in: the RSVP frame, from port 3 (0x03), reason 1.
    let pin = &lines[8];
    assert_eq!(pin["payload"].as_str(), Some(hex(&rsvp).as_str()), "{pin}");
    let pin_header = h
        .index
        .id(
            fairshare_p4rt::EntityKind::ControllerPacketMetadata,
            "packet_in",
        )
        .context("packet_in")?;
    for (name, value) in [("ingress_port", "03"), ("reason", "01")] {
        let id = h
            .index
            .packet_metadata_by_name(pin_header, name)
            .context("metadata")?
            .id;
        assert_eq!(
            pin["metadata"][id.to_string()].as_str(),
            Some(value),
            "{name} in {pin}"
        );
    }
    Ok(())
}
