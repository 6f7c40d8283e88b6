//! Parse and emit of the sample messages, and one test per kind of error.

mod common;

use common::*;
use fairshare_rsvp::frame::parse_frame;
use fairshare_rsvp::*;

#[test]
fn every_sample_round_trips_through_bytes_and_json() {
    for (name, m) in samples() {
        let bytes = m.to_bytes().unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(bytes.len(), m.buffer_len(), "{name}");
        let view = MessageView::new_checked(&bytes).expect(name);
        assert!(view.checksum_ok(), "{name}");
        assert_eq!(view.msg_type(), m.msg_type() as u8, "{name}");
        let back = Message::parse(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(back, m, "{name}");
        assert_eq!(back.to_bytes().expect(name), bytes, "{name}");

        let json = serde_json::to_string(&m).expect(name);
        let from_json: Message =
            serde_json::from_str(&json).unwrap_or_else(|e| panic!("{name}: {e}\n{json}"));
        assert_eq!(from_json, m, "{name}: {json}");
    }
}

#[test]
fn objects_appear_in_rfc_order() {
    let bytes = samples()[0].1.to_bytes().expect("emit");
    let classes: Vec<ClassNum> = MessageView::new_checked(&bytes)
        .expect("view")
        .objects()
        .map(|o| o.expect("object").class_num())
        .collect();
    assert_eq!(
        classes,
        [
            ClassNum::INTEGRITY,
            ClassNum::SESSION,
            ClassNum::RSVP_HOP,
            ClassNum::TIME_VALUES,
            ClassNum::POLICY_DATA,
            ClassNum::SENDER_TEMPLATE,
            ClassNum::SENDER_TSPEC,
            ClassNum::ADSPEC,
        ]
    );
}

/// A hand-assembled FF Resv, checked against the layout of RFC 2205 and
/// RFC 2210 word by word rather than against our own emitter.
#[test]
fn ff_resv_layout_matches_the_rfcs() {
    let bytes = ff_resv().to_bytes().expect("emit");
    let mut expect: Vec<u8> = vec![0x10, 2, 0, 0, 64, 0, 0, 0];
    expect.extend([0, 12, 1, 1, 198, 51, 100, 7, 17, 1, 0x13, 0x8c]); // SESSION
    expect.extend([0, 12, 3, 1, 10, 2, 0, 1, 0, 0, 0, 7]); // RSVP_HOP
    expect.extend([0, 8, 5, 1, 0, 0, 0x75, 0x30]); // TIME_VALUES 30000 ms
    expect.extend([0, 8, 8, 1, 0, 0, 0, 0x0a]); // STYLE FF
    expect.extend([0, 36, 9, 2, 0, 0, 0, 7, 5, 0, 0, 6, 127, 0, 0, 5]); // FLOWSPEC CL
    for f in [1.25e6f32, 12_000.0, 3.0e6] {
        expect.extend(f.to_bits().to_be_bytes());
    }
    expect.extend([0, 0, 0, 64, 0, 0, 5, 0xdc]);
    expect.extend([0, 12, 10, 1, 10, 1, 0, 11, 0, 0, 0x0f, 0xa0]); // FILTER_SPEC
    let len = expect.len() as u16;
    expect[6..8].copy_from_slice(&len.to_be_bytes());
    let sum = internet_checksum(&expect);
    expect[2..4].copy_from_slice(&sum.to_be_bytes());
    assert_eq!(bytes, expect);
}

fn resv_bytes() -> Vec<u8> {
    ff_resv().to_bytes().expect("emit")
}

/// Rewrites the checksum after a test edits the bytes.
fn fix(mut b: Vec<u8>) -> Vec<u8> {
    b[2] = 0;
    b[3] = 0;
    let sum = internet_checksum(&b);
    b[2..4].copy_from_slice(&sum.to_be_bytes());
    b
}

/// Inserts an object at byte `at` and fixes lengths and checksum.
fn insert(b: &[u8], at: usize, obj: &[u8]) -> Vec<u8> {
    let mut out = b[..at].to_vec();
    out.extend_from_slice(obj);
    out.extend_from_slice(&b[at..]);
    let len = out.len() as u16;
    out[6..8].copy_from_slice(&len.to_be_bytes());
    fix(out)
}

/// A Resv whose checksum computes to zero: its LIH's low half is chosen to
/// bring the sum over the rest to 0xffff.
fn resv_with_zero_sum() -> Message {
    let mut m = ff_resv();
    m.zero_checksum = true;
    for lih in 0..=u32::from(u16::MAX) {
        if let Body::Resv(r) = &mut m.body {
            r.hop.lih = lih;
        }
        if internet_checksum(&m.to_bytes().expect("emit")) == 0 {
            return m;
        }
    }
    unreachable!("a 16-bit word reaches every sum")
}

#[test]
fn a_computed_zero_checksum_is_sent_as_ffff_and_a_zero_field_stays_zero() {
    let mut m = resv_with_zero_sum();
    // No checksum transmitted: the field is zero, and the sum happens to
    // verify with it. Strict parse accepts it, and both parses keep the zero.
    let none = m.to_bytes().expect("emit");
    assert_eq!(&none[2..4], &[0, 0]);
    for opts in [ParseOptions::default(), ParseOptions::lenient()] {
        let back = Message::parse_with(&none, opts).expect("a zero field that verifies");
        assert!(back.zero_checksum, "{opts:?}");
        assert_eq!(back, m);
        assert_eq!(back.to_bytes().expect("emit"), none);
    }

    // Computed: zero would read as "not transmitted", so 0xffff goes out.
    m.zero_checksum = false;
    let sent = m.to_bytes().expect("emit");
    assert_eq!(&sent[2..4], &[0xff, 0xff]);
    assert_eq!(&sent[4..], &none[4..]);
    assert!(MessageView::new_checked(&sent).expect("view").checksum_ok());
    let back = Message::parse(&sent).expect("strict parse");
    assert!(!back.zero_checksum);
    assert_eq!(back, m);
    assert_eq!(back.to_bytes().expect("emit"), sent);
}

#[test]
fn checksum_is_verified_and_zero_is_accepted_on_request() {
    let mut b = resv_bytes();
    b[2] ^= 0x01;
    assert!(matches!(Message::parse(&b), Err(Error::Checksum { .. })));

    b[2] = 0;
    b[3] = 0;
    assert_eq!(Message::parse(&b), Err(Error::ZeroChecksum));
    let m = Message::parse_with(&b, ParseOptions::lenient()).expect("zero checksum accepted");
    assert!(m.zero_checksum);
    assert_eq!(
        m.to_bytes().expect("emit"),
        b,
        "a zero checksum is emitted as zero"
    );
}

#[test]
fn header_errors_are_typed() {
    let b = resv_bytes();
    assert!(matches!(
        Message::parse(&b[..5]),
        Err(Error::Truncated {
            need: 8,
            have: 5,
            ..
        })
    ));
    assert!(matches!(
        Message::parse(&b[..b.len() - 4]),
        Err(Error::Truncated { .. })
    ));
    let mut v = b.clone();
    v[0] = 0x20;
    assert_eq!(Message::parse(&fix(v)), Err(Error::Version { found: 2 }));
    let mut t = b.clone();
    t[1] = 9;
    assert_eq!(
        Message::parse(&fix(t)),
        Err(Error::MessageType { found: 9 })
    );
    let mut l = b.clone();
    l[7] = l[7].wrapping_sub(2);
    assert!(matches!(
        Message::parse(&fix(l)),
        Err(Error::MessageLength { .. })
    ));
}

#[test]
fn object_length_errors_name_the_object_and_offset() {
    let mut b = resv_bytes();
    // The RSVP_HOP object at offset 20: claim 10 bytes.
    b[21] = 10;
    assert_eq!(
        Message::parse(&fix(b.clone())),
        Err(Error::ObjectLength {
            class: ClassNum::RSVP_HOP,
            offset: 20,
            length: 10,
            reason: "a multiple of 4",
        })
    );
    b[21] = 8;
    assert!(matches!(
        Message::parse(&fix(b)),
        Err(Error::ObjectLength {
            class: ClassNum::RSVP_HOP,
            offset: 20,
            length: 8,
            ..
        })
    ));
}

#[test]
fn unknown_classes_follow_their_top_bits() {
    let b = resv_bytes();
    // Before STYLE (offset 40): a class-2 object must reject the message.
    let rejected = insert(&b, 40, &[0, 8, 0x02, 1, 1, 2, 3, 4]);
    let err = Message::parse(&rejected).expect_err("class 2 is rejected");
    assert_eq!(
        err,
        Error::UnknownClass {
            class_num: 2,
            c_type: 1,
            offset: 40
        }
    );
    assert_eq!(err.rsvp_error(), Some((13, 0x0201)));

    // 10bbbbbb: ignored, kept in the model, dropped when forwarding.
    let ignored = insert(&b, 40, &[0, 8, 0x85, 3, 1, 2, 3, 4]);
    let m = Message::parse(&ignored).expect("class 0x85 is ignored");
    assert_eq!(m.extra.len(), 1);
    assert_eq!(m.extra[0].position, 3);
    assert_eq!(m.extra[0].disposition(), Disposition::Ignore);
    assert_eq!(m.to_bytes().expect("emit"), ignored);
    assert_eq!(m.forwarded().to_bytes().expect("emit"), b);

    // 11bbbbbb: forwarded unchanged, in place.
    let forwarded = insert(&b, 40, &[0, 12, 0xc7, 9, 9, 8, 7, 6, 5, 4, 3, 2]);
    let m = Message::parse(&forwarded).expect("class 0xc7 is forwarded");
    assert_eq!(m.extra[0].disposition(), Disposition::Forward);
    assert_eq!(m.forwarded().to_bytes().expect("emit"), forwarded);
    assert_eq!(m.forwarded(), m);

    // A message that came with no checksum is forwarded with one.
    let mut none = forwarded.clone();
    none[2..4].copy_from_slice(&[0, 0]);
    let m = Message::parse_with(&none, ParseOptions::lenient()).expect("no checksum");
    assert!(m.zero_checksum);
    assert_eq!(m.forwarded().to_bytes().expect("emit"), forwarded);

    // NULL objects anywhere are ignored.
    let null = insert(&b, 8, &[0, 4, 0, 0]);
    let m = Message::parse(&null).expect("NULL is ignored");
    assert_eq!(m.extra[0].position, 0);
    assert_eq!(m.to_bytes().expect("emit"), null);
}

#[test]
fn unknown_c_type_is_code_14() {
    let mut b = resv_bytes();
    b[11] = 9; // SESSION C-Type
    let err = Message::parse(&fix(b)).expect_err("C-Type 9");
    assert_eq!(
        err,
        Error::UnknownCType {
            class: ClassNum::SESSION,
            c_type: 9,
            offset: 8
        }
    );
    assert_eq!(err.rsvp_error(), Some((14, 0x0109)));
}

#[test]
fn missing_and_misordered_objects_are_named() {
    let b = resv_bytes();
    // Drop TIME_VALUES (offset 32, 8 bytes).
    let mut no_time = b[..32].to_vec();
    no_time.extend_from_slice(&b[40..]);
    let len = no_time.len() as u16;
    no_time[6..8].copy_from_slice(&len.to_be_bytes());
    assert_eq!(
        Message::parse(&fix(no_time)),
        Err(Error::MissingObject {
            message: MsgType::Resv,
            class: ClassNum::TIME_VALUES,
            offset: 32
        })
    );
    // Swap RSVP_HOP (20..32) and TIME_VALUES (32..40).
    let mut swapped = b[..20].to_vec();
    swapped.extend_from_slice(&b[32..40]);
    swapped.extend_from_slice(&b[20..32]);
    swapped.extend_from_slice(&b[40..]);
    assert_eq!(
        Message::parse(&fix(swapped)),
        Err(Error::OutOfOrder {
            message: MsgType::Resv,
            class: ClassNum::TIME_VALUES,
            offset: 20,
            expected: ClassNum::RSVP_HOP
        })
    );
    // A second SESSION at the end is unexpected.
    let dup = insert(&b, b.len(), &b[8..20]);
    assert_eq!(
        Message::parse(&dup),
        Err(Error::UnexpectedObject {
            message: MsgType::Resv,
            class: ClassNum::SESSION,
            offset: b.len()
        })
    );
}

#[test]
fn flow_descriptor_lists_are_checked_per_style() {
    let b = resv_bytes();
    // Drop the FILTER_SPEC: FF needs its pair.
    let mut no_filter = b[..b.len() - 12].to_vec();
    let len = no_filter.len() as u16;
    no_filter[6..8].copy_from_slice(&len.to_be_bytes());
    assert!(matches!(
        Message::parse(&fix(no_filter)),
        Err(Error::FlowDescriptor {
            message: MsgType::Resv,
            style: StyleKind::FF,
            offset: 40,
            ..
        })
    ));
    // Turn the style into WF: a FILTER_SPEC is then unexpected.
    let mut wf = b.clone();
    wf[47] = 0x11;
    assert!(matches!(
        Message::parse(&fix(wf)),
        Err(Error::UnexpectedObject {
            class: ClassNum::FILTER_SPEC,
            ..
        })
    ));
    // An option vector that is no style.
    let mut bad = b.clone();
    bad[47] = 0x13;
    let err = Message::parse(&fix(bad)).expect_err("style 0x13");
    assert_eq!(
        err,
        Error::UnknownStyle {
            offset: 40,
            option_vector: 0x13
        }
    );
    assert_eq!(err.rsvp_error(), Some((6, 0)));

    // The model side: an FF Resv without descriptors cannot be emitted.
    let mut m = ff_resv();
    if let Body::Resv(r) = &mut m.body {
        r.flows = FlowDescriptors::FF {
            descriptors: vec![],
        };
    }
    assert!(matches!(m.to_bytes(), Err(Error::InvalidModel { .. })));
}

#[test]
fn bad_intserv_values_are_traffic_control_errors() {
    let mut b = resv_bytes();
    // The FLOWSPEC's token bucket rate r at offset 48 + 16: make it NaN.
    b[64..68].copy_from_slice(&f32::NAN.to_bits().to_be_bytes());
    let err = Message::parse(&fix(b.clone())).expect_err("NaN rate");
    assert!(matches!(
        err,
        Error::BadObject {
            class: ClassNum::FLOWSPEC,
            offset: 48,
            ..
        }
    ));
    assert_eq!(err.rsvp_error(), Some((21, 3)));
    // A service number that is neither 2 nor 5.
    b[64..68].copy_from_slice(&1.0f32.to_bits().to_be_bytes());
    b[56] = 3;
    assert!(matches!(
        Message::parse(&fix(b)),
        Err(Error::BadObject {
            class: ClassNum::FLOWSPEC,
            ..
        })
    ));
}

#[test]
fn emit_reports_a_short_buffer() {
    let m = ff_resv();
    let mut small = vec![0u8; m.buffer_len() - 1];
    assert_eq!(
        m.emit(&mut small),
        Err(Error::BufferTooSmall {
            need: m.buffer_len(),
            have: m.buffer_len() - 1
        })
    );
    let mut out = vec![0xee];
    assert_eq!(m.emit_vec(&mut out), Ok(m.buffer_len()));
    assert_eq!(out[0], 0xee);
    assert_eq!(&out[1..], &m.to_bytes().expect("emit")[..]);
}

#[test]
fn frames_carry_router_alert_where_the_rfc_asks() {
    for (name, m) in samples() {
        let h = frame_header(&m);
        let f = h.build(&m).expect(name);
        let parsed = parse_frame(&f).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(parsed.header, h, "{name}");
        assert_eq!(
            parsed.header.router_alert,
            matches!(
                m.msg_type(),
                MsgType::Path | MsgType::PathTear | MsgType::ResvConf
            ),
            "{name}"
        );
        assert_eq!(Message::parse(parsed.rsvp).expect(name), m, "{name}");
        // The IPv4 header sums to 0xffff with its checksum.
        let ihl = usize::from(f[14] & 0x0f) * 4;
        let ip_sum = internet_checksum(&f[14..14 + ihl]);
        assert_eq!(ip_sum, 0, "{name}: IPv4 header checksum");
        // Ethernet padding after the IP packet is not RSVP.
        let mut padded = f.clone();
        padded.extend_from_slice(&[0; 6]);
        assert_eq!(parse_frame(&padded).expect(name).rsvp.len(), m.buffer_len());
    }
}

#[test]
fn frame_errors_are_typed() {
    let m = ff_resv();
    let f = frame_header(&m).build(&m).expect("frame");
    let mut arp = f.clone();
    arp[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
    assert_eq!(
        parse_frame(&arp).err(),
        Some(Error::FrameEtherType { found: 0x0806 })
    );
    let mut bad_sum = f.clone();
    bad_sum[24] ^= 0xff;
    assert!(matches!(
        parse_frame(&bad_sum),
        Err(Error::FrameIpv4Checksum { .. })
    ));
    // A Resv frame has no options: a 20-byte IPv4 header at offset 14.
    let mut udp = frame_header(&m).build_raw(&[0; 8]).expect("frame");
    udp[14 + 9] = 17;
    udp[24..26].copy_from_slice(&[0, 0]);
    let sum = internet_checksum(&udp[14..34]);
    udp[24..26].copy_from_slice(&sum.to_be_bytes());
    assert_eq!(
        parse_frame(&udp).err(),
        Some(Error::FrameNotRsvp { found: 17 })
    );
    assert!(matches!(
        parse_frame(&f[..30]),
        Err(Error::Truncated { .. })
    ));
}
