//! The RSVP agents of DESIGN §3, one per switch: the DC side offers each
//! route's fair share, steers requests among its servers and intercepts the
//! servers' reservations; the edge side accepts offers, keeps the tally,
//! installs the flows' meters and picks which DC a service uses.
//!
//! # Boundary
//!
//! Pure logic: no IO, no clock, no P4Runtime types. An [`Agent`] is fed
//! packet-ins (the frame a switch punted, with its ingress port), the time
//! and the shares of a recalculation; it answers with [`Action`]s, in the
//! order they must happen: a packet-out, or a switch write that the caller
//! sends in a WriteRequest of its own and has acknowledged before it
//! carries out the next action (P4Runtime does not order the updates of one
//! request). Time is a [`Duration`] since any fixed origin the caller
//! chooses.
//!
//! # The exchange, per route (DC d, edge e)
//!
//! ```text
//! DC agent                                   edge agent
//! start: Path(aggregate, S) ───────────────> offer recorded, Resv(aggregate)
//! server's Path(flow, r) on a server port:
//!   Book::admit ok:
//!   1 Path(aggregate, S−u−r) [release] ────> aggregate meter shrinks
//!   2 Write RouteMeter(S−u−r)
//!   3 Write InstallFlow(flow, r)
//!   4 Path(flow, sender = VIP) ────────────> used += r: Write InstallFlow,
//!                                            Resv(flow), Resv(aggregate)
//!   refused: PathErr(code 1) to the server, nothing else
//! server's PathTear(flow):
//!   1 Write RemoveFlow, 2 Write RouteMeter(grown),
//!   3 Path(aggregate) ─────────────────────> (aggregate announced)
//!   4 PathTear(flow) ──────────────────────> Write RemoveFlow, RouteMeter
//! every `refresh`: Path(aggregate) ────────> tally compared, repaired
//!                  <──────────────────────── Resv(aggregate), Resv(flows)
//! ```
//!
//! The wire details (addresses, MAC addresses, the tally carried in the
//! aggregate's Path) are in [`wire`]; the DC side is in `dc.rs`, the edge
//! side in `edge.rs`.
//!
//! # Invariants
//!
//! * For every route, after every [`Change`] an agent returns, what it has
//!   configured on its switch — aggregate meter plus flow meters — is at
//!   most what [`Agent::offered`] says for the route's cell once the call
//!   that returned it is over (an executor checks its writes against that
//!   value): a call that lowers an offer shrinks the aggregate meter before
//!   it writes anything else.
//!   The DC replays each admission and teardown plan with
//!   [`Plan::check`](crate::Plan::check) against what it has written; both
//!   roles check every write and count a failure in
//!   [`Stats::invariant_violations`] (the tests require zero).
//! * No frame makes an agent panic: one it cannot parse is counted in
//!   [`Stats::bad_frames`] and ignored, one that is well formed but not for
//!   it in [`Stats::ignored`].
//! * Soft state: an agent refreshes what it sends every
//!   [`Settings::refresh`] (TIME_VALUES carries the period), and state not
//!   refreshed for more than [`K`] periods of the sender's TIME_VALUES
//!   expires. A flow's state expiring is a teardown.
//! * A restarted agent can take over what its switch holds
//!   ([`Agent::adopt`]) before it starts: its books are then what the
//!   switch enforces, so its first offer announces the tally the edge
//!   already holds, and the servers' refreshes of adopted flows are
//!   refreshes, not admissions.
//! * The DC is the authority on a route's tally. The edge adopts the DC's
//!   offer from every aggregate Path, counts a mismatch when a refresh finds
//!   its used or flow count different from the DC's, and converges within
//!   [`K`] refresh periods: a flow Path it missed comes back with the next
//!   refresh of the server's Path, and a flow whose PathTear it missed
//!   expires.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use fairshare_controller::agent::{Action, Agent, Settings};
//!
//! let src = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/metro.fsp"))?;
//! let (_, policy) = fairshare_policy::load(&src).map_err(|_| "policy")?;
//! let topo = fairshare_alloc::Topology::build(&policy)?;
//! let shares = fairshare_alloc::allocate_default(&topo, &policy);
//! let mut dc = Agent::for_switch(&policy, &shares, "dc-east", Settings::default())?;
//! let mut edge = Agent::for_switch(&policy, &shares, "edge-n", Settings::default())?;
//!
//! // The DC offers; the offer for north reaches the edge's uplink.
//! let now = Duration::ZERO;
//! for action in dc.start(now) {
//!     if let Action::PacketOut { frame, .. } = action {
//!         edge.packet_in(now, edge.uplink_port(), &frame);
//!     }
//! }
//! let east = edge.routes().into_iter().find(|r| r.dc == "east").ok_or("route")?;
//! assert_eq!(east.tally_equal, Some(true));
//! assert_eq!(edge.choices()[0].1, "east");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod dc;
mod edge;
pub mod wire;

