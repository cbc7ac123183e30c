//! `disconnect`: what `send`, `recv` and `try_recv` return once the other
//! side is gone, for std's `mpsc` and for crossbeam.
//!
//! Run it: `cargo run -p examples-channels -- disconnect`.
//!
//! A channel's errors are not accidents to `unwrap`: they are how one side
//! learns that the other has gone. `send` to a dropped receiver fails and
//! hands the value back (`SendError(value)`); `recv` keeps delivering what is
//! buffered after the last sender is dropped and only then fails
//! (`RecvError`), which is what ends a `for` loop over a receiver; `try_recv`
//! tells "nothing yet" (`Empty`) from "nothing ever" (`Disconnected`). Both
//! libraries behave alike.

use std::sync::mpsc;

use anyhow::{Context, Result};

/// What [`std_mpsc`] and [`crossbeam`] do, in order; each returns one result
/// per step, as `{:?}` writes it (std's `SendError` hides its value: shown here).
pub const STEPS: [&str; 4] = [
    "send(7) after the receiver was dropped",
    "3 sent, senders dropped; recv",
    "try_recv on empty channel, sender alive",
    "try_recv on empty channel, sender dropped",
];

/// Writes a send result with the value handed back: `Err(SendError(7))`.
fn show(sent: Result<(), u32>) -> String {
    sent.map_or_else(
        |value| format!("Err(SendError({value}))"),
        |()| "Ok(())".into(),
    )
}

// ANCHOR: std_mpsc
/// Runs the [`STEPS`] on `std::sync::mpsc::channel`.
///
/// # Errors
///
/// If a send to a live receiver fails (it cannot).
pub fn std_mpsc() -> Result<[String; 4]> {
    let (tx, rx) = mpsc::channel::<u32>();
    drop(rx);
    let send = show(tx.send(7).map_err(|mpsc::SendError(value)| value));
    let (tx, rx) = mpsc::channel::<u32>();
    let clone = tx.clone();
    for value in 1..=3 {
        tx.send(value).context("send to a live receiver")?;
    }
    drop((tx, clone));
    let recv: Vec<_> = (0..4).map(|_| format!("{:?}", rx.recv())).collect();
    let (tx, rx) = mpsc::channel::<u32>();
    let alive = format!("{:?}", rx.try_recv());
    drop(tx);
    Ok([send, recv.join(", "), alive, format!("{:?}", rx.try_recv())])
}
// ANCHOR_END: std_mpsc

/// Runs the same [`STEPS`] on `crossbeam_channel::unbounded`.
///
/// # Errors
///
/// As [`std_mpsc`].
pub fn crossbeam() -> Result<[String; 4]> {
    use crossbeam_channel::{unbounded, SendError};
    let (tx, rx) = unbounded::<u32>();
    drop(rx);
    let send = show(tx.send(7).map_err(|SendError(value)| value));
    let (tx, rx) = unbounded::<u32>();
    let clone = tx.clone();
    for value in 1..=3 {
        tx.send(value).context("send to a live receiver")?;
    }
    drop((tx, clone));
    let recv: Vec<_> = (0..4).map(|_| format!("{:?}", rx.recv())).collect();
    let (tx, rx) = unbounded::<u32>();
    let alive = format!("{:?}", rx.try_recv());
    drop(tx);
    Ok([send, recv.join(", "), alive, format!("{:?}", rx.try_recv())])
}

/// Prints both libraries' results; fails as [`std_mpsc`] does.
pub fn run() -> Result<()> {
    println!(
        "== disconnect: what each call returns once the other side \
         is gone =="
    );
    for (lib, results) in [("std", std_mpsc()?), ("crossbeam", crossbeam()?)] {
        for (step, result) in STEPS.iter().zip(results) {
            println!("{lib}: {step} -> {result}");
        }
    }
    println!(
        "notice: each error says that the other side has gone; unwrap makes \
         that a panic"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn std_and_crossbeam_return_the_same_results() {
        let expected = [
            "Err(SendError(7))",
            "Ok(1), Ok(2), Ok(3), Err(RecvError)",
            "Err(Empty)",
            "Err(Disconnected)",
        ];
        assert_eq!(std_mpsc().expect("std sends"), expected);
        assert_eq!(crossbeam().expect("crossbeam sends"), expected);
    }
}
