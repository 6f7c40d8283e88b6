//! Differential tests: the same BMv2 JSON, rules and packets on real BMv2
//! `simple_switch` and on fairshare's switch give the same frames on every
//! port.
//!
//! For the examples and for generated policies, a DC switch and an edge
//! switch each get a set of packets that exercises every path of the
//! pipeline: steered requests (DNAT), answers (SNAT), default routes, TTL
//! expiry, a bad IPv4 checksum, RSVP punted to the CPU port, a non-IPv4
//! frame and a truncated header. simple_switch processes ports in parallel,
//! so frames are compared per port as sorted lists. Meters stay green: the
//! bursts are far larger than the traffic.
//!
//! Needs BMv2 (see `tests/support`); skips with a printed reason without it
//! unless `FAIRSHARE_REQUIRE_BMV2=1`.

mod support;

use fairshare_codegen::Output;
use fairshare_policy::model::{Policy, Protocol};
use std::net::Ipv4Addr;
use std::path::Path;
use support::*;

fn compile(src: &str) -> (Policy, Output) {
    let (_, policy) = fairshare_policy::load(src)
        .unwrap_or_else(|d| panic!("{}", fairshare_policy::render(&d, "policy", src)));
    let topo = fairshare_alloc::Topology::build(&policy).expect("topology");
    let shares = fairshare_alloc::allocate(&topo, &policy, policy.algorithm);
    let out = fairshare_codegen::compile(&policy, &topo, &shares).expect("compiles");
    (policy, out)
}

fn host(p: &fairshare_policy::model::Prefix, n: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(p.addr) + n)
}

/// Packets for a switch: (ingress port, frame), and the ports to attach.
fn packets(policy: &Policy, switch: &str) -> (Vec<u32>, Vec<(u32, Vec<u8>)>) {
    let any = [0x02, 0x11, 0x22, 0x33, 0x44, 0x55];
    let rsvp_l4: Vec<u8> = (0..36).map(|i| i as u8).collect();
    let router_alert = [0x94, 0x04, 0x00, 0x00];
    let mut out = vec![];
    if let Some((di, dc)) = policy
        .datacenters
        .iter()
        .enumerate()
        .find(|(_, d)| d.switch.name == switch)
    {
        let sw = &dc.switch;
        let up = u32::from(sw.uplink_port);
        let mut ports: Vec<u32> = dc.servers.iter().map(|s| u32::from(s.port)).collect();
        ports.extend([up, u32::from(sw.cpu_port)]);
        let services: Vec<_> = policy
            .services
            .iter()
            .filter(|s| s.at.contains(&di))
            .take(2)
            .collect();
        for (k, e) in policy.edges.iter().take(3).enumerate() {
            let client = host(&e.clients[0], 5 + k as u32);
            for s in &services {
                let l4 = match s.protocol {
                    Protocol::Tcp => {
                        tcp_frame([0; 6], [0; 6], client, s.vip, 40000 + k as u16, s.port, 64)[34..]
                            .to_vec()
                    }
                    Protocol::Udp => udp(client, s.vip, 40000 + k as u16, s.port, b"request"),
                };
                out.push((
                    up,
                    ipv4_frame(any, client, s.vip, s.protocol.number(), 64, &[], &l4, false),
                ));
                let server = &dc.servers[k % dc.servers.len()];
                let l4 = match s.protocol {
                    Protocol::Tcp => {
                        tcp_frame([0; 6], [0; 6], server.address, client, s.port, 40000, 64)[34..]
                            .to_vec()
                    }
                    Protocol::Udp => udp(server.address, client, s.port, 40000, b"answer"),
                };
                out.push((
                    u32::from(server.port),
                    ipv4_frame(
                        any,
                        server.address,
                        client,
                        s.protocol.number(),
                        64,
                        &[],
                        &l4,
                        false,
                    ),
                ));
            }
        }
        let s0 = dc.servers[0].address;
        let outside = Ipv4Addr::new(198, 18, 0, 1);
        out.push((
            u32::from(dc.servers[0].port),
            ipv4_frame(
                any,
                s0,
                outside,
                17,
                64,
                &[],
                &udp(s0, outside, 1, 2, b"x"),
                false,
            ),
        ));
        out.push((
            up,
            ipv4_frame(
                any,
                outside,
                s0,
                17,
                1,
                &[],
                &udp(outside, s0, 1, 2, b"ttl"),
                false,
            ),
        ));
        out.push((
            up,
            ipv4_frame(
                any,
                outside,
                s0,
                17,
                64,
                &[],
                &udp(outside, s0, 1, 2, b"sum"),
                true,
            ),
        ));
        out.push((
            up,
            ipv4_frame(any, outside, s0, 46, 64, &router_alert, &rsvp_l4, false),
        ));
        out.push((
            up,
            vec![0xff; 14]
                .into_iter()
                .chain([0x08, 0x06])
                .chain([0u8; 28])
                .collect(),
        ));
        out.push((
            up,
            ipv4_frame(any, outside, s0, 17, 64, &[], &[], false)[..24].to_vec(),
        ));
        return (ports, out);
    }
    let (ei, edge) = policy
        .edges
        .iter()
        .enumerate()
        .find(|(_, e)| e.switch.name == switch)
        .expect("switch");
    let sw = &edge.switch;
    let (up, cp) = (u32::from(sw.uplink_port), u32::from(edge.client_port));
    let ports = vec![cp, up, u32::from(sw.cpu_port)];
    let client = host(&edge.clients[0], 9);
    for s in policy.services.iter().take(2) {
        let l4 = udp(client, s.vip, 5000, s.port, b"req");
        out.push((cp, ipv4_frame(any, client, s.vip, 17, 64, &[], &l4, false)));
    }
    for d in policy.datacenters.iter().take(3) {
        let srv = d.servers[0].address;
        out.push((
            up,
            ipv4_frame(
                any,
                srv,
                client,
                17,
                64,
                &[],
                &udp(srv, client, 80, 5000, b"data"),
                false,
            ),
        ));
    }
    let _ = ei;
    out.push((
        up,
        ipv4_frame(
            any,
            client,
            client,
            17,
            1,
            &[],
            &udp(client, client, 1, 2, b"ttl"),
            false,
        ),
    ));
    out.push((
        cp,
        ipv4_frame(
            any,
            client,
            Ipv4Addr::new(198, 18, 0, 1),
            46,
            64,
            &router_alert,
            &rsvp_l4,
            false,
        ),
    ));
    (ports, out)
}

