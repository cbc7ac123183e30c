//! Comparison 7, pipes: bytes through `cat` and back with
//! `ptm::ipc::communicate`, against the plain std approach and a raw pipe
//! between two threads.
//!
//! Every variant moves the same `--bytes` (1 GiB; quick: 64 MiB) of
//! pseudo-random data, once untimed with a byte-for-byte check, then once
//! per round, rotated, checked byte for byte after the clock stops. A run covers what a caller waits for: the pipes, the spawn (or
//! the writer thread), the bytes, the wait.
//!
//! - `ptm`: `communicate(Command::new("cat"), &data, None)`: its output is
//!   fresh memory each call (a first call of `communicate_into`, which it is).
//! - `ptm-reused`: `communicate_into(cat, &data, &mut out, None)` with one
//!   `out` kept from call to call: every timed call is a second call or
//!   later, whose output lands in memory already present.
//! - `std`: `cat` with piped stdin and stdout, a thread writing stdin with
//!   `write_all`, the caller reading stdout with `read_to_end`.
//! - `raw-discard`: no process: a pipe enlarged to 1 MiB (`F_SETPIPE_SZ`), a
//!   thread writing 1 MiB chunks, the caller reading 1 MiB at a time into
//!   one reused buffer and keeping nothing: the pipe's own limit.
//! - `raw-collect`: the same pipe, the caller keeping every byte in a `Vec`
//!   reserved up front: it pays, as `communicate` does, the first-touch page
//!   faults of fresh output memory, taken inside `read` under the pipe's lock.
//!
//! ```text
//! cargo run --release -p ptm-benches --bin report -- --only pipes --bytes 256MiB --rounds 9
//! ```

use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::Instant;

use anyhow::{bail, ensure, Context};
use nix::fcntl::{fcntl, FcntlArg};
use serde::{Deserialize, Serialize};

use crate::harness::{distinct, interleave, median_table, name, per_round_ratios, Ctx, Experiment};
use crate::plot::{self, Mark, Panel, Rows, Scale, Series};
use crate::stats::{median, ratio};
use crate::verdict::{Check, Target};

/// One way of moving the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Variant {
    /// ptm::ipc::communicate through cat.
    Ptm,
    /// ptm::ipc::communicate_into through cat, into a reused buffer.
    PtmReused,
    /// cat, a thread writing stdin, the caller reading stdout (read_to_end).
    Std,
    /// One enlarged pipe between two threads; the reader keeps nothing.
    RawDiscard,
    /// One enlarged pipe between two threads; the reader keeps everything.
    RawCollect,
}

impl Variant {
    fn label(self) -> &'static str {
        match self {
            Variant::Ptm => "ptm communicate() through cat",
            Variant::PtmReused => "ptm communicate_into(), buffer reused",
            Variant::Std => "std: cat, a writer thread, read_to_end",
            Variant::RawDiscard => "raw pipe, output discarded",
            Variant::RawCollect => "raw pipe, output kept in a Vec",
        }
    }

    /// Moves `data` once; returns what came back, or (`raw-discard`) its
    /// length, checking each chunk against `data` when `verify`;
    /// `ptm-reused` reads into `reused` (and returns it).
    fn run(self, data: &[u8], verify: bool, reused: &mut Vec<u8>) -> anyhow::Result<Received> {
        Ok(match self {
            Variant::PtmReused => {
                let finished = ptm::ipc::communicate_into(Command::new("cat"), data, reused, None)?;
                ensure!(finished.status.success(), "cat failed: {}", finished.status);
                Received::Bytes(std::mem::take(reused))
            }
            Variant::Ptm => {
                let output = ptm::ipc::communicate(Command::new("cat"), data, None)?;
                ensure!(output.status.success(), "cat failed: {}", output.status);
                Received::Bytes(output.stdout)
            }
            Variant::Std => Received::Bytes(via_std(data)?),
            Variant::RawDiscard => {
                Received::Counted(raw_pipe(data, |reader| discard(reader, data, verify))?)
            }
            Variant::RawCollect => Received::Bytes(raw_pipe(data, |reader| {
                let mut out = Vec::with_capacity(data.len() + 1);
                reader.read_to_end(&mut out)?;
                Ok(out)
            })?),
        })
    }
}

/// What a variant's reader ended up with.
enum Received {
    Bytes(Vec<u8>),
    Counted(usize),
}

impl Received {
    /// Hands `ptm-reused`'s buffer back for its next call.
    fn give_back(self, variant: Variant, reused: &mut Vec<u8>) {
        if let (Variant::PtmReused, Received::Bytes(out)) = (variant, self) {
            *reused = out;
        }
    }

