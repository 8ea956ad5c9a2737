//! One series per metric from all of a run's files. The file of the highest-priority format that
//! holds a metric wins (trainer state, then LLaMA-Factory jsonl, then stdout, then results
//! files); points other files logged after the winner's last step are appended (a crashed run's
//! stdout outlives its last checkpoint). Within a file a step logged twice keeps its last
//! occurrence (the latest segment of a resumed run). A results file's values sit at the last
//! step logged, or at their epoch when that is well away from it. Every point gets epoch,
//! samples seen, tokens and time where they can be computed.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{Name, ReadFile};
use crate::model::{Column, Coordinate, Frame, Key, Points, RunConfig, Series, falls_short};

/// One file's values of one metric: file index, how steps were known, the rows (of the file's
/// frame) and values in step order, and how many duplicates were dropped.
struct Holder {
    file: usize,
    origin: &'static str,
    rows: Vec<u32>,
    values: Vec<f64>,
    dropped: usize,
}

/// A series as the merge builds it: its points are the winner's (file, row) and value, then
/// those another file adds after the winner's last step (`more`), until the run's frame is
/// built and they become rows of it.
struct Shown {
    series: Series,
    winner: Holder,
    more: Vec<(usize, u32, f64)>,
}

/// Builds the run's series. Each file's rows are placed (steps, epochs, samples seen) in place,
/// and its metric columns become the series' points, moved, not rebuilt, when its steps only
/// increase. The run's frame then gets the rows the series show, and only those: the rows of a
/// file whose values another file's win (a jsonl or a stdout log beside the trainer state
/// that holds the same records) are freed with it, not kept to the end of the job.
pub fn merge(
    label: &str,
    files: &mut [ReadFile],
    cfg: &RunConfig,
    warnings: &mut Vec<String>,
    unplaced_total: &mut usize,
) -> BTreeMap<String, Series> {
    // As the --set the warnings suggest takes it.
    let label = crate::model::shell_label(label);
    let spe = cfg.num(Key::StepsPerEpoch);
    let logging = cfg.num(Key::LoggingSteps);
    let last_step = files
        .iter()
        .filter_map(|f| f.parsed.records.max(Coordinate::Step))
        .fold(0.0, f64::max);
    // The last step a file says training reached (a trainer state's `global_step`).
    let ended = files
        .iter()
        .filter_map(|f| f.parsed.stood?.step)
        .filter(|s| s.is_finite())
        .reduce(f64::max);

    let times = Channel::of(files, Coordinate::Time);
    let tokens = Channel::of(files, Coordinate::Tokens);
    let counted = Channel::of(files, Coordinate::Samples);
    let epochs = Channel::of(files, Coordinate::Epoch);
    let batch = cfg.num(Key::EffectiveBatch);
    let examples = cfg.num(Key::NumExamples);

    let mut by_metric: BTreeMap<Name, Vec<Holder>> = BTreeMap::new();
    let mut order: Vec<usize> = (0..files.len()).collect();
    order.sort_by(|&a, &b| {
        files[a]
            .format
            .priority()
            .cmp(&files[b].format.priority())
            .then(files[a].path.cmp(&files[b].path))
    });
    // Each file's rows, placed, by file index.
    let mut frames: Vec<Frame> = files.iter().map(|_| Frame::default()).collect();
    for &fi in &order {
        let mut frame = std::mem::take(&mut files[fi].parsed.records);
        // Room for the coordinates placed below.
        frame.reserve_rows(frame.len());
        let file = &files[fi];
        if frame.nonfinite() > 0 {
            warnings.push(format!(
                "{}: {} records have a non-finite step, epoch, time, token or sample count (NaN or ±inf); those coordinates were dropped",
                file.path,
                frame.nonfinite()
            ));
        }
        let columns = frame.take_columns();
        let n = frame.len();
        // Dicts with epochs and no step, and nothing to place them by (no steps per epoch, no
        // logging interval): kept on the epoch axis, their steps unknown (NaN).
        let epoch_only = spe.is_none()
            && logging.is_none()
            && frame.iter().all(|r| r.step.is_none())
            && frame.iter().any(|r| r.epoch.is_some());
        // Rows placed by their number (below) need to know which hold a training metric.
        let numbered = logging.is_some() && frame.iter().any(|r| r.step.is_none());
        let mut training = Vec::new();
        if numbered {
            training = vec![false; n];
            for col in columns.iter().filter(|c| !c.name.starts_with("eval_")) {
                for &r in &col.rows {
                    training[r as usize] = true;
                }
            }
        }
        let mut unplaced = 0;
        let mut skip: Vec<bool> = Vec::new();
        let mut on_epochs = 0usize;
        let mut dicts = 0usize;
        for i in 0..n {
            // The row's coordinates, each read where it is needed (no row is built per row).
            let logged = frame.known(Coordinate::Step, i);
            let logged_origin = frame.origin_of(i);
            let row_epoch = frame.known(Coordinate::Epoch, i);
            let (step, origin) = match (logged, logged_origin) {
                (Some(s), origin) => (s, origin.unwrap_or("logged")),
                // A results file's values at the end of training: the last step logged, unless
                // its epoch says training went well past it (the logs hold part of the run).
                (None, Some(origin))
                    if origin.starts_with("end of training") && last_step > 0.0 =>
                {
                    match row_epoch.zip(spe).map(|(e, spe)| (e * spe).round()) {
                        // Not past the planned total: a results file that says so is another
                        // run's (warned in `assemble`).
                        Some(end)
                            if (falls_short(cfg, None, last_step, end)
                                || falls_short(cfg, None, end, last_step))
                                && cfg
                                    .num(Key::TotalSteps)
                                    .is_none_or(|t| !falls_short(cfg, None, t, end)) =>
                        {
                            (end, END_BY_EPOCH)
                        }
                        // The step a trainer state says training ended at, a few steps past
                        // the last logged one (a last logging interval cut short), is where
                        // the results were written.
                        _ => match ended {
                            Some(e) if e > last_step && !falls_short(cfg, None, last_step, e) => {
                                (e, END_AT_STATE)
                            }
                            _ => (last_step, origin),
                        },
                    }
                }
                (None, _) => {
                    // Dicts without steps (stdout holding only the dicts): the n-th training
                    // dict was logged at step n × logging_steps; an eval dict shares the step
                    // of the training dict before it.
                    let by_number = logging.map(|every| {
                        if training.get(i).copied().unwrap_or(false) {
                            dicts += 1;
                        }
                        dicts.max(1) as f64 * every
                    });
                    // Its epoch × steps per epoch, and the doubt the printed epoch's rounding
                    // leaves (2 decimals of a 4,132-step epoch are ±20 steps).
                    let by_epoch = row_epoch
                        .zip(spe)
                        .map(|(e, spe)| (e * spe, crate::ingest::epoch_doubt(e) * spe + 1.0));
                    match (by_number, by_epoch) {
                        // Both: the number where the epoch agrees (it is exact for one
                        // uninterrupted run), else the epoch.
                        (Some(numbered), Some((x, doubt))) if (numbered - x).abs() <= doubt => {
                            (numbered, NUMBER_BY_EPOCH)
                        }
                        (_, Some((x, _))) => {
                            (x.round(), "epoch × steps per epoch (run configuration)")
                        }
                        (Some(numbered), None) => {
                            (numbered, "dict number × logging_steps (run configuration)")
                        }
                        (None, None) if epoch_only && row_epoch.is_some() => {
                            on_epochs += 1;
                            (f64::NAN, EPOCH_ONLY)
                        }
                        (None, None) => {
                            unplaced += 1;
                            if skip.is_empty() {
                                skip = vec![false; n];
                            }
                            skip[i] = true;
                            continue;
                        }
                    }
                }
            };
            // A row that came with its step keeps it, and how it was known: none said is
            // "logged", as `place_column` reads it.
            if logged.is_none() {
                frame.set_step(i, step, Some(origin));
            }
            // Every axis a row can be placed on, from the row, else from another row of the
            // same step, else derived. (A side channel no file fills has nothing to give.)
            let mut epoch = row_epoch;
            if epoch.is_none() {
                epoch = epochs.at(step).or_else(|| Some(step / spe?));
                frame.set(Coordinate::Epoch, i, known(epoch));
            }
            if frame.known(Coordinate::Samples, i).is_none() {
                let s = counted
                    .at(step)
                    .or_else(|| samples_at(batch, examples, step, epoch));
                frame.set(Coordinate::Samples, i, known(s));
            }
            for (c, channel) in [(Coordinate::Tokens, &tokens), (Coordinate::Time, &times)] {
                if !channel.is_empty() && frame.known(c, i).is_none() {
                    frame.set(c, i, known(channel.at(step)));
                }
            }
        }
        if on_epochs > 0 {
            warnings.push(format!(
                "{}: {on_epochs} metric records with epochs but no steps, and nothing gives them (steps per epoch, a logging interval); kept on the epoch axis, steps unknown — add --set {label}:steps_per_epoch=N (their epochs then give their steps, a resumed segment's too) or --set {label}:logging_steps=N (the n-th dict at step n × N: right for one uninterrupted run only), or pass the trainer_state.json",
                file.path
            ));
        }
        if unplaced > 0 {
            *unplaced_total += unplaced;
            warnings.push(format!(
                "{}: {unplaced} metric records have no step, and nothing gives one (steps per epoch, a logging interval); skipped — add --set {label}:steps_per_epoch=N (their epochs then give their steps) or --set {label}:logging_steps=N, or pass the trainer_state.json",
                file.path
            ));
        }
        let mut columns = columns;
        columns.sort_by(|a, b| a.name.cmp(&b.name));
        let mut dropped_steps: Vec<f64> = Vec::new();
        // The metric that lost the most points, and how many: the warning's count.
        let mut most: Option<(Name, usize)> = None;
        for col in columns {
            let Some(holder) = place_column(col, &skip, &frame, fi, &mut dropped_steps, &mut most)
            else {
                continue;
            };
            by_metric.entry(holder.0).or_default().push(holder.1);
        }
        if !dropped_steps.is_empty() {
            dropped_steps.sort_by(f64::total_cmp);
            dropped_steps.dedup();
            let (name, points) = most.unwrap_or_else(|| ("loss".into(), 0));
            let unit = if epoch_only { "epoch" } else { "step" };
            warnings.push(format!(
                "{}: {unit}s {}–{} were logged more than once (a resumed run, two writers or two loggers); kept the latest at each of those {} {unit}s, dropped the earlier points ({points} of {name})",
                files[fi].path,
                dropped_steps[0],
                dropped_steps[dropped_steps.len() - 1],
                dropped_steps.len()
            ));
        }
        frames[fi] = frame;
    }

    let step_of = |file: usize, r: u32| frames[file].get(Coordinate::Step, r as usize);
    let mut shown = Vec::with_capacity(by_metric.len());
    for (name, mut holders) in by_metric {
        let winner = holders.remove(0);
        let (rows, values) = (&winner.rows, &winner.values);
        let mut extended = 0;
        let mut also_in = Vec::new();
        let mut more: Vec<(usize, u32, f64)> = Vec::new();
        for other in holders {
            also_in.push(files[other.file].path.clone());
            let last_of = |k: usize| match k.checked_sub(rows.len()) {
                None => step_of(winner.file, rows[k]),
                Some(j) => step_of(more[j].0, more[j].1),
            };
            let n = rows.len() + more.len();
            let last = n.checked_sub(1).map_or(f64::NEG_INFINITY, last_of);
            // The last record again, placed a little past it by another file's rounded epoch
            // (a stdout dict at epoch 9.11 × 549 = step 5,001 beside its trainer state's 5,000):
            // the same value within printed precision, less than a logging interval on.
            let interval = logging.or_else(|| (n >= 2).then(|| last - last_of(n - 2)));
            let last_value = more.last().map(|m| m.2).or(values.last().copied());
            let again = |step: f64, v: f64| {
                interval.is_some_and(|i| step - last < i)
                    && last_value.is_some_and(|l| super::resolve::same_printed(l, v))
            };
            let before = more.len();
            for (r, v) in other.rows.into_iter().zip(other.values) {
                let step = step_of(other.file, r);
                if step > last && !again(step, v) {
                    more.push((other.file, r, v));
                }
            }
            extended += more.len() - before;
        }
        let series = Series {
            name: name.to_string(),
            points: Points::default(),
            source: files[winner.file].path.clone(),
            locator: files[winner.file].locator(),
            step_origin: winner.origin.to_string(),
            also_in,
            extended,
            dropped_duplicates: winner.dropped,
        };
        shown.push(Shown {
            series,
            winner,
            more,
        });
    }

    // The run's frame: the frame of the file most points come from, moved (a lone log's is
    // not copied), and after its rows those of the other files the series show, each once.
    let mut from = vec![0usize; frames.len()];
    for s in &shown {
        from[s.winner.file] += s.winner.rows.len();
        for m in &s.more {
            from[m.0] += 1;
        }
    }
    let base = (0..frames.len()).max_by_key(|&f| (from[f], std::cmp::Reverse(f)));
    let mut run = base.map_or_else(Frame::default, |b| std::mem::take(&mut frames[b]));
    // Where each file's rows went, made for a file the first time one of its rows is shown.
    let mut placed: Vec<Vec<u32>> = vec![Vec::new(); frames.len()];
    let mut row_of = |file: usize, r: u32| {
        if Some(file) == base {
            return r;
        }
        let map = &mut placed[file];
        if map.is_empty() {
            *map = vec![u32::MAX; frames[file].len()];
        }
        let slot = &mut map[r as usize];
        if *slot == u32::MAX {
            *slot = run.copy_row(&frames[file], r as usize);
        }
        *slot
    };
    for s in &mut shown {
        let Holder {
            file, rows, values, ..
        } = &mut s.winner;
        if Some(*file) != base {
            for r in rows.iter_mut() {
                *r = row_of(*file, *r);
            }
        }
        rows.extend(s.more.iter().map(|&(f, r, _)| row_of(f, r)));
        values.extend(s.more.iter().map(|m| m.2));
        rows.shrink_to_fit();
        values.shrink_to_fit();
    }
    drop(frames);
    run.shrink_to_fit();
    let run = Arc::new(run);
    let mut out = BTreeMap::new();
    for Shown {
        mut series, winner, ..
    } in shown
    {
        series.points = Points::new(Arc::clone(&run), winner.rows, winner.values);
        out.insert(series.name.clone(), series);
    }
    out
}

