//! The exchange of DESIGN §3 between a DC agent and edge agents of
//! `examples/metro.fsp`, with real RSVP frames: offers, admissions with
//! release-ahead, refusals, teardowns, refreshes, recalculation, steering
//! and the edge's choice of DC.

mod agent_support;

use std::net::Ipv4Addr;
use std::time::Duration;

use agent_support::*;
use fairshare_controller::agent::{wire, Action, Change, FlowKey, Role};
use fairshare_rsvp::{error_code, Body, FilterSpec, FlowDescriptors};

const R: Duration = Duration::from_secs(1);

fn east_north() -> (Net, usize, usize, Vec<SimServer>) {
    let mut net = Net::new(METRO, &["dc-east", "edge-n"], R);
    net.start();
    let servers = servers(&net.policy, "east");
    (net, 0, 1, servers)
}

fn www(net: &Net, n: u32, rate_bps: u64) -> SimFlow {
    SimFlow {
        client: client(&net.policy, "north", n),
        client_port: 40_000 + n as u16,
        protocol: 6,
        service_port: 80,
        rate_bps,
    }
}

const VIP_WWW: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 10);

#[test]
fn offers_reach_the_edge_and_both_tallies_start_equal() {
    let (net, dc, edge, _) = east_north();
    assert_eq!(net.agents[dc].role(), Role::Dc);
    // The offer went out, one aggregate Path per route of east.
    let offers: Vec<_> = net
        .log
        .iter()
        .filter(|(i, _)| *i == dc)
        .filter_map(|(_, a)| match a {
            Action::PacketOut { frame, .. } => aggregate_of(&decode(frame).2),
            _ => None,
        })
        .collect();
    let east = net.agents[dc].routes();
    assert_eq!(offers.len(), east.len());
    for ((rate, tally), r) in offers.iter().zip(&east) {
        assert_eq!(tally.offered_bps, r.offered_bps);
        assert_eq!(tally.used_bps, 0);
        // f32 bytes per second carry the rate to within its precision.
        assert!(rate.abs_diff(r.offered_bps) <= r.offered_bps / (1 << 22));
    }
    let north = net.agents[edge].routes();
    let from_east = north.iter().find(|r| r.dc == "east").expect("route");
    assert_eq!(from_east.tally_equal, Some(true));
    let from_west = north.iter().find(|r| r.dc == "west").expect("route");
    assert_eq!(from_west.tally_equal, None, "west is not running");
    // The edge answered with a Resv for the aggregate; the DC recorded it.
    let en = net.agents[dc]
        .routes()
        .into_iter()
        .find(|r| r.edge == "north")
        .expect("route");
    let resv = en.resv_bps.expect("a Resv came");
    assert!(resv.abs_diff(en.offered_bps) <= en.offered_bps / (1 << 22));
    // The edge chose the only DC whose offer it holds for www; video is
    // served by west alone, whose offer it does not hold.
    assert_eq!(net.agents[edge].choices(), vec![(VIP_WWW, "east".into())]);
    assert_eq!(
        net.switches[edge].choice.get(&VIP_WWW).map(String::as_str),
        Some("east")
    );
}

