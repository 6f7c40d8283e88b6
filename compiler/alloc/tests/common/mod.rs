//! Code shared by the integration tests: policy builders and a random
//! topology generator.
#![allow(dead_code)]

use fairshare_policy::model::*;

pub const MBPS: u64 = 1_000_000;
pub const GBPS: u64 = 1_000_000_000;
pub const MS: u64 = 1_000;

pub fn switch(name: &str, id: u64) -> Switch {
    Switch {
        name: name.into(),
        target: Target::Bmv2,
        cpu_port: 255,
        device_id: id,
        uplink_port: 1,
    }
}

/// A policy with nothing in it yet; weights count subscribers only.
pub fn empty(algorithm: Algorithm) -> Policy {
    Policy {
        name: "test".into(),
        algorithm,
        recalc: 5_000_000,
        weights: Weights {
            subscribers: 1.0,
            distance: 0.0,
            response: 0.0,
        },
        sizes: Sizes {
            flows: 1024,
            routes: 1024,
            steer: 1024,
        },
        datacenters: vec![],
        edges: vec![],
        routers: vec![],
        links: vec![],
        services: vec![],
    }
}

/// A DC whose `B(d)` is `available`: uplink and one idle server of that
/// capacity, response time `response`, no fixed reservation.
pub fn dc(name: &str, available: u64, response: u64) -> Datacenter {
    Datacenter {
        name: name.into(),
        switch: switch(name, 1),
        uplink: available,
        servers: vec![Server {
            name: format!("{name}-srv"),
            address: [10, 0, 0, 1].into(),
            port: 1,
            capacity: available,
            response,
            load_ppm: 0,
        }],
        fixed: vec![],
    }
}

pub fn edge(name: &str, subscribers: u64, demand: Option<u64>) -> Edge {
    Edge {
        name: name.into(),
        switch: switch(name, 2),
        client_port: 2,
        clients: vec![],
        subscribers,
        demand,
    }
}

pub fn link(a: NodeRef, b: NodeRef, capacity: u64, distance: u64) -> Link {
    Link {
        a,
        b,
        capacity,
        distance,
    }
}

pub use NodeRef::{Datacenter as D, Edge as E, Router as R};

/// A small deterministic generator (splitmix64).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[(self.next() % items.len() as u64) as usize]
    }
}

/// How [`random_policy`] shapes its topology.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    pub dcs: usize,
    pub edges: usize,
    pub routers: usize,
    /// Each router and edge belongs to one DC's component and links stay
    /// inside it, so no link is crossed by routes of two DCs.
    pub isolated: bool,
    /// Whether edges may have a demand.
    pub demands: bool,
}

/// A random small policy in which every edge reaches at least one DC.
///
/// Capacities are whole Gbps from a small set so that widest-path ties are
/// common; distances include 0.
pub fn random_policy(shape: Shape, seed: u64) -> Policy {
    let mut rng = Rng::new(seed);
    let algorithm = rng.pick(&[
        Algorithm::WeightedMaxMin,
        Algorithm::Proportional,
        Algorithm::NearestFirst,
    ]);
    let mut p = empty(algorithm);
    let setting = [0.0, 0.0, 0.5, 1.0, 2.0];
    p.weights = Weights {
        subscribers: rng.pick(&setting),
        distance: rng.pick(&setting),
        response: rng.pick(&setting),
    };
    for d in 0..shape.dcs {
        let mut dc = dc(&format!("dc{d}"), 0, 0);
        dc.uplink = rng.range(1, 20) * GBPS;
        dc.servers.clear();
        for s in 0..rng.range(1, 2) {
            dc.servers.push(Server {
                name: format!("dc{d}-s{s}"),
                address: [10, d as u8, 0, s as u8].into(),
                port: s as u16 + 1,
                capacity: rng.range(1, 20) * GBPS,
                response: rng.range(0, 5) * MS,
                load_ppm: rng.range(0, 4) as u32 * 125_000,
            });
        }
        if rng.chance(30) {
            dc.fixed.push(FixedReservation {
                purpose: "unsubscribed".into(),
                rate: rng.range(1, 4) * 250 * MBPS,
            });
        }
        p.datacenters.push(dc);
    }
    for e in 0..shape.edges {
        let demand = (shape.demands && rng.chance(40)).then(|| rng.range(1, 20) * GBPS);
        p.edges
            .push(edge(&format!("e{e}"), rng.range(0, 1000), demand));
    }
    p.routers = (0..shape.routers).map(|r| format!("r{r}")).collect();

    let caps = [1, 2, 3, 4, 6, 8];
    let add_link = |p: &mut Policy, rng: &mut Rng, a: NodeRef, b: NodeRef| {
        let capacity = rng.pick(&caps) * GBPS;
        let distance = rng.range(0, 5) * MS;
        p.links.push(link(a, b, capacity, distance));
    };
    // Every router and edge joins a group (a DC index); it attaches to a
    // node already connected to a DC of that group (or to any group when the
    // topology is not isolated).
    let mut members: Vec<Vec<NodeRef>> = (0..shape.dcs).map(|d| vec![D(d)]).collect();
    let group_of = |rng: &mut Rng| rng.range(0, shape.dcs as u64 - 1) as usize;
    for r in 0..shape.routers {
        let g = group_of(&mut rng);
        let to = pick_member(&mut rng, &members, g, shape.isolated);
        add_link(&mut p, &mut rng, R(r), to);
        members[g].push(R(r));
    }
    for e in 0..shape.edges {
        let g = group_of(&mut rng);
        let to = pick_member(&mut rng, &members, g, shape.isolated);
        add_link(&mut p, &mut rng, E(e), to);
        members[g].push(E(e));
    }
    // Extra links, possibly parallel or cross-group.
    for _ in 0..rng.range(0, 6) {
        let g = group_of(&mut rng);
        let a = pick_member(&mut rng, &members, g, shape.isolated);
        let b = pick_member(&mut rng, &members, g, shape.isolated);
        if a != b {
            add_link(&mut p, &mut rng, a, b);
        }
    }
    p
}

fn pick_member(rng: &mut Rng, members: &[Vec<NodeRef>], g: usize, isolated: bool) -> NodeRef {
    let pool = if isolated {
        &members[g]
    } else {
        &members[rng.range(0, members.len() as u64 - 1) as usize]
    };
    pool[rng.range(0, pool.len() as u64 - 1) as usize].clone()
}
