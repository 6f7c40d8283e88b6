//! The fairshare program renders consistently in every form.

use fairshare_codegen::pipeline::{build, PipelineParams};
use fairshare_codegen::{bmv2, render_program};
use fairshare_policy::model::Sizes;

fn params() -> PipelineParams {
    PipelineParams::new(
        255,
        &Sizes {
            flows: 4096,
            routes: 1024,
            steer: 1024,
        },
    )
}

#[test]
fn json_round_trips_and_checks() {
    let prog = build(&params());
    let (_p4, json, _p4info) = render_program(&prog, "test").expect("renders");
    let doc = bmv2::check_text(&json).expect("checks");
    assert_eq!(bmv2::to_text(&doc).expect("serialises"), json);
    if let Ok(dir) = std::env::var("FAIRSHARE_DUMP") {
        let (p4, json, p4info) = render_program(&prog, "test").expect("renders");
        std::fs::write(format!("{dir}/fairshare.json"), json).expect("write");
        std::fs::write(format!("{dir}/fairshare.p4"), p4).expect("write");
        std::fs::write(format!("{dir}/fairshare.p4info.txtpb"), p4info).expect("write");
    }
}

/// The checker is not a rubber stamp: each kind of broken reference is caught
/// and named by its place in the document.
#[test]
fn the_checker_catches_broken_references() {
    let prog = build(&params());
    let good = bmv2::lower(&prog, "t");
    bmv2::check(&good).expect("the real document checks");

    let mut d = good.clone();
    d.actions[1].primitives[0].parameters = vec![bmv2::json::Operand::Field {
        value: ("ipv4".into(), "nope".into()),
    }];
    let e = bmv2::check(&d).expect_err("unknown field");
    assert!(
        e.place.starts_with("$.actions[1]") && e.problem.contains("nope"),
        "{e}"
    );

    let mut d = good.clone();
    d.pipelines[0].tables[0]
        .next_tables
        .insert("__HIT__".into(), Some("missing_node".into()));
    let e = bmv2::check(&d).expect_err("dangling next node");
    assert!(e.problem.contains("missing_node"), "{e}");

    let mut d = good.clone();
    let t = d.pipelines[0]
        .tables
        .iter_mut()
        .find(|t| t.name == "Ingress.flows")
        .expect("flows");
    t.direct_meters = Some("Ingress.route_meter".into());
    let e = bmv2::check(&d).expect_err("indirect meter used as direct");
    assert!(e.problem.contains("route_meter"), "{e}");

    let mut d = good.clone();
    d.header_types[2].fields.pop();
    assert!(
        bmv2::check(&d).is_err(),
        "a header type that is not whole bytes"
    );

    let mut d = good;
    let a = d
        .actions
        .iter_mut()
        .find(|a| a.name == "Ingress.forward")
        .expect("forward");
    a.runtime_data[0].bitwidth = 16;
    let e = bmv2::check(&d).expect_err("assignment width mismatch");
    assert!(e.problem.contains("egress_spec"), "{e}");
}

#[test]
fn invalid_json_is_refused_with_a_place() {
    let e = bmv2::check_text("{\"header_types\": 3}").expect_err("not a document");
    assert!(e.place.starts_with("line 1"), "{e}");
}

#[test]
fn the_ir_validator_rejects_inconsistent_programs() {
    let good = build(&params());
    let mut p = good.clone();
    p.ingress.push(fairshare_codegen::ir::Stmt::Apply(
        fairshare_codegen::ir::TableId(0),
    ));
    assert!(p.validate().is_err(), "a table applied twice");
    let mut p = good.clone();
    p.tables[0].default_action.1.push(1);
    assert!(
        p.validate().is_err(),
        "default action with too many arguments"
    );
    let mut p = good;
    p.header_types[2].fields[0].width = 47;
    assert!(p.validate().is_err(), "a header that is not whole bytes");
}
