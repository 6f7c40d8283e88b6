//! `fairshare switch`: runs a BMv2 JSON pipeline on the built-in switch with
//! its ports on pcap files.
//!
//! Every input file is read first (pcap or pcapng), the packets of all
//! ports are merged by timestamp (ties keep the order of the command line,
//! then of the file), and each is processed at its own timestamp, counted
//! in microseconds from the earliest packet: meters therefore give the same
//! colours on every run. Output packets carry the timestamp of the packet
//! that produced them. Packets sent to a port without an output file are
//! counted as dropped. The drop counters are printed on exit.

use anyhow::{bail, Context, Result};
use clap::Args;
use fairshare_switch::{rules, Switch};
use pcap_file::pcap::{PcapPacket, PcapReader, PcapWriter};
use pcap_file::pcapng::{Block, PcapNgReader};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

const EXIT_BAD_INPUT: u8 = 2;

#[derive(Args, Debug)]
pub struct SwitchArgs {
    /// The BMv2 JSON pipeline (v1model, format 2.x).
    #[arg(long)]
    json: PathBuf,
    /// A rules.json as `fairshare compile` writes it: table entries and meter configurations.
    #[arg(long)]
    rules: Option<PathBuf>,
    /// An input port and the pcap or pcapng file its packets come from.
    #[arg(long = "pcap-in", value_name = "PORT=FILE")]
    pcap_in: Vec<String>,
    /// An output port and the pcap file its packets go to.
    #[arg(long = "pcap-out", value_name = "PORT=FILE")]
    pcap_out: Vec<String>,
    /// A folder with BMv2's naming: every `<port>_in.pcap` is an input, and
    /// each such port writes `<port>_out.pcap`.
    #[arg(long = "pcap-dir", value_name = "DIR")]
    pcap_dir: Option<PathBuf>,
    /// The egress port that means "drop".
    #[arg(long, default_value_t = fairshare_switch::DEFAULT_DROP_PORT)]
    drop_port: u32,
}

fn port_file(s: &str) -> Result<(u32, PathBuf)> {
    let Some((port, file)) = s.split_once('=') else {
        bail!("expected PORT=FILE, found `{s}`")
    };
    let port: u32 = port
        .parse()
        .with_context(|| format!("expected a port number before `=`, found `{port}`"))?;
    Ok((port, PathBuf::from(file)))
}

/// Reads every packet of a pcap or pcapng file with its timestamp.
fn read_packets(path: &Path) -> Result<Vec<(Duration, Vec<u8>)>> {
    let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let mut out = vec![];
    if data.starts_with(&[0x0a, 0x0d, 0x0d, 0x0a]) {
        let mut r = PcapNgReader::new(&data[..])
            .with_context(|| format!("{}: not a pcapng file", path.display()))?;
        while let Some(b) = r.next_block() {
            match b.with_context(|| format!("{}: a damaged pcapng block", path.display()))? {
                Block::EnhancedPacket(p) => out.push((p.timestamp, p.data.into_owned())),
                Block::SimplePacket(p) => out.push((Duration::ZERO, p.data.into_owned())),
                _ => {}
            }
        }
    } else {
        let mut r = PcapReader::new(&data[..])
            .with_context(|| format!("{}: not a pcap file", path.display()))?;
        while let Some(p) = r.next_packet() {
            let p = p.with_context(|| format!("{}: a damaged pcap record", path.display()))?;
            out.push((p.timestamp, p.data.into_owned()));
        }
    }
    Ok(out)
}

pub fn run(a: &SwitchArgs) -> Result<ExitCode> {
    let bad = |msg: String| -> Result<ExitCode> {
        eprintln!("error: {msg}");
        Ok(ExitCode::from(EXIT_BAD_INPUT))
    };
    let text = match std::fs::read_to_string(&a.json) {
        Ok(t) => t,
        Err(e) => return bad(format!("reading {}: {e}", a.json.display())),
    };
    let mut sw = match Switch::load(&text) {
        Ok(s) => s,
        Err(e) => return bad(format!("{}: {e}", a.json.display())),
    };
    sw.set_drop_port(a.drop_port);
    if let Some(r) = &a.rules {
        let text = match std::fs::read_to_string(r) {
            Ok(t) => t,
            Err(e) => return bad(format!("reading {}: {e}", r.display())),
        };
        if let Err(e) = rules::Rules::parse(&text).and_then(|rs| rules::apply(&mut sw, &rs)) {
            return bad(format!("{}: {e}", r.display()));
        }
    }
    let mut inputs = vec![];
    let mut outputs = vec![];
    for s in &a.pcap_in {
        match port_file(s) {
            Ok(x) => inputs.push(x),
            Err(e) => return bad(format!("--pcap-in: {e:#}")),
        }
    }
    for s in &a.pcap_out {
        match port_file(s) {
            Ok(x) => outputs.push(x),
            Err(e) => return bad(format!("--pcap-out: {e:#}")),
        }
    }
    if let Some(dir) = &a.pcap_dir {
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) => return bad(format!("reading {}: {e}", dir.display())),
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(port) = name
                .strip_suffix("_in.pcap")
                .and_then(|p| p.parse::<u32>().ok())
            {
                inputs.push((port, e.path()));
                outputs.push((port, dir.join(format!("{port}_out.pcap"))));
            }
        }
        inputs.sort();
    }
    if inputs.is_empty() {
        return bad("no input: give --pcap-in PORT=FILE or --pcap-dir DIR".into());
    }

    let mut packets = vec![];
    for (port, path) in &inputs {
        match read_packets(path) {
            Ok(ps) => packets.extend(ps.into_iter().map(|(ts, d)| (ts, *port, d))),
            Err(e) => return bad(format!("{e:#}")),
        }
    }
    // A stable sort keeps the command-line and file order among equal times.
    packets.sort_by_key(|(ts, _, _)| *ts);
    let origin = packets.first().map_or(Duration::ZERO, |p| p.0);

    let mut writers = BTreeMap::new();
    for (port, path) in &outputs {
        let f = File::create(path).with_context(|| format!("creating {}", path.display()))?;
        let w = PcapWriter::new(BufWriter::new(f))
            .with_context(|| format!("writing {}", path.display()))?;
        writers.insert(*port, w);
    }
    let mut failure = None;
    for (ts, port, data) in &packets {
        let now = (*ts - origin).as_micros() as u64;
        let mut sent = vec![];
        sw.process(*port, data, now, &mut |p, bytes| {
            sent.push((p, bytes.to_vec()))
        });
        for (p, bytes) in sent {
            match writers.get_mut(&p) {
                Some(w) => {
                    let pkt = PcapPacket::new(*ts, bytes.len() as u32, &bytes);
                    if let Err(e) = w.write_packet(&pkt) {
                        failure.get_or_insert(format!("writing the output of port {p}: {e}"));
                    }
                }
                None => sw.count_no_port(),
            }
        }
    }
    for (port, w) in writers {
        let mut inner = w.into_writer();
        if let Err(e) = std::io::Write::flush(&mut inner) {
            failure.get_or_insert(format!("writing the output of port {port}: {e}"));
        }
    }
    let s = sw.stats();
    eprintln!(
        "packets: {} received, {} sent; dropped: {} by ingress (drop port or mark_to_drop), {} by egress, {} to a multicast group, {} to a port without output; {} parser errors, {} checksum errors",
        s.received, s.sent, s.dropped_ingress, s.dropped_egress, s.dropped_multicast, s.dropped_no_port, s.parser_errors, s.checksum_errors
    );
    if let Some(f) = failure {
        bail!(f);
    }
    Ok(ExitCode::SUCCESS)
}
