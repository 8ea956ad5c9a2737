//! `not-comparable`: the runs differ in ways that make their curves not comparable as they are:
//! a different number of training examples (> [`REL_DIFF`] apart) or of epochs (not when a step
//! limit stops both: their epochs then follow from the limit and the batch), or a starting
//! loss more than [`START_RATIO`]× apart (unless a `loss-logging-artifact` explains it: then the
//! logged loss itself differs). Severity warning, per pair; the summary lists what differs.
//! An example count derived as batch × steps per epoch differs only beyond that batch. Other
//! examples or starting losses make the pair two jobs ([`other_task`]), which the checks of what
//! a batch or a world size did pass over.

use super::{Context, config_evidence, logged, raised_for};
use crate::model::{
    Evidence, Finding, Key, Run, Severity, format_count as count, format_number as num,
};

/// Relative difference beyond which example counts or epochs differ.
const REL_DIFF: f64 = 0.01;
/// Starting losses further apart than this ratio are not the same task/model/loss.
const START_RATIO: f64 = 2.0;

/// One way two runs differ beyond the batch, with its evidence. `task`: a different task or
/// model (training examples, starting loss), not only a different length (epochs).
struct Difference {
    what: String,
    evidence: Vec<Evidence>,
    task: bool,
}

/// The difference in length between runs one of which (`a` when `a_limited`) its step limit
/// `limit` stopped: the epoch it reached against the other's epochs, when they differ.
fn step_limited(a: &Run, b: &Run, a_limited: bool, limit: f64) -> Option<Difference> {
    let (limited, other) = if a_limited { (a, b) } else { (b, a) };
    let reached = limited.loss()?.last_finite()?.epoch.get()?;
    let epochs = other.config.num(Key::Epochs)?;
    if (reached - epochs).abs() <= REL_DIFF * reached.max(epochs) {
        return None;
    }
    let stopped = format!(
        "{} stopped at its step limit ({} steps, epoch {})",
        limited.label,
        count(limit),
        count(super::round_sig(reached, 3))
    );
    let trained = format!("{} trained {} epochs", other.label, count(epochs));
    let (first, second) = if a_limited {
        (stopped, trained)
    } else {
        (trained, stopped)
    };
    Some(Difference {
        what: format!("training length: {first}, {second}"),
        evidence: config_evidence(limited, Key::TotalSteps)
            .into_iter()
            .chain(config_evidence(other, Key::Epochs))
            .collect(),
        task: false,
    })
}

/// How `a` and `b` differ beyond the batch, in the order the summary says it. `artifact`: a
/// `loss-logging-artifact` explains a gap between their starting losses.
fn differences(a: &Run, b: &Run, artifact: bool) -> Vec<Difference> {
    let mut out = Vec::new();
    // Runs a step limit stops (a max_steps batch sweep) differ in epochs by design: their
    // length is the limit, and they are compared at matched samples anyway.
    let limits = (super::options::step_limit(a), super::options::step_limit(b));
    for (key, words) in [
        (Key::NumExamples, "training examples"),
        (Key::Epochs, "epochs"),
    ] {
        if key == Key::Epochs {
            match limits {
                (Some(_), Some(_)) => continue,
                // One run stopped at its step limit: its planned epochs are the steps rounded
                // up to whole epochs, not how far it went; the difference is the limit.
                (Some(l), None) | (None, Some(l)) => {
                    out.extend(step_limited(a, b, limits.0.is_some(), l));
                    continue;
                }
                (None, None) => {}
            }
        }
        if let (Some(x), Some(y)) = (a.config.num(key), b.config.num(key)) {
            let derived = |r: &Run| {
                r.config
                    .get(key)
                    .is_some_and(|s| matches!(s.source, crate::model::Provenance::Derived(_)))
            };
            // An example count worked out as batch × steps per epoch is known to a batch (the
            // last one may be partial, and steps per epoch to a step): within that, the runs may
            // well hold the same examples.
            let slack = |r: &Run| match (key, derived(r)) {
                (Key::NumExamples, true) => r.config.num(Key::EffectiveBatch).unwrap_or(0.0),
                _ => 0.0,
            };
            let allowed = (REL_DIFF * x.max(y)).max(slack(a)).max(slack(b));
            if (x - y).abs() > allowed {
                // A value worked out from others (not logged) is shown as the estimate it is.
                let shown = |r: &Run, v: f64| {
                    let derived = derived(r);
                    // An estimate as precise as it is: whole examples, epochs to three
                    // significant digits ("≈1 vs 3", not "≈0.999541").
                    match (derived, key) {
                        (true, Key::Epochs) => format!("≈{}", count(super::round_sig(v, 3))),
                        (true, _) => format!("≈{}", count(v.round())),
                        (false, _) => count(v),
                    }
                };
                out.push(Difference {
                    what: format!("{words}: {} vs {}", shown(a, x), shown(b, y)),
                    evidence: config_evidence(a, key)
                        .into_iter()
                        .chain(config_evidence(b, key))
                        .collect(),
                    task: key == Key::NumExamples,
                });
            }
        }
    }
    let first = |r: &Run| r.loss()?.first_positive();
    if let (Some(pa), Some(pb), false) = (first(a), first(b), artifact) {
        let r = pb.value / pa.value;
        if r.max(1.0 / r) > START_RATIO {
            out.push(Difference {
                what: format!("first logged loss: {} vs {}", num(pa.value), num(pb.value)),
                evidence: vec![logged(a, "loss", pa), logged(b, "loss", pb)],
                task: true,
            });
        }
    }
    out
}

/// Whether `a` and `b` are evidently different jobs: other training examples, or starting
/// losses more than [`START_RATIO`]× apart that no logging artefact explains (what
/// `not-comparable` says of them). Their speeds, or what a larger batch bought one over the
/// other, are then not the batch's doing: the checks that compare those pass such a pair over.
pub fn other_task(a: &Run, b: &Run, earlier: &[Finding]) -> bool {
    let artifact = raised_for(earlier, "loss-logging-artifact", a, b);
    differences(a, b, artifact).iter().any(|d| d.task)
}

/// Checks every pair.
pub fn check(ctx: &Context<'_>, earlier: &[Finding]) -> Vec<Finding> {
    let mut out = Vec::new();
    for pair in &ctx.aligned.pairs {
        let (a, b) = ctx.pair_runs(pair);
        let artifact = raised_for(earlier, "loss-logging-artifact", a, b);
        let found = differences(a, b, artifact);
        if found.is_empty() {
            continue;
        }
        let what: Vec<&str> = found.iter().map(|d| d.what.as_str()).collect();
        out.push(Finding {
            id: "not-comparable",
            severity: Severity::Warning,
            runs: vec![a.label.clone(), b.label.clone()],
            subject: None,
            summary: format!("{} and {} differ in more than the batch: {}. Differences in their curves may come from that.", a.label, b.label, what.join("; ")),
            evidence: found.into_iter().flat_map(|d| d.evidence).collect(),
            fix: None,
        });
    }
    out
}
