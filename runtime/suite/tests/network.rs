//! Network cases without running a network: the order check on the
//! checked-in captures (and on the same frames out of order), and the
//! errors a bad network `case.toml` gives.

use fairshare_suite::network::{self, order_problems, NetworkCase};
use fairshare_suite::{pcap, Error};
use std::path::{Path, PathBuf};

fn suite() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bmv2-tests")
}

fn frames(case: &str, file: &str) -> Vec<pcap::Packet> {
    let path = suite().join("cases").join(case).join("expected").join(file);
    pcap::read(&std::fs::read(&path).expect("the expected capture")).expect("a pcap")
}

#[test]
fn the_release_runs_ahead_of_the_flow_path_and_a_swap_is_caught() {
    // offer, release, flow Path
    let f = frames("network-admit", "dc1-sw-3.pcap");
    assert_eq!(f.len(), 3);
    let o = order_problems(&f);
    assert_eq!((o.releases, o.grows), (1, 0), "{:?}", o.problems);
    assert!(o.problems.is_empty(), "{:?}", o.problems);

    let mut swapped = f.clone();
    swapped.swap(1, 2);
    let o = order_problems(&swapped);
    assert_eq!(o.releases, 0);
    assert!(
        o.problems.len() == 1
            && o.problems[0].contains("frame 2: the first Path of flow 192.0.2.110:20000"),
        "{:?}",
        o.problems
    );
    // The flow Path behind the offer (no release at all) is caught too.
    let without = vec![f[0].clone(), f[2].clone()];
    assert_eq!(order_problems(&without).problems.len(), 1);
}

#[test]
fn the_grown_aggregate_runs_ahead_of_the_path_tear_and_a_swap_is_caught() {
    let f = frames("network-teardown", "dc1-sw-3.pcap");
    let o = order_problems(&f);
    assert_eq!((o.releases, o.grows), (2, 1), "{:?}", o.problems);
    assert!(o.problems.is_empty(), "{:?}", o.problems);
    let n = f.len();
    let mut swapped = f.clone();
    swapped.swap(n - 2, n - 1);
    let o = order_problems(&swapped);
    assert_eq!(o.grows, 0);
    assert!(
        o.problems
            .iter()
            .any(|p| p.contains("PathTear of flow 192.0.2.110:20000")),
        "{:?}",
        o.problems
    );
}

#[test]
fn the_checked_in_cases_read_as_network_cases() {
    let dirs = fairshare_suite::discover(&suite(), Some("network-")).expect("cases");
    assert!(dirs.len() >= 4);
    for d in dirs {
        assert!(network::is_network(&d), "{}", d.display());
        let c = NetworkCase::read(&d, &suite()).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            c.description.contains("tshark"),
            "{}: say what was checked",
            c.name
        );
    }
    assert!(!network::is_network(&suite().join("cases/l3-forward")));
}

fn case_error(body: &str) -> String {
    let dir = std::env::temp_dir().join(format!("fairshare-suite-network-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::copy(
        suite().join("cases/network-offer/policy.fsp"),
        dir.join("policy.fsp"),
    )
    .expect("policy");
    std::fs::write(dir.join("case.toml"), body).expect("write");
    let e = NetworkCase::read(&dir, &suite()).expect_err("bad case");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(matches!(e, Error::BadCase { .. }), "{e}");
    e.to_string()
}

#[test]
fn a_bad_network_case_names_its_place() {
    let head = "description = \"x\"\n[network]\npolicy = \"policy.fsp\"\n";
    for (body, want) in [
        (
            format!("{head}[[timeline]]\nrequest = {{ edge = \"e2\", service = \"web\" }}\n"),
            "timeline[0]: expected an edge of the policy (e1), found `e2`",
        ),
        (
            format!("{head}[[timeline]]\nrequest = {{ edge = \"e1\", service = \"ftp\" }}\n"),
            "found `ftp`",
        ),
        (
            format!("{head}[[timeline]]\nend = 1\n"),
            "timeline[0]: `end` names a request by its number: expected 1 to 0, found 1",
        ),
        (
            format!("{head}[[timeline]]\nnote = \"nothing\"\n"),
            "expected exactly one of `request` and `end`",
        ),
        (
            format!("{head}[[timeline]]\nrequest = {{ edge = \"e1\", service = \"web\" }}\nsends = {{ \"dc1-sw\" = 1 }}\n"),
            "timeline[0].sends: expected `switch:port`",
        ),
        (
            format!("{head}[[timeline]]\nrequest = {{ edge = \"e1\", service = \"web\" }}\n[expect]\nflows = [\"admitted\", \"admitted\"]\n"),
            "expect.flows: expected one state per request (1), found 2",
        ),
        (
            "description = \"x\"\n[network]\n".to_string(),
            "expected exactly one of `policy` and `example`",
        ),
        (format!("{head}colour = 1\n"), "unknown field"),
    ] {
        let e = case_error(&body);
        assert!(e.contains(want), "expected `{want}` in: {e}");
    }
}
