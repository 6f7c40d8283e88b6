//! A controller's session with one switch over P4Runtime: connect, become
//! primary, make sure the switch runs the pipeline, bring its tables to
//! what the controller wants, then carry writes and packets — and do it all
//! again after the switch restarts or the stream breaks.
//!
//! ```text
//! open ─> connect (backoff) ─> primary? ─> pipeline cookie equal? ─ no ─> push (VERIFY_AND_COMMIT)
//!                                                  │ yes                       │
//!                                                  └──────> read back ─> diff ─> write differences
//! ```
//!
//! Invariants:
//! * Writes go out only while the device says this session is primary;
//!   otherwise they fail with [`SessionError::NotPrimary`] and nothing is
//!   sent, so a controller that lost primary status stops writing.
//! * One [`Session::write`] is one WriteRequest, acknowledged before the
//!   call returns: callers that need an order put each step in a write of
//!   its own (P4Runtime does not order the updates of one request). When
//!   some updates of a write fail, the model (and the record) keep exactly
//!   those that succeeded, as the per-update statuses say.
//! * The session keeps every acknowledged update in its [`Desired`] model;
//!   [`Session::sync`] reads the switch back and writes only what differs
//!   (deletes in one request, then inserts and modifies, at most
//!   [`BATCH`] updates a request).
//! * [`Session::open_adopting`] lets the controller take entries the
//!   switch already holds into the model from the first read-back (a
//!   restarted controller's predecessor wrote them); the
//!   resynchronisation compares against that same read-back, so what is
//!   taken over is not written again.
//! * The pipeline is identified by a cookie, a 64-bit FNV-1a hash of the
//!   device config and the encoded P4Info; a switch that reports another
//!   cookie (or none: it restarted, or runs another program) gets the
//!   pipeline pushed again, and then the whole model.
//! * With accounts kept ([`Session::keep_accounts`]),
//!   [`Session::write_checked`] refuses, before sending, a write after
//!   which a route cell would reserve more than its offer (DESIGN §3's
//!   invariant, on the committed rates of the route's meters).
//! * Every write, acknowledged or refused, can be recorded with the time it
//!   went out ([`Session::record_writes`]), so that tests can check
//!   invariants over everything the controller ever wrote.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fairshare_p4rt::client::{Client, ClientConfig, Mastership, PacketIn, PacketOutSink};
use fairshare_p4rt::proto::p4::config::v1 as cfg;
use fairshare_p4rt::proto::p4::v1 as p4;
use fairshare_p4rt::P4InfoIndex;
use prost::Message;
use tokio::sync::{mpsc, watch};

use crate::desired::{Desired, SyncCounts};
use crate::writes::Accounts;

/// Updates per WriteRequest when many go at once.
pub const BATCH: usize = 1000;

/// The program a switch should run: the device config (BMv2 JSON bytes
/// for BMv2 and fairshare's switch) and its P4Info.
#[derive(Debug, Clone, PartialEq)]
pub struct Pipeline {
    pub device_config: Vec<u8>,
    pub p4info: cfg::P4Info,
}

impl Pipeline {
    /// The cookie the pipeline is pushed with and recognised by.
    pub fn cookie(&self) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |bytes: &[u8]| {
            for b in bytes {
                h ^= u64::from(*b);
                h = h.wrapping_mul(0x0000_0100_0000_01b3);
            }
        };
        eat(&self.device_config);
        eat(&self.p4info.encode_to_vec());
        h
    }
}

/// Where the switch is and who the controller is to it.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// The switch's name, for messages.
    pub name: String,
    /// `host:port` or `grpc://host:port` / `http://host:port`.
    pub addr: String,
    pub client: ClientConfig,
    pub pipeline: Pipeline,
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("switch {switch}: {source}")]
    P4rt {
        switch: String,
        #[source]
        source: fairshare_p4rt::Error,
    },
    #[error("switch {switch}: not primary ({standing}); not writing")]
    NotPrimary { switch: String, standing: String },
    #[error("switch {switch}: refusing a write that would reserve {reserved} b/s on route cell {cell}, offered {offered} b/s")]
    Overreservation {
        switch: String,
        cell: u32,
        reserved: u64,
        offered: u64,
    },
    #[error("switch {switch}: the pipeline's P4Info: {source}")]
    P4Info {
        switch: String,
        #[source]
        source: fairshare_p4rt::Error,
    },
}

