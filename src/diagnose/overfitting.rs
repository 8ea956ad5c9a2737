//! `overfitting`: eval loss rising while train loss falls. Raised when a run has at least
//! [`MIN_EVALS`] eval points, its last eval loss is at least [`RISE`] above its minimum
//! (relative) and [`ABS_RISE`] above it (absolute), and the train loss at the last eval is lower
//! than at the best eval. Severity warning; the fix names the epoch of the best eval (the step,
//! as `max_steps`, for a run its step limit stopped: `options::step_limit`).

use super::{Context, logged};
use crate::model::{Finding, Fix, Key, Severity, format_number as num};

/// Fewest eval points to call a trend.
pub const MIN_EVALS: usize = 3;
/// Relative rise of eval loss from its minimum.
pub const RISE: f64 = 0.10;
/// Absolute rise of eval loss from its minimum.
pub const ABS_RISE: f64 = 0.01;

/// Checks every run.
pub fn check(ctx: &Context<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for run in ctx.runs {
        let (Some(eval), Some(train)) = (run.series.get("eval_loss"), run.loss()) else {
            continue;
        };
        let pts: Vec<_> = eval.points.iter().filter(|p| p.value.is_finite()).collect();
        if pts.len() < MIN_EVALS {
            continue;
        }
        let Some(best) = pts
            .iter()
            .copied()
            .min_by(|a, b| a.value.total_cmp(&b.value))
        else {
            continue;
        };
        let last = pts[pts.len() - 1];
        if !(last.value >= best.value * (1.0 + RISE) && last.value - best.value >= ABS_RISE) {
            continue;
        }
        let train_at = |step: f64| {
            train
                .points
                .iter()
                .rev()
                .find(|p| p.step <= step && p.value.is_finite())
        };
        let (Some(tb), Some(tl)) = (train_at(best.step), train_at(last.step)) else {
            continue;
        };
        if tl.value >= tb.value {
            continue;
        }
        // A run stopped by its step limit is shortened by that limit (its epochs follow from
        // it); else by its epochs.
        let limit = super::options::step_limit(run);
        let changes = match limit {
            Some(limit) => {
                super::options::change(run, Key::TotalSteps, Some(limit), best.step.ceil())
            }
            None => best
                .epoch
                .get()
                .filter(|_| run.config.num(Key::Epochs).is_some())
                .and_then(|e| {
                    super::options::change(
                        run,
                        Key::Epochs,
                        run.config.num(Key::Epochs),
                        (e * 100.0).ceil() / 100.0,
                    )
                }),
        }
        .into_iter()
        .collect::<Vec<_>>();
        out.push(Finding {
            id: "overfitting",
            severity: Severity::Warning,
            runs: vec![run.label.clone()],
            subject: Some(run.label.clone()),
            summary: format!(
                "{}'s eval loss rose from its best {} ({}) to {} ({}) while its train loss fell from {} to {}: it overfits.",
                run.label,
                num(best.value),
                best.position(),
                num(last.value),
                last.position(),
                num(tb.value),
                num(tl.value)
            ),
            evidence: vec![logged(run, "eval_loss", best), logged(run, "eval_loss", last), logged(run, "loss", tb), logged(run, "loss", tl)],
            fix: Some(Fix {
                summary: format!(
                    "Stop at the best eval (load_best_model_at_end with metric_for_best_model: eval_loss), train {}, or regularise.",
                    if limit.is_some() { "fewer steps" } else { "fewer epochs" }
                ),
                changes,
                alternatives: vec![],
            }),
        });
    }
    out
}
