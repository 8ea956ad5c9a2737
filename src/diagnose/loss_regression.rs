//! `loss-regression`: for the nightly gate, the one check the baseline orients. A run is worse
//! than the baseline at matched samples when, over the last quarter of the overlap, its loss is
//! higher by more than `--tolerance` (relative, geometric mean of the ratio; default 5%) and by
//! more than [`ABS_FLOOR`] in absolute terms, and a one-sided t-test on log-ratios (noise from
//! successive differences, see `stats`) gives p < [`ALPHA`]. Severity error.
//!
//! `lower-sample-efficiency` instead (warning) when the run goes on past the baseline's last
//! sample (by more than [`FURTHER`]) and ends at or below the baseline's final loss: it is worse
//! per sample, not worse — a run with the same updates but more epochs.

use super::oversized_batch::{format_p, push_p, ratio_words};
use super::{Context, View, derived};
use crate::model::{Finding, Run, Severity, format_count as count, format_number as num};

/// Absolute loss differences below this are noise for LM losses (4-decimal logging, bf16
/// quantisation of ~0.004 at loss 1) and never a regression.
pub const ABS_FLOOR: f64 = 0.01;
/// Significance level.
pub const ALPHA: f64 = 0.01;
/// How much further than the baseline (in samples) a run must go to count as "going on".
const FURTHER: f64 = 1.01;

/// The last finite training loss of a run, with its position on the data axis.
fn final_loss(run: &Run, axis: crate::align::Axis) -> Option<(f64, f64)> {
    let p = run.loss()?.last_finite()?;
    Some((p.value, axis.of(p)?))
}

/// The gate's test, for a pair read with the run to judge as the numerator: its loss over the
/// last quarter of the overlap is higher by more than `tolerance` and [`ABS_FLOOR`], and the
/// test says so at [`ALPHA`]. The verdict reads it the other way round too (a worse baseline).
pub fn worse(view: &View, tolerance: f64) -> Option<crate::diagnose::stats::Test> {
    if !(view.ratio_last > 1.0 + tolerance && view.gap_last > ABS_FLOOR) {
        return None;
    }
    view.test.filter(|t| t.p_value < ALPHA)
}

/// Checks every pair against the baseline.
pub fn check(ctx: &Context<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    let data_axis = ctx.aligned.data_axis;
    let axis = data_axis.amount();
    for pair in &ctx.aligned.pairs {
        let (reference, run) = ctx.pair_runs(pair);
        let Some(o) = &pair.by_data else { continue };
        let data = View::of(o, true);
        let Some(test) = worse(&data, ctx.opts.tolerance) else {
            // The baseline worse per sample, going on further to end lower: the same finding,
            // about the baseline (the gate's direction aside, one answer in either order).
            let back = View::of(o, false);
            if let Some(test) = worse(&back, ctx.opts.tolerance) {
                out.extend(less_per_sample(ctx, reference, run, &back, &test, true));
            }
            continue;
        };
        if let Some(f) = less_per_sample(ctx, run, reference, &data, &test, false) {
            out.push(f);
            continue;
        }
        let (at_end, evidence) = behind(
            ctx,
            &data,
            &test,
            (&run.label, &reference.label),
            ("run", "baseline"),
            "the baseline's",
        );
        out.push(Finding {
            id: "loss-regression",
            severity: Severity::Error,
            runs: vec![reference.label.clone(), run.label.clone()],
            subject: Some(run.label.clone()),
            summary: format!(
                "{} is worse than the baseline {} at matched {axis}. At {at_end}, beyond the {:.1}% tolerance ({}).",
                run.label,
                reference.label,
                100.0 * ctx.opts.tolerance,
                format_p(&test)
            ),
            evidence,
            fix: None,
        });
    }
    out
}

