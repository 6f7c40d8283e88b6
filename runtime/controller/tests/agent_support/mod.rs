//! A network of agents for the tests: DC and edge agents wired uplink to
//! uplink, simulated servers that send real RSVP frames to the DC switches'
//! server ports, a model of each switch that applies every write and checks
//! the over-reservation invariant after each one, and a fault injector on
//! the links between agents.
#![allow(dead_code)]

use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use fairshare_codegen::rules::{host_mac, switch_mac, Rules};
use fairshare_controller::agent::{wire, Action, Agent, Change, FlowKey, Settings};
use fairshare_policy::model::Policy;
use fairshare_rsvp::frame::{parse_frame, FrameHeader, MacAddr};
use fairshare_rsvp::{
    Body, FilterSpec, Hop, Message, Path, PathTear, SenderDescriptor, Session, TimeValues,
    TokenBucket,
};

pub const METRO: &str = include_str!("../../../../examples/metro.fsp");

pub fn load(src: &str) -> (Policy, Vec<Rules>) {
    let (_, policy) = fairshare_policy::load(src).expect("policy loads");
    let topo = fairshare_alloc::Topology::build(&policy).expect("topology");
    let shares = fairshare_alloc::allocate_default(&topo, &policy);
    let rules = fairshare_codegen::rules::build(&policy, &topo, &shares, &|_| "p".into())
        .expect("rules fit");
    (policy, rules)
}

/// What a switch holds after the writes it was sent: per route cell the
/// aggregate meter, and the flows with their cell and rate.
#[derive(Debug, Clone, Default)]
pub struct SwitchModel {
    pub aggregate: BTreeMap<u32, u64>,
    pub flows: BTreeMap<FlowKey, (u32, u64)>,
    pub steer: BTreeMap<(u16, Option<u16>), Ipv4Addr>,
    pub choice: BTreeMap<Ipv4Addr, String>,
    pub writes: Vec<Change>,
    /// Writes after which a cell held more than its offer, with the cell,
    /// what it held and what was offered.
    pub violations: Vec<(Change, u32, u64, u64)>,
}

impl SwitchModel {
    pub fn new(rules: &Rules) -> SwitchModel {
        SwitchModel {
            aggregate: rules
                .routes
                .iter()
                .map(|r| (r.index, r.share_bps))
                .collect(),
            ..SwitchModel::default()
        }
    }

    pub fn reserved(&self, cell: u32) -> u64 {
        self.aggregate.get(&cell).copied().unwrap_or(0)
            + self
                .flows
                .values()
                .filter(|(c, _)| *c == cell)
                .map(|(_, r)| r)
                .sum::<u64>()
    }

    /// Applies a write and checks the cell it touches against the offer
    /// the agent states at that moment.
    pub fn write(&mut self, c: &Change, agent: &Agent) {
        self.writes.push(c.clone());
        let cell = match c {
            Change::RouteMeter { cell, rate_bps } => {
                self.aggregate.insert(*cell, *rate_bps);
                Some(*cell)
            }
            Change::InstallFlow {
                key,
                cell,
                rate_bps,
            } => {
                assert!(
                    self.flows.insert(*key, (*cell, *rate_bps)).is_none(),
                    "flow {key} installed twice"
                );
                Some(*cell)
            }
            Change::RemoveFlow { key } => {
                let (cell, _) = self.flows.remove(key).expect("removed flow was installed");
                Some(cell)
            }
            Change::Steer {
                service,
                edge,
                server,
            } => {
                self.steer.insert((*service, *edge), *server);
                None
            }
            Change::ChooseDc { vip, dc } => {
                self.choice.insert(*vip, dc.clone());
                None
            }
        };
        if let Some(cell) = cell {
            let offered = agent.offered(cell).expect("the agent knows the cell");
            let held = self.reserved(cell);
            if held > offered {
                self.violations.push((c.clone(), cell, held, offered));
            }
        }
    }
}

/// A server that speaks RSVP to its DC switch: it sends Paths and
/// PathTears for flows to clients.
#[derive(Debug, Clone, Copy)]
pub struct SimServer {
    pub address: Ipv4Addr,
    pub port: u16,
    /// The DC switch's device id (for the switch-side MAC).
    pub device: u64,
}

/// One flow as its server names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct SimFlow {
    pub client: Ipv4Addr,
    pub client_port: u16,
    pub protocol: u8,
    pub service_port: u16,
    pub rate_bps: u64,
}

