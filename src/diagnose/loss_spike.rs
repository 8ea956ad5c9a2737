//! `loss-spike`: isolated jumps in the training loss. A point is a spike when it is more than
//! [`FACTOR`]× the median of the [`WINDOW`] points before it and more than [`ABS_RISE`] above
//! that median, after the first tenth of the run (early losses fall too fast for a median).
//! Severity warning; the summary gives the count and the largest.

use super::{Context, logged};
use crate::model::{Finding, Severity, format_number as num};

/// Points in the trailing median.
pub const WINDOW: usize = 10;
/// How many times the trailing median a spike is.
pub const FACTOR: f64 = 2.0;
/// And how far above it in absolute terms.
pub const ABS_RISE: f64 = 0.1;

/// Checks every run.
pub fn check(ctx: &Context<'_>, _: &[Finding]) -> Vec<Finding> {
    let mut out = Vec::new();
    for run in ctx.runs {
        let Some(loss) = run.loss() else { continue };
        let pts: Vec<_> = loss.points.iter().filter(|p| p.value.is_finite()).collect();
        let skip = (pts.len() / 10).max(WINDOW);
        let mut spikes = Vec::new();
        for i in skip..pts.len() {
            let v = pts[i].value;
            // The median is at least the window's smallest value: most points are not above
            // twice that, and need no median.
            let least = pts[i - WINDOW..i]
                .iter()
                .map(|p| p.value)
                .fold(f64::INFINITY, f64::min);
            if v <= FACTOR * least {
                continue;
            }
            // On the stack: a long run has a million windows.
            let mut w = [0.0; WINDOW];
            for (slot, p) in w.iter_mut().zip(&pts[i - WINDOW..i]) {
                *slot = p.value;
            }
            w.sort_unstable_by(f64::total_cmp);
            let median = (w[WINDOW / 2 - 1] + w[WINDOW / 2]) / 2.0;
            if v > FACTOR * median && v - median > ABS_RISE {
                spikes.push((pts[i], v / median));
            }
        }
        let Some(&(worst, ratio)) = spikes.iter().max_by(|a, b| a.1.total_cmp(&b.1)) else {
            continue;
        };
        out.push(Finding {
            id: "loss-spike",
            severity: Severity::Warning,
            runs: vec![run.label.clone()],
            subject: Some(run.label.clone()),
            summary: format!(
                "{} has {} loss spikes; the largest at {}: {} ({ratio:.1}× the median of the {WINDOW} points before it).",
                run.label,
                spikes.len(),
                worst.position(),
                num(worst.value)
            ),
            evidence: vec![logged(run, "loss", worst)],
            fix: None,
        });
    }
    out
}
