//! Throughput of pushing bytes through `cat` and back with
//! `ptm::ipc::communicate`, against the plain std approach and against a raw
//! pipe between two threads, all in one process (the targets: `communicate`
//! of 1 GiB through `cat` at least 1.2x the plain std approach and at least
//! 70% of the raw pipe, measured in the same run).
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
//! capacity through `libc` (`ptm_benches::experiments::pipes::sys`); the
//! variants live in `ptm_benches::experiments::pipes`, which `report` runs
//! too. This machine's speed
//! flips from one process to the next: compare variants within a run, and
//! run the binary several times.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, ensure, Context};
use clap::Parser;
use ptm_benches::experiments::pipes::{checksum, data, sys, Raw, Received, Variant};
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
            let bar = bar.map_or(String::new(), |b| format!("   (target >= {b:.2})"));
            println!("{mine:>11} / {other:<11} = {:.3}{bar}", m / o);
        }
    }
}
