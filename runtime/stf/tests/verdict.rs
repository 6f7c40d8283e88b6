//! The verdict, on a program that sends every packet unchanged to port 2.

use fairshare_stf::run::Difference;
use fairshare_stf::{run_texts, Error, Failure, Outcome};

const TO_PORT_2: &str = include_str!("../../switch/tests/data/minimal.json");

fn run(stf: &str) -> Outcome {
    match run_texts(TO_PORT_2, stf) {
        Ok(o) => o,
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn matching_packets_pass() {
    let o = run("packet 1 0102 0304\nexpect 2 0102 0304\n");
    assert!(o.passed(), "{}", o.reason());
    // `*` matches any digit; a longer packet is fine without `$`.
    let o = run("packet 1 0102 0304\nexpect 2 0*02 03\n");
    assert!(o.passed(), "{}", o.reason());
    let o = run("packet 1 0102 0304\nexpect 2 **** **** $\n");
    assert!(o.passed(), "{}", o.reason());
}

#[test]
fn a_wrong_digit_fails_with_its_offset() {
    let o = run("packet 1 0102 0304\nexpect 2 0102 0314\n");
    assert!(!o.passed());
    match &o.failures[..] {
        [Failure::Mismatch {
            line: 2,
            port: 2,
            received,
            packet_line: 1,
            difference: Difference::Nibble(6),
            ..
        }] => assert_eq!(received, &vec![1, 2, 3, 4]),
        f => panic!("{f:?}"),
    }
    assert!(o.reason().contains("differs at byte 3"), "{}", o.reason());
    let report = o.failures[0].report();
    assert!(report.contains("expected: 01 02 03 14"), "{report}");
    assert!(report.contains("received: 01 02 03 04"), "{report}");
}

#[test]
fn a_mismatch_is_decoded_field_by_field() {
    // Ethernet, IPv4 (TTL 64), 4 bytes of payload; the expectation wants
    // TTL 63 and leaves the header checksum open.
    let eth = "000000000002 000000000001 0800";
    let sent = format!("packet 1 {eth} 4500 0018 0001 0000 4011 abcd c0000205 cb007101 dddddddd\n");
    let want =
        format!("expect 2 {eth} 4500 0018 0001 0000 3f11 **** c0000205 cb007101 dddddddd $\n");
    let o = run(&(sent + &want));
    assert!(!o.passed());
    let report = o.failures[0].report();
    assert!(
        report.contains("decoded:\n    ipv4.ttl: expected 63 (0x3f), got 64 (0x40)"),
        "{report}"
    );
    assert!(!report.contains("hdr_checksum"), "{report}");
}

#[test]
fn length_checks() {
    let o = run("packet 1 0102\nexpect 2 0102 03\n");
    assert!(matches!(
        &o.failures[..],
        [Failure::Mismatch {
            difference: Difference::TooShort,
            ..
        }]
    ));
    let o = run("packet 1 0102 03\nexpect 2 0102 $\n");
    assert!(matches!(
        &o.failures[..],
        [Failure::Mismatch {
            difference: Difference::TooLong,
            ..
        }]
    ));
}

#[test]
fn a_missing_packet_fails() {
    let o = run("packet 1 01\nexpect 2 01\nexpect 2 01\n");
    assert!(matches!(
        &o.failures[..],
        [Failure::Missing {
            line: 3,
            port: 2,
            ..
        }]
    ));
    // An expectation on a port nothing is sent to.
    let o = run("packet 1 01\nexpect 2 01\nexpect 3 01\n");
    assert!(matches!(
        &o.failures[..],
        [Failure::Missing { port: 3, .. }]
    ));
}

#[test]
fn an_extra_packet_on_a_watched_port_fails() {
    let o = run("packet 1 01\nexpect 2 01\npacket 1 02\n");
    match &o.failures[..] {
        [Failure::Extra {
            port: 2,
            packet_line: 3,
            received,
        }] => assert_eq!(received, &vec![2]),
        f => panic!("{f:?}"),
    }
    // Port 2 is named by a `packet` line, so it is watched.
    let o = run("packet 2 01\n");
    assert!(matches!(&o.failures[..], [Failure::Extra { port: 2, .. }]));
}

#[test]
fn packets_on_unwatched_ports_are_ignored() {
    let o = run("packet 1 01\npacket 1 02\n");
    assert!(o.passed(), "{}", o.reason());
    assert_eq!(o.stats.sent, 2);
}

#[test]
fn a_bare_expect_stops_checking_its_port() {
    let o = run("packet 1 01\npacket 1 02\nexpect 2\n");
    assert!(o.passed(), "{}", o.reason());
    let o = run("packet 1 01\nexpect 2 ff\nexpect 2\n");
    assert!(o.passed(), "{}", o.reason());
}

#[test]
fn packets_are_matched_in_order() {
    let o = run("packet 1 01\npacket 1 02\nexpect 2 02\nexpect 2 01\n");
    assert_eq!(o.failures.len(), 2, "{:?}", o.failures);
}

#[test]
fn replication_commands_that_do_not_fit_fail_with_a_reason() {
    let o = run("mc_node_create 5 3\nmc_node_associate 1 0\npacket 1 01\n");
    match &o.failures[..] {
        [Failure::Command {
            line: 2, reason, ..
        }] => assert!(reason.contains("no multicast group 1"), "{reason}"),
        f => panic!("{f:?}"),
    }
    let o = run("mc_mgrp_create 1\nmc_node_associate 1 0\n");
    assert!(
        o.reason().contains("no multicast node with handle 0"),
        "{}",
        o.reason()
    );
    let o = run("mc_mgrp_create 1\nmc_mgrp_create 1\n");
    assert!(o.reason().contains("exists already"), "{}", o.reason());
    let o = run("mirroring_add 40000 5\n");
    assert!(
        o.reason()
            .contains("clone session 40000: the id must be at most 32767"),
        "{}",
        o.reason()
    );
    let o = run("mirroring_get 3\n");
    assert!(o.reason().contains("no clone session 3"), "{}", o.reason());
}

#[test]
fn mirroring_get_reads_a_session() {
    let o = run("mirroring_add 3 5\nmc_mgrp_create 9\nmirroring_add_mc 4 9\nmirroring_get 3\nmirroring_get 4\n");
    assert!(o.passed(), "{}", o.reason());
    assert_eq!(
        o.reads,
        vec![
            "mirroring session 3: port 5".to_string(),
            "mirroring session 4: multicast group 9".to_string()
        ]
    );
}

#[test]
fn control_plane_errors_fail_the_test() {
    let o = run("add nosuch k:1 a()\npacket 1 01\nexpect 2 01\n");
    assert!(o.reason().contains("no table `nosuch`"), "{}", o.reason());
    let o = run("setdefault fwd nosuch()\n");
    assert!(o.reason().contains("no action `nosuch`"), "{}", o.reason());
    let o = run("setdefault fwd to_port(port:0x200)\n");
    assert!(
        o.reason().contains("does not fit in 9 bits"),
        "{}",
        o.reason()
    );
    let o = run("setdefault fwd to_port(prt:3)\n");
    assert!(o.reason().contains("no parameter `prt`"), "{}", o.reason());
    let o = run("check_counter c(0) packets == 0\n");
    assert!(
        o.reason().contains("no counter array `c`"),
        "{}",
        o.reason()
    );
    let o = run("register_write r 0 1\n");
    assert!(
        o.reason().contains("no register array `r`"),
        "{}",
        o.reason()
    );
}

#[test]
fn a_refused_program_fails_with_the_json_path() {
    let o = match run_texts("{\"header_types\": 3}", "packet 1 00\n") {
        Ok(o) => o,
        Err(e) => panic!("{e}"),
    };
    match &o.failures[..] {
        [Failure::Load { reason }] => assert!(reason.contains("$."), "{reason}"),
        f => panic!("{f:?}"),
    }
}

#[test]
fn bad_input_is_an_error() {
    assert!(matches!(
        run_texts("{not json", "packet 1 00\n"),
        Err(Error::NotJson { .. })
    ));
    match run_texts(TO_PORT_2, "packet 1 00\npacket one 00\n") {
        Err(e @ Error::Stf { .. }) => {
            assert!(
                e.to_string()
                    .starts_with("TEST.stf:2: expected a port number"),
                "{e}"
            )
        }
        r => panic!("{r:?}"),
    }
}
