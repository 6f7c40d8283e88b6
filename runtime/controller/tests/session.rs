//! Sessions against the fairshare switch's P4Runtime server on loopback:
//! the pipeline pushed once, the rules written once, a restarted switch
//! brought back, drift repaired with only the differences, a lost primary
//! status stopping the writes, packet-out to a port.

mod common;

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use common::{metro_pipeline, metro_rules, SwitchProcess};
use fairshare_controller::session::{Event, Session, SessionConfig, SessionError, WriteLog};
use fairshare_p4rt::client::{Backoff, Client, ClientConfig, Mastership};
use fairshare_p4rt::entity;
use fairshare_p4rt::proto::p4::v1 as p4;

fn config(addr: &str, election_id: u128) -> Result<SessionConfig> {
    Ok(SessionConfig {
        name: "dc-east".into(),
        addr: format!("grpc://{addr}"),
        client: ClientConfig {
            device_id: 1,
            election_id,
            backoff: Backoff {
                attempts: 40,
                initial: Duration::from_millis(20),
                max: Duration::from_millis(200),
                connect_timeout: Duration::from_secs(1),
            },
            ..ClientConfig::default()
        },
        pipeline: metro_pipeline()?,
    })
}

async fn entries(session: &mut Session) -> Result<Vec<p4::Entity>> {
    let all = session.desired().read_request();
    Ok(session.client().read(all).await?)
}