use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;
use std::time::Duration;

use fairshare_codegen::rules::Rules;
use fairshare_policy::model::Policy;
use fairshare_rsvp::frame::parse_frame;
use fairshare_rsvp::{Message, ParseOptions};

/// The number of refresh periods a state may miss before it expires
/// (RFC 2205 §3.7).
pub const K: u32 = 3;

/// A reserved flow as the `flows` table keys it, after NAT: `src` is the
/// service's VIP and `src_port` its port, `dst` the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowKey {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: u8,
    pub src_port: u16,
    pub dst_port: u16,
}

impl fmt::Display for FlowKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{} -> {}:{} proto {}",
            self.src, self.src_port, self.dst, self.dst_port, self.protocol
        )
    }
}

/// One switch write. Each goes in a P4Runtime WriteRequest of its own,
/// acknowledged before the next action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Set the committed rate of this switch's `route_meter` cell, in bits
    /// per second (the executor converts to bytes per second and bursts as
    /// the code generator's `byte_meter` does).
    RouteMeter { cell: u32, rate_bps: u64 },
    /// Insert a `flows` entry with action `reserved_flow(cell)` and its
    /// direct meter at `rate_bps`.
    InstallFlow {
        key: FlowKey,
        cell: u32,
        rate_bps: u64,
    },
    /// Delete the `flows` entry of `key`.
    RemoveFlow { key: FlowKey },
    /// DC: point the `steer` entry of (service, edge) at `server` (insert
    /// it, or modify it when it exists); `edge: None` is the service's
    /// any-edge entry. Ids are the `meta.service` and `meta.edge` values of
    /// the code generator.
    Steer {
        service: u16,
        edge: Option<u16>,
        server: Ipv4Addr,
    },
    /// Edge: requests for this VIP use the offer of DC `dc` (by name).
    ChooseDc { vip: Ipv4Addr, dc: String },
}

/// What an agent asks its session to do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send `frame` (Ethernet onward) out of switch port `port`.
    PacketOut {
        port: u32,
        frame: Vec<u8>,
    },
    Write(Change),
}

/// Which side of a route a switch is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Dc,
    Edge,
}

/// How an agent runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// The refresh period R of what this agent sends (TIME_VALUES).
    pub refresh: Duration,
    /// Names this run of the agent in the tallies it sends, so that a peer
    /// can tell a restarted DC from reordered messages (e.g. the start
    /// time's seconds). Two runs must not share it.
    pub epoch: u32,
}

impl Default for Settings {
    /// RFC 2205's default refresh period, 30 s; epoch 0.
    fn default() -> Self {
        Settings {
            refresh: Duration::from_secs(30),
            epoch: 0,
        }
    }
}

/// One route as the agent sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteReport {
    pub dc: String,
    pub edge: String,
    /// This switch's `route_meter` cell of the route.
    pub cell: u32,
    pub offered_bps: u64,
    /// The sum of the admitted flows' rates.
    pub used_bps: u64,
    /// What the agent last wrote to the route's aggregate meter.
    pub aggregate_bps: u64,
    /// Flows admitted (DC) or installed (edge) since start.
    pub admitted: u64,
    /// DC: flows refused with a PathErr. Edge: flow Paths it could not
    /// place for lack of room on its book.
    pub rejected: u64,
    /// Flows held now.
    pub flows: usize,
    /// Edge: whether its tally (offered, used, flows) equals the one the
    /// DC announced last; `None` on a DC or before the first offer.
    pub tally_equal: Option<bool>,
    /// DC: the aggregate's rate the edge's last Resv asked for.
    pub resv_bps: Option<u64>,
}

