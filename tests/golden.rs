//! Golden tests of every artifact `fairshare compile` writes for the
//! examples, and of the P4 kept in `p4/` (v1model and TNA).
//!
//! A missing expectation is written and the test fails saying so; set
//! `UPDATE_EXPECT=1` to rewrite expectations after reviewing the change.

use fairshare_alloc::{allocate, Topology};
use std::fs;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Compares `actual` with the file at `path`, writing it when asked to or
/// when it does not exist yet. Returns a problem description on mismatch.
fn check(path: &Path, actual: &str) -> Option<String> {
    let update = std::env::var_os("UPDATE_EXPECT").is_some();
    match fs::read_to_string(path) {
        Ok(expected) if expected == actual => None,
        Ok(_) if update => {
            fs::write(path, actual).expect("rewrite expectation");
            None
        }
        Ok(expected) => {
            let line = expected
                .lines()
                .zip(actual.lines())
                .position(|(a, b)| a != b);
            let at = match line {
                Some(i) => format!(
                    "first difference at line {}:\n  expected: {}\n  actual:   {}",
                    i + 1,
                    expected.lines().nth(i).unwrap_or(""),
                    actual.lines().nth(i).unwrap_or("")
                ),
                None => format!(
                    "lengths differ: expected {} lines, got {}",
                    expected.lines().count(),
                    actual.lines().count()
                ),
            };
            Some(format!(
                "{} is stale ({at}); rerun with UPDATE_EXPECT=1 after review",
                path.display()
            ))
        }
        Err(_) => {
            fs::create_dir_all(path.parent().expect("parent")).expect("create expectation folder");
            fs::write(path, actual).expect("write expectation");
            if update {
                None
            } else {
                Some(format!(
                    "{} did not exist and was written; review it and rerun",
                    path.display()
                ))
            }
        }
    }
}

fn examples() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(root().join("examples"))
        .expect("examples/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "fsp"))
        .collect();
    v.sort();
    assert!(
        v.len() >= 2,
        "examples/ should hold at least single.fsp and metro.fsp"
    );
    v
}

fn compile(path: &Path) -> fairshare_codegen::Output {
    let src = fs::read_to_string(path).expect("read example");
    let (_, policy) = fairshare_policy::load(&src).unwrap_or_else(|d| {
        panic!(
            "{}",
            fairshare_policy::render(&d, &path.display().to_string(), &src)
        )
    });
    let topo = Topology::build(&policy).expect("topology");
    let shares = allocate(&topo, &policy, policy.algorithm);
    fairshare_codegen::compile(&policy, &topo, &shares).expect("compiles")
}

