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
/// Classic pcap is read here, whatever the header's snap length says
/// (`simple_switch` writes 0 there); pcapng through the switch's reader.
pub fn read(data: &[u8]) -> Result<Vec<Packet>, String> {
    if data.starts_with(&[0x0a, 0x0d, 0x0d, 0x0a]) {
        let packets = fairshare_switch::port::read_pcap(data).map_err(|e| e.to_string())?;
        return Ok(packets
            .into_iter()
            .map(|(t, frame): (Duration, Vec<u8>)| Packet {
                at_us: t.as_micros() as u64,
                frame,
            })
            .collect());
    }
    let magic = data
        .get(..4)
        .ok_or("expected a pcap header of 24 bytes, found less")?;
    let (le, nanos) = match magic {
        [0xd4, 0xc3, 0xb2, 0xa1] => (true, false),
        [0xa1, 0xb2, 0xc3, 0xd4] => (false, false),
        [0x4d, 0x3c, 0xb2, 0xa1] => (true, true),
        [0xa1, 0xb2, 0x3c, 0x4d] => (false, true),
        _ => {
            return Err(format!(
                "expected a pcap or pcapng magic number, found {magic:02x?}"
            ))
        }
    };
    let u32_at = |off: usize| -> Option<u32> {
        let b: [u8; 4] = data.get(off..off + 4)?.try_into().ok()?;
        Some(if le {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    };
    if data.len() < 24 {
        return Err("expected a pcap header of 24 bytes, found less".into());
    }
    let mut out = vec![];
    let mut off = 24;
    while off < data.len() {
        let (Some(sec), Some(frac), Some(len)) = (u32_at(off), u32_at(off + 4), u32_at(off + 8))
        else {
            return Err(format!("a record header cut short at byte {off}"));
        };
        let start = off + 16;
        let frame = data.get(start..start + len as usize).ok_or(format!(
            "a record at byte {off} runs past the end of the file"
        ))?;
        let frac_us = if nanos { frac / 1000 } else { frac };
        out.push(Packet {
            at_us: u64::from(sec) * 1_000_000 + u64::from(frac_us),
            frame: frame.to_vec(),
        });
        off = start + len as usize;
    }
    Ok(out)
}

/// `12.000345 s`, for reports.
pub fn time(at_us: u64) -> String {
    format!("{}.{:06} s", at_us / 1_000_000, at_us % 1_000_000)
}
