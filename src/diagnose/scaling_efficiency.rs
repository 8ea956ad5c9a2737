//! `scaling-efficiency`: throughput per process across world sizes. For a pair with different
//! world sizes and logged `train_samples_per_second`, efficiency =
//! (samples/s ÷ world)_more ÷ (samples/s ÷ world)_fewer, always the run on more processes
//! against the run on fewer (whichever is the baseline). Info; warning below
//! [`LOW_EFFICIENCY`] (most of the added devices are waiting: communication, data loading, or
//! more processes than cores).

use super::{Context, config_evidence, derived, processes};
use crate::model::{Finding, Key, Run, Severity, format_number as num};

/// Per-process efficiency below which scaling is poor.
pub const LOW_EFFICIENCY: f64 = 0.5;

/// Checks every pair.
pub fn check(ctx: &Context<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for pair in &ctx.aligned.pairs {
        let (a, b) = ctx.pair_runs(pair);
        let get = |r: &Run| {
            Some((
                r.config.num(Key::TrainSamplesPerSecond)?,
                r.config.num(Key::WorldSize)?,
            ))
        };
        let (Some(ta), Some(tb)) = (get(a), get(b)) else {
            continue;
        };
        if ta.1 == tb.1 {
            continue;
        }
        // More processes against fewer.
        let ((more, (sm, wm)), (fewer, (sf, wf))) = if tb.1 > ta.1 {
            ((b, tb), (a, ta))
        } else {
            ((a, ta), (b, tb))
        };
        let eff = (sm / wm) / (sf / wf);
        let severity = if eff < LOW_EFFICIENCY {
            Severity::Warning
        } else {
            Severity::Info
        };
        let mut evidence: Vec<_> = [
            config_evidence(fewer, Key::TrainSamplesPerSecond),
            config_evidence(more, Key::TrainSamplesPerSecond),
            config_evidence(fewer, Key::WorldSize),
            config_evidence(more, Key::WorldSize),
        ]
        .into_iter()
        .flatten()
        .collect();
        evidence.push(derived(
            "per_process_efficiency",
            eff,
            format!(
                "(samples/s ÷ world size) of {} ÷ the same of {}",
                more.label, fewer.label
            ),
        ));
        out.push(Finding {
            id: "scaling-efficiency",
            severity,
            runs: vec![a.label.clone(), b.label.clone()],
            subject: None,
            summary: format!(
                "{} on {} trains {} samples/s ({} per process) vs {} on {} at {} samples/s ({} per process): {:.0}% per-process efficiency.",
                more.label,
                processes(wm),
                num(sm),
                num(sm / wm),
                fewer.label,
                processes(wf),
                num(sf),
                num(sf / wf),
                100.0 * eff
            ),
            evidence,
            fix: None,
        });
    }
    out
}
