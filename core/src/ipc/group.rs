//! The children of one [`communicate`](super::communicate) call or one
//! [`Pipeline::run`](super::Pipeline::run), all in one process group, and the
//! guarantee that each of them is reaped on every path.

use std::io;
use std::process::{Child, ExitStatus};
use std::thread;
use std::time::{Duration, Instant};

/// Running children that share one process group: the first child's, which
/// it leads (`process_group(0)`), the others joined it
/// (`process_group(leader)`).
///
/// Dropping a `Group` that still has unreaped children kills and reaps them,
/// so an early return (`?`) or a panic leaves neither an orphan nor a zombie.
#[derive(Debug, Default)]
pub(super) struct Group {
    /// Each child and, once reaped, how it ended. The first is the leader.
    children: Vec<(Child, Option<ExitStatus>)>,
}

impl Group {
    /// An empty group; the first child pushed leads it.
    pub(super) fn new() -> Self {
        Group::default()
    }

    /// The id of the process group, for `Command::process_group` of the next
    /// stage: the leader's pid, or `None` while there is no leader yet.
    pub(super) fn id(&self) -> Option<u32> {
        self.children.first().map(|(child, _)| child.id())
    }

    /// Takes charge of a child spawned into this group.
    pub(super) fn push(&mut self, child: Child) {
        self.children.push((child, None));
    }

    /// Sends SIGKILL to the whole group (grandchildren included) and to each
    /// unreaped child by pid (in case one left the group). Errors are
    /// ignored: a process that is already gone needs no signal.
    pub(super) fn kill(&mut self) {
        #[cfg(unix)]
        if let Some((leader, None)) = self.children.first() {
            // Invariant: the group id is the leader's pid, and while the
            // leader is not reaped the kernel cannot give that number to
            // another process or group. So `killpg` is sent only before the
            // leader is reaped, and can never reach an unrelated group.
            if let Ok(pgid) = i32::try_from(leader.id()) {
                use nix::sys::signal::{killpg, Signal};
                let _ = killpg(nix::unistd::Pid::from_raw(pgid), Signal::SIGKILL);
            }
        }
        for (child, status) in &mut self.children {
            if status.is_none() {
                let _ = child.kill();
            }
        }
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
            for (child, status) in self.children.iter_mut().rev() {
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
            for (index, (child, status)) in self.children.iter_mut().enumerate().rev() {
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

    /// Kills every child and reaps it: after SIGKILL, `wait` is bounded.
    pub(super) fn kill_and_reap(&mut self) -> io::Result<()> {
        self.kill();
        self.wait(None).map(drop)
    }

    /// How each child ended, in order; `None` for one not reaped.
    pub(super) fn statuses(&self) -> Vec<Option<ExitStatus>> {
        self.children.iter().map(|(_, status)| *status).collect()
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        if self.children.iter().any(|(_, status)| status.is_none()) {
            // Nothing to report an error to; `wait` after SIGKILL fails only
            // if something else reaped the child, which is then gone anyway.
            let _ = self.kill_and_reap();
        }
    }
}
