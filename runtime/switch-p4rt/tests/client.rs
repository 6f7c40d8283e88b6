//! `fairshare_p4rt::client` against `fairshare switch`'s P4Runtime server
//! in-process on loopback.

mod client_scenario;

use std::time::Duration;

use anyhow::{ensure, Result};
use fairshare_p4rt::client::{Backoff, Client, ClientConfig, Mastership};
use fairshare_p4rt::entity;
use fairshare_p4rt::{Error, P4InfoIndex};
use fairshare_switch_p4rt::{Config, P4rtSwitch};

const CPU_PORT: u32 = 255;

struct Server {
    switch: P4rtSwitch,
    addr: std::net::SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), fairshare_switch_p4rt::Error>>,
}

async fn serve(listener: tokio::net::TcpListener) -> Result<Server> {
    serve_with(listener, Config::default().busy_poll).await
}

/// [`serve`] with the server busy-polling its connections for `busy_poll`.
async fn serve_with(listener: tokio::net::TcpListener, busy_poll: Duration) -> Result<Server> {
    let switch = P4rtSwitch::new(
        Config {
            cpu_port: CPU_PORT,
            busy_poll,
            ..Config::default()
        },
        None,
    );
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let sw = switch.clone();
    let task = tokio::spawn(async move {
        sw.run(listener, async {
            let _ = stopped.await;
        })
        .await
    });
    Ok(Server {
        switch,
        addr,
        stop,
        task,
    })
}

