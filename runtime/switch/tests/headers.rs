//! Header unions and union stacks, variable-length fields, headers chosen
//! at run time (stack elements at a computed index) and `local` operands:
//! small hand-written BMv2 JSON programs, one keyless table `t` whose
//! default action each test sets, and the bytes that come out.
//!
//! The programs are valid BMv2 JSON; the same programs and packets were run
//! on real `simple_switch` (BMv2 1.15.5, `../shared/bmv2`) and gave the
//! bytes and ports expected here, except where noted: indices out of range
//! (simple_switch stops) and the refusals.

use fairshare_switch::{Error, Switch};
use serde_json::{json, Value};

fn f(h: &str, n: &str) -> Value {
    json!({"type": "field", "value": [h, n]})
}
fn hex(v: &str) -> Value {
    json!({"type": "hexstr", "value": v})
}
fn hdr(h: &str) -> Value {
    json!({"type": "header", "value": h})
}
fn ex(op: &str, l: Value, r: Value) -> Value {
    json!({"type": "expression", "value": {"op": op, "left": l, "right": r}})
}
fn un(op: &str, r: Value) -> Value {
    json!({"type": "expression", "value": {"op": op, "left": null, "right": r}})
}
fn cond(c: Value, a: Value, b: Value) -> Value {
    json!({"type": "expression", "value": {"op": "?", "left": a, "right": b, "cond": c}})
}
/// `stack[index]`.
fn deref(stack: &str, index: Value) -> Value {
    ex(
        "dereference_header_stack",
        json!({"type": "header_stack", "value": stack}),
        index,
    )
}
/// Field number `n` of a header expression.
fn field_of(h: Value, n: u32) -> Value {
    ex("access_field", h, json!(n))
}
/// A primitive call. An expression parameter is wrapped once more, as
/// BMv2 reads primitive parameters (and p4c writes them).
fn prim(op: &str, params: Vec<Value>) -> Value {
    let params: Vec<Value> = params
        .into_iter()
        .map(|p| {
            if p["type"] == "expression" && p["value"].get("op").is_some() {
                json!({"type": "expression", "value": p})
            } else {
                p
            }
        })
        .collect();
    json!({"op": op, "parameters": params})
}
fn assign(dst: Value, src: Value) -> Value {
    prim("assign", vec![dst, src])
}
fn extract(h: &str) -> Value {
    json!({"op": "extract", "parameters": [{"type": "regular", "value": h}]})
}
fn state(name: &str, ops: Vec<Value>, key: Vec<Value>, transitions: Vec<Value>) -> Value {
    json!({"name": name, "id": 0, "parser_ops": ops, "transition_key": key, "transitions": transitions})
}
fn to(value: &str, next: Option<&str>) -> Value {
    json!({"type": "hexstr", "value": value, "mask": null, "next_state": next})
}
fn default(next: Option<&str>) -> Value {
    json!({"type": "default", "value": null, "mask": null, "next_state": next})
}

