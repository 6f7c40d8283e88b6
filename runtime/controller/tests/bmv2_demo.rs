//! The demo's whole mission flow on real `simple_switch_grpc` switches —
//! one per switch of the policy, each in a network namespace of its own,
//! joined through veth pairs (`fairshare_controller::bmv2net`) — against
//! the same scripted demand on fairshare's switches: the same verdicts,
//! admissions, rejections and tallies.
//!
//! BMv2 is found through `FAIRSHARE_BMV2` (a folder with `bin/`), then
//! `../shared/bmv2` beside the workspace root, then `PATH`. Without it, or
//! without the rights to make namespaces and veth pairs, the test prints
//! `skipped: <reason>` and passes, unless `FAIRSHARE_REQUIRE_BMV2=1`, when
//! it fails.

mod common;

use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use fairshare_controller::demo::{Demo, DemoConfig, Report};
use fairshare_controller::deploy::Deployment;
use fairshare_controller::lab::Backend;
use fairshare_controller::sim::{FlowState, SimConfig};

/// One DC with two servers, one edge, a 1 Gb/s route and 250 Mb/s flows:
/// four fit.
const TINY: &str = r#"
network "tiny" {
  recalc every 60s
  datacenter dc1 {
    switch dc1-sw { cpu-port 255  device-id 1 }
    uplink 10Gbps
    server s1 { address 10.0.0.1  port 1  capacity 1Gbps  response 1ms }
    server s2 { address 10.0.0.2  port 2  capacity 1Gbps  response 1ms }
  }
  edge e1 {
    switch e1-sw { cpu-port 255  device-id 2 }
    clients 192.0.2.0/24
    subscribers 100
  }
  link e1 <-> dc1 { capacity 1Gbps  distance 2ms }
  service web { vip 203.0.113.1 tcp/80  at dc1  flow-rate 250Mbps }
}
"#;

fn skip(reason: &str) -> Result<()> {
    if std::env::var("FAIRSHARE_REQUIRE_BMV2").is_ok_and(|v| v == "1") {
        bail!("FAIRSHARE_REQUIRE_BMV2=1 but {reason}");
    }
    println!("skipped: {reason}");
    Ok(())
}

fn config(backend: Backend) -> DemoConfig {
    DemoConfig {
        refresh: Duration::from_millis(500),
        tick: Duration::from_millis(20),
        sim: SimConfig {
            hold: Duration::from_secs(60),
            refresh: Duration::from_millis(500),
            payload: 200,
        },
        sim_tick: Duration::from_millis(50),
        epoch: Some(7),
        backend,
        ..DemoConfig::default()
    }
}

/// What the comparison looks at: per route, offered and used b/s,
/// admissions, rejections and whether the tallies agree.
type Routes = Vec<(String, String, u64, u64, u64, u64, bool)>;

fn routes(r: &Report) -> Routes {
    r.routes
        .iter()
        .map(|x| {
            (
                x.dc.clone(),
                x.edge.clone(),
                x.offered_bps,
                x.used_bps,
                x.admitted,
                x.rejected,
                x.tally_equal,
            )
        })
        .collect()
}

/// Per switch: its P4Runtime server's address and the frames it sent out
/// of its uplink.
type Seen = Vec<(std::net::SocketAddr, usize)>;

