//! `fairshare test`: runs the pcap regression cases of `bmv2-tests/` on the
//! fairshare switch (pcap time), on real `simple_switch_grpc` over
//! P4Runtime (`--target bmv2`) or on real `simple_switch` through its
//! Thrift CLI (`--target bmv2-cli`).
//!
//! Network cases (a `[network]` table: switches, controllers and
//! simulated hosts of a policy) run on fairshare switches only; on the
//! BMv2 targets they are skipped, saying why, as are cases the target
//! cannot load (a BMv2 JSON without a P4Info on `simple_switch_grpc`).
//!
//! Exit codes: 0 every case passed (on BMv2: or differed as
//! `bmv2-differences.txt` says it may); 1 a case failed; 2 bad input (a
//! case that does not read, with its file and place; no BMv2 for
//! `--target bmv2`).

use anyhow::Result;
use clap::{Args, ValueEnum};
use fairshare_controller::lab::Backend;
use fairshare_suite::network::{self, NetworkCase};
use fairshare_suite::{bmv2, Case, Pipelines, Target};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

const EXIT_FAIL: u8 = 1;
const EXIT_BAD_INPUT: u8 = 2;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum TargetArg {
    /// The built-in software switch, in pcap time.
    Fairshare,
    /// Real BMv2 simple_switch_grpc, driven over P4Runtime (FAIRSHARE_BMV2,
    /// ../shared/bmv2, or PATH).
    Bmv2,
    /// Real BMv2 simple_switch, driven through simple_switch_CLI.
    Bmv2Cli,
}

#[derive(Args, Debug)]
pub struct TestArgs {
    /// The suite's folder (with `cases/`).
    #[arg(default_value = "bmv2-tests")]
    dir: PathBuf,
    /// Run only the cases whose name contains this text.
    #[arg(long, short)]
    filter: Option<String>,
    /// Rewrite in/*.pcap from case.toml and expected/*.pcap from this run
    /// (fairshare target only), after review.
    #[arg(long)]
    bless: bool,
    /// Where to run the cases.
    #[arg(long, value_enum, default_value = "fairshare")]
    target: TargetArg,
}

pub fn run(a: &TestArgs) -> Result<ExitCode> {
    let target = match a.target {
        TargetArg::Fairshare => Target::Fairshare,
        TargetArg::Bmv2 => Target::Bmv2,
        TargetArg::Bmv2Cli => Target::Bmv2Cli,
    };
    if a.bless && target.is_bmv2() {
        eprintln!(
            "error: --bless writes what the fairshare switch sends; it takes no BMv2 --target"
        );
        return Ok(ExitCode::from(EXIT_BAD_INPUT));
    }
    match run_suite(&a.dir, a.filter.as_deref(), a.bless, target) {
        Ok(summary) => {
            println!("{}", summary.line());
            Ok(if summary.failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(EXIT_FAIL)
            })
        }
        Err(e) => {
            eprintln!("error: {e}");
            Ok(ExitCode::from(EXIT_BAD_INPUT))
        }
    }
}

/// The counts a run of the suite ends with.
pub struct Summary {
    pub passed: usize,
    pub failed: usize,
    /// Cases that differ on BMv2 as the list of known differences says.
    pub known: usize,
    pub blessed: usize,
    /// Cases the target cannot run (network cases on BMv2, ...).
    pub skipped: usize,
}

impl Summary {
    fn line(&self) -> String {
        let mut s = format!("{} passed, {} failed", self.passed, self.failed);
        if self.known > 0 {
            s += &format!(", {} differ on BMv2 as listed", self.known);
        }
        if self.skipped > 0 {
            s += &format!(", {} skipped", self.skipped);
        }
        if self.blessed > 0 {
            s += &format!(", {} blessed (review them)", self.blessed);
        }
        s
    }
}

