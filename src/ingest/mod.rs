//! Stage 1 of the pipeline: files → [`Run`].
//!
//! A run is a directory (or one file, or stdin). `discover` lists the files worth reading, each
//! format module says by content whether a file is its kind (yes / no / not sure), and `read`
//! turns it into a [`Parsed`]: metric records and configuration facts, each with its location.
//! `resolve` then picks one value per configuration key (and derives what no file states), and
//! `merge` builds one series per metric from all files, one point per step, with samples seen.
//! After this stage nothing knows which format a value came from except through its provenance.

mod deepspeed;
mod flat_json;
mod hf_results;
mod hf_state;
mod lenient;
mod lf_jsonl;
mod megatron;
mod merge;
mod mlflow;
mod nanogpt;
mod plan;
mod records;
mod resolve;
mod run_args;
mod source;
mod stdout;
mod swift_jsonl;
mod table;
mod tail;
mod tensorboard;
mod torchtune;
mod wandb;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::model::{ConfigValue, Key, Run, SourceFile};

pub use plan::read_plan;
pub use records::{Rec, Records};
pub use source::{IngestError, checkpoint_parent};
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

/// The formats losscmp reads; each has one module with `sniff` and `read`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Format {
    /// ms-swift `logging.jsonl`.
    SwiftJsonl,
    /// HF Trainer `trainer_state.json`.
    HfState,
    /// LLaMA-Factory `trainer_log.jsonl`.
    LfJsonl,
    /// Megatron-LM / Megatron-DeepSpeed iteration lines and arguments block.
    Megatron,
    /// nanoGPT and build-nanogpt stdout, build-nanogpt `log.txt`.
    Nanogpt,
    /// torchtune metric logs.
    Torchtune,
    /// An MLflow file store's metric files (a run directory, or one metric file).
    Mlflow,
    /// TensorBoard event files (binary; recognised by their first record's CRC).
    Tensorboard,
    /// CSV/TSV tables: W&B exports, step-and-loss tables, anything mapped with `--columns`.
    Table,
    /// W&B's `run-<id>.wandb` transaction log (binary; recognised by its header).
    Wandb,
    /// Captured stdout/stderr of HF Trainer, LLaMA-Factory, TRL, axolotl.
    Stdout,
    /// HF `all_results.json` / `train_results.json` / `eval_results.json`.
    HfResults,
    /// W&B's `wandb-summary.json`: final values, like results files.
    WandbSummary,
    /// Run arguments: LLaMA-Factory YAML, `training_args.json`.
    RunArgs,
}

impl Format {
    /// Formats in sniffing order, and in merge priority for metric series (earliest wins).
    const ALL: [Format; 11] = [
        Format::SwiftJsonl,
        Format::HfState,
        Format::LfJsonl,
        Format::Megatron,
        Format::Nanogpt,
        Format::Torchtune,
        Format::Mlflow,
        Format::WandbSummary,
        Format::Stdout,
        Format::HfResults,
        Format::RunArgs,
    ];

    /// The stable name shown in output.
    pub fn name(self) -> &'static str {
        match self {
            Format::HfState => "hf_trainer_state",
            Format::LfJsonl => "llamafactory_jsonl",
            Format::SwiftJsonl => "ms_swift_jsonl",
            Format::Megatron => "megatron",
            Format::Nanogpt => "nanogpt",
            Format::Torchtune => "torchtune",
            Format::Mlflow => "mlflow",
            Format::Tensorboard => "tensorboard",
            Format::Table => "table",
            Format::Wandb => "wandb",
            Format::WandbSummary => "wandb_summary",
            Format::Stdout => "stdout",
            Format::HfResults => "hf_results",
            Format::RunArgs => "run_args",
        }
    }

    fn sniff(self, head: &str, name: &str) -> Option<bool> {
        match self {
            Format::HfState => hf_state::sniff(head),
            Format::LfJsonl => lf_jsonl::sniff(head),
            Format::SwiftJsonl => swift_jsonl::sniff(head),
            Format::Megatron => megatron::sniff(head),
            Format::Nanogpt => nanogpt::sniff(head),
            Format::Torchtune => torchtune::sniff(head),
            Format::Mlflow => mlflow::sniff(head),
            // Binary: recognised before the text formats, in `read_file`.
            Format::Tensorboard => Some(false),
            // Needs the --columns mapping: sniffed in `read_file`.
            Format::Table => Some(false),
            // Binary: recognised in `read_file`.
            Format::Wandb => Some(false),
            Format::WandbSummary => wandb::sniff_summary(head),
            Format::Stdout => stdout::sniff(head, name),
            Format::HfResults => hf_results::sniff(head),
            Format::RunArgs => run_args::sniff(head, name),
        }
    }
}

