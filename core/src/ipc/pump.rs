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
pub(crate) const PIPE_SIZE: usize = 1 << 20;

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
pub(crate) fn enlarge_pipe(fd: impl AsFd) {
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

/// One `read(2)` from `fd` into the spare capacity of `buf`, at most `max`
/// bytes, appended.
///
/// Reading into uninitialised capacity, rather than zeroing room for the
/// safe `Read::read(&mut [u8])` first, spares one pass over every byte of
/// the output (10 to 40% more throughput for large outputs, measured).
pub(crate) fn read_append(fd: BorrowedFd<'_>, buf: &mut Vec<u8>, max: usize) -> io::Result<usize> {
    let spare = buf.spare_capacity_mut();
    let room = spare.len().min(max);
    // SAFETY: `spare` is memory owned by `buf`, exclusively borrowed for the
    // call and valid for writes of `spare.len() >= room` bytes
    // (`MaybeUninit<u8>` may be written without being initialised first);
    // `read` writes at most `room` bytes into it and nothing else.
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

#[cfg(test)]
thread_local! {
    /// How many bytes this thread asked to be populated (tests).
    pub(crate) static POPULATED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Asks the kernel to back `spare` with writable pages now
/// (`MADV_POPULATE_WRITE`), so that writing it later takes no page fault.
/// Returns false where that is not available (before Linux 5.14, not
/// Linux): the pages are then faulted in by the write itself, as usual.
fn populate_write(spare: &mut [std::mem::MaybeUninit<u8>]) -> bool {
    #[cfg(test)]
    POPULATED.with(|bytes| bytes.set(bytes.get() + spare.len()));
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use nix::sys::mman::{madvise, MmapAdvise};
        use std::sync::atomic::{AtomicBool, Ordering};

        /// Set once the kernel has refused the advice (`EINVAL`: too old).
        static UNSUPPORTED: AtomicBool = AtomicBool::new(false);
        // Relaxed: a flag that only saves system calls; no other memory
        // depends on it.
        if spare.is_empty() || UNSUPPORTED.load(Ordering::Relaxed) {
            return false;
        }
        // madvise wants a page-aligned start: the start of the page that
        // holds `spare`'s first byte.
        let page = page_size();
        let start = spare.as_mut_ptr() as usize;
        let aligned = start - start % page;
        let Some(addr) = std::ptr::NonNull::new(aligned as *mut std::ffi::c_void) else {
            return false;
        };
        // SAFETY: every page of `[aligned, start + spare.len())` holds at
        // least one byte of `spare`, memory that is ours exclusively (the
        // `&mut`) and writable, so the whole range is mapped writable.
        // MADV_POPULATE_WRITE only faults those pages in, as a write would:
        // it changes no byte of memory, neither ours nor that of whatever
        // shares the first page with `spare` (the `Vec`'s own bytes, the
        // allocator's).
        let advised = unsafe {
            madvise(
                addr,
                start + spare.len() - aligned,
                MmapAdvise::MADV_POPULATE_WRITE,
            )
        };
        match advised {
            Ok(()) => true,
            Err(nix::errno::Errno::EINVAL) => {
                UNSUPPORTED.store(true, Ordering::Relaxed);
                false
            }
            // ENOMEM, EINTR, ...: let the reads fault the pages in.
            Err(_) => false,
        }
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        let _ = spare;
        false
    }
}

/// The size of a page (4 KiB where the system will not say).
#[cfg(any(target_os = "linux", target_os = "android"))]
fn page_size() -> usize {
    // SAFETY: `sysconf` reads a configuration value; it touches no memory
    // of ours.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size)
        .ok()
        .filter(|&size| size > 0)
        .unwrap_or(4096)
}

/// Bytes read from one pipe: all of them, or only the last `keep`.
#[derive(Debug)]
pub(crate) struct Capture {
    buf: Vec<u8>,
    keep: Option<usize>,
    /// The first `ready` bytes of `buf`'s allocation, at address
    /// `ready_at`, are known to have writable pages behind them (written by
    /// an earlier call, or populated): a `read` into them takes no page
    /// fault. Only a hint: a wrong value costs speed, never correctness.
    ready: usize,
    ready_at: usize,
}

impl Capture {
    /// Keeps every byte.
    pub(crate) fn all() -> Self {
        Capture {
            buf: Vec::new(),
            keep: None,
            ready: 0,
            ready_at: 0,
        }
    }

    /// Keeps every byte, in `buf`, cleared first: its capacity is read into
    /// before any growth, and the bytes it held show the pages that an
    /// earlier call has already faulted in.
    pub(crate) fn reusing(mut buf: Vec<u8>, written: usize) -> Self {
        let (ready, ready_at) = (
            buf.len().max(written).min(buf.capacity()),
            buf.as_ptr() as usize,
        );
        buf.clear();
        Capture {
            buf,
            keep: None,
            ready,
            ready_at,
        }
    }

    /// Keeps the last `keep` bytes (and at times up to twice as many).
    pub(crate) fn tail(keep: usize) -> Self {
        Capture {
            buf: Vec::new(),
            keep: Some(keep.max(1)),
            ready: 0,
            ready_at: 0,
        }
    }

    /// Bytes read so far (for a tail: bytes kept).
    pub(crate) fn len(&self) -> usize {
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
        let max = match self.keep {
            None => self.populate_ahead(),
            Some(_) => usize::MAX,
        };
        let read = read_append(source.as_fd(), &mut self.buf, max)?;
        if let Some(keep) = self.keep {
            if self.buf.len() > keep.saturating_mul(2) {
                self.buf.drain(..self.buf.len() - keep);
            }
        }
        Ok(read)
    }

    /// Faults in, outside `read`, the pages of the next [`MAX_READ`] bytes
    /// of spare capacity that no earlier write reached; returns how much the
    /// next `read` may take without a page fault (`usize::MAX` if that is
    /// not known).
    ///
    /// The first write to a fresh page costs a page fault (the kernel finds
    /// a page and zeroes it). Taken inside `read`, the fault happens while
    /// the kernel holds the pipe's lock, so the child cannot write into the
    /// pipe meanwhile; `MADV_POPULATE_WRITE` (Linux 5.14) takes the same
    /// faults, in one system call, with the pipe free.
    fn populate_ahead(&mut self) -> usize {
        let (len, at) = (self.buf.len(), self.buf.as_ptr() as usize);
        if at != self.ready_at {
            // A new allocation: only the bytes moved into it are known.
            (self.ready, self.ready_at) = (len, at);
        }
        self.ready = self.ready.max(len);
        let want = len.saturating_add(MAX_READ).min(self.buf.capacity());
        if self.ready < want {
            let spare = &mut self.buf.spare_capacity_mut()[self.ready - len..want - len];
            if populate_write(spare) {
                self.ready = want;
            }
        }
        match self.ready - len {
            0 => usize::MAX,
            ready => ready,
        }
    }

    /// The bytes (for a tail: at most `keep` of them, the last ones).
    pub(crate) fn into_vec(mut self) -> Vec<u8> {
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
pub(crate) struct Pump<'a> {
    input: &'a [u8],
    written: usize,
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
    pub(crate) fn new(
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
            stdin,
            stdout,
            stdout_enlarged: false,
            out: Capture::all(),
            errs,
            fds: Vec::with_capacity(capacity),
            slots: Vec::with_capacity(capacity),
        })
    }

    /// Reads stdout into `buf` rather than into a new `Vec`: `buf` is
    /// cleared, and its capacity (whose pages, as far as an earlier call
    /// wrote, are already faulted in) is read into before any growth.
    /// [`finish`](Pump::finish) gives it back.
    pub(crate) fn reuse_stdout(&mut self, buf: Vec<u8>, written: usize) {
        self.out = Capture::reusing(buf, written);
    }

    /// Moves bytes until every pipe is closed (`Ok(true)`) or `deadline`
    /// passes (`Ok(false)`). Without a deadline it waits as long as it takes.
    ///
    /// While it may write the child's stdin, SIGPIPE is blocked in this
    /// thread (see [`SigpipeBlock`]): a child that closes its stdin early
    /// shows as `EPIPE`, never as a signal that kills the caller.
    pub(crate) fn run(&mut self, deadline: Option<Instant>) -> io::Result<bool> {
        if self.stdin.is_none() {
            return self.run_loop(deadline, None);
        }
        // Dropped on every way out, a panic included: the SIGPIPE a write
        // raised is taken back and the thread's mask restored.
        let mut block = SigpipeBlock::new()?;
        self.run_loop(deadline, Some(&mut block))
    }

    /// The loop behind [`run`](Pump::run); `sigpipe` is the block in force
    /// while stdin is written.
    fn run_loop(
        &mut self,
        deadline: Option<Instant>,
        mut sigpipe: Option<&mut SigpipeBlock>,
    ) -> io::Result<bool> {
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
                    Slot::Stdin => self.write_stdin(sigpipe.as_deref_mut())?,
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
    pub(crate) fn drain(&mut self, grace: Duration) -> io::Result<()> {
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
    /// A write that meets a closed pipe is recorded in `sigpipe`, whose drop
    /// takes back the SIGPIPE it raised.
    fn write_stdin(&mut self, sigpipe: Option<&mut SigpipeBlock>) -> io::Result<()> {
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
                if let Some(block) = sigpipe {
                    block.raised();
                }
                Ok(())
            }
            Err(error) if is_transient(&error) => Ok(()),
            Err(error) => Err(error),
        }
    }

    /// Consumes the pump: stdout, and each child's stderr.
    pub(crate) fn finish(self) -> (Vec<u8>, Vec<Vec<u8>>) {
        let errs = self
            .errs
            .into_iter()
            .map(|(_, capture)| capture.into_vec())
            .collect();
        (self.out.into_vec(), errs)
    }
}

/// SIGPIPE blocked in the calling thread, from [`new`](SigpipeBlock::new)
/// until the value is dropped.
///
/// A `write` into a pipe whose readers are all gone raises SIGPIPE in the
/// writing thread, and its default action kills the process. Rust programs
/// ignore SIGPIPE from `main`'s start, but a host that does not (a C or
/// Python program calling this library, a Rust binary built to restore the
/// default) would die when a child exits without reading its input, which
/// `communicate` promises is not even an error. Blocked, the signal stays
/// pending on this thread instead.
///
/// Everything is undone in `Drop`, so on every path out of the block, a
/// panic included: if a write of ours raised SIGPIPE
/// ([`raised`](SigpipeBlock::raised)), that signal is taken back, then the
/// thread's previous mask is restored.
///
/// Only our own signal is taken back. The kernel keeps two pending sets: the
/// thread's (where the signal of a failed `write` goes: it is directed at
/// the writing thread) and the process's (where `kill(getpid(), SIGPIPE)`
/// goes); `sigpending` reports their union. A SIGPIPE pending for the
/// process is someone else's and stays pending; so does one already
/// pending for this thread before the block (a caller that keeps SIGPIPE
/// blocked), since a second SIGPIPE does not queue behind it.
#[derive(Debug)]
struct SigpipeBlock {
    /// The thread's signal mask before.
    old: SigSet,
    /// SIGPIPE was already pending for this thread (someone else's): leave
    /// it alone.
    was_pending: bool,
    /// A write of ours met a closed pipe, and so raised SIGPIPE in this
    /// thread.
    raised: bool,
}

impl SigpipeBlock {
    /// Blocks SIGPIPE in the calling thread.
    fn new() -> io::Result<Self> {
        let old = sigpipe()
            .thread_swap_mask(SigmaskHow::SIG_BLOCK)
            .map_err(io::Error::from)?;
        // Unblocked, a SIGPIPE directed at this thread would have been
        // delivered (or discarded, if ignored) rather than left pending: only
        // a caller that had it blocked can have one pending here. When we
        // cannot tell the thread's set from the process's, the union errs
        // on the side of leaving a signal alone.
        let was_pending = old.contains(Signal::SIGPIPE)
            && sigpipe_pending_for_thread().unwrap_or_else(sigpipe_pending);
        Ok(SigpipeBlock {
            old,
            was_pending,
            raised: false,
        })
    }

    /// Records that a write in this thread failed with `EPIPE`, which raised
    /// a SIGPIPE for this thread: the drop takes it back.
    fn raised(&mut self) {
        self.raised = true;
    }
}

impl Drop for SigpipeBlock {
    fn drop(&mut self) {
        if self.raised && !self.was_pending {
            take_back_thread_sigpipe();
        }
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

/// True if SIGPIPE is pending for this thread or the process (the union
/// `sigpending` reports).
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

/// Whether SIGPIPE is pending for the calling thread alone (not counting
/// the process's pending set), or `None` if that cannot be told.
///
/// Linux shows the two sets apart in `/proc/thread-self/status`: `SigPnd`
/// is the thread's, `ShdPnd` the process's, each a hexadecimal mask with
/// bit `n - 1` for signal `n`. No system call reports the thread's alone.
fn sigpipe_pending_for_thread() -> Option<bool> {
    pending_in_status("SigPnd:")
}

/// Whether SIGPIPE is pending for the whole process (`ShdPnd`), or `None`
/// if that cannot be told. See [`sigpipe_pending_for_thread`].
#[cfg(test)]
fn sigpipe_pending_for_process() -> Option<bool> {
    pending_in_status("ShdPnd:")
}

/// SIGPIPE's bit in the mask on the line of `/proc/thread-self/status`
/// that starts with `field`.
fn pending_in_status(field: &str) -> Option<bool> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        let status = std::fs::read_to_string("/proc/thread-self/status").ok()?;
        let line = status.lines().find_map(|line| line.strip_prefix(field))?;
        let mask = u64::from_str_radix(line.trim(), 16).ok()?;
        let bit = u32::try_from(libc::SIGPIPE - 1).ok()?;
        Some(mask & (1 << bit) != 0)
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        let _ = field;
        None
    }
}

/// Takes back the SIGPIPE that a failed write raised in this thread (it is
/// pending, as SIGPIPE is blocked), leaving a SIGPIPE pending for the whole
/// process where it is.
fn take_back_thread_sigpipe() {
    if sigpipe_pending_for_thread() == Some(false) {
        // Nothing of ours is pending (a check, rather than trust that
        // `EPIPE` always comes with the signal).
        return;
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        let set = sigpipe();
        let zero = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // Linux takes a signal pending for the thread before one pending for
        // the process (`dequeue_signal` in kernel/signal.c), so this takes
        // ours. A zero timeout: never a wait, even if nothing is pending.
        loop {
            // SAFETY: `set` and `zero` are initialised values on this stack
            // frame that outlive the call; a null `siginfo_t` pointer is
            // allowed and asks for no information.
            let taken = unsafe { libc::sigtimedwait(set.as_ref(), std::ptr::null_mut(), &zero) };
            if taken != -1 || io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
                break;
            }
        }
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        // Without a per-thread view or `sigtimedwait`: the union, and
        // `sigwait`, which returns at once since the signal is pending. A
        // SIGPIPE pending for the process at this moment could be the one
        // taken.
        if sigpipe_pending() {
            let _ = sigpipe().wait();
        }
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
    fn a_reused_capture_keeps_only_the_new_bytes_in_its_allocation() {
        // A buffer that held more than the next output, and more capacity:
        // none of the old bytes may show, and nothing may be reallocated.
        let old = vec![0xAA; 5_000_000];
        let (pointer, capacity) = (old.as_ptr(), old.capacity());
        let data: Vec<u8> = (0..3_000_000u32).map(|n| (n % 253) as u8).collect();
        let out = capture_all(Capture::reusing(old, 0), &data);
        assert!(out == data);
        assert_eq!((out.as_ptr(), out.capacity()), (pointer, capacity));
    }

    /// True on Linux 5.14 and later, which take `MADV_POPULATE_WRITE`.
    fn populate_is_supported() -> bool {
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        let mut numbers = release
            .split(|c: char| !c.is_ascii_digit())
            .map(|n| n.parse::<u32>().unwrap_or(0));
        let version = (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0));
        version >= (5, 14)
    }

    #[test]
    fn populating_ahead_offers_reads_only_what_is_populated() {
        let mut capture = Capture::all();
        capture.buf.reserve(3 * MAX_READ);
        let offered = capture.populate_ahead();
        if populate_is_supported() {
            // The next read may fill the populated window, and no more.
            assert_eq!((offered, capture.ready), (MAX_READ, MAX_READ));
            capture.buf.extend_from_slice(&[7; 1000]);
            let offered = capture.populate_ahead();
            assert_eq!(offered, MAX_READ, "the window moves with the bytes read");
            assert_eq!(capture.ready, 1000 + MAX_READ);
        } else {
            assert_eq!(offered, usize::MAX, "nothing known: no limit");
        }
    }

    #[test]
    fn capture_tail_keeps_the_last_bytes() {
        let data: Vec<u8> = (0..1_000_000u32).map(|n| (n % 251) as u8).collect();
        let tail = capture_all(Capture::tail(10_000), &data);
        assert!(tail == data[data.len() - 10_000..]);
    }

    /// Raises a SIGPIPE directed at the calling thread, the way a failed
    /// write of the pump does: a write into a pipe with no reader.
    fn break_a_pipe() {
        let (reader, mut writer) = io::pipe().expect("a pipe");
        drop(reader);
        let error = writer.write(b"x").expect_err("a pipe without a reader");
        assert_eq!(error.kind(), io::ErrorKind::BrokenPipe);
    }

    /// True if the calling thread's mask blocks SIGPIPE.
    fn blocks_sigpipe() -> bool {
        let mask = SigSet::thread_get_mask().expect("the thread's mask");
        mask.contains(Signal::SIGPIPE)
    }

    /// The block taken, SIGPIPE raised and recorded, then a panic (a bug in
    /// the loop, or in a callee): the unwinding must still take the signal
    /// back and restore the mask, or the caller keeps SIGPIPE blocked, or
    /// dies of it (its default action) the moment it unblocks it.
    fn panic_inside_the_block() {
        let caught = std::panic::catch_unwind(|| {
            let mut block = SigpipeBlock::new().expect("SIGPIPE is blocked");
            break_a_pipe();
            block.raised();
            panic!("a panic inside the SIGPIPE block (expected by the test)");
        });
        assert!(caught.is_err(), "the closure panicked");
    }

    #[test]
    fn a_panic_inside_the_sigpipe_block_restores_the_mask() {
        // A thread of its own: the test's mask is then nobody else's.
        thread::spawn(|| {
            assert!(!blocks_sigpipe(), "a new thread of a Rust test");
            panic_inside_the_block();
            assert!(!blocks_sigpipe(), "SIGPIPE still blocked after the panic");
            assert_ne!(sigpipe_pending_for_thread(), Some(true));
        })
        .join()
        .expect("the checks passed");
    }

    #[test]
    fn a_panic_inside_the_sigpipe_block_leaves_no_sigpipe_pending() {
        // A caller that keeps SIGPIPE blocked: a signal left pending by our
        // write would stay visible (and kill it once it unblocks SIGPIPE).
        thread::spawn(|| {
            sigpipe().thread_block().expect("SIGPIPE is blocked");
            assert_eq!(sigpipe_pending_for_thread(), Some(false), "nothing yet");
            panic_inside_the_block();
            assert!(blocks_sigpipe(), "the caller's mask is not restored");
            assert_eq!(
                sigpipe_pending_for_thread(),
                Some(false),
                "the SIGPIPE our write raised is left pending after the panic"
            );
        })
        .join()
        .expect("the checks passed");
    }

    #[test]
    fn a_sigpipe_the_caller_left_pending_on_its_thread_is_not_taken() {
        thread::spawn(|| {
            sigpipe().thread_block().expect("SIGPIPE is blocked");
            // The caller's own SIGPIPE, pending for this thread before ours.
            // SAFETY: a signal to the calling thread, which blocks it.
            let sent = unsafe { libc::pthread_kill(libc::pthread_self(), libc::SIGPIPE) };
            assert_eq!(sent, 0, "pthread_kill");
            assert_eq!(sigpipe_pending_for_thread(), Some(true));
            {
                let mut block = SigpipeBlock::new().expect("SIGPIPE is blocked");
                break_a_pipe(); // does not queue a second SIGPIPE
                block.raised();
            }
            assert_eq!(
                sigpipe_pending_for_thread(),
                Some(true),
                "the caller's pending SIGPIPE was taken"
            );
            assert!(blocks_sigpipe());
            take_back_thread_sigpipe();
            assert_eq!(sigpipe_pending_for_thread(), Some(false));
        })
        .join()
        .expect("the checks passed");
    }

    #[test]
    fn the_process_pending_set_is_read_apart_from_the_thread_one() {
        // Nothing in this test binary leaves SIGPIPE pending for the process.
        assert_eq!(sigpipe_pending_for_process(), Some(false));
    }

    #[test]
    fn millis_round_up_and_expire() {
        assert_eq!(millis_until(Instant::now()), None);
        let later = Instant::now() + Duration::from_micros(10_000_500);
        // Rounded up: 10,001 ms at first, never 0 before the deadline.
        assert!(matches!(millis_until(later), Some(1..=10_001)));
    }
}
