//! An index over a P4Info: ids and names of every entity, and of the members
//! inside tables, actions and controller headers.
//!
//! [`P4InfoIndex::new`] checks what the lookups rely on: every entity has a
//! preamble with a non-zero id carrying its kind's prefix byte, ids are unique
//! across the P4Info, names are unique within a kind, and member ids and names
//! are unique within their entity. After that every lookup is a hash probe.
//! Entities may be looked up by full name or by alias; an alias shared by two
//! entities of one kind is not indexed.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A multiplicative hasher for the ids and entity kinds the index is
/// looked up by on every table write: ids are distinct small numbers, and
/// SipHash over them cost more than the rest of a lookup.
#[derive(Default, Clone, Copy)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(u64::from(*b));
        }
    }
    fn write_u32(&mut self, v: u32) {
        self.write_u64(u64::from(v));
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_usize(&mut self, v: usize) {
        self.write_u64(v as u64);
    }
    fn write_isize(&mut self, v: isize) {
        self.write_u64(v as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// A map keyed by P4Info ids (or entity kinds).
type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;
use std::fmt;

use crate::proto::p4::config::v1 as cfg;
use crate::Error;

/// The kinds of P4Info entities, with their id prefix bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EntityKind {
    Table,
    Action,
    ActionProfile,
    Counter,
    DirectCounter,
    Meter,
    DirectMeter,
    ControllerPacketMetadata,
    ValueSet,
    Register,
    Digest,
}

impl EntityKind {
    pub const ALL: [EntityKind; 11] = [
        EntityKind::Table,
        EntityKind::Action,
        EntityKind::ActionProfile,
        EntityKind::Counter,
        EntityKind::DirectCounter,
        EntityKind::Meter,
        EntityKind::DirectMeter,
        EntityKind::ControllerPacketMetadata,
        EntityKind::ValueSet,
        EntityKind::Register,
        EntityKind::Digest,
    ];

    /// The most significant byte of this kind's ids (P4Ids.Prefix).
    pub fn prefix(self) -> u8 {
        use cfg::p4_ids::Prefix;
        let prefix = match self {
            EntityKind::Table => Prefix::Table,
            EntityKind::Action => Prefix::Action,
            EntityKind::ActionProfile => Prefix::ActionProfile,
            EntityKind::Counter => Prefix::Counter,
            EntityKind::DirectCounter => Prefix::DirectCounter,
            EntityKind::Meter => Prefix::Meter,
            EntityKind::DirectMeter => Prefix::DirectMeter,
            EntityKind::ControllerPacketMetadata => Prefix::ControllerHeader,
            EntityKind::ValueSet => Prefix::ValueSet,
            EntityKind::Register => Prefix::Register,
            EntityKind::Digest => Prefix::Digest,
        };
        prefix as u8
    }

    /// The kind an id belongs to, judged by its prefix byte.
    pub fn of_id(id: u32) -> Option<EntityKind> {
        let prefix = (id >> 24) as u8;
        EntityKind::ALL
            .into_iter()
            .find(|kind| kind.prefix() == prefix)
    }
}

impl fmt::Display for EntityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EntityKind::Table => "table",
            EntityKind::Action => "action",
            EntityKind::ActionProfile => "action profile",
            EntityKind::Counter => "counter",
            EntityKind::DirectCounter => "direct counter",
            EntityKind::Meter => "meter",
            EntityKind::DirectMeter => "direct meter",
            EntityKind::ControllerPacketMetadata => "controller packet metadata",
            EntityKind::ValueSet => "value set",
            EntityKind::Register => "register",
            EntityKind::Digest => "digest",
        })
    }
}

/// Positions of one kind's entities in their P4Info list.
#[derive(Debug, Default, Clone)]
struct KindIndex {
    by_id: IdMap<u32, usize>,
    by_name: HashMap<String, usize>,
    by_alias: HashMap<String, Option<usize>>,
}

