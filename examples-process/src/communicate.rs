//! # `communicate`: megabytes in and out of a child, without deadlock
//!
//! Grows in three steps:
//!
//! 1. [`sort_three_lines`]: the smallest exchange with a child through
//!    std's pipes: write all of its input, close it, then read all of its
//!    output. With three lines it works.
//! 2. [`naive_blocks`]: the same pattern with `--mib` MiB (default 8)
//!    through `cat` hangs. Past about 192 KiB, `cat` blocks on its full
//!    stdout, stops reading, and the parent blocks in `write_all` for ever:
//!    the data in flight fills the stdout pipe (64 KiB, Linux's default),
//!    `cat`'s buffer and the stdin pipe (64 KiB). Measured here: 192 KiB
//!    completes, 196 KiB blocks; other programs and pipe sizes move the
//!    limit, never remove it. The demo runs it on a thread, sees it still
//!    blocked after 300 ms, and kills `cat` to free it.
//! 3. [`through`], with [`communicate`]: the same megabytes through `cat`
//!    and `sort` (`LC_ALL=C`), stdin written while stdout and stderr are
//!    read, and the output checked: `cat`'s is identical (length, FNV-1a),
//!    `sort`'s is sorted and equals the input's lines sorted here.
//!
//! Run: `cargo run -p examples-process -- communicate [--mib 8]`

use std::io::{self, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use nix::sys::signal::{SigSet, Signal};
use ptm::ipc::communicate;

use crate::os::ChildGuard;

/// Flags of the `communicate` demo.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Size of the input, in MiB (1 to 256: the demo holds several copies in memory).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub mib: u32,
}

/// FNV-1a, 64 bits.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let step = |hash: u64, &byte: &u8| {
        (hash ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3)
    };
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, step)
}

/// The lines of `text`, each with its `\n`.
fn lines(text: &[u8]) -> impl Iterator<Item = &[u8]> {
    text.split_inclusive(|&b| b == b'\n')
}

/// The lines of `text` sorted by bytes, as `sort` must print them (`LC_ALL=C`).
pub fn sorted_lines(text: &[u8]) -> Vec<u8> {
    let mut lines: Vec<_> = lines(text).collect();
    lines.sort_unstable();
    lines.concat()
}

/// `mib` MiB of pseudo-random (an LCG) lines of 15 hex digits (16 bytes with `\n`).
pub fn input(mib: u32) -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut text = Vec::with_capacity((mib as usize) << 20);
    for _ in 0..mib << 16 {
        state = state
            .wrapping_mul(0x5851_f42d_4c95_7f2d)
            .wrapping_add(0x1405_7b7e_f767_814f);
        let _ = writeln!(text, "{:015x}", state >> 4); // writing to a Vec cannot fail
    }
    text
}

