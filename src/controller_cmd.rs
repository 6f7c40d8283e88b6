//! `fairshare controller`: the controller of one switch, over P4Runtime.
//!
//! The policy is compiled in-process (as `fairshare compile` does) for the
//! pipeline, the switch's initial rules and its routes; `--pipeline-json`
//! and `--p4info` push a pipeline compiled elsewhere (p4c-bm2-ss) instead,
//! whose P4Info must carry the same names. Every recalculation period the
//! policy file is read again: when it changed and still checks, the DC side
//! re-offers the new shares (never below what is used); when it no longer
//! checks, the error is printed and the shares stay.
//!
//! `--target-kind tofino --tofino-build DIR --p4info P4INFO` pushes a Tofino
//! program instead: the device config is packed from the Tofino compiler's
//! output folder (`--tofino-config bfrt`, Stratum's `BfPipelineConfig`, or
//! `legacy`), and the initial rules are written by name through that
//! P4Info. Byte-meter rates and bursts are written in whole kilobits
//! (multiples of 125 bytes, rounded down), which is what Stratum keeps and
//! reads back (see `fairshare_controller::writes::MeterGrain`); everything
//! else, the intercept logic included, runs as for BMv2.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use fairshare_controller::agent::Settings;
use fairshare_controller::deploy::{initial_updates, recalc_from_file, Deployment};
use fairshare_controller::run::{run, ControllerConfig, StatusHandle};
use fairshare_controller::session::{Pipeline, SessionConfig};
use fairshare_controller::writes::MeterGrain;
use fairshare_p4rt::client::{Backoff, ClientConfig};

