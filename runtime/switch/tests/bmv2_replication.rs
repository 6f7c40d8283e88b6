//! The replication engine against real `simple_switch`: the program of
//! `tests/replication.rs` (its tables keyed on `h.b`, so that one run holds
//! every scenario) gets the same entries, sessions and groups on both
//! switches, the same packets go in, and each port must put out the same
//! packets; once with simple_switch's default of one priority queue a
//! port, once with `--priority-queues 4`. Packets of different scenarios
//! may interleave differently on a port (simple_switch runs ingress and
//! egress on separate threads), so each port's packets are compared as
//! sorted lists; the order within a scenario is checked in
//! `tests/replication.rs`.
//!
//! Needs BMv2 (`FAIRSHARE_BMV2`, else `../shared/bmv2` beside the
//! workspace, else `PATH`); without it the test prints `skipped:` and
//! passes, unless `FAIRSHARE_REQUIRE_PEERS=1`.

use fairshare_switch::{CloneSession, Replica, Switch};
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[path = "support/pre_program.rs"]
mod pre_program;

/// Ports with a pcap file on simple_switch; packets go in on 3.
const PORTS: [u32; 7] = [1, 2, 3, 4, 6, 7, 8];

/// Each scenario: the `h.b` of its packet and the simple_switch_CLI
/// commands that set it up, `;` between them (`b = 1` uses the defaults).
const SCENARIOS: [(u8, &str); 32] = [
    (1, ""),
    (2, "table_add ti i2e 2 => 4 5"),
    (3, "table_add ti i2e_reset 3 => 4 5"),
    (4, "table_add ti i2e 4 => 4 10"),
    (5, "table_add te e2e 5 => 5"),
    (6, "table_add te e2e_drop 6 => 10"),
    (7, "table_add ti mcast 7 => 1113"),
    (8, "table_add ti mcast 8 => 55"),
    (9, "table_add ti resub 9 =>"),
    (10, "table_add te recirc 10 =>"),
    (11, "table_add ti trunc 11 => 2 11"),
    (
        12,
        "table_add ti trunc 12 => 2 11;table_add te recirc 12 =>",
    ),
    (13, "table_add ti i2e_cut 13 => 4 5 11"),
    // Session 7 is not configured: no clone.
    (14, "table_add ti i2e 14 => 4 7"),
    // A clone and a resubmit, a clone and a multicast, in one ingress.
    (15, "table_add ti i2e_resub 15 => 5"),
    (16, "table_add ti i2e_mcast 16 => 1113 5"),
    // An added header counts in egress's packet_length, a clone's too.
    (17, "table_add ti grow 17 => 2"),
    (18, "table_add ti grow 18 => 2;table_add te e2e 18 => 5"),
    // A clone whose field list holds a packet header's field.
    (19, "table_add ti i2e_hdr 19 => 4 5"),
    // A resubmit and a recirculation whose field list holds a packet
    // header's field.
    (20, "table_add ti resub_hdr 20 =>"),
    (21, "table_add te recirc_hdr 21 =>"),
    // Priorities (the last parameter), run with 1 and with 4 queues a
    // port: a copy whose priority has no queue is dropped.
    (22, "table_add ti prio 22 => 2 0"),
    (23, "table_add ti prio 23 => 2 1"),
    (24, "table_add ti prio 24 => 2 3"),
    (25, "table_add ti prio 25 => 2 4"),
    (26, "table_add ti mcast_prio 26 => 1113 1"),
    // The clone of field list 1 starts at priority 0, of list 4 keeps it.
    (27, "table_add ti i2e_prio 27 => 4 5 1"),
    (28, "table_add ti i2e_prio_kept 28 => 4 5 3"),
    // Priority set in egress: the packet goes out, its clone keeps it.
    (29, "table_add te e2e_prio 29 => 5 1"),
    (30, "table_add te e2e_prio 30 => 5 4"),
    (31, "table_add ti resub_prio 31 => 1"),
    (32, "table_add te recirc_prio 32 => 3"),
];

const SETUP: &str = "table_set_default ti2 note 2
mirroring_add 5 6
mirroring_add_mc 10 9
mc_mgrp_create 9
mc_node_create 70 7
mc_node_create 80 8
mc_node_associate 9 0
mc_node_associate 9 1
mc_mgrp_create 1113
mc_node_create 400 8
mc_node_create 401 6
mc_node_create 402 6
mc_node_associate 1113 2
mc_node_associate 1113 3
mc_node_associate 1113 4
mc_mgrp_create 55
";

