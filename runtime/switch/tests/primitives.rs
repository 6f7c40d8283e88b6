//! One small program exercising each primitive, expression form, parser
//! construct and checksum, driven through the control-plane API: each test
//! makes one action the table's default and checks the packet that comes
//! out. Packets are `h` (a:8 b:8 c:16 w:128), optionally `h2` (same type,
//! parsed when `h.a & 0xf0 == 0x20`), then payload.

use fairshare_switch::{Error, MeterConfig, Switch};
use serde_json::{json, Value};

fn f(h: &str, n: &str) -> Value {
    json!({"type": "field", "value": [h, n]})
}
fn hex(v: &str) -> Value {
    json!({"type": "hexstr", "value": v})
}
fn ex(op: &str, l: Value, r: Value) -> Value {
    json!({"type": "expression", "value": {"op": op, "left": l, "right": r}})
}
fn prim(op: &str, params: Vec<Value>) -> Value {
    json!({"op": op, "parameters": params})
}
fn assign(dst: Value, src: Value) -> Value {
    prim("assign", vec![dst, src])
}

fn program() -> String {
    let fwd = assign(f("standard_metadata", "egress_spec"), hex("0x1"));
    let actions: Vec<(&str, Vec<Value>)> = vec![
        ("pass", vec![]),
        // (b + 0xff) & 0xff: 8-bit wrap-around, as p4c writes `b - 1`.
        (
            "wrap",
            vec![assign(
                f("h", "b"),
                ex("&", ex("+", f("h", "b"), hex("0xff")), hex("0xff")),
            )],
        ),
        // Field plus or minus a constant, masked, as p4c writes `+` and
        // `-`: c = (c - 0x14) & 0xffff; a = (c + 2^64 + 1) & 0xff (a
        // constant over 64 bits, into a narrower field); b = (b - 1) &
        // (2^128 - 1) (a mask wider than the 8-bit field it is written
        // to, and than 64 bits).
        (
            "add_const",
            vec![
                assign(
                    f("h", "c"),
                    ex("&", ex("-", f("h", "c"), hex("0x14")), hex("0xffff")),
                ),
                assign(
                    f("h", "a"),
                    ex(
                        "&",
                        ex("+", f("h", "c"), hex("0x10000000000000001")),
                        hex("0xff"),
                    ),
                ),
                assign(
                    f("h", "b"),
                    ex(
                        "&",
                        ex("-", f("h", "b"), hex("0x1")),
                        hex("0xffffffffffffffffffffffffffffffff"),
                    ),
                ),
            ],
        ),
        // c = (c << 4) & 0xffff; w = (w + 1) & (2^128 - 1).
        (
            "shift_wide",
            vec![
                assign(
                    f("h", "c"),
                    ex("&", ex("<<", f("h", "c"), hex("0x4")), hex("0xffff")),
                ),
                assign(
                    f("h", "w"),
                    ex(
                        "&",
                        ex("+", f("h", "w"), hex("0x1")),
                        hex("0xffffffffffffffffffffffffffffffff"),
                    ),
                ),
            ],
        ),
        // m.s (signed 8) = a; b = m.s < 0 ? 1 : 2; c = m.s >> 1 (arithmetic) & 0xffff.
        (
            "signed",
            vec![
                assign(f("m", "s"), f("h", "a")),
                assign(
                    f("h", "b"),
                    json!({"type": "expression", "value": {"op": "?", "left": hex("0x1"), "right": hex("0x2"),
                        "cond": ex("<", f("m", "s"), hex("0x0"))}}),
                ),
                assign(
                    f("h", "c"),
                    ex("&", ex(">>", f("m", "s"), hex("0x1")), hex("0xffff")),
                ),
            ],
        ),
        (
            "remove",
            vec![prim(
                "remove_header",
                vec![json!({"type": "header", "value": "h2"})],
            )],
        ),
        (
            "add",
            vec![
                prim("add_header", vec![json!({"type": "header", "value": "h3"})]),
                assign(f("h3", "a"), hex("0x33")),
            ],
        ),
        (
            "drop",
            vec![prim(
                "mark_to_drop",
                vec![json!({"type": "header", "value": "standard_metadata"})],
            )],
        ),
        (
            "exit_early",
            vec![prim("exit", vec![]), assign(f("h", "b"), hex("0x55"))],
        ),
        (
            "count",
            vec![prim(
                "count",
                vec![json!({"type": "counter_array", "value": "ctr"}), hex("0x1")],
            )],
        ),
        (
            "reg",
            vec![
                prim(
                    "register_read",
                    vec![
                        f("m", "y"),
                        json!({"type": "register_array", "value": "r"}),
                        hex("0x2"),
                    ],
                ),
                assign(f("h", "b"), f("m", "y")),
                prim(
                    "register_write",
                    vec![
                        json!({"type": "register_array", "value": "r"}),
                        hex("0x2"),
                        f("h", "a"),
                    ],
                ),
            ],
        ),
        (
            "hash",
            vec![prim(
                "modify_field_with_hash_based_offset",
                vec![
                    f("h", "c"),
                    hex("0x0"),
                    json!({"type": "calculation", "value": "crc"}),
                    hex("0x10000"),
                ],
            )],
        ),
        (
            "meter",
            vec![prim(
                "execute_meter",
                vec![
                    json!({"type": "meter_array", "value": "mtr"}),
                    hex("0x0"),
                    f("h", "b"),
                ],
            )],
        ),
        ("ck", vec![assign(f("m", "do_ck"), hex("0x1"))]),
        (
            "perr",
            vec![assign(f("h", "b"), f("standard_metadata", "parser_error"))],
        ),
        (
            "param",
            vec![assign(
                f("h", "c"),
                json!({"type": "runtime_data", "value": 0}),
            )],
        ),
        // w = a 128-bit parameter; then w = a 128-bit constant.
        (
            "wide_param",
            vec![assign(
                f("h", "w"),
                json!({"type": "runtime_data", "value": 0}),
            )],
        ),
        (
            "wide_const",
            vec![assign(
                f("h", "w"),
                hex("0x0123456789abcdeffedcba9876543210"),
            )],
        ),
    ];
    let n = actions.len();
    let actions_json: Vec<Value> = actions
        .into_iter()
        .enumerate()
        .map(|(i, (name, mut prims))| {
            prims.insert(0, fwd.clone());
            let rd = match name {
                "param" => json!([{"name": "v", "bitwidth": 16}]),
                "wide_param" => json!([{"name": "v", "bitwidth": 128}]),
                _ => json!([]),
            };
            json!({"name": name, "id": i, "runtime_data": rd, "primitives": prims})
        })
        .collect();
    let names: Vec<Value> = actions_json.iter().map(|a| a["name"].clone()).collect();
    let next: serde_json::Map<String, Value> = names
        .iter()
        .map(|n| (n.as_str().unwrap_or_default().to_string(), Value::Null))
        .collect();
    json!({
        "header_types": [
            {"name": "h_t", "id": 0, "fields": [["a", 8, false], ["b", 8, false], ["c", 16, false], ["w", 128, false]]},
            {"name": "m_t", "id": 1, "fields": [["s", 8, true], ["y", 32, false], ["do_ck", 1, false], ["_pad", 7, false]]},
            {"name": "standard_metadata", "id": 2, "fields": [["ingress_port", 9, false], ["egress_spec", 9, false],
                ["egress_port", 9, false], ["instance_type", 32, false], ["packet_length", 32, false], ["mcast_grp", 16, false],
                ["checksum_error", 1, false], ["parser_error", 32, false], ["_padding", 4, false]]}
        ],
        "headers": [
            {"name": "standard_metadata", "id": 0, "header_type": "standard_metadata", "metadata": true},
            {"name": "m", "id": 1, "header_type": "m_t", "metadata": true},
            {"name": "h", "id": 2, "header_type": "h_t", "metadata": false},
            {"name": "h2", "id": 3, "header_type": "h_t", "metadata": false},
            {"name": "h3", "id": 4, "header_type": "h_t", "metadata": false}
        ],
        "errors": [["NoError", 0], ["PacketTooShort", 1], ["NoMatch", 2], ["StackOutOfBounds", 3], ["Bad", 9]],
        "parsers": [{"name": "parser", "id": 0, "init_state": "start", "parse_states": [
            {"name": "start", "id": 0,
             "parser_ops": [{"op": "extract", "parameters": [{"type": "regular", "value": "h"}]}],
             "transition_key": [f("h", "a")],
             "transitions": [
                {"type": "hexstr", "value": "0x20", "mask": "0xf0", "next_state": "two"},
                {"type": "hexstr", "value": "0x30", "mask": null, "next_state": "peek"},
                {"type": "default", "value": null, "mask": null, "next_state": null}]},
            {"name": "two", "id": 1,
             "parser_ops": [
                {"op": "extract", "parameters": [{"type": "regular", "value": "h2"}]},
                {"op": "verify", "parameters": [ex("!=", f("h2", "a"), hex("0xee")), hex("0x9")]}],
             "transition_key": [], "transitions": [{"type": "default", "value": null, "mask": null, "next_state": null}]},
            {"name": "peek", "id": 2, "parser_ops": [],
             "transition_key": [{"type": "lookahead", "value": [0, 16]}],
             "transitions": [
                {"type": "hexstr", "value": "0xabcd", "mask": null, "next_state": "two"},
                {"type": "hexstr", "value": "0x0000", "mask": "0x0000", "next_state": null}]}
        ]}],
        "deparsers": [{"name": "deparser", "id": 0, "order": ["h", "h2", "h3"]}],
        "meter_arrays": [{"name": "mtr", "id": 0, "is_direct": false, "rate_count": 2, "type": "bytes", "size": 1}],
        "counter_arrays": [{"name": "ctr", "id": 0, "is_direct": false, "size": 4}],
        "register_arrays": [{"name": "r", "id": 0, "size": 4, "bitwidth": 8}],
        "calculations": [
            {"name": "crc", "id": 0, "algo": "crc16", "input": [f("h", "a"), f("h", "b")]},
            {"name": "ck16", "id": 1, "algo": "csum16", "input": [f("h", "a"), f("h", "b"), {"type": "payload", "value": null}]}
        ],
        "checksums": [{"name": "ck", "id": 0, "target": ["h", "c"], "type": "generic", "calculation": "ck16",
            "verify": false, "update": true, "if_cond": ex("==", f("m", "do_ck"), hex("0x1"))}],
        "actions": actions_json,
        "pipelines": [
            {"name": "ingress", "id": 0, "init_table": "t", "tables": [
                {"name": "t", "id": 0, "key": [], "match_type": "exact", "type": "simple", "max_size": 1,
                 "with_counters": false, "support_timeout": false, "direct_meters": null,
                 "action_ids": (0..n).collect::<Vec<_>>(), "actions": names, "base_default_next": null,
                 "next_tables": next,
                 "default_entry": {"action_id": 0, "action_const": false, "action_data": [], "action_entry_const": false}}
            ], "conditionals": []},
            {"name": "egress", "id": 1, "init_table": null, "tables": [], "conditionals": []}
        ],
        "__meta__": {"version": [2, 23], "compiler": "test"}
    })
    .to_string()
}

