//! A fuzz target run as a test: random bytes and mutations of valid
//! messages and frames go through every parser. No input may panic; every
//! message that parses must re-emit to bytes that parse to the same model.
//!
//! `FAIRSHARE_FUZZ_ITERS` sets the number of inputs (default 1,000,000, about
//! 15 s in a debug build); `FAIRSHARE_FUZZ_SEED` the seed. An input that
//! panics is written to `tests/regressions/` and the test fails; every file
//! there is replayed by `regressions_replay`.

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

use fairshare_rsvp::frame::parse_frame;
use fairshare_rsvp::*;

/// xorshift64*: small, fast, and the same sequence on every machine.
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

/// Runs one input through the views, the model and the frame parser.
fn exercise(input: &[u8]) {
    if let Ok(view) = MessageView::new_checked(input) {
        for o in view.objects() {
            let Ok(o) = o else { break };
            let _ = (o.class_num(), o.c_type(), o.body().len());
            let _ = Object::parse(&o);
        }
        let _ = view.checksum_ok();
    }
    for opts in [
        ParseOptions::default(),
        ParseOptions {
            verify_checksum: false,
            accept_zero_checksum: true,
        },
    ] {
        if let Ok(m) = Message::parse_with(input, opts) {
            let bytes = m
                .to_bytes()
                .unwrap_or_else(|e| panic!("a parsed message must emit: {e}"));
            let again = Message::parse_with(&bytes, opts)
                .unwrap_or_else(|e| panic!("emitted bytes must parse: {e}"));
            assert_eq!(again, m, "parse(emit(parse(b))) == parse(b)");
            let _ = serde_json::to_string(&m).expect("JSON");
        }
    }
    if let Ok(f) = parse_frame(input) {
        let _ = Message::parse_with(f.rsvp, ParseOptions::lenient());
    }
}

fn corpus() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for (_, m) in common::samples() {
        out.push(m.to_bytes().expect("sample"));
        out.push(common::frame_header(&m).build(&m).expect("frame"));
    }
    out
}

fn fix_checksum(b: &mut [u8]) {
    if b.len() >= 8 {
        b[2] = 0;
        b[3] = 0;
        let sum = internet_checksum(b);
        b[2..4].copy_from_slice(&sum.to_be_bytes());
    }
}

fn mutate(rng: &mut Rng, base: &[u8]) -> Vec<u8> {
    let mut b = base.to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = b.len();
        match rng.below(9) {
            0 if len > 0 => {
                let i = rng.below(len);
                b[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                b[i] = rng.next() as u8;
            }
            2 => b.truncate(rng.below(len + 1)),
            3 => {
                let i = rng.below(len + 1);
                let n = 1 + rng.below(16);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                b.splice(i..i, bytes);
            }
            4 if len > 1 => {
                let i = rng.below(len);
                let n = rng.below(len - i);
                b.drain(i..i + n);
            }
            // Object and message length fields, where the edges are.
            5 if len > 8 => {
                let i = 8 + 4 * rng.below((len - 8) / 4 + 1);
                if i + 2 <= len {
                    let v = [0u16, 4, 8, 12, 0xfffc, 0xffff, rng.next() as u16][rng.below(7)];
                    b[i..i + 2].copy_from_slice(&v.to_be_bytes());
                }
            }
            6 if len >= 8 => {
                let v = [
                    0u16,
                    8,
                    (len as u16) & !3,
                    len as u16 + 4,
                    rng.next() as u16,
                ][rng.below(5)];
                b[6..8].copy_from_slice(&v.to_be_bytes());
            }
            // Class numbers and C-Types.
            7 if len > 12 => {
                let i = 8 + 4 * rng.below((len - 8) / 4) + 2 + rng.below(2);
                if i < len {
                    b[i] = [0u8, 1, 2, 9, 13, 0x7f, 0x80, 0xc0, 0xff][rng.below(9)];
                }
            }
            _ => {
                // Splice in an object from another place of the message.
                if len > 16 {
                    let from = 8 + 4 * rng.below((len - 8) / 4);
                    let n = 4 * (1 + rng.below(4));
                    if from + n <= len {
                        let chunk = b[from..from + n].to_vec();
                        let at = 8 + 4 * rng.below((len - 8) / 4 + 1);
                        b.splice(at.min(len)..at.min(len), chunk);
                    }
                }
            }
        }
    }
    // Most mutants get a good checksum so that the parser goes deep.
    if rng.below(4) != 0 {
        fix_checksum(&mut b);
    }
    b
}

fn regressions_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/regressions"))
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

#[test]
fn fuzz_random_and_mutated_inputs() {
    let iters = env_u64("FAIRSHARE_FUZZ_ITERS", 1_000_000);
    let seed = env_u64("FAIRSHARE_FUZZ_SEED", 0x5eed_2205);
    let mut rng = Rng(seed | 1);
    let corpus = corpus();
    let start = std::time::Instant::now();
    let mut parsed = 0u64;
    for i in 0..iters {
        let input = if i % 8 == 0 {
            let n = rng.below(160);
            let mut b: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
            if b.len() >= 8 && rng.below(2) == 0 {
                // A plausible header over random objects.
                b[0] = 0x10;
                b[1] = 1 + rng.below(7) as u8;
                let len = (b.len() & !3) as u16;
                b[6..8].copy_from_slice(&len.to_be_bytes());
                fix_checksum(&mut b);
            }
            b
        } else {
            let pick = rng.below(corpus.len());
            mutate(&mut rng, &corpus[pick])
        };
        match catch_unwind(AssertUnwindSafe(|| exercise(&input))) {
            Ok(()) => {}
            Err(_) => {
                let name = format!("crash-{seed:x}-{i}.bin");
                let path = regressions_dir().join(&name);
                let _ = std::fs::write(&path, &input);
                panic!(
                    "input {i} (seed {seed:#x}) panicked; kept as {}",
                    path.display()
                );
            }
        }
        if Message::parse_with(&input, ParseOptions::lenient()).is_ok() {
            parsed += 1;
        }
    }
    println!(
        "fuzz: {iters} inputs, {parsed} parsed as messages, in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    assert!(
        parsed > 0 || iters < 100,
        "the mutations never produced a valid message"
    );
}

#[test]
fn regressions_replay() {
    let mut n = 0;
    let entries = std::fs::read_dir(regressions_dir()).expect("tests/regressions exists");
    for e in entries {
        let path = e.expect("entry").path();
        if path.extension().is_some_and(|x| x == "bin") {
            let input = std::fs::read(&path).expect("read regression input");
            if catch_unwind(AssertUnwindSafe(|| exercise(&input))).is_err() {
                panic!("{} panics", path.display());
            }
            n += 1;
        }
    }
    assert!(n > 0, "no regression inputs found");
    println!("replayed {n} regression inputs");
}
