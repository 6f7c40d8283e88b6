//! Time to run the conformance corpus (`../shared/conformance/cases`):
//! the whole corpus on all cores, and the per-case median on one thread.
//! Prints `skipped: <reason>` when the corpus is absent.

use std::path::Path;
use std::time::Instant;

fn main() {
    let dir = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/conformance/cases"
    ));
    if !dir.is_dir() {
        println!("skipped: no corpus at {}", dir.display());
        return;
    }
    let threads = fairshare_stf::dir::default_threads();
    let mut best = f64::MAX;
    let mut results = vec![];
    for _ in 0..3 {
        let start = Instant::now();
        results = match fairshare_stf::run_dir(dir, threads) {
            Ok(r) => r,
            Err(e) => {
                println!("skipped: {e}");
                return;
            }
        };
        best = best.min(start.elapsed().as_secs_f64());
    }
    let passed = results.iter().filter(|r| r.passed()).count();
    println!(
        "corpus: {} cases ({passed} pass) in {:.3} s on {threads} threads (best of 3)",
        results.len(),
        best
    );
    let single = fairshare_stf::run_dir(dir, 1).unwrap_or_default();
    let mut times: Vec<f64> = single.iter().map(|r| r.time.as_secs_f64() * 1e3).collect();
    times.sort_by(f64::total_cmp);
    if let Some(median) = times.get(times.len() / 2) {
        let total: f64 = times.iter().sum();
        println!(
            "per case, one thread: median {median:.2} ms, max {:.2} ms, sum {total:.1} ms",
            times.last().copied().unwrap_or(0.0)
        );
    }
}
