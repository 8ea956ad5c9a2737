//! `divergence`: the training loss ends far above its best: the smoothed loss (EMA over steps,
//! TensorBoard strength 0.6) at the end is at least [`FACTOR`]× its minimum and at least
//! [`ABS_RISE`] above it. Severity error.

use super::{Context, derived};
use crate::align::{Axis, Curve, ema};
use crate::model::{Finding, Fix, Severity, format_number as num};

/// How far above its best the final smoothed loss must be.
pub const FACTOR: f64 = 1.5;
/// And by at least this much in absolute terms.
pub const ABS_RISE: f64 = 0.1;

/// Checks every run.
pub fn check(ctx: &Context<'_>, _: &[Finding]) -> Vec<Finding> {
    let mut out = Vec::new();
    for run in ctx.runs {
        let Some(loss) = run.loss() else { continue };
        let c = Curve::of(&loss.points, Axis::Step);
        if c.xs.len() < 3 {
            continue;
        }
        let s = ema(&c.xs, &c.ys, 0.6, (c.xs[c.xs.len() - 1] - c.xs[0]) / 100.0);
        let (imin, min) = s
            .iter()
            .copied()
            .enumerate()
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap_or((0, f64::NAN));
        let last = s[s.len() - 1];
        if !(last >= FACTOR * min && last - min >= ABS_RISE) {
            continue;
        }
        out.push(Finding {
            id: "divergence",
            severity: Severity::Error,
            runs: vec![run.label.clone()],
            subject: Some(run.label.clone()),
            summary: format!(
                "{}'s training loss rose from its best {} (step {}) to {} at the end (smoothed): the run diverged.",
                run.label,
                num(min),
                num(c.xs[imin]),
                num(last)
            ),
            evidence: vec![
                derived(format!("best_smoothed_loss[{}]", run.label), min, format!("EMA 0.6 over steps of {}", loss.source)),
                derived(format!("final_smoothed_loss[{}]", run.label), last, format!("EMA 0.6 over steps of {}", loss.source)),
            ],
            fix: Some(Fix {
                summary: "Lower the learning rate or add warmup, and clip gradients (max_grad_norm); resume from the checkpoint before the rise.".into(),
                changes: vec![],
                alternatives: vec![],
            }),
        });
    }
    out
}
