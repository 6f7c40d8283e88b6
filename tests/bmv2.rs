//! fairshare's BMv2 JSON and rules on the real BMv2 `simple_switch`.
//!
//! The example `single.fsp` is compiled, its DC switch's pipeline is loaded
//! into `simple_switch`, the switch's rules are written through
//! `simple_switch_CLI`, and packets go in and out through pcap files. The
//! expected packets are built here independently: the request is steered to
//! the server (DNAT), the answer leaves from the VIP (SNAT), TTLs drop by one,
//! MACs are rewritten and every checksum is valid.
//!
//! BMv2 is found through `FAIRSHARE_BMV2`, then `../shared/bmv2`, then
//! `PATH`. Without it the test prints why it skips, unless
//! `FAIRSHARE_REQUIRE_BMV2=1` (set by the test command where BMv2 is
//! available), in which case it fails.

mod support;

use std::net::Ipv4Addr;
use std::path::Path;
use support::*;

#[test]
fn single_dc_switch_steers_and_rewrites_on_real_bmv2() {
    let Some(bmv2) = bmv2_or_skip() else { return };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let src = std::fs::read_to_string(root.join("examples/single.fsp")).expect("single.fsp");
    let (_, policy) = fairshare_policy::load(&src).expect("single.fsp checks");
    let topo = fairshare_alloc::Topology::build(&policy).expect("topology");
    let shares = fairshare_alloc::allocate(&topo, &policy, policy.algorithm);
    let out = fairshare_codegen::compile(&policy, &topo, &shares).expect("compiles");
    let sw = out
        .switches
        .iter()
        .find(|s| s.name == "dc1-sw")
        .expect("dc1-sw");
    let pipe = out.pipeline_of("dc1-sw").expect("pipeline");

    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bmv2-single");
    let client = Ipv4Addr::new(192, 0, 2, 5);
    let vip = Ipv4Addr::new(203, 0, 113, 1);
    let server = Ipv4Addr::new(10, 0, 0, 1); // s1: the server with the most free capacity
    let any_mac = [0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee];
    // Port 3 is the uplink (towards the client), port 1 the server s1.
    let request = tcp_frame([2, 0, 0, 1, 0, 3], any_mac, client, vip, 40000, 80, 64);
    let answer = tcp_frame([2, 0, 0, 1, 0, 1], any_mac, server, client, 80, 40000, 64);
    let out = run_bmv2(
        &bmv2,
        &dir,
        &pipe.json,
        &cli_commands(&sw.rules, &pipe.program),
        &[1, 2, 3],
        &[(1, vec![answer]), (3, vec![request])],
        2,
    );
    let port = |n: u32| {
        out.iter()
            .find(|(p, _)| *p == n)
            .map(|(_, f)| f.clone())
            .unwrap_or_default()
    };
    let (p1, p3) = (port(1), port(3));
    // The request, steered to s1; the answer, leaving from the VIP.
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
    assert_eq!(p1, vec![want_request], "port 1 (server s1)");
    assert_eq!(p3, vec![want_answer], "port 3 (uplink)");
    assert!(
        read_pcap(&dir.join("p2_out.pcap")).is_empty(),
        "nothing goes to s2"
    );
}
