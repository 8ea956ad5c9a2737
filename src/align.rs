//! Stage 2: runs → [`Aligned`]. Puts every run's curves on one x-axis (samples seen by default),
//! smooths them when asked (an EMA over x distance, so runs logged at different densities are
//! smoothed alike), and compares each run with the reference on their overlapping range: loss at
//! matched samples and at matched optimizer steps, the gap and ratio over the last quarter of the
//! overlap, samples- and steps-to-target, and the mean gap between the curves.
//!
//! Interpolation is linear between logged points and never extrapolates past a run's first or
//! last point. Non-finite values are left out of curves (the diagnose stage reports them).

use crate::model::{Point, Points, Run};
use rayon::prelude::*;

pub use crate::model::Axis;

/// Settings of the align stage.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AlignOptions {
    /// The requested axis.
    pub axis: Axis,
    /// Whether `--x` asked for it (else it is the default): a fall-back names the option only
    /// when it was given.
    pub chosen: bool,
    /// EMA weight per 1/100 of the x range, if smoothing.
    pub smooth: Option<f64>,
}

/// The weight per logged point used to find where a curve first reaches a target loss, so a
/// single noisy dip does not count as reaching it (TensorBoard's default strength).
const TARGET_SMOOTHING: f64 = 0.6;

/// The target loss is this much above the worse run's best (smoothed) loss, so both runs reach it.
const TARGET_MARGIN: f64 = 1.10;

/// The share of the overlap, at its end, over which the final gap and ratio are measured.
const LAST_PART: f64 = 0.25;

/// A curve on one axis: increasing x, finite y.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Curve {
    /// x coordinates, strictly increasing.
    pub xs: Vec<f64>,
    /// Values as logged.
    pub ys: Vec<f64>,
    /// Values smoothed; empty when smoothing is off (see [`Curve::smoothed`]).
    smoothed: Vec<f64>,
}

impl Curve {
    /// Builds a curve of a series' finite points on an axis; points without a coordinate are
    /// left out, as are decreasing x. Of points at one x (epochs printed to two decimals: 0.14
    /// at steps 250 and 255) the last is kept: the run's value there is the latest it logged,
    /// and at the end of a curve its final one.
    pub fn new<P: std::borrow::Borrow<Point>>(
        points: impl IntoIterator<Item = P, IntoIter: ExactSizeIterator>,
        axis: Axis,
    ) -> Curve {
        let points = points.into_iter();
        let mut c = Curve {
            xs: Vec::with_capacity(points.len()),
            ys: Vec::with_capacity(points.len()),
            smoothed: Vec::new(),
        };
        for p in points {
            let p = p.borrow();
            let (Some(x), true) = (axis.of(p), p.value.is_finite()) else {
                continue;
            };
            match c.xs.last() {
                Some(&last) if x < last => continue,
                Some(&last) if x == last => {
                    if let Some(y) = c.ys.last_mut() {
                        *y = p.value;
                    }
                }
                _ => {
                    c.xs.push(x);
                    c.ys.push(p.value);
                }
            }
        }
        c
    }

    /// [`Curve::new`] over a series' points, reading only the axis' coordinate column and the
    /// values (no point is made).
    pub fn of(points: &Points, axis: Axis) -> Curve {
        let mut c = Curve {
            xs: Vec::with_capacity(points.len()),
            ys: Vec::with_capacity(points.len()),
            smoothed: Vec::new(),
        };
        for (x, y) in Curve::pairs(points, axis) {
            c.xs.push(x);
            c.ys.push(y);
        }
        c
    }

