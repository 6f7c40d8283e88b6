//! The Integrated Services data objects of RFC 2210 carried in SENDER_TSPEC,
//! FLOWSPEC and ADSPEC (C-Type 2).
//!
//! Layout facts used here (RFC 2210 §3): every IntServ object starts with a
//! message header word (4-bit version 0, 12 reserved bits, 16-bit length in
//! words not counting that word); then per-service fragments, each with a
//! header word (8-bit service number, a break bit used only in ADSPEC, 7
//! reserved bits, 16-bit length in words); then parameters, each with a
//! header word (8-bit parameter id, 8-bit flags, 16-bit length in words).
//! Service numbers: 1 general, 2 Guaranteed, 5 Controlled-Load. Parameter
//! ids: 127 token bucket TSpec, 130 Guaranteed RSpec.

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::wire::{be16, be32, serde_f32, ClassNum, Writer};

/// Service number of the general (default) parameters.
pub const SERVICE_GENERAL: u8 = 1;
/// Service number of Guaranteed service (RFC 2212).
pub const SERVICE_GUARANTEED: u8 = 2;
/// Service number of Controlled-Load service (RFC 2211).
pub const SERVICE_CONTROLLED_LOAD: u8 = 5;
/// Parameter id of the token bucket TSpec.
pub const PARAM_TOKEN_BUCKET: u8 = 127;
/// Parameter id of the Guaranteed service RSpec.
pub const PARAM_GUARANTEED_RSPEC: u8 = 130;

/// A token bucket TSpec (RFC 2210 §3.1). Rates are in bytes per second and
/// sizes in bytes. Parsing rejects NaN and negative floats, so the model's
/// `PartialEq` is an equivalence; infinity is allowed (an unbounded peak rate).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TokenBucket {
    /// Token bucket rate r, bytes/s.
    #[serde(rename = "r", with = "serde_f32")]
    pub rate: f32,
    /// Token bucket size b, bytes.
    #[serde(rename = "b", with = "serde_f32")]
    pub size: f32,
    /// Peak data rate p, bytes/s.
    #[serde(rename = "p", with = "serde_f32")]
    pub peak: f32,
    /// Minimum policed unit m, bytes.
    #[serde(rename = "m")]
    pub min_policed_unit: u32,
    /// Maximum packet size M, bytes.
    #[serde(rename = "M")]
    pub max_packet_size: u32,
}

impl TokenBucket {
    #[inline]
    fn read(b: &[u8]) -> Result<Self, String> {
        let rate = float(b, 0, "token bucket rate r")?;
        let size = float(b, 4, "token bucket size b")?;
        let peak = float(b, 8, "peak data rate p")?;
        Ok(TokenBucket {
            rate,
            size,
            peak,
            min_policed_unit: be32(b, 12),
            max_packet_size: be32(b, 16),
        })
    }

    fn write(&self, w: &mut Writer<'_>) {
        w.f32(self.rate);
        w.f32(self.size);
        w.f32(self.peak);
        w.u32(self.min_policed_unit);
        w.u32(self.max_packet_size);
    }
}

#[inline]
fn float(b: &[u8], at: usize, what: &str) -> Result<f32, String> {
    let v = f32::from_bits(be32(b, at));
    if v.is_nan() || v < 0.0 {
        return Err(negative(what, v));
    }
    Ok(v)
}

#[cold]
#[inline(never)]
fn negative(what: &str, v: f32) -> String {
    format!("{what}: expected a non-negative number, found {v}")
}

/// Checks a header word `id | flags | length`.
#[inline]
fn header(b: &[u8], at: usize, id: u8, words: u16, what: &str) -> Result<(), String> {
    let (found_id, found_len) = (b[at], be16(b, at + 2));
    if found_id != id || found_len != words {
        return Err(header_mismatch(id, words, found_id, found_len, what));
    }
    Ok(())
}

