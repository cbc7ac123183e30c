//! What `ptm::isolate::Container` isolates, and its limits, checked from
//! the outside: rootless (the caller's ids mapped to 0), a file system of
//! its own, a network of its own, limits a hostile command cannot escape,
//! stdin, environment and directory as std's `Command` names them, and
//! nothing of it left once `output` returns. (Its init and set-up are in
//! `tests/isolate.rs`.)
//!
//! Run as root, [`every_test_passes_as_nobody`] runs the whole file again
//! as user `nobody` (uid 65534). On this machine (cgroup v1, nothing
//! delegated) root can make the cgroups and `nobody` cannot, so the limits
//! are checked through cgroups as root and through rlimits as `nobody`;
//! [`where_no_cgroup_can_be_made_rlimits_hold_and_max_processes_is_refused`]
//! checks the rlimit path as root too.
//!
//! Some tests run this test binary itself inside a container (bound
//! read-only at [`INSIDE_EXE`]), acting out the test named by
//! [`common::ROLE`]: for what a shell cannot do with coreutils (sockets,
//! an allocation that can fail).

use std::collections::BTreeMap;
use std::env;
use std::ffi::OsString;
use std::fs;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::linux::net::SocketAddrExt as _;
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::MetadataExt as _;
use std::os::unix::net::{SocketAddr as UnixAddr, UnixListener, UnixStream};
use std::os::unix::process::CommandExt as _;
use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use ptm::isolate::{Container, Limit};
use ptm::Error;

mod common;
use common::{acting_as, within};

/// Set in the re-run of this whole binary as user `nobody`.
const AS_NOBODY: &str = "PTM_CONTAINER_TEST_AS_NOBODY";

/// Where this test binary is bound inside a container that runs it.
const INSIDE_EXE: &str = "/ptm-test/container-tests";

/// The host's TCP port a run inside tries to reach.
const PORT: &str = "PTM_CONTAINER_TEST_PORT";

/// The host's abstract Unix socket a run inside tries to reach.
const ABSTRACT: &str = "PTM_CONTAINER_TEST_ABSTRACT";

/// The `sleep` argument a re-run's container runs, chosen by the parent.
const MARK: &str = "PTM_CONTAINER_TEST_MARK";

/// The system directories a container gets where the host has them.
const SYSTEM_DIRS: [&str; 6] = ["usr", "bin", "sbin", "lib", "lib64", "etc"];

// ---------------------------------------------------------------------
// Helpers

/// This process's effective uid.
fn euid() -> u32 {
    // SAFETY: `geteuid` has no preconditions and cannot fail.
    unsafe { nix::libc::geteuid() }
}

/// This process's effective gid.
fn egid() -> u32 {
    // SAFETY: `getegid` has no preconditions and cannot fail.
    unsafe { nix::libc::getegid() }
}

/// True for the caller root: it can make cgroups on this machine.
fn is_root() -> bool {
    euid() == 0
}

/// True (and says so) when this run is not root and `test` needs root to
/// stage what it checks.
fn needs_root(test: &str) -> bool {
    if is_root() {
        return false;
    }
    println!("{test}: checked as root only (its set-up needs root)");
    true
}

/// `sh -c script` in a container.
fn sh(script: &str) -> Container {
    Container::new("sh", &["-c", script])
}

/// Runs `container`, bounded by [`within`].
fn result(what: &str, container: Container) -> ptm::Result<Output> {
    within(what, move || container.output())
}

/// Runs a command that would leave a mark in a bound directory, changed by
/// `configure` so that it must be refused, and asserts that it never
/// started (no mark); returns what `output` returned.
fn refused_before_start(
    what: &str,
    configure: impl FnOnce(Container) -> Container,
) -> ptm::Result<Output> {
    let marker = tempfile::tempdir().expect("a marker directory");
    let container = sh("true > /marker/started").bind_rw(marker.path(), "/marker");
    let result = result(what, configure(container));
    assert!(
        !marker.path().join("started").exists(),
        "{what}: the command ran ({result:?})"
    );
    result
}

/// Runs `container`, which must start and succeed; its stdout as text.
fn run_ok(what: &str, container: Container) -> String {
    let out = match result(what, container) {
        Ok(out) => out,
        Err(error) => panic!("{what}: {error} ({error:?})"),
    };
    assert!(
        out.status.success(),
        "{what}: {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// The command line of `sleep mark`, as the host's `/proc` has it.
fn sleeping(mark: &str) -> String {
    format!("sleep\0{mark}\0")
}

/// A `sleep` argument no other process on the host has: `seconds` (far
/// beyond any bound of a test) and this process's id as the fraction.
fn sleep_mark(seconds: u32) -> String {
    format!("{seconds}.{}", std::process::id())
}

/// The host's processes whose command line holds `mark`, with their
/// state letters. (A zombie's command line is empty: a zombie is not
/// found, but a zombie runs nothing.)
fn processes_with(mark: &str) -> Vec<(u32, char)> {
    let mark = mark.as_bytes();
    let entries = fs::read_dir("/proc").expect("the host's /proc");
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|cmdline| cmdline.windows(mark.len()).any(|w| w == mark))
        })
        .filter_map(|pid| {
            let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let state = stat.rsplit_once(')')?.1.trim_start().chars().next()?;
            Some((pid, state))
        })
        .collect()
}

/// No process on the host runs with `mark` in its command line, right
/// after `output` returned (`after` says how the container ended).
fn assert_none_left(mark: &str, after: &str) {
    let left = processes_with(mark);
    assert!(
        left.is_empty(),
        "left on the host after {after}: {left:?} (pid, state) with `{mark}`"
    );
}

/// A thread that counts, every few milliseconds, the host's processes
/// with each mark in their command line, keeping the largest count seen.
struct Watch {
    stop: Arc<AtomicBool>,
    thread: thread::JoinHandle<Vec<usize>>,
}

impl Watch {
    fn start(marks: &[&str]) -> Watch {
        let marks: Vec<String> = marks.iter().map(|&mark| mark.to_owned()).collect();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = thread::spawn(move || {
            let mut peaks = vec![0; marks.len()];
            while !stopped.load(Ordering::Relaxed) {
                for (peak, mark) in peaks.iter_mut().zip(&marks) {
                    *peak = (*peak).max(processes_with(mark).len());
                }
                thread::sleep(Duration::from_millis(2));
            }
            peaks
        });
        Watch { stop, thread }
    }

    /// The largest count seen for each mark.
    fn peaks(self) -> Vec<usize> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("the watching thread")
    }
}

/// This test binary run inside a container as the test `test` (bound
/// read-only at [`INSIDE_EXE`], [`common::ROLE`] set to `test`).
fn this_binary_inside(test: &str) -> Container {
    let exe = env::current_exe().expect("the test binary knows its path");
    Container::new(
        INSIDE_EXE,
        &["--exact", test, "--nocapture", "--test-threads=1"],
    )
    .bind_ro(exe, INSIDE_EXE)
    .env(common::ROLE, test)
}

/// What a run of this binary inside printed after `inside: `, a line
/// each (the test harness may print the test's name before the first).
fn inside_lines(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        .filter_map(|line| Some(line.split_once("inside: ")?.1))
        .collect()
}

/// The descriptors open in this process (probed, so that looking opens
/// none).
fn open_fds() -> Vec<i32> {
    // SAFETY: `F_GETFD` on a number only reads that descriptor's flags.
    (0..1024)
        .filter(|&fd| unsafe { nix::libc::fcntl(fd, nix::libc::F_GETFD) } >= 0)
        .collect()
}

/// The interface names of a `/proc/net/dev` listing.
fn interfaces(net_dev: &str) -> Vec<String> {
    let mut names: Vec<String> = net_dev
        .lines()
        .skip(2)
        .filter_map(|line| Some(line.split_once(':')?.0.trim().to_owned()))
        .collect();
    names.sort();
    names
}

/// A bind target for a host path that does not exist.
fn missing_host_path() -> PathBuf {
    PathBuf::from(format!(
        "/nonexistent-ptm-container-test-{}",
        std::process::id()
    ))
}

// ---------------------------------------------------------------------
// 1. Rootless

