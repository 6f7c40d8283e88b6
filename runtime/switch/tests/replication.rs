//! The packet replication engine, on one small program: clones (ingress
//! and egress, to a port and to a group), multicast, resubmit,
//! recirculate, the loop caps and the control-plane API.
//!
//! The packet is `h` (a:8 b:8 it:8 rid:16 port:16 len:16, 9 bytes) then
//! payload. Ingress applies table `ti` on a packet's first pass (`m.y ==
//! 0`) and `ti2` on the others; egress applies `te` when `m.y == 0`, else
//! `te2`. The test picks each table's default action. Egress action
//! `show` writes what egress sees into `h`: `b = m.x`, `it =
//! instance_type`, `rid = egress_rid`, `port = egress_port`, `len =
//! packet_length`. Field list 1 is `[m.x, m.y]`, field list 2 `[m.y]`,
//! field list 3 `[m.x, m.y, h.a]`, field list 4 `[m.x, m.y, priority]`
//! (`standard_metadata.priority`, 8 bits, which the program names
//! `intrinsic_metadata.priority` too, as p4c does).

use fairshare_switch::pre::{MAX_COPIES, MAX_GENERATIONS, MAX_PRIORITY_QUEUES, MAX_SESSION_ID};
use fairshare_switch::{CloneSession, Error, Replica, Switch};

#[path = "support/pre_program.rs"]
mod pre_program;
use pre_program::program;

fn switch() -> Switch {
    Switch::load(&program(false)).expect("the test program loads")
}

fn to_port(port: u32) -> CloneSession {
    CloneSession {
        port: Some(port),
        group: None,
        truncate: None,
    }
}

fn to_group(group: u32) -> CloneSession {
    CloneSession {
        port: None,
        group: Some(group),
        truncate: None,
    }
}

/// The 12-byte input: `h` with a = 1, b = 2, zeros, then payload 00 de ad.
const IN: [u8; 12] = [1, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0xde, 0xad];

/// The packet egress action `show` makes out of `IN` (with `a` as given).
fn shown(a: u8, x: u8, it: u8, rid: u16, port: u16, len: u16) -> Vec<u8> {
    let mut v = vec![a, x, it];
    v.extend_from_slice(&rid.to_be_bytes());
    v.extend_from_slice(&port.to_be_bytes());
    v.extend_from_slice(&len.to_be_bytes());
    v.extend_from_slice(&[0, 0xde, 0xad]);
    v
}

fn run(sw: &mut Switch, data: &[u8]) -> Vec<(u32, Vec<u8>)> {
    let mut out = vec![];
    sw.process(3, data, 0, &mut |p, b| out.push((p, b.to_vec())));
    out
}

#[test]
fn a_plain_packet_is_not_copied() {
    let mut sw = switch();
    sw.set_clone_session(5, to_port(6)).expect("session");
    assert_eq!(run(&mut sw, &IN), vec![(1, shown(0xaa, 0x11, 0, 0, 1, 12))]);
    let s = sw.stats();
    assert_eq!((s.cloned, s.replicated, s.sent), (0, 0, 1));
}

#[test]
fn ingress_clone_to_a_port_is_the_received_packet_with_the_field_list() {
    let mut sw = switch();
    sw.set_clone_session(5, to_port(6)).expect("session");
    sw.set_default_action("ti", "i2e", &[4, 5])
        .expect("default");
    // The clone is queued before the original: it leaves first. It has the
    // bytes as received (a = 1), m.x from the field list, instance type 1
    // and the received length.
    assert_eq!(
        run(&mut sw, &IN),
        vec![
            (6, shown(1, 0x11, 1, 0, 6, 12)),
            (4, shown(0xaa, 0x11, 0, 0, 4, 12)),
        ]
    );
    assert_eq!(sw.stats().cloned, 1);
}

