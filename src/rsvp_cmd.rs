//! `fairshare rsvp decode|encode`: RSVP messages in pcap captures (pcap or
//! pcapng to decode, pcap written by encode), as JSON
//! lines a person can read and edit, and back.
//!
//! One line per RSVP frame: `{"frame", "ts_sec", "ts_nsec", "ip", "message"}`
//! where `ip` holds the Ethernet and IPv4 fields and `message` the validated
//! model of `fairshare_rsvp`. A frame that carries RSVP (IPv4 protocol 46) but
//! does not parse gives `{"frame", "ts_sec", "ts_nsec", "error", "bytes"}`,
//! the frame kept in hex so that encode writes it back unchanged. Frames that
//! are not RSVP are left out.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use fairshare_rsvp::frame::{parse_frame, FrameHeader};
use fairshare_rsvp::{parse_hex, Error as RsvpError, Message, ParseOptions};
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapReader, PcapWriter};
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::pcapng::{Block, PcapNgReader};
use pcap_file::{DataLink, Endianness, TsResolution};
use serde::{Deserialize, Serialize};

#[derive(Debug, clap::Subcommand)]
pub enum RsvpCommand {
    /// Print every RSVP message of a capture as one JSON object per line.
    Decode {
        /// A pcap or pcapng file with Ethernet frames.
        file: PathBuf,
    },
    /// Build a capture from the JSON lines that `decode` prints.
    Encode {
        /// JSON lines, as printed by `decode`.
        file: PathBuf,
        /// The pcap file to write; written only if every line is good.
        #[arg(short, long)]
        output: PathBuf,
    },
}

/// Runs the command. An error whose root cause is an IO failure (a file
/// that cannot be opened or written) exits 1; any other (a file that is not
/// a capture, a JSON line that does not describe a frame) is bad input and
/// exits 2, as the other commands do.
pub fn run(cmd: RsvpCommand) -> anyhow::Result<ExitCode> {
    match run_inner(cmd) {
        Ok(code) => Ok(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            Ok(ExitCode::from(exit_code_for(&e)))
        }
    }
}

/// 1 for an IO failure, 2 for bad input. A file that ends early or holds
/// bytes that are not what was expected is bad input, even when the reader
/// reports it as an IO error.
fn exit_code_for(e: &anyhow::Error) -> u8 {
    use std::io::ErrorKind;
    match e
        .root_cause()
        .downcast_ref::<std::io::Error>()
        .map(|io| io.kind())
    {
        Some(ErrorKind::UnexpectedEof | ErrorKind::InvalidData) | None => 2,
        Some(_) => 1,
    }
}

fn run_inner(cmd: RsvpCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        RsvpCommand::Decode { file } => {
            let stdout = std::io::stdout();
            let mut out = BufWriter::new(stdout.lock());
            let summary = decode(&file, &mut out)?;
            out.flush()?;
            eprintln!(
                "{}: {} RSVP messages, {} malformed, {} other frames",
                file.display(),
                summary.messages,
                summary.malformed,
                summary.other
            );
            Ok(ExitCode::SUCCESS)
        }
        RsvpCommand::Encode { file, output } => {
            let n = encode(&file, &output)?;
            eprintln!("{}: {n} frames", output.display());
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// One decoded RSVP frame.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct MessageLine {
    frame: u64,
    ts_sec: u64,
    ts_nsec: u32,
    ip: FrameHeader,
    message: Message,
}

/// One RSVP frame that did not parse.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct MalformedLine {
    frame: u64,
    ts_sec: u64,
    ts_nsec: u32,
    error: String,
    /// The whole frame in hex.
    bytes: String,
}

#[derive(Debug, Default, PartialEq, Eq)]
struct Summary {
    messages: usize,
    malformed: usize,
    other: usize,
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
}

/// The first four bytes of a pcapng file (its Section Header Block type).
const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];

/// Reads a pcap or a pcapng capture (told apart by their first bytes).
fn decode(path: &Path, out: &mut dyn Write) -> anyhow::Result<Summary> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut input = BufReader::new(file);
    let head = input
        .fill_buf()
        .with_context(|| format!("cannot read {}", path.display()))?;
    let mut d = Decoder {
        path,
        out,
        summary: Summary::default(),
        frame: 0,
    };
    if head.starts_with(&PCAPNG_MAGIC) {
        d.pcapng(input)?;
    } else {
        d.pcap(input)?;
    }
    Ok(d.summary)
}

