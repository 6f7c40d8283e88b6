//! The controllers end to end on fairshare switches: real P4Runtime over
//! loopback, real RSVP frames through the switches' CPU ports, the lab's
//! links and simulated hosts.

use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use fairshare_controller::demo::{first_overreservation, Demo, DemoConfig, Report};
use fairshare_controller::deploy::Deployment;
use fairshare_controller::sim::{FlowState, SimConfig};
use fairshare_p4rt::EntityKind;
use fairshare_rsvp::{Body, Message};

/// One DC, one edge, a 1 Gb/s route and 250 Mb/s flows: four fit.
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

/// The ids of `route_meter` and `flows` in a switch's P4Info, for
/// replaying its writes.
fn program_ids(plan: &fairshare_controller::deploy::SwitchPlan) -> Result<(u32, u32)> {
    let index = fairshare_p4rt::P4InfoIndex::new(plan.pipeline.p4info.clone())?;
    let meter = index
        .id(EntityKind::Meter, "Ingress.route_meter")
        .context("route_meter")?;
    let flows = index
        .id(EntityKind::Table, "Ingress.flows")
        .context("flows")?;
    Ok((meter, flows))
}

fn deployment(src: &str) -> Result<Deployment> {
    let (_, policy) = fairshare_policy::load(src).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    Ok(Deployment::build(policy)?)
}

fn config(hold: Duration) -> DemoConfig {
    DemoConfig {
        refresh: Duration::from_millis(300),
        tick: Duration::from_millis(20),
        sim: SimConfig {
            hold,
            refresh: Duration::from_millis(300),
            payload: 200,
        },
        sim_tick: Duration::from_millis(50),
        ..DemoConfig::default()
    }
}

fn route<'a>(
    r: &'a Report,
    dc: &str,
    edge: &str,
) -> Result<&'a fairshare_controller::demo::RouteLine> {
    r.routes
        .iter()
        .find(|x| x.dc == dc && x.edge == edge)
        .with_context(|| format!("no route {dc} → {edge} in {r:?}"))
}

/// Waits until the edge holds every route's offer.
async fn offers_reached(demo: &Demo) -> Result<()> {
    demo.wait_for(Duration::from_secs(5), |r| {
        !r.routes.is_empty()
            && r.routes
                .iter()
                .all(|x| x.edge_offered_bps == x.offered_bps && x.offered_bps > 0)
    })
    .await
    .map(|_| ())
    .with_context(|| format!("the offers never reached the edge: {:?}", demo.report()))
}

