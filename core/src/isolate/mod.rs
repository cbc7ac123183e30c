//! A command in a container made of Linux namespaces, without root: its
//! own user, process ids, hostname, mounts, System V IPC and network, a
//! root file system of its own, and limits: on the whole container where
//! a cgroup can be made, on each process where rlimits must do (Linux
//! only).
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
//! # What holds
//!
//! - **Rootless.** A new user namespace maps the caller's uid and gid to 0
//!   inside (as `unshare --map-root-user` and `bwrap --unshare-user` do),
//!   which is what lets an unprivileged caller make the other namespaces.
//!   Where the kernel refuses user namespaces, the error names the setting.
//! - **Its own file system.** A new root (a tmpfs, read-only) holding
//!   read-only binds of the host's `/usr`, `/bin`, `/sbin`, `/lib`,
//!   `/lib64` and `/etc` where they exist (symbolic links such as `/bin ->
//!   usr/bin` kept as links), a fresh `/proc`, a `/dev` with `null`,
//!   `zero`, `full`, `random` and `urandom`, and an empty writable `/tmp`;
//!   [`Container::bind_ro`] and [`Container::bind_rw`] share more. The
//!   host's root is detached: nothing else of it can be reached. The
//!   command runs in a user and mount namespace nested in the init's, so
//!   every mount it inherits is *locked*: root inside cannot make a
//!   read-only bind writable, nor unmount one to see what is below.
//! - **Its own network.** A new network namespace with only `lo`, brought
//!   up; [`Container::share_network`] keeps the host's.
//! - **Limits** ([`Container::timeout`], [`memory_limit`](Container::memory_limit),
//!   [`max_processes`](Container::max_processes),
//!   [`cpu_time_limit`](Container::cpu_time_limit)), enforced with a cgroup
//!   where the caller can make one and with rlimits where it cannot (the
//!   table in [`Container::memory_limit`]'s docs says which holds when); a
//!   limit that cannot be enforced is an error, never ignored.
//! - **Nothing outlives it.** Its init reaps orphans, dies with the
//!   caller's thread, and when it ends the kernel kills every process left
//!   in the namespace: after [`Container::output`] returns, whether the
//!   command finished, failed or timed out, no process of it is left.
//! - **Little of the caller reaches it.** Only descriptors 0, 1 and 2;
//!   its own session and process group (`kill(0, ..)` inside reaches only
//!   the container) and session keyring; its init is not dumpable, so the
//!   command cannot ptrace it nor read its `/proc/1/mem` or `environ` (the
//!   init is a copy of the caller's memory), and it blanks the caller's
//!   command line in `/proc/1/cmdline`. `/proc/sys` and the kernel's other
//!   settings in `/proc` are read-only, its memory and keys masked. (The
//!   caller's *user* keyring, of the same uid, stays reachable to a
//!   command that knows or guesses its serial number.)
//!
//! # What it is not
//!
//! Not a security boundary against a kernel exploit: there is no seccomp
//! filter and no capability drop inside the user namespace, where the
//! command is root with every capability over its own namespaces, so the
//! whole system call interface of the kernel stays open to it. bubblewrap
//! drops every capability by default, sets `no_new_privs` and loads a
//! seccomp filter given with `--seccomp`; nsjail drops capabilities and
//! applies seccomp policies written per system call (kafel).
//!
//! Run by root, the command is root on the host for what it can reach:
//! `/etc/shadow` in the read-only `/etc`; a `bind_rw` directory, where it
//! can leave a set-uid root file for the host (binds are `nosuid` inside
//! only); and, by mounting the cgroup file system, the caller's own
//! cgroups in the hierarchies where ptm set no limit. Run containers as an
//! ordinary user where you can.
//!
//! What the command writes to stdout and stderr is kept whole, in the
//! caller's memory: bound it with [`Container::timeout`].
//!
//! # How
//!
//! [`Container::output`] calls `clone(2)` with `CLONE_NEWUSER |
//! CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC` (and
//! `CLONE_NEWNET`): the new process is pid 1 of a new PID namespace, ptm's
//! minimal *init*. The caller writes its user maps (`0 <uid> 1`), moves it
//! into the container's cgroups, then lets it go on through a socket pair.
//! The init makes every mount private (`MS_REC | MS_PRIVATE` on `/`, so
//! nothing it mounts shows on the host), sets the hostname, brings up `lo`,
//! builds the new root and `pivot_root`s into it (see the `plan` module),
//! then locks the mounts (`unshare(CLONE_NEWUSER | CLONE_NEWNS |
//! CLONE_NEWCGROUP)`, mapping 0 to its own 0: mounts copied into a mount
//! namespace of a less privileged user namespace cannot be made writable
//! or unmounted), makes itself not dumpable, then forks the command (pid
//! 2), which sets its rlimits and directory and execs the program with
//! stdin, stdout and stderr on pipes to the caller.
//!
//! Pid 1 has a duty no other process has: every orphan in the namespace is
//! re-parented to it, and only it can reap them. So the init waits for *any*
//! child (`waitpid(-1)`) until the command exits, reaping orphans as they
//! end: a command that leaves exited grandchildren behind leaves no zombie.
//! When the command exits, the init reports its wait status through a pipe
//! and exits; the kernel then kills whatever else still runs in the
//! namespace, so nothing outlives the container (as with `docker run
//! --init`). At a deadline the caller kills the init, with the same effect.
//!
//! The init is a copy of the caller (a `clone` without `CLONE_VM`), so
//! starting one costs more the more memory mappings the caller has: a
//! caller holding n running containers has n waiting threads and n init
//! stacks mapped, so each start copies O(n) mappings. Here one container
//! starts in about 3 ms; holding 100 took 0.6 s to start, 1,000 about 40 s
//! (`benches/RESULTS.md`).
//!
//! Between `clone` and `exec` the child processes run a copy of a possibly
//! multi-threaded caller, so they only make async-signal-safe system calls
//! on data prepared before `clone` (no allocation, no lock, no `println!`;
//! the command is forked with the raw `clone` system call, since glibc's
//! `fork` takes locks another thread may have held). The init first resets
//! every signal to its default and closes every descriptor but its pipe
//! ends, and dies with the caller's thread (`PR_SET_PDEATHSIG`); a failing
//! step is reported through a close-on-exec pipe as a step code, an index
//! and an `errno`, which the caller turns into an [`Error`] that names it.
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

