//! Control-plane calls on the per-entry state of tables: the counts of a
//! direct counter and the configuration of a direct meter. They change
//! that state in place, so the entry keeps its handle, its place among
//! entries of equal priority and its other state.

use crate::{Entry, Error, Switch};

impl Switch {
    /// One entry of a table, by handle.
    pub fn entry(&self, table: &str, handle: u32) -> Result<Entry, Error> {
        let ti = self.table_ix(table)?;
        let s = self.rt.tables[ti].get(handle).ok_or(Error::NoSuchEntry {
            table: table.into(),
            handle,
        })?;
        Ok(Entry {
            keys: s.keys.clone(),
            action: self.prog.actions[s.call.action as usize].name.clone(),
            params: s.call.data.clone(),
            priority: s.priority,
        })
    }

    /// Sets the counts of an entry's direct counter (P4Runtime's MODIFY of
    /// a `DirectCounterEntry`). Refused for a table without counters.
    pub fn set_direct_counter(
        &mut self,
        table: &str,
        handle: u32,
        packets: u64,
        bytes: u64,
    ) -> Result<(), Error> {
        let ti = self.table_ix(table)?;
        if !self.prog.tables[ti].with_counters {
            return Err(Error::BadEntry {
                table: table.into(),
                reason: "the table has no direct counter".into(),
            });
        }
        let e = self.rt.tables[ti]
            .get_mut(handle)
            .ok_or(Error::NoSuchEntry {
                table: table.into(),
                handle,
            })?;
        e.packets = packets;
        e.bytes = bytes;
        Ok(())
    }

    /// Returns an entry's direct meter to unconfigured (every packet
    /// green), as a newly inserted entry's is. Refused for a table without
    /// a direct meter.
    pub fn reset_direct_meter(&mut self, table: &str, handle: u32) -> Result<(), Error> {
        let ti = self.table_ix(table)?;
        if self.prog.tables[ti].direct_meter.is_none() {
            return Err(Error::BadMeter {
                name: table.into(),
                reason: "the table has no direct meter".into(),
            });
        }
        let e = self.rt.tables[ti]
            .get_mut(handle)
            .ok_or(Error::NoSuchEntry {
                table: table.into(),
                handle,
            })?;
        e.meter.reset();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::{Entry, KeyMatch, MeterConfig, Switch};

    /// The `single` example's pipeline, its flow table (which has a
    /// direct meter) given a direct counter too.
    fn switch() -> Switch {
        let root = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../examples/expected/single"
        );
        let json = std::fs::read_to_string(format!("{root}/pipelines/bmv2-cpu255/fairshare.json"))
            .expect("pipeline");
        let mut doc: serde_json::Value = serde_json::from_str(&json).expect("JSON");
        for pipe in doc["pipelines"].as_array_mut().expect("pipelines") {
            for t in pipe["tables"].as_array_mut().expect("tables") {
                if t["name"] == "Ingress.flows" {
                    t["with_counters"] = true.into();
                }
            }
        }
        Switch::load(&doc.to_string()).expect("loads")
    }

    #[test]
    fn direct_counts_are_set_and_direct_meters_reset_in_place() {
        let mut sw = switch();
        let table = sw
            .table_names()
            .into_iter()
            .find(|t| *t == "Ingress.flows")
            .expect("the flows table")
            .to_owned();
        let keys: Vec<KeyMatch> = sw
            .table_keys(&table)
            .expect("keys")
            .iter()
            .map(|k| match k.kind {
                crate::MatchKind::Exact => KeyMatch::Exact(1),
                crate::MatchKind::Lpm => KeyMatch::Lpm {
                    value: 0,
                    prefix_len: 0,
                },
                crate::MatchKind::Ternary => KeyMatch::Ternary { value: 1, mask: 1 },
                crate::MatchKind::Range => KeyMatch::Range { low: 1, high: 1 },
                _ => KeyMatch::Optional(Some(1)),
            })
            .collect();
        let action = sw.table_actions(&table).expect("actions")[0].to_owned();
        let params = vec![0; sw.action_params(&action).expect("params").len()];
        let h = sw
            .add_entry(
                &table,
                Entry {
                    keys: keys.clone(),
                    action,
                    params,
                    priority: 1,
                },
            )
            .expect("inserted");
        sw.set_direct_counter(&table, h, 7, 700)
            .expect("counts set");
        assert_eq!(sw.direct_counter(&table, h), Ok((7, 700)));
        let config = MeterConfig {
            cir: 10,
            cburst: 10,
            pir: 20,
            pburst: 20,
        };
        sw.set_direct_meter(&table, h, config).expect("configured");
        sw.reset_direct_meter(&table, h).expect("reset");
        assert_eq!(sw.direct_meter(&table, h), Ok(None));
        // The entry and its counts stay.
        assert_eq!(sw.find_entry(&table, &keys, 1), Ok(Some(h)));
        assert_eq!(sw.entry(&table, h).map(|e| e.keys), Ok(keys));
        assert_eq!(sw.direct_counter(&table, h), Ok((7, 700)));
        assert!(sw.set_direct_counter(&table, h + 1, 0, 0).is_err());
    }
}
