//! Network cases: a whole policy (DC switches, edge switches, a
//! controller per switch over real P4Runtime, simulated clients and
//! servers) run through a timeline of mission events, and the frames that
//! left every switch port compared with `expected/<switch>-<port>.pcap`.
//!
//! ```toml
//! description = """What the case proves, and how its expectation was checked."""
//!
//! [network]
//! policy = "policy.fsp"      # beside the case (or example = "NAME": examples/NAME.fsp)
//! epoch = 1                  # the DC agents' epoch, carried in every tally (default 1)
//! quiet_ms = 300             # how long no frame may move for a step to be over (default 300)
//!
//! [[timeline]]               # a client behind edge e1 asks for service web
//! request = { edge = "e1", service = "web" }
//! sends = { "dc1-sw:3" = 2 }  # optional: frames leaving each port during this step
//!
//! [[timeline]]               # the server of request 1 tears its flow down now
//! end = 1
//!
//! [expect]
//! flows = ["ended"]          # each request's flow at the end, in request order
//! releases = 1               # release → flow Path pairs on the DC uplinks
//! grows = 1                  # grown aggregate → PathTear pairs on the DC uplinks
//! routes = [{ dc = "dc1", edge = "e1", offered_bps = 1000000000, used_bps = 0, admitted = 1, rejected = 0 }]
//! ```
//!
//! How a case runs ([`run`]): the policy is compiled in-process and
//! started as a [`Demo`] — a fairshare switch per switch of the policy on
//! in-process links, and a controller per switch over gRPC on loopback.
//! First the offers (every route's aggregate Path and the edge's Resv),
//! then each timeline event in turn; after each one (and after the start)
//! the runner waits until the network is quiet: no frame moved for
//! `quiet_ms` and no flow waits for its server's answer.
//!
//! Invariants that make a run reproducible, frame for frame:
//! * Nothing periodic fires during a case: the agents' and the servers'
//!   refresh periods, the servers' hold time and the recalculation period
//!   are an hour ([`LONG`]), so flows end only by an `end` event; the
//!   simulated servers send no data (its amount would follow the wall
//!   clock).
//! * The DC agents' epoch is the case's, not the wall clock's.
//! * Client ports come from the simulation's counter, so the same events
//!   in the same order give the same frames.
//! * Frames are compared per port, in order, byte for byte; their times
//!   are not (the wall-clock timing of gRPC is not reproducible). The
//!   expected pcaps carry a made-up time instead: step `s`, frame `k` of
//!   the step on that port at `s` seconds + `k` milliseconds, so that
//!   Wireshark shows which step sent what (step 0 is the start).
//! * Order across ports is not compared; within a DC uplink it is, and
//!   besides the golden files every run checks it by decoding the RSVP
//!   ([`order_problems`]): each new flow's forwarded Path is right behind
//!   the release (the aggregate Path whose tally grew by the flow's rate),
//!   and each forwarded PathTear right behind the grown aggregate Path.
//! * Every run also checks that both ends' tallies agree, that no write
//!   broke the reservation invariant and that the core delivered every
//!   frame.

use crate::pcap::{self, Packet};
use crate::report::port_diff;
use crate::{Error, Verdict};
use fairshare_controller::agent::wire::Tally;
use fairshare_controller::demo::{Demo, DemoConfig, RouteLine};
use fairshare_controller::deploy::Deployment;
use fairshare_controller::lab::Backend;
use fairshare_controller::sim::{FlowState, SimConfig};
use fairshare_rsvp::{Body, Message};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The period of everything periodic during a case: longer than any case.
pub const LONG: Duration = Duration::from_secs(3600);

/// `case.toml` of a network case, as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkCaseFile {
    pub description: String,
    pub network: NetworkSpec,
    #[serde(default)]
    pub timeline: Vec<StepSpec>,
    #[serde(default)]
    pub expect: NetworkExpect,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSpec {
    /// A policy file, relative to the case's folder.
    pub policy: Option<String>,
    /// The name of a policy in `examples/`.
    pub example: Option<String>,
    /// The DC agents' epoch (default 1).
    pub epoch: Option<u32>,
    /// Milliseconds without a frame that end a step (default 300).
    pub quiet_ms: Option<u64>,
}