use std::ffi::{c_void, OsStr, OsString};
use std::fs::File;
use std::io::{self, Read};
use std::num::NonZeroUsize;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ChildStderr, ChildStdin, ChildStdout, ExitStatus, Output};
use std::ptr::NonNull;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::libc;
use nix::sched::{clone, CloneFlags};
use nix::sys::mman::{mmap_anonymous, mprotect, munmap, MapFlags, ProtFlags};
use nix::sys::signal::{kill, Signal};
use nix::sys::socket::{send, socketpair, AddressFamily, MsgFlags, SockFlag, SockType};
use nix::unistd::{pipe2, Pid};

use crate::error::{command_line, Error, Result};
use crate::ipc::pump::{Capture, Pump};
use crate::ipc::KILL_GRACE;

mod init;
mod limits;
mod plan;

pub use crate::error::Limit;
use init::{ChildFds, STEP_CHDIR, STEP_DESCRIPTORS, STEP_EXEC, STEP_FORK, STEP_HOSTNAME};
use init::{STEP_CMDLINE, STEP_DUMPABLE, STEP_KEYRING, STEP_LOCK, STEP_LOOPBACK, STEP_PLAN};
use init::{STEP_PRIVATE, STEP_RLIMIT, STEP_STDIO};
use limits::{Enforcement, CPU_TICK};
use plan::{check_binds, plan_failure, Prepared};

/// The hostname a [`Container`] gets unless told otherwise.
pub const DEFAULT_HOSTNAME: &str = "ptm-container";

/// Stack for the init and, after its fork, the command until `exec`: a
/// few system calls deep, far below this. Nothing on it grows with the
/// arguments or the environment (the shell fallback's argv is prepared
/// on the heap).
const INIT_STACK: usize = 256 * 1024;

/// The `PROT_NONE` guard below [`INIT_STACK`] (rounded up to whole pages):
/// an overflow faults there (SIGSEGV) instead of writing over whatever is
/// mapped below. Larger than a page, so that a frame of up to this size
/// cannot step over it.
const GUARD: usize = 64 * 1024;

/// A directory shared with the container.
#[derive(Debug, Clone)]
struct Bind {
    host: PathBuf,
    inside: PathBuf,
    writable: bool,
}

/// A program to run in a container: new user, PID, mount, UTS, IPC and
/// network namespaces, a root file system of its own, and limits.
///
/// A builder: each method returns the container changed; [`output`]
/// runs it (as often as wanted).
///
/// [`output`]: Container::output
#[derive(Debug, Clone)]
pub struct Container {
    program: String,
    args: Vec<String>,
    hostname: String,
    binds: Vec<Bind>,
    share_network: bool,
    timeout: Option<Duration>,
    memory_limit: Option<u64>,
    max_processes: Option<u64>,
    cpu_time_limit: Option<Duration>,
    stdin: Vec<u8>,
    env: Vec<(OsString, OsString)>,
    env_clear: bool,
    current_dir: PathBuf,
}

