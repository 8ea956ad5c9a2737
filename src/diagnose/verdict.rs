//! The verdict: one answer for the whole comparison, built from the findings once and rendered
//! by every output (terminal, HTML, Markdown, JSON).
//!
//! - **One root cause per run that needs a change.** Among the findings whose subject is a run
//!   (warning or worse), the first in [`ROOT_ORDER`] is its cause; the findings it explains for
//!   that run (see [`explained_by`]) are folded under it and lose their own fixes, so the run
//!   gets one set of changes. A run worse than the baseline with no cause found gets its
//!   `loss-regression` as the entry, with no change.
//! - **No option twice.** Another finding of the run with the cause's id (the same cause seen
//!   against another run) is folded under it; any other finding of the run whose fix proposes
//!   another value for an option the cause changes loses that fix.
//! - **Matches.** A run with no finding of warning or worse whose loss at matched samples is
//!   within `--tolerance` of the baseline's over the last quarter of the overlap is said to match.
//! - **Better than the baseline.** A run whose baseline is worse than it by the regression
//!   gate's test (the gate read the other way round) is said to be better, with the cause of
//!   the baseline's that explains the gap when there is one ([`explains_gap`]; a batch cause
//!   names both runs itself and gets no note): the baseline orients only the gate, so the verdict still
//!   says which run did worse whichever is given first. Information, not a failure.
//! - **Unchecked.** When the batch check cannot run because an effective batch is unknown and
//!   the runs' steps per epoch cannot stand in for it (no epochs logged), it is listed with the
//!   run and the `--set` that supplies the fact.

use super::{Context, View};
use crate::model::{
    Cause, Finding, Key, Provenance, Run, Severity, Unchecked, Verdict, format_count, format_number,
};

/// Root causes in order of precedence: the first a run has is its cause.
const ROOT_ORDER: [&str; 10] = [
    "oversized-effective-batch",
    "nonfinite-loss",
    "collapsed-loss",
    "divergence",
    "lr-not-scaled",
    "too-few-optimizer-steps",
    "overfitting",
    "loss-spike",
    "nonfinite-grad-norm",
    "lower-sample-efficiency",
];

/// The causes that compare the batches of two runs: one of the baseline's explains its gap to
/// a run it names, and says so itself.
const BATCH_CAUSES: [&str; 3] = [
    "oversized-effective-batch",
    "lr-not-scaled",
    "lower-sample-efficiency",
];

/// The findings a root cause explains when they are about the same run.
fn explained_by(root: &str) -> &'static [&'static str] {
    match root {
        "oversized-effective-batch" => &[
            "lr-not-scaled",
            "too-few-optimizer-steps",
            "loss-regression",
            "lower-sample-efficiency",
        ],
        "nonfinite-loss" => &[
            "nonfinite-grad-norm",
            "loss-regression",
            "lower-sample-efficiency",
        ],
        _ => &["loss-regression", "lower-sample-efficiency"],
    }
}

/// The sentence for the runs a baseline is clearly worse than: the one run and the numbers, or
/// the runs and the range of their ratios.
fn better(
    ctx: &Context<'_>,
    ahead: &[(&Run, &Run, View, super::stats::Test)],
    cause: Option<&str>,
) -> Option<(Vec<String>, String)> {
    use super::oversized_batch::{format_p, ratio_words};
    let (reference, run, view, test) = ahead.first()?;
    let axis = ctx.aligned.data_axis.amount();
    // Why, when the baseline's own cause explains it (said above, as the baseline's entry).
    let why = cause.map_or_else(
        || "No check found a cause for the gap".to_string(),
        |id| format!("The baseline's {id} above explains the gap"),
    );
    let runs: Vec<String> = ahead.iter().map(|(_, r, _, _)| r.label.clone()).collect();
    let sentence = if let [_] = ahead {
        format!(
            "{} is better than the baseline {} at matched {axis}: over the last quarter of the overlap ({}) the baseline's loss averages {} {}'s ({}). {why}; give --baseline {} to gate {} against it.",
            run.label,
            reference.label,
            view.last_window(),
            ratio_words(view.ratio_last),
            run.label,
            format_p(test),
            run.label,
            reference.label
        )
    } else {
        let ratios = ahead.iter().map(|(_, _, v, _)| v.ratio_last);
        let (lo, hi) = ratios.fold((f64::INFINITY, 0.0f64), |(lo, hi), r| {
            (lo.min(r), hi.max(r))
        });
        let worst = ahead
            .iter()
            .map(|(_, _, _, t)| t)
            .max_by(|a, b| a.p_value.total_cmp(&b.p_value))
            .map(format_p)
            .unwrap_or_default();
        format!(
            "The baseline {} is worse than {} runs at matched {axis}: over the last quarter of each overlap its loss averages {} to {} theirs (each {worst}): {}. {why}; give --baseline with one of them to gate {} against it.",
            reference.label,
            ahead.len(),
            ratio_words(lo),
            ratio_words(hi),
            runs.join(", "),
            reference.label
        )
    };
    Some((runs, sentence))
}

