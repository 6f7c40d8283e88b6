//! Topology and fair-share allocation.
//!
//! This crate turns a validated [`Policy`] into the fair shares `S(d,e)` of
//! DESIGN §5: how many bits per second each data center `d` pre-reserves for
//! each subscriber edge `e`. The compiler runs it once for the initial
//! shares; the controller's bandwidth calculator re-runs [`allocate`] on the
//! same [`Topology`] every recalculation period with the capacities and loads
//! of the moment (DESIGN §3 step 7).
//!
//! **Boundary:** no IO, no clock, no randomness; it knows nothing of P4,
//! RSVP or the switches. Its inputs are the policy model and, for the
//! controller, the floors of the shares already in use.
//!
//! # Routes
//!
//! [`Topology::build`] puts the DCs, edges and routers in an undirected
//! petgraph graph, one graph edge per link. A route `(d,e)` exists for every
//! DC `d` and edge `e` that are connected. Its path is the **widest** path
//! from `d` to `e` (the one whose smallest link capacity is largest); among
//! the widest, the one with the smallest summed distance; remaining ties go
//! deterministically to the path the search settles first. The route's cap
//! `C(d,e)` is the path's smallest link capacity and its distance the path's
//! summed delay. Paths are computed once per topology, with one bottleneck
//! search per DC and one shortest-path search per DC and distinct capacity
//! class, never per route. They stay pinned when capacities change; rebuild
//! the topology to re-route.
//!
//! # Constraints
//!
//! Shares are bounded by three kinds of [`Constraint`]:
//!
//! * per DC: `Σ_e S(d,e) ≤ B(d)`, where `B(d)` is
//!   [`Datacenter::available`](fairshare_policy::model::Datacenter::available)
//!   (`min(uplink, server headroom) − fixed reservations`, 0 if negative);
//! * per link: the shares of all routes whose path crosses the link, whatever
//!   their DC and edge, sum to at most its capacity (one capacity for both
//!   directions; the data flows DC → edge). This implies `S(d,e) ≤ C(d,e)`;
//! * per edge with a `demand`: `Σ_d S(d,e) ≤ demand(e)`.
//!
//! # Weights
//!
//! With `ws`, `wd`, `wr` the policy's subscriber, distance and response
//! weights (negative or non-finite settings count as 0), the weight of route
//! `(d,e)` is
//!
//! ```text
//! w(d,e) = ws · subs(e) / max_subs
//!        + wd · min_dist / dist(d,e)
//!        + wr · min_resp / resp(d)
//! ```
//!
//! where `max_subs` is the largest subscriber count of any edge (the term is
//! 1 when every edge has 0), `dist` is the route's distance and `min_dist`
//! the smallest over all routes, `resp(d)` is the DC's mean server response
//! time and `min_resp` the smallest over all DCs; distances and response
//! times of 0 count as 1 µs. Every term lies in [0, 1], so each weight
//! setting caps how much its property can add. When all three settings are
//! 0 every route weighs 1.0. A weight is never below [`MIN_WEIGHT`], so every
//! route grows. Weights are recomputed from the policy on every allocation.
//!
//! # Algorithms
//!
//! * **Weighted max-min** (water-filling by progressive filling): every
//!   route's share grows at a rate proportional to its weight; when a
//!   constraint saturates, its routes freeze; the others keep growing until
//!   all are frozen. The result is weighted max-min fair: every route is in a
//!   saturated constraint in which no route has a larger share/weight. The
//!   saturation levels live in a priority queue updated lazily, so a run
//!   costs O(R·L·log C) for R routes of L links over C constraints.
//! * **Proportional:** each DC splits `B(d)` among its routes in proportion
//!   to their weights; every link or demand constraint whose load would
//!   exceed its capacity then scales its routes by `capacity / load`, and a
//!   route in several such constraints takes the smallest factor. Bandwidth
//!   freed by the scaling is not handed to other routes.
//! * **Nearest-first:** DCs in index order; each DC serves its routes by
//!   increasing distance (ties by edge index), each taking all that its
//!   constraints still have.
//!
//! # Floors
//!
//! [`allocate_with_floor`] takes a lower bound per route (what is already
//! `used` on it) that every algorithm honours: weighted max-min holds a
//! route at its floor until the water level reaches it; nearest-first hands
//! out only what the floors leave; proportional raises shares to their floors
//! and scales the parts above the floors down where a constraint overflows.
//! When the floors of a constraint alone exceed its capacity, the floors win:
//! those routes get exactly their floors and the constraint is listed in
//! [`Shares::floor_conflicts`].
//!
//! # Invariants
//!
//! * Shares are integers (bits per second), rounded down and then checked
//!   against every constraint in integer arithmetic: no DC, link or demand is
//!   ever exceeded, except by floors listed as conflicts.
//! * The output depends only on the inputs: no hash-map order, no clock. The
//!   routes and shares are sorted by (DC index, edge index).
//! * Monotonicity, stated honestly. With links shared between routes,
//!   raising one capacity can shrink another route's max-min share. What
//!   holds for weighted max-min is: (a) raising `B(d)` never shrinks any share
//!   when no link is crossed by routes of two DCs and no edge has a demand;
//!   (b) in general, raising any capacity never lowers the ascending-sorted
//!   vector of share/weight in lexicographic order. Raising a *link* capacity
//!   can shrink a share even with a single DC: the routes behind that link
//!   grow and take part of `B(d)` from the others (see the test
//!   `raising_a_link_can_shrink_a_share_of_the_same_dc`).
//!
//! # Example
//!
//! One DC with 10 Gbps available and two edges behind 20 Gbps links, equal
//! weights: weighted max-min splits the DC evenly.
//!
//! ```
//! # use fairshare_policy::model::*;
//! # fn switch(name: &str, id: u64) -> Switch {
//! #     Switch { name: name.into(), target: Target::Bmv2, cpu_port: 255, device_id: id, uplink_port: 1 }
//! # }
//! # fn edge(name: &str, id: u64) -> Edge {
//! #     Edge { name: name.into(), switch: switch(name, id), client_port: 2, clients: vec![],
//! #            subscribers: 100, demand: None }
//! # }
//! use fairshare_alloc::{allocate, Topology};
//!
//! let gbps = 1_000_000_000;
//! let policy = Policy {
//!     # name: "tiny".into(), recalc: 5_000_000,
//!     # sizes: Sizes { flows: 1024, routes: 1024, steer: 1024 },
//!     # services: vec![],
//!     algorithm: Algorithm::WeightedMaxMin,
//!     weights: Weights { subscribers: 1.0, distance: 0.0, response: 0.0 },
//!     datacenters: vec![Datacenter {
//!         name: "east".into(),
//!         switch: switch("dc-east", 1),
//!         uplink: 10 * gbps,
//!         servers: vec![Server {
//!             name: "web1".into(), address: [10, 1, 0, 11].into(), port: 1,
//!             capacity: 40 * gbps, response: 2_000, load_ppm: 0,
//!         }],
//!         fixed: vec![],
//!     }],
//!     edges: vec![edge("north", 2), edge("south", 3)],
//!     routers: vec![],
//!     links: vec![
//!         Link { a: NodeRef::Edge(0), b: NodeRef::Datacenter(0), capacity: 20 * gbps, distance: 4_000 },
//!         Link { a: NodeRef::Edge(1), b: NodeRef::Datacenter(0), capacity: 20 * gbps, distance: 9_000 },
//!     ],
//! };
//! let topo = Topology::build(&policy)?;
//! let shares = allocate(&topo, &policy, policy.algorithm);
//! assert_eq!(shares.get(0, 0), Some(5 * gbps));
//! assert_eq!(shares.get(0, 1), Some(5 * gbps));
//! # Ok::<(), fairshare_alloc::AllocError>(())
//! ```

