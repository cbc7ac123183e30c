//! Public behaviour of `ptm::isolate::Container`'s init and set-up: pid 1,
//! its own hostname, a `/proc` with only its own processes, orphans
//! reaped, every argument and descriptor as it should be, and errors that
//! name what failed. (What the container isolates, and its limits, are in
//! `tests/container.rs`.)
//!
//! The tests need user namespaces (a container is rootless). Run as root,
//! [`every_test_passes_as_nobody`] runs them all again as user `nobody`.

use std::env;
use std::process::{Command, Stdio};

use nix::libc;
use ptm::isolate::{Container, DEFAULT_HOSTNAME};
use ptm::Error;

mod common;
use common::within;

const ROLE: &str = "PTM_ISOLATE_TEST_ROLE";
const DONE: &str = "ptm-isolate-test-child-done";

/// Set in the re-run of this whole binary as user `nobody`
/// ([`every_test_passes_as_nobody`]).
const AS_NOBODY: &str = "PTM_ISOLATE_TEST_AS_NOBODY";

/// True when this is the re-run as `nobody`: a test that needs root to
/// set itself up says why it checks nothing there.
fn as_nobody(test: &str) -> bool {
    let nobody = env::var_os(AS_NOBODY).is_some();
    if nobody {
        println!("{test}: checked as root only (its set-up needs root)");
    }
    nobody
}

