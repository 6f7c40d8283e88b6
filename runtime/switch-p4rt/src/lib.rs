//! The P4Runtime server of the fairshare software switch: a P4Runtime v1
//! device, as `simple_switch_grpc` is one, over [`fairshare_switch`].
//!
//! ```text
//! controller ─ gRPC ─> P4Runtime service ─> Pipeline (Switch + P4InfoIndex)
//!                         │   ▲                      │
//!                         │   └── packet-in ◄── CPU port
//!                         └── packet-out ─► CPU port ┘   other ports ─► data-plane output
//! ```
//!
//! Invariants:
//! * The switch starts without a pipeline (as `simple_switch_grpc
//!   --no-p4` does); SetForwardingPipelineConfig takes the BMv2 JSON bytes
//!   as `p4_device_config` and a P4Info that must describe the JSON (same
//!   names, key and parameter counts), or the config is refused.
//! * Every request is checked before it touches the switch; a refusal
//!   carries the status code the P4Runtime specification gives the case
//!   (listed in `tests/status_codes.rs`), and no request panics.
//! * Writes and SetForwardingPipelineConfig come from the primary
//!   controller of their role, or get PERMISSION_DENIED. The primary is the
//!   connected controller with the highest election id, provided that id
//!   is at least the highest a primary of the role has had: when the
//!   primary leaves, nobody is promoted until a controller arbitrates
//!   again with an id that high.
//! * A failed Write carries one `p4.v1.Error` per update. With
//!   CONTINUE_ON_ERROR each update succeeds or fails alone. With
//!   ROLLBACK_ON_ERROR the updates run in order, each after the updates
//!   that undo it have been worked out from the state before it; at the
//!   first failure those run backwards and the Write has changed nothing
//!   (the failed update has its own code, the others ABORTED). A table
//!   entry deleted and put back comes back behind entries of equal
//!   priority, and a meter set back starts with full buckets.
//! * A Write holds the lock packets are processed under: no packet sees a
//!   Write half done. DATAPLANE_ATOMIC is therefore ROLLBACK_ON_ERROR: the
//!   batch is applied all or nothing, and no packet is processed while it
//!   is.
//! * Packets the pipeline sends to the CPU port go to the primary of the
//!   default role as packet-ins; a packet-out enters the pipeline on the
//!   CPU port, with its `packet_out` header built from the metadata (every
//!   field exactly once, or a stream error).
//! * Time for meters is the time since the server was created, in
//!   microseconds.
//!
//! Entities: table entries (INSERT/MODIFY/DELETE, default entries, direct
//! meter configs), meter, direct meter, counter, direct counter and
//! register cells (MODIFY; a meter, counter or register entry without an
//! index writes every cell of the array; a direct meter entry without a
//! config returns the meter to unconfigured, in place, keeping the entry
//! and its direct counter's counts; a direct counter entry sets the
//! entry's counts), clone sessions and multicast groups
//! (INSERT/MODIFY/DELETE) are written and read, with wildcards (table,
//! meter, counter, register, session or group id 0, no match, no index).
//!
//! Clone sessions and multicast groups follow `simple_switch_grpc`: group
//! ids 1 to 32,767 (above is OUT_OF_RANGE: the rest of the switch's 16-bit
//! range backs clone sessions), session ids 1 to 32,767, id 0 refused in
//! writes (INVALID_ARGUMENT), an existing id inserted ALREADY_EXISTS, a
//! missing one modified, deleted or read NOT_FOUND, the same replica twice
//! INVALID_ARGUMENT, a replica's port read back in the form it was written
//! (`egress_port` or `port`). A session with one replica of instance 0
//! sends to its port; other sessions (no replica, several, an instance)
//! are backed by a group of the switch that controllers do not see.
//! `packet_length_bytes` truncates a session's copies (`simple_switch_grpc`
//! refuses it); `class_of_service` other than 0 and group `metadata` are
//! UNIMPLEMENTED (`simple_switch_grpc` refuses a class of service too).
//! Ports that do not fit the program's `egress_port` and replication ids
//! over 16 bits are INVALID_ARGUMENT (`simple_switch_grpc` takes them).
//!
//! Errors of the switch core map to codes by kind: no such entry, session
//! or group NOT_FOUND; a duplicate entry or an existing group
//! ALREADY_EXISTS; a full table RESOURCE_EXHAUSTED; a cell index out of
//! range OUT_OF_RANGE; the rest INVALID_ARGUMENT.
//!
//! RECONCILE_AND_COMMIT loads the new program and carries over what still
//! fits it: entries of tables whose match fields are unchanged (when their
//! action is still the table's with the same parameters), default actions
//! on the same terms, meter, counter and register cells of arrays with
//! the same name and size, and clone sessions and multicast groups whose
//! ports the new program's `egress_port` holds. The rest starts afresh.
//!
//! Connections are busy-polled ([`fairshare_p4rt::busy`]) for
//! [`Config::busy_poll`] (1 ms by default, `--busy-poll-us` of
//! `fairshare switch --grpc`) after each request and answer: a controller's
//! next request is read at once rather than after the server thread has
//! been woken, at the cost of up to that much CPU time after each exchange.
//!
//! [`rules`] turns a compiled switch's `rules.json` into the P4Runtime
//! updates that install it, by name through the P4Info.
//!
//! Not implemented yet (answered UNIMPLEMENTED): action profiles,
//! classes of service of clone sessions, multicast group
//! metadata, registers of other types than `bit<W>`, values over 128 bits,
//! data-plane ports in `fairshare switch --grpc`.

