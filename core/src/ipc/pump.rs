//! The I/O loop behind [`communicate`](super::communicate) and
//! [`Pipeline::run`](super::Pipeline::run): one thread, `poll(2)` over
//! non-blocking pipe ends, stdin written while stdout and every stderr are read.
//!
//! Only the parent's own ends are made non-blocking. `O_NONBLOCK` belongs to
//! an open file description, and the parent's end of each pipe is a
//! description no child shares (std creates the pipes close-on-exec and gives
//! the child the other end), so the children keep their blocking I/O.

use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::process::{ChildStderr, ChildStdin, ChildStdout};
use std::time::{Duration, Instant};

use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::libc;
use nix::sys::signal::{SigSet, SigmaskHow, Signal};

/// The size the parent asks for the pipes that carry bulk data
/// (`F_SETPIPE_SZ`, Linux): 1 MiB, the default `/proc/sys/fs/pipe-max-size`.
/// Sixteen times fewer wake-ups than the default 64 KiB.
pub(super) const PIPE_SIZE: usize = 1 << 20;

/// Linux's default pipe capacity: below this much data, a larger pipe buys
/// nothing.
const DEFAULT_PIPE_SIZE: usize = 64 * 1024;

/// The smallest read: a capture reserves at least this much room before it
/// reads, so small outputs cost a small allocation.
const MIN_READ: usize = 16 * 1024;

/// The largest read, the size of a full enlarged pipe.
const MAX_READ: usize = PIPE_SIZE;

/// Asks the kernel to give the pipe behind `fd` [`PIPE_SIZE`] bytes of
/// buffer. Best effort: a failure (an unprivileged user over
/// `pipe-user-pages-soft`, an old kernel, not Linux) leaves the pipe as it
/// was, which is slower but just as correct.
pub(super) fn enlarge_pipe(fd: impl AsFd) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        // PIPE_SIZE is a small constant: the conversion cannot fail.
        if let Ok(size) = libc::c_int::try_from(PIPE_SIZE) {
            let _ = fcntl(fd, FcntlArg::F_SETPIPE_SZ(size));
        }
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let _ = fd;
}

/// Sets `O_NONBLOCK` on the open file description behind `fd`.
fn set_nonblocking(fd: impl AsFd) -> io::Result<()> {
    let flags = OFlag::from_bits_retain(fcntl(fd.as_fd(), FcntlArg::F_GETFL)?);
    fcntl(fd.as_fd(), FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    Ok(())
}

/// `poll(2)` over `fds`, waiting at most `timeout_ms` (-1: no limit).
fn poll(fds: &mut [libc::pollfd], timeout_ms: libc::c_int) -> io::Result<usize> {
    let nfds = libc::nfds_t::try_from(fds.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "too many descriptors"))?;
    // SAFETY: `fds` is an exclusively borrowed, initialised slice of `pollfd`
    // that outlives the call, and `nfds` is its length, so the kernel reads
    // and writes only inside it. Every `fd` in it is an open descriptor owned
    // by the `Pump` that made the slice (an invalid one would only be reported
    // as POLLNVAL, not cause undefined behaviour).
    let ready = unsafe { libc::poll(fds.as_mut_ptr(), nfds, timeout_ms) };
    usize::try_from(ready).map_err(|_| io::Error::last_os_error())
}

/// Milliseconds until `deadline` for `poll`, rounded up so that a wake-up is
/// never early, or `None` once it has passed.
fn millis_until(deadline: Instant) -> Option<libc::c_int> {
    let left = deadline.checked_duration_since(Instant::now())?;
    if left.is_zero() {
        return None;
    }
    let millis = left.as_nanos().div_ceil(1_000_000);
    Some(libc::c_int::try_from(millis).unwrap_or(libc::c_int::MAX))
}

/// One `read(2)` from `fd` into the spare capacity of `buf`, appended.
///
/// Reading into uninitialised capacity, rather than zeroing room for the
/// safe `Read::read(&mut [u8])` first, spares one pass over every byte of
/// the output (10 to 40% more throughput for large outputs, measured).
fn read_append(fd: BorrowedFd<'_>, buf: &mut Vec<u8>) -> io::Result<usize> {
    let spare = buf.spare_capacity_mut();
    let room = spare.len();
    // SAFETY: `spare` is memory owned by `buf`, exclusively borrowed for the
    // call and valid for writes of `room` bytes (`MaybeUninit<u8>` may be
    // written without being initialised first); `read` writes at most `room`
    // bytes into it and nothing else.
    let read = unsafe { libc::read(fd.as_raw_fd(), spare.as_mut_ptr().cast(), room) };
    let read = usize::try_from(read).map_err(|_| io::Error::last_os_error())?;
    // The kernel never reports more than it was offered; `min` makes that a
    // local fact rather than a trust in the OS.
    let read = read.min(room);
    // SAFETY: `read` initialised the first `read` bytes of the spare
    // capacity, and `len + read <= capacity`.
    unsafe { buf.set_len(buf.len() + read) };
    Ok(read)
}