#[cold]
#[inline(never)]
fn header_mismatch(id: u8, words: u16, found_id: u8, found_len: u16, what: &str) -> String {
    format!(
        "{what}: expected number {id} with length {words} words, found number {found_id} with length {found_len}"
    )
}

/// Checks the IntServ message header word against the object's length.
#[inline]
fn message_header(b: &[u8]) -> Result<(), String> {
    let version = b[0] >> 4;
    let words = be16(b, 2);
    if version != 0 || usize::from(words) != b.len() / 4 - 1 {
        return Err(message_header_mismatch(b));
    }
    Ok(())
}

#[cold]
#[inline(never)]
fn message_header_mismatch(b: &[u8]) -> String {
    let version = b[0] >> 4;
    if version != 0 {
        return format!("IntServ message format version: expected 0, found {version}");
    }
    format!(
        "IntServ length: expected {} words (the object's length), found {}",
        b.len() / 4 - 1,
        be16(b, 2)
    )
}

#[cold]
#[inline(never)]
fn bad(class: ClassNum, offset: usize, reason: String) -> Error {
    Error::BadObject {
        class,
        offset,
        reason,
    }
}

/// SENDER_TSPEC, C-Type 2: the general-parameters token bucket.
pub(crate) mod tspec {
    use super::*;

    pub const BODY_LEN: usize = 32;

    #[inline]
    pub fn parse(b: &[u8], offset: usize) -> Result<TokenBucket, Error> {
        let class = ClassNum::SENDER_TSPEC;
        if b.len() != BODY_LEN {
            return Err(Error::ObjectLength {
                class,
                offset,
                length: b.len() + 4,
                reason: "36 bytes for an IntServ token bucket TSpec",
            });
        }
        (|| {
            message_header(b)?;
            header(b, 4, SERVICE_GENERAL, 6, "service header")?;
            header(b, 8, PARAM_TOKEN_BUCKET, 5, "parameter header")?;
            TokenBucket::read(&b[12..])
        })()
        .map_err(|r| bad(class, offset, r))
    }

    pub fn emit(tb: &TokenBucket, w: &mut Writer<'_>) {
        w.u32(7);
        w.u32(u32::from_be_bytes([SERVICE_GENERAL, 0, 0, 6]));
        w.u32(u32::from_be_bytes([PARAM_TOKEN_BUCKET, 0, 0, 5]));
        tb.write(w);
    }
}

/// The Guaranteed service RSpec (RFC 2212): the reserved rate and slack.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Rspec {
    /// Rate R, bytes/s.
    #[serde(rename = "R", with = "serde_f32")]
    pub rate: f32,
    /// Slack term S, microseconds.
    #[serde(rename = "S")]
    pub slack: u32,
}

/// A FLOWSPEC, C-Type 2, for one of the two IntServ services.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "service", rename_all = "kebab-case")]
pub enum FlowSpec {
    /// Controlled-Load (service 5): a token bucket.
    ControlledLoad { tspec: TokenBucket },
    /// Guaranteed (service 2): a token bucket and an RSpec.
    Guaranteed { tspec: TokenBucket, rspec: Rspec },
}

impl FlowSpec {
    /// The token bucket, whichever the service.
    pub fn tspec(&self) -> &TokenBucket {
        match self {
            FlowSpec::ControlledLoad { tspec } | FlowSpec::Guaranteed { tspec, .. } => tspec,
        }
    }

    pub(crate) fn body_len(&self) -> usize {
        match self {
            FlowSpec::ControlledLoad { .. } => 32,
            FlowSpec::Guaranteed { .. } => 44,
        }
    }

