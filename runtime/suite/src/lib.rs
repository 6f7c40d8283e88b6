//! The pcap regression suite of `bmv2-tests/`: cases described in TOML,
//! their input and expected pcaps, a runner on the fairshare switch and on
//! real BMv2, and decoded, field-by-field reports of what differs.
//!
//! ```text
//! cases/<name>/case.toml ─ Case::read ─> Case ─┬─ Pipelines::load ─> Pipeline (JSON + rules + CPU port)
//!                                              ├─ run_fairshare ─> Run ─┐
//!                                              └─ bmv2::run ─────> Run ─┴─ check ─> Verdict (decoded diffs)
//! bless: Case + Run ─> in/<port>.pcap, expected/<port>.pcap
//! ```
//!
//! A case folder holds `case.toml` (the description, the pipeline, the
//! control-plane writes and the input packets, see [`case`]), `in/<port>.pcap`
//! (the input frames, generated from the description and checked in so that
//! they open in Wireshark) and `expected/<port>.pcap` (the frames each port
//! must send, in order, with the time of the packet that caused them). An
//! expected file exists for every port that sends or receives something; an
//! empty one means the port sends nothing.
//!
//! Invariants:
//! * Time is pcap time: a packet is processed at its timestamp in
//!   microseconds (the file's epoch is the switch's time origin), so meters
//!   give the same colours on every run of the fairshare switch.
//!   Control-plane writes of the timeline happen before the packets of
//!   the same or a later time.
//! * `case.toml` is the source of the inputs: a run fails when
//!   `in/<port>.pcap` is not what the description gives (run `--bless`
//!   after editing, and review).
//! * A case passes only if every port sent exactly its expected frames in
//!   order (and, on the fairshare switch, at the expected times), and
//!   every counter and statistic the case names holds. Drop counters are
//!   written by hand in `case.toml`, never by `--bless`.
//! * No input panics: a case that does not read is an [`Error`] naming
//!   the file and the place.
//!
//! ```
//! use fairshare_suite::case::{build, PacketSpec};
//! let spec: PacketSpec = basic_toml::from_str(
//!     r#"port = 3
//!        at_us = 0
//!        ipv4 = { src = "192.0.2.5", dst = "10.0.0.1", ttl = 2 }
//!        udp = { sport = 1, dport = 2 }"#,
//! )
//! .unwrap();
//! let frame = build(&spec, 1).unwrap();
//! assert_eq!(frame.len(), 14 + 20 + 8);
//! assert_eq!(frame[14 + 8], 2); // the TTL
//! ```
//!
//! Network cases (a `[network]` table in `case.toml`, see [`network`]) run
//! a whole policy instead: its switches, a controller per switch over
//! P4Runtime and simulated hosts, through a timeline of mission events
//! (requests, teardowns). Their `expected/<switch>-<port>.pcap` hold the
//! frames that left each port, compared in order and byte for byte but
//! not in time (the controllers run on the wall clock); the order of the
//! controller's release and the flow's Path on the DC uplink is checked
//! on the decoded RSVP as well.
//!
//! Boundary: the fairshare switch is used through its public API only;
//! BMv2 runs as `simple_switch_grpc` processes with pcap FIFOs as ports and
//! P4Runtime for the pipeline, the control plane and the CPU port, or as
//! `simple_switch` with `simple_switch_CLI` (Thrift) ([`bmv2`]).

pub mod bmv2;
pub mod case;
pub mod network;
pub mod pcap;
mod report;

pub use case::{Case, Event, Input, Op};
pub use pcap::Packet;
pub use report::Verdict;

use fairshare_switch::cpu::ControllerHeader;
use fairshare_switch::rules::{self, RuleValue, Rules, TableEntry};
use fairshare_switch::{Entry, KeyMatch, Stats, Switch};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// Why a case or the suite could not be run (bad input, not a failed
/// expectation).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {place}: {message}", file.display())]
    BadCase {
        file: PathBuf,
        place: String,
        message: String,
    },
    #[error("{}: the policy has errors:\n{rendered}", file.display())]
    Policy { file: PathBuf, rendered: String },
    #[error("{}: {message}", file.display())]
    Pipeline { file: PathBuf, message: String },
    #[error("BMv2: {0}")]
    Bmv2(String),
    /// A network case's network could not be run.
    #[error("{0}")]
    Network(String),
}

