//! The experiments not yet on [`crate::harness`], behind its [`Entry`]
//! (temporary: each moves out as it is ported).

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context};
use indicatif::ProgressBar;

use super::{channels, isolation, latency, pool, processes, roundtrip, scope, sleepers, threads};
use super::{read_back, Outcome, Size};
use crate::harness::{Ctx, Entry};
use crate::verdict::Check;

/// An experiment that still has its own `Outcome`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Legacy {
    /// 1. Pool dispatch throughput.
    Pool,
    /// 1. Like for like.
    LikeForLike,
    /// 1. Scope and fork-join.
    Scope,
    /// 2. Latency.
    Latency,
    /// 3. Channels.
    Channels,
    /// 4. Round trips.
    Roundtrip,
    /// 5. Spawn.
    Spawn,
    /// 5. Curves.
    Curves,
    /// 6. Processes.
    Processes,
    /// 9. Sleepers.
    Sleepers,
}

impl Legacy {
    fn size(ctx: &Ctx) -> Size {
        ctx.size
    }

    fn outcome(self, ctx: &Ctx) -> anyhow::Result<Box<dyn Outcome>> {
        let size = Legacy::size(ctx);
        let bar: &ProgressBar = &ctx.bar;
        let exe = ctx.exe.clone();
        let pool_child = |like_for_like: bool| {
            let exe = &exe;
            move |invocation: usize| {
                let mut command = Command::new(exe);
                command.arg("--pool-invocation").arg(invocation.to_string());
                if like_for_like {
                    command.arg("--like-for-like");
                }
                if size == Size::Quick {
                    command.arg("--quick");
                }
                command
            }
        };
        Ok(match self {
            Legacy::Pool => Box::new(pool::run(
                &pool::Config::of(size),
                bar,
                Some(&pool_child(false)),
            )?),
            Legacy::LikeForLike => Box::new(pool::run_like_for_like(
                &pool::Config::like_for_like(size),
                bar,
                Some(&pool_child(true)),
            )?),
            Legacy::Scope => {
                let child = |invocation: usize| {
                    let mut command = Command::new(&exe);
                    command
                        .arg("--scope-invocation")
                        .arg(invocation.to_string());
                    if size == Size::Quick {
                        command.arg("--quick");
                    }
                    command
                };
                Box::new(scope::run(&scope::Config::of(size), bar, Some(&child))?)
            }
            Legacy::Latency => Box::new(latency::run(&latency::Config::of(size), bar)?),
            Legacy::Channels => Box::new(channels::run(&channels::Config::of(size), bar)?),
            Legacy::Roundtrip => {
                let echo = roundtrip::EchoProgram {
                    program: exe.clone(),
                    args: vec!["--echo".into()],
                    shm_args: Some(vec!["--shm-echo".into()]),
                };
                Box::new(roundtrip::run(&roundtrip::Config::of(size, echo), bar)?)
            }
            Legacy::Spawn => Box::new(threads::run_spawn(&threads::SpawnConfig::of(size), bar)?),
            Legacy::Curves => Box::new(threads::run_curves(&threads::CurvesConfig::of(size), bar)?),
            Legacy::Processes => Box::new(processes::run(&processes::Config::of(size), bar)?),
            Legacy::Sleepers => {
                let program = isolation::Program { path: exe.clone() };
                Box::new(sleepers::run(
                    &sleepers::Config::of(size, Some(program)),
                    bar,
                )?)
            }
        })
    }
}

impl Entry for Legacy {
    fn name(&self) -> &'static str {
        match self {
            Legacy::Pool => "pool",
            Legacy::LikeForLike => "like-for-like",
            Legacy::Scope => "scope",
            Legacy::Latency => "latency",
            Legacy::Channels => "channels",
            Legacy::Roundtrip => "roundtrip",
            Legacy::Spawn => "spawn",
            Legacy::Curves => "curves",
            Legacy::Processes => "processes",
            Legacy::Sleepers => "sleepers",
        }
    }

    fn stem(&self) -> &'static str {
        match self {
            Legacy::Pool => "pool_dispatch",
            Legacy::LikeForLike => "pool_like_for_like",
            Legacy::Scope => "pool_scope",
            Legacy::Latency => "pool_latency",
            Legacy::Channels => "channels",
            Legacy::Roundtrip => "roundtrip",
            Legacy::Spawn => "thread_spawn",
            Legacy::Curves => "thread_curves",
            Legacy::Processes => "processes",
            Legacy::Sleepers => "sleepers",
        }
    }

    fn label(&self) -> &'static str {
        match self {
            Legacy::Pool => "pool dispatch",
            Legacy::LikeForLike => "pool like for like",
            Legacy::Scope => "scope, fork-join",
            Legacy::Latency => "pool latency",
            Legacy::Channels => "channels",
            Legacy::Roundtrip => "round trips",
            Legacy::Spawn => "thread spawn",
            Legacy::Curves => "thread curves",
            Legacy::Processes => "processes",
            Legacy::Sleepers => "sleepers",
        }
    }

    fn measure(&self, ctx: &Ctx, out: &Path) -> anyhow::Result<(String, Vec<Check>)> {
        let outcome = self.outcome(ctx)?;
        outcome
            .table()
            .save(&out.join(format!("{}.csv", outcome.name())))?;
        let svg = out.join(format!("{}.svg", outcome.name()));
        outcome
            .plot(&svg)
            .with_context(|| format!("plotting {}", svg.display()))?;
        Ok((outcome.summary(), outcome.checks()))
    }

    fn replot(&self, csv: &Path, svg: &Path) -> anyhow::Result<()> {
        let stem = csv.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
        let table = crate::csv::Table::load(csv)?;
        let Some(outcome) = read_back(stem, &table)? else {
            bail!("{}: no experiment writes this file", csv.display());
        };
        outcome.plot(svg)
    }

    fn child(&self, _ctx: &Ctx, _invocation: usize) -> anyhow::Result<()> {
        bail!("{} has its own child flags", self.name())
    }

    fn partner(&self, _role: &str, _args: &[String]) -> Option<anyhow::Result<()>> {
        None
    }
}
