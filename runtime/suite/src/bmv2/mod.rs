//! Running a case on real BMv2.
//!
//! Two ways, one runner:
//! * `--target bmv2` ([`Target::Bmv2`]): `simple_switch_grpc`, started
//!   with `--no-p4`; the case's BMv2 JSON and P4Info are pushed with
//!   SetForwardingPipelineConfig (VERIFY_AND_COMMIT), and the pipeline's
//!   rules, the setup and the timeline become P4Runtime writes through the
//!   P4Info ([`grpc`]). The CPU port is BMv2's `--cpu-port`: frames the
//!   pipeline sends there come back as packet-ins, and frames a case feeds
//!   into it go in as packet-outs; in both directions the runner turns the
//!   `packet_in`/`packet_out` metadata into the header bytes the fairshare
//!   switch puts on the wire, so both targets are compared against the
//!   same `expected/255.pcap`.
//! * `--target bmv2-cli` ([`Target::Bmv2Cli`]): `simple_switch` with the
//!   same writes through `simple_switch_CLI` (Thrift) ([`cli`]), and the
//!   CPU port a pcap file like any other. It runs pipelines that come as a
//!   BMv2 JSON without a P4Info.
//!
//! How a run goes: every data port the case uses gets a FIFO
//! `p<port>_in.pcap` (BMv2 opens each when it adds the port and reads the
//! pcap header at once, so each FIFO is opened from its own thread and the
//! header written there). The pipeline, its rules and the case's setup are
//! written before any packet; then the packets are written in time order,
//! 1 ms apart, each to its port's FIFO (or as a packet-out), and each FIFO
//! is closed after its last packet (at once on ports with no input).
//! BMv2 merges its file inputs by pcap timestamp and takes a packet only
//! when every open input has one waiting or has ended, so the packets come
//! out in the case's time order. Before a timeline write, and when the
//! input moves between the files and the P4Runtime stream (which BMv2 does
//! not order against each other), the runner waits until the frames
//! expected before that time are out and the outputs have stopped growing
//! for 200 ms (5 s at most). The packets written before a write are all
//! processed before it only when they come from one port (or from ports
//! that have ended); otherwise BMv2 may hold one until the next packet of
//! another port is written, after the write (vip-steer-per-edge's answer
//! is held so, and settling waits its full 5 s; its result does not depend
//! on the write). A case whose held packet depends on the write must be
//! listed as differing. At the end it waits for as many
//! frames as `expected/` holds (10 s at most, or 3 s without a new frame,
//! and 200 ms more to catch extra ones) and reads the counters.
//!
//! What differs from the fairshare switch, by design of BMv2: meters run
//! on the wall clock (pcap timestamps are ignored), output times are wall
//! clock (not compared), the switch's statistics do not exist (`stats`
//! expectations are not checked), and frames sent to a port no file names
//! are not seen. On `simple_switch_grpc`, a frame on the CPU port shorter
//! than the `packet_out` header cannot be sent (a packet-out carries the
//! header as metadata) and is left out; `simple_switch_CLI` has no command
//! for `meter_reset`.

pub mod cli;
pub mod grpc;

use crate::pcap::{self, Packet};
use crate::{Case, Error, Op, Pipeline, Run, Target};
use fairshare_switch::rules::Rules;
use fairshare_switch::Switch;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A BMv2 build: the folder of its programs, and which target it runs.
#[derive(Debug, Clone)]
pub struct Bmv2 {
    /// Holds `simple_switch_grpc` ([`Target::Bmv2`]) or `simple_switch`
    /// and `simple_switch_CLI` ([`Target::Bmv2Cli`]).
    pub bin: PathBuf,
    pub target: Target,
}

impl Bmv2 {
    /// The absolute path of one of its programs.
    pub fn program(&self, name: &str) -> PathBuf {
        self.bin.join(name)
    }
}

/// The programs a target needs.
pub fn programs(target: Target) -> &'static [&'static str] {
    match target {
        Target::Bmv2 => &["simple_switch_grpc"],
        Target::Bmv2Cli => &["simple_switch", "simple_switch_CLI"],
        Target::Fairshare => &[],
    }
}

