//! The P4Runtime server over gRPC on loopback, driven by the generated
//! client with the compiled `examples/single.fsp` pipeline of `dc1-sw`.

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use fairshare_p4rt::proto::p4::v1 as p4;
use fairshare_p4rt::proto::p4::v1::p4_runtime_client::P4RuntimeClient;
use fairshare_p4rt::{EntityKind, P4InfoIndex};
use fairshare_switch_p4rt::{Config, P4rtSwitch};
use p4::field_match::FieldMatchType as F;
use tokio::sync::mpsc as tmpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tokio_stream::StreamExt;
use tonic::transport::Channel;
use tonic::Code;

const DEVICE: u64 = 0;
const CPU_PORT: u32 = 255;

/// The BMv2 JSON and P4Info of `dc1-sw` in examples/single.fsp.
fn single_pipeline() -> Result<(String, String)> {
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

struct Harness {
    client: P4RuntimeClient<Channel>,
    switch: P4rtSwitch,
    output: mpsc::Receiver<(u32, Vec<u8>)>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<()>,
    index: P4InfoIndex,
    config: p4::ForwardingPipelineConfig,
}

impl Harness {
    async fn start() -> Result<Harness> {
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
        })
    }

    async fn stop(mut self) -> Result<()> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        drop(self.client);
        self.server.await?;
        Ok(())
    }

    fn id(&self, kind: EntityKind, name: &str) -> Result<u32> {
        self.index
            .id(kind, name)
            .with_context(|| format!("no {kind} `{name}`"))
    }

    fn field(&self, table: &str, field: &str) -> Result<u32> {
        let t = self.id(EntityKind::Table, table)?;
        Ok(self
            .index
            .match_field_by_name(t, field)
            .with_context(|| format!("no field {field}"))?
            .id)
    }

    fn action(&self, name: &str, params: &[&[u8]]) -> Result<p4::TableAction> {
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
    async fn arbitrate(&mut self, election_id: u128) -> Result<(Stream, i32)> {
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

    async fn write(
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

    async fn read(&mut self, entities: Vec<p4::Entity>) -> Result<Vec<p4::Entity>> {
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

    async fn push_pipeline(&mut self, election_id: u128) -> Result<(), tonic::Status> {
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

struct Stream {
    tx: tmpsc::UnboundedSender<p4::StreamMessageRequest>,
    responses: tonic::Streaming<p4::StreamMessageResponse>,
}

fn arbitration(election_id: u128) -> p4::StreamMessageRequest {
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

async fn next(
    responses: &mut tonic::Streaming<p4::StreamMessageResponse>,
) -> Result<p4::StreamMessageResponse> {
    let msg = tokio::time::timeout(Duration::from_secs(10), responses.next())
        .await
        .context("no stream message within 10 s")?
        .context("the stream ended")??;
    Ok(msg)
}

/// The status code of the next arbitration message on a stream.
async fn arbitration_code(
    responses: &mut tonic::Streaming<p4::StreamMessageResponse>,
) -> Result<i32> {
    match next(responses).await?.update {
        Some(p4::stream_message_response::Update::Arbitration(a)) => {
            Ok(a.status.map_or(0, |s| s.code))
        }
        other => bail!("expected an arbitration update, found {other:?}"),
    }
}

fn update(kind: p4::update::Type, entity: p4::entity::Entity) -> p4::Update {
    p4::Update {
        r#type: kind as i32,
        entity: Some(p4::Entity {
            entity: Some(entity),
        }),
    }
}

fn table_entry(
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

fn exact(v: &[u8]) -> F {
    F::Exact(p4::field_match::Exact { value: v.to_vec() })
}

fn lpm(v: &[u8], prefix_len: i32) -> F {
    F::Lpm(p4::field_match::Lpm {
        value: v.to_vec(),
        prefix_len,
    })
}

fn ternary(v: &[u8], mask: &[u8]) -> F {
    F::Ternary(p4::field_match::Ternary {
        value: v.to_vec(),
        mask: mask.to_vec(),
    })
}

const OK: i32 = Code::Ok as i32;

fn ipv4_csum(h: &[u8]) -> u16 {
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
fn ipv4_frame(proto: u8, src: [u8; 4], dst: [u8; 4], payload: &[u8]) -> Vec<u8> {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_pushes_the_single_pipeline_writes_reads_and_exchanges_packets() -> Result<()> {
    let mut h = Harness::start().await?;
    let caps = h
        .client
        .capabilities(p4::CapabilitiesRequest {})
        .await?
        .into_inner();
    assert_eq!(
        caps.p4runtime_api_version,
        fairshare_p4rt::P4RUNTIME_VERSION
    );

    // Arbitration: 10 is primary, 5 a backup that learns who is primary.
    let (mut primary, code) = h.arbitrate(10).await?;
    assert_eq!(code, OK);
    let (mut backup, code) = h.arbitrate(5).await?;
    assert_eq!(code, Code::AlreadyExists as i32);

    // The pipeline, pushed by the backup (refused) and by the primary.
    let e = h.push_pipeline(5).await.expect_err("backup push");
    assert_eq!(e.code(), Code::PermissionDenied);
    assert!(!h.switch.has_pipeline());
    h.push_pipeline(10).await?;
    assert!(h.switch.has_pipeline());
    let got = h
        .client
        .get_forwarding_pipeline_config(p4::GetForwardingPipelineConfigRequest {
            device_id: DEVICE,
            response_type: 0,
        })
        .await?
        .into_inner();
    assert_eq!(got.config.as_ref(), Some(&h.config));

    // Entries of an lpm table, a ternary table (with priority) and a
    // default action.
    let lpm_t = h.id(EntityKind::Table, "Ingress.ipv4_lpm")?;
    let dst = h.field("Ingress.ipv4_lpm", "hdr.ipv4.dst_addr")?;
    let fwd = h.action(
        "Ingress.forward",
        &[&[2], &[2, 0, 0, 0, 0, 0xaa], &[2, 0, 0, 0, 0, 0xbb]],
    )?;
    let route = table_entry(
        lpm_t,
        vec![(dst, lpm(&[10, 0, 0, 0], 8))],
        Some(fwd.clone()),
        0,
    );
    let steer_t = h.id(EntityKind::Table, "Ingress.steer")?;
    let service = h.field("Ingress.steer", "meta.service")?;
    let edge = h.field("Ingress.steer", "meta.edge")?;
    let dnat = h.action("Ingress.dnat", &[&[10, 0, 0, 1]])?;
    let steer = table_entry(
        steer_t,
        vec![(service, exact(&[1])), (edge, ternary(&[3], &[0xff]))],
        Some(dnat),
        7,
    );
    let edge_t = h.id(EntityKind::Table, "Ingress.client_edge")?;
    let set_edge = h.action("Ingress.set_edge", &[&[4]])?;
    let default = p4::entity::Entity::TableEntry(p4::TableEntry {
        table_id: edge_t,
        action: Some(set_edge),
        is_default_action: true,
        ..Default::default()
    });
    use p4::update::Type::{Insert, Modify};
    let e = h
        .write(5, vec![update(Insert, route.clone())])
        .await
        .expect_err("backup write");
    assert_eq!(e.code(), Code::PermissionDenied);
    h.write(
        10,
        vec![
            update(Insert, route.clone()),
            update(Insert, steer.clone()),
            update(Modify, default.clone()),
        ],
    )
    .await?;

    let read_table = |table_id| p4::Entity {
        entity: Some(p4::entity::Entity::TableEntry(p4::TableEntry {
            table_id,
            ..Default::default()
        })),
    };
    let entity = |e: p4::entity::Entity| p4::Entity { entity: Some(e) };
    assert_eq!(h.read(vec![read_table(lpm_t)]).await?, vec![entity(route)]);
    assert_eq!(
        h.read(vec![read_table(steer_t)]).await?,
        vec![entity(steer)]
    );
    let defaults = h
        .read(vec![entity(p4::entity::Entity::TableEntry(
            p4::TableEntry {
                table_id: edge_t,
                is_default_action: true,
                ..Default::default()
            },
        ))])
        .await?;
    assert_eq!(defaults, vec![entity(default)]);

    // A meter cell: the RSVP punt meter, in packets.
    let rsvp = h.id(EntityKind::Meter, "Ingress.rsvp_meter")?;
    let meter = p4::MeterEntry {
        meter_id: rsvp,
        index: Some(p4::Index { index: 0 }),
        config: Some(p4::MeterConfig {
            cir: 100,
            cburst: 10,
            pir: 200,
            pburst: 20,
            ..Default::default()
        }),
        counter_data: None,
    };
    h.write(
        10,
        vec![update(
            Modify,
            p4::entity::Entity::MeterEntry(meter),
        )],
    )
    .await?;
    let read_meter = entity(p4::entity::Entity::MeterEntry(p4::MeterEntry {
        meter_id: rsvp,
        ..Default::default()
    }));
    assert_eq!(
        h.read(vec![read_meter]).await?,
        vec![entity(p4::entity::Entity::MeterEntry(meter))]
    );

    // A packet-out to port 2 leaves on port 2 without its header.
    let ingress_port_out = h
        .index
        .packet_metadata_by_name(
            h.id(EntityKind::ControllerPacketMetadata, "packet_out")?,
            "egress_port",
        )
        .context("egress_port metadata")?
        .id;
    let pad = h
        .index
        .packet_metadata_by_name(
            h.id(EntityKind::ControllerPacketMetadata, "packet_out")?,
            "_pad",
        )
        .context("_pad metadata")?
        .id;
    let frame = ipv4_frame(17, [10, 0, 0, 9], [10, 0, 0, 1], &[0; 12]);
    let out = |metadata: Vec<(u32, Vec<u8>)>| p4::StreamMessageRequest {
        update: Some(p4::stream_message_request::Update::Packet(p4::PacketOut {
            payload: frame.clone(),
            metadata: metadata
                .into_iter()
                .map(|(metadata_id, value)| p4::PacketMetadata { metadata_id, value })
                .collect(),
        })),
    };
    primary
        .tx
        .send(out(vec![(ingress_port_out, vec![2]), (pad, vec![0])]))?;
    let (port, bytes) =
        tokio::task::block_in_place(|| h.output.recv_timeout(Duration::from_secs(10)))?;
    assert_eq!((port, bytes), (2, frame.clone()));

    // A packet-out with a metadata field missing is a stream error.
    primary.tx.send(out(vec![(ingress_port_out, vec![2])]))?;
    match next(&mut primary.responses).await?.update {
        Some(p4::stream_message_response::Update::Error(e)) => {
            assert_eq!(
                e.canonical_code,
                Code::InvalidArgument as i32,
                "{}",
                e.message
            )
        }
        other => bail!("expected a stream error, found {other:?}"),
    }
    // So is one from the backup.
    backup
        .tx
        .send(out(vec![(ingress_port_out, vec![2]), (pad, vec![0])]))?;
    match next(&mut backup.responses).await?.update {
        Some(p4::stream_message_response::Update::Error(e)) => {
            assert_eq!(
                e.canonical_code,
                Code::PermissionDenied as i32,
                "{}",
                e.message
            )
        }
        other => bail!("expected a stream error, found {other:?}"),
    }

    // RSVP arriving on port 3 is punted: a packet-in to the primary with
    // the ingress port and the reason.
    let rsvp_frame = ipv4_frame(
        46,
        [192, 0, 2, 5],
        [10, 0, 0, 1],
        &[0x10, 1, 0, 0, 0, 0, 0, 8],
    );
    assert!(h.switch.inject(3, &rsvp_frame));
    let packet_in = match next(&mut primary.responses).await?.update {
        Some(p4::stream_message_response::Update::Packet(p)) => p,
        other => bail!("expected a packet-in, found {other:?}"),
    };
    let pin = h.id(EntityKind::ControllerPacketMetadata, "packet_in")?;
    let port_id = h
        .index
        .packet_metadata_by_name(pin, "ingress_port")
        .context("ingress_port")?
        .id;
    let reason_id = h
        .index
        .packet_metadata_by_name(pin, "reason")
        .context("reason")?
        .id;
    assert_eq!(packet_in.payload, rsvp_frame);
    let mut metadata = packet_in.metadata.clone();
    metadata.sort_by_key(|m| m.metadata_id);
    let mut want = vec![
        p4::PacketMetadata {
            metadata_id: port_id,
            value: vec![3],
        },
        p4::PacketMetadata {
            metadata_id: reason_id,
            value: vec![1],
        },
    ];
    want.sort_by_key(|m| m.metadata_id);
    assert_eq!(metadata, want);

    // Counters: nothing was dropped for a reason the pipeline counts, and
    // every cell of `drops` is read.
    let drops = h.id(EntityKind::Counter, "Ingress.drops")?;
    let cells = h
        .read(vec![entity(p4::entity::Entity::CounterEntry(
            p4::CounterEntry {
                counter_id: drops,
                ..Default::default()
            },
        ))])
        .await?;
    assert_eq!(cells.len(), 9);
    for c in &cells {
        match &c.entity {
            Some(p4::entity::Entity::CounterEntry(c)) => {
                assert_eq!(
                    c.data,
                    Some(p4::CounterData {
                        byte_count: 0,
                        packet_count: 0
                    })
                )
            }
            other => bail!("expected a counter entry, found {other:?}"),
        }
    }

    // The primary leaves: the backup is told there is no primary.
    drop(primary);
    assert_eq!(
        arbitration_code(&mut backup.responses).await?,
        Code::NotFound as i32
    );
    // It arbitrates again with a higher id and becomes primary.
    backup.tx.send(arbitration(11))?;
    assert_eq!(arbitration_code(&mut backup.responses).await?, OK);
    drop(backup);
    h.stop().await
}
