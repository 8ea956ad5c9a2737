//! The format contract: every log or configuration format losscmp reads is one [`Format`] in
//! one file of this folder, listed once in [`REGISTRY`]. Adding a format is one file and one
//! registry line; discovery, resolving and merging (in `ingest/`) know formats only through this
//! trait.
//!
//! A format has a stable name (shown in the sources list and the JSON), an explicit merge
//! priority, a tri-state sniff on the file's head (yes / no / not sure, as inferno's collapsers
//! do: the first "yes" in registry order wins, else the first "not sure"), and one `read` from
//! an opened [`Input`] to a [`Parsed`] (records and facts, each with its location). The rest
//! are properties the stages after reading ask for instead of naming formats.

mod hf_results;
mod hf_state;
mod lf_jsonl;
mod megatron;
pub(super) mod mlflow;
mod nanogpt;
mod olmo;
pub(super) mod run_args;
pub(super) mod stdout;
mod swift_jsonl;
mod table;
mod tensorboard;
mod torchtune;
mod wandb;

use std::path::Path;

use super::Parsed;
use super::source::{IngestError, Input};
use crate::model::Locator;

/// What a format says of a file's head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sniff {
    /// It is this format.
    Yes,
    /// It is not.
    No,
    /// It may be (a text file named like a log whose metrics may start later).
    Unsure,
}

impl Sniff {
    fn from(b: Option<bool>) -> Sniff {
        match b {
            Some(true) => Sniff::Yes,
            Some(false) => Sniff::No,
            None => Sniff::Unsure,
        }
    }
}

/// The start of a file, as formats sniff it.
pub struct Head<'a> {
    /// The first bytes, decompressed.
    pub bytes: &'a [u8],
    /// The same as text (lossy UTF-8); empty for binary files.
    pub text: &'a str,
    /// The file's name.
    pub name: &'a str,
    /// The `--columns` mapping, for tables.
    pub columns: &'a [(String, String)],
}

/// A file to read: the opened input and what the reader needs to know about it.
pub struct Source<'a> {
    pub input: Input,
    pub path: &'a Path,
    /// The path as shown in messages.
    pub display: &'a str,
    pub columns: &'a [(String, String)],
}

impl Source<'_> {
    /// The whole input as text, read by `read`, with a warning added when it holds NUL bytes
    /// (the reader skips their lines as any junk).
    fn text(
        mut self,
        read: impl FnOnce(&str, &str) -> Result<Parsed, IngestError>,
    ) -> Result<Parsed, IngestError> {
        let text = self.input.text()?;
        let mut parsed = read(&text, self.display)?;
        super::damage_warning(&text, &mut parsed);
        Ok(parsed)
    }
}

/// How a file grows while its trainer runs (`--follow`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Growth {
    /// Lines are appended, each standing alone: read from where the last read stopped.
    Lines,
    /// Lines are appended and read with the state of the lines before (a stdout log).
    Stream,
    /// Rewritten whole, or compact: read again when it changes.
    Rewritten,
}

/// What a file is to the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Logged metrics (and what the trainer printed about its configuration).
    Log,
    /// The arguments the run was given: a fix edits this file.
    Arguments,
}

/// One format.
pub trait Format: Sync {
    /// The stable name shown in output (`hf_trainer_state`, `stdout`, ...).
    fn name(&self) -> &'static str;
    /// Merge priority of its metric series: when two files log the same metric, the lower
    /// number's series is kept (the others are noted, and extend it past its end).
    fn priority(&self) -> u8;
    /// Whether the head is this format.
    fn sniff(&self, head: &Head<'_>) -> Sniff;
    /// Reads the whole file.
    fn read(&self, src: Source<'_>) -> Result<Parsed, IngestError>;
    /// A binary format: sniffed on the raw bytes, before the text formats.
    fn binary(&self) -> bool {
        false
    }
    /// What a record's `line` counts.
    fn locator(&self) -> Locator {
        Locator::Line
    }
    /// How the file grows during training.
    fn growth(&self) -> Growth {
        Growth::Rewritten
    }
    /// What the file is to the run.
    fn role(&self) -> Role {
        Role::Log
    }
    /// The trainer whose format this is, when only one trainer writes it (its option names are
    /// the ones a fix uses).
    fn trainer(&self) -> Option<&'static str> {
        None
    }
    /// Whether logged epochs are precise enough to derive steps per epoch from (a stdout log's
    /// are rounded to 2 decimals or 4 digits).
    fn exact_epochs(&self) -> bool {
        true
    }
    /// Whether the file is what the trainer printed (not a file it wrote for its metrics): a
    /// crash's traceback ends it.
    fn console(&self) -> bool {
        false
    }
}

/// A text format read whole by a function of its text, recognised by a function of its head:
/// the shape most formats have, declared as a value (`pub static FORMAT: TextFormat = …`).
pub struct TextFormat {
    pub name: &'static str,
    pub priority: u8,
    pub sniff: fn(&str) -> Option<bool>,
    pub read: fn(&str, &str) -> Result<Parsed, IngestError>,
    pub growth: Growth,
    pub trainer: Option<&'static str>,
    /// See [`Format::console`].
    pub console: bool,
}

impl Format for TextFormat {
    fn name(&self) -> &'static str {
        self.name
    }
    fn priority(&self) -> u8 {
        self.priority
    }
    fn sniff(&self, head: &Head<'_>) -> Sniff {
        Sniff::from((self.sniff)(head.text))
    }
    fn read(&self, src: Source<'_>) -> Result<Parsed, IngestError> {
        src.text(self.read)
    }
    fn growth(&self) -> Growth {
        self.growth
    }
    fn trainer(&self) -> Option<&'static str> {
        self.trainer
    }
    fn console(&self) -> bool {
        self.console
    }
}

