//! Running parsed STF commands on a [`Switch`] and judging the result.

use crate::parse::{ActionCall, Command, CounterKind, KeyValue, Line, Literal, Pattern, Rate};
use fairshare_switch::{
    CloneSession, Entry, KeyMatch, MatchKind, MeterConfig, Replica, Stats, Switch,
};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// Virtual time between two packets sent back to back, in microseconds.
pub const PACKET_GAP_US: u64 = 1;
/// Virtual time before a packet that follows a control-plane command or a
/// `wait`: p4c's runner sleeps a second there, so meters refill as they
/// would on BMv2.
pub const SETTLE_US: u64 = 1_000_000;

/// Why packets were dropped for multicast (see [`Stats::dropped_multicast`]).
pub const NEEDS_MULTICAST: &str = "the multicast group is not configured or has no replicas";

/// The result of running one STF test: passed when `failures` is empty.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub failures: Vec<Failure>,
    /// What the read commands (`counter_read`, `register_read`,
    /// `meter_get_rates`, `mirroring_get`) returned, one line each.
    pub reads: Vec<String>,
    /// The switch's counters after the run (zero if the program did not load).
    pub stats: Stats,
}

impl Outcome {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }

    /// One line saying why the test failed (empty when it passed): the
    /// first failure, how many others there are, and a hint when packets
    /// were dropped for want of a multicast group.
    pub fn reason(&self) -> String {
        let Some(first) = self.failures.first() else {
            return String::new();
        };
        let mut s = first.to_string();
        if self.failures.len() > 1 {
            s += &format!(" (and {} more)", self.failures.len() - 1);
        }
        if self.stats.dropped_multicast > 0 {
            s += &format!(
                "; {} packet(s) dropped for multicast ({NEEDS_MULTICAST})",
                self.stats.dropped_multicast
            );
        }
        s
    }
}

/// How a received packet differs from its expectation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Difference {
    /// The first differing hex digit, counted from 0.
    Nibble(usize),
    /// The packet ends before the pattern does.
    TooShort,
    /// The pattern ends with `$` and the packet goes on.
    TooLong,
}

/// One thing that went wrong.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// The switch refused the program; the reason names the JSON path.
    Load { reason: String },
    /// A command the runner could not honour: a name that does not
    /// resolve, an entry the switch refuses, a feature it lacks.
    Command {
        line: usize,
        text: String,
        reason: String,
    },
    /// A `check_counter` that does not hold.
    Counter {
        line: usize,
        text: String,
        actual: u64,
    },
    /// An expected packet that never came.
    Missing {
        line: usize,
        port: u32,
        expected: Pattern,
    },
    /// A packet on a watched port beyond the expected ones.
    Extra {
        port: u32,
        /// The `packet` line that produced it.
        packet_line: usize,
        received: Vec<u8>,
    },
    /// A packet that does not match its expectation.
    Mismatch {
        line: usize,
        port: u32,
        expected: Pattern,
        received: Vec<u8>,
        packet_line: usize,
        difference: Difference,
    },
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Load { reason } => write!(f, "load: {reason}"),
            Failure::Command { line, text, reason } => {
                write!(f, "line {line} `{text}`: {reason}")
            }
            Failure::Counter { line, text, actual } => {
                write!(
                    f,
                    "line {line} `{text}` does not hold: the counter is {actual}"
                )
            }
            Failure::Missing { line, port, .. } => {
                write!(f, "line {line}: no packet on port {port}")
            }
            Failure::Extra {
                port, packet_line, ..
            } => write!(
                f,
                "an unexpected packet on port {port} (from the packet of line {packet_line})"
            ),
            Failure::Mismatch {
                line,
                port,
                difference,
                ..
            } => match difference {
                Difference::Nibble(n) => write!(
                    f,
                    "line {line}: the packet on port {port} differs at byte {}",
                    n / 2
                ),
                Difference::TooShort => {
                    write!(f, "line {line}: the packet on port {port} is too short")
                }
                Difference::TooLong => write!(
                    f,
                    "line {line}: the packet on port {port} is longer than the expected `$` end"
                ),
            },
        }
    }
}

