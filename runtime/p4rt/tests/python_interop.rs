//! Interop with the official P4Runtime Python bindings (PyPI `p4runtime`):
//! every message kind fairshare uses is built on both sides; the official
//! bindings must parse our bytes into their message, and their bytes must be
//! identical to ours and decode into ours. Every P4Info file in the
//! repository and in the conformance cases is also parsed from text on both
//! sides and encoded, and the bytes must be identical.
//!
//! The Python side is `tests/interop/official_p4runtime.py`. The interpreter
//! comes from `FAIRSHARE_PYTHON`, else `target/venv/bin/python` of the
//! workspace, prepared with
//! `python3 -m venv target/venv && target/venv/bin/pip install p4runtime-shell==0.0.5`
//! (which brings `p4runtime==1.4.1` and `protobuf` 3.20). Without it the test
//! prints `skipped: ...` unless `FAIRSHARE_REQUIRE_PEERS=1`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use fairshare_p4rt::proto::google::rpc::{Code, Status};
use fairshare_p4rt::proto::p4::config::v1::P4Info;
use fairshare_p4rt::proto::p4::v1::{
    self as p4, entity, field_match, p4_data, table_action, update, Entity,
};
use fairshare_p4rt::text;
use prost::Message;

const WORKSPACE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/interop/official_p4runtime.py"
);

const TABLE: u32 = 0x0200_0001;
const ACTION: u32 = 0x0100_0001;
const METER: u32 = 0x1400_0001;
const COUNTER: u32 = 0x1200_0001;
const REGISTER: u32 = 0x1600_0001;
const PROFILE: u32 = 0x1100_0001;
const DIGEST: u32 = 0x1700_0001;
const VALUE_SET: u32 = 0x0300_0001;

/// Whether some bytes decode to the message a case holds.
type DecodesTo = Box<dyn Fn(&[u8]) -> bool>;

/// One message built on our side, with a check that bytes decode back to it.
struct Case {
    name: String,
    bytes: Vec<u8>,
    decodes_to_ours: DecodesTo,
}

fn case<M: Message + Default + PartialEq + 'static>(name: &str, message: M) -> Case {
    let bytes = message.encode_to_vec();
    Case {
        name: name.to_owned(),
        bytes,
        decodes_to_ours: Box::new(move |theirs| {
            M::decode(theirs).is_ok_and(|decoded| decoded == message)
        }),
    }
}

fn python() -> Option<PathBuf> {
    let path = std::env::var_os("FAIRSHARE_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(WORKSPACE).join("target/venv/bin/python"));
    let imports = Command::new(&path)
        .args([
            "-c",
            "import p4.v1.p4runtime_pb2, p4.config.v1.p4info_pb2, google.rpc.status_pb2",
        ])
        .stderr(Stdio::null())
        .status();
    matches!(imports, Ok(status) if status.success()).then_some(path)
}

fn exact(field_id: u32, value: &[u8]) -> p4::FieldMatch {
    p4::FieldMatch {
        field_id,
        field_match_type: Some(field_match::FieldMatchType::Exact(field_match::Exact {
            value: value.to_vec(),
        })),
    }
}

fn action(action_id: u32, params: &[(u32, &[u8])]) -> p4::Action {
    p4::Action {
        action_id,
        params: params
            .iter()
            .map(|(param_id, value)| p4::action::Param {
                param_id: *param_id,
                value: value.to_vec(),
            })
            .collect(),
    }
}

fn direct(action: p4::Action) -> Option<p4::TableAction> {
    Some(p4::TableAction {
        r#type: Some(table_action::Type::Action(action)),
    })
}

fn table_entry() -> p4::TableEntry {
    use field_match::FieldMatchType as F;
    p4::TableEntry {
        table_id: TABLE,
        r#match: vec![
            exact(1, &[0x0a, 0, 0, 1]),
            p4::FieldMatch {
                field_id: 2,
                field_match_type: Some(F::Lpm(field_match::Lpm {
                    value: vec![0x0a, 0, 0, 0],
                    prefix_len: 8,
                })),
            },
            p4::FieldMatch {
                field_id: 3,
                field_match_type: Some(F::Ternary(field_match::Ternary {
                    value: vec![6],
                    mask: vec![0xff],
                })),
            },
            p4::FieldMatch {
                field_id: 4,
                field_match_type: Some(F::Range(field_match::Range {
                    low: vec![4, 0],
                    high: vec![4, 0xff],
                })),
            },
            p4::FieldMatch {
                field_id: 5,
                field_match_type: Some(F::Optional(field_match::Optional { value: vec![1] })),
            },
        ],
        action: direct(action(ACTION, &[(1, &[5]), (2, &[0])])),
        priority: 10,
        ..Default::default()
    }
}

