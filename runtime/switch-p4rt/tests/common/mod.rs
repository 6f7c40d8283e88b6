//! A server on loopback with the compiled `examples/single.fsp` pipeline
//! of `dc1-sw`, and a client driving it.
#![allow(dead_code)]

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use fairshare_p4rt::proto::p4::v1 as p4;
use fairshare_p4rt::proto::p4::v1::p4_runtime_client::P4RuntimeClient;
use fairshare_p4rt::{EntityKind, P4InfoIndex};
use fairshare_switch_p4rt::{Config, P4rtSwitch};
pub use p4::field_match::FieldMatchType as F;
use tokio::sync::mpsc as tmpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tokio_stream::StreamExt;
use tonic::transport::Channel;
use tonic::Code;

pub const DEVICE: u64 = 0;
pub const CPU_PORT: u32 = 255;

/// The BMv2 JSON and P4Info of `dc1-sw` in examples/single.fsp.
pub fn single_pipeline() -> Result<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let src = std::fs::read_to_string(root.join("examples/single.fsp"))?;
    let (_, policy) = fairshare_policy::load(&src).map_err(|e| anyhow!("{e:?}"))?;
    let topo = fairshare_alloc::Topology::build(&policy).map_err(|e| anyhow!("{e:?}"))?;
    let shares = fairshare_alloc::allocate(&topo, &policy, policy.algorithm);
    let out = fairshare_codegen::compile(&policy, &topo, &shares)?;
    let pipe = out
        .pipeline_of("dc1-sw")
        .context("no pipeline for dc1-sw")?;
    Ok((pipe.json.clone(), pipe.p4info.clone()))
}

pub struct Harness {
    pub client: P4RuntimeClient<Channel>,
    pub switch: P4rtSwitch,
    pub output: mpsc::Receiver<(u32, Vec<u8>)>,
    pub stop: Option<tokio::sync::oneshot::Sender<()>>,
    pub server: tokio::task::JoinHandle<()>,
    pub index: P4InfoIndex,
    pub config: p4::ForwardingPipelineConfig,
    pub addr: std::net::SocketAddr,
}

impl Harness {
    pub async fn start() -> Result<Harness> {
        let (json, p4info_text) = single_pipeline()?;
        let p4info = fairshare_p4rt::text::parse_p4info(&p4info_text)?;
        let index = P4InfoIndex::new(p4info.clone())?;
        let (tx, output) = mpsc::channel();
        let switch = P4rtSwitch::new(
            Config {
                device_id: DEVICE,
                cpu_port: CPU_PORT,
                ..Config::default()
            },
            Some(tx),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let sw = switch.clone();
        let server = tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            if let Err(e) = sw.run(listener, shutdown).await {
                panic!("server failed: {e}");
            }
        });
        let client = P4RuntimeClient::connect(format!("http://{addr}")).await?;
        Ok(Harness {
            client,
            switch,
            output,
            stop: Some(stop),
            server,
            index,
            config: p4::ForwardingPipelineConfig {
                p4info: Some(p4info),
                p4_device_config: json.into_bytes(),
                cookie: Some(p4::forwarding_pipeline_config::Cookie { cookie: 42 }),
            },
            addr,
        })
    }

    pub async fn stop(mut self) -> Result<()> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        drop(self.client);
        tokio::time::timeout(Duration::from_secs(10), self.server)
            .await
            .context("the server did not stop within 10 s")??;
        Ok(())
    }

    pub fn id(&self, kind: EntityKind, name: &str) -> Result<u32> {
        self.index
            .id(kind, name)
            .with_context(|| format!("no {kind} `{name}`"))
    }

    pub fn field(&self, table: &str, field: &str) -> Result<u32> {
        let t = self.id(EntityKind::Table, table)?;
        Ok(self
            .index
            .match_field_by_name(t, field)
            .with_context(|| format!("no field {field}"))?
            .id)
    }

    pub fn action(&self, name: &str, params: &[&[u8]]) -> Result<p4::TableAction> {
        let id = self.id(EntityKind::Action, name)?;
        let info = self.index.action(id).context("action")?;
        Ok(p4::TableAction {
            r#type: Some(p4::table_action::Type::Action(p4::Action {
                action_id: id,
                params: info
                    .params
                    .iter()
                    .zip(params)
                    .map(|(p, v)| p4::action::Param {
                        param_id: p.id,
                        value: v.to_vec(),
                    })
                    .collect(),
            })),
        })
    }

    /// Opens a StreamChannel and arbitrates with `election_id`; returns
    /// the sender, the responses and the first arbitration answer's code.
    pub async fn arbitrate(&mut self, election_id: u128) -> Result<(Stream, i32)> {
        let (tx, rx) = tmpsc::unbounded_channel();
        tx.send(arbitration(election_id))?;
        let mut responses = self
            .client
            .stream_channel(UnboundedReceiverStream::new(rx))
            .await?
            .into_inner();
        let code = arbitration_code(&mut responses).await?;
        Ok((Stream { tx, responses }, code))
    }

    pub async fn write(
        &mut self,
        election_id: u128,
        updates: Vec<p4::Update>,
    ) -> Result<(), tonic::Status> {
        self.client
            .write(p4::WriteRequest {
                device_id: DEVICE,
                election_id: Some(election_id.into()),
                updates,
                atomicity: p4::write_request::Atomicity::ContinueOnError as i32,
                ..Default::default()
            })
            .await
            .map(|_| ())
    }

    pub async fn read(&mut self, entities: Vec<p4::Entity>) -> Result<Vec<p4::Entity>> {
        let mut stream = self
            .client
            .read(p4::ReadRequest {
                device_id: DEVICE,
                entities,
                ..Default::default()
            })
            .await?
            .into_inner();
        let mut out = Vec::new();
        while let Some(r) = stream.next().await {
            out.extend(r?.entities);
        }
        Ok(out)
    }

    pub async fn push_pipeline(&mut self, election_id: u128) -> Result<(), tonic::Status> {
        self.client
            .set_forwarding_pipeline_config(p4::SetForwardingPipelineConfigRequest {
                device_id: DEVICE,
                election_id: Some(election_id.into()),
                action: p4::set_forwarding_pipeline_config_request::Action::VerifyAndCommit as i32,
                config: Some(self.config.clone()),
                ..Default::default()
            })
            .await
            .map(|_| ())
    }
}

