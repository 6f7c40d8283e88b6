//! Simulated clients and servers for a [`crate::lab::Lab`]: clients behind
//! the edges open connections to the services' VIPs, and the servers the
//! DC switches steer them to answer each new connection as an RSVP sender
//! would — a Path for the flow (SENDER_TSPEC = the service's flow rate),
//! refreshed every refresh period, data at the reserved rate once it is
//! admitted, and a PathTear when the flow ends.
//!
//! A flow is *admitted* when its server receives a Resv for it, *rejected*
//! when it receives a PathErr. Frames are real: Ethernet/IPv4/TCP or UDP
//! for the connections and the data, Ethernet/IPv4/RSVP built with
//! `fairshare_rsvp` for the reservations; addresses and MACs are the
//! policy's and the compiler's (hosts `02:01:a:b:c:d`, switch ports
//! `02:00:dd:dd:pp:pp`).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fairshare_policy::model::Policy;
use fairshare_rsvp::{Body, Message};

use crate::agent::wire::ServerFlow;

use crate::lab::{port_mac, Hosts, LabHandle};

/// How the simulated hosts behave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimConfig {
    /// How long a flow lasts once it reached its server.
    pub hold: Duration,
    /// The servers' Path refresh period (TIME_VALUES).
    pub refresh: Duration,
    /// Bytes of payload in each data packet.
    pub payload: usize,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            hold: Duration::from_secs(4),
            refresh: Duration::from_secs(1),
            payload: 1000,
        }
    }
}

/// Where a flow stands, as its server sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum FlowState {
    /// The Path went out; no answer yet.
    Pending,
    Admitted,
    Rejected,
    /// Torn down after its hold time.
    Ended,
}

/// A connection the simulation opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimFlow {
    pub edge: String,
    pub service: String,
    pub client: Ipv4Addr,
    pub client_port: u16,
    pub protocol: u8,
    pub vip: Ipv4Addr,
    pub vip_port: u16,
    /// Where it landed: the DC switch, server port and address.
    pub dc_switch: Option<String>,
    pub server: Option<(u32, Ipv4Addr)>,
    pub rate_bps: u64,
    pub state: FlowState,
    pub reached: Option<Duration>,
    pub last_refresh: Duration,
    pub data_sent: u64,
    pub data_received: u64,
}

/// Totals of the simulation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct SimCounts {
    pub requests: u64,
    pub reached_server: u64,
    pub admitted: u64,
    pub rejected: u64,
    pub ended: u64,
    pub data_sent: u64,
    pub data_received: u64,
    /// Frames that reached a host and meant nothing to it.
    pub ignored: u64,
}

#[derive(Default)]
struct State {
    /// By (client, client port, protocol).
    flows: BTreeMap<(Ipv4Addr, u16, u8), SimFlow>,
    next_port: u16,
    counts: SimCounts,
}

/// The simulated hosts of one policy.
pub struct Sim {
    policy: Arc<Policy>,
    config: SimConfig,
    state: Mutex<State>,
    /// Whether admitted flows send data on each tick.
    data: AtomicBool,
}

fn host_mac(a: Ipv4Addr) -> [u8; 6] {
    fairshare_codegen::rules::host_mac(a).0
}

