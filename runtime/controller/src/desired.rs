//! What a controller wants its switch to hold: every table entry and meter
//! cell it has written, kept as the writes were acknowledged, so that after
//! a switch restart or a lost stream the switch can be brought back by
//! reading its state and writing only the differences.
//!
//! Invariants:
//! * [`Desired::apply`] is called for an update only after the device
//!   acknowledged the Write that carried it; the model is what the switch
//!   holds when nobody else writes to it.
//! * An entry is known by its table, its match fields (in field-id order)
//!   and its priority, as P4Runtime identifies entries; two entries with the
//!   same identity are the same entry.
//! * [`Desired::diff`] against a read-back returns updates that, applied to
//!   the switch, make it hold exactly the model: a DELETE for each entry the
//!   switch has and the model does not (outside const tables), an INSERT
//!   for each entry the model has and the switch lacks, a MODIFY where the
//!   action or the direct meter differ, and a MODIFY for each meter cell
//!   whose configuration differs. Deletes come first, so that a full table
//!   makes room before inserts.

use std::collections::{BTreeMap, BTreeSet};

use fairshare_p4rt::proto::p4::v1 as p4;
use fairshare_p4rt::P4InfoIndex;
use prost::Message;

/// The identity of a table entry: table, match fields in field-id order
/// (encoded), priority.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EntryKey {
    pub table_id: u32,
    pub priority: i32,
    matches: Vec<u8>,
}

impl EntryKey {
    pub fn of(entry: &p4::TableEntry) -> EntryKey {
        let mut fields: Vec<&p4::FieldMatch> = entry.r#match.iter().collect();
        fields.sort_by_key(|f| f.field_id);
        let mut matches = Vec::new();
        for f in fields {
            matches.extend(f.encode_length_delimited_to_vec());
        }
        EntryKey {
            table_id: entry.table_id,
            priority: entry.priority,
            matches,
        }
    }
}

/// The entries and meter cells a controller wants on its switch.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Desired {
    entries: BTreeMap<EntryKey, p4::TableEntry>,
    meters: BTreeMap<(u32, i64), p4::MeterConfig>,
}

/// What a resynchronisation found and wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncCounts {
    pub inserted: usize,
    pub modified: usize,
    pub deleted: usize,
    pub meters: usize,
}

impl SyncCounts {
    pub fn total(&self) -> usize {
        self.inserted + self.modified + self.deleted + self.meters
    }
}

impl Desired {
    pub fn new() -> Desired {
        Desired::default()
    }

    /// Records an acknowledged update. Entities other than table entries
    /// and indexed meter cells are not kept.
    pub fn apply(&mut self, update: &p4::Update) {
        use p4::entity::Entity as E;
        use p4::update::Type;
        let Some(entity) = update.entity.as_ref().and_then(|e| e.entity.as_ref()) else {
            return;
        };
        let kind = Type::try_from(update.r#type).unwrap_or(Type::Unspecified);
        match entity {
            E::TableEntry(t) if !t.is_default_action => {
                let key = EntryKey::of(t);
                match kind {
                    Type::Insert | Type::Modify => {
                        self.entries.insert(key, t.clone());
                    }
                    Type::Delete => {
                        self.entries.remove(&key);
                    }
                    Type::Unspecified => {}
                }
            }
            E::MeterEntry(m) => {
                let Some(index) = m.index.as_ref().map(|i| i.index) else {
                    return;
                };
                match (&m.config, kind) {
                    (Some(c), Type::Modify | Type::Insert) => {
                        self.meters.insert((m.meter_id, index), *c);
                    }
                    _ => {
                        self.meters.remove(&(m.meter_id, index));
                    }
                }
            }
            E::DirectMeterEntry(d) => {
                let Some(t) = &d.table_entry else { return };
                if let Some(e) = self.entries.get_mut(&EntryKey::of(t)) {
                    e.meter_config = d.config;
                }
            }
            _ => {}
        }
    }

    /// The entry with this identity, if wanted.
    pub fn entry(&self, key: &EntryKey) -> Option<&p4::TableEntry> {
        self.entries.get(key)
    }

    pub fn entries(&self) -> impl Iterator<Item = &p4::TableEntry> {
        self.entries.values()
    }

    /// The configured meter cells, `(meter id, index) → config`.
    pub fn meters(&self) -> &BTreeMap<(u32, i64), p4::MeterConfig> {
        &self.meters
    }

    /// The entities to read back for a comparison: every table entry, and
    /// every cell of each meter the model configures.
    pub fn read_request(&self) -> Vec<p4::Entity> {
        let mut out = vec![p4::Entity {
            entity: Some(p4::entity::Entity::TableEntry(p4::TableEntry::default())),
        }];
        let meter_ids: BTreeSet<u32> = self.meters.keys().map(|(id, _)| *id).collect();
        for meter_id in meter_ids {
            out.push(p4::Entity {
                entity: Some(p4::entity::Entity::MeterEntry(p4::MeterEntry {
                    meter_id,
                    ..Default::default()
                })),
            });
        }
        out
    }

    /// The updates that bring a switch holding `read` (the answer to
    /// [`Desired::read_request`]) to the model, and how many of each kind.
    pub fn diff(&self, index: &P4InfoIndex, read: &[p4::Entity]) -> (Vec<p4::Update>, SyncCounts) {
        use fairshare_p4rt::entity::{delete, insert, modify};
        use p4::entity::Entity as E;
        let const_tables: BTreeSet<u32> = index
            .p4info()
            .tables
            .iter()
            .filter(|t| t.is_const_table)
            .filter_map(|t| t.preamble.as_ref().map(|p| p.id))
            .collect();
        let mut have: BTreeMap<EntryKey, &p4::TableEntry> = BTreeMap::new();
        let mut have_meters: BTreeMap<(u32, i64), Option<p4::MeterConfig>> = BTreeMap::new();
        for e in read {
            match &e.entity {
                Some(E::TableEntry(t)) if !t.is_default_action => {
                    have.insert(EntryKey::of(t), t);
                }
                Some(E::MeterEntry(m)) => {
                    if let Some(i) = &m.index {
                        have_meters.insert((m.meter_id, i.index), m.config);
                    }
                }
                _ => {}
            }
        }
        let mut counts = SyncCounts::default();
        let mut deletes = Vec::new();
        let mut writes = Vec::new();
        for (key, t) in &have {
            if !self.entries.contains_key(key) && !const_tables.contains(&key.table_id) {
                deletes.push(delete(p4::TableEntry {
                    table_id: t.table_id,
                    r#match: t.r#match.clone(),
                    priority: t.priority,
                    ..Default::default()
                }));
                counts.deleted += 1;
            }
        }
        for (key, want) in &self.entries {
            match have.get(key) {
                None => {
                    writes.push(insert(want.clone()));
                    counts.inserted += 1;
                }
                Some(got) if got.action != want.action || got.meter_config != want.meter_config => {
                    writes.push(modify(want.clone()));
                    counts.modified += 1;
                }
                Some(_) => {}
            }
        }
        for (&(meter_id, i), want) in &self.meters {
            if have_meters.get(&(meter_id, i)).copied().flatten() != Some(*want) {
                writes.push(modify(p4::MeterEntry {
                    meter_id,
                    index: Some(p4::Index { index: i }),
                    config: Some(*want),
                    ..Default::default()
                }));
                counts.meters += 1;
            }
        }
        deletes.extend(writes);
        (deletes, counts)
    }
}
