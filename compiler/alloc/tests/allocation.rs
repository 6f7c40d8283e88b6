//! Hand-made topologies whose shares follow directly from the definitions in
//! the crate docs. Each test says why its expected values are what they are.

mod common;

use common::*;
use fairshare_alloc::{
    allocate, allocate_with_floor, weights, AllocError, Constraint, FloorConflict, Topology,
};
use fairshare_policy::model::{Algorithm, Policy};

/// One DC of `available` bps, and one edge per entry of `edges` (subscribers,
/// capacity of its link to the DC, distance of that link).
fn star(algorithm: Algorithm, available: u64, edges: &[(u64, u64, u64)]) -> Policy {
    let mut p = empty(algorithm);
    p.datacenters.push(dc("east", available, MS));
    for (i, &(subs, cap, dist)) in edges.iter().enumerate() {
        p.edges.push(edge(&format!("e{i}"), subs, None));
        p.links.push(link(E(i), D(0), cap, dist));
    }
    p
}

fn shares_of(p: &Policy, algorithm: Algorithm) -> Vec<u64> {
    let topo = Topology::build(p).expect("topology");
    allocate(&topo, p, algorithm)
        .routes
        .iter()
        .map(|r| r.share)
        .collect()
}

#[test]
fn two_equal_weight_routes_split_a_dc_evenly() {
    // Equal subscribers give equal weights; neither 20 Gbps link binds, so
    // both routes grow together until the DC's 10 Gbps runs out: 5 + 5.
    let p = star(
        Algorithm::WeightedMaxMin,
        10 * GBPS,
        &[(100, 20 * GBPS, MS), (100, 20 * GBPS, MS)],
    );
    assert_eq!(
        shares_of(&p, Algorithm::WeightedMaxMin),
        [5 * GBPS, 5 * GBPS]
    );
}

#[test]
fn a_capped_route_frees_bandwidth_for_the_other() {
    // e0's link saturates at 2 Gbps and freezes it; e1 keeps growing until
    // the DC is full: 10 − 2 = 8 Gbps.
    let p = star(
        Algorithm::WeightedMaxMin,
        10 * GBPS,
        &[(100, 2 * GBPS, MS), (100, 20 * GBPS, MS)],
    );
    assert_eq!(
        shares_of(&p, Algorithm::WeightedMaxMin),
        [2 * GBPS, 8 * GBPS]
    );
}

#[test]
fn weights_follow_subscribers() {
    // Weights are subs/max_subs = 1 and 0.5, so the DC's 9 Gbps splits 2:1.
    let p = star(
        Algorithm::WeightedMaxMin,
        9 * GBPS,
        &[(200, 20 * GBPS, MS), (100, 20 * GBPS, MS)],
    );
    assert_eq!(
        shares_of(&p, Algorithm::WeightedMaxMin),
        [6 * GBPS, 3 * GBPS]
    );
}

/// Two DCs behind a router, and one edge behind an 8 Gbps link from it.
fn shared_link(response0: u64, response1: u64) -> Policy {
    let mut p = empty(Algorithm::WeightedMaxMin);
    p.weights.subscribers = 0.0;
    p.weights.response = 1.0;
    p.datacenters.push(dc("east", 10 * GBPS, response0));
    p.datacenters.push(dc("west", 10 * GBPS, response1));
    p.edges.push(edge("north", 100, None));
    p.routers.push("core".into());
    p.links.push(link(D(0), R(0), 100 * GBPS, MS));
    p.links.push(link(D(1), R(0), 100 * GBPS, MS));
    p.links.push(link(R(0), E(0), 8 * GBPS, MS));
    p
}

#[test]
fn two_dcs_share_a_link() {
    // Equal response times give equal weights; both routes cross the 8 Gbps
    // link, which saturates first (the DCs have 10 Gbps each): 4 + 4.
    let p = shared_link(MS, MS);
    assert_eq!(
        shares_of(&p, Algorithm::WeightedMaxMin),
        [4 * GBPS, 4 * GBPS]
    );
}

