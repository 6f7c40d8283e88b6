//! The controller's changes as P4Runtime updates of the fairshare program,
//! by the names its P4Info gives them, and the account of what each route
//! has reserved on the switch.
//!
//! Rates: the program's meters count bytes, and P4Runtime's `MeterConfig`
//! gives bytes per second; the controller reasons in bits per second. A
//! rate `r` b/s is written as fairshare's compiler writes a share
//! (`fairshare_codegen::rules::byte_meter`): committed `r / 8` bytes/s,
//! peak 10 % above, bursts of 10 ms at each rate and at least 3,000 bytes.
//! What a meter *reserves* is its committed rate: `cir × 8` b/s.
//!
//! The account ([`Accounts`]) is what the over-reservation invariant of
//! DESIGN §3 is checked on: for each route cell, the committed rate of its
//! `route_meter` cell plus the committed rates of the direct meters of the
//! `flows` entries whose `reserved_flow` action names the cell.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use fairshare_p4rt::entity::{self, Match};
use fairshare_p4rt::proto::p4::v1 as p4;
use fairshare_p4rt::{EntityKind, P4InfoIndex};

pub use crate::agent::FlowKey;
use crate::desired::{Desired, EntryKey};

/// The names of the program's entities the controller writes.
pub mod names {
    pub const T_FLOWS: &str = "Ingress.flows";
    pub const A_RESERVED_FLOW: &str = "Ingress.reserved_flow";
    pub const P_ROUTE: &str = "route";
    pub const M_ROUTE: &str = "Ingress.route_meter";
    pub const T_STEER: &str = "Ingress.steer";
    pub const A_DNAT: &str = "Ingress.dnat";
    pub const T_IPV4_LPM: &str = "Ingress.ipv4_lpm";
    pub const A_FORWARD: &str = "Ingress.forward";
    pub const F_SRC: &str = "hdr.ipv4.src_addr";
    pub const F_DST: &str = "hdr.ipv4.dst_addr";
    pub const F_PROTO: &str = "hdr.ipv4.protocol";
    pub const F_L4_SRC: &str = "meta.l4_src";
    pub const F_L4_DST: &str = "meta.l4_dst";
    pub const F_SERVICE: &str = "meta.service";
    pub const F_EDGE: &str = "meta.edge";
}
use names::*;

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("the pipeline does not fit the controller: {0}")]
    Program(#[from] fairshare_p4rt::Error),
    #[error("the pipeline has no {kind} named `{name}`")]
    Missing { kind: &'static str, name: String },
}

/// The committed-rate meter config for `rate_bps`.
pub fn meter_config(rate_bps: u64) -> p4::MeterConfig {
    let c = fairshare_codegen::rules::byte_meter(M_ROUTE, 0, rate_bps);
    let i = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    entity::meter_config(i(c.cir), i(c.cburst), i(c.pir), i(c.pburst))
}

/// How a target keeps byte-meter rates and bursts, which the controller
/// writes so that what it reads back equals what it wrote.
///
/// P4Runtime gives byte meters in bytes per second and bursts in bytes.
/// BMv2 (and fairshare's switch) keep them as given. Tofino's P4Runtime
/// server (Stratum) hands them to the device in whole kilobits per second
/// and kilobits (bytes divided by 125, the remainder dropped) and reads
/// them back times 125; on such a target every byte-meter value is
/// written as a multiple of 125 bytes, by the rules of
/// `fairshare_tofino::meter::for_stratum`: rates rounded down, which keeps
/// the over-reservation invariant (what is configured never grows; a flow
/// gets less than 1 kbit/s below what it asked for), bursts rounded up (a
/// burst never shrinks below a packet). A rate under 1 kbit/s, which that
/// function refuses, cannot be refused in the middle of an intercept: it
/// becomes zero here. Packet meters pass unchanged (Stratum keeps packets
/// per second as they are).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MeterGrain {
    /// Bytes per second and bytes, as written.
    #[default]
    Byte,
    /// Whole kilobits: multiples of 125 bytes.
    Kbit,
}

