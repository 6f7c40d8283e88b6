//! Sample messages shared by the integration tests and the bench: every
//! message type, and together every object in its IPv4 and IPv6 forms.
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use fairshare_rsvp::frame::{FrameHeader, MacAddr};
use fairshare_rsvp::*;

pub fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

pub fn v6(last: u16) -> IpAddr {
    IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, last))
}

pub fn session() -> Session {
    Session {
        dest: v4(198, 51, 100, 7),
        protocol: 17,
        flags: 1,
        port: 5004,
    }
}

pub fn bucket(rate: f32) -> TokenBucket {
    TokenBucket {
        rate,
        size: 12_000.0,
        peak: 3.0e6,
        min_policed_unit: 64,
        max_packet_size: 1500,
    }
}

pub fn cl(rate: f32) -> FlowSpec {
    FlowSpec::ControlledLoad {
        tspec: bucket(rate),
    }
}

pub fn guaranteed(rate: f32) -> FlowSpec {
    FlowSpec::Guaranteed {
        tspec: bucket(rate),
        rspec: Rspec {
            rate: rate * 1.5,
            slack: 250,
        },
    }
}

pub fn filter(last: u8, port: u16) -> FilterSpec {
    FilterSpec::Port {
        addr: v4(10, 1, 0, last),
        port,
    }
}

/// An RFC 2747 shaped INTEGRITY body: flags, reserved, key id (6),
/// sequence number (8), a 16-byte digest.
pub fn integrity() -> Opaque {
    let mut body = vec![0u8, 0, 0, 0, 0, 0, 0, 7];
    body.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 42]);
    body.extend((0..16).map(|i| 0xa0 + i as u8));
    Opaque { c_type: 1, body }
}

pub fn policy() -> Opaque {
    Opaque {
        c_type: 1,
        body: vec![0, 8, 0, 0, 0, 0, 0, 0],
    }
}

/// The typical reservation of the protocol: FF, one flow descriptor.
pub fn ff_resv() -> Message {
    Message::new(
        64,
        Body::Resv(Resv {
            session: session(),
            hop: Hop {
                addr: v4(10, 2, 0, 1),
                lih: 7,
            },
            time_values: TimeValues { refresh_ms: 30_000 },
            resv_confirm: None,
            scope: None,
            policy_data: vec![],
            style_flags: 0,
            flows: FlowDescriptors::FF {
                descriptors: vec![FfDescriptor {
                    flowspec: Some(cl(1.25e6)),
                    filter: filter(11, 4000),
                }],
            },
        }),
    )
}