#[test]
fn a_header_field_in_an_ingress_clones_field_list_is_emitted_with_its_value() {
    let mut sw = switch();
    sw.set_clone_session(5, to_port(6)).expect("session");
    sw.set_default_action("ti", "i2e_hdr", &[4, 5])
        .expect("default");
    // Field list 3 keeps h.a, which ingress wrote (0xaa): the clone is
    // parsed again from the received bytes (a = 1), then takes the list's
    // values, as simple_switch does (`tests/bmv2_replication.rs`).
    assert_eq!(
        run(&mut sw, &IN),
        vec![
            (6, shown(0xaa, 0x11, 1, 0, 6, 12)),
            (4, shown(0xaa, 0x11, 0, 0, 4, 12)),
        ]
    );
}

#[test]
fn metadata_outside_the_field_list_is_reset_in_a_clone() {
    let mut sw = switch();
    sw.set_clone_session(5, to_port(6)).expect("session");
    sw.set_default_action("ti", "i2e_reset", &[4, 5])
        .expect("default");
    let out = run(&mut sw, &IN);
    // Field list 2 keeps m.y only: the clone's m.x is 0, the original's 0x11.
    assert_eq!(out[0], (6, shown(1, 0, 1, 0, 6, 12)));
    assert_eq!(out[1], (4, shown(0xaa, 0x11, 0, 0, 4, 12)));
}

#[test]
fn ingress_clone_to_a_group_sets_egress_rid_and_keeps_the_clone_type() {
    let mut sw = switch();
    sw.create_multicast_group(
        9,
        vec![Replica { port: 7, rid: 70 }, Replica { port: 8, rid: 80 }],
    )
    .expect("group");
    sw.set_clone_session(5, to_group(9)).expect("session");
    sw.set_default_action("ti", "i2e", &[4, 5])
        .expect("default");
    assert_eq!(
        run(&mut sw, &IN),
        vec![
            (7, shown(1, 0x11, 1, 70, 7, 12)),
            (8, shown(1, 0x11, 1, 80, 8, 12)),
            (4, shown(0xaa, 0x11, 0, 0, 4, 12)),
        ]
    );
    assert_eq!(sw.stats().cloned, 2);
    assert_eq!(sw.stats().replicated, 0);
}

/// simple_switch sets each replica's id on the packet it copies: the
/// port's copy, made after the group's, keeps the last replica's id.
#[test]
fn a_session_to_a_group_and_a_port_sends_to_the_group_first() {
    let mut sw = switch();
    sw.create_multicast_group(
        9,
        vec![Replica { port: 7, rid: 70 }, Replica { port: 8, rid: 80 }],
    )
    .expect("group");
    let both = CloneSession {
        port: Some(6),
        group: Some(9),
        truncate: None,
    };
    sw.set_clone_session(5, both).expect("session");
    sw.set_default_action("ti", "i2e", &[4, 5])
        .expect("default");
    assert_eq!(
        run(&mut sw, &IN),
        vec![
            (7, shown(1, 0x11, 1, 70, 7, 12)),
            (8, shown(1, 0x11, 1, 80, 8, 12)),
            (6, shown(1, 0x11, 1, 80, 6, 12)),
            (4, shown(0xaa, 0x11, 0, 0, 4, 12)),
        ]
    );
    assert_eq!(sw.stats().cloned, 3);

    // A group with no replicas sets no id: the port's copy has 0.
    sw.create_multicast_group(10, vec![]).expect("empty group");
    let both = CloneSession {
        port: Some(6),
        group: Some(10),
        truncate: None,
    };
    sw.set_clone_session(5, both).expect("session");
    assert_eq!(
        run(&mut sw, &IN),
        vec![
            (6, shown(1, 0x11, 1, 0, 6, 12)),
            (4, shown(0xaa, 0x11, 0, 0, 4, 12)),
        ]
    );
}

#[test]
fn a_clone_on_a_session_that_is_not_configured_makes_no_copy() {
    let mut sw = switch();
    sw.set_default_action("ti", "i2e", &[4, 5])
        .expect("default");
    assert_eq!(run(&mut sw, &IN), vec![(4, shown(0xaa, 0x11, 0, 0, 4, 12))]);
    assert_eq!(sw.stats().clone_no_session, 1);
    // A deleted session is not configured either.
    sw.set_clone_session(5, to_port(6)).expect("session");
    sw.delete_clone_session(5).expect("delete");
    assert_eq!(run(&mut sw, &IN).len(), 1);
    assert_eq!(sw.stats().clone_no_session, 2);
}