fn meter_config() -> p4::MeterConfig {
    p4::MeterConfig {
        cir: 125_000,
        cburst: 10_000,
        pir: 250_000,
        pburst: 20_000,
        eburst: 0,
    }
}

fn upd(kind: update::Type, entity: entity::Entity) -> p4::Update {
    p4::Update {
        r#type: kind as i32,
        entity: Some(Entity {
            entity: Some(entity),
        }),
    }
}

fn index(i: i64) -> Option<p4::Index> {
    Some(p4::Index { index: i })
}

fn write_tables() -> p4::WriteRequest {
    use entity::Entity as E;
    use update::Type as T;
    let profile_entry = |action: table_action::Type| p4::TableEntry {
        table_id: TABLE + 2,
        action: Some(p4::TableAction {
            r#type: Some(action),
        }),
        ..Default::default()
    };
    p4::WriteRequest {
        device_id: 1,
        election_id: Some(10u128.into()),
        atomicity: p4::write_request::Atomicity::ContinueOnError as i32,
        updates: vec![
            upd(T::Insert, E::TableEntry(table_entry())),
            upd(
                T::Modify,
                E::TableEntry(p4::TableEntry {
                    table_id: TABLE,
                    is_default_action: true,
                    action: direct(action(ACTION + 1, &[])),
                    ..Default::default()
                }),
            ),
            upd(
                T::Insert,
                E::TableEntry(p4::TableEntry {
                    table_id: TABLE + 1,
                    r#match: vec![exact(1, &[1])],
                    action: direct(action(ACTION, &[])),
                    meter_config: Some(meter_config()),
                    counter_data: Some(p4::CounterData::default()),
                    metadata: b"cookie".to_vec(),
                    idle_timeout_ns: 1_000_000_000,
                    ..Default::default()
                }),
            ),
            upd(
                T::Delete,
                E::TableEntry(p4::TableEntry {
                    table_id: TABLE,
                    r#match: vec![exact(1, &[0x0b])],
                    priority: 1,
                    ..Default::default()
                }),
            ),
            upd(
                T::Insert,
                E::TableEntry(profile_entry(table_action::Type::ActionProfileMemberId(7))),
            ),
            upd(
                T::Insert,
                E::TableEntry(profile_entry(table_action::Type::ActionProfileGroupId(8))),
            ),
            upd(
                T::Insert,
                E::TableEntry(profile_entry(table_action::Type::ActionProfileActionSet(
                    p4::ActionProfileActionSet {
                        action_profile_actions: vec![p4::ActionProfileAction {
                            action: Some(action(ACTION, &[])),
                            weight: 3,
                            watch_kind: Some(p4::action_profile_action::WatchKind::WatchPort(
                                vec![2],
                            )),
                        }],
                    },
                ))),
            ),
        ],
        ..Default::default()
    }
}

