//! `oversized-effective-batch`: the under-updating signature. A run whose effective batch is
//! k ≥ [`MIN_BATCH_RATIO`] times the reference's, trained for the same data, makes about k times
//! fewer optimizer updates; at matched samples its loss lags, while at matched optimizer steps
//! it keeps pace (Hoffer et al. 2017, "Train longer, generalize better": the gap comes from the
//! number of updates).
//!
//! Raised when all hold:
//! - k = B_run ÷ B_ref ≥ 2 (both from the run configuration, with provenance);
//! - S_ref ÷ S_run ≥ k ÷ [`STEP_SLACK`] (the run really made fewer updates);
//! - at matched samples, the geometric-mean loss ratio over the last quarter of the overlap is
//!   ≥ 1 + [`MIN_GAP`] and a one-sided t-test on log-ratios (noise from successive differences,
//!   see `stats`) gives p < [`ALPHA`];
//! - per-step progress is similar or better: ln(ratio at matched steps) ≤ ½ ln(ratio at matched
//!   samples) over the whole overlap, i.e. the step axis explains at least half of the gap.
//!
//! Severity error, or warning when a `loss-logging-artifact` was found for the pair.
//!
//! Fix: the gradient accumulation that restores the reference's effective batch at this world
//! size (GA × B_ref ÷ B_run, when a whole number ≥ 1), else the per-device batch; as an
//! alternative, learning-rate scaling by √k for Adam-family optimizers (Malladi et al. 2022) or
//! k for SGD (Goyal et al. 2017), unless the run already changed its learning rate.

use super::stats;
use super::{Context, config_evidence, derived, optimizer_steps, raised_for, times};
use crate::model::{
    ConfigChange, Evidence, Finding, Fix, Key, Run, Severity, format_number as num,
};

/// Smallest batch multiplier that counts as oversized.
pub const MIN_BATCH_RATIO: f64 = 2.0;
/// How far the step ratio may fall short of k (steps are rounded up per epoch).
const STEP_SLACK: f64 = 1.5;
/// Smallest loss ratio at matched samples that counts as "clearly higher".
pub const MIN_GAP: f64 = 0.10;
/// Significance level of the paired test.
pub const ALPHA: f64 = 0.01;

/// Checks every pair.
pub fn check(ctx: &Context<'_>, earlier: &[Finding]) -> Vec<Finding> {
    let mut out = Vec::new();
    for pair in &ctx.aligned.pairs {
        let (reference, run) = ctx.pair_runs(pair);
        let Some((b_ref, b_run)) = ctx.pair_num(pair, Key::EffectiveBatch) else {
            continue;
        };
        let k = b_run / b_ref;
        if k < MIN_BATCH_RATIO {
            continue;
        }
        let (Some((s_ref, s_ref_src)), Some((s_run, s_run_src))) =
            (optimizer_steps(reference), optimizer_steps(run))
        else {
            continue;
        };
        let fewer = s_ref / s_run;
        if fewer < k / STEP_SLACK {
            continue;
        }
        let (Some(data), Some(steps)) = (&pair.by_data, &pair.by_steps) else {
            continue;
        };
        if data.ratio_last.is_nan() || data.ratio_last < 1.0 + MIN_GAP {
            continue;
        }
        let Some(test) = stats::worse(&data.paired) else {
            continue;
        };
        if test.p_value >= ALPHA {
            continue;
        }
        if steps.ratio_all.ln() > 0.5 * data.ratio_all.ln() {
            continue;
        }
        let artifact = raised_for(earlier, "loss-logging-artifact", reference, run);
        let axis = ctx.aligned.data_axis.label();
        let mut evidence: Vec<Evidence> = [
            config_evidence(reference, Key::EffectiveBatch),
            config_evidence(run, Key::EffectiveBatch),
        ]
        .into_iter()
        .flatten()
        .collect();
        evidence.push(Evidence {
            name: format!("optimizer_steps[{}]", reference.label),
            value: s_ref,
            source: s_ref_src,
        });
        evidence.push(Evidence {
            name: format!("optimizer_steps[{}]", run.label),
            value: s_run,
            source: s_run_src,
        });
        for key in [
            Key::WorldSize,
            Key::PerDeviceBatch,
            Key::GradAccum,
            Key::LearningRate,
        ] {
            evidence.extend(config_evidence(reference, key));
            evidence.extend(config_evidence(run, key));
        }
        evidence.push(derived(
            format!("loss[{}]@{} {}", reference.label, num(data.end), axis),
            data.reference_at_end,
            format!(
                "{} loss interpolated at the end of the overlap",
                reference.label
            ),
        ));
        evidence.push(derived(
            format!("loss[{}]@{} {}", run.label, num(data.end), axis),
            data.run_at_end,
            format!("{} loss interpolated at the end of the overlap", run.label),
        ));
        evidence.push(derived("loss_ratio_matched_samples", data.ratio_last, "geometric mean of run ÷ reference over the last quarter of the overlap on the data axis"));
        evidence.push(derived(
            "loss_ratio_matched_steps",
            steps.ratio_all,
            "geometric mean of run ÷ reference over the whole overlap on the step axis",
        ));
        evidence.push(derived("p_value", test.p_value, format!("one-sided t-test on ln(run ÷ reference), n = {}, noise from successive differences", test.n)));
        let summary = format!(
            "{run_l} used a {k_s} larger effective batch than {ref_l} ({b_run} vs {b_ref} samples per optimizer step) and so made {f_s} fewer optimizer updates ({s_run} vs {s_ref}). \
At {x} {axis} its loss is {l_run} vs {l_ref} ({r:.1}× higher over the last quarter of the overlap, {p}), while at matched optimizer steps its loss is {rs:.2}× the reference's: per update it learns {pace}, so it is short of updates, not of data.",
            run_l = run.label,
            ref_l = reference.label,
            k_s = times(k),
            f_s = times(fewer),
            b_run = num(b_run),
            b_ref = num(b_ref),
            s_run = num(s_run),
            s_ref = num(s_ref),
            x = num(data.end),
            l_run = num(data.run_at_end),
            l_ref = num(data.reference_at_end),
            r = data.ratio_last,
            p = format_p(test.p_value),
            rs = steps.ratio_all,
            pace = if steps.ratio_all <= 1.0 {
                "as fast or faster"
            } else {
                "nearly as fast"
            },
        );
        out.push(Finding {
            id: "oversized-effective-batch",
            severity: if artifact {
                Severity::Warning
            } else {
                Severity::Error
            },
            runs: vec![reference.label.clone(), run.label.clone()],
            summary,
            evidence,
            fix: Some(fix(reference, run, k)),
        });
    }
    out
}

