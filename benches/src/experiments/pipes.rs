//! Comparison 7: bytes through `cat` and back
//! with `ptm::ipc::communicate`, against the plain std approach and a raw
//! pipe between two threads, in one process.
//!
//! Variants, each given the same [`Config::size`] bytes of pseudo-random
//! data:
//!
//! - `ptm`: `ptm::ipc::communicate(Command::new("cat"), &data, None)`.
//! - `std`: `cat` with piped stdin and stdout (std's default 64 KiB
//!   pipes), a thread writing all of stdin with `write_all` then closing
//!   it, while the caller reads stdout with `read_to_end` into an empty
//!   `Vec`, then `wait`.
//! - `raw-discard`: no process: one pipe enlarged with `F_SETPIPE_SZ`
//!   (1 MiB), a thread writing 1 MiB chunks, the caller reading into one
//!   reused buffer and keeping nothing: the pipe's own limit.
//! - `raw-collect`: the same pipe and writer, the caller keeping every byte
//!   in a `Vec` reserved up front (read straight into its spare capacity, as
//!   `communicate` does): a raw pipe that pays, like `communicate`, the
//!   first-touch faults of fresh output memory.
//!
//! Each timed run covers what a caller waits for: creating the pipes,
//! spawning `cat` (or the writer thread), moving the bytes, waiting for
//! `cat`. Every variant first runs once untimed with a full byte-for-byte
//! check; timed runs are checked by length and checksum after the clock
//! stops. See "Pipes: communicate throughput" in `benches/RESULTS.md` for
//! what bounds what. `src/bin/pipe_throughput.rs` is the stand-alone binary
//! of the same measurement.

use std::fmt;
use std::io::{self, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::Instant;

use anyhow::{bail, ensure, Context};
use indicatif::ProgressBar;

use super::{expect_header, field, named, per_round_ratios, rotated, secs, Outcome, Size};
use crate::csv::Table;
use crate::plot::{rows, Mark, Panel, Rows, Scale, Series};
use crate::stats::{median, ratio, summarize};
use crate::verdict::{Check, Target};

/// One way of moving the bytes. (Variant docs are plain text: clap shows
/// them in `--help`.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Variant {
    /// ptm::ipc::communicate through cat.
    Ptm,
    /// cat, a thread writing stdin, the caller reading stdout (read_to_end).
    Std,
    /// One enlarged pipe between two threads; the reader keeps nothing.
    RawDiscard,
    /// One enlarged pipe between two threads; the reader keeps everything.
    RawCollect,
}

impl Variant {
    /// Every variant, in the order tables list them.
    pub const ALL: [Variant; 4] = [
        Variant::Ptm,
        Variant::Std,
        Variant::RawDiscard,
        Variant::RawCollect,
    ];

    /// The variant's name on the command line and in tables and CSV.
    pub fn name(self) -> &'static str {
        match self {
            Variant::Ptm => "ptm",
            Variant::Std => "std",
            Variant::RawDiscard => "raw-discard",
            Variant::RawCollect => "raw-collect",
        }
    }

    /// Its name written out, for plots.
    pub fn label(self) -> &'static str {
        match self {
            Variant::Ptm => "ptm communicate() through cat",
            Variant::Std => "std: cat, a writer thread, read_to_end",
            Variant::RawDiscard => "raw pipe, output discarded",
            Variant::RawCollect => "raw pipe, output kept in a Vec",
        }
    }

    /// Moves `data` once. With `verify`, `raw-discard` compares each chunk
    /// with the input as it arrives (for the untimed run).
    ///
    /// # Errors
    ///
    /// If a pipe, a spawn, a read or a write fails, or `cat` fails.
    pub fn run(self, data: &[u8], raw: &Raw, verify: bool) -> anyhow::Result<Received> {
        match self {
            Variant::Ptm => via_ptm(data).map(Received::Bytes),
            Variant::Std => via_std(data).map(Received::Bytes),
            Variant::RawDiscard => raw.discard(data, verify).map(Received::Counted),
            Variant::RawCollect => raw.collect(data).map(Received::Bytes),
        }
    }
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// What a variant's reader ended up with.
#[derive(Debug)]
pub enum Received {
    /// Every byte, in order.
    Bytes(Vec<u8>),
    /// Only how many bytes arrived (`raw-discard`).
    Counted(usize),
}

