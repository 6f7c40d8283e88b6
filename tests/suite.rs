//! The pcap regression suite of `bmv2-tests/` in `cargo test`: every case
//! on the fairshare switch, every case on real `simple_switch_grpc` (over
//! P4Runtime) when it is found, a few on `simple_switch` through its CLI,
//! and `fairshare test`'s exit codes and reports.
//!
//! BMv2 is found through `FAIRSHARE_BMV2` (a folder with `bin/`), then
//! `../shared/bmv2` beside the workspace root, then `PATH`. Without it the
//! BMv2 tests print `skipped: <reason>` and pass, unless
//! `FAIRSHARE_REQUIRE_PEERS=1` (or `FAIRSHARE_REQUIRE_BMV2=1`), when they
//! fail.

use fairshare_suite::network::{self, NetworkCase};
use fairshare_suite::{bmv2, Case, Pipelines, Target};
use std::path::{Path, PathBuf};
use std::process::Command;

fn suite() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("bmv2-tests")
}

/// The packet cases (network cases have their own test).
fn packet_cases() -> Vec<PathBuf> {
    fairshare_suite::discover(&suite(), None)
        .expect("cases")
        .into_iter()
        .filter(|d| !network::is_network(d))
        .collect()
}

#[test]
fn every_case_passes_on_the_fairshare_switch() {
    let dirs = packet_cases();
    assert!(
        dirs.len() >= 16,
        "expected at least 16 cases, found {}",
        dirs.len()
    );
    let mut pipelines = Pipelines::new(&suite());
    let mut failures = vec![];
    for d in &dirs {
        let case = Case::read(d).unwrap_or_else(|e| panic!("{e}"));
        let p = pipelines.load(&case).unwrap_or_else(|e| panic!("{e}"));
        let run = fairshare_suite::run_fairshare(&case, &p).unwrap_or_else(|e| panic!("{e}"));
        let v = fairshare_suite::check(&case, &p, &run, Target::Fairshare).expect("check");
        if !v.passed() {
            failures.push(format!("{}:\n{v}", case.name));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// BMv2 for `target`, or `None` after printing why the test skips (it
/// fails instead when peers are required).
fn bmv2_or_skip(target: Target) -> Option<bmv2::Bmv2> {
    match bmv2::find(Path::new(env!("CARGO_MANIFEST_DIR")), target) {
        Ok(b) => Some(b),
        Err(why) => {
            let required = ["FAIRSHARE_REQUIRE_PEERS", "FAIRSHARE_REQUIRE_BMV2"]
                .iter()
                .find(|v| std::env::var(v).as_deref() == Ok("1"));
            if let Some(v) = required {
                panic!("{v}=1 but {why}");
            }
            println!("skipped: {why}");
            None
        }
    }
}

/// Runs `dirs` on BMv2; returns the failures that the list of known
/// differences does not excuse.
fn run_on_bmv2(b: &bmv2::Bmv2, dirs: &[PathBuf], work: &str) -> Vec<String> {
    let known = bmv2::known_differences(&suite()).expect("bmv2-differences.txt");
    let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join(work);
    let mut pipelines = Pipelines::new(&suite());
    let mut failures = vec![];
    for d in dirs {
        let case = Case::read(d).unwrap_or_else(|e| panic!("{e}"));
        let p = pipelines.load(&case).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            bmv2::cannot_run(&p, b.target),
            None,
            "{}: every case of the suite runs on BMv2",
            case.name
        );
        let expected = fairshare_suite::read_expected(&case)
            .expect("expected/")
            .expect("blessed");
        let run = bmv2::run(b, &case, &p, &expected, &work).unwrap_or_else(|e| panic!("{e}"));
        let v = fairshare_suite::check(&case, &p, &run, b.target).expect("check");
        match (v.passed(), known.get(&case.name)) {
            (false, None) => failures.push(format!("{}:\n{v}", case.name)),
            (false, Some(why)) => println!("{}: differs on BMv2, as listed: {why}", case.name),
            (true, Some(_)) => println!("{}: agrees with BMv2 this time", case.name),
            (true, None) => {}
        }
    }
    let _ = std::fs::remove_dir_all(&work);
    failures
}

#[test]
fn every_case_passes_on_simple_switch_grpc_or_differs_as_listed() {
    let Some(b) = bmv2_or_skip(Target::Bmv2) else {
        return;
    };
    let known = bmv2::known_differences(&suite()).expect("bmv2-differences.txt");
    let dirs = packet_cases();
    for name in known.keys() {
        assert!(
            dirs.iter().any(|d| d.ends_with(name)),
            "bmv2-differences.txt names `{name}`, which is not a packet case"
        );
    }
    let failures = run_on_bmv2(&b, &dirs, "suite-bmv2-grpc");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn cases_pass_on_simple_switch_through_its_cli() {
    let Some(b) = bmv2_or_skip(Target::Bmv2Cli) else {
        return;
    };
    // Table writes and deletes by handle, a timeline, the CPU port as a
    // file in both directions (a punt, and the runt packet-out that
    // simple_switch_grpc cannot take).
    let dirs: Vec<PathBuf> = [
        "no-route-drop",
        "packet-out-runt",
        "rsvp-punt",
        "timeline-control-plane",
    ]
    .iter()
    .map(|n| suite().join("cases").join(n))
    .collect();
    let failures = run_on_bmv2(&b, &dirs, "suite-bmv2-cli");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_network_case_passes_with_its_controllers() {
    let dirs: Vec<PathBuf> = fairshare_suite::discover(&suite(), None)
        .expect("cases")
        .into_iter()
        .filter(|d| network::is_network(d))
        .collect();
    assert!(
        dirs.len() >= 4,
        "expected at least 4 network cases, found {}",
        dirs.len()
    );
    let mut failures = vec![];
    for d in &dirs {
        let case = NetworkCase::read(d, &suite()).unwrap_or_else(|e| panic!("{e}"));
        let run = network::run(&case).unwrap_or_else(|e| panic!("{e}"));
        let v = network::check(&case, &run).expect("check");
        if !v.passed() {
            failures.push(format!("{}:\n{v}", case.name));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_network_case_reports_a_changed_tally_field_by_field_and_a_wrong_count() {
    let dir = scratch_suite("network", "network-admit");
    let toml = dir.join("cases/network-admit/case.toml");
    let good = std::fs::read_to_string(&toml).expect("read");
    // Another epoch: the DC's tallies carry it, so the aggregate Paths on
    // dc1-sw's uplink differ in one field of their RSVP.
    std::fs::write(
        &toml,
        good.replacen(
            "policy = \"policy.fsp\"",
            "policy = \"policy.fsp\"\nepoch = 2",
            1,
        )
        .replacen("\nreleases = 1", "\nreleases = 2", 1)
        .replacen("\"dc1-sw:1\" = 2", "\"dc1-sw:1\" = 3", 1),
    )
    .expect("write");
    let (code, out) = fairshare_test(&[dir.to_str().expect("utf-8")]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("dc1-sw port 3 (expected/dc1-sw-3.pcap; 3 expected, 3 sent)")
            && out.contains("packet 1 ")
            && out.contains("packet 2 ")
            && !out.contains("packet 3 "),
        "the offer and the release differ, the forwarded Path does not:\n{out}"
    );
    assert!(
        out.contains("rsvp.policy_data.body: expected 000800000024fa15"),
        "the tally's field is named: {out}"
    );
    assert!(
        out.contains("expected 2 releases ahead of flow Paths on the DC uplinks, found 1"),
        "{out}"
    );
    assert!(
        out.contains("timeline[0]: dc1-sw:1 sent 2 frames during the step, expected 3"),
        "{out}"
    );
    // Through simple_switch_CLI the network cases are skipped, saying why
    // (their controllers need P4Runtime).
    if bmv2::find(Path::new(env!("CARGO_MANIFEST_DIR")), Target::Bmv2Cli).is_ok() {
        let s = suite();
        let args = [s.to_str().expect("utf-8"), "--target", "bmv2-cli"];
        let (code, out) = fairshare_test(&[&args[..], &["-f", "network-admit"]].concat());
        assert_eq!(code, 0, "{out}");
        assert!(
            out.contains("skip network-admit") && out.contains("0 passed, 0 failed, 1 skipped"),
            "{out}"
        );
    }
}

/// Whether this process can make network namespaces; prints why not.
fn namespaces_or_skip() -> bool {
    let Some(why) = fairshare_controller::bmv2net::namespaces_unavailable() else {
        return true;
    };
    let required = ["FAIRSHARE_REQUIRE_PEERS", "FAIRSHARE_REQUIRE_BMV2"]
        .iter()
        .find(|v| std::env::var(v).as_deref() == Ok("1"));
    if let Some(v) = required {
        panic!("{v}=1 but {why}");
    }
    println!("skipped: {why}");
    false
}

/// The network cases on real simple_switch_grpc switches, each in a
/// network namespace of its own and joined through veth pairs, against
/// the same expected frames as on fairshare's switches, through the
/// command a user runs.
#[test]
fn every_network_case_passes_on_simple_switch_grpc() {
    let Some(b) = bmv2_or_skip(Target::Bmv2) else {
        return;
    };
    if !namespaces_or_skip() {
        return;
    }
    let s = suite();
    let args = [
        s.to_str().expect("utf-8"),
        "--target",
        "bmv2",
        "-f",
        "network-",
    ];
    let (code, out) = fairshare_test_on(&b, &args);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("4 passed, 0 failed"), "{out}");
}

/// A copy of one case in a scratch suite folder, with the examples beside it.
fn scratch_suite(name: &str, case: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("suite-cli-{name}"));
    let _ = std::fs::remove_dir_all(&root);
    let cases = root.join("bmv2-tests/cases");
    std::fs::create_dir_all(root.join("examples")).expect("dir");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/single.fsp"),
        root.join("examples/single.fsp"),
    )
    .expect("copy example");
    let from = suite().join("cases").join(case);
    let to = cases.join(case);
    for sub in ["", "in", "expected"] {
        std::fs::create_dir_all(to.join(sub)).expect("dir");
        // Network cases have no in/.
        let Ok(entries) = std::fs::read_dir(from.join(sub)) else {
            continue;
        };
        for e in entries {
            let p = e.expect("entry").path();
            if p.is_file() {
                std::fs::copy(&p, to.join(sub).join(p.file_name().expect("name"))).expect("copy");
            }
        }
    }
    root.join("bmv2-tests")
}

fn fairshare_test(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_fairshare"))
        .arg("test")
        .args(args)
        .output()
        .expect("run fairshare");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn the_command_passes_filters_and_reports_a_changed_output_field_by_field() {
    let s = suite();
    let (code, text) = fairshare_test(&[s.to_str().expect("utf-8"), "--filter", "ttl-expiry"]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("pass ttl-expiry") && text.contains("1 passed, 0 failed"),
        "{text}"
    );

    // A case whose expectation no longer holds: the route's TTL handling
    // is unchanged but the case now says TTL 3 where it said 2.
    let dir = scratch_suite("mismatch", "ttl-expiry");
    let toml = dir.join("cases/ttl-expiry/case.toml");
    let text = std::fs::read_to_string(&toml).expect("read");
    std::fs::write(&toml, text.replacen("ttl = 2 }", "ttl = 3 }", 1)).expect("write");
    let (code, out) = fairshare_test(&[dir.to_str().expect("utf-8")]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("in/3.pcap is not what case.toml describes"),
        "{out}"
    );
    assert!(
        out.contains("ipv4.ttl: expected 1, got 2") && out.contains("port 1 (expected/1.pcap"),
        "{out}"
    );
    // Blessing accepts the new output; the case then passes.
    let (code, out) = fairshare_test(&[dir.to_str().expect("utf-8"), "--bless"]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = fairshare_test(&[dir.to_str().expect("utf-8")]);
    assert_eq!(code, 0, "{out}");

    // A drop counter that does not hold fails with the reason's name.
    std::fs::write(
        &toml,
        std::fs::read_to_string(&toml)
            .expect("read")
            .replace("DROP_TTL_EXPIRED = 2", "DROP_TTL_EXPIRED = 3"),
    )
    .expect("write");
    let (code, out) = fairshare_test(&[dir.to_str().expect("utf-8")]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("DROP_TTL_EXPIRED (cell 5): expected 3 packets, got 2"),
        "{out}"
    );
}

#[test]
fn bad_input_exits_2_with_the_file_and_the_place() {
    let dir = scratch_suite("bad", "no-route-drop");
    let toml = dir.join("cases/no-route-drop/case.toml");
    let good = std::fs::read_to_string(&toml).expect("read");
    for (from, to, place) in [
        ("op = \"table_delete\"", "op = \"table_drop\"", "setup[0]"),
        ("dst = \"10.0.0.3\"", "dst = \"10.0.0.300\"", "packets[2]"),
        ("DROP_NO_ROUTE = 2", "DROP_NO_ROUT = 2", "expect.drops"),
        (
            "[[packets]]\nport = 1",
            "[[packets]]\nport = \"one\"",
            "the TOML",
        ),
    ] {
        assert!(good.contains(from), "{from}");
        std::fs::write(&toml, good.replacen(from, to, 1)).expect("write");
        let (code, out) = fairshare_test(&[dir.to_str().expect("utf-8")]);
        assert_eq!(code, 2, "{from}: {out}");
        assert!(
            out.contains("case.toml") && out.contains(place),
            "{from}: expected the file and `{place}`:\n{out}"
        );
    }
    let (code, out) = fairshare_test(&[dir.to_str().expect("utf-8"), "--filter", "no-such-case"]);
    assert_eq!(code, 2, "{out}");
}

#[test]
fn a_bmv2_json_without_p4info_is_skipped_on_simple_switch_grpc_and_runs_with_one() {
    // ttl-expiry with its pipeline given as files (as `fairshare compile`
    // writes them) instead of the example's name.
    let dir = scratch_suite("json", "ttl-expiry");
    let case_dir = dir.join("cases/ttl-expiry");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let src = std::fs::read_to_string(root.join("examples/single.fsp")).expect("single.fsp");
    let (_, policy) = fairshare_policy::load(&src).expect("single.fsp checks");
    let topo = fairshare_alloc::Topology::build(&policy).expect("topology");
    let shares = fairshare_alloc::allocate(&topo, &policy, policy.algorithm);
    let out = fairshare_codegen::compile(&policy, &topo, &shares).expect("compiles");
    let sw = out
        .switches
        .iter()
        .find(|s| s.name == "dc1-sw")
        .expect("dc1-sw");
    let pipe = out.pipeline_of("dc1-sw").expect("pipeline");
    std::fs::write(case_dir.join("dc1.json"), &pipe.json).expect("write");
    std::fs::write(case_dir.join("dc1.rules.json"), &sw.rules_json).expect("write");
    std::fs::write(case_dir.join("dc1.p4info.txtpb"), &pipe.p4info).expect("write");
    let toml = case_dir.join("case.toml");
    let by_name = "example = \"single\"\nswitch = \"dc1-sw\"";
    let text = std::fs::read_to_string(&toml).expect("read");
    assert!(text.contains(by_name));
    let files = "json = \"dc1.json\"\nrules = \"dc1.rules.json\"\ncpu_port = 255";
    std::fs::write(&toml, text.replacen(by_name, files, 1)).expect("write");
    let d = dir.to_str().expect("utf-8");
    let (code, out) = fairshare_test(&[d]);
    assert_eq!(code, 0, "the files are the example's pipeline: {out}");
    let Some(b) = bmv2_or_skip(Target::Bmv2) else {
        return;
    };
    let fairshare_test = |args: &[&str]| fairshare_test_on(&b, args);
    let (code, out) = fairshare_test(&[d, "--target", "bmv2"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("skip ttl-expiry")
            && out.contains("a BMv2 JSON without a P4Info")
            && out.contains("0 passed, 0 failed, 1 skipped"),
        "{out}"
    );
    let with_p4info = files.to_string() + "\np4info = \"dc1.p4info.txtpb\"";
    std::fs::write(&toml, text.replacen(by_name, &with_p4info, 1)).expect("write");
    let (code, out) = fairshare_test(&[d, "--target", "bmv2"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("pass ttl-expiry") && out.contains("1 passed, 0 failed"),
        "{out}"
    );
}

/// `fairshare test` with `FAIRSHARE_BMV2` pointing at `b` (a scratch suite
/// has no ../shared/bmv2 beside it).
fn fairshare_test_on(b: &bmv2::Bmv2, args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_fairshare"))
        .arg("test")
        .args(args)
        .env("FAIRSHARE_BMV2", b.bin.parent().expect("bin/ has a parent"))
        .output()
        .expect("run fairshare");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn a_mismatch_on_simple_switch_grpc_fails_with_the_decoded_diff_unless_listed() {
    let Some(b) = bmv2_or_skip(Target::Bmv2) else {
        return;
    };
    // ttl-expiry now sends TTL 3 where its expected output was blessed for
    // TTL 2: simple_switch_grpc forwards it with TTL 2.
    let dir = scratch_suite("bmv2-mismatch", "ttl-expiry");
    let toml = dir.join("cases/ttl-expiry/case.toml");
    let text = std::fs::read_to_string(&toml).expect("read");
    std::fs::write(&toml, text.replacen("ttl = 2 }", "ttl = 3 }", 1)).expect("write");
    let d = dir.to_str().expect("utf-8");
    let (code, out) = fairshare_test_on(&b, &[d, "--target", "bmv2"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("FAIL ttl-expiry")
            && out.contains("port 1 (expected/1.pcap")
            && out.contains("ipv4.ttl: expected 1, got 2")
            && out.contains("0 passed, 1 failed"),
        "{out}"
    );
    // Listed as differing on BMv2, the same run does not fail.
    std::fs::write(
        dir.join("bmv2-differences.txt"),
        "# A case edited for this test.\nttl-expiry: its input was changed\n",
    )
    .expect("write");
    let (code, out) = fairshare_test_on(&b, &[d, "--target", "bmv2"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("diff ttl-expiry")
            && out.contains("expected on BMv2: its input was changed")
            && out.contains("0 passed, 0 failed, 1 differ on BMv2 as listed"),
        "{out}"
    );
}
