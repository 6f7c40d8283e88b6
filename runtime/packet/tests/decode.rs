//! Decoding and differences on real frame layouts, and properties over
//! random bytes.

use fairshare_packet::{decode, diff, diff_streams, show, summary};
use proptest::prelude::*;

/// Ethernet / IPv4 / TCP with a 4-byte payload (checksums not computed:
/// the decoder does not check them).
fn tcp_frame(ttl: u8) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
    f.extend_from_slice(&[
        0x45, 0, 0, 44, 0, 1, 0, 0, ttl, 6, 0xab, 0xcd, 192, 0, 2, 5, 203, 0, 113, 1,
    ]);
    f.extend_from_slice(&[
        0x9c, 0x40, 0, 80, 0, 0, 0, 7, 0, 0, 0, 0, 0x50, 0x02, 0x20, 0, 0x12, 0x34, 0, 0,
    ]);
    f.extend_from_slice(b"data");
    f
}

/// Ethernet / IPv4 with Router Alert / RSVP Path with a SESSION object.
fn rsvp_frame() -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
    f.extend_from_slice(&[
        0x46, 0, 0, 40, 0, 2, 0, 0, 63, 46, 0, 0, 10, 0, 0, 1, 203, 0, 113, 1, 0x94, 4, 0, 0,
    ]);
    f.extend_from_slice(&[0x10, 1, 0, 0, 63, 0, 0, 20]);
    f.extend_from_slice(&[0, 12, 1, 1, 203, 0, 113, 1, 6, 0, 0, 80]);
    f
}

fn names(frame: &[u8]) -> Vec<String> {
    decode(frame).fields().map(|f| f.name.clone()).collect()
}

fn value(frame: &[u8], name: &str) -> String {
    let d = decode(frame);
    let f = d.fields().find(|f| f.name == name).expect("field decoded");
    show(frame, f).expect("in the frame")
}

#[test]
fn tcp_over_ipv4_over_ethernet() {
    let f = tcp_frame(64);
    let d = decode(&f);
    let layers: Vec<_> = d.layers.iter().map(|l| l.name).collect();
    assert_eq!(layers, ["ethernet", "ipv4", "tcp"]);
    assert_eq!(d.payload, 54);
    assert_eq!(d.cut, None);
    assert_eq!(value(&f, "ethernet.dst_addr"), "02:00:00:00:00:02");
    assert_eq!(value(&f, "ipv4.src_addr"), "192.0.2.5");
    assert_eq!(value(&f, "ipv4.ttl"), "64 (0x40)");
    assert_eq!(value(&f, "ipv4.hdr_checksum"), "0xabcd");
    assert_eq!(value(&f, "tcp.dst_port"), "80 (0x50)");
    assert_eq!(value(&f, "tcp.flags"), "0x02");
}

#[test]
fn rsvp_objects_are_named_by_class() {
    let f = rsvp_frame();
    let n = names(&f);
    assert!(n.contains(&"ipv4.options".to_string()), "{n:?}");
    assert!(n.contains(&"rsvp.msg_type".to_string()), "{n:?}");
    assert!(n.contains(&"rsvp.session.body".to_string()), "{n:?}");
    assert_eq!(value(&f, "rsvp.session.body"), "cb00710106000050");
}

#[test]
fn a_changed_ttl_and_checksum_are_named() {
    let want = tcp_frame(64);
    let mut got = tcp_frame(63);
    got[25] = 0xce;
    let d = diff(&want, &got, None);
    let fields: Vec<_> = d.fields.iter().map(|f| f.field.as_str()).collect();
    assert_eq!(fields, ["ipv4.ttl", "ipv4.hdr_checksum"]);
    assert_eq!(d.fields[0].expected, "64 (0x40)");
    assert_eq!(d.fields[0].got, "63 (0x3f)");
    assert_eq!(d.payload, None);
    assert_eq!(d.length, None);
    let text = d.to_string();
    assert!(
        text.contains("ipv4.ttl: expected 64 (0x40), got 63 (0x3f)"),
        "{text}"
    );
}

#[test]
fn payload_and_length_differences() {
    let want = tcp_frame(64);
    let mut got = want.clone();
    got[55] = b'X';
    got.push(0);
    let d = diff(&want, &got, None);
    assert!(d.fields.is_empty());
    assert_eq!(d.payload, Some((55, b'a', Some(b'X'))));
    assert_eq!(d.length, Some((58, 59)));
}

