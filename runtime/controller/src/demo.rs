//! A policy run end to end in one process: the [`Lab`]'s switches, a
//! controller per switch over real P4Runtime on loopback, and the
//! simulated hosts ([`Sim`]) — what `fairshare demo` runs and what the
//! controller's end-to-end tests drive.
//!
//! [`Demo::start`] returns once every controller is primary and has
//! written its switch's pipeline and rules; the offers follow on the wire.
//! Requests are made with [`Demo::request`] (or by a traffic generator the
//! caller runs); the simulated servers' refreshes, data and teardowns run
//! on a ticker thread of the demo's. [`Demo::report`] can be taken at any
//! time; [`Demo::stop`] stops the controllers and the lab.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fairshare_p4rt::client::{Backoff, ClientConfig};
use fairshare_p4rt::proto::p4::v1 as p4;
use tokio::sync::watch;

use crate::agent::{RouteReport, Settings};
use crate::deploy::{DeployError, Deployment};
use crate::lab::{Lab, LabError, LabHandle};
use crate::run::{run, ControllerConfig, Recalc, RunError, Status, StatusHandle};
use crate::session::{SessionConfig, WriteLog, WriteRecord};
use crate::sim::{Sim, SimConfig, SimCounts};

/// How a demo runs.
#[derive(Debug, Clone)]
pub struct DemoConfig {
    /// The agents' refresh period (TIME_VALUES).
    pub refresh: Duration,
    /// How often the controllers look at their timers.
    pub tick: Duration,
    pub sim: SimConfig,
    /// How often the simulated servers refresh, send data and end flows.
    pub sim_tick: Duration,
    /// Recalculate shares every this often (from the policy's period when
    /// `None`).
    pub recalc: Option<Duration>,
    /// Recalculate from this policy file, read again every period (the
    /// shares of the policy the demo started with when `None`).
    pub policy_file: Option<std::path::PathBuf>,
    /// Switches driven at an external P4Runtime target instead of a lab
    /// switch: name → `host:port`.
    pub targets: BTreeMap<String, String>,
    /// The DC agents' epoch (the run their tally names); from the wall
    /// clock when `None`. A fixed epoch makes the agents' frames the same
    /// on every run, as the regression suite needs.
    pub epoch: Option<u32>,
    /// What the lab's switches are: fairshare's (default) or real
    /// `simple_switch_grpc` processes.
    pub backend: crate::lab::Backend,
}