mod pipeline;
mod pre;
pub mod rules;
mod service;
mod undo;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use fairshare_p4rt::busy::BusyIo;
use fairshare_p4rt::proto::p4::v1::p4_runtime_server::P4RuntimeServer;
use tokio_stream::StreamExt;

/// What the server is told at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// The P4Runtime device id (0, as `simple_switch_grpc` has it).
    pub device_id: u64,
    /// The port whose packets are the controller's.
    pub cpu_port: u32,
    /// The egress port that means "drop".
    pub drop_port: u32,
    /// Priority queues per port (see
    /// [`fairshare_switch::Switch::set_priority_queues`]).
    pub priority_queues: u32,
    /// How long a connection keeps the server polling it after its last
    /// request or answer ([`fairshare_p4rt::busy`]): a controller's next
    /// request is read at once instead of waking a sleeping thread. Zero
    /// turns it off.
    pub busy_poll: std::time::Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            device_id: 0,
            cpu_port: 255,
            drop_port: fairshare_switch::DEFAULT_DROP_PORT,
            priority_queues: fairshare_switch::DEFAULT_PRIORITY_QUEUES,
            busy_poll: fairshare_p4rt::busy::DEFAULT_BUDGET,
        }
    }
}

/// Errors of the server as a whole (request errors are gRPC statuses).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("gRPC transport: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error("listening on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("starting the async runtime: {0}")]
    Runtime(std::io::Error),
    /// A rule of a rules file that does not fit the P4Info.
    #[error("rules: {what}: {detail}")]
    Rules { what: String, detail: String },
    /// A setting of [`Config`] the switch refuses.
    #[error("server configuration: {0}")]
    Config(fairshare_switch::Error),
}

/// A switch with a P4Runtime server; cheap to clone, all clones share the
/// switch.
#[derive(Clone)]
pub struct P4rtSwitch {
    shared: Arc<service::Shared>,
}

impl P4rtSwitch {
    /// A switch without a pipeline. Packets the pipeline sends to ports
    /// other than the CPU port go to `output` as `(port, bytes)`, or are
    /// dropped when it is `None`.
    pub fn new(config: Config, output: Option<std::sync::mpsc::Sender<(u32, Vec<u8>)>>) -> Self {
        P4rtSwitch {
            shared: Arc::new(service::Shared::new(config, output)),
        }
    }

    /// Whether a pipeline has been committed.
    pub fn has_pipeline(&self) -> bool {
        self.shared.has_pipeline()
    }

    /// A packet arriving on a data-plane port; false (and the packet is
    /// dropped) while there is no pipeline.
    pub fn inject(&self, port: u32, bytes: &[u8]) -> bool {
        self.shared.process(port, bytes)
    }

    /// Serves P4Runtime on `listener` until `shutdown` completes.
    ///
    /// # Errors
    /// [`Error::Config`] when the [`Config`] has a setting the switch
    /// refuses; [`Error::Transport`] when the gRPC server fails.
    pub async fn run(
        &self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), Error> {
        // Every pipeline load would refuse a bad setting: say so at start.
        fairshare_switch::pre::check_priority_queues(self.shared.config().priority_queues)
            .map_err(Error::Config)?;
        // Requests are small and answered at once: no Nagle delay.
        let budget = self.shared.busy_poll();
        let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener).map(move |s| {
            s.and_then(|s| {
                s.set_nodelay(true)?;
                Ok(BusyIo::new(s, budget))
            })
        });
        // Windows large enough that a 1,000-update Write (about 100 kB)
        // arrives without waiting for a WINDOW_UPDATE round trip, and
        // frames large enough to carry it in a few pieces.
        tonic::transport::Server::builder()
            .initial_stream_window_size(Some(8 << 20))
            .initial_connection_window_size(Some(16 << 20))
            .max_frame_size(Some(1 << 20))
            .serve_with_incoming_shutdown(
                P4RuntimeServer::new(service::Service(self.shared.clone())),
                incoming,
                shutdown,
            )
            .await?;
        Ok(())
    }

    /// Serves P4Runtime on `listener` on an async runtime of its own, for
    /// callers without one: until `stop_after` has elapsed, or for ever.
    ///
    /// # Errors
    /// [`Error::Listen`] when the listener cannot be handed to the runtime,
    /// [`Error::Runtime`] when the runtime cannot start, and those of
    /// [`P4rtSwitch::run`].
    pub fn run_blocking(
        &self,
        listener: std::net::TcpListener,
        stop_after: Option<std::time::Duration>,
    ) -> Result<(), Error> {
        let addr = listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
        // One thread: requests are short and come over one connection or a
        // few, and a single-threaded runtime answers them without handing
        // work between threads (the grpc_writes bench measures the
        // difference: about 1.6 times the batched write rate).
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(Error::Runtime)?;
        rt.block_on(async {
            let listener = listener
                .set_nonblocking(true)
                .and_then(|()| tokio::net::TcpListener::from_std(listener))
                .map_err(|source| Error::Listen { addr, source })?;
            let shutdown = async move {
                match stop_after {
                    Some(d) => tokio::time::sleep(d).await,
                    None => std::future::pending().await,
                }
            };
            self.run(listener, shutdown).await
        })
    }
}