#[test]
fn two_dcs_share_a_link_by_weight() {
    // Response weights are min_resp/resp = 1 and 0.5. The link saturates at
    // level t with 1.5·t = 8 Gbps, so the shares are 16/3 and 8/3 Gbps,
    // rounded down.
    let p = shared_link(MS, 2 * MS);
    let topo = Topology::build(&p).expect("topology");
    assert_eq!(weights(&topo, &p), [1.0, 0.5]);
    assert_eq!(
        shares_of(&p, Algorithm::WeightedMaxMin),
        [5_333_333_333, 2_666_666_666]
    );
}

#[test]
fn demand_bounds_an_edge() {
    // e0 wants only 1 Gbps: its demand constraint saturates first, and e1
    // takes the rest of the DC's 10 Gbps.
    let mut p = star(
        Algorithm::WeightedMaxMin,
        10 * GBPS,
        &[(100, 20 * GBPS, MS), (100, 20 * GBPS, MS)],
    );
    p.edges[0].demand = Some(GBPS);
    assert_eq!(shares_of(&p, Algorithm::WeightedMaxMin), [GBPS, 9 * GBPS]);
}

#[test]
fn available_bandwidth_takes_loads_and_fixed_reservations() {
    // B = min(uplink 40, 10·0.8 + 10) − 2 = 16 Gbps, split evenly.
    let mut p = star(
        Algorithm::WeightedMaxMin,
        40 * GBPS,
        &[(100, 20 * GBPS, MS), (100, 20 * GBPS, MS)],
    );
    let dc = &mut p.datacenters[0];
    dc.servers[0].capacity = 10 * GBPS;
    dc.servers[0].load_ppm = 200_000;
    let mut second = dc.servers[0].clone();
    second.load_ppm = 0;
    dc.servers.push(second);
    dc.fixed.push(fairshare_policy::model::FixedReservation {
        purpose: "unsubscribed".into(),
        rate: 2 * GBPS,
    });
    assert_eq!(
        shares_of(&p, Algorithm::WeightedMaxMin),
        [8 * GBPS, 8 * GBPS]
    );
}

#[test]
fn proportional_scales_down_without_redistributing() {
    // Equal weights split 10 Gbps into 5 + 5; e0's 2 Gbps link is loaded 5,
    // so e0 is scaled by 2/5 to 2 Gbps; e1 keeps 5 (nothing is handed on).
    let p = star(
        Algorithm::Proportional,
        10 * GBPS,
        &[(100, 2 * GBPS, MS), (100, 20 * GBPS, MS)],
    );
    assert_eq!(shares_of(&p, Algorithm::Proportional), [2 * GBPS, 5 * GBPS]);
}

#[test]
fn proportional_takes_the_smallest_factor() {
    // Weights 1 and 0.5 split 12 Gbps into 8 + 4. Both edges sit behind one
    // router; the DC→router link (6 Gbps) carries 12, factor 1/2; e0's own
    // link (2 Gbps) carries 8, factor 1/4. So e0 = 8/4 = 2 and e1 = 4/2 = 2.
    let mut p = empty(Algorithm::Proportional);
    p.datacenters.push(dc("east", 12 * GBPS, MS));
    p.edges.push(edge("e0", 200, None));
    p.edges.push(edge("e1", 100, None));
    p.routers.push("core".into());
    p.links.push(link(D(0), R(0), 6 * GBPS, MS));
    p.links.push(link(R(0), E(0), 2 * GBPS, MS));
    p.links.push(link(R(0), E(1), 20 * GBPS, MS));
    assert_eq!(shares_of(&p, Algorithm::Proportional), [2 * GBPS, 2 * GBPS]);
}

#[test]
fn nearest_first_serves_the_closest_edge_first() {
    // e1 (1 ms) comes before e0 (5 ms): it fills its 6 Gbps link, and e0
    // gets the 4 Gbps the DC has left.
    let p = star(
        Algorithm::NearestFirst,
        10 * GBPS,
        &[(100, 6 * GBPS, 5 * MS), (100, 6 * GBPS, MS)],
    );
    assert_eq!(shares_of(&p, Algorithm::NearestFirst), [4 * GBPS, 6 * GBPS]);
}

