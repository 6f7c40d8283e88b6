//! Running a case on real BMv2: `simple_switch` with its ports on pcap
//! FIFOs, and the control plane written through `simple_switch_CLI`.
//!
//! The issue this suite answers asks for `simple_switch_grpc` driven over
//! P4Runtime; until fairshare has a P4Runtime client, the same table
//! entries, default actions and meter rates go through the Thrift CLI of
//! `simple_switch`, which runs the same pipeline code.
//!
//! How a run goes: every port the case uses gets a FIFO `p<port>_in.pcap`
//! (BMv2 opens each when it adds the port and reads the pcap header at
//! once, so each FIFO is opened from its own thread and the header written
//! there). The pipeline's rules and the case's setup are written through
//! the CLI before any packet; then the packets are written in time order,
//! 1 ms apart, each to its port's FIFO, and each FIFO is closed after its
//! last packet (at once on ports with no input). `simple_switch` merges
//! its inputs by pcap timestamp and takes a packet only when every open
//! input has one waiting or has ended, so the packets come out in the
//! case's time order. Before a timeline write, the runner waits until the
//! frames expected before it are out and the outputs have stopped growing
//! for 200 ms, then runs the CLI; the packets written before
//! the write are all processed before it only when they come from one
//! port (or from ports that have ended): other cases must be listed as
//! differing. At the
//! end it waits for as many frames as `expected/` holds (10 s at most, or
//! 3 s without a new frame, and 200 ms more to catch extra ones) and reads the drop counters through
//! the CLI.
//!
//! What differs from the fairshare switch, by design of BMv2: meters run
//! on the wall clock (pcap timestamps are ignored), output times are wall
//! clock (not compared), the switch's statistics do not exist (`stats`
//! expectations are not checked), frames sent to a port no file names are
//! not seen, and `meter_reset` has no CLI command.

use crate::pcap::{self, Packet};
use crate::{Case, Error, Op, Pipeline, Run};
use fairshare_switch::rules::Rules;
use fairshare_switch::{Entry, KeyMatch, MatchKind, Switch};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The programs of a BMv2 build.
#[derive(Debug, Clone)]
pub struct Bmv2 {
    pub simple_switch: PathBuf,
    pub cli: PathBuf,
}

/// Finds BMv2: `FAIRSHARE_BMV2` (a folder with `bin/`), then
/// `<workspace>/../shared/bmv2`, then `PATH`. `Err` says where it looked.
pub fn find(workspace: &Path) -> Result<Bmv2, String> {
    let in_dir = |d: &Path| {
        // Absolute, as the switch runs in its own folder.
        let d = std::fs::canonicalize(d).ok()?;
        let b = Bmv2 {
            simple_switch: d.join("simple_switch"),
            cli: d.join("simple_switch_CLI"),
        };
        (b.simple_switch.is_file() && b.cli.is_file()).then_some(b)
    };
    if let Some(d) = std::env::var_os("FAIRSHARE_BMV2") {
        let d = PathBuf::from(d).join("bin");
        return in_dir(&d).ok_or_else(|| {
            format!(
                "FAIRSHARE_BMV2 is set but {} has no simple_switch and simple_switch_CLI",
                d.display()
            )
        });
    }
    if let Some(b) = in_dir(&workspace.join("../shared/bmv2/bin")) {
        return Ok(b);
    }
    if let Some(path) = std::env::var_os("PATH") {
        if let Some(b) = std::env::split_paths(&path).find_map(|d| in_dir(&d)) {
            return Ok(b);
        }
    }
    Err("no BMv2: FAIRSHARE_BMV2 is not set, ../shared/bmv2/bin has no simple_switch, and PATH has none".into())
}

/// `case: reason` lines of the list of cases expected to differ on BMv2.
pub fn known_differences(suite: &Path) -> Result<BTreeMap<String, String>, Error> {
    let path = suite.join("bmv2-differences.txt");
    let text = std::fs::read_to_string(&path).map_err(|e| Error::Io {
        path: path.clone(),
        source: e,
    })?;
    let mut m = BTreeMap::new();
    for (i, l) in text.lines().enumerate() {
        let l = l.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let Some((c, r)) = l.split_once(':') else {
            return Err(Error::BadCase {
                file: path.clone(),
                place: format!("line {}", i + 1),
                message: format!("expected `case: reason`, found `{l}`"),
            });
        };
        m.insert(c.trim().to_string(), r.trim().to_string());
    }
    Ok(m)
}

