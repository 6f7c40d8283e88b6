//! fairshare's BMv2 JSON and rules on the real BMv2 `simple_switch`.
//!
//! The example `single.fsp` is compiled, its DC switch's pipeline is loaded
//! into `simple_switch`, the switch's rules are written through
//! `simple_switch_CLI`, and packets go in and out through pcap files. The
//! expected packets are built here independently: the request is steered to
//! the server (DNAT), the answer leaves from the VIP (SNAT), TTLs drop by one,
//! MACs are rewritten and every checksum is valid.
//!
//! BMv2 is found through `FAIRSHARE_BMV2`, then `../shared/bmv2`, then
//! `PATH`. Without it the test prints why it skips, unless
//! `FAIRSHARE_REQUIRE_BMV2=1` (set by the test command where BMv2 is
//! available), in which case it fails.

use std::io::Write;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Bmv2 {
    simple_switch: PathBuf,
    cli: PathBuf,
}

fn find_bmv2() -> Option<Bmv2> {
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

fn bmv2_or_skip() -> Option<Bmv2> {
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
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

fn csum(data: &[u8]) -> u16 {
    let mut s: u32 = 0;
    for c in data.chunks(2) {
        let w = if c.len() == 2 {
            u16::from_be_bytes([c[0], c[1]])
        } else {
            u16::from(c[0]) << 8
        };
        s += u32::from(w);
    }
    while s >> 16 != 0 {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// An Ethernet/IPv4/TCP frame with correct checksums.
fn tcp_frame(
    dst_mac: [u8; 6],
    src_mac: [u8; 6],
    src: Ipv4Addr,
    dst: Ipv4Addr,
    sport: u16,
    dport: u16,
    ttl: u8,
) -> Vec<u8> {
    let payload = b"fairshare";
    let mut tcp = vec![0u8; 20];
    tcp[0..2].copy_from_slice(&sport.to_be_bytes());
    tcp[2..4].copy_from_slice(&dport.to_be_bytes());
    tcp[4..8].copy_from_slice(&7u32.to_be_bytes());
    tcp[12] = 5 << 4;
    tcp[13] = 0x02;
    tcp[14..16].copy_from_slice(&8192u16.to_be_bytes());
    tcp.extend_from_slice(payload);
    let mut pseudo = vec![];
    pseudo.extend_from_slice(&src.octets());
    pseudo.extend_from_slice(&dst.octets());
    pseudo.extend_from_slice(&[0, 6]);
    pseudo.extend_from_slice(&(tcp.len() as u16).to_be_bytes());
    pseudo.extend_from_slice(&tcp);
    let c = csum(&pseudo);
    tcp[16..18].copy_from_slice(&c.to_be_bytes());
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&((20 + tcp.len()) as u16).to_be_bytes());
    ip.extend_from_slice(&[0, 1, 0, 0, ttl, 6, 0, 0]);
    ip.extend_from_slice(&src.octets());
    ip.extend_from_slice(&dst.octets());
    let c = csum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    let mut f = vec![];
    f.extend_from_slice(&dst_mac);
    f.extend_from_slice(&src_mac);
    f.extend_from_slice(&[0x08, 0x00]);
    f.extend_from_slice(&ip);
    f.extend_from_slice(&tcp);
    f
}

fn pcap(frames: &[Vec<u8>]) -> Vec<u8> {
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

fn read_pcap(path: &Path) -> Vec<Vec<u8>> {
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
fn cli_commands(
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

#[test]
fn single_dc_switch_steers_and_rewrites_on_real_bmv2() {
    let Some(bmv2) = bmv2_or_skip() else { return };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let src = std::fs::read_to_string(root.join("examples/single.fsp")).expect("single.fsp");
    let (_, policy) = fairshare_policy::load(&src).expect("single.fsp checks");
    let topo = fairshare_alloc::Topology::build(&policy).expect("topology");
    let shares = fairshare_alloc::allocate(&topo, &policy, policy.algorithm);
    let out = fairshare_codegen::compile(&policy, &topo, &shares).expect("compiles");
    let sw = out
        .switches
        .iter()
        .find(|s| s.name == "dc1-sw")
        .expect("dc1-sw");
    let pipe = out.pipeline_of("dc1-sw").expect("pipeline");

    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bmv2-single");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("fairshare.json"), &pipe.json).expect("json");

    let client = Ipv4Addr::new(192, 0, 2, 5);
    let vip = Ipv4Addr::new(203, 0, 113, 1);
    let server = Ipv4Addr::new(10, 0, 0, 1); // s1: the server with the most free capacity
    let any_mac = [0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee];
    // Port 3 is the uplink (towards the client), port 1 the server s1.
    let request = tcp_frame([2, 0, 0, 1, 0, 3], any_mac, client, vip, 40000, 80, 64);
    let answer = tcp_frame([2, 0, 0, 1, 0, 1], any_mac, server, client, 80, 40000, 64);
    std::fs::write(dir.join("p1_in.pcap"), pcap(&[answer])).expect("pcap");
    std::fs::write(dir.join("p2_in.pcap"), pcap(&[])).expect("pcap");
    std::fs::write(dir.join("p3_in.pcap"), pcap(&[request])).expect("pcap");

    let thrift = free_port();
    // simple_switch starts reading the inputs after --use-files seconds;
    // the rules are in well before that.
    let child = Command::new(&bmv2.simple_switch)
        .current_dir(&dir)
        .args([
            "--thrift-port",
            &thrift.to_string(),
            "-i",
            "1@p1",
            "-i",
            "2@p2",
            "-i",
            "3@p3",
            "--use-files",
            "4",
        ])
        .arg("fairshare.json")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start simple_switch");
    let _guard = Running(child);
    let t0 = Instant::now();
    while TcpStream::connect(("127.0.0.1", thrift)).is_err() {
        assert!(
            t0.elapsed() < Duration::from_secs(3),
            "simple_switch did not open its Thrift port"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut cli = Command::new(&bmv2.cli)
        .args(["--thrift-port", &thrift.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start simple_switch_CLI");
    cli.stdin
        .take()
        .expect("stdin")
        .write_all(cli_commands(&sw.rules, &pipe.program).as_bytes())
        .expect("write commands");
    let cli_out = cli.wait_with_output().expect("CLI");
    let text = String::from_utf8_lossy(&cli_out.stdout);
    assert!(
        !text.contains("Error") && !text.contains("Invalid"),
        "simple_switch_CLI refused a rule:\n{text}"
    );
    assert!(
        t0.elapsed() < Duration::from_secs(4),
        "the rules took too long to write; packets may have gone first"
    );

    let deadline = Instant::now() + Duration::from_secs(20);
    let (mut p1, mut p3) = (vec![], vec![]);
    while Instant::now() < deadline && (p1.is_empty() || p3.is_empty()) {
        std::thread::sleep(Duration::from_millis(200));
        p1 = read_pcap(&dir.join("p1_out.pcap"));
        p3 = read_pcap(&dir.join("p3_out.pcap"));
    }
    // The request, steered to s1; the answer, leaving from the VIP.
    let want_request = tcp_frame(
        [2, 1, 10, 0, 0, 1],
        [2, 0, 0, 1, 0, 1],
        client,
        server,
        40000,
        80,
        63,
    );
    let want_answer = tcp_frame(
        [2, 2, 0, 1, 0, 3],
        [2, 0, 0, 1, 0, 3],
        vip,
        client,
        80,
        40000,
        63,
    );
    assert_eq!(p1, vec![want_request], "port 1 (server s1)");
    assert_eq!(p3, vec![want_answer], "port 3 (uplink)");
    assert!(
        read_pcap(&dir.join("p2_out.pcap")).is_empty(),
        "nothing goes to s2"
    );
}
