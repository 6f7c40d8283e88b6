//! Differential tests on the conformance corpus: every program the fairshare
//! switch passes is loaded into real BMv2 `simple_switch` as well, with the
//! table entries its STF file writes, and both get the same packets: the
//! STF's own packets, every truncation of them, mutations and random bytes.
//! The frames out of every watched port must be the same, packet for
//! packet (the parser, the controls and the deparser agree byte for byte).
//!
//! Multicast and mirroring commands are the same in STF and in the CLI and
//! are passed on as they are.
//!
//! BMv2 reads its inputs from FIFOs (as p4c's STF runner does): the pcap
//! header goes in when simple_switch opens the port, the packets only after
//! simple_switch_CLI has written the entries. Programs whose STF needs
//! state the CLI translation does not carry (meters, registers, counter
//! writes) or keys the CLI cannot express
//! (optional) are left out and named in the output. When all packets
//! enter on one port, each output port's frames are compared in order;
//! otherwise (simple_switch reads ports in parallel) as sorted lists.
//! `tests/corpus-differences.txt` lists the programs whose BMv2 output
//! varies from run to run (threads racing for a register, stale header
//! values from packets processed in parallel), with the reason: they are
//! compared and reported, not asserted.
//!
//! P4 leaves the fields of a header that is not valid unspecified, and
//! simple_switch leaves whatever an earlier packet wrote there. Inputs
//! whose output or register writes change with those values are found by
//! running every input with header fields starting as zeros, as the packet
//! before left them and from several seeds ([`HeaderStart`]), and are not
//! sent; the summary line counts them.
//!
//! Needs BMv2 and `../shared/conformance`; skips with a printed reason
//! without them, unless `FAIRSHARE_REQUIRE_BMV2=1`.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use fairshare_stf::parse::Command as Stf;
use fairshare_switch::{HeaderStart, Switch};
use support::*;

/// The packets one input sent, with their ports.
type Outputs = Vec<(u32, Vec<u8>)>;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance/cases")
}

/// `case: reason` lines of a list file, by case.
fn listed(file: &str) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(file))
        .unwrap_or_else(|e| panic!("{file}: {e}"));
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(c, r)| (c.trim().to_string(), r.trim().to_string()))
        .collect()
}

/// xorshift64*, seeded per case so every run sends the same packets.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One program, ready for both switches.
struct Case {
    name: String,
    json: String,
    /// simple_switch_CLI commands that give BMv2 the same tables.
    cli: String,
    ports: Vec<u32>,
    inputs: Vec<(u32, Vec<u8>)>,
    /// Inputs left out because their output depends on unspecified values.
    unspecified: usize,
    /// All packets enter on one port, so each output port's order is
    /// defined; otherwise outputs are compared as sorted lists.
    one_input_port: bool,
    /// What the fairshare switch sent, per watched port.
    ours: BTreeMap<u32, Vec<Vec<u8>>>,
}

