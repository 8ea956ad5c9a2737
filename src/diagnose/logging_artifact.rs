//! `loss-logging-artifact`: the logged loss itself is not comparable between two runs.
//!
//! transformers 4.46.0–4.48.2 logged a loss that grew with gradient accumulation for many models
//! (huggingface/transformers#34263, #35438, #35787; LLaMA-Factory #6211, #7443: at a fixed total
//! batch, logged loss ∝ GA). Raised for a pair whose GA differs when
//! - a printed `transformers_version` of either run is in [4.46.0, 4.48.3), or
//! - the ratio of the runs' first logged losses is within [`RATIO_MATCH`] of the GA ratio
//!   (and the GA ratio is at least 2): the start of training is where the runs should agree.
//!
//! Severity warning. The batch check defers to it (caps itself at warning).

use super::{Context, config_evidence, finding, logged};
use crate::model::{Finding, Key, Severity};

/// How close (relative) the first-loss ratio must be to the GA ratio.
const RATIO_MATCH: f64 = 0.25;

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
    out
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