/// Requests `(edge, service)` of `script` on `src`'s network, one after the
/// other, each answered before the next; then the report once the tallies
/// agree.
async fn scripted(
    src: &str,
    script: &[(usize, usize)],
    backend: Backend,
) -> Result<(Vec<FlowState>, Routes, Report, Seen)> {
    let (_, policy) = fairshare_policy::load(src).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let switches: Vec<String> = policy.switches().map(|s| s.name.clone()).collect();
    let demo = Demo::start(Deployment::build(policy)?, config(backend)).await?;
    demo.wait_for(Duration::from_secs(10), |r| {
        !r.routes.is_empty()
            && r.routes
                .iter()
                .all(|x| x.edge_offered_bps == x.offered_bps && x.offered_bps > 0)
    })
    .await
    .with_context(|| format!("the offers never reached the edge: {:?}", demo.report()))?;
    let mut verdicts = vec![];
    for &(edge, service) in script {
        verdicts.push(common::request(&demo, edge, service).await?);
    }
    let report = demo
        .wait_for(Duration::from_secs(5), |r| {
            r.routes.iter().all(|x| x.tally_equal)
        })
        .await
        .with_context(|| format!("tallies differ: {:?}", demo.report()))?;
    let full = demo.full_report().await;
    // Where the switches' P4Runtime servers were, and how many frames
    // each sent out of its uplink.
    let lab = demo.lab();
    let mut seen = vec![];
    for name in &switches {
        let node = lab.node(name).context("node")?;
        let out = lab
            .captured(name, node.uplink_port)
            .iter()
            .filter(|c| c.out)
            .count();
        seen.push((node.addr, out));
    }
    demo.stop().await;
    Ok((verdicts, routes(&report), full, seen))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mission_flow_on_simple_switch_grpc_matches_fairshares_switch() -> Result<()> {
    let Some(bin) = common::find_simple_switch_grpc() else {
        return skip("no simple_switch_grpc (FAIRSHARE_BMV2, ../shared/bmv2 or PATH)");
    };
    if let Some(why) = fairshare_controller::bmv2net::namespaces_unavailable() {
        return skip(&why);
    }
    let script = [(0, 0); 6];
    let (want_verdicts, want_routes, _, _) = scripted(TINY, &script, Backend::Fairshare).await?;
    let (verdicts, got_routes, full, seen) = scripted(TINY, &script, Backend::Bmv2(bin)).await?;
    // The switches were BMv2's, in their namespaces, and carried the
    // RSVP exchange and the flows' frames.
    for (addr, out) in &seen {
        ensure!(
            addr.to_string().starts_with("169.254."),
            "a P4Runtime server at {addr}: not a BMv2 namespace's"
        );
        ensure!(*out > 0, "no frame left a BMv2 uplink: {seen:?}");
    }
    ensure!(
        want_verdicts[..4].iter().all(|v| *v == FlowState::Admitted)
            && want_verdicts[4..].iter().all(|v| *v == FlowState::Rejected),
        "on fairshare's switch four flows fit and two are refused: {want_verdicts:?}"
    );
    ensure!(
        verdicts == want_verdicts,
        "verdicts on BMv2 {verdicts:?}, on fairshare's switch {want_verdicts:?}"
    );
    ensure!(
        got_routes == want_routes,
        "routes on BMv2 {got_routes:?}, on fairshare's switch {want_routes:?}"
    );
    ensure!(full.invariant_violations == 0, "{full:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metro_on_simple_switch_grpc_makes_the_same_choices_and_tallies() -> Result<()> {
    let Some(bin) = common::find_simple_switch_grpc() else {
        return skip("no simple_switch_grpc (FAIRSHARE_BMV2, ../shared/bmv2 or PATH)");
    };
    if let Some(why) = fairshare_controller::bmv2net::namespaces_unavailable() {
        return skip(&why);
    }
    let src = std::fs::read_to_string(common::root().join("examples/metro.fsp"))?;
    let (_, policy) = fairshare_policy::load(&src).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    // Every edge asks for every service, three rounds.
    let script: Vec<(usize, usize)> = (0..3)
        .flat_map(|_| {
            (0..policy.edges.len()).flat_map(|e| (0..policy.services.len()).map(move |s| (e, s)))
        })
        .collect();
    let (want_verdicts, want_routes, _, _) = scripted(&src, &script, Backend::Fairshare).await?;
    let (verdicts, got_routes, full, seen) = scripted(&src, &script, Backend::Bmv2(bin)).await?;
    ensure!(
        verdicts == want_verdicts,
        "verdicts on BMv2 {verdicts:?}, on fairshare's switch {want_verdicts:?}"
    );
    ensure!(
        got_routes == want_routes,
        "routes on BMv2 {got_routes:?}, on fairshare's switch {want_routes:?}"
    );
    // Both DCs carried flows: the edges chose between their offers.
    for dc in ["east", "west"] {
        ensure!(
            got_routes.iter().any(|r| r.0 == dc && r.4 > 0),
            "no flow admitted by {dc}: {got_routes:?}"
        );
    }
    ensure!(
        seen.iter()
            .all(|(a, _)| a.to_string().starts_with("169.254.")),
        "{seen:?}"
    );
    ensure!(full.invariant_violations == 0, "{full:?}");
    Ok(())
}