    /// Byte for byte (a `memcmp`, after the clock stops), or the count.
    fn check(&self, data: &[u8]) -> anyhow::Result<()> {
        match self {
            Received::Bytes(out) => ensure!(
                out == data,
                "the bytes came back changed ({} of {} bytes)",
                out.len(),
                data.len()
            ),
            Received::Counted(n) => {
                ensure!(*n == data.len(), "{n} of {} bytes came back", data.len())
            }
        }
        Ok(())
    }
}

fn via_std(data: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut child = Command::new("cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("spawn cat")?;
    let mut stdin = child.stdin.take().context("cat's stdin")?;
    let mut stdout = child.stdout.take().context("cat's stdout")?;
    let out = thread::scope(|scope| {
        let writer = scope.spawn(move || stdin.write_all(data));
        let mut out = Vec::new();
        // `stdout` is closed when the read returns, even on an error, so
        // that `cat` and then the writer stop too.
        let read = stdout.read_to_end(&mut out).map(|_| out);
        drop(stdout);
        match writer.join() {
            Ok(written) => written.context("write cat's stdin")?,
            Err(_) => bail!("the writer thread panicked"),
        }
        read.context("read cat's stdout")
    })?;
    let status = child.wait().context("wait for cat")?;
    ensure!(status.success(), "cat failed: {status}");
    Ok(out)
}

/// Runs `read` on this thread while another writes `data` in 1 MiB chunks
/// into a fresh pipe enlarged to 1 MiB.
fn raw_pipe<T>(
    data: &[u8],
    read: impl FnOnce(&mut io::PipeReader) -> io::Result<T>,
) -> anyhow::Result<T> {
    let (mut reader, mut writer) = io::pipe().context("pipe")?;
    fcntl(writer.as_fd(), FcntlArg::F_SETPIPE_SZ(1 << 20)).context("F_SETPIPE_SZ to 1 MiB")?;
    thread::scope(|scope| {
        let sender =
            scope.spawn(move || data.chunks(1 << 20).try_for_each(|c| writer.write_all(c)));
        let received = read(&mut reader);
        // Closed before the join, so that a writer blocked on a reader
        // that failed gets EPIPE instead of hanging.
        drop(reader);
        match sender.join() {
            Ok(written) => written.context("write the pipe")?,
            Err(_) => bail!("the writer thread panicked"),
        }
        received.context("read the pipe")
    })
}

/// `raw-discard`'s reader: one reused 1 MiB buffer; returns the byte count.
fn discard(reader: &mut io::PipeReader, data: &[u8], verify: bool) -> io::Result<usize> {
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if verify && data.get(total..total + n) != Some(&buf[..n]) {
            return Err(io::Error::other(format!(
                "bytes {total}.. came out of the pipe changed"
            )));
        }
        total += n;
    }
}

/// `len` pseudo-random bytes (xorshift64*): incompressible, cheap to make.
pub fn data(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut bytes = Vec::with_capacity(len + 8);
    while bytes.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        bytes.extend_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}

/// One timed run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// The variant.
    pub variant: Variant,
    /// The round.
    pub round: usize,
    /// Its place in the round's order.
    pub position: usize,
    /// Bytes moved.
    pub bytes: usize,
    /// Elapsed seconds.
    pub seconds: f64,
    /// GB/s (10^9 bytes per second).
    pub gb_per_s: f64,
}

/// The experiment.
#[derive(Debug)]
pub struct Pipes;

fn by_round(rows: &[Row], variant: Variant) -> Vec<(usize, f64)> {
    rows.iter()
        .filter(|r| r.variant == variant)
        .map(|r| (r.round, r.gb_per_s))
        .collect()
}

fn median_rate(rows: &[Row], variant: Variant) -> Option<f64> {
    median(by_round(rows, variant).into_iter().map(|(_, v)| v))
}

impl Experiment for Pipes {
    const NAME: &'static str = "pipes";
    const STEM: &'static str = "pipes";
    const LABEL: &'static str = "pipes";
    type Row = Row;

    fn run(ctx: &Ctx) -> anyhow::Result<Vec<Row>> {
        let variants = ctx.variants(&[
            Variant::Ptm,
            Variant::PtmReused,
            Variant::Std,
            Variant::RawDiscard,
            Variant::RawCollect,
        ])?;
        // ptm-reused's buffer: its warm-up is the first call, every timed
        // call a later one.
        let mut reused = Vec::new();
        let input = data(ctx.flags.bytes.unwrap_or(ctx.pick(1 << 30, 64 << 20)));
        ensure!(!input.is_empty(), "--bytes must be at least 1");
        for &variant in &variants {
            let received = variant.run(&input, true, &mut reused)?;
            received
                .check(&input)
                .with_context(|| format!("warm-up of {}", name(&variant)))?;
            received.give_back(variant, &mut reused);
        }
        interleave(
            &ctx.bar,
            &variants,
            ctx.rounds(5, 3),
            |variant, round, position| {
                ctx.bar.set_message(name(&variant));
                let start = Instant::now();
                let received = variant.run(&input, false, &mut reused)?;
                let seconds = start.elapsed().as_secs_f64();
                received.check(&input)?;
                received.give_back(variant, &mut reused);
                let bytes = input.len();
                let gb_per_s = bytes as f64 / seconds / 1e9;
                Ok(Row {
                    variant,
                    round,
                    position,
                    bytes,
                    seconds,
                    gb_per_s,
                })
            },
        )
    }

