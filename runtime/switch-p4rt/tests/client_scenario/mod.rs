//! What a controller does with a device, through `fairshare_p4rt::client`:
//! run against `fairshare switch`'s server in-process and against a real
//! `simple_switch_grpc`, so both answer the same requests the same way.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use fairshare_p4rt::client::{Client, ClientConfig, Mastership};
use fairshare_p4rt::entity::{self, Match};
use fairshare_p4rt::proto::p4::config::v1 as cfg;
use fairshare_p4rt::proto::p4::v1 as p4;
use fairshare_p4rt::{Error, P4InfoIndex};
use fairshare_switch::rules::Rules;

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The `single` example's pipeline as the compiler writes it (BMv2 JSON,
/// P4Info) and the initial rules of `dc1-sw`.
pub fn single_example() -> Result<(Vec<u8>, cfg::P4Info, Rules)> {
    let dir = root().join("examples/expected/single");
    let pipe = dir.join("pipelines/bmv2-cpu255");
    let json = std::fs::read(pipe.join("fairshare.json")).context("fairshare.json")?;
    let text = std::fs::read_to_string(pipe.join("fairshare.p4info.txtpb"))?;
    let p4info = fairshare_p4rt::text::parse_p4info(&text)?;
    let rules = Rules::parse(&std::fs::read_to_string(
        dir.join("switches/dc1-sw.rules.json"),
    )?)?;
    Ok((json, p4info, rules))
}

pub fn config(device_id: u64, election_id: u128) -> ClientConfig {
    ClientConfig {
        device_id,
        election_id,
        ..ClientConfig::default()
    }
}

/// A table entry with its byte strings canonical and its match in field
/// order, for comparing entries from devices that pad byte strings.
pub fn canonical(mut e: p4::TableEntry) -> p4::TableEntry {
    use p4::field_match::FieldMatchType as F;
    let strip = |v: &mut Vec<u8>| {
        let zeros = v.iter().take_while(|b| **b == 0).count().min(v.len() - 1);
        v.drain(..zeros);
    };
    for m in &mut e.r#match {
        match m.field_match_type.as_mut() {
            Some(F::Exact(x)) => strip(&mut x.value),
            Some(F::Lpm(x)) => strip(&mut x.value),
            Some(F::Ternary(x)) => {
                strip(&mut x.value);
                strip(&mut x.mask);
            }
            Some(F::Range(x)) => {
                strip(&mut x.low);
                strip(&mut x.high);
            }
            Some(F::Optional(x)) => strip(&mut x.value),
            _ => {}
        }
    }
    e.r#match.sort_by_key(|m| m.field_id);
    if let Some(p4::table_action::Type::Action(a)) =
        e.action.as_mut().and_then(|a| a.r#type.as_mut())
    {
        for p in &mut a.params {
            strip(&mut p.value);
        }
        a.params.sort_by_key(|p| p.param_id);
    }
    e.meter_config = None;
    e.counter_data = None;
    e
}

fn table_entries(entities: Vec<p4::Entity>) -> Result<Vec<p4::TableEntry>> {
    entities
        .into_iter()
        .map(|e| match e.entity {
            Some(p4::entity::Entity::TableEntry(t)) => Ok(canonical(t)),
            other => bail!("expected table entries, found {other:?}"),
        })
        .collect()
}

/// Waits until `client` reports `want`.
async fn standing_becomes(client: &Client, want: fn(&Mastership) -> bool) -> Result<Mastership> {
    let mut rx = client.watch_mastership();
    let m = tokio::time::timeout(Duration::from_secs(5), rx.wait_for(want))
        .await
        .context("no arbitration update within 5 s")??
        .clone();
    Ok(m)
}

/// The whole scenario against the device at `addr`.
pub async fn run(addr: &str, device_id: u64, cpu_port: u32) -> Result<()> {
    run_with(addr, device_id, cpu_port, ClientConfig::default().busy_poll).await
}

