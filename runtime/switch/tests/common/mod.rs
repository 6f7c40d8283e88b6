//! Frames and switches shared by the integration tests.
#![allow(dead_code)]

use fairshare_switch::{rules, Switch};
use std::path::Path;

pub use fairshare_packet::build::tcp_frame;

/// The single example's `dc1-sw`, its pipeline and its rules loaded.
pub fn single_dc_switch() -> Switch {
    let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
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
    let mut switch = Switch::load(&pipe.json).expect("the pipeline loads");
    let r = rules::Rules::parse(&sw.rules_json).expect("rules read");
    rules::apply(&mut switch, &r).expect("rules apply");
    switch
}