impl SimServer {
    pub fn session(&self, f: &SimFlow) -> Session {
        Session {
            dest: f.client.into(),
            protocol: f.protocol,
            flags: 0,
            port: f.client_port,
        }
    }

    pub fn sender(&self, f: &SimFlow) -> SenderDescriptor {
        SenderDescriptor {
            template: FilterSpec::Port {
                addr: self.address.into(),
                port: f.service_port,
            },
            tspec: TokenBucket {
                rate: (f.rate_bps as f64 / 8.0) as f32,
                size: 10_000.0,
                peak: f32::INFINITY,
                min_policed_unit: 64,
                max_packet_size: 1500,
            },
            adspec: None,
        }
    }

    fn frame(&self, m: &Message, dst: Ipv4Addr) -> Vec<u8> {
        let h = FrameHeader::for_message(
            MacAddr(host_mac(self.address).0),
            MacAddr([0x02, 0x00, 0, self.device as u8, 0, self.port as u8]),
            self.address,
            dst,
            m,
        );
        h.build(m).expect("frame builds")
    }

    pub fn path(&self, f: &SimFlow, refresh: Duration) -> Vec<u8> {
        let m = Message::new(
            64,
            Body::Path(Path {
                session: self.session(f),
                hop: Hop {
                    addr: self.address.into(),
                    lih: 0,
                },
                time_values: TimeValues {
                    refresh_ms: refresh.as_millis() as u32,
                },
                policy_data: vec![],
                sender: Some(self.sender(f)),
            }),
        );
        self.frame(&m, f.client)
    }

    pub fn path_tear(&self, f: &SimFlow) -> Vec<u8> {
        let m = Message::new(
            64,
            Body::PathTear(PathTear {
                session: self.session(f),
                hop: Hop {
                    addr: self.address.into(),
                    lih: 0,
                },
                sender: Some(self.sender(f)),
            }),
        );
        self.frame(&m, f.client)
    }
}

/// The message in a frame the agents sent, with its IP addresses.
pub fn decode(frame: &[u8]) -> (Ipv4Addr, Ipv4Addr, Message) {
    let f = parse_frame(frame).expect("an agent's frame parses");
    let m = Message::parse(f.rsvp).expect("an agent's RSVP message parses");
    (f.header.src, f.header.dst, m)
}

/// What the fault injector does with one frame between agents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    Deliver,
    Drop,
    Duplicate,
    /// Delivered after the next frame on the same link.
    Delay,
}

/// Decides the fate of each frame between agents.
pub type Fault = Box<dyn FnMut(&InFlight, &Message) -> Fate>;

#[derive(Debug, Clone)]
pub struct InFlight {
    /// Index into [`Net::agents`] of the receiver.
    pub to: usize,
    pub frame: Vec<u8>,
}

/// DC and edge agents of a policy, every one with its switch model, and the
/// links between their uplinks.
pub struct Net {
    pub policy: Policy,
    pub agents: Vec<Agent>,
    pub switches: Vec<SwitchModel>,
    pub names: Vec<String>,
    pub now: Duration,
    pub refresh: Duration,
    pub queue: VecDeque<InFlight>,
    /// Frames sent to servers: (DC agent index, port, frame).
    pub to_servers: Vec<(usize, u32, Vec<u8>)>,
    /// Every action of every agent, in order: (agent index, action).
    pub log: Vec<(usize, Action)>,
    /// Decides each frame's fate between agents.
    pub fault: Fault,
    /// Checks tally equality of every route after every exchange.
    pub check_tallies: bool,
    pub exchanges: u64,
}

impl Net {
    /// Agents for the named switches of `src`'s policy.
    pub fn new(src: &str, switches: &[&str], refresh: Duration) -> Net {
        Net::with_settings(src, switches, refresh, 0)
    }

    pub fn with_settings(src: &str, switches: &[&str], refresh: Duration, epoch: u32) -> Net {
        let (policy, rules) = load(src);
        let mut agents = vec![];
        let mut models = vec![];
        for s in switches {
            let r = rules.iter().find(|r| r.switch == *s).expect("switch");
            agents.push(Agent::new(&policy, r, Settings { refresh, epoch }).expect("agent"));
            models.push(SwitchModel::new(r));
        }
        Net {
            policy,
            agents,
            switches: models,
            names: switches.iter().map(|s| s.to_string()).collect(),
            now: Duration::ZERO,
            refresh,
            queue: VecDeque::new(),
            to_servers: vec![],
            log: vec![],
            fault: Box::new(|_, _| Fate::Deliver),
            check_tallies: true,
            exchanges: 0,
        }
    }

