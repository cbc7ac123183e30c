//! The container's processes between `clone` and `exec`: the init (pid 1)
//! and the command (pid 2) before it execs.
//!
//! Async-signal-safe system calls only, on data prepared before the clone:
//! these are copies of a process whose other threads may have held locks
//! (the allocator's, stdout's) at the moment of the clone.

use std::ffi::c_char;
use std::os::fd::RawFd;

use nix::errno::Errno;
use nix::libc;

use super::plan::Prepared;

/// Steps the child processes report failing at: the step, an index (the
/// plan's step, the rlimit, the map file) and `errno`.
pub(crate) const STEP_PRIVATE: i32 = 1;
pub(crate) const STEP_HOSTNAME: i32 = 2;
pub(crate) const STEP_FORK: i32 = 4;
pub(crate) const STEP_STDIO: i32 = 5;
pub(crate) const STEP_EXEC: i32 = 6;
pub(crate) const STEP_DESCRIPTORS: i32 = 7;
pub(crate) const STEP_LOOPBACK: i32 = 9;
pub(crate) const STEP_PLAN: i32 = 10;
pub(crate) const STEP_RLIMIT: i32 = 11;
pub(crate) const STEP_CHDIR: i32 = 12;
pub(crate) const STEP_LOCK: i32 = 13;
pub(crate) const STEP_KEYRING: i32 = 14;
pub(crate) const STEP_DUMPABLE: i32 = 15;
pub(crate) const STEP_CMDLINE: i32 = 16;

/// `keyctl(KEYCTL_JOIN_SESSION_KEYRING, NULL)`: a new anonymous session
/// keyring.
const KEYCTL_JOIN_SESSION_KEYRING: libc::c_int = 1;

/// The pipe ends the children use, as they see them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChildFds {
    /// The command's stdin (read end).
    pub(crate) stdin: RawFd,
    pub(crate) stdout: RawFd,
    pub(crate) stderr: RawFd,
    /// A failed step, from the init or the command before `exec`.
    pub(crate) report: RawFd,
    /// The command's wait status, from the init.
    pub(crate) status: RawFd,
    /// One byte from the caller once the init is in its cgroups.
    pub(crate) go: RawFd,
}

impl ChildFds {
    fn to_array(self) -> [RawFd; 6] {
        [
            self.stdin,
            self.stdout,
            self.stderr,
            self.report,
            self.status,
            self.go,
        ]
    }

    fn from_array(fds: [RawFd; 6]) -> ChildFds {
        let [stdin, stdout, stderr, report, status, go] = fds;
        ChildFds {
            stdin,
            stdout,
            stderr,
            report,
            status,
            go,
        }
    }
}

