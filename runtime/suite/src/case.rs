//! The `case.toml` schema, and a loaded case: its pipeline, its
//! control-plane steps and its input frames.
//!
//! The schema, by example (every table is described on its type below):
//!
//! ```toml
//! description = """What the case proves, and how its expectation was checked."""
//!
//! [pipeline]
//! example = "single"          # examples/single.fsp, compiled in-process
//! switch = "dc1-sw"           # whose pipeline and generated rules to load
//!
//! [[setup]]                   # control-plane writes before the first packet
//! op = "table_add"
//! table = "Ingress.flows"
//! match = { "hdr.ipv4.src_addr" = "10.0.0.1", "hdr.ipv4.dst_addr" = "192.0.2.5" }
//! action = "Ingress.reserved_flow"
//! params = { route = 0 }
//!
//! [[timeline]]                # the same writes, at a time
//! at_us = 5000
//! op = "meter_set"
//! meter = "Ingress.route_meter"
//! index = 0
//! cir = 1000
//! cburst = 100
//! pir = 2000
//! pburst = 200
//!
//! [[packets]]
//! port = 3
//! at_us = 0
//! ipv4 = { src = "192.0.2.5", dst = "203.0.113.1", ttl = 64 }
//! tcp = { sport = 40000, dport = 80 }
//! payload_size = 10
//!
//! [expect]
//! drops = { DROP_NO_ROUTE = 1 }   # cells of Ingress.drops; unlisted reasons must be 0
//! stats = { parser_errors = 0 }   # the fairshare switch's Stats (not checked on BMv2)
//! ```

use crate::Error;
use fairshare_switch::rules::RuleValue;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

/// `case.toml` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseFile {
    /// What the case proves and how its expected output was checked.
    pub description: String,
    pub pipeline: PipelineSpec,
    /// Control-plane writes applied after the pipeline's own rules and
    /// before the first packet.
    #[serde(default)]
    pub setup: Vec<OpSpec>,
    /// Control-plane writes at given times (`at_us`).
    #[serde(default)]
    pub timeline: Vec<OpSpec>,
    pub packets: Vec<PacketSpec>,
    #[serde(default)]
    pub expect: ExpectSpec,
}

/// Where the pipeline comes from: a policy (an example's name, or a file
/// beside the case) and a switch of it, or a BMv2 JSON with an optional
/// rules file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineSpec {
    /// The name of a policy in `examples/` (next to the suite's folder).
    pub example: Option<String>,
    /// A policy file, relative to the case's folder.
    pub policy: Option<String>,
    /// The switch of the policy whose pipeline and rules are loaded.
    pub switch: Option<String>,
    /// A BMv2 JSON, relative to the case's folder (instead of a policy).
    pub json: Option<String>,
    /// A rules file as `fairshare compile` writes it, for `json`.
    pub rules: Option<String>,
    /// The P4Info of `json` in protobuf text format (as `fairshare compile`
    /// writes `fairshare.p4info.txtpb`); `simple_switch_grpc` needs it.
    pub p4info: Option<String>,
    /// The CPU port, for `json` pipelines (a policy's switch names its own).
    pub cpu_port: Option<u32>,
    /// Load the switch's generated rules (default true).
    #[serde(default = "yes")]
    pub generated_rules: bool,
}

fn yes() -> bool {
    true
}

fn one() -> u32 {
    1
}

/// One control-plane write, as written. `op` says which fields it needs:
/// * `table_add`: table, match, action, params, priority (optional);
/// * `table_modify`: table, match, priority (if the table has one), action, params;
/// * `table_delete`: table, match, priority (if the table has one);
/// * `set_default`: table, action, params;
/// * `meter_set`: meter, index, cir, cburst, pir, pburst (P4Runtime units:
///   bytes or packets per second, bursts in bytes or packets);
/// * `meter_reset`: meter, index (back to unconfigured: always green);
/// * `direct_meter_set`: table, match, priority, and the four rates.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpSpec {
    /// For timeline events: when, in microseconds of pcap time.
    pub at_us: Option<u64>,
    pub op: String,
    pub table: Option<String>,
    #[serde(rename = "match", default)]
    pub matches: BTreeMap<String, RuleValue>,
    pub action: Option<String>,
    #[serde(default)]
    pub params: BTreeMap<String, RuleValue>,
    pub priority: Option<u32>,
    pub meter: Option<String>,
    pub index: Option<u32>,
    pub cir: Option<u64>,
    pub cburst: Option<u64>,
    pub pir: Option<u64>,
    pub pburst: Option<u64>,
    /// Free text: why this write is here.
    pub note: Option<String>,
}

