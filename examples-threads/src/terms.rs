//! `terms`: the seed's vocabulary of concurrency, each term shown running.
//!
//! Answers "Terms Related To Concurrency" in `processes-threads-and-containers.md`.
//! The seed only defines the words; here each one is something you can see:
//! the *executable* and the *process* made from it, *threads* of that process,
//! *coroutines* (tasks that switch inside one thread, by the program's own
//! choice, which is what `async` compiles to), and *non-blocking I/O* (a read
//! that says "not yet" instead of putting the thread to sleep).
//!
//! Run it: `cargo run -p examples-threads -- terms`.

use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::thread;

/// A task that yields after each step: a coroutine written by hand as a state
/// machine (its state: the next step). `resume` runs one step and returns
/// what it did, or `None` when the task is over.
struct Task {
    name: &'static str,
    step: u32,
    steps: u32,
}

impl Task {
    fn resume(&mut self) -> Option<String> {
        (self.step < self.steps).then(|| {
            self.step += 1;
            format!("{}{}", self.name, self.step)
        })
    }
}

/// Runs the tasks round-robin on the calling thread until all are over: the
/// program, not the OS, decides who runs next. Returns the order of steps.
fn run_coroutines(mut tasks: Vec<Task>) -> Vec<String> {
    let mut order = Vec::new();
    while !tasks.is_empty() {
        tasks.retain_mut(|task| match task.resume() {
            Some(step) => {
                order.push(step);
                true
            }
            None => false,
        });
    }
    order
}

/// A non-blocking read: before the peer writes it returns `WouldBlock` at
/// once; after, the bytes. Returns (what the first read said, the bytes).
fn nonblocking_read() -> std::io::Result<(ErrorKind, Vec<u8>)> {
    let (mut ours, mut theirs) = UnixStream::pair()?;
    ours.set_nonblocking(true)?;
    let mut buf = [0u8; 16];
    let first = match ours.read(&mut buf) {
        Err(error) => error.kind(),
        Ok(_) => ErrorKind::Other,
    };
    theirs.write_all(b"ready")?;
    let read = ours.read(&mut buf)?;
    Ok((first, buf[..read].to_vec()))
}

/// Prints each term with what it is in this very run.
pub fn run() -> anyhow::Result<()> {
    let exe = std::env::current_exe()?;
    println!(
        "executable: {} (a file that can be loaded and run)",
        exe.display()
    );
    println!(
        "process: pid {} (a running executable: its own memory, fds, env)",
        std::process::id()
    );
    let main_thread = thread::current().id();
    let other = thread::spawn(|| thread::current().id())
        .join()
        .map_err(|_| anyhow::anyhow!("the second thread panicked"))?;
    println!("threads: main {main_thread:?} and another {other:?}, one pid, scheduled by the OS");
    let order = run_coroutines(vec![
        Task {
            name: "a",
            step: 0,
            steps: 3,
        },
        Task {
            name: "b",
            step: 0,
            steps: 2,
        },
    ]);
    println!(
        "coroutines: order {} on thread {:?} alone, switched by the program",
        order.join(" "),
        thread::current().id()
    );
    let (first, bytes) = nonblocking_read()?;
    println!(
        "non-blocking I/O: first read -> {first:?} (no sleep); after the write -> {:?}",
        String::from_utf8_lossy(&bytes)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coroutines_interleave_on_one_thread() {
        let tasks = vec![
            Task {
                name: "a",
                step: 0,
                steps: 3,
            },
            Task {
                name: "b",
                step: 0,
                steps: 2,
            },
        ];
        assert_eq!(run_coroutines(tasks), ["a1", "b1", "a2", "b2", "a3"]);
    }

    #[test]
    fn a_nonblocking_read_says_would_block_first() {
        let (first, bytes) = nonblocking_read().expect("a socket pair");
        assert_eq!(first, ErrorKind::WouldBlock);
        assert_eq!(bytes, b"ready");
    }
}