#[test]
fn an_admission_is_release_meter_flow_forward_in_that_order() {
    let (mut net, dc, edge, servers) = east_north();
    let web2 = servers[1];
    let f = www(&net, 1, 500_000_000);
    let before = net.agents[dc].routes()[0].clone();
    assert_eq!(before.edge, "north");
    let actions = net.server_sends(dc, web2.port, &web2.path(&f, R));
    let uplink = net.agents[dc].uplink_port();
    assert_eq!(actions.len(), 4, "{actions:#?}");
    let after = before.offered_bps - 500_000_000;
    // 1: the release, an aggregate Path with the reduced rate, out of the uplink.
    match &actions[0] {
        Action::PacketOut { port, frame } => {
            assert_eq!(*port, uplink);
            let (src, dst, m) = decode(frame);
            assert_eq!(src, net.agents[dc].address());
            assert_eq!(dst, net.agents[edge].address());
            let (_, tally) = aggregate_of(&m).expect("an aggregate Path");
            assert_eq!(tally.aggregate_bps(), after);
            assert_eq!((tally.used_bps, tally.flows), (500_000_000, 1));
            assert!(tally.change);
        }
        other => panic!("expected the release first, found {other:?}"),
    }
    let key = FlowKey {
        src: VIP_WWW,
        dst: f.client,
        protocol: 6,
        src_port: 80,
        dst_port: f.client_port,
    };
    // 2: the aggregate meter shrinks; 3: the flow's meter goes in.
    assert_eq!(
        actions[1],
        Action::Write(Change::RouteMeter {
            cell: before.cell,
            rate_bps: after
        })
    );
    assert_eq!(
        actions[2],
        Action::Write(Change::InstallFlow {
            key,
            cell: before.cell,
            rate_bps: 500_000_000
        })
    );
    // 4: the server's Path, forwarded with the VIP as its sender.
    match &actions[3] {
        Action::PacketOut { port, frame } => {
            assert_eq!(*port, uplink);
            let (src, dst, m) = decode(frame);
            assert_eq!((src, dst), (VIP_WWW, f.client));
            let Body::Path(p) = &m.body else {
                panic!("expected a Path, found {m:?}")
            };
            assert_eq!(ip(p.hop.addr), net.agents[dc].address());
            let s = p.sender.as_ref().expect("sender");
            assert_eq!(
                s.template,
                FilterSpec::Port {
                    addr: VIP_WWW.into(),
                    port: 80
                }
            );
            assert_eq!(wire::bucket_bps(&s.tspec), Some(500_000_000));
        }
        other => panic!("expected the forwarded Path last, found {other:?}"),
    }
    // The edge installed the flow behind a shrunk aggregate and answered
    // with Resvs for the flow and the aggregate.
    let edge_writes = &net.switches[edge].writes;
    let cell = net.agents[edge].routes()[0].cell;
    assert_eq!(
        edge_writes
            .iter()
            .filter(|w| !matches!(w, Change::ChooseDc { .. }))
            .cloned()
            .collect::<Vec<_>>(),
        vec![
            Change::RouteMeter {
                cell,
                rate_bps: after
            },
            Change::InstallFlow {
                key,
                cell,
                rate_bps: 500_000_000
            },
        ]
    );
    let resvs: Vec<_> = net
        .log
        .iter()
        .filter(|(i, _)| *i == edge)
        .filter_map(|(_, a)| match a {
            Action::PacketOut { frame, .. } => Some(decode(frame).2),
            _ => None,
        })
        .filter_map(|m| match m.body {
            Body::Resv(r) => Some(r),
            _ => None,
        })
        .collect();
    let flow_resv = resvs
        .iter()
        .find(|r| ip(r.session.dest) == f.client)
        .expect("a Resv for the flow");
    let (filter, rate) = wire::ff_single(&flow_resv.flows).expect("FF");
    assert_eq!(
        filter,
        FilterSpec::Port {
            addr: VIP_WWW.into(),
            port: 80
        }
    );
    assert_eq!(rate, Some(500_000_000));
    assert!(matches!(flow_resv.flows, FlowDescriptors::FF { .. }));
    // The DC passed the flow's Resv on to its server, as the server named it.
    let (_, port, frame) = net.to_servers.last().expect("the Resv reached web2");
    assert_eq!(*port, u32::from(web2.port));
    let (_, dst, m) = decode(frame);
    assert_eq!(dst, web2.address);
    let Body::Resv(r) = &m.body else {
        panic!("expected a Resv, found {m:?}")
    };
    assert_eq!(
        wire::ff_single(&r.flows).expect("FF").0,
        FilterSpec::Port {
            addr: web2.address.into(),
            port: 80
        }
    );
    net.assert_switches_match_agents();
}

