//! The hand-off types of the pipeline: what `ingest` produces (`Run`), what `align` and
//! `diagnose` consume, and what `report` renders (`Finding`). Nothing here knows which log format
//! a value came from; it only carries the provenance string that says so.

use std::collections::BTreeMap;
use std::fmt;

pub mod frame;
pub mod origin;

pub use frame::{Column, Coordinate, Frame, Name, Points, Row};
pub use origin::{At, Locator, Provenance};

/// A value with the place it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Sourced<T> {
    /// The value itself.
    pub value: T,
    /// Where it came from.
    pub source: Provenance,
}

impl<T> Sourced<T> {
    /// Pairs a value with its provenance.
    pub fn new(value: T, source: Provenance) -> Self {
        Sourced { value, source }
    }
}

/// The configuration keys a run is described by, in the order they are reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Key {
    WorldSize,
    PerDeviceBatch,
    GradAccum,
    EffectiveBatch,
    LearningRate,
    NumExamples,
    Epochs,
    TotalSteps,
    StepsPerEpoch,
    LoggingSteps,
    WarmupSteps,
    WarmupRatio,
    Scheduler,
    Optimizer,
    TransformersVersion,
    TrainRuntime,
    TrainSamplesPerSecond,
    /// The end-of-training steps per second (transformers 4.5 and later write it beside the
    /// samples per second; before, `train_samples_per_second` counted steps).
    TrainStepsPerSecond,
    /// The optimizer step a resumed run's last session started from (the Trainer's
    /// "Resuming training from checkpoint ... global step N").
    ResumedFromStep,
    TokensSeen,
    /// The best value of the metric the run kept its best checkpoint by (`best_metric` in
    /// `trainer_state.json`; `metric_for_best_model` is not written there, so the metric is
    /// found as the eval series that holds this value).
    BestMetric,
    /// The trainer that wrote the run (`hf`, `llamafactory`, `axolotl`, `deepspeed`,
    /// `megatron`, `nanogpt`, `ms-swift`, `torchtune`), so fixes use its option names.
    Trainer,
}

impl Key {
    /// Every key, in report order.
    pub const ALL: [Key; 22] = [
        Key::WorldSize,
        Key::PerDeviceBatch,
        Key::GradAccum,
        Key::EffectiveBatch,
        Key::LearningRate,
        Key::NumExamples,
        Key::Epochs,
        Key::TotalSteps,
        Key::StepsPerEpoch,
        Key::LoggingSteps,
        Key::WarmupSteps,
        Key::WarmupRatio,
        Key::Scheduler,
        Key::Optimizer,
        Key::TransformersVersion,
        Key::TrainRuntime,
        Key::TrainSamplesPerSecond,
        Key::TrainStepsPerSecond,
        Key::ResumedFromStep,
        Key::TokensSeen,
        Key::BestMetric,
        Key::Trainer,
    ];

    /// The stable name used in JSON and in `--set RUN:KEY=VALUE`.
    pub fn name(self) -> &'static str {
        match self {
            Key::WorldSize => "world_size",
            Key::PerDeviceBatch => "per_device_batch",
            Key::GradAccum => "grad_accum",
            Key::EffectiveBatch => "effective_batch",
            Key::LearningRate => "learning_rate",
            Key::NumExamples => "num_examples",
            Key::Epochs => "epochs",
            Key::TotalSteps => "total_steps",
            Key::StepsPerEpoch => "steps_per_epoch",
            Key::LoggingSteps => "logging_steps",
            Key::WarmupSteps => "warmup_steps",
            Key::WarmupRatio => "warmup_ratio",
            Key::Scheduler => "scheduler",
            Key::Optimizer => "optimizer",
            Key::TransformersVersion => "transformers_version",
            Key::TrainRuntime => "train_runtime",
            Key::TrainSamplesPerSecond => "train_samples_per_second",
            Key::TrainStepsPerSecond => "train_steps_per_second",
            Key::ResumedFromStep => "resumed_from_step",
            Key::TokensSeen => "tokens_seen",
            Key::BestMetric => "best_metric",
            Key::Trainer => "trainer",
        }
    }

    /// Looks a key up by its stable name.
    pub fn from_name(name: &str) -> Option<Key> {
        Key::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Whether the key holds text rather than a number.
    pub fn is_text(self) -> bool {
        matches!(
            self,
            Key::Scheduler | Key::Optimizer | Key::TransformersVersion | Key::Trainer
        )
    }
}

