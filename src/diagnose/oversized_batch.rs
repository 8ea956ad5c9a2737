//! `oversized-effective-batch`: the under-updating signature. Of two runs on the same data, the
//! one whose effective batch is k ≥ [`MIN_BATCH_RATIO`] times the other's makes about k times
//! fewer optimizer updates; at matched samples its loss lags, while at matched optimizer steps
//! it keeps pace (Hoffer et al. 2017, "Train longer, generalize better": the gap comes from the
//! number of updates).
//!
//! Symmetric: each pair is looked at from its larger-batch run, whichever is the baseline, and
//! the finding addresses that run (its `subject`). Raised when all hold:
//! - k = B_big ÷ B_small ≥ 2 (both from the run configuration, with provenance);
//! - S_small ÷ S_big ≥ k ÷ [`STEP_SLACK`] (the big run really made fewer updates);
//! - at matched samples, the geometric-mean loss ratio big ÷ small over the last quarter of the
//!   overlap is above 1 + the regression gate's `--tolerance` (5%: the gap the gate fails is the
//!   gap this check explains, or one order of the runs gets a regression with no cause and the
//!   other none) and a one-sided t-test on log-ratios (noise from successive differences, see
//!   `stats`) gives p < [`ALPHA`];
//! - per-step progress is similar or better: ln(ratio at matched steps) ≤ ½ ln(ratio at matched
//!   samples) over the whole overlap, i.e. the step axis explains at least half of the gap.
//!
//! Severity error; warning when a `loss-logging-artifact` was found for the pair, or when the
//! mean gap over the last quarter is within the regression gate's absolute floor
//! (`loss_regression::ABS_FLOOR`, 0.01: both runs reached a loss near 0, and the summary says
//! the gap is that small).
//!
//! Fix, in the trainer's own option names (`options`): the gradient accumulation that restores
//! the smaller batch at this world size (GA × B_small ÷ B_big, when a whole number ≥ 1), else
//! the per-device batch, else (Megatron-LM) the global batch; as an alternative, learning-rate
//! scaling by √k for Adam-family optimizers (Malladi et al. 2022) or k for SGD (Goyal et al.
//! 2017), unless the run already changed its learning rate.

use super::{
    Context, View, a_times, config_evidence, derived, optimizer_steps, raised_for, strongest_first,
    times,
};
use crate::model::{
    ConfigChange, Evidence, Finding, Fix, Key, Provenance, Run, Severity, format_count as count,
    format_number as num,
};

/// Smallest batch multiplier that counts as oversized.
pub const MIN_BATCH_RATIO: f64 = 2.0;
/// How far the step ratio may fall short of k (steps are rounded up per epoch).
const STEP_SLACK: f64 = 1.5;
/// How far above 1 the loss ratio at matched steps over the last quarter must be for the
/// larger-batch run to be said to fall behind per update there.
const BEHIND: f64 = 0.10;
/// Significance level of the paired test.
pub const ALPHA: f64 = 0.01;

