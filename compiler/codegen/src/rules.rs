//! The initial controller rules of each switch: table entries and meter
//! configurations, by P4Info names.
//!
//! One table entry is one line of `rules.json`:
//!
//! ```json
//! {"table":"Ingress.ipv4_lpm","match":{"hdr.ipv4.dst_addr":"10.0.0.0/8"},"action":"Ingress.forward","params":{"port":1,"src_mac":"02:00:00:01:00:01","dst_mac":"02:01:0a:00:00:01"}}
//! ```
//!
//! Values are written the way people read them: IPv4 addresses dotted, MAC
//! addresses with colons, everything else as a number. The match kind comes
//! from the table's key in P4Info; a match value is written as for BMv2's
//! CLI: exact `value`, LPM `value/length`, ternary `value&&&mask`. As in
//! P4Runtime, a don't-care field (LPM of length 0, ternary mask 0) is left
//! out, and entries of ternary tables carry a `priority` (higher wins). Meter
//! rates are in bytes (or packets) per second and bursts in bytes (or
//! packets), as P4Runtime's `MeterConfig` has them.
//!
//! Choices made here, for the controller to refine at run time:
//! * A DC steers each service, for every edge, to the server with the most
//!   free capacity (`capacity × (1 − load)`), the first declared on a tie:
//!   one `steer` entry per service with the edge left out (priority 1). The
//!   controller adds entries for single edges above it as shares drain.
//! * An edge holds no steer entries: which DC's offer a request uses is the
//!   edge agent's choice, made when offers arrive.
//! * A route's meter commits its fair share and allows 10 % above it as
//!   yellow; bursts are 10 ms at the rate, at least two full-size frames.
//! * RSVP is punted at up to 1,000 packets/s committed, 2,000 peak.
//! * MAC addresses are locally administered and derived from the switch's
//!   device id and port (`02:00:dd:dd:pp:pp`), a host's address
//!   (`02:01:a:b:c:d`) or the uplink's peer (`02:02:dd:dd:pp:pp`).

use crate::pipeline::PipelineParams;
use fairshare_alloc::{Shares, Topology};
use fairshare_policy::model::{Datacenter, Policy, Prefix, Server, Service, Switch};
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use std::net::Ipv4Addr;

/// The names of the program's entities the rules use, as P4Info has them.
/// A test checks each against the program.
pub mod names {
    pub const T_CLIENT_EDGE: &str = "Ingress.client_edge";
    pub const T_VIP: &str = "Ingress.vip";
    pub const T_STEER: &str = "Ingress.steer";
    pub const T_SNAT: &str = "Ingress.snat";
    pub const T_ROUTE_CLASS: &str = "Ingress.route_class";
    pub const T_IPV4_LPM: &str = "Ingress.ipv4_lpm";
    pub const A_SET_EDGE: &str = "Ingress.set_edge";
    pub const A_SET_SERVICE: &str = "Ingress.set_service";
    pub const A_DNAT: &str = "Ingress.dnat";
    pub const A_SNAT: &str = "Ingress.snat_to_vip";
    pub const A_SET_ROUTE: &str = "Ingress.set_route";
    pub const A_FORWARD: &str = "Ingress.forward";
    pub const M_ROUTE: &str = "Ingress.route_meter";
    pub const M_RSVP: &str = "Ingress.rsvp_meter";
    pub const F_SRC: &str = "hdr.ipv4.src_addr";
    pub const F_DST: &str = "hdr.ipv4.dst_addr";
    pub const F_PROTO: &str = "hdr.ipv4.protocol";
    pub const F_L4_SRC: &str = "meta.l4_src";
    pub const F_L4_DST: &str = "meta.l4_dst";
    pub const F_EDGE: &str = "meta.edge";
    pub const F_SERVICE: &str = "meta.service";
}
use names::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value {
    Int(u64),
    Ipv4(Ipv4Addr),
    Mac(Mac),
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Int(v) => s.serialize_u64(*v),
            Value::Ipv4(a) => s.serialize_str(Text::new().ipv4(*a).as_str()),
            Value::Mac(m) => s.serialize_str(Text::new().mac(*m).as_str()),
        }
    }
}

/// A small stack buffer for the strings a rules file is made of, written
/// without the formatting machinery: a large policy has a million of them.
struct Text {
    buf: [u8; 48],
    len: usize,
}

