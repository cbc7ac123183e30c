//! Children that never outlive, leak into, or mistake another process: the
//! faults a host can inject, staged for real.
//!
//! - SIGCHLD set to `SIG_IGN`: the kernel reaps children itself.
//! - A child reaped behind ptm's back, its pid then given to an unrelated
//!   process (forced with `ns_last_pid` in a pid namespace of our own).
//! - The parent killed by SIGKILL, SIGTERM or SIGINT while its children run.
//! - A child frozen (cgroup v1 freezer), as one in uninterruptible sleep on
//!   a hung NFS or FUSE mount would be: SIGKILL cannot take effect.
//!
//! Each fault that is process-wide runs in a re-run of this test binary
//! (`current_exe()`, selected by [`ROLE`]), so that the other tests never
//! see it. Tests that need root (namespaces, cgroups) print why and return
//! when not run as root.

mod common;

use std::env;
use std::fs;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::{
    acting_as, assert_rerun_done as assert_done, rerun as self_command, within, DONE, ROLE,
};
use nix::libc;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use ptm::ipc::{communicate, Pipeline};
use ptm::process::ProcessManager;
use ptm::Error;

/// Where a re-run writes the pids the test must watch.
const PIDFILE: &str = "PTM_RELIABILITY_PIDFILE";
/// How long the test gives a process to be gone before it calls it a
/// survivor: generous, a bound on a hang, not a performance claim.
const GONE_BOUND: Duration = Duration::from_secs(10);

fn is_root() -> bool {
    // SAFETY: geteuid only returns a number.
    unsafe { libc::geteuid() == 0 }
}