fn write_meters_counters() -> p4::WriteRequest {
    use entity::Entity as E;
    use update::Type as T;
    let direct_key = || {
        Some(p4::TableEntry {
            table_id: TABLE + 1,
            r#match: vec![exact(1, &[1])],
            ..Default::default()
        })
    };
    p4::WriteRequest {
        device_id: 1,
        role: "fairshare".into(),
        election_id: Some((1u128 << 64).into()),
        atomicity: p4::write_request::Atomicity::RollbackOnError as i32,
        updates: vec![
            upd(
                T::Modify,
                E::MeterEntry(p4::MeterEntry {
                    meter_id: METER,
                    index: index(0),
                    config: Some(meter_config()),
                    counter_data: None,
                }),
            ),
            upd(
                T::Modify,
                E::MeterEntry(p4::MeterEntry {
                    meter_id: METER,
                    index: index(41),
                    config: Some(p4::MeterConfig {
                        cir: 1,
                        cburst: 1,
                        pir: 1,
                        pburst: 1,
                        eburst: 2,
                    }),
                    counter_data: None,
                }),
            ),
            upd(
                T::Modify,
                E::DirectMeterEntry(p4::DirectMeterEntry {
                    table_entry: direct_key(),
                    config: Some(meter_config()),
                    counter_data: None,
                }),
            ),
            upd(
                T::Modify,
                E::CounterEntry(p4::CounterEntry {
                    counter_id: COUNTER,
                    index: index(3),
                    data: Some(p4::CounterData {
                        byte_count: 1500,
                        packet_count: 1,
                    }),
                }),
            ),
            upd(
                T::Modify,
                E::DirectCounterEntry(p4::DirectCounterEntry {
                    table_entry: direct_key(),
                    data: Some(p4::CounterData::default()),
                }),
            ),
        ],
        ..Default::default()
    }
}

fn write_pre_registers_profiles() -> p4::WriteRequest {
    use entity::Entity as E;
    use p4::replica::PortKind;
    use update::Type as T;
    let replica = |port: PortKind, instance: u32| p4::Replica {
        port_kind: Some(port),
        instance,
    };
    let pre = |entry: p4::packet_replication_engine_entry::Type| {
        E::PacketReplicationEngineEntry(p4::PacketReplicationEngineEntry {
            r#type: Some(entry),
        })
    };
    p4::WriteRequest {
        device_id: 1,
        election_id: Some(1u128.into()),
        updates: vec![
            upd(
                T::Insert,
                pre(
                    p4::packet_replication_engine_entry::Type::CloneSessionEntry(
                        p4::CloneSessionEntry {
                            session_id: 100,
                            replicas: vec![
                                replica(PortKind::Port(vec![0xff]), 1),
                                replica(PortKind::EgressPort(3), 0),
                                replica(PortKind::Port(vec![1, 0]), 0),
                            ],
                            class_of_service: 2,
                            packet_length_bytes: 128,
                        },
                    ),
                ),
            ),
            upd(
                T::Insert,
                pre(
                    p4::packet_replication_engine_entry::Type::MulticastGroupEntry(
                        p4::MulticastGroupEntry {
                            multicast_group_id: 1,
                            replicas: vec![
                                replica(PortKind::Port(vec![1]), 0),
                                replica(PortKind::Port(vec![2]), 1),
                            ],
                            metadata: b"grp".to_vec(),
                        },
                    ),
                ),
            ),
            upd(
                T::Modify,
                E::RegisterEntry(p4::RegisterEntry {
                    register_id: REGISTER,
                    index: index(5),
                    data: Some(p4::P4Data {
                        data: Some(p4_data::Data::Bitstring(vec![0x12, 0x34])),
                    }),
                }),
            ),
            upd(
                T::Insert,
                E::ActionProfileMember(p4::ActionProfileMember {
                    action_profile_id: PROFILE,
                    member_id: 7,
                    action: Some(action(ACTION, &[(1, &[1])])),
                }),
            ),
            upd(
                T::Insert,
                E::ActionProfileGroup(p4::ActionProfileGroup {
                    action_profile_id: PROFILE,
                    group_id: 8,
                    members: vec![p4::action_profile_group::Member {
                        member_id: 7,
                        weight: 2,
                        watch_kind: Some(p4::action_profile_group::member::WatchKind::WatchPort(
                            vec![3],
                        )),
                    }],
                    max_size: 4,
                }),
            ),
            upd(
                T::Insert,
                E::DigestEntry(p4::DigestEntry {
                    digest_id: DIGEST,
                    config: Some(p4::digest_entry::Config {
                        max_timeout_ns: 1000,
                        max_list_size: 10,
                        ack_timeout_ns: 5000,
                    }),
                }),
            ),
            upd(
                T::Modify,
                E::ValueSetEntry(p4::ValueSetEntry {
                    value_set_id: VALUE_SET,
                    members: vec![p4::ValueSetMember {
                        r#match: vec![exact(1, &[8, 0])],
                    }],
                }),
            ),
        ],
        ..Default::default()
    }
}