    /// The (x, y) pairs [`Curve::of`] holds, read as they are needed: a check that looks at
    /// each point once builds no curve.
    pub fn pairs(points: &Points, axis: Axis) -> impl Iterator<Item = (f64, f64)> + '_ {
        // Unknown (NaN) or not finite: no coordinate, as `Axis::of` has it.
        let mut finite = points
            .coordinates(axis.coordinate())
            .zip(points.values().iter().copied())
            .filter(|&(x, y)| x.is_finite() && y.is_finite());
        // The point kept last, given out once a larger x shows it is the last at its x (as
        // `Curve::new` keeps them: decreasing x left out, the last of a repeated x kept).
        let mut held: Option<(f64, f64)> = None;
        std::iter::from_fn(move || {
            loop {
                let Some((x, y)) = finite.next() else {
                    return held.take();
                };
                match held {
                    Some((last, _)) if x < last => {}
                    Some((last, _)) if x == last => held = Some((x, y)),
                    Some(done) => {
                        held = Some((x, y));
                        return Some(done);
                    }
                    None => held = Some((x, y)),
                }
            }
        })
    }

    /// The smoothed values, index-aligned with `xs`: the values themselves when smoothing is off.
    pub fn smoothed(&self) -> &[f64] {
        if self.smoothed.is_empty() {
            &self.ys
        } else {
            &self.smoothed
        }
    }

    /// Whether the curve has no points.
    pub fn is_empty(&self) -> bool {
        self.xs.is_empty()
    }

    /// The x range, if any point.
    pub fn range(&self) -> Option<(f64, f64)> {
        Some((*self.xs.first()?, *self.xs.last()?))
    }

    /// The smoothed value at `x` by linear interpolation; `None` outside the curve.
    pub fn at(&self, x: f64) -> Option<f64> {
        interpolate(&self.xs, self.smoothed(), x)
    }

    /// The value as logged at `x` by linear interpolation; `None` outside the curve.
    pub fn raw_at(&self, x: f64) -> Option<f64> {
        interpolate(&self.xs, &self.ys, x)
    }
}

/// Linear interpolation within `xs`; `None` outside it (no extrapolation). Total: any input,
/// NaN included, gives a value or `None`, never a panic.
pub fn interpolate(xs: &[f64], ys: &[f64], x: f64) -> Option<f64> {
    if !covers(xs, x) {
        return None;
    }
    interpolate_at(xs, ys, xs.partition_point(|&v| v < x), x)
}

/// Whether `x` lies within `xs` (from its first to its last, NaN nowhere): where
/// interpolation gives a value.
fn covers(xs: &[f64], x: f64) -> bool {
    match (xs.first(), xs.last()) {
        (Some(&first), Some(&last)) => !x.is_nan() && (first..=last).contains(&x),
        _ => false,
    }
}

/// [`interpolate`] at `x`, within `xs`, given the first index `i` whose x is not below it.
fn interpolate_at(xs: &[f64], ys: &[f64], i: usize, x: f64) -> Option<f64> {
    if *xs.get(i)? == x {
        return ys.get(i).copied();
    }
    let (x0, x1) = (xs[i.checked_sub(1)?], xs[i]);
    let (y0, y1) = (*ys.get(i - 1)?, *ys.get(i)?);
    Some(y0 + (y1 - y0) * (x - x0) / (x1 - x0))
}

/// [`Curve::raw_at`] for x that grow from one call to the next: each looks on from where the
/// last one stopped, so a pass over another curve's points or a grid is linear, not one binary
/// search a point. The same values as `raw_at` for any x (an x below the last one is looked up
/// afresh).
struct Walk<'c> {
    curve: &'c Curve,
    i: usize,
}

impl<'c> Walk<'c> {
    fn new(curve: &'c Curve) -> Self {
        Walk { curve, i: 0 }
    }

    fn at(&mut self, x: f64) -> Option<f64> {
        let (xs, ys) = (&self.curve.xs, &self.curve.ys);
        if !covers(xs, x) {
            return None;
        }
        if self.i > 0 && xs[self.i - 1] >= x {
            self.i = xs.partition_point(|&v| v < x);
        }
        while xs[self.i] < x {
            self.i += 1;
        }
        interpolate_at(xs, ys, self.i, x)
    }
}

/// An exponential moving average over x distance, debiased: each point's weight decays as
/// `w^(Δx / unit)`, and the result is normalised by the sum of weights, so the first value is
/// kept and irregular logging intervals do not distort it.
pub fn ema(xs: &[f64], ys: &[f64], w: f64, unit: f64) -> Vec<f64> {
    let mut e = Ema::new(w, unit);
    xs.iter().zip(ys).map(|(&x, &y)| e.push(x, y)).collect()
}

/// [`ema`] one point at a time. A run logs at a fixed interval, so the decay of the last
/// interval is kept and `powf` computed only when the interval changes.
#[derive(Debug, Clone)]
pub struct Ema {
    w: f64,
    unit: f64,
    num: f64,
    den: f64,
    last_x: Option<f64>,
    /// The last interval (in units) and its decay.
    last_decay: (f64, f64),
}

impl Ema {
    /// An average with weight `w` per `unit` of x.
    pub fn new(w: f64, unit: f64) -> Self {
        Ema {
            w,
            unit,
            num: 0.0,
            den: 0.0,
            last_x: None,
            last_decay: (f64::NAN, 0.0),
        }
    }

