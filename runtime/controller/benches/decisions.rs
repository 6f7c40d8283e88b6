//! Admission decisions per second with no IO: a route with room for every
//! flow, each flow admitted and later torn down.
//!
//! Run with `cargo bench -p fairshare-controller`.

use fairshare_controller::Book;
use std::hint::black_box;
use std::time::Instant;

fn main() {
    let n: u64 = 1_000_000;
    let mut book = Book::new(u64::MAX / 2);
    let t = Instant::now();
    for f in 0..n {
        black_box(book.admit(f, 1_000).ok());
    }
    let admit = t.elapsed();
    let t = Instant::now();
    for f in 0..n {
        black_box(book.tear_down(f));
    }
    let tear = t.elapsed();
    println!(
        "admissions: {n} in {:.3} s = {:.0}/s ({} flows held at the end)",
        admit.as_secs_f64(),
        n as f64 / admit.as_secs_f64(),
        n
    );
    println!(
        "teardowns: {n} in {:.3} s = {:.0}/s",
        tear.as_secs_f64(),
        n as f64 / tear.as_secs_f64()
    );
}
