//! Property tests: parse(emit(m)) == m for random valid messages, and
//! emit(parse(b)) == b for the bytes of valid messages.

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use fairshare_rsvp::*;
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;

fn addr() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(|a| IpAddr::V4(Ipv4Addr::from(a))),
        any::<[u8; 16]>().prop_map(|a| IpAddr::V6(Ipv6Addr::from(a))),
    ]
}

/// Non-negative floats as they come on the wire: any finite bit pattern
/// with the sign clear, or infinity.
fn rate() -> impl Strategy<Value = f32> {
    prop_oneof![
        (0u32..0x7f80_0000).prop_map(f32::from_bits),
        Just(f32::INFINITY),
        (1u32..10_000_000).prop_map(|v| v as f32),
    ]
}

fn bucket() -> impl Strategy<Value = TokenBucket> {
    (rate(), rate(), rate(), any::<u32>(), any::<u32>()).prop_map(|(r, b, p, m, mm)| TokenBucket {
        rate: r,
        size: b,
        peak: p,
        min_policed_unit: m,
        max_packet_size: mm,
    })
}

fn flowspec() -> impl Strategy<Value = FlowSpec> {
    prop_oneof![
        bucket().prop_map(|tspec| FlowSpec::ControlledLoad { tspec }),
        (bucket(), rate(), any::<u32>()).prop_map(|(tspec, rate, slack)| FlowSpec::Guaranteed {
            tspec,
            rspec: Rspec { rate, slack }
        }),
    ]
}

fn filter() -> impl Strategy<Value = FilterSpec> {
    prop_oneof![
        3 => (addr(), any::<u16>()).prop_map(|(addr, port)| FilterSpec::Port { addr, port }),
        1 => (any::<[u8; 16]>(), 0u32..0x0100_0000).prop_map(|(a, flow_label)| FilterSpec::FlowLabel {
            addr: Ipv6Addr::from(a),
            flow_label
        }),
    ]
}

fn session() -> impl Strategy<Value = Session> {
    (addr(), any::<u8>(), any::<u8>(), any::<u16>()).prop_map(|(dest, protocol, flags, port)| {
        Session {
            dest,
            protocol,
            flags,
            port,
        }
    })
}

fn hop() -> impl Strategy<Value = Hop> {
    (addr(), any::<u32>()).prop_map(|(addr, lih)| Hop { addr, lih })
}

fn time() -> impl Strategy<Value = TimeValues> {
    any::<u32>().prop_map(|refresh_ms| TimeValues { refresh_ms })
}

fn error_spec() -> impl Strategy<Value = ErrorSpec> {
    (addr(), any::<u8>(), any::<u8>(), any::<u16>()).prop_map(|(node, flags, code, value)| {
        ErrorSpec {
            node,
            flags,
            code,
            value,
        }
    })
}

fn opaque() -> impl Strategy<Value = Opaque> {
    (any::<u8>(), vec(any::<[u8; 4]>(), 0..4)).prop_map(|(c_type, words)| Opaque {
        c_type,
        body: words.concat(),
    })
}

fn scope() -> impl Strategy<Value = Scope> {
    prop_oneof![
        vec(any::<[u8; 4]>().prop_map(Ipv4Addr::from), 0..4).prop_map(Scope::Ipv4),
        vec(any::<[u8; 16]>().prop_map(Ipv6Addr::from), 0..3).prop_map(Scope::Ipv6),
    ]
}

fn adspec() -> impl Strategy<Value = Adspec> {
    let param = (any::<u8>(), any::<u8>(), vec(any::<u32>(), 0..3))
        .prop_map(|(id, flags, words)| AdspecParam { id, flags, words });
    let fragment =
        (any::<u8>(), any::<bool>(), vec(param, 0..4)).prop_map(|(service, break_bit, params)| {
            AdspecFragment {
                service,
                break_bit,
                params,
            }
        });
    vec(fragment, 0..4).prop_map(|fragments| Adspec { fragments })
}

fn sender() -> impl Strategy<Value = SenderDescriptor> {
    (filter(), bucket(), option::of(adspec())).prop_map(|(template, tspec, adspec)| {
        SenderDescriptor {
            template,
            tspec,
            adspec,
        }
    })
}

