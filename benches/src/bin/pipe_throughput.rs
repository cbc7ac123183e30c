//! Throughput of pushing bytes through `cat` and back, against the plain std
//! approach and a raw pipe, all in one process (issue 3, "Performance").
//!
//! ```text
//! cargo run --release -p ptm-benches --bin pipe_throughput
//! cargo run --release -p ptm-benches --bin pipe_throughput -- --mib 256 --rounds 9
//! ```
//!
//! Approaches, each given the same `--mib` MiB of pseudo-random bytes:
//!
//! - `ptm`: `ptm::ipc::communicate(Command::new("cat"), &data, None)`.
//! - `std`: `cat` with piped stdin and stdout, a thread writing all of stdin
//!   then closing it while the caller reads stdout to the end
//!   (`read_to_end`), then `wait`: the plain deadlock-free std approach.
//! - `raw-pipe`: no process: one thread writes the bytes into an
//!   `std::io::pipe()` (default 64 KiB) that the caller reads to the end
//!   with `read_to_end`: one pipe crossing instead of two, the ceiling the
//!   issue measures ptm against.
//!
//! Every round runs every approach once, in an order rotated by one place per
//! round, and checks that the bytes came back intact (outside the timing).
//! The table gives GB/s (10^9 bytes per second): median, min and max over the
//! rounds, and ptm's ratio to the others' medians.
//!
//! Three runs of `--rounds 9` on the 2-vCPU development VM (while other builds
//! ran) gave medians of 0.90 to 1.00 GB/s for `ptm`, 0.41 to 0.64 for `std`
//! and 0.21 to 0.28 for `raw-pipe`: ptm 1.6 to 2.2 times `std`. On this VM
//! every wake-up of a halted vCPU is expensive, which punishes 64 KiB pipes
//! (16 times more wake-ups than ptm's 1 MiB ones) far more than the issue's
//! reference machine did, and first-touch page faults of the 1 GiB output
//! cost about 0.7 s per GiB for every approach. Compare within a run.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::thread;
use std::time::Instant;

use anyhow::{bail, ensure, Context};
use clap::Parser;

/// Compare ways of sending bytes through `cat` and back.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Args {
    /// MiB sent per run.
    #[arg(long, default_value_t = 1024)]
    mib: usize,

    /// Timed runs per approach.
    #[arg(long, default_value_t = 5)]
    rounds: usize,

    /// Run only these approaches (comma-separated: ptm,std,raw-pipe), for
    /// profiling one of them.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
}

/// One way of moving the bytes; returns what came back.
type Approach = fn(&[u8]) -> anyhow::Result<Vec<u8>>;

const APPROACHES: [(&str, Approach); 3] = [
    ("ptm", via_ptm),
    ("std", via_std),
    ("raw-pipe", via_raw_pipe),
];

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
    let mut stdout = child.stdout.take().context("cat's stdout")?;
    let mut out = Vec::new();
    thread::scope(|scope| -> anyhow::Result<()> {
        let writer = scope.spawn(move || stdin.write_all(data));
        stdout.read_to_end(&mut out).context("read cat's stdout")?;
        match writer.join() {
            Ok(written) => written.context("write cat's stdin"),
            Err(_) => bail!("the writer thread panicked"),
        }
    })?;
    let status = child.wait().context("wait for cat")?;
    ensure!(status.success(), "cat failed: {status}");
    Ok(out)
}

fn via_raw_pipe(data: &[u8]) -> anyhow::Result<Vec<u8>> {
    let (mut reader, mut writer) = std::io::pipe().context("pipe")?;
    let mut out = Vec::new();
    thread::scope(|scope| -> anyhow::Result<()> {
        let sender = scope.spawn(move || writer.write_all(data));
        reader.read_to_end(&mut out).context("read the pipe")?;
        match sender.join() {
            Ok(written) => written.context("write the pipe"),
            Err(_) => bail!("the writer thread panicked"),
        }
    })?;
    Ok(out)
}

fn median(sorted: &[f64]) -> f64 {
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
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

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    ensure!(args.rounds > 0, "--rounds must be at least 1");
    for name in &args.only {
        ensure!(
            APPROACHES.iter().any(|(known, _)| known == name),
            "unknown approach {name:?}"
        );
    }
    let approaches: Vec<(&str, Approach)> = APPROACHES
        .into_iter()
        .filter(|(name, _)| args.only.is_empty() || args.only.iter().any(|only| only == name))
        .collect();
    let data = data(args.mib << 20);
    let mut secs: Vec<Vec<f64>> = vec![Vec::new(); approaches.len()];
    // One untimed warm-up of each, so no approach pays the first page faults.
    for &(name, approach) in &approaches {
        let out = approach(&data).with_context(|| format!("warm-up of {name}"))?;
        ensure!(out == data, "{name}: the bytes came back changed");
    }
    for round in 0..args.rounds {
        for k in 0..approaches.len() {
            let index = (k + round) % approaches.len();
            let (name, approach) = approaches[index];
            let start = Instant::now();
            let out = approach(&data).with_context(|| format!("{name}, round {round}"))?;
            let elapsed = start.elapsed();
            ensure!(out == data, "{name}: the bytes came back changed");
            drop(out);
            eprintln!("round {round}: {name:<12} {:>6.3} s", elapsed.as_secs_f64());
            secs[index].push(elapsed.as_secs_f64());
        }
    }
    let bytes = data.len() as f64;
    println!(
        "{} MiB per run, {} rounds, GB/s (10^9 bytes/s)",
        args.mib, args.rounds
    );
    println!(
        "{:<12} {:>7} {:>7} {:>7}",
        "approach", "median", "min", "max"
    );
    let mut medians = Vec::new();
    for (index, (name, _)) in approaches.iter().enumerate() {
        let mut rates: Vec<f64> = secs[index].iter().map(|s| bytes / s / 1e9).collect();
        rates.sort_by(f64::total_cmp);
        let med = median(&rates);
        medians.push((*name, med));
        println!(
            "{name:<12} {med:>7.3} {:>7.3} {:>7.3}",
            rates[0],
            rates[rates.len() - 1]
        );
    }
    if let Some(&("ptm", ptm)) = medians.first() {
        for &(name, med) in &medians[1..] {
            println!("ptm / {name}: {:.2}", ptm / med);
        }
    }
    Ok(())
}