/// Every test of this file passes for an unprivileged user too: the whole
/// binary re-run as user `nobody` (uid 65534), who can make user
/// namespaces but, on this machine, no cgroup.
#[test]
fn every_test_passes_as_nobody() {
    let name = "every_test_passes_as_nobody";
    if !is_root() || env::var_os(AS_NOBODY).is_some() || env::var_os(common::ROLE).is_some() {
        println!("{name}: needs root to become nobody");
        return;
    }
    common::assert_passes_as_nobody(name, AS_NOBODY);
}

/// Inside, the command is root (uid and gid 0), and its user namespace
/// maps one id each. (The command's own namespace is nested in the one
/// that maps the caller's ids, to lock the mounts, so it reads `0 0 1`;
/// that its 0 is the caller's uid outside is checked by the owner of a
/// file it writes through `bind_rw`.)
#[test]
fn the_command_is_root_inside_mapped_from_the_callers_ids() {
    let out = run_ok(
        "id",
        sh("id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map"),
    );
    let lines: Vec<Vec<&str>> = out
        .lines()
        .map(|line| line.split_whitespace().collect())
        .collect();
    assert_eq!(
        lines,
        vec![
            vec!["0"],
            vec!["0"],
            vec!["0", "0", "1"],
            vec!["0", "0", "1"],
        ],
        "`id -u`, `id -g`, uid_map, gid_map inside"
    );
}

// ---------------------------------------------------------------------
// 2. Its own file system

/// The root holds the host's system directories that exist, `/proc`,
/// `/dev` and `/tmp`, and nothing else of the host (no `/root`, `/home`,
/// `/work`, ...).
#[test]
fn the_root_holds_only_the_system_directories_proc_dev_and_tmp() {
    let out = run_ok("ls -A /", Container::new("ls", &["-A", "/"]));
    let mut inside: Vec<&str> = out.lines().collect();
    inside.sort_unstable();
    let mut expected: Vec<&str> = SYSTEM_DIRS
        .into_iter()
        .filter(|dir| fs::symlink_metadata(Path::new("/").join(dir)).is_ok())
        .chain(["proc", "dev", "tmp"])
        .collect();
    expected.sort_unstable();
    assert_eq!(
        inside, expected,
        "the container's / (left) against what it should hold"
    );
}