/// A checksum as written: a number, or `"bad"` (the correct one with
/// alternate bits flipped, `^ 0x5555`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ChecksumSpec {
    Value(u16),
    Word(String),
}

/// An Ethernet header; every field has a default.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EthSpec {
    /// Default `02:00:00:00:00:fe`.
    pub dst: Option<String>,
    /// Default `02:00:00:00:00:01`.
    pub src: Option<String>,
    /// Default: 0x0800 when an IPv4 header follows, else required.
    pub ether_type: Option<u16>,
}

/// An IPv4 header. Lengths and the checksum are computed unless given.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ipv4Spec {
    pub src: String,
    pub dst: String,
    #[serde(default = "ttl")]
    pub ttl: u8,
    /// The ToS byte (DSCP and ECN).
    #[serde(default)]
    pub tos: u8,
    /// Default: the packet's number in the case (1, 2, …), so that every
    /// packet can be told apart in a diff.
    pub id: Option<u16>,
    /// The three flag bits (2 = DF, 1 = MF).
    #[serde(default)]
    pub flags: u8,
    /// In units of 8 bytes.
    #[serde(default)]
    pub frag_offset: u16,
    /// Default: 6 with `tcp`, 17 with `udp`, 46 with `rsvp`.
    pub protocol: Option<u8>,
    /// Option bytes in hex (a multiple of 4 bytes).
    pub options: Option<String>,
    pub checksum: Option<ChecksumSpec>,
    pub total_len: Option<u16>,
    pub ihl: Option<u8>,
}

fn ttl() -> u8 {
    64
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TcpSpec {
    pub sport: u16,
    pub dport: u16,
    #[serde(default = "seq")]
    pub seq: u32,
    #[serde(default)]
    pub ack: u32,
    /// Default 0x02 (SYN).
    #[serde(default = "syn")]
    pub flags: u8,
    #[serde(default = "window")]
    pub window: u16,
    pub checksum: Option<ChecksumSpec>,
}

fn seq() -> u32 {
    1
}
fn syn() -> u8 {
    0x02
}
fn window() -> u16 {
    8192
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UdpSpec {
    pub sport: u16,
    pub dport: u16,
    /// Default: computed; 0 means "no checksum", as UDP over IPv4 allows.
    pub checksum: Option<ChecksumSpec>,
}

/// The controller header of a packet entering on the CPU port.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PacketOutSpec {
    pub egress_port: u16,
}

/// One input packet (or `count` of them, `every_us` apart).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PacketSpec {
    pub port: u32,
    pub at_us: u64,
    #[serde(default = "one")]
    pub count: u32,
    #[serde(default)]
    pub every_us: u64,
    /// Free text: what this packet is for.
    pub note: Option<String>,
    pub packet_out: Option<PacketOutSpec>,
    pub eth: Option<EthSpec>,
    pub ipv4: Option<Ipv4Spec>,
    pub tcp: Option<TcpSpec>,
    pub udp: Option<UdpSpec>,
    /// An RSVP message (the IPv4 payload) in hex.
    pub rsvp: Option<String>,
    /// Payload bytes in hex, after the last header.
    pub payload: Option<String>,
    /// A payload of this many bytes (0, 1, 2, … modulo 256).
    pub payload_size: Option<usize>,
    /// A payload sized so the frame (without `packet_out`) has this length.
    pub frame_size: Option<usize>,
    /// Cut the finished frame to this many bytes (checksums stay those of
    /// the whole frame).
    pub truncate: Option<usize>,
    /// The whole frame in hex, instead of headers.
    pub raw: Option<String>,
}

/// What a case asserts beyond its expected pcaps.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectSpec {
    /// Packets counted per reason in the `Ingress.drops` counter, by the
    /// reason's name (`DROP_NO_ROUTE`); reasons not listed must be 0.
    pub drops: Option<BTreeMap<String, u64>>,
    /// Fields of the fairshare switch's `Stats`, by name.
    #[serde(default)]
    pub stats: BTreeMap<String, u64>,
    /// Cells of other counters.
    #[serde(default)]
    pub counters: Vec<CounterSpec>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CounterSpec {
    pub counter: String,
    pub index: u32,
    pub packets: Option<u64>,
    pub bytes: Option<u64>,
}

