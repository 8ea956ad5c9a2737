//! The report's view, built once from the runs and their alignment and rendered by every
//! output (terminal, HTML, JSON, Markdown, the plot, the exports, the dataset): what each run
//! draws (curves on the report axis and on steps, its loss ÷ the baseline's, schedule markers),
//! each point's smoothed value, each series' summary (points, last, final = last finite, min,
//! non-finite count), and the configuration keys each output shows. Renderers compute none of
//! these themselves.

use std::collections::BTreeMap;
use std::sync::Arc;

use rayon::prelude::*;

use crate::align::{Aligned, Axis, Curve, ema, metric_curve, smoothing_unit};
use crate::model::{Key, Point, Run, Summary};

/// The configuration keys every output always shows (JSON writes them `null` when unknown; the
/// terminal's run block lists them even when unknown).
pub const CORE_KEYS: [Key; 8] = [
    Key::WorldSize,
    Key::PerDeviceBatch,
    Key::GradAccum,
    Key::EffectiveBatch,
    Key::LearningRate,
    Key::NumExamples,
    Key::Epochs,
    Key::TotalSteps,
];

/// The keys of the runs table (HTML and Markdown): the batch factors, the learning rate, the
/// steps.
pub const TABLE_KEYS: [Key; 6] = [
    Key::WorldSize,
    Key::PerDeviceBatch,
    Key::GradAccum,
    Key::EffectiveBatch,
    Key::LearningRate,
    Key::TotalSteps,
];

/// A [`TABLE_KEYS`] cell of a run in the runs tables: the value, or for the optimizer steps of
/// a run whose logs stop short of them, where it stopped ("211 of 500000"), and of a run
/// stopped early, where its end-of-training summary says it ended ("200 of 384 (stopped
/// early)"); `None` when unknown.
pub fn table_value(run: &crate::model::Run, key: Key) -> Option<String> {
    let v = run.config.get(key)?;
    let of = |at: f64| format!("{} of {}", crate::model::format_number(at), v.value);
    // A value no file or option gave is marked as such wherever a table shows it (a plan's
    // world size when nothing names one).
    let assumed = if matches!(v.source, crate::model::Provenance::Assumed(_)) {
        " (assumed)"
    } else {
        ""
    };
    let shown = match (key, run.stopped_short(), run.stopped_early) {
        (Key::TotalSteps, Some((last, _)), _) => of(last),
        (Key::TotalSteps, None, Some(at)) => format!("{} (stopped early)", of(at)),
        // No training loss and no end-of-training summary: the run stopped before its first
        // logged loss (a crash after the first evaluation), at the furthest step anything was
        // logged, not at its planned total.
        (Key::TotalSteps, None, None)
            if run.loss().is_none() && run.config.get(Key::TrainRuntime).is_none() =>
        {
            let reached = run
                .series
                .values()
                .filter_map(|s| s.points.last().map(|p| p.step))
                .filter(|s| s.is_finite())
                .reduce(f64::max);
            match (reached, run.config.num(Key::TotalSteps)) {
                (Some(at), Some(total)) if at < total => of(at),
                _ => v.value.to_string(),
            }
        }
        _ => v.value.to_string(),
    };
    Some(format!("{shown}{assumed}"))
}

/// A [`TABLE_KEYS`] column's title in the runs tables.
pub fn title(key: Key) -> &'static str {
    match key {
        Key::WorldSize => "world size",
        Key::PerDeviceBatch => "per-device batch",
        Key::GradAccum => "grad accum",
        Key::EffectiveBatch => "effective batch",
        Key::LearningRate => "learning rate",
        Key::TotalSteps => "optimizer steps",
        other => other.name(),
    }
}

/// Everything the outputs render beyond the runs, the findings and the verdict.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct View {
    /// What each run draws, by run index; empty when no output draws charts.
    pub plots: Vec<RunPlots>,
    /// Per run, per metric: each point's smoothed value on the report axis (NaN where the point
    /// is not finite or has no coordinate), index-aligned with the series' points. Empty when
    /// smoothing is off (each value is its own smoothed value) or no output exports points.
    pub smoothed: Vec<BTreeMap<String, Vec<f64>>>,
    /// Per run, per metric: the series' summary.
    pub summaries: Vec<BTreeMap<String, Summary>>,
}

