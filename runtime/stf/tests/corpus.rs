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

/// Each passing case, changed so that it must fail: the first expected
/// packet with one cared-about digit flipped, and each `check_counter`
/// with its value moved by one. A runner that passed cases vacuously
/// would pass these too.
#[test]
fn mutated_cases_fail() -> Result<()> {
    let dir = Path::new(CASES);
    if !dir.is_dir() {
        println!("skipped: no conformance corpus at {}", dir.display());
        return Ok(());
    }
    let known = read_known(&std::fs::read_to_string(KNOWN).unwrap_or_default())?;
    let mut problems = vec![];
    let mut mutants = 0;
    for case in fairshare_stf::dir::case_dirs(dir).map_err(anyhow::Error::msg)? {
        let name = case
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if known.contains_key(&name) {
            continue;
        }
        let json = std::fs::read_to_string(case.join(format!("{name}.json")))?;
        let stf = std::fs::read_to_string(case.join(format!("{name}.stf")))?;
        let lines: Vec<&str> = stf.lines().collect();
        let mut variants = vec![];
        if let Some(i) = lines.iter().position(|l| {
            let l = l.split('#').next().unwrap_or("");
            l.trim_start().starts_with("expect") && l.split_whitespace().count() > 2
        }) {
            variants.push((i, flip_first_digit(lines[i])));
        }
        for (i, l) in lines.iter().enumerate() {
            if l.trim_start().starts_with("check_counter") {
                variants.push((i, bump_last_number(l)));
            }
        }
        for (i, changed) in variants {
            let mut text: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
            text[i] = changed;
            let o = fairshare_stf::run_texts(&json, &text.join("\n"))
                .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
            mutants += 1;
            if o.passed() {
                problems.push(format!(
                    "{name}: passes with line {} changed to `{}`",
                    i + 1,
                    text[i]
                ));
            }
        }
    }
    println!("{mutants} mutated cases run");
    if !problems.is_empty() {
        bail!("{}", problems.join("\n"));
    }
    Ok(())
}

/// `expect PORT DATA`: the first hex digit of DATA, changed.
fn flip_first_digit(line: &str) -> String {
    let mut out = String::new();
    let mut words = 0;
    let mut done = false;
    let mut prev_space = true;
    for c in line.chars() {
        if c.is_whitespace() {
            prev_space = true;
            out.push(c);
            continue;
        }
        if prev_space {
            words += 1;
            prev_space = false;
        }
        if !done && words >= 3 && c.is_ascii_hexdigit() {
            out.push(if c == '0' { '1' } else { '0' });
            done = true;
        } else {
            out.push(c);
        }
    }
    out
}

/// `check_counter ... VALUE` with VALUE + 1.
fn bump_last_number(line: &str) -> String {
    let line = line.split('#').next().unwrap_or("").trim_end();
    match line.rsplit_once(' ') {
        Some((head, v)) => match v.parse::<u64>() {
            Ok(n) => format!("{head} {}", n + 1),
            Err(_) => line.to_string(),
        },
        None => line.to_string(),
    }
}
