//! The experiments not yet on [`crate::harness`], behind its [`Entry`]
//! (temporary: each moves out as it is ported).

use std::path::Path;

use anyhow::{bail, Context};
use indicatif::ProgressBar;

use super::isolation;
use super::{read_back, Outcome, Size};
use crate::harness::{Ctx, Entry};
use crate::verdict::Check;

/// An experiment that still has its own `Outcome`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Legacy {
    /// 8. Isolation.
    Isolation,
}

impl Legacy {
    fn size(ctx: &Ctx) -> Size {
        ctx.size
    }

    fn outcome(self, ctx: &Ctx) -> anyhow::Result<Box<dyn Outcome>> {
        let size = Legacy::size(ctx);
        let bar: &ProgressBar = &ctx.bar;
        let exe = ctx.exe.clone();
        Ok(match self {
            Legacy::Isolation => {
                let program = isolation::Program { path: exe.clone() };
                Box::new(isolation::run(
                    &isolation::Config::of(size, Some(program)),
                    bar,
                )?)
            }
        })
    }
}

impl Entry for Legacy {
    fn name(&self) -> &'static str {
        match self {
            Legacy::Isolation => "isolation",
        }
    }

    fn stem(&self) -> &'static str {
        match self {
            Legacy::Isolation => "isolation",
        }
    }

    fn label(&self) -> &'static str {
        match self {
            Legacy::Isolation => "isolation ladder",
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