impl MeterGrain {
    /// The smallest step of a byte-meter value, in bytes.
    pub fn step(self) -> i64 {
        match self {
            MeterGrain::Byte => 1,
            MeterGrain::Kbit => 125,
        }
    }

    /// A byte meter's config as the target keeps it: rates rounded down,
    /// bursts up, to the step.
    pub fn fit(self, c: p4::MeterConfig) -> p4::MeterConfig {
        let step = self.step();
        let down = |v: i64| v.max(0) / step * step;
        let up = |v: i64| {
            (v.max(0) as u64)
                .div_ceil(step as u64)
                .saturating_mul(step as u64) as i64
        };
        p4::MeterConfig {
            cir: down(c.cir),
            cburst: up(c.cburst),
            pir: down(c.pir),
            pburst: up(c.pburst),
            eburst: up(c.eburst),
        }
    }

    /// Fits the byte meters' configs in `updates` (meter cells and the
    /// direct meters of table entries) to the target; packet meters, and
    /// meters the P4Info does not name, are left as they are.
    pub fn fit_updates(
        self,
        p4info: &fairshare_p4rt::proto::p4::config::v1::P4Info,
        updates: &mut [p4::Update],
    ) {
        use fairshare_p4rt::proto::p4::config::v1::meter_spec::Unit;
        use p4::entity::Entity as E;
        if self == MeterGrain::Byte {
            return;
        }
        let bytes = |spec: &Option<fairshare_p4rt::proto::p4::config::v1::MeterSpec>| {
            spec.is_some_and(|s| s.unit == Unit::Bytes as i32)
        };
        let meters: Vec<u32> = p4info
            .meters
            .iter()
            .filter(|m| bytes(&m.spec))
            .filter_map(|m| m.preamble.as_ref().map(|p| p.id))
            .collect();
        let tables: Vec<u32> = p4info
            .direct_meters
            .iter()
            .filter(|m| bytes(&m.spec))
            .map(|m| m.direct_table_id)
            .collect();
        for u in updates {
            match u.entity.as_mut().and_then(|e| e.entity.as_mut()) {
                Some(E::MeterEntry(m)) if meters.contains(&m.meter_id) => {
                    m.config = m.config.map(|c| self.fit(c));
                }
                Some(E::TableEntry(t)) if tables.contains(&t.table_id) => {
                    t.meter_config = t.meter_config.map(|c| self.fit(c));
                }
                Some(E::DirectMeterEntry(d)) => {
                    let table = d.table_entry.as_ref().map(|t| t.table_id);
                    if table.is_some_and(|t| tables.contains(&t)) {
                        d.config = d.config.map(|c| self.fit(c));
                    }
                }
                _ => {}
            }
        }
    }
}

/// What a meter config reserves, in bits per second.
pub fn reserved_bps(c: &p4::MeterConfig) -> u64 {
    u64::try_from(c.cir).unwrap_or(0).saturating_mul(8)
}

/// The program's entities, resolved once.
#[derive(Debug, Clone)]
pub struct Program {
    index: P4InfoIndex,
    accounts: Accounts,
    grain: MeterGrain,
}

/// The ids the account is kept by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accounts {
    pub route_meter: u32,
    pub flows: u32,
    pub reserved_flow: u32,
    pub route_param: u32,
}

