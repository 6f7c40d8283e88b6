//! Two-rate three-colour meters (RFC 2698), computed as BMv2 computes them.
//!
//! Choices, each BMv2's (`bm_sim/meters.cpp`), so that a trace gives the
//! same colours here as on `simple_switch` fed at the same instants:
//! * Colours: green 0, yellow 1, red 2. An unconfigured meter is green.
//! * Rates are kept per microsecond, as the P4Runtime rate (per second)
//!   divided by 10^6 in double precision; bursts are whole bytes or packets.
//! * A configured bucket starts full. Configuring (again) refills both.
//! * Tokens are counted from the time origin, not from the last packet:
//!   the bucket earns `floor(t × rate)` tokens since the origin, minus what
//!   it had been credited at its last update, then is capped at the burst.
//! * The peak bucket is checked first: too few tokens → red, and nothing is
//!   taken from either bucket. Otherwise the peak bucket pays, and then the
//!   committed bucket: too few tokens → yellow (it does not pay); else it
//!   pays → green.
//! * A byte meter charges the packet's length as it arrived on its port.
//! * The committed rate must not exceed the peak rate.
//!
//! Time is given by the caller in microseconds since the switch's time
//! origin, so runs are reproducible. A time earlier than a meter's last
//! update earns no tokens (BMv2 would assert).

/// What a meter counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeterUnit {
    Bytes,
    Packets,
}

/// A meter's configuration in P4Runtime units: rates per second, bursts in
/// bytes or packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MeterConfig {
    pub cir: u64,
    pub cburst: u64,
    pub pir: u64,
    pub pburst: u64,
}

pub const GREEN: u8 = 0;
pub const YELLOW: u8 = 1;
pub const RED: u8 = 2;

#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    /// Tokens per microsecond.
    rate: f64,
    burst: u64,
    tokens: u64,
    /// Tokens credited since the time origin at the last update.
    credited: u64,
}

impl Bucket {
    fn new(per_second: u64, burst: u64) -> Bucket {
        Bucket {
            rate: per_second as f64 / 1_000_000.0,
            burst,
            tokens: burst,
            credited: 0,
        }
    }

    fn refill(&mut self, now_us: u64) {
        let since_origin = (now_us as i64 as f64 * self.rate) as u64;
        let earned = since_origin.saturating_sub(self.credited);
        self.credited = self.credited.max(since_origin);
        self.tokens = self.tokens.saturating_add(earned).min(self.burst);
    }
}

/// One trTCM meter cell.
#[derive(Debug, Clone, Default)]
pub struct Meter {
    config: Option<MeterConfig>,
    peak: Bucket,
    committed: Bucket,
}

impl Meter {
    /// Configures the meter; refuses a committed rate above the peak rate.
    pub fn set_config(&mut self, c: MeterConfig) -> Result<(), String> {
        if c.cir > c.pir {
            return Err(format!(
                "the committed rate {} is above the peak rate {}",
                c.cir, c.pir
            ));
        }
        self.config = Some(c);
        self.peak = Bucket::new(c.pir, c.pburst);
        self.committed = Bucket::new(c.cir, c.cburst);
        Ok(())
    }

    /// Back to unconfigured (always green).
    pub fn reset(&mut self) {
        *self = Meter::default();
    }

    pub fn config(&self) -> Option<MeterConfig> {
        self.config
    }

    /// Marks a packet of `amount` bytes (or 1 packet) arriving at `now_us`.
    pub fn execute(&mut self, now_us: u64, amount: u64) -> u8 {
        if self.config.is_none() {
            return GREEN;
        }
        self.peak.refill(now_us);
        if self.peak.tokens < amount {
            return RED;
        }
        self.peak.tokens -= amount;
        self.committed.refill(now_us);
        if self.committed.tokens < amount {
            return YELLOW;
        }
        self.committed.tokens -= amount;
        GREEN
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meter(cir: u64, cburst: u64, pir: u64, pburst: u64) -> Meter {
        let mut m = Meter::default();
        m.set_config(MeterConfig {
            cir,
            cburst,
            pir,
            pburst,
        })
        .expect("valid config");
        m
    }

    #[test]
    fn unconfigured_is_green() {
        let mut m = Meter::default();
        assert_eq!(m.execute(0, 1_000_000), GREEN);
    }

    #[test]
    fn a_packet_of_exactly_the_committed_burst_is_green_one_byte_more_is_yellow() {
        assert_eq!(meter(1000, 1500, 2000, 3000).execute(0, 1500), GREEN);
        assert_eq!(meter(1000, 1500, 2000, 3000).execute(0, 1501), YELLOW);
        assert_eq!(meter(1000, 1500, 2000, 3000).execute(0, 3000), YELLOW);
        assert_eq!(meter(1000, 1500, 2000, 3000).execute(0, 3001), RED);
    }

    #[test]
    fn red_takes_no_tokens_and_yellow_takes_only_peak_tokens() {
        let mut m = meter(0, 100, 0, 150);
        assert_eq!(m.execute(0, 200), RED);
        // Red took nothing: 100 still fit both buckets.
        assert_eq!(m.execute(0, 100), GREEN);
        // 50 left in the peak bucket, 0 in the committed one: yellow.
        assert_eq!(m.execute(0, 50), YELLOW);
        // The yellow packet paid the peak bucket: now empty.
        assert_eq!(m.execute(0, 1), RED);
    }

    #[test]
    fn refill_is_rate_times_elapsed_microseconds_capped_at_the_burst() {
        // 1,000,000 bytes/s is one byte per microsecond.
        let mut m = meter(1_000_000, 1000, 2_000_000, 1000);
        assert_eq!(m.execute(0, 1000), GREEN);
        // 499 µs later: committed has 499 bytes, peak 998.
        assert_eq!(m.execute(499, 500), YELLOW);
        // One microsecond after that: committed has 500, peak 998 - 500 + 2 = 500.
        assert_eq!(m.execute(500, 500), GREEN);
        // Long idle: both full again, and no more than the burst.
        assert_eq!(m.execute(10_000_000, 1000), GREEN);
        assert_eq!(m.execute(10_000_000, 1), RED);
    }

    #[test]
    fn fractional_rates_count_from_the_origin() {
        // 1,500 bytes/s = 0.0015 per µs: 1,000 µs earn 1 byte, 2,000 µs 3.
        let mut m = meter(1500, 10, 1500, 10);
        assert_eq!(m.execute(0, 10), GREEN);
        assert_eq!(m.execute(1000, 2), RED);
        assert_eq!(m.execute(2000, 3), GREEN);
    }

    #[test]
    fn time_going_back_earns_nothing() {
        let mut m = meter(1_000_000, 100, 1_000_000, 100);
        assert_eq!(m.execute(1000, 100), GREEN);
        assert_eq!(m.execute(500, 1), RED);
        assert_eq!(m.execute(1001, 1), GREEN);
    }

    #[test]
    fn committed_above_peak_is_refused() {
        assert!(Meter::default()
            .set_config(MeterConfig {
                cir: 2,
                cburst: 1,
                pir: 1,
                pburst: 1
            })
            .is_err());
    }
}