/// A file the caller made in a host directory that is not bound, the
/// caller's own build directory and its source tree are not visible
/// inside.
#[test]
fn a_host_file_outside_the_binds_is_not_visible() {
    let dir = tempfile::tempdir().expect("a host temporary directory");
    let secret = dir.path().join("secret");
    fs::write(&secret, "host only\n").expect("the host file");
    let exe = env::current_exe().expect("this binary");
    let paths: Vec<PathBuf> = vec![
        secret,
        dir.path().to_owned(),
        exe.clone(),
        exe.parent().expect("the build directory").to_owned(),
        PathBuf::from(env!("CARGO_MANIFEST_DIR")),
    ];
    for path in &paths {
        assert!(path.exists(), "{} exists on the host", path.display());
    }
    let mut args = vec![
        "-c".to_owned(),
        r#"for p in "$@"; do if [ -e "$p" ]; then echo "visible: $p"; fi; done; echo end"#
            .to_owned(),
        "sh".to_owned(),
    ];
    args.extend(paths.iter().map(|path| path.display().to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run_ok("looking for host paths", Container::new("sh", &refs));
    assert_eq!(out, "end\n", "host paths seen inside");
}

/// The system directories are the host's (the same `/etc/passwd`), and
/// read-only: creating a file or a directory in `/`, `/usr`, `/etc`,
/// `/bin` or `/usr/bin` fails (and nothing appears on the host).
#[test]
fn the_system_directories_are_there_read_only() {
    let probe = format!("ptm-container-test-probe-{}", std::process::id());
    let script = format!(
        r#"cat /etc/passwd
        for d in / /usr /etc /bin /usr/bin; do
            if (true > "$d/{probe}") 2>/dev/null; then echo "wrote a file in $d"; fi
            if mkdir "$d/{probe}.d" 2>/dev/null; then echo "made a directory in $d"; fi
        done"#
    );
    let out = run_ok("writing in the system directories", sh(&script));
    let mut appeared = Vec::new();
    for dir in ["/", "/usr", "/etc", "/bin", "/usr/bin"] {
        for name in [probe.clone(), format!("{probe}.d")] {
            let path = Path::new(dir).join(name);
            if fs::symlink_metadata(&path).is_ok() {
                let _ = fs::remove_file(&path).or_else(|_| fs::remove_dir(&path));
                appeared.push(path);
            }
        }
    }
    let passwd = fs::read_to_string("/etc/passwd").expect("the host's /etc/passwd");
    let written = out.strip_prefix(passwd.as_str());
    assert_eq!(
        written,
        Some(""),
        "inside: /etc/passwd not the host's, or a write succeeded:\n{out}"
    );
    assert!(appeared.is_empty(), "appeared on the host: {appeared:?}");
}

/// A system directory that is a symbolic link on the host (`/bin ->
/// usr/bin` here) is the same link inside; one that is a directory is a
/// directory.
#[test]
fn a_system_directory_that_is_a_symlink_stays_one() {
    let script = r#"for d in /bin /sbin /lib /lib64; do
            if [ -L "$d" ]; then echo "$d link $(readlink "$d")"
            elif [ -d "$d" ]; then echo "$d directory"
            else echo "$d absent"; fi
        done"#;
    let out = run_ok("readlink", sh(script));
    let expected: String = ["/bin", "/sbin", "/lib", "/lib64"]
        .into_iter()
        .map(|dir| match fs::read_link(dir) {
            Ok(target) => format!("{dir} link {}\n", target.display()),
            Err(_) if Path::new(dir).is_dir() => format!("{dir} directory\n"),
            Err(_) => format!("{dir} absent\n"),
        })
        .collect();
    assert_eq!(out, expected, "inside (left) against the host (right)");
}

/// `/proc` is a fresh one: it lists the container's few processes, not
/// the host's (this test process among them).
#[test]
fn proc_is_fresh_and_lists_only_the_containers_processes() {
    let out = run_ok(
        "listing /proc",
        sh(r#"for p in /proc/[0-9]*; do echo "${p#/proc/}"; done; readlink /proc/self"#),
    );
    let pids: Vec<u32> = out
        .lines()
        .map(|line| line.parse().expect("a pid"))
        .collect();
    assert!(
        pids.iter().all(|&pid| pid < 10) && pids.contains(&1),
        "pids in the container's /proc: {pids:?}"
    );
}

/// `/dev` holds `null`, `zero`, `full`, `random` and `urandom` as
/// character devices that work (`/dev/null` takes writes, `/dev/zero`
/// reads zeros, `/dev/full` refuses writes), and no device of the host
/// beyond a terminal's (no disk, no `/dev/mem`, no `/dev/kmsg`).
#[test]
fn dev_holds_null_zero_full_random_and_urandom_only() {
    let script = r#"for d in null zero full random urandom; do
            [ -c "/dev/$d" ] || echo "no /dev/$d"
        done
        echo discarded > /dev/null || echo "/dev/null refused a write"
        echo "zero $(head -c 8 /dev/zero | od -An -tx1 | tr -d ' \n')"
        echo "urandom $(head -c 8 /dev/urandom | wc -c)"
        echo "random $(head -c 8 /dev/random | wc -c)"
        if (echo x > /dev/full) 2>/dev/null; then echo "/dev/full took a write"; fi
        for f in /dev/* /dev/*/*; do
            if [ -b "$f" ] || [ -c "$f" ]; then echo "node ${f#/dev/}"; fi
        done"#;
    let out = run_ok("using /dev", sh(script));
    let mut lines = out.lines();
    assert_eq!(
        lines.by_ref().take(3).collect::<Vec<_>>(),
        ["zero 0000000000000000", "urandom 8", "random 8"],
        "{out}"
    );
    let nodes: Vec<&str> = lines
        .map(|line| line.strip_prefix("node ").unwrap_or(line))
        .collect();
    for wanted in ["null", "zero", "full", "random", "urandom"] {
        assert!(nodes.contains(&wanted), "no /dev/{wanted}: {out}");
    }
    let allowed = [
        "null", "zero", "full", "random", "urandom", "tty", "ptmx", "console", "pts/ptmx",
    ];
    let extra: Vec<&&str> = nodes
        .iter()
        .filter(|node| !allowed.contains(node))
        .collect();
    assert!(extra.is_empty(), "devices of the host inside: {extra:?}");
}

/// `/tmp` is empty (not the host's, which holds a file of this test) and
/// writable, and what is written there does not reach the host's.
#[test]
fn tmp_is_empty_and_writable_and_not_the_hosts() {
    let host_file = tempfile::NamedTempFile::new_in("/tmp").expect("a file in the host's /tmp");
    let name = format!("ptm-container-test-tmp-{}", std::process::id());
    let script = format!(
        "ls -A /tmp; echo content > /tmp/{name}; cat /tmp/{name}; mkdir /tmp/{name}.d && echo made"
    );
    let out = run_ok("using /tmp", sh(&script));
    assert_eq!(
        out, "content\nmade\n",
        "/tmp inside was not empty or not writable"
    );
    assert!(host_file.path().exists());
    let leaked = Path::new("/tmp").join(&name);
    assert!(
        !leaked.exists(),
        "{} appeared on the host",
        leaked.display()
    );
}

/// `bind_ro` shares a host directory read-only (at a path whose parents
/// it makes): its files read the same; writing, creating and removing
/// fail; the host's directory is unchanged.
#[test]
fn bind_ro_shares_a_directory_read_only() {
    let dir = tempfile::tempdir().expect("a host directory");
    fs::write(dir.path().join("file"), "host data\n").expect("the host file");
    let script = r#"cat /mnt/ptm/ro/file
        if (echo changed > /mnt/ptm/ro/file) 2>/dev/null; then echo "wrote the file"; fi
        if (true > /mnt/ptm/ro/new) 2>/dev/null; then echo "made a file"; fi
        if mkdir /mnt/ptm/ro/dir 2>/dev/null; then echo "made a directory"; fi
        if rm -f /mnt/ptm/ro/file 2>/dev/null; then echo "removed the file"; fi"#;
    let out = run_ok(
        "a read-only bind",
        sh(script).bind_ro(dir.path(), "/mnt/ptm/ro"),
    );
    assert_eq!(out, "host data\n", "a read-only bind took a change");
    assert_eq!(
        fs::read_to_string(dir.path().join("file")).expect("the host file"),
        "host data\n"
    );
    let names: Vec<OsString> = fs::read_dir(dir.path())
        .expect("the host directory")
        .map(|entry| entry.expect("an entry").file_name())
        .collect();
    assert_eq!(names, ["file"], "the host directory changed");
}

/// A command that is root inside cannot make a read-only bind writable
/// again (`mount -o remount,bind,rw`) and write through it, nor remount a
/// system directory read-write: "writing outside /tmp fails" holds
/// against a hostile command, not only a polite one.
#[test]
fn a_read_only_bind_cannot_be_remounted_writable() {
    let dir = tempfile::tempdir().expect("a host directory");
    fs::write(dir.path().join("file"), "host data\n").expect("the host file");
    let script = r#"for d in /shared /usr /etc; do
            if mount -o remount,bind,rw "$d" 2>/dev/null; then echo "remounted $d read-write"; fi
        done
        if (echo escaped > /shared/file) 2>/dev/null; then echo "wrote the file"; fi
        if (true > /shared/escaped) 2>/dev/null; then echo "made a file"; fi
        true"#;
    let out = run_ok(
        "remounting a read-only bind",
        sh(script).bind_ro(dir.path(), "/shared"),
    );
    let host_file = fs::read_to_string(dir.path().join("file")).expect("the host file");
    let escaped = dir.path().join("escaped").exists();
    assert!(
        out.is_empty() && host_file == "host data\n" && !escaped,
        "inside: {out:?}; the host file now {host_file:?}, a new host file: {escaped}"
    );
}

/// `bind_rw` shares a host directory read-write: the host sees what the
/// command wrote, owned by the caller's own uid and gid (root inside is
/// the caller outside).
#[test]
fn bind_rw_shares_a_directory_read_write() {
    let dir = tempfile::tempdir().expect("a host directory");
    fs::write(dir.path().join("file"), "host data\n").expect("the host file");
    let script = r#"cat /data/file
        echo from-inside > /data/new
        echo appended >> /data/file
        mkdir /data/sub && echo deep > /data/sub/f"#;
    let out = run_ok("a read-write bind", sh(script).bind_rw(dir.path(), "/data"));
    assert_eq!(out, "host data\n");
    let read = |name: &str| fs::read_to_string(dir.path().join(name)).expect(name);
    assert_eq!(read("new"), "from-inside\n");
    assert_eq!(read("file"), "host data\nappended\n");
    assert_eq!(read("sub/f"), "deep\n");
    let meta = fs::metadata(dir.path().join("new")).expect("the new file");
    assert_eq!(
        (meta.uid(), meta.gid()),
        (euid(), egid()),
        "the owner of a file written inside"
    );
}

/// A single file can be bound: read-only (reads, refuses writes) and
/// read-write (the host sees the write).
#[test]
fn a_file_can_be_bound() {
    let dir = tempfile::tempdir().expect("a host directory");
    let input = dir.path().join("in.txt");
    let output = dir.path().join("out.txt");
    fs::write(&input, "read me\n").expect("the input file");
    fs::write(&output, "old\n").expect("the output file");
    let script = r#"cat /files/in.txt
        if (echo x > /files/in.txt) 2>/dev/null; then echo "wrote in.txt"; fi
        [ -f /files/in.txt ] && echo "a regular file"
        echo new > /files/out.txt"#;
    let out = run_ok(
        "file binds",
        sh(script)
            .bind_ro(&input, "/files/in.txt")
            .bind_rw(&output, "/files/out.txt"),
    );
    assert_eq!(out, "read me\na regular file\n");
    assert_eq!(fs::read_to_string(&input).expect("in.txt"), "read me\n");
    assert_eq!(fs::read_to_string(&output).expect("out.txt"), "new\n");
}

/// A bind (read-only or read-write) of a host path that does not exist is
/// `Error::Isolation` naming the path, kind `NotFound`, before anything
/// starts: the command, which would leave a mark in a directory bound
/// before it, never ran.
#[test]
fn a_missing_host_path_is_an_error_before_anything_starts() {
    let missing = missing_host_path();
    for writable in [false, true] {
        let result = refused_before_start("a missing host path", |container| {
            if writable {
                container.bind_rw(&missing, "/missing")
            } else {
                container.bind_ro(&missing, "/missing")
            }
        });
        match result {
            Err(error @ Error::Isolation { .. }) => {
                let message = error.to_string();
                assert!(
                    message.contains(&missing.display().to_string()),
                    "the path is not named: {message}"
                );
                let Error::Isolation { source, .. } = error else {
                    unreachable!()
                };
                assert_eq!(source.kind(), io::ErrorKind::NotFound, "{message}");
            }
            other => panic!("writable {writable}: expected Error::Isolation, got {other:?}"),
        }
    }
}

/// A bind target that is not an absolute, plain path (relative, or with
/// `..`) is refused (`Error::InvalidArgument`) before anything starts.
#[test]
fn a_relative_bind_target_is_refused() {
    let shared = tempfile::tempdir().expect("a host directory");
    for target in ["shared", "./shared", "/shared/../etc"] {
        let result = refused_before_start("a relative bind target", |container| {
            container.bind_ro(shared.path(), target)
        });
        match result {
            Err(Error::InvalidArgument(message)) => {
                assert!(message.contains(target), "{target}: {message}");
            }
            other => panic!("{target}: expected Error::InvalidArgument, got {other:?}"),
        }
    }
}

// ---------------------------------------------------------------------
// 3. Its own network

/// `/proc/net/dev` inside lists `lo` only.
#[test]
fn the_network_holds_only_lo() {
    let out = run_ok(
        "cat /proc/net/dev",
        Container::new("cat", &["/proc/net/dev"]),
    );
    assert_eq!(interfaces(&out), ["lo"], "{out}");
}

/// `lo` is up: a server inside listens on 127.0.0.1 and a client inside
/// connects to it and talks both ways.
#[test]
fn a_server_inside_listens_on_loopback_and_a_client_inside_connects() {
    let name = "a_server_inside_listens_on_loopback_and_a_client_inside_connects";
    if acting_as(name) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("listening on 127.0.0.1");
        let address = listener.local_addr().expect("the listener's address");
        let mut client = TcpStream::connect(address).expect("the client connects");
        let (mut server, _) = listener.accept().expect("the server accepts");
        client.write_all(b"ping").expect("the client writes");
        let mut got = [0; 4];
        server.read_exact(&mut got).expect("the server reads");
        server.write_all(b"pong").expect("the server writes");
        let mut reply = [0; 4];
        client.read_exact(&mut reply).expect("the client reads");
        println!(
            "inside: {} {}",
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&reply)
        );
        return;
    }
    let out = run_ok("a loopback server and client", this_binary_inside(name));
    assert_eq!(inside_lines(&out), ["ping pong"], "{out}");
}

/// Inside, tries what a host listener offers ([`PORT`] on 127.0.0.1, the
/// abstract Unix socket [`ABSTRACT`]) and an address off the host
/// (192.0.2.1, TEST-NET-1), and prints how each went.
fn try_to_reach_the_host() {
    let describe = |result: io::Result<()>| match result {
        Ok(()) => "connected".to_owned(),
        Err(error) => format!("failed: {:?}", error.kind()),
    };
    let port: u16 = env::var(PORT).expect(PORT).parse().expect("a port");
    let tcp = TcpStream::connect_timeout(
        &SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_secs(5),
    );
    println!("inside: tcp {}", describe(tcp.map(drop)));
    let name = env::var(ABSTRACT).expect(ABSTRACT);
    let unix = UnixAddr::from_abstract_name(name.as_bytes())
        .and_then(|address| UnixStream::connect_addr(&address));
    println!("inside: abstract {}", describe(unix.map(drop)));
    let far = TcpStream::connect_timeout(
        &SocketAddr::from(([192, 0, 2, 1], 80)),
        Duration::from_secs(2),
    );
    println!("inside: far {}", describe(far.map(drop)));
}

/// A TCP listener and an abstract Unix socket of the host, with a name.
struct HostListeners {
    tcp: TcpListener,
    unix: UnixListener,
    abstract_name: String,
}

impl HostListeners {
    fn open(tag: &str) -> HostListeners {
        let tcp = TcpListener::bind("127.0.0.1:0").expect("a host listener");
        let abstract_name = format!("ptm-container-test-{}-{tag}", std::process::id());
        let address = UnixAddr::from_abstract_name(abstract_name.as_bytes()).expect("a name");
        let unix = UnixListener::bind_addr(&address).expect("a host abstract socket");
        tcp.set_nonblocking(true).expect("non-blocking");
        unix.set_nonblocking(true).expect("non-blocking");
        HostListeners {
            tcp,
            unix,
            abstract_name,
        }
    }

    fn port(&self) -> String {
        self.tcp
            .local_addr()
            .expect("its address")
            .port()
            .to_string()
    }

    /// Whether a connection reached each listener: (TCP, Unix).
    fn reached(&self) -> (bool, bool) {
        (self.tcp.accept().is_ok(), self.unix.accept().is_ok())
    }
}

/// Nothing outside is reachable: a TCP listener on the host's 127.0.0.1
/// and an abstract Unix socket of the host (both per network namespace)
/// refuse the connection inside and see none; an address off the host
/// has no route.
#[test]
fn nothing_outside_is_reachable() {
    let name = "nothing_outside_is_reachable";
    if acting_as(name) {
        try_to_reach_the_host();
        return;
    }
    let host = HostListeners::open("own");
    let out = run_ok(
        "reaching the host",
        this_binary_inside(name)
            .env(PORT, host.port())
            .env(ABSTRACT, &host.abstract_name),
    );
    let lines = inside_lines(&out);
    assert_eq!(lines.len(), 3, "{out}");
    assert!(
        lines.iter().all(|line| line.contains(" failed: ")),
        "reached from inside: {lines:?}"
    );
    assert_eq!(
        host.reached(),
        (false, false),
        "a host listener was reached"
    );
}

/// `share_network` keeps the host's network: `/proc/net/dev` lists the
/// host's interfaces, and the host's listeners are reached.
#[test]
fn share_network_keeps_the_hosts_network() {
    let name = "share_network_keeps_the_hosts_network";
    if acting_as(name) {
        try_to_reach_the_host();
        return;
    }
    let out = run_ok(
        "/proc/net/dev, shared",
        Container::new("cat", &["/proc/net/dev"]).share_network(),
    );
    let host_dev = fs::read_to_string("/proc/net/dev").expect("the host's /proc/net/dev");
    assert_eq!(interfaces(&out), interfaces(&host_dev));
    let host = HostListeners::open("shared");
    let out = run_ok(
        "reaching the host, shared",
        this_binary_inside(name)
            .share_network()
            .env(PORT, host.port())
            .env(ABSTRACT, &host.abstract_name),
    );
    let lines = inside_lines(&out);
    assert_eq!(lines.len(), 3, "{out}");
    assert_eq!(lines[..2], ["tcp connected", "abstract connected"], "{out}");
    assert_eq!(host.reached(), (true, true), "a host listener saw nothing");
}

// ---------------------------------------------------------------------
// 4. Limits

/// At the deadline the whole container is killed: `Error::Timeout` with
/// what the command wrote before, and no process of it left, neither the
/// command's `sleep` nor one that left its session (`setsid`).
#[test]
fn at_the_timeout_the_whole_container_is_killed_with_what_it_wrote() {
    let (detached, waited) = (sleep_mark(301), sleep_mark(302));
    let script = format!(
        "echo before; echo err >&2; (setsid sleep {detached} &); sleep {waited}; echo after"
    );
    let watch = Watch::start(&[&sleeping(&detached), &sleeping(&waited)]);
    let result = result("a timeout", sh(&script).timeout(Duration::from_secs(2)));
    let peaks = watch.peaks();
    match result {
        Err(Error::Timeout { program, output }) => {
            assert!(
                program.starts_with("sh -c") && program.contains(&waited),
                "{program}"
            );
            assert_eq!(String::from_utf8_lossy(&output.stdout), "before\n");
            assert_eq!(String::from_utf8_lossy(&output.stderr), "err\n");
        }
        other => panic!("expected Error::Timeout, got {other:?}"),
    }
    assert_eq!(peaks, [1, 1], "the sleeps were not seen running");
    assert_none_left(&detached, "a timeout");
    assert_none_left(&waited, "a timeout");
}

/// The deadline holds for a command that closed its output (no end of
/// file tells the caller anything).
#[test]
fn the_timeout_holds_when_the_command_closed_its_output() {
    let mark = sleep_mark(303);
    let script = format!("exec >/dev/null 2>&1; sleep {mark}");
    match result(
        "a silent timeout",
        sh(&script).timeout(Duration::from_secs(1)),
    ) {
        Err(Error::Timeout { output, .. }) => {
            assert!(output.stdout.is_empty() && output.stderr.is_empty());
        }
        other => panic!("expected Error::Timeout, got {other:?}"),
    }
    assert_none_left(&mark, "a timeout");
}

/// A command that ends before its timeout is a plain success.
#[test]
fn a_command_that_ends_before_its_timeout_succeeds() {
    let out = run_ok(
        "a command within its timeout",
        sh("echo done").timeout(Duration::from_secs(20)),
    );
    assert_eq!(out, "done\n");
}

/// 64 MiB: well above what a shell, coreutils or this binary need to
/// start, well below what the tests allocate past it.
const MEMORY_LIMIT: u64 = 64 << 20;

/// Asserts that `result` is what the memory limit makes of a command that
/// allocates past it: as root (a memory cgroup) the OOM killer kills and
/// `Error::LimitExceeded` says [`Limit::Memory`]; elsewhere a cgroup may
/// hold too, else (`RLIMIT_AS`) the allocation fails inside and
/// `refused` says that the command saw it.
fn assert_stopped_by_the_memory_limit(
    result: ptm::Result<Output>,
    refused: impl Fn(&Output) -> bool,
) {
    match result {
        Err(Error::LimitExceeded { limit, output, .. }) => {
            assert_eq!(limit, Limit::Memory(MEMORY_LIMIT));
            assert!(!output.status.success(), "{}", output.status);
        }
        Ok(out) if !is_root() => assert!(
            refused(&out),
            "the allocation was not refused inside: {}\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        other => panic!(
            "as uid {}: expected Error::LimitExceeded with Limit::Memory, got {other:?}",
            euid()
        ),
    }
}

/// A command that allocates (and touches) four times its memory limit is
/// stopped and the caller can tell: as root the OOM killer kills it
/// (`Error::LimitExceeded`, `Limit::Memory`); as `nobody` the allocation
/// fails inside. (This binary, run inside, is the command.)
#[test]
fn past_the_memory_limit_the_allocation_fails_or_the_command_is_killed() {
    let name = "past_the_memory_limit_the_allocation_fails_or_the_command_is_killed";
    let size = 4 * MEMORY_LIMIT as usize;
    if acting_as(name) {
        let mut memory: Vec<u8> = Vec::new();
        match memory.try_reserve_exact(size) {
            Err(error) => println!("inside: allocation refused: {error}"),
            Ok(()) => {
                memory.resize(size, 1);
                println!("inside: allocated {} bytes", memory.len());
            }
        }
        return;
    }
    let result = result(
        "an allocation past the memory limit",
        this_binary_inside(name).memory_limit(MEMORY_LIMIT),
    );
    assert_stopped_by_the_memory_limit(result, |out| {
        let stdout = String::from_utf8_lossy(&out.stdout);
        inside_lines(&stdout)
            .first()
            .is_some_and(|line| line.starts_with("allocation refused"))
    });
}

/// The limit holds for a process the command starts, too (`tail` keeping
/// 200 MB of a pipe, under a shell), and nothing of the container is left
/// after it.
#[test]
fn a_process_the_command_starts_is_held_to_the_memory_limit() {
    let mark = sleep_mark(304);
    let script =
        format!("sleep {mark} & head -c 300000000 /dev/zero | tail -c 200000000 > /dev/null");
    let result = result(
        "a child past the memory limit",
        sh(&script).memory_limit(MEMORY_LIMIT),
    );
    assert_stopped_by_the_memory_limit(result, |out| {
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("memory exhausted")
    });
    assert_none_left(&mark, "the memory limit");
}

/// Under the memory limit, a command that stays within it runs (10 MB of
/// a pipe kept by `tail`): the limit is the one given, not smaller.
#[test]
fn within_the_memory_limit_a_command_runs() {
    let out = run_ok(
        "an allocation within the memory limit",
        sh("head -c 20000000 /dev/zero | tail -c 10000000 | wc -c").memory_limit(MEMORY_LIMIT),
    );
    assert_eq!(out.trim(), "10000000");
}

/// A fork bomb stops at `max_processes`: with n = 10, a shell (one)
/// starting `sleep`s from a second shell (two) gets exactly 8 of them
/// before a fork fails (the init, pid 1, not counted); then nothing of it
/// is left, and the host can still start a process. (The shell counts
/// with builtins only, every process but pid 1 and itself: a child may
/// not have become `sleep` yet.)
#[test]
fn fork_after_max_processes_fails() {
    let mark = sleep_mark(305);
    let script = format!(
        r#"sh -c 'i=0; while [ $i -lt 100 ]; do sleep {mark} & i=$((i + 1)); done' 2>/dev/null
        echo "inner $?"
        n=0
        for p in /proc/[0-9]*; do
            case "${{p#/proc/}}" in 1|$$) ;; *) n=$((n + 1)) ;; esac
        done
        echo "sleeps $n""#
    );
    let out = run_ok("many sleeps", sh(&script).max_processes(10));
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines.len() == 2 && lines[0] != "inner 0",
        "the inner shell did not fail to fork: {out}"
    );
    assert_eq!(
        lines[1], "sleeps 8",
        "with max_processes(10), two shells and 8 sleeps should run"
    );
    assert_none_left(&mark, "max_processes");
    let host = Command::new("true")
        .status()
        .expect("the host starts `true`");
    assert!(host.success());
}

