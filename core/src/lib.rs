//! ptm: process and thread management done right.
//!
//! A thread pool and a worker thread that shut down cleanly, lose no work and
//! survive panicking jobs; child processes that are always reaped; pipes and
//! pipelines that cannot deadlock. The crate behind the `examples-*` topic
//! crates of the ptm workspace, which teach processes, threads, channels and
//! pools.
//!
//! ```
//! use ptm::{ThreadPool, WorkerThread};
//!
//! fn main() -> ptm::Result<()> {
//!     // A pool: submit closures, get values back, shut down without losing work.
//!     let pool = ThreadPool::new(2)?;
//!     let squares: Vec<_> = (1..=4u64)
//!         .map(|n| pool.spawn(move || n * n))
//!         .collect::<ptm::Result<_>>()?;
//!     let total: u64 = squares
//!         .into_iter()
//!         .map(|handle| handle.join())
//!         .sum::<Result<u64, _>>()?;
//!     assert_eq!(total, 1 + 4 + 9 + 16);
//!     assert_eq!(pool.shutdown().completed, 4);
//!
//!     // A worker thread: one thread, one queue, a stateful handler.
//!     let worker = WorkerThread::new(|line: String| println!("log: {line}"))?;
//!     worker.submit("hello".to_owned())?;
//!     assert_eq!(worker.stop().processed, 1);
//!     Ok(())
//! }
//! ```
//!
//! # Layout
//!
//! - [`error`]: the one [`Error`] enum and [`Result`] alias.
//! - [`pool`]: [`ThreadPool`], [`PoolBuilder`](pool::PoolBuilder),
//!   [`JobHandle`](pool::JobHandle), [`JobError`](pool::JobError),
//!   [`PoolStats`](pool::PoolStats).
//! - [`worker`]: [`WorkerThread`] and [`WorkerStats`](worker::WorkerStats).
//! - [`process`]: [`ProcessManager`](process::ProcessManager) (children in
//!   their own process groups, terminated and reaped: no orphan, no zombie),
//!   [`ExitReport`](process::ExitReport), [`ProcessInfo`](process::ProcessInfo).
//! - [`ipc`]: [`communicate`](ipc::communicate) (stdin written while stdout
//!   and stderr are read: no deadlock, optional timeout;
//!   [`communicate_into`](ipc::communicate_into) reads stdout into a buffer
//!   reused across calls) and
//!   [`Pipeline`](ipc::Pipeline) (`a | b | c` with pipefail); on Linux,
//!   [`MessageSocket`](ipc::MessageSocket) (length-prefixed messages over a
//!   Unix socket pair) and [`SharedMemory`](ipc::SharedMemory) (a sealed
//!   memfd mapped by two processes).
//! - `isolate` (Linux): `Container`, a rootless container (new user, PID,
//!   mount, UTS, IPC and network namespaces, a root file system of its own,
//!   limits) with its own init as pid 1.
//! - `sync` (private): std or [loom](https://docs.rs/loom) primitives, chosen
//!   by `cfg(loom)` so that `tests/loom.rs` can model-check the shutdown paths.

#![warn(missing_docs, missing_debug_implementations)]

mod child;
pub mod error;
mod guardian;
pub mod ipc;
#[cfg(any(target_os = "linux", target_os = "android"))]
pub mod isolate;
pub mod pool;
mod popen;
pub mod process;
mod sync;
pub mod worker;

pub use error::{Error, Result};
pub use pool::ThreadPool;
pub use worker::WorkerThread;
