//! `overfitting`: eval loss rising while train loss falls. Raised when a run has at least
//! [`MIN_EVALS`] eval points, its last eval loss is at least [`RISE`] above its minimum
//! (relative) and [`ABS_RISE`] above it (absolute), and the train loss at the last eval is lower
//! than at the best eval. Severity warning; the fix names the epoch of the best eval (the step,
//! as `max_steps`, for a run its step limit stopped: `options::step_limit`), or of the eval the
//! run keeps its best checkpoint at by its own metric (`best_metric`), when that came later.
//! When that metric is best at the last eval, the run's own measure kept improving to the end:
//! no finding.

use super::{Context, config_evidence, logged};
use crate::model::{Finding, Fix, Key, Point, Run, Severity, format_number as num};

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
        // The eval the run kept its best checkpoint at, by its own metric: where training
        // should stop, when that metric is not the eval loss (a speech run chosen by WER, whose
        // WER went on improving after its eval loss turned).
        let kept = kept_by(run).filter(|(name, p)| name != "eval_loss" && p.step > best.step);
        // That metric best at the last eval: by the run's own measure training longer went on
        // paying, and stopping there is where it stopped. No finding.
        if kept.as_ref().is_some_and(|(_, p)| p.step >= last.step) {
            continue;
        }
        let stop = kept.as_ref().map_or(best, |(_, p)| *p);
        // A run stopped by its step limit is shortened by that limit (its epochs follow from
        // it); else by its epochs.
        let limit = super::options::step_limit(run);
        let changes = match limit {
            Some(limit) => {
                super::options::change(run, Key::TotalSteps, Some(limit), stop.step.ceil())
            }
            None => stop
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
            evidence: [logged(run, "eval_loss", best), logged(run, "eval_loss", last), logged(run, "loss", tb), logged(run, "loss", tl)]
                .into_iter()
                .chain(kept.iter().flat_map(|(name, p)| {
                    [config_evidence(run, Key::BestMetric), Some(logged(run, name, *p))]
                        .into_iter()
                        .flatten()
                }))
                .collect(),
            fix: Some(Fix {
                summary: match &kept {
                    Some((name, p)) => format!(
                        "The run keeps its best checkpoint by {name} (best_metric {} at {}), which went on improving after the eval loss's best ({}): stop at that checkpoint, not at the eval loss's best, or regularise.",
                        num(p.value),
                        p.position(),
                        best.position(),
                    ),
                    None => format!(
                        "Stop at the best eval (load_best_model_at_end with metric_for_best_model: eval_loss), train {}, or regularise.",
                        if limit.is_some() { "fewer steps" } else { "fewer epochs" }
                    ),
                },
                changes,
                alternatives: vec![],
            }),
        });
    }
    out
}

/// The eval metric and point a run kept its best checkpoint by: the `eval_*` series holding the
/// state's `best_metric` (the state does not name `metric_for_best_model`), at the first point
/// with exactly that value, when one series alone holds it.
fn kept_by(run: &Run) -> Option<(String, Point)> {
    let best = run.config.num(Key::BestMetric)?;
    let mut found = run
        .series
        .iter()
        .filter(|(name, _)| name.starts_with("eval_"))
        .filter_map(|(name, series)| {
            let p = series
                .points
                .iter()
                .find(|p| p.value.to_bits() == best.to_bits())?;
            Some((name.clone(), p))
        });
    let one = found.next()?;
    found.next().is_none().then_some(one)
}
