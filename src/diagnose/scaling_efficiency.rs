//! `scaling-efficiency`: throughput per device across world sizes. For a pair with different
//! world sizes and logged `train_samples_per_second`, efficiency =
//! (samples/s ÷ world)_run ÷ (samples/s ÷ world)_reference. Info; warning below
//! [`LOW_EFFICIENCY`] (most of the added devices are waiting: communication, data loading, or
//! more processes than cores).

use super::{Context, config_evidence, derived};
use crate::model::{Finding, Key, Severity, format_number as num};

/// Per-device efficiency below which scaling is poor.
pub const LOW_EFFICIENCY: f64 = 0.5;

/// Checks every pair.
pub fn check(ctx: &Context<'_>, _: &[Finding]) -> Vec<Finding> {
    let mut out = Vec::new();
    for pair in &ctx.aligned.pairs {
        let (a, b) = ctx.pair_runs(pair);
        let get = |r: &crate::model::Run| {
            Some((
                r.config.num(Key::TrainSamplesPerSecond)?,
                r.config.num(Key::WorldSize)?,
            ))
        };
        let (Some((sa, wa)), Some((sb, wb))) = (get(a), get(b)) else {
            continue;
        };
        if wa == wb {
            continue;
        }
        let eff = (sb / wb) / (sa / wa);
        let severity = if eff < LOW_EFFICIENCY {
            Severity::Warning
        } else {
            Severity::Info
        };
        let mut evidence: Vec<_> = [
            config_evidence(a, Key::TrainSamplesPerSecond),
            config_evidence(b, Key::TrainSamplesPerSecond),
            config_evidence(a, Key::WorldSize),
            config_evidence(b, Key::WorldSize),
        ]
        .into_iter()
        .flatten()
        .collect();
        evidence.push(derived(
            "per_device_efficiency",
            eff,
            "(samples/s ÷ world size) of the run ÷ the same of the reference",
        ));
        out.push(Finding {
            id: "scaling-efficiency",
            severity,
            runs: vec![a.label.clone(), b.label.clone()],
            summary: format!(
                "{} on {} processes trains {} samples/s ({} per process) vs {} on {}: {} per process, {:.0}% per-process efficiency.",
                b.label,
                num(wb),
                num(sb),
                num(sb / wb),
                a.label,
                num(wa),
                num(sa / wa),
                100.0 * eff
            ),
            evidence,
            fix: None,
        });
    }
    out
}
