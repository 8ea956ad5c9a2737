//! losscmp reads the training logs of several LLM fine-tuning runs, lines their loss curves up by
//! samples seen (not optimizer steps), explains why one run did worse than another, and writes a
//! report a person can read and a machine can check.
//!
//! The pipeline, one module per stage, data flowing one way:
//!
//! ```text
//! paths ─ ingest ─▶ Run ─ align ─▶ Aligned ─ diagnose ─▶ Finding ─ report ─▶ terminal, JSON, exit code
//! ```
//!
//! - [`ingest`]: run directories and log files → [`model::Run`] (config + metric series, every
//!   value with its provenance);
//! - [`align`]: curves on a common x-axis, pairwise comparisons with the reference run;
//! - [`diagnose`]: one check per file → [`model::Finding`]s (what, evidence, severity, fix);
//! - [`report`]: terminal summary and JSON; [`exit`] holds the exit codes.

pub mod align;
pub mod cli;
pub mod config;
pub mod diagnose;
pub mod exit;
pub mod ingest;
pub mod model;
pub mod report;

use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use rayon::prelude::*;

use crate::config::Config;
use crate::exit::ExitStatus;

/// Runs the whole pipeline for a validated configuration and says how the process should exit.
pub fn run(config: &Config) -> Result<ExitStatus> {
    let mut clock = Stopwatch::new(config.timings);
    let progress = report::progress::Progress::start(config.runs.len(), config.progress);
    let runs = config
        .runs
        .par_iter()
        .map(|spec| {
            let run =
                ingest::read_run(spec).with_context(|| format!("cannot read run {:?}", spec.label));
            progress.inc();
            run
        })
        .collect::<Vec<Result<_>>>();
    progress.finish();
    // The first failing run in command-line order, whichever thread failed first.
    let runs = runs.into_iter().collect::<Result<Vec<_>>>()?;
    clock.lap("read");
    let aligned = align::align(
        &runs,
        config.baseline,
        align::AlignOptions {
            axis: config.axis,
            smooth: config.smooth,
        },
    );
    clock.lap("align");
    let sweep = diagnose::sweep::analyse(&runs);
    let ctx = diagnose::Context {
        runs: &runs,
        aligned: &aligned,
        reference: config.baseline,
        opts: diagnose::DiagnoseOptions {
            tolerance: config.tolerance,
        },
        sweep: sweep.as_ref(),
    };
    let mut findings = diagnose::diagnose(&ctx);
    let verdict = diagnose::verdict(&ctx, &mut findings);
    clock.lap("diagnose");
    let report = report::Report {
        runs: &runs,
        aligned: &aligned,
        findings: &findings,
        verdict: &verdict,
        sweep: sweep.as_ref(),
        baseline: config.baseline,
    };
    report::emit(&report, config)?;
    clock.lap("report");
    clock.print();
    let Some(level) = config.fail_on else {
        return Ok(ExitStatus::Success);
    };
    let tripped: Vec<String> = findings
        .iter()
        .filter(|f| f.severity >= level)
        .map(|f| format!("{} ({})", f.id, f.runs.join(" vs ")))
        .collect();
    if tripped.is_empty() {
        return Ok(ExitStatus::Success);
    }
    eprintln!(
        "losscmp: --fail-on {}: {} finding{} at or above it: {}",
        level.name(),
        tripped.len(),
        if tripped.len() == 1 { "" } else { "s" },
        report::text::printable(&tripped.join(", "))
    );
    Ok(ExitStatus::FindingsAtThreshold)
}

/// Wall time per pipeline stage, for `--timings`.
struct Stopwatch {
    last: Option<Instant>,
    laps: Vec<(&'static str, Duration)>,
}

impl Stopwatch {
    fn new(on: bool) -> Self {
        Stopwatch {
            last: on.then(Instant::now),
            laps: Vec::new(),
        }
    }

    fn lap(&mut self, stage: &'static str) {
        if let Some(last) = self.last {
            let now = Instant::now();
            self.laps.push((stage, now - last));
            self.last = Some(now);
        }
    }

    fn print(&self) {
        if self.last.is_some() {
            let parts: Vec<String> = self
                .laps
                .iter()
                .map(|(s, d)| format!("{s} {:.3} s", d.as_secs_f64()))
                .collect();
            eprintln!("timings: {}", parts.join(", "));
        }
    }
}

/// Whether an error is a closed stdout (`losscmp ... | head`), which is not a failure.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain()
        .filter_map(|e| e.downcast_ref::<std::io::Error>())
        .any(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
}
