//! `fairshare compile` for Tofino: `--target-kind tofino`, `--cpu-port`
//! and `--emit tna`, run as a user runs them.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_fairshare"))
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
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

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The rules of a switch say which pipeline they are for; everything else
/// in them is the same whatever the target.
fn without_pipeline(rules: &str) -> String {
    rules
        .lines()
        .filter(|l| !l.trim_start().starts_with("\"pipeline\""))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn target_kind_tofino_writes_the_tna_program_beside_the_others() {
    let dir = scratch("compile-tofino");
    let tofino = dir.join("tofino");
    let bmv2 = dir.join("bmv2");
    let metro = root().join("examples/metro.fsp");
    let o = run(bin()
        .arg("compile")
        .arg(&metro)
        .args(["--target-kind", "tofino", "--cpu-port", "320", "-o"])
        .arg(&tofino));
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(bin().arg("compile").arg(&metro).arg("-o").arg(&bmv2));
    assert!(o.status.success(), "{}", stderr(&o));

    // One program for every switch, since they now share the CPU port.
    let pipes: Vec<String> = fs::read_dir(tofino.join("pipelines"))
        .expect("pipelines/")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(pipes, ["tofino-cpu320"]);
    let written = fs::read_to_string(tofino.join("pipelines/tofino-cpu320/fairshare_tna.p4"))
        .expect("fairshare_tna.p4 written");
    let kept = fs::read_to_string(root().join("p4/metro/tna-cpu320.p4")).expect("kept copy");
    assert_eq!(
        written, kept,
        "the TNA program differs from p4/metro/tna-cpu320.p4"
    );
    assert!(
        !bmv2.join("pipelines/bmv2-cpu255/fairshare_tna.p4").exists(),
        "a BMv2 pipeline has no TNA program"
    );

    // The P4Info names are the pipeline's, whatever the target, and so are
    // the rules: one rules file serves both.
    let info = |d: &Path, p: &str| {
        fs::read_to_string(d.join(format!("pipelines/{p}/fairshare.p4info.txtpb"))).expect("p4info")
    };
    assert_eq!(info(&tofino, "tofino-cpu320"), info(&bmv2, "bmv2-cpu255"));
    for sw in ["dc-east", "edge-n"] {
        let rules = |d: &Path| {
            fs::read_to_string(d.join(format!("switches/{sw}.rules.json"))).expect("rules")
        };
        let (t, b) = (rules(&tofino), rules(&bmv2));
        assert!(t.contains("tofino-cpu320"), "{sw}: {t}");
        assert_eq!(without_pipeline(&t), without_pipeline(&b), "{sw}");
    }
}

#[test]
fn emit_tna_prints_the_program_or_says_why_not() {
    let single = root().join("examples/single.fsp");
    let o = run(bin().arg("compile").arg(&single).args([
        "--emit",
        "tna",
        "--target-kind",
        "tofino",
        "--cpu-port",
        "320",
    ]));
    assert!(o.status.success(), "{}", stderr(&o));
    let kept = fs::read(root().join("p4/single/tna-cpu320.p4")).expect("kept copy");
    assert_eq!(o.stdout, kept);

    let o = run(bin().arg("compile").arg(&single).args(["--emit", "tna"]));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("bmv2 target") && e.contains("--target-kind tofino"),
        "{e}"
    );
}

#[test]
fn a_cpu_port_in_use_or_too_wide_is_refused() {
    let metro = root().join("examples/metro.fsp");
    // dc-east's server web1 hangs off port 1.
    let o = run(bin().arg("compile").arg(&metro).args([
        "--emit",
        "tna",
        "--target-kind",
        "tofino",
        "--cpu-port",
        "1",
    ]));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("CPU port 1 is in use") && e.contains("web1"),
        "{e}"
    );

    let o = run(bin()
        .arg("compile")
        .arg(&metro)
        .args(["--emit", "p4", "--cpu-port", "512"]));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("expected 0 to 511"), "{}", stderr(&o));
}

/// A switch the policy declares `target tofino` gets the TNA program with
/// the policy's own `cpu-port`; the other switches keep theirs.
#[test]
fn a_tofino_switch_in_the_policy_gets_the_tna_program() {
    let dir = scratch("compile-policy-tofino");
    let src = fs::read_to_string(root().join("examples/metro.fsp")).expect("metro.fsp");
    let from = "switch dc-east { cpu-port 255  device-id 1  uplink-port 10  target bmv2 }";
    assert!(src.contains(from), "metro.fsp changed; update this test");
    let policy = dir.join("metro-tofino.fsp");
    fs::write(
        &policy,
        src.replace(
            from,
            "switch dc-east { cpu-port 320  device-id 1  uplink-port 10  target tofino }",
        ),
    )
    .expect("write policy");
    let out = dir.join("build");
    let o = run(bin().arg("compile").arg(&policy).arg("-o").arg(&out));
    assert!(o.status.success(), "{}", stderr(&o));
    let mut pipes: Vec<String> = fs::read_dir(out.join("pipelines"))
        .expect("pipelines/")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    pipes.sort();
    assert_eq!(pipes, ["bmv2-cpu255", "bmv2-cpu64", "tofino-cpu320"]);
    let written = fs::read_to_string(out.join("pipelines/tofino-cpu320/fairshare_tna.p4"))
        .expect("fairshare_tna.p4 written");
    let kept = fs::read_to_string(root().join("p4/metro/tna-cpu320.p4")).expect("kept copy");
    assert_eq!(written, kept);
    let rules = fs::read_to_string(out.join("switches/dc-east.rules.json")).expect("rules");
    assert!(rules.contains("\"pipeline\": \"tofino-cpu320\""), "{rules}");
}
