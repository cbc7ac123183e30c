//! [`Pipeline`]: `a | b | c` without a shell, with `pipefail`.

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use super::drive;
use super::group::Group;
use super::pump::{enlarge_pipe, Capture, Pump};
use crate::error::{command_line, Error, Result};
use crate::process::{close_inherited_fds, spawn_error, stderr_tail};

/// How much of each stage's stderr a pipeline keeps: the tail of a failing
/// stage's stderr goes into its [`Error::Exit`].
const STDERR_KEEP: usize = 64 * 1024;

/// One `program args...` of a pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stage {
    /// For messages (lossy UTF-8).
    program: String,
    /// For messages (lossy UTF-8).
    args: Vec<String>,
    /// What the `Command` is rebuilt from at each run.
    raw_program: OsString,
    raw_args: Vec<OsString>,
    /// Variables set (`Some`) or removed (`None`), in order.
    envs: Vec<(OsString, Option<OsString>)>,
    current_dir: Option<PathBuf>,
}

impl Stage {
    /// A fresh `Command` for this stage (its stdio and group still unset).
    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.raw_program);
        cmd.args(&self.raw_args);
        for (key, value) in &self.envs {
            match value {
                Some(value) => cmd.env(key, value),
                None => cmd.env_remove(key),
            };
        }
        if let Some(dir) = &self.current_dir {
            cmd.current_dir(dir);
        }
        cmd
    }
}

/// A shell-style pipeline, `a | b | c`, run without a shell: each stage's
/// stdout feeds the next stage's stdin, the first stage reads
/// [`input`](Pipeline::input), the last stage's stdout is returned.
///
/// Built by value, run by reference (so it can run again):
///
/// ```
/// use ptm::ipc::Pipeline;
///
/// # fn main() -> ptm::Result<()> {
/// let out = Pipeline::new()
///     .stage("tr", &["a-z", "A-Z"])
///     .stage("sort", &[])
///     .input("pear\napple\n")
///     .run()?;
/// assert_eq!(out.stdout, b"APPLE\nPEAR\n");
/// assert_eq!(out.statuses.len(), 2);
/// # Ok(())
/// # }
/// ```
///
/// # Behaviour
///
/// - Each stage runs in a new process group that it leads, so a timeout's
///   `SIGKILL` reaches what the stages started too. (One group per stage,
///   not one for all: a stage could not join the group of a first stage
///   that has already exited and been reaped, as happens when SIGCHLD is
///   ignored.)
/// - The stages die with this process, whatever kills it (see
///   [`die_with_parent`](Pipeline::die_with_parent)), and hold no
///   descriptor of this process but their stdin, stdout and stderr.
/// - The parent keeps none of the pipes between stages: stage `i`'s stdout
///   goes straight into stage `i + 1`'s `Command` and is closed in the
///   parent as soon as that stage is spawned. Otherwise a stage would never
///   see end of file on its stdin. Those pipes are enlarged to 1 MiB
///   (`F_SETPIPE_SZ`, best effort) for throughput.
/// - Without [`input`](Pipeline::input), the first stage's stdin is
///   `/dev/null`.
/// - Each stage's stderr is captured; the tail of a failing stage's stderr
///   is in its error, and on success stderr is discarded.
/// - Every stage is waited for, on every path: a pipeline returns only once
///   every stage has been reaped.
#[derive(Clone, Default, PartialEq, Eq)]
#[must_use = "a Pipeline does nothing until `run` is called"]
pub struct Pipeline {
    stages: Vec<Stage>,
    input: Vec<u8>,
    timeout: Option<Duration>,
    /// `false` if the stages may outlive this process.
    outlive_parent: bool,
    /// Return every status instead of failing on the first failed stage.
    unchecked: bool,
}

impl fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The input may be gigabytes: show its size, not its bytes.
        f.debug_struct("Pipeline")
            .field("stages", &self.stages)
            .field("input_len", &self.input.len())
            .field("timeout", &self.timeout)
            .field("die_with_parent", &!self.outlive_parent)
            .field("unchecked", &self.unchecked)
            .finish()
    }
}

