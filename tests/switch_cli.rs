//! `fairshare switch` on pcap files: the single example's DC pipeline and
//! rules, a request and an answer in, the rewritten packets out.

use pcap_file::pcap::{PcapPacket, PcapReader, PcapWriter};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn write_pcap(path: &Path, frames: &[(u64, Vec<u8>)]) {
    let f = std::fs::File::create(path).expect("create pcap");
    let mut w = PcapWriter::new(f).expect("pcap writer");
    for (us, data) in frames {
        w.write_packet(&PcapPacket::new(
            Duration::from_micros(*us),
            data.len() as u32,
            data,
        ))
        .expect("write packet");
    }
}

fn read_pcap(path: &Path) -> Vec<(Duration, Vec<u8>)> {
    let data = std::fs::read(path).expect("output pcap");
    let mut r = PcapReader::new(&data[..]).expect("pcap");
    let mut out = vec![];
    while let Some(p) = r.next_packet() {
        let p = p.expect("record");
        out.push((p.timestamp, p.data.into_owned()));
    }
    out
}

fn frame(dst_mac: [u8; 6], src: [u8; 4], dst: [u8; 4], ttl: u8) -> Vec<u8> {
    let mut f = dst_mac.to_vec();
    f.extend_from_slice(&[2, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0x08, 0x00]);
    f.extend_from_slice(&[0x45, 0, 0, 40, 0, 1, 0, 0, ttl, 17, 0, 0]);
    f.extend_from_slice(&src);
    f.extend_from_slice(&dst);
    let mut sum: u32 = f[14..34]
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
        .sum();
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    f[24..26].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    f.extend_from_slice(&[0x9c, 0x40, 0, 80, 0, 20, 0, 0]);
    f.extend_from_slice(&[0u8; 12]);
    f
}

#[test]
fn switch_runs_pcap_files_and_reports_drops() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("switch-cli");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let out = dir.join("out");
    let status = Command::new(env!("CARGO_BIN_EXE_fairshare"))
        .args(["compile", "-o"])
        .arg(&out)
        .arg(root.join("examples/single.fsp"))
        .status()
        .expect("run compile");
    assert!(status.success(), "fairshare compile failed");
    let json = std::fs::read_dir(out.join("pipelines"))
        .expect("pipelines")
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("fairshare.json"))
        .find(|p| p.is_file())
        .expect("a pipeline");
    let rules = out.join("switches/dc1-sw.rules.json");

    // A UDP packet for the server s1 (routed to port 1), and a runt.
    write_pcap(
        &dir.join("p3.pcap"),
        &[
            (
                10,
                frame([2, 0, 0, 1, 0, 3], [192, 0, 2, 5], [10, 0, 0, 1], 64),
            ),
            (20, vec![1, 2, 3]),
        ],
    );
    let output = Command::new(env!("CARGO_BIN_EXE_fairshare"))
        .arg("switch")
        .arg("--json")
        .arg(&json)
        .arg("--rules")
        .arg(&rules)
        .arg(format!("--pcap-in=3={}", dir.join("p3.pcap").display()))
        .arg(format!(
            "--pcap-out=1={}",
            dir.join("p1_out.pcap").display()
        ))
        .output()
        .expect("run switch");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "switch failed: {stderr}");
    let got = read_pcap(&dir.join("p1_out.pcap"));
    assert_eq!(got.len(), 1, "one packet on port 1; stderr: {stderr}");
    assert_eq!(
        got[0].0,
        Duration::from_micros(10),
        "the output keeps the input's timestamp"
    );
    assert_eq!(got[0].1[22], 63, "the TTL went down by one");
    assert!(stderr.contains("2 received, 1 sent"), "{stderr}");

    let bad = Command::new(env!("CARGO_BIN_EXE_fairshare"))
        .args(["switch", "--json"])
        .arg(root.join("Cargo.toml"))
        .arg(format!("--pcap-in=3={}", dir.join("p3.pcap").display()))
        .output()
        .expect("run switch");
    assert_eq!(
        bad.status.code(),
        Some(2),
        "a file that is not BMv2 JSON is bad input"
    );
}

