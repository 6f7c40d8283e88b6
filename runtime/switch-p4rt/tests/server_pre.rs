//! The packet replication engine through P4Runtime on `fairshare switch`:
//! multicast groups and clone sessions configured by a controller, checked
//! on the packets the switch sends (against the expectations of the
//! conformance corpus's STF tests); direct counter writes and direct meter
//! resets on a table that has both; ROLLBACK_ON_ERROR over every kind of
//! update.
//!
//! The corpus is `../shared/conformance/cases` beside the workspace root;
//! without it the packet tests print `skipped: <reason>` and pass.

mod client_scenario;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::mpsc;

use anyhow::{bail, ensure, Context, Result};
use fairshare_p4rt::client::Client;
use fairshare_p4rt::entity::{self, Match};
use fairshare_p4rt::proto::p4::config::v1 as cfg;
use fairshare_p4rt::proto::p4::v1 as p4;
use fairshare_p4rt::{EntityKind, Error, P4InfoIndex};
use fairshare_switch_p4rt::{Config, P4rtSwitch};
use p4::entity::Entity as E;

struct Server {
    addr: String,
    switch: P4rtSwitch,
    output: mpsc::Receiver<(u32, Vec<u8>)>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn start() -> Result<Server> {
    let (tx, output) = mpsc::channel();
    let switch = P4rtSwitch::new(Config::default(), Some(tx));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?.to_string();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let sw = switch.clone();
    tokio::spawn(async move {
        sw.run(listener, async {
            let _ = stopped.await;
        })
        .await
    });
    Ok(Server {
        addr,
        switch,
        output,
        _stop: stop,
    })
}

impl Server {
    /// The packets one received packet gives rise to, by port in the order
    /// they were sent.
    fn send(&self, port: u32, bytes: &[u8]) -> Result<BTreeMap<u32, Vec<Vec<u8>>>> {
        ensure!(self.switch.inject(port, bytes), "no pipeline");
        let mut out: BTreeMap<u32, Vec<Vec<u8>>> = BTreeMap::new();
        for (p, b) in self.output.try_iter() {
            out.entry(p).or_default().push(b);
        }
        Ok(out)
    }
}

/// A conformance case's BMv2 JSON, P4Info and STF text; `None` when the
/// corpus is not there.
fn case(name: &str) -> Result<Option<(Vec<u8>, cfg::P4Info, String)>> {
    let dir: PathBuf = client_scenario::root()
        .join("../shared/conformance/cases")
        .join(name);
    if !dir.is_dir() {
        return Ok(None);
    }
    let json = std::fs::read(dir.join(format!("{name}.json")))?;
    let p4info = fairshare_p4rt::text::parse_p4info(&std::fs::read_to_string(
        dir.join(format!("{name}.p4info.txtpb")),
    )?)?;
    let stf = std::fs::read_to_string(dir.join(format!("{name}.stf")))?;
    Ok(Some((json, p4info, stf)))
}

/// The `packet` lines of an STF text, each with the `expect` lines that
/// follow it, grouped by port in order.
#[allow(clippy::type_complexity)]
fn stf_packets(stf: &str) -> Result<Vec<((u32, Vec<u8>), BTreeMap<u32, Vec<Vec<u8>>>)>> {
    let mut out: Vec<((u32, Vec<u8>), BTreeMap<u32, Vec<Vec<u8>>>)> = Vec::new();
    for line in stf.lines() {
        let mut words = line.split_whitespace();
        let kind = words.next();
        if !matches!(kind, Some("packet" | "expect")) {
            continue;
        }
        let port: u32 = words.next().context("a port")?.parse()?;
        let hex: String = words.collect();
        let bytes = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16))
            .collect::<Result<Vec<u8>, _>>()
            .with_context(|| format!("hex in `{line}`"))?;
        if kind == Some("packet") {
            out.push(((port, bytes), BTreeMap::new()));
        } else {
            let Some((_, expects)) = out.last_mut() else {
                bail!("an expect before any packet");
            };
            expects.entry(port).or_default().push(bytes);
        }
    }
    Ok(out)
}

fn skip(name: &str) {
    eprintln!("skipped: no conformance case {name} under ../shared/conformance/cases");
}

