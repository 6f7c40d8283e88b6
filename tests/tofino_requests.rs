//! The P4Runtime requests `fairshare controller --target-kind tofino` sends
//! for the metro example's `dc-east` switch, kept as a golden file
//! (`tests/golden/tofino-metro-dc-east.txt`).
//!
//! No Tofino switch runs here, so the device at the other end is a small
//! P4Runtime server in this test that grants primary status, keeps the
//! pipeline it is given, answers reads with nothing (a fresh switch) and
//! writes every request it receives down in order. The same run against a
//! BMv2-kind target gives the same requests but for the device config and
//! the meter rates, which shows that the intercept logic has no Tofino-only
//! branch.
//!
//! `FAIRSHARE_BLESS=1 cargo test --test tofino_requests` rewrites the
//! golden file after a change was reviewed.

mod support;

use fairshare_p4rt::proto::p4::v1 as p4;
use p4::p4_runtime_server::{P4Runtime, P4RuntimeServer};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::Command;
use std::sync::{Arc, Mutex};
use tokio_stream::wrappers::{TcpListenerStream, UnboundedReceiverStream};
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// What the device was asked, one request per entry, and the pipeline
/// cookie it holds.
#[derive(Default)]
struct Book {
    log: Vec<String>,
    cookie: Option<u64>,
}

#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Book>>);