/// Checks every pair the batch checks judge ([`Context::batch_pairs`]), from its larger-batch
/// side; a run's strongest finding first ([`strongest_first`]).
pub fn check(ctx: &Context<'_>, earlier: &[Finding]) -> Vec<Finding> {
    let mut out = Vec::new();
    for pair in ctx.batch_pairs() {
        let (reference, run) = ctx.pair_runs(pair);
        // Effective batches from the configurations; else their ratio inferred from the
        // runs' steps per epoch (same data: k× the batch, k× fewer steps per epoch).
        let inferred = ctx.pair_num(pair, Key::EffectiveBatch).is_none();
        let Some((b_ref, b_run)) = ctx
            .pair_num(pair, Key::EffectiveBatch)
            .or_else(|| inferred_batches(reference, run))
        else {
            continue;
        };
        // The side that needs the change: the larger batch.
        let run_is_big = b_run >= b_ref;
        let (small, big, b_small, b_big) = if run_is_big {
            (reference, run, b_ref, b_run)
        } else {
            (run, reference, b_run, b_ref)
        };
        let k = b_big / b_small;
        if k < MIN_BATCH_RATIO {
            continue;
        }
        let (Some((s_small, s_small_src)), Some((s_big, s_big_src))) =
            (optimizer_steps(small), optimizer_steps(big))
        else {
            continue;
        };
        let fewer = s_small / s_big;
        if fewer < k / STEP_SLACK {
            continue;
        }
        let batches = if inferred {
            format!(
                "{} vs {} optimizer steps per epoch; assumed: the same examples per epoch, so the steps per epoch give the batch ratio; effective batches unknown",
                num(b_small),
                num(b_big)
            )
        } else {
            format!(
                "{} vs {} samples per optimizer step",
                num(b_big),
                num(b_small)
            )
        };
        // The prediction from the configuration alone, for a plan or a run still going.
        let predicted = |live: Option<(f64, f64)>| {
            let steps = [
                (small, s_small, s_small_src.clone()),
                (big, s_big, s_big_src.clone()),
            ];
            let batches = batches.as_str();
            (
                k,
                planned(
                    reference,
                    run,
                    [small, big],
                    k,
                    fewer,
                    &steps,
                    batches,
                    live,
                ),
            )
        };
        if big.planned || small.planned {
            // A plan has no loss to compare: judged on its configuration alone, and only when
            // the plan is the side that would be short of updates.
            if big.planned && !small.planned {
                out.push(predicted(None));
            }
            continue;
        }
        // A run still going (its logs stop short of its plan, no summary yet) whose loss cannot
        // show the signature yet is predicted from its configuration, as a plan is: so
        // `--follow --fail-on warning` stops it for the cause, not for a symptom (too few
        // updates) with another change.
        let live = big.stopped_short();
        let judged = 'judged: {
            let (Some(data), Some(steps)) = (&pair.by_data, &pair.by_steps) else {
                break 'judged None;
            };
            let (data, steps) = (View::of(data, run_is_big), View::of(steps, run_is_big));
            if data.ratio_last.is_nan() || data.ratio_last <= 1.0 + ctx.opts.tolerance {
                break 'judged None;
            }
            let Some(test) = data.test else {
                break 'judged None;
            };
            if test.p_value >= ALPHA || steps.ratio_all.ln() > 0.5 * data.ratio_all.ln() {
                break 'judged None;
            }
            Some((data, steps, test))
        };
        let Some((data, steps, test)) = judged else {
            if live.is_some() {
                out.push(predicted(live));
            }
            continue;
        };
        let artifact = raised_for(earlier, "loss-logging-artifact", reference, run);
        // A gap the regression gate would call noise (below its absolute floor: two runs that
        // both reached ~0.001): still the signature of too few updates, but a warning, so that
        // `--fail-on error` does not fail a gap the gate itself lets pass.
        let faint = data.gap_last <= super::loss_regression::ABS_FLOOR;
        let axis = ctx.aligned.data_axis.amount();
        let mut evidence: Vec<Evidence> = [
            config_evidence(small, Key::EffectiveBatch),
            config_evidence(big, Key::EffectiveBatch),
        ]
        .into_iter()
        .flatten()
        .collect();
        if inferred {
            evidence.push(Evidence {
                name: "effective_batch_ratio".into(),
                value: k,
                source: Provenance::Assumed(format!(
                    "both runs see the same examples per epoch, so the batch ratio is the inverse ratio of steps per epoch ({} vs {}, last logged loss step ÷ its epoch)",
                    num(b_big),
                    num(b_small)
                )),
            });
        }
        evidence.push(Evidence {
            name: format!("optimizer_steps[{}]", small.label),
            value: s_small,
            source: s_small_src,
        });
        evidence.push(Evidence {
            name: format!("optimizer_steps[{}]", big.label),
            value: s_big,
            source: s_big_src,
        });
        for key in [
            Key::WorldSize,
            Key::PerDeviceBatch,
            Key::GradAccum,
            Key::LearningRate,
        ] {
            evidence.extend(config_evidence(small, key));
            evidence.extend(config_evidence(big, key));
        }
        evidence.push(derived(
            format!("loss[{}]@{} {}", big.label, num(data.end), axis),
            data.num_at_end,
            format!("{} loss interpolated at the end of the overlap", big.label),
        ));
        evidence.push(derived(
            format!("loss[{}]@{} {}", small.label, num(data.end), axis),
            data.den_at_end,
            format!(
                "{} loss interpolated at the end of the overlap",
                small.label
            ),
        ));
        evidence.push(derived(
            "loss_ratio_at_end_matched_samples",
            data.ratio_at_end(),
            "the two losses above, divided",
        ));
        evidence.push(derived(
            "loss_ratio_last_quarter_matched_samples",
            data.ratio_last,
            format!(
                "geometric mean of {} ÷ {} over the last quarter of the overlap ({})",
                big.label,
                small.label,
                data.last_window()
            ),
        ));
        evidence.push(derived(
            "loss_ratio_matched_steps",
            steps.ratio_all,
            format!(
                "geometric mean of {} ÷ {} over the whole overlap on the step axis (steps {}–{})",
                big.label,
                small.label,
                count(steps.start),
                count(steps.end)
            ),
        ));
        push_p(&mut evidence, &test, &big.label, &small.label);
        let faint_note = if faint {
            format!(
                " Both losses are near 0 (a mean gap of {} over the last quarter, within the regression gate's floor of {}): a warning, not an error.",
                num(data.gap_last),
                num(super::loss_regression::ABS_FLOOR)
            )
        } else {
            String::new()
        };
        let baseline_note = if !run_is_big && pair.reference == ctx.reference {
            format!(
                " The baseline {} is the run short of updates.",
                reference.label
            )
        } else {
            String::new()
        };
        let updates = updates_words(small, big, k, fewer, s_small, s_big);
        let summary = format!(
            "{big_l} used {k_s} larger effective batch than {small_l} ({batches}) and {updates}. \
At {x} {axis} its loss is {l_big} vs {l_small} ({r_end}); over the last quarter of the overlap ({window}) it averages {r_last} {small_l}'s ({p}). \
At matched optimizer steps (steps {st0}–{st1}) its loss averages {rs} {small_l}'s{pace}.{baseline_note}{faint_note}",
            big_l = big.label,
            small_l = small.label,
            k_s = a_times(k),
            x = count(data.end),
            l_big = num(data.num_at_end),
            l_small = num(data.den_at_end),
            r_end = ratio_words(data.ratio_at_end()),
            window = data.last_window(),
            r_last = ratio_words(data.ratio_last),
            p = format_p(&test),
            st0 = count(steps.start),
            st1 = count(steps.end),
            rs = ratio_words(steps.ratio_all),
            pace = pace_words(&steps),
        );
        out.push((
            k,
            Finding {
                id: "oversized-effective-batch",
                severity: if artifact || faint {
                    Severity::Warning
                } else {
                    Severity::Error
                },
                runs: vec![reference.label.clone(), run.label.clone()],
                subject: Some(big.label.clone()),
                summary,
                evidence,
                fix: Some(fix(small, big, k)),
            },
        ));
    }
    strongest_first(ctx, out)
}