/// A metric column of file `file` (its rows `frame`) as a holder: the rows the merge placed, in
/// step order (epoch order on the epoch axis), a step logged twice keeping its last value.
/// Notes the dropped steps and the metric that lost most; `None` when no value of the column
/// was placed.
fn place_column(
    col: Column,
    skip: &[bool],
    frame: &Frame,
    file: usize,
    dropped_steps: &mut Vec<f64>,
    most: &mut Option<(Name, usize)>,
) -> Option<(Name, Holder)> {
    let Column {
        name,
        mut rows,
        mut values,
    } = col;
    if !skip.is_empty() {
        let mut k = 0;
        for j in 0..rows.len() {
            if !skip[rows[j] as usize] {
                rows[k] = rows[j];
                values[k] = values[j];
                k += 1;
            }
        }
        rows.truncate(k);
        values.truncate(k);
    }
    let first = *rows.first()?;
    let origin = frame.origin_of(first as usize).unwrap_or("logged");
    let key = |r: u32| {
        if origin == EPOCH_ONLY {
            frame.get(Coordinate::Epoch, r as usize)
        } else {
            frame.get(Coordinate::Step, r as usize)
        }
    };
    // Each row's key looked up once, compared with the one before.
    let mut before = f64::NEG_INFINITY;
    let increasing = rows.iter().all(|&r| {
        let k = key(r);
        let up = k > before;
        before = k;
        up
    });
    let dropped = if increasing {
        Vec::new()
    } else {
        dedupe_keep_last(&mut rows, &mut values, key)
    };
    let count = dropped.len();
    if count > 0
        && most
            .as_ref()
            .is_none_or(|(n, c)| count > *c || (count == *c && &*name == "loss" && &**n != "loss"))
    {
        *most = Some((Arc::clone(&name), count));
    }
    dropped_steps.extend(dropped);
    Some((
        name,
        Holder {
            file,
            origin,
            rows,
            values,
            dropped: count,
        },
    ))
}