/// A pidfd for any process (not only a child), to watch it without being
/// fooled by a recycled pid.
fn pidfd(pid: u32) -> Option<OwnedFd> {
    let pid = libc::pid_t::try_from(pid).expect("a pid");
    // SAFETY: pidfd_open takes numbers and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0u32) };
    let fd = libc::c_int::try_from(fd).ok().filter(|&fd| fd >= 0)?;
    // SAFETY: a descriptor the kernel just made for us.
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// True once the process behind `fd` has exited (zombie or gone).
fn exited(fd: &OwnedFd) -> bool {
    let mut polled = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one pollfd on the stack, zero timeout.
    unsafe { libc::poll(&mut polled, 1, 0) == 1 }
}

/// Waits up to [`GONE_BOUND`] for every process in `fds` to exit; returns
/// how long it took, or panics naming the survivors.
fn wait_gone(what: &str, fds: &[(u32, OwnedFd)]) -> Duration {
    let start = Instant::now();
    loop {
        let alive: Vec<u32> = fds
            .iter()
            .filter(|(_, fd)| !exited(fd))
            .map(|&(pid, _)| pid)
            .collect();
        if alive.is_empty() {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < GONE_BOUND,
            "{what}: still alive after {GONE_BOUND:?}: {alive:?}"
        );
        thread::sleep(Duration::from_millis(5));
    }
}

/// Sets SIGCHLD to `SIG_IGN` for this (re-run) process: from now on the
/// kernel reaps its children itself.
fn ignore_sigchld() {
    // SAFETY: installs SIG_IGN, no handler code.
    unsafe { libc::signal(libc::SIGCHLD, libc::SIG_IGN) };
}

// ---------------------------------------------------------------- SIGCHLD

/// With SIGCHLD ignored, every child is reaped by the kernel. ptm keeps the
/// output read and says why the status is lost (`Error::StatusLost`),
/// instead of losing "hi" to an `Io(ECHILD)`; a pipeline's later stage no
/// longer fails to "join the group" of an already reaped first stage; a
/// running child is still killed (through its pidfd) and its status lost.
#[test]
fn with_sigchld_ignored_output_is_kept_and_the_lost_status_named() {
    const TEST: &str = "with_sigchld_ignored_output_is_kept_and_the_lost_status_named";
    if acting_as(TEST) {
        ignore_sigchld();
        let mut echo = Command::new("echo");
        echo.arg("hi");
        match communicate(echo, b"", None) {
            Err(Error::StatusLost {
                program, stdout, ..
            }) => {
                assert_eq!(program, "echo");
                assert_eq!(stdout, b"hi\n");
            }
            other => panic!("communicate: expected StatusLost, got {other:?}"),
        }
        let mut cat = Command::new("cat");
        cat.arg("-");
        match communicate(cat, b"in\n", Some(Duration::from_secs(20))) {
            Err(Error::StatusLost { stdout, .. }) => assert_eq!(stdout, b"in\n"),
            other => panic!("communicate with input: expected StatusLost, got {other:?}"),
        }
        for _ in 0..20 {
            let result = Pipeline::new()
                .stage("echo", &["hi"])
                .stage("cat", &[])
                .run();
            match result {
                Err(Error::Pipeline { source, .. }) => match *source {
                    Error::StatusLost { stdout, .. } => assert_eq!(stdout, b"hi\n"),
                    other => panic!("pipeline: expected StatusLost inside, got {other:?}"),
                },
                other => panic!("pipeline: expected StatusLost, got {other:?}"),
            }
        }
        match ProcessManager::output("echo", &["hi"]) {
            Err(Error::StatusLost { stdout, .. }) => assert_eq!(stdout, b"hi\n"),
            other => panic!("output: expected StatusLost, got {other:?}"),
        }
        let mut manager = ProcessManager::new();
        manager.spawn("true", &[]).expect("true starts");
        let reports = manager.wait_all();
        assert!(
            matches!(reports[0].status, Err(Error::StatusLost { .. })),
            "{}",
            reports[0]
        );
        let sleeper = manager.spawn("sleep", &["1000"]).expect("sleep starts");
        let watch = pidfd(sleeper).expect("sleep is alive");
        let reports = manager.kill_all();
        assert_eq!(reports.len(), 1);
        wait_gone("the killed sleep", &[(sleeper, watch)]);
        // A timeout still kills: sleep is reaped by the kernel after the
        // kill, so its status is lost too, but the call returns.
        let mut sleep = Command::new("sleep");
        sleep.arg("1000");
        let result = communicate(sleep, b"", Some(Duration::from_millis(200)));
        assert!(
            matches!(result, Err(Error::StatusLost { .. })),
            "timeout: {result:?}"
        );
        println!("{DONE}");
        return;
    }
    let output = self_command(TEST).output().expect("re-run");
    assert_done(TEST, &output);
}

// ------------------------------------------------------- recycled pids

/// Makes the kernel hand out `pid` next (in our own pid namespace, through
/// `ns_last_pid`) and starts a "stranger" with it, leading a group of that
/// number too.
fn stranger_at(pid: u32) -> Child {
    fs::write("/proc/sys/kernel/ns_last_pid", (pid - 1).to_string())
        .expect("ns_last_pid is writable in our own pid namespace");
    let mut stranger = Command::new("sleep");
    stranger.arg("1000");
    std::os::unix::process::CommandExt::process_group(&mut stranger, 0);
    let stranger = stranger.spawn().expect("the stranger starts");
    assert_eq!(stranger.id(), pid, "the pid was recycled");
    stranger
}

/// Asserts that `operation` left the stranger alive, then ends it. A
/// SIGKILL takes effect when its target next runs: the stranger is watched
/// for a while before it is called untouched.
fn assert_untouched(mut stranger: Child, operation: &str) {
    let watch = pidfd(stranger.id()).expect("the stranger runs");
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(200) {
        assert!(
            !exited(&watch),
            "{operation} signalled the process that got the recycled pid"
        );
        thread::sleep(Duration::from_millis(5));
    }
    stranger.kill().expect("kill the stranger");
    stranger.wait().expect("reap the stranger");
}

/// A child reaped behind ptm's back whose pid then goes to an unrelated
/// process (which leads a group of that number too): `kill_all`,
/// `terminate_all`, drop and `wait_all` never signal that process and never
/// report its status as the child's. Staged in a pid namespace of our own,
/// where `ns_last_pid` makes the kernel hand out the freed pid next.
#[test]
fn a_recycled_pid_is_never_signalled_nor_mistaken_for_the_child() {
    const TEST: &str = "a_recycled_pid_is_never_signalled_nor_mistaken_for_the_child";
    if acting_as(TEST) {
        for operation in ["kill_all", "terminate_all", "drop", "wait_all"] {
            let mut manager = ProcessManager::new();
            let pid = manager.spawn("sleep", &["1000"]).expect("sleep starts");
            let nix_pid = Pid::from_raw(i32::try_from(pid).expect("a pid"));
            // Reaped elsewhere: killed and waited for by pid, not by ptm.
            kill(nix_pid, Signal::SIGKILL).expect("kill");
            nix::sys::wait::waitpid(nix_pid, None).expect("reaped behind ptm's back");
            let stranger = stranger_at(pid);
            let reports = match operation {
                "kill_all" => manager.kill_all(),
                "terminate_all" => manager.terminate_all(Duration::from_millis(100)),
                "wait_all" => manager.wait_all(),
                _ => {
                    drop(manager);
                    Vec::new()
                }
            };
            for report in &reports {
                assert!(
                    matches!(report.status, Err(Error::StatusLost { .. })),
                    "{operation}: {report}"
                );
            }
            assert_untouched(stranger, operation);
        }
        // A `Process` reaped by its own `wait`, then asked to signal, kill
        // or terminate: it returns the status it kept and sends nothing.
        for operation in ["signal", "kill", "terminate"] {
            let child = ptm::process::Process::spawn(Command::new("true")).expect("true starts");
            let pid = child.pid();
            let status = child.wait().expect("reaped by ptm");
            let stranger = stranger_at(pid);
            match operation {
                "signal" => child.signal(Signal::SIGKILL).expect("nothing to send"),
                "kill" => assert_eq!(child.kill().expect("the kept status"), status),
                _ => assert_eq!(
                    child
                        .terminate(Duration::from_millis(100))
                        .expect("the kept status"),
                    status
                ),
            }
            drop(child);
            assert_untouched(stranger, &format!("Process::{operation}"));
        }
        println!("{DONE}");
        return;
    }
    if !is_root() {
        eprintln!("not run: needs root for a pid namespace and ns_last_pid");
        return;
    }
    let exe = env::current_exe().expect("the test binary knows its path");
    let output = Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc"])
        .arg(exe)
        .args(["--exact", TEST, "--nocapture", "--test-threads=1"])
        .env(ROLE, TEST)
        .stdin(Stdio::null())
        .output()
        .expect("unshare runs");
    assert_done(TEST, &output);
}

// ------------------------------------------------------- parent death

/// The shell script whose pid and background child's pid a re-run reports:
/// `sh` (the child) and its `sleep` (the grandchild, in the child's group).
fn reporting_script(pidfile: &Path) -> String {
    format!(
        "sleep 1000 & echo \"$$ $!\" > '{0}.tmp' && mv '{0}.tmp' '{0}'; wait",
        pidfile.display()
    )
}

/// In a re-run: starts the script as `how` says and blocks for ever (until
/// the test kills this process).
fn parent_role(how: &str, pidfile: &Path) -> ! {
    let script = reporting_script(pidfile);
    let mut manager = ProcessManager::new();
    match how {
        "manager" => {
            manager.spawn("sh", &["-c", &script]).expect("sh starts");
        }
        "thread" => {
            // Started from a thread that ends at once: the children must not
            // die with that thread (PR_SET_PDEATHSIG's pitfall), only with
            // the process.
            manager = thread::spawn(move || {
                manager.spawn("sh", &["-c", &script]).expect("sh starts");
                manager
            })
            .join()
            .expect("the spawning thread");
            thread::sleep(Duration::from_millis(300));
            assert!(
                manager.wait_all_timeout(Duration::ZERO).is_empty(),
                "the child died with the thread that started it"
            );
            println!("child outlived its spawning thread");
        }
        "burst" => {
            // Twenty children started back to back, then death at once:
            // their registrations are still queued for the guardian, which
            // must read them all before it acts on the end of file.
            let mut pids = Vec::new();
            for _ in 0..20 {
                let mut sleep = Command::new("sleep");
                sleep.arg("1000").stderr(Stdio::null());
                pids.push(
                    manager
                        .spawn_command(sleep)
                        .expect("sleep starts")
                        .to_string(),
                );
            }
            let list = pids.join(" ");
            fs::write(pidfile.with_extension("tmp"), &list).expect("write the pids");
            fs::rename(pidfile.with_extension("tmp"), pidfile).expect("publish the pids");
            // SAFETY: raising SIGKILL against ourselves.
            unsafe { libc::raise(libc::SIGKILL) };
        }
        "communicate" => {
            thread::spawn(move || {
                let mut sh = Command::new("sh");
                sh.args(["-c", &script]);
                let _ = communicate(sh, b"", None);
            });
        }
        "pipeline" => {
            thread::spawn(move || {
                let _ = Pipeline::new()
                    .stage("sh", &["-c", &script])
                    .stage("cat", &[])
                    .run();
            });
        }
        other => panic!("unknown role {other}"),
    }
    loop {
        thread::park();
    }
}

/// Processes a test watches, killed (through their pidfds) when the test
/// ends, so that a failing test leaves no survivor holding its pipes.
struct Watched(Vec<(u32, OwnedFd)>);

impl Drop for Watched {
    fn drop(&mut self) {
        for (_, fd) in &self.0 {
            // SAFETY: pidfd_send_signal on a descriptor we own.
            unsafe {
                libc::syscall(
                    libc::SYS_pidfd_send_signal,
                    fd.as_raw_fd(),
                    libc::SIGKILL,
                    std::ptr::null::<libc::siginfo_t>(),
                    0u32,
                )
            };
        }
    }
}

/// Starts a re-run as `how`, waits for the pids it reports, kills it with
/// `signal`, and checks that its child and grandchild are gone.
fn kill_parent_and_check(how: &str, signal: Signal) -> Duration {
    const TEST: &str = "children_die_with_their_parent_whatever_kills_it";
    let dir = tempfile::tempdir().expect("a temporary directory");
    let pidfile = dir.path().join("pids");
    let mut parent = self_command(TEST)
        .env(PIDFILE, &pidfile)
        .env("PTM_RELIABILITY_HOW", how)
        .stdout(Stdio::null())
        .spawn()
        .expect("the parent re-run starts");
    let start = Instant::now();
    let pids = loop {
        if let Ok(text) = fs::read_to_string(&pidfile) {
            break text;
        }
        if let Some(status) = parent.try_wait().expect("try_wait") {
            panic!("{how}: the parent ended early: {status}");
        }
        assert!(start.elapsed() < GONE_BOUND, "{how}: no pids reported");
        thread::sleep(Duration::from_millis(5));
    };
    let watched = Watched(
        pids.split_whitespace()
            .map(|pid| pid.parse::<u32>().expect("a pid"))
            .map(|pid| (pid, pidfd(pid).expect("the reported process is alive")))
            .collect(),
    );
    let watched = &watched.0;
    let expected = if how == "burst" { 20 } else { 2 };
    assert_eq!(watched.len(), expected, "{how}: the children reported");
    let parent_pid = Pid::from_raw(i32::try_from(parent.id()).expect("a pid"));
    // The pids come from the child, which can run before its parent has
    // registered it with the guardian (a few microseconds after the spawn
    // returns, which a loaded machine can stretch): give the parent a
    // moment, so that what is tested is a parent dying with its children
    // registered, not that window (documented in `ptm::process`).
    thread::sleep(Duration::from_millis(50));
    if how != "burst" {
        kill(parent_pid, signal).expect("signal the parent");
    }
    let status = parent.wait().expect("reap the parent");
    assert_eq!(
        status.signal(),
        Some(signal as i32),
        "{how}: the parent died"
    );
    wait_gone(&format!("{how}, parent killed by {signal}"), watched)
}

/// Children (and their groups) of `ProcessManager`, `communicate` and
/// `Pipeline` are killed when their parent process dies by SIGKILL, SIGTERM
/// or SIGINT, which run no destructor: before, all of them survived,
/// re-parented to init. A child started from a thread that has since ended
/// lives on while the process does.
#[test]
fn children_die_with_their_parent_whatever_kills_it() {
    const TEST: &str = "children_die_with_their_parent_whatever_kills_it";
    if acting_as(TEST) {
        let how = env::var("PTM_RELIABILITY_HOW").expect("how to start the children");
        let pidfile = PathBuf::from(env::var_os(PIDFILE).expect("a pid file"));
        parent_role(&how, &pidfile);
    }
    let mut slowest = Duration::ZERO;
    for _ in 0..5 {
        slowest = slowest.max(kill_parent_and_check("burst", Signal::SIGKILL));
    }
    for how in ["manager", "thread", "communicate", "pipeline"] {
        for signal in [Signal::SIGKILL, Signal::SIGTERM, Signal::SIGINT] {
            slowest = slowest.max(kill_parent_and_check(how, signal));
        }
    }
    println!("slowest: every child gone {slowest:?} after its parent died");
}

/// A manager that opts out (`die_with_parent(false)`) leaves its children
/// running when its process is killed: the documented way for daemons.
#[test]
fn children_that_may_outlive_their_parent_do() {
    const TEST: &str = "children_that_may_outlive_their_parent_do";
    if acting_as(TEST) {
        let mut manager = ProcessManager::new().die_with_parent(false);
        // Its own stdout and stderr: it must not hold the test's pipes.
        let mut sleep = Command::new("sleep");
        sleep
            .arg("1000")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let pid = manager.spawn_command(sleep).expect("sleep starts");
        println!("pid {pid}");
        // Dies at once, without running the manager's Drop.
        // SAFETY: raising SIGKILL against ourselves.
        unsafe { libc::raise(libc::SIGKILL) };
    }
    let mut child = self_command(TEST)
        .stdout(Stdio::piped())
        .spawn()
        .expect("re-run");
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .expect("piped")
        .read_to_string(&mut stdout)
        .expect("read the re-run's output");
    child.wait().expect("reap the re-run");
    // The harness prints `test name ... ` before the test's own output.
    let pid: u32 = stdout
        .split("pid ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("the re-run printed no pid: {stdout}"))
        .parse()
        .expect("a pid");
    let watch = pidfd(pid).expect("the sleep outlived its parent");
    thread::sleep(Duration::from_millis(300));
    assert!(!exited(&watch), "the detached child was killed");
    kill(
        Pid::from_raw(i32::try_from(pid).expect("a pid")),
        Signal::SIGKILL,
    )
    .expect("clean up");
}

/// Children that may outlive their parent still lead process groups of
/// their own: `kill_all` and a pipeline's timeout reach what they started.
/// (Found in review: opting out of the guardian also stopped group kills.)
#[test]
fn opting_out_of_the_guardian_keeps_group_kills() {
    let mut manager = ProcessManager::new().die_with_parent(false);
    manager
        .spawn("sh", &["-c", "sleep 1000 & wait"])
        .expect("sh starts");
    let reports = within("kill_all", move || manager.kill_all());
    assert!(reports[0].status.is_ok(), "{}", reports[0]);
    assert!(reports[0].survivors.is_empty(), "{}", reports[0]);

    let dir = tempfile::tempdir().expect("a temporary directory");
    let pidfile = dir.path().join("pid");
    let script = format!(
        "exec >/dev/null 2>&1; sleep 1000 & echo $! > '{}'; wait",
        pidfile.display()
    );
    let result = within("a pipeline's timeout", move || {
        Pipeline::new()
            .stage("sh", &["-c", &script])
            .die_with_parent(false)
            .timeout(Duration::from_millis(300))
            .run()
    });
    assert!(matches!(result, Err(Error::Timeout { .. })), "{result:?}");
    let pid: u32 = fs::read_to_string(&pidfile)
        .expect("the grandchild's pid")
        .trim()
        .parse()
        .expect("a pid");
    if let Some(fd) = pidfd(pid) {
        let watched = Watched(vec![(pid, fd)]);
        wait_gone("the pipeline's grandchild", &watched.0);
    }
}

// ------------------------------------------------------- frozen children

/// A cgroup v1 freezer group of our own, thawed and removed on drop.
struct Freezer {
    dir: PathBuf,
}

impl Freezer {
    fn new() -> Option<Freezer> {
        let root = Path::new("/sys/fs/cgroup/freezer");
        if !is_root() || !root.join("cgroup.procs").exists() {
            return None;
        }
        let dir = root.join(format!(
            "ptm-test-{}-{:?}",
            std::process::id(),
            Instant::now()
        ));
        let dir = PathBuf::from(dir.to_string_lossy().replace([' ', '{', '}', ':', ','], ""));
        fs::create_dir(&dir).ok()?;
        Some(Freezer { dir })
    }

    fn procs(&self) -> PathBuf {
        self.dir.join("cgroup.procs")
    }

    fn members(&self) -> Vec<u32> {
        fs::read_to_string(self.procs())
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|pid| pid.parse().ok())
            .collect()
    }

    /// Waits for `count` members, then freezes the group.
    fn freeze_when(&self, count: usize) {
        let start = Instant::now();
        while self.members().len() < count {
            assert!(start.elapsed() < GONE_BOUND, "nothing joined the freezer");
            thread::sleep(Duration::from_millis(2));
        }
        fs::write(self.dir.join("freezer.state"), "FROZEN").expect("freeze");
        while fs::read_to_string(self.dir.join("freezer.state"))
            .unwrap_or_default()
            .trim()
            != "FROZEN"
        {
            assert!(start.elapsed() < GONE_BOUND, "the group did not freeze");
            thread::sleep(Duration::from_millis(2));
        }
    }

    fn thaw(&self) {
        let _ = fs::write(self.dir.join("freezer.state"), "THAWED");
    }
}

impl Drop for Freezer {
    fn drop(&mut self) {
        self.thaw();
        let start = Instant::now();
        // A cgroup can be removed once it is empty: the thawed processes
        // die of their pending SIGKILL.
        while fs::remove_dir(&self.dir).is_err() && start.elapsed() < GONE_BOUND {
            thread::sleep(Duration::from_millis(10));
        }
    }
}

/// A call running on a thread of its own, joined with a bound, so that a
/// regression that hangs it fails the test (and the freezer's drop thaws
/// what it froze) instead of hanging the suite.
struct Bounded<T>(std::sync::mpsc::Receiver<T>);

fn bounded<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Bounded<T> {
    let (sender, receiver) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let _ = sender.send(f());
    });
    Bounded(receiver)
}

