//! The control plane of `simple_switch` through `simple_switch_CLI`
//! (Thrift): table entries by handle, meter rates per microsecond,
//! counters read as text (`--target bmv2-cli`).

use super::Control;
use crate::Op;
use fairshare_switch::rules::Rules;
use fairshare_switch::{Entry, KeyMatch, MatchKind, Switch};
use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `simple_switch`'s control plane, with the handles of the entries added.
pub(super) struct Cli<'a> {
    program: PathBuf,
    thrift: u16,
    sw: &'a Switch,
    json: &'a str,
    handles: Handles,
}

impl<'a> Cli<'a> {
    /// Waits (10 s at most) for the switch's Thrift port.
    pub(super) fn connect(
        b: &super::Bmv2,
        thrift: u16,
        sw: &'a Switch,
        json: &'a str,
    ) -> Result<Cli<'a>, String> {
        let t0 = Instant::now();
        while TcpStream::connect(("127.0.0.1", thrift)).is_err() {
            if t0.elapsed() > Duration::from_secs(10) {
                return Err("simple_switch did not open its Thrift port".into());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(Cli {
            program: b.program("simple_switch_CLI"),
            thrift,
            sw,
            json,
            handles: Handles::default(),
        })
    }
}

impl Control for Cli<'_> {
    fn rules(&mut self, r: &Rules) -> Result<(), String> {
        let lines = rule_lines(self.sw, r)?;
        cli_ops(&self.program, self.thrift, &mut self.handles, lines)
    }

    fn ops(&mut self, ops: &[(String, &Op)]) -> Result<(), String> {
        run_ops(
            &self.program,
            self.thrift,
            self.sw,
            self.json,
            &mut self.handles,
            ops,
        )
    }

    fn packet_out(&mut self, _frame: &[u8]) -> Result<bool, String> {
        Err("simple_switch takes the CPU port's frames from its file".into())
    }

    fn packet_ins(&mut self) -> Vec<Vec<u8>> {
        vec![]
    }

    fn counters(&mut self, cells: &[(&str, u32)]) -> Result<Vec<(u64, u64)>, String> {
        let cmds: String = cells
            .iter()
            .map(|(c, i)| format!("counter_read {c} {i}\n"))
            .collect();
        read_counters(&cli(&self.program, self.thrift, &cmds)?, cells.len())
    }
}

fn hexv(v: u128) -> String {
    format!("0x{v:x}")
}

/// An entry as the arguments of `table_add` after the action name.
fn cli_entry(sw: &Switch, table: &str, e: &Entry) -> Result<String, String> {
    let kinds = sw.table_keys(table).map_err(|e| e.to_string())?;
    let mut line = String::new();
    for k in &e.keys {
        line += &match k {
            KeyMatch::Exact(v) => format!(" {}", hexv(*v)),
            KeyMatch::Lpm { value, prefix_len } => format!(" {}/{prefix_len}", hexv(*value)),
            KeyMatch::Ternary { value, mask } => format!(" {}&&&{}", hexv(*value), hexv(*mask)),
            KeyMatch::Range { low, high } => format!(" {}->{}", hexv(*low), hexv(*high)),
            KeyMatch::Optional(_) => return Err("simple_switch_CLI has no optional keys".into()),
        };
    }
    line += " =>";
    for p in &e.params {
        line += &format!(" {}", hexv(*p));
    }
    if kinds
        .iter()
        .any(|k| matches!(k.kind, MatchKind::Ternary | MatchKind::Range))
    {
        // BMv2: the smaller number wins; P4Runtime (and the rules): the larger.
        let p = (1u32 << 24)
            .checked_sub(1 + e.priority)
            .ok_or("a priority over 2^24")?;
        line += &format!(" {p}");
    }
    Ok(line)
}

fn rates(r: &fairshare_switch::MeterConfig) -> String {
    // The CLI takes rates per microsecond.
    format!(
        "{}:{} {}:{}",
        r.cir as f64 / 1e6,
        r.cburst,
        r.pir as f64 / 1e6,
        r.pburst
    )
}