/// The parts of the view the requested outputs render; the others are not built (a run's
/// curves are most of the view's cost on a long run).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Needs {
    /// The page or the plot: each run's curves, ratios and markers.
    pub charts: bool,
    /// The point exports (CSV, Parquet, the dataset): each point's smoothed value.
    pub points: bool,
}

impl Needs {
    /// Every part.
    pub const ALL: Needs = Needs {
        charts: true,
        points: true,
    };
}

impl View {
    /// Builds the parts `needs` names of the view of `runs` as aligned against
    /// `runs[reference]`.
    pub fn build(runs: &[Run], aligned: &Aligned, reference: usize, needs: Needs) -> View {
        let (axis, data_axis, smooth) = (aligned.axis, aligned.data_axis, aligned.smooth);
        let mut plots: Vec<RunPlots> = if needs.charts {
            (0..runs.len())
                .into_par_iter()
                .map(|i| plots(runs, i, axis, data_axis, smooth))
                .collect()
        } else {
            Vec::new()
        };
        if let Some(base) = plots.get(reference).map(|p| p.loss.clone()) {
            let ratios: Vec<Vec<(f64, f64)>> = plots
                .par_iter()
                .enumerate()
                .map(|(i, p)| {
                    if i == reference {
                        Vec::new()
                    } else {
                        ratio(&p.loss, &base)
                    }
                })
                .collect();
            for (p, r) in plots.iter_mut().zip(ratios) {
                p.ratio = r;
            }
        }
        let smoothed = runs
            .par_iter()
            .map(|r| smoothed_values(runs, r, axis, smooth.filter(|_| needs.points)))
            .collect();
        let summaries = runs
            .par_iter()
            .map(|r| {
                r.series
                    .par_iter()
                    .map(|(name, s)| (name.clone(), s.summary()))
                    .collect()
            })
            .collect();
        View {
            plots,
            smoothed,
            summaries,
        }
    }

    /// Run `i`'s summary of `metric`, if it logged it.
    pub fn summary(&self, i: usize, metric: &str) -> Option<&Summary> {
        self.summaries.get(i)?.get(metric)
    }
}

/// A vertical marker on a chart: the end of warmup or of an epoch.
#[derive(Debug, Clone, PartialEq)]
pub struct Marker {
    /// Position on the chart's axis.
    pub x: f64,
    /// What it marks (`warmup end`, `epoch 1`).
    pub label: String,
}

/// What a report draws for one run: curves on the report axis (and the loss on steps), the
/// ratio of its loss to the reference's, and schedule markers.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunPlots {
    /// Training loss on the report axis (the same curve as `loss_data` or `loss_steps` when the
    /// report axis is one of theirs: built once, shared).
    pub loss: Arc<Curve>,
    /// Training loss on optimizer steps.
    pub loss_steps: Arc<Curve>,
    /// Training loss on the data axis (samples seen, else epoch): the headline pair with
    /// `loss_steps`, whatever the report axis.
    pub loss_data: Arc<Curve>,
    /// Eval loss on the report axis.
    pub eval_loss: Curve,
    /// Learning rate on the report axis.
    pub learning_rate: Curve,
    /// Grad norm on the report axis.
    pub grad_norm: Curve,
    /// (x, run loss ÷ reference loss) at the run's logged points within the reference's range;
    /// empty for the reference itself.
    pub ratio: Vec<(f64, f64)>,
    /// Warmup end and epoch ends on the report axis, and on steps.
    pub markers: Vec<Marker>,
    pub markers_steps: Vec<Marker>,
}

/// Draws at most this many epoch markers per run; more would hide the curves.
const MAX_EPOCH_MARKERS: usize = 10;

