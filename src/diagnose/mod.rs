//! Stage 3: runs + aligned curves → [`Finding`]s. One check per file; each file's module doc
//! states its method, formula and thresholds (also collected in docs/diagnostics.md). Checks
//! compute; they never format output beyond a finding's own sentences.
//!
//! Findings come out most severe first; within a severity, in the order of [`CHECKS`]: causes
//! (a logging artefact, an oversized batch) before symptoms (a regression).

mod collapsed_loss;
mod crashed;
mod critical_batch;
mod divergence;
mod logging_artifact;
mod loss_regression;
mod loss_spike;
mod lr_not_scaled;
mod nonfinite;
mod not_comparable;
pub mod options;
mod overfitting;
mod oversized_batch;
mod scaling_efficiency;
mod stats;
pub mod sweep;
#[cfg(test)]
mod synthetic;
mod too_few_steps;
mod verdict;

pub use crashed::CUT_SHORT;
pub use oversized_batch::ratio_words;
pub use verdict::verdict;

use rayon::prelude::*;

use crate::align::{Aligned, Axis, Overlap, Pair};
use crate::model::{Evidence, Finding, Key, Provenance, Run, Severity};

/// Settings of the diagnose stage.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DiagnoseOptions {
    /// Relative loss increase at matched samples that counts as a regression.
    pub tolerance: f64,
}

/// What every check sees.
pub struct Context<'a> {
    /// All runs.
    pub runs: &'a [Run],
    /// The curves and pairwise comparisons.
    pub aligned: &'a Aligned,
    /// Index of the reference run.
    pub reference: usize,
    /// Settings.
    pub opts: DiagnoseOptions,
    /// The batch-size sweep fitted over all runs, when there are three or more batches.
    pub sweep: Option<&'a sweep::Sweep>,
    /// The pairs of runs other than the baseline that the batch checks also judge (see
    /// [`Context::new`]).
    pub cross: Vec<Pair>,
}

/// Up to this many runs, the batch checks judge every pair of runs, not only each run against
/// the baseline: so which run is given first does not decide whether a run is found short of
/// updates. With more runs, each is judged against the baseline only.
pub const CROSS_RUNS: usize = 12;

impl<'a> Context<'a> {
    /// What the checks see, with the pairs of other runs the batch checks judge: with at most
    /// [`CROSS_RUNS`] runs that share one learning rate (one recipe; a sweep that scales the
    /// rate with the batch is the sweep fit's to judge), every pair of runs that are not the
    /// baseline and not plans whose effective batches may differ by
    /// [`oversized_batch::MIN_BATCH_RATIO`] or more (unknown ones may, being inferred from steps
    /// per epoch).
    pub fn new(
        runs: &'a [Run],
        aligned: &'a Aligned,
        reference: usize,
        opts: DiagnoseOptions,
        sweep: Option<&'a sweep::Sweep>,
    ) -> Self {
        let mut between = Vec::new();
        // One recipe: every learning rate known is the same. Runs whose learning rates differ
        // (a sweep that scales it with the batch) are judged against the baseline only: a pair
        // of them that happens to share a rate says nothing about the recipe.
        let rates: Vec<f64> = runs
            .iter()
            .filter(|r| !r.planned)
            .filter_map(|r| r.config.num(Key::LearningRate))
            .collect();
        let one_rate = rates.iter().all(|&x| {
            let y = rates[0];
            (x - y).abs() <= lr_not_scaled::SAME_LR * x.max(y)
        });
        if runs.len() <= CROSS_RUNS && one_rate {
            let judged = |i: usize| i != reference && !runs[i].planned;
            for a in (0..runs.len()).filter(|&a| judged(a)) {
                for b in (a + 1..runs.len()).filter(|&b| judged(b)) {
                    let batches = (
                        runs[a].config.num(Key::EffectiveBatch),
                        runs[b].config.num(Key::EffectiveBatch),
                    );
                    let alike = matches!(batches, (Some(x), Some(y))
                        if x.max(y) < oversized_batch::MIN_BATCH_RATIO * x.min(y));
                    if !alike {
                        between.push((a, b));
                    }
                }
            }
        }
        let cross = between
            .into_par_iter()
            .map(|(a, b)| Pair::between(runs, a, b, aligned.data_axis))
            .collect();
        Context {
            runs,
            aligned,
            reference,
            opts,
            sweep,
            cross,
        }
    }