impl Recorder {
    fn note(&self, line: String) {
        self.0.lock().expect("recorder lock").log.push(line);
    }
}

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// FNV-1a, 64 bits: a short stand-in for a long byte string in the log.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tonic::async_trait]
impl P4Runtime for Recorder {
    async fn write(
        &self,
        request: Request<p4::WriteRequest>,
    ) -> Result<Response<p4::WriteResponse>, Status> {
        let r = request.into_inner();
        let mut line = format!(
            "Write device_id={} election_id={:?} atomicity={} updates={}",
            r.device_id,
            r.election_id.map(|e| (e.high, e.low)),
            r.atomicity,
            r.updates.len()
        );
        for u in &r.updates {
            let kind = p4::update::Type::try_from(u.r#type)
                .map_or_else(|_| u.r#type.to_string(), |t| t.as_str_name().to_owned());
            let _ = write!(line, "\n  {kind} {:?}", u.entity);
        }
        self.note(line);
        Ok(Response::new(p4::WriteResponse {}))
    }

    type ReadStream = BoxStream<p4::ReadResponse>;

    async fn read(
        &self,
        request: Request<p4::ReadRequest>,
    ) -> Result<Response<Self::ReadStream>, Status> {
        let r = request.into_inner();
        self.note(format!(
            "Read device_id={} entities={:?}",
            r.device_id, r.entities
        ));
        let empty = p4::ReadResponse { entities: vec![] };
        Ok(Response::new(Box::pin(tokio_stream::once(Ok(empty)))))
    }

    async fn set_forwarding_pipeline_config(
        &self,
        request: Request<p4::SetForwardingPipelineConfigRequest>,
    ) -> Result<Response<p4::SetForwardingPipelineConfigResponse>, Status> {
        let r = request.into_inner();
        let config = r.config.unwrap_or_default();
        let action = p4::set_forwarding_pipeline_config_request::Action::try_from(r.action)
            .map_or_else(|_| r.action.to_string(), |a| a.as_str_name().to_owned());
        let p4info = config.p4info.unwrap_or_default();
        let cookie = config.cookie.map(|c| c.cookie);
        self.note(format!(
            "SetForwardingPipelineConfig device_id={} action={action} cookie={cookie:?} \
             p4info: {} tables, {} actions, {} meters, {} direct meters; \
             device config: {} bytes, fnv {:016x}",
            r.device_id,
            p4info.tables.len(),
            p4info.actions.len(),
            p4info.meters.len(),
            p4info.direct_meters.len(),
            config.p4_device_config.len(),
            fnv(&config.p4_device_config),
        ));
        self.0.lock().expect("recorder lock").cookie = cookie;
        Ok(Response::new(p4::SetForwardingPipelineConfigResponse {}))
    }

    async fn get_forwarding_pipeline_config(
        &self,
        request: Request<p4::GetForwardingPipelineConfigRequest>,
    ) -> Result<Response<p4::GetForwardingPipelineConfigResponse>, Status> {
        let r = request.into_inner();
        self.note(format!(
            "GetForwardingPipelineConfig device_id={} response_type={}",
            r.device_id, r.response_type
        ));
        let cookie = self.0.lock().expect("recorder lock").cookie;
        Ok(Response::new(p4::GetForwardingPipelineConfigResponse {
            config: Some(p4::ForwardingPipelineConfig {
                cookie: cookie.map(|cookie| p4::forwarding_pipeline_config::Cookie { cookie }),
                ..Default::default()
            }),
        }))
    }

    type StreamChannelStream = BoxStream<p4::StreamMessageResponse>;

    async fn stream_channel(
        &self,
        request: Request<Streaming<p4::StreamMessageRequest>>,
    ) -> Result<Response<Self::StreamChannelStream>, Status> {
        use p4::stream_message_request::Update as Up;
        use p4::stream_message_response::Update as Down;
        let mut inbound = request.into_inner();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let me = self.clone();
        tokio::spawn(async move {
            while let Some(Ok(m)) = inbound.next().await {
                match m.update {
                    Some(Up::Arbitration(a)) => {
                        me.note(format!(
                            "StreamChannel arbitration device_id={} election_id={:?} role={:?}",
                            a.device_id,
                            a.election_id.map(|e| (e.high, e.low)),
                            a.role
                        ));
                        // Primary: the status is OK.
                        let reply = p4::MasterArbitrationUpdate {
                            status: Some(fairshare_p4rt::proto::google::rpc::Status::default()),
                            ..a
                        };
                        let msg = p4::StreamMessageResponse {
                            update: Some(Down::Arbitration(reply)),
                        };
                        if tx.send(Ok(msg)).is_err() {
                            break;
                        }
                    }
                    Some(Up::Packet(p)) => {
                        let md: Vec<String> = p
                            .metadata
                            .iter()
                            .map(|m| format!("{}={}", m.metadata_id, hex(&m.value)))
                            .collect();
                        me.note(format!(
                            "StreamChannel packet_out metadata=[{}] payload={}",
                            md.join(" "),
                            hex(&p.payload)
                        ));
                    }
                    other => me.note(format!("StreamChannel {other:?}")),
                }
            }
        });
        Ok(Response::new(Box::pin(UnboundedReceiverStream::new(rx))))
    }

    async fn capabilities(
        &self,
        _request: Request<p4::CapabilitiesRequest>,
    ) -> Result<Response<p4::CapabilitiesResponse>, Status> {
        Ok(Response::new(p4::CapabilitiesResponse {
            p4runtime_api_version: "1.4.1".to_owned(),
        }))
    }
}

fn tofino_build() -> PathBuf {
    support::tofino::sample_build("tofino-requests-build")
}

/// Runs the controller for `dc-east` against a recorder with `kind`'s
/// flags (and the metro P4Info with `--p4info` when `p4info`), and returns
/// the requests it sent.
fn record(kind: &[&str], p4info: bool) -> Vec<String> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let rec = Recorder::default();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let port = listener.local_addr().expect("address").port();
    let server = P4RuntimeServer::new(rec.clone());
    rt.spawn(async move {
        tonic::transport::Server::builder()
            .serve_with_incoming_shutdown(
                server,
                TcpListenerStream::new(listener),
                std::future::pending::<()>(),
            )
            .await
    });
    let p4info_path =
        root().join("examples/expected/metro/pipelines/bmv2-cpu255/fairshare.p4info.txtpb");
    let out = Command::new(env!("CARGO_BIN_EXE_fairshare"))
        .args(["controller", "--policy"])
        .arg(root().join("examples/metro.fsp"))
        .args(["--switch", "dc-east", "--role", "dc", "--device-id", "1"])
        .args(kind)
        .args(if p4info {
            vec![std::ffi::OsString::from("--p4info"), p4info_path.into()]
        } else {
            vec![]
        })
        .arg("--target")
        .arg(format!("grpc://127.0.0.1:{port}"))
        // One round of offers: the first refresh comes after the run.
        .args(["--duration", "1500ms", "--refresh", "60s", "--epoch", "7"])
        .output()
        .expect("run fairshare controller");
    assert!(
        out.status.success(),
        "controller failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let log = std::mem::take(&mut rec.0.lock().expect("recorder lock").log);
    rt.shutdown_background();
    log
}

#[test]
fn tofino_mode_sends_the_golden_request_sequence_for_metro() {
    let build = tofino_build();
    let build = build.to_str().expect("utf-8 path");
    let got = record(
        &[
            "--target-kind",
            "tofino",
            "--tofino-build",
            build,
            "--tofino-config",
            "bfrt",
        ],
        true,
    );
    let text = got.join("\n") + "\n";
    let golden = root().join("tests/golden/tofino-metro-dc-east.txt");
    if std::env::var_os("FAIRSHARE_BLESS").is_some() {
        fs::create_dir_all(golden.parent().expect("parent")).expect("golden dir");
        fs::write(&golden, &text).expect("write golden");
    }
    let want = fs::read_to_string(&golden)
        .expect("tests/golden/tofino-metro-dc-east.txt (FAIRSHARE_BLESS=1 writes it)");
    if text != want {
        let (g, w): (Vec<&str>, Vec<&str>) = (text.lines().collect(), want.lines().collect());
        let at = g
            .iter()
            .zip(&w)
            .position(|(a, b)| a != b)
            .unwrap_or(g.len().min(w.len()));
        panic!(
            "the requests differ from {} at line {}:\n  expected: {}\n  got:      {}\n\
             ({} lines expected, {} got; FAIRSHARE_BLESS=1 rewrites the file after review)",
            golden.display(),
            at + 1,
            w.get(at).unwrap_or(&"<end>"),
            g.get(at).unwrap_or(&"<end>"),
            w.len(),
            g.len()
        );
    }
}

/// The numbers of the `MeterConfig`s in a request line, and the line with
/// each of them replaced by `#`.
fn meter_numbers(line: &str) -> (String, Vec<i64>) {
    let mut rest = line;
    let mut shape = String::new();
    let mut numbers = vec![];
    while let Some(at) = rest.find("MeterConfig {") {
        let end = rest[at..].find('}').map_or(rest.len(), |e| at + e);
        shape.push_str(&rest[..at]);
        for part in rest[at..end].split(", ") {
            let (name, value) = part.rsplit_once(": ").unwrap_or((part, ""));
            match value.parse::<i64>() {
                Ok(v) => {
                    numbers.push(v);
                    shape.push_str(name);
                    shape.push_str(": #, ");
                }
                Err(_) => shape.push_str(part),
            }
        }
        rest = &rest[end..];
    }
    shape.push_str(rest);
    (shape, numbers)
}

#[test]
fn tofino_mode_differs_from_bmv2_mode_only_in_the_device_config_and_meter_grain() {
    let build = tofino_build();
    let build = build.to_str().expect("utf-8 path");
    let tofino = record(&["--target-kind", "tofino", "--tofino-build", build], true);
    let bmv2 = record(&["--target-kind", "bmv2"], false);
    assert_eq!(tofino.len(), bmv2.len(), "{tofino:#?}\n{bmv2:#?}");
    let mut rounded = 0;
    for (t, b) in tofino.iter().zip(&bmv2) {
        if t.starts_with("SetForwardingPipelineConfig") {
            assert!(b.starts_with("SetForwardingPipelineConfig"), "{b}");
            // The P4Info is the same; the device configs differ.
            let p4info = |l: &str| l.split("; device config").next().map(str::to_owned);
            let cookie_free = |l: &str| {
                let l = p4info(l).unwrap_or_default();
                l.split(" p4info:").nth(1).map(str::to_owned)
            };
            assert_eq!(cookie_free(t), cookie_free(b));
            assert_ne!(t, b, "the device configs must differ");
            continue;
        }
        let ((ts, tn), (bs, bn)) = (meter_numbers(t), meter_numbers(b));
        assert_eq!(ts, bs, "requests differ beyond meter values:\n{t}\n{b}");
        for (x, y) in tn.iter().zip(&bn) {
            // Byte meters are rounded down to whole kilobits; the punt
            // meter counts packets and is passed as it is.
            // Rates round down and bursts up to whole kilobits.
            assert!(
                x == y || *x == y / 125 * 125 || *x == (y + 124) / 125 * 125,
                "tofino {x} for bmv2 {y} in\n{t}"
            );
            assert!(
                x % 125 == 0 || x == y,
                "tofino meter value {x} is not whole kilobits in\n{t}"
            );
            rounded += usize::from(x != y);
        }
    }
    assert!(rounded > 0, "some byte-meter value must have been rounded");
}