    pub fn agent(&self, name: &str) -> usize {
        self.names
            .iter()
            .position(|n| n == name)
            .expect("agent name")
    }

    /// The agent a frame leaving `from`'s uplink reaches: the one whose
    /// address is the destination, or the edge whose clients hold it.
    fn receiver(&self, from: usize, dst: Ipv4Addr) -> Option<usize> {
        if let Some(i) = self
            .agents
            .iter()
            .position(|a| a.address() == dst)
            .filter(|&i| i != from)
        {
            return Some(i);
        }
        let edge = self.policy.edges.iter().find(|e| {
            e.clients
                .iter()
                .any(|p| u32::from(dst) & p.mask() == u32::from(p.addr))
        })?;
        self.names.iter().position(|n| *n == edge.switch.name)
    }

    /// Takes an agent's actions: writes go to its switch model, frames out
    /// of the uplink onto the link, frames to servers aside.
    pub fn take(&mut self, from: usize, actions: Vec<Action>) {
        for a in actions {
            self.log.push((from, a.clone()));
            match a {
                Action::Write(c) => self.switches[from].write(&c, &self.agents[from]),
                Action::PacketOut { port, frame } => {
                    if port == self.agents[from].uplink_port() {
                        let (_, dst, _) = decode(&frame);
                        if let Some(to) = self.receiver(from, dst) {
                            self.queue.push_back(InFlight { to, frame });
                        }
                    } else {
                        self.to_servers.push((from, port, frame));
                    }
                }
            }
        }
    }

    pub fn start(&mut self) {
        for i in 0..self.agents.len() {
            let a = self.agents[i].start(self.now);
            self.take(i, a);
        }
        self.pump();
    }

    /// Delivers what is on the links until nothing is, through the fault
    /// injector; then checks the tallies.
    pub fn pump(&mut self) {
        let mut held: Option<InFlight> = None;
        while let Some(f) = self.queue.pop_front() {
            let (_, _, m) = decode(&f.frame);
            let fate = (self.fault)(&f, &m);
            match fate {
                Fate::Drop => continue,
                Fate::Delay => {
                    if let Some(h) = held.replace(f) {
                        self.deliver(h);
                    }
                    continue;
                }
                Fate::Duplicate => {
                    self.deliver(f.clone());
                    self.deliver(f);
                }
                Fate::Deliver => self.deliver(f),
            }
            if let Some(h) = held.take() {
                self.deliver(h);
            }
        }
        if let Some(h) = held.take() {
            self.deliver(h);
            self.pump();
        }
        self.exchanges += 1;
        if self.check_tallies {
            self.assert_tallies_equal();
        }
        self.assert_no_violation();
    }

    fn deliver(&mut self, f: InFlight) {
        let port = self.agents[f.to].uplink_port();
        let a = self.agents[f.to].packet_in(self.now, port, &f.frame);
        self.take(f.to, a);
    }

    /// A server's frame into its DC switch's server port.
    pub fn server_sends(&mut self, dc: usize, server_port: u16, frame: &[u8]) -> Vec<Action> {
        let a = self.agents[dc].packet_in(self.now, u32::from(server_port), frame);
        self.take(dc, a.clone());
        self.pump();
        a
    }

    /// Moves time on to `t`, ticking every agent every `step`.
    pub fn run_until(&mut self, t: Duration, step: Duration) {
        while self.now < t {
            self.now = (self.now + step).min(t);
            for i in 0..self.agents.len() {
                let a = self.agents[i].tick(self.now);
                self.take(i, a);
            }
            self.pump();
        }
    }

    /// Every route held by both a DC agent and an edge agent of the net:
    /// (dc report, edge report).
    pub fn route_pairs(
        &self,
    ) -> Vec<(
        fairshare_controller::agent::RouteReport,
        fairshare_controller::agent::RouteReport,
    )> {
        let mut v = vec![];
        let reports: Vec<_> = self.agents.iter().map(|a| (a.role(), a.routes())).collect();
        for (role, rs) in &reports {
            if *role != fairshare_controller::agent::Role::Dc {
                continue;
            }
            for r in rs {
                for (role2, es) in &reports {
                    if *role2 != fairshare_controller::agent::Role::Edge {
                        continue;
                    }
                    if let Some(e) = es.iter().find(|e| e.dc == r.dc && e.edge == r.edge) {
                        v.push((r.clone(), e.clone()));
                    }
                }
            }
        }
        v
    }