/// One mission event, as written: exactly one of `request` and `end`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepSpec {
    pub request: Option<RequestSpec>,
    /// The number (1, 2, …) of the request whose flow its server ends now.
    pub end: Option<usize>,
    /// Frames that must leave each port (`"switch:port"`) during this
    /// step; ports not listed must send nothing. Written by hand.
    pub sends: Option<BTreeMap<String, usize>>,
    /// Free text: why this event is here.
    pub note: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestSpec {
    pub edge: String,
    pub service: String,
}

/// What a network case asserts beyond its expected pcaps (all written by
/// hand, never by `--bless`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkExpect {
    /// Each request's flow at the end, in request order: `pending`,
    /// `admitted`, `rejected` or `ended`.
    pub flows: Option<Vec<String>>,
    /// How many release → forwarded flow Path pairs the DC uplinks carry.
    pub releases: Option<usize>,
    /// How many grown aggregate Path → forwarded PathTear pairs.
    pub grows: Option<usize>,
    /// Routes as the DC sees them (the edge must agree).
    #[serde(default)]
    pub routes: Vec<RouteExpect>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteExpect {
    pub dc: String,
    pub edge: String,
    pub offered_bps: Option<u64>,
    pub used_bps: Option<u64>,
    pub admitted: Option<u64>,
    pub rejected: Option<u64>,
    pub flows: Option<usize>,
}

/// A mission event, checked.
#[derive(Debug, Clone)]
pub enum Step {
    /// A client behind edge `edge` asks for service `service` (indices in
    /// the policy).
    Request { edge: usize, service: usize },
    /// The server of request `n` (0-based) ends its flow.
    End(usize),
}

/// A network case read and checked.
#[derive(Debug)]
pub struct NetworkCase {
    pub name: String,
    pub dir: PathBuf,
    pub description: String,
    pub policy_file: PathBuf,
    pub deployment: Deployment,
    pub epoch: u32,
    pub quiet: Duration,
    pub steps: Vec<Step>,
    /// Per step, the frames each port must send, when the case says.
    pub sends: Vec<Option<BTreeMap<(String, u32), usize>>>,
    pub expect: NetworkExpect,
}

/// Whether `<dir>/case.toml` describes a network case (it has a
/// `[network]` table). A file that does not read is not one: reading it
/// as a packet case reports why.
pub fn is_network(dir: &Path) -> bool {
    #[derive(Deserialize)]
    struct Peek {
        network: Option<serde::de::IgnoredAny>,
    }
    std::fs::read_to_string(dir.join("case.toml"))
        .ok()
        .and_then(|t| basic_toml::from_str::<Peek>(&t).ok())
        .is_some_and(|p| p.network.is_some())
}

