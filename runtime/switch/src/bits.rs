//! Bit-level reads and writes on big-endian byte buffers, and BMv2's
//! `hexstr` literals.

/// All ones in the low `width` bits (`width` up to 128).
#[inline]
pub(crate) fn mask(width: u32) -> u128 {
    if width >= 128 {
        u128::MAX
    } else {
        (1u128 << width) - 1
    }
}

/// Reads `width` bits (at most 128) starting `off` bits into `buf`, most
/// significant bit first. The caller guarantees `off + width <= 8 * buf.len()`.
#[inline]
pub(crate) fn read_bits(buf: &[u8], off: usize, width: u32) -> u128 {
    let (byte, skip) = (off / 8, (off % 8) as u32);
    if skip + width <= 128 && width > 0 {
        if let Some(w) = buf.get(byte..byte + 16) {
            // A 16-byte window holds the whole field: one load and a shift.
            let mut a = [0u8; 16];
            a.copy_from_slice(w);
            let window = u128::from_be_bytes(a);
            return (window >> (128 - skip - width)) & mask(width);
        }
    }
    let end = off + width as usize;
    if off % 8 == 0 && end % 8 == 0 {
        let mut acc = 0u128;
        for &b in &buf[off / 8..end / 8] {
            acc = (acc << 8) | u128::from(b);
        }
        return acc;
    }
    let mut acc = 0u128;
    let mut bit = off;
    while bit < end {
        let byte = buf[bit / 8];
        let avail = 8 - bit % 8;
        let take = avail.min(end - bit);
        let v = (u16::from(byte) >> (avail - take)) & ((1u16 << take) - 1);
        acc = (acc << take) | u128::from(v);
        bit += take;
    }
    acc
}

/// Writes the low `width` bits of `val` (at most 128) at bit offset `off` of
/// `buf`, most significant bit first, leaving the other bits alone.
#[inline]
pub(crate) fn write_bits(buf: &mut [u8], off: usize, width: u32, val: u128) {
    let (byte, skip) = (off / 8, (off % 8) as u32);
    if skip + width <= 128 && width > 0 {
        if let Some(w) = buf.get_mut(byte..byte + 16) {
            let mut a = [0u8; 16];
            a.copy_from_slice(w);
            let shift = 128 - skip - width;
            let m = mask(width) << shift;
            let window = (u128::from_be_bytes(a) & !m) | ((val << shift) & m);
            w.copy_from_slice(&window.to_be_bytes());
            return;
        }
    }
    let end = off + width as usize;
    if off % 8 == 0 && end % 8 == 0 {
        let mut v = val;
        for b in buf[off / 8..end / 8].iter_mut().rev() {
            *b = v as u8;
            v >>= 8;
        }
        return;
    }
    let mut bit = off;
    while bit < end {
        let avail = 8 - bit % 8;
        let take = avail.min(end - bit);
        let after = end - bit - take;
        let chunk = ((val >> after) as u16 & ((1u16 << take) - 1)) as u8;
        let shift = avail - take;
        let m = (((1u16 << take) - 1) as u8) << shift;
        let b = &mut buf[bit / 8];
        *b = (*b & !m) | (chunk << shift);
        bit += take;
    }
}

/// Sign-extends a `width`-bit two's complement value to 128 bits.
#[inline]
pub(crate) fn sign_extend(v: u128, width: u32) -> u128 {
    if width == 0 || width >= 128 {
        v
    } else if (v >> (width - 1)) & 1 == 1 {
        v | !mask(width)
    } else {
        v
    }
}

/// The big-endian bytes of a `hexstr` (`0x1f`, `-0x01`; BMv2 also accepts
/// decimal), and whether it was negative.
pub(crate) fn hex_bytes(s: &str) -> Result<(Vec<u8>, bool), String> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    if let Some(hex) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        if hex.is_empty() || !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
            return Err(format!("expected a hexadecimal number, found `{s}`"));
        }
        let padded = if hex.len() % 2 == 1 {
            format!("0{hex}")
        } else {
            hex.to_string()
        };
        let bytes = (0..padded.len() / 2)
            .map(|i| u8::from_str_radix(&padded[2 * i..2 * i + 2], 16).map_err(|e| e.to_string()))
            .collect::<Result<Vec<u8>, String>>()?;
        Ok((bytes, neg))
    } else {
        let v: u128 = body
            .parse()
            .map_err(|_| format!("expected a number, found `{s}`"))?;
        let bytes = v
            .to_be_bytes()
            .iter()
            .copied()
            .skip_while(|b| *b == 0)
            .collect::<Vec<u8>>();
        Ok((if bytes.is_empty() { vec![0] } else { bytes }, neg))
    }
}

/// A big-endian byte string as a number; `None` if its significant part is
/// wider than 128 bits.
pub(crate) fn bytes_to_u128(b: &[u8]) -> Option<u128> {
    let significant = b
        .iter()
        .position(|x| *x != 0)
        .map_or(&b[b.len()..], |i| &b[i..]);
    if significant.len() > 16 {
        return None;
    }
    Some(
        significant
            .iter()
            .fold(0u128, |acc, x| (acc << 8) | u128::from(*x)),
    )
}

/// A `hexstr` as a 128-bit two's complement number.
pub(crate) fn hexstr(s: &str) -> Result<u128, String> {
    let (bytes, neg) = hex_bytes(s)?;
    let v = bytes_to_u128(&bytes).ok_or_else(|| format!("`{s}` is wider than 128 bits"))?;
    Ok(if neg { v.wrapping_neg() } else { v })
}

/// `v` as the `ceil(width / 8)` big-endian bytes P4Runtime uses.
pub fn to_bytes(v: u128, width: u32) -> Vec<u8> {
    let n = width.div_ceil(8) as usize;
    v.to_be_bytes()[16 - n.min(16)..].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unaligned_reads_and_writes_round_trip() {
        let mut buf = [0u8; 20];
        for off in 0..24 {
            for width in [1u32, 3, 7, 8, 9, 13, 16, 31, 48, 64, 100, 128] {
                buf.fill(0xa5);
                let v = 0x0123_4567_89ab_cdef_fedc_ba98_7654_3210u128 & mask(width);
                write_bits(&mut buf, off, width, v);
                assert_eq!(read_bits(&buf, off, width), v, "off {off} width {width}");
                // The bits around the field are untouched.
                if off > 0 {
                    assert_eq!(
                        read_bits(&buf, 0, off as u32 % 128),
                        read_bits(&[0xa5; 20], 0, off as u32 % 128)
                    );
                }
                let end = off + width as usize;
                assert_eq!(
                    read_bits(&buf, end, (160 - end as u32).min(8)),
                    read_bits(&[0xa5; 20], end, (160 - end as u32).min(8))
                );
            }
        }
    }

    #[test]
    fn hexstr_forms() {
        assert_eq!(hexstr("0x0800"), Ok(0x800));
        assert_eq!(hexstr("-0x01"), Ok(u128::MAX));
        assert_eq!(hexstr("42"), Ok(42));
        assert!(hexstr("0xg1").is_err());
        assert!(hexstr("0x1ffffffffffffffffffffffffffffffff").is_err());
        assert_eq!(sign_extend(0xff, 8), u128::MAX);
        assert_eq!(to_bytes(0x1ff, 9), vec![1, 0xff]);
    }
}