/// `ipv6-switch-ml-bmv2`: ingress sets `mcast_grp` 1113, egress rewrites
/// each copy's source MAC by its `egress_rid`. The group is written through
/// P4Runtime with the STF's replicas (instance = rid); the copies are the
/// STF's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multicast_group_written_through_p4runtime_replicates_packets() -> Result<()> {
    let name = "ipv6-switch-ml-bmv2";
    let Some((json, p4info, stf)) = case(name)? else {
        skip(name);
        return Ok(());
    };
    let index = P4InfoIndex::new(p4info.clone())?;
    let server = start().await?;
    let mut c = Client::connect(&server.addr, client_scenario::config(0, 1)).await?;
    c.set_pipeline(json, p4info).await?;
    // The STF's `add` lines.
    let mut updates = vec![entity::insert(entity::table_entry(
        &index,
        "ingress.ipv6_tbl",
        &[("mcast_key", Match::Exact(1))],
        "ingress.set_mcast_grp",
        &[("mcast_grp", 1113), ("port", 2)],
        0,
    )?)];
    for (rid, bd, smac) in [
        (400, 10, 0x0011_2233_0a55),
        (401, 11, 0x0011_2233_0b55),
        (402, 12, 0x0011_2233_0c55),
    ] {
        updates.push(entity::insert(entity::table_entry(
            &index,
            "egress.get_multicast_copy_out_bd",
            &[
                ("standard_metadata.mcast_grp", Match::Exact(1113)),
                ("standard_metadata.egress_rid", Match::Exact(rid)),
            ],
            "egress.set_out_bd",
            &[("bd", bd)],
            0,
        )?));
        updates.push(entity::insert(entity::table_entry(
            &index,
            "egress.send_frame",
            &[("meta.fwd.out_bd", Match::Exact(bd))],
            "egress.rewrite_mac",
            &[("smac", smac)],
            0,
        )?));
    }
    c.write(updates).await?;
    let packets = stf_packets(&stf)?;
    let [((port, packet), expected)] = packets.as_slice() else {
        bail!("expected one STF packet, found {}", packets.len());
    };

    // Without the group the packet is dropped.
    ensure!(server.send(*port, packet)?.is_empty());

    // The STF's `mc_node_create 400 6` ... as replicas (port, instance).
    let group = entity::multicast_group(1113, &[(6, 400), (7, 401), (8, 402)]);
    c.write_one(entity::insert(group.clone())).await?;
    let got = server.send(*port, packet)?;
    ensure!(
        &got == expected,
        "sent {got:02x?}, STF expects {expected:02x?}"
    );
    let read = c.read(vec![entity::multicast_group(0, &[]).into()]).await?;
    ensure!(read == [group.into()], "{read:?}");

    // Modified to one replica, then deleted.
    c.write_one(entity::modify(entity::multicast_group(1113, &[(7, 401)])))
        .await?;
    let got = server.send(*port, packet)?;
    ensure!(
        got.get(&7) == expected.get(&7) && got.len() == 1,
        "sent {got:02x?}"
    );
    c.write_one(entity::delete(entity::multicast_group(1113, &[])))
        .await?;
    ensure!(server.send(*port, packet)?.is_empty());
    Ok(())
}