    #[inline(always)]
    pub(crate) fn parse(b: &[u8], offset: usize) -> Result<FlowSpec, Error> {
        let class = ClassNum::FLOWSPEC;
        if b.len() < 12 {
            return Err(Error::ObjectLength {
                class,
                offset,
                length: b.len() + 4,
                reason: "at least 16 bytes for an IntServ FLOWSPEC",
            });
        }
        (|| {
            message_header(b)?;
            match (b[4], b.len()) {
                (SERVICE_CONTROLLED_LOAD, 32) => {
                    header(b, 4, SERVICE_CONTROLLED_LOAD, 6, "service header")?;
                    header(b, 8, PARAM_TOKEN_BUCKET, 5, "parameter header")?;
                    Ok(FlowSpec::ControlledLoad {
                        tspec: TokenBucket::read(&b[12..])?,
                    })
                }
                (SERVICE_GUARANTEED, 44) => {
                    header(b, 4, SERVICE_GUARANTEED, 9, "service header")?;
                    header(b, 8, PARAM_TOKEN_BUCKET, 5, "parameter header")?;
                    header(b, 32, PARAM_GUARANTEED_RSPEC, 2, "RSpec parameter header")?;
                    Ok(FlowSpec::Guaranteed {
                        tspec: TokenBucket::read(&b[12..])?,
                        rspec: Rspec {
                            rate: float(b, 36, "RSpec rate R")?,
                            slack: be32(b, 40),
                        },
                    })
                }
                (SERVICE_CONTROLLED_LOAD | SERVICE_GUARANTEED, len) => Err(format!(
                    "service {}: expected {} bytes, found {}",
                    b[4],
                    if b[4] == SERVICE_GUARANTEED { 48 } else { 36 },
                    len + 4
                )),
                (service, _) => Err(format!(
                    "service number: expected 2 (Guaranteed) or 5 (Controlled-Load), found {service}"
                )),
            }
        })()
        .map_err(|r| bad(class, offset, r))
    }

    pub(crate) fn emit(&self, w: &mut Writer<'_>) {
        match self {
            FlowSpec::ControlledLoad { tspec } => {
                w.u32(7);
                w.u32(u32::from_be_bytes([SERVICE_CONTROLLED_LOAD, 0, 0, 6]));
                w.u32(u32::from_be_bytes([PARAM_TOKEN_BUCKET, 0, 0, 5]));
                tspec.write(w);
            }
            FlowSpec::Guaranteed { tspec, rspec } => {
                w.u32(10);
                w.u32(u32::from_be_bytes([SERVICE_GUARANTEED, 0, 0, 9]));
                w.u32(u32::from_be_bytes([PARAM_TOKEN_BUCKET, 0, 0, 5]));
                tspec.write(w);
                w.u32(u32::from_be_bytes([PARAM_GUARANTEED_RSPEC, 0, 0, 2]));
                w.f32(rspec.rate);
                w.u32(rspec.slack);
            }
        }
    }
}

/// An ADSPEC, C-Type 2: per-service fragments of parameters, kept in the
/// general IntServ form so that any service's fragment round-trips.
/// Parameter values are 32-bit words as on the wire (floats such as
/// PATH_BW as their bit patterns).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Adspec {
    pub fragments: Vec<AdspecFragment>,
}

/// One per-service fragment of an ADSPEC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdspecFragment {
    pub service: u8,
    /// Set by a node on the path that does not support the service.
    #[serde(default)]
    pub break_bit: bool,
    pub params: Vec<AdspecParam>,
}

/// One parameter of an ADSPEC fragment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdspecParam {
    pub id: u8,
    #[serde(default)]
    pub flags: u8,
    pub words: Vec<u32>,
}

/// General parameter ids (RFC 2215) used by [`Adspec::general`].
pub mod param {
    pub const IS_HOPS: u8 = 4;
    pub const PATH_BW: u8 = 6;
    pub const MIN_LATENCY: u8 = 8;
    pub const PATH_MTU: u8 = 10;
    pub const C_TOT: u8 = 133;
    pub const D_TOT: u8 = 134;
    pub const C_SUM: u8 = 135;
    pub const D_SUM: u8 = 136;
}

