//! `lr-not-scaled`: the effective batch differs by a factor k ≥ 2 (either way) but the learning
//! rate is the same (within 1%). Larger batches average away gradient noise; without a larger
//! step the run covers less distance per sample. Rule: ×√k for Adam-family optimizers
//! (Malladi et al. 2022), ×k for SGD (Goyal et al. 2017), with warmup. Severity warning.

use super::oversized_batch::scaling_rule;
use super::{Context, config_evidence, times};
use crate::model::{ConfigChange, Finding, Fix, Key, Severity, format_number as num};

/// Smallest batch ratio (either way) that calls for a learning-rate change.
const MIN_RATIO: f64 = 2.0;
/// Learning rates within this relative distance count as unchanged.
const SAME_LR: f64 = 0.01;

/// Checks every pair.
pub fn check(ctx: &Context<'_>, _: &[Finding]) -> Vec<Finding> {
    let mut out = Vec::new();
    for pair in &ctx.aligned.pairs {
        let (reference, run) = ctx.pair_runs(pair);
        let Some((b_ref, b_run)) = ctx.pair_num(pair, Key::EffectiveBatch) else {
            continue;
        };
        let Some((lr_ref, lr_run)) = ctx.pair_num(pair, Key::LearningRate) else {
            continue;
        };
        let k = b_run / b_ref;
        if k.max(1.0 / k) < MIN_RATIO || (lr_run - lr_ref).abs() > SAME_LR * lr_ref {
            continue;
        }
        let (rule, factor) = scaling_rule(run, k);
        let evidence = [
            config_evidence(reference, Key::EffectiveBatch),
            config_evidence(run, Key::EffectiveBatch),
            config_evidence(reference, Key::LearningRate),
            config_evidence(run, Key::LearningRate),
        ]
        .into_iter()
        .flatten()
        .collect();
        let direction = if k > 1.0 { "larger" } else { "smaller" };
        out.push(Finding {
            id: "lr-not-scaled",
            severity: Severity::Warning,
            runs: vec![reference.label.clone(), run.label.clone()],
            summary: format!(
                "{} trains with a {} {direction} effective batch than {} ({} vs {}) at the same learning rate {}.",
                run.label,
                times(k.max(1.0 / k)),
                reference.label,
                num(b_run),
                num(b_ref),
                num(lr_run)
            ),
            evidence,
            fix: Some(Fix {
                summary: format!("If the batch change is intended, set learning_rate {} → {} for {} ({rule}), with warmup.", num(lr_run), num(lr_run * factor), run.label),
                changes: vec![ConfigChange { run: run.label.clone(), option: "learning_rate".into(), from: Some(lr_run), to: lr_run * factor }],
                alternatives: vec!["Or restore the reference's effective batch, which needs no learning-rate change.".into()],
            }),
        });
    }
    out
}