/// Runs `script` with `sh -c` in a container; its stdout as text.
fn run_in_container(script: &str, hostname: &str) -> String {
    let script = script.to_owned();
    let hostname = hostname.to_owned();
    let out = within("a container", move || {
        Container::new("sh", &["-c", &script])
            .hostname(&hostname)
            .output()
    })
    .expect("the container runs");
    assert!(
        out.status.success(),
        "sh in the container: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// The command's parent is pid 1 (the container's init) and the command
/// itself is pid 2: a new PID namespace, whatever pids the host uses.
#[test]
fn the_command_runs_under_pid_1() {
    let out = run_in_container("echo \"$$ $PPID\"", DEFAULT_HOSTNAME);
    assert_eq!(out, "2 1\n");
}

/// The container has its own hostname, and the host's does not change.
#[test]
fn the_hostname_is_the_containers_own() {
    let host_before =
        std::fs::read_to_string("/proc/sys/kernel/hostname").expect("the host's hostname");
    let out = run_in_container("hostname", "ptm-test-box");
    assert_eq!(out, "ptm-test-box\n");
    let host_after =
        std::fs::read_to_string("/proc/sys/kernel/hostname").expect("the host's hostname");
    assert_eq!(host_before, host_after, "the host's hostname changed");
    assert_ne!(host_after.trim(), "ptm-test-box");
}

/// A fresh `/proc`: it lists the container's processes only (pid 1, the
/// shell, and the shell's own children), not the host's, and the host's
/// `/proc` is untouched (still lists this test process).
#[test]
fn proc_lists_only_the_containers_processes() {
    let out = run_in_container(
        "for p in /proc/[0-9]*; do echo \"${p#/proc/}\"; done",
        DEFAULT_HOSTNAME,
    );
    let pids: Vec<u32> = out
        .lines()
        .map(|line| line.parse().expect("a pid"))
        .collect();
    assert!(pids.contains(&1) && pids.contains(&2), "{pids:?}");
    assert!(
        pids.iter().all(|&pid| pid <= 4),
        "host processes visible: {pids:?}"
    );
    let ours = format!("/proc/{}", std::process::id());
    assert!(
        std::path::Path::new(&ours).exists(),
        "the host's /proc changed"
    );
}

/// An orphan inside the container (a background child of a shell that has
/// exited) is re-parented to pid 1, and the init reaps it when it exits:
/// the command waits until the orphan's entry is gone from `/proc`, which
/// a zombie would keep forever.
#[test]
fn orphans_are_reaped_by_the_init() {
    let script = r#"
        orphan=$(sh -c 'true & echo $!')
        i=0
        while [ -e "/proc/$orphan" ] && [ $i -lt 500 ]; do
            i=$((i + 1)); sleep 0.01
        done
        if [ -e "/proc/$orphan" ]; then
            echo "orphan $orphan left: $(grep State /proc/$orphan/status)"
        else
            echo reaped
        fi
    "#;
    let out = run_in_container(script, DEFAULT_HOSTNAME);
    assert_eq!(out, "reaped\n");
}

/// The command's exit status is passed through exactly: an exit code, and
/// a death by signal.
#[test]
fn the_commands_status_is_passed_through() {
    use std::os::unix::process::ExitStatusExt;
    let out = within("exit 3", || {
        Container::new("sh", &["-c", "echo partial; exit 3"]).output()
    })
    .expect("the container runs");
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(out.stdout, b"partial\n");
    let out = within("kill -KILL $$", || {
        Container::new("sh", &["-c", "echo err >&2; kill -KILL $$"]).output()
    })
    .expect("the container runs");
    assert_eq!(out.status.signal(), Some(9));
    assert_eq!(out.stderr, b"err\n");
}

/// A program that does not exist is `Error::Spawn` naming it, `NotFound`.
#[test]
fn a_missing_program_is_a_spawn_error() {
    match within("a missing program", || {
        Container::new("no-such-program-xyz", &[]).output()
    }) {
        Err(Error::Spawn { program, source }) => {
            assert_eq!(program, "no-such-program-xyz");
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        }
        other => panic!("expected Error::Spawn, got {other:?}"),
    }
}

/// Where the kernel refuses user namespaces, the error says so and names
/// the setting. Staged in a re-run of this binary in a user namespace of
/// its own (`unshare --user --map-root-user`) whose
/// `user.max_user_namespaces` is set to 0: the setting is per user
/// namespace, so the host's stays as it was.
#[test]
fn where_user_namespaces_are_refused_the_error_names_the_setting() {
    let name = "where_user_namespaces_are_refused_the_error_names_the_setting";
    if env::var_os(ROLE).is_none() {
        let exe = env::current_exe().expect("this binary");
        rerun_with(
            Command::new("unshare"),
            name,
            "no-user-namespaces",
            |command| {
                command.args(["--user", "--map-root-user", "--"]).arg(exe);
            },
        );
        return;
    }
    std::fs::write("/proc/sys/user/max_user_namespaces", "0")
        .expect("user.max_user_namespaces set to 0 in this namespace");
    match Container::new("true", &[]).output() {
        Err(Error::Isolation { step, source }) => {
            assert_eq!(source.kind(), std::io::ErrorKind::PermissionDenied);
            let message = Error::Isolation { step, source }.to_string();
            assert!(
                message.contains("user.max_user_namespaces = 0"),
                "{message}"
            );
            println!("{message}");
        }
        other => panic!("expected Error::Isolation, got {other:?}"),
    }
    println!("{DONE}");
}

/// Every test of this file passes for an unprivileged user too: the whole
/// binary re-run as user `nobody` (uid 65534), which may make user
/// namespaces but no cgroup, and cannot write to this build's files.
#[test]
fn every_test_passes_as_nobody() {
    let name = "every_test_passes_as_nobody";
    // SAFETY: `geteuid` has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 || env::var_os(AS_NOBODY).is_some() {
        println!("{name}: needs root to become nobody");
        return;
    }
    common::assert_passes_as_nobody(name, AS_NOBODY);
}

/// Re-runs this binary for the one test `name` with [`ROLE`] set to
/// `role` (the test's own process, for what must not touch the others:
/// limits, odd descriptors, a huge mapping), set up further by
/// `configure`, and checks that it passed and printed [`DONE`].
fn rerun(name: &str, role: &str, configure: impl FnOnce(&mut Command)) {
    let command = Command::new(env::current_exe().expect("this binary"));
    rerun_with(command, name, role, configure);
}

/// [`rerun`] through `command` (which `configure` gives the binary to),
/// e.g. `unshare`.
fn rerun_with(mut command: Command, name: &str, role: &str, configure: impl FnOnce(&mut Command)) {
    configure(&mut command);
    command
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(ROLE, role)
        .current_dir("/")
        .stdin(Stdio::null());
    let output = command.output().expect("the re-run starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains(DONE),
        "re-run as {role}: {}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Processes of this host whose process group is `group`, with their state
/// letter (`Z` for a zombie), from the host's `/proc`.
fn group_members(group: u32) -> Vec<(u32, char)> {
    let entries = std::fs::read_dir("/proc").expect("/proc");
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let mut fields = stat.rsplit_once(')')?.1.split_whitespace();
            let state = fields.next()?.chars().next()?;
            let pgrp: u32 = fields.nth(1)?.parse().ok()?;
            (pgrp == group).then_some((pid, state))
        })
        .collect()
}

/// Starts `unshare --pid --fork --mount-proc sh -c 'sleep 1000 & sleep
/// 1000; wait'` under `manager`: a shell that is pid 1 of its own PID
/// namespace with two sleeps inside. Returns the group id once all four
/// (unshare, sh, two sleeps) are running.
fn spawn_namespaced_sleeps(manager: &mut ptm::process::ProcessManager) -> u32 {
    let group = manager
        .spawn(
            "unshare",
            &[
                "--pid",
                "--fork",
                "--mount-proc",
                "sh",
                "-c",
                "sleep 1000 & sleep 1000; wait",
            ],
        )
        .expect("unshare starts");
    let started = std::time::Instant::now();
    while group_members(group).len() < 4 {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "the namespace did not start: {:?}",
            group_members(group)
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    group
}

/// Waits (bounded) until no process of `group` is alive. Zombies do not
/// count: the namespace's processes are not our children, and once their
/// parents died with them, reaping them falls to the host's init, as for
/// any orphan. A signal is acted on when its target next runs, hence the
/// polling: /proc is all there is to watch for processes that are not ours.
fn assert_no_live_members(group: u32, after: &str) {
    let started = std::time::Instant::now();
    loop {
        let live: Vec<(u32, char)> = group_members(group)
            .into_iter()
            .filter(|&(_, state)| state != 'Z' && state != 'X')
            .collect();
        if live.is_empty() {
            return;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "alive after {after}: {live:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

/// `kill_all` and `terminate_all` still end everything when a child runs
/// its own PID namespace (its init, sh, ignores SIGTERM from outside, as
/// every pid 1 does without a handler): no process of the group is left
/// alive.
#[test]
fn kill_all_and_terminate_all_reach_into_pid_namespaces() {
    if as_nobody("kill_all_and_terminate_all_reach_into_pid_namespaces") {
        return;
    }
    use ptm::process::ProcessManager;
    use std::time::Duration;

    let mut manager = ProcessManager::new();
    let group = spawn_namespaced_sleeps(&mut manager);
    let (mut manager, reports) = within("kill_all", move || {
        let reports = manager.kill_all();
        (manager, reports)
    });
    assert_eq!(reports.len(), 1);
    assert!(reports[0].status.is_ok(), "{:?}", reports[0]);
    assert_no_live_members(group, "kill_all");

    let group = spawn_namespaced_sleeps(&mut manager);
    let reports = within("terminate_all", move || {
        manager.terminate_all(Duration::from_millis(300))
    });
    assert_eq!(reports.len(), 1);
    assert!(reports[0].status.is_ok(), "{:?}", reports[0]);
    assert_no_live_members(group, "terminate_all");
}

/// Two containers at once, from two threads, each writing more than a pipe
/// holds, while a third thread allocates without pause: neither init may
/// hold the other container's pipes (they would wait for each other for
/// ever), and the init may not take a lock another thread held at the
/// clone (the allocator's: glibc's `fork` would).
#[test]
fn concurrent_containers_with_a_busy_allocator_do_not_hang() {
    let outputs = within("two containers and an allocator", || {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let churn = {
            let stop = std::sync::Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut kept = Vec::new();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    kept.push(vec![0u8; 4096]);
                    if kept.len() > 256 {
                        kept.clear();
                    }
                }
            })
        };
        let run = || {
            (0..10)
                .map(|_| {
                    Container::new("head", &["-c", "1000000", "/dev/zero"])
                        .output()
                        .map(|out| out.stdout.len())
                })
                .collect::<Vec<_>>()
        };
        let other = std::thread::spawn(run);
        let mine = run();
        let theirs = other.join().expect("the other thread");
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        churn.join().expect("the allocating thread");
        (mine, theirs)
    });
    for length in outputs.0.into_iter().chain(outputs.1) {
        assert_eq!(length.expect("the container runs"), 1_000_000);
    }
}

/// The command holds exactly 0, 1 and 2: no descriptor of the caller (all
/// of them close-on-exec, which the init never reaches) leaks into it.
#[test]
fn no_descriptor_leaks_into_the_command() {
    let out = run_in_container(
        r#"for f in /proc/$$/fd/*; do [ -e "$f" ] && printf '%s ' "${f##*/}"; done; echo"#,
        DEFAULT_HOSTNAME,
    );
    assert_eq!(out, "0 1 2 \n");
}

/// `n` in base 62 (`0-9a-zA-Z`): short, distinct, shell-safe arguments.
fn base62(mut n: usize) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut digits = Vec::new();
    loop {
        digits.push(DIGITS[n % 62]);
        n /= 62;
        if n == 0 {
            break;
        }
    }
    digits.reverse();
    String::from_utf8(digits).expect("ASCII digits")
}

/// A script without `#!` runs as `/bin/sh script args...`, and that argv
/// (one pointer per argument) must not be built on the init's small
/// stack: glibc's `execvp` builds it there with `alloca`, below the end
/// of the stack from some 34,000 arguments on, over whatever memory lies
/// below (the arguments' own strings among it), and the script ran with
/// altered arguments and exited 0. 150,000 distinct arguments (1.8 MB of
/// strings and pointers, under the 2 MiB `ARG_MAX` of an 8 MiB stack
/// limit) must all arrive unaltered.
#[test]
fn a_script_without_shebang_gets_every_argument_unaltered() {
    // Removed when dropped, on a panic too.
    let temp = tempfile::tempdir().expect("a temporary directory");
    let dir = temp.path().to_owned();
    let script = dir.join("print-args");
    std::fs::write(&script, "printf '%s\\n' \"$#\" \"$@\"\n").expect("the script");
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
        .expect("the script made executable");
    let args: Vec<String> = (0..150_000).map(base62).collect();
    let sent = args.clone();
    let shared = dir.clone();
    let out = within("150,000 arguments", move || {
        let refs: Vec<&str> = sent.iter().map(String::as_str).collect();
        Container::new("/scripts/print-args", &refs)
            .bind_ro(&shared, "/scripts")
            .output()
    });
    temp.close().expect("the temporary directory removed");
    let out = out.expect("the container runs the script");
    assert!(
        out.status.success(),
        "{}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("150000"), "the argument count");
    let received: Vec<&str> = lines.collect();
    let altered: Vec<(usize, &str, &str)> = args
        .iter()
        .zip(&received)
        .enumerate()
        .filter(|(_, (sent, got))| sent != *got)
        .map(|(i, (sent, got))| (i, sent.as_str(), *got))
        .collect();
    assert!(
        altered.is_empty() && received.len() == args.len(),
        "{} of {} arguments altered ({} received), the first: {:?}",
        altered.len(),
        args.len(),
        received.len(),
        &altered[..altered.len().min(5)]
    );
}

/// The host pid of the container init whose command runs `sleep <mark>`:
/// a child of this process with a child of its own running that.
fn find_init(mark: &str) -> Option<i32> {
    let ours = std::process::id().to_string();
    let wanted = format!("sleep\0{mark}\0");
    let entries = std::fs::read_dir("/proc").ok()?;
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .find(|pid| {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                return false;
            };
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1).map(str::to_owned));
            let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
                .unwrap_or_default();
            ppid.as_deref() == Some(ours.as_str())
                && children.split_whitespace().any(|child| {
                    std::fs::read(format!("/proc/{child}/cmdline"))
                        .is_ok_and(|cmdline| cmdline == wanted.as_bytes())
                })
        })
}