impl Accounts {
    /// The route cell and the rate a table entry reserves, if it is a
    /// metered reserved flow.
    pub fn of_entry(&self, t: &p4::TableEntry) -> Option<(u32, u64)> {
        if t.table_id != self.flows {
            return None;
        }
        let Some(p4::table_action::Type::Action(a)) = t.action.as_ref()?.r#type.as_ref() else {
            return None;
        };
        if a.action_id != self.reserved_flow {
            return None;
        }
        let cell = a.params.iter().find(|p| p.param_id == self.route_param)?;
        let cell = cell.value.iter().try_fold(0u32, |acc, b| {
            acc.checked_mul(256).map(|v| v | u32::from(*b))
        })?;
        Some((cell, t.meter_config.as_ref().map_or(0, reserved_bps)))
    }

    /// What each route cell reserves in `desired`.
    pub fn totals(&self, desired: &Desired) -> BTreeMap<u32, u64> {
        let mut out: BTreeMap<u32, u64> = BTreeMap::new();
        for t in desired.entries() {
            if let Some((cell, bps)) = self.of_entry(t) {
                *out.entry(cell).or_default() += bps;
            }
        }
        for (&(id, i), c) in desired.meters() {
            if id == self.route_meter {
                if let Ok(cell) = u32::try_from(i) {
                    *out.entry(cell).or_default() += reserved_bps(c);
                }
            }
        }
        out
    }

    /// How `update` changes what the cells reserve, against `desired` as it
    /// stands before it: `(cell, before, after)` for each cell it touches.
    pub fn effect(&self, desired: &Desired, update: &p4::Update) -> Vec<(u32, u64, u64)> {
        use p4::entity::Entity as E;
        use p4::update::Type;
        let kind = Type::try_from(update.r#type).unwrap_or(Type::Unspecified);
        let Some(entity) = update.entity.as_ref().and_then(|e| e.entity.as_ref()) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        match entity {
            E::TableEntry(t) if !t.is_default_action && t.table_id == self.flows => {
                let old = desired
                    .entry(&EntryKey::of(t))
                    .and_then(|e| self.of_entry(e));
                let new = match kind {
                    Type::Insert | Type::Modify => self.of_entry(t),
                    _ => None,
                };
                if let Some((c, r)) = old {
                    out.push((c, r, 0));
                }
                if let Some((c, r)) = new {
                    out.push((c, 0, r));
                }
            }
            E::DirectMeterEntry(d) => {
                if let Some(old) = d
                    .table_entry
                    .as_ref()
                    .and_then(|t| desired.entry(&EntryKey::of(t)))
                {
                    if let Some((c, r)) = self.of_entry(old) {
                        out.push((c, r, d.config.as_ref().map_or(0, reserved_bps)));
                    }
                }
            }
            E::MeterEntry(m) if m.meter_id == self.route_meter => {
                if let Some(cell) = m.index.as_ref().and_then(|i| u32::try_from(i.index).ok()) {
                    let old = desired
                        .meters()
                        .get(&(m.meter_id, i64::from(cell)))
                        .map_or(0, reserved_bps);
                    out.push((cell, old, m.config.as_ref().map_or(0, reserved_bps)));
                }
            }
            _ => {}
        }
        out
    }
}

