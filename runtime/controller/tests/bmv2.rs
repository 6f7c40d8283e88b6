//! The controller against a real `simple_switch_grpc`: arbitration, the
//! pipeline pushed, the initial rules written and read back (a second
//! session finds nothing to change), and the intercept over the CPU port —
//! a server's Path enters BMv2 on a data port (a pcap FIFO), is punted to
//! the controller, and the release then the forwarded Path leave BMv2's
//! uplink, with the aggregate meter shrunk and the flow's entry installed
//! in between.
//!
//! BMv2 is found through `FAIRSHARE_BMV2` (a folder with `bin/`), then
//! `../shared/bmv2` beside the workspace root, then `PATH`. Without it the
//! test prints `skipped: <reason>` and passes, unless
//! `FAIRSHARE_REQUIRE_BMV2=1`, when it fails.

mod common;

use std::io::Write;
use std::net::IpAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use fairshare_controller::agent::Settings;
use fairshare_controller::deploy::Deployment;
use fairshare_controller::run::{run, ControllerConfig, StatusHandle};
use fairshare_controller::session::{Session, SessionConfig};
use fairshare_p4rt::client::{Backoff, ClientConfig};
use fairshare_p4rt::proto::p4::v1 as p4;
use fairshare_p4rt::EntityKind;
use fairshare_rsvp::frame::{FrameHeader, MacAddr};
use fairshare_rsvp::{
    Body, FilterSpec, Hop, Message, Path as RsvpPath, SenderDescriptor, Session as RsvpSession,
    TimeValues, TokenBucket,
};

