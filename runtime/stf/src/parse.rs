//! The STF text: one command a line, parsed into [`Command`]s.
//!
//! Parsing knows nothing of the program: names stay as written and key
//! values stay literals (their meaning depends on the key's match kind and
//! width, which only the runner knows). Every malformed line gives a
//! [`ParseError`] with its line number and what was expected; nothing here
//! panics on any input.

use std::fmt;

/// A number as written in the STF, digit by digit, so that `*` wildcard
/// digits and the digit count (which gives ternary masks and lpm prefix
/// lengths) are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Literal {
    /// 2, 8, 10 or 16.
    pub radix: u32,
    /// Most significant first; `None` is a `*` (never in decimal).
    pub digits: Vec<Option<u8>>,
}

impl Literal {
    /// Bits one digit covers (hex 4, octal 3, binary 1); `None` for decimal.
    pub fn bits_per_digit(&self) -> Option<u32> {
        match self.radix {
            16 => Some(4),
            8 => Some(3),
            2 => Some(1),
            _ => None,
        }
    }

    pub fn has_wildcards(&self) -> bool {
        self.digits.iter().any(Option::is_none)
    }

    /// The value with every `*` digit read as 0. The parser only builds
    /// literals that fit in 128 bits.
    pub fn value(&self) -> u128 {
        self.digits.iter().fold(0u128, |acc, d| {
            acc.wrapping_mul(u128::from(self.radix))
                .wrapping_add(u128::from(d.unwrap_or(0)))
        })
    }

    /// The bits the literal's digits care about: all ones under every
    /// non-`*` digit, zero under `*` digits and above the literal's first
    /// digit. Decimal literals care about every bit.
    pub fn digit_mask(&self) -> u128 {
        let Some(bpd) = self.bits_per_digit() else {
            return u128::MAX;
        };
        let ones = (1u128 << bpd) - 1;
        self.digits.iter().fold(0u128, |acc, d| {
            (acc << bpd) | if d.is_some() { ones } else { 0 }
        })
    }

    /// How many `*` digits end the literal.
    pub fn trailing_wildcards(&self) -> usize {
        self.digits.iter().rev().take_while(|d| d.is_none()).count()
    }
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.radix {
            16 => "0x",
            8 => "0o",
            2 => "0b",
            _ => "",
        })?;
        for d in &self.digits {
            match d {
                Some(d) => write!(f, "{}", char::from_digit(u32::from(*d), 16).unwrap_or('?'))?,
                None => f.write_str("*")?,
            }
        }
        Ok(())
    }
}

/// The value of one key in an `add` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyValue {
    /// A plain literal, read by the key's match kind: exact value, ternary
    /// with the mask from its digits, lpm with the prefix from its trailing
    /// `*` digits, a one-value range, an optional key's value.
    Literal(Literal),
    /// `VALUE&&&MASK` (ternary).
    Masked { value: Literal, mask: Literal },
    /// `VALUE/LEN` (lpm; ternary with the top LEN bits cared about).
    Prefix { value: Literal, len: u32 },
    /// `LOW->HIGH` (range), both ends included.
    Range { low: Literal, high: Literal },
    /// `*` alone: matches anything (ternary, lpm, range, optional keys).
    Any,
}

/// `ACTION(P:V, ...)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionCall {
    pub name: String,
    pub args: Vec<(String, u128)>,
}

/// A packet pattern of an `expect` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    /// One entry per hex digit of the packet; `None` is a `*`.
    pub nibbles: Vec<Option<u8>>,
    /// A trailing `$`: the packet must not be longer than the pattern.
    pub exact_length: bool,
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, n) in self.nibbles.iter().enumerate() {
            if i > 0 && i % 2 == 0 {
                f.write_str(" ")?;
            }
            match n {
                Some(n) => write!(f, "{}", char::from_digit(u32::from(*n), 16).unwrap_or('?'))?,
                None => f.write_str("*")?,
            }
        }
        if self.exact_length {
            f.write_str(" $")?;
        }
        Ok(())
    }
}

/// Which half of a counter cell `check_counter` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CounterKind {
    Packets,
    Bytes,
}

/// The comparison of a `check_counter` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
}

impl CmpOp {
    pub fn holds(self, a: u64, b: u64) -> bool {
        match self {
            CmpOp::Eq => a == b,
            CmpOp::Ne => a != b,
            CmpOp::Lt => a < b,
            CmpOp::Gt => a > b,
            CmpOp::Le => a <= b,
            CmpOp::Ge => a >= b,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Gt => ">",
            CmpOp::Le => "<=",
            CmpOp::Ge => ">=",
        }
    }
}