/// "8× fewer optimizer updates (48 vs 384)": how many fewer updates the larger-batch run made.
/// When that is well beyond the batch ratio (the larger-batch run also trained fewer epochs, or
/// stopped early), the batch accounts for k× per epoch and the rest is said apart, so the
/// sentence never credits the batch with more than it explains.
fn updates_words(small: &Run, big: &Run, k: f64, fewer: f64, s_small: f64, s_big: f64) -> String {
    let made = format!("{} vs {}", count(s_big), count(s_small));
    if fewer <= k * STEP_SLACK {
        // Planned totals of a run whose logs stop short of them (still running, or killed) are
        // what it was set to make, not what it made.
        let stopped: Vec<String> = [big, small]
            .iter()
            .filter_map(|r| {
                let (last, total) = r.stopped_short()?;
                Some(format!(
                    "{} is at step {} of {}",
                    r.label,
                    num(last),
                    num(total)
                ))
            })
            .collect();
        if !stopped.is_empty() {
            return format!(
                "so is set to make {} fewer optimizer updates ({made} planned; {})",
                times(fewer),
                stopped.join(", ")
            );
        }
        return format!("so made {} fewer optimizer updates ({made})", times(fewer));
    }
    let epochs = |r: &Run| r.loss()?.last_finite()?.epoch.get().filter(|e| *e > 0.0);
    let why = match (epochs(big), epochs(small)) {
        (Some(b), Some(s)) if b < s => {
            format!("it also trained fewer epochs ({} vs {})", num(b), num(s))
        }
        _ => "it also trained less (fewer epochs, or it stopped early)".to_string(),
    };
    format!(
        "so made {} fewer optimizer updates per epoch; in all it made {} fewer ({made}), as {why}",
        times(k),
        times(fewer)
    )
}

