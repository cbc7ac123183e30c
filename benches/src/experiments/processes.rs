//! Comparison 6: starting a short program and
//! waiting for it, one child at a time, through ptm's `ProcessManager`, through
//! ptm's `Process` and through plain `std::process::Command`.
//!
//! Variants, each starting the program (default `/bin/true`, no
//! arguments) and waiting for it before the next:
//!
//! - `pm`: `ProcessManager::spawn(program, &[])` then `wait_all()`, on one
//!   manager per run. ptm starts every child in a process group of its own.
//! - `process`: `Process::spawn(Command::new(program))` then `wait()`: one
//!   child held by a pidfd, without a manager's bookkeeping.
//! - `status`: `Command::new(program).status()`: the reference.
//! - `status-pgroup`: `Command::new(program).process_group(0).status()`:
//!   std with ptm's process group, to tell what the group costs from what
//!   ptm's bookkeeping costs.
//! - `sh`: `Command::new("sh").args(["-c", "true"]).status()`, for scale.
//!
//! Every child's exit status is checked. `src/bin/spawn_cost.rs` is the
//! stand-alone binary of the same measurement.

use std::fmt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, ExitStatus};
use std::time::Instant;

use anyhow::{ensure, Context};
use indicatif::ProgressBar;
use ptm::process::{Process, ProcessManager};

use super::{expect_header, field, named, per_round_ratios, rotated, secs, Outcome, Size};
use crate::csv::Table;
use crate::plot::{rows, Mark, Panel, Rows, Scale, Series};
use crate::stats::{median, summarize};
use crate::verdict::{Check, Target};

/// One way of running the program and waiting for it.
/// (Variant docs are plain text: clap shows them in `--help`.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Variant {
    /// ProcessManager::spawn, then wait_all (own process group).
    Pm,
    /// Process::spawn(Command::new(program)), then wait (own process group).
    Process,
    /// Command::new(program).status().
    Status,
    /// Command::new(program).process_group(0).status().
    StatusPgroup,
    /// Command::new("sh").args(["-c", "true"]).status().
    Sh,
}

impl Variant {
    /// Every variant, in the order tables list them.
    pub const ALL: [Variant; 5] = [
        Variant::Pm,
        Variant::Process,
        Variant::Status,
        Variant::StatusPgroup,
        Variant::Sh,
    ];

    /// The variant's name on the command line and in tables and CSV.
    pub fn name(self) -> &'static str {
        match self {
            Variant::Pm => "pm",
            Variant::Process => "process",
            Variant::Status => "status",
            Variant::StatusPgroup => "status-pgroup",
            Variant::Sh => "sh",
        }
    }

    /// Its name written out, for plots.
    pub fn label(self) -> &'static str {
        match self {
            Variant::Pm => "ptm ProcessManager: spawn, wait_all",
            Variant::Process => "ptm Process: spawn, wait",
            Variant::Status => "Command::status()",
            Variant::StatusPgroup => "Command::status(), own process group",
            Variant::Sh => "sh -c true, through Command::status()",
        }
    }

    /// Starts the program `spawns` times, one after the other, each waited
    /// for, and checks that every one succeeded.
    ///
    /// # Errors
    ///
    /// If a spawn or wait fails, or a child exits unsuccessfully.
    pub fn run(self, program: &str, spawns: usize) -> anyhow::Result<()> {
        match self {
            Variant::Pm => {
                let mut manager = ProcessManager::new();
                for _ in 0..spawns {
                    manager
                        .spawn(program, &[])
                        .with_context(|| format!("spawning {program}"))?;
                    for report in manager.wait_all() {
                        let status = report
                            .status
                            .with_context(|| format!("waiting for {program}"))?;
                        check(program, status)?;
                    }
                }
            }
            Variant::Process => {
                for _ in 0..spawns {
                    let child = Process::spawn(Command::new(program))
                        .with_context(|| format!("spawning {program} as a Process"))?;
                    let status = child
                        .wait()
                        .with_context(|| format!("waiting for {program} (pid {})", child.pid()))?;
                    check(program, status)?;
                }
            }
            Variant::Status => {
                for _ in 0..spawns {
                    let status = Command::new(program)
                        .status()
                        .with_context(|| format!("running {program}"))?;
                    check(program, status)?;
                }
            }
            Variant::StatusPgroup => {
                for _ in 0..spawns {
                    let status = Command::new(program)
                        .process_group(0)
                        .status()
                        .with_context(|| format!("running {program} in its own group"))?;
                    check(program, status)?;
                }
            }
            Variant::Sh => {
                for _ in 0..spawns {
                    let status = Command::new("sh")
                        .args(["-c", "true"])
                        .status()
                        .context("running sh -c true")?;
                    check("sh -c true", status)?;
                }
            }
        }
        Ok(())
    }
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