/// A fork bomb under `max_processes(16)` (every process of it starts two
/// more, then blocks on a FIFO no one writes) never has more than 16
/// processes on the host at any time (fewer are seen running: one whose
/// fork failed exits, and stays a zombie its blocked parent never reaps),
/// and is gone after its timeout.
#[test]
fn a_fork_bomb_is_held_at_max_processes_and_leaves_nothing() {
    let mark = format!("ptm-fork-bomb-{}", std::process::id());
    // The top shell forks once, while nothing else runs, then blocks: were
    // it a forking `b` itself, a fork it lost to its own descendants under
    // load would end it ("Cannot fork", status 2) before the timeout.
    let script =
        format!("mkfifo /tmp/f; b() {{ b & b & read x < /tmp/f; }}; b & read x < /tmp/f # {mark}");
    let watch = Watch::start(&[&mark]);
    let result = result(
        "a fork bomb",
        sh(&script)
            .max_processes(16)
            .timeout(Duration::from_secs(2)),
    );
    let peak = watch.peaks()[0];
    println!("a fork bomb under max_processes(16): at most {peak} processes seen at once");
    match result {
        Err(Error::Timeout { .. }) => {}
        other => panic!("expected the fork bomb to run until its timeout, got {other:?}"),
    }
    assert!(
        (2..=16).contains(&peak),
        "at most {peak} processes of the bomb seen at once (16 allowed; it should have forked)"
    );
    assert_none_left(&mark, "a fork bomb");
    let host = Command::new("true")
        .status()
        .expect("the host starts `true`");
    assert!(host.success());
}

