//! Everything the container's processes need, made before `clone` so that
//! they need not allocate: the argument and environment vectors, the
//! candidates `execvp` would try, and the file system as a *plan*, a list
//! of mount-table steps ([`Op`]) that the init carries out in order.
//!
//! The plan builds the new root the way bubblewrap does. The init mounts a
//! staging tmpfs on `/tmp` and `pivot_root`s into it, with the host's root
//! moved to `/oldroot`, where no later mount can hide a source. It mounts
//! a second tmpfs on `/newroot` and builds the container's tree in it:
//! read-only binds of `/oldroot/usr` and the other system directories, a
//! fresh `/proc`, a `/dev` with five device nodes bound from the host, an
//! empty `/tmp`, the caller's binds; then it makes `/newroot` itself
//! read-only, detaches `/oldroot`, and `pivot_root`s into `/newroot`,
//! detaching the staging tmpfs. Nothing of the host's tree is left in the
//! container's mount table but what was bound.

use std::ffi::{c_char, CString, OsStr, OsString};
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::libc;

use super::limits::Rlimit;
use super::{Bind, Container};
use crate::error::{Error, Result};

/// The shell that runs a file the kernel cannot execute (no `#!` line), as
/// `execvp` does: `_PATH_BSHELL`.
const SHELL: &str = "/bin/sh";

/// Where `execvp` looks when `PATH` is unset (glibc's `_CS_PATH`).
const DEFAULT_PATH: &[u8] = b"/bin:/usr/bin";

/// The host's directories bound read-only into every container, where
/// they exist; a symbolic link (`/bin -> usr/bin`) is recreated as one.
pub(crate) const SYSTEM_DIRS: [&str; 6] = ["/usr", "/bin", "/sbin", "/lib", "/lib64", "/etc"];

/// What of `/proc` is bound read-only inside, where it exists: the
/// kernel's settings and triggers (Docker's `readonlyPaths`).
const PROC_READ_ONLY: [&str; 5] = ["sys", "sysrq-trigger", "irq", "bus", "fs"];

/// What of `/proc` is masked with `/dev/null`, where it exists (Docker's
/// `maskedPaths`): the host's memory, keys and timers.
const PROC_MASKED: [&str; 5] = [
    "kcore",
    "keys",
    "timer_list",
    "sched_debug",
    "latency_stats",
];

/// The device nodes bound from the host's `/dev`.
pub(crate) const DEVICES: [&str; 5] = ["null", "zero", "full", "random", "urandom"];

/// Where the staging tmpfs is mounted, and what it holds.
const STAGE: &str = "/tmp";
const NEW_ROOT: &str = "/newroot";
const OLD_ROOT: &str = "/oldroot";

/// One step of building the container's file system: a system call and
/// its arguments, all prepared before the clone.
#[derive(Debug)]
pub(crate) enum Op {
    /// `mount(source, target, fstype, flags, data)`.
    Mount {
        source: CString,
        target: CString,
        fstype: Option<CString>,
        flags: libc::c_ulong,
        data: Option<CString>,
    },
    /// `mkdir(path, 0755)`; a path that exists already is fine.
    Mkdir(CString),
    /// Creates an empty file to bind a file onto; an existing one is fine.
    Touch(CString),
    /// `symlink(target, link)`.
    Symlink { target: CString, link: CString },
    /// Makes the mount at `path` read-only, and every mount below it if
    /// `recursive` (`mount_setattr(2)`, Linux 5.12; before that a remount
    /// of the top mount only, keeping its locked flags).
    ReadOnly { path: CString, recursive: bool },
    /// Adds `nosuid` and `nodev` to the mount at `path` and every mount
    /// below it (`mount_setattr(2)`; before Linux 5.12 a remount of the
    /// top mount only).
    NoSuid(CString),
    /// `pivot_root(new_root, put_old)`.
    PivotRoot { new_root: CString, put_old: CString },
    /// `umount2(path, MNT_DETACH)`.
    Detach(CString),
    /// `chdir(path)`.
    Chdir(CString),
}

/// The plan and, step by step, what each step does (for the error that
/// names a failing one).
#[derive(Debug, Default)]
pub(crate) struct Plan {
    pub(crate) ops: Vec<Op>,
    pub(crate) what: Vec<String>,
}