/// Counters of what an agent has seen and done.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Frames that were not a well-formed Ethernet/IPv4/RSVP message.
    pub bad_frames: u64,
    /// Well-formed messages that are not for this agent (a session it does
    /// not know, a message type it has no use for, a port it does not
    /// expect RSVP on).
    pub ignored: u64,
    /// DC: servers' Paths for flows to no client of a route of this DC.
    pub no_route: u64,
    /// DC: servers' Paths on no service of this DC (protocol and port).
    pub no_service: u64,
    pub admitted: u64,
    pub rejected: u64,
    pub path_errs_sent: u64,
    /// PathErr and ResvErr messages received.
    pub errors_received: u64,
    /// Flows torn down by PathTear.
    pub teardowns: u64,
    /// Flows whose state expired (a teardown too).
    pub expired_flows: u64,
    /// Edge: offers that expired; DC: edges' Resvs that expired.
    pub expired_offers: u64,
    /// Refreshes of a known flow's Path passed on.
    pub refreshes_forwarded: u64,
    /// Periodic refreshes sent (aggregate Paths, Resvs).
    pub refreshes_sent: u64,
    /// Edge: refreshes that found its tally different from the DC's.
    pub tally_mismatches: u64,
    /// Edge: corrections of its book or meter made from the DC's refresh.
    pub repairs: u64,
    /// Edge: aggregate Paths older than one already seen (reordered).
    pub stale: u64,
    /// Edge: flow Paths waiting for room on its book.
    pub pending_flows: u64,
    /// DC: a server's Path for a flow another server holds. Edge: a flow
    /// Path through one DC for a connection held through another (the
    /// `flows` table has one entry per key). Refused or ignored.
    pub conflicts: u64,
    /// Writes that would have left more configured than offered (never
    /// expected; counted, not sent, when it happens).
    pub invariant_violations: u64,
    /// Messages that could not be encoded (never expected).
    pub emit_errors: u64,
    /// Flows taken over from what the switch held when the agent started
    /// ([`Agent::adopt`]).
    pub adopted_flows: u64,
    /// Flows the switch held that the agent did not take over (no route
    /// or service of its own, a zero rate, or a route whose aggregate
    /// meter was not configured); the resynchronisation removes them.
    pub not_adopted: u64,
}

/// What a switch held of the routes when its controller started, as read
/// back over P4Runtime: what [`Agent::adopt`] starts from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Found {
    /// The committed rate of each configured `route_meter` cell, in bits
    /// per second.
    pub route_meters: BTreeMap<u32, u64>,
    /// The `flows` entries with action `reserved_flow(cell)`: key, cell
    /// and the committed rate of the entry's direct meter (b/s).
    pub flows: Vec<(FlowKey, u32, u64)>,
}

/// Why an agent cannot be built.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AgentError {
    #[error("switch `{0}`: expected the name of a DC or edge switch of the policy")]
    UnknownSwitch(String),
    #[error("switch `{switch}`: its rules say role `{found}`, expected `{expected}`")]
    Role {
        switch: String,
        expected: &'static str,
        found: String,
    },
    #[error("switch `{switch}`: route cell {cell} names `{dc}` → `{edge}`, which the policy does not have")]
    UnknownRoute {
        switch: String,
        cell: u32,
        dc: String,
        edge: String,
    },
    #[error("switch `{switch}`: {what} is {found}, expected a value that fits a {bits}-bit field")]
    TooLarge {
        switch: String,
        what: &'static str,
        found: u64,
        bits: u8,
    },
    #[error("the policy's topology: {0}")]
    Topology(String),
    #[error("the policy's rules: {0}")]
    Rules(String),
}

/// The agent of one switch.
#[derive(Debug)]
pub struct Agent {
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    Dc(Box<dc::DcAgent>),
    Edge(Box<edge::EdgeAgent>),
}

impl Agent {
    /// The agent of the switch `rules` were made for (its name, role and
    /// route cells), with the policy they were made from.
    pub fn new(policy: &Policy, rules: &Rules, settings: Settings) -> Result<Agent, AgentError> {
        let name = &rules.switch;
        if let Some(di) = policy
            .datacenters
            .iter()
            .position(|d| &d.switch.name == name)
        {
            expect_role(name, "dc", rules.role)?;
            let a = dc::DcAgent::new(policy, di, rules, settings)?;
            return Ok(Agent {
                inner: Inner::Dc(Box::new(a)),
            });
        }
        if let Some(ei) = policy.edges.iter().position(|e| &e.switch.name == name) {
            expect_role(name, "edge", rules.role)?;
            let a = edge::EdgeAgent::new(policy, ei, rules, settings)?;
            return Ok(Agent {
                inner: Inner::Edge(Box::new(a)),
            });
        }
        Err(AgentError::UnknownSwitch(name.clone()))
    }