/// One metric record as a format read it: a train log, an eval log, a final value.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Record {
    /// The optimizer step, when the format logs it or the parser could recover it.
    pub step: Option<f64>,
    /// How `step` was known, when it was not logged.
    pub step_origin: Option<&'static str>,
    /// The epoch, when logged.
    pub epoch: Option<f64>,
    /// Seconds since training started, when logged.
    pub time: Option<f64>,
    /// Tokens seen so far, when counted.
    pub tokens: Option<f64>,
    /// Samples seen so far, when the trainer counts them (Megatron's consumed samples).
    pub samples: Option<f64>,
    /// Metric names (normalised to HF's spelling) and values.
    pub metrics: Vec<(Name, f64)>,
    /// 1-based line or entry index in the file.
    pub line: u32,
}

/// A metric name, shared by every record of a file that logs it (a million-entry log holds a
/// handful of distinct names).
pub type Name = Arc<str>;

/// Hands out one shared [`Name`] per distinct metric name.
#[derive(Debug, Default)]
pub struct Names {
    /// The first few names, compared in turn: a log has a handful, and comparing them is
    /// cheaper than hashing each key of a million lines.
    few: Vec<Name>,
    /// Names past the first few (W&B runs log hundreds).
    many: HashSet<Name>,
}

/// How many names are kept in the list compared in turn.
const FEW_NAMES: usize = 16;