#[test]
fn egress_clone_has_the_headers_egress_wrote() {
    let mut sw = switch();
    sw.set_clone_session(5, to_port(6)).expect("session");
    sw.set_default_action("te", "e2e", &[5]).expect("default");
    // The original leaves at once; its clone (m.y = 1: `te2` shows it)
    // starts from the headers egress left (a = 0xaa from ingress, b, it,
    // port written by `show`) and shows its own view on top.
    assert_eq!(
        run(&mut sw, &IN),
        vec![
            (1, shown(0xaa, 0x44, 0, 0, 1, 12)),
            (6, shown(0xaa, 0x44, 2, 0, 6, 12)),
        ]
    );
    assert_eq!(sw.stats().cloned, 1);
}

#[test]
fn egress_clone_to_a_group_and_of_a_dropped_packet() {
    let mut sw = switch();
    sw.create_multicast_group(
        9,
        vec![Replica { port: 7, rid: 1 }, Replica { port: 7, rid: 2 }],
    )
    .expect("group");
    sw.set_clone_session(5, to_group(9)).expect("session");
    sw.set_default_action("te", "e2e_drop", &[5])
        .expect("default");
    // The original is dropped in egress; its clone is made before that.
    assert_eq!(
        run(&mut sw, &IN),
        vec![
            (7, shown(0xaa, 0x44, 2, 1, 7, 12)),
            (7, shown(0xaa, 0x44, 2, 2, 7, 12)),
        ]
    );
    assert_eq!(sw.stats().dropped_egress, 1);
}

#[test]
fn a_session_truncates_its_copies() {
    let mut sw = switch();
    let s = CloneSession {
        port: Some(6),
        group: None,
        truncate: Some(4),
    };
    sw.set_clone_session(5, s).expect("session");
    sw.set_default_action("ti", "i2e", &[4, 5])
        .expect("default");
    let out = run(&mut sw, &IN);
    assert_eq!(out[0], (6, vec![1, 0x11, 1, 0]));
    assert_eq!(out[1].1.len(), 12);
}

#[test]
fn truncate_cuts_the_packet_that_called_it() {
    let mut sw = switch();
    sw.set_default_action("ti", "trunc", &[2, 11])
        .expect("default");
    assert_eq!(
        run(&mut sw, &IN),
        vec![(2, shown(1, 0, 0, 0, 2, 12)[..11].to_vec())]
    );
}

#[test]
fn packet_length_in_egress_counts_added_headers() {
    let mut sw = switch();
    sw.set_clone_session(5, to_port(6)).expect("session");
    sw.set_default_action("ti", "grow", &[2]).expect("default");
    sw.set_default_action("te", "e2e", &[5]).expect("default");
    // `h2` (9 bytes) is added in ingress: egress sees 12 + 9 bytes, and so
    // does the egress clone.
    let grown = |b: u8, it: u8, port: u16| {
        let mut v = shown(1, b, it, 0, port, 21);
        v.splice(9..9, [0u8; 9]);
        v
    };
    assert_eq!(
        run(&mut sw, &IN),
        vec![(2, grown(0x44, 0, 2)), (6, grown(0x44, 2, 6))]
    );
}

#[test]
fn truncate_leaves_a_recirculated_packet_whole() {
    let mut sw = switch();
    sw.set_default_action("ti", "trunc", &[2, 11])
        .expect("default");
    sw.set_default_action("te", "recirc", &[]).expect("default");
    sw.set_default_action("ti2", "note", &[2]).expect("default");
    // The cut applies when the packet leaves; it goes round whole, and the
    // recirculated packet is a new one, not cut.
    assert_eq!(run(&mut sw, &IN), vec![(2, shown(4, 0x55, 0, 0, 2, 12))]);
}

