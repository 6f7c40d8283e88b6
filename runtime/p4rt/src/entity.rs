//! Entities built by name through a [`P4InfoIndex`]: table entries from
//! table, field, action and parameter names with integer values, meter,
//! counter and register cells by name, the direct meter and direct counter
//! of an entry, and the packet replication engine's entries.
//!
//! Values are checked against the P4Info's bit widths and written as
//! canonical byte strings. A match field whose match is "anything" (LPM
//! prefix 0, ternary mask 0) is left out, as P4Runtime requires; exact
//! fields must be given.
//!
//! ```
//! use fairshare_p4rt::entity::{self, Match};
//! # fn demo(index: &fairshare_p4rt::P4InfoIndex) -> Result<(), fairshare_p4rt::Error> {
//! let route = entity::table_entry(
//!     index,
//!     "Ingress.ipv4_lpm",
//!     &[("hdr.ipv4.dst_addr", Match::Lpm { value: 0x0a00_0000, prefix_len: 8 })],
//!     "Ingress.forward",
//!     &[("port", 1), ("src_mac", 0x0200_0000_0001), ("dst_mac", 0x0200_0000_0002)],
//!     0,
//! )?;
//! let update = entity::insert(route);
//! # let _ = update; Ok(()) }
//! ```

use crate::bytestring::BitString;
use crate::proto::p4::config::v1 as cfg;
use crate::proto::p4::v1 as p4;
use crate::{EntityKind, Error, P4InfoIndex};

/// The match of one field, by value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Match {
    Exact(u128),
    Lpm { value: u128, prefix_len: u32 },
    Ternary { value: u128, mask: u128 },
    Range { low: u128, high: u128 },
    Optional(u128),
}

macro_rules! into_entity {
    ($($ty:ident => $variant:ident;)*) => {
        $(
            impl From<p4::$ty> for p4::Entity {
                fn from(e: p4::$ty) -> Self {
                    p4::Entity { entity: Some(p4::entity::Entity::$variant(e)) }
                }
            }
        )*
    };
}

into_entity! {
    TableEntry => TableEntry;
    MeterEntry => MeterEntry;
    DirectMeterEntry => DirectMeterEntry;
    CounterEntry => CounterEntry;
    DirectCounterEntry => DirectCounterEntry;
    RegisterEntry => RegisterEntry;
    PacketReplicationEngineEntry => PacketReplicationEngineEntry;
}

/// An update of `kind` for `entity`.
pub fn update(kind: p4::update::Type, entity: impl Into<p4::Entity>) -> p4::Update {
    p4::Update {
        r#type: kind as i32,
        entity: Some(entity.into()),
    }
}

/// An INSERT update.
pub fn insert(entity: impl Into<p4::Entity>) -> p4::Update {
    update(p4::update::Type::Insert, entity)
}

/// A MODIFY update.
pub fn modify(entity: impl Into<p4::Entity>) -> p4::Update {
    update(p4::update::Type::Modify, entity)
}

/// A DELETE update.
pub fn delete(entity: impl Into<p4::Entity>) -> p4::Update {
    update(p4::update::Type::Delete, entity)
}

fn id_of(index: &P4InfoIndex, kind: EntityKind, name: &str) -> Result<u32, Error> {
    index.id(kind, name).ok_or_else(|| Error::UnknownName {
        kind,
        name: name.to_owned(),
    })
}

fn bits(value: u128, bitwidth: i32) -> Result<Vec<u8>, Error> {
    Ok(BitString::from_u128(value, bitwidth.max(0) as u32)?.into_bytes())
}

fn width(bitwidth: i32) -> u32 {
    bitwidth.max(0) as u32
}

fn all_ones(bitwidth: i32) -> u128 {
    match width(bitwidth) {
        w if w >= 128 => u128::MAX,
        w => (1u128 << w) - 1,
    }
}

