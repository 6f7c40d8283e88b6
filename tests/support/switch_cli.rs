//! A fairshare switch's tables as simple_switch_CLI commands, so that real
//! BMv2 gets the same entries.

use fairshare_switch::{KeyMatch, MatchKind, Switch};

fn hexv(v: u128) -> String {
    format!("0x{v:x}")
}

/// The switch's tables as CLI commands: every entry, and the default
/// action where the STF changed it.
pub fn commands(sw: &Switch, fresh: &Switch) -> Result<String, String> {
    let mut s = String::new();
    for t in sw.table_names() {
        let keys = sw.table_keys(t).map_err(|e| e.to_string())?;
        if keys.iter().any(|k| k.kind == MatchKind::Optional) {
            return Err(format!("table `{t}` has an optional key"));
        }
        let prioritised = keys
            .iter()
            .any(|k| matches!(k.kind, MatchKind::Ternary | MatchKind::Range));
        // Const entries come with the JSON; only what the STF added is written.
        let built_in: Vec<_> = fresh
            .entries(t)
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|(_, e)| e)
            .collect();
        for (_, e) in sw.entries(t).map_err(|e| e.to_string())? {
            if built_in.contains(&e) {
                continue;
            }
            let mut line = format!("table_add {t} {}", e.action);
            for k in &e.keys {
                line += &match k {
                    KeyMatch::Exact(v) => format!(" {}", hexv(*v)),
                    KeyMatch::Lpm { value, prefix_len } => {
                        format!(" {}/{prefix_len}", hexv(*value))
                    }
                    KeyMatch::Ternary { value, mask } => {
                        format!(" {}&&&{}", hexv(*value), hexv(*mask))
                    }
                    KeyMatch::Range { low, high } => format!(" {}->{}", hexv(*low), hexv(*high)),
                    KeyMatch::Optional(_) => return Err("an optional key".into()),
                };
            }
            line += " =>";
            for p in &e.params {
                line += &format!(" {}", hexv(*p));
            }
            if prioritised {
                // BMv2: the smaller number wins; here the larger one does.
                let p = (1u32 << 24)
                    .checked_sub(1 + e.priority)
                    .ok_or("a priority over 2^24")?;
                line += &format!(" {p}");
            }
            s += &line;
            s.push('\n');
        }
        let d = sw.default_action(t).map_err(|e| e.to_string())?;
        if d != fresh.default_action(t).map_err(|e| e.to_string())? {
            s += &format!("table_set_default {t} {}", d.0);
            for p in &d.1 {
                s += &format!(" {}", hexv(*p));
            }
            s.push('\n');
        }
    }
    Ok(s)
}
