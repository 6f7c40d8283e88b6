//! `fairshare stf`: runs p4c's STF tests on the built-in switch.
//!
//! Exit codes: 0 the test passed (with `--dir`: every case passed); 1 an
//! expectation failed, or the program or a command needs what the switch
//! does not support; 2 bad input (unreadable JSON, an STF line that does
//! not parse, bad arguments).

use anyhow::Result;
use clap::Args;
use fairshare_stf::{dir, run_files, CaseStatus};
use std::path::PathBuf;
use std::process::ExitCode;

const EXIT_FAIL: u8 = 1;
const EXIT_BAD_INPUT: u8 = 2;

#[derive(Args, Debug)]
pub struct StfArgs {
    /// The BMv2 JSON program.
    #[arg(required_unless_present = "dir", conflicts_with = "dir")]
    program: Option<PathBuf>,
    /// The STF test.
    #[arg(required_unless_present = "dir", conflicts_with = "dir")]
    test: Option<PathBuf>,
    /// Run every case folder under DIR (one .json and one .stf each) and
    /// print a table.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Threads for --dir (default: the available cores).
    #[arg(long, value_name = "N")]
    jobs: Option<usize>,
    /// With --dir, print every failure of each failing case.
    #[arg(long, short)]
    verbose: bool,
}

pub fn run(a: &StfArgs) -> Result<ExitCode> {
    if let Some(d) = &a.dir {
        let results = match fairshare_stf::run_dir(d, a.jobs.unwrap_or_else(dir::default_threads)) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: {e}");
                return Ok(ExitCode::from(EXIT_BAD_INPUT));
            }
        };
        print!("{}", dir::table(&results));
        if a.verbose {
            for r in &results {
                if let CaseStatus::Failed(o) = &r.status {
                    println!("\n{}:", r.name);
                    for f in &o.failures {
                        println!("{}", f.report());
                    }
                }
            }
        }
        let ok = results.iter().all(|r| r.passed());
        return Ok(if ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(EXIT_FAIL)
        });
    }
    let (Some(program), Some(test)) = (&a.program, &a.test) else {
        eprintln!("error: give PROGRAM.json TEST.stf, or --dir DIR");
        return Ok(ExitCode::from(EXIT_BAD_INPUT));
    };
    let outcome = match run_files(program, test) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(EXIT_BAD_INPUT));
        }
    };
    for r in &outcome.reads {
        println!("{r}");
    }
    if outcome.passed() {
        println!("pass: {}", test.display());
        return Ok(ExitCode::SUCCESS);
    }
    for f in &outcome.failures {
        println!("{}", f.report());
    }
    if outcome.stats.dropped_multicast > 0 {
        println!(
            "note: {} packet(s) dropped for multicast ({})",
            outcome.stats.dropped_multicast,
            fairshare_stf::run::NEEDS_MULTICAST
        );
    }
    println!("FAIL: {}", test.display());
    Ok(ExitCode::from(EXIT_FAIL))
}
