//! P4Info for a program, in protobuf text format.
//!
//! IDs carry the P4Runtime per-kind prefix in their top byte (actions 0x01,
//! tables 0x02, controller headers 0x04, counters 0x12, meters 0x14, direct
//! meters 0x15). The low 24 bits are an FNV-1a hash of the fully qualified
//! name, so an entity keeps its ID across runs and across unrelated edits;
//! on a collision the next free value is taken, in name order.

use crate::bmv2::p4_field_name;
use crate::ir::*;
use crate::qualified;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

pub const PREFIX_ACTION: u32 = 0x01;
pub const PREFIX_TABLE: u32 = 0x02;
pub const PREFIX_CONTROLLER_HEADER: u32 = 0x04;
pub const PREFIX_COUNTER: u32 = 0x12;
pub const PREFIX_METER: u32 = 0x14;
pub const PREFIX_DIRECT_METER: u32 = 0x15;

fn fnv1a(s: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in s.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// Assigns IDs to the names of one kind.
pub fn assign_ids(prefix: u32, names: &[String]) -> BTreeMap<String, u32> {
    let sorted: BTreeSet<&String> = names.iter().collect();
    let mut used = BTreeSet::new();
    let mut out = BTreeMap::new();
    for n in sorted {
        let mut low = fnv1a(n) & 0x00ff_ffff;
        // Zero is not a valid ID's low part in practice; skip it too.
        while low == 0 || used.contains(&low) {
            low = (low + 1) & 0x00ff_ffff;
        }
        used.insert(low);
        out.insert(n.clone(), (prefix << 24) | low);
    }
    out
}

/// The IDs of every P4Info entity of a program, by qualified name.
#[derive(Debug, Clone, Default)]
pub struct Ids {
    pub actions: BTreeMap<String, u32>,
    pub tables: BTreeMap<String, u32>,
    pub meters: BTreeMap<String, u32>,
    pub direct_meters: BTreeMap<String, u32>,
    pub counters: BTreeMap<String, u32>,
    pub controller_headers: BTreeMap<String, u32>,
}

impl Ids {
    pub fn of(prog: &Program) -> Ids {
        let names = |it: &mut dyn Iterator<Item = String>| it.collect::<Vec<_>>();
        Ids {
            actions: assign_ids(
                PREFIX_ACTION,
                &names(&mut prog.actions.iter().map(|a| qualified(&a.name))),
            ),
            tables: assign_ids(
                PREFIX_TABLE,
                &names(&mut prog.tables.iter().map(|t| qualified(&t.name))),
            ),
            meters: assign_ids(
                PREFIX_METER,
                &names(
                    &mut prog
                        .meters
                        .iter()
                        .filter(|m| m.direct.is_none())
                        .map(|m| qualified(&m.name)),
                ),
            ),
            direct_meters: assign_ids(
                PREFIX_DIRECT_METER,
                &names(
                    &mut prog
                        .meters
                        .iter()
                        .filter(|m| m.direct.is_some())
                        .map(|m| qualified(&m.name)),
                ),
            ),
            counters: assign_ids(
                PREFIX_COUNTER,
                &names(&mut prog.counters.iter().map(|c| qualified(&c.name))),
            ),
            controller_headers: assign_ids(
                PREFIX_CONTROLLER_HEADER,
                &names(
                    &mut prog
                        .header_types
                        .iter()
                        .filter_map(|h| h.controller_header.clone()),
                ),
            ),
        }
    }
}

fn preamble(out: &mut String, id: u32, name: &str, alias: &str) {
    let _ = writeln!(
        out,
        "  preamble {{\n    id: {id}\n    name: \"{name}\"\n    alias: \"{alias}\"\n  }}"
    );
}

fn short(name: &str) -> &str {
    name.rsplit('.').next().unwrap_or(name)
}

/// Renders the P4Info of a program in text format.
pub fn render(prog: &Program) -> String {
    let ids = Ids::of(prog);
    let id = |m: &BTreeMap<String, u32>, n: &str| m.get(n).copied().unwrap_or(0);
    let mut out = String::from("pkg_info {\n  arch: \"v1model\"\n}\n");
    for t in &prog.tables {
        let name = qualified(&t.name);
        out.push_str("tables {\n");
        preamble(&mut out, id(&ids.tables, &name), &name, short(&name));
        for (i, k) in t.keys.iter().enumerate() {
            let kind = match k.kind {
                MatchKind::Exact => "EXACT",
                MatchKind::Lpm => "LPM",
                MatchKind::Ternary => "TERNARY",
            };
            let _ = writeln!(
                out,
                "  match_fields {{\n    id: {}\n    name: \"{}\"\n    bitwidth: {}\n    match_type: {kind}\n  }}",
                i + 1,
                p4_field_name(prog, k.field),
                prog.field_width(k.field)
            );
        }
        for a in &t.actions {
            let _ = writeln!(
                out,
                "  action_refs {{\n    id: {}\n  }}",
                id(&ids.actions, &qualified(&prog.actions[a.0].name))
            );
        }
        if t.default_const {
            let _ = writeln!(
                out,
                "  const_default_action_id: {}",
                id(
                    &ids.actions,
                    &qualified(&prog.actions[t.default_action.0 .0].name)
                )
            );
        }
        if let Some(m) = t.direct_meter {
            let _ = writeln!(
                out,
                "  direct_resource_ids: {}",
                id(&ids.direct_meters, &qualified(&prog.meters[m.0].name))
            );
        }
        let _ = writeln!(out, "  size: {}\n}}", t.size);
    }
    for a in &prog.actions {
        let name = qualified(&a.name);
        out.push_str("actions {\n");
        preamble(&mut out, id(&ids.actions, &name), &name, short(&name));
        for (i, p) in a.params.iter().enumerate() {
            let _ = writeln!(
                out,
                "  params {{\n    id: {}\n    name: \"{}\"\n    bitwidth: {}\n  }}",
                i + 1,
                p.name,
                p.width
            );
        }
        out.push_str("}\n");
    }
    for c in &prog.counters {
        let name = qualified(&c.name);
        out.push_str("counters {\n");
        preamble(&mut out, id(&ids.counters, &name), &name, short(&name));
        let _ = writeln!(
            out,
            "  spec {{\n    unit: BOTH\n  }}\n  size: {}\n}}",
            c.size
        );
    }
    let unit = |u: MeterUnit| match u {
        MeterUnit::Bytes => "BYTES",
        MeterUnit::Packets => "PACKETS",
    };
    for m in prog.meters.iter().filter(|m| m.direct.is_none()) {
        let name = qualified(&m.name);
        out.push_str("meters {\n");
        preamble(&mut out, id(&ids.meters, &name), &name, short(&name));
        let _ = writeln!(
            out,
            "  spec {{\n    unit: {}\n  }}\n  size: {}\n}}",
            unit(m.unit),
            m.size
        );
    }
    for m in prog.meters.iter() {
        let Some(t) = m.direct else { continue };
        let name = qualified(&m.name);
        out.push_str("direct_meters {\n");
        preamble(&mut out, id(&ids.direct_meters, &name), &name, short(&name));
        let _ = writeln!(
            out,
            "  spec {{\n    unit: {}\n  }}\n  direct_table_id: {}\n}}",
            unit(m.unit),
            id(&ids.tables, &qualified(&prog.tables[t.0].name))
        );
    }
    for h in &prog.header_types {
        let Some(c) = &h.controller_header else {
            continue;
        };
        out.push_str("controller_packet_metadata {\n");
        let _ = writeln!(out, "  preamble {{\n    id: {}\n    name: \"{c}\"\n    alias: \"{c}\"\n    annotations: \"@controller_header(\\\"{c}\\\")\"\n  }}", id(&ids.controller_headers, c));
        for (i, f) in h.fields.iter().enumerate() {
            let _ = writeln!(
                out,
                "  metadata {{\n    id: {}\n    name: \"{}\"\n    bitwidth: {}\n  }}",
                i + 1,
                f.name,
                f.width
            );
        }
        out.push_str("}\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_the_kind_prefix_and_do_not_depend_on_order() {
        let a = assign_ids(PREFIX_TABLE, &["Ingress.b".into(), "Ingress.a".into()]);
        let b = assign_ids(PREFIX_TABLE, &["Ingress.a".into(), "Ingress.b".into()]);
        assert_eq!(a, b);
        for id in a.values() {
            assert_eq!(id >> 24, PREFIX_TABLE);
            assert_ne!(id & 0x00ff_ffff, 0);
        }
    }

    #[test]
    fn an_id_survives_unrelated_additions() {
        let before = assign_ids(PREFIX_ACTION, &["Ingress.forward".into()]);
        let after = assign_ids(
            PREFIX_ACTION,
            &["Ingress.forward".into(), "Ingress.other".into()],
        );
        assert_eq!(before["Ingress.forward"], after["Ingress.forward"]);
    }

    #[test]
    fn colliding_hashes_get_distinct_ids() {
        // 5,000 names over 2^24 values: collisions are unlikely but the
        // probing must keep every id distinct whatever happens.
        let names: Vec<String> = (0..5000).map(|i| format!("Ingress.t{i}")).collect();
        let ids = assign_ids(PREFIX_TABLE, &names);
        let distinct: BTreeSet<u32> = ids.values().copied().collect();
        assert_eq!(distinct.len(), names.len());
    }
}