/// A meter rate as simple_switch_CLI takes it: per microsecond, and a burst.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub per_us: f64,
    pub burst: u64,
}

/// One STF command.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Add {
        table: String,
        /// The STF priority; a larger number wins.
        priority: Option<u32>,
        keys: Vec<(String, KeyValue)>,
        action: ActionCall,
    },
    SetDefault {
        table: String,
        action: ActionCall,
    },
    Packet {
        port: u32,
        data: Vec<u8>,
    },
    /// `pattern` is `None` for a bare `expect PORT`.
    Expect {
        port: u32,
        pattern: Option<Pattern>,
    },
    Wait,
    McMgrpCreate {
        group: u32,
    },
    McNodeCreate {
        rid: u32,
        ports: Vec<u32>,
    },
    McNodeAssociate {
        group: u32,
        node: u32,
    },
    MirroringAdd {
        session: u32,
        port: u32,
    },
    MirroringAddMc {
        session: u32,
        group: u32,
    },
    MirroringGet {
        session: u32,
    },
    CounterRead {
        name: String,
        index: u32,
    },
    CounterWrite {
        name: String,
        index: u32,
        packets: u64,
        bytes: u64,
    },
    CounterReset {
        name: String,
    },
    /// `kind` defaults to packets, `op` to `==`.
    CheckCounter {
        name: String,
        index: u32,
        kind: CounterKind,
        op: CmpOp,
        value: u64,
    },
    /// `index` is `None` to read the whole array.
    RegisterRead {
        name: String,
        index: Option<u32>,
    },
    RegisterWrite {
        name: String,
        index: u32,
        value: u128,
    },
    RegisterReset {
        name: String,
    },
    MeterSetRates {
        name: String,
        index: u32,
        rates: Vec<Rate>,
    },
    MeterArraySetRates {
        name: String,
        rates: Vec<Rate>,
    },
    MeterGetRates {
        name: String,
        index: u32,
    },
}

/// A command and the line it is on (counted from 1).
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub line: usize,
    pub text: String,
    pub command: Command,
}

/// A line that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: expected {expected}, found {found}")]
pub struct ParseError {
    pub line: usize,
    pub expected: String,
    pub found: String,
}

type Res<T> = Result<T, (String, String)>;

fn err<T>(expected: impl Into<String>, found: impl fmt::Display) -> Res<T> {
    Err((expected.into(), quote(found)))
}

fn quote(found: impl fmt::Display) -> String {
    let s = found.to_string();
    if s.is_empty() {
        "the end of the line".into()
    } else {
        format!("`{s}`")
    }
}

/// Parses a whole STF text.
pub fn parse(text: &str) -> Result<Vec<Line>, ParseError> {
    let mut out = vec![];
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let content = raw.split('#').next().unwrap_or("").trim();
        if content.is_empty() {
            continue;
        }
        let command = parse_command(content).map_err(|(expected, found)| ParseError {
            line,
            expected,
            found,
        })?;
        out.push(Line {
            line,
            text: content.to_string(),
            command,
        });
    }
    Ok(out)
}

/// Splits off the first whitespace-separated word.
fn word(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    match s.find(char::is_whitespace) {
        Some(i) => (&s[..i], s[i..].trim_start()),
        None => (s, ""),
    }
}

