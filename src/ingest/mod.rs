//! Stage 1 of the pipeline: files → [`Run`].
//!
//! A run is a directory (or one file, or stdin). `discover` lists the files worth reading, each
//! format module says by content whether a file is its kind (yes / no / not sure), and `read`
//! turns it into a [`Parsed`]: metric records and configuration facts, each with its location.
//! `resolve` then picks one value per configuration key (and derives what no file states), and
//! `merge` builds one series per metric from all files, one point per step, with samples seen.
//! After this stage nothing knows which format a value came from except through its provenance.

mod crash;
mod flat_json;
pub mod formats;
pub(crate) use formats::run_args::AXOLOTL_BATCH;
mod lenient;
mod merge;
mod plan;
mod records;
mod resolve;
mod shape;
mod source;
mod tail;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;

use crate::model::{At, ConfigValue, Key, Row, Run, SourceFile};
use formats::FormatRef;

pub use formats::mlflow::run_name as mlflow_run_name;
pub use plan::read_plan;
pub use records::Records;
pub use source::{IngestError, TRAINER_FOLDERS, checkpoint_parent, wandb_run_name};
pub use tail::{Polled, Tail};

/// What the user asked to read: a path (or `-`) and the label to show it under.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSpec {
    /// The label; unique among runs.
    pub label: String,
    /// A directory, a file, or `-` for standard input.
    pub path: PathBuf,
    /// `--set` overrides for this run.
    pub overrides: Vec<(Key, ConfigValue)>,
    /// `--columns` mapping (key, column name) for tables.
    pub columns: Vec<(String, String)>,
    /// A configuration that has not run (`--plan`), read by [`read_plan`].
    pub planned: bool,
}

/// One metric record as a format read it (a train log, an eval log, a final value): its row of
/// coordinates and its metrics, pushed onto the file's [`Frame`](crate::model::Frame) as soon as
/// it is whole.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Record {
    /// The step, epoch, samples, tokens, time and line.
    pub row: Row,
    /// Metric names (normalised to HF's spelling) and values.
    pub metrics: Vec<(Name, f64)>,
}

/// A metric name, shared by every record of a file that logs it (a million-entry log holds a
/// handful of distinct names).
pub use crate::model::Name;

/// Hands out one shared [`Name`] per distinct metric name, and a number for it: a reader that
/// keeps a record's metrics as numbers until it pushes them clones no `Name` per value.
#[derive(Debug, Default)]
pub struct Names {
    /// Every name, by number; the first few are compared in turn: a log has a handful, and
    /// comparing them is cheaper than hashing each key of a million lines.
    all: Vec<Name>,
    /// The numbers of the names past the first few (W&B runs log hundreds).
    many: HashMap<Name, u32>,
}

/// How many names are kept in the list compared in turn.
const FEW_NAMES: usize = 16;

impl Names {
    /// The shared copy of `name`.
    pub fn get(&mut self, name: &str) -> Name {
        let i = self.number(name);
        Arc::clone(&self.all[i as usize])
    }

    /// The number of `name`, given it when new; [`Names::name`] gives the name back.
    pub fn number(&mut self, name: &str) -> u32 {
        let few = &self.all[..self.all.len().min(FEW_NAMES)];
        if let Some(i) = few.iter().position(|n| **n == *name) {
            return i as u32;
        }
        if let Some(&i) = self.many.get(name) {
            return i;
        }
        let i = u32::try_from(self.all.len()).unwrap_or(u32::MAX);
        let n: Name = name.into();
        if self.all.len() >= FEW_NAMES {
            self.many.insert(Arc::clone(&n), i);
        }
        self.all.push(n);
        i
    }

    /// The name numbered `i` by [`Names::number`].
    pub fn name(&self, i: u32) -> &Name {
        &self.all[i as usize]
    }
}

/// Lines a reader could not use: how many, and the first, for one warning.
#[derive(Debug, Default)]
struct Skipped {
    count: usize,
    first: Option<usize>,
}

impl Skipped {
    /// Counts 1-based line `n` as skipped.
    fn line(&mut self, n: usize) {
        self.count += 1;
        self.first.get_or_insert(n);
    }

    /// Warns `"N <what> (first at line L); skipped"` when any line was skipped: `one` after a
    /// count of 1 ("line is not a log row"), `many` after any other ("lines are not log rows").
    fn warn(&self, out: &mut Parsed, one: &str, many: &str) {
        if let Some(line) = self.first {
            let what = if self.count == 1 { one } else { many };
            out.warnings.push(format!(
                "{} {what} (first at line {line}); skipped",
                self.count
            ));
        }
    }
}