impl Text {
    fn new() -> Text {
        Text {
            buf: [0; 48],
            len: 0,
        }
    }

    fn byte(mut self, b: u8) -> Text {
        if self.len < self.buf.len() {
            self.buf[self.len] = b;
            self.len += 1;
        }
        self
    }

    fn str(mut self, t: &str) -> Text {
        for &b in t.as_bytes() {
            self = self.byte(b);
        }
        self
    }

    fn dec(mut self, v: u32) -> Text {
        let mut digits = [0u8; 10];
        let (mut n, mut i) = (v, digits.len());
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        for &d in &digits[i..] {
            self = self.byte(d);
        }
        self
    }

    fn ipv4(mut self, a: Ipv4Addr) -> Text {
        for (i, o) in a.octets().into_iter().enumerate() {
            if i > 0 {
                self = self.byte(b'.');
            }
            self = self.dec(o.into());
        }
        self
    }

    fn mac(mut self, m: Mac) -> Text {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for (i, b) in m.0.into_iter().enumerate() {
            if i > 0 {
                self = self.byte(b':');
            }
            self = self
                .byte(HEX[usize::from(b >> 4)])
                .byte(HEX[usize::from(b & 15)]);
        }
        self
    }

    fn as_str(&self) -> &str {
        // Only ASCII is ever written.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Int(v) => write!(f, "{v}"),
            Value::Ipv4(a) => write!(f, "{a}"),
            Value::Mac(m) => write!(f, "{m}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mac(pub [u8; 6]);

impl std::fmt::Display for Mac {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl Serialize for Mac {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(Text::new().mac(*self).as_str())
    }
}

/// How one key field matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Match {
    Exact(Value),
    Lpm(Ipv4Addr, u8),
    Ternary(Ipv4Addr, Ipv4Addr),
}

impl Serialize for Match {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Match::Exact(v) => v.serialize(s),
            Match::Lpm(a, len) => {
                s.serialize_str(Text::new().ipv4(*a).byte(b'/').dec((*len).into()).as_str())
            }
            Match::Ternary(v, m) => {
                s.serialize_str(Text::new().ipv4(*v).str("&&&").ipv4(*m).as_str())
            }
        }
    }
}

/// Pairs serialised as a JSON object, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pairs<T>(pub Vec<(&'static str, T)>);

impl<T: Serialize> Serialize for Pairs<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableEntry {
    pub table: &'static str,
    /// Key fields by name; don't-care fields are left out.
    #[serde(rename = "match")]
    pub matches: Pairs<Match>,
    pub action: &'static str,
    pub params: Pairs<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MeterConfig {
    pub meter: &'static str,
    pub index: u32,
    /// Committed rate, bytes (or packets) per second.
    pub cir: u64,
    pub cburst: u64,
    /// Peak rate, bytes (or packets) per second.
    pub pir: u64,
    pub pburst: u64,
}

/// A route of this switch: which cell of `route_meter` carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouteCell {
    pub index: u32,
    pub dc: String,
    pub edge: String,
    pub share_bps: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rules {
    pub switch: String,
    pub role: &'static str,
    pub device_id: u64,
    pub pipeline: String,
    pub routes: Vec<RouteCell>,
    pub table_entries: Vec<TableEntry>,
    pub meter_configs: Vec<MeterConfig>,
}

impl Rules {
    /// `rules.json`: one member per line, one array element per line.
    pub fn to_text(&self) -> Result<String, serde_json::Error> {
        let mut w = crate::JsonLines::new();
        w.member("switch", &self.switch)?;
        w.member("role", &self.role)?;
        w.member("device_id", &self.device_id)?;
        w.member("pipeline", &self.pipeline)?;
        w.array("routes", &self.routes)?;
        w.array("table_entries", &self.table_entries)?;
        w.array("meter_configs", &self.meter_configs)?;
        Ok(w.finish())
    }
}

/// A table that needs more entries than the policy's sizes allow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overflow {
    pub switch: String,
    pub table: String,
    pub needed: usize,
    pub size: u32,
}