#[test]
fn switch_hands_packets_for_the_cpu_port_to_the_controller() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("switch-cli-cpu");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let out = dir.join("out");
    let status = Command::new(env!("CARGO_BIN_EXE_fairshare"))
        .args(["compile", "-o"])
        .arg(&out)
        .arg(root.join("examples/single.fsp"))
        .status()
        .expect("run compile");
    assert!(status.success(), "fairshare compile failed");
    let json = out.join("pipelines/bmv2-cpu255/fairshare.json");
    let rules = out.join("switches/dc1-sw.rules.json");
    // RSVP (IP protocol 46) is punted to the controller.
    let mut rsvp = frame([2, 0, 0, 1, 0, 3], [192, 0, 2, 5], [10, 0, 0, 1], 64);
    rsvp[23] = 46;
    rsvp[24..26].copy_from_slice(&[0, 0]);
    let mut sum: u32 = rsvp[14..34]
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
        .sum();
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    rsvp[24..26].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    write_pcap(&dir.join("p3.pcap"), &[(10, rsvp.clone())]);
    let output = Command::new(env!("CARGO_BIN_EXE_fairshare"))
        .arg("switch")
        .arg("--json")
        .arg(&json)
        .arg("--rules")
        .arg(&rules)
        .arg(format!("--pcap-in=3={}", dir.join("p3.pcap").display()))
        .args(["--cpu-port", "255", "--packet-in"])
        .arg(dir.join("packet_in.jsonl"))
        .output()
        .expect("run switch");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "switch failed: {stderr}");
    assert!(stderr.contains("packet-ins: 1"), "{stderr}");
    let text = std::fs::read_to_string(dir.join("packet_in.jsonl")).expect("packet-ins");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), 1, "{text}");
    let hex: String = rsvp.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        lines[0]["payload"],
        hex.as_str(),
        "the frame, header stripped"
    );
    assert_eq!(lines[0]["time_us"], 0);
    let md = &lines[0]["metadata"];
    assert_eq!(md[0]["name"], "ingress_port");
    assert_eq!(md[0]["value"], "0x03");
    assert_eq!(md[1]["name"], "reason");
    assert_eq!(
        md[1]["value"],
        format!("0x{:02x}", fairshare_codegen::pipeline::PUNT_RSVP).as_str()
    );
}

#[test]
fn switch_refuses_an_interface_that_does_not_exist() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let json = root.join("runtime/switch/tests/data/minimal.json");
    let output = Command::new(env!("CARGO_BIN_EXE_fairshare"))
        .arg("switch")
        .arg("--json")
        .arg(&json)
        .args(["--iface", "1=fs-no-such-if", "--run-for", "0"])
        .output()
        .expect("run switch");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("fs-no-such-if"), "{stderr}");
}

#[test]
fn options_of_the_p4runtime_device_are_refused_without_grpc() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let json = root.join("runtime/switch/tests/data/minimal.json");
    for extra in [
        &["--device-id", "3"][..],
        &["--busy-poll-us", "0"][..],
        &["--no-p4"][..],
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_fairshare"))
            .arg("switch")
            .arg("--json")
            .arg(&json)
            .args(extra)
            .output()
            .expect("run switch");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{extra:?}: {stderr}");
        assert!(stderr.contains("go with --grpc"), "{extra:?}: {stderr}");
    }
}

#[test]
fn a_priority_queue_count_outside_1_to_the_maximum_is_refused() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let json = root.join("runtime/switch/tests/data/minimal.json");
    let max = fairshare_switch::pre::MAX_PRIORITY_QUEUES;
    for n in [0, max + 1] {
        let output = Command::new(env!("CARGO_BIN_EXE_fairshare"))
            .arg("switch")
            .arg("--json")
            .arg(&json)
            .args(["--priority-queues", &n.to_string()])
            .output()
            .expect("run switch");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{n}: {stderr}");
        assert!(
            stderr.contains("--priority-queues") && stderr.contains(&format!("1..={max}")),
            "{n}: {stderr}"
        );
    }
}

#[test]
fn priority_queues_are_set_and_their_drops_reported() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("switch-cli-priority");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    // The minimal program, its action giving every packet priority 1.
    let text = std::fs::read_to_string(root.join("runtime/switch/tests/data/minimal.json"))
        .expect("minimal.json");
    let mut doc: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    doc["header_types"][0]["fields"] = serde_json::json!([
        ["ingress_port", 9, false],
        ["egress_spec", 9, false],
        ["egress_port", 9, false],
        ["mcast_grp", 16, false],
        ["priority", 3, false],
        ["_padding", 2, false]
    ]);
    doc["field_aliases"] = serde_json::json!([[
        "intrinsic_metadata.priority",
        ["standard_metadata", "priority"]
    ]]);
    doc["actions"][0]["primitives"]
        .as_array_mut()
        .expect("primitives")
        .push(serde_json::json!({"op": "assign", "parameters": [
            {"type": "field", "value": ["standard_metadata", "priority"]},
            {"type": "hexstr", "value": "0x1"}]}));
    let json = dir.join("prio.json");
    std::fs::write(&json, doc.to_string()).expect("json");
    write_pcap(&dir.join("p1.pcap"), &[(10, vec![0; 20])]);
    let run = |extra: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_fairshare"))
            .arg("switch")
            .arg("--json")
            .arg(&json)
            .arg(format!("--pcap-in=1={}", dir.join("p1.pcap").display()))
            .arg(format!(
                "--pcap-out=2={}",
                dir.join("p2_out.pcap").display()
            ))
            .args(extra)
            .output()
            .expect("run switch");
        let stderr = String::from_utf8_lossy(&output.stderr).to_string();
        assert!(output.status.success(), "{extra:?}: {stderr}");
        (read_pcap(&dir.join("p2_out.pcap")).len(), stderr)
    };
    // One queue a port: priority 1 has none.
    let (sent, stderr) = run(&[]);
    assert_eq!(sent, 0, "{stderr}");
    assert!(stderr.contains("1 received, 0 sent"), "{stderr}");
    assert!(
        stderr.contains("1 dropped for a priority without a queue"),
        "{stderr}"
    );
    let (sent, stderr) = run(&["--priority-queues", "2"]);
    assert_eq!(sent, 1, "{stderr}");
    assert!(!stderr.contains("priority"), "{stderr}");
}
