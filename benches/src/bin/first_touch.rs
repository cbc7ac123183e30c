//! What the first touch of fresh memory costs on this machine: the cost any
//! reader pays that returns a large output in newly allocated memory, as
//! `ptm::ipc::communicate` does (see "Pipes: communicate throughput" in
//! `benches/RESULTS.md`).
//!
//! ```text
//! cargo run --release -p ptm-benches --bin first_touch
//! cargo run --release -p ptm-benches --bin first_touch -- --size 256MiB --reps 3
//! ```
//!
//! Each repetition maps `--size` bytes of anonymous memory and makes every
//! page present, four ways: writing one byte per 4 KiB page (`touch`, what a
//! `read` into a fresh `Vec` does), `MADV_POPULATE_WRITE` (`populate`,
//! Linux 5.14, all faults in one call), and both again after
//! `MADV_HUGEPAGE` (transparent huge pages, 2 MiB at a time). It then
//! writes every byte once more (`memset`, the cost of the memory once
//! present) and unmaps it. Printed: seconds per GiB for each step.
//!
//! In a VM the first step can include the host's own faults: memory the
//! guest freed may have been handed back to the host (free page reporting)
//! and is faulted back in on the next touch, so the figures of a
//! repetition depend on what the machine did before it.

use std::ffi::c_void;
use std::num::NonZeroUsize;
use std::ptr::NonNull;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Parser;
use nix::sys::mman::{madvise, mmap_anonymous, munmap, MapFlags, MmapAdvise, ProtFlags};
use ptm_benches::parse_size;

/// Cost of the first touch of fresh anonymous memory, four ways.
#[derive(Debug, Parser)]
struct Args {
    /// Bytes mapped per repetition (a number with an optional binary unit).
    #[arg(long, default_value = "1GiB", value_parser = parse_size)]
    size: usize,
    /// Repetitions of each way.
    #[arg(long, default_value_t = 2)]
    reps: usize,
}

const PAGE: usize = 4096;

/// The ways of making a mapping present.
const WAYS: [(&str, bool, bool); 4] = [
    ("touch", false, false),
    ("populate", false, true),
    ("huge+touch", true, false),
    ("huge+populate", true, true),
];

fn main() -> Result<()> {
    let args = Args::parse();
    let Some(length) = NonZeroUsize::new(args.size.next_multiple_of(PAGE)) else {
        bail!("--size must be more than 0");
    };
    let gib = length.get() as f64 / f64::from(1u32 << 30);
    println!("way            rep  fault s/GiB  memset s/GiB");
    for (name, huge, populate) in WAYS {
        for rep in 1..=args.reps {
            // SAFETY: a fresh private anonymous mapping, used only through
            // `ptr` below and unmapped before the next one.
            let ptr: NonNull<c_void> = unsafe {
                mmap_anonymous(
                    None,
                    length,
                    ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                    MapFlags::MAP_PRIVATE,
                )
            }
            .context("mmap")?;
            if huge {
                // SAFETY: advice on the mapping made above; it changes no content.
                unsafe { madvise(ptr, length.get(), MmapAdvise::MADV_HUGEPAGE) }
                    .context("madvise(MADV_HUGEPAGE)")?;
            }
            let start = Instant::now();
            if populate {
                // SAFETY: as above. MADV_POPULATE_WRITE is 23 on Linux.
                let done = unsafe { nix::libc::madvise(ptr.as_ptr(), length.get(), 23) };
                if done != 0 {
                    bail!(
                        "madvise(MADV_POPULATE_WRITE): {}",
                        std::io::Error::last_os_error()
                    );
                }
            } else {
                let bytes = ptr.cast::<u8>().as_ptr();
                for offset in (0..length.get()).step_by(PAGE) {
                    // SAFETY: `offset` is inside the mapping, which is writable.
                    unsafe { bytes.add(offset).write_volatile(1) };
                }
            }
            let faulted = start.elapsed();
            let start = Instant::now();
            // SAFETY: the whole mapping is writable and only ours.
            unsafe { std::ptr::write_bytes(ptr.cast::<u8>().as_ptr(), 2, length.get()) };
            let written = start.elapsed();
            // SAFETY: the mapping made above, no longer used.
            unsafe { munmap(ptr, length.get()) }.context("munmap")?;
            println!(
                "{name:<14} {rep:>3}  {:>11.3}  {:>12.3}",
                faulted.as_secs_f64() / gib,
                written.as_secs_f64() / gib
            );
        }
    }
    Ok(())
}
