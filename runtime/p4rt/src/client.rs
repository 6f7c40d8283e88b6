//! An async P4Runtime client for one device, as a controller uses it.
//!
//! [`Client::connect`] reaches the device (retrying with a bounded,
//! doubling backoff), opens the StreamChannel and arbitrates with the
//! configured device id, role and election id, then waits for the device's
//! first arbitration answer. From then on a background task reads the
//! stream: arbitration answers update [`Client::mastership`], packet-ins go
//! (decoded by name through the P4Info) to the receiver that
//! [`Client::packet_ins`] hands out, and stream errors (a refused
//! packet-out, say) to [`Client::stream_errors`].
//!
//! The client holds two HTTP/2 connections to the device: the generated
//! gRPC client's, for StreamChannel, Read and [`Client::raw`], and one for
//! unary calls (Write, Capabilities, the pipeline configs), which sends
//! each request's headers and message in one socket write and reads the
//! answer in the calling task, with no task hop in between: a round trip
//! costs one write and one read on each side.
//!
//! Invariants:
//! * Every Write and SetForwardingPipelineConfig carries the client's
//!   device id, role and current election id; the device decides who is
//!   primary, and its PERMISSION_DENIED comes back as
//!   [`Error::NotPrimary`].
//! * A Write with failed updates is [`Error::UpdatesFailed`] with one
//!   `p4.v1.Error` per update in request order; nothing is retried.
//! * Writes use CONTINUE_ON_ERROR unless [`Client::write_with`] names
//!   another atomicity; the order of updates inside one Write is not
//!   guaranteed by P4Runtime, so updates that must happen in order go into
//!   separate writes.
//! * Packet-ins are never waited for: when the receiver is full (or was
//!   dropped) they are counted in [`Client::packet_ins_dropped`] and
//!   dropped, so a slow consumer cannot stall arbitration.
//! * Dropping the client closes its stream; the device then elects
//!   another primary.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::transport::{Channel, Endpoint};

use crate::bytestring::{BitString, Form};
use crate::proto::p4::config::v1 as cfg;
use crate::proto::p4::v1 as p4;
use crate::proto::p4::v1::p4_runtime_client::P4RuntimeClient;
use crate::{Error, P4InfoIndex};

/// How to reach the device: a bounded number of attempts, with a delay
/// that doubles from `initial` up to `max` between them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backoff {
    /// Attempts in all (at least one is made).
    pub attempts: u32,
    pub initial: Duration,
    pub max: Duration,
    /// How long one TCP connection attempt may take.
    pub connect_timeout: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            attempts: 10,
            initial: Duration::from_millis(50),
            max: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(2),
        }
    }
}

impl Backoff {
    /// The delay after failed attempt number `attempt` (0-based).
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.max)
    }
}

/// Who the client is to the device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    pub device_id: u64,
    /// The role name; empty for the default role (full access).
    pub role: String,
    /// The election id; the highest of a role's controllers is primary.
    pub election_id: u128,
    pub backoff: Backoff,
    /// How long to wait for the device's answer to an arbitration.
    pub arbitration_timeout: Duration,
    /// Packet-ins buffered for the receiver before new ones are dropped.
    pub packet_in_capacity: usize,
    /// How long a unary call (Write, pipeline, Capabilities) keeps its
    /// thread polling for the answer before letting it sleep
    /// ([`crate::busy`]); zero turns it off.
    pub busy_poll: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            device_id: 0,
            role: String::new(),
            election_id: 1,
            backoff: Backoff::default(),
            arbitration_timeout: Duration::from_secs(5),
            packet_in_capacity: 1024,
            busy_poll: crate::busy::DEFAULT_BUDGET,
        }
    }
}

/// The client's standing with the device, from its arbitration answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mastership {
    /// No answer yet.
    Unknown,
    /// This client is the primary of its role.
    Primary,
    /// Another controller is primary; `primary_election_id` is the id the
    /// device reported (the primary's, or the highest seen).
    Backup { primary_election_id: Option<u128> },
    /// The role has no primary (e.g. the primary left and nobody with a
    /// high enough election id has arbitrated since).
    NoPrimary { highest_election_id: Option<u128> },
    /// The stream has ended, with the reason.
    Disconnected(String),
}

/// A packet the pipeline sent to the controller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacketIn {
    pub payload: Vec<u8>,
    /// When the client took it off the stream.
    pub received: std::time::Instant,
    /// Metadata by the P4Info name of its `packet_in` field, as canonical
    /// byte strings. A field id the P4Info does not know is named `#<id>`.
    pub metadata: BTreeMap<String, Vec<u8>>,
}

impl PacketIn {
    /// The value of metadata field `name`, if present and at most 128 bits.
    pub fn value(&self, name: &str) -> Option<u128> {
        crate::bytestring::decode_u128(self.metadata.get(name)?)
    }
}

type SharedIndex = Arc<RwLock<Option<Arc<P4InfoIndex>>>>;

fn current(index: &SharedIndex) -> Option<Arc<P4InfoIndex>> {
    index.read().unwrap_or_else(|e| e.into_inner()).clone()
}

/// Sends packet-outs on the client's stream; cheap to clone, usable from
/// any task.
#[derive(Clone)]
pub struct PacketOutSink {
    tx: mpsc::UnboundedSender<p4::StreamMessageRequest>,
    index: SharedIndex,
}

impl PacketOutSink {
    /// Sends `payload` with the `packet_out` metadata given by name. Every
    /// field of the P4Info's `packet_out` header must be given once.
    ///
    /// # Errors
    /// [`Error::NoP4Info`] without a P4Info; [`Error::BadMember`] for an
    /// unknown, repeated or missing field; [`Error::ValueTooWide`] for a
    /// value wider than its field; [`Error::StreamClosed`] when the stream
    /// has ended.
    pub fn send(&self, payload: Vec<u8>, metadata: &[(&str, u128)]) -> Result<(), Error> {
        let index = current(&self.index).ok_or(Error::NoP4Info)?;
        let packet = packet_out(&index, payload, metadata)?;
        self.send_raw(packet)
    }

    /// Sends a packet-out as it is, unchecked.
    ///
    /// # Errors
    /// [`Error::StreamClosed`] when the stream has ended.
    pub fn send_raw(&self, packet: p4::PacketOut) -> Result<(), Error> {
        self.tx
            .send(p4::StreamMessageRequest {
                update: Some(p4::stream_message_request::Update::Packet(packet)),
            })
            .map_err(|_| Error::StreamClosed)
    }
}