/// Where a run happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The fairshare software switch, in-process.
    Fairshare,
    /// Real BMv2 `simple_switch_grpc`, driven over P4Runtime.
    Bmv2,
    /// Real BMv2 `simple_switch`, driven through `simple_switch_CLI`.
    Bmv2Cli,
}

impl Target {
    /// Whether this is a BMv2 target.
    pub fn is_bmv2(self) -> bool {
        self != Target::Fairshare
    }
}

/// The case folders under `<suite>/cases/` whose name contains `filter`,
/// sorted by name: packet cases and network cases alike
/// ([`network::is_network`] tells them apart).
pub fn discover(suite: &Path, filter: Option<&str>) -> Result<Vec<PathBuf>, Error> {
    let cases = suite.join("cases");
    let io = |e| Error::Io {
        path: cases.clone(),
        source: e,
    };
    let mut dirs = vec![];
    for e in std::fs::read_dir(&cases).map_err(io)? {
        let p = e.map_err(io)?.path();
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if p.join("case.toml").is_file() && filter.is_none_or(|f| name.contains(f)) {
            dirs.push(p);
        }
    }
    dirs.sort();
    Ok(dirs)
}

/// A pipeline ready to load: the BMv2 JSON, its P4Info, the rules of its
/// switch and the CPU port.
#[derive(Debug, Clone)]
pub struct Pipeline {
    pub json: String,
    /// The P4Info in protobuf text format (`None` for a BMv2 JSON given
    /// without one: such a pipeline runs on the fairshare switch and on
    /// `simple_switch`, not on `simple_switch_grpc`).
    pub p4info: Option<String>,
    pub rules: Option<Rules>,
    pub cpu_port: Option<u32>,
}

/// Loads pipelines, compiling each policy once.
#[derive(Debug)]
pub struct Pipelines {
    /// The suite's folder; `example = NAME` is `<suite>/../examples/NAME.fsp`.
    suite: PathBuf,
    compiled: HashMap<PathBuf, fairshare_codegen::Output>,
}

impl Pipelines {
    pub fn new(suite: &Path) -> Pipelines {
        Pipelines {
            suite: suite.to_path_buf(),
            compiled: HashMap::new(),
        }
    }

