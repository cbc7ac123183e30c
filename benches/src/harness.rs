//! The machinery every experiment of `report` shares, written once: an
//! experiment module says what it measures, its variants and its sizes,
//! and implements [`Experiment`]; this module runs it.
//!
//! - [`interleave`]: every variant once per round, in an order rotated by
//!   one place per round, so that none always runs first. This machine's
//!   speed changes from one process to the next (up to 3x), so only
//!   same-process ratios mean anything; [`per_round_ratios`] makes them.
//! - [`invocations`]: the same experiment in several fresh processes (this
//!   program re-executed with `--child NAME --invocation N`), whose rows
//!   come back as CSV lines on their stdout, for where the mode flips.
//! - [`Ctx::partner`]: a partner process (an echo, a memory holder) is this
//!   program re-executed with `--partner ROLE ARG...`, which
//!   [`Experiment::partner`] answers.
//! - rows are serde types, written and read back with the `csv` crate
//!   ([`save`], [`load`]): `report --replot` redraws every plot from its
//!   CSV; medians and percentiles come from hdrhistogram ([`crate::stats`]);
//!   plots from [`crate::plot`]; pinning from [`crate::pin`].
//!
//! A new experiment is a module with a `Row`, a `run`, a `plot` and a
//! `summary`, and one line in `report`'s list.

use std::io::{BufReader, Write};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, ensure, Context};
use clap::ValueEnum;
use indicatif::ProgressBar;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::verdict::Check;

/// The two sizes of every experiment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    /// The sizes the figures of `benches/RESULTS.md` come from.
    Full,
    /// Reduced sizes for CI and a first look.
    Quick,
}

/// Flags of `report` that change an experiment's sizes or variants; each
/// experiment reads those that apply to it, and child invocations get them
/// too.
#[derive(Debug, Clone, Default, PartialEq, clap::Args)]
pub struct Flags {
    /// Rounds (or repetitions) of every variant [default: each experiment's
    /// own].
    #[arg(long, value_name = "N")]
    pub rounds: Option<usize>,
    /// Only the variants of these names, comma-separated (each experiment
    /// keeps those that are its own) [default: all].
    #[arg(long, value_delimiter = ',', value_name = "NAMES")]
    pub variants: Vec<String>,
    /// Pool experiments: the worker counts, comma-separated.
    #[arg(long, value_delimiter = ',', value_name = "N,N")]
    pub workers: Vec<usize>,
    /// Pool experiments: how latch-counting jobs reach their latch
    /// (`captured`: an `Arc` each, `static`: none).
    #[arg(long, value_name = "HOW")]
    pub latch: Option<crate::designs::LatchJobs>,
    /// Pipes: bytes per run, e.g. 256MiB.
    #[arg(long, value_name = "SIZE", value_parser = crate::parse_size)]
    pub bytes: Option<usize>,
    /// Separate processes per experiment that runs in several.
    #[arg(long, value_name = "N")]
    pub invocations: Option<usize>,
}

impl Flags {
    /// The flags as command-line arguments again, for a child invocation.
    pub fn to_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        let mut push = |flag: &str, value: Option<String>| {
            if let Some(value) = value {
                args.extend([format!("--{flag}"), value]);
            }
        };
        let join = |values: Vec<String>| (!values.is_empty()).then(|| values.join(","));
        push("rounds", self.rounds.map(|n| n.to_string()));
        push("variants", join(self.variants.clone()));
        push(
            "workers",
            join(self.workers.iter().map(usize::to_string).collect()),
        );
        push("latch", self.latch.map(|l| name(&l)));
        push("bytes", self.bytes.map(|n| n.to_string()));
        push("invocations", self.invocations.map(|n| n.to_string()));
        args
    }
}

/// What an experiment runs with.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// Full or quick.
    pub size: Size,
    /// The flags that change sizes and variants.
    pub flags: Flags,
    /// Progress: each experiment sets its length and advances it.
    pub bar: ProgressBar,
    /// This program, re-executed for child invocations and partners.
    pub exe: PathBuf,
}

