//! Judging a run: frames per port against `expected/`, decoded field by
//! field, and the counters a case names.

use crate::pcap::{self, Packet};
use crate::{inputs_by_port, read_expected, read_inputs, stat, Case, Error, Pipeline, Run, Target};
use fairshare_switch::cpu::ControllerHeader;
use std::collections::BTreeSet;
use std::fmt::Write as _;

/// What a case got wrong; empty when it passed.
#[derive(Debug, Clone, Default)]
pub struct Verdict {
    /// One block of text per problem (a port, a counter, a stale file).
    pub failures: Vec<String>,
}

impl Verdict {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for x in &self.failures {
            writeln!(f, "{}", x.trim_end())?;
        }
        Ok(())
    }
}

pub(crate) fn check(
    case: &Case,
    p: &Pipeline,
    run: &Run,
    target: Target,
) -> Result<Verdict, Error> {
    let mut v = Verdict::default();
    // The inputs on disk must be the description's.
    let on_disk = read_inputs(case)?;
    let wanted = inputs_by_port(case);
    let ports: BTreeSet<u32> = on_disk.keys().chain(wanted.keys()).copied().collect();
    for port in ports {
        if on_disk.get(&port) != wanted.get(&port) {
            v.failures.push(format!(
                "in/{port}.pcap is not what case.toml describes (edited without --bless?): review the description and run with --bless"
            ));
        }
    }
    let Some(expected) = read_expected(case)? else {
        v.failures.push(
            "no expected/ folder: run with --bless, then check every output (tshark or the decoded report)".into(),
        );
        return Ok(v);
    };
    let packet_in = crate::packet_in_header(p);
    let ports: BTreeSet<u32> = expected.keys().chain(run.outputs.keys()).copied().collect();
    let none = vec![];
    for port in ports {
        let want = expected.get(&port).unwrap_or(&none);
        let got = run.outputs.get(&port).unwrap_or(&none);
        let cpu = (p.cpu_port == Some(port))
            .then_some(packet_in.as_ref())
            .flatten();
        let text = port_diff(want, got, cpu, target == Target::Fairshare);
        if !text.is_empty() {
            let file = if expected.contains_key(&port) {
                format!("expected/{port}.pcap")
            } else {
                "no expected file: nothing expected".into()
            };
            v.failures.push(format!(
                "port {port} ({file}; {} expected, {} sent):\n{text}",
                want.len(),
                got.len()
            ));
        }
    }
    if let (Some(want), Some(got)) = (&case.expect.drops, &run.drops) {
        let mut text = String::new();
        for (i, (name, _)) in fairshare_codegen::pipeline::DROP_REASONS.iter().enumerate() {
            let w = want.get(*name).copied().unwrap_or(0);
            let g = got.get(i).map_or(0, |c| c.0);
            if w != g {
                let _ = writeln!(text, "  {name} (cell {i}): expected {w} packets, got {g}");
            }
        }
        if !text.is_empty() {
            v.failures
                .push(format!("counter {}:\n{text}", crate::DROPS));
        }
    }
    for (c, got) in case.expect.counters.iter().zip(&run.counters) {
        if c.packets.is_some_and(|w| w != got.0) || c.bytes.is_some_and(|w| w != got.1) {
            v.failures.push(format!(
                "counter {}[{}]: expected {} packets, {} bytes; got {} packets, {} bytes",
                c.counter,
                c.index,
                c.packets.map_or("any".into(), |x| x.to_string()),
                c.bytes.map_or("any".into(), |x| x.to_string()),
                got.0,
                got.1
            ));
        }
    }
    if let Some(stats) = &run.stats {
        for (name, want) in &case.expect.stats {
            let got = stat(stats, name).unwrap_or_default();
            if got != *want {
                v.failures
                    .push(format!("stats.{name}: expected {want}, got {got}"));
            }
        }
    }
    Ok(v)
}

/// At most this many packets are reported per port.
const MAX_REPORTED: usize = 12;

