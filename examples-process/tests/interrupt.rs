//! Ctrl-C in the middle of a demo leaves nothing behind: the demo's
//! children and grandchildren die with it.
//!
//! A terminal's Ctrl-C sends SIGINT to the foreground process group. The
//! demo's children run in process groups of their own, so the signal kills
//! only the demo; ptm's guardian then kills the children's groups. This
//! test plays the terminal: it starts `examples-process signals --grace-ms
//! 60000` (whose children ignore SIGTERM for a minute) in a process group
//! of its own, waits until the demo's children run, sends SIGINT to that
//! group, and looks for survivors. It makes itself a *subreaper*
//! (`PR_SET_CHILD_SUBREAPER`), so that orphans of the demo are re-parented
//! to it rather than to init, where it can find them. Alone in its file:
//! being a subreaper changes what this whole test process sees.

use std::fs;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;

/// Generous bounds on a hang, not performance claims.
const BOUND: Duration = Duration::from_secs(20);

/// The pids whose parent is `parent` and that are not zombies.
fn live_children_of(parent: u32) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| {
            entry.ok()?.file_name().to_str()?.parse::<u32>().ok()
        })
        .filter(|pid| {
            let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat"))
            else {
                return false;
            };
            let mut fields = stat
                .rsplit_once(')')
                .map_or("", |(_, rest)| rest)
                .split_whitespace();
            let state = fields.next().unwrap_or("Z");
            let ppid = fields.next().and_then(|ppid| ppid.parse::<u32>().ok());
            state != "Z" && ppid == Some(parent)
        })
        .collect()
}

/// Reaps every exited child of this process (orphans it adopted included).
fn reap_all() {
    while let Ok(status) = nix::sys::wait::waitpid(
        Pid::from_raw(-1),
        Some(nix::sys::wait::WaitPidFlag::WNOHANG),
    ) {
        if status == nix::sys::wait::WaitStatus::StillAlive {
            break;
        }
    }
}

#[test]
fn ctrl_c_mid_demo_leaves_no_child_behind() {
    // SAFETY: prctl with integer arguments.
    let made = unsafe {
        nix::libc::prctl(nix::libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    };
    assert_eq!(made, 0, "PR_SET_CHILD_SUBREAPER");
    let me = std::process::id();

    let mut demo = Command::new(env!("CARGO_BIN_EXE_examples-process"));
    demo.args(["signals", "--grace-ms", "60000"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0);
    let mut demo = demo.spawn().expect("the demo starts");
    let demo_pid = demo.id();
    let group = Pid::from_raw(i32::try_from(demo_pid).expect("a pid"));
    // If the test fails before its Ctrl-C, the demo must not be left
    // running for a minute.
    struct KillOnPanic(Pid);
    impl Drop for KillOnPanic {
        fn drop(&mut self) {
            if thread::panicking() {
                let _ = killpg(self.0, Signal::SIGKILL);
            }
        }
    }
    let _guard = KillOnPanic(group);

    // Mid-run: once the demo has a child (a `sh` that started a `sleep`).
    let start = Instant::now();
    while live_children_of(demo_pid).is_empty() {
        assert!(start.elapsed() < BOUND, "the demo started no children");
        thread::sleep(Duration::from_millis(5));
    }
    thread::sleep(Duration::from_millis(100));
    killpg(group, Signal::SIGINT).expect("Ctrl-C to the demo's group");
    let status = demo.wait().expect("reap the demo");
    assert!(!status.success(), "the demo was interrupted: {status}");

    // Whatever the demo started is re-parented to this subreaper if it
    // survived. Give the guardian its moment, then look.
    let start = Instant::now();
    let survivors = loop {
        reap_all();
        let left = live_children_of(me);
        if left.is_empty() || start.elapsed() > Duration::from_secs(5) {
            break left;
        }
        thread::sleep(Duration::from_millis(10));
    };
    for &pid in &survivors {
        let _ = kill(
            Pid::from_raw(i32::try_from(pid).expect("a pid")),
            Signal::SIGKILL,
        );
    }
    reap_all();
    assert!(
        survivors.is_empty(),
        "children of the demo survived its Ctrl-C: {survivors:?}"
    );
}
