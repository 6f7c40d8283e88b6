//! `fairshare switch`: runs a BMv2 JSON pipeline on the built-in switch with
//! its ports on pcap files.
//!
//! Every input file is read first (pcap or pcapng), the packets of all
//! ports are merged by timestamp (ties go to the lower port number, then
//! keep the file's order), and each is processed at its own timestamp,
//! counted in microseconds from the earliest packet: meters therefore give
//! the same colours on every run. Output packets carry the timestamp of the
//! packet that produced them. Packets sent to a port without an output file
//! are counted as dropped. The drop counters are printed on exit.
//!
//! With `--cpu-port N`, packets sent to port N go to the controller as
//! `simple_switch_grpc` hands them over: the program's `packet_in` header
//! is stripped and its fields become the packet-in's metadata; with
//! `--packet-in FILE` each is written as one JSON line.
//!
//! With `--grpc ADDR` the switch is a P4Runtime device instead, as
//! `simple_switch_grpc --no-p4` is one: it starts without a pipeline and
//! takes the BMv2 JSON and P4Info from SetForwardingPipelineConfig. It
//! prints `P4Runtime on ADDR` (the bound address) on stdout when it
//! listens, and serves until --run-for ends (or it is killed). The device
//! id is --device-id; the CPU port is --cpu-port, 255 if not given.

use anyhow::{bail, Context, Result};
use clap::Args;
use fairshare_switch::port::{self, ControllerPort, Device, PcapPort};
use fairshare_switch::{rules, CpuPort, Switch};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

const EXIT_BAD_INPUT: u8 = 2;

// The help of --busy-poll-us gives the default in microseconds.
const _: () = assert!(fairshare_p4rt::busy::DEFAULT_BUDGET.as_micros() == 1000);