/// Run `i`'s curves for the charts (the ratio to the reference is filled in by the caller).
fn plots(runs: &[Run], i: usize, axis: Axis, data_axis: Axis, smooth: Option<f64>) -> RunPlots {
    let run = &runs[i];
    let on = |m: &str, a: Axis| metric_curve(run, m, a, smooth, runs);
    let loss_steps = Arc::new(on("loss", Axis::Step));
    let loss_data = if data_axis == Axis::Step {
        Arc::clone(&loss_steps)
    } else {
        Arc::new(on("loss", data_axis))
    };
    let loss = match axis {
        a if a == data_axis => Arc::clone(&loss_data),
        Axis::Step => Arc::clone(&loss_steps),
        a => Arc::new(on("loss", a)),
    };
    RunPlots {
        loss_steps,
        loss_data,
        eval_loss: on("eval_loss", axis),
        learning_rate: on("learning_rate", axis),
        grad_norm: on("grad_norm", axis),
        markers: markers(run, axis),
        markers_steps: markers(run, Axis::Step),
        loss,
        ratio: Vec::new(),
    }
}

/// A run's loss divided by the reference's at the same x, where the reference is positive.
fn ratio(loss: &Curve, base: &Curve) -> Vec<(f64, f64)> {
    loss.xs
        .iter()
        .zip(&loss.ys)
        .filter_map(|(&x, &y)| Some((x, y / base.at(x).filter(|b| *b > 0.0)?)))
        .collect()
}

/// Warmup end and epoch ends of a run, placed on an axis through the run's own points (so the
/// same conversion from steps as its curves).
fn markers(run: &Run, axis: Axis) -> Vec<Marker> {
    use crate::model::Key;
    let Some(series) = run.loss() else {
        return Vec::new();
    };
    // Linear between the two points around the step (points are sorted by step), without
    // copying a long series into columns.
    let points = &series.points;
    let on_axis = |p: &Point| axis.of(p).unwrap_or(f64::NAN);
    let to_axis = |step: f64| -> Option<f64> {
        let (first, last) = (points.first()?.step, points.last()?.step);
        // A series kept on the epoch axis has no steps to place a marker by.
        if !(first.is_finite() && last.is_finite()) || step < first || step > last || step.is_nan()
        {
            return None;
        }
        let i = points.partition_point(|p| p.step < step);
        let b = points.get(i)?;
        let x = if b.step == step {
            on_axis(&b)
        } else {
            let a = points.get(i.checked_sub(1)?)?;
            on_axis(&a) + (on_axis(&b) - on_axis(&a)) * (step - a.step) / (b.step - a.step)
        };
        Some(x).filter(|x| x.is_finite())
    };
    let mut out = Vec::new();
    let total = run.config.num(Key::TotalSteps);
    let warmup = run
        .config
        .num(Key::WarmupSteps)
        .or_else(|| Some(run.config.num(Key::WarmupRatio)? * total?));
    if let Some(x) = warmup.filter(|w| *w > 0.0).and_then(|w| to_axis(w.ceil())) {
        out.push(Marker {
            x,
            label: "warmup end".into(),
        });
    }
    if let Some(spe) = run.config.num(Key::StepsPerEpoch) {
        let epochs = total.map_or(0.0, |t| (t / spe).floor()) as usize;
        if epochs <= MAX_EPOCH_MARKERS {
            for e in 1..epochs {
                if let Some(x) = to_axis(e as f64 * spe) {
                    out.push(Marker {
                        x,
                        label: format!("epoch {e}"),
                    });
                }
            }
        }
    }
    out
}

/// Each point's smoothed value on `axis` (the same EMA and unit as the curves, `align::ema`),
/// index-aligned with the series' points; NaN where a point has no coordinate or value.
fn smoothed_values(
    runs: &[Run],
    run: &Run,
    axis: Axis,
    w: Option<f64>,
) -> BTreeMap<String, Vec<f64>> {
    let Some(w) = w else {
        return BTreeMap::new();
    };
    let unit = smoothing_unit(runs, axis);
    run.series
        .iter()
        .map(|(name, s)| {
            let at: Vec<(usize, f64, f64)> = s
                .points
                .iter()
                .enumerate()
                .filter_map(|(i, p)| Some((i, axis.of(p)?, p.value)).filter(|t| t.2.is_finite()))
                .collect();
            let xs: Vec<f64> = at.iter().map(|t| t.1).collect();
            let ys: Vec<f64> = at.iter().map(|t| t.2).collect();
            let mut vals = vec![f64::NAN; s.points.len()];
            for (&(i, ..), v) in at.iter().zip(ema(&xs, &ys, w, unit)) {
                vals[i] = v;
            }
            (name.clone(), vals)
        })
        .collect()
}
