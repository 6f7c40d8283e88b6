//! `fairshare demo`: a policy run end to end in one process, on loopback,
//! with nothing else installed — a fairshare switch per switch of the
//! policy with its P4Runtime server, a controller per switch, and
//! simulated clients and servers; then the per-port pcaps and a report.
//! With `--bmv2` the switches are real `simple_switch_grpc` processes in
//! network namespaces of their own, joined through veth pairs
//! (`fairshare_controller::bmv2net`); everything else is the same.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Args;
use fairshare_controller::demo::{Demo, DemoConfig, Report};
use fairshare_controller::deploy::Deployment;
use fairshare_controller::lab::Backend;
use fairshare_controller::sim::{FlowState, SimConfig};

use crate::compile::{write_atomically, EXIT_BAD_INPUT};
use crate::controller_cmd::{init_logging, load_policy, parse_duration};

#[derive(Args)]
pub struct DemoArgs {
    /// The policy to run.
    #[arg(default_value = "examples/metro.fsp")]
    pub policy: PathBuf,
    /// How long the clients keep making requests.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Where the pcaps and the reports go.
    #[arg(long, default_value = "demo-out")]
    pub out: PathBuf,
    /// Client requests per second, over all edges (each edge in proportion
    /// to its subscribers, each service equally).
    #[arg(long, default_value_t = 200.0)]
    pub rate: f64,
    /// Instead of --rate for --duration: make N requests one after another,
    /// each once the one before has its answer (admitted or refused), so
    /// that the same seed gives the same demand in the same order on any
    /// switch (compare a run with --bmv2 and one without). The servers send
    /// no data then: how much they send follows the wall clock.
    #[arg(long, value_name = "N")]
    pub requests: Option<u64>,
    /// How long a flow lasts once its server has it.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub hold: Duration,
    /// The RSVP refresh period.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub refresh: Duration,
    /// Drive switch SWITCH at an external P4Runtime target (e.g. a
    /// simple_switch_grpc) instead of a built-in switch: SWITCH=HOST:PORT.
    /// Only its control plane takes part: the demo's hosts are not wired
    /// to it.
    #[arg(long, value_name = "SWITCH=HOST:PORT")]
    pub target: Vec<String>,
    /// The seed of the request generator.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// RSVP punted to the controllers at up to this many packets per
    /// second (twice that at peak). The compiled rules say 1,000; the demo's
    /// servers refresh every flow's Path every --refresh, so it allows more.
    #[arg(long, default_value_t = 10_000)]
    pub punt_rate: u64,
    /// Run every switch of the policy as a real `simple_switch_grpc` (from
    /// `FAIRSHARE_BMV2/bin`, else PATH), each in a network namespace of
    /// its own with its ports on veth pairs, instead of fairshare's switch.
    /// Needs root; the namespaces and interfaces are removed at the end.
    /// BMv2 carries far fewer packets per second than fairshare's switch:
    /// at the default --rate its 64-packet queues overflow (lost refreshes
    /// expire and re-admit flows, tallies may still differ at the end);
    /// --rate 20 or --requests N stays within what it carries.
    #[arg(long)]
    pub bmv2: bool,
    /// Log every step of the protocol.
    #[arg(short, long)]
    pub verbose: bool,
}

/// `simple_switch_grpc` from `FAIRSHARE_BMV2` (a folder with `bin/`), else
/// from PATH.
fn find_simple_switch_grpc() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("FAIRSHARE_BMV2") {
        let p = PathBuf::from(dir).join("bin/simple_switch_grpc");
        return p.is_file().then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("simple_switch_grpc"))
        .find(|p| p.is_file())
}

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// An index drawn with the given weights.
    fn pick(&mut self, weights: &[u64]) -> usize {
        let total: u64 = weights.iter().sum::<u64>().max(1);
        let mut x = self.next() % total;
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        0
    }
}

