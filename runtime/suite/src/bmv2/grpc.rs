//! The control plane of `simple_switch_grpc` over P4Runtime
//! (`--target bmv2`): the pipeline pushed with VERIFY_AND_COMMIT, the
//! case's ops as writes through the P4Info, counters read back, and the
//! CPU port as packet-ins and packet-outs.
//!
//! Ops become updates as a controller would write them: `table_add` an
//! INSERT, `table_modify` a MODIFY, `table_delete` a DELETE of the entry
//! with that match and priority, `set_default` a MODIFY of the default
//! entry, `meter_set` a MODIFY of the cell, `meter_reset` a MODIFY without
//! a config, `direct_meter_set` a MODIFY of the entry's direct meter.
//! Each op is a Write of its own (P4Runtime does not order the updates of
//! one Write); the generated rules, which do not depend on each other, go
//! in one.
//!
//! The `packet_in` and `packet_out` headers are the metadata of the
//! P4Info's controller headers, packed in their order, most significant
//! bit first, as the pipeline's parser and deparser lay them out.

use super::Control;
use crate::Op;
use fairshare_p4rt::client::{Backoff, Client, ClientConfig, PacketIn};
use fairshare_p4rt::entity;
use fairshare_p4rt::proto::p4::config::v1 as cfg;
use fairshare_p4rt::proto::p4::v1 as p4;
use fairshare_p4rt::P4InfoIndex;
use fairshare_switch::rules::{RuleValue, Rules, TableEntry};
use fairshare_switch::{MeterConfig, Switch};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::sync::mpsc;

/// A primary P4Runtime session with the switch, on its own runtime.
pub(super) struct Grpc<'a> {
    rt: tokio::runtime::Runtime,
    client: Client,
    index: P4InfoIndex,
    sw: &'a Switch,
    packet_ins: mpsc::Receiver<PacketIn>,
    got: Vec<Vec<u8>>,
}

