//! The children of one [`communicate`](super::communicate) call or one
//! [`Pipeline::run`](super::Pipeline::run), all in one process group, and the
//! guarantee that each of them is reaped on every path.

use std::io;
use std::process::{Child, ExitStatus};
use std::thread;
use std::time::{Duration, Instant};

/// How long [`Group::kill_and_reap`] waits for a child that refused
/// SIGKILL before it leaves that child to a background reaper.
const REFUSED_WAIT: Duration = Duration::from_secs(1);

/// A child that must not be waited for without bound: its pid and program.
type Refused = (u32, String, io::Error);

/// Running children that share one process group: the first child's, which
/// it leads (`process_group(0)`), the others joined it
/// (`process_group(leader)`).
///
/// Dropping a `Group` that still has unreaped children kills and reaps them,
/// so an early return (`?`) or a panic leaves neither an orphan nor a zombie.
#[derive(Debug, Default)]
pub(super) struct Group {
    /// Each child, its program (for messages) and, once reaped, how it
    /// ended. The first is the leader.
    children: Vec<(Child, String, Option<ExitStatus>)>,
}

impl Group {
    /// An empty group; the first child pushed leads it.
    pub(super) fn new() -> Self {
        Group::default()
    }

    /// The id of the process group, for `Command::process_group` of the next
    /// stage: the leader's pid, or `None` while there is no leader yet.
    pub(super) fn id(&self) -> Option<u32> {
        self.children.first().map(|(child, _, _)| child.id())
    }

    /// Takes charge of a child spawned into this group from `program`.
    pub(super) fn push(&mut self, child: Child, program: &str) {
        self.children.push((child, program.to_owned(), None));
    }

    /// Sends SIGKILL to the whole group (grandchildren included) and to each
    /// unreaped child by pid (in case one left the group), and returns the
    /// children that refused it (`EPERM`: one that changed its credentials,
    /// like `sudo`). Other errors cannot happen to an unreaped child.
    fn kill(&mut self) -> Vec<Refused> {
        #[cfg(unix)]
        if let Some((leader, _, None)) = self.children.first() {
            // Invariant: the group id is the leader's pid, and while the
            // leader is not reaped the kernel cannot give that number to
            // another process or group. So `killpg` is sent only before the
            // leader is reaped, and can never reach an unrelated group.
            if let Ok(pgid) = i32::try_from(leader.id()) {
                use nix::sys::signal::{killpg, Signal};
                let _ = killpg(nix::unistd::Pid::from_raw(pgid), Signal::SIGKILL);
            }
        }
        let mut refused = Vec::new();
        for (child, program, status) in &mut self.children {
            if status.is_none() {
                if let Err(error) = child.kill() {
                    refused.push((child.id(), program.clone(), error));
                }
            }
        }
        refused
    }

    /// Reaps every child, waiting at most until `deadline` (`None`: as long
    /// as it takes). `Ok(true)` once all are reaped, `Ok(false)` if some are
    /// still running at the deadline.
    ///
    /// The leader is reaped last, once every other child is: so while any
    /// child may still be running, the group id is still the leader's, and
    /// [`kill`](Group::kill) can signal the whole group.
    ///
    /// With a deadline this polls `try_wait`, sleeping 50 µs at first and
    /// doubling up to 5 ms: it runs only after every pipe reached end of file,
    /// when the children are normally already exiting.
    pub(super) fn wait(&mut self, deadline: Option<Instant>) -> io::Result<bool> {
        let Some(deadline) = deadline else {
            // Every child is waited for even if one wait fails (ECHILD:
            // something else reaped it), so that one failure cannot leave
            // the others, the leader last, as zombies. The first error wins.
            let mut first_error = None;
            for (child, _, status) in self.children.iter_mut().rev() {
                if status.is_none() {
                    match child.wait() {
                        Ok(exit) => *status = Some(exit),
                        Err(error) => {
                            first_error.get_or_insert(error);
                        }
                    }
                }
            }
            return first_error.map_or(Ok(true), Err);
        };
        let mut pause = Duration::from_micros(50);
        loop {
            let mut running = false;
            for (index, (child, _, status)) in self.children.iter_mut().enumerate().rev() {
                if status.is_none() && !(index == 0 && running) {
                    *status = child.try_wait()?;
                }
                running |= status.is_none();
            }
            if !running {
                return Ok(true);
            }
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                return Ok(false);
            };
            if left.is_zero() {
                return Ok(false);
            }
            thread::sleep(pause.min(left));
            pause = (pause * 2).min(Duration::from_millis(5));
        }
    }

    /// Kills every child and reaps it. After SIGKILL the wait is short;
    /// but a child that refused the signal is waited for at most
    /// [`REFUSED_WAIT`], then handed, with every child still unreaped, to a
    /// background thread that reaps it whenever it exits, so that the
    /// caller neither hangs nor leaves a zombie. That case is an error
    /// naming the children.
    pub(super) fn kill_and_reap(&mut self) -> io::Result<()> {
        let refused = self.kill();
        if refused.is_empty() {
            return self.wait(None).map(drop);
        }
        if self.wait(Instant::now().checked_add(REFUSED_WAIT))? {
            return Ok(());
        }
        self.detach();
        let names: Vec<String> = refused
            .iter()
            .map(|(pid, program, error)| format!("`{program}` (pid {pid}): {error}"))
            .collect();
        Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "could not kill {}; left running, reaped in the background when it exits",
                names.join(", ")
            ),
        ))
    }

    /// Hands every unreaped child to a thread of its own that waits for
    /// it. If no thread can be started, the child is let go unreaped.
    fn detach(&mut self) {
        let children = std::mem::take(&mut self.children);
        for (mut child, program, status) in children {
            if status.is_some() {
                continue;
            }
            let _ = thread::Builder::new()
                .name(format!("ptm-reaper-{}", child.id()))
                .spawn(move || {
                    let _ = (child.wait(), program);
                });
        }
    }

    /// How each child ended, in order; `None` for one not reaped.
    pub(super) fn statuses(&self) -> Vec<Option<ExitStatus>> {
        self.children.iter().map(|(_, _, status)| *status).collect()
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        if self.children.iter().any(|(_, _, status)| status.is_none()) {
            // Nothing to report an error to: a wait fails only if something
            // else reaped the child, and a child that refused SIGKILL is
            // left to a background reaper.
            let _ = self.kill_and_reap();
        }
    }
}