/// Bytes read from one pipe: all of them, or only the last `keep`.
#[derive(Debug)]
pub(super) struct Capture {
    buf: Vec<u8>,
    keep: Option<usize>,
}

impl Capture {
    /// Keeps every byte.
    pub(super) fn all() -> Self {
        Capture {
            buf: Vec::new(),
            keep: None,
        }
    }

    /// Keeps the last `keep` bytes (and at times up to twice as many).
    pub(super) fn tail(keep: usize) -> Self {
        Capture {
            buf: Vec::new(),
            keep: Some(keep.max(1)),
        }
    }

    /// Bytes read so far (for a tail: bytes kept).
    pub(super) fn len(&self) -> usize {
        self.buf.len()
    }

    /// One `read` into the capture: returns what `read` returned.
    fn read_from(&mut self, source: &impl AsFd) -> io::Result<usize> {
        // Offer every read at least `room` bytes: a few KiB for a short
        // answer, growing with the data up to a whole pipe for a stream.
        // (`reserve` grows the capacity geometrically, so the copies of a
        // growing buffer stay linear in all.)
        let room = match self.keep {
            None => self.buf.len().clamp(MIN_READ, MAX_READ),
            Some(keep) => keep.clamp(MIN_READ, MAX_READ),
        };
        self.buf.reserve(room);
        let read = read_append(source.as_fd(), &mut self.buf)?;
        if let Some(keep) = self.keep {
            if self.buf.len() > keep.saturating_mul(2) {
                self.buf.drain(..self.buf.len() - keep);
            }
        }
        Ok(read)
    }

    /// The bytes (for a tail: at most `keep` of them, the last ones).
    pub(super) fn into_vec(mut self) -> Vec<u8> {
        if let Some(keep) = self.keep {
            if self.buf.len() > keep {
                self.buf.drain(..self.buf.len() - keep);
            }
        }
        self.buf
    }
}

/// Which pipe a `pollfd` stands for.
#[derive(Debug, Clone, Copy)]
enum Slot {
    Stdin,
    Stdout,
    Stderr(usize),
}

/// The parent's ends of the pipes of a running child or pipeline, and what
/// has gone through them.
#[derive(Debug)]
pub(super) struct Pump<'a> {
    input: &'a [u8],
    written: usize,
    /// A write into stdin failed with `EPIPE` (and so raised SIGPIPE).
    broken_pipe: bool,
    /// `None` once the input is written, refused (`EPIPE`) or abandoned.
    stdin: Option<ChildStdin>,
    /// `None` once at end of file.
    stdout: Option<ChildStdout>,
    stdout_enlarged: bool,
    out: Capture,
    /// One per child; a pipe is `None` once at end of file.
    errs: Vec<(Option<ChildStderr>, Capture)>,
    fds: Vec<libc::pollfd>,
    slots: Vec<Slot>,
}

impl<'a> Pump<'a> {
    /// Takes over the parent's ends: makes them non-blocking, enlarges the
    /// stdin pipe for a large input, closes stdin at once if there is no
    /// input.
    pub(super) fn new(
        input: &'a [u8],
        stdin: Option<ChildStdin>,
        stdout: Option<ChildStdout>,
        errs: Vec<(Option<ChildStderr>, Capture)>,
    ) -> io::Result<Self> {
        let stdin = stdin.filter(|_| !input.is_empty());
        if let Some(pipe) = &stdin {
            set_nonblocking(pipe)?;
            if input.len() > DEFAULT_PIPE_SIZE {
                enlarge_pipe(pipe);
            }
        }
        if let Some(pipe) = &stdout {
            set_nonblocking(pipe)?;
        }
        for pipe in errs.iter().filter_map(|(pipe, _)| pipe.as_ref()) {
            set_nonblocking(pipe)?;
        }
        let capacity = 2 + errs.len();
        Ok(Pump {
            input,
            written: 0,
            broken_pipe: false,
            stdin,
            stdout,
            stdout_enlarged: false,
            out: Capture::all(),
            errs,
            fds: Vec::with_capacity(capacity),
            slots: Vec::with_capacity(capacity),
        })
    }

