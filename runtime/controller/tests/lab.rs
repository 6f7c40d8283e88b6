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

#[test]
fn a_seed_gives_each_link_the_same_fates_at_the_rates_asked() {
    use fairshare_controller::lab::{Fate, Faults};
    let faults = Faults {
        seed: 7,
        drop: 0.2,
        duplicate: 0.1,
        delay: 0.3,
        max_delay: Duration::from_millis(50),
        rsvp_only: true,
    };
    let n = 20_000;
    let fates = |f: &Faults, from: &str, to: &str| -> Vec<Fate> {
        (0..n).map(|i| f.fate(from, to, i)).collect()
    };
    let a = fates(&faults, "dc1-sw", "e1-sw");
    assert_eq!(
        a,
        fates(&faults, "dc1-sw", "e1-sw"),
        "the same seed, the same fates"
    );
    assert_ne!(
        a,
        fates(&faults, "e1-sw", "dc1-sw"),
        "each link has its own"
    );
    let other = Faults { seed: 8, ..faults };
    assert_ne!(
        a,
        fates(&other, "dc1-sw", "e1-sw"),
        "another seed, other fates"
    );
    let share = |k: usize, of: usize| k as f64 / of as f64;
    let dropped = a.iter().filter(|f| f.dropped).count();
    let kept: Vec<&Fate> = a.iter().filter(|f| !f.dropped).collect();
    let delayed = kept.iter().filter(|f| f.delay.is_some()).count();
    let copied = kept.iter().filter(|f| f.copy.is_some()).count();
    assert!(
        (share(dropped, a.len()) - 0.2).abs() < 0.02,
        "{dropped} dropped"
    );
    assert!(
        (share(delayed, kept.len()) - 0.3).abs() < 0.02,
        "{delayed} delayed"
    );
    assert!(
        (share(copied, kept.len()) - 0.1).abs() < 0.02,
        "{copied} copied"
    );
    assert!(a
        .iter()
        .flat_map(|f| [f.delay, f.copy])
        .flatten()
        .all(|d| d > Duration::ZERO && d <= faults.max_delay));
    assert!(a
        .iter()
        .filter(|f| f.dropped)
        .all(|f| f.delay.is_none() && f.copy.is_none()));
    let off = Faults {
        drop: 0.0,
        duplicate: 0.0,
        delay: 0.0,
        ..faults
    };
    assert!(fates(&off, "dc1-sw", "e1-sw").iter().all(|f| *f
        == Fate {
            dropped: false,
            delay: None,
            copy: None
        }));
}