pub struct Stream {
    pub tx: tmpsc::UnboundedSender<p4::StreamMessageRequest>,
    pub responses: tonic::Streaming<p4::StreamMessageResponse>,
}

pub fn arbitration(election_id: u128) -> p4::StreamMessageRequest {
    p4::StreamMessageRequest {
        update: Some(p4::stream_message_request::Update::Arbitration(
            p4::MasterArbitrationUpdate {
                device_id: DEVICE,
                election_id: Some(election_id.into()),
                ..Default::default()
            },
        )),
    }
}

pub async fn next(
    responses: &mut tonic::Streaming<p4::StreamMessageResponse>,
) -> Result<p4::StreamMessageResponse> {
    let msg = tokio::time::timeout(Duration::from_secs(10), responses.next())
        .await
        .context("no stream message within 10 s")?
        .context("the stream ended")??;
    Ok(msg)
}

/// The status code of the next arbitration message on a stream.
pub async fn arbitration_code(
    responses: &mut tonic::Streaming<p4::StreamMessageResponse>,
) -> Result<i32> {
    match next(responses).await?.update {
        Some(p4::stream_message_response::Update::Arbitration(a)) => {
            Ok(a.status.map_or(0, |s| s.code))
        }
        other => bail!("expected an arbitration update, found {other:?}"),
    }
}

pub fn update(kind: p4::update::Type, entity: p4::entity::Entity) -> p4::Update {
    p4::Update {
        r#type: kind as i32,
        entity: Some(p4::Entity {
            entity: Some(entity),
        }),
    }
}

pub fn table_entry(
    table_id: u32,
    matches: Vec<(u32, F)>,
    action: Option<p4::TableAction>,
    priority: i32,
) -> p4::entity::Entity {
    p4::entity::Entity::TableEntry(p4::TableEntry {
        table_id,
        r#match: matches
            .into_iter()
            .map(|(field_id, m)| p4::FieldMatch {
                field_id,
                field_match_type: Some(m),
            })
            .collect(),
        action,
        priority,
        ..Default::default()
    })
}

pub fn exact(v: &[u8]) -> F {
    F::Exact(p4::field_match::Exact { value: v.to_vec() })
}

pub fn lpm(v: &[u8], prefix_len: i32) -> F {
    F::Lpm(p4::field_match::Lpm {
        value: v.to_vec(),
        prefix_len,
    })
}

pub fn ternary(v: &[u8], mask: &[u8]) -> F {
    F::Ternary(p4::field_match::Ternary {
        value: v.to_vec(),
        mask: mask.to_vec(),
    })
}

pub const OK: i32 = Code::Ok as i32;

pub fn ipv4_csum(h: &[u8]) -> u16 {
    let mut sum = 0u32;
    for c in h.chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An Ethernet + IPv4 frame with protocol `proto` and a valid checksum.
pub fn ipv4_frame(proto: u8, src: [u8; 4], dst: [u8; 4], payload: &[u8]) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00];
    let total = 20 + payload.len() as u16;
    let mut ip = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, proto, 0, 0];
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&src);
    ip.extend_from_slice(&dst);
    let c = ipv4_csum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(payload);
    f
}