fn table_entries(read: &[p4::Entity]) -> usize {
    read.iter()
        .filter(|e| matches!(e.entity, Some(p4::entity::Entity::TableEntry(_))))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pipeline_and_rules_go_once_and_a_second_controller_writes_nothing() -> Result<()> {
    let sw = SwitchProcess::start("127.0.0.1:0".parse()?, 1)?;
    let cfg = config(&sw.addr.to_string(), 1)?;
    let rules = metro_rules("dc-east", &cfg.pipeline)?;
    let table_rules = rules
        .iter()
        .filter(|u| {
            matches!(
                u.entity.as_ref().and_then(|e| e.entity.as_ref()),
                Some(p4::entity::Entity::TableEntry(_))
            )
        })
        .count();
    let (mut s, est) = Session::open(cfg.clone(), &rules).await?;
    ensure!(est.pushed, "a switch without a pipeline gets it pushed");
    ensure!(
        est.sync.inserted == table_rules && est.sync.deleted == 0 && est.sync.modified == 0,
        "every rule inserted once: {:?} for {table_rules} entries",
        est.sync
    );
    ensure!(est.sync.meters == rules.len() - table_rules);
    let read = entries(&mut s).await?;
    ensure!(table_entries(&read) == table_rules);
    drop(s);

    // A controller that starts again finds everything in place.
    let (_s2, est2) = Session::open(config(&sw.addr.to_string(), 2)?, &rules).await?;
    ensure!(
        !est2.pushed,
        "the same pipeline is recognised by its cookie"
    );
    ensure!(est2.sync.total() == 0, "nothing to write: {:?}", est2.sync);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_switch_gets_the_pipeline_and_the_whole_state_back() -> Result<()> {
    let sw = SwitchProcess::start("127.0.0.1:0".parse()?, 1)?;
    let cfg = config(&sw.addr.to_string(), 1)?;
    let rules = metro_rules("dc-east", &cfg.pipeline)?;
    let (mut s, _) = Session::open(cfg.clone(), &rules).await?;
    // A write after the start is part of what must come back.
    let index = s.index().clone();
    let extra = entity::meter_entry(
        &index,
        "Ingress.route_meter",
        Some(7),
        Some(entity::meter_config(1000, 3000, 1100, 3000)),
    )?;
    s.write(vec![entity::modify(extra)]).await?;
    let before = entries(&mut s).await?;

    let addr = sw.kill();
    let event = tokio::time::timeout(Duration::from_secs(5), s.next_event()).await?;
    ensure!(
        matches!(event, Event::Closed(_)),
        "the lost stream is reported: {event:?}"
    );
    let sw2 = SwitchProcess::start(addr, 1)?;
    let est = s.reconnect().await?;
    ensure!(est.pushed, "the restarted switch lost its pipeline");
    ensure!(est.sync.deleted == 0 && est.sync.modified == 0);
    ensure!(est.sync.inserted == table_entries(&before));
    let after = entries(&mut s).await?;
    ensure!(
        sorted(&before) == sorted(&after),
        "the switch holds what it held before the restart"
    );
    ensure!(sw2.switch.has_pipeline());
    Ok(())
}

fn sorted(read: &[p4::Entity]) -> Vec<Vec<u8>> {
    use prost::Message;
    let mut v: Vec<Vec<u8>> = read.iter().map(|e| e.encode_to_vec()).collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_is_repaired_with_only_the_differences() -> Result<()> {
    let sw = SwitchProcess::start("127.0.0.1:0".parse()?, 1)?;
    let cfg = config(&sw.addr.to_string(), 1)?;
    let rules = metro_rules("dc-east", &cfg.pipeline)?;
    let (mut s, _) = Session::open(cfg, &rules).await?;
    let index = s.index().clone();
    // Behind the model's back: one entry deleted, one added, one changed,
    // one meter cell changed.
    let lpm: Vec<p4::TableEntry> = s
        .desired()
        .entries()
        .filter(|e| index.name(e.table_id) == Some("Ingress.ipv4_lpm"))
        .cloned()
        .collect();
    ensure!(lpm.len() >= 2);
    let mut changed = lpm[1].clone();
    if let Some(p4::table_action::Type::Action(a)) =
        changed.action.as_mut().and_then(|a| a.r#type.as_mut())
    {
        a.params[0].value = vec![9];
    }
    let stray = entity::table_entry(
        &index,
        "Ingress.vip",
        &[
            ("hdr.ipv4.dst_addr", entity::Match::Exact(0xc000_0263)),
            ("hdr.ipv4.protocol", entity::Match::Exact(6)),
            ("meta.l4_dst", entity::Match::Exact(443)),
        ],
        "Ingress.set_service",
        &[("service", 7)],
        0,
    )?;
    let cell = entity::meter_entry(
        &index,
        "Ingress.route_meter",
        Some(0),
        Some(entity::meter_config(5, 3000, 6, 3000)),
    )?;
    let raw = s.client();
    raw.write(vec![entity::delete(lpm[0].clone())]).await?;
    raw.write(vec![
        entity::modify(changed),
        entity::insert(stray),
        entity::modify(cell),
    ])
    .await?;

    let log = WriteLog::new();
    s.record_writes(log.clone());
    let counts = s.sync().await?;
    ensure!(
        counts.inserted == 1 && counts.deleted == 1 && counts.modified == 1 && counts.meters == 1,
        "{counts:?}"
    );
    let written: usize = log.records().iter().map(|r| r.updates.len()).sum();
    ensure!(written == 4, "only the differences are written: {written}");
    ensure!(s.sync().await?.total() == 0, "a second sync finds nothing");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_controller_that_loses_primary_status_stops_writing() -> Result<()> {
    let sw = SwitchProcess::start("127.0.0.1:0".parse()?, 1)?;
    let cfg = config(&sw.addr.to_string(), 5)?;
    let rules = metro_rules("dc-east", &cfg.pipeline)?;
    let (mut s, _) = Session::open(cfg.clone(), &rules).await?;
    let log = WriteLog::new();
    s.record_writes(log.clone());

    let other = Client::connect(
        &sw.addr.to_string(),
        ClientConfig {
            device_id: 1,
            election_id: 9,
            ..ClientConfig::default()
        },
    )
    .await?;
    ensure!(other.is_primary());
    let event = tokio::time::timeout(Duration::from_secs(5), s.next_event())
        .await
        .context("no standing change reported")?;
    ensure!(
        matches!(event, Event::Mastership(Mastership::Backup { .. })),
        "{event:?}"
    );
    let index = s.index().clone();
    let cell = entity::meter_entry(
        &index,
        "Ingress.route_meter",
        Some(1),
        Some(entity::meter_config(5, 3000, 6, 3000)),
    )?;
    let refused = s.write(vec![entity::modify(cell)]).await;
    ensure!(
        matches!(refused, Err(SessionError::NotPrimary { .. })),
        "{refused:?}"
    );
    ensure!(log.records().is_empty(), "nothing went out");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packet_out_leaves_from_the_port_it_names() -> Result<()> {
    let sw = SwitchProcess::start("127.0.0.1:0".parse()?, 1)?;
    let cfg = config(&sw.addr.to_string(), 1)?;
    let rules = metro_rules("dc-east", &cfg.pipeline)?;
    let (s, _) = Session::open(cfg, &rules).await?;
    let frame: Vec<u8> = (0..60u8).collect();
    s.packet_out(10, frame.clone())?;
    let (port, out) =
        tokio::task::spawn_blocking(move || sw.output.recv_timeout(Duration::from_secs(5)))
            .await??;
    ensure!(
        port == 10 && out == frame,
        "port {port}, {} bytes",
        out.len()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guard_refuses_a_write_that_would_reserve_more_than_the_offer() -> Result<()> {
    use fairshare_controller::writes::{FlowKey, Program};
    let sw = SwitchProcess::start("127.0.0.1:0".parse()?, 1)?;
    let cfg = config(&sw.addr.to_string(), 1)?;
    let rules = metro_rules("dc-east", &cfg.pipeline)?;
    let (mut s, _) = Session::open(cfg, &rules).await?;
    let program = Program::new(s.index().clone())?;
    s.keep_accounts(program.accounts());
    // Route cell 0 of dc-east is east → north, offered its share.
    let share: u64 = 2_524_500_907;
    let offered = |cell: u32| (cell == 0).then_some(share);
    let before = s.reserved(0).context("accounts kept")?;
    ensure!(
        before <= share && share - before < 8,
        "the initial aggregate commits the share"
    );
    let log = WriteLog::new();
    s.record_writes(log.clone());

    let key = FlowKey {
        src: "203.0.113.10".parse()?,
        dst: "198.51.100.7".parse()?,
        protocol: 6,
        src_port: 80,
        dst_port: 40000,
    };
    let rate = 20_000_000;
    let refused = s
        .write_checked(vec![program.install_flow(&key, 0, rate)?], offered)
        .await;
    ensure!(
        matches!(refused, Err(SessionError::Overreservation { cell: 0, .. })),
        "a flow on top of the whole aggregate is refused: {refused:?}"
    );
    ensure!(log.records().is_empty(), "and not sent");

    // Release first, then the flow: both pass.
    s.write_checked(vec![program.route_meter(0, share - rate)?], offered)
        .await?;
    s.write_checked(vec![program.install_flow(&key, 0, rate)?], offered)
        .await?;
    let now = s.reserved(0).context("accounts kept")?;
    ensure!(now <= share, "{now} reserved of {share}");
    ensure!(log.records().len() == 2 && log.records().iter().all(|r| r.ok));

    // The switch's own account agrees with the session's.
    let read = entries(&mut s).await?;
    let mut on_switch = 0u64;
    for e in &read {
        match &e.entity {
            Some(p4::entity::Entity::TableEntry(t)) => {
                if let Some((0, bps)) = program.accounts().of_entry(t) {
                    on_switch += bps;
                }
            }
            Some(p4::entity::Entity::MeterEntry(m))
                if m.meter_id == program.accounts().route_meter
                    && m.index.as_ref().map(|i| i.index) == Some(0) =>
            {
                on_switch += m.config.map_or(0, |c| c.cir as u64 * 8);
            }
            _ => {}
        }
    }
    ensure!(on_switch == now, "switch {on_switch}, session {now}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_controller_takes_over_what_the_switch_holds_and_writes_nothing() -> Result<()>
{
    use fairshare_controller::agent::Found;
    use fairshare_controller::writes::{FlowKey, Program};
    let sw = SwitchProcess::start("127.0.0.1:0".parse()?, 1)?;
    let cfg = config(&sw.addr.to_string(), 1)?;
    let rules = metro_rules("dc-east", &cfg.pipeline)?;
    let (mut s, _) = Session::open(cfg, &rules).await?;
    let program = Program::new(s.index().clone())?;
    let share: u64 = 2_524_500_907;
    let rate = 20_000_000;
    let key = FlowKey {
        src: "203.0.113.10".parse()?,
        dst: "198.51.100.7".parse()?,
        protocol: 6,
        src_port: 80,
        dst_port: 40000,
    };
    s.write(vec![program.route_meter(0, share - rate)?]).await?;
    s.write(vec![program.install_flow(&key, 0, rate)?]).await?;
    drop(s);

    // The next controller reads the flow and the shrunk aggregate back,
    // takes both over, and has nothing to write.
    let mut found = None;
    let (s2, est) = Session::open_adopting(config(&sw.addr.to_string(), 2)?, &rules, |read| {
        let f = program.found(read);
        let kept = program.kept(read, &f);
        found = Some(f);
        kept
    })
    .await?;
    let found = found.context("the read-back was offered")?;
    ensure!(
        found.flows == vec![(key, 0, rate)],
        "flows found: {:?}",
        found.flows
    );
    let aggregate = found.route_meters.get(&0).copied().context("cell 0")?;
    ensure!(
        aggregate == (share - rate) / 8 * 8,
        "aggregate found {aggregate}"
    );
    // Every route's aggregate cell and the flow.
    ensure!(
        est.adopted == found.route_meters.len() + 1 && est.sync.total() == 0,
        "{} taken over, {:?} written",
        est.adopted,
        est.sync
    );
    let flows_entry = program.install_flow(&key, 0, rate)?;
    let Some(p4::entity::Entity::TableEntry(t)) = flows_entry.entity.and_then(|e| e.entity) else {
        anyhow::bail!("install_flow writes a table entry");
    };
    ensure!(s2
        .desired()
        .entry(&fairshare_controller::desired::EntryKey::of(&t))
        .is_some());
    drop(s2);

    // A controller that takes nothing over puts the initial rules back:
    // the flow is deleted and the aggregate grows to the share again.
    let (_s3, est) = Session::open_adopting(config(&sw.addr.to_string(), 3)?, &rules, |_| {
        program.kept(&[], &Found::default())
    })
    .await?;
    ensure!(
        est.adopted == 0 && est.sync.deleted == 1 && est.sync.meters == 1,
        "{est:?}"
    );
    Ok(())
}