impl NetworkCase {
    /// Reads `<dir>/case.toml` and compiles its policy.
    pub fn read(dir: &Path, suite: &Path) -> Result<NetworkCase, Error> {
        let file = dir.join("case.toml");
        let text = std::fs::read_to_string(&file).map_err(|e| Error::Io {
            path: file.clone(),
            source: e,
        })?;
        let bad = |place: &str, message: String| Error::BadCase {
            file: file.clone(),
            place: place.to_owned(),
            message,
        };
        let cf: NetworkCaseFile =
            basic_toml::from_str(&text).map_err(|e| bad("the TOML", e.to_string()))?;
        if cf.description.trim().is_empty() {
            return Err(bad(
                "description",
                "expected what the case proves and how its output was checked, found nothing"
                    .into(),
            ));
        }
        let policy_file = match (&cf.network.policy, &cf.network.example) {
            (Some(p), None) => dir.join(p),
            (None, Some(e)) => suite.join("../examples").join(format!("{e}.fsp")),
            _ => {
                return Err(bad(
                    "network",
                    "expected exactly one of `policy` and `example`".into(),
                ))
            }
        };
        let src = std::fs::read_to_string(&policy_file).map_err(|e| Error::Io {
            path: policy_file.clone(),
            source: e,
        })?;
        let name_of_file = policy_file.display().to_string();
        let (_, policy) = fairshare_policy::load(&src).map_err(|d| Error::Policy {
            file: policy_file.clone(),
            rendered: fairshare_policy::render(&d, &name_of_file, &src),
        })?;
        let deployment = Deployment::build(policy).map_err(|e| Error::Pipeline {
            file: policy_file.clone(),
            message: e.to_string(),
        })?;
        let policy = deployment.policy.clone();
        let mut steps = vec![];
        let mut sends = vec![];
        let mut requests = 0usize;
        for (i, s) in cf.timeline.iter().enumerate() {
            let place = format!("timeline[{i}]");
            let step = match (&s.request, s.end) {
                (Some(r), None) => {
                    let edge = policy
                        .edges
                        .iter()
                        .position(|e| e.name == r.edge)
                        .ok_or_else(|| {
                            bad(
                                &place,
                                format!(
                                    "expected an edge of the policy ({}), found `{}`",
                                    names(policy.edges.iter().map(|e| &e.name)),
                                    r.edge
                                ),
                            )
                        })?;
                    let service = policy
                        .services
                        .iter()
                        .position(|x| x.name == r.service)
                        .ok_or_else(|| {
                            bad(
                                &place,
                                format!(
                                    "expected a service of the policy ({}), found `{}`",
                                    names(policy.services.iter().map(|s| &s.name)),
                                    r.service
                                ),
                            )
                        })?;
                    requests += 1;
                    Step::Request { edge, service }
                }
                (None, Some(n)) => {
                    if n == 0 || n > requests {
                        return Err(bad(
                            &place,
                            format!(
                                "`end` names a request by its number: expected 1 to {requests}, found {n}"
                            ),
                        ));
                    }
                    Step::End(n - 1)
                }
                _ => {
                    return Err(bad(
                        &place,
                        "expected exactly one of `request` and `end`".into(),
                    ))
                }
            };
            steps.push(step);
            let parsed = match &s.sends {
                None => None,
                Some(m) => {
                    let mut out = BTreeMap::new();
                    for (k, v) in m {
                        let key = port_key(k).ok_or_else(|| {
                            bad(
                                &format!("{place}.sends"),
                                format!("expected `switch:port`, found `{k}`"),
                            )
                        })?;
                        if !policy.switches().any(|s| s.name == key.0) {
                            return Err(bad(
                                &format!("{place}.sends"),
                                format!("no switch `{}` in the policy", key.0),
                            ));
                        }
                        out.insert(key, *v);
                    }
                    Some(out)
                }
            };
            sends.push(parsed);
        }
        if let Some(f) = &cf.expect.flows {
            if f.len() != requests {
                return Err(bad(
                    "expect.flows",
                    format!(
                        "expected one state per request ({requests}), found {}",
                        f.len()
                    ),
                ));
            }
            for s in f {
                if state(s).is_none() {
                    return Err(bad(
                        "expect.flows",
                        format!("expected pending, admitted, rejected or ended, found `{s}`"),
                    ));
                }
            }
        }
        Ok(NetworkCase {
            name: dir
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_owned(),
            dir: dir.to_path_buf(),
            description: cf.description,
            policy_file,
            deployment,
            epoch: cf.network.epoch.unwrap_or(1),
            quiet: Duration::from_millis(cf.network.quiet_ms.unwrap_or(300)),
            steps,
            sends,
            expect: cf.expect,
        })
    }
}

fn names<'a>(it: impl Iterator<Item = &'a String>) -> String {
    it.map(String::as_str).collect::<Vec<_>>().join(", ")
}

/// `dc1-sw:3` → (`dc1-sw`, 3).
fn port_key(text: &str) -> Option<(String, u32)> {
    let (sw, port) = text.rsplit_once(':')?;
    Some((sw.to_owned(), port.parse().ok()?))
}

