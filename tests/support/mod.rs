//! Helpers shared by the tests that run real BMv2: finding it, running it,
//! building frames, reading and writing pcap files, and writing rules
//! through simple_switch_CLI.

#![allow(dead_code)]

pub mod fifo;
pub mod switch_cli;
pub mod tofino;

use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::Duration;

pub struct Bmv2 {
    pub simple_switch: PathBuf,
    pub cli: PathBuf,
}

pub fn find_bmv2() -> Option<Bmv2> {
    let from_dir = |d: PathBuf| {
        let b = Bmv2 {
            simple_switch: d.join("bin/simple_switch"),
            cli: d.join("bin/simple_switch_CLI"),
        };
        (b.simple_switch.is_file() && b.cli.is_file()).then_some(b)
    };
    if let Some(d) = std::env::var_os("FAIRSHARE_BMV2") {
        return from_dir(PathBuf::from(d));
    }
    if let Some(b) = from_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/bmv2")) {
        return Some(b);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).find_map(|d| {
        let b = Bmv2 {
            simple_switch: d.join("simple_switch"),
            cli: d.join("simple_switch_CLI"),
        };
        (b.simple_switch.is_file() && b.cli.is_file()).then_some(b)
    })
}

pub fn bmv2_or_skip() -> Option<Bmv2> {
    match find_bmv2() {
        Some(b) => Some(b),
        None if std::env::var_os("FAIRSHARE_REQUIRE_BMV2").is_some_and(|v| v == "1") => {
            panic!("BMv2 is required (FAIRSHARE_REQUIRE_BMV2=1) but neither FAIRSHARE_BMV2, ../shared/bmv2 nor PATH has simple_switch")
        }
        None => {
            eprintln!("skipped: no BMv2 (set FAIRSHARE_BMV2 to a folder with bin/simple_switch)");
            None
        }
    }
}

/// Kills the switch when the test ends, however it ends.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

#[allow(unused_imports)]
pub use fairshare_packet::build::{internet_checksum as csum, tcp_frame};