fn read_request() -> p4::ReadRequest {
    use entity::Entity as E;
    let e = |entity: E| Entity {
        entity: Some(entity),
    };
    p4::ReadRequest {
        device_id: 1,
        role: "fairshare".into(),
        entities: vec![
            e(E::TableEntry(p4::TableEntry::default())),
            e(E::TableEntry(p4::TableEntry {
                table_id: TABLE,
                ..Default::default()
            })),
            e(E::MeterEntry(p4::MeterEntry {
                meter_id: METER,
                ..Default::default()
            })),
            e(E::CounterEntry(p4::CounterEntry::default())),
            e(E::DirectMeterEntry(p4::DirectMeterEntry {
                table_entry: Some(p4::TableEntry {
                    table_id: TABLE + 1,
                    ..Default::default()
                }),
                ..Default::default()
            })),
            e(E::DirectCounterEntry(p4::DirectCounterEntry {
                table_entry: Some(p4::TableEntry::default()),
                data: None,
            })),
            e(E::RegisterEntry(p4::RegisterEntry {
                register_id: REGISTER,
                index: index(0),
                data: None,
            })),
            e(E::PacketReplicationEngineEntry(
                p4::PacketReplicationEngineEntry {
                    r#type: Some(
                        p4::packet_replication_engine_entry::Type::CloneSessionEntry(
                            p4::CloneSessionEntry::default(),
                        ),
                    ),
                },
            )),
        ],
    }
}

fn read_response() -> p4::ReadResponse {
    use entity::Entity as E;
    let e = |entity: E| Entity {
        entity: Some(entity),
    };
    let counts = |byte_count: i64, packet_count: i64| {
        Some(p4::CounterData {
            byte_count,
            packet_count,
        })
    };
    let mut entry = table_entry();
    entry.is_const = true;
    entry.time_since_last_hit = Some(p4::table_entry::IdleTimeout { elapsed_ns: 42 });
    entry.counter_data = counts(64, 1);
    p4::ReadResponse {
        entities: vec![
            e(E::TableEntry(entry)),
            e(E::MeterEntry(p4::MeterEntry {
                meter_id: METER,
                index: index(2),
                config: Some(meter_config()),
                counter_data: Some(p4::MeterCounterData {
                    green: counts(0, 5),
                    yellow: counts(0, 2),
                    red: counts(100, 0),
                }),
            })),
            e(E::DirectMeterEntry(p4::DirectMeterEntry {
                table_entry: Some(p4::TableEntry {
                    table_id: TABLE + 1,
                    ..Default::default()
                }),
                config: None,
                counter_data: Some(p4::MeterCounterData {
                    green: counts(1, 0),
                    ..Default::default()
                }),
            })),
            e(E::CounterEntry(p4::CounterEntry {
                counter_id: COUNTER,
                index: index(0),
                data: Some(p4::CounterData::default()),
            })),
            e(E::RegisterEntry(p4::RegisterEntry {
                register_id: REGISTER,
                index: index(0),
                data: Some(p4::P4Data {
                    data: Some(p4_data::Data::Bitstring(vec![0])),
                }),
            })),
        ],
    }
}

fn stream_request(update: p4::stream_message_request::Update) -> p4::StreamMessageRequest {
    p4::StreamMessageRequest {
        update: Some(update),
    }
}

fn stream_response(update: p4::stream_message_response::Update) -> p4::StreamMessageResponse {
    p4::StreamMessageResponse {
        update: Some(update),
    }
}

fn metadata(metadata_id: u32, value: &[u8]) -> p4::PacketMetadata {
    p4::PacketMetadata {
        metadata_id,
        value: value.to_vec(),
    }
}

fn status(code: Code, message: &str) -> Option<Status> {
    Some(Status {
        code: code as i32,
        message: message.into(),
        details: Vec::new(),
    })
}