impl Container {
    /// `program` with `args`, looked up in the container's `PATH` as
    /// `execvp` does, with the hostname [`DEFAULT_HOSTNAME`], the caller's
    /// environment, `/` as its directory, empty stdin, no binds beyond
    /// the system directories, a network of its own and no limits.
    pub fn new(program: &str, args: &[&str]) -> Container {
        Container {
            program: program.to_owned(),
            args: args.iter().map(|&arg| arg.to_owned()).collect(),
            hostname: DEFAULT_HOSTNAME.to_owned(),
            binds: Vec::new(),
            share_network: false,
            timeout: None,
            memory_limit: None,
            max_processes: None,
            cpu_time_limit: None,
            stdin: Vec::new(),
            env: Vec::new(),
            env_clear: false,
            current_dir: PathBuf::from("/"),
        }
    }

    /// The hostname inside the container (the host's does not change).
    #[must_use]
    pub fn hostname(mut self, name: &str) -> Container {
        name.clone_into(&mut self.hostname);
        self
    }

    /// Shares the host's `host` (a directory or a file) read-only at
    /// `inside` (an absolute path in the container; its parents are
    /// created). Every mount below `host` is read-only inside too.
    #[must_use]
    pub fn bind_ro(self, host: impl AsRef<Path>, inside: impl AsRef<Path>) -> Container {
        self.bind(host.as_ref(), inside.as_ref(), false)
    }

    /// Shares the host's `host` (a directory or a file) read-write at
    /// `inside`: what the command writes there, the host sees.
    #[must_use]
    pub fn bind_rw(self, host: impl AsRef<Path>, inside: impl AsRef<Path>) -> Container {
        self.bind(host.as_ref(), inside.as_ref(), true)
    }

    fn bind(mut self, host: &Path, inside: &Path, writable: bool) -> Container {
        self.binds.push(Bind {
            host: host.to_owned(),
            inside: inside.to_owned(),
            writable,
        });
        self
    }

    /// Keeps the host's network instead of a namespace with only `lo`.
    #[must_use]
    pub fn share_network(mut self) -> Container {
        self.share_network = true;
        self
    }

