//! Packets decoded into named fields, field-by-field differences between an
//! expected packet and a received one, and ([`build`]) frames for tests.
//!
//! ```text
//! bytes ─ decode ─> Decoded { layers: [ethernet, ipv4, tcp], payload } ─┐
//! expected, received, mask ─ diff ─> PacketDiff [ipv4.ttl: 63 vs 64] <──┘
//! expected[], received[] ─ diff_streams ─> StreamDiff (per packet, missing, extra)
//! ```
//!
//! The regression suite, the STF runner and the differential tests print
//! what differs the way an engineer reads a packet: by header and field,
//! with addresses in their usual notation, not as a hex dump.
//!
//! Invariants:
//! * Decoding never panics and never reads past the frame: a header that
//!   does not fit stops the decode, and [`Decoded::cut`] says which header
//!   was cut and where. What follows the last decoded header is payload.
//! * A field is a bit range of the frame; [`diff`] compares the *received*
//!   bits at the ranges laid out by decoding the *expected* packet, under a
//!   mask (a bit set in the mask is compared; STF's `*` nibbles clear
//!   them). So a wrong EtherType shows as `ethernet.ether_type`, and every
//!   later difference is still reported at the place the test expected it.
//! * Two packets with equal masked bytes and equal length give an empty
//!   [`PacketDiff`]; any masked difference gives at least one entry.
//!
//! Boundary: no IO, no dependency; it knows common headers (Ethernet,
//! 802.1Q, ARP, IPv4 with options, IPv6, TCP, UDP, ICMP, ICMPv6, RSVP's
//! common header and object headers), not a P4 program's own header types.
//!
//! ```
//! use fairshare_packet::{decode, diff};
//! let mut a = vec![0u8; 14];
//! a[12] = 0x08; a[13] = 0x06; // ARP, cut short
//! let d = decode(&a);
//! assert_eq!(d.layers[0].name, "ethernet");
//! let mut b = a.clone();
//! b[0] = 0xff;
//! let diff = diff(&a, &b, None);
//! assert_eq!(diff.fields[0].field, "ethernet.dst_addr");
//! ```

use std::fmt;

pub mod build;
mod layers;

pub use layers::decode;

/// How a field's value is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Show {
    /// A number, in decimal (and hex when it is large).
    Number,
    /// Always hex (checksums, flags).
    Hex,
    /// `aa:bb:cc:dd:ee:ff`.
    Mac,
    /// Dotted quad.
    Ipv4,
    /// RFC 5952 text form.
    Ipv6,
    /// Bytes in hex (options, object bodies, payload).
    Bytes,
}

/// One field: a named bit range of the frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// `header.field`, e.g. `ipv4.ttl`.
    pub name: String,
    /// Offset of the first bit from the start of the frame.
    pub bit_offset: usize,
    /// Width in bits (a multiple of 8 for [`Show::Bytes`]).
    pub width: usize,
    pub show: Show,
}

/// A decoded header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    pub name: &'static str,
    /// Byte offset of the header in the frame.
    pub offset: usize,
    /// Its length in bytes.
    pub len: usize,
    pub fields: Vec<Field>,
}

/// A frame split into headers and payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    pub layers: Vec<Layer>,
    /// Byte offset where the payload (what no header claimed) starts.
    pub payload: usize,
    /// The header that did not fit, and the frame length it needed.
    pub cut: Option<(&'static str, usize)>,
}

impl Decoded {
    /// Every field of every layer, in frame order.
    pub fn fields(&self) -> impl Iterator<Item = &Field> {
        self.layers.iter().flat_map(|l| l.fields.iter())
    }
}

/// Reads `width` bits (at most 128) starting at `bit_offset`; `None` when
/// the frame is too short.
pub fn bits(frame: &[u8], bit_offset: usize, width: usize) -> Option<u128> {
    if width > 128 || bit_offset + width > frame.len() * 8 {
        return None;
    }
    let mut v: u128 = 0;
    for i in bit_offset..bit_offset + width {
        let bit = (frame[i / 8] >> (7 - i % 8)) & 1;
        v = (v << 1) | u128::from(bit);
    }
    Some(v)
}

