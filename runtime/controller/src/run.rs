//! A running controller: one switch's [`Session`] and [`Agent`], carrying
//! the agent's actions to the switch in order, until told to stop.
//!
//! ```text
//!   packet-in ──> Agent::packet_in ─┐
//!   timer ──────> Agent::tick ──────┼─> actions, one at a time:
//!   recalc ─────> Agent::reoffer ───┘     PacketOut ─> StreamChannel
//!                                         Write(change) ─> guard ─> WriteRequest (acknowledged)
//!   stream lost ─> reconnect (backoff) ─> pipeline again if lost ─> resync
//! ```
//!
//! Invariants:
//! * The actions of one agent call are carried out in their order, each
//!   write acknowledged before the next action; when one fails the rest of
//!   that call's actions are not carried out (they depend on it), the
//!   failure is counted and logged, and the next refresh repairs the state.
//! * Every write passes the session's guard against the agent's offers: a
//!   write that would leave a route cell reserving more than it is offered
//!   is refused and counted, never sent.
//! * Without primary status nothing is written or sent; the controller
//!   says so, and resynchronises when the device makes it primary again.
//! * The status ([`StatusHandle`]) is updated after every event, so that a
//!   report can be taken at any time.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fairshare_p4rt::client::Mastership;
use fairshare_p4rt::proto::p4::v1 as p4;
use fairshare_policy::model::Policy;
use tokio::sync::watch;

use crate::agent::{Action, Agent, Change, RouteReport, Stats};
use crate::lab::port_mac;
use crate::session::{Event, Session, SessionConfig, SessionError, WriteLog};
use crate::writes::{MeterGrain, Program, WriteError};

/// New shares `(dc, edge, b/s)` from a recalculation, or `None` to keep
/// the current ones (e.g. the policy file did not change, or no longer
/// parses: the error is the callback's to report).
pub type Recalc = Box<dyn FnMut() -> Option<Vec<(String, String, u64)>> + Send>;

/// How a controller runs.
pub struct ControllerConfig {
    pub session: SessionConfig,
    /// The switch's initial rules, as updates.
    pub initial: Vec<p4::Update>,
    /// The policy the agent was made from (for the edge's choice of DC:
    /// which MAC leads to which DC).
    pub policy: Arc<Policy>,
    /// How often the agent's timers are looked at.
    pub tick: Duration,
    /// The recalculation period and what computes new shares.
    pub recalc: Option<(Duration, Recalc)>,
    /// Records every write, when given.
    pub log: Option<WriteLog>,
    /// How the switch keeps byte-meter values (Tofino: whole kilobits);
    /// the initial updates and every later write are fitted to it.
    pub meter_grain: MeterGrain,
}

/// What a controller has done, for reports.
#[derive(Debug, Clone, Default)]
pub struct Status {
    pub switch: String,
    pub primary: bool,
    pub connected: bool,
    pub routes: Vec<RouteReport>,
    pub stats: Stats,
    pub packet_ins: u64,
    pub packet_outs: u64,
    pub writes: u64,
    pub write_failures: u64,
    /// Writes the guard refused (never expected).
    pub invariant_violations: u64,
    pub reconnects: u64,
    pub pipeline_pushes: u64,
    pub resync_updates: u64,
    /// Agent calls whose actions went out in a shared batch.
    pub batched_calls: u64,
    pub last_error: Option<String>,
}

/// A shared view of a controller's [`Status`], and of its intercept
/// latencies.
#[derive(Debug, Clone, Default)]
pub struct StatusHandle(Arc<Mutex<Status>>, Arc<Mutex<Vec<Duration>>>);

/// Intercept latencies kept at most (the oldest half goes first).
const LATENCIES_KEPT: usize = 1 << 20;

impl StatusHandle {
    pub fn new() -> StatusHandle {
        StatusHandle::default()
    }