pub fn pcap(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut out = vec![];
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&65535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    for (i, f) in frames.iter().enumerate() {
        out.extend_from_slice(&(i as u32 + 1).to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(f);
    }
    out
}

pub fn read_pcap(path: &Path) -> Vec<Vec<u8>> {
    let data = std::fs::read(path).unwrap_or_default();
    let mut out = vec![];
    let mut off = 24;
    while off + 16 <= data.len() {
        let len = u32::from_le_bytes([data[off + 8], data[off + 9], data[off + 10], data[off + 11]])
            as usize;
        if off + 16 + len > data.len() {
            break;
        }
        out.push(data[off + 16..off + 16 + len].to_vec());
        off += 16 + len;
    }
    out
}

/// The rules as simple_switch_CLI commands. The CLI needs every key field,
/// so the don't-care fields left out of rules.json are written back as
/// matching anything.
pub fn cli_commands(
    rules: &fairshare_codegen::rules::Rules,
    prog: &fairshare_codegen::ir::Program,
) -> String {
    use fairshare_codegen::ir::MatchKind;
    use fairshare_codegen::rules::Match;
    let mut s = String::new();
    for e in &rules.table_entries {
        let t = prog
            .tables
            .iter()
            .find(|t| fairshare_codegen::qualified(&t.name) == e.table)
            .expect("table");
        let keys: Vec<String> = t
            .keys
            .iter()
            .map(|k| {
                let name = fairshare_codegen::bmv2::p4_field_name(prog, k.field);
                match (
                    e.matches.0.iter().find(|(f, _)| *f == name).map(|(_, m)| m),
                    k.kind,
                ) {
                    (Some(Match::Exact(v)), _) => v.to_string(),
                    (Some(Match::Lpm(a, l)), _) => format!("{a}/{l}"),
                    (Some(Match::Ternary(v, m)), _) => format!("{v}&&&{m}"),
                    (None, MatchKind::Lpm) => "0.0.0.0/0".into(),
                    (None, _) => "0&&&0".into(),
                }
            })
            .collect();
        let params: Vec<String> = e.params.0.iter().map(|(_, v)| v.to_string()).collect();
        s.push_str(&format!(
            "table_add {} {} {} => {}",
            e.table,
            e.action,
            keys.join(" "),
            params.join(" ")
        ));
        if let Some(p) = e.priority {
            s.push_str(&format!(" {p}"));
        }
        s.push('\n');
    }
    s
}

/// Meter settings as simple_switch_CLI commands (rates per microsecond).
pub fn cli_meter_commands(rules: &fairshare_codegen::rules::Rules) -> String {
    let mut s = String::new();
    for m in &rules.meter_configs {
        s.push_str(&format!(
            "meter_set_rates {} {} {:.6}:{} {:.6}:{}\n",
            m.meter,
            m.index,
            m.cir as f64 / 1e6,
            m.cburst,
            m.pir as f64 / 1e6,
            m.pburst
        ));
    }
    s
}

/// Runs `json` on real simple_switch with the given ports attached to pcap
/// FIFOs (see [`fifo`]), writes `commands` through simple_switch_CLI
/// before any packet goes in, feeds `inputs` (port → frames, the ports in
/// turn) and returns the frames that came out of each port once `expected`
/// frames have come out in all (or none came for a second).
pub fn run_bmv2(
    bmv2: &Bmv2,
    dir: &Path,
    json: &str,
    commands: &str,
    ports: &[u32],
    inputs: &[(u32, Vec<Vec<u8>>)],
    expected: usize,
) -> Vec<(u32, Vec<Vec<u8>>)> {
    let flat: Vec<(u32, Vec<u8>)> = inputs
        .iter()
        .flat_map(|(p, frames)| frames.iter().map(move |f| (*p, f.clone())))
        .collect();
    let out = fifo::run(
        bmv2,
        dir,
        &fifo::Run {
            json,
            cli: commands,
            ports,
            inputs: &flat,
            pace: Some(Duration::from_micros(300)),
            want: expected,
            timeout: Duration::from_secs(20),
        },
    )
    .unwrap_or_else(|e| panic!("{e}"));
    ports
        .iter()
        .map(|p| {
            let frames = out
                .get(p)
                .map(|v| v.iter().map(|(_, f)| f.clone()).collect())
                .unwrap_or_default();
            (*p, frames)
        })
        .collect()
}

/// An Ethernet/IPv4 frame around `l4` (already built, checksum included),
/// with optional IPv4 options, a correct header checksum unless `bad_sum`.
#[allow(clippy::too_many_arguments)]
pub fn ipv4_frame(
    dst_mac: [u8; 6],
    src: Ipv4Addr,
    dst: Ipv4Addr,
    proto: u8,
    ttl: u8,
    options: &[u8],
    l4: &[u8],
    bad_sum: bool,
) -> Vec<u8> {
    let hlen = 20 + options.len();
    let mut ip = vec![0x40 | (hlen / 4) as u8, 0];
    ip.extend_from_slice(&((hlen + l4.len()) as u16).to_be_bytes());
    ip.extend_from_slice(&[0, 1, 0, 0, ttl, proto, 0, 0]);
    ip.extend_from_slice(&src.octets());
    ip.extend_from_slice(&dst.octets());
    ip.extend_from_slice(options);
    let c = csum(&ip) ^ if bad_sum { 0x5555 } else { 0 };
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    let mut f = dst_mac.to_vec();
    f.extend_from_slice(&[0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0x08, 0x00]);
    f.extend_from_slice(&ip);
    f.extend_from_slice(l4);
    f
}

/// A UDP datagram with a correct checksum.
pub fn udp(src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let len = (8 + payload.len()) as u16;
    let mut u = vec![];
    u.extend_from_slice(&sport.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&len.to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    let mut pseudo = vec![];
    pseudo.extend_from_slice(&src.octets());
    pseudo.extend_from_slice(&dst.octets());
    pseudo.extend_from_slice(&[0, 17]);
    pseudo.extend_from_slice(&len.to_be_bytes());
    pseudo.extend_from_slice(&u);
    let c = match csum(&pseudo) {
        0 => 0xffff,
        c => c,
    };
    u[6..8].copy_from_slice(&c.to_be_bytes());
    u
}