/// Makes a request and waits until its server has an answer.
async fn request(demo: &Demo, edge: usize, service: usize) -> Result<FlowState> {
    let (client, port) = demo.request(edge, service).context("request")?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let f = demo
            .sim
            .flows()
            .into_iter()
            .find(|f| f.client == client && f.client_port == port)
            .context("the flow")?;
        if f.state != FlowState::Pending {
            return Ok(f.state);
        }
        if tokio::time::Instant::now() > deadline {
            bail!(
                "no answer for {client}:{port}: {f:?}, report {:?}",
                demo.report()
            );
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admission_until_the_share_is_exhausted_then_patherr_and_teardown_gives_it_back(
) -> Result<()> {
    let deployment = deployment(TINY)?;
    let share = deployment.shares.get(0, 0).context("the route's share")?;
    ensure!(share == 1_000_000_000, "share {share}");
    let demo = Demo::start(deployment, config(Duration::from_secs(3))).await?;
    // The offer reaches the edge.
    offers_reached(&demo).await?;

    let mut verdicts = Vec::new();
    for _ in 0..5 {
        verdicts.push(request(&demo, 0, 0).await?);
        // After every exchange, both ends agree.
        let r = demo
            .wait_for(Duration::from_secs(3), |r| {
                !r.routes.is_empty() && r.routes.iter().all(|x| x.tally_equal)
            })
            .await
            .with_context(|| format!("tallies differ: {:?}", demo.report()))?;
        ensure!(r.invariant_violations == 0);
    }
    ensure!(
        verdicts[..4].iter().all(|v| *v == FlowState::Admitted)
            && verdicts[4] == FlowState::Rejected,
        "four 250 Mb/s flows fit a 1 Gb/s share, the fifth gets a PathErr: {verdicts:?}"
    );
    let r = demo.report();
    let line = route(&r, "dc1", "e1")?;
    ensure!(
        line.used_bps == share && line.edge_used_bps == share,
        "{line:?}"
    );
    ensure!(line.admitted == 4 && line.rejected == 1, "{line:?}");

    // Every write either controller made kept the route within its offer.
    for sw in ["dc1-sw", "e1-sw"] {
        let plan = demo.deployment.switch(sw)?;
        let (meter, flows) = program_ids(plan)?;
        let writes = demo.writes(sw);
        ensure!(writes.len() > 4, "{sw}: {} writes", writes.len());
        ensure!(
            first_overreservation(&writes, meter, flows, |c| (c == 0).then_some(share)).is_none(),
            "{sw} reserved more than the share"
        );
    }

    // On the DC's uplink, each admitted flow's Path leaves behind the
    // release that makes room for it.
    let uplink = demo.lab().node("dc1-sw").context("dc1-sw")?.uplink_port;
    let out: Vec<Message> = demo
        .lab()
        .captured("dc1-sw", uplink)
        .into_iter()
        .filter(|c| c.out)
        .filter_map(|c| {
            let v = fairshare_rsvp::frame::parse_frame(&c.frame).ok()?;
            Message::parse(v.rsvp).ok()
        })
        .collect();
    let flow_paths: Vec<usize> = out
        .iter()
        .enumerate()
        .filter(|(_, m)| matches!(&m.body, Body::Path(p) if p.session.protocol == 6))
        .map(|(i, _)| i)
        .collect();
    ensure!(
        flow_paths.len() >= 4,
        "flow Paths forwarded: {}",
        flow_paths.len()
    );
    let rate_of = |m: &Message| match &m.body {
        Body::Path(p) => p
            .sender
            .as_ref()
            .map(|s| (s.tspec.rate as f64 * 8.0).round() as u64),
        _ => None,
    };
    let mut seen = std::collections::BTreeSet::new();
    for &i in &flow_paths {
        let dest = out[i].session().dest;
        if !seen.insert(dest) {
            continue; // a refresh of an already admitted flow
        }
        let before = out[..i]
            .iter()
            .rev()
            .find(|m| matches!(&m.body, Body::Path(p) if p.session.protocol != 6))
            .context("no aggregate Path before a flow's Path")?;
        let n = seen.len() as u64;
        let expected = share - n * 250_000_000;
        let got = rate_of(before).context("a release without a rate")?;
        ensure!(
            got.abs_diff(expected) <= 8,
            "the release ahead of flow {n} announces {got} b/s, expected {expected}"
        );
    }

    // The flows end after their hold time: the share comes back.
    let r = demo
        .wait_for(Duration::from_secs(10), |r| {
            r.routes
                .iter()
                .all(|x| x.used_bps == 0 && x.edge_used_bps == 0)
        })
        .await
        .with_context(|| format!("the share did not come back: {:?}", demo.report()))?;
    ensure!(r.invariant_violations == 0);
    ensure!(
        request(&demo, 0, 0).await? == FlowState::Admitted,
        "room again after teardown"
    );
    let last = demo.stop().await;
    ensure!(
        last.invariant_violations == 0 && last.undeliverable_frames == 0,
        "{last:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_switch_restart_mid_run_is_resynchronised_without_over_admission() -> Result<()> {
    let deployment = deployment(TINY)?;
    let share = deployment.shares.get(0, 0).context("the route's share")?;
    let demo = Demo::start(deployment, config(Duration::from_secs(60))).await?;
    offers_reached(&demo).await?;
    for _ in 0..2 {
        ensure!(request(&demo, 0, 0).await? == FlowState::Admitted);
    }
    let before = demo.status("dc1-sw").context("dc1-sw")?;

    demo.restart_switch("dc1-sw")?;
    let after = {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let s = demo.status("dc1-sw").context("dc1-sw")?;
            if s.reconnects > before.reconnects && s.primary {
                break s;
            }
            ensure!(
                tokio::time::Instant::now() < deadline,
                "no reconnect: {s:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    ensure!(
        after.pipeline_pushes > before.pipeline_pushes,
        "the restarted switch got its pipeline again: {after:?}"
    );
    // The resync put back the rules and both flows with their meters:
    // two more fit, the fifth does not.
    let mut verdicts = Vec::new();
    for _ in 0..3 {
        verdicts.push(request(&demo, 0, 0).await?);
    }
    ensure!(
        verdicts
            == [
                FlowState::Admitted,
                FlowState::Admitted,
                FlowState::Rejected
            ],
        "{verdicts:?}"
    );
    let plan = demo.deployment.switch("dc1-sw")?;
    let (meter, flows) = program_ids(plan)?;
    let node = demo.lab().node("dc1-sw").context("node")?;
    // What the restarted switch holds: the four flows, and the aggregate
    // shrunk to nothing — read back over P4Runtime.
    let mut client = fairshare_p4rt::proto::p4::v1::p4_runtime_client::P4RuntimeClient::connect(
        format!("http://{}", node.addr),
    )
    .await?;
    use fairshare_p4rt::proto::p4::v1 as p4;
    let mut stream = client
        .read(p4::ReadRequest {
            device_id: plan.device_id,
            entities: vec![p4::Entity {
                entity: Some(p4::entity::Entity::TableEntry(p4::TableEntry {
                    table_id: flows,
                    ..Default::default()
                })),
            }],
            ..Default::default()
        })
        .await?
        .into_inner();
    let mut held = 0;
    while let Some(r) = stream.message().await? {
        held += r.entities.len();
    }
    ensure!(held == 4, "{held} flow entries on the restarted switch");
    ensure!(
        first_overreservation(&demo.writes("dc1-sw"), meter, flows, |c| (c == 0)
            .then_some(share))
        .is_none(),
        "over-reservation in dc1-sw's writes"
    );
    let last = demo.stop().await;
    ensure!(last.invariant_violations == 0, "{last:?}");
    Ok(())
}

/// Two DCs serving one edge, 1 Gb/s each, 250 Mb/s flows.
const TWO: &str = r#"
network "two" {
  recalc every 60s
  datacenter d1 {
    switch d1-sw { cpu-port 255  device-id 1 }
    uplink 10Gbps
    server a { address 10.1.0.1  port 1  capacity 5Gbps  response 1ms }
  }
  datacenter d2 {
    switch d2-sw { cpu-port 255  device-id 2 }
    uplink 10Gbps
    server b { address 10.2.0.1  port 1  capacity 5Gbps  response 1ms }
  }
  edge e1 {
    switch e1-sw { cpu-port 255  device-id 3 }
    clients 192.0.2.0/24
    subscribers 100
  }
  router core
  link e1 <-> core { capacity 10Gbps  distance 1ms }
  link core <-> d1 { capacity 1Gbps  distance 1ms }
  link core <-> d2 { capacity 1Gbps  distance 2ms }
  service web { vip 203.0.113.1 tcp/80  at d1, d2  flow-rate 250Mbps }
}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edge_with_two_offers_moves_to_the_dc_with_room() -> Result<()> {
    let deployment = deployment(TWO)?;
    ensure!(deployment.shares.get(0, 0) == Some(1_000_000_000));
    ensure!(deployment.shares.get(1, 0) == Some(1_000_000_000));
    let demo = Demo::start(deployment, config(Duration::from_secs(60))).await?;
    demo.wait_for(Duration::from_secs(5), |r| {
        r.routes.len() == 2
            && r.routes
                .iter()
                .all(|x| x.edge_offered_bps == x.offered_bps && x.offered_bps > 0)
    })
    .await
    .with_context(|| format!("the offers never reached the edge: {:?}", demo.report()))?;
    let mut verdicts = Vec::new();
    for _ in 0..9 {
        verdicts.push(request(&demo, 0, 0).await?);
        demo.wait_for(Duration::from_secs(3), |r| {
            !r.routes.is_empty() && r.routes.iter().all(|x| x.tally_equal)
        })
        .await
        .with_context(|| format!("tallies differ: {:?}", demo.report()))?;
    }
    let r = demo.report();
    let (d1, d2) = (route(&r, "d1", "e1")?, route(&r, "d2", "e1")?);
    ensure!(
        d1.flows == 4 && d2.flows == 4,
        "the edge spreads its requests over both offers until both are full: {d1:?} {d2:?}"
    );
    ensure!(
        verdicts
            .iter()
            .filter(|v| **v == FlowState::Admitted)
            .count()
            == 8
            && verdicts[8] == FlowState::Rejected,
        "{verdicts:?}"
    );
    let servers: std::collections::BTreeSet<_> = demo
        .sim
        .flows()
        .iter()
        .filter_map(|f| f.dc_switch.clone())
        .collect();
    ensure!(servers.len() == 2, "requests reached both DCs: {servers:?}");
    ensure!(demo.stop().await.invariant_violations == 0);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recalculation_reoffers_changed_shares_but_never_below_what_is_used() -> Result<()> {
    let dir = std::env::temp_dir().join(format!("fairshare-recalc-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let file = dir.join("tiny.fsp");
    std::fs::write(&file, TINY)?;
    let deployment = deployment(TINY)?;
    let mut cfg = config(Duration::from_secs(60));
    cfg.recalc = Some(Duration::from_millis(100));
    cfg.policy_file = Some(file.clone());
    let demo = Demo::start(deployment, cfg).await?;
    demo.wait_for(Duration::from_secs(5), |r| {
        !r.routes.is_empty() && r.routes.iter().all(|x| x.edge_offered_bps == 1_000_000_000)
    })
    .await
    .context("the offer never reached the edge")?;
    for _ in 0..2 {
        ensure!(request(&demo, 0, 0).await? == FlowState::Admitted);
    }
    // The link shrinks to 600 Mb/s: 500 Mb/s are used, so the share drops
    // to 600 Mb/s, and only 100 Mb/s are left.
    std::fs::write(
        &file,
        TINY.replace("capacity 1Gbps  distance", "capacity 600Mbps  distance"),
    )?;
    demo.wait_for(Duration::from_secs(5), |r| {
        r.routes
            .iter()
            .all(|x| x.offered_bps == 600_000_000 && x.edge_offered_bps == 600_000_000)
    })
    .await
    .with_context(|| format!("the smaller share was not re-offered: {:?}", demo.report()))?;
    ensure!(request(&demo, 0, 0).await? == FlowState::Rejected);
    // Below what is used: the share stays at the 500 Mb/s in use.
    std::fs::write(
        &file,
        TINY.replace("capacity 1Gbps  distance", "capacity 300Mbps  distance"),
    )?;
    demo.wait_for(Duration::from_secs(5), |r| {
        r.routes
            .iter()
            .all(|x| x.offered_bps == 500_000_000 && x.edge_offered_bps == 500_000_000)
    })
    .await
    .with_context(|| format!("the share went below what is used: {:?}", demo.report()))?;
    // And back up to 2 Gb/s: room for six more.
    std::fs::write(
        &file,
        TINY.replace("capacity 1Gbps  distance", "capacity 2Gbps  distance"),
    )?;
    demo.wait_for(Duration::from_secs(5), |r| {
        r.routes
            .iter()
            .all(|x| x.offered_bps == 2_000_000_000 && x.tally_equal)
    })
    .await
    .with_context(|| format!("the larger share was not re-offered: {:?}", demo.report()))?;
    ensure!(request(&demo, 0, 0).await? == FlowState::Admitted);
    let plan = demo.deployment.switch("dc1-sw")?;
    let (meter, flows) = program_ids(plan)?;
    // The largest offer ever made bounds every write.
    ensure!(
        first_overreservation(&demo.writes("dc1-sw"), meter, flows, |c| (c == 0)
            .then_some(2_000_000_000))
        .is_none()
    );
    ensure!(demo.stop().await.invariant_violations == 0);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_dc_controller_rebuilds_its_tally_from_the_servers_refreshes() -> Result<()> {
    let deployment = deployment(TINY)?;
    let share = deployment.shares.get(0, 0).context("the route's share")?;
    let mut demo = Demo::start(deployment, config(Duration::from_secs(60))).await?;
    offers_reached(&demo).await?;
    for _ in 0..3 {
        ensure!(request(&demo, 0, 0).await? == FlowState::Admitted);
    }
    demo.restart_controller("dc1-sw").await?;
    // Within three refresh periods (300 ms) of the servers' Paths, the new
    // controller holds the three flows again and both ends agree.
    let r = demo
        .wait_for(Duration::from_secs(3), |r| {
            r.routes.len() == 1
                && !r.routes.is_empty()
                && r.routes.iter().all(|x| {
                    x.used_bps == 750_000_000 && x.edge_used_bps == 750_000_000 && x.tally_equal
                })
        })
        .await
        .with_context(|| format!("no convergence after the restart: {:?}", demo.report()))?;
    ensure!(r.routes[0].flows == 3);
    ensure!(request(&demo, 0, 0).await? == FlowState::Admitted);
    ensure!(
        request(&demo, 0, 0).await? == FlowState::Rejected,
        "still no over-admission"
    );
    let plan = demo.deployment.switch("dc1-sw")?;
    let (meter, flows) = program_ids(plan)?;
    ensure!(
        first_overreservation(&demo.writes("dc1-sw"), meter, flows, |c| (c == 0)
            .then_some(share))
        .is_none()
    );
    ensure!(demo.stop().await.invariant_violations == 0);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rsvp_flood_is_capped_by_the_punt_meter_and_admissions_go_on() -> Result<()> {
    let deployment = deployment(TINY)?;
    let demo = Demo::start(deployment, config(Duration::from_secs(60))).await?;
    offers_reached(&demo).await?;
    let before = demo.status("dc1-sw").context("dc1-sw")?.packet_ins;
    // 5,000 RSVP frames (well-formed IPv4, garbage RSVP) from a server
    // port as fast as they can be injected.
    let flood = fairshare_packet::build::l4_frame(
        [[0x02, 0, 0, 1, 0, 1], [0x02, 1, 10, 0, 0, 1]],
        ["10.0.0.1".parse()?, "192.0.2.9".parse()?],
        46,
        [0, 0],
        64,
        &[0x10, 0x01, 0, 0, 0x40, 0, 0, 8],
    );
    let lab = demo.lab();
    let t = std::time::Instant::now();
    let n = 5000;
    for _ in 0..n {
        lab.inject("dc1-sw", 1, &flood);
    }
    let flood_time = t.elapsed();
    ensure!(
        request(&demo, 0, 0).await? == FlowState::Admitted,
        "admissions go on"
    );
    let plan = demo.deployment.switch("dc1-sw")?;
    let node = demo.lab().node("dc1-sw").context("node")?;
    let drops = fairshare_controller::demo::read_drops(
        &node.addr.to_string(),
        plan.device_id,
        &plan.pipeline,
    )
    .await
    .map_err(anyhow::Error::msg)?;
    let dropped = drops.get("DROP_RSVP_FLOOD").copied().unwrap_or(0);
    let reached = demo.status("dc1-sw").context("dc1-sw")?.packet_ins - before;
    // The punt meter commits 1,000 packets/s with a peak of 2,000: what
    // reaches the controller is bounded by the peak over the flood's time
    // plus the bursts.
    let bound = (2000.0 * flood_time.as_secs_f64()) as u64 + 2 * 200 + 10;
    ensure!(
        dropped > 0 && reached <= bound && dropped + reached >= n as u64,
        "{n} frames in {flood_time:?}: {dropped} dropped, {reached} reached the controller (bound {bound})"
    );
    ensure!(demo.stop().await.invariant_violations == 0);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_requests_is_admitted_up_to_the_share_and_no_further() -> Result<()> {
    // Twelve requests at once, through the DC's and the edge's batched
    // writes: four fit, eight get a PathErr.
    let deployment = deployment(TINY)?;
    let share = deployment.shares.get(0, 0).context("the route's share")?;
    let demo = Demo::start(deployment, config(Duration::from_secs(60))).await?;
    offers_reached(&demo).await?;
    for _ in 0..12 {
        demo.request(0, 0).context("request")?;
    }
    let r = demo
        .wait_for(Duration::from_secs(10), |r| {
            r.sim.admitted + r.sim.rejected == 12 && r.routes.iter().all(|x| x.tally_equal)
        })
        .await
        .with_context(|| format!("the burst did not settle: {:?}", demo.report()))?;
    ensure!(r.sim.admitted == 4 && r.sim.rejected == 8, "{:?}", r.sim);
    let batched: u64 = ["dc1-sw", "e1-sw"]
        .iter()
        .filter_map(|s| demo.status(s))
        .map(|s| s.batched_calls)
        .sum();
    println!("agent calls carried out in shared batches: {batched}");
    let line = route(&r, "dc1", "e1")?;
    ensure!(
        line.used_bps == share && line.edge_used_bps == share,
        "{line:?}"
    );
    for sw in ["dc1-sw", "e1-sw"] {
        let plan = demo.deployment.switch(sw)?;
        let (meter, flows) = program_ids(plan)?;
        ensure!(
            first_overreservation(&demo.writes(sw), meter, flows, |c| (c == 0)
                .then_some(share))
            .is_none(),
            "{sw} reserved more than the share"
        );
    }
    let last = demo.stop().await;
    ensure!(
        last.invariant_violations == 0 && last.switches.iter().all(|s| s.write_failures == 0),
        "{last:?}"
    );
    Ok(())
}
