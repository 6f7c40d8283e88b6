//! Loading: every fairshare pipeline loads; the p4c conformance corpus is
//! loaded and the refusals are listed with their reasons; bad JSON is
//! refused with a path.

use fairshare_switch::{Error, Switch};
use std::path::Path;

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

#[test]
fn every_fairshare_example_pipeline_loads() {
    let mut n = 0;
    for ex in ["single", "metro"] {
        let dir = root().join("examples/expected").join(ex).join("pipelines");
        for d in std::fs::read_dir(&dir).expect("pipelines folder") {
            let path = d.expect("entry").path().join("fairshare.json");
            let text = std::fs::read_to_string(&path).expect("json");
            if let Err(e) = Switch::load(&text) {
                panic!("{} is refused: {e}", path.display());
            }
            n += 1;
        }
    }
    assert!(n >= 3, "expected the example pipelines, found {n}");
}

#[test]
fn conformance_corpus_loads_or_is_refused_with_a_reason() {
    let cases = root().join("../shared/conformance/cases");
    let Ok(dirs) = std::fs::read_dir(&cases) else {
        eprintln!("skipped: no conformance corpus at {}", cases.display());
        return;
    };
    let mut names: Vec<_> = dirs
        .filter_map(|d| d.ok())
        .map(|d| d.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let (mut ok, mut refused) = (0, vec![]);
    for name in &names {
        let text = match std::fs::read_to_string(cases.join(name).join(format!("{name}.json"))) {
            Ok(t) => t,
            Err(_) => continue,
        };
        match Switch::load(&text) {
            Ok(_) => ok += 1,
            Err(e) => {
                assert!(
                    matches!(e, Error::Refused { .. } | Error::Json { .. }),
                    "{name}: {e}"
                );
                refused.push(format!("{name}: {e}"));
            }
        }
    }
    eprintln!(
        "conformance corpus: {ok} of {} load; refused:",
        ok + refused.len()
    );
    for r in &refused {
        eprintln!("  {r}");
    }
}

#[test]
fn refusals_name_the_json_path() {
    let base = include_str!("data/minimal.json");
    let bad_prim = base.replace("\"op\": \"assign\"", "\"op\": \"frobnicate\"");
    match Switch::load(&bad_prim) {
        Err(Error::Refused { path, reason }) => {
            assert!(path.starts_with("$.actions[0].primitives[0]"), "{path}");
            assert!(reason.contains("frobnicate"), "{reason}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let bad_field = base.replace(
        "\"egress_spec\"]}, {\"type\": \"runtime_data\"",
        "\"nope\"]}, {\"type\": \"runtime_data\"",
    );
    match Switch::load(&bad_field) {
        Err(Error::Refused { path, reason }) => {
            assert!(path.starts_with("$.actions[0].primitives[0]"), "{path}");
            assert!(reason.contains("no field `nope`"), "{reason}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let bad_type = base.replace("\"type\": \"runtime_data\"", "\"type\": \"quux\"");
    match Switch::load(&bad_type) {
        Err(Error::Json { path, .. }) => assert!(
            path.contains("actions[0].primitives[0].parameters[1]"),
            "{path}"
        ),
        other => panic!("expected a JSON error, got {other:?}"),
    }
    assert!(matches!(Switch::load("{"), Err(Error::Json { .. })));
    let next = base.replace("\"to_port\": null", "\"to_port\": \"missing\"");
    match Switch::load(&next) {
        Err(Error::Refused { path, reason }) => {
            assert!(path.contains("tables[0].next_tables"), "{path}");
            assert!(reason.contains("missing"), "{reason}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    // A table that leads back to itself: a walk through the control would
    // never end.
    let cycle = base.replace("\"to_port\": null", "\"to_port\": \"fwd\"");
    match Switch::load(&cycle) {
        Err(Error::Refused { path, reason }) => {
            assert_eq!(path, "$.pipelines[0].tables[0]");
            assert!(reason.contains("cycle through fwd"), "{reason}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// `minimal.json` with `n` more packet headers of one more header type
/// of `width` 8-bit fields.
fn with_headers(width: usize, n: usize) -> serde_json::Value {
    let mut doc: serde_json::Value =
        serde_json::from_str(include_str!("data/minimal.json")).expect("minimal.json");
    let fields: Vec<serde_json::Value> = (0..width)
        .map(|i| serde_json::json!([format!("f{i}"), 8, false]))
        .collect();
    doc["header_types"]
        .as_array_mut()
        .expect("header_types")
        .push(serde_json::json!({"name": "extra_t", "id": 1, "fields": fields}));
    let headers = doc["headers"].as_array_mut().expect("headers");
    for i in 0..n {
        headers.push(serde_json::json!({
            "name": format!("h{i}"), "id": i + 1, "header_type": "extra_t", "metadata": false
        }));
    }
    doc
}

/// The refusal `Switch::load` gives `doc`: its path and reason.
fn refusal(doc: &serde_json::Value) -> (String, String) {
    match Switch::load(&doc.to_string()) {
        Err(Error::Refused { path, reason }) => (path, reason),
        other => panic!("expected a refusal, got {:?}", other.map(|_| ())),
    }
}

/// A program with more fields than a header vector holds (65,536, all
/// header instances together) is refused at the header that goes over,
/// not run with fields mixed up.
#[test]
fn a_program_with_too_many_fields_is_refused() {
    // 300 headers of a 256-field type: 76,800 fields past the five of
    // standard_metadata; the 256th header is the first over.
    let mut doc = with_headers(256, 300);
    let (path, reason) = refusal(&doc);
    assert_eq!(path, "$.headers[256]", "{reason}");
    assert!(
        reason.contains("65541 fields") && reason.contains("at most 65536"),
        "{reason}"
    );
    // Just under the limit, it loads.
    doc["headers"]
        .as_array_mut()
        .expect("headers")
        .truncate(256);
    assert!(Switch::load(&doc.to_string()).is_ok());
}

/// The same for header instances: more than 65,536 (here of a type with
/// no fields, so that the fields stay few) is refused at the first one
/// over.
#[test]
fn a_program_with_too_many_headers_is_refused() {
    let (path, reason) = refusal(&with_headers(0, 65_536));
    assert_eq!(path, "$.headers[65536]", "{reason}");
    assert!(
        reason.contains("header number 65537") && reason.contains("at most 65536"),
        "{reason}"
    );
}
