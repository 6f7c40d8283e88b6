//! Meter rates and bursts as a Tofino switch behind Stratum stores them.
//!
//! P4Runtime gives a meter's `MeterConfig` in the unit of the meter's
//! P4Info: for a byte meter, rates in bytes per second and bursts in bytes;
//! for a packet meter, packets per second and packets. BMv2
//! (`simple_switch_grpc`) and fairshare's switch keep those numbers as
//! they are. Stratum's Tofino targets (`stratum_bfrt`) hand byte meters to
//! the SDE in kbit/s and kbit, converting with an integer division by 125
//! (1 kbit = 125 bytes), and convert back by multiplying by 125 when a
//! meter is read; packet meters pass through unchanged.
//!
//! So the unit on the wire is the same for both kinds of switch, but a
//! Tofino switch keeps byte values only to whole multiples of 125: a rate
//! of 1,000,060 bytes/s is stored as 8,000 kbit/s and read back as
//! 1,000,000, and a rate under 125 bytes/s becomes zero. [`for_stratum`]
//! gives the values a controller should write so that what it writes is
//! exactly what the switch keeps and reads back:
//!
//! - rates (CIR, PIR) are rounded **down** to a multiple of 125, so that
//!   what the switch lets through never exceeds the share or reservation
//!   the controller computed (fair shares must stay within every budget);
//! - bursts (CBS, PBS) are rounded **up** to a multiple of 125, so that a
//!   burst is never smaller than asked (a burst below one packet would drop
//!   every packet of that size);
//! - a non-zero rate below 125 bytes/s is refused, not zeroed: a meter at
//!   rate zero turns everything red, which no caller means by a small rate;
//! - packet meters are returned unchanged.
//!
//! `for_stratum` is idempotent, and its output survives Stratum's
//! conversion and back unchanged (both are property-tested).

use crate::Error;

/// A meter's unit, from its P4Info (`MeterSpec.unit`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MeterUnit {
    Bytes,
    Packets,
}

/// The four numbers of a P4Runtime `MeterConfig`, in its integer type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MeterRates {
    /// Committed information rate, per second.
    pub cir: i64,
    /// Committed burst size.
    pub cburst: i64,
    /// Peak information rate, per second.
    pub pir: i64,
    /// Peak burst size.
    pub pburst: i64,
}

/// The number of bytes in the unit a Tofino switch keeps byte meters in
/// (one kbit), and the granularity of what it reads back.
pub const BYTES_PER_KBIT: i64 = 125;

/// The values to write to a Tofino switch behind Stratum for a meter of
/// `unit` asked to run at `asked`; see the module documentation.
pub fn for_stratum(unit: MeterUnit, asked: MeterRates) -> Result<MeterRates, Error> {
    let fields = [
        ("cir", asked.cir),
        ("cburst", asked.cburst),
        ("pir", asked.pir),
        ("pburst", asked.pburst),
    ];
    for (field, value) in fields {
        if value < 0 {
            return Err(Error::MeterNegative { field, value });
        }
    }
    if unit == MeterUnit::Packets {
        return Ok(asked);
    }
    let rate = |field: &'static str, value: i64| {
        if value > 0 && value < BYTES_PER_KBIT {
            Err(Error::MeterBelowOneKbit { field, value })
        } else {
            Ok(value / BYTES_PER_KBIT * BYTES_PER_KBIT)
        }
    };
    let burst = |field: &'static str, value: i64| {
        let kbits = value / BYTES_PER_KBIT + i64::from(value % BYTES_PER_KBIT != 0);
        kbits
            .checked_mul(BYTES_PER_KBIT)
            .ok_or(Error::MeterTooLarge { field, value })
    };
    Ok(MeterRates {
        cir: rate("cir", asked.cir)?,
        cburst: burst("cburst", asked.cburst)?,
        pir: rate("pir", asked.pir)?,
        pburst: burst("pburst", asked.pburst)?,
    })
}

/// What Stratum's Tofino targets store of a byte value and give back when
/// it is read (bytes → kbit → bytes); the identity for packet meters.
pub fn stratum_round_trip(unit: MeterUnit, value: i64) -> i64 {
    match unit {
        MeterUnit::Packets => value,
        MeterUnit::Bytes => value / BYTES_PER_KBIT * BYTES_PER_KBIT,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rates(cir: i64, cburst: i64, pir: i64, pburst: i64) -> MeterRates {
        MeterRates {
            cir,
            cburst,
            pir,
            pburst,
        }
    }

    #[test]
    fn byte_rates_round_down_and_bursts_round_up_to_whole_kbits() {
        // 8 Mbit/s and 1.2 Mbit/s committed and peak, bursts of one 1500-byte
        // frame and of 10,001 bytes.
        let got =
            for_stratum(MeterUnit::Bytes, rates(1_000_060, 1_500, 150_124, 10_001)).expect("valid");
        assert_eq!(got, rates(1_000_000, 1_500, 150_000, 10_125));
    }

    #[test]
    fn packet_meters_are_left_alone() {
        let asked = rates(1_000, 100, 2_000, 7);
        assert_eq!(
            for_stratum(MeterUnit::Packets, asked).expect("valid"),
            asked
        );
    }

    #[test]
    fn zero_stays_zero_and_a_rate_below_one_kbit_is_refused() {
        assert_eq!(
            for_stratum(MeterUnit::Bytes, rates(0, 0, 0, 0)).expect("zero is valid"),
            rates(0, 0, 0, 0)
        );
        let e = for_stratum(MeterUnit::Bytes, rates(124, 1_500, 1_000, 1_500))
            .expect_err("124 bytes/s is below one kbit/s");
        assert!(
            matches!(
                e,
                Error::MeterBelowOneKbit {
                    field: "cir",
                    value: 124
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("found 124"), "{e}");
    }

    #[test]
    fn negative_and_overflowing_values_are_refused() {
        assert!(matches!(
            for_stratum(MeterUnit::Packets, rates(1, -1, 1, 1)),
            Err(Error::MeterNegative {
                field: "cburst",
                value: -1
            })
        ));
        assert!(matches!(
            for_stratum(MeterUnit::Bytes, rates(1_000, i64::MAX, 1_000, 1)),
            Err(Error::MeterTooLarge {
                field: "cburst",
                ..
            })
        ));
    }

    proptest! {
        /// What is written is what the switch keeps and reads back, and
        /// writing it again changes nothing.
        #[test]
        fn the_values_survive_stratums_conversion(
            cir in 125i64..1_000_000_000_000,
            pir in 125i64..1_000_000_000_000,
            cburst in 0i64..1_000_000_000,
            pburst in 0i64..1_000_000_000,
        ) {
            let w = for_stratum(MeterUnit::Bytes, rates(cir, cburst, pir, pburst)).expect("valid");
            for v in [w.cir, w.cburst, w.pir, w.pburst] {
                prop_assert_eq!(stratum_round_trip(MeterUnit::Bytes, v), v);
            }
            prop_assert_eq!(for_stratum(MeterUnit::Bytes, w).expect("valid"), w);
            // Never more rate than asked, never less burst, and less than
            // one kbit away from what was asked.
            prop_assert!(w.cir <= cir && cir - w.cir < BYTES_PER_KBIT);
            prop_assert!(w.pir <= pir && pir - w.pir < BYTES_PER_KBIT);
            prop_assert!(w.cburst >= cburst && w.cburst - cburst < BYTES_PER_KBIT);
            prop_assert!(w.pburst >= pburst && w.pburst - pburst < BYTES_PER_KBIT);
        }
    }
}