/// Flow descriptor lists that satisfy the rules of `msg`.
fn flows(msg: MsgType) -> BoxedStrategy<FlowDescriptors> {
    let ff = |first_needs_flowspec: bool, max: usize| {
        vec((option::of(flowspec()), filter()), 1..=max).prop_map(move |d| {
            let mut descriptors: Vec<FfDescriptor> = d
                .into_iter()
                .map(|(flowspec, filter)| FfDescriptor { flowspec, filter })
                .collect();
            if first_needs_flowspec && descriptors[0].flowspec.is_none() {
                descriptors[0].flowspec = Some(FlowSpec::ControlledLoad {
                    tspec: TokenBucket {
                        rate: 1.0,
                        size: 1.0,
                        peak: 1.0,
                        min_policed_unit: 1,
                        max_packet_size: 1,
                    },
                });
            }
            FlowDescriptors::FF { descriptors }
        })
    };
    match msg {
        MsgType::Resv | MsgType::ResvConf => prop_oneof![
            flowspec().prop_map(|f| FlowDescriptors::WF { flowspec: Some(f) }),
            ff(true, 3),
            (flowspec(), vec(filter(), 1..4)).prop_map(|(f, filters)| FlowDescriptors::SE {
                flowspec: Some(f),
                filters
            }),
        ]
        .boxed(),
        MsgType::ResvTear => prop_oneof![
            option::of(flowspec()).prop_map(|flowspec| FlowDescriptors::WF { flowspec }),
            ff(false, 3),
            (option::of(flowspec()), vec(filter(), 1..4))
                .prop_map(|(flowspec, filters)| FlowDescriptors::SE { flowspec, filters }),
        ]
        .boxed(),
        _ => prop_oneof![
            option::of(flowspec()).prop_map(|flowspec| FlowDescriptors::WF { flowspec }),
            option::of((flowspec(), filter())).prop_map(|d| FlowDescriptors::FF {
                descriptors: d
                    .map(|(f, filter)| FfDescriptor {
                        flowspec: Some(f),
                        filter
                    })
                    .into_iter()
                    .collect()
            }),
            option::of((flowspec(), vec(filter(), 1..3))).prop_map(|d| match d {
                Some((f, filters)) => FlowDescriptors::SE {
                    flowspec: Some(f),
                    filters
                },
                None => FlowDescriptors::SE {
                    flowspec: None,
                    filters: vec![]
                },
            }),
        ]
        .boxed(),
    }
}

fn body() -> impl Strategy<Value = Body> {
    let policies = || vec(opaque(), 0..3);
    prop_oneof![
        (session(), hop(), time(), policies(), option::of(sender())).prop_map(
            |(session, hop, time_values, policy_data, sender)| Body::Path(Path {
                session,
                hop,
                time_values,
                policy_data,
                sender
            })
        ),
        (
            (session(), hop(), time()),
            option::of(addr().prop_map(|receiver| ResvConfirm { receiver })),
            option::of(scope()),
            policies(),
            any::<u8>(),
            flows(MsgType::Resv)
        )
            .prop_map(
                |(
                    (session, hop, time_values),
                    resv_confirm,
                    scope,
                    policy_data,
                    style_flags,
                    flows,
                )| {
                    Body::Resv(Resv {
                        session,
                        hop,
                        time_values,
                        resv_confirm,
                        scope,
                        policy_data,
                        style_flags,
                        flows,
                    })
                }
            ),
        (session(), error_spec(), policies(), option::of(sender())).prop_map(
            |(session, error, policy_data, sender)| Body::PathErr(PathErr {
                session,
                error,
                policy_data,
                sender
            })
        ),
        (
            (session(), hop(), error_spec()),
            option::of(scope()),
            policies(),
            any::<u8>(),
            flows(MsgType::ResvErr)
        )
            .prop_map(
                |((session, hop, error), scope, policy_data, style_flags, flows)| {
                    Body::ResvErr(ResvErr {
                        session,
                        hop,
                        error,
                        scope,
                        policy_data,
                        style_flags,
                        flows,
                    })
                }
            ),
        (session(), hop(), option::of(sender())).prop_map(|(session, hop, sender)| {
            Body::PathTear(PathTear {
                session,
                hop,
                sender,
            })
        }),
        (
            session(),
            hop(),
            option::of(scope()),
            any::<u8>(),
            flows(MsgType::ResvTear)
        )
            .prop_map(|(session, hop, scope, style_flags, flows)| {
                Body::ResvTear(ResvTear {
                    session,
                    hop,
                    scope,
                    style_flags,
                    flows,
                })
            }),
        (
            session(),
            error_spec(),
            addr(),
            any::<u8>(),
            flows(MsgType::ResvConf)
        )
            .prop_map(|(session, error, receiver, style_flags, flows)| {
                Body::ResvConf(ResvConf {
                    session,
                    error,
                    resv_confirm: ResvConfirm { receiver },
                    style_flags,
                    flows,
                })
            }),
    ]
}