    pub fn tallies_equal(&self) -> bool {
        self.route_pairs().iter().all(|(d, e)| {
            d.offered_bps == e.offered_bps
                && d.used_bps == e.used_bps
                && d.flows == e.flows
                && d.aggregate_bps == e.aggregate_bps
        })
    }

    pub fn assert_tallies_equal(&self) {
        for (d, e) in self.route_pairs() {
            assert_eq!(
                (d.offered_bps, d.used_bps, d.flows, d.aggregate_bps),
                (e.offered_bps, e.used_bps, e.flows, e.aggregate_bps),
                "route {} -> {} after exchange {}: DC (offered, used, flows, aggregate) vs edge",
                d.dc,
                d.edge,
                self.exchanges
            );
        }
    }

    pub fn assert_no_violation(&self) {
        for (i, s) in self.switches.iter().enumerate() {
            assert!(
                s.violations.is_empty(),
                "{}: writes over-reserved: {:?}",
                self.names[i],
                s.violations
            );
            assert_eq!(self.agents[i].stats().invariant_violations, 0);
        }
    }

    /// The DC switch model and the DC agent's flows agree, and likewise on
    /// every edge: what the agents say they hold is on the switches.
    pub fn assert_switches_match_agents(&self) {
        for (i, a) in self.agents.iter().enumerate() {
            let held: Vec<(FlowKey, u32, u64)> = self.switches[i]
                .flows
                .iter()
                .map(|(k, (c, r))| (*k, *c, *r))
                .collect();
            assert_eq!(held, a.flows(), "{}: flows on the switch", self.names[i]);
            for r in a.routes() {
                assert_eq!(
                    r.flows,
                    held.iter().filter(|(_, c, _)| *c == r.cell).count(),
                    "{}: flow count of cell {}",
                    self.names[i],
                    r.cell
                );
                assert_eq!(
                    r.used_bps,
                    held.iter()
                        .filter(|(_, c, _)| *c == r.cell)
                        .map(|(_, _, b)| b)
                        .sum::<u64>(),
                    "{}: used of cell {}",
                    self.names[i],
                    r.cell
                );
                assert_eq!(
                    self.switches[i].aggregate.get(&r.cell).copied(),
                    Some(r.aggregate_bps),
                    "{}: aggregate meter of cell {}",
                    self.names[i],
                    r.cell
                );
            }
        }
    }
}

/// The servers of a DC of the policy, as simulated servers.
pub fn servers(policy: &Policy, dc: &str) -> Vec<SimServer> {
    let d = policy
        .datacenters
        .iter()
        .find(|d| d.name == dc)
        .expect("datacenter");
    d.servers
        .iter()
        .map(|s| SimServer {
            address: s.address,
            port: s.port,
            device: d.switch.device_id,
        })
        .collect()
}

/// A client address inside an edge's first prefix, `n` hosts in.
pub fn client(policy: &Policy, edge: &str, n: u32) -> Ipv4Addr {
    let e = policy.edges.iter().find(|e| e.name == edge).expect("edge");
    Ipv4Addr::from(u32::from(e.clients[0].addr) + 2 + n)
}

pub fn ip(a: IpAddr) -> Ipv4Addr {
    match a {
        IpAddr::V4(a) => a,
        IpAddr::V6(_) => panic!("IPv6 where IPv4 was expected"),
    }
}

/// The MAC address of a switch port (the code generator's derivation).
pub fn port_mac(policy: &Policy, switch: &str, port: u16) -> MacAddr {
    let sw = policy
        .switches()
        .find(|s| s.name == switch)
        .expect("switch");
    MacAddr(switch_mac(sw, port).0)
}

/// The rate of an aggregate Path's SENDER_TSPEC and its tally.
pub fn aggregate_of(m: &Message) -> Option<(u64, wire::Tally)> {
    match &m.body {
        Body::Path(p) if p.session.protocol == wire::AGGREGATE_PROTOCOL => {
            let s = p.sender.as_ref()?;
            Some((
                wire::bucket_bps(&s.tspec).unwrap_or(0),
                wire::Tally::from_policy_data(&p.policy_data)?,
            ))
        }
        _ => None,
    }
}