/// The container's init (pid 1), running in the cloned process: waits for
/// the caller's go, maps its user, builds the container's file system and
/// network, forks the command, and reaps until the command has exited.
///
/// # Safety
///
/// Only as the callback of the `clone` in
/// [`Container::output`](super::Container::output), on the process's own
/// copy of `prepared`.
pub(crate) unsafe fn init(prepared: &mut Prepared, fds: ChildFds) -> isize {
    // SAFETY: every call below is a raw system call wrapper from libc, given
    // pointers to NUL-terminated strings and arrays made before the clone
    // (alive in this process's copy of the caller's memory) or to locals.
    // None of them takes a lock of libc's (the copy of a lock another
    // thread held at the clone would never be released here): that is why
    // the command is started with the raw `clone` system call, not glibc's
    // `fork`, which takes the allocator's and stdio's locks.
    unsafe {
        // A fresh start: default signal actions and an empty mask (the
        // caller may ignore SIGCHLD, which would break `waitpid`, or have
        // handlers that must not run here), and only our descriptors
        // (close-on-exec acts only at `exec`, which the init never does:
        // without this it would hold every pipe of the caller, and another
        // container's, open until it ends).
        reset_signals();
        let fds = keep_only(fds);
        // The caller's command line, which the command could read in
        // /proc/1/cmdline, blanked in this copy of its memory, and a name
        // of its own. (Its environment and the rest are covered by not
        // being dumpable, below.)
        if let Some((start, end)) = prepared.command_line {
            if let Err(errno) = blank(prepared, start, end) {
                report_errno(fds.report, STEP_CMDLINE, 0, errno);
            }
        }
        libc::prctl(libc::PR_SET_NAME, prepared.init_name.as_ptr());
        // Die with the caller's thread rather than outlive it.
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
        // Its own session and process group, so that `kill(0, ..)` inside
        // reaches only the container; its own session keyring, so that
        // the caller's keys are not the command's.
        libc::setsid();
        let no_name = std::ptr::null::<c_char>();
        if libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, no_name) < 0
            && Errno::last_raw() != libc::ENOSYS
        {
            report(fds.report, STEP_KEYRING, 0);
        }
        // The caller writes this process's user maps, moves it into the
        // container's cgroups, then says go; end of file instead means it
        // gave up (and reaps us).
        let mut go = 0u8;
        loop {
            let read = libc::read(fds.go, (&mut go as *mut u8).cast(), 1);
            if read == 1 {
                break;
            }
            if read < 0 && Errno::last_raw() == libc::EINTR {
                continue;
            }
            libc::_exit(127);
        }
        libc::close(fds.go);
        if libc::mount(
            std::ptr::null(),
            prepared.root.as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        ) != 0
        {
            report(fds.report, STEP_PRIVATE, 0);
        }
        let hostname = prepared.hostname.as_bytes();
        if libc::sethostname(hostname.as_ptr().cast(), hostname.len()) != 0 {
            report(fds.report, STEP_HOSTNAME, 0);
        }
        if prepared.loopback {
            if let Err(errno) = loopback_up() {
                report_errno(fds.report, STEP_LOOPBACK, 0, errno);
            }
        }
        for (index, op) in prepared.plan.ops.iter().enumerate() {
            if let Err(errno) = op.run() {
                report_errno(fds.report, STEP_PLAN, index, errno);
            }
        }
        // ANCHOR: lock_mounts
        // Lock the mount table: a user namespace nested in ours with a
        // mount namespace it owns. Mounts copied into a less privileged
        // mount namespace are locked: their read-only flag cannot be
        // cleared nor they be unmounted, even by root with CAP_SYS_ADMIN
        // in the new namespaces. (And a cgroup namespace: where ptm made
        // the container a cgroup, its inner cgroup is the root.)
        let lock = libc::CLONE_NEWUSER | libc::CLONE_NEWNS;
        if libc::unshare(lock | libc::CLONE_NEWCGROUP) != 0 {
            report(fds.report, STEP_LOCK, 0);
        }
        for (index, (file, text)) in prepared.lock_maps.iter().enumerate() {
            if let Err(errno) = write_file(file.as_ptr(), text.as_bytes()) {
                report_errno(fds.report, STEP_LOCK, index + 1, errno);
            }
        }
        // ANCHOR_END: lock_mounts
        // Not dumpable: the command cannot ptrace this process nor read
        // its /proc/1/mem, environ or exe (it is a copy of the caller's
        // memory). After the maps, which a non-dumpable process may not
        // write; the command's exec makes it dumpable again, as any
        // program is.
        if libc::prctl(libc::PR_SET_DUMPABLE, 0 as libc::c_ulong) != 0 {
            report(fds.report, STEP_DUMPABLE, 0);
        }
        let no_argument: libc::c_ulong = 0;
        let command = libc::syscall(
            libc::SYS_clone,
            libc::SIGCHLD as libc::c_ulong,
            no_argument,
            no_argument,
            no_argument,
            no_argument,
        ) as libc::pid_t;
        if command < 0 {
            report(fds.report, STEP_FORK, 0);
        }
        if command == 0 {
            exec_command(prepared, fds);
        }
        libc::close(fds.stdin);
        libc::close(fds.stdout);
        libc::close(fds.stderr);
        libc::close(fds.report);
        // ANCHOR: init_reaps
        // Reap every child, orphans included, until the command has exited.
        let mut command_status = None;
        loop {
            let mut status: libc::c_int = 0;
            let reaped = libc::waitpid(-1, &mut status, 0);
            if reaped == command {
                command_status = Some(status);
                break;
            }
            if reaped < 0 && Errno::last_raw() != libc::EINTR {
                break;
            }
        }
        // Orphans that have already exited, then out: the kernel kills
        // and reaps whatever is left in the namespace once pid 1 is gone.
        while libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) > 0 {}
        // ANCHOR_END: init_reaps
        match command_status {
            Some(status) => {
                let bytes = status.to_le_bytes();
                libc::write(fds.status, bytes.as_ptr().cast(), bytes.len());
                libc::_exit(0)
            }
            // Cannot happen (the command is our child until reaped); the
            // caller then reports that the init ended without a status.
            None => libc::_exit(127),
        }
    }
}

