//! ptm's benchmarks: `report`, one binary whose experiments compare ptm
//! with what users would pick instead and write a CSV and an SVG plot each
//! (the book's Benchmarks chapter shows them; the verdicts on the targets
//! are in `benches/RESULTS.md`), and criterion benches.
//!
//! # Layout
//!
//! - [`harness`]: what every experiment shares, written once: the
//!   [`Experiment`](harness::Experiment) trait, variants interleaved by round
//!   in rotated order, child invocations in fresh processes, partner
//!   processes, rows saved and read back as CSV (the `csv` crate and serde).
//! - [`experiments`]: one module per experiment, each its variants, its
//!   sizes, its rows, its plot and its summary.
//! - [`stats`], [`plot`], [`pin`], [`verdict`], [`memory`], [`machine`]:
//!   medians and percentiles (hdrhistogram), SVG plots (plotters, with its
//!   own log axes, 720 px wide), pinning to CPUs (nix), the targets, RSS and
//!   PSS from `/proc`, and what the report says about the machine.
//! - [`designs`], [`book_pool`], [`queue_pool`], [`latch`]: the pool designs
//!   ptm's pool is measured against: the Rust Book's chapter 20 pool copied
//!   faithfully, N threads on one crossbeam queue, and the count-down latch
//!   that pools without a `wait_idle` are measured with.
//! - `src/bin/report.rs`: runs them (`--only`, `--quick`, `--list`) and
//!   writes `target/ptm-report/`; `--replot DIR` redraws the SVGs from the
//!   CSVs in DIR without measuring.
//! - `benches/`: criterion benches of pool dispatch, channels, spawn + join.
//!
//! ```text
//! cargo run --release -p ptm-benches --bin report -- --quick
//! cargo run --release -p ptm-benches --bin report -- --only pool --workers 2,4,8
//! cargo run --release -p ptm-benches --bin report -- --replot docs/src/benchmarks
//! cargo bench -p ptm-benches --bench pool
//! ```

#![warn(missing_docs)]

pub mod book_pool;
pub mod designs;
pub mod experiments;
pub mod harness;
pub mod latch;
pub mod machine;
pub mod memory;
pub mod pin;
pub mod plot;
pub mod queue_pool;
pub mod stats;
pub mod units;
pub mod verdict;

pub use units::parse_size;
