//! The intercept end to end against the fairshare switch on loopback: a
//! DC switch and an edge switch in one process, each with its P4Runtime
//! server, each with its controller over real gRPC.
//!
//! * Latency: a server's Path for a new flow enters the DC switch on the
//!   server's port, is punted to the controller (packet-in), admitted —
//!   release out (packet-out), aggregate meter shrunk (write, acknowledged),
//!   flow meter installed (write, acknowledged) — and forwarded; the time is
//!   from the Path entering the switch to the forwarded Path leaving its
//!   uplink, taken from the lab's captures. One flow at a time.
//! * Throughput: `FAIRSHARE_BENCH_FLOWS` requests at once; admitted flows
//!   per second from the first request to the last server's Resv.
//!
//! The switches' P4Runtime servers run on the controllers' runtime, as
//! `fairshare demo` runs them; `FAIRSHARE_BENCH_SERVERS=own` gives each
//! its own runtime thread instead (a hand-off between threads at every
//! request and answer).
//!
//! Run with `cargo bench -p fairshare-controller --bench intercept`.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use fairshare_controller::demo::{Demo, DemoConfig};
use fairshare_controller::deploy::Deployment;
use fairshare_controller::lab::Backend;
use fairshare_controller::sim::SimConfig;
use fairshare_rsvp::{Body, Message};

const POLICY: &str = r#"
network "bench" {
  recalc every 3600s
  sizes { flows 16384 }
  datacenter dc1 {
    switch dc1-sw { cpu-port 255  device-id 1 }
    uplink 400Gbps
    server s1 { address 10.0.0.1  port 1  capacity 200Gbps  response 1ms }
    server s2 { address 10.0.0.2  port 2  capacity 200Gbps  response 1ms }
  }
  edge e1 {
    switch e1-sw { cpu-port 255  device-id 2 }
    clients 192.0.2.0/24, 198.51.100.0/24
    subscribers 100
  }
  link e1 <-> dc1 { capacity 400Gbps  distance 2ms }
  service web { vip 203.0.113.1 tcp/80  at dc1  flow-rate 1Mbps }
}
"#;

