//! The P4Runtime server over gRPC on loopback, driven by the generated
//! client with the compiled `examples/single.fsp` pipeline of `dc1-sw`.

mod common;

use std::time::Duration;

use anyhow::{bail, Context, Result};
use common::*;
use fairshare_p4rt::proto::p4::v1 as p4;
use fairshare_p4rt::EntityKind;
use tonic::Code;

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
        vec![update(Modify, p4::entity::Entity::MeterEntry(meter))],
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

    // A reserved flow with its direct meter, set with the entry and again
    // as a DirectMeterEntry.
    let flows_t = h.id(EntityKind::Table, "Ingress.flows")?;
    let flow_key = vec![
        (
            h.field("Ingress.flows", "hdr.ipv4.src_addr")?,
            exact(&[192, 0, 2, 5]),
        ),
        (
            h.field("Ingress.flows", "hdr.ipv4.dst_addr")?,
            exact(&[10, 0, 0, 1]),
        ),
        (h.field("Ingress.flows", "hdr.ipv4.protocol")?, exact(&[6])),
        (
            h.field("Ingress.flows", "meta.l4_src")?,
            exact(&[0x9c, 0x40]),
        ),
        (h.field("Ingress.flows", "meta.l4_dst")?, exact(&[80])),
    ];
    let reserved = h.action("Ingress.reserved_flow", &[&[3]])?;
    let rate = |cir: i64| p4::MeterConfig {
        cir,
        cburst: 1500,
        pir: 2 * cir,
        pburst: 3000,
        ..Default::default()
    };
    let mut flow = table_entry(flows_t, flow_key.clone(), Some(reserved), 0);
    if let p4::entity::Entity::TableEntry(t) = &mut flow {
        t.meter_config = Some(rate(125_000));
    }
    h.write(10, vec![update(Insert, flow.clone())]).await?;
    assert_eq!(h.read(vec![read_table(flows_t)]).await?, vec![entity(flow)]);
    let flow_ref = match table_entry(flows_t, flow_key, None, 0) {
        p4::entity::Entity::TableEntry(t) => t,
        _ => unreachable!("table_entry builds a table entry"),
    };
    let direct = p4::DirectMeterEntry {
        table_entry: Some(flow_ref.clone()),
        config: Some(rate(250_000)),
        counter_data: None,
    };
    h.write(
        10,
        vec![update(
            Modify,
            p4::entity::Entity::DirectMeterEntry(direct.clone()),
        )],
    )
    .await?;
    let direct_read = h
        .read(vec![entity(p4::entity::Entity::DirectMeterEntry(
            p4::DirectMeterEntry {
                table_entry: Some(p4::TableEntry {
                    table_id: flows_t,
                    ..Default::default()
                }),
                ..Default::default()
            },
        ))])
        .await?;
    assert_eq!(
        direct_read,
        vec![entity(p4::entity::Entity::DirectMeterEntry(direct))]
    );

    // A counter cell written and read back.
    let drops = h.id(EntityKind::Counter, "Ingress.drops")?;
    let cell = p4::CounterEntry {
        counter_id: drops,
        index: Some(p4::Index { index: 4 }),
        data: Some(p4::CounterData {
            byte_count: 640,
            packet_count: 10,
        }),
    };
    h.write(
        10,
        vec![update(Modify, p4::entity::Entity::CounterEntry(cell))],
    )
    .await?;
    let read_cell = p4::CounterEntry { data: None, ..cell };
    assert_eq!(
        h.read(vec![entity(p4::entity::Entity::CounterEntry(read_cell))])
            .await?,
        vec![entity(p4::entity::Entity::CounterEntry(cell))]
    );
    let zero = p4::CounterData {
        byte_count: 0,
        packet_count: 0,
    };
    h.write(
        10,
        vec![update(
            Modify,
            p4::entity::Entity::CounterEntry(p4::CounterEntry {
                data: Some(zero),
                ..cell
            }),
        )],
    )
    .await?;

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

/// A priority queue count the switch refuses stops the server at start,
/// before any pipeline could be refused for it.
#[tokio::test]
async fn a_bad_priority_queue_count_is_refused_at_start() -> Result<()> {
    use fairshare_switch_p4rt::{Config, Error, P4rtSwitch};
    for queues in [0, fairshare_switch::pre::MAX_PRIORITY_QUEUES + 1] {
        let switch = P4rtSwitch::new(
            Config {
                priority_queues: queues,
                ..Config::default()
            },
            None,
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let run = switch.run(listener, std::future::pending());
        match tokio::time::timeout(Duration::from_secs(10), run).await {
            Ok(Err(e @ Error::Config(_))) => {
                let msg = e.to_string();
                anyhow::ensure!(msg.contains(&format!("{queues} priority queues")), "{msg}");
            }
            Ok(other) => bail!("{queues} queues: expected a refusal, got {other:?}"),
            Err(_) => bail!("{queues} queues: the server started"),
        }
    }
    Ok(())
}