/// A busy loop is stopped by its CPU time limit: `Error::LimitExceeded`
/// with [`Limit::CpuTime`], and nothing of the container left.
#[test]
fn a_busy_loop_is_stopped_by_its_cpu_time_limit() {
    let mark = sleep_mark(306);
    let script = format!("sleep {mark} & while :; do :; done");
    let limit = Duration::from_secs(1);
    let result = result(
        "a busy loop",
        sh(&script)
            .cpu_time_limit(limit)
            .timeout(Duration::from_secs(25)),
    );
    match result {
        Err(Error::LimitExceeded {
            limit: Limit::CpuTime(got),
            ..
        }) => assert_eq!(got, limit),
        other => panic!("expected Error::LimitExceeded with Limit::CpuTime, got {other:?}"),
    }
    assert_none_left(&mark, "the CPU time limit");
}

/// With a cgroup (root here) the CPU time limit is the whole container's:
/// two busy children of a shell that only waits are stopped too. (With
/// `RLIMIT_CPU`, as `nobody`, it is each process's own, as the docs say.)
#[test]
fn the_cpu_time_limit_counts_the_whole_container() {
    if needs_root("the_cpu_time_limit_counts_the_whole_container") {
        return;
    }
    let result = result(
        "two busy children",
        sh("(while :; do :; done) & (while :; do :; done) & wait")
            .cpu_time_limit(Duration::from_secs(1))
            .timeout(Duration::from_secs(25)),
    );
    match result {
        Err(Error::LimitExceeded {
            limit: Limit::CpuTime(_),
            ..
        }) => {}
        other => panic!("expected Error::LimitExceeded with Limit::CpuTime, got {other:?}"),
    }
}