    /// The pipeline a case names.
    pub fn load(&mut self, case: &Case) -> Result<Pipeline, Error> {
        let spec = &case.pipeline;
        let toml = case.dir.join("case.toml");
        let policy = match (&spec.example, &spec.policy) {
            (Some(e), _) => Some(self.suite.join("../examples").join(format!("{e}.fsp"))),
            (_, Some(p)) => Some(case.dir.join(p)),
            _ => None,
        };
        let mut p = if let Some(file) = policy {
            let switch = spec.switch.clone().unwrap_or_default();
            if !self.compiled.contains_key(&file) {
                let out = compile(&file)?;
                self.compiled.insert(file.clone(), out);
            }
            let out = &self.compiled[&file];
            let (Some(sw), Some(pipe)) = (
                out.switches.iter().find(|s| s.name == switch),
                out.pipeline_of(&switch),
            ) else {
                return Err(Error::BadCase {
                    file: toml,
                    place: "pipeline.switch".into(),
                    message: format!(
                        "expected a switch of {}, found `{switch}` (it has {})",
                        file.display(),
                        out.switches
                            .iter()
                            .map(|s| s.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                });
            };
            let rules = Rules::parse(&sw.rules_json).map_err(|e| Error::Pipeline {
                file: file.clone(),
                message: e.to_string(),
            })?;
            Pipeline {
                json: pipe.json.clone(),
                p4info: Some(pipe.p4info.clone()),
                rules: Some(rules),
                cpu_port: Some(u32::from(pipe.params.cpu_port)),
            }
        } else {
            let json_file = case.dir.join(spec.json.as_deref().unwrap_or_default());
            let json = std::fs::read_to_string(&json_file).map_err(|e| Error::Io {
                path: json_file,
                source: e,
            })?;
            let rules = match &spec.rules {
                Some(r) => {
                    let f = case.dir.join(r);
                    let text = std::fs::read_to_string(&f).map_err(|e| Error::Io {
                        path: f.clone(),
                        source: e,
                    })?;
                    Some(Rules::parse(&text).map_err(|e| Error::Pipeline {
                        file: f,
                        message: e.to_string(),
                    })?)
                }
                None => None,
            };
            let p4info = match &spec.p4info {
                Some(f) => {
                    let f = case.dir.join(f);
                    Some(std::fs::read_to_string(&f).map_err(|e| Error::Io {
                        path: f.clone(),
                        source: e,
                    })?)
                }
                None => None,
            };
            Pipeline {
                json,
                p4info,
                rules,
                cpu_port: spec.cpu_port,
            }
        };
        if !spec.generated_rules {
            p.rules = None;
        }
        Ok(p)
    }
}

fn compile(file: &Path) -> Result<fairshare_codegen::Output, Error> {
    let src = std::fs::read_to_string(file).map_err(|e| Error::Io {
        path: file.to_path_buf(),
        source: e,
    })?;
    let name = file.display().to_string();
    let (_, policy) = fairshare_policy::load(&src).map_err(|d| Error::Policy {
        file: file.to_path_buf(),
        rendered: fairshare_policy::render(&d, &name, &src),
    })?;
    let pipeline_err = |message: String| Error::Pipeline {
        file: file.to_path_buf(),
        message,
    };
    let topo =
        fairshare_alloc::Topology::build(&policy).map_err(|e| pipeline_err(e.to_string()))?;
    let shares = fairshare_alloc::allocate(&topo, &policy, policy.algorithm);
    fairshare_codegen::compile(&policy, &topo, &shares).map_err(|e| pipeline_err(e.to_string()))
}

/// What a target sent and counted.
#[derive(Debug, Clone, Default)]
pub struct Run {
    /// Frames sent per port, in order.
    pub outputs: BTreeMap<u32, Vec<Packet>>,
    /// `(packets, bytes)` of every cell of `Ingress.drops`, when the
    /// program has it.
    pub drops: Option<Vec<(u64, u64)>>,
    /// `(packets, bytes)` of the counter cells the case names, in its order.
    pub counters: Vec<(u64, u64)>,
    /// The fairshare switch's statistics (`None` on BMv2).
    pub stats: Option<Stats>,
}

/// The counter of drops by reason in fairshare's pipeline.
pub const DROPS: &str = "Ingress.drops";

/// The table keys of `matches` (keys left out match anything, exact keys
/// must be given), as the rules file reads them.
pub fn keys(
    sw: &Switch,
    table: &str,
    matches: &BTreeMap<String, RuleValue>,
) -> Result<Vec<KeyMatch>, String> {
    let actions = sw.table_actions(table).map_err(|e| e.to_string())?;
    let action = actions
        .first()
        .ok_or(format!("table `{table}` has no action"))?
        .to_string();
    let params = sw
        .action_params(&action)
        .unwrap_or_default()
        .into_iter()
        .map(|(n, _)| (n, RuleValue::Int(0)))
        .collect();
    let e = TableEntry {
        table: table.into(),
        matches: matches.clone(),
        action,
        params,
        priority: None,
    };
    Ok(rules::entry(sw, &e).map_err(|e| e.to_string())?.keys)
}

/// An entry from an op's fields.
pub fn entry(
    sw: &Switch,
    table: &str,
    matches: &BTreeMap<String, RuleValue>,
    action: &str,
    params: &BTreeMap<String, RuleValue>,
    priority: Option<u32>,
) -> Result<Entry, String> {
    let e = TableEntry {
        table: table.into(),
        matches: matches.clone(),
        action: action.into(),
        params: params.clone(),
        priority,
    };
    rules::entry(sw, &e).map_err(|e| e.to_string())
}

fn handle(
    sw: &Switch,
    table: &str,
    matches: &BTreeMap<String, RuleValue>,
    priority: Option<u32>,
) -> Result<u32, String> {
    let k = keys(sw, table, matches)?;
    sw.find_entry(table, &k, priority.unwrap_or(0))
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("table `{table}` has no entry with this match"))
}

/// Applies one control-plane write to the fairshare switch.
pub fn apply(sw: &mut Switch, op: &Op) -> Result<(), String> {
    let s = |e: fairshare_switch::Error| e.to_string();
    match op {
        Op::TableAdd {
            table,
            matches,
            action,
            params,
            priority,
        } => {
            let e = entry(sw, table, matches, action, params, *priority)?;
            sw.add_entry(table, e).map(|_| ()).map_err(s)
        }
        Op::TableModify {
            table,
            matches,
            priority,
            action,
            params,
        } => {
            let h = handle(sw, table, matches, *priority)?;
            let e = entry(sw, table, matches, action, params, *priority)?;
            sw.modify_entry(table, h, action, &e.params).map_err(s)
        }
        Op::TableDelete {
            table,
            matches,
            priority,
        } => {
            let h = handle(sw, table, matches, *priority)?;
            sw.delete_entry(table, h).map_err(s)
        }
        Op::SetDefault {
            table,
            action,
            params,
        } => {
            let def = sw
                .action_params(action)
                .ok_or(format!("no action `{action}`"))?;
            let values = def
                .iter()
                .map(|(n, _)| {
                    params
                        .get(n)
                        .ok_or(format!("action `{action}`: parameter `{n}` is missing"))
                        .and_then(|v| v.to_u128().map_err(s))
                })
                .collect::<Result<Vec<_>, _>>()?;
            sw.set_default_action(table, action, &values).map_err(s)
        }
        Op::MeterSet {
            meter,
            index,
            rates,
        } => sw.set_meter(meter, *index, *rates).map_err(s),
        Op::MeterReset { meter, index } => sw.reset_meter(meter, *index).map_err(s),
        Op::DirectMeterSet {
            table,
            matches,
            priority,
            rates,
        } => {
            let h = handle(sw, table, matches, *priority)?;
            sw.set_direct_meter(table, h, *rates).map_err(s)
        }
    }
}

/// A switch with the pipeline, its rules and the case's setup loaded.
pub fn load_switch(case: &Case, p: &Pipeline) -> Result<Switch, Error> {
    let toml = case.dir.join("case.toml");
    let mut sw = Switch::load(&p.json).map_err(|e| Error::Pipeline {
        file: toml.clone(),
        message: e.to_string(),
    })?;
    if let Some(r) = &p.rules {
        rules::apply(&mut sw, r).map_err(|e| Error::Pipeline {
            file: toml.clone(),
            message: format!("the pipeline's rules do not apply: {e}"),
        })?;
    }
    for (i, op) in case.setup.iter().enumerate() {
        apply(&mut sw, op).map_err(|message| Error::BadCase {
            file: toml.clone(),
            place: format!("setup[{i}]"),
            message,
        })?;
    }
    check_expect_names(case, &sw)?;
    Ok(sw)
}

/// The `[expect]` names must exist, so that a typo is bad input, not a
/// failure.
fn check_expect_names(case: &Case, sw: &Switch) -> Result<(), Error> {
    let bad = |place: String, message: String| Error::BadCase {
        file: case.dir.join("case.toml"),
        place,
        message,
    };
    if let Some(d) = &case.expect.drops {
        if sw.counter(DROPS, 0).is_err() {
            return Err(bad(
                "expect.drops".into(),
                format!("the program has no counter `{DROPS}`"),
            ));
        }
        for name in d.keys() {
            if drop_index(name).is_none() {
                return Err(bad(
                    "expect.drops".into(),
                    format!(
                        "expected a drop reason among {}, found `{name}`",
                        drop_names().join(", ")
                    ),
                ));
            }
        }
    }
    for name in case.expect.stats.keys() {
        if stat(&Stats::default(), name).is_none() {
            return Err(bad(
                "expect.stats".into(),
                format!(
                    "expected a statistic among {}, found `{name}`",
                    STAT_NAMES.join(", ")
                ),
            ));
        }
    }
    for (i, c) in case.expect.counters.iter().enumerate() {
        sw.counter(&c.counter, c.index)
            .map_err(|e| bad(format!("expect.counters[{i}]"), e.to_string()))?;
    }
    Ok(())
}

fn drop_names() -> Vec<&'static str> {
    fairshare_codegen::pipeline::DROP_REASONS
        .iter()
        .map(|(n, _)| *n)
        .collect()
}