impl KindIndex {
    fn build<'a>(
        kind: EntityKind,
        preambles: impl Iterator<Item = Option<&'a cfg::Preamble>>,
        owners: &mut HashMap<u32, String>,
    ) -> Result<Self, Error> {
        let mut index = KindIndex::default();
        for (position, preamble) in preambles.enumerate() {
            let preamble = match preamble {
                Some(p) if p.id != 0 => p,
                Some(p) => {
                    return Err(Error::MissingPreamble {
                        kind,
                        what: format!("\"{}\" with id 0", p.name),
                    })
                }
                None => {
                    return Err(Error::MissingPreamble {
                        kind,
                        what: format!("entry {position} without one"),
                    })
                }
            };
            if (preamble.id >> 24) as u8 != kind.prefix() {
                return Err(Error::WrongIdPrefix {
                    kind,
                    name: preamble.name.clone(),
                    id: preamble.id,
                    expected: kind.prefix(),
                });
            }
            let label = format!("{kind} \"{}\"", preamble.name);
            if let Some(first) = owners.insert(preamble.id, label.clone()) {
                return Err(Error::DuplicateId {
                    id: preamble.id,
                    first,
                    second: label,
                });
            }
            index.by_id.insert(preamble.id, position);
            if index
                .by_name
                .insert(preamble.name.clone(), position)
                .is_some()
            {
                return Err(Error::DuplicateName {
                    kind,
                    name: preamble.name.clone(),
                });
            }
            if !preamble.alias.is_empty() && preamble.alias != preamble.name {
                index
                    .by_alias
                    .entry(preamble.alias.clone())
                    .and_modify(|slot| *slot = None)
                    .or_insert(Some(position));
            }
        }
        Ok(index)
    }

    fn find_name(&self, name: &str) -> Option<usize> {
        self.by_name
            .get(name)
            .copied()
            .or_else(|| self.by_alias.get(name).copied().flatten())
    }
}

/// Ids and names of the members of one entity (match fields of a table,
/// parameters of an action, fields of a controller header).
#[derive(Debug, Default, Clone)]
struct MemberIndex {
    by_id: IdMap<u32, usize>,
    by_name: HashMap<String, usize>,
}

impl MemberIndex {
    fn build<'a>(
        parent: &str,
        members: impl Iterator<Item = (u32, &'a str)>,
    ) -> Result<Self, Error> {
        let mut index = MemberIndex::default();
        for (position, (id, name)) in members.enumerate() {
            if index.by_id.insert(id, position).is_some() {
                return Err(Error::DuplicateMember {
                    parent: parent.to_owned(),
                    what: format!("id {id}"),
                });
            }
            if index.by_name.insert(name.to_owned(), position).is_some() {
                return Err(Error::DuplicateMember {
                    parent: parent.to_owned(),
                    what: format!("name \"{name}\""),
                });
            }
        }
        Ok(index)
    }
}

/// A P4Info with lookups by id and by name. See the module docs for what
/// [`P4InfoIndex::new`] checks.
#[derive(Debug, Clone)]
pub struct P4InfoIndex {
    info: cfg::P4Info,
    kinds: IdMap<EntityKind, KindIndex>,
    /// Match fields per table id.
    match_fields: IdMap<u32, MemberIndex>,
    /// Parameters per action id.
    params: IdMap<u32, MemberIndex>,
    /// Header fields per controller header id.
    metadata: IdMap<u32, MemberIndex>,
}

fn preambles<T>(
    items: &[T],
    preamble: fn(&T) -> Option<&cfg::Preamble>,
) -> impl Iterator<Item = Option<&cfg::Preamble>> {
    items.iter().map(preamble)
}

fn id_of(preamble: Option<&cfg::Preamble>) -> u32 {
    preamble.map_or(0, |p| p.id)
}

fn name_of(preamble: Option<&cfg::Preamble>) -> &str {
    preamble.map_or("", |p| p.name.as_str())
}

macro_rules! entity_lookups {
    ($($kind:ident, $field:ident, $ty:ty, $by_id:ident, $by_name:ident;)*) => {
        $(
            #[doc = concat!("The ", stringify!($field), " entry with this id.")]
            pub fn $by_id(&self, id: u32) -> Option<&$ty> {
                let position = self.kinds.get(&EntityKind::$kind)?.by_id.get(&id)?;
                self.info.$field.get(*position)
            }

            #[doc = concat!("The ", stringify!($field), " entry with this full name or unique alias.")]
            pub fn $by_name(&self, name: &str) -> Option<&$ty> {
                let position = self.kinds.get(&EntityKind::$kind)?.find_name(name)?;
                self.info.$field.get(position)
            }
        )*
    };
}