fn switch(action: &str, params: &[u128]) -> Switch {
    let mut sw = Switch::load(&program()).expect("the test program loads");
    sw.set_default_action("t", action, params)
        .expect("set default");
    sw
}

/// `h` (20 bytes) then `rest`.
fn pkt(a: u8, b: u8, c: u16, w: u128, rest: &[u8]) -> Vec<u8> {
    let mut v = vec![a, b];
    v.extend_from_slice(&c.to_be_bytes());
    v.extend_from_slice(&w.to_be_bytes());
    v.extend_from_slice(rest);
    v
}

fn run(sw: &mut Switch, data: &[u8]) -> Vec<(u32, Vec<u8>)> {
    let mut out = vec![];
    sw.process(7, data, 0, &mut |p, b| out.push((p, b.to_vec())));
    out
}

#[test]
fn unchanged_packet_passes() {
    let p = pkt(1, 2, 3, 4, b"xyz");
    assert_eq!(run(&mut switch("pass", &[]), &p), vec![(1, p.clone())]);
}

#[test]
fn eight_bit_arithmetic_wraps() {
    assert_eq!(
        run(&mut switch("wrap", &[]), &pkt(1, 0, 0, 0, &[])),
        vec![(1, pkt(1, 0xff, 0, 0, &[]))]
    );
    assert_eq!(
        run(&mut switch("wrap", &[]), &pkt(1, 5, 0, 0, &[])),
        vec![(1, pkt(1, 4, 0, 0, &[]))]
    );
}