use crate::compile::EXIT_BAD_INPUT;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Role {
    Dc,
    Edge,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TargetKind {
    Bmv2,
    Tofino,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TofinoConfig {
    Bfrt,
    Legacy,
}

#[derive(Args)]
pub struct ControllerArgs {
    /// The policy the switch belongs to.
    #[arg(long)]
    pub policy: PathBuf,
    /// The switch to control, by its name in the policy.
    #[arg(long)]
    pub switch: String,
    /// The switch's role (must be the policy's: a DC switch or an edge switch).
    #[arg(long, value_enum)]
    pub role: Role,
    /// The switch's P4Runtime server: grpc://HOST:PORT or HOST:PORT.
    #[arg(long, default_value = "grpc://127.0.0.1:9559")]
    pub target: String,
    /// The P4Runtime device id (default: the policy's device-id of the switch).
    #[arg(long)]
    pub device_id: Option<u64>,
    /// The election id; the highest of the switch's controllers is primary.
    #[arg(long, default_value_t = 1)]
    pub election_id: u64,
    /// How long, in microseconds, a write keeps the controller polling for
    /// the switch's answer before its thread sleeps (0 turns it off).
    #[arg(long = "busy-poll-us", value_name = "US", default_value_t = fairshare_p4rt::busy::DEFAULT_BUDGET.as_micros() as u64)]
    pub busy_poll_us: u64,
    /// Push this BMv2 JSON instead of fairshare's (with --p4info).
    #[arg(long, requires = "p4info", conflicts_with = "tofino_build")]
    pub pipeline_json: Option<PathBuf>,
    /// The P4Info (text format) of --pipeline-json or --tofino-build.
    #[arg(long)]
    pub p4info: Option<PathBuf>,
    /// The switch's kind: bmv2 (the device config is BMv2 JSON) or tofino
    /// (the device config is packed from --tofino-build).
    #[arg(long, value_enum, default_value = "bmv2")]
    pub target_kind: TargetKind,
    /// A Tofino compiler's output folder (bf-p4c's `<prog>.tofino`, a
    /// `pipe/` folder, or a flat folder with tofino.bin or tofino2.bin,
    /// context.json and bf-rt.json); with --target-kind tofino and --p4info.
    #[arg(long, requires = "p4info")]
    pub tofino_build: Option<PathBuf>,
    /// How the Tofino device config is packed: bfrt (Stratum's
    /// BfPipelineConfig, for stratum_bfrt) or legacy (name, binary and
    /// context.json, length-prefixed).
    #[arg(long, value_enum, default_value = "bfrt")]
    pub tofino_config: TofinoConfig,
    /// The RSVP refresh period R (TIME_VALUES), e.g. 30s, 500ms.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub refresh: Duration,
    /// Stop after this long (default: run until Ctrl-C).
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// RSVP punted to the controllers at up to this many packets per
    /// second (twice that at peak); the compiled rules say 1,000.
    #[arg(long)]
    pub punt_rate: Option<u64>,
    /// Names this run of the DC side in the tallies it sends, so that edges
    /// tell a restarted DC controller from late messages; two runs for the
    /// same switch must not share it (default: the start time in seconds).
    #[arg(long)]
    pub epoch: Option<u32>,
    /// Log every step of the protocol, not only changes of state.
    #[arg(short, long)]
    pub verbose: bool,
}

/// `500ms`, `2s`, `1.5s`, `3m`, `250us`.
pub fn parse_duration(s: &str) -> std::result::Result<Duration, String> {
    let (num, unit) = s
        .find(|c: char| c.is_ascii_alphabetic())
        .map(|i| s.split_at(i))
        .ok_or_else(|| format!("expected a duration with a unit (ms, s, m), found `{s}`"))?;
    let v: f64 = num
        .parse()
        .map_err(|_| format!("expected a number before `{unit}`, found `{num}`"))?;
    let secs = match unit {
        "us" => v / 1e6,
        "ms" => v / 1e3,
        "s" => v,
        "m" => v * 60.0,
        _ => return Err(format!("expected a unit of us, ms, s or m, found `{unit}`")),
    };
    if !(secs.is_finite() && secs >= 0.0) {
        return Err(format!("expected a positive duration, found `{s}`"));
    }
    Ok(Duration::from_secs_f64(secs))
}

pub fn init_logging(verbose: bool) {
    let level = if verbose {
        tracing::Level::DEBUG
    } else {
        tracing::Level::INFO
    };
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_target(false)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Reads and checks a policy; the diagnostics are printed on failure.
pub fn load_policy(
    path: &Path,
) -> Result<std::result::Result<fairshare_policy::model::Policy, ExitCode>> {
    let src = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read policy `{}`", path.display()))?;
    match fairshare_policy::load(&src) {
        Ok((_, p)) => Ok(Ok(p)),
        Err(diags) => {
            eprint!(
                "{}",
                fairshare_policy::render(&diags, &path.display().to_string(), &src)
            );
            Ok(Err(ExitCode::from(EXIT_BAD_INPUT)))
        }
    }
}

pub fn run_cmd(args: &ControllerArgs) -> Result<ExitCode> {
    init_logging(args.verbose);
    let policy = match load_policy(&args.policy)? {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };
    let is_dc = policy
        .datacenters
        .iter()
        .any(|d| d.switch.name == args.switch);
    let is_edge = policy.edges.iter().any(|e| e.switch.name == args.switch);
    let bad = |msg: String| -> Result<ExitCode> {
        eprintln!("error: {}: {msg}", args.policy.display());
        Ok(ExitCode::from(EXIT_BAD_INPUT))
    };
    match (is_dc, is_edge, args.role) {
        (false, false, _) => {
            let names: Vec<String> = policy.switches().map(|s| s.name.clone()).collect();
            return bad(format!(
                "expected one of the policy's switches ({}), found `{}`",
                names.join(", "),
                args.switch
            ));
        }
        (true, _, Role::Edge) => {
            return bad(format!(
                "`{}` is a DC switch; expected --role dc",
                args.switch
            ))
        }
        (_, true, Role::Dc) => {
            return bad(format!(
                "`{}` is an edge switch; expected --role edge",
                args.switch
            ))
        }
        _ => {}
    }
    let recalc_period = Duration::from_micros(policy.recalc.max(100_000));
    let mut deployment = Deployment::build(policy).context("compiling the policy")?;
    if let Some(pps) = args.punt_rate {
        deployment.set_punt_rate(pps);
    }
    let plan = deployment.switch(&args.switch)?;
    let bad_args = |msg: String| -> Result<ExitCode> {
        eprintln!("error: {msg}");
        Ok(ExitCode::from(EXIT_BAD_INPUT))
    };
    let device_config = match (args.target_kind, &args.tofino_build, &args.pipeline_json) {
        (TargetKind::Tofino, None, _) => {
            return bad_args("--target-kind tofino needs --tofino-build DIR and --p4info".into())
        }
        (TargetKind::Bmv2, Some(_), _) => {
            return bad_args("--tofino-build goes with --target-kind tofino".into())
        }
        (TargetKind::Tofino, Some(dir), _) => {
            let packing = match args.tofino_config {
                TofinoConfig::Bfrt => fairshare_tofino::Packing::Bfrt,
                TofinoConfig::Legacy => fairshare_tofino::Packing::Legacy,
            };
            match fairshare_tofino::pack_dir(dir, packing) {
                Ok(b) => Some(b),
                Err(e) => {
                    eprintln!("error: --tofino-build {}: {e}", dir.display());
                    return Ok(ExitCode::from(EXIT_BAD_INPUT));
                }
            }
        }
        (TargetKind::Bmv2, None, Some(json)) => {
            Some(std::fs::read(json).with_context(|| format!("cannot read `{}`", json.display()))?)
        }
        (TargetKind::Bmv2, None, None) => {
            if args.p4info.is_some() {
                return bad_args("--p4info goes with --pipeline-json or --tofino-build".into());
            }
            None
        }
    };
    let (pipeline, initial) = match (device_config, &args.p4info) {
        (Some(device_config), Some(info)) => {
            let text = std::fs::read_to_string(info)
                .with_context(|| format!("cannot read `{}`", info.display()))?;
            let p4info = match fairshare_p4rt::text::parse_p4info(&text) {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("error: {}: {e}", info.display());
                    return Ok(ExitCode::from(EXIT_BAD_INPUT));
                }
            };
            let pipeline = Pipeline {
                device_config,
                p4info,
            };
            let rules_json = plan.rules.to_text().context("the switch's rules")?;
            let initial = match initial_updates(&pipeline, &rules_json) {
                Ok(u) => u,
                Err((what, detail)) => {
                    eprintln!(
                        "error: {}: the switch's {what} do not fit this P4Info: {detail}",
                        info.display()
                    );
                    return Ok(ExitCode::from(EXIT_BAD_INPUT));
                }
            };
            (pipeline, initial)
        }
        _ => (plan.pipeline.clone(), plan.initial.clone()),
    };
    let agent = deployment.agent(
        &args.switch,
        Settings {
            refresh: args.refresh,
            epoch: args.epoch.unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs() as u32)
                    .unwrap_or(1)
            }),
        },
    )?;
    let config = ControllerConfig {
        session: SessionConfig {
            name: args.switch.clone(),
            addr: args.target.clone(),
            client: ClientConfig {
                device_id: args.device_id.unwrap_or(plan.device_id),
                election_id: u128::from(args.election_id),
                backoff: Backoff::default(),
                busy_poll: Duration::from_micros(args.busy_poll_us),
                ..ClientConfig::default()
            },
            pipeline,
        },
        initial,
        policy: deployment.policy.clone(),
        tick: (args.refresh / 10).clamp(Duration::from_millis(10), Duration::from_secs(1)),
        recalc: Some((recalc_period, recalc_from_file(args.policy.clone()))),
        log: None,
        meter_grain: match args.target_kind {
            TargetKind::Bmv2 => MeterGrain::Byte,
            TargetKind::Tofino => MeterGrain::Kbit,
        },
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let status = StatusHandle::new();
    let result = rt.block_on(async {
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        let duration = args.duration;
        tokio::spawn(async move {
            match duration {
                Some(d) => tokio::time::sleep(d).await,
                None => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
            let _ = stop.send(true);
        });
        run(config, agent, status.clone(), stop_rx).await
    });
    let s = status.get();
    for r in &s.routes {
        println!(
            "{} → {}: offered {} b/s, used {} b/s, {} admitted, {} rejected, {} flows",
            r.dc, r.edge, r.offered_bps, r.used_bps, r.admitted, r.rejected, r.flows
        );
    }
    match result {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) => bail!("{e}"),
    }
}