impl<T> Bounded<T> {
    fn join(self, what: &str) -> T {
        self.0
            .recv_timeout(GONE_BOUND * 2)
            .unwrap_or_else(|error| panic!("{what} did not return: {error}"))
    }
}

/// The number of this process's threads named `ptm-reaper`.
fn reaper_threads() -> usize {
    fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .filter_map(|task| fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.trim() == "ptm-reaper")
        .count()
}

/// A frozen child cannot die of SIGKILL until it is thawed. `communicate`
/// and `Pipeline` with a 500 ms timeout, and `kill_all`, return within a
/// bounded time anyway (they waited the whole freeze, 5 s and more,
/// before), with an error that names the survivor; the children are reaped
/// by one background reaper thread once thawed, not one thread each.
#[test]
fn a_frozen_child_cannot_hang_a_timeout_or_a_kill() {
    let Some(freezer) = Freezer::new() else {
        eprintln!("not run: needs root and the cgroup v1 freezer");
        return;
    };
    let join = format!("echo $$ > {}; exec sleep 1000", freezer.procs().display());
    let mut pids = Vec::new();
    for round in 0..3 {
        let script = join.clone();
        let call = bounded(move || {
            let start = Instant::now();
            let mut sh = Command::new("sh");
            sh.args(["-c", &script]);
            let result = communicate(sh, b"", Some(Duration::from_millis(500)));
            (result, start.elapsed())
        });
        freezer.freeze_when(round + 1);
        let (result, elapsed) = call.join("communicate");
        let message = match result {
            Err(Error::Io(error)) => error.to_string(),
            other => panic!("expected an error naming the survivor, got {other:?}"),
        };
        let pid = *freezer.members().last().expect("the frozen child");
        assert!(message.contains(&format!("pid {pid}")), "{message}");
        assert!(message.contains("`sh`"), "{message}");
        assert!(elapsed < GONE_BOUND, "communicate took {elapsed:?}");
        println!("communicate with a 500 ms timeout, child frozen: returned after {elapsed:?}");
        pids.push(pid);
    }
    assert_eq!(reaper_threads(), 1, "one reaper for every survivor");

    // Pipeline: the same through its group.
    let script = join.clone();
    let call = bounded(move || {
        let start = Instant::now();
        let result = Pipeline::new()
            .stage("sh", &["-c", &script])
            .stage("cat", &[])
            .timeout(Duration::from_millis(500))
            .run();
        (result, start.elapsed())
    });
    freezer.freeze_when(4);
    let (result, elapsed) = call.join("the pipeline");
    assert!(matches!(result, Err(Error::Io(_))), "{result:?}");
    assert!(elapsed < GONE_BOUND, "the pipeline took {elapsed:?}");
    println!("Pipeline with a 500 ms timeout, stage frozen: returned after {elapsed:?}");

    // kill_all: the frozen child is reported, not waited for.
    let mut manager = ProcessManager::new();
    let pid = manager.spawn("sh", &["-c", &join]).expect("sh starts");
    freezer.freeze_when(5);
    let start = Instant::now();
    let reports = bounded(move || manager.kill_all()).join("kill_all");
    let elapsed = start.elapsed();
    assert!(elapsed < GONE_BOUND, "kill_all took {elapsed:?}");
    println!("kill_all, child frozen: returned after {elapsed:?}");
    assert_eq!(reports[0].pid, pid);
    let error = reports[0].status.as_ref().expect_err("not reaped: frozen");
    assert!(error.to_string().contains("did not die"), "{error}");
    assert_eq!(reaper_threads(), 1, "one reaper for every survivor");

    // Thawed, the survivors die and the reaper reaps them: no zombie.
    let all = freezer.members();
    freezer.thaw();
    let start = Instant::now();
    for pid in all {
        while Path::new(&format!("/proc/{pid}")).exists() {
            assert!(
                start.elapsed() < GONE_BOUND,
                "pid {pid} not reaped after the thaw"
            );
            thread::sleep(Duration::from_millis(10));
        }
    }
}

