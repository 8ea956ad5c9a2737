//! `lr-not-scaled`: the effective batch differs by a factor k ≥ 2 (either way) but the learning
//! rate is the same (within 1%). Larger batches average away gradient noise; without a larger
//! step the larger-batch run covers less distance per sample. Symmetric: the finding addresses
//! the larger-batch run, whichever is the baseline; a plan judged against a run already made is
//! addressed whichever batch it has (only the plan can still change), its rate ÷ the factor when
//! its batch is the smaller. Not raised for a larger-batch run that did better per sample than
//! the other (the other worse by the regression gate's test): its rate did it no harm. Rule:
//! ×√k for Adam-family optimizers (Malladi et al. 2022), ×k for SGD (Goyal et al. 2017), with
//! warmup. Severity warning.

use super::oversized_batch::scaling_rule;
use super::{Context, a_times, config_evidence};
use crate::model::{Finding, Fix, Key, Severity, format_number as num};

/// Smallest batch ratio (either way) that calls for a learning-rate change.
const MIN_RATIO: f64 = 2.0;
/// Learning rates within this relative distance count as unchanged.
pub const SAME_LR: f64 = 0.01;

/// Checks every pair the batch checks judge ([`Context::batch_pairs`]); a run's strongest
/// finding first.
pub fn check(ctx: &Context<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for pair in ctx.batch_pairs() {
        let (reference, run) = ctx.pair_runs(pair);
        let Some((b_ref, b_run)) = ctx.pair_num(pair, Key::EffectiveBatch) else {
            continue;
        };
        let Some((lr_ref, lr_run)) = ctx.pair_num(pair, Key::LearningRate) else {
            continue;
        };
        let run_is_big = b_run >= b_ref;
        let (small, big) = if run_is_big {
            (reference, run)
        } else {
            (run, reference)
        };
        let k = b_run.max(b_ref) / b_run.min(b_ref);
        if k < MIN_RATIO || (lr_run - lr_ref).abs() > SAME_LR * lr_ref {
            continue;
        }
        // The run addressed: the larger-batch one, or a plan against a run already made (only
        // the plan can still change), whichever batch it has.
        let to_plan = small.planned && !big.planned;
        // A larger-batch run that did better per sample than the other (the other worse by the
        // regression gate's test) is not told to change its rate: a change is never proposed
        // to the better run.
        let small_worse = || {
            pair.by_data.as_ref().is_some_and(|o| {
                let small_over_big = super::View::of(o, !run_is_big);
                super::loss_regression::worse(&small_over_big, ctx.opts.tolerance).is_some()
            })
        };
        if !to_plan && small_worse() {
            continue;
        }
        let (target, other) = if to_plan { (small, big) } else { (big, small) };
        let lr = target.config.num(Key::LearningRate).unwrap_or(lr_run);
        // A smaller planned batch divides by the factor ("÷√2 ≈ 1.41").
        let (rule, factor) = scaling_rule(target, k, to_plan);
        let scaled = super::oversized_batch::scaled_rate(lr, factor, to_plan);
        let size = if to_plan { "smaller" } else { "larger" };
        let evidence = [
            config_evidence(small, Key::EffectiveBatch),
            config_evidence(big, Key::EffectiveBatch),
            config_evidence(small, Key::LearningRate),
            config_evidence(big, Key::LearningRate),
        ]
        .into_iter()
        .flatten()
        .collect();
        let change = super::options::change(target, Key::LearningRate, Some(lr), scaled);
        // Rates equal within SAME_LR but printed apart (two logged peaks) are both given: a
        // number beside another never contradicts it.
        let other_lr = other.config.num(Key::LearningRate).unwrap_or(lr);
        let same = if num(lr) == num(other_lr) {
            format!("the same learning rate {}", num(lr))
        } else {
            format!(
                "about the same learning rate ({} vs {})",
                num(lr),
                num(other_lr)
            )
        };
        out.push((k, Finding {
            id: "lr-not-scaled",
            severity: Severity::Warning,
            runs: vec![reference.label.clone(), run.label.clone()],
            subject: Some(target.label.clone()),
            summary: format!(
                "{}{} {} {} {size} effective batch than {} ({} vs {}) at {same}.",
                if target.planned { "Planned: " } else { "" },
                target.label,
                if target.planned { "would train with" } else { "trains with" },
                a_times(k),
                other.label,
                num(target.config.num(Key::EffectiveBatch).unwrap_or_default()),
                num(other.config.num(Key::EffectiveBatch).unwrap_or_default()),
            ),
            evidence,
            fix: Some(Fix {
                summary: format!(
                    "If the {size} batch is intended, set {} {} → {} for {} ({rule}), with warmup.",
                    change.as_ref().map_or("the learning rate", |c| c.option.as_str()),
                    num(lr),
                    num(scaled),
                    target.label
                ),
                changes: change.into_iter().collect(),
                alternatives: vec![format!(
                    "Or restore {}'s effective batch, which needs no learning-rate change.",
                    other.label
                )],
            }),
        }));
    }
    super::strongest_first(ctx, out)
}

#[cfg(test)]
mod tests {
    use super::super::synthetic::{diagnose, has, run};

    fn by_updates(step: f64) -> f64 {
        1.0 + 8.0 * (-step / 40.0).exp()
    }

    #[test]
    fn the_larger_batch_is_told_to_scale_its_rate_unless_it_did_better_per_sample() {
        let base = run("base", 16.0, 384, 2, by_updates);
        // 8× the batch at the same rate, short of updates: told to scale it.
        let big = run("big", 128.0, 48, 2, by_updates);
        assert!(has(&diagnose(&[base.clone(), big]), "lr-not-scaled"));
        // 8× the batch that ends at 0.7× the loss at every sample: its rate did it no harm, in
        // either order.
        let better = run("better", 128.0, 48, 2, |s| {
            0.7 * by_updates(s * 8.0) * (1.0 + 0.02 * (s * 0.9).sin())
        });
        for runs in [[base.clone(), better.clone()], [better, base]] {
            let found = diagnose(&runs);
            assert!(!has(&found, "lr-not-scaled"), "{found:?}");
        }
    }
}
