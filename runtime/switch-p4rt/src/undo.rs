//! ROLLBACK_ON_ERROR: the updates that undo an update, worked out from the
//! state before it is applied.
//!
//! A Write runs its updates in order, each after its inverse has been
//! taken; at the first failure the inverses of the applied updates run in
//! reverse order and the switch is as it was before the Write, with these
//! limits: a deleted table entry comes back with a new place among entries
//! of equal priority and overlapping match (P4Runtime leaves their order
//! undefined), and a meter that is set back starts with full buckets.
//! Packets do not see the intermediate states: the whole Write holds the
//! lock packets are processed under.

use fairshare_p4rt::proto::p4::v1 as p4;
use p4::entity::Entity as E;
use p4::update::Type as U;

use crate::pipeline::{from_switch, Fail, Pipeline};

fn update(kind: U, entity: E) -> p4::Update {
    p4::Update {
        r#type: kind as i32,
        entity: Some(p4::Entity {
            entity: Some(entity),
        }),
    }
}

/// Cells read back, written again by MODIFY.
fn modify_all(read: Vec<p4::Entity>) -> Vec<p4::Update> {
    read.into_iter()
        .filter_map(|e| e.entity)
        .map(|e| update(U::Modify, e))
        .collect()
}

impl Pipeline {
    /// The updates that undo `u`, taken before `u` is applied. Empty when
    /// `u` cannot succeed (its kind is refused for its entity); an error
    /// when the state `u` names cannot be read, which `u` itself would fail
    /// on too.
    pub fn inverse(&mut self, u: &p4::Update) -> Result<Vec<p4::Update>, Fail> {
        let kind = U::try_from(u.r#type).unwrap_or(U::Unspecified);
        let Some(entity) = u.entity.as_ref().and_then(|e| e.entity.as_ref()) else {
            return Ok(vec![]);
        };
        // Updates refused before their entry is looked up: no inverse, so
        // that the update's own refusal is the answer.
        let refused = match entity {
            E::TableEntry(t) => self
                .index
                .table(t.table_id)
                .is_some_and(|t| t.is_const_table),
            E::DirectCounterEntry(c) => c.table_entry.as_ref().is_some_and(|t| {
                self.index.table(t.table_id).is_some()
                    && self.index.direct_counter_of_table(t.table_id).is_none()
            }),
            _ => false,
        };
        if refused {
            return Ok(vec![]);
        }
        let mut out = Vec::new();
        match (entity, kind) {
            (_, U::Unspecified) => {}
            (E::TableEntry(t), U::Modify) if t.is_default_action => {
                let request = p4::TableEntry {
                    table_id: t.table_id,
                    is_default_action: true,
                    ..Default::default()
                };
                let mut read = Vec::new();
                self.read_table_entries(&request, &mut read)?;
                out = modify_all(read);
            }
            (E::TableEntry(t), U::Insert) if !t.is_default_action => {
                out.push(update(U::Delete, E::TableEntry(t.clone())));
            }
            (E::TableEntry(t), U::Modify | U::Delete) if !t.is_default_action => {
                let Some((old, counts)) = self.current_entry(t)? else {
                    return Ok(vec![]);
                };
                if kind == U::Delete {
                    out.push(update(U::Insert, E::TableEntry(old.clone())));
                    if let Some(data) = counts {
                        out.push(update(
                            U::Modify,
                            E::DirectCounterEntry(p4::DirectCounterEntry {
                                table_entry: Some(key_of(&old)),
                                data: Some(data),
                            }),
                        ));
                    }
                } else {
                    let unmetered = old.meter_config.is_none()
                        && self.index.direct_meter_of_table(t.table_id).is_some();
                    out.push(update(U::Modify, E::TableEntry(old.clone())));
                    if unmetered {
                        out.push(update(
                            U::Modify,
                            E::DirectMeterEntry(p4::DirectMeterEntry {
                                table_entry: Some(key_of(&old)),
                                ..Default::default()
                            }),
                        ));
                    }
                }
            }
            (E::MeterEntry(m), U::Modify) if m.meter_id != 0 => {
                let mut read = Vec::new();
                let request = p4::MeterEntry {
                    meter_id: m.meter_id,
                    index: m.index,
                    ..Default::default()
                };
                self.read_meter_entries(&request, &mut read)?;
                out = modify_all(read);
            }
            (E::CounterEntry(c), U::Modify) if c.counter_id != 0 => {
                let mut read = Vec::new();
                let request = p4::CounterEntry {
                    counter_id: c.counter_id,
                    index: c.index,
                    data: None,
                };
                self.read_counter_entries(&request, &mut read)?;
                out = modify_all(read);
            }
            (E::RegisterEntry(r), U::Modify) if r.register_id != 0 => {
                let mut read = Vec::new();
                let request = p4::RegisterEntry {
                    register_id: r.register_id,
                    index: r.index,
                    data: None,
                };
                self.read_register_entries(&request, &mut read)?;
                out = modify_all(read);
            }
            (E::DirectMeterEntry(m), U::Modify) => {
                let (table, handle) = self.direct_target(m.table_entry.as_ref(), "direct meter")?;
                let config = self
                    .switch
                    .direct_meter(&table, handle)
                    .map_err(from_switch)?;
                out.push(update(
                    U::Modify,
                    E::DirectMeterEntry(p4::DirectMeterEntry {
                        table_entry: m.table_entry.clone(),
                        config: config.map(crate::pipeline::meter_proto),
                        counter_data: None,
                    }),
                ));
            }
            (E::DirectCounterEntry(c), U::Modify) => {
                let (table, handle) =
                    self.direct_target(c.table_entry.as_ref(), "direct counter")?;
                let (packets, bytes) = self
                    .switch
                    .direct_counter(&table, handle)
                    .map_err(from_switch)?;
                out.push(update(
                    U::Modify,
                    E::DirectCounterEntry(p4::DirectCounterEntry {
                        table_entry: c.table_entry.clone(),
                        data: Some(p4::CounterData {
                            byte_count: bytes as i64,
                            packet_count: packets as i64,
                        }),
                    }),
                ));
            }
            (E::PacketReplicationEngineEntry(p), _) => {
                if let Some(old) = self.pre_inverse(kind, p) {
                    out.push(old);
                }
            }
            _ => {}
        }
        Ok(out)
    }

    /// The undo of a replication entry write: DELETE for INSERT, the entry
    /// as it was for MODIFY and DELETE.
    fn pre_inverse(&self, kind: U, p: &p4::PacketReplicationEngineEntry) -> Option<p4::Update> {
        use p4::packet_replication_engine_entry::Type as T;
        let old = match p.r#type.as_ref()? {
            T::CloneSessionEntry(s) => self
                .pre
                .sessions
                .get(&s.session_id)
                .cloned()
                .map(T::CloneSessionEntry),
            T::MulticastGroupEntry(g) => self
                .pre
                .groups
                .get(&g.multicast_group_id)
                .cloned()
                .map(T::MulticastGroupEntry),
        };
        let wrap = |t: T| {
            E::PacketReplicationEngineEntry(p4::PacketReplicationEngineEntry { r#type: Some(t) })
        };
        match (kind, old) {
            (U::Insert, None) => Some(update(
                U::Delete,
                E::PacketReplicationEngineEntry(p.clone()),
            )),
            (U::Modify, Some(old)) => Some(update(U::Modify, wrap(old))),
            (U::Delete, Some(old)) => Some(update(U::Insert, wrap(old))),
            _ => None,
        }
    }
}

/// A table entry's match and priority, without its action.
fn key_of(e: &p4::TableEntry) -> p4::TableEntry {
    p4::TableEntry {
        table_id: e.table_id,
        r#match: e.r#match.clone(),
        priority: e.priority,
        ..Default::default()
    }
}