/// Where no cgroup can be made, the limits fall back to rlimits, or are
/// refused: staged as root in a re-run of this binary in a mount
/// namespace of its own with every cgroup file system unmounted
/// (`unshare --mount`, `umount -R /sys/fs/cgroup`; the host's stay). There
/// `memory_limit` holds by `RLIMIT_AS` (the allocation fails inside),
/// `cpu_time_limit` by `RLIMIT_CPU`, and `max_processes`, which
/// `RLIMIT_NPROC` cannot enforce for root, is `Error::Isolation` of kind
/// `Unsupported` before anything starts. (A limit that cannot be enforced
/// as `nobody`: none on this machine, where user namespaces are allowed.)
#[test]
fn where_no_cgroup_can_be_made_rlimits_hold_and_max_processes_is_refused() {
    let name = "where_no_cgroup_can_be_made_rlimits_hold_and_max_processes_is_refused";
    if acting_as(name) {
        assert!(
            fs::read_dir("/sys/fs/cgroup")
                .expect("/sys/fs/cgroup")
                .next()
                .is_none(),
            "cgroups still mounted"
        );
        let refused = refused_before_start("max_processes without cgroups", |container| {
            container.max_processes(10)
        });
        match refused {
            Err(Error::Isolation { step, source }) => {
                assert_eq!(
                    source.kind(),
                    io::ErrorKind::Unsupported,
                    "{step}: {source}"
                );
            }
            other => panic!("max_processes: expected Error::Isolation, got {other:?}"),
        }
        let out = sh("head -c 300000000 /dev/zero | tail -c 200000000 > /dev/null")
            .memory_limit(MEMORY_LIMIT)
            .output()
            .expect("the container runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && stderr.contains("memory exhausted"),
            "memory_limit: {}: {stderr}",
            out.status
        );
        match sh("while :; do :; done")
            .cpu_time_limit(Duration::from_secs(1))
            .timeout(Duration::from_secs(25))
            .output()
        {
            Err(Error::LimitExceeded {
                limit: Limit::CpuTime(_),
                ..
            }) => {}
            other => panic!("cpu_time_limit: expected Error::LimitExceeded, got {other:?}"),
        }
        println!("{}", common::DONE);
        return;
    }
    if needs_root(name) {
        return;
    }
    let exe = env::current_exe().expect("this binary");
    let output = common::within_for(
        "the re-run without cgroups",
        Duration::from_secs(120),
        move || {
            Command::new("unshare")
                .args(["--mount", "--propagation", "private", "--", "sh", "-c"])
                .arg(r#"umount -R /sys/fs/cgroup && exec "$0" "$@""#)
                .arg(exe)
                .args(["--exact", name, "--nocapture", "--test-threads=1"])
                .env(common::ROLE, name)
                .current_dir("/")
                .stdin(Stdio::null())
                .output()
                .expect("unshare starts")
        },
    );
    common::assert_rerun_done(name, &output);
}

// ---------------------------------------------------------------------
// 5. Input, environment, directory

/// `stdin(bytes)` reaches the command.
#[test]
fn stdin_reaches_the_command() {
    let out = run_ok("cat", Container::new("cat", &[]).stdin("hello\n"));
    assert_eq!(out, "hello\n");
}

/// 8 MB in, 8 MB out on stdout and on stderr at once: the caller reads
/// while it writes, so no pipe fills and stalls the command.
#[test]
fn a_large_stdin_and_output_do_not_deadlock() {
    let input: Vec<u8> = (0..8_000_000u32).map(|i| (i % 251) as u8).collect();
    let expected = input.clone();
    let out = within("8 MB through tee", move || {
        sh("tee /proc/self/fd/2").stdin(input).output()
    })
    .expect("the container runs");
    assert!(out.status.success(), "{}", out.status);
    assert!(
        out.stdout == expected,
        "stdout: {} bytes, not the input",
        out.stdout.len()
    );
    assert!(
        out.stderr == expected,
        "stderr: {} bytes, not the input",
        out.stderr.len()
    );
}

/// A command that never reads its stdin still ends, and its own status
/// is what `output` returns.
#[test]
fn a_command_that_does_not_read_its_stdin_still_ends() {
    let input = vec![b'x'; 8_000_000];
    let out = run_ok("8 MB to `true`", Container::new("true", &[]).stdin(input));
    assert_eq!(out, "");
}

/// By default the command gets the caller's environment, exactly.
#[test]
fn by_default_the_callers_environment_is_passed_on() {
    let out =
        within("env -0", || Container::new("env", &["-0"]).output()).expect("the container runs");
    assert!(out.status.success(), "{}", out.status);
    let inside: BTreeMap<OsString, OsString> = out
        .stdout
        .split(|&b| b == 0)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            let at = entry.iter().position(|&b| b == b'=').expect("name=value");
            (
                std::ffi::OsStr::from_bytes(&entry[..at]).to_owned(),
                std::ffi::OsStr::from_bytes(&entry[at + 1..]).to_owned(),
            )
        })
        .collect();
    let caller: BTreeMap<OsString, OsString> = env::vars_os().collect();
    assert_eq!(
        inside, caller,
        "the environment inside (left) and the caller's"
    );
}

