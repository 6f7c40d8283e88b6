//! Properties of the agents over random sequences: admissions, teardowns,
//! new shares and the passing of time never over-reserve a route on either
//! switch, and the two ends' tallies are equal after every exchange; no
//! frame makes an agent panic.

mod agent_support;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::Duration;

use agent_support::*;
use proptest::prelude::*;

const R: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
enum Op {
    /// A server (DC 0 east, 1 west; server index) opens flow n to an edge
    /// (0 north, 1 south) at a rate in units of 50 Mb/s.
    Open {
        dc: usize,
        server: usize,
        edge: usize,
        n: u16,
        rate: u64,
    },
    /// The k-th open flow closes.
    Close(usize),
    /// A new share for a route, in units of 100 Mb/s.
    Share { dc: usize, edge: usize, share: u64 },
    /// Time passes, in tenths of R; servers refresh every R.
    Wait(u32),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0usize..2, 0usize..3, 0usize..2, 0u16..200, 1u64..40)
            .prop_map(|(dc, server, edge, n, rate)| Op::Open { dc, server, edge, n, rate }),
        3 => (0usize..64).prop_map(Op::Close),
        1 => (0usize..2, 0usize..2, 0u64..60).prop_map(|(dc, edge, share)| Op::Share { dc, edge, share }),
        2 => (1u32..25).prop_map(Op::Wait),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn agents_never_over_reserve_and_tallies_stay_equal(
        ops in proptest::collection::vec(op(), 1..80),
    ) {
        // The harness checks every write against the offer and the tallies
        // after every exchange, and panics on a breach.
        let mut net = Net::new(METRO, &["dc-east", "dc-west", "edge-n", "edge-s"], R);
        net.start();
        let dcs = ["east", "west"];
        let pools = [servers(&net.policy, "east"), servers(&net.policy, "west")];
        let edges = ["north", "south"];
        let mut open: BTreeMap<SimFlow, (usize, SimServer)> = BTreeMap::new();
        let mut next_refresh = R;
        for op in ops {
            match op {
                Op::Open { dc, server, edge, n, rate } => {
                    let base = match edge {
                        0 => Ipv4Addr::new(198, 51, 100, 2),
                        _ => Ipv4Addr::new(198, 51, 100, 130),
                    };
                    let f = SimFlow {
                        client: Ipv4Addr::from(u32::from(base) + u32::from(n % 100)),
                        client_port: 10_000 + n,
                        protocol: 6,
                        service_port: 80,
                        rate_bps: rate * 50_000_000,
                    };
                    // A connection reaches one DC: the same client
                    // address and port are not opened at another.
                    if open
                        .iter()
                        .any(|(o, (d, _))| o.client == f.client && o.client_port == f.client_port && *d != dc)
                    {
                        continue;
                    }
                    let s = pools[dc][server % pools[dc].len()];
                    // A flow already open on another server is refused;
                    // the same one again is a refresh.
                    net.server_sends(dc, s.port, &s.path(&f, R));
                    if net.agents[dc].flows().iter().any(|(k, _, _)| {
                        k.dst == f.client && k.dst_port == f.client_port
                    }) && !open.keys().any(|o| o.client == f.client && o.client_port == f.client_port)
                    {
                        open.insert(f, (dc, s));
                    }
                }
                Op::Close(k) => {
                    if let Some((f, (dc, s))) = open.iter().nth(k % open.len().max(1)).map(|(f, s)| (*f, *s)) {
                        open.remove(&f);
                        net.server_sends(dc, s.port, &s.path_tear(&f));
                    }
                }
                Op::Share { dc, edge, share } => {
                    let used = net.agents[dc].routes()[edge].used_bps;
                    let s = vec![(dcs[dc].to_string(), edges[edge].to_string(), share * 100_000_000)];
                    let a = net.agents[dc].reoffer(net.now, &s);
                    net.take(dc, a);
                    net.pump();
                    let r = net.agents[dc].routes()[edge].clone();
                    prop_assert!(r.offered_bps >= used);
                    prop_assert!(r.offered_bps == (share * 100_000_000).max(used));
                }
                Op::Wait(tenths) => {
                    let until = net.now + R / 10 * tenths;
                    while net.now < until {
                        let t = (net.now + R / 10).min(until);
                        net.run_until(t, R / 10);
                        if net.now >= next_refresh {
                            for (f, (dc, s)) in open.clone() {
                                net.server_sends(dc, s.port, &s.path(&f, R));
                            }
                            next_refresh += R;
                        }
                    }
                }
            }
            net.assert_switches_match_agents();
            for dc in 0..2 {
                for r in net.agents[dc].routes() {
                    prop_assert_eq!(r.aggregate_bps + r.used_bps, r.offered_bps);
                }
            }
        }
    }

    #[test]
    fn no_frame_makes_an_agent_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..300),
        flips in proptest::collection::vec((0usize..200, any::<u8>()), 0..6),
        port in 0u32..12,
    ) {
        let mut net = Net::new(METRO, &["dc-east", "edge-n"], R);
        net.start();
        let web1 = servers(&net.policy, "east")[0];
        let f = SimFlow {
            client: Ipv4Addr::new(198, 51, 100, 9),
            client_port: 999,
            protocol: 6,
            service_port: 80,
            rate_bps: 1_000_000,
        };
        // Random bytes, and a real Path with some bytes changed.
        let mut mutated = web1.path(&f, R);
        for (at, v) in flips {
            let i = at % mutated.len();
            mutated[i] = v;
        }
        for frame in [&bytes, &mutated] {
            for a in 0..net.agents.len() {
                let actions = net.agents[a].packet_in(net.now, port, frame);
                net.take(a, actions);
            }
            net.check_tallies = false;
            net.pump();
        }
    }
}