/// A field's value in the frame, shown as its [`Show`] says; `None` when
/// the frame does not reach the field.
pub fn show(frame: &[u8], f: &Field) -> Option<String> {
    if f.show == Show::Bytes || f.width > 128 {
        let start = f.bit_offset / 8;
        let end = start + f.width.div_ceil(8);
        return frame.get(start..end).map(hex);
    }
    let v = bits(frame, f.bit_offset, f.width)?;
    Some(match f.show {
        Show::Mac => {
            let b = v.to_be_bytes();
            b[10..16]
                .iter()
                .map(|x| format!("{x:02x}"))
                .collect::<Vec<_>>()
                .join(":")
        }
        Show::Ipv4 => std::net::Ipv4Addr::from(v as u32).to_string(),
        Show::Ipv6 => std::net::Ipv6Addr::from(v).to_string(),
        Show::Hex => format!("0x{v:0w$x}", w = f.width.div_ceil(4)),
        Show::Number if v > 9 => format!("{v} (0x{v:x})"),
        Show::Number | Show::Bytes => v.to_string(),
    })
}

fn hex(b: &[u8]) -> String {
    if b.is_empty() {
        return "(none)".into();
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The expected value of a field under a partial mask: hex digits, `*`
/// for each nibble the mask leaves out.
fn show_masked(frame: &[u8], mask: &[u8], f: &Field) -> Option<String> {
    let mut s = String::from("0x");
    let start = f.bit_offset;
    // Nibble-aligned fields only; others show their bits.
    if start % 4 != 0 || f.width % 4 != 0 {
        let v = bits(frame, start, f.width.min(128))?;
        let m = bits(mask, start, f.width.min(128)).unwrap_or(0);
        return Some(format!("{v:#x} (compared bits {m:#x})"));
    }
    for n in (start..start + f.width).step_by(4) {
        let v = bits(frame, n, 4)?;
        let m = bits(mask, n, 4).unwrap_or(0xf);
        if m == 0 {
            s.push('*');
        } else {
            s.push(char::from_digit((v & m) as u32, 16).unwrap_or('?'));
        }
    }
    Some(s)
}

/// One field that differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldDiff {
    pub field: String,
    pub expected: String,
    /// `(missing)` when the received packet is too short for the field.
    pub got: String,
}

/// What differs between an expected and a received packet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PacketDiff {
    pub fields: Vec<FieldDiff>,
    /// First differing payload byte: (offset, expected, received).
    pub payload: Option<(usize, u8, Option<u8>)>,
    /// (expected, received) lengths, when they differ.
    pub length: Option<(usize, usize)>,
}

impl PacketDiff {
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.payload.is_none() && self.length.is_none()
    }
}

impl fmt::Display for PacketDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.fields {
            writeln!(f, "{}: expected {}, got {}", d.field, d.expected, d.got)?;
        }
        if let Some((at, e, g)) = self.payload {
            match g {
                Some(g) => writeln!(
                    f,
                    "payload: first difference at byte {at}: expected 0x{e:02x}, got 0x{g:02x}"
                )?,
                None => writeln!(
                    f,
                    "payload: received packet ends at byte {at}, expected 0x{e:02x}"
                )?,
            }
        }
        if let Some((e, g)) = self.length {
            writeln!(f, "length: expected {e} bytes, got {g}")?;
        }
        Ok(())
    }
}

fn masked_eq(a: &[u8], b: &[u8], mask: Option<&[u8]>, bit: usize, width: usize) -> Option<bool> {
    if (bit + width).div_ceil(8) > b.len() {
        return None;
    }
    for i in bit..bit + width {
        let m = mask.map_or(1, |m| m.get(i / 8).map_or(1, |x| (x >> (7 - i % 8)) & 1));
        if m == 1 && ((a[i / 8] ^ b[i / 8]) >> (7 - i % 8)) & 1 == 1 {
            return Some(false);
        }
    }
    Some(true)
}