    /// The agent of switch `switch`, with the route cells and initial
    /// shares the code generator gives it for `shares`.
    pub fn for_switch(
        policy: &Policy,
        shares: &fairshare_alloc::Shares,
        switch: &str,
        settings: Settings,
    ) -> Result<Agent, AgentError> {
        let topo = fairshare_alloc::Topology::build(policy)
            .map_err(|e| AgentError::Topology(e.to_string()))?;
        let rules = fairshare_codegen::rules::build(policy, &topo, shares, &|_| String::new())
            .map_err(|o| {
                AgentError::Rules(
                    o.iter()
                        .map(|o| format!("{}: table {} is full", o.switch, o.table))
                        .collect::<Vec<_>>()
                        .join("; "),
                )
            })?;
        let r = rules
            .iter()
            .find(|r| r.switch == switch)
            .ok_or_else(|| AgentError::UnknownSwitch(switch.to_string()))?;
        Agent::new(policy, r, settings)
    }

    pub fn role(&self) -> Role {
        match self.inner {
            Inner::Dc(_) => Role::Dc,
            Inner::Edge(_) => Role::Edge,
        }
    }

    /// The switch port that leads toward the other role (where this
    /// agent's aggregate Paths or Resvs leave).
    pub fn uplink_port(&self) -> u32 {
        match &self.inner {
            Inner::Dc(a) => a.uplink,
            Inner::Edge(a) => a.uplink,
        }
    }

    /// The address this agent speaks RSVP from (see [`wire`]).
    pub fn address(&self) -> Ipv4Addr {
        match &self.inner {
            Inner::Dc(a) => a.addr,
            Inner::Edge(a) => a.addr,
        }
    }

    /// Starts the protocol. DC: the offer, an aggregate Path per route,
    /// out of the uplink. Edge: nothing (it answers offers as they come).
    pub fn start(&mut self, now: Duration) -> Vec<Action> {
        match &mut self.inner {
            Inner::Dc(a) => a.start(now),
            Inner::Edge(a) => a.start(now),
        }
    }

    /// Takes over what the switch held when this agent's controller
    /// started (a restarted controller finds its predecessor's flows):
    /// for every route whose aggregate meter cell is configured, the
    /// route's book becomes offered = aggregate meter + the flows' rates,
    /// used = the flows' rates, and what the agent has written becomes
    /// exactly what was read, so the first refresh announces the tally the
    /// switch enforces and no write is needed. Only flows this agent could
    /// have written are taken (a route and a service of its own, a rate
    /// above zero); the others are left out and counted in
    /// [`Stats::not_adopted`]. Returns what was taken over: the caller
    /// keeps those entries and cells on the switch and resynchronises the
    /// rest.
    ///
    /// An adopted flow is soft state like any other: it expires unless a
    /// refresh of its Path confirms it within [`K`] periods (of
    /// [`Settings::refresh`], until the refresh gives its own period). A
    /// DC learns an adopted flow's server from the server's first refresh.
    ///
    /// Call it once, before [`Agent::start`]; an agent that has started or
    /// holds a flow adopts nothing.
    pub fn adopt(&mut self, now: Duration, found: &Found) -> Found {
        match &mut self.inner {
            Inner::Dc(a) => a.adopt(now, found),
            Inner::Edge(a) => a.adopt(now, found),
        }
    }

    /// Stops the protocol cleanly. DC: a PathTear per aggregate, which
    /// withdraws the offers. Edge: a ResvTear per aggregate it holds. No
    /// refresh is sent after it.
    pub fn stop(&mut self, now: Duration) -> Vec<Action> {
        match &mut self.inner {
            Inner::Dc(a) => a.stop(now),
            Inner::Edge(a) => a.stop(now),
        }
    }

    /// A frame the switch punted from `ingress_port`. Never panics: a
    /// frame that does not parse is counted and ignored.
    pub fn packet_in(&mut self, now: Duration, ingress_port: u32, frame: &[u8]) -> Vec<Action> {
        let msg = match decode(frame) {
            Some(m) => m,
            None => {
                self.stats_mut().bad_frames += 1;
                return vec![];
            }
        };
        match &mut self.inner {
            Inner::Dc(a) => a.message(now, ingress_port, msg),
            Inner::Edge(a) => a.message(now, ingress_port, msg),
        }
    }

