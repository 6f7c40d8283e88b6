//! Parse + validate and emit of the typical reservation (FF style, one flow
//! descriptor), in messages per second on one core.
//!
//! Run with `cargo bench -p fairshare-rsvp`. Each figure is the best of
//! several runs, in messages per second of this thread's CPU time (on a
//! shared machine the wall clock also counts the time other processes held
//! the core); the wall-clock rate of the same run is printed beside it.
//!
//! Environment:
//! * `FAIRSHARE_BENCH_ONLY=NAME` runs one figure alone (for a profiler):
//!   `parse`, `view`, `emit` or `emit_vec`.
//! * `FAIRSHARE_BENCH_ITERS=N` makes one run of exactly N calls per figure
//!   instead of timed runs, so that an instruction-counting profiler sees a
//!   known number of calls. `benches/count_instructions.sh` uses it to print
//!   the instructions per message under callgrind.

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use fairshare_rsvp::{Message, MessageView};

/// CPU time of this thread in seconds, where the kernel offers it: the
/// nanoseconds of /proc/thread-self/schedstat, or else the clock ticks of
/// /proc/thread-self/stat.
fn cpu_seconds() -> Option<f64> {
    if let Some(ns) = std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split(' ').next()?.parse::<u64>().ok())
    {
        return Some(ns as f64 * 1e-9);
    }
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    // Fields 14 and 15 of stat(5), counted from the state field as 3.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // The kernel's USER_HZ is 100 on every Linux port that matters here.
    Some((utime + stime) / 100.0)
}

/// One measured run's rates, calls per second.
#[derive(Clone, Copy)]
struct Rate {
    wall: f64,
    cpu: Option<f64>,
}

/// How the figures are taken.
enum Mode {
    /// `runs` runs of `budget` each; the best one counts.
    Timed { runs: usize, budget: Duration },
    /// One run of exactly this many calls.
    Counted(u64),
}

/// Runs `f` in batches of 10,000 for one run of `budget`, after a warm-up.
fn run_timed(budget: Duration, f: &mut impl FnMut()) -> Rate {
    let cpu0 = cpu_seconds();
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < budget {
        for _ in 0..10_000 {
            f();
        }
        n += 10_000;
    }
    let wall = n as f64 / start.elapsed().as_secs_f64();
    let cpu = match (cpu0, cpu_seconds()) {
        (Some(a), Some(b)) if b > a => Some(n as f64 / (b - a)),
        _ => None,
    };
    Rate { wall, cpu }
}

fn measure(mode: &Mode, mut f: impl FnMut()) -> Rate {
    match *mode {
        Mode::Counted(n) => {
            let start = Instant::now();
            for _ in 0..n {
                f();
            }
            Rate {
                wall: n as f64 / start.elapsed().as_secs_f64(),
                cpu: None,
            }
        }
        Mode::Timed { runs, budget } => {
            for _ in 0..10_000 {
                f();
            }
            let key = |r: &Rate| r.cpu.unwrap_or(r.wall);
            (0..runs)
                .map(|_| run_timed(budget, &mut f))
                .max_by(|a, b| key(a).total_cmp(&key(b)))
                .unwrap_or(Rate {
                    wall: 0.0,
                    cpu: None,
                })
        }
    }
}

fn report(what: &str, r: Rate) {
    match r.cpu {
        Some(cpu) => println!(
            "{what:<42} {cpu:>12.0} msgs/s CPU ({:>6.0} ns/msg), {:>12.0} msgs/s wall",
            1e9 / cpu,
            r.wall
        ),
        None => println!("{what:<42} {:>12.0} msgs/s wall", r.wall),
    }
}

fn main() {
    let m = common::ff_resv();
    let bytes = m.to_bytes().expect("emit");
    let mode = match std::env::var("FAIRSHARE_BENCH_ITERS") {
        Ok(n) => Mode::Counted(n.parse().expect("FAIRSHARE_BENCH_ITERS: a number of calls")),
        Err(_) => Mode::Timed {
            runs: 5,
            budget: Duration::from_millis(500),
        },
    };
    println!("FF Resv, one flow descriptor: {} bytes", bytes.len());
    if let Mode::Timed { runs, budget } = &mode {
        println!("best of {runs} runs of {budget:?} each");
    }

    let only = std::env::var("FAIRSHARE_BENCH_ONLY").ok();
    let wanted = |name: &str| only.as_deref().is_none_or(|o| o == name);

    if wanted("parse") {
        let parse = measure(&mode, || {
            let parsed = Message::parse(black_box(&bytes)).expect("parse");
            black_box(parsed);
        });
        report("parse + validate (checksum verified)", parse);
    }

    if wanted("view") {
        let view = measure(&mode, || {
            let v = MessageView::new_checked(black_box(&bytes)).expect("view");
            let n = v.objects().filter(|o| o.is_ok()).count();
            black_box((v.checksum_ok(), n));
        });
        report("raw view: check + walk objects", view);
    }

    if wanted("emit") {
        let mut buf = vec![0u8; m.buffer_len()];
        let emit = measure(&mode, || {
            let n = black_box(&m).emit(&mut buf).expect("emit");
            black_box(&buf[..n]);
        });
        report("emit into a buffer (checksum computed)", emit);
    }

    if wanted("emit_vec") {
        let mut out = Vec::with_capacity(256);
        let emit_vec = measure(&mode, || {
            out.clear();
            black_box(&m).emit_vec(&mut out).expect("emit");
            black_box(&out);
        });
        report("emit appending to a Vec", emit_vec);
    }
}