/// What the matched-steps comparison says of the larger-batch run's progress per update, after
/// its average over the whole overlap: as fast when it is not behind at the end either; when it
/// falls behind late, that is said with the last quarter's ratio (the check needs only that the
/// step axis explain at least half the gap over the whole overlap).
fn pace_words(steps: &View) -> String {
    let late = steps.ratio_last > 1.0 + BEHIND;
    match (steps.ratio_all <= 1.0, late) {
        (true, false) => {
            ": per update it learns as fast or faster, so it is short of updates, not of data"
                .into()
        }
        (false, false) => {
            ": per update it learns nearly as fast, so it is short of updates, not of data".into()
        }
        (_, true) => format!(
            ", and {} over the last quarter ({}): per update it keeps closer pace than per sample, so it is mostly short of updates, not of data",
            ratio_words(steps.ratio_last),
            steps.last_window()
        ),
    }
}

/// The finding for a run whose effective batch is k× the one it is judged against, from the
/// configurations alone (no loss to show it): for a plan (`live` none), or for a run whose logs
/// stop at step `live.0` of `live.1`, too early for its loss to show the signature. Warning
/// severity, the same fix as after the fact.
#[allow(clippy::too_many_arguments)]
fn planned(
    reference: &Run,
    run: &Run,
    [small, big]: [&Run; 2],
    k: f64,
    fewer: f64,
    steps: &[(&Run, f64, Provenance); 2],
    batches: &str,
    live: Option<(f64, f64)>,
) -> Finding {
    let mut evidence: Vec<Evidence> = [
        config_evidence(small, Key::EffectiveBatch),
        config_evidence(big, Key::EffectiveBatch),
    ]
    .into_iter()
    .flatten()
    .collect();
    for (r, s, src) in steps {
        evidence.push(Evidence {
            name: format!("optimizer_steps[{}]", r.label),
            value: *s,
            source: src.clone(),
        });
    }
    for key in [
        Key::WorldSize,
        Key::PerDeviceBatch,
        Key::GradAccum,
        Key::NumExamples,
        Key::Epochs,
        Key::LearningRate,
    ] {
        evidence.extend(config_evidence(small, key));
        evidence.extend(config_evidence(big, key));
    }
    let world = |r: &Run| {
        r.config
            .num(Key::WorldSize)
            .map_or_else(String::new, |w| format!(" on {}", super::processes(w)))
    };
    let (opening, verb, trained) = match live {
        None => (
            "Planned: ".to_string(),
            ("would use", "make"),
            "nothing has been trained yet".to_string(),
        ),
        Some((last, total)) => (
            String::new(),
            ("is set to use", "make"),
            format!(
                "its logs stop at step {} of {}, too early for its loss to show it",
                count(last),
                count(total)
            ),
        ),
    };
    // The same data unless the step counts say otherwise (a plan stopped by max_steps).
    let samples = |r: &Run, s: f64| r.config.num(Key::EffectiveBatch).map(|b| b * s);
    let over = match (samples(big, steps[1].1), samples(small, steps[0].1)) {
        (Some(a), Some(b)) if b > 0.0 && (a / b - 1.0).abs() > 0.02 => {
            format!("over {} vs {} samples", count(a), count(b))
        }
        _ => "over the same data".into(),
    };
    let summary = format!(
        "{opening}{big_l}{w_big} {use_} {k_s} larger effective batch than {small_l}{w_small} ({batches}) and so {make} {f_s} fewer optimizer updates ({s_big} vs {s_small}) {over}. A run short of updates like this lags at matched samples while keeping pace per step (the under-updating signature); {trained}, so this is a prediction from the configuration.",
        use_ = verb.0,
        make = verb.1,
        big_l = big.label,
        small_l = small.label,
        w_big = world(big),
        w_small = world(small),
        k_s = a_times(k),
        f_s = times(fewer),
        s_big = count(steps[1].1),
        s_small = count(steps[0].1),
    );
    Finding {
        id: "oversized-effective-batch",
        severity: Severity::Warning,
        runs: vec![reference.label.clone(), run.label.clone()],
        subject: Some(big.label.clone()),
        summary,
        evidence,
        fix: Some(fix(small, big, k)),
    }
}

