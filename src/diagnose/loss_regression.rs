//! `loss-regression`: for the nightly gate. A run is worse than the baseline at matched samples
//! when, over the last quarter of the overlap, its loss is higher by more than `--tolerance`
//! (relative, geometric mean of the ratio; default 5%) and by more than [`ABS_FLOOR`] in absolute
//! terms, and a one-sided t-test on log-ratios (noise from successive differences, see `stats`)
//! gives p < [`ALPHA`]. Severity error.

use super::oversized_batch::format_p;
use super::stats;
use super::{Context, derived, raised_for};
use crate::model::{Finding, Severity, format_number as num};

/// Absolute loss differences below this are noise for LM losses (4-decimal logging, bf16
/// quantisation of ~0.004 at loss 1) and never a regression.
pub const ABS_FLOOR: f64 = 0.01;
/// Significance level.
pub const ALPHA: f64 = 0.01;

/// Checks every pair.
pub fn check(ctx: &Context<'_>, earlier: &[Finding]) -> Vec<Finding> {
    let mut out = Vec::new();
    let axis = ctx.aligned.data_axis.label();
    for pair in &ctx.aligned.pairs {
        let (reference, run) = ctx.pair_runs(pair);
        let Some(data) = &pair.by_data else { continue };
        if !(data.ratio_last > 1.0 + ctx.opts.tolerance && data.gap_last > ABS_FLOOR) {
            continue;
        }
        let Some(test) = stats::worse(&data.paired) else {
            continue;
        };
        if test.p_value >= ALPHA {
            continue;
        }
        let cause = if raised_for(earlier, "oversized-effective-batch", reference, run) {
            " The oversized-effective-batch finding above is the likely cause."
        } else {
            ""
        };
        out.push(Finding {
            id: "loss-regression",
            severity: Severity::Error,
            runs: vec![reference.label.clone(), run.label.clone()],
            summary: format!(
                "{} is worse than the baseline {} at matched {axis}: {} higher loss over the last quarter of the overlap (ending at {} {axis}: {} vs {}), beyond the {:.1}% tolerance ({}).{cause}",
                run.label,
                reference.label,
                relative_increase(data.ratio_last),
                num(data.end),
                num(data.run_at_end),
                num(data.reference_at_end),
                100.0 * ctx.opts.tolerance,
                format_p(test.p_value)
            ),
            evidence: vec![
                derived("loss_ratio_last_quarter", data.ratio_last, "geometric mean of run ÷ baseline over the last quarter of the overlap"),
                derived("loss_gap_last_quarter", data.gap_last, "mean of run − baseline over the last quarter of the overlap"),
                derived("p_value", test.p_value, format!("one-sided t-test on ln(run ÷ baseline), n = {}, noise from successive differences", test.n)),
                derived("tolerance", ctx.opts.tolerance, "--tolerance"),
            ],
            fix: None,
        });
    }
    out
}

/// "12.3%" for small increases, "3.1×" for large ones.
fn relative_increase(ratio: f64) -> String {
    if ratio < 2.0 {
        format!("{:.1}%", 100.0 * (ratio - 1.0))
    } else {
        format!("{ratio:.1}×")
    }
}