    /// Adds the point (x, y) and returns the average up to it.
    pub fn push(&mut self, x: f64, y: f64) -> f64 {
        let decay = match self.last_x {
            Some(lx) if self.unit > 0.0 => {
                let e = (x - lx).max(0.0) / self.unit;
                if e.to_bits() != self.last_decay.0.to_bits() {
                    self.last_decay = (e, self.w.powf(e));
                }
                self.last_decay.1
            }
            Some(_) => self.w,
            None => 0.0,
        };
        self.num = self.num * decay + y;
        self.den = self.den * decay + 1.0;
        self.last_x = Some(x);
        self.num / self.den
    }
}

/// Loss of a run against the reference over their common range on one axis.
#[derive(Debug, Clone, PartialEq)]
pub struct Overlap {
    /// The axis.
    pub axis: Axis,
    /// Start and end of the common range.
    pub start: f64,
    pub end: f64,
    /// Where the last quarter of the overlap begins (the window of `ratio_last`, `gap_last`).
    pub last_from: f64,
    /// Both curves at the end of the overlap (as logged: display smoothing never enters a
    /// comparison).
    pub reference_at_end: f64,
    pub run_at_end: f64,
    /// Geometric-mean ratio run ÷ reference over the last quarter of the overlap.
    pub ratio_last: f64,
    /// Mean difference run − reference over the last quarter.
    pub gap_last: f64,
    /// Geometric-mean ratio over the whole overlap.
    pub ratio_all: f64,
    /// Mean absolute difference between the curves over the overlap (area ÷ width).
    pub mean_abs_gap: f64,
    /// The logged (raw) points in the last half of the overlap of the run that logged fewer
    /// there, each against the other interpolated at the same x, as log-ratios run ÷
    /// reference: the input of the significance test, summed once here, the same whichever run
    /// is the reference.
    pub run_over_reference: LogRatios,
    /// The same points as reference ÷ run, for a check that reads the pair the other way.
    pub reference_over_run: LogRatios,
}

/// Log-ratios d = ln(a ÷ b) of paired points, reduced to what the significance test reads
/// (`diagnose::stats`): how many, their mean, and the sum of squared successive differences,
/// Σ(dᵢ₊₁ − dᵢ)². Points where either value is not positive, or whose ratio overflows, are left
/// out.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogRatios {
    n: usize,
    sum: f64,
    successive: f64,
    last: Option<f64>,
}

impl Default for LogRatios {
    fn default() -> Self {
        // Summed in order from -0.0, as `Iterator::sum` does.
        LogRatios {
            n: 0,
            sum: -0.0,
            successive: -0.0,
            last: None,
        }
    }
}

impl LogRatios {
    /// The log-ratios of `(a, b)` pairs, in order.
    pub fn of(pairs: impl IntoIterator<Item = (f64, f64)>) -> LogRatios {
        let mut d = LogRatios::default();
        for (a, b) in pairs {
            d.push(a, b);
        }
        d
    }

    /// Adds the pair `(a, b)`.
    pub fn push(&mut self, a: f64, b: f64) {
        if !(a > 0.0 && b > 0.0) {
            return;
        }
        let d = (a / b).ln();
        // A ratio that overflows (1e308 ÷ 1e-308) says nothing a test can weigh.
        if !d.is_finite() {
            return;
        }
        self.n += 1;
        self.sum += d;
        if let Some(prev) = self.last {
            self.successive += (d - prev).powi(2);
        }
        self.last = Some(d);
    }

    /// Points used.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Mean of d (NaN without points).
    pub fn mean(&self) -> f64 {
        self.sum / self.n as f64
    }

    /// Σ(dᵢ₊₁ − dᵢ)² over the points in order.
    pub fn successive(&self) -> f64 {
        self.successive
    }
}

impl Overlap {
    /// The run's loss ÷ the reference's at the end of the overlap: the ratio of the two values
    /// printed beside it.
    pub fn ratio_at_end(&self) -> f64 {
        self.run_at_end / self.reference_at_end
    }
}

/// Where both runs first reach a common target loss.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// The target loss.
    pub loss: f64,
    /// Samples (or the data axis) and steps at which each reached it.
    pub reference_samples: f64,
    pub run_samples: f64,
    pub reference_steps: f64,
    pub run_steps: f64,
}

/// One run compared with the reference.
#[derive(Debug, Clone, PartialEq)]
pub struct Pair {
    /// Index of the reference run.
    pub reference: usize,
    /// Index of the compared run.
    pub run: usize,
    /// On the data axis (samples, else epoch).
    pub by_data: Option<Overlap>,
    /// On optimizer steps.
    pub by_steps: Option<Overlap>,
    /// Samples- and steps-to-target.
    pub target: Option<Target>,
}