fn packet(b: u8) -> Vec<u8> {
    vec![1, b, 0, 0, 0, 0, 0, 0, 0, 0, 0xde, 0xad]
}

/// The same set-up through the switch's API, with `queues` priority
/// queues a port.
fn fairshare(queues: u32) -> Switch {
    let mut sw = Switch::load(&pre_program::program(true)).expect("loads");
    sw.set_priority_queues(queues).expect("queues");
    for (b, cmd) in SCENARIOS
        .iter()
        .flat_map(|(b, c)| c.split(';').map(move |c| (*b, c)))
    {
        let Some(rest) = cmd.strip_prefix("table_add ") else {
            continue;
        };
        let (lhs, args) = rest
            .split_once(" => ")
            .unwrap_or((rest.trim_end_matches(" =>"), ""));
        let mut words = lhs.split_whitespace();
        let (table, action) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
        let params: Vec<u128> = args
            .split_whitespace()
            .map(|p| p.parse().expect("a number"))
            .collect();
        sw.add_entry(
            table,
            fairshare_switch::Entry {
                keys: vec![fairshare_switch::KeyMatch::Exact(u128::from(b))],
                action: action.into(),
                params,
                priority: 0,
            },
        )
        .expect("entry");
    }
    sw.set_default_action("ti2", "note", &[2]).expect("default");
    let port = |p| CloneSession {
        port: Some(p),
        group: None,
        truncate: None,
    };
    sw.set_clone_session(5, port(6)).expect("session");
    let group = CloneSession {
        port: None,
        group: Some(9),
        truncate: None,
    };
    sw.set_clone_session(10, group).expect("session");
    let r = |port, rid| Replica { port, rid };
    sw.create_multicast_group(9, vec![r(7, 70), r(8, 80)])
        .expect("group");
    sw.create_multicast_group(1113, vec![r(8, 400), r(6, 401), r(6, 402)])
        .expect("group");
    sw.create_multicast_group(55, vec![]).expect("group");
    sw
}

fn find_bmv2() -> Option<(PathBuf, PathBuf)> {
    let from = |d: PathBuf| {
        let (s, c) = (d.join("bin/simple_switch"), d.join("bin/simple_switch_CLI"));
        (s.is_file() && c.is_file()).then_some((s, c))
    };
    if let Some(d) = std::env::var_os("FAIRSHARE_BMV2") {
        return from(PathBuf::from(d));
    }
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/bmv2");
    if let Some(b) = from(shared) {
        return Some(b);
    }
    std::env::split_paths(&std::env::var_os("PATH")?).find_map(|d| {
        let (s, c) = (d.join("simple_switch"), d.join("simple_switch_CLI"));
        (s.is_file() && c.is_file()).then_some((s, c))
    })
}

fn pcap(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut out = vec![];
    for w in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 65535, 1] {
        out.extend_from_slice(&w.to_le_bytes());
    }
    for (i, f) in frames.iter().enumerate() {
        let len = f.len() as u32;
        for w in [i as u32 + 1, 0, len, len] {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out.extend_from_slice(f);
    }
    out
}

fn read_pcap(path: &Path) -> Vec<Vec<u8>> {
    let data = std::fs::read(path).unwrap_or_default();
    let mut out = vec![];
    let mut off = 24;
    while off + 16 <= data.len() {
        let mut n = [0u8; 4];
        n.copy_from_slice(&data[off + 8..off + 12]);
        let len = u32::from_le_bytes(n) as usize;
        if off + 16 + len > data.len() {
            break;
        }
        out.push(data[off + 16..off + 16 + len].to_vec());
        off += 16 + len;
    }
    out
}

/// Kills simple_switch when the test ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

type PerPort = Vec<(u32, Vec<Vec<u8>>)>;