/// The cell of `Ingress.drops` for a reason's name.
pub fn drop_index(name: &str) -> Option<u32> {
    drop_names()
        .iter()
        .position(|n| *n == name)
        .map(|i| i as u32)
}

const STAT_NAMES: [&str; 17] = [
    "received",
    "sent",
    "parser_errors",
    "checksum_errors",
    "dropped_ingress",
    "dropped_egress",
    "dropped_multicast",
    "dropped_no_port",
    "assert_failures",
    "index_errors",
    "cloned",
    "clone_no_session",
    "replicated",
    "resubmitted",
    "recirculated",
    "dropped_loop",
    "dropped_priority",
];

/// A statistic by name.
pub fn stat(s: &Stats, name: &str) -> Option<u64> {
    Some(match name {
        "received" => s.received,
        "sent" => s.sent,
        "parser_errors" => s.parser_errors,
        "checksum_errors" => s.checksum_errors,
        "dropped_ingress" => s.dropped_ingress,
        "dropped_egress" => s.dropped_egress,
        "dropped_multicast" => s.dropped_multicast,
        "dropped_no_port" => s.dropped_no_port,
        "assert_failures" => s.assert_failures,
        "index_errors" => s.index_errors,
        "cloned" => s.cloned,
        "clone_no_session" => s.clone_no_session,
        "replicated" => s.replicated,
        "resubmitted" => s.resubmitted,
        "recirculated" => s.recirculated,
        "dropped_loop" => s.dropped_loop,
        "dropped_priority" => s.dropped_priority,
        _ => return None,
    })
}

