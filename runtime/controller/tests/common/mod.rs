//! A fairshare switch with its P4Runtime server on loopback, on an async
//! runtime of its own so that a test can kill it (connections and all) and
//! start a fresh one on the same port, as a switch restart looks to a
//! controller; and the compiled metro example.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, Result};
use fairshare_controller::session::Pipeline;
use fairshare_p4rt::proto::p4::v1 as p4;
use fairshare_p4rt::P4InfoIndex;
use fairshare_switch_p4rt::{Config, P4rtSwitch};

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The metro example's pipeline for CPU port 255, as `fairshare compile`
/// writes it (kept current by the golden tests).
pub fn metro_pipeline() -> Result<Pipeline> {
    let dir = root().join("examples/expected/metro/pipelines/bmv2-cpu255");
    let device_config = std::fs::read(dir.join("fairshare.json"))?;
    let text = std::fs::read_to_string(dir.join("fairshare.p4info.txtpb"))?;
    let p4info = fairshare_p4rt::text::parse_p4info(&text)?;
    Ok(Pipeline {
        device_config,
        p4info,
    })
}

/// The initial rules of a metro switch as P4Runtime updates.
pub fn metro_rules(switch: &str, pipeline: &Pipeline) -> Result<Vec<p4::Update>> {
    let path = root().join(format!(
        "examples/expected/metro/switches/{switch}.rules.json"
    ));
    let text = std::fs::read_to_string(&path).with_context(|| path.display().to_string())?;
    let rules = fairshare_switch::rules::Rules::parse(&text)?;
    let index = P4InfoIndex::new(pipeline.p4info.clone())?;
    Ok(fairshare_switch_p4rt::rules::updates(&index, &rules)?)
}

pub struct SwitchProcess {
    pub switch: P4rtSwitch,
    pub addr: SocketAddr,
    pub output: mpsc::Receiver<(u32, Vec<u8>)>,
    rt: Option<tokio::runtime::Runtime>,
}

impl SwitchProcess {
    /// A switch without a pipeline listening on `addr` (port 0: any).
    pub fn start(addr: SocketAddr, device_id: u64) -> Result<SwitchProcess> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()?;
        let (tx, output) = mpsc::channel();
        let switch = P4rtSwitch::new(
            Config {
                device_id,
                cpu_port: 255,
                ..Config::default()
            },
            Some(tx),
        );
        let listener = std::net::TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        let sw = switch.clone();
        rt.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
            let _ = sw.run(listener, std::future::pending()).await;
        });
        Ok(SwitchProcess {
            switch,
            addr,
            output,
            rt: Some(rt),
        })
    }

    /// Kills the server and every connection it has.
    pub fn kill(mut self) -> SocketAddr {
        if let Some(rt) = self.rt.take() {
            // Off the caller's runtime: a runtime cannot be shut down from
            // inside another's async context.
            let _ = std::thread::spawn(move || rt.shutdown_timeout(Duration::from_secs(1))).join();
        }
        self.addr
    }
}

impl Drop for SwitchProcess {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

pub fn find_simple_switch_grpc() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("FAIRSHARE_BMV2") {
        let p = PathBuf::from(dir).join("bin/simple_switch_grpc");
        return p.is_file().then_some(p);
    }
    let shared = root().join("../shared/bmv2/bin/simple_switch_grpc");
    if shared.is_file() {
        return Some(shared);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("simple_switch_grpc"))
        .find(|p| p.is_file())
}

/// Makes a request and waits until its server has an answer.
pub async fn request(
    demo: &fairshare_controller::demo::Demo,
    edge: usize,
    service: usize,
) -> Result<fairshare_controller::sim::FlowState> {
    let (client, port) = demo.request(edge, service).context("request")?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let f = demo
            .sim
            .flows()
            .into_iter()
            .find(|f| f.client == client && f.client_port == port)
            .context("the flow")?;
        if f.state != fairshare_controller::sim::FlowState::Pending {
            return Ok(f.state);
        }
        if tokio::time::Instant::now() > deadline {
            anyhow::bail!(
                "no answer for {client}:{port}: {f:?}, report {:?}",
                demo.report()
            );
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