use fairshare_policy::model::{Algorithm, NodeRef, Policy};

mod fill;
mod topology;
mod weight;

pub use topology::{Constraint, Route, Topology};
pub use weight::MIN_WEIGHT;

/// What can go wrong building a topology or allocating on it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllocError {
    /// An edge that no datacenter reaches.
    #[error(
        "edge `{edge}` has no route to any datacenter: expected a chain of links to at least one"
    )]
    NoRoute { edge: String },
    /// A link endpoint that indexes past the policy's nodes.
    #[error("link {link} ends at {node:?}, which is not a node of the policy")]
    UnknownNode { link: usize, node: NodeRef },
    /// The policy given to allocation is not shaped like the one the
    /// topology was built from.
    #[error("the policy's structure changed since the topology was built: expected {expected}, found {found}")]
    StructureChanged { expected: String, found: String },
    /// A floor for a pair that has no route.
    #[error("a floor was given for datacenter {dc} and edge {edge}, but they have no route")]
    UnknownRoute { dc: usize, edge: usize },
    /// Two floors for the same route.
    #[error("two floors were given for datacenter {dc} and edge {edge}; expected one")]
    DuplicateFloor { dc: usize, edge: usize },
}

/// The share of one route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct RouteShare {
    pub dc: usize,
    pub edge: usize,
    /// Bits per second.
    pub share: u64,
}

