//! Packets per second through the fairshare DC pipeline, one core, packets
//! preloaded in memory, with 10,000 flow entries and 1,000 routes on top of
//! the single example's rules; and the load time of BMv2 JSON documents.
//!
//! Run: `cargo bench -p fairshare-switch`.
//!
//! `FAIRSHARE_BENCH_PACKETS=N` sets the packets per size (2,000,000 by
//! default), `FAIRSHARE_BENCH_SIZE=64` (or `1500`) runs one packet size
//! only and `FAIRSHARE_BENCH_LOAD=0` leaves out the load-time part: with
//! these, instructions per packet can be taken as the difference of two
//! runs under `valgrind --tool=callgrind`.

#[path = "../tests/common/mod.rs"]
mod common;

use fairshare_switch::{rules, Entry, KeyMatch, Switch};
use std::hint::black_box;
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Instant;

fn build() -> Switch {
    let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    let src = std::fs::read_to_string(root.join("examples/single.fsp")).expect("single.fsp");
    let (_, policy) = fairshare_policy::load(&src).expect("single.fsp checks");
    let topo = fairshare_alloc::Topology::build(&policy).expect("topology");
    let shares = fairshare_alloc::allocate(&topo, &policy, policy.algorithm);
    let out = fairshare_codegen::compile(&policy, &topo, &shares).expect("compiles");
    let sw_out = out
        .switches
        .iter()
        .find(|s| s.name == "dc1-sw")
        .expect("dc1-sw");
    let sizes = fairshare_policy::model::Sizes {
        flows: 16_384,
        routes: 2048,
        steer: 1024,
    };
    let prog = fairshare_codegen::pipeline::build(
        &fairshare_codegen::pipeline::PipelineParams::new(255, &sizes),
    );
    let doc = fairshare_codegen::bmv2::lower(&prog, "fairshare.p4");
    let mut sw = Switch::from_json(&doc).expect("loads");
    rules::apply(
        &mut sw,
        &rules::Rules::parse(&sw_out.rules_json).expect("rules"),
    )
    .expect("rules apply");
    // 1,000 routes: /24s under 100.64.0.0/10, to port 2.
    for i in 0..1000u32 {
        let net = 0x6440_0000 | (i << 8);
        sw.add_entry(
            "Ingress.ipv4_lpm",
            Entry {
                keys: vec![KeyMatch::Lpm {
                    value: u128::from(net),
                    prefix_len: 24,
                }],
                action: "Ingress.forward".into(),
                params: vec![2, 0x0200_0001_0002, 0x0202_0001_0002],
                priority: 0,
            },
        )
        .expect("route");
    }
    // 10,000 reserved flows from clients 100.64.x.y to the VIP.
    for i in 0..10_000u32 {
        sw.add_entry(
            "Ingress.flows",
            Entry {
                keys: vec![
                    KeyMatch::Exact(u128::from(0x6440_0000 | i)),
                    KeyMatch::Exact(u128::from(u32::from(Ipv4Addr::new(203, 0, 113, 1)))),
                    KeyMatch::Exact(6),
                    KeyMatch::Exact(40000),
                    KeyMatch::Exact(80),
                ],
                action: "Ingress.reserved_flow".into(),
                params: vec![0],
                priority: 0,
            },
        )
        .expect("flow");
    }
    sw
}

/// Runs `n` packets in ten rounds and prints the rate over all of them,
/// and the best and median round's: on a shared host the same code runs
/// at rates that differ by half between seconds, and the rounds show it.
fn bench(sw: &mut Switch, frame: &[u8], label: &str, n: u64) {
    const ROUNDS: u64 = 10;
    let mut sent = 0u64;
    let mut rounds = Vec::new();
    let t0 = Instant::now();
    let mut i = 0u64;
    for r in 0..ROUNDS {
        let end = n * (r + 1) / ROUNDS;
        let tr = Instant::now();
        let count = end - i;
        while i < end {
            sw.process(3, black_box(frame), i, &mut |p, b| {
                sent += u64::from(p) + b.len() as u64;
            });
            i += 1;
        }
        if count > 0 {
            rounds.push(count as f64 / tr.elapsed().as_secs_f64());
        }
    }
    let dt = t0.elapsed();
    let pps = n as f64 / dt.as_secs_f64();
    rounds.sort_by(f64::total_cmp);
    let best = rounds.last().copied().unwrap_or(0.0);
    let median = rounds.get(rounds.len() / 2).copied().unwrap_or(0.0);
    println!(
        "{label}: {n} packets in {:.3} s = {:.0} packets/s ({:.0} ns/packet); rounds of {}: best {:.0}, median {:.0} packets/s",
        dt.as_secs_f64(),
        pps,
        dt.as_nanos() as f64 / n as f64,
        n / ROUNDS,
        best,
        median
    );
    black_box(sent);
}

fn main() {
    let n = std::env::var("FAIRSHARE_BENCH_PACKETS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000_000u64);
    let load = std::env::var("FAIRSHARE_BENCH_LOAD").map_or(true, |v| v != "0");
    let only = std::env::var("FAIRSHARE_BENCH_SIZE").ok();
    let runs = |size: &str| only.as_deref().is_none_or(|o| o == size);
    let mut sw = build();
    let mut small = common::tcp_frame(
        [2, 0, 0, 1, 0, 3],
        [2, 0xaa, 0, 0, 0, 1],
        Ipv4Addr::new(192, 0, 2, 5),
        Ipv4Addr::new(203, 0, 113, 1),
        40000,
        80,
        64,
    );
    small.resize(64, 0);
    // The padding is trailing payload; the pipeline does not check the IPv4 length.
    let mut out = vec![];
    sw.process(3, &small, 0, &mut |p, b| out.push((p, b.len())));
    assert_eq!(out.len(), 1, "the benchmark packet must be forwarded");
    if runs("64") {
        bench(&mut sw, &small, "64-byte packets", n);
    }
    if runs("1500") {
        let mut big = small.clone();
        big.resize(1500, 0xab);
        bench(&mut sw, &big, "1500-byte packets", n);
    }
    println!("stats: {:?}", sw.stats());
    if !load {
        return;
    }

    // Load time.
    let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    let mut docs = vec![(
        "fairshare single".to_string(),
        std::fs::read_to_string(
            root.join("examples/expected/single/pipelines/bmv2-cpu255/fairshare.json"),
        )
        .unwrap_or_default(),
    )];
    if let Ok(dirs) = std::fs::read_dir(root.join("../shared/conformance/cases")) {
        let mut biggest = (0, String::new(), String::new());
        for d in dirs.flatten() {
            let name = d.file_name().to_string_lossy().into_owned();
            if let Ok(t) = std::fs::read_to_string(d.path().join(format!("{name}.json"))) {
                if t.len() > biggest.0 && Switch::load(&t).is_ok() {
                    biggest = (t.len(), name, t);
                }
            }
        }
        docs.push((
            format!("largest loadable conformance case ({})", biggest.1),
            biggest.2,
        ));
    }
    for (name, text) in docs {
        if text.is_empty() {
            continue;
        }
        let reps = 50;
        let t0 = Instant::now();
        for _ in 0..reps {
            black_box(Switch::load(black_box(&text)).ok());
        }
        let per = t0.elapsed() / reps;
        println!(
            "load {name}: {} bytes in {:.2} ms ({:.1} ms per MB)",
            text.len(),
            per.as_secs_f64() * 1e3,
            per.as_secs_f64() * 1e3 / (text.len() as f64 / 1e6)
        );
    }
}