/// Compares `got` against `expected` field by field, over the headers
/// decoded from `expected`. `mask` (same length as `expected`, or shorter:
/// missing bytes are compared) selects the bits to compare. Lengths are
/// compared as well; pass `got` truncated to `expected`'s length to ignore
/// trailing bytes.
pub fn diff(expected: &[u8], got: &[u8], mask: Option<&[u8]>) -> PacketDiff {
    let d = decode(expected);
    let mut out = PacketDiff::default();
    for f in d.fields() {
        match masked_eq(expected, got, mask, f.bit_offset, f.width) {
            Some(true) => {}
            Some(false) => {
                let partial = mask.is_some_and(|m| {
                    (f.bit_offset..f.bit_offset + f.width)
                        .any(|i| m.get(i / 8).is_some_and(|x| (x >> (7 - i % 8)) & 1 == 0))
                });
                let expected_text = match mask {
                    Some(m) if partial => show_masked(expected, m, f),
                    _ => show(expected, f),
                };
                out.fields.push(FieldDiff {
                    field: f.name.clone(),
                    expected: expected_text.unwrap_or_default(),
                    got: show(got, f).unwrap_or_else(|| "(missing)".into()),
                });
            }
            None => out.fields.push(FieldDiff {
                field: f.name.clone(),
                expected: show(expected, f).unwrap_or_default(),
                got: "(missing)".into(),
            }),
        }
    }
    let start = d.payload.min(expected.len());
    for (i, &e) in expected.iter().enumerate().skip(start) {
        let compared = mask.map_or(0xff, |m| m.get(i).copied().unwrap_or(0xff));
        match got.get(i) {
            Some(g) if (g ^ e) & compared == 0 => {}
            Some(g) => {
                out.payload = Some((i, e, Some(*g)));
                break;
            }
            None if compared == 0 => {}
            None => {
                out.payload = Some((i, e, None));
                break;
            }
        }
    }
    if expected.len() != got.len() {
        out.length = Some((expected.len(), got.len()));
    }
    out
}

/// A one-line description of a frame: its headers and their key fields.
pub fn summary(frame: &[u8]) -> String {
    let d = decode(frame);
    let mut parts = vec![];
    for l in &d.layers {
        let get = |name: &str| {
            l.fields
                .iter()
                .find(|f| f.name.rsplit('.').next() == Some(name))
                .and_then(|f| show(frame, f))
                .unwrap_or_default()
        };
        parts.push(match l.name {
            "ethernet" => format!("eth {} > {}", get("src_addr"), get("dst_addr")),
            "ipv4" => format!(
                "ipv4 {} > {} ttl {}",
                get("src_addr"),
                get("dst_addr"),
                get("ttl")
            ),
            "ipv6" => format!("ipv6 {} > {}", get("src_addr"), get("dst_addr")),
            "tcp" | "udp" => format!("{} {} > {}", l.name, get("src_port"), get("dst_port")),
            "rsvp" => format!("rsvp type {}", get("msg_type")),
            other => other.to_string(),
        });
    }
    if let Some((h, need)) = d.cut {
        parts.push(format!("({h} cut: needs {need} bytes)"));
    }
    format!("{} bytes: {}", frame.len(), parts.join(", "))
}

/// What differs between the packets expected on a port and those received.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamDiff {
    /// Differing packets by index (0-based), with their differences.
    pub packets: Vec<(usize, PacketDiff)>,
    /// Expected packets that never came (index, summary).
    pub missing: Vec<(usize, String)>,
    /// Received packets beyond the expected ones (index, summary).
    pub extra: Vec<(usize, String)>,
}

impl StreamDiff {
    pub fn is_empty(&self) -> bool {
        self.packets.is_empty() && self.missing.is_empty() && self.extra.is_empty()
    }
}

impl fmt::Display for StreamDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in &self.packets {
            writeln!(f, "packet {}:", i + 1)?;
            for line in d.to_string().lines() {
                writeln!(f, "  {line}")?;
            }
        }
        for (i, s) in &self.missing {
            writeln!(f, "packet {}: missing (expected {s})", i + 1)?;
        }
        for (i, s) in &self.extra {
            writeln!(f, "packet {}: not expected (got {s})", i + 1)?;
        }
        Ok(())
    }
}

/// Compares two packet sequences in order, as pcap-based tests do.
pub fn diff_streams<E: AsRef<[u8]>, G: AsRef<[u8]>>(expected: &[E], got: &[G]) -> StreamDiff {
    let mut out = StreamDiff::default();
    for (i, (e, g)) in expected.iter().zip(got).enumerate() {
        let d = diff(e.as_ref(), g.as_ref(), None);
        if !d.is_empty() {
            out.packets.push((i, d));
        }
    }
    for (i, e) in expected.iter().enumerate().skip(got.len()) {
        out.missing.push((i, summary(e.as_ref())));
    }
    for (i, g) in got.iter().enumerate().skip(expected.len()) {
        out.extra.push((i, summary(g.as_ref())));
    }
    out
}