impl Server {
    async fn stop(self) -> Result<()> {
        let _ = self.stop.send(());
        tokio::time::timeout(Duration::from_secs(10), self.task).await???;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_drives_the_switch_server_through_the_controller_scenario() -> Result<()> {
    let server = serve(tokio::net::TcpListener::bind("127.0.0.1:0").await?).await?;
    client_scenario::run(&server.addr.to_string(), 0, CPU_PORT).await?;
    ensure!(server.switch.has_pipeline());
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scenario_runs_the_same_with_busy_polling_off_on_both_ends() -> Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let server = serve_with(listener, Duration::ZERO).await?;
    client_scenario::run_with(&server.addr.to_string(), 0, CPU_PORT, Duration::ZERO).await?;
    ensure!(server.switch.has_pipeline());
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_retries_until_the_device_listens() -> Result<()> {
    // The port is chosen, then the server starts listening on it only
    // after the client's first attempts have failed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let addr = format!("127.0.0.1:{port}");
    let late = tokio::spawn({
        let addr = addr.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            serve(tokio::net::TcpListener::bind(&addr).await?).await
        }
    });
    let config = ClientConfig {
        backoff: Backoff {
            attempts: 20,
            initial: Duration::from_millis(20),
            max: Duration::from_millis(100),
            connect_timeout: Duration::from_secs(1),
        },
        ..ClientConfig::default()
    };
    let client = Client::connect(&addr, config).await?;
    ensure!(client.mastership() == Mastership::Primary);
    drop(client);
    late.await??.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backups_and_refusals_are_typed_errors() -> Result<()> {
    let server = serve(tokio::net::TcpListener::bind("127.0.0.1:0").await?).await?;
    let addr = server.addr.to_string();
    let (json, p4info, _) = client_scenario::single_example()?;
    let index = P4InfoIndex::new(p4info.clone())?;

    // A backup cannot push a pipeline.
    let mut primary = Client::connect(&addr, client_scenario::config(0, 5)).await?;
    let mut backup = Client::connect(&addr, client_scenario::config(0, 2)).await?;
    ensure!(
        backup.mastership()
            == Mastership::Backup {
                primary_election_id: Some(5)
            },
        "{:?}",
        backup.mastership()
    );
    match backup.set_pipeline(json.clone(), p4info.clone()).await {
        Err(Error::NotPrimary(_)) => {}
        other => anyhow::bail!("expected NotPrimary, found {other:?}"),
    }
    primary.set_pipeline(json, p4info).await?;

    // An election id another controller holds is refused at arbitration.
    match Client::connect(&addr, client_scenario::config(0, 5)).await {
        Err(Error::Arbitration(_)) => {}
        Err(other) => anyhow::bail!("expected an arbitration error, found {other}"),
        Ok(_) => anyhow::bail!("expected an arbitration error, found a client"),
    }

    // A refused update inside a batch: one p4.v1.Error per update.
    let bad_meter = entity::meter_entry(&index, "Ingress.rsvp_meter", Some(7), None)?;
    let good_meter = entity::meter_entry(
        &index,
        "Ingress.rsvp_meter",
        Some(0),
        Some(entity::meter_config(10, 1, 20, 2)),
    )?;
    match primary
        .write(vec![entity::modify(good_meter), entity::modify(bad_meter)])
        .await
    {
        Err(Error::UpdatesFailed { errors, .. }) => {
            let codes: Vec<i32> = errors.iter().map(|e| e.canonical_code).collect();
            ensure!(codes == [0, tonic::Code::OutOfRange as i32], "{codes:?}");
        }
        other => anyhow::bail!("expected per-update errors, found {other:?}"),
    }

    // When the primary leaves, the backup is told there is no primary
    // (its id is below the highest the role has had).
    drop(primary);
    let mut rx = backup.watch_mastership();
    let m = tokio::time::timeout(
        Duration::from_secs(5),
        rx.wait_for(|m| matches!(m, Mastership::NoPrimary { .. })),
    )
    .await??
    .clone();
    ensure!(
        m == Mastership::NoPrimary {
            highest_election_id: Some(5)
        },
        "{m:?}"
    );
    ensure!(backup.arbitrate(6).await? == Mastership::Primary);
    drop(rx);
    drop(backup);
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_blocking_serves_on_a_runtime_of_its_own() -> Result<()> {
    // As `fairshare switch --grpc` runs it: on a thread of its own.
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?.to_string();
    let switch = P4rtSwitch::new(Config::default(), None);
    let sw = switch.clone();
    let server =
        std::thread::spawn(move || sw.run_blocking(listener, Some(Duration::from_secs(3))));
    let (json, p4info, rules) = client_scenario::single_example()?;
    let index = P4InfoIndex::new(p4info.clone())?;
    let mut client = Client::connect(&addr, ClientConfig::default()).await?;
    client.set_pipeline(json, p4info).await?;
    client
        .write(fairshare_switch_p4rt::rules::updates(&index, &rules)?)
        .await?;
    let read = client
        .read(vec![entity::all_entries(&index, None)?])
        .await?;
    ensure!(read.len() == rules.table_entries.len());
    ensure!(switch.has_pipeline());
    drop(client);
    server
        .join()
        .map_err(|_| anyhow::anyhow!("the server thread panicked"))??;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_reads_arrive_in_several_responses() -> Result<()> {
    use fairshare_p4rt::entity::Match;
    let server = serve(tokio::net::TcpListener::bind("127.0.0.1:0").await?).await?;
    let (json, p4info, _) = client_scenario::single_example()?;
    let index = P4InfoIndex::new(p4info.clone())?;
    let mut client = Client::connect(&server.addr.to_string(), ClientConfig::default()).await?;
    client.set_pipeline(json, p4info).await?;
    let flows = (0..2500u32)
        .map(|n| {
            entity::table_entry(
                &index,
                "Ingress.flows",
                &[
                    (
                        "hdr.ipv4.src_addr",
                        Match::Exact(0xc000_0000 + u128::from(n)),
                    ),
                    ("hdr.ipv4.dst_addr", Match::Exact(0x0a00_0001)),
                    ("hdr.ipv4.protocol", Match::Exact(6)),
                    ("meta.l4_src", Match::Exact(40_000)),
                    ("meta.l4_dst", Match::Exact(80)),
                ],
                "Ingress.reserved_flow",
                &[("route", 0)],
                0,
            )
            .map(entity::insert)
        })
        .collect::<Result<Vec<_>, _>>()?;
    client.write(flows).await?;
    let mut stream = client
        .read_stream(vec![entity::all_entries(&index, Some("Ingress.flows"))?])
        .await?;
    let mut sizes = Vec::new();
    while let Some(batch) = stream.next().await? {
        sizes.push(batch.len());
    }
    // The server answers with at most 1,000 entities per response.
    ensure!(sizes == [1000, 1000, 500], "{sizes:?}");
    drop(stream);
    drop(client);
    server.stop().await
}
