//! Stage 3: runs + aligned curves → [`Finding`]s. One check per file; each file's module doc
//! states its method, formula and thresholds (also collected in docs/diagnostics.md). Checks
//! compute; they never format output beyond a finding's own sentences.
//!
//! Findings come out most severe first; within a severity, in the order of [`CHECKS`]: causes
//! (a logging artefact, an oversized batch) before symptoms (a regression).

mod collapsed_loss;
mod critical_batch;
mod divergence;
mod logging_artifact;
mod loss_regression;
mod loss_spike;
mod lr_not_scaled;
mod nonfinite;
mod not_comparable;
mod overfitting;
mod oversized_batch;
mod scaling_efficiency;
mod stats;
mod too_few_steps;

use crate::align::{Aligned, Pair};
use crate::model::{Evidence, Finding, Key, Run, Severity};

/// Settings of the diagnose stage.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DiagnoseOptions {
    /// Relative loss increase at matched samples that counts as a regression.
    pub tolerance: f64,
}

/// What every check sees.
pub struct Context<'a> {
    /// All runs.
    pub runs: &'a [Run],
    /// The curves and pairwise comparisons.
    pub aligned: &'a Aligned,
    /// Index of the reference run.
    pub reference: usize,
    /// Settings.
    pub opts: DiagnoseOptions,
}

impl Context<'_> {
    /// The reference run.
    pub fn reference(&self) -> &Run {
        &self.runs[self.reference]
    }

    /// The runs of a pair: (reference, run).
    pub fn pair_runs(&self, p: &Pair) -> (&Run, &Run) {
        (&self.runs[p.reference], &self.runs[p.run])
    }
}

type Check = fn(&Context<'_>, &[Finding]) -> Vec<Finding>;

/// Every check in reporting order. Each sees the findings of the checks before it, so a later
/// check can defer to an earlier one (the batch check defers to the logging-artefact check).
const CHECKS: [Check; 13] = [
    logging_artifact::check,
    oversized_batch::check,
    lr_not_scaled::check,
    too_few_steps::check,
    not_comparable::check,
    loss_regression::check,
    nonfinite::check,
    collapsed_loss::check,
    divergence::check,
    loss_spike::check,
    overfitting::check,
    scaling_efficiency::check,
    critical_batch::check,
];

/// Runs every check; most severe first.
pub fn diagnose(ctx: &Context<'_>) -> Vec<Finding> {
    let mut findings: Vec<Finding> = Vec::new();
    for check in CHECKS {
        let new = check(ctx, &findings);
        findings.extend(new);
    }
    // Stable: keeps check order within a severity.
    findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
    findings
}

/// A config value as evidence: `name[label]`, the value, and its provenance.
fn config_evidence(run: &Run, key: Key) -> Option<Evidence> {
    let v = run.config.get(key)?;
    Some(Evidence {
        name: format!("{}[{}]", key.name(), run.label),
        value: v.value.as_f64()?,
        source: v.source.to_string(),
    })
}

/// A computed number as evidence.
fn derived(name: impl Into<String>, value: f64, how: impl Into<String>) -> Evidence {
    Evidence {
        name: name.into(),
        value,
        source: format!("derived: {}", how.into()),
    }
}

/// A logged point as evidence: which series, file and line.
fn logged(run: &Run, metric: &str, p: &crate::model::Point) -> Evidence {
    let source = run.series.get(metric).map_or_else(String::new, |s| {
        format!("{}: {}", s.source, s.locator.describe(p.line))
    });
    Evidence {
        name: format!(
            "{metric}[{}]@step {}",
            run.label,
            crate::model::format_number(p.step)
        ),
        value: p.value,
        source,
    }
}

/// Optimizer steps a run was configured for (not just logged: a crashed run logs fewer).
fn planned_steps(run: &Run) -> Option<(f64, String)> {
    let v = run.config.get(Key::TotalSteps)?;
    Some((v.value.as_f64()?, v.source.to_string()))
}

/// Optimizer steps of a run: the configured total, else the last logged loss step.
fn optimizer_steps(run: &Run) -> Option<(f64, String)> {
    if let Some(v) = run.config.get(Key::TotalSteps) {
        return Some((v.value.as_f64()?, v.source.to_string()));
    }
    let s = run.loss()?;
    let p = s.points.last()?;
    Some((
        p.step,
        format!(
            "derived: last logged loss step ({}: {})",
            s.source,
            s.locator.describe(p.line)
        ),
    ))
}

/// `x` as "8×" or "1.5×".
fn times(x: f64) -> String {
    if (x - x.round()).abs() < 0.05 {
        format!("{}×", x.round())
    } else {
        format!("{x:.1}×")
    }
}

/// A finding with no fix.
fn finding(
    id: &'static str,
    severity: Severity,
    runs: Vec<String>,
    summary: String,
    evidence: Vec<Evidence>,
) -> Finding {
    Finding {
        id,
        severity,
        runs,
        summary,
        evidence,
        fix: None,
    }
}

/// Every finding id, for documentation and tests.
pub const IDS: [&str; 13] = [
    "loss-logging-artifact",
    "oversized-effective-batch",
    "lr-not-scaled",
    "too-few-optimizer-steps",
    "not-comparable",
    "loss-regression",
    "nonfinite-loss",
    "collapsed-loss",
    "divergence",
    "loss-spike",
    "overfitting",
    "scaling-efficiency",
    "critical-batch-size",
];