/// Reads a case; `Err` is the reason it is left out.
fn prepare(dir: &Path) -> Result<Case, String> {
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_string();
    let file = |ext: &str| dir.join(format!("{name}.{ext}"));
    let json = std::fs::read_to_string(file("json")).map_err(|e| e.to_string())?;
    let stf = std::fs::read_to_string(file("stf")).map_err(|e| e.to_string())?;
    let lines = fairshare_stf::parse(&stf).map_err(|e| e.to_string())?;
    let mut control = vec![];
    let mut replication = String::new();
    let mut packets = vec![];
    let mut ports = BTreeSet::new();
    for l in &lines {
        match &l.command {
            Stf::Add { .. } | Stf::SetDefault { .. } => control.push(l.clone()),
            // The same commands in simple_switch_CLI's syntax.
            Stf::McMgrpCreate { .. }
            | Stf::McNodeCreate { .. }
            | Stf::McNodeAssociate { .. }
            | Stf::MirroringAdd { .. }
            | Stf::MirroringAddMc { .. } => {
                control.push(l.clone());
                replication.push_str(&format!("{}\n", l.text.trim()));
            }
            Stf::Packet { port, data } => {
                ports.insert(*port);
                packets.push((*port, data.clone()));
            }
            Stf::Expect { port, .. } => {
                ports.insert(*port);
            }
            Stf::Wait
            | Stf::CounterRead { .. }
            | Stf::CheckCounter { .. }
            | Stf::RegisterRead { .. }
            | Stf::MeterGetRates { .. }
            | Stf::MirroringGet { .. } => {}
            _ => return Err(format!("line {}: `{}`", l.line, l.text)),
        }
    }
    if packets.is_empty() {
        return Err("no packets".into());
    }
    let doc: serde_json::Value = serde_json::from_str(&json).map_err(|e| e.to_string())?;
    // A switch with the STF's entries, header fields starting as `start`
    // says.
    let switch = |start: HeaderStart| -> Result<Switch, String> {
        let mut sw = Switch::load(&json).map_err(|e| e.to_string())?;
        sw.set_header_start(start);
        let outcome = fairshare_stf::run::run_lines(&mut sw, &doc, &control);
        if outcome.failures.is_empty() {
            Ok(sw)
        } else {
            Err(outcome.reason())
        }
    };
    let fresh = Switch::load(&json).map_err(|e| e.to_string())?;
    let cli = support::switch_cli::commands(&switch(HeaderStart::Zero)?, &fresh)? + &replication;

    let mut rng = Rng(name.bytes().fold(0x9e37_79b9_7f4a_7c15, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    }) | 1);
    let mut inputs = vec![];
    for (port, data) in &packets {
        inputs.push((*port, data.clone()));
        for len in 1..data.len() {
            inputs.push((*port, data[..len].to_vec()));
        }
        for _ in 0..8 {
            let mut m = data.clone();
            for _ in 0..=rng.below(3) {
                let i = rng.below(m.len());
                m[i] = rng.next() as u8;
            }
            inputs.push((*port, m));
        }
    }
    let port_list: Vec<u32> = ports.iter().copied().collect();
    for _ in 0..16 {
        let len = 1 + rng.below(96);
        let data = (0..len).map(|_| rng.next() as u8).collect();
        inputs.push((port_list[rng.below(port_list.len())], data));
    }
    inputs.truncate(600);

    // Inputs whose effect depends on the values of header fields P4
    // leaves unspecified (BMv2 has stale values there) are not sent: the
    // same inputs run with header fields starting as zeros, as the packet
    // before left them, and from several seeds, and
    // an input whose output, or whose register writes, differ among them
    // is left out. With registers, a difference in state shows first at
    // the input that caused it; that input is removed and the run starts
    // again, so that later inputs are judged from the same state.
    let registers: Vec<(String, u32)> = doc["register_arrays"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| Some((r["name"].as_str()?.to_string(), r["size"].as_u64()? as u32)))
        .collect();
    let total = inputs.len();
    loop {
        let starts = [HeaderStart::Zero, HeaderStart::Kept]
            .into_iter()
            .chain((1..=6).map(HeaderStart::Seeded));
        let mut switches = starts.map(switch).collect::<Result<Vec<_>, _>>()?;
        let mut defined = vec![true; inputs.len()];
        let mut culprit = None;
        for (i, (port, data)) in inputs.iter().enumerate() {
            let mut seen: Option<(Outputs, Vec<u128>)> = None;
            for sw in &mut switches {
                let mut out = vec![];
                sw.process(*port, data, i as u64, &mut |p, bytes| {
                    out.push((p, bytes.to_vec()))
                });
                let state: Vec<u128> = registers
                    .iter()
                    .flat_map(|(r, n)| (0..*n).map(|k| sw.register(r, k).unwrap_or(0)))
                    .collect();
                match &seen {
                    None => seen = Some((out, state)),
                    Some((o, st)) => {
                        if *st != state {
                            culprit = Some(i);
                        }
                        if *o != out {
                            defined[i] = false;
                        }
                    }
                }
            }
            if culprit.is_some() {
                break;
            }
        }
        match culprit {
            Some(i) => {
                inputs.remove(i);
            }
            None => {
                let mut i = 0;
                inputs.retain(|_| {
                    i += 1;
                    defined[i - 1]
                });
                break;
            }
        }
    }
    let unspecified = total - inputs.len();
    if inputs.is_empty() {
        return Err("every input reads unspecified header fields".into());
    }
    let mut ours: BTreeMap<u32, Vec<Vec<u8>>> = BTreeMap::new();
    let mut sw = switch(HeaderStart::Zero)?;
    for (i, (port, data)) in inputs.iter().enumerate() {
        sw.process(*port, data, i as u64, &mut |p, bytes| {
            if ports.contains(&p) {
                ours.entry(p).or_default().push(bytes.to_vec());
            }
        });
    }
    let one_input_port = inputs.iter().all(|(p, _)| *p == inputs[0].0);
    if !one_input_port {
        for v in ours.values_mut() {
            v.sort();
        }
    }
    Ok(Case {
        unspecified,
        one_input_port,
        name,
        json,
        cli,
        ports: port_list,
        inputs,
        ours,
    })
}

