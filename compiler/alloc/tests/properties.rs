//! Property tests on random small topologies (1–4 DCs, 1–6 edges, 0–3
//! routers, random links, capacities, weights and demands).

mod common;

use common::*;
use fairshare_alloc::{allocate, allocate_with_floor, weights, Shares, Topology};
use fairshare_policy::model::{Algorithm, NodeRef, Policy};
use proptest::prelude::*;

const ALGORITHMS: [Algorithm; 3] = [
    Algorithm::WeightedMaxMin,
    Algorithm::Proportional,
    Algorithm::NearestFirst,
];

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 2000,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn shape(isolated: bool, demands: bool) -> impl Strategy<Value = Shape> {
    (1usize..=4, 1usize..=6, 0usize..=3).prop_map(move |(dcs, edges, routers)| Shape {
        dcs,
        edges,
        routers,
        isolated,
        demands,
    })
}

/// Every constraint of one policy, each as (capacity, route indices).
fn constraints(topo: &Topology, p: &Policy) -> Vec<(u64, Vec<usize>)> {
    let routes = topo.routes();
    let mut out = Vec::new();
    for (d, dc) in p.datacenters.iter().enumerate() {
        let members = (0..routes.len()).filter(|&r| routes[r].dc == d).collect();
        out.push((dc.available().unwrap_or(0), members));
    }
    for (l, link) in p.links.iter().enumerate() {
        let members = (0..routes.len())
            .filter(|&r| routes[r].links.contains(&l))
            .collect();
        out.push((link.capacity, members));
    }
    for (e, edge) in p.edges.iter().enumerate() {
        if let Some(demand) = edge.demand {
            let members = (0..routes.len()).filter(|&r| routes[r].edge == e).collect();
            out.push((demand, members));
        }
    }
    out
}

fn share_vec(s: &Shares) -> Vec<u64> {
    s.routes.iter().map(|r| r.share).collect()
}

/// Checks every constraint in integer arithmetic; returns a message on the
/// first violation.
fn check_feasible(topo: &Topology, p: &Policy, s: &Shares) -> Result<(), String> {
    let x = share_vec(s);
    if x.len() != topo.routes().len() {
        return Err("one share per route expected".into());
    }
    for (r, route) in topo.routes().iter().enumerate() {
        if (s.routes[r].dc, s.routes[r].edge) != (route.dc, route.edge) {
            return Err(format!("share {r} is not for route {r}"));
        }
        let cap = route.links.iter().map(|&l| p.links[l].capacity).min();
        if cap.is_some_and(|c| x[r] > c) || x[r] > route.cap {
            return Err(format!(
                "route {r} share {} above its cap {}",
                x[r], route.cap
            ));
        }
    }
    for (cap, members) in constraints(topo, p) {
        let sum: u128 = members.iter().map(|&r| u128::from(x[r])).sum();
        if sum > u128::from(cap) {
            return Err(format!("constraint {members:?}: {sum} > {cap}"));
        }
    }
    Ok(())
}

/// Simple paths from `from` to `to`: (bottleneck, distance) of each.
fn all_paths(p: &Policy, from: &NodeRef, to: &NodeRef) -> Vec<(u64, u64)> {
    fn walk(
        p: &Policy,
        at: &NodeRef,
        to: &NodeRef,
        seen: &mut Vec<NodeRef>,
        width: u64,
        dist: u64,
        out: &mut Vec<(u64, u64)>,
    ) {
        if at == to {
            out.push((width, dist));
            return;
        }
        for link in &p.links {
            let next = if link.a == *at {
                &link.b
            } else if link.b == *at {
                &link.a
            } else {
                continue;
            };
            if seen.contains(next) {
                continue;
            }
            seen.push(next.clone());
            let (w, d) = (width.min(link.capacity), dist + link.distance);
            walk(p, next, to, seen, w, d, out);
            seen.pop();
        }
    }
    let mut out = Vec::new();
    walk(p, from, to, &mut vec![from.clone()], u64::MAX, 0, &mut out);
    out
}