/// The parts of a test program; the rest (standard metadata, scalars, the
/// table, the pipelines) is filled in by [`Prog::json`].
#[derive(Default)]
struct Prog {
    header_types: Vec<Value>,
    headers: Vec<(&'static str, &'static str)>,
    header_stacks: Vec<Value>,
    union_types: Vec<Value>,
    unions: Vec<Value>,
    union_stacks: Vec<Value>,
    states: Vec<Value>,
    order: Vec<&'static str>,
    /// `(name, parameter widths, primitives)`; the first is the default.
    actions: Vec<(&'static str, Vec<u32>, Vec<Value>)>,
    calculations: Vec<Value>,
    checksums: Vec<Value>,
    /// The egress pipeline (empty if none).
    egress: Option<Value>,
}

impl Prog {
    fn json(&self) -> String {
        let mut types = vec![
            json!({"name": "standard_metadata", "id": 0, "fields": [
                ["ingress_port", 9, false], ["egress_spec", 9, false], ["egress_port", 9, false],
                ["instance_type", 32, false], ["packet_length", 32, false], ["mcast_grp", 16, false],
                ["parser_error", 32, false], ["checksum_error", 1, false], ["_padding", 4, false]]}),
            json!({"name": "scalars_t", "id": 1, "fields": [["l", 8, false], ["n", 8, false]]}),
        ];
        types.extend(self.header_types.iter().cloned());
        let mut headers = vec![
            json!({"name": "standard_metadata", "id": 0, "header_type": "standard_metadata", "metadata": true}),
            json!({"name": "scalars", "id": 1, "header_type": "scalars_t", "metadata": true}),
        ];
        for (i, (name, t)) in self.headers.iter().enumerate() {
            headers.push(json!({"name": name, "id": i + 2, "header_type": t, "metadata": false}));
        }
        let mut states = self.states.clone();
        for (i, s) in states.iter_mut().enumerate() {
            s["id"] = json!(i);
        }
        let actions: Vec<Value> = self
            .actions
            .iter()
            .enumerate()
            .map(|(i, (name, params, prims))| {
                let rd: Vec<Value> = params
                    .iter()
                    .enumerate()
                    .map(|(k, w)| json!({"name": format!("p{k}"), "bitwidth": w}))
                    .collect();
                json!({"name": name, "id": i, "runtime_data": rd, "primitives": prims})
            })
            .collect();
        let names: Vec<&str> = self.actions.iter().map(|a| a.0).collect();
        let next: serde_json::Map<String, Value> =
            names.iter().map(|n| (n.to_string(), Value::Null)).collect();
        json!({
            "header_types": types,
            "headers": headers,
            "header_stacks": self.header_stacks,
            "header_union_types": self.union_types,
            "header_unions": self.unions,
            "header_union_stacks": self.union_stacks,
            "errors": [["NoError", 0], ["PacketTooShort", 1], ["NoMatch", 2], ["StackOutOfBounds", 3],
                       ["HeaderTooShort", 4], ["ParserTimeout", 5], ["ParserInvalidArgument", 6]],
            "parsers": [{"name": "parser", "id": 0, "init_state": "start", "parse_states": states}],
            "deparsers": [{"name": "deparser", "id": 0, "order": self.order}],
            "calculations": self.calculations,
            "checksums": self.checksums,
            "actions": actions,
            "pipelines": [
                {"name": "ingress", "id": 0, "init_table": "t", "tables": [{
                    "name": "t", "id": 0, "key": [], "match_type": "exact", "type": "simple",
                    "max_size": 1, "with_counters": false, "support_timeout": false,
                    "direct_meters": null, "action_ids": (0..names.len()).collect::<Vec<_>>(),
                    "actions": names, "base_default_next": null, "next_tables": next,
                    "default_entry": {"action_id": 0, "action_const": false, "action_data": [],
                                      "action_entry_const": false}}],
                 "conditionals": []},
                self.egress.clone().unwrap_or(json!(
                    {"name": "egress", "id": 1, "init_table": null, "tables": [], "conditionals": []}))
            ],
            "__meta__": {"version": [2, 23], "compiler": "hand"}
        })
        .to_string()
    }

