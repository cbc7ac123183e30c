//! `mpsc`: several producers, one consumer, and a receiver loop that ends.
//!
//! Answers "Thread Communication" in the seed `process-and-thread-management.md`.
//! Run it: `cargo run -p examples-channels -- mpsc [--producers 4] [--messages 1000]`.
//!
//! The seed does not compile: `start_consumer` moves `&self.receiver` into a
//! thread, but `Receiver` is not `Sync` (E0277) and the borrow of `self` would
//! escape (E0521). Made to compile, its consumer never ends: the struct keeps
//! a `Sender`, so `for received in receiver` blocks for ever, and only `main`
//! returning after a `sleep(1000 ms)` kills the unjoined threads. Here the
//! consumer owns the `Receiver`, each producer a `Sender` clone, the original
//! is dropped, so the loop ends after the last producer; all threads are
//! joined, and the counts prove that nothing was lost or doubled.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::{thread, time::Duration};

use anyhow::{anyhow, Context, Result};

/// Flags of the `mpsc` demo.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Producer threads, each with its own clone of the Sender.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub producers: u64,
    /// Messages each producer sends.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(..=1_000_000))]
    pub messages: u64,
}

/// What the consumer saw once its loop ended: how many values, their sum, how
/// many distinct values of `0..producers*messages`, and whether each of them
/// arrived exactly once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub received: u64,
    pub sum: u64,
    pub distinct: u64,
    pub each_once: bool,
}

// ANCHOR: produce_and_consume
/// Producer `p` sends `p*messages..(p+1)*messages` to one consumer thread;
/// returns what the consumer saw when its loop ended.
///
/// # Errors
///
/// If a thread panicked or a producer found the consumer gone.
pub fn produce_and_consume(producers: u64, messages: u64) -> Result<Report> {
    let total = producers * messages;
    let (tx, rx) = mpsc::channel::<u64>();
    // The Receiver is moved, not borrowed: the consumer thread owns it.
    let consumer = thread::Builder::new()
        .name("consumer".into())
        .spawn(move || {
            let mut seen = vec![0u8; usize::try_from(total).unwrap_or(0)];
            let mut r = Report::default();
            // Ends when every Sender is dropped and the queue is drained.
            for value in rx {
                (r.received, r.sum) = (r.received + 1, r.sum + value);
                if let Some(count) = usize::try_from(value).ok().and_then(|i| seen.get_mut(i)) {
                    *count = count.saturating_add(1);
                }
            }
            r.distinct = seen.iter().filter(|&&count| count > 0).count() as u64;
            r.each_once = r.received == total && seen.iter().all(|&count| count == 1);
            r
        });
    let consumer = consumer.context("spawning thread `consumer`")?;
    let producers = (0..producers)
        .map(|p| {
            let tx = tx.clone();
            let send_all = move || (p * messages..(p + 1) * messages).try_for_each(|v| tx.send(v));
            let name = format!("producer-{p}");
            let spawned = thread::Builder::new().name(name.clone()).spawn(send_all);
            spawned.with_context(|| format!("spawning thread `{name}`"))
        })
        .collect::<Result<Vec<_>>>()?;
    drop(tx); // Without this the consumer's loop would never end (the seed's bug).
    for (p, h) in producers.into_iter().enumerate() {
        let sent = h.join().map_err(|_| anyhow!("producer {p} panicked"))?;
        sent.map_err(|e| anyhow!("producer {p}: consumer gone before value {}", e.0))?;
    }
    consumer.join().map_err(|_| anyhow!("consumer panicked"))
}
// ANCHOR_END: produce_and_consume

// ANCHOR: kept_sender
/// The seed's mistake: while a `Sender` lives, an empty channel never ends (a
/// loop on it hangs). Returns `recv_timeout` with the Sender kept, then dropped.
pub fn kept_sender() -> [Result<u64, RecvTimeoutError>; 2] {
    let (tx, rx) = mpsc::channel::<u64>();
    let kept = rx.recv_timeout(Duration::from_millis(20));
    drop(tx);
    [kept, rx.recv_timeout(Duration::from_millis(20))]
}
// ANCHOR_END: kept_sender

/// Prints the demo's results; fails as [`produce_and_consume`] does.
pub fn run(args: &Args) -> Result<()> {
    let (producers, messages) = (args.producers, args.messages);
    println!("== mpsc: {producers} producers x {messages} messages -> 1 consumer");
    let r = produce_and_consume(producers, messages)?;
    let (received, sum, distinct, total) = (r.received, r.sum, r.distinct, producers * messages);
    let expected = total * total.saturating_sub(1) / 2;
    println!("received {received} of {total} messages, sum = {sum} (expected {expected})");
    let once = if r.each_once { "each once" } else { "NOT once" };
    println!("consumed {distinct} distinct values, {once}");
    println!("consumer loop ended: all {producers} Sender clones dropped, threads joined");
    let [kept, dropped] = kept_sender();
    println!("empty channel, original Sender kept: recv_timeout = {kept:?} (a loop would hang)");
    println!("empty channel, every Sender dropped: recv_timeout = {dropped:?}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_arrives_once_and_the_loop_ends() {
        let r = produce_and_consume(3, 500).expect("no thread panics");
        assert_eq!((r.received, r.sum, r.each_once), (1500, 1_124_250, true));
        assert_eq!(r.distinct, 1500);
    }

    /// Seed "Thread Communication" keeps the original Sender: the receiver
    /// never sees the end of the channel.
    #[test]
    fn a_kept_sender_keeps_the_channel_open() {
        use RecvTimeoutError::{Disconnected, Timeout};
        assert_eq!(kept_sender(), [Err(Timeout), Err(Disconnected)]);
    }
}
