//! `fairshare demo` and `fairshare controller` run as a user runs them.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_fairshare"))
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn scratch(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).expect("scratch dir");
    d
}

/// A free port on loopback: bound, noted, closed.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// `fairshare switch --grpc` in its own process (device 1, CPU port 255),
/// and its port.
fn grpc_switch() -> (std::process::Child, u16) {
    let port = free_port();
    let child = bin()
        .args(["switch", "--grpc", &format!("127.0.0.1:{port}")])
        .args(["--no-p4", "--device-id", "1", "--cpu-port", "255"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start fairshare switch");
    (child, port)
}

#[test]
fn the_demo_runs_the_metro_example_and_writes_pcaps_and_reports() {
    let out = scratch("demo-metro");
    let o = bin()
        .current_dir(root())
        .args([
            "demo",
            "--duration",
            "2s",
            "--rate",
            "40",
            "--refresh",
            "300ms",
            "--out",
        ])
        .arg(&out)
        .output()
        .expect("run fairshare demo");
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "demo failed: {stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_slice(&fs::read(out.join("report.json")).expect("report.json"))
            .expect("report.json is JSON");
    let routes = report["routes"].as_array().expect("routes");
    // metro: two DCs, four edges, every pair a route.
    assert_eq!(routes.len(), 8, "{report}");
    for r in routes {
        for key in [
            "dc",
            "edge",
            "offered_bps",
            "used_bps",
            "admitted",
            "rejected",
            "tally_equal",
        ] {
            assert!(!r[key].is_null(), "route without {key}: {r}");
        }
        assert!(r["offered_bps"].as_u64().unwrap_or(0) > 0, "{r}");
    }
    assert_eq!(report["invariant_violations"], 0, "{report}");
    let admitted: u64 = routes
        .iter()
        .map(|r| r["admitted"].as_u64().unwrap_or(0))
        .sum();
    assert!(admitted > 0, "no flow admitted in 2 s: {report}");
    assert_eq!(report["switches"].as_array().map(Vec::len), Some(6));
    let text = fs::read_to_string(out.join("report.txt")).expect("report.txt");
    assert!(text.contains("invariant violations: 0"), "{text}");
    // A pcap per port that saw traffic, each a valid capture.
    let pcaps: Vec<PathBuf> = fs::read_dir(out.join("pcap"))
        .expect("pcap folder")
        .map(|e| e.expect("entry").path())
        .collect();
    assert!(
        pcaps.iter().any(|p| p.ends_with("dc-east-port10.pcap")),
        "the DC's uplink was captured: {pcaps:?}"
    );
    for p in &pcaps {
        let b = fs::read(p).expect("read pcap");
        assert!(
            b.len() >= 24 && b[..4] == 0xa1b2_c3d4u32.to_le_bytes(),
            "{}",
            p.display()
        );
    }
}

#[test]
fn the_controller_refuses_a_switch_or_role_the_policy_does_not_have() {
    let policy = root().join("examples/metro.fsp");
    let o = bin()
        .args(["controller", "--policy"])
        .arg(&policy)
        .args(["--switch", "dc-nowhere", "--role", "dc"])
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("dc-nowhere") && err.contains("dc-east"),
        "{err}"
    );

    let o = bin()
        .args(["controller", "--policy"])
        .arg(&policy)
        .args(["--switch", "edge-n", "--role", "dc"])
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("edge switch") && err.contains("--role edge"),
        "{err}"
    );
}

#[test]
fn the_controller_reports_an_unreachable_switch() {
    // A port nobody listens on: bind one, note it, close it.
    let port = free_port();
    let o = bin()
        .args(["controller", "--policy"])
        .arg(root().join("examples/metro.fsp"))
        .args(["--switch", "dc-east", "--role", "dc", "--target"])
        .arg(format!("grpc://127.0.0.1:{port}"))
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("dc-east") && err.contains(&port.to_string()),
        "{err}"
    );
}