impl Ctx {
    /// A context for tests and tools: quick sizes, no flags, a hidden bar,
    /// and the `report` binary at `exe` (unit tests cannot re-execute
    /// themselves as `report`, so they give `None` and run no child).
    pub fn quick(exe: Option<PathBuf>) -> Ctx {
        Ctx {
            size: Size::Quick,
            flags: Flags::default(),
            bar: ProgressBar::hidden(),
            exe: exe.unwrap_or_default(),
        }
    }

    /// `full` or `quick`, by size.
    pub fn pick<T>(&self, full: T, quick: T) -> T {
        match self.size {
            Size::Full => full,
            Size::Quick => quick,
        }
    }

    /// The rounds: `--rounds`, or `full` or `quick` by size.
    pub fn rounds(&self, full: usize, quick: usize) -> usize {
        self.flags.rounds.unwrap_or(self.pick(full, quick))
    }

    /// The invocations: `--invocations`, or `full` or `quick` by size.
    pub fn invocations(&self, full: usize, quick: usize) -> usize {
        self.flags.invocations.unwrap_or(self.pick(full, quick))
    }

    /// `all`, or those of them that `--variants` names.
    ///
    /// # Errors
    ///
    /// If `--variants` names some but none of `all`, listing `all`'s names.
    pub fn variants<V: ValueEnum + Copy>(&self, all: &[V]) -> anyhow::Result<Vec<V>> {
        if self.flags.variants.is_empty() {
            return Ok(all.to_vec());
        }
        let chosen: Vec<V> = all
            .iter()
            .copied()
            .filter(|v| self.flags.variants.contains(&name(v)))
            .collect();
        if chosen.is_empty() {
            let names: Vec<String> = all.iter().map(name).collect();
            bail!(
                "--variants {} names none of this experiment's: {}",
                self.flags.variants.join(","),
                names.join(", ")
            );
        }
        Ok(chosen)
    }

    /// This program as a partner process: `--partner ROLE ARGS...`.
    pub fn partner(&self, role: &str, args: &[&str]) -> Command {
        let mut command = Command::new(&self.exe);
        command.arg("--partner").arg(role).args(args);
        command
    }
}

/// The name of a variant: its name on the command line, in tables and CSV.
pub fn name<V: ValueEnum>(variant: &V) -> String {
    variant
        .to_possible_value()
        .map_or_else(String::new, |v| v.get_name().to_owned())
}

/// One experiment of `report`.
pub trait Experiment {
    /// Its name for `--only` (`pipes`, `like-for-like`).
    const NAME: &'static str;
    /// The file stem of its CSV and SVG (`pipes`, `pool_like_for_like`).
    const STEM: &'static str;
    /// What it measures, for the progress line and the summary.
    const LABEL: &'static str;
    /// One measured row: a line of the CSV.
    type Row: Serialize + DeserializeOwned;

    /// Measures everything, at `ctx`'s sizes.
    ///
    /// # Errors
    ///
    /// If a variant fails or gives a wrong result.
    fn run(ctx: &Ctx) -> anyhow::Result<Vec<Self::Row>>;

    /// Draws its plot at `path` from `rows` (measured now, or read back).
    ///
    /// # Errors
    ///
    /// If there is nothing to draw or the file cannot be written.
    fn plot(rows: &[Self::Row], path: &Path) -> anyhow::Result<()>;

    /// Its section of `summary.md`: a `##` heading, medians, ratios.
    fn summary(rows: &[Self::Row]) -> String;

    /// Its checks against the targets of `benches/RESULTS.md`.
    fn checks(_rows: &[Self::Row]) -> Vec<Check> {
        Vec::new()
    }

    /// One invocation in a child process (experiments that use
    /// [`invocations`]).
    ///
    /// # Errors
    ///
    /// If it fails; by default, because the experiment has none.
    fn invocation(_ctx: &Ctx, _invocation: usize) -> anyhow::Result<Vec<Self::Row>> {
        bail!("{} does not run in child invocations", Self::NAME)
    }

