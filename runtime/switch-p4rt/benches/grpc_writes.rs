//! Table-entry writes over gRPC on loopback against the P4Runtime server
//! with the `dc1-sw` pipeline of `examples/single.fsp`: single-update
//! Write RPCs, one after the other, and 1,000-update batches. Entries go
//! into `Ingress.flows` (five exact keys, 4,096 entries) and are deleted
//! again, so every round starts from an empty table.
//!
//! The requests go through `fairshare_p4rt::client`, the controller's
//! client.
//!
//! Run with `cargo bench -p fairshare-switch-p4rt --bench grpc_writes`.
//! `FAIRSHARE_BENCH_TARGET=bmv2` runs the same requests, through the same
//! client, against a real `simple_switch_grpc` (from `FAIRSHARE_BMV2`,
//! `../shared/bmv2` or PATH) instead of fairshare's server.
//!
//! For instruction counts (`valgrind --tool=callgrind`, run twice with
//! different counts and take the difference), `FAIRSHARE_BENCH_SINGLE`
//! sets the number of single-update inserts (and deletes),
//! `FAIRSHARE_BENCH_ROUNDS` the number of batch rounds, and
//! `FAIRSHARE_BENCH_PHASES` which parts run (a comma-separated subset of
//! `single,in-flight,batches,capabilities`; all by default).

use std::path::Path;
use std::time::Instant;

use anyhow::{anyhow, Context, Result};
use fairshare_p4rt::client::{Client, ClientConfig};
use fairshare_p4rt::proto::p4::config::v1::P4Info;
use fairshare_p4rt::proto::p4::v1 as p4;
use fairshare_p4rt::{EntityKind, P4InfoIndex};
use fairshare_switch_p4rt::{Config, P4rtSwitch};

const SINGLE: u32 = 4_000;
const BATCH: u32 = 1_000;
const BATCH_ROUNDS: u32 = 20;

/// What the environment asks of the run (see the module docs).
struct Plan {
    single: u32,
    rounds: u32,
    phases: String,
}

impl Plan {
    fn from_env() -> Result<Plan> {
        let number = |name: &str, default: u32| -> Result<u32> {
            match std::env::var(name) {
                Ok(v) => v
                    .parse()
                    .with_context(|| format!("{name}: expected a number, found `{v}`")),
                Err(_) => Ok(default),
            }
        };
        Ok(Plan {
            single: number("FAIRSHARE_BENCH_SINGLE", SINGLE)?,
            rounds: number("FAIRSHARE_BENCH_ROUNDS", BATCH_ROUNDS)?,
            phases: std::env::var("FAIRSHARE_BENCH_PHASES")
                .unwrap_or_else(|_| "single,in-flight,batches,capabilities".to_owned()),
        })
    }

    fn runs(&self, phase: &str) -> bool {
        self.phases.split(',').any(|p| p.trim() == phase)
    }
}
const IN_FLIGHT: usize = 16;

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
/// Updates of `kind` for flows 0 to `count - 1`.
fn flows(index: &P4InfoIndex, count: u32, kind: p4::update::Type) -> Result<Vec<p4::Update>> {
    (0..count).map(|n| flow(index, n, kind)).collect()
}

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