// ANCHOR: first
/// `sort` fed three lines through std's pipes: all of the input, then the
/// output.
pub fn sort_three_lines() -> Result<String> {
    let mut child = Command::new("sort")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("spawning `sort`")?;
    let mut stdin = child.stdin.take().context("stdin is piped")?;
    stdin.write_all(b"c\nb\na\n").context("writing to `sort`")?;
    drop(stdin); // end of input: sort can start
    let out = child.wait_with_output().context("waiting for `sort`")?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
// ANCHOR_END: first

// ANCHOR: through
/// Runs `program` under `LC_ALL=C` with `data` on stdin; returns its stdout.
fn through(program: &str, data: &[u8]) -> Result<Vec<u8>> {
    let mut cmd = Command::new(program);
    cmd.env("LC_ALL", "C");
    let out = communicate(cmd, data, Some(Duration::from_secs(60)))
        .with_context(|| format!("running `{program}`"))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(
        out.status.success(),
        "`{program}` failed: {}: {stderr}",
        out.status
    );
    Ok(out.stdout)
}
// ANCHOR_END: through

// ANCHOR: naive_blocks
/// The same pattern with `cat` and `data`, on a thread: still blocked
/// after `patience`?
pub fn naive_blocks(data: &[u8], patience: Duration) -> Result<bool> {
    let mut cmd = Command::new("cat");
    let child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("spawning `cat`")?;
    let mut child = ChildGuard::new(child); // killed, reaped if a step fails
    let (pid, mut stdin) =
        (child.id(), child.stdin.take().context("cat's stdin is piped")?);
    let (done_tx, done) = mpsc::channel();
    // The writer owns a copy of `data`, so nothing ever joins it: if killing
    // `cat` failed, it would stay blocked, but this function still returns.
    let data = data.to_vec();
    let writer = move || {
        // The kill below makes this write fail (EPIPE): with SIGPIPE blocked
        // here that is an error, not the end of this program (main restored
        // SIGPIPE's default). The pending signal ends with the thread.
        let blocked = SigSet::from(Signal::SIGPIPE).thread_block();
        done_tx.send(
            blocked
                .map_err(io::Error::from)
                .and_then(|()| stdin.write_all(&data)),
        )
    };
    thread::Builder::new()
        .name("naive-writer".into())
        .spawn(writer)
        .context("spawning the writer thread")?;
    let blocked = done.recv_timeout(patience).is_err();
    // Its stdin closes: a blocked `write_all` fails (EPIPE), the writer ends.
    child.kill().with_context(|| format!("killing `cat` (pid {pid})"))?;
    child.wait().with_context(|| format!("reaping `cat` (pid {pid})"))?;
    Ok(blocked)
}
// ANCHOR_END: naive_blocks

/// Prints what went in, what came out, and the checks.
pub fn run(args: &Args) -> Result<()> {
    let sorted = sort_three_lines()?;
    println!(
        "write all, then read: 3 lines through sort -> {:?} (fits in a pipe)",
        sorted
    );
    let data = input(args.mib);
    let blocked = naive_blocks(&data, Duration::from_millis(300))?;
    println!(
        "write all, then read: {} MiB through cat: still blocked after \
         300 ms: {blocked}",
        args.mib
    );
    println!("write all, then read:   (deadlock); cat killed and reaped");
    let (cat, sorted) = (through("cat", &data)?, through("sort", &data)?);
    let (len_in, len_out, sum_in, sum_out) =
        (data.len(), cat.len(), fnv1a(&data), fnv1a(&cat));
    println!(
        "communicate: cat: {len_in} bytes in, {len_out} out, identical: {}",
        cat == data
    );
    println!("communicate: cat: fnv1a {sum_in:#018x} in, {sum_out:#018x} out");
    let (count_in, count_out, in_order) = (
        lines(&data).count(),
        lines(&sorted).count(),
        lines(&sorted).is_sorted(),
    );
    let (sum_out, sum_expected) = (fnv1a(&sorted), fnv1a(&sorted_lines(&data)));
    println!(
        "communicate: sort: {count_in} lines in, {count_out} out, sorted: \
         {in_order}"
    );
    println!(
        "communicate: sort: fnv1a {sum_out:#018x} out, {sum_expected:#018x} \
         expected"
    );
    println!("communicate: sort: equal: {}", sum_out == sum_expected);
    println!(
        "notice: writing all input, then reading, hangs once the pipes are \
         full;"
    );
    println!("notice: communicate does both at once");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_lines_fit_so_writing_all_then_reading_works() {
        assert_eq!(sort_three_lines().expect("sort runs"), "a\nb\nc\n");
    }

    /// Writing all input before reading any output deadlocks past about
    /// 192 KiB through `cat` (module docs); `communicate` does not.
    #[test]
    fn a_mebibyte_blocks_write_all_then_read_but_not_communicate() {
        let data = input(1);
        assert!(through("cat", &data).expect("cat runs") == data);
        assert!(
            through("sort", &data).expect("sort runs") == sorted_lines(&data)
        );
        assert!(
            naive_blocks(&data, Duration::from_millis(300)).expect("cat runs")
        );
        // A few bytes fit in the pipe: the naive pattern completes then.
        assert!(!naive_blocks(b"a few bytes\n", Duration::from_secs(10))
            .expect("cat runs"));
    }
}