#[test]
fn truncate_cuts_the_original_not_its_clone() {
    let mut sw = switch();
    sw.set_clone_session(5, to_port(6)).expect("session");
    sw.set_default_action("ti", "i2e_cut", &[4, 5, 10])
        .expect("default");
    assert_eq!(
        run(&mut sw, &IN),
        vec![
            (6, shown(1, 0x11, 1, 0, 6, 12)),
            (4, shown(0xaa, 0x11, 0, 0, 4, 12)[..10].to_vec()),
        ]
    );
}

#[test]
fn multicast_replicates_with_egress_rid_in_group_order() {
    let mut sw = switch();
    let replicas = vec![
        Replica { port: 8, rid: 400 },
        Replica { port: 6, rid: 401 },
        Replica { port: 6, rid: 402 },
    ];
    sw.create_multicast_group(1113, replicas.clone())
        .expect("group");
    assert_eq!(sw.multicast_group(1113), Ok(replicas));
    sw.set_default_action("ti", "mcast", &[1113])
        .expect("default");
    // Every copy keeps the metadata (m.x) and has instance type 5.
    assert_eq!(
        run(&mut sw, &IN),
        vec![
            (8, shown(0xaa, 0x11, 5, 400, 8, 12)),
            (6, shown(0xaa, 0x11, 5, 401, 6, 12)),
            (6, shown(0xaa, 0x11, 5, 402, 6, 12)),
        ]
    );
    assert_eq!(sw.stats().replicated, 3);
    assert_eq!(sw.stats().sent, 3);
}

#[test]
fn an_empty_or_unknown_group_drops() {
    let mut sw = switch();
    sw.set_default_action("ti", "mcast", &[5]).expect("default");
    assert_eq!(run(&mut sw, &IN), vec![]);
    assert_eq!(sw.stats().dropped_multicast, 1);
    sw.create_multicast_group(5, vec![]).expect("group");
    assert_eq!(run(&mut sw, &IN), vec![]);
    assert_eq!(sw.stats().dropped_multicast, 2);
    sw.modify_multicast_group(5, vec![Replica { port: 2, rid: 0 }])
        .expect("modify");
    assert_eq!(run(&mut sw, &IN).len(), 1);
    sw.delete_multicast_group(5).expect("delete");
    assert_eq!(run(&mut sw, &IN), vec![]);
    assert_eq!(sw.stats().dropped_multicast, 3);
}

#[test]
fn resubmit_runs_ingress_again_on_the_received_packet() {
    let mut sw = switch();
    sw.set_default_action("ti", "resub", &[]).expect("default");
    // Second pass (`ti2` = note): a = instance type 6 in ingress, the
    // original bytes otherwise; m.x kept; unicast to 1 is instance 0 in
    // egress, and the length is the received one.
    assert_eq!(run(&mut sw, &IN), vec![(1, shown(6, 0x33, 0, 0, 1, 12))]);
    assert_eq!(sw.stats().resubmitted, 1);
}

#[test]
fn an_ingress_clone_is_made_before_a_resubmit_or_a_multicast() {
    let mut sw = switch();
    sw.set_clone_session(5, to_port(6)).expect("session");
    sw.set_default_action("ti", "i2e_resub", &[5])
        .expect("default");
    assert_eq!(
        run(&mut sw, &IN),
        vec![
            (6, shown(1, 0x33, 1, 0, 6, 12)),
            (1, shown(6, 0x33, 0, 0, 1, 12)),
        ]
    );
    let mut sw = switch();
    sw.set_clone_session(5, to_port(6)).expect("session");
    sw.create_multicast_group(9, vec![Replica { port: 7, rid: 70 }])
        .expect("group");
    sw.set_default_action("ti", "i2e_mcast", &[9, 5])
        .expect("default");
    // Field list 2 keeps only m.y: the clone's m.x is 0.
    assert_eq!(
        run(&mut sw, &IN),
        vec![
            (6, shown(1, 0, 1, 0, 6, 12)),
            (7, shown(1, 0x11, 5, 70, 7, 12)),
        ]
    );
}

