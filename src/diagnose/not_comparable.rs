//! `not-comparable`: the runs differ in ways that make their curves not comparable as they are:
//! a different number of training examples (> [`REL_DIFF`] apart) or of epochs (not when a step
//! limit stops both: their epochs then follow from the limit and the batch), or a starting
//! loss more than [`START_RATIO`]× apart (unless a `loss-logging-artifact` explains it: then the
//! logged loss itself differs). Severity warning, per pair; the summary lists what differs.

use super::{Context, config_evidence, logged, raised_for};
use crate::model::{Finding, Key, Severity, format_count as count, format_number as num};

/// Relative difference beyond which example counts or epochs differ.
const REL_DIFF: f64 = 0.01;
/// Starting losses further apart than this ratio are not the same task/model/loss.
const START_RATIO: f64 = 2.0;

/// Checks every pair.
pub fn check(ctx: &Context<'_>, earlier: &[Finding]) -> Vec<Finding> {
    let mut out = Vec::new();
    for pair in &ctx.aligned.pairs {
        let (a, b) = ctx.pair_runs(pair);
        let mut what = Vec::new();
        let mut evidence = Vec::new();
        // Runs a step limit stops (a max_steps batch sweep) differ in epochs by design: their
        // length is the limit, and they are compared at matched samples anyway.
        let limited =
            super::options::step_limit(a).is_some() && super::options::step_limit(b).is_some();
        for (key, words) in [
            (Key::NumExamples, "training examples"),
            (Key::Epochs, "epochs"),
        ] {
            if key == Key::Epochs && limited {
                continue;
            }
            if let (Some(x), Some(y)) = (a.config.num(key), b.config.num(key)) {
                if (x - y).abs() > REL_DIFF * x.max(y) {
                    // A value worked out from others (not logged) is shown as the estimate it is.
                    let shown = |r: &crate::model::Run, v: f64| {
                        let derived = r.config.get(key).is_some_and(|s| {
                            matches!(s.source, crate::model::Provenance::Derived(_))
                        });
                        // An estimate as precise as it is: whole examples, epochs to three
                        // significant digits ("≈1 vs 3", not "≈0.999541").
                        match (derived, key) {
                            (true, Key::Epochs) => format!("≈{}", count(super::round_sig(v, 3))),
                            (true, _) => format!("≈{}", count(v.round())),
                            (false, _) => count(v),
                        }
                    };
                    what.push(format!("{words}: {} vs {}", shown(a, x), shown(b, y)));
                    evidence.extend(config_evidence(a, key));
                    evidence.extend(config_evidence(b, key));
                }
            }
        }
        let artifact = raised_for(earlier, "loss-logging-artifact", a, b);
        let first = |r: &crate::model::Run| r.loss()?.first_positive();
        if let (Some(pa), Some(pb), false) = (first(a), first(b), artifact) {
            let r = pb.value / pa.value;
            if r.max(1.0 / r) > START_RATIO {
                what.push(format!(
                    "first logged loss: {} vs {}",
                    num(pa.value),
                    num(pb.value)
                ));
                evidence.push(logged(a, "loss", pa));
                evidence.push(logged(b, "loss", pb));
            }
        }
        if what.is_empty() {
            continue;
        }
        out.push(Finding {
            id: "not-comparable",
            severity: Severity::Warning,
            runs: vec![a.label.clone(), b.label.clone()],
            subject: None,
            summary: format!("{} and {} differ in more than the batch: {}. Differences in their curves may come from that.", a.label, b.label, what.join("; ")),
            evidence,
            fix: None,
        });
    }
    out
}