/// What a successful [`Pipeline::run`] produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineOutput {
    /// Everything the last stage wrote to its stdout.
    pub stdout: Vec<u8>,
    /// How each stage ended, one per stage, in order (all successes, since
    /// a failing stage makes [`Pipeline::run`] an error, unless the
    /// pipeline is [`unchecked`](Pipeline::unchecked)).
    pub statuses: Vec<ExitStatus>,
}

impl Pipeline {
    /// An empty pipeline; add stages with [`stage`](Pipeline::stage).
    ///
    /// ```
    /// let out = ptm::ipc::Pipeline::new().stage("echo", &["hi"]).run()?;
    /// assert_eq!(out.stdout, b"hi\n");
    /// # Ok::<(), ptm::Error>(())
    /// ```
    pub fn new() -> Self {
        Pipeline::default()
    }

    /// Appends a stage: `program` (looked up in `PATH` like
    /// [`Command::new`]) with `args`.
    ///
    /// ```
    /// let out = ptm::ipc::Pipeline::new()
    ///     .stage("echo", &["b a"])
    ///     .stage("tr", &[" ", "\n"])
    ///     .stage("sort", &[])
    ///     .run()?;
    /// assert_eq!(out.stdout, b"a\nb\n");
    /// # Ok::<(), ptm::Error>(())
    /// ```
    pub fn stage(mut self, program: &str, args: &[&str]) -> Self {
        self.stages.push(Stage {
            program: program.to_owned(),
            args: args.iter().map(|&arg| arg.to_owned()).collect(),
            raw_program: program.into(),
            raw_args: args.iter().map(OsString::from).collect(),
            envs: Vec::new(),
            current_dir: None,
        });
        self
    }

    /// Appends a stage from a full [`Command`]: its program, arguments,
    /// environment changes ([`Command::env`], [`Command::env_remove`]) and
    /// working directory are kept; its stdin, stdout, stderr and process
    /// group are replaced by the pipeline's. (Std gives no way to read
    /// whether [`Command::env_clear`] was called: a cleared environment is
    /// not kept, only the variables set after it. Neither are `pre_exec`
    /// hooks, uid or gid.)
    ///
    /// ```
    /// use std::process::Command;
    ///
    /// let mut greet = Command::new("sh");
    /// greet.args(["-c", "echo \"$GREETING from $(pwd)\""]).env("GREETING", "hi").current_dir("/");
    /// let out = ptm::ipc::Pipeline::new().command(greet).stage("tr", &["a-z", "A-Z"]).run()?;
    /// assert_eq!(out.stdout, b"HI FROM /\n");
    /// # Ok::<(), ptm::Error>(())
    /// ```
    pub fn command(mut self, cmd: Command) -> Self {
        let lossy = |text: &std::ffi::OsStr| text.to_string_lossy().into_owned();
        self.stages.push(Stage {
            program: lossy(cmd.get_program()),
            args: cmd.get_args().map(lossy).collect(),
            raw_program: cmd.get_program().to_owned(),
            raw_args: cmd.get_args().map(ToOwned::to_owned).collect(),
            envs: cmd
                .get_envs()
                .map(|(key, value)| (key.to_owned(), value.map(ToOwned::to_owned)))
                .collect(),
            current_dir: cmd.get_current_dir().map(ToOwned::to_owned),
        });
        self
    }

    /// Makes [`run`](Pipeline::run) return `Ok` with every stage's status
    /// and all the output read, whatever the statuses (duct's
    /// `unchecked`): `pipefail` is off. A timeout, a stage that cannot
    /// start and a status lost to another reaper are still errors.
    ///
    /// ```
    /// let out = ptm::ipc::Pipeline::new()
    ///     .stage("echo", &["hi"])
    ///     .stage("sh", &["-c", "cat; exit 3"])
    ///     .stage("cat", &[])
    ///     .unchecked()
    ///     .run()?;
    /// assert_eq!(out.stdout, b"hi\n");
    /// assert_eq!(out.statuses[1].code(), Some(3));
    /// # Ok::<(), ptm::Error>(())
    /// ```
    pub fn unchecked(mut self) -> Self {
        self.unchecked = true;
        self
    }