impl Failure {
    /// A multi-line report: the one-line summary, then expected and
    /// received packets with the first difference marked.
    pub fn report(&self) -> String {
        let mut s = self.to_string();
        match self {
            Failure::Missing { expected, .. } => {
                s += &format!("\n  expected: {expected}\n  received: nothing");
            }
            Failure::Extra { received, .. } => {
                s += &format!("\n  received: {}", hex(received));
            }
            Failure::Mismatch {
                expected,
                received,
                difference,
                ..
            } => {
                s += &format!("\n  expected: {expected}\n  received: {}", hex(received));
                let nibble = match difference {
                    Difference::Nibble(n) => Some(*n),
                    Difference::TooShort => Some(received.len() * 2),
                    Difference::TooLong => Some(expected.nibbles.len()),
                };
                if let Some(n) = nibble {
                    // Both lines print two digits a byte, a space between bytes.
                    let col = n + n / 2;
                    s += &format!("\n            {}^ byte {}", " ".repeat(col), n / 2);
                }
                s += &decoded_difference(expected, received);
            }
            _ => {}
        }
        s
    }
}

/// The expectation and the received packet compared header by header
/// (Ethernet, IPv4, TCP, ...), as indented lines; empty when no known
/// header covers the difference.
fn decoded_difference(expected: &Pattern, received: &[u8]) -> String {
    let len = expected.nibbles.len().div_ceil(2);
    let mut want = vec![0u8; len];
    let mut mask = vec![0u8; len];
    for (i, n) in expected.nibbles.iter().enumerate() {
        let shift = if i % 2 == 0 { 4 } else { 0 };
        if let Some(n) = n {
            want[i / 2] |= n << shift;
            mask[i / 2] |= 0xf << shift;
        }
    }
    let got = if expected.exact_length {
        received
    } else {
        &received[..received.len().min(len)]
    };
    let d = fairshare_packet::diff(&want, got, Some(&mask));
    let mut s = String::new();
    if !d.fields.is_empty() {
        s += "\n  decoded:";
        for line in d.to_string().lines() {
            s += &format!("\n    {line}");
        }
    }
    s
}

/// Bytes as hex digits, a space between bytes.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        s += &format!("{b:02x}");
    }
    s
}

/// Compares a received packet with a pattern.
pub fn compare(expected: &Pattern, received: &[u8]) -> Option<Difference> {
    for (i, want) in expected.nibbles.iter().enumerate() {
        let Some(byte) = received.get(i / 2) else {
            return Some(Difference::TooShort);
        };
        let got = if i % 2 == 0 { byte >> 4 } else { byte & 0xf };
        if let Some(want) = want {
            if *want != got {
                return Some(Difference::Nibble(i));
            }
        }
    }
    if expected.exact_length && received.len() * 2 > expected.nibbles.len() {
        return Some(Difference::TooLong);
    }
    None
}

/// Names of the program's extern arrays, read from the JSON (the switch
/// resolves exact names only).
#[derive(Debug, Default)]
struct ExternNames {
    counters: Vec<String>,
    registers: Vec<String>,
    meters: Vec<String>,
}

impl ExternNames {
    fn from_json(doc: &serde_json::Value) -> ExternNames {
        let names = |key: &str| -> Vec<String> {
            doc.get(key)
                .and_then(|v| v.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|o| o.get("name").and_then(|n| n.as_str()))
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default()
        };
        ExternNames {
            counters: names("counter_arrays"),
            registers: names("register_arrays"),
            meters: names("meter_arrays"),
        }
    }
}