impl P4InfoIndex {
    /// Indexes `info` after checking it (see the module docs).
    ///
    /// # Errors
    /// [`Error::MissingPreamble`], [`Error::WrongIdPrefix`],
    /// [`Error::DuplicateId`], [`Error::DuplicateName`] or
    /// [`Error::DuplicateMember`] for the first problem found.
    pub fn new(info: cfg::P4Info) -> Result<Self, Error> {
        let mut owners = HashMap::new();
        let mut kinds = IdMap::default();
        let i = &info;
        let lists: [(EntityKind, Vec<Option<&cfg::Preamble>>); 11] = [
            (
                EntityKind::Table,
                preambles(&i.tables, |e| e.preamble.as_ref()).collect(),
            ),
            (
                EntityKind::Action,
                preambles(&i.actions, |e| e.preamble.as_ref()).collect(),
            ),
            (
                EntityKind::ActionProfile,
                preambles(&i.action_profiles, |e| e.preamble.as_ref()).collect(),
            ),
            (
                EntityKind::Counter,
                preambles(&i.counters, |e| e.preamble.as_ref()).collect(),
            ),
            (
                EntityKind::DirectCounter,
                preambles(&i.direct_counters, |e| e.preamble.as_ref()).collect(),
            ),
            (
                EntityKind::Meter,
                preambles(&i.meters, |e| e.preamble.as_ref()).collect(),
            ),
            (
                EntityKind::DirectMeter,
                preambles(&i.direct_meters, |e| e.preamble.as_ref()).collect(),
            ),
            (
                EntityKind::ControllerPacketMetadata,
                preambles(&i.controller_packet_metadata, |e| e.preamble.as_ref()).collect(),
            ),
            (
                EntityKind::ValueSet,
                preambles(&i.value_sets, |e| e.preamble.as_ref()).collect(),
            ),
            (
                EntityKind::Register,
                preambles(&i.registers, |e| e.preamble.as_ref()).collect(),
            ),
            (
                EntityKind::Digest,
                preambles(&i.digests, |e| e.preamble.as_ref()).collect(),
            ),
        ];
        for (kind, list) in lists {
            kinds.insert(kind, KindIndex::build(kind, list.into_iter(), &mut owners)?);
        }

        let mut match_fields = IdMap::default();
        for table in &info.tables {
            let parent = format!("table \"{}\"", name_of(table.preamble.as_ref()));
            let members = table.match_fields.iter().map(|m| (m.id, m.name.as_str()));
            match_fields.insert(
                id_of(table.preamble.as_ref()),
                MemberIndex::build(&parent, members)?,
            );
        }
        let mut params = IdMap::default();
        for action in &info.actions {
            let parent = format!("action \"{}\"", name_of(action.preamble.as_ref()));
            let members = action.params.iter().map(|p| (p.id, p.name.as_str()));
            params.insert(
                id_of(action.preamble.as_ref()),
                MemberIndex::build(&parent, members)?,
            );
        }
        let mut metadata = IdMap::default();
        for header in &info.controller_packet_metadata {
            let parent = format!(
                "controller header \"{}\"",
                name_of(header.preamble.as_ref())
            );
            let members = header.metadata.iter().map(|m| (m.id, m.name.as_str()));
            metadata.insert(
                id_of(header.preamble.as_ref()),
                MemberIndex::build(&parent, members)?,
            );
        }
        Ok(Self {
            info,
            kinds,
            match_fields,
            params,
            metadata,
        })
    }

    /// The indexed P4Info.
    pub fn p4info(&self) -> &cfg::P4Info {
        &self.info
    }

    /// Gives the P4Info back.
    pub fn into_p4info(self) -> cfg::P4Info {
        self.info
    }

    /// The id of the entity of `kind` with this full name or unique alias.
    pub fn id(&self, kind: EntityKind, name: &str) -> Option<u32> {
        let position = self.kinds.get(&kind)?.find_name(name)?;
        self.preamble_at(kind, position).map(|p| p.id)
    }

    /// The preamble of the entity with this id, of whatever kind.
    pub fn preamble(&self, id: u32) -> Option<&cfg::Preamble> {
        let kind = EntityKind::of_id(id)?;
        let position = *self.kinds.get(&kind)?.by_id.get(&id)?;
        self.preamble_at(kind, position)
    }

    /// The full name of the entity with this id.
    pub fn name(&self, id: u32) -> Option<&str> {
        self.preamble(id).map(|p| p.name.as_str())
    }