#[test]
fn admission_until_the_share_is_exhausted_then_path_err() {
    let (mut net, dc, _, servers) = east_north();
    let web1 = servers[0];
    let rate = 500_000_000u64;
    let offered = net.agents[dc].routes()[0].offered_bps;
    let fits = offered / rate;
    assert!(fits >= 2, "the test needs a share of several flows");
    for n in 0..fits {
        let a = net.server_sends(dc, web1.port, &web1.path(&www(&net, n as u32, rate), R));
        assert!(
            matches!(a[2], Action::Write(Change::InstallFlow { .. })),
            "flow {n} admitted: {a:?}"
        );
    }
    let north = net.agents[dc].routes()[0].clone();
    assert_eq!(north.used_bps, fits * rate);
    assert_eq!(north.admitted, fits);
    // One more does not fit: a PathErr back to the server, nothing else.
    let writes_before = net.switches[dc].writes.len();
    let f = www(&net, fits as u32, rate);
    let a = net.server_sends(dc, web1.port, &web1.path(&f, R));
    assert_eq!(a.len(), 1, "{a:?}");
    let Action::PacketOut { port, frame } = &a[0] else {
        panic!("expected a PathErr, found {a:?}")
    };
    assert_eq!(*port, u32::from(web1.port));
    let (src, dst, m) = decode(frame);
    assert_eq!((src, dst), (net.agents[dc].address(), web1.address));
    let Body::PathErr(e) = &m.body else {
        panic!("expected a PathErr, found {m:?}")
    };
    assert_eq!(e.error.code, error_code::ADMISSION_CONTROL_FAILURE);
    assert_eq!(e.error.value, error_code::admission::BANDWIDTH_UNAVAILABLE);
    assert_eq!(ip(e.session.dest), f.client);
    assert_eq!(net.switches[dc].writes.len(), writes_before);
    let after = net.agents[dc].routes()[0].clone();
    assert_eq!(after.used_bps, north.used_bps);
    assert_eq!(after.rejected, 1);
    assert_eq!(net.agents[dc].stats().path_errs_sent, 1);
    // What is left still fits a smaller flow.
    let left = offered - fits * rate;
    if left >= 8_000_000 {
        let a = net.server_sends(dc, web1.port, &web1.path(&www(&net, 99, 8_000_000), R));
        assert_eq!(a.len(), 4);
    }
    net.assert_switches_match_agents();
}

#[test]
fn teardown_returns_the_share_in_reverse_order() {
    let (mut net, dc, edge, servers) = east_north();
    let web2 = servers[1];
    let initial = net.agents[dc].routes();
    let f = www(&net, 3, 500_000_000);
    net.server_sends(dc, web2.port, &web2.path(&f, R));
    let g = www(&net, 4, 250_000_000);
    net.server_sends(dc, web2.port, &web2.path(&g, R));
    let a = net.server_sends(dc, web2.port, &web2.path_tear(&f));
    let cell = initial[0].cell;
    let key = FlowKey {
        src: VIP_WWW,
        dst: f.client,
        protocol: 6,
        src_port: 80,
        dst_port: f.client_port,
    };
    assert_eq!(a.len(), 4, "{a:#?}");
    assert_eq!(a[0], Action::Write(Change::RemoveFlow { key }));
    assert_eq!(
        a[1],
        Action::Write(Change::RouteMeter {
            cell,
            rate_bps: initial[0].offered_bps - 250_000_000
        })
    );
    let Action::PacketOut { frame, .. } = &a[2] else {
        panic!("expected the grown aggregate's Path")
    };
    let (_, tally) = aggregate_of(&decode(frame).2).expect("aggregate Path");
    assert_eq!(tally.used_bps, 250_000_000);
    let Action::PacketOut { frame, .. } = &a[3] else {
        panic!("expected the PathTear")
    };
    let (src, dst, m) = decode(frame);
    assert_eq!((src, dst), (VIP_WWW, f.client));
    assert!(matches!(m.body, Body::PathTear(_)));
    // The second flow goes too: everything is back as it was.
    net.server_sends(dc, web2.port, &web2.path_tear(&g));
    let now = net.agents[dc].routes();
    for (a, b) in now.iter().zip(&initial) {
        assert_eq!(
            (a.offered_bps, a.used_bps, a.aggregate_bps, a.flows),
            (b.offered_bps, b.used_bps, b.aggregate_bps, b.flows)
        );
    }
    assert!(net.switches[dc].flows.is_empty());
    assert!(net.switches[edge].flows.is_empty());
    assert_eq!(net.agents[edge].stats().teardowns, 2);
    // A repeated PathTear changes nothing.
    let a = net.server_sends(dc, web2.port, &web2.path_tear(&g));
    assert!(a.is_empty());
    net.assert_switches_match_agents();
}

