//! No corpus program panics the switch: every truncation of each STF's own
//! packets, random packets (proptest), and the crash inputs found so far
//! (`tests/robustness-regressions.txt`: `case port hex` lines) go through
//! with the STF's table entries installed.

use anyhow::{Context, Result};
use fairshare_stf::parse::{parse, Command};
use fairshare_switch::Switch;
use proptest::prelude::*;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::Mutex;

const CASES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/conformance/cases"
);
const REGRESSIONS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/robustness-regressions.txt"
);

struct Program {
    name: String,
    sw: Switch,
    /// The STF's packets: port and bytes.
    packets: Vec<(u32, Vec<u8>)>,
}

/// Every corpus program the switch loads, with its STF's control-plane
/// commands applied.
fn programs() -> Result<Option<Vec<Program>>> {
    let dir = Path::new(CASES);
    if !dir.is_dir() {
        println!("skipped: no conformance corpus at {}", dir.display());
        return Ok(None);
    }
    let mut out = vec![];
    for case in fairshare_stf::dir::case_dirs(dir).map_err(anyhow::Error::msg)? {
        let name = case
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let json = std::fs::read_to_string(case.join(format!("{name}.json")))
            .with_context(|| name.clone())?;
        let stf = std::fs::read_to_string(case.join(format!("{name}.stf")))
            .with_context(|| name.clone())?;
        let Ok(mut sw) = Switch::load(&json) else {
            continue;
        };
        let lines = parse(&stf).with_context(|| name.clone())?;
        let doc: serde_json::Value = serde_json::from_str(&json)?;
        let (io, control): (Vec<_>, Vec<_>) = lines
            .into_iter()
            .partition(|l| matches!(l.command, Command::Packet { .. } | Command::Expect { .. }));
        fairshare_stf::run::run_lines(&mut sw, &doc, &control);
        let packets = io
            .into_iter()
            .filter_map(|l| match l.command {
                Command::Packet { port, data } => Some((port, data)),
                _ => None,
            })
            .collect();
        out.push(Program { name, sw, packets });
    }
    Ok(Some(out))
}

/// Runs one packet; a panic becomes a `case port hex` line.
fn try_packet(p: &mut Program, port: u32, data: &[u8]) -> Option<String> {
    let sw = &mut p.sw;
    let r = catch_unwind(AssertUnwindSafe(|| {
        sw.process(port, data, 0, &mut |_, _| {})
    }));
    r.err().map(|_| {
        format!(
            "{} {port} {}",
            p.name,
            fairshare_stf::run::hex(data).replace(' ', "")
        )
    })
}

#[test]
fn truncated_and_recorded_packets_do_not_panic() -> Result<()> {
    let Some(mut progs) = programs()? else {
        return Ok(());
    };
    let mut crashes = vec![];
    let mut runs = 0usize;
    let regressions = std::fs::read_to_string(REGRESSIONS).unwrap_or_default();
    for line in regressions.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut w = line.split_whitespace();
        let (Some(case), Some(port), hex) = (w.next(), w.next(), w.next().unwrap_or("")) else {
            anyhow::bail!("robustness-regressions.txt: expected `case port hex`, found `{line}`");
        };
        let port: u32 = port.parse().with_context(|| line.to_string())?;
        let data: Vec<u8> = (0..hex.len() / 2)
            .filter_map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok())
            .collect();
        if let Some(p) = progs.iter_mut().find(|p| p.name == case) {
            runs += 1;
            crashes.extend(try_packet(p, port, &data));
        }
    }
    for p in &mut progs {
        let packets = p.packets.clone();
        for (port, data) in packets {
            for n in 0..=data.len() {
                runs += 1;
                crashes.extend(try_packet(p, port, &data[..n]));
            }
        }
    }
    println!("{runs} packets through {} programs", progs.len());
    assert!(
        crashes.is_empty(),
        "the switch panicked; add these to robustness-regressions.txt:\n{}",
        crashes.join("\n")
    );
    Ok(())
}

#[test]
fn random_packets_do_not_panic() -> Result<()> {
    let Some(progs) = programs()? else {
        return Ok(());
    };
    let n = progs.len();
    let progs = Mutex::new(progs);
    let config = ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(which in 0..n, port in 0u32..16, data in proptest::collection::vec(any::<u8>(), 0..160))| {
        let mut progs = progs.lock().map_err(|_| TestCaseError::fail("poisoned"))?;
        let p = &mut progs[which];
        if let Some(crash) = try_packet(p, port, &data) {
            return Err(TestCaseError::fail(format!(
                "the switch panicked; add to robustness-regressions.txt: {crash}"
            )));
        }
    });
    Ok(())
}

const TO_PORT_2: &str = include_str!("../../switch/tests/data/minimal.json");

/// STF text made of the dialect's own tokens, so that parsing goes deep.
fn stf_text() -> impl Strategy<Value = String> {
    let token = prop::sample::select(vec![
        "add",
        "setdefault",
        "packet",
        "expect",
        "wait",
        "check_counter",
        "register_read",
        "register_write",
        "meter_set_rates",
        "mc_node_create",
        "counter_write",
        "fwd",
        "to_port",
        "to_port(port:2)",
        "(",
        ")",
        ":",
        ",",
        "k:0x**",
        "k:1->2",
        "k:0x1&&&0xf",
        "k:0x1/99",
        "0x",
        "0b1*",
        "*",
        "$",
        "00ff",
        "1",
        "99999999999999999999999999999999999999999",
        "c(1)",
        "==",
        "bytes",
        "0.5:10",
        "#",
        "\u{e9}",
        "\t",
    ]);
    prop::collection::vec(
        prop::collection::vec(token, 0..8).prop_map(|w| w.join(" ")),
        0..6,
    )
    .prop_map(|lines| lines.join("\n"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_stf_text_gives_a_result(text in stf_text()) {
        // The JSON is fine, so the only error is an STF line that does not parse.
        match fairshare_stf::run_texts(TO_PORT_2, &text) {
            Ok(_) | Err(fairshare_stf::Error::Stf { .. }) => {}
            Err(e) => prop_assert!(false, "unexpected error {e}"),
        }
    }

    #[test]
    fn any_bytes_parse_or_fail(text in "\\PC{0,200}") {
        if let Err(e) = parse(&text) {
            prop_assert!(e.line >= 1 && e.line <= text.lines().count(), "{e}");
        }
    }
}
