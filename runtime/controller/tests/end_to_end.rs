//! The controllers end to end on fairshare switches: real P4Runtime over
//! loopback, real RSVP frames through the switches' CPU ports, the lab's
//! links and simulated hosts.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use fairshare_controller::agent::K;
use fairshare_controller::demo::{first_overreservation, Demo, DemoConfig, Report};
use fairshare_controller::deploy::Deployment;
use fairshare_controller::run::Status;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admission_until_the_share_is_exhausted_then_patherr_and_teardown_gives_it_back(
) -> Result<()> {
    let deployment = deployment(TINY)?;
    let share = deployment.shares.get(0, 0).context("the route's share")?;
    ensure!(share == 1_000_000_000, "share {share}");
    // Each flow is held long enough that the first is still up when the
    // fifth asks, however slow a loaded machine makes the five exchanges.
    let hold = Duration::from_secs(10);
    let demo = Demo::start(deployment, config(hold)).await?;
    // The offer reaches the edge.
    offers_reached(&demo).await?;

    let mut verdicts = Vec::new();
    for _ in 0..5 {
        verdicts.push(common::request(&demo, 0, 0).await?);
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
    // The DC controller timed each admission's intercept, and only those.
    let timed = demo
        .controllers
        .iter()
        .find(|c| c.switch == "dc1-sw")
        .context("the DC controller")?
        .status
        .intercept_latencies();
    ensure!(
        timed.len() == 4 && timed.iter().all(|d| *d > Duration::ZERO),
        "four intercepts timed: {timed:?}"
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
        .wait_for(hold + Duration::from_secs(10), |r| {
            r.routes
                .iter()
                .all(|x| x.used_bps == 0 && x.edge_used_bps == 0)
        })
        .await
        .with_context(|| format!("the share did not come back: {:?}", demo.report()))?;
    ensure!(r.invariant_violations == 0);
    ensure!(
        common::request(&demo, 0, 0).await? == FlowState::Admitted,
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
        ensure!(common::request(&demo, 0, 0).await? == FlowState::Admitted);
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
        verdicts.push(common::request(&demo, 0, 0).await?);
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
        verdicts.push(common::request(&demo, 0, 0).await?);
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
        ensure!(common::request(&demo, 0, 0).await? == FlowState::Admitted);
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
    ensure!(common::request(&demo, 0, 0).await? == FlowState::Rejected);
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
    ensure!(common::request(&demo, 0, 0).await? == FlowState::Admitted);
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

/// A route's tally as one controller reports it: (dc, edge, offered,
/// used, aggregate meter, flows).
fn tally(s: &Status) -> Vec<(String, String, u64, u64, u64, usize)> {
    s.routes
        .iter()
        .map(|r| {
            (
                r.dc.clone(),
                r.edge.clone(),
                r.offered_bps,
                r.used_bps,
                r.aggregate_bps,
                r.flows,
            )
        })
        .collect()
}

/// Waits until the status of `switch`'s controller satisfies `pred`.
async fn status_where(
    demo: &Demo,
    switch: &str,
    timeout: Duration,
    pred: impl Fn(&Status) -> bool,
) -> Result<Status> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let s = demo.status(switch).context("no such controller")?;
        if pred(&s) {
            return Ok(s);
        }
        ensure!(
            tokio::time::Instant::now() < deadline,
            "{switch}: the condition never held: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// The identity (match fields, in field-id order, encoded) of a `flows`
/// entry.
fn flow_identity(t: &fairshare_p4rt::proto::p4::v1::TableEntry) -> Vec<u8> {
    use prost::Message;
    let mut m = t.r#match.clone();
    m.sort_by_key(|f| f.field_id);
    m.iter().flat_map(|f| f.encode_to_vec()).collect()
}

/// The `flows` entries `switch` holds, read back over P4Runtime.
async fn flow_entries(demo: &Demo, switch: &str) -> Result<BTreeSet<Vec<u8>>> {
    use fairshare_p4rt::proto::p4::v1 as p4;
    let plan = demo.deployment.switch(switch)?;
    let (_, flows) = program_ids(plan)?;
    let node = demo.lab().node(switch).context("node")?;
    let mut client =
        p4::p4_runtime_client::P4RuntimeClient::connect(format!("http://{}", node.addr)).await?;
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
    let mut held = BTreeSet::new();
    while let Some(r) = stream.message().await? {
        for e in r.entities {
            if let Some(p4::entity::Entity::TableEntry(t)) = e.entity {
                held.insert(flow_identity(&t));
            }
        }
    }
    Ok(held)
}

/// The writes in `records` that touch one of the `flows` entries in
/// `present` (an INSERT of one already there, a MODIFY or a DELETE).
fn writes_to(
    records: &[fairshare_controller::session::WriteRecord],
    flows_table: u32,
    present: &BTreeSet<Vec<u8>>,
) -> Vec<String> {
    use fairshare_p4rt::proto::p4::v1 as p4;
    let mut out = Vec::new();
    for r in records {
        for u in &r.updates {
            if let Some(p4::entity::Entity::TableEntry(t)) =
                u.entity.as_ref().and_then(|e| e.entity.as_ref())
            {
                if t.table_id == flows_table && present.contains(&flow_identity(t)) {
                    out.push(format!("{:?} {:?}", u.r#type, t.r#match));
                }
            }
        }
    }
    out
}

/// Three flows admitted on TINY's route, both ends agreeing.
async fn three_flows(demo: &Demo) -> Result<()> {
    offers_reached(demo).await?;
    for _ in 0..3 {
        ensure!(common::request(demo, 0, 0).await? == FlowState::Admitted);
    }
    demo.wait_for(Duration::from_secs(3), |r| {
        r.routes
            .iter()
            .all(|x| x.tally_equal && x.used_bps == 750_000_000)
    })
    .await
    .with_context(|| format!("tallies differ: {:?}", demo.report()))?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_dc_controller_adopts_the_flows_it_reads_back() -> Result<()> {
    let deployment = deployment(TINY)?;
    let share = deployment.shares.get(0, 0).context("the route's share")?;
    let mut demo = Demo::start(deployment, config(Duration::from_secs(60))).await?;
    three_flows(&demo).await?;
    let before = demo.status("dc1-sw").context("dc1-sw")?;
    let present = flow_entries(&demo, "dc1-sw").await?;
    ensure!(present.len() == 3, "{} flow entries", present.len());
    let old_writes = demo.writes("dc1-sw");

    demo.restart_controller("dc1-sw").await?;
    // As soon as the new controller has its switch, before any refresh
    // could have admitted anything, its tally is the old one: read back.
    let after = status_where(&demo, "dc1-sw", Duration::from_secs(5), |s| {
        s.primary && !s.routes.is_empty()
    })
    .await?;
    ensure!(
        tally(&after) == tally(&before),
        "tally after the restart {:?}, before {:?}",
        tally(&after),
        tally(&before)
    );
    ensure!(
        after.stats.adopted_flows == 3 && after.stats.admitted == 0,
        "{:?}",
        after.stats
    );
    // The servers' refreshes confirm the adopted flows: more than K
    // periods of them pass without an admission or an expiry.
    let confirmed = status_where(&demo, "dc1-sw", Duration::from_secs(5), |s| {
        s.stats.refreshes_forwarded >= 3 * (u64::from(K) + 1)
    })
    .await?;
    ensure!(
        confirmed.stats.admitted == 0 && confirmed.stats.expired_flows == 0,
        "the adopted flows were admitted again or expired: {:?}",
        confirmed.stats
    );
    ensure!(tally(&confirmed) == tally(&before));
    let r = demo.report();
    ensure!(
        r.routes
            .iter()
            .all(|x| x.tally_equal && x.used_bps == 750_000_000),
        "{r:?}"
    );

    // Nothing of what the switch held was written again, and every write
    // of both controllers, in order, kept the route within its share.
    let plan = demo.deployment.switch("dc1-sw")?;
    let (meter, flows) = program_ids(plan)?;
    let new_writes = demo.writes("dc1-sw");
    let rewritten = writes_to(&new_writes, flows, &present);
    ensure!(rewritten.is_empty(), "flows written again: {rewritten:?}");
    ensure!(flow_entries(&demo, "dc1-sw").await? == present);
    let all: Vec<_> = old_writes.iter().chain(&new_writes).cloned().collect();
    ensure!(
        first_overreservation(&all, meter, flows, |c| (c == 0).then_some(share)).is_none(),
        "over-reservation in dc1-sw's writes"
    );
    // One more fits, then the share is full.
    ensure!(common::request(&demo, 0, 0).await? == FlowState::Admitted);
    ensure!(
        common::request(&demo, 0, 0).await? == FlowState::Rejected,
        "no over-admission"
    );
    ensure!(demo.stop().await.invariant_violations == 0);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_edge_controller_adopts_the_flows_it_reads_back() -> Result<()> {
    let deployment = deployment(TINY)?;
    let share = deployment.shares.get(0, 0).context("the route's share")?;
    let mut demo = Demo::start(deployment, config(Duration::from_secs(60))).await?;
    three_flows(&demo).await?;
    let before = demo.status("e1-sw").context("e1-sw")?;
    let dc_before = demo.status("dc1-sw").context("dc1-sw")?;
    let present = flow_entries(&demo, "e1-sw").await?;
    ensure!(present.len() == 3, "{} flow entries", present.len());
    let old_writes = demo.writes("e1-sw");

    demo.restart_controller("e1-sw").await?;
    let after = status_where(&demo, "e1-sw", Duration::from_secs(5), |s| {
        s.primary && !s.routes.is_empty()
    })
    .await?;
    ensure!(
        tally(&after) == tally(&before),
        "tally after the restart {:?}, before {:?}",
        tally(&after),
        tally(&before)
    );
    ensure!(after.stats.adopted_flows == 3, "{:?}", after.stats);
    // The DC's next refresh finds the edge's tally equal to its own, and
    // the flows stay through more than K periods of refreshes.
    status_where(&demo, "dc1-sw", Duration::from_secs(5), |s| {
        s.stats.refreshes_forwarded >= dc_before.stats.refreshes_forwarded + 3 * (u64::from(K) + 1)
    })
    .await?;
    let later = demo.status("e1-sw").context("e1-sw")?;
    ensure!(
        later.stats.tally_mismatches == 0
            && later.stats.expired_flows == 0
            && later.stats.admitted == 0,
        "{:?}",
        later.stats
    );
    ensure!(tally(&later) == tally(&before));
    let r = demo.report();
    ensure!(
        r.routes
            .iter()
            .all(|x| x.tally_equal && x.edge_used_bps == 750_000_000),
        "{r:?}"
    );
    let plan = demo.deployment.switch("e1-sw")?;
    let (meter, flows) = program_ids(plan)?;
    let new_writes = demo.writes("e1-sw");
    let rewritten = writes_to(&new_writes, flows, &present);
    ensure!(rewritten.is_empty(), "flows written again: {rewritten:?}");
    let all: Vec<_> = old_writes.iter().chain(&new_writes).cloned().collect();
    ensure!(
        first_overreservation(&all, meter, flows, |c| (c == 0).then_some(share)).is_none(),
        "over-reservation in e1-sw's writes"
    );
    ensure!(common::request(&demo, 0, 0).await? == FlowState::Admitted);
    ensure!(common::request(&demo, 0, 0).await? == FlowState::Rejected);
    ensure!(demo.stop().await.invariant_violations == 0);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adopted_flow_that_no_refresh_confirms_expires() -> Result<()> {
    let deployment = deployment(TINY)?;
    let share = deployment.shares.get(0, 0).context("the route's share")?;
    let refresh = config(Duration::ZERO).refresh;
    let mut demo = Demo::start(deployment, config(Duration::from_secs(60))).await?;
    three_flows(&demo).await?;
    let old_writes = demo.writes("dc1-sw");
    // While the DC's controller is down, one server ends its flow: its
    // PathTear reaches no controller, and it refreshes no more.
    demo.kill_controller("dc1-sw").await?;
    let ended = demo
        .sim
        .flows()
        .into_iter()
        .find(|f| f.state == FlowState::Admitted)
        .context("an admitted flow")?;
    ensure!(demo.end_flow(ended.client, ended.client_port));
    demo.relaunch_controller("dc1-sw")?;
    let after = status_where(&demo, "dc1-sw", Duration::from_secs(5), |s| {
        s.primary && !s.routes.is_empty()
    })
    .await?;
    let adopted_at = tokio::time::Instant::now();
    ensure!(
        after.stats.adopted_flows == 3 && after.routes[0].used_bps == 750_000_000,
        "{after:?}"
    );
    // K periods later the unconfirmed flow expires, and both ends hold
    // the two others.
    let r = demo
        .wait_for(Duration::from_secs(5), |r| {
            r.routes.iter().all(|x| {
                x.used_bps == 500_000_000 && x.edge_used_bps == 500_000_000 && x.tally_equal
            })
        })
        .await
        .with_context(|| format!("the unconfirmed flow did not expire: {:?}", demo.report()))?;
    let waited = adopted_at.elapsed();
    let dc = demo.status("dc1-sw").context("dc1-sw")?;
    ensure!(
        dc.stats.expired_flows == 1 && dc.stats.admitted == 0,
        "{:?}",
        dc.stats
    );
    ensure!(
        waited >= refresh * K,
        "expired after {waited:?}, before {K} periods of {refresh:?}"
    );
    ensure!(r.invariant_violations == 0);
    let plan = demo.deployment.switch("dc1-sw")?;
    let (meter, flows) = program_ids(plan)?;
    let all: Vec<_> = old_writes
        .iter()
        .chain(&demo.writes("dc1-sw"))
        .cloned()
        .collect();
    ensure!(
        first_overreservation(&all, meter, flows, |c| (c == 0).then_some(share)).is_none(),
        "over-reservation in dc1-sw's writes"
    );
    ensure!(flow_entries(&demo, "dc1-sw").await?.len() == 2);
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
        common::request(&demo, 0, 0).await? == FlowState::Admitted,
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

/// Sends `n` requests at once from the first edge to the first service
/// and waits (10 s at most) until each is admitted or refused and the two
/// ends' tallies agree.
async fn requests_settle(demo: &Demo, n: u64) -> Result<Report> {
    for _ in 0..n {
        demo.request(0, 0).context("request")?;
    }
    demo.wait_for(Duration::from_secs(10), |r| {
        r.sim.admitted + r.sim.rejected == n && r.routes.iter().all(|x| x.tally_equal)
    })
    .await
    .with_context(|| format!("{n} requests did not settle: {:?}", demo.report()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_requests_is_admitted_up_to_the_share_and_no_further() -> Result<()> {
    // Twelve requests at once, through the DC's and the edge's batched
    // writes: four fit, eight get a PathErr.
    let deployment = deployment(TINY)?;
    let share = deployment.shares.get(0, 0).context("the route's share")?;
    let demo = Demo::start(deployment, config(Duration::from_secs(60))).await?;
    offers_reached(&demo).await?;
    let r = requests_settle(&demo, 12).await?;
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

/// The switches' servers on the runtime the controllers run on (as
/// `fairshare demo` starts them): the same admissions and PathErrs, and a
/// restart of such a switch is refused, naming why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switch_servers_on_the_controllers_runtime_admit_the_same_and_refuse_a_restart(
) -> Result<()> {
    use fairshare_controller::lab::Backend;
    let deployment = deployment(TINY)?;
    let share = deployment.shares.get(0, 0).context("the route's share")?;
    let demo = Demo::start(
        deployment,
        DemoConfig {
            backend: Backend::FairshareShared,
            ..config(Duration::from_secs(60))
        },
    )
    .await?;
    offers_reached(&demo).await?;
    let r = requests_settle(&demo, 6).await?;
    ensure!(r.sim.admitted == 4 && r.sim.rejected == 2, "{:?}", r.sim);
    ensure!(route(&r, "dc1", "e1")?.used_bps == share, "{r:?}");
    let refused = demo
        .restart_switch("dc1-sw")
        .err()
        .context("a switch on the shared runtime restarted")?;
    ensure!(
        refused.to_string().contains("shared runtime"),
        "the refusal says why: {refused}"
    );
    let last = demo.stop().await;
    ensure!(last.invariant_violations == 0, "{last:?}");
    Ok(())
}

/// The real controllers and switches with the lab's core losing,
/// duplicating and holding back RSVP between the switches. The seed is
/// `FAIRSHARE_FAULT_SEED` when set (to try others), else a fixed one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_duplicated_and_reordered_rsvp_in_the_core_converge_within_three_refresh_periods(
) -> Result<()> {
    use fairshare_controller::lab::Faults;
    let deployment = deployment(TWO)?;
    let refresh = config(Duration::ZERO).refresh;
    let tick = config(Duration::ZERO).tick;
    let sim_tick = config(Duration::ZERO).sim_tick;
    let seed = std::env::var("FAIRSHARE_FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed);
    let demo = Demo::start(deployment, config(Duration::from_secs(60))).await?;
    demo.wait_for(Duration::from_secs(5), |r| {
        r.routes.len() == 2
            && r.routes
                .iter()
                .all(|x| x.edge_offered_bps == x.offered_bps && x.offered_bps > 0)
    })
    .await
    .with_context(|| format!("the offers never reached the edge: {:?}", demo.report()))?;
    let lab = demo.lab();
    let max_delay = refresh / 2;
    lab.set_faults(Some(Faults {
        seed,
        drop: 0.25,
        duplicate: 0.2,
        delay: 0.25,
        max_delay,
        rsvp_only: true,
    }));
    // With faults on: requests (more than the two offers hold) and
    // teardowns, for five refresh periods.
    let mut unequal = 0;
    for i in 0..25 {
        demo.request(0, 0).context("request")?;
        if i % 3 == 2 {
            if let Some(f) = demo
                .sim
                .flows()
                .into_iter()
                .find(|f| f.state == FlowState::Admitted)
            {
                demo.end_flow(f.client, f.client_port);
            }
        }
        tokio::time::sleep(refresh / 5).await;
        unequal += usize::from(!demo.report().routes.iter().all(|x| x.tally_equal));
    }
    lab.set_faults(None);
    // The faults stop once the last frame held back has arrived.
    let deadline = tokio::time::Instant::now() + max_delay * 4;
    while lab.held_back() > 0 {
        ensure!(tokio::time::Instant::now() < deadline, "frames still held");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let quiet = tokio::time::Instant::now();
    let faults = lab.fault_counts();
    ensure!(
        faults.dropped > 0 && faults.duplicated > 0 && faults.delayed > 0,
        "{faults:?}"
    );
    let dc_switch = |dc: &str| format!("{dc}-sw");
    // Converged: both ends agree on every route, and each DC holds
    // exactly the flows its servers hold as admitted, none waiting.
    let converged = |r: &Report| {
        let flows = demo.sim.flows();
        r.routes.iter().all(|x| {
            x.tally_equal
                && x.flows
                    == flows
                        .iter()
                        .filter(|f| {
                            f.state == FlowState::Admitted
                                && f.dc_switch.as_deref() == Some(dc_switch(&x.dc).as_str())
                        })
                        .count()
        }) && !flows
            .iter()
            .any(|f| f.reached.is_some() && f.state == FlowState::Pending)
    };
    let r = demo
        .wait_for(refresh * (K + 2), converged)
        .await
        .with_context(|| {
            format!(
                "no convergence in {:?} after the faults stopped: {:?} {:?}",
                refresh * (K + 2),
                demo.report(),
                demo.sim.flows()
            )
        })?;
    let took = quiet.elapsed();
    let edge = demo.status("e1-sw").context("e1-sw")?;
    println!(
        "seed {seed}: {faults:?}; tallies unequal at {unequal} of 25 looks during the faults; \
         {} mismatches and {} stale offers at the edge; converged {took:?} after the faults stopped",
        edge.stats.tally_mismatches, edge.stats.stale
    );
    // Within K refresh periods, give or take the timers' granularity: the
    // controllers look at their timers every `tick`, the servers refresh
    // on a `sim_tick` and the report is polled every 10 ms.
    let slack = tick * 2 + sim_tick + Duration::from_millis(10);
    ensure!(
        took <= refresh * K + slack,
        "converged {took:?} after the faults stopped, more than {K} periods of {refresh:?}"
    );
    ensure!(
        r.routes.iter().map(|x| x.flows).sum::<usize>() > 0,
        "flows held: {r:?}"
    );
    // The state holds: a refresh period later nothing has moved, and every
    // switch holds the flows its controller does.
    tokio::time::sleep(refresh).await;
    ensure!(
        converged(&demo.report()),
        "converged, then not: {:?}",
        demo.report()
    );
    let by_dc: std::collections::BTreeMap<String, usize> = demo
        .report()
        .routes
        .iter()
        .map(|x| (dc_switch(&x.dc), x.flows))
        .collect();
    for (sw, n) in &by_dc {
        ensure!(flow_entries(&demo, sw).await?.len() == *n, "{sw}");
    }
    ensure!(flow_entries(&demo, "e1-sw").await?.len() == by_dc.values().sum::<usize>());
    // No write of any controller ever reserved more than a route's share.
    for sw in ["d1-sw", "d2-sw", "e1-sw"] {
        let plan = demo.deployment.switch(sw)?;
        let (meter, flows) = program_ids(plan)?;
        ensure!(
            first_overreservation(&demo.writes(sw), meter, flows, |_| Some(1_000_000_000))
                .is_none(),
            "{sw} reserved more than a share"
        );
    }
    let last = demo.stop().await;
    ensure!(
        last.invariant_violations == 0 && last.undeliverable_frames == 0,
        "{last:?}"
    );
    Ok(())
}
