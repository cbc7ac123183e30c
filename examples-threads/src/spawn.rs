//! # `spawn`: start threads, hand them data, join to get values back
//!
//! Moves a chunk of data into each of 4 named threads, joins them to collect their
//! partial sums, and times the seed's thread that sleeps 300 ms (at least 300 ms: a
//! sleep never returns early). Each thread has its own stack: 2 MiB by default, but of
//! reserved address space, backed by RAM only as the thread touches its pages. That
//! reservation, the kernel's bookkeeping and the scheduler's work are what "Effect Of
//! Spawning Thread" warns about: 4 threads, not one per item.
//!
//! Answers `processes-threads-and-containers.md`, "Threads In Rust" and "Effect Of
//! Spawning Thread"; `process-and-thread-management.md`, "Thread Creation and Control".
//! Run: `cargo run -p examples-threads -- spawn`
//!
//! What the seeds get wrong, and what this demo does instead:
//! - `ThreadManager::spawn_thread` returns `Result<(), String>` yet never fails:
//!   `thread::spawn` *panics* when the OS refuses a thread. `thread::Builder::spawn`
//!   returns that `io::Error`; [`spawn_named`] adds the thread's name to it.
//! - `ThreadManager` keeps `JoinHandle<()>`, so no thread can hand a value back, and
//!   `join_all` prints "N results" even when threads panicked. Here `join` returns each
//!   thread's value, and [`join_named`] turns a panic into an error naming the thread.
//! - "The `join` keyword" is a method of `JoinHandle`, blocking the caller until the
//!   thread ends; `pause.clone()` is noise, as `Duration` is `Copy`.

use anyhow::{anyhow, Context, Result};
use std::any::Any;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

// ANCHOR: spawn_named
/// Spawns a thread called `name` running `f`.
///
/// # Errors
/// The OS could not create the thread (out of memory, thread limit); the error names it.
pub fn spawn_named<T, F>(name: &str, f: F) -> Result<JoinHandle<T>>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    thread::Builder::new()
        .name(name.to_owned())
        .spawn(f)
        .with_context(|| format!("spawning thread `{name}`"))
}
// ANCHOR_END: spawn_named

/// The message a thread panicked with (`panic!` payloads are `&str` or `String`).
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    let text = payload.downcast_ref::<&str>().copied();
    let text = text.or_else(|| payload.downcast_ref::<String>().map(String::as_str));
    text.unwrap_or("non-string panic payload").to_owned()
}

// ANCHOR: join_named
/// Waits for a thread and returns its value.
///
/// # Errors
/// The thread panicked; the error names the thread and carries the panic message.
pub fn join_named<T>(handle: JoinHandle<T>) -> Result<T> {
    let name = handle.thread().name().unwrap_or("<unnamed>").to_owned();
    let joined = handle.join();
    joined.map_err(|payload| anyhow!("thread `{name}` panicked: {}", panic_message(&*payload)))
}
// ANCHOR_END: join_named

// ANCHOR: sum_of_squares
/// Sums the squares of `data` on `threads` threads, each owning its own chunk.
/// Returns the total and the partial sum of each thread, in chunk order.
pub fn sum_of_squares(data: &[u64], threads: usize) -> Result<(u64, Vec<u64>)> {
    let chunk = data.len().div_ceil(threads.max(1)).max(1);
    let mut handles = Vec::new();
    for (i, part) in data.chunks(chunk).enumerate() {
        let part = part.to_vec(); // owned: the thread may outlive the borrow of `data`
        let sum_squares = move || part.iter().map(|x| x * x).sum::<u64>();
        handles.push(spawn_named(&format!("squares-{i}"), sum_squares)?);
    }
    let partials: Vec<u64> = handles.into_iter().map(join_named).collect::<Result<_>>()?;
    Ok((partials.iter().sum(), partials))
}
// ANCHOR_END: sum_of_squares

// ANCHOR: time_sleeper
/// Times a thread that sleeps `pause`, from just before spawn to just after join.
pub fn time_sleeper(pause: Duration) -> Result<Duration> {
    let start = Instant::now();
    join_named(spawn_named("sleeper", move || thread::sleep(pause))?)?;
    Ok(start.elapsed())
}
// ANCHOR_END: time_sleeper

/// Prints the partial sums and the sleeper's measured time.
pub fn run() -> Result<()> {
    let data: Vec<u64> = (0..100).collect();
    let (total, partials) = sum_of_squares(&data, 4)?;
    println!("sum of squares 0..100 = {total} (4 threads, partial sums {partials:?})");
    let pause = Duration::from_millis(300);
    let took = time_sleeper(pause)?;
    let (ms, at_least) = (took.as_secs_f64() * 1e3, took >= pause);
    println!("thread `sleeper` slept 300 ms: measured {ms:.1} ms, >= 300 ms: {at_least}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_sums_add_up_whatever_the_thread_count() {
        let data: Vec<u64> = (0..100).collect();
        for threads in [1, 3, 4, 7, 200] {
            let (total, partials) = sum_of_squares(&data, threads).expect("threads spawn");
            assert_eq!(total, 328_350);
            assert_eq!(partials.len(), threads.min(100)); // one partial sum per thread
        }
    }

    /// "Thread Creation and Control": the seed's `join_all` counts a panic as a result.
    #[test]
    fn a_panic_is_an_error_naming_the_thread() {
        let handle = spawn_named("doomed", || -> u8 { panic!("boom") }).expect("spawns");
        let err = join_named(handle).expect_err("the thread panicked");
        assert_eq!(err.to_string(), "thread `doomed` panicked: boom");
    }

    #[test]
    fn sleeper_takes_at_least_its_pause() {
        let pause = Duration::from_millis(30); // a sleep never returns early
        assert!(time_sleeper(pause).expect("spawns") >= pause);
    }
}
