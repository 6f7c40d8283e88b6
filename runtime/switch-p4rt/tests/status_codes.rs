//! Malformed requests and the status code each gets, as a table: one
//! case per row, sent over gRPC to a server with the `dc1-sw` pipeline of
//! `examples/single.fsp`.

mod common;

use anyhow::{bail, Context, Result};
use common::*;
use fairshare_p4rt::entity;
use fairshare_p4rt::proto::p4::v1 as p4;
use fairshare_p4rt::EntityKind;
use p4::entity::Entity as E;
use p4::update::Type::{Delete, Insert, Modify, Unspecified};
use tonic::Code;

const PRIMARY: u128 = 1;

/// The code of the single update of a failed Write (or OK).
async fn update_code(
    h: &mut Harness,
    u: p4::Update,
    atomicity: p4::write_request::Atomicity,
) -> Result<Code> {
    let written = h
        .client
        .write(p4::WriteRequest {
            device_id: DEVICE,
            election_id: Some(PRIMARY.into()),
            updates: vec![u],
            atomicity: atomicity as i32,
            ..Default::default()
        })
        .await;
    match written {
        Ok(_) => Ok(Code::Ok),
        Err(status) => {
            let errors = fairshare_p4rt::status::write_errors(&status)?;
            match errors.as_slice() {
                [e] => Ok(Code::from_i32(e.canonical_code)),
                [] => Ok(status.code()),
                more => bail!("expected one error, found {}", more.len()),
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_malformed_request_gets_the_code_the_spec_gives_it() -> Result<()> {
    let mut h = Harness::start().await?;
    let (_primary, code) = h.arbitrate(PRIMARY).await?;
    assert_eq!(code, OK);

    // Requests refused as a whole, before and after the pipeline.
    let write =
        |device_id, election_id: u128, atomicity: p4::write_request::Atomicity| p4::WriteRequest {
            device_id,
            election_id: Some(election_id.into()),
            atomicity: atomicity as i32,
            updates: vec![],
            ..Default::default()
        };
    use p4::write_request::Atomicity as At;
    let e = h
        .client
        .write(write(DEVICE, PRIMARY, At::ContinueOnError))
        .await
        .expect_err("no pipeline");
    assert_eq!(
        e.code(),
        Code::FailedPrecondition,
        "write without a pipeline"
    );
    let e = h
        .client
        .read(p4::ReadRequest {
            device_id: DEVICE,
            entities: vec![],
            ..Default::default()
        })
        .await
        .expect_err("no pipeline");
    assert_eq!(
        e.code(),
        Code::FailedPrecondition,
        "read without a pipeline"
    );

    use p4::set_forwarding_pipeline_config_request::Action as A;
    let set = |action: A, config: Option<p4::ForwardingPipelineConfig>| {
        p4::SetForwardingPipelineConfigRequest {
            device_id: DEVICE,
            election_id: Some(PRIMARY.into()),
            action: action as i32,
            config,
            ..Default::default()
        }
    };
    let mut bad_json = h.config.clone();
    bad_json.p4_device_config = b"{ not json".to_vec();
    let mut no_p4info = h.config.clone();
    no_p4info.p4info = None;
    let mut other_names = h.config.clone();
    if let Some(t) = other_names
        .p4info
        .as_mut()
        .and_then(|i| i.tables.first_mut())
    {
        if let Some(p) = t.preamble.as_mut() {
            p.name = "Ingress.no_such_table".into();
        }
    }
    let pipeline_cases: Vec<(&str, p4::SetForwardingPipelineConfigRequest, Code)> = vec![
        (
            "no config",
            set(A::VerifyAndCommit, None),
            Code::InvalidArgument,
        ),
        (
            "BMv2 JSON that does not parse",
            set(A::VerifyAndCommit, Some(bad_json)),
            Code::InvalidArgument,
        ),
        (
            "no P4Info",
            set(A::VerifyAndCommit, Some(no_p4info)),
            Code::InvalidArgument,
        ),
        (
            "P4Info naming a table the JSON lacks",
            set(A::Verify, Some(other_names)),
            Code::InvalidArgument,
        ),
        (
            "COMMIT with nothing saved",
            set(A::Commit, None),
            Code::FailedPrecondition,
        ),
        (
            "unspecified action",
            set(A::Unspecified, Some(h.config.clone())),
            Code::InvalidArgument,
        ),
        (
            "wrong device",
            p4::SetForwardingPipelineConfigRequest {
                device_id: 7,
                ..set(A::VerifyAndCommit, Some(h.config.clone()))
            },
            Code::NotFound,
        ),
        (
            "not the primary",
            p4::SetForwardingPipelineConfigRequest {
                election_id: Some(2u128.into()),
                ..set(A::VerifyAndCommit, Some(h.config.clone()))
            },
            Code::PermissionDenied,
        ),
    ];
    for (case, request, want) in pipeline_cases {
        let got = h
            .client
            .set_forwarding_pipeline_config(request)
            .await
            .err()
            .map_or(Code::Ok, |e| e.code());
        assert_eq!(got, want, "SetForwardingPipelineConfig: {case}");
    }
    assert!(!h.switch.has_pipeline(), "no refused config was committed");
    // VERIFY_AND_SAVE then COMMIT is how this one gets in.
    h.client
        .set_forwarding_pipeline_config(set(A::VerifyAndSave, Some(h.config.clone())))
        .await?;
    assert!(!h.switch.has_pipeline());
    h.client
        .set_forwarding_pipeline_config(set(A::Commit, None))
        .await?;
    assert!(h.switch.has_pipeline());

    let request_cases = [
        (
            "wrong device",
            write(9, PRIMARY, At::ContinueOnError),
            Code::NotFound,
        ),
        (
            "not the primary's election id",
            write(DEVICE, 2, At::ContinueOnError),
            Code::PermissionDenied,
        ),
        (
            "ROLLBACK_ON_ERROR, an empty batch",
            write(DEVICE, PRIMARY, At::RollbackOnError),
            Code::Ok,
        ),
        (
            "DATAPLANE_ATOMIC, an empty batch",
            write(DEVICE, PRIMARY, At::DataplaneAtomic),
            Code::Ok,
        ),
    ];
    for (case, request, want) in request_cases {
        let got = h
            .client
            .write(request)
            .await
            .err()
            .map_or(Code::Ok, |e| e.code());
        assert_eq!(got, want, "Write: {case}");
    }

    // Per-update refusals.
    let vip = h.id(EntityKind::Table, "Ingress.vip")?;
    let (dst, proto, l4) = (
        h.field("Ingress.vip", "hdr.ipv4.dst_addr")?,
        h.field("Ingress.vip", "hdr.ipv4.protocol")?,
        h.field("Ingress.vip", "meta.l4_dst")?,
    );
    let set_service = h.action("Ingress.set_service", &[&[1]])?;
    let vip_entry =
        |d: &[u8], p: &[u8], port: &[u8], action: Option<p4::TableAction>, priority: i32| {
            table_entry(
                vip,
                vec![(dst, exact(d)), (proto, exact(p)), (l4, exact(port))],
                action,
                priority,
            )
        };
    let good_vip = vip_entry(&[203, 0, 113, 1], &[6], &[80], Some(set_service.clone()), 0);
    let lpm_t = h.id(EntityKind::Table, "Ingress.ipv4_lpm")?;
    let lpm_dst = h.field("Ingress.ipv4_lpm", "hdr.ipv4.dst_addr")?;
    let forward = h.action(
        "Ingress.forward",
        &[&[1], &[2, 0, 0, 0, 0, 1], &[2, 0, 0, 0, 0, 2]],
    )?;
    let route_class = h.id(EntityKind::Table, "Ingress.route_class")?;
    let rc_src = h.field("Ingress.route_class", "hdr.ipv4.src_addr")?;
    let set_route = h.action("Ingress.set_route", &[&[5]])?;
    let rsvp = h.id(EntityKind::Meter, "Ingress.rsvp_meter")?;
    let meter = |meter_id, index: Option<i64>, cir: i64| {
        E::MeterEntry(p4::MeterEntry {
            meter_id,
            index: index.map(|index| p4::Index { index }),
            config: Some(p4::MeterConfig {
                cir,
                cburst: 10,
                pir: 100,
                pburst: 10,
                ..Default::default()
            }),
            counter_data: None,
        })
    };
    let with_action = |action_id, params: Vec<(u32, Vec<u8>)>| {
        Some(p4::TableAction {
            r#type: Some(p4::table_action::Type::Action(p4::Action {
                action_id,
                params: params
                    .into_iter()
                    .map(|(param_id, value)| p4::action::Param { param_id, value })
                    .collect(),
            })),
        })
    };
    let set_service_id = h.id(EntityKind::Action, "Ingress.set_service")?;
    let set_edge_id = h.id(EntityKind::Action, "Ingress.set_edge")?;
    let no_such_action = h.id(EntityKind::Action, "Ingress.set_service")? ^ 0x00ff_0000;
    let default_of = |table_id, action| {
        E::TableEntry(p4::TableEntry {
            table_id,
            action,
            is_default_action: true,
            ..Default::default()
        })
    };
    let register = E::RegisterEntry(p4::RegisterEntry::default());
    let profile_member = table_entry(
        vip,
        vec![(dst, exact(&[1])), (proto, exact(&[6])), (l4, exact(&[80]))],
        Some(p4::TableAction {
            r#type: Some(p4::table_action::Type::ActionProfileMemberId(1)),
        }),
        0,
    );

    let table: Vec<(&str, p4::Update, Code)> = vec![
        ("a valid insert", update(Insert, good_vip.clone()), Code::Ok),
        (
            "the same insert again",
            update(Insert, good_vip.clone()),
            Code::AlreadyExists,
        ),
        (
            "delete of a missing entry",
            update(Delete, vip_entry(&[203, 0, 113, 9], &[6], &[80], None, 0)),
            Code::NotFound,
        ),
        (
            "modify of a missing entry",
            update(
                Modify,
                vip_entry(&[203, 0, 113, 9], &[6], &[80], Some(set_service.clone()), 0),
            ),
            Code::NotFound,
        ),
        (
            "unknown table id",
            update(
                Insert,
                table_entry(0x0200_0fff, vec![], Some(set_service.clone()), 0),
            ),
            Code::NotFound,
        ),
        (
            "unknown action id",
            update(
                Insert,
                vip_entry(
                    &[1],
                    &[6],
                    &[80],
                    with_action(no_such_action, vec![(1, vec![1])]),
                    0,
                ),
            ),
            Code::NotFound,
        ),
        (
            "action the table does not take",
            update(
                Insert,
                vip_entry(
                    &[1],
                    &[6],
                    &[80],
                    with_action(set_edge_id, vec![(1, vec![1])]),
                    0,
                ),
            ),
            Code::InvalidArgument,
        ),
        (
            "unknown parameter id",
            update(
                Insert,
                vip_entry(
                    &[1],
                    &[6],
                    &[80],
                    with_action(set_service_id, vec![(9, vec![1])]),
                    0,
                ),
            ),
            Code::InvalidArgument,
        ),
        (
            "missing parameter",
            update(
                Insert,
                vip_entry(&[1], &[6], &[80], with_action(set_service_id, vec![]), 0),
            ),
            Code::InvalidArgument,
        ),
        (
            "parameter given twice",
            update(
                Insert,
                vip_entry(
                    &[1],
                    &[6],
                    &[80],
                    with_action(set_service_id, vec![(1, vec![1]), (1, vec![2])]),
                    0,
                ),
            ),
            Code::InvalidArgument,
        ),
        (
            "parameter wider than its bitwidth",
            update(
                Insert,
                vip_entry(
                    &[1],
                    &[6],
                    &[80],
                    with_action(set_service_id, vec![(1, vec![1, 0, 0])]),
                    0,
                ),
            ),
            Code::InvalidArgument,
        ),
        (
            "parameter longer than ceil(W/8) bytes",
            update(
                Insert,
                vip_entry(
                    &[1],
                    &[6],
                    &[80],
                    with_action(set_service_id, vec![(1, vec![0, 0, 1])]),
                    0,
                ),
            ),
            Code::InvalidArgument,
        ),
        (
            "no action",
            update(Insert, vip_entry(&[1], &[6], &[80], None, 0)),
            Code::InvalidArgument,
        ),
        (
            "action profile member",
            update(Insert, profile_member),
            Code::Unimplemented,
        ),
        (
            "unknown match field id",
            update(
                Insert,
                table_entry(
                    vip,
                    vec![
                        (dst, exact(&[1])),
                        (proto, exact(&[6])),
                        (l4, exact(&[80])),
                        (99, exact(&[1])),
                    ],
                    Some(set_service.clone()),
                    0,
                ),
            ),
            Code::InvalidArgument,
        ),
        (
            "match field given twice",
            update(
                Insert,
                table_entry(
                    vip,
                    vec![
                        (dst, exact(&[1])),
                        (dst, exact(&[2])),
                        (proto, exact(&[6])),
                        (l4, exact(&[80])),
                    ],
                    Some(set_service.clone()),
                    0,
                ),
            ),
            Code::InvalidArgument,
        ),
        (
            "missing exact field",
            update(
                Insert,
                table_entry(
                    vip,
                    vec![(dst, exact(&[1])), (proto, exact(&[6]))],
                    Some(set_service.clone()),
                    0,
                ),
            ),
            Code::InvalidArgument,
        ),
        (
            "exact value wider than the field",
            update(
                Insert,
                vip_entry(&[1], &[1, 6], &[80], Some(set_service.clone()), 0),
            ),
            Code::InvalidArgument,
        ),
        (
            "exact value longer than ceil(W/8) bytes",
            update(
                Insert,
                vip_entry(&[0, 0, 0, 0, 1], &[6], &[80], Some(set_service.clone()), 0),
            ),
            Code::InvalidArgument,
        ),
        (
            "empty exact value",
            update(
                Insert,
                vip_entry(&[], &[6], &[80], Some(set_service.clone()), 0),
            ),
            Code::InvalidArgument,
        ),
        (
            "ternary match on an exact field",
            update(
                Insert,
                table_entry(
                    vip,
                    vec![
                        (dst, ternary(&[1], &[1])),
                        (proto, exact(&[6])),
                        (l4, exact(&[80])),
                    ],
                    Some(set_service.clone()),
                    0,
                ),
            ),
            Code::InvalidArgument,
        ),
        (
            "priority on a table without ternary keys",
            update(
                Insert,
                vip_entry(&[1], &[6], &[80], Some(set_service.clone()), 3),
            ),
            Code::InvalidArgument,
        ),
        (
            "lpm prefix longer than the field",
            update(
                Insert,
                table_entry(
                    lpm_t,
                    vec![(lpm_dst, lpm(&[10, 0, 0, 0], 33))],
                    Some(forward.clone()),
                    0,
                ),
            ),
            Code::InvalidArgument,
        ),
        (
            "lpm prefix length 0 written out",
            update(
                Insert,
                table_entry(
                    lpm_t,
                    vec![(lpm_dst, lpm(&[0], 0))],
                    Some(forward.clone()),
                    0,
                ),
            ),
            Code::InvalidArgument,
        ),
        (
            "lpm value bits after the prefix",
            update(
                Insert,
                table_entry(
                    lpm_t,
                    vec![(lpm_dst, lpm(&[10, 0, 0, 1], 8))],
                    Some(forward.clone()),
                    0,
                ),
            ),
            Code::InvalidArgument,
        ),
        (
            "ternary table without a priority",
            update(
                Insert,
                table_entry(
                    route_class,
                    vec![(rc_src, ternary(&[10, 0, 0, 0], &[255, 0, 0, 0]))],
                    Some(set_route.clone()),
                    0,
                ),
            ),
            Code::InvalidArgument,
        ),
        (
            "ternary value bits outside the mask",
            update(
                Insert,
                table_entry(
                    route_class,
                    vec![(rc_src, ternary(&[10, 0, 0, 1], &[255, 0, 0, 0]))],
                    Some(set_route.clone()),
                    1,
                ),
            ),
            Code::InvalidArgument,
        ),
        (
            "ternary zero mask written out",
            update(
                Insert,
                table_entry(
                    route_class,
                    vec![(rc_src, ternary(&[0], &[0]))],
                    Some(set_route.clone()),
                    1,
                ),
            ),
            Code::InvalidArgument,
        ),
        (
            "a valid ternary insert",
            update(
                Insert,
                table_entry(
                    route_class,
                    vec![(rc_src, ternary(&[10, 0, 0, 0], &[255, 0, 0, 0]))],
                    Some(set_route.clone()),
                    1,
                ),
            ),
            Code::Ok,
        ),
        (
            "insert of the default entry",
            update(Insert, default_of(vip, Some(set_service.clone()))),
            Code::InvalidArgument,
        ),
        (
            "default entry with a match",
            update(
                Modify,
                E::TableEntry(p4::TableEntry {
                    table_id: vip,
                    r#match: vec![p4::FieldMatch {
                        field_id: dst,
                        field_match_type: Some(exact(&[1])),
                    }],
                    action: Some(set_service.clone()),
                    is_default_action: true,
                    ..Default::default()
                }),
            ),
            Code::InvalidArgument,
        ),
        (
            "modify of a constant default action",
            update(Modify, default_of(lpm_t, Some(forward.clone()))),
            Code::PermissionDenied,
        ),
        (
            "modify of a default action",
            update(Modify, default_of(vip, Some(set_service.clone()))),
            Code::Ok,
        ),
        (
            "update type unspecified",
            update(Unspecified, good_vip.clone()),
            Code::InvalidArgument,
        ),
        (
            "no entity",
            p4::Update {
                r#type: Insert as i32,
                entity: None,
            },
            Code::InvalidArgument,
        ),
        (
            "meter insert",
            update(Insert, meter(rsvp, Some(0), 10)),
            Code::InvalidArgument,
        ),
        (
            "unknown meter id",
            update(Modify, meter(0x1500_0fff, Some(0), 10)),
            Code::NotFound,
        ),
        (
            "meter index out of range",
            update(Modify, meter(rsvp, Some(1), 10)),
            Code::OutOfRange,
        ),
        (
            "negative meter rate",
            update(Modify, meter(rsvp, Some(0), -1)),
            Code::InvalidArgument,
        ),
        (
            "committed rate above the peak rate",
            update(Modify, meter(rsvp, Some(0), 1000)),
            Code::InvalidArgument,
        ),
        (
            "a valid meter write",
            update(Modify, meter(rsvp, Some(0), 10)),
            Code::Ok,
        ),
        (
            "register write with an id not in the P4Info",
            update(Modify, register),
            Code::NotFound,
        ),
    ];
    let drops = h.id(EntityKind::Counter, "Ingress.drops")?;
    let counter = |index: i64, packets: i64| {
        E::CounterEntry(p4::CounterEntry {
            counter_id: drops,
            index: Some(p4::Index { index }),
            data: Some(p4::CounterData {
                byte_count: 0,
                packet_count: packets,
            }),
        })
    };
    let flows = h.id(EntityKind::Table, "Ingress.flows")?;
    let flow_fields = [
        "hdr.ipv4.src_addr",
        "hdr.ipv4.dst_addr",
        "hdr.ipv4.protocol",
        "meta.l4_src",
        "meta.l4_dst",
    ]
    .iter()
    .map(|f| h.field("Ingress.flows", f))
    .collect::<Result<Vec<u32>>>()?;
    let missing_flow = |table_id| {
        E::DirectMeterEntry(p4::DirectMeterEntry {
            table_entry: Some(p4::TableEntry {
                table_id,
                r#match: flow_fields
                    .iter()
                    .map(|f| p4::FieldMatch {
                        field_id: *f,
                        field_match_type: Some(exact(&[1])),
                    })
                    .collect(),
                ..Default::default()
            }),
            config: Some(p4::MeterConfig {
                cir: 1,
                cburst: 1,
                pir: 1,
                pburst: 1,
                ..Default::default()
            }),
            counter_data: None,
        })
    };
    let mut table = table;
    table.extend([
        (
            "counter insert",
            update(Insert, counter(0, 1)),
            Code::InvalidArgument,
        ),
        (
            "counter index out of range",
            update(Modify, counter(9, 1)),
            Code::OutOfRange,
        ),
        (
            "negative counter",
            update(Modify, counter(0, -1)),
            Code::InvalidArgument,
        ),
        (
            "a valid counter write",
            update(Modify, counter(0, 0)),
            Code::Ok,
        ),
        (
            "direct meter insert",
            update(Insert, missing_flow(flows)),
            Code::InvalidArgument,
        ),
        (
            "direct meter of a missing entry",
            update(Modify, missing_flow(flows)),
            Code::NotFound,
        ),
        (
            "direct meter without its table entry",
            update(Modify, E::DirectMeterEntry(p4::DirectMeterEntry::default())),
            Code::InvalidArgument,
        ),
        (
            "direct counter without its table entry",
            update(
                Modify,
                E::DirectCounterEntry(p4::DirectCounterEntry::default()),
            ),
            Code::InvalidArgument,
        ),
        (
            "direct counter of a table without one",
            update(
                Modify,
                E::DirectCounterEntry(p4::DirectCounterEntry {
                    table_entry: Some(p4::TableEntry {
                        table_id: flows,
                        ..Default::default()
                    }),
                    data: None,
                }),
            ),
            Code::InvalidArgument,
        ),
        (
            "direct counter insert",
            update(
                Insert,
                E::DirectCounterEntry(p4::DirectCounterEntry::default()),
            ),
            Code::InvalidArgument,
        ),
    ]);
    // Clone sessions and multicast groups.
    let pre = |e: p4::PacketReplicationEngineEntry| E::PacketReplicationEngineEntry(e);
    let session = |id, copies: &[(u32, u32)]| pre(entity::clone_session(id, copies));
    let group = |id, copies: &[(u32, u32)]| pre(entity::multicast_group(id, copies));
    let session_with = |f: &dyn Fn(&mut p4::CloneSessionEntry)| {
        let mut e = entity::clone_session(3, &[(1, 0)]);
        if let Some(p4::packet_replication_engine_entry::Type::CloneSessionEntry(s)) = &mut e.r#type
        {
            f(s);
        }
        pre(e)
    };
    let portless = p4::Replica {
        instance: 0,
        port_kind: None,
    };
    let wide_port = p4::Replica {
        instance: 0,
        port_kind: Some(p4::replica::PortKind::Port(vec![1, 0, 0, 0, 0])),
    };
    table.extend([
        (
            "clone session id 0",
            update(Insert, session(0, &[(1, 0)])),
            Code::InvalidArgument,
        ),
        (
            "clone session id above 32767",
            update(Insert, session(32_768, &[(1, 0)])),
            Code::OutOfRange,
        ),
        (
            "clone session with a class of service",
            update(Insert, session_with(&|s| s.class_of_service = 2)),
            Code::Unimplemented,
        ),
        (
            "clone session with a negative packet length",
            update(Insert, session_with(&|s| s.packet_length_bytes = -1)),
            Code::InvalidArgument,
        ),
        (
            "clone session with the same replica twice",
            update(Insert, session(3, &[(1, 0), (1, 0)])),
            Code::InvalidArgument,
        ),
        (
            "clone session replica without a port",
            update(
                Insert,
                session_with(&|s| s.replicas = vec![portless.clone()]),
            ),
            Code::InvalidArgument,
        ),
        (
            "clone session port of more than 32 bits",
            update(
                Insert,
                session_with(&|s| s.replicas = vec![wide_port.clone()]),
            ),
            Code::InvalidArgument,
        ),
        (
            "clone session port wider than the program's egress_port",
            update(Insert, session(3, &[(600, 0)])),
            Code::InvalidArgument,
        ),
        (
            "modify of a missing clone session",
            update(Modify, session(9, &[(1, 0)])),
            Code::NotFound,
        ),
        (
            "delete of a missing clone session",
            update(Delete, session(9, &[])),
            Code::NotFound,
        ),
        (
            "a valid clone session insert",
            update(Insert, session(3, &[(1, 0)])),
            Code::Ok,
        ),
        (
            "the same clone session again",
            update(Insert, session(3, &[(2, 0)])),
            Code::AlreadyExists,
        ),
        (
            "a clone session of several replicas",
            update(Modify, session(3, &[(1, 0), (2, 0), (2, 1)])),
            Code::Ok,
        ),
        (
            "multicast group id 0",
            update(Insert, group(0, &[(1, 0)])),
            Code::InvalidArgument,
        ),
        (
            "multicast group id above 32767 (clone sessions' range)",
            update(Insert, group(32_768, &[(1, 0)])),
            Code::OutOfRange,
        ),
        (
            "multicast group with the same replica twice",
            update(Insert, group(4, &[(1, 7), (1, 7)])),
            Code::InvalidArgument,
        ),
        (
            "multicast group with metadata",
            update(
                Insert,
                pre(p4::PacketReplicationEngineEntry {
                    r#type: Some(
                        p4::packet_replication_engine_entry::Type::MulticastGroupEntry(
                            p4::MulticastGroupEntry {
                                multicast_group_id: 4,
                                replicas: vec![],
                                metadata: vec![1],
                            },
                        ),
                    ),
                }),
            ),
            Code::Unimplemented,
        ),
        (
            "multicast group replication id of more than 16 bits",
            update(Insert, group(4, &[(1, 70_000)])),
            Code::InvalidArgument,
        ),
        (
            "modify of a missing multicast group",
            update(Modify, group(9, &[(1, 0)])),
            Code::NotFound,
        ),
        (
            "delete of a missing multicast group",
            update(Delete, group(9, &[])),
            Code::NotFound,
        ),
        (
            "a valid multicast group insert",
            update(Insert, group(4, &[(1, 0), (2, 0)])),
            Code::Ok,
        ),
        (
            "the same multicast group again",
            update(Insert, group(4, &[])),
            Code::AlreadyExists,
        ),
        (
            "a multicast group emptied",
            update(Modify, group(4, &[])),
            Code::Ok,
        ),
        (
            "replication entry with neither kind",
            update(
                Insert,
                pre(p4::PacketReplicationEngineEntry { r#type: None }),
            ),
            Code::InvalidArgument,
        ),
    ]);
    // Padded to ceil(W/8) bytes: taken, and read back canonical.
    let padded = vip_entry(
        &[0, 0, 0, 7],
        &[6],
        &[0, 81],
        with_action(set_service_id, vec![(1, vec![0, 9])]),
        0,
    );
    let canonical = vip_entry(
        &[7],
        &[6],
        &[81],
        with_action(set_service_id, vec![(1, vec![9])]),
        0,
    );
    table.push((
        "values padded to ceil(W/8) bytes",
        update(Insert, padded),
        Code::Ok,
    ));
    let mut failures = Vec::new();
    for (case, u, want) in &table {
        // A refused update first with ROLLBACK_ON_ERROR: the same code
        // (working out its undo refuses nothing the update itself would
        // not), and nothing changes.
        if *want != Code::Ok {
            let got = update_code(&mut h, u.clone(), At::RollbackOnError)
                .await
                .with_context(|| case.to_string())?;
            if got != *want {
                failures.push(format!(
                    "{case} (ROLLBACK_ON_ERROR): expected {want:?}, found {got:?}"
                ));
            }
        }
        let got = update_code(&mut h, u.clone(), At::ContinueOnError)
            .await
            .with_context(|| case.to_string())?;
        if got != *want {
            failures.push(format!("{case}: expected {want:?}, found {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    let read_vip = vec![p4::Entity {
        entity: Some(E::TableEntry(p4::TableEntry {
            table_id: vip,
            ..Default::default()
        })),
    }];
    let entries = h.read(read_vip.clone()).await?;
    assert!(
        entries.contains(&p4::Entity {
            entity: Some(canonical)
        }),
        "the padded entry, read back canonical, in {entries:?}"
    );

    // A batch: each update stands alone, and the errors come in order.
    let other = vip_entry(&[203, 0, 113, 2], &[6], &[80], Some(set_service.clone()), 0);
    let status = h
        .write(
            PRIMARY,
            vec![
                update(Insert, other.clone()),
                update(Insert, good_vip.clone()),
                update(Delete, other),
            ],
        )
        .await
        .expect_err("one update fails");
    assert_eq!(status.code(), Code::Unknown);
    let codes: Vec<i32> = fairshare_p4rt::status::write_errors(&status)?
        .iter()
        .map(|e| e.canonical_code)
        .collect();
    assert_eq!(codes, vec![OK, Code::AlreadyExists as i32, OK]);

    // The same batch with ROLLBACK_ON_ERROR: the failing update gets its
    // code, the others ABORTED, and the first insert is undone.
    let third = vip_entry(&[203, 0, 113, 3], &[6], &[80], Some(set_service.clone()), 0);
    let before = h.read(read_vip.clone()).await?;
    let status = h
        .client
        .write(p4::WriteRequest {
            device_id: DEVICE,
            election_id: Some(PRIMARY.into()),
            updates: vec![
                update(Insert, third.clone()),
                update(Insert, good_vip.clone()),
                update(Delete, third),
            ],
            atomicity: At::RollbackOnError as i32,
            ..Default::default()
        })
        .await
        .expect_err("one update fails");
    let codes: Vec<i32> = fairshare_p4rt::status::write_errors(&status)?
        .iter()
        .map(|e| e.canonical_code)
        .collect();
    let aborted = Code::Aborted as i32;
    assert_eq!(codes, vec![aborted, Code::AlreadyExists as i32, aborted]);
    assert_eq!(h.read(read_vip.clone()).await?, before, "rolled back");

    // DATAPLANE_ATOMIC: the same all-or-nothing answer for the failing
    // batch, and a batch without failures applied whole.
    let fourth = vip_entry(&[203, 0, 113, 4], &[6], &[80], Some(set_service.clone()), 0);
    let fifth = vip_entry(&[203, 0, 113, 5], &[6], &[80], Some(set_service.clone()), 0);
    let atomic = |updates: Vec<p4::Update>| p4::WriteRequest {
        device_id: DEVICE,
        election_id: Some(PRIMARY.into()),
        updates,
        atomicity: At::DataplaneAtomic as i32,
        ..Default::default()
    };
    let status = h
        .client
        .write(atomic(vec![
            update(Insert, fourth.clone()),
            update(Insert, good_vip.clone()),
            update(Insert, fifth.clone()),
        ]))
        .await
        .expect_err("one update fails");
    let codes: Vec<i32> = fairshare_p4rt::status::write_errors(&status)?
        .iter()
        .map(|e| e.canonical_code)
        .collect();
    assert_eq!(codes, vec![aborted, Code::AlreadyExists as i32, aborted]);
    assert_eq!(h.read(read_vip.clone()).await?, before, "nothing applied");
    h.client
        .write(atomic(vec![
            update(Insert, fourth.clone()),
            update(Insert, fifth.clone()),
        ]))
        .await?;
    let after = h.read(read_vip.clone()).await?;
    for e in [fourth.clone(), fifth.clone()] {
        let e = p4::Entity { entity: Some(e) };
        assert!(after.contains(&e), "{e:?} applied, in {after:?}");
    }
    assert_eq!(after.len(), before.len() + 2);
    h.client
        .write(atomic(vec![update(Delete, fourth), update(Delete, fifth)]))
        .await?;
    assert_eq!(h.read(read_vip.clone()).await?, before, "deleted again");

    // Reads with unknown ids.
    let read = |e: E| vec![p4::Entity { entity: Some(e) }];
    let cases = [
        (
            "unknown table id",
            read(E::TableEntry(p4::TableEntry {
                table_id: 0x0200_0fff,
                ..Default::default()
            })),
            Code::NotFound,
        ),
        (
            "unknown meter id",
            read(E::MeterEntry(p4::MeterEntry {
                meter_id: 0x1500_0fff,
                ..Default::default()
            })),
            Code::NotFound,
        ),
        (
            "unknown counter id",
            read(E::CounterEntry(p4::CounterEntry {
                counter_id: 0x1200_0fff,
                ..Default::default()
            })),
            Code::NotFound,
        ),
        (
            "counter index out of range",
            read(E::CounterEntry(p4::CounterEntry {
                counter_id: h.id(EntityKind::Counter, "Ingress.drops")?,
                index: Some(p4::Index { index: 9 }),
                ..Default::default()
            })),
            Code::OutOfRange,
        ),
        (
            "no entity",
            vec![p4::Entity { entity: None }],
            Code::InvalidArgument,
        ),
        (
            "missing clone session",
            read(E::PacketReplicationEngineEntry(entity::clone_session(
                99,
                &[],
            ))),
            Code::NotFound,
        ),
        (
            "missing multicast group",
            read(E::PacketReplicationEngineEntry(entity::multicast_group(
                99,
                &[],
            ))),
            Code::NotFound,
        ),
    ];
    for (case, entities, want) in cases {
        let got = match h.read(entities).await {
            Ok(_) => Code::Ok,
            Err(e) => e
                .downcast_ref::<tonic::Status>()
                .map_or(Code::Internal, |s| s.code()),
        };
        assert_eq!(got, want, "Read: {case}");
    }
    drop(_primary);
    h.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arbitration_refuses_a_wrong_device_and_a_taken_election_id() -> Result<()> {
    let mut h = Harness::start().await?;
    let (_first, code) = h.arbitrate(3).await?;
    assert_eq!(code, OK);
    // The same election id from a second controller ends its stream.
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tx.send(arbitration(3))?;
    let mut responses = h
        .client
        .stream_channel(tokio_stream::wrappers::UnboundedReceiverStream::new(rx))
        .await?
        .into_inner();
    let e = next(&mut responses).await.expect_err("taken election id");
    let status = e.downcast_ref::<tonic::Status>().context("a gRPC status")?;
    assert_eq!(status.code(), Code::InvalidArgument);
    // A device id the switch does not have.
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let mut wrong = arbitration(4);
    if let Some(p4::stream_message_request::Update::Arbitration(a)) = wrong.update.as_mut() {
        a.device_id = 5;
    }
    tx.send(wrong)?;
    let mut responses = h
        .client
        .stream_channel(tokio_stream::wrappers::UnboundedReceiverStream::new(rx))
        .await?
        .into_inner();
    let e = next(&mut responses).await.expect_err("wrong device");
    let status = e.downcast_ref::<tonic::Status>().context("a gRPC status")?;
    assert_eq!(status.code(), Code::NotFound);
    drop((_first, responses));
    h.stop().await
}
