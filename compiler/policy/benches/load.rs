//! Times generating and loading a large policy: 100 datacenters and 10 000
//! edges. Run with `cargo bench -p fairshare-policy --bench load`.

use std::time::Instant;

fn main() {
    let (dcs, edges) = (100, 10_000);
    let t = Instant::now();
    let text = fairshare_policy::gen::generate(dcs, edges, 1);
    let gen_time = t.elapsed();
    println!(
        "generate {dcs} DCs x {edges} edges: {:.1} ms ({:.2} MB of text)",
        gen_time.as_secs_f64() * 1e3,
        text.len() as f64 / 1e6
    );

    // Best of a few runs, to keep the figure stable on a busy machine.
    let mut best = [f64::INFINITY; 3];
    for _ in 0..5 {
        let t = Instant::now();
        let file = match fairshare_policy::parse(&text) {
            Ok(f) => f,
            Err(d) => panic!("{}", fairshare_policy::render(&d, "bench.fsp", &text)),
        };
        let parsed = t.elapsed();
        let policy = match fairshare_policy::check(&file) {
            Ok(p) => p,
            Err(d) => panic!("{}", fairshare_policy::render(&d, "bench.fsp", &text)),
        };
        let total = t.elapsed();
        assert_eq!(policy.edges.len(), edges);
        let runs = [
            parsed.as_secs_f64(),
            (total - parsed).as_secs_f64(),
            total.as_secs_f64(),
        ];
        for (b, r) in best.iter_mut().zip(runs) {
            *b = b.min(r);
        }
    }
    println!(
        "load {dcs} DCs x {edges} edges (best of 5): parse {:.1} ms + check {:.1} ms = {:.1} ms ({:.1} MB/s)",
        best[0] * 1e3,
        best[1] * 1e3,
        best[2] * 1e3,
        text.len() as f64 / 1e6 / best[2]
    );
}
