//! The guardian: a small process that kills this process's children when
//! this process dies, however it dies (SIGKILL included).
//!
//! # Why a process
//!
//! Nothing in a dying process runs after SIGKILL, and a Ctrl-C or SIGTERM
//! kills a Rust program without running any `Drop`. The usual tool,
//! `prctl(PR_SET_PDEATHSIG)`, has two flaws: it fires when the *thread*
//! that spawned the child exits, not the process (a child started from a
//! short-lived thread would die with that thread), and it reaches only the
//! child, not what the child started. So ptm starts, once per process and
//! on first need, a guardian process:
//!
//! - It is forked (the raw `clone` system call, twice, so that it is not
//!   this process's child: a `waitpid(-1)` here never waits for it) and runs
//!   only async-signal-safe system calls on memory of its own (`mmap`): no
//!   allocator, no lock that another thread could have held at the fork.
//! - It starts a session of its own (`setsid`), blocks every signal but
//!   SIGKILL and SIGSTOP, and closes every descriptor but one end of a
//!   `SOCK_SEQPACKET` socket pair; this process keeps the other end,
//!   close-on-exec.
//! - For each child, this process sends it a message with the child's pidfd
//!   attached (`SCM_RIGHTS`), and another when the child has been reaped.
//! - When this process dies, the kernel closes its end; the guardian reads
//!   end of file (after every message still queued), sends SIGKILL to every
//!   child it holds, to its process group through the pidfd
//!   (`PIDFD_SIGNAL_PROCESS_GROUP`, so a recycled pid or group id is never
//!   hit), and exits.
//!
//! Its limits: it is a fork without `exec`, so it shares this process's
//! memory copy-on-write: pages this process rewrites after the guardian
//! started are kept twice, the guardian's copy private to it (a program
//! that touches a large heap after its first spawn pays that much again);
//! a child whose pidfd the guardian cannot hold (the guardian out of
//! descriptors or memory) is not protected, and nothing tells this process;
//! if the guardian cannot be started (a process limit), every spawn fails
//! with that error; a reaped child's pidfd may still be held until the next
//! message (forgets are batched), so at this process's death what such a
//! child left in its group may be killed too; when this process is a
//! subreaper, the guardian is re-parented to it; a process that this one forks without `exec` inherits the
//! socket end, so the guardian waits for it too; a guardian killed with
//! SIGKILL protects nothing (a new one is started for the children spawned
//! after); `exec` of this process closes the socket end (close-on-exec), so
//! the children die then too; and without pidfds (Linux before 5.3) there
//! is no guardian.

use std::io::{self, IoSlice};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::Mutex;

use nix::libc;
use nix::sys::socket::{
    self, sendmsg, setsockopt, sockopt, AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType,
};
use nix::sys::time::TimeVal;

/// A registration with the guardian, to [`forget`] once the child is reaped.
#[derive(Debug)]
pub(crate) struct Token(u64);

/// This process's end of the link to its guardian.
#[derive(Debug)]
struct Link {
    socket: OwnedFd,
    /// The process that started the guardian: a forked copy of this process
    /// has the same `Link` but must start a guardian of its own.
    owner: u32,
    next_token: u64,
    /// Children reaped since the last message: their forgets ride along
    /// with the next one (at most [`MAX_FORGETS`] wait here).
    forgets: Vec<u64>,
}

/// The link, started on first use. Invariant: the lock is held while a
/// message is sent, so messages of different threads do not interleave and
/// tokens are unique.
static LINK: Mutex<Option<Link>> = Mutex::new(None);

/// Bytes of a message's head: `[op, group, 0, 0, pid: u32 LE, token: u64
/// LE]`; then up to [`MAX_FORGETS`] tokens to forget, 8 bytes LE each.
const HEAD: usize = 16;

/// How many forgets a message carries at most, and how many may wait for
/// the next message before they are sent on their own.
const MAX_FORGETS: usize = 64;

/// The largest message.
const MESSAGE: usize = HEAD + 8 * MAX_FORGETS;