impl Pair {
    /// `runs[reference]` and `runs[run]` compared on `data_axis` (samples, else epoch) and on
    /// steps: for a check that judges two runs neither of which is the baseline.
    pub fn between(runs: &[Run], reference: usize, run: usize, data_axis: Axis) -> Pair {
        let (a, b) = rayon::join(
            || TargetCurves::of(&runs[reference], data_axis),
            || TargetCurves::of(&runs[run], data_axis),
        );
        Pair::of(reference, &a, run, &b, data_axis)
    }

    fn of(
        reference: usize,
        ref_curves: &TargetCurves,
        run: usize,
        run_curves: &TargetCurves,
        data_axis: Axis,
    ) -> Pair {
        Pair {
            reference,
            run,
            by_data: overlap(&ref_curves.data, &run_curves.data, data_axis),
            by_steps: overlap(&ref_curves.steps, &run_curves.steps, Axis::Step),
            target: target(ref_curves, run_curves),
        }
    }
}

/// All runs on a common axis.
#[derive(Debug, Clone, PartialEq)]
pub struct Aligned {
    /// The axis actually used (after fallback).
    pub axis: Axis,
    /// The data axis used for "matched samples" comparisons (samples, else epoch).
    pub data_axis: Axis,
    /// Each non-reference run against the reference.
    pub pairs: Vec<Pair>,
    /// Why an axis fell back, and similar notes.
    pub warnings: Vec<String>,
    /// Smoothing weight in use.
    pub smooth: Option<f64>,
}

/// Aligns runs against `runs[reference]`.
pub fn align(runs: &[Run], reference: usize, opts: AlignOptions) -> Aligned {
    let mut warnings = Vec::new();
    let axis = pick_axis(runs, opts.axis.chain());
    if axis != opts.axis {
        // Which runs lack the axis, and for samples seen, the --set that gives it.
        let lacking: Vec<std::borrow::Cow<'_, str>> = runs
            .iter()
            .filter(|r| !on_axis(r, opts.axis))
            .map(|r| crate::model::shell_label(&r.label))
            .collect();
        // One --set per run that lacks it: each run's batch is its own fact.
        let set = match (opts.axis, lacking.as_slice()) {
            (Axis::Samples, [one]) => format!(" (--set {one}:effective_batch=N gives them)"),
            (Axis::Samples, few @ [_, _] | few @ [_, _, _]) => {
                let sets: Vec<String> = few
                    .iter()
                    .map(|label| format!("--set {label}:effective_batch=N"))
                    .collect();
                format!(" ({} give them)", sets.join(" "))
            }
            (Axis::Samples, [first, ..]) => format!(
                " (one --set RUN:effective_batch=N per run gives them, e.g. --set {first}:effective_batch=N)"
            ),
            _ => String::new(),
        };
        let asked = if opts.chosen {
            format!("--x {}: ", opts.axis.name())
        } else {
            String::new()
        };
        warnings.push(format!(
            "{asked}{} unknown for {}{set}; the charts use {} instead",
            opts.axis.amount(),
            lacking.join(", "),
            axis.label()
        ));
    }
    let data_axis = pick_axis(runs, Axis::Samples.chain());
    // The reference's curves on the data axis and on steps, shared by every pair. Comparisons
    // use the values as logged (`overlap` reads `ys`, never smoothed values): `--smooth` changes
    // what is drawn, never a finding.
    let pairs = if runs.len() < 2 {
        Vec::new()
    } else {
        // Each run's loss on both axes, built once for its overlaps (as logged) and its target
        // (smoothed).
        let ref_curves = TargetCurves::of(&runs[reference], data_axis);
        (0..runs.len())
            .into_par_iter()
            .filter(|&i| i != reference)
            .map(|i| {
                let run_curves = TargetCurves::of(&runs[i], data_axis);
                Pair::of(reference, &ref_curves, i, &run_curves, data_axis)
            })
            .collect()
    };
    Aligned {
        axis,
        data_axis,
        pairs,
        warnings,
        smooth: opts.smooth,
    }
}

fn pick_axis(runs: &[Run], chain: &[Axis]) -> Axis {
    chain
        .iter()
        .copied()
        .find(|&a| runs.iter().all(|r| on_axis(r, a)))
        .unwrap_or(Axis::Step)
}

/// Whether a run's loss can be placed on `axis` (a run without a loss does not hold it back).
fn on_axis(run: &Run, axis: Axis) -> bool {
    run.loss()
        .is_none_or(|s| s.points.iter().any(|p| axis.of(p).is_some()))
}