    pub fn get(&self) -> Status {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn update(&self, f: impl FnOnce(&mut Status)) {
        f(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// The latency of every intercept so far (the latest million), in
    /// order: from the packet-in of a server's Path, as the client took it
    /// off the stream, to the packet-out of the forwarded Path, handed to
    /// the stream once the release is out and both writes are
    /// acknowledged.
    pub fn intercept_latencies(&self) -> Vec<Duration> {
        self.1.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn record_intercept(&self, d: Duration) {
        let mut v = self.1.lock().unwrap_or_else(|e| e.into_inner());
        if v.len() >= LATENCIES_KEPT {
            v.drain(..LATENCIES_KEPT / 2);
        }
        v.push(d);
    }
}

/// Whether a call's actions are an intercept's: a packet-out ahead of its
/// first write (the release), and one after it (the forwarded Path).
fn is_intercept(actions: &[Action]) -> bool {
    let out = |a: &Action| matches!(a, Action::PacketOut { .. });
    actions
        .iter()
        .position(|a| matches!(a, Action::Write(_)))
        .is_some_and(|w| actions[..w].iter().any(out) && actions[w..].iter().any(out))
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error("switch {switch}: {source}")]
    Program {
        switch: String,
        #[source]
        source: WriteError,
    },
}

struct Runner {
    name: String,
    agent: Agent,
    program: Program,
    policy: Arc<Policy>,
    status: StatusHandle,
    start: Instant,
}

/// Runs the controller of one switch until `stop` turns true.
///
/// # Errors
/// [`RunError::Session`] when the first connection fails (after the
/// backoff of the session config) or another controller is primary;
/// [`RunError::Program`] when the pipeline lacks what the controller
/// writes. Later losses of the switch are retried, not returned.
pub async fn run(
    config: ControllerConfig,
    mut agent: Agent,
    status: StatusHandle,
    mut stop: watch::Receiver<bool>,
) -> Result<(), RunError> {
    let name = config.session.name.clone();
    let backoff = config.session.client.backoff.clone();
    status.update(|s| s.switch = name.clone());
    let program_err = |source| RunError::Program {
        switch: name.clone(),
        source,
    };
    let index = fairshare_p4rt::P4InfoIndex::new(config.session.pipeline.p4info.clone())
        .map_err(|e| program_err(WriteError::Program(e)))?;
    let program = Program::new(index)
        .map_err(program_err)?
        .with_grain(config.meter_grain);
    let mut initial = config.initial;
    config
        .meter_grain
        .fit_updates(&config.session.pipeline.p4info, &mut initial);
    let start = Instant::now();
    // What the switch still holds from an earlier run (this controller
    // restarted) is taken over, not written again.
    let (mut session, est) = Session::open_adopting(config.session, &initial, |read| {
        let taken = agent.adopt(start.elapsed(), &program.found(read));
        program.kept(read, &taken)
    })
    .await?;
    session.keep_accounts(program.accounts());
    if let Some(log) = config.log {
        session.record_writes(log);
    }
    tracing::info!(
        "{name}: primary; pipeline {}, {} entries and cells taken over, {} rule updates written",
        if est.pushed {
            "pushed"
        } else {
            "already there"
        },
        est.adopted,
        est.sync.total()
    );
    let mut r = Runner {
        name,
        agent,
        program,
        policy: config.policy,
        status,
        start,
    };
    r.status.update(|s| {
        s.primary = true;
        s.connected = true;
        s.pipeline_pushes += u64::from(est.pushed);
        s.resync_updates += est.sync.total() as u64;
    });
    let now = r.now();
    let actions = r.agent.start(now);
    r.execute(&mut session, actions).await;
    r.publish();

    let mut tick = tokio::time::interval(config.tick.max(Duration::from_millis(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let (recalc_period, mut recalc) = match config.recalc {
        Some((p, f)) => (Some(p), Some(f)),
        None => (None, None),
    };
    let mut recalc_tick = tokio::time::interval(recalc_period.unwrap_or(Duration::from_secs(3600)));
    recalc_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    recalc_tick.tick().await;
    loop {
        tokio::select! {
            _ = stop.changed() => {
                if *stop.borrow() { break }
            }
            event = session.next_event() => match event {
                Event::PacketIn(p) => {
                    // The packet-ins that are already here are worked
                    // through together: their admissions share writes.
                    let mut batch = vec![r.packet_in(p)];
                    while batch.len() < MAX_BATCH {
                        match session.try_packet_in() {
                            Some(p) => batch.push(r.packet_in(p)),
                            None => break,
                        }
                    }
                    let intercepts: Vec<std::time::Instant> = batch
                        .iter()
                        .filter(|(a, _)| is_intercept(a))
                        .map(|(_, at)| *at)
                        .collect();
                    let batch = batch.into_iter().map(|(a, _)| a).collect();
                    if r.execute_batch(&mut session, batch).await {
                        for at in intercepts {
                            r.status.record_intercept(at.elapsed());
                        }
                    }
                }
                Event::Mastership(Mastership::Primary) => {
                    tracing::info!("{}: primary again; resynchronising", r.name);
                    r.status.update(|s| s.primary = true);
                    match session.sync().await {
                        Ok(c) => r.status.update(|s| s.resync_updates += c.total() as u64),
                        Err(e) => r.fail(&e.to_string()),
                    }
                }
                Event::Mastership(m) => {
                    tracing::warn!("{}: no longer primary ({m:?}); not writing", r.name);
                    r.status.update(|s| s.primary = false);
                }
                Event::Closed(reason) => {
                    tracing::warn!("{}: stream lost ({reason}); reconnecting", r.name);
                    r.status.update(|s| { s.connected = false; s.primary = false; });
                    if !r.reconnect(&mut session, &backoff, &mut stop).await {
                        break;
                    }
                }
            },
            _ = tick.tick() => {
                let now = r.now();
                let actions = r.agent.tick(now);
                r.execute(&mut session, actions).await;
            }
            _ = recalc_tick.tick(), if recalc.is_some() => {
                if let Some(shares) = recalc.as_mut().and_then(|f| f()) {
                    let now = r.now();
                    let actions = r.agent.reoffer(now, &shares);
                    r.execute(&mut session, actions).await;
                }
            }
        }
        r.publish();
    }
    r.publish();
    Ok(())
}

/// Packet-ins worked through together at most.
const MAX_BATCH: usize = 256;

impl Runner {
    fn now(&self) -> Duration {
        self.start.elapsed()
    }

    /// The agent's actions for one packet-in, and when it was received.
    fn packet_in(
        &mut self,
        p: fairshare_p4rt::client::PacketIn,
    ) -> (Vec<Action>, std::time::Instant) {
        self.status.update(|s| s.packet_ins += 1);
        let actions = match p.value("ingress_port").and_then(|v| u32::try_from(v).ok()) {
            Some(port) => {
                let now = self.now();
                self.agent.packet_in(now, port, &p.payload)
            }
            None => {
                tracing::warn!("{}: a packet-in without ingress_port", self.name);
                vec![]
            }
        };
        (actions, p.received)
    }

    /// Carries out the actions of several agent calls at once, with two
    /// writes in all instead of one or two per call:
    /// 1. the packet-outs each call sends before its first write (a DC's
    ///    releases), in call order;
    /// 2. one write of every entry or meter cell whose last value lowers
    ///    what its route reserves (a shrunk aggregate, a removed flow);
    /// 3. one write of every other last value (installed flows, grown
    ///    aggregates, steering, choices of DC);
    /// 4. the other packet-outs (forwarded Paths, Resvs), in call order,
    ///    once both writes are acknowledged.
    ///
    /// Several values for one entry or cell keep the last, written as the
    /// switch needs it (INSERT, MODIFY or DELETE against what it holds).
    /// Every state the switch can pass through is bounded by the state
    /// before the batch (during step 2, which only lowers) or the state
    /// after it (during step 3, which only raises), and the agent planned
    /// the state after it within the offers: the invariant holds at every
    /// write, whatever order the switch applies one request's updates in.
    /// A release still leaves ahead of its flow's Path, which leaves once
    /// the flow's meter is in. When a write fails, the packet-outs of
    /// step 4 are not sent; the failure is counted, and the senders'
    /// refreshes bring the exchange back.
    /// Whether every action was carried out.
    async fn execute_batch(&mut self, session: &mut Session, batch: Vec<Vec<Action>>) -> bool {
        if batch.len() <= 1 {
            for actions in batch {
                if !self.execute(session, actions).await {
                    return false;
                }
            }
            return true;
        }
        let calls = batch.len() as u64;
        self.status.update(|s| s.batched_calls += calls);
        let mut early = Vec::new();
        let mut late = Vec::new();
        let mut changes = Vec::new();
        for actions in batch {
            let mut wrote = false;
            for a in actions {
                match a {
                    Action::PacketOut { port, frame } if !wrote => early.push((port, frame)),
                    Action::PacketOut { port, frame } => late.push((port, frame)),
                    Action::Write(c) => {
                        wrote = true;
                        changes.push(c);
                    }
                }
            }
        }
        for (port, frame) in early {
            match session.packet_out(port, frame) {
                Ok(()) => self.status.update(|s| s.packet_outs += 1),
                Err(e) => {
                    self.fail(&e.to_string());
                    return false;
                }
            }
        }
        let mut updates = Vec::with_capacity(changes.len());
        for c in &changes {
            match self.update_of(session, c) {
                Ok(u) => updates.push(u),
                Err(e) => {
                    self.status.update(|s| s.write_failures += 1);
                    self.fail(&format!("{c:?}: {e}"));
                    return false;
                }
            }
        }
        let (lower, raise) = split_by_effect(session, updates, &self.program);
        for wave in [lower, raise] {
            if wave.is_empty() {
                continue;
            }
            if !self.write_updates(session, wave).await {
                return false;
            }
        }
        for (port, frame) in late {
            match session.packet_out(port, frame) {
                Ok(()) => self.status.update(|s| s.packet_outs += 1),
                Err(e) => {
                    self.fail(&e.to_string());
                    return false;
                }
            }
        }
        true
    }

    /// One checked WriteRequest; whether all of it took effect.
    async fn write_updates(&mut self, session: &mut Session, updates: Vec<p4::Update>) -> bool {
        let n = updates.len();
        let agent = &self.agent;
        match session
            .write_checked(updates, |cell| agent.offered(cell))
            .await
        {
            Ok(()) => {
                self.status.update(|s| s.writes += 1);
                true
            }
            Err(e) => {
                let violation = matches!(e, SessionError::Overreservation { .. });
                self.fail(&format!("a write of {n} updates: {e}"));
                self.status.update(|s| {
                    s.write_failures += 1;
                    s.invariant_violations += u64::from(violation);
                });
                false
            }
        }
    }

    fn publish(&self) {
        let routes = self.agent.routes();
        let stats = self.agent.stats();
        let name = &self.name;
        self.status.update(|s| {
            if stats.tally_mismatches > s.stats.tally_mismatches {
                tracing::warn!(
                    "{name}: tallies differed from the DC's ({} so far); repaired from its refresh",
                    stats.tally_mismatches
                );
            }
            if stats.invariant_violations > s.stats.invariant_violations {
                tracing::error!("{name}: the agent refused a write that would over-reserve");
            }
            s.routes = routes;
            s.stats = stats;
        });
    }

    fn fail(&self, what: &str) {
        tracing::warn!("{}: {what}", self.name);
        let what = what.to_owned();
        self.status.update(|s| s.last_error = Some(what));
    }

    /// Reconnects with backoff until it works or `stop` turns true; false
    /// when stopped.
    async fn reconnect(
        &mut self,
        session: &mut Session,
        backoff: &fairshare_p4rt::client::Backoff,
        stop: &mut watch::Receiver<bool>,
    ) -> bool {
        let mut attempt = 0u32;
        loop {
            if *stop.borrow() {
                return false;
            }
            match session.reconnect().await {
                Ok(est) => {
                    tracing::info!(
                        "{}: reconnected; pipeline {}, {} updates to resynchronise",
                        self.name,
                        if est.pushed { "pushed again" } else { "kept" },
                        est.sync.total()
                    );
                    self.status.update(|s| {
                        s.connected = true;
                        s.primary = true;
                        s.reconnects += 1;
                        s.pipeline_pushes += u64::from(est.pushed);
                        s.resync_updates += est.sync.total() as u64;
                    });
                    return true;
                }
                Err(e) => {
                    self.fail(&e.to_string());
                    let delay = backoff.delay(attempt.min(16));
                    attempt += 1;
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = stop.changed() => {}
                    }
                }
            }
        }
    }

    fn update_of(&self, session: &Session, change: &Change) -> Result<p4::Update, WriteError> {
        let p = &self.program;
        match change {
            Change::RouteMeter { cell, rate_bps } => p.route_meter(*cell, *rate_bps),
            Change::InstallFlow {
                key,
                cell,
                rate_bps,
            } => p.install_flow(key, *cell, *rate_bps),
            Change::RemoveFlow { key } => p.remove_flow(key),
            Change::Steer {
                service,
                edge,
                server,
            } => p.steer(session.desired(), *service, *edge, *server),
            Change::ChooseDc { vip, dc } => {
                let (sw, dc_sw) = self.choice_ends(dc)?;
                p.host_route(
                    session.desired(),
                    *vip,
                    sw.uplink_port,
                    port_mac(sw, sw.uplink_port),
                    port_mac(dc_sw, dc_sw.uplink_port),
                )
            }
        }
    }

    /// This (edge) switch and the switch of DC `dc`.
    fn choice_ends(
        &self,
        dc: &str,
    ) -> Result<
        (
            &fairshare_policy::model::Switch,
            &fairshare_policy::model::Switch,
        ),
        WriteError,
    > {
        let missing = |name: String| WriteError::Missing {
            kind: "switch",
            name,
        };
        let sw = self
            .policy
            .switches()
            .find(|s| s.name == self.name)
            .ok_or_else(|| missing(self.name.clone()))?;
        let dc_sw = self
            .policy
            .datacenters
            .iter()
            .find(|d| d.name == dc)
            .map(|d| &d.switch)
            .ok_or_else(|| missing(format!("of datacenter {dc}")))?;
        Ok((sw, dc_sw))
    }

    /// Whether every action was carried out.
    async fn execute(&mut self, session: &mut Session, actions: Vec<Action>) -> bool {
        for action in actions {
            match action {
                Action::PacketOut { port, frame } => match session.packet_out(port, frame) {
                    Ok(()) => self.status.update(|s| s.packet_outs += 1),
                    Err(e) => {
                        self.fail(&e.to_string());
                        return false;
                    }
                },
                Action::Write(change) => {
                    let update = match self.update_of(session, &change) {
                        Ok(u) => u,
                        Err(e) => {
                            self.fail(&format!("{change:?}: {e}"));
                            self.status.update(|s| s.write_failures += 1);
                            return false;
                        }
                    };
                    let agent = &self.agent;
                    match session
                        .write_checked(vec![update], |cell| agent.offered(cell))
                        .await
                    {
                        Ok(()) => self.status.update(|s| s.writes += 1),
                        Err(e) => {
                            let violation = matches!(e, SessionError::Overreservation { .. });
                            self.fail(&format!("{change:?}: {e}"));
                            self.status.update(|s| {
                                s.write_failures += 1;
                                s.invariant_violations += u64::from(violation);
                            });
                            return false;
                        }
                    }
                }
            }
        }
        true
    }
}

/// The last value of every entry and cell `updates` touch, as the switch
/// holding `session`'s model needs it, split into those that lower what a
/// route reserves and the rest.
fn split_by_effect(
    session: &Session,
    updates: Vec<p4::Update>,
    program: &Program,
) -> (Vec<p4::Update>, Vec<p4::Update>) {
    use crate::desired::EntryKey;
    use fairshare_p4rt::entity;
    use p4::entity::Entity as E;
    use p4::update::Type;
    #[derive(PartialEq, Eq, PartialOrd, Ord)]
    enum Key {
        Entry(EntryKey),
        Cell(u32, i64),
        Other(usize),
    }
    let desired = session.desired();
    let mut last: std::collections::BTreeMap<Key, (usize, p4::Update)> =
        std::collections::BTreeMap::new();
    for (i, u) in updates.into_iter().enumerate() {
        let key = match u.entity.as_ref().and_then(|e| e.entity.as_ref()) {
            Some(E::TableEntry(t)) if !t.is_default_action => Key::Entry(EntryKey::of(t)),
            Some(E::MeterEntry(m)) => {
                Key::Cell(m.meter_id, m.index.as_ref().map_or(-1, |x| x.index))
            }
            _ => Key::Other(i),
        };
        last.insert(key, (i, u));
    }
    let mut finals: Vec<(usize, p4::Update)> = Vec::new();
    for (key, (i, u)) in last {
        let Key::Entry(k) = &key else {
            finals.push((i, u));
            continue;
        };
        let held = desired.entry(k).is_some();
        let kind = Type::try_from(u.r#type).unwrap_or(Type::Unspecified);
        let Some(E::TableEntry(t)) = u.entity.and_then(|e| e.entity) else {
            continue;
        };
        let fixed = match (held, kind) {
            (false, Type::Delete) => continue,
            (true, Type::Insert) => entity::modify(t),
            (false, Type::Modify) => entity::insert(t),
            (_, Type::Delete) => entity::delete(t),
            (_, _) => entity::update(kind, t),
        };
        finals.push((i, fixed));
    }
    finals.sort_by_key(|(i, _)| *i);
    let accounts = program.accounts();
    let (lower, raise): (Vec<_>, Vec<_>) = finals.into_iter().partition(|(_, u)| {
        let effect = accounts.effect(desired, u);
        !effect.is_empty()
            && effect.iter().map(|(_, b, _)| *b).sum::<u64>()
                > effect.iter().map(|(_, _, a)| *a).sum::<u64>()
    });
    (
        lower.into_iter().map(|(_, u)| u).collect(),
        raise.into_iter().map(|(_, u)| u).collect(),
    )
}
