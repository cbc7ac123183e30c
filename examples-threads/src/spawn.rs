//! # `spawn`: start threads, hand them data, join to get values back
//!
//! The smallest program first: [`first_thread`] spawns one thread and joins
//! it to get its value back. Then 4 named threads each own a chunk of data and
//! hand back a partial sum ([`sum_of_squares`]), and a thread that sleeps
//! 300 ms is timed (at least 300 ms: a sleep never returns early).
//!
//! Each thread has its own stack: 2 MiB by default, but of reserved address
//! space, backed by RAM only as the thread touches its pages. That
//! reservation, the kernel's bookkeeping and the scheduler's work are why a
//! program starts a few threads, not one per item.
//!
//! Two mistakes are easy to make, and this module shows both:
//! - `thread::spawn` *panics* when the OS refuses a thread (out of memory, a
//!   thread limit). `thread::Builder::spawn` returns that refusal as an
//!   `io::Error`; [`spawn_named`] adds the thread's name to it.
//! - A `JoinHandle<()>` whose `join` result is dropped counts a thread that
//!   panicked as done ([`join_all_ignoring_results`]). `join` returns each
//!   thread's value or its panic; [`join_named`] turns the panic into an
//!   error naming the thread.
//!
//! Run: `cargo run -p examples-threads -- spawn`

use anyhow::{anyhow, Context, Result};
use std::any::Any;
use std::thread::{self, JoinHandle, ThreadId};
use std::time::{Duration, Instant};

// ANCHOR: first_thread
/// Starts one thread that sums 1..=10, then waits for it with `join`.
/// Returns the sum and the id of the thread that computed it; `Err` if that
/// thread panicked.
pub fn first_thread() -> thread::Result<(u64, ThreadId)> {
    let handle = thread::spawn(|| {
        let sum: u64 = (1..=10).sum(); // runs on the new thread
        (sum, thread::current().id())
    });
    // This thread is free to do other work here, at the same time.
    handle.join() // blocks until the thread ends; gives back its value
}
// ANCHOR_END: first_thread

// ANCHOR: join_all_ignoring_results
/// A common first attempt: join every thread and count it as done, dropping
/// what `join` returned. A thread that panicked is counted all the same.
pub fn join_all_ignoring_results(handles: Vec<JoinHandle<()>>) -> usize {
    let mut done = 0;
    for handle in handles {
        let _ = handle.join(); // the `Err` of a panicked thread is dropped
        done += 1;
    }
    done
}
// ANCHOR_END: join_all_ignoring_results

// ANCHOR: spawn_named
/// Spawns a thread called `name` running `f`.
///
/// # Errors
/// The OS could not create the thread (out of memory, a thread limit); the
/// error names the thread.
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
/// The thread panicked; the error names the thread and carries the panic
/// message.
pub fn join_named<T>(handle: JoinHandle<T>) -> Result<T> {
    let name = handle.thread().name().unwrap_or("<unnamed>").to_owned();
    handle.join().map_err(|payload| {
        let message = panic_message(&*payload);
        anyhow!("thread `{name}` panicked: {message}")
    })
}
// ANCHOR_END: join_named

// ANCHOR: sum_of_squares
/// Sums the squares of `data` on `threads` threads, each owning its own
/// chunk. Returns the total and each thread's partial sum, in chunk order.
pub fn sum_of_squares(data: &[u64], threads: usize) -> Result<(u64, Vec<u64>)> {
    let chunk = data.len().div_ceil(threads.max(1)).max(1);
    let mut handles = Vec::new();
    for (i, part) in data.chunks(chunk).enumerate() {
        let part = part.to_vec(); // owned: the thread may outlive `data`
        let squares = move || part.iter().map(|x| x * x).sum::<u64>();
        handles.push(spawn_named(&format!("squares-{i}"), squares)?);
    }
    let partials = handles.into_iter().map(join_named);
    let partials: Vec<u64> = partials.collect::<Result<_>>()?;
    Ok((partials.iter().sum(), partials))
}
// ANCHOR_END: sum_of_squares