    /// The pairs a batch check judges: each run against the baseline, then [`Context::cross`].
    pub fn batch_pairs(&self) -> impl Iterator<Item = &Pair> {
        self.aligned.pairs.iter().chain(&self.cross)
    }

    /// The reference run.
    pub fn reference(&self) -> &Run {
        &self.runs[self.reference]
    }

    /// The runs of a pair: (reference, run).
    pub fn pair_runs(&self, p: &Pair) -> (&Run, &Run) {
        (&self.runs[p.reference], &self.runs[p.run])
    }

    /// A numeric config value of both runs of a pair: (reference, run), when both are known.
    pub fn pair_num(&self, p: &Pair, key: Key) -> Option<(f64, f64)> {
        let (a, b) = self.pair_runs(p);
        Some((a.config.num(key)?, b.config.num(key)?))
    }
}

/// An overlap read with one run of a pair as the numerator, so that a check can look at a pair
/// from whichever side needs the change (the baseline only orients `loss-regression`).
#[derive(Debug, Clone)]
pub struct View {
    /// The axis.
    pub axis: Axis,
    /// The common range, and where its last quarter begins.
    pub start: f64,
    pub end: f64,
    pub last_from: f64,
    /// The numerator's and the denominator's loss at the end of the overlap, as logged.
    pub num_at_end: f64,
    pub den_at_end: f64,
    /// Geometric-mean ratio numerator ÷ denominator over the last quarter, and overall.
    pub ratio_last: f64,
    pub ratio_all: f64,
    /// Mean difference numerator − denominator over the last quarter.
    pub gap_last: f64,
    /// The one-sided test that the numerator is worse (over the logged points, in the last half
    /// of the overlap, of the run that logged fewer there).
    pub test: Option<stats::Test>,
}

impl View {
    /// `o` as run ÷ reference (`run_first`) or reference ÷ run.
    pub fn of(o: &Overlap, run_first: bool) -> View {
        let flip = |r: f64| if run_first { r } else { 1.0 / r };
        let test = stats::worse(if run_first {
            &o.run_over_reference
        } else {
            &o.reference_over_run
        });
        let (num, den) = if run_first {
            (o.run_at_end, o.reference_at_end)
        } else {
            (o.reference_at_end, o.run_at_end)
        };
        View {
            axis: o.axis,
            start: o.start,
            end: o.end,
            last_from: o.last_from,
            num_at_end: num,
            den_at_end: den,
            ratio_last: flip(o.ratio_last),
            ratio_all: flip(o.ratio_all),
            gap_last: if run_first { o.gap_last } else { -o.gap_last },
            test,
        }
    }

    /// The numerator's loss ÷ the denominator's at the end of the overlap: the ratio of the two
    /// values printed beside it.
    pub fn ratio_at_end(&self) -> f64 {
        self.num_at_end / self.den_at_end
    }

    /// "samples 4,608–6,144" or "steps 36–48": the last quarter, in words.
    pub fn last_window(&self) -> String {
        self.axis.window(self.last_from, self.end)
    }
}

/// Whether an earlier check raised `id` for both of these runs, or for one of them alone.
fn raised_for(earlier: &[Finding], id: &str, a: &Run, b: &Run) -> bool {
    earlier.iter().any(|f| {
        f.id == id
            && match f.runs.as_slice() {
                [one] => *one == a.label || *one == b.label,
                runs => runs.contains(&a.label) && runs.contains(&b.label),
            }
    })
}

