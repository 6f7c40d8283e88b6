//! The P4Runtime gRPC service: arbitration, pipeline config, Write, Read
//! and packet IO, over the shared switch state.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use fairshare_p4rt::proto::google::rpc;
use fairshare_p4rt::proto::p4::v1 as p4;
use fairshare_p4rt::proto::p4::v1::p4_runtime_server::P4Runtime;
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::{Code, Request, Response, Status, Streaming};

use crate::pipeline::{fail, Fail, Pipeline};
use crate::Config;

type StreamTx = mpsc::UnboundedSender<Result<p4::StreamMessageResponse, Status>>;

/// One open StreamChannel.
struct Controller {
    id: u64,
    tx: StreamTx,
    /// Role name and election id, once the stream has arbitrated; the
    /// election id is `None` for a controller that only wants to be a
    /// backup.
    arbitration: Option<(String, Option<u128>)>,
    device_id: u64,
}

#[derive(Default)]
struct State {
    pipeline: Option<Pipeline>,
    /// A config verified and saved (VERIFY_AND_SAVE), waiting for COMMIT.
    saved: Option<p4::ForwardingPipelineConfig>,
    controllers: Vec<Controller>,
    next_stream: u64,
    /// The primary stream of each role.
    primary: HashMap<String, u64>,
    /// The highest election id a primary of each role has had: a
    /// controller needs at least this id to become primary.
    high_water: HashMap<String, u128>,
}

pub(crate) struct Shared {
    config: Config,
    state: Mutex<State>,
    start: Instant,
    output: Option<std::sync::mpsc::Sender<(u32, Vec<u8>)>>,
}

/// The service tonic runs; cheap to clone.
#[derive(Clone)]
pub(crate) struct Service(pub(crate) Arc<Shared>);

impl Shared {
    pub(crate) fn busy_poll(&self) -> std::time::Duration {
        self.config.busy_poll
    }

    pub(crate) fn config(&self) -> &Config {
        &self.config
    }

    pub(crate) fn new(
        config: Config,
        output: Option<std::sync::mpsc::Sender<(u32, Vec<u8>)>>,
    ) -> Shared {
        Shared {
            config,
            state: Mutex::new(State::default()),
            start: Instant::now(),
            output,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while the lock was held cannot leave the switch half
        // updated in a way that matters more than stopping would; go on.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn has_pipeline(&self) -> bool {
        self.lock().pipeline.is_some()
    }

    /// Runs a packet arriving on `port` through the pipeline: packets sent
    /// to the CPU port go to the primary controller as packet-ins, others
    /// to the data-plane output. Returns false without a pipeline.
    pub(crate) fn process(&self, port: u32, bytes: &[u8]) -> bool {
        let now = self.start.elapsed().as_micros() as u64;
        let mut state = self.lock();
        let state = &mut *state;
        let Some(pipe) = state.pipeline.as_mut() else {
            return false;
        };
        let mut sent = Vec::new();
        pipe.switch
            .process(port, bytes, now, &mut |p, b| sent.push((p, b.to_vec())));
        for (p, b) in sent {
            if p == self.config.cpu_port {
                let Some(packet) = pipe.packet_in(&b) else {
                    continue;
                };
                if let Some(c) = state
                    .primary
                    .get("")
                    .and_then(|id| state.controllers.iter().find(|c| c.id == *id))
                {
                    let _ = c.tx.send(Ok(p4::StreamMessageResponse {
                        update: Some(p4::stream_message_response::Update::Packet(packet)),
                    }));
                }
            } else if let Some(out) = &self.output {
                let _ = out.send((p, b));
            }
        }
        true
    }
}

fn status(f: Fail) -> Status {
    Status::new(f.0, f.1)
}

fn rpc_status(code: Code, message: &str) -> rpc::Status {
    rpc::Status {
        code: code as i32,
        message: message.to_owned(),
        details: vec![],
    }
}

impl State {
    /// The primary of a role: the controller with the highest election id,
    /// if that id is at least the role's high-water mark.
    fn elect(&self, role: &str) -> Option<(u64, u128)> {
        let best = self
            .controllers
            .iter()
            .filter_map(|c| match &c.arbitration {
                Some((r, Some(e))) if r == role => Some((c.id, *e)),
                _ => None,
            })
            .max_by_key(|(_, e)| *e)?;
        (best.1 >= self.high_water.get(role).copied().unwrap_or(0)).then_some(best)
    }