/// Relative effective batches of two runs whose batches are unknown, from their steps per
/// epoch (last logged loss step ÷ its epoch): on the same data, a k× larger batch makes k×
/// fewer steps per epoch. Returned as (reference, run) numbers in proportion to the batches.
pub(crate) fn inferred_batches(reference: &Run, run: &Run) -> Option<(f64, f64)> {
    let spe = |r: &Run| {
        let p = r.loss()?.last_finite()?;
        let e = p.epoch.get().filter(|e| *e > 0.0)?;
        Some(p.step / e).filter(|s| s.is_finite() && *s > 0.0)
    };
    let (a, b) = (spe(reference)?, spe(run)?);
    // Batch ∝ 1 / steps per epoch: the numbers shown are the other run's steps per epoch.
    Some((b, a))
}

/// A ratio in words beside the values it divides: "448×", "2.5×", "1.50×", "1.053×" (within a
/// tenth of 1), "0.60×", "0.0022×" (below 0.1 two significant digits, so a run far below the
/// other does not read as "0.00×"). A ratio
/// with a zero on either side (0, or infinite) says nothing the values beside it do not, and is
/// "—" either way round, so both orders of a pair print the same.
pub fn ratio_words(r: f64) -> String {
    if !r.is_finite() || r == 0.0 {
        "—".into()
    } else if r >= 10.0 {
        format!("{r:.0}×")
    } else if r >= 1.995 {
        format!("{r:.1}×")
    } else if (r - 1.0).abs() < 0.1 {
        // Within a tenth of 1, a third decimal: a gate's tolerance is printed to a tenth of a
        // percent, and 1.0527 read as "1.05×" beside "beyond the 5.0% tolerance" looks like
        // no gap at all.
        format!("{r:.3}×")
    } else if r.abs() >= 0.0995 {
        format!("{r:.2}×")
    } else {
        // 0.0022 has its first digit at the third decimal: −log10 = 2.65, two more decimals.
        let decimals = (-r.abs().log10()).floor() as usize + 2;
        format!("{r:.decimals$}×")
    }
}

/// The p-value and its logarithm as evidence: the real value, never a 0 that underflowed.
pub fn push_p(evidence: &mut Vec<Evidence>, test: &super::stats::Test, num: &str, den: &str) {
    let how = format!(
        "one-sided t-test on ln({num} ÷ {den}), n = {}, noise from successive differences",
        test.n
    );
    if test.p_value > 0.0 {
        evidence.push(derived("p_value", test.p_value, how.clone()));
    }
    if let Some(l) = test.log10_p {
        let how = if test.p_value > 0.0 {
            "log10 of p_value".to_string()
        } else {
            format!(
                "{how}; the p-value itself is below the smallest float, its log from the tail's leading term"
            )
        };
        evidence.push(derived("log10_p_value", l, how));
    }
}

