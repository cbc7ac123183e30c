//! How a [`Container`]'s limits are enforced: with a cgroup where the
//! caller can make one, else with rlimits, else not at all, which is an
//! error.
//!
//! | limit | cgroup (v2, or v1 per controller) | rlimit fallback |
//! |---|---|---|
//! | `memory_limit` | `memory.max` / `memory.limit_in_bytes`: the whole container; past it the OOM killer kills | `RLIMIT_AS`, per process: an allocation past it fails |
//! | `max_processes` | `pids.max`: the whole container; a `fork` past it fails | `RLIMIT_NPROC` (counted per user namespace); refused for uid 0, which it does not bind |
//! | `cpu_time_limit` | `cpu.stat` / `cpuacct.usage`, watched by the caller every 10 ms: the whole container is killed | `RLIMIT_CPU`, per process, in whole seconds: SIGXCPU |
//!
//! A cgroup is made named `ptm-<pid>-<n>`: on cgroup v2 below the
//! caller's own cgroup, or beside it, where that cgroup or its parent
//! delegates the controller (its `cgroup.subtree_control` lists it, as a
//! delegated user subtree's does) and the caller may write there; on
//! cgroup v1 below the caller's own cgroup in the controller's hierarchy
//! where it is mounted and the caller may create a directory in it (in
//! practice, root). The caller moves the init into it before the init
//! goes on, so every process of the container is counted. It is removed
//! after the init is reaped; a caller killed before that leaves it behind
//! (empty). A cgroup made beside the caller's is outside the caller's own
//! limits (a caller under a `MemoryMax` can start containers outside it):
//! its limit is the container's alone.
//!
//! The limits are written to that cgroup, and the container's processes
//! go into one below it, `container`, which is also the root of the
//! container's cgroup namespace: a command that mounts the cgroup file
//! system (run by root, it owns the files) sees and may rewrite only the
//! inner cgroup in the hierarchies of its limits, while the limits above
//! it bound it all the same. In the other hierarchies (those of limits
//! not set, and `cpu`, `freezer`, `cpuset`, ... here) its cgroup namespace
//! is rooted at the caller's own cgroup, which such a command may rewrite:
//! run by root, containers are not isolated from the cgroups.
//!
//! On cgroup v1 an OOM kill is counted in the victim's own cgroup only,
//! which a command may make below the inner one and remove after the
//! kill: the caller also listens for the outer cgroup's OOM
//! notifications (an eventfd registered in `cgroup.event_control`), which
//! the kernel sends wherever below the victim is.
//!
//! Only the cgroup v1 paths and the rlimits are exercised by ptm's tests:
//! the machine they run on has no delegated cgroup v2.

use std::fs::{self, File};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use nix::libc;
use nix::unistd::Pid;

use super::Container;
use crate::error::{Error, Result};

/// How often the caller reads a CPU-time cgroup's usage.
pub(crate) const CPU_TICK: Duration = Duration::from_millis(10);

/// How long removing a run's cgroups may take in all.
const REMOVE_GRACE: Duration = Duration::from_millis(100);

/// The cgroup below each of ptm's that holds the container's processes.
const INNER: &str = "container";

/// Names the cgroups of this process apart.
static NEXT: AtomicU64 = AtomicU64::new(0);

/// An rlimit the command sets on itself before `exec`, inherited by what
/// it starts: `(resource, soft, hard)`, and what it is for.
#[derive(Debug, Clone)]
pub(crate) struct Rlimit {
    pub(crate) resource: libc::c_int,
    pub(crate) value: libc::rlimit64,
    pub(crate) what: String,
}

/// The cgroup versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    V1,
    V2,
}

