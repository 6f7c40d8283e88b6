//! Byte strings of P4 `bit<W>` values.
//!
//! P4Runtime carries `bit<W>` values (match keys, action parameters, packet
//! metadata, register cells) as big-endian byte strings. The canonical form is
//! the shortest one: no leading zero bytes, and zero is the single byte
//! `0x00`. Senders should use it; receivers take any string of at most
//! `ceil(W/8)` bytes whose value fits in `W` bits, which also admits the older
//! form padded to the full width.
//!
//! [`BitString`] is the validated form: it always holds the canonical bytes of
//! a value that fits its width, so comparing two of them compares values.

use crate::Error;

/// The number of bytes a `bit<W>` value takes when padded: `ceil(W/8)`.
pub fn full_width_len(bitwidth: u32) -> usize {
    bitwidth.div_ceil(8) as usize
}

/// The number of significant bits of a big-endian byte string (0 for zero).
pub fn significant_bits(bytes: &[u8]) -> u32 {
    let significant = strip_leading_zeros(bytes);
    match significant.first() {
        None | Some(0) => 0,
        Some(first) => (significant.len() as u32 - 1) * 8 + (8 - first.leading_zeros()),
    }
}

/// The bytes without their leading zero bytes, keeping one byte for zero.
/// An empty input stays empty.
pub fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let zeros = bytes.iter().take_while(|&&b| b == 0).count();
    if zeros == bytes.len() {
        &bytes[bytes.len().saturating_sub(1)..]
    } else {
        &bytes[zeros..]
    }
}

/// True when `bytes` is in canonical form: not empty, and no leading zero
/// byte unless it is the single byte of zero.
pub fn is_canonical(bytes: &[u8]) -> bool {
    match bytes {
        [] => false,
        [_] => true,
        [first, ..] => *first != 0,
    }
}

/// The canonical byte string of `value`.
pub fn encode_u128(value: u128) -> Vec<u8> {
    let all = value.to_be_bytes();
    strip_leading_zeros(&all).to_vec()
}

/// The value of a big-endian byte string, or `None` when it needs more than
/// 128 bits.
pub fn decode_u128(bytes: &[u8]) -> Option<u128> {
    if significant_bits(bytes) > 128 {
        return None;
    }
    Some(
        bytes
            .iter()
            .fold(0u128, |acc, &b| (acc << 8) | u128::from(b)),
    )
}

/// How strictly [`BitString::from_wire`] checks its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// Only the shortest form is accepted.
    Canonical,
    /// Leading zero bytes are accepted up to the full width of `ceil(W/8)`
    /// bytes.
    Padded,
}

/// A `bit<W>` value held as its canonical byte string.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BitString {
    bytes: Vec<u8>,
    bitwidth: u32,
}

impl BitString {
    /// Checks a byte string received for a `bit<W>` field.
    ///
    /// # Errors
    /// [`Error::BadBitwidth`] for a width of 0, [`Error::EmptyByteString`],
    /// [`Error::ByteStringTooLong`] beyond `ceil(W/8)` bytes,
    /// [`Error::NotCanonical`] for leading zeros under [`Form::Canonical`],
    /// and [`Error::ValueTooWide`] when the value needs more than `W` bits.
    pub fn from_wire(bytes: &[u8], bitwidth: u32, form: Form) -> Result<Self, Error> {
        check_bitwidth(bitwidth, u32::MAX)?;
        if bytes.is_empty() {
            return Err(Error::EmptyByteString { bitwidth });
        }
        let max = full_width_len(bitwidth);
        if bytes.len() > max {
            return Err(Error::ByteStringTooLong {
                bitwidth,
                max,
                len: bytes.len(),
            });
        }
        if form == Form::Canonical && !is_canonical(bytes) {
            let leading_zeros = bytes.len() - strip_leading_zeros(bytes).len();
            return Err(Error::NotCanonical {
                len: bytes.len(),
                leading_zeros,
            });
        }
        let needed = significant_bits(bytes);
        if needed > bitwidth {
            return Err(Error::ValueTooWide { bitwidth, needed });
        }
        Ok(Self {
            bytes: strip_leading_zeros(bytes).to_vec(),
            bitwidth,
        })
    }

    /// The value `value` as a `bit<bitwidth>`.
    ///
    /// # Errors
    /// [`Error::BadBitwidth`] for a width of 0 and [`Error::ValueTooWide`]
    /// when the value does not fit.
    pub fn from_u128(value: u128, bitwidth: u32) -> Result<Self, Error> {
        check_bitwidth(bitwidth, u32::MAX)?;
        let needed = 128 - value.leading_zeros();
        if needed > bitwidth {
            return Err(Error::ValueTooWide { bitwidth, needed });
        }
        Ok(Self {
            bytes: encode_u128(value),
            bitwidth,
        })
    }