#[test]
fn masked_nibbles_are_not_compared() {
    let want = tcp_frame(64);
    let got = tcp_frame(0x4f);
    let mut mask = vec![0xff; want.len()];
    assert!(!diff(&want, &got, Some(&mask)).is_empty());
    mask[22] = 0xf0;
    assert!(diff(&want, &got, Some(&mask)).is_empty());
    // A partly masked field shows the wildcard nibbles.
    let got = tcp_frame(0x3f);
    let d = diff(&want, &got, Some(&mask));
    assert_eq!(d.fields[0].field, "ipv4.ttl");
    assert_eq!(d.fields[0].expected, "0x4*");
}

#[test]
fn a_short_packet_reports_missing_fields() {
    let want = tcp_frame(64);
    let d = diff(&want, &want[..30], None);
    assert!(d
        .fields
        .iter()
        .any(|f| f.field == "ipv4.dst_addr" && f.got == "(missing)"));
    assert_eq!(d.length, Some((58, 30)));
}

#[test]
fn streams_report_missing_and_extra_packets() {
    let a = tcp_frame(64);
    let b = tcp_frame(63);
    let d = diff_streams(&[a.clone(), a.clone()], std::slice::from_ref(&a));
    assert_eq!(d.missing.len(), 1);
    assert!(d.to_string().contains("packet 2: missing"), "{d}");
    let d = diff_streams(std::slice::from_ref(&a), &[b, a.clone()]);
    assert_eq!(d.packets.len(), 1);
    assert_eq!(d.extra.len(), 1);
    assert!(d.to_string().contains("packet 1:\n  ipv4.ttl"), "{d}");
    let same = std::slice::from_ref(&a);
    assert!(diff_streams(same, same).is_empty());
}

#[test]
fn summary_names_the_headers() {
    let s = summary(&tcp_frame(64));
    assert_eq!(
        s,
        "58 bytes: eth 02:00:00:00:00:01 > 02:00:00:00:00:02, ipv4 192.0.2.5 > 203.0.113.1 ttl 64 (0x40), tcp 40000 (0x9c40) > 80 (0x50)"
    );
    let s = summary(&tcp_frame(64)[..20]);
    assert!(s.contains("ipv4 cut: needs 34 bytes"), "{s}");
}

#[test]
fn every_truncation_decodes_within_the_frame() {
    for f in [tcp_frame(64), rsvp_frame()] {
        for len in 0..=f.len() {
            let d = decode(&f[..len]);
            for fl in d.fields() {
                assert!(fl.bit_offset + fl.width <= len * 8, "{fl:?} in {len}");
            }
            assert!(d.payload <= len);
            if len < f.len() {
                assert!(!diff(&f, &f[..len], None).is_empty());
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes_decode_inside_the_frame(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let d = decode(&bytes);
        for f in d.fields() {
            prop_assert!(f.bit_offset + f.width <= bytes.len() * 8);
            prop_assert!(show(&bytes, f).is_some());
        }
        prop_assert!(d.payload <= bytes.len());
        let _ = summary(&bytes);
    }

    #[test]
    fn a_difference_exists_exactly_when_bytes_differ(
        a in proptest::collection::vec(any::<u8>(), 0..120),
        flips in proptest::collection::vec((any::<usize>(), 1u8..=255), 0..3),
    ) {
        let mut b = a.clone();
        for (i, x) in flips {
            if !b.is_empty() {
                let n = b.len();
                b[i % n] ^= x;
            }
        }
        prop_assert_eq!(diff(&a, &b, None).is_empty(), a == b);
    }

    #[test]
    fn ethernet_ipv4_prefixes_still_decode(tail in proptest::collection::vec(any::<u8>(), 0..80)) {
        let mut f = tcp_frame(64)[..14].to_vec();
        f.push(0x45);
        f.extend_from_slice(&tail);
        let d = decode(&f);
        prop_assert_eq!(d.layers[0].name, "ethernet");
        for fl in d.fields() {
            prop_assert!(fl.bit_offset + fl.width <= f.len() * 8);
        }
    }
}