/// The command (pid 2): stdio in place, its rlimits, its directory,
/// signals as a fresh process has them (the caller may ignore SIGPIPE, as
/// Rust programs do, or block signals; `exec` would keep both), then
/// [`execvp_prepared`].
///
/// # Safety
///
/// Only in the forked child; see [`init`].
unsafe fn exec_command(prepared: &mut Prepared, fds: ChildFds) -> ! {
    // SAFETY: as in `init`.
    unsafe {
        // The pipe ends are above 2 (see `keep_only`), so each `dup2`
        // makes a new, inheritable descriptor.
        if libc::dup2(fds.stdin, 0) < 0
            || libc::dup2(fds.stdout, 1) < 0
            || libc::dup2(fds.stderr, 2) < 0
        {
            report(fds.report, STEP_STDIO, 0);
        }
        for (index, limit) in prepared.rlimits.iter().enumerate() {
            let set = libc::syscall(
                libc::SYS_prlimit64,
                0 as libc::pid_t,
                limit.resource,
                &limit.value as *const libc::rlimit64,
                std::ptr::null_mut::<libc::rlimit64>(),
            );
            if set != 0 {
                report(fds.report, STEP_RLIMIT, index);
            }
        }
        if libc::chdir(prepared.current_dir.as_ptr()) != 0 {
            report(fds.report, STEP_CHDIR, 0);
        }
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut none);
        libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
        let errno = execvp_prepared(prepared);
        report_errno(fds.report, STEP_EXEC, 0, errno)
    }
}

/// Writes zeros, then the init's name, over `start..end` of this process's
/// memory (the caller's command line, in this copy), through
/// `/proc/self/mem`: a page the caller made read-only is written all the
/// same (as a debugger writes), and a failure is an `errno`, not a fault.
///
/// # Safety
///
/// Only in the cloned init.
unsafe fn blank(prepared: &Prepared, start: usize, end: usize) -> Result<(), i32> {
    // SAFETY: `open`, `pwrite` and `close` on prepared strings and local
    // buffers.
    unsafe {
        let fd = libc::open(prepared.self_mem.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC);
        if fd < 0 {
            return Err(Errno::last_raw());
        }
        let zeros = [0u8; 256];
        let mut at = start;
        let mut result = Ok(());
        while at < end && result.is_ok() {
            let n = zeros.len().min(end - at);
            if libc::pwrite(fd, zeros.as_ptr().cast(), n, at as libc::off_t) != n as isize {
                result = Err(Errno::last_raw());
            }
            at += n;
        }
        let name = prepared.init_name.as_bytes();
        let n = name.len().min(end - start - 1);
        if result.is_ok()
            && libc::pwrite(fd, name.as_ptr().cast(), n, start as libc::off_t) != n as isize
        {
            result = Err(Errno::last_raw());
        }
        libc::close(fd);
        result
    }
}