/// Is `b` lexicographically ≥ `a` (both ascending)? The first entry where
/// they differ decides, with no tolerance: the callers widen the bounds
/// they compare instead.
fn lex_not_lower(a: &[f64], b: &[f64]) -> Result<(), String> {
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        if y > x {
            return Ok(());
        }
        if y < x {
            return Err(format!("entry {i}: {y} < {x}\nbefore {a:?}\nafter  {b:?}"));
        }
    }
    Ok(())
}

/// Each route's share over its weight, ascending, after `bound` has
/// widened each share.
fn sorted_levels(s: &Shares, w: &[f64], bound: impl Fn(f64) -> f64) -> Vec<f64> {
    let mut v: Vec<f64> = s
        .routes
        .iter()
        .zip(w)
        .map(|(r, w)| bound(r.share as f64) / w)
        .collect();
    v.sort_by(f64::total_cmp);
    v
}

/// A case the random search found: two routes into one edge even out when
/// a link grows, one rising by less than the other falls. The exact levels
/// rise (the first to differ goes up); a comparison with a per-entry
/// tolerance took that rise for a tie and failed on the fall after it.
#[test]
fn routes_that_even_out_raise_the_sorted_levels() {
    let shape = Shape {
        dcs: 3,
        edges: 2,
        routers: 1,
        isolated: false,
        demands: true,
    };
    let mut p = random_policy(shape, 9_141_053_286_007_700_531);
    let topo = Topology::build(&p).expect("topology");
    let w = weights(&topo, &p);
    let before = sorted_levels(&allocate(&topo, &p, Algorithm::WeightedMaxMin), &w, |s| s);
    let what = raise_one(&mut p, 5_246_721_109_733_614_857, GBPS);
    let after = sorted_levels(&allocate(&topo, &p, Algorithm::WeightedMaxMin), &w, |s| {
        s * (1.0 + 1e-9) + 3.0
    });
    if let Err(msg) = lex_not_lower(&before, &after) {
        panic!("{what} raised: {msg}");
    }
}

