//! No input packet panics the switch: every truncation and single-byte
//! mutation of real frames, random multi-byte mutations, random bytes from
//! runts to 9 KB jumbo frames, through the fairshare DC pipeline with its
//! rules, on data ports, the CPU port and the drop port.
//!
//! `FAIRSHARE_FUZZ_PACKETS` sets the number of random and mutated packets
//! (default 1,000,000: about 20 s in a debug build, under 2 s in release);
//! `FAIRSHARE_FUZZ_SEED` the seed. A packet that panics is written to
//! `tests/regressions/` and the test fails; every file there is replayed on
//! every port by `regressions_replay`.

mod common;

use std::net::Ipv4Addr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

use fairshare_switch::{Stats, Switch};

/// xorshift64*: deterministic, so a failure replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Ports worth hitting: data ports of the example, the CPU port, an
/// unattached port and the drop port.
const PORTS: [u32; 6] = [0, 1, 2, 3, 255, 511];

fn regressions_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/regressions"))
}

/// Seed frames the mutations start from: the shapes the parser and the
/// tables care about, so that mutations reach deep states.
fn seeds() -> Vec<Vec<u8>> {
    let client = Ipv4Addr::new(192, 0, 2, 5);
    let vip = Ipv4Addr::new(203, 0, 113, 1);
    let tcp = common::tcp_frame(
        [2, 0, 0, 1, 0, 3],
        [2, 0xaa, 0, 0, 0, 1],
        client,
        vip,
        40000,
        80,
        64,
    );
    // IPv4 with a Router Alert option (IHL 6) carrying an RSVP Path
    // header: the punt path.
    let mut rsvp = tcp[..14].to_vec();
    rsvp.extend_from_slice(&[
        0x46, 0, 0, 40, 0, 2, 0, 0, 63, 46, 0, 0, 192, 0, 2, 5, 203, 0, 113, 1, // IPv4
        0x94, 0x04, 0, 0, // Router Alert
        0x10, 1, 0, 0, 63, 0, 0, 16, // RSVP common header: Path, length 16
        0, 8, 1, 1, 203, 0, 113, 1, // a SESSION-like object
    ]);
    // A packet-out from the controller on the CPU port: a 2-byte header
    // ahead of the frame (egress port 2 in the top 9 bits).
    let mut packet_out = (2u16 << 7).to_be_bytes().to_vec();
    packet_out.extend_from_slice(&tcp);
    // Non-IPv4: ARP and an 802.1Q tag.
    let mut arp = tcp[..12].to_vec();
    arp.extend_from_slice(&[0x08, 0x06]);
    arp.extend_from_slice(&[0u8; 28]);
    let mut vlan = tcp[..12].to_vec();
    vlan.extend_from_slice(&[0x81, 0x00, 0, 5]);
    vlan.extend_from_slice(&tcp[12..]);
    // A 9 KB jumbo frame.
    let mut jumbo = tcp.clone();
    jumbo.resize(9000, 0x5a);
    vec![tcp, rsvp, packet_out, arp, vlan, jumbo]
}