impl Plan {
    fn push(&mut self, op: Op, what: impl Into<String>) {
        self.ops.push(op);
        self.what.push(what.into());
    }

    fn mount(
        &mut self,
        source: &str,
        target: &str,
        fstype: Option<&str>,
        flags: libc::c_ulong,
        data: Option<&str>,
        what: String,
    ) -> Result<()> {
        let op = Op::Mount {
            source: c_path(source)?,
            target: c_path(target)?,
            fstype: fstype.map(c_path).transpose()?,
            flags,
            data: data.map(c_path).transpose()?,
        };
        self.push(op, what);
        Ok(())
    }

    fn mkdir(&mut self, path: &str) -> Result<()> {
        self.push(Op::Mkdir(c_path(path)?), format!("creating {path}"));
        Ok(())
    }

    fn read_only(&mut self, path: &str, recursive: bool, what: &str) -> Result<()> {
        let op = Op::ReadOnly {
            path: c_path(path)?,
            recursive,
        };
        self.push(op, format!("making {what} read-only"));
        Ok(())
    }

    /// Binds the host's `host` (a path the caller can see) on `inside`,
    /// creating the mount point and its parents first.
    fn bind(&mut self, host: &Path, inside: &Path, writable: bool) -> Result<()> {
        let mut parent = PathBuf::from(NEW_ROOT);
        let mut components = inside.components().skip(1).peekable();
        while let Some(component) = components.next() {
            parent.push(component);
            let path = text(&parent)?;
            if components.peek().is_some() || host.is_dir() {
                self.mkdir(path)?;
            } else {
                let what = format!("creating {path} to bind a file on");
                self.push(Op::Touch(c_path(path)?), what);
            }
        }
        let source = format!("{OLD_ROOT}{}", text(host)?);
        let target = text(&parent)?.to_owned();
        let mode = if writable { "read-write" } else { "read-only" };
        let what = format!(
            "bind-mounting the host's {} on {} ({mode})",
            host.display(),
            inside.display()
        );
        // nosuid and nodev, as bubblewrap binds: a set-uid file or a
        // device node in a shared directory gives nothing inside.
        let flags = libc::MS_BIND | libc::MS_REC | libc::MS_NOSUID | libc::MS_NODEV;
        self.mount(&source, &target, None, flags, None, what)?;
        let inside = inside.display().to_string();
        let what = format!("making {inside} nosuid and nodev");
        self.push(Op::NoSuid(c_path(&target)?), what);
        if !writable {
            self.read_only(&target, true, &inside)?;
        }
        Ok(())
    }
}