#[test]
fn nearest_first_serves_dcs_in_order() {
    // DC 0 goes first and takes all 8 Gbps of the shared link; DC 1 finds
    // nothing left.
    let p = shared_link(MS, MS);
    assert_eq!(shares_of(&p, Algorithm::NearestFirst), [8 * GBPS, 0]);
}

#[test]
fn a_floor_above_the_fair_share_holds() {
    // 7 Gbps are in use on (0,0): it stays at its floor while the level
    // rises; e1 grows alone until the DC is full at 10 − 7 = 3 Gbps.
    let p = star(
        Algorithm::WeightedMaxMin,
        10 * GBPS,
        &[(100, 20 * GBPS, MS), (100, 20 * GBPS, MS)],
    );
    let topo = Topology::build(&p).expect("topology");
    let s = allocate_with_floor(&topo, &p, Algorithm::WeightedMaxMin, &[(0, 0, 7 * GBPS)])
        .expect("floors");
    assert_eq!(s.get(0, 0), Some(7 * GBPS));
    assert_eq!(s.get(0, 1), Some(3 * GBPS));
    assert!(s.floor_conflicts.is_empty());
}

#[test]
fn a_floor_below_the_fair_share_changes_nothing() {
    // A 2 Gbps floor is under the 5 Gbps fair share, so the split stays even.
    let p = star(
        Algorithm::WeightedMaxMin,
        10 * GBPS,
        &[(100, 20 * GBPS, MS), (100, 20 * GBPS, MS)],
    );
    let topo = Topology::build(&p).expect("topology");
    let s = allocate_with_floor(&topo, &p, Algorithm::WeightedMaxMin, &[(0, 0, 2 * GBPS)])
        .expect("floors");
    assert_eq!(s.get(0, 0), Some(5 * GBPS));
    assert_eq!(s.get(0, 1), Some(5 * GBPS));
}

#[test]
fn floors_that_exceed_a_capacity_win_and_are_reported() {
    // 6 + 6 Gbps in use on a 10 Gbps DC: no share is cut below what is used,
    // and the DC constraint is reported, for every algorithm.
    let p = star(
        Algorithm::WeightedMaxMin,
        10 * GBPS,
        &[(100, 20 * GBPS, MS), (100, 20 * GBPS, MS)],
    );
    let topo = Topology::build(&p).expect("topology");
    for algorithm in [
        Algorithm::WeightedMaxMin,
        Algorithm::Proportional,
        Algorithm::NearestFirst,
    ] {
        let s = allocate_with_floor(&topo, &p, algorithm, &[(0, 0, 6 * GBPS), (0, 1, 6 * GBPS)])
            .expect("floors");
        assert_eq!(s.get(0, 0), Some(6 * GBPS), "{algorithm:?}");
        assert_eq!(s.get(0, 1), Some(6 * GBPS), "{algorithm:?}");
        assert_eq!(
            s.floor_conflicts,
            [FloorConflict {
                constraint: Constraint::Datacenter(0),
                capacity: 10 * GBPS,
                floors: 12 * GBPS,
            }],
            "{algorithm:?}"
        );
    }
}

#[test]
fn raising_a_link_can_shrink_a_share_of_the_same_dc() {
    // Before: e0's 2 Gbps link caps it, e1 gets the other 8 of the DC's 10.
    // After raising e0's link to 5 Gbps, the DC saturates first at 5 + 5:
    // e1 shrinks although only a capacity grew. This is why the crate docs
    // state monotonicity only for B(d) and in the lexicographic sense.
    let mut p = star(
        Algorithm::WeightedMaxMin,
        10 * GBPS,
        &[(100, 2 * GBPS, MS), (100, 20 * GBPS, MS)],
    );
    let topo = Topology::build(&p).expect("topology");
    let before = allocate(&topo, &p, Algorithm::WeightedMaxMin);
    p.links[0].capacity = 5 * GBPS;
    let after = allocate(&topo, &p, Algorithm::WeightedMaxMin);
    assert_eq!(before.get(0, 1), Some(8 * GBPS));
    assert_eq!(after.get(0, 1), Some(5 * GBPS));
}