/// Sends one packet; a panic saves the packet under `tests/regressions/`
/// and fails the test naming the file.
fn send(sw: &mut Switch, port: u32, packet: &[u8], now: u64) {
    let r = catch_unwind(AssertUnwindSafe(|| {
        sw.process(port, packet, now, &mut |_: u32, _: &[u8]| {})
    }));
    if r.is_err() {
        let dir = regressions_dir();
        let _ = std::fs::create_dir_all(&dir);
        let name = format!("crash-port{port}-{:016x}.bin", fnv(packet));
        let path = dir.join(name);
        let _ = std::fs::write(&path, packet);
        panic!(
            "a {}-byte packet on port {port} panicked the switch; kept as {}",
            packet.len(),
            path.display()
        );
    }
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Every packet is accounted for: sent once, or counted by one drop reason.
fn assert_accounted(s: &Stats) {
    let dropped = s.dropped_ingress
        + s.dropped_egress
        + s.dropped_multicast
        + s.dropped_no_port
        + s.dropped_priority;
    assert_eq!(
        s.sent + dropped,
        s.received,
        "every packet is either sent or dropped for a counted reason: {s:?}"
    );
}

#[test]
fn truncations_and_single_byte_mutations_never_panic() {
    let mut sw = common::single_dc_switch();
    let mut n = 0u64;
    for frame in seeds() {
        let cut_end = frame.len().min(200);
        for port in PORTS {
            for len in 0..=cut_end {
                send(&mut sw, port, &frame[..len], n);
                n += 1;
            }
        }
        for i in 0..frame.len().min(80) {
            for v in [0u8, 1, 0x45, 0x46, 0x4f, 0x7f, 0x80, 0xff] {
                let mut f = frame.clone();
                f[i] = v;
                send(&mut sw, 3, &f, n);
                send(&mut sw, 255, &f, n);
                n += 2;
            }
        }
    }
    assert_eq!(sw.stats().received, n);
    assert!(
        sw.stats().parser_errors > 0,
        "truncated frames must hit parser errors"
    );
    assert_accounted(sw.stats());
}

#[test]
fn random_and_mutated_packets_never_panic() {
    let mut sw = common::single_dc_switch();
    let count: u64 = std::env::var("FAIRSHARE_FUZZ_PACKETS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let seed: u64 = std::env::var("FAIRSHARE_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x9e37_79b9_7f4a_7c15);
    let seeds = seeds();
    let mut rng = Rng(seed | 1);
    let mut buf = Vec::with_capacity(9216);
    for n in 0..count {
        buf.clear();
        let r = rng.next();
        match r % 4 {
            // Random bytes: runts, small frames and jumbo frames.
            0 => {
                let len = match (r >> 2) % 8 {
                    0 => rng.below(14),
                    1 => 9000 + rng.below(216),
                    _ => rng.below(128),
                };
                buf.extend((0..len).map(|_| rng.next() as u8));
            }
            // A seed with one to eight random bytes changed.
            1 | 2 => {
                let s = &seeds[rng.below(seeds.len())];
                buf.extend_from_slice(&s[..s.len().min(256)]);
                for _ in 0..=rng.below(8) {
                    let i = rng.below(buf.len());
                    buf[i] = rng.next() as u8;
                }
            }
            // A seed cut short or extended with random bytes.
            _ => {
                let s = &seeds[rng.below(seeds.len())];
                let keep = rng.below(s.len().min(256) + 1);
                buf.extend_from_slice(&s[..keep]);
                if rng.next() % 2 == 0 {
                    let more = rng.below(64);
                    buf.extend((0..more).map(|_| rng.next() as u8));
                }
            }
        }
        let port = if r % 16 == 0 {
            (r >> 32) as u32 % 512
        } else {
            PORTS[rng.below(PORTS.len())]
        };
        send(&mut sw, port, &buf, n);
    }
    assert_eq!(sw.stats().received, count);
    if count >= 10_000 {
        assert!(sw.stats().parser_errors > 0, "some packets must not parse");
        assert!(sw.stats().sent > 0, "some mutated packets must still pass");
    }
    assert_accounted(sw.stats());
}

#[test]
fn regressions_replay() {
    let mut sw = common::single_dc_switch();
    let mut files: Vec<PathBuf> = std::fs::read_dir(regressions_dir())
        .expect("tests/regressions exists")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "bin"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "tests/regressions holds the kept inputs");
    let mut n = 0;
    for f in &files {
        let bytes = std::fs::read(f).expect("readable");
        for port in PORTS {
            send(&mut sw, port, &bytes, n);
            n += 1;
        }
    }
    assert_eq!(sw.stats().received, n);
    assert_accounted(sw.stats());
}
