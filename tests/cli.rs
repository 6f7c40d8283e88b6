//! The `fairshare` command line, run as a user runs it.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_fairshare"))
}

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name)
}

fn scratch(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).expect("scratch dir");
    d
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("run fairshare")
}

fn files_under(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = vec![];
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).expect("read dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p
                    .strip_prefix(dir)
                    .expect("prefix")
                    .to_string_lossy()
                    .to_string();
                out.push((rel, fs::read(&p).expect("read")));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn compile_writes_every_artifact() {
    let dir = scratch("compile-metro");
    let out_dir = dir.join("build");
    let o = run(bin()
        .arg("compile")
        .arg(example("metro.fsp"))
        .arg("-o")
        .arg(&out_dir));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let files: Vec<String> = files_under(&out_dir).into_iter().map(|(p, _)| p).collect();
    for want in ["shares.json", "shares.txt", "topology.dot"] {
        assert!(
            files.iter().any(|f| f == want),
            "missing {want} in {files:?}"
        );
    }
    for suffix in ["fairshare.p4", "fairshare.json", "fairshare.p4info.txtpb"] {
        assert!(
            files
                .iter()
                .any(|f| f.starts_with("pipelines/") && f.ends_with(suffix)),
            "no {suffix} in {files:?}"
        );
    }
    let rules = files
        .iter()
        .filter(|f| f.starts_with("switches/") && f.ends_with(".rules.json"))
        .count();
    assert_eq!(
        rules, 6,
        "metro has 2 DC switches and 4 edge switches: {files:?}"
    );
    // No staging folder is left behind.
    let leftovers: Vec<_> = fs::read_dir(&dir)
        .expect("dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "{leftovers:?}");
}

#[test]
fn two_runs_write_identical_bytes() {
    let dir = scratch("determinism");
    for n in ["a", "b"] {
        let o = run(bin()
            .arg("compile")
            .arg(example("metro.fsp"))
            .arg("-o")
            .arg(dir.join(n)));
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let (a, b) = (files_under(&dir.join("a")), files_under(&dir.join("b")));
    assert!(!a.is_empty());
    assert_eq!(a, b);
}

#[test]
fn a_bad_policy_exits_2_and_writes_nothing() {
    let dir = scratch("bad");
    let policy = dir.join("bad.fsp");
    let good = fs::read_to_string(example("single.fsp")).expect("single.fsp");
    fs::write(&policy, good.replacen("capacity", "capacity 4ms #", 1)).expect("write");
    let out_dir = dir.join("build");
    let o = run(bin().arg("compile").arg(&policy).arg("-o").arg(&out_dir));
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("bad.fsp:"), "diagnostic names the file: {err}");
    assert!(!out_dir.exists(), "nothing is written");
    // An existing output folder is left exactly as it was.
    fs::create_dir_all(&out_dir).expect("mkdir");
    fs::write(out_dir.join("shares.json"), "old").expect("write");
    let o = run(bin().arg("compile").arg(&policy).arg("-o").arg(&out_dir));
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        files_under(&out_dir),
        vec![("shares.json".to_string(), b"old".to_vec())]
    );
    let leftovers = fs::read_dir(&dir).expect("dir").count();
    assert_eq!(leftovers, 2, "only bad.fsp and build/ remain");
}

#[test]
fn a_missing_policy_is_an_error_naming_it() {
    let o = run(bin().args(["compile", "/nonexistent/x.fsp", "-o", "/nonexistent/out"]));
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("/nonexistent/x.fsp"));
}

#[test]
fn check_accepts_the_examples() {
    for ex in ["single.fsp", "metro.fsp"] {
        let o = run(bin().arg("check").arg(example(ex)));
        assert!(
            o.status.success(),
            "{ex}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

#[test]
fn emit_prints_each_stage() {
    let dir = scratch("emit");
    let out_dir = dir.join("build");
    let o = run(bin()
        .arg("compile")
        .arg(example("single.fsp"))
        .arg("-o")
        .arg(&out_dir));
    assert!(o.status.success());
    let files = files_under(&out_dir);
    let file = |suffix: &str| {
        files
            .iter()
            .find(|(p, _)| p.ends_with(suffix))
            .map(|(_, c)| c.clone())
            .expect(suffix)
    };
    for (stage, same_as) in [
        ("ast", None),
        ("model", None),
        ("ir", None),
        ("shares", Some("shares.json")),
        ("p4", Some("fairshare.p4")),
        ("json", Some("fairshare.json")),
        ("p4info", Some("fairshare.p4info.txtpb")),
    ] {
        let o = run(bin()
            .arg("compile")
            .arg(example("single.fsp"))
            .args(["--emit", stage]));
        assert!(
            o.status.success(),
            "--emit {stage}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(!o.stdout.is_empty(), "--emit {stage} printed nothing");
        if let Some(f) = same_as {
            assert_eq!(o.stdout, file(f), "--emit {stage} differs from {f}");
        }
    }
    let o = run(bin()
        .arg("compile")
        .arg(example("single.fsp"))
        .args(["--emit", "rules", "--switch", "no-such"]));
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn every_subcommand_has_help() {
    for sub in [
        vec!["--help"],
        vec!["compile", "--help"],
        vec!["check", "--help"],
        vec!["gen-policy", "--help"],
    ] {
        let o = run(bin().args(&sub));
        assert!(o.status.success(), "{sub:?}");
        assert!(
            String::from_utf8_lossy(&o.stdout).contains("Usage"),
            "{sub:?}"
        );
    }
}

#[test]
fn a_generated_policy_checks_and_compiles() {
    let dir = scratch("gen");
    let policy = dir.join("gen.fsp");
    let o = run(bin()
        .args([
            "gen-policy",
            "--dcs",
            "3",
            "--edges",
            "25",
            "--seed",
            "7",
            "-o",
        ])
        .arg(&policy));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = run(bin()
        .arg("compile")
        .arg(&policy)
        .arg("-o")
        .arg(dir.join("build")));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}