impl Received {
    /// Checks it against the input: the full bytes (`exact`), or their
    /// length and [`checksum`] (`expected`); for `Counted`, the count.
    ///
    /// # Errors
    ///
    /// If it differs, naming what differed.
    pub fn check(&self, data: &[u8], expected: u64, exact: bool) -> anyhow::Result<()> {
        match self {
            Received::Bytes(out) if exact => ensure!(out == data, "the bytes came back changed"),
            Received::Bytes(out) => ensure!(
                out.len() == data.len() && checksum(out) == expected,
                "the bytes came back changed ({} of {} bytes)",
                out.len(),
                data.len()
            ),
            Received::Counted(count) => ensure!(
                *count == data.len(),
                "{count} of {} bytes came back",
                data.len()
            ),
        }
        Ok(())
    }
}

fn via_ptm(data: &[u8]) -> anyhow::Result<Vec<u8>> {
    let output = ptm::ipc::communicate(Command::new("cat"), data, None)?;
    ensure!(output.status.success(), "cat failed: {}", output.status);
    Ok(output.stdout)
}

fn via_std(data: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut child = Command::new("cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("spawn cat")?;
    let mut stdin = child.stdin.take().context("cat's stdin")?;
    let stdout = child.stdout.take().context("cat's stdout")?;
    let out = thread::scope(|scope| -> anyhow::Result<Vec<u8>> {
        let writer = scope.spawn(move || stdin.write_all(data));
        // `stdout` moves into the read and is closed when it returns, even
        // on an error, so that `cat` and then the writer stop too.
        let read = read_all(stdout, Vec::new());
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

/// Reads `source` to its end, appending to `out`; closes `source`.
fn read_all(mut source: impl Read, mut out: Vec<u8>) -> io::Result<Vec<u8>> {
    source.read_to_end(&mut out)?;
    Ok(out)
}

/// How the raw variants set up their pipe and writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Raw {
    /// Bytes asked for with `F_SETPIPE_SZ`; 0 for the kernel's default.
    pub pipe_size: usize,
    /// Bytes per `write_all` of the writer.
    pub chunk: usize,
    /// The most one `read` asks for.
    pub read_size: usize,
}

impl Default for Raw {
    /// A 1 MiB pipe, 1 MiB writes, 1 MiB reads.
    fn default() -> Raw {
        Raw {
            pipe_size: 1 << 20,
            chunk: 1 << 20,
            read_size: 1 << 20,
        }
    }
}

impl Raw {
    /// A pipe enlarged as asked.
    ///
    /// # Errors
    ///
    /// If the pipe cannot be made or enlarged.
    pub fn pipe(&self) -> anyhow::Result<(io::PipeReader, io::PipeWriter)> {
        let (reader, writer) = io::pipe().context("pipe")?;
        if self.pipe_size > 0 {
            sys::set_pipe_size(&writer, self.pipe_size)
                .with_context(|| format!("F_SETPIPE_SZ to {} bytes", self.pipe_size))?;
        }
        Ok((reader, writer))
    }

    /// Runs `read` on this thread while another writes `data` into a fresh
    /// pipe; returns what `read` returned.
    fn transfer<T>(
        &self,
        data: &[u8],
        read: impl FnOnce(io::PipeReader) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        let (reader, mut writer) = self.pipe()?;
        thread::scope(|scope| {
            let sender = scope.spawn(move || -> io::Result<()> {
                for chunk in data.chunks(self.chunk) {
                    writer.write_all(chunk)?;
                }
                Ok(())
                // `writer` is dropped here: the reader sees end of file.
            });
            // `read` owns the read end and closes it when it returns, even on
            // an error, so that a blocked writer gets EPIPE instead of
            // hanging the join.
            let received = read(reader);
            match sender.join() {
                Ok(written) => written.context("write the pipe")?,
                Err(_) => bail!("the writer thread panicked"),
            }
            received
        })
    }

    /// `raw-discard`: reads into one reused buffer; returns the byte count.
    fn discard(&self, data: &[u8], verify: bool) -> anyhow::Result<usize> {
        self.transfer(data, |mut reader| {
            let mut buf = vec![0u8; self.read_size];
            let mut total = 0usize;
            loop {
                let n = match reader.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                    Err(error) => return Err(error).context("read the pipe"),
                };
                if verify {
                    let sent = data
                        .get(total..total + n)
                        .context("more bytes came out of the pipe than went in")?;
                    ensure!(
                        buf[..n] == *sent,
                        "bytes {total}..{} came out of the pipe changed",
                        total + n
                    );
                }
                total += n;
            }
            Ok(total)
        })
    }

    /// `raw-collect`: reads everything into a `Vec` reserved up front.
    fn collect(&self, data: &[u8]) -> anyhow::Result<Vec<u8>> {
        self.transfer(data, |reader| {
            // One spare byte: the read that sees the end of file needs room.
            let mut out = Vec::with_capacity(data.len() + 1);
            loop {
                if out.len() == out.capacity() {
                    // More bytes than were sent: keep them, for the check.
                    out.reserve(1 << 20);
                }
                match sys::read_append(&reader, &mut out, self.read_size) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                    Err(error) => return Err(error).context("read the pipe"),
                }
            }
            Ok(out)
        })
    }
}

/// The two system calls std does not offer: `fcntl(2)`'s pipe-size commands
/// (through `nix`) and `read(2)` into a `Vec`'s uninitialised capacity
/// (through `libc`, as re-exported by `nix`). Same calls, same purpose as in
/// `ptm::ipc`.
pub mod sys {
    use std::io;
    use std::os::fd::{AsFd, AsRawFd};

    #[cfg(any(target_os = "linux", target_os = "android"))]
    use nix::fcntl::{fcntl, FcntlArg};
    use nix::libc;

    /// Asks for a pipe buffer of at least `size` bytes; returns the size the
    /// kernel gave (a power of two of pages). Linux only.
    ///
    /// # Errors
    ///
    /// What `fcntl` returns (`EPERM` past `/proc/sys/fs/pipe-max-size`);
    /// `Unsupported` elsewhere than Linux.
    pub fn set_pipe_size(pipe: impl AsFd, size: usize) -> io::Result<usize> {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            let size = libc::c_int::try_from(size)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "pipe size too large"))?;
            let given = fcntl(pipe, FcntlArg::F_SETPIPE_SZ(size))?;
            usize::try_from(given).map_err(|_| io::Error::other("negative pipe size"))
        }
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        {
            let _ = (pipe, size);
            Err(io::ErrorKind::Unsupported.into())
        }
    }

    /// The pipe's buffer size in bytes. Linux only.
    ///
    /// # Errors
    ///
    /// What `fcntl` returns; `Unsupported` elsewhere than Linux.
    pub fn pipe_size(pipe: impl AsFd) -> io::Result<usize> {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            let size = fcntl(pipe, FcntlArg::F_GETPIPE_SZ)?;
            usize::try_from(size).map_err(|_| io::Error::other("negative pipe size"))
        }
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        {
            let _ = pipe;
            Err(io::ErrorKind::Unsupported.into())
        }
    }

    /// One `read` of at most `max` bytes from `source`, appended to `buf`'s
    /// spare capacity (which must not be empty): no zeroing pass, as
    /// `communicate` does.
    ///
    /// # Errors
    ///
    /// What `read(2)` returns.
    pub fn read_append(source: impl AsFd, buf: &mut Vec<u8>, max: usize) -> io::Result<usize> {
        let spare = buf.spare_capacity_mut();
        let room = spare.len().min(max);
        // SAFETY: `spare` is memory owned by `buf`, exclusively borrowed for
        // the call and valid for writes of `room <= spare.len()` bytes
        // (`MaybeUninit<u8>` needs no initialisation before a write); the
        // descriptor is open for as long as `source` is borrowed.
        let read =
            unsafe { libc::read(source.as_fd().as_raw_fd(), spare.as_mut_ptr().cast(), room) };
        let read = usize::try_from(read).map_err(|_| io::Error::last_os_error())?;
        let read = read.min(room);
        // SAFETY: the kernel initialised the first `read` bytes of the spare
        // capacity, and `len + read <= capacity`.
        unsafe { buf.set_len(buf.len() + read) };
        Ok(read)
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

/// An order-sensitive 64-bit checksum, four independent lanes of
/// multiply-rotate over 8-byte words so that it runs at memory speed.
/// Catches lost, duplicated, reordered or changed bytes; not cryptographic.
pub fn checksum(bytes: &[u8]) -> u64 {
    const K: [u64; 4] = [
        0x9E37_79B9_7F4A_7C15,
        0xC2B2_AE3D_27D4_EB4F,
        0x1656_67B1_9E37_79F9,
        0x85EB_CA77_C2B2_AE63,
    ];
    let mut lanes = [1u64, 2, 3, 4];
    let mut blocks = bytes.chunks_exact(32);
    for block in &mut blocks {
        for (lane, (word, k)) in lanes.iter_mut().zip(block.chunks_exact(8).zip(K)) {
            let mut le = [0u8; 8];
            le.copy_from_slice(word);
            *lane = (*lane ^ u64::from_le_bytes(le))
                .wrapping_mul(k)
                .rotate_left(31);
        }
    }
    let mut hash = bytes.len() as u64;
    for &byte in blocks.remainder() {
        hash = (hash ^ u64::from(byte)).wrapping_mul(K[0]).rotate_left(31);
    }
    for (lane, k) in lanes.into_iter().zip(K) {
        hash = (hash ^ lane).wrapping_mul(k).rotate_left(27);
    }
    hash
}

/// Sizes of the pipe experiment.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Bytes per run.
    pub size: usize,
    /// Rounds.
    pub rounds: usize,
    /// The raw variants' pipe and I/O sizes.
    pub raw: Raw,
    /// Variants measured.
    pub variants: Vec<Variant>,
}

