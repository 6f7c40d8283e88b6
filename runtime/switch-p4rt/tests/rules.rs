//! Every compiled example's rules files as P4Runtime updates against the
//! P4Info of their pipeline, and rules that do not fit it.

use std::path::Path;

use anyhow::{Context, Result};
use fairshare_p4rt::P4InfoIndex;
use fairshare_switch::rules::Rules;
use fairshare_switch_p4rt::{rules, Error};

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn index_of(example: &Path, pipeline: &str) -> Result<P4InfoIndex> {
    let path = example.join(format!("pipelines/{pipeline}/fairshare.p4info.txtpb"));
    let text = std::fs::read_to_string(&path).with_context(|| path.display().to_string())?;
    Ok(P4InfoIndex::new(fairshare_p4rt::text::parse_p4info(
        &text,
    )?)?)
}

#[test]
fn every_example_rules_file_converts_against_its_pipeline() -> Result<()> {
    let mut files = 0;
    for example in std::fs::read_dir(root().join("examples/expected"))? {
        let example = example?.path();
        let Ok(switches) = std::fs::read_dir(example.join("switches")) else {
            continue;
        };
        for f in switches {
            let path = f?.path();
            let text = std::fs::read_to_string(&path)?;
            let doc: serde_json::Value = serde_json::from_str(&text)?;
            let pipeline = doc["pipeline"].as_str().context("pipeline")?;
            let index = index_of(&example, pipeline)?;
            let rules = Rules::parse(&text)?;
            let updates =
                rules::updates(&index, &rules).with_context(|| path.display().to_string())?;
            assert_eq!(
                updates.len(),
                rules.table_entries.len() + rules.meter_configs.len(),
                "{}",
                path.display()
            );
            files += 1;
        }
    }
    assert!(
        files >= 2,
        "expected the examples' rules files, found {files}"
    );
    Ok(())
}

#[test]
fn rules_that_do_not_fit_the_p4info_are_errors() -> Result<()> {
    let index = index_of(&root().join("examples/expected/single"), "bmv2-cpu255")?;
    let bad = [
        r#"{"table_entries":[{"table":"Ingress.nope","match":{},"action":"Ingress.forward"}]}"#,
        r#"{"table_entries":[{"table":"Ingress.ipv4_lpm","match":{"hdr.ipv4.ttl":1},"action":"Ingress.forward","params":{"port":1,"src_mac":1,"dst_mac":1}}]}"#,
        r#"{"table_entries":[{"table":"Ingress.ipv4_lpm","match":{"hdr.ipv4.dst_addr":"10.0.0.0/x"},"action":"Ingress.forward","params":{"port":1,"src_mac":1,"dst_mac":1}}]}"#,
        r#"{"table_entries":[{"table":"Ingress.ipv4_lpm","match":{},"action":"Ingress.forward","params":{"port":1}}]}"#,
        r#"{"table_entries":[{"table":"Ingress.steer","match":{},"action":"Ingress.dnat","params":{"server":"10.0.0.1"},"priority":1}]}"#,
        r#"{"meter_configs":[{"meter":"Ingress.nope","index":0,"cir":1,"cburst":1,"pir":1,"pburst":1}]}"#,
    ];
    for text in bad {
        let rules = Rules::parse(text)?;
        assert!(
            matches!(rules::updates(&index, &rules), Err(Error::Rules { .. })),
            "{text}"
        );
    }
    Ok(())
}