const TINY: &str = r#"
network "tiny" {
  recalc every 60s
  datacenter dc1 {
    switch dc1-sw { cpu-port 255  device-id 1  uplink-port 10 }
    uplink 10Gbps
    server s1 { address 10.0.0.1  port 1  capacity 1Gbps  response 1ms }
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

/// SIGTERM, then SIGKILL after three seconds: never left running.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn pcap_header() -> Vec<u8> {
    let mut h = Vec::new();
    h.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    h.extend_from_slice(&2u16.to_le_bytes());
    h.extend_from_slice(&4u16.to_le_bytes());
    h.extend_from_slice(&[0; 8]);
    h.extend_from_slice(&65_535u32.to_le_bytes());
    h.extend_from_slice(&1u32.to_le_bytes());
    h
}

fn pcap_record(frame: &[u8]) -> Vec<u8> {
    let mut r = Vec::new();
    r.extend_from_slice(&1u32.to_le_bytes());
    r.extend_from_slice(&0u32.to_le_bytes());
    r.extend_from_slice(&(frame.len() as u32).to_le_bytes());
    r.extend_from_slice(&(frame.len() as u32).to_le_bytes());
    r.extend_from_slice(frame);
    r
}

/// The complete records of a pcap file being written.
fn frames(path: &Path) -> Vec<Vec<u8>> {
    let Ok(b) = std::fs::read(path) else {
        return vec![];
    };
    let mut out = vec![];
    let mut i = 24;
    while i + 16 <= b.len() {
        let len = u32::from_le_bytes([b[i + 8], b[i + 9], b[i + 10], b[i + 11]]) as usize;
        if i + 16 + len > b.len() {
            break;
        }
        out.push(b[i + 16..i + 16 + len].to_vec());
        i += 16 + len;
    }
    out
}

fn rsvp(frame: &[u8]) -> Option<Message> {
    let v = fairshare_rsvp::frame::parse_frame(frame).ok()?;
    Message::parse(v.rsvp).ok()
}

/// The server's Path for a 250 Mb/s flow to 192.0.2.7:40000.
fn server_path() -> Result<Vec<u8>> {
    let server: std::net::Ipv4Addr = "10.0.0.1".parse()?;
    let rate = 250_000_000f32 / 8.0;
    let msg = Message::new(
        64,
        Body::Path(RsvpPath {
            session: RsvpSession {
                dest: "192.0.2.7".parse()?,
                protocol: 6,
                flags: 0,
                port: 40000,
            },
            hop: Hop {
                addr: IpAddr::V4(server),
                lih: 0,
            },
            time_values: TimeValues { refresh_ms: 30_000 },
            policy_data: vec![],
            sender: Some(SenderDescriptor {
                template: FilterSpec::Port {
                    addr: IpAddr::V4(server),
                    port: 80,
                },
                tspec: TokenBucket {
                    rate,
                    size: rate / 100.0,
                    peak: f32::INFINITY,
                    min_policed_unit: 64,
                    max_packet_size: 1500,
                },
                adspec: None,
            }),
        }),
    );
    Ok(FrameHeader::for_message(
        MacAddr([0x02, 0x01, 10, 0, 0, 1]),
        MacAddr([0x02, 0, 0, 1, 0, 1]),
        server,
        "192.0.2.7".parse()?,
        &msg,
    )
    .build(&msg)?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_controller_drives_simple_switch_grpc_through_an_admission() -> Result<()> {
    let Some(bin) = common::find_simple_switch_grpc() else {
        if std::env::var_os("FAIRSHARE_REQUIRE_BMV2").is_some_and(|v| v == "1") {
            bail!("FAIRSHARE_REQUIRE_BMV2=1 but no simple_switch_grpc in FAIRSHARE_BMV2, ../shared/bmv2 or PATH");
        }
        eprintln!("skipped: no simple_switch_grpc (set FAIRSHARE_BMV2 to a folder with bin/simple_switch_grpc)");
        return Ok(());
    };
    let dir =
        std::env::temp_dir().join(format!("fairshare-controller-bmv2-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    for name in ["s1", "up"] {
        let st = Command::new("mkfifo")
            .arg(dir.join(format!("{name}_in.pcap")))
            .status()?;
        ensure!(st.success(), "mkfifo");
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let child = Command::new(&bin)
        .current_dir(&dir)
        .args([
            "--no-p4",
            "--device-id",
            "1",
            "-i",
            "1@s1",
            "-i",
            "10@up",
            "--use-files",
            "0",
            "--",
            "--grpc-server-addr",
            &format!("127.0.0.1:{port}"),
            "--cpu-port",
            "255",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let _running = Running(child);
    // simple_switch opens each input as it adds the port and reads the pcap
    // header at once: open both from threads and give each its header; s1
    // stays open for the server's data and Path.
    let (s1_tx, s1_rx) = std::sync::mpsc::channel::<std::fs::File>();
    for name in ["s1", "up"] {
        let path = dir.join(format!("{name}_in.pcap"));
        let tx = s1_tx.clone();
        std::thread::spawn(move || {
            if let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(&path) {
                let _ = f.write_all(&pcap_header());
                let _ = f.flush();
                // BMv2 merges its pcap inputs by time, so it waits for a
                // record or the end of every input: the uplink's ends now.
                if name == "s1" {
                    let _ = tx.send(f);
                }
            }
        });
    }

    let (_, policy) = fairshare_policy::load(TINY).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let deployment = Deployment::build(policy)?;
    let share = deployment.shares.get(0, 0).context("share")?;
    let plan = deployment.switch("dc1-sw")?.clone();
    let session = |election_id: u128| SessionConfig {
        name: "dc1-sw".into(),
        addr: format!("127.0.0.1:{port}"),
        client: ClientConfig {
            device_id: 1,
            election_id,
            backoff: Backoff {
                attempts: 100,
                initial: Duration::from_millis(50),
                max: Duration::from_millis(200),
                connect_timeout: Duration::from_secs(1),
            },
            ..ClientConfig::default()
        },
        pipeline: plan.pipeline.clone(),
    };
    let status = StatusHandle::new();
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let agent = deployment.agent(
        "dc1-sw",
        Settings {
            refresh: Duration::from_secs(30),
            epoch: 7,
        },
    )?;
    let controller = tokio::spawn(run(
        ControllerConfig {
            session: session(1),
            initial: plan.initial.clone(),
            policy: deployment.policy.clone(),
            tick: Duration::from_millis(50),
            recalc: None,
            log: None,
            meter_grain: fairshare_controller::writes::MeterGrain::Byte,
        },
        agent,
        status.clone(),
        stop_rx,
    ));
    let deadline = Instant::now() + Duration::from_secs(20);
    while !status.get().primary {
        if controller.is_finished() {
            bail!("the controller stopped: {:?}", controller.await?);
        }
        ensure!(
            Instant::now() < deadline,
            "the controller never became primary: {:?}",
            status.get()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    ensure!(status.get().pipeline_pushes == 1, "{:?}", status.get());

    // The server's Path enters port 1.
    let mut s1 =
        tokio::task::spawn_blocking(move || s1_rx.recv_timeout(Duration::from_secs(10))).await??;
    let data = fairshare_packet::build::l4_frame(
        [[0x02, 0, 0, 1, 0, 1], [0x02, 1, 10, 0, 0, 1]],
        ["10.0.0.1".parse()?, "192.0.2.7".parse()?],
        6,
        [80, 40000],
        64,
        b"data",
    );
    s1.write_all(&pcap_record(&data))?;
    s1.write_all(&pcap_record(&server_path()?))?;
    s1.flush()?;
    // BMv2's pcap reader reads ahead: the end of the input hands it over.
    drop(s1);

    let up_out = dir.join("up_out.pcap");
    let deadline = Instant::now() + Duration::from_secs(10);
    let out = loop {
        let msgs: Vec<Message> = frames(&up_out).iter().filter_map(|f| rsvp(f)).collect();
        if msgs.iter().any(|m| m.session().protocol == 6) {
            break msgs;
        }
        ensure!(
            Instant::now() < deadline,
            "no forwarded Path out of BMv2's uplink: {msgs:?}, {:?}",
            status.get()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let flow_at = out
        .iter()
        .position(|m| m.session().protocol == 6)
        .context("flow Path")?;
    let rate = |m: &Message| match &m.body {
        Body::Path(p) => p
            .sender
            .as_ref()
            .map(|s| (s.tspec.rate as f64 * 8.0).round() as u64),
        _ => None,
    };
    let release = out[..flow_at]
        .iter()
        .rev()
        .find(|m| m.session().protocol != 6)
        .context("no release ahead of the flow's Path")?;
    ensure!(
        rate(release)
            .context("release rate")?
            .abs_diff(share - 250_000_000)
            <= 8,
        "the release announces {:?}",
        rate(release)
    );

    // What BMv2 holds now, read back: the flow's entry with its meter, the
    // aggregate shrunk.
    let mut client = fairshare_p4rt::proto::p4::v1::p4_runtime_client::P4RuntimeClient::connect(
        format!("http://127.0.0.1:{port}"),
    )
    .await?;
    let index = fairshare_p4rt::P4InfoIndex::new(plan.pipeline.p4info.clone())?;
    let flows = index
        .id(EntityKind::Table, "Ingress.flows")
        .context("flows")?;
    let meter = index
        .id(EntityKind::Meter, "Ingress.route_meter")
        .context("route_meter")?;
    let mut stream = client
        .read(p4::ReadRequest {
            device_id: 1,
            entities: vec![
                p4::Entity {
                    entity: Some(p4::entity::Entity::TableEntry(p4::TableEntry {
                        table_id: flows,
                        ..Default::default()
                    })),
                },
                p4::Entity {
                    entity: Some(p4::entity::Entity::MeterEntry(p4::MeterEntry {
                        meter_id: meter,
                        index: Some(p4::Index { index: 0 }),
                        ..Default::default()
                    })),
                },
            ],
            ..Default::default()
        })
        .await?
        .into_inner();
    let (mut entries, mut cir) = (0, None);
    while let Some(r) = stream.message().await? {
        for e in r.entities {
            match e.entity {
                Some(p4::entity::Entity::TableEntry(_)) => entries += 1,
                Some(p4::entity::Entity::MeterEntry(m)) => cir = m.config.map(|c| c.cir),
                _ => {}
            }
        }
    }
    ensure!(entries == 1, "{entries} flow entries on BMv2");
    let expected = ((share - 250_000_000) / 8) as i64;
    ensure!(
        cir == Some(expected),
        "aggregate meter cir {cir:?}, expected {expected}"
    );
    let s = status.get();
    ensure!(
        s.write_failures == 0 && s.invariant_violations == 0,
        "{s:?}"
    );
    let _ = stop.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(5), controller).await;

    // A controller that starts over with only the initial rules: BMv2's
    // read-back matches them entry for entry, so the resynchronisation
    // deletes the flow and restores the aggregate meter, and nothing else.
    let (_s, est) = Session::open(session(2), &plan.initial).await?;
    ensure!(!est.pushed, "the pipeline is recognised by its cookie");
    ensure!(
        est.sync.deleted == 1
            && est.sync.meters == 1
            && est.sync.inserted == 0
            && est.sync.modified == 0,
        "{:?}",
        est.sync
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
