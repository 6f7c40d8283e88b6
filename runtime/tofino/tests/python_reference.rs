//! Both packings compared byte for byte with independent references: the
//! BfPipelineConfig message encoded by Google's protobuf library for Python,
//! and the legacy form written with Python's `struct` as PI's packers do.
//!
//! The Python side is `tests/interop/reference_packings.py`. The interpreter
//! comes from `FAIRSHARE_PYTHON`, else `target/venv/bin/python` of the
//! workspace (any interpreter with the `protobuf` package will do; the venv
//! the P4Runtime interop tests use has it). Without it the test prints
//! `skipped: ...` unless `FAIRSHARE_REQUIRE_PEERS=1`.

// In a test, an unwrap that fails is the failure being reported.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use fairshare_tofino::{pack, unpack, Packing, Pipeline, TofinoBuild};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;

const WORKSPACE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/interop/reference_packings.py"
);

fn python() -> Option<PathBuf> {
    let path = std::env::var_os("FAIRSHARE_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(WORKSPACE).join("target/venv/bin/python"));
    let imports = Command::new(&path)
        .args(["-c", "import google.protobuf.descriptor_pool"])
        .stderr(Stdio::null())
        .status();
    matches!(imports, Ok(status) if status.success()).then_some(path)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

fn case_json(build: &TofinoBuild) -> String {
    let pipelines: Vec<_> = build
        .pipelines
        .iter()
        .map(|p| {
            serde_json::json!({
                "name": p.name,
                "pipe_scope": p.pipe_scope,
                "binary": hex(&p.binary),
                "context": hex(&p.context),
            })
        })
        .collect();
    serde_json::json!({
        "p4_name": build.p4_name,
        "bfrt": hex(build.bfrt_info.as_deref().unwrap()),
        "pipelines": pipelines,
    })
    .to_string()
}

fn builds() -> Vec<TofinoBuild> {
    // Fixed cases for multi-byte lengths and varints and a non-ASCII name.
    let mut builds = vec![
        TofinoBuild {
            p4_name: "fairshare_tnä".into(),
            bfrt_info: Some(vec![b'{'; 200]),
            pipelines: vec![Pipeline {
                name: "pipe".into(),
                pipe_scope: vec![0, 1, 2, 3, 300, u32::MAX],
                binary: (0..=255).cycle().take(70_000).collect(),
                context: vec![b'c'; 129],
            }],
        },
        TofinoBuild {
            p4_name: "two".into(),
            bfrt_info: Some(b"{}".to_vec()),
            pipelines: vec![
                Pipeline {
                    name: "a".into(),
                    pipe_scope: vec![],
                    binary: vec![0],
                    context: b"{}".to_vec(),
                },
                Pipeline {
                    name: "b".into(),
                    pipe_scope: vec![1, 3],
                    binary: vec![0xff; 3],
                    context: b"[]".to_vec(),
                },
            ],
        },
    ];
    // And generated ones, the same on every run.
    let pipeline = (
        "[a-z_0-9]{1,10}",
        proptest::collection::vec(proptest::num::u32::ANY, 0..5),
        proptest::collection::vec(proptest::num::u8::ANY, 1..300),
        proptest::collection::vec(proptest::num::u8::ANY, 1..300),
    )
        .prop_map(|(name, pipe_scope, binary, context)| Pipeline {
            name,
            pipe_scope,
            binary,
            context,
        });
    let build = (
        "[a-zA-Z_0-9]{1,20}",
        proptest::collection::vec(proptest::num::u8::ANY, 1..300),
        proptest::collection::vec(pipeline, 1..3),
    )
        .prop_map(|(p4_name, bfrt, pipelines)| TofinoBuild {
            p4_name,
            bfrt_info: Some(bfrt),
            pipelines,
        });
    let mut runner = TestRunner::deterministic();
    for _ in 0..64 {
        builds.push(build.new_tree(&mut runner).unwrap().current());
    }
    builds
}

#[test]
fn packings_equal_the_python_references() {
    let Some(python) = python() else {
        let reason =
            "no Python with the protobuf package (set FAIRSHARE_PYTHON or create target/venv)";
        if std::env::var("FAIRSHARE_REQUIRE_PEERS").as_deref() == Ok("1") {
            panic!("{reason}");
        }
        println!("skipped: {reason}");
        return;
    };
    let builds = builds();
    let mut child = Command::new(python)
        .arg(SCRIPT)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Written from a thread: the answers are read while the cases are still
    // going in, so neither side waits on a full pipe.
    let input: String = builds.iter().map(|b| case_json(b) + "\n").collect();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let lines: Vec<String> = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .collect::<Result<_, _>>()
        .unwrap();
    writer.join().unwrap().unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(lines.len(), builds.len());
    let mut legacy_cases = 0;
    for (build, line) in builds.iter().zip(&lines) {
        let theirs: serde_json::Value = serde_json::from_str(line).unwrap();
        let bfrt = from_hex(theirs["bfrt"].as_str().unwrap());
        assert_eq!(
            pack(build, Packing::Bfrt).unwrap(),
            bfrt,
            "{}",
            build.p4_name
        );
        assert_eq!(&unpack(&bfrt, Packing::Bfrt).unwrap(), build);
        match theirs["legacy"].as_str() {
            Some(legacy) => {
                legacy_cases += 1;
                let legacy = from_hex(legacy);
                assert_eq!(pack(build, Packing::Legacy).unwrap(), legacy);
                let back = unpack(&legacy, Packing::Legacy).unwrap();
                assert_eq!(back.p4_name, build.p4_name);
                assert_eq!(back.pipelines[0].binary, build.pipelines[0].binary);
                assert_eq!(back.pipelines[0].context, build.pipelines[0].context);
            }
            None => assert!(pack(build, Packing::Legacy).is_err()),
        }
    }
    // Both forms were compared, not only the protobuf one.
    assert!(legacy_cases >= 10, "{legacy_cases} legacy cases");
}
