//! `fairshare rsvp decode|encode`: RSVP messages in pcap captures, as JSON
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
use pcap_file::{DataLink, Endianness, TsResolution};
use serde::{Deserialize, Serialize};

#[derive(Debug, clap::Subcommand)]
pub enum RsvpCommand {
    /// Print every RSVP message of a capture as one JSON object per line.
    Decode {
        /// A pcap file with Ethernet frames.
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

pub fn run(cmd: RsvpCommand) -> anyhow::Result<ExitCode> {
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

fn decode(path: &Path, out: &mut dyn Write) -> anyhow::Result<Summary> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut reader = PcapReader::new(BufReader::new(file))
        .with_context(|| format!("{}: not a pcap file", path.display()))?;
    let link = reader.header().datalink;
    if link != DataLink::ETHERNET {
        bail!(
            "{}: expected Ethernet frames (link type 1), found {link:?}",
            path.display()
        );
    }
    let mut summary = Summary::default();
    let mut frame = 0u64;
    while let Some(packet) = reader.next_packet() {
        frame += 1;
        let packet = packet.with_context(|| format!("{}: frame {frame}", path.display()))?;
        let (ts_sec, ts_nsec) = (packet.timestamp.as_secs(), packet.timestamp.subsec_nanos());
        let line = match parse_frame(&packet.data) {
            // Not RSVP at all: not ours to report.
            Err(RsvpError::FrameEtherType { .. } | RsvpError::FrameNotRsvp { .. }) => {
                summary.other += 1;
                continue;
            }
            Err(e) => Err(e),
            Ok(f) => Message::parse_with(f.rsvp, ParseOptions::lenient()).map(|m| (f.header, m)),
        };
        let json = match line {
            Ok((ip, message)) => {
                summary.messages += 1;
                serde_json::to_string(&MessageLine {
                    frame,
                    ts_sec,
                    ts_nsec,
                    ip,
                    message,
                })?
            }
            Err(e) => {
                summary.malformed += 1;
                serde_json::to_string(&MalformedLine {
                    frame,
                    ts_sec,
                    ts_nsec,
                    error: e.to_string(),
                    bytes: hex(&packet.data),
                })?
            }
        };
        writeln!(out, "{json}")?;
    }
    Ok(summary)
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