#[test]
fn recirculate_runs_the_deparsed_packet_again() {
    let mut sw = switch();
    sw.set_default_action("te", "recirc", &[]).expect("default");
    sw.set_default_action("ti2", "note", &[2]).expect("default");
    // First pass: egress port 1 shows (b = 0x55, port 1) and recirculates
    // the deparsed packet; the second ingress writes a = 4 and sends to
    // port 2, where `te2` shows b = 0x55 again (kept by the field list).
    assert_eq!(run(&mut sw, &IN), vec![(2, shown(4, 0x55, 0, 0, 2, 12))]);
    assert_eq!(sw.stats().recirculated, 1);
}

#[test]
fn endless_resubmits_recirculations_and_clones_stop_at_the_cap() {
    let mut sw = switch();
    sw.set_default_action("ti", "resub", &[]).expect("default");
    sw.set_default_action("ti2", "resub", &[]).expect("default");
    assert_eq!(run(&mut sw, &IN), vec![]);
    assert_eq!(sw.stats().resubmitted, u64::from(MAX_GENERATIONS));
    assert_eq!(sw.stats().dropped_loop, 1);

    let mut sw = switch();
    sw.set_default_action("te", "recirc", &[]).expect("default");
    sw.set_default_action("te2", "recirc", &[])
        .expect("default");
    assert_eq!(run(&mut sw, &IN), vec![]);
    assert_eq!(sw.stats().recirculated, u64::from(MAX_GENERATIONS));
    assert_eq!(sw.stats().dropped_loop, 1);

    // Each egress clone clones again: the original and MAX_GENERATIONS
    // clones go out, the next clone is not made.
    let mut sw = switch();
    sw.set_clone_session(5, to_port(6)).expect("session");
    sw.set_default_action("te", "e2e", &[5]).expect("default");
    sw.set_default_action("te2", "e2e", &[5]).expect("default");
    let out = run(&mut sw, &IN);
    assert_eq!(out.len() as u32, 1 + MAX_GENERATIONS);
    assert!(out[1..].iter().all(|(p, _)| *p == 6));
    assert_eq!(sw.stats().dropped_loop, 1);
    // The switch is ready for the next packet.
    sw.set_default_action("te", "show", &[]).expect("default");
    assert_eq!(run(&mut sw, &IN).len(), 1);
}

#[test]
fn one_packet_makes_at_most_max_copies() {
    let mut sw = switch();
    let replicas = (0..MAX_COPIES + 5)
        .map(|i| Replica {
            port: 1 + i % 8,
            rid: i % 65_536,
        })
        .collect();
    sw.create_multicast_group(7, replicas).expect("group");
    sw.set_default_action("ti", "mcast", &[7]).expect("default");
    let mut sent = 0u32;
    sw.process(3, &IN, 0, &mut |_, _| sent += 1);
    assert_eq!(sent, MAX_COPIES);
    assert_eq!(sw.stats().dropped_loop, 5);
    // The count starts again with the next packet.
    sw.modify_multicast_group(7, vec![Replica { port: 1, rid: 0 }])
        .expect("modify");
    assert_eq!(run(&mut sw, &IN).len(), 1);
}

#[test]
fn clone_sessions_are_set_read_and_deleted() {
    let mut sw = switch();
    assert_eq!(sw.clone_session(1), Err(Error::NoSuchCloneSession(1)));
    sw.set_clone_session(1, to_port(6)).expect("session");
    sw.set_clone_session(2, to_group(9)).expect("session");
    sw.set_clone_session(1, to_port(7)).expect("replace");
    assert_eq!(sw.clone_session(1), Ok(to_port(7)));
    assert_eq!(sw.clone_sessions(), vec![(1, to_port(7)), (2, to_group(9))]);
    sw.delete_clone_session(1).expect("delete");
    assert_eq!(
        sw.delete_clone_session(1),
        Err(Error::NoSuchCloneSession(1))
    );
}

