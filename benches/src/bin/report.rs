//! Runs every side-by-side comparison and writes, for each, a CSV of every
//! measured row and an SVG plot, plus `summary.md` (medians, percentiles,
//! same-process ratios, and the targets of `benches/RESULTS.md` with a
//! verdict), into `target/ptm-report/` or `--out DIR`. With `--replot DIR`
//! it measures nothing: it reads each CSV in DIR back and redraws its SVG
//! beside it (how the book's plots in `docs/src/benchmarks/` are drawn).
//!
//! ```text
//! cargo run --release -p ptm-benches --bin report              # full: about 11 minutes
//! cargo run --release -p ptm-benches --bin report -- --quick   # about 2 minutes
//! cargo run --release -p ptm-benches --bin report -- --quick --only pool,pipes --out /tmp/r
//! cargo run --release -p ptm-benches --bin report -- --replot docs/src/benchmarks
//! ```
//!
//! | file stem | comparison |
//! |---|---|
//! | `pool_dispatch` | 1. no-op jobs/s through each pool design, 2/4/8 workers, 3 processes |
//! | `pool_like_for_like` | 1. the same, no job allocates: ptm, book, queue, 2 workers, 5 processes |
//! | `pool_scope` | 1. scoped jobs that borrow, and fork-join: ptm, rayon, std, 5 processes |
//! | `pool_latency` | 2. submit-to-start latency on an idle pool, unpinned, pinned and split |
//! | `channels` | 3. u64 messages/s, std and crossbeam channels, 1->1 and 2->1 |
//! | `roundtrip` | 4. round trips thread<->thread and process<->process |
//! | `thread_spawn` | 5. spawn + join, `thread::scope` with one thread |
//! | `thread_curves` | 5. n threads that sleep, spin or burn CPU |
//! | `processes` | 6. spawn + wait of `/bin/true` |
//! | `pipes` | 7. `communicate`, `communicate_into` through `cat` vs std vs a raw pipe |
//! | `isolation` | 8. the isolation ladder: task, thread, Wasm, process, container |
//! | `sleepers` | 9. 1,000 to 100,000 sleepers: threads, tokio tasks, pool jobs |
//! | `exit_notice` | 10. how late a child's exit is noticed: pidfd, polling, waitpid |
//!
//! `--replot` also reads `roundtrip_*.csv` (round trips of another run); it
//! skips other CSV files.
//!
//! Progress goes to stderr (indicatif bars on a terminal, one line per
//! experiment otherwise); the summary is also printed to stdout. An
//! experiment that fails is reported and the others still run; the exit
//! status is then non-zero.
//!
//! Hidden modes serve the experiments themselves: `--child NAME
//! --invocation N` runs one invocation of an experiment and prints its rows
//! as CSV lines (the pool experiments run in several processes, because
//! this machine's speed changes from one process to the next), and
//! `--partner ROLE ARG...` plays an experiment's partner process (the round
//! trips' `echo` and `shm-echo`, the isolation ladder's `echo-socket PATH`,
//! `isolation-memory LEVEL N` and `exit-at-once`, the sleepers' `sleepers
//! VARIANT N` and `thread-limit`, the exit notice's `exit-notice-child`).

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use ptm_benches::experiments;
use ptm_benches::harness::{Ctx, Entry, Flags, Size};
use ptm_benches::machine::{default_report_dir, load_average, now_utc, Machine};
use ptm_benches::verdict::Check;

/// Run ptm's side-by-side benchmarks and write CSV, SVG and a summary.
#[derive(Debug, Parser)]
#[command(version, long_about = None)]
struct Args {
    /// Reduced sizes: finishes in minutes (for CI and a first look).
    #[arg(long)]
    quick: bool,

    /// Where to write [default: ptm-report/ in the workspace's target dir,
    /// or in CARGO_TARGET_DIR when set].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,

    /// Only these experiments, comma-separated [default: all; `--list`
    /// names them].
    #[arg(long, value_delimiter = ',', value_name = "NAMES")]
    only: Vec<String>,

    /// List the experiments and exit.
    #[arg(long)]
    list: bool,

    /// Measure nothing: redraw each SVG in DIR from the CSV beside it.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["quick", "out", "only"])]
    replot: Option<PathBuf>,

    #[command(flatten)]
    flags: Flags,

    /// Run one invocation of experiment NAME, printing its rows as CSV.
    #[arg(long, hide = true, value_name = "NAME", requires = "invocation")]
    child: Option<String>,

