//! The initial controller rules of each switch: table entries and meter
//! configurations, by P4Info names.
//!
//! Values are written the way people read them: IPv4 addresses dotted, MAC
//! addresses with colons, everything else as a number. Meter rates are in
//! bytes (or packets) per second and bursts in bytes (or packets), as
//! P4Runtime's `MeterConfig` has them.
//!
//! Choices made here, for the controller to refine at run time:
//! * A DC steers each (edge, service) to the server with the most free
//!   capacity (`capacity × (1 − load)`), the first declared on a tie.
//! * An edge holds no steer entries: which DC's offer a request uses is the
//!   edge agent's choice, made when offers arrive.
//! * A route's meter commits its fair share and allows 10 % above it as
//!   yellow; bursts are 10 ms at the rate, at least two full-size frames.
//! * RSVP is punted at up to 1,000 packets/s committed, 2,000 peak.
//! * MAC addresses are locally administered and derived from the switch's
//!   device id and port (`02:00:dd:dd:pp:pp`), a host's address
//!   (`02:01:a:b:c:d`) or the uplink's peer (`02:02:dd:dd:pp:pp`).

use crate::pipeline::{names, PipelineParams};
use crate::qualified;
use fairshare_alloc::{Shares, Topology};
use fairshare_policy::model::{Policy, Prefix, Switch};
use serde::Serialize;
use std::net::Ipv4Addr;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Value {
    Int(u64),
    Ipv4(Ipv4Addr),
    Mac(Mac),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mac(pub [u8; 6]);

impl Serialize for Mac {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let b = self.0;
        s.serialize_str(&format!(
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        ))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum FieldMatch {
    Exact {
        field: String,
        value: Value,
    },
    Lpm {
        field: String,
        value: Value,
        prefix_len: u8,
    },
    Ternary {
        field: String,
        value: Value,
        mask: Value,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Param {
    pub name: String,
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TableEntry {
    pub table: String,
    #[serde(rename = "match")]
    pub matches: Vec<FieldMatch>,
    pub action: String,
    pub params: Vec<Param>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MeterConfig {
    pub meter: String,
    pub index: u32,
    /// Committed rate, bytes (or packets) per second.
    pub cir: u64,
    pub cburst: u64,
    /// Peak rate, bytes (or packets) per second.
    pub pir: u64,
    pub pburst: u64,
}

/// A route of this switch: which cell of `route_meter` carries it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RouteCell {
    pub index: u32,
    pub dc: String,
    pub edge: String,
    pub share_bps: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rules {
    pub switch: String,
    pub role: &'static str,
    pub device_id: u64,
    pub pipeline: String,
    pub routes: Vec<RouteCell>,
    pub table_entries: Vec<TableEntry>,
    pub meter_configs: Vec<MeterConfig>,
}

/// A table that needs more entries than the policy's sizes allow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overflow {
    pub switch: String,
    pub table: String,
    pub needed: usize,
    pub size: u32,
}

fn switch_mac(sw: &Switch, port: u16) -> Mac {
    let d = (sw.device_id & 0xffff) as u16;
    let [d0, d1] = d.to_be_bytes();
    let [p0, p1] = port.to_be_bytes();
    Mac([0x02, 0x00, d0, d1, p0, p1])
}

fn host_mac(a: Ipv4Addr) -> Mac {
    let o = a.octets();
    Mac([0x02, 0x01, o[0], o[1], o[2], o[3]])
}

fn peer_mac(sw: &Switch, port: u16) -> Mac {
    let mut m = switch_mac(sw, port);
    m.0[1] = 0x02;
    m
}

/// Token-bucket settings for a byte meter at `bps`.
pub fn byte_meter(meter: &str, index: u32, bps: u64) -> MeterConfig {
    let cir = bps / 8;
    let pir = cir + cir / 10;
    let burst = |rate: u64| (rate / 100).max(3000);
    MeterConfig {
        meter: meter.into(),
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
        table: &str,
        matches: Vec<FieldMatch>,
        action: &str,
        params: Vec<(&str, Value)>,
        priority: Option<u32>,
    ) {
        self.entries.push(TableEntry {
            table: qualified(table),
            matches,
            action: qualified(action),
            params: params
                .into_iter()
                .map(|(n, v)| Param {
                    name: n.into(),
                    value: v,
                })
                .collect(),
            priority,
        });
    }
}

fn exact(field: &str, value: Value) -> FieldMatch {
    FieldMatch::Exact {
        field: field.into(),
        value,
    }
}

fn lpm(field: &str, p: Prefix) -> FieldMatch {
    FieldMatch::Lpm {
        field: field.into(),
        value: Value::Ipv4(p.addr),
        prefix_len: p.len,
    }
}

fn ternary(field: &str, p: Prefix) -> FieldMatch {
    FieldMatch::Ternary {
        field: field.into(),
        value: Value::Ipv4(p.addr),
        mask: Value::Ipv4(Ipv4Addr::from(p.mask())),
    }
}

const ANY: Prefix = Prefix {
    addr: Ipv4Addr::UNSPECIFIED,
    len: 0,
};

/// Builds the rules of every switch, DCs first. `pipeline_of` names the
/// pipeline each switch runs.
pub fn build(
    policy: &Policy,
    topo: &Topology,
    shares: &Shares,
    pipeline_of: &dyn Fn(&Switch) -> String,
) -> Result<Vec<Rules>, Vec<Overflow>> {
    let mut all = vec![];
    let mut overflows = vec![];
    let share = |d: usize, e: usize| shares.get(d, e).unwrap_or(0);
    // Each switch numbers its routes 0.. in the topology's order; index the
    // routes by DC and by edge once.
    let mut by_dc: Vec<Vec<(u32, usize)>> = vec![vec![]; policy.datacenters.len()];
    let mut by_edge: Vec<Vec<(u32, usize)>> = vec![vec![]; policy.edges.len()];
    for r in topo.routes() {
        let d = &mut by_dc[r.dc];
        d.push((d.len() as u32, r.edge));
        let e = &mut by_edge[r.edge];
        e.push((e.len() as u32, r.dc));
    }
    for (di, dc) in policy.datacenters.iter().enumerate() {
        let sw = &dc.switch;
        let mut b = Builder { entries: vec![] };
        let routes = &by_dc[di];
        for s in &dc.servers {
            b.add(
                names::T_IPV4_LPM,
                vec![lpm(
                    "hdr.ipv4.dst_addr",
                    Prefix {
                        addr: s.address,
                        len: 32,
                    },
                )],
                "forward",
                vec![
                    ("port", Value::Int(s.port.into())),
                    ("src_mac", Value::Mac(switch_mac(sw, s.port))),
                    ("dst_mac", Value::Mac(host_mac(s.address))),
                ],
                None,
            );
        }
        b.add(
            names::T_IPV4_LPM,
            vec![lpm("hdr.ipv4.dst_addr", ANY)],
            "forward",
            vec![
                ("port", Value::Int(sw.uplink_port.into())),
                ("src_mac", Value::Mac(switch_mac(sw, sw.uplink_port))),
                ("dst_mac", Value::Mac(peer_mac(sw, sw.uplink_port))),
            ],
            None,
        );
        for &(_, e) in routes {
            for p in &policy.edges[e].clients {
                b.add(
                    names::T_CLIENT_EDGE,
                    vec![lpm("hdr.ipv4.src_addr", *p)],
                    "set_edge",
                    vec![("edge", Value::Int(e as u64 + 1))],
                    None,
                );
            }
        }
        let services: Vec<(usize, &fairshare_policy::model::Service)> = policy
            .services
            .iter()
            .enumerate()
            .filter(|(_, s)| s.at.contains(&di))
            .collect();
        for (si, s) in &services {
            b.add(
                names::T_VIP,
                vec![
                    exact("hdr.ipv4.dst_addr", Value::Ipv4(s.vip)),
                    exact("hdr.ipv4.protocol", Value::Int(s.protocol.number().into())),
                    exact("meta.l4_dst", Value::Int(s.port.into())),
                ],
                "set_service",
                vec![("service", Value::Int(*si as u64 + 1))],
                None,
            );
        }
        // The server with the most free capacity; the first on a tie.
        let best = dc.servers.iter().enumerate().max_by(|(ia, a), (ib, b)| {
            let free = |s: &fairshare_policy::model::Server| {
                u128::from(s.capacity) * u128::from(1_000_000 - s.load_ppm.min(1_000_000))
            };
            free(a).cmp(&free(b)).then(ib.cmp(ia))
        });
        if let Some((_, server)) = best {
            for &(_, e) in routes {
                for (si, _) in &services {
                    b.add(
                        names::T_STEER,
                        vec![
                            exact("meta.edge", Value::Int(e as u64 + 1)),
                            exact("meta.service", Value::Int(*si as u64 + 1)),
                        ],
                        "dnat",
                        vec![("server", Value::Ipv4(server.address))],
                        None,
                    );
                }
            }
        }
        for server in &dc.servers {
            for (_, s) in &services {
                b.add(
                    names::T_SNAT,
                    vec![
                        exact("hdr.ipv4.src_addr", Value::Ipv4(server.address)),
                        exact("hdr.ipv4.protocol", Value::Int(s.protocol.number().into())),
                        exact("meta.l4_src", Value::Int(s.port.into())),
                    ],
                    "snat_to_vip",
                    vec![("vip", Value::Ipv4(s.vip))],
                    None,
                );
            }
        }
        for &(i, e) in routes {
            for p in &policy.edges[e].clients {
                b.add(
                    names::T_ROUTE_CLASS,
                    vec![
                        ternary("hdr.ipv4.src_addr", ANY),
                        ternary("hdr.ipv4.dst_addr", *p),
                    ],
                    "set_route",
                    vec![("route", Value::Int(i.into()))],
                    Some(1 + u32::from(p.len)),
                );
            }
        }
        let cells = routes
            .iter()
            .map(|&(i, e)| RouteCell {
                index: i,
                dc: dc.name.clone(),
                edge: policy.edges[e].name.clone(),
                share_bps: share(di, e),
            })
            .collect();
        all.push(finish(sw, "dc", pipeline_of(sw), cells, b.entries));
    }
    for (ei, edge) in policy.edges.iter().enumerate() {
        let sw = &edge.switch;
        let mut b = Builder { entries: vec![] };
        let routes = &by_edge[ei];
        for p in &edge.clients {
            b.add(
                names::T_IPV4_LPM,
                vec![lpm("hdr.ipv4.dst_addr", *p)],
                "forward",
                vec![
                    ("port", Value::Int(edge.client_port.into())),
                    ("src_mac", Value::Mac(switch_mac(sw, edge.client_port))),
                    ("dst_mac", Value::Mac(host_mac(p.addr))),
                ],
                None,
            );
            b.add(
                names::T_CLIENT_EDGE,
                vec![lpm("hdr.ipv4.src_addr", *p)],
                "set_edge",
                vec![("edge", Value::Int(ei as u64 + 1))],
                None,
            );
        }
        b.add(
            names::T_IPV4_LPM,
            vec![lpm("hdr.ipv4.dst_addr", ANY)],
            "forward",
            vec![
                ("port", Value::Int(sw.uplink_port.into())),
                ("src_mac", Value::Mac(switch_mac(sw, sw.uplink_port))),
                ("dst_mac", Value::Mac(peer_mac(sw, sw.uplink_port))),
            ],
            None,
        );
        for (si, s) in policy.services.iter().enumerate() {
            if !routes.iter().any(|&(_, d)| s.at.contains(&d)) {
                continue;
            }
            b.add(
                names::T_VIP,
                vec![
                    exact("hdr.ipv4.dst_addr", Value::Ipv4(s.vip)),
                    exact("hdr.ipv4.protocol", Value::Int(s.protocol.number().into())),
                    exact("meta.l4_dst", Value::Int(s.port.into())),
                ],
                "set_service",
                vec![("service", Value::Int(si as u64 + 1))],
                None,
            );
        }
        for &(i, d) in routes {
            for server in &policy.datacenters[d].servers {
                b.add(
                    names::T_ROUTE_CLASS,
                    vec![
                        ternary(
                            "hdr.ipv4.src_addr",
                            Prefix {
                                addr: server.address,
                                len: 32,
                            },
                        ),
                        ternary("hdr.ipv4.dst_addr", ANY),
                    ],
                    "set_route",
                    vec![("route", Value::Int(i.into()))],
                    Some(33),
                );
            }
        }
        let cells = routes
            .iter()
            .map(|&(i, d)| RouteCell {
                index: i,
                dc: policy.datacenters[d].name.clone(),
                edge: edge.name.clone(),
                share_bps: share(d, ei),
            })
            .collect();
        all.push(finish(sw, "edge", pipeline_of(sw), cells, b.entries));
    }
    // `all` lists the switches in the order of `Policy::switches`.
    for (r, sw) in all.iter().zip(policy.switches()) {
        let p = PipelineParams::new(sw.cpu_port, &policy.sizes);
        let limits = [
            (names::T_CLIENT_EDGE, p.routes),
            (names::T_VIP, p.steer),
            (names::T_STEER, p.steer),
            (names::T_SNAT, p.steer),
            (names::T_ROUTE_CLASS, p.routes),
            (names::T_IPV4_LPM, p.routes),
        ];
        let mut counts: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
        for e in &r.table_entries {
            *counts.entry(e.table.as_str()).or_default() += 1;
        }
        for (t, size) in limits {
            let q = qualified(t);
            let needed = counts.get(q.as_str()).copied().unwrap_or(0);
            if needed > size as usize {
                overflows.push(Overflow {
                    switch: r.switch.clone(),
                    table: q,
                    needed,
                    size,
                });
            }
        }
        if r.routes.len() > p.routes as usize {
            overflows.push(Overflow {
                switch: r.switch.clone(),
                table: qualified(names::M_ROUTE),
                needed: r.routes.len(),
                size: p.routes,
            });
        }
    }
    if overflows.is_empty() {
        Ok(all)
    } else {
        Err(overflows)
    }
}

fn finish(
    sw: &Switch,
    role: &'static str,
    pipeline: String,
    routes: Vec<RouteCell>,
    table_entries: Vec<TableEntry>,
) -> Rules {
    let mut meter_configs: Vec<MeterConfig> = routes
        .iter()
        .map(|r| byte_meter(&qualified(names::M_ROUTE), r.index, r.share_bps))
        .collect();
    meter_configs.push(MeterConfig {
        meter: qualified(names::M_RSVP),
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