#[test]
fn bad_clone_sessions_are_refused() {
    let mut sw = switch();
    let bad = |r: Result<(), Error>| match r {
        Err(Error::BadCloneSession { reason, .. }) => reason,
        other => panic!("expected a refusal, got {other:?}"),
    };
    let too_big = bad(sw.set_clone_session(MAX_SESSION_ID + 1, to_port(1)));
    assert!(too_big.contains("at most 32767"), "{too_big}");
    let nowhere = CloneSession {
        port: None,
        group: None,
        truncate: None,
    };
    assert!(bad(sw.set_clone_session(1, nowhere)).contains("needs a port"));
    // The program's egress_port is 9 bits wide.
    assert!(bad(sw.set_clone_session(1, to_port(512))).contains("9-bit"));
    assert!(bad(sw.set_clone_session(1, to_group(0))).contains("1..=65535"));
    let cut0 = CloneSession {
        truncate: Some(0),
        ..to_port(1)
    };
    assert!(bad(sw.set_clone_session(1, cut0)).contains("at least 1 byte"));
    assert!(sw.clone_sessions().is_empty());
}

#[test]
fn multicast_group_errors() {
    let mut sw = switch();
    let r = |port, rid| Replica { port, rid };
    sw.create_multicast_group(3, vec![r(1, 0)]).expect("group");
    assert_eq!(
        sw.create_multicast_group(3, vec![]),
        Err(Error::MulticastGroupExists(3))
    );
    assert_eq!(
        sw.modify_multicast_group(4, vec![]),
        Err(Error::NoSuchMulticastGroup(4))
    );
    assert_eq!(
        sw.delete_multicast_group(4),
        Err(Error::NoSuchMulticastGroup(4))
    );
    assert_eq!(sw.multicast_group(4), Err(Error::NoSuchMulticastGroup(4)));
    for (id, replicas, why) in [
        (0, vec![], "1..=65535"),
        (70_000, vec![], "1..=65535"),
        (5, vec![r(600, 0)], "9-bit"),
        (5, vec![r(1, 70_000)], "16 bits"),
    ] {
        match sw.create_multicast_group(id, replicas) {
            Err(Error::BadMulticastGroup { reason, .. }) => {
                assert!(reason.contains(why), "{reason}")
            }
            other => panic!("group {id}: expected a refusal, got {other:?}"),
        }
    }
    assert_eq!(sw.multicast_groups(), vec![(3, vec![r(1, 0)])]);
}