/// Finds BMv2 for `target`: `FAIRSHARE_BMV2` (a folder with `bin/`), then
/// `<workspace>/../shared/bmv2`, then `PATH`. `Err` says where it looked.
pub fn find(workspace: &Path, target: Target) -> Result<Bmv2, String> {
    let names = programs(target);
    let in_dir = |d: &Path| {
        // Absolute, as the switch runs in its own folder.
        let d = std::fs::canonicalize(d).ok()?;
        names
            .iter()
            .all(|n| d.join(n).is_file())
            .then_some(Bmv2 { bin: d, target })
    };
    let wanted = names.join(" and ");
    if let Some(d) = std::env::var_os("FAIRSHARE_BMV2") {
        let d = PathBuf::from(d).join("bin");
        return in_dir(&d)
            .ok_or_else(|| format!("FAIRSHARE_BMV2 is set but {} has no {wanted}", d.display()));
    }
    let shared = workspace.join("../shared/bmv2/bin");
    if let Some(b) = in_dir(&shared) {
        return Ok(b);
    }
    if let Some(path) = std::env::var_os("PATH") {
        if let Some(b) = std::env::split_paths(&path).find_map(|d| in_dir(&d)) {
            return Ok(b);
        }
    }
    Err(format!(
        "no BMv2: FAIRSHARE_BMV2 is not set, and neither {} nor PATH has {wanted}",
        shared.display()
    ))
}

/// `case: reason` lines of the list of cases expected to differ on BMv2
/// (`<suite>/bmv2-differences.txt`; a suite without one expects none).
pub fn known_differences(suite: &Path) -> Result<BTreeMap<String, String>, Error> {
    let path = suite.join("bmv2-differences.txt");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(Error::Io { path, source: e }),
    };
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

/// Why `target` cannot run a case with pipeline `p`, if it cannot.
pub fn cannot_run(p: &Pipeline, target: Target) -> Option<String> {
    (target == Target::Bmv2 && p.p4info.is_none()).then(|| {
        "a BMv2 JSON without a P4Info: simple_switch_grpc takes a pipeline only with one \
         (give `pipeline.p4info`, or run it with --target bmv2-cli)"
            .to_string()
    })
}

/// The control plane of a running BMv2.
trait Control {
    /// Writes the pipeline's generated rules.
    fn rules(&mut self, r: &Rules) -> Result<(), String>;
    /// Applies ops in order; each is named by its place for errors.
    fn ops(&mut self, ops: &[(String, &Op)]) -> Result<(), String>;
    /// Sends a frame that enters on the CPU port (header included); false
    /// when it cannot be sent and was left out.
    fn packet_out(&mut self, frame: &[u8]) -> Result<bool, String>;
    /// Every frame sent to the CPU port so far (header included).
    fn packet_ins(&mut self) -> Vec<Vec<u8>>;
    /// `(packets, bytes)` of counter cells, in order.
    fn counters(&mut self, cells: &[(&str, u32)]) -> Result<Vec<(u64, u64)>, String>;
}

/// Kills the switch when the run ends, however it ends. (SIGKILL: a test
/// switch has nothing to save, and SIGTERM has been seen not to stop it.)
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}

/// Runs a case on BMv2 in `work/<case>`.
pub fn run(
    b: &Bmv2,
    case: &Case,
    p: &Pipeline,
    expected: &BTreeMap<u32, Vec<Packet>>,
    work: &Path,
) -> Result<Run, Error> {
    run_inner(b, case, p, expected, work).map_err(|e| Error::Bmv2(format!("{}: {e}", case.name)))
}

/// What comes out of the switch: its output files, and the CPU port's
/// frames from the control plane.
struct Outputs<'a> {
    dir: &'a Path,
    files: &'a BTreeSet<u32>,
    stream_port: Option<u32>,
    expected: &'a BTreeMap<u32, Vec<Packet>>,
}