/// Named samples covering every message type and every object.
pub fn samples() -> Vec<(&'static str, Message)> {
    let hop4 = Hop {
        addr: v4(10, 1, 0, 1),
        lih: 1,
    };
    let hop6 = Hop {
        addr: v6(1),
        lih: 0x0102_0304,
    };
    let sender = SenderDescriptor {
        template: filter(11, 4000),
        tspec: bucket(2.5e6),
        adspec: Some(Adspec::general(3, 1.25e9, 120, 1500)),
    };
    let error = |code, value| ErrorSpec {
        node: v4(10, 9, 0, 1),
        flags: 0x02,
        code,
        value,
    };
    let mut path_integrity = Message::new(
        64,
        Body::Path(Path {
            session: session(),
            hop: hop4,
            time_values: TimeValues { refresh_ms: 30_000 },
            policy_data: vec![policy()],
            sender: Some(sender.clone()),
        }),
    );
    path_integrity.integrity = Some(integrity());
    vec![
        ("path-ipv4", path_integrity),
        (
            "path-ipv6",
            Message::new(
                1,
                Body::Path(Path {
                    session: Session {
                        dest: v6(7),
                        protocol: 6,
                        flags: 0,
                        port: 443,
                    },
                    hop: hop6,
                    time_values: TimeValues { refresh_ms: 45_000 },
                    policy_data: vec![],
                    sender: Some(SenderDescriptor {
                        template: FilterSpec::Port {
                            addr: v6(11),
                            port: 8443,
                        },
                        tspec: TokenBucket {
                            peak: f32::INFINITY,
                            ..bucket(5.0e5)
                        },
                        adspec: None,
                    }),
                }),
            ),
        ),
        ("resv-ff", ff_resv()),
        (
            "resv-ff-multi",
            Message::new(
                63,
                Body::Resv(Resv {
                    session: session(),
                    hop: hop4,
                    time_values: TimeValues { refresh_ms: 30_000 },
                    resv_confirm: Some(ResvConfirm {
                        receiver: v4(198, 51, 100, 9),
                    }),
                    scope: Some(Scope::Ipv4(vec![
                        Ipv4Addr::new(10, 1, 0, 11),
                        Ipv4Addr::new(10, 1, 0, 12),
                    ])),
                    policy_data: vec![policy()],
                    style_flags: 0,
                    flows: FlowDescriptors::FF {
                        descriptors: vec![
                            FfDescriptor {
                                flowspec: Some(guaranteed(1.0e6)),
                                filter: filter(11, 4000),
                            },
                            FfDescriptor {
                                flowspec: Some(cl(2.0e6)),
                                filter: filter(12, 4001),
                            },
                        ],
                    },
                }),
            ),
        ),
        (
            "resv-wf",
            Message::new(
                64,
                Body::Resv(Resv {
                    session: session(),
                    hop: hop4,
                    time_values: TimeValues { refresh_ms: 30_000 },
                    resv_confirm: None,
                    scope: Some(Scope::Ipv6(vec![Ipv6Addr::new(
                        0x2001, 0xdb8, 0, 0, 0, 0, 0, 11,
                    )])),
                    policy_data: vec![],
                    style_flags: 0,
                    flows: FlowDescriptors::WF {
                        flowspec: Some(guaranteed(4.0e6)),
                    },
                }),
            ),
        ),
        (
            "resv-se",
            Message::new(
                64,
                Body::Resv(Resv {
                    session: session(),
                    hop: hop4,
                    time_values: TimeValues { refresh_ms: 30_000 },
                    resv_confirm: None,
                    scope: None,
                    policy_data: vec![],
                    style_flags: 0,
                    flows: FlowDescriptors::SE {
                        flowspec: Some(cl(3.0e6)),
                        filters: vec![
                            filter(11, 4000),
                            FilterSpec::FlowLabel {
                                addr: Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 12),
                                flow_label: 0x000a_bcde,
                            },
                        ],
                    },
                }),
            ),
        ),
        (
            "patherr",
            Message::new(
                64,
                Body::PathErr(PathErr {
                    session: session(),
                    error: error(
                        error_code::ADMISSION_CONTROL_FAILURE,
                        error_code::admission::BANDWIDTH_UNAVAILABLE,
                    ),
                    policy_data: vec![],
                    sender: Some(SenderDescriptor {
                        adspec: None,
                        ..sender.clone()
                    }),
                }),
            ),
        ),
        (
            "resverr",
            Message::new(
                64,
                Body::ResvErr(ResvErr {
                    session: session(),
                    hop: hop4,
                    error: ErrorSpec {
                        node: v6(9),
                        flags: 0x01,
                        code: error_code::TRAFFIC_CONTROL_ERROR,
                        value: error_code::traffic_control::BAD_FLOWSPEC,
                    },
                    scope: None,
                    policy_data: vec![],
                    style_flags: 0,
                    flows: FlowDescriptors::FF {
                        descriptors: vec![FfDescriptor {
                            flowspec: Some(cl(9.0e6)),
                            filter: filter(11, 4000),
                        }],
                    },
                }),
            ),
        ),
        (
            "pathtear",
            Message::new(
                64,
                Body::PathTear(PathTear {
                    session: session(),
                    hop: hop4,
                    sender: Some(SenderDescriptor {
                        adspec: None,
                        ..sender.clone()
                    }),
                }),
            ),
        ),
        (
            "resvtear",
            Message::new(
                64,
                Body::ResvTear(ResvTear {
                    session: session(),
                    hop: hop4,
                    scope: None,
                    style_flags: 0,
                    flows: FlowDescriptors::FF {
                        descriptors: vec![FfDescriptor {
                            flowspec: None,
                            filter: filter(11, 4000),
                        }],
                    },
                }),
            ),
        ),
        (
            "resvconf",
            Message::new(
                64,
                Body::ResvConf(ResvConf {
                    session: session(),
                    error: error(error_code::CONFIRMATION, 0),
                    resv_confirm: ResvConfirm {
                        receiver: v4(198, 51, 100, 9),
                    },
                    style_flags: 0,
                    flows: FlowDescriptors::FF {
                        descriptors: vec![FfDescriptor {
                            flowspec: Some(cl(1.25e6)),
                            filter: filter(11, 4000),
                        }],
                    },
                }),
            ),
        ),
    ]
}

/// A frame header for a sample: from the sender side for Path-like
/// messages, from the receiver side for Resv-like ones.
pub fn frame_header(m: &Message) -> FrameHeader {
    let (src, dst) = match m.msg_type() {
        MsgType::Path | MsgType::PathTear | MsgType::ResvErr => {
            (Ipv4Addr::new(10, 1, 0, 1), Ipv4Addr::new(198, 51, 100, 7))
        }
        _ => (Ipv4Addr::new(10, 2, 0, 1), Ipv4Addr::new(10, 1, 0, 1)),
    };
    FrameHeader::for_message(
        MacAddr([2, 0, 0, 0, 0, 1]),
        MacAddr([2, 0, 0, 0, 0, 2]),
        src,
        dst,
        m,
    )
}

/// A classic pcap file (microsecond timestamps, Ethernet) of `frames`.
pub fn pcap(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&65535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    for (i, f) in frames.iter().enumerate() {
        out.extend_from_slice(&(1_700_000_000u32 + i as u32).to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(f);
    }
    out
}

/// Where the workspace keeps the Python peer.
pub fn python() -> std::path::PathBuf {
    std::env::var_os("FAIRSHARE_PYTHON")
        .map(Into::into)
        .unwrap_or_else(|| {
            concat!(env!("CARGO_MANIFEST_DIR"), "/../../target/venv/bin/python").into()
        })
}

/// Prints why a peer test is skipped, or panics when peers are required.
pub fn skip(reason: &str) {
    if std::env::var("FAIRSHARE_REQUIRE_PEERS").as_deref() == Ok("1") {
        panic!("peer required (FAIRSHARE_REQUIRE_PEERS=1) but {reason}");
    }
    println!("skipped: {reason}");
}