    /// Plays partner `role` with `args` in this process, if it is one of
    /// this experiment's; `None` if not.
    fn partner(_role: &str, _args: &[String]) -> Option<anyhow::Result<()>> {
        None
    }
}

/// An [`Experiment`] without its types, as `report` lists them.
pub trait Entry: Sync {
    /// [`Experiment::NAME`].
    fn name(&self) -> &'static str;
    /// [`Experiment::STEM`].
    fn stem(&self) -> &'static str;
    /// [`Experiment::LABEL`].
    fn label(&self) -> &'static str;
    /// Runs it and writes its CSV and SVG into `out`; returns its summary
    /// section and checks.
    ///
    /// # Errors
    ///
    /// If it fails or a file cannot be written.
    fn measure(&self, ctx: &Ctx, out: &Path) -> anyhow::Result<(String, Vec<Check>)>;
    /// Redraws the SVG at `svg` from the CSV at `csv`.
    ///
    /// # Errors
    ///
    /// If the CSV is not this experiment's, or the SVG cannot be written.
    fn replot(&self, csv: &Path, svg: &Path) -> anyhow::Result<()>;
    /// Runs invocation `invocation` and prints its rows on stdout.
    ///
    /// # Errors
    ///
    /// If it fails or stdout cannot be written.
    fn child(&self, ctx: &Ctx, invocation: usize) -> anyhow::Result<()>;
    /// [`Experiment::partner`].
    fn partner(&self, role: &str, args: &[String]) -> Option<anyhow::Result<()>>;
}

/// `E` as an [`Entry`].
pub const fn entry<E: Experiment + 'static>() -> &'static dyn Entry {
    &Registered::<E>(PhantomData)
}

struct Registered<E>(PhantomData<fn() -> E>);

impl<E: Experiment> Entry for Registered<E> {
    fn name(&self) -> &'static str {
        E::NAME
    }
    fn stem(&self) -> &'static str {
        E::STEM
    }
    fn label(&self) -> &'static str {
        E::LABEL
    }
    fn measure(&self, ctx: &Ctx, out: &Path) -> anyhow::Result<(String, Vec<Check>)> {
        let rows = E::run(ctx)?;
        save(&out.join(format!("{}.csv", E::STEM)), &rows)?;
        let svg = out.join(format!("{}.svg", E::STEM));
        E::plot(&rows, &svg).with_context(|| format!("plotting {}", svg.display()))?;
        Ok((E::summary(&rows), E::checks(&rows)))
    }
    fn replot(&self, csv: &Path, svg: &Path) -> anyhow::Result<()> {
        let rows: Vec<E::Row> = load(csv)?;
        E::plot(&rows, svg).with_context(|| format!("plotting {}", svg.display()))
    }
    fn child(&self, ctx: &Ctx, invocation: usize) -> anyhow::Result<()> {
        let rows = E::invocation(ctx, invocation)?;
        let mut out = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(std::io::stdout().lock());
        for row in rows {
            out.serialize(row)?;
        }
        out.flush()?;
        Ok(())
    }
    fn partner(&self, role: &str, args: &[String]) -> Option<anyhow::Result<()>> {
        E::partner(role, args)
    }
}

/// The index of the variant that runs at `position` in round `round` when
/// `count` variants rotate by one place per round.
///
/// ```
/// use ptm_benches::harness::rotated;
///
/// let order: Vec<usize> = (0..3).map(|p| rotated(1, p, 3)).collect();
/// assert_eq!(order, [1, 2, 0]);
/// ```
pub fn rotated(round: usize, position: usize, count: usize) -> usize {
    (round + position) % count.max(1)
}