fn parse_command(s: &str) -> Res<Command> {
    let (cmd, rest) = word(s);
    let words: Vec<&str> = rest.split_whitespace().collect();
    match cmd {
        "add" => parse_add(rest),
        "setdefault" => {
            let (table, rest) = word(rest);
            let table = name(table, "a table name")?;
            let (action, tail) = parse_action(rest)?;
            end(tail)?;
            Ok(Command::SetDefault { table, action })
        }
        "packet" => {
            let (port, rest) = word(rest);
            let port = number_u32(port, "a port number")?;
            let data = hex_bytes(rest)?;
            Ok(Command::Packet { port, data })
        }
        "expect" => {
            let (port, rest) = word(rest);
            let port = number_u32(port, "a port number")?;
            let pattern = if rest.is_empty() {
                None
            } else {
                Some(pattern(rest)?)
            };
            Ok(Command::Expect { port, pattern })
        }
        "wait" => {
            args(&words, 0, "nothing after `wait`")?;
            Ok(Command::Wait)
        }
        "mc_mgrp_create" => {
            args(&words, 1, "a multicast group number")?;
            Ok(Command::McMgrpCreate {
                group: number_u32(words[0], "a multicast group number")?,
            })
        }
        "mc_node_create" => {
            if words.len() < 2 {
                return err("a replication id and at least one port", rest);
            }
            let ports = words[1..]
                .iter()
                .map(|p| number_u32(p, "a port number"))
                .collect::<Res<Vec<u32>>>()?;
            Ok(Command::McNodeCreate {
                rid: number_u32(words[0], "a replication id")?,
                ports,
            })
        }
        "mc_node_associate" => {
            args(&words, 2, "a multicast group and a node handle")?;
            Ok(Command::McNodeAssociate {
                group: number_u32(words[0], "a multicast group number")?,
                node: number_u32(words[1], "a node handle")?,
            })
        }
        "mirroring_add" => {
            args(&words, 2, "a session id and a port")?;
            Ok(Command::MirroringAdd {
                session: number_u32(words[0], "a session id")?,
                port: number_u32(words[1], "a port number")?,
            })
        }
        "mirroring_add_mc" => {
            args(&words, 2, "a session id and a multicast group")?;
            Ok(Command::MirroringAddMc {
                session: number_u32(words[0], "a session id")?,
                group: number_u32(words[1], "a multicast group number")?,
            })
        }
        "mirroring_get" => {
            args(&words, 1, "a session id")?;
            Ok(Command::MirroringGet {
                session: number_u32(words[0], "a session id")?,
            })
        }
        "counter_read" => {
            args(&words, 2, "a counter name and an index")?;
            Ok(Command::CounterRead {
                name: name(words[0], "a counter name")?,
                index: number_u32(words[1], "a counter index")?,
            })
        }
        "counter_write" => {
            args(&words, 4, "a counter name, an index, a packet count and a byte count")?;
            Ok(Command::CounterWrite {
                name: name(words[0], "a counter name")?,
                index: number_u32(words[1], "a counter index")?,
                packets: number_u64(words[2], "a packet count")?,
                bytes: number_u64(words[3], "a byte count")?,
            })
        }
        "counter_reset" => {
            args(&words, 1, "a counter name")?;
            Ok(Command::CounterReset {
                name: name(words[0], "a counter name")?,
            })
        }
        "check_counter" => parse_check_counter(rest),
        "register_read" => {
            if words.is_empty() || words.len() > 2 {
                return err("a register name and an optional index", rest);
            }
            Ok(Command::RegisterRead {
                name: name(words[0], "a register name")?,
                index: match words.get(1) {
                    Some(w) => Some(number_u32(w, "a register index")?),
                    None => None,
                },
            })
        }
        "register_write" => {
            args(&words, 3, "a register name, an index and a value")?;
            Ok(Command::RegisterWrite {
                name: name(words[0], "a register name")?,
                index: number_u32(words[1], "a register index")?,
                value: number_u128(words[2], "a register value")?,
            })
        }
        "register_reset" => {
            args(&words, 1, "a register name")?;
            Ok(Command::RegisterReset {
                name: name(words[0], "a register name")?,
            })
        }
        "meter_set_rates" => {
            if words.len() < 3 {
                return err("a meter name, an index and RATE:BURST pairs", rest);
            }
            Ok(Command::MeterSetRates {
                name: name(words[0], "a meter name")?,
                index: number_u32(words[1], "a meter index")?,
                rates: rates(&words[2..])?,
            })
        }
        "meter_array_set_rates" => {
            if words.len() < 2 {
                return err("a meter name and RATE:BURST pairs", rest);
            }
            Ok(Command::MeterArraySetRates {
                name: name(words[0], "a meter name")?,
                rates: rates(&words[1..])?,
            })
        }
        "meter_get_rates" => {
            args(&words, 2, "a meter name and an index")?;
            Ok(Command::MeterGetRates {
                name: name(words[0], "a meter name")?,
                index: number_u32(words[1], "a meter index")?,
            })
        }
        other => err("an STF command (add, setdefault, packet, expect, wait, mc_*, mirroring_*, counter_*, check_counter, register_*, meter_*)", other),
    }
}

fn args(words: &[&str], n: usize, expected: &str) -> Res<()> {
    if words.len() == n {
        Ok(())
    } else {
        err(expected, words.join(" "))
    }
}

fn end(rest: &str) -> Res<()> {
    if rest.trim().is_empty() {
        Ok(())
    } else {
        err("the end of the line", rest.trim())
    }
}

fn name(s: &str, expected: &str) -> Res<String> {
    let ok = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '$' | '[' | ']'));
    if ok {
        Ok(s.to_string())
    } else {
        err(expected, s)
    }
}

