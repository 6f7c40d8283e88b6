//! Compile-time figures for BENCHMARKS.md:
//!
//! * `fairshare compile` of a generated policy of 100 DCs × 10,000 edges, end
//!   to end with every file written (the release binary, best of 3), with the
//!   peak memory the binary reports;
//! * recomputing all shares of that policy (topology already built, best of 5).
//!
//! Run with `cargo bench --bench compile`. Sizes can be changed with
//! `FAIRSHARE_BENCH_DCS` and `FAIRSHARE_BENCH_EDGES`.

use std::process::Command;
use std::time::{Duration, Instant};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let dcs = env_or("FAIRSHARE_BENCH_DCS", 100);
    let edges = env_or("FAIRSHARE_BENCH_EDGES", 10_000);
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("fairshare-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let policy_path = dir.join("large.fsp");
    let text = fairshare_policy::gen::generate(dcs, edges, 1);
    std::fs::write(&policy_path, &text).expect("write policy");
    println!("policy: {dcs} DCs x {edges} edges, {} bytes", text.len());

    let bin = env!("CARGO_BIN_EXE_fairshare");
    let mut best = Duration::MAX;
    let mut peak = String::new();
    for i in 0..3 {
        let out = dir.join(format!("out{i}"));
        let t = Instant::now();
        let o = Command::new(bin)
            .arg("compile")
            .arg(&policy_path)
            .arg("-o")
            .arg(&out)
            .arg("--timings")
            .output()
            .expect("run fairshare");
        let dt = t.elapsed();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        if dt < best {
            best = dt;
            peak = String::from_utf8_lossy(&o.stderr)
                .lines()
                .filter(|l| l.contains("peak memory") || l.contains("stage"))
                .collect::<Vec<_>>()
                .join("\n");
        }
    }
    println!(
        "compile end to end (best of 3): {:.3} s",
        best.as_secs_f64()
    );
    println!("{peak}");

    let (_, policy) =
        fairshare_policy::load(&text).unwrap_or_else(|_| panic!("generated policy does not check"));
    let t = Instant::now();
    let topo = fairshare_alloc::Topology::build(&policy).expect("topology");
    println!(
        "topology build: {:.1} ms, {} routes",
        t.elapsed().as_secs_f64() * 1e3,
        topo.routes().len()
    );
    for alg in [
        fairshare_policy::model::Algorithm::WeightedMaxMin,
        fairshare_policy::model::Algorithm::Proportional,
        fairshare_policy::model::Algorithm::NearestFirst,
    ] {
        let mut best = Duration::MAX;
        for _ in 0..5 {
            let t = Instant::now();
            let s = fairshare_alloc::allocate(&topo, &policy, alg);
            best = best.min(t.elapsed());
            std::hint::black_box(s);
        }
        println!(
            "recompute all shares, {} (best of 5): {:.1} ms",
            alg.name(),
            best.as_secs_f64() * 1e3
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
