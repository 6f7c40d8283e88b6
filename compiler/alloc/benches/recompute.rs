//! Recalculation cost at scale: 100 DCs × 10,000 edges.
//!
//! The policy has 10 regions, each with one core router, 10 DCs linked to it
//! (100–400 Gbps) and 1,000 edges linked to it (1–20 Gbps, 1–10 ms): 100,000
//! routes. It times `Topology::build` and `allocate` with each algorithm
//! (best of 5) and prints the figures. Run with
//! `cargo bench -p fairshare-alloc --bench recompute`.

use std::time::{Duration, Instant};

use fairshare_alloc::{allocate, allocate_with_floor, Topology};
use fairshare_policy::model::*;

const GBPS: u64 = 1_000_000_000;
const MS: u64 = 1_000;
const REGIONS: usize = 10;
const DCS_PER_REGION: usize = 10;
const EDGES_PER_REGION: usize = 1_000;
const RUNS: usize = 5;

/// splitmix64: a small deterministic generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

fn switch(name: &str, device_id: u64) -> Switch {
    Switch {
        name: name.to_string(),
        target: Target::Bmv2,
        cpu_port: 255,
        device_id,
        uplink_port: 1,
    }
}

fn policy() -> Policy {
    let mut rng = Rng(0x5EED_FA1E);
    let mut p = Policy {
        name: "scale".into(),
        algorithm: Algorithm::WeightedMaxMin,
        recalc: 5_000_000,
        weights: Weights {
            subscribers: 1.0,
            distance: 0.5,
            response: 0.3,
        },
        sizes: Sizes {
            flows: 65_536,
            routes: 65_536,
            steer: 65_536,
        },
        datacenters: Vec::new(),
        edges: Vec::new(),
        routers: Vec::new(),
        links: Vec::new(),
        services: Vec::new(),
    };
    let mut device_id = 1;
    for r in 0..REGIONS {
        p.routers.push(format!("core{r}"));
        for i in 0..DCS_PER_REGION {
            let d = p.datacenters.len();
            let name = format!("dc{r}-{i}");
            let servers = (0..8)
                .map(|s| Server {
                    name: format!("{name}-web{s}"),
                    address: [10, d as u8, 0, s as u8 + 1].into(),
                    port: s as u16 + 1,
                    capacity: rng.range(10, 50) * GBPS,
                    response: rng.range(1, 10) * MS,
                    load_ppm: rng.range(0, 600_000) as u32,
                })
                .collect();
            p.datacenters.push(Datacenter {
                switch: switch(&format!("sw-{name}"), device_id),
                name,
                uplink: rng.range(100, 400) * GBPS,
                servers,
                fixed: vec![FixedReservation {
                    purpose: "unsubscribed".into(),
                    rate: GBPS,
                }],
            });
            device_id += 1;
            p.links.push(Link {
                a: NodeRef::Datacenter(d),
                b: NodeRef::Router(r),
                capacity: rng.range(100, 400) * GBPS,
                distance: rng.range(100, 2_000),
            });
        }
        for i in 0..EDGES_PER_REGION {
            let e = p.edges.len();
            let name = format!("edge{r}-{i}");
            let demand = (rng.range(0, 9) < 3).then(|| rng.range(1, 10) * GBPS);
            p.edges.push(Edge {
                switch: switch(&format!("sw-{name}"), device_id),
                name,
                client_port: 2,
                clients: vec![Prefix {
                    addr: [100, (e >> 8) as u8, e as u8, 0].into(),
                    len: 24,
                }],
                subscribers: rng.range(100, 100_000),
                demand,
            });
            device_id += 1;
            p.links.push(Link {
                a: NodeRef::Router(r),
                b: NodeRef::Edge(e),
                capacity: rng.range(1, 20) * GBPS,
                distance: rng.range(1, 10) * MS,
            });
        }
    }
    p
}

/// Counts the constraints (DC, link, demand) the shares exceed, in integer
/// arithmetic.
fn violations(topo: &Topology, policy: &Policy, shares: &fairshare_alloc::Shares) -> usize {
    let mut dc = vec![0u128; policy.datacenters.len()];
    let mut link = vec![0u128; policy.links.len()];
    let mut edge = vec![0u128; policy.edges.len()];
    for (route, rs) in topo.routes().iter().zip(&shares.routes) {
        let s = u128::from(rs.share);
        dc[route.dc] += s;
        edge[route.edge] += s;
        for &l in &route.links {
            link[l] += s;
        }
    }
    let over_dc = policy
        .datacenters
        .iter()
        .zip(&dc)
        .filter(|(d, &sum)| sum > u128::from(d.available().unwrap_or(0)))
        .count();
    let over_link = policy
        .links
        .iter()
        .zip(&link)
        .filter(|(l, &sum)| sum > u128::from(l.capacity))
        .count();
    let over_demand = policy
        .edges
        .iter()
        .zip(&edge)
        .filter(|(e, &sum)| e.demand.is_some_and(|d| sum > u128::from(d)))
        .count();
    over_dc + over_link + over_demand
}

fn best_of<T>(mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..RUNS {
        let start = Instant::now();
        let out = f();
        best = best.min(start.elapsed());
        last = Some(out);
    }
    match last {
        Some(out) => (best, out),
        None => unreachable!("RUNS > 0"),
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn main() -> Result<(), fairshare_alloc::AllocError> {
    let policy = policy();
    println!(
        "policy: {} DCs, {} edges, {} routers, {} links",
        policy.datacenters.len(),
        policy.edges.len(),
        policy.routers.len(),
        policy.links.len()
    );
    let (t, topo) = best_of(|| Topology::build(&policy));
    let topo = topo?;
    println!(
        "Topology::build: {} ({} routes), best of {RUNS}",
        ms(t),
        topo.routes().len()
    );

    let mut maxmin = None;
    for algorithm in [
        Algorithm::WeightedMaxMin,
        Algorithm::Proportional,
        Algorithm::NearestFirst,
    ] {
        let (t, shares) = best_of(|| allocate(&topo, &policy, algorithm));
        let total: u128 = shares.routes.iter().map(|r| u128::from(r.share)).sum();
        println!(
            "allocate {:<16} {} (total {:.1} Gbps, {} constraints exceeded), best of {RUNS}",
            algorithm.name(),
            ms(t),
            total as f64 / GBPS as f64,
            violations(&topo, &policy, &shares)
        );
        if algorithm == Algorithm::WeightedMaxMin {
            maxmin = Some(shares);
        }
    }

    // The controller's case: a tenth of the edges have half their share in
    // use, and the loads changed since.
    let Some(maxmin) = maxmin else { return Ok(()) };
    let floors: Vec<(usize, usize, u64)> = maxmin
        .routes
        .iter()
        .filter(|r| r.edge % 10 == 0)
        .map(|r| (r.dc, r.edge, r.share / 2))
        .collect();
    let mut changed = policy.clone();
    for dc in &mut changed.datacenters {
        for s in &mut dc.servers {
            s.load_ppm = (s.load_ppm + 150_000).min(900_000);
        }
    }
    let (t, _) = best_of(|| allocate(&topo, &changed, Algorithm::WeightedMaxMin));
    println!(
        "allocate weighted-max-min after load change {}, best of {RUNS}",
        ms(t)
    );
    let (t, shares) =
        best_of(|| allocate_with_floor(&topo, &changed, Algorithm::WeightedMaxMin, &floors));
    let shares = shares?;
    println!(
        "allocate_with_floor weighted-max-min {} ({} floors, {} conflicts), best of {RUNS}",
        ms(t),
        floors.len(),
        shares.floor_conflicts.len()
    );
    Ok(())
}
