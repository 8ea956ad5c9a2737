//! `scaling-efficiency`: throughput per process across world sizes. For a pair with different
//! world sizes and logged `train_samples_per_second`, efficiency =
//! (samples/s ÷ world)_more ÷ (samples/s ÷ world)_fewer, always the run on more processes
//! against the run on fewer (whichever is the baseline). Info; warning below
//! [`LOW_EFFICIENCY`] (most of the added devices are waiting: communication, data loading, or
//! more processes than cores). A resumed run's logged throughput (all its samples over its last
//! session's runtime) is scaled to that session's steps first.

use super::{Context, config_evidence, derived, processes};
use crate::model::{Finding, Key, Run, Severity, format_number as num};

/// Per-process efficiency below which scaling is poor.
pub const LOW_EFFICIENCY: f64 = 0.5;

/// A run's training throughput in samples/s, and how it was corrected when it was. The Trainer
/// divides all of a run's samples by its last session's runtime: for a run resumed at step r of
/// t, the session trained (t − r) steps, so its throughput is the logged one × (t − r) ÷ t.
fn throughput(run: &Run) -> Option<(f64, Option<String>)> {
    let sps = run.config.num(Key::TrainSamplesPerSecond)?;
    let resumed = run.config.num(Key::ResumedFromStep).filter(|r| *r > 0.0);
    match (resumed, run.config.num(Key::TotalSteps)) {
        (Some(r), Some(t)) if r < t => Some((
            sps * (t - r) / t,
            Some(format!(
                "train_samples_per_second {} × (total_steps {} − resumed_from_step {}) ÷ {}: the Trainer divides all the run's samples by its last session's runtime, and that session trained from step {} on",
                num(sps),
                num(t),
                num(r),
                num(t),
                num(r)
            )),
        )),
        // Resumed at or past its end: the session trained nothing to measure.
        (Some(_), _) => None,
        _ => Some((sps, None)),
    }
}

/// What the summary says of a throughput scaled to a resumed run's last session.
fn resumed_note(run: &Run) -> String {
    match (
        run.config.num(Key::TrainSamplesPerSecond),
        run.config.num(Key::ResumedFromStep),
        run.config.num(Key::TotalSteps),
    ) {
        (Some(sps), Some(r), Some(t)) if r > 0.0 && r < t => format!(
            "; the logged {} divides all its samples by the runtime of its last session, which resumed at step {} of {}",
            num(sps),
            num(r),
            num(t)
        ),
        _ => String::new(),
    }
}

/// Checks every pair.
pub fn check(ctx: &Context<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for pair in &ctx.aligned.pairs {
        let (a, b) = ctx.pair_runs(pair);
        let get = |r: &Run| Some((throughput(r)?.0, r.config.num(Key::WorldSize)?));
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
        for r in [fewer, more] {
            if let Some((sps, Some(how))) = throughput(r) {
                evidence.push(derived(
                    format!("train_samples_per_second[{}]", r.label),
                    sps,
                    how,
                ));
            }
        }
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
                "{} on {} trains {} samples/s ({} per process{}) vs {} on {} at {} samples/s ({} per process{}): {:.0}% per-process efficiency.",
                more.label,
                processes(wm),
                num(sm),
                num(sm / wm),
                resumed_note(more),
                fewer.label,
                processes(wf),
                num(sf),
                num(sf / wf),
                resumed_note(fewer),
                100.0 * eff
            ),
            evidence,
            fix: None,
        });
    }
    out
}