    /// The arbitration answer for one controller of `role`.
    fn answer(&self, c: &Controller, role: &str) -> p4::StreamMessageResponse {
        let primary = self.primary.get(role).copied();
        let highest = self.high_water.get(role).copied().unwrap_or(0);
        let st = match primary {
            Some(id) if id == c.id => rpc_status(Code::Ok, "primary"),
            Some(_) => rpc_status(Code::AlreadyExists, "backup: another controller is primary"),
            None => rpc_status(Code::NotFound, "no primary"),
        };
        let role_msg = match &c.arbitration {
            Some((r, _)) if !r.is_empty() => Some(p4::Role {
                name: r.clone(),
                ..Default::default()
            }),
            _ => None,
        };
        p4::StreamMessageResponse {
            update: Some(p4::stream_message_response::Update::Arbitration(
                p4::MasterArbitrationUpdate {
                    device_id: c.device_id,
                    role: role_msg,
                    election_id: Some(highest.into()),
                    status: Some(st),
                },
            )),
        }
    }

    /// Recomputes the primary of `role` and tells the controllers: all of
    /// the role when the primary changed, else only `asking`.
    fn rearbitrate(&mut self, role: &str, asking: Option<u64>) {
        let old = self.primary.get(role).copied();
        let new = self.elect(role);
        match new {
            Some((id, e)) => {
                self.primary.insert(role.to_owned(), id);
                let hw = self.high_water.entry(role.to_owned()).or_insert(0);
                *hw = (*hw).max(e);
            }
            None => {
                self.primary.remove(role);
            }
        }
        let changed = old != new.map(|(id, _)| id);
        for c in &self.controllers {
            let of_role = matches!(&c.arbitration, Some((r, _)) if r == role);
            if of_role && (changed || Some(c.id) == asking) {
                let _ = c.tx.send(Ok(self.answer(c, role)));
            }
        }
    }

    fn remove(&mut self, id: u64) {
        let Some(pos) = self.controllers.iter().position(|c| c.id == id) else {
            return;
        };
        let c = self.controllers.remove(pos);
        if let Some((role, _)) = c.arbitration {
            self.rearbitrate(&role, None);
        }
    }

    /// Checks that a request comes from the primary of its role.
    fn check_primary(&self, role: &str, election_id: Option<p4::Uint128>) -> Result<(), Status> {
        let want = election_id.map(u128::from);
        let primary = self
            .primary
            .get(role)
            .and_then(|id| self.controllers.iter().find(|c| c.id == *id))
            .and_then(|c| c.arbitration.as_ref().and_then(|a| a.1));
        match (primary, want) {
            (Some(p), Some(w)) if p == w => Ok(()),
            (Some(p), w) => Err(Status::permission_denied(format!(
                "expected the primary's election id {p}, found {}",
                w.map_or("none".to_owned(), |w| w.to_string())
            ))),
            (None, _) => Err(Status::permission_denied(
                "expected a request from the primary controller; the role has no primary",
            )),
        }
    }
}

impl Service {
    fn check_device(&self, device_id: u64) -> Result<(), Status> {
        if device_id != self.0.config.device_id {
            return Err(Status::not_found(format!(
                "expected device id {}, found {device_id}",
                self.0.config.device_id
            )));
        }
        Ok(())
    }

    /// Handles one message of a StreamChannel.
    fn on_stream_message(&self, id: u64, msg: p4::StreamMessageRequest) -> Result<(), Status> {
        use p4::stream_message_request::Update;
        let mut state = self.0.lock();
        match msg.update {
            Some(Update::Arbitration(a)) => {
                self.check_device(a.device_id)?;
                let role = a.role.map(|r| r.name).unwrap_or_default();
                let election = a.election_id.map(u128::from);
                if let Some(e) = election {
                    if state.controllers.iter().any(|c| {
                        c.id != id
                            && matches!(&c.arbitration, Some((r, Some(x))) if *r == role && *x == e)
                    }) {
                        return Err(Status::invalid_argument(format!(
                            "election id {e} is already used by another controller of this role"
                        )));
                    }
                }
                let Some(c) = state.controllers.iter_mut().find(|c| c.id == id) else {
                    return Ok(());
                };
                if let Some((old, _)) = &c.arbitration {
                    if *old != role {
                        return Err(Status::invalid_argument(format!(
                            "expected the stream's role `{old}`, found `{role}`"
                        )));
                    }
                }
                c.device_id = a.device_id;
                c.arbitration = Some((role.clone(), election));
                state.rearbitrate(&role, Some(id));
                Ok(())
            }
            Some(Update::Packet(packet)) => {
                let Some(c) = state.controllers.iter().find(|c| c.id == id) else {
                    return Ok(());
                };
                let error = |f: Fail| p4::StreamMessageResponse {
                    update: Some(p4::stream_message_response::Update::Error(
                        p4::StreamError {
                            canonical_code: f.0 as i32,
                            message: f.1,
                            space: String::new(),
                            code: 0,
                            details: Some(p4::stream_error::Details::PacketOut(
                                p4::PacketOutError {
                                    packet_out: Some(packet.clone()),
                                },
                            )),
                        },
                    )),
                };
                let is_primary = state.primary.get("") == Some(&id);
                let result = if !is_primary {
                    fail(
                        Code::PermissionDenied,
                        "expected a packet-out from the primary controller",
                    )
                } else {
                    match &state.pipeline {
                        None => fail(
                            Code::FailedPrecondition,
                            "expected a pipeline before a packet-out, found none",
                        ),
                        Some(pipe) => pipe.packet_out(&packet),
                    }
                };
                match result {
                    Err(f) => {
                        let _ = c.tx.send(Ok(error(f)));
                    }
                    Ok(bytes) => {
                        drop(state);
                        self.0.process(self.0.config.cpu_port, &bytes);
                    }
                }
                Ok(())
            }
            Some(_) => Ok(()),
            None => Err(Status::invalid_argument(
                "expected a stream message with an update, found none",
            )),
        }
    }