/// A p-value as text: `p < 1e-6` for tiny ones, else `p = 1.23e-3`; "no noise" when the
/// test had none to estimate.
pub fn format_p(test: &super::stats::Test) -> String {
    match test.log10_p {
        None => "the gap is constant: no noise to test against".into(),
        Some(l) if l < -6.0 => "p < 1e-6".into(),
        Some(_) => format!("p = {:.2e}", test.p_value),
    }
}

fn fix(small: &Run, big: &Run, k: f64) -> Fix {
    use super::options::{Trainer, accumulation, change};
    let b_small = small.config.num(Key::EffectiveBatch);
    let world = big.config.num(Key::WorldSize);
    let pdb = big.config.num(Key::PerDeviceBatch);
    let ga = big.config.num(Key::GradAccum);
    let b_big = big.config.num(Key::EffectiveBatch);
    let trainer = Trainer::of(big);
    let whole = |x: f64| (x >= 1.0 && (x - x.round()).abs() < 1e-9).then_some(x.round());
    // Its number of updates too, unless max_steps stops the run (said after, with its change).
    let updates = if super::options::step_limit(big).is_some() {
        ""
    } else {
        " and its number of optimizer updates"
    };
    let restores = match b_small {
        Some(b) => format!(
            "restores {}'s effective batch of {}{updates}",
            small.label,
            num(b)
        ),
        None => format!(
            "restores {}'s effective batch ({} smaller){updates}",
            small.label,
            times(k)
        ),
    };
    let mut changes: Vec<ConfigChange> = Vec::new();
    // The accumulation that gives the smaller run's batch: from the factors where they are
    // known (so the product printed is that batch), else the batch ratio.
    // nanoGPT's accumulation is the total over all processes: batch × it is the whole batch.
    let total = big.config.accumulation_is_total();
    let to_ga = |g: f64| match (b_small, world, pdb) {
        (Some(b), _, Some(p)) if total => whole(b / p),
        (Some(b), Some(w), Some(p)) if trainer.batch_grows_with_world() => whole(b / (w * p)),
        _ => whole(g / k),
    };
    // Factors that contradict the stated batch (warned about when read, or a --set against
    // the log) give no option change: which of them is wrong is not known.
    let agree = big
        .config
        .batch_product()
        .zip(b_big)
        .is_none_or(|((p, _), b)| (p - b).abs() <= 0.5);
    let summary = if let Some((new_ga, mut cs)) = ga
        .filter(|_| agree)
        .zip(ga.and_then(to_ga))
        .filter(|(g, n)| g != n)
        .map(|(g, n)| (n, accumulation(big, g, n)))
        .filter(|(_, cs)| !cs.is_empty())
    {
        let product = match (total, world, pdb) {
            (true, _, Some(b)) => format!("{} × {} = {}", num(b), num(new_ga), num(b * new_ga)),
            (false, Some(w), Some(b)) => format!(
                "{} × {} × {} = {}",
                num(w),
                num(b),
                num(new_ga),
                num(w * b * new_ga)
            ),
            _ => format!("dividing the effective batch by {}", num(k)),
        };
        let also = cs.get(1).map_or_else(String::new, |g| {
            format!(
                " and {} {} → {} (DeepSpeed checks it equals micro batch × accumulation × world size)",
                g.option,
                num(g.from.unwrap_or_default()),
                num(g.to)
            )
        });
        // The first change's own values: the accumulation's, or what sets it (axolotl's
        // `batch_size`).
        let s = format!(
            "Set {} {} → {}{also} for {}: {product} {restores}.",
            cs[0].option,
            num(cs[0].from.unwrap_or_default()),
            num(cs[0].to),
            big.label
        );
        changes.append(&mut cs);
        s + &keep_samples(big, k, &mut changes)
    } else if let Some(c) = pdb
        .filter(|_| agree)
        .and_then(|b| whole(b / k))
        .and_then(|n| change(big, Key::PerDeviceBatch, pdb, n))
        // Megatron-LM: accumulation is derived from the global batch, which is the option.
        .or_else(|| b_small.and_then(|b| change(big, Key::EffectiveBatch, b_big, b)))
    {
        let s = format!(
            "Set {} {} → {} for {}: it {restores}.",
            c.option,
            num(c.from.unwrap_or_default()),
            num(c.to),
            big.label
        );
        changes.push(c);
        s + &keep_samples(big, k, &mut changes)
    } else {
        // Training longer is among the alternatives where the trainer has an epochs option;
        // said here only where it has none.
        let longer = if trainer.option(Key::Epochs).is_some() {
            String::new()
        } else {
            format!(", or train {} as long", times(k))
        };
        let disagree = if agree {
            ""
        } else {
            " Its batch facts disagree (see the warnings), so no option change is worked out from them."
        };
        let factors = if total {
            "per-device batch × gradient accumulation, the total over all processes"
        } else {
            "per-device batch × world size × gradient accumulation"
        };
        format!(
            "Reduce {}'s effective batch ({factors}) by {}{longer}.{disagree}",
            big.label,
            times(k)
        )
    };
    let mut alternatives = Vec::new();
    let (lr_small, lr_big) = (
        small.config.num(Key::LearningRate),
        big.config.num(Key::LearningRate),
    );
    let lr_option = trainer.option(Key::LearningRate).unwrap_or("learning rate");
    match (lr_small, lr_big) {
        (Some(a), Some(b)) if (a - b).abs() > 0.01 * a => alternatives.push(format!(
            "{} already changed the learning rate ({} vs {}), so no learning-rate scaling is proposed; restore the step count instead.",
            big.label,
            num(b),
            num(a)
        )),
        (_, Some(lr)) => {
            let (rule, factor) = scaling_rule(big, k, false);
            alternatives.push(format!(
                "Keep the batch and scale {lr_option} {} → {} ({rule}); this does not restore the number of updates, and needs warmup counted in samples — a weaker fix than the batch change.",
                num(lr),
                num(scaled_rate(lr, factor, false))
            ));
        }
        _ => {}
    }
    match (
        super::options::step_limit(big),
        trainer.option(Key::TotalSteps),
    ) {
        (Some(limit), Some(option)) => alternatives.push(format!(
            "Or keep the batch and train {} as many steps ({option} {} → {}), at {} the compute.",
            times(k),
            num(limit),
            num((limit * k).round()),
            times(k)
        )),
        _ => {
            if let Some(epochs) = trainer.option(Key::Epochs) {
                alternatives.push(format!(
                    "Or keep the batch and train {} as many epochs ({epochs}), at {} the compute.",
                    times(k),
                    times(k)
                ));
            }
        }
    }
    Fix {
        summary,
        changes,
        alternatives,
    }
}

