//! P4Info text format and index over the P4Info files in the repository
//! (the generated golden files) and the conformance cases beside it.

use std::path::{Path, PathBuf};

use fairshare_p4rt::proto::p4::config::v1::P4Info;
use fairshare_p4rt::{text, EntityKind, P4InfoIndex};

const WORKSPACE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

fn golden_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    let examples = Path::new(WORKSPACE).join("examples/expected");
    for example in read_dir_sorted(&examples) {
        for pipeline in read_dir_sorted(&example.join("pipelines")) {
            let file = pipeline.join("fairshare.p4info.txtpb");
            if file.is_file() {
                files.push(file);
            }
        }
    }
    files
}

fn conformance_files() -> Vec<PathBuf> {
    let cases = Path::new(WORKSPACE).join("../shared/conformance/cases");
    let mut files = Vec::new();
    for case in read_dir_sorted(&cases) {
        for file in read_dir_sorted(&case) {
            if file.to_string_lossy().ends_with(".p4info.txtpb") {
                files.push(file);
            }
        }
    }
    files
}

fn read_dir_sorted(dir: &Path) -> Vec<PathBuf> {
    let mut entries: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(_) => Vec::new(),
    };
    entries.sort();
    entries
}

/// Parses, prints and parses again; the two parses must agree, and printing
/// the second must give the same text as printing the first.
fn round_trip(file: &Path) -> anyhow::Result<(P4Info, bool)> {
    let original = std::fs::read_to_string(file)?;
    let first: P4Info = text::parse_p4info(&original)?;
    let printed = text::print_p4info(&first)?;
    let second: P4Info = text::parse_p4info(&printed)?;
    anyhow::ensure!(
        first == second,
        "{}: the printed text parses to a different P4Info",
        file.display()
    );
    anyhow::ensure!(
        text::print_p4info(&second)? == printed,
        "{}: printing is not stable",
        file.display()
    );
    Ok((first, printed == original))
}

/// Every entity is found by its id and by its name, and both give the same
/// entity.
fn check_index(file: &Path, info: P4Info) -> anyhow::Result<usize> {
    let index = P4InfoIndex::new(info.clone())?;
    let mut checked = 0;
    let mut preambles = Vec::new();
    preambles.extend(
        info.tables
            .iter()
            .map(|e| (EntityKind::Table, e.preamble.clone())),
    );
    preambles.extend(
        info.actions
            .iter()
            .map(|e| (EntityKind::Action, e.preamble.clone())),
    );
    preambles.extend(
        info.counters
            .iter()
            .map(|e| (EntityKind::Counter, e.preamble.clone())),
    );
    preambles.extend(
        info.direct_counters
            .iter()
            .map(|e| (EntityKind::DirectCounter, e.preamble.clone())),
    );
    preambles.extend(
        info.meters
            .iter()
            .map(|e| (EntityKind::Meter, e.preamble.clone())),
    );
    preambles.extend(
        info.direct_meters
            .iter()
            .map(|e| (EntityKind::DirectMeter, e.preamble.clone())),
    );
    preambles.extend(
        info.registers
            .iter()
            .map(|e| (EntityKind::Register, e.preamble.clone())),
    );
    preambles.extend(
        info.action_profiles
            .iter()
            .map(|e| (EntityKind::ActionProfile, e.preamble.clone())),
    );
    preambles.extend(
        info.digests
            .iter()
            .map(|e| (EntityKind::Digest, e.preamble.clone())),
    );
    preambles.extend(
        info.controller_packet_metadata
            .iter()
            .map(|e| (EntityKind::ControllerPacketMetadata, e.preamble.clone())),
    );
    for (kind, preamble) in preambles {
        let preamble = preamble
            .ok_or_else(|| anyhow::anyhow!("{}: entity without preamble", file.display()))?;
        anyhow::ensure!(
            EntityKind::of_id(preamble.id) == Some(kind),
            "{}: {} has the wrong prefix",
            file.display(),
            preamble.name
        );
        anyhow::ensure!(
            index.id(kind, &preamble.name) == Some(preamble.id),
            "{}: {} not found by name",
            file.display(),
            preamble.name
        );
        anyhow::ensure!(
            index.name(preamble.id) == Some(preamble.name.as_str()),
            "{}: {:#x} not found by id",
            file.display(),
            preamble.id
        );
        checked += 1;
    }
    for table in &info.tables {
        let id = table.preamble.as_ref().map_or(0, |p| p.id);
        for field in &table.match_fields {
            anyhow::ensure!(index.match_field(id, field.id) == Some(field));
            anyhow::ensure!(index.match_field_by_name(id, &field.name) == Some(field));
        }
        for action_ref in &table.action_refs {
            anyhow::ensure!(
                index.action(action_ref.id).is_some(),
                "{}: table refers to an unknown action",
                file.display()
            );
        }
    }
    for action in &info.actions {
        let id = action.preamble.as_ref().map_or(0, |p| p.id);
        for param in &action.params {
            anyhow::ensure!(index.action_param(id, param.id) == Some(param));
            anyhow::ensure!(index.action_param_by_name(id, &param.name) == Some(param));
        }
    }
    Ok(checked)
}

#[test]
fn golden_p4info_files_round_trip_and_index() -> anyhow::Result<()> {
    let files = golden_files();
    anyhow::ensure!(
        !files.is_empty(),
        "no golden P4Info under examples/expected"
    );
    for file in &files {
        let (info, identical) = round_trip(file)?;
        // fairshare writes its P4Info with this printer's conventions, so the
        // text must come back exactly.
        anyhow::ensure!(
            identical,
            "{}: printing the parsed P4Info changes the text",
            file.display()
        );
        let index = P4InfoIndex::new(info.clone())?;
        anyhow::ensure!(
            index.packet_in().is_some() && index.packet_out().is_some(),
            "{}: no controller headers",
            file.display()
        );
        anyhow::ensure!(
            !index.p4info().meters.is_empty() && !index.p4info().direct_meters.is_empty()
        );
        check_index(file, info)?;
    }
    Ok(())
}

#[test]
fn conformance_p4info_files_round_trip_and_index() -> anyhow::Result<()> {
    let files = conformance_files();
    if files.is_empty() {
        println!("skipped: no conformance P4Info files under ../shared/conformance/cases");
        return Ok(());
    }
    let mut entities = 0;
    for file in &files {
        let (info, identical) = round_trip(file)?;
        // These files come from p4c; the printer follows the same conventions.
        anyhow::ensure!(
            identical,
            "{}: printing the parsed P4Info changes the text",
            file.display()
        );
        entities += check_index(file, info)?;
    }
    println!(
        "{} files printed back identically, {entities} entities indexed",
        files.len()
    );
    Ok(())
}