    /// Moves bytes until every pipe is closed (`Ok(true)`) or `deadline`
    /// passes (`Ok(false)`). Without a deadline it waits as long as it takes.
    ///
    /// While it may write the child's stdin, SIGPIPE is blocked in this
    /// thread (see [`SigpipeBlock`]): a child that closes its stdin early
    /// shows as `EPIPE`, never as a signal that kills the caller.
    pub(super) fn run(&mut self, deadline: Option<Instant>) -> io::Result<bool> {
        if self.stdin.is_none() {
            return self.run_loop(deadline);
        }
        let block = SigpipeBlock::new()?;
        let result = self.run_loop(deadline);
        block.finish(self.broken_pipe);
        result
    }

    /// The loop behind [`run`](Pump::run).
    fn run_loop(&mut self, deadline: Option<Instant>) -> io::Result<bool> {
        loop {
            self.fds.clear();
            self.slots.clear();
            let stdin = self.stdin.as_ref().map(AsRawFd::as_raw_fd);
            self.watch(stdin, libc::POLLOUT, Slot::Stdin);
            let stdout = self.stdout.as_ref().map(AsRawFd::as_raw_fd);
            self.watch(stdout, libc::POLLIN, Slot::Stdout);
            for index in 0..self.errs.len() {
                let stderr = self.errs[index].0.as_ref().map(AsRawFd::as_raw_fd);
                self.watch(stderr, libc::POLLIN, Slot::Stderr(index));
            }
            if self.fds.is_empty() {
                return Ok(true);
            }
            let timeout_ms = match deadline {
                None => -1,
                Some(deadline) => match millis_until(deadline) {
                    Some(millis) => millis,
                    None => return Ok(false),
                },
            };
            match poll(&mut self.fds, timeout_ms) {
                Ok(0) => continue,
                Ok(_) => {}
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => return Err(error),
            }
            for index in 0..self.fds.len() {
                let revents = self.fds[index].revents;
                if revents == 0 {
                    continue;
                }
                if revents & libc::POLLNVAL != 0 {
                    return Err(io::Error::other("poll: a pipe descriptor was not open"));
                }
                match self.slots[index] {
                    Slot::Stdin => self.write_stdin()?,
                    Slot::Stdout => {
                        read_once(&mut self.stdout, &mut self.out)?;
                        if !self.stdout_enlarged && self.out.len() >= DEFAULT_PIPE_SIZE {
                            // A stream, not a short answer: give it a pipe
                            // that needs sixteen times fewer wake-ups.
                            self.stdout_enlarged = true;
                            if let Some(pipe) = &self.stdout {
                                enlarge_pipe(pipe);
                            }
                        }
                    }
                    Slot::Stderr(child) => {
                        let (pipe, capture) = &mut self.errs[child];
                        read_once(pipe, capture)?;
                    }
                }
            }
        }
    }

    /// After a kill: stops writing, then reads what the children left in the
    /// pipes until every pipe is at end of file or `grace` has passed.
    pub(super) fn drain(&mut self, grace: Duration) -> io::Result<()> {
        self.stdin = None;
        let deadline = Instant::now().checked_add(grace);
        self.run(deadline).map(drop)
    }

    /// Adds `fd`, if the pipe is still open, to the next `poll`.
    fn watch(&mut self, fd: Option<RawFd>, events: libc::c_short, slot: Slot) {
        if let Some(fd) = fd {
            self.fds.push(libc::pollfd {
                fd,
                events,
                revents: 0,
            });
            self.slots.push(slot);
        }
    }

    /// One `write` of all the input that is left; the kernel takes what fits.
    fn write_stdin(&mut self) -> io::Result<()> {
        let Some(pipe) = &mut self.stdin else {
            return Ok(());
        };
        match pipe.write(&self.input[self.written..]) {
            Ok(n) => {
                self.written += n;
                if self.written >= self.input.len() {
                    // Closing stdin is how the child learns the input ended.
                    self.stdin = None;
                }
                Ok(())
            }
            // Every reader closed the pipe: the child did not want more input.
            // (SIGPIPE is blocked meanwhile, so this is an error, not a death.)
            Err(error) if error.kind() == io::ErrorKind::BrokenPipe => {
                self.stdin = None;
                self.broken_pipe = true;
                Ok(())
            }
            Err(error) if is_transient(&error) => Ok(()),
            Err(error) => Err(error),
        }
    }

    /// Consumes the pump: stdout, and each child's stderr.
    pub(super) fn finish(self) -> (Vec<u8>, Vec<Vec<u8>>) {
        let errs = self
            .errs
            .into_iter()
            .map(|(_, capture)| capture.into_vec())
            .collect();
        (self.out.into_vec(), errs)
    }
}