/// The container's file system, as a plan: see the module's docs. `/tmp`
/// holds at most `tmp_size` bytes if given (the memory limit: without a
/// memory cgroup, nothing else bounds what a tmpfs holds).
fn file_system(binds: &[Bind], tmp_size: Option<u64>) -> Result<Plan> {
    let mut plan = Plan::default();
    let (nosuid, nodev, noexec) = (libc::MS_NOSUID, libc::MS_NODEV, libc::MS_NOEXEC);
    plan.mount(
        "tmpfs",
        STAGE,
        Some("tmpfs"),
        nosuid | nodev,
        Some("mode=0755"),
        format!("mounting the staging tmpfs on {STAGE}"),
    )?;
    plan.mkdir(&format!("{STAGE}{NEW_ROOT}"))?;
    plan.mkdir(&format!("{STAGE}{OLD_ROOT}"))?;
    plan.push(
        Op::PivotRoot {
            new_root: c_path(STAGE)?,
            put_old: c_path(&format!("{STAGE}{OLD_ROOT}"))?,
        },
        format!("moving into the staging tmpfs (pivot_root, the host's root on {OLD_ROOT})"),
    );
    plan.push(Op::Chdir(c_path("/")?), "changing to the staging root");
    plan.mount(
        "tmpfs",
        NEW_ROOT,
        Some("tmpfs"),
        nosuid | nodev,
        Some("mode=0755"),
        "mounting the new root (a tmpfs)".to_owned(),
    )?;
    for dir in SYSTEM_DIRS {
        let target = format!("{NEW_ROOT}{dir}");
        let Ok(meta) = std::fs::symlink_metadata(dir) else {
            continue;
        };
        if meta.file_type().is_symlink() {
            let link = std::fs::read_link(dir).map_err(|source| Error::Isolation {
                step: format!("reading the symbolic link {dir}"),
                source,
            })?;
            let what = format!("recreating the symbolic link {dir} -> {}", link.display());
            let op = Op::Symlink {
                target: c_path(text(&link)?)?,
                link: c_path(&target)?,
            };
            plan.push(op, what);
        } else if meta.is_dir() {
            plan.mkdir(&target)?;
            let what = format!("bind-mounting the host's {dir} (read-only)");
            let source = format!("{OLD_ROOT}{dir}");
            plan.mount(
                &source,
                &target,
                None,
                libc::MS_BIND | libc::MS_REC,
                None,
                what,
            )?;
            plan.read_only(&target, true, dir)?;
        }
    }
    let proc = format!("{NEW_ROOT}/proc");
    plan.mkdir(&proc)?;
    let flags = nosuid | nodev | noexec;
    plan.mount(
        "proc",
        &proc,
        Some("proc"),
        flags,
        None,
        "mounting a fresh /proc".to_owned(),
    )?;
    // As Docker does: what of /proc reaches the host's kernel settings
    // read-only, what shows the host's memory or keys masked. (The
    // command cannot mount another /proc: the PID namespace belongs to
    // the init's user namespace, not to its nested one.)
    for path in PROC_READ_ONLY {
        if Path::new(&format!("/proc/{path}")).exists() {
            let target = format!("{proc}/{path}");
            let what = format!("binding /proc/{path} on itself");
            let flags = libc::MS_BIND | libc::MS_REC;
            plan.mount(&target, &target, None, flags, None, what)?;
            plan.read_only(&target, true, &format!("/proc/{path}"))?;
        }
    }
    for path in PROC_MASKED {
        if Path::new(&format!("/proc/{path}")).is_file() {
            let target = format!("{proc}/{path}");
            let what = format!("masking /proc/{path} with /dev/null");
            let source = format!("{OLD_ROOT}/dev/null");
            plan.mount(&source, &target, None, libc::MS_BIND, None, what)?;
        }
    }
    let dev = format!("{NEW_ROOT}/dev");
    plan.mkdir(&dev)?;
    let what = "mounting a tmpfs on /dev".to_owned();
    plan.mount(
        "tmpfs",
        &dev,
        Some("tmpfs"),
        nosuid | noexec,
        Some("mode=0755"),
        what,
    )?;
    for device in DEVICES {
        let target = format!("{dev}/{device}");
        let what = format!("creating /dev/{device} to bind the device on");
        plan.push(Op::Touch(c_path(&target)?), what);
        let what = format!("bind-mounting the host's /dev/{device}");
        let source = format!("{OLD_ROOT}/dev/{device}");
        plan.mount(&source, &target, None, libc::MS_BIND, None, what)?;
    }
    for (name, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        let op = Op::Symlink {
            target: c_path(target)?,
            link: c_path(&format!("{dev}/{name}"))?,
        };
        plan.push(op, format!("creating the symbolic link /dev/{name}"));
    }
    let tmp = format!("{NEW_ROOT}/tmp");
    plan.mkdir(&tmp)?;
    let what = "mounting an empty tmpfs on /tmp".to_owned();
    let data = match tmp_size {
        Some(bytes) => format!("mode=1777,size={bytes}"),
        None => "mode=1777".to_owned(),
    };
    plan.mount(
        "tmpfs",
        &tmp,
        Some("tmpfs"),
        nosuid | nodev,
        Some(&data),
        what,
    )?;
    for bind in binds {
        plan.bind(&bind.host, &bind.inside, bind.writable)?;
    }
    // After the binds, so that one may go below /dev.
    plan.read_only(&dev, false, "/dev")?;
    plan.read_only(NEW_ROOT, false, "the new root")?;
    let what = format!("detaching the host's root ({OLD_ROOT})");
    plan.push(Op::Detach(c_path(OLD_ROOT)?), what);
    plan.push(Op::Chdir(c_path(NEW_ROOT)?), "changing to the new root");
    let op = Op::PivotRoot {
        new_root: c_path(".")?,
        put_old: c_path(".")?,
    };
    plan.push(op, "moving into the new root (pivot_root)");
    plan.push(Op::Detach(c_path(".")?), "detaching the staging tmpfs");
    plan.push(Op::Chdir(c_path("/")?), "changing to /");
    Ok(plan)
}