fn parse_add(rest: &str) -> Res<Command> {
    let (table, mut rest) = word(rest);
    let table = name(table, "a table name")?;
    let mut priority = None;
    let (first, after) = word(rest);
    if !first.is_empty() && first.bytes().all(|b| b.is_ascii_digit()) {
        priority = Some(number_u32(first, "a priority")?);
        rest = after;
    }
    let mut keys = vec![];
    loop {
        let (w, after) = word(rest);
        if w.is_empty() {
            return err(
                "key values `NAME:VALUE` and then an action `ACTION(...)`",
                "",
            );
        }
        if w.contains('(') {
            break;
        }
        let Some((k, v)) = w.split_once(':') else {
            return err("a key value `NAME:VALUE` or an action `ACTION(...)`", w);
        };
        keys.push((name(k, "a key name")?, key_value(v)?));
        rest = after;
    }
    let (action, tail) = parse_action(rest)?;
    // p4c's runner lets `= HANDLE` follow an entry and ignores it.
    let tail = tail.trim();
    if !(tail.is_empty() || tail.starts_with('=')) {
        return err("the end of the line after the action", tail);
    }
    Ok(Command::Add {
        table,
        priority,
        keys,
        action,
    })
}

/// `NAME(P:V, ...)`, returning what follows the closing parenthesis.
fn parse_action(s: &str) -> Res<(ActionCall, &str)> {
    let s = s.trim_start();
    let Some(open) = s.find('(') else {
        return err("an action `ACTION(P:V, ...)`", s);
    };
    let action = name(s[..open].trim(), "an action name before `(`")?;
    let Some(close) = s[open..].find(')').map(|c| open + c) else {
        return err("`)` closing the action's parameters", &s[open..]);
    };
    let inner = s[open + 1..close].trim();
    let mut args = vec![];
    if !inner.is_empty() {
        for part in inner.split(',') {
            let Some((k, v)) = part.split_once(':') else {
                return err("an action parameter `NAME:VALUE`", part.trim());
            };
            args.push((
                name(k.trim(), "a parameter name")?,
                number_u128(v.trim(), "a parameter value")?,
            ));
        }
    }
    Ok((ActionCall { name: action, args }, &s[close + 1..]))
}

fn parse_check_counter(rest: &str) -> Res<Command> {
    let Some(open) = rest.find('(') else {
        return err("`NAME(INDEX)`", rest);
    };
    let Some(close) = rest.find(')') else {
        return err("`)` after the counter index", rest);
    };
    if close < open {
        return err("`NAME(INDEX)`", rest);
    }
    let cname = name(rest[..open].trim(), "a counter name")?;
    let index = number_u32(rest[open + 1..close].trim(), "a counter index")?;
    let mut words: Vec<&str> = rest[close + 1..].split_whitespace().collect();
    let mut kind = CounterKind::Packets;
    if let Some(&w) = words.first() {
        if w == "packets" || w == "bytes" {
            kind = if w == "bytes" {
                CounterKind::Bytes
            } else {
                CounterKind::Packets
            };
            words.remove(0);
        }
    }
    let mut op = CmpOp::Eq;
    if words.len() == 2 {
        op = match words[0] {
            "==" => CmpOp::Eq,
            "!=" => CmpOp::Ne,
            "<" => CmpOp::Lt,
            ">" => CmpOp::Gt,
            "<=" => CmpOp::Le,
            ">=" => CmpOp::Ge,
            other => return err("a comparison (==, !=, <, >, <=, >=)", other),
        };
        words.remove(0);
    }
    if words.len() != 1 {
        return err(
            "`[packets|bytes] [==|!=|<|>|<=|>=] VALUE` after the counter",
            words.join(" "),
        );
    }
    Ok(Command::CheckCounter {
        name: cname,
        index,
        kind,
        op,
        value: number_u64(words[0], "a counter value")?,
    })
}

fn rates(words: &[&str]) -> Res<Vec<Rate>> {
    words
        .iter()
        .map(|w| {
            let Some((r, b)) = w.split_once(':') else {
                return err("a meter rate `RATE:BURST`", w);
            };
            let per_us: f64 = match r.parse() {
                Ok(v) if f64::is_finite(v) && v >= 0.0 => v,
                _ => return err("a rate per microsecond (a non-negative number)", r),
            };
            Ok(Rate {
                per_us,
                burst: number_u64(b, "a burst size")?,
            })
        })
        .collect()
}