/// A configuration value: a number or a piece of text.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfigValue {
    Number(f64),
    Text(String),
}

impl ConfigValue {
    /// The number, when this value is one.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            ConfigValue::Number(x) => Some(*x),
            ConfigValue::Text(_) => None,
        }
    }
}

impl fmt::Display for ConfigValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigValue::Number(x) => f.write_str(&format_number(*x)),
            ConfigValue::Text(s) => f.write_str(s),
        }
    }
}

/// Formats a number the way every output does: integers without a fraction, others with up to
/// six significant digits, so that golden files do not depend on float noise.
pub fn format_number(x: f64) -> String {
    if !x.is_finite() {
        return if x.is_nan() {
            "NaN".into()
        } else if x > 0.0 {
            "inf".into()
        } else {
            "-inf".into()
        };
    }
    if x == x.trunc() && x.abs() < 1e15 {
        return format!("{}", x as i64);
    }
    let magnitude = x.abs().log10().floor() as i32;
    if !(-4..15).contains(&magnitude) {
        // Four significant digits at most, and no zeros padding them ("5e-5", "9.35e-5", not
        // "5.000e-5"): a digit shown is a digit known.
        let s = format!("{x:.3e}");
        return match s.split_once('e') {
            Some((m, e)) if m.contains('.') => {
                format!("{}e{e}", m.trim_end_matches('0').trim_end_matches('.'))
            }
            _ => s,
        };
    }
    let decimals = (5 - magnitude).max(0) as usize;
    let s = format!("{x:.decimals$}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

/// A number in `format!` as [`format_number`] writes it (`{}` of `Shown(x)`): a derivation
/// names the values it used as the configuration table shows them.
pub struct Shown(pub f64);

impl fmt::Display for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_number(self.0))
    }
}

/// A count for text: whole numbers with thousands separators (6,144), others as
/// [`format_number`] writes them.
pub fn format_count(x: f64) -> String {
    if x.is_finite() && x == x.trunc() && x.abs() < 1e15 {
        let s = (x.abs() as i64).to_string();
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            if i > 0 && (s.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        if x < 0.0 { format!("-{out}") } else { out }
    } else {
        format_number(x)
    }
}

/// A run's configuration: every key that could be determined, with where it came from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunConfig {
    /// Resolved values; a key that is absent is unknown.
    pub values: BTreeMap<Key, Sourced<ConfigValue>>,
    /// Where the run's own arguments set a key (a recipe YAML, `training_args.json`, W&B's
    /// config): the file a fix edits. Present only when such a file was read.
    pub set_in: BTreeMap<Key, Provenance>,
    /// Where the run's arguments set the step count it stops at (`max_steps` in a file of
    /// arguments or in a printout of them in its log, a script's `Max steps:`): that count, not
    /// its epochs, ends the run.
    pub step_limit: Option<Provenance>,
}

impl RunConfig {
    /// The numeric value of a key, if known.
    pub fn num(&self, key: Key) -> Option<f64> {
        self.values.get(&key).and_then(|v| v.value.as_f64())
    }

    /// The text value of a key, if known.
    pub fn text(&self, key: Key) -> Option<&str> {
        match self.values.get(&key).map(|v| &v.value) {
            Some(ConfigValue::Text(s)) => Some(s),
            _ => None,
        }
    }

    /// The value with its provenance.
    pub fn get(&self, key: Key) -> Option<&Sourced<ConfigValue>> {
        self.values.get(&key)
    }

    /// Whether the run's gradient accumulation is the total over all processes: nanoGPT's
    /// `gradient_accumulation_steps`, which its train.py divides by the world size. The
    /// effective batch is then per-device batch × accumulation on any number of processes.
    pub fn accumulation_is_total(&self) -> bool {
        self.text(Key::Trainer) == Some("nanogpt")
    }

    /// The effective batch the factors make, where all they need is known: world size ×
    /// per-device batch × accumulation, or per-device batch × accumulation where the
    /// accumulation is the total over all processes; with the formula it was worked out by.
    pub fn batch_product(&self) -> Option<(f64, String)> {
        let (b, g) = (self.num(Key::PerDeviceBatch)?, self.num(Key::GradAccum)?);
        if self.accumulation_is_total() {
            return Some((
                b * g,
                format!("per_device_batch {b} × grad_accum {g} (the total over all processes)"),
            ));
        }
        let w = self.num(Key::WorldSize)?;
        Some((
            w * b * g,
            format!("world_size {w} × per_device_batch {b} × grad_accum {g}"),
        ))
    }

