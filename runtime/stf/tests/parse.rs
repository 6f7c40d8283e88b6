//! The STF parser and the reading of key values by match kind.

use fairshare_stf::parse::{
    parse, ActionCall, CmpOp, Command, CounterKind, KeyValue, Literal, Pattern, Rate,
};
use fairshare_stf::run::{key_match, meter_config, resolve, resolve_key};
use fairshare_switch::{KeyMatch, MatchKind, MeterConfig};

fn one(line: &str) -> Command {
    match parse(line) {
        Ok(mut v) if v.len() == 1 => v.remove(0).command,
        other => panic!("`{line}` gave {other:?}"),
    }
}

fn key(line: &str) -> KeyValue {
    match one(&format!("add t k:{line} a()")) {
        Command::Add { mut keys, .. } => keys.remove(0).1,
        c => panic!("{c:?}"),
    }
}

fn lit(s: &str) -> Literal {
    match key(s) {
        KeyValue::Literal(l) => l,
        v => panic!("{v:?}"),
    }
}

fn error(text: &str) -> String {
    match parse(text) {
        Err(e) => e.to_string(),
        Ok(v) => panic!("`{text}` parsed: {v:?}"),
    }
}

#[test]
fn numbers_in_every_base() {
    assert_eq!(lit("42").value(), 42);
    assert_eq!(lit("0x2A").value(), 42);
    assert_eq!(lit("0b101010").value(), 42);
    assert_eq!(lit("0o52").value(), 42);
    assert_eq!(lit("0xffffffffffffffffffffffffffffffff").value(), u128::MAX);
    // Leading zeros do not count against the 128 bits.
    assert_eq!(lit("0x000000000000000000000000000000000001").value(), 1);
}

#[test]
fn a_value_over_128_bits_is_an_error() {
    let e = error("add t k:0x1ffffffffffffffffffffffffffffffff a()");
    assert!(e.contains("line 1") && e.contains("128 bits"), "{e}");
}

#[test]
fn wildcard_digits_give_the_mask() {
    let l = lit("0x**01");
    assert!(l.has_wildcards());
    assert_eq!(l.value(), 0x0001);
    assert_eq!(l.digit_mask(), 0x00ff);
    assert_eq!(lit("0b1*0").digit_mask(), 0b101);
    assert_eq!(lit("0o7*").digit_mask(), 0o70);
    // Decimal literals care about every bit.
    assert_eq!(lit("12").digit_mask(), u128::MAX);
    assert!(parse("add t k:1* a()").is_err());
}

#[test]
fn ternary_keys() {
    // p4c's runner: the mask comes from the digits.
    assert_eq!(
        key_match(&key("0x****0101"), MatchKind::Ternary, 32),
        Ok(KeyMatch::Ternary {
            value: 0x0101,
            mask: 0x0000_ffff
        })
    );
    // A literal without `*` cares about the bits its digits cover.
    assert_eq!(
        key_match(&key("0x25"), MatchKind::Ternary, 16),
        Ok(KeyMatch::Ternary {
            value: 0x25,
            mask: 0xff
        })
    );
    // Extensions: VALUE&&&MASK and decimal values.
    assert_eq!(
        key_match(&key("0x1234&&&0xf0f0"), MatchKind::Ternary, 16),
        Ok(KeyMatch::Ternary {
            value: 0x1030,
            mask: 0xf0f0
        })
    );
    assert_eq!(
        key_match(&key("7"), MatchKind::Ternary, 8),
        Ok(KeyMatch::Ternary {
            value: 7,
            mask: 0xff
        })
    );
    assert_eq!(
        key_match(&key("*"), MatchKind::Ternary, 8),
        Ok(KeyMatch::Ternary { value: 0, mask: 0 })
    );
    assert_eq!(
        key_match(&key("0xc0000000/4"), MatchKind::Ternary, 32),
        Ok(KeyMatch::Ternary {
            value: 0xc000_0000,
            mask: 0xf000_0000
        })
    );
    assert!(key_match(&key("0x1ff&&&0xff"), MatchKind::Ternary, 8).is_err());
    assert!(key_match(&key("300"), MatchKind::Ternary, 8).is_err());
}