/// A p-value as text: `p < 1e-6` for tiny ones, else `p = 1.23e-3`.
pub fn format_p(p: f64) -> String {
    if p < 1e-6 {
        "p < 1e-6".into()
    } else {
        format!("p = {p:.2e}")
    }
}

fn fix(reference: &Run, run: &Run, k: f64) -> Fix {
    let b_ref = reference
        .config
        .num(Key::EffectiveBatch)
        .unwrap_or_default();
    let world = run.config.num(Key::WorldSize);
    let pdb = run.config.num(Key::PerDeviceBatch);
    let ga = run.config.num(Key::GradAccum);
    let mut changes = Vec::new();
    let summary;
    let whole = |x: f64| (x >= 1.0 && (x - x.round()).abs() < 1e-9).then_some(x.round());
    if let Some(new_ga) = ga.and_then(|g| whole(g / k)) {
        changes.push(ConfigChange {
            run: run.label.clone(),
            option: "gradient_accumulation_steps".into(),
            from: ga,
            to: new_ga,
        });
        summary = format!(
            "Set gradient_accumulation_steps {} → {} for {}: {} restores {}'s effective batch of {} and its number of optimizer updates.",
            num(ga.unwrap_or_default()),
            num(new_ga),
            run.label,
            match (world, pdb) {
                (Some(w), Some(b)) => format!(
                    "{} × {} × {} = {}",
                    num(w),
                    num(b),
                    num(new_ga),
                    num(w * b * new_ga)
                ),
                _ => format!("the batch ÷ {}", times(k)),
            },
            reference.label,
            num(b_ref)
        );
    } else if let Some(new_pdb) = pdb.and_then(|b| whole(b / k)) {
        changes.push(ConfigChange {
            run: run.label.clone(),
            option: "per_device_train_batch_size".into(),
            from: pdb,
            to: new_pdb,
        });
        summary = format!(
            "Set per_device_train_batch_size {} → {} for {}: it restores {}'s effective batch of {} and its number of optimizer updates.",
            num(pdb.unwrap_or_default()),
            num(new_pdb),
            run.label,
            reference.label,
            num(b_ref)
        );
    } else {
        summary = format!(
            "Reduce {}'s effective batch by {} (per_device_train_batch_size × world size × gradient_accumulation_steps = {}), or train {} more epochs.",
            run.label,
            times(k),
            num(b_ref),
            times(k)
        );
    }
    let mut alternatives = Vec::new();
    let (lr_ref, lr_run) = (
        reference.config.num(Key::LearningRate),
        run.config.num(Key::LearningRate),
    );
    match (lr_ref, lr_run) {
        (Some(a), Some(b)) if (a - b).abs() > 0.01 * a => alternatives.push(format!(
            "The run already changed the learning rate ({} vs {}), so no learning-rate scaling is proposed; restore the step count instead.",
            num(b),
            num(a)
        )),
        (_, Some(lr)) => {
            let (rule, factor) = scaling_rule(run, k);
            alternatives.push(format!(
                "Keep the batch and scale learning_rate {} → {} ({rule}); this does not restore the number of updates, and needs warmup counted in samples — a weaker fix than the batch change.",
                num(lr),
                num(lr * factor)
            ));
        }
        _ => {}
    }
    alternatives.push(format!(
        "Or keep the batch and train {} as many epochs (num_train_epochs), at {} the compute.",
        times(k),
        times(k)
    ));
    Fix {
        summary,
        changes,
        alternatives,
    }
}

/// The learning-rate scaling rule for a run's optimizer: √k for Adam-family (Malladi et al. 2022,
/// "On the SDEs and Scaling Rules for Adaptive Gradient Algorithms"), k for SGD (Goyal et al.
/// 2017, "Accurate, Large Minibatch SGD"). Unknown optimizers are assumed AdamW, the HF default.
pub fn scaling_rule(run: &Run, k: f64) -> (String, f64) {
    match run.config.text(Key::Optimizer) {
        Some(o) if o.to_ascii_lowercase().contains("sgd") => (
            format!(
                "linear scaling rule for SGD, ×{}, Goyal et al. 2017",
                num(k)
            ),
            k,
        ),
        Some(o) => (
            format!(
                "square-root scaling rule for Adam-family optimizers ({o}), ×√{} ≈ {:.2}, Malladi et al. 2022",
                num(k),
                k.sqrt()
            ),
            k.sqrt(),
        ),
        None => (
            format!(
                "square-root scaling rule for Adam-family optimizers, ×√{} ≈ {:.2}, Malladi et al. 2022; optimizer assumed AdamW, the HF default",
                num(k),
                k.sqrt()
            ),
            k.sqrt(),
        ),
    }
}