impl SessionError {
    /// For a write in which some updates failed: which took effect, in
    /// request order.
    pub fn updates_done(&self) -> Option<Vec<bool>> {
        match self {
            SessionError::P4rt {
                source: fairshare_p4rt::Error::UpdatesFailed { errors, .. },
                ..
            } => Some(errors.iter().map(|e| e.canonical_code == 0).collect()),
            _ => None,
        }
    }
}

/// What happened while a session was (re)established.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Established {
    /// The pipeline had to be pushed (first start, or the switch lost it).
    pub pushed: bool,
    /// What the resynchronisation wrote.
    pub sync: SyncCounts,
    /// Entries and meter cells taken over from the read-back into the
    /// model ([`Session::open_adopting`]).
    pub adopted: usize,
}

/// What a session hands its controller.
#[derive(Debug)]
pub enum Event {
    PacketIn(PacketIn),
    /// The device reported another standing (primary lost or regained).
    Mastership(Mastership),
    /// The stream ended; [`Session::reconnect`] brings the session back.
    Closed(String),
}

/// One Write as it went out.
#[derive(Debug, Clone)]
pub struct WriteRecord {
    /// Time since the recording started.
    pub at: Duration,
    pub updates: Vec<p4::Update>,
    /// Whether the device acknowledged it.
    pub ok: bool,
}

/// A shared recording of writes.
#[derive(Debug, Clone, Default)]
pub struct WriteLog(Arc<Mutex<(Option<Instant>, Vec<WriteRecord>)>>);

impl WriteLog {
    pub fn new() -> WriteLog {
        WriteLog::default()
    }

    fn push(&self, updates: &[p4::Update], ok: bool) {
        let mut g = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let start = *g.0.get_or_insert_with(Instant::now);
        g.1.push(WriteRecord {
            at: start.elapsed(),
            updates: updates.to_vec(),
            ok,
        });
    }

    /// The writes so far, in the order they went out.
    pub fn records(&self) -> Vec<WriteRecord> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).1.clone()
    }
}

/// A session with one switch.
pub struct Session {
    config: SessionConfig,
    index: Arc<P4InfoIndex>,
    client: Client,
    desired: Desired,
    packet_ins: mpsc::Receiver<PacketIn>,
    mastership: watch::Receiver<Mastership>,
    out: PacketOutSink,
    log: Option<WriteLog>,
    guard: Option<Guard>,
}

/// What each route cell reserves on the switch, kept with the model.
#[derive(Debug, Clone)]
struct Guard {
    accounts: Accounts,
    totals: BTreeMap<u32, u64>,
}

impl Session {
    /// Connects, becomes primary, makes sure the switch runs the pipeline,
    /// and brings it to `initial` (the switch's initial rules, as updates)
    /// by reading it back and writing the differences.
    ///
    /// # Errors
    /// [`SessionError::P4rt`] when the switch cannot be reached, refuses
    /// the pipeline or a write; [`SessionError::NotPrimary`] when another
    /// controller is primary.
    pub async fn open(
        config: SessionConfig,
        initial: &[p4::Update],
    ) -> Result<(Session, Established), SessionError> {
        Session::open_adopting(config, initial, |_| Vec::new()).await
    }

