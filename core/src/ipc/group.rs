//! The children of one [`communicate`](super::communicate) call or one
//! [`Pipeline::run`](super::Pipeline::run), and the guarantee that each of
//! them is reaped, or handed to the background reaper, on every path.

use std::io;
use std::process::Child;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::child::{reap_in_background, wait_for_exit, Guard, State, Tracked};

/// How long [`Group::kill_and_reap`] waits after SIGKILL before it leaves
/// the children still alive (frozen, in uninterruptible sleep, or out of
/// reach: `EPERM`) to the background reaper.
const KILL_WAIT: Duration = Duration::from_secs(1);

/// Running children, each leading a process group of its own
/// (`process_group(0)`), so that a kill reaches what each started.
///
/// Dropping a `Group` that still has unreaped children kills and reaps them
/// (bounded, see [`kill_and_reap`](Group::kill_and_reap)), so an early
/// return (`?`) or a panic leaves neither an orphan nor a zombie.
#[derive(Debug, Default)]
pub(super) struct Group {
    children: Vec<Tracked>,
    /// Register the children with the guardian.
    die_with_parent: bool,
}

impl Group {
    /// An empty group whose children die with this process or not.
    pub(super) fn new(die_with_parent: bool) -> Self {
        Group {
            children: Vec::new(),
            die_with_parent,
        }
    }

    /// Takes charge of a child spawned from `program` into a process group
    /// of its own.
    ///
    /// # Errors
    ///
    /// The child cannot be tracked (see [`Tracked::new`]); it is killed and
    /// reaped then.
    pub(super) fn push(&mut self, child: Child, program: &str) -> io::Result<()> {
        let guard = if self.die_with_parent {
            Guard::Group
        } else {
            Guard::None
        };
        self.children
            .push(Tracked::new(child, program, guard, true)?);
        Ok(())
    }

    /// The children, in order.
    pub(super) fn children(&self) -> &[Tracked] {
        &self.children
    }

    /// Reaps every child, waiting at most until `deadline` (`None`: as long
    /// as it takes), on their pidfds. `Ok(true)` once none is running (each
    /// reaped, or lost: reaped elsewhere), `Ok(false)` if some still run at
    /// the deadline.
    pub(super) fn wait(&mut self, deadline: Option<Instant>) -> io::Result<bool> {
        loop {
            let mut first_error = None;
            for child in &mut self.children {
                // Every child is tried even if one fails, so that one
                // failure cannot leave the others as zombies.
                if let Err(error) = child.try_reap() {
                    first_error.get_or_insert_with(|| child.context(error, "waiting for"));
                }
            }
            if let Some(error) = first_error {
                return Err(error);
            }
            let running: Vec<_> = self
                .children
                .iter()
                .filter(|child| child.state() == State::Running)
                .collect();
            if running.is_empty() {
                return Ok(true);
            }
            let fds: Vec<_> = running.iter().filter_map(|child| child.pidfd()).collect();
            if !wait_for_exit(&fds, fds.len() < running.len(), deadline)? {
                return Ok(false);
            }
        }
    }

    /// Sends SIGKILL to each child's process group (grandchildren included)
    /// and to each child, and returns the children that refused it
    /// (`EPERM`: one that changed its credentials, like `sudo`), by index.
    ///
    /// The last child first: a pipeline's consumer is killed before its
    /// producer, so that it cannot see end of file and exit by itself first
    /// (the kill would then look like a clean exit).
    fn kill(&self) -> Vec<(usize, io::Error)> {
        self.children
            .iter()
            .enumerate()
            .rev()
            .filter_map(|(index, child)| {
                child
                    .signal_group(Signal::SIGKILL)
                    .err()
                    .map(|error| (index, error))
            })
            .collect()
    }

    /// Kills every child and reaps it, waiting at most [`KILL_WAIT`]. A
    /// child still alive then (it refused SIGKILL, or it is frozen or in
    /// uninterruptible sleep and cannot die yet) is handed, with every
    /// other child still unreaped, to the background reaper, which reaps
    /// it whenever it exits: the caller neither hangs nor leaves a zombie.
    /// That case is an error naming each survivor (pid and program) and
    /// why it survived.
    pub(super) fn kill_and_reap(&mut self) -> io::Result<()> {
        let refused = self.kill();
        let waited = self.wait(Instant::now().checked_add(KILL_WAIT));
        if matches!(waited, Ok(true)) {
            return Ok(());
        }
        let mut survivors = Vec::new();
        for (index, child) in self.children.iter().enumerate() {
            if child.state() == State::Running {
                let why = match refused.iter().find(|(refused, _)| *refused == index) {
                    Some((_, error)) => format!("SIGKILL refused: {error}"),
                    None => format!(
                        "alive {} s after SIGKILL (frozen, or in uninterruptible sleep)",
                        KILL_WAIT.as_secs()
                    ),
                };
                survivors.push(format!(
                    "`{}` (pid {}): {why}",
                    child.program(),
                    child.pid()
                ));
            }
        }
        // Hand over even when the wait failed: nothing may stay unreaped.
        self.detach();
        if let Err(error) = waited {
            if survivors.is_empty() {
                return Err(error);
            }
        }
        let kind = if refused.is_empty() {
            io::ErrorKind::TimedOut
        } else {
            io::ErrorKind::PermissionDenied
        };
        Err(io::Error::new(
            kind,
            format!(
                "could not kill {}; left running, reaped in the background when it exits",
                survivors.join(", ")
            ),
        ))
    }

    /// Hands every child still running to the background reaper.
    fn detach(&mut self) {
        for child in std::mem::take(&mut self.children) {
            if child.state() == State::Running {
                reap_in_background(child);
            }
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        if self
            .children
            .iter()
            .any(|child| child.state() == State::Running)
        {
            // Nothing to report an error to: a child that cannot be killed
            // is left to the background reaper.
            let _ = self.kill_and_reap();
        }
    }
}