fn state(text: &str) -> Option<FlowState> {
    Some(match text {
        "pending" => FlowState::Pending,
        "admitted" => FlowState::Admitted,
        "rejected" => FlowState::Rejected,
        "ended" => FlowState::Ended,
        _ => return None,
    })
}

fn state_name(s: FlowState) -> &'static str {
    match s {
        FlowState::Pending => "pending",
        FlowState::Admitted => "admitted",
        FlowState::Rejected => "rejected",
        FlowState::Ended => "ended",
    }
}

/// Frames by (switch, port).
pub type PortFrames = BTreeMap<(String, u32), Vec<Packet>>;

/// What a network run did.
#[derive(Debug, Clone, Default)]
pub struct NetworkRun {
    /// The frames that left each (switch, port), in order, with the
    /// made-up times of the module doc. Every port that saw a frame is
    /// here, possibly with nothing sent.
    pub outputs: PortFrames,
    /// Per step (0 = the start), the frames each port sent.
    pub sent_per_step: Vec<BTreeMap<(String, u32), usize>>,
    /// Each request's flow at the end, in request order.
    pub flows: Vec<FlowState>,
    pub routes: Vec<RouteLine>,
    pub invariant_violations: u64,
    pub undeliverable_frames: u64,
    pub tally_mismatches: u64,
    /// Steps that did not go quiet, or events that could not happen.
    pub problems: Vec<String>,
    /// The DC uplinks, for the order check: (switch, port).
    pub dc_uplinks: Vec<(String, u32)>,
    /// How many times the network was started (see [`run`]).
    pub starts: usize,
}

/// The DemoConfig of a case: nothing periodic fires, the epoch is fixed.
pub fn demo_config(epoch: u32) -> DemoConfig {
    DemoConfig {
        refresh: LONG,
        tick: Duration::from_millis(20),
        sim: SimConfig {
            hold: LONG,
            refresh: LONG,
            payload: 0,
        },
        sim_tick: Duration::from_millis(50),
        recalc: Some(LONG),
        epoch: Some(epoch),
        ..DemoConfig::default()
    }
}

/// Runs a network case on fairshare switches.
///
/// The controllers start together, so the DC's offer may reach an edge
/// switch whose pipeline is not there yet and be lost (the real network
/// repairs this at the next refresh, an hour away here). A start counts
/// only when every offer was answered within 5 s; otherwise the network
/// is stopped and started afresh, at most [`START_ATTEMPTS`] times. The
/// frames of a discarded start are not compared.
pub fn run(case: &NetworkCase) -> Result<NetworkRun, Error> {
    run_with(case, &Backend::Fairshare)
}

/// [`run`] on the switches of `backend`: with
/// [`Backend::Bmv2`], a `simple_switch_grpc` per switch in a network
/// namespace of its own, joined through veth pairs (needs root).
pub fn run_with(case: &NetworkCase, backend: &Backend) -> Result<NetworkRun, Error> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::Network(format!("starting a runtime: {e}")))?;
    rt.block_on(run_async(case, backend))
}

/// How long a step may take to go quiet.
const STEP_TIMEOUT: Duration = Duration::from_secs(15);