    /// [`Session::open`], but when the switch already runs the pipeline,
    /// `adopt` first sees what it holds (the read-back the
    /// resynchronisation compares against) and returns the updates to take
    /// into the model as if they had been written and acknowledged: the
    /// entries and cells a restarted controller takes over. The
    /// resynchronisation then writes only what still differs. A switch that
    /// had to get the pipeline holds nothing to take over; `adopt` is not
    /// called.
    ///
    /// # Errors
    /// As [`Session::open`].
    pub async fn open_adopting(
        config: SessionConfig,
        initial: &[p4::Update],
        adopt: impl FnOnce(&[p4::Entity]) -> Vec<p4::Update>,
    ) -> Result<(Session, Established), SessionError> {
        let index = P4InfoIndex::new(config.pipeline.p4info.clone()).map_err(|source| {
            SessionError::P4Info {
                switch: config.name.clone(),
                source,
            }
        })?;
        let mut desired = Desired::new();
        for u in initial {
            desired.apply(u);
        }
        let (client, packet_ins, mastership, out) = connect(&config).await?;
        let mut session = Session {
            config,
            index: Arc::new(index),
            client,
            desired,
            packet_ins,
            mastership,
            out,
            log: None,
            guard: None,
        };
        session.require_primary()?;
        let pushed = session.ensure_pipeline().await?;
        let read = session.read_back().await?;
        let mut adopted = 0;
        if !pushed {
            for u in adopt(&read) {
                session.desired.apply(&u);
                adopted += 1;
            }
        }
        let sync = session.write_differences(&read).await?;
        Ok((
            session,
            Established {
                pushed,
                sync,
                adopted,
            },
        ))
    }

    /// After the stream broke: connects again (with the backoff of the
    /// client config), re-pushes the pipeline if the switch lost it, and
    /// resynchronises.
    ///
    /// # Errors
    /// As [`Session::open`].
    pub async fn reconnect(&mut self) -> Result<Established, SessionError> {
        let (client, packet_ins, mastership, out) = connect(&self.config).await?;
        self.client = client;
        self.packet_ins = packet_ins;
        self.mastership = mastership;
        self.out = out;
        self.establish().await
    }

    async fn establish(&mut self) -> Result<Established, SessionError> {
        self.require_primary()?;
        let pushed = self.ensure_pipeline().await?;
        let sync = self.sync().await?;
        Ok(Established {
            pushed,
            sync,
            adopted: 0,
        })
    }

    async fn ensure_pipeline(&mut self) -> Result<bool, SessionError> {
        use p4::get_forwarding_pipeline_config_request::ResponseType;
        use p4::set_forwarding_pipeline_config_request::Action;
        let cookie = self.config.pipeline.cookie();
        // A device without a pipeline answers FAILED_PRECONDITION
        // (simple_switch_grpc) or an empty config (the spec allows both).
        let current = match self.client.get_pipeline(ResponseType::CookieOnly).await {
            Ok(c) => c,
            Err(fairshare_p4rt::Error::Rpc {
                code: tonic::Code::FailedPrecondition,
                ..
            }) => None,
            Err(e) => return Err(self.p4rt(e)),
        };
        let index = (*self.index).clone();
        if current.and_then(|c| c.cookie).map(|c| c.cookie) == Some(cookie) {
            self.client.set_p4info(index);
            return Ok(false);
        }
        let config = p4::ForwardingPipelineConfig {
            p4info: Some(self.config.pipeline.p4info.clone()),
            p4_device_config: self.config.pipeline.device_config.clone(),
            cookie: Some(p4::forwarding_pipeline_config::Cookie { cookie }),
        };
        self.client
            .set_pipeline_config(Action::VerifyAndCommit, config)
            .await
            .map_err(|e| self.p4rt(e))?;
        self.client.set_p4info(index);
        Ok(true)
    }

    /// Reads the switch back and writes what differs from the model.
    ///
    /// # Errors
    /// [`SessionError::P4rt`] for a failed read or write.
    pub async fn sync(&mut self) -> Result<SyncCounts, SessionError> {
        let read = self.read_back().await?;
        self.write_differences(&read).await
    }

    /// What the switch holds of what the model covers.
    async fn read_back(&mut self) -> Result<Vec<p4::Entity>, SessionError> {
        self.client
            .read(self.desired.read_request())
            .await
            .map_err(|e| self.p4rt(e))
    }

    /// Writes what differs between the model and `read`.
    async fn write_differences(&mut self, read: &[p4::Entity]) -> Result<SyncCounts, SessionError> {
        let (updates, counts) = self.desired.diff(&self.index, read);
        let deletes = counts.deleted;
        let (dels, rest) = updates.split_at(deletes);
        for chunk in dels.chunks(BATCH).chain(rest.chunks(BATCH)) {
            self.send(chunk.to_vec()).await?;
        }
        Ok(counts)
    }