/// A cgroup ptm made, and the one below it ([`INNER`], made by
/// [`Enforcement::join`]) that the container's processes go into; both,
/// and whatever the command made below, removed on drop.
///
/// The limits are written to the outer cgroup, the processes put in the
/// inner one, whose cgroup namespace the container then gets. A command
/// that mounts the cgroup file system sees the inner cgroup as its root:
/// it may rewrite the inner one's files (run by root it owns them), but
/// the outer one's limits, which bound everything below them, are out of
/// its sight.
#[derive(Debug)]
struct Cgroup {
    /// Holds the limits and the counters read (`memory.oom_control`,
    /// `cpuacct.usage`: both count the whole hierarchy below).
    dir: PathBuf,
    version: Version,
}

impl Cgroup {
    fn write(&self, file: &str, value: &str) -> Result<()> {
        let path = self.dir.join(file);
        fs::write(&path, value).map_err(|source| Error::Isolation {
            step: format!("writing {value} to {}", path.display()),
            source,
        })
    }

    fn read(&self, file: &str) -> io::Result<String> {
        fs::read_to_string(self.dir.join(file))
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        // The deepest first: the command may have made cgroups below the
        // inner one (it is root in its namespaces), which must go before.
        // Bounded as a whole: a chain of cgroups it made too deep to
        // reach (past PATH_MAX) would otherwise be retried for each
        // directory above it; then the cgroup stays behind (empty).
        let deadline = Instant::now() + REMOVE_GRACE;
        for dir in tree(&self.dir) {
            remove(&dir, deadline);
        }
    }
}

