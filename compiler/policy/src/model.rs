//! The validated policy model.
//!
//! Everything here has been checked by [`crate::check`]: names are unique and
//! resolved, units are the right kind, prefixes do not overlap, every edge has
//! a route to at least one datacenter, and no datacenter's fixed reservations
//! exceed what its servers and uplink can carry. Later stages (allocation,
//! code generation, the controller) rely on these facts and do not re-check.
//!
//! Quantities are integers in base units so that the model is exact and
//! hashable: bandwidth in bits per second, time in microseconds, fractions in
//! parts per million.

use std::net::Ipv4Addr;

/// Bits per second.
pub type Bps = u64;
/// Microseconds.
pub type Micros = u64;

/// A whole validated policy file.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Policy {
    /// The name given after `network`.
    pub name: String,
    pub algorithm: Algorithm,
    /// Period of the bandwidth calculator (DESIGN §3 step 7).
    pub recalc: Micros,
    pub weights: Weights,
    /// Sizes of the pipeline's tables and meter arrays.
    pub sizes: Sizes,
    pub datacenters: Vec<Datacenter>,
    pub edges: Vec<Edge>,
    /// Core routers: topology nodes that are neither a datacenter nor an edge.
    pub routers: Vec<String>,
    pub links: Vec<Link>,
    pub services: Vec<Service>,
}

/// Which fair-share algorithm the allocator runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Algorithm {
    WeightedMaxMin,
    Proportional,
    NearestFirst,
}

impl Algorithm {
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::WeightedMaxMin => "weighted-max-min",
            Algorithm::Proportional => "proportional",
            Algorithm::NearestFirst => "nearest-first",
        }
    }
}

/// How much each property of an edge counts towards its weight.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Weights {
    pub subscribers: f64,
    pub distance: f64,
    pub response: f64,
}

/// Capacities of the generated pipeline's tables and meter arrays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Sizes {
    /// Entries of the per-flow table (reserved flows) and its direct meter.
    pub flows: u32,
    /// Entries of the IPv4 LPM forwarding table.
    pub routes: u32,
    /// Entries of the steer table ((edge, VIP) → server).
    pub steer: u32,
}

/// The P4 target a switch runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    Bmv2,
    Tofino,
}

/// A P4 switch: in front of a datacenter or at a subscriber edge.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Switch {
    pub name: String,
    pub target: Target,
    /// The port that carries packet_in / packet_out to the controller.
    pub cpu_port: u16,
    /// The P4Runtime device id.
    pub device_id: u64,
    /// The port towards the core network.
    pub uplink_port: u16,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Datacenter {
    pub name: String,
    pub switch: Switch,
    /// Capacity of the DC's connection to the network.
    pub uplink: Bps,
    pub servers: Vec<Server>,
    /// Bandwidth set aside for traffic outside fair sharing.
    pub fixed: Vec<FixedReservation>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Server {
    pub name: String,
    pub address: Ipv4Addr,
    /// The DC switch port the server hangs off.
    pub port: u16,
    pub capacity: Bps,
    /// Typical response time.
    pub response: Micros,
    /// Current load, in parts per million of capacity.
    pub load_ppm: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FixedReservation {
    /// What the reservation is for, e.g. `unsubscribed`.
    pub purpose: String,
    pub rate: Bps,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Edge {
    pub name: String,
    pub switch: Switch,
    /// The edge switch port clients hang off.
    pub client_port: u16,
    pub clients: Vec<Prefix>,
    pub subscribers: u64,
    /// Upper bound on what this edge wants in total, when known.
    pub demand: Option<Bps>,
}

/// An IPv4 prefix whose host bits are zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct Prefix {
    pub addr: Ipv4Addr,
    pub len: u8,
}

impl Prefix {
    /// The network mask as an integer.
    pub fn mask(self) -> u32 {
        if self.len == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.len))
        }
    }

    /// Whether the two prefixes share at least one address.
    pub fn overlaps(self, other: Prefix) -> bool {
        let len = self.len.min(other.len);
        let mask = Prefix {
            addr: self.addr,
            len,
        }
        .mask();
        u32::from(self.addr) & mask == u32::from(other.addr) & mask
    }
}

impl std::fmt::Display for Prefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// A topology node a link can attach to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(tag = "kind", content = "name", rename_all = "lowercase")]
pub enum NodeRef {
    /// Index into [`Policy::datacenters`].
    Datacenter(usize),
    /// Index into [`Policy::edges`].
    Edge(usize),
    /// Index into [`Policy::routers`].
    Router(usize),
}

/// A bidirectional link.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Link {
    pub a: NodeRef,
    pub b: NodeRef,
    pub capacity: Bps,
    /// One-way delay.
    pub distance: Micros,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    /// The IPv4 protocol number.
    pub fn number(self) -> u8 {
        match self {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Service {
    pub name: String,
    pub vip: Ipv4Addr,
    pub protocol: Protocol,
    pub port: u16,
    /// Indices into [`Policy::datacenters`] of the DCs that serve it.
    pub at: Vec<usize>,
    /// The rate each flow of the service reserves.
    pub flow_rate: Bps,
}

impl Datacenter {
    /// What the servers can still carry: `sum(capacity * (1 - load))`.
    pub fn server_headroom(&self) -> Bps {
        self.servers
            .iter()
            .map(|s| {
                let free = 1_000_000u128 - u128::from(s.load_ppm.min(1_000_000));
                (u128::from(s.capacity) * free / 1_000_000) as Bps
            })
            .fold(0u64, |a, b| a.saturating_add(b))
    }

    /// The sum of the fixed reservations.
    pub fn fixed_total(&self) -> Bps {
        self.fixed
            .iter()
            .map(|f| f.rate)
            .fold(0u64, |a, b| a.saturating_add(b))
    }

    /// `B(d)` of DESIGN §5: `min(uplink, headroom) - fixed`, or `None` when
    /// the fixed reservations do not fit.
    pub fn available(&self) -> Option<Bps> {
        self.uplink
            .min(self.server_headroom())
            .checked_sub(self.fixed_total())
    }

    /// The mean response time of the servers (0 when there are none).
    pub fn mean_response(&self) -> Micros {
        if self.servers.is_empty() {
            return 0;
        }
        self.servers.iter().map(|s| s.response).sum::<u64>() / self.servers.len() as u64
    }
}

impl Policy {
    /// Every switch in the policy, DCs first, in declaration order.
    pub fn switches(&self) -> impl Iterator<Item = &Switch> {
        self.datacenters
            .iter()
            .map(|d| &d.switch)
            .chain(self.edges.iter().map(|e| &e.switch))
    }

    /// The display name of a node.
    pub fn node_name(&self, node: &NodeRef) -> &str {
        match *node {
            NodeRef::Datacenter(i) => &self.datacenters[i].name,
            NodeRef::Edge(i) => &self.edges[i].name,
            NodeRef::Router(i) => &self.routers[i],
        }
    }
}
