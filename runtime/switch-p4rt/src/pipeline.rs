//! A committed pipeline: the switch, the P4Info it was pushed with, and the
//! translation between P4Runtime entities and the switch's control-plane
//! API.
//!
//! Every check answers with the status code the P4Runtime specification
//! gives it: an unknown entity id is NOT_FOUND; an unknown member id (match
//! field, action parameter, packet metadata), a value of the wrong width, a
//! byte string longer than `ceil(W/8)` bytes or a match that does not fit its
//! match kind is INVALID_ARGUMENT; what the switch cannot do yet is
//! UNIMPLEMENTED.
//!
//! Byte strings: input is taken in the canonical (shortest) form and in the
//! older form padded to `ceil(W/8)` bytes, as the specification asks of
//! servers (p4runtime-shell 0.0.5 still pads action parameters and packet
//! metadata); output is always canonical.

use std::sync::Arc;

use fairshare_p4rt::bytestring::{BitString, Form};
use fairshare_p4rt::proto::p4::config::v1 as cfg;
use fairshare_p4rt::proto::p4::v1 as p4;
use fairshare_p4rt::P4InfoIndex;
use fairshare_switch::cpu::{ControllerHeader, MetadataField, PacketMetadata};
use fairshare_switch::{Entry, KeyMatch, MeterConfig, Switch};
use tonic::Code;

use crate::pre::PreEntries;

/// A refusal: the status code and a message saying what was expected and
/// what was found.
pub(crate) type Fail = (Code, String);

pub(crate) fn fail<T>(code: Code, message: impl Into<String>) -> Result<T, Fail> {
    Err((code, message.into()))
}

/// The status code a switch error stands for. Every variant is listed, so
/// that a new one has to be given its code here.
fn switch_code(e: &fairshare_switch::Error) -> Code {
    use fairshare_switch::Error as E;
    match e {
        E::UnknownTable(_) | E::UnknownAction { .. } | E::UnknownObject { .. } => Code::NotFound,
        E::NoSuchEntry { .. } | E::NoSuchCloneSession(_) | E::NoSuchMulticastGroup(_) => {
            Code::NotFound
        }
        E::DuplicateEntry { .. } | E::MulticastGroupExists(_) => Code::AlreadyExists,
        E::TableFull { .. } => Code::ResourceExhausted,
        E::BadIndex { .. } => Code::OutOfRange,
        E::Json { .. }
        | E::Refused { .. }
        | E::BadEntry { .. }
        | E::BadMeter { .. }
        | E::BadCloneSession { .. }
        | E::BadMulticastGroup { .. }
        | E::BadController(_)
        | E::BadPriorityQueues(_)
        | E::Rules(_) => Code::InvalidArgument,
    }
}

pub(crate) fn from_switch(e: fairshare_switch::Error) -> Fail {
    (switch_code(&e), e.to_string())
}

/// A committed pipeline.
pub(crate) struct Pipeline {
    pub switch: Switch,
    /// Shared so that a P4Info entity can be borrowed while the switch is
    /// changed.
    pub index: Arc<P4InfoIndex>,
    /// The config as it was pushed, for GetForwardingPipelineConfig.
    pub config: p4::ForwardingPipelineConfig,
    packet_in: Option<ControllerHeader>,
    packet_out: Option<ControllerHeader>,
    /// Clone sessions and multicast groups as written.
    pub pre: PreEntries,
}

fn controller_header(
    meta: Option<&cfg::ControllerPacketMetadata>,
) -> Result<Option<ControllerHeader>, String> {
    let Some(meta) = meta else { return Ok(None) };
    let fields = meta
        .metadata
        .iter()
        .map(|m| MetadataField {
            id: m.id,
            name: m.name.clone(),
            width: m.bitwidth.max(0) as u32,
        })
        .collect();
    ControllerHeader::new(fields)
        .map(Some)
        .map_err(|e| e.to_string())
}

impl Pipeline {
    /// Loads the BMv2 JSON and checks that the P4Info describes it: every
    /// table, action, meter and counter of the P4Info must be in the JSON
    /// under the same name, with the same number of keys and parameters.
    pub fn load(
        config: p4::ForwardingPipelineConfig,
        drop_port: u32,
        priority_queues: u32,
    ) -> Result<Pipeline, Fail> {
        let Some(info) = config.p4info.clone() else {
            return fail(
                Code::InvalidArgument,
                "expected a P4Info in the pipeline config, found none",
            );
        };
        let index = P4InfoIndex::new(info).map_err(|e| (Code::InvalidArgument, e.to_string()))?;
        let json = std::str::from_utf8(&config.p4_device_config).map_err(|e| {
            (
                Code::InvalidArgument,
                format!("expected the BMv2 JSON as UTF-8 in p4_device_config, found: {e}"),
            )
        })?;
        let mut switch =
            Switch::load(json).map_err(|e| (Code::InvalidArgument, format!("BMv2 JSON: {e}")))?;
        switch.set_drop_port(drop_port);
        switch
            .set_priority_queues(priority_queues)
            .map_err(from_switch)?;
        let mismatch = |what: String| {
            (
                Code::InvalidArgument,
                format!("P4Info and BMv2 JSON disagree: {what}"),
            )
        };
        let info = index.p4info();
        for t in &info.tables {
            let name = t.preamble.as_ref().map_or("", |p| p.name.as_str());
            let keys = switch
                .table_keys(name)
                .map_err(|_| mismatch(format!("table `{name}` is not in the JSON")))?;
            if keys.len() != t.match_fields.len() {
                return Err(mismatch(format!(
                    "table `{name}`: {} match fields in the P4Info, {} keys in the JSON",
                    t.match_fields.len(),
                    keys.len()
                )));
            }
        }
        for a in &info.actions {
            let name = a.preamble.as_ref().map_or("", |p| p.name.as_str());
            match switch.action_params(name) {
                Some(params) if params.len() == a.params.len() => {}
                Some(params) => {
                    return Err(mismatch(format!(
                        "action `{name}`: {} parameters in the P4Info, {} in the JSON",
                        a.params.len(),
                        params.len()
                    )))
                }
                None => return Err(mismatch(format!("action `{name}` is not in the JSON"))),
            }
        }
        for m in &info.meters {
            let name = m.preamble.as_ref().map_or("", |p| p.name.as_str());
            switch
                .meter_unit(name)
                .map_err(|_| mismatch(format!("meter `{name}` is not in the JSON")))?;
        }
        let packet_in = controller_header(index.packet_in()).map_err(mismatch)?;
        let packet_out = controller_header(index.packet_out()).map_err(mismatch)?;
        Ok(Pipeline {
            switch,
            index: Arc::new(index),
            config,
            packet_in,
            packet_out,
            pre: PreEntries::default(),
        })
    }