impl Default for DemoConfig {
    fn default() -> Self {
        DemoConfig {
            refresh: Duration::from_secs(1),
            tick: Duration::from_millis(50),
            sim: SimConfig::default(),
            sim_tick: Duration::from_millis(100),
            recalc: None,
            policy_file: None,
            targets: BTreeMap::new(),
            epoch: None,
            backend: crate::lab::Backend::Fairshare,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(transparent)]
    Deploy(#[from] DeployError),
    #[error(transparent)]
    Lab(#[from] LabError),
    #[error(transparent)]
    Run(#[from] RunError),
    #[error("{0}")]
    Other(String),
}

/// One controller of the demo.
pub struct Controller {
    pub switch: String,
    pub status: StatusHandle,
    pub log: WriteLog,
    addr: String,
    election_id: u128,
    task: tokio::task::JoinHandle<Result<(), RunError>>,
}

/// Starts the controller of switch `name` at `addr`.
fn launch(
    deployment: &Deployment,
    config: &DemoConfig,
    name: &str,
    addr: String,
    election_id: u128,
    epoch: u32,
    stop: watch::Receiver<bool>,
) -> Result<Controller, DemoError> {
    let policy = deployment.policy.clone();
    let plan = deployment.switch(name)?;
    let agent = deployment.agent(
        name,
        Settings {
            refresh: config.refresh,
            epoch,
        },
    )?;
    let status = StatusHandle::new();
    let log = WriteLog::new();
    let period = config
        .recalc
        .unwrap_or(Duration::from_micros(policy.recalc.max(100_000)));
    let p = policy.clone();
    let source: Recalc = match &config.policy_file {
        Some(f) => crate::deploy::recalc_from_file(f.clone()),
        None => Box::new(move || crate::deploy::shares_by_name(&p).ok()),
    };
    let cfg = ControllerConfig {
        session: SessionConfig {
            name: name.to_owned(),
            addr: addr.clone(),
            client: ClientConfig {
                device_id: plan.device_id,
                election_id,
                backoff: Backoff {
                    attempts: 50,
                    initial: Duration::from_millis(20),
                    max: Duration::from_millis(500),
                    connect_timeout: Duration::from_secs(2),
                },
                // Bursts of reservations are the demo's business.
                packet_in_capacity: 16_384,
                ..ClientConfig::default()
            },
            pipeline: plan.pipeline.clone(),
        },
        initial: plan.initial.clone(),
        policy,
        tick: config.tick,
        recalc: Some((period, source)),
        log: Some(log.clone()),
        meter_grain: crate::writes::MeterGrain::Byte,
    };
    let task = tokio::spawn(run(cfg, agent, status.clone(), stop));
    Ok(Controller {
        switch: name.to_owned(),
        status,
        log,
        addr,
        election_id,
        task,
    })
}

/// A running demo.
pub struct Demo {
    pub deployment: Deployment,
    config: DemoConfig,
    lab: Lab,
    pub sim: Arc<Sim>,
    pub controllers: Vec<Controller>,
    stop: watch::Sender<bool>,
    ticker_stop: Arc<AtomicBool>,
    ticker: Option<std::thread::JoinHandle<()>>,
}

/// What a demo did, per route and per switch.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    pub routes: Vec<RouteLine>,
    pub switches: Vec<SwitchLine>,
    pub sim: SimCounts,
    pub invariant_violations: u64,
    pub undeliverable_frames: u64,
}

/// One route, as the DC and the edge see it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RouteLine {
    pub dc: String,
    pub edge: String,
    pub offered_bps: u64,
    pub used_bps: u64,
    /// The edge's view.
    pub edge_offered_bps: u64,
    pub edge_used_bps: u64,
    pub admitted: u64,
    pub rejected: u64,
    pub flows: usize,
    pub tally_equal: bool,
}

/// One switch's controller and counters.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SwitchLine {
    pub switch: String,
    pub primary: bool,
    pub packet_ins: u64,
    pub packet_outs: u64,
    pub writes: u64,
    pub write_failures: u64,
    pub invariant_violations: u64,
    pub reconnects: u64,
    pub tally_mismatches: u64,
    pub bad_frames: u64,
    /// Packets per drop reason of the program's `drops` counter (read
    /// over P4Runtime when the demo stops).
    pub drops: BTreeMap<String, u64>,
    /// Data packets by meter colour: green and yellow (re-marked) counted
    /// on the frames that left the switch, red from the `drops` counter.
    pub colors: Colors,
}

/// Data packets by meter colour.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Colors {
    pub green: u64,
    pub yellow: u64,
    pub red: u64,
}