/// Removes the cgroup `dir`. The last processes leave a cgroup a moment
/// after their parent has reaped them: retried until `deadline`.
fn remove(dir: &Path, deadline: Instant) {
    loop {
        match fs::remove_dir(dir) {
            Err(error) if error.raw_os_error() == Some(libc::EBUSY) => {
                if Instant::now() >= deadline {
                    return;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            _ => return,
        }
    }
}

/// The limits of one run, as enforced.
#[derive(Debug, Default)]
pub(crate) struct Enforcement {
    cgroups: Vec<Cgroup>,
    /// Where the memory cgroup counts OOM kills.
    memory: Option<usize>,
    /// Cgroup v1: an eventfd the kernel signals at every OOM in the outer
    /// memory cgroup, which a command cannot hide by removing the
    /// victim's cgroup (`cgroup.event_control` on `memory.oom_control`),
    /// and the `memory.oom_control` it listens on (kept open with it).
    oom_events: Option<(OwnedFd, File)>,
    /// Where the CPU-time cgroup counts usage, and the limit.
    cpu: Option<(usize, Duration)>,
    /// For the command.
    pub(crate) rlimits: Vec<Rlimit>,
    /// The CPU-time limit is an rlimit: SIGXCPU means it ended the command.
    pub(crate) cpu_by_rlimit: bool,
}

impl Enforcement {
    /// Decides and prepares how each limit of `container` is enforced.
    ///
    /// # Errors
    ///
    /// [`Error::Isolation`] if a limit cannot be enforced here, or its
    /// cgroup cannot be set up.
    pub(crate) fn new(container: &Container) -> Result<Enforcement> {
        let mut enforcement = Enforcement::default();
        let wanted = [
            ("memory", container.memory_limit.is_some()),
            ("pids", container.max_processes.is_some()),
            ("cpu", container.cpu_time_limit.is_some()),
        ];
        if wanted.iter().all(|(_, wanted)| !wanted) {
            return Ok(enforcement);
        }
        let own = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
        let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        // One cgroup per parent directory: every v2 controller shares one,
        // and so do v1 controllers mounted together (`cpu,cpuacct`).
        let mut made: Vec<(PathBuf, Option<usize>)> = Vec::new();
        for (controller, wanted) in wanted {
            if !wanted {
                continue;
            }
            let parent = match v2_parent(&own, &mounts, controller) {
                Some(parent) => Some((parent, Version::V2)),
                None => v1_parent(&own, &mounts, controller).map(|p| (p, Version::V1)),
            };
            let cgroup = parent.and_then(|(parent, version)| {
                if let Some((_, index)) = made.iter().find(|(p, _)| *p == parent) {
                    return *index;
                }
                let index = create(&parent, version).map(|cgroup| {
                    enforcement.cgroups.push(cgroup);
                    enforcement.cgroups.len() - 1
                });
                made.push((parent, index));
                index
            });
            enforcement.enforce(container, controller, cgroup)?;
        }
        Ok(enforcement)
    }

    /// Enforces the limit behind `controller` with the cgroup at `index`,
    /// or with an rlimit, or says why neither can.
    fn enforce(
        &mut self,
        container: &Container,
        controller: &str,
        index: Option<usize>,
    ) -> Result<()> {
        let cgroup = index.map(|index| &self.cgroups[index]);
        match controller {
            "memory" => {
                let bytes = container.memory_limit.unwrap_or(u64::MAX);
                let listener = match cgroup {
                    Some(cgroup) if cgroup.version == Version::V1 => Some(oom_listener(cgroup)?),
                    _ => None,
                };
                match cgroup {
                    Some(cgroup) if cgroup.version == Version::V2 => {
                        cgroup.write("memory.max", &bytes.to_string())?;
                        // Best effort: without swap accounting the file is
                        // missing, and there is no swap to escape into.
                        let _ = cgroup.write("memory.swap.max", "0");
                    }
                    Some(cgroup) => {
                        // Before Linux 5.11 a parent could leave its
                        // children out of its limit: the limit must bind
                        // the inner cgroup, so the outer one must count it.
                        let hierarchy = cgroup.read("memory.use_hierarchy");
                        if hierarchy.is_ok_and(|text| text.trim() == "0") {
                            cgroup.write("memory.use_hierarchy", "1")?;
                        }
                        cgroup.write("memory.limit_in_bytes", &bytes.to_string())?;
                        if cgroup.dir.join("memory.memsw.limit_in_bytes").exists() {
                            cgroup.write("memory.memsw.limit_in_bytes", &bytes.to_string())?;
                        }
                    }
                    None => self.rlimit(libc::RLIMIT_AS, bytes, bytes, "memory_limit (RLIMIT_AS)"),
                }
                self.memory = index;
                self.oom_events = listener;
            }
            "pids" => {
                // The init counts too.
                let n = container
                    .max_processes
                    .unwrap_or(u64::MAX)
                    .saturating_add(1);
                match cgroup {
                    Some(cgroup) => cgroup.write("pids.max", &n.to_string())?,
                    // SAFETY: `geteuid` cannot fail.
                    None if unsafe { libc::geteuid() } == 0 => {
                        return Err(unenforceable(
                            "max_processes",
                            "no pids cgroup could be made, and RLIMIT_NPROC does not bind \
                             uid 0 on the host",
                        ))
                    }
                    None => self.rlimit(libc::RLIMIT_NPROC, n, n, "max_processes (RLIMIT_NPROC)"),
                }
            }
            _ => {
                let limit = container.cpu_time_limit.unwrap_or(Duration::MAX);
                match index {
                    Some(index) => self.cpu = Some((index, limit)),
                    None => {
                        let seconds = limit.as_secs() + u64::from(limit.subsec_nanos() > 0);
                        let seconds = seconds.max(1);
                        let what = "cpu_time_limit (RLIMIT_CPU)";
                        self.rlimit(libc::RLIMIT_CPU, seconds, seconds + 1, what);
                        self.cpu_by_rlimit = true;
                    }
                }
            }
        }
        Ok(())
    }

    fn rlimit(&mut self, resource: libc::__rlimit_resource_t, soft: u64, hard: u64, what: &str) {
        self.rlimits.push(Rlimit {
            resource: resource as libc::c_int,
            value: libc::rlimit64 {
                rlim_cur: soft,
                rlim_max: hard,
            },
            what: what.to_owned(),
        });
    }

    /// Moves the init (host pid `init`) into every cgroup made, before it
    /// goes on: what it starts is then counted from the first process.
    ///
    /// # Errors
    ///
    /// [`Error::Isolation`] naming the cgroup.
    pub(crate) fn join(&self, init: Pid) -> Result<()> {
        for cgroup in &self.cgroups {
            let inner = cgroup.dir.join(INNER);
            fs::create_dir(&inner).map_err(|source| Error::Isolation {
                step: format!("creating the cgroup {}", inner.display()),
                source,
            })?;
            let procs = inner.join("cgroup.procs");
            fs::write(&procs, init.to_string()).map_err(|source| Error::Isolation {
                step: format!("moving the init into {}", procs.display()),
                source,
            })?;
        }
        Ok(())
    }

    /// Whether the CPU-time cgroup is watched (then the caller calls
    /// [`cpu_exceeded`](Enforcement::cpu_exceeded) every [`CPU_TICK`]).
    pub(crate) fn watches_cpu(&self) -> bool {
        self.cpu.is_some()
    }

    /// Whether the container has used more CPU time than its limit.
    ///
    /// # Errors
    ///
    /// The usage cannot be read.
    pub(crate) fn cpu_exceeded(&self) -> Result<bool> {
        let Some((index, limit)) = self.cpu else {
            return Ok(false);
        };
        let cgroup = &self.cgroups[index];
        let (file, used) = match cgroup.version {
            Version::V1 => {
                let text = cgroup.read("cpuacct.usage");
                let nanos = text.as_deref().ok().and_then(|t| t.trim().parse().ok());
                ("cpuacct.usage", nanos.map(Duration::from_nanos))
            }
            Version::V2 => {
                let text = cgroup.read("cpu.stat").unwrap_or_default();
                let micros = field(&text, "usage_usec");
                ("cpu.stat", micros.map(Duration::from_micros))
            }
        };
        let used = used.ok_or_else(|| Error::Isolation {
            step: format!("reading {}", cgroup.dir.join(file).display()),
            source: io::Error::other("no CPU usage in it"),
        })?;
        Ok(used > limit)
    }

    /// Whether the memory cgroup's OOM killer killed a process of it.
    pub(crate) fn oom_killed(&self) -> bool {
        let Some(index) = self.memory else {
            return false;
        };
        let cgroup = &self.cgroups[index];
        let kills = |dir: &Path, file: &str| {
            fs::read_to_string(dir.join(file))
                .ok()
                .and_then(|text| field(&text, "oom_kill"))
                .unwrap_or(0)
        };
        match cgroup.version {
            // Counted on the victim's own cgroup, which the command may
            // have made below the inner one (and removed since): the
            // eventfd, else every cgroup still below.
            Version::V1 => {
                self.oom_events
                    .as_ref()
                    .is_some_and(|(events, _)| signalled(events))
                    || tree(&cgroup.dir)
                        .iter()
                        .any(|dir| kills(dir, "memory.oom_control") > 0)
            }
            // Hierarchical: the outer cgroup counts what happened below.
            Version::V2 => kills(&cgroup.dir, "memory.events") > 0,
        }
    }
}

/// Registers an eventfd for the OOM notifications of the v1 memory cgroup
/// `cgroup` (the kernel's `cgroup.event_control` interface): it is
/// signalled at every OOM of the cgroup's limit, wherever the victim is.
fn oom_listener(cgroup: &Cgroup) -> Result<(OwnedFd, File)> {
    let failed = |step: String, source: io::Error| Error::Isolation { step, source };
    let control = cgroup.dir.join("memory.oom_control");
    let watched = File::open(&control)
        .map_err(|source| failed(format!("opening {}", control.display()), source))?;
    // SAFETY: `eventfd` takes two integers and returns a new descriptor
    // or -1.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    if fd < 0 {
        let source = io::Error::last_os_error();
        return Err(failed(
            "creating an eventfd for OOM notifications".to_owned(),
            source,
        ));
    }
    // SAFETY: a descriptor the kernel just opened for us, owned by nothing
    // else.
    let events = unsafe { OwnedFd::from_raw_fd(fd) };
    let line = format!("{} {}", events.as_raw_fd(), watched.as_raw_fd());
    cgroup.write("cgroup.event_control", &line)?;
    Ok((events, watched))
}

/// Whether the eventfd `events` has been signalled (non-blocking read).
fn signalled(events: &OwnedFd) -> bool {
    let mut count = [0u8; 8];
    // SAFETY: a read of 8 bytes into a local buffer from our descriptor.
    let read = unsafe { libc::read(events.as_raw_fd(), count.as_mut_ptr().cast(), count.len()) };
    read == 8 && u64::from_ne_bytes(count) > 0
}

/// `dir` and every directory below it, the deepest first.
fn tree(dir: &Path) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
                dirs.extend(tree(&entry.path()));
            }
        }
    }
    dirs.push(dir.to_owned());
    dirs
}

