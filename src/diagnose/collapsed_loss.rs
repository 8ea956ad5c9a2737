//! `collapsed-loss`: a training loss of exactly 0.0 after training began (a real loss is never
//! exactly zero: the run stopped computing it — bf16/fp16 underflow, all labels masked), or 0.0
//! logged together with a NaN grad norm. Runs of trainers whose loss is legitimately 0.0 early
//! (GRPO and other RL trainers; recognised by a `reward`/`kl` metric) are exempt. Severity error.

use super::{Context, logged};
use crate::model::{Finding, Severity};

/// Checks every run.
pub fn check(ctx: &Context<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for run in ctx.runs {
        if run.is_rl() {
            continue;
        }
        let Some(loss) = run.loss() else { continue };
        let values = loss.points.values();
        let Some(start) = values.iter().position(|&v| v > 0.0) else {
            continue;
        };
        let grad_nan = |step: f64| {
            run.series
                .get("grad_norm")
                .and_then(|g| g.points.iter().find(|p| p.step == step))
                .is_some_and(|p| p.value.is_nan())
        };
        // Points are made only for the zeros.
        let zeros: Vec<_> = (start..values.len())
            .filter(|&i| values[i] == 0.0)
            .filter_map(|i| loss.points.get(i))
            .collect();
        let Some(first) = zeros.first() else { continue };
        let with_nan = zeros.iter().filter(|p| grad_nan(p.step)).count();
        out.push(Finding {
            id: "collapsed-loss",
            severity: Severity::Error,
            runs: vec![run.label.clone()],
            subject: Some(run.label.clone()),
            summary: format!(
                "{}'s training loss is exactly 0.0 at {} logged steps after training began (first at {}{}): the loss is no longer computed, the run is broken.",
                run.label,
                zeros.len(),
                first.position(),
                if with_nan > 0 { format!(", {with_nan} of them with a NaN grad norm") } else { String::new() }
            ),
            evidence: vec![logged(run, "loss", loss.points.get(start).unwrap_or(*first)), logged(run, "loss", first)],
            fix: Some(crate::model::Fix {
                summary: "Look for fp16/bf16 underflow or overflow (try fp32 or bf16, lower learning rate) and for batches whose labels are all masked (-100).".into(),
                changes: vec![],
                alternatives: vec![],
            }),
        });
    }
    out
}