fn data(data: p4_data::Data) -> p4::P4Data {
    p4::P4Data { data: Some(data) }
}

fn stream_cases() -> Vec<Case> {
    use p4::stream_message_request::Update as Req;
    use p4::stream_message_response::Update as Res;
    vec![
        case(
            "stream_arbitration",
            stream_request(Req::Arbitration(p4::MasterArbitrationUpdate {
                device_id: 0,
                role: Some(p4::Role {
                    name: "fairshare".into(),
                    ..Default::default()
                }),
                election_id: Some(((1u128 << 64) | 2).into()),
                status: None,
            })),
        ),
        case(
            "stream_arbitration_default_role",
            stream_request(Req::Arbitration(p4::MasterArbitrationUpdate {
                device_id: 3,
                election_id: Some(1u128.into()),
                ..Default::default()
            })),
        ),
        case(
            "stream_packet_out",
            stream_request(Req::Packet(p4::PacketOut {
                payload: (0u8..64).collect(),
                metadata: vec![metadata(1, &[1, 0]), metadata(2, &[0])],
            })),
        ),
        case(
            "stream_digest_ack",
            stream_request(Req::DigestAck(p4::DigestListAck {
                digest_id: DIGEST,
                list_id: 9,
            })),
        ),
        case(
            "stream_primary",
            stream_response(Res::Arbitration(p4::MasterArbitrationUpdate {
                device_id: 0,
                role: None,
                election_id: Some(((1u128 << 64) | 2).into()),
                status: status(Code::Ok, "primary"),
            })),
        ),
        case(
            "stream_backup",
            stream_response(Res::Arbitration(p4::MasterArbitrationUpdate {
                device_id: 0,
                role: Some(p4::Role {
                    name: "fairshare".into(),
                    ..Default::default()
                }),
                election_id: Some(9u128.into()),
                status: status(Code::AlreadyExists, "a primary is connected"),
            })),
        ),
        case(
            "stream_packet_in",
            stream_response(Res::Packet(p4::PacketIn {
                payload: [&[0x45u8, 0, 0, 0x14][..], &[0u8; 16]].concat(),
                metadata: vec![metadata(1, &[3])],
            })),
        ),
        case(
            "stream_error",
            stream_response(Res::Error(p4::StreamError {
                canonical_code: Code::InvalidArgument as i32,
                message: "packet_out: metadata 2 missing".into(),
                details: Some(p4::stream_error::Details::PacketOut(p4::PacketOutError {
                    packet_out: Some(p4::PacketOut {
                        payload: vec![1, 2],
                        metadata: Vec::new(),
                    }),
                })),
                ..Default::default()
            })),
        ),
        case(
            "stream_digest",
            stream_response(Res::Digest(p4::DigestList {
                digest_id: DIGEST,
                list_id: 9,
                timestamp: 1_700_000_000_000_000_000,
                data: vec![data(p4_data::Data::Struct(p4::P4StructLike {
                    members: vec![
                        data(p4_data::Data::Bitstring(vec![0x0a, 0, 0, 1])),
                        data(p4_data::Data::Bool(true)),
                        data(p4_data::Data::Enum("RED".into())),
                        data(p4_data::Data::Header(p4::P4Header {
                            is_valid: true,
                            bitstrings: vec![vec![1], vec![2]],
                        })),
                        data(p4_data::Data::Varbit(p4::P4Varbit {
                            bitstring: vec![1],
                            bitwidth: 8,
                        })),
                    ],
                }))],
            })),
        ),
        case(
            "stream_idle_timeout",
            stream_response(Res::IdleTimeoutNotification(p4::IdleTimeoutNotification {
                table_entry: vec![p4::TableEntry {
                    table_id: TABLE,
                    idle_timeout_ns: 5,
                    ..Default::default()
                }],
                timestamp: 77,
            })),
        ),
    ]
}