/// Kills the switch when the run ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
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
fn cli(b: &Bmv2, thrift: u16, commands: &str) -> Result<String, String> {
    if commands.is_empty() {
        return Ok(String::new());
    }
    let mut c = Command::new(&b.cli)
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
    b: &Bmv2,
    thrift: u16,
    handles: &mut Handles,
    lines: Vec<CliLine>,
) -> Result<(), String> {
    let text: String = lines.iter().map(|(l, _)| format!("{l}\n")).collect();
    let out = cli(b, thrift, &text)?;
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

fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}

/// Runs a case on `simple_switch` in `work/<case>`.
pub fn run(
    b: &Bmv2,
    case: &Case,
    p: &Pipeline,
    expected: &BTreeMap<u32, Vec<Packet>>,
    work: &Path,
) -> Result<Run, Error> {
    run_inner(b, case, p, expected, work).map_err(|e| Error::Bmv2(format!("{}: {e}", case.name)))
}

fn run_inner(
    b: &Bmv2,
    case: &Case,
    p: &Pipeline,
    expected: &BTreeMap<u32, Vec<Packet>>,
    work: &Path,
) -> Result<Run, String> {
    let sw = Switch::load(&p.json).map_err(|e| e.to_string())?;
    let dir = work.join(&case.name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    std::fs::write(dir.join("p.json"), &p.json).map_err(|e| e.to_string())?;
    let ports: BTreeSet<u32> = case
        .input_ports()
        .into_iter()
        .chain(expected.keys().copied())
        .collect();
    for port in &ports {
        let st = Command::new("mkfifo")
            .arg(dir.join(format!("p{port}_in.pcap")))
            .status()
            .map_err(|e| format!("mkfifo: {e}"))?;
        if !st.success() {
            return Err("mkfifo failed".into());
        }
    }
    let thrift = free_port()?;
    let mut args = vec!["--thrift-port".to_string(), thrift.to_string()];
    for port in &ports {
        args.extend(["-i".into(), format!("{port}@p{port}")]);
    }
    args.extend(["--use-files".into(), "0".into(), "p.json".into()]);
    let child = Command::new(&b.simple_switch)
        .current_dir(&dir)
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("simple_switch: {e}"))?;
    let _guard = Running(child);

    // Each FIFO is opened from its own thread (simple_switch opens them in
    // its own order) and gets its pcap header; the open files come back.
    let (tx, rx) = std::sync::mpsc::channel();
    for port in ports.iter().copied() {
        let path = dir.join(format!("p{port}_in.pcap"));
        let tx = tx.clone();
        std::thread::spawn(move || {
            let r = std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .and_then(|mut f| {
                    f.write_all(&pcap::write(&[]))?;
                    f.flush()?;
                    Ok(f)
                });
            let _ = tx.send((port, r));
        });
    }
    drop(tx);
    let t0 = Instant::now();
    let mut fifos = BTreeMap::new();
    while fifos.len() < ports.len() {
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok((port, Ok(f))) => {
                fifos.insert(port, f);
            }
            Ok((port, Err(e))) => return Err(format!("port {port}: {e}")),
            Err(_) => return Err("simple_switch did not open every port within 10 s".into()),
        }
    }
    while TcpStream::connect(("127.0.0.1", thrift)).is_err() {
        if t0.elapsed() > Duration::from_secs(10) {
            return Err("simple_switch did not open its Thrift port".into());
        }
        std::thread::sleep(Duration::from_millis(10));
    }

    let mut handles = Handles::default();
    if let Some(r) = &p.rules {
        cli_ops(b, thrift, &mut handles, rule_lines(&sw, r)?)?;
    }
    let setup: Vec<(String, &Op)> = case
        .setup
        .iter()
        .enumerate()
        .map(|(i, op)| (format!("setup[{i}]"), op))
        .collect();
    run_ops(b, thrift, &sw, &p.json, &mut handles, &setup)?;

    let collect = || -> BTreeMap<u32, Vec<Packet>> {
        ports
            .iter()
            .map(|port| {
                let data = std::fs::read(dir.join(format!("p{port}_out.pcap"))).unwrap_or_default();
                (*port, pcap::read(&data).unwrap_or_default())
            })
            .collect()
    };
    let count = |m: &BTreeMap<u32, Vec<Packet>>| m.values().map(Vec::len).sum::<usize>();
    // Waits until the outputs stop growing for 150 ms (2 s at most).
    // Before a timeline write at `t`: waits until the frames expected
    // before `t` are out and nothing has come out for 200 ms (so that
    // dropped packets, which leave no trace, have had their turn too), or
    // 5 s have passed.
    let settle = |t: u64| {
        let want = expected.values().flatten().filter(|p| p.at_us < t).count();
        let end = Instant::now() + Duration::from_secs(5);
        let mut last = count(&collect());
        let mut still = Instant::now();
        while Instant::now() < end && (last < want || still.elapsed() < Duration::from_millis(200))
        {
            std::thread::sleep(Duration::from_millis(25));
            let n = count(&collect());
            if n != last {
                last = n;
                still = Instant::now();
            }
        }
    };
    // BMv2 merges its pcap inputs by timestamp and takes a packet only
    // when every open input has one waiting or has ended: each FIFO is
    // closed after its last packet (at once for ports with no input).
    let mut left: BTreeMap<u32, usize> = BTreeMap::new();
    for i in &case.inputs {
        *left.entry(i.port).or_default() += 1;
    }
    fifos.retain(|port, _| left.contains_key(port));
    let mut events = case.timeline.iter().peekable();
    for input in &case.inputs {
        let mut due = vec![];
        while let Some(e) = events.next_if(|e| e.at_us <= input.at_us) {
            due.push(e);
        }
        if let Some(first) = due.first() {
            settle(first.at_us);
            let ops: Vec<(String, &Op)> = due.iter().map(|e| (e.place.clone(), &e.op)).collect();
            run_ops(b, thrift, &sw, &p.json, &mut handles, &ops)?;
        }
        let f = fifos.get_mut(&input.port).ok_or("no FIFO for a port")?;
        f.write_all(&pcap::record(input.at_us, &input.frame))
            .and_then(|_| f.flush())
            .map_err(|e| {
                format!(
                    "simple_switch stopped reading port {} ({}): {e}",
                    input.port, input.place
                )
            })?;
        if let Some(n) = left.get_mut(&input.port) {
            *n -= 1;
            if *n == 0 {
                fifos.remove(&input.port);
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    // Until the expected number of frames is out, or nothing has come out
    // for 3 s (a case that differs), or 10 s have passed.
    let want: usize = count(expected);
    let deadline = Instant::now() + Duration::from_secs(10);
    let (mut last, mut still) = (count(&collect()), Instant::now());
    while Instant::now() < deadline && last < want && still.elapsed() < Duration::from_secs(3) {
        std::thread::sleep(Duration::from_millis(25));
        let n = count(&collect());
        if n != last {
            (last, still) = (n, Instant::now());
        }
    }
    std::thread::sleep(Duration::from_millis(200));
    let outputs = collect();

    let mut run = Run {
        outputs,
        ..Run::default()
    };
    if sw.counter(crate::DROPS, 0).is_ok() {
        let n = fairshare_codegen::pipeline::DROP_REASONS.len();
        let cmds: String = (0..n)
            .map(|i| format!("counter_read {} {i}\n", crate::DROPS))
            .collect();
        run.drops = Some(read_counters(&cli(b, thrift, &cmds)?, n)?);
    }
    if !case.expect.counters.is_empty() {
        let cmds: String = case
            .expect
            .counters
            .iter()
            .map(|c| format!("counter_read {} {}\n", c.counter, c.index))
            .collect();
        run.counters = read_counters(&cli(b, thrift, &cmds)?, case.expect.counters.len())?;
    }
    Ok(run)
}

/// Runs ops through the CLI in order, in batches: an op that names an
/// entry by its match waits for the batch that added it, to know its handle.
fn run_ops(
    b: &Bmv2,
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
            cli_ops(b, thrift, handles, std::mem::take(&mut batch))?;
        }
        batch.push(cli_op(sw, json, handles, op).map_err(|e| format!("{place}: {e}"))?);
    }
    cli_ops(b, thrift, handles, batch)
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
