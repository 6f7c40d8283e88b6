//! A whole policy's network in one process: a fairshare switch per switch
//! of the policy, each with its P4Runtime server on loopback, joined by
//! in-process links, with every frame on every switch port captured — what
//! `fairshare demo` and the controller's end-to-end tests run on.
//!
//! ```text
//!  hosts ─ port ─┐                                   ┌─ port ─ hosts
//!              [DC switch] ─ uplink ─ core ─ uplink ─ [edge switch]
//!                  │ CPU port (P4Runtime packet-in/out) │
//!            DC controller                       edge controller
//! ```
//!
//! The core stands for the routers between the switches. It delivers a
//! frame that leaves an uplink:
//! 1. to the switch whose uplink MAC is the frame's destination MAC (the
//!    program's derivation, `02:00:dd:dd:pp:pp` from device id and port):
//!    a switch steers a flow toward one DC this way;
//! 2. else by destination IPv4 address: an edge's client prefix goes to
//!    that edge, a server's address or the address the DC side speaks
//!    RSVP from to its DC, a service VIP to the first DC that serves it;
//! 3. else nowhere (counted in [`Lab::undeliverable`]).
//!
//! The core can be told to misbehave ([`LabHandle::set_faults`]): drop a
//! frame between switches, deliver it twice, or hold it back so that
//! frames sent after it overtake it, each with its probability
//! ([`Faults`]). The fate of a frame is a function of the seed, the link
//! (sending switch, receiving switch) and the frame's position among the
//! frames that link has carried with faults on ([`Faults::fate`]), so a
//! seed always gives a link the same sequence of fates; when the frames
//! arrive at the link depends on the threads, as it would on a network.
//! A dropped frame is captured leaving its switch and never entering the
//! next; a held frame enters when its delay is over.
//!
//! Frames leaving other ports (servers, clients) go to the [`Hosts`] the
//! lab was started with. Every frame entering or leaving a switch port is
//! captured with its time since the lab started, one capture per port,
//! written as pcap files by [`Lab::write_pcaps`].
//!
//! Invariants: without faults, a frame is delivered on the thread of the
//! switch that sent it, in the order that switch sent them (a frame the
//! faults hold back is delivered later by the lab's delay-line thread);
//! a host's reply enters its
//! switch at once (the switch processes it on the calling thread). Nothing
//! here reads the switches' tables: the controllers do that over
//! P4Runtime like any other.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex, RwLock};
use std::time::{Duration, Instant};

use fairshare_policy::model::{Policy, Switch};
use fairshare_switch_p4rt::{Config, P4rtSwitch};

use crate::bmv2net::Bmv2Switch;

/// What hosts do with the frames that reach them.
pub trait Hosts: Send + Sync + 'static {
    /// A frame left `switch` on port `port` toward a host. Replies go back
    /// through `lab.inject`.
    fn deliver(&self, lab: &LabHandle, switch: &str, port: u32, frame: &[u8]);
}

/// A switch of the lab.
#[derive(Clone)]
pub struct Node {
    pub name: String,
    pub device_id: u64,
    pub cpu_port: u32,
    pub uplink_port: u32,
    /// The P4Runtime server's address.
    pub addr: SocketAddr,
    pub device: Device,
}

/// What a lab switch runs on.
#[derive(Clone)]
pub enum Device {
    /// fairshare's switch, in this process.
    Fairshare(P4rtSwitch),
    /// A real `simple_switch_grpc` in a network namespace of its own (see
    /// [`crate::bmv2net`]).
    Bmv2(Arc<Bmv2Switch>),
}

/// What the lab's switches are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Backend {
    /// fairshare's switch, in this process.
    #[default]
    Fairshare,
    /// fairshare's switch, in this process, its P4Runtime server run on
    /// the tokio runtime that starts the lab (beside the controllers, when
    /// they run there too): a controller's request is answered without a
    /// hand-off to another thread. Its switches cannot be restarted alone.
    FairshareShared,
    /// `simple_switch_grpc`, the binary given, one process per switch in
    /// a network namespace, data ports on veth pairs (needs root).
    Bmv2(std::path::PathBuf),
}