/// A frozen grandchild keeps its group alive after SIGKILL: `kill_all`
/// reports it in `ExitReport::survivors` instead of waiting for ever.
#[test]
fn survivors_of_a_group_are_reported() {
    let Some(freezer) = Freezer::new() else {
        eprintln!("not run: needs root and the cgroup v1 freezer");
        return;
    };
    let script = format!(
        "sh -c 'echo $$ > {}; exec sleep 1000' & wait",
        freezer.procs().display()
    );
    let mut manager = ProcessManager::new();
    manager.spawn("sh", &["-c", &script]).expect("sh starts");
    freezer.freeze_when(1);
    let grandchild = freezer.members()[0];
    let reports = within("kill_all", move || manager.kill_all());
    assert!(
        reports[0].status.is_ok(),
        "the child itself died: {}",
        reports[0]
    );
    assert_eq!(reports[0].survivors, vec![grandchild], "{}", reports[0]);
}

// ------------------------------------------------------- grace periods

/// CPU time used by the calling thread.
fn thread_cpu() -> Duration {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage fills the struct on our stack.
    unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) };
    Duration::from_secs(u64::try_from(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec).unwrap_or(0))
        + Duration::from_micros(
            u64::try_from(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec).unwrap_or(0),
        )
}

/// During `terminate_all`'s grace the waiting costs almost no CPU: the
/// child is waited for on its pidfd, and a grandchild that ignores SIGTERM
/// is looked for in `/proc` at most 20 times a second. Before, the scan
/// ran every 2 ms: a quarter to all of a core. (A bound on CPU time, which
/// load does not inflate, not on wall time.)
#[test]
fn a_long_grace_is_not_a_busy_wait() {
    let mut manager = ProcessManager::new();
    // The child ignores SIGTERM for the first half; then it exits and its
    // background child, which ignores SIGTERM too, holds the group.
    manager
        .spawn(
            "sh",
            &[
                "-c",
                "trap '' TERM; (trap '' TERM; sleep 1000) & sleep 1; exit 0",
            ],
        )
        .expect("sh starts");
    thread::sleep(Duration::from_millis(100));
    let before = thread_cpu();
    let start = Instant::now();
    let reports = manager.terminate_all(Duration::from_secs(2));
    let wall = start.elapsed();
    let cpu = thread_cpu() - before;
    assert!(reports[0].status.is_ok(), "{}", reports[0]);
    assert!(
        wall >= Duration::from_secs(2),
        "the grace was spent: {wall:?}"
    );
    println!("terminate_all: {cpu:?} of CPU during a {wall:?} grace");
    assert!(
        cpu < wall / 10,
        "{cpu:?} of CPU during a {wall:?} grace: a busy wait"
    );
}

