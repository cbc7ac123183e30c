//! ptm's benchmarks: criterion benches, experiment binaries, and `report`,
//! which runs every side-by-side comparison and writes a CSV and an SVG
//! plot for each (the book's Benchmarks chapter shows them; the verdicts on
//! the targets are in `benches/RESULTS.md`).
//!
//! The first question they answered: how many no-op jobs per second a pool
//! runs when one thread submits them all and then waits until every one has
//! finished, for ptm's [`ThreadPool`](ptm::ThreadPool) and the designs it is
//! measured against. Then came pool latency, channels, round trips between
//! threads and between processes, the cost of threads, processes and
//! pipes, the isolation ladder (a task, a thread, a Wasm instance, a
//! process, a container) and where threads stop scaling.
//!
//! # Layout
//!
//! - [`book_pool`]: the Rust Book's chapter 20 `ThreadPool`
//!   (`Arc<Mutex<mpsc::Receiver<Job>>>`), copied faithfully.
//! - [`latch`]: [`CountLatch`](latch::CountLatch), the "last job signals the
//!   waiter" helper that pools without a `wait_idle` are measured with.
//! - [`queue_pool`]: [`QueuePool`](queue_pool::QueuePool), N threads on one
//!   crossbeam queue and nothing else: the "queue alone" baseline.
//! - [`designs`]: every design behind one [`Design`](designs::Design) enum and
//!   one [`Bench`](designs::Bench) type that builds a pool once and times
//!   "submit N jobs, wait for all of them", shared by `report`'s pool
//!   experiments and the criterion bench.
//! - [`stats`]: [`Summary`](stats::Summary) (median, min, max) for the
//!   experiment binaries' tables.
//! - `src/bin/spawn_cost.rs`: spawn + wait of `/bin/true` through
//!   `ptm::process::ProcessManager` and `ptm::process::Process` vs
//!   `Command::status` (with and without a process group) vs `sh -c true`.
//! - `src/bin/pipe_throughput.rs`: `ptm::ipc::communicate` through `cat` vs
//!   the plain std approach vs a raw pipe between two threads.
//! - [`units`]: [`parse_size`] ("1GiB") for the binaries' flags.
//! - `src/bin/first_touch.rs`: what making fresh memory present costs here
//!   (4 KiB faults, `MADV_POPULATE_WRITE`, transparent huge pages).
//! - `benches/pool.rs`: the same designs under criterion, at 2 workers;
//!   `benches/channels.rs` and `benches/threads.rs`: channel throughput and
//!   spawn + join / `thread::scope` under criterion.
//! - [`experiments`]: the nine comparisons as library code, each a
//!   `Config` (full or quick sizes), a `run` returning rows, and an
//!   [`Outcome`](experiments::Outcome) (CSV, SVG, Markdown, target checks)
//!   that can be read back from its CSV.
//! - `src/bin/report.rs`: runs them all and writes `target/ptm-report/`;
//!   `--replot DIR` redraws the SVGs from the CSVs in DIR without measuring.
//! - [`memory`]: RSS, peak RSS and PSS from `/proc`, and a process's
//!   descendants, for the isolation ladder and the sleepers.
//! - [`csv`], [`plot`], [`verdict`], [`pin`], [`machine`]: CSV tables, SVG
//!   plots (plotters, at most 720 px wide), the targets, pinning to one
//!   CPU, and what the report says about the machine and where it writes.
//!
//! ```text
//! cargo run --release -p ptm-benches --bin report -- --quick
//! cargo run --release -p ptm-benches --bin report -- --replot docs/src/benchmarks
//! cargo run --release -p ptm-benches --bin report -- --only pool --workers 2,4,8
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