/// `p4_14-p414-special-ops`: egress clones a packet to session 1 again and
/// again (the STF's `mirroring_add 1 5`). The session is written through
/// P4Runtime; its copies are the STF's; a truncating session cuts them; a
/// session of two replicas sends the same copies to both ports.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clone_session_written_through_p4runtime_mirrors_packets() -> Result<()> {
    let name = "p4_14-p414-special-ops";
    let Some((json, p4info, stf)) = case(name)? else {
        skip(name);
        return Ok(());
    };
    let server = start().await?;
    let mut c = Client::connect(&server.addr, client_scenario::config(0, 1)).await?;
    c.set_pipeline(json, p4info).await?;
    let packets = stf_packets(&stf)?;
    // The packet after `mirroring_add 1 5`: the one with copies on port 5.
    let ((port, packet), expected) = packets
        .iter()
        .find(|(_, e)| e.contains_key(&5))
        .context("an STF packet with copies on port 5")?;
    let copies = &expected[&5];
    ensure!(copies.len() > 1, "the STF expects several copies");

    // Without the session: the packet itself, no copies.
    let got = server.send(*port, packet)?;
    ensure!(
        !got.contains_key(&5),
        "copies without a session: {got:02x?}"
    );

    let session = entity::clone_session(1, &[(5, 0)]);
    c.write_one(entity::insert(session.clone())).await?;
    let got = server.send(*port, packet)?;
    ensure!(
        &got == expected,
        "sent {got:02x?}, STF expects {expected:02x?}"
    );
    let read = c.read(vec![entity::clone_session(0, &[]).into()]).await?;
    ensure!(read == [session.into()], "{read:?}");

    // Truncated to 8 bytes: the same copies, cut; the packet itself whole.
    let mut cut = entity::clone_session(1, &[(5, 0)]);
    if let Some(p4::packet_replication_engine_entry::Type::CloneSessionEntry(s)) = &mut cut.r#type {
        s.packet_length_bytes = 8;
    }
    c.write_one(entity::modify(cut.clone())).await?;
    let got = server.send(*port, packet)?;
    let want: Vec<Vec<u8>> = copies
        .iter()
        .map(|b| b[..8.min(b.len())].to_vec())
        .collect();
    ensure!(got.get(&5) == Some(&want), "sent {got:02x?}");
    ensure!(got.get(port) == expected.get(port), "sent {got:02x?}");
    ensure!(c.read(vec![entity::clone_session(1, &[]).into()]).await? == [cut.into()]);

    // Two replicas: every copy goes to both ports (copies of copies too),
    // so the two ports get the same packets, and the same ones as above.
    let two = entity::clone_session(1, &[(5, 0), (6, 0)]);
    c.write_one(entity::modify(two.clone())).await?;
    let got = server.send(*port, packet)?;
    let distinct = |v: Option<&Vec<Vec<u8>>>| -> std::collections::BTreeSet<Vec<u8>> {
        v.into_iter().flatten().cloned().collect()
    };
    let (mut on5, mut on6) = (got.get(&5).cloned(), got.get(&6).cloned());
    for v in [&mut on5, &mut on6].into_iter().flatten() {
        v.sort();
    }
    ensure!(on5.is_some() && on5 == on6, "sent {got:02x?}");
    ensure!(
        distinct(got.get(&5)) == distinct(Some(copies)),
        "sent {got:02x?}"
    );
    ensure!(c.read(vec![entity::clone_session(1, &[]).into()]).await? == [two.into()]);
    // The group behind the session is not a controller's group.
    ensure!(c
        .read(vec![entity::multicast_group(0, &[]).into()])
        .await?
        .is_empty());

    c.write_one(entity::delete(entity::clone_session(1, &[])))
        .await?;
    let got = server.send(*port, packet)?;
    ensure!(
        !got.contains_key(&5) && !got.contains_key(&6),
        "sent {got:02x?}"
    );
    Ok(())
}

const FLOWS: &str = "Ingress.flows";

/// The single example's pipeline with a direct counter on the flow table,
/// which has a direct meter.
fn with_direct_counter() -> Result<(Vec<u8>, cfg::P4Info)> {
    let (json, mut p4info, _) = client_scenario::single_example()?;
    let mut doc: serde_json::Value = serde_json::from_slice(&json)?;
    for pipe in doc["pipelines"].as_array_mut().context("pipelines")? {
        for t in pipe["tables"].as_array_mut().context("tables")? {
            if t["name"] == FLOWS {
                t["with_counters"] = true.into();
            }
        }
    }
    let index = P4InfoIndex::new(p4info.clone())?;
    let table_id = index.id(EntityKind::Table, FLOWS).context("flows")?;
    let id = (u32::from(EntityKind::DirectCounter.prefix()) << 24) | 1;
    p4info.direct_counters.push(cfg::DirectCounter {
        preamble: Some(cfg::Preamble {
            id,
            name: "Ingress.flow_counter".into(),
            alias: "flow_counter".into(),
            ..Default::default()
        }),
        spec: Some(cfg::CounterSpec {
            unit: cfg::counter_spec::Unit::Both as i32,
        }),
        direct_table_id: table_id,
    });
    for t in &mut p4info.tables {
        if t.preamble.as_ref().is_some_and(|p| p.id == table_id) {
            t.direct_resource_ids.push(id);
        }
    }
    Ok((serde_json::to_vec(&doc)?, p4info))
}

fn flow(index: &P4InfoIndex, dst: u128) -> Result<p4::TableEntry> {
    Ok(entity::table_entry(
        index,
        FLOWS,
        &[
            ("hdr.ipv4.src_addr", Match::Exact(0xc000_0201)),
            ("hdr.ipv4.dst_addr", Match::Exact(dst)),
            ("hdr.ipv4.protocol", Match::Exact(6)),
            ("meta.l4_src", Match::Exact(40_000)),
            ("meta.l4_dst", Match::Exact(80)),
        ],
        "Ingress.reserved_flow",
        &[("route", 0)],
        0,
    )?)
}