// ------------------------------------------------------- errors

/// A missing working directory is named as such, not reported as a
/// missing program ("failed to start `true`: No such file or directory").
#[test]
fn a_missing_working_directory_is_named() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let missing = dir.path().join("no-such-dir");
    let mut cmd = Command::new("true");
    cmd.current_dir(&missing);
    let mut manager = ProcessManager::new();
    let error = manager.spawn_command(cmd).expect_err("cannot start there");
    let message = error.to_string();
    assert!(message.contains("working directory"), "{message}");
    assert!(
        message.contains(&missing.display().to_string()),
        "{message}"
    );
    let mut cmd = Command::new("true");
    cmd.current_dir(&missing);
    let message = communicate(cmd, b"", None)
        .expect_err("cannot start")
        .to_string();
    assert!(message.contains("working directory"), "{message}");
}

/// A program that is a directory says so.
#[test]
fn a_program_that_is_a_directory_says_so() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut manager = ProcessManager::new();
    let program = dir.path().to_string_lossy().into_owned();
    let message = manager
        .spawn(&program, &[])
        .expect_err("a directory")
        .to_string();
    assert!(message.contains("is a directory"), "{message}");
    assert!(message.contains(&program), "{message}");
}

/// `communicate`'s timeout names the whole command line, as `Pipeline`'s
/// does, not only the program.
#[test]
fn a_timeout_names_the_command_line() {
    let mut cmd = Command::new("sleep");
    cmd.arg("10");
    match communicate(cmd, b"", Some(Duration::from_millis(50))) {
        Err(Error::Timeout { program, .. }) => assert_eq!(program, "sleep 10"),
        other => panic!("expected a timeout, got {other:?}"),
    }
}

/// Keeps the imports honest on a machine where every root-only test
/// returns early.
#[test]
fn pidfds_see_an_exit() {
    let mut child = Command::new("true").spawn().expect("true starts");
    let fd = pidfd(child.id()).expect("a pidfd");
    child.wait().expect("reaped");
    assert!(exited(&fd));
    let _ = fd.as_fd();
}