async fn run_async(case: &NetworkCase, backend: &Backend) -> Result<NetworkRun, Error> {
    let mut attempt = 1;
    let demo = loop {
        let config = DemoConfig {
            backend: backend.clone(),
            ..demo_config(case.epoch)
        };
        let demo = Demo::start(case.deployment.clone(), config)
            .await
            .map_err(|e| {
                Error::Network(format!("{}: the network did not start: {e}", case.name))
            })?;
        // No data: its amount would follow the wall clock.
        demo.sim.set_data(false);
        if offers_answered(&demo).await {
            break demo;
        }
        // The controllers start together, so a DC's offer can reach an
        // edge switch that has no pipeline yet and be lost; the next
        // refresh (an hour away) would repair it. The network starts
        // again instead.
        let routes = demo.report().routes;
        demo.stop().await;
        if attempt == START_ATTEMPTS {
            return Err(Error::Network(format!(
                "{}: in {START_ATTEMPTS} starts, the offers were never answered by the edges: {routes:?}",
                case.name
            )));
        }
        attempt += 1;
    };
    let policy = demo.deployment.policy.clone();
    let switches: Vec<String> = policy.switches().map(|s| s.name.clone()).collect();
    let mut run = NetworkRun {
        dc_uplinks: policy
            .datacenters
            .iter()
            .map(|d| (d.switch.name.clone(), u32::from(d.switch.uplink_port)))
            .collect(),
        starts: attempt,
        ..NetworkRun::default()
    };
    let mut seen: BTreeMap<(String, u32), usize> = BTreeMap::new();
    let mut requests: Vec<(Ipv4Addr, u16)> = vec![];
    let mut step_problem = quiesce(&demo, case.quiet).await;
    run.problems
        .extend(step_problem.map(|p| format!("start: {p}")));
    run.sent_per_step
        .push(take_step(&demo, &switches, 0, &mut seen, &mut run.outputs));
    for (i, step) in case.steps.iter().enumerate() {
        let place = format!("timeline[{i}]");
        match step {
            Step::Request { edge, service } => match demo.request(*edge, *service) {
                Some(c) => requests.push(c),
                None => run
                    .problems
                    .push(format!("{place}: the request could not be made")),
            },
            Step::End(n) => match requests.get(*n) {
                Some((client, port)) if demo.end_flow(*client, *port) => {}
                _ => run.problems.push(format!(
                    "{place}: request {} has no live flow to end",
                    n + 1
                )),
            },
        }
        step_problem = quiesce(&demo, case.quiet).await;
        run.problems
            .extend(step_problem.map(|p| format!("{place}: {p}")));
        run.sent_per_step.push(take_step(
            &demo,
            &switches,
            i + 1,
            &mut seen,
            &mut run.outputs,
        ));
    }
    let flows = demo.sim.flows();
    run.flows = requests
        .iter()
        .map(|(c, p)| {
            flows
                .iter()
                .find(|f| f.client == *c && f.client_port == *p)
                .map_or(FlowState::Pending, |f| f.state)
        })
        .collect();
    for sw in &switches {
        if let Some(st) = demo.status(sw) {
            if st.write_failures > 0 || st.invariant_violations > 0 {
                run.problems.push(format!(
                    "the controller of {sw} had {} failed writes; the last error: {}",
                    st.write_failures,
                    st.last_error.as_deref().unwrap_or("none")
                ));
            }
        }
    }
    let report = demo.stop().await;
    run.routes = report.routes;
    run.invariant_violations = report.invariant_violations;
    run.undeliverable_frames = report.undeliverable_frames;
    run.tally_mismatches = report.switches.iter().map(|s| s.tally_mismatches).sum();
    Ok(run)
}

/// How many times a case may start its network (see [`run`]).
pub const START_ATTEMPTS: usize = 3;

/// Waits until every DC holds its edges' Resv for its offer, and every
/// edge holds the offer (its tally agrees); false after 5 s.
async fn offers_answered(demo: &Demo) -> bool {
    let policy = demo.deployment.policy.clone();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let dcs_answered = policy.datacenters.iter().all(|d| {
            demo.status(&d.switch.name).is_some_and(|s| {
                !s.routes.is_empty()
                    && s.routes
                        .iter()
                        .all(|r| r.resv_bps.is_some_and(|b| b == r.offered_bps))
            })
        });
        let r = demo.report();
        let edges_agree = !r.routes.is_empty() && r.routes.iter().all(|x| x.tally_equal);
        if dcs_answered && edges_agree {
            return true;
        }
        if tokio::time::Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits until no frame moved for `quiet` and no flow waits for its
/// server's answer; `Some(why)` when that does not happen in time.
async fn quiesce(demo: &Demo, quiet: Duration) -> Option<String> {
    let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
    let lab = demo.lab();
    let switches: Vec<String> = demo
        .deployment
        .policy
        .switches()
        .map(|s| s.name.clone())
        .collect();
    let count = || -> usize {
        switches
            .iter()
            .flat_map(|s| lab.ports(s).into_iter().map(move |p| (s, p)))
            .map(|(s, p)| lab.captured(s, p).len())
            .sum()
    };
    let mut last = count();
    let mut since = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(10)).await;
        let now = count();
        if now != last {
            last = now;
            since = tokio::time::Instant::now();
        }
        let pending = demo
            .sim
            .flows()
            .iter()
            .filter(|f| f.state == FlowState::Pending)
            .count();
        if pending == 0 && since.elapsed() >= quiet {
            return None;
        }
        if tokio::time::Instant::now() > deadline {
            return Some(format!(
                "not quiet after {STEP_TIMEOUT:?} ({pending} flows without an answer)"
            ));
        }
    }
}

