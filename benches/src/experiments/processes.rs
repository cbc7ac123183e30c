//! Processes (section 6): spawn + wait of `/bin/true`, one child at a time,
//! 2,000 per variant and round (quick: 200), 7 rounds (quick: 3), rotated,
//! after a warm-up of a tenth; every exit status is checked. `pm`:
//! `ProcessManager::spawn`, `wait_all` (its own process group); `process`:
//! `Process::spawn`, `wait` (a pidfd, no manager); `status`:
//! `Command::status()`, the reference; `status-pgroup`: the same in its own
//! group, to tell what the group costs; `sh`: `sh -c true`, for scale.
//! `report --only processes --rounds 9 --variants pm,process,status`

use crate::harness::{distinct, interleave, median_table, name, per_round_ratios, Ctx, Experiment};
use crate::plot::{self, Mark, Panel, Rows, Scale, Series};
use crate::stats::{median, ratio};
use crate::verdict::{Check, Target};
use anyhow::{ensure, Context};
use ptm::process::{Process, ProcessManager};
use serde::{Deserialize, Serialize};
use std::{os::unix::process::CommandExt, path::Path, process::Command, time::Instant};
use Variant::{Pm, Process as Proc, Sh, Status, StatusPgroup};

const PROGRAM: &str = "/bin/true";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Variant {
    Pm,
    Process,
    Status,
    StatusPgroup,
    Sh,
}

impl Variant {
    /// Starts `program` `spawns` times, each waited for before the next,
    /// and checks that every one succeeded.
    pub(crate) fn run(self, program: &str, spawns: usize) -> anyhow::Result<()> {
        let status = |c: &mut Command| c.status().with_context(|| format!("running {c:?}"));
        let mut manager = ProcessManager::new();
        for _ in 0..spawns {
            let status = match self {
                Pm => {
                    manager.spawn(program, &[])?;
                    manager.wait_all().pop().context("no child")?.status?
                }
                Proc => Process::spawn(Command::new(program))?.wait()?,
                Status => status(&mut Command::new(program))?,
                StatusPgroup => status(Command::new(program).process_group(0))?,
                Sh => status(Command::new("sh").args(["-c", "true"]))?,
            };
            let shown = if self == Sh { "sh -c true" } else { program };
            ensure!(status.success(), "{shown} failed: {status}");
        }
        Ok(())
    }
}

/// One timed round of one variant.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Row {
    variant: Variant,
    round: usize,
    position: usize,
    spawns: usize,
    seconds: f64,
    us_per_spawn: f64,
}

pub(crate) struct Processes;

fn by_round(rows: &[Row], variant: Variant) -> Vec<(usize, f64)> {
    let of = rows.iter().filter(|r| r.variant == variant);
    of.map(|r| (r.round, r.us_per_spawn)).collect()
}

fn micros(rows: &[Row], variant: Variant) -> Vec<f64> {
    by_round(rows, variant).into_iter().map(|p| p.1).collect()
}

impl Experiment for Processes {
    const NAME: &'static str = "processes";
    const STEM: &'static str = "processes";
    const LABEL: &'static str = "processes";
    type Row = Row;

    fn run(ctx: &Ctx) -> anyhow::Result<Vec<Row>> {
        let variants = ctx.variants(&[Pm, Proc, Status, StatusPgroup, Sh])?;
        let spawns = ctx.pick(2_000, 200);
        for &variant in &variants {
            let warm_up = variant.run(PROGRAM, spawns / 10);
            warm_up.with_context(|| format!("warm-up of {}", name(&variant)))?;
        }
        let measure = |variant: Variant, round, position| {
            ctx.bar.set_message(name(&variant));
            let start = Instant::now();
            variant.run(PROGRAM, spawns)?;
            let seconds = start.elapsed().as_secs_f64();
            Ok(Row {
                variant,
                round,
                position,
                spawns,
                seconds,
                us_per_spawn: (seconds * 1e9 / spawns as f64).round() / 1e3,
            })
        };
        interleave(&ctx.bar, &variants, ctx.rounds(7, 3), measure)
    }

    fn plot(rows: &[Row], path: &Path) -> anyhow::Result<()> {
        let variants = distinct(rows.iter().map(|r| r.variant));
        let label = |v: &Variant| match v {
            Pm => "ptm ProcessManager: spawn, wait_all",
            Proc => "ptm Process: spawn, wait",
            Status => "Command::status()",
            StatusPgroup => "Command::status(), own process group",
            Sh => "sh -c true, through Command::status()",
        };
        let values = variants.iter().map(|&v| median(micros(rows, v))).collect();
        let name = String::new();
        let panel = Panel {
            title: String::new(),
            rows: variants.iter().map(|v| label(v).to_owned()).collect(),
            series: vec![Series { name, values }],
        };
        let chart = Rows {
            title: &format!("Processes: start {PROGRAM} and wait for it"),
            axis: "microseconds per spawn + wait",
            scale: Scale::Linear,
            mark: Mark::Bar,
            value: |us| format!("{us:.0} µs"),
        };
        plot::rows(path, &chart, &[panel])
    }

    fn summary(rows: &[Row]) -> String {
        let spawns = rows.first().map_or(0, |r| r.spawns);
        let rounds = distinct(rows.iter().map(|r| r.round)).len();
        let variants = distinct(rows.iter().map(|r| r.variant));
        let lines = variants.iter().map(|&v| (name(&v), micros(rows, v)));
        let table = median_table("variant", "µs per spawn", lines, |us| format!("{us:.1}"));
        let mut out = format!(
            "## 6. Processes\n\nSpawn + wait of `{PROGRAM}`, one child at a time, {spawns} per \
             round, {rounds} rounds, rotated; µs per spawn.\n\n{table}\nRatios of the \
             medians (the checks use per-round ratios):\n\n| time ratio of medians | value \
             |\n|---|---:|\n"
        );
        let pairs = [Pm, Proc, StatusPgroup, Sh].map(|a| (a, Status));
        for (a, b) in pairs.into_iter().chain([(Pm, StatusPgroup)]) {
            let both = median(micros(rows, a)).zip(median(micros(rows, b)));
            if let Some(r) = both.and_then(|(x, y)| ratio(x, y)) {
                out.push_str(&format!("| {} / {} | {r:.3} |\n", name(&a), name(&b)));
            }
        }
        out
    }

    fn checks(rows: &[Row]) -> Vec<Check> {
        let check = |variant| {
            let what = format!("processes: {} / status time per spawn", name(&variant));
            let ratios = per_round_ratios(&by_round(rows, variant), &by_round(rows, Status));
            Check::new(Target::at_most(what, 1.05), ratios).per("round")
        };
        vec![check(Pm), check(Proc)]
    }
}

#[cfg(test)]
mod tests {
    use super::{Experiment, Processes, Variant};

    #[test]
    fn a_tiny_run_is_checked_and_a_failing_child_is_an_error() {
        let mut ctx = crate::harness::Ctx::quick(None);
        ctx.flags.rounds = Some(2);
        ctx.flags.variants = vec!["pm".into(), "process".into(), "status".into()];
        let rows = Processes::run(&ctx).expect("running");
        assert_eq!(rows.len(), 2 * 3);
        assert!(Processes::checks(&rows).iter().all(|c| c.ratios.len() == 2));
        assert!(Processes::summary(&rows).contains("| process / status |"));
        let error = Variant::Status.run("false", 1).expect_err("false fails");
        assert!(error.to_string().contains("false failed"), "{error}");
    }
}
