//! Entities built by name against the P4Info the compiler writes for the
//! `single` example: what is checked, and what is left out.

use anyhow::{Context, Result};
use fairshare_p4rt::entity::{self, Match};
use fairshare_p4rt::proto::p4::v1 as p4;
use fairshare_p4rt::{Error, P4InfoIndex};
use p4::field_match::FieldMatchType as F;

fn index() -> Result<P4InfoIndex> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/expected/single/pipelines/bmv2-cpu255/fairshare.p4info.txtpb"
    );
    let text = std::fs::read_to_string(path).context(path)?;
    Ok(P4InfoIndex::new(fairshare_p4rt::text::parse_p4info(
        &text,
    )?)?)
}

const FORWARD: &[(&str, u128)] = &[("port", 1), ("src_mac", 2), ("dst_mac", 3)];

#[test]
fn matches_that_mean_anything_are_left_out_and_lpm_values_cut_to_their_prefix() -> Result<()> {
    let index = index()?;
    let any = entity::table_entry(
        &index,
        "Ingress.ipv4_lpm",
        &[(
            "hdr.ipv4.dst_addr",
            Match::Lpm {
                value: 0,
                prefix_len: 0,
            },
        )],
        "Ingress.forward",
        FORWARD,
        0,
    )?;
    assert!(any.r#match.is_empty());
    let net = entity::table_entry(
        &index,
        "Ingress.ipv4_lpm",
        &[(
            "hdr.ipv4.dst_addr",
            Match::Lpm {
                value: 0x0a01_0203,
                prefix_len: 16,
            },
        )],
        "Ingress.forward",
        FORWARD,
        0,
    )?;
    match net.r#match[0].field_match_type.as_ref() {
        Some(F::Lpm(l)) => {
            assert_eq!((l.value.as_slice(), l.prefix_len), (&[10, 1, 0, 0][..], 16))
        }
        other => panic!("expected an LPM match, found {other:?}"),
    }
    let wildcard = entity::table_entry(
        &index,
        "Ingress.steer",
        &[
            ("meta.service", Match::Exact(1)),
            ("meta.edge", Match::Ternary { value: 0, mask: 0 }),
        ],
        "Ingress.dnat",
        &[("server", 0x0a00_0001)],
        1,
    )?;
    assert_eq!(wildcard.r#match.len(), 1);
    // Parameters come out in P4Info order whatever order they are given in.
    let reordered = entity::table_entry(
        &index,
        "Ingress.ipv4_lpm",
        &[],
        "Ingress.forward",
        &[("dst_mac", 3), ("port", 1), ("src_mac", 2)],
        0,
    )?;
    assert_eq!(reordered, any);
    Ok(())
}

#[test]
fn names_widths_and_match_kinds_are_checked() -> Result<()> {
    let index = index()?;
    let lpm = |m: Match| {
        entity::table_entry(
            &index,
            "Ingress.ipv4_lpm",
            &[("hdr.ipv4.dst_addr", m)],
            "Ingress.forward",
            FORWARD,
            0,
        )
    };
    assert!(matches!(
        lpm(Match::Ternary { value: 1, mask: 1 }),
        Err(Error::WrongMatchKind { .. })
    ));
    assert!(matches!(
        lpm(Match::Lpm {
            value: 1,
            prefix_len: 33
        }),
        Err(Error::WrongMatchKind { .. })
    ));
    assert!(matches!(
        lpm(Match::Exact(1 << 32)),
        Err(Error::ValueTooWide { .. })
    ));
    assert!(matches!(
        entity::table_entry(&index, "Ingress.nope", &[], "Ingress.forward", FORWARD, 0),
        Err(Error::UnknownName { .. })
    ));
    // A missing exact field, a missing parameter, an unknown parameter, an
    // action of another table.
    assert!(matches!(
        entity::table_entry(
            &index,
            "Ingress.steer",
            &[],
            "Ingress.dnat",
            &[("server", 1)],
            1
        ),
        Err(Error::BadMember { .. })
    ));
    assert!(matches!(
        entity::table_entry(
            &index,
            "Ingress.ipv4_lpm",
            &[],
            "Ingress.forward",
            &FORWARD[..2],
            0
        ),
        Err(Error::BadMember { .. })
    ));
    assert!(matches!(
        entity::table_entry(
            &index,
            "Ingress.ipv4_lpm",
            &[],
            "Ingress.forward",
            &[("port", 1), ("src_mac", 2), ("dst_mac", 3), ("ttl", 4)],
            0
        ),
        Err(Error::BadMember { .. })
    ));
    assert!(matches!(
        entity::table_entry(
            &index,
            "Ingress.ipv4_lpm",
            &[],
            "Ingress.dnat",
            &[("server", 1)],
            0
        ),
        Err(Error::BadMember { .. })
    ));
    assert!(matches!(
        entity::meter_entry(&index, "Ingress.no_meter", Some(0), None),
        Err(Error::UnknownName { .. })
    ));
    Ok(())
}

#[test]
fn packet_outs_need_every_metadata_field_once() -> Result<()> {
    use fairshare_p4rt::client::packet_out;
    let index = index()?;
    let ok = packet_out(&index, vec![1, 2], &[("egress_port", 5), ("_pad", 0)])?;
    assert_eq!(ok.metadata.len(), 2);
    assert_eq!(ok.metadata[0].value, [5]);
    for bad in [
        &[("egress_port", 5)][..],
        &[("egress_port", 5), ("_pad", 0), ("_pad", 0)][..],
        &[("egress_port", 5), ("_pad", 0), ("other", 0)][..],
    ] {
        assert!(matches!(
            packet_out(&index, vec![], bad),
            Err(Error::BadMember { .. })
        ));
    }
    assert!(matches!(
        packet_out(&index, vec![], &[("egress_port", 512), ("_pad", 0)]),
        Err(Error::ValueTooWide { .. })
    ));
    Ok(())
}