#[test]
fn lpm_keys() {
    // The README's example: trailing `*` digits give the prefix.
    assert_eq!(
        key_match(&key("0xc0a8****"), MatchKind::Lpm, 32),
        Ok(KeyMatch::Lpm {
            value: 0xc0a8_0000,
            prefix_len: 16
        })
    );
    assert_eq!(
        key_match(&key("0x0a******"), MatchKind::Lpm, 32),
        Ok(KeyMatch::Lpm {
            value: 0x0a00_0000,
            prefix_len: 8
        })
    );
    assert_eq!(
        key_match(&key("0x0a000001/24"), MatchKind::Lpm, 32),
        Ok(KeyMatch::Lpm {
            value: 0x0a00_0000,
            prefix_len: 24
        })
    );
    assert_eq!(
        key_match(&key("0x0a000001"), MatchKind::Lpm, 32),
        Ok(KeyMatch::Lpm {
            value: 0x0a00_0001,
            prefix_len: 32
        })
    );
    assert_eq!(
        key_match(&key("*"), MatchKind::Lpm, 32),
        Ok(KeyMatch::Lpm {
            value: 0,
            prefix_len: 0
        })
    );
    let e = key_match(&key("0x0a**0000"), MatchKind::Lpm, 32).expect_err("an error");
    assert!(e.contains("not trailing"), "{e}");
    let e = key_match(&key("0x0a/33"), MatchKind::Lpm, 32).expect_err("an error");
    assert!(e.contains("prefix length 33"), "{e}");
}

#[test]
fn exact_range_and_optional_keys() {
    assert_eq!(
        key_match(&key("0x1ff"), MatchKind::Exact, 9),
        Ok(KeyMatch::Exact(0x1ff))
    );
    let e = key_match(&key("0x200"), MatchKind::Exact, 9).expect_err("an error");
    assert!(e.contains("does not fit in 9 bits"), "{e}");
    assert!(key_match(&key("0x1*"), MatchKind::Exact, 8).is_err());
    assert!(key_match(&key("*"), MatchKind::Exact, 8).is_err());
    assert_eq!(
        key_match(&key("1->5"), MatchKind::Range, 8),
        Ok(KeyMatch::Range { low: 1, high: 5 })
    );
    assert_eq!(
        key_match(&key("*"), MatchKind::Range, 8),
        Ok(KeyMatch::Range { low: 0, high: 255 })
    );
    assert!(key_match(&key("5->1"), MatchKind::Range, 8).is_err());
    assert!(key_match(&key("1->5"), MatchKind::Ternary, 8).is_err());
    assert_eq!(
        key_match(&key("3"), MatchKind::Optional, 8),
        Ok(KeyMatch::Optional(Some(3)))
    );
    assert_eq!(
        key_match(&key("*"), MatchKind::Optional, 8),
        Ok(KeyMatch::Optional(None))
    );
}

#[test]
fn add_lines_with_and_without_priority() {
    assert_eq!(
        one("add test1 503 data.f1:0x****0202 setb1(val:7, port:3)"),
        Command::Add {
            table: "test1".into(),
            priority: Some(503),
            keys: vec![("data.f1".into(), key("0x****0202"))],
            action: ActionCall {
                name: "setb1".into(),
                args: vec![("val".into(), 7), ("port".into(), 3)],
            },
        }
    );
    match one("add test1    0 data.f1:0x*******1 setb1(port:4, val:0)") {
        Command::Add { priority, .. } => assert_eq!(priority, Some(0)),
        c => panic!("{c:?}"),
    }
    match one("add port_mapping ingress_port:1 set_bd(bd:10)") {
        Command::Add { priority, keys, .. } => {
            assert_eq!(priority, None);
            assert_eq!(keys.len(), 1);
        }
        c => panic!("{c:?}"),
    }
    // An action without parameters, a table without keys, `= HANDLE` ignored.
    match one("add t a() = 3") {
        Command::Add { keys, action, .. } => {
            assert!(keys.is_empty());
            assert_eq!(action.name, "a");
            assert!(action.args.is_empty());
        }
        c => panic!("{c:?}"),
    }
    assert_eq!(
        one("setdefault ipv4_fib on_miss()"),
        Command::SetDefault {
            table: "ipv4_fib".into(),
            action: ActionCall {
                name: "on_miss".into(),
                args: vec![]
            }
        }
    );
}

#[test]
fn packets_and_expectations() {
    assert_eq!(
        one("packet 0 0a0B 0c # comment"),
        Command::Packet {
            port: 0,
            data: vec![0x0a, 0x0b, 0x0c]
        }
    );
    assert_eq!(
        one("expect 3 0a** 0c $"),
        Command::Expect {
            port: 3,
            pattern: Some(Pattern {
                nibbles: vec![Some(0), Some(0xa), None, None, Some(0), Some(0xc)],
                exact_length: true
            })
        }
    );
    assert_eq!(
        one("expect 5"),
        Command::Expect {
            port: 5,
            pattern: None
        }
    );
    assert_eq!(one("wait"), Command::Wait);
}