    /// With --child: which invocation.
    #[arg(long, hide = true, value_name = "N")]
    invocation: Option<usize>,

    /// Play partner ROLE (with the arguments after it) for an experiment.
    #[arg(long, hide = true, value_name = "ROLE", num_args = 1.., allow_hyphen_values = true)]
    partner: Vec<String>,
}

/// The experiment named `name` (`--only` name) of `all`.
fn named(all: &[&'static dyn Entry], name: &str) -> anyhow::Result<&'static dyn Entry> {
    match all.iter().find(|e| e.name() == name) {
        Some(&entry) => Ok(entry),
        None => {
            let names: Vec<&str> = all.iter().map(|e| e.name()).collect();
            bail!(
                "no experiment {name:?}; the experiments: {}",
                names.join(", ")
            )
        }
    }
}

/// The experiment that writes `stem`.csv: its own stem, or its stem and
/// `_` before a suffix (`roundtrip_socket_shm`, a round-trip run of other
/// variants).
fn writer_of(all: &[&'static dyn Entry], stem: &str) -> Option<&'static dyn Entry> {
    let exact = all.iter().find(|e| e.stem() == stem);
    let prefixed = || {
        all.iter()
            .filter(|e| {
                stem.strip_prefix(e.stem())
                    .is_some_and(|rest| rest.starts_with('_'))
            })
            .max_by_key(|e| e.stem().len())
    };
    exact.or_else(prefixed).copied()
}

/// Reads every CSV in `dir` that an experiment writes back and redraws
/// its SVG beside it; measures nothing.
fn replot(dir: &Path) -> anyhow::Result<()> {
    let all = experiments::all();
    let mut csvs: Vec<PathBuf> = fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .with_context(|| format!("reading {}", dir.display()))?;
    csvs.retain(|path| path.extension().is_some_and(|ext| ext == "csv"));
    csvs.sort();
    ensure!(!csvs.is_empty(), "no CSV file in {}", dir.display());
    for csv in csvs {
        let stem = csv
            .file_stem()
            .and_then(|s| s.to_str())
            .with_context(|| format!("{}: not a UTF-8 name", csv.display()))?;
        let Some(entry) = writer_of(&all, stem) else {
            eprintln!("{}: no experiment writes this file; skipped", csv.display());
            continue;
        };
        let svg = dir.join(format!("{stem}.svg"));
        entry
            .replot(&csv, &svg)
            .with_context(|| format!("reading {stem}.csv back"))?;
        println!("{} <- {}", svg.display(), csv.display());
    }
    Ok(())
}

/// What one experiment left.
struct Done {
    label: &'static str,
    took: Duration,
    result: anyhow::Result<(String, Vec<Check>)>,
}

/// Marks every descriptor above stderr close-on-exec, as a program started
/// normally has them: an inherited one that is not (some shells hand out
/// such) makes ptm close it in each child, which makes std spawn with
/// `fork` instead of `posix_spawn`, and the parent's pages then fault
/// again after each spawn (the pipes experiment would measure that).
fn close_inherited_descriptors_on_exec() -> anyhow::Result<()> {
    use nix::libc::{fcntl, FD_CLOEXEC, F_SETFD};
    let entries = fs::read_dir("/proc/self/fd").context("listing /proc/self/fd")?;
    let fds: Vec<i32> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|&fd| fd > 2)
        .collect();
    for fd in fds {
        // SAFETY: `fcntl(F_SETFD)` only sets a flag of the descriptor
        // number, touching no memory; the listing's own descriptor, closed
        // since, fails with EBADF, which is ignored.
        unsafe { fcntl(fd, F_SETFD, FD_CLOEXEC) };
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    close_inherited_descriptors_on_exec()?;
    let all = experiments::all();
    if args.list {
        for entry in &all {
            println!(
                "{:<14} {} ({}.csv, {}.svg)",
                entry.name(),
                entry.label(),
                entry.stem(),
                entry.stem()
            );
        }
        return Ok(());
    }
    if let Some(dir) = &args.replot {
        return replot(dir);
    }
    let size = if args.quick { Size::Quick } else { Size::Full };
    let exe = std::env::current_exe().context("finding this program (current_exe)")?;
    let ctx = Ctx {
        size,
        flags: args.flags.clone(),
        bar: ProgressBar::hidden(),
        exe,
    };
    if let Some((role, rest)) = args.partner.split_first() {
        for entry in &all {
            if let Some(result) = entry.partner(role, rest) {
                return result.with_context(|| format!("partner {role} of {}", entry.name()));
            }
        }
        bail!("no experiment has a partner {role:?}");
    }
    if let (Some(name), Some(invocation)) = (&args.child, args.invocation) {
        return named(&all, name)?.child(&ctx, invocation);
    }

    let chosen: Vec<&'static dyn Entry> = if args.only.is_empty() {
        all.clone()
    } else {
        for name in &args.only {
            named(&all, name)?;
        }
        all.iter()
            .copied()
            .filter(|e| args.only.iter().any(|n| n == e.name()))
            .collect()
    };
    let out = args.out.clone().unwrap_or_else(default_report_dir);
    fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let machine = Machine::current();
    let started_at = now_utc();
    let load_before = load_average();
    eprintln!(
        "ptm report ({}): {} experiments on {}; writing {}",
        if args.quick { "quick" } else { "full" },
        chosen.len(),
        machine.describe(),
        out.display()
    );
    let style =
        ProgressStyle::with_template("{prefix:>18} [{bar:30}] {pos}/{len} {elapsed:>4} {msg}")
            .context("the progress bar template")?
            .progress_chars("=> ");

    let start = Instant::now();
    let mut done = Vec::new();
    for (i, entry) in chosen.iter().enumerate() {
        let prefix = format!("{}/{} {}", i + 1, chosen.len(), entry.label());
        let bar = ProgressBar::new(0)
            .with_style(style.clone())
            .with_prefix(prefix.clone());
        let ctx = Ctx {
            bar: bar.clone(),
            ..ctx.clone()
        };
        let began = Instant::now();
        let result = entry.measure(&ctx, &out);
        bar.finish_and_clear();
        let took = began.elapsed();
        match &result {
            Ok(_) => eprintln!("{prefix}: done in {:.1} s", took.as_secs_f64()),
            Err(error) => eprintln!(
                "{prefix}: FAILED after {:.1} s: {error:#}",
                took.as_secs_f64()
            ),
        }
        done.push(Done {
            label: entry.label(),
            took,
            result,
        });
    }
    let total = start.elapsed();

    let summary = summary(&args, &machine, &started_at, &load_before, total, &done);
    let path = out.join("summary.md");
    fs::write(&path, &summary).with_context(|| format!("writing {}", path.display()))?;
    println!("{summary}");
    eprintln!("wrote {} in {:.1} s", out.display(), total.as_secs_f64());
    let failed: Vec<&str> = done
        .iter()
        .filter(|d| d.result.is_err())
        .map(|d| d.label)
        .collect();
    if !failed.is_empty() {
        bail!("failed: {}", failed.join(", "));
    }
    Ok(())
}

fn summary(
    args: &Args,
    machine: &Machine,
    started_at: &str,
    load_before: &str,
    total: Duration,
    done: &[Done],
) -> String {
    let mut text = format!(
        "# ptm benchmark report\n\n\
         - mode: {}\n- machine: {}\n- started: {started_at}; took {:.0} s\n\
         - load average (1, 5, 15 min): {load_before} before, {} after\n\n\
         Every comparison ran its variants in one process, interleaved round by round \
         (rotated order); the pool experiments ran in several separate processes (their \
         sections say how many) and their ratios are medians of per-process ratios.\n\n",
        if args.quick {
            "quick (reduced sizes: figures are indicative only)"
        } else {
            "full"
        },
        machine.describe(),
        total.as_secs_f64(),
        load_average(),
    );
    let checks: Vec<&Check> = done
        .iter()
        .filter_map(|d| d.result.as_ref().ok())
        .flat_map(|(_, checks)| checks.iter())
        .collect();
    if !checks.is_empty() {
        text.push_str("## Targets\n\n");
        text.push_str(Check::markdown_header());
        text.push('\n');
        for check in checks {
            text.push_str(&check.markdown_row());
            text.push('\n');
        }
        text.push('\n');
    }
    text.push_str("| experiment | took | result |\n|---|---:|---|\n");
    for d in done {
        let result = match &d.result {
            Ok(_) => "ok".to_owned(),
            Err(error) => format!("FAILED: {}", format!("{error:#}").replace('|', "/")),
        };
        text.push_str(&format!(
            "| {} | {:.1} s | {result} |\n",
            d.label,
            d.took.as_secs_f64()
        ));
    }
    text.push('\n');
    for d in done {
        if let Ok((section, _)) = &d.result {
            text.push_str(section);
            text.push('\n');
        }
    }
    text
}