/// A binary format of records read from a stream, recognised by its first bytes (a CRC-framed
/// record): the shape of the tracker files, declared as a value like [`TextFormat`].
pub struct RecordFormat {
    pub name: &'static str,
    pub priority: u8,
    pub sniff: fn(&[u8]) -> bool,
    pub read: fn(Box<dyn std::io::Read + Send>, &str) -> Result<Parsed, IngestError>,
}

impl Format for RecordFormat {
    fn name(&self) -> &'static str {
        self.name
    }
    fn priority(&self) -> u8 {
        self.priority
    }
    fn binary(&self) -> bool {
        true
    }
    fn sniff(&self, head: &Head<'_>) -> Sniff {
        if (self.sniff)(head.bytes) {
            Sniff::Yes
        } else {
            Sniff::No
        }
    }
    fn read(&self, mut src: Source<'_>) -> Result<Parsed, IngestError> {
        (self.read)(src.input.reader()?, src.display)
    }
    fn locator(&self) -> Locator {
        Locator::Record
    }
}

/// Whether a JSON head is losscmp's own report, left in a run directory (its sorted keys start
/// with these two): no trainer's file, whatever options and metrics it names.
pub(super) fn own_report(head: &str) -> bool {
    head.trim_start().starts_with('{')
        && head.contains("\"comparisons\"")
        && head.contains("\"data_axis\"")
}

/// A format, as files and the stages after reading hold it.
pub type FormatRef = &'static dyn Format;

/// Every format, in sniffing order (binary formats are tried first, then the text formats in
/// this order; the first "yes" wins, else the first "not sure").
pub static REGISTRY: [FormatRef; 15] = [
    &wandb::RUN,
    &tensorboard::FORMAT,
    &table::Table,
    &swift_jsonl::FORMAT,
    &hf_state::HfState,
    &lf_jsonl::FORMAT,
    &megatron::FORMAT,
    &nanogpt::FORMAT,
    &torchtune::FORMAT,
    &mlflow::MlflowMetric,
    &wandb::SUMMARY,
    &olmo::FORMAT,
    &stdout::Stdout,
    &hf_results::FORMAT,
    &run_args::RunArgs,
];

/// The run-arguments format (the files a plan and an MLflow run's params are read as).
pub static RUN_ARGS: FormatRef = &run_args::RunArgs;
/// An MLflow metric file.
pub static MLFLOW: FormatRef = &mlflow::MlflowMetric;
/// A captured stdout log.
pub static STDOUT: FormatRef = &stdout::Stdout;

/// The lines of `text`, as [`str::lines`] gives them, whose first non-whitespace bytes are
/// `word`: found by searching for `word`, not by walking every line (a sniff looks at 64 KiB
/// heads that are mostly some other format's lines).
fn lines_starting<'t>(text: &'t str, word: &'t str) -> impl Iterator<Item = &'t str> + 't {
    let b = text.as_bytes();
    memchr::memmem::find_iter(b, word.as_bytes()).filter_map(move |hit| {
        let start = memchr::memrchr(b'\n', &b[..hit]).map_or(0, |p| p + 1);
        if !text[start..hit].trim_start().is_empty() {
            return None;
        }
        let line = match memchr::memchr(b'\n', &b[hit..]) {
            // `lines` drops the `\r` of a `\r\n`.
            Some(p) => text[start..hit + p]
                .strip_suffix('\r')
                .unwrap_or(&text[start..hit + p]),
            None => &text[start..],
        };
        Some(line)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Texts of lines with the word at their start, after spaces or a non-ASCII space, inside
    /// them, twice, after `\r` and `\r\n`, the last one with no newline: the lines found are
    /// those `str::lines` gives that start with the word.
    #[test]
    fn lines_starting_finds_what_walking_the_lines_finds() {
        use proptest::prelude::*;
        let parts = [
            "iter ", "step ", "  ", "\u{a0}", "x", "\n", "\r\n", "\r", "é", "1:",
        ];
        let text = prop::collection::vec(0..parts.len(), 0..40);
        let config = proptest::test_runner::Config {
            cases: 2048,
            failure_persistence: None,
            ..Default::default()
        };
        proptest::test_runner::TestRunner::new(config)
            .run(&text, |picks| {
                let text: String = picks.iter().map(|&i| parts[i]).collect();
                for word in ["iter ", "step "] {
                    let walked: Vec<&str> = text
                        .lines()
                        .filter(|l| l.trim_start().starts_with(word))
                        .collect();
                    let found: Vec<&str> = lines_starting(&text, word).collect();
                    prop_assert_eq!(&walked, &found, "{:?}", text);
                }
                Ok(())
            })
            .expect("the same lines");
    }

    #[test]
    fn names_and_priorities_are_unique() {
        let mut names: Vec<&str> = REGISTRY.iter().map(|f| f.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), REGISTRY.len());
        let mut p: Vec<u8> = REGISTRY.iter().map(|f| f.priority()).collect();
        p.sort_unstable();
        p.dedup();
        assert_eq!(p.len(), REGISTRY.len());
    }
}
