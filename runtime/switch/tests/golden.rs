//! The single example's DC pipeline and rules, built in-process, run on
//! this switch: the same request and answer as `tests/bmv2.rs` at the
//! workspace root gives real `simple_switch` must come out the same here.
//! The expected frames are built independently, field by field.

mod common;

use common::{single_dc_switch, tcp_frame};
use fairshare_switch::Switch;
use std::net::Ipv4Addr;

fn run(sw: &mut Switch, port: u32, frame: &[u8], now_us: u64) -> Vec<(u32, Vec<u8>)> {
    let mut out = vec![];
    sw.process(port, frame, now_us, &mut |p, b| out.push((p, b.to_vec())));
    out
}

#[test]
fn single_dc_switch_steers_and_rewrites_as_real_bmv2_does() {
    let mut sw = single_dc_switch();
    let client = Ipv4Addr::new(192, 0, 2, 5);
    let vip = Ipv4Addr::new(203, 0, 113, 1);
    let server = Ipv4Addr::new(10, 0, 0, 1);
    let any_mac = [0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee];
    let request = tcp_frame([2, 0, 0, 1, 0, 3], any_mac, client, vip, 40000, 80, 64);
    let answer = tcp_frame([2, 0, 0, 1, 0, 1], any_mac, server, client, 80, 40000, 64);
    let want_request = tcp_frame(
        [2, 1, 10, 0, 0, 1],
        [2, 0, 0, 1, 0, 1],
        client,
        server,
        40000,
        80,
        63,
    );
    let want_answer = tcp_frame(
        [2, 2, 0, 1, 0, 3],
        [2, 0, 0, 1, 0, 3],
        vip,
        client,
        80,
        40000,
        63,
    );
    assert_eq!(
        run(&mut sw, 3, &request, 1_000),
        vec![(1, want_request)],
        "the request goes to s1 on port 1"
    );
    assert_eq!(
        run(&mut sw, 1, &answer, 2_000),
        vec![(3, want_answer)],
        "the answer leaves on the uplink, port 3"
    );
    assert_eq!(sw.stats().sent, 2);
}

#[test]
fn a_packet_with_a_bad_ipv4_checksum_is_flagged() {
    let mut sw = single_dc_switch();
    let mut request = tcp_frame(
        [2, 0, 0, 1, 0, 3],
        [2, 0xaa, 0, 0, 0, 1],
        Ipv4Addr::new(192, 0, 2, 5),
        Ipv4Addr::new(203, 0, 113, 1),
        40000,
        80,
        64,
    );
    request[14 + 10] ^= 0xff;
    run(&mut sw, 3, &request, 0);
    assert_eq!(sw.stats().checksum_errors, 1);
}
