//! `loss-logging-artifact`: the logged loss itself is not comparable between two runs.
//!
//! transformers 4.46.0–4.48.2 logged a loss that grew with gradient accumulation for many models
//! (huggingface/transformers#34263, #35438, #35787; LLaMA-Factory #6211, #7443: at a fixed total
//! batch, logged loss ∝ GA). Raised for a pair whose GA differs when
//! - a printed `transformers_version` of either run is in [4.46.0, 4.48.3), or
//! - the ratio of the runs' first logged losses is within [`RATIO_MATCH`] of the GA ratio
//!   (and the GA ratio is at least 2): the start of training is where the runs should agree.
//!
//! And for one run whose logged training loss is [`SCALE`]× its eval loss or more at the same
//! steps (the median over the last half of its evals), when its GA is unknown, or within
//! [`RATIO_MATCH`] of that ratio, or its transformers version is in that range: a loss summed
//! over the accumulation steps, where a mean is logged elsewhere (real case 18: 16.5× at GA 16).
//!
//! Severity warning. The batch check defers to it (caps itself at warning).

use super::oversized_batch::ratio_words;
use super::{Context, config_evidence, finding, logged};
use crate::model::{Coordinate, Finding, Key, Run, Severity, format_number as num};

/// How close (relative) the first-loss ratio must be to the GA ratio.
const RATIO_MATCH: f64 = 0.25;
/// Training loss over eval loss from which one run's logged loss is not a mean: a healthy run's
/// is within about 2× either way (dropout, label smoothing, overfitting).
const SCALE: f64 = 4.0;

/// Checks every pair the batch checks judge ([`Context::batch_pairs`]): the batch check
/// defers to what it finds.
pub fn check(ctx: &Context<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for pair in ctx.batch_pairs() {
        let (a, b) = ctx.pair_runs(pair);
        let (Some(ga_a), Some(ga_b)) = (a.config.num(Key::GradAccum), b.config.num(Key::GradAccum))
        else {
            continue;
        };
        if ga_a == ga_b {
            continue;
        }
        let ga_ratio = ga_b / ga_a;
        let buggy = [a, b].into_iter().find_map(|r| {
            let v = r.config.text(Key::TransformersVersion)?;
            in_buggy_range(v).then(|| (r, v.to_string()))
        });
        let first = |r: &crate::model::Run| r.loss()?.first_positive();
        let ratio_match = match (first(a), first(b)) {
            (Some(pa), Some(pb)) => {
                let r = pb.value / pa.value;
                let big = ga_ratio.max(1.0 / ga_ratio) >= 2.0;
                (big && (r / ga_ratio - 1.0).abs() <= RATIO_MATCH).then_some((pa, pb, r))
            }
            _ => None,
        };
        if buggy.is_none() && ratio_match.is_none() {
            continue;
        }
        let mut evidence: Vec<_> = [
            config_evidence(a, Key::GradAccum),
            config_evidence(b, Key::GradAccum),
        ]
        .into_iter()
        .flatten()
        .collect();
        let mut why = Vec::new();
        if let Some((r, v)) = &buggy {
            why.push(format!("{} was trained with transformers {v}, a release whose logged loss scales with gradient accumulation", r.label));
        }
        if let Some((pa, pb, r)) = ratio_match {
            evidence.push(logged(a, "loss", pa));
            evidence.push(logged(b, "loss", pb));
            why.push(format!(
                "the first logged losses differ by {r:.2}×, about the grad-accumulation ratio {ga_ratio:.2}× ({ga_b} vs {ga_a})"
            ));
        }
        out.push(finding(
            "loss-logging-artifact",
            Severity::Warning,
            vec![a.label.clone(), b.label.clone()],
            None,
            format!(
                "The logged losses of {} and {} may not be comparable: {}. Compare eval loss, or upgrade to transformers ≥ 4.48.3 / divide the loss by gradient_accumulation_steps, before blaming the batch size.",
                a.label,
                b.label,
                why.join("; ")
            ),
            evidence,
        ));
    }
    for run in ctx.runs {
        out.extend(scaled(run));
    }
    out
}