fn rsvp(frame: &[u8]) -> Option<Message> {
    let v = fairshare_rsvp::frame::parse_frame(frame).ok()?;
    Message::parse(v.rsvp).ok()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn start() -> Demo {
    let (_, policy) = fairshare_policy::load(POLICY).expect("the bench policy checks");
    let mut deployment = Deployment::build(policy).expect("the bench policy compiles");
    // The compiler's punt meter (1,000 packets/s) would cap the rate.
    deployment.set_punt_rate(50_000);
    let demo = Demo::start(
        deployment,
        DemoConfig {
            refresh: Duration::from_secs(30),
            tick: Duration::from_millis(100),
            sim: SimConfig {
                hold: Duration::from_secs(3600),
                refresh: Duration::from_secs(30),
                payload: 100,
            },
            sim_tick: Duration::from_secs(5),
            backend: match std::env::var("FAIRSHARE_BENCH_SERVERS").as_deref() {
                Ok("own") => Backend::Fairshare,
                _ => Backend::FairshareShared,
            },
            ..DemoConfig::default()
        },
    )
    .await
    .expect("the demo starts");
    // Only the reservations: no data packets between the intercepts.
    demo.sim.set_data(false);
    demo.wait_for(Duration::from_secs(10), |r| {
        r.routes
            .iter()
            .all(|x| x.offered_bps > 0 && x.edge_offered_bps == x.offered_bps)
    })
    .await
    .expect("the offer reaches the edge");
    demo
}

async fn latency(n: usize) {
    let demo = start().await;
    for i in 0..n {
        let (client, port) = demo.request(0, 0).expect("a request");
        let deadline = Instant::now() + Duration::from_secs(5);
        // Answered when the server has a Resv or a PathErr for it.
        loop {
            let c = demo.sim.counts();
            if c.admitted + c.rejected > i as u64 {
                break;
            }
            assert!(Instant::now() < deadline, "no answer for {client}:{port}");
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
    }
    let lab = demo.lab();
    let node = lab.node("dc1-sw").expect("dc1-sw");
    let mut entered = std::collections::BTreeMap::new();
    for port in [1u32, 2] {
        for c in lab.captured("dc1-sw", port) {
            if c.out {
                continue;
            }
            if let Some(m) = rsvp(&c.frame) {
                if let (Body::Path(_), IpAddr::V4(d)) = (&m.body, m.session().dest) {
                    entered.entry((d, m.session().port)).or_insert(c.at);
                }
            }
        }
    }
    let mut lat = Vec::new();
    // The two parts: Path in to the release out (punt, packet-in, agent,
    // packet-out), and the release out to the forwarded Path out (two
    // acknowledged writes and a packet-out).
    let (mut to_release, mut to_forward) = (Vec::new(), Vec::new());
    let mut last_release = None;
    let mut seen = std::collections::BTreeSet::new();
    for c in lab.captured("dc1-sw", node.uplink_port) {
        if !c.out {
            continue;
        }
        if let Some(m) = rsvp(&c.frame) {
            if let (Body::Path(_), IpAddr::V4(d)) = (&m.body, m.session().dest) {
                let key = (d, m.session().port);
                if m.session().protocol != 6 {
                    last_release = Some(c.at);
                } else if seen.insert(key) {
                    if let Some(t0) = entered.get(&key) {
                        lat.push(c.at.saturating_sub(*t0));
                        if let Some(r) = last_release.filter(|r| r >= t0) {
                            to_release.push(r.saturating_sub(*t0));
                            to_forward.push(c.at.saturating_sub(r));
                        }
                    }
                }
            }
        }
    }
    lat.sort();
    to_release.sort();
    to_forward.sort();
    // The same intercepts as the DC controller saw them: its packet-in of
    // the server's Path to its packet-out of the forwarded Path.
    let mut at_controller = demo
        .controllers
        .iter()
        .find(|c| c.switch == "dc1-sw")
        .expect("the DC controller")
        .status
        .intercept_latencies();
    at_controller.sort();
    let r = demo.stop().await;
    assert_eq!(
        at_controller.len(),
        n,
        "every intercept timed by the controller"
    );
    assert_eq!(lat.len(), n, "every flow's Path forwarded once");
    assert_eq!(r.invariant_violations, 0);
    println!(
        "intercept latency, server's Path in to forwarded Path out (incl. release, two acknowledged writes): {n} flows, p50 {:?}, p90 {:?}, p99 {:?}, max {:?}",
        percentile(&lat, 0.5),
        percentile(&lat, 0.9),
        percentile(&lat, 0.99),
        lat[lat.len() - 1]
    );
    println!(
        "intercept latency at the controller, packet-in of the server's Path to packet-out of the forwarded Path (release out, two acknowledged writes between): p50 {:?}, p90 {:?}, p99 {:?}, max {:?}",
        percentile(&at_controller, 0.5),
        percentile(&at_controller, 0.9),
        percentile(&at_controller, 0.99),
        at_controller[at_controller.len() - 1]
    );
    if !to_release.is_empty() {
        println!(
            "  of which Path in to release out p50 {:?} p99 {:?}; release out to forwarded Path out p50 {:?} p99 {:?}",
            percentile(&to_release, 0.5),
            percentile(&to_release, 0.99),
            percentile(&to_forward, 0.5),
            percentile(&to_forward, 0.99)
        );
    }
}

async fn throughput(n: usize) {
    let demo = start().await;
    let t = Instant::now();
    for _ in 0..n {
        demo.request(0, 0).expect("a request");
    }
    let injected = t.elapsed();
    let done = demo
        .wait_for(Duration::from_secs(120), |r| {
            r.sim.admitted + r.sim.rejected >= n as u64
        })
        .await
        .expect("every request answered within 120 s");
    let took = t.elapsed();
    let r = demo.stop().await;
    assert_eq!(done.sim.rejected, 0, "the share has room for every flow");
    assert_eq!(r.invariant_violations, 0);
    println!(
        "admitted flows end to end, one DC controller and one edge controller: {n} requests at once (injected in {:.3} s), all admitted in {:.3} s = {:.0} flows/s",
        injected.as_secs_f64(),
        took.as_secs_f64(),
        n as f64 / took.as_secs_f64()
    );
}

fn main() {
    // The controllers run on this runtime: two worker threads (the
    // default), as `fairshare controller` and `fairshare demo` run them,
    // or FAIRSHARE_BENCH_RT=one for one thread.
    let rt = match std::env::var("FAIRSHARE_BENCH_RT").as_deref() {
        Ok("one") => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        _ => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build(),
    }
    .expect("a runtime");
    rt.block_on(latency(env("FAIRSHARE_BENCH_LATENCY_FLOWS", 1000)));
    rt.block_on(throughput(env("FAIRSHARE_BENCH_FLOWS", 4000)));
}