impl Names {
    /// The shared copy of `name`.
    pub fn get(&mut self, name: &str) -> Name {
        if let Some(n) = self.few.iter().find(|n| ***n == *name) {
            return Arc::clone(n);
        }
        if let Some(n) = self.many.get(name) {
            return Arc::clone(n);
        }
        let n: Name = name.into();
        if self.few.len() < FEW_NAMES {
            self.few.push(Arc::clone(&n));
        } else {
            self.many.insert(Arc::clone(&n));
        }
        n
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

    /// Warns `"N <what> (first at line L); skipped"` when any line was skipped.
    fn warn(&self, out: &mut Parsed, what: &str) {
        if let Some(line) = self.first {
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
    /// Where in the file (`line 12`, `max_steps`).
    pub locator: String,
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
}

impl Parsed {
    fn fact(&mut self, key: Key, value: f64, locator: impl Into<String>, rank: u8) {
        if value.is_finite() {
            self.facts.push(Fact {
                key,
                value: ConfigValue::Number(value),
                locator: locator.into(),
                rank,
            });
        }
    }

    /// The end-of-training throughput (`train_runtime`, `train_samples_per_second`) read by
    /// `value`, each located by `at(field)`; state written after the fact (rank 2).
    fn throughput(&mut self, value: impl Fn(&str) -> Option<f64>, at: impl Fn(&str) -> String) {
        for (field, key) in [
            ("train_runtime", Key::TrainRuntime),
            ("train_samples_per_second", Key::TrainSamplesPerSecond),
        ] {
            if let Some(x) = value(field) {
                self.fact(key, x, at(field), 2);
            }
        }
    }

    fn text_fact(&mut self, key: Key, value: &str, locator: impl Into<String>, rank: u8) {
        self.facts.push(Fact {
            key,
            value: ConfigValue::Text(value.to_string()),
            locator: locator.into(),
            rank,
        });
    }
}

/// A file read as one format, kept for merging.
#[derive(Debug, Clone)]
struct ReadFile {
    path: String,
    format: Format,
    parsed: Parsed,
}

impl ReadFile {
    /// What its records' `line` counts.
    fn locator(&self) -> crate::model::Locator {
        use crate::model::Locator;
        match self.format {
            Format::HfState => Locator::LogHistoryEntry,
            Format::Tensorboard | Format::Wandb => Locator::Record,
            _ => Locator::Line,
        }
    }
}

/// Reads one run: discovers its files, parses each, resolves its configuration and merges its
/// series. Fails only when nothing usable was found.
pub fn read_run(spec: &RunSpec) -> Result<Run, IngestError> {
    let mut sources = Vec::new();
    let mut warnings = Vec::new();
    let mut files = Vec::new();

    if mlflow::is_run_dir(&spec.path) {
        for (path, parsed) in mlflow::read_run_dir(&spec.path)? {
            let format = if path.ends_with("params") {
                Format::RunArgs
            } else {
                Format::Mlflow
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
            Ok(None) => sources.push(SourceFile {
                path: candidate.display().to_string(),
                format: "skipped".into(),
                note: "not a training log or run configuration losscmp reads".into(),
            }),
            Err(e) if single_file => return Err(e),
            Err(e) => {
                warnings.push(e.to_string());
                sources.push(SourceFile {
                    path: candidate.display().to_string(),
                    format: "skipped".into(),
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
    let series = merge::merge(&mut files, &config, &mut warnings, &mut unplaced);
    if series.is_empty() && unplaced > 0 {
        return Err(IngestError::NoSteps {
            path: display,
            count: unplaced,
            label: spec.label.clone(),
        });
    }
    if series.is_empty() {
        let looked = if sources.is_empty() {
            "no files".to_string()
        } else {
            sources
                .iter()
                .map(|s| s.path.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Err(IngestError::NoMetrics {
            path: display,
            looked,
        });
    }
    if !series.contains_key("loss") {
        warnings.push(
            "no training loss in any file (was logging_steps larger than the run?); loss comparisons are skipped".into(),
        );
    }
    Ok(Run {
        label: spec.label.clone(),
        path: display,
        sources,
        config,
        series,
        warnings,
        planned: false,
    })
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
        format: file.format.name().to_string(),
        note: describe(&file.parsed),
    });
    files.push(file);
}

fn describe(p: &Parsed) -> String {
    let mut names: Vec<&str> = p
        .records
        .iter()
        .flat_map(|r| r.metrics.iter().map(|(n, _)| &**n))
        .collect();
    names.sort_unstable();
    names.dedup();
    let shown: Vec<&str> = names.iter().copied().take(6).collect();
    let more = names.len().saturating_sub(shown.len());
    let mut s = format!("{} records", p.records.len());
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
        s.push_str(&format!(", {} config values", p.facts.len()));
    }
    s
}

/// Sniffs and reads one file. `Ok(None)`: not a format losscmp reads. Each file is opened once
/// ([`source::Input`]): a stream (stdin, a FIFO) is sniffed from its head and read on from there.
fn read_file(path: &Path, columns: &[(String, String)]) -> Result<Option<ReadFile>, IngestError> {
    let (input, head) = source::Input::open(path)?;
    read_opened(path, input, &head, columns)
}

/// Reads an opened input whose head was sniffed: see [`read_file`].
fn read_opened(
    path: &Path,
    input: source::Input,
    head: &[u8],
    columns: &[(String, String)],
) -> Result<Option<ReadFile>, IngestError> {
    let display = path.display().to_string();
    let Some(sniffed) = sniff(path, head, columns)? else {
        return Ok(None);
    };
    let parsed = read_as(sniffed.format, input, path, columns)?;
    if parsed.records.is_empty() && parsed.facts.is_empty() {
        if sniffed.unsure {
            return Ok(None);
        }
        return Err(IngestError::NothingUsable {
            path: display,
            format: sniffed.format.name(),
        });
    }
    Ok(Some(ReadFile {
        path: display,
        format: sniffed.format,
        parsed,
    }))
}

/// What sniffing a head decided.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Sniffed {
    format: Format,
    /// Only "not sure" (a text file that might be a stdout log): finding nothing in it means it
    /// is not one, rather than an error.
    unsure: bool,
}

/// Which format a file is, from its head (and name). Errors for what cannot be read at all: an
/// empty file, a Git LFS pointer, binary data no reader knows.
fn sniff(
    path: &Path,
    head: &[u8],
    columns: &[(String, String)],
) -> Result<Option<Sniffed>, IngestError> {
    let display = path.display().to_string();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let sure = |format| {
        Ok(Some(Sniffed {
            format,
            unsure: false,
        }))
    };
    if head.is_empty() {
        return Err(IngestError::Empty { path: display });
    }
    if head.starts_with(b"version https://git-lfs.github.com/spec/") {
        return Err(IngestError::LfsPointer { path: display });
    }
    if wandb::sniff(head) {
        return sure(Format::Wandb);
    }
    if tensorboard::sniff(head) {
        return sure(Format::Tensorboard);
    }
    if source::looks_binary(head) {
        return Err(IngestError::Binary { path: display });
    }
    // Valid UTF-8 borrowed as is (`from_utf8_lossy` walks it more slowly).
    let head = match std::str::from_utf8(head) {
        Ok(text) => std::borrow::Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(head),
    };
    if table::sniff(&head, &name, columns) {
        return sure(Format::Table);
    }
    let mut unsure = None;
    for f in Format::ALL {
        match f.sniff(&head, &name) {
            Some(true) => return sure(f),
            None if unsure.is_none() => unsure = Some(f),
            _ => {}
        }
    }
    Ok(unsure.map(|format| Sniffed {
        format,
        unsure: format == Format::Stdout,
    }))
}

/// Reads an input as `format`.
fn read_as(
    format: Format,
    mut input: source::Input,
    path: &Path,
    columns: &[(String, String)],
) -> Result<Parsed, IngestError> {
    let display = path.display().to_string();
    Ok(match format {
        Format::Wandb => wandb::read(input.reader()?, &display)?,
        Format::Tensorboard => tensorboard::read(input.reader()?, &display)?,
        Format::Stdout => stdout::read_input(input, &display)?,
        Format::HfState => hf_state::read_input(input, &display)?,
        other => {
            let text = input.text()?;
            let mut parsed = match other {
                Format::Table => table::read(&text, &display, columns)?,
                Format::LfJsonl => lf_jsonl::read(&text, &display)?,
                Format::SwiftJsonl => swift_jsonl::read(&text, &display)?,
                Format::Megatron => megatron::read(&text, &display)?,
                Format::Nanogpt => nanogpt::read(&text, &display)?,
                Format::Torchtune => torchtune::read(&text, &display)?,
                Format::HfResults => hf_results::read(&text, &display)?,
                Format::RunArgs => run_args::read(&text, &display)?,
                Format::Mlflow => mlflow::read_metric_file(&text, path),
                Format::WandbSummary => wandb::read_summary(&text, &display)?,
                Format::Stdout | Format::HfState | Format::Tensorboard | Format::Wandb => {
                    unreachable!("handled above")
                }
            };
            damage_warning(&text, &mut parsed);
            parsed
        }
    })
}

/// Warns about NUL bytes in a text document that was read whole (its reader skipped the lines
/// that hold them as it skips any junk line).
pub(crate) fn damage_warning(text: &str, parsed: &mut Parsed) {
    if let Some(damage) = source::nul_damage(text.as_bytes()) {
        parsed.warnings.push(damage.warning());
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