/// The MAC address of `port` of switch `sw`: `02:00:dd:dd:pp:pp`, with the
/// low 16 bits of the device id and the port.
pub fn switch_mac(sw: &Switch, port: u16) -> Mac {
    let d = (sw.device_id & 0xffff) as u16;
    let [d0, d1] = d.to_be_bytes();
    let [p0, p1] = port.to_be_bytes();
    Mac([0x02, 0x00, d0, d1, p0, p1])
}

/// The MAC address of the host at `a` (a server or client): `02:01:a:b:c:d`.
pub fn host_mac(a: Ipv4Addr) -> Mac {
    let o = a.octets();
    Mac([0x02, 0x01, o[0], o[1], o[2], o[3]])
}

/// The MAC address of the node at the far end of `port` of switch `sw`
/// (the uplink's peer): `02:02:dd:dd:pp:pp`.
pub fn peer_mac(sw: &Switch, port: u16) -> Mac {
    let mut m = switch_mac(sw, port);
    m.0[1] = 0x02;
    m
}

/// The value of `meta.edge` for the policy's `index`-th edge (0 means no
/// edge).
pub fn edge_id(index: usize) -> u64 {
    index as u64 + 1
}

/// The value of `meta.service` for the policy's `index`-th service (0 means
/// no service).
pub fn service_id(index: usize) -> u64 {
    index as u64 + 1
}

/// The server a DC's any-edge steer entries point at: the one with the most
/// free capacity (`capacity × (1 − load)`), the first declared on a tie.
pub fn default_server(dc: &Datacenter) -> Option<usize> {
    let free =
        |s: &Server| u128::from(s.capacity) * u128::from(1_000_000 - s.load_ppm.min(1_000_000));
    dc.servers
        .iter()
        .enumerate()
        .max_by(|(ia, a), (ib, b)| free(a).cmp(&free(b)).then(ib.cmp(ia)))
        .map(|(i, _)| i)
}

/// Token-bucket settings for a byte meter at `bps`.
pub fn byte_meter(meter: &'static str, index: u32, bps: u64) -> MeterConfig {
    let cir = bps / 8;
    let pir = cir + cir / 10;
    let burst = |rate: u64| (rate / 100).max(3000);
    MeterConfig {
        meter,
        index,
        cir,
        cburst: burst(cir),
        pir,
        pburst: burst(pir),
    }
}

struct Builder {
    entries: Vec<TableEntry>,
}