    fn load(&self) -> Switch {
        match Switch::load(&self.json()) {
            Ok(sw) => sw,
            Err(e) => panic!("the test program does not load: {e}"),
        }
    }
}

/// Runs one packet with `action` (and its parameters) as the table's
/// default; returns the packets sent as `(port, bytes)`.
fn run(sw: &mut Switch, action: &str, params: &[u128], packet: &[u8]) -> Vec<(u32, Vec<u8>)> {
    sw.set_default_action("t", action, params)
        .expect("the action is in the table");
    let mut out = vec![];
    sw.process(1, packet, 0, &mut |p, b| out.push((p, b.to_vec())));
    out
}

/// One packet out on port 0: its bytes.
fn bytes(sw: &mut Switch, action: &str, packet: &[u8]) -> Vec<u8> {
    let mut out = run(sw, action, &[], packet);
    assert_eq!(out.len(), 1, "one packet out: {out:02x?}");
    let (port, b) = out.remove(0);
    assert_eq!(port, 0);
    b
}

// ---- Header unions ----

/// `base` (t:8), then union `u` of `byte` (8 bits) and `short` (16 bits)
/// chosen by `base.t` (0: byte, 1: short, 2: byte then short, else none);
/// a second union `v` of the same type, emitted after `u`.
fn union_prog() -> Prog {
    Prog {
        header_types: vec![
            json!({"name": "S", "id": 2, "fields": [["t", 8, false]]}),
            json!({"name": "O1", "id": 3, "fields": [["data", 8, false]]}),
            json!({"name": "O2", "id": 4, "fields": [["data", 16, false]]}),
        ],
        headers: vec![
            ("base", "S"),
            ("u.byte", "O1"),
            ("u.short", "O2"),
            ("v.byte", "O1"),
            ("v.short", "O2"),
        ],
        union_types: vec![
            json!({"name": "U", "id": 0, "headers": [["byte", "O1"], ["short", "O2"]]}),
        ],
        unions: vec![
            json!({"name": "u", "id": 0, "union_type": "U", "header_ids": [3, 4]}),
            json!({"name": "v", "id": 1, "union_type": "U", "header_ids": [5, 6]}),
        ],
        states: vec![
            state(
                "start",
                vec![extract("base")],
                vec![f("base", "t")],
                vec![
                    to("0x00", Some("byte")),
                    to("0x01", Some("short")),
                    to("0x02", Some("both")),
                    default(None),
                ],
            ),
            state("byte", vec![extract("u.byte")], vec![], vec![default(None)]),
            state(
                "short",
                vec![extract("u.short")],
                vec![],
                vec![default(None)],
            ),
            state(
                "both",
                vec![extract("u.byte"), extract("u.short")],
                vec![],
                vec![default(None)],
            ),
        ],
        order: vec!["base", "u.byte", "u.short", "v.byte", "v.short"],
        actions: vec![
            ("pass", vec![], vec![]),
            (
                "set_byte",
                vec![],
                vec![
                    prim("add_header", vec![hdr("u.byte")]),
                    assign(f("u.byte", "data"), hex("0x55")),
                ],
            ),
            (
                "valid_to_port",
                vec![],
                vec![assign(
                    f("standard_metadata", "egress_spec"),
                    ex(
                        "+",
                        un(
                            "b2d",
                            un("valid_union", json!({"type": "header_union", "value": "u"})),
                        ),
                        hex("0x1"),
                    ),
                )],
            ),
            (
                "copy_union",
                vec![],
                vec![prim(
                    "assign_union",
                    vec![
                        json!({"type": "header_union", "value": "v"}),
                        json!({"type": "header_union", "value": "u"}),
                    ],
                )],
            ),
        ],
        ..Prog::default()
    }
}

#[test]
fn extracting_a_union_member_makes_the_other_invalid() {
    let mut sw = union_prog().load();
    // Both members extracted: only the last one stays valid and is emitted;
    // the byte the first took is gone from the packet.
    assert_eq!(
        bytes(&mut sw, "pass", &[2, 0xaa, 0x12, 0x34, 0x99]),
        [2, 0x12, 0x34, 0x99]
    );
    assert_eq!(bytes(&mut sw, "pass", &[0, 0xaa, 0x99]), [0, 0xaa, 0x99]);
}

#[test]
fn set_valid_on_a_union_member_makes_the_other_invalid() {
    let mut sw = union_prog().load();
    // `short` was parsed; setting `byte` valid drops `short` from the output.
    assert_eq!(
        bytes(&mut sw, "set_byte", &[1, 0x12, 0x34, 0x99]),
        [1, 0x55, 0x99]
    );
}

#[test]
fn valid_union_is_true_when_a_member_is_valid() {
    let mut sw = union_prog().load();
    assert_eq!(run(&mut sw, "valid_to_port", &[], &[1, 0x12, 0x34])[0].0, 2);
    assert_eq!(run(&mut sw, "valid_to_port", &[], &[0, 0x12])[0].0, 2);
    assert_eq!(run(&mut sw, "valid_to_port", &[], &[9, 0x12])[0].0, 1);
}

#[test]
fn assign_union_copies_the_valid_member() {
    // simple_switch gives these bytes once the program computes on the
    // members' `data` somewhere; without such a use (as here) it copies 0,
    // since it keeps the numeric value of a field only when an expression
    // uses it. This switch copies the value either way.
    let mut sw = union_prog().load();
    assert_eq!(
        bytes(&mut sw, "copy_union", &[1, 0x12, 0x34, 0x99]),
        [1, 0x12, 0x34, 0x12, 0x34, 0x99]
    );
    // From a union with no valid member: the copy has none either.
    assert_eq!(bytes(&mut sw, "copy_union", &[9, 0x12]), [9, 0x12]);
}

/// `base`, then a stack `us` of two unions of `byte`/`short`: `byte` is
/// extracted into the next union; when its data is 1, `short` into the
/// one after.
fn union_stack_prog() -> Prog {
    let mut p = union_prog();
    p.headers = vec![
        ("base", "S"),
        ("us[0].byte", "O1"),
        ("us[0].short", "O2"),
        ("us[1].byte", "O1"),
        ("us[1].short", "O2"),
    ];
    p.unions = vec![
        json!({"name": "us[0]", "id": 0, "union_type": "U", "header_ids": [3, 4]}),
        json!({"name": "us[1]", "id": 1, "union_type": "U", "header_ids": [5, 6]}),
    ];
    p.union_stacks = vec![json!({"name": "us", "id": 0, "union_type": "U", "size": 2,
                                 "header_union_ids": [0, 1]})];
    let next = |m: &str| json!({"op": "extract", "parameters": [{"type": "union_stack", "value": ["us", m]}]});
    p.states = vec![
        state(
            "start",
            vec![extract("base"), next("byte")],
            vec![json!({"type": "union_stack_field", "value": ["us", "byte", "data"]})],
            vec![to("0x01", Some("second")), default(None)],
        ),
        state("second", vec![next("short")], vec![], vec![default(None)]),
    ];
    p.order = vec![
        "base",
        "us[0].byte",
        "us[0].short",
        "us[1].byte",
        "us[1].short",
    ];
    p.actions = vec![
        ("pass", vec![], vec![]),
        (
            "write_second",
            vec![],
            vec![assign(f("us[1].short", "data"), hex("0x1111"))],
        ),
        (
            "push",
            vec![],
            vec![prim(
                "push",
                vec![
                    json!({"type": "header_union_stack", "value": "us"}),
                    hex("0x1"),
                ],
            )],
        ),
        (
            "pop",
            vec![],
            vec![prim(
                "pop",
                vec![
                    json!({"type": "header_union_stack", "value": "us"}),
                    hex("0x1"),
                ],
            )],
        ),
    ];
    p
}

#[test]
fn union_stacks_extract_select_and_push() {
    let mut sw = union_stack_prog().load();
    assert_eq!(
        bytes(&mut sw, "write_second", &[0, 1, 0xbe, 0xef]),
        [0, 1, 0x11, 0x11]
    );
    // The select did not take the second element: it is not valid, so the
    // write to it is not emitted and the bytes stay payload.
    assert_eq!(
        bytes(&mut sw, "write_second", &[0, 7, 0xbe, 0xef]),
        [0, 7, 0xbe, 0xef]
    );
    // Push swaps the unions along the stack, as BMv2 does, and BMv2 does not
    // invalidate the union that lands in us[0]: the stack rotates (real
    // simple_switch gives these bytes).
    assert_eq!(
        bytes(&mut sw, "push", &[0, 1, 0xbe, 0xef]),
        [0, 0xbe, 0xef, 1]
    );
    assert_eq!(
        bytes(&mut sw, "pop", &[0, 1, 0xbe, 0xef]),
        [0, 0xbe, 0xef, 1]
    );
    // With one element extracted, the rotation brings the empty us[1] to
    // the front.
    assert_eq!(
        bytes(&mut sw, "push", &[0, 7, 0xbe, 0xef]),
        [0, 7, 0xbe, 0xef]
    );
}

// ---- Variable-length fields ----

/// `v` of type `V` = len:8, opt:varbit (max 4 bytes), tail:8, ck:16; the
/// length of `opt` in bits is `scalars.l`, read ahead from the first byte.
/// A second header `w` of the same type follows, with its own length.
/// `v.ck` is updated with the csum16 of len, opt and tail.
fn varbit_prog() -> Prog {
    let len_then = |h: &str| {
        vec![
            json!({"op": "set", "parameters": [f("scalars", "l"), {"type": "lookahead", "value": [0, 8]}]}),
            json!({"op": "extract_VL", "parameters": [
                {"type": "regular", "value": h},
                {"type": "expression", "value": f("scalars", "l")}]}),
        ]
    };
    let mut both = len_then("v");
    both.extend(len_then("w"));
    Prog {
        header_types: vec![json!({"name": "V", "id": 2, "max_length": 8,
            "fields": [["len", 8, false], ["opt", "*"], ["tail", 8, false], ["ck", 16, false]]})],
        headers: vec![("v", "V"), ("w", "V")],
        states: vec![
            state(
                "start",
                vec![],
                vec![json!({"type": "lookahead", "value": [0, 8]})],
                vec![to("0xff", Some("skip")), default(Some("one"))],
            ),
            // 0xff first: skip it, then two headers.
            state(
                "skip",
                vec![json!({"op": "advance", "parameters": [hex("0x8")]})],
                vec![],
                vec![default(Some("two"))],
            ),
            state("one", len_then("v"), vec![], vec![default(None)]),
            state("two", both, vec![], vec![default(None)]),
        ],
        order: vec!["v", "w"],
        actions: vec![
            ("pass", vec![], vec![]),
            (
                "inc_tail",
                vec![],
                vec![assign(
                    f("v", "tail"),
                    ex("&", ex("+", f("v", "tail"), hex("0x1")), hex("0xff")),
                )],
            ),
            (
                "err_port",
                vec![],
                vec![assign(
                    f("standard_metadata", "egress_spec"),
                    ex("+", f("standard_metadata", "parser_error"), hex("0xa")),
                )],
            ),
            (
                "cmp",
                vec![],
                vec![assign(
                    f("standard_metadata", "egress_spec"),
                    ex(
                        "+",
                        un("b2d", ex("==", f("v", "opt"), f("w", "opt"))),
                        hex("0x1"),
                    ),
                )],
            ),
            (
                "copy_vw",
                vec![],
                vec![
                    prim("assign_header", vec![hdr("w"), hdr("v")]),
                    assign(f("w", "tail"), hex("0x42")),
                ],
            ),
            (
                "hash_opt",
                vec![],
                vec![prim(
                    "modify_field_with_hash_based_offset",
                    vec![
                        f("v", "tail"),
                        hex("0x0"),
                        json!({"type": "calculation", "value": "h"}),
                        hex("0x100"),
                    ],
                )],
            ),
            (
                "assign_vl",
                vec![],
                vec![prim("assign_VL", vec![f("w", "opt"), f("v", "opt")])],
            ),
        ],
        calculations: vec![
            json!({"name": "c", "id": 0, "algo": "csum16",
            "input": [f("v", "len"), f("v", "opt"), f("v", "tail")]}),
            json!({"name": "h", "id": 1, "algo": "identity", "input": [f("v", "opt")]}),
        ],
        checksums: vec![
            json!({"name": "k", "id": 0, "target": ["v", "ck"], "type": "generic",
            "calculation": "c", "verify": false, "update": true, "if_cond": null}),
        ],
        ..Prog::default()
    }
}

/// The Internet checksum of bytes (an odd last byte is the high half of
/// its word).
fn csum(data: &[u8]) -> [u8; 2] {
    let mut s: u32 = data
        .chunks(2)
        .map(|c| u32::from(c[0]) << 8 | u32::from(*c.get(1).unwrap_or(&0)))
        .sum();
    while s >> 16 != 0 {
        s = (s & 0xffff) + (s >> 16);
    }
    (!(s as u16)).to_be_bytes()
}

/// `v` with its checksum filled in: len, opt, tail, ck.
fn v_bytes(opt: &[u8], tail: u8) -> Vec<u8> {
    let mut b = vec![(opt.len() * 8) as u8];
    b.extend_from_slice(opt);
    b.push(tail);
    let ck = csum(&b);
    b.extend_from_slice(&ck);
    b
}

#[test]
fn varbit_fields_are_extracted_and_emitted_at_their_length() {
    let mut sw = varbit_prog().load();
    for opt in [&[][..], &[0xa][..], &[0xa, 0xb, 0xc][..], &[1, 2, 3, 4][..]] {
        let mut pkt = vec![(opt.len() * 8) as u8];
        pkt.extend_from_slice(opt);
        pkt.extend_from_slice(&[0x77, 0, 0, 0x99]);
        // The field after the varbit is read and written where this
        // packet has it; the checksum covers the varbit's bytes.
        let mut want = v_bytes(opt, 0x78);
        want.push(0x99);
        assert_eq!(bytes(&mut sw, "inc_tail", &pkt), want, "opt {opt:02x?}");
    }
    assert_eq!(sw.stats().parser_errors, 0);
}

#[test]
fn varbit_fields_enter_hashes_at_their_length() {
    let mut sw = varbit_prog().load();
    // The identity hash of `opt` alone, modulo 256: its last byte (0 when
    // it is empty), whatever its length.
    for (opt, tail) in [(&[][..], 0), (&[0xa][..], 0xa), (&[1, 2, 3][..], 3)] {
        let mut pkt = vec![(opt.len() * 8) as u8];
        pkt.extend_from_slice(opt);
        pkt.extend_from_slice(&[0x77, 0, 0]);
        assert_eq!(bytes(&mut sw, "hash_opt", &pkt), v_bytes(opt, tail));
    }
}

#[test]
fn varbit_extract_errors_follow_bmv2() {
    let mut sw = varbit_prog().load();
    // 12 bits: not whole bytes (ParserInvalidArgument, 6).
    assert_eq!(
        run(&mut sw, "err_port", &[], &[12, 1, 2, 3, 4, 5, 6, 7])[0].0,
        16
    );
    // 40 bits with the bytes present: over max_length (HeaderTooShort, 4).
    assert_eq!(
        run(&mut sw, "err_port", &[], &[40, 1, 2, 3, 4, 5, 6, 7, 8, 9])[0].0,
        14
    );
    // 32 bits and a packet that ends inside the header (PacketTooShort, 1).
    assert_eq!(run(&mut sw, "err_port", &[], &[32, 1, 2, 3, 4, 5])[0].0, 11);
    // 40 bits and too few bytes: the packet length is checked first.
    assert_eq!(run(&mut sw, "err_port", &[], &[40, 1, 2, 3])[0].0, 11);
    assert_eq!(run(&mut sw, "err_port", &[], &[8, 1, 2, 0, 0])[0].0, 10);
}

/// Two headers, `v` with `vopt` and `w` with `wopt`, after the 0xff marker.
fn two(vopt: &[u8], wopt: &[u8]) -> Vec<u8> {
    let mut p = vec![0xff];
    for opt in [vopt, wopt] {
        p.push((opt.len() * 8) as u8);
        p.extend_from_slice(opt);
        p.extend_from_slice(&[0x77, 0, 0]);
    }
    p
}

#[test]
fn varbit_equality_compares_values() {
    let mut sw = varbit_prog().load();
    assert_eq!(run(&mut sw, "cmp", &[], &two(&[1, 2], &[1, 2]))[0].0, 2);
    assert_eq!(run(&mut sw, "cmp", &[], &two(&[1, 2], &[1, 3]))[0].0, 1);
    // As numbers, the way BMv2 compares them: leading zero bytes do not
    // count.
    assert_eq!(run(&mut sw, "cmp", &[], &two(&[0, 5], &[5]))[0].0, 2);
    assert_eq!(run(&mut sw, "cmp", &[], &two(&[], &[0]))[0].0, 2);
}

#[test]
fn assigning_headers_and_varbits_copies_the_length() {
    let mut sw = varbit_prog().load();
    let mut want = v_bytes(&[1, 2, 3], 0x77);
    want.extend_from_slice(&[24, 1, 2, 3, 0x42]);
    // `w` is a copy of `v` as it was before the checksum update.
    want.extend_from_slice(&[0, 0]);
    assert_eq!(bytes(&mut sw, "copy_vw", &two(&[1, 2, 3], &[9])), want);
    // assign_VL copies the value and its length, not the length field.
    let mut want = v_bytes(&[1, 2, 3], 0x77);
    want.extend_from_slice(&[8, 1, 2, 3, 0x77, 0, 0]);
    assert_eq!(bytes(&mut sw, "assign_vl", &two(&[1, 2, 3], &[9])), want);
}

/// Multicast copies each start egress from the header vector ingress
/// left, variable-length fields' lengths included: one copy's egress
/// changing a length does not reach the next copy.
#[test]
fn each_multicast_copy_starts_with_the_lengths_ingress_left() {
    let mut p = varbit_prog();
    p.actions.push((
        "mc",
        vec![],
        vec![assign(f("standard_metadata", "mcast_grp"), hex("0x1"))],
    ));
    let assign_vl = p.actions.iter().position(|a| a.0 == "assign_vl");
    let next: serde_json::Map<String, Value> = p
        .actions
        .iter()
        .map(|a| (a.0.to_string(), Value::Null))
        .collect();
    p.egress = Some(
        json!({"name": "egress", "id": 1, "init_table": "c", "tables": [{
        "name": "e", "id": 1, "key": [], "match_type": "exact", "type": "simple",
        "max_size": 1, "with_counters": false, "support_timeout": false,
        "direct_meters": null, "action_ids": (0..p.actions.len()).collect::<Vec<_>>(),
        "actions": p.actions.iter().map(|a| a.0).collect::<Vec<_>>(),
        "base_default_next": null, "next_tables": next,
        "default_entry": {"action_id": assign_vl, "action_const": false, "action_data": [],
                          "action_entry_const": false}}],
        "conditionals": [{"name": "c", "id": 0, "expression": {"type": "expression", "value":
            {"op": "==", "left": f("standard_metadata", "egress_port"), "right": hex("0x2")}},
            "true_next": "e", "false_next": null}]}),
    );
    let mut sw = p.load();
    sw.create_multicast_group(
        1,
        vec![
            fairshare_switch::Replica { port: 2, rid: 1 },
            fairshare_switch::Replica { port: 3, rid: 2 },
        ],
    )
    .expect("group");
    let out = run(&mut sw, "mc", &[], &two(&[1, 2, 3], &[9]));
    // The copy to port 2 runs `assign_VL(w.opt, v.opt)`: w's option
    // becomes v's, three bytes long. The copy to port 3 keeps w's one byte.
    let v = v_bytes(&[1, 2, 3], 0x77);
    let mut to2 = v.clone();
    to2.extend_from_slice(&[8, 1, 2, 3, 0x77, 0, 0]);
    let mut to3 = v;
    to3.extend_from_slice(&[8, 9, 0x77, 0, 0]);
    assert_eq!(out, vec![(2, to2), (3, to3)]);
}

#[test]
fn varbit_programs_that_cannot_run_are_refused_with_the_path() {
    let mut p = varbit_prog();
    p.header_types[0]
        .as_object_mut()
        .expect("object")
        .remove("max_length");
    match Switch::load(&p.json()) {
        Err(Error::Refused { path, reason }) => {
            assert_eq!(path, "$.header_types[2].fields[1]");
            assert!(reason.contains("max_length"), "{reason}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let mut p = varbit_prog();
    p.states[2] = state("one", vec![extract("v")], vec![], vec![default(None)]);
    match Switch::load(&p.json()) {
        Err(Error::Refused { path, reason }) => {
            assert!(
                path.starts_with("$.parsers[0].parse_states[2].parser_ops[0]"),
                "{path}"
            );
            assert!(reason.contains("needs a length"), "{reason}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let mut p = varbit_prog();
    p.actions[1].2 = vec![assign(f("v", "tail"), ex("+", f("v", "opt"), hex("0x1")))];
    match Switch::load(&p.json()) {
        Err(Error::Refused { path, reason }) => {
            assert!(path.starts_with("$.actions[1].primitives[0]"), "{path}");
            assert!(reason.contains("variable-length"), "{reason}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

// ---- Header stacks at a run-time index, `local` operands ----

/// `i` (idx:8), then a stack `hs` of three `H` (a:8), then a second stack
/// `gs` of three, emitted after (and only valid when an action fills it).
fn stack_prog() -> Prog {
    let next = || json!({"op": "extract", "parameters": [{"type": "stack", "value": "hs"}]});
    let idx = || f("i", "idx");
    Prog {
        header_types: vec![
            json!({"name": "I", "id": 2, "fields": [["idx", 8, false]]}),
            json!({"name": "H", "id": 3, "fields": [["a", 8, false]]}),
        ],
        headers: vec![
            ("i", "I"),
            ("hs[0]", "H"),
            ("hs[1]", "H"),
            ("hs[2]", "H"),
            ("gs[0]", "H"),
            ("gs[1]", "H"),
            ("gs[2]", "H"),
        ],
        header_stacks: vec![
            json!({"name": "hs", "id": 0, "header_type": "H", "size": 3, "header_ids": [3, 4, 5]}),
            json!({"name": "gs", "id": 1, "header_type": "H", "size": 3, "header_ids": [6, 7, 8]}),
        ],
        states: vec![state(
            "start",
            vec![extract("i"), next(), next(), next()],
            vec![],
            vec![default(None)],
        )],
        order: vec!["i", "hs[0]", "hs[1]", "hs[2]", "gs[0]", "gs[1]", "gs[2]"],
        actions: vec![
            ("pass", vec![], vec![]),
            (
                "write",
                vec![],
                vec![assign(field_of(deref("hs", idx()), 0), hex("0xee"))],
            ),
            (
                "read",
                vec![],
                vec![assign(
                    idx(),
                    field_of(
                        deref("hs", ex("&", ex("+", idx(), hex("0x1")), hex("0xff"))),
                        0,
                    ),
                )],
            ),
            (
                "invalidate",
                vec![],
                vec![prim("remove_header", vec![deref("hs", idx())])],
            ),
            (
                "valid_of",
                vec![],
                vec![assign(idx(), field_of(deref("hs", idx()), 1))],
            ),
            (
                "pick",
                vec![],
                vec![prim(
                    "assign_header",
                    vec![
                        hdr("hs[0]"),
                        cond(
                            ex("==", idx(), hex("0x1")),
                            deref("hs", idx()),
                            hdr("hs[2]"),
                        ),
                    ],
                )],
            ),
            (
                "copy_stack",
                vec![],
                vec![prim(
                    "assign_header_stack",
                    vec![
                        json!({"type": "header_stack", "value": "gs"}),
                        json!({"type": "header_stack", "value": "hs"}),
                    ],
                )],
            ),
            (
                "size",
                vec![],
                vec![assign(
                    idx(),
                    un("size_stack", json!({"type": "header_stack", "value": "hs"})),
                )],
            ),
            (
                "add_local",
                vec![8],
                vec![assign(
                    idx(),
                    ex(
                        "&",
                        ex("+", idx(), json!({"type": "local", "value": 0})),
                        hex("0xff"),
                    ),
                )],
            ),
        ],
        ..Prog::default()
    }
}

#[test]
fn stack_elements_at_a_run_time_index_are_written_and_read() {
    let mut sw = stack_prog().load();
    for i in 0..3u8 {
        let mut want = vec![i, 1, 2, 3, 0x99];
        want[1 + i as usize] = 0xee;
        assert_eq!(bytes(&mut sw, "write", &[i, 1, 2, 3, 0x99]), want);
    }
    assert_eq!(bytes(&mut sw, "read", &[1, 7, 8, 9]), [9, 7, 8, 9]);
    assert_eq!(bytes(&mut sw, "invalidate", &[1, 7, 8, 9]), [1, 7, 9]);
    // `$valid$` is the field just past the header's own: hs[1] is valid,
    // hs[5] does not exist, hs[2] was not in the packet.
    assert_eq!(bytes(&mut sw, "valid_of", &[1, 7, 8, 9]), [1, 7, 8, 9]);
    assert_eq!(bytes(&mut sw, "valid_of", &[5, 7, 8, 9]), [0, 7, 8, 9]);
    assert_eq!(bytes(&mut sw, "valid_of", &[2, 7, 8]), [0, 7, 8]);
    // Reads out of range are not errors; nothing was written out of range.
    assert_eq!(sw.stats().index_errors, 0);
}

#[test]
fn out_of_range_indices_read_zero_and_leave_the_stack_alone() {
    let mut sw = stack_prog().load();
    let before = sw.stats().index_errors;
    assert_eq!(bytes(&mut sw, "write", &[3, 1, 2, 3]), [3, 1, 2, 3]);
    assert_eq!(bytes(&mut sw, "write", &[0xff, 1, 2, 3]), [0xff, 1, 2, 3]);
    assert_eq!(sw.stats().index_errors, before + 2);
    // Reading hs[3]: 0.
    assert_eq!(bytes(&mut sw, "read", &[2, 1, 2, 3]), [0, 1, 2, 3]);
}

#[test]
fn headers_picked_by_a_condition_and_whole_stacks_are_assigned() {
    let mut sw = stack_prog().load();
    assert_eq!(bytes(&mut sw, "pick", &[1, 7, 8, 9]), [1, 8, 8, 9]);
    assert_eq!(bytes(&mut sw, "pick", &[0, 7, 8, 9]), [0, 9, 8, 9]);
    // From an invalid header (hs[1] was not in the packet): the destination
    // becomes invalid.
    assert_eq!(bytes(&mut sw, "pick", &[1, 7]), [1]);
    assert_eq!(
        bytes(&mut sw, "copy_stack", &[0, 7, 8, 9]),
        [0, 7, 8, 9, 7, 8, 9]
    );
    assert_eq!(bytes(&mut sw, "size", &[0, 7, 8, 9]), [3, 7, 8, 9]);
    // Only two elements in the packet: the stack holds two.
    assert_eq!(bytes(&mut sw, "size", &[0, 7, 8]), [2, 7, 8]);
}

#[test]
fn local_operands_read_the_action_parameters() {
    let mut sw = stack_prog().load();
    let out = run(&mut sw, "add_local", &[5], &[250, 7, 8, 9]);
    assert_eq!(out, vec![(0, vec![255, 7, 8, 9])]);
    let out = run(&mut sw, "add_local", &[9], &[250, 7, 8, 9]);
    assert_eq!(out, vec![(0, vec![3, 7, 8, 9])]);
}

#[test]
fn a_constant_index_out_of_range_is_refused_at_load() {
    let mut p = stack_prog();
    p.actions[1].2 = vec![assign(field_of(deref("hs", hex("0x3")), 0), hex("0xee"))];
    match Switch::load(&p.json()) {
        Err(Error::Refused { path, reason }) => {
            assert!(path.starts_with("$.actions[1].primitives[0]"), "{path}");
            assert!(reason.contains("out of the stack"), "{reason}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}
