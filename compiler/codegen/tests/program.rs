//! The fairshare program renders consistently in every form.

use fairshare_codegen::pipeline::{build, PipelineParams};
use fairshare_codegen::{bmv2, render_program};
use fairshare_policy::model::Sizes;

fn params() -> PipelineParams {
    PipelineParams::new(255, &Sizes { flows: 4096, routes: 1024, steer: 1024 })
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