/// Extra objects: NULL or unknown classes with the top bit set, at sorted
/// positions no further than the last known object.
fn extras() -> impl Strategy<Value = Vec<(usize, u8, u8, Vec<u8>)>> {
    vec(
        (
            0usize..4,
            prop_oneof![Just(0u8), 0x80u8..=0xff],
            any::<u8>(),
            vec(any::<[u8; 4]>(), 0..3).prop_map(|w| w.concat()),
        ),
        0..3,
    )
}

fn message() -> impl Strategy<Value = Message> {
    (
        0u8..16,
        any::<u8>(),
        any::<bool>(),
        option::of(opaque()),
        body(),
        extras(),
    )
        .prop_map(
            |(flags, send_ttl, zero_checksum, integrity, body, extras)| {
                let mut m = Message::new(send_ttl, body);
                m.flags = flags;
                m.zero_checksum = zero_checksum;
                m.integrity = integrity;
                let mut extra: Vec<ExtraObject> = extras
                    .into_iter()
                    .map(|(position, class_num, c_type, body)| ExtraObject {
                        position,
                        class_num,
                        c_type,
                        body,
                    })
                    .collect();
                // Positions past the last known object mean "at the end"; keep
                // them in range so that the parse gives back the same numbers.
                let known = MessageView::new_checked(&m.to_bytes().expect("valid model"))
                    .expect("view")
                    .objects()
                    .count();
                for e in &mut extra {
                    e.position = e.position.min(known);
                }
                extra.sort_by_key(|e| e.position);
                m.extra = extra;
                m
            },
        )
}

/// Runs a property on a thread with a large stack: the strategy for a whole
/// message nests deeply, which debug builds pay for in stack frames.
fn run_property<S: Strategy + 'static>(
    make: fn() -> S,
    test: fn(S::Value) -> Result<(), TestCaseError>,
) where
    S::Value: std::fmt::Debug + 'static,
{
    std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(move || {
            let config = ProptestConfig {
                cases: 2000,
                failure_persistence: None,
                ..ProptestConfig::default()
            };
            let mut runner = proptest::test_runner::TestRunner::new(config);
            if let Err(e) = runner.run(&make(), test) {
                panic!("{e}");
            }
        })
        .expect("spawn")
        .join()
        .expect("property holds");
}

#[test]
fn parse_of_emit_is_identity() {
    run_property(message, |m| {
        let bytes = m
            .to_bytes()
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(bytes.len(), m.buffer_len());
        let back = Message::parse_with(&bytes, ParseOptions::lenient())
            .map_err(|e| TestCaseError::fail(format!("{e}")))?;
        prop_assert_eq!(&back, &m);
        // The same bytes, emitted again from their parse.
        prop_assert_eq!(
            back.to_bytes()
                .map_err(|e| TestCaseError::fail(e.to_string()))?,
            bytes
        );
        // And the JSON form maps back to the same model.
        let json = serde_json::to_string(&m).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let from_json: Message =
            serde_json::from_str(&json).map_err(|e| TestCaseError::fail(format!("{e}: {json}")))?;
        prop_assert_eq!(from_json, m);
        Ok(())
    });
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

    /// Valid bytes from outside the model: the samples with random values
    /// written into their fields that carry no reserved bits.
    #[test]
    fn emit_of_parse_is_identity(pick in 0usize..11, ttl in any::<u8>(), flags in 0u8..16, edits in vec((any::<usize>(), any::<u32>()), 0..4)) {
        let samples = common::samples();
        let mut b = samples[pick % samples.len()].1.to_bytes().map_err(|e| TestCaseError::fail(e.to_string()))?;
        b[0] = 0x10 | flags;
        b[4] = ttl;
        // Overwrite the value word of the TIME_VALUES or RSVP_HOP LIH, wherever present.
        let targets: Vec<usize> = MessageView::new_checked(&b).map_err(|e| TestCaseError::fail(e.to_string()))?
            .objects()
            .filter_map(|o| o.ok())
            .filter(|o| matches!(o.class_num(), ClassNum::TIME_VALUES) || (o.class_num() == ClassNum::RSVP_HOP))
            .map(|o| o.offset() + o.length() - 4)
            .collect();
        for (i, v) in edits {
            if let Some(&at) = targets.get(i % targets.len().max(1)) {
                b[at..at + 4].copy_from_slice(&v.to_be_bytes());
            }
        }
        b[2] = 0;
        b[3] = 0;
        let sum = internet_checksum(&b);
        b[2..4].copy_from_slice(&sum.to_be_bytes());
        let m = Message::parse(&b).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(m.to_bytes().map_err(|e| TestCaseError::fail(e.to_string()))?, b);
    }
}