/// The value of `name` in a cgroup file of `name value` lines.
fn field(text: &str, name: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (key, value) = line.split_once(' ')?;
        (key == name).then(|| value.trim().parse().ok())?
    })
}

/// The error for a limit that cannot be enforced here.
fn unenforceable(limit: &str, why: &str) -> Error {
    Error::Isolation {
        step: format!("enforcing {limit}"),
        source: io::Error::new(io::ErrorKind::Unsupported, why.to_owned()),
    }
}

/// Makes `ptm-<pid>-<n>` below `parent`, or `None` if the caller may not.
fn create(parent: &Path, version: Version) -> Option<Cgroup> {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = parent.join(format!("ptm-{}-{n}", std::process::id()));
    fs::create_dir(&dir).ok()?;
    Some(Cgroup { dir, version })
}

/// Where a cgroup-v2 cgroup with `controller` can be made: the caller's
/// own cgroup if its `cgroup.subtree_control` lists the controller, else
/// its parent's (a sibling of the caller's cgroup: a cgroup that holds
/// processes cannot enable controllers for its children, the "no internal
/// processes" rule, so under `systemd-run --user -p Delegate=yes` it is
/// the parent that delegates).
fn v2_parent(own: &str, mounts: &str, controller: &str) -> Option<PathBuf> {
    let path = own.lines().find_map(|line| line.strip_prefix("0::"))?;
    let mount = mount_points(mounts, "cgroup2").next()?.0;
    let dir = join(&mount, path);
    let parent = dir.parent().filter(|parent| parent.starts_with(&mount));
    std::iter::once(dir.as_path())
        .chain(parent)
        .find(|dir| {
            fs::read_to_string(dir.join("cgroup.subtree_control"))
                .is_ok_and(|delegated| delegated.split_whitespace().any(|name| name == controller))
        })
        .map(Path::to_path_buf)
}