#[test]
fn field_plus_or_minus_a_constant_wraps_to_the_field() {
    // c: 0x10 - 0x14 wraps to 0xfffc; a: 0xfffc + 1 (the constant's bits
    // past 64 do not reach the mask) cut to 0xfd; b: 0 - 1 is 2^128 - 1,
    // cut to the 8-bit field.
    assert_eq!(
        run(&mut switch("add_const", &[]), &pkt(9, 0, 0x10, 0, &[])),
        vec![(1, pkt(0xfd, 0xff, 0xfffc, 0, &[]))]
    );
    // No wrap: 0x1234 - 0x14 = 0x1220; a = 0x21; b = 4.
    assert_eq!(
        run(&mut switch("add_const", &[]), &pkt(9, 5, 0x1234, 0, &[])),
        vec![(1, pkt(0x21, 4, 0x1220, 0, &[]))]
    );
}

#[test]
fn shifts_drop_high_bits_and_128_bit_fields_wrap() {
    let out = run(
        &mut switch("shift_wide", &[]),
        &pkt(1, 0, 0xabcd, u128::MAX, &[]),
    );
    assert_eq!(out, vec![(1, pkt(1, 0, 0xbcd0, 0, &[]))]);
    let out = run(
        &mut switch("shift_wide", &[]),
        &pkt(1, 0, 1, 1u128 << 127, &[]),
    );
    assert_eq!(out, vec![(1, pkt(1, 0, 0x10, (1u128 << 127) + 1, &[]))]);
    // The carry out of the low 64 bits.
    let out = run(
        &mut switch("shift_wide", &[]),
        &pkt(1, 0, 1, u128::from(u64::MAX), &[]),
    );
    assert_eq!(out, vec![(1, pkt(1, 0, 0x10, 1u128 << 64, &[]))]);
}

