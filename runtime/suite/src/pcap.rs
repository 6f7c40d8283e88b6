//! Classic pcap files (microsecond timestamps, Ethernet link type), as the
//! suite checks them in.

use std::time::Duration;

/// A frame and its time in microseconds since the epoch of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    pub at_us: u64,
    pub frame: Vec<u8>,
}

/// The bytes of a pcap file holding `packets`.
pub fn write(packets: &[Packet]) -> Vec<u8> {
    let mut out = vec![];
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&65_535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    for p in packets {
        out.extend(record(p.at_us, &p.frame));
    }
    out
}

/// One pcap record: its 16-byte header and the frame.
pub fn record(at_us: u64, frame: &[u8]) -> Vec<u8> {
    let mut r = Vec::with_capacity(16 + frame.len());
    r.extend_from_slice(&((at_us / 1_000_000) as u32).to_le_bytes());
    r.extend_from_slice(&((at_us % 1_000_000) as u32).to_le_bytes());
    r.extend_from_slice(&(frame.len() as u32).to_le_bytes());
    r.extend_from_slice(&(frame.len() as u32).to_le_bytes());
    r.extend_from_slice(frame);
    r
}

/// The packets of a pcap or pcapng file; `Err` says what is wrong with it.
pub fn read(data: &[u8]) -> Result<Vec<Packet>, String> {
    let packets = fairshare_switch::port::read_pcap(data).map_err(|e| e.to_string())?;
    Ok(packets
        .into_iter()
        .map(|(t, frame): (Duration, Vec<u8>)| Packet {
            at_us: t.as_micros() as u64,
            frame,
        })
        .collect())
}

/// `12.000345 s`, for reports.
pub fn time(at_us: u64) -> String {
    format!("{}.{:06} s", at_us / 1_000_000, at_us % 1_000_000)
}