fn fairshare_run(
    json: &str,
    rules_json: &str,
    inputs: &[(u32, Vec<u8>)],
) -> Vec<(u32, Vec<Vec<u8>>)> {
    let mut sw = fairshare_switch::Switch::load(json).expect("the fairshare switch loads the JSON");
    let rules = fairshare_switch::rules::Rules::parse(rules_json).expect("rules read");
    fairshare_switch::rules::apply(&mut sw, &rules).expect("rules apply");
    let mut out: Vec<(u32, Vec<u8>)> = vec![];
    for (i, (port, frame)) in inputs.iter().enumerate() {
        sw.process(*port, frame, 1_000 * (i as u64 + 1), &mut |p, b| {
            out.push((p, b.to_vec()))
        });
    }
    group(out)
}

fn group(frames: Vec<(u32, Vec<u8>)>) -> Vec<(u32, Vec<Vec<u8>>)> {
    let mut by: std::collections::BTreeMap<u32, Vec<Vec<u8>>> = std::collections::BTreeMap::new();
    for (p, f) in frames {
        by.entry(p).or_default().push(f);
    }
    by.into_iter()
        .map(|(p, mut f)| {
            f.sort();
            (p, f)
        })
        .collect()
}

fn differ(name: &str, src: &str, switches: &[&str]) {
    let Some(bmv2) = bmv2_or_skip() else { return };
    let (policy, out) = compile(src);
    for switch in switches {
        let sw = out
            .switches
            .iter()
            .find(|s| &s.name == switch)
            .expect("switch");
        let pipe = out.pipeline_of(switch).expect("pipeline");
        let (ports, inputs) = packets(&policy, switch);
        let ours = fairshare_run(&pipe.json, &sw.rules_json, &inputs);
        let expected: usize = ours.iter().map(|(_, f)| f.len()).sum();
        assert!(
            expected > 0,
            "{name}/{switch}: the fairshare switch sent nothing"
        );
        let mut by_port: Vec<(u32, Vec<Vec<u8>>)> = vec![];
        for (p, f) in &inputs {
            match by_port.iter_mut().find(|(q, _)| q == p) {
                Some((_, v)) => v.push(f.clone()),
                None => by_port.push((*p, vec![f.clone()])),
            }
        }
        let commands = cli_commands(&sw.rules, &pipe.program) + &cli_meter_commands(&sw.rules);
        let dir =
            Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("differential-{name}-{switch}"));
        let theirs = run_bmv2(
            &bmv2, &dir, &pipe.json, &commands, &ports, &by_port, expected,
        );
        eprintln!(
            "{name}/{switch}: {} inputs, outputs per port here: {:?}",
            inputs.len(),
            ours.iter().map(|(p, f)| (*p, f.len())).collect::<Vec<_>>()
        );
        let theirs = group(
            theirs
                .into_iter()
                .flat_map(|(p, fs)| fs.into_iter().map(move |f| (p, f)))
                .collect(),
        );
        let mut report = String::new();
        let ports: std::collections::BTreeSet<u32> =
            theirs.iter().chain(&ours).map(|(p, _)| *p).collect();
        for p in ports {
            let on = |set: &[(u32, Vec<Vec<u8>>)]| {
                set.iter()
                    .find(|(q, _)| *q == p)
                    .map(|(_, f)| f.clone())
                    .unwrap_or_default()
            };
            // BMv2 is the reference: its packets are the expected ones.
            let d = fairshare_packet::diff_streams(&on(&theirs), &on(&ours));
            if !d.is_empty() {
                report += &format!("port {p} (expected: BMv2, got: fairshare switch):\n{d}");
            }
        }
        assert!(
            report.is_empty(),
            "{name}/{switch}: the switches differ\n{report}"
        );
    }
}

fn example(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples")
            .join(name),
    )
    .expect("example")
}

#[test]
fn single_example_on_both_switches() {
    differ("single", &example("single.fsp"), &["dc1-sw", "e1-sw"]);
}

#[test]
fn metro_example_on_both_switches() {
    differ("metro", &example("metro.fsp"), &["dc-west", "edge-h"]);
}

#[test]
fn generated_policies_on_both_switches() {
    for seed in [1, 2] {
        let src = fairshare_policy::gen::generate(3, 8, seed);
        differ(&format!("gen{seed}"), &src, &["dc0-sw", "edge1-sw"]);
    }
}
