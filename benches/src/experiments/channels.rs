//! Comparison 3: channel throughput. `u64` messages per second
//! from one producer thread (1->1) and from two (2->1) to one consumer,
//! through std's `mpsc::channel` and `sync_channel(1024)` and crossbeam's
//! `unbounded`, `bounded(1024)`, `bounded(1)` and `bounded(0)`.
//!
//! A run spawns the producers (each sends its share of `0..messages`),
//! receives every message on the calling thread, joins the producers and
//! checks the sum; it is timed from before the spawn to after the join.
//! Every (kind, producers) pair runs once per round, in rotated order.
//! The rendezvous-like kinds (`bounded(1)`, `bounded(0)`), where each
//! message is a hand-off between threads, get [`Config::slow_messages`]
//! per run instead: at up to 25 microseconds per message here
//! (`bounded(0)`), the full count would take minutes per run.

use std::fmt;
use std::path::Path;
use std::sync::mpsc;
use std::thread;
use std::time::Instant;

use anyhow::{anyhow, ensure};
use indicatif::ProgressBar;

use super::{distinct, expect_header, field, named, rotated, secs, Outcome, Size};
use crate::csv::Table;
use crate::plot::{rows, short, Mark, Panel, Rows, Scale, Series};
use crate::stats::{median, summarize};

/// A channel flavour under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `std::sync::mpsc::channel()` (unbounded).
    StdMpsc,
    /// `std::sync::mpsc::sync_channel(1024)`.
    StdSync1024,
    /// `crossbeam_channel::unbounded()`.
    CrossbeamUnbounded,
    /// `crossbeam_channel::bounded(1024)`.
    CrossbeamBounded1024,
    /// `crossbeam_channel::bounded(1)`.
    CrossbeamBounded1,
    /// `crossbeam_channel::bounded(0)`: every send meets a receive.
    CrossbeamBounded0,
}

impl Kind {
    /// Every kind, in table order.
    pub const ALL: [Kind; 6] = [
        Kind::StdMpsc,
        Kind::StdSync1024,
        Kind::CrossbeamUnbounded,
        Kind::CrossbeamBounded1024,
        Kind::CrossbeamBounded1,
        Kind::CrossbeamBounded0,
    ];