/// [`run`] with the clients busy-polling their answers for `busy_poll`.
pub async fn run_with(
    addr: &str,
    device_id: u64,
    cpu_port: u32,
    busy_poll: std::time::Duration,
) -> Result<()> {
    let config = |device_id, election_id| ClientConfig {
        busy_poll,
        ..config(device_id, election_id)
    };
    let (json, p4info, rules) = single_example()?;
    let index = P4InfoIndex::new(p4info.clone())?;

    // Primary with election id 10; the pipeline and its P4Info go in.
    let mut c1 = Client::connect(addr, config(device_id, 10)).await?;
    ensure!(
        c1.is_primary(),
        "expected primary, found {:?}",
        c1.mastership()
    );
    let version = c1.capabilities().await?;
    eprintln!("the device at {addr} implements P4Runtime {version}");
    c1.set_pipeline(json.clone(), p4info.clone()).await?;
    let got = c1
        .get_pipeline(p4::get_forwarding_pipeline_config_request::ResponseType::P4infoAndCookie)
        .await?
        .context("no pipeline config")?;
    ensure!(
        got.p4info.as_ref() == Some(&p4info),
        "the device's P4Info differs from the one pushed"
    );

    // The initial rules, in one batch; read back by wildcard.
    let updates = fairshare_switch_p4rt::rules::updates(&index, &rules)?;
    c1.write(updates.clone()).await?;
    let written: BTreeSet<String> = updates
        .iter()
        .filter_map(|u| match u.entity.as_ref()?.entity.as_ref()? {
            p4::entity::Entity::TableEntry(t) => Some(format!("{:?}", canonical(t.clone()))),
            _ => None,
        })
        .collect();
    ensure!(written.len() == rules.table_entries.len());
    let all = table_entries(c1.read(vec![entity::all_entries(&index, None)?]).await?)?;
    let read: BTreeSet<String> = all.iter().map(|e| format!("{e:?}")).collect();
    ensure!(
        read == written,
        "read back:\n{read:#?}\nexpected:\n{written:#?}"
    );
    let lpm = table_entries(
        c1.read(vec![entity::all_entries(&index, Some("Ingress.ipv4_lpm"))?])
            .await?,
    )?;
    ensure!(lpm.len() == 3, "expected 3 routes, found {}", lpm.len());

    // The default entry of a table: modified, then read back.
    let default = entity::default_entry(
        &index,
        "Ingress.client_edge",
        "Ingress.set_edge",
        &[("edge", 4)],
    )?;
    c1.write_one(entity::modify(default.clone())).await?;
    let got = table_entries(
        c1.read(vec![p4::TableEntry {
            table_id: default.table_id,
            is_default_action: true,
            ..Default::default()
        }
        .into()])
            .await?,
    )?;
    ensure!(
        got == [canonical(default)],
        "default entry read back as {got:?}"
    );

    // Meter cells: the rules' configs read back, then a new one set alone.
    for m in &rules.meter_configs {
        let cell = entity::meter_entry(&index, &m.meter, Some(i64::from(m.index)), None)?;
        let got = c1.read(vec![cell.into()]).await?;
        let config = match got.as_slice() {
            [p4::Entity {
                entity: Some(p4::entity::Entity::MeterEntry(e)),
            }] => e.config.context("meter unconfigured")?,
            other => bail!("expected one meter entry, found {other:?}"),
        };
        ensure!(
            (config.cir, config.cburst, config.pir, config.pburst)
                == (m.cir as i64, m.cburst as i64, m.pir as i64, m.pburst as i64),
            "meter {}[{}]: read {config:?}",
            m.meter,
            m.index
        );
    }
    let new = entity::meter_config(500, 50, 800, 80);
    c1.write_one(entity::modify(entity::meter_entry(
        &index,
        "Ingress.rsvp_meter",
        Some(0),
        Some(new),
    )?))
    .await?;
    let got = c1
        .read(vec![entity::meter_entry(
            &index,
            "Ingress.rsvp_meter",
            Some(0),
            None,
        )?
        .into()])
        .await?;
    let read_config = match got.as_slice() {
        [p4::Entity {
            entity: Some(p4::entity::Entity::MeterEntry(e)),
        }] => e.config,
        other => bail!("expected one meter entry, found {other:?}"),
    };
    ensure!(
        read_config.map(|c| (c.cir, c.cburst, c.pir, c.pburst)) == Some((500, 50, 800, 80)),
        "rsvp_meter: read {read_config:?}"
    );

    // Every cell of the drop counters, by wildcard index.
    let drops = index
        .counter_by_name("Ingress.drops")
        .context("drops")?
        .size;
    let cells = c1
        .read(vec![entity::counter_entry(
            &index,
            "Ingress.drops",
            None,
            None,
        )?
        .into()])
        .await?;
    ensure!(
        cells.len() as i64 == drops,
        "expected {drops} counter cells, found {}",
        cells.len()
    );

    // A reserved flow with a direct meter config, read back, then reset to
    // unconfigured.
    let flow = entity::table_entry(
        &index,
        "Ingress.flows",
        &[
            ("hdr.ipv4.src_addr", Match::Exact(0xc000_0201)),
            ("hdr.ipv4.dst_addr", Match::Exact(0x0a00_0001)),
            ("hdr.ipv4.protocol", Match::Exact(6)),
            ("meta.l4_src", Match::Exact(40_000)),
            ("meta.l4_dst", Match::Exact(80)),
        ],
        "Ingress.reserved_flow",
        &[("route", 0)],
        0,
    )?;
    let flow_meter = entity::meter_config(125_000, 15_000, 250_000, 30_000);
    c1.write_one(entity::insert(p4::TableEntry {
        meter_config: Some(flow_meter),
        ..flow.clone()
    }))
    .await?;
    let direct = c1
        .read(vec![entity::direct_meter_entry(&flow, None).into()])
        .await?;
    match direct.as_slice() {
        [p4::Entity {
            entity: Some(p4::entity::Entity::DirectMeterEntry(d)),
        }] => ensure!(
            d.config.map(|c| (c.cir, c.cburst, c.pir, c.pburst))
                == Some((125_000, 15_000, 250_000, 30_000)),
            "direct meter read back as {:?}",
            d.config
        ),
        other => bail!("expected one direct meter entry, found {other:?}"),
    }
    c1.write_one(entity::delete(flow)).await?;

    // The packet replication engine: a clone session and a multicast
    // group, written and read back.
    let session = entity::clone_session(5, &[(1, 1)]);
    let group = entity::multicast_group(7, &[(1, 1), (2, 1)]);
    let written = c1
        .write(vec![
            entity::insert(session.clone()),
            entity::insert(group.clone()),
        ])
        .await;
    written?;
    let read = |e: p4::PacketReplicationEngineEntry| p4::Entity::from(e);
    let got = c1.read(vec![read(entity::clone_session(5, &[]))]).await?;
    ensure!(
        got == [session.clone().into()],
        "clone session read back as {got:?}"
    );
    let got = c1.read(vec![read(entity::multicast_group(7, &[]))]).await?;
    ensure!(
        got == [group.clone().into()],
        "multicast group read back as {got:?}"
    );
    // A second insert of the same ids: ALREADY_EXISTS for each.
    match c1
        .write(vec![
            entity::insert(session.clone()),
            entity::insert(group.clone()),
        ])
        .await
    {
        Err(Error::UpdatesFailed { errors, .. }) => ensure!(
            errors
                .iter()
                .all(|e| e.canonical_code == tonic::Code::AlreadyExists as i32),
            "{errors:?}"
        ),
        other => bail!("expected ALREADY_EXISTS for existing replication entries, found {other:?}"),
    }
    c1.write(vec![entity::delete(session), entity::delete(group)])
        .await?;
    // Gone: a read of either id is NOT_FOUND.
    let gone = c1.read(vec![read(entity::clone_session(5, &[]))]).await;
    ensure!(
        gone.is_err(),
        "clone session 5 read after its delete: {gone:?}"
    );

    // A session of several replicas, and one and a group written with the
    // older `egress_port` form, read back as written.
    let several = entity::clone_session(6, &[(1, 0), (2, 3)]);
    let old_form = |mut e: p4::PacketReplicationEngineEntry| {
        use p4::packet_replication_engine_entry::Type as T;
        let replicas = match &mut e.r#type {
            Some(T::CloneSessionEntry(s)) => &mut s.replicas,
            Some(T::MulticastGroupEntry(g)) => &mut g.replicas,
            None => return e,
        };
        for (r, port) in replicas.iter_mut().zip([4u32, 5]) {
            r.port_kind = Some(p4::replica::PortKind::EgressPort(port));
        }
        e
    };
    let old_session = old_form(entity::clone_session(7, &[(0, 2)]));
    let old_group = old_form(entity::multicast_group(8, &[(0, 0), (0, 1)]));
    c1.write(vec![
        entity::insert(several.clone()),
        entity::insert(old_session.clone()),
        entity::insert(old_group.clone()),
    ])
    .await?;
    // Replicas are a set: simple_switch_grpc reads them back in another
    // order.
    let sorted = |e: p4::Entity| {
        use p4::packet_replication_engine_entry::Type as T;
        let mut e = e;
        if let Some(p4::entity::Entity::PacketReplicationEngineEntry(p)) = &mut e.entity {
            let key = |r: &p4::Replica| format!("{r:?}");
            match &mut p.r#type {
                Some(T::CloneSessionEntry(s)) => s.replicas.sort_by_key(key),
                Some(T::MulticastGroupEntry(g)) => g.replicas.sort_by_key(key),
                None => {}
            }
        }
        e
    };
    for e in [&several, &old_session, &old_group] {
        let got: Vec<p4::Entity> = c1
            .read(vec![read(e.clone())])
            .await?
            .into_iter()
            .map(sorted)
            .collect();
        ensure!(
            got == [sorted(e.clone().into())],
            "{e:?} read back as {got:?}"
        );
    }
    c1.write(vec![
        entity::delete(several),
        entity::delete(old_session),
        entity::delete(old_group),
    ])
    .await?;

    // Refusals both devices agree on, one update each.
    let refused = [
        (
            "clone session 0",
            entity::insert(entity::clone_session(0, &[(1, 0)])),
            tonic::Code::InvalidArgument,
        ),
        (
            "multicast group 0",
            entity::insert(entity::multicast_group(0, &[(1, 0)])),
            tonic::Code::InvalidArgument,
        ),
        (
            "multicast group 32768",
            entity::insert(entity::multicast_group(32_768, &[(1, 0)])),
            tonic::Code::OutOfRange,
        ),
        (
            "the same replica twice",
            entity::insert(entity::multicast_group(9, &[(1, 0), (1, 0)])),
            tonic::Code::InvalidArgument,
        ),
        (
            "modify of a missing session",
            entity::modify(entity::clone_session(9, &[(1, 0)])),
            tonic::Code::NotFound,
        ),
        (
            "delete of a missing group",
            entity::delete(entity::multicast_group(9, &[])),
            tonic::Code::NotFound,
        ),
    ];
    for (case, u, want) in refused {
        match c1.write_one(u).await {
            Err(Error::UpdatesFailed { errors, .. })
                if errors.len() == 1 && errors[0].canonical_code == want as i32 => {}
            other => bail!("{case}: expected {want:?}, found {other:?}"),
        }
    }

    // A batch with a duplicate and a new entry: per-update errors.
    let duplicate = updates[0].clone();
    let extra = entity::table_entry(
        &index,
        "Ingress.ipv4_lpm",
        &[(
            "hdr.ipv4.dst_addr",
            Match::Lpm {
                value: 0x0a01_0000,
                prefix_len: 16,
            },
        )],
        "Ingress.forward",
        &[
            ("port", 4),
            ("src_mac", 0x0200_0000_0004),
            ("dst_mac", 0x0200_0000_0005),
        ],
        0,
    )?;
    match c1
        .write(vec![duplicate, entity::insert(extra.clone())])
        .await
    {
        Err(Error::UpdatesFailed { errors, .. }) => {
            let codes: Vec<i32> = errors.iter().map(|e| e.canonical_code).collect();
            ensure!(
                codes == [tonic::Code::AlreadyExists as i32, tonic::Code::Ok as i32],
                "expected ALREADY_EXISTS then OK, found {codes:?}"
            );
        }
        other => bail!("expected per-update errors, found {other:?}"),
    }
    c1.write_one(entity::delete(extra)).await?;

    // A packet-out sent back to the CPU port comes back as a packet-in:
    // the pipeline strips the packet_out header, parses the frame and
    // emits it to the CPU port without a packet_in header, so the device
    // reads the frame's first two bytes as packet_in metadata.
    let mut packet_ins = c1.packet_ins().context("packet-in receiver")?;
    let mut frame = vec![0x7f, 0x81, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x88, 0xb5];
    frame.extend_from_slice(b"fairshare packet-out");
    c1.packet_out_sink().send(
        frame.clone(),
        &[("egress_port", u128::from(cpu_port)), ("_pad", 0)],
    )?;
    let packet = tokio::time::timeout(Duration::from_secs(5), packet_ins.recv())
        .await
        .context("no packet-in within 5 s")?
        .context("packet-in stream closed")?;
    ensure!(
        packet.payload == frame[2..],
        "packet-in payload {:02x?}",
        packet.payload
    );
    ensure!(
        packet.value("ingress_port") == Some(0xff) && packet.value("reason") == Some(1),
        "packet-in metadata {:?}",
        packet.metadata
    );
    // Packet-outs with a wrong metadata set are refused before sending.
    ensure!(matches!(
        c1.packet_out_sink()
            .send(frame.clone(), &[("egress_port", 1)]),
        Err(Error::BadMember { .. })
    ));

    // A second controller with a higher election id takes over.
    let mut c2 = Client::connect(addr, config(device_id, 20)).await?;
    ensure!(c2.is_primary(), "c2: {:?}", c2.mastership());
    let m = standing_becomes(&c1, |m| matches!(m, Mastership::Backup { .. })).await?;
    ensure!(
        m == Mastership::Backup {
            primary_election_id: Some(20)
        },
        "c1 after c2 arbitrated: {m:?}"
    );
    let route = all[0].clone();
    match c1.write_one(entity::delete(route.clone())).await {
        Err(Error::NotPrimary(_)) => {}
        other => bail!("expected NotPrimary for the backup, found {other:?}"),
    }
    // c1 wins it back with a higher id; c2 is told it is a backup.
    ensure!(c1.arbitrate(30).await? == Mastership::Primary);
    standing_becomes(&c2, |m| matches!(m, Mastership::Backup { .. })).await?;
    match c2.write_one(entity::delete(route.clone())).await {
        Err(Error::NotPrimary(_)) => {}
        other => bail!("expected NotPrimary for c2, found {other:?}"),
    }

    // Everything deleted again, in one batch.
    let deletes = all.into_iter().map(entity::delete).collect();
    c1.write(deletes).await?;
    let left = c1.read(vec![entity::all_entries(&index, None)?]).await?;
    ensure!(left.is_empty(), "left after deleting: {left:?}");
    Ok(())
}