/// Runs the scenarios on simple_switch, with `--priority-queues` if
/// `queues` is given (its default, 1, otherwise).
fn run_bmv2(
    simple_switch: &Path,
    cli: &Path,
    commands: &str,
    queues: Option<u32>,
    expected: usize,
) -> PerPort {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bmv2_replication");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("p.json"), pre_program::program(true)).expect("json");
    let inputs: Vec<Vec<u8>> = SCENARIOS.iter().map(|(b, _)| packet(*b)).collect();
    for p in PORTS {
        let frames = if p == 3 { inputs.clone() } else { vec![] };
        std::fs::write(dir.join(format!("p{p}_in.pcap")), pcap(&frames)).expect("pcap");
    }
    let thrift = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let mut args = vec!["--thrift-port".to_string(), thrift.to_string()];
    for p in PORTS {
        args.extend(["-i".to_string(), format!("{p}@p{p}")]);
    }
    // The inputs are read after --use-files seconds; the commands are in
    // well before, even on a loaded machine.
    args.extend(["--use-files".into(), "8".into(), "p.json".into()]);
    if let Some(n) = queues {
        args.extend(["--".into(), "--priority-queues".into(), n.to_string()]);
    }
    let child = Command::new(simple_switch)
        .current_dir(&dir)
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start simple_switch");
    let _guard = Running(child);
    let t0 = Instant::now();
    while TcpStream::connect(("127.0.0.1", thrift)).is_err() {
        assert!(
            t0.elapsed() < Duration::from_secs(8),
            "simple_switch did not open its Thrift port"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut c = Command::new(cli)
        .args(["--thrift-port", &thrift.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start simple_switch_CLI");
    c.stdin
        .take()
        .expect("stdin")
        .write_all(commands.as_bytes())
        .expect("commands");
    let text = String::from_utf8_lossy(&c.wait_with_output().expect("CLI").stdout).to_string();
    assert!(
        !text.contains("Error") && !text.contains("Invalid"),
        "simple_switch_CLI refused a command:\n{text}"
    );
    assert!(
        t0.elapsed() < Duration::from_secs(8),
        "the commands took too long; packets may have gone first"
    );
    let collect = || -> PerPort {
        PORTS
            .iter()
            .map(|p| (*p, read_pcap(&dir.join(format!("p{p}_out.pcap")))))
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline
        && collect().iter().map(|(_, f)| f.len()).sum::<usize>() < expected
    {
        std::thread::sleep(Duration::from_millis(200));
    }
    // A little longer, to catch packets beyond the expected ones.
    std::thread::sleep(Duration::from_millis(500));
    collect()
}

#[test]
fn replication_matches_simple_switch() {
    let Some((simple_switch, cli)) = find_bmv2() else {
        if std::env::var_os("FAIRSHARE_REQUIRE_PEERS").is_some_and(|v| v == "1") {
            panic!("FAIRSHARE_REQUIRE_PEERS=1 but there is no simple_switch");
        }
        println!("skipped: no BMv2 (set FAIRSHARE_BMV2 to a folder with bin/simple_switch)");
        return;
    };
    let mut commands: String = SCENARIOS
        .iter()
        .filter(|(_, c)| !c.is_empty())
        .map(|(_, c)| format!("{}\n", c.replace(';', "\n")))
        .collect();
    commands += SETUP;
    // simple_switch's default (one queue a port), then 4 queues.
    let mut sent = vec![];
    for queues in [None, Some(4)] {
        let mut sw = fairshare(queues.unwrap_or(1));
        let mut ours: PerPort = PORTS.iter().map(|p| (*p, vec![])).collect();
        for (t, (b, _)) in SCENARIOS.iter().enumerate() {
            sw.process(3, &packet(*b), t as u64, &mut |p, bytes| {
                if let Some((_, v)) = ours.iter_mut().find(|(q, _)| *q == p) {
                    v.push(bytes.to_vec());
                }
            });
        }
        let expected: usize = ours.iter().map(|(_, f)| f.len()).sum();
        let mut theirs = run_bmv2(&simple_switch, &cli, &commands, queues, expected);
        for (_, v) in ours.iter_mut().chain(theirs.iter_mut()) {
            v.sort();
        }
        let hex = |v: &Vec<Vec<u8>>| -> Vec<String> {
            v.iter()
                .map(|f| f.iter().map(|b| format!("{b:02x}")).collect())
                .collect()
        };
        for ((p, a), (_, b)) in ours.iter().zip(&theirs) {
            assert_eq!(
                hex(a),
                hex(b),
                "port {p}, {queues:?} priority queues: fairshare (left) vs simple_switch (right)"
            );
        }
        assert!(
            expected > 15,
            "most scenarios send something ({expected} packets)"
        );
        sent.push((expected, sw.stats().dropped_priority));
    }
    // The priorities mattered: more went out with 4 queues, and copies
    // were dropped with either count.
    assert!(sent[0].0 < sent[1].0, "{sent:?}");
    assert!(sent.iter().all(|(_, dropped)| *dropped > 0), "{sent:?}");
}
