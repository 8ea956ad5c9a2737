//! One series per metric from all of a run's files. The file of the highest-priority format that
//! holds a metric wins (trainer state, then LLaMA-Factory jsonl, then stdout, then results
//! files); points other files logged after the winner's last step are appended (a crashed run's
//! stdout outlives its last checkpoint). Within a file a step logged twice keeps its last
//! occurrence (the latest segment of a resumed run). Every point gets epoch, samples seen,
//! tokens and time where they can be computed.

use std::collections::{BTreeMap, HashMap};

use super::ReadFile;
use crate::model::{Key, Locator, Point, RunConfig, Series};

/// One file's points of one metric: file index, how steps were known, points, duplicates dropped.
type Holder = (usize, &'static str, Vec<Raw>, usize);

/// A point before the run-wide axes are computed.
struct Raw {
    step: f64,
    epoch: Option<f64>,
    time: Option<f64>,
    tokens: Option<f64>,
    value: f64,
    line: u32,
}

/// Builds the run's series.
pub fn merge(
    files: &[ReadFile],
    cfg: &RunConfig,
    warnings: &mut Vec<String>,
) -> BTreeMap<String, Series> {
    let spe = cfg.num(Key::StepsPerEpoch);
    let last_step = files
        .iter()
        .flat_map(|f| &f.parsed.records)
        .filter_map(|r| r.step)
        .fold(0.0, f64::max);

    // metric -> [(file index, step origin, points)]
    let mut by_metric: BTreeMap<&str, Vec<Holder>> = BTreeMap::new();
    let mut order: Vec<usize> = (0..files.len()).collect();
    order.sort_by(|&a, &b| {
        files[a]
            .format
            .cmp(&files[b].format)
            .then(files[a].path.cmp(&files[b].path))
    });
    for &fi in &order {
        let file = &files[fi];
        let mut unplaced = 0;
        let mut per_metric: BTreeMap<&str, (&'static str, Vec<Raw>)> = BTreeMap::new();
        for rec in &file.parsed.records {
            let (step, origin) = match (rec.step, rec.step_origin) {
                (Some(s), origin) => (s, origin.unwrap_or("logged")),
                (None, Some(origin))
                    if origin.starts_with("end of training") && last_step > 0.0 =>
                {
                    (last_step, origin)
                }
                (None, _) => match (rec.epoch, spe) {
                    (Some(e), Some(spe)) => (
                        (e * spe).round(),
                        "epoch × steps per epoch (run configuration)",
                    ),
                    _ => {
                        unplaced += 1;
                        continue;
                    }
                },
            };
            for (name, value) in &rec.metrics {
                let entry = per_metric
                    .entry(name.as_str())
                    .or_insert((origin, Vec::new()));
                entry.1.push(Raw {
                    step,
                    epoch: rec.epoch,
                    time: rec.time,
                    tokens: rec.tokens,
                    value: *value,
                    line: rec.line,
                });
            }
        }
        if unplaced > 0 {
            warnings.push(format!(
                "{}: {unplaced} metric records have no step and no epoch to place them by; skipped (set steps with --set RUN:total_steps=N and epochs)",
                file.path
            ));
        }
        let mut dropped_steps: Vec<f64> = Vec::new();
        for (name, (origin, mut points)) in per_metric {
            let dropped = dedupe_keep_last(&mut points);
            let count = dropped.len();
            dropped_steps.extend(dropped);
            by_metric
                .entry(name)
                .or_default()
                .push((fi, origin, points, count));
        }
        if !dropped_steps.is_empty() {
            dropped_steps.sort_by(f64::total_cmp);
            dropped_steps.dedup();
            warnings.push(format!(
                "{}: steps {}–{} were logged more than once (a resumed run, two writers or two loggers); kept the latest of each, dropped {} earlier points",
                file.path,
                dropped_steps[0],
                dropped_steps[dropped_steps.len() - 1],
                dropped_steps.len()
            ));
        }
    }

    let times = side_channel(files, |r| r.time);
    let tokens = side_channel(files, |r| r.tokens);
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
        let points = points
            .into_iter()
            .map(|r| {
                let epoch = r.epoch.or_else(|| Some(r.step / spe?));
                Point {
                    step: r.step,
                    epoch,
                    samples: samples_at(cfg, r.step, epoch),
                    tokens: r.tokens.or_else(|| tokens.get(&r.step.to_bits()).copied()),
                    time: r.time.or_else(|| times.get(&r.step.to_bits()).copied()),
                    value: r.value,
                    line: r.line,
                }
            })
            .collect();
        out.insert(
            name.to_string(),
            Series {
                name: name.to_string(),
                points,
                source: files[wi].path.clone(),
                locator: if files[wi].format == super::Format::HfState {
                    Locator::LogHistoryEntry
                } else {
                    Locator::Line
                },
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
fn samples_at(cfg: &RunConfig, step: f64, epoch: Option<f64>) -> Option<f64> {
    if let Some(b) = cfg.num(Key::EffectiveBatch) {
        return Some(step * b);
    }
    Some(epoch? * cfg.num(Key::NumExamples)?)
}

/// Values (time, tokens) any file logged for a step, to fill the winner's points.
fn side_channel(
    files: &[ReadFile],
    pick: impl Fn(&super::Record) -> Option<f64>,
) -> HashMap<u64, f64> {
    let mut map = HashMap::new();
    for rec in files.iter().flat_map(|f| &f.parsed.records) {
        if let (Some(step), Some(v)) = (rec.step, pick(rec)) {
            map.insert(step.to_bits(), v);
        }
    }
    map
}

/// Sorts by step and keeps the last occurrence of each step (file order); returns the steps that
/// had earlier occurrences dropped.
fn dedupe_keep_last(points: &mut Vec<Raw>) -> Vec<f64> {
    let mut dropped = Vec::new();
    let mut kept: Vec<Raw> = Vec::with_capacity(points.len());
    // Walk backwards so the last occurrence is met first.
    let mut seen = std::collections::HashSet::new();
    for p in points.drain(..).rev() {
        if seen.insert(p.step.to_bits()) {
            kept.push(p);
        } else {
            dropped.push(p.step);
        }
    }
    kept.reverse();
    kept.sort_by(|a, b| a.step.total_cmp(&b.step));
    *points = kept;
    dropped
}