/// Waits until every controller is primary, or one of them stopped.
async fn wait_primary(controllers: &mut [Controller]) -> Result<(), DemoError> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(c) = controllers.iter_mut().find(|c| c.task.is_finished()) {
            let name = c.switch.clone();
            return Err(match (&mut c.task).await {
                Ok(Err(e)) => DemoError::Run(e),
                Ok(Ok(())) => DemoError::Other(format!("controller of {name} stopped")),
                Err(e) => DemoError::Other(format!("controller of {name}: {e}")),
            });
        }
        if controllers.iter().all(|c| c.status.get().primary) {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            return Err(DemoError::Other("controllers did not start in 30 s".into()));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Whether every edge with a route from DC switch `dc` holds its offer.
fn offers_held(
    policy: &fairshare_policy::model::Policy,
    controllers: &[Controller],
    dc: &str,
) -> bool {
    let status = |switch: &str| {
        controllers
            .iter()
            .find(|c| c.switch == switch)
            .map(|c| c.status.get())
    };
    let Some(d) = status(dc) else {
        return false;
    };
    !d.routes.is_empty()
        && d.routes.iter().all(|r| {
            policy
                .edges
                .iter()
                .find(|e| e.name == r.edge)
                .and_then(|e| status(&e.switch.name))
                .is_some_and(|s| {
                    s.routes.iter().any(|x| {
                        x.dc == r.dc && x.offered_bps == r.offered_bps && x.offered_bps > 0
                    })
                })
        })
}

impl Demo {
    /// Starts the lab and a controller per switch, and returns once every
    /// controller has its switch.
    ///
    /// # Errors
    /// [`DemoError`] naming what failed to start.
    pub async fn start(deployment: Deployment, config: DemoConfig) -> Result<Demo, DemoError> {
        let policy = deployment.policy.clone();
        let sim = Arc::new(Sim::new(policy.clone(), config.sim));
        let lab = Lab::start_with(&policy, sim.clone(), &config.backend)?;
        let (stop, stop_rx) = watch::channel(false);
        let epoch = config.epoch.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as u32)
                .unwrap_or(1)
        });
        // Edges first, then the DCs one at a time in the policy's order,
        // each once the offers of the one before are held (or 3 s went
        // by): an edge's first choice of DC is the first offer it holds,
        // so every run, on any switch, starts from the same choices.
        let is_dc = |name: &str| policy.datacenters.iter().any(|d| d.switch.name == name);
        let (dcs, edges): (Vec<_>, Vec<_>) =
            deployment.switches.iter().partition(|p| is_dc(&p.name));
        let mut controllers = Vec::new();
        for (stage, plans) in std::iter::once(edges)
            .chain(dcs.into_iter().map(|d| vec![d]))
            .enumerate()
        {
            for plan in &plans {
                let addr = match config.targets.get(&plan.name) {
                    Some(a) => a.clone(),
                    None => lab
                        .node(&plan.name)
                        .map(|n| n.addr.to_string())
                        .ok_or_else(|| DemoError::Other(format!("no lab switch {}", plan.name)))?,
                };
                controllers.push(launch(
                    &deployment,
                    &config,
                    &plan.name,
                    addr,
                    1,
                    epoch,
                    stop_rx.clone(),
                )?);
            }
            wait_primary(&mut controllers).await?;
            if stage > 0 {
                let dc = plans[0].name.clone();
                let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
                while !offers_held(&policy, &controllers, &dc)
                    && tokio::time::Instant::now() < deadline
                {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        }
        let ticker_stop = Arc::new(AtomicBool::new(false));
        let ticker = {
            let (sim, handle, stop, every) = (
                sim.clone(),
                lab.handle(),
                ticker_stop.clone(),
                config.sim_tick,
            );
            std::thread::Builder::new()
                .name("sim-ticker".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        sim.tick(&handle, handle.now());
                        std::thread::sleep(every);
                    }
                })
                .map_err(|e| DemoError::Other(format!("starting the host ticker: {e}")))?
        };
        Ok(Demo {
            deployment,
            config,
            lab,
            sim,
            controllers,
            stop,
            ticker_stop,
            ticker: Some(ticker),
        })
    }

    /// Kills the controller of `switch` (its task and its stream, as a
    /// crash would) and starts a fresh one — a new agent that knows
    /// nothing but what it reads back from the switch — with a higher
    /// election id. Its writes are recorded in a new log.
    ///
    /// # Errors
    /// [`DemoError`] when there is no such controller or it cannot start.
    pub async fn restart_controller(&mut self, switch: &str) -> Result<(), DemoError> {
        self.kill_controller(switch).await?;
        self.relaunch_controller(switch)
    }

    /// Kills the controller of `switch` as a crash would: its task and
    /// its stream end; the switch keeps what it holds. Until
    /// [`Demo::relaunch_controller`], what the switch punts goes nowhere.
    ///
    /// # Errors
    /// [`DemoError::Other`] when there is no such controller.
    pub async fn kill_controller(&mut self, switch: &str) -> Result<(), DemoError> {
        let old = self
            .controllers
            .iter_mut()
            .find(|c| c.switch == switch)
            .ok_or_else(|| DemoError::Other(format!("no controller of {switch}")))?;
        old.task.abort();
        let _ = (&mut old.task).await;
        Ok(())
    }

    /// Starts a fresh controller for `switch` (after
    /// [`Demo::kill_controller`]) with a higher election id and a new
    /// epoch; its writes are recorded in a new log.
    ///
    /// # Errors
    /// [`DemoError`] when there is no such controller or it cannot start.
    pub fn relaunch_controller(&mut self, switch: &str) -> Result<(), DemoError> {
        let i = self
            .controllers
            .iter()
            .position(|c| c.switch == switch)
            .ok_or_else(|| DemoError::Other(format!("no controller of {switch}")))?;
        let old = &self.controllers[i];
        if !old.task.is_finished() {
            old.task.abort();
        }
        let (addr, election_id) = (old.addr.clone(), old.election_id + 1);
        let epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as u32)
            .unwrap_or(1)
            .wrapping_add(election_id as u32);
        let new = launch(
            &self.deployment,
            &self.config,
            switch,
            addr,
            election_id,
            epoch,
            self.stop.subscribe(),
        )?;
        self.controllers[i] = new;
        Ok(())
    }

    /// Kills switch `switch` and starts it again, empty, on the same
    /// address (see [`Lab::restart`]).
    ///
    /// # Errors
    /// [`DemoError::Lab`].
    pub fn restart_switch(&self, switch: &str) -> Result<(), DemoError> {
        Ok(self.lab.restart(switch)?)
    }

    pub fn lab(&self) -> LabHandle {
        self.lab.handle()
    }

    /// A client behind edge `edge` opens a connection to service
    /// `service` (indices in the policy).
    pub fn request(&self, edge: usize, service: usize) -> Option<(std::net::Ipv4Addr, u16)> {
        self.sim.request(&self.lab.handle(), edge, service)
    }

    /// The server of the flow from `client`:`port` tears it down now (a
    /// PathTear), as at the end of its hold time. False when there is no
    /// such flow or it is not live.
    pub fn end_flow(&self, client: std::net::Ipv4Addr, port: u16) -> bool {
        self.sim.end_flow(&self.lab.handle(), client, port)
    }

    pub fn status(&self, switch: &str) -> Option<Status> {
        self.controllers
            .iter()
            .find(|c| c.switch == switch)
            .map(|c| c.status.get())
    }

    /// Every write of switch `switch`'s controller so far.
    pub fn writes(&self, switch: &str) -> Vec<WriteRecord> {
        self.controllers
            .iter()
            .find(|c| c.switch == switch)
            .map(|c| c.log.records())
            .unwrap_or_default()
    }

    /// Waits until `pred` holds of the report, checking every 10 ms.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        pred: impl Fn(&Report) -> bool,
    ) -> Option<Report> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let r = self.report();
            if pred(&r) {
                return Some(r);
            }
            if tokio::time::Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The routes as both ends see them, and each switch's counters.
    pub fn report(&self) -> Report {
        let statuses: BTreeMap<String, Status> = self
            .controllers
            .iter()
            .map(|c| (c.switch.clone(), c.status.get()))
            .collect();
        let policy = &self.deployment.policy;
        let mut routes = Vec::new();
        for d in &policy.datacenters {
            let Some(dc) = statuses.get(&d.switch.name) else {
                continue;
            };
            for r in &dc.routes {
                let edge_view: Option<&RouteReport> = policy
                    .edges
                    .iter()
                    .find(|e| e.name == r.edge)
                    .and_then(|e| statuses.get(&e.switch.name))
                    .and_then(|s| s.routes.iter().find(|x| x.dc == r.dc && x.edge == r.edge));
                let (eo, eu, eq) = edge_view.map_or((0, 0, false), |e| {
                    (e.offered_bps, e.used_bps, e.tally_equal == Some(true))
                });
                routes.push(RouteLine {
                    dc: r.dc.clone(),
                    edge: r.edge.clone(),
                    offered_bps: r.offered_bps,
                    used_bps: r.used_bps,
                    edge_offered_bps: eo,
                    edge_used_bps: eu,
                    admitted: r.admitted,
                    rejected: r.rejected,
                    flows: r.flows,
                    tally_equal: eq && eo == r.offered_bps && eu == r.used_bps,
                });
            }
        }
        let switches: Vec<SwitchLine> = statuses
            .values()
            .map(|s| SwitchLine {
                switch: s.switch.clone(),
                primary: s.primary,
                packet_ins: s.packet_ins,
                packet_outs: s.packet_outs,
                writes: s.writes,
                write_failures: s.write_failures,
                invariant_violations: s.invariant_violations + s.stats.invariant_violations,
                reconnects: s.reconnects,
                tally_mismatches: s.stats.tally_mismatches,
                bad_frames: s.stats.bad_frames,
                drops: BTreeMap::new(),
                colors: self.colors(&s.switch),
            })
            .collect();
        Report {
            invariant_violations: switches.iter().map(|s| s.invariant_violations).sum(),
            routes,
            switches,
            sim: self.sim.counts(),
            undeliverable_frames: self.lab.undeliverable(),
        }
    }

    /// Green and yellow data packets that left `switch` (TCP and UDP on
    /// ports other than the CPU port), by their DSCP.
    fn colors(&self, switch: &str) -> Colors {
        let mut c = Colors::default();
        let Some(node) = self.lab.node(switch) else {
            return c;
        };
        let yellow = fairshare_codegen::pipeline::YELLOW_TOS as u8;
        let ports: Vec<u32> = self.lab.handle().ports(switch);
        for port in ports.into_iter().filter(|p| *p != node.cpu_port) {
            for f in self.lab.handle().captured(switch, port) {
                let fr = &f.frame;
                if !f.out
                    || fr.len() < 34
                    || fr[12..14] != [0x08, 0x00]
                    || !matches!(fr[23], 6 | 17)
                {
                    continue;
                }
                if fr[15] & !3 == yellow {
                    c.yellow += 1;
                } else {
                    c.green += 1;
                }
            }
        }
        c
    }

    /// [`Demo::report`] with each switch's `drops` counter read over
    /// P4Runtime (red packets among them).
    pub async fn full_report(&self) -> Report {
        let mut r = self.report();
        for line in &mut r.switches {
            let Ok(plan) = self.deployment.switch(&line.switch) else {
                continue;
            };
            // Where its controller drives it: a lab switch or an external
            // target.
            let Some(addr) = self
                .controllers
                .iter()
                .find(|c| c.switch == line.switch)
                .map(|c| c.addr.clone())
            else {
                continue;
            };
            match read_drops(&addr, plan.device_id, &plan.pipeline).await {
                Ok(d) => {
                    line.colors.red = d.get("DROP_METER_RED").copied().unwrap_or(0);
                    line.drops = d;
                }
                Err(e) => tracing::warn!("reading {}'s drops: {e}", line.switch),
            }
        }
        r
    }

    /// Writes the per-port pcaps under `dir`.
    ///
    /// # Errors
    /// [`DemoError::Lab`] naming the file.
    pub fn write_pcaps(&self, dir: &Path) -> Result<Vec<String>, DemoError> {
        Ok(self.lab.write_pcaps(dir)?)
    }

    /// Stops the hosts, the controllers and the lab; the last report.
    pub async fn stop(mut self) -> Report {
        self.ticker_stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.ticker.take() {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
        let _ = self.stop.send(true);
        for c in &mut self.controllers {
            match tokio::time::timeout(Duration::from_secs(5), &mut c.task).await {
                Ok(Ok(Err(e))) => tracing::warn!("controller of {}: {e}", c.switch),
                Ok(_) => {}
                Err(_) => c.task.abort(),
            }
        }
        let report = self.report();
        self.lab.stop();
        report
    }
}

