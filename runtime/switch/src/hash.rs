//! The hash and checksum algorithms BMv2 offers to `calculations`, computed
//! as BMv2 computes them (same polynomials, reflection and byte order).

/// An algorithm named by a calculation's `algo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Algo {
    /// The Internet checksum (RFC 1071): ones' complement of the ones'
    /// complement sum of 16-bit big-endian words, an odd byte padded with zero.
    Csum16,
    /// CRC-16/ARC: polynomial 0x8005, reflected in and out, init 0, no final xor.
    Crc16,
    /// CRC-32 (IEEE 802.3): polynomial 0x04c11db7, reflected, init and final xor all ones.
    Crc32,
    /// CRC-16/CCITT-FALSE: polynomial 0x1021, not reflected, init 0xffff.
    CrcCcitt,
    /// The first eight bytes of the input as a big-endian number.
    Identity,
    /// Xor of the input's 16-bit big-endian words, the last one zero-padded.
    Xor16,
}

impl Algo {
    pub(crate) fn from_name(name: &str) -> Option<Algo> {
        Some(match name {
            "csum16" | "cksum16" => Algo::Csum16,
            "crc16" => Algo::Crc16,
            "crc32" => Algo::Crc32,
            "crcCCITT" => Algo::CrcCcitt,
            "identity" => Algo::Identity,
            "xor16" => Algo::Xor16,
            _ => return None,
        })
    }

    pub(crate) fn compute(self, data: &[u8]) -> u64 {
        match self {
            Algo::Csum16 => u64::from(csum16(data)),
            Algo::Crc16 => u64::from(crc16(data)),
            Algo::Crc32 => u64::from(crc32(data)),
            Algo::CrcCcitt => u64::from(crc_ccitt(data)),
            Algo::Identity => data
                .iter()
                .take(8)
                .fold(0u64, |acc, b| (acc << 8) | u64::from(*b)),
            Algo::Xor16 => data.chunks(2).fold(0u64, |acc, c| {
                acc ^ u64::from(u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)]))
            }),
        }
    }
}

pub(crate) fn csum16(data: &[u8]) -> u16 {
    let mut sum: u64 = 0;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u64::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u64::from(*last) << 8;
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &b in data {
        crc ^= u16::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xa001
            } else {
                crc >> 1
            };
        }
    }
    crc
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc: u32 = 0xffff_ffff;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn crc_ccitt(data: &[u8]) -> u16 {
    let mut crc: u16 = 0xffff;
    for &b in data {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    // Check values of the catalogue of parametrised CRC algorithms, on the
    // ASCII string "123456789".
    #[test]
    fn crc_check_values() {
        assert_eq!(crc16(b"123456789"), 0xbb3d);
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        assert_eq!(crc_ccitt(b"123456789"), 0x29b1);
    }

    // RFC 1071's worked example: the words 0001 f203 f4f5 f6f7 sum to ddf2.
    #[test]
    fn internet_checksum() {
        assert_eq!(
            csum16(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            !0xddf2
        );
        assert_eq!(csum16(&[0xab]), !0xab00);
        assert_eq!(Algo::Identity.compute(&[1, 2, 3]), 0x010203);
        assert_eq!(Algo::Xor16.compute(&[0x12, 0x34, 0x56]), 0x1234 ^ 0x5600);
    }
}
