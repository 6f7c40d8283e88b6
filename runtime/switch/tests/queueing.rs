//! `queueing_metadata`, as the switch sets it for egress: a queue that a
//! copy leaves at the time it entered, with nothing waiting in it, and
//! `qid` the copy's priority, as `simple_switch` reports it.
//!
//! The program: `h` (a:32 b:8 c:8 d:8 e:8). Ingress sends to port 1,
//! writes 7 into `deq_timedelta` and `enq_qdepth` (the switch must set
//! them over that) and sets the priority from its parameter. Egress copies
//! what it sees into `h`: `a = enq_timestamp`, `b = enq_qdepth`, `c =
//! deq_timedelta`, `d = deq_qdepth`, `e = qid`.

use fairshare_switch::Switch;
use serde_json::{json, Value};

fn f(h: &str, n: &str) -> Value {
    json!({"type": "field", "value": [h, n]})
}
fn sm(n: &str) -> Value {
    f("standard_metadata", n)
}
fn hex(v: &str) -> Value {
    json!({"type": "hexstr", "value": v})
}
fn assign(dst: Value, src: Value) -> Value {
    json!({"op": "assign", "parameters": [dst, src]})
}

/// The program; `aliases` are the `queueing_metadata.*` names it has.
fn program(aliases: &[&str]) -> String {
    program_with(aliases, 32)
}

/// The same with `enq_timestamp` of `ts_bits` bits.
fn program_with(aliases: &[&str], ts_bits: u32) -> String {
    let mut field_aliases: Vec<Value> = aliases
        .iter()
        .map(|a| json!([format!("queueing_metadata.{a}"), ["standard_metadata", a]]))
        .collect();
    field_aliases.push(json!([
        "intrinsic_metadata.priority",
        ["standard_metadata", "priority"]
    ]));
    let keyless = |name: &str, id: u32, action: u32, action_name: &str, data: Value| {
        json!({"name": name, "id": id, "key": [], "match_type": "exact", "type": "simple",
            "max_size": 1, "with_counters": false, "support_timeout": false, "direct_meters": null,
            "action_ids": [action], "actions": [action_name], "base_default_next": null,
            "next_tables": {action_name: null},
            "default_entry": {"action_id": action, "action_const": false, "action_data": data,
                "action_entry_const": false}})
    };
    json!({
        "header_types": [
            {"name": "h_t", "id": 0, "fields": [["a", 32, false], ["b", 8, false], ["c", 8, false],
                ["d", 8, false], ["e", 8, false]]},
            {"name": "standard_metadata", "id": 1, "fields": [["ingress_port", 9, false],
                ["egress_spec", 9, false], ["egress_port", 9, false], ["instance_type", 32, false],
                ["packet_length", 32, false], ["enq_timestamp", ts_bits, false], ["enq_qdepth", 19, false],
                ["deq_timedelta", 32, false], ["deq_qdepth", 19, false], ["priority", 3, false],
                ["qid", 5, false]]}
        ],
        "headers": [
            {"name": "standard_metadata", "id": 0, "header_type": "standard_metadata", "metadata": true},
            {"name": "h", "id": 1, "header_type": "h_t", "metadata": false}
        ],
        "field_aliases": field_aliases,
        "errors": [["NoError", 0], ["PacketTooShort", 1]],
        "parsers": [{"name": "parser", "id": 0, "init_state": "start", "parse_states": [
            {"name": "start", "id": 0,
             "parser_ops": [{"op": "extract", "parameters": [{"type": "regular", "value": "h"}]}],
             "transition_key": [],
             "transitions": [{"type": "default", "value": null, "mask": null, "next_state": null}]}
        ]}],
        "deparsers": [{"name": "deparser", "id": 0, "order": ["h"]}],
        "actions": [
            {"name": "go", "id": 0, "runtime_data": [{"name": "prio", "bitwidth": 3}], "primitives": [
                assign(sm("egress_spec"), hex("0x1")),
                assign(sm("deq_timedelta"), hex("0x7")),
                assign(sm("enq_qdepth"), hex("0x7")),
                assign(sm("priority"), json!({"type": "runtime_data", "value": 0}))
            ]},
            {"name": "show", "id": 1, "runtime_data": [], "primitives": [
                assign(f("h", "a"), sm("enq_timestamp")),
                assign(f("h", "b"), sm("enq_qdepth")),
                assign(f("h", "c"), sm("deq_timedelta")),
                assign(f("h", "d"), sm("deq_qdepth")),
                assign(f("h", "e"), sm("qid"))
            ]}
        ],
        "pipelines": [
            {"name": "ingress", "id": 0, "init_table": "ti", "tables": [keyless("ti", 0, 0, "go", json!(["0x0"]))],
             "conditionals": []},
            {"name": "egress", "id": 1, "init_table": "te", "tables": [keyless("te", 1, 1, "show", json!([]))],
             "conditionals": []}
        ],
        "__meta__": {"version": [2, 23], "compiler": "test"}
    })
    .to_string()
}