/// A table entry: the table, its matches by field name, the action and its
/// parameters by name, and the priority (0 for tables without ternary,
/// range or optional fields).
///
/// # Errors
/// [`Error::UnknownName`] for an unknown table or action;
/// [`Error::BadMember`] for an unknown, repeated or missing field or
/// parameter, or an action the table does not take;
/// [`Error::WrongMatchKind`]; [`Error::ValueTooWide`].
pub fn table_entry(
    index: &P4InfoIndex,
    table: &str,
    matches: &[(&str, Match)],
    action: &str,
    params: &[(&str, u128)],
    priority: i32,
) -> Result<p4::TableEntry, Error> {
    let table_id = id_of(index, EntityKind::Table, table)?;
    let info = index.table(table_id).ok_or(Error::UnknownName {
        kind: EntityKind::Table,
        name: table.to_owned(),
    })?;
    let mut fields = Vec::with_capacity(matches.len());
    for (name, m) in matches {
        let Some(f) = index.match_field_by_name(table_id, name) else {
            return Err(Error::BadMember {
                parent: format!("table `{table}`"),
                expected: format!(
                    "one of its match fields {:?}",
                    info.match_fields
                        .iter()
                        .map(|f| &f.name)
                        .collect::<Vec<_>>()
                ),
                found: format!("`{name}`"),
            });
        };
        if fields.iter().any(|x: &p4::FieldMatch| x.field_id == f.id) {
            return Err(Error::BadMember {
                parent: format!("table `{table}`"),
                expected: "each match field once".into(),
                found: format!("`{name}` twice"),
            });
        }
        if let Some(m) = field_match(f, *m)? {
            fields.push(p4::FieldMatch {
                field_id: f.id,
                field_match_type: Some(m),
            });
        }
    }
    let exact = cfg::match_field::MatchType::Exact as i32;
    if let Some(f) = info.match_fields.iter().find(|f| {
        f.r#match == Some(cfg::match_field::Match::MatchType(exact))
            && !fields.iter().any(|x| x.field_id == f.id)
    }) {
        return Err(Error::BadMember {
            parent: format!("table `{table}`"),
            expected: format!("a value for exact match field `{}`", f.name),
            found: "none".into(),
        });
    }
    Ok(p4::TableEntry {
        table_id,
        r#match: fields,
        action: Some(table_action(index, table_id, table, action, params)?),
        priority,
        ..Default::default()
    })
}

/// The default entry of a table (for a MODIFY).
///
/// # Errors
/// As [`table_entry`].
pub fn default_entry(
    index: &P4InfoIndex,
    table: &str,
    action: &str,
    params: &[(&str, u128)],
) -> Result<p4::TableEntry, Error> {
    let table_id = id_of(index, EntityKind::Table, table)?;
    Ok(p4::TableEntry {
        table_id,
        action: Some(table_action(index, table_id, table, action, params)?),
        is_default_action: true,
        ..Default::default()
    })
}

/// A read request for every entry of a table, or of every table when
/// `table` is `None`.
///
/// # Errors
/// [`Error::UnknownName`] for an unknown table.
pub fn all_entries(index: &P4InfoIndex, table: Option<&str>) -> Result<p4::Entity, Error> {
    let table_id = match table {
        Some(t) => id_of(index, EntityKind::Table, t)?,
        None => 0,
    };
    Ok(p4::TableEntry {
        table_id,
        ..Default::default()
    }
    .into())
}

fn field_match(
    f: &cfg::MatchField,
    m: Match,
) -> Result<Option<p4::field_match::FieldMatchType>, Error> {
    use cfg::match_field::MatchType as Mt;
    use p4::field_match as fm;
    let kind = match f.r#match {
        Some(cfg::match_field::Match::MatchType(t)) => Mt::try_from(t).unwrap_or(Mt::Unspecified),
        _ => Mt::Unspecified,
    };
    let w = f.bitwidth;
    let wrong = |found: &str| Error::WrongMatchKind {
        field: f.name.clone(),
        kind: kind.as_str_name().to_owned(),
        found: found.to_owned(),
    };
    Ok(match (kind, m) {
        (Mt::Exact, Match::Exact(v)) => {
            Some(fm::FieldMatchType::Exact(fm::Exact { value: bits(v, w)? }))
        }
        (Mt::Lpm, Match::Lpm { prefix_len: 0, .. }) => None,
        (Mt::Lpm, Match::Lpm { value, prefix_len }) => {
            if prefix_len > width(w) {
                return Err(wrong(&format!("a /{prefix_len} prefix of a {w}-bit field")));
            }
            let host = all_ones(w) >> prefix_len.min(127);
            let host = if prefix_len >= 128 { 0 } else { host };
            Some(fm::FieldMatchType::Lpm(fm::Lpm {
                value: bits(value & !host, w)?,
                prefix_len: prefix_len as i32,
            }))
        }
        (Mt::Lpm, Match::Exact(v)) => Some(fm::FieldMatchType::Lpm(fm::Lpm {
            value: bits(v, w)?,
            prefix_len: w,
        })),
        (Mt::Ternary, Match::Ternary { mask: 0, .. }) => None,
        (Mt::Ternary, Match::Ternary { value, mask }) => {
            Some(fm::FieldMatchType::Ternary(fm::Ternary {
                value: bits(value & mask, w)?,
                mask: bits(mask, w)?,
            }))
        }
        (Mt::Ternary, Match::Exact(v)) => Some(fm::FieldMatchType::Ternary(fm::Ternary {
            value: bits(v, w)?,
            mask: bits(all_ones(w), w)?,
        })),
        (Mt::Range, Match::Range { low, high }) if low == 0 && high == all_ones(w) => None,
        (Mt::Range, Match::Range { low, high }) => Some(fm::FieldMatchType::Range(fm::Range {
            low: bits(low, w)?,
            high: bits(high, w)?,
        })),
        (Mt::Range, Match::Exact(v)) => Some(fm::FieldMatchType::Range(fm::Range {
            low: bits(v, w)?,
            high: bits(v, w)?,
        })),
        (Mt::Optional, Match::Optional(v) | Match::Exact(v)) => {
            Some(fm::FieldMatchType::Optional(fm::Optional {
                value: bits(v, w)?,
            }))
        }
        (_, Match::Exact(_)) => return Err(wrong("an exact value")),
        (_, Match::Lpm { .. }) => return Err(wrong("an LPM")),
        (_, Match::Ternary { .. }) => return Err(wrong("a ternary")),
        (_, Match::Range { .. }) => return Err(wrong("a range")),
        (_, Match::Optional(_)) => return Err(wrong("an optional")),
    })
}