    /// Kills the whole container at `timeout` after the start:
    /// [`output`](Container::output) then returns [`Error::Timeout`] with
    /// what the command wrote before.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Container {
        self.timeout = Some(timeout);
        self
    }

    /// Limits the memory the command may use to `bytes`.
    ///
    /// | where | enforced by | past the limit |
    /// |---|---|---|
    /// | a memory cgroup can be made (root on cgroup v1; a delegated cgroup v2) | the cgroup: the whole container's memory, swap included | the OOM killer kills; `output` returns [`Error::LimitExceeded`] with [`Limit::Memory`] |
    /// | elsewhere | `RLIMIT_AS`, each process's address space, and `/tmp` (a tmpfs) sized to the limit | the allocation fails inside the command (`malloc` returns NULL, Rust aborts): the command's own status says what it did. Not bounded: a tmpfs the command mounts itself (it is root in its namespaces), and a command that forks gets the limit once per process |
    ///
    /// The same holds for [`max_processes`](Container::max_processes)
    /// (a pids cgroup, else `RLIMIT_NPROC`) and
    /// [`cpu_time_limit`](Container::cpu_time_limit) (a cpuacct cgroup,
    /// else `RLIMIT_CPU`). An rlimit binds each process, so a command
    /// that forks can use it once per process: without a cgroup, bound the
    /// whole container by combining it with `max_processes` (at most `n`
    /// times the limit) and [`timeout`](Container::timeout).
    #[must_use]
    pub fn memory_limit(mut self, bytes: u64) -> Container {
        self.memory_limit = Some(bytes);
        self
    }

    /// Limits the command and everything it starts to `n` processes (ptm's
    /// init, pid 1, not counted): a `fork` past it fails with `EAGAIN`, so
    /// a fork bomb stops at `n` and the host is unharmed. Enforced by a pids
    /// cgroup where one can be made, else by `RLIMIT_NPROC` (counted in the
    /// container's user namespace from Linux 5.14 on; before, across every
    /// process of the caller's uid); `output` fails with
    /// [`Error::Isolation`] where neither holds (uid 0 without a pids
    /// cgroup: `RLIMIT_NPROC` does not bind root).
    #[must_use]
    pub fn max_processes(mut self, n: u64) -> Container {
        self.max_processes = Some(n);
        self
    }

    /// Limits the CPU time the command may use. With a cpuacct cgroup
    /// (cgroup v1) or a cpu cgroup (v2), the whole container's CPU time,
    /// read every 10 ms by the caller, which kills the container past it;
    /// else `RLIMIT_CPU`, each process's own CPU time in whole seconds
    /// (rounded up), where the kernel sends SIGXCPU (and SIGKILL a second
    /// later to a process that ignores it). `output` returns
    /// [`Error::LimitExceeded`] with [`Limit::CpuTime`] when the cgroup's
    /// limit ended the container, or when the command itself died of
    /// SIGXCPU.
    #[must_use]
    pub fn cpu_time_limit(mut self, limit: Duration) -> Container {
        self.cpu_time_limit = Some(limit);
        self
    }

    /// Bytes written to the command's stdin (then closed); empty by default.
    #[must_use]
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Container {
        self.stdin = bytes.into();
        self
    }

    /// Sets an environment variable for the command (a later call for
    /// the same `key` wins). `PATH` set here is where the program is
    /// looked up, as with `Command`.
    #[must_use]
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Container {
        self.env
            .push((key.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    /// Starts the command's environment empty instead of the caller's,
    /// as `Command::env_clear` does: variables set with
    /// [`env`](Container::env) before this call are dropped too, those set
    /// after it are kept.
    #[must_use]
    pub fn env_clear(mut self) -> Container {
        self.env_clear = true;
        self.env.clear();
        self
    }

    /// The command's working directory, a path inside the container
    /// (absolute, without `.` or `..`; `/` by default).
    #[must_use]
    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Container {
        self.current_dir = dir.as_ref().to_owned();
        self
    }

    /// Runs the program in a new container and waits for it: its exit
    /// status and everything it wrote to stdout and stderr (read while its
    /// stdin is written, so no pipe can fill and stall it). The status is
    /// the command's own wait status, passed on by the init.
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidArgument`] if the program, an argument, the
    ///   hostname or an environment entry contains a NUL byte, the
    ///   hostname is longer than 64 bytes, or a path inside the container
    ///   (a bind's, the current directory) is not absolute and plain.
    /// - [`Error::Isolation`] before anything starts if a bind's host path
    ///   does not exist (kind `NotFound`) or a limit cannot be enforced
    ///   here (kind `Unsupported`); if the namespaces cannot be made (kind
    ///   `PermissionDenied` where user namespaces are refused: the message
    ///   names the setting; `OutOfMemory` if the caller's address space
    ///   could not be copied); if a setup step fails (`step` names it and
    ///   the paths, `source` keeps the OS error); or if the init dies
    ///   before it passes on the command's status (never reported as the
    ///   command's own status).
    /// - [`Error::Spawn`] if the program cannot be executed (`NotFound`,
    ///   `PermissionDenied`, ... in `source.kind()`).
    /// - [`Error::Timeout`] at the [`timeout`](Container::timeout), with
    ///   what it wrote before.
    /// - [`Error::LimitExceeded`] if the memory cgroup's OOM killer or the
    ///   CPU-time limit ended the command.
    /// - [`Error::Io`] if the pipes cannot be read or written or the init
    ///   cannot be waited for; the container is killed and reaped first.
    pub fn output(&self) -> Result<Output> {
        let binds = check_binds(&self.binds)?;
        let enforcement = Enforcement::new(self)?;
        let mut prepared = Prepared::new(self, &binds, enforcement.rlimits.clone())?;
        let mut stack = Stack::new(INIT_STACK)?;
        let pipes = Pipes::new()?;
        let fds = pipes.child_fds();
        // ANCHOR: clone_flags
        let mut flags = CloneFlags::CLONE_NEWUSER
            | CloneFlags::CLONE_NEWPID
            | CloneFlags::CLONE_NEWNS
            | CloneFlags::CLONE_NEWUTS
            | CloneFlags::CLONE_NEWIPC;
        if !self.share_network {
            flags |= CloneFlags::CLONE_NEWNET;
        }
        // ANCHOR_END: clone_flags
        let started = Instant::now();
        // SAFETY: the callback runs in a new process that is a copy of this
        // one (no CLONE_VM), on its copy of `stack`'s mapping (guard page
        // included), until it exits; it only makes async-signal-safe
        // system calls on `prepared` and `fds`, which were made before the
        // clone (see `init::init`), and writes only to its own copy of
        // `prepared`. The parent does not touch `stack` while the child
        // could run on it: the child has its own copy.
        let cloned = unsafe {
            clone(
                Box::new(|| init::init(&mut prepared, fds)),
                stack.usable(),
                flags,
                Some(libc::SIGCHLD),
            )
        };
        let pid = cloned.map_err(|errno| clone_error(errno, flags))?;
        // Killed and reaped on every way out until reaped below.
        let mut init = Init::new(pid);
        let Pipes {
            stdin: Pipe(stdin_r, stdin),
            stdout: Pipe(stdout, stdout_w),
            stderr: Pipe(stderr, stderr_w),
            report: Pipe(report, report_w),
            status: Pipe(status, status_w),
            go: Pipe(go_r, go),
        } = pipes;
        // The children's ends now belong to them: closing ours is what
        // lets each read below reach its end.
        drop((stdin_r, stdout_w, stderr_w, report_w, status_w, go_r));
        // The go, once the init is mapped and in its cgroups. A socket, not
        // a pipe, so that an init already gone is `EPIPE` without a
        // SIGPIPE that would kill a caller not ignoring it. An init that
        // failed a step before the go has reported it (and one still
        // waiting for the go ends when the socket closes): that report,
        // read first, is the error to return, before ours.
        let ready = write_user_maps(pid).and_then(|()| enforcement.join(pid));
        let sent = match &ready {
            Ok(()) => send(go.as_raw_fd(), b"g", MsgFlags::MSG_NOSIGNAL),
            Err(_) => Ok(0),
        };
        drop(go);
        let deadline = self
            .timeout
            .and_then(|timeout| started.checked_add(timeout));
        // The set-up runs under the timeout too (a bind of a hung network
        // file system would block a mount). Without the go, the init ends at
        // once (its report, if any, is written): no deadline, so that our
        // own error is not mistaken for a timeout.
        let report_deadline = if ready.is_ok() { deadline } else { None };
        if !readable_before(&report, report_deadline)? {
            init.kill();
            let status = init.reap()?;
            return Err(Error::Timeout {
                program: self.command_line(),
                output: Output {
                    status,
                    stdout: Vec::new(),
                    stderr: Vec::new(),
                },
            });
        }
        let mut failure = Vec::new();
        File::from(report).read_to_end(&mut failure)?;
        if let Some((step, index, errno)) = init::decode(&failure) {
            init.reap()?;
            return Err(self.failure(&prepared, step, index, errno));
        }
        ready?;
        sent.map_err(|errno| Error::Isolation {
            step: "letting the container's init go on".to_owned(),
            source: io::Error::from(errno),
        })?;
        // The status pipe is read like a third output: its end of file
        // means the init has exited (only it holds the write end).
        let outputs = vec![
            (Some(ChildStderr::from(stderr)), Capture::all()),
            (Some(ChildStderr::from(status)), Capture::all()),
        ];
        let stdin = Some(ChildStdin::from(stdin));
        let mut pump = Pump::new(&self.stdin, stdin, Some(ChildStdout::from(stdout)), outputs)?;
        let ended = loop {
            let tick = enforcement.watches_cpu().then(|| Instant::now() + CPU_TICK);
            let until = match (deadline, tick) {
                (Some(deadline), Some(tick)) => Some(deadline.min(tick)),
                (deadline, tick) => deadline.or(tick),
            };
            if pump.run(until)? {
                break Ended::Finished;
            }
            if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                break Ended::Timeout;
            }
            if enforcement.cpu_exceeded()? {
                break Ended::CpuTime;
            }
        };
        // Every pipe at its end means the init has exited, or closed them:
        // waited for under the same deadline.
        let ended = match ended {
            Ended::Finished if !init.exited_before(deadline)? => Ended::Timeout,
            ended => ended,
        };
        if ended != Ended::Finished {
            init.kill();
            pump.drain(KILL_GRACE)?;
        }
        let init_status = init.reap()?;
        let (stdout, mut outputs) = pump.finish();
        let raw = outputs.pop().unwrap_or_default();
        let stderr = outputs.pop().unwrap_or_default();
        let command = command_status(&raw, init_status, pid);
        let cpu = Limit::CpuTime(self.cpu_time_limit.unwrap_or_default());
        // What ended it, and the status to report: the init's (a kill) when
        // the caller ended the container, else the command's own.
        let (stopped_by, status) = match ended {
            Ended::Timeout => (Some(Stop::Timeout), init_status),
            Ended::CpuTime => (Some(Stop::Limit(cpu)), init_status),
            // A process of the container was killed for memory: the limit
            // ended (part of) the command, whatever its own status.
            Ended::Finished if enforcement.oom_killed() => {
                let bytes = self.memory_limit.unwrap_or_default();
                let status = command.unwrap_or(init_status);
                (Some(Stop::Limit(Limit::Memory(bytes))), status)
            }
            Ended::Finished => {
                let status = command?;
                if enforcement.cpu_by_rlimit && status.signal() == Some(libc::SIGXCPU) {
                    (Some(Stop::Limit(cpu)), status)
                } else {
                    (None, status)
                }
            }
        };
        let output = Output {
            status,
            stdout,
            stderr,
        };
        match stopped_by {
            None => Ok(output),
            Some(Stop::Timeout) => Err(Error::Timeout {
                program: self.command_line(),
                output,
            }),
            Some(Stop::Limit(limit)) => Err(Error::LimitExceeded {
                program: self.command_line(),
                limit,
                output,
            }),
        }
    }

    /// The command as a shell would need it quoted, for errors.
    fn command_line(&self) -> String {
        command_line(&self.program, &self.args)
    }

    /// The error for a step a child reported failing at.
    fn failure(&self, prepared: &Prepared, step: i32, index: usize, errno: i32) -> Error {
        let source = io::Error::from_raw_os_error(errno);
        let step = match step {
            STEP_EXEC => {
                return Error::Spawn {
                    program: self.program.clone(),
                    source,
                }
            }
            STEP_PLAN => {
                let what = prepared
                    .plan
                    .what
                    .get(index)
                    .map_or("an unknown step", String::as_str);
                // A mount refused in a user namespace is often a setting
                // (AppArmor's), but as often something else (a /proc that
                // is partly masked, as in a default Docker container): the
                // settings are named only where one is set to refuse.
                if errno == libc::EPERM && refusing(&read_userns_settings()).next().is_some() {
                    return refused(what, errno);
                }
                return plan_failure(what, errno);
            }
            STEP_KEYRING => "joining a session keyring of its own".to_owned(),
            STEP_DUMPABLE => "making the init not dumpable".to_owned(),
            STEP_CMDLINE => "blanking the caller's command line in the init".to_owned(),
            STEP_LOCK => {
                let what = ["unshare", "setgroups", "uid_map", "gid_map"]
                    .get(index)
                    .unwrap_or(&"?");
                return refused(
                    &format!("locking the mounts (a nested user namespace: {what})"),
                    errno,
                );
            }
            STEP_RLIMIT => {
                let what = prepared
                    .rlimits
                    .get(index)
                    .map_or("a limit", |limit| limit.what.as_str());
                format!("setting {what} in the command")
            }
            STEP_CHDIR => format!(
                "changing to {} inside the container",
                self.current_dir.display()
            ),
            STEP_PRIVATE => "making mounts private (mount --make-rprivate /)".to_owned(),
            STEP_HOSTNAME => "setting the hostname".to_owned(),
            STEP_LOOPBACK => "bringing up lo in the network namespace".to_owned(),
            STEP_FORK => "forking the command inside the container".to_owned(),
            STEP_STDIO => "redirecting the command's stdin, stdout and stderr".to_owned(),
            STEP_DESCRIPTORS => {
                "moving the init's pipe ends above descriptors 0, 1 and 2".to_owned()
            }
            _ => "an unknown step".to_owned(),
        };
        Error::Isolation { step, source }
    }
}

/// Writes the user maps of the init's user namespace (host pid `init`):
/// 0 inside is the caller's uid and gid; `setgroups` is denied first, as
/// the kernel requires of an unprivileged writer of `gid_map` (the same as
/// `unshare -r`).
fn write_user_maps(init: Pid) -> Result<()> {
    // SAFETY: `geteuid` and `getegid` cannot fail.
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    let maps = [
        ("setgroups", "deny".to_owned()),
        ("uid_map", format!("0 {uid} 1\n")),
        ("gid_map", format!("0 {gid} 1\n")),
    ];
    for (file, text) in maps {
        let path = format!("/proc/{init}/{file}");
        std::fs::write(&path, &text).map_err(|error| {
            let step = format!("writing {path} (the user namespace's map: {})", text.trim());
            match error.raw_os_error() {
                Some(errno) => refused(&step, errno),
                None => Error::Isolation {
                    step,
                    source: error,
                },
            }
        })?;
    }
    Ok(())
}

/// Waits until `fd` is readable (data or end of file; for a pidfd, its
/// process has exited) or `deadline` passes (`Ok(false)`); `None`: as long
/// as it takes.
fn readable_before(fd: &OwnedFd, deadline: Option<Instant>) -> io::Result<bool> {
    crate::child::wait_readable(&[fd.as_fd()], deadline)
}

/// What stopped the command before its own end.
#[derive(Debug, Clone, Copy)]
enum Stop {
    Timeout,
    Limit(Limit),
}

/// How the wait for the command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    /// Every pipe reached its end: the init has exited.
    Finished,
    Timeout,
    CpuTime,
}

/// The sysctls that refuse user namespaces to unprivileged users, and the
/// value that refuses them.
const USERNS_SETTINGS: [(&str, &str, &str); 3] = [
    (
        "/proc/sys/kernel/unprivileged_userns_clone",
        "kernel.unprivileged_userns_clone",
        "0",
    ),
    (
        "/proc/sys/user/max_user_namespaces",
        "user.max_user_namespaces",
        "0",
    ),
    (
        "/proc/sys/kernel/apparmor_restrict_unprivileged_userns",
        "kernel.apparmor_restrict_unprivileged_userns",
        "1",
    ),
];

/// What refuses user namespaces here, from the settings' current values
/// (`None`: not on this system): the ones set to refuse, or all three.
fn userns_settings(values: &[Option<String>]) -> String {
    let refusing: Vec<String> = refusing(values).collect();
    if refusing.is_empty() {
        let names: Vec<&str> = USERNS_SETTINGS.iter().map(|(_, name, _)| *name).collect();
        format!(
            "user namespaces may be refused here (check {})",
            names.join(", ")
        )
    } else {
        format!(
            "user namespaces are refused here: {} (an administrator can change it with sysctl)",
            refusing.join(", ")
        )
    }
}

/// The settings among `values` (of [`USERNS_SETTINGS`]) set to refuse, as
/// `name = value`.
fn refusing(values: &[Option<String>]) -> impl Iterator<Item = String> + '_ {
    USERNS_SETTINGS
        .iter()
        .zip(values)
        .filter(|((_, _, refuses), value)| value.as_deref().map(str::trim) == Some(*refuses))
        .map(|((_, name, refuses), _)| format!("{name} = {refuses}"))
}

/// The current values of [`USERNS_SETTINGS`].
fn read_userns_settings() -> Vec<Option<String>> {
    USERNS_SETTINGS
        .iter()
        .map(|(file, _, _)| std::fs::read_to_string(file).ok())
        .collect()
}

/// The error for a step refused (`EPERM`, `EACCES`, `ENOSPC`) in a way a
/// user-namespace setting explains: the setting named, kind kept.
fn refused(what: &str, errno: i32) -> Error {
    let os = io::Error::from_raw_os_error(errno);
    let source = if [libc::EPERM, libc::EACCES, libc::ENOSPC].contains(&errno) {
        let settings = userns_settings(&read_userns_settings());
        io::Error::new(io::ErrorKind::PermissionDenied, format!("{os}; {settings}"))
    } else {
        os
    };
    Error::Isolation {
        step: what.to_owned(),
        source,
    }
}

/// The error for a failed `clone` of the init: what the `errno` means for
/// this call, with its kind kept.
fn clone_error(errno: Errno, flags: CloneFlags) -> Error {
    let step = format!("creating the namespaces (clone with {flags:?})");
    match errno {
        // EPERM: refused by a sysctl; ENOSPC: user.max_user_namespaces
        // (or a nesting limit) reached; EUSERS before Linux 4.9.
        Errno::EPERM | Errno::ENOSPC | Errno::EUSERS => refused(&step, errno as i32),
        // `clone` without CLONE_VM copies the caller's mappings, and each
        // private writable one is charged to the overcommit accounting
        // again: a large caller can be refused even though copy-on-write
        // would copy almost nothing.
        Errno::ENOMEM => Error::Isolation {
            step,
            source: io::Error::new(
                io::ErrorKind::OutOfMemory,
                "clone could not copy the caller's address space for the container's \
                 init (ENOMEM): the kernel's overcommit accounting refused it (strict \
                 overcommit, vm.overcommit_memory = 2, or a private writable mapping \
                 larger than RAM plus swap) or a memory cgroup limit was reached",
            ),
        },
        errno => Error::Isolation {
            step,
            source: io::Error::from(errno),
        },
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

/// A pipe: (the parent's end, the children's end); for stdin the other
/// way round: (the children's read end, the parent's write end).
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

    /// A close-on-exec Unix stream socket pair, named as [`Pipe::new`]'s.
    fn socket_pair(what: &str) -> Result<Pipe> {
        let (one, other) = socketpair(
            AddressFamily::Unix,
            SockType::Stream,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .map_err(|errno| Error::Isolation {
            step: format!("creating the socket pair for {what}"),
            source: io::Error::from(errno),
        })?;
        Ok(Pipe(one, other))
    }
}

/// The six pipes between the caller and the container.
struct Pipes {
    stdin: Pipe,
    stdout: Pipe,
    stderr: Pipe,
    /// A failed step, from the init or the command before `exec`.
    report: Pipe,
    /// The command's wait status, from the init.
    status: Pipe,
    /// The caller's go to the init, once it is in its cgroups: (the
    /// init's end, the caller's end) of a socket pair.
    go: Pipe,
}

impl Pipes {
    fn new() -> Result<Pipes> {
        Ok(Pipes {
            stdout: Pipe::new("the command's stdout")?,
            stderr: Pipe::new("the command's stderr")?,
            report: Pipe::new("the init's failure reports")?,
            status: Pipe::new("the command's exit status")?,
            stdin: Pipe::new("the command's stdin")?,
            go: Pipe::socket_pair("the init's go")?,
        })
    }

    fn child_fds(&self) -> ChildFds {
        ChildFds {
            stdin: self.stdin.0.as_raw_fd(),
            stdout: self.stdout.1.as_raw_fd(),
            stderr: self.stderr.1.as_raw_fd(),
            report: self.report.1.as_raw_fd(),
            status: self.status.1.as_raw_fd(),
            go: self.go.0.as_raw_fd(),
        }
    }
}

/// The container's init, killed and reaped on drop unless reaped already:
/// killing pid 1 of a PID namespace kills everything in it.
struct Init {
    pid: Pid,
    reaped: bool,
    /// Readable once it has exited; `None` without `pidfd_open` (Linux
    /// before 5.3).
    pidfd: Option<OwnedFd>,
}

impl Init {
    /// Our child `pid`, just cloned (so the pid cannot have been reused).
    fn new(pid: Pid) -> Init {
        // SAFETY: `pidfd_open` takes a pid and flags by value and returns
        // a new descriptor or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0 as libc::c_uint) };
        let pidfd = libc::c_int::try_from(fd)
            .ok()
            .filter(|&fd| fd >= 0)
            // SAFETY: a descriptor the kernel just opened for us, owned by
            // nothing else.
            .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) });
        Init {
            pid,
            reaped: false,
            pidfd,
        }
    }

    /// Waits until the init has exited or `deadline` passes (`false`).
    /// Without a pidfd it cannot wait with a deadline and says `true`: the
    /// reap then waits as long as it takes.
    fn exited_before(&self, deadline: Option<Instant>) -> io::Result<bool> {
        match &self.pidfd {
            Some(fd) if !self.reaped => readable_before(fd, deadline),
            _ => Ok(true),
        }
    }

    /// Kills the init, and with it the whole container, unless reaped.
    fn kill(&self) {
        if !self.reaped {
            let _ = kill(self.pid, Signal::SIGKILL);
        }
    }

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
            self.kill();
            let _ = self.reap();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
                    init::reset_signals();
                    deep(0) as isize
                }),
                stack.usable(),
                CloneFlags::empty(),
                Some(libc::SIGCHLD),
            )
        }
        .expect("clone");
        let mut init = Init::new(pid);
        let status = init.reap().expect("the child is reaped");
        assert_eq!(status.signal(), Some(libc::SIGSEGV), "{status}");
    }

    /// ENOMEM from the clone is not a bare "Cannot allocate memory": it
    /// says the caller's address space could not be copied and why that
    /// happens, and keeps the kind `OutOfMemory`.
    #[test]
    fn enomem_from_clone_says_the_address_space_could_not_be_copied() {
        match clone_error(Errno::ENOMEM, CloneFlags::CLONE_NEWPID) {
            Error::Isolation { step, source } => {
                assert_eq!(source.kind(), io::ErrorKind::OutOfMemory);
                let message = Error::Isolation { step, source }.to_string();
                for part in ["address space", "vm.overcommit_memory = 2", "cgroup"] {
                    assert!(message.contains(part), "{message}");
                }
            }
            other => panic!("expected Error::Isolation, got {other:?}"),
        }
        let other = clone_error(Errno::EINVAL, CloneFlags::CLONE_NEWPID);
        assert!(
            matches!(&other, Error::Isolation { source, .. }
                if source.raw_os_error() == Some(libc::EINVAL)),
            "{other:?}"
        );
    }

    /// Where a sysctl refuses user namespaces, the message names it with
    /// the value that refuses; where none is found to, it lists all three.
    #[test]
    fn a_refused_user_namespace_names_the_setting() {
        let debian = userns_settings(&[Some("0\n".into()), Some("15000\n".into()), None]);
        assert!(
            debian.contains("kernel.unprivileged_userns_clone = 0")
                && !debian.contains("max_user_namespaces"),
            "{debian}"
        );
        let ubuntu = userns_settings(&[None, Some("100".into()), Some("1".into())]);
        assert!(
            ubuntu.contains("kernel.apparmor_restrict_unprivileged_userns = 1"),
            "{ubuntu}"
        );
        let zero = userns_settings(&[None, Some("0".into()), None]);
        assert!(zero.contains("user.max_user_namespaces = 0"), "{zero}");
        let unknown = userns_settings(&[None, Some("100".into()), None]);
        for name in USERNS_SETTINGS.map(|(_, name, _)| name) {
            assert!(unknown.contains(name), "{unknown}");
        }
        match clone_error(Errno::EPERM, CloneFlags::CLONE_NEWUSER) {
            Error::Isolation { source, .. } => {
                assert_eq!(source.kind(), io::ErrorKind::PermissionDenied);
            }
            other => panic!("expected Error::Isolation, got {other:?}"),
        }
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

    #[test]
    fn bad_arguments_are_refused_before_anything_runs() {
        let nul = Container::new("sh\0", &[]).output();
        assert!(matches!(nul, Err(Error::InvalidArgument(_))), "{nul:?}");
        let long = Container::new("true", &[])
            .hostname(&"h".repeat(65))
            .output();
        assert!(matches!(long, Err(Error::InvalidArgument(_))), "{long:?}");
        let relative = Container::new("true", &[]).current_dir("tmp").output();
        assert!(
            matches!(relative, Err(Error::InvalidArgument(_))),
            "{relative:?}"
        );
    }
}