impl Config {
    /// The 1 GiB per run, 5 rounds.
    pub fn full() -> Config {
        Config {
            size: 1 << 30,
            rounds: 5,
            raw: Raw::default(),
            variants: Variant::ALL.to_vec(),
        }
    }

    /// 64 MiB per run, 3 rounds.
    pub fn quick() -> Config {
        Config {
            size: 64 << 20,
            rounds: 3,
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
}

/// One timed run.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The variant.
    pub variant: Variant,
    /// The round.
    pub round: usize,
    /// Place in the round's order.
    pub position: usize,
    /// Bytes moved.
    pub bytes: usize,
    /// Elapsed seconds.
    pub seconds: f64,
}

impl Row {
    /// GB/s (10^9 bytes per second).
    pub fn gb_per_s(&self) -> f64 {
        self.bytes as f64 / self.seconds / 1e9
    }
}

/// Runs every variant once untimed with a full check, then once per round,
/// rotated, each checked after the clock stops.
///
/// # Errors
///
/// If a run fails or its output is wrong.
pub fn run(config: &Config, bar: &ProgressBar) -> anyhow::Result<PipesOutcome> {
    ensure!(config.size > 0, "size must be at least 1");
    let variants = &config.variants;
    bar.set_length((variants.len() * (config.rounds + 1)) as u64);
    bar.set_message("making the input");
    let input = data(config.size);
    let expected = checksum(&input);
    for &variant in variants {
        bar.set_message(format!("warm-up, {variant}"));
        variant
            .run(&input, &config.raw, true)
            .and_then(|r| r.check(&input, expected, true))
            .with_context(|| format!("warm-up of {variant}"))?;
        bar.inc(1);
    }
    let mut rows = Vec::new();
    for round in 0..config.rounds {
        for position in 0..variants.len() {
            let variant = variants[rotated(round, position, variants.len())];
            bar.set_message(variant.name());
            let start = Instant::now();
            let received = variant
                .run(&input, &config.raw, false)
                .with_context(|| format!("{variant}, round {round}"))?;
            let seconds = start.elapsed().as_secs_f64();
            received
                .check(&input, expected, false)
                .with_context(|| format!("{variant}, round {round}"))?;
            drop(received);
            rows.push(Row {
                variant,
                round,
                position,
                bytes: input.len(),
                seconds,
            });
            bar.inc(1);
        }
    }
    Ok(PipesOutcome {
        config: config.clone(),
        rows,
    })
}

/// Every run.
#[derive(Debug, Clone)]
pub struct PipesOutcome {
    /// The sizes it ran with.
    pub config: Config,
    /// Every timed run.
    pub rows: Vec<Row>,
}

impl PipesOutcome {
    /// The CSV columns.
    pub const HEADER: [&'static str; 6] = [
        "variant", "round", "position", "bytes", "seconds", "gb_per_s",
    ];