#[test]
fn fields_over_64_bits_take_parameters_and_constants_whole() {
    let v = 0xfedc_ba98_7654_3210_0123_4567_89ab_cdefu128;
    let mut sw = switch("wide_param", &[v]);
    assert_eq!(
        run(&mut sw, &pkt(1, 0, 0, 5, &[])),
        vec![(1, pkt(1, 0, 0, v, &[]))]
    );
    // The next packet's value is its own again, high half included: one
    // more than 7, not than 7 with the high half written before.
    sw.set_default_action("t", "shift_wide", &[])
        .expect("shift_wide");
    assert_eq!(
        run(&mut sw, &pkt(1, 0, 0, 7, &[])),
        vec![(1, pkt(1, 0, 0, 8, &[]))]
    );
    assert_eq!(
        run(&mut switch("wide_const", &[]), &pkt(1, 0, 0, 5, &[])),
        vec![(
            1,
            pkt(1, 0, 0, 0x0123_4567_89ab_cdef_fedc_ba98_7654_3210, &[])
        )]
    );
}

#[test]
fn signed_fields_compare_and_shift_as_signed() {
    // 0xfc is -4 in 8 bits: negative, and -4 >> 1 = -2 = 0xfffe in 16 bits.
    assert_eq!(
        run(&mut switch("signed", &[]), &pkt(0xfc, 0, 0, 0, &[])),
        vec![(1, pkt(0xfc, 1, 0xfffe, 0, &[]))]
    );
    assert_eq!(
        run(&mut switch("signed", &[]), &pkt(0x04, 0, 0, 0, &[])),
        vec![(1, pkt(0x04, 2, 2, 0, &[]))]
    );
}