pub fn run(args: &DemoArgs) -> Result<ExitCode> {
    if args.verbose {
        init_logging(true);
    }
    let policy = match load_policy(&args.policy)? {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };
    let mut targets = BTreeMap::new();
    for t in &args.target {
        let Some((sw, addr)) = t.split_once('=') else {
            eprintln!("error: --target {t}: expected SWITCH=HOST:PORT");
            return Ok(ExitCode::from(EXIT_BAD_INPUT));
        };
        if !policy.switches().any(|s| s.name == sw) {
            eprintln!(
                "error: --target {t}: no switch `{sw}` in {}",
                args.policy.display()
            );
            return Ok(ExitCode::from(EXIT_BAD_INPUT));
        }
        targets.insert(sw.to_owned(), addr.trim_start_matches("grpc://").to_owned());
    }
    if !(args.rate.is_finite() && args.rate > 0.0) {
        eprintln!("error: --rate {}: expected a positive number", args.rate);
        return Ok(ExitCode::from(EXIT_BAD_INPUT));
    }
    let backend = if args.bmv2 {
        match find_simple_switch_grpc() {
            Some(bin) => Backend::Bmv2(bin),
            None => {
                eprintln!("error: --bmv2: no simple_switch_grpc in FAIRSHARE_BMV2/bin or on PATH");
                return Ok(ExitCode::from(EXIT_BAD_INPUT));
            }
        }
    } else {
        // The switches' servers on the controllers' runtime: no thread
        // hand-off between a controller and its switch (the demo never
        // restarts a switch).
        Backend::FairshareShared
    };
    let mut deployment = Deployment::build(policy).context("compiling the policy")?;
    deployment.set_punt_rate(args.punt_rate);
    let config = DemoConfig {
        refresh: args.refresh,
        sim: SimConfig {
            hold: args.hold,
            refresh: args.refresh,
            ..SimConfig::default()
        },
        targets,
        backend,
        ..DemoConfig::default()
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let report = rt.block_on(drive(deployment, config, args))?;
    let text = render(&report);
    print!("{text}");
    write_atomically(&args.out.join("report.txt"), text.as_bytes())?;
    write_atomically(
        &args.out.join("report.json"),
        (serde_json::to_string_pretty(&report)? + "\n").as_bytes(),
    )?;
    println!(
        "wrote {} (pcap/<switch>-port<N>.pcap, report.txt, report.json)",
        args.out.display()
    );
    Ok(if report.invariant_violations == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

async fn drive(deployment: Deployment, config: DemoConfig, args: &DemoArgs) -> Result<Report> {
    let policy = deployment.policy.clone();
    let demo = Demo::start(deployment, config).await?;
    let demand = match args.requests {
        Some(n) => format!("{n} requests, one after another"),
        None => format!("requests for {:?} at {}/s", args.duration, args.rate),
    };
    println!(
        "{} switches ({}), {} controllers; {demand}",
        policy.switches().count(),
        if args.bmv2 {
            "simple_switch_grpc, one network namespace each"
        } else {
            "fairshare's, on 127.0.0.1"
        },
        demo.controllers.len(),
    );
    let weights: Vec<u64> = policy.edges.iter().map(|e| e.subscribers.max(1)).collect();
    let mut rng = Rng(args.seed.max(1).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    if let Some(n) = args.requests {
        demo.sim.set_data(false);
        let services = policy.services.len().max(1) as u64;
        for i in 0..n {
            let edge = rng.pick(&weights);
            let service = (rng.next() % services) as usize;
            let Some((client, port)) = demo.request(edge, service) else {
                continue;
            };
            // The answer: the flow admitted or refused (5 s at most).
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline
                && demo.sim.flows().iter().any(|f| {
                    f.client == client && f.client_port == port && f.state == FlowState::Pending
                })
            {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            if (i + 1) % 100 == 0 {
                let r = demo.report();
                println!(
                    "requests {} admitted {} rejected {}, violations {}",
                    r.sim.requests, r.sim.admitted, r.sim.rejected, r.invariant_violations
                );
            }
        }
    }
    let start = Instant::now();
    let every = Duration::from_secs_f64(1.0 / args.rate);
    let mut next = start;
    let mut last_print = start;
    let mut ctrl_c = Box::pin(tokio::signal::ctrl_c());
    let mut interrupted = false;
    while args.requests.is_none() && start.elapsed() < args.duration {
        tokio::select! {
            _ = &mut ctrl_c => { interrupted = true; break; }
            _ = tokio::time::sleep_until(next.into()) => {}
        }
        next += every;
        let edge = rng.pick(&weights);
        let services = policy.services.len().max(1);
        let service = (rng.next() % services as u64) as usize;
        demo.request(edge, service);
        if last_print.elapsed() >= Duration::from_secs(1) {
            last_print = Instant::now();
            let r = demo.report();
            println!(
                "t={:>4.1}s requests {} admitted {} rejected {} data {} sent / {} received, violations {}",
                start.elapsed().as_secs_f64(),
                r.sim.requests,
                r.sim.admitted,
                r.sim.rejected,
                r.sim.data_sent,
                r.sim.data_received,
                r.invariant_violations
            );
        }
    }
    if interrupted {
        println!("interrupted; stopping");
    }
    // Let the last answers arrive and the tallies settle.
    demo.wait_for(Duration::from_secs(3), |r| {
        r.routes.iter().all(|x| x.tally_equal)
    })
    .await;
    let report = demo.full_report().await;
    demo.write_pcaps(&args.out)?;
    demo.stop().await;
    Ok(report)
}

fn bps(v: u64) -> String {
    match v {
        v if v >= 1_000_000_000 => format!("{:.2} Gb/s", v as f64 / 1e9),
        v if v >= 1_000_000 => format!("{:.1} Mb/s", v as f64 / 1e6),
        v => format!("{v} b/s"),
    }
}

/// The human-readable report.
pub fn render(r: &Report) -> String {
    let mut s = String::new();
    let w = &mut s;
    let _ = writeln!(
        w,
        "routes (DC → edge): offered, used, admitted, rejected, tallies"
    );
    for x in &r.routes {
        let _ = writeln!(
            w,
            "  {:>8} → {:<8} offered {:>11}  used {:>11}  admitted {:>5}  rejected {:>5}  {}",
            x.dc,
            x.edge,
            bps(x.offered_bps),
            bps(x.used_bps),
            x.admitted,
            x.rejected,
            if x.tally_equal {
                "tallies equal"
            } else {
                "TALLIES DIFFER"
            }
        );
    }
    let _ = writeln!(
        w,
        "switches: packet-ins, packet-outs, writes, colours, drops"
    );
    for x in &r.switches {
        let drops: Vec<String> = x
            .drops
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        let _ = writeln!(
            w,
            "  {:<8} in {:>6}  out {:>6}  writes {:>6} ({} failed)  green {} yellow {} red {}  drops: {}",
            x.switch,
            x.packet_ins,
            x.packet_outs,
            x.writes,
            x.write_failures,
            x.colors.green,
            x.colors.yellow,
            x.colors.red,
            if drops.is_empty() { "none".into() } else { drops.join(", ") }
        );
    }
    let _ = writeln!(
        w,
        "hosts: {} requests, {} reached a server, {} admitted, {} rejected, {} ended; data {} sent, {} received",
        r.sim.requests,
        r.sim.reached_server,
        r.sim.admitted,
        r.sim.rejected,
        r.sim.ended,
        r.sim.data_sent,
        r.sim.data_received
    );
    let _ = writeln!(w, "invariant violations: {}", r.invariant_violations);
    s
}