impl Sim {
    pub fn new(policy: Arc<Policy>, config: SimConfig) -> Sim {
        Sim {
            policy,
            config,
            state: Mutex::new(State {
                next_port: 20_000,
                ..State::default()
            }),
            data: AtomicBool::new(true),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A client behind edge `edge` (index in the policy) opens a connection
    /// to service `service`: the first packet enters the edge switch on its
    /// client port. Returns the client's address and port.
    pub fn request(&self, lab: &LabHandle, edge: usize, service: usize) -> Option<(Ipv4Addr, u16)> {
        let e = self.policy.edges.get(edge)?;
        let s = self.policy.services.get(service)?;
        let prefix = e.clients.first()?;
        let (client, port) = {
            let mut st = self.lock();
            let port = st.next_port;
            st.next_port = st.next_port.checked_add(1).unwrap_or(20_000);
            // A host inside the prefix, varying with the port.
            let host_bits = !prefix.mask();
            let client = Ipv4Addr::from(
                (u32::from(prefix.addr) & prefix.mask())
                    | ((u32::from(port) % host_bits.max(1)).max(1) & host_bits),
            );
            st.counts.requests += 1;
            st.flows.insert(
                (client, port, s.protocol.number()),
                SimFlow {
                    edge: e.name.clone(),
                    service: s.name.clone(),
                    client,
                    client_port: port,
                    protocol: s.protocol.number(),
                    vip: s.vip,
                    vip_port: s.port,
                    dc_switch: None,
                    server: None,
                    rate_bps: s.flow_rate,
                    state: FlowState::Pending,
                    reached: None,
                    last_refresh: Duration::ZERO,
                    data_sent: 0,
                    data_received: 0,
                },
            );
            (client, port)
        };
        let frame = fairshare_packet::build::l4_frame(
            [port_mac(&e.switch, e.client_port), host_mac(client)],
            [client, s.vip],
            s.protocol.number(),
            [port, s.port],
            64,
            b"request",
        );
        lab.inject(&e.switch.name, u32::from(e.client_port), &frame);
        Some((client, port))
    }

    /// Refreshes the Paths of live flows that are due, ends flows past
    /// their hold time (PathTear), and sends one data packet for each
    /// admitted flow.
    pub fn tick(&self, lab: &LabHandle, now: Duration) {
        let mut out: Vec<(String, u32, Vec<u8>)> = Vec::new();
        {
            let mut st = self.lock();
            let mut ended = 0;
            let mut sent = 0;
            for f in st.flows.values_mut() {
                let (Some(sw), Some((port, server)), Some(reached)) =
                    (f.dc_switch.clone(), f.server, f.reached)
                else {
                    continue;
                };
                let live = matches!(f.state, FlowState::Pending | FlowState::Admitted);
                if !live {
                    continue;
                }
                if now.saturating_sub(reached) >= self.config.hold {
                    if let Some(frame) = self.path_frame(f, server, port, &sw, true) {
                        out.push((sw.clone(), port, frame));
                    }
                    f.state = FlowState::Ended;
                    ended += 1;
                    continue;
                }
                if now.saturating_sub(f.last_refresh) >= self.config.refresh {
                    if let Some(frame) = self.path_frame(f, server, port, &sw, false) {
                        out.push((sw.clone(), port, frame));
                    }
                    f.last_refresh = now;
                }
                if f.state == FlowState::Admitted && self.data.load(Ordering::Relaxed) {
                    let frame = self.data_frame(f, server, port, &sw);
                    out.push((sw.clone(), port, frame));
                    f.data_sent += 1;
                    sent += 1;
                }
            }
            st.counts.ended += ended;
            st.counts.data_sent += sent;
        }
        for (sw, port, frame) in out {
            lab.inject(&sw, port, &frame);
        }
    }

    /// Whether admitted flows send a data packet on each tick (they do
    /// unless told otherwise). Without data, what the hosts send depends
    /// only on requests, answers, refreshes and teardowns, not on how
    /// often the ticker runs.
    pub fn set_data(&self, on: bool) {
        self.data.store(on, Ordering::Relaxed);
    }

    /// The server of the live flow from `client`:`port` sends its PathTear
    /// now and the flow ends, as at the end of its hold time. False when
    /// there is no such flow, it never reached a server or it is over.
    pub fn end_flow(&self, lab: &LabHandle, client: Ipv4Addr, port: u16) -> bool {
        let frame = {
            let mut st = self.lock();
            let Some(f) = st.flows.values_mut().find(|f| {
                f.client == client
                    && f.client_port == port
                    && matches!(f.state, FlowState::Pending | FlowState::Admitted)
            }) else {
                return false;
            };
            let (Some(sw), Some((server_port, server))) = (f.dc_switch.clone(), f.server) else {
                return false;
            };
            f.state = FlowState::Ended;
            let frame = self.path_frame(f, server, server_port, &sw, true);
            st.counts.ended += 1;
            frame.map(|fr| (sw, server_port, fr))
        };
        match frame {
            Some((sw, port, fr)) => lab.inject(&sw, port, &fr),
            None => false,
        }
    }

    /// Every flow so far.
    pub fn flows(&self) -> Vec<SimFlow> {
        self.lock().flows.values().cloned().collect()
    }

    pub fn counts(&self) -> SimCounts {
        self.lock().counts
    }

    fn dc_switch_port_mac(&self, sw: &str, port: u32) -> [u8; 6] {
        self.policy
            .datacenters
            .iter()
            .find(|d| d.switch.name == sw)
            .map(|d| port_mac(&d.switch, port as u16))
            .unwrap_or([0x02, 0, 0, 0, 0, 0])
    }

    /// The server's Path (or PathTear) for `f`.
    fn path_frame(
        &self,
        f: &SimFlow,
        server: Ipv4Addr,
        port: u32,
        sw: &str,
        tear: bool,
    ) -> Option<Vec<u8>> {
        let flow = ServerFlow {
            server,
            service_port: f.vip_port,
            client: f.client,
            client_port: f.client_port,
            protocol: f.protocol,
            rate_bps: f.rate_bps,
        };
        let msg = if tear {
            flow.path_tear()
        } else {
            flow.path(u32::try_from(self.config.refresh.as_millis()).unwrap_or(u32::MAX))
        };
        let sw = self
            .policy
            .datacenters
            .iter()
            .find(|d| d.switch.name == sw)?;
        flow.frame(&sw.switch, u16::try_from(port).ok()?, &msg).ok()
    }

    fn data_frame(&self, f: &SimFlow, server: Ipv4Addr, port: u32, sw: &str) -> Vec<u8> {
        fairshare_packet::build::l4_frame(
            [self.dc_switch_port_mac(sw, port), host_mac(server)],
            [server, f.client],
            f.protocol,
            [f.vip_port, f.client_port],
            64,
            &vec![0u8; self.config.payload],
        )
    }

    fn at_server(&self, lab: &LabHandle, sw: &str, port: u32, frame: &[u8]) {
        let now = lab.now();
        // RSVP for a flow of this server: the controller's answer.
        if let Ok(view) = fairshare_rsvp::frame::parse_frame(frame) {
            let Ok(msg) = Message::parse(view.rsvp) else {
                self.lock().counts.ignored += 1;
                return;
            };
            let s = msg.session();
            let IpAddr::V4(client) = s.dest else { return };
            let mut st = self.lock();
            let key = (client, s.port, s.protocol);
            let verdict = match &msg.body {
                Body::PathErr(_) => Some(FlowState::Rejected),
                Body::Resv(_) => Some(FlowState::Admitted),
                _ => None,
            };
            match (verdict, st.flows.get_mut(&key)) {
                (Some(v), Some(f)) if f.state == FlowState::Pending => {
                    f.state = v;
                    if v == FlowState::Admitted {
                        st.counts.admitted += 1;
                    } else {
                        st.counts.rejected += 1;
                    }
                }
                (Some(_), Some(_)) => {}
                _ => st.counts.ignored += 1,
            }
            return;
        }
        // A connection's first packet, steered here: the server answers
        // with a Path for the flow.
        let Some((src, dst, proto, sport, _dport)) = l4_of(frame) else {
            self.lock().counts.ignored += 1;
            return;
        };
        let frame = {
            let mut st = self.lock();
            let Some(f) = st.flows.get_mut(&(src, sport, proto)) else {
                st.counts.ignored += 1;
                return;
            };
            if f.reached.is_some() {
                return;
            }
            f.dc_switch = Some(sw.to_owned());
            f.server = Some((port, dst));
            f.reached = Some(now);
            f.last_refresh = now;
            let f = f.clone();
            st.counts.reached_server += 1;
            self.path_frame(&f, dst, port, sw, false)
        };
        if let Some(frame) = frame {
            lab.inject(sw, port, &frame);
        }
    }

    fn at_client(&self, frame: &[u8]) {
        let mut st = self.lock();
        match l4_of(frame) {
            Some((_, dst, proto, _, dport)) => match st.flows.get_mut(&(dst, dport, proto)) {
                Some(f) => {
                    f.data_received += 1;
                    st.counts.data_received += 1;
                }
                None => st.counts.ignored += 1,
            },
            None => st.counts.ignored += 1,
        }
    }
}

impl Hosts for Sim {
    fn deliver(&self, lab: &LabHandle, switch: &str, port: u32, frame: &[u8]) {
        if self
            .policy
            .datacenters
            .iter()
            .any(|d| d.switch.name == switch)
        {
            self.at_server(lab, switch, port, frame);
        } else {
            self.at_client(frame);
        }
    }
}

/// (src, dst, protocol, src port, dst port) of a TCP or UDP frame.
fn l4_of(frame: &[u8]) -> Option<(Ipv4Addr, Ipv4Addr, u8, u16, u16)> {
    if frame.get(12..14)? != [0x08, 0x00] {
        return None;
    }
    let ip = frame.get(14..)?;
    let ihl = usize::from(ip.first()? & 0x0f) * 4;
    let proto = *ip.get(9)?;
    if proto != 6 && proto != 17 {
        return None;
    }
    let a = |i: usize| -> Option<Ipv4Addr> {
        let b = ip.get(i..i + 4)?;
        Some(Ipv4Addr::new(b[0], b[1], b[2], b[3]))
    };
    let l4 = ip.get(ihl..)?;
    let port =
        |i: usize| -> Option<u16> { Some(u16::from_be_bytes([*l4.get(i)?, *l4.get(i + 1)?])) };
    Some((a(12)?, a(16)?, proto, port(0)?, port(2)?))
}