/// Runs the suite, printing one line per case and the report of each
/// failure.
pub fn run_suite(
    dir: &Path,
    filter: Option<&str>,
    bless: bool,
    target: Target,
) -> Result<Summary, fairshare_suite::Error> {
    let dirs = fairshare_suite::discover(dir, filter)?;
    let (b, known) = if target.is_bmv2() {
        let workspace = dir.join("..");
        let b = bmv2::find(&workspace, target).map_err(fairshare_suite::Error::Bmv2)?;
        (Some(b), bmv2::known_differences(dir)?)
    } else {
        (None, Default::default())
    };
    let work =
        WorkDir(std::env::temp_dir().join(format!("fairshare-suite-{}", std::process::id())));
    let mut pipelines = Pipelines::new(dir);
    let mut s = Summary {
        passed: 0,
        failed: 0,
        known: 0,
        blessed: 0,
        skipped: 0,
    };
    for d in &dirs {
        let t0 = Instant::now();
        if network::is_network(d) {
            let name = d.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            let backend = match (&b, target) {
                (None, _) => Backend::Fairshare,
                (Some(b), Target::Bmv2) => {
                    if let Some(why) = fairshare_controller::bmv2net::namespaces_unavailable() {
                        println!("skip {name:<40} (a network case on BMv2 needs {why})");
                        s.skipped += 1;
                        continue;
                    }
                    Backend::Bmv2(b.program("simple_switch_grpc"))
                }
                (Some(_), _) => {
                    println!(
                        "skip {name:<40} (a network case: its controllers need simple_switch_grpc, not the CLI)"
                    );
                    s.skipped += 1;
                    continue;
                }
            };
            let case = NetworkCase::read(d, dir)?;
            let run = network::run_with(&case, &backend)?;
            if bless {
                network::bless(&case, &run)?;
                s.blessed += 1;
            }
            let v = network::check(&case, &run)?;
            let ms = t0.elapsed().as_secs_f64() * 1e3;
            let starts = if run.starts > 1 {
                format!(
                    " (the network started {} times: an offer was lost)",
                    run.starts
                )
            } else {
                String::new()
            };
            if v.passed() {
                s.passed += 1;
                println!("pass {:<40} {ms:8.1} ms{starts}", case.name);
            } else {
                s.failed += 1;
                println!("FAIL {:<40} {ms:8.1} ms", case.name);
                for line in v.to_string().lines() {
                    println!("  {line}");
                }
            }
            continue;
        }
        let case = Case::read(d)?;
        let p = pipelines.load(&case)?;
        if let Some(why) = bmv2::cannot_run(&p, target) {
            println!("skip {:<40} ({why})", case.name);
            s.skipped += 1;
            continue;
        }
        let run = match &b {
            None => fairshare_suite::run_fairshare(&case, &p)?,
            Some(b) => {
                let expected = fairshare_suite::read_expected(&case)?.unwrap_or_default();
                bmv2::run(b, &case, &p, &expected, &work.0)?
            }
        };
        if bless {
            fairshare_suite::bless(&case, &run)?;
            s.blessed += 1;
        }
        let v = fairshare_suite::check(&case, &p, &run, target)?;
        let ms = t0.elapsed().as_secs_f64() * 1e3;
        match (v.passed(), known.get(&case.name)) {
            (true, None) => {
                s.passed += 1;
                println!("pass {:<40} {ms:8.1} ms", case.name);
            }
            (true, Some(_)) => {
                s.passed += 1;
                println!(
                    "pass {:<40} {ms:8.1} ms (listed as differing on BMv2; agrees this time)",
                    case.name
                );
            }
            (false, Some(why)) => {
                s.known += 1;
                println!(
                    "diff {:<40} {ms:8.1} ms (expected on BMv2: {why})",
                    case.name
                );
            }
            (false, None) => {
                s.failed += 1;
                println!("FAIL {:<40} {ms:8.1} ms", case.name);
                for line in v.to_string().lines() {
                    println!("  {line}");
                }
            }
        }
    }
    if dirs.is_empty() {
        return Err(fairshare_suite::Error::BadCase {
            file: dir.join("cases"),
            place: "cases".into(),
            message: match filter {
                Some(f) => format!("no case name contains `{f}`"),
                None => "expected case folders with a case.toml, found none".into(),
            },
        });
    }
    Ok(s)
}

/// The BMv2 runs' scratch folder, removed however the run ends.
struct WorkDir(PathBuf);

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