    /// Its name in tables, CSV and plots.
    pub fn name(self) -> &'static str {
        match self {
            Kind::StdMpsc => "std mpsc",
            Kind::StdSync1024 => "std sync(1024)",
            Kind::CrossbeamUnbounded => "cb unbounded",
            Kind::CrossbeamBounded1024 => "cb bounded(1024)",
            Kind::CrossbeamBounded1 => "cb bounded(1)",
            Kind::CrossbeamBounded0 => "cb bounded(0)",
        }
    }

    /// Its name written out, for plots.
    pub fn label(self) -> &'static str {
        match self {
            Kind::StdMpsc => "std mpsc::channel()",
            Kind::StdSync1024 => "std mpsc::sync_channel(1024)",
            Kind::CrossbeamUnbounded => "crossbeam unbounded()",
            Kind::CrossbeamBounded1024 => "crossbeam bounded(1024)",
            Kind::CrossbeamBounded1 => "crossbeam bounded(1)",
            Kind::CrossbeamBounded0 => "crossbeam bounded(0)",
        }
    }

    /// True for the kinds whose every message is a hand-off between
    /// threads, which run [`Config::slow_messages`].
    pub fn is_slow(self) -> bool {
        matches!(self, Kind::CrossbeamBounded1 | Kind::CrossbeamBounded0)
    }

    /// Sends `messages` u64s from `producers` threads to this thread and
    /// returns the elapsed seconds.
    ///
    /// # Errors
    ///
    /// If a producer panics or the received sum is wrong.
    pub fn run(self, producers: usize, messages: u64) -> anyhow::Result<f64> {
        match self {
            Kind::StdMpsc => {
                let (tx, rx) = mpsc::channel();
                transfer(
                    tx,
                    producers,
                    messages,
                    |tx, v| tx.send(v).is_ok(),
                    || rx.recv().ok(),
                )
            }
            Kind::StdSync1024 => {
                let (tx, rx) = mpsc::sync_channel(1024);
                transfer(
                    tx,
                    producers,
                    messages,
                    |tx, v| tx.send(v).is_ok(),
                    || rx.recv().ok(),
                )
            }
            Kind::CrossbeamUnbounded => cb(crossbeam_channel::unbounded(), producers, messages),
            Kind::CrossbeamBounded1024 => cb(crossbeam_channel::bounded(1024), producers, messages),
            Kind::CrossbeamBounded1 => cb(crossbeam_channel::bounded(1), producers, messages),
            Kind::CrossbeamBounded0 => cb(crossbeam_channel::bounded(0), producers, messages),
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

fn cb(
    (tx, rx): (
        crossbeam_channel::Sender<u64>,
        crossbeam_channel::Receiver<u64>,
    ),
    producers: usize,
    messages: u64,
) -> anyhow::Result<f64> {
    transfer(
        tx,
        producers,
        messages,
        |tx, v| tx.send(v).is_ok(),
        || rx.recv().ok(),
    )
}

/// The shared body: `producers` clones of `tx` send disjoint shares of
/// `0..messages` with `send`; this thread calls `recv` until it yields
/// `None` (every sender gone), then checks count and sum.
fn transfer<S: Clone + Send>(
    tx: S,
    producers: usize,
    messages: u64,
    send: fn(&S, u64) -> bool,
    mut recv: impl FnMut() -> Option<u64>,
) -> anyhow::Result<f64> {
    ensure!(producers > 0, "at least one producer");
    let start = Instant::now();
    let (count, sum) = thread::scope(|scope| {
        let n = producers as u64;
        let handles: Vec<_> = (0..n)
            .map(|p| {
                let tx = tx.clone();
                // Producer p sends p, p + n, p + 2n, ...: all of 0..messages.
                scope.spawn(move || {
                    let mut v = p;
                    while v < messages {
                        if !send(&tx, v) {
                            return false;
                        }
                        v += n;
                    }
                    true
                })
            })
            .collect();
        // Only the producers' clones remain: recv ends when they are done.
        drop(tx);
        let (mut count, mut sum) = (0u64, 0u64);
        while let Some(v) = recv() {
            count += 1;
            sum = sum.wrapping_add(v);
        }
        for handle in handles {
            match handle.join() {
                Ok(true) => {}
                Ok(false) => return Err(anyhow!("the receiver went away")),
                Err(_) => return Err(anyhow!("a producer panicked")),
            }
        }
        Ok((count, sum))
    })?;
    let seconds = start.elapsed().as_secs_f64();
    let expected = messages.wrapping_mul(messages.wrapping_sub(1)) / 2;
    ensure!(
        count == messages && sum == expected,
        "received {count} messages summing to {sum}, expected {messages} summing to {expected}"
    );
    Ok(seconds)
}

/// Sizes of the channel experiment.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Messages per run for the buffered kinds.
    pub messages: u64,
    /// Messages per run for `bounded(1)` and `bounded(0)`.
    pub slow_messages: u64,
    /// Producer counts.
    pub producers: Vec<usize>,
    /// Rounds.
    pub rounds: usize,
    /// Kinds measured.
    pub kinds: Vec<Kind>,
}

impl Config {
    /// The 10,000,000 messages (200,000 for the hand-off kinds),
    /// 1->1 and 2->1, 3 rounds.
    pub fn full() -> Config {
        Config {
            messages: 10_000_000,
            slow_messages: 200_000,
            producers: vec![1, 2],
            rounds: 3,
            kinds: Kind::ALL.to_vec(),
        }
    }

    /// 1,000,000 messages (20,000 for the hand-off kinds), 2 rounds.
    pub fn quick() -> Config {
        Config {
            messages: 1_000_000,
            slow_messages: 20_000,
            rounds: 2,
            ..Config::full()
        }
    }

    /// [`full`](Self::full) or [`quick`](Self::quick).
    pub fn of(size: Size) -> Config {
        match size {
            Size::Full => Config::full(),
            Size::Quick => Config::quick(),
        }
    }

    /// Messages per run for `kind`.
    pub fn messages_for(&self, kind: Kind) -> u64 {
        if kind.is_slow() {
            self.slow_messages
        } else {
            self.messages
        }
    }
}

/// One timed run.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The channel.
    pub kind: Kind,
    /// Producer threads.
    pub producers: usize,
    /// The round, from 0.
    pub round: usize,
    /// Place in the round's order.
    pub position: usize,
    /// Messages sent.
    pub messages: u64,
    /// Elapsed seconds.
    pub seconds: f64,
}

