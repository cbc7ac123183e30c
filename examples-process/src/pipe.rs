//! # `pipe`: `a | b | c` without a shell, every stage checked
//!
//! Shows [`Pipeline`]: `printf 'b\na\nc\n' | tr a-z A-Z | sort`, its output
//! and the status of every stage; then `false | true`, which fails naming
//! stage 0 (`pipefail`: the first failing stage wins, not the last one's
//! status as in a plain shell).
//!
//! Run: `cargo run -p examples-process -- pipe`
//!
//! First the common first attempt, [`naive_false_cat`]: std's `Command`s
//! joined by a pipe, waiting for the consumer only. The producer is never
//! waited for, so it stays a zombie, and its failure is never seen:
//! `false | cat` "succeeds". The demo shows the success and the zombie,
//! then reaps it. `Pipeline::run` reaps every stage and reports the first
//! one that failed.

use std::process::{Command, ExitStatus, Stdio};

use anyhow::{bail, Context, Result};
use ptm::ipc::{Pipeline, PipelineOutput};

use crate::os;

// ANCHOR: upper_sorted
/// `printf 'b\na\nc\n' | tr a-z A-Z | sort`.
pub fn upper_sorted() -> Result<PipelineOutput> {
    let pipeline = Pipeline::new()
        .stage("printf", &["b\\na\\nc\\n"])
        .stage("tr", &["a-z", "A-Z"])
        .stage("sort", &[]);
    pipeline.run().context("running `printf | tr | sort`")
}
// ANCHOR_END: upper_sorted

// ANCHOR: false_true
/// `false | true`: the failing stage's index, program and the error message.
pub fn false_true() -> Result<(usize, String, String)> {
    let error =
        match Pipeline::new().stage("false", &[]).stage("true", &[]).run() {
            Ok(out) => {
                bail!("expected `false | true` to fail, it gave {out:?}")
            }
            Err(error) => error,
        };
    let message = error.to_string();
    let ptm::Error::Pipeline { stage, program, .. } = error else {
        bail!("`false | true` failed, but not at a stage: {message}");
    };
    Ok((stage, program, message))
}
// ANCHOR_END: false_true

// ANCHOR: naive_false_cat
/// `false | cat`, waiting for `cat` only: whether that reported success,
/// the producer's pid, its `/proc` state once it exited (a zombie), and
/// its status, which that code never reads (read here, reaping it).
pub fn naive_false_cat() -> Result<(bool, u32, Option<char>, ExitStatus)> {
    let producer = Command::new("false")
        .stdout(Stdio::piped())
        .spawn()
        .context("spawning `false`")?;
    // Reaped on drop if a step below fails (`?`), not left a zombie.
    let mut producer = os::ChildGuard::new(producer);
    let pipe =
        producer.stdout.take().context("the producer's stdout is piped")?;
    let consumer = Command::new("cat")
        .stdin(pipe)
        .stdout(Stdio::piped())
        .spawn()
        .context("spawning `cat`")?;
    let output = consumer.wait_with_output().context("waiting for `cat`")?;
    let pid = producer.id();
    os::wait_exited_unreaped(pid)?;
    let state = os::stat(pid).map(|stat| stat.state);
    let status = producer
        .wait()
        .with_context(|| format!("reaping `false` (pid {pid})"))?;
    Ok((output.status.success(), pid, state, status))
}
// ANCHOR_END: naive_false_cat

/// Prints the output and statuses.
pub fn run() -> Result<()> {
    let (success, pid, state, status) = naive_false_cat()?;
    let state = state.map_or_else(|| "gone".to_owned(), |s| s.to_string());
    println!(
        "naive: `false | cat` reported success = {success}; producer pid {pid}"
    );
    println!(
        "naive:   left in state {state} (Z = zombie), its {} never read",
        os::describe(&status)
    );
    let out = upper_sorted()?;
    let lines: Vec<_> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    println!("printf | tr a-z A-Z | sort -> {}", lines.join(" "));
    for (stage, status) in ["printf", "tr", "sort"].iter().zip(&out.statuses) {
        println!("  stage {stage}: {}", os::describe(status));
    }
    let (stage, program, message) = false_true()?;
    os::say(
        "false | true ->",
        &format!("failed at stage {stage} ({program}): {message}"),
    );
    println!(
        "notice: Pipeline waits for every stage and names the first that \
         failed;"
    );
    println!("notice: waiting for the last one only hides a failure");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipeline_output_and_statuses() {
        let out = upper_sorted().expect("coreutils run");
        assert_eq!(out.stdout, b"A\nB\nC\n");
        assert_eq!(out.statuses.len(), 3);
        assert!(out.statuses.iter().all(ExitStatus::success));
    }

    #[test]
    fn false_true_fails_at_stage_0() {
        let (stage, program, message) =
            false_true().expect("a stage-0 failure");
        assert_eq!((stage, program.as_str()), (0, "false"));
        assert!(message.contains("stage 0"), "{message}");
    }

    #[test]
    fn waiting_for_the_consumer_only_hides_the_failure_and_leaves_a_zombie() {
        let (success, _, state, status) =
            naive_false_cat().expect("coreutils run");
        assert!(success);
        assert_eq!((state, status.code()), (Some('Z'), Some(1)));
    }
}