/// The smoothing unit: 1/100 of the widest x range among all runs, so every run is smoothed on
/// the same scale.
pub fn smoothing_unit(runs: &[Run], axis: Axis) -> f64 {
    runs.iter()
        .filter_map(|r| r.loss())
        .filter_map(|s| s.points.iter().rev().find_map(|p| axis.of(p)))
        .fold(0.0, f64::max)
        / 100.0
}

/// A run's training-loss curve on an axis, smoothed with weight `w` if given.
pub fn curve(run: &Run, axis: Axis, w: Option<f64>, all: &[Run]) -> Curve {
    metric_curve(run, "loss", axis, w, all)
}

/// A run's curve of any metric on an axis, smoothed with weight `w` if given (on the same unit
/// as the loss curves, so every chart of a report is smoothed alike).
pub fn metric_curve(run: &Run, metric: &str, axis: Axis, w: Option<f64>, all: &[Run]) -> Curve {
    let Some(series) = run.series.get(metric) else {
        return Curve::default();
    };
    let mut c = Curve::of(&series.points, axis);
    if let Some(w) = w {
        c.smoothed = ema(&c.xs, &c.ys, w, smoothing_unit(all, axis));
    }
    c
}

/// The two curves compared on their common range, as logged.
fn overlap(reference: &Curve, run: &Curve, axis: Axis) -> Option<Overlap> {
    let (a0, a1) = reference.range()?;
    let (b0, b1) = run.range()?;
    let (start, end) = (a0.max(b0), a1.min(b1));
    if end <= start {
        return None;
    }
    const GRID: usize = 200;
    let grid: Vec<f64> = (0..=GRID)
        .map(|i| start + (end - start) * i as f64 / GRID as f64)
        .collect();
    let (mut on_run, mut on_reference) = (Walk::new(run), Walk::new(reference));
    let pairs: Vec<(f64, f64, f64)> = grid
        .iter()
        .filter_map(|&x| Some((x, on_run.at(x)?, on_reference.at(x)?)))
        .collect();
    let last_from = end - (end - start) * LAST_PART;
    let last: Vec<&(f64, f64, f64)> = pairs.iter().filter(|p| p.0 >= last_from).collect();
    let log_ratio = |ps: &[&(f64, f64, f64)]| {
        let v: Vec<f64> = ps
            .iter()
            .filter(|p| p.1 > 0.0 && p.2 > 0.0)
            .map(|p| (p.1 / p.2).ln())
            .collect();
        if v.is_empty() {
            f64::NAN
        } else {
            (v.iter().sum::<f64>() / v.len() as f64).exp()
        }
    };
    let all: Vec<&(f64, f64, f64)> = pairs.iter().collect();
    // The test reads the last half at the logged points of the run that logged fewer there,
    // the other interpolated: whichever is the reference, the same points (a run three lines
    // into training is not tested on the other run's hundred).
    let half_from = end - (end - start) * 0.5;
    let logged = |c: &Curve| c.xs.iter().filter(|&&x| x >= half_from && x <= end).count();
    let run_sparser = logged(run) <= logged(reference);
    let (sampled, other) = if run_sparser {
        (run, reference)
    } else {
        (reference, run)
    };
    let mut run_over_reference = LogRatios::default();
    let mut reference_over_run = LogRatios::default();
    let mut on_other = Walk::new(other);
    for (&x, &y) in sampled.xs.iter().zip(&sampled.ys) {
        if x >= half_from && x <= end {
            if let Some(o) = on_other.at(x) {
                let (r, u) = if run_sparser { (o, y) } else { (y, o) };
                run_over_reference.push(u, r);
                reference_over_run.push(r, u);
            }
        }
    }
    Some(Overlap {
        axis,
        start,
        end,
        last_from,
        reference_at_end: reference.raw_at(end)?,
        run_at_end: run.raw_at(end)?,
        ratio_last: log_ratio(&last),
        gap_last: last.iter().map(|p| p.1 - p.2).sum::<f64>() / last.len().max(1) as f64,
        ratio_all: log_ratio(&all),
        mean_abs_gap: pairs.iter().map(|p| (p.1 - p.2).abs()).sum::<f64>()
            / pairs.len().max(1) as f64,
        run_over_reference,
        reference_over_run,
    })
}

/// A run's loss curves on the data axis and on steps, as logged (what the overlaps compare),
/// and its loss smoothed for the target comparison ([`Reach`]).
struct TargetCurves {
    data: Curve,
    steps: Curve,
    reach: Reach,
}