/// A control-plane write, checked.
#[derive(Debug, Clone)]
pub enum Op {
    TableAdd {
        table: String,
        matches: BTreeMap<String, RuleValue>,
        action: String,
        params: BTreeMap<String, RuleValue>,
        priority: Option<u32>,
    },
    TableModify {
        table: String,
        matches: BTreeMap<String, RuleValue>,
        priority: Option<u32>,
        action: String,
        params: BTreeMap<String, RuleValue>,
    },
    TableDelete {
        table: String,
        matches: BTreeMap<String, RuleValue>,
        priority: Option<u32>,
    },
    SetDefault {
        table: String,
        action: String,
        params: BTreeMap<String, RuleValue>,
    },
    MeterSet {
        meter: String,
        index: u32,
        rates: fairshare_switch::MeterConfig,
    },
    MeterReset {
        meter: String,
        index: u32,
    },
    DirectMeterSet {
        table: String,
        matches: BTreeMap<String, RuleValue>,
        priority: Option<u32>,
        rates: fairshare_switch::MeterConfig,
    },
}

/// A timed control-plane write.
#[derive(Debug, Clone)]
pub struct Event {
    pub at_us: u64,
    pub op: Op,
    /// Where it is written: `timeline[2]`.
    pub place: String,
}

/// One input frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    pub port: u32,
    pub at_us: u64,
    pub frame: Vec<u8>,
    /// Its number in the case (1, 2, …, in file order with repeats).
    pub number: u32,
    /// Where it is written: `packets[3]`, `packets[3] #2`.
    pub place: String,
}

/// A case read and checked: the description, the pipeline to load, the
/// control-plane writes and the input frames.
#[derive(Debug)]
pub struct Case {
    pub name: String,
    pub dir: PathBuf,
    pub description: String,
    pub pipeline: PipelineSpec,
    pub setup: Vec<Op>,
    pub timeline: Vec<Event>,
    /// In time order (ties keep the file's order).
    pub inputs: Vec<Input>,
    pub expect: ExpectSpec,
}

impl Case {
    /// Reads `<dir>/case.toml`.
    pub fn read(dir: &Path) -> Result<Case, Error> {
        let file = dir.join("case.toml");
        let text = std::fs::read_to_string(&file).map_err(|e| Error::Io {
            path: file.clone(),
            source: e,
        })?;
        let bad = |place: String, message: String| Error::BadCase {
            file: file.clone(),
            place,
            message,
        };
        let cf: CaseFile =
            basic_toml::from_str(&text).map_err(|e| bad("the TOML".into(), e.to_string()))?;
        let name = dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        if cf.description.trim().is_empty() {
            return Err(bad(
                "description".into(),
                "expected what the case proves and how its output was checked, found nothing"
                    .into(),
            ));
        }
        let p = &cf.pipeline;
        match (&p.example, &p.policy, &p.json) {
            (Some(_), None, None) | (None, Some(_), None) => {
                if p.switch.is_none() {
                    return Err(bad(
                        "pipeline".into(),
                        "expected `switch` (which switch of the policy to run)".into(),
                    ));
                }
            }
            (None, None, Some(_)) => {}
            _ => {
                return Err(bad(
                    "pipeline".into(),
                    "expected exactly one of `example`, `policy` or `json`".into(),
                ))
            }
        }
        if p.json.is_none() && (p.p4info.is_some() || p.rules.is_some()) {
            return Err(bad(
                "pipeline".into(),
                "`rules` and `p4info` go with `json` (a policy's are compiled with it)".into(),
            ));
        }
        let mut setup = vec![];
        for (i, s) in cf.setup.iter().enumerate() {
            let place = format!("setup[{i}]");
            if s.at_us.is_some() {
                return Err(bad(
                    place,
                    "a setup write has no time (`at_us`); put timed writes in [[timeline]]".into(),
                ));
            }
            setup.push(op(s).map_err(|m| bad(place, m))?);
        }
        let mut timeline = vec![];
        for (i, s) in cf.timeline.iter().enumerate() {
            let place = format!("timeline[{i}]");
            let Some(at_us) = s.at_us else {
                return Err(bad(place, "expected `at_us`, the time of the write".into()));
            };
            timeline.push(Event {
                at_us,
                op: op(s).map_err(|m| bad(place.clone(), m))?,
                place,
            });
        }
        timeline.sort_by_key(|e| e.at_us);
        if cf.packets.is_empty() {
            return Err(bad(
                "packets".into(),
                "expected at least one [[packets]]".into(),
            ));
        }
        let mut inputs = vec![];
        let mut number = 0u32;
        for (i, ps) in cf.packets.iter().enumerate() {
            if ps.count == 0 {
                return Err(bad(
                    format!("packets[{i}]"),
                    "`count` must be at least 1".into(),
                ));
            }
            for k in 0..ps.count {
                number += 1;
                let place = if ps.count > 1 {
                    format!("packets[{i}] #{}", k + 1)
                } else {
                    format!("packets[{i}]")
                };
                let frame = build(ps, number).map_err(|m| bad(format!("packets[{i}]"), m))?;
                inputs.push(Input {
                    port: ps.port,
                    at_us: ps.at_us + u64::from(k) * ps.every_us,
                    frame,
                    number,
                    place,
                });
            }
        }
        inputs.sort_by_key(|p| p.at_us);
        Ok(Case {
            name,
            dir: dir.to_path_buf(),
            description: cf.description,
            pipeline: cf.pipeline,
            setup,
            timeline,
            inputs,
            expect: cf.expect,
        })
    }

