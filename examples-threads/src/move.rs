//! # `move`: why `thread::spawn` needs `move`, and how `thread::scope` borrows instead
//!
//! `thread::spawn` requires a `'static` closure: the thread may outlive the
//! function that spawned it, so it may not borrow that function's locals. The
//! first attempt, a closure that borrows a local, is the compile error E0373
//! ([`E0373`] quotes it; `tests/cli.rs` compiles that attempt with `rustc`).
//! `move` gives the closure its own copy (for `Copy` types) or ownership (for
//! the rest; share with `Arc`). `std::thread::scope` (Rust 1.63) joins its
//! threads before returning, so they may borrow locals, even mutably, without
//! `move`, `Arc` or `Mutex`.
//!
//! Once it compiles, a second mistake is easy: `handle.join();` drops the
//! `Result` (rustc warns `unused_must_use`), so a panic in the thread goes
//! unnoticed. Here every join is checked.
//!
//! Run: `cargo run -p examples-threads -- move`

use crate::spawn::{join_named, spawn_named};
use anyhow::Context;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// What rustc 1.95 reports on a spawned closure that borrows the local
/// `pause` (it cannot compile); `tests/cli.rs` checks it against `rustc`.
pub const E0373: &str = "error[E0373]: closure may outlive the current function, \
    but it borrows `pause`, which is owned by the current function";

// ANCHOR: move_copies
/// Two `move` threads each sleep their own copy of `pause`; returns what
/// each measured.
pub fn move_copies(pause: Duration) -> anyhow::Result<[Duration; 2]> {
    let timed = move || {
        let start = Instant::now();
        thread::sleep(pause); // the closure's own copy: `Duration` is `Copy`
        start.elapsed()
    };
    let a = spawn_named("pause-1", timed)?;
    let b = spawn_named("pause-2", timed)?;
    Ok([join_named(a)?, join_named(b)?])
}
// ANCHOR_END: move_copies

// ANCHOR: arc_halves
/// A non-`Copy` value shared by `move` threads through `Arc`: each sums one
/// half.
pub fn arc_halves(data: Vec<u64>) -> anyhow::Result<(u64, u64)> {
    let data = Arc::new(data);
    let mid = data.len() / 2;
    let left = Arc::clone(&data); // each closure moves in an Arc, not the Vec
    let l = spawn_named("arc-left", move || left[..mid].iter().sum::<u64>())?;
    let right = Arc::clone(&data);
    let r = spawn_named("arc-right", move || right[mid..].iter().sum::<u64>())?;
    Ok((join_named(l)?, join_named(r)?))
}
// ANCHOR_END: arc_halves

// ANCHOR: scoped_double
/// Scoped threads borrow `data` mutably, half each, with no `move`; returns
/// its new sum.
pub fn scoped_double(data: &mut [u64]) -> anyhow::Result<u64> {
    let (left, right) = data.split_at_mut(data.len() / 2);
    let spawn = |name: &str| thread::Builder::new().name(name.to_owned());
    thread::scope(|s| {
        let left_half = || left.iter_mut().for_each(|x| *x *= 2); // borrows
        let right_half = || right.iter_mut().for_each(|x| *x *= 2);
        spawn("double-left")
            .spawn_scoped(s, left_half)
            .context("spawning thread `double-left`")?;
        spawn("double-right")
            .spawn_scoped(s, right_half)
            .context("spawning thread `double-right`")?;
        anyhow::Ok(())
    })?; // every scoped thread is joined here; a panic in one re-panics here
    Ok(data.iter().sum())
}
// ANCHOR_END: scoped_double

/// Quotes the compiler error, then shows the three ways that compile.
pub fn run() -> anyhow::Result<()> {
    println!("without move, rustc 1.95 reports: {E0373}");
    let pause = Duration::from_millis(20);
    let [a, b] = move_copies(pause)?;
    let ok = a >= pause && b >= pause;
    println!("with move: 2 threads slept {pause:?} each (>= 20ms: {ok}); `pause` still usable: {pause:?}");
    let (l, r) = arc_halves((1..=100).collect())?;
    println!("Arc + move: halves of 1..=100 sum to {l} + {r} = {}", l + r);
    let mut data: Vec<u64> = (1..=100).collect();
    let doubled = scoped_double(&mut data)?;
    println!("thread::scope, no move: doubled 1..=100 in place; `data` sums to {doubled}");
    println!("notice: `move` gives a thread its own values; thread::scope lets threads borrow");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn move_gives_each_thread_its_own_copy() {
        let pause = Duration::from_millis(5);
        assert!(move_copies(pause)
            .expect("spawns")
            .iter()
            .all(|d| *d >= pause));
    }

    #[test]
    fn arc_halves_cover_everything() {
        assert_eq!(
            arc_halves((1..=100).collect()).expect("spawns"),
            (1275, 3775)
        );
    }

    #[test]
    fn scope_mutates_in_place() {
        let mut data: Vec<u64> = (1..=5).collect();
        assert_eq!(scoped_double(&mut data).expect("spawns"), 30);
        assert_eq!(data, [2, 4, 6, 8, 10]);
    }
}
