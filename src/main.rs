//! Minimal entry point wiring `fairshare rsvp`; the full command line is
//! assembled elsewhere.

use clap::Parser;

mod rsvp_cmd;

#[derive(Parser)]
#[command(name = "fairshare")]
enum Cli {
    /// RSVP captures: decode to JSON lines, encode back.
    Rsvp {
        #[command(subcommand)]
        cmd: rsvp_cmd::RsvpCommand,
    },
}

fn main() -> anyhow::Result<std::process::ExitCode> {
    match Cli::parse() {
        Cli::Rsvp { cmd } => rsvp_cmd::run(cmd),
    }
}