/// A coordinate as a frame stores it: NaN for unknown.
/// How a results file's values are placed when their epoch is well past the last logged step.
/// A dict without a step placed by its number in the file, its epoch agreeing.
const NUMBER_BY_EPOCH: &str = "dict number × logging_steps, within the rounding of its epoch × steps per epoch (run configuration)";
const END_BY_EPOCH: &str = "end of training (results file): its epoch × steps per epoch";
const END_AT_STATE: &str =
    "end of training (results file): the step the trainer state says training ended at";

fn known(x: Option<f64>) -> f64 {
    x.unwrap_or(f64::NAN)
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

/// Values (time, tokens, samples, epoch) any file logged for a step, to fill the rows that lack
/// them: (step, value) in step order, the value logged last at a step kept (files in the order
/// given, rows in file order). Empty (and not built) when no row lacks the value or no file
/// logs it. A sorted vector, not a hash map: the rows come nearly in step order, so building it
/// is a linear sort and a lookup a few compares, with nothing hashed.
struct Channel(Vec<(f64, f64)>, std::cell::Cell<usize>);

impl Channel {
    fn of(files: &[ReadFile], c: Coordinate) -> Channel {
        Channel::from_frames(files.iter().map(|f| &f.parsed.records), c)
    }

    fn from_frames<'a>(frames: impl Iterator<Item = &'a Frame> + Clone, c: Coordinate) -> Channel {
        let rows = || frames.clone();
        if !rows().any(|f| f.lacks(c)) || !rows().any(|f| f.last_known(c).is_some()) {
            return Channel(Vec::new(), Default::default());
        }
        let mut pairs = Vec::new();
        for f in rows() {
            for i in 0..f.len() {
                let (step, v) = (f.get(Coordinate::Step, i), f.get(c, i));
                if !step.is_nan() && !v.is_nan() {
                    pairs.push((step, v));
                }
            }
        }
        // Stable: of the pairs at one step, the one pushed last ends their run, and its value
        // is the one kept.
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
        pairs.dedup_by(|later, kept| {
            let same = later.0.total_cmp(&kept.0).is_eq();
            if same {
                kept.1 = later.1;
            }
            same
        });
        Channel(pairs, Default::default())
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The value at `step` (by its bits: -0 and 0 are two steps; NaN is none). Rows are looked
    /// up mostly in step order: the pair after the last one found is tried first.
    fn at(&self, step: f64) -> Option<f64> {
        let next = self.1.get();
        let k = match self.0.get(next) {
            Some(p) if p.0.total_cmp(&step).is_eq() => next,
            _ => self.0.binary_search_by(|p| p.0.total_cmp(&step)).ok()?,
        };
        self.1.set(k + 1);
        Some(self.0[k].1)
    }
}

/// How the steps of a series kept on the epoch axis are known: they are not.
pub const EPOCH_ONLY: &str =
    "unknown: no step logged and nothing gives one; the points are on the epoch axis";

/// Sorts a column's rows and values by `key` and keeps the last occurrence of each key (file
/// order); returns the keys that had earlier occurrences dropped. A stable sort keeps equal keys
/// in file order (and is linear on the already sorted rows of most logs).
fn dedupe_keep_last(
    rows: &mut Vec<u32>,
    values: &mut Vec<f64>,
    key: impl Fn(u32) -> f64,
) -> Vec<f64> {
    let mut order: Vec<u32> = (0..rows.len() as u32).collect();
    order.sort_by(|&a, &b| key(rows[a as usize]).total_cmp(&key(rows[b as usize])));
    let mut dropped = Vec::new();
    let mut kept_rows = Vec::with_capacity(rows.len());
    let mut kept_values = Vec::with_capacity(rows.len());
    for (k, &i) in order.iter().enumerate() {
        let here = key(rows[i as usize]);
        let last_of_key = order
            .get(k + 1)
            .is_none_or(|&next| key(rows[next as usize]).total_cmp(&here).is_ne());
        if last_of_key {
            kept_rows.push(rows[i as usize]);
            kept_values.push(values[i as usize]);
        } else {
            dropped.push(here);
        }
    }
    *rows = kept_rows;
    *values = kept_values;
    dropped
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Row;

    #[test]
    fn a_channel_gives_the_value_logged_last_at_a_step() {
        let frame = |rows: &[(f64, Option<f64>)]| {
            let mut f = Frame::default();
            for &(step, time) in rows {
                f.push_row::<Name>(
                    Row {
                        step: Some(step),
                        time,
                        ..Row::default()
                    },
                    [],
                );
            }
            f
        };
        // A resumed run logs steps 2 and 3 again; a second file logs step 3 once more, and a
        // row without a time.
        let first = frame(&[
            (1., Some(10.)),
            (2., Some(20.)),
            (3., Some(30.)),
            (2., Some(21.)),
            (3., Some(31.)),
        ]);
        let second = frame(&[
            (3., Some(32.)),
            (4., None),
            (-0.0, Some(5.)),
            (0.0, Some(6.)),
        ]);
        let channel = Channel::from_frames([&first, &second].into_iter(), Coordinate::Time);
        assert_eq!(channel.at(1.), Some(10.));
        assert_eq!(channel.at(2.), Some(21.));
        assert_eq!(channel.at(3.), Some(32.));
        assert_eq!(channel.at(4.), None);
        assert_eq!(channel.at(-0.0), Some(5.));
        assert_eq!(channel.at(0.0), Some(6.));
        assert_eq!(channel.at(f64::NAN), None);
        assert_eq!(channel.at(2.5), None);
        // Looked up out of step order (the pair after the last found is only tried first).
        assert_eq!(channel.at(3.), Some(32.));
        assert_eq!(channel.at(1.), Some(10.));
        assert_eq!(channel.at(1.), Some(10.));
        assert_eq!(channel.at(-0.0), Some(5.));
        // Nothing lacks a time: nothing built.
        let whole = frame(&[(1., Some(1.))]);
        assert!(Channel::from_frames(std::iter::once(&whole), Coordinate::Time).is_empty());
    }

    #[test]
    fn a_file_past_the_winners_last_step_adds_its_rows_and_only_those() {
        use crate::ingest::Parsed;
        use crate::ingest::formats::REGISTRY;
        let file = |name: &str, format: &str, rows: &[(f64, u32, f64)]| {
            let mut records = Frame::default();
            for &(step, line, loss) in rows {
                let row = Row {
                    step: Some(step),
                    line,
                    time: Some(step * 10.0),
                    ..Row::default()
                };
                records.push_row(row, [(Name::from("loss"), loss)]);
            }
            ReadFile {
                path: name.into(),
                format: *REGISTRY.iter().find(|f| f.name() == format).expect(format),
                parsed: Parsed {
                    records,
                    ..Parsed::default()
                },
            }
        };
        // The jsonl (lower priority) is read first here, and outlives the state by two steps.
        let mut files = vec![
            file(
                "trainer_log.jsonl",
                "llamafactory_jsonl",
                &[
                    (1., 1, 9.0),
                    (2., 2, 9.0),
                    (3., 3, 9.0),
                    (4., 4, 4.0),
                    (5., 5, 5.0),
                ],
            ),
            file(
                "trainer_state.json",
                "hf_trainer_state",
                &[(1., 11, 1.0), (2., 12, 2.0), (3., 13, 3.0)],
            ),
        ];
        let series = merge(
            "run",
            &mut files,
            &RunConfig::default(),
            &mut Vec::new(),
            &mut 0,
        );
        let loss = &series["loss"];
        let points: Vec<(f64, f64, u32, Option<f64>)> = loss
            .points
            .iter()
            .map(|p| (p.step, p.value, p.line, p.time.get()))
            .collect();
        assert_eq!(
            points,
            [
                (1., 1.0, 11, Some(10.)),
                (2., 2.0, 12, Some(20.)),
                (3., 3.0, 13, Some(30.)),
                (4., 4.0, 4, Some(40.)),
                (5., 5.0, 5, Some(50.)),
            ]
        );
        assert_eq!(loss.source, "trainer_state.json");
        assert_eq!(loss.extended, 2);
        assert_eq!(loss.also_in, ["trainer_log.jsonl"]);
        // The run's frame holds the rows shown, not the jsonl's first three.
        assert_eq!(loss.points.frame_rows(), 5);
    }

    #[test]
    fn dedupe_keeps_the_last_occurrence_of_each_step() {
        // A resumed run: steps 3 and 4 logged again after step 5.
        let mut frame = Frame::default();
        let logged = [(1., 1.), (3., 3.), (4., 4.), (5., 5.), (3., 30.), (4., 40.)];
        for (s, _) in logged {
            frame.push_row::<Name>(
                Row {
                    step: Some(s),
                    ..Row::default()
                },
                [],
            );
        }
        let mut rows: Vec<u32> = (0..6).collect();
        let mut values: Vec<f64> = logged.iter().map(|l| l.1).collect();
        let dropped = dedupe_keep_last(&mut rows, &mut values, |r| {
            frame.get(Coordinate::Step, r as usize)
        });
        let kept: Vec<(f64, f64)> = rows
            .iter()
            .zip(&values)
            .map(|(&r, &v)| (frame.get(Coordinate::Step, r as usize), v))
            .collect();
        assert_eq!(kept, vec![(1., 1.), (3., 30.), (4., 40.), (5., 5.)]);
        assert_eq!(dropped, vec![3., 4.]);
    }
}