/// Runs a case on simple_switch with FIFO inputs; the frames per port
/// (sorted unless all inputs enter on one port).
fn run_on_bmv2(bmv2: &Bmv2, case: &Case) -> Result<BTreeMap<u32, Vec<Vec<u8>>>, String> {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("corpus-diff/{}", case.name));
    let out = fifo::run(
        bmv2,
        &dir,
        &fifo::Run {
            json: &case.json,
            cli: &case.cli,
            ports: &case.ports,
            inputs: &case.inputs,
            pace: Some(Duration::from_micros(300)),
            want: case.ours.values().map(Vec::len).sum(),
            timeout: Duration::from_secs(10),
        },
    )?;
    Ok(out
        .into_iter()
        .map(|(p, frames)| {
            let mut v: Vec<Vec<u8>> = frames.into_iter().map(|(_, f)| f).collect();
            if !case.one_input_port {
                v.sort();
            }
            (p, v)
        })
        .collect())
}

fn first_lines(text: &str, n: usize) -> String {
    let mut out: String = text.lines().take(n).map(|l| format!("{l}\n")).collect();
    if text.lines().count() > n {
        out += "...\n";
    }
    out
}

#[test]
fn corpus_programs_agree_with_bmv2() {
    let Some(bmv2) = bmv2_or_skip() else { return };
    let dir = corpus_dir();
    if !dir.is_dir() {
        assert!(
            std::env::var_os("FAIRSHARE_REQUIRE_BMV2").is_none_or(|v| v != "1"),
            "FAIRSHARE_REQUIRE_BMV2=1 but {} is missing",
            dir.display()
        );
        println!("skipped: no conformance corpus at {}", dir.display());
        return;
    }
    // Programs the fairshare switch does not pass yet are not compared.
    let known = listed("runtime/stf/tests/known-failures.txt");
    let differ = listed("tests/corpus-differences.txt");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("corpus")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    let mut left_out = vec![];
    let mut cases = vec![];
    for d in &dirs {
        let name = d.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if known.contains_key(name) {
            continue;
        }
        match prepare(d) {
            Ok(c) => cases.push(c),
            Err(why) => left_out.push(format!("{name}: {}", why.lines().next().unwrap_or(""))),
        }
    }
    let next = AtomicUsize::new(0);
    let failures = Mutex::new(vec![]);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(c) = cases.get(i) else { break };
                let result = run_on_bmv2(&bmv2, c).and_then(|theirs| {
                    let mut report = String::new();
                    for p in &c.ports {
                        let none = vec![];
                        let want = theirs.get(p).unwrap_or(&none);
                        let got = c.ours.get(p).unwrap_or(&none);
                        let d = fairshare_packet::diff_streams(want, got);
                        if !d.is_empty() {
                            // Both sides as hex lines, beside BMv2's files.
                            let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
                                .join(format!("corpus-diff/{}", c.name));
                            let lines = |v: &[Vec<u8>]| -> String {
                                v.iter().map(|f| format!("{}\n", fairshare_stf::run::hex(f))).collect()
                            };
                            let _ = std::fs::write(dir.join(format!("p{p}_bmv2.txt")), lines(want));
                            let _ = std::fs::write(dir.join(format!("p{p}_fairshare.txt")), lines(got));
                            let order = if c.one_input_port { "in order" } else { "sorted" };
                            report += &format!(
                                "port {p} (expected: BMv2, got: fairshare switch; {order}; {} vs {} packets):\n{}",
                                want.len(),
                                got.len(),
                                first_lines(&d.to_string(), 12)
                            );
                        }
                    }
                    if report.is_empty() {
                        Ok(())
                    } else {
                        Err(report)
                    }
                });
                let problem = match (result, differ.get(&c.name)) {
                    (Err(e), None) => Some(format!("{}:\n{e}", c.name)),
                    (Err(e), Some(why)) => {
                        println!("{}: differs this time; BMv2 varies here ({why})\n{}", c.name, first_lines(&e, 4));
                        None
                    }
                    (Ok(()), Some(_)) => {
                        println!("{}: agrees this time", c.name);
                        None
                    }
                    (Ok(()), None) => None,
                };
                if let Some(p) = problem {
                    failures.lock().expect("lock").push(p);
                }
            });
        }
    });
    let sent: usize = cases.iter().map(|c| c.inputs.len()).sum();
    let unspecified: usize = cases.iter().map(|c| c.unspecified).sum();
    println!(
        "{} programs compared with BMv2 ({sent} packets; {unspecified} more read unspecified header fields and were not sent); programs left out: {}",
        cases.len(),
        left_out.len()
    );
    for l in &left_out {
        println!("  left out {l}");
    }
    let failures = failures.into_inner().expect("lock");
    assert!(
        failures.is_empty(),
        "{} of {} programs differ from BMv2:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    assert!(
        cases.len() >= 50,
        "too few programs compared: {}",
        cases.len()
    );
}