fn check(program: &str, status: ExitStatus) -> anyhow::Result<()> {
    ensure!(status.success(), "{program} failed: {status}");
    Ok(())
}

/// Sizes of the process experiment.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The program started (no arguments); it must succeed.
    pub program: String,
    /// Spawns per variant and round.
    pub spawns: usize,
    /// Rounds.
    pub rounds: usize,
    /// Variants measured.
    pub variants: Vec<Variant>,
}

impl Config {
    /// `/bin/true`, 2,000 spawns per round, 7 rounds.
    pub fn full() -> Config {
        Config {
            program: "/bin/true".to_owned(),
            spawns: 2_000,
            rounds: 7,
            variants: Variant::ALL.to_vec(),
        }
    }

    /// 200 spawns per round, 3 rounds.
    pub fn quick() -> Config {
        Config {
            spawns: 200,
            rounds: 3,
            ..Config::full()
        }
    }

    /// [`full`](Self::full) or [`quick`](Self::quick).
    pub fn of(size: Size) -> Config {
        match size {
            Size::Full => Config::full(),
            Size::Quick => Config::quick(),
        }
    }
}

/// One timed round of one variant.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The variant.
    pub variant: Variant,
    /// The round.
    pub round: usize,
    /// Place in the round's order.
    pub position: usize,
    /// Spawns in the round.
    pub spawns: usize,
    /// Elapsed seconds.
    pub seconds: f64,
}

impl Row {
    /// Microseconds per spawn + wait.
    pub fn micros(&self) -> f64 {
        self.seconds * 1e6 / self.spawns as f64
    }
}

/// Runs every variant once per round, rotated, after a warm-up of a tenth.
///
/// # Errors
///
/// If a spawn fails or a child exits unsuccessfully.
pub fn run(config: &Config, bar: &ProgressBar) -> anyhow::Result<ProcessesOutcome> {
    let variants = &config.variants;
    bar.set_length((variants.len() * (config.rounds + 1)) as u64);
    for &variant in variants {
        variant
            .run(&config.program, (config.spawns / 10).max(1))
            .with_context(|| format!("warming up {variant}"))?;
        bar.inc(1);
    }
    let mut rows = Vec::new();
    for round in 0..config.rounds {
        for position in 0..variants.len() {
            let variant = variants[rotated(round, position, variants.len())];
            bar.set_message(variant.name());
            let start = Instant::now();
            variant
                .run(&config.program, config.spawns)
                .with_context(|| format!("{variant}, round {round}"))?;
            rows.push(Row {
                variant,
                round,
                position,
                spawns: config.spawns,
                seconds: start.elapsed().as_secs_f64(),
            });
            bar.inc(1);
        }
    }
    Ok(ProcessesOutcome {
        config: config.clone(),
        rows,
    })
}

/// Every round.
#[derive(Debug, Clone)]
pub struct ProcessesOutcome {
    /// The sizes it ran with.
    pub config: Config,
    /// Every timed round.
    pub rows: Vec<Row>,
}

impl ProcessesOutcome {
    /// The CSV columns.
    pub const HEADER: [&'static str; 6] = [
        "variant",
        "round",
        "position",
        "spawns",
        "seconds",
        "us_per_spawn",
    ];

    /// Reads the rows of a CSV written from [`table`](Outcome::table)
    /// back; the sizes and variants are taken from the rows, the program
    /// (not in the CSV) is [`Config::full`]'s `/bin/true`.
    ///
    /// # Errors
    ///
    /// If `table` is not such a CSV.
    pub fn from_table(table: &Table) -> anyhow::Result<ProcessesOutcome> {
        let header = &ProcessesOutcome::HEADER;
        expect_header(table, header)?;
        let rows = table
            .rows()
            .iter()
            .map(|f| {
                Ok(Row {
                    variant: named(&Variant::ALL, Variant::name, &f[0])?,
                    round: field(f, 1, header)?,
                    position: field(f, 2, header)?,
                    spawns: field(f, 3, header)?,
                    seconds: field(f, 4, header)?,
                })
            })
            .collect::<anyhow::Result<Vec<Row>>>()?;
        let config = Config {
            spawns: rows.first().map_or(0, |r| r.spawns),
            rounds: rows.iter().map(|r| r.round + 1).max().unwrap_or(0),
            variants: Variant::ALL
                .into_iter()
                .filter(|&v| rows.iter().any(|r| r.variant == v))
                .collect(),
            ..Config::full()
        };
        Ok(ProcessesOutcome { config, rows })
    }

    /// Microseconds per spawn of `variant`, one value per round.
    pub fn micros(&self, variant: Variant) -> Vec<f64> {
        self.rows
            .iter()
            .filter(|r| r.variant == variant)
            .map(Row::micros)
            .collect()
    }