/// Moves the frames that left each port since the last step into
/// `outputs`, timed `step` s + `k` ms; the count per port.
fn take_step(
    demo: &Demo,
    switches: &[String],
    step: usize,
    seen: &mut BTreeMap<(String, u32), usize>,
    outputs: &mut BTreeMap<(String, u32), Vec<Packet>>,
) -> BTreeMap<(String, u32), usize> {
    let lab = demo.lab();
    let mut sent = BTreeMap::new();
    for s in switches {
        for port in lab.ports(s) {
            let key = (s.clone(), port);
            let out: Vec<Vec<u8>> = lab
                .captured(s, port)
                .into_iter()
                .filter(|c| c.out)
                .map(|c| c.frame)
                .collect();
            let from = seen.get(&key).copied().unwrap_or(0);
            let list = outputs.entry(key.clone()).or_default();
            for (k, frame) in out.iter().skip(from).enumerate() {
                list.push(Packet {
                    at_us: step as u64 * 1_000_000 + k as u64 * 1_000,
                    frame: frame.clone(),
                });
            }
            if out.len() > from {
                sent.insert(key.clone(), out.len() - from);
            }
            seen.insert(key, out.len());
        }
    }
    sent
}

/// An RSVP message in a frame, if it holds one.
fn rsvp(frame: &[u8]) -> Option<Message> {
    let v = fairshare_rsvp::frame::parse_frame(frame).ok()?;
    Message::parse(v.rsvp).ok()
}

/// What the order check found on the DC uplinks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Order {
    /// Release → forwarded Path pairs in order.
    pub releases: usize,
    /// Grown aggregate Path → forwarded PathTear pairs in order.
    pub grows: usize,
    /// What is out of order, one line each.
    pub problems: Vec<String>,
}