impl Program {
    /// # Errors
    /// [`WriteError::Missing`] when the P4Info lacks an entity the
    /// controller writes.
    pub fn new(index: P4InfoIndex) -> Result<Program, WriteError> {
        let id = |kind: EntityKind, label: &'static str, name: &str| {
            index.id(kind, name).ok_or_else(|| WriteError::Missing {
                kind: label,
                name: name.to_owned(),
            })
        };
        let flows = id(EntityKind::Table, "table", T_FLOWS)?;
        let reserved_flow = id(EntityKind::Action, "action", A_RESERVED_FLOW)?;
        let route_meter = id(EntityKind::Meter, "meter", M_ROUTE)?;
        let route_param = index
            .action_param_by_name(reserved_flow, P_ROUTE)
            .map(|p| p.id)
            .ok_or_else(|| WriteError::Missing {
                kind: "action parameter",
                name: format!("{A_RESERVED_FLOW}.{P_ROUTE}"),
            })?;
        Ok(Program {
            accounts: Accounts {
                route_meter,
                flows,
                reserved_flow,
                route_param,
            },
            index,
            grain: MeterGrain::Byte,
        })
    }

    /// The same program on a target that keeps meter values in `grain`.
    pub fn with_grain(self, grain: MeterGrain) -> Program {
        Program { grain, ..self }
    }

    pub fn accounts(&self) -> Accounts {
        self.accounts
    }

    pub fn index(&self) -> &P4InfoIndex {
        &self.index
    }

    /// The route's aggregate meter set to `rate_bps`.
    ///
    /// # Errors
    /// When the value does not fit the program.
    pub fn route_meter(&self, cell: u32, rate_bps: u64) -> Result<p4::Update, WriteError> {
        Ok(entity::modify(entity::meter_entry(
            &self.index,
            M_ROUTE,
            Some(i64::from(cell)),
            Some(self.grain.fit(meter_config(rate_bps))),
        )?))
    }

    fn flow_entry(&self, key: &FlowKey, cell: u32) -> Result<p4::TableEntry, WriteError> {
        Ok(entity::table_entry(
            &self.index,
            T_FLOWS,
            &[
                (F_SRC, Match::Exact(u32::from(key.src).into())),
                (F_DST, Match::Exact(u32::from(key.dst).into())),
                (F_PROTO, Match::Exact(key.protocol.into())),
                (F_L4_SRC, Match::Exact(key.src_port.into())),
                (F_L4_DST, Match::Exact(key.dst_port.into())),
            ],
            A_RESERVED_FLOW,
            &[(P_ROUTE, u128::from(cell))],
            0,
        )?)
    }

    /// The flow's entry, metered at `rate_bps`, on route cell `cell`.
    ///
    /// # Errors
    /// When the value does not fit the program.
    pub fn install_flow(
        &self,
        key: &FlowKey,
        cell: u32,
        rate_bps: u64,
    ) -> Result<p4::Update, WriteError> {
        let mut e = self.flow_entry(key, cell)?;
        e.meter_config = Some(self.grain.fit(meter_config(rate_bps)));
        Ok(entity::insert(e))
    }

    /// The flow's entry removed.
    ///
    /// # Errors
    /// When the key does not fit the program.
    pub fn remove_flow(&self, key: &FlowKey) -> Result<p4::Update, WriteError> {
        let mut e = self.flow_entry(key, 0)?;
        e.action = None;
        Ok(entity::delete(e))
    }

    /// The steer entry of `service` for `edge` (`None`: every edge, the
    /// lowest priority) pointing at `server`; INSERT or MODIFY as `desired`
    /// holds it or not.
    ///
    /// # Errors
    /// When a value does not fit the program.
    pub fn steer(
        &self,
        desired: &Desired,
        service: u16,
        edge: Option<u16>,
        server: Ipv4Addr,
    ) -> Result<p4::Update, WriteError> {
        let mut matches = vec![(F_SERVICE, Match::Exact(service.into()))];
        if let Some(e) = edge {
            matches.push((
                F_EDGE,
                Match::Ternary {
                    value: e.into(),
                    mask: 0xffff,
                },
            ));
        }
        let e = entity::table_entry(
            &self.index,
            T_STEER,
            &matches,
            A_DNAT,
            &[("server", u32::from(server).into())],
            if edge.is_some() { 2 } else { 1 },
        )?;
        Ok(upsert(desired, e))
    }

    /// An IPv4 route for one address (a VIP) out of `port` toward the next
    /// hop `dst_mac`; INSERT or MODIFY as `desired` holds it or not.
    ///
    /// # Errors
    /// When a value does not fit the program.
    pub fn host_route(
        &self,
        desired: &Desired,
        addr: Ipv4Addr,
        port: u16,
        src_mac: [u8; 6],
        dst_mac: [u8; 6],
    ) -> Result<p4::Update, WriteError> {
        let mac = |m: [u8; 6]| m.iter().fold(0u128, |acc, b| acc << 8 | u128::from(*b));
        let e = entity::table_entry(
            &self.index,
            T_IPV4_LPM,
            &[(
                F_DST,
                Match::Lpm {
                    value: u32::from(addr).into(),
                    prefix_len: 32,
                },
            )],
            A_FORWARD,
            &[
                ("port", port.into()),
                ("src_mac", mac(src_mac)),
                ("dst_mac", mac(dst_mac)),
            ],
            0,
        )?;
        Ok(upsert(desired, e))
    }
}

fn upsert(desired: &Desired, e: p4::TableEntry) -> p4::Update {
    if desired.entry(&EntryKey::of(&e)).is_some() {
        entity::modify(e)
    } else {
        entity::insert(e)
    }
}

