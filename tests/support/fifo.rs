//! Real simple_switch with its ports on pcap FIFOs, the way p4c's STF
//! runner drives it, but with no fixed wait: simple_switch opens each
//! input as it adds the port and reads the pcap header at once, so every
//! FIFO is opened from a thread of its own (the order of the opens is
//! simple_switch's) and given its header; the packets are held until
//! simple_switch_CLI has written the entries.

use super::{free_port, pcap, Bmv2, Running};
use std::collections::BTreeMap;
use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One run: a program, CLI commands, the ports to attach and what to send.
pub struct Run<'a> {
    pub json: &'a str,
    pub cli: &'a str,
    pub ports: &'a [u32],
    /// (port, frame), in sending order.
    pub inputs: &'a [(u32, Vec<u8>)],
    /// A pause after each packet on a port, so that simple_switch's queues
    /// never overflow; `None` sends as fast as the FIFO takes them.
    pub pace: Option<Duration>,
    /// Frames expected out in all: the run ends when they are out (and a
    /// little after, to catch more), when none came for a second, or after
    /// `timeout`.
    pub want: usize,
    pub timeout: Duration,
}

/// A frame out of simple_switch with its pcap timestamp (wall clock, µs).
pub type Timed = (u64, Vec<u8>);

/// Runs `run` in `dir` (emptied first); the frames out of each attached
/// port that sent any.
pub fn run(bmv2: &Bmv2, dir: &Path, run: &Run<'_>) -> Result<BTreeMap<u32, Vec<Timed>>, String> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("p.json"), run.json).map_err(|e| e.to_string())?;
    for p in run.ports {
        let st = Command::new("mkfifo")
            .arg(dir.join(format!("p{p}_in.pcap")))
            .status()
            .map_err(|e| format!("mkfifo: {e}"))?;
        if !st.success() {
            return Err("mkfifo failed".into());
        }
    }
    let thrift = free_port();
    let mut args = vec!["--thrift-port".to_string(), thrift.to_string()];
    for p in run.ports {
        args.extend(["-i".into(), format!("{p}@p{p}")]);
    }
    args.extend(["--use-files".into(), "0".into(), "p.json".into()]);
    let child = Command::new(&bmv2.simple_switch)
        .current_dir(dir)
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("simple_switch: {e}"))?;
    let _guard = Running(child);

    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let go_rx = Arc::new(Mutex::new(go_rx));
    let mut writers = vec![];
    for &p in run.ports {
        let path = dir.join(format!("p{p}_in.pcap"));
        // Whole pcap records, built before the go.
        let mut records = vec![];
        for (i, (_, d)) in run.inputs.iter().enumerate().filter(|(_, (q, _))| *q == p) {
            let mut rec = Vec::with_capacity(16 + d.len());
            rec.extend_from_slice(&(i as u32 + 1).to_le_bytes());
            rec.extend_from_slice(&0u32.to_le_bytes());
            rec.extend_from_slice(&(d.len() as u32).to_le_bytes());
            rec.extend_from_slice(&(d.len() as u32).to_le_bytes());
            rec.extend_from_slice(d);
            records.push((i, rec));
        }
        let rx = go_rx.clone();
        let pace = run.pace;
        writers.push(std::thread::spawn(move || -> Result<(), String> {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(|e| e.to_string())?;
            f.write_all(&pcap(&[])).map_err(|e| e.to_string())?;
            f.flush().map_err(|e| e.to_string())?;
            rx.lock().map_err(|e| e.to_string())?.recv().ok();
            let mut out = std::io::BufWriter::with_capacity(1 << 16, f);
            for (i, rec) in records {
                out.write_all(&rec).map_err(|e| {
                    format!("simple_switch stopped reading port {p} at input {i} (it exited): {e}")
                })?;
                if let Some(d) = pace {
                    out.flush().map_err(|e| e.to_string())?;
                    std::thread::sleep(d);
                }
            }
            out.flush()
                .map_err(|e| format!("simple_switch stopped reading port {p} (it exited): {e}"))?;
            Ok(())
        }));
    }
    let t0 = Instant::now();
    while TcpStream::connect(("127.0.0.1", thrift)).is_err() {
        if t0.elapsed() > Duration::from_secs(10) {
            return Err("simple_switch did not open its Thrift port".into());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    if !run.cli.is_empty() {
        let mut cli = Command::new(&bmv2.cli)
            .args(["--thrift-port", &thrift.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("simple_switch_CLI: {e}"))?;
        cli.stdin
            .take()
            .ok_or("CLI stdin")?
            .write_all(run.cli.as_bytes())
            .map_err(|e| e.to_string())?;
        let out = cli.wait_with_output().map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&out.stdout);
        if text.contains("Error") || text.contains("Invalid") {
            return Err(format!(
                "simple_switch_CLI refused a command:\n{}\n{text}",
                run.cli
            ));
        }
    }
    // Every writer takes one go (the channel is shared).
    for _ in run.ports {
        go_tx.send(()).map_err(|e| e.to_string())?;
    }
    for w in writers {
        w.join().map_err(|_| "writer thread panicked")??;
    }
    let collect = || -> BTreeMap<u32, Vec<Timed>> {
        run.ports
            .iter()
            .map(|p| (*p, read_timed(&dir.join(format!("p{p}_out.pcap")))))
            .filter(|(_, v)| !v.is_empty())
            .collect()
    };
    // Until `want` frames are out, or none came for a second (simple_switch
    // drops what its queues cannot take), or the time is up.
    let deadline = Instant::now() + run.timeout;
    let count = |m: &BTreeMap<u32, Vec<Timed>>| m.values().map(Vec::len).sum::<usize>();
    let mut seen = count(&collect());
    let mut last_growth = Instant::now();
    while Instant::now() < deadline && seen < run.want {
        std::thread::sleep(Duration::from_millis(50));
        let now = count(&collect());
        if now > seen {
            seen = now;
            last_growth = Instant::now();
        } else if last_growth.elapsed() > Duration::from_secs(1) {
            break;
        }
    }
    // A little longer, to catch frames beyond the ones expected.
    std::thread::sleep(Duration::from_millis(200));
    Ok(collect())
}

/// The records of a classic little-endian pcap file, with their times in
/// microseconds; a missing file or a cut record ends the list.
pub fn read_timed(path: &Path) -> Vec<Timed> {
    let data = std::fs::read(path).unwrap_or_default();
    let word = |o: usize| u32::from_le_bytes([data[o], data[o + 1], data[o + 2], data[o + 3]]);
    let mut out = vec![];
    let mut off = 24;
    while off + 16 <= data.len() {
        let t = u64::from(word(off)) * 1_000_000 + u64::from(word(off + 4));
        let len = word(off + 8) as usize;
        if off + 16 + len > data.len() {
            break;
        }
        out.push((t, data[off + 16..off + 16 + len].to_vec()));
        off += 16 + len;
    }
    out
}