/// simple_switch keeps a resubmit's or recirculation's field list id as
/// its request flag: list 0 asks for nothing (and need not exist).
#[test]
fn resubmit_and_recirculate_of_field_list_0_do_nothing() {
    let text = program(false)
        .replace(
            r#""resubmit","parameters":[{"type":"hexstr","value":"0x1"}]"#,
            r#""resubmit","parameters":[{"type":"hexstr","value":"0x0"}]"#,
        )
        .replace(
            r#""recirculate","parameters":[{"type":"hexstr","value":"0x1"}]"#,
            r#""recirculate","parameters":[{"type":"hexstr","value":"0x0"}]"#,
        );
    assert!(
        !text.contains(r#""resubmit","parameters":[{"type":"hexstr","value":"0x1"}]"#)
            && !text.contains(r#""recirculate","parameters":[{"type":"hexstr","value":"0x1"}]"#),
        "every resubmit and recirculation of list 1 now names list 0"
    );
    let mut sw = Switch::load(&text).expect("loads");
    sw.set_default_action("ti", "resub", &[]).expect("default");
    // One pass: egress_spec stays 0.
    assert_eq!(run(&mut sw, &IN), vec![(0, shown(0xaa, 0x33, 0, 0, 0, 12))]);
    sw.set_default_action("ti", "fwd", &[4]).expect("default");
    sw.set_default_action("te", "recirc", &[]).expect("default");
    assert_eq!(run(&mut sw, &IN), vec![(4, shown(0xaa, 0x55, 0, 0, 4, 12))]);
    assert_eq!((sw.stats().resubmitted, sw.stats().recirculated), (0, 0));
}

#[test]
fn an_unknown_field_list_is_refused_at_load() {
    let text = program(false).replace(
        r#""resubmit","parameters":[{"type":"hexstr","value":"0x1"}]"#,
        r#""resubmit","parameters":[{"type":"hexstr","value":"0x7"}]"#,
    );
    assert_ne!(text, program(false), "the program names field list 1");
    match Switch::load(&text) {
        Err(Error::Refused { path, reason }) => {
            assert!(path.contains("`resubmit`"), "{path}");
            assert!(reason.contains("field list id 7"), "{reason}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn a_field_list_that_cannot_be_preserved_is_refused_only_when_used() {
    let mut doc: serde_json::Value = serde_json::from_str(&program(false)).expect("JSON");
    let lists = doc["field_lists"].as_array_mut().expect("field lists");
    let at = lists.len();
    lists.push(serde_json::json!({"id": 9, "name": "digest",
        "elements": [{"type": "hexstr", "value": "0x1", "bitwidth": 8}]}));
    assert!(
        Switch::load(&doc.to_string()).is_ok(),
        "an unused list loads"
    );
    let text = doc.to_string().replace(
        r#""resubmit","parameters":[{"type":"hexstr","value":"0x1"}]"#,
        r#""resubmit","parameters":[{"type":"hexstr","value":"0x9"}]"#,
    );
    match Switch::load(&text) {
        Err(Error::Refused { path, reason }) => {
            assert_eq!(path, format!("$.field_lists[{at}].elements[0]"));
            assert!(reason.contains("type `hexstr`"), "{reason}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn a_copy_whose_priority_has_no_queue_is_dropped() {
    let mut sw = switch();
    assert_eq!(
        sw.priority_queues(),
        1,
        "one queue a port, as simple_switch"
    );
    sw.set_default_action("ti", "prio", &[4, 0])
        .expect("default");
    assert_eq!(run(&mut sw, &IN), vec![(4, shown(0xaa, 0x11, 0, 0, 4, 12))]);
    sw.set_default_action("ti", "prio", &[4, 1])
        .expect("default");
    assert_eq!(run(&mut sw, &IN), vec![]);
    let s = sw.stats();
    assert_eq!((s.received, s.sent, s.dropped_priority), (2, 1, 1));

    sw.set_priority_queues(8).expect("8 queues");
    assert_eq!(sw.priority_queues(), 8);
    sw.set_default_action("ti", "prio", &[4, 7])
        .expect("default");
    assert_eq!(run(&mut sw, &IN), vec![(4, shown(0xaa, 0x11, 0, 0, 4, 12))]);
    sw.set_default_action("ti", "prio", &[4, 8])
        .expect("default");
    assert_eq!(run(&mut sw, &IN), vec![]);
    let s = sw.stats();
    assert_eq!((s.received, s.sent, s.dropped_priority), (4, 2, 2));
}

#[test]
fn the_priority_is_read_as_intrinsic_metadata_only() {
    let mut sw = switch();
    sw.set_default_action("ti", "prio", &[4, 1])
        .expect("default");
    assert_eq!(run(&mut sw, &IN), vec![]);
    assert_eq!(sw.stats().dropped_priority, 1);
    // Without the alias, `standard_metadata.priority` is a field like any
    // other to simple_switch: nothing is dropped.
    let text = program(false).replace(
        "intrinsic_metadata.priority",
        "intrinsic_metadata.not_the_priority",
    );
    let mut sw = Switch::load(&text).expect("loads");
    sw.set_default_action("ti", "prio", &[4, 1])
        .expect("default");
    assert_eq!(run(&mut sw, &IN).len(), 1);
    assert_eq!(sw.stats().dropped_priority, 0);
}

#[test]
fn every_multicast_replica_of_a_priority_without_queue_is_dropped() {
    let mut sw = switch();
    sw.create_multicast_group(
        9,
        vec![Replica { port: 7, rid: 70 }, Replica { port: 8, rid: 80 }],
    )
    .expect("group");
    sw.set_default_action("ti", "mcast_prio", &[9, 1])
        .expect("default");
    assert_eq!(run(&mut sw, &IN), vec![]);
    let s = sw.stats();
    assert_eq!((s.replicated, s.dropped_priority, s.sent), (2, 2, 0));
    sw.set_priority_queues(2).expect("2 queues");
    assert_eq!(
        run(&mut sw, &IN),
        vec![
            (7, shown(0xaa, 0x11, 5, 70, 7, 12)),
            (8, shown(0xaa, 0x11, 5, 80, 8, 12)),
        ]
    );
}

#[test]
fn an_ingress_clone_has_priority_0_unless_its_field_list_keeps_it() {
    let mut sw = switch();
    sw.set_clone_session(5, to_port(6)).expect("session");
    // Field list 1 leaves the priority out: the clone has priority 0 and
    // goes out; the original (priority 1) is dropped.
    sw.set_default_action("ti", "i2e_prio", &[4, 5, 1])
        .expect("default");
    assert_eq!(run(&mut sw, &IN), vec![(6, shown(1, 0x11, 1, 0, 6, 12))]);
    assert_eq!(sw.stats().dropped_priority, 1);
    // Field list 4 keeps it: both are dropped.
    sw.set_default_action("ti", "i2e_prio_kept", &[4, 5, 1])
        .expect("default");
    assert_eq!(run(&mut sw, &IN), vec![]);
    let s = sw.stats();
    assert_eq!((s.cloned, s.dropped_priority, s.sent), (2, 3, 1));
}

#[test]
fn an_egress_clone_is_dropped_for_the_priority_its_field_list_keeps() {
    let mut sw = switch();
    sw.set_clone_session(5, to_port(6)).expect("session");
    // Egress gives the packet priority 1: the packet itself was queued
    // already and goes out; its clone keeps the priority and is dropped.
    sw.set_default_action("te", "e2e_prio", &[5, 1])
        .expect("default");
    assert_eq!(run(&mut sw, &IN), vec![(1, shown(0xaa, 0x44, 0, 0, 1, 12))]);
    let s = sw.stats();
    assert_eq!((s.cloned, s.dropped_priority, s.sent), (1, 1, 1));
    sw.set_default_action("te", "e2e_prio", &[5, 0])
        .expect("default");
    assert_eq!(
        run(&mut sw, &IN),
        vec![
            (1, shown(0xaa, 0x44, 0, 0, 1, 12)),
            (6, shown(0xaa, 0x44, 2, 0, 6, 12)),
        ]
    );
}

#[test]
fn resubmitted_and_recirculated_packets_keep_the_priority_of_their_field_list() {
    let mut sw = switch();
    sw.set_default_action("ti", "resub_prio", &[1])
        .expect("default");
    assert_eq!(run(&mut sw, &IN), vec![]);
    let s = sw.stats();
    assert_eq!((s.resubmitted, s.dropped_priority), (1, 1));
    sw.set_priority_queues(2).expect("2 queues");
    assert_eq!(run(&mut sw, &IN), vec![(1, shown(6, 0x33, 0, 0, 1, 12))]);

    let mut sw = switch();
    sw.set_default_action("te", "recirc_prio", &[1])
        .expect("default");
    assert_eq!(run(&mut sw, &IN), vec![]);
    let s = sw.stats();
    assert_eq!((s.recirculated, s.dropped_priority), (1, 1));
    sw.set_priority_queues(2).expect("2 queues");
    assert_eq!(run(&mut sw, &IN), vec![(1, shown(4, 0x55, 0, 0, 1, 12))]);
}

#[test]
fn the_priority_queue_count_is_checked() {
    let mut sw = switch();
    for bad in [0, MAX_PRIORITY_QUEUES + 1] {
        assert_eq!(
            sw.set_priority_queues(bad),
            Err(Error::BadPriorityQueues(bad))
        );
    }
    assert_eq!(sw.priority_queues(), 1, "a refused count changes nothing");
    sw.set_priority_queues(MAX_PRIORITY_QUEUES)
        .expect("the largest count");
    assert_eq!(sw.priority_queues(), MAX_PRIORITY_QUEUES);
    assert!(Error::BadPriorityQueues(0)
        .to_string()
        .contains(&format!("1..={MAX_PRIORITY_QUEUES}")));
}