/// Checks the controller's order on one DC uplink's frames (in the order
/// they left): the first Path of each flow session must come right behind
/// (as the next RSVP message) an aggregate Path announcing a change whose
/// tally's `used` grew by the flow's rate; each forwarded PathTear right
/// behind an aggregate Path whose `used` shrank by it.
pub fn order_problems(frames: &[Packet]) -> Order {
    let mut o = Order::default();
    // The last tally announced per aggregate session (edge address).
    let mut tallies: BTreeMap<std::net::IpAddr, Tally> = BTreeMap::new();
    let mut flows_seen: BTreeSet<(std::net::IpAddr, u8, u16)> = BTreeSet::new();
    let mut rates: BTreeMap<(std::net::IpAddr, u8, u16), u64> = BTreeMap::new();
    // The aggregate Path just before, if the previous RSVP message was one:
    // (its tally, the tally before it).
    let mut previous: Option<(std::net::IpAddr, Tally, Option<Tally>)> = None;
    for (i, p) in frames.iter().enumerate() {
        let Some(m) = rsvp(&p.frame) else {
            continue;
        };
        let n = i + 1;
        let s = *m.session();
        match &m.body {
            Body::Path(path) if s.protocol == 0 => {
                let Some(t) = Tally::from_policy_data(&path.policy_data) else {
                    o.problems
                        .push(format!("frame {n}: an aggregate Path without a tally"));
                    previous = None;
                    continue;
                };
                let before = tallies.insert(s.dest, t);
                previous = Some((s.dest, t, before));
                continue;
            }
            Body::Path(path) => {
                let key = (s.dest, s.protocol, s.port);
                let rate = path
                    .sender
                    .as_ref()
                    .map(|d| (f64::from(d.tspec.rate) * 8.0).round() as u64)
                    .unwrap_or(0);
                if flows_seen.insert(key) {
                    rates.insert(key, rate);
                    match previous {
                        Some((_, t, before))
                            if t.change
                                && within(
                                    t.used_bps
                                        .saturating_sub(before.map_or(0, |b| b.used_bps)),
                                    rate,
                                ) =>
                        {
                            o.releases += 1
                        }
                        _ => o.problems.push(format!(
                            "frame {n}: the first Path of flow {}:{} ({rate} b/s) is not right behind a release that makes room for it",
                            s.dest, s.port
                        )),
                    }
                }
            }
            Body::PathTear(_) if s.protocol != 0 => {
                let key = (s.dest, s.protocol, s.port);
                let rate = rates.get(&key).copied().unwrap_or(0);
                match previous {
                    Some((_, t, Some(before)))
                        if t.change
                            && within(before.used_bps.saturating_sub(t.used_bps), rate) =>
                    {
                        o.grows += 1
                    }
                    _ => o.problems.push(format!(
                        "frame {n}: the PathTear of flow {}:{} is not right behind the aggregate Path that grows by its {rate} b/s",
                        s.dest, s.port
                    )),
                }
            }
            _ => {}
        }
        previous = None;
    }
    o
}

/// Rates compared as SENDER_TSPEC's f32 can carry them (within 1 ppm).
fn within(a: u64, b: u64) -> bool {
    a.abs_diff(b) <= b / 1_000_000 + 8
}

/// The expected pcaps of a network case, by (switch, port); `None` when
/// the case was never blessed.
pub fn read_expected(case: &NetworkCase) -> Result<Option<PortFrames>, Error> {
    let dir = case.dir.join("expected");
    if !dir.is_dir() {
        return Ok(None);
    }
    let io = |e| Error::Io {
        path: dir.clone(),
        source: e,
    };
    let mut m = BTreeMap::new();
    for e in std::fs::read_dir(&dir).map_err(io)? {
        let path = e.map_err(io)?.path();
        let Some(key) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".pcap"))
            .and_then(|n| {
                let (sw, port) = n.rsplit_once('-')?;
                Some((sw.to_owned(), port.parse::<u32>().ok()?))
            })
        else {
            continue;
        };
        let data = std::fs::read(&path).map_err(|e| Error::Io {
            path: path.clone(),
            source: e,
        })?;
        let packets = pcap::read(&data).map_err(|message| Error::Pipeline {
            file: path.clone(),
            message,
        })?;
        m.insert(key, packets);
    }
    Ok(Some(m))
}

/// Writes `expected/<switch>-<port>.pcap` from a run (after review);
/// stale files go.
pub fn bless(case: &NetworkCase, run: &NetworkRun) -> Result<(), Error> {
    let files: Vec<(String, Vec<Packet>)> = run
        .outputs
        .iter()
        .map(|((sw, port), packets)| (format!("{sw}-{port}"), packets.clone()))
        .collect();
    crate::write_pcap_dir(&case.dir.join("expected"), &files)
}

