//! `terms`: the seed's vocabulary of concurrency, each term shown running.
//!
//! Answers "Terms Related To Concurrency" in `processes-threads-and-containers.md`.
//! The seed defines the words, and two definitions are wrong. Asynchronous programming
//! is not faster "because there are fewer system calls ... fewer context switches
//! between the user space and the kernel space": a switch from user to kernel mode is
//! not a context switch, and an epoll loop makes at least as many system calls (an
//! `epoll_wait`, then the read); what it saves is a thread, its stack and the thread
//! switches, per waiting connection. And a dynamically linked executable, as most are,
//! does not start at its own "first instruction": the kernel starts the dynamic loader
//! (`ld.so`), which maps the libraries, then jumps to the program's entry point.
//! Here each term is something you can see:
//! the *executable* and the *process* made from it, *threads* of that process,
//! *coroutines* (tasks that switch inside one thread, by the program's own
//! choice, which is what `async` compiles to), and *non-blocking I/O* (a read
//! that says "not yet" instead of putting the thread to sleep).
//!
//! Run it: `cargo run -p examples-threads -- terms`.

use crate::spawn::{join_named, spawn_named};
use anyhow::Context;
use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::thread;

// ANCHOR: coroutines
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
// ANCHOR_END: coroutines

// ANCHOR: nonblocking_read
/// A non-blocking read: before the peer writes it returns `WouldBlock` at
/// once; after, the bytes. Returns (what the first read said, the bytes).
fn nonblocking_read() -> anyhow::Result<(ErrorKind, Vec<u8>)> {
    let (mut ours, mut theirs) = UnixStream::pair().context("creating a socket pair")?;
    ours.set_nonblocking(true)
        .context("making the socket non-blocking")?;
    let mut buf = [0u8; 16];
    let first = match ours.read(&mut buf) {
        Err(error) => error.kind(),
        Ok(_) => ErrorKind::Other,
    };
    theirs.write_all(b"ready").context("writing to the peer")?;
    let read = ours.read(&mut buf).context("reading after the write")?;
    Ok((first, buf[..read].to_vec()))
}
// ANCHOR_END: nonblocking_read

/// Prints each term with what it is in this very run.
pub fn run() -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("finding this executable's path")?;
    println!(
        "executable: {} (a file that can be loaded and run)",
        exe.display()
    );
    println!(
        "process: pid {} (a running executable: its own memory, fds, env)",
        std::process::id()
    );
    let main_thread = thread::current().id();
    let other = join_named(spawn_named("second", || thread::current().id())?)?;
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
    let (first, bytes) = nonblocking_read().context("the non-blocking read")?;
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