async fn counts(c: &mut Client, flow: &p4::TableEntry) -> Result<Option<p4::CounterData>> {
    match c
        .read(vec![entity::direct_counter_entry(flow, None).into()])
        .await?
        .as_slice()
    {
        [p4::Entity {
            entity: Some(E::DirectCounterEntry(d)),
        }] => Ok(d.data),
        other => bail!("expected one direct counter entry, found {other:?}"),
    }
}

async fn meter(c: &mut Client, flow: &p4::TableEntry) -> Result<Option<p4::MeterConfig>> {
    match c
        .read(vec![entity::direct_meter_entry(flow, None).into()])
        .await?
        .as_slice()
    {
        [p4::Entity {
            entity: Some(E::DirectMeterEntry(d)),
        }] => Ok(d.config),
        other => bail!("expected one direct meter entry, found {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_counter_writes_and_direct_meter_resets_keep_the_entry() -> Result<()> {
    let server = start().await?;
    let (json, p4info) = with_direct_counter()?;
    let index = P4InfoIndex::new(p4info.clone())?;
    let mut c = Client::connect(&server.addr, client_scenario::config(0, 1)).await?;
    c.set_pipeline(json, p4info).await?;
    let flow = flow(&index, 0x0a00_0001)?;
    let config = entity::meter_config(10_000, 1500, 20_000, 3000);
    c.write_one(entity::insert(p4::TableEntry {
        meter_config: Some(config),
        ..flow.clone()
    }))
    .await?;
    let data = p4::CounterData {
        byte_count: 6400,
        packet_count: 64,
    };
    c.write_one(entity::modify(entity::direct_counter_entry(
        &flow,
        Some(data),
    )))
    .await?;
    ensure!(counts(&mut c, &flow).await? == Some(data));
    ensure!(meter(&mut c, &flow).await? == Some(config));

    // The reset leaves the entry and its counts.
    c.write_one(entity::modify(entity::direct_meter_entry(&flow, None)))
        .await?;
    ensure!(meter(&mut c, &flow).await?.is_none());
    ensure!(counts(&mut c, &flow).await? == Some(data));
    let flows = c
        .read(vec![entity::all_entries(&index, Some(FLOWS))?])
        .await?;
    ensure!(flows == [flow.clone().into()], "{flows:?}");

    // Negative counts and a missing entry are refused.
    let code = |r: Result<(), Error>| match r {
        Err(Error::UpdatesFailed { errors, .. }) => errors.first().map(|e| e.canonical_code),
        _ => None,
    };
    let negative = p4::CounterData {
        byte_count: -1,
        packet_count: 0,
    };
    let r = c
        .write_one(entity::modify(entity::direct_counter_entry(
            &flow,
            Some(negative),
        )))
        .await;
    ensure!(code(r) == Some(tonic::Code::InvalidArgument as i32));
    let r = c
        .write_one(entity::modify(entity::direct_counter_entry(
            &self::flow(&index, 0x0a00_0002)?,
            Some(data),
        )))
        .await;
    ensure!(code(r) == Some(tonic::Code::NotFound as i32));
    Ok(())
}

/// Everything a Write can change on the direct-counter pipeline, read.
fn everything(index: &P4InfoIndex) -> Result<Vec<p4::Entity>> {
    Ok(vec![
        entity::all_entries(index, None)?,
        p4::TableEntry {
            table_id: index.id(EntityKind::Table, "Ingress.vip").context("vip")?,
            is_default_action: true,
            ..Default::default()
        }
        .into(),
        entity::meter_entry(index, "Ingress.route_meter", None, None)?.into(),
        entity::counter_entry(index, "Ingress.drops", None, None)?.into(),
        p4::DirectMeterEntry::default().into(),
        p4::DirectCounterEntry::default().into(),
        entity::clone_session(0, &[]).into(),
        entity::multicast_group(0, &[]).into(),
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_on_error_undoes_every_kind_of_update() -> Result<()> {
    use p4::write_request::Atomicity;
    let server = start().await?;
    let (json, p4info) = with_direct_counter()?;
    let index = P4InfoIndex::new(p4info.clone())?;
    let mut c = Client::connect(&server.addr, client_scenario::config(0, 1)).await?;
    c.set_pipeline(json, p4info).await?;

    // A state with something of each kind.
    let (kept, modified, deleted) = (
        flow(&index, 0x0a00_0001)?,
        flow(&index, 0x0a00_0002)?,
        flow(&index, 0x0a00_0003)?,
    );
    let config = entity::meter_config(10_000, 1500, 20_000, 3000);
    let data = p4::CounterData {
        byte_count: 100,
        packet_count: 1,
    };
    let mut setup = vec![];
    for f in [&kept, &modified, &deleted] {
        setup.push(entity::insert(p4::TableEntry {
            meter_config: Some(config),
            ..f.clone()
        }));
        setup.push(entity::modify(entity::direct_counter_entry(f, Some(data))));
    }
    setup.push(entity::modify(entity::meter_entry(
        &index,
        "Ingress.route_meter",
        Some(0),
        Some(config),
    )?));
    setup.push(entity::modify(entity::counter_entry(
        &index,
        "Ingress.drops",
        Some(0),
        Some(data),
    )?));
    setup.push(entity::insert(entity::clone_session(2, &[(1, 0)])));
    setup.push(entity::insert(entity::clone_session(3, &[(1, 0), (2, 0)])));
    setup.push(entity::insert(entity::multicast_group(4, &[(1, 0)])));
    c.write(setup).await?;
    let before = c.read(everything(&index)?).await?;

    // Every kind of update, then one that fails.
    let other = entity::meter_config(1, 1, 2, 2);
    let zero = p4::CounterData::default();
    let vip = index.id(EntityKind::Table, "Ingress.vip").context("vip")?;
    let default = c
        .read(vec![p4::TableEntry {
            table_id: vip,
            is_default_action: true,
            ..Default::default()
        }
        .into()])
        .await?;
    let Some(E::TableEntry(mut default)) = default.into_iter().next().and_then(|e| e.entity) else {
        bail!("no default entry of Ingress.vip");
    };
    // The default entry again, with NoAction if the table takes it, so
    // that the undo has something to restore.
    let no_action = index.id(EntityKind::Action, "NoAction");
    if let (
        Some(id),
        Some(p4::TableAction {
            r#type: Some(p4::table_action::Type::Action(a)),
        }),
    ) = (no_action, default.action.as_mut())
    {
        if index.table_has_action(vip, id) {
            a.action_id = id;
            a.params.clear();
        }
    }
    let batch = vec![
        entity::insert(p4::TableEntry {
            meter_config: Some(other),
            ..flow(&index, 0x0a00_0004)?
        }),
        entity::modify(p4::TableEntry {
            meter_config: Some(other),
            ..modified.clone()
        }),
        entity::delete(deleted.clone()),
        entity::modify(default),
        entity::modify(entity::direct_meter_entry(&kept, None)),
        entity::modify(entity::direct_counter_entry(&kept, Some(zero))),
        entity::modify(entity::meter_entry(
            &index,
            "Ingress.route_meter",
            None,
            None,
        )?),
        entity::modify(entity::counter_entry(
            &index,
            "Ingress.drops",
            None,
            Some(zero),
        )?),
        entity::insert(entity::clone_session(5, &[(3, 0)])),
        entity::modify(entity::clone_session(2, &[(1, 0), (3, 1)])),
        entity::delete(entity::clone_session(3, &[])),
        entity::modify(entity::multicast_group(4, &[(2, 0), (3, 0)])),
        entity::insert(entity::multicast_group(6, &[(1, 0)])),
        // Fails: the entry exists.
        entity::insert(kept.clone()),
        entity::delete(entity::multicast_group(4, &[])),
    ];
    let n = batch.len();
    match c
        .write_with(batch.clone(), Atomicity::RollbackOnError)
        .await
    {
        Err(Error::UpdatesFailed { errors, .. }) => {
            let codes: Vec<i32> = errors.iter().map(|e| e.canonical_code).collect();
            let mut want = vec![tonic::Code::Aborted as i32; n];
            want[n - 2] = tonic::Code::AlreadyExists as i32;
            ensure!(codes == want, "{codes:?}");
        }
        other => bail!("expected the batch to fail, found {other:?}"),
    }
    let after = c.read(everything(&index)?).await?;
    ensure!(after == before, "before {before:?}\nafter {after:?}");

    // The same batch without the failing update goes through as a whole.
    let mut good = batch;
    good.remove(n - 2);
    c.write_with(good, Atomicity::RollbackOnError).await?;
    let after = c.read(everything(&index)?).await?;
    ensure!(after != before);
    ensure!(
        c.read(vec![entity::multicast_group(4, &[]).into()])
            .await
            .is_err(),
        "group 4 deleted"
    );
    Ok(())
}