#[test]
fn ctrl_c_stops_the_demo_cleanly_with_its_reports() {
    let out = scratch("demo-interrupted");
    let mut child = bin()
        .current_dir(root())
        .args(["demo", "--duration", "60s", "--rate", "20", "--out"])
        .arg(&out)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start fairshare demo");
    std::thread::sleep(std::time::Duration::from_secs(3));
    let st = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill -INT");
    assert!(st.success());
    let t = std::time::Instant::now();
    let o = loop {
        if child.try_wait().expect("wait").is_some() {
            break child.wait_with_output().expect("output");
        }
        assert!(
            t.elapsed() < std::time::Duration::from_secs(20),
            "the demo did not stop after Ctrl-C"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(stdout.contains("interrupted"), "{stdout}");
    let report: serde_json::Value =
        serde_json::from_slice(&fs::read(out.join("report.json")).expect("report.json"))
            .expect("JSON");
    assert_eq!(report["invariant_violations"], 0);
}

#[test]
fn the_demo_drives_an_external_switch_given_by_target() {
    // A fairshare switch in its own process, P4Runtime only: the demo's
    // controller of dc-east drives it as it would a simple_switch_grpc.
    let (mut switch, port) = grpc_switch();
    let out = scratch("demo-external");
    let o = bin()
        .current_dir(root())
        .args(["demo", "--duration", "1s", "--rate", "10", "--target"])
        .arg(format!("dc-east=127.0.0.1:{port}"))
        .arg("--out")
        .arg(&out)
        .output()
        .expect("run fairshare demo");
    let _ = switch.kill();
    let _ = switch.wait();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_slice(&fs::read(out.join("report.json")).expect("report.json"))
            .expect("JSON");
    let east = report["switches"]
        .as_array()
        .and_then(|s| s.iter().find(|x| x["switch"] == "dc-east"))
        .expect("dc-east in the report")
        .clone();
    assert_eq!(east["primary"], true, "{east}");
    assert!(
        east["packet_outs"].as_u64().unwrap_or(0) >= 4,
        "the offers went out: {east}"
    );
    assert!(east["writes"].as_u64().is_some(), "{east}");
}

#[test]
fn a_tofino_build_with_a_missing_file_is_refused_by_name() {
    // A flat build folder without context.json.
    let dir = scratch("tofino-missing");
    fs::write(dir.join("tofino.bin"), b"\x01\x02").expect("write");
    fs::write(dir.join("bf-rt.json"), b"{}").expect("write");
    let p4info =
        root().join("examples/expected/metro/pipelines/bmv2-cpu255/fairshare.p4info.txtpb");
    let o = bin()
        .args(["controller", "--policy"])
        .arg(root().join("examples/metro.fsp"))
        .args([
            "--switch",
            "dc-east",
            "--role",
            "dc",
            "--target-kind",
            "tofino",
            "--tofino-build",
        ])
        .arg(&dir)
        .arg("--p4info")
        .arg(&p4info)
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("context.json"), "{err}");

    // Tofino without a build folder.
    let o = bin()
        .args(["controller", "--policy"])
        .arg(root().join("examples/metro.fsp"))
        .args([
            "--switch",
            "dc-east",
            "--role",
            "dc",
            "--target-kind",
            "tofino",
        ])
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--tofino-build"));
}

#[test]
fn the_controller_pushes_a_packed_tofino_config_to_a_p4runtime_device() {
    // fairshare's switch takes any device config it can load: it refuses a
    // Tofino one, and the refusal shows the packed bytes went out in
    // SetForwardingPipelineConfig.
    let dir = support::tofino::sample_build("tofino-build");
    let (mut switch, port) = grpc_switch();
    let p4info =
        root().join("examples/expected/metro/pipelines/bmv2-cpu255/fairshare.p4info.txtpb");
    let o = bin()
        .args(["controller", "--policy"])
        .arg(root().join("examples/metro.fsp"))
        .args([
            "--switch",
            "dc-east",
            "--role",
            "dc",
            "--target-kind",
            "tofino",
            "--tofino-build",
        ])
        .arg(&dir)
        .arg("--p4info")
        .arg(&p4info)
        .arg("--target")
        .arg(format!("grpc://127.0.0.1:{port}"))
        .args(["--duration", "2s"])
        .output()
        .expect("run");
    let _ = switch.kill();
    let _ = switch.wait();
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("SetForwardingPipelineConfig"), "{err}");
}

/// `simple_switch_grpc`'s folder (`FAIRSHARE_BMV2`, `../shared/bmv2`,
/// then the folder above it on PATH), or `None` after printing why the
/// test skips (it fails instead under `FAIRSHARE_REQUIRE_BMV2=1`).
fn bmv2_with_namespaces_or_skip() -> Option<PathBuf> {
    let has = |d: &Path| d.join("bin/simple_switch_grpc").is_file();
    let dir = match std::env::var_os("FAIRSHARE_BMV2") {
        Some(d) => Some(PathBuf::from(d)).filter(|d| has(d)),
        None => Some(root().join("../shared/bmv2"))
            .filter(|d| has(d))
            .or_else(|| {
                std::env::split_paths(&std::env::var_os("PATH")?)
                    .find(|d| d.join("simple_switch_grpc").is_file())
                    .and_then(|d| d.parent().map(Path::to_path_buf))
                    .filter(|d| has(d))
            }),
    };
    let why = match (
        &dir,
        fairshare_controller::bmv2net::namespaces_unavailable(),
    ) {
        (None, _) => "no simple_switch_grpc (FAIRSHARE_BMV2, ../shared/bmv2 or PATH)".to_string(),
        (Some(_), Some(why)) => why,
        (Some(_), None) => return dir,
    };
    if std::env::var("FAIRSHARE_REQUIRE_BMV2").is_ok_and(|v| v == "1") {
        panic!("FAIRSHARE_REQUIRE_BMV2=1 but {why}");
    }
    println!("skipped: {why}");
    None
}

