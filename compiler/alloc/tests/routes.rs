//! Route finding on hand-made graphs.

mod common;

use common::*;
use fairshare_alloc::Topology;
use fairshare_policy::model::{Algorithm, Policy};

/// DC 0, edge 0 and routers r0, r1 (no links yet).
fn base() -> Policy {
    let mut p = empty(Algorithm::WeightedMaxMin);
    p.datacenters.push(dc("east", 10 * GBPS, MS));
    p.edges.push(edge("north", 1, None));
    p.routers = vec!["r0".into(), "r1".into()];
    p
}

#[test]
fn the_widest_path_beats_the_shortest() {
    // Direct link: 1 Gbps, 1 ms. Through r0: 5 Gbps bottleneck, 3 ms.
    // The wider path wins although it is longer.
    let mut p = base();
    p.links.push(link(D(0), E(0), GBPS, MS));
    p.links.push(link(D(0), R(0), 5 * GBPS, MS));
    p.links.push(link(R(0), E(0), 6 * GBPS, 2 * MS));
    let topo = Topology::build(&p).expect("topology");
    let r = &topo.routes()[0];
    assert_eq!(r.path, [D(0), R(0), E(0)]);
    assert_eq!(r.links, [1, 2]);
    assert_eq!(r.cap, 5 * GBPS);
    assert_eq!(r.distance, 3 * MS);
}

#[test]
fn among_the_widest_the_shortest_wins() {
    // Both paths have a 4 Gbps bottleneck; through r1 is 2 ms, through r0 is
    // 6 ms, so r1.
    let mut p = base();
    p.links.push(link(D(0), R(0), 4 * GBPS, 3 * MS));
    p.links.push(link(R(0), E(0), 8 * GBPS, 3 * MS));
    p.links.push(link(D(0), R(1), 8 * GBPS, MS));
    p.links.push(link(R(1), E(0), 4 * GBPS, MS));
    let topo = Topology::build(&p).expect("topology");
    let r = &topo.routes()[0];
    assert_eq!(r.path, [D(0), R(1), E(0)]);
    assert_eq!((r.cap, r.distance), (4 * GBPS, 2 * MS));
}

#[test]
fn the_widest_path_to_a_hop_need_not_be_a_prefix() {
    // r0 is reached widest over the 10 Gbps, 100 ms link, but the edge behind
    // r0's 5 Gbps link is only 5 Gbps wide either way, and then the short
    // 5 Gbps link to r0 (1 ms) gives the shorter path: 2 ms, not 101 ms.
    // A single search that keeps only the best label per node would miss it.
    let mut p = base();
    p.links.push(link(D(0), R(0), 10 * GBPS, 100 * MS));
    p.links.push(link(D(0), R(0), 5 * GBPS, MS));
    p.links.push(link(R(0), E(0), 5 * GBPS, MS));
    let topo = Topology::build(&p).expect("topology");
    let r = &topo.routes()[0];
    assert_eq!(r.links, [1, 2]);
    assert_eq!((r.cap, r.distance), (5 * GBPS, 2 * MS));
}

#[test]
fn paths_may_cross_other_dcs_and_edges() {
    // edge 1 hangs off edge 0, which hangs off the DC: the route to edge 1
    // crosses edge 0. DC 1 reaches everything through DC 0.
    let mut p = base();
    p.routers.clear();
    p.datacenters.push(dc("west", 10 * GBPS, MS));
    p.edges.push(edge("south", 1, None));
    p.links.push(link(D(0), E(0), 3 * GBPS, MS));
    p.links.push(link(E(0), E(1), 2 * GBPS, MS));
    p.links.push(link(D(1), D(0), 9 * GBPS, MS));
    let topo = Topology::build(&p).expect("topology");
    let got: Vec<_> = topo
        .routes()
        .iter()
        .map(|r| (r.dc, r.edge, r.path.clone(), r.cap, r.distance))
        .collect();
    assert_eq!(
        got,
        [
            (0, 0, vec![D(0), E(0)], 3 * GBPS, MS),
            (0, 1, vec![D(0), E(0), E(1)], 2 * GBPS, 2 * MS),
            (1, 0, vec![D(1), D(0), E(0)], 3 * GBPS, 2 * MS),
            (1, 1, vec![D(1), D(0), E(0), E(1)], 2 * GBPS, 3 * MS),
        ]
    );
}

#[test]
fn only_connected_pairs_get_routes_and_self_loops_are_ignored() {
    // DC 1 is on its own island with edge 1; a self-loop on r0 changes nothing.
    let mut p = base();
    p.datacenters.push(dc("west", 10 * GBPS, MS));
    p.edges.push(edge("south", 1, None));
    p.links.push(link(D(0), R(0), GBPS, MS));
    p.links.push(link(R(0), R(0), 9 * GBPS, 0));
    p.links.push(link(R(0), E(0), GBPS, MS));
    p.links.push(link(D(1), E(1), GBPS, MS));
    let topo = Topology::build(&p).expect("topology");
    let pairs: Vec<_> = topo.routes().iter().map(|r| (r.dc, r.edge)).collect();
    assert_eq!(pairs, [(0, 0), (1, 1)]);
    assert_eq!(topo.routes()[0].links, [0, 2]);
}
