//! `divergence`: the training loss ends far above its best: the smoothed loss (EMA over steps,
//! TensorBoard strength 0.6) at the end is at least [`FACTOR`]× its minimum and at least
//! [`ABS_RISE`] above it. Severity error. A loss whose best is not above 0 is no
//! language-modelling loss (a policy objective), and reinforcement-learning runs (a `reward*` or
//! `kl` metric: GRPO, PPO) are exempt: their loss rising toward 0 is no divergence.

use super::{Context, derived};
use crate::align::{Axis, Curve, Ema};
use crate::model::{Finding, Fix, Severity, format_number as num};

/// How far above its best the final smoothed loss must be.
pub const FACTOR: f64 = 1.5;
/// And by at least this much in absolute terms.
pub const ABS_RISE: f64 = 0.1;

/// Checks every run.
pub fn check(ctx: &Context<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for run in ctx.runs.iter().filter(|r| !r.is_rl()) {
        let Some(loss) = run.loss() else { continue };
        // Two passes over the points, no curve built: the range (for the EMA's unit), then the
        // smoothed values' minimum and last.
        let (mut n, mut first, mut end) = (0usize, f64::NAN, f64::NAN);
        for (x, _) in Curve::pairs(&loss.points, Axis::Step) {
            if n == 0 {
                first = x;
            }
            (n, end) = (n + 1, x);
        }
        if n < 3 {
            continue;
        }
        let mut ema = Ema::new(0.6, (end - first) / 100.0);
        let (mut min, mut at_min, mut last) = (f64::NAN, f64::NAN, f64::NAN);
        for (i, (x, y)) in Curve::pairs(&loss.points, Axis::Step).enumerate() {
            last = ema.push(x, y);
            // The first of equal minima, in the total order of f64.
            if i == 0 || last.total_cmp(&min).is_lt() {
                (min, at_min) = (last, x);
            }
        }
        if !(min > 0.0 && last >= FACTOR * min && last - min >= ABS_RISE) {
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
                num(at_min),
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