    /// `(round, microseconds per spawn)` of `variant`.
    pub fn by_round(&self, variant: Variant) -> Vec<(usize, f64)> {
        self.rows
            .iter()
            .filter(|r| r.variant == variant)
            .map(|r| (r.round, r.micros()))
            .collect()
    }

    /// The median microseconds per spawn of `variant`.
    pub fn median_micros(&self, variant: Variant) -> Option<f64> {
        median(self.micros(variant))
    }
}

impl Outcome for ProcessesOutcome {
    fn name(&self) -> &'static str {
        "processes"
    }

    fn table(&self) -> Table {
        let mut table = Table::new(ProcessesOutcome::HEADER);
        for r in &self.rows {
            table.push([
                r.variant.name().to_owned(),
                r.round.to_string(),
                r.position.to_string(),
                r.spawns.to_string(),
                secs(r.seconds),
                format!("{:.3}", r.micros()),
            ]);
        }
        table
    }

    fn plot(&self, path: &Path) -> anyhow::Result<()> {
        let variants = &self.config.variants;
        let panel = Panel {
            title: String::new(),
            rows: variants.iter().map(|v| v.label().to_owned()).collect(),
            series: vec![Series {
                name: String::new(),
                values: variants.iter().map(|&v| self.median_micros(v)).collect(),
            }],
        };
        let title = format!("Processes: start {} and wait for it", self.config.program);
        let chart = Rows {
            title: &title,
            axis: "microseconds per spawn + wait",
            scale: Scale::Linear,
            mark: Mark::Bar,
            value: |us| format!("{us:.0} µs"),
        };
        rows(path, &chart, &[panel])
    }

    fn summary(&self) -> String {
        let c = &self.config;
        let mut out = format!(
            "## 6. Processes\n\nSpawn + wait of `{}`, one child at a time: {} spawns per round, \
             {} rounds in rotated order. Microseconds per spawn: median (min .. max).\n\n\
             | variant | µs per spawn | range |\n|---|---:|---:|\n",
            c.program, c.spawns, c.rounds
        );
        for &variant in &c.variants {
            if let Some(s) = summarize(self.micros(variant)) {
                out.push_str(&format!(
                    "| {variant} | {:.1} | {:.1} .. {:.1} |\n",
                    s.median, s.min, s.max
                ));
            }
        }
        out.push_str(
            "\nThe targets' checks (`pm / status` and `process / status`) use the per-round \
             ratios (both variants ran back to back in each round); the ratios of the medians:\n\n| time ratio of medians | value |\n|---|---:|\n",
        );
        for (a, b) in [
            (Variant::Pm, Variant::Status),
            (Variant::Process, Variant::Status),
            (Variant::Pm, Variant::StatusPgroup),
            (Variant::StatusPgroup, Variant::Status),
            (Variant::Sh, Variant::Status),
        ] {
            if let (Some(x), Some(y)) = (self.median_micros(a), self.median_micros(b)) {
                out.push_str(&format!("| {a} / {b} | {:.3} |\n", x / y));
            }
        }
        out
    }

    fn checks(&self) -> Vec<Check> {
        vec![
            Check::new(
                Target::at_most("processes: pm / status time per spawn", 1.05),
                per_round_ratios(&self.by_round(Variant::Pm), &self.by_round(Variant::Status)),
            )
            .per("round"),
            Check::new(
                Target::at_most("processes: process / status time per spawn", 1.05),
                per_round_ratios(
                    &self.by_round(Variant::Process),
                    &self.by_round(Variant::Status),
                ),
            )
            .per("round"),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::{run, Config, ProcessesOutcome, Variant};
    use crate::experiments::Outcome;
    use crate::verdict::Verdict;
    use indicatif::ProgressBar;

    #[test]
    fn a_tiny_run() {
        let config = Config {
            program: "true".to_owned(),
            spawns: 3,
            rounds: 2,
            variants: Variant::ALL.to_vec(),
        };
        let outcome = run(&config, &ProgressBar::hidden()).expect("running");
        assert_eq!(outcome.rows.len(), 2 * 5);
        for check in outcome.checks() {
            assert_ne!(check.verdict(), Verdict::NotMeasured);
        }
        assert!(outcome.summary().contains("| pm / status |"));
        assert!(outcome.summary().contains("| process / status |"));
        let back = ProcessesOutcome::from_table(&outcome.table()).expect("reading back");
        assert_eq!((back.config.spawns, back.config.rounds), (3, 2));
        assert_eq!(back.config.variants, Variant::ALL);
    }

    #[test]
    fn a_failing_program_is_an_error() {
        let error = Variant::Status.run("false", 1).expect_err("false fails");
        assert!(error.to_string().contains("false failed"), "{error}");
    }
}
