//! A command in a container made of Linux namespaces: its own process ids,
//! hostname, mounts and System V IPC, with a fresh `/proc` (Linux only;
//! needs `CAP_SYS_ADMIN`, in practice root).
//!
//! ```no_run
//! use ptm::isolate::Container;
//!
//! # fn main() -> ptm::Result<()> {
//! let out = Container::new("sh", &["-c", "echo $PPID; hostname"])
//!     .hostname("box")
//!     .output()?;
//! // The shell's parent is the container's init, pid 1; the hostname is the
//! // container's own.
//! assert_eq!(out.stdout, b"1\nbox\n");
//! # Ok(())
//! # }
//! ```
//!
//! # How
//!
//! [`Container::output`] calls `clone(2)` with `CLONE_NEWPID | CLONE_NEWUTS
//! | CLONE_NEWNS | CLONE_NEWIPC`: the new process is pid 1 of a new PID
//! namespace, ptm's minimal *init*. The init makes every mount private
//! (`MS_REC | MS_PRIVATE` on `/`, so nothing it mounts shows on the host),
//! sets the hostname, mounts a fresh `proc` on `/proc` (so `/proc` lists
//! the container's processes only), then forks the command (pid 2), which
//! execs the program with stdin from `/dev/null` and stdout and stderr on
//! pipes to the caller.
//!
//! Pid 1 has a duty no other process has: every orphan in the namespace is
//! re-parented to it, and only it can reap them. So the init waits for *any*
//! child (`waitpid(-1)`) until the command exits, reaping orphans as they
//! end: a command that leaves exited grandchildren behind leaves no zombie.
//! When the command exits, the init reports its wait status through a pipe
//! and exits; the kernel then kills whatever else still runs in the
//! namespace, so nothing outlives the container (as with `docker run
//! --init`).
//!
//! Between `clone` and `exec` the child processes run a copy of a possibly
//! multi-threaded caller, so they only make async-signal-safe system calls
//! on data prepared before `clone` (no allocation, no lock, no `println!`;
//! the command is forked with the raw `clone` system call, since glibc's
//! `fork` takes locks another thread may have held). The init first resets
//! every signal to its default and closes every descriptor but its four
//! pipe ends, and dies with the caller's thread (`PR_SET_PDEATHSIG`);
//! a failing step is reported through a close-on-exec pipe as a step code
//! and an `errno`, which the caller turns into an [`Error`].
//!
//! Nothing between `clone` and `exec` may outgrow the init's stack, and an
//! overflow must not go unnoticed. The stack is a mapping of its own with
//! a `PROT_NONE` guard below it, so an overflow faults (SIGSEGV) instead
//! of writing over the memory below; an init that dies before it passes on
//! the command's status is an [`Error::Isolation`], never reported as the
//! command's status. And the command does what `execvp` does (search
//! `PATH`, run a file without `#!` as `/bin/sh file args...`) on argument
//! vectors prepared before the clone: glibc's `execvp` builds the shell's
//! argv on the stack, a pointer per argument, which overran a small stack
//! from some 34,000 arguments on and silently altered them.

use std::ffi::{c_char, c_void, CString, OsStr};
use std::fs::File;
use std::io::{self, Read};
use std::num::NonZeroUsize;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Output};
use std::ptr::NonNull;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::libc;
use nix::sched::{clone, CloneFlags};
use nix::sys::mman::{mmap_anonymous, mprotect, munmap, MapFlags, ProtFlags};
use nix::sys::signal::{kill, Signal};
use nix::unistd::{pipe2, Pid};

use crate::error::{Error, Result};
use crate::ipc;

/// The hostname a [`Container`] gets unless told otherwise.
pub const DEFAULT_HOSTNAME: &str = "ptm-container";

/// Stack for the init and, after its fork, the command until `exec`: a
/// few system calls deep, far below this. Nothing on it grows with the
/// arguments or the environment (the shell fallback's argv is prepared
/// on the heap, see [`Prepared::sh_argv`]).
const INIT_STACK: usize = 256 * 1024;