#[test]
fn a_refresh_of_a_known_flow_is_forwarded_without_readmission() {
    let (mut net, dc, _, servers) = east_north();
    let web1 = servers[0];
    let f = www(&net, 7, 100_000_000);
    net.server_sends(dc, web1.port, &web1.path(&f, R));
    let writes = net.switches[dc].writes.len();
    let a = net.server_sends(dc, web1.port, &web1.path(&f, R));
    assert_eq!(a.len(), 1);
    let Action::PacketOut { port, frame } = &a[0] else {
        panic!("expected the forwarded refresh")
    };
    assert_eq!(*port, net.agents[dc].uplink_port());
    assert!(matches!(decode(frame).2.body, Body::Path(_)));
    assert_eq!(net.switches[dc].writes.len(), writes);
    assert_eq!(net.agents[dc].routes()[0].admitted, 1);
    assert_eq!(net.agents[dc].stats().refreshes_forwarded, 1);
}

#[test]
fn reoffer_never_cuts_a_share_below_what_is_used() {
    let (mut net, dc, _, servers) = east_north();
    let web1 = servers[0];
    for n in 0..3 {
        net.server_sends(dc, web1.port, &web1.path(&www(&net, n, 500_000_000), R));
    }
    let share = |s: u64| vec![("east".to_string(), "north".to_string(), s)];
    let a = net.agents[dc].reoffer(net.now, &share(1_000_000_000));
    // The meter shrinks before the smaller aggregate is announced.
    assert!(matches!(
        a[0],
        Action::Write(Change::RouteMeter { rate_bps: 0, .. })
    ));
    assert!(matches!(a[1], Action::PacketOut { .. }));
    net.take(dc, a);
    net.pump();
    let r = net.agents[dc].routes()[0].clone();
    assert_eq!(
        (r.offered_bps, r.used_bps, r.aggregate_bps),
        (1_500_000_000, 1_500_000_000, 0)
    );
    // Nothing is left: the next flow is refused.
    let a = net.server_sends(dc, web1.port, &web1.path(&www(&net, 9, 1_000_000), R));
    assert!(matches!(
        decode(match &a[0] {
            Action::PacketOut { frame, .. } => frame,
            _ => panic!("PathErr expected"),
        })
        .2
        .body,
        Body::PathErr(_)
    ));
    // A larger share grows the aggregate; the same share changes nothing.
    let a = net.agents[dc].reoffer(net.now, &share(3_000_000_000));
    net.take(dc, a);
    net.pump();
    assert_eq!(net.agents[dc].routes()[0].offered_bps, 3_000_000_000);
    assert!(net.agents[dc]
        .reoffer(net.now, &share(3_000_000_000))
        .is_empty());
    // Shares of other DCs are not this DC's.
    let other = vec![("west".to_string(), "north".to_string(), 1)];
    assert!(net.agents[dc].reoffer(net.now, &other).is_empty());
    net.assert_switches_match_agents();
}

