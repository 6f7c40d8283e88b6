//! Reading the `rules.json` files `fairshare compile` writes (table entries
//! and meter configurations by P4Info-style names) into a switch.
//!
//! Match fields are found by the table key's `name` in the JSON (as P4Info
//! names them, e.g. `hdr.ipv4.dst_addr`), and the match kind is the key's:
//! a value is written as for BMv2's CLI (exact `value`, lpm `value/len`,
//! ternary `value&&&mask`, range `low->high`, optional `value`). A key the
//! rule leaves out matches anything (ternary mask 0, lpm prefix 0, optional
//! unset), as in P4Runtime, except exact keys, which must be given. Values
//! are numbers, dotted IPv4 addresses, colon-separated MAC addresses, or
//! `0x` strings.

use crate::{Entry, Error, KeyMatch, MatchKind, MeterConfig, Switch};
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum RuleValue {
    Int(u64),
    Text(String),
}

impl RuleValue {
    pub fn to_u128(&self) -> Result<u128, Error> {
        match self {
            RuleValue::Int(v) => Ok(u128::from(*v)),
            RuleValue::Text(s) => parse_text(s).ok_or_else(|| {
                Error::Rules(format!(
                    "expected a number, an IPv4 or a MAC address, found `{s}`"
                ))
            }),
        }
    }
}

fn parse_text(s: &str) -> Option<u128> {
    if let Ok(a) = s.parse::<std::net::Ipv4Addr>() {
        return Some(u128::from(u32::from(a)));
    }
    if let Ok(a) = s.parse::<std::net::Ipv6Addr>() {
        return Some(u128::from(a));
    }
    if s.contains(':') {
        let parts: Vec<&str> = s.split(':').collect();
        if parts.len() != 6 {
            return None;
        }
        return parts.iter().try_fold(0u128, |acc, p| {
            u8::from_str_radix(p, 16)
                .ok()
                .map(|b| (acc << 8) | u128::from(b))
        });
    }
    if let Some(h) = s.strip_prefix("0x") {
        return u128::from_str_radix(h, 16).ok();
    }
    s.parse().ok()
}