/// One captured frame.
#[derive(Debug, Clone)]
pub struct Captured {
    pub at: Duration,
    /// `true` for a frame leaving the switch.
    pub out: bool,
    pub frame: Vec<u8>,
}

/// What the core does wrong, and how often. Probabilities are in
/// `[0, 1]`; values outside are taken as the nearest bound.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Faults {
    /// Picks the sequence of fates (see [`Faults::fate`]).
    pub seed: u64,
    /// The probability that a frame is lost.
    pub drop: f64,
    /// The probability that a frame that is not lost arrives twice: the
    /// copy is held back for up to `max_delay`.
    pub duplicate: f64,
    /// The probability that a frame that is not lost is held back for up
    /// to `max_delay`, so that frames sent after it may arrive before it.
    pub delay: f64,
    pub max_delay: Duration,
    /// Faults only for RSVP (IP protocol 46); other frames pass as sent.
    pub rsvp_only: bool,
}

/// What happens to one frame on a faulty link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fate {
    pub dropped: bool,
    /// Held back this long (`None`: delivered at once).
    pub delay: Option<Duration>,
    /// A second copy, held back this long.
    pub copy: Option<Duration>,
}

impl Faults {
    /// The fate of the `n`-th frame (from 0) that the link from switch
    /// `from` to switch `to` carries with these faults on: the same for the
    /// same arguments, whatever happened before.
    pub fn fate(&self, from: &str, to: &str, n: u64) -> Fate {
        let mut h = self.seed ^ 0x6a09_e667_f3bc_c909;
        for b in from.bytes().chain([0xff]).chain(to.bytes()) {
            h = splitmix(h ^ u64::from(b));
        }
        h = splitmix(h ^ n);
        // Four draws, always all four, each in [0, 1).
        let mut draw = || {
            h = splitmix(h);
            (h >> 11) as f64 / (1u64 << 53) as f64
        };
        let (lost, twice, held, when) = (draw(), draw(), draw(), draw());
        let hold = |u: f64| {
            let d = self.max_delay.mul_f64(u.clamp(0.0, 1.0));
            Some(d.max(Duration::from_micros(1)))
        };
        if lost < self.drop.clamp(0.0, 1.0) {
            return Fate {
                dropped: true,
                delay: None,
                copy: None,
            };
        }
        Fate {
            dropped: false,
            delay: (held < self.delay.clamp(0.0, 1.0))
                .then(|| hold(when))
                .flatten(),
            copy: (twice < self.duplicate.clamp(0.0, 1.0))
                .then(|| hold(1.0 - when))
                .flatten(),
        }
    }
}

/// SplitMix64's output function: a well-mixed 64-bit value from any
/// other.
fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// What the faulty core has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultCounts {
    /// Frames that met the faults (were given a fate).
    pub frames: u64,
    pub dropped: u64,
    pub duplicated: u64,
    /// Frames and copies held back.
    pub delayed: u64,
}

/// A frame held back by the core.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Held {
    due: Instant,
    seq: u64,
    to: String,
    port: u32,
    frame: Vec<u8>,
}

#[derive(Default)]
struct FaultState {
    faults: Option<Faults>,
    /// Frames each link carried with faults on.
    carried: BTreeMap<(String, String), u64>,
    counts: FaultCounts,
    held: BinaryHeap<Reverse<Held>>,
    seq: u64,
}

#[derive(Default)]
struct Shared {
    nodes: RwLock<BTreeMap<String, Node>>,
    by_mac: BTreeMap<[u8; 6], String>,
    /// (prefix, mask, switch) for client prefixes, server addresses, VIPs.
    by_ip: Vec<(u32, u32, String)>,
    captures: Mutex<BTreeMap<(String, u32), Vec<Captured>>>,
    undeliverable: AtomicU64,
    hosts: Option<Arc<dyn Hosts>>,
    start: Option<Instant>,
    faults: Mutex<FaultState>,
    /// Wakes the delay line when a frame is held or the lab stops.
    held_changed: Condvar,
    stopping: AtomicBool,
}