#[test]
fn every_artifact_of_every_example_matches_its_golden_file() {
    let mut problems = vec![];
    for ex in examples() {
        let name = ex.file_stem().expect("stem").to_string_lossy().to_string();
        let out = compile(&ex);
        for (rel, content) in out.files() {
            // The P4 programs are kept in p4/ (next test), once.
            if rel.ends_with(".p4") {
                continue;
            }
            let path = root().join("examples/expected").join(&name).join(&rel);
            problems.extend(check(&path, content));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_p4_in_p4_folder_is_current() {
    let mut problems = vec![];
    for ex in examples() {
        let name = ex.file_stem().expect("stem").to_string_lossy().to_string();
        for p in compile(&ex).pipelines {
            let path = root().join("p4").join(&name).join(format!("{}.p4", p.name));
            problems.extend(check(&path, &p.p4));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The CPU port the kept TNA programs are compiled for: the PCIe CPU port
/// of a 4-pipe Tofino (and of the Tofino model).
const TOFINO_CPU_PORT: u16 = 320;

/// Every example compiled for Tofino, as `fairshare compile --target-kind
/// tofino --cpu-port 320` does; each TNA program is kept in `p4/` beside
/// the v1model ones.
#[test]
fn the_tna_programs_in_p4_folder_are_current() {
    let retarget = fairshare_codegen::Retarget {
        target: Some(fairshare_policy::model::Target::Tofino),
        cpu_port: Some(TOFINO_CPU_PORT),
    };
    let mut problems = vec![];
    for ex in examples() {
        let name = ex.file_stem().expect("stem").to_string_lossy().to_string();
        let src = fs::read_to_string(&ex).expect("read example");
        let (_, policy) = fairshare_policy::load(&src).expect("example checks");
        let topo = Topology::build(&policy).expect("topology");
        let shares = allocate(&topo, &policy, policy.algorithm);
        let out = fairshare_codegen::compile_with(&policy, &topo, &shares, &retarget)
            .expect("compiles for Tofino");
        for p in out.pipelines {
            let tna = p.tna.expect("a Tofino pipeline has a TNA program");
            let path = root()
                .join("p4")
                .join(&name)
                .join(format!("tna-cpu{}.p4", p.params.cpu_port));
            problems.extend(check(&path, &tna));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn compiling_twice_gives_identical_bytes() {
    for ex in examples() {
        let a = compile(&ex);
        let b = compile(&ex);
        assert_eq!(
            a.files(),
            b.files(),
            "{} is not deterministic",
            ex.display()
        );
    }
}

#[test]
fn every_examples_json_checks_and_references_resolve() {
    for ex in examples() {
        for p in compile(&ex).pipelines {
            let doc = fairshare_codegen::bmv2::check_text(&p.json)
                .unwrap_or_else(|e| panic!("{}: {}: {e}", ex.display(), p.name));
            // Every table and meter of the P4Info is in the JSON under the same name.
            for line in p
                .p4info
                .lines()
                .filter_map(|l| l.trim().strip_prefix("name: \""))
            {
                let name = line.trim_end_matches('"');
                let known = doc
                    .pipelines
                    .iter()
                    .flat_map(|x| &x.tables)
                    .any(|t| t.name == name)
                    || doc.actions.iter().any(|a| a.name == name)
                    || doc.meter_arrays.iter().any(|m| m.name == name)
                    || doc.counter_arrays.iter().any(|c| c.name == name)
                    || name.starts_with("hdr.")
                    || name.starts_with("meta.")
                    || name == "packet_in"
                    || name == "packet_out"
                    || p.program
                        .header_types
                        .iter()
                        .any(|h| h.fields.iter().any(|f| f.name == name))
                    || p.program
                        .actions
                        .iter()
                        .any(|a| a.params.iter().any(|x| x.name == name));
                assert!(
                    known,
                    "{}: P4Info names `{name}`, which the JSON does not define",
                    ex.display()
                );
            }
        }
    }
}

#[test]
fn every_rule_names_tables_actions_and_fields_of_its_program() {
    use fairshare_codegen::ir::MatchKind;
    use fairshare_codegen::rules::Match;
    for ex in examples() {
        let out = compile(&ex);
        for sw in &out.switches {
            let pipe = out.pipeline_of(&sw.name).expect("pipeline");
            let prog = &pipe.program;
            for e in &sw.rules.table_entries {
                let t = prog
                    .tables
                    .iter()
                    .find(|t| fairshare_codegen::qualified(&t.name) == e.table)
                    .unwrap_or_else(|| panic!("{}: no table {}", sw.name, e.table));
                // Key fields appear in key order; only LPM and ternary
                // fields may be left out (don't care).
                let mut keys = t.keys.iter();
                for (field, m) in &e.matches.0 {
                    let k = loop {
                        let k = keys.next().unwrap_or_else(|| {
                            panic!(
                                "{}: {field} is not a key of {} (or out of order)",
                                sw.name, e.table
                            )
                        });
                        if fairshare_codegen::bmv2::p4_field_name(prog, k.field) == *field {
                            break k;
                        }
                        assert_ne!(
                            k.kind,
                            MatchKind::Exact,
                            "{}: exact key left out of an entry of {}",
                            sw.name,
                            e.table
                        );
                    };
                    let kind = match m {
                        Match::Exact(_) => MatchKind::Exact,
                        Match::Lpm(..) => MatchKind::Lpm,
                        Match::Ternary(..) => MatchKind::Ternary,
                    };
                    assert_eq!(
                        kind, k.kind,
                        "{}: match kind of {field} in {}",
                        sw.name, e.table
                    );
                }
                assert!(
                    keys.all(|k| k.kind != MatchKind::Exact),
                    "{}: exact key left out of {}",
                    sw.name,
                    e.table
                );
                let a = t
                    .actions
                    .iter()
                    .map(|a| &prog.actions[a.0])
                    .find(|a| fairshare_codegen::qualified(&a.name) == e.action)
                    .unwrap_or_else(|| {
                        panic!("{}: {} is not an action of {}", sw.name, e.action, e.table)
                    });
                let names: Vec<&str> = e.params.0.iter().map(|p| p.0).collect();
                let expected: Vec<&str> = a.params.iter().map(|p| p.name.as_str()).collect();
                assert_eq!(names, expected, "{}: parameters of {}", sw.name, e.action);
                let ternary = t.keys.iter().any(|k| k.kind == MatchKind::Ternary);
                assert_eq!(
                    e.priority.is_some(),
                    ternary,
                    "{}: priority of an entry of {}",
                    sw.name,
                    e.table
                );
            }
            for m in &sw.rules.meter_configs {
                let meter = prog
                    .meters
                    .iter()
                    .find(|x| fairshare_codegen::qualified(&x.name) == m.meter)
                    .unwrap_or_else(|| panic!("{}: no meter {}", sw.name, m.meter));
                assert!(
                    m.index < meter.size,
                    "{}: {}[{}] beyond its size {}",
                    sw.name,
                    m.meter,
                    m.index,
                    meter.size
                );
                assert!(m.cir <= m.pir && m.cburst <= m.pburst, "{}: {m:?}", sw.name);
            }
        }
    }
}