/// How long the guardian sleeps after it has read what was queued, so that
/// it wakes at most 50 times a second however fast children are started
/// (each wake-up would take CPU from them); also how late it may notice
/// this process's death.
const BATCH_NANOS: libc::c_long = 20_000_000;
const WATCH: u8 = b'+';
const FORGET: u8 = b'-';

/// How long a send may block on a guardian that does not read (stopped with
/// SIGSTOP, say) before it fails.
const SEND_TIMEOUT_SECS: i64 = 2;

/// Registers the child behind `pidfd`: if this process dies before
/// [`forget`], the guardian kills it (and, if `group`, the process group it
/// leads). Starts the guardian on first use.
pub(crate) fn watch(pidfd: BorrowedFd<'_>, pid: u32, group: bool) -> io::Result<Token> {
    let mut link = LINK.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut started_now = false;
    if link
        .as_ref()
        .is_none_or(|link| link.owner != std::process::id())
    {
        *link = Some(start()?);
        started_now = true;
    }
    loop {
        let Some(current) = link.as_mut() else {
            return Err(io::Error::other("no guardian"));
        };
        let token = current.next_token;
        let message = encode(WATCH, group, pid, token, &current.forgets);
        match send(current.socket.as_fd(), &message, Some(pidfd)) {
            Ok(()) => {
                current.next_token += 1;
                current.forgets.clear();
                return Ok(Token(token));
            }
            // The guardian is gone (killed): start a new one, once.
            Err(error) if !started_now && error.kind() == io::ErrorKind::BrokenPipe => {
                *link = Some(start()?);
                started_now = true;
            }
            Err(error) => {
                return Err(io::Error::new(
                    error.kind(),
                    format!("sending a child's pidfd to ptm's guardian: {error}"),
                ))
            }
        }
    }
}

/// Starts the guardian now if it is not running yet. Called before a
/// guarded child is spawned, so that a child that reports to the world at
/// once (and a parent killed right then) does not find the guardian still
/// being forked: what is left between a spawn and its registration is a
/// `pidfd_open` and one `sendmsg`, a few microseconds.
pub(crate) fn prepare() -> io::Result<()> {
    let mut link = LINK.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if link
        .as_ref()
        .is_none_or(|link| link.owner != std::process::id())
    {
        *link = Some(start()?);
    }
    Ok(())
}

/// Tells the guardian that the child of `token` was reaped: it will not be
/// killed. Best effort (a guardian that is gone holds nothing).
///
/// The forget waits for the next message, and is sent on its own once
/// [`MAX_FORGETS`] wait. Meanwhile the guardian still holds the reaped
/// child's pidfd: a signal through it reaches no process by a recycled pid,
/// but its group signal still reaches what the child left in its group.
pub(crate) fn forget(token: Token) {
    let mut link = LINK.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let Some(link) = link
        .as_mut()
        .filter(|link| link.owner == std::process::id())
    else {
        return;
    };
    link.forgets.push(token.0);
    if link.forgets.len() >= MAX_FORGETS {
        let message = encode(FORGET, false, 0, u64::MAX, &link.forgets);
        let _ = send(link.socket.as_fd(), &message, None);
        link.forgets.clear();
    }
}

fn encode(op: u8, group: bool, pid: u32, token: u64, forgets: &[u64]) -> Vec<u8> {
    let forgets = &forgets[..forgets.len().min(MAX_FORGETS)];
    let mut message = vec![0; HEAD];
    message[0] = op;
    message[1] = u8::from(group);
    message[4..8].copy_from_slice(&pid.to_le_bytes());
    message[8..HEAD].copy_from_slice(&token.to_le_bytes());
    for forget in forgets {
        message.extend_from_slice(&forget.to_le_bytes());
    }
    message
}

/// One message, with a descriptor attached or not.
fn send(socket: BorrowedFd<'_>, message: &[u8], fd: Option<BorrowedFd<'_>>) -> io::Result<()> {
    let iov = [IoSlice::new(message)];
    let fds;
    let cmsgs: &[ControlMessage<'_>] = match fd {
        Some(fd) => {
            fds = [fd.as_raw_fd()];
            &[ControlMessage::ScmRights(&fds)]
        }
        None => &[],
    };
    loop {
        match sendmsg::<()>(
            socket.as_raw_fd(),
            &iov,
            cmsgs,
            MsgFlags::MSG_NOSIGNAL,
            None,
        ) {
            Ok(_) => return Ok(()),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(errno) => return Err(errno.into()),
        }
    }
}

