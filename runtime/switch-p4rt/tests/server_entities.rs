//! Register cells, whole meter and counter arrays, direct meter resets and
//! RECONCILE_AND_COMMIT (clone sessions and multicast groups included) on `fairshare switch`'s P4Runtime server, driven
//! through `fairshare_p4rt::client`.

mod client_scenario;

use anyhow::{bail, ensure, Context, Result};
use fairshare_p4rt::client::Client;
use fairshare_p4rt::entity::{self, Match};
use fairshare_p4rt::proto::p4::config::v1 as cfg;
use fairshare_p4rt::proto::p4::v1 as p4;
use fairshare_p4rt::{EntityKind, Error, P4InfoIndex};
use fairshare_switch_p4rt::{Config, P4rtSwitch};
use p4::entity::Entity as E;

const REGISTER: &str = "Ingress.test_reg";

/// The single example's pipeline with a 32-bit register array of 8 cells
/// added to the JSON and the P4Info.
fn with_register() -> Result<(Vec<u8>, cfg::P4Info)> {
    let (json, mut p4info, _) = client_scenario::single_example()?;
    let mut doc: serde_json::Value = serde_json::from_slice(&json)?;
    doc["register_arrays"]
        .as_array_mut()
        .context("register_arrays")?
        .push(serde_json::json!({"name": REGISTER, "id": 0, "size": 8, "bitwidth": 32}));
    use cfg::p4_bitstring_like_type_spec::TypeSpec as Bits;
    use cfg::p4_data_type_spec::TypeSpec as Data;
    p4info.registers.push(cfg::Register {
        preamble: Some(cfg::Preamble {
            id: (u32::from(EntityKind::Register.prefix()) << 24) | 1,
            name: REGISTER.into(),
            alias: "test_reg".into(),
            ..Default::default()
        }),
        type_spec: Some(cfg::P4DataTypeSpec {
            type_spec: Some(Data::Bitstring(cfg::P4BitstringLikeTypeSpec {
                type_spec: Some(Bits::Bit(cfg::P4BitTypeSpec { bitwidth: 32 })),
                ..Default::default()
            })),
        }),
        size: 8,
        ..Default::default()
    });
    Ok((serde_json::to_vec(&doc)?, p4info))
}

async fn start() -> Result<(String, tokio::sync::oneshot::Sender<()>)> {
    let switch = P4rtSwitch::new(Config::default(), None);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?.to_string();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        switch
            .run(listener, async {
                let _ = stopped.await;
            })
            .await
    });
    Ok((addr, stop))
}

