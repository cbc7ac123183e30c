//! # `shm`: memory shared by two processes
//!
//! Shows `ptm::ipc::SharedMemory` (a Linux memfd mapped `MAP_SHARED`,
//! sealed against shrinking). Processes cannot see each other's memory
//! unless the OS maps the same pages into both. The parent fills 1 MiB
//! with the numbers 0, 1, 2, ...; a child (this binary re-run as the hidden
//! `shm-child`, the memfd as its stdin) maps the same pages, sums them and
//! writes the sum in place; the parent reads it after the child exited
//! (waiting is what orders the two sides' accesses). The seals make
//! shrinking fail, so no holder can turn the other's accesses into SIGBUS.
//!
//! Shared memory is the form of IPC that copies nothing: both map the same
//! pages, and then nothing orders their accesses but what they arrange
//! (here, `wait`; between two live processes, atomics in the pages or a
//! message).
//!
//! Run: `cargo run -p examples-process -- shm`

use std::os::fd::AsFd;
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};
use ptm::ipc::SharedMemory;
use ptm::process::ProcessManager;

/// Bytes shared: 262,144 u32.
const LEN: usize = 1 << 20;

// ANCHOR: sum_in_place
/// Sums the u32s of `shm` and stores the sum (u64) over the first 8 bytes.
///
/// # Errors
///
/// If `shm` cannot be read or written (it is shorter than 8 bytes).
pub fn sum_in_place(shm: &mut SharedMemory) -> ptm::Result<u64> {
    let mut bytes = vec![0u8; shm.len()];
    shm.read(0, &mut bytes)?;
    let sum = bytes
        .chunks_exact(4)
        .map(|w| u64::from(u32::from_le_bytes([w[0], w[1], w[2], w[3]])))
        .sum();
    shm.write(0, &u64::to_le_bytes(sum))?;
    Ok(sum)
}
// ANCHOR_END: sum_in_place

/// The hidden `shm-child` subcommand: map stdin, sum in place.
///
/// # Errors
///
/// If stdin cannot be duplicated or mapped, or the sum cannot be written.
pub fn child() -> Result<()> {
    let stdin = std::io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .context("duplicating stdin")?;
    let mut shm =
        SharedMemory::from_fd(stdin).context("mapping stdin (the memfd)")?;
    sum_in_place(&mut shm).context("summing the shared memory in place")?;
    Ok(())
}

/// What the parent saw.
#[derive(Debug)]
pub struct Seen {
    /// The child's sum, read from the shared pages.
    pub sum: u64,
    /// What became of a try to shrink the memfd to 0 bytes.
    pub shrink: String,
}

// ANCHOR: share_with_child
/// Fills shared memory, lets a child sum it in place, reads the sum back,
/// then tries to shrink the memfd.
///
/// # Errors
///
/// If the memory cannot be created, written or read, or the child fails.
pub fn share_with_child() -> Result<Seen> {
    let mut shm = SharedMemory::create("ptm-demo", LEN)
        .context("creating 1 MiB shared memory")?;
    let numbers: Vec<u8> =
        (0..(LEN / 4) as u32).flat_map(u32::to_le_bytes).collect();
    shm.write(0, &numbers).context("filling the shared memory")?;
    let exe =
        std::env::current_exe().context("finding this program's executable")?;
    let memfd =
        shm.as_fd().try_clone_to_owned().context("duplicating the memfd")?;
    let mut cmd = Command::new(exe);
    cmd.arg("shm-child").stdin(Stdio::from(memfd));
    let mut manager = ProcessManager::new();
    manager.spawn_command(cmd).context("starting the shm child")?;
    for report in manager.wait_all() {
        if !report.status.as_ref().is_ok_and(|status| status.success()) {
            bail!("the child failed: {report}");
        }
    }
    let mut sum = [0u8; 8];
    shm.read(0, &mut sum).context("reading the child's answer")?;
    let shrink = match nix::unistd::ftruncate(shm.as_fd(), 0) {
        Ok(()) => "it shrank (not sealed!)".to_owned(),
        Err(errno) => format!("refused: {}", std::io::Error::from(errno)),
    };
    Ok(Seen { sum: u64::from_le_bytes(sum), shrink })
}
// ANCHOR_END: share_with_child

/// Prints the child's sum and what the shrink got.
pub fn run() -> Result<()> {
    let seen = share_with_child()?;
    let n = (LEN / 4) as u64;
    println!(
        "shm: parent wrote 0..{n} as u32 into 1 MiB of shared memory (memfd)"
    );
    println!(
        "shm: the child summed the pages in place: {} (expected {})",
        seen.sum,
        n * (n - 1) / 2
    );
    println!("shm: truncating the memfd to 0 bytes:");
    crate::os::say("shm:  ", &seen.shrink);
    println!(
        "notice: the child's sum was read from the same pages, copied by \
         no one;"
    );
    println!("notice: the wait for its exit ordered the two sides");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_in_place() {
        let mut shm =
            SharedMemory::create("ptm-test", 16).expect("shared memory");
        shm.write(0, &[1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0])
            .expect("write");
        assert_eq!(sum_in_place(&mut shm).expect("sum"), 10);
        let mut first = [0u8; 8];
        shm.read(0, &mut first).expect("read");
        assert_eq!(u64::from_le_bytes(first), 10);
    }
}