/// Starts a guardian and returns this process's end of its socket.
fn start() -> io::Result<Link> {
    let (ours, theirs) = socket::socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(|e| {
        io::Error::new(
            io::Error::from(e).kind(),
            format!("creating the socket of ptm's guardian: {e}"),
        )
    })?;
    setsockopt(
        &ours,
        sockopt::SendTimeout,
        &TimeVal::new(SEND_TIMEOUT_SECS, 0),
    )?;
    let theirs_raw = theirs.as_raw_fd();
    // SAFETY: see `fork_raw`. The children run only `guardian_main` and
    // `_exit`, which make system calls alone, on values copied before the
    // fork (a descriptor number).
    let intermediate = unsafe { fork_raw() };
    match intermediate {
        -1 => {
            let error = io::Error::last_os_error();
            return Err(io::Error::new(
                error.kind(),
                format!("forking ptm's guardian process: {error}"),
            ));
        }
        0 => {
            // SAFETY: as above; in the intermediate child.
            unsafe {
                let guardian = fork_raw();
                if guardian == 0 {
                    guardian_main(theirs_raw);
                }
                libc::_exit(if guardian < 0 { 1 } else { 0 });
            }
        }
        _ => {}
    }
    drop(theirs);
    // Reap the intermediate (which exits at once); ECHILD if SIGCHLD is
    // ignored and the kernel reaped it.
    let mut status: libc::c_int = 0;
    loop {
        // SAFETY: waitpid writes the status into a local.
        let reaped = unsafe { libc::waitpid(intermediate, &mut status, 0) };
        if reaped >= 0 || io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            break;
        }
    }
    if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) != 0 {
        return Err(io::Error::other(
            "forking ptm's guardian process: the second fork failed",
        ));
    }
    Ok(Link {
        socket: ours,
        owner: std::process::id(),
        // Unique across forks too: a forked copy that starts a guardian of
        // its own must not forget the parent's tokens, nor the parent its.
        next_token: u64::from(std::process::id()) << 32,
        forgets: Vec::new(),
    })
}

/// `fork` as a raw `clone(SIGCHLD)` system call: unlike glibc's `fork` it
/// runs no `atfork` handler and takes no lock, so it is safe in a copy of a
/// multi-threaded process, and from any thread.
///
/// # Safety
///
/// The child is a copy of a possibly multi-threaded process in which only
/// the calling thread exists: it must make async-signal-safe system calls
/// only, and end with `_exit`.
unsafe fn fork_raw() -> libc::pid_t {
    let zero: libc::c_ulong = 0;
    // SAFETY: clone with a null stack and no CLONE_VM runs the child on a
    // copy of this stack, as fork does; the caller keeps to its contract.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone,
            libc::SIGCHLD as libc::c_ulong,
            zero,
            zero,
            zero,
            zero,
        )
    };
    libc::pid_t::try_from(pid).unwrap_or(-1)
}

/// One child the guardian holds.
#[derive(Clone, Copy)]
#[repr(C)]
struct Entry {
    token: u64,
    pidfd: libc::c_int,
    pid: libc::pid_t,
    group: bool,
}