    fn preamble_at(&self, kind: EntityKind, position: usize) -> Option<&cfg::Preamble> {
        let i = &self.info;
        match kind {
            EntityKind::Table => i.tables.get(position)?.preamble.as_ref(),
            EntityKind::Action => i.actions.get(position)?.preamble.as_ref(),
            EntityKind::ActionProfile => i.action_profiles.get(position)?.preamble.as_ref(),
            EntityKind::Counter => i.counters.get(position)?.preamble.as_ref(),
            EntityKind::DirectCounter => i.direct_counters.get(position)?.preamble.as_ref(),
            EntityKind::Meter => i.meters.get(position)?.preamble.as_ref(),
            EntityKind::DirectMeter => i.direct_meters.get(position)?.preamble.as_ref(),
            EntityKind::ControllerPacketMetadata => i
                .controller_packet_metadata
                .get(position)?
                .preamble
                .as_ref(),
            EntityKind::ValueSet => i.value_sets.get(position)?.preamble.as_ref(),
            EntityKind::Register => i.registers.get(position)?.preamble.as_ref(),
            EntityKind::Digest => i.digests.get(position)?.preamble.as_ref(),
        }
    }

    entity_lookups! {
        Table, tables, cfg::Table, table, table_by_name;
        Action, actions, cfg::Action, action, action_by_name;
        ActionProfile, action_profiles, cfg::ActionProfile, action_profile, action_profile_by_name;
        Counter, counters, cfg::Counter, counter, counter_by_name;
        DirectCounter, direct_counters, cfg::DirectCounter, direct_counter, direct_counter_by_name;
        Meter, meters, cfg::Meter, meter, meter_by_name;
        DirectMeter, direct_meters, cfg::DirectMeter, direct_meter, direct_meter_by_name;
        ControllerPacketMetadata, controller_packet_metadata, cfg::ControllerPacketMetadata,
            controller_header, controller_header_by_name;
        ValueSet, value_sets, cfg::ValueSet, value_set, value_set_by_name;
        Register, registers, cfg::Register, register, register_by_name;
        Digest, digests, cfg::Digest, digest, digest_by_name;
    }

    /// The match field `field_id` of table `table_id`.
    pub fn match_field(&self, table_id: u32, field_id: u32) -> Option<&cfg::MatchField> {
        let position = self.match_fields.get(&table_id)?.by_id.get(&field_id)?;
        self.table(table_id)?.match_fields.get(*position)
    }

    /// The match field named `name` of table `table_id`.
    pub fn match_field_by_name(&self, table_id: u32, name: &str) -> Option<&cfg::MatchField> {
        let position = self.match_fields.get(&table_id)?.by_name.get(name)?;
        self.table(table_id)?.match_fields.get(*position)
    }

    /// The parameter `param_id` of action `action_id`.
    pub fn action_param(&self, action_id: u32, param_id: u32) -> Option<&cfg::action::Param> {
        let position = self.params.get(&action_id)?.by_id.get(&param_id)?;
        self.action(action_id)?.params.get(*position)
    }

    /// The parameter named `name` of action `action_id`.
    pub fn action_param_by_name(&self, action_id: u32, name: &str) -> Option<&cfg::action::Param> {
        let position = self.params.get(&action_id)?.by_name.get(name)?;
        self.action(action_id)?.params.get(*position)
    }

    /// True when `action_id` is among the actions of table `table_id`.
    pub fn table_has_action(&self, table_id: u32, action_id: u32) -> bool {
        self.action_ref(table_id, action_id).is_some()
    }

    /// The reference from table `table_id` to action `action_id`, which
    /// carries the scope (table entries, default entry, or both).
    pub fn action_ref(&self, table_id: u32, action_id: u32) -> Option<&cfg::ActionRef> {
        self.table(table_id)?
            .action_refs
            .iter()
            .find(|r| r.id == action_id)
    }

    /// The field `metadata_id` of controller header `header_id`.
    pub fn packet_metadata(
        &self,
        header_id: u32,
        metadata_id: u32,
    ) -> Option<&cfg::controller_packet_metadata::Metadata> {
        let position = self.metadata.get(&header_id)?.by_id.get(&metadata_id)?;
        self.controller_header(header_id)?.metadata.get(*position)
    }

    /// The field named `name` of controller header `header_id`.
    pub fn packet_metadata_by_name(
        &self,
        header_id: u32,
        name: &str,
    ) -> Option<&cfg::controller_packet_metadata::Metadata> {
        let position = self.metadata.get(&header_id)?.by_name.get(name)?;
        self.controller_header(header_id)?.metadata.get(*position)
    }

    /// The `packet_in` controller header (metadata of packets sent to the
    /// controller), if the program has one.
    pub fn packet_in(&self) -> Option<&cfg::ControllerPacketMetadata> {
        self.controller_header_by_name("packet_in")
    }

    /// The `packet_out` controller header (metadata of packets sent by the
    /// controller), if the program has one.
    pub fn packet_out(&self) -> Option<&cfg::ControllerPacketMetadata> {
        self.controller_header_by_name("packet_out")
    }