    /// Sets a key unless it is already known. A non-finite number (a derivation that divided by
    /// zero or overflowed) is not a value and is not set.
    pub fn set_if_absent(&mut self, key: Key, value: ConfigValue, source: Provenance) {
        if value.as_f64().is_some_and(|x| !x.is_finite()) {
            return;
        }
        self.values
            .entry(key)
            .or_insert_with(|| Sourced::new(value, source));
    }
}

/// A coordinate that may be unknown, in the 8 bytes of an `f64`: NaN stands for "not known".
/// A coordinate is finite or unknown: an axis logged as NaN or ±inf places nothing (readers
/// count such records, and ingest warns about them). Points hold four of them; a million-point
/// series would spend 32 MB more on `Option<f64>`'s tags and padding.
#[derive(Clone, Copy)]
pub struct Coord(f64);

/// Two unknowns are equal, as two `None`s are.
impl PartialEq for Coord {
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get()
    }
}

impl Coord {
    /// Not known.
    pub const UNKNOWN: Coord = Coord(f64::NAN);

    /// A coordinate as a frame stores it: finite, or NaN for unknown.
    #[inline]
    pub(crate) fn from_raw(x: f64) -> Coord {
        Coord(if x.is_finite() { x } else { f64::NAN })
    }

    /// The value, when known.
    #[inline]
    pub fn get(self) -> Option<f64> {
        (!self.0.is_nan()).then_some(self.0)
    }
}

impl From<Option<f64>> for Coord {
    #[inline]
    fn from(x: Option<f64>) -> Self {
        Coord(x.filter(|v| v.is_finite()).unwrap_or(f64::NAN))
    }
}

impl fmt::Debug for Coord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.get().fmt(f)
    }
}

/// One logged value of one metric, placed on every axis that could be computed: a view of one
/// row of a [`Frame`] and one value of a metric's column (see [`frame`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Optimizer step.
    pub step: f64,
    /// Epoch, as logged or derived.
    pub epoch: Coord,
    /// Samples seen at this step (step × effective batch, or epoch × examples).
    pub samples: Coord,
    /// Tokens seen, when the trainer counted them.
    pub tokens: Coord,
    /// Seconds since the start of training, when logged.
    pub time: Coord,
    /// The metric's value; may be NaN or infinite as logged.
    pub value: f64,
    /// 1-based line (text formats) or entry index (JSON formats) in the series' source file.
    pub line: u32,
}

impl Point {
    /// Where the point is, in words: "step 1,330" (a count as the text writes counts), or
    /// "epoch 1.5" for a point with no step (a log whose steps nothing gives, kept on the epoch
    /// axis).
    pub fn position(&self) -> String {
        self.position_with(format_count)
    }

    /// [`Point::position`] with the step written by `step`: an evidence name keeps its
    /// digits plain ("loss[run8]@step 1000"), an identifier rather than prose.
    pub fn position_with(&self, step: fn(f64) -> String) -> String {
        match (self.step.is_finite(), self.epoch.get()) {
            (true, _) => format!("step {}", step(self.step)),
            (false, Some(e)) => format!("epoch {}", format_number(e)),
            (false, None) => "an unknown step".into(),
        }
    }

    /// A point at `step` with no other coordinate known yet.
    pub fn at_step(step: f64, value: f64, line: u32) -> Self {
        Point {
            step,
            epoch: Coord::UNKNOWN,
            samples: Coord::UNKNOWN,
            tokens: Coord::UNKNOWN,
            time: Coord::UNKNOWN,
            value,
            line,
        }
    }
}

/// All points of one metric of one run, in step order, one per step.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The metric name as logged (`loss`, `eval_loss`, `grad_norm`, ...).
    pub name: String,
    /// The points, sorted by step.
    pub points: Points,
    /// The file whose points won the merge.
    pub source: String,
    /// What the points' `line` counts in `source`.
    pub locator: Locator,
    /// How the step of each point was known (`logged`, or how it was derived).
    pub step_origin: String,
    /// Other files that held the same metric.
    pub also_in: Vec<String>,
    /// Points taken from other files beyond the winner's last step (e.g. a crashed run).
    pub extended: usize,
    /// Points dropped because their step was logged again later (resumed runs, two writers).
    pub dropped_duplicates: usize,
}

