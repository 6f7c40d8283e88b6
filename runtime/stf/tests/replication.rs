//! Multicast and mirroring commands, on the replication test program of
//! the switch crate (`h` = a b it rid:16 port:16 len:16; tables `ti` and
//! `te` keyed on `h.b`; egress writes what it sees into `h`).

#[path = "../../switch/tests/support/pre_program.rs"]
mod pre_program;

use fairshare_stf::run_texts;

const STF: &str = "
mc_mgrp_create 1113
mc_node_create 400 8
mc_node_create 401 6 2
mc_node_associate 1113 0
mc_node_associate 1113 1
add ti h.b:7 mcast(p0:1113)
mirroring_add 5 6
add ti h.b:2 i2e(p0:4, p1:5)
mirroring_get 5

# Multicast: node 0 (rid 400) then node 1 (rid 401), its ports in order.
packet 3 01 07 00 0000 0000 0000 00 dead
expect 8 aa 11 05 0190 0008 000c 00 dead $
expect 2 aa 11 05 0191 0002 000c 00 dead $
expect 6 aa 11 05 0191 0006 000c 00 dead $

# An ingress clone to port 6: the packet as received, instance type 1.
packet 3 01 02 00 0000 0000 0000 00 dead
expect 6 01 11 01 0000 0006 000c 00 dead $
expect 4 aa 11 00 0000 0004 000c 00 dead $
";

#[test]
fn multicast_and_mirroring_commands_drive_the_switch() {
    let o = run_texts(&pre_program::program(true), STF).expect("runs");
    assert!(o.passed(), "{}", o.reason());
    assert_eq!(o.reads, vec!["mirroring session 5: port 6".to_string()]);
    assert_eq!((o.stats.replicated, o.stats.cloned), (3, 1));
}

#[test]
fn a_node_joins_one_group() {
    let stf = "mc_mgrp_create 1\nmc_mgrp_create 2\nmc_node_create 1 3\n\
               mc_node_associate 1 0\nmc_node_associate 2 0\n";
    let o = run_texts(&pre_program::program(true), stf).expect("runs");
    assert!(
        o.reason()
            .contains("node 0 is in multicast group 1 already"),
        "{}",
        o.reason()
    );
}