    /// The ports that have input packets.
    pub fn input_ports(&self) -> Vec<u32> {
        let mut v: Vec<u32> = self.inputs.iter().map(|p| p.port).collect();
        v.sort_unstable();
        v.dedup();
        v
    }
}

fn op(s: &OpSpec) -> Result<Op, String> {
    let need = |what: &str, v: &Option<String>| {
        v.clone()
            .ok_or_else(|| format!("op `{}` needs `{what}`", s.op))
    };
    let num = |what: &str, v: Option<u64>| v.ok_or_else(|| format!("op `{}` needs `{what}`", s.op));
    let rates = || -> Result<fairshare_switch::MeterConfig, String> {
        Ok(fairshare_switch::MeterConfig {
            cir: num("cir", s.cir)?,
            cburst: num("cburst", s.cburst)?,
            pir: num("pir", s.pir)?,
            pburst: num("pburst", s.pburst)?,
        })
    };
    Ok(match s.op.as_str() {
        "table_add" => Op::TableAdd {
            table: need("table", &s.table)?,
            matches: s.matches.clone(),
            action: need("action", &s.action)?,
            params: s.params.clone(),
            priority: s.priority,
        },
        "table_modify" => Op::TableModify {
            table: need("table", &s.table)?,
            matches: s.matches.clone(),
            priority: s.priority,
            action: need("action", &s.action)?,
            params: s.params.clone(),
        },
        "table_delete" => Op::TableDelete {
            table: need("table", &s.table)?,
            matches: s.matches.clone(),
            priority: s.priority,
        },
        "set_default" => Op::SetDefault {
            table: need("table", &s.table)?,
            action: need("action", &s.action)?,
            params: s.params.clone(),
        },
        "meter_set" => Op::MeterSet {
            meter: need("meter", &s.meter)?,
            index: s.index.ok_or("op `meter_set` needs `index`")?,
            rates: rates()?,
        },
        "meter_reset" => Op::MeterReset {
            meter: need("meter", &s.meter)?,
            index: s.index.ok_or("op `meter_reset` needs `index`")?,
        },
        "direct_meter_set" => Op::DirectMeterSet {
            table: need("table", &s.table)?,
            matches: s.matches.clone(),
            priority: s.priority,
            rates: rates()?,
        },
        other => {
            return Err(format!(
                "expected an op among table_add, table_modify, table_delete, set_default, meter_set, meter_reset, direct_meter_set; found `{other}`"
            ))
        }
    })
}