/// One configuration value a file states, with where.
#[derive(Debug, Clone, PartialEq)]
pub struct Fact {
    /// Which key.
    pub key: Key,
    /// The value.
    pub value: ConfigValue,
    /// Where in the file (line 12, field `max_steps`).
    pub locator: At,
    /// Trust: 0 = what the trainer printed it used, 1 = the arguments it was given, 2 = state
    /// written after the fact. The lowest rank wins.
    pub rank: u8,
}

/// What one file yielded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Parsed {
    /// Metric records in file order.
    pub records: Records,
    /// Configuration facts.
    pub facts: Vec<Fact>,
    /// Problems that did not stop reading (already prefixed with nothing: the caller adds the path).
    pub warnings: Vec<String>,
    /// Where the file says training stood when it was written.
    pub stood: Option<Stood>,
    /// The crash a console log ends with ([`crash::at_end`]).
    pub crashed: Option<crate::model::Crashed>,
}

/// Where a file says training stood when it was written: the epoch reached, unrounded, and the
/// optimizer step when the file gives it (`trainer_state.json`'s top-level `global_step` and
/// `epoch`; a results file's `epoch`, written at the end of training). With the step it gives
/// steps per epoch, where logged epochs are rounded and a planned epoch count is rounded up;
/// either says how far the run went, which its logs may fall short of.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stood {
    pub step: Option<f64>,
    pub epoch: f64,
}

impl Parsed {
    /// Whether a fact states `key` at `rank` or a better (lower) one already.
    fn states(&self, key: Key, rank: u8) -> bool {
        self.facts.iter().any(|f| f.key == key && f.rank <= rank)
    }

    fn fact(&mut self, key: Key, value: f64, locator: impl Into<At>, rank: u8) {
        if value.is_finite() {
            self.facts.push(Fact {
                key,
                value: ConfigValue::Number(value),
                locator: locator.into(),
                rank,
            });
        }
    }

    /// The end-of-training throughput (`train_runtime`, `train_samples_per_second`,
    /// `train_steps_per_second`) read by
    /// `value`, each located by `at(field)`; state written after the fact (rank 2).
    fn throughput(&mut self, value: impl Fn(&str) -> Option<f64>, at: impl Fn(&'static str) -> At) {
        for (field, key) in [
            ("train_runtime", Key::TrainRuntime),
            ("train_samples_per_second", Key::TrainSamplesPerSecond),
            ("train_steps_per_second", Key::TrainStepsPerSecond),
        ] {
            if let Some(x) = value(field) {
                self.fact(key, x, at(field), 2);
            }
        }
    }

    fn text_fact(&mut self, key: Key, value: &str, locator: impl Into<At>, rank: u8) {
        self.facts.push(Fact {
            key,
            value: ConfigValue::Text(value.to_string()),
            locator: locator.into(),
            rank,
        });
    }
}

/// A file read as one format, kept for merging.
#[derive(Clone)]
struct ReadFile {
    path: String,
    format: FormatRef,
    parsed: Parsed,
}

impl std::fmt::Debug for ReadFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadFile")
            .field("path", &self.path)
            .field("format", &self.format.name())
            .field("parsed", &self.parsed)
            .finish()
    }
}

impl ReadFile {
    /// What its records' `line` counts.
    fn locator(&self) -> crate::model::Locator {
        self.format.locator()
    }
}

/// Reads one run: discovers its files, parses each, resolves its configuration and merges its
/// series. Fails only when nothing usable was found.
pub fn read_run(spec: &RunSpec) -> Result<Run, IngestError> {
    let mut sources = Vec::new();
    let mut warnings = Vec::new();
    let mut files = Vec::new();

    if formats::mlflow::is_run_dir(&spec.path) {
        for (path, parsed) in formats::mlflow::read_run_dir(&spec.path)? {
            let format = if path.ends_with("params") {
                formats::RUN_ARGS
            } else {
                formats::MLFLOW
            };
            let file = ReadFile {
                path: path.display().to_string(),
                format,
                parsed,
            };
            keep(file, &mut sources, &mut warnings, &mut files);
        }
    }
    let candidates = if files.is_empty() {
        source::discover(&spec.path, &mut sources, &mut warnings)?
    } else {
        Vec::new()
    };
    let single_file = candidates.len() == 1 && !spec.path.is_dir();
    for candidate in candidates {
        match read_file(&candidate, &spec.columns) {
            Ok(Some(file)) => keep(file, &mut sources, &mut warnings, &mut files),
            Ok(None) => {
                // A file named as the Trainer's state that is not one is said, not passed over:
                // the user expects its log_history to be read.
                let state = candidate
                    .file_name()
                    .is_some_and(|n| n == "trainer_state.json");
                let note = if state {
                    let note = "not a Trainer state: not a JSON object with a log_history";
                    warnings.push(format!("{}: {note}; skipped", candidate.display()));
                    note
                } else {
                    "not a training log or run configuration losscmp reads"
                };
                sources.push(SourceFile {
                    path: candidate.display().to_string(),
                    format: None,
                    note: note.into(),
                });
            }
            Err(e) if single_file => return Err(e),
            Err(e) => {
                warnings.push(e.to_string());
                sources.push(SourceFile {
                    path: candidate.display().to_string(),
                    format: None,
                    note: e.to_string(),
                });
            }
        }
    }

    assemble(spec, files, sources, warnings)
}