#[test]
fn select_with_mask_extracts_the_second_header_and_remove_header_drops_it() {
    let h2 = pkt(9, 9, 9, 9, &[]);
    let p = pkt(0x2a, 0, 0, 0, &h2);
    assert_eq!(run(&mut switch("pass", &[]), &p), vec![(1, p.clone())]);
    // With h2 parsed and removed, the deparser leaves it out.
    assert_eq!(
        run(&mut switch("remove", &[]), &p),
        vec![(1, pkt(0x2a, 0, 0, 0, &[]))]
    );
    // 0x1a does not match 0x20/0xf0: h2's bytes stay payload.
    let q = pkt(0x1a, 0, 0, 0, &h2);
    assert_eq!(run(&mut switch("remove", &[]), &q), vec![(1, q.clone())]);
}

#[test]
fn lookahead_selects_without_consuming() {
    // h.a == 0x30: peek at the next 16 bits; 0xabcd leads to h2.
    let h2 = pkt(0xab, 0xcd, 1, 2, &[]);
    let p = pkt(0x30, 0, 0, 0, &h2);
    assert_eq!(
        run(&mut switch("remove", &[]), &p),
        vec![(1, pkt(0x30, 0, 0, 0, &[]))]
    );
    // Too short to look ahead: PacketTooShort (1), and ingress still runs.
    let mut sw = switch("perr", &[]);
    assert_eq!(
        run(&mut sw, &pkt(0x30, 0, 0, 0, &[0xab])),
        vec![(1, pkt(0x30, 1, 0, 0, &[0xab]))]
    );
}

#[test]
fn parser_errors_reach_ingress() {
    let mut sw = switch("perr", &[]);
    // verify(h2.a != 0xee, error 9) fails.
    let p = pkt(0x20, 0, 0, 0, &pkt(0xee, 0, 0, 0, &[]));
    assert_eq!(
        run(&mut sw, &p),
        vec![(1, pkt(0x20, 9, 0, 0, &pkt(0xee, 0, 0, 0, &[])))]
    );
    // Shorter than h: PacketTooShort, nothing extracted, the bytes are payload.
    assert_eq!(run(&mut sw, &[0x20, 1, 2]), vec![(1, vec![0x20, 1, 2])]);
    assert_eq!(sw.stats().parser_errors, 2);
}

#[test]
fn add_header_makes_a_zeroed_header_valid() {
    let out = run(&mut switch("add", &[]), &pkt(1, 2, 3, 4, b"p"));
    let mut want = pkt(1, 2, 3, 4, &pkt(0x33, 0, 0, 0, &[]));
    want.push(b'p');
    assert_eq!(out, vec![(1, want)]);
}

#[test]
fn mark_to_drop_drops_and_exit_stops_the_action() {
    let mut sw = switch("drop", &[]);
    assert!(run(&mut sw, &pkt(1, 2, 3, 4, &[])).is_empty());
    assert_eq!(sw.stats().dropped_ingress, 1);
    assert_eq!(
        run(&mut switch("exit_early", &[]), &pkt(1, 2, 3, 4, &[])),
        vec![(1, pkt(1, 2, 3, 4, &[]))]
    );
}

#[test]
fn counters_count_packets_and_bytes() {
    let mut sw = switch("count", &[]);
    run(&mut sw, &pkt(1, 2, 3, 4, &[]));
    run(&mut sw, &pkt(1, 2, 3, 4, b"four"));
    assert_eq!(sw.counter("ctr", 1), Ok((2, 44)));
    assert_eq!(sw.counter("ctr", 0), Ok((0, 0)));
    assert!(matches!(sw.counter("ctr", 4), Err(Error::BadIndex { .. })));
    sw.set_counter("ctr", 1, 0, 0).expect("reset");
    assert_eq!(sw.counter("ctr", 1), Ok((0, 0)));
}

