//! The initial rules a compiled switch needs (`switches/<name>.rules.json`,
//! read by [`fairshare_switch::rules::Rules`]) as P4Runtime updates, by name
//! through the pipeline's P4Info: what a controller writes after pushing the
//! pipeline, to `fairshare switch` and to `simple_switch_grpc` alike.
//!
//! A key's match is read as the P4Info's match kind of the field says, in
//! the rules file's BMv2-CLI style: exact `value`, LPM `value/length`,
//! ternary `value&&&mask`, range `low->high`, optional `value`. A plain
//! value for an LPM, ternary or range field matches exactly that value. A
//! key left out matches anything (exact keys must be given).

use fairshare_p4rt::entity::{self, Match};
use fairshare_p4rt::proto::p4::config::v1 as cfg;
use fairshare_p4rt::proto::p4::v1 as p4;
use fairshare_p4rt::{EntityKind, P4InfoIndex};
use fairshare_switch::rules::{MeterRule, RuleValue, Rules, TableEntry};

use crate::Error;

/// Every table entry of `rules` as an INSERT, then every meter config as a
/// MODIFY, in file order.
///
/// # Errors
/// [`Error::Rules`] for the first rule that does not fit the P4Info.
pub fn updates(index: &P4InfoIndex, rules: &Rules) -> Result<Vec<p4::Update>, Error> {
    let mut out = Vec::with_capacity(rules.table_entries.len() + rules.meter_configs.len());
    for e in &rules.table_entries {
        out.push(entity::insert(table_entry(index, e)?));
    }
    for m in &rules.meter_configs {
        out.push(entity::modify(meter_entry(index, m)?));
    }
    Ok(out)
}

fn rule_error(what: String, e: impl std::fmt::Display) -> Error {
    Error::Rules {
        what,
        detail: e.to_string(),
    }
}

/// A rules-file table entry as a P4Runtime table entry.
///
/// # Errors
/// [`Error::Rules`] when a name is not in the P4Info or a value does not
/// fit its field.
pub fn table_entry(index: &P4InfoIndex, e: &TableEntry) -> Result<p4::TableEntry, Error> {
    let what = || format!("table entry of `{}`", e.table);
    let table_id = index
        .id(EntityKind::Table, &e.table)
        .ok_or_else(|| rule_error(what(), "the P4Info has no such table"))?;
    let mut matches = Vec::with_capacity(e.matches.len());
    for (field, value) in &e.matches {
        let f = index
            .match_field_by_name(table_id, field)
            .ok_or_else(|| rule_error(what(), format!("the table has no key `{field}`")))?;
        matches.push((
            field.as_str(),
            key_match(f, value).map_err(|d| rule_error(what(), d))?,
        ));
    }
    let params = e
        .params
        .iter()
        .map(|(name, v)| {
            Ok((
                name.as_str(),
                v.to_u128().map_err(|d| rule_error(what(), d))?,
            ))
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let priority = i32::try_from(e.priority.unwrap_or(0))
        .map_err(|_| rule_error(what(), "expected a priority below 2^31"))?;
    entity::table_entry(index, &e.table, &matches, &e.action, &params, priority)
        .map_err(|d| rule_error(what(), d))
}

/// A rules-file meter config as a P4Runtime meter entry.
///
/// # Errors
/// [`Error::Rules`] when the meter is not in the P4Info or a rate does not
/// fit an `int64`.
pub fn meter_entry(index: &P4InfoIndex, m: &MeterRule) -> Result<p4::MeterEntry, Error> {
    let what = || format!("meter config of `{}`[{}]", m.meter, m.index);
    let get = |v: u64| {
        i64::try_from(v).map_err(|_| rule_error(what(), format!("rate or burst {v} is above 2^63")))
    };
    let config = entity::meter_config(get(m.cir)?, get(m.cburst)?, get(m.pir)?, get(m.pburst)?);
    entity::meter_entry(index, &m.meter, Some(i64::from(m.index)), Some(config))
        .map_err(|d| rule_error(what(), d))
}

/// One key's match from its rules-file text, by the field's match kind.
fn key_match(f: &cfg::MatchField, v: &RuleValue) -> Result<Match, String> {
    use cfg::match_field::MatchType as Mt;
    let kind = match f.r#match {
        Some(cfg::match_field::Match::MatchType(t)) => Mt::try_from(t).unwrap_or(Mt::Unspecified),
        _ => Mt::Unspecified,
    };
    let text = match v {
        RuleValue::Int(_) => None,
        RuleValue::Text(s) => Some(s.as_str()),
    };
    let part = |s: &str| {
        RuleValue::Text(s.trim().to_owned())
            .to_u128()
            .map_err(|e| e.to_string())
    };
    let whole = || v.to_u128().map_err(|e| e.to_string());
    Ok(match kind {
        Mt::Exact => Match::Exact(whole()?),
        Mt::Optional => Match::Optional(whole()?),
        Mt::Lpm => match text.and_then(|t| t.split_once('/')) {
            Some((value, len)) => Match::Lpm {
                value: part(value)?,
                prefix_len: len.trim().parse().map_err(|_| {
                    format!(
                        "key `{}`: expected `value/length`, found `{}`",
                        f.name,
                        text.unwrap_or_default()
                    )
                })?,
            },
            None => Match::Exact(whole()?),
        },
        Mt::Ternary => match text.and_then(|t| t.split_once("&&&")) {
            Some((value, mask)) => Match::Ternary {
                value: part(value)?,
                mask: part(mask)?,
            },
            None => Match::Exact(whole()?),
        },
        Mt::Range => match text.and_then(|t| t.split_once("->")) {
            Some((low, high)) => Match::Range {
                low: part(low)?,
                high: part(high)?,
            },
            None => Match::Exact(whole()?),
        },
        Mt::Unspecified => {
            return Err(format!(
                "key `{}` has a match kind other than exact, lpm, ternary, range or optional",
                f.name
            ))
        }
    })
}