const ALL: [&str; 5] = [
    "enq_timestamp",
    "enq_qdepth",
    "deq_timedelta",
    "deq_qdepth",
    "qid",
];

/// The packet egress sees, sent at `now_us` with priority `prio`.
fn run(sw: &mut Switch, prio: u128, now_us: u64) -> Vec<(u32, Vec<u8>)> {
    sw.set_default_action("ti", "go", &[prio]).expect("default");
    let mut out = vec![];
    sw.process(3, &[0xff; 9], now_us, &mut |p, b| out.push((p, b.to_vec())));
    out
}

/// `h` with those values, then the input's payload byte.
fn h(a: u32, b: u8, c: u8, d: u8, e: u8) -> Vec<u8> {
    let mut v = a.to_be_bytes().to_vec();
    v.extend_from_slice(&[b, c, d, e, 0xff]);
    v
}

#[test]
fn egress_sees_the_packets_time_an_empty_queue_and_its_queue_id() {
    let mut sw = Switch::load(&program(&ALL)).expect("loads");
    // The time is cut to the field's 32 bits; what ingress wrote into the
    // queueing fields is written over; one queue per port: queue 0.
    assert_eq!(
        run(&mut sw, 0, 0x1_2345_6789),
        vec![(1, h(0x2345_6789, 0, 0, 0, 0))]
    );
    // Four queues: `qid` is the priority, as simple_switch reports it.
    sw.set_priority_queues(4).expect("4 queues");
    assert_eq!(run(&mut sw, 1, 5), vec![(1, h(5, 0, 0, 0, 1))]);
    assert_eq!(run(&mut sw, 3, 6), vec![(1, h(6, 0, 0, 0, 3))]);
}

#[test]
fn a_standard_metadata_field_over_64_bits_holds_the_same_values() {
    // A 72-bit `enq_timestamp` takes the standard metadata off the
    // switch's slot layout (fields of 64 bits or fewer only): the values
    // are the same, written field by field.
    let mut sw = Switch::load(&program_with(&ALL, 72)).expect("loads");
    assert_eq!(
        run(&mut sw, 0, 0x1_2345_6789),
        vec![(1, h(0x2345_6789, 0, 0, 0, 0))]
    );
}

#[test]
fn without_qid_the_other_four_are_still_set() {
    let mut sw = Switch::load(&program(&ALL[..4])).expect("loads");
    assert_eq!(run(&mut sw, 0, 9), vec![(1, h(9, 0, 0, 0, 0))]);
}

#[test]
fn a_program_without_all_four_has_them_left_as_they_are() {
    // As simple_switch, which sets none of them then: ingress's 7s stay,
    // and the timestamp is 0 (metadata starts every packet at 0).
    let mut sw =
        Switch::load(&program(&["enq_timestamp", "enq_qdepth", "deq_timedelta"])).expect("loads");
    assert_eq!(run(&mut sw, 0, 9), vec![(1, h(0, 7, 7, 0, 0))]);
}