/// Builds a run from the files read: resolves its configuration and merges its series. Fails
/// when no file gave a series.
fn assemble(
    spec: &RunSpec,
    mut files: Vec<ReadFile>,
    sources: Vec<SourceFile>,
    mut warnings: Vec<String>,
) -> Result<Run, IngestError> {
    let display = spec.path.display().to_string();
    let config = resolve::resolve(&files, &spec.overrides, &mut warnings);
    let mut unplaced = 0;
    let series = merge::merge(
        &spec.label,
        &mut files,
        &config,
        &mut warnings,
        &mut unplaced,
    );
    if series.is_empty() && unplaced > 0 {
        return Err(IngestError::NoSteps {
            path: display,
            count: unplaced,
            label: crate::model::shell_label(&spec.label).into_owned(),
        });
    }
    let lfs = sources
        .iter()
        .filter(|s| s.format.is_none() && s.note.contains("a Git LFS pointer"))
        .count();
    if series.is_empty() && lfs > 0 {
        return Err(IngestError::LfsFolder {
            path: display,
            count: lfs,
        });
    }
    if series.is_empty() && config.get(Key::TrainRuntime).is_some() {
        // Final values only (an end-of-training summary beside the configuration): still a run,
        // compared on what it has.
        warnings.push(
            "no curve was logged: only the end-of-training summary and the configuration were found; loss comparisons are skipped, configuration and throughput checks still run".into(),
        );
    } else if series.is_empty() {
        let looked = if sources.is_empty() {
            source::passed_over(&spec.path)
        } else {
            sources
                .iter()
                .map(|s| {
                    let name = Path::new(&s.path)
                        .file_name()
                        .map_or_else(|| s.path.clone(), |n| n.to_string_lossy().into_owned());
                    // A failed run's warnings are not printed: what a file's reader warned of
                    // (lines it could not read, keys it would not take) may be why it gave no
                    // metric, so it is said here.
                    let why = files
                        .iter()
                        .find(|f| f.path == s.path)
                        .and_then(|f| warned(&f.parsed.warnings))
                        .map_or_else(String::new, |w| format!("; {w}"));
                    match s.format {
                        Some(f) => format!("{name} ({f}: {}{why})", s.note),
                        None => format!("{name} (skipped)"),
                    }
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Err(IngestError::NoMetrics {
            path: display,
            looked,
        });
    }
    if !series.is_empty() && !series.contains_key("loss") {
        warnings.push(if unplaced > 0 {
            // The records were there, without steps (warned above): not a logging interval.
            "no training loss could be placed: the metric records without a step were skipped (above); loss comparisons are skipped".into()
        } else {
            // Why there is none, by what is known: a logging interval longer than the run, or
            // a run that stopped (crashed, killed) before its first logged loss.
            let (logging, total) = (config.num(Key::LoggingSteps), config.num(Key::TotalSteps));
            match (logging, total) {
                (Some(l), Some(t)) if l < t => format!(
                    "no training loss in any file, though the run logs every {} steps of {}: it stopped (crashed, killed) before its first logged loss, or is still starting; loss comparisons are skipped",
                    crate::model::format_count(l),
                    crate::model::format_count(t)
                ),
                (Some(l), Some(t)) => format!(
                    "no training loss in any file: the run logs every {} steps but makes only {}; loss comparisons are skipped",
                    crate::model::format_count(l),
                    crate::model::format_count(t)
                ),
                _ => "no training loss in any file (a logging interval longer than the run, a run stopped before its first logged loss, or end-of-run results alone); loss comparisons are skipped".into(),
            }
        });
    }
    // Logs that stop short of the planned steps with no end-of-training summary: a run cut
    // short (crashed, killed) or still running, whose last values are not a finished run's.
    let crashed = files.iter().find_map(|f| f.parsed.crashed.clone());
    // The last training loss, and the furthest a file says training reached: read by the
    // warnings below and by whether the run stopped early.
    let loss = series.get("loss");
    let last_loss = loss
        .and_then(|l| l.points.last())
        .map(|p| p.step)
        .filter(|s| s.is_finite());
    let reach = reached(&files, &config);
    // A planned total given with --set that the logs run past: said, as a file that says so is.
    if let (Some(last), Some(total)) = (last_loss, config.get(Key::TotalSteps))
        && matches!(total.source, crate::model::Provenance::Override(_))
        && total.value.as_f64().is_some_and(|t| last > t)
    {
        warnings.push(format!(
            "total_steps {} ({}) is less than the step the training loss is logged to, {}: the logs ran past it; check the value (the checks read it as the planned total)",
            total.value,
            total.source,
            crate::model::format_count(last)
        ));
    }
    if let Some((last, total)) = crate::model::stopped_short(&config, loss) {
        let share = crate::model::format_share(last, total);
        let (last, total) = (
            crate::model::format_count(last),
            crate::model::format_count(total),
        );
        warnings.push(match &crashed {
            // Why is known: said once, by the run-crashed finding.
            Some(c) => format!(
                "the training loss stops at step {last} of {total} ({share}): {} ({} line {})",
                if c.cancelled {
                    "slurm cancelled the job"
                } else {
                    "the run crashed"
                },
                c.path,
                c.line
            ),
            // What it means is said once, by the run-cut-short finding.
            None => format!(
                "the training loss stops at step {last} of {total} ({share}) and no end-of-training summary was found (see the run-cut-short finding)"
            ),
        });
    }
    // Logs that stop well before where another file says training got to (a results file
    // written at its end, a checkpoint's state): an excerpt, or a log a resumed run started
    // anew. Said only when the planned total did not already say it. A file that says training
    // went past the run's own planned total is another run's.
    else if let Some((last, reached)) = last_loss
        .zip(reach.as_ref())
        .filter(|&(last, r)| crate::model::falls_short(&config, loss, last, r.step))
    {
        let past = config
            .num(Key::TotalSteps)
            .filter(|&t| crate::model::falls_short(&config, None, t, reached.step));
        warnings.push(match past {
            Some(total) => format!(
                "{} says training reached step {}{}, past the {} steps this run plans: it is another run's (an earlier one in the same output directory?), and its values are placed at this run's last logged step",
                reached.path,
                crate::model::format_count(reached.step),
                reached.by,
                crate::model::format_count(total)
            ),
            None => format!(
                "the training loss stops at step {} ({}) of the {} that {} says training reached{}: these logs hold part of the run (a checkpoint's, an excerpt, a file cut short, or a log a resumed run started anew), so their last values are not the run's",
                crate::model::format_count(last),
                crate::model::format_share(last, reached.step),
                crate::model::format_count(reached.step),
                reached.path,
                reached.by,
            ),
        });
    }
    // A file whose end-of-training summary says training ended well before the planned total,
    // with the training loss ending there too: stopped early. (A checkpoint's state beside a
    // log that goes on, or a summary in another file, says nothing of the kind.)
    let stopped_early = reach
        .as_ref()
        .filter(|r| {
            files.iter().any(|f| {
                f.path == r.path && f.parsed.facts.iter().any(|x| x.key == Key::TrainRuntime)
            })
        })
        .map(|r| r.step)
        .filter(|&step| {
            config
                .num(Key::TotalSteps)
                .is_some_and(|t| crate::model::falls_short(&config, loss, step, t))
                && last_loss.is_none_or(|l| !crate::model::falls_short(&config, loss, step, l))
        });
    if let (Some(step), Some(r), Some(total)) =
        (stopped_early, reach.as_ref(), config.num(Key::TotalSteps))
    {
        // Said here, from every file, not by the file's reader: a summary beside a log that
        // goes on says nothing of an early stop.
        let by = if r.by.is_empty() {
            " (global_step)"
        } else {
            &r.by
        };
        let total = crate::model::format_count(total);
        warnings.push(format!(
            "{}: its end-of-training summary says training ended at step {}{by}, of the {total} planned, and the training loss ends there too: it was stopped early (an early-stopping callback, a stop condition); the checks read the {total} steps planned",
            r.path,
            crate::model::format_count(step),
        ));
    }
    if let Some(gap) = loss.and_then(loss_gap) {
        warnings.push(gap);
    }
    Ok(Run {
        label: spec.label.clone(),
        path: display,
        sources,
        config,
        series,
        warnings,
        planned: false,
        crashed,
        stopped_early,
    })
}

/// How many of the run's usual logging intervals a stretch without a training loss spans before
/// it is a gap worth saying: comparisons inside it read a straight line drawn across it.
const GAP_INTERVALS: f64 = 20.0;

/// The widest stretch of steps with no training loss logged, when it spans more than
/// [`GAP_INTERVALS`] of the loss's usual (median) logging interval: an excerpt's head and tail,
/// a log that lost its middle. `None` for a loss logged evenly, or at fewer than 5 steps.
fn loss_gap(loss: &crate::model::Series) -> Option<String> {
    let steps = || {
        loss.points
            .coordinates(crate::model::Coordinate::Step)
            .filter(|s| s.is_finite())
    };
    // One pass first: the widest stretch and the narrowest interval. A loss whose widest stretch
    // is within GAP_INTERVALS of its narrowest interval has no gap (the median is at least the
    // narrowest), and a million-point log is done with here, nothing held.
    let (mut prev, mut n, mut narrowest) = (None, 0usize, f64::INFINITY);
    let mut widest = (0.0, 0.0);
    for s in steps() {
        if let Some(p) = prev {
            let d = s - p;
            if d > 0.0 {
                n += 1;
                narrowest = narrowest.min(d);
                // The last of equal stretches.
                if d >= widest.1 - widest.0 {
                    widest = (p, s);
                }
            }
        }
        prev = Some(s);
    }
    if n < 4 || widest.1 - widest.0 <= GAP_INTERVALS * narrowest {
        return None;
    }
    let (from, to) = widest;
    let mut intervals: Vec<f64> = steps()
        .zip(steps().skip(1))
        .map(|(a, b)| b - a)
        .filter(|&d| d > 0.0)
        .collect();
    let middle = intervals.len() / 2;
    let usual = *intervals.select_nth_unstable_by(middle, f64::total_cmp).1;
    let wide = intervals
        .iter()
        .filter(|&&d| d > GAP_INTERVALS * usual)
        .count();
    if wide == 0 {
        return None;
    }
    let count = crate::model::format_count;
    let more = match wide - 1 {
        0 => String::new(),
        1 => format!(" (and 1 more gap over {GAP_INTERVALS}× that interval)"),
        n => format!(" (and {n} more gaps over {GAP_INTERVALS}× that interval)"),
    };
    Some(format!(
        "the training loss has a gap: none is logged from step {} to step {} ({} steps; elsewhere it is logged every {}){more}, so a comparison inside it reads a straight line drawn across it",
        count(from),
        count(to),
        count(to - from),
        count(usual)
    ))
}

/// Warns a run that was read from the files an earlier one was, a checkpoint's trainer state
/// counted as its run directory's (the same directory given twice, or two checkpoint folders of
/// one run, each read with its run directory): the two are one run. Paths are compared as the
/// file system resolves them (`./run` and `run` are one), stdin never.
pub fn note_same_files(runs: &mut [Run]) {
    use std::path::PathBuf;
    // A file as compared, and whether it is a checkpoint's state read with its run directory
    // (`folder`: the run was given as a directory; a state file given alone is itself).
    let key = |path: &str, folder: bool| -> Option<(PathBuf, bool)> {
        let real = std::fs::canonicalize(path).ok()?;
        let checkpoint = real.parent().filter(|_| folder).and_then(|d| {
            source::checkpoint_number(d.file_name()?.to_str()?)?;
            d.parent()
        });
        Some(match checkpoint {
            Some(run_dir) => (run_dir.join("trainer_state.json"), true),
            None => (real, false),
        })
    };
    let files = |r: &Run| -> Option<(Vec<PathBuf>, bool)> {
        let folder = Path::new(&r.path).is_dir();
        let keys: Vec<_> = r
            .sources
            .iter()
            .filter(|s| s.format.is_some())
            .map(|s| key(&s.path, folder))
            .collect::<Option<_>>()?;
        let checkpoint = keys.iter().any(|k| k.1);
        let mut paths: Vec<_> = keys.into_iter().map(|k| k.0).collect();
        paths.sort();
        paths.dedup();
        (!paths.is_empty()).then_some((paths, checkpoint))
    };
    // Resolved on the pool's threads: a run's files are a few system calls each.
    let read: Vec<_> = runs.par_iter().map(files).collect();
    for j in 1..runs.len() {
        let Some((mine, checkpoint)) = &read[j] else {
            continue;
        };
        // Two checkpoint folders are one run when each was read as the run directory's whole
        // run; one whose own state was read instead (a stale checkpoint of another run in the
        // same output folder) holds another curve, and is not.
        let same_curve = |a: &Run, b: &Run| match (a.loss(), b.loss()) {
            (Some(x), Some(y)) => {
                x.points.len() == y.points.len()
                    && x.points
                        .last()
                        .map(|p| (p.step.to_bits(), p.value.to_bits()))
                        == y.points
                            .last()
                            .map(|p| (p.step.to_bits(), p.value.to_bits()))
            }
            (x, y) => x.is_none() && y.is_none(),
        };
        let Some(i) = (0..j).find(|&i| {
            read[i].as_ref().is_some_and(|(p, theirs)| {
                p == mine && (!(*checkpoint || *theirs) || same_curve(&runs[i], &runs[j]))
            })
        }) else {
            continue;
        };
        let hint = if *checkpoint || read[i].as_ref().is_some_and(|r| r.1) {
            " (a checkpoint folder is read with its run directory; to compare checkpoints, give their trainer_state.json files)"
        } else {
            ""
        };
        let (first, path) = (runs[i].label.clone(), runs[i].path.clone());
        runs[j].warnings.push(format!(
            "read from the same files as {first} ({path}): the two are one run{hint}"
        ));
    }
}

/// The furthest step a file says training reached ([`Stood`]): its step, or its epoch × steps
/// per epoch.
struct Reached<'a> {
    step: f64,
    path: &'a str,
    /// How the file says it, when not by the step: " (epoch 3)".
    by: String,
}

fn reached<'a>(files: &'a [ReadFile], config: &crate::model::RunConfig) -> Option<Reached<'a>> {
    let spe = config.num(Key::StepsPerEpoch);
    let total = config.num(Key::TotalSteps);
    files
        .iter()
        .filter_map(|f| {
            let st = f.parsed.stood?;
            let (step, by) = match st.step {
                Some(s) => (s, String::new()),
                None => {
                    // The epoch counts micro-batches, so a partial last accumulation puts it up
                    // to a step off the trainer's count: within a step of the planned total,
                    // training reached that total.
                    let at = st.epoch * spe?;
                    let step = match total {
                        Some(t) if (at - t).abs() <= 1.0 => t,
                        _ => at.round(),
                    };
                    (
                        step,
                        format!(" (epoch {})", crate::model::format_number(st.epoch)),
                    )
                }
            };
            Some(Reached {
                step,
                path: &f.path,
                by,
            })
        })
        .max_by(|a, b| a.step.total_cmp(&b.step))
}