    /// The direct counter attached to table `table_id`, if any.
    pub fn direct_counter_of_table(&self, table_id: u32) -> Option<&cfg::DirectCounter> {
        self.table(table_id)?
            .direct_resource_ids
            .iter()
            .find_map(|&id| self.direct_counter(id))
    }

    /// The direct meter attached to table `table_id`, if any.
    pub fn direct_meter_of_table(&self, table_id: u32) -> Option<&cfg::DirectMeter> {
        self.table(table_id)?
            .direct_resource_ids
            .iter()
            .find_map(|&id| self.direct_meter(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn preamble(id: u32, name: &str, alias: &str) -> Option<cfg::Preamble> {
        Some(cfg::Preamble {
            id,
            name: name.into(),
            alias: alias.into(),
            ..Default::default()
        })
    }

    fn table(id: u32, name: &str, alias: &str) -> cfg::Table {
        cfg::Table {
            preamble: preamble(id, name, alias),
            ..Default::default()
        }
    }

    #[test]
    fn lookups_by_name_alias_and_id() {
        let info = cfg::P4Info {
            tables: vec![
                table(0x0200_0001, "In.a.fwd", "a.fwd"),
                table(0x0200_0002, "In.b.fwd", "b.fwd"),
            ],
            meters: vec![cfg::Meter {
                preamble: preamble(0x1400_0001, "In.share", "share"),
                ..Default::default()
            }],
            ..Default::default()
        };
        let index = P4InfoIndex::new(info).expect("valid");
        assert_eq!(index.id(EntityKind::Table, "In.a.fwd"), Some(0x0200_0001));
        assert_eq!(index.id(EntityKind::Table, "b.fwd"), Some(0x0200_0002));
        assert_eq!(index.id(EntityKind::Meter, "share"), Some(0x1400_0001));
        assert_eq!(index.id(EntityKind::Table, "share"), None);
        assert_eq!(index.name(0x1400_0001), Some("In.share"));
        assert!(index.meter(0x0200_0001).is_none());
        assert_eq!(EntityKind::of_id(0x1400_0001), Some(EntityKind::Meter));
    }

    #[test]
    fn shared_aliases_are_not_indexed() {
        let info = cfg::P4Info {
            tables: vec![
                table(0x0200_0001, "In.a.fwd", "fwd"),
                table(0x0200_0002, "In.b.fwd", "fwd"),
            ],
            ..Default::default()
        };
        let index = P4InfoIndex::new(info).expect("valid");
        assert_eq!(index.id(EntityKind::Table, "fwd"), None);
        assert_eq!(index.id(EntityKind::Table, "In.b.fwd"), Some(0x0200_0002));
    }

    #[test]
    fn inconsistent_p4info_is_refused() {
        let wrong_prefix = cfg::P4Info {
            tables: vec![table(0x0100_0001, "t", "t")],
            ..Default::default()
        };
        assert!(matches!(
            P4InfoIndex::new(wrong_prefix),
            Err(Error::WrongIdPrefix {
                kind: EntityKind::Table,
                id: 0x0100_0001,
                expected: 2,
                ..
            })
        ));

        let duplicate_name = cfg::P4Info {
            tables: vec![table(0x0200_0001, "t", ""), table(0x0200_0002, "t", "")],
            ..Default::default()
        };
        assert!(matches!(
            P4InfoIndex::new(duplicate_name),
            Err(Error::DuplicateName { .. })
        ));

        let duplicate_id = cfg::P4Info {
            tables: vec![table(0x0200_0001, "t", ""), table(0x0200_0001, "u", "")],
            ..Default::default()
        };
        assert!(matches!(
            P4InfoIndex::new(duplicate_id),
            Err(Error::DuplicateId {
                id: 0x0200_0001,
                ..
            })
        ));

        let no_preamble = cfg::P4Info {
            tables: vec![cfg::Table::default()],
            ..Default::default()
        };
        assert!(matches!(
            P4InfoIndex::new(no_preamble),
            Err(Error::MissingPreamble { .. })
        ));

        let field = |id: u32, name: &str| cfg::MatchField {
            id,
            name: name.into(),
            bitwidth: 8,
            ..Default::default()
        };
        let mut with_fields = table(0x0200_0001, "t", "");
        with_fields.match_fields = vec![field(1, "x"), field(1, "y")];
        let duplicate_member = cfg::P4Info {
            tables: vec![with_fields],
            ..Default::default()
        };
        assert!(matches!(
            P4InfoIndex::new(duplicate_member),
            Err(Error::DuplicateMember { .. })
        ));
    }
}