/// How far a run is behind another at matched data, for a finding's sentence and evidence: the
/// words after "at" ("6,144 samples seen: 1.8 vs 0.52 (3.5×); over the last quarter of the
/// overlap (…) its loss averages 3.6× `own`"), and the evidence (both ratios, the gap, the
/// tolerance, the test). `view` is `labels.0` over `labels.1`; `names` are what the formulas
/// call them ("run", "baseline").
fn behind(
    ctx: &Context<'_>,
    view: &View,
    test: &crate::diagnose::stats::Test,
    labels: (&str, &str),
    names: (&str, &str),
    own: &str,
) -> (String, Vec<crate::model::Evidence>) {
    let axis = ctx.aligned.data_axis.amount();
    let words = format!(
        "{} {axis}: {} vs {} ({}); over the last quarter of the overlap ({}) its loss averages {} {own}",
        count(view.end),
        num(view.num_at_end),
        num(view.den_at_end),
        ratio_words(view.ratio_at_end()),
        view.last_window(),
        ratio_words(view.ratio_last)
    );
    let mut evidence = vec![
        derived(
            "loss_ratio_at_end",
            view.ratio_at_end(),
            format!(
                "{} ÷ {} at {} {axis}",
                num(view.num_at_end),
                num(view.den_at_end),
                count(view.end)
            ),
        ),
        derived(
            "loss_ratio_last_quarter",
            view.ratio_last,
            format!(
                "geometric mean of {} ÷ {} over the last quarter of the overlap ({})",
                names.0,
                names.1,
                view.last_window()
            ),
        ),
        derived(
            "loss_gap_last_quarter",
            view.gap_last,
            format!(
                "mean of {} − {} over the last quarter of the overlap",
                names.0, names.1
            ),
        ),
        derived("tolerance", ctx.opts.tolerance, "--tolerance"),
    ];
    push_p(&mut evidence, test, labels.0, labels.1);
    (words, evidence)
}

/// `lower-sample-efficiency` for `slow`, worse than `fast` at matched data over the last
/// quarter (`view`, slow over fast; `test`), when it goes on past `fast`'s last point (by more
/// than [`FURTHER`]) and ends at or below `fast`'s final loss. `baseline`: `slow` is the
/// baseline.
fn less_per_sample(
    ctx: &Context<'_>,
    slow: &Run,
    fast: &Run,
    view: &View,
    test: &crate::diagnose::stats::Test,
    baseline: bool,
) -> Option<Finding> {
    let data_axis = ctx.aligned.data_axis;
    let axis = data_axis.amount();
    let (l_slow, x_slow) = final_loss(slow, data_axis)?;
    let (l_fast, x_fast) = final_loss(fast, data_axis)?;
    if !(x_slow > x_fast * FURTHER && l_slow <= l_fast) {
        return None;
    }
    let (slow_name, fast_name, fast_own) = if baseline {
        (
            format!("The baseline {}", slow.label),
            fast.label.clone(),
            format!("{}'s", fast.label),
        )
    } else {
        (
            slow.label.clone(),
            format!("the baseline {}", fast.label),
            "the baseline's".to_string(),
        )
    };
    let (at_end, evidence) = behind(
        ctx,
        view,
        test,
        (&slow.label, &fast.label),
        (&slow.label, &fast.label),
        &fast_own,
    );
    Some(Finding {
        id: "lower-sample-efficiency",
        severity: Severity::Warning,
        // The pair as its other findings list it: the baseline first.
        runs: if baseline {
            vec![slow.label.clone(), fast.label.clone()]
        } else {
            vec![fast.label.clone(), slow.label.clone()]
        },
        subject: Some(slow.label.clone()),
        summary: format!(
            "{slow_name} learns less per {} than {fast_name}: at {at_end} ({}). It goes on to {} {axis} ({} {fast_own} {}) and ends lower: {} vs {}.",
            data_axis.one(),
            format_p(test),
            count(x_slow),
            ratio_words(x_slow / x_fast),
            count(x_fast),
            num(l_slow),
            num(l_fast)
        ),
        evidence,
        fix: None,
    })
}