/// Raises one capacity of `p` chosen by `pick`: B(d) (uplink and a server),
/// a link, or a demand; returns a description.
fn raise_one(p: &mut Policy, pick: u64, delta: u64) -> String {
    let choices = p.datacenters.len() + p.links.len() + p.edges.len();
    let i = (pick % choices as u64) as usize;
    if i < p.datacenters.len() {
        let dc = &mut p.datacenters[i];
        dc.uplink += delta;
        dc.servers[0].capacity += delta;
        format!("B({i})")
    } else if i < p.datacenters.len() + p.links.len() {
        let l = i - p.datacenters.len();
        p.links[l].capacity += delta;
        format!("link {l}")
    } else {
        let e = i - p.datacenters.len() - p.links.len();
        if let Some(d) = p.edges[e].demand.as_mut() {
            *d += delta;
        }
        format!("demand {e}")
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn routes_are_widest_then_shortest(shape in shape(false, true), seed in any::<u64>()) {
        let p = random_policy(shape, seed);
        let topo = Topology::build(&p).expect("topology");
        let mut expected_pairs = Vec::new();
        for d in 0..p.datacenters.len() {
            for e in 0..p.edges.len() {
                let paths = all_paths(&p, &NodeRef::Datacenter(d), &NodeRef::Edge(e));
                if let Some(width) = paths.iter().map(|&(w, _)| w).max() {
                    let dist = paths.iter().filter(|&&(w, _)| w == width).map(|&(_, d)| d).min();
                    expected_pairs.push((d, e, width, dist.unwrap_or(0)));
                }
            }
        }
        let got: Vec<_> = topo.routes().iter().map(|r| (r.dc, r.edge, r.cap, r.distance)).collect();
        prop_assert_eq!(got, expected_pairs);
        // Each path is a simple chain of its links, from the DC to the edge,
        // whose bottleneck and length are the route's.
        for r in topo.routes() {
            prop_assert_eq!(r.path.len(), r.links.len() + 1);
            prop_assert_eq!(&r.path[0], &NodeRef::Datacenter(r.dc));
            prop_assert_eq!(r.path.last(), Some(&NodeRef::Edge(r.edge)));
            for (i, &l) in r.links.iter().enumerate() {
                let link = &p.links[l];
                let (a, b) = (&r.path[i], &r.path[i + 1]);
                prop_assert!((link.a == *a && link.b == *b) || (link.a == *b && link.b == *a));
            }
            let mut nodes = r.path.clone();
            nodes.sort();
            nodes.dedup();
            prop_assert_eq!(nodes.len(), r.path.len());
            prop_assert_eq!(r.links.iter().map(|&l| p.links[l].capacity).min(), Some(r.cap));
            prop_assert_eq!(r.links.iter().map(|&l| p.links[l].distance).sum::<u64>(), r.distance);
        }
    }

    #[test]
    fn every_algorithm_respects_every_constraint(shape in shape(false, true), seed in any::<u64>()) {
        let p = random_policy(shape, seed);
        let topo = Topology::build(&p).expect("topology");
        for algorithm in ALGORITHMS {
            let s = allocate(&topo, &p, algorithm);
            prop_assert_eq!(s.algorithm, algorithm);
            prop_assert!(s.floor_conflicts.is_empty());
            if let Err(msg) = check_feasible(&topo, &p, &s) {
                return Err(TestCaseError::fail(format!("{algorithm:?}: {msg}")));
            }
        }
    }

    #[test]
    fn weighted_max_min_is_max_min_fair(shape in shape(false, true), seed in any::<u64>()) {
        // Bottleneck characterisation: every route is in a saturated
        // constraint in which it has the largest share/weight.
        let p = random_policy(shape, seed);
        let topo = Topology::build(&p).expect("topology");
        let s = allocate(&topo, &p, Algorithm::WeightedMaxMin);
        let x = share_vec(&s);
        let w = weights(&topo, &p);
        let cons = constraints(&topo, &p);
        for r in 0..x.len() {
            let bottleneck = cons.iter().any(|(cap, members)| {
                if !members.contains(&r) {
                    return false;
                }
                let sum: u128 = members.iter().map(|&j| u128::from(x[j])).sum();
                let slack = members.len() as u128 + 1 + (*cap as f64 * 1e-9) as u128;
                let saturated = sum + slack >= u128::from(*cap);
                let top = members.iter().map(|&j| x[j] as f64 / w[j]).fold(0.0, f64::max);
                let tol = 2.0 + x[r] as f64 * 1e-9;
                saturated && x[r] as f64 + tol >= top * w[r]
            });
            prop_assert!(bottleneck, "route {} ({:?}) has no bottleneck; shares {:?} weights {:?}",
                r, (topo.routes()[r].dc, topo.routes()[r].edge), x, w);
        }
    }

    #[test]
    fn allocation_is_deterministic(shape in shape(false, true), seed in any::<u64>()) {
        let p = random_policy(shape, seed);
        let topo = Topology::build(&p).expect("topology");
        let again = Topology::build(&p).expect("topology");
        prop_assert_eq!(topo.routes(), again.routes());
        for algorithm in ALGORITHMS {
            let s = allocate(&topo, &p, algorithm);
            prop_assert_eq!(&s, &allocate(&topo, &p, algorithm));
            prop_assert_eq!(&s, &allocate(&again, &p, algorithm));
            prop_assert_eq!(topo.to_dot(&p, &s), again.to_dot(&p, &s));
        }
    }

    #[test]
    fn raising_b_never_shrinks_a_share_without_cross_dc_links(
        shape in shape(true, false),
        seed in any::<u64>(),
        pick in any::<u64>(),
        delta in 1u64..=8,
    ) {
        // (a) of the crate docs: no link is crossed by routes of two DCs and
        // no demands, then raising B(d) never shrinks any share.
        let mut p = random_policy(shape, seed);
        let topo = Topology::build(&p).expect("topology");
        for l in 0..p.links.len() {
            let mut dcs: Vec<usize> = topo.routes().iter()
                .filter(|r| r.links.contains(&l)).map(|r| r.dc).collect();
            dcs.dedup();
            prop_assert!(dcs.len() <= 1, "generator made a shared link");
        }
        let before = allocate(&topo, &p, Algorithm::WeightedMaxMin);
        let d = (pick % p.datacenters.len() as u64) as usize;
        let b0 = p.datacenters[d].available();
        p.datacenters[d].uplink += delta * GBPS;
        p.datacenters[d].servers[0].capacity += delta * GBPS;
        prop_assert!(p.datacenters[d].available() >= b0);
        let after = allocate(&topo, &p, Algorithm::WeightedMaxMin);
        for (x, y) in before.routes.iter().zip(&after.routes) {
            prop_assert!(y.share + 2 >= x.share, "B({}) raised: {:?} -> {:?}", d, before, after);
        }
    }

    #[test]
    fn raising_a_capacity_never_lowers_the_sorted_levels(
        shape in shape(false, true),
        seed in any::<u64>(),
        pick in any::<u64>(),
        delta in 1u64..=8,
    ) {
        // (b) of the crate docs: the ascending vector of share/weight does not
        // fall lexicographically when any one capacity grows.
        let mut p = random_policy(shape, seed);
        let topo = Topology::build(&p).expect("topology");
        let w = weights(&topo, &p);
        // Whole shares are the exact ones rounded down by a few b/s: the
        // levels before are at most the exact ones, and the levels after,
        // raised by 3 b/s and the float error, at least theirs. Sorting
        // keeps both bounds entry by entry, so the exact levels rising
        // means these do, and a tie where two routes even out by less than
        // a tolerance cannot hide a rise that comes first.
        let before = sorted_levels(&allocate(&topo, &p, Algorithm::WeightedMaxMin), &w, |s| s);
        let what = raise_one(&mut p, pick, delta * GBPS);
        prop_assert_eq!(&w, &weights(&topo, &p));
        let after = sorted_levels(&allocate(&topo, &p, Algorithm::WeightedMaxMin), &w, |s| {
            s * (1.0 + 1e-9) + 3.0
        });
        if let Err(msg) = lex_not_lower(&before, &after) {
            return Err(TestCaseError::fail(format!("{what} raised: {msg}")));
        }
    }

    #[test]
    fn floors_are_honoured(shape in shape(false, true), seed in any::<u64>(), floor_seed in any::<u64>()) {
        let p = random_policy(shape, seed);
        let topo = Topology::build(&p).expect("topology");
        let mut rng = common::Rng::new(floor_seed);
        let mut floors: Vec<(usize, usize, u64)> = Vec::new();
        for r in topo.routes() {
            if rng.chance(50) {
                floors.push((r.dc, r.edge, rng.range(0, 12) * 250 * MBPS));
            }
        }
        let floor_of = |r: usize| {
            let route = &topo.routes()[r];
            floors.iter().find(|f| (f.0, f.1) == (route.dc, route.edge)).map_or(0, |f| f.2)
        };
        for algorithm in ALGORITHMS {
            let s = allocate_with_floor(&topo, &p, algorithm, &floors).expect("floors");
            for (r, rs) in s.routes.iter().enumerate() {
                prop_assert!(rs.share >= floor_of(r), "{:?}: route {} below its floor", algorithm, r);
            }
            // A constraint may only be exceeded when its floors alone do, and
            // exactly those are reported.
            let x = share_vec(&s);
            let mut conflicts = 0;
            for (cap, members) in constraints(&topo, &p) {
                let sum: u128 = members.iter().map(|&r| u128::from(x[r])).sum();
                let floors: u128 = members.iter().map(|&r| u128::from(floor_of(r))).sum();
                if floors > u128::from(cap) {
                    conflicts += 1;
                    prop_assert_eq!(sum, floors, "{:?}: conflict shares are the floors", algorithm);
                } else {
                    prop_assert!(sum <= u128::from(cap), "{:?}: {:?} over {}", algorithm, members, cap);
                }
            }
            prop_assert_eq!(s.floor_conflicts.len(), conflicts);
        }
    }
}