#[derive(Debug, Clone, Deserialize)]
pub struct TableEntry {
    pub table: String,
    /// Key name to match, written as for BMv2's CLI: exact `value`, LPM
    /// `value/length`, ternary `value&&&mask`, range `low->high`.
    #[serde(rename = "match", default)]
    pub matches: BTreeMap<String, RuleValue>,
    pub action: String,
    /// Parameter name to value.
    #[serde(default)]
    pub params: BTreeMap<String, RuleValue>,
    #[serde(default)]
    pub priority: Option<u32>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct MeterRule {
    pub meter: String,
    pub index: u32,
    pub cir: u64,
    pub cburst: u64,
    pub pir: u64,
    pub pburst: u64,
}

/// The parts of a rules file the switch applies.
#[derive(Debug, Clone, Deserialize)]
pub struct Rules {
    #[serde(default)]
    pub table_entries: Vec<TableEntry>,
    #[serde(default)]
    pub meter_configs: Vec<MeterRule>,
}

impl Rules {
    pub fn parse(text: &str) -> Result<Rules, Error> {
        serde_json::from_str(text)
            .map_err(|e| Error::Rules(format!("the rules file does not read: {e}")))
    }
}

/// Converts a rule's entry into the switch's form.
pub fn entry(sw: &Switch, e: &TableEntry) -> Result<Entry, Error> {
    let keys = sw.table_keys(&e.table)?;
    let mut out: Vec<Option<KeyMatch>> = vec![None; keys.len()];
    for (field, v) in &e.matches {
        let Some(i) = keys.iter().position(|k| &k.name == field) else {
            return Err(Error::Rules(format!(
                "table `{}` has no key `{field}`",
                e.table
            )));
        };
        out[i] = Some(key_match(keys[i].kind, v)?);
    }
    let keys = out
        .into_iter()
        .zip(&keys)
        .map(|(m, k)| match (m, k.kind) {
            (Some(m), _) => Ok(m),
            (None, MatchKind::Ternary) => Ok(KeyMatch::Ternary { value: 0, mask: 0 }),
            (None, MatchKind::Lpm) => Ok(KeyMatch::Lpm {
                value: 0,
                prefix_len: 0,
            }),
            (None, MatchKind::Optional) => Ok(KeyMatch::Optional(None)),
            (None, MatchKind::Range) => Ok(KeyMatch::Range {
                low: 0,
                high: crate::bits::mask(k.width),
            }),
            (None, MatchKind::Exact) => Err(Error::Rules(format!(
                "table `{}`: exact key `{}` is missing",
                e.table, k.name
            ))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let Some(params_def) = sw.action_params(&e.action) else {
        return Err(Error::UnknownAction {
            table: e.table.clone(),
            action: e.action.clone(),
        });
    };
    let params = params_def
        .iter()
        .map(|(name, _)| match e.params.get(name) {
            Some(v) => v.to_u128(),
            None => Err(Error::Rules(format!(
                "action `{}`: parameter `{name}` is missing",
                e.action
            ))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Entry {
        keys,
        action: e.action.clone(),
        params,
        priority: e.priority.unwrap_or(0),
    })
}

/// One key's match from its BMv2-CLI-style text.
fn key_match(kind: MatchKind, v: &RuleValue) -> Result<KeyMatch, Error> {
    let text = match v {
        RuleValue::Int(_) => None,
        RuleValue::Text(s) => Some(s.as_str()),
    };
    let part = |s: &str| RuleValue::Text(s.trim().to_string()).to_u128();
    let expected = |form: &str| {
        Error::Rules(format!(
            "expected a {kind:?} match written `{form}`, found `{}`",
            text.unwrap_or_default()
        ))
    };
    Ok(match kind {
        MatchKind::Exact => KeyMatch::Exact(v.to_u128()?),
        MatchKind::Optional => KeyMatch::Optional(Some(v.to_u128()?)),
        MatchKind::Lpm => match text.and_then(|t| t.split_once('/')) {
            Some((value, len)) => KeyMatch::Lpm {
                value: part(value)?,
                prefix_len: len.trim().parse().map_err(|_| expected("value/len"))?,
            },
            None => KeyMatch::Exact(v.to_u128()?),
        },
        MatchKind::Ternary => match text.and_then(|t| t.split_once("&&&")) {
            Some((value, mask)) => KeyMatch::Ternary {
                value: part(value)?,
                mask: part(mask)?,
            },
            None => KeyMatch::Exact(v.to_u128()?),
        },
        MatchKind::Range => match text.and_then(|t| t.split_once("->")) {
            Some((low, high)) => KeyMatch::Range {
                low: part(low)?,
                high: part(high)?,
            },
            None => KeyMatch::Exact(v.to_u128()?),
        },
    })
}

/// Applies every entry and meter configuration; stops at the first that
/// does not fit the program.
pub fn apply(sw: &mut Switch, rules: &Rules) -> Result<(), Error> {
    for e in &rules.table_entries {
        let en = entry(sw, e)?;
        sw.add_entry(&e.table, en)?;
    }
    for m in &rules.meter_configs {
        sw.set_meter(
            &m.meter,
            m.index,
            MeterConfig {
                cir: m.cir,
                cburst: m.cburst,
                pir: m.pir,
                pburst: m.pburst,
            },
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_read_with_cli_style_values() {
        let r = Rules::parse(
            r#"{"table_entries":[{"table":"t","match":{"a":"10.0.0.0/8","b":"1&&&3","c":7},"action":"x","params":{"p":"02:00:00:00:00:01"},"priority":5}]}"#,
        )
        .expect("reads");
        let e = &r.table_entries[0];
        assert_eq!(
            e.matches.keys().map(String::as_str).collect::<Vec<_>>(),
            ["a", "b", "c"]
        );
        assert_eq!(e.params["p"].to_u128().expect("mac"), 0x0200_0000_0001);
        assert_eq!(e.priority, Some(5));
    }

    #[test]
    fn a_malformed_file_is_an_error_not_a_panic() {
        for bad in [
            r#"{"table_entries":[{"table":"t","match":[1],"action":"x"}]}"#,
            "{",
            r#"{"table_entries":3}"#,
        ] {
            assert!(Rules::parse(bad).is_err(), "{bad}");
        }
        assert!(RuleValue::Text("10.0.0.300".into()).to_u128().is_err());
    }
}
