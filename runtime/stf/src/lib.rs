//! Runs p4c's STF packet tests (the dialect of p4c's BMv2 runner,
//! `bmv2stf.py`) on the fairshare software switch, in-process and on a
//! virtual clock.
//!
//! ```text
//! TEST.stf ─ parse ─> [Line] ─┐
//!                              ├─ run_lines ─> Outcome { failures, reads, stats }
//! PROGRAM.json ─ Switch::load ┘
//! ```
//!
//! Invariants:
//! * No input panics: an STF line that does not parse is a [`ParseError`]
//!   (line number, what was expected, what was found); a JSON that is not
//!   JSON is an [`Error`]; everything else (a program the switch refuses,
//!   a name that does not resolve, an entry the switch refuses, a feature
//!   the switch lacks) is a [`Failure`] in the [`Outcome`], with a reason.
//! * Nothing is skipped silently: a command the switch cannot honour
//!   fails the test and stops the run.
//! * Runs are deterministic: the clock is virtual ([`run::PACKET_GAP_US`]
//!   between packets, [`run::SETTLE_US`] before a packet that follows a
//!   control-plane command or `wait`, as p4c's runner sleeps there).
//!
//! The verdict is p4c's: every port named in a `packet` or `expect` line
//! is watched; on each watched port the packets received are paired in
//! order with the packets expected, and a missing packet, an extra packet
//! or a differing hex digit fails the test; a bare `expect PORT` stops
//! checking that port. Packets sent to other ports are ignored. Beyond
//! p4c's runner, `check_counter` is evaluated (a counter that does not
//! hold fails the test) and reads must name an existing cell.
//!
//! Names resolve against the JSON: a table is its exact name, else the only
//! table whose name ends with `.` + the STF name; an action the same among
//! the table's actions; parameters by their `runtime_data` names; keys by
//! their JSON `name`, exact, else the only key ending with `.` + the STF
//! name, where `NAME$N` means `NAME[N]` and a header name alone or
//! `NAME.valid` means its validity key `NAME.$valid$`; counter, register
//! and meter arrays like tables. A key left out of an `add` line matches
//! anything (exact keys: 0, as p4c's runner fills it in).
//!
//! Key values, by the key's match kind (width W):
//! * exact: a plain number; it must fit in W bits.
//! * ternary: `0x`/`0b`/`0o` literals take their mask from their digits
//!   (a `*` digit is a wildcard, other digits are cared about, bits above
//!   the literal's first digit are wildcards, as p4c's runner makes them);
//!   a decimal literal cares about every bit (an extension: p4c's runner
//!   refuses decimal ternary values); `VALUE&&&MASK` (extension);
//!   `VALUE/LEN` cares about the top LEN bits; `*` alone matches anything.
//! * lpm: trailing `*` digits are wildcards, so the prefix is W minus the
//!   bits they cover (`0xc0a8****` on 32 bits is /16); a literal without
//!   `*` is a full-length prefix; `VALUE/LEN`; `*` alone is /0.
//! * range (extension): `LOW->HIGH` (both included, as simple_switch_CLI
//!   writes ranges), a single value, or `*`.
//! * optional (extension): a value, or `*` for "any".
//!
//! Multicast and mirroring commands go to the switch's replication
//! engine: `mc_mgrp_create G` makes an empty group; `mc_node_create RID
//! PORT...` makes a node, whose handle counts from 0 in creation order (as
//! simple_switch_CLI hands them out); `mc_node_associate G H` puts node H
//! in group G (a node joins one group). A group's copies go out node by
//! node in the order they joined, each node's ports in increasing order,
//! as BMv2's replication engine walks them. `mirroring_add S PORT` and
//! `mirroring_add_mc S G` set clone session S to a port or a group;
//! `mirroring_get S` reads it.
//!
//! The optional number after the table name is the priority: a larger STF
//! number wins (p4c's runner gives BMv2 `10000 - PRIO`, where a smaller
//! value wins); it is handed to the switch as is (where larger wins too).
//! An entry without one gets priority 0.
//!
//! ```
//! let json = include_str!("../../switch/tests/data/minimal.json");
//! let stf = "packet 1 00000000 00000000 00000000 00000000 00000000\n\
//!            expect 2 00000000 00000000 ******** 00000000 00000000 $\n";
//! let outcome = fairshare_stf::run_texts(json, stf).unwrap();
//! assert!(outcome.passed(), "{}", outcome.reason());
//! ```

pub mod dir;
pub mod parse;
pub mod run;

pub use dir::{run_dir, CaseResult, CaseStatus};
pub use parse::{parse, Command, Line, ParseError};
pub use run::{Failure, Outcome};

use fairshare_switch::Switch;
use std::path::Path;

/// Bad input: the test cannot be run at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("cannot read {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("{file}: not JSON: {reason}")]
    NotJson { file: String, reason: String },
    #[error("{file}:{}: expected {}, found {}", .source.line, .source.expected, .source.found)]
    Stf { file: String, source: ParseError },
}

/// Runs an STF text on a JSON program, both given as text.
pub fn run_texts(json: &str, stf: &str) -> Result<Outcome, Error> {
    run_named(json, "PROGRAM.json", stf, "TEST.stf")
}

/// Runs an STF file on a JSON program file.
pub fn run_files(json: &Path, stf: &Path) -> Result<Outcome, Error> {
    let read = |p: &Path| {
        std::fs::read_to_string(p).map_err(|e| Error::Read {
            path: p.display().to_string(),
            reason: e.to_string(),
        })
    };
    run_named(
        &read(json)?,
        &json.display().to_string(),
        &read(stf)?,
        &stf.display().to_string(),
    )
}

fn run_named(json: &str, json_name: &str, stf: &str, stf_name: &str) -> Result<Outcome, Error> {
    let doc: serde_json::Value = serde_json::from_str(json).map_err(|e| Error::NotJson {
        file: json_name.to_string(),
        reason: e.to_string(),
    })?;
    let lines = parse(stf).map_err(|source| Error::Stf {
        file: stf_name.to_string(),
        source,
    })?;
    let mut sw = match Switch::load(json) {
        Ok(sw) => sw,
        Err(e) => {
            return Ok(Outcome {
                failures: vec![Failure::Load {
                    reason: e.to_string(),
                }],
                ..Outcome::default()
            })
        }
    };
    Ok(run::run_lines(&mut sw, &doc, &lines))
}