/// A constraint whose floors alone exceed its capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct FloorConflict {
    pub constraint: Constraint,
    pub capacity: u64,
    /// The sum of the floors of the routes in the constraint.
    pub floors: u64,
}

/// The result of an allocation: one share per route of the topology.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Shares {
    pub algorithm: Algorithm,
    /// Sorted by (DC index, edge index), in the order of [`Topology::routes`].
    pub routes: Vec<RouteShare>,
    /// Constraints exceeded because the floors alone exceed them (empty
    /// without floors), in constraint order: DCs, links, then demands.
    pub floor_conflicts: Vec<FloorConflict>,
}

impl Shares {
    /// The share of route `(dc, edge)`, if there is such a route.
    pub fn get(&self, dc: usize, edge: usize) -> Option<u64> {
        self.routes
            .binary_search_by(|r| (r.dc, r.edge).cmp(&(dc, edge)))
            .ok()
            .map(|i| self.routes[i].share)
    }
}

/// Computes the shares of every route of `topo` under the capacities, loads
/// and weights of `policy`, with `algorithm` (pass `policy.algorithm` for the
/// policy's own choice).
///
/// # Panics
///
/// If `policy` does not have the structure `topo` was built from (see
/// [`Topology::check_structure`]); [`allocate_with_floor`] returns that as
/// an error instead.
pub fn allocate(topo: &Topology, policy: &Policy, algorithm: Algorithm) -> Shares {
    match allocate_with_floor(topo, policy, algorithm, &[]) {
        Ok(shares) => shares,
        Err(e) => panic!("allocate: {e}"),
    }
}

/// [`allocate`] with the algorithm the policy names.
pub fn allocate_default(topo: &Topology, policy: &Policy) -> Shares {
    allocate(topo, policy, policy.algorithm)
}

/// [`allocate`] with a lower bound per route: `floor` lists `(dc, edge, bps)`
/// triples, and every route listed gets at least its bps (routes not listed
/// have floor 0). See the crate docs for how each algorithm honours floors
/// and what happens when floors exceed a capacity.
pub fn allocate_with_floor(
    topo: &Topology,
    policy: &Policy,
    algorithm: Algorithm,
    floor: &[(usize, usize, u64)],
) -> Result<Shares, AllocError> {
    topo.check_structure(policy)?;
    let routes = topo.routes();
    let mut floors = vec![0u64; routes.len()];
    let mut seen = vec![false; routes.len()];
    for &(dc, edge, bps) in floor {
        let r = topo
            .route_index(dc, edge)
            .ok_or(AllocError::UnknownRoute { dc, edge })?;
        if std::mem::replace(&mut seen[r], true) {
            return Err(AllocError::DuplicateFloor { dc, edge });
        }
        floors[r] = bps;
    }
    let problem = fill::Problem {
        topo,
        caps: fill::capacities(topo, policy),
        weights: weight::route_weights(routes, policy),
        floors,
    };
    let (shares, floor_conflicts) = match algorithm {
        Algorithm::WeightedMaxMin => fill::round(&problem, &fill::weighted_max_min(&problem)),
        Algorithm::Proportional => {
            let shares = fill::apply_floors(&problem, fill::proportional(&problem));
            fill::round(&problem, &shares)
        }
        Algorithm::NearestFirst => fill::settle(&problem, fill::nearest_first(&problem)),
    };
    Ok(Shares {
        algorithm,
        routes: routes
            .iter()
            .zip(shares)
            .map(|(r, share)| RouteShare {
                dc: r.dc,
                edge: r.edge,
                share,
            })
            .collect(),
        floor_conflicts,
    })
}

/// The weight of every route of `topo` under `policy`, in route order (the
/// formula is in the crate docs).
pub fn weights(topo: &Topology, policy: &Policy) -> Vec<f64> {
    weight::route_weights(topo.routes(), policy)
}