fn table_action(
    index: &P4InfoIndex,
    table_id: u32,
    table: &str,
    action: &str,
    params: &[(&str, u128)],
) -> Result<p4::TableAction, Error> {
    let action_id = id_of(index, EntityKind::Action, action)?;
    if !index.table_has_action(table_id, action_id) {
        return Err(Error::BadMember {
            parent: format!("table `{table}`"),
            expected: "one of its actions".into(),
            found: format!("`{action}`"),
        });
    }
    let info = index.action(action_id).ok_or(Error::UnknownName {
        kind: EntityKind::Action,
        name: action.to_owned(),
    })?;
    let bad = |expected: String, found: String| Error::BadMember {
        parent: format!("action `{action}`"),
        expected,
        found,
    };
    let mut out = Vec::with_capacity(info.params.len());
    for (name, v) in params {
        let Some(p) = index.action_param_by_name(action_id, name) else {
            return Err(bad(
                format!(
                    "one of its parameters {:?}",
                    info.params.iter().map(|p| &p.name).collect::<Vec<_>>()
                ),
                format!("`{name}`"),
            ));
        };
        if out.iter().any(|x: &p4::action::Param| x.param_id == p.id) {
            return Err(bad("each parameter once".into(), format!("`{name}` twice")));
        }
        out.push(p4::action::Param {
            param_id: p.id,
            value: bits(*v, p.bitwidth)?,
        });
    }
    if let Some(p) = info
        .params
        .iter()
        .find(|p| !out.iter().any(|x| x.param_id == p.id))
    {
        return Err(bad(
            format!("a value for parameter `{}`", p.name),
            "none".into(),
        ));
    }
    // Parameters in P4Info order, as devices return them.
    out.sort_by_key(|x| info.params.iter().position(|p| p.id == x.param_id));
    Ok(p4::TableAction {
        r#type: Some(p4::table_action::Type::Action(p4::Action {
            action_id,
            params: out,
        })),
    })
}

/// A cell of a meter array (`cell` `None`: every cell), with a config or
/// none (unconfigured, every packet green).
///
/// # Errors
/// [`Error::UnknownName`] for an unknown meter.
pub fn meter_entry(
    index: &P4InfoIndex,
    meter: &str,
    cell: Option<i64>,
    config: Option<p4::MeterConfig>,
) -> Result<p4::MeterEntry, Error> {
    Ok(p4::MeterEntry {
        meter_id: id_of(index, EntityKind::Meter, meter)?,
        index: cell.map(|index| p4::Index { index }),
        config,
        counter_data: None,
    })
}

/// A two-rate meter config: committed and peak rates and bursts (bytes or
/// packets per second, as the meter counts).
pub fn meter_config(cir: i64, cburst: i64, pir: i64, pburst: i64) -> p4::MeterConfig {
    p4::MeterConfig {
        cir,
        cburst,
        pir,
        pburst,
        ..Default::default()
    }
}

