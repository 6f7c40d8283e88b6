//! Exact decimal arithmetic for quantities with units.
//!
//! Quantities are converted to integers in base units (bits per second,
//! microseconds, parts per million) without going through floating point, so
//! `2.5Gbps` is exactly 2 500 000 000 bps and `0.5us` is rejected rather than
//! rounded.

/// What a unit measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dimension {
    Bandwidth,
    Time,
    Percent,
}

impl Dimension {
    /// A noun phrase for messages: "a bandwidth".
    pub(crate) fn noun(self) -> &'static str {
        match self {
            Dimension::Bandwidth => "a bandwidth",
            Dimension::Time => "a time",
            Dimension::Percent => "a percentage",
        }
    }

    /// The units of this dimension, for hints.
    pub(crate) fn units(self) -> &'static str {
        match self {
            Dimension::Bandwidth => "bps, Kbps, Mbps, Gbps or Tbps",
            Dimension::Time => "us, ms or s",
            Dimension::Percent => "%",
        }
    }

    /// An example value, for hints.
    pub(crate) fn example(self) -> &'static str {
        match self {
            Dimension::Bandwidth => "10Gbps",
            Dimension::Time => "2ms",
            Dimension::Percent => "20%",
        }
    }

    /// The base unit's name, for "not a whole number of ...".
    pub(crate) fn base(self) -> &'static str {
        match self {
            Dimension::Bandwidth => "bits per second",
            Dimension::Time => "microseconds",
            Dimension::Percent => "parts per million",
        }
    }
}

/// Every unit the language knows: spelling, dimension, and how many base
/// units one of it is.
pub(crate) const UNITS: [(&str, Dimension, u64); 9] = [
    ("bps", Dimension::Bandwidth, 1),
    ("Kbps", Dimension::Bandwidth, 1_000),
    ("Mbps", Dimension::Bandwidth, 1_000_000),
    ("Gbps", Dimension::Bandwidth, 1_000_000_000),
    ("Tbps", Dimension::Bandwidth, 1_000_000_000_000),
    ("us", Dimension::Time, 1),
    ("ms", Dimension::Time, 1_000),
    ("s", Dimension::Time, 1_000_000),
    ("%", Dimension::Percent, 10_000),
];

pub(crate) fn unit(spelling: &str) -> Option<(Dimension, u64)> {
    UNITS
        .iter()
        .find(|(s, _, _)| *s == spelling)
        .map(|&(_, d, m)| (d, m))
}

/// A known unit that differs from `spelling` only in letter case, for
/// "did you mean" hints (`gbps` → `Gbps`).
pub(crate) fn unit_case_fix(spelling: &str) -> Option<&'static str> {
    UNITS
        .iter()
        .find(|(s, _, _)| s.eq_ignore_ascii_case(spelling))
        .map(|&(s, _, _)| s)
}

/// A decimal number `mantissa / 10^scale`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Decimal {
    pub mantissa: u128,
    pub scale: u32,
}

/// Why a decimal could not become an integer quantity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Inexact {
    /// It has a fractional part in the base unit.
    Fraction,
    /// It does not fit the target integer.
    Overflow,
}

/// Parses `digits` or `digits.digits`. Returns `Err(Overflow)` for numbers
/// with too many digits to represent and `Err(Fraction)` for anything that is
/// not a decimal number (the grammar never produces that).
pub(crate) fn parse_decimal(text: &str) -> Result<Decimal, Inexact> {
    let (int, frac) = match text.split_once('.') {
        Some((i, f)) => (i, f),
        None => (text, ""),
    };
    if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Inexact::Fraction);
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) || (text.contains('.') && frac.is_empty()) {
        return Err(Inexact::Fraction);
    }
    // Trailing zeros of the fraction change nothing; dropping them keeps
    // `1.000000000000000000000000000000000000000` representable.
    let frac = frac.trim_end_matches('0');
    let mut mantissa: u128 = 0;
    for b in int.bytes().chain(frac.bytes()) {
        mantissa = mantissa
            .checked_mul(10)
            .and_then(|m| m.checked_add(u128::from(b - b'0')))
            .ok_or(Inexact::Overflow)?;
    }
    let scale = u32::try_from(frac.len()).map_err(|_| Inexact::Overflow)?;
    Ok(Decimal { mantissa, scale })
}

/// `d * multiplier` as an exact integer no larger than `max`.
pub(crate) fn scale(d: Decimal, multiplier: u64, max: u64) -> Result<u64, Inexact> {
    let product = d
        .mantissa
        .checked_mul(u128::from(multiplier))
        .ok_or(Inexact::Overflow)?;
    let divisor = 10u128.checked_pow(d.scale).ok_or(Inexact::Fraction)?;
    if product % divisor != 0 {
        return Err(Inexact::Fraction);
    }
    let value = product / divisor;
    u64::try_from(value)
        .ok()
        .filter(|v| *v <= max)
        .ok_or(Inexact::Overflow)
}