/// Adds a file that was read: its warnings (prefixed with its path), its line in the sources
/// list, and the file itself for resolving and merging.
fn keep(
    file: ReadFile,
    sources: &mut Vec<SourceFile>,
    warnings: &mut Vec<String>,
    files: &mut Vec<ReadFile>,
) {
    for w in &file.parsed.warnings {
        warnings.push(format!("{}: {w}", file.path));
    }
    sources.push(SourceFile {
        path: file.path.clone(),
        format: Some(file.format.name()),
        note: describe(&file.parsed),
    });
    files.push(file);
}

/// A file's warnings in one clause: the first three, and how many more. `None` for none.
fn warned(warnings: &[String]) -> Option<String> {
    match warnings.len() {
        0 => None,
        1..=3 => Some(warnings.join("; ")),
        n => Some(format!("{}; +{} more", warnings[..3].join("; "), n - 3)),
    }
}

fn describe(p: &Parsed) -> String {
    let mut names: Vec<&str> = p.records.columns().iter().map(|c| &*c.name).collect();
    names.sort_unstable();
    names.dedup();
    let shown: Vec<&str> = names.iter().copied().take(6).collect();
    let more = names.len().saturating_sub(shown.len());
    let mut s = source::plural(p.records.len(), "record");
    if !shown.is_empty() {
        s.push_str(&format!(
            " ({}{})",
            shown.join(", "),
            if more > 0 {
                format!(", +{more}")
            } else {
                String::new()
            }
        ));
    }
    if !p.facts.is_empty() {
        s.push_str(&format!(
            ", {}",
            source::plural(p.facts.len(), "config value")
        ));
    }
    s
}