/// A path for the plan: UTF-8 (every path ptm makes is; a bind's is
/// checked in [`check_binds`]) and without NUL.
fn c_path(path: &str) -> Result<CString> {
    CString::new(path)
        .map_err(|_| Error::InvalidArgument(format!("path {path:?} contains a NUL byte")))
}

/// `path` as UTF-8, or an error that names it.
fn text(path: &Path) -> Result<&str> {
    path.to_str()
        .ok_or_else(|| Error::InvalidArgument(format!("path {path:?} is not UTF-8")))
}

/// The binds with their host paths resolved (symbolic links followed, as
/// `mount` would), checked before anything starts: the host path must
/// exist and be UTF-8; the path inside must be absolute, below `/`, and
/// plain (no `.` or `..`).
pub(crate) fn check_binds(binds: &[Bind]) -> Result<Vec<Bind>> {
    binds
        .iter()
        .map(|bind| {
            let inside = &bind.inside;
            let plain = inside
                .components()
                .skip(1)
                .all(|component| matches!(component, Component::Normal(_)));
            if !inside.is_absolute() || !plain || inside.components().count() < 2 {
                return Err(Error::InvalidArgument(format!(
                    "the path inside the container {} must be absolute, below /, \
                     without . or ..",
                    inside.display()
                )));
            }
            let host = bind
                .host
                .canonicalize()
                .map_err(|source| Error::Isolation {
                    step: format!(
                        "finding the host's {} to bind on {}",
                        bind.host.display(),
                        inside.display()
                    ),
                    source,
                })?;
            text(&host)?;
            text(inside)?;
            Ok(Bind {
                host,
                inside: inside.clone(),
                writable: bind.writable,
            })
        })
        .collect()
}

/// Everything the children use, made before `clone`.
#[derive(Debug)]
pub(crate) struct Prepared {
    /// The paths to try, in `execvp`'s order: the program itself if it
    /// contains a `/`, else each `PATH` entry joined with it.
    pub(crate) candidates: Vec<CString>,
    /// Keeps the strings `argv` points into alive.
    _args: Vec<CString>,
    /// `program, args..., NULL`, as `execve` wants it.
    pub(crate) argv: Vec<*const c_char>,
    /// `/bin/sh, <candidate>, args..., NULL` for a file the kernel cannot
    /// execute, as `execvp` runs it; slot 1 is set in the child. Made
    /// here because glibc's `execvp` builds it on the stack (one pointer
    /// per argument, with `alloca`), which overflows a small stack.
    pub(crate) sh_argv: Vec<*const c_char>,
    pub(crate) shell: CString,
    /// Keeps the strings `envp` points into alive.
    _env: Vec<CString>,
    /// The command's environment, `NULL`-ended.
    pub(crate) envp: Vec<*const c_char>,
    pub(crate) hostname: CString,
    pub(crate) root: CString,
    /// `/proc/self/setgroups`, `uid_map` and `gid_map` of the nested user
    /// namespace that locks the mounts, and what to write: its 0 is the
    /// outer 0.
    pub(crate) lock_maps: [(CString, CString); 3],
    /// Bring up loopback (a new network namespace).
    pub(crate) loopback: bool,
    pub(crate) plan: Plan,
    /// Set in the command before `exec`.
    pub(crate) rlimits: Vec<Rlimit>,
    /// The command's working directory, inside.
    pub(crate) current_dir: CString,
    /// Where the caller's command line is in its memory (`arg_start`,
    /// `arg_end` of `/proc/self/stat`), which the init, a copy, blanks:
    /// `/proc/1/cmdline` is readable even when the init is not dumpable.
    pub(crate) command_line: Option<(usize, usize)>,
    /// The init's name, for `/proc/1/status` and `comm`.
    pub(crate) init_name: CString,
    /// `/proc/self/mem`, through which the init blanks the command line.
    pub(crate) self_mem: CString,
}