    /// Reads the rows of a CSV written from [`table`](Outcome::table)
    /// back; the size, rounds and variants are taken from the rows, the
    /// raw pipes' sizes (not in the CSV) are the defaults.
    ///
    /// # Errors
    ///
    /// If `table` is not such a CSV.
    pub fn from_table(table: &Table) -> anyhow::Result<PipesOutcome> {
        let header = &PipesOutcome::HEADER;
        expect_header(table, header)?;
        let rows = table
            .rows()
            .iter()
            .map(|f| {
                Ok(Row {
                    variant: named(&Variant::ALL, Variant::name, &f[0])?,
                    round: field(f, 1, header)?,
                    position: field(f, 2, header)?,
                    bytes: field(f, 3, header)?,
                    seconds: field(f, 4, header)?,
                })
            })
            .collect::<anyhow::Result<Vec<Row>>>()?;
        let config = Config {
            size: rows.first().map_or(0, |r| r.bytes),
            rounds: rows.iter().map(|r| r.round + 1).max().unwrap_or(0),
            variants: Variant::ALL
                .into_iter()
                .filter(|&v| rows.iter().any(|r| r.variant == v))
                .collect(),
            ..Config::full()
        };
        Ok(PipesOutcome { config, rows })
    }

    /// GB/s of `variant`, one value per round.
    pub fn rates(&self, variant: Variant) -> Vec<f64> {
        self.rows
            .iter()
            .filter(|r| r.variant == variant)
            .map(Row::gb_per_s)
            .collect()
    }

