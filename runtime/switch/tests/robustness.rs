//! No input packet panics the switch: random bytes, every truncation and
//! single-byte mutations of real frames, runts and jumbo frames, through the
//! fairshare DC pipeline with its rules.

mod common;

use std::net::Ipv4Addr;

/// xorshift64*: deterministic, so a failure replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[test]
fn random_truncated_and_mutated_packets_never_panic() {
    let mut sw = common::single_dc_switch();
    let frame = common::tcp_frame(
        [2, 0, 0, 1, 0, 3],
        [2, 0xaa, 0, 0, 0, 1],
        Ipv4Addr::new(192, 0, 2, 5),
        Ipv4Addr::new(203, 0, 113, 1),
        40000,
        80,
        64,
    );
    let mut sink = |_: u32, _: &[u8]| {};
    let mut n = 0u64;
    // Every truncation, on every port of interest.
    for port in [0u32, 1, 2, 3, 255, 511] {
        for len in 0..=frame.len() {
            sw.process(port, &frame[..len], n, &mut sink);
            n += 1;
        }
    }
    // Every single-byte mutation at every offset (a few values each).
    for i in 0..frame.len() {
        for v in [0u8, 1, 0x45, 0x46, 0x4f, 0x7f, 0x80, 0xff] {
            let mut f = frame.clone();
            f[i] = v;
            sw.process(3, &f, n, &mut sink);
            n += 1;
        }
    }
    // Random packets: random lengths from runts to 9 KB jumbo frames, some
    // starting with a valid Ethernet/IPv4 prefix so the parser goes deep.
    let count: u64 = std::env::var("FAIRSHARE_FUZZ_PACKETS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut buf = vec![0u8; 9216];
    for _ in 0..count {
        let r = rng.next();
        let len = match r % 8 {
            0 => (r >> 8) as usize % 14,
            1 => 9000 + (r >> 8) as usize % 216,
            _ => (r >> 8) as usize % 128,
        };
        for b in buf[..len].iter_mut() {
            *b = rng.next() as u8;
        }
        if r % 3 == 0 {
            let k = len.min(frame.len());
            let cut = (rng.next() as usize) % (k + 1);
            buf[..cut].copy_from_slice(&frame[..cut]);
        }
        sw.process((r >> 40) as u32 % 512, &buf[..len], n, &mut sink);
        n += 1;
    }
    assert_eq!(sw.stats().received, n);
    assert!(
        sw.stats().parser_errors > 0,
        "truncated frames must hit parser errors"
    );
}
