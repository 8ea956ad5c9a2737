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
mod follow;
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
    if let Some(f) = config.follow {
        return follow::follow(config, f);
    }
    let mut clock = Stopwatch::new(config.timings);
    let progress = report::progress::Progress::start(config.runs.len(), config.progress);
    let runs = read_runs(config, || progress.inc())?;
    progress.finish();
    clock.lap("read");
    let judged = Judged::of(runs, config, &mut clock);
    judged.emit(config)?;
    clock.lap("report");
    clock.print();
    Ok(judged.exit_status(config, true))
}

/// Reads every run (in parallel), then every plan against the baseline. Errors name the first
/// failing run in command-line order, whichever thread failed first.
fn read_runs(config: &Config, done: impl Fn() + Sync) -> Result<Vec<model::Run>> {
    let runs = config
        .runs
        .par_iter()
        .filter(|spec| !spec.planned)
        .map(|spec| {
            let run =
                ingest::read_run(spec).with_context(|| format!("cannot read run {:?}", spec.label));
            done();
            run
        })
        .collect::<Vec<Result<_>>>();
    let mut runs = runs.into_iter().collect::<Result<Vec<_>>>()?;
    ingest::note_same_files(&mut runs);
    // Plans come after the runs on the command line, so indices (the baseline's) are kept.
    for spec in config.runs.iter().filter(|s| s.planned) {
        let plan = ingest::read_plan(spec, &runs[config.baseline])
            .with_context(|| format!("cannot read plan {:?}", spec.label))?;
        done();
        runs.push(plan);
    }
    Ok(runs)
}

/// Runs read, aligned and diagnosed: everything the outputs render.
struct Judged {
    runs: Vec<model::Run>,
    aligned: align::Aligned,
    view: report::view::View,
    sweep: Option<diagnose::sweep::Sweep>,
    findings: Vec<model::Finding>,
    verdict: model::Verdict,
}

impl Judged {
    fn of(runs: Vec<model::Run>, config: &Config, clock: &mut Stopwatch) -> Judged {
        let aligned = align::align(
            &runs,
            config.baseline,
            align::AlignOptions {
                axis: config.axis,
                chosen: config.axis_chosen,
                smooth: config.smooth,
            },
        );
        clock.lap("align");
        let needs = report::view::Needs {
            charts: config.draws_charts(),
            points: config.exports_points(),
        };
        // The checks and what the outputs draw read the same runs and nothing of each other:
        // both at once (a long run's curves are read whole by each).
        let ((sweep, findings, verdict), view) = rayon::join(
            || {
                let sweep = diagnose::sweep::analyse(&runs);
                let ctx = diagnose::Context::new(
                    &runs,
                    &aligned,
                    config.baseline,
                    diagnose::DiagnoseOptions {
                        tolerance: config.tolerance,
                    },
                    sweep.as_ref(),
                );
                let mut findings = diagnose::diagnose(&ctx);
                let verdict = diagnose::verdict(&ctx, &mut findings);
                (sweep, findings, verdict)
            },
            || report::view::View::build(&runs, &aligned, config.baseline, needs),
        );
        clock.lap("diagnose");
        Judged {
            runs,
            aligned,
            view,
            sweep,
            findings,
            verdict,
        }
    }

    fn report(&self, config: &Config) -> report::Report<'_> {
        report::Report {
            runs: &self.runs,
            aligned: &self.aligned,
            view: &self.view,
            findings: &self.findings,
            verdict: &self.verdict,
            sweep: self.sweep.as_ref(),
            baseline: config.baseline,
        }
    }

    fn emit(&self, config: &Config) -> Result<()> {
        report::emit(&self.report(config), config)
    }

    /// The findings at or above `--fail-on`, as `id (runs)`.
    fn tripped(&self, config: &Config) -> Vec<String> {
        self.tripped_but(config, |_| false)
    }

    /// [`Judged::tripped`], leaving out the findings `skip` names.
    fn tripped_but(&self, config: &Config, skip: impl Fn(&model::Finding) -> bool) -> Vec<String> {
        let Some(level) = config.fail_on else {
            return Vec::new();
        };
        self.findings
            .iter()
            .filter(|f| f.severity >= level && !skip(f))
            .map(|f| format!("{} ({})", f.id, f.runs.join(" vs ")))
            .collect()
    }

    /// Exit 1 when a finding is at or above `--fail-on` (saying which on stderr when `say`).
    fn exit_status(&self, config: &Config, say: bool) -> ExitStatus {
        let tripped = self.tripped(config);
        if tripped.is_empty() {
            return ExitStatus::Success;
        }
        if say {
            eprintln!(
                "losscmp: --fail-on {}: {} finding{} at or above it: {}",
                config.fail_on.map_or("", |l| l.name()),
                tripped.len(),
                if tripped.len() == 1 { "" } else { "s" },
                report::text::printable(&tripped.join(", "))
            );
        }
        ExitStatus::FindingsAtThreshold
    }
}

/// Wall time per pipeline stage, for `--timings`.
pub(crate) struct Stopwatch {
    last: Option<Instant>,
    laps: Vec<(&'static str, Duration)>,
}

impl Stopwatch {
    pub(crate) fn new(on: bool) -> Self {
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