/// A check: most read only the runs; a few also read what the checks before them found (the
/// batch check defers to the logging-artefact check).
#[derive(Clone, Copy)]
enum Check {
    Alone(fn(&Context<'_>) -> Vec<Finding>),
    After(fn(&Context<'_>, &[Finding]) -> Vec<Finding>),
}

/// Every check in reporting order.
const CHECKS: [Check; 14] = [
    Check::Alone(logging_artifact::check),
    Check::After(oversized_batch::check),
    Check::Alone(lr_not_scaled::check),
    Check::Alone(too_few_steps::check),
    Check::After(not_comparable::check),
    Check::Alone(loss_regression::check),
    Check::Alone(nonfinite::check),
    Check::Alone(collapsed_loss::check),
    Check::Alone(divergence::check),
    Check::Alone(loss_spike::check),
    Check::Alone(overfitting::check),
    Check::After(scaling_efficiency::check),
    Check::After(critical_batch::check),
    Check::Alone(crashed::check),
];

/// Runs every check; most severe first. The checks that read only the runs run at once, on
/// every core (several read each run's whole curve); then, in order, those that read what the
/// checks before them found.
pub fn diagnose(ctx: &Context<'_>) -> Vec<Finding> {
    let alone: Vec<Option<Vec<Finding>>> = CHECKS
        .par_iter()
        // One task a check: a thread that is free takes the next check, so the few that read
        // every point of a long run (divergence, spikes, non-finite values) spread over the
        // cores instead of falling to one thread with their neighbours.
        .with_max_len(1)
        .map(|check| match check {
            Check::Alone(f) => Some(f(ctx)),
            Check::After(_) => None,
        })
        .collect();
    let mut findings: Vec<Finding> = Vec::new();
    for (check, found) in CHECKS.iter().zip(alone) {
        let new = match check {
            Check::Alone(_) => found.unwrap_or_default(),
            Check::After(f) => f(ctx, &findings),
        };
        findings.extend(new);
    }
    // Stable: keeps check order within a severity.
    findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
    findings
}

/// A batch check's findings, each with its batch ratio, in the order the verdict reads them (it
/// takes a run's first as its cause): by the run each addresses, in run order; of one run, the
/// largest ratio first (against the run with the smallest batch), then the one against the
/// baseline, then by the other run's label. So the cause and its change do not depend on which
/// run is the baseline (runs tied at one ratio have one batch), and among equals the headline
/// names the baseline.
fn strongest_first(ctx: &Context<'_>, mut found: Vec<(f64, Finding)>) -> Vec<Finding> {
    let index = |f: &Finding| {
        let subject = f.subject.as_deref();
        ctx.runs
            .iter()
            .position(|r| Some(r.label.as_str()) == subject)
    };
    let other = |f: &Finding| {
        f.runs
            .iter()
            .find(|r| Some(r.as_str()) != f.subject.as_deref())
            .cloned()
    };
    let baseline = &ctx.runs[ctx.reference].label;
    let off_baseline = |f: &Finding| !f.runs.contains(baseline);
    found.sort_by(|(ka, a), (kb, b)| {
        index(a)
            .cmp(&index(b))
            .then(kb.total_cmp(ka))
            .then_with(|| off_baseline(a).cmp(&off_baseline(b)))
            .then_with(|| other(a).cmp(&other(b)))
    });
    found.into_iter().map(|(_, f)| f).collect()
}

/// `x` rounded to `digits` significant digits.
fn round_sig(x: f64, digits: i32) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let m = 10f64.powi(digits - 1 - x.abs().log10().floor() as i32);
    (x * m).round() / m
}

/// A config value as evidence: `name[label]`, the value, and its provenance.
fn config_evidence(run: &Run, key: Key) -> Option<Evidence> {
    let v = run.config.get(key)?;
    Some(Evidence {
        name: format!("{}[{}]", key.name(), run.label),
        value: v.value.as_f64()?,
        source: v.source.clone(),
    })
}

/// A computed number as evidence.
fn derived(name: impl Into<String>, value: f64, how: impl Into<String>) -> Evidence {
    Evidence {
        name: name.into(),
        value,
        source: Provenance::Derived(how.into()),
    }
}

/// A logged point as evidence: which series, file and line.
fn logged(run: &Run, metric: &str, p: impl std::borrow::Borrow<crate::model::Point>) -> Evidence {
    let p = p.borrow();
    let source = run.series.get(metric).map_or_else(
        || Provenance::Derived(format!("{metric} of {}", run.label)),
        |s| s.origin(p),
    );
    Evidence {
        name: format!(
            "{metric}[{}]@{}",
            run.label,
            p.position_with(crate::model::format_number)
        ),
        value: p.value,
        source,
    }
}

/// Optimizer steps a run was configured for (not just logged: a crashed run logs fewer).
fn planned_steps(run: &Run) -> Option<(f64, Provenance)> {
    let v = run.config.get(Key::TotalSteps)?;
    Some((v.value.as_f64()?, v.source.clone()))
}

/// Optimizer steps of a run: the configured total, else the last logged loss step.
fn optimizer_steps(run: &Run) -> Option<(f64, Provenance)> {
    if let Some(v) = run.config.get(Key::TotalSteps) {
        return Some((v.value.as_f64()?, v.source.clone()));
    }
    let s = run.loss()?;
    let p = s.points.last().filter(|p| p.step.is_finite())?;
    Some((
        p.step,
        Provenance::Derived(format!("last logged loss step ({})", s.origin(&p))),
    ))
}

/// `x` as "8×" or "1.5×".
fn times(x: f64) -> String {
    if (x - x.round()).abs() < 0.05 {
        format!("{}×", x.round())
    } else {
        format!("{x:.1}×")
    }
}

/// A finding with no fix.
fn finding(
    id: &'static str,
    severity: Severity,
    runs: Vec<String>,
    subject: Option<String>,
    summary: String,
    evidence: Vec<Evidence>,
) -> Finding {
    Finding {
        id,
        severity,
        runs,
        subject,
        summary,
        evidence,
        fix: None,
    }
}

/// "an 8×" or "a 2.5×": the article English wants before a multiplier.
fn a_times(x: f64) -> String {
    let t = times(x);
    let an = t.starts_with('8') || t.starts_with("11") || t.starts_with("18");
    format!("{} {t}", if an { "an" } else { "a" })
}

/// "1 process" or "8 processes".
fn processes(n: f64) -> String {
    let n_s = crate::model::format_number(n);
    if n == 1.0 {
        format!("{n_s} process")
    } else {
        format!("{n_s} processes")
    }
}

/// Every finding id, for documentation and tests.
pub const IDS: [&str; 16] = [
    "loss-logging-artifact",
    "oversized-effective-batch",
    "lr-not-scaled",
    "too-few-optimizer-steps",
    "not-comparable",
    "loss-regression",
    "lower-sample-efficiency",
    "nonfinite-loss",
    "nonfinite-grad-norm",
    "collapsed-loss",
    "divergence",
    "loss-spike",
    "overfitting",
    "scaling-efficiency",
    "critical-batch-size",
    "run-crashed",
];

#[cfg(test)]
mod tests {
    use super::synthetic::{diagnose, has, run, set_series, with};
    use crate::model::{Key, Severity};

    /// Loss as a function of optimizer updates only: what a run short of updates looks like.
    fn by_updates(step: f64) -> f64 {
        0.01 + 8.0 * (-step / 40.0).exp()
    }

    #[test]
    fn equal_runs_yield_nothing_above_info() {
        let a = run("a", 16.0, 384, 2, by_updates);
        let found = diagnose(&[a.clone(), with(a, Key::WorldSize, 1.0)]);
        assert!(found.iter().all(|(_, s)| *s == Severity::Info), "{found:?}");
    }

    #[test]
    fn under_updating_is_diagnosed_and_a_same_batch_run_is_not() {
        let base = run("base", 16.0, 384, 2, by_updates);
        let big = run("big", 128.0, 48, 2, by_updates);
        let found = diagnose(&[base.clone(), big]);
        assert_eq!(
            found[0],
            ("oversized-effective-batch", Severity::Error),
            "{found:?}"
        );
        assert!(has(&found, "lr-not-scaled"));
        assert!(has(&found, "too-few-optimizer-steps"));
        assert!(has(&found, "critical-batch-size"));
        let same = run("same", 16.0, 384, 2, by_updates);
        let found = diagnose(&[base, same]);
        assert!(
            !has(&found, "oversized-effective-batch") && !has(&found, "loss-regression"),
            "{found:?}"
        );
    }

    #[test]
    fn a_big_batch_that_keeps_pace_by_samples_is_not_oversized() {
        // Loss a function of samples: the big batch made good use of every sample.
        let base = run("base", 16.0, 384, 2, by_updates);
        let big = run("big", 128.0, 48, 2, |s| by_updates(s * 8.0));
        let found = diagnose(&[base, big]);
        assert!(!has(&found, "oversized-effective-batch"), "{found:?}");
        assert!(!has(&found, "loss-regression"), "{found:?}");
    }

    #[test]
    fn regression_needs_tolerance_floor_and_significance() {
        let base = run("base", 16.0, 384, 2, |s| 1.0 + 1.0 / s);
        let worse = run("worse", 16.0, 384, 2, |s| {
            1.2 + 1.0 / s + 0.01 * (s * 0.7).sin()
        });
        assert!(has(&diagnose(&[base.clone(), worse]), "loss-regression"));
        let within = run("within", 16.0, 384, 2, |s| 1.03 + 1.0 / s);
        assert!(
            !has(&diagnose(&[base.clone(), within]), "loss-regression"),
            "3% is inside the 5% tolerance"
        );
        let better = run("better", 16.0, 384, 2, |s| 0.8 + 1.0 / s);
        assert!(!has(&diagnose(&[base, better]), "loss-regression"));
    }

    #[test]
    fn one_point_and_no_overlap_are_not_compared() {
        let base = run("base", 16.0, 384, 2, by_updates);
        let one = run("one", 16.0, 2, 2, by_updates);
        let found = diagnose(&[base.clone(), one]);
        assert!(
            !has(&found, "loss-regression") && !has(&found, "oversized-effective-batch"),
            "{found:?}"
        );
        let mut far = run("far", 16.0, 384, 2, by_updates);
        let loss = far.series.get_mut("loss").expect("loss");
        loss.points = loss
            .points
            .iter()
            .map(|mut p| {
                p.samples = p.samples.get().map(|s| s + 1e6).into();
                p
            })
            .collect();
        let found = diagnose(&[base, far]);
        assert!(!has(&found, "loss-regression"), "{found:?}");
    }

    #[test]
    fn nan_in_the_middle_is_reported_and_does_not_break_the_comparison() {
        let base = run("base", 16.0, 384, 2, by_updates);
        let nan = run("nan", 128.0, 48, 2, |s| {
            if s == 20.0 { f64::NAN } else { by_updates(s) }
        });
        let found = diagnose(&[base, nan]);
        assert!(has(&found, "nonfinite-loss"), "{found:?}");
        assert!(
            has(&found, "oversized-effective-batch"),
            "the other points still compare: {found:?}"
        );
    }

    #[test]
    fn collapsed_loss_but_not_for_grpo() {
        let broken = run("broken", 16.0, 100, 2, |s| if s > 50.0 { 0.0 } else { 2.0 });
        assert!(has(
            &diagnose(std::slice::from_ref(&broken)),
            "collapsed-loss"
        ));
        let mut grpo = broken;
        set_series(&mut grpo, "reward", 2, 100, |_| 0.5);
        assert!(!has(&diagnose(&[grpo]), "collapsed-loss"));
    }

    #[test]
    fn divergence_and_spikes() {
        let diverged = run("d", 16.0, 200, 2, |s| {
            if s < 100.0 {
                2.0 - s / 100.0
            } else {
                1.0 + (s - 100.0) / 20.0
            }
        });
        assert!(has(&diagnose(&[diverged]), "divergence"));
        let spiky = run("s", 16.0, 200, 2, |s| if s == 150.0 { 5.0 } else { 1.0 });
        let found = diagnose(&[spiky]);
        assert!(
            has(&found, "loss-spike") && !has(&found, "divergence"),
            "{found:?}"
        );
        let smooth = run("ok", 16.0, 200, 2, |s| 1.0 + 1.0 / s);
        let found = diagnose(&[smooth]);
        assert!(
            !has(&found, "loss-spike") && !has(&found, "divergence"),
            "{found:?}"
        );
    }

    #[test]
    fn overfitting_needs_eval_rising_while_train_falls() {
        let mut r = run("o", 16.0, 200, 2, |s| 2.0 / s.sqrt());
        set_series(&mut r, "eval_loss", 20, 200, |s| {
            1.0 + ((s - 60.0) / 100.0).powi(2)
        });
        assert!(has(&diagnose(&[r.clone()]), "overfitting"));
        set_series(&mut r, "eval_loss", 20, 200, |s| 1.0 / s);
        assert!(!has(&diagnose(&[r]), "overfitting"));
    }

    #[test]
    fn logging_artifact_caps_the_batch_finding() {
        let base = with(run("base", 16.0, 384, 2, by_updates), Key::GradAccum, 1.0);
        let ga8 = with(
            run("ga8", 128.0, 48, 2, |s| 8.0 * by_updates(s)),
            Key::GradAccum,
            8.0,
        );
        let found = diagnose(&[base, ga8]);
        assert!(has(&found, "loss-logging-artifact"), "{found:?}");
        assert!(
            found
                .iter()
                .all(|(id, s)| *id != "oversized-effective-batch" || *s == Severity::Warning),
            "{found:?}"
        );
    }

    #[test]
    fn a_training_loss_many_times_the_eval_loss_is_an_artifact_unless_its_ga_says_otherwise() {
        // Logged loss summed over 16 accumulation steps: 16× the eval loss.
        let mut summed = run("summed", 16.0, 384, 2, |s| 16.0 * by_updates(s));
        set_series(&mut summed, "eval_loss", 64, 384, by_updates);
        let found = super::synthetic::findings(std::slice::from_ref(&summed));
        let f = found
            .iter()
            .find(|f| f.id == "loss-logging-artifact")
            .expect("raised for one run");
        assert_eq!(f.subject.as_deref(), Some("summed"));
        assert!(f.summary.contains("is 16× its eval loss"), "{}", f.summary);
        let at16 = super::synthetic::findings(&[with(summed.clone(), Key::GradAccum, 16.0)]);
        assert!(
            at16.iter().any(|f| f
                .summary
                .contains("about its gradient_accumulation_steps 16")),
            "{at16:?}"
        );
        // At GA 1 a 16× gap is not this artefact.
        assert!(!has(
            &diagnose(&[with(summed, Key::GradAccum, 1.0)]),
            "loss-logging-artifact"
        ));
        // A training loss logged every 200 steps beside evals every 10, equal where both are
        // logged: evals far from a training loss are not set beside it.
        let fast = |s: f64| 8.0 * (-s / 50.0).exp();
        let mut sparse = run("sparse", 16.0, 2000, 200, fast);
        set_series(&mut sparse, "eval_loss", 10, 2000, fast);
        assert!(!has(&diagnose(&[sparse]), "loss-logging-artifact"));
        // Train loss 1.5× eval loss (dropout): nothing.
        let mut healthy = run("healthy", 16.0, 384, 2, |s| 1.5 * by_updates(s));
        set_series(&mut healthy, "eval_loss", 64, 384, by_updates);
        assert!(!has(&diagnose(&[healthy]), "loss-logging-artifact"));
    }

    #[test]
    fn not_comparable_names_what_differs() {
        let a = with(run("a", 16.0, 384, 2, by_updates), Key::NumExamples, 2048.0);
        let b = with(run("b", 16.0, 384, 2, by_updates), Key::NumExamples, 4096.0);
        assert!(has(&diagnose(&[a, b]), "not-comparable"));
    }

    #[test]
    fn scaling_efficiency_between_world_sizes() {
        let a = with(
            with(run("a", 16.0, 384, 2, by_updates), Key::WorldSize, 1.0),
            Key::TrainSamplesPerSecond,
            100.0,
        );
        let b = with(
            with(run("b", 16.0, 384, 2, by_updates), Key::WorldSize, 8.0),
            Key::TrainSamplesPerSecond,
            200.0,
        );
        let found = diagnose(&[a, b]);
        assert!(
            found.contains(&("scaling-efficiency", Severity::Warning)),
            "25% efficiency: {found:?}"
        );
    }
}