/// Whether a run's cause `id` explains its loss being worse than `other`'s: any cause does, but
/// too few updates only against a run that made more of them (two runs of 60 updates each
/// differ for another reason). A count not known is taken to explain it.
fn explains_gap(ctx: &Context<'_>, id: &str, subject: &str, other: &str) -> bool {
    if id != "too-few-optimizer-steps" {
        return true;
    }
    let updates = |label: &str| {
        ctx.runs
            .iter()
            .find(|r| r.label == label)
            .and_then(|r| r.config.num(Key::TotalSteps))
    };
    match (updates(subject), updates(other)) {
        (Some(mine), Some(theirs)) => theirs > mine,
        _ => true,
    }
}

/// Builds the verdict and leaves each run's changes in one place: the fixes of folded findings
/// are removed, and no other finding keeps another value for an option the cause changes.
pub fn verdict(ctx: &Context<'_>, findings: &mut [Finding]) -> Verdict {
    let mut v = Verdict::default();
    for run in ctx.runs {
        let about = |f: &Finding| f.subject.as_deref() == Some(run.label.as_str());
        let root = ROOT_ORDER.iter().find_map(|id| {
            findings
                .iter()
                .position(|f| about(f) && f.id == *id && f.severity >= Severity::Warning)
        });
        let root = root.or_else(|| {
            findings
                .iter()
                .position(|f| about(f) && f.id == "loss-regression")
        });
        let Some(root) = root else { continue };
        let folds = explained_by(findings[root].id);
        // A regression no cause explains, between runs that differ in more than the batch:
        // that difference is the first thing to look at, so it is folded under the entry.
        let unlike = |f: &Finding| {
            findings[root].id == "loss-regression"
                && f.id == "not-comparable"
                && f.runs.contains(&run.label)
        };
        let explains: Vec<usize> = (0..findings.len())
            .filter(|&i| {
                let f = &findings[i];
                let unexplained = f.id == "loss-regression"
                    && !f
                        .runs
                        .iter()
                        .filter(|l| **l != run.label)
                        .any(|l| explains_gap(ctx, findings[root].id, &run.label, l));
                i != root
                    && !unexplained
                    && ((about(f) && (folds.contains(&f.id) || f.id == findings[root].id))
                        || unlike(f))
            })
            .collect();
        for &i in &explains {
            findings[i].fix = None;
        }
        let changes = findings[root]
            .fix
            .as_ref()
            .map(|f| f.changes.clone())
            .unwrap_or_default();
        for (i, f) in findings.iter_mut().enumerate() {
            if i == root || !about(f) {
                continue;
            }
            // A fix that would set an option the cause sets to another value goes whole: its
            // sentence and alternatives argue for that other value.
            let clashes = f.fix.as_ref().is_some_and(|fix| {
                fix.changes.iter().any(|c| {
                    changes
                        .iter()
                        .any(|r| r.option == c.option && r.run == c.run && r.to != c.to)
                })
            });
            if clashes {
                f.fix = None;
            }
        }
        v.causes.push(Cause {
            run: run.label.clone(),
            finding: root,
            changes,
            explains,
        });
    }
    let troubled = |label: &str| {
        findings
            .iter()
            .any(|f| f.subject.as_deref() == Some(label) && f.severity >= Severity::Warning)
    };
    for pair in &ctx.aligned.pairs {
        let (reference, run) = ctx.pair_runs(pair);
        if troubled(&run.label) || troubled(&reference.label) {
            continue;
        }
        if let Some(o) = &pair.by_data {
            let view = View::of(o, true);
            let off = (view.ratio_last - 1.0).abs();
            if off <= ctx.opts.tolerance {
                let within = if off < 0.0005 {
                    "to within 0.1%".to_string()
                } else {
                    format!("within {:.1}%", 100.0 * off)
                };
                v.matches.push((
                    run.label.clone(),
                    format!(
                        "{} matches the baseline {} {within} at matched {} (over the last quarter of the overlap, {}).",
                        run.label,
                        reference.label,
                        ctx.aligned.data_axis.amount(),
                        view.last_window()
                    ),
                ));
            }
        }
    }
    // A baseline clearly worse than a run, by the gate's own test read the other way round:
    // said, so that the order of the runs does not decide whether the verdict says which did
    // worse (the other order folds the gate's regression under the worse run's cause). With a
    // cause of the baseline's that explains the gap, the note names it; a batch cause names
    // both runs itself ("the baseline … is the run short of updates"), as a pair's lower sample
    // efficiency does, and needs no note — for the runs it names: the baseline's learning rate
    // not scaled against one run says nothing of another run that is better than it.
    let names = |c: &Cause, label: &str| {
        std::iter::once(c.finding)
            .chain(c.explains.iter().copied())
            .filter(|&i| findings[i].id == findings[c.finding].id)
            .any(|i| findings[i].runs.iter().any(|r| r == label))
    };
    let baseline_cause = |reference: &Run, run: &Run| {
        v.causes
            .iter()
            .filter(|c| c.run == reference.label)
            .filter(|c| !BATCH_CAUSES.contains(&findings[c.finding].id) || names(c, &run.label))
            .map(|c| findings[c.finding].id)
            .find(|id| explains_gap(ctx, id, &reference.label, &run.label))
    };
    let (mut ahead, mut explained) = (Vec::new(), Vec::new());
    let mut cause = None;
    for pair in &ctx.aligned.pairs {
        let (reference, run) = ctx.pair_runs(pair);
        let by = baseline_cause(reference, run);
        if by.is_some_and(|id| BATCH_CAUSES.contains(&id)) {
            continue;
        }
        let Some(o) = &pair.by_data else { continue };
        let view = View::of(o, false);
        if let Some(test) = super::loss_regression::worse(&view, ctx.opts.tolerance) {
            match by {
                Some(id) => {
                    cause = Some(id);
                    explained.push((reference, run, view, test));
                }
                None => ahead.push((reference, run, view, test)),
            }
        }
    }
    // Runs no cause of the baseline's explains the gap to come first; else those it does.
    v.better = better(ctx, &ahead, None).or_else(|| better(ctx, &explained, cause));
    // A plan with nothing predicted against it passes, with the numbers it was judged on: not
    // one a warning names (runs that differ in more than the batch), which `--fail-on warning`
    // would fail while this line said "no problem predicted".
    let warned = |label: &str| {
        findings
            .iter()
            .any(|f| f.runs.iter().any(|r| r == label) && f.severity >= Severity::Warning)
    };
    for pair in &ctx.aligned.pairs {
        let (reference, run) = ctx.pair_runs(pair);
        if !run.planned || warned(&run.label) {
            continue;
        }
        let (Some(b_ref), Some(b_run)) = (
            reference.config.num(Key::EffectiveBatch),
            run.config.num(Key::EffectiveBatch),
        ) else {
            for r in [reference, run] {
                v.unchecked.extend(missing_batch(r));
            }
            continue;
        };
        // A world size nothing names is assumed 1: a batch found too large then is at least
        // that large, but none found is no pass (the seed mistake is this plan on 8 GPUs).
        if let Some(u) = missing_batch(run) {
            v.unchecked.push(u);
            continue;
        }
        let steps = |r: &Run| {
            r.config
                .num(Key::TotalSteps)
                .map_or_else(|| "?".to_string(), format_count)
        };
        v.matches.push((
            run.label.clone(),
            format!(
                "{} (planned): effective batch {} ({} for {}), {} optimizer updates ({} for {}); no problem predicted.",
                run.label,
                format_number(b_run),
                format_number(b_ref),
                reference.label,
                steps(run),
                steps(reference),
                reference.label
            ),
        ));
    }
    for pair in &ctx.aligned.pairs {
        let (reference, run) = ctx.pair_runs(pair);
        // No loss to compare, or the batch ratio inferred from steps per epoch (the check ran
        // under that assumption, which its finding states).
        if reference.loss().is_none()
            || run.loss().is_none()
            || super::oversized_batch::inferred_batches(reference, run).is_some()
        {
            continue;
        }
        for r in [reference, run] {
            if let Some(u) = missing_batch(r) {
                if !v
                    .unchecked
                    .iter()
                    .any(|x| x.run == u.run && x.check == u.check)
                {
                    v.unchecked.push(u);
                }
            }
        }
    }
    v
}

