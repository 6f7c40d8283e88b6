//! Numbers of the wire format (message types, class numbers), the Internet
//! checksum, and the small byte writer that every `emit` uses.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The RSVP message types of RFC 2205 §3.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MsgType {
    Path = 1,
    Resv = 2,
    PathErr = 3,
    ResvErr = 4,
    PathTear = 5,
    ResvTear = 6,
    ResvConf = 7,
}

impl MsgType {
    /// Every message type, in wire-number order.
    pub const ALL: [MsgType; 7] = [
        MsgType::Path,
        MsgType::Resv,
        MsgType::PathErr,
        MsgType::ResvErr,
        MsgType::PathTear,
        MsgType::ResvTear,
        MsgType::ResvConf,
    ];

    /// The message type for a wire number, if it is one of the seven.
    pub fn from_u8(n: u8) -> Option<MsgType> {
        match n {
            1..=7 => Some(Self::ALL[usize::from(n - 1)]),
            _ => None,
        }
    }

    /// Whether RFC 2205 §3.13 asks for the IP Router Alert option on this
    /// message: Path, PathTear and ResvConf travel hop by hop toward the
    /// receiver's address and must be intercepted by every RSVP router.
    pub fn needs_router_alert(self) -> bool {
        matches!(self, MsgType::Path | MsgType::PathTear | MsgType::ResvConf)
    }
}

impl fmt::Display for MsgType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// An object's Class-Num. A newtype rather than an enum because unknown
/// classes are legal on the wire (RFC 2205 §3.10) and must be named in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClassNum(pub u8);

impl ClassNum {
    pub const NULL: ClassNum = ClassNum(0);
    pub const SESSION: ClassNum = ClassNum(1);
    pub const RSVP_HOP: ClassNum = ClassNum(3);
    pub const INTEGRITY: ClassNum = ClassNum(4);
    pub const TIME_VALUES: ClassNum = ClassNum(5);
    pub const ERROR_SPEC: ClassNum = ClassNum(6);
    pub const SCOPE: ClassNum = ClassNum(7);
    pub const STYLE: ClassNum = ClassNum(8);
    pub const FLOWSPEC: ClassNum = ClassNum(9);
    pub const FILTER_SPEC: ClassNum = ClassNum(10);
    pub const SENDER_TEMPLATE: ClassNum = ClassNum(11);
    pub const SENDER_TSPEC: ClassNum = ClassNum(12);
    pub const ADSPEC: ClassNum = ClassNum(13);
    pub const POLICY_DATA: ClassNum = ClassNum(14);
    pub const RESV_CONFIRM: ClassNum = ClassNum(15);

    /// The RFC name of a class this crate knows, or `None`.
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0 => "NULL",
            1 => "SESSION",
            3 => "RSVP_HOP",
            4 => "INTEGRITY",
            5 => "TIME_VALUES",
            6 => "ERROR_SPEC",
            7 => "SCOPE",
            8 => "STYLE",
            9 => "FLOWSPEC",
            10 => "FILTER_SPEC",
            11 => "SENDER_TEMPLATE",
            12 => "SENDER_TSPEC",
            13 => "ADSPEC",
            14 => "POLICY_DATA",
            15 => "RESV_CONFIRM",
            _ => return None,
        })
    }

    /// What RFC 2205 §3.10 tells a node to do with this class when it does
    /// not know it. Classes this crate knows are `Known`.
    #[inline]
    pub fn disposition(self) -> Disposition {
        // Known classes: NULL, 1 and 3 to 15.
        if self.0 <= 15 && self.0 != 2 {
            Disposition::Known
        } else if self.0 & 0x80 == 0 {
            Disposition::Reject
        } else if self.0 & 0x40 == 0 {
            Disposition::Ignore
        } else {
            Disposition::Forward
        }
    }
}

impl fmt::Display for ClassNum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "class {}", self.0),
        }
    }
}

/// The handling of an object class by its top two bits (RFC 2205 §3.10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// A class this crate parses into a typed object (or NULL).
    Known,
    /// `0bbbbbbb`: the whole message is rejected, with error code 13.
    Reject,
    /// `10bbbbbb`: the object is ignored, neither examined nor forwarded.
    Ignore,
    /// `11bbbbbb`: the object is ignored but forwarded unchanged.
    Forward,
}

/// The Internet checksum (RFC 1071): the one's complement of the one's
/// complement sum of the 16-bit words of `data`, an odd last byte padded
/// with zero.
pub fn internet_checksum(data: &[u8]) -> u16 {
    !fold(ones_sum(data))
}

/// The one's complement sum of the 16-bit big-endian words of `data`, not
/// yet folded to 16 bits. It is zero only for all-zero data.
///
/// Whole 64-bit words are added with end-around carry: 2^16 is 1 modulo
/// 0xffff, so a 64-bit word counts as the sum of its four 16-bit words, and
/// so does a carry out of bit 63 added back at bit 0.
#[inline]
pub(crate) fn ones_sum(data: &[u8]) -> u64 {
    let mut sum: u64 = 0;
    let mut words = data.chunks_exact(8);
    for w in &mut words {
        let mut word = [0u8; 8];
        word.copy_from_slice(w);
        let (s, carry) = sum.overflowing_add(u64::from_be_bytes(word));
        sum = s + u64::from(carry);
    }
    // At most 7 bytes are left: add them as 16-bit words to the sum reduced
    // to 32 bits, which cannot overflow.
    let mut tail = (sum >> 32) + (sum & 0xffff_ffff);
    let mut pairs = words.remainder().chunks_exact(2);
    for p in &mut pairs {
        tail += u64::from(u16::from_be_bytes([p[0], p[1]]));
    }
    if let [last] = pairs.remainder() {
        tail += u64::from(*last) << 8;
    }
    tail
}