/// Sniffs and reads one file. `Ok(None)`: not a format losscmp reads. Each file is opened once
/// ([`source::Input`]): a stream (stdin, a FIFO) is sniffed from its head and read on from there.
fn read_file(path: &Path, columns: &[(String, String)]) -> Result<Option<ReadFile>, IngestError> {
    let input = source::Input::open(path)?;
    read_opened(path, input, columns)
}

/// Reads an opened input whose head was sniffed: see [`read_file`].
fn read_opened(
    path: &Path,
    input: source::Input,
    columns: &[(String, String)],
) -> Result<Option<ReadFile>, IngestError> {
    let display = shown(path);
    let Some(sniffed) = sniff(path, input.head(), columns)? else {
        return Ok(None);
    };
    // A console log's end is searched for a crash: a plain file's read again from its end, a
    // compressed file's or a stream's kept as it is read.
    let console = sniffed.format.console();
    if console {
        input.keep_tail();
    }
    let kept = input.kept();
    let mut parsed = read_as(sniffed.format, input, path, columns)?;
    let end = kept.as_ref().and_then(|k| k.lock().ok());
    if let Some(cut) = end.as_ref().and_then(|e| e.cut.as_ref()) {
        parsed.warnings.push(format!(
            "the compressed data stops short ({cut}): a file cut short, still being written or damaged; read what comes before"
        ));
    }
    if console {
        parsed.crashed = match &end {
            Some(end) => crash_of(&display, &parsed, |last| {
                crash::in_tail(&end.bytes, last, || Ok(end.lines_before))
            }),
            // Nothing kept: a plain file (every other input is watched), read again at its end.
            None => crash_of(&display, &parsed, |last| crash::at_end(path, last)),
        };
    }
    if parsed.records.is_empty() && parsed.facts.is_empty() {
        if sniffed.unsure {
            return Ok(None);
        }
        // What the reader warned of may say why (a `--columns` name the header lacks).
        let why = match warned(&parsed.warnings) {
            Some(w) => format!(": {w}"),
            None => String::new(),
        };
        return Err(IngestError::NothingUsable {
            path: display,
            format: sniffed.format.name(),
            why,
        });
    }
    Ok(Some(ReadFile {
        path: display,
        format: sniffed.format,
        parsed,
    }))
}