/// The batch check cannot run without the effective batch: which facts are missing, and the
/// `--set` that supplies the one most likely known to the user.
fn missing_batch(run: &Run) -> Option<Unchecked> {
    // A run kept on the epoch axis (its steps unknown) cannot be compared at matched steps,
    // whatever its batch: the logging interval places its points.
    let steps_unknown = run
        .loss()
        .is_some_and(|s| !s.points.iter().any(|p| p.step.is_finite()));
    if steps_unknown {
        return Some(Unchecked {
            check: "oversized-effective-batch",
            run: run.label.clone(),
            missing: vec![Key::LoggingSteps],
            set: format!(
                "--set {0}:logging_steps=N (or --set {0}:total_steps=N)",
                crate::model::shell_label(&run.label)
            ),
        });
    }
    // nanoGPT's accumulation is the total over all processes: the world size is no factor.
    let factors: &[Key] = if run.config.accumulation_is_total() {
        &[Key::PerDeviceBatch, Key::GradAccum]
    } else {
        &[Key::WorldSize, Key::PerDeviceBatch, Key::GradAccum]
    };
    // A plan's world size nothing names is assumed 1 (ingest::plan): the batch it gives is a
    // lower bound, and the check waits for the real one.
    let assumed = |k: Key| {
        k == Key::WorldSize
            && run.planned
            && run
                .config
                .get(k)
                .is_some_and(|w| matches!(w.source, Provenance::Assumed(_)))
    };
    if run.config.num(Key::EffectiveBatch).is_some() && !factors.iter().any(|&k| assumed(k)) {
        return None;
    }
    let missing: Vec<Key> = factors
        .iter()
        .copied()
        .filter(|&k| run.config.num(k).is_none() || assumed(k))
        .collect();
    // All three unknown: the product is the one number to give.
    let missing = if missing.len() == factors.len() {
        vec![Key::EffectiveBatch]
    } else {
        missing
    };
    let set = missing
        .iter()
        .map(|k| {
            format!(
                "--set {}:{}=N",
                crate::model::shell_label(&run.label),
                k.name()
            )
        })
        .collect::<Vec<_>>()
        .join(" ");
    Some(Unchecked {
        check: "oversized-effective-batch",
        run: run.label.clone(),
        missing,
        set,
    })
}