impl Row {
    /// Messages per second.
    pub fn rate(&self) -> f64 {
        self.messages as f64 / self.seconds
    }
}

/// Runs every (kind, producers) pair once per round, rotated.
///
/// # Errors
///
/// If a run fails its check.
pub fn run(config: &Config, bar: &ProgressBar) -> anyhow::Result<ChannelsOutcome> {
    let pairs: Vec<(Kind, usize)> = config
        .kinds
        .iter()
        .flat_map(|&k| config.producers.iter().map(move |&p| (k, p)))
        .collect();
    bar.set_length((pairs.len() * (config.rounds + 1)) as u64);
    // Warm-up: a tenth of a run each.
    for &(kind, producers) in &pairs {
        kind.run(producers, (config.messages_for(kind) / 10).max(1))?;
        bar.inc(1);
    }
    let mut rows = Vec::new();
    for round in 0..config.rounds {
        for position in 0..pairs.len() {
            let (kind, producers) = pairs[rotated(round, position, pairs.len())];
            bar.set_message(format!("{kind} {producers}->1"));
            let messages = config.messages_for(kind);
            let seconds = kind.run(producers, messages)?;
            rows.push(Row {
                kind,
                producers,
                round,
                position,
                messages,
                seconds,
            });
            bar.inc(1);
        }
    }
    Ok(ChannelsOutcome {
        config: config.clone(),
        rows,
    })
}

/// Every run.
#[derive(Debug, Clone)]
pub struct ChannelsOutcome {
    /// The sizes it ran with.
    pub config: Config,
    /// Every timed run.
    pub rows: Vec<Row>,
}

impl ChannelsOutcome {
    /// The CSV columns.
    pub const HEADER: [&'static str; 7] = [
        "channel",
        "producers",
        "round",
        "position",
        "messages",
        "seconds",
        "messages_per_sec",
    ];

    /// Reads the rows of a CSV written from [`table`](Outcome::table)
    /// back; the sizes are taken from the rows.
    ///
    /// # Errors
    ///
    /// If `table` is not such a CSV.
    pub fn from_table(table: &Table) -> anyhow::Result<ChannelsOutcome> {
        let header = &ChannelsOutcome::HEADER;
        expect_header(table, header)?;
        let rows = table
            .rows()
            .iter()
            .map(|f| {
                Ok(Row {
                    kind: named(&Kind::ALL, Kind::name, &f[0])?,
                    producers: field(f, 1, header)?,
                    round: field(f, 2, header)?,
                    position: field(f, 3, header)?,
                    messages: field(f, 4, header)?,
                    seconds: field(f, 5, header)?,
                })
            })
            .collect::<anyhow::Result<Vec<Row>>>()?;
        let messages = |slow: bool| {
            rows.iter()
                .find(|r| r.kind.is_slow() == slow)
                .map(|r| r.messages)
        };
        let full = Config::full();
        let mut producers = distinct(rows.iter().map(|r| r.producers));
        producers.sort_unstable();
        let config = Config {
            messages: messages(false).unwrap_or(full.messages),
            slow_messages: messages(true).unwrap_or(full.slow_messages),
            producers,
            rounds: rows.iter().map(|r| r.round + 1).max().unwrap_or(0),
            kinds: Kind::ALL
                .into_iter()
                .filter(|&k| rows.iter().any(|r| r.kind == k))
                .collect(),
        };
        Ok(ChannelsOutcome { config, rows })
    }

