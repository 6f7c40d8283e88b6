//! `fairshare`: the command line of the toolchain.
//!
//! Exit codes: 0 success; 1 an operation failed (IO, a peer); 2 bad input
//! (a policy with errors, bad arguments), in which case nothing was written.

mod compile;
mod controller_cmd;
mod demo_cmd;
mod rsvp_cmd;
mod stf_cmd;
mod switch_cmd;
mod test_cmd;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "fairshare", version, about = "Bandwidth fair-sharing on programmable switches", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Compile a policy into P4, BMv2 JSON, P4Info, rules and the shares report.
    Compile(compile::CompileArgs),
    /// Check a policy and report every error, writing nothing.
    Check(compile::CheckArgs),
    /// Print a generated policy of the given size (for trials and benchmarks).
    GenPolicy(compile::GenArgs),
    /// RSVP captures: decode to JSON lines, encode back.
    Rsvp {
        #[command(subcommand)]
        cmd: rsvp_cmd::RsvpCommand,
    },
    /// Run a BMv2 JSON pipeline on the built-in software switch, ports on pcap files.
    Switch(switch_cmd::SwitchArgs),
    /// Run p4c STF tests (PROGRAM.json TEST.stf, or --dir DIR) on the built-in switch.
    Stf(stf_cmd::StfArgs),
    /// Run the controller of one switch (DC or edge side) over P4Runtime.
    Controller(controller_cmd::ControllerArgs),
    /// Run a policy end to end in one process: switches, controllers, simulated hosts.
    Demo(demo_cmd::DemoArgs),
    /// Run the pcap regression cases of bmv2-tests/ (fairshare switch, or --target bmv2).
    Test(test_cmd::TestArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Compile(a) => compile::compile(&a),
        Command::Check(a) => compile::check(&a),
        Command::GenPolicy(a) => compile::gen(&a),
        Command::Rsvp { cmd } => rsvp_cmd::run(cmd),
        Command::Switch(a) => switch_cmd::run(&a),
        Command::Stf(a) => stf_cmd::run(&a),
        Command::Test(a) => test_cmd::run(&a),
        Command::Controller(a) => controller_cmd::run_cmd(&a),
        Command::Demo(a) => demo_cmd::run(&a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