impl Series {
    /// Where point `p` of this series was logged.
    pub fn origin(&self, p: &Point) -> Provenance {
        Provenance::file(self.source.clone(), self.locator.at(p.line))
    }

    /// The last point with a finite value.
    pub fn last_finite(&self) -> Option<Point> {
        self.points.iter().rev().find(|p| p.value.is_finite())
    }

    /// The first point with a finite, positive value (where training starts).
    pub fn first_positive(&self) -> Option<Point> {
        self.points
            .iter()
            .find(|p| p.value.is_finite() && p.value > 0.0)
    }

    /// The numbers every output shows for a series, from one pass: the last point, the last
    /// finite one (what "final" means everywhere), the smallest finite value and how many were
    /// not finite.
    pub fn summary(&self) -> Summary {
        let mut s = Summary {
            points: self.points.len(),
            last: self.points.last(),
            ..Summary::default()
        };
        // Over the values alone: a point is made only for the final one.
        let mut final_index = None;
        for (i, &v) in self.points.values().iter().enumerate() {
            if v.is_finite() {
                final_index = Some(i);
                s.min = Some(s.min.map_or(v, |m| m.min(v)));
            } else {
                s.nonfinite += 1;
            }
        }
        s.final_point = final_index.and_then(|i| self.points.get(i));
        s
    }

    /// The smallest finite value.
    pub fn min_finite(&self) -> Option<f64> {
        self.points
            .values()
            .iter()
            .copied()
            .filter(|v| v.is_finite())
            .reduce(f64::min)
    }
}

/// A series' summary ([`Series::summary`]).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Summary {
    /// Points in the series.
    pub points: usize,
    /// The last point, finite or not.
    pub last: Option<Point>,
    /// The last point with a finite value: the series' final value in every output.
    pub final_point: Option<Point>,
    /// The smallest finite value.
    pub min: Option<f64>,
    /// Points whose value is NaN or infinite.
    pub nonfinite: usize,
}

/// A file that was looked at while reading a run, and what became of it.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceFile {
    /// The path as given or found.
    pub path: String,
    /// The format it was read as (`hf_trainer_state`, `stdout`, ...); `None` when it was
    /// skipped (the note says why).
    pub format: Option<&'static str>,
    /// What it contributed, or why it was skipped.
    pub note: String,
}

/// One training run as read from disk.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    /// The name shown everywhere (directory name, or `--label`).
    pub label: String,
    /// The path the user gave.
    pub path: String,
    /// Files read or skipped.
    pub sources: Vec<SourceFile>,
    /// The resolved configuration.
    pub config: RunConfig,
    /// Metric series by name.
    pub series: BTreeMap<String, Series>,
    /// Problems found while reading that did not stop it.
    pub warnings: Vec<String>,
    /// A configuration that has not run (`--plan`): its configuration is predicted from the plan
    /// and the baseline, and it has no series.
    pub planned: bool,
    /// The crash a console log of the run ends with, if any.
    pub crashed: Option<Crashed>,
    /// The step at which an end-of-training summary says training ended, when that is well
    /// before the planned total: the run was stopped early (an early-stopping callback, a stop
    /// condition). The checks still read the planned steps; the outputs show both.
    pub stopped_early: Option<f64>,
}

/// The Python exception a console log ends with (after its last metric record): where, what,
/// and whether an end-of-training summary came before it (training had finished).
#[derive(Debug, Clone, PartialEq)]
pub struct Crashed {
    /// The log's path, as shown.
    pub path: String,
    /// The exception's line (from 1).
    pub line: u64,
    /// The exception as printed (clipped), a torchrun summary's first failure added.
    pub exception: String,
    /// The line of an end-of-training summary before it.
    pub after_summary: Option<u64>,
    /// Whether it is the scheduler's cancel line (slurm's time limit), not an exception.
    pub cancelled: bool,
}

impl Crashed {
    /// "…/train.log ends with a Python exception (line 46): torch.OutOfMemoryError: …".
    pub fn sentence(&self) -> String {
        let after = match self.after_summary {
            Some(l) => format!(
                ", after training had finished (its end-of-training summary is at line {l})"
            ),
            None => String::new(),
        };
        let what = if self.cancelled {
            "slurm cancelling the job"
        } else {
            "a Python exception"
        };
        format!(
            "{} ends with {what} (line {}){after}: {}",
            self.path, self.line, self.exception
        )
    }
}