/// What hosts and tests use to reach the lab; cheap to clone.
#[derive(Clone)]
pub struct LabHandle(Arc<Shared>);

impl LabHandle {
    /// A host sends `frame` into `switch` on `port`. False when there is no
    /// such switch or it has no pipeline yet.
    pub fn inject(&self, switch: &str, port: u32, frame: &[u8]) -> bool {
        let Some(node) = self.node(switch) else {
            return false;
        };
        self.capture(switch, port, false, frame);
        match &node.device {
            Device::Fairshare(s) => s.inject(port, frame),
            Device::Bmv2(s) => s.inject(port, frame),
        }
    }

    /// Time since the lab started.
    pub fn now(&self) -> Duration {
        self.0.start.map(|s| s.elapsed()).unwrap_or_default()
    }

    fn capture(&self, switch: &str, port: u32, out: bool, frame: &[u8]) {
        let at = self.now();
        let mut c = self.0.captures.lock().unwrap_or_else(|e| e.into_inner());
        c.entry((switch.to_owned(), port))
            .or_default()
            .push(Captured {
                at,
                out,
                frame: frame.to_vec(),
            });
    }

    /// The frames captured on `switch` port `port` so far.
    pub fn captured(&self, switch: &str, port: u32) -> Vec<Captured> {
        let c = self.0.captures.lock().unwrap_or_else(|e| e.into_inner());
        c.get(&(switch.to_owned(), port))
            .cloned()
            .unwrap_or_default()
    }

    pub fn node(&self, switch: &str) -> Option<Node> {
        self.0
            .nodes
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(switch)
            .cloned()
    }

    /// The ports of `switch` that saw a frame.
    pub fn ports(&self, switch: &str) -> Vec<u32> {
        let c = self.0.captures.lock().unwrap_or_else(|e| e.into_inner());
        c.keys()
            .filter(|(s, _)| s == switch)
            .map(|(_, p)| *p)
            .collect()
    }