#[test]
fn steering_moves_a_drained_server_s_pairs_to_the_one_with_most_headroom() {
    // web1 has 8 Gb/s free, web2 10 Gb/s: the any-edge entry points at web2.
    let mut net = Net::new(METRO, &["dc-east", "edge-s", "edge-h"], R);
    net.start();
    let servers = servers(&net.policy, "east");
    let (web1, web2) = (servers[0], servers[1]);
    let flow = |net: &Net, edge: &str, n: u32| SimFlow {
        client: client(&net.policy, edge, n),
        client_port: 1000 + n as u16,
        protocol: 6,
        service_port: 80,
        rate_bps: 1_000_000_000,
    };
    let mut steers = vec![];
    for n in 0..10 {
        let edge = match n {
            0..5 => "south",
            5..9 => "harbor",
            _ => "airport",
        };
        let f = flow(&net, edge, n);
        let a = net.server_sends(0, web2.port, &web2.path(&f, R));
        assert!(
            matches!(a[2], Action::Write(Change::InstallFlow { .. })),
            "{a:?}"
        );
        steers.extend(a.into_iter().skip(4));
        if n < 9 {
            assert!(steers.is_empty(), "web2 still has room after flow {n}");
        }
    }
    // web2 is full: every (www, edge) pair of east's four routes moves to web1.
    let www_id = 1;
    let mut edges: Vec<Option<u16>> = steers
        .iter()
        .map(|a| match a {
            Action::Write(Change::Steer {
                service,
                edge,
                server,
            }) => {
                assert_eq!((*service, *server), (www_id, web1.address));
                *edge
            }
            other => panic!("expected a Steer, found {other:?}"),
        })
        .collect();
    edges.sort();
    assert_eq!(edges, vec![Some(1), Some(2), Some(3), Some(4)]);
    // A flow on web1 does not move anything back while web1 has room.
    let a = net.server_sends(0, web1.port, &web1.path(&flow(&net, "north", 20), R));
    assert_eq!(a.len(), 4);
}

#[test]
fn an_edge_chooses_among_the_offers_of_two_dcs() {
    let mut net = Net::new(METRO, &["dc-east", "dc-west", "edge-n"], R);
    net.start();
    let edge = net.agent("edge-n");
    let left = |net: &Net, dc: &str| {
        net.agents[edge]
            .routes()
            .into_iter()
            .find(|r| r.dc == dc)
            .map(|r| r.aggregate_bps)
            .expect("route")
    };
    // Both offers held: www goes to the DC with the most left, video to
    // west, the only DC that serves it.
    let most = if left(&net, "east") >= left(&net, "west") {
        "east"
    } else {
        "west"
    };
    let video = Ipv4Addr::new(203, 0, 113, 20);
    let mut choices = net.agents[edge].choices();
    choices.sort();
    assert_eq!(
        choices,
        vec![(VIP_WWW, most.to_string()), (video, "west".to_string())]
    );
    // Drain the chosen DC's route below one www flow (20 Mb/s): the choice
    // moves to the other DC.
    let dc = net.agent(&format!("dc-{most}"));
    let server = servers(&net.policy, most)[0];
    let big = (left(&net, most) / 8_000_000 - 1) * 8_000_000;
    let f = SimFlow {
        client: client(&net.policy, "north", 1),
        client_port: 5555,
        protocol: 6,
        service_port: 80,
        rate_bps: big,
    };
    net.server_sends(dc, server.port, &server.path(&f, R));
    assert!(left(&net, most) < 20_000_000);
    let other = if most == "east" { "west" } else { "east" };
    assert!(net.agents[edge]
        .choices()
        .contains(&(VIP_WWW, other.to_string())));
    assert_eq!(
        net.switches[edge].choice.get(&VIP_WWW).map(String::as_str),
        Some(other)
    );
    // Freeing the first DC again does not flap the choice back.
    net.server_sends(dc, server.port, &server.path_tear(&f));
    assert_eq!(
        net.switches[edge].choice.get(&VIP_WWW).map(String::as_str),
        Some(other)
    );
}

