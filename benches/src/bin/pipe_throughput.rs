//! Throughput of pushing bytes through `cat` and back with
//! `ptm::ipc::communicate`, against the plain std approach and against a raw
//! pipe between two threads, all in one process (issue 3, "Performance":
//! `communicate` of 1 GiB through `cat` at least 1.2x the plain std approach
//! and at least 70% of the raw pipe, measured in the same run).
//!
//! ```text
//! cargo run --release -p ptm-benches --bin pipe_throughput
//! cargo run --release -p ptm-benches --bin pipe_throughput -- --size 256MiB --rounds 9 --csv pipes.csv
//! cargo run --release -p ptm-benches --bin pipe_throughput -- --variants raw-discard,raw-collect
//! taskset -c 0 ./target/release/pipe_throughput
//! ```
//!
//! Variants, each given the same `--size` bytes (default 1 GiB) of
//! pseudo-random data:
//!
//! - `ptm`: `ptm::ipc::communicate(Command::new("cat"), &data, None)`.
//! - `std`: the plain std approach: `cat` with piped stdin and stdout
//!   (default 64 KiB pipes), a thread writing all of stdin with `write_all`
//!   then closing it, while the caller reads stdout to the end with
//!   `read_to_end` into an empty `Vec`, then `wait`.
//! - `raw-discard`: no process. A pipe (`std::io::pipe`) enlarged with
//!   `F_SETPIPE_SZ` to `--pipe-size` (default 1 MiB, the default
//!   `/proc/sys/fs/pipe-max-size`); one thread writes the data in `--chunk`
//!   pieces (default 1 MiB) while the caller reads it, `--read-size` bytes
//!   at most per `read` (default 1 MiB), into one reused buffer and keeps
//!   nothing: one pipe crossing, the pipe's own limit.
//! - `raw-collect`: the same pipe and writer, but the caller appends
//!   everything to a `Vec` whose capacity was reserved up front, with
//!   `read(2)` straight into the uninitialised capacity as `communicate`
//!   does, so the first-touch page faults of the output are paid, as
//!   `communicate`, which must return the bytes, pays them.
//!
//! What bounds what: Linux copies into and out of a pipe under the pipe's
//! one mutex, so a pipe moves bytes at the rate of a copy in plus a copy out
//! done one after the other (plus, for a reader that keeps the bytes, the
//! page faults of its fresh output memory, taken inside `read` with the
//! mutex held). `raw-discard` is that limit without faults: the ceiling.
//! Through `cat` the bytes cross two pipes, which work in parallel, each
//! bound the same way; the second one (`cat` to the caller) does exactly
//! `raw-collect`'s work, so `raw-collect` is what `communicate` can at best
//! approach, and `raw-discard` is out of its reach by the cost of the faults.
//!
//! Each timed run covers everything a caller would wait for: creating the
//! pipes, spawning `cat` (or the writer thread), moving the bytes, and waiting
//! for `cat`; not dropping the output. Every variant first runs once untimed
//! with a full check (the returned bytes compared with the input;
//! `raw-discard` compares each chunk as it arrives). In the timed runs, the
//! collecting variants' output is checked against the input's length and
//! checksum after the clock stops, and `raw-discard`'s byte count is
//! checked. Each round runs every variant once, in an order rotated by one
//! place per round. The table (stdout) gives GB/s (10^9 bytes per second):
//! median, min and max over the rounds, and the same-process ratios of the
//! medians; progress goes to stderr, and with `--csv PATH` one line per
//! (variant, round) to PATH.
//!
//! `F_SETPIPE_SZ` (Linux only) goes through `nix`, the `read` into spare
//! capacity through `libc` (module `sys`). This machine's speed
//! flips from one process to the next: compare variants within a run, and
//! run the binary several times.

use std::fmt;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::thread;
use std::time::Instant;

use anyhow::{bail, ensure, Context};
use clap::Parser;
use ptm_benches::parse_size;
use ptm_benches::stats::{summarize, Summary};