fn registers(entities: Vec<p4::Entity>) -> Result<Vec<(i64, Vec<u8>)>> {
    entities
        .into_iter()
        .map(|e| match e.entity {
            Some(E::RegisterEntry(r)) => match r.data.and_then(|d| d.data) {
                Some(p4::p4_data::Data::Bitstring(b)) => Ok((r.index.map_or(-1, |i| i.index), b)),
                other => bail!("expected a bitstring, found {other:?}"),
            },
            other => bail!("expected register entries, found {other:?}"),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_cells_are_written_and_read_one_at_a_time_and_all_at_once() -> Result<()> {
    let (addr, _stop) = start().await?;
    let (json, p4info) = with_register()?;
    let index = P4InfoIndex::new(p4info.clone())?;
    let mut c = Client::connect(&addr, client_scenario::config(0, 1)).await?;
    c.set_pipeline(json, p4info).await?;

    c.write_one(entity::modify(entity::register_entry(
        &index,
        REGISTER,
        Some(3),
        Some(0xdead_beef),
    )?))
    .await?;
    let one = c
        .read(vec![entity::register_entry(
            &index,
            REGISTER,
            Some(3),
            None,
        )?
        .into()])
        .await?;
    ensure!(registers(one)? == [(3, vec![0xde, 0xad, 0xbe, 0xef])]);

    // Every cell at once (no index), read back by wildcard (register id 0).
    c.write_one(entity::modify(entity::register_entry(
        &index,
        REGISTER,
        None,
        Some(7),
    )?))
    .await?;
    let all = c.read(vec![p4::RegisterEntry::default().into()]).await?;
    let want: Vec<(i64, Vec<u8>)> = (0..8).map(|i| (i, vec![7])).collect();
    ensure!(registers(all)? == want);

    // A value wider than the register is refused by the builder, and an
    // index past the end by the device.
    ensure!(matches!(
        entity::register_entry(&index, REGISTER, Some(0), Some(1 << 32)),
        Err(Error::ValueTooWide { .. })
    ));
    match c
        .write_one(entity::modify(entity::register_entry(
            &index,
            REGISTER,
            Some(8),
            Some(1),
        )?))
        .await
    {
        Err(Error::UpdatesFailed { errors, .. }) => {
            ensure!(errors[0].canonical_code == tonic::Code::OutOfRange as i32)
        }
        other => bail!("expected OUT_OF_RANGE, found {other:?}"),
    }
    Ok(())
}

async fn meter_cells(
    c: &mut Client,
    index: &P4InfoIndex,
    meter: &str,
) -> Result<Vec<Option<p4::MeterConfig>>> {
    let got = c
        .read(vec![entity::meter_entry(index, meter, None, None)?.into()])
        .await?;
    got.into_iter()
        .map(|e| match e.entity {
            Some(E::MeterEntry(m)) => Ok(m.config),
            other => bail!("expected meter entries, found {other:?}"),
        })
        .collect()
}

async fn direct_config(c: &mut Client, flow: &p4::TableEntry) -> Result<Option<p4::MeterConfig>> {
    let e = entity::direct_meter_entry(flow, None);
    match c.read(vec![e.into()]).await?.as_slice() {
        [p4::Entity {
            entity: Some(E::DirectMeterEntry(d)),
        }] => Ok(d.config),
        other => bail!("expected one direct meter entry, found {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_meter_and_counter_arrays_and_direct_meter_resets() -> Result<()> {
    let (addr, _stop) = start().await?;
    let (json, p4info, _) = client_scenario::single_example()?;
    let index = P4InfoIndex::new(p4info.clone())?;
    let mut c = Client::connect(&addr, client_scenario::config(0, 1)).await?;
    c.set_pipeline(json, p4info.clone()).await?;

    // Every cell of the route meter, configured and then reset.
    let meter = "Ingress.route_meter";
    let size = index.meter_by_name(meter).context("route_meter")?.size;
    ensure!(size > 1, "the test needs a meter array of several cells");
    let config = entity::meter_config(1000, 100, 2000, 200);
    c.write_one(entity::modify(entity::meter_entry(
        &index,
        meter,
        None,
        Some(config),
    )?))
    .await?;
    ensure!(meter_cells(&mut c, &index, meter).await? == vec![Some(config); size as usize]);
    c.write_one(entity::modify(entity::meter_entry(
        &index, meter, None, None,
    )?))
    .await?;
    ensure!(meter_cells(&mut c, &index, meter).await? == vec![None; size as usize]);

    // Every cell of the drop counters.
    let counter = "Ingress.drops";
    let size = index.counter_by_name(counter).context("drops")?.size;
    let data = p4::CounterData {
        byte_count: 500,
        packet_count: 5,
    };
    c.write_one(entity::modify(entity::counter_entry(
        &index,
        counter,
        None,
        Some(data),
    )?))
    .await?;
    let got = c
        .read(vec![
            entity::counter_entry(&index, counter, None, None)?.into()
        ])
        .await?;
    let counts: Vec<Option<p4::CounterData>> = got
        .into_iter()
        .map(|e| match e.entity {
            Some(E::CounterEntry(c)) => c.data,
            _ => None,
        })
        .collect();
    ensure!(counts == vec![Some(data); size as usize], "{counts:?}");

    // A flow with a direct meter config, reset to unconfigured; the entry
    // stays.
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
    let flow_config = entity::meter_config(10_000, 1500, 20_000, 3000);
    c.write_one(entity::insert(p4::TableEntry {
        meter_config: Some(flow_config),
        ..flow.clone()
    }))
    .await?;
    ensure!(direct_config(&mut c, &flow).await? == Some(flow_config));
    c.write_one(entity::modify(entity::direct_meter_entry(&flow, None)))
        .await?;
    ensure!(direct_config(&mut c, &flow).await?.is_none());
    let flows = c
        .read(vec![entity::all_entries(&index, Some("Ingress.flows"))?])
        .await?;
    ensure!(flows.len() == 1, "{flows:?}");
    ensure!(flows[0] == flow.clone().into(), "{flows:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_and_commit_keeps_entries_and_cells_that_still_fit() -> Result<()> {
    use p4::set_forwarding_pipeline_config_request::Action;
    let (addr, _stop) = start().await?;
    let (json, p4info, rules) = client_scenario::single_example()?;
    let index = P4InfoIndex::new(p4info.clone())?;
    let mut c = Client::connect(&addr, client_scenario::config(0, 1)).await?;
    c.set_pipeline(json.clone(), p4info.clone()).await?;
    c.write(fairshare_switch_p4rt::rules::updates(&index, &rules)?)
        .await?;
    let everything = || -> Result<Vec<p4::Entity>> {
        Ok(vec![
            entity::all_entries(&index, None)?,
            entity::meter_entry(&index, "Ingress.rsvp_meter", None, None)?.into(),
            entity::meter_entry(&index, "Ingress.route_meter", Some(0), None)?.into(),
        ])
    };
    let before = c.read(everything()?).await?;
    ensure!(before.len() == rules.table_entries.len() + 2);
    let replication = || -> Vec<p4::Entity> {
        vec![
            entity::clone_session(0, &[]).into(),
            entity::multicast_group(0, &[]).into(),
        ]
    };
    c.write(vec![
        entity::insert(entity::clone_session(2, &[(1, 0), (2, 5)])),
        entity::insert(entity::multicast_group(3, &[(4, 1)])),
    ])
    .await?;
    let sessions_and_groups = c.read(replication()).await?;
    ensure!(sessions_and_groups.len() == 2);

    // The same program with a register added: every table keeps its shape,
    // so every entry and meter cell stays, and the new register starts at 0.
    let (json2, p4info2) = with_register()?;
    let index2 = P4InfoIndex::new(p4info2.clone())?;
    let config = |json: Vec<u8>, p4info| p4::ForwardingPipelineConfig {
        p4info: Some(p4info),
        p4_device_config: json,
        cookie: None,
    };
    c.set_pipeline_config(Action::ReconcileAndCommit, config(json2, p4info2))
        .await?;
    ensure!(c.read(everything()?).await? == before);
    ensure!(c.read(replication()).await? == sessions_and_groups);
    let regs = c
        .read(vec![entity::register_entry(
            &index2,
            REGISTER,
            Some(0),
            None,
        )?
        .into()])
        .await?;
    ensure!(registers(regs)? == [(0, vec![0])]);

    // VERIFY_AND_COMMIT of the same program starts afresh, for contrast.
    c.set_pipeline_config(Action::VerifyAndCommit, config(json, p4info))
        .await?;
    let after = c.read(vec![entity::all_entries(&index, None)?]).await?;
    ensure!(after.is_empty(), "{after:?}");
    let after = c.read(replication()).await?;
    ensure!(after.is_empty(), "{after:?}");
    Ok(())
}