#[test]
fn frames_that_are_not_rsvp_are_counted_and_ignored() {
    let (mut net, dc, edge, servers) = east_north();
    let web1 = servers[0];
    let good = web1.path(&www(&net, 1, 1_000_000), R);
    let mut bad_checksum = good.clone();
    let last = bad_checksum.len() - 1;
    bad_checksum[last] ^= 0xff;
    let mut not_rsvp = good.clone();
    not_rsvp[14 + 9] = 17;
    let inputs: Vec<Vec<u8>> = vec![
        vec![],
        vec![0; 13],
        good[..30].to_vec(),
        good[..good.len() - 4].to_vec(),
        bad_checksum,
        not_rsvp,
        vec![0xff; 200],
    ];
    for (i, f) in inputs.iter().enumerate() {
        for a in [dc, edge] {
            let port = net.agents[a].uplink_port();
            assert!(
                net.agents[a].packet_in(net.now, port, f).is_empty(),
                "input {i}"
            );
        }
    }
    assert_eq!(net.agents[dc].stats().bad_frames, inputs.len() as u64);
    assert_eq!(net.agents[edge].stats().bad_frames, inputs.len() as u64);
    // A well-formed Path on a port where no server is, or from the client
    // side of an edge, is ignored.
    assert!(net.agents[dc].packet_in(net.now, 7, &good).is_empty());
    assert!(net.agents[edge].packet_in(net.now, 1, &good).is_empty());
    assert_eq!(net.agents[dc].stats().ignored, 1);
    assert_eq!(net.agents[edge].stats().ignored, 1);
}

#[test]
fn a_flow_to_no_edge_or_no_service_is_refused() {
    let (mut net, dc, _, servers) = east_north();
    let web1 = servers[0];
    let mut f = www(&net, 1, 1_000_000);
    f.client = Ipv4Addr::new(100, 64, 0, 1);
    let a = net.server_sends(dc, web1.port, &web1.path(&f, R));
    assert_eq!(a.len(), 1);
    let mut g = www(&net, 1, 1_000_000);
    g.service_port = 8080;
    let a2 = net.server_sends(dc, web1.port, &web1.path(&g, R));
    assert_eq!(a2.len(), 1);
    for a in [a, a2] {
        let Action::PacketOut { frame, .. } = &a[0] else {
            panic!("PathErr expected")
        };
        assert!(matches!(decode(frame).2.body, Body::PathErr(_)));
    }
    let s = net.agents[dc].stats();
    assert_eq!((s.no_route, s.no_service, s.path_errs_sent), (1, 1, 2));
}

#[test]
fn stopping_withdraws_offers_and_gives_them_back() {
    let (mut net, dc, edge, servers) = east_north();
    let web1 = servers[0];
    let f = www(&net, 1, 100_000_000);
    net.server_sends(dc, web1.port, &web1.path(&f, R));
    assert!(net.agents[dc].routes()[0].resv_bps.is_some());
    // The edge gives its offers back: the DC forgets the edge's Resv.
    let a = net.agents[edge].stop(net.now);
    assert_eq!(a.len(), 1, "one offer held: {a:?}");
    net.take(edge, a);
    net.pump();
    assert_eq!(net.agents[dc].routes()[0].resv_bps, None);
    // The DC withdraws its offers: the edge keeps only what flows hold.
    net.check_tallies = false;
    let a = net.agents[dc].stop(net.now);
    assert_eq!(a.len(), net.agents[dc].routes().len());
    net.take(dc, a);
    net.pump();
    let r = net.agents[edge].routes()[0].clone();
    assert_eq!(r.tally_equal, None);
    assert_eq!(
        (r.offered_bps, r.used_bps, r.aggregate_bps),
        (100_000_000, 100_000_000, 0)
    );
    // Neither refreshes any more.
    let before = net.log.len();
    net.run_until(5 * R, R / 10);
    assert!(net.log[before..].iter().all(|(_, a)| !matches!(
        a,
        Action::PacketOut { frame, .. } if aggregate_of(&decode(frame).2).is_some()
    )));
    net.assert_no_violation();
}