/// Runs `measure(variant, round, position)` for every variant in every
/// round, rotated, advancing `bar` by one per run; returns what each run
/// returned, in the order they ran.
///
/// # Errors
///
/// The first error of a run, with its variant's place.
pub fn interleave<V: Copy, R>(
    bar: &ProgressBar,
    variants: &[V],
    rounds: usize,
    mut measure: impl FnMut(V, usize, usize) -> anyhow::Result<R>,
) -> anyhow::Result<Vec<R>> {
    bar.inc_length((variants.len() * rounds) as u64);
    let mut out = Vec::with_capacity(variants.len() * rounds);
    for round in 0..rounds {
        for position in 0..variants.len() {
            let variant = variants[rotated(round, position, variants.len())];
            let row = measure(variant, round, position)
                .with_context(|| format!("round {round}, place {position}"))?;
            out.push(row);
            bar.inc(1);
        }
    }
    Ok(out)
}

/// The rows of `count` invocations of `E`, each in a fresh process: this
/// program re-executed with `--child E::NAME --invocation N`, the size and
/// the flags; each prints its rows as CSV lines. `ctx.bar` advances by one
/// per row read.
///
/// # Errors
///
/// If a child cannot be started, prints a row that does not parse, or
/// exits unsuccessfully.
pub fn invocations<E: Experiment>(ctx: &Ctx, count: usize) -> anyhow::Result<Vec<E::Row>> {
    let mut rows = Vec::new();
    for invocation in 0..count {
        let mut command = Command::new(&ctx.exe);
        command
            .args(["--child", E::NAME, "--invocation", &invocation.to_string()])
            .args(ctx.flags.to_args())
            .stdin(Stdio::null())
            .stdout(Stdio::piped());
        if ctx.size == Size::Quick {
            command.arg("--quick");
        }
        let mut child = command
            .spawn()
            .with_context(|| format!("starting invocation {invocation}: {command:?}"))?;
        let stdout = child.stdout.take().context("the child's stdout")?;
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(BufReader::new(stdout));
        // Read to the end even after a bad row, so the child never blocks on
        // a full pipe; report the first bad row after it exited.
        let mut parsed = Ok(());
        for row in reader.deserialize() {
            match row {
                Ok(row) => {
                    rows.push(row);
                    ctx.bar.inc(1);
                }
                Err(error) if parsed.is_ok() => parsed = Err(error),
                Err(_) => {}
            }
        }
        let status = child.wait().context("waiting for the child")?;
        ensure!(status.success(), "invocation {invocation} failed: {status}");
        parsed.with_context(|| format!("a row of invocation {invocation}"))?;
    }
    Ok(rows)
}

/// Writes `rows` to `path` as CSV, with a header of the row type's fields.
///
/// # Errors
///
/// If the file cannot be written.
pub fn save<R: Serialize>(path: &Path, rows: &[R]) -> anyhow::Result<()> {
    let context = || format!("writing {}", path.display());
    let mut out = csv::Writer::from_path(path).with_context(context)?;
    for row in rows {
        out.serialize(row).with_context(context)?;
    }
    out.flush().with_context(context)
}

/// Reads the rows of the CSV at `path`.
///
/// # Errors
///
/// If it cannot be read, or a row or the header is not `R`'s (naming the
/// line and field).
pub fn load<R: DeserializeOwned>(path: &Path) -> anyhow::Result<Vec<R>> {
    let context = || format!("reading {}", path.display());
    let mut reader = csv::Reader::from_path(path).with_context(context)?;
    reader
        .deserialize()
        .collect::<Result<_, _>>()
        .with_context(context)
}

/// The ratios `a / b` of values measured in the same round (or the same
/// invocation), one per round that measured both; inputs are `(round,
/// value)` pairs.
///
/// ```
/// use ptm_benches::harness::per_round_ratios;
///
/// let a = [(0, 2.0), (1, 3.0), (2, 9.0)];
/// let b = [(1, 1.5), (0, 1.0)];
/// assert_eq!(per_round_ratios(&a, &b), [2.0, 2.0]);
/// ```
pub fn per_round_ratios(a: &[(usize, f64)], b: &[(usize, f64)]) -> Vec<f64> {
    a.iter()
        .filter_map(|&(round, x)| {
            let &(_, y) = b.iter().find(|&&(r, _)| r == round)?;
            crate::stats::ratio(x, y)
        })
        .collect()
}