    /// Carries the state of `old` over into this newly loaded pipeline
    /// (RECONCILE_AND_COMMIT), as far as its shape allows:
    /// * the entries of a table whose match fields (names, widths and
    ///   kinds, in order) are unchanged, each if its action is still one
    ///   of the table's with the same parameters (names and widths), with
    ///   its direct meter config when the table still has a direct meter;
    ///   and the table's default action on the same terms;
    /// * the cells of meter, counter and register arrays with the same
    ///   name and size (and unit or width);
    /// * clone sessions and multicast groups whose ports the new program's
    ///   `egress_port` holds.
    ///
    /// Everything else starts afresh, as with VERIFY_AND_COMMIT. Returns
    /// the number of table entries kept and dropped.
    #[must_use = "the counts say what was kept"]
    pub fn reconcile(&mut self, mut old: Pipeline) -> (usize, usize) {
        let (mut kept, mut dropped) = (0, 0);
        let new_info = Arc::clone(&self.index);
        let old_info = Arc::clone(&old.index);
        for t in &new_info.p4info().tables {
            let tname = name(t.preamble.as_ref());
            let new_id = t.preamble.as_ref().map_or(0, |p| p.id);
            let Some(o) = old_info.table_by_name(tname) else {
                continue;
            };
            let old_id = o.preamble.as_ref().map_or(0, |p| p.id);
            let shape = |f: &cfg::MatchField| (f.name.clone(), f.bitwidth, f.r#match.clone());
            let entries = old.switch.entries(tname).unwrap_or_default();
            if !t
                .match_fields
                .iter()
                .map(shape)
                .eq(o.match_fields.iter().map(shape))
            {
                dropped += entries.len();
                continue;
            }
            let same_action = |action: &str| {
                let params = |info: &P4InfoIndex, table: u32| {
                    let a = info.action_by_name(action)?;
                    let id = a.preamble.as_ref().map_or(0, |p| p.id);
                    info.table_has_action(table, id).then(|| {
                        a.params
                            .iter()
                            .map(|p| (p.name.clone(), p.bitwidth))
                            .collect::<Vec<_>>()
                    })
                };
                let now = params(&new_info, new_id);
                now.is_some() && now == params(&old_info, old_id)
            };
            let meters = new_info.direct_meter_of_table(new_id).is_some();
            for (handle, e) in entries {
                if !same_action(&e.action) {
                    dropped += 1;
                    continue;
                }
                let config = old.switch.direct_meter(tname, handle).ok().flatten();
                match self.switch.add_entry(tname, e) {
                    Ok(h) => {
                        kept += 1;
                        if let (true, Some(c)) = (meters, config) {
                            let _ = self.switch.set_direct_meter(tname, h, c);
                        }
                    }
                    Err(_) => dropped += 1,
                }
            }
            if let Ok((action, params)) = old.switch.default_action(tname) {
                if same_action(&action) && t.const_default_action_id == 0 {
                    let _ = self.switch.set_default_action(tname, &action, &params);
                }
            }
        }
        for m in &new_info.p4info().meters {
            let mname = name(m.preamble.as_ref());
            let same = old_info
                .meter_by_name(mname)
                .is_some_and(|o| o.size == m.size && o.spec == m.spec);
            for cell in (0..m.size.clamp(0, i64::from(u32::MAX)) as u32).filter(|_| same) {
                if let Ok(Some(c)) = old.switch.meter(mname, cell) {
                    let _ = self.switch.set_meter(mname, cell, c);
                }
            }
        }
        for c in &new_info.p4info().counters {
            let cname = name(c.preamble.as_ref());
            let same = old_info
                .counter_by_name(cname)
                .is_some_and(|o| o.size == c.size);
            for cell in (0..c.size.clamp(0, i64::from(u32::MAX)) as u32).filter(|_| same) {
                if let Ok((packets, bytes)) = old.switch.counter(cname, cell) {
                    let _ = self.switch.set_counter(cname, cell, packets, bytes);
                }
            }
        }
        for r in &new_info.p4info().registers {
            let rname = name(r.preamble.as_ref());
            let same = old_info
                .register_by_name(rname)
                .is_some_and(|o| o.size == r.size && o.type_spec == r.type_spec);
            for cell in (0..r.size.max(0) as u32).filter(|_| same) {
                if let Ok(v) = old.switch.register(rname, cell) {
                    let _ = self.switch.set_register(rname, cell, v);
                }
            }
        }
        let (pre_kept, pre_dropped) = self.reconcile_pre(&old.pre);
        (kept + pre_kept, dropped + pre_dropped)
    }

    fn table(&self, id: u32) -> Result<&cfg::Table, Fail> {
        self.index.table(id).ok_or_else(|| {
            (
                Code::NotFound,
                format!("expected a table id of the P4Info, found {id:#010x}"),
            )
        })
    }

    // ---- table entries ----

    /// The switch's keys and priority for a P4Runtime match. Fields left
    /// out are wildcards; exact fields may not be left out.
    fn keys(&self, table: &cfg::Table, entry: &p4::TableEntry) -> Result<Vec<KeyMatch>, Fail> {
        use cfg::match_field::MatchType as Mt;
        use p4::field_match::FieldMatchType as F;
        let tname = name(table.preamble.as_ref());
        // Tables have a handful of fields: linear scans beat a map here.
        for (i, m) in entry.r#match.iter().enumerate() {
            if !table.match_fields.iter().any(|f| f.id == m.field_id) {
                return fail(
                    Code::InvalidArgument,
                    format!(
                        "table `{tname}`: expected one of its match field ids, found {}",
                        m.field_id
                    ),
                );
            }
            if entry.r#match[..i].iter().any(|x| x.field_id == m.field_id) {
                return fail(
                    Code::InvalidArgument,
                    format!("table `{tname}`: match field {} is given twice", m.field_id),
                );
            }
        }
        let mut needs_priority = false;
        let mut keys = Vec::with_capacity(table.match_fields.len());
        for f in &table.match_fields {
            let width = f.bitwidth.max(0) as u32;
            let kind = match f.r#match {
                Some(cfg::match_field::Match::MatchType(t)) => {
                    Mt::try_from(t).unwrap_or(Mt::Unspecified)
                }
                _ => Mt::Unspecified,
            };
            needs_priority |= matches!(kind, Mt::Ternary | Mt::Range | Mt::Optional);
            let field = &f.name;
            let value = |bytes: &[u8]| -> Result<u128, Fail> { value(bytes, width, field) };
            let wrong = |found: &str| {
                fail(
                    Code::InvalidArgument,
                    format!(
                        "match field `{field}` is {}, found a {found} match",
                        kind.as_str_name()
                    ),
                )
            };
            let m = entry
                .r#match
                .iter()
                .find(|m| m.field_id == f.id)
                .and_then(|m| m.field_match_type.as_ref());
            let key = match (kind, m) {
                (Mt::Exact, Some(F::Exact(e))) => KeyMatch::Exact(value(&e.value)?),
                (Mt::Exact, None) => {
                    return fail(
                        Code::InvalidArgument,
                        format!("expected a value for exact match field `{field}`, found none"),
                    )
                }
                (Mt::Lpm, Some(F::Lpm(l))) => {
                    let v = value(&l.value)?;
                    if l.prefix_len <= 0 || l.prefix_len as u32 > width {
                        return fail(
                            Code::InvalidArgument,
                            format!(
                                "match field `{field}`: expected a prefix length of 1 to {width} (0 is written by leaving the field out), found {}",
                                l.prefix_len
                            ),
                        );
                    }
                    let host = width - l.prefix_len as u32;
                    if host > 0 && v & ((1u128 << host) - 1) != 0 {
                        return fail(
                            Code::InvalidArgument,
                            format!("match field `{field}`: expected zero bits after the /{} prefix, found value {v:#x}", l.prefix_len),
                        );
                    }
                    KeyMatch::Lpm {
                        value: v,
                        prefix_len: l.prefix_len as u32,
                    }
                }
                (Mt::Lpm, None) => KeyMatch::Lpm {
                    value: 0,
                    prefix_len: 0,
                },
                (Mt::Ternary, Some(F::Ternary(t))) => {
                    let (v, mask) = (value(&t.value)?, value(&t.mask)?);
                    if mask == 0 {
                        return fail(
                            Code::InvalidArgument,
                            format!("match field `{field}`: a zero mask is written by leaving the field out"),
                        );
                    }
                    if v & !mask != 0 {
                        return fail(
                            Code::InvalidArgument,
                            format!("match field `{field}`: expected no value bits outside the mask {mask:#x}, found value {v:#x}"),
                        );
                    }
                    KeyMatch::Ternary { value: v, mask }
                }
                (Mt::Ternary, None) => KeyMatch::Ternary { value: 0, mask: 0 },
                (Mt::Range, Some(F::Range(r))) => {
                    let (low, high) = (value(&r.low)?, value(&r.high)?);
                    if low > high {
                        return fail(
                            Code::InvalidArgument,
                            format!("match field `{field}`: expected low <= high, found {low:#x} > {high:#x}"),
                        );
                    }
                    if low == 0 && high == max_of(width) {
                        return fail(
                            Code::InvalidArgument,
                            format!("match field `{field}`: the full range is written by leaving the field out"),
                        );
                    }
                    KeyMatch::Range { low, high }
                }
                (Mt::Range, None) => KeyMatch::Range {
                    low: 0,
                    high: max_of(width),
                },
                (Mt::Optional, Some(F::Optional(o))) => KeyMatch::Optional(Some(value(&o.value)?)),
                (Mt::Optional, None) => KeyMatch::Optional(None),
                (Mt::Unspecified, _) => {
                    return fail(
                        Code::Unimplemented,
                        format!(
                            "match field `{field}` has a match kind the switch does not implement"
                        ),
                    )
                }
                (_, Some(F::Exact(_))) => return wrong("EXACT"),
                (_, Some(F::Lpm(_))) => return wrong("LPM"),
                (_, Some(F::Ternary(_))) => return wrong("TERNARY"),
                (_, Some(F::Range(_))) => return wrong("RANGE"),
                (_, Some(F::Optional(_))) => return wrong("OPTIONAL"),
                (_, Some(F::Other(_))) => return wrong("other"),
            };
            keys.push(key);
        }
        if needs_priority && entry.priority <= 0 {
            return fail(
                Code::InvalidArgument,
                format!("table `{tname}` has ternary, range or optional keys: expected a priority above 0, found {}", entry.priority),
            );
        }
        if !needs_priority && entry.priority != 0 {
            return fail(
                Code::InvalidArgument,
                format!("table `{tname}` has no ternary, range or optional keys: expected priority 0, found {}", entry.priority),
            );
        }
        Ok(keys)
    }

    /// The action of an entry: its name in the switch and its parameters.
    fn action(
        &self,
        table: &cfg::Table,
        action: Option<&p4::TableAction>,
    ) -> Result<(String, Vec<u128>), Fail> {
        let tname = name(table.preamble.as_ref());
        let action = match action.and_then(|a| a.r#type.as_ref()) {
            Some(p4::table_action::Type::Action(a)) => a,
            Some(_) => {
                return fail(
                    Code::Unimplemented,
                    format!("table `{tname}`: action profiles are not implemented; expected a direct action"),
                )
            }
            None => {
                return fail(
                    Code::InvalidArgument,
                    format!("table `{tname}`: expected an action, found none"),
                )
            }
        };
        let Some(info) = self.index.action(action.action_id) else {
            return fail(
                Code::NotFound,
                format!(
                    "expected an action id of the P4Info, found {:#010x}",
                    action.action_id
                ),
            );
        };
        let aname = name(info.preamble.as_ref());
        if !table.action_refs.iter().any(|r| r.id == action.action_id) {
            return fail(
                Code::InvalidArgument,
                format!("table `{tname}` does not take action `{aname}`"),
            );
        }
        let mut values = vec![None; info.params.len()];
        for p in &action.params {
            let Some(pos) = info.params.iter().position(|q| q.id == p.param_id) else {
                return fail(
                    Code::InvalidArgument,
                    format!(
                        "action `{aname}`: expected one of its parameter ids, found {}",
                        p.param_id
                    ),
                );
            };
            let q = &info.params[pos];
            if values[pos].is_some() {
                return fail(
                    Code::InvalidArgument,
                    format!("action `{aname}`: parameter `{}` is given twice", q.name),
                );
            }
            values[pos] = Some(value(&p.value, q.bitwidth.max(0) as u32, &q.name)?);
        }
        let params = values
            .into_iter()
            .zip(&info.params)
            .map(|(v, q)| {
                v.ok_or_else(|| {
                    (
                        Code::InvalidArgument,
                        format!(
                            "action `{aname}`: expected a value for parameter `{}`, found none",
                            q.name
                        ),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok((aname.to_owned(), params))
    }

    pub fn write_table_entry(
        &mut self,
        kind: p4::update::Type,
        entry: &p4::TableEntry,
    ) -> Result<(), Fail> {
        use p4::update::Type as U;
        let index = Arc::clone(&self.index);
        let Some(table) = index.table(entry.table_id) else {
            return fail(
                Code::NotFound,
                format!(
                    "expected a table id of the P4Info, found {:#010x}",
                    entry.table_id
                ),
            );
        };
        let tname = name(table.preamble.as_ref());
        if table.is_const_table {
            return fail(
                Code::PermissionDenied,
                format!("table `{tname}` is constant"),
            );
        }
        if entry.is_default_action {
            if kind != U::Modify {
                return fail(
                    Code::InvalidArgument,
                    format!(
                        "table `{tname}`: the default entry can only be modified, found {}",
                        kind.as_str_name()
                    ),
                );
            }
            if !entry.r#match.is_empty() || entry.priority != 0 {
                return fail(
                    Code::InvalidArgument,
                    format!("table `{tname}`: expected a default entry without match or priority"),
                );
            }
            let (action, params) = self.action(table, entry.action.as_ref())?;
            if table.const_default_action_id != 0 {
                return fail(
                    Code::PermissionDenied,
                    format!("table `{tname}`: the default action is constant"),
                );
            }
            return self
                .switch
                .set_default_action(tname, &action, &params)
                .map_err(from_switch);
        }
        let keys = self.keys(table, entry)?;
        let priority = entry.priority as u32;
        let meter = entry.meter_config.as_ref().map(meter_config).transpose()?;
        match kind {
            U::Insert => {
                let (action, params) = self.action(table, entry.action.as_ref())?;
                let handle = self
                    .switch
                    .add_entry(
                        tname,
                        Entry {
                            keys,
                            action,
                            params,
                            priority,
                        },
                    )
                    .map_err(from_switch)?;
                if let Some(config) = meter {
                    if let Err(e) = self.switch.set_direct_meter(tname, handle, config) {
                        // The insert fails as a whole.
                        let _ = self.switch.delete_entry(tname, handle);
                        return Err(from_switch(e));
                    }
                }
                Ok(())
            }
            U::Modify => {
                let (action, params) = self.action(table, entry.action.as_ref())?;
                let handle = self.find(tname, &keys, priority)?;
                self.switch
                    .modify_entry(tname, handle, &action, &params)
                    .map_err(from_switch)?;
                match meter {
                    Some(config) => self
                        .switch
                        .set_direct_meter(tname, handle, config)
                        .map_err(from_switch),
                    None => Ok(()),
                }
            }
            U::Delete => {
                let handle = self.find(tname, &keys, priority)?;
                self.switch.delete_entry(tname, handle).map_err(from_switch)
            }
            U::Unspecified => fail(
                Code::InvalidArgument,
                "expected an update type, found UNSPECIFIED",
            ),
        }
    }

    /// The entry with the match and priority of `entry`, as read (with its
    /// direct meter config), and its direct counter's counts when the table
    /// has one; `None` when the table has no such entry.
    #[allow(clippy::type_complexity)]
    pub(crate) fn current_entry(
        &self,
        entry: &p4::TableEntry,
    ) -> Result<Option<(p4::TableEntry, Option<p4::CounterData>)>, Fail> {
        let index = Arc::clone(&self.index);
        let Some(table) = index.table(entry.table_id) else {
            return fail(
                Code::NotFound,
                format!(
                    "expected a table id of the P4Info, found {:#010x}",
                    entry.table_id
                ),
            );
        };
        let tname = name(table.preamble.as_ref());
        let keys = self.keys(table, entry)?;
        let Some(handle) = self
            .switch
            .find_entry(tname, &keys, entry.priority as u32)
            .map_err(from_switch)?
        else {
            return Ok(None);
        };
        let e = self.switch.entry(tname, handle).map_err(from_switch)?;
        let mut out = self.to_entry(
            table,
            entry.table_id,
            &e.keys,
            &e.action,
            &e.params,
            e.priority,
        )?;
        if index.direct_meter_of_table(entry.table_id).is_some() {
            out.meter_config = self
                .switch
                .direct_meter(tname, handle)
                .map_err(from_switch)?
                .map(meter_proto);
        }
        let counts = match index.direct_counter_of_table(entry.table_id) {
            Some(_) => {
                let (packets, bytes) = self
                    .switch
                    .direct_counter(tname, handle)
                    .map_err(from_switch)?;
                Some(p4::CounterData {
                    byte_count: bytes as i64,
                    packet_count: packets as i64,
                })
            }
            None => None,
        };
        Ok(Some((out, counts)))
    }

    fn find(&self, table: &str, keys: &[KeyMatch], priority: u32) -> Result<u32, Fail> {
        self.switch
            .find_entry(table, keys, priority)
            .map_err(from_switch)?
            .ok_or_else(|| {
                (
                    Code::NotFound,
                    format!("table `{table}` has no entry with this match and priority"),
                )
            })
    }

    /// Table entries for a read request: every entry of every table when
    /// the table id is 0, every entry of the table when no match is given,
    /// the default entry when `is_default_action` is set, else the entry
    /// with the given match.
    pub fn read_table_entries(
        &self,
        request: &p4::TableEntry,
        out: &mut Vec<p4::Entity>,
    ) -> Result<(), Fail> {
        let tables: Vec<cfg::Table> = if request.table_id == 0 {
            self.index.p4info().tables.clone()
        } else {
            vec![self.table(request.table_id)?.clone()]
        };
        for table in &tables {
            let tname = name(table.preamble.as_ref());
            let id = table.preamble.as_ref().map_or(0, |p| p.id);
            if request.is_default_action {
                let (action, params) = self.switch.default_action(tname).map_err(from_switch)?;
                let mut entry = self.to_entry(table, id, &[], &action, &params, 0)?;
                entry.is_default_action = true;
                out.push(entity(entry));
                continue;
            }
            let want = if request.table_id != 0 && !request.r#match.is_empty() {
                let keys = self.keys(table, request)?;
                match self
                    .switch
                    .find_entry(tname, &keys, request.priority as u32)
                    .map_err(from_switch)?
                {
                    Some(h) => Some(h),
                    None => continue,
                }
            } else {
                None
            };
            for (handle, e) in self.switch.entries(tname).map_err(from_switch)? {
                if want.is_some_and(|w| w != handle) {
                    continue;
                }
                let mut entry =
                    self.to_entry(table, id, &e.keys, &e.action, &e.params, e.priority)?;
                if self.index.direct_meter_of_table(id).is_some() {
                    if let Ok(Some(c)) = self.switch.direct_meter(tname, handle) {
                        entry.meter_config = Some(meter_proto(c));
                    }
                }
                out.push(entity(entry));
            }
        }
        Ok(())
    }

    fn to_entry(
        &self,
        table: &cfg::Table,
        table_id: u32,
        keys: &[KeyMatch],
        action: &str,
        params: &[u128],
        priority: u32,
    ) -> Result<p4::TableEntry, Fail> {
        use p4::field_match::FieldMatchType as F;
        let mut matches = Vec::new();
        for (f, k) in table.match_fields.iter().zip(keys) {
            let width = f.bitwidth.max(0) as u32;
            let m = match *k {
                KeyMatch::Exact(v) => Some(F::Exact(p4::field_match::Exact { value: bytes(v) })),
                KeyMatch::Lpm { prefix_len: 0, .. } => None,
                KeyMatch::Lpm { value, prefix_len } => Some(F::Lpm(p4::field_match::Lpm {
                    value: bytes(value),
                    prefix_len: prefix_len as i32,
                })),
                KeyMatch::Ternary { mask: 0, .. } => None,
                KeyMatch::Ternary { value, mask } => Some(F::Ternary(p4::field_match::Ternary {
                    value: bytes(value),
                    mask: bytes(mask),
                })),
                KeyMatch::Range { low, high } if low == 0 && high == max_of(width) => None,
                KeyMatch::Range { low, high } => Some(F::Range(p4::field_match::Range {
                    low: bytes(low),
                    high: bytes(high),
                })),
                KeyMatch::Optional(None) => None,
                KeyMatch::Optional(Some(v)) => {
                    Some(F::Optional(p4::field_match::Optional { value: bytes(v) }))
                }
            };
            if let Some(m) = m {
                matches.push(p4::FieldMatch {
                    field_id: f.id,
                    field_match_type: Some(m),
                });
            }
        }
        let Some(info) = self.index.action_by_name(action) else {
            return fail(
                Code::Internal,
                format!("action `{action}` of the switch is not in the P4Info"),
            );
        };
        let action = p4::Action {
            action_id: info.preamble.as_ref().map_or(0, |p| p.id),
            params: info
                .params
                .iter()
                .zip(params)
                .map(|(q, v)| p4::action::Param {
                    param_id: q.id,
                    value: bytes(*v),
                })
                .collect(),
        };
        Ok(p4::TableEntry {
            table_id,
            r#match: matches,
            action: Some(p4::TableAction {
                r#type: Some(p4::table_action::Type::Action(action)),
            }),
            priority: priority as i32,
            ..Default::default()
        })
    }

    // ---- meters and counters ----

    pub fn write_meter_entry(
        &mut self,
        kind: p4::update::Type,
        entry: &p4::MeterEntry,
    ) -> Result<(), Fail> {
        let Some(meter) = self.index.meter(entry.meter_id) else {
            return fail(
                Code::NotFound,
                format!(
                    "expected a meter id of the P4Info, found {:#010x}",
                    entry.meter_id
                ),
            );
        };
        let mname = name(meter.preamble.as_ref()).to_owned();
        if kind != p4::update::Type::Modify {
            return fail(
                Code::InvalidArgument,
                format!(
                    "meter `{mname}`: meter cells can only be modified, found {}",
                    kind.as_str_name()
                ),
            );
        }
        // Without an index, every cell of the array.
        let cells = cells(entry.index.as_ref(), meter.size, &mname)?;
        let config = entry.config.as_ref().map(meter_config).transpose()?;
        for index in cells {
            match config {
                Some(c) => self.switch.set_meter(&mname, index, c),
                None => self.switch.reset_meter(&mname, index),
            }
            .map_err(from_switch)?;
        }
        Ok(())
    }

    pub fn read_meter_entries(
        &mut self,
        request: &p4::MeterEntry,
        out: &mut Vec<p4::Entity>,
    ) -> Result<(), Fail> {
        let meters: Vec<cfg::Meter> = if request.meter_id == 0 {
            self.index.p4info().meters.clone()
        } else {
            match self.index.meter(request.meter_id) {
                Some(m) => vec![m.clone()],
                None => {
                    return fail(
                        Code::NotFound,
                        format!(
                            "expected a meter id of the P4Info, found {:#010x}",
                            request.meter_id
                        ),
                    )
                }
            }
        };
        for m in &meters {
            let mname = name(m.preamble.as_ref());
            let id = m.preamble.as_ref().map_or(0, |p| p.id);
            let cells = match &request.index {
                Some(i) => vec![cell_index(i.index, m.size, mname)?],
                None => (0..m.size.clamp(0, i64::from(u32::MAX)) as u32).collect(),
            };
            for cell in cells {
                let config = self.switch.meter(mname, cell).map_err(from_switch)?;
                out.push(p4::Entity {
                    entity: Some(p4::entity::Entity::MeterEntry(p4::MeterEntry {
                        meter_id: id,
                        index: Some(p4::Index {
                            index: i64::from(cell),
                        }),
                        config: config.map(meter_proto),
                        counter_data: None,
                    })),
                });
            }
        }
        Ok(())
    }

    pub fn read_counter_entries(
        &self,
        request: &p4::CounterEntry,
        out: &mut Vec<p4::Entity>,
    ) -> Result<(), Fail> {
        let counters: Vec<cfg::Counter> = if request.counter_id == 0 {
            self.index.p4info().counters.clone()
        } else {
            match self.index.counter(request.counter_id) {
                Some(c) => vec![c.clone()],
                None => {
                    return fail(
                        Code::NotFound,
                        format!(
                            "expected a counter id of the P4Info, found {:#010x}",
                            request.counter_id
                        ),
                    )
                }
            }
        };
        for c in &counters {
            let cname = name(c.preamble.as_ref());
            let id = c.preamble.as_ref().map_or(0, |p| p.id);
            let cells = match &request.index {
                Some(i) => vec![cell_index(i.index, c.size, cname)?],
                None => (0..c.size.clamp(0, i64::from(u32::MAX)) as u32).collect(),
            };
            for cell in cells {
                let (packets, bytes) = self.switch.counter(cname, cell).map_err(from_switch)?;
                out.push(p4::Entity {
                    entity: Some(p4::entity::Entity::CounterEntry(p4::CounterEntry {
                        counter_id: id,
                        index: Some(p4::Index {
                            index: i64::from(cell),
                        }),
                        data: Some(p4::CounterData {
                            byte_count: bytes as i64,
                            packet_count: packets as i64,
                        }),
                    })),
                });
            }
        }
        Ok(())
    }

    /// The entries a direct resource read asks for: every entry of every
    /// table `has` is true of when the table id is 0, every entry of the
    /// table when no match is given, else the entry with the match.
    fn entries_for(
        &self,
        request: Option<&p4::TableEntry>,
        has: impl Fn(u32) -> bool,
        what: &str,
    ) -> Result<Vec<(cfg::Table, u32, Entry)>, Fail> {
        let default = p4::TableEntry::default();
        let request = request.unwrap_or(&default);
        let tables: Vec<cfg::Table> = if request.table_id == 0 {
            self.index
                .p4info()
                .tables
                .iter()
                .filter(|t| has(t.preamble.as_ref().map_or(0, |p| p.id)))
                .cloned()
                .collect()
        } else {
            let t = self.table(request.table_id)?;
            if !has(request.table_id) {
                return fail(
                    Code::InvalidArgument,
                    format!("table `{}` has no {what}", name(t.preamble.as_ref())),
                );
            }
            vec![t.clone()]
        };
        let mut out = Vec::new();
        for t in tables {
            let tname = name(t.preamble.as_ref()).to_owned();
            let want = if request.table_id != 0 && !request.r#match.is_empty() {
                let keys = self.keys(&t, request)?;
                Some(self.find(&tname, &keys, request.priority as u32)?)
            } else {
                None
            };
            for (handle, e) in self.switch.entries(&tname).map_err(from_switch)? {
                if want.is_none_or(|w| w == handle) {
                    out.push((t.clone(), handle, e));
                }
            }
        }
        Ok(out)
    }

    /// The table and handle of the entry a direct resource names.
    pub(crate) fn direct_target(
        &self,
        entry: Option<&p4::TableEntry>,
        what: &str,
    ) -> Result<(String, u32), Fail> {
        let Some(entry) = entry else {
            return fail(
                Code::InvalidArgument,
                format!("expected the table entry of the {what}, found none"),
            );
        };
        let table = self.table(entry.table_id)?.clone();
        let tname = name(table.preamble.as_ref()).to_owned();
        let keys = self.keys(&table, entry)?;
        let handle = self.find(&tname, &keys, entry.priority as u32)?;
        Ok((tname, handle))
    }

    pub fn write_direct_meter_entry(
        &mut self,
        kind: p4::update::Type,
        entry: &p4::DirectMeterEntry,
    ) -> Result<(), Fail> {
        if kind != p4::update::Type::Modify {
            return fail(
                Code::InvalidArgument,
                format!(
                    "direct meters can only be modified, found {}",
                    kind.as_str_name()
                ),
            );
        }
        let (table, handle) = self.direct_target(entry.table_entry.as_ref(), "direct meter")?;
        let Some(config) = entry.config.as_ref() else {
            return self.reset_direct_meter(&table, handle);
        };
        self.switch
            .set_direct_meter(&table, handle, meter_config(config)?)
            .map_err(from_switch)
    }

    /// Returns an entry's direct meter to unconfigured, in place: the entry
    /// keeps its handle and its direct counter's counts.
    fn reset_direct_meter(&mut self, table: &str, handle: u32) -> Result<(), Fail> {
        self.switch
            .reset_direct_meter(table, handle)
            .map_err(from_switch)
    }

    /// MODIFY of a direct counter entry: sets the entry's packet and byte
    /// counts (zero when no data is given).
    pub fn write_direct_counter_entry(
        &mut self,
        kind: p4::update::Type,
        entry: &p4::DirectCounterEntry,
    ) -> Result<(), Fail> {
        if kind != p4::update::Type::Modify {
            return fail(
                Code::InvalidArgument,
                format!(
                    "direct counters can only be modified, found {}",
                    kind.as_str_name()
                ),
            );
        }
        let table_id = entry.table_entry.as_ref().map_or(0, |t| t.table_id);
        if entry.table_entry.is_some()
            && self.index.table(table_id).is_some()
            && self.index.direct_counter_of_table(table_id).is_none()
        {
            return fail(
                Code::InvalidArgument,
                format!(
                    "table `{}` has no direct counter",
                    name(self.table(table_id)?.preamble.as_ref())
                ),
            );
        }
        let (table, handle) = self.direct_target(entry.table_entry.as_ref(), "direct counter")?;
        let data = entry.data.unwrap_or_default();
        let (Ok(packets), Ok(bytes)) = (
            u64::try_from(data.packet_count),
            u64::try_from(data.byte_count),
        ) else {
            return fail(
                Code::InvalidArgument,
                format!(
                    "direct counter of table `{table}`: expected counts >= 0, found {} packets and {} bytes",
                    data.packet_count, data.byte_count
                ),
            );
        };
        self.switch
            .set_direct_counter(&table, handle, packets, bytes)
            .map_err(from_switch)
    }

    pub fn read_direct_meter_entries(
        &self,
        request: &p4::DirectMeterEntry,
        out: &mut Vec<p4::Entity>,
    ) -> Result<(), Fail> {
        let has = |id| self.index.direct_meter_of_table(id).is_some();
        for (table, handle, e) in
            self.entries_for(request.table_entry.as_ref(), has, "direct meter")?
        {
            let tname = name(table.preamble.as_ref());
            let id = table.preamble.as_ref().map_or(0, |p| p.id);
            let config = self
                .switch
                .direct_meter(tname, handle)
                .map_err(from_switch)?;
            out.push(p4::Entity {
                entity: Some(p4::entity::Entity::DirectMeterEntry(p4::DirectMeterEntry {
                    table_entry: Some(self.entry_key(&table, id, &e)?),
                    config: config.map(meter_proto),
                    counter_data: None,
                })),
            });
        }
        Ok(())
    }

    pub fn read_direct_counter_entries(
        &self,
        request: &p4::DirectCounterEntry,
        out: &mut Vec<p4::Entity>,
    ) -> Result<(), Fail> {
        let has = |id| self.index.direct_counter_of_table(id).is_some();
        for (table, handle, e) in
            self.entries_for(request.table_entry.as_ref(), has, "direct counter")?
        {
            let tname = name(table.preamble.as_ref());
            let id = table.preamble.as_ref().map_or(0, |p| p.id);
            let (packets, bytes) = self
                .switch
                .direct_counter(tname, handle)
                .map_err(from_switch)?;
            out.push(p4::Entity {
                entity: Some(p4::entity::Entity::DirectCounterEntry(
                    p4::DirectCounterEntry {
                        table_entry: Some(self.entry_key(&table, id, &e)?),
                        data: Some(p4::CounterData {
                            byte_count: bytes as i64,
                            packet_count: packets as i64,
                        }),
                    },
                )),
            });
        }
        Ok(())
    }

    /// A table entry's key (match and priority) without its action, as
    /// direct resources name it.
    fn entry_key(&self, table: &cfg::Table, id: u32, e: &Entry) -> Result<p4::TableEntry, Fail> {
        let mut entry = self.to_entry(table, id, &e.keys, &e.action, &e.params, e.priority)?;
        entry.action = None;
        Ok(entry)
    }

    pub fn write_counter_entry(
        &mut self,
        kind: p4::update::Type,
        entry: &p4::CounterEntry,
    ) -> Result<(), Fail> {
        let Some(counter) = self.index.counter(entry.counter_id) else {
            return fail(
                Code::NotFound,
                format!(
                    "expected a counter id of the P4Info, found {:#010x}",
                    entry.counter_id
                ),
            );
        };
        let cname = name(counter.preamble.as_ref()).to_owned();
        if kind != p4::update::Type::Modify {
            return fail(
                Code::InvalidArgument,
                format!(
                    "counter `{cname}`: counter cells can only be modified, found {}",
                    kind.as_str_name()
                ),
            );
        }
        // Without an index, every cell of the array.
        let cells = cells(entry.index.as_ref(), counter.size, &cname)?;
        let data = entry.data.unwrap_or_default();
        let (Ok(packets), Ok(bytes)) = (
            u64::try_from(data.packet_count),
            u64::try_from(data.byte_count),
        ) else {
            return fail(
                Code::InvalidArgument,
                format!(
                    "counter `{cname}`: expected counts >= 0, found {} packets and {} bytes",
                    data.packet_count, data.byte_count
                ),
            );
        };
        for index in cells {
            self.switch
                .set_counter(&cname, index, packets, bytes)
                .map_err(from_switch)?;
        }
        Ok(())
    }

    // ---- registers ----

    fn register_info(&self, id: u32) -> Result<(cfg::Register, u32), Fail> {
        let Some(register) = self.index.register(id) else {
            return fail(
                Code::NotFound,
                format!("expected a register id of the P4Info, found {id:#010x}"),
            );
        };
        let Some(width) = fairshare_p4rt::entity::register_width(register) else {
            return fail(
                Code::Unimplemented,
                format!(
                    "register `{}`: only bit<W> registers are implemented",
                    name(register.preamble.as_ref())
                ),
            );
        };
        Ok((register.clone(), width.max(0) as u32))
    }

    pub fn write_register_entry(
        &mut self,
        kind: p4::update::Type,
        entry: &p4::RegisterEntry,
    ) -> Result<(), Fail> {
        let (register, width) = self.register_info(entry.register_id)?;
        let rname = name(register.preamble.as_ref()).to_owned();
        if kind != p4::update::Type::Modify {
            return fail(
                Code::InvalidArgument,
                format!(
                    "register `{rname}`: register cells can only be modified, found {}",
                    kind.as_str_name()
                ),
            );
        }
        let bytes = match entry.data.as_ref().and_then(|d| d.data.as_ref()) {
            Some(p4::p4_data::Data::Bitstring(b)) => b,
            Some(_) => {
                return fail(
                    Code::InvalidArgument,
                    format!(
                    "register `{rname}`: expected a bitstring value, found another kind of P4Data"
                ),
                )
            }
            None => {
                return fail(
                    Code::InvalidArgument,
                    format!("register `{rname}`: expected a value, found none"),
                )
            }
        };
        let v = value(bytes, width, &rname)?;
        // Without an index, every cell of the array.
        for index in cells(entry.index.as_ref(), i64::from(register.size), &rname)? {
            self.switch
                .set_register(&rname, index, v)
                .map_err(from_switch)?;
        }
        Ok(())
    }

    pub fn read_register_entries(
        &self,
        request: &p4::RegisterEntry,
        out: &mut Vec<p4::Entity>,
    ) -> Result<(), Fail> {
        let ids: Vec<u32> = if request.register_id == 0 {
            self.index
                .p4info()
                .registers
                .iter()
                .map(|r| r.preamble.as_ref().map_or(0, |p| p.id))
                .collect()
        } else {
            vec![request.register_id]
        };
        for id in ids {
            let (register, _) = self.register_info(id)?;
            let rname = name(register.preamble.as_ref());
            for cell in cells(request.index.as_ref(), i64::from(register.size), rname)? {
                let v = self.switch.register(rname, cell).map_err(from_switch)?;
                out.push(p4::Entity {
                    entity: Some(p4::entity::Entity::RegisterEntry(p4::RegisterEntry {
                        register_id: id,
                        index: Some(p4::Index {
                            index: i64::from(cell),
                        }),
                        data: Some(p4::P4Data {
                            data: Some(p4::p4_data::Data::Bitstring(bytes(v))),
                        }),
                    })),
                });
            }
        }
        Ok(())
    }

    // ---- packet IO ----

    /// The bytes a packet-out enters the pipeline with: the `packet_out`
    /// header built from the metadata, then the payload. Every metadata
    /// field of the P4Info must be given exactly once.
    pub fn packet_out(&self, packet: &p4::PacketOut) -> Result<Vec<u8>, Fail> {
        let Some(header) = &self.packet_out else {
            if packet.metadata.is_empty() {
                return Ok(packet.payload.clone());
            }
            return fail(
                Code::InvalidArgument,
                "the P4Info has no packet_out header: expected a packet-out without metadata",
            );
        };
        let mut seen = Vec::new();
        let mut metadata = Vec::new();
        for m in &packet.metadata {
            let Some(f) = header.fields().iter().find(|f| f.id == m.metadata_id) else {
                return fail(
                    Code::InvalidArgument,
                    format!(
                        "expected packet_out metadata ids {:?}, found {}",
                        header.fields().iter().map(|f| f.id).collect::<Vec<_>>(),
                        m.metadata_id
                    ),
                );
            };
            if seen.contains(&f.id) {
                return fail(
                    Code::InvalidArgument,
                    format!("packet_out metadata `{}` is given twice", f.name),
                );
            }
            seen.push(f.id);
            let v = value(&m.value, f.width, &f.name)?;
            metadata.push(PacketMetadata {
                id: f.id,
                value: bytes(v),
            });
        }
        if let Some(f) = header.fields().iter().find(|f| !seen.contains(&f.id)) {
            return fail(
                Code::InvalidArgument,
                format!(
                    "expected a value for packet_out metadata `{}`, found none",
                    f.name
                ),
            );
        }
        let out = fairshare_switch::PacketOut {
            payload: packet.payload.clone(),
            metadata,
        };
        header.encode(&out).map_err(from_switch)
    }

    /// A packet the pipeline sent to the CPU port, as a packet-in: the
    /// `packet_in` header becomes its metadata. `None` for a packet too
    /// short to hold the header.
    pub fn packet_in(&self, bytes: &[u8]) -> Option<p4::PacketIn> {
        match &self.packet_in {
            None => Some(p4::PacketIn {
                payload: bytes.to_vec(),
                metadata: vec![],
            }),
            Some(h) => h.decode(bytes).map(|p| p4::PacketIn {
                payload: p.payload,
                metadata: p
                    .metadata
                    .into_iter()
                    .map(|m| p4::PacketMetadata {
                        metadata_id: m.id,
                        value: m.value,
                    })
                    .collect(),
            }),
        }
    }
}

fn entity(entry: p4::TableEntry) -> p4::Entity {
    p4::Entity {
        entity: Some(p4::entity::Entity::TableEntry(entry)),
    }
}

fn name(p: Option<&cfg::Preamble>) -> &str {
    p.map_or("", |p| p.name.as_str())
}

fn max_of(width: u32) -> u128 {
    if width >= 128 {
        u128::MAX
    } else {
        (1u128 << width) - 1
    }
}

/// The canonical byte string of a value.
fn bytes(v: u128) -> Vec<u8> {
    fairshare_p4rt::bytestring::encode_u128(v)
}

/// A received `bit<width>` value: at most `ceil(width/8)` bytes, and within
/// the width.
pub(crate) fn value(bytes: &[u8], width: u32, what: &str) -> Result<u128, Fail> {
    // The common case without building a BitString: a well-formed value of
    // at most 128 bits (the same rule as `BitString::from_wire` with padded
    // input allowed); anything else takes the checked path below for its
    // error message.
    if (1..=128).contains(&width) && !bytes.is_empty() && bytes.len() <= width.div_ceil(8) as usize
    {
        let v = bytes.iter().fold(0u128, |v, b| (v << 8) | u128::from(*b));
        if width == 128 || v >> width == 0 {
            return Ok(v);
        }
    }
    let s = BitString::from_wire(bytes, width, Form::Padded)
        .map_err(|e| (Code::InvalidArgument, format!("`{what}`: {e}")))?;
    s.to_u128().ok_or_else(|| {
        (
            Code::Unimplemented,
            format!("`{what}`: values over 128 bits are not implemented, found {width} bits"),
        )
    })
}

/// The cells an entry names: the one at its index, or all of them.
fn cells(index: Option<&p4::Index>, size: i64, what: &str) -> Result<Vec<u32>, Fail> {
    match index {
        Some(i) => Ok(vec![cell_index(i.index, size, what)?]),
        None => Ok((0..size.clamp(0, i64::from(u32::MAX)) as u32).collect()),
    }
}

fn cell_index(index: i64, size: i64, what: &str) -> Result<u32, Fail> {
    if index < 0 || index >= size {
        return fail(
            Code::OutOfRange,
            format!(
                "`{what}`: expected an index from 0 to {}, found {index}",
                size - 1
            ),
        );
    }
    u32::try_from(index).map_err(|_| {
        (
            Code::OutOfRange,
            format!("`{what}`: index {index} is too large"),
        )
    })
}

fn meter_config(c: &p4::MeterConfig) -> Result<MeterConfig, Fail> {
    let get = |v: i64, what: &str| {
        u64::try_from(v).map_err(|_| {
            (
                Code::InvalidArgument,
                format!("meter config: expected {what} >= 0, found {v}"),
            )
        })
    };
    Ok(MeterConfig {
        cir: get(c.cir, "cir")?,
        cburst: get(c.cburst, "cburst")?,
        pir: get(c.pir, "pir")?,
        pburst: get(c.pburst, "pburst")?,
    })
}

pub(crate) fn meter_proto(c: MeterConfig) -> p4::MeterConfig {
    p4::MeterConfig {
        cir: c.cir as i64,
        cburst: c.cburst as i64,
        pir: c.pir as i64,
        pburst: c.pburst as i64,
        ..Default::default()
    }
}