/// For a run its step limit stops (`options::step_limit`), the change that keeps its samples
/// when its batch is divided by `k`: the limit × k (with the smaller batch and the same limit it
/// would stop after 1/k of the data), and the sentence that says so; nothing for a run its
/// epochs stop.
fn keep_samples(big: &Run, k: f64, changes: &mut Vec<ConfigChange>) -> String {
    let Some(limit) = super::options::step_limit(big) else {
        return String::new();
    };
    let to = (limit * k).round();
    let Some(c) = super::options::change(big, Key::TotalSteps, Some(limit), to) else {
        return String::new();
    };
    let s = format!(
        " It stops at {} {}: set that {} → {} too, or with the smaller batch it would see 1/{} of the samples.",
        c.option,
        num(limit),
        num(limit),
        num(to),
        num(k)
    );
    changes.push(c);
    s
}

/// A learning rate scaled by a rule's factor (divided, `down`), to the significant digits the
/// rate itself is printed with, and at least three: the factor is printed to three ("×√8 ≈
/// 2.83"), so 0.002 becomes 0.00566, which the two numbers beside it give, not 0.00565685; and a
/// rate known to four digits (a logged peak, 9.986e-5) becomes 0.0001412, not 0.000141222.
pub fn scaled_rate(lr: f64, factor: f64, down: bool) -> f64 {
    let x = if down { lr / factor } else { lr * factor };
    if !x.is_finite() || x == 0.0 {
        return x;
    }
    let printed = num(lr);
    let mantissa = printed.split(['e', 'E']).next().unwrap_or("");
    let digits = mantissa
        .bytes()
        .filter(u8::is_ascii_digit)
        .skip_while(|&d| d == b'0')
        .count();
    let keep = digits.clamp(3, 6);
    format!("{x:.*e}", keep - 1).parse().unwrap_or(x)
}