#[cfg(test)]
mod tests {
    use super::super::synthetic::{judged, run};

    /// The findings a run's cause folds, by id.
    fn folded(runs: &[crate::model::Run], subject: &str) -> Vec<&'static str> {
        let (v, findings) = judged(runs);
        let cause = v.causes.iter().find(|c| c.run == subject).expect("a cause");
        assert_eq!(findings[cause.finding].id, "too-few-optimizer-steps");
        cause.explains.iter().map(|&i| findings[i].id).collect()
    }

    /// Asserts that the verdict of `runs` notes "base" as better than the baseline, in a
    /// sentence that says `why`.
    fn better_note(runs: &[crate::model::Run], why: &str) {
        let (v, _) = judged(runs);
        let (better, sentence) = v.better.expect("the better run is named");
        assert_eq!(better, ["base"]);
        assert!(sentence.contains(why), "{sentence}");
    }

    #[test]
    fn too_few_updates_explains_a_regression_only_against_a_run_that_made_more() {
        // Both under 100 updates; the worse run's loss sits 3× the baseline's.
        let wiggle = |s: f64| 1.0 + 0.01 * (s * 0.7).sin();
        let base = run("base", 16.0, 60, 2, |s| 0.2 * wiggle(s));
        let same = run("same", 16.0, 60, 2, |s| 0.6 * wiggle(s));
        assert!(!folded(&[base.clone(), same.clone()], "same").contains(&"loss-regression"));
        // The other order says the same: the baseline is worse, and its own shortfall of
        // updates, which the better run shares, is not why.
        better_note(&[same, base], "No check found a cause for the gap");
        // Fewer updates than the baseline at the same batch: the shortfall is the gap's cause.
        let base = run("base", 16.0, 90, 2, |s| 0.2 * wiggle(s));
        let fewer = run("fewer", 16.0, 30, 2, |s| 0.6 * wiggle(s));
        assert!(folded(&[base.clone(), fewer.clone()], "fewer").contains(&"loss-regression"));
        // With the run short of updates as the baseline, the verdict still says which did
        // worse, and why.
        better_note(
            &[fewer, base],
            "The baseline's too-few-optimizer-steps above explains the gap",
        );
    }
}
