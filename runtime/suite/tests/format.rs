//! The case format: frames built from descriptions, pcap files, and the
//! errors a bad `case.toml` gives.

use fairshare_suite::case::{build, csum, PacketSpec};
use fairshare_suite::{pcap, Case, Error};

fn spec(toml: &str) -> PacketSpec {
    #[derive(serde::Deserialize)]
    struct One {
        packets: Vec<PacketSpec>,
    }
    let one: One = basic_toml::from_str(toml).expect("reads");
    one.packets.into_iter().next().expect("one packet")
}

#[test]
fn frames_have_correct_checksums_unless_asked_otherwise() {
    let f = build(
        &spec(
            r#"[[packets]]
port = 1
at_us = 0
ipv4 = { src = "192.0.2.5", dst = "203.0.113.1", ttl = 9, tos = 0xb8 }
tcp = { sport = 40000, dport = 80 }
payload_size = 11
"#,
        ),
        7,
    )
    .expect("builds");
    assert_eq!(f.len(), 14 + 20 + 20 + 11);
    assert_eq!(&f[12..14], &[0x08, 0x00]);
    // A header whose checksum is right sums to 0.
    assert_eq!(csum(&f[14..34]), 0);
    assert_eq!(
        u16::from_be_bytes([f[18], f[19]]),
        7,
        "the id is the packet's number"
    );
    assert_eq!((f[22], f[23], f[15]), (9, 6, 0xb8));
    let mut pseudo = f[26..34].to_vec();
    pseudo.extend([0, 6, 0, 31]);
    pseudo.extend(&f[34..]);
    assert_eq!(csum(&pseudo), 0, "TCP checksum");

    let bad = build(
        &spec(
            r#"[[packets]]
port = 1
at_us = 0
ipv4 = { src = "192.0.2.5", dst = "10.0.0.1", checksum = "bad" }
udp = { sport = 1, dport = 2, checksum = 0 }
"#,
        ),
        1,
    )
    .expect("builds");
    assert_ne!(csum(&bad[14..34]), 0);
    assert_eq!(&bad[40..42], &[0, 0], "UDP checksum 0 as given");
}

#[test]
fn sizes_truncation_and_the_packet_out_header() {
    let f = build(
        &spec(
            r#"[[packets]]
port = 255
at_us = 0
packet_out = { egress_port = 3 }
ipv4 = { src = "10.0.0.1", dst = "10.0.0.2" }
udp = { sport = 1, dport = 2 }
frame_size = 100
"#,
        ),
        1,
    )
    .expect("builds");
    assert_eq!(f.len(), 2 + 100);
    // 9 bits of port, then 7 bits of padding.
    assert_eq!(&f[..2], &[0x01, 0x80]);
    assert_eq!(u16::from_be_bytes([f[18], f[19]]), 86, "IPv4 total length");

    let cut = build(
        &spec(
            r#"[[packets]]
port = 1
at_us = 0
ipv4 = { src = "10.0.0.1", dst = "10.0.0.2" }
tcp = { sport = 1, dport = 2 }
truncate = 44
"#,
        ),
        1,
    )
    .expect("builds");
    assert_eq!(cut.len(), 44);

    for (bad, why) in [
        (
            r#"raw = "0102"
eth = { ether_type = 0x0800 }"#,
            "no header tables",
        ),
        (
            r#"eth = { dst = "02:00:00:00:00" , ether_type = 1 }"#,
            "MAC address",
        ),
        (r#"tcp = { sport = 1, dport = 2 }"#, "need an `ipv4`"),
        (r#"raw = "012""#, "even number"),
        (
            r#"ipv4 = { src = "10.0.0.1", dst = "10.0.0.2", options = "010101" }"#,
            "multiple of 4",
        ),
        (
            r#"raw = "0102"
truncate = 3"#,
            "only 2 bytes",
        ),
    ] {
        let s = spec(&format!("[[packets]]\nport = 1\nat_us = 0\n{bad}\n"));
        let e = build(&s, 1).expect_err(bad);
        assert!(e.contains(why), "{bad}: {e}");
    }
}

#[test]
fn pcap_files_round_trip_and_bmv2s_header_reads() {
    let packets = vec![
        pcap::Packet {
            at_us: 0,
            frame: vec![1, 2, 3],
        },
        pcap::Packet {
            at_us: 1_500_001,
            frame: vec![0xff; 9000],
        },
    ];
    let bytes = pcap::write(&packets);
    assert_eq!(pcap::read(&bytes).expect("reads"), packets);
    // simple_switch writes a snap length of 0.
    let mut bmv2 = bytes.clone();
    bmv2[16..20].copy_from_slice(&[0; 4]);
    assert_eq!(pcap::read(&bmv2).expect("reads"), packets);
    assert!(pcap::read(&bytes[..bytes.len() - 1]).is_err());
    assert!(pcap::read(b"not a pcap").is_err());
}

fn case_error(toml: &str) -> String {
    let dir = std::env::temp_dir().join(format!("fairshare-suite-format-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("case.toml"), toml).expect("write");
    let e = Case::read(&dir).expect_err("bad case");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(matches!(e, Error::BadCase { .. }), "{e}");
    e.to_string()
}

#[test]
fn a_bad_case_names_its_place() {
    let head = "description = \"x\"\n[pipeline]\nexample = \"single\"\nswitch = \"dc1-sw\"\n";
    let packet = "[[packets]]\nport = 1\nat_us = 0\nraw = \"00\"\n";
    for (body, want) in [
        (head.to_string(), "packets"),
        (
            format!("{head}[[setup]]\nop = \"meter_set\"\nmeter = \"m\"\n{packet}"),
            "setup[0]: op `meter_set` needs `index`",
        ),
        (
            format!("{head}[[timeline]]\nop = \"table_add\"\n{packet}"),
            "timeline[0]: expected `at_us`",
        ),
        (
            format!("{head}[[setup]]\nop = \"table_drop\"\n{packet}"),
            "found `table_drop`",
        ),
        (
            format!("{head}{packet}count = 0\n"),
            "packets[0]: `count` must be at least 1",
        ),
        (
            format!("description = \"\"\n[pipeline]\njson = \"x.json\"\n{packet}"),
            "description",
        ),
        (
            format!("description = \"x\"\n[pipeline]\nexample = \"single\"\n{packet}"),
            "expected `switch`",
        ),
        (format!("{head}{packet}colour = 1\n"), "unknown field"),
        (
            format!("{}p4info = \"p.txtpb\"\n{packet}", head),
            "pipeline: `rules` and `p4info` go with `json`",
        ),
    ] {
        let e = case_error(&body);
        assert!(e.contains(want), "expected `{want}` in: {e}");
    }
}