/// `env(key, value)` is seen by the command, and a later call for the
/// same key wins.
#[test]
fn env_sets_a_variable_and_a_later_call_wins() {
    let out = run_ok(
        "env",
        sh(r#"printf '%s|%s' "$PTM_A" "$PTM_B""#)
            .env("PTM_A", "first")
            .env("PTM_B", "b value")
            .env("PTM_A", "second value"),
    );
    assert_eq!(out, "second value|b value");
}

/// `env_clear()` leaves only what `env()` sets after it (as with std's
/// `Command`, it drops what `env()` set before it too), and a `PATH` set
/// so is where the program is looked up.
#[test]
fn env_clear_leaves_only_what_env_sets() {
    let out = run_ok(
        "env_clear",
        Container::new("/usr/bin/env", &[])
            .env("PTM_BEFORE", "1")
            .env_clear()
            .env("PTM_AFTER", "2"),
    );
    assert_eq!(out, "PTM_AFTER=2\n");
    let out = run_ok(
        "env_clear with a PATH",
        Container::new("env", &[])
            .env_clear()
            .env("PATH", "/usr/bin"),
    );
    assert_eq!(out, "PATH=/usr/bin\n");
}

/// `current_dir` is a path inside the container: `/` by default, `/tmp`,
/// a bound directory (listing the host's files); a host path that does
/// not exist inside is an error and the command does not run there.
#[test]
fn current_dir_is_a_path_inside_the_container() {
    assert_eq!(run_ok("pwd", Container::new("pwd", &[])), "/\n");
    assert_eq!(
        run_ok(
            "pwd in /tmp",
            Container::new("pwd", &[]).current_dir("/tmp")
        ),
        "/tmp\n"
    );
    let dir = tempfile::tempdir().expect("a host directory");
    fs::write(dir.path().join("file"), "").expect("a host file");
    let out = run_ok(
        "pwd in a bind",
        sh("pwd; ls")
            .bind_ro(dir.path(), "/work-inside")
            .current_dir("/work-inside"),
    );
    assert_eq!(out, "/work-inside\nfile\n");
    let host_only = dir.path();
    let result = refused_before_start("a host directory as current_dir", |container| {
        container.current_dir(host_only)
    });
    assert!(
        result.is_err(),
        "ran in {} (absent inside): {result:?}",
        host_only.display()
    );
}

/// Asserts that `current_dir(dir)` is refused (`Error::InvalidArgument`
/// naming it) before anything starts.
fn assert_current_dir_refused(dir: &str) {
    let result = refused_before_start("a current_dir to refuse", |container| {
        container.current_dir(dir)
    });
    match result {
        Err(Error::InvalidArgument(message)) => {
            assert!(message.contains(dir), "{dir}: {message}");
        }
        other => panic!("{dir}: expected Error::InvalidArgument, got {other:?}"),
    }
}

/// A relative `current_dir` is refused before anything starts.
#[test]
fn a_relative_current_dir_is_refused() {
    assert_current_dir_refused("tmp");
    assert_current_dir_refused("./tmp");
}

/// A `current_dir` that is absolute but not plain (`..` in it) is refused
/// too, as `Container::output`'s docs say ("not absolute and plain").
#[test]
fn a_current_dir_with_dot_dot_is_refused() {
    assert_current_dir_refused("/tmp/../etc");
}

// ---------------------------------------------------------------------
// 5b. Nothing of the caller reaches it

/// The init is a copy of the caller's memory: the command can neither
/// read its environment, memory or executable through `/proc/1` nor
/// ptrace it (the init is not dumpable).
#[test]
fn the_init_cannot_be_read_nor_traced_by_the_command() {
    let out = result(
        "reading /proc/1",
        sh("for f in environ mem exe; do \
              if cat /proc/1/$f > /dev/null 2>&1; then echo $f readable; \
              else echo $f denied; fi; done"),
    )
    .expect("the container runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text, "environ denied\nmem denied\nexe denied\n", "{out:?}");
}

/// `/proc/1/cmdline` and `/proc/1/comm` (readable even when a process is
/// not dumpable) show the init's own name, not the caller's command line.
#[test]
fn the_init_shows_its_own_name_not_the_callers_command_line() {
    let out = run_ok(
        "the init's name",
        sh("tr -d '\\000' < /proc/1/cmdline; echo; cat /proc/1/comm"),
    );
    assert_eq!(out, "ptm-init\nptm-init\n");
}

/// The command line is blanked even where the caller made its page
/// read-only (the init writes through `/proc/self/mem`, as a debugger
/// does, rather than fault). Staged in a re-run of this binary, whose own
/// argv page is made read-only.
#[test]
fn a_read_only_command_line_is_blanked_too() {
    let name = "a_read_only_command_line_is_blanked_too";
    if !acting_as(name) {
        let output = common::within_for("the re-run", Duration::from_secs(60), move || {
            common::rerun(name)
                .current_dir("/")
                .output()
                .expect("the re-run starts")
        });
        common::assert_rerun_done(name, &output);
        return;
    }
    let stat = fs::read_to_string("/proc/self/stat").expect("this process's stat");
    let start: usize = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().nth(45)?.parse().ok())
        .expect("arg_start");
    // SAFETY: `sysconf` reads a constant; `mprotect` of the page that holds
    // this process's own argv strings, which nothing here writes.
    unsafe {
        let page = nix::libc::sysconf(nix::libc::_SC_PAGESIZE) as usize;
        let base = (start / page) * page;
        let done = nix::libc::mprotect(base as *mut _, page, nix::libc::PROT_READ);
        assert_eq!(done, 0, "{}", io::Error::last_os_error());
    }
    let out = run_ok("the init's name", sh("tr -d '\\000' < /proc/1/cmdline"));
    assert_eq!(out, "ptm-init");
    println!("{}", common::DONE);
}

/// The command runs in a session and process group of its own (the
/// init's, pid 1 inside), so `kill(0, ..)` inside reaches only the
/// container, and a caller in the same group as its container would have
/// been is not killed. Staged in a re-run of this binary that leads a
/// process group of its own, so that a regression kills only the re-run.
#[test]
fn kill_0_inside_reaches_only_the_container() {
    let name = "kill_0_inside_reaches_only_the_container";
    if !acting_as(name) {
        let output = common::within_for("the re-run", Duration::from_secs(60), move || {
            common::rerun(name)
                .current_dir("/")
                .process_group(0)
                .output()
                .expect("the re-run starts")
        });
        common::assert_rerun_done(name, &output);
        return;
    }
    let ids = run_ok("its session", sh("awk '{print $5, $6}' /proc/self/stat"));
    assert_eq!(ids, "1 1\n", "process group and session inside");
    let out = result("kill 0", sh("kill -s TERM 0; sleep 5")).expect("the container runs");
    assert_eq!(out.status.signal(), Some(nix::libc::SIGTERM), "{out:?}");
    println!("{}", common::DONE);
}

/// The command has a session keyring of its own, not the caller's (whose
/// keys would be its keys). Compared by serial: this binary inside asks
/// for its session keyring's.
#[test]
fn the_callers_session_keyring_is_not_the_commands() {
    let name = "the_callers_session_keyring_is_not_the_commands";
    // KEYCTL_GET_KEYRING_ID of KEY_SPEC_SESSION_KEYRING, created if need be.
    let session = || {
        // SAFETY: keyctl with integer arguments only.
        unsafe { nix::libc::syscall(nix::libc::SYS_keyctl, 0, -3, 1) }
    };
    if acting_as(name) {
        println!("inside: {}", session());
        return;
    }
    let ours = session();
    assert!(ours > 0, "the caller's session keyring: {ours}");
    let out = run_ok("the keyring inside", this_binary_inside(name));
    let inside = inside_lines(&out);
    assert_eq!(inside.len(), 1, "{out}");
    assert_ne!(
        inside[0],
        ours.to_string(),
        "the same session keyring inside"
    );
}

/// `/proc/sys` is read-only inside: a root caller's command would
/// otherwise be root over the host's kernel settings (writing back the
/// value it reads). (As `nobody` the write fails for lack of permission
/// anyway; this checks the mount.)
#[test]
fn proc_sys_is_read_only_inside() {
    let out = run_ok(
        "writing /proc/sys",
        sh("v=$(cat /proc/sys/kernel/core_pattern); \
            printf '%s\\n' \"$v\" > /proc/sys/kernel/core_pattern 2>&1; \
            grep ' /proc/sys ' /proc/self/mountinfo | cut -d' ' -f6"),
    );
    assert_eq!(
        out.lines().last(),
        Some("ro,nosuid,nodev,noexec,relatime"),
        "{out}"
    );
}

/// A bind is nosuid and nodev inside, as bubblewrap's are.
#[test]
fn binds_are_nosuid_and_nodev() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let out = run_ok(
        "the bind's flags",
        sh("grep ' /shared ' /proc/self/mountinfo | cut -d' ' -f6").bind_rw(dir.path(), "/shared"),
    );
    let flags: Vec<&str> = out.trim().split(',').collect();
    assert!(
        flags.contains(&"nosuid") && flags.contains(&"nodev"),
        "{out}"
    );
}

/// With a memory limit, `/tmp` (a tmpfs, which no rlimit bounds) holds at
/// most that much.
#[test]
fn tmp_is_sized_to_the_memory_limit() {
    let out = run_ok(
        "the /tmp mount",
        sh("grep ' /tmp ' /proc/self/mountinfo").memory_limit(MEMORY_LIMIT),
    );
    let size = format!("size={}k", MEMORY_LIMIT / 1024);
    assert!(out.contains(&size), "{size} not in {out}");
}

/// A directory can be bound below `/dev` (made read-only only after the
/// binds).
#[test]
fn a_directory_can_be_bound_below_dev() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    fs::write(dir.path().join("f"), "below dev").expect("a file");
    let out = run_ok(
        "a bind below /dev",
        Container::new("cat", &["/dev/shared/f"]).bind_ro(dir.path(), "/dev/shared"),
    );
    assert_eq!(out, "below dev");
}

/// Run by root, the command is the host's uid 0 and may mount the cgroup
/// file system (its cgroup namespace) and rewrite what it finds there:
/// the limits hold all the same, being set on a cgroup above its root.
/// Here it raises `memory.limit_in_bytes`, `pids.max` and resets
/// `cpuacct.usage` of what it sees, then goes past each limit.
#[test]
fn the_command_cannot_lift_its_cgroup_limits() {
    if needs_root("the_command_cannot_lift_its_cgroup_limits") {
        return;
    }
    let lift = |controller: &str, file: &str, value: &str| {
        format!(
            "mkdir /tmp/cg && mount -t cgroup -o {controller} none /tmp/cg \
             && echo {value} > /tmp/cg/{file} && echo lifted; "
        )
    };
    // The swap limit first: the memory limit may not exceed it.
    let memory = lift("memory", "memory.memsw.limit_in_bytes", "-1")
        + "echo -1 > /tmp/cg/memory.limit_in_bytes && echo lifted; \
           head -c 300000000 /dev/zero | tail -c 200000000 > /dev/null";
    let result = sh(&memory).memory_limit(MEMORY_LIMIT).output();
    // The lift itself happened (else this would test nothing).
    let stdout = |result: &ptm::Result<Output>| match result {
        Ok(out) | Err(Error::LimitExceeded { output: out, .. }) => {
            String::from_utf8_lossy(&out.stdout).into_owned()
        }
        _ => String::new(),
    };
    assert_eq!(stdout(&result), "lifted\nlifted\n", "{result:?}");
    assert_stopped_by_the_memory_limit(result, |_| false);
    let processes =
        lift("pids", "pids.max", "max") + "for i in $(seq 1 40); do sleep 30 & echo started; done";
    let out = sh(&processes)
        .max_processes(10)
        .output()
        .expect("a container");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("lifted\n"), "{text}");
    let started = text.matches("started").count();
    assert!(
        started < 10,
        "{started} sleeps started under max_processes(10)"
    );
    let cpu = lift("cpuacct", "cpuacct.usage", "0")
        + "(while :; do echo 0 > /tmp/cg/cpuacct.usage; sleep 0.05; done) & \
           while :; do :; done";
    let result = sh(&cpu)
        .cpu_time_limit(Duration::from_millis(500))
        .timeout(Duration::from_secs(20))
        .output();
    assert_eq!(stdout(&result), "lifted\n", "{result:?}");
    assert!(
        matches!(
            result,
            Err(Error::LimitExceeded {
                limit: Limit::CpuTime(_),
                ..
            })
        ),
        "{result:?}"
    );
}