/// The crash a console log (shown as `display`) ends with, as `find` finds it after the line
/// of the log's last record, if any.
fn crash_of(
    display: &str,
    parsed: &Parsed,
    find: impl FnOnce(u64) -> std::io::Result<Option<crash::Crash>>,
) -> Option<crate::model::Crashed> {
    let records = &parsed.records;
    let last_record = (0..records.len())
        .map(|i| u64::from(records.line(i)))
        .max()
        .unwrap_or(0);
    // Unreadable now that it was read: nothing more to say of it.
    let crash = find(last_record).ok()??;
    let after_summary = parsed
        .facts
        .iter()
        .find_map(|f| match f.locator {
            At::Line(n, _) if f.key == Key::TrainRuntime => Some(u64::from(n)),
            _ => None,
        })
        .filter(|&l| l < crash.line);
    Some(crate::model::Crashed {
        path: display.to_string(),
        line: crash.line,
        exception: crash.exception,
        after_summary,
        cancelled: crash.cancelled,
    })
}

/// What sniffing a head decided.
#[derive(Clone, Copy)]
struct Sniffed {
    format: FormatRef,
    /// Only "not sure" (a text file that might be a stdout log): finding nothing in it means it
    /// is not one, rather than an error.
    unsure: bool,
}

/// Which format a file is, from its head (and name): the binary formats on the raw bytes, then
/// the text formats in registry order, the first "yes" else the first "not sure". Errors for
/// what cannot be read at all: an empty file, a Git LFS pointer, binary data no reader knows.
fn sniff(
    path: &Path,
    head: &[u8],
    columns: &[(String, String)],
) -> Result<Option<Sniffed>, IngestError> {
    let display = shown(path);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if head.is_empty() {
        return Err(IngestError::Empty { path: display });
    }
    if head.starts_with(b"version https://git-lfs.github.com/spec/") {
        return Err(IngestError::LfsPointer { path: display });
    }
    let sure = |format| {
        Ok(Some(Sniffed {
            format,
            unsure: false,
        }))
    };
    let on = |text: &str, binary: bool| {
        let h = formats::Head {
            bytes: head,
            text,
            name: &name,
            columns,
        };
        let mut unsure = None;
        for f in formats::REGISTRY.iter().filter(|f| f.binary() == binary) {
            match f.sniff(&h) {
                formats::Sniff::Yes => return (Some(*f), None),
                formats::Sniff::Unsure if unsure.is_none() => unsure = Some(*f),
                _ => {}
            }
        }
        (None, unsure)
    };
    if let (Some(f), _) = on("", true) {
        return sure(f);
    }
    if source::looks_binary(head) {
        return Err(IngestError::Binary { path: display });
    }
    // Valid UTF-8 borrowed as is (`from_utf8_lossy` walks it more slowly).
    let text = match std::str::from_utf8(head) {
        Ok(text) => std::borrow::Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(head),
    };
    Ok(match on(&text, false) {
        (Some(f), _) => Some(Sniffed {
            format: f,
            unsure: false,
        }),
        (None, Some(f)) => Some(Sniffed {
            format: f,
            unsure: std::ptr::addr_eq(f, formats::STDOUT),
        }),
        (None, None) => None,
    })
}