    /// The value of big-endian `bytes` of any length (leading zeros are
    /// dropped) as a `bit<bitwidth>`.
    ///
    /// # Errors
    /// [`Error::BadBitwidth`] for a width of 0, [`Error::EmptyByteString`],
    /// and [`Error::ValueTooWide`] when the value does not fit.
    pub fn from_be_bytes(bytes: &[u8], bitwidth: u32) -> Result<Self, Error> {
        check_bitwidth(bitwidth, u32::MAX)?;
        if bytes.is_empty() {
            return Err(Error::EmptyByteString { bitwidth });
        }
        let needed = significant_bits(bytes);
        if needed > bitwidth {
            return Err(Error::ValueTooWide { bitwidth, needed });
        }
        Ok(Self {
            bytes: strip_leading_zeros(bytes).to_vec(),
            bitwidth,
        })
    }

    /// The canonical bytes, as they go on the wire.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The canonical bytes, owned.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    pub fn bitwidth(&self) -> u32 {
        self.bitwidth
    }

    /// The value, or `None` when it needs more than 128 bits.
    pub fn to_u128(&self) -> Option<u128> {
        decode_u128(&self.bytes)
    }

    /// The value padded with leading zeros to `ceil(W/8)` bytes, the form
    /// most data planes store.
    pub fn to_padded(&self) -> Vec<u8> {
        let len = full_width_len(self.bitwidth);
        let mut out = vec![0u8; len.saturating_sub(self.bytes.len())];
        out.extend_from_slice(&self.bytes);
        out
    }
}

fn check_bitwidth(bitwidth: u32, max: u32) -> Result<(), Error> {
    if bitwidth == 0 || bitwidth > max {
        return Err(Error::BadBitwidth { bitwidth, max });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_form_strips_leading_zeros_but_keeps_zero() {
        assert_eq!(encode_u128(0), vec![0]);
        assert_eq!(encode_u128(5), vec![5]);
        assert_eq!(encode_u128(0x1_00), vec![1, 0]);
        assert_eq!(strip_leading_zeros(&[0, 0, 0]), &[0]);
        assert_eq!(strip_leading_zeros(&[0, 0, 7, 0]), &[7, 0]);
        assert!(is_canonical(&[0]));
        assert!(!is_canonical(&[0, 1]));
        assert!(!is_canonical(&[]));
    }

    #[test]
    fn padded_input_is_accepted_only_when_asked_for() {
        let padded = BitString::from_wire(&[0, 5], 9, Form::Padded).expect("fits");
        assert_eq!(padded.as_bytes(), &[5]);
        assert_eq!(padded.to_padded(), vec![0, 5]);
        assert_eq!(
            BitString::from_wire(&[0, 5], 9, Form::Canonical),
            Err(Error::NotCanonical {
                len: 2,
                leading_zeros: 1
            })
        );
    }

    #[test]
    fn width_is_checked_in_bits_and_bytes() {
        // 0x1ff needs 9 bits: fits bit<9>, not bit<8>.
        assert!(BitString::from_wire(&[1, 0xff], 9, Form::Canonical).is_ok());
        assert_eq!(
            BitString::from_wire(&[2, 0], 9, Form::Canonical),
            Err(Error::ValueTooWide {
                bitwidth: 9,
                needed: 10
            })
        );
        assert_eq!(
            BitString::from_wire(&[0, 0, 1], 9, Form::Padded),
            Err(Error::ByteStringTooLong {
                bitwidth: 9,
                max: 2,
                len: 3
            })
        );
        assert_eq!(
            BitString::from_wire(&[], 9, Form::Padded),
            Err(Error::EmptyByteString { bitwidth: 9 })
        );
        assert_eq!(
            BitString::from_u128(256, 8),
            Err(Error::ValueTooWide {
                bitwidth: 8,
                needed: 9
            })
        );
        assert!(matches!(
            BitString::from_u128(1, 0),
            Err(Error::BadBitwidth { .. })
        ));
    }

    #[test]
    fn values_round_trip_through_u128() {
        for (value, width) in [
            (0u128, 1u32),
            (1, 1),
            (0xabcd, 16),
            (u128::MAX, 128),
            (1 << 47, 48),
        ] {
            let bits = BitString::from_u128(value, width).expect("fits");
            assert!(is_canonical(bits.as_bytes()));
            assert_eq!(bits.to_u128(), Some(value));
            let again =
                BitString::from_wire(bits.as_bytes(), width, Form::Canonical).expect("canonical");
            assert_eq!(again, bits);
        }
        assert_eq!(decode_u128(&[1; 17]), None);
        assert_eq!(decode_u128(&[0; 20]), Some(0));
    }
}
