//! `too-few-optimizer-steps`: a run with fewer than [`MIN_STEPS`] optimizer updates rarely
//! converges (each update moves the weights once, whatever the batch), and a warmup that takes
//! more than [`MAX_WARMUP_SHARE`] of the updates leaves little at full learning rate. HF
//! schedules count steps, so a run with a k× larger batch also spends k× more samples in warmup.
//! Uses the configured total (a crashed run's last logged step says nothing about its plan).
//! Severity warning, per run.

use super::{Context, config_evidence, planned_steps};
use crate::model::{ConfigChange, Evidence, Finding, Fix, Key, Severity, format_number as num};

/// Fewer updates than this are too few to converge a fine-tune.
pub const MIN_STEPS: f64 = 100.0;
/// The largest share of updates warmup should take.
pub const MAX_WARMUP_SHARE: f64 = 0.2;

/// Checks every run.
pub fn check(ctx: &Context<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for run in ctx.runs {
        let Some((steps, src)) = planned_steps(run) else {
            continue;
        };
        let step_ev = Evidence {
            name: format!("optimizer_steps[{}]", run.label),
            value: steps,
            source: src,
        };
        if steps < MIN_STEPS {
            let mut evidence = vec![step_ev.clone()];
            evidence.extend(config_evidence(run, Key::EffectiveBatch));
            evidence.extend(config_evidence(run, Key::GradAccum));
            // A step limit ended the run: a smaller batch or more epochs change nothing, only
            // the limit does.
            let limit = super::options::step_limit(run);
            let changes: Vec<ConfigChange> = match limit {
                Some(l) => super::options::change(run, Key::TotalSteps, Some(l), MIN_STEPS)
                    .into_iter()
                    .collect(),
                None => run
                    .config
                    .num(Key::GradAccum)
                    .filter(|&g| g > 1.0)
                    .map(|g| {
                        let to = (g * steps / MIN_STEPS).floor().max(1.0);
                        super::options::accumulation(run, g, to)
                    })
                    .unwrap_or_default(),
            };
            let stopped = run.stopped_short();
            out.push(Finding {
                id: "too-few-optimizer-steps",
                severity: Severity::Warning,
                runs: vec![run.label.clone()],
                subject: Some(run.label.clone()),
                summary: format!(
                    "{}{}{} only {} optimizer updates{}; fine-tuning usually needs at least {}.",
                    if run.planned { "Planned: " } else { "" },
                    run.label,
                    match (run.planned, stopped) {
                        (true, _) => " would make",
                        (false, Some(_)) => " is set to make",
                        (false, None) => " made",
                    },
                    num(steps),
                    stopped.map_or_else(String::new, |(last, _)| format!(
                        " (its logs stop at step {})",
                        num(last)
                    )),
                    num(MIN_STEPS)
                ),
                evidence,
                fix: Some(Fix {
                    // A smaller batch names the accumulation to take back when there is one;
                    // a batch of 1 leaves more epochs (or steps) only.
                    summary: if let (Some(l), Some(c)) = (limit, changes.first()) {
                        format!(
                            "Make more updates: the run stopped at its step limit ({} {}), which a smaller batch or more epochs do not move; raise it.",
                            c.option,
                            num(l)
                        )
                    } else if !changes.is_empty() {
                        // Named as the change names it (axolotl's `batch_size` may set it).
                        format!(
                            "Make more updates: a smaller effective batch ({}) or more epochs.",
                            changes[0].option
                        )
                    } else if run.config.num(Key::EffectiveBatch).is_some_and(|b| b <= 1.0) {
                        "Make more updates: train more epochs (or steps); the effective batch is already 1.".to_string()
                    } else {
                        "Make more updates: a smaller effective batch or more epochs.".to_string()
                    },
                    changes,
                    alternatives: vec![],
                }),
            });
        }
        let warmup = run
            .config
            .num(Key::WarmupSteps)
            .map(|w| (w, Key::WarmupSteps))
            .or_else(|| {
                run.config
                    .num(Key::WarmupRatio)
                    .map(|r| (r * steps, Key::WarmupRatio))
            });
        if let Some((w, key)) = warmup {
            if w / steps > MAX_WARMUP_SHARE {
                let mut evidence = vec![step_ev];
                evidence.extend(config_evidence(run, key));
                out.push(Finding {
                    id: "too-few-optimizer-steps",
                    severity: Severity::Warning,
                    runs: vec![run.label.clone()],
                    subject: Some(run.label.clone()),
                    summary: format!(
                        "{}{}'s warmup {} {} of its {} updates ({:.0}%).",
                        if run.planned { "Planned: " } else { "" },
                        run.label,
                        if run.planned { "would take" } else { "takes" },
                        num(w.round()),
                        num(steps),
                        100.0 * w / steps
                    ),
                    evidence,
                    fix: Some(Fix {
                        summary: format!(
                            "Shorten warmup to at most {:.0}% of the updates.",
                            100.0 * MAX_WARMUP_SHARE / 2.0
                        ),
                        changes: super::options::change(
                            run,
                            Key::WarmupRatio,
                            run.config.num(Key::WarmupRatio),
                            MAX_WARMUP_SHARE / 2.0,
                        )
                        .into_iter()
                        .collect(),
                        alternatives: vec![],
                    }),
                });
            }
        }
    }
    out
}
