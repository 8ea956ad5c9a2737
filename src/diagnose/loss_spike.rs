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
pub fn check(ctx: &Context<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for run in ctx.runs {
        let Some(loss) = run.loss() else { continue };
        // Over the values alone, the last WINDOW finite ones in a ring (the minimum and the
        // median do not depend on their order); a point is made only for the worst spike.
        let values = loss.points.values();
        let skip = (values.iter().filter(|v| v.is_finite()).count() / 10).max(WINDOW);
        let mut window = [0.0; WINDOW];
        let (mut seen, mut spikes) = (0usize, 0usize);
        let mut worst: Option<(usize, f64)> = None;
        for (i, &v) in values.iter().enumerate() {
            if !v.is_finite() {
                continue;
            }
            // The median is at least the window's smallest value: most points are not above
            // twice that, and need no median.
            if seen >= skip && v > FACTOR * window.iter().copied().fold(f64::INFINITY, f64::min) {
                let mut w = window;
                w.sort_unstable_by(f64::total_cmp);
                let median = (w[WINDOW / 2 - 1] + w[WINDOW / 2]) / 2.0;
                let ratio = v / median;
                if v > FACTOR * median && v - median > ABS_RISE {
                    spikes += 1;
                    // The last of equal ratios.
                    if worst.is_none_or(|(_, r)| ratio.total_cmp(&r).is_ge()) {
                        worst = Some((i, ratio));
                    }
                }
            }
            window[seen % WINDOW] = v;
            seen += 1;
        }
        let Some((worst, ratio)) = worst.and_then(|(i, r)| Some((loss.points.get(i)?, r))) else {
            continue;
        };
        let mut evidence = vec![logged(run, "loss", worst)];
        // An RL run's loss (GRPO's) is mostly its KL penalty, β × KL: a spike in it is the
        // policy moving away from its reference model, which the KL logged at that step shows.
        let kl = run
            .is_rl()
            .then(|| run.series.get("kl"))
            .flatten()
            .and_then(|kl| {
                let points = &kl.points;
                let i = points.partition_point(|p| p.step < worst.step);
                points.get(i).filter(|p| p.step == worst.step)
            });
        let why = match kl {
            Some(k) => {
                evidence.push(logged(run, "kl", k));
                format!(
                    " Its kl there is {}: an RL loss is mostly its KL penalty (β × KL), so the policy moved far from its reference model at that step.",
                    num(k.value)
                )
            }
            None => String::new(),
        };
        out.push(Finding {
            id: "loss-spike",
            severity: Severity::Warning,
            runs: vec![run.label.clone()],
            subject: Some(run.label.clone()),
            summary: format!(
                "{} has {} loss spikes; the largest against its median at {}: {} ({} the median of the {WINDOW} points before it).{why}",
                run.label,
                spikes,
                worst.position(),
                num(worst.value),
                super::oversized_batch::ratio_words(ratio)
            ),
            evidence,
            fix: None,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::synthetic::{findings, run, set_series};

    #[test]
    fn an_rl_runs_spike_gives_the_kl_logged_at_its_step() {
        // GRPO at β = 0.001: the loss is the KL penalty, 0.1792 where kl is 179.2.
        let kl = |s: f64| if s == 150.0 { 179.2 } else { 0.5 };
        let mut r = run("g", 16.0, 200, 2, |s| kl(s) / 1000.0 + 0.01);
        set_series(&mut r, "kl", 2, 200, kl);
        let found: Vec<_> = findings(&[r])
            .into_iter()
            .filter(|f| f.id == "loss-spike")
            .collect();
        assert_eq!(found.len(), 1, "{found:?}");
        let f = &found[0];
        assert!(f.summary.contains("at step 150: 0.1892 ("), "{}", f.summary);
        assert!(f.summary.contains("Its kl there is 179.2"), "{}", f.summary);
        assert!(
            f.evidence
                .iter()
                .any(|e| e.name == "kl[g]@step 150" && e.value == 179.2)
        );
        // Not an RL run: the loss alone.
        let plain = run("p", 16.0, 200, 2, |s| kl(s) / 1000.0 + 0.01);
        let f = findings(&[plain])
            .into_iter()
            .find(|f| f.id == "loss-spike")
            .expect("spike");
        assert!(!f.summary.contains("kl"), "{}", f.summary);
    }

    #[test]
    fn counts_each_spike_over_the_finite_window_and_names_the_largest() {
        // A NaN inside the window is passed over (the window is the 10 finite values before),
        // and a spike just after another is still one: the median of 10 is not moved by two.
        let r = run("s", 16.0, 200, 2, |s| match s {
            150.0 => 5.0,
            160.0 => f64::NAN,
            170.0 | 172.0 => 3.0,
            _ => 1.0,
        });
        let found: Vec<_> = findings(&[r])
            .into_iter()
            .filter(|f| f.id == "loss-spike")
            .collect();
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].summary.starts_with(
                "s has 3 loss spikes; the largest against its median at step 150: 5 (5.0×"
            ),
            "{}",
            found[0].summary
        );
    }
}