/// The learning-rate scaling rule for a run's optimizer: √k for Adam-family (Malladi et al. 2022,
/// "On the SDEs and Scaling Rules for Adaptive Gradient Algorithms"), k for SGD (Goyal et al.
/// 2017, "Accurate, Large Minibatch SGD"). Unknown optimizers are assumed AdamW, the HF default.
/// `down`: the rate is divided by the factor (a smaller batch), and the rule says "÷".
pub fn scaling_rule(run: &Run, k: f64, down: bool) -> (String, f64) {
    let op = if down { "÷" } else { "×" };
    match run.config.text(Key::Optimizer) {
        Some(o) if o.to_ascii_lowercase().contains("sgd") => (
            format!(
                "linear scaling rule for SGD, {op}{}, Goyal et al. 2017",
                num(k)
            ),
            k,
        ),
        Some(o) => (
            format!(
                "square-root scaling rule for Adam-family optimizers ({o}), {op}√{} ≈ {:.2}, Malladi et al. 2022",
                num(k),
                k.sqrt()
            ),
            k.sqrt(),
        ),
        None => (
            format!(
                "square-root scaling rule for Adam-family optimizers, {op}√{} ≈ {:.2}, Malladi et al. 2022; optimizer assumed AdamW, the HF default",
                num(k),
                k.sqrt()
            ),
            k.sqrt(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::{ratio_words, scaled_rate};

    #[test]
    fn a_scaled_rate_keeps_the_digits_its_rate_is_printed_with_and_three_at_least() {
        let root8 = 8f64.sqrt();
        for (lr, factor, down, scaled) in [
            (0.002, root8, false, 0.00566),
            (9.986e-5, 2f64.sqrt(), false, 0.0001412),
            (2e-5, root8, false, 5.66e-5),
            (0.002, 8.0, false, 0.016),
            (1.414e-4, 2f64.sqrt(), true, 9.998e-5),
            (0.0003, 2f64.sqrt(), true, 0.000212),
        ] {
            assert_eq!(
                scaled_rate(lr, factor, down),
                scaled,
                "{lr} {factor} {down}"
            );
        }
    }

    #[test]
    fn a_ratio_keeps_two_significant_digits_below_one_tenth_and_three_near_one() {
        for (r, words) in [
            (448.6, "449×"),
            (8.0, "8.0×"),
            (1.52, "1.52×"),
            (1.0527, "1.053×"),
            (0.96, "0.960×"),
            (1.1, "1.10×"),
            (0.6, "0.60×"),
            (0.1, "0.10×"),
            (0.0994, "0.099×"),
            (0.045, "0.045×"),
            (0.002_229_6, "0.0022×"),
            (0.000_012_34, "0.000012×"),
            (-0.002, "-0.0020×"),
            (0.0, "—"),
            (f64::INFINITY, "—"),
            (f64::NAN, "—"),
        ] {
            assert_eq!(ratio_words(r), words, "{r}");
        }
    }
}