impl Builder {
    fn add(
        &mut self,
        table: &'static str,
        matches: Vec<(&'static str, Match)>,
        action: &'static str,
        params: Vec<(&'static str, Value)>,
        priority: Option<u32>,
    ) {
        self.entries.push(TableEntry {
            table,
            matches: Pairs(matches),
            action,
            params: Pairs(params),
            priority,
        });
    }

    fn forward(&mut self, sw: &Switch, dst: Prefix, port: u16, next_hop: Mac) {
        let m = if dst.len == 0 {
            vec![]
        } else {
            vec![(F_DST, Match::Lpm(dst.addr, dst.len))]
        };
        self.add(
            T_IPV4_LPM,
            m,
            A_FORWARD,
            vec![
                ("port", Value::Int(port.into())),
                ("src_mac", Value::Mac(switch_mac(sw, port))),
                ("dst_mac", Value::Mac(next_hop)),
            ],
            None,
        );
    }

    fn vip(&mut self, s: &Service, id: usize) {
        self.add(
            T_VIP,
            vec![
                (F_DST, Match::Exact(Value::Ipv4(s.vip))),
                (
                    F_PROTO,
                    Match::Exact(Value::Int(s.protocol.number().into())),
                ),
                (F_L4_DST, Match::Exact(Value::Int(s.port.into()))),
            ],
            A_SET_SERVICE,
            vec![("service", Value::Int(service_id(id)))],
            None,
        );
    }
}

/// Builds the rules of every switch, DCs first (the order of
/// [`Policy::switches`]). `pipeline_of` names the pipeline each switch runs.
pub fn build(
    policy: &Policy,
    topo: &Topology,
    shares: &Shares,
    pipeline_of: &(dyn Fn(&Switch) -> String + Sync),
) -> Result<Vec<Rules>, Vec<Overflow>> {
    // Each switch numbers its routes 0.. in the topology's order; index the
    // routes, with their shares, by DC and by edge once. The shares come in
    // the topology's order, so they are taken by position when they line up.
    let in_order = shares.routes.len() == topo.routes().len()
        && shares
            .routes
            .iter()
            .zip(topo.routes())
            .all(|(s, r)| (s.dc, s.edge) == (r.dc, r.edge));
    let mut by_dc: Vec<Vec<(u32, usize, u64)>> = vec![vec![]; policy.datacenters.len()];
    let mut by_edge: Vec<Vec<(u32, usize, u64)>> = vec![vec![]; policy.edges.len()];
    for (ri, r) in topo.routes().iter().enumerate() {
        let share = if in_order {
            shares.routes[ri].share
        } else {
            shares.get(r.dc, r.edge).unwrap_or(0)
        };
        let d = &mut by_dc[r.dc];
        d.push((d.len() as u32, r.edge, share));
        let e = &mut by_edge[r.edge];
        e.push((e.len() as u32, r.dc, share));
    }
    let edge_value = |e: usize| Value::Int(edge_id(e));

    let dc_rules = |di: usize| -> Rules {
        let dc = &policy.datacenters[di];
        let sw = &dc.switch;
        let mut b = Builder { entries: vec![] };
        let routes = &by_dc[di];
        for s in &dc.servers {
            b.forward(
                sw,
                Prefix {
                    addr: s.address,
                    len: 32,
                },
                s.port,
                host_mac(s.address),
            );
        }
        b.forward(sw, ANY, sw.uplink_port, peer_mac(sw, sw.uplink_port));
        for &(_, e, _) in routes {
            for p in &policy.edges[e].clients {
                b.add(
                    T_CLIENT_EDGE,
                    vec![(F_SRC, Match::Lpm(p.addr, p.len))],
                    A_SET_EDGE,
                    vec![("edge", edge_value(e))],
                    None,
                );
            }
        }
        let services: Vec<(usize, &Service)> = policy
            .services
            .iter()
            .enumerate()
            .filter(|(_, s)| s.at.contains(&di))
            .collect();
        for &(si, s) in &services {
            b.vip(s, si);
        }
        // One entry per service for every edge; the controller adds entries
        // for single edges (higher priority) as their shares drain.
        if let Some(server) = default_server(dc).map(|i| &dc.servers[i]) {
            for &(si, _) in &services {
                b.add(
                    T_STEER,
                    vec![(F_SERVICE, Match::Exact(Value::Int(service_id(si))))],
                    A_DNAT,
                    vec![("server", Value::Ipv4(server.address))],
                    Some(1),
                );
            }
        }
        for server in &dc.servers {
            for &(_, s) in &services {
                b.add(
                    T_SNAT,
                    vec![
                        (F_SRC, Match::Exact(Value::Ipv4(server.address))),
                        (
                            F_PROTO,
                            Match::Exact(Value::Int(s.protocol.number().into())),
                        ),
                        (F_L4_SRC, Match::Exact(Value::Int(s.port.into()))),
                    ],
                    A_SNAT,
                    vec![("vip", Value::Ipv4(s.vip))],
                    None,
                );
            }
        }
        for &(i, e, _) in routes {
            for p in &policy.edges[e].clients {
                b.add(
                    T_ROUTE_CLASS,
                    vec![(F_DST, Match::Ternary(p.addr, Ipv4Addr::from(p.mask())))],
                    A_SET_ROUTE,
                    vec![("route", Value::Int(i.into()))],
                    Some(1 + u32::from(p.len)),
                );
            }
        }
        let cells = routes
            .iter()
            .map(|&(i, e, share_bps)| RouteCell {
                index: i,
                dc: dc.name.clone(),
                edge: policy.edges[e].name.clone(),
                share_bps,
            })
            .collect();
        finish(sw, "dc", pipeline_of(sw), cells, b.entries)
    };

    let edge_rules = |ei: usize| -> Rules {
        let edge = &policy.edges[ei];
        let sw = &edge.switch;
        let mut b = Builder { entries: vec![] };
        let routes = &by_edge[ei];
        for p in &edge.clients {
            b.forward(sw, *p, edge.client_port, host_mac(p.addr));
        }
        b.forward(sw, ANY, sw.uplink_port, peer_mac(sw, sw.uplink_port));
        for p in &edge.clients {
            b.add(
                T_CLIENT_EDGE,
                vec![(F_SRC, Match::Lpm(p.addr, p.len))],
                A_SET_EDGE,
                vec![("edge", edge_value(ei))],
                None,
            );
        }
        for (si, s) in policy.services.iter().enumerate() {
            if routes.iter().any(|&(_, d, _)| s.at.contains(&d)) {
                b.vip(s, si);
            }
        }
        for &(i, d, _) in routes {
            for server in &policy.datacenters[d].servers {
                b.add(
                    T_ROUTE_CLASS,
                    vec![(F_SRC, Match::Ternary(server.address, Ipv4Addr::BROADCAST))],
                    A_SET_ROUTE,
                    vec![("route", Value::Int(i.into()))],
                    Some(33),
                );
            }
        }
        let cells = routes
            .iter()
            .map(|&(i, d, share_bps)| RouteCell {
                index: i,
                dc: policy.datacenters[d].name.clone(),
                edge: edge.name.clone(),
                share_bps,
            })
            .collect();
        finish(sw, "edge", pipeline_of(sw), cells, b.entries)
    };
    let nd = policy.datacenters.len();
    let all: Vec<Rules> = crate::par_map(nd + policy.edges.len(), |i| {
        if i < nd {
            dc_rules(i)
        } else {
            edge_rules(i - nd)
        }
    });

    let mut overflows = vec![];
    for (r, sw) in all.iter().zip(policy.switches()) {
        let p = PipelineParams::new(sw.cpu_port, &policy.sizes);
        let mut counts: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
        for e in &r.table_entries {
            *counts.entry(e.table).or_default() += 1;
        }
        let limits = [
            (T_CLIENT_EDGE, p.routes),
            (T_VIP, p.steer),
            (T_STEER, p.steer),
            (T_SNAT, p.steer),
            (T_ROUTE_CLASS, p.routes),
            (T_IPV4_LPM, p.routes),
            (M_ROUTE, p.routes),
        ];
        for (t, size) in limits {
            let needed = if t == M_ROUTE {
                r.routes.len()
            } else {
                counts.get(t).copied().unwrap_or(0)
            };
            if needed > size as usize {
                overflows.push(Overflow {
                    switch: r.switch.clone(),
                    table: t.to_string(),
                    needed,
                    size,
                });
            }
        }
    }
    if overflows.is_empty() {
        Ok(all)
    } else {
        Err(overflows)
    }
}

const ANY: Prefix = Prefix {
    addr: Ipv4Addr::UNSPECIFIED,
    len: 0,
};

fn finish(
    sw: &Switch,
    role: &'static str,
    pipeline: String,
    routes: Vec<RouteCell>,
    table_entries: Vec<TableEntry>,
) -> Rules {
    let mut meter_configs: Vec<MeterConfig> = routes
        .iter()
        .map(|r| byte_meter(M_ROUTE, r.index, r.share_bps))
        .collect();
    meter_configs.push(MeterConfig {
        meter: M_RSVP,
        index: 0,
        cir: 1000,
        cburst: 100,
        pir: 2000,
        pburst: 200,
    });
    Rules {
        switch: sw.name.clone(),
        role,
        device_id: sw.device_id,
        pipeline,
        routes,
        table_entries,
        meter_configs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_written_as_display_writes_them() {
        for a in [
            Ipv4Addr::new(0, 0, 0, 0),
            Ipv4Addr::new(10, 200, 3, 255),
            Ipv4Addr::BROADCAST,
        ] {
            assert_eq!(
                serde_json::to_string(&Value::Ipv4(a)).expect("json"),
                format!("\"{a}\"")
            );
            let m = Match::Ternary(a, Ipv4Addr::new(255, 255, 0, 0));
            assert_eq!(
                serde_json::to_string(&m).expect("json"),
                format!("\"{a}&&&255.255.0.0\"")
            );
            assert_eq!(
                serde_json::to_string(&Match::Lpm(a, 32)).expect("json"),
                format!("\"{a}/32\"")
            );
        }
        let m = Mac([0x02, 0x00, 0xab, 0xcd, 0x0f, 0xff]);
        assert_eq!(serde_json::to_string(&m).expect("json"), format!("\"{m}\""));
        assert_eq!(
            serde_json::to_string(&Value::Int(u64::MAX)).expect("json"),
            u64::MAX.to_string()
        );
    }
}
