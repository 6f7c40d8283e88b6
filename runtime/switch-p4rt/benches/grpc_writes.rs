//! Table-entry writes over gRPC on loopback against the P4Runtime server
//! with the `dc1-sw` pipeline of `examples/single.fsp`: single-update
//! Write RPCs, one after the other, and 1,000-update batches. Entries go
//! into `Ingress.flows` (five exact keys, 4,096 entries) and are deleted
//! again, so every round starts from an empty table.
//!
//! Run with `cargo bench -p fairshare-switch-p4rt --bench grpc_writes`.

use std::path::Path;
use std::time::Instant;

use anyhow::{anyhow, Context, Result};
use fairshare_p4rt::proto::p4::v1 as p4;
use fairshare_p4rt::proto::p4::v1::p4_runtime_client::P4RuntimeClient;
use fairshare_p4rt::{EntityKind, P4InfoIndex};
use fairshare_switch_p4rt::{Config, P4rtSwitch};
use tokio_stream::StreamExt;

const SINGLE: u32 = 4_000;
const BATCH: u32 = 1_000;
const BATCH_ROUNDS: u32 = 20;

fn pipeline() -> Result<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let src = std::fs::read_to_string(root.join("examples/single.fsp"))?;
    let (_, policy) = fairshare_policy::load(&src).map_err(|e| anyhow!("{e:?}"))?;
    let topo = fairshare_alloc::Topology::build(&policy).map_err(|e| anyhow!("{e:?}"))?;
    let shares = fairshare_alloc::allocate(&topo, &policy, policy.algorithm);
    let out = fairshare_codegen::compile(&policy, &topo, &shares)?;
    let pipe = out
        .pipeline_of("dc1-sw")
        .context("no pipeline for dc1-sw")?;
    Ok((pipe.json.clone(), pipe.p4info.clone()))
}

/// The flows entry number `n` (distinct keys for distinct `n`).
fn flow(index: &P4InfoIndex, n: u32, kind: p4::update::Type) -> Result<p4::Update> {
    let table = index
        .id(EntityKind::Table, "Ingress.flows")
        .context("flows")?;
    let action = index
        .id(EntityKind::Action, "Ingress.reserved_flow")
        .context("reserved_flow")?;
    let field = |name: &str| {
        index
            .match_field_by_name(table, name)
            .map(|f| f.id)
            .with_context(|| format!("field {name}"))
    };
    let canonical = |v: u32| fairshare_p4rt::bytestring::encode_u128(u128::from(v));
    let exact = |id, value: Vec<u8>| p4::FieldMatch {
        field_id: id,
        field_match_type: Some(p4::field_match::FieldMatchType::Exact(
            p4::field_match::Exact { value },
        )),
    };
    let entry = p4::TableEntry {
        table_id: table,
        r#match: vec![
            exact(field("hdr.ipv4.src_addr")?, canonical(0xc000_0200 + n)),
            exact(field("hdr.ipv4.dst_addr")?, vec![10, 0, 0, 1]),
            exact(field("hdr.ipv4.protocol")?, vec![6]),
            exact(field("meta.l4_src")?, canonical(40_000)),
            exact(field("meta.l4_dst")?, vec![80]),
        ],
        action: Some(p4::TableAction {
            r#type: Some(p4::table_action::Type::Action(p4::Action {
                action_id: action,
                params: vec![p4::action::Param {
                    param_id: 1,
                    value: canonical(n % 1024),
                }],
            })),
        }),
        ..Default::default()
    };
    Ok(p4::Update {
        r#type: kind as i32,
        entity: Some(p4::Entity {
            entity: Some(p4::entity::Entity::TableEntry(entry)),
        }),
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let (json, p4info) = pipeline()?;
    let p4info = fairshare_p4rt::text::parse_p4info(&p4info)?;
    let index = P4InfoIndex::new(p4info.clone())?;
    let switch = P4rtSwitch::new(Config::default(), None);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        switch
            .run(listener, async {
                let _ = stopped.await;
            })
            .await
    });
    let mut client = P4RuntimeClient::connect(format!("http://{addr}")).await?;

    // Become primary, push the pipeline.
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tx.send(p4::StreamMessageRequest {
        update: Some(p4::stream_message_request::Update::Arbitration(
            p4::MasterArbitrationUpdate {
                election_id: Some(1u128.into()),
                ..Default::default()
            },
        )),
    })?;
    let mut stream = client
        .stream_channel(tokio_stream::wrappers::UnboundedReceiverStream::new(rx))
        .await?
        .into_inner();
    stream.next().await.context("no arbitration answer")??;
    client
        .set_forwarding_pipeline_config(p4::SetForwardingPipelineConfigRequest {
            election_id: Some(1u128.into()),
            action: p4::set_forwarding_pipeline_config_request::Action::VerifyAndCommit as i32,
            config: Some(p4::ForwardingPipelineConfig {
                p4info: Some(p4info),
                p4_device_config: json.into_bytes(),
                cookie: None,
            }),
            ..Default::default()
        })
        .await?;
    let request = |updates| p4::WriteRequest {
        election_id: Some(1u128.into()),
        updates,
        ..Default::default()
    };
    use p4::update::Type::{Delete, Insert};

    // Single-update requests: inserts, then deletes.
    let inserts = (0..SINGLE)
        .map(|n| flow(&index, n, Insert))
        .collect::<Result<Vec<_>>>()?;
    let deletes = (0..SINGLE)
        .map(|n| flow(&index, n, Delete))
        .collect::<Result<Vec<_>>>()?;
    let requests: Vec<p4::WriteRequest> = inserts
        .into_iter()
        .chain(deletes)
        .map(|u| request(vec![u]))
        .collect();
    let start = Instant::now();
    for r in requests {
        client.write(r).await?;
    }
    let single = start.elapsed();
    let single_rate = f64::from(2 * SINGLE) / single.as_secs_f64();

    // 1,000-update batches: a batch of inserts, then one of deletes. The
    // requests are built before the clock starts.
    let inserts = (0..BATCH)
        .map(|n| flow(&index, n, Insert))
        .collect::<Result<Vec<_>>>()?;
    let deletes = (0..BATCH)
        .map(|n| flow(&index, n, Delete))
        .collect::<Result<Vec<_>>>()?;
    let requests: Vec<p4::WriteRequest> = (0..BATCH_ROUNDS)
        .flat_map(|_| [request(inserts.clone()), request(deletes.clone())])
        .collect();
    let start = Instant::now();
    for r in requests {
        client.write(r).await?;
    }
    let batched = start.elapsed();
    let batched_rate = f64::from(2 * BATCH * BATCH_ROUNDS) / batched.as_secs_f64();

    // The floor: Capabilities, which touches no switch state.
    let start = Instant::now();
    for _ in 0..SINGLE {
        client.capabilities(p4::CapabilitiesRequest {}).await?;
    }
    let floor = start.elapsed();
    println!(
        "Capabilities RPCs (no switch work): {} in {:.3} s = {:.0} RPCs/s",
        SINGLE,
        floor.as_secs_f64(),
        f64::from(SINGLE) / floor.as_secs_f64()
    );
    println!(
        "single-update writes: {} in {:.3} s = {:.0} writes/s",
        2 * SINGLE,
        single.as_secs_f64(),
        single_rate
    );
    println!(
        "1,000-update batches: {} entries in {:.3} s = {:.0} entries/s",
        2 * BATCH * BATCH_ROUNDS,
        batched.as_secs_f64(),
        batched_rate
    );
    drop(stream);
    drop(tx);
    drop(client);
    let _ = stop.send(());
    server.await??;
    Ok(())
}