/// An init that dies before it passes on the command's status (here
/// killed from the host; a stack overflow into its guard page is the same
/// path) is an `Error::Isolation` that says how the init ended, not an
/// `Ok` whose status is the init's, which reads as the command's.
#[test]
fn an_init_killed_before_it_reports_is_an_error_not_the_commands_status() {
    const MARK: &str = "3600.4217";
    let runner = std::thread::spawn(|| Container::new("sleep", &[MARK]).output());
    let init = within("finding the init", || loop {
        if let Some(pid) = find_init(MARK) {
            break pid;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    });
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(init),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("the init is killed");
    let result = within("the container after its init was killed", move || {
        runner.join().expect("the thread running the container")
    });
    match result {
        Err(error @ Error::Isolation { .. }) => {
            let message = error.to_string();
            assert!(
                message.contains("init") && message.contains("SIGKILL"),
                "{message}"
            );
        }
        other => panic!("expected Error::Isolation, got {other:?}"),
    }
}

/// A caller whose address space cannot be copied (clone without CLONE_VM
/// charges each private writable mapping again) gets an error that says
/// so, kind `OutOfMemory`, not a bare "Cannot allocate memory". Staged in
/// a re-run of this binary that maps (and never touches) one private
/// mapping larger than RAM plus swap, grown with `mremap`, which the
/// default heuristic overcommit (mode 0) then refuses to copy; skipped in
/// other modes (no sysctl is changed).
#[test]
fn a_caller_too_large_to_copy_gets_an_error_that_says_so() {
    let name = "a_caller_too_large_to_copy_gets_an_error_that_says_so";
    if env::var_os(ROLE).is_none() {
        rerun(name, "huge-mapping", |_| {});
        return;
    }
    let mode = std::fs::read_to_string("/proc/sys/vm/overcommit_memory").expect("the mode");
    if mode.trim() != "0" {
        println!(
            "{name}: skipped, vm.overcommit_memory is {}, not 0",
            mode.trim()
        );
        println!("{DONE}");
        return;
    }
    let meminfo = std::fs::read_to_string("/proc/meminfo").expect("/proc/meminfo");
    let swap_kib: usize = meminfo
        .lines()
        .find_map(|line| line.strip_prefix("SwapTotal:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .expect("SwapTotal");
    // SAFETY: `sysconf` reads constants.
    let (pages, page) = unsafe {
        (
            libc::sysconf(libc::_SC_PHYS_PAGES) as usize,
            libc::sysconf(libc::_SC_PAGESIZE) as usize,
        )
    };
    let total = pages * page + swap_kib * 1024;
    let first = (total / 4 * 3).div_ceil(page) * page;
    let grown = first * 2;
    // SAFETY: a new anonymous mapping, never touched, unmapped below;
    // each step alone is within the heuristic's limit (RAM plus swap).
    let mapping = unsafe {
        let mapping = libc::mmap(
            std::ptr::null_mut(),
            first,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        assert_ne!(
            mapping,
            libc::MAP_FAILED,
            "{}",
            std::io::Error::last_os_error()
        );
        let mapping = libc::mremap(mapping, first, grown, libc::MREMAP_MAYMOVE);
        assert_ne!(
            mapping,
            libc::MAP_FAILED,
            "{}",
            std::io::Error::last_os_error()
        );
        mapping
    };
    let result = Container::new("true", &[]).output();
    // SAFETY: the mapping made above, no reference into it.
    unsafe { libc::munmap(mapping, grown) };
    match result {
        Err(Error::Isolation { step, source }) => {
            assert_eq!(source.kind(), std::io::ErrorKind::OutOfMemory, "{source}");
            let message = Error::Isolation { step, source }.to_string();
            assert!(message.contains("address space"), "{message}");
            println!("{message}");
        }
        other => panic!("expected Error::Isolation, got {other:?}"),
    }
    println!("{DONE}");
}

/// The descriptors open in this process (probed, so that looking opens
/// none).
fn open_fds() -> Vec<i32> {
    // SAFETY: `F_GETFD` on a number only reads that descriptor's flags.
    (0..1024)
        .filter(|&fd| unsafe { libc::fcntl(fd, libc::F_GETFD) } >= 0)
        .collect()
}

/// The smallest `RLIMIT_NOFILE` under which exactly `room` more
/// descriptors can be opened (new ones take the lowest free numbers).
fn limit_with_room_for(room: usize) -> libc::rlim_t {
    let open = open_fds();
    let free = (0..).filter(|fd| !open.contains(fd)).nth(room);
    free.expect("a free number") as libc::rlim_t
}

/// Sets the soft `RLIMIT_NOFILE` (the hard limit stays, so it can rise
/// again); returns the old one.
fn set_descriptor_limit(soft: libc::rlim_t) -> libc::rlim_t {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `getrlimit` and `setrlimit` on a local structure.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        let old = limit.rlim_cur;
        limit.rlim_cur = soft;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
        old
    }
}

/// Out of descriptors while the caller makes the container's six pipes,
/// the error names the pipe (not a bare `Io(EMFILE)`) and keeps `EMFILE`,
/// and the pipes made before it are closed again. Staged in a re-run of
/// this binary with `RLIMIT_NOFILE` lowered to leave room for 0 to 11 more
/// descriptors (12 are enough).
#[test]
fn out_of_descriptors_the_error_names_the_pipe_and_nothing_leaks() {
    let name = "out_of_descriptors_the_error_names_the_pipe_and_nothing_leaks";
    if env::var_os(ROLE).is_none() {
        rerun(name, "few-descriptors", |_| {});
        return;
    }
    let pipes = [
        "pipe for the command's stdout",
        "pipe for the command's stderr",
        "pipe for the init's failure reports",
        "pipe for the command's exit status",
        "pipe for the command's stdin",
        "socket pair for the init's go",
    ];
    for room in 0..=12 {
        let before = open_fds();
        let old = set_descriptor_limit(limit_with_room_for(room));
        let result = Container::new("true", &[]).output();
        set_descriptor_limit(old);
        assert_eq!(open_fds(), before, "descriptors leaked, room for {room}");
        match (pipes.get(room / 2), result) {
            (Some(pipe), Err(error @ Error::Isolation { .. })) => {
                let message = error.to_string();
                assert!(
                    message.contains(&format!("creating the {pipe}")),
                    "room for {room}: {message}"
                );
                let Error::Isolation { source, .. } = error else {
                    unreachable!()
                };
                assert_eq!(source.raw_os_error(), Some(libc::EMFILE), "{source}");
            }
            (None, Ok(out)) => assert!(out.status.success(), "{}", out.status),
            (_, other) => panic!("room for {room}: {other:?}"),
        }
    }
    println!("{DONE}");
}

/// A caller with 0, 1 and 2 closed gets its pipes there; the init moves
/// them above 2 before it closes the rest, and when no descriptor is left
/// for that, it says so (an `Error::Isolation` naming the step, `EMFILE`)
/// rather than exiting 127, which the caller took for the command's own
/// exit status. Staged in a re-run of this binary.
#[test]
fn an_init_out_of_descriptors_says_so_not_exit_127() {
    let name = "an_init_out_of_descriptors_says_so_not_exit_127";
    if env::var_os(ROLE).is_none() {
        rerun(name, "closed-stdio", |_| {});
        return;
    }
    // SAFETY: descriptor calls on numbers; 0 to 2 are put back before
    // anything else can print.
    let saved: Vec<i32> = (0..3)
        .map(|fd| unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 100) })
        .collect();
    assert!(saved.iter().all(|&fd| fd >= 100), "{saved:?}");
    // SAFETY: as above.
    unsafe {
        for fd in 0..3 {
            libc::close(fd);
        }
    }
    let before = open_fds();
    let old = set_descriptor_limit(limit_with_room_for(12));
    let result = Container::new("true", &[]).output();
    set_descriptor_limit(old);
    let after = open_fds();
    // SAFETY: as above.
    unsafe {
        for (fd, &copy) in saved.iter().enumerate() {
            libc::dup2(copy, fd as i32);
            libc::close(copy);
        }
    }
    assert_eq!(after, before, "descriptors leaked");
    match result {
        Err(Error::Isolation { step, source }) => {
            assert!(step.contains("moving the init's pipe ends"), "{step}");
            assert_eq!(source.raw_os_error(), Some(libc::EMFILE), "{source}");
        }
        other => panic!("expected Error::Isolation, got {other:?}"),
    }
    println!("{DONE}");
}

/// The command holds exactly 0, 1 and 2 even when the caller holds a
/// descriptor *without* close-on-exec (which `exec` would pass on): the
/// init closes everything but its pipe ends. Staged in a re-run of this
/// binary, so that the descriptor reaches no other test's children.
#[test]
fn a_descriptor_without_close_on_exec_does_not_reach_the_command() {
    let name = "a_descriptor_without_close_on_exec_does_not_reach_the_command";
    if env::var_os(ROLE).is_none() {
        rerun(name, "inheritable-fd", |_| {});
        return;
    }
    // SAFETY: `open` of a NUL-terminated path, deliberately without
    // O_CLOEXEC, and `fcntl` reading its flags.
    let fd = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY) };
    assert!(fd > 2, "{}", std::io::Error::last_os_error());
    // SAFETY: as above.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    assert_eq!(flags & libc::FD_CLOEXEC, 0, "the descriptor is inheritable");
    let out = run_in_container(
        r#"for f in /proc/$$/fd/*; do [ -e "$f" ] && printf '%s ' "${f##*/}"; done; echo"#,
        DEFAULT_HOSTNAME,
    );
    // SAFETY: our own descriptor, closed once.
    unsafe { libc::close(fd) };
    assert_eq!(out, "0 1 2 \n", "descriptor {fd} is not close-on-exec");
    println!("{DONE}");
}