impl<'a> Grpc<'a> {
    /// Connects to `127.0.0.1:port` as device 1 (retrying while the switch
    /// starts), becomes primary and pushes the pipeline.
    pub(super) fn connect(
        port: u16,
        p: &crate::Pipeline,
        sw: &'a Switch,
    ) -> Result<Grpc<'a>, String> {
        let text = p.p4info.as_deref().ok_or("the pipeline has no P4Info")?;
        let info = fairshare_p4rt::text::parse_p4info(text)
            .map_err(|e| format!("the pipeline's P4Info: {e}"))?;
        let index =
            P4InfoIndex::new(info.clone()).map_err(|e| format!("the pipeline's P4Info: {e}"))?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(|e| format!("a runtime for the P4Runtime client: {e}"))?;
        let config = ClientConfig {
            device_id: 1,
            election_id: 1,
            backoff: Backoff {
                attempts: 200,
                initial: Duration::from_millis(10),
                max: Duration::from_millis(50),
                connect_timeout: Duration::from_secs(1),
            },
            // A flood case punts hundreds of frames; none may be lost here.
            packet_in_capacity: 1 << 16,
            ..ClientConfig::default()
        };
        let mut client = rt
            .block_on(Client::connect(&format!("127.0.0.1:{port}"), config))
            .map_err(|e| format!("simple_switch_grpc: {e}"))?;
        if !client.is_primary() {
            return Err(format!(
                "simple_switch_grpc: expected to be primary, found {:?}",
                client.mastership()
            ));
        }
        let packet_ins = client
            .packet_ins()
            .ok_or("simple_switch_grpc: no packet-in stream")?;
        rt.block_on(client.set_pipeline(p.json.clone().into_bytes(), info))
            .map_err(|e| format!("simple_switch_grpc refused the pipeline: {e}"))?;
        Ok(Grpc {
            rt,
            client,
            index,
            sw,
            packet_ins,
            got: vec![],
        })
    }

    fn write(&mut self, updates: Vec<p4::Update>) -> Result<(), String> {
        if updates.is_empty() {
            return Ok(());
        }
        self.rt
            .block_on(self.client.write(updates))
            .map_err(|e| format!("simple_switch_grpc refused a write: {e}"))
    }

    /// A table entry of the op's fields, through the P4Info.
    fn entry(
        &self,
        table: &str,
        matches: &BTreeMap<String, RuleValue>,
        action: &str,
        params: &BTreeMap<String, RuleValue>,
        priority: Option<u32>,
    ) -> Result<p4::TableEntry, String> {
        let e = TableEntry {
            table: table.into(),
            matches: matches.clone(),
            action: action.into(),
            params: params.clone(),
            priority,
        };
        fairshare_switch_p4rt::rules::table_entry(&self.index, &e).map_err(|e| e.to_string())
    }

    /// The entry with this match and priority, without an action (to
    /// delete it or name its direct meter).
    fn matching(
        &self,
        table: &str,
        matches: &BTreeMap<String, RuleValue>,
        priority: Option<u32>,
    ) -> Result<p4::TableEntry, String> {
        // Any action of the table, with zero parameters, builds the match.
        let actions = self.sw.table_actions(table).map_err(|e| e.to_string())?;
        let action = actions
            .first()
            .ok_or(format!("table `{table}` has no action"))?
            .to_string();
        let params = self
            .sw
            .action_params(&action)
            .unwrap_or_default()
            .into_iter()
            .map(|(n, _)| (n, RuleValue::Int(0)))
            .collect();
        let mut e = self.entry(table, matches, &action, &params, priority)?;
        e.action = None;
        Ok(e)
    }

    fn update(&self, op: &Op) -> Result<p4::Update, String> {
        let cfg_of = |r: &MeterConfig| -> Result<p4::MeterConfig, String> {
            let i = |v: u64| i64::try_from(v).map_err(|_| format!("a rate of {v} is above 2^63"));
            Ok(entity::meter_config(
                i(r.cir)?,
                i(r.cburst)?,
                i(r.pir)?,
                i(r.pburst)?,
            ))
        };
        let s = |e: fairshare_p4rt::Error| e.to_string();
        Ok(match op {
            Op::TableAdd {
                table,
                matches,
                action,
                params,
                priority,
            } => entity::insert(self.entry(table, matches, action, params, *priority)?),
            Op::TableModify {
                table,
                matches,
                priority,
                action,
                params,
            } => entity::modify(self.entry(table, matches, action, params, *priority)?),
            Op::TableDelete {
                table,
                matches,
                priority,
            } => entity::delete(self.matching(table, matches, *priority)?),
            Op::SetDefault {
                table,
                action,
                params,
            } => {
                let values = params
                    .iter()
                    .map(|(n, v)| Ok((n.as_str(), v.to_u128().map_err(|e| e.to_string())?)))
                    .collect::<Result<Vec<_>, String>>()?;
                entity::modify(
                    entity::default_entry(&self.index, table, action, &values).map_err(s)?,
                )
            }
            Op::MeterSet {
                meter,
                index,
                rates,
            } => entity::modify(
                entity::meter_entry(
                    &self.index,
                    meter,
                    Some(i64::from(*index)),
                    Some(cfg_of(rates)?),
                )
                .map_err(s)?,
            ),
            Op::MeterReset { meter, index } => entity::modify(
                entity::meter_entry(&self.index, meter, Some(i64::from(*index)), None)
                    .map_err(s)?,
            ),
            Op::DirectMeterSet {
                table,
                matches,
                priority,
                rates,
            } => entity::modify(entity::direct_meter_entry(
                &self.matching(table, matches, *priority)?,
                Some(cfg_of(rates)?),
            )),
        })
    }
}

