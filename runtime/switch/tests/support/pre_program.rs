//! The program of the replication tests (`tests/replication.rs`, and
//! `tests/bmv2_replication.rs` which runs it on simple_switch too): see
//! `tests/replication.rs` for what it does.

use serde_json::{json, Value};

fn f(h: &str, n: &str) -> Value {
    json!({"type": "field", "value": [h, n]})
}
fn hex(v: &str) -> Value {
    json!({"type": "hexstr", "value": v})
}
fn param(i: u32) -> Value {
    json!({"type": "runtime_data", "value": i})
}
fn prim(op: &str, params: Vec<Value>) -> Value {
    json!({"op": op, "parameters": params})
}
fn assign(dst: Value, src: Value) -> Value {
    prim("assign", vec![dst, src])
}
fn sm(n: &str) -> Value {
    f("standard_metadata", n)
}

fn show() -> Vec<Value> {
    vec![
        assign(f("h", "b"), f("m", "x")),
        assign(f("h", "it"), sm("instance_type")),
        assign(f("h", "rid"), sm("egress_rid")),
        assign(f("h", "port"), sm("egress_port")),
        assign(
            f("h", "len"),
            top(ex("+", sm("packet_length"), sm("egress_spec"))),
        ),
    ]
}

/// An expression as an action parameter (wrapped once more, as p4c
/// writes it and simple_switch reads it).
fn top(e: Value) -> Value {
    json!({"type": "expression", "value": e})
}

fn ex(op: &str, l: Value, r: Value) -> Value {
    json!({"type": "expression", "value": {"op": op, "left": l, "right": r}})
}