/// Judges a run against the case's files and expectations.
pub fn check(case: &NetworkCase, run: &NetworkRun) -> Result<Verdict, Error> {
    let mut v = Verdict::default();
    v.failures.extend(run.problems.iter().cloned());
    match read_expected(case)? {
        None => v.failures.push(
            "no expected/ folder: run with --bless, then check every output (tshark or the decoded report)".into(),
        ),
        Some(expected) => {
            let keys: BTreeSet<&(String, u32)> =
                expected.keys().chain(run.outputs.keys()).collect();
            let none = vec![];
            for key in keys {
                let want = expected.get(key).unwrap_or(&none);
                let got = run.outputs.get(key).unwrap_or(&none);
                let text = port_diff(want, got, None, false);
                if !text.is_empty() {
                    let file = if expected.contains_key(key) {
                        format!("expected/{}-{}.pcap", key.0, key.1)
                    } else {
                        "no expected file: nothing expected".into()
                    };
                    v.failures.push(format!(
                        "{} port {} ({file}; {} expected, {} sent):\n{text}",
                        key.0,
                        key.1,
                        want.len(),
                        got.len()
                    ));
                }
            }
        }
    }
    // The controller's order on every DC uplink.
    let mut releases = 0;
    let mut grows = 0;
    for key in &run.dc_uplinks {
        let o = order_problems(run.outputs.get(key).map_or(&[][..], |x| &x[..]));
        releases += o.releases;
        grows += o.grows;
        for p in o.problems {
            v.failures
                .push(format!("{} port {} (order): {p}", key.0, key.1));
        }
    }
    if let Some(want) = case.expect.releases {
        if want != releases {
            v.failures.push(format!(
                "expected {want} releases ahead of flow Paths on the DC uplinks, found {releases}"
            ));
        }
    }
    if let Some(want) = case.expect.grows {
        if want != grows {
            v.failures.push(format!(
                "expected {want} grown aggregates ahead of PathTears on the DC uplinks, found {grows}"
            ));
        }
    }
    for (i, sends) in case.sends.iter().enumerate() {
        let Some(want) = sends else { continue };
        let got = run.sent_per_step.get(i + 1).cloned().unwrap_or_default();
        let keys: BTreeSet<&(String, u32)> = want.keys().chain(got.keys()).collect();
        for k in keys {
            let (w, g) = (
                want.get(k).copied().unwrap_or(0),
                got.get(k).copied().unwrap_or(0),
            );
            if w != g {
                v.failures.push(format!(
                    "timeline[{i}]: {}:{} sent {g} frames during the step, expected {w}",
                    k.0, k.1
                ));
            }
        }
    }
    if let Some(want) = &case.expect.flows {
        let got: Vec<&str> = run.flows.iter().map(|s| state_name(*s)).collect();
        if *want != got {
            v.failures.push(format!(
                "flows: expected {}, got {}",
                want.join(", "),
                got.join(", ")
            ));
        }
    }
    for r in &run.routes {
        if !r.tally_equal {
            v.failures.push(format!(
                "route {} → {}: the tallies differ (DC offered {} used {}, edge offered {} used {})",
                r.dc, r.edge, r.offered_bps, r.used_bps, r.edge_offered_bps, r.edge_used_bps
            ));
        }
    }
    for want in &case.expect.routes {
        let Some(r) = run
            .routes
            .iter()
            .find(|r| r.dc == want.dc && r.edge == want.edge)
        else {
            v.failures
                .push(format!("route {} → {}: not in the run", want.dc, want.edge));
            continue;
        };
        let mut check = |what: &str, w: Option<u64>, g: u64| {
            if let Some(w) = w.filter(|w| *w != g) {
                v.failures.push(format!(
                    "route {} → {}: {what}: expected {w}, got {g}",
                    r.dc, r.edge
                ));
            }
        };
        check("offered_bps", want.offered_bps, r.offered_bps);
        check("used_bps", want.used_bps, r.used_bps);
        check("admitted", want.admitted, r.admitted);
        check("rejected", want.rejected, r.rejected);
        check("flows", want.flows.map(|f| f as u64), r.flows as u64);
    }
    if run.invariant_violations > 0 {
        v.failures.push(format!(
            "{} writes would have reserved more than the offer",
            run.invariant_violations
        ));
    }
    if run.undeliverable_frames > 0 {
        v.failures.push(format!(
            "the core could not deliver {} frames",
            run.undeliverable_frames
        ));
    }
    if run.tally_mismatches > 0 {
        v.failures.push(format!(
            "the edges saw {} tally mismatches",
            run.tally_mismatches
        ));
    }
    Ok(v)
}