    /// The median messages/s of `kind` with `producers`.
    pub fn median_rate(&self, kind: Kind, producers: usize) -> Option<f64> {
        median(self.rates(kind, producers))
    }

    fn rates(&self, kind: Kind, producers: usize) -> Vec<f64> {
        self.rows
            .iter()
            .filter(|r| r.kind == kind && r.producers == producers)
            .map(Row::rate)
            .collect()
    }
}

impl Outcome for ChannelsOutcome {
    fn name(&self) -> &'static str {
        "channels"
    }

    fn table(&self) -> Table {
        let mut table = Table::new(ChannelsOutcome::HEADER);
        for r in &self.rows {
            table.push([
                r.kind.name().to_owned(),
                r.producers.to_string(),
                r.round.to_string(),
                r.position.to_string(),
                r.messages.to_string(),
                secs(r.seconds),
                format!("{:.1}", r.rate()),
            ]);
        }
        table
    }

    fn plot(&self, path: &Path) -> anyhow::Result<()> {
        let kinds = &self.config.kinds;
        let panel = Panel {
            title: String::new(),
            rows: kinds.iter().map(|k| k.label().to_owned()).collect(),
            series: self
                .config
                .producers
                .iter()
                .map(|&p| Series {
                    name: match p {
                        1 => "1 producer thread".to_owned(),
                        p => format!("{p} producer threads"),
                    },
                    values: kinds.iter().map(|&k| self.median_rate(k, p)).collect(),
                })
                .collect(),
        };
        let chart = Rows {
            title: "Channels: u64 messages per second to one consumer",
            axis: "messages per second",
            scale: Scale::Log10,
            mark: Mark::Dot,
            value: short,
        };
        rows(path, &chart, &[panel])
    }

    fn summary(&self) -> String {
        let c = &self.config;
        let mut out = format!(
            "## 3. Channels\n\n`u64` messages from 1 or 2 producer threads to one consumer; {} \
             messages per run ({} for `bounded(1)` and `bounded(0)`), {} rounds in rotated \
             order. Messages/s: median (min .. max); ns per message from the median; the ratio \
             to std `mpsc` with as many producers.\n\n\
             | channel | producers | messages/s | range | ns/msg | / std mpsc |\n|---|---:|---:|---:|---:|---:|\n",
            c.messages, c.slow_messages, c.rounds
        );
        for &producers in &c.producers {
            let base = self.median_rate(Kind::StdMpsc, producers);
            for &kind in &c.kinds {
                let Some(s) = summarize(self.rates(kind, producers)) else {
                    continue;
                };
                let vs = base.map_or_else(|| "-".to_owned(), |b| format!("{:.2}", s.median / b));
                out.push_str(&format!(
                    "| {kind} | {producers} | {} | {} .. {} | {:.1} | {vs} |\n",
                    short(s.median),
                    short(s.min),
                    short(s.max),
                    1e9 / s.median
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::{run, ChannelsOutcome, Config, Kind};
    use crate::experiments::Outcome;
    use indicatif::ProgressBar;

    #[test]
    fn every_kind_delivers_every_message() {
        for kind in Kind::ALL {
            for producers in [1, 2, 3] {
                let seconds = kind.run(producers, 1001).expect("a checked transfer");
                assert!(seconds > 0.0);
            }
        }
    }

    #[test]
    fn a_tiny_run() {
        let config = Config {
            messages: 2000,
            slow_messages: 200,
            producers: vec![1, 2],
            rounds: 2,
            kinds: Kind::ALL.to_vec(),
        };
        let outcome = run(&config, &ProgressBar::hidden()).expect("running");
        assert_eq!(outcome.rows.len(), 2 * 2 * Kind::ALL.len());
        assert!(outcome.median_rate(Kind::CrossbeamBounded0, 2).is_some());
        assert!(outcome.summary().contains("| cb bounded(0) | 2 |"));
        assert_eq!(outcome.table().rows().len(), outcome.rows.len());
        let back = ChannelsOutcome::from_table(&outcome.table()).expect("reading back");
        assert_eq!(back.config, config);
        assert_eq!(back.rows.len(), outcome.rows.len());
    }
}