/// Runs a case on the fairshare switch, in pcap time.
pub fn run_fairshare(case: &Case, p: &Pipeline) -> Result<Run, Error> {
    let mut sw = load_switch(case, p)?;
    let toml = case.dir.join("case.toml");
    let mut run = Run::default();
    for port in case.input_ports() {
        run.outputs.entry(port).or_default();
    }
    let mut events = case.timeline.iter().peekable();
    let mut apply_until = |sw: &mut Switch, t: Option<u64>| -> Result<(), Error> {
        while let Some(e) = events.next_if(|e| t.is_none_or(|t| e.at_us <= t)) {
            apply(sw, &e.op).map_err(|message| Error::BadCase {
                file: toml.clone(),
                place: e.place.clone(),
                message,
            })?;
        }
        Ok(())
    };
    for input in &case.inputs {
        apply_until(&mut sw, Some(input.at_us))?;
        let outputs = &mut run.outputs;
        sw.process(input.port, &input.frame, input.at_us, &mut |port, bytes| {
            outputs.entry(port).or_default().push(Packet {
                at_us: input.at_us,
                frame: bytes.to_vec(),
            })
        });
    }
    apply_until(&mut sw, None)?;
    if sw.counter(DROPS, 0).is_ok() {
        run.drops = Some(
            (0..drop_names().len() as u32)
                .map(|i| sw.counter(DROPS, i).unwrap_or_default())
                .collect(),
        );
    }
    run.counters = case
        .expect
        .counters
        .iter()
        .map(|c| sw.counter(&c.counter, c.index).unwrap_or_default())
        .collect();
    run.stats = Some(sw.stats().clone());
    Ok(run)
}