impl Prepared {
    pub(crate) fn new(
        container: &Container,
        binds: &[Bind],
        rlimits: Vec<Rlimit>,
    ) -> Result<Prepared> {
        let c_string = |text: &[u8], what: &str| {
            CString::new(text).map_err(|_| {
                let text = String::from_utf8_lossy(text);
                Error::InvalidArgument(format!("{what} {text:?} contains a NUL byte"))
            })
        };
        if container.hostname.len() > 64 {
            return Err(Error::InvalidArgument(format!(
                "hostname {:?} is longer than 64 bytes",
                container.hostname
            )));
        }
        let dir = &container.current_dir;
        let plain = dir
            .components()
            .skip(1)
            .all(|component| matches!(component, Component::Normal(_)));
        if !dir.is_absolute() || !plain {
            return Err(Error::InvalidArgument(format!(
                "the container's current directory {} must be an absolute path inside it, \
                 without . or ..",
                dir.display()
            )));
        }
        let program = c_string(container.program.as_bytes(), "program")?;
        let mut args = vec![program];
        for arg in &container.args {
            args.push(c_string(arg.as_bytes(), "argument")?);
        }
        let mut argv: Vec<*const c_char> = args.iter().map(|arg| arg.as_ptr()).collect();
        argv.push(std::ptr::null());
        let shell = c_string(SHELL.as_bytes(), "path")?;
        let mut sh_argv = Vec::with_capacity(argv.len() + 2);
        sh_argv.extend([shell.as_ptr(), std::ptr::null()]);
        sh_argv.extend_from_slice(argv.get(1..).unwrap_or_default());
        let vars = environment(container);
        let path = vars
            .iter()
            .find(|(key, _)| key == "PATH")
            .map(|(_, value)| value.as_os_str());
        let candidates = candidates(container.program.as_bytes(), path)
            .into_iter()
            .map(|candidate| c_string(&candidate, "PATH entry"))
            .collect::<Result<Vec<_>>>()?;
        let mut env = Vec::with_capacity(vars.len());
        for (key, value) in vars {
            let mut entry = key.into_vec();
            entry.push(b'=');
            entry.extend_from_slice(value.as_bytes());
            env.push(c_string(&entry, "environment entry")?);
        }
        let mut envp: Vec<*const c_char> = env.iter().map(|entry| entry.as_ptr()).collect();
        envp.push(std::ptr::null());
        let map = |file: &str, line: &str| -> Result<(CString, CString)> {
            Ok((c_path(file)?, c_path(line)?))
        };
        let lock_maps = [
            map("/proc/self/setgroups", "deny")?,
            map("/proc/self/uid_map", "0 0 1\n")?,
            map("/proc/self/gid_map", "0 0 1\n")?,
        ];
        Ok(Prepared {
            candidates,
            _args: args,
            argv,
            sh_argv,
            shell,
            _env: env,
            envp,
            hostname: c_string(container.hostname.as_bytes(), "hostname")?,
            root: c_path("/")?,
            lock_maps,
            loopback: !container.share_network,
            plan: file_system(binds, container.memory_limit)?,
            rlimits,
            current_dir: c_string(dir.as_os_str().as_bytes(), "current directory")?,
            command_line: command_line_area(),
            init_name: c_path("ptm-init")?,
            self_mem: c_path("/proc/self/mem")?,
        })
    }
}

/// Where this process's command line is in its memory: fields 48 and 49
/// (`arg_start`, `arg_end`) of `/proc/self/stat`, if they can be read.
fn command_line_area() -> Option<(usize, usize)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace().skip(45);
    let start = fields.next()?.parse().ok()?;
    let end = fields.next()?.parse().ok()?;
    (start < end).then_some((start, end))
}

/// The command's environment, as `Command` builds it: the caller's (none
/// after `env_clear`), then each `env` in order, a later one replacing an
/// earlier one of the same name.
fn environment(container: &Container) -> Vec<(OsString, OsString)> {
    let mut vars: Vec<(OsString, OsString)> = if container.env_clear {
        Vec::new()
    } else {
        std::env::vars_os().collect()
    };
    for (key, value) in &container.env {
        vars.retain(|(existing, _)| existing != key);
        vars.push((key.clone(), value.clone()));
    }
    vars
}