impl Run {
    /// The training loss series, if logged.
    pub fn loss(&self) -> Option<&Series> {
        self.series.get("loss")
    }

    /// Whether the run is a reinforcement-learning one (GRPO, PPO, …: recognised by a
    /// `reward*` or `kl` metric), whose "loss" is a policy objective that sits near 0, may be
    /// negative, and rises and falls for reasons a language-modelling loss does not.
    pub fn is_rl(&self) -> bool {
        self.series
            .keys()
            .any(|k| k.contains("reward") || k == "kl")
    }

    /// Where a run whose logs stop short of its planned steps stopped: (last loss step, total
    /// steps). See [`stopped_short`].
    pub fn stopped_short(&self) -> Option<(f64, f64)> {
        stopped_short(&self.config, self.loss())
    }

    /// Whether the training loss comes from a checkpoint's files (a `checkpoint-N` folder's
    /// trainer state): logs that stop where the checkpoint was saved.
    pub fn loss_from_checkpoint(&self) -> bool {
        self.loss().is_some_and(|s| {
            std::path::Path::new(&s.source)
                .parent()
                .and_then(|d| d.file_name()?.to_str())
                .and_then(checkpoint_number)
                .is_some()
        })
    }
}

/// N of a folder named `checkpoint-N`, the Trainer's name for a checkpoint's folder.
pub fn checkpoint_number(name: &str) -> Option<u64> {
    name.strip_prefix("checkpoint-")?.parse().ok()
}

/// `part` as a share of `whole`, in whole percent ("48%"), or "under 1%".
pub fn format_share(part: f64, whole: f64) -> String {
    match 100.0 * part / whole {
        p if p < 1.0 => "under 1%".to_string(),
        p => format!("{p:.0}%"),
    }
}

/// Where logs that stop short of the planned steps, with no end-of-training summary, stop: the
/// last training-loss step and the planned total. A finished run's last log may be up to a
/// logging interval before its end (and the interval may be unknown): only a gap past that and
/// 5% of the run counts. A run cut short (crashed, killed) or still running.
pub fn stopped_short(config: &RunConfig, loss: Option<&Series>) -> Option<(f64, f64)> {
    let last = loss?
        .points
        .last()
        .map(|p| p.step)
        .filter(|s| s.is_finite())?;
    let total = config.num(Key::TotalSteps)?;
    (config.get(Key::TrainRuntime).is_none() && falls_short(config, loss, last, total))
        .then_some((last, total))
}

/// A run's label as one shell word, for the `--set LABEL:KEY=N` a message suggests: as it is
/// when it is one already, else in single quotes (`'my run':effective_batch=N` is one word).
pub fn shell_label(label: &str) -> std::borrow::Cow<'_, str> {
    // `#` starts a comment only at the start of a word.
    let plain = !label.is_empty()
        && !label.starts_with('#')
        && label
            .chars()
            .all(|c| c.is_alphanumeric() || "-_./+,@%=#".contains(c));
    if plain {
        label.into()
    } else {
        format!("'{}'", label.replace('\'', r"'\''")).into()
    }
}

/// Whether logs whose last step is `last` fall short of step `end`: a finished run's last log
/// may be up to a logging interval before its end (`logging_steps`, else the last gap between
/// the loss's steps, or a lone loss's step: the Trainer logs first at step `logging_steps`), so
/// only a gap past that and 5% of `end` counts.
pub fn falls_short(config: &RunConfig, loss: Option<&Series>, last: f64, end: f64) -> bool {
    let interval = config
        .num(Key::LoggingSteps)
        .or_else(|| {
            let p = &loss?.points;
            match p.len() {
                1 => Some(p.get(0)?.step),
                n => Some(p.get(n.checked_sub(1)?)?.step - p.get(n.checked_sub(2)?)?.step),
            }
        })
        .filter(|g| g.is_finite())
        .unwrap_or(1.0)
        .max(1.0);
    last + interval.max(0.05 * end) < end
}

/// How serious a finding is. Ordered: `Info < Warning < Error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    /// The lowercase name used in JSON, flags and the terminal.
    pub fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// One number a finding rests on, with where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Evidence {
    /// What the number is, e.g. `effective_batch[run8]`.
    pub name: String,
    /// The number.
    pub value: f64,
    /// Where it came from or how it was computed.
    pub source: Provenance,
}