/// A packet-out with metadata by name, checked against the P4Info.
///
/// # Errors
/// See [`PacketOutSink::send`].
pub fn packet_out(
    index: &P4InfoIndex,
    payload: Vec<u8>,
    metadata: &[(&str, u128)],
) -> Result<p4::PacketOut, Error> {
    let header = index.packet_out();
    let fields: &[cfg::controller_packet_metadata::Metadata] =
        header.map_or(&[], |h| h.metadata.as_slice());
    let bad = |expected: String, found: String| Error::BadMember {
        parent: "packet_out".into(),
        expected,
        found,
    };
    let mut out = Vec::with_capacity(fields.len());
    for (name, value) in metadata {
        let Some(f) = fields.iter().find(|f| f.name == *name) else {
            return Err(bad(
                format!("one of the fields {:?}", names(fields)),
                format!("`{name}`"),
            ));
        };
        if out
            .iter()
            .any(|m: &p4::PacketMetadata| m.metadata_id == f.id)
        {
            return Err(bad("each field once".into(), format!("`{name}` twice")));
        }
        out.push(p4::PacketMetadata {
            metadata_id: f.id,
            value: BitString::from_u128(*value, f.bitwidth.max(0) as u32)?.into_bytes(),
        });
    }
    if let Some(f) = fields
        .iter()
        .find(|f| !out.iter().any(|m| m.metadata_id == f.id))
    {
        return Err(bad(
            format!("a value for every field {:?}", names(fields)),
            format!("none for `{}`", f.name),
        ));
    }
    Ok(p4::PacketOut {
        payload,
        metadata: out,
    })
}

fn names(fields: &[cfg::controller_packet_metadata::Metadata]) -> Vec<&str> {
    fields.iter().map(|f| f.name.as_str()).collect()
}

/// Decodes a packet-in's metadata by name through the P4Info.
pub fn decode_packet_in(index: Option<&P4InfoIndex>, packet: p4::PacketIn) -> PacketIn {
    let header = index.and_then(|i| i.packet_in());
    let metadata = packet
        .metadata
        .into_iter()
        .map(|m| {
            let field = header.and_then(|h| h.metadata.iter().find(|f| f.id == m.metadata_id));
            let name = field.map_or_else(|| format!("#{}", m.metadata_id), |f| f.name.clone());
            let value = match field {
                Some(f) => BitString::from_wire(&m.value, f.bitwidth.max(0) as u32, Form::Padded)
                    .map(BitString::into_bytes)
                    .unwrap_or(m.value),
                None => m.value,
            };
            (name, value)
        })
        .collect();
    PacketIn {
        payload: packet.payload,
        received: std::time::Instant::now(),
        metadata,
    }
}