/// The guardian's loop. Only system calls, on its own stack and `mmap`ed
/// memory.
///
/// # Safety
///
/// Only in the forked guardian (see [`fork_raw`]).
unsafe fn guardian_main(socket: libc::c_int) -> ! {
    // SAFETY: each call below is a plain system call on locals or on the
    // table this function maps; none allocates or takes a lock.
    unsafe {
        libc::setsid();
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::sigprocmask(libc::SIG_SETMASK, &all, std::ptr::null_mut());
        close_all_but(socket);
        libc::chdir(c"/".as_ptr());
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }

        let entry_size = std::mem::size_of::<Entry>();
        let mut capacity: usize = 4096;
        let mut table = libc::mmap(
            std::ptr::null_mut(),
            capacity * entry_size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        if table == libc::MAP_FAILED {
            libc::_exit(1);
        }
        let mut len: usize = 0;

        'serve: loop {
            // Sleep until something is queued (or this process is gone),
            // read everything queued, then pause: a burst of spawns costs
            // one wake-up, not one per message.
            let mut ready = libc::pollfd {
                fd: socket,
                events: libc::POLLIN,
                revents: 0,
            };
            // A failed poll (EINTR, or ENOMEM) is retried after the pause
            // below: only end of file means the guarded process is gone.
            let polled = libc::poll(&mut ready, 1, -1);
            loop {
                let mut message = [0u8; MESSAGE];
                // Room for one descriptor, aligned as cmsghdr wants.
                let mut control = [0u64; 8];
                let mut iov = libc::iovec {
                    iov_base: message.as_mut_ptr().cast(),
                    iov_len: MESSAGE,
                };
                let mut header: libc::msghdr = std::mem::zeroed();
                header.msg_iov = &mut iov;
                header.msg_iovlen = 1;
                header.msg_control = control.as_mut_ptr().cast();
                header.msg_controllen = std::mem::size_of_val(&control) as _;
                let flags = libc::MSG_CMSG_CLOEXEC | libc::MSG_DONTWAIT;
                let read = libc::recvmsg(socket, &mut header, flags);
                if read < 0 {
                    match *libc::__errno_location() {
                        libc::EINTR => continue,
                        // EAGAIN: all read; anything else (ENOMEM, ENOBUFS)
                        // is retried after the pause. Never a reason to kill.
                        _ => break,
                    }
                }
                if read == 0 {
                    break 'serve; // end of file: the process we guard is gone
                }
                let read = read as usize;
                let mut fd = -1;
                let cmsg = libc::CMSG_FIRSTHDR(&header);
                if !cmsg.is_null()
                    && (*cmsg).cmsg_level == libc::SOL_SOCKET
                    && (*cmsg).cmsg_type == libc::SCM_RIGHTS
                {
                    fd = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::c_int>());
                }
                if read < HEAD {
                    if fd >= 0 {
                        libc::close(fd);
                    }
                    continue;
                }
                // Forgets first: they name children reaped before this one.
                let mut offset = HEAD;
                while offset + 8 <= read {
                    let forget = read_u64(&message, offset);
                    remove(table.cast::<Entry>(), &mut len, forget);
                    offset += 8;
                }
                if message[0] == FORGET {
                    remove(table.cast::<Entry>(), &mut len, read_u64(&message, 8));
                }
                if message[0] != WATCH || fd < 0 {
                    if fd >= 0 {
                        libc::close(fd);
                    }
                    continue;
                }
                if len == capacity {
                    let grown = libc::mremap(
                        table,
                        capacity * entry_size,
                        capacity * 2 * entry_size,
                        libc::MREMAP_MAYMOVE,
                    );
                    if grown == libc::MAP_FAILED {
                        // Cannot hold it: it is not protected.
                        libc::close(fd);
                        continue;
                    }
                    table = grown;
                    capacity *= 2;
                }
                let pid = i32::from_le_bytes([message[4], message[5], message[6], message[7]]);
                *table.cast::<Entry>().add(len) = Entry {
                    token: read_u64(&message, 8),
                    pidfd: fd,
                    pid,
                    group: message[1] != 0,
                };
                len += 1;
            }
            let _ = polled;
            let pause = libc::timespec {
                tv_sec: 0,
                tv_nsec: BATCH_NANOS,
            };
            libc::nanosleep(&pause, std::ptr::null_mut());
        }

        let entries = table.cast::<Entry>();
        for index in 0..len {
            kill_entry(*entries.add(index));
        }
        libc::_exit(0)
    }
}

/// The little-endian `u64` at `offset` of `message` (within bounds: the
/// callers check).
fn read_u64(message: &[u8; MESSAGE], offset: usize) -> u64 {
    let mut bytes = [0u8; 8];
    for (index, byte) in bytes.iter_mut().enumerate() {
        *byte = message.get(offset + index).copied().unwrap_or(0);
    }
    u64::from_le_bytes(bytes)
}