    fn require_primary(&self) -> Result<(), SessionError> {
        let m = self.mastership.borrow().clone();
        if m == Mastership::Primary {
            Ok(())
        } else {
            Err(SessionError::NotPrimary {
                switch: self.config.name.clone(),
                standing: format!("{m:?}"),
            })
        }
    }

    fn p4rt(&self, source: fairshare_p4rt::Error) -> SessionError {
        match source {
            fairshare_p4rt::Error::NotPrimary(_) => SessionError::NotPrimary {
                switch: self.config.name.clone(),
                standing: source.to_string(),
            },
            source => SessionError::P4rt {
                switch: self.config.name.clone(),
                source,
            },
        }
    }

    async fn send(&mut self, updates: Vec<p4::Update>) -> Result<(), SessionError> {
        self.require_primary()?;
        let result = self.client.write(updates.clone()).await;
        // Which updates took effect: all, none, or (CONTINUE_ON_ERROR)
        // those whose per-update status is OK.
        let done: Vec<bool> = match &result {
            Ok(()) => vec![true; updates.len()],
            Err(fairshare_p4rt::Error::UpdatesFailed { errors, .. })
                if errors.len() == updates.len() =>
            {
                errors.iter().map(|e| e.canonical_code == 0).collect()
            }
            Err(_) => vec![false; updates.len()],
        };
        if let Some(log) = &self.log {
            let (ok, failed): (Vec<_>, Vec<_>) = updates.iter().zip(&done).partition(|(_, d)| **d);
            let ok: Vec<p4::Update> = ok.into_iter().map(|(u, _)| u.clone()).collect();
            let failed: Vec<p4::Update> = failed.into_iter().map(|(u, _)| u.clone()).collect();
            if !ok.is_empty() {
                log.push(&ok, true);
            }
            if !failed.is_empty() {
                log.push(&failed, false);
            }
        }
        for (u, _) in updates.iter().zip(&done).filter(|(_, d)| **d) {
            if let Some(g) = &mut self.guard {
                for (cell, before, after) in g.accounts.effect(&self.desired, u) {
                    let t = g.totals.entry(cell).or_default();
                    *t = t.saturating_sub(before).saturating_add(after);
                }
            }
            self.desired.apply(u);
        }
        result.map_err(|e| self.p4rt(e))
    }

    /// Keeps the account of what each route cell reserves, for
    /// [`Session::write_checked`].
    pub fn keep_accounts(&mut self, accounts: Accounts) {
        let totals = accounts.totals(&self.desired);
        self.guard = Some(Guard { accounts, totals });
    }

    /// What route cell `cell` reserves on the switch (aggregate meter and
    /// flow meters, committed rates), when accounts are kept.
    pub fn reserved(&self, cell: u32) -> Option<u64> {
        self.guard
            .as_ref()
            .map(|g| g.totals.get(&cell).copied().unwrap_or(0))
    }

    /// [`Session::write`], after checking that no route cell would reserve
    /// more than `offered` gives it (cells it gives nothing are not
    /// checked). A write that would break the invariant is not sent. Each
    /// update of one write must touch a different entry or cell.
    ///
    /// # Errors
    /// [`SessionError::Overreservation`], and those of [`Session::write`].
    pub async fn write_checked(
        &mut self,
        updates: Vec<p4::Update>,
        offered: impl Fn(u32) -> Option<u64>,
    ) -> Result<(), SessionError> {
        if let Some(g) = &self.guard {
            let mut after: BTreeMap<u32, u64> = BTreeMap::new();
            for u in &updates {
                for (cell, before, now) in g.accounts.effect(&self.desired, u) {
                    let t = after
                        .entry(cell)
                        .or_insert_with(|| g.totals.get(&cell).copied().unwrap_or(0));
                    *t = t.saturating_sub(before).saturating_add(now);
                }
            }
            for (cell, reserved) in after {
                if let Some(offered) = offered(cell) {
                    if reserved > offered {
                        return Err(SessionError::Overreservation {
                            switch: self.config.name.clone(),
                            cell,
                            reserved,
                            offered,
                        });
                    }
                }
            }
        }
        self.send(updates).await
    }