/// A connected, arbitrated P4Runtime client.
pub struct Client {
    rpc: P4RuntimeClient<Channel>,
    /// Unary calls (Write, Capabilities, pipeline configs) go here.
    unary: unary::Unary,
    config: ClientConfig,
    stream_tx: mpsc::UnboundedSender<p4::StreamMessageRequest>,
    mastership: watch::Receiver<Mastership>,
    index: SharedIndex,
    packet_ins: Option<mpsc::Receiver<PacketIn>>,
    stream_errors: Option<mpsc::UnboundedReceiver<p4::StreamError>>,
    dropped: Arc<AtomicU64>,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for Client {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// The channel to a device, with the transport settings P4Runtime traffic
/// wants: no Nagle delay (requests are small and wait for their answer)
/// and HTTP/2 windows large enough for 1,000-update batches.
fn endpoint(addr: &str, backoff: &Backoff) -> Result<Endpoint, Error> {
    let uri = if addr.contains("://") {
        addr.to_owned()
    } else {
        format!("http://{addr}")
    };
    Ok(Endpoint::from_shared(uri)
        .map_err(|e| Error::Connect {
            addr: addr.to_owned(),
            attempts: 0,
            last: format!("not a valid address: {e}"),
        })?
        .connect_timeout(backoff.connect_timeout)
        .tcp_nodelay(true)
        .initial_stream_window_size(Some(4 << 20))
        .initial_connection_window_size(Some(8 << 20)))
}

impl Client {
    /// Connects to the device at `addr` (`host:port` or `http://host:port`),
    /// opens the StreamChannel and arbitrates.
    ///
    /// # Errors
    /// [`Error::Connect`] when every attempt failed; [`Error::Arbitration`]
    /// when the device did not answer the arbitration in time or refused
    /// it (e.g. an election id another controller of the role holds).
    pub async fn connect(addr: &str, config: ClientConfig) -> Result<Client, Error> {
        let endpoint = endpoint(addr, &config.backoff)?;
        let attempts = config.backoff.attempts.max(1);
        let mut last = String::new();
        for attempt in 0..attempts {
            if attempt > 0 {
                tokio::time::sleep(config.backoff.delay(attempt - 1)).await;
            }
            let channel = match endpoint.connect().await {
                Ok(c) => c,
                Err(e) => {
                    last = source_chain(&e);
                    continue;
                }
            };
            let rpc = P4RuntimeClient::new(channel)
                .max_decoding_message_size(usize::MAX)
                .max_encoding_message_size(usize::MAX);
            let unary = match unary::Unary::connect(
                endpoint.uri(),
                config.backoff.connect_timeout,
                config.busy_poll,
            )
            .await
            {
                Ok(u) => u,
                Err(e) => {
                    last = e;
                    continue;
                }
            };
            match Self::open(rpc, unary, config.clone()).await {
                Ok(client) => return client.await_arbitration().await,
                Err(Opened::Retry(e)) => last = e,
                Err(Opened::Fatal(e)) => return Err(e),
            }
        }
        Err(Error::Connect {
            addr: addr.to_owned(),
            attempts,
            last,
        })
    }

    /// Opens the stream and starts the reader; the arbitration request is
    /// queued before the call so that the device sees it first.
    async fn open(
        mut rpc: P4RuntimeClient<Channel>,
        unary: unary::Unary,
        config: ClientConfig,
    ) -> Result<Client, Opened> {
        let (stream_tx, rx) = mpsc::unbounded_channel();
        let _ = stream_tx.send(arbitration(&config, config.election_id));
        let inbound = match rpc.stream_channel(UnboundedReceiverStream::new(rx)).await {
            Ok(r) => r.into_inner(),
            Err(s) if s.code() == tonic::Code::Unavailable => {
                return Err(Opened::Retry(s.message().to_owned()))
            }
            Err(s) => return Err(Opened::Fatal(rpc_error("StreamChannel", s))),
        };
        let (mastership_tx, mastership) = watch::channel(Mastership::Unknown);
        let (packet_tx, packet_rx) = mpsc::channel(config.packet_in_capacity.max(1));
        let (error_tx, error_rx) = mpsc::unbounded_channel();
        let index: SharedIndex = Arc::default();
        let dropped = Arc::new(AtomicU64::new(0));
        let reader = tokio::spawn(read_stream(
            inbound,
            mastership_tx,
            packet_tx,
            error_tx,
            index.clone(),
            dropped.clone(),
        ));
        Ok(Client {
            rpc,
            unary,
            config,
            stream_tx,
            mastership,
            index,
            packet_ins: Some(packet_rx),
            stream_errors: Some(error_rx),
            dropped,
            reader,
        })
    }

    async fn await_arbitration(mut self) -> Result<Client, Error> {
        let timeout = self.config.arbitration_timeout;
        let mut rx = self.mastership.clone();
        let answered =
            tokio::time::timeout(timeout, rx.wait_for(|m| !matches!(m, Mastership::Unknown))).await;
        match answered {
            Err(_) => Err(Error::Arbitration(format!("no answer within {timeout:?}"))),
            Ok(Err(_)) => Err(Error::StreamClosed),
            Ok(Ok(m)) => match &*m {
                Mastership::Disconnected(reason) => Err(Error::Arbitration(reason.clone())),
                _ => {
                    drop(m);
                    self.mastership.mark_unchanged();
                    Ok(self)
                }
            },
        }
    }

    /// The client's standing with the device, as last reported.
    pub fn mastership(&self) -> Mastership {
        self.mastership.borrow().clone()
    }

    /// True when the device last said this client is primary.
    pub fn is_primary(&self) -> bool {
        *self.mastership.borrow() == Mastership::Primary
    }

    /// A receiver that sees every change of standing.
    pub fn watch_mastership(&self) -> watch::Receiver<Mastership> {
        self.mastership.clone()
    }

    /// The election id the client sends.
    pub fn election_id(&self) -> u128 {
        self.config.election_id
    }

    /// Arbitrates again with `election_id` (to become primary, or to step
    /// back) and returns the device's answer.
    ///
    /// # Errors
    /// [`Error::StreamClosed`] when the stream has ended;
    /// [`Error::Arbitration`] without an answer in time.
    pub async fn arbitrate(&mut self, election_id: u128) -> Result<Mastership, Error> {
        self.mastership.mark_unchanged();
        self.config.election_id = election_id;
        self.stream_tx
            .send(arbitration(&self.config, election_id))
            .map_err(|_| Error::StreamClosed)?;
        let timeout = self.config.arbitration_timeout;
        match tokio::time::timeout(timeout, self.mastership.changed()).await {
            Err(_) => Err(Error::Arbitration(format!("no answer within {timeout:?}"))),
            Ok(Err(_)) => Err(Error::StreamClosed),
            Ok(Ok(())) => match self.mastership.borrow_and_update().clone() {
                Mastership::Disconnected(reason) => Err(Error::Arbitration(reason)),
                m => Ok(m),
            },
        }
    }

    /// The packet-in receiver; `None` after the first call.
    pub fn packet_ins(&mut self) -> Option<mpsc::Receiver<PacketIn>> {
        self.packet_ins.take()
    }

    /// Errors the device reported on the stream (e.g. a refused
    /// packet-out); `None` after the first call.
    pub fn stream_errors(&mut self) -> Option<mpsc::UnboundedReceiver<p4::StreamError>> {
        self.stream_errors.take()
    }

    /// Packet-ins dropped because the receiver was full or gone.
    pub fn packet_ins_dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// A handle that sends packet-outs on this client's stream.
    pub fn packet_out_sink(&self) -> PacketOutSink {
        PacketOutSink {
            tx: self.stream_tx.clone(),
            index: self.index.clone(),
        }
    }

    /// The P4Info in use (pushed by [`Client::set_pipeline`] or set by
    /// [`Client::set_p4info`] or [`Client::fetch_p4info`]).
    pub fn p4info(&self) -> Option<Arc<P4InfoIndex>> {
        current(&self.index)
    }

    /// Uses `index` for names without pushing it (e.g. after reconnecting
    /// to a device that has the pipeline already).
    pub fn set_p4info(&self, index: P4InfoIndex) {
        *self.index.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(index));
    }

    /// Reads the device's P4Info and uses it; false when the device has no
    /// pipeline.
    ///
    /// # Errors
    /// [`Error::Rpc`] for a failed call; the errors of
    /// [`P4InfoIndex::new`] for a P4Info that does not index.
    pub async fn fetch_p4info(&mut self) -> Result<bool, Error> {
        use p4::get_forwarding_pipeline_config_request::ResponseType;
        let config = self.get_pipeline(ResponseType::P4infoAndCookie).await?;
        match config.and_then(|c| c.p4info) {
            Some(info) if !info.tables.is_empty() || !info.actions.is_empty() => {
                self.set_p4info(P4InfoIndex::new(info)?);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Pushes a pipeline with VERIFY_AND_COMMIT: the BMv2 JSON bytes as
    /// the device config, and the P4Info, which the client then uses.
    ///
    /// # Errors
    /// The errors of [`P4InfoIndex::new`]; [`Error::NotPrimary`];
    /// [`Error::Rpc`] when the device refuses the config.
    pub async fn set_pipeline(
        &mut self,
        device_config: impl Into<Vec<u8>>,
        p4info: cfg::P4Info,
    ) -> Result<(), Error> {
        use p4::set_forwarding_pipeline_config_request::Action;
        let index = P4InfoIndex::new(p4info.clone())?;
        let config = p4::ForwardingPipelineConfig {
            p4info: Some(p4info),
            p4_device_config: device_config.into(),
            cookie: None,
        };
        self.set_pipeline_config(Action::VerifyAndCommit, config)
            .await?;
        self.set_p4info(index);
        Ok(())
    }

    /// SetForwardingPipelineConfig with any action; the client's P4Info is
    /// left as it was.
    ///
    /// # Errors
    /// [`Error::NotPrimary`]; [`Error::Rpc`] when the device refuses.
    pub async fn set_pipeline_config(
        &mut self,
        action: p4::set_forwarding_pipeline_config_request::Action,
        config: p4::ForwardingPipelineConfig,
    ) -> Result<(), Error> {
        let request = p4::SetForwardingPipelineConfigRequest {
            device_id: self.config.device_id,
            role: self.config.role.clone(),
            election_id: Some(self.config.election_id.into()),
            action: action as i32,
            config: Some(config),
            ..Default::default()
        };
        self.unary
            .call::<_, p4::SetForwardingPipelineConfigResponse>(unary::SET_PIPELINE, request)
            .await
            .map_err(|s| rpc_error("SetForwardingPipelineConfig", s))?;
        Ok(())
    }

    /// GetForwardingPipelineConfig; `None` when the device answers without
    /// a config.
    ///
    /// # Errors
    /// [`Error::Rpc`] for a failed call.
    pub async fn get_pipeline(
        &mut self,
        response_type: p4::get_forwarding_pipeline_config_request::ResponseType,
    ) -> Result<Option<p4::ForwardingPipelineConfig>, Error> {
        let request = p4::GetForwardingPipelineConfigRequest {
            device_id: self.config.device_id,
            response_type: response_type as i32,
        };
        Ok(self
            .unary
            .call::<_, p4::GetForwardingPipelineConfigResponse>(unary::GET_PIPELINE, request)
            .await
            .map_err(|s| rpc_error("GetForwardingPipelineConfig", s))?
            .config)
    }

    /// One Write of `updates` (CONTINUE_ON_ERROR).
    ///
    /// # Errors
    /// [`Error::UpdatesFailed`] with the per-update errors when some
    /// updates failed; [`Error::NotPrimary`]; [`Error::Rpc`] otherwise.
    pub async fn write(&mut self, updates: Vec<p4::Update>) -> Result<(), Error> {
        self.write_with(updates, p4::write_request::Atomicity::ContinueOnError)
            .await
    }

    /// One Write of `updates` with the given atomicity (a device may
    /// answer UNIMPLEMENTED for all but CONTINUE_ON_ERROR). With
    /// ROLLBACK_ON_ERROR, a failed Write has changed nothing, and its
    /// per-update errors say which update failed (the others are ABORTED
    /// on `fairshare switch`).
    ///
    /// # Errors
    /// See [`Client::write`].
    pub async fn write_with(
        &mut self,
        updates: Vec<p4::Update>,
        atomicity: p4::write_request::Atomicity,
    ) -> Result<(), Error> {
        let request = p4::WriteRequest {
            device_id: self.config.device_id,
            role: self.config.role.clone(),
            election_id: Some(self.config.election_id.into()),
            updates,
            atomicity: atomicity as i32,
            ..Default::default()
        };
        write(&self.unary, request).await
    }

    /// A handle for writes from other tasks, concurrently with this
    /// client's (HTTP/2 carries them side by side on the one connection).
    /// It carries the election id of the moment it was made. Concurrent
    /// writes are not ordered with respect to each other.
    pub fn writer(&self) -> Writer {
        Writer {
            unary: self.unary.clone(),
            device_id: self.config.device_id,
            role: self.config.role.clone(),
            election_id: self.config.election_id,
        }
    }

    /// A Write of one update.
    ///
    /// # Errors
    /// See [`Client::write`].
    pub async fn write_one(&mut self, update: p4::Update) -> Result<(), Error> {
        self.write(vec![update]).await
    }

    /// Reads `entities` (wildcards allowed: table id 0, no match, no
    /// index) and collects every streamed response.
    ///
    /// # Errors
    /// [`Error::Rpc`] for a failed call or a stream that breaks off.
    pub async fn read(&mut self, entities: Vec<p4::Entity>) -> Result<Vec<p4::Entity>, Error> {
        let mut stream = self.read_stream(entities).await?;
        let mut out = Vec::new();
        while let Some(batch) = stream.next().await? {
            out.extend(batch);
        }
        Ok(out)
    }

    /// Reads `entities` and hands the responses over as the device streams
    /// them, for reads too large to hold at once.
    ///
    /// # Errors
    /// [`Error::Rpc`] for a failed call.
    pub async fn read_stream(&mut self, entities: Vec<p4::Entity>) -> Result<ReadStream, Error> {
        let request = p4::ReadRequest {
            device_id: self.config.device_id,
            role: self.config.role.clone(),
            entities,
        };
        let inner = self
            .rpc
            .read(request)
            .await
            .map_err(|s| rpc_error("Read", s))?
            .into_inner();
        Ok(ReadStream(inner))
    }

    /// Capabilities: the P4Runtime version the device implements.
    ///
    /// # Errors
    /// [`Error::Rpc`] for a failed call.
    pub async fn capabilities(&mut self) -> Result<String, Error> {
        Ok(self
            .unary
            .call::<_, p4::CapabilitiesResponse>(unary::CAPABILITIES, p4::CapabilitiesRequest {})
            .await
            .map_err(|s| rpc_error("Capabilities", s))?
            .p4runtime_api_version)
    }

    /// The generated gRPC client, for calls this type does not wrap.
    pub fn raw(&mut self) -> &mut P4RuntimeClient<Channel> {
        &mut self.rpc
    }
}

/// The responses of one Read, as they arrive.
pub struct ReadStream(tonic::Streaming<p4::ReadResponse>);

impl ReadStream {
    /// The entities of the next response; `None` at the end.
    ///
    /// # Errors
    /// [`Error::Rpc`] when the stream breaks off.
    pub async fn next(&mut self) -> Result<Option<Vec<p4::Entity>>, Error> {
        Ok(self
            .0
            .message()
            .await
            .map_err(|s| rpc_error("Read", s))?
            .map(|r| r.entities))
    }
}

/// Writes from any task; cheap to clone. See [`Client::writer`].
#[derive(Clone)]
pub struct Writer {
    unary: unary::Unary,
    device_id: u64,
    role: String,
    election_id: u128,
}

impl Writer {
    /// One Write of `updates`, as [`Client::write`].
    ///
    /// # Errors
    /// As [`Client::write`].
    pub async fn write(&self, updates: Vec<p4::Update>) -> Result<(), Error> {
        let request = p4::WriteRequest {
            device_id: self.device_id,
            role: self.role.clone(),
            election_id: Some(self.election_id.into()),
            updates,
            atomicity: p4::write_request::Atomicity::ContinueOnError as i32,
            ..Default::default()
        };
        write(&self.unary, request).await
    }
}

enum Opened {
    Retry(String),
    Fatal(Error),
}

fn arbitration(config: &ClientConfig, election_id: u128) -> p4::StreamMessageRequest {
    let role = (!config.role.is_empty()).then(|| p4::Role {
        name: config.role.clone(),
        ..Default::default()
    });
    p4::StreamMessageRequest {
        update: Some(p4::stream_message_request::Update::Arbitration(
            p4::MasterArbitrationUpdate {
                device_id: config.device_id,
                role,
                election_id: Some(election_id.into()),
                status: None,
            },
        )),
    }
}

/// The error of a failed RPC other than Write.
fn rpc_error(rpc: &'static str, s: tonic::Status) -> Error {
    if s.code() == tonic::Code::PermissionDenied {
        return Error::NotPrimary(s.message().to_owned());
    }
    Error::Rpc {
        rpc,
        code: s.code(),
        message: s.message().to_owned(),
    }
}

/// One Write RPC.
async fn write(unary: &unary::Unary, request: p4::WriteRequest) -> Result<(), Error> {
    let body = write_body(&request).map_err(write_error)?;
    unary
        .call_framed::<p4::WriteResponse, _>(unary::WRITE, body, request)
        .await
        .map(|_| ())
        .map_err(write_error)
}

/// A Write request, encoded and framed: the bytes prost encodes (fields in
/// field-number order), with the length of each table entry worked out
/// once. prost works out a nested message's length again at every level
/// it is nested in, and a table entry sits three levels below the
/// request: in a batch of table entries, lengths cost more than writing
/// the bytes. Updates of other entities are left to prost as they are.
fn write_body(request: &p4::WriteRequest) -> Result<unary::Framed, tonic::Status> {
    use p4::entity::Entity as E;
    use prost::encoding::{
        encode_key, encode_varint, encoded_len_varint, int32, key_len, WireType,
    };
    use prost::Message;
    // The fields before `updates` (4) and after it, as prost encodes them
    // (the deprecated `role_id` too: it is still on the wire).
    #[allow(deprecated)]
    let head = p4::WriteRequest {
        device_id: request.device_id,
        role_id: request.role_id,
        election_id: request.election_id,
        ..Default::default()
    };
    let tail = p4::WriteRequest {
        atomicity: request.atomicity,
        role: request.role.clone(),
        ..Default::default()
    };
    fn entry(u: &p4::Update) -> Option<&p4::TableEntry> {
        match u.entity.as_ref().and_then(|e| e.entity.as_ref()) {
            Some(E::TableEntry(t)) => Some(t),
            _ => None,
        }
    }
    // Per update: the table entry's length, when the update is one.
    let entry_lens: Vec<usize> = request
        .updates
        .iter()
        .map(|u| entry(u).map_or(0, |t| t.encoded_len()))
        .collect();
    // The length of an update holding a table entry of `len` bytes.
    let update_len = |u: &p4::Update, len: usize| {
        let entity = key_len(2) + encoded_len_varint(len as u64) + len;
        let kind = if u.r#type != 0 {
            int32::encoded_len(1, &u.r#type)
        } else {
            0
        };
        kind + key_len(2) + encoded_len_varint(entity as u64) + entity
    };
    let mut len = head.encoded_len() + tail.encoded_len();
    for (u, &entry_len) in request.updates.iter().zip(&entry_lens) {
        len += match entry(u) {
            Some(_) => {
                let n = update_len(u, entry_len);
                key_len(4) + encoded_len_varint(n as u64) + n
            }
            None => prost::encoding::message::encoded_len(4, u),
        };
    }
    let mut body = unary::Framed::with_capacity(len)?;
    let buf = &mut body.0;
    head.encode_raw(buf);
    for (u, &entry_len) in request.updates.iter().zip(&entry_lens) {
        let Some(t) = entry(u) else {
            prost::encoding::message::encode(4, u, buf);
            continue;
        };
        encode_key(4, WireType::LengthDelimited, buf);
        encode_varint(update_len(u, entry_len) as u64, buf);
        if u.r#type != 0 {
            int32::encode(1, &u.r#type, buf);
        }
        encode_key(2, WireType::LengthDelimited, buf);
        encode_varint(
            (key_len(2) + encoded_len_varint(entry_len as u64) + entry_len) as u64,
            buf,
        );
        encode_key(2, WireType::LengthDelimited, buf);
        encode_varint(entry_len as u64, buf);
        t.encode_raw(buf);
    }
    tail.encode_raw(buf);
    if buf.len() != 5 + len {
        return Err(tonic::Status::internal(format!(
            "encoding the request: expected {len} bytes, wrote {}",
            buf.len() - 5
        )));
    }
    Ok(body)
}

/// The error of a failed Write: the per-update errors when the status
/// carries them.
fn write_error(s: tonic::Status) -> Error {
    match crate::status::write_errors(&s) {
        Ok(errors) if !errors.is_empty() => Error::UpdatesFailed {
            message: s.message().to_owned(),
            errors,
        },
        _ => rpc_error("Write", s),
    }
}

fn source_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Reads the stream until it ends.
async fn read_stream(
    mut inbound: tonic::Streaming<p4::StreamMessageResponse>,
    mastership: watch::Sender<Mastership>,
    packets: mpsc::Sender<PacketIn>,
    errors: mpsc::UnboundedSender<p4::StreamError>,
    index: SharedIndex,
    dropped: Arc<AtomicU64>,
) {
    use p4::stream_message_response::Update;
    let reason = loop {
        match inbound.message().await {
            Ok(Some(message)) => match message.update {
                Some(Update::Arbitration(a)) => {
                    let _ = mastership.send(standing(&a));
                }
                Some(Update::Packet(p)) => {
                    let packet = decode_packet_in(current(&index).as_deref(), p);
                    if packets.try_send(packet).is_err() {
                        dropped.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Some(Update::Error(e)) => {
                    let _ = errors.send(e);
                }
                _ => {}
            },
            Ok(None) => break "the device ended the stream".to_owned(),
            Err(s) => break format!("{:?}: {}", s.code(), s.message()),
        }
    };
    let _ = mastership.send(Mastership::Disconnected(reason));
}

/// The standing an arbitration answer gives.
fn standing(a: &p4::MasterArbitrationUpdate) -> Mastership {
    let id = a.election_id.map(u128::from);
    match a.status.as_ref().map_or(0, |s| s.code) {
        0 => Mastership::Primary,
        5 => Mastership::NoPrimary {
            highest_election_id: id,
        },
        _ => Mastership::Backup {
            primary_election_id: id,
        },
    }
}

/// Unary gRPC calls over an HTTP/2 connection of their own.
///
/// The generated client sends a request through a buffer task and
/// hyper's dispatch task, and hyper sends the body only once the stream
/// has been opened: two socket writes (HEADERS, then DATA) and several
/// task hops per call. Here the encoded request is handed to `h2` with
/// its headers in one go, so the connection writes both in one write,
/// and the answer is read by the calling task itself. Streaming calls
/// (StreamChannel, Read) stay on the generated client.
mod unary {
    use prost::bytes::{Buf, Bytes};
    use tonic::codegen::http::{self, header, uri};
    use tonic::{Code, Status};

    // The methods called here, checked when compiled.
    pub(super) const WRITE: uri::PathAndQuery =
        uri::PathAndQuery::from_static("/p4.v1.P4Runtime/Write");
    pub(super) const CAPABILITIES: uri::PathAndQuery =
        uri::PathAndQuery::from_static("/p4.v1.P4Runtime/Capabilities");
    pub(super) const SET_PIPELINE: uri::PathAndQuery =
        uri::PathAndQuery::from_static("/p4.v1.P4Runtime/SetForwardingPipelineConfig");
    pub(super) const GET_PIPELINE: uri::PathAndQuery =
        uri::PathAndQuery::from_static("/p4.v1.P4Runtime/GetForwardingPipelineConfig");

    /// The largest answer accepted (a GetForwardingPipelineConfig carries
    /// the whole BMv2 JSON).
    const MAX_ANSWER: usize = 1 << 30;

    /// A gRPC request message behind its 5-byte prefix (not compressed,
    /// the length), with room for the message.
    pub(super) struct Framed(pub(super) Vec<u8>);

    impl Framed {
        /// The prefix of a message of `len` bytes.
        pub(super) fn with_capacity(len: usize) -> Result<Framed, Status> {
            let framed_len = u32::try_from(len).map_err(|_| {
                Status::resource_exhausted(format!(
                    "expected a request of at most 4 GiB, found {len} bytes"
                ))
            })?;
            let mut body = Vec::with_capacity(5 + len);
            body.push(0);
            body.extend_from_slice(&framed_len.to_be_bytes());
            Ok(Framed(body))
        }
    }

    /// One HTTP/2 connection to the device; cheap to clone.
    #[derive(Clone)]
    pub(super) struct Unary {
        send: h2::client::SendRequest<Bytes>,
        scheme: uri::Scheme,
        authority: uri::Authority,
        busy_poll: std::time::Duration,
    }

    impl Unary {
        /// Connects to the authority of `uri` (an `http://host:port` URI).
        pub(super) async fn connect(
            uri: &http::Uri,
            timeout: std::time::Duration,
            busy_poll: std::time::Duration,
        ) -> Result<Unary, String> {
            let authority = uri
                .authority()
                .cloned()
                .ok_or_else(|| format!("expected host:port in {uri}, found none"))?;
            let scheme = uri.scheme().cloned().unwrap_or(uri::Scheme::HTTP);
            if scheme != uri::Scheme::HTTP {
                return Err(format!("expected an http:// address, found {uri}"));
            }
            let port = authority.port_u16().unwrap_or(80);
            let tcp = tokio::time::timeout(
                timeout,
                tokio::net::TcpStream::connect((authority.host(), port)),
            )
            .await
            .map_err(|_| format!("no connection within {timeout:?}"))?
            .map_err(|e| e.to_string())?;
            // Requests are small and wait for their answer: no Nagle delay.
            tcp.set_nodelay(true).map_err(|e| e.to_string())?;
            // Windows large enough that answers (a pipeline config, say)
            // are not held up by WINDOW_UPDATE round trips.
            let (send, connection) = h2::client::Builder::new()
                .enable_push(false)
                .initial_window_size(4 << 20)
                .initial_connection_window_size(8 << 20)
                .handshake::<_, Bytes>(tcp)
                .await
                .map_err(|e| e.to_string())?;
            // The connection runs until every handle to it is gone.
            tokio::spawn(async move {
                let _ = connection.await;
            });
            Ok(Unary {
                send,
                scheme,
                authority,
                busy_poll,
            })
        }

        /// Calls `path` (`/package.Service/Method`, one of the constants
        /// of this module) with `request`.
        pub(super) async fn call<Q, R>(
            &self,
            path: uri::PathAndQuery,
            request: Q,
        ) -> Result<R, Status>
        where
            Q: prost::Message,
            R: prost::Message + Default,
        {
            let mut body = Framed::with_capacity(request.encoded_len())?;
            request
                .encode(&mut body.0)
                .map_err(|e| Status::internal(format!("encoding the request: {e}")))?;
            self.call_framed(path, body, request).await
        }

        /// Calls `path` with a request encoded already; `spent` (what the
        /// request was encoded from) is dropped once the request is sent,
        /// while the device works on it.
        pub(super) async fn call_framed<R, T>(
            &self,
            path: uri::PathAndQuery,
            body: Framed,
            spent: T,
        ) -> Result<R, Status>
        where
            R: prost::Message + Default,
        {
            let unavailable = |e: h2::Error| Status::unavailable(format!("HTTP/2: {e}"));
            let body = body.0;
            // Built from parts that are already checked: no parsing per call.
            let uri = http::Uri::from_parts({
                let mut parts = uri::Parts::default();
                parts.scheme = Some(self.scheme.clone());
                parts.authority = Some(self.authority.clone());
                parts.path_and_query = Some(path);
                parts
            })
            .map_err(|e| Status::internal(format!("request URI: {e}")))?;
            let mut head = http::Request::new(());
            *head.method_mut() = http::Method::POST;
            *head.uri_mut() = uri;
            let headers = head.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("application/grpc"),
            );
            headers.insert(header::TE, header::HeaderValue::from_static("trailers"));
            let mut send = self.send.clone().ready().await.map_err(unavailable)?;
            let (answer, mut stream) = send.send_request(head, false).map_err(unavailable)?;
            stream.send_data(body.into(), true).map_err(unavailable)?;
            drop(spent);
            crate::busy::busy_poll(answer_of(answer), self.busy_poll).await
        }
    }

    /// The answer message of a unary call whose request has been sent.
    async fn answer_of<R>(answer: h2::client::ResponseFuture) -> Result<R, Status>
    where
        R: prost::Message + Default,
    {
        let unavailable = |e: h2::Error| Status::unavailable(format!("HTTP/2: {e}"));
        let (head, mut body) = answer.await.map_err(unavailable)?.into_parts();
        if head.status != http::StatusCode::OK {
            return Err(Status::new(
                http_code(head.status),
                format!("expected HTTP status 200, found {}", head.status),
            ));
        }
        // A "trailers-only" answer carries its status in the headers.
        if let Some(status) = status_of(&head.headers)? {
            return Err(match status.code() {
                Code::Ok => Status::internal("expected an answer message, found none"),
                _ => status,
            });
        }
        let mut data: Option<Bytes> = None;
        while let Some(chunk) = body.data().await {
            let chunk = chunk.map_err(unavailable)?;
            let _ = body.flow_control().release_capacity(chunk.len());
            data = Some(match data {
                None => chunk,
                Some(so_far) => {
                    if so_far.len() + chunk.len() > MAX_ANSWER {
                        return Err(Status::resource_exhausted(format!(
                            "expected an answer of at most {MAX_ANSWER} bytes"
                        )));
                    }
                    let mut joined = Vec::with_capacity(so_far.len() + chunk.len());
                    joined.extend_from_slice(&so_far);
                    joined.extend_from_slice(&chunk);
                    joined.into()
                }
            });
        }
        let trailers = body.trailers().await.map_err(unavailable)?;
        match trailers.as_ref().map(status_of).transpose()?.flatten() {
            None => {
                return Err(Status::internal(
                    "expected a grpc-status trailer, found none",
                ))
            }
            Some(status) if status.code() != Code::Ok => return Err(status),
            Some(_) => {}
        }
        let mut data = data.unwrap_or_default();
        if data.len() < 5 {
            return Err(Status::internal(format!(
                "expected an answer message (5 bytes of framing at least), found {} bytes",
                data.len()
            )));
        }
        let compressed = data.get_u8();
        let declared = data.get_u32() as usize;
        if compressed != 0 {
            return Err(Status::unimplemented(
                "expected an uncompressed answer, found a compressed one",
            ));
        }
        if declared != data.len() {
            return Err(Status::internal(format!(
                "expected one answer message of {declared} bytes, found {} bytes",
                data.len()
            )));
        }
        R::decode(data).map_err(|e| Status::internal(format!("decoding the answer: {e}")))
    }

    /// The gRPC code for an HTTP status other than 200, as gRPC maps them.
    fn http_code(status: http::StatusCode) -> Code {
        match status.as_u16() {
            400 => Code::Internal,
            401 => Code::Unauthenticated,
            403 => Code::PermissionDenied,
            404 => Code::Unimplemented,
            429 | 502 | 503 | 504 => Code::Unavailable,
            _ => Code::Unknown,
        }
    }

    /// The status in `headers` (`grpc-status`, `grpc-message`,
    /// `grpc-status-details-bin`), if there is one.
    fn status_of(headers: &http::HeaderMap) -> Result<Option<Status>, Status> {
        let Some(code) = headers.get("grpc-status") else {
            return Ok(None);
        };
        let code = Code::from_bytes(code.as_bytes());
        let message = headers
            .get("grpc-message")
            .map(|m| percent_decode(m.as_bytes()))
            .unwrap_or_default();
        let details = match headers.get("grpc-status-details-bin") {
            None => Vec::new(),
            Some(d) => base64_decode(d.as_bytes()).ok_or_else(|| {
                Status::internal("expected base64 in grpc-status-details-bin, found other bytes")
            })?,
        };
        Ok(Some(Status::with_details(code, message, details.into())))
    }

    /// `grpc-message` is percent-encoded UTF-8.
    fn percent_decode(bytes: &[u8]) -> String {
        let hex = |b: u8| (b as char).to_digit(16);
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            let escaped = (bytes[i] == b'%')
                .then(|| Some((hex(*bytes.get(i + 1)?)?, hex(*bytes.get(i + 2)?)?)))
                .flatten();
            match escaped {
                Some((hi, lo)) => {
                    out.push((hi * 16 + lo) as u8);
                    i += 3;
                }
                None => {
                    out.push(bytes[i]);
                    i += 1;
                }
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Standard base64, padded or not (gRPC peers send either).
    fn base64_decode(text: &[u8]) -> Option<Vec<u8>> {
        let value = |c: u8| -> Option<u32> {
            Some(match c {
                b'A'..=b'Z' => c - b'A',
                b'a'..=b'z' => c - b'a' + 26,
                b'0'..=b'9' => c - b'0' + 52,
                b'+' => 62,
                b'/' => 63,
                _ => return None,
            } as u32)
        };
        let text = match text.iter().position(|&c| c == b'=') {
            Some(p) if text[p..].iter().all(|&c| c == b'=') && text.len() - p <= 2 => &text[..p],
            Some(_) => return None,
            None => text,
        };
        if text.len() % 4 == 1 {
            return None;
        }
        let mut out = Vec::with_capacity(text.len() * 3 / 4);
        for chunk in text.chunks(4) {
            let mut n = 0u32;
            for (i, &c) in chunk.iter().enumerate() {
                n |= value(c)? << (18 - 6 * i);
            }
            let bytes = n.to_be_bytes();
            out.extend_from_slice(&bytes[1..chunk.len()]);
        }
        Some(out)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn base64_decodes_padded_and_unpadded_text_and_refuses_other_bytes() {
            assert_eq!(base64_decode(b"aGVsbG8="), Some(b"hello".to_vec()));
            assert_eq!(base64_decode(b"aGVsbG8"), Some(b"hello".to_vec()));
            assert_eq!(base64_decode(b"aGVsbA=="), Some(b"hell".to_vec()));
            assert_eq!(base64_decode(b"aGVs"), Some(b"hel".to_vec()));
            assert_eq!(base64_decode(b""), Some(vec![]));
            assert_eq!(base64_decode(b"aGV*"), None);
            assert_eq!(base64_decode(b"a=GV"), None);
            assert_eq!(base64_decode(b"aGVsb"), None);
        }

        #[test]
        fn grpc_messages_are_percent_decoded() {
            assert_eq!(percent_decode(b"no%20such%20entry"), "no such entry");
            assert_eq!(percent_decode(b"100%"), "100%");
            assert_eq!(percent_decode(b"%C3%A9t%C3%A9"), "été");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_maximum() {
        let b = Backoff {
            attempts: 5,
            initial: Duration::from_millis(10),
            max: Duration::from_millis(50),
            connect_timeout: Duration::from_secs(1),
        };
        let delays: Vec<u128> = (0..5).map(|i| b.delay(i).as_millis()).collect();
        assert_eq!(delays, [10, 20, 40, 50, 50]);
        assert_eq!(b.delay(u32::MAX), Duration::from_millis(50));
    }

    #[test]
    fn arbitration_status_codes_give_the_standing() {
        let answer = |code: i32| p4::MasterArbitrationUpdate {
            election_id: Some(7u128.into()),
            status: Some(crate::proto::google::rpc::Status {
                code,
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(standing(&answer(0)), Mastership::Primary);
        assert_eq!(
            standing(&answer(6)),
            Mastership::Backup {
                primary_election_id: Some(7)
            }
        );
        assert_eq!(
            standing(&answer(5)),
            Mastership::NoPrimary {
                highest_election_id: Some(7)
            }
        );
    }

    /// Write requests of every shape `write_body` treats apart: table
    /// entries of each match kind and with the less common fields set,
    /// other entities, updates without an entity or a type, and the
    /// request's own fields set or left out (deprecated fields too: they
    /// are still on the wire).
    #[allow(deprecated)]
    fn write_requests() -> Vec<p4::WriteRequest> {
        use p4::field_match::FieldMatchType as F;
        let field = |id: u32, m: F| p4::FieldMatch {
            field_id: id,
            field_match_type: Some(m),
        };
        let matches = vec![
            field(
                1,
                F::Exact(p4::field_match::Exact {
                    value: vec![10, 0, 0, 1],
                }),
            ),
            field(
                2,
                F::Lpm(p4::field_match::Lpm {
                    value: vec![192, 0, 2, 0],
                    prefix_len: 24,
                }),
            ),
            field(
                3,
                F::Ternary(p4::field_match::Ternary {
                    value: vec![0x12],
                    mask: vec![0xf0],
                }),
            ),
            field(
                4,
                F::Range(p4::field_match::Range {
                    low: vec![1],
                    high: vec![0x01, 0x00],
                }),
            ),
            field(5, F::Optional(p4::field_match::Optional { value: vec![7] })),
        ];
        let action = |id: u32| {
            Some(p4::TableAction {
                r#type: Some(p4::table_action::Type::Action(p4::Action {
                    action_id: id,
                    params: vec![p4::action::Param {
                        param_id: 1,
                        value: vec![0xab; 200],
                    }],
                })),
            })
        };
        let table = |entry: p4::TableEntry| p4::Entity {
            entity: Some(p4::entity::Entity::TableEntry(entry)),
        };
        let update = |kind: i32, entity: Option<p4::Entity>| p4::Update {
            r#type: kind,
            entity,
        };
        let plain = p4::TableEntry {
            table_id: 0x0200_0001,
            r#match: matches.clone(),
            action: action(0x0100_0002),
            ..Default::default()
        };
        let rich = p4::TableEntry {
            priority: 10,
            controller_metadata: 3,
            meter_config: Some(p4::MeterConfig {
                cir: 1000,
                cburst: 100,
                pir: 2000,
                pburst: 200,
                ..Default::default()
            }),
            counter_data: Some(p4::CounterData {
                byte_count: 1 << 40,
                packet_count: 5,
            }),
            is_default_action: true,
            idle_timeout_ns: -1,
            metadata: b"cookie".to_vec(),
            ..plain.clone()
        };
        let meter = p4::Entity {
            entity: Some(p4::entity::Entity::MeterEntry(p4::MeterEntry {
                meter_id: 0x1500_0001,
                index: Some(p4::Index { index: 4 }),
                ..Default::default()
            })),
        };
        // Enough entries that lengths take more than one varint byte.
        let many: Vec<p4::Update> = (0..300u32)
            .map(|n| {
                update(
                    1,
                    Some(table(p4::TableEntry {
                        table_id: n,
                        ..plain.clone()
                    })),
                )
            })
            .collect();
        let updates = vec![
            update(1, Some(table(plain.clone()))),
            update(2, Some(table(rich))),
            update(0, Some(table(plain.clone()))),
            update(-5, Some(table(p4::TableEntry::default()))),
            update(3, Some(meter)),
            update(1, Some(p4::Entity { entity: None })),
            update(1, None),
            update(0, None),
        ];
        vec![
            p4::WriteRequest::default(),
            p4::WriteRequest {
                updates: updates.clone(),
                ..Default::default()
            },
            p4::WriteRequest {
                device_id: 7,
                role_id: 2,
                role: "edge".into(),
                election_id: Some(p4::Uint128 { high: 1, low: 2 }),
                updates,
                atomicity: 2,
            },
            p4::WriteRequest {
                election_id: Some(p4::Uint128 { high: 0, low: 1 }),
                updates: many,
                ..Default::default()
            },
        ]
    }

    #[test]
    fn write_bodies_are_the_bytes_prost_encodes_behind_the_grpc_prefix() {
        use prost::Message;
        for request in write_requests() {
            let expected = request.encode_to_vec();
            let body = write_body(&request).expect("a request that encodes").0;
            assert_eq!(body[0], 0, "not compressed");
            assert_eq!(
                u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize,
                expected.len()
            );
            assert_eq!(&body[5..], expected.as_slice());
        }
    }

    #[tokio::test]
    async fn an_unreachable_device_is_a_connect_error_after_the_bounded_attempts() {
        // A port that was free a moment ago: nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or(1);
        let config = ClientConfig {
            backoff: Backoff {
                attempts: 3,
                initial: Duration::from_millis(1),
                max: Duration::from_millis(2),
                connect_timeout: Duration::from_millis(200),
            },
            ..ClientConfig::default()
        };
        match Client::connect(&format!("127.0.0.1:{port}"), config).await {
            Err(Error::Connect { attempts, .. }) => assert_eq!(attempts, 3),
            Err(other) => panic!("expected a connect error, found {other}"),
            Ok(_) => panic!("expected a connect error, found a connection"),
        }
    }
}