/// One concrete configuration change: the trainer's own option name, from and to.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigChange {
    /// The run the change applies to.
    pub run: String,
    /// The option name as the trainer spells it (`gradient_accumulation_steps`).
    pub option: String,
    /// Where to make the change (`fixtures/run/config.yaml: line 27 (gradient_accumulation_steps)`),
    /// when the file that set it was read.
    pub file: Option<String>,
    /// The current value, when known.
    pub from: Option<f64>,
    /// The proposed value.
    pub to: f64,
}

/// A fix: what to change, in words and as option changes; alternatives are listed separately.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Fix {
    /// What to do, in one or two sentences.
    pub summary: String,
    /// The changes that make up the primary fix.
    pub changes: Vec<ConfigChange>,
    /// Other options, each in words with its caveats.
    pub alternatives: Vec<String>,
}

/// A diagnosis: what was found, how sure, on which runs, with its evidence and fix.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// Stable kebab-case identifier, e.g. `oversized-effective-batch`.
    pub id: &'static str,
    /// How serious it is.
    pub severity: Severity,
    /// The labels of the runs involved; the reference first where there is one.
    pub runs: Vec<String>,
    /// The run the finding is about and that its fix changes, whichever of `runs` is the
    /// baseline; `None` for a comparison that addresses no run (a scaling efficiency).
    pub subject: Option<String>,
    /// One or two plain sentences with the numbers.
    pub summary: String,
    /// The numbers behind the summary.
    pub evidence: Vec<Evidence>,
    /// What to change, when something can be changed.
    pub fix: Option<Fix>,
}

/// The answer of a comparison, built once by `diagnose` and rendered by every output: per run
/// that needs a change, its one root cause and the one set of config changes, with the findings
/// the cause explains folded under it; the runs that match the baseline; the checks that could
/// not run for want of a fact, with the `--set` that supplies it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Verdict {
    /// One per run that needs a change, in run order.
    pub causes: Vec<Cause>,
    /// Runs equivalent to the baseline, each with the sentence that says so.
    pub matches: Vec<(String, String)>,
    /// The runs clearly better than a baseline no check found a cause for (what the regression
    /// gate would say with the pairs the other way round), and the one sentence that says so.
    pub better: Option<(Vec<String>, String)>,
    /// Checks that could not run.
    pub unchecked: Vec<Unchecked>,
}

/// The root cause of one run's trouble.
#[derive(Debug, Clone, PartialEq)]
pub struct Cause {
    /// The run to change.
    pub run: String,
    /// Index of the root-cause finding in the report's findings.
    pub finding: usize,
    /// The one set of changes for this run (no option twice, nowhere another value for it).
    pub changes: Vec<ConfigChange>,
    /// Indices of the findings this cause explains (folded under it).
    pub explains: Vec<usize>,
}

/// A check that did not run for a run, the facts it lacks, and how to supply them.
#[derive(Debug, Clone, PartialEq)]
pub struct Unchecked {
    /// The finding id of the check (`oversized-effective-batch`).
    pub check: &'static str,
    /// The run whose facts are missing.
    pub run: String,
    /// The keys that are unknown.
    pub missing: Vec<Key>,
    /// The flag that supplies them, e.g. `--set run8:world_size=N`.
    pub set: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_formatted_stably() {
        assert_eq!(format_number(16.0), "16");
        assert_eq!(format_number(0.002), "0.002");
        assert_eq!(format_number(0.0011602), "0.0011602");
        assert_eq!(format_number(2.5002121826), "2.50021");
        assert_eq!(format_number(1.5e-7), "1.5e-7");
        assert_eq!(format_number(5e-5), "5e-5");
        assert_eq!(format_number(9.354e-5), "9.354e-5");
        assert_eq!(format_number(-2.0e-20), "-2e-20");
        assert_eq!(format_number(f64::NAN), "NaN");
    }

    #[test]
    fn unknown_coordinates_are_nan_and_points_stay_small() {
        assert_eq!(Coord::from(None).get(), None);
        assert_eq!(Coord::from(Some(f64::NAN)).get(), None);
        assert_eq!(Coord::from(Some(-0.5)).get(), Some(-0.5));
        assert_eq!(Coord::from(Some(f64::INFINITY)).get(), None);
        assert_eq!(std::mem::size_of::<Point>(), 56);
    }