impl Outputs<'_> {
    fn collect(&self, ctl: &mut dyn Control) -> BTreeMap<u32, Vec<Packet>> {
        let mut m: BTreeMap<u32, Vec<Packet>> = self
            .files
            .iter()
            .map(|port| {
                let data =
                    std::fs::read(self.dir.join(format!("p{port}_out.pcap"))).unwrap_or_default();
                (*port, complete_records(&data))
            })
            .collect();
        if let Some(cpu) = self.stream_port {
            let frames = ctl.packet_ins();
            m.insert(
                cpu,
                frames
                    .into_iter()
                    .map(|frame| Packet { at_us: 0, frame })
                    .collect(),
            );
        }
        m
    }

    fn count(&self, ctl: &mut dyn Control) -> usize {
        self.collect(ctl).values().map(Vec::len).sum()
    }

    /// Waits until the frames expected before `t` are out and nothing has
    /// come out for 200 ms (so that dropped packets, which leave no trace,
    /// have had their turn too), or 5 s have passed.
    fn settle(&self, ctl: &mut dyn Control, t: u64) {
        let want = self
            .expected
            .values()
            .flatten()
            .filter(|p| p.at_us < t)
            .count();
        let end = Instant::now() + Duration::from_secs(5);
        let mut last = self.count(ctl);
        let mut still = Instant::now();
        while Instant::now() < end && (last < want || still.elapsed() < Duration::from_millis(200))
        {
            std::thread::sleep(Duration::from_millis(25));
            let n = self.count(ctl);
            if n != last {
                last = n;
                still = Instant::now();
            }
        }
    }

    /// Waits until the expected number of frames is out, or nothing has
    /// come out for 3 s (a case that differs), or 10 s have passed; then
    /// 200 ms more to catch extra frames.
    fn finish(&self, ctl: &mut dyn Control) -> BTreeMap<u32, Vec<Packet>> {
        let want: usize = self.expected.values().map(Vec::len).sum();
        let deadline = Instant::now() + Duration::from_secs(10);
        let (mut last, mut still) = (self.count(ctl), Instant::now());
        while Instant::now() < deadline && last < want && still.elapsed() < Duration::from_secs(3) {
            std::thread::sleep(Duration::from_millis(25));
            let n = self.count(ctl);
            if n != last {
                (last, still) = (n, Instant::now());
            }
        }
        std::thread::sleep(Duration::from_millis(200));
        self.collect(ctl)
    }
}

/// The complete records of a pcap file BMv2 may still be writing.
fn complete_records(data: &[u8]) -> Vec<Packet> {
    let mut end = 24.min(data.len());
    while let Some(h) = data.get(end..end + 16) {
        let len = u32::from_le_bytes([h[8], h[9], h[10], h[11]]) as usize;
        if end + 16 + len > data.len() {
            break;
        }
        end += 16 + len;
    }
    pcap::read(&data[..end]).unwrap_or_default()
}