/// Built through the crate's own helper, so that what a server sends is
/// what the official bindings produce.
fn write_error_status() -> Status {
    let error = |code: Code, message: &str| p4::Error {
        canonical_code: code as i32,
        message: message.into(),
        ..Default::default()
    };
    let errors = [
        error(Code::Ok, ""),
        error(Code::AlreadyExists, "entry exists"),
        error(Code::Ok, ""),
    ];
    let grpc = fairshare_p4rt::status::write_status("1 of 3 updates failed", &errors);
    assert_eq!(
        fairshare_p4rt::status::write_errors(&grpc).as_deref(),
        Ok(&errors[..])
    );
    Status::decode(grpc.details()).expect("write_status puts a google.rpc.Status in the details")
}

fn pipeline_cases(p4info: &Path, device_config: &Path) -> anyhow::Result<Vec<Case>> {
    let info = text::parse_p4info(&std::fs::read_to_string(p4info)?)?;
    let config = |with_device_config: bool| p4::ForwardingPipelineConfig {
        p4info: Some(info.clone()),
        p4_device_config: if with_device_config {
            std::fs::read(device_config).unwrap_or_default()
        } else {
            Vec::new()
        },
        cookie: Some(p4::forwarding_pipeline_config::Cookie { cookie: 0xfa12 }),
    };
    Ok(vec![
        case(
            "set_pipeline",
            p4::SetForwardingPipelineConfigRequest {
                device_id: 1,
                election_id: Some(10u128.into()),
                action: p4::set_forwarding_pipeline_config_request::Action::VerifyAndCommit as i32,
                config: Some(config(true)),
                ..Default::default()
            },
        ),
        case(
            "get_pipeline_response",
            p4::GetForwardingPipelineConfigResponse {
                config: Some(config(false)),
            },
        ),
    ])
}

fn all_cases(pipeline: Option<(&Path, &Path)>) -> anyhow::Result<Vec<Case>> {
    let mut cases = vec![
        case("write_tables", write_tables()),
        case("write_meters_counters", write_meters_counters()),
        case(
            "write_pre_registers_profiles",
            write_pre_registers_profiles(),
        ),
        case("read_request", read_request()),
        case("read_response", read_response()),
        case("capabilities_request", p4::CapabilitiesRequest {}),
        case(
            "capabilities_response",
            p4::CapabilitiesResponse {
                p4runtime_api_version: fairshare_p4rt::P4RUNTIME_VERSION.into(),
            },
        ),
        case(
            "get_pipeline_request",
            p4::GetForwardingPipelineConfigRequest {
                device_id: 1,
                response_type:
                    p4::get_forwarding_pipeline_config_request::ResponseType::P4infoAndCookie as i32,
            },
        ),
        case("write_error_status", write_error_status()),
    ];
    cases.extend(stream_cases());
    if let Some((p4info, device_config)) = pipeline {
        cases.extend(pipeline_cases(p4info, device_config)?);
    }
    Ok(cases)
}

fn p4info_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut push_matching = |dir: PathBuf, suffix: &str| {
        if let Ok(entries) = std::fs::read_dir(&dir) {
            let mut found: Vec<PathBuf> =
                entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
            found.sort();
            files.extend(
                found
                    .into_iter()
                    .filter(|p| p.to_string_lossy().ends_with(suffix)),
            );
        }
    };
    for example in ["single", "metro"] {
        for pipeline in ["bmv2-cpu255", "bmv2-cpu64"] {
            push_matching(
                Path::new(WORKSPACE)
                    .join(format!("examples/expected/{example}/pipelines/{pipeline}")),
                ".p4info.txtpb",
            );
        }
    }
    if let Ok(cases) = std::fs::read_dir(Path::new(WORKSPACE).join("../shared/conformance/cases")) {
        let mut dirs: Vec<PathBuf> = cases.filter_map(|e| e.ok().map(|e| e.path())).collect();
        dirs.sort();
        for dir in dirs {
            push_matching(dir, ".p4info.txtpb");
        }
    }
    files
}

