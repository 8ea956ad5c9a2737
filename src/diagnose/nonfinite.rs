//! `nonfinite-loss`: NaN or infinite values in a run's loss or eval loss (error: training broke,
//! usually fp16 overflow or a bad batch) or grad norm (warning: with a loss scaler, overflowed
//! steps are skipped, but many of them stall training). Reports the count and the first point.

use super::{Context, logged};
use crate::model::{Finding, Severity};

/// Checks every run.
pub fn check(ctx: &Context<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for run in ctx.runs {
        for (metric, severity) in [
            ("loss", Severity::Error),
            ("eval_loss", Severity::Error),
            ("grad_norm", Severity::Warning),
        ] {
            let Some(series) = run.series.get(metric) else {
                continue;
            };
            let values = series.points.values();
            let bad = values.iter().filter(|v| !v.is_finite()).count();
            let Some(first) = values
                .iter()
                .position(|v| !v.is_finite())
                .and_then(|i| series.points.get(i))
            else {
                continue;
            };
            out.push(Finding {
                id: "nonfinite-loss",
                severity,
                runs: vec![run.label.clone()],
                subject: Some(run.label.clone()),
                summary: format!(
                    "{} logged {} non-finite {metric} values out of {}, the first at {} ({}).",
                    run.label,
                    bad,
                    series.points.len(),
                    first.position(),
                    series.origin(&first)
                ),
                evidence: vec![logged(run, metric, first)],
                fix: Some(crate::model::Fix {
                    summary: "Check for fp16 overflow (use bf16, or lower the learning rate), clip gradients (max_grad_norm), and look for bad examples around that step.".into(),
                    changes: vec![],
                    alternatives: vec![],
                }),
            });
        }
    }
    out
}