/// Writes one line per RSVP frame of a capture.
struct Decoder<'a> {
    path: &'a Path,
    out: &'a mut dyn Write,
    summary: Summary,
    /// The number of the last frame read, counted from 1.
    frame: u64,
}

impl Decoder<'_> {
    fn pcap(&mut self, input: BufReader<File>) -> anyhow::Result<()> {
        let path = self.path;
        let mut reader = PcapReader::new(input)
            .with_context(|| format!("{}: not a pcap file", path.display()))?;
        let link = reader.header().datalink;
        if link != DataLink::ETHERNET {
            bail!(
                "{}: expected Ethernet frames (link type 1), found {link:?}",
                path.display()
            );
        }
        while let Some(packet) = reader.next_packet() {
            self.frame += 1;
            let packet =
                packet.with_context(|| format!("{}: frame {}", path.display(), self.frame))?;
            self.line(packet.timestamp, &packet.data)?;
        }
        Ok(())
    }

    /// Enhanced and simple packet blocks are frames; every interface that
    /// carries one must be Ethernet. Timestamps follow each interface's
    /// resolution and offset options.
    fn pcapng(&mut self, input: BufReader<File>) -> anyhow::Result<()> {
        let path = self.path;
        let mut reader = PcapNgReader::new(input)
            .with_context(|| format!("{}: not a pcapng file", path.display()))?;
        while let Some(block) = reader.next_block() {
            let block = block
                .with_context(|| format!("{}: block after frame {}", path.display(), self.frame))?;
            // The block borrows the reader, whose interfaces are read next.
            let (interface, timestamp, data) = match block {
                Block::EnhancedPacket(p) => {
                    (p.interface_id, Some(p.timestamp), p.data.into_owned())
                }
                Block::SimplePacket(p) => {
                    // The block's data may end in padding; the original
                    // length says where the frame ends.
                    let len = (p.original_len as usize).min(p.data.len());
                    (0, None, p.data[..len].to_vec())
                }
                _ => continue,
            };
            self.frame += 1;
            let Some(idb) = reader.interfaces().get(interface as usize) else {
                bail!(
                    "{}: frame {}: expected the description of interface {interface} before it, found none",
                    path.display(),
                    self.frame
                );
            };
            if idb.linktype != DataLink::ETHERNET {
                bail!(
                    "{}: frame {}: expected Ethernet frames (link type 1) on interface {interface}, found {:?}",
                    path.display(),
                    self.frame,
                    idb.linktype
                );
            }
            let ts = match timestamp {
                Some(raw) => pcapng_time(idb, raw)
                    .with_context(|| format!("{}: frame {}", path.display(), self.frame))?,
                None => Duration::ZERO,
            };
            self.line(ts, &data)?;
        }
        Ok(())
    }

    fn line(&mut self, timestamp: Duration, data: &[u8]) -> anyhow::Result<()> {
        let (frame, ts_sec, ts_nsec) = (self.frame, timestamp.as_secs(), timestamp.subsec_nanos());
        let line = match parse_frame(data) {
            // Not RSVP at all: not ours to report.
            Err(RsvpError::FrameEtherType { .. } | RsvpError::FrameNotRsvp { .. }) => {
                self.summary.other += 1;
                return Ok(());
            }
            Err(e) => Err(e),
            Ok(f) => Message::parse_with(f.rsvp, ParseOptions::lenient()).map(|m| (f.header, m)),
        };
        let json = match line {
            Ok((ip, message)) => {
                self.summary.messages += 1;
                serde_json::to_string(&MessageLine {
                    frame,
                    ts_sec,
                    ts_nsec,
                    ip,
                    message,
                })?
            }
            Err(e) => {
                self.summary.malformed += 1;
                serde_json::to_string(&MalformedLine {
                    frame,
                    ts_sec,
                    ts_nsec,
                    error: e.to_string(),
                    bytes: hex(data),
                })?
            }
        };
        writeln!(self.out, "{json}")?;
        Ok(())
    }
}

