//! The lab on the metro example without controllers' logic: sessions push
//! each switch's pipeline and rules, a simulated client's request crosses
//! the edge switch, the core and the DC switch to the server it is steered
//! to, and the server's Path for the flow reaches the DC side as a
//! packet-in — the intercept's starting point.

mod common;

use std::sync::Arc;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use common::{metro_pipeline, metro_rules, root};
use fairshare_controller::lab::Lab;
use fairshare_controller::session::{Event, Session, SessionConfig};
use fairshare_controller::sim::{Sim, SimConfig};
use fairshare_p4rt::client::ClientConfig;

fn metro_policy() -> Result<fairshare_policy::model::Policy> {
    let src = std::fs::read_to_string(root().join("examples/metro.fsp"))?;
    let (_, policy) = fairshare_policy::load(&src).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    Ok(policy)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_reaches_its_server_and_the_servers_path_is_punted_to_the_dc_side() -> Result<()>
{
    let policy = Arc::new(metro_policy()?);
    let sim = Arc::new(Sim::new(policy.clone(), SimConfig::default()));
    let lab = Lab::start(&policy, sim.clone())?;
    let pipeline = metro_pipeline()?;
    let mut sessions = Vec::new();
    for name in ["dc-east", "edge-n"] {
        let node = lab.node(name).context("a lab node")?;
        let cfg = SessionConfig {
            name: name.into(),
            addr: node.addr.to_string(),
            client: ClientConfig {
                device_id: node.device_id,
                ..ClientConfig::default()
            },
            pipeline: pipeline.clone(),
        };
        let rules = metro_rules(name, &pipeline)?;
        sessions.push(Session::open(cfg, &rules).await?.0);
    }
    let mut dc = sessions.remove(0);

    // edge north is policy edge 0, www service 0: east serves it, and
    // dc-east's initial steer entry sends every edge to web2.
    let (client, port) = sim.request(&lab.handle(), 0, 0).context("a request")?;
    let event = tokio::time::timeout(Duration::from_secs(5), dc.next_event())
        .await
        .context("no packet-in at the DC side")?;
    let Event::PacketIn(p) = event else {
        anyhow::bail!("expected a packet-in, got {event:?}")
    };
    ensure!(
        p.value("ingress_port") == Some(2),
        "from web2's port: {:?}",
        p.metadata
    );
    let view = fairshare_rsvp::frame::parse_frame(&p.payload)?;
    let msg = fairshare_rsvp::Message::parse(view.rsvp)?;
    ensure!(matches!(msg.body, fairshare_rsvp::Body::Path(_)));
    ensure!(msg.session().dest == std::net::IpAddr::V4(client) && msg.session().port == port);
    let flows = sim.flows();
    ensure!(flows.len() == 1 && flows[0].server.map(|s| s.1) == Some("10.1.0.12".parse()?));
    // The request crossed edge-n's uplink and dc-east's uplink.
    let edge = lab.node("edge-n").context("edge-n")?;
    ensure!(lab
        .handle()
        .captured("edge-n", edge.uplink_port)
        .iter()
        .any(|c| c.out));
    ensure!(lab.handle().captured("dc-east", 10).iter().any(|c| !c.out));
    ensure!(lab.undeliverable() == 0);
    Ok(())
}