#[test]
fn recalculation_reuses_the_topology() {
    // Halving the server capacity halves B(d) and so both equal shares.
    let mut p = star(
        Algorithm::WeightedMaxMin,
        10 * GBPS,
        &[(100, 20 * GBPS, MS), (100, 20 * GBPS, MS)],
    );
    let topo = Topology::build(&p).expect("topology");
    p.datacenters[0].servers[0].capacity = 5 * GBPS;
    let s = allocate(&topo, &p, p.algorithm);
    assert_eq!(s.get(0, 0), Some(2_500_000_000));
    assert_eq!(s.get(0, 1), Some(2_500_000_000));
}

#[test]
fn weight_formula() {
    // ws = 1, wd = 0.5, wr = 0.3. Route (0,0): 400/400 subs, distance 2 ms
    // (the smallest), DC response 1 ms (the smallest): 1 + 0.5 + 0.3 = 1.8.
    // Route (0,1): 100/400, 2/8 of the distance, same DC: 0.25 + 0.125 + 0.3.
    // Route (1,0) from a DC with 4 ms response over 2 ms + 2 ms:
    // 1 + 0.5·2/4 + 0.3·1/4 = 1.325.
    let mut p = empty(Algorithm::WeightedMaxMin);
    p.weights.distance = 0.5;
    p.weights.response = 0.3;
    p.datacenters.push(dc("east", 10 * GBPS, MS));
    p.datacenters.push(dc("west", 10 * GBPS, 4 * MS));
    p.edges.push(edge("e0", 400, None));
    p.edges.push(edge("e1", 100, None));
    p.links.push(link(D(0), E(0), GBPS, 2 * MS));
    p.links.push(link(D(0), E(1), GBPS, 8 * MS));
    p.links.push(link(D(1), D(0), GBPS, 2 * MS));
    let topo = Topology::build(&p).expect("topology");
    let pairs: Vec<(usize, usize)> = topo.routes().iter().map(|r| (r.dc, r.edge)).collect();
    assert_eq!(pairs, [(0, 0), (0, 1), (1, 0), (1, 1)]);
    let w = weights(&topo, &p);
    let expected = [1.8, 0.25 + 0.125 + 0.3, 1.325, 0.25 + 0.5 * 0.2 + 0.075];
    for (got, want) in w.iter().zip(expected) {
        assert!((got - want).abs() < 1e-12, "{w:?} vs {expected:?}");
    }
}

#[test]
fn zero_weights_and_zero_values_are_safe() {
    // All settings 0: every weight is 1.0. Only subscribers counted, and an
    // edge with 0 subscribers: its weight is the minimum, still > 0.
    let mut p = star(
        Algorithm::WeightedMaxMin,
        10 * GBPS,
        &[(0, 20 * GBPS, 0), (100, 20 * GBPS, 0)],
    );
    p.weights.subscribers = 0.0;
    let topo = Topology::build(&p).expect("topology");
    assert_eq!(weights(&topo, &p), [1.0, 1.0]);
    p.weights.subscribers = 1.0;
    assert_eq!(weights(&topo, &p), [fairshare_alloc::MIN_WEIGHT, 1.0]);
}