impl Program {
    /// What a read-back (table entries and `route_meter` cells) holds of
    /// the routes: the configured `route_meter` cells and the `flows`
    /// entries this controller could have written — exactly the entry
    /// [`Program::install_flow`] would write for their key and cell, with
    /// a direct meter. Anything else is left out.
    pub fn found(&self, read: &[p4::Entity]) -> crate::agent::Found {
        use p4::entity::Entity as E;
        let mut found = crate::agent::Found::default();
        for e in read {
            match &e.entity {
                Some(E::MeterEntry(m)) if m.meter_id == self.accounts.route_meter => {
                    let cell = m.index.as_ref().and_then(|i| u32::try_from(i.index).ok());
                    if let (Some(cell), Some(c)) = (cell, &m.config) {
                        found.route_meters.insert(cell, reserved_bps(c));
                    }
                }
                Some(E::TableEntry(t)) if t.table_id == self.accounts.flows => {
                    if let Some(f) = self.flow_of_entry(t) {
                        found.flows.push(f);
                    }
                }
                _ => {}
            }
        }
        found
    }

    /// The key, cell and rate of a `flows` entry as this controller writes
    /// them, or `None` for any other entry.
    fn flow_of_entry(&self, t: &p4::TableEntry) -> Option<(FlowKey, u32, u64)> {
        let (cell, rate_bps) = self.accounts.of_entry(t)?;
        t.meter_config.as_ref()?;
        let field = |name: &str| -> Option<u128> {
            let id = self.index.match_field_by_name(t.table_id, name)?.id;
            let m = t.r#match.iter().find(|m| m.field_id == id)?;
            match &m.field_match_type {
                Some(p4::field_match::FieldMatchType::Exact(e)) => {
                    fairshare_p4rt::bytestring::decode_u128(&e.value)
                }
                _ => None,
            }
        };
        let key = FlowKey {
            src: Ipv4Addr::from(u32::try_from(field(F_SRC)?).ok()?),
            dst: Ipv4Addr::from(u32::try_from(field(F_DST)?).ok()?),
            protocol: u8::try_from(field(F_PROTO)?).ok()?,
            src_port: u16::try_from(field(F_L4_SRC)?).ok()?,
            dst_port: u16::try_from(field(F_L4_DST)?).ok()?,
        };
        let ours = self.flow_entry(&key, cell).ok()?;
        (EntryKey::of(&ours) == EntryKey::of(t) && ours.action == t.action)
            .then_some((key, cell, rate_bps))
    }

    /// The updates that put what an agent took over (`taken`, from
    /// [`crate::agent::Agent::adopt`]) into a model of the switch, as the
    /// read-back `read` holds them byte for byte, so that a
    /// resynchronisation leaves them as they are.
    pub fn kept(&self, read: &[p4::Entity], taken: &crate::agent::Found) -> Vec<p4::Update> {
        use p4::entity::Entity as E;
        let flows: std::collections::BTreeSet<(FlowKey, u32)> =
            taken.flows.iter().map(|(k, c, _)| (*k, *c)).collect();
        let mut out = Vec::new();
        for e in read {
            match &e.entity {
                Some(E::MeterEntry(m)) if m.meter_id == self.accounts.route_meter => {
                    let cell = m.index.as_ref().and_then(|i| u32::try_from(i.index).ok());
                    if cell.is_some_and(|c| taken.route_meters.contains_key(&c))
                        && m.config.is_some()
                    {
                        out.push(entity::modify(p4::MeterEntry {
                            counter_data: None,
                            ..*m
                        }));
                    }
                }
                // The entry as it would be written: what the switch
                // counted or timed is not part of it.
                Some(E::TableEntry(t))
                    if t.table_id == self.accounts.flows
                        && self
                            .flow_of_entry(t)
                            .is_some_and(|(k, c, _)| flows.contains(&(k, c))) =>
                {
                    out.push(entity::insert(p4::TableEntry {
                        counter_data: None,
                        meter_counter_data: None,
                        time_since_last_hit: None,
                        ..t.clone()
                    }));
                }
                _ => {}
            }
        }
        out
    }
}