/// The `PROT_NONE` guard below [`INIT_STACK`] (rounded up to whole pages):
/// an overflow faults there (SIGSEGV) instead of writing over whatever is
/// mapped below. Larger than a page, so that a frame of up to this size
/// cannot step over it.
const GUARD: usize = 64 * 1024;

/// The shell that runs a file the kernel cannot execute (no `#!` line), as
/// `execvp` does: `_PATH_BSHELL`.
const SHELL: &str = "/bin/sh";

/// Where `execvp` looks when `PATH` is unset (glibc's `_CS_PATH`).
const DEFAULT_PATH: &[u8] = b"/bin:/usr/bin";

/// Steps the child processes report failing at (the step, then `errno`).
const STEP_PRIVATE: i32 = 1;
const STEP_HOSTNAME: i32 = 2;
const STEP_PROC: i32 = 3;
const STEP_FORK: i32 = 4;
const STEP_STDIO: i32 = 5;
const STEP_EXEC: i32 = 6;
const STEP_DESCRIPTORS: i32 = 7;

/// A program to run in new PID, UTS, mount and IPC namespaces.
#[derive(Debug, Clone)]
pub struct Container {
    program: String,
    args: Vec<String>,
    hostname: String,
}

impl Container {
    /// `program` with `args`, looked up in `PATH` as `execvp` does, with the
    /// hostname [`DEFAULT_HOSTNAME`].
    pub fn new(program: &str, args: &[&str]) -> Container {
        Container {
            program: program.to_owned(),
            args: args.iter().map(|&arg| arg.to_owned()).collect(),
            hostname: DEFAULT_HOSTNAME.to_owned(),
        }
    }

    /// The hostname inside the container (the host's does not change).
    #[must_use]
    pub fn hostname(mut self, name: &str) -> Container {
        name.clone_into(&mut self.hostname);
        self
    }