    fn write_one(pipe: &mut Pipeline, u: &p4::Update) -> Result<(), Fail> {
        use p4::entity::Entity as E;
        let kind = p4::update::Type::try_from(u.r#type).unwrap_or(p4::update::Type::Unspecified);
        if kind == p4::update::Type::Unspecified {
            return fail(
                Code::InvalidArgument,
                format!("expected an update type, found {}", u.r#type),
            );
        }
        match u.entity.as_ref().and_then(|e| e.entity.as_ref()) {
            Some(E::TableEntry(t)) => pipe.write_table_entry(kind, t),
            Some(E::MeterEntry(m)) => pipe.write_meter_entry(kind, m),
            Some(E::DirectMeterEntry(m)) => pipe.write_direct_meter_entry(kind, m),
            Some(E::CounterEntry(c)) => pipe.write_counter_entry(kind, c),
            Some(E::RegisterEntry(r)) => pipe.write_register_entry(kind, r),
            Some(E::DirectCounterEntry(c)) => pipe.write_direct_counter_entry(kind, c),
            Some(E::PacketReplicationEngineEntry(p)) => pipe.write_pre_entry(kind, p),
            Some(_) => fail(Code::Unimplemented, "this entity type is not writable yet"),
            None => fail(
                Code::InvalidArgument,
                "expected an entity in the update, found none",
            ),
        }
    }
}

impl Service {
    /// ROLLBACK_ON_ERROR: the updates in order until one fails, then the
    /// inverses of those applied, last first (see [`crate::undo`]). The
    /// failed update gets its own code; the others ABORTED, or INTERNAL if
    /// one could not be undone.
    fn write_all_or_none(pipe: &mut Pipeline, updates: &[p4::Update]) -> Vec<Result<(), Fail>> {
        let mut undo: Vec<Vec<p4::Update>> = Vec::new();
        let mut failed = None;
        for (i, u) in updates.iter().enumerate() {
            let step = pipe
                .inverse(u)
                .and_then(|inverse| Self::write_one(pipe, u).map(|()| inverse));
            match step {
                Ok(inverse) => undo.push(inverse),
                Err(f) => {
                    failed = Some((i, f));
                    break;
                }
            }
        }
        let Some((at, f)) = failed else {
            return updates.iter().map(|_| Ok(())).collect();
        };
        let mut undo_error = None;
        for inverse in undo.iter().rev() {
            for u in inverse {
                if let Err((_, message)) = Self::write_one(pipe, u) {
                    undo_error.get_or_insert(message);
                }
            }
        }
        let mut f = Some(f);
        (0..updates.len())
            .map(|i| {
                Err(if i == at {
                    f.take().unwrap_or((Code::Unknown, String::new()))
                } else if i < at {
                    match &undo_error {
                        None => (
                            Code::Aborted,
                            format!("rolled back: update {at} of the batch failed"),
                        ),
                        Some(e) => (
                            Code::Internal,
                            format!("update {at} of the batch failed, and undoing the batch failed: {e}"),
                        ),
                    }
                } else {
                    (
                        Code::Aborted,
                        format!("not applied: update {at} of the batch failed"),
                    )
                })
            })
            .collect()
    }
}

/// Write requests with at least this many updates are freed after their
/// answer has been sent (see [`free_later`]); freeing fewer costs less
/// than putting it off.
const FREE_LATER: usize = 64;

/// Frees a large Write request once the task answering it has handed its
/// answer on: a task that yields first runs after the tasks already
/// scheduled, the connection's among them, so the answer goes out while
/// the request's updates are freed (a thousand table entries take about
/// as long to free as to decode). Small requests are freed at once.
fn free_later(req: p4::WriteRequest) {
    if req.updates.len() >= FREE_LATER {
        tokio::spawn(async move {
            tokio::task::yield_now().await;
            drop(req);
        });
    }
}

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl P4Runtime for Service {
    async fn write(
        &self,
        request: Request<p4::WriteRequest>,
    ) -> Result<Response<p4::WriteResponse>, Status> {
        let req = request.into_inner();
        self.check_device(req.device_id)?;
        let mut state = self.0.lock();
        state.check_primary(&req.role, req.election_id)?;
        use p4::write_request::Atomicity as At;
        let rollback = match At::try_from(req.atomicity) {
            Ok(At::ContinueOnError) => false,
            // Every Write holds the lock packets are processed under, so a
            // batch applied all or nothing is also one no packet sees half
            // done.
            Ok(At::RollbackOnError | At::DataplaneAtomic) => true,
            Err(_) => {
                return Err(Status::invalid_argument(format!(
                    "unknown atomicity {}",
                    req.atomicity
                )))
            }
        };
        let Some(pipe) = state.pipeline.as_mut() else {
            return Err(Status::failed_precondition(
                "expected a forwarding pipeline config before writes, found none",
            ));
        };
        let results: Vec<Result<(), Fail>> = if rollback {
            Self::write_all_or_none(pipe, &req.updates)
        } else {
            req.updates
                .iter()
                .map(|u| Self::write_one(pipe, u))
                .collect()
        };
        drop(state);
        free_later(req);
        let failed = results.iter().filter(|r| r.is_err()).count();
        if failed == 0 {
            return Ok(Response::new(p4::WriteResponse {}));
        }
        let errors: Vec<p4::Error> = results
            .into_iter()
            .map(|r| match r {
                Ok(()) => p4::Error {
                    canonical_code: Code::Ok as i32,
                    ..Default::default()
                },
                Err((code, message)) => p4::Error {
                    canonical_code: code as i32,
                    message,
                    ..Default::default()
                },
            })
            .collect();
        Err(fairshare_p4rt::status::write_status(
            &format!("{failed} of {} updates failed", errors.len()),
            &errors,
        ))
    }

    type ReadStream = BoxStream<p4::ReadResponse>;

    async fn read(
        &self,
        request: Request<p4::ReadRequest>,
    ) -> Result<Response<Self::ReadStream>, Status> {
        use p4::entity::Entity as E;
        let req = request.into_inner();
        self.check_device(req.device_id)?;
        let mut state = self.0.lock();
        let Some(pipe) = state.pipeline.as_mut() else {
            return Err(Status::failed_precondition(
                "expected a forwarding pipeline config before reads, found none",
            ));
        };
        let mut entities = Vec::new();
        for e in &req.entities {
            match e.entity.as_ref() {
                Some(E::TableEntry(t)) => pipe.read_table_entries(t, &mut entities),
                Some(E::MeterEntry(m)) => pipe.read_meter_entries(m, &mut entities),
                Some(E::CounterEntry(c)) => pipe.read_counter_entries(c, &mut entities),
                Some(E::DirectMeterEntry(m)) => pipe.read_direct_meter_entries(m, &mut entities),
                Some(E::DirectCounterEntry(c)) => {
                    pipe.read_direct_counter_entries(c, &mut entities)
                }
                Some(E::RegisterEntry(r)) => pipe.read_register_entries(r, &mut entities),
                Some(E::PacketReplicationEngineEntry(p)) => pipe.read_pre_entries(p, &mut entities),
                Some(_) => fail(
                    Code::Unimplemented,
                    "reading this entity type is not implemented yet",
                ),
                None => fail(
                    Code::InvalidArgument,
                    "expected an entity in the read request, found none",
                ),
            }
            .map_err(status)?;
        }
        // Responses of at most 1,000 entities each.
        let mut responses = Vec::new();
        let mut rest = entities.into_iter().peekable();
        while rest.peek().is_some() {
            responses.push(Ok(p4::ReadResponse {
                entities: rest.by_ref().take(1000).collect(),
            }));
        }
        if responses.is_empty() {
            responses.push(Ok(p4::ReadResponse { entities: vec![] }));
        }
        Ok(Response::new(Box::pin(tokio_stream::iter(responses))))
    }

    async fn set_forwarding_pipeline_config(
        &self,
        request: Request<p4::SetForwardingPipelineConfigRequest>,
    ) -> Result<Response<p4::SetForwardingPipelineConfigResponse>, Status> {
        use p4::set_forwarding_pipeline_config_request::Action as A;
        let req = request.into_inner();
        self.check_device(req.device_id)?;
        let mut state = self.0.lock();
        state.check_primary(&req.role, req.election_id)?;
        let action = A::try_from(req.action).unwrap_or(A::Unspecified);
        let load = |config: Option<p4::ForwardingPipelineConfig>| -> Result<Pipeline, Status> {
            let Some(config) = config else {
                return Err(Status::invalid_argument(
                    "expected a pipeline config, found none",
                ));
            };
            let c = &self.0.config;
            Pipeline::load(config, c.drop_port, c.priority_queues).map_err(status)
        };
        match action {
            A::Verify => {
                load(req.config)?;
            }
            A::VerifyAndSave => {
                let pipe = load(req.config)?;
                state.saved = Some(pipe.config);
            }
            A::VerifyAndCommit => {
                state.pipeline = Some(load(req.config)?);
                state.saved = None;
            }
            A::Commit => {
                let Some(saved) = state.saved.take() else {
                    return Err(Status::failed_precondition(
                        "expected a config saved by VERIFY_AND_SAVE before COMMIT, found none",
                    ));
                };
                state.pipeline = Some(load(Some(saved))?);
            }
            A::ReconcileAndCommit => {
                let mut pipe = load(req.config)?;
                if let Some(old) = state.pipeline.take() {
                    let _kept_and_dropped = pipe.reconcile(old);
                }
                state.pipeline = Some(pipe);
                state.saved = None;
            }
            A::Unspecified => {
                return Err(Status::invalid_argument(format!(
                    "expected a pipeline config action, found {}",
                    req.action
                )))
            }
        }
        Ok(Response::new(p4::SetForwardingPipelineConfigResponse {}))
    }

    async fn get_forwarding_pipeline_config(
        &self,
        request: Request<p4::GetForwardingPipelineConfigRequest>,
    ) -> Result<Response<p4::GetForwardingPipelineConfigResponse>, Status> {
        use p4::get_forwarding_pipeline_config_request::ResponseType as R;
        let req = request.into_inner();
        self.check_device(req.device_id)?;
        let state = self.0.lock();
        let Some(pipe) = &state.pipeline else {
            return Ok(Response::new(p4::GetForwardingPipelineConfigResponse {
                config: None,
            }));
        };
        let full = &pipe.config;
        let mut config = p4::ForwardingPipelineConfig {
            cookie: full.cookie,
            ..Default::default()
        };
        match R::try_from(req.response_type) {
            Ok(R::All) => config = full.clone(),
            Ok(R::CookieOnly) => {}
            Ok(R::P4infoAndCookie) => config.p4info = full.p4info.clone(),
            Ok(R::DeviceConfigAndCookie) => config.p4_device_config = full.p4_device_config.clone(),
            Err(_) => {
                return Err(Status::invalid_argument(format!(
                    "expected a response type, found {}",
                    req.response_type
                )))
            }
        }
        Ok(Response::new(p4::GetForwardingPipelineConfigResponse {
            config: Some(config),
        }))
    }

    type StreamChannelStream = BoxStream<p4::StreamMessageResponse>;

    async fn stream_channel(
        &self,
        request: Request<Streaming<p4::StreamMessageRequest>>,
    ) -> Result<Response<Self::StreamChannelStream>, Status> {
        let mut inbound = request.into_inner();
        let (tx, rx) = mpsc::unbounded_channel();
        let id = {
            let mut state = self.0.lock();
            let id = state.next_stream;
            state.next_stream += 1;
            state.controllers.push(Controller {
                id,
                tx: tx.clone(),
                arbitration: None,
                device_id: 0,
            });
            id
        };
        let svc = self.clone();
        tokio::spawn(async move {
            while let Some(msg) = inbound.next().await {
                let outcome = match msg {
                    Ok(m) => svc.on_stream_message(id, m),
                    Err(_) => break,
                };
                if let Err(status) = outcome {
                    let _ = tx.send(Err(status));
                    break;
                }
            }
            svc.0.lock().remove(id);
        });
        Ok(Response::new(Box::pin(UnboundedReceiverStream::new(rx))))
    }

    async fn capabilities(
        &self,
        _request: Request<p4::CapabilitiesRequest>,
    ) -> Result<Response<p4::CapabilitiesResponse>, Status> {
        Ok(Response::new(p4::CapabilitiesResponse {
            p4runtime_api_version: fairshare_p4rt::P4RUNTIME_VERSION.to_owned(),
        }))
    }
}