    #[test]
    fn keys_round_trip_through_their_names() {
        for k in Key::ALL {
            assert_eq!(Key::from_name(k.name()), Some(k));
        }
    }
}

/// The x-axes a comparison can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Axis {
    /// Samples seen.
    Samples,
    /// Tokens seen.
    Tokens,
    /// Epochs.
    Epoch,
    /// Optimizer steps.
    Step,
    /// Seconds since training started.
    Time,
}

impl Axis {
    /// The stable name (`samples`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Axis::Samples => "samples",
            Axis::Tokens => "tokens",
            Axis::Epoch => "epoch",
            Axis::Step => "step",
            Axis::Time => "time",
        }
    }

    /// The unit of a position on the axis, for "samples 4,608–6,144".
    pub fn unit(self) -> &'static str {
        match self {
            Axis::Samples => "samples",
            Axis::Tokens => "tokens",
            Axis::Epoch => "epochs",
            Axis::Step => "steps",
            Axis::Time => "seconds",
        }
    }

    /// A range of the axis in words: "samples 4,608–6,144", "steps 36–48".
    /// Steps, samples and tokens are whole: a window from step 36.5 is said from step 37, the
    /// first one in it.
    pub fn window(self, from: f64, to: f64) -> String {
        let whole = matches!(self, Axis::Step | Axis::Samples | Axis::Tokens);
        let (from, to) = if whole && from.ceil() <= to {
            (from.ceil(), to.floor().max(from.ceil()))
        } else {
            (from, to)
        };
        format!(
            "{} {}–{}",
            self.unit(),
            crate::model::format_count(from),
            crate::model::format_count(to)
        )
    }

    /// Words after an amount on the axis in a sentence: "6,144 samples seen", "3 epochs".
    pub fn amount(self) -> &'static str {
        match self {
            Axis::Samples => "samples seen",
            Axis::Tokens => "tokens seen",
            Axis::Epoch => "epochs",
            Axis::Step => "steps",
            Axis::Time => "seconds",
        }
    }

    /// One unit of the axis, as in "learns less per sample".
    pub fn one(self) -> &'static str {
        match self {
            Axis::Samples => "sample",
            Axis::Tokens => "token",
            Axis::Epoch => "epoch",
            Axis::Step => "step",
            Axis::Time => "second",
        }
    }

    /// An amount on the axis in words: whole samples and tokens, epochs to three significant
    /// digits (never "0 epoch" for a fraction of one).
    pub fn amount_of(self, x: f64) -> String {
        match self {
            Axis::Epoch | Axis::Time => {
                let s = format!("{:.3}", x);
                s.trim_end_matches('0').trim_end_matches('.').to_string()
            }
            _ => crate::model::format_count(x.round()),
        }
    }

    /// Words for an axis label.
    pub fn label(self) -> &'static str {
        match self {
            Axis::Samples => "samples seen",
            Axis::Tokens => "tokens seen",
            Axis::Epoch => "epoch",
            Axis::Step => "optimizer step",
            Axis::Time => "seconds",
        }
    }

    /// The frame column that holds this axis' coordinate.
    pub fn coordinate(self) -> Coordinate {
        match self {
            Axis::Samples => Coordinate::Samples,
            Axis::Tokens => Coordinate::Tokens,
            Axis::Epoch => Coordinate::Epoch,
            Axis::Step => Coordinate::Step,
            Axis::Time => Coordinate::Time,
        }
    }

    /// The point's coordinate on this axis.
    pub fn of(self, p: impl std::borrow::Borrow<Point>) -> Option<f64> {
        let p = p.borrow();
        match self {
            Axis::Samples => p.samples.get(),
            Axis::Tokens => p.tokens.get(),
            Axis::Epoch => p.epoch.get(),
            Axis::Step => Some(p.step).filter(|s| s.is_finite()),
            Axis::Time => p.time.get(),
        }
    }

    /// What to try, in order, when this axis cannot be built for every run.
    pub fn chain(self) -> &'static [Axis] {
        match self {
            Axis::Samples => &[Axis::Samples, Axis::Epoch, Axis::Step],
            Axis::Tokens => &[Axis::Tokens, Axis::Samples, Axis::Epoch, Axis::Step],
            Axis::Epoch => &[Axis::Epoch, Axis::Step],
            Axis::Step => &[Axis::Step],
            Axis::Time => &[Axis::Time, Axis::Samples, Axis::Epoch, Axis::Step],
        }
    }
}