/// Formats a value in base units with the largest unit of its dimension that
/// keeps it at or above 1, e.g. 16 000 000 000 bps → `16Gbps`,
/// 2 500 000 000 → `2.5Gbps`.
pub(crate) fn format(value: u64, dim: Dimension) -> String {
    let (spelling, multiplier) = UNITS
        .iter()
        .filter(|(_, d, m)| *d == dim && (*m <= value || *m == 1))
        .max_by_key(|(_, _, m)| *m)
        .map(|&(s, _, m)| (s, m))
        .unwrap_or(("", 1));
    let int = value / multiplier;
    let frac = value % multiplier;
    if frac == 0 {
        return format!("{int}{spelling}");
    }
    let width = multiplier.ilog10() as usize;
    let digits = format!("{frac:0width$}");
    format!("{int}.{}{spelling}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn to_base(text: &str, unit_name: &str) -> Result<u64, Inexact> {
        let (_, m) = unit(unit_name).ok_or(Inexact::Fraction)?;
        scale(parse_decimal(text)?, m, u64::MAX)
    }

    #[test]
    fn bandwidth_units_are_decimal() {
        assert_eq!(to_base("1", "bps"), Ok(1));
        assert_eq!(to_base("1", "Kbps"), Ok(1_000));
        assert_eq!(to_base("20", "Mbps"), Ok(20_000_000));
        assert_eq!(to_base("40", "Gbps"), Ok(40_000_000_000));
        assert_eq!(to_base("2.5", "Gbps"), Ok(2_500_000_000));
        assert_eq!(to_base("1.25", "Tbps"), Ok(1_250_000_000_000));
        assert_eq!(to_base("0.001", "Kbps"), Ok(1));
    }

    #[test]
    fn fractions_of_the_base_unit_are_rejected() {
        assert_eq!(to_base("0.5", "bps"), Err(Inexact::Fraction));
        assert_eq!(to_base("1.0001", "Kbps"), Err(Inexact::Fraction));
        assert_eq!(to_base("0.5", "us"), Err(Inexact::Fraction));
    }

    #[test]
    fn time_and_percent_units() {
        assert_eq!(to_base("5", "s"), Ok(5_000_000));
        assert_eq!(to_base("2", "ms"), Ok(2_000));
        assert_eq!(to_base("1.5", "ms"), Ok(1_500));
        assert_eq!(to_base("250", "us"), Ok(250));
        assert_eq!(to_base("20", "%"), Ok(200_000));
        assert_eq!(to_base("12.5", "%"), Ok(125_000));
        assert_eq!(to_base("100", "%"), Ok(1_000_000));
    }

    #[test]
    fn trailing_zeros_do_not_count_as_precision() {
        assert_eq!(
            to_base("2.50000000000000000000000000000000000000000", "Gbps"),
            Ok(2_500_000_000)
        );
    }

    #[test]
    fn overflow_is_reported() {
        assert_eq!(
            to_base("18446744073709551616", "bps"),
            Err(Inexact::Overflow)
        );
        assert_eq!(to_base("20000000", "Tbps"), Err(Inexact::Overflow));
        assert_eq!(
            parse_decimal("1234567890123456789012345678901234567890"),
            Err(Inexact::Overflow)
        );
        assert_eq!(
            scale(
                Decimal {
                    mantissa: 512,
                    scale: 0
                },
                1,
                511
            ),
            Err(Inexact::Overflow)
        );
    }

    #[test]
    fn unknown_units_and_case_hints() {
        assert_eq!(unit("gbps"), None);
        assert_eq!(unit_case_fix("gbps"), Some("Gbps"));
        assert_eq!(unit_case_fix("MS"), Some("ms"));
        assert_eq!(unit_case_fix("Gbs"), None);
    }

    #[test]
    fn formatting_picks_the_largest_whole_unit() {
        assert_eq!(format(16_000_000_000, Dimension::Bandwidth), "16Gbps");
        assert_eq!(format(2_500_000_000, Dimension::Bandwidth), "2.5Gbps");
        assert_eq!(format(999, Dimension::Bandwidth), "999bps");
        assert_eq!(format(0, Dimension::Bandwidth), "0bps");
        assert_eq!(format(1_500, Dimension::Time), "1.5ms");
        assert_eq!(format(5_000_000, Dimension::Time), "5s");
    }
}