fn run_inner(
    b: &Bmv2,
    case: &Case,
    p: &Pipeline,
    expected: &BTreeMap<u32, Vec<Packet>>,
    work: &Path,
) -> Result<Run, String> {
    if let Some(why) = cannot_run(p, b.target) {
        return Err(why);
    }
    let sw = Switch::load(&p.json).map_err(|e| e.to_string())?;
    let dir = work.join(&case.name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    // On simple_switch_grpc the CPU port is the P4Runtime stream, not a file.
    let stream_port = match b.target {
        Target::Bmv2 => p.cpu_port,
        _ => None,
    };
    let files: BTreeSet<u32> = case
        .input_ports()
        .into_iter()
        .chain(expected.keys().copied())
        .filter(|port| Some(*port) != stream_port)
        .collect();
    for port in &files {
        let st = Command::new("mkfifo")
            .arg(dir.join(format!("p{port}_in.pcap")))
            .status()
            .map_err(|e| format!("mkfifo: {e}"))?;
        if !st.success() {
            return Err("mkfifo failed".into());
        }
    }
    let control_port = free_port()?;
    let mut args = vec![];
    if b.target == Target::Bmv2Cli {
        args.extend(["--thrift-port".to_string(), control_port.to_string()]);
    } else {
        args.extend(["--no-p4".to_string(), "--device-id".into(), "1".into()]);
    }
    for port in &files {
        args.extend(["-i".into(), format!("{port}@p{port}")]);
    }
    args.extend(["--use-files".into(), "0".into()]);
    let program = if b.target == Target::Bmv2Cli {
        std::fs::write(dir.join("p.json"), &p.json).map_err(|e| e.to_string())?;
        args.push("p.json".into());
        "simple_switch"
    } else {
        args.extend([
            "--".into(),
            "--grpc-server-addr".into(),
            format!("127.0.0.1:{control_port}"),
        ]);
        if let Some(cpu) = stream_port {
            args.extend(["--cpu-port".into(), cpu.to_string()]);
        }
        "simple_switch_grpc"
    };
    // What the switch prints (little, in this build) goes to a log, shown
    // when it stops early: a missing library is the usual reason.
    let log_path = dir.join("switch.log");
    let log =
        std::fs::File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
    let log2 = log.try_clone().map_err(|e| e.to_string())?;
    let child = Command::new(b.program(program))
        .current_dir(&dir)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2)
        .spawn()
        .map_err(|e| format!("{program}: {e}"))?;
    let mut guard = Running(child);
    let mut early_exit = |e: String| -> String {
        match guard.0.try_wait() {
            Ok(Some(status)) => {
                let text = std::fs::read_to_string(&log_path).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(10).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                format!(
                    "{e}\n{program} exited at start ({status}); its output:\n{}\n(missing libraries? \
                     ../shared/bmv2/install-deps.sh installs them, as root)",
                    tail.join("\n")
                )
            }
            _ => e,
        }
    };

    // Each FIFO is opened from its own thread (the switch opens them in
    // its own order) and gets its pcap header; the open files come back.
    let (tx, rx) = std::sync::mpsc::channel();
    for port in files.iter().copied() {
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
    let connected: Result<Box<dyn Control + '_>, String> = match b.target {
        Target::Bmv2Cli => {
            cli::Cli::connect(b, control_port, &sw, &p.json).map(|c| Box::new(c) as Box<_>)
        }
        _ => grpc::Grpc::connect(control_port, p, &sw).map(|c| Box::new(c) as Box<_>),
    };
    let mut ctl = connected.map_err(&mut early_exit)?;
    let mut fifos = BTreeMap::new();
    while fifos.len() < files.len() {
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok((port, Ok(f))) => {
                fifos.insert(port, f);
            }
            Ok((port, Err(e))) => return Err(early_exit(format!("port {port}: {e}"))),
            Err(_) => {
                return Err(early_exit(format!(
                    "{program} did not open every port within 10 s"
                )))
            }
        }
    }

    if let Some(r) = &p.rules {
        ctl.rules(r)?;
    }
    let setup: Vec<(String, &Op)> = case
        .setup
        .iter()
        .enumerate()
        .map(|(i, op)| (format!("setup[{i}]"), op))
        .collect();
    ctl.ops(&setup)?;

    let out = Outputs {
        dir: &dir,
        files: &files,
        stream_port,
        expected,
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
    let mut last_on_stream = None;
    for input in &case.inputs {
        let mut due = vec![];
        while let Some(e) = events.next_if(|e| e.at_us <= input.at_us) {
            due.push(e);
        }
        if let Some(first) = due.first() {
            out.settle(ctl.as_mut(), first.at_us);
            let ops: Vec<(String, &Op)> = due.iter().map(|e| (e.place.clone(), &e.op)).collect();
            ctl.ops(&ops)?;
        }
        let on_stream = Some(input.port) == stream_port;
        if last_on_stream.is_some_and(|s| s != on_stream) {
            out.settle(ctl.as_mut(), input.at_us);
        }
        last_on_stream = Some(on_stream);
        if on_stream {
            ctl.packet_out(&input.frame)
                .map_err(|e| format!("{}: {e}", input.place))?;
        } else {
            let f = fifos.get_mut(&input.port).ok_or("no FIFO for a port")?;
            f.write_all(&pcap::record(input.at_us, &input.frame))
                .and_then(|_| f.flush())
                .map_err(|e| {
                    format!(
                        "{program} stopped reading port {} ({}): {e}",
                        input.port, input.place
                    )
                })?;
        }
        if let Some(n) = left.get_mut(&input.port) {
            *n -= 1;
            if *n == 0 {
                fifos.remove(&input.port);
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let outputs = out.finish(ctl.as_mut());

    let mut run = Run {
        outputs,
        ..Run::default()
    };
    if sw.counter(crate::DROPS, 0).is_ok() {
        let n = fairshare_codegen::pipeline::DROP_REASONS.len() as u32;
        let cells: Vec<(&str, u32)> = (0..n).map(|i| (crate::DROPS, i)).collect();
        run.drops = Some(ctl.counters(&cells)?);
    }
    if !case.expect.counters.is_empty() {
        let cells: Vec<(&str, u32)> = case
            .expect
            .counters
            .iter()
            .map(|c| (c.counter.as_str(), c.index))
            .collect();
        run.counters = ctl.counters(&cells)?;
    }
    Ok(run)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_being_written_is_not_read_yet() {
        let a = Packet {
            at_us: 1,
            frame: vec![1; 60],
        };
        let b = Packet {
            at_us: 2,
            frame: vec![2; 70],
        };
        let whole = pcap::write(&[a.clone(), b]);
        for cut in [whole.len() - 1, whole.len() - 70, 24 + 16 + 60 + 15] {
            assert_eq!(
                complete_records(&whole[..cut]),
                vec![a.clone()],
                "cut at {cut}"
            );
        }
        assert_eq!(complete_records(&whole).len(), 2);
        assert!(complete_records(&whole[..10]).is_empty());
    }
}