/// The time of an enhanced packet block. pcap-file hands over the raw
/// 64-bit count as if it were nanoseconds; its unit is the interface's
/// `if_tsresol` (10^-n seconds, or 2^-n with the top bit set; microseconds
/// when absent), and `if_tsoffset` seconds are added to it.
fn pcapng_time(idb: &InterfaceDescriptionBlock<'_>, raw: Duration) -> anyhow::Result<Duration> {
    let raw = raw.as_nanos();
    let mut resolution = 6u8;
    let mut offset = 0u64;
    for option in &idb.options {
        match option {
            InterfaceDescriptionOption::IfTsResol(r) => resolution = *r,
            InterfaceDescriptionOption::IfTsOffset(o) => offset = *o,
            _ => {}
        }
    }
    let units_per_sec: u128 = if resolution & 0x80 == 0 {
        10u128
            .checked_pow(u32::from(resolution))
            .filter(|_| resolution <= 19)
            .with_context(|| {
                format!("timestamp resolution: expected at most 10^-19 s, found 10^-{resolution}")
            })?
    } else {
        let n = resolution & 0x7f;
        if n > 63 {
            bail!("timestamp resolution: expected at most 2^-63 s, found 2^-{n}");
        }
        1u128 << n
    };
    let secs = u64::try_from(raw / units_per_sec)
        .ok()
        .and_then(|s| s.checked_add(offset))
        .context("timestamp: seconds do not fit 64 bits")?;
    // Below 10^9 since the remainder is below units_per_sec.
    let nanos = (raw % units_per_sec * 1_000_000_000 / units_per_sec) as u32;
    Ok(Duration::new(secs, nanos))
}