fn hex_bytes(s: &str) -> Res<Vec<u8>> {
    let digits: Vec<char> = s.chars().filter(|c| !c.is_whitespace()).collect();
    let mut nibbles = Vec::with_capacity(digits.len());
    for c in &digits {
        match c.to_digit(16) {
            Some(d) => nibbles.push(d as u8),
            None => return err("hex digits of the packet", c),
        }
    }
    if nibbles.len() % 2 != 0 {
        return Err((
            "an even number of hex digits (whole bytes)".into(),
            format!("{} digits", nibbles.len()),
        ));
    }
    Ok(nibbles.chunks(2).map(|p| p[0] << 4 | p[1]).collect())
}

fn pattern(s: &str) -> Res<Pattern> {
    let mut digits: Vec<char> = s.chars().filter(|c| !c.is_whitespace()).collect();
    let exact_length = digits.last() == Some(&'$');
    if exact_length {
        digits.pop();
    }
    let mut nibbles = Vec::with_capacity(digits.len());
    for c in digits {
        match c {
            '*' => nibbles.push(None),
            c => match c.to_digit(16) {
                Some(d) => nibbles.push(Some(d as u8)),
                None => return err("hex digits, `*` or a final `$` in the expected packet", c),
            },
        }
    }
    Ok(Pattern {
        nibbles,
        exact_length,
    })
}

/// A key value: `*`, `V&&&M`, `V/LEN`, `LOW->HIGH` or a literal.
pub(crate) fn key_value(s: &str) -> Res<KeyValue> {
    if s == "*" {
        return Ok(KeyValue::Any);
    }
    if let Some((v, m)) = s.split_once("&&&") {
        return Ok(KeyValue::Masked {
            value: literal(v)?,
            mask: literal(m)?,
        });
    }
    if let Some((lo, hi)) = s.split_once("->") {
        return Ok(KeyValue::Range {
            low: literal(lo)?,
            high: literal(hi)?,
        });
    }
    if let Some((v, len)) = s.split_once('/') {
        return Ok(KeyValue::Prefix {
            value: literal(v)?,
            len: number_u32(len, "a prefix length")?,
        });
    }
    Ok(KeyValue::Literal(literal(s)?))
}

/// A number: decimal, `0x`, `0b` or `0o`; `*` digits allowed except in
/// decimal. Refuses values over 128 bits.
pub(crate) fn literal(s: &str) -> Res<Literal> {
    let lower = s.to_ascii_lowercase();
    let (radix, body) = if let Some(b) = lower.strip_prefix("0x") {
        (16, b)
    } else if let Some(b) = lower.strip_prefix("0b") {
        (2, b)
    } else if let Some(b) = lower.strip_prefix("0o") {
        (8, b)
    } else {
        (10, lower.as_str())
    };
    let expected = match radix {
        16 => "hex digits or `*`",
        2 => "binary digits or `*`",
        8 => "octal digits or `*`",
        _ => "a number (decimal, 0x hex, 0b binary or 0o octal)",
    };
    if body.is_empty() {
        return err(expected, s);
    }
    let mut digits = Vec::with_capacity(body.len());
    for c in body.chars() {
        if c == '_' {
            continue;
        }
        if c == '*' && radix != 10 {
            digits.push(None);
            continue;
        }
        match c.to_digit(radix) {
            Some(d) => digits.push(Some(d as u8)),
            None => return err(expected, s),
        }
    }
    if digits.is_empty() {
        return err(expected, s);
    }
    // The value must fit in 128 bits, and so must the mask: a `*` digit
    // counts as the largest digit. Leading zeros are fine.
    let mut acc: u128 = 0;
    let mut seen = false;
    for d in &digits {
        seen |= d.is_some_and(|d| d != 0) || d.is_none();
        if !seen {
            continue;
        }
        acc = match acc
            .checked_mul(u128::from(radix))
            .and_then(|a| a.checked_add(u128::from(d.map_or(radix - 1, u32::from))))
        {
            Some(a) => a,
            None => return err("a value of at most 128 bits", s),
        };
    }
    Ok(Literal { radix, digits })
}

fn number_u128(s: &str, expected: &str) -> Res<u128> {
    match literal(s) {
        Ok(l) if !l.has_wildcards() => Ok(l.value()),
        _ => err(expected, s),
    }
}

fn number_u64(s: &str, expected: &str) -> Res<u64> {
    match number_u128(s, expected).map(u64::try_from) {
        Ok(Ok(v)) => Ok(v),
        _ => err(expected, s),
    }
}

fn number_u32(s: &str, expected: &str) -> Res<u32> {
    match number_u128(s, expected).map(u32::try_from) {
        Ok(Ok(v)) => Ok(v),
        _ => err(expected, s),
    }
}
