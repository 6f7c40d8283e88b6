//! The conformance corpus (`../shared/conformance/cases`, p4c's STF tests
//! that pass on real BMv2): every case not listed in
//! `tests/known-failures.txt` must pass, and every listed case must still
//! fail, so the list can only shrink. `UPDATE_EXPECT=1` rewrites the list
//! from the current run (keeping the reasons already written for cases
//! that still fail) for review.

use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::path::Path;

const CASES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/conformance/cases"
);
const KNOWN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/known-failures.txt");

/// `name: reason` lines; `#` starts a comment line.
fn read_known(text: &str) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((name, reason)) = line.split_once(':') else {
            bail!(
                "known-failures.txt:{}: expected `name: reason`, found `{line}`",
                i + 1
            );
        };
        out.insert(name.trim().to_string(), reason.trim().to_string());
    }
    Ok(out)
}

#[test]
fn corpus() -> Result<()> {
    let dir = Path::new(CASES);
    if !dir.is_dir() {
        println!("skipped: no conformance corpus at {}", dir.display());
        return Ok(());
    }
    let results = fairshare_stf::run_dir(dir, fairshare_stf::dir::default_threads())
        .map_err(anyhow::Error::msg)?;
    print!("{}", fairshare_stf::dir::table(&results));
    let known_text = std::fs::read_to_string(KNOWN).unwrap_or_default();
    let known = read_known(&known_text)?;

    if std::env::var_os("UPDATE_EXPECT").is_some() {
        let mut text = String::from(
            "# Conformance cases that fail today, one a line: `case: the feature it needs`.\n\
             # tests/corpus.rs checks that every other case passes and that these still fail.\n",
        );
        for r in results.iter().filter(|r| !r.passed()) {
            let reason = known.get(&r.name).cloned().unwrap_or_else(|| r.reason());
            text += &format!("{}: {reason}\n", r.name);
        }
        std::fs::write(KNOWN, text).with_context(|| format!("writing {KNOWN}"))?;
        println!("wrote {KNOWN}");
        return Ok(());
    }

    let mut problems = vec![];
    for r in &results {
        match (known.contains_key(&r.name), r.passed()) {
            (false, false) => problems.push(format!("{} fails: {}", r.name, r.reason())),
            (true, true) => problems.push(format!(
                "{} passes now: remove it from known-failures.txt",
                r.name
            )),
            _ => {}
        }
    }
    for name in known.keys() {
        if !results.iter().any(|r| &r.name == name) {
            problems.push(format!("{name} is listed but is not in the corpus"));
        }
    }
    let passed = results.iter().filter(|r| r.passed()).count();
    println!("{passed} of {} cases pass", results.len());
    if !problems.is_empty() {
        bail!("{}", problems.join("\n"));
    }
    Ok(())
}
