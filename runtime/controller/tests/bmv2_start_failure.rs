//! A `simple_switch_grpc` that does not start: the lab says which switch
//! and how it ended, and removes every namespace and interface it made
//! (alone in its test binary, so that no other lab's are about).

use std::process::Command;

use fairshare_controller::demo::{Demo, DemoConfig};
use fairshare_controller::deploy::Deployment;
use fairshare_controller::lab::Backend;

const TINY: &str = r#"
network "tiny" {
  recalc every 60s
  datacenter dc1 {
    switch dc1-sw { cpu-port 255  device-id 1 }
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

/// The names of this process's labs start with this (see
/// `fairshare_controller::bmv2net::next_tag`).
fn ours(name: &str) -> bool {
    let prefix = format!("fs{}", std::process::id() % 1_000);
    name.strip_prefix(&prefix)
        .is_some_and(|rest| rest.len() >= 3 && rest.as_bytes()[0].is_ascii_digit())
}

fn namespaces() -> Option<Vec<String>> {
    let o = Command::new("ip").args(["netns", "list"]).output().ok()?;
    o.status.success().then(|| {
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
            .collect()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_switch_that_does_not_start_is_named_and_nothing_is_left() {
    if let Some(why) = fairshare_controller::bmv2net::namespaces_unavailable() {
        if std::env::var("FAIRSHARE_REQUIRE_BMV2").is_ok_and(|v| v == "1") {
            panic!("FAIRSHARE_REQUIRE_BMV2=1 but {why}");
        }
        println!("skipped: {why}");
        return;
    }
    // A "switch" that exits at once.
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("failing-bmv2");
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let bin = dir.join("simple_switch_grpc");
    std::fs::write(&bin, "#!/bin/sh\nexit 3\n").expect("write the script");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let (_, policy) = fairshare_policy::load(TINY).expect("tiny loads");
    let config = DemoConfig {
        backend: Backend::Bmv2(bin.clone()),
        ..DemoConfig::default()
    };
    let err = match Demo::start(Deployment::build(policy).expect("builds"), config).await {
        Ok(_) => panic!("a switch that exits at once must not start"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains("for dc1-sw exited at start") && err.contains("exit status: 3"),
        "{err}"
    );
    assert_eq!(
        err.matches("exited at start").count(),
        1,
        "said once: {err}"
    );
    let left: Vec<String> = namespaces()
        .expect("ip netns list")
        .into_iter()
        .filter(|n| ours(n))
        .collect();
    assert!(left.is_empty(), "namespaces left behind: {left:?}");
    let links = Command::new("ip")
        .args(["-o", "link"])
        .output()
        .expect("ip link");
    let prefix = format!(" f{}", std::process::id() % 1_000);
    let text = String::from_utf8_lossy(&links.stdout);
    assert!(
        !text
            .lines()
            .any(|l| l.contains(&prefix) && l.contains("s0")),
        "interfaces left behind:\n{text}"
    );
}
