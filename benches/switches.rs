//! Packets per second of real BMv2 `simple_switch` and of the fairshare
//! switch on the same BMv2 JSON, the same entries and the same packets:
//! the fairshare DC pipeline (the single example's `dc1-sw` with its rules,
//! a steered 64-byte TCP request) and three conformance programs (each
//! STF's first packet, with its entries).
//!
//! Method, so that BMv2 is timed at its best: the build in `../shared/bmv2`
//! is BMv2's performance configuration (`-O3`, logging macros off); its
//! input is a pcap FIFO filled as fast as simple_switch reads it, after the
//! entries are in, so start-up and the CLI are not timed; the rate is
//! measured from the timestamps simple_switch writes on its output frames
//! (first to last), so only processing counts. simple_switch drops what its
//! queues cannot take; the frames out and the frames sent are both shown.
//! The fairshare switch runs in-process on one core with the frames
//! preloaded.
//!
//! Run with `cargo bench --bench switches` (`FAIRSHARE_BENCH_PACKETS=N`,
//! default 200,000). Needs BMv2 (FAIRSHARE_BMV2, ../shared/bmv2 or PATH)
//! and `../shared/conformance` for the corpus programs; says what it skips.

#[path = "../tests/support/mod.rs"]
mod support;

use fairshare_stf::parse::Command as Stf;
use fairshare_switch::{HeaderStart, Switch};
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::{Duration, Instant};

struct Case {
    name: String,
    json: String,
    cli: String,
    /// Loaded, entries in.
    switch: Switch,
    port: u32,
    frame: Vec<u8>,
    ports: Vec<u32>,
}

fn fairshare_pipeline() -> Case {
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
    let mut switch = Switch::load(&pipe.json).expect("loads");
    let rules = fairshare_switch::rules::Rules::parse(&sw.rules_json).expect("rules");
    fairshare_switch::rules::apply(&mut switch, &rules).expect("rules apply");
    let mut frame = support::tcp_frame(
        [2, 0, 0, 1, 0, 3],
        [2, 0xaa, 0, 0, 0, 1],
        Ipv4Addr::new(192, 0, 2, 5),
        Ipv4Addr::new(203, 0, 113, 1),
        40000,
        80,
        64,
    );
    frame.resize(64, 0);
    Case {
        name: "fairshare dc1-sw, 64 B request".into(),
        json: pipe.json.clone(),
        cli: support::cli_commands(&sw.rules, &pipe.program)
            + &support::cli_meter_commands(&sw.rules),
        switch,
        port: 3,
        frame,
        ports: vec![1, 2, 3],
    }
}

fn corpus_program(name: &str) -> Option<Case> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/conformance/cases")
        .join(name);
    let json = std::fs::read_to_string(dir.join(format!("{name}.json"))).ok()?;
    let stf = std::fs::read_to_string(dir.join(format!("{name}.stf"))).ok()?;
    let lines = fairshare_stf::parse(&stf).expect("the STF parses");
    let control: Vec<_> = lines
        .iter()
        .filter(|l| matches!(l.command, Stf::Add { .. } | Stf::SetDefault { .. }))
        .cloned()
        .collect();
    let (port, frame) = lines.iter().find_map(|l| match &l.command {
        Stf::Packet { port, data } => Some((*port, data.clone())),
        _ => None,
    })?;
    let mut ports: Vec<u32> = lines
        .iter()
        .filter_map(|l| match &l.command {
            Stf::Packet { port, .. } | Stf::Expect { port, .. } => Some(*port),
            _ => None,
        })
        .collect();
    ports.sort();
    ports.dedup();
    let doc: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    let fresh = Switch::load(&json).expect("loads");
    let mut switch = Switch::load(&json).expect("loads");
    switch.set_header_start(HeaderStart::Zero);
    let o = fairshare_stf::run::run_lines(&mut switch, &doc, &control);
    assert!(o.failures.is_empty(), "{name}: {}", o.reason());
    let cli = support::switch_cli::commands(&switch, &fresh).expect("CLI commands");
    Some(Case {
        name: format!("{name}, {} B", frame.len()),
        json,
        cli,
        switch,
        port,
        frame,
        ports,
    })
}

fn main() {
    let n: usize = std::env::var("FAIRSHARE_BENCH_PACKETS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let Some(bmv2) = support::find_bmv2() else {
        println!("skipped: no BMv2 (FAIRSHARE_BMV2, ../shared/bmv2 or PATH)");
        return;
    };
    let mut cases = vec![fairshare_pipeline()];
    for name in ["arith-bmv2", "ternary2-bmv2", "header-stack-ops-bmv2"] {
        match corpus_program(name) {
            Some(c) => cases.push(c),
            None => println!("skipped {name}: no ../shared/conformance"),
        }
    }
    println!("{n} packets per case");
    println!(
        "{:<40} {:>14} {:>14} {:>8} {:>16}",
        "program", "simple_switch", "fairshare", "ratio", "BMv2 frames out"
    );
    for mut c in cases {
        // The fairshare switch: frames preloaded, one core.
        let mut out = 0usize;
        let t = Instant::now();
        for i in 0..n {
            c.switch
                .process(c.port, &c.frame, i as u64, &mut |_, _| out += 1);
        }
        let ours = n as f64 / t.elapsed().as_secs_f64();
        assert!(out > 0, "{}: the fairshare switch sent nothing", c.name);

        let inputs: Vec<(u32, Vec<u8>)> = (0..n).map(|_| (c.port, c.frame.clone())).collect();
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-switches");
        let got = support::fifo::run(
            &bmv2,
            &dir,
            &support::fifo::Run {
                json: &c.json,
                cli: &c.cli,
                ports: &c.ports,
                inputs: &inputs,
                pace: None,
                want: out,
                timeout: Duration::from_secs(120),
            },
        )
        .unwrap_or_else(|e| panic!("{}: {e}", c.name));
        let mut times: Vec<u64> = got.values().flatten().map(|(t, _)| *t).collect();
        times.sort();
        let theirs = match (times.first(), times.last()) {
            (Some(a), Some(b)) if b > a => (times.len() - 1) as f64 / ((b - a) as f64 / 1e6),
            _ => f64::NAN,
        };
        println!(
            "{:<40} {:>10.0} pps {:>10.0} pps {:>7.1}x {:>8} of {}",
            c.name,
            theirs,
            ours,
            ours / theirs,
            times.len(),
            out
        );
    }
}