/// A CLI command, with the table, keys and priority of the entry it adds
/// (if it adds one).
type CliLine = (String, Option<(String, Vec<KeyMatch>, u32)>);

/// Entries added through the CLI, with the handles BMv2 gave them.
#[derive(Default)]
struct Handles(Vec<(String, Vec<KeyMatch>, u32, u32)>);

impl Handles {
    fn get(&self, table: &str, keys: &[KeyMatch], priority: u32) -> Result<u32, String> {
        self.0
            .iter()
            .rev()
            .find(|(t, k, p, _)| t == table && k == keys && *p == priority)
            .map(|x| x.3)
            .ok_or_else(|| format!("no entry with this match was added to `{table}`"))
    }
}

/// One CLI command for an op; `Some(key)` when it adds an entry (its
/// handle is read from the CLI's answer).
fn cli_op(sw: &Switch, json: &str, handles: &Handles, op: &Op) -> Result<CliLine, String> {
    Ok(match op {
        Op::TableAdd {
            table,
            matches,
            action,
            params,
            priority,
        } => {
            let e = crate::entry(sw, table, matches, action, params, *priority)?;
            (
                format!("table_add {table} {action}{}", cli_entry(sw, table, &e)?),
                Some((table.clone(), e.keys, e.priority)),
            )
        }
        Op::TableModify {
            table,
            matches,
            priority,
            action,
            params,
        } => {
            let e = crate::entry(sw, table, matches, action, params, *priority)?;
            let h = handles.get(table, &e.keys, e.priority)?;
            let ps: Vec<String> = e.params.iter().map(|p| hexv(*p)).collect();
            (
                format!("table_modify {table} {action} {h} {}", ps.join(" ")),
                None,
            )
        }
        Op::TableDelete {
            table,
            matches,
            priority,
        } => {
            let k = crate::keys(sw, table, matches)?;
            let h = handles.get(table, &k, priority.unwrap_or(0))?;
            (format!("table_delete {table} {h}"), None)
        }
        Op::SetDefault {
            table,
            action,
            params,
        } => {
            let def = sw
                .action_params(action)
                .ok_or(format!("no action `{action}`"))?;
            let mut ps = vec![];
            for (n, _) in def {
                let v = params
                    .get(&n)
                    .ok_or(format!("action `{action}`: parameter `{n}` is missing"))?;
                ps.push(hexv(v.to_u128().map_err(|e| e.to_string())?));
            }
            (
                format!("table_set_default {table} {action} {}", ps.join(" ")),
                None,
            )
        }
        Op::MeterSet {
            meter,
            index,
            rates: r,
        } => (
            format!("meter_set_rates {meter} {index} {}", rates(r)),
            None,
        ),
        Op::MeterReset { .. } => {
            return Err("meter_reset has no simple_switch_CLI command".into());
        }
        Op::DirectMeterSet {
            table,
            matches,
            priority,
            rates: r,
        } => {
            let k = crate::keys(sw, table, matches)?;
            let h = handles.get(table, &k, priority.unwrap_or(0))?;
            let meter = direct_meter_of(json, table)?;
            (format!("meter_set_rates {meter} {h} {}", rates(r)), None)
        }
    })
}

/// The name of a table's direct meter, from the JSON.
fn direct_meter_of(json: &str, table: &str) -> Result<String, String> {
    let doc = fairshare_switch::program::parse_json(json).map_err(|e| e.to_string())?;
    doc.pipelines
        .iter()
        .flat_map(|p| &p.tables)
        .find(|t| t.name == table)
        .and_then(|t| t.direct_meters.clone())
        .ok_or_else(|| format!("table `{table}` has no direct meter"))
}