impl Adspec {
    /// The usual ADSPEC a sender starts with: the general parameters, a
    /// Guaranteed fragment with zero error terms and an empty Controlled-Load
    /// fragment.
    pub fn general(hops: u32, path_bw: f32, min_latency_us: u32, path_mtu: u32) -> Adspec {
        let p = |id, word| AdspecParam {
            id,
            flags: 0,
            words: vec![word],
        };
        Adspec {
            fragments: vec![
                AdspecFragment {
                    service: SERVICE_GENERAL,
                    break_bit: false,
                    params: vec![
                        p(param::IS_HOPS, hops),
                        p(param::PATH_BW, path_bw.to_bits()),
                        p(param::MIN_LATENCY, min_latency_us),
                        p(param::PATH_MTU, path_mtu),
                    ],
                },
                AdspecFragment {
                    service: SERVICE_GUARANTEED,
                    break_bit: false,
                    params: vec![
                        p(param::C_TOT, 0),
                        p(param::D_TOT, 0),
                        p(param::C_SUM, 0),
                        p(param::D_SUM, 0),
                    ],
                },
                AdspecFragment {
                    service: SERVICE_CONTROLLED_LOAD,
                    break_bit: false,
                    params: Vec::new(),
                },
            ],
        }
    }

    /// The first value of a general parameter, if present.
    pub fn general_param(&self, id: u8) -> Option<u32> {
        self.fragments
            .iter()
            .filter(|f| f.service == SERVICE_GENERAL)
            .flat_map(|f| &f.params)
            .find(|p| p.id == id)
            .and_then(|p| p.words.first().copied())
    }

    pub(crate) fn body_len(&self) -> usize {
        4 + self
            .fragments
            .iter()
            .map(|f| {
                4 + f
                    .params
                    .iter()
                    .map(|p| 4 + 4 * p.words.len())
                    .sum::<usize>()
            })
            .sum::<usize>()
    }

    pub(crate) fn parse(b: &[u8], offset: usize) -> Result<Adspec, Error> {
        let class = ClassNum::ADSPEC;
        if b.is_empty() {
            return Err(Error::ObjectLength {
                class,
                offset,
                length: 4,
                reason: "at least 8 bytes for an IntServ ADSPEC",
            });
        }
        message_header(b).map_err(|r| bad(class, offset, r))?;
        let mut fragments = Vec::new();
        let mut pos = 4;
        while pos < b.len() {
            // Every length here is in words and the body a whole number of
            // words, so a header word always fits.
            let service = b[pos];
            let break_bit = b[pos + 1] & 0x80 != 0;
            let end = pos + 4 + 4 * usize::from(be16(b, pos + 2));
            if end > b.len() {
                return Err(bad(
                    class,
                    offset + 4 + pos,
                    format!(
                        "fragment of service {service}: length runs {} bytes past the object",
                        end - b.len()
                    ),
                ));
            }
            let mut params = Vec::new();
            let mut p = pos + 4;
            while p < end {
                let id = b[p];
                let flags = b[p + 1];
                let pend = p + 4 + 4 * usize::from(be16(b, p + 2));
                if pend > end {
                    return Err(bad(
                        class,
                        offset + 4 + p,
                        format!(
                            "parameter {id}: length runs past its fragment of service {service}"
                        ),
                    ));
                }
                let words = (p + 4..pend).step_by(4).map(|i| be32(b, i)).collect();
                params.push(AdspecParam { id, flags, words });
                p = pend;
            }
            fragments.push(AdspecFragment {
                service,
                break_bit,
                params,
            });
            pos = end;
        }
        Ok(Adspec { fragments })
    }

    pub(crate) fn emit(&self, w: &mut Writer<'_>) {
        // The object length was checked to fit 16 bits, so every inner word
        // count fits too.
        w.u32((self.body_len() / 4 - 1) as u32);
        for f in &self.fragments {
            let words = f.params.iter().map(|p| 1 + p.words.len()).sum::<usize>();
            w.u8(f.service);
            w.u8(if f.break_bit { 0x80 } else { 0 });
            w.u16(words as u16);
            for p in &f.params {
                w.u8(p.id);
                w.u8(p.flags);
                w.u16(p.words.len() as u16);
                for v in &p.words {
                    w.u32(*v);
                }
            }
        }
    }
}