/// Opens `file` for writing, writes `text`, closes it; `Err(errno)` if a
/// step failed.
///
/// # Safety
///
/// Only in the cloned init.
unsafe fn write_file(file: *const c_char, text: &[u8]) -> Result<(), i32> {
    // SAFETY: system calls on a prepared path and a prepared buffer.
    unsafe {
        let fd = libc::open(file, libc::O_WRONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return Err(Errno::last_raw());
        }
        let written = libc::write(fd, text.as_ptr().cast(), text.len());
        let errno = Errno::last_raw();
        libc::close(fd);
        match usize::try_from(written) {
            Ok(written) if written == text.len() => Ok(()),
            Ok(_) => Err(libc::EIO),
            Err(_) => Err(errno),
        }
    }
}

/// Brings up `lo` in the new network namespace (`ip link set lo up`):
/// `SIOCGIFFLAGS`, then `SIOCSIFFLAGS` with `IFF_UP` added.
///
/// # Safety
///
/// Only in the cloned init.
unsafe fn loopback_up() -> Result<(), i32> {
    // SAFETY: a socket, two ioctls on a local `ifreq`, a close.
    unsafe {
        let socket = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if socket < 0 {
            return Err(Errno::last_raw());
        }
        let mut request: libc::ifreq = std::mem::zeroed();
        for (slot, byte) in request.ifr_name.iter_mut().zip(b"lo") {
            *slot = *byte as c_char;
        }
        let mut result = Ok(());
        if libc::ioctl(socket, libc::SIOCGIFFLAGS, &mut request) != 0 {
            result = Err(Errno::last_raw());
        } else {
            request.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            if libc::ioctl(socket, libc::SIOCSIFFLAGS, &request) != 0 {
                result = Err(Errno::last_raw());
            }
        }
        libc::close(socket);
        result
    }
}

/// What `execvp` does (glibc's `posix/execvpe.c`), on prepared data only:
/// `execve` each candidate in turn; a file the kernel refuses with
/// `ENOEXEC` (a script without `#!`) runs as `/bin/sh <file> args...`;
/// "not there" errors go on to the next candidate, any other ends the
/// search. Returns the `errno` to report: `EACCES` if any candidate was
/// denied and none ran, else the last one.
///
/// Unlike glibc's, it builds nothing on the stack: glibc's shell argv
/// (`argc + 2` pointers, made with `alloca`) would need a stack sized by
/// the argument count, and still jump over a guard page.
///
/// # Safety
///
/// Only in the forked child; see [`init`].
unsafe fn execvp_prepared(prepared: &mut Prepared) -> i32 {
    let mut denied = false;
    let mut errno = libc::ENOENT;
    for candidate in &prepared.candidates {
        // SAFETY: NUL-terminated strings and NULL-terminated arrays of
        // them, made before the clone and alive in this copy of memory;
        // `execve` is a system call.
        unsafe {
            libc::execve(
                candidate.as_ptr(),
                prepared.argv.as_ptr(),
                prepared.envp.as_ptr(),
            );
            errno = Errno::last_raw();
            if errno == libc::ENOEXEC {
                if let Some(slot) = prepared.sh_argv.get_mut(1) {
                    *slot = candidate.as_ptr();
                }
                libc::execve(
                    prepared.shell.as_ptr(),
                    prepared.sh_argv.as_ptr(),
                    prepared.envp.as_ptr(),
                );
                errno = Errno::last_raw();
            }
        }
        match errno {
            libc::EACCES => denied = true,
            libc::ENOENT | libc::ESTALE | libc::ENOTDIR | libc::ENODEV | libc::ETIMEDOUT => {}
            _ => return errno,
        }
    }
    if denied {
        libc::EACCES
    } else {
        errno
    }
}

/// Every signal to its default action (SIGKILL and SIGSTOP cannot be set,
/// glibc's internal ones refuse: errors ignored), and an empty mask.
///
/// # Safety
///
/// Only in the cloned init; async-signal-safe calls on locals.
pub(crate) unsafe fn reset_signals() {
    // SAFETY: `sigaction` and `sigprocmask` with zeroed, then filled,
    // local structures.
    unsafe {
        let mut default: libc::sigaction = std::mem::zeroed();
        default.sa_sigaction = libc::SIG_DFL;
        libc::sigemptyset(&mut default.sa_mask);
        for signal in 1..libc::SIGRTMAX() {
            libc::sigaction(signal, &default, std::ptr::null_mut());
        }
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut none);
        libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
    }
}