    /// `(round, GB/s)` of `variant`.
    pub fn by_round(&self, variant: Variant) -> Vec<(usize, f64)> {
        self.rows
            .iter()
            .filter(|r| r.variant == variant)
            .map(|r| (r.round, r.gb_per_s()))
            .collect()
    }

    /// The median GB/s of `variant`.
    pub fn median_rate(&self, variant: Variant) -> Option<f64> {
        median(self.rates(variant))
    }

    fn ratio_of(&self, a: Variant, b: Variant) -> Vec<f64> {
        match (self.median_rate(a), self.median_rate(b)) {
            (Some(x), Some(y)) => ratio(x, y).into_iter().collect(),
            _ => Vec::new(),
        }
    }
}

impl Outcome for PipesOutcome {
    fn name(&self) -> &'static str {
        "pipes"
    }

    fn table(&self) -> Table {
        let mut table = Table::new(PipesOutcome::HEADER);
        for r in &self.rows {
            table.push([
                r.variant.name().to_owned(),
                r.round.to_string(),
                r.position.to_string(),
                r.bytes.to_string(),
                secs(r.seconds),
                format!("{:.4}", r.gb_per_s()),
            ]);
        }
        table
    }

    fn plot(&self, path: &Path) -> anyhow::Result<()> {
        let variants = &self.config.variants;
        let panel = Panel {
            title: String::new(),
            rows: variants.iter().map(|v| v.label().to_owned()).collect(),
            series: vec![Series {
                name: String::new(),
                values: variants.iter().map(|&v| self.median_rate(v)).collect(),
            }],
        };
        let size = self.config.size;
        let title = if size.is_multiple_of(1 << 30) {
            format!(
                "Pipes: {} GiB through cat and back, and a raw pipe",
                size >> 30
            )
        } else {
            format!(
                "Pipes: {} MiB through cat and back, and a raw pipe",
                size >> 20
            )
        };
        let chart = Rows {
            title: &title,
            axis: "GB per second (10^9 bytes)",
            scale: Scale::Linear,
            mark: Mark::Bar,
            value: |gb| format!("{gb:.2} GB/s"),
        };
        rows(path, &chart, &[panel])
    }