/// The layout of the program's `packet_in` header, if it has one: the
/// suite shows its fields in reports of the CPU port.
pub fn packet_in_header(p: &Pipeline) -> Option<ControllerHeader> {
    let sw = Switch::load(&p.json).ok()?;
    ControllerHeader::from_program(&sw, "packet_in").ok()
}

/// The input frames per port, as `in/<port>.pcap` holds them.
pub fn inputs_by_port(case: &Case) -> BTreeMap<u32, Vec<Packet>> {
    let mut m: BTreeMap<u32, Vec<Packet>> = BTreeMap::new();
    for i in &case.inputs {
        m.entry(i.port).or_default().push(Packet {
            at_us: i.at_us,
            frame: i.frame.clone(),
        });
    }
    m
}

fn pcaps(dir: &Path) -> Result<BTreeMap<u32, Vec<Packet>>, Error> {
    let mut m = BTreeMap::new();
    if !dir.is_dir() {
        return Ok(m);
    }
    let io = |e| Error::Io {
        path: dir.to_path_buf(),
        source: e,
    };
    for e in std::fs::read_dir(dir).map_err(io)? {
        let path = e.map_err(io)?.path();
        let Some(port) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".pcap"))
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let data = std::fs::read(&path).map_err(|e| Error::Io {
            path: path.clone(),
            source: e,
        })?;
        let packets = pcap::read(&data).map_err(|message| Error::Pipeline {
            file: path.clone(),
            message,
        })?;
        m.insert(port, packets);
    }
    Ok(m)
}

/// The checked-in input pcaps, by port.
pub fn read_inputs(case: &Case) -> Result<BTreeMap<u32, Vec<Packet>>, Error> {
    pcaps(&case.dir.join("in"))
}

/// The expected output pcaps, by port; `None` when the case was never
/// blessed.
pub fn read_expected(case: &Case) -> Result<Option<BTreeMap<u32, Vec<Packet>>>, Error> {
    let dir = case.dir.join("expected");
    if !dir.is_dir() {
        return Ok(None);
    }
    pcaps(&dir).map(Some)
}

/// Writes `in/` from the description and `expected/` from a run (after
/// review): one file per port that receives or sends; stale files go.
pub fn bless(case: &Case, run: &Run) -> Result<(), Error> {
    let by_name = |files: &BTreeMap<u32, Vec<Packet>>| -> Vec<(String, Vec<Packet>)> {
        files
            .iter()
            .map(|(port, packets)| (port.to_string(), packets.clone()))
            .collect()
    };
    let write_dir =
        |dir: PathBuf, files: &BTreeMap<u32, Vec<Packet>>| write_pcap_dir(&dir, &by_name(files));
    write_dir(case.dir.join("in"), &inputs_by_port(case))?;
    let mut expected = run.outputs.clone();
    for port in case.input_ports() {
        expected.entry(port).or_default();
    }
    write_dir(case.dir.join("expected"), &expected)
}

/// Replaces the pcap files of `dir` with `<name>.pcap` for each of
/// `files`: pcap files not named there go, others stay.
pub(crate) fn write_pcap_dir(dir: &Path, files: &[(String, Vec<Packet>)]) -> Result<(), Error> {
    let io = |e| Error::Io {
        path: dir.to_path_buf(),
        source: e,
    };
    if dir.is_dir() {
        for e in std::fs::read_dir(dir).map_err(io)? {
            let path = e.map_err(io)?.path();
            if path.extension().is_some_and(|x| x == "pcap") {
                std::fs::remove_file(&path).map_err(|e| Error::Io { path, source: e })?;
            }
        }
    }
    std::fs::create_dir_all(dir).map_err(io)?;
    for (name, packets) in files {
        let path = dir.join(format!("{name}.pcap"));
        std::fs::write(&path, pcap::write(packets)).map_err(|e| Error::Io { path, source: e })?;
    }
    Ok(())
}

/// Judges a run against the case's files and expectations.
pub fn check(case: &Case, p: &Pipeline, run: &Run, target: Target) -> Result<Verdict, Error> {
    report::check(case, p, run, target)
}
