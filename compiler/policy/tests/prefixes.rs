//! Client prefixes: validation and the overlap sweep.

use fairshare_policy::{Diagnostic, Kind};

/// A valid policy whose edges have the given client lists.
fn policy(edges: &[&str]) -> String {
    let mut text = String::from(
        "network \"t\" {\n  datacenter d { switch d-sw { cpu-port 255 device-id 1 } uplink 10Gbps\n    server s { address 10.0.0.1 port 1 capacity 1Gbps } }\n",
    );
    for (i, clients) in edges.iter().enumerate() {
        text.push_str(&format!(
            "  edge e{i} {{ switch e{i}-sw {{ cpu-port 255 device-id {} }} clients {clients} subscribers 1 }}\n  link e{i} <-> d {{ capacity 1Gbps distance 1ms }}\n",
            i + 2
        ));
    }
    text.push('}');
    text
}

fn kinds(edges: &[&str]) -> Vec<Kind> {
    match fairshare_policy::load(&policy(edges)) {
        Ok(_) => Vec::new(),
        Err(d) => d.iter().map(|d: &Diagnostic| d.kind).collect(),
    }
}

#[test]
fn disjoint_and_adjacent_prefixes_are_fine() {
    assert_eq!(kinds(&["198.51.100.0/25", "198.51.100.128/25"]), []);
    assert_eq!(
        kinds(&["192.0.2.0/24, 198.51.100.0/24", "192.0.3.0/24"]),
        []
    );
    assert_eq!(kinds(&["192.0.2.7/32", "192.0.2.6/32, 192.0.2.8/31"]), []);
}

#[test]
fn nested_identical_and_default_prefixes_overlap() {
    use Kind::OverlappingPrefixes as O;
    assert_eq!(kinds(&["198.51.100.0/24", "198.51.100.128/25"]), [O]);
    assert_eq!(kinds(&["192.0.2.0/24", "192.0.2.0/24"]), [O]);
    assert_eq!(kinds(&["192.0.2.0/24, 192.0.2.0/24"]), [O]);
    // 0.0.0.0/0 contains everything, the server address included.
    assert_eq!(kinds(&["0.0.0.0/0", "192.0.2.0/24"]), [O, O]);
}

#[test]
fn each_overlapping_prefix_is_reported_once() {
    // Three prefixes inside one big one: three reports, not six.
    let got = kinds(&[
        "172.16.0.0/12",
        "172.16.1.0/24, 172.17.0.0/16",
        "172.31.255.255/32",
    ]);
    assert_eq!(got, [Kind::OverlappingPrefixes; 3]);
}

#[test]
fn overlap_report_points_at_both_prefixes() {
    let text = policy(&["198.51.100.0/24", "198.51.100.64/26"]);
    let diags = fairshare_policy::load(&text).expect_err("overlap is an error");
    let d = &diags[0];
    assert_eq!(
        &text[d.primary.span.start..d.primary.span.end],
        "198.51.100.64/26"
    );
    assert_eq!(d.secondary.len(), 1);
    let other = d.secondary[0].span;
    assert_eq!(&text[other.start..other.end], "198.51.100.0/24");
}

#[test]
fn host_bits_and_lengths_are_checked() {
    assert_eq!(kinds(&["198.51.100.1/24"]), [Kind::BadPrefix]);
    assert_eq!(kinds(&["198.51.100.0/33"]), [Kind::BadPrefix]);
    assert_eq!(kinds(&["198.51.300.0/24"]), [Kind::BadAddress]);
    let diags = fairshare_policy::load(&policy(&["198.51.100.77/26"])).expect_err("bad prefix");
    assert_eq!(
        diags[0].help.as_deref(),
        Some("did you mean `198.51.100.64/26`?")
    );
}

#[test]
fn the_model_prefix_overlap_agrees() {
    use fairshare_policy::model::Prefix;
    use std::net::Ipv4Addr;
    let p = |a: [u8; 4], len| Prefix {
        addr: Ipv4Addr::from(a),
        len,
    };
    assert!(p([10, 0, 0, 0], 8).overlaps(p([10, 1, 0, 0], 16)));
    assert!(p([10, 1, 0, 0], 16).overlaps(p([10, 0, 0, 0], 8)));
    assert!(!p([10, 0, 0, 0], 9).overlaps(p([10, 128, 0, 0], 9)));
    assert!(p([0, 0, 0, 0], 0).overlaps(p([192, 0, 2, 1], 32)));
}