impl TargetCurves {
    fn of(run: &Run, data_axis: Axis) -> Self {
        let Some(series) = run.series.get("loss") else {
            return TargetCurves {
                data: Curve::default(),
                steps: Curve::default(),
                reach: Reach::default(),
            };
        };
        TargetCurves {
            data: Curve::of(&series.points, data_axis),
            steps: Curve::of(&series.points, Axis::Step),
            reach: Reach::of(&series.points, data_axis),
        }
    }
}

/// A run's logged losses for "when did it reach loss L": each point's step and data-axis
/// position, and its loss smoothed over its neighbouring points — an average of the points
/// run forward and backward (weight [`TARGET_SMOOTHING`] per logged point), so the smoothing
/// neither lags nor depends on an axis. Samples and steps to a target are read at the same
/// crossing, so they agree (samples = steps × the batch).
#[derive(Debug, Default)]
struct Reach {
    steps: Vec<f64>,
    data: Vec<f64>,
    smoothed: Vec<f64>,
}

impl Reach {
    fn of(points: &Points, data_axis: Axis) -> Self {
        let (mut steps, mut data, mut ys) = (Vec::new(), Vec::new(), Vec::new());
        for p in points.iter() {
            let (Some(d), Some(s)) = (data_axis.of(p), Axis::Step.of(p)) else {
                continue;
            };
            if p.value.is_finite() && d.is_finite() && s.is_finite() {
                steps.push(s);
                data.push(d);
                ys.push(p.value);
            }
        }
        let smoothed = target_smoothing(&ys);
        Reach {
            steps,
            data,
            smoothed,
        }
    }

    fn best(&self) -> Option<f64> {
        self.smoothed.iter().copied().reduce(f64::min)
    }

    /// Where the smoothed loss first reaches `loss`, between the two logged points around the
    /// crossing: (data-axis position, step). `None` when it never does, or is there already at
    /// its first logged point: then when it got there is not known (a log that starts at step
    /// 500, or a loss already below at step 0), and "0 vs 66 steps" would be no measurement.
    fn first_below(&self, loss: f64) -> Option<(f64, f64)> {
        let c = Crossing::of(&self.smoothed, loss).filter(|c| c.after > 0)?;
        Some((c.at(&self.data), c.at(&self.steps)))
    }
}

/// A run's logged losses, in order, smoothed for "when did it first reach loss L" — here and
/// in the sweep's fit: the average of an EMA run forward and one run backward (weight
/// [`TARGET_SMOOTHING`] per logged point), so one noisy dip does not count as reaching the
/// target and the smoothing does not lag (a forward EMA alone would put every crossing later
/// by a number of logged points, so by more steps in a run that logs less often).
pub fn target_smoothing(ys: &[f64]) -> Vec<f64> {
    let w = TARGET_SMOOTHING;
    let run = |ys: &mut dyn Iterator<Item = &f64>| -> Vec<f64> {
        let mut e: Option<f64> = None;
        ys.map(|&y| {
            let v = e.map_or(y, |e| w * e + (1.0 - w) * y);
            e = Some(v);
            v
        })
        .collect()
    };
    let forward = run(&mut ys.iter());
    let mut backward = run(&mut ys.iter().rev());
    backward.reverse();
    forward
        .iter()
        .zip(&backward)
        .map(|(f, b)| 0.5 * (f + b))
        .collect()
}

/// Where a smoothed curve first reaches a loss: between its logged points `after - 1` and
/// `after`, a fraction `t` of the way (linear); at the first point when that one is already
/// there.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Crossing {
    after: usize,
    t: f64,
}

impl Crossing {
    /// The first crossing of `loss` by `smoothed`, or `None` when it never gets there.
    pub fn of(smoothed: &[f64], loss: f64) -> Option<Crossing> {
        let after = smoothed.iter().position(|&y| y <= loss)?;
        if after == 0 {
            return Some(Crossing { after, t: 0.0 });
        }
        let (y0, y1) = (smoothed[after - 1], smoothed[after]);
        Some(Crossing {
            after,
            t: (y0 - loss) / (y0 - y1),
        })
    }

    /// The crossing's position on an axis given per point (steps, samples).
    pub fn at(&self, v: &[f64]) -> f64 {
        match self.after {
            0 => v[0],
            i => v[i - 1] + (v[i] - v[i - 1]) * self.t,
        }
    }
}