    fn route(&self, from: &str, port: u32, frame: &[u8]) {
        let Some(node) = self.node(from) else {
            return;
        };
        self.capture(from, port, true, frame);
        if port != node.uplink_port {
            if let Some(h) = &self.0.hosts {
                h.deliver(self, from, port, frame);
            }
            return;
        }
        let target = frame
            .get(0..6)
            .and_then(|m| <[u8; 6]>::try_from(m).ok())
            .and_then(|m| self.0.by_mac.get(&m))
            .or_else(|| {
                let dst = ipv4_dst(frame)?;
                self.0
                    .by_ip
                    .iter()
                    .find(|(p, m, _)| dst & m == *p)
                    .map(|(_, _, s)| s)
            });
        match target.and_then(|t| self.node(t)) {
            Some(to) if to.name != from => {
                let (name, uplink) = (to.name.clone(), to.uplink_port);
                if !self.faulty(from, &name, uplink, frame) {
                    self.inject(&name, uplink, frame);
                }
            }
            _ => {
                self.0.undeliverable.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// The ports of `sw` that hosts or the core use: its uplink, and its
/// servers' ports (a DC switch) or its clients' port (an edge switch).
fn data_ports(policy: &Policy, sw: &Switch) -> Vec<u32> {
    let mut ports = vec![u32::from(sw.uplink_port)];
    for d in policy
        .datacenters
        .iter()
        .filter(|d| d.switch.name == sw.name)
    {
        ports.extend(d.servers.iter().map(|s| u32::from(s.port)));
    }
    for e in policy.edges.iter().filter(|e| e.switch.name == sw.name) {
        ports.push(u32::from(e.client_port));
    }
    ports.sort_unstable();
    ports.dedup();
    ports
}

impl LabHandle {
    /// Turns the core's faults on (or changes them), or off with `None`.
    /// Frames already held back still arrive when their delay is over.
    pub fn set_faults(&self, faults: Option<Faults>) {
        self.faults().faults = faults;
    }

    /// What the faults have done so far.
    pub fn fault_counts(&self) -> FaultCounts {
        self.faults().counts
    }

    /// Frames (and copies) held back that have not arrived yet.
    pub fn held_back(&self) -> usize {
        self.faults().held.len()
    }

    fn faults(&self) -> std::sync::MutexGuard<'_, FaultState> {
        self.0.faults.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies the faults to a frame from switch `from` to switch `to`'s
    /// `port`; `true` when the faults took care of it (dropped, or held
    /// back), `false` when it is to be delivered now as usual. A copy of a
    /// duplicated frame is held back.
    fn faulty(&self, from: &str, to: &str, port: u32, frame: &[u8]) -> bool {
        let mut st = self.faults();
        let Some(f) = st.faults else {
            return false;
        };
        if f.rsvp_only && ipv4_protocol(frame) != Some(46) {
            return false;
        }
        let n = {
            let c = st
                .carried
                .entry((from.to_owned(), to.to_owned()))
                .or_default();
            *c += 1;
            *c - 1
        };
        let fate = f.fate(from, to, n);
        st.counts.frames += 1;
        if fate.dropped {
            st.counts.dropped += 1;
            return true;
        }
        let now = Instant::now();
        let hold = |st: &mut FaultState, d: Duration| {
            st.seq += 1;
            let seq = st.seq;
            st.held.push(Reverse(Held {
                due: now + d,
                seq,
                to: to.to_owned(),
                port,
                frame: frame.to_vec(),
            }));
            st.counts.delayed += 1;
        };
        if let Some(d) = fate.copy {
            st.counts.duplicated += 1;
            hold(&mut st, d);
        }
        let held = match fate.delay {
            Some(d) => {
                hold(&mut st, d);
                true
            }
            None => false,
        };
        drop(st);
        self.0.held_changed.notify_all();
        held
    }

    /// Delivers held frames when they are due, until the lab stops.
    fn delay_line(&self) {
        let mut st = self.faults();
        loop {
            if self.0.stopping.load(Ordering::Relaxed) {
                return;
            }
            let now = Instant::now();
            let due = st.held.peek().map(|Reverse(h)| h.due);
            match due {
                Some(due) if due <= now => {
                    if let Some(Reverse(h)) = st.held.pop() {
                        drop(st);
                        self.inject(&h.to, h.port, &h.frame);
                        st = self.faults();
                    }
                }
                Some(due) => {
                    st = self
                        .0
                        .held_changed
                        .wait_timeout(st, due - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
                None => {
                    st = self
                        .0
                        .held_changed
                        .wait_timeout(st, Duration::from_millis(100))
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
            }
        }
    }
}

/// The IP protocol of an IPv4 frame (Ethernet II, no VLAN).
fn ipv4_protocol(frame: &[u8]) -> Option<u8> {
    if frame.get(12..14)? != [0x08, 0x00] {
        return None;
    }
    frame.get(23).copied()
}

/// The destination address of an IPv4 frame (Ethernet II, no VLAN).
fn ipv4_dst(frame: &[u8]) -> Option<u32> {
    if frame.get(12..14)? != [0x08, 0x00] {
        return None;
    }
    let b = frame.get(30..34)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// The MAC of a switch port as fairshare's compiler derives it.
pub fn port_mac(sw: &Switch, port: u16) -> [u8; 6] {
    fairshare_codegen::rules::switch_mac(sw, port).0
}

/// The lab: its switches, their servers' runtime and the link threads.
pub struct Lab {
    handle: LabHandle,
    /// Per switch, where its server runs: a runtime of its own, so that
    /// one can be killed alone, or a task on the shared runtime.
    runtimes: Mutex<BTreeMap<String, ServerRt>>,
    switches: BTreeMap<String, Switch>,
}

/// Where a lab switch's P4Runtime server runs.
enum ServerRt {
    Own(tokio::runtime::Runtime),
    Shared(tokio::task::JoinHandle<()>),
}

#[derive(Debug, thiserror::Error)]
pub enum LabError {
    // The underlying errors are part of the messages, not sources, so that
    // a chain of causes does not print them twice.
    #[error("starting the lab's servers: {0}")]
    Io(std::io::Error),
    #[error("writing {path}: {error}")]
    Write { path: String, error: std::io::Error },
}

impl From<std::io::Error> for LabError {
    fn from(e: std::io::Error) -> LabError {
        LabError::Io(e)
    }
}

impl Lab {
    /// Starts a switch (without a pipeline: its controller pushes one) and
    /// its P4Runtime server on 127.0.0.1, any port, for every switch of
    /// `policy`, and the links between them.
    ///
    /// # Errors
    /// [`LabError::Io`] when a server cannot listen.
    pub fn start(policy: &Policy, hosts: Arc<dyn Hosts>) -> Result<Lab, LabError> {
        Lab::start_with(policy, hosts, &Backend::Fairshare)
    }

    /// [`Lab::start`] with the switches of `backend`.
    ///
    /// # Errors
    /// [`LabError::Io`] when a server cannot listen or, for BMv2, when a
    /// namespace, an interface or a switch process cannot be made (all
    /// that was made is removed again).
    pub fn start_with(
        policy: &Policy,
        hosts: Arc<dyn Hosts>,
        backend: &Backend,
    ) -> Result<Lab, LabError> {
        let mut shared = Shared {
            hosts: Some(hosts),
            start: Some(Instant::now()),
            ..Shared::default()
        };
        for sw in policy.switches() {
            shared
                .by_mac
                .insert(port_mac(sw, sw.uplink_port), sw.name.clone());
        }
        for e in &policy.edges {
            for p in &e.clients {
                let mask = p.mask();
                shared
                    .by_ip
                    .push((u32::from(p.addr) & mask, mask, e.switch.name.clone()));
            }
        }
        for (i, d) in policy.datacenters.iter().enumerate() {
            shared.by_ip.push((
                u32::from(crate::agent::wire::dc_address_in(policy, i)),
                u32::MAX,
                d.switch.name.clone(),
            ));
            for s in &d.servers {
                shared
                    .by_ip
                    .push((u32::from(s.address), u32::MAX, d.switch.name.clone()));
            }
        }
        for s in &policy.services {
            if let Some(d) = s.at.first().and_then(|i| policy.datacenters.get(*i)) {
                shared
                    .by_ip
                    .push((u32::from(s.vip), u32::MAX, d.switch.name.clone()));
            }
        }
        let lab = Lab {
            handle: LabHandle(Arc::new(shared)),
            runtimes: Mutex::new(BTreeMap::new()),
            switches: policy
                .switches()
                .map(|s| (s.name.clone(), s.clone()))
                .collect(),
        };
        match backend {
            Backend::Fairshare | Backend::FairshareShared => {
                let on = match backend {
                    Backend::FairshareShared => {
                        Some(tokio::runtime::Handle::try_current().map_err(|e| {
                            std::io::Error::other(format!(
                                "switch servers on the caller's runtime, but there is none: {e}"
                            ))
                        })?)
                    }
                    _ => None,
                };
                for sw in policy.switches() {
                    lab.spawn(
                        sw,
                        "127.0.0.1:0".parse().map_err(std::io::Error::other)?,
                        on.as_ref(),
                    )?;
                }
            }
            Backend::Bmv2(bin) => {
                let tag = crate::bmv2net::next_tag();
                for (i, sw) in policy.switches().enumerate() {
                    lab.spawn_bmv2(bin, tag, i, sw, &data_ports(policy, sw))?;
                }
            }
        }
        let h = lab.handle.clone();
        std::thread::Builder::new()
            .name("lab-delay-line".into())
            .spawn(move || h.delay_line())?;
        Ok(lab)
    }

    /// Starts switch `sw` (no pipeline) with its server on `addr` — on a
    /// runtime of its own, or on `shared` — and the link thread that
    /// carries what it sends.
    fn spawn(
        &self,
        sw: &Switch,
        addr: SocketAddr,
        shared: Option<&tokio::runtime::Handle>,
    ) -> Result<(), LabError> {
        let (tx, rx) = mpsc::channel();
        let p4rt = P4rtSwitch::new(
            Config {
                device_id: sw.device_id,
                cpu_port: u32::from(sw.cpu_port),
                ..Config::default()
            },
            Some(tx),
        );
        // The port may still be held for a moment after a kill.
        let mut tries = 0;
        let listener = loop {
            match std::net::TcpListener::bind(addr) {
                Ok(l) => break l,
                Err(e) if tries < 50 && addr.port() != 0 => {
                    tries += 1;
                    tracing::debug!("binding {addr}: {e}; again");
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => return Err(e.into()),
            }
        };
        let addr = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        let server = p4rt.clone();
        let serve = async move {
            match tokio::net::TcpListener::from_std(listener) {
                Ok(l) => {
                    if let Err(e) = server.run(l, std::future::pending()).await {
                        tracing::error!("lab switch server: {e}");
                    }
                }
                Err(e) => tracing::error!("lab switch listener: {e}"),
            }
        };
        let rt = match shared {
            Some(h) => ServerRt::Shared(h.spawn(serve)),
            None => {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .thread_name(format!("p4rt-{}", sw.name))
                    .enable_all()
                    .build()?;
                rt.spawn(serve);
                ServerRt::Own(rt)
            }
        };
        let node = Node {
            name: sw.name.clone(),
            device_id: sw.device_id,
            cpu_port: u32::from(sw.cpu_port),
            uplink_port: u32::from(sw.uplink_port),
            addr,
            device: Device::Fairshare(p4rt),
        };
        self.handle
            .0
            .nodes
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(sw.name.clone(), node);
        let h = self.handle.clone();
        let name = sw.name.clone();
        std::thread::Builder::new()
            .name(format!("link-{name}"))
            .spawn(move || {
                // Ends when the switch (the channel's sender) is gone.
                for (port, frame) in rx {
                    h.route(&name, port, &frame);
                }
            })?;
        self.runtimes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(sw.name.clone(), rt);
        Ok(())
    }

    /// Starts `simple_switch_grpc` for switch number `index` on veth pairs
    /// for `ports`, its frames routed as the in-process switches' are.
    fn spawn_bmv2(
        &self,
        bin: &Path,
        tag: u32,
        index: usize,
        sw: &Switch,
        ports: &[u32],
    ) -> Result<(), LabError> {
        let h = self.handle.clone();
        let name = sw.name.clone();
        let on_frame: crate::bmv2net::OnFrame =
            Arc::new(move |port: u32, frame: &[u8]| h.route(&name, port, frame));
        let bmv2 = Bmv2Switch::start(bin, tag, index, sw, ports, on_frame)?;
        let node = Node {
            name: sw.name.clone(),
            device_id: sw.device_id,
            cpu_port: u32::from(sw.cpu_port),
            uplink_port: u32::from(sw.uplink_port),
            addr: bmv2.addr,
            device: Device::Bmv2(Arc::new(bmv2)),
        };
        self.handle
            .0
            .nodes
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(sw.name.clone(), node);
        Ok(())
    }

    /// Kills switch `switch` — its server, connections, tables and meters
    /// — and starts a fresh one, without a pipeline, on the same address:
    /// a switch restart as its controller sees it.
    ///
    /// # Errors
    /// [`LabError::Io`] when the address cannot be bound again.
    pub fn restart(&self, switch: &str) -> Result<(), LabError> {
        if matches!(
            self.handle.node(switch),
            Some(Node {
                device: Device::Bmv2(_),
                ..
            })
        ) {
            return Err(std::io::Error::other(format!(
                "{switch} is a BMv2 switch: the lab restarts only its own switches"
            ))
            .into());
        }
        let sw = self
            .switches
            .get(switch)
            .cloned()
            .ok_or_else(|| std::io::Error::other(format!("no switch {switch}")))?;
        let addr = self
            .handle
            .node(switch)
            .map(|n| n.addr)
            .ok_or_else(|| std::io::Error::other(format!("no switch {switch}")))?;
        let mut runtimes = self.runtimes.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(ServerRt::Shared(_)) = runtimes.get(switch) {
            return Err(std::io::Error::other(format!(
                "{switch}'s server runs on the shared runtime: the lab restarts only switches with their own"
            ))
            .into());
        }
        let old = runtimes.remove(switch);
        drop(runtimes);
        if let Some(ServerRt::Own(rt)) = old {
            // Off any async context: a runtime cannot be shut down from
            // inside another's.
            let _ = std::thread::spawn(move || rt.shutdown_timeout(Duration::from_secs(1))).join();
        }
        self.spawn(&sw, addr, None)
    }

    pub fn handle(&self) -> LabHandle {
        self.handle.clone()
    }

    pub fn nodes(&self) -> Vec<Node> {
        self.handle
            .0
            .nodes
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    pub fn node(&self, switch: &str) -> Option<Node> {
        self.handle.node(switch)
    }

    /// Frames the core could not deliver.
    pub fn undeliverable(&self) -> u64 {
        self.handle.0.undeliverable.load(Ordering::Relaxed)
    }

    /// Writes `pcap/<switch>-port<N>.pcap` under `dir` for every port that
    /// saw a frame, each file written whole then renamed into place.
    ///
    /// # Errors
    /// [`LabError::Write`] naming the file.
    pub fn write_pcaps(&self, dir: &Path) -> Result<Vec<String>, LabError> {
        let pcap_dir = dir.join("pcap");
        let werr = |path: &Path, error: std::io::Error| LabError::Write {
            path: path.display().to_string(),
            error,
        };
        std::fs::create_dir_all(&pcap_dir).map_err(|e| werr(&pcap_dir, e))?;
        let captures = self
            .handle
            .0
            .captures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut written = Vec::new();
        for ((switch, port), frames) in captures {
            let name = format!("{switch}-port{port}.pcap");
            let path = pcap_dir.join(&name);
            let tmp = pcap_dir.join(format!(".{name}.tmp"));
            let buf = pcap_bytes(&frames).map_err(|e| werr(&path, e))?;
            std::fs::File::create(&tmp)
                .and_then(|mut file| file.write_all(&buf))
                .and_then(|()| std::fs::rename(&tmp, &path))
                .map_err(|e| werr(&path, e))?;
            written.push(format!("pcap/{name}"));
        }
        Ok(written)
    }

    /// Stops the servers and the links.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.handle.0.stopping.store(true, Ordering::Relaxed);
        self.handle.0.held_changed.notify_all();
        let runtimes =
            std::mem::take(&mut *self.runtimes.lock().unwrap_or_else(|e| e.into_inner()));
        for rt in runtimes.into_values() {
            match rt {
                ServerRt::Own(rt) => rt.shutdown_background(),
                // Its connections end with their clients.
                ServerRt::Shared(task) => task.abort(),
            }
        }
        // The link threads end when their switches (and so the senders)
        // are gone; they are not waited for, as hosts may hold handles.
        self.handle
            .0
            .nodes
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Frames as a pcap file (microsecond timestamps, Ethernet).
pub fn pcap_bytes(frames: &[Captured]) -> std::io::Result<Vec<u8>> {
    use pcap_file::pcap::{PcapPacket, PcapWriter};
    let io = |e: pcap_file::PcapError| std::io::Error::other(e.to_string());
    let mut w = PcapWriter::new(Vec::new()).map_err(io)?;
    for f in frames {
        let len = u32::try_from(f.frame.len()).unwrap_or(u32::MAX);
        w.write_packet(&PcapPacket::new(f.at, len, &f.frame))
            .map_err(io)?;
    }
    Ok(w.into_writer())
}
