//! `mpsc`: a loop over a `Receiver` ends when every `Sender` is gone.
//!
//! Run it: `cargo run -p examples-channels -- mpsc [--producers 4]
//! [--messages 1000]`.
//!
//! Three steps, one change each. [`first`]: one thread sends three messages,
//! this one receives them in a `for` loop, which ends when the sender's
//! thread ends and drops its `Sender`. [`kept_sender`]: a common first
//! attempt gives the producer a clone of the `Sender` and keeps the
//! original; the consumer then waits for ever, which the demo shows by
//! giving up after a timeout, and then fixes by dropping the original.
//! [`many_producers`]: each producer thread owns a clone, the original is
//! dropped at once, and the counts prove that nothing was lost or doubled.

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};

/// Flags of the `mpsc` demo.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Producer threads, 1 to 64
    #[arg(long, default_value_t = 4,
        value_parser = clap::value_parser!(u64).range(1..=64))]
    pub producers: u64,
    /// Messages per producer (at most 100000)
    #[arg(long, default_value_t = 1000,
        value_parser = clap::value_parser!(u64).range(..=100_000))]
    pub messages: u64,
}

// ANCHOR: first
/// One thread sends three messages; this one receives them until the
/// channel is closed, and returns them.
pub fn first() -> Vec<String> {
    let (tx, rx) = mpsc::channel();
    let sender = thread::spawn(move || {
        for n in 1..=3 {
            tx.send(format!("message {n}")).expect("rx is still here");
        }
    }); // the thread ends and drops `tx`: the channel is closed
    let mut received = Vec::new();
    for message in rx {
        received.push(message); // the loop ends once `tx` is gone
    }
    sender.join().expect("the sender thread does not panic");
    received
}
// ANCHOR_END: first

// ANCHOR: kept_sender
/// A common first attempt: the producer gets a clone of `tx`, and `tx` is
/// kept. Returns whether the consumer ended within `patience` (it cannot),
/// and what it received once `tx` was dropped.
pub fn kept_sender(patience: Duration) -> (bool, usize) {
    let (tx, rx) = mpsc::channel::<u32>();
    let producer_tx = tx.clone();
    thread::spawn(move || producer_tx.send(1)); // ends, drops its clone
    let (done_tx, done) = mpsc::channel();
    thread::spawn(move || done_tx.send(rx.iter().count())); // the consumer
    let ended = done.recv_timeout(patience).is_ok(); // gives up: a hang
    drop(tx); // the fix: now every Sender is gone, and the loop ends
    (ended, done.recv().unwrap_or(0))
}
// ANCHOR_END: kept_sender

// ANCHOR: many_producers
/// `producers` threads, each with its own clone of `tx`, send `messages`
/// values each to one consumer, which returns them in arrival order.
pub fn many_producers(producers: u64, messages: u64) -> Result<Vec<u64>> {
    let (tx, rx) = mpsc::channel::<u64>();
    let consumer = thread::Builder::new().spawn(move || rx.iter().collect());
    let consumer = consumer.context("spawning the consumer")?;
    let mut handles = Vec::new();
    for p in 0..producers {
        let tx = tx.clone(); // one Sender per producer
        let values = p * messages..(p + 1) * messages;
        let send = move || values.into_iter().try_for_each(|v| tx.send(v));
        let spawned = thread::Builder::new().spawn(send);
        handles.push(spawned.context("spawning a producer")?);
    }
    drop(tx); // the original: kept, it would keep the consumer waiting
    for handle in handles {
        let sent = handle.join().map_err(|_| anyhow!("a producer panicked"))?;
        sent.map_err(|e| anyhow!("the consumer left before {}", e.0))?;
    }
    consumer
        .join()
        .map_err(|_| anyhow!("the consumer panicked"))
}
// ANCHOR_END: many_producers

/// How long [`kept_sender`]'s consumer is given to end on its own.
pub const PATIENCE: Duration = Duration::from_millis(200);

/// `true` if `values` holds each of `0..total` exactly once.
pub fn each_once(values: &[u64], total: u64) -> bool {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    sorted.into_iter().eq(0..total)
}

/// Prints the three steps; fails as [`many_producers`] does.
pub fn run(args: &Args) -> Result<()> {
    let (producers, messages) = (args.producers, args.messages);
    println!(
        "== mpsc: a loop over a Receiver ends when every Sender is gone =="
    );
    let got: Vec<_> = first().iter().map(|m| format!("{m:?}")).collect();
    println!("one sender: received {}; the loop ended", got.join(", "));
    let (ended, received) = kept_sender(PATIENCE);
    let ms = PATIENCE.as_millis();
    match ended {
        false => println!(
            "kept the original Sender: still waiting after {ms} ms \
             (a hang, cut by a timeout)"
        ),
        true => println!("kept the original Sender: the loop ended (a bug)"),
    }
    println!("dropped it: the consumer's loop ended, {received} received");
    let values = many_producers(producers, messages)?;
    let total = producers * messages;
    let (n, sum) = (values.len(), values.iter().sum::<u64>());
    let expected = total * total.saturating_sub(1) / 2;
    println!(
        "{producers} producers x {messages} messages: received {n}, \
         sum {sum} (expected {expected})"
    );
    let once = if each_once(&values, total) {
        "exactly"
    } else {
        "NOT"
    };
    println!("each of the {total} values arrived {once} once");
    println!(
        "notice: the loop ends only when every Sender, the original too, \
         is dropped"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_sender_three_messages_and_the_loop_ends() {
        assert_eq!(first(), ["message 1", "message 2", "message 3"]);
    }

    /// A kept original `Sender` keeps the channel open: the consumer's loop
    /// never ends on its own; dropping the original ends it.
    #[test]
    fn a_kept_sender_keeps_the_channel_open() {
        assert_eq!(kept_sender(Duration::from_millis(50)), (false, 1));
    }

    #[test]
    fn every_value_arrives_once_and_the_loop_ends() {
        let values = many_producers(3, 500).expect("no thread panics");
        assert_eq!(values.iter().sum::<u64>(), 1_124_250);
        assert!(each_once(&values, 1500));
        assert!(!each_once(&[0, 0, 2], 3) && !each_once(&[0, 1], 3));
    }
}