// ANCHOR: time_sleeper
/// Times a thread that sleeps `pause`, from just before spawn to just after
/// join.
pub fn time_sleeper(pause: Duration) -> Result<Duration> {
    let start = Instant::now();
    join_named(spawn_named("sleeper", move || thread::sleep(pause))?)?;
    Ok(start.elapsed())
}
// ANCHOR_END: time_sleeper

/// Spawns `worker-0`, `worker-1` and `worker-2`; `worker-1` panics.
fn three_workers_one_panics() -> Result<Vec<JoinHandle<()>>> {
    let worker = |i| {
        move || {
            if i == 1 {
                panic!("worker 1 fails");
            }
        }
    };
    let spawn = |i| spawn_named(&format!("worker-{i}"), worker(i));
    (0..3).map(spawn).collect()
}

/// Prints the first thread's value, what dropped and checked joins report,
/// the partial sums and the sleeper's time.
pub fn run() -> Result<()> {
    let (sum, id) =
        first_thread().map_err(|p| anyhow!("the first thread panicked: {}", panic_message(&*p)))?;
    let main = thread::current().id();
    println!("first thread: sum 1..=10 = {sum}, computed on {id:?}, joined by {main:?}");
    let done = join_all_ignoring_results(three_workers_one_panics()?);
    println!("join results dropped: {done} of 3 done, yet `worker-1` panicked (see stderr)");
    let joined = three_workers_one_panics()?.into_iter().map(join_named);
    let (ok, failed): (Vec<_>, Vec<_>) = joined.partition(Result::is_ok);
    let failed: Vec<String> = failed
        .into_iter()
        .filter_map(Result::err)
        .map(|e| e.to_string())
        .collect();
    println!(
        "join results checked: {} of 3 done; {}",
        ok.len(),
        failed.join("; ")
    );
    let data: Vec<u64> = (0..100).collect();
    let (total, partials) = sum_of_squares(&data, 4)?;
    println!("sum of squares of 0..100 on 4 threads: {partials:?} = {total}");
    let pause = Duration::from_millis(300);
    let took = time_sleeper(pause)?;
    let (ms, at_least) = (took.as_secs_f64() * 1e3, took >= pause);
    // A sleep's length does not depend on the build, so no debug-build note.
    println!("sleeper: asked for 300 ms, took {ms:.1} ms (>= 300: {at_least}; late, never early)");
    println!("notice: join gives back each thread's value or its panic: check what it returns");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_thread_runs_elsewhere_and_hands_its_sum_back() {
        let (sum, id) = first_thread().expect("the thread does not panic");
        assert_eq!(sum, 55);
        assert_ne!(id, thread::current().id());
    }

    #[test]
    fn partial_sums_add_up_whatever_the_thread_count() {
        let data: Vec<u64> = (0..100).collect();
        for threads in [1, 3, 4, 7, 200] {
            let (total, partials) = sum_of_squares(&data, threads).expect("threads spawn");
            assert_eq!(total, 328_350);
            assert_eq!(partials.len(), threads.min(100)); // one partial sum per thread
        }
    }

    /// Dropping `join`'s result counts a panicked thread as done.
    #[test]
    fn ignoring_join_results_counts_a_panicked_thread_as_done() {
        let work = |i| move || assert_ne!(i, 1, "thread 1 fails");
        let handles = (0..3).map(|i| thread::spawn(work(i))).collect();
        assert_eq!(join_all_ignoring_results(handles), 3); // 1 of the 3 panicked
        let handles: Vec<_> = (0..3).map(|i| thread::spawn(work(i))).collect();
        let ok = handles.into_iter().filter_map(|h| h.join().ok()).count();
        assert_eq!(ok, 2); // checking each result finds the panic
    }

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