/// Runs CLI commands; returns its output, or the commands and the output
/// when it refused one.
fn cli(program: &Path, thrift: u16, commands: &str) -> Result<String, String> {
    if commands.is_empty() {
        return Ok(String::new());
    }
    let mut c = Command::new(program)
        .args(["--thrift-port", &thrift.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("simple_switch_CLI: {e}"))?;
    c.stdin
        .take()
        .ok_or("simple_switch_CLI: no stdin")?
        .write_all(commands.as_bytes())
        .map_err(|e| e.to_string())?;
    let out = c.wait_with_output().map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    if text.contains("Error") || text.contains("Invalid") || !out.status.success() {
        return Err(format!(
            "simple_switch_CLI refused a command:\n{commands}\n{text}{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(text)
}

/// Runs `commands` (op lines with the key of each added entry) and records
/// the handles BMv2 gave the added entries.
fn cli_ops(
    program: &Path,
    thrift: u16,
    handles: &mut Handles,
    lines: Vec<CliLine>,
) -> Result<(), String> {
    let text: String = lines.iter().map(|(l, _)| format!("{l}\n")).collect();
    let out = cli(program, thrift, &text)?;
    let mut given = out.lines().filter_map(|l| {
        l.split_once("added with handle")
            .and_then(|(_, h)| h.trim().parse::<u32>().ok())
    });
    for (_, key) in lines {
        if let Some((t, k, p)) = key {
            let h = given
                .next()
                .ok_or("simple_switch_CLI did not give a handle for every table_add")?;
            handles.0.push((t, k, p, h));
        }
    }
    Ok(())
}

/// Runs ops through the CLI in order, in batches: an op that names an
/// entry by its match waits for the batch that added it, to know its handle.
fn run_ops(
    program: &Path,
    thrift: u16,
    sw: &Switch,
    json: &str,
    handles: &mut Handles,
    ops: &[(String, &Op)],
) -> Result<(), String> {
    let mut batch = vec![];
    for (place, op) in ops {
        let names_entry = matches!(
            op,
            Op::TableModify { .. } | Op::TableDelete { .. } | Op::DirectMeterSet { .. }
        );
        if names_entry && !batch.is_empty() {
            cli_ops(program, thrift, handles, std::mem::take(&mut batch))?;
        }
        batch.push(cli_op(sw, json, handles, op).map_err(|e| format!("{place}: {e}"))?);
    }
    cli_ops(program, thrift, handles, batch)
}

/// The generated rules as CLI lines.
fn rule_lines(sw: &Switch, r: &Rules) -> Result<Vec<CliLine>, String> {
    let mut v = vec![];
    for e in &r.table_entries {
        let en = fairshare_switch::rules::entry(sw, e).map_err(|e| e.to_string())?;
        v.push((
            format!(
                "table_add {} {}{}",
                e.table,
                e.action,
                cli_entry(sw, &e.table, &en)?
            ),
            Some((e.table.clone(), en.keys, en.priority)),
        ));
    }
    for m in &r.meter_configs {
        let c = fairshare_switch::MeterConfig {
            cir: m.cir,
            cburst: m.cburst,
            pir: m.pir,
            pburst: m.pburst,
        };
        v.push((
            format!("meter_set_rates {} {} {}", m.meter, m.index, rates(&c)),
            None,
        ));
    }
    Ok(v)
}

/// `(packets, bytes)` from the CLI's `counter_read` answers, in order
/// (`Ingress.drops[7]= (60 bytes, 1 packets)`).
fn read_counters(text: &str, n: usize) -> Result<Vec<(u64, u64)>, String> {
    let before = |l: &str, key: &str| -> Option<u64> {
        let head = &l[..l.find(key)?];
        let digits: String = head
            .chars()
            .rev()
            .skip_while(|c| *c == ' ')
            .take_while(char::is_ascii_digit)
            .collect();
        digits.chars().rev().collect::<String>().parse().ok()
    };
    let v: Vec<(u64, u64)> = text
        .lines()
        .filter(|l| l.contains("]="))
        .filter_map(|l| Some((before(l, " packets")?, before(l, " bytes")?)))
        .collect();
    if v.len() != n {
        return Err(format!(
            "expected {n} counter values from simple_switch_CLI, found {}:\n{text}",
            v.len()
        ));
    }
    Ok(v)
}