/// Resolves an STF name against a program's names: the exact name, else
/// the only name that ends with `.` + the STF name.
pub fn resolve<'a>(
    names: impl IntoIterator<Item = &'a str> + Clone,
    stf: &str,
    what: &str,
) -> Result<String, String> {
    if let Some(n) = names.clone().into_iter().find(|n| *n == stf) {
        return Ok(n.to_string());
    }
    let suffix = format!(".{stf}");
    let found: Vec<&str> = names
        .clone()
        .into_iter()
        .filter(|n| n.ends_with(&suffix))
        .collect();
    match found.as_slice() {
        [one] => Ok(one.to_string()),
        [] => {
            let all: Vec<&str> = names.into_iter().collect();
            Err(format!(
                "no {what} `{stf}` (the program has: {})",
                if all.is_empty() {
                    "none".to_string()
                } else {
                    all.join(", ")
                }
            ))
        }
        many => Err(format!("{what} `{stf}` is ambiguous: {}", many.join(", "))),
    }
}

/// Resolves an STF key name against a table's key names (see the crate
/// docs for the rules); returns the key's index.
pub fn resolve_key(keys: &[&str], stf: &str) -> Result<usize, String> {
    // `NAME$N` is stack element `NAME[N]`.
    let mut name = String::with_capacity(stf.len() + 2);
    let mut chars = stf.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            name.push('[');
            while let Some(d) = chars.next_if(char::is_ascii_digit) {
                name.push(d);
            }
            name.push(']');
        } else {
            name.push(c);
        }
    }
    let mut forms = vec![name.clone(), format!("{name}.$valid$")];
    if let Some(h) = name.strip_suffix(".valid") {
        forms.push(format!("{h}.$valid$"));
    }
    if name == "valid" {
        forms.push("$valid$".into());
    }
    for f in &forms {
        if let Some(i) = keys.iter().position(|k| k == f) {
            return Ok(i);
        }
    }
    let found: BTreeSet<usize> = forms
        .iter()
        .flat_map(|f| {
            let suffix = format!(".{f}");
            keys.iter()
                .enumerate()
                .filter(move |(_, k)| k.ends_with(&suffix))
                .map(|(i, _)| i)
        })
        .collect();
    match found.len() {
        1 => Ok(*found.iter().next().unwrap_or(&0)),
        0 => Err(format!(
            "no key `{stf}` (the table's keys: {})",
            if keys.is_empty() {
                "none".to_string()
            } else {
                keys.join(", ")
            }
        )),
        _ => Err(format!(
            "key `{stf}` is ambiguous: {}",
            found
                .iter()
                .map(|i| keys[*i])
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

fn width_mask(width: u32) -> u128 {
    if width >= 128 {
        u128::MAX
    } else {
        (1u128 << width) - 1
    }
}

fn fits(v: u128, width: u32, what: &str, lit: &dyn fmt::Display) -> Result<u128, String> {
    if v & !width_mask(width) != 0 {
        Err(format!("{what} {lit} does not fit in {width} bits"))
    } else {
        Ok(v)
    }
}

fn plain(l: &Literal, kind: &str) -> Result<u128, String> {
    if l.has_wildcards() {
        Err(format!("{kind} value {l} has `*` digits"))
    } else {
        Ok(l.value())
    }
}

/// Turns an STF key value into a switch match, given the key's kind and
/// width (see the crate docs for the rules).
pub fn key_match(v: &KeyValue, kind: MatchKind, width: u32) -> Result<KeyMatch, String> {
    let all = width_mask(width);
    match (kind, v) {
        (MatchKind::Exact, KeyValue::Literal(l)) => Ok(KeyMatch::Exact(fits(
            plain(l, "an exact")?,
            width,
            "value",
            l,
        )?)),
        (MatchKind::Ternary, KeyValue::Literal(l)) => {
            // Digits the literal cares about must not set bits above the
            // field; `*` digits and leading zeros there are fine.
            let cared = l.value() & l.digit_mask();
            fits(cared, width, "value", l)?;
            Ok(KeyMatch::Ternary {
                value: cared,
                mask: l.digit_mask() & all,
            })
        }
        (MatchKind::Ternary, KeyValue::Masked { value, mask }) => {
            let m = fits(plain(mask, "a mask")?, width, "mask", mask)?;
            let v = fits(plain(value, "a ternary")?, width, "value", value)?;
            Ok(KeyMatch::Ternary {
                value: v & m,
                mask: m,
            })
        }
        (MatchKind::Ternary, KeyValue::Prefix { value, len }) => {
            let len = prefix_len(*len, width)?;
            let m = all & !width_mask(width - len);
            let v = fits(plain(value, "a ternary")?, width, "value", value)?;
            Ok(KeyMatch::Ternary {
                value: v & m,
                mask: m,
            })
        }
        (MatchKind::Ternary, KeyValue::Any) => Ok(KeyMatch::Ternary { value: 0, mask: 0 }),
        (MatchKind::Lpm, KeyValue::Literal(l)) => {
            let stars = l.trailing_wildcards();
            if stars != l.digits.iter().filter(|d| d.is_none()).count() {
                return Err(format!(
                    "lpm value {l} has `*` digits that are not trailing"
                ));
            }
            let wild = stars as u32 * l.bits_per_digit().unwrap_or(0);
            let len = width.saturating_sub(wild);
            let v = fits(l.value(), width, "value", l)?;
            Ok(KeyMatch::Lpm {
                value: v & !width_mask(width - len),
                prefix_len: len,
            })
        }
        (MatchKind::Lpm, KeyValue::Prefix { value, len }) => {
            let len = prefix_len(*len, width)?;
            let v = fits(plain(value, "an lpm")?, width, "value", value)?;
            Ok(KeyMatch::Lpm {
                value: v & !width_mask(width - len),
                prefix_len: len,
            })
        }
        (MatchKind::Lpm, KeyValue::Any) => Ok(KeyMatch::Lpm {
            value: 0,
            prefix_len: 0,
        }),
        (MatchKind::Range, KeyValue::Range { low, high }) => {
            let lo = fits(plain(low, "a range")?, width, "value", low)?;
            let hi = fits(plain(high, "a range")?, width, "value", high)?;
            if lo > hi {
                return Err(format!("range {low}->{high} is empty"));
            }
            Ok(KeyMatch::Range { low: lo, high: hi })
        }
        (MatchKind::Range, KeyValue::Literal(l)) => {
            let v = fits(plain(l, "a range")?, width, "value", l)?;
            Ok(KeyMatch::Range { low: v, high: v })
        }
        (MatchKind::Range, KeyValue::Any) => Ok(KeyMatch::Range { low: 0, high: all }),
        (MatchKind::Optional, KeyValue::Literal(l)) => Ok(KeyMatch::Optional(Some(fits(
            plain(l, "an optional")?,
            width,
            "value",
            l,
        )?))),
        (MatchKind::Optional, KeyValue::Any) => Ok(KeyMatch::Optional(None)),
        (kind, v) => Err(format!(
            "a {} key does not take {}",
            kind_name(kind),
            match v {
                KeyValue::Literal(_) => "a plain value",
                KeyValue::Masked { .. } => "`VALUE&&&MASK`",
                KeyValue::Prefix { .. } => "`VALUE/LEN`",
                KeyValue::Range { .. } => "`LOW->HIGH`",
                KeyValue::Any => "`*`",
            }
        )),
    }
}

fn prefix_len(len: u32, width: u32) -> Result<u32, String> {
    if len > width {
        Err(format!(
            "prefix length {len} is longer than the {width}-bit key"
        ))
    } else {
        Ok(len)
    }
}

fn kind_name(k: MatchKind) -> &'static str {
    match k {
        MatchKind::Exact => "exact",
        MatchKind::Lpm => "lpm",
        MatchKind::Ternary => "ternary",
        MatchKind::Range => "range",
        MatchKind::Optional => "optional",
    }
}

/// The match of a key the STF line leaves out: a wildcard where the kind
/// has one, 0 for exact keys (as p4c's runner fills them in).
fn default_match(kind: MatchKind, width: u32) -> KeyMatch {
    match kind {
        MatchKind::Exact => KeyMatch::Exact(0),
        MatchKind::Lpm => KeyMatch::Lpm {
            value: 0,
            prefix_len: 0,
        },
        MatchKind::Ternary => KeyMatch::Ternary { value: 0, mask: 0 },
        MatchKind::Range => KeyMatch::Range {
            low: 0,
            high: width_mask(width),
        },
        MatchKind::Optional => KeyMatch::Optional(None),
    }
}

/// The state of one run.
struct Runner<'a> {
    sw: &'a mut Switch,
    externs: ExternNames,
    now_us: u64,
    settle: bool,
    watched: BTreeSet<u32>,
    /// Per watched port: each packet and the `packet` line behind it.
    received: BTreeMap<u32, Vec<(usize, Vec<u8>)>>,
    expected: BTreeMap<u32, Vec<(usize, Pattern)>>,
    unchecked: BTreeSet<u32>,
    /// `mc_node_create` nodes, by handle (from 0 in creation order): the
    /// replication id, the ports, and the group the node joined.
    nodes: Vec<(u32, Vec<u32>, Option<u32>)>,
    /// Per group: its nodes, in the order they joined.
    group_nodes: BTreeMap<u32, Vec<usize>>,
    outcome: Outcome,
}

/// Runs parsed STF lines on a loaded switch. `json` is the program's JSON
/// (for the names of its extern arrays).
pub fn run_lines(sw: &mut Switch, json: &serde_json::Value, lines: &[Line]) -> Outcome {
    let watched = lines
        .iter()
        .filter_map(|l| match l.command {
            Command::Packet { port, .. } | Command::Expect { port, .. } => Some(port),
            _ => None,
        })
        .collect();
    let mut r = Runner {
        sw,
        externs: ExternNames::from_json(json),
        now_us: 0,
        settle: false,
        watched,
        received: BTreeMap::new(),
        expected: BTreeMap::new(),
        unchecked: BTreeSet::new(),
        nodes: vec![],
        group_nodes: BTreeMap::new(),
        outcome: Outcome::default(),
    };
    for l in lines {
        if let Err(reason) = r.command(l) {
            r.outcome.failures.push(Failure::Command {
                line: l.line,
                text: l.text.clone(),
                reason,
            });
            // Later commands depend on this one; what they would show is noise.
            r.outcome.stats = r.sw.stats().clone();
            return r.outcome;
        }
    }
    r.verdict();
    r.outcome.stats = r.sw.stats().clone();
    r.outcome
}

impl Runner<'_> {
    fn command(&mut self, l: &Line) -> Result<(), String> {
        let cp = !matches!(l.command, Command::Packet { .. } | Command::Expect { .. });
        match &l.command {
            Command::Add {
                table,
                priority,
                keys,
                action,
            } => self.add(table, *priority, keys, action)?,
            Command::SetDefault { table, action } => {
                let table = self.table(table)?;
                let (action, params) = self.action(&table, action)?;
                self.sw
                    .set_default_action(&table, &action, &params)
                    .map_err(|e| e.to_string())?;
            }
            Command::Packet { port, data } => {
                self.now_us += if self.settle {
                    SETTLE_US
                } else {
                    PACKET_GAP_US
                };
                self.settle = false;
                let watched = &self.watched;
                let received = &mut self.received;
                let line = l.line;
                self.sw.process(*port, data, self.now_us, &mut |p, bytes| {
                    if watched.contains(&p) {
                        received.entry(p).or_default().push((line, bytes.to_vec()));
                    }
                });
            }
            Command::Expect { port, pattern } => match pattern {
                Some(p) => self
                    .expected
                    .entry(*port)
                    .or_default()
                    .push((l.line, p.clone())),
                None => {
                    self.unchecked.insert(*port);
                }
            },
            Command::Wait => {}
            Command::McMgrpCreate { group } => {
                self.sw
                    .create_multicast_group(*group, vec![])
                    .map_err(|e| e.to_string())?;
                self.group_nodes.insert(*group, vec![]);
            }
            Command::McNodeCreate { rid, ports } => {
                self.nodes.push((*rid, ports.clone(), None));
            }
            Command::McNodeAssociate { group, node } => self.associate(*group, *node)?,
            Command::MirroringAdd { session, port } => self
                .sw
                .set_clone_session(
                    *session,
                    CloneSession {
                        port: Some(*port),
                        group: None,
                        truncate: None,
                    },
                )
                .map_err(|e| e.to_string())?,
            Command::MirroringAddMc { session, group } => self
                .sw
                .set_clone_session(
                    *session,
                    CloneSession {
                        port: None,
                        group: Some(*group),
                        truncate: None,
                    },
                )
                .map_err(|e| e.to_string())?,
            Command::MirroringGet { session } => {
                let s = self.sw.clone_session(*session).map_err(|e| e.to_string())?;
                let mut targets = vec![];
                if let Some(g) = s.group {
                    targets.push(format!("multicast group {g}"));
                }
                if let Some(p) = s.port {
                    targets.push(format!("port {p}"));
                }
                self.outcome.reads.push(format!(
                    "mirroring session {session}: {}",
                    targets.join(", ")
                ));
            }
            Command::CounterRead { name, index } => {
                let name = self.counter(name)?;
                let (p, b) = self.sw.counter(&name, *index).map_err(|e| e.to_string())?;
                self.outcome
                    .reads
                    .push(format!("{name}[{index}] = packets {p}, bytes {b}"));
            }
            Command::CounterWrite {
                name,
                index,
                packets,
                bytes,
            } => {
                let name = self.counter(name)?;
                self.sw
                    .set_counter(&name, *index, *packets, *bytes)
                    .map_err(|e| e.to_string())?;
            }
            Command::CounterReset { name } => {
                let name = self.counter(name)?;
                let mut i = 0;
                while self.sw.set_counter(&name, i, 0, 0).is_ok() {
                    i += 1;
                }
            }
            Command::CheckCounter {
                name,
                index,
                kind,
                op,
                value,
            } => {
                let cname = self.counter(name)?;
                let (p, b) = self.sw.counter(&cname, *index).map_err(|e| e.to_string())?;
                let actual = match kind {
                    CounterKind::Packets => p,
                    CounterKind::Bytes => b,
                };
                if !op.holds(actual, *value) {
                    self.outcome.failures.push(Failure::Counter {
                        line: l.line,
                        text: l.text.clone(),
                        actual,
                    });
                }
            }
            Command::RegisterRead { name, index } => {
                let name = self.register(name)?;
                match index {
                    Some(i) => {
                        let v = self.sw.register(&name, *i).map_err(|e| e.to_string())?;
                        self.outcome.reads.push(format!("{name}[{i}] = {v:#x}"));
                    }
                    None => {
                        let mut vals = vec![];
                        while let Ok(v) = self.sw.register(&name, vals.len() as u32) {
                            vals.push(format!("{v:#x}"));
                        }
                        self.outcome
                            .reads
                            .push(format!("{name} = [{}]", vals.join(", ")));
                    }
                }
            }
            Command::RegisterWrite { name, index, value } => {
                let name = self.register(name)?;
                self.sw
                    .set_register(&name, *index, *value)
                    .map_err(|e| e.to_string())?;
            }
            Command::RegisterReset { name } => {
                let name = self.register(name)?;
                let mut i = 0;
                while self.sw.set_register(&name, i, 0).is_ok() {
                    i += 1;
                }
            }
            Command::MeterSetRates { name, index, rates } => {
                let name = self.meter(name)?;
                let config = meter_config(rates)?;
                self.sw
                    .set_meter(&name, *index, config)
                    .map_err(|e| e.to_string())?;
            }
            Command::MeterArraySetRates { name, rates } => {
                let name = self.meter(name)?;
                let config = meter_config(rates)?;
                let mut i = 0;
                loop {
                    match self.sw.set_meter(&name, i, config) {
                        Ok(()) => i += 1,
                        Err(fairshare_switch::Error::BadIndex { .. }) if i > 0 => break,
                        Err(e) => return Err(e.to_string()),
                    }
                }
            }
            Command::MeterGetRates { name, index } => {
                let name = self.meter(name)?;
                let c = self.sw.meter(&name, *index).map_err(|e| e.to_string())?;
                self.outcome.reads.push(match c {
                    Some(c) => format!(
                        "{name}[{index}] = {}:{} {}:{}",
                        c.cir as f64 / 1e6,
                        c.cburst,
                        c.pir as f64 / 1e6,
                        c.pburst
                    ),
                    None => format!("{name}[{index}] = not configured"),
                });
            }
        }
        if cp {
            self.settle = true;
        }
        Ok(())
    }

    /// `mc_node_associate`: the node joins the group; the group's replicas
    /// are its nodes' in the order they joined, each node's ports in
    /// increasing order (as BMv2's replication engine walks them).
    fn associate(&mut self, group: u32, node: u32) -> Result<(), String> {
        let n = node as usize;
        let Some((_, _, joined)) = self.nodes.get(n) else {
            return Err(format!(
                "no multicast node with handle {node} ({} created)",
                self.nodes.len()
            ));
        };
        if let Some(g) = joined {
            return Err(format!("node {node} is in multicast group {g} already"));
        }
        let Some(members) = self.group_nodes.get_mut(&group) else {
            return Err(format!(
                "no multicast group {group} (mc_mgrp_create makes one)"
            ));
        };
        members.push(n);
        let mut replicas = vec![];
        for &m in members.iter() {
            let (rid, ports, _) = &self.nodes[m];
            let mut ports = ports.clone();
            ports.sort_unstable();
            ports.dedup();
            replicas.extend(ports.into_iter().map(|port| Replica { port, rid: *rid }));
        }
        self.nodes[n].2 = Some(group);
        self.sw
            .modify_multicast_group(group, replicas)
            .map_err(|e| e.to_string())
    }

    fn table(&self, stf: &str) -> Result<String, String> {
        resolve(self.sw.table_names(), stf, "table")
    }

    fn action(&self, table: &str, call: &ActionCall) -> Result<(String, Vec<u128>), String> {
        let actions = self.sw.table_actions(table).map_err(|e| e.to_string())?;
        let action = resolve(actions.iter().copied(), &call.name, "action")
            .map_err(|e| format!("{e} in table `{table}`"))?;
        let params = self
            .sw
            .action_params(&action)
            .ok_or_else(|| format!("no action `{action}`"))?;
        for (k, _) in &call.args {
            if !params.iter().any(|(n, _)| n == k) {
                return Err(format!(
                    "action `{action}` has no parameter `{k}` (it has: {})",
                    names_or_none(params.iter().map(|(n, _)| n.as_str()))
                ));
            }
        }
        let mut values = Vec::with_capacity(params.len());
        for (n, _) in &params {
            match call.args.iter().find(|(k, _)| k == n) {
                Some((_, v)) => values.push(*v),
                None => return Err(format!("action `{action}`: parameter `{n}` is missing")),
            }
        }
        Ok((action, values))
    }

    fn add(
        &mut self,
        table: &str,
        priority: Option<u32>,
        keys: &[(String, KeyValue)],
        call: &ActionCall,
    ) -> Result<(), String> {
        let table = self.table(table)?;
        let fields = self.sw.table_keys(&table).map_err(|e| e.to_string())?;
        let names: Vec<&str> = fields.iter().map(|k| k.name.as_str()).collect();
        let mut matches: Vec<Option<KeyMatch>> = vec![None; fields.len()];
        for (stf, v) in keys {
            let i = resolve_key(&names, stf)?;
            if matches[i].is_some() {
                return Err(format!("key `{}` is given twice", fields[i].name));
            }
            let k = &fields[i];
            matches[i] =
                Some(key_match(v, k.kind, k.width).map_err(|e| format!("key `{}`: {e}", k.name))?);
        }
        let keys = matches
            .into_iter()
            .zip(&fields)
            .map(|(m, k)| m.unwrap_or_else(|| default_match(k.kind, k.width)))
            .collect();
        let (action, params) = self.action(&table, call)?;
        self.sw
            .add_entry(
                &table,
                Entry {
                    keys,
                    action,
                    params,
                    priority: priority.unwrap_or(0),
                },
            )
            .map_err(|e| e.to_string())?;
        Ok(())
    }

    fn counter(&self, stf: &str) -> Result<String, String> {
        resolve(
            self.externs.counters.iter().map(String::as_str),
            stf,
            "counter array",
        )
    }

    fn register(&self, stf: &str) -> Result<String, String> {
        resolve(
            self.externs.registers.iter().map(String::as_str),
            stf,
            "register array",
        )
    }

    fn meter(&self, stf: &str) -> Result<String, String> {
        resolve(
            self.externs.meters.iter().map(String::as_str),
            stf,
            "meter array",
        )
    }

    /// Pairs received packets with expected ones, port by port, in order.
    fn verdict(&mut self) {
        let ports: BTreeSet<u32> = self
            .expected
            .keys()
            .chain(self.received.keys())
            .copied()
            .collect();
        for port in ports {
            if self.unchecked.contains(&port) {
                continue;
            }
            let expected = self.expected.remove(&port).unwrap_or_default();
            let received = self.received.remove(&port).unwrap_or_default();
            let n = expected.len().max(received.len());
            for i in 0..n {
                let f = match (expected.get(i), received.get(i)) {
                    (Some((line, pat)), Some((pline, got))) => {
                        compare(pat, got).map(|difference| Failure::Mismatch {
                            line: *line,
                            port,
                            expected: pat.clone(),
                            received: got.clone(),
                            packet_line: *pline,
                            difference,
                        })
                    }
                    (Some((line, pat)), None) => Some(Failure::Missing {
                        line: *line,
                        port,
                        expected: pat.clone(),
                    }),
                    (None, Some((pline, got))) => Some(Failure::Extra {
                        port,
                        packet_line: *pline,
                        received: got.clone(),
                    }),
                    (None, None) => None,
                };
                self.outcome.failures.extend(f);
            }
        }
        // Report in the order of the STF file.
        self.outcome.failures.sort_by_key(|f| match f {
            Failure::Load { .. } => 0,
            Failure::Command { line, .. }
            | Failure::Counter { line, .. }
            | Failure::Missing { line, .. }
            | Failure::Mismatch { line, .. } => *line,
            Failure::Extra { packet_line, .. } => *packet_line,
        });
    }
}

fn names_or_none<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let v: Vec<&str> = names.collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

/// simple_switch_CLI's rates (per microsecond; committed, then peak) in
/// the switch's units (per second). One pair sets both buckets alike.
pub fn meter_config(rates: &[Rate]) -> Result<MeterConfig, String> {
    let per_s = |r: &Rate| -> Result<u64, String> {
        let v = (r.per_us * 1e6).round();
        if v.is_finite() && v >= 0.0 && v <= u64::MAX as f64 {
            Ok(v as u64)
        } else {
            Err(format!("rate {} per microsecond is out of range", r.per_us))
        }
    };
    match rates {
        [c, p] => Ok(MeterConfig {
            cir: per_s(c)?,
            cburst: c.burst,
            pir: per_s(p)?,
            pburst: p.burst,
        }),
        [one] => Ok(MeterConfig {
            cir: per_s(one)?,
            cburst: one.burst,
            pir: per_s(one)?,
            pburst: one.burst,
        }),
        _ => Err(format!(
            "a meter takes one or two RATE:BURST pairs (committed, peak), {} given",
            rates.len()
        )),
    }
}
