//! Wireshark's RSVP dissector reads every frame the agents emit in an
//! exchange (offers, release, forwarded Path, PathErr, Resvs, PathTear,
//! refreshes) without a malformed-packet or warning-level expert item, and
//! prints the addresses and rates the agents meant.

mod agent_support;

use std::net::Ipv4Addr;
use std::process::Command;
use std::time::Duration;

use agent_support::*;
use fairshare_controller::agent::Action;
use fairshare_rsvp::Body;

const R: Duration = Duration::from_secs(1);

fn skip(reason: &str) {
    if std::env::var("FAIRSHARE_REQUIRE_PEERS").as_deref() == Ok("1") {
        panic!("peer required (FAIRSHARE_REQUIRE_PEERS=1) but {reason}");
    }
    println!("skipped: {reason}");
}

fn tshark_available() -> bool {
    Command::new("tshark")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A classic pcap file (microsecond timestamps, Ethernet) of `frames`.
fn pcap(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&65535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    for (i, f) in frames.iter().enumerate() {
        out.extend_from_slice(&(1_700_000_000u32 + i as u32).to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(f);
    }
    out
}

fn run_tshark(pcap: &std::path::Path, fields: &[&str]) -> Vec<Vec<String>> {
    let mut cmd = Command::new("tshark");
    cmd.arg("-r")
        .arg(pcap)
        .args(["-T", "fields", "-E", "occurrence=a", "-E", "aggregator=|"]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().expect("run tshark");
    assert!(
        out.status.success(),
        "tshark failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("tshark prints UTF-8")
        .lines()
        .map(|l| l.split('\t').map(str::to_owned).collect())
        .collect()
}

/// The frames of a whole exchange, in the order the agents sent them.
fn exchange() -> Vec<Vec<u8>> {
    let mut net = Net::new(METRO, &["dc-east", "edge-n"], R);
    net.start();
    let web1 = servers(&net.policy, "east")[0];
    let f = SimFlow {
        client: Ipv4Addr::new(198, 51, 100, 20),
        client_port: 41_000,
        protocol: 6,
        service_port: 80,
        rate_bps: 2_000_000_000,
    };
    net.server_sends(0, web1.port, &web1.path(&f, R));
    // Too much for what is left: a PathErr.
    let g = SimFlow {
        client_port: 41_001,
        ..f
    };
    net.server_sends(0, web1.port, &web1.path(&g, R));
    net.run_until(R + R / 2, R / 10);
    net.server_sends(0, web1.port, &web1.path_tear(&f));
    // Every packet-out of both agents, those to the server included.
    net.log
        .iter()
        .filter_map(|(_, a)| match a {
            Action::PacketOut { frame, .. } => Some(frame.clone()),
            Action::Write(_) => None,
        })
        .collect()
}

#[test]
fn tshark_decodes_every_frame_the_agents_send() {
    if !tshark_available() {
        return skip("tshark is not on PATH");
    }
    let frames = exchange();
    let kinds: Vec<&'static str> = frames
        .iter()
        .map(|f| match decode(f).2.body {
            Body::Path(_) => "Path",
            Body::Resv(_) => "Resv",
            Body::PathErr(_) => "PathErr",
            Body::PathTear(_) => "PathTear",
            Body::ResvErr(_) => "ResvErr",
            Body::ResvTear(_) => "ResvTear",
            Body::ResvConf(_) => "ResvConf",
        })
        .collect();
    for k in ["Path", "Resv", "PathErr", "PathTear"] {
        assert!(kinds.contains(&k), "the exchange has a {k}: {kinds:?}");
    }
    let dir = std::env::temp_dir().join(format!("fairshare-agent-tshark-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("exchange.pcap");
    std::fs::write(&path, pcap(&frames)).expect("write pcap");

    let health = run_tshark(
        &path,
        &[
            "frame.number",
            "_ws.malformed",
            "_ws.expert.severity",
            "rsvp.msg",
            "ip.src",
            "ip.dst",
            "rsvp.session.ip",
            "rsvp.tspec.token_bucket_rate",
            "rsvp.error.error_code",
            "rsvp.error_value",
            "eth.src",
        ],
    );
    assert_eq!(health.len(), frames.len(), "one line per frame");
    let mut path_errs = 0;
    for (i, (line, f)) in health.iter().zip(&frames).enumerate() {
        assert!(line[1].is_empty(), "frame {i} ({}): malformed", kinds[i]);
        for sev in line[2].split('|').filter(|s| !s.is_empty()) {
            let sev: u32 = sev.parse().expect("severity is a number");
            assert!(
                sev < 0x0060_0000,
                "frame {i} ({}): expert item of severity {sev:#x}",
                kinds[i]
            );
        }
        let (src, dst, m) = decode(f);
        assert_eq!(line[4], src.to_string(), "frame {i}: ip.src");
        assert_eq!(line[5], dst.to_string(), "frame {i}: ip.dst");
        assert_eq!(
            line[6],
            ip(m.session().dest).to_string(),
            "frame {i}: session address"
        );
        if let Body::Path(p) = &m.body {
            let want = p.sender.as_ref().expect("sender").tspec.rate;
            // tshark prints six significant digits.
            let found: f64 = line[7].parse().expect("a tspec rate");
            assert!(
                (found - f64::from(want)).abs() <= f64::from(want) * 1e-5,
                "frame {i}: tspec rate {found} vs {want}"
            );
        }
        if let Body::PathErr(_) = &m.body {
            path_errs += 1;
            assert_eq!((line[8].as_str(), line[9].as_str()), ("1", "2"));
        }
    }
    assert_eq!(path_errs, 1);
    println!("tshark decoded {} frames of the exchange", frames.len());
}