#[test]
fn frames_carry_the_code_generator_s_mac_addresses_and_router_alert() {
    use fairshare_codegen::rules::{host_mac, peer_mac, switch_mac};
    use fairshare_rsvp::frame::{parse_frame, MacAddr};
    let (mut net, dc, _, servers) = east_north();
    let web1 = servers[0];
    let f = www(&net, 1, 2_000_000_000);
    net.server_sends(dc, web1.port, &web1.path(&f, R));
    net.server_sends(dc, web1.port, &web1.path(&www(&net, 2, 2_000_000_000), R));
    net.run_until(2 * R, R / 10);
    net.server_sends(dc, web1.port, &web1.path_tear(&f));
    let mut checked = 0;
    for (i, a) in &net.log {
        let Action::PacketOut { port, frame } = a else {
            continue;
        };
        let sw = net
            .policy
            .switches()
            .find(|s| s.name == net.names[*i])
            .expect("switch");
        let p = u16::try_from(*port).expect("port");
        let h = parse_frame(frame).expect("frame").header;
        assert_eq!(h.src_mac, MacAddr(switch_mac(sw, p).0));
        let dst = if *port == net.agents[*i].uplink_port() {
            peer_mac(sw, p)
        } else {
            host_mac(h.dst)
        };
        assert_eq!(h.dst_mac, MacAddr(dst.0), "frame to {}", h.dst);
        let m = decode(frame).2;
        assert_eq!(h.ttl, m.send_ttl);
        assert_eq!(
            h.router_alert,
            matches!(m.body, Body::Path(_) | Body::PathTear(_))
        );
        checked += 1;
    }
    assert!(checked >= 10, "{checked} frames checked");
}

#[test]
fn the_library_s_server_flow_frames_are_admitted_and_torn_down() {
    let (mut net, dc, edge, servers) = east_north();
    let web2 = servers[1];
    let sw = net.policy.datacenters[0].switch.clone();
    let f = wire::ServerFlow {
        server: web2.address,
        service_port: 80,
        client: client(&net.policy, "north", 5),
        client_port: 3333,
        protocol: 6,
        rate_bps: 20_000_000,
    };
    let frame = f.frame(&sw, web2.port, &f.path(1000)).expect("frame");
    let a = net.server_sends(dc, web2.port, &frame);
    assert_eq!(a.len(), 4);
    assert_eq!(net.agents[edge].flows().len(), 1);
    let frame = f.frame(&sw, web2.port, &f.path_tear()).expect("frame");
    net.server_sends(dc, web2.port, &frame);
    assert!(net.agents[dc].flows().is_empty());
    assert!(net.agents[edge].flows().is_empty());
}

#[test]
fn dcs_whose_servers_share_a_subnet_get_distinct_addresses() {
    let src = r#"network "twins" {
  datacenter a {
    switch dc-a { cpu-port 255  device-id 1 }
    uplink 10Gbps
    server s1 { address 10.9.0.1  port 1  capacity 10Gbps }
  }
  datacenter b {
    switch dc-b { cpu-port 255  device-id 2 }
    uplink 10Gbps
    server s2 { address 10.9.0.2  port 1  capacity 10Gbps }
  }
  edge e { switch edge-e { cpu-port 255  device-id 3 }  clients 198.51.100.0/24  subscribers 10 }
  link e <-> a { capacity 10Gbps  distance 1ms }
  link e <-> b { capacity 10Gbps  distance 1ms }
  service web { vip 203.0.113.1 tcp/80  at a, b  flow-rate 1Mbps }
}"#;
    let (policy, _) = load(src);
    let a = wire::dc_address_in(&policy, 0);
    let b = wire::dc_address_in(&policy, 1);
    assert_eq!(
        a,
        Ipv4Addr::new(10, 9, 0, 3),
        "the first address no server holds"
    );
    assert_eq!(
        b,
        Ipv4Addr::new(10, 9, 0, 4),
        "and the next for the second DC"
    );
    // Taken alone, a would pick 10.9.0.2, which is a server of b.
    assert_eq!(
        wire::dc_address(&policy.datacenters[0]),
        Ipv4Addr::new(10, 9, 0, 2)
    );
    // In metro, both derivations agree.
    let (metro, _) = load(METRO);
    for (i, d) in metro.datacenters.iter().enumerate() {
        assert_eq!(wire::dc_address(d), wire::dc_address_in(&metro, i));
    }
    // Both offers reach the edge, each on its own route.
    let mut net = Net::new(src, &["dc-a", "dc-b", "edge-e"], R);
    net.start();
    let e = net.agent("edge-e");
    assert!(net.agents[e]
        .routes()
        .iter()
        .all(|r| r.tally_equal == Some(true)));
}