    /// Refreshes that are due, and the expiry of state that missed [`K`]
    /// refreshes. Call it at least every `refresh / 2` or so; nothing is
    /// sent when nothing is due.
    pub fn tick(&mut self, now: Duration) -> Vec<Action> {
        match &mut self.inner {
            Inner::Dc(a) => a.tick(now),
            Inner::Edge(a) => a.tick(now),
        }
    }

    /// New shares `(dc, edge, bits per second)` from a recalculation. The
    /// DC re-offers every changed share of its routes, never below what is
    /// used; other entries (and every entry, on an edge) are ignored: an
    /// edge learns shares from the DCs' offers.
    pub fn reoffer(&mut self, now: Duration, shares: &[(String, String, u64)]) -> Vec<Action> {
        match &mut self.inner {
            Inner::Dc(a) => a.reoffer(now, shares),
            Inner::Edge(_) => vec![],
        }
    }

    /// Every route of this switch, in cell order.
    pub fn routes(&self) -> Vec<RouteReport> {
        match &self.inner {
            Inner::Dc(a) => a.routes(),
            Inner::Edge(a) => a.routes(),
        }
    }

    /// What route cell `cell` is offered now, for the executor's guard:
    /// after every write, aggregate meter + flow meters of the cell ≤ this.
    pub fn offered(&self, cell: u32) -> Option<u64> {
        match &self.inner {
            Inner::Dc(a) => a.offered(cell),
            Inner::Edge(a) => a.offered(cell),
        }
    }

    /// The flows held now, with their cell and rate, sorted by key.
    pub fn flows(&self) -> Vec<(FlowKey, u32, u64)> {
        match &self.inner {
            Inner::Dc(a) => a.flows(),
            Inner::Edge(a) => a.flows(),
        }
    }

    /// Edge: the DC each service VIP uses now.
    pub fn choices(&self) -> Vec<(Ipv4Addr, String)> {
        match &self.inner {
            Inner::Dc(_) => vec![],
            Inner::Edge(a) => a.choices(),
        }
    }

    pub fn stats(&self) -> Stats {
        match &self.inner {
            Inner::Dc(a) => a.stats.clone(),
            Inner::Edge(a) => a.stats.clone(),
        }
    }

    fn stats_mut(&mut self) -> &mut Stats {
        match &mut self.inner {
            Inner::Dc(a) => &mut a.stats,
            Inner::Edge(a) => &mut a.stats,
        }
    }
}

fn expect_role(switch: &str, expected: &'static str, found: &str) -> Result<(), AgentError> {
    if found == expected {
        Ok(())
    } else {
        Err(AgentError::Role {
            switch: switch.to_string(),
            expected,
            found: found.to_string(),
        })
    }
}

/// The RSVP message in a frame, or `None` when the frame is not a
/// well-formed Ethernet/IPv4/RSVP frame. A zero checksum ("not sent") is
/// accepted, as RFC 2205 allows.
fn decode(frame: &[u8]) -> Option<Message> {
    let f = parse_frame(frame).ok()?;
    Message::parse_with(f.rsvp, ParseOptions::lenient()).ok()
}

/// Whether state last refreshed at `last`, with refresh period `period`,
/// has missed [`K`] refreshes at `now`.
fn expired(now: Duration, last: Duration, period: Duration) -> bool {
    now.saturating_sub(last) > period * K
}

/// The refresh period a TIME_VALUES gives (at least 1 ms).
fn period(refresh_ms: u32) -> Duration {
    Duration::from_millis(u64::from(refresh_ms.max(1)))
}

/// The TIME_VALUES value of a period.
fn refresh_ms(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX).max(1)
}