    /// One WriteRequest, acknowledged before this returns; the model
    /// records the updates once they are.
    ///
    /// # Errors
    /// [`SessionError::NotPrimary`] (nothing is sent) or the device's
    /// refusal.
    pub async fn write(&mut self, updates: Vec<p4::Update>) -> Result<(), SessionError> {
        self.send(updates).await
    }

    /// Sends `frame` out of switch port `port` by packet-out (other
    /// `packet_out` fields are zero).
    ///
    /// # Errors
    /// [`SessionError::P4rt`] when the P4Info has no `egress_port` field in
    /// its `packet_out` header or the stream has ended.
    pub fn packet_out(&self, port: u32, frame: Vec<u8>) -> Result<(), SessionError> {
        let fields: Vec<(&str, u128)> = self
            .index
            .packet_out()
            .map(|h| {
                h.metadata
                    .iter()
                    .map(|m| {
                        let v = if m.name == "egress_port" {
                            u128::from(port)
                        } else {
                            0
                        };
                        (m.name.as_str(), v)
                    })
                    .collect()
            })
            .unwrap_or_default();
        self.out.send(frame, &fields).map_err(|e| self.p4rt(e))
    }

    /// A packet-in that has already arrived, if any (to work through a
    /// burst at once).
    pub fn try_packet_in(&mut self) -> Option<PacketIn> {
        self.packet_ins.try_recv().ok()
    }

    /// The next packet-in, standing change or the end of the stream.
    pub async fn next_event(&mut self) -> Event {
        tokio::select! {
            p = self.packet_ins.recv() => match p {
                Some(p) => Event::PacketIn(p),
                None => Event::Closed(self.closed_reason()),
            },
            changed = self.mastership.changed() => match changed {
                Ok(()) => {
                    let m = self.mastership.borrow_and_update().clone();
                    match m {
                        Mastership::Disconnected(reason) => Event::Closed(reason),
                        m => Event::Mastership(m),
                    }
                }
                Err(_) => Event::Closed(self.closed_reason()),
            },
        }
    }

    fn closed_reason(&self) -> String {
        match &*self.mastership.borrow() {
            Mastership::Disconnected(r) => r.clone(),
            _ => "the stream ended".into(),
        }
    }

    /// Records every write from now on into `log`.
    pub fn record_writes(&mut self, log: WriteLog) {
        self.log = Some(log);
    }

    pub fn desired(&self) -> &Desired {
        &self.desired
    }

    pub fn index(&self) -> &P4InfoIndex {
        &self.index
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    pub fn is_primary(&self) -> bool {
        *self.mastership.borrow() == Mastership::Primary
    }

    /// Packet-ins the client dropped because nobody read them in time.
    pub fn packet_ins_dropped(&self) -> u64 {
        self.client.packet_ins_dropped()
    }

    /// The client, for reads and calls this type does not wrap.
    pub fn client(&mut self) -> &mut Client {
        &mut self.client
    }
}

type Connected = (
    Client,
    mpsc::Receiver<PacketIn>,
    watch::Receiver<Mastership>,
    PacketOutSink,
);

async fn connect(config: &SessionConfig) -> Result<Connected, SessionError> {
    let addr = config
        .addr
        .strip_prefix("grpc://")
        .unwrap_or(&config.addr)
        .to_owned();
    let mut client = Client::connect(&addr, config.client.clone())
        .await
        .map_err(|source| SessionError::P4rt {
            switch: config.name.clone(),
            source,
        })?;
    let packet_ins = client.packet_ins().ok_or_else(|| SessionError::P4rt {
        switch: config.name.clone(),
        source: fairshare_p4rt::Error::StreamClosed,
    })?;
    let mastership = client.watch_mastership();
    let out = client.packet_out_sink();
    Ok((client, packet_ins, mastership, out))
}