#[test]
fn errors_are_typed() {
    let mut p = star(Algorithm::WeightedMaxMin, 10 * GBPS, &[(1, GBPS, MS)]);
    p.edges.push(edge("lonely", 1, None));
    assert_eq!(
        Topology::build(&p).err(),
        Some(AllocError::NoRoute {
            edge: "lonely".into()
        })
    );

    let mut p = star(Algorithm::WeightedMaxMin, 10 * GBPS, &[(1, GBPS, MS)]);
    p.links.push(link(D(0), R(3), GBPS, MS));
    assert!(matches!(
        Topology::build(&p),
        Err(AllocError::UnknownNode { link: 1, .. })
    ));

    let mut p = star(Algorithm::WeightedMaxMin, 10 * GBPS, &[(1, GBPS, MS)]);
    p.links.push(link(D(1), E(0), GBPS, MS));
    assert!(matches!(
        Topology::build(&p),
        Err(AllocError::UnknownNode { link: 1, .. })
    ));

    let p = star(Algorithm::WeightedMaxMin, 10 * GBPS, &[(1, GBPS, MS)]);
    let topo = Topology::build(&p).expect("topology");
    let a = Algorithm::WeightedMaxMin;
    assert_eq!(
        allocate_with_floor(&topo, &p, a, &[(0, 5, 1)]).err(),
        Some(AllocError::UnknownRoute { dc: 0, edge: 5 })
    );
    assert_eq!(
        allocate_with_floor(&topo, &p, a, &[(0, 0, 1), (0, 0, 2)]).err(),
        Some(AllocError::DuplicateFloor { dc: 0, edge: 0 })
    );
    let mut other = p.clone();
    other.links.push(link(D(0), E(0), GBPS, MS));
    let Err(err) = allocate_with_floor(&topo, &other, a, &[]) else {
        panic!("a changed structure must be refused");
    };
    assert!(matches!(err, AllocError::StructureChanged { .. }));
    assert!(err
        .to_string()
        .contains("expected 1 datacenters, 1 edges, 0 routers, 1 links"));
}

#[test]
fn dot_shows_nodes_links_and_shares() {
    // Both 4 Gbps shares of `two_dcs_share_a_link` cross the 8 Gbps link.
    let p = shared_link(MS, MS);
    let topo = Topology::build(&p).expect("topology");
    let s = allocate(&topo, &p, Algorithm::WeightedMaxMin);
    let dot = topo.to_dot(&p, &s);
    assert!(dot.starts_with("graph \"test\" {\n"), "{dot}");
    assert!(
        dot.contains("  dc0 [shape=box, label=\"east\\nB = 10 Gbps\"];\n"),
        "{dot}"
    );
    assert!(
        dot.contains("  router0 [shape=diamond, label=\"core\"];\n"),
        "{dot}"
    );
    assert!(
        dot.contains("  dc0 -- router0 [label=\"4 Gbps / 100 Gbps\\n1000 us\"];\n"),
        "{dot}"
    );
    assert!(
        dot.contains("  router0 -- edge0 [label=\"8 Gbps / 8 Gbps\\n1000 us\"];\n"),
        "{dot}"
    );
    assert!(dot.ends_with("}\n"));
    assert_eq!(dot, topo.to_dot(&p, &s));
}

#[test]
fn shares_and_routes_serialize_for_the_report() {
    // The shares of `two_dcs_share_a_link` (4 + 4 Gbps) as the compiler
    // writes them to shares.json.
    let p = shared_link(MS, MS);
    let topo = Topology::build(&p).expect("topology");
    let s = allocate(&topo, &p, Algorithm::WeightedMaxMin);
    assert_eq!(
        serde_json::to_string(&s).expect("json"),
        "{\"algorithm\":\"weighted-max-min\",\"routes\":[\
         {\"dc\":0,\"edge\":0,\"share\":4000000000},\
         {\"dc\":1,\"edge\":0,\"share\":4000000000}],\
         \"floor_conflicts\":[]}"
    );
    assert_eq!(
        serde_json::to_string(&topo.routes()[1]).expect("json"),
        "{\"dc\":1,\"edge\":0,\"path\":[\
         {\"kind\":\"datacenter\",\"name\":1},\
         {\"kind\":\"router\",\"name\":0},\
         {\"kind\":\"edge\",\"name\":0}],\
         \"links\":[1,2],\"cap\":8000000000,\"distance\":2000,\"weight\":1.0}"
    );
    let conflict = FloorConflict {
        constraint: Constraint::Link(2),
        capacity: 1,
        floors: 2,
    };
    assert_eq!(
        serde_json::to_string(&conflict).expect("json"),
        "{\"constraint\":{\"kind\":\"link\",\"index\":2},\"capacity\":1,\"floors\":2}"
    );
}