/// A route rebuilt from a read-back: the aggregate meter at
/// `aggregate_bps` and `flows` (key, rate) with the ids `ids`, on a book
/// that offers exactly what they reserve together. Returns the book, what
/// is written, and the flows taken, in order (a flow whose rate the book
/// cannot hold, as when the sum overflows, is left out).
/// The flows of `found` grouped by the route whose cell they name
/// (`cells[r]` is route `r`'s), keeping those with a rate, a configured
/// route meter and that `holds(key, r)` accepts; and how many were left.
fn found_by_route(
    found: &Found,
    cells: &[u32],
    holds: impl Fn(&FlowKey, usize) -> bool,
) -> (Vec<Vec<(FlowKey, u64)>>, u64) {
    let mut per_route: Vec<Vec<(FlowKey, u64)>> = vec![Vec::new(); cells.len()];
    let mut left = 0;
    for &(key, cell, rate) in &found.flows {
        let r = cells
            .iter()
            .position(|&c| c == cell)
            .filter(|&r| rate > 0 && found.route_meters.contains_key(&cell) && holds(&key, r));
        match r {
            Some(r) => per_route[r].push((key, rate)),
            None => left += 1,
        }
    }
    (per_route, left)
}

fn adopted(
    aggregate_bps: u64,
    cell: u32,
    flows: &[(FlowKey, u64)],
    next_id: &mut crate::FlowId,
) -> (crate::Book, Shadow, Vec<(crate::FlowId, FlowKey, u64)>) {
    let used = flows
        .iter()
        .fold(0u64, |acc, (_, rate)| acc.saturating_add(*rate));
    let mut book = crate::Book::new(aggregate_bps.saturating_add(used));
    let mut configured = Shadow::new(aggregate_bps);
    let mut kept = Vec::with_capacity(flows.len());
    for &(key, rate_bps) in flows {
        let id = *next_id;
        *next_id += 1;
        if book.admit(id, rate_bps).is_err() {
            continue;
        }
        configured.apply(
            Some(id),
            &Change::InstallFlow {
                key,
                cell,
                rate_bps,
            },
        );
        kept.push((id, key, rate_bps));
    }
    (book, configured, kept)
}

/// What an agent has written for one route: the aggregate meter and the
/// flow meters, with their sum kept so that a check costs O(1).
#[derive(Debug, Clone, Default)]
struct Shadow {
    aggregate_bps: u64,
    flows: std::collections::HashMap<crate::FlowId, u64>,
    flows_bps: u64,
}

impl Shadow {
    fn new(aggregate_bps: u64) -> Shadow {
        Shadow {
            aggregate_bps,
            ..Shadow::default()
        }
    }

    /// Reserved in all: the aggregate and every flow.
    fn reserved(&self) -> u64 {
        self.aggregate_bps.saturating_add(self.flows_bps)
    }

    /// What is reserved once `change` is written (for flow `id`).
    fn after(&self, id: Option<crate::FlowId>, change: &Change) -> u64 {
        match (change, id) {
            (Change::RouteMeter { rate_bps, .. }, _) => rate_bps.saturating_add(self.flows_bps),
            (Change::InstallFlow { rate_bps, .. }, Some(id)) => {
                let old = self.flows.get(&id).copied().unwrap_or(0);
                self.reserved()
                    .saturating_sub(old)
                    .saturating_add(*rate_bps)
            }
            (Change::RemoveFlow { .. }, Some(id)) => self
                .reserved()
                .saturating_sub(self.flows.get(&id).copied().unwrap_or(0)),
            _ => self.reserved(),
        }
    }

    fn apply(&mut self, id: Option<crate::FlowId>, change: &Change) {
        match (change, id) {
            (Change::RouteMeter { rate_bps, .. }, _) => self.aggregate_bps = *rate_bps,
            (Change::InstallFlow { rate_bps, .. }, Some(id)) => {
                if let Some(old) = self.flows.insert(id, *rate_bps) {
                    self.flows_bps -= old;
                }
                self.flows_bps += rate_bps;
            }
            (Change::RemoveFlow { .. }, Some(id)) => {
                if let Some(old) = self.flows.remove(&id) {
                    self.flows_bps -= old;
                }
            }
            _ => {}
        }
    }

    /// The same state for [`crate::Plan::check`] in a form whose size does
    /// not grow with the number of flows: `flow`, if held, and one entry
    /// standing for all the others (with an id no flow gets).
    fn condensed(&self, flow: Option<crate::FlowId>) -> crate::Configured {
        let mut flows = std::collections::BTreeMap::new();
        let mut others = self.flows_bps;
        if let Some((id, r)) = flow.and_then(|f| self.flows.get(&f).map(|r| (f, *r))) {
            flows.insert(id, r);
            others -= r;
        }
        flows.insert(crate::FlowId::MAX, others);
        crate::Configured {
            aggregate_bps: self.aggregate_bps,
            flows,
        }
    }
}