/// The direct meter of the entry with `entry`'s match (its action is left
/// out), with a config or none (back to unconfigured).
pub fn direct_meter_entry(
    entry: &p4::TableEntry,
    config: Option<p4::MeterConfig>,
) -> p4::DirectMeterEntry {
    p4::DirectMeterEntry {
        table_entry: Some(p4::TableEntry {
            action: None,
            meter_config: None,
            counter_data: None,
            ..entry.clone()
        }),
        config,
        counter_data: None,
    }
}

/// The direct counter of the entry with `entry`'s match (its action is
/// left out), with counts (for a write) or none (for a read).
pub fn direct_counter_entry(
    entry: &p4::TableEntry,
    data: Option<p4::CounterData>,
) -> p4::DirectCounterEntry {
    p4::DirectCounterEntry {
        table_entry: Some(p4::TableEntry {
            action: None,
            meter_config: None,
            counter_data: None,
            ..entry.clone()
        }),
        data,
    }
}

/// A cell of a counter array (`cell` `None`: every cell), with counts or
/// none.
///
/// # Errors
/// [`Error::UnknownName`] for an unknown counter.
pub fn counter_entry(
    index: &P4InfoIndex,
    counter: &str,
    cell: Option<i64>,
    data: Option<p4::CounterData>,
) -> Result<p4::CounterEntry, Error> {
    Ok(p4::CounterEntry {
        counter_id: id_of(index, EntityKind::Counter, counter)?,
        index: cell.map(|index| p4::Index { index }),
        data,
    })
}

/// A cell of a register array (`cell` `None`: every cell) with a
/// `bit<W>` value, or none (for reads).
///
/// # Errors
/// [`Error::UnknownName`] for an unknown register; [`Error::ValueTooWide`]
/// for a value wider than the register's `bit<W>` type.
pub fn register_entry(
    index: &P4InfoIndex,
    register: &str,
    cell: Option<i64>,
    value: Option<u128>,
) -> Result<p4::RegisterEntry, Error> {
    let id = id_of(index, EntityKind::Register, register)?;
    let data =
        match value {
            None => None,
            Some(v) => {
                let bitwidth = index.register(id).and_then(register_width).ok_or_else(|| {
                    Error::BadMember {
                        parent: format!("register `{register}`"),
                        expected: "a bit<W> type".into(),
                        found: "another type".into(),
                    }
                })?;
                Some(crate::proto::p4::v1::P4Data {
                    data: Some(crate::proto::p4::v1::p4_data::Data::Bitstring(bits(
                        v, bitwidth,
                    )?)),
                })
            }
        };
    Ok(p4::RegisterEntry {
        register_id: id,
        index: cell.map(|index| p4::Index { index }),
        data,
    })
}

/// The width of a register of type `bit<W>`.
pub fn register_width(register: &cfg::Register) -> Option<i32> {
    use crate::proto::p4::config::v1::p4_bitstring_like_type_spec::TypeSpec;
    use crate::proto::p4::config::v1::p4_data_type_spec::TypeSpec as Data;
    match register.type_spec.as_ref()?.type_spec.as_ref()? {
        Data::Bitstring(b) => match b.type_spec.as_ref()? {
            TypeSpec::Bit(b) => Some(b.bitwidth),
            _ => None,
        },
        _ => None,
    }
}

/// Copies of a packet: `(port, instance)` pairs.
fn replicas(replicas: &[(u32, u32)]) -> Vec<p4::Replica> {
    replicas
        .iter()
        .map(|&(port, instance)| p4::Replica {
            instance,
            port_kind: Some(p4::replica::PortKind::Port(crate::bytestring::encode_u128(
                u128::from(port),
            ))),
        })
        .collect()
}

/// A clone session with its replicas.
pub fn clone_session(session_id: u32, copies: &[(u32, u32)]) -> p4::PacketReplicationEngineEntry {
    p4::PacketReplicationEngineEntry {
        r#type: Some(
            p4::packet_replication_engine_entry::Type::CloneSessionEntry(p4::CloneSessionEntry {
                session_id,
                replicas: replicas(copies),
                ..Default::default()
            }),
        ),
    }
}

/// A multicast group with its replicas.
pub fn multicast_group(group_id: u32, copies: &[(u32, u32)]) -> p4::PacketReplicationEngineEntry {
    p4::PacketReplicationEngineEntry {
        r#type: Some(
            p4::packet_replication_engine_entry::Type::MulticastGroupEntry(
                p4::MulticastGroupEntry {
                    multicast_group_id: group_id,
                    replicas: replicas(copies),
                    ..Default::default()
                },
            ),
        ),
    }
}