impl Control for Grpc<'_> {
    fn rules(&mut self, r: &Rules) -> Result<(), String> {
        let updates =
            fairshare_switch_p4rt::rules::updates(&self.index, r).map_err(|e| e.to_string())?;
        self.write(updates)
    }

    fn ops(&mut self, ops: &[(String, &Op)]) -> Result<(), String> {
        for (place, op) in ops {
            let u = self.update(op).map_err(|e| format!("{place}: {e}"))?;
            self.write(vec![u]).map_err(|e| format!("{place}: {e}"))?;
        }
        Ok(())
    }

    fn packet_out(&mut self, frame: &[u8]) -> Result<bool, String> {
        let fields = header_fields(self.index.packet_out());
        let Some((values, payload)) = unpack(&fields, frame) else {
            return Ok(false);
        };
        let metadata: Vec<(&str, u128)> = fields
            .iter()
            .zip(values)
            .map(|((name, _), v)| (name.as_str(), v))
            .collect();
        self.client
            .packet_out_sink()
            .send(payload.to_vec(), &metadata)
            .map_err(|e| format!("packet-out: {e}"))?;
        Ok(true)
    }

    fn packet_ins(&mut self) -> Vec<Vec<u8>> {
        let fields = header_fields(self.index.packet_in());
        while let Ok(p) = self.packet_ins.try_recv() {
            let values: Vec<(u32, u128)> = fields
                .iter()
                .map(|(name, width)| (*width, p.value(name).unwrap_or(0)))
                .collect();
            let mut frame = pack(&values);
            frame.extend_from_slice(&p.payload);
            self.got.push(frame);
        }
        self.got.clone()
    }

    fn counters(&mut self, cells: &[(&str, u32)]) -> Result<Vec<(u64, u64)>, String> {
        // Every cell of each counter named, in one read.
        let mut names: Vec<&str> = cells.iter().map(|(c, _)| *c).collect();
        names.sort_unstable();
        names.dedup();
        let mut entities = vec![];
        for n in &names {
            entities.push(
                entity::counter_entry(&self.index, n, None, None)
                    .map_err(|e| e.to_string())?
                    .into(),
            );
        }
        let read = self
            .rt
            .block_on(self.client.read(entities))
            .map_err(|e| format!("reading counters: {e}"))?;
        let mut got: BTreeMap<(u32, i64), (u64, u64)> = BTreeMap::new();
        for e in read {
            if let Some(p4::entity::Entity::CounterEntry(c)) = e.entity {
                let data = c.data.unwrap_or_default();
                got.insert(
                    (c.counter_id, c.index.map_or(0, |i| i.index)),
                    (data.packet_count as u64, data.byte_count as u64),
                );
            }
        }
        cells
            .iter()
            .map(|(name, i)| {
                let id = self
                    .index
                    .id(fairshare_p4rt::EntityKind::Counter, name)
                    .ok_or(format!("no counter `{name}` in the P4Info"))?;
                got.get(&(id, i64::from(*i)))
                    .copied()
                    .ok_or(format!("simple_switch_grpc did not return `{name}`[{i}]"))
            })
            .collect()
    }
}

/// The fields of a controller header: name and width, in order.
fn header_fields(h: Option<&cfg::ControllerPacketMetadata>) -> Vec<(String, u32)> {
    h.map(|h| {
        h.metadata
            .iter()
            .map(|m| (m.name.clone(), m.bitwidth.max(0) as u32))
            .collect()
    })
    .unwrap_or_default()
}

/// Values of the given widths packed most significant bit first (a last
/// partial byte is padded with zeros).
pub fn pack(values: &[(u32, u128)]) -> Vec<u8> {
    let total: u32 = values.iter().map(|(w, _)| w).sum();
    let mut out = vec![0u8; total.div_ceil(8) as usize];
    let mut bit = 0usize;
    for (w, v) in values {
        for k in (0..*w).rev() {
            if k < 128 && (v >> k) & 1 == 1 {
                out[bit / 8] |= 0x80 >> (bit % 8);
            }
            bit += 1;
        }
    }
    out
}

/// The values of fields of the given widths at the start of `frame`, and
/// the rest; `None` when the frame is shorter than the header.
pub fn unpack<'f>(fields: &[(String, u32)], frame: &'f [u8]) -> Option<(Vec<u128>, &'f [u8])> {
    let total: u32 = fields.iter().map(|(_, w)| w).sum();
    let len = total.div_ceil(8) as usize;
    let head = frame.get(..len)?;
    let mut bit = 0usize;
    let mut values = vec![];
    for (_, w) in fields {
        let mut v = 0u128;
        for _ in 0..*w {
            v = (v << 1) | u128::from((head[bit / 8] >> (7 - bit % 8)) & 1);
            bit += 1;
        }
        values.push(v);
    }
    Some((values, &frame[len..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_pack_most_significant_bit_first() {
        // packet_in {ingress_port 3, reason 1}: 9 + 7 bits, 0x0181 (as the
        // rsvp-punt case's description reads it by hand).
        assert_eq!(pack(&[(9, 3), (7, 1)]), vec![0x01, 0x81]);
        let fields = vec![("egress_port".to_string(), 9), ("pad".to_string(), 7)];
        let (v, rest) = unpack(&fields, &[0x01, 0x80, 0xaa]).expect("long enough");
        assert_eq!((v, rest), (vec![3, 0], &[0xaa][..]));
        assert_eq!(unpack(&fields, &[0x00]), None);
    }
}