/// Bytes from hex text; spaces, newlines and `:` are ignored.
pub fn hex(text: &str) -> Result<Vec<u8>, String> {
    let digits: Vec<u8> = text
        .bytes()
        .filter(|b| !b.is_ascii_whitespace() && *b != b':')
        .collect();
    if digits.len() % 2 != 0 {
        return Err(format!(
            "expected hex bytes (an even number of digits), found {} digits",
            digits.len()
        ));
    }
    digits
        .chunks(2)
        .map(|c| {
            std::str::from_utf8(c)
                .ok()
                .and_then(|s| u8::from_str_radix(s, 16).ok())
                .ok_or_else(|| {
                    format!(
                        "expected hex digits, found `{}`",
                        String::from_utf8_lossy(c)
                    )
                })
        })
        .collect()
}

fn mac(text: &str) -> Result<[u8; 6], String> {
    let parts: Vec<&str> = text.split(':').collect();
    let bytes: Option<Vec<u8>> = parts
        .iter()
        .map(|p| u8::from_str_radix(p, 16).ok())
        .collect();
    match bytes {
        Some(b) if b.len() == 6 => Ok([b[0], b[1], b[2], b[3], b[4], b[5]]),
        _ => Err(format!(
            "expected a MAC address like 02:00:00:00:00:01, found `{text}`"
        )),
    }
}

fn ip(text: &str) -> Result<Ipv4Addr, String> {
    text.parse()
        .map_err(|_| format!("expected an IPv4 address, found `{text}`"))
}