/// For each invocation that has rows `value` selects (`Some`), the median
/// of those values: `(invocation, median)` pairs in invocation order, ready
/// for [`per_round_ratios`] (each ratio then compares two medians of one
/// process).
pub fn medians_by_invocation<R>(
    rows: &[R],
    invocation: impl Fn(&R) -> usize,
    value: impl Fn(&R) -> Option<f64>,
) -> Vec<(usize, f64)> {
    let mut invocations = distinct(rows.iter().map(&invocation));
    invocations.sort_unstable();
    invocations
        .into_iter()
        .filter_map(|i| {
            let values = rows
                .iter()
                .filter(|r| invocation(r) == i)
                .filter_map(&value);
            crate::stats::median(values).map(|m| (i, m))
        })
        .collect()
}

/// `items` without repeats, in the order they first appear.
pub fn distinct<T: PartialEq>(items: impl IntoIterator<Item = T>) -> Vec<T> {
    let mut seen = Vec::new();
    for item in items {
        if !seen.contains(&item) {
            seen.push(item);
        }
    }
    seen
}

/// A Markdown table of one line per `(name, values)`: the median, and the
/// range (min .. max), each written by `show`.
pub fn median_table(
    first_column: &str,
    unit: &str,
    lines: impl IntoIterator<Item = (String, Vec<f64>)>,
    show: impl Fn(f64) -> String,
) -> String {
    let mut out = format!("| {first_column} | {unit} | range |\n|---|---:|---:|\n");
    for (name, values) in lines {
        if let Some(s) = crate::stats::summarize(values) {
            let (median, min, max) = (show(s.median), show(s.min), show(s.max));
            out.push_str(&format!("| {name} | {median} | {min} .. {max} |\n"));
        }
    }
    out
}

/// Flushes stdout after a line: how a partner process answers at once.
///
/// # Errors
///
/// If stdout cannot be written.
pub fn say(line: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{interleave, rotated, Ctx, Flags};
    use indicatif::ProgressBar;

    #[test]
    fn every_variant_takes_every_place() {
        for count in 1..5 {
            for position in 0..count {
                let mut seen: Vec<usize> =
                    (0..count).map(|r| rotated(r, position, count)).collect();
                seen.sort_unstable();
                assert_eq!(seen, (0..count).collect::<Vec<_>>());
            }
        }
        let order = interleave(&ProgressBar::hidden(), &['a', 'b'], 2, |v, r, p| {
            Ok((v, r, p))
        });
        let order = order.expect("no run fails");
        assert_eq!(order, [('a', 0, 0), ('b', 0, 1), ('b', 1, 0), ('a', 1, 1)]);
    }

    #[test]
    fn flags_go_to_children_as_they_came() {
        let flags = Flags {
            rounds: Some(3),
            variants: vec!["ptm".into(), "std".into()],
            workers: vec![2, 4],
            latch: Some(crate::designs::LatchJobs::Static),
            bytes: Some(1 << 20),
            invocations: None,
        };
        let args = flags.to_args();
        assert_eq!(
            args.join(" "),
            "--rounds 3 --variants ptm,std --workers 2,4 --latch static --bytes 1048576"
        );
        // A child parses them back into the same flags.
        #[derive(clap::Parser)]
        struct Child {
            #[command(flatten)]
            flags: Flags,
        }
        let parsed = <Child as clap::Parser>::try_parse_from(
            std::iter::once("report".to_owned()).chain(args),
        );
        assert_eq!(parsed.expect("the child's arguments parse").flags, flags);
        let mut ctx = Ctx::quick(None);
        ctx.flags.variants = vec!["nothing".into()];
        let error = ctx
            .variants(&[crate::pin::Pinning::Pinned])
            .expect_err("no such variant");
        assert!(error.to_string().contains("pinned"), "{error}");
    }
}
