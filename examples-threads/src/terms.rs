//! # `terms`: the words of concurrency, each shown running
//!
//! Each term is something you can see in this very run: the *executable*
//! and the *process* made from it, *threads* of that process (std's
//! `ThreadId` and the kernel's thread id), *coroutines* (tasks that switch
//! inside one thread, by the program's own choice, which is what `async`
//! compiles to), and *non-blocking I/O* (a read that says "not yet" instead
//! of putting the thread to sleep).
//!
//! Two beliefs about these words are common and wrong. Asynchronous code is
//! not faster "because it makes fewer system calls": an epoll loop makes at
//! least as many (an `epoll_wait`, then the read); what it saves is a
//! thread, its stack and the thread switches, per waiting connection. And a
//! dynamically linked executable, as most are, does not start at its own
//! first instruction: the kernel starts the dynamic loader (`ld.so`), which
//! maps the libraries, then jumps to the program's entry point.
//!
//! Run: `cargo run -p examples-threads -- terms`

use crate::spawn::{join_named, spawn_named};
use anyhow::Context;
use nix::unistd::gettid;
use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::thread::{self, ThreadId};

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
    let pair = UnixStream::pair().context("creating a socket pair")?;
    let (mut ours, mut theirs) = pair;
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

// ANCHOR: thread_ids
/// Starts a thread that reports who it is. Returns (std's `ThreadId`, the
/// kernel's thread id) for this thread, then for the new one.
fn thread_ids() -> anyhow::Result<[(ThreadId, i32); 2]> {
    let me = || (thread::current().id(), gettid().as_raw());
    let other = join_named(spawn_named("second", me)?)?;
    Ok([me(), other])
}
// ANCHOR_END: thread_ids

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
    let [(main_id, main_tid), (other_id, other_tid)] = thread_ids()?;
    let pid = std::process::id();
    let is_pid = if u32::try_from(main_tid) == Ok(pid) {
        "="
    } else {
        "not"
    };
    println!("threads: main is {main_id:?}, kernel tid {main_tid} ({is_pid} the pid)");
    println!("threads: the other is {other_id:?}, kernel tid {other_tid}; both in pid {pid}");
    println!("{other_id:?}: a serial number, in the order threads start (main = 1);");
    println!("  every thread started before counts, ended or not (a full run: more);");
    println!("  it is not the kernel's tid, and not how many threads are alive");
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
    let (order, me) = (order.join(" "), thread::current().id());
    println!("coroutines: {order}, all on {me:?}, switched by the program");
    let (first, bytes) = nonblocking_read().context("the non-blocking read")?;
    let bytes = String::from_utf8_lossy(&bytes);
    println!("non-blocking read: {first:?} at once (no sleep); after a write: {bytes:?}");
    println!("notice: threads are scheduled by the OS; coroutines by the program itself");
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
    fn a_new_thread_has_its_own_ids_in_the_same_process() {
        let [(me, my_tid), (other, other_tid)] = thread_ids().expect("spawns");
        assert_eq!(me, thread::current().id());
        assert_ne!(me, other);
        assert_ne!(my_tid, other_tid);
    }

    #[test]
    fn a_nonblocking_read_says_would_block_first() {
        let (first, bytes) = nonblocking_read().expect("a socket pair");
        assert_eq!(first, ErrorKind::WouldBlock);
        assert_eq!(bytes, b"ready");
    }
}