/// The caller's cgroup-v1 directory in the hierarchy of `controller`
/// (`cpuacct` for CPU time).
fn v1_parent(own: &str, mounts: &str, controller: &str) -> Option<PathBuf> {
    let controller = if controller == "cpu" {
        "cpuacct"
    } else {
        controller
    };
    let path = own.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        controllers
            .split(',')
            .any(|c| c == controller)
            .then_some(path)
    })?;
    let (mount, _) = mount_points(mounts, "cgroup")
        .find(|(_, options)| options.split(',').any(|o| o == controller))?;
    Some(join(&mount, path))
}

/// `mount` joined with the cgroup path `path` (absolute, from `/proc/self/cgroup`).
fn join(mount: &Path, path: &str) -> PathBuf {
    mount.join(path.trim_start_matches('/'))
}

/// The mount points of file systems of type `fstype` in `mountinfo`, with
/// their super options.
fn mount_points<'a>(
    mountinfo: &'a str,
    fstype: &'a str,
) -> impl Iterator<Item = (PathBuf, &'a str)> + 'a {
    mountinfo.lines().filter_map(move |line| {
        let (mount, fs) = line.split_once(" - ")?;
        let point = mount.split(' ').nth(4)?;
        let mut fs = fs.split(' ');
        let (kind, _, options) = (fs.next()?, fs.next()?, fs.next()?);
        (kind == fstype).then(|| (PathBuf::from(unescape(point)), options))
    })
}

/// A `mountinfo` path with its octal escapes (`\040` for a space) undone.
fn unescape(path: &str) -> String {
    let mut out = Vec::with_capacity(path.len());
    let bytes = path.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).and_then(|digits| {
            let text = std::str::from_utf8(digits).ok()?;
            u8::from_str_radix(text, 8).ok()
        });
        match (bytes[i], octal) {
            (b'\\', Some(byte)) => {
                out.push(byte);
                i += 4;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
30 24 0:26 / /sys/fs/cgroup/cpu rw,relatime shared:9 - cgroup cgroup rw,cpu
31 24 0:27 / /sys/fs/cgroup/cpuacct rw,relatime shared:10 - cgroup cgroup rw,cpuacct
33 24 0:29 / /sys/fs/cgroup/memory rw,relatime shared:12 - cgroup cgroup rw,memory
38 24 0:34 / /sys/fs/cgroup/unified rw,relatime shared:17 - cgroup2 cgroup2 rw
39 24 0:35 / /mnt/with\\040space rw - tmpfs tmpfs rw";

    const OWN: &str = "\
4:memory:/process_api/abc
2:cpuacct:/
0::/";

    #[test]
    fn v1_directories_follow_the_callers_own_cgroup() {
        assert_eq!(
            v1_parent(OWN, MOUNTINFO, "memory"),
            Some(PathBuf::from("/sys/fs/cgroup/memory/process_api/abc"))
        );
        assert_eq!(
            v1_parent(OWN, MOUNTINFO, "cpu"),
            Some(PathBuf::from("/sys/fs/cgroup/cpuacct"))
        );
        assert_eq!(v1_parent(OWN, MOUNTINFO, "pids"), None);
    }

    /// A delegated cgroup-v2 subtree: the caller's own cgroup holds
    /// processes, so its parent delegates, and the new cgroup is made
    /// beside it; a controller neither delegates is not offered.
    #[test]
    fn v2_cgroups_are_made_where_the_controller_is_delegated() {
        let root = tempfile::tempdir().expect("a fake cgroup2 mount");
        let scope = root.path().join("user/app/scope");
        fs::create_dir_all(&scope).expect("the caller's cgroup");
        fs::write(scope.join("cgroup.subtree_control"), "").expect("a file");
        let app = root.path().join("user/app");
        fs::write(app.join("cgroup.subtree_control"), "memory pids\n").expect("a file");
        let mountinfo = format!(
            "38 24 0:34 / {} rw,relatime - cgroup2 cgroup2 rw",
            root.path().display()
        );
        let own = "0::/user/app/scope";
        assert_eq!(v2_parent(own, &mountinfo, "memory"), Some(app.clone()));
        assert_eq!(v2_parent(own, &mountinfo, "cpu"), None);
        fs::write(scope.join("cgroup.subtree_control"), "cpu\n").expect("a file");
        assert_eq!(v2_parent(own, &mountinfo, "cpu"), Some(scope));
        assert_eq!(v2_parent("0::/", &mountinfo, "memory"), None);
    }

    #[test]
    fn mountinfo_paths_are_unescaped() {
        let points: Vec<_> = mount_points(MOUNTINFO, "tmpfs").map(|(p, _)| p).collect();
        assert_eq!(points, [PathBuf::from("/mnt/with space")]);
    }

    #[test]
    fn cgroup_counters_are_read_by_name() {
        let events = "low 0\nhigh 0\nmax 3\noom 1\noom_kill 2\n";
        assert_eq!(field(events, "oom_kill"), Some(2));
        assert_eq!(field(events, "oom"), Some(1));
        assert_eq!(
            field("usage_usec 1500\nuser_usec 1000\n", "usage_usec"),
            Some(1500)
        );
        assert_eq!(field(events, "missing"), None);
    }
}
