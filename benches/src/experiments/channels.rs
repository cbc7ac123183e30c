//! Channels (section 3): `u64` messages per second from one producer thread and
//! from two to one consumer, through std's `channel`, `sync_channel(1024)` and
//! crossbeam's `unbounded`, `bounded(1024)`, `bounded(1)`, `bounded(0)`. A run,
//! timed from the producers' spawn to their join, checks the count and the sum
//! received. 10,000,000 messages (quick: 1,000,000), a fiftieth for the
//! hand-off kinds `bounded(1)` and `bounded(0)`; every pair once per round, 3
//! rounds (quick: 2), rotated.
//!
//! ```text
//! cargo run --release -p ptm-benches --bin report -- --only channels --rounds 5
//! ```

use std::path::Path;
use std::sync::mpsc;
use std::time::Instant;
use std::{iter, thread};

use anyhow::ensure;
use clap::ValueEnum;
use serde::{Deserialize, Serialize};

use crate::harness::{distinct, interleave, name, Ctx, Experiment};
use crate::plot::{self, short, Mark, Panel, Rows, Scale, Series};
use crate::stats::{median, summarize};

/// A channel flavour; its name is the book's CSV spelling, as in
/// `--variants "std mpsc,cb bounded(0)"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
pub enum Kind {
    /// std::sync::mpsc::channel() (unbounded).
    #[value(name = "std mpsc")]
    #[serde(rename = "std mpsc")]
    StdMpsc,
    /// std::sync::mpsc::sync_channel(1024).
    #[value(name = "std sync(1024)")]
    #[serde(rename = "std sync(1024)")]
    StdSync1024,
    /// crossbeam_channel::unbounded().
    #[value(name = "cb unbounded")]
    #[serde(rename = "cb unbounded")]
    CbUnbounded,
    /// crossbeam_channel::bounded(1024).
    #[value(name = "cb bounded(1024)")]
    #[serde(rename = "cb bounded(1024)")]
    CbBounded1024,
    /// crossbeam_channel::bounded(1).
    #[value(name = "cb bounded(1)")]
    #[serde(rename = "cb bounded(1)")]
    CbBounded1,
    /// crossbeam_channel::bounded(0): every send meets a receive.
    #[value(name = "cb bounded(0)")]
    #[serde(rename = "cb bounded(0)")]
    CbBounded0,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::StdMpsc => "std mpsc::channel()",
            Kind::StdSync1024 => "std mpsc::sync_channel(1024)",
            Kind::CbUnbounded => "crossbeam unbounded()",
            Kind::CbBounded1024 => "crossbeam bounded(1024)",
            Kind::CbBounded1 => "crossbeam bounded(1)",
            Kind::CbBounded0 => "crossbeam bounded(0)",
        }
    }

    /// True for the kinds whose every message is a hand-off between
    /// threads, which run fewer messages.
    pub fn is_slow(self) -> bool {
        matches!(self, Kind::CbBounded1 | Kind::CbBounded0)
    }

    /// Sends `messages` u64s from `producers` threads to this thread and
    /// returns the elapsed seconds.
    ///
    /// # Errors
    ///
    /// If a producer fails or the count or the sum received is wrong.
    pub fn run(self, producers: usize, messages: u64) -> anyhow::Result<f64> {
        use crossbeam_channel as cb;
        let (p, m) = (producers, messages);
        match self {
            Kind::StdMpsc => {
                let (tx, rx) = mpsc::channel();
                transfer(tx, p, m, |tx, v| tx.send(v).is_ok(), || rx.recv().ok())
            }
            Kind::StdSync1024 => {
                let (tx, rx) = mpsc::sync_channel(1024);
                transfer(tx, p, m, |tx, v| tx.send(v).is_ok(), || rx.recv().ok())
            }
            crossbeam => {
                let (tx, rx) = match crossbeam {
                    Kind::CbUnbounded => cb::unbounded(),
                    Kind::CbBounded1024 => cb::bounded(1024),
                    Kind::CbBounded1 => cb::bounded(1),
                    _ => cb::bounded(0),
                };
                transfer(tx, p, m, |tx, v| tx.send(v).is_ok(), || rx.recv().ok())
            }
        }
    }
}

/// `producers` clones of `tx` send disjoint shares of `0..messages` with
/// `send`; this thread calls `recv` until it yields `None` (every sender
/// gone), then checks count and sum. Returns the elapsed seconds.
fn transfer<S: Clone + Send>(
    tx: S,
    producers: usize,
    messages: u64,
    send: fn(&S, u64) -> bool,
    recv: impl FnMut() -> Option<u64>,
) -> anyhow::Result<f64> {
    ensure!(producers > 0, "at least one producer");
    let start = Instant::now();
    let (count, sum, sent) = thread::scope(|scope| {
        // Producer p sends p, p + n, p + 2n, ...: together, all of 0..messages.
        let producers: Vec<_> = (0..producers as u64)
            .map(|p| (p, tx.clone()))
            .map(|(p, tx)| {
                scope.spawn(move || (p..messages).step_by(producers).all(|v| send(&tx, v)))
            })
            .collect();
        // Only the producers' clones remain: recv ends when they are done.
        drop(tx);
        let add = |(n, s): (u64, u64), v| (n + 1, s.wrapping_add(v));
        let (count, sum) = iter::from_fn(recv).fold((0, 0), add);
        let sent = producers.into_iter().all(|p| p.join().unwrap_or(false));
        (count, sum, sent)
    });
    let seconds = start.elapsed().as_secs_f64();
    let expected = messages.wrapping_mul(messages.wrapping_sub(1)) / 2;
    ensure!(sent, "a producer panicked or found the receiver gone");
    ensure!(
        (count, sum) == (messages, expected),
        "received {count} messages summing to {sum}, expected {messages} summing to {expected}"
    );
    Ok(seconds)
}