fn target(reference: &TargetCurves, run: &TargetCurves) -> Option<Target> {
    let (r, u) = (&reference.reach, &run.reach);
    let loss = r.best()?.max(u.best()?) * TARGET_MARGIN;
    let (reference_samples, reference_steps) = r.first_below(loss)?;
    let (run_samples, run_steps) = u.first_below(loss)?;
    Some(Target {
        loss,
        reference_samples,
        run_samples,
        reference_steps,
        run_steps,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reduced log-ratios hold what a pass over the collected ratios gives, bit for bit:
    /// the points left out (not positive, overflowing) skipped, the successive differences
    /// taken between the points kept.
    #[test]
    fn log_ratios_reduce_as_the_collected_ratios_do() {
        let pairs = [
            (2.0, 1.0),
            (0.0, 1.0),
            (1.5, 1.1),
            (1e308, 1e-308),
            (0.9, -1.0),
            (1.25, 0.7),
            (f64::NAN, 1.0),
            (3.0, 0.3),
        ];
        let d: Vec<f64> = pairs
            .iter()
            .filter(|p| p.0 > 0.0 && p.1 > 0.0)
            .map(|p| (p.0 / p.1).ln())
            .filter(|d| d.is_finite())
            .collect();
        let r = LogRatios::of(pairs);
        assert_eq!(r.n(), 4);
        assert_eq!(r.mean(), d.iter().sum::<f64>() / d.len() as f64);
        let successive: f64 = d.windows(2).map(|w| (w[1] - w[0]).powi(2)).sum();
        assert_eq!(r.successive(), successive);
        assert!(LogRatios::default().mean().is_nan());
        assert_eq!(LogRatios::of([(1.0, 2.0)]).successive(), 0.0);
    }

    /// Lookups in any order (growing, repeated, going back, outside the curve, NaN) on
    /// curves of uneven steps: the walk gives what a binary search gives, bit for bit.
    #[test]
    fn a_walk_along_a_curve_reads_as_a_lookup_does() {
        use proptest::prelude::*;
        let curve = prop::collection::vec((0.01f64..5.0, -3.0f64..3.0), 0..40);
        let xs = prop::collection::vec(
            prop_oneof![8 => -1.0f64..120.0, 1 => Just(f64::NAN), 1 => Just(0.0)],
            0..60,
        );
        let config = proptest::test_runner::Config {
            cases: 512,
            failure_persistence: None,
            ..Default::default()
        };
        proptest::test_runner::TestRunner::new(config)
            .run(&(curve, xs, any::<bool>()), |(steps, mut at, sorted)| {
                let mut x = 0.0;
                let mut c = Curve::default();
                for (dx, y) in steps {
                    c.xs.push(x);
                    c.ys.push(y);
                    x += dx;
                }
                if sorted {
                    at.sort_by(f64::total_cmp);
                }
                let mut walk = Walk::new(&c);
                for x in at {
                    let (a, b) = (walk.at(x), c.raw_at(x));
                    prop_assert_eq!(a.map(f64::to_bits), b.map(f64::to_bits), "{}", x);
                }
                Ok(())
            })
            .expect("the walk agrees");
    }

    #[test]
    fn interpolation_never_extrapolates() {
        let xs = [0.0, 10.0, 20.0];
        let ys = [1.0, 0.5, 0.0];
        assert_eq!(interpolate(&xs, &ys, 5.0), Some(0.75));
        assert_eq!(interpolate(&xs, &ys, 20.0), Some(0.0));
        assert_eq!(interpolate(&xs, &ys, 20.1), None);
        assert_eq!(interpolate(&xs, &ys, -1.0), None);
        assert_eq!(interpolate(&[], &[], 1.0), None);
        assert_eq!(interpolate(&[3.0], &[7.0], 3.0), Some(7.0));
        // Issue 13: NaN anywhere gives None, not an index out of bounds.
        assert_eq!(interpolate(&[f64::NAN, 1.0], &[1.0, 2.0], 0.5), None);
        assert_eq!(interpolate(&[0.0, f64::NAN], &[1.0, 2.0], 0.5), None);
        assert_eq!(interpolate(&xs, &ys, f64::NAN), None);
        assert_eq!(interpolate(&xs, &ys[..1], 5.0), None);
    }

    #[test]
    fn ema_is_debiased_and_density_independent() {
        let s = ema(&[0.0, 1.0], &[4.0, 2.0], 0.5, 1.0);
        assert_eq!(s[0], 4.0, "the first value is kept");
        assert!((s[1] - (4.0 * 0.5 + 2.0) / 1.5).abs() < 1e-12);
        // The same signal sampled twice as densely ends at nearly the same smoothed value.
        let xs1: Vec<f64> = (0..=100).map(f64::from).collect();
        let xs2: Vec<f64> = (0..=200).map(|i| f64::from(i) / 2.0).collect();
        let f = |x: f64| (-x / 30.0).exp();
        let a = ema(
            &xs1,
            &xs1.iter().map(|&x| f(x)).collect::<Vec<_>>(),
            0.6,
            1.0,
        );
        let b = ema(
            &xs2,
            &xs2.iter().map(|&x| f(x)).collect::<Vec<_>>(),
            0.6,
            1.0,
        );
        assert!(
            (a[100] - b[200]).abs() < 0.01 * a[100],
            "{} vs {}",
            a[100],
            b[200]
        );
    }

    fn pts(xs: &[f64], ys: &[f64]) -> Vec<Point> {
        xs.iter()
            .zip(ys)
            .map(|(&x, &y)| Point {
                samples: Some(x * 10.0).into(),
                ..Point::at_step(x, y, 1)
            })
            .collect()
    }

    #[test]
    fn curves_skip_nan_and_repeated_x() {
        let c = Curve::new(
            pts(&[1.0, 2.0, 2.0, 3.0], &[1.0, f64::NAN, 0.5, 0.25]),
            Axis::Step,
        );
        assert_eq!(c.xs, vec![1.0, 2.0, 3.0]);
        assert_eq!(c.ys, vec![1.0, 0.5, 0.25]);
        // Of finite values at one x the last is kept (epochs printed to two decimals: the
        // run's value at the end of a curve is its final one).
        let c = Curve::new(
            pts(&[1.0, 2.0, 2.0, 1.5, 2.0], &[1.0, 0.7, 0.5, 9.0, 0.4]),
            Axis::Step,
        );
        assert_eq!(c.xs, vec![1.0, 2.0]);
        assert_eq!(c.ys, vec![1.0, 0.4]);
        assert_eq!(c.raw_at(2.0), Some(0.4));
    }

    /// The columnar curve is the point-by-point one, on every axis, whatever is unknown.
    #[test]
    fn a_curve_read_from_the_columns_is_the_curve_of_the_points() {
        let mut points = pts(
            &[1.0, 2.0, 2.0, 3.0, 4.0, 5.0, f64::NAN, 7.0, 8.0],
            &[
                1.0,
                f64::NAN,
                0.5,
                0.25,
                f64::INFINITY,
                0.2,
                0.1,
                0.05,
                0.04,
            ],
        );
        points[3].epoch = Some(0.3).into();
        points[5].epoch = Some(0.2).into();
        points[7].epoch = Some(0.7).into();
        points[8].epoch = Some(0.7).into();
        points[4].time = Some(4.0).into();
        points[8].time = Some(f64::INFINITY).into();
        points[7].samples = None.into();
        let points = Points::from(points);
        for axis in [
            Axis::Step,
            Axis::Epoch,
            Axis::Samples,
            Axis::Tokens,
            Axis::Time,
        ] {
            assert_eq!(
                Curve::of(&points, axis),
                Curve::new(&points, axis),
                "{axis:?}"
            );
        }
        assert_eq!(Curve::of(&points, Axis::Epoch).xs, vec![0.3, 0.7]);
        assert_eq!(Curve::of(&points, Axis::Epoch).ys, vec![0.25, 0.04]);
    }

    #[test]
    fn overlap_of_equal_curves_is_ratio_one_and_none_without_overlap() {
        let a = Curve::new(pts(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]), Axis::Step);
        let o = overlap(&a, &a, Axis::Step).expect("overlap");
        assert!((o.ratio_last - 1.0).abs() < 1e-12);
        assert_eq!(o.mean_abs_gap, 0.0);
        let b = Curve::new(pts(&[5.0, 6.0], &[1.0, 1.0]), Axis::Step);
        assert!(overlap(&a, &b, Axis::Step).is_none());
        let one = Curve::new(pts(&[2.0], &[1.0]), Axis::Step);
        assert!(
            overlap(&a, &one, Axis::Step).is_none(),
            "a single point has no width"
        );
    }

    #[test]
    fn a_crossing_interpolates_between_the_points_around_it() {
        let steps = [0.0, 10.0, 20.0];
        let c = Crossing::of(&[1.0, 0.5, 0.0], 0.25).expect("reached");
        assert_eq!(c.at(&steps), 15.0);
        assert_eq!(
            Crossing::of(&[1.0, 0.5, 0.0], 0.5).map(|c| c.at(&steps)),
            Some(10.0)
        );
        assert_eq!(
            Crossing::of(&[1.0, 0.5, 0.0], 2.0).map(|c| c.at(&steps)),
            Some(0.0)
        );
        assert_eq!(Crossing::of(&[1.0, 0.5, 0.0], -1.0), None);
    }
}
