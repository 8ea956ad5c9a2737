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

/// A run's training throughput in samples/s, as logged or corrected for a resume.
struct Throughput {
    /// What the check uses.
    samples_per_second: f64,
    /// For a resumed run: the logged value, the step its last session started from, and the
    /// total steps.
    resumed: Option<(f64, f64, f64)>,
}

impl Throughput {
    /// The Trainer divides all of a run's samples by its last session's runtime: for a run
    /// resumed at step r of t, the session trained (t − r) steps, so its throughput is the
    /// logged one × (t − r) ÷ t. `None` for a run resumed at or past its end (its session
    /// trained nothing to measure).
    fn of(run: &Run) -> Option<Throughput> {
        let sps = run.config.num(Key::TrainSamplesPerSecond)?;
        let resumed = run.config.num(Key::ResumedFromStep).filter(|r| *r > 0.0);
        match (resumed, run.config.num(Key::TotalSteps)) {
            (Some(r), Some(t)) if r < t => Some(Throughput {
                samples_per_second: sps * (t - r) / t,
                resumed: Some((sps, r, t)),
            }),
            (Some(_), _) => None,
            _ => Some(Throughput {
                samples_per_second: sps,
                resumed: None,
            }),
        }
    }

    /// How a corrected value was worked out, for its evidence.
    fn derivation(&self) -> Option<String> {
        let (sps, r, t) = self.resumed?;
        Some(format!(
            "train_samples_per_second {} × (total_steps {} − resumed_from_step {}) ÷ {}: the Trainer divides all the run's samples by its last session's runtime, and that session trained from step {} on",
            num(sps),
            num(t),
            num(r),
            num(t),
            num(r)
        ))
    }

    /// What the summary says of a corrected value.
    fn note(&self) -> String {
        self.resumed.map_or_else(String::new, |(sps, r, t)| {
            format!(
                "; the logged {} divides all its samples by the runtime of its last session, which resumed at step {} of {}",
                num(sps),
                num(r),
                num(t)
            )
        })
    }
}

/// Checks every pair.
pub fn check(ctx: &Context<'_>, earlier: &[Finding]) -> Vec<Finding> {
    let mut out = Vec::new();
    for pair in &ctx.aligned.pairs {
        let (a, b) = ctx.pair_runs(pair);
        // Two jobs (other data, another model) run at their own speeds, whatever the world size.
        if super::not_comparable::other_task(a, b, earlier) {
            continue;
        }
        let get = |r: &Run| {
            let t = Throughput::of(r)?;
            Some((t.samples_per_second, r.config.num(Key::WorldSize)?, t))
        };
        let (Some(ta), Some(tb)) = (get(a), get(b)) else {
            continue;
        };
        if ta.1 == tb.1 {
            continue;
        }
        // More processes against fewer.
        let ((more, (sm, wm, tm)), (fewer, (sf, wf, tf))) = if tb.1 > ta.1 {
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
        for (r, t) in [(fewer, &tf), (more, &tm)] {
            if let Some(how) = t.derivation() {
                evidence.push(derived(
                    format!("train_samples_per_second[{}]", r.label),
                    t.samples_per_second,
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
                tm.note(),
                fewer.label,
                processes(wf),
                num(sf),
                num(sf / wf),
                tf.note(),
                100.0 * eff
            ),
            evidence,
            fix: None,
        });
    }
    out
}