#[inline]
pub(crate) fn fold(mut sum: u64) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    // The loop leaves at most 16 bits.
    sum as u16
}

/// A cursor writing into a buffer whose length the caller checked first, so
/// that no write can go past its end.
pub(crate) struct Writer<'b> {
    buf: &'b mut [u8],
    pos: usize,
}

impl<'b> Writer<'b> {
    pub(crate) fn new(buf: &'b mut [u8]) -> Self {
        Writer { buf, pos: 0 }
    }
    #[inline]
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }
    #[inline]
    pub(crate) fn bytes(&mut self, b: &[u8]) {
        self.buf[self.pos..self.pos + b.len()].copy_from_slice(b);
        self.pos += b.len();
    }
    #[inline]
    pub(crate) fn u8(&mut self, v: u8) {
        self.bytes(&[v]);
    }
    #[inline]
    pub(crate) fn u16(&mut self, v: u16) {
        self.bytes(&v.to_be_bytes());
    }
    #[inline]
    pub(crate) fn u32(&mut self, v: u32) {
        self.bytes(&v.to_be_bytes());
    }
    #[inline]
    pub(crate) fn f32(&mut self, v: f32) {
        self.bytes(&v.to_bits().to_be_bytes());
    }
    #[inline]
    pub(crate) fn patch_u16(&mut self, at: usize, v: u16) {
        self.buf[at..at + 2].copy_from_slice(&v.to_be_bytes());
    }
    #[inline]
    pub(crate) fn written(&self) -> &[u8] {
        &self.buf[..self.pos]
    }
}

/// Big-endian reads from a slice whose length was checked by the caller.
#[inline]
pub(crate) fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}
#[inline]
pub(crate) fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Serde helpers for the JSON form of the model.
pub(crate) mod serde_hex {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        let mut out = String::with_capacity(bytes.len() * 2);
        for b in bytes {
            out.push_str(&format!("{b:02x}"));
        }
        s.serialize_str(&out)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        crate::wire::parse_hex(&text).map_err(serde::de::Error::custom)
    }
}

/// Decodes a string of hex digit pairs.
pub fn parse_hex(text: &str) -> Result<Vec<u8>, String> {
    if text.len() % 2 != 0 {
        return Err(format!(
            "hex string: expected an even number of digits, found {}",
            text.len()
        ));
    }
    (0..text.len())
        .step_by(2)
        .map(|i| {
            text.get(i..i + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                .ok_or_else(|| format!("hex string: expected a hex digit pair at {i}"))
        })
        .collect()
}

/// Floats in JSON: finite values as numbers; infinity (the RFC 2210 way to
/// say "no peak rate") as the string "inf", since JSON has no infinity.
pub(crate) mod serde_f32 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &f32, s: S) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            s.serialize_f32(*v)
        } else if *v == f32::INFINITY {
            s.serialize_str("inf")
        } else if *v == f32::NEG_INFINITY {
            s.serialize_str("-inf")
        } else {
            s.serialize_str("nan")
        }
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum NumOrText {
        Num(f32),
        Text(String),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f32, D::Error> {
        match NumOrText::deserialize(d)? {
            NumOrText::Num(v) => Ok(v),
            NumOrText::Text(t) => match t.as_str() {
                "inf" => Ok(f32::INFINITY),
                "-inf" => Ok(f32::NEG_INFINITY),
                "nan" => Ok(f32::NAN),
                other => Err(serde::de::Error::custom(format!(
                    "expected a number or \"inf\", found {other:?}"
                ))),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_of_rfc1071_example() {
        // The worked example of RFC 1071 §3: the sum of these words is 0xddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(ones_sum(&data)), 0xddf2);
        assert_eq!(internet_checksum(&data), !0xddf2);
    }

    /// The sum word by word, as RFC 1071 defines it.
    fn reference_sum(data: &[u8]) -> u16 {
        let mut sum: u32 = 0;
        for (i, b) in data.iter().enumerate() {
            sum += if i % 2 == 0 {
                u32::from(*b) << 8
            } else {
                u32::from(*b)
            };
            sum = (sum & 0xffff) + (sum >> 16);
        }
        sum as u16
    }

    #[test]
    fn wide_sum_matches_the_word_by_word_sum() {
        // Lengths around every remainder of 8, with bytes that carry often.
        let mut state = 0x2545_f491_u32;
        for len in 0..200 {
            let data: Vec<u8> = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 17;
                    state ^= state << 5;
                    if state % 3 == 0 {
                        0xff
                    } else {
                        state as u8
                    }
                })
                .collect();
            assert_eq!(fold(ones_sum(&data)), reference_sum(&data), "length {len}");
            let ones = vec![0xffu8; len];
            assert_eq!(fold(ones_sum(&ones)), reference_sum(&ones), "length {len}");
        }
        assert_eq!(fold(ones_sum(&[0u8; 24])), 0);
    }

    #[test]
    fn odd_length_is_padded() {
        assert_eq!(fold(ones_sum(&[0x12, 0x34, 0x56])), 0x1234 + 0x5600);
    }

    #[test]
    fn dispositions_follow_the_top_bits() {
        assert_eq!(ClassNum(1).disposition(), Disposition::Known);
        assert_eq!(ClassNum(2).disposition(), Disposition::Reject);
        assert_eq!(ClassNum(0x7f).disposition(), Disposition::Reject);
        assert_eq!(ClassNum(0x80).disposition(), Disposition::Ignore);
        assert_eq!(ClassNum(0xbf).disposition(), Disposition::Ignore);
        assert_eq!(ClassNum(0xc0).disposition(), Disposition::Forward);
        assert_eq!(ClassNum(0xff).disposition(), Disposition::Forward);
    }
}