/// Replays `records` (one switch's writes, in order) and returns the first
/// moment a route cell reserved more than `offered(cell)`: the write's
/// position, the cell and what it reserved. Kept apart from the session's
/// guard: it reads the updates' bytes itself.
pub fn first_overreservation(
    records: &[WriteRecord],
    route_meter_id: u32,
    flows_table_id: u32,
    offered: impl Fn(u32) -> Option<u64>,
) -> Option<(usize, u32, u64)> {
    use p4::entity::Entity as E;
    let mut meters: BTreeMap<i64, u64> = BTreeMap::new();
    // flows entry (encoded match) → (cell, b/s)
    let mut flows: BTreeMap<Vec<u8>, (u32, u64)> = BTreeMap::new();
    for (i, r) in records.iter().enumerate() {
        if !r.ok {
            continue;
        }
        for u in &r.updates {
            let kind =
                p4::update::Type::try_from(u.r#type).unwrap_or(p4::update::Type::Unspecified);
            match u.entity.as_ref().and_then(|e| e.entity.as_ref()) {
                Some(E::MeterEntry(m)) if m.meter_id == route_meter_id => {
                    if let Some(idx) = &m.index {
                        let bps = m.config.map_or(0, |c| c.cir.max(0) as u64 * 8);
                        meters.insert(idx.index, bps);
                    }
                }
                Some(E::TableEntry(t)) if t.table_id == flows_table_id => {
                    let key: Vec<u8> = {
                        use prost::Message;
                        let mut m = t.r#match.clone();
                        m.sort_by_key(|f| f.field_id);
                        m.iter().flat_map(|f| f.encode_to_vec()).collect()
                    };
                    if kind == p4::update::Type::Delete {
                        flows.remove(&key);
                        continue;
                    }
                    let cell = match t.action.as_ref().and_then(|a| a.r#type.as_ref()) {
                        Some(p4::table_action::Type::Action(a)) => a
                            .params
                            .first()
                            .map(|p| p.value.iter().fold(0u32, |acc, b| acc << 8 | u32::from(*b)))
                            .unwrap_or(0),
                        _ => 0,
                    };
                    let bps = t.meter_config.map_or(0, |c| c.cir.max(0) as u64 * 8);
                    flows.insert(key, (cell, bps));
                }
                _ => {}
            }
        }
        let mut totals: BTreeMap<u32, u64> = BTreeMap::new();
        for (cell, bps) in &meters {
            *totals.entry(*cell as u32).or_default() += bps;
        }
        for (cell, bps) in flows.values() {
            *totals.entry(*cell).or_default() += bps;
        }
        for (cell, total) in totals {
            if let Some(o) = offered(cell) {
                if total > o {
                    return Some((i, cell, total));
                }
            }
        }
    }
    None
}

/// The `drops` counter of a switch running fairshare's program, by reason
/// name, read with one P4Runtime Read (packets).
///
/// # Errors
/// A message when the switch cannot be read or the program has no
/// `drops` counter.
pub async fn read_drops(
    addr: &str,
    device_id: u64,
    pipeline: &crate::session::Pipeline,
) -> Result<BTreeMap<String, u64>, String> {
    use fairshare_p4rt::proto::p4::v1::p4_runtime_client::P4RuntimeClient;
    let index =
        fairshare_p4rt::P4InfoIndex::new(pipeline.p4info.clone()).map_err(|e| e.to_string())?;
    let id = index
        .id(fairshare_p4rt::EntityKind::Counter, "Ingress.drops")
        .ok_or("the program has no Ingress.drops counter")?;
    let mut client = P4RuntimeClient::connect(format!("http://{addr}"))
        .await
        .map_err(|e| e.to_string())?;
    let mut stream = client
        .read(p4::ReadRequest {
            device_id,
            entities: vec![p4::Entity {
                entity: Some(p4::entity::Entity::CounterEntry(p4::CounterEntry {
                    counter_id: id,
                    ..Default::default()
                })),
            }],
            ..Default::default()
        })
        .await
        .map_err(|e| e.message().to_owned())?
        .into_inner();
    let mut out = BTreeMap::new();
    while let Some(resp) = stream.message().await.map_err(|e| e.message().to_owned())? {
        for e in resp.entities {
            if let Some(p4::entity::Entity::CounterEntry(c)) = e.entity {
                let i = c.index.map_or(0, |i| i.index);
                let name = usize::try_from(i)
                    .ok()
                    .and_then(|i| fairshare_codegen::pipeline::DROP_REASONS.get(i))
                    .map_or_else(|| format!("cell {i}"), |(n, _)| (*n).to_owned());
                let packets = c.data.map_or(0, |d| d.packet_count.max(0) as u64);
                out.insert(name, packets);
            }
        }
    }
    Ok(out)
}