/// Reads every line first, so that a bad line leaves no output file.
fn encode(input: &Path, output: &Path) -> anyhow::Result<usize> {
    let file = File::open(input).with_context(|| format!("cannot open {}", input.display()))?;
    let mut frames: Vec<(Duration, Vec<u8>)> = Vec::new();
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let n = i + 1;
        let line = line.with_context(|| format!("{}: line {n}", input.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let frame = encode_line(&line).with_context(|| format!("{}: line {n}", input.display()))?;
        frames.push(frame);
    }
    let nanos = frames.iter().any(|(t, _)| t.subsec_nanos() % 1000 != 0);
    let header = PcapHeader {
        ts_resolution: if nanos {
            TsResolution::NanoSecond
        } else {
            TsResolution::MicroSecond
        },
        endianness: Endianness::Little,
        ..PcapHeader::default()
    };

    let dir = output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = output
        .file_name()
        .with_context(|| format!("{}: not a file name", output.display()))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let written = (|| -> anyhow::Result<()> {
        let f = File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
        let mut w = PcapWriter::with_header(BufWriter::new(f), header)?;
        for (ts, data) in &frames {
            let len = u32::try_from(data.len()).context("frame longer than 4 GiB")?;
            w.write_packet(&PcapPacket::new(*ts, len, data))?;
        }
        w.into_writer().flush()?;
        Ok(())
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, output).with_context(|| format!("cannot write {}", output.display()))?;
    Ok(frames.len())
}

fn encode_line(line: &str) -> anyhow::Result<(Duration, Vec<u8>)> {
    let value: serde_json::Value = serde_json::from_str(line).context("not JSON")?;
    if value.get("error").is_some() {
        let m: MalformedLine = serde_json::from_value(value).context("malformed-frame line")?;
        let bytes = parse_hex(&m.bytes).map_err(anyhow::Error::msg)?;
        return Ok((Duration::new(m.ts_sec, m.ts_nsec), bytes));
    }
    let m: MessageLine = serde_json::from_value(value).context("message line")?;
    let frame = m.ip.build(&m.message)?;
    Ok((Duration::new(m.ts_sec, m.ts_nsec), frame))
}

#[cfg(test)]
mod tests {
    use super::*;
    use fairshare_rsvp::frame::MacAddr;
    use fairshare_rsvp::{
        Body, FfDescriptor, FilterSpec, FlowDescriptors, FlowSpec, Hop, Resv, Session, TimeValues,
        TokenBucket,
    };
    use std::net::Ipv4Addr;

    fn temp_dir(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("fairshare-rsvp-cmd-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("temp dir");
        d
    }

    fn resv() -> Message {
        let filter = FilterSpec::Port {
            addr: Ipv4Addr::new(10, 1, 0, 11).into(),
            port: 4000,
        };
        Message::new(
            64,
            Body::Resv(Resv {
                session: Session {
                    dest: Ipv4Addr::new(198, 51, 100, 7).into(),
                    protocol: 17,
                    flags: 0,
                    port: 5004,
                },
                hop: Hop {
                    addr: Ipv4Addr::new(10, 2, 0, 1).into(),
                    lih: 7,
                },
                time_values: TimeValues { refresh_ms: 30_000 },
                resv_confirm: None,
                scope: None,
                policy_data: vec![],
                style_flags: 0,
                flows: FlowDescriptors::FF {
                    descriptors: vec![FfDescriptor {
                        flowspec: Some(FlowSpec::ControlledLoad {
                            tspec: TokenBucket {
                                rate: 1.25e6,
                                size: 12_000.0,
                                peak: f32::INFINITY,
                                min_policed_unit: 64,
                                max_packet_size: 1500,
                            },
                        }),
                        filter,
                    }],
                },
            }),
        )
    }

    /// A capture with an RSVP frame, an ARP frame, and an RSVP frame whose
    /// message has a bad checksum.
    fn capture(path: &Path) -> Vec<Vec<u8>> {
        let m = resv();
        let h = FrameHeader::for_message(
            MacAddr([2, 0, 0, 0, 0, 1]),
            MacAddr([2, 0, 0, 0, 0, 2]),
            Ipv4Addr::new(10, 2, 0, 1),
            Ipv4Addr::new(10, 1, 0, 1),
            &m,
        );
        let good = h.build(&m).expect("frame");
        let mut arp = good.clone();
        arp[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
        let mut bad = good.clone();
        let last = bad.len() - 1;
        bad[last] ^= 0x55;
        let frames = vec![good, arp, bad];
        let mut w = PcapWriter::new(File::create(path).expect("create")).expect("pcap");
        for (i, f) in frames.iter().enumerate() {
            w.write_packet(&PcapPacket::new(
                Duration::new(1_700_000_000 + i as u64, 250_000_000),
                f.len() as u32,
                f,
            ))
            .expect("write");
        }
        frames
    }

    #[test]
    fn bad_input_exits_2_and_io_failures_exit_1() {
        let dir = std::env::temp_dir().join(format!("fairshare-rsvp-exit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let not_pcap = dir.join("not.pcap");
        std::fs::write(&not_pcap, b"this is not a capture").expect("write");
        let e = decode(&not_pcap, &mut Vec::new()).expect_err("not a pcap");
        assert_eq!(exit_code_for(&e), 2, "{e:#}");
        let bad_jsonl = dir.join("bad.jsonl");
        std::fs::write(&bad_jsonl, b"{\"frame\": 1}\n").expect("write");
        let out = dir.join("out.pcap");
        let e = encode(&bad_jsonl, &out).expect_err("bad line");
        assert_eq!(exit_code_for(&e), 2, "{e:#}");
        assert!(!out.exists(), "nothing is written for bad input");
        let e = decode(&dir.join("missing.pcap"), &mut Vec::new()).expect_err("missing");
        assert_eq!(exit_code_for(&e), 1, "{e:#}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn decode_then_encode_gives_back_the_rsvp_frames() {
        let dir = temp_dir("roundtrip");
        let pcap = dir.join("in.pcap");
        let frames = capture(&pcap);
        let mut out = Vec::new();
        let summary = decode(&pcap, &mut out).expect("decode");
        assert_eq!(
            summary,
            Summary {
                messages: 1,
                malformed: 1,
                other: 1
            }
        );
        let text = String::from_utf8(out).expect("UTF-8");
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("JSON line"))
            .collect();
        assert_eq!(lines.len(), 2);
        let msg = &lines[0]["message"];
        assert_eq!(lines[0]["frame"], 1);
        assert_eq!(msg["type"], "Resv");
        assert_eq!(msg["session"]["dest"], "198.51.100.7");
        assert_eq!(msg["session"]["port"], 5004);
        assert_eq!(msg["hop"]["addr"], "10.2.0.1");
        assert_eq!(msg["time_values"]["refresh_ms"], 30000);
        assert_eq!(msg["flows"]["style"], "FF");
        let fs = &msg["flows"]["descriptors"][0]["flowspec"];
        assert_eq!(fs["service"], "controlled-load");
        assert_eq!(fs["tspec"]["r"], 1.25e6);
        assert_eq!(fs["tspec"]["p"], "inf");
        assert_eq!(fs["tspec"]["M"], 1500);
        assert_eq!(lines[1]["frame"], 3);
        assert!(lines[1]["error"]
            .as_str()
            .expect("error text")
            .contains("checksum"));

        let jsonl = dir.join("in.jsonl");
        std::fs::write(&jsonl, &text).expect("write jsonl");
        let out_pcap = dir.join("out.pcap");
        assert_eq!(encode(&jsonl, &out_pcap).expect("encode"), 2);
        let mut r = PcapReader::new(File::open(&out_pcap).expect("open")).expect("pcap");
        let mut back = Vec::new();
        while let Some(p) = r.next_packet() {
            let p = p.expect("packet");
            back.push((p.timestamp, p.data.into_owned()));
        }
        assert_eq!(back.len(), 2);
        assert_eq!(back[0].1, frames[0]);
        assert_eq!(back[1].1, frames[2]);
        assert_eq!(back[0].0, Duration::new(1_700_000_000, 250_000_000));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_bad_line_names_itself_and_writes_nothing() {
        let dir = temp_dir("badline");
        let pcap = dir.join("in.pcap");
        capture(&pcap);
        let mut out = Vec::new();
        decode(&pcap, &mut out).expect("decode");
        let mut text = String::from_utf8(out).expect("UTF-8");
        text.push_str("{\"frame\": 9, \"ts_sec\": 0}\n");
        let jsonl = dir.join("bad.jsonl");
        std::fs::write(&jsonl, &text).expect("write");
        let out_pcap = dir.join("out.pcap");
        let err = format!("{:#}", encode(&jsonl, &out_pcap).expect_err("bad line"));
        assert!(err.contains("line 3"), "{err}");
        assert!(err.contains("missing field"), "{err}");
        assert!(!out_pcap.exists());
        assert_eq!(
            std::fs::read_dir(&dir).expect("dir").count(),
            2,
            "no temp file left"
        );

        // A message that cannot be emitted is an error too.
        let broken = text.lines().next().expect("line").replace(
            "\"FF\",\"descriptors\":[",
            "\"FF\",\"descriptors\":[],\"x\":[",
        );
        std::fs::write(&jsonl, broken).expect("write");
        let err = format!("{:#}", encode(&jsonl, &out_pcap).expect_err("bad model"));
        assert!(err.contains("line 1"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The frames of `capture` as pcapng: the interface description says
    /// nanoseconds, and the frames come as enhanced packet blocks with
    /// the same timestamps, except the ARP frame, which is a simple packet
    /// block (no timestamp).
    fn capture_ng(path: &Path, frames: &[Vec<u8>]) {
        use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
        use pcap_file::pcapng::blocks::simple_packet::SimplePacketBlock;
        use pcap_file::pcapng::PcapNgWriter;
        use std::borrow::Cow;

        let mut w = PcapNgWriter::new(File::create(path).expect("create")).expect("pcapng");
        let mut idb = InterfaceDescriptionBlock::new(DataLink::ETHERNET, 0xffff);
        idb.options.push(InterfaceDescriptionOption::IfTsResol(9));
        w.write_pcapng_block(idb).expect("interface");
        for (i, f) in frames.iter().enumerate() {
            if i == 1 {
                w.write_pcapng_block(SimplePacketBlock {
                    original_len: f.len() as u32,
                    data: Cow::Borrowed(f),
                })
                .expect("write");
                continue;
            }
            w.write_pcapng_block(EnhancedPacketBlock {
                interface_id: 0,
                timestamp: Duration::new(1_700_000_000 + i as u64, 250_000_000),
                original_len: f.len() as u32,
                data: Cow::Borrowed(f),
                options: vec![],
            })
            .expect("write");
        }
    }

    fn decoded(path: &Path) -> (Summary, String) {
        let mut out = Vec::new();
        let summary = decode(path, &mut out).expect("decode");
        (summary, String::from_utf8(out).expect("UTF-8"))
    }

    #[test]
    fn pcapng_decodes_like_pcap() {
        let dir = temp_dir("pcapng");
        let pcap = dir.join("in.pcap");
        let frames = capture(&pcap);
        let ng = dir.join("in.pcapng");
        capture_ng(&ng, &frames);
        let (summary, text) = decoded(&ng);
        assert_eq!(summary, decoded(&pcap).0);
        assert_eq!(text, decoded(&pcap).1);
        let first: serde_json::Value =
            serde_json::from_str(text.lines().next().expect("a line")).expect("JSON");
        assert_eq!(first["ts_sec"], 1_700_000_000u64);
        assert_eq!(first["ts_nsec"], 250_000_000);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A pcapng written by Wireshark's editcap, whose interfaces leave the
    /// resolution at its default (microseconds).
    #[test]
    fn pcapng_from_editcap_decodes_like_pcap() {
        let dir = temp_dir("editcap");
        let pcap = dir.join("in.pcap");
        capture(&pcap);
        let ng = dir.join("in.pcapng");
        let run = std::process::Command::new("editcap")
            .args(["-F", "pcapng"])
            .arg(&pcap)
            .arg(&ng)
            .status();
        match run {
            Ok(status) if status.success() => {}
            other => {
                let _ = std::fs::remove_dir_all(&dir);
                if std::env::var("FAIRSHARE_REQUIRE_PEERS").as_deref() == Ok("1") {
                    panic!("editcap is required (FAIRSHARE_REQUIRE_PEERS=1): {other:?}");
                }
                println!("skipped: editcap not available ({other:?})");
                return;
            }
        }
        let head = std::fs::read(&ng).expect("read");
        assert!(head.starts_with(&PCAPNG_MAGIC), "editcap wrote pcapng");
        assert_eq!(decoded(&ng), decoded(&pcap));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn pcapng_timestamps_follow_the_interface_resolution() {
        let idb = |options| InterfaceDescriptionBlock {
            linktype: DataLink::ETHERNET,
            snaplen: 0,
            options,
        };
        // pcap-file hands over the raw count as nanoseconds.
        let raw = |n: u64| Duration::from_nanos(n);
        // No option: microseconds.
        assert_eq!(
            pcapng_time(&idb(vec![]), raw(3_000_007)).expect("time"),
            Duration::new(3, 7_000)
        );
        // 2^-1 s units, and an offset of 10 s.
        assert_eq!(
            pcapng_time(
                &idb(vec![
                    InterfaceDescriptionOption::IfTsResol(0x81),
                    InterfaceDescriptionOption::IfTsOffset(10),
                ]),
                raw(3)
            )
            .expect("time"),
            Duration::new(11, 500_000_000)
        );
        let err = pcapng_time(
            &idb(vec![InterfaceDescriptionOption::IfTsResol(20)]),
            raw(1),
        )
        .expect_err("10^-20");
        assert!(format!("{err:#}").contains("found 10^-20"));
    }

    #[test]
    fn a_pcapng_frame_on_another_link_type_is_an_error() {
        use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
        use pcap_file::pcapng::PcapNgWriter;
        use std::borrow::Cow;

        let dir = temp_dir("pcapng-link");
        let ng = dir.join("raw.pcapng");
        let mut w = PcapNgWriter::new(File::create(&ng).expect("create")).expect("pcapng");
        w.write_pcapng_block(InterfaceDescriptionBlock::new(DataLink::RAW, 0xffff))
            .expect("interface");
        w.write_pcapng_block(EnhancedPacketBlock {
            interface_id: 0,
            timestamp: Duration::ZERO,
            original_len: 4,
            data: Cow::Borrowed(&[0x45, 0, 0, 4]),
            options: vec![],
        })
        .expect("write");
        drop(w);
        let err = decode(&ng, &mut Vec::new()).expect_err("raw IP");
        let text = format!("{err:#}");
        assert!(text.contains("frame 1: expected Ethernet frames (link type 1) on interface 0"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn unreadable_input_is_a_clear_error() {
        let err = decode(Path::new("/nonexistent/x.pcap"), &mut Vec::new()).expect_err("missing");
        assert!(format!("{err:#}").contains("cannot open /nonexistent/x.pcap"));
        let dir = temp_dir("notpcap");
        let p = dir.join("x.pcap");
        std::fs::write(&p, b"not a capture at all").expect("write");
        let err = decode(&p, &mut Vec::new()).expect_err("not pcap");
        assert!(format!("{err:#}").contains("not a pcap file"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