/// Moves the pipe ends above 2 if they are not (a caller with closed
/// stdio), then closes every other descriptor, 0 to 2 included. Reports
/// [`STEP_DESCRIPTORS`] if a pipe end cannot be moved (out of descriptors:
/// nothing is closed yet, so the report pipe is still open).
///
/// # Safety
///
/// Only in the cloned init; async-signal-safe calls.
unsafe fn keep_only(fds: ChildFds) -> ChildFds {
    let mut keep = fds.to_array();
    // SAFETY: `fcntl`, `close_range` (a raw system call) and `close` on
    // descriptor numbers; nothing is dereferenced.
    unsafe {
        for fd in &mut keep {
            if *fd < 3 {
                let moved = libc::fcntl(*fd, libc::F_DUPFD_CLOEXEC, 3);
                if moved < 0 {
                    report(fds.report, STEP_DESCRIPTORS, 0);
                }
                *fd = moved;
            }
        }
        let mut sorted = keep;
        sorted.sort_unstable();
        let mut next: libc::c_uint = 0;
        for fd in sorted {
            let fd = fd as libc::c_uint;
            if fd > next {
                close_range(next, fd - 1);
            }
            next = fd + 1;
        }
        close_range(next, libc::c_uint::MAX);
    }
    ChildFds::from_array(keep)
}

/// Closes descriptors `first..=last`: `close_range(2)` (Linux 5.9), or one
/// `close` at a time up to the descriptor limit on older kernels.
///
/// # Safety
///
/// Only in the cloned init.
unsafe fn close_range(first: libc::c_uint, last: libc::c_uint) {
    // SAFETY: system calls on descriptor numbers only.
    unsafe {
        if libc::syscall(libc::SYS_close_range, first, last, 0 as libc::c_uint) == 0 {
            return;
        }
        let mut limit: libc::rlimit = std::mem::zeroed();
        let end = if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur.min(1 << 20) as libc::c_uint
        } else {
            1 << 16
        };
        let mut fd = first;
        while fd <= last && fd < end {
            libc::close(fd as libc::c_int);
            fd += 1;
        }
    }
}

/// Writes `step`, `index` and the current `errno` to the report pipe and
/// exits 127.
fn report(fd: RawFd, step: i32, index: usize) -> ! {
    report_errno(fd, step, index, Errno::last_raw())
}

/// Writes `step`, `index` and `errno` to the report pipe and exits 127.
fn report_errno(fd: RawFd, step: i32, index: usize, errno: i32) -> ! {
    let mut message = [0u8; 12];
    message[..4].copy_from_slice(&step.to_le_bytes());
    message[4..8].copy_from_slice(&(index as u32).to_le_bytes());
    message[8..].copy_from_slice(&errno.to_le_bytes());
    // SAFETY: `write` from a local buffer and `_exit`: both async-signal-safe.
    unsafe {
        libc::write(fd, message.as_ptr().cast(), message.len());
        libc::_exit(127)
    }
}

/// A report from the children: `(step, index, errno)`, if there is one.
pub(crate) fn decode(report: &[u8]) -> Option<(i32, usize, i32)> {
    let step = i32::from_le_bytes(report.get(..4)?.try_into().ok()?);
    let index = u32::from_le_bytes(report.get(4..8)?.try_into().ok()?);
    let errno = i32::from_le_bytes(report.get(8..12)?.try_into().ok()?);
    Some((step, index as usize, errno))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_decode() {
        let mut report = Vec::new();
        report.extend_from_slice(&STEP_PLAN.to_le_bytes());
        report.extend_from_slice(&7u32.to_le_bytes());
        report.extend_from_slice(&libc::EPERM.to_le_bytes());
        assert_eq!(decode(&report), Some((STEP_PLAN, 7, libc::EPERM)));
        assert_eq!(decode(&report[..11]), None);
        assert_eq!(decode(&[]), None);
    }
}