/// One run whose logged training loss is many times its eval loss at the same steps.
fn scaled(run: &Run) -> Option<Finding> {
    let (train, eval) = (run.loss()?, run.series.get("eval_loss")?);
    let evals: Vec<_> = eval
        .points
        .iter()
        .filter(|e| e.value > 0.0 && e.step.is_finite())
        .collect();
    // Each eval with the training loss logged nearest its step, within half the interval
    // between evals: a training loss logged less often than evals is not set beside evals far
    // from it (while the loss falls fast, that gap alone makes a ratio).
    let mut gaps: Vec<f64> = evals.windows(2).map(|w| w[1].step - w[0].step).collect();
    gaps.sort_by(f64::total_cmp);
    let reach = gaps.get(gaps.len() / 2).map_or(0.0, |g| g / 2.0).max(1.0);
    // Steps and values are read from their columns; a point is made only for the loss chosen
    // (a dense log has a thousand training losses within reach of each eval).
    let step = |i: usize| train.points.coordinate(Coordinate::Step, i);
    let values = train.points.values();
    let pairs: Vec<_> = evals
        .iter()
        .filter_map(|&e| {
            // Points are in step order: those within reach start here.
            let from = train.points.partition_point(|t| t.step < e.step - reach);
            let nearest = (from..values.len())
                .take_while(|&i| step(i) <= e.step + reach)
                .filter(|&i| values[i] > 0.0)
                .min_by(|&a, &b| {
                    (step(a) - e.step)
                        .abs()
                        .total_cmp(&(step(b) - e.step).abs())
                })?;
            let t = train.points.get(nearest)?;
            Some((t, e, t.value / e.value))
        })
        .collect();
    // The last half: early in training the loss falls faster than a logging interval averages.
    let mut last: Vec<_> = pairs[pairs.len() / 2..].to_vec();
    last.sort_by(|a, b| a.2.total_cmp(&b.2));
    // The median pair: the ratio said, and the example quoted beside it.
    let &(t, e, ratio) = last.get(last.len() / 2)?;
    if ratio < SCALE {
        return None;
    }
    let ga = run.config.num(Key::GradAccum);
    let version = run
        .config
        .text(Key::TransformersVersion)
        .filter(|v| in_buggy_range(v));
    let about_ga = ga.filter(|&g| (ratio / g - 1.0).abs() <= RATIO_MATCH);
    if ga.is_some() && about_ga.is_none() && version.is_none() {
        return None;
    }
    let mut why = format!(
        "{}'s logged training loss is {} its eval loss at the same steps (the median over its last {} {}: at {}, {} vs {})",
        run.label,
        ratio_words(ratio),
        last.len(),
        if last.len() == 1 { "eval" } else { "evals" },
        e.position(),
        num(t.value),
        num(e.value)
    );
    if let Some(g) = about_ga {
        why.push_str(&format!(
            ", about its gradient_accumulation_steps {}",
            num(g)
        ));
    }
    if let Some(v) = version {
        why.push_str(&format!("; it was trained with transformers {v}"));
    }
    let evidence = [
        Some(logged(run, "loss", t)),
        Some(logged(run, "eval_loss", e)),
        config_evidence(run, Key::GradAccum),
    ]
    .into_iter()
    .flatten()
    .collect();
    Some(finding(
        "loss-logging-artifact",
        Severity::Warning,
        vec![run.label.clone()],
        Some(run.label.clone()),
        format!(
            "{why}: its logged loss looks summed over gradient-accumulation steps (transformers 4.46.0–4.48.2 logged it so), not a mean. Read its eval loss, or upgrade to transformers ≥ 4.48.3 / divide the logged loss by gradient_accumulation_steps, before comparing training losses."
        ),
        evidence,
    ))
}

/// Whether a transformers version is in [4.46.0, 4.48.3).
pub fn in_buggy_range(version: &str) -> bool {
    let mut parts = version
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<u32>().unwrap_or(0));
    let v = (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    );
    ((4, 46, 0)..(4, 48, 3)).contains(&v)
}

#[cfg(test)]
mod tests {
    #[test]
    fn version_range() {
        assert!(super::in_buggy_range("4.46.0"));
        assert!(super::in_buggy_range("4.47.1"));
        assert!(super::in_buggy_range("4.48.2"));
        assert!(!super::in_buggy_range("4.48.3"));
        assert!(!super::in_buggy_range("4.45.2"));
        assert!(!super::in_buggy_range("5.6.0"));
    }
}