/// An OOM kill under the memory limit is reported even when the command
/// hides it: it moves the allocating process into a memory cgroup of its
/// own below its root, and removes that cgroup after the kill (cgroup v1
/// counts the kill there only), then exits 0.
#[test]
fn an_oom_kill_the_command_hides_is_still_reported() {
    if needs_root("an_oom_kill_the_command_hides_is_still_reported") {
        return;
    }
    let script = "mkdir /tmp/cg && mount -t cgroup -o memory none /tmp/cg \
        && mkdir /tmp/cg/sub && echo moved; \
        sh -c 'echo $$ > /tmp/cg/sub/cgroup.procs; \
               head -c 300000000 /dev/zero | tail -c 200000000 > /dev/null'; \
        sleep 0.2; rmdir /tmp/cg/sub && echo removed; exit 0";
    let result = sh(script).memory_limit(MEMORY_LIMIT).output();
    match result {
        Err(Error::LimitExceeded { limit, output, .. }) => {
            assert_eq!(limit, Limit::Memory(MEMORY_LIMIT));
            let text = String::from_utf8_lossy(&output.stdout);
            assert_eq!(text, "moved\nremoved\n", "the hiding did not happen");
        }
        other => panic!("expected Error::LimitExceeded with Limit::Memory, got {other:?}"),
    }
}

/// The files of `/proc` that show the host's memory, keys or timers are
/// masked (empty inside).
#[test]
fn procs_host_wide_files_are_masked() {
    let out = run_ok(
        "the masked files",
        sh("for f in keys timer_list; do \
              [ -e /proc/$f ] && printf '%s %s\\n' $f $(wc -c < /proc/$f); done"),
    );
    for line in out.lines() {
        assert!(line.ends_with(" 0"), "not masked: {line} (in {out:?})");
    }
    assert!(out.contains("keys 0"), "{out}");
}

// ---------------------------------------------------------------------
// 6. Nothing outlives it

/// A background process that still holds the output pipes does not keep
/// `output` waiting once the command has exited, and is killed with the
/// container.
#[test]
fn a_background_process_does_not_outlive_the_command() {
    let mark = sleep_mark(307);
    let out = run_ok(
        "a background sleep",
        sh(&format!("sleep {mark} & echo done")),
    );
    assert_eq!(out, "done\n");
    assert_none_left(&mark, "a normal end");
}

/// The container dies with its caller: a re-run of this binary that runs
/// `sleep` in a container is killed (SIGKILL, no chance to clean up), and
/// the `sleep` goes too.
#[test]
fn a_container_dies_with_its_caller() {
    let name = "a_container_dies_with_its_caller";
    if acting_as(name) {
        let mark = env::var(MARK).expect(MARK);
        let result = Container::new("sleep", &[&mark]).output();
        panic!("the container ended before its caller was killed: {result:?}");
    }
    let mark = sleep_mark(308);
    let mut caller = common::rerun(name)
        .env(MARK, &mark)
        .current_dir("/")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the re-run starts");
    let started = Instant::now();
    while processes_with(&mark).is_empty() {
        if started.elapsed() > Duration::from_secs(20) {
            let _ = caller.kill();
            let _ = caller.wait();
            panic!("the re-run's container did not start");
        }
        thread::sleep(Duration::from_millis(5));
    }
    caller.kill().expect("the caller is killed");
    caller.wait().expect("the caller is reaped");
    let killed = Instant::now();
    loop {
        let live: Vec<(u32, char)> = processes_with(&mark)
            .into_iter()
            .filter(|&(_, state)| state != 'Z' && state != 'X')
            .collect();
        if live.is_empty() {
            break;
        }
        assert!(
            killed.elapsed() < Duration::from_secs(10),
            "alive 10 s after its caller was killed: {live:?}"
        );
        thread::sleep(Duration::from_millis(5));
    }
}

/// The caller holds the same descriptors before and after each run:
/// a success, a timeout, each limit, a refused bind, a missing program;
/// and no cgroup made for a run's limits is left behind.
/// Staged in a re-run of this binary in one thread, so that no other test
/// opens or closes any meanwhile.
#[test]
fn the_callers_descriptors_are_the_same_after_every_run() {
    let name = "the_callers_descriptors_are_the_same_after_every_run";
    if !acting_as(name) {
        let output = common::within_for("the serial re-run", Duration::from_secs(120), move || {
            common::rerun(name)
                .current_dir("/")
                .output()
                .expect("the re-run starts")
        });
        common::assert_rerun_done(name, &output);
        return;
    }
    let runs: Vec<(&str, Container)> = vec![
        ("a success", sh("cat; echo out; echo err >&2").stdin("in\n")),
        (
            "a timeout",
            sh("sleep 30").timeout(Duration::from_millis(500)),
        ),
        (
            "the CPU time limit",
            sh("while :; do :; done")
                .cpu_time_limit(Duration::from_secs(1))
                .timeout(Duration::from_secs(25)),
        ),
        (
            "the memory limit",
            sh("head -c 300000000 /dev/zero | tail -c 200000000 > /dev/null")
                .memory_limit(MEMORY_LIMIT),
        ),
        (
            "max_processes",
            sh("sh -c 'while :; do sleep 30 & done'").max_processes(5),
        ),
        (
            "a cgroup the command made below its own",
            sh("mkdir /tmp/cg && mount -t cgroup -o pids none /tmp/cg \
                && mkdir /tmp/cg/sub && echo $$ > /tmp/cg/sub/cgroup.procs \
                && grep -q /sub /proc/self/cgroup")
            .max_processes(5),
        ),
        (
            "a missing bind",
            Container::new("true", &[]).bind_ro(missing_host_path(), "/missing"),
        ),
        (
            "a missing program",
            Container::new("no-such-program-ptm", &[]),
        ),
        (
            "a relative directory",
            Container::new("true", &[]).current_dir("tmp"),
        ),
    ];
    for (what, container) in runs {
        let before = open_fds();
        let result = container.output();
        let after = open_fds();
        assert_eq!(
            after, before,
            "descriptors changed after {what}: {result:?}"
        );
        let left = our_cgroups(Path::new("/sys/fs/cgroup"), 6);
        assert!(left.is_empty(), "cgroups left after {what}: {left:?}");
        if what.starts_with("a cgroup the command made") && is_root() {
            // It did make one and move there (else this run tests nothing).
            let status = result.as_ref().map(|out| out.status.success());
            assert_eq!(status.ok(), Some(true), "{what}: {result:?}");
        }
    }
    println!("{}", common::DONE);
}

/// The cgroup directories this process's containers made (named
/// `ptm-<pid>-<n>`) that still exist below `dir`, `depth` levels down.
fn our_cgroups(dir: &Path, depth: usize) -> Vec<PathBuf> {
    let prefix = format!("ptm-{}-", std::process::id());
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if !entry.file_type().is_ok_and(|kind| kind.is_dir()) {
            continue;
        }
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            found.push(path);
        } else if depth > 0 {
            found.extend(our_cgroups(&path, depth - 1));
        }
    }
    found
}