    fn plot(rows: &[Row], path: &Path) -> anyhow::Result<()> {
        let variants = distinct(rows.iter().map(|r| r.variant));
        let panel = Panel {
            title: String::new(),
            rows: variants.iter().map(|v| v.label().to_owned()).collect(),
            series: vec![Series {
                name: String::new(),
                values: variants.iter().map(|&v| median_rate(rows, v)).collect(),
            }],
        };
        let bytes = rows.first().map_or(0, |r| r.bytes);
        let size = if bytes >= 1 << 30 && bytes.is_multiple_of(1 << 30) {
            format!("{} GiB", bytes >> 30)
        } else {
            format!("{} MiB", bytes >> 20)
        };
        let title = format!("Pipes: {size} through cat and back, and a raw pipe");
        let chart = Rows {
            title: &title,
            axis: "GB per second (10^9 bytes)",
            scale: Scale::Linear,
            mark: Mark::Bar,
            value: |gb| format!("{gb:.2} GB/s"),
        };
        plot::rows(path, &chart, &[panel])
    }

    fn summary(rows: &[Row]) -> String {
        let variants = distinct(rows.iter().map(|r| r.variant));
        let rounds = distinct(rows.iter().map(|r| r.round)).len();
        let mib = rows.first().map_or(0, |r| r.bytes >> 20);
        let mut out = format!("## 7. Pipes\n\n{mib} MiB per run, {rounds} rounds in rotated order. GB/s (10^9 bytes/s).\n\n");
        let lines = variants.iter().map(|&v| {
            (
                name(&v),
                by_round(rows, v).into_iter().map(|(_, g)| g).collect(),
            )
        });
        out.push_str(&median_table("variant", "GB/s", lines, |g| {
            format!("{g:.3}")
        }));
        out.push_str("\n| ratio of medians | value |\n|---|---:|\n");
        for (a, b) in [
            (Variant::Ptm, Variant::Std),
            (Variant::PtmReused, Variant::RawDiscard),
            (Variant::PtmReused, Variant::Ptm),
            (Variant::Ptm, Variant::RawDiscard),
            (Variant::Ptm, Variant::RawCollect),
            (Variant::RawCollect, Variant::RawDiscard),
        ] {
            if let Some(r) = median_rate(rows, a)
                .zip(median_rate(rows, b))
                .and_then(|(x, y)| ratio(x, y))
            {
                out.push_str(&format!("| {} / {} | {r:.3} |\n", name(&a), name(&b)));
            }
        }
        out
    }

    fn checks(rows: &[Row]) -> Vec<Check> {
        let check = |what: &str, bar, (a, b)| {
            Check::new(
                Target::at_least(format!("pipes: {what}"), bar),
                per_round_ratios(&by_round(rows, a), &by_round(rows, b)),
            )
            .per("round")
        };
        use Variant::*;
        vec![
            check("ptm / std GB/s", 1.2, (Ptm, Std)),
            check(
                "ptm-reused / raw-discard GB/s (a later call, its buffer reused)",
                0.8,
                (PtmReused, RawDiscard),
            ),
            check(
                "ptm / raw-discard GB/s (a first call)",
                0.7,
                (Ptm, RawDiscard),
            ),
            check(
                "ptm / raw-collect GB/s (raw pipe that keeps the bytes)",
                0.7,
                (Ptm, RawCollect),
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::{Pipes, Variant};
    use crate::harness::{Ctx, Experiment};

    #[test]
    fn a_tiny_run_of_every_variant_is_checked_and_summarised() {
        let mut ctx = Ctx::quick(None);
        ctx.flags.bytes = Some(3 << 20);
        ctx.flags.rounds = Some(2);
        let rows = Pipes::run(&ctx).expect("running");
        assert_eq!(rows.len(), 2 * 5);
        assert!(rows.iter().all(|r| r.bytes == 3 << 20 && r.gb_per_s > 0.0));
        assert_eq!(Pipes::checks(&rows).len(), 4);
        assert!(Pipes::summary(&rows).contains("| ptm / std |"));
        ctx.flags.variants = vec!["raw-discard".into()];
        let rows = Pipes::run(&ctx).expect("running one variant");
        assert!(rows.iter().all(|r| r.variant == Variant::RawDiscard));
    }
}