/// Reads an input as `format`.
fn read_as(
    format: FormatRef,
    input: source::Input,
    path: &Path,
    columns: &[(String, String)],
) -> Result<Parsed, IngestError> {
    let display = shown(path);
    let mut parsed = format.read(formats::Source {
        input,
        path,
        display: &display,
        columns,
    })?;
    drop_overlong_names(&mut parsed);
    Ok(parsed)
}

/// A Trainer subclass that logs its rate as `lr` and never as `learning_rate` (a custom `log()`
/// override): that is the learning rate, as LLaMA-Factory's and torchtune's `lr` are. For the
/// readers of the HF Trainer's own records (its state, its stdout), each at its end, so that a
/// log followed as it grows is named as one read whole.
pub(in crate::ingest) fn rate_named_lr(records: &mut Records) {
    records.rename_column("lr", "learning_rate");
}

/// A key longer than this is not a metric name: the longest the trainers write are tens of
/// bytes (`eval_mmlu_high_school_european_history_accuracy`, `train/global_step`).
const MAX_NAME_BYTES: usize = 256;

/// Drops the metric columns named by keys over [`MAX_NAME_BYTES`], and says so. Such a key is
/// a damaged line's (a fuzzed log held one of 100 MB): kept, it was a metric whose name filled
/// the JSON output and the file's note.
fn drop_overlong_names(parsed: &mut Parsed) {
    let over = parsed
        .records
        .columns()
        .iter()
        .filter(|c| c.name.len() > MAX_NAME_BYTES);
    let (count, longest) = over.fold((0usize, 0usize), |(n, l), c| (n + 1, l.max(c.name.len())));
    if count == 0 {
        return;
    }
    parsed
        .records
        .retain_columns(|c| c.name.len() <= MAX_NAME_BYTES);
    let longest = crate::model::format_count(longest as f64);
    parsed.warnings.push(if count == 1 {
        format!(
            "a field keyed by {longest} bytes (over {MAX_NAME_BYTES}): not a metric name, so its values were not read"
        )
    } else {
        format!(
            "{count} fields keyed by more than {MAX_NAME_BYTES} bytes (the longest {longest}): not metric names, so their values were not read"
        )
    });
}