    /// Sets the bytes the first stage reads on its stdin (default: none,
    /// stdin is `/dev/null`). A stage that stops reading early is not an
    /// error: the rest of the input is dropped.
    ///
    /// ```
    /// let out = ptm::ipc::Pipeline::new().stage("wc", &["-c"]).input("12345").run()?;
    /// assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "5");
    /// # Ok::<(), ptm::Error>(())
    /// ```
    pub fn input(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.input = bytes.into();
        self
    }

    /// Limits how long [`run`](Pipeline::run) may take, from its start.
    /// At the deadline every stage (and everything else in the pipeline's
    /// process group) is killed and reaped, and `run` returns
    /// [`Error::Timeout`].
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let result = ptm::ipc::Pipeline::new()
    ///     .stage("sleep", &["10"])
    ///     .stage("cat", &[])
    ///     .timeout(Duration::from_millis(100))
    ///     .run();
    /// assert!(matches!(result, Err(ptm::Error::Timeout { .. })));
    /// ```
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = Some(d);
        self
    }

    /// Whether the stages, with what they start, are killed if this process
    /// dies during [`run`](Pipeline::run), by any signal, SIGKILL included
    /// (default: `true`; see
    /// [`ProcessManager::die_with_parent`](crate::process::ProcessManager::die_with_parent)).
    ///
    /// ```
    /// let out = ptm::ipc::Pipeline::new().stage("echo", &["hi"]).die_with_parent(false).run()?;
    /// assert_eq!(out.stdout, b"hi\n");
    /// # Ok::<(), ptm::Error>(())
    /// ```
    pub fn die_with_parent(mut self, die: bool) -> Self {
        self.outlive_parent = !die;
        self
    }

    /// Runs the pipeline to the end: spawns every stage, writes the input
    /// while reading the last stage's stdout and every stage's stderr
    /// (see the [module docs](super) for how this never deadlocks), then
    /// reaps every stage.
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidArgument`] for a pipeline without stages.
    /// - [`Error::Pipeline`] `{ stage, program, source }` for the first
    ///   stage, by index from 0, that failed (`pipefail`), with `source`:
    ///   - [`Error::Spawn`] if it could not start (`NotFound`,
    ///     `PermissionDenied`, ... in `source.kind()`); the stages already
    ///     running are killed and reaped first;
    ///   - [`Error::Exit`] if it exited unsuccessfully, with the tail of its
    ///     stderr. As with the shell's `pipefail`, a producer killed by
    ///     `SIGPIPE` because a later stage stopped reading (`yes | head -1`)
    ///     counts as failed.
    /// - [`Error::Timeout`] if the [`timeout`](Pipeline::timeout) passed:
    ///   `program` is the pipeline (`a | b | c`), `output.stdout` what the last
    ///   stage wrote before it, `output.stderr` the stages' stderr tails one
    ///   after another, `output.status` the last stage's status after the
    ///   kill.
    /// - [`Error::Io`] if the operating system failed a pipe or `poll`
    ///   operation; every stage is killed and reaped first.
    /// - [`Error::Io`] of kind `PermissionDenied`, instead of `Timeout`, if
    ///   at the timeout a stage could not be killed (`EPERM`) and did not
    ///   exit within a second; as for [`communicate`](super::communicate).
    ///
    /// # Examples
    ///
    /// ```
    /// use ptm::{ipc::Pipeline, Error};
    ///
    /// // `false | true` fails at stage 0, as with `set -o pipefail`.
    /// match Pipeline::new().stage("false", &[]).stage("true", &[]).run() {
    ///     Err(Error::Pipeline { stage, program, .. }) => {
    ///         assert_eq!((stage, program.as_str()), (0, "false"))
    ///     }
    ///     other => panic!("expected a stage-0 failure, got {other:?}"),
    /// }
    /// ```
    pub fn run(&self) -> Result<PipelineOutput> {
        if self.stages.is_empty() {
            return Err(Error::InvalidArgument(
                "a pipeline needs at least one stage".to_owned(),
            ));
        }
        let deadline = self
            .timeout
            .and_then(|timeout| Instant::now().checked_add(timeout));
        let last = self.stages.len() - 1;

        // Dropped on any early return: kills and reaps what was spawned.
        if !self.outlive_parent {
            crate::guardian::prepare()?;
        }
        let mut group = Group::new(!self.outlive_parent);
        let mut stdin = None;
        let mut stdout = None;
        let mut errs = Vec::with_capacity(self.stages.len());
        for (index, stage) in self.stages.iter().enumerate() {
            let mut cmd = stage.command();
            cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
            match stdout.take() {
                // The previous stage's stdout: moved into this Command, so
                // the parent's copy closes when `cmd` is dropped below.
                Some(pipe) => cmd.stdin(Stdio::from(pipe)),
                None if self.input.is_empty() => cmd.stdin(Stdio::null()),
                None => cmd.stdin(Stdio::piped()),
            };
            std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
            close_inherited_fds(&mut cmd);
            let spawned = cmd.spawn();
            let mut child = match spawned {
                Ok(child) => child,
                Err(source) => {
                    let error = spawn_error(&cmd, stage.program.clone(), source);
                    // The spawn error is the one to report; the stages
                    // already running are killed and reaped (or left to
                    // the background reaper) by `group`'s drop.
                    drop(group);
                    return Err(Error::Pipeline {
                        stage: index,
                        program: stage.program.clone(),
                        source: Box::new(error),
                    });
                }
            };
            drop(cmd);
            if index == 0 {
                stdin = child.stdin.take();
            }
            stdout = child.stdout.take();
            if index < last {
                if let Some(pipe) = &stdout {
                    enlarge_pipe(pipe);
                }
            }
            errs.push((child.stderr.take(), Capture::tail(STDERR_KEEP)));
            group.push(child, &stage.program)?;
        }

        let mut pump = Pump::new(&self.input, stdin, stdout, errs)?;
        let outcome = drive(&mut group, &mut pump, deadline)?;
        let (stdout, mut stderrs) = pump.finish();
        if let Some(index) = outcome.statuses.iter().position(Option::is_none) {
            let program = self.stages[index].program.clone();
            return Err(Error::Pipeline {
                stage: index,
                program: program.clone(),
                source: Box::new(Error::StatusLost {
                    program,
                    pid: outcome.pids[index],
                    stdout,
                    stderr: std::mem::take(&mut stderrs[index]),
                }),
            });
        }
        let statuses: Vec<ExitStatus> = outcome.statuses.iter().flatten().copied().collect();
        if outcome.timed_out {
            return Err(Error::Timeout {
                program: self.command_line(),
                output: Output {
                    status: statuses[last],
                    stdout,
                    stderr: stderrs.concat(),
                },
            });
        }
        let failed = statuses
            .iter()
            .position(|status| !status.success())
            .filter(|_| !self.unchecked);
        if let Some(index) = failed {
            let stage = &self.stages[index];
            return Err(Error::Pipeline {
                stage: index,
                program: stage.program.clone(),
                source: Box::new(Error::Exit {
                    program: stage.program.clone(),
                    args: stage.args.clone(),
                    status: statuses[index],
                    stderr_tail: stderr_tail(&stderrs[index]),
                }),
            });
        }
        Ok(PipelineOutput { stdout, statuses })
    }

    /// `a x | b | c y`, for messages.
    fn command_line(&self) -> String {
        self.stages
            .iter()
            .map(|stage| command_line(&stage.program, &stage.args))
            .collect::<Vec<_>>()
            .join(" | ")
    }
}