#[derive(Args, Debug)]
pub struct SwitchArgs {
    /// The BMv2 JSON pipeline (v1model, format 2.x).
    #[arg(long, required_unless_present = "grpc")]
    json: Option<PathBuf>,
    /// Serve P4Runtime on this address (127.0.0.1:9559 when no address is
    /// given) and take the pipeline from the controller; data-plane ports
    /// are not served in this mode yet.
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "127.0.0.1:9559", conflicts_with_all = ["json", "rules", "pcap_in", "pcap_out", "pcap_dir", "iface", "packet_in"])]
    grpc: Option<std::net::SocketAddr>,
    /// With --grpc: start without a pipeline, as `simple_switch_grpc
    /// --no-p4` does. A P4Runtime switch here always starts so (the
    /// controller pushes the pipeline); the flag is taken so that a
    /// simple_switch_grpc command line carries over.
    #[arg(long = "no-p4")]
    no_p4: bool,
    /// The P4Runtime device id (with --grpc) [default: 0].
    #[arg(long = "device-id", value_name = "N")]
    device_id: Option<u64>,
    /// With --grpc: how long, in microseconds, the server keeps polling a
    /// connection after its last request or answer, so that a controller's
    /// next request is read at once (0 turns it off).
    /// [default: 1000]
    #[arg(long = "busy-poll-us", value_name = "US")]
    busy_poll_us: Option<u64>,
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
    /// The CPU port: packets sent to it lose their `packet_in` header and
    /// go to the controller (see --packet-in).
    #[arg(long = "cpu-port", value_name = "N")]
    cpu_port: Option<u32>,
    /// Where the packets for the controller go, one JSON line each:
    /// `{"time_us":..,"metadata":[{"id":1,"name":"ingress_port","value":"0x0003"}],"payload":"<hex>"}`.
    #[arg(long = "packet-in", value_name = "FILE", requires = "cpu_port")]
    packet_in: Option<PathBuf>,
    /// A port on a Linux network interface (AF_PACKET; needs CAP_NET_RAW),
    /// e.g. `1=veth0`. With interfaces the switch runs live, on the wall
    /// clock, until --run-for ends (or it is killed).
    #[arg(long = "iface", value_name = "PORT=NAME")]
    iface: Vec<String>,
    /// How long a live switch runs, in seconds.
    #[arg(long = "run-for", value_name = "SECS")]
    run_for: Option<f64>,
    /// The egress port that means "drop".
    #[arg(long, default_value_t = fairshare_switch::DEFAULT_DROP_PORT)]
    drop_port: u32,
    /// Priority queues per port, as `simple_switch --priority-queues`: a
    /// copy whose `intrinsic_metadata.priority` is N or more is dropped
    /// when it would be queued for egress.
    #[arg(
        long = "priority-queues",
        value_name = "N",
        default_value_t = fairshare_switch::DEFAULT_PRIORITY_QUEUES,
        value_parser = clap::value_parser!(u32).range(1..=i64::from(fairshare_switch::pre::MAX_PRIORITY_QUEUES)),
    )]
    priority_queues: u32,
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
    port::read_pcap(&data).with_context(|| format!("{}", path.display()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn run(a: &SwitchArgs) -> Result<ExitCode> {
    let bad = |msg: String| -> Result<ExitCode> {
        eprintln!("error: {msg}");
        Ok(ExitCode::from(EXIT_BAD_INPUT))
    };
    if let Some(addr) = a.grpc {
        return serve_grpc(a, addr);
    }
    if a.device_id.is_some() || a.busy_poll_us.is_some() || a.no_p4 {
        return bad("--device-id, --busy-poll-us and --no-p4 go with --grpc".into());
    }
    let Some(json) = &a.json else {
        return bad("expected --json FILE or --grpc ADDR".into());
    };
    let text = match std::fs::read_to_string(json) {
        Ok(t) => t,
        Err(e) => return bad(format!("reading {}: {e}", json.display())),
    };
    let mut sw = match Switch::load(&text) {
        Ok(s) => s,
        Err(e) => return bad(format!("{}: {e}", json.display())),
    };
    sw.set_drop_port(a.drop_port);
    if let Err(e) = sw.set_priority_queues(a.priority_queues) {
        return bad(format!("--priority-queues: {e}"));
    }
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
    let mut ifaces = vec![];
    for s in &a.iface {
        match port_file(s) {
            Ok((port, name)) => ifaces.push((port, name.to_string_lossy().into_owned())),
            Err(e) => return bad(format!("--iface: {e:#}")),
        }
    }
    if inputs.is_empty() && ifaces.is_empty() {
        return bad(
            "no input: give --pcap-in PORT=FILE, --pcap-dir DIR or --iface PORT=NAME".into(),
        );
    }

    let mut packets: BTreeMap<u32, Vec<(Duration, Vec<u8>)>> = BTreeMap::new();
    for (port, path) in &inputs {
        match read_packets(path) {
            Ok(ps) => packets.entry(*port).or_default().extend(ps),
            Err(e) => return bad(format!("{e:#}")),
        }
    }
    // Packets of a port are taken in time order (a stable sort keeps the
    // files' order among equal times).
    for ps in packets.values_mut() {
        ps.sort_by_key(|(ts, _)| *ts);
    }
    let origin = packets
        .values()
        .filter_map(|ps| ps.first().map(|p| p.0))
        .min()
        .unwrap_or(Duration::ZERO);

    let cpu = match a.cpu_port.map(|n| CpuPort::detect(&sw, n)).transpose() {
        Ok(c) => c,
        Err(e) => return bad(format!("--cpu-port: {e}")),
    };
    let mut dev = Device::new(sw);
    let mut outputs: BTreeMap<u32, PathBuf> = outputs.into_iter().collect();
    let mut ports: Vec<u32> = packets.keys().chain(outputs.keys()).copied().collect();
    ports.sort();
    ports.dedup();
    for n in ports {
        if Some(n) == a.cpu_port {
            continue;
        }
        let writer: Option<Box<dyn Write + Send>> = match outputs.remove(&n) {
            Some(path) => {
                let f =
                    File::create(&path).with_context(|| format!("creating {}", path.display()))?;
                Some(Box::new(BufWriter::new(f)))
            }
            None => None,
        };
        let input = packets.remove(&n).unwrap_or_default();
        let p = PcapPort::new(input, origin, writer)
            .with_context(|| format!("writing the output of port {n}"))?;
        dev.attach(n, Box::new(p));
    }
    #[cfg(target_os = "linux")]
    for (n, name) in &ifaces {
        match port::LinuxIface::open(name) {
            Ok(p) => dev.attach(*n, Box::new(p)),
            Err(e) => return bad(format!("--iface {n}={name}: {e}")),
        }
    }
    #[cfg(not(target_os = "linux"))]
    if !ifaces.is_empty() {
        return bad("--iface needs Linux (AF_PACKET)".into());
    }
    let live = !ifaces.is_empty();
    let started = std::time::Instant::now();
    if live {
        dev.set_clock(port::Clock::Wall(started));
    }
    let deadline = a
        .run_for
        .map(|s| started + Duration::from_secs_f64(s.max(0.0)));
    let mut punted = 0u64;
    let packet_ins = match cpu {
        Some(cpu) => {
            let n = cpu.port;
            let names = cpu
                .packet_in
                .as_ref()
                .map(|h| h.fields().to_vec())
                .unwrap_or_default();
            let (p, _packet_outs, rx) = ControllerPort::with_channel(cpu);
            dev.attach(n, Box::new(p));
            Some((rx, names))
        }
        None => None,
    };
    let mut lines = match &a.packet_in {
        Some(path) => Some(BufWriter::new(
            File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None => None,
    };
    let mut failure = None;
    loop {
        if live && deadline.is_some_and(|d| std::time::Instant::now() >= d) {
            break;
        }
        match dev.step() {
            Ok(true) => {}
            Ok(false) if !live => break,
            Ok(false) => std::thread::sleep(Duration::from_micros(200)),
            Err(e) => {
                failure.get_or_insert(format!("{e}"));
                break;
            }
        }
        if let Some((rx, names)) = &packet_ins {
            while let Ok((time, pin)) = rx.try_recv() {
                punted += 1;
                if let Some(w) = &mut lines {
                    let metadata: Vec<serde_json::Value> = pin
                        .metadata
                        .iter()
                        .map(|m| {
                            let name = names.iter().find(|f| f.id == m.id).map(|f| f.name.as_str());
                            serde_json::json!({"id": m.id, "name": name, "value": format!("0x{}", hex(&m.value))})
                        })
                        .collect();
                    let line = serde_json::json!({"time_us": time, "metadata": metadata, "payload": hex(&pin.payload)});
                    if let Err(e) = writeln!(w, "{line}") {
                        failure.get_or_insert(format!("writing the packet-ins: {e}"));
                    }
                }
            }
        }
    }
    if let Err(e) = dev.flush() {
        failure.get_or_insert(format!("writing the outputs: {e}"));
    }
    if let Some(w) = &mut lines {
        if let Err(e) = w.flush() {
            failure.get_or_insert(format!("writing the packet-ins: {e}"));
        }
    }
    let sw = &dev.switch;
    let s = sw.stats();
    eprintln!(
        "packets: {} received, {} sent; dropped: {} by ingress (drop port or mark_to_drop), {} by egress, {} to a multicast group, {} to a port without output; {} parser errors, {} checksum errors",
        s.received, s.sent, s.dropped_ingress, s.dropped_egress, s.dropped_multicast, s.dropped_no_port, s.parser_errors, s.checksum_errors
    );
    // Replication and the rarer events, only when something happened.
    let extra: Vec<String> = [
        ("cloned", s.cloned),
        ("clones to a session not configured", s.clone_no_session),
        ("multicast copies", s.replicated),
        ("resubmitted", s.resubmitted),
        ("recirculated", s.recirculated),
        (
            "dropped past the resubmit/recirculate/copy limits",
            s.dropped_loop,
        ),
        (
            "dropped for a priority without a queue (--priority-queues)",
            s.dropped_priority,
        ),
        ("extern or stack indices out of range", s.index_errors),
        ("failed assert/assume", s.assert_failures),
    ]
    .iter()
    .filter(|(_, n)| *n > 0)
    .map(|(what, n)| format!("{n} {what}"))
    .collect();
    if !extra.is_empty() {
        eprintln!("also: {}", extra.join(", "));
    }
    if a.cpu_port.is_some() {
        eprintln!("packet-ins: {punted}");
    }
    if let Some(f) = failure {
        bail!(f);
    }
    Ok(ExitCode::SUCCESS)
}

/// `--grpc`: a P4Runtime device without a pipeline.
fn serve_grpc(a: &SwitchArgs, addr: std::net::SocketAddr) -> Result<ExitCode> {
    let config = fairshare_switch_p4rt::Config {
        device_id: a.device_id.unwrap_or(0),
        cpu_port: a.cpu_port.unwrap_or(255),
        drop_port: a.drop_port,
        priority_queues: a.priority_queues,
        busy_poll: a
            .busy_poll_us
            .map_or(fairshare_p4rt::busy::DEFAULT_BUDGET, Duration::from_micros),
    };
    let listener = match std::net::TcpListener::bind(addr) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: --grpc {addr}: {e}");
            return Ok(ExitCode::from(EXIT_BAD_INPUT));
        }
    };
    let bound = listener.local_addr().context("reading the bound address")?;
    println!("P4Runtime on {bound}");
    std::io::stdout().flush().context("writing to stdout")?;
    let switch = fairshare_switch_p4rt::P4rtSwitch::new(config, None);
    let stop_after = a.run_for.map(|s| Duration::from_secs_f64(s.max(0.0)));
    switch.run_blocking(listener, stop_after)?;
    Ok(ExitCode::SUCCESS)
}