/// The differences on one port, as text (the first [`MAX_REPORTED`]
/// packets that differ); empty when there are none.
pub(crate) fn port_diff(
    want: &[Packet],
    got: &[Packet],
    cpu: Option<&ControllerHeader>,
    times: bool,
) -> String {
    let text = port_diff_all(want, got, cpu, times);
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let starts: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.starts_with("  packet "))
        .map(|(i, _)| i)
        .collect();
    if starts.len() <= MAX_REPORTED {
        return text;
    }
    let mut out: String = lines[..starts[MAX_REPORTED]].concat();
    let _ = writeln!(
        out,
        "  ... and {} more packets that differ",
        starts.len() - MAX_REPORTED
    );
    out
}

fn port_diff_all(
    want: &[Packet],
    got: &[Packet],
    cpu: Option<&ControllerHeader>,
    times: bool,
) -> String {
    let mut out = String::new();
    for (i, (w, g)) in want.iter().zip(got).enumerate() {
        let mut lines = vec![];
        if times && w.at_us != g.at_us {
            lines.push(format!(
                "time: expected {}, got {}",
                pcap::time(w.at_us),
                pcap::time(g.at_us)
            ));
        }
        let (mut we, mut ge) = (&w.frame[..], &g.frame[..]);
        if let Some(h) = cpu {
            let n = h.len();
            if we.len() >= n && ge.len() >= n {
                for (name, wv, gv) in controller_fields(h, &we[..n], &ge[..n]) {
                    if wv != gv {
                        lines.push(format!("packet_in.{name}: expected {wv}, got {gv}"));
                    }
                }
                we = &we[n..];
                ge = &ge[n..];
            }
        }
        let d = fairshare_packet::diff(we, ge, None);
        if !d.is_empty() {
            lines.extend(d.to_string().lines().map(str::to_string));
        }
        if !lines.is_empty() {
            let _ = writeln!(
                out,
                "  packet {} (sent at {}; {}):",
                i + 1,
                pcap::time(w.at_us),
                fairshare_packet::summary(strip(cpu, &w.frame))
            );
            for l in lines {
                let _ = writeln!(out, "    {l}");
            }
        }
    }
    for (i, w) in want.iter().enumerate().skip(got.len()) {
        let _ = writeln!(
            out,
            "  packet {}: missing (expected at {}: {})",
            i + 1,
            pcap::time(w.at_us),
            describe(cpu, &w.frame)
        );
    }
    for (i, g) in got.iter().enumerate().skip(want.len()) {
        let _ = writeln!(
            out,
            "  packet {}: not expected (sent at {}: {})",
            i + 1,
            pcap::time(g.at_us),
            describe(cpu, &g.frame)
        );
    }
    out
}

fn strip<'a>(cpu: Option<&ControllerHeader>, frame: &'a [u8]) -> &'a [u8] {
    match cpu {
        Some(h) if frame.len() >= h.len() => &frame[h.len()..],
        _ => frame,
    }
}

/// A one-line description, with the `packet_in` fields on the CPU port.
fn describe(cpu: Option<&ControllerHeader>, frame: &[u8]) -> String {
    match cpu {
        Some(h) if frame.len() >= h.len() => {
            let fields: Vec<String> = controller_fields(h, &frame[..h.len()], &frame[..h.len()])
                .into_iter()
                .map(|(n, v, _)| format!("{n} {v}"))
                .collect();
            format!(
                "packet_in {{{}}} + {}",
                fields.join(", "),
                fairshare_packet::summary(&frame[h.len()..])
            )
        }
        _ => fairshare_packet::summary(frame),
    }
}

/// `(name, expected, got)` for every field of a controller header.
fn controller_fields(h: &ControllerHeader, a: &[u8], b: &[u8]) -> Vec<(String, u128, u128)> {
    let mut off = 0usize;
    h.fields()
        .iter()
        .map(|f| {
            let w = f.width as usize;
            let x = fairshare_packet::bits(a, off, w).unwrap_or_default();
            let y = fairshare_packet::bits(b, off, w).unwrap_or_default();
            off += w;
            (f.name.clone(), x, y)
        })
        .collect()
}