/// Removes the entry of `token` from the table of `len` entries, closing
/// its pidfd.
///
/// # Safety
///
/// `entries` points to at least `len` initialised entries; only in the
/// guardian.
unsafe fn remove(entries: *mut Entry, len: &mut usize, token: u64) {
    let mut index = 0;
    // SAFETY: every index read or written is below `*len`.
    unsafe {
        while index < *len {
            if (*entries.add(index)).token == token {
                libc::close((*entries.add(index)).pidfd);
                *len -= 1;
                *entries.add(index) = *entries.add(*len);
                return;
            }
            index += 1;
        }
    }
}

/// SIGKILL to what `entry` stands for.
///
/// # Safety
///
/// Only in the guardian.
unsafe fn kill_entry(entry: Entry) {
    let no_info: *const libc::siginfo_t = std::ptr::null();
    // SAFETY: system calls on the entry's own descriptor and numbers.
    unsafe {
        if entry.group {
            let by_group = libc::syscall(
                libc::SYS_pidfd_send_signal,
                entry.pidfd,
                libc::SIGKILL,
                no_info,
                1u32 << 2, // PIDFD_SIGNAL_PROCESS_GROUP
            );
            if by_group < 0 && *libc::__errno_location() == libc::EINVAL {
                // Before Linux 6.9: the group id is the leader's pid, still
                // ours while the leader exists (signal 0 checks it).
                let alive =
                    libc::syscall(libc::SYS_pidfd_send_signal, entry.pidfd, 0, no_info, 0u32);
                if alive == 0 {
                    libc::kill(-entry.pid, libc::SIGKILL);
                }
            }
        }
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            entry.pidfd,
            libc::SIGKILL,
            no_info,
            0u32,
        );
    }
}

/// Closes every descriptor but `keep`.
///
/// # Safety
///
/// Only in the guardian.
unsafe fn close_all_but(keep: libc::c_int) {
    let keep = libc::c_uint::try_from(keep).unwrap_or(0);
    // SAFETY: close_range closes descriptors of this process only.
    unsafe {
        let mut ok = true;
        if keep > 0 {
            ok &= libc::syscall(libc::SYS_close_range, 0u32, keep - 1, 0u32) == 0;
        }
        ok &= libc::syscall(libc::SYS_close_range, keep + 1, libc::c_uint::MAX, 0u32) == 0;
        if !ok {
            // close_range is Linux 5.9: close one by one below the limit.
            let mut limit = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            let top = if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
                limit.rlim_cur.min(1 << 20) as libc::c_int
            } else {
                1024
            };
            for fd in 0..top {
                if fd as libc::c_uint != keep {
                    libc::close(fd);
                }
            }
        }
    }
}

/// True once this process has started its guardian.
#[cfg(test)]
pub(crate) fn is_started() -> bool {
    LINK.lock()
        .map(|link| {
            link.as_ref()
                .is_some_and(|link| link.owner == std::process::id())
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_encode_op_group_pid_and_token() {
        let message = encode(WATCH, true, 0x0102_0304, 7, &[3, 4]);
        assert_eq!(message[0], WATCH);
        assert_eq!(message[1], 1);
        assert_eq!(&message[4..8], &0x0102_0304u32.to_le_bytes());
        assert_eq!(&message[8..16], &7u64.to_le_bytes());
        assert_eq!(&message[16..24], &3u64.to_le_bytes());
        assert_eq!(&message[24..], &4u64.to_le_bytes());
        let full = encode(FORGET, false, 0, 0, &[0; 2 * MAX_FORGETS]);
        assert_eq!(full.len(), MESSAGE, "at most MAX_FORGETS ride along");
    }

    #[test]
    fn watching_starts_the_guardian() {
        let child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .expect("sleep starts");
        let mut tracked =
            crate::child::Tracked::new(child, "sleep", crate::child::Guard::Process, false)
                .expect("tracked");
        assert!(is_started());
        tracked
            .signal(nix::sys::signal::Signal::SIGKILL)
            .expect("killed");
        tracked.wait_until(None).expect("reaped");
    }
}