#[test]
fn counters_registers_meters_multicast() {
    assert_eq!(
        one("check_counter cntDum(10) packets == 1"),
        Command::CheckCounter {
            name: "cntDum".into(),
            index: 10,
            kind: CounterKind::Packets,
            op: CmpOp::Eq,
            value: 1
        }
    );
    assert_eq!(
        one("check_counter c(2) bytes >= 64"),
        Command::CheckCounter {
            name: "c".into(),
            index: 2,
            kind: CounterKind::Bytes,
            op: CmpOp::Ge,
            value: 64
        }
    );
    assert_eq!(
        one("check_counter c(2) 5"),
        Command::CheckCounter {
            name: "c".into(),
            index: 2,
            kind: CounterKind::Packets,
            op: CmpOp::Eq,
            value: 5
        }
    );
    assert!(parse("check_counter c(2) packets =~ 5").is_err());
    assert_eq!(
        one("register_write r 3 0xff"),
        Command::RegisterWrite {
            name: "r".into(),
            index: 3,
            value: 255
        }
    );
    assert_eq!(
        one("register_read r"),
        Command::RegisterRead {
            name: "r".into(),
            index: None
        }
    );
    assert_eq!(
        one("mc_node_create 400 6 7"),
        Command::McNodeCreate {
            rid: 400,
            ports: vec![6, 7]
        }
    );
    match one("meter_set_rates m 2 0.0001:10 0.0005:20") {
        Command::MeterSetRates { name, index, rates } => {
            assert_eq!((name.as_str(), index), ("m", 2));
            // simple_switch_CLI rates are per microsecond; the switch's per second.
            assert_eq!(
                meter_config(&rates),
                Ok(MeterConfig {
                    cir: 100,
                    cburst: 10,
                    pir: 500,
                    pburst: 20
                })
            );
        }
        c => panic!("{c:?}"),
    }
    assert!(meter_config(
        &[Rate {
            per_us: 1.0,
            burst: 1
        }; 3]
    )
    .is_err());
}

#[test]
fn errors_name_the_line_and_what_was_expected() {
    let e = error("# a comment\n\npacket 1 0a0\n");
    assert!(
        e.starts_with("line 3: expected an even number of hex digits"),
        "{e}"
    );
    let e = error("packet x 00");
    assert!(e.contains("expected a port number, found `x`"), "{e}");
    let e = error("packet 1 0g");
    assert!(e.contains("hex digits"), "{e}");
    let e = error("expect 1 00 zz");
    assert!(e.contains("hex digits, `*` or a final `$`"), "{e}");
    let e = error("frobnicate 1");
    assert!(
        e.contains("an STF command") && e.contains("`frobnicate`"),
        "{e}"
    );
    let e = error("add t k:1");
    assert!(e.contains("an action"), "{e}");
    let e = error("add t k:1 a(x:1");
    assert!(e.contains("`)`"), "{e}");
    let e = error("add t k a()");
    assert!(e.contains("`NAME:VALUE`"), "{e}");
    let e = error("setdefault t a() extra");
    assert!(e.contains("the end of the line"), "{e}");
    let e = error("mc_node_associate 1");
    assert!(e.contains("a multicast group and a node handle"), "{e}");
    let e = error("packet 99999999999 00");
    assert!(e.contains("a port number"), "{e}");
}

#[test]
fn names_resolve_by_suffix() {
    let tables = [
        "ingress.c.t",
        "egress.send_frame",
        "ingress.t2",
        "egress.t2",
    ];
    let r = |s: &str| resolve(tables.iter().copied(), s, "table");
    assert_eq!(r("send_frame"), Ok("egress.send_frame".into()));
    assert_eq!(r("c.t"), Ok("ingress.c.t".into()));
    assert_eq!(r("ingress.t2"), Ok("ingress.t2".into()));
    assert!(r("t2").expect_err("an error").contains("ambiguous"));
    assert!(r("frame")
        .expect_err("an error")
        .contains("no table `frame`"));
}

#[test]
fn keys_resolve_by_name() {
    let keys = [
        "hdrs.data.f1",
        "hdrs.extra[0].h",
        "data.$valid$",
        "mcast_key",
        "hdr.u[1].short.$valid$",
    ];
    assert_eq!(resolve_key(&keys, "data.f1"), Ok(0));
    assert_eq!(resolve_key(&keys, "extra$0.h"), Ok(1));
    assert_eq!(resolve_key(&keys, "data"), Ok(2));
    assert_eq!(resolve_key(&keys, "data.valid"), Ok(2));
    assert_eq!(resolve_key(&keys, "mcast_key"), Ok(3));
    assert_eq!(resolve_key(&keys, "u$1.short"), Ok(4));
    assert!(resolve_key(&keys, "f2")
        .expect_err("an error")
        .contains("no key `f2`"));
    let twice = ["a.x", "b.x"];
    assert!(resolve_key(&twice, "x")
        .expect_err("an error")
        .contains("ambiguous"));
}