/// Compare ways of sending bytes through `cat` and back, and a raw pipe.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Args {
    /// Bytes sent per run: a number with an optional binary unit
    /// (K, M, G or KiB, MiB, GiB), e.g. 1GiB, 256MiB.
    #[arg(long, default_value = "1GiB", value_parser = parse_size)]
    size: usize,

    /// Timed rounds; each runs every variant once.
    #[arg(long, default_value_t = 5)]
    rounds: usize,

    /// Pipe buffer the raw variants ask for with F_SETPIPE_SZ (0: leave the
    /// kernel's default).
    #[arg(long, default_value = "1MiB", value_parser = parse_size)]
    pipe_size: usize,

    /// Size of each write into the raw pipe.
    #[arg(long, default_value = "1MiB", value_parser = parse_size)]
    chunk: usize,

    /// The most each read of the raw variants asks for (raw-discard's buffer).
    #[arg(long, default_value = "1MiB", value_parser = parse_size)]
    read_size: usize,

    /// Variants to measure, comma-separated [default: all].
    #[arg(long, value_enum, value_delimiter = ',')]
    variants: Vec<Variant>,

    /// Also write one CSV line per (variant, round) to this file.
    #[arg(long, value_name = "PATH")]
    csv: Option<PathBuf>,
}

/// One way of moving the bytes. (Variant docs are plain text: clap shows
/// them in `--help`.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Variant {
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
    const ALL: [Variant; 4] = [
        Variant::Ptm,
        Variant::Std,
        Variant::RawDiscard,
        Variant::RawCollect,
    ];

    /// The variant's name on the command line and in tables and CSV.
    fn name(self) -> &'static str {
        match self {
            Variant::Ptm => "ptm",
            Variant::Std => "std",
            Variant::RawDiscard => "raw-discard",
            Variant::RawCollect => "raw-collect",
        }
    }

    /// Moves `data` once. With `verify`, `raw-discard` compares each chunk
    /// with the input as it arrives (only for the untimed run).
    fn run(self, data: &[u8], raw: &Raw, verify: bool) -> anyhow::Result<Received> {
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
enum Received {
    /// Every byte, in order.
    Bytes(Vec<u8>),
    /// Only how many bytes arrived (`raw-discard`).
    Counted(usize),
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
struct Raw {
    /// Bytes asked for with `F_SETPIPE_SZ`; 0 for the kernel's default.
    pipe_size: usize,
    /// Bytes per `write_all` of the writer.
    chunk: usize,
    /// The most one `read` asks for.
    read_size: usize,
}

impl Raw {
    /// A pipe enlarged as asked.
    fn pipe(&self) -> anyhow::Result<(io::PipeReader, io::PipeWriter)> {
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
mod sys {
    use std::io;
    use std::os::fd::{AsFd, AsRawFd};

    #[cfg(any(target_os = "linux", target_os = "android"))]
    use nix::fcntl::{fcntl, FcntlArg};
    use nix::libc;

    /// Asks for a pipe buffer of at least `size` bytes; returns the size the
    /// kernel gave (a power of two of pages). Linux only.
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

/// Pseudo-random bytes (xorshift64*): incompressible, cheap to make.
fn data(len: usize) -> Vec<u8> {
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
fn checksum(bytes: &[u8]) -> u64 {
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

fn main() -> anyhow::Result<()> {
    let mut args = Args::parse();
    if args.size == 0 || args.rounds == 0 || args.chunk == 0 || args.read_size == 0 {
        bail!("--size, --rounds, --chunk and --read-size must be at least 1");
    }
    if args.variants.is_empty() {
        args.variants = Variant::ALL.to_vec();
    }
    let mut seen = Vec::new();
    args.variants.retain(|variant| {
        let first = !seen.contains(variant);
        seen.push(*variant);
        first
    });
    let raw = Raw {
        pipe_size: args.pipe_size,
        chunk: args.chunk,
        read_size: args.read_size,
    };
    // What the raw variants' pipes really get (the kernel rounds up, and may
    // refuse beyond /proc/sys/fs/pipe-max-size).
    let (probe, _) = raw.pipe()?;
    let raw_pipe_bytes = sys::pipe_size(probe.as_fd()).ok();
    drop(probe);

    let mut csv = match &args.csv {
        Some(path) => {
            let file =
                File::create(path).with_context(|| format!("creating {}", path.display()))?;
            let mut out = BufWriter::new(file);
            writeln!(out, "variant,round,position,bytes,seconds,gb_per_s")?;
            Some((path, out))
        }
        None => None,
    };

    eprintln!("making {} bytes of input", args.size);
    let data = data(args.size);
    let expected = checksum(&data);

    // One untimed run of each, fully checked; it also pays the first page
    // faults of the process's heap for everyone.
    for &variant in &args.variants {
        eprintln!("warm-up and full check: {variant}");
        let received = variant
            .run(&data, &raw, true)
            .with_context(|| format!("warm-up of {variant}"))?;
        match received {
            Received::Bytes(out) => {
                ensure!(out == data, "{variant}: the bytes came back changed")
            }
            Received::Counted(count) => ensure!(
                count == data.len(),
                "{variant}: {count} of {} bytes came back",
                data.len()
            ),
        }
    }

    // Seconds per run, per variant (indexed like args.variants).
    let mut secs: Vec<Vec<f64>> = vec![Vec::new(); args.variants.len()];
    for round in 0..args.rounds {
        let mut line = format!("round {}/{}:", round + 1, args.rounds);
        for position in 0..args.variants.len() {
            let index = (round + position) % args.variants.len();
            let variant = args.variants[index];
            let start = Instant::now();
            let received = variant
                .run(&data, &raw, false)
                .with_context(|| format!("{variant}, round {}", round + 1))?;
            let seconds = start.elapsed().as_secs_f64();
            // Checked after the clock stopped; dropped untimed.
            match &received {
                Received::Bytes(out) => ensure!(
                    out.len() == data.len() && checksum(out) == expected,
                    "{variant}, round {}: the bytes came back changed ({} of {} bytes)",
                    round + 1,
                    out.len(),
                    data.len()
                ),
                Received::Counted(count) => ensure!(
                    *count == data.len(),
                    "{variant}, round {}: {count} of {} bytes came back",
                    round + 1,
                    data.len()
                ),
            }
            drop(received);
            let rate = data.len() as f64 / seconds / 1e9;
            line.push_str(&format!(" {variant} {rate:.3}"));
            if let Some((path, out)) = &mut csv {
                writeln!(
                    out,
                    "{variant},{round},{position},{},{seconds:.6},{rate:.4}",
                    data.len()
                )
                .with_context(|| format!("writing {}", path.display()))?;
            }
            secs[index].push(seconds);
        }
        eprintln!("{line} GB/s");
    }
    if let Some((path, mut out)) = csv {
        out.flush()
            .with_context(|| format!("writing {}", path.display()))?;
    }

    print_table(&args, raw_pipe_bytes, data.len(), secs);
    Ok(())
}

fn print_table(args: &Args, raw_pipe_bytes: Option<usize>, bytes: usize, secs: Vec<Vec<f64>>) {
    let pipe = raw_pipe_bytes.map_or_else(|| "unknown".to_owned(), |size| size.to_string());
    println!(
        "{bytes} bytes per run, {} rounds; raw pipe {pipe} bytes (F_GETPIPE_SZ), \
         written in {}-byte chunks; GB/s (10^9 bytes/s)",
        args.rounds, args.chunk
    );
    println!(
        "{:<12} {:>7} {:>7} {:>7} {:>9}",
        "variant", "median", "min", "max", "median s"
    );
    let summaries: Vec<(Variant, Summary)> = args
        .variants
        .iter()
        .zip(secs)
        .filter_map(|(&variant, secs)| {
            let rates = secs.iter().map(|s| bytes as f64 / s / 1e9).collect();
            summarize(rates).map(|s| (variant, s))
        })
        .collect();
    for (variant, s) in &summaries {
        println!(
            "{variant:<12} {:>7.3} {:>7.3} {:>7.3} {:>9.3}",
            s.median,
            s.min,
            s.max,
            bytes as f64 / s.median / 1e9
        );
    }
    let median_of = |wanted: Variant| {
        summaries
            .iter()
            .find(|(variant, _)| *variant == wanted)
            .map(|(_, s)| s.median)
    };
    // Throughput ratios of the medians: above 1.00 means the first is faster.
    let pairs = [
        (Variant::Ptm, Variant::Std, Some(1.2)),
        (Variant::Ptm, Variant::RawDiscard, Some(0.7)),
        (Variant::Ptm, Variant::RawCollect, Some(0.7)),
        (Variant::Std, Variant::RawDiscard, None),
        (Variant::RawCollect, Variant::RawDiscard, None),
    ];
    for (mine, other, bar) in pairs {
        if let (Some(m), Some(o)) = (median_of(mine), median_of(other)) {
            let bar = bar.map_or(String::new(), |b| format!("   (issue 3 asks >= {b:.2})"));
            println!("{mine:>11} / {other:<11} = {:.3}{bar}", m / o);
        }
    }
}