/// Where `execvp` would try to execute `program`, in its order: nowhere
/// if it is empty (`ENOENT`), itself if it contains a `/`, else each entry
/// of `path` (or [`DEFAULT_PATH`]) joined with it, an empty entry meaning
/// the current directory.
pub(crate) fn candidates(program: &[u8], path: Option<&OsStr>) -> Vec<Vec<u8>> {
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

impl Op {
    /// Carries the step out: `Err(errno)` if it failed.
    ///
    /// # Safety
    ///
    /// Only in the cloned init (raw system calls on prepared strings; see
    /// [`init`](super::init::init)).
    pub(crate) unsafe fn run(&self) -> std::result::Result<(), i32> {
        let null = std::ptr::null::<c_char>();
        let optional = |text: &Option<CString>| text.as_ref().map_or(null, |text| text.as_ptr());
        // SAFETY: system calls given NUL-terminated strings made before
        // the clone, or null where the call allows it.
        let done = unsafe {
            match self {
                Op::Mount {
                    source,
                    target,
                    fstype,
                    flags,
                    data,
                } => {
                    libc::mount(
                        source.as_ptr(),
                        target.as_ptr(),
                        optional(fstype),
                        *flags,
                        optional(data).cast(),
                    ) == 0
                }
                Op::Mkdir(path) => {
                    libc::mkdir(path.as_ptr(), 0o755) == 0 || Errno::last_raw() == libc::EEXIST
                }
                Op::Touch(path) => {
                    let flags = libc::O_RDONLY | libc::O_CREAT | libc::O_CLOEXEC;
                    let fd = libc::open(path.as_ptr(), flags, 0o644);
                    fd >= 0 && libc::close(fd) == 0
                }
                Op::Symlink { target, link } => libc::symlink(target.as_ptr(), link.as_ptr()) == 0,
                Op::ReadOnly { path, recursive } => return read_only(path, *recursive),
                Op::NoSuid(path) => {
                    let set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
                    return match set_attr(path, set, true) {
                        Err(libc::ENOSYS) => remount(path, libc::MS_NOSUID | libc::MS_NODEV),
                        done => done,
                    };
                }
                Op::PivotRoot { new_root, put_old } => {
                    libc::syscall(libc::SYS_pivot_root, new_root.as_ptr(), put_old.as_ptr()) == 0
                }
                Op::Detach(path) => libc::umount2(path.as_ptr(), libc::MNT_DETACH) == 0,
                Op::Chdir(path) => libc::chdir(path.as_ptr()) == 0,
            }
        };
        if done {
            Ok(())
        } else {
            Err(Errno::last_raw())
        }
    }
}

/// `struct mount_attr` of `mount_setattr(2)`.
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

const MOUNT_ATTR_RDONLY: u64 = 0x1;
const MOUNT_ATTR_NOSUID: u64 = 0x2;
const MOUNT_ATTR_NODEV: u64 = 0x4;

/// `mount_setattr(AT_FDCWD, path, flags, {attr_set: set})`: sets `set`
/// on the mount at `path` (and below it if `recursive`).
///
/// # Safety
///
/// Only in the cloned init.
unsafe fn set_attr(path: &CString, set: u64, recursive: bool) -> std::result::Result<(), i32> {
    let attr = MountAttr {
        attr_set: set,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    let flags: libc::c_uint = if recursive {
        libc::AT_RECURSIVE as libc::c_uint
    } else {
        0
    };
    // SAFETY: a system call on a prepared path and a local structure.
    let done = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            path.as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if done == 0 {
        Ok(())
    } else {
        Err(Errno::last_raw())
    }
}

/// Makes the mount at `path` (and, if `recursive`, every mount below it)
/// read-only. Without `mount_setattr` (Linux before 5.12), remounts the top
/// mount read-only, keeping the flags the kernel locks in a user namespace
/// (`nosuid`, `nodev`, `noexec`, the atime flags: a remount that dropped
/// one would be refused with `EPERM`).
///
/// # Safety
///
/// Only in the cloned init.
unsafe fn read_only(path: &CString, recursive: bool) -> std::result::Result<(), i32> {
    // SAFETY: system calls on a prepared path and local structures.
    unsafe {
        match set_attr(path, MOUNT_ATTR_RDONLY, recursive) {
            Err(libc::ENOSYS) => {}
            done => return done,
        }
        remount(path, libc::MS_RDONLY)
    }
}

/// Remounts the bind at `path` (its top mount only) with `add` added to
/// the flags it has, keeping those the kernel locks in a user namespace
/// (`nosuid`, `nodev`, `noexec`, the atime flags: a remount that dropped
/// one would be refused with `EPERM`): what `mount_setattr` does, for
/// kernels before 5.12.
///
/// # Safety
///
/// Only in the cloned init.
unsafe fn remount(path: &CString, add: libc::c_ulong) -> std::result::Result<(), i32> {
    // SAFETY: system calls on a prepared path and a local structure.
    unsafe {
        // glibc's `statvfs` is `statfs(2)` and a conversion on every
        // kernel that reports mount flags (2.6.36 on, `ST_VALID`).
        let mut fs: libc::statvfs = std::mem::zeroed();
        if libc::statvfs(path.as_ptr(), &mut fs) != 0 {
            return Err(Errno::last_raw());
        }
        let kept = [
            (libc::ST_RDONLY, libc::MS_RDONLY),
            (libc::ST_NOSUID, libc::MS_NOSUID),
            (libc::ST_NODEV, libc::MS_NODEV),
            (libc::ST_NOEXEC, libc::MS_NOEXEC),
            (libc::ST_NOATIME, libc::MS_NOATIME),
            (libc::ST_NODIRATIME, libc::MS_NODIRATIME),
            (libc::ST_RELATIME, libc::MS_RELATIME),
        ]
        .iter()
        .filter(|(st, _)| fs.f_flag & st != 0)
        .fold(0, |flags, (_, ms)| flags | ms);
        let flags = libc::MS_REMOUNT | libc::MS_BIND | add | kept;
        let null = std::ptr::null::<c_char>();
        if libc::mount(null, path.as_ptr(), null, flags, std::ptr::null()) == 0 {
            Ok(())
        } else {
            Err(Errno::last_raw())
        }
    }
}

/// The error for a step of the plan that failed with `errno`.
pub(crate) fn plan_failure(what: &str, errno: i32) -> Error {
    Error::Isolation {
        step: what.to_owned(),
        source: io::Error::from_raw_os_error(errno),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    /// A path inside must be absolute and plain; a missing host path is
    /// an error that names it, before anything starts.
    #[test]
    fn binds_are_checked_before_anything_starts() {
        let bind = |host: &str, inside: &str| Bind {
            host: host.into(),
            inside: inside.into(),
            writable: false,
        };
        for inside in ["data", "/", "/a/../b", "./b"] {
            let checked = check_binds(&[bind("/usr", inside)]);
            assert!(
                matches!(checked, Err(Error::InvalidArgument(_))),
                "{inside}: {checked:?}"
            );
        }
        match check_binds(&[bind("/no/such/ptm/dir", "/data")]) {
            Err(Error::Isolation { step, source }) => {
                assert_eq!(source.kind(), io::ErrorKind::NotFound);
                assert!(
                    step.contains("/no/such/ptm/dir") && step.contains("/data"),
                    "{step}"
                );
            }
            other => panic!("expected Error::Isolation, got {other:?}"),
        }
        let ok = check_binds(&[bind("/usr/../usr", "/host/usr")]).expect("/usr exists");
        assert_eq!(ok[0].host, Path::new("/usr"));
    }

    /// The plan binds every system directory that exists, keeps symbolic
    /// links as links, detaches the host's root and ends in the new root.
    #[test]
    fn the_plan_builds_a_root_of_its_own() {
        let plan = file_system(&[], None).expect("a plan");
        let what = plan.what.join("\n");
        for dir in SYSTEM_DIRS {
            match std::fs::symlink_metadata(dir) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    assert!(what.contains(&format!("symbolic link {dir} ->")), "{what}")
                }
                Ok(_) => assert!(
                    what.contains(&format!("host's {dir} (read-only)")),
                    "{what}"
                ),
                Err(_) => assert!(!what.contains(&format!("{dir} ")), "{what}"),
            }
        }
        assert!(what.contains("detaching the host's root"), "{what}");
        assert!(matches!(plan.ops.last(), Some(Op::Chdir(path)) if path.as_bytes() == b"/"));
    }

    #[test]
    fn later_env_entries_replace_earlier_ones() {
        let container = Container::new("true", &[])
            .env_clear()
            .env("A", "1")
            .env("B", "2")
            .env("A", "3");
        let vars = environment(&container);
        assert_eq!(vars, [("B".into(), "2".into()), ("A".into(), "3".into())]);
    }
}