/// SIGPIPE blocked in the calling thread, from [`new`](SigpipeBlock::new)
/// until the value is dropped, when the thread's previous mask comes back.
///
/// A `write` into a pipe whose readers are all gone raises SIGPIPE in the
/// writing thread, and its default action kills the process. Rust programs
/// ignore SIGPIPE from `main`'s start, but a host that does not (a C or
/// Python program calling this library, a Rust binary built to restore the
/// default) would die when a child exits without reading its input, which
/// `communicate` promises is not even an error. Blocked, the signal stays
/// pending on this thread instead; [`finish`](SigpipeBlock::finish) takes
/// it back before the mask is restored.
struct SigpipeBlock {
    /// The thread's signal mask before.
    old: SigSet,
    /// SIGPIPE was already pending (someone else's): leave it alone.
    was_pending: bool,
}

impl SigpipeBlock {
    fn new() -> io::Result<Self> {
        let old = sigpipe()
            .thread_swap_mask(SigmaskHow::SIG_BLOCK)
            .map_err(io::Error::from)?;
        Ok(SigpipeBlock {
            old,
            was_pending: sigpipe_pending(),
        })
    }

    /// Consumes the SIGPIPE that a write into a broken pipe raised, if
    /// `broken_pipe` says there was one, then restores the mask.
    fn finish(self, broken_pipe: bool) {
        if broken_pipe && !self.was_pending && sigpipe_pending() {
            // Pending, so `sigwait` returns at once. A thread-directed
            // signal (as this one is) can be taken by no other thread.
            let _ = sigpipe().wait();
        }
    }
}

impl Drop for SigpipeBlock {
    fn drop(&mut self) {
        // Fails only for an invalid `how`, which `thread_set_mask` is not.
        let _ = self.old.thread_set_mask();
    }
}

/// The set holding SIGPIPE alone.
fn sigpipe() -> SigSet {
    let mut set = SigSet::empty();
    set.add(Signal::SIGPIPE);
    set
}

/// True if SIGPIPE is pending for this thread or the process.
fn sigpipe_pending() -> bool {
    let mut set = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: `sigpending` fills the `sigset_t` it is given, which lives on
    // this stack frame; it is read by `sigismember` only after `sigpending`
    // succeeded, so only once initialised.
    unsafe {
        libc::sigpending(set.as_mut_ptr()) == 0
            && libc::sigismember(set.as_ptr(), libc::SIGPIPE) == 1
    }
}

/// True for the errors a non-blocking pipe reports when it is merely not
/// ready (`EAGAIN`) or a signal interrupted the call (`EINTR`): try again at
/// the next wake-up.
fn is_transient(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}

/// One `read` from a readable pipe into `capture`; closes the pipe at end of
/// file. One read per wake-up, so that a child streaming stdout cannot starve
/// the stdin writer or the stderr readers.
fn read_once<R: AsFd>(pipe: &mut Option<R>, capture: &mut Capture) -> io::Result<()> {
    let Some(source) = pipe else {
        return Ok(());
    };
    match capture.read_from(source) {
        Ok(0) => {
            *pipe = None;
            Ok(())
        }
        Ok(_) => Ok(()),
        Err(error) if is_transient(&error) => Ok(()),
        Err(error) => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::thread;

    use super::*;

    /// Reads a pipe to its end through `capture`, the way the loop does.
    fn capture_all(mut capture: Capture, data: &[u8]) -> Vec<u8> {
        let (reader, mut writer) = io::pipe().expect("a pipe");
        thread::scope(|scope| {
            scope.spawn(move || writer.write_all(data).expect("write the pipe"));
            let mut pipe = Some(reader);
            while pipe.is_some() {
                read_once(&mut pipe, &mut capture).expect("read the pipe");
            }
        });
        capture.into_vec()
    }

    #[test]
    fn capture_all_keeps_every_byte() {
        let data: Vec<u8> = (0..3_000_000u32).map(|n| (n % 251) as u8).collect();
        assert!(capture_all(Capture::all(), &data) == data);
    }

    #[test]
    fn capture_tail_keeps_the_last_bytes() {
        let data: Vec<u8> = (0..1_000_000u32).map(|n| (n % 251) as u8).collect();
        let tail = capture_all(Capture::tail(10_000), &data);
        assert!(tail == data[data.len() - 10_000..]);
    }

    #[test]
    fn millis_round_up_and_expire() {
        assert_eq!(millis_until(Instant::now()), None);
        let later = Instant::now() + Duration::from_micros(10_000_500);
        // Rounded up: 10,001 ms at first, never 0 before the deadline.
        assert!(matches!(millis_until(later), Some(1..=10_001)));
    }
}