fn hex(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "-".into();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> anyhow::Result<Vec<u8>> {
    if text == "-" {
        return Ok(Vec::new());
    }
    anyhow::ensure!(text.len() % 2 == 0, "odd hex length");
    (0..text.len())
        .step_by(2)
        .map(|i| Ok(u8::from_str_radix(&text[i..i + 2], 16)?))
        .collect()
}

#[test]
fn messages_match_the_official_python_bindings_byte_for_byte() -> anyhow::Result<()> {
    let Some(python) = python() else {
        let reason =
            "no Python with the p4runtime package (set FAIRSHARE_PYTHON or create target/venv)";
        anyhow::ensure!(
            std::env::var("FAIRSHARE_REQUIRE_PEERS").as_deref() != Ok("1"),
            "{reason}, and FAIRSHARE_REQUIRE_PEERS=1"
        );
        println!("skipped: {reason}");
        return Ok(());
    };

    let golden = Path::new(WORKSPACE).join("examples/expected/single/pipelines/bmv2-cpu255");
    let (p4info, device_config) = (
        golden.join("fairshare.p4info.txtpb"),
        golden.join("fairshare.json"),
    );
    let pipeline = (p4info.is_file() && device_config.is_file())
        .then_some((p4info.as_path(), device_config.as_path()));
    anyhow::ensure!(
        pipeline.is_some(),
        "the golden pipeline of examples/single is missing"
    );
    let cases = all_cases(pipeline)?;

    let mut infos: BTreeMap<String, P4Info> = BTreeMap::new();
    for file in p4info_files() {
        infos.insert(
            file.to_string_lossy().into_owned(),
            text::parse_p4info(&std::fs::read_to_string(&file)?)?,
        );
    }

    let mut command = Command::new(&python);
    command.arg(SCRIPT);
    if let Some((p4info, device_config)) = pipeline {
        command.arg(p4info).arg(device_config);
    }
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut stdin = child
        .stdin
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdin"))?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let requests: Vec<String> = cases
        .iter()
        .map(|c| format!("case {} {}\n", c.name, hex(&c.bytes)))
        .chain(
            infos
                .iter()
                .map(|(path, info)| format!("p4info {path} {}\n", hex(&info.encode_to_vec()))),
        )
        .collect();
    let writer = std::thread::spawn(move || -> std::io::Result<()> {
        for request in requests {
            stdin.write_all(request.as_bytes())?;
        }
        Ok(())
    });
    let mut answers = BTreeMap::new();
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        let parts: Vec<&str> = line.split_whitespace().collect();
        anyhow::ensure!(
            parts.len() == 3,
            "unexpected answer from the Python side: {line}"
        );
        answers.insert(parts[0].to_owned(), (unhex(parts[1])?, parts[2].to_owned()));
    }
    writer
        .join()
        .map_err(|_| anyhow::anyhow!("writer thread panicked"))??;
    anyhow::ensure!(child.wait()?.success(), "the Python side failed");

    let mut failures = Vec::new();
    for case in &cases {
        match answers.get(&case.name) {
            None => failures.push(format!("{}: no answer", case.name)),
            Some((_, verdict)) if verdict != "ok" => {
                failures.push(format!("{}: official bindings say {verdict}", case.name))
            }
            Some((theirs, _)) if *theirs != case.bytes => failures.push(format!(
                "{}: bytes differ\n  ours   {}\n  theirs {}",
                case.name,
                hex(&case.bytes),
                hex(theirs)
            )),
            Some((theirs, _)) if !(case.decodes_to_ours)(theirs) => failures.push(format!(
                "{}: their bytes do not decode to our message",
                case.name
            )),
            Some(_) => {}
        }
    }
    for (path, info) in &infos {
        let ours = info.encode_to_vec();
        match answers.get(path) {
            Some((theirs, verdict))
                if verdict == "ok"
                    && *theirs == ours
                    && P4Info::decode(theirs.as_slice()).ok().as_ref() == Some(info) => {}
            other => failures.push(format!("{path}: {:?}", other.map(|(_, v)| v))),
        }
    }
    anyhow::ensure!(
        failures.is_empty(),
        "{} of {} messages differ:\n{}",
        failures.len(),
        cases.len() + infos.len(),
        failures.join("\n")
    );
    println!(
        "{} messages and {} P4Info files identical to the official bindings",
        cases.len(),
        infos.len()
    );
    Ok(())
}
