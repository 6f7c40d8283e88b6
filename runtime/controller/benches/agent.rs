//! The agents' decision logic with real RSVP frames and no IO, on
//! `examples/metro.fsp`:
//! * DC admissions per second: a server's Path frame through the DC
//!   agent's `packet_in`, to the four actions (release, two writes,
//!   forwarded Path), every frame parsed and every answer encoded;
//! * DC refreshes forwarded per second (a known flow's Path again);
//! * edge admissions per second: the DC's release and forwarded Path
//!   through the edge agent (writes and Resvs out);
//! * DC teardowns per second (PathTear in, four actions out).
//!
//! Run with `cargo bench -p fairshare-controller --bench agent`.

use std::hint::black_box;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use fairshare_codegen::rules::host_mac;
use fairshare_controller::agent::{Action, Agent, Settings};
use fairshare_rsvp::frame::{FrameHeader, MacAddr};
use fairshare_rsvp::{
    Body, FilterSpec, Hop, Message, Path, PathTear, SenderDescriptor, Session, TimeValues,
    TokenBucket,
};

const METRO: &str = include_str!("../../../examples/metro.fsp");

fn server_frames(n: u32, tear: bool) -> Vec<Vec<u8>> {
    let server = Ipv4Addr::new(10, 1, 0, 11);
    (0..n)
        .map(|i| {
            let session = Session {
                dest: Ipv4Addr::new(198, 51, 100, 2 + (i % 100) as u8).into(),
                protocol: 6,
                flags: 0,
                port: 1024 + (i / 100) as u16,
            };
            let hop = Hop {
                addr: server.into(),
                lih: 0,
            };
            let sender = Some(SenderDescriptor {
                template: FilterSpec::Port {
                    addr: server.into(),
                    port: 80,
                },
                tspec: TokenBucket {
                    rate: 125.0,
                    size: 3000.0,
                    peak: f32::INFINITY,
                    min_policed_unit: 64,
                    max_packet_size: 1500,
                },
                adspec: None,
            });
            let body = if tear {
                Body::PathTear(PathTear {
                    session,
                    hop,
                    sender,
                })
            } else {
                Body::Path(Path {
                    session,
                    hop,
                    time_values: TimeValues { refresh_ms: 30_000 },
                    policy_data: vec![],
                    sender,
                })
            };
            let m = Message::new(64, body);
            FrameHeader::for_message(
                MacAddr(host_mac(server).0),
                MacAddr([2, 0, 0, 1, 0, 1]),
                server,
                Ipv4Addr::new(198, 51, 100, 2),
                &m,
            )
            .build(&m)
            .expect("frame")
        })
        .collect()
}

fn rate(what: &str, n: usize, t: Duration) -> f64 {
    let r = n as f64 / t.as_secs_f64();
    println!(
        "{what}: {n} in {:.3} s = {r:.0}/s ({:.2} us each)",
        t.as_secs_f64(),
        t.as_secs_f64() * 1e6 / n as f64
    );
    r
}

fn main() {
    let (_, policy) = fairshare_policy::load(METRO).expect("metro loads");
    let topo = fairshare_alloc::Topology::build(&policy).expect("topology");
    let shares = fairshare_alloc::allocate_default(&topo, &policy);
    let settings = Settings::default();
    let mut dc = Agent::for_switch(&policy, &shares, "dc-east", settings).expect("dc agent");
    let mut edge = Agent::for_switch(&policy, &shares, "edge-n", settings).expect("edge agent");
    let now = Duration::ZERO;
    // Room for every flow: 1 kb/s each on a share far larger than all.
    let big = vec![("east".to_string(), "north".to_string(), 1u64 << 50)];
    dc.reoffer(now, &big);
    for a in dc.start(now) {
        if let Action::PacketOut { frame, .. } = a {
            edge.packet_in(now, edge.uplink_port(), &frame);
        }
    }

    let n = 100_000u32;
    let paths = server_frames(n, false);
    let tears = server_frames(n, true);

    // DC admissions; the frames for the edge are kept aside.
    let mut to_edge: Vec<Vec<u8>> = Vec::with_capacity(2 * n as usize);
    let t = Instant::now();
    for f in &paths {
        let actions = dc.packet_in(now, 1, f);
        for a in actions {
            if let Action::PacketOut { frame, .. } = a {
                to_edge.push(frame);
            }
        }
    }
    let admit = rate(
        "DC admissions (Path in, 4 actions out)",
        n as usize,
        t.elapsed(),
    );
    let r = &dc.routes()[0];
    assert_eq!(r.flows, n as usize, "every flow admitted");

    let t = Instant::now();
    for f in &paths {
        black_box(dc.packet_in(now, 1, f));
    }
    rate("DC refreshes forwarded", n as usize, t.elapsed());

    let t = Instant::now();
    for f in &to_edge {
        black_box(edge.packet_in(now, edge.uplink_port(), f));
    }
    rate(
        "edge admissions (release + flow Path in)",
        n as usize,
        t.elapsed(),
    );
    assert_eq!(edge.routes()[0].flows, n as usize);

    let t = Instant::now();
    for f in &tears {
        black_box(dc.packet_in(now, 1, f));
    }
    rate(
        "DC teardowns (PathTear in, 4 actions out)",
        n as usize,
        t.elapsed(),
    );
    assert_eq!(dc.routes()[0].flows, 0);
    assert_eq!(dc.stats().invariant_violations, 0);
    if admit < 50_000.0 {
        println!("below the target of 50,000 admissions/s");
    }
}