    fn summary(&self) -> String {
        let c = &self.config;
        let mut out = format!(
            "## 7. Pipes\n\n{} MiB per run, {} rounds in rotated order; raw pipes of {} KiB \
             (`F_SETPIPE_SZ`), {} KiB writes and reads. GB/s (10^9 bytes/s): median (min .. \
             max).\n\n| variant | GB/s | range |\n|---|---:|---:|\n",
            c.size >> 20,
            c.rounds,
            c.raw.pipe_size >> 10,
            c.raw.chunk >> 10
        );
        for &variant in &c.variants {
            if let Some(s) = summarize(self.rates(variant)) {
                out.push_str(&format!(
                    "| {variant} | {:.3} | {:.3} .. {:.3} |\n",
                    s.median, s.min, s.max
                ));
            }
        }
        out.push_str(
            "\nThe targets' checks use the per-round ratios (the variants ran back to back in \
             each round); the ratios of the medians:\n\n| throughput ratio of medians | value |\n|---|---:|\n",
        );
        for (a, b) in [
            (Variant::Ptm, Variant::Std),
            (Variant::Ptm, Variant::RawDiscard),
            (Variant::Ptm, Variant::RawCollect),
            (Variant::RawCollect, Variant::RawDiscard),
        ] {
            if let Some(r) = self.ratio_of(a, b).first() {
                out.push_str(&format!("| {a} / {b} | {r:.3} |\n"));
            }
        }
        out
    }

    fn checks(&self) -> Vec<Check> {
        let per_round =
            |other| per_round_ratios(&self.by_round(Variant::Ptm), &self.by_round(other));
        vec![
            Check::new(
                Target::at_least("pipes: ptm / std GB/s", 1.2),
                per_round(Variant::Std),
            )
            .per("round"),
            Check::new(
                Target::at_least("pipes: ptm / raw-discard GB/s", 0.7),
                per_round(Variant::RawDiscard),
            )
            .per("round"),
            Check::new(
                Target::at_least(
                    "pipes: ptm / raw-collect GB/s (raw pipe that keeps the bytes)",
                    0.7,
                ),
                per_round(Variant::RawCollect),
            )
            .per("round"),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::{checksum, data, run, Config, PipesOutcome, Raw, Received, Variant};
    use crate::experiments::Outcome;
    use indicatif::ProgressBar;

    #[test]
    fn the_checksum_sees_order_and_length() {
        let d = data(1000);
        assert_eq!(d.len(), 1000);
        let mut swapped = d.clone();
        swapped.swap(10, 500);
        assert_ne!(checksum(&d), checksum(&swapped));
        assert_ne!(checksum(&d), checksum(&d[..999]));
        assert_eq!(checksum(&d), checksum(&data(1000)));
    }

    #[test]
    fn received_checks() {
        let d = data(64);
        let sum = checksum(&d);
        assert!(Received::Bytes(d.clone()).check(&d, sum, true).is_ok());
        assert!(Received::Bytes(d[..63].to_vec())
            .check(&d, sum, false)
            .is_err());
        assert!(Received::Counted(64).check(&d, sum, false).is_ok());
        assert!(Received::Counted(1).check(&d, sum, false).is_err());
    }

    #[test]
    fn a_tiny_run() {
        let config = Config {
            size: 3 << 20,
            rounds: 2,
            raw: Raw {
                pipe_size: 0,
                chunk: 100_000,
                read_size: 70_000,
            },
            variants: Variant::ALL.to_vec(),
        };
        let outcome = run(&config, &ProgressBar::hidden()).expect("running");
        assert_eq!(outcome.rows.len(), 2 * 4);
        assert_eq!(outcome.checks().len(), 3);
        assert!(outcome.summary().contains("| ptm / std |"));
        let back = PipesOutcome::from_table(&outcome.table()).expect("reading back");
        assert_eq!((back.config.size, back.config.rounds), (3 << 20, 2));
        assert_eq!(back.config.variants, Variant::ALL);
    }
}