/// The program; with `keyed`, tables `ti` and `te` match `h.b` exactly
/// (so that one run can hold several scenarios), else they have no key.
pub fn program(keyed: bool) -> String {
    let clone_i2e = |list: &str| {
        vec![
            assign(sm("egress_spec"), param(0)),
            assign(f("m", "x"), hex("0x11")),
            assign(f("m", "y"), hex("0x1")),
            assign(f("h", "a"), hex("0xaa")),
            prim("clone_ingress_pkt_to_egress", vec![param(1), hex(list)]),
        ]
    };
    let e2e = |drop: bool, list: &str| {
        let mut v = vec![
            assign(f("m", "y"), hex("0x1")),
            assign(f("m", "x"), hex("0x44")),
        ];
        v.extend(show());
        v.push(prim(
            "clone_egress_pkt_to_egress",
            vec![param(0), hex(list)],
        ));
        if drop {
            v.push(prim(
                "mark_to_drop",
                vec![json!({"type": "header", "value": "standard_metadata"})],
            ));
        }
        v
    };
    let mut recirc = vec![
        assign(f("m", "y"), hex("0x1")),
        assign(f("m", "x"), hex("0x55")),
    ];
    recirc.extend(show());
    let mut recirc_hdr = recirc.clone();
    recirc.push(prim("recirculate", vec![hex("0x1")]));
    recirc_hdr.insert(2, assign(f("h", "a"), hex("0xbb")));
    recirc_hdr.push(prim("recirculate", vec![hex("0x3")]));
    let mut recirc_prio = vec![assign(sm("priority"), param(0))];
    recirc_prio.extend(recirc[..recirc.len() - 1].iter().cloned());
    recirc_prio.push(prim("recirculate", vec![hex("0x4")]));
    // The same with the priority set first (parameter `at`).
    let with_prio = |at: u32, mut v: Vec<Value>| {
        v.insert(0, assign(sm("priority"), param(at)));
        v
    };
    // (name, parameter widths, primitives)
    let actions: Vec<(&str, Vec<u32>, Vec<Value>)> = vec![
        (
            "fwd",
            vec![9],
            vec![
                assign(sm("egress_spec"), param(0)),
                assign(f("m", "x"), hex("0x11")),
                assign(f("h", "a"), hex("0xaa")),
            ],
        ),
        ("i2e", vec![9, 32], clone_i2e("0x1")),
        ("i2e_reset", vec![9, 32], clone_i2e("0x2")),
        // A field list with a packet header's field, written in ingress.
        ("i2e_hdr", vec![9, 32], clone_i2e("0x3")),
        ("i2e_cut", vec![9, 32, 32], {
            let mut v = clone_i2e("0x1");
            v.push(prim("truncate", vec![param(2)]));
            v
        }),
        (
            "mcast",
            vec![16],
            vec![
                assign(sm("mcast_grp"), param(0)),
                assign(f("m", "x"), hex("0x11")),
                assign(f("h", "a"), hex("0xaa")),
            ],
        ),
        (
            "grow",
            vec![9],
            vec![
                prim("add_header", vec![json!({"type": "header", "value": "h2"})]),
                assign(sm("egress_spec"), param(0)),
            ],
        ),
        (
            "i2e_resub",
            vec![32],
            vec![
                assign(f("m", "x"), hex("0x33")),
                assign(f("m", "y"), hex("0x1")),
                prim("clone_ingress_pkt_to_egress", vec![param(0), hex("0x1")]),
                prim("resubmit", vec![hex("0x1")]),
            ],
        ),
        (
            "i2e_mcast",
            vec![16, 32],
            vec![
                assign(sm("mcast_grp"), param(0)),
                assign(f("m", "x"), hex("0x11")),
                assign(f("m", "y"), hex("0x1")),
                prim("clone_ingress_pkt_to_egress", vec![param(1), hex("0x2")]),
            ],
        ),
        (
            "resub_hdr",
            vec![],
            vec![
                assign(f("m", "x"), hex("0x33")),
                assign(f("m", "y"), hex("0x1")),
                assign(f("h", "a"), hex("0xaa")),
                prim("resubmit", vec![hex("0x3")]),
            ],
        ),
        (
            "resub",
            vec![],
            vec![
                assign(f("m", "x"), hex("0x33")),
                assign(f("m", "y"), hex("0x1")),
                assign(f("h", "a"), hex("0xaa")),
                prim("resubmit", vec![hex("0x1")]),
            ],
        ),
        (
            "note",
            vec![9],
            vec![
                assign(
                    f("h", "a"),
                    top(ex(
                        "+",
                        sm("instance_type"),
                        ex("<<", sm("ingress_port"), hex("0x4")),
                    )),
                ),
                assign(sm("egress_spec"), param(0)),
            ],
        ),
        (
            "drop",
            vec![],
            vec![prim(
                "mark_to_drop",
                vec![json!({"type": "header", "value": "standard_metadata"})],
            )],
        ),
        (
            "trunc",
            vec![9, 32],
            vec![
                assign(sm("egress_spec"), param(0)),
                prim("truncate", vec![param(1)]),
            ],
        ),
        ("show", vec![], show()),
        ("e2e", vec![32], e2e(false, "0x1")),
        ("e2e_drop", vec![32], e2e(true, "0x1")),
        ("recirc", vec![], recirc),
        ("recirc_hdr", vec![], recirc_hdr),
        // Priorities (the last parameter): a copy whose priority has no
        // queue is dropped when it would be queued for egress.
        (
            "prio",
            vec![9, 8],
            with_prio(
                1,
                vec![
                    assign(sm("egress_spec"), param(0)),
                    assign(f("m", "x"), hex("0x11")),
                    assign(f("h", "a"), hex("0xaa")),
                ],
            ),
        ),
        (
            "mcast_prio",
            vec![16, 8],
            with_prio(
                1,
                vec![
                    assign(sm("mcast_grp"), param(0)),
                    assign(f("m", "x"), hex("0x11")),
                    assign(f("h", "a"), hex("0xaa")),
                ],
            ),
        ),
        // An ingress clone whose field list leaves the priority out (the
        // clone starts at 0), and one whose list keeps it.
        ("i2e_prio", vec![9, 32, 8], with_prio(2, clone_i2e("0x1"))),
        (
            "i2e_prio_kept",
            vec![9, 32, 8],
            with_prio(2, clone_i2e("0x4")),
        ),
        (
            "resub_prio",
            vec![8],
            with_prio(
                0,
                vec![
                    assign(f("m", "x"), hex("0x33")),
                    assign(f("m", "y"), hex("0x1")),
                    prim("resubmit", vec![hex("0x4")]),
                ],
            ),
        ),
        // Egress: the priority of the packet in egress does not matter
        // any more, its egress clone's (kept by the field list) does.
        ("e2e_prio", vec![32, 8], with_prio(1, e2e(false, "0x4"))),
        ("recirc_prio", vec![8], recirc_prio),
    ];
    let ingress_actions = [
        "fwd",
        "i2e",
        "i2e_reset",
        "i2e_hdr",
        "i2e_cut",
        "grow",
        "i2e_resub",
        "i2e_mcast",
        "mcast",
        "resub",
        "resub_hdr",
        "note",
        "drop",
        "trunc",
        "prio",
        "mcast_prio",
        "i2e_prio",
        "i2e_prio_kept",
        "resub_prio",
    ];
    let egress_actions = [
        "show",
        "e2e",
        "e2e_drop",
        "recirc",
        "recirc_hdr",
        "e2e_prio",
        "recirc_prio",
    ];
    let actions_json: Vec<Value> = actions
        .iter()
        .enumerate()
        .map(|(i, (name, widths, prims))| {
            let rd: Vec<Value> = widths
                .iter()
                .enumerate()
                .map(|(k, w)| json!({"name": format!("p{k}"), "bitwidth": w}))
                .collect();
            json!({"name": name, "id": i, "runtime_data": rd, "primitives": prims})
        })
        .collect();
    let id_of = |n: &str| actions.iter().position(|a| a.0 == n).unwrap_or(0);
    let table = |name: &str, id: u32, names: &[&str], default: &str, data: Vec<&str>| {
        let next: serde_json::Map<String, Value> =
            names.iter().map(|n| (n.to_string(), Value::Null)).collect();
        let key = if keyed && (name == "ti" || name == "te") {
            json!([{"match_type": "exact", "name": "h.b", "target": ["h", "b"], "mask": null}])
        } else {
            json!([])
        };
        json!({"name": name, "id": id, "key": key, "match_type": "exact", "type": "simple",
            "max_size": 64, "with_counters": false, "support_timeout": false, "direct_meters": null,
            "action_ids": names.iter().map(|n| id_of(n)).collect::<Vec<_>>(), "actions": names,
            "base_default_next": null, "next_tables": next,
            "default_entry": {"action_id": id_of(default), "action_const": false,
                "action_data": data, "action_entry_const": false}})
    };
    let first_pass = json!({"type": "expression", "value":
        {"op": "==", "left": f("m", "y"), "right": hex("0x0")}});
    json!({
        "header_types": [
            {"name": "h_t", "id": 0, "fields": [["a", 8, false], ["b", 8, false], ["it", 8, false],
                ["rid", 16, false], ["port", 16, false], ["len", 16, false]]},
            {"name": "m_t", "id": 1, "fields": [["x", 8, false], ["y", 8, false]]},
            {"name": "standard_metadata", "id": 2, "fields": [["ingress_port", 9, false],
                ["egress_spec", 9, false], ["egress_port", 9, false], ["instance_type", 32, false],
                ["packet_length", 32, false], ["mcast_grp", 16, false], ["egress_rid", 16, false],
                ["checksum_error", 1, false], ["parser_error", 32, false], ["priority", 8, false],
                ["_padding", 4, false]]}
        ],
        "headers": [
            {"name": "standard_metadata", "id": 0, "header_type": "standard_metadata", "metadata": true},
            {"name": "m", "id": 1, "header_type": "m_t", "metadata": true},
            {"name": "h", "id": 2, "header_type": "h_t", "metadata": false},
            {"name": "h2", "id": 3, "header_type": "h_t", "metadata": false}
        ],
        // simple_switch reads these through `intrinsic_metadata`.
        "field_aliases": [
            ["intrinsic_metadata.mcast_grp", ["standard_metadata", "mcast_grp"]],
            ["intrinsic_metadata.egress_rid", ["standard_metadata", "egress_rid"]],
            ["intrinsic_metadata.priority", ["standard_metadata", "priority"]]
        ],
        "field_lists": [
            {"id": 1, "name": "fl1", "elements": [f("m", "x"), f("m", "y")]},
            {"id": 2, "name": "fl2", "elements": [f("m", "y")]},
            {"id": 3, "name": "fl3", "elements": [f("m", "x"), f("m", "y"), f("h", "a")]},
            {"id": 4, "name": "fl4", "elements": [f("m", "x"), f("m", "y"), sm("priority")]}
        ],
        "errors": [["NoError", 0], ["PacketTooShort", 1], ["NoMatch", 2], ["StackOutOfBounds", 3]],
        "parsers": [{"name": "parser", "id": 0, "init_state": "start", "parse_states": [
            {"name": "start", "id": 0,
             "parser_ops": [{"op": "extract", "parameters": [{"type": "regular", "value": "h"}]}],
             "transition_key": [],
             "transitions": [{"type": "default", "value": null, "mask": null, "next_state": null}]}
        ]}],
        "deparsers": [{"name": "deparser", "id": 0, "order": ["h", "h2"]}],
        "actions": actions_json,
        "pipelines": [
            {"name": "ingress", "id": 0, "init_table": "c_ing", "tables": [
                table("ti", 0, &ingress_actions, "fwd", vec!["0x1"]),
                table("ti2", 1, &ingress_actions, "note", vec!["0x1"]),
            ], "conditionals": [
                {"name": "c_ing", "id": 0, "expression": first_pass, "true_next": "ti", "false_next": "ti2"}
            ]},
            {"name": "egress", "id": 1, "init_table": "c_eg", "tables": [
                table("te", 2, &egress_actions, "show", vec![]),
                table("te2", 3, &egress_actions, "show", vec![]),
            ], "conditionals": [
                {"name": "c_eg", "id": 1, "expression": first_pass, "true_next": "te", "false_next": "te2"}
            ]}
        ],
        "__meta__": {"version": [2, 23], "compiler": "test"}
    })
    .to_string()
}