    /// Runs the program in a new container and waits for it: its exit
    /// status and everything it wrote to stdout and stderr (read at once,
    /// so neither pipe can fill and stall it). The status is the command's
    /// own wait status, passed on by the init.
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidArgument`] if the program, an argument or the
    ///   hostname contains a NUL byte, or the hostname is longer than 64
    ///   bytes.
    /// - [`Error::Isolation`] if the namespaces cannot be made (without
    ///   `CAP_SYS_ADMIN`: kind `PermissionDenied`, and the message says
    ///   what is missing; `OutOfMemory` if the caller's address space
    ///   could not be copied), a setup step fails (the init's stack, a
    ///   pipe, its descriptors, mounts, hostname: `step` names it,
    ///   `source` keeps the OS error), or the init dies before it passes
    ///   on the command's status (killed, or a crash: never reported as
    ///   the command's own status).
    /// - [`Error::Spawn`] if the program cannot be executed (`NotFound`,
    ///   `PermissionDenied`, ... in `source.kind()`).
    /// - [`Error::Io`] if reading the pipes or waiting fails; the container
    ///   is killed and reaped first.
    pub fn output(&self) -> Result<Output> {
        let mut prepared = Prepared::new(self)?;
        let mut stack = Stack::new(INIT_STACK)?;
        let pipes = Pipes::new()?;
        let fds = pipes.child_fds();
        // ANCHOR: clone_flags
        let flags = CloneFlags::CLONE_NEWPID
            | CloneFlags::CLONE_NEWUTS
            | CloneFlags::CLONE_NEWNS
            | CloneFlags::CLONE_NEWIPC;
        // ANCHOR_END: clone_flags
        // SAFETY: the callback runs in a new process that is a copy of this
        // one (no CLONE_VM), on its copy of `stack`'s mapping (guard page
        // included), until it exits; it only makes async-signal-safe
        // system calls on `prepared` and `fds`, which were made before the
        // clone (see `init`), and writes only to its own copy of
        // `prepared`. The parent does not touch `stack` while the child
        // could run on it: the child has its own copy.
        let cloned = unsafe {
            clone(
                Box::new(|| init(&mut prepared, fds)),
                stack.usable(),
                flags,
                Some(libc::SIGCHLD),
            )
        };
        let pid = cloned.map_err(clone_error)?;
        let mut init = Init { pid, reaped: false };
        let Pipes {
            stdout: Pipe(stdout, stdout_w),
            stderr: Pipe(stderr, stderr_w),
            report: Pipe(report, report_w),
            status: Pipe(status, status_w),
        } = pipes;
        // The write ends now belong to the children: closing ours is what
        // lets each read below reach its end.
        drop((stdout_w, stderr_w, report_w, status_w));

        let mut failure = Vec::new();
        File::from(report).read_to_end(&mut failure)?;
        if let Some((step, errno)) = decode(&failure) {
            init.reap()?;
            return Err(self.failure(step, errno));
        }
        let (out, err) = ipc::read_both(stdout, stderr)?;
        let init_status = init.reap()?;
        let mut raw = Vec::new();
        File::from(status).read_to_end(&mut raw)?;
        let status = command_status(&raw, init_status, pid)?;
        Ok(Output {
            status,
            stdout: out,
            stderr: err,
        })
    }

    /// The error for a step a child reported failing at.
    fn failure(&self, step: i32, errno: i32) -> Error {
        let source = io::Error::from_raw_os_error(errno);
        let step = match step {
            STEP_EXEC => {
                return Error::Spawn {
                    program: self.program.clone(),
                    source,
                }
            }
            STEP_PRIVATE => "making mounts private (mount --make-rprivate /)",
            STEP_HOSTNAME => "setting the hostname",
            STEP_PROC => "mounting a fresh /proc",
            STEP_FORK => "forking the command inside the container",
            STEP_STDIO => "redirecting the command's stdin (from /dev/null), stdout and stderr",
            STEP_DESCRIPTORS => "moving the init's pipe ends above descriptors 0, 1 and 2",
            _ => "an unknown step",
        };
        Error::Isolation {
            step: step.to_owned(),
            source,
        }
    }
}

/// The error for a failed `clone` of the init: what the `errno` means for
/// this call, with its kind kept.
fn clone_error(errno: Errno) -> Error {
    let source = match errno {
        Errno::EPERM => io::Error::new(
            io::ErrorKind::PermissionDenied,
            "clone(CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWNS | CLONE_NEWIPC) \
             needs CAP_SYS_ADMIN (root in the initial user namespace)",
        ),
        // `clone` without CLONE_VM copies the caller's mappings, and each
        // private writable one is charged to the overcommit accounting
        // again: a large caller can be refused even though copy-on-write
        // would copy almost nothing.
        Errno::ENOMEM => io::Error::new(
            io::ErrorKind::OutOfMemory,
            "clone could not copy the caller's address space for the container's \
             init (ENOMEM): the kernel's overcommit accounting refused it (strict \
             overcommit, vm.overcommit_memory = 2, or a private writable mapping \
             larger than RAM plus swap) or a memory cgroup limit was reached",
        ),
        errno => io::Error::from(errno),
    };
    Error::Isolation {
        step: "creating PID, UTS, mount and IPC namespaces".to_owned(),
        source,
    }
}

/// The command's wait status as the init passed it on (`raw`, 4 bytes),
/// or the error that the init (host pid `init`) ended without passing it
/// on: killed, or crashed (a stack overflow into the guard page is a
/// SIGSEGV of the init). Never the init's own status as if it were the
/// command's.
fn command_status(raw: &[u8], init_status: ExitStatus, init: Pid) -> Result<ExitStatus> {
    match <[u8; 4]>::try_from(raw) {
        Ok(bytes) => Ok(ExitStatus::from_raw(i32::from_le_bytes(bytes))),
        Err(_) => Err(Error::Isolation {
            step: "running the container's init".to_owned(),
            source: io::Error::other(format!(
                "the init (pid {init} on the host) ended ({init_status}) before it \
                 passed on the command's status; the kernel then killed every \
                 process of the container"
            )),
        }),
    }
}

/// The init's stack: [`INIT_STACK`] bytes in an anonymous private mapping
/// of their own, above a `PROT_NONE` guard of [`GUARD`] bytes at the low
/// end (stacks grow down), unmapped on drop. The child processes inherit
/// the mapping, guard included.
struct Stack {
    /// The start of the mapping: the guard.
    base: NonNull<c_void>,
    /// The whole mapping, guard included.
    len: usize,
    /// The guard's length; the usable stack follows it.
    guard: usize,
}

impl Stack {
    /// Maps `size` bytes (rounded up to whole pages) above a guard.
    fn new(size: usize) -> Result<Stack> {
        let failed = |step: &str, errno: Errno| Error::Isolation {
            step: format!("{step} for the container's init"),
            source: io::Error::from(errno),
        };
        // SAFETY: `sysconf` reads a constant; -1 (with `errno`) on failure.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        let page = usize::try_from(page)
            .ok()
            .filter(|&page| page > 0)
            .ok_or_else(|| failed("reading the page size", Errno::last()))?;
        let guard = GUARD.div_ceil(page) * page;
        let len = guard + size.div_ceil(page) * page;
        let length = NonZeroUsize::new(len).unwrap_or(NonZeroUsize::MIN);
        // SAFETY: a new anonymous mapping at an address of the kernel's
        // choosing: it cannot overlap any memory in use.
        let base = unsafe {
            mmap_anonymous(
                None,
                length,
                ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                MapFlags::MAP_PRIVATE | MapFlags::MAP_STACK,
            )
        }
        .map_err(|errno| failed("mapping the stack", errno))?;
        let stack = Stack { base, len, guard };
        // SAFETY: the first `guard` bytes of the mapping just made (page
        // aligned, as every mapping is; `guard` is whole pages), which no
        // reference points into; `stack` unmaps it all if this fails.
        unsafe { mprotect(base, guard, ProtFlags::PROT_NONE) }
            .map_err(|errno| failed("protecting the stack's guard page", errno))?;
        Ok(stack)
    }

    /// The usable stack, above the guard.
    fn usable(&mut self) -> &mut [u8] {
        // SAFETY: `len - guard` bytes from `base + guard` are readable and
        // writable (PROT_READ | PROT_WRITE, never changed), initialised
        // (anonymous memory starts zeroed), mapped until `drop`, and
        // borrowed only through `&mut self`.
        unsafe {
            std::slice::from_raw_parts_mut(
                self.base.as_ptr().cast::<u8>().add(self.guard),
                self.len - self.guard,
            )
        }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, unmapped once; no reference
        // into it outlives `&mut self` (see `usable`).
        let _ = unsafe { munmap(self.base, self.len) };
    }
}

/// Everything the children use, made before `clone` so that they need not
/// allocate.
struct Prepared {
    /// The paths to try, in `execvp`'s order: the program itself if it
    /// contains a `/`, else each `PATH` entry joined with it.
    candidates: Vec<CString>,
    /// Keeps the strings `argv` points into alive.
    _args: Vec<CString>,
    /// `program, args..., NULL`, as `execve` wants it.
    argv: Vec<*const c_char>,
    /// `/bin/sh, <candidate>, args..., NULL` for a file the kernel cannot
    /// execute, as `execvp` runs it; slot 1 is set in the child. Made
    /// here because glibc's `execvp` builds it on the stack (one pointer
    /// per argument, with `alloca`), which overflows a small stack.
    sh_argv: Vec<*const c_char>,
    shell: CString,
    /// Keeps the strings `envp` points into alive.
    _env: Vec<CString>,
    /// The caller's environment as it was before the clone, `NULL`-ended.
    envp: Vec<*const c_char>,
    hostname: CString,
    root: CString,
    proc_type: CString,
    proc_dir: CString,
    dev_null: CString,
}

impl Prepared {
    fn new(container: &Container) -> Result<Prepared> {
        let c_string = |text: &str, what: &str| {
            CString::new(text)
                .map_err(|_| Error::InvalidArgument(format!("{what} {text:?} contains a NUL byte")))
        };
        if container.hostname.len() > 64 {
            return Err(Error::InvalidArgument(format!(
                "hostname {:?} is longer than 64 bytes",
                container.hostname
            )));
        }
        let program = c_string(&container.program, "program")?;
        let path = std::env::var_os("PATH");
        let candidates = candidates(program.as_bytes(), path.as_deref())
            .into_iter()
            .map(|candidate| {
                CString::new(candidate).map_err(|_| {
                    Error::InvalidArgument(format!("PATH {path:?} contains a NUL byte"))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let mut args = vec![program];
        for arg in &container.args {
            args.push(c_string(arg, "argument")?);
        }
        let mut argv: Vec<*const c_char> = args.iter().map(|arg| arg.as_ptr()).collect();
        argv.push(std::ptr::null());
        let shell = c_string(SHELL, "path")?;
        let mut sh_argv = Vec::with_capacity(argv.len() + 2);
        sh_argv.extend([shell.as_ptr(), std::ptr::null()]);
        sh_argv.extend_from_slice(argv.get(1..).unwrap_or_default());
        let mut env = Vec::new();
        for (key, value) in std::env::vars_os() {
            let mut entry = key.into_vec();
            entry.push(b'=');
            entry.extend_from_slice(value.as_bytes());
            env.push(CString::new(entry).map_err(|error| {
                let entry = String::from_utf8_lossy(&error.into_vec()).into_owned();
                Error::InvalidArgument(format!("environment entry {entry:?} contains a NUL byte"))
            })?);
        }
        let mut envp: Vec<*const c_char> = env.iter().map(|entry| entry.as_ptr()).collect();
        envp.push(std::ptr::null());
        Ok(Prepared {
            candidates,
            _args: args,
            argv,
            sh_argv,
            shell,
            _env: env,
            envp,
            hostname: c_string(&container.hostname, "hostname")?,
            root: c_string("/", "path")?,
            proc_type: c_string("proc", "file system")?,
            proc_dir: c_string("/proc", "path")?,
            dev_null: c_string("/dev/null", "path")?,
        })
    }
}

/// Where `execvp` would try to execute `program`, in its order: nowhere
/// if it is empty (`ENOENT`), itself if it contains a `/`, else each entry
/// of `path` (or [`DEFAULT_PATH`]) joined with it, an empty entry meaning
/// the current directory.
fn candidates(program: &[u8], path: Option<&OsStr>) -> Vec<Vec<u8>> {
    if program.is_empty() {
        return Vec::new();
    }
    if program.contains(&b'/') {
        return vec![program.to_vec()];
    }
    let path = path.map_or(DEFAULT_PATH, OsStr::as_bytes);
    path.split(|&byte| byte == b':')
        .map(|dir| {
            let mut candidate = dir.to_vec();
            if !dir.is_empty() {
                candidate.push(b'/');
            }
            candidate.extend_from_slice(program);
            candidate
        })
        .collect()
}

/// A pipe: (the parent's read end, the children's write end).
struct Pipe(OwnedFd, OwnedFd);

impl Pipe {
    /// A close-on-exec pipe; `what` it carries names it in the error (out
    /// of descriptors: `EMFILE`, kept as the source).
    fn new(what: &str) -> Result<Pipe> {
        let (read, write) = pipe2(OFlag::O_CLOEXEC).map_err(|errno| Error::Isolation {
            step: format!("creating the pipe for {what}"),
            source: io::Error::from(errno),
        })?;
        Ok(Pipe(read, write))
    }
}

/// The four pipes between the caller and the container.
struct Pipes {
    /// The command's stdout.
    stdout: Pipe,
    /// The command's stderr.
    stderr: Pipe,
    /// A failed step, from the init or the command before `exec`.
    report: Pipe,
    /// The command's wait status, from the init.
    status: Pipe,
}

/// The write ends, as the children see them.
#[derive(Clone, Copy)]
struct ChildFds {
    stdout: RawFd,
    stderr: RawFd,
    report: RawFd,
    status: RawFd,
}

impl Pipes {
    fn new() -> Result<Pipes> {
        Ok(Pipes {
            stdout: Pipe::new("the command's stdout")?,
            stderr: Pipe::new("the command's stderr")?,
            report: Pipe::new("the init's failure reports")?,
            status: Pipe::new("the command's exit status")?,
        })
    }

    fn child_fds(&self) -> ChildFds {
        ChildFds {
            stdout: self.stdout.1.as_raw_fd(),
            stderr: self.stderr.1.as_raw_fd(),
            report: self.report.1.as_raw_fd(),
            status: self.status.1.as_raw_fd(),
        }
    }
}

/// The container's init (pid 1), running in the cloned process.
///
/// Async-signal-safe system calls only, on data prepared before the clone:
/// this is a copy of a process whose other threads may have held locks
/// (the allocator's, stdout's) at the moment of the clone.
fn init(prepared: &mut Prepared, fds: ChildFds) -> isize {
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
        // handlers that must not run here), and only our four descriptors
        // (close-on-exec acts only at `exec`, which the init never does:
        // without this it would hold every pipe of the caller, and another
        // container's, open until it ends).
        reset_signals();
        let fds = keep_only(fds);
        // Die with the caller's thread rather than outlive it.
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
        if libc::mount(
            std::ptr::null(),
            prepared.root.as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        ) != 0
        {
            report(fds.report, STEP_PRIVATE);
        }
        let hostname = prepared.hostname.as_bytes();
        if libc::sethostname(hostname.as_ptr().cast(), hostname.len()) != 0 {
            report(fds.report, STEP_HOSTNAME);
        }
        if libc::mount(
            prepared.proc_type.as_ptr(),
            prepared.proc_dir.as_ptr(),
            prepared.proc_type.as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            std::ptr::null(),
        ) != 0
        {
            report(fds.report, STEP_PROC);
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
            report(fds.report, STEP_FORK);
        }
        if command == 0 {
            exec_command(prepared, fds);
        }
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
            // caller then reports the init's own status, 127.
            None => libc::_exit(127),
        }
    }
}

/// The command (pid 2): stdio in place, signals as a fresh process has
/// them (the caller may ignore SIGPIPE, as Rust programs do, or block
/// signals; `exec` would keep both), then [`execvp_prepared`].
///
/// # Safety
///
/// Only in the forked child; see [`init`].
unsafe fn exec_command(prepared: &mut Prepared, fds: ChildFds) -> ! {
    // SAFETY: as in `init`.
    unsafe {
        // The pipe ends are above 2 (see `keep_only`), and 0 to 2 are
        // closed, so `/dev/null` opens as 0; `dup2` onto the same number
        // would keep close-on-exec, hence the `F_SETFD` in that case.
        let null = libc::open(prepared.dev_null.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
        let stdin_ok = match null {
            0 => libc::fcntl(0, libc::F_SETFD, 0) == 0,
            null => null > 0 && libc::dup2(null, 0) == 0,
        };
        if !stdin_ok || libc::dup2(fds.stdout, 1) < 0 || libc::dup2(fds.stderr, 2) < 0 {
            report(fds.report, STEP_STDIO);
        }
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut none);
        libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
        let errno = execvp_prepared(prepared);
        report_errno(fds.report, STEP_EXEC, errno)
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
unsafe fn reset_signals() {
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

/// Moves the four pipe ends above 2 if they are not (a caller with closed
/// stdio), then closes every other descriptor, 0 to 2 included. Reports
/// [`STEP_DESCRIPTORS`] if a pipe end cannot be moved (out of descriptors:
/// nothing is closed yet, so the report pipe is still open).
///
/// # Safety
///
/// Only in the cloned init; async-signal-safe calls.
unsafe fn keep_only(fds: ChildFds) -> ChildFds {
    let mut keep = [fds.stdout, fds.stderr, fds.report, fds.status];
    // SAFETY: `fcntl`, `close_range` (a raw system call) and `close` on
    // descriptor numbers; nothing is dereferenced.
    unsafe {
        for fd in &mut keep {
            if *fd < 3 {
                let moved = libc::fcntl(*fd, libc::F_DUPFD_CLOEXEC, 3);
                if moved < 0 {
                    report(fds.report, STEP_DESCRIPTORS);
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
    ChildFds {
        stdout: keep[0],
        stderr: keep[1],
        report: keep[2],
        status: keep[3],
    }
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

/// Writes `step` and the current `errno` to the report pipe and exits 127.
fn report(fd: RawFd, step: i32) -> ! {
    report_errno(fd, step, Errno::last_raw())
}

/// Writes `step` and `errno` to the report pipe and exits 127.
fn report_errno(fd: RawFd, step: i32, errno: i32) -> ! {
    let mut message = [0u8; 8];
    message[..4].copy_from_slice(&step.to_le_bytes());
    message[4..].copy_from_slice(&errno.to_le_bytes());
    // SAFETY: `write` from a local buffer and `_exit`: both async-signal-safe.
    unsafe {
        libc::write(fd, message.as_ptr().cast(), message.len());
        libc::_exit(127)
    }
}

/// A report from the children: `(step, errno)`, if there is one.
fn decode(report: &[u8]) -> Option<(i32, i32)> {
    let step = i32::from_le_bytes(report.get(..4)?.try_into().ok()?);
    let errno = i32::from_le_bytes(report.get(4..8)?.try_into().ok()?);
    Some((step, errno))
}

/// The container's init, killed and reaped on drop unless reaped already:
/// killing pid 1 of a PID namespace kills everything in it.
struct Init {
    pid: Pid,
    reaped: bool,
}

impl Init {
    /// Waits for the init and returns its wait status.
    fn reap(&mut self) -> io::Result<ExitStatus> {
        let mut status: libc::c_int = 0;
        loop {
            // SAFETY: waits for our own child, writing only to `status`.
            let reaped = unsafe { libc::waitpid(self.pid.as_raw(), &mut status, 0) };
            if reaped == self.pid.as_raw() {
                self.reaped = true;
                return Ok(ExitStatus::from_raw(status));
            }
            let error = io::Error::last_os_error();
            if error.raw_os_error() == Some(libc::ECHILD) {
                // Reaped by someone else: the pid may be reused now, so it
                // must not be signalled any more.
                self.reaped = true;
            }
            if error.kind() != io::ErrorKind::Interrupted {
                return Err(error);
            }
        }
    }
}

impl Drop for Init {
    fn drop(&mut self) {
        if !self.reaped {
            let _ = kill(self.pid, Signal::SIGKILL);
            let _ = self.reap();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_decode() {
        let mut report = Vec::new();
        report.extend_from_slice(&STEP_PROC.to_le_bytes());
        report.extend_from_slice(&libc::EPERM.to_le_bytes());
        assert_eq!(decode(&report), Some((STEP_PROC, libc::EPERM)));
        assert_eq!(decode(&report[..7]), None);
        assert_eq!(decode(&[]), None);
    }

    /// Recurses until the stack ends (no stack holds `usize::MAX`
    /// frames), 512 bytes a frame: less than the guard.
    fn deep(depth: usize) -> usize {
        if depth == usize::MAX {
            return 0;
        }
        let frame = std::hint::black_box([depth as u8; 512]);
        deep(depth + 1).wrapping_add(usize::from(frame[7]))
    }

    /// The init's stack ends in a guard: a child that overflows it dies
    /// of SIGSEGV at the guard instead of writing over the memory below
    /// (a heap `Vec` as the stack has nothing below it to stop a write).
    #[test]
    fn a_stack_overflow_faults_on_the_guard_page() {
        let mut stack = Stack::new(64 * 1024).expect("the stack is mapped");
        // SAFETY: the child runs on its copy of `stack`, makes only
        // `sigaction`/`sigprocmask` calls (`reset_signals`, so that no
        // handler of the test harness catches the fault) and recurses;
        // the parent does not touch the stack until it is dropped.
        let pid = unsafe {
            clone(
                Box::new(|| {
                    reset_signals();
                    deep(0) as isize
                }),
                stack.usable(),
                CloneFlags::empty(),
                Some(libc::SIGCHLD),
            )
        }
        .expect("clone");
        let mut init = Init { pid, reaped: false };
        let status = init.reap().expect("the child is reaped");
        assert_eq!(status.signal(), Some(libc::SIGSEGV), "{status}");
    }

    /// ENOMEM from the clone is not a bare "Cannot allocate memory": it
    /// says the caller's address space could not be copied and why that
    /// happens, and keeps the kind `OutOfMemory`.
    #[test]
    fn enomem_from_clone_says_the_address_space_could_not_be_copied() {
        match clone_error(Errno::ENOMEM) {
            Error::Isolation { step, source } => {
                assert_eq!(source.kind(), io::ErrorKind::OutOfMemory);
                let message = Error::Isolation { step, source }.to_string();
                for part in ["address space", "vm.overcommit_memory = 2", "cgroup"] {
                    assert!(message.contains(part), "{message}");
                }
            }
            other => panic!("expected Error::Isolation, got {other:?}"),
        }
        let other = clone_error(Errno::EINVAL);
        assert!(
            matches!(&other, Error::Isolation { source, .. }
                if source.raw_os_error() == Some(libc::EINVAL)),
            "{other:?}"
        );
    }

    /// An init that ends without passing on the command's status (a
    /// SIGSEGV at the guard page, a kill) is an error that says so, not
    /// "the command was killed by SIGSEGV" (nor exit 0).
    #[test]
    fn an_init_that_ends_without_a_status_report_is_an_error() {
        let init = Pid::from_raw(4321);
        let crashed = ExitStatus::from_raw(libc::SIGSEGV);
        match command_status(&[], crashed, init) {
            Err(error @ Error::Isolation { .. }) => {
                let message = error.to_string();
                assert!(
                    message.contains("SIGSEGV") && message.contains("pid 4321"),
                    "{message}"
                );
            }
            other => panic!("expected Error::Isolation, got {other:?}"),
        }
        let passed_on = (3i32 << 8).to_le_bytes();
        let status = command_status(&passed_on, ExitStatus::from_raw(0), init);
        assert_eq!(status.expect("a status").code(), Some(3));
    }

    /// The paths tried, in `execvp`'s order.
    #[test]
    fn candidates_follow_execvp() {
        let path = OsStr::new("/usr/local/bin::/bin");
        assert_eq!(
            candidates(b"ls", Some(path)),
            [&b"/usr/local/bin/ls"[..], b"ls", b"/bin/ls"]
        );
        assert_eq!(candidates(b"./ls", Some(path)), [b"./ls"]);
        assert_eq!(candidates(b"ls", None), [&b"/bin/ls"[..], b"/usr/bin/ls"]);
        assert!(candidates(b"", Some(path)).is_empty());
    }

    #[test]
    fn bad_arguments_are_refused_before_anything_runs() {
        let nul = Container::new("sh\0", &[]).output();
        assert!(matches!(nul, Err(Error::InvalidArgument(_))), "{nul:?}");
        let long = Container::new("true", &[])
            .hostname(&"h".repeat(65))
            .output();
        assert!(matches!(long, Err(Error::InvalidArgument(_))), "{long:?}");
    }
}