/// One timed run: a line of the CSV.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Row {
    channel: Kind,
    producers: usize,
    round: usize,
    position: usize,
    messages: u64,
    seconds: f64,
    messages_per_sec: f64,
}

/// Messages/s of every run of `kind` with `producers`.
fn rates(rows: &[Row], kind: Kind, producers: usize) -> Vec<f64> {
    let runs = rows.iter().filter(|r| r.channel == kind);
    let runs = runs.filter(|r| r.producers == producers);
    runs.map(|r| r.messages_per_sec).collect()
}

fn producer_counts(rows: &[Row]) -> Vec<usize> {
    let mut counts = distinct(rows.iter().map(|r| r.producers));
    counts.sort_unstable();
    counts
}

/// The experiment.
#[derive(Debug)]
pub(crate) struct Channels;

impl Experiment for Channels {
    const NAME: &'static str = "channels";
    const STEM: &'static str = "channels";
    const LABEL: &'static str = "channels";
    type Row = Row;

    fn run(ctx: &Ctx) -> anyhow::Result<Vec<Row>> {
        let kinds = ctx.variants(Kind::value_variants())?;
        let pairs: Vec<(Kind, usize)> = kinds.iter().flat_map(|&k| [(k, 1), (k, 2)]).collect();
        let full = ctx.pick(10_000_000, 1_000_000);
        let messages = |kind: Kind| if kind.is_slow() { full / 50 } else { full };
        for &(kind, producers) in &pairs {
            kind.run(producers, (messages(kind) / 10).max(1))?;
        }
        let each = |(channel, producers): (Kind, usize), round, position| {
            let (k, messages) = (name(&channel), messages(channel));
            ctx.bar.set_message(format!("{k} {producers}->1"));
            let seconds = channel.run(producers, messages)?;
            Ok(Row {
                channel,
                producers,
                round,
                position,
                messages,
                seconds,
                messages_per_sec: messages as f64 / seconds,
            })
        };
        interleave(&ctx.bar, &pairs, ctx.rounds(3, 2), each)
    }

    fn plot(rows: &[Row], path: &Path) -> anyhow::Result<()> {
        let kinds = distinct(rows.iter().map(|r| r.channel));
        let series = producer_counts(rows).into_iter().map(|p| Series {
            name: format!("{p} producer thread{}", if p == 1 { "" } else { "s" }),
            values: kinds.iter().map(|&k| median(rates(rows, k, p))).collect(),
        });
        let panel = Panel {
            title: String::new(),
            rows: kinds.iter().map(|k| k.label().to_owned()).collect(),
            series: series.collect(),
        };
        let chart = Rows {
            title: "Channels: u64 messages per second to one consumer",
            axis: "messages per second",
            scale: Scale::Log10,
            mark: Mark::Dot,
            value: short,
        };
        plot::rows(path, &chart, &[panel])
    }

    fn summary(rows: &[Row]) -> String {
        let messages = |slow: bool| {
            let row = rows.iter().find(|r| r.channel.is_slow() == slow);
            row.map_or(0, |r| r.messages)
        };
        let rounds = distinct(rows.iter().map(|r| r.round)).len();
        let mut out = format!(
            "## 3. Channels\n\n`u64` messages from 1 or 2 producer threads to one consumer; {} \
             messages per run ({} for `bounded(1)` and `bounded(0)`), {rounds} rounds in \
             rotated order. Messages/s: median (min .. max); ns per message from the median; \
             the ratio to std `mpsc` with as many producers.\n\n\
             | channel | producers | messages/s | range | ns/msg | / std mpsc |\n\
             |---|---:|---:|---:|---:|---:|\n",
            messages(false),
            messages(true)
        );
        for producers in producer_counts(rows) {
            let base = median(rates(rows, Kind::StdMpsc, producers));
            for kind in distinct(rows.iter().map(|r| r.channel)) {
                let Some(s) = summarize(rates(rows, kind, producers)) else {
                    continue;
                };
                let vs = base.map_or_else(|| "-".to_owned(), |b| format!("{:.2}", s.median / b));
                let (k, median, min, max) =
                    (name(&kind), short(s.median), short(s.min), short(s.max));
                let ns = 1e9 / s.median;
                out.push_str(&format!(
                    "| {k} | {producers} | {median} | {min} .. {max} | {ns:.1} | {vs} |\n"
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::{Channels, Kind};
    use crate::harness::{Ctx, Experiment};
    use clap::ValueEnum;

    #[test]
    fn every_kind_delivers_every_message_and_a_quick_run_is_summarised() {
        for &kind in Kind::value_variants() {
            for producers in [1, 2, 3] {
                assert!(kind.run(producers, 1001).expect("a checked transfer") > 0.0);
            }
        }
        let mut ctx = Ctx::quick(None);
        ctx.flags.rounds = Some(2);
        ctx.flags.variants = vec!["cb unbounded".into(), "cb bounded(0)".into()];
        let rows = Channels::run(&ctx).expect("running");
        assert_eq!(rows.len(), 2 * 2 * 2);
        let summary = Channels::summary(&rows);
        assert!(summary.contains("| cb bounded(0) | 2 |"), "{summary}");
        assert!(summary.contains("1000000 messages per run (20000 for"));
    }
}