/// The server runs on a thread of its own with a single-threaded async
/// runtime, as `P4rtSwitch::run_blocking` (`fairshare switch --grpc`) runs
/// it, and the client on the bench's thread with another, as a controller
/// in its own process would. For comparison, `FAIRSHARE_BENCH_RT` selects
/// other arrangements: `server-multi` (the server on a two-thread runtime),
/// `multi` (server and client on one two-thread runtime, the earlier
/// arrangement of this bench) and `one` (both on one thread).
fn main() -> Result<()> {
    if std::env::var("FAIRSHARE_BENCH_TARGET").is_ok_and(|t| t == "bmv2") {
        return against_bmv2();
    }
    let flavour = std::env::var("FAIRSHARE_BENCH_RT").unwrap_or_default();
    let multi = flavour == "multi";
    let (json, p4info) = pipeline()?;
    let p4info = fairshare_p4rt::text::parse_p4info(&p4info)?;
    let switch = P4rtSwitch::new(Config::default(), None);
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    if multi || flavour == "one" {
        let rt = if multi {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?
        } else {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
        };
        return rt.block_on(async {
            listener.set_nonblocking(true)?;
            let listener = tokio::net::TcpListener::from_std(listener)?;
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let server = tokio::spawn(async move {
                switch
                    .run(listener, async {
                        let _ = stopped.await;
                    })
                    .await
            });
            measure(addr, json, p4info).await?;
            let _ = stop.send(());
            server.await??;
            Ok(())
        });
    }
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server_multi = flavour == "server-multi";
    let server = std::thread::spawn(move || -> Result<()> {
        let rt = if server_multi {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?
        } else {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
        };
        rt.block_on(async {
            listener.set_nonblocking(true)?;
            let listener = tokio::net::TcpListener::from_std(listener)?;
            switch
                .run(listener, async {
                    let _ = stopped.await;
                })
                .await?;
            Ok(())
        })
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(measure(addr, json, p4info))?;
    drop(rt);
    let _ = stop.send(());
    server
        .join()
        .map_err(|_| anyhow!("the server thread panicked"))??;
    Ok(())
}

/// Kills simple_switch_grpc however the bench ends.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn against_bmv2() -> Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let bin = std::env::var_os("FAIRSHARE_BMV2")
        .map(|d| Path::new(&d).join("bin/simple_switch_grpc"))
        .or_else(|| Some(root.join("../shared/bmv2/bin/simple_switch_grpc")))
        .filter(|p| p.is_file())
        .or_else(|| {
            std::env::split_paths(&std::env::var_os("PATH")?)
                .map(|d| d.join("simple_switch_grpc"))
                .find(|p| p.is_file())
        });
    let Some(bin) = bin else {
        println!("skipped: no simple_switch_grpc (FAIRSHARE_BMV2, ../shared/bmv2 or PATH)");
        return Ok(());
    };
    // simple_switch_grpc does not report a port it chose: pick a free one.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let child = std::process::Command::new(&bin)
        .args(["--no-p4", "--device-id", "0", "--", "--grpc-server-addr"])
        .arg(format!("127.0.0.1:{port}"))
        .args(["--cpu-port", "255"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let _running = Running(child);
    println!("target: {}", bin.display());
    let (json, p4info) = pipeline()?;
    let p4info = fairshare_p4rt::text::parse_p4info(&p4info)?;
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse()?;
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(measure(addr, json, p4info))
}

async fn measure(addr: std::net::SocketAddr, json: String, p4info: P4Info) -> Result<()> {
    let index = P4InfoIndex::new(p4info.clone())?;
    // Become primary, push the pipeline.
    let mut client = Client::connect(
        &addr.to_string(),
        ClientConfig {
            election_id: 1,
            ..ClientConfig::default()
        },
    )
    .await?;
    client.set_pipeline(json.into_bytes(), p4info).await?;
    use p4::update::Type::{Delete, Insert};
    let plan = Plan::from_env()?;
    let single_count = plan.single;

    // Single-update requests: inserts, then deletes.
    if plan.runs("single") {
        let inserts = flows(&index, single_count, Insert)?;
        let deletes = flows(&index, single_count, Delete)?;
        let start = Instant::now();
        for u in inserts {
            client.write_one(u).await?;
        }
        let single_inserts = start.elapsed();
        for u in deletes {
            client.write_one(u).await?;
        }
        let single = start.elapsed();
        println!(
            "(single-update inserts {:.0}/s, deletes {:.0}/s)",
            f64::from(single_count) / single_inserts.as_secs_f64(),
            f64::from(single_count) / (single - single_inserts).as_secs_f64()
        );
        println!(
            "single-update writes: {} in {:.3} s = {:.0} writes/s",
            2 * single_count,
            single.as_secs_f64(),
            f64::from(2 * single_count) / single.as_secs_f64()
        );
    }

    // The same single-update requests with IN_FLIGHT of them outstanding
    // at a time, as a controller with independent updates can send them
    // (HTTP/2 carries them side by side on the one connection).
    if plan.runs("in-flight") {
        let inserts = flows(&index, single_count, Insert)?;
        let deletes = flows(&index, single_count, Delete)?;
        let start = Instant::now();
        for phase in [inserts, deletes] {
            let mut tasks = tokio::task::JoinSet::new();
            let per_task = phase.len().div_ceil(IN_FLIGHT);
            let mut rest = phase.into_iter();
            for _ in 0..IN_FLIGHT {
                let chunk: Vec<p4::Update> = rest.by_ref().take(per_task).collect();
                let writer = client.writer();
                tasks.spawn(async move {
                    for u in chunk {
                        writer.write(vec![u]).await?;
                    }
                    Ok::<(), fairshare_p4rt::Error>(())
                });
            }
            while let Some(done) = tasks.join_next().await {
                done??;
            }
        }
        let pipelined = start.elapsed();
        println!(
            "single-update writes, {IN_FLIGHT} in flight: {} in {:.3} s = {:.0} writes/s",
            2 * single_count,
            pipelined.as_secs_f64(),
            f64::from(2 * single_count) / pipelined.as_secs_f64()
        );
    }

    // 1,000-update batches: a batch of inserts, then one of deletes. The
    // updates are built before the clock starts.
    if plan.runs("batches") {
        let inserts = flows(&index, BATCH, Insert)?;
        let deletes = flows(&index, BATCH, Delete)?;
        let batches: Vec<Vec<p4::Update>> = (0..plan.rounds)
            .flat_map(|_| [inserts.clone(), deletes.clone()])
            .collect();
        let start = Instant::now();
        for b in batches {
            client.write(b).await?;
        }
        let batched = start.elapsed();
        println!(
            "1,000-update batches: {} entries in {:.3} s = {:.0} entries/s",
            2 * BATCH * plan.rounds,
            batched.as_secs_f64(),
            f64::from(2 * BATCH * plan.rounds) / batched.as_secs_f64()
        );
    }

    // The floor: Capabilities, which touches no switch state.
    if plan.runs("capabilities") {
        let start = Instant::now();
        for _ in 0..single_count {
            client.capabilities().await?;
        }
        let floor = start.elapsed();
        println!(
            "Capabilities RPCs (no switch work): {} in {:.3} s = {:.0} RPCs/s",
            single_count,
            floor.as_secs_f64(),
            f64::from(single_count) / floor.as_secs_f64()
        );
    }
    Ok(())
}