#[test]
fn registers_keep_values_between_packets() {
    let mut sw = switch("reg", &[]);
    sw.set_register("r", 2, 0x1ff).expect("write");
    assert_eq!(sw.register("r", 2), Ok(0xff), "cut to 8 bits");
    assert_eq!(
        run(&mut sw, &pkt(7, 0, 0, 0, &[])),
        vec![(1, pkt(7, 0xff, 0, 0, &[]))]
    );
    assert_eq!(
        run(&mut sw, &pkt(8, 0, 0, 0, &[])),
        vec![(1, pkt(8, 7, 0, 0, &[]))]
    );
    assert_eq!(sw.register("r", 2), Ok(8));
}

#[test]
fn hash_based_offset_uses_crc16() {
    // CRC-16/ARC of the bytes 0x31 0x32, computed here bit by bit,
    // independently of the switch.
    let mut crc: u16 = 0;
    for b in [0x31u8, 0x32] {
        crc ^= u16::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xa001
            } else {
                crc >> 1
            };
        }
    }
    assert_eq!(
        run(&mut switch("hash", &[]), &pkt(0x31, 0x32, 0, 0, &[])),
        vec![(1, pkt(0x31, 0x32, crc, 0, &[]))]
    );
}

#[test]
fn indirect_meter_colours_by_bytes() {
    let mut sw = switch("meter", &[]);
    // Unconfigured: green.
    assert_eq!(
        run(&mut sw, &pkt(1, 9, 0, 0, &[])),
        vec![(1, pkt(1, 0, 0, 0, &[]))]
    );
    sw.set_meter(
        "mtr",
        0,
        MeterConfig {
            cir: 1000,
            cburst: 20,
            pir: 1000,
            pburst: 40,
        },
    )
    .expect("config");
    assert_eq!(
        sw.meter("mtr", 0),
        Ok(Some(MeterConfig {
            cir: 1000,
            cburst: 20,
            pir: 1000,
            pburst: 40
        }))
    );
    // 20-byte packets at the same instant: green, yellow, red.
    let colours: Vec<u8> = (0..3)
        .map(|_| run(&mut sw, &pkt(1, 9, 0, 0, &[]))[0].1[1])
        .collect();
    assert_eq!(colours, vec![0, 1, 2]);
    assert!(sw
        .set_meter(
            "mtr",
            0,
            MeterConfig {
                cir: 2,
                cburst: 1,
                pir: 1,
                pburst: 1
            }
        )
        .is_err());
    assert!(matches!(
        sw.set_meter("mtr", 1, MeterConfig::default()),
        Err(Error::BadIndex { .. })
    ));
}

#[test]
fn checksum_update_covers_fields_and_payload() {
    let out = run(&mut switch("ck", &[]), &pkt(0x12, 0x34, 0, 0, &[0x56]));
    // The inputs are a and b (0x1234) and the payload byte 0x56, padded
    // to the word 0x5600; no carry to fold.
    let want = !(0x1234u16 + 0x5600);
    assert_eq!(out, vec![(1, pkt(0x12, 0x34, want, 0, &[0x56]))]);
}

#[test]
fn action_parameters_are_checked_against_their_width() {
    assert_eq!(
        run(&mut switch("param", &[0xbeef]), &pkt(0, 0, 0, 0, &[])),
        vec![(1, pkt(0, 0, 0xbeef, 0, &[]))]
    );
    let mut sw = Switch::load(&program()).expect("loads");
    assert!(matches!(
        sw.set_default_action("t", "param", &[0x1_0000]),
        Err(Error::BadEntry { .. })
    ));
    assert!(matches!(
        sw.set_default_action("t", "nope", &[]),
        Err(Error::UnknownAction { .. })
    ));
    assert!(matches!(
        sw.set_default_action("nope", "pass", &[]),
        Err(Error::UnknownTable(_))
    ));
}