/// The ones' complement sum of 16-bit words, complemented (RFC 1071).
pub fn csum(data: &[u8]) -> u16 {
    let mut s: u32 = 0;
    for c in data.chunks(2) {
        let w = if c.len() == 2 {
            u16::from_be_bytes([c[0], c[1]])
        } else {
            u16::from(c[0]) << 8
        };
        s += u32::from(w);
    }
    while s >> 16 != 0 {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

fn checksum(spec: &Option<ChecksumSpec>, correct: u16) -> Result<u16, String> {
    match spec {
        None => Ok(correct),
        Some(ChecksumSpec::Value(v)) => Ok(*v),
        Some(ChecksumSpec::Word(w)) if w == "bad" => Ok(correct ^ 0x5555),
        Some(ChecksumSpec::Word(w)) => Err(format!(
            "expected a checksum as a number or \"bad\", found `{w}`"
        )),
    }
}

/// Builds the frame of packet `number` of a description.
pub fn build(p: &PacketSpec, number: u32) -> Result<Vec<u8>, String> {
    let mut frame = vec![];
    if let Some(po) = &p.packet_out {
        if po.egress_port >= 512 {
            return Err(format!(
                "packet_out.egress_port is 9 bits: expected at most 511, found {}",
                po.egress_port
            ));
        }
        frame.extend_from_slice(&(po.egress_port << 7).to_be_bytes());
    }
    let head = frame.len();
    if let Some(raw) = &p.raw {
        if p.eth.is_some()
            || p.ipv4.is_some()
            || p.tcp.is_some()
            || p.udp.is_some()
            || p.rsvp.is_some()
        {
            return Err("`raw` is the whole frame: expected no header tables beside it".into());
        }
        frame.extend(hex(raw)?);
    } else {
        let l4_count = [p.tcp.is_some(), p.udp.is_some(), p.rsvp.is_some()]
            .iter()
            .filter(|x| **x)
            .count();
        if l4_count > 1 {
            return Err("expected at most one of `tcp`, `udp`, `rsvp`".into());
        }
        if l4_count == 1 && p.ipv4.is_none() {
            return Err("`tcp`, `udp` and `rsvp` need an `ipv4` header".into());
        }
        let eth = p.eth.clone().unwrap_or_default();
        let ether_type = match (eth.ether_type, &p.ipv4) {
            (Some(t), _) => t,
            (None, Some(_)) => 0x0800,
            (None, None) => return Err("expected `eth.ether_type` (no ipv4 header follows)".into()),
        };
        frame.extend(mac(eth.dst.as_deref().unwrap_or("02:00:00:00:00:fe"))?);
        frame.extend(mac(eth.src.as_deref().unwrap_or("02:00:00:00:00:01"))?);
        frame.extend(ether_type.to_be_bytes());
        let options = match p.ipv4.as_ref().and_then(|i| i.options.as_ref()) {
            Some(o) => hex(o)?,
            None => vec![],
        };
        if options.len() % 4 != 0 || options.len() > 40 {
            return Err(format!(
                "ipv4.options: expected a multiple of 4 bytes, at most 40, found {}",
                options.len()
            ));
        }
        let ip_len = if p.ipv4.is_some() {
            20 + options.len()
        } else {
            0
        };
        let l4_len = if p.tcp.is_some() {
            20
        } else if p.udp.is_some() {
            8
        } else {
            0
        };
        let mut payload = match &p.rsvp {
            Some(r) => hex(r)?,
            None => vec![],
        };
        payload.extend(match &p.payload {
            Some(h) => hex(h)?,
            None => vec![],
        });
        if let Some(n) = p.payload_size {
            payload.extend((0..n).map(|i| i as u8));
        }
        if let Some(n) = p.frame_size {
            let have = 14 + ip_len + l4_len + payload.len();
            if n < have {
                return Err(format!(
                    "frame_size {n} is smaller than the headers and payload ({have} bytes)"
                ));
            }
            let start = payload.len();
            payload.extend((start..start + n - have).map(|i| i as u8));
        }
        if let Some(i) = &p.ipv4 {
            let src = ip(&i.src)?;
            let dst = ip(&i.dst)?;
            let protocol = match (i.protocol, &p.tcp, &p.udp, &p.rsvp) {
                (Some(x), ..) => x,
                (None, Some(_), _, _) => 6,
                (None, _, Some(_), _) => 17,
                (None, _, _, Some(_)) => 46,
                (None, ..) => 253,
            };
            let mut l4 = vec![];
            if let Some(t) = &p.tcp {
                l4.extend(t.sport.to_be_bytes());
                l4.extend(t.dport.to_be_bytes());
                l4.extend(t.seq.to_be_bytes());
                l4.extend(t.ack.to_be_bytes());
                l4.extend([5 << 4, t.flags]);
                l4.extend(t.window.to_be_bytes());
                l4.extend([0, 0, 0, 0]);
                l4.extend(&payload);
                let c = checksum(&t.checksum, csum(&pseudo(src, dst, 6, &l4)))?;
                l4[16..18].copy_from_slice(&c.to_be_bytes());
            } else if let Some(u) = &p.udp {
                let len = (8 + payload.len()) as u16;
                l4.extend(u.sport.to_be_bytes());
                l4.extend(u.dport.to_be_bytes());
                l4.extend(len.to_be_bytes());
                l4.extend([0, 0]);
                l4.extend(&payload);
                let correct = match csum(&pseudo(src, dst, 17, &l4)) {
                    0 => 0xffff,
                    c => c,
                };
                let c = checksum(&u.checksum, correct)?;
                l4[6..8].copy_from_slice(&c.to_be_bytes());
            } else {
                l4.extend(&payload);
            }
            let ihl = i.ihl.unwrap_or((ip_len / 4) as u8);
            if ihl > 15 {
                return Err(format!(
                    "ipv4.ihl is 4 bits: expected at most 15, found {ihl}"
                ));
            }
            if i.flags > 7 || i.frag_offset >= 1 << 13 {
                return Err("ipv4.flags is 3 bits and ipv4.frag_offset 13 bits".into());
            }
            let total = i.total_len.unwrap_or((ip_len + l4.len()) as u16);
            let id = i.id.unwrap_or(number as u16);
            let mut h = vec![0x40 | ihl, i.tos];
            h.extend(total.to_be_bytes());
            h.extend(id.to_be_bytes());
            h.extend((u16::from(i.flags) << 13 | i.frag_offset).to_be_bytes());
            h.extend([i.ttl, protocol, 0, 0]);
            h.extend(src.octets());
            h.extend(dst.octets());
            h.extend(&options);
            let c = checksum(&i.checksum, csum(&h))?;
            h[10..12].copy_from_slice(&c.to_be_bytes());
            frame.extend(h);
            frame.extend(l4);
        } else {
            frame.extend(payload);
        }
    }
    if let Some(n) = p.truncate {
        if n > frame.len() - head {
            return Err(format!(
                "truncate {n}: the frame has only {} bytes",
                frame.len() - head
            ));
        }
        frame.truncate(head + n);
    }
    Ok(frame)
}

fn pseudo(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, l4: &[u8]) -> Vec<u8> {
    let mut v = vec![];
    v.extend(src.octets());
    v.extend(dst.octets());
    v.extend([0, proto]);
    v.extend((l4.len() as u16).to_be_bytes());
    v.extend(l4);
    v
}
