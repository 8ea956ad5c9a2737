//! One series per metric from all of a run's files. The file of the highest-priority format that
//! holds a metric wins (trainer state, then LLaMA-Factory jsonl, then stdout, then results
//! files); points other files logged after the winner's last step are appended (a crashed run's
//! stdout outlives its last checkpoint). Within a file a step logged twice keeps its last
//! occurrence (the latest segment of a resumed run). Every point gets epoch, samples seen,
//! tokens and time where they can be computed.

use std::collections::{BTreeMap, HashMap};

use std::sync::Arc;

use super::{Name, ReadFile};
use crate::model::{Key, Point, RunConfig, Series};

/// One file's points of one metric: file index, how steps were known, points (with the axes the
/// file logged), duplicates dropped.
type Holder = (usize, &'static str, Vec<Point>, usize);

/// Builds the run's series. Each file's records are consumed (freed chunk by chunk) as they are
/// turned into points, so a large log is not held twice.
pub fn merge(
    label: &str,
    files: &mut [ReadFile],
    cfg: &RunConfig,
    warnings: &mut Vec<String>,
    unplaced_total: &mut usize,
) -> BTreeMap<String, Series> {
    let spe = cfg.num(Key::StepsPerEpoch);
    let logging = cfg.num(Key::LoggingSteps);
    let last_step = files
        .iter()
        .flat_map(|f| f.parsed.records.iter())
        .filter_map(|r| r.step)
        .fold(0.0, f64::max);

    let times = side_channel(files, |r| r.time);
    let tokens = side_channel(files, |r| r.tokens);
    let counted = side_channel(files, |r| r.samples);
    let epochs = side_channel(files, |r| r.epoch);
    let batch = cfg.num(Key::EffectiveBatch);
    let examples = cfg.num(Key::NumExamples);
    // Every axis a point can be placed on, from its record, else from another record of the same
    // step, else derived: done as each point is made (a second pass over a million points costs
    // as much again in memory traffic).
    let fill = |p: &mut Point| {
        if p.epoch.get().is_none() {
            p.epoch = lookup(&epochs, p.step)
                .or_else(|| Some(p.step / spe?))
                .into();
        }
        if p.samples.get().is_none() {
            p.samples = lookup(&counted, p.step)
                .or_else(|| samples_at(batch, examples, p.step, p.epoch.get()))
                .into();
        }
        if p.tokens.get().is_none() {
            p.tokens = lookup(&tokens, p.step).into();
        }
        if p.time.get().is_none() {
            p.time = lookup(&times, p.step).into();
        }
    };
    // metric -> [(file index, step origin, points)]
    let mut by_metric: BTreeMap<Name, Vec<Holder>> = BTreeMap::new();
    let mut order: Vec<usize> = (0..files.len()).collect();
    order.sort_by(|&a, &b| {
        files[a]
            .format
            .priority()
            .cmp(&files[b].format.priority())
            .then(files[a].path.cmp(&files[b].path))
    });
    for &fi in &order {
        let records = std::mem::take(&mut files[fi].parsed.records);
        let file = &files[fi];
        if records.nonfinite() > 0 {
            warnings.push(format!(
                "{}: {} records have a non-finite step, epoch, time, token or sample count (NaN or ±inf); those coordinates were dropped",
                file.path,
                records.nonfinite()
            ));
        }
        let mut unplaced = 0;
        // Dicts with epochs and no step, and nothing to place them by (no steps per epoch, no
        // logging interval): kept on the epoch axis, their steps unknown (NaN).
        let epoch_only = spe.is_none()
            && logging.is_none()
            && records.iter().all(|r| r.step.is_none())
            && records.iter().any(|r| r.epoch.is_some());
        let mut on_epochs = 0usize;
        // Training dicts placed by their number (see below).
        let mut dicts = 0usize;
        // A few metrics per file: a linear search, by pointer first (names are shared).
        // Name, how its steps were known, its points, and whether their steps only increased
        // (then they need no sort).
        let mut per_metric: Vec<(Name, &'static str, Vec<Point>, bool)> = Vec::new();
        // How many points each metric will hold, so that each vector is allocated once (one
        // grown by doubling leaves its outgrown copies resident: a third more peak memory).
        let mut counts: Vec<(&Name, usize)> = Vec::new();
        for rec in records.iter() {
            for (name, _) in rec.metrics {
                match counts
                    .iter_mut()
                    .find(|(n, _)| Arc::ptr_eq(n, name) || n == &name)
                {
                    Some((_, c)) => *c += 1,
                    None => counts.push((name, 1)),
                }
            }
        }
        let counts: Vec<(Name, usize)> = counts
            .into_iter()
            .map(|(n, c)| (Arc::clone(n), c))
            .collect();
        for chunk in records.into_chunks() {
            for rec in chunk.iter() {
                let (step, origin) = match (rec.step, rec.step_origin) {
                    (Some(s), origin) => (s, origin.unwrap_or("logged")),
                    (None, Some(origin))
                        if origin.starts_with("end of training") && last_step > 0.0 =>
                    {
                        (last_step, origin)
                    }
                    (None, _) => match (rec.epoch, spe, logging) {
                        (Some(e), Some(spe), _) => (
                            (e * spe).round(),
                            "epoch × steps per epoch (run configuration)",
                        ),
                        // Dicts without steps (stdout holding only the dicts): the n-th
                        // training dict was logged at step n × logging_steps; an eval dict
                        // shares the step of the training dict before it.
                        (_, _, Some(every)) => {
                            if rec.metrics.iter().any(|(n, _)| !n.starts_with("eval_")) {
                                dicts += 1;
                            }
                            (
                                dicts.max(1) as f64 * every,
                                "dict number × logging_steps (run configuration)",
                            )
                        }
                        _ if epoch_only && rec.epoch.is_some() => {
                            on_epochs += 1;
                            (f64::NAN, EPOCH_ONLY)
                        }
                        _ => {
                            unplaced += 1;
                            continue;
                        }
                    },
                };
                for (name, value) in rec.metrics {
                    let slot = per_metric
                        .iter()
                        .position(|(n, ..)| Arc::ptr_eq(n, name))
                        .or_else(|| per_metric.iter().position(|(n, ..)| n == name))
                        .unwrap_or_else(|| {
                            let expected = counts
                                .iter()
                                .find(|(n, _)| Arc::ptr_eq(n, name) || n == name)
                                .map_or(0, |(_, c)| *c);
                            let points = Vec::with_capacity(expected);
                            per_metric.push((Arc::clone(name), origin, points, true));
                            per_metric.len() - 1
                        });
                    let (_, _, points, increasing) = &mut per_metric[slot];
                    let behind = |p: &Point| {
                        if step.is_nan() {
                            p.epoch.get() >= rec.epoch
                        } else {
                            p.step >= step
                        }
                    };
                    if points.last().is_some_and(behind) {
                        *increasing = false;
                    }
                    let mut p = Point {
                        step,
                        epoch: rec.epoch.into(),
                        samples: rec.samples.into(),
                        tokens: rec.tokens.into(),
                        time: rec.time.into(),
                        value: *value,
                        line: rec.line,
                    };
                    fill(&mut p);
                    points.push(p);
                }
            }
        }
        if on_epochs > 0 {
            warnings.push(format!(
                "{}: {on_epochs} metric records with epochs but no steps, and nothing gives them (steps per epoch, a logging interval); kept on the epoch axis, steps unknown — add --set {label}:logging_steps=N or --set {label}:total_steps=N, or pass the trainer_state.json",
                file.path
            ));
        }
        if unplaced > 0 {
            *unplaced_total += unplaced;
            warnings.push(format!(
                "{}: {unplaced} metric records have no step, and nothing gives one (steps per epoch, a logging interval); skipped — add --set RUN:logging_steps=N or --set RUN:total_steps=N, or pass the trainer_state.json",
                file.path
            ));
        }
        per_metric.sort_by(|a, b| a.0.cmp(&b.0));
        let mut dropped_steps: Vec<f64> = Vec::new();
        // The metric that lost the most points, and how many: the warning's count.
        let mut most: Option<(Name, usize)> = None;
        for (name, origin, mut points, increasing) in per_metric {
            let dropped = if increasing {
                Vec::new()
            } else if origin == EPOCH_ONLY {
                dedupe_keep_last_by(&mut points, |p| p.epoch.get().unwrap_or(f64::NAN))
            } else {
                dedupe_keep_last(&mut points)
            };
            let count = dropped.len();
            if count > 0
                && most.as_ref().is_none_or(|(n, c)| {
                    count > *c || (count == *c && &*name == "loss" && &**n != "loss")
                })
            {
                most = Some((Arc::clone(&name), count));
            }
            dropped_steps.extend(dropped);
            by_metric
                .entry(name)
                .or_default()
                .push((fi, origin, points, count));
        }
        if !dropped_steps.is_empty() {
            dropped_steps.sort_by(f64::total_cmp);
            dropped_steps.dedup();
            let (name, points) = most.unwrap_or_else(|| ("loss".into(), 0));
            let unit = if epoch_only { "epoch" } else { "step" };
            warnings.push(format!(
                "{}: {unit}s {}–{} were logged more than once (a resumed run, two writers or two loggers); kept the latest at each of those {} {unit}s, dropped the earlier points ({points} of {name})",
                file.path,
                dropped_steps[0],
                dropped_steps[dropped_steps.len() - 1],
                dropped_steps.len()
            ));
        }
    }

    let mut out = BTreeMap::new();
    for (name, mut holders) in by_metric {
        let (wi, origin, mut points, dropped) = holders.remove(0);
        let mut extended = 0;
        let mut also_in = Vec::new();
        for (fi, _, other, _) in holders {
            also_in.push(files[fi].path.clone());
            let last = points.last().map_or(f64::NEG_INFINITY, |p| p.step);
            let before = points.len();
            points.extend(other.into_iter().filter(|p| p.step > last));
            extended += points.len() - before;
        }
        points.shrink_to_fit();
        out.insert(
            name.to_string(),
            Series {
                name: name.to_string(),
                points,
                source: files[wi].path.clone(),
                locator: files[wi].locator(),
                step_origin: origin.to_string(),
                also_in,
                extended,
                dropped_duplicates: dropped,
            },
        );
    }
    out
}

/// Samples seen at a step: step × effective batch, else epoch × examples.
fn samples_at(
    batch: Option<f64>,
    examples: Option<f64>,
    step: f64,
    epoch: Option<f64>,
) -> Option<f64> {
    if let Some(b) = batch {
        return Some(step * b);
    }
    Some(epoch? * examples?)
}

fn lookup(map: &HashMap<u64, f64>, step: f64) -> Option<f64> {
    if map.is_empty() {
        return None;
    }
    map.get(&step.to_bits()).copied()
}

/// Values (time, tokens, samples, epoch) any file logged for a step, to fill the points of
/// records that lack them; empty (and not built) when no metric record lacks the value.
fn side_channel(
    files: &[ReadFile],
    pick: impl Fn(&super::Rec<'_>) -> Option<f64>,
) -> HashMap<u64, f64> {
    let mut map = HashMap::new();
    let needed = files
        .iter()
        .flat_map(|f| f.parsed.records.iter())
        .any(|r| !r.metrics.is_empty() && pick(&r).is_none());
    if !needed {
        return map;
    }
    for rec in files.iter().flat_map(|f| f.parsed.records.iter()) {
        if let (Some(step), Some(v)) = (rec.step, pick(&rec)) {
            map.insert(step.to_bits(), v);
        }
    }
    map
}

/// Sorts by step and keeps the last occurrence of each step (file order); returns the steps that
/// had earlier occurrences dropped. A stable sort keeps equal steps in file order (and is linear
/// on the already sorted points of most logs).
fn dedupe_keep_last(points: &mut Vec<Point>) -> Vec<f64> {
    dedupe_keep_last_by(points, |p| p.step)
}

/// How the steps of a series kept on the epoch axis are known: they are not.
pub const EPOCH_ONLY: &str =
    "unknown: no step logged and nothing gives one; the points are on the epoch axis";

/// [`dedupe_keep_last`] by another coordinate (the epoch, for a series without steps); returns
/// the dropped points' keys.
fn dedupe_keep_last_by(points: &mut Vec<Point>, key: impl Fn(&Point) -> f64) -> Vec<f64> {
    points.sort_by(|a, b| key(a).total_cmp(&key(b)));
    let mut dropped = Vec::new();
    let mut kept = 0;
    for i in 0..points.len() {
        let last_of_step = points
            .get(i + 1)
            .is_none_or(|next| key(next).total_cmp(&key(&points[i])).is_ne());
        if last_of_step {
            points.swap(kept, i);
            kept += 1;
        } else {
            dropped.push(key(&points[i]));
        }
    }
    points.truncate(kept);
    dropped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dedupe_keeps_the_last_occurrence_of_each_step() {
        // A resumed run: steps 3 and 4 logged again after step 5.
        let mut points: Vec<Point> = [(1., 1.), (3., 3.), (4., 4.), (5., 5.), (3., 30.), (4., 40.)]
            .into_iter()
            .map(|(s, v)| Point::at_step(s, v, 0))
            .collect();
        let dropped = dedupe_keep_last(&mut points);
        let kept: Vec<(f64, f64)> = points.iter().map(|p| (p.step, p.value)).collect();
        assert_eq!(kept, vec![(1., 1.), (3., 30.), (4., 40.), (5., 5.)]);
        assert_eq!(dropped, vec![3., 4.]);
    }
}