const TWO_DCS: &str = r#"
network "two" {
  recalc every 60s
  datacenter d1 {
    switch d1-sw { cpu-port 255  device-id 1 }
    uplink 10Gbps
    server a { address 10.1.0.1  port 1  capacity 5Gbps  response 1ms }
  }
  datacenter d2 {
    switch d2-sw { cpu-port 255  device-id 2 }
    uplink 10Gbps
    server b { address 10.2.0.1  port 1  capacity 5Gbps  response 1ms }
  }
  edge e1 {
    switch e1-sw { cpu-port 255  device-id 3 }
    clients 192.0.2.0/24
    subscribers 100
  }
  router core
  link e1 <-> core { capacity 10Gbps  distance 1ms }
  link core <-> d1 { capacity 1Gbps  distance 1ms }
  link core <-> d2 { capacity 1Gbps  distance 2ms }
  service web { vip 203.0.113.1 tcp/80  at d1, d2  flow-rate 250Mbps }
}
"#;

#[test]
fn the_demo_on_simple_switch_grpc_reports_what_fairshares_switch_reports() {
    let Some(bmv2) = bmv2_with_namespaces_or_skip() else {
        return;
    };
    // Two DCs with a 1 Gb/s route each to one edge, 250 Mb/s flows: eight
    // fit, the edge moving to the second DC when the first is full.
    let dir = scratch("demo-requests-policy");
    let policy = dir.join("two.fsp");
    fs::write(&policy, TWO_DCS).expect("write the policy");
    // The same 12 requests, one after another, on each kind of switch.
    let run = |extra: &[&str], name: &str| -> serde_json::Value {
        let out = scratch(name);
        let o = bin()
            .current_dir(root())
            .env("FAIRSHARE_BMV2", &bmv2)
            .arg("demo")
            .arg(&policy)
            // Nothing periodic within the run: each run's length follows
            // its switches' speed.
            .args(["--requests", "12", "--seed", "3", "--refresh", "60s"])
            .args(extra)
            .arg("--out")
            .arg(&out)
            .output()
            .expect("run fairshare demo");
        let stdout = String::from_utf8_lossy(&o.stdout).to_string();
        assert!(
            o.status.success(),
            "demo {extra:?} failed: {stdout}\n{}",
            String::from_utf8_lossy(&o.stderr)
        );
        if extra.contains(&"--bmv2") {
            assert!(
                stdout.contains("simple_switch_grpc, one network namespace each"),
                "{stdout}"
            );
        }
        serde_json::from_slice(&fs::read(out.join("report.json")).expect("report.json"))
            .expect("report.json is JSON")
    };
    let fairshare = run(&[], "demo-requests-fairshare");
    let bmv2 = run(&["--bmv2"], "demo-requests-bmv2");
    let routes = |r: &serde_json::Value| -> Vec<serde_json::Value> {
        r["routes"]
            .as_array()
            .expect("routes")
            .iter()
            .map(|x| {
                serde_json::json!([
                    x["dc"],
                    x["edge"],
                    x["offered_bps"],
                    x["used_bps"],
                    x["admitted"],
                    x["rejected"],
                    x["tally_equal"]
                ])
            })
            .collect()
    };
    let (want, got) = (routes(&fairshare), routes(&bmv2));
    assert_eq!(got, want, "routes on BMv2 (left) and on fairshare's switch");
    let total = |column: usize| {
        want.iter()
            .map(|r| r[column].as_u64().unwrap_or(0))
            .sum::<u64>()
    };
    assert_eq!(
        (total(4), total(5)),
        (8, 4),
        "eight admitted, four refused: {want:?}"
    );
    assert!(want.iter().all(|r| r[6] == true), "{want:?}");
    assert_eq!(bmv2["invariant_violations"], 0, "{bmv2}");
}