/// How far a printed epoch may be from the true one: 2 decimals in older transformers
/// (±0.005), 4 significant digits in 5.x (±0.05%), whichever is wider at `epoch`.
pub(crate) fn epoch_doubt(epoch: f64) -> f64 {
    const ABSOLUTE: f64 = 0.005;
    const RELATIVE: f64 = 5e-4;
    ABSOLUTE.max(epoch.abs() * RELATIVE)
}

/// Warns about NUL bytes in a text document that was read whole (its reader skipped the lines
/// that hold them as it skips any junk line).
pub(crate) fn damage_warning(text: &str, parsed: &mut Parsed) {
    if let Some(damage) = source::nul_damage(text.as_bytes()) {
        parsed.warnings.push(damage.warning());
    }
}

/// How a file is named in provenance and messages: its path, or `stdin` for `-`.
fn shown(path: &Path) -> String {
    if path.as_os_str() == "-" {
        "stdin".into()
    } else {
        path.display().to_string()
    }
}

/// Hands out a few bytes per `read`, so that a reader's blocks end at every possible place
/// (readers' tests compare such reads with one whole read).
#[cfg(test)]
pub(crate) struct Trickle<'a>(pub &'a [u8], pub usize);

#[cfg(test)]
impl std::io::Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.1.min(self.0.len()).min(buf.len());
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}
