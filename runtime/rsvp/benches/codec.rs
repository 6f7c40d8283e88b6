//! Parse + validate and emit of the typical reservation (FF style, one flow
//! descriptor), in messages per second on one core.
//!
//! Run with `cargo bench -p fairshare-rsvp`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use fairshare_rsvp::{Message, MessageView};

/// CPU time of this thread (user + system) from /proc, in seconds, where
/// the kernel offers it. On a shared machine the wall clock also counts the
/// time other processes held the core; the CPU time does not.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    // Fields 14 and 15 of stat(5), counted from the state field as 3.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // The kernel's USER_HZ is 100 on every Linux port that matters here.
    Some((utime + stime) / 100.0)
}

/// Runs `f` in batches until `budget` has passed; returns calls per second
/// of wall time and of CPU time.
fn rate(budget: Duration, mut f: impl FnMut()) -> (f64, Option<f64>) {
    for _ in 0..10_000 {
        f();
    }
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
    (wall, cpu)
}

fn report(what: &str, (wall, cpu): (f64, Option<f64>)) {
    match cpu {
        Some(cpu) => println!("{what:<42} {wall:>12.0} msgs/s wall, {cpu:>12.0} msgs/s CPU"),
        None => println!("{what:<42} {wall:>12.0} msgs/s wall"),
    }
}

fn main() {
    let m = common::ff_resv();
    let bytes = m.to_bytes().expect("emit");
    let budget = Duration::from_secs(2);
    println!("FF Resv, one flow descriptor: {} bytes", bytes.len());

    // FAIRSHARE_BENCH_ONLY=parse runs the parse alone (for a profiler).
    let only_parse = std::env::var("FAIRSHARE_BENCH_ONLY").as_deref() == Ok("parse");
    let parse = rate(budget, || {
        let parsed = Message::parse(black_box(&bytes)).expect("parse");
        black_box(parsed);
    });
    report("parse + validate (checksum verified)", parse);
    if only_parse {
        return;
    }

    let view = rate(budget, || {
        let v = MessageView::new_checked(black_box(&bytes)).expect("view");
        let n = v.objects().filter(|o| o.is_ok()).count();
        black_box((v.checksum_ok(), n));
    });
    report("raw view: check + walk objects", view);

    let mut buf = vec![0u8; m.buffer_len()];
    let emit = rate(budget, || {
        let n = black_box(&m).emit(&mut buf).expect("emit");
        black_box(&buf[..n]);
    });
    report("emit into a buffer (checksum computed)", emit);

    let mut out = Vec::with_capacity(256);
    let emit_vec = rate(budget, || {
        out.clear();
        black_box(&m).emit_vec(&mut out).expect("emit");
        black_box(&out);
    });
    report("emit appending to a Vec", emit_vec);
}
