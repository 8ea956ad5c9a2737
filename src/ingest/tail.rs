//! `--follow`: a run read again and again as its trainer writes it, reading only what each file
//! gained.
//!
//! - Line logs (stdout, LLaMA-Factory and ms-swift JSONL, nanoGPT, Megatron, torchtune) are
//!   read from the byte where the last read stopped, up to the last complete line; a line being
//!   written waits for the next read. A stdout log keeps its scanner's state between reads (the
//!   training header and the last progress bar), so what is read later is placed as one read of
//!   the whole would place it; the other line logs' lines stand alone and are renumbered.
//! - Documents (trainer_state.json, results and run arguments, tables, TensorBoard and W&B files,
//!   MLflow run folders) are read again when their size or modification time changes: the
//!   trainers rewrite them whole (trainer_state.json at each checkpoint), or they are compact. A
//!   document caught half-written is read again at the next interval; what was read before is
//!   kept meanwhile.
//! - A file that shrinks was replaced: it is read again from its start.
//! - New files (a checkpoint, the results written at the end) are found by listing the run
//!   again at each read.
//!
//! Memory grows with the points read, never with the text: nothing of a line is kept once it is
//! read.

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::formats::{self, FormatRef, Growth, stdout};
use super::{IngestError, ReadFile, RunSpec, source};
use crate::model::{Run, SourceFile};

/// What one read of a followed run found.
#[derive(Debug)]
pub struct Polled {
    /// The run as read so far; `None` while it has nothing to compare yet.
    pub run: Option<Run>,
    /// Whether any file gained data (or appeared) since the last read.
    pub grew: bool,
    /// Why there is no run yet ("no metrics yet"), when there is none.
    pub waiting: Option<String>,
    /// The crash a console log of the run ends with (the warning, also among the run's).
    pub crashed: Option<String>,
}

/// A run being followed.
pub struct Tail {
    spec: RunSpec,
    files: Vec<Tailed>,
    /// For an MLflow run folder (read again whole): the sizes and times last seen.
    mlflow_seen: Option<Vec<(PathBuf, u64, Option<SystemTime>)>>,
    mlflow_run: Option<Run>,
}

/// One file of a followed run.
struct Tailed {
    path: PathBuf,
    /// Size and modification time when last read.
    len: u64,
    modified: Option<SystemTime>,
    how: How,
    /// What it gave so far; `None` when skipped.
    read: Option<ReadFile>,
    /// Why it was skipped.
    skipped: Option<String>,
}

enum How {
    /// Read for the first time at the next poll.
    New,
    /// A line log read up to `offset` (the end of its last complete line), `lines` lines.
    Lines {
        format: FormatRef,
        offset: u64,
        lines: u32,
    },
    /// A stdout log read up to `offset`, its scanner's state kept.
    Stdout {
        offset: u64,
        tail: Box<stdout::Tail>,
    },
    /// Read again whole when it changes.
    Whole,
}

impl Tail {
    /// Starts following a run; nothing is read until [`Tail::poll`].
    pub fn new(spec: RunSpec) -> Tail {
        Tail {
            spec,
            files: Vec::new(),
            mlflow_seen: None,
            mlflow_run: None,
        }
    }

    /// The run's label.
    pub fn label(&self) -> &str {
        &self.spec.label
    }

    /// Reads what the run's files gained since the last poll and builds the run from all that
    /// was read.
    pub fn poll(&mut self) -> Result<Polled, IngestError> {
        if formats::mlflow::is_run_dir(&self.spec.path) {
            return self.poll_mlflow();
        }
        let mut sources = Vec::new();
        let mut warnings = Vec::new();
        let candidates = match source::discover(&self.spec.path, &mut sources, &mut warnings) {
            Ok(c) => c,
            Err(IngestError::Missing { path }) => {
                return Ok(Polled {
                    run: None,
                    grew: false,
                    waiting: Some(format!("{path} does not exist yet")),
                    crashed: None,
                });
            }
            Err(e) => return Err(e),
        };
        let single_file = candidates.len() == 1 && !self.spec.path.is_dir();
        // The files in the order a whole read finds them, those that appeared later among
        // them: a fact two files give alike is taken from the one a whole read takes it from
        // (all_results.json's throughput, not the stdout summary's rounded copy).
        let order = candidates.clone();
        let mut grew = false;
        for path in candidates {
            let i = match self.files.iter().position(|f| f.path == path) {
                Some(i) => i,
                None => {
                    self.files.push(Tailed {
                        path: path.clone(),
                        len: 0,
                        modified: None,
                        how: How::New,
                        read: None,
                        skipped: None,
                    });
                    self.files.len() - 1
                }
            };
            match self.files[i].update(&self.spec.columns) {
                Ok(g) => grew |= g,
                Err(e) if single_file => return Err(e),
                Err(e) => {
                    let f = &mut self.files[i];
                    f.skipped = Some(e.to_string());
                }
            }
        }
        self.files.sort_by_key(|f| {
            order
                .iter()
                .position(|p| *p == f.path)
                .unwrap_or(usize::MAX)
        });
        let mut crashed = None;
        for f in &self.files {
            match (&f.read, &f.skipped) {
                (Some(file), _) => {
                    for w in &file.parsed.warnings {
                        warnings.push(format!("{}: {w}", file.path));
                    }

                    sources.push(SourceFile {
                        path: file.path.clone(),
                        format: Some(file.format.name()),
                        note: super::describe(&file.parsed),
                    });
                }
                (None, note) => sources.push(SourceFile {
                    path: f.path.display().to_string(),
                    format: None,
                    note: note.clone().unwrap_or_else(|| {
                        "not (yet) a training log or run configuration losscmp reads".into()
                    }),
                }),
            }
        }
        let files: Vec<ReadFile> = self
            .files
            .iter()
            .filter_map(|f| {
                let mut read = f.read.clone()?;
                // A console log's end, looked at as it grows (a whole read does it itself).
                if !matches!(f.how, How::Whole) && read.format.console() {
                    read.parsed.crashed = super::crash_of(&read.path, &read.parsed, |last| {
                        super::crash::at_end(&f.path, last)
                    });
                }
                if let Some(c) = &read.parsed.crashed {
                    crashed = Some(c.sentence());
                }
                Some(read)
            })
            .collect();
        match super::assemble(&self.spec, files, sources, warnings) {
            Ok(run) => Ok(Polled {
                run: Some(run),
                grew,
                waiting: None,
                crashed,
            }),
            Err(e @ (IngestError::NoMetrics { .. } | IngestError::NoSteps { .. })) => Ok(Polled {
                run: None,
                grew,
                waiting: Some(e.to_string()),
                crashed,
            }),
            Err(e) => Err(e),
        }
    }

    /// An MLflow run folder: read again whole when any of its files changed.
    fn poll_mlflow(&mut self) -> Result<Polled, IngestError> {
        let mut seen = Vec::new();
        walk(&self.spec.path, &mut seen);
        let grew = self.mlflow_seen.as_ref() != Some(&seen);
        if grew {
            self.mlflow_run = Some(super::read_run(&self.spec)?);
            self.mlflow_seen = Some(seen);
        }
        Ok(Polled {
            run: self.mlflow_run.clone(),
            grew,
            waiting: None,
            crashed: None,
        })
    }
}

/// Every file under `dir` with its size and modification time, sorted.
fn walk(dir: &Path, out: &mut Vec<(PathBuf, u64, Option<SystemTime>)>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        match fs::metadata(&p) {
            Ok(m) if m.is_dir() => walk(&p, out),
            Ok(m) => out.push((p, m.len(), m.modified().ok())),
            Err(_) => {}
        }
    }
}

impl Tailed {
    /// Reads what the file gained; whether it gained anything.
    fn update(&mut self, columns: &[(String, String)]) -> Result<bool, IngestError> {
        let display = self.path.display().to_string();
        let io = |e| IngestError::Io {
            path: display.clone(),
            error: e,
        };
        let meta = fs::metadata(&self.path).map_err(io)?;
        let (len, modified) = (meta.len(), meta.modified().ok());
        let changed = len != self.len || modified != self.modified;
        if !changed && !matches!(self.how, How::New) {
            return Ok(false);
        }
        // A file that shrank was replaced: read from its start. What it held is gone, which
        // is a change of the run (said as growth) even when nothing is read in its place yet
        // (emptied, or not yet a log).
        let mut replaced = false;
        if let How::Lines { offset, .. } | How::Stdout { offset, .. } = &self.how {
            if len < *offset {
                self.how = How::New;
                self.read = None;
                replaced = true;
            }
        }
        if matches!(self.how, How::New) {
            if len == 0 || !meta.is_file() {
                // Being created: looked at again at the next read.
                return Ok(replaced);
            }
            if !self.decide(columns)? {
                // Not (yet) a log: sniffed again when it changes.
                self.len = len;
                self.modified = modified;
                return Ok(replaced);
            }
        }
        let grew = match &mut self.how {
            How::New => false,
            How::Whole => {
                match super::read_file(&self.path, columns) {
                    Ok(read) => {
                        self.read = read;
                        self.skipped = None;
                    }
                    // A document caught half-written: keep what was read, try again later
                    // (its size and time are not recorded, so it is read again).
                    Err(_) if self.read.is_some() => return Ok(false),
                    Err(e) => return Err(e),
                }
                true
            }
            How::Lines { offset, .. } | How::Stdout { offset, .. } => {
                let from = *offset;
                let Some(cut) = last_line_end(&self.path, from, len).map_err(io)? else {
                    // Not one more whole line yet.
                    return Ok(false);
                };
                let input = source::Input::range(&self.path, from, cut)?;
                let parsed = match &mut self.how {
                    How::Stdout { offset, tail } => {
                        let mut input = input;
                        tail.feed(input.reader()?, &display)?;
                        *offset = cut;
                        // As `read_as` leaves a whole read.
                        let mut parsed = tail.parsed();
                        super::drop_overlong_names(&mut parsed);
                        Some((formats::STDOUT, parsed))
                    }
                    How::Lines {
                        format,
                        offset,
                        lines,
                    } => {
                        let mut more = super::read_as(*format, input, &self.path, columns)?;
                        shift(&mut more, *lines);
                        *lines = lines.saturating_add(count_lines(&self.path, from, cut)?);
                        *offset = cut;
                        match &mut self.read {
                            Some(read) => {
                                read.parsed.records.append(more.records);
                                // A reader states some facts once per read (a jsonl's
                                // total_steps, from its first row): a part read later states
                                // them again, and a whole read would not have.
                                let known = &read.parsed.facts;
                                let new: Vec<_> = more
                                    .facts
                                    .into_iter()
                                    .filter(|f| {
                                        !known.iter().any(|k| k.key == f.key && k.value == f.value)
                                    })
                                    .collect();
                                read.parsed.facts.extend(new);
                                read.parsed.warnings.extend(more.warnings);
                                None
                            }
                            None => Some((*format, more)),
                        }
                    }
                    How::New | How::Whole => None,
                };
                if let Some((format, parsed)) = parsed {
                    self.read =
                        (!parsed.records.is_empty() || !parsed.facts.is_empty()).then(|| {
                            ReadFile {
                                path: display.clone(),
                                format,
                                parsed,
                            }
                        });
                }
                self.skipped = None;
                true
            }
        };
        self.len = len;
        self.modified = modified;
        Ok(grew)
    }

    /// Sniffs a file seen for the first time and decides how it is followed: line logs from
    /// their start, anything else (and compressed files) read whole. False when it is not (yet)
    /// a format losscmp reads.
    fn decide(&mut self, columns: &[(String, String)]) -> Result<bool, IngestError> {
        let input = source::Input::open(&self.path)?;
        let head = input.head();
        let Some(sniffed) = super::sniff(&self.path, head, columns)? else {
            self.read = None;
            self.skipped = None;
            return Ok(false);
        };
        let gz = head.len() >= 2 && {
            // `open` decompresses the head; the file's own first bytes tell gzip.
            let mut magic = [0u8; 2];
            File::open(&self.path)
                .and_then(|mut f| f.read_exact(&mut magic))
                .is_ok()
                && magic == [0x1f, 0x8b]
        };
        self.how = match sniffed.format.growth() {
            _ if gz => How::Whole,
            Growth::Stream => How::Stdout {
                offset: 0,
                tail: Box::new(stdout::Tail::new()),
            },
            Growth::Lines => How::Lines {
                format: sniffed.format,
                offset: 0,
                lines: 0,
            },
            Growth::Rewritten => How::Whole,
        };
        Ok(true)
    }
}

/// Renumbers what a later part of a line log gave: its lines counted from 1 follow `before`
/// lines.
fn shift(parsed: &mut super::Parsed, before: u32) {
    if before == 0 {
        return;
    }
    parsed.records.shift_lines(before);
    for f in &mut parsed.facts {
        f.locator = std::mem::replace(&mut f.locator, crate::model::At::Whole).shifted(before);
    }
    for w in &mut parsed.warnings {
        *w = shift_lines(w, before);
    }
}

/// Every `line N` in `text` with N moved `by` lines on.
fn shift_lines(text: &str, by: u32) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("line ") {
        let (before, after) = rest.split_at(at + "line ".len());
        out.push_str(before);
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        match after[..digits].parse::<u32>() {
            Ok(n) => out.push_str(&n.saturating_add(by).to_string()),
            Err(_) => out.push_str(&after[..digits]),
        }
        rest = &after[digits..];
    }
    out.push_str(rest);
    out
}

/// The position just past the last `\n` in bytes `from..to` of a file, if any.
fn last_line_end(path: &Path, from: u64, to: u64) -> io::Result<Option<u64>> {
    const BLOCK: u64 = 64 << 10;
    let mut file = File::open(path)?;
    let mut end = to;
    let mut buf = Vec::new();
    while end > from {
        let start = end.saturating_sub(BLOCK).max(from);
        file.seek(SeekFrom::Start(start))?;
        buf.clear();
        (&mut file).take(end - start).read_to_end(&mut buf)?;
        if let Some(i) = memchr::memrchr(b'\n', &buf) {
            return Ok(Some(start + i as u64 + 1));
        }
        end = start;
    }
    Ok(None)
}

/// How many `\n` bytes `from..to` of a file holds.
fn count_lines(path: &Path, from: u64, to: u64) -> Result<u32, IngestError> {
    let io = |e| IngestError::Io {
        path: path.display().to_string(),
        error: e,
    };
    let mut file = File::open(path).map_err(io)?;
    file.seek(SeekFrom::Start(from)).map_err(io)?;
    let mut rest = file.take(to - from);
    let mut buf = vec![0u8; 64 << 10];
    let mut n = 0usize;
    loop {
        let k = rest.read(&mut buf).map_err(io)?;
        if k == 0 {
            break;
        }
        n += memchr::memchr_iter(b'\n', &buf[..k]).count();
    }
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run named `live`, read from `path` (a directory or one file).
    fn live(path: PathBuf) -> RunSpec {
        RunSpec {
            label: "live".into(),
            path,
            overrides: Vec::new(),
            columns: Vec::new(),
            planned: false,
        }
    }

    #[test]
    fn line_numbers_in_text_move_on() {
        assert_eq!(
            shift_lines("3 lines were not JSON (first at line 2); skipped", 10),
            "3 lines were not JSON (first at line 12); skipped"
        );
        assert_eq!(
            shift_lines("line 4 (world size)", 6),
            "line 10 (world size)"
        );
        assert_eq!(shift_lines("no number: line x", 6), "no number: line x");
    }

    #[test]
    fn a_growing_jsonl_log_reads_as_the_whole_does() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("trainer_log.jsonl");
        let rows: Vec<String> = (1..=6)
            .map(|s| {
                format!(
                    "{{\"current_steps\": {s}, \"total_steps\": 6, \"loss\": {}, \"lr\": 0.001, \"epoch\": {}}}",
                    1.0 / f64::from(s),
                    f64::from(s) / 6.0
                )
            })
            .collect();
        let spec = live(dir.path().to_path_buf());
        let mut tail = Tail::new(spec.clone());
        // Two rows and half of the third: the half waits.
        let half = &rows[2][..10];
        fs::write(&path, format!("{}\n{}\n{half}", rows[0], rows[1])).expect("write");
        let first = tail.poll().expect("poll");
        let run = first.run.expect("a run");
        assert_eq!(run.loss().expect("loss").points.len(), 2);
        assert!(tail.poll().expect("poll").grew.eq(&false), "nothing new");
        let mut all = format!("{}\n{}\n", rows[0], rows[1]);
        for r in &rows[2..] {
            all.push_str(r);
            all.push('\n');
        }
        fs::write(&path, &all).expect("write");
        let later = tail.poll().expect("poll");
        assert!(later.grew);
        let followed = later.run.expect("a run");
        let whole = super::super::read_run(&spec).expect("read");
        assert_eq!(followed.series, whole.series);
        let lines: Vec<u32> = followed
            .loss()
            .expect("loss")
            .points
            .iter()
            .map(|p| p.line)
            .collect();
        assert_eq!(lines, vec![1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn a_growing_stdout_log_whose_rate_is_lr_reads_as_the_whole_does() {
        // A Trainer subclass that logs `lr`: the learning rate, followed or read whole.
        let dir = tempfile::tempdir().expect("temp dir");
        let rows: Vec<String> = (1..=4)
            .map(|s| {
                format!(
                    "{{'loss': {}, 'lr': 0.001, 'epoch': {}}}\n",
                    1.0 / f64::from(s),
                    f64::from(s) / 4.0
                )
            })
            .collect();
        // The header gives the dicts their steps (epoch × 4).
        let header = "***** Running training *****\n  Num Epochs = 1\n  Num update steps per epoch = 4\n  Total optimization steps = 4\n";
        let (followed, whole) = followed_and_whole(dir.path(), header, &rows, 2);
        assert!(followed.series.contains_key("learning_rate"));
        assert!(!followed.series.contains_key("lr"));
        assert_eq!(followed.series, whole.series);
    }

    /// The run of a stdout log `train.log` in `dir`, `header` then `rows`, followed as it
    /// grows (its first `first` rows, then all), and the same run read whole.
    fn followed_and_whole(
        dir: &std::path::Path,
        header: &str,
        rows: &[String],
        first: usize,
    ) -> (crate::model::Run, crate::model::Run) {
        let path = dir.join("train.log");
        let spec = live(dir.to_path_buf());
        let mut tail = Tail::new(spec.clone());
        fs::write(&path, format!("{header}{}", rows[..first].concat())).expect("write");
        tail.poll().expect("poll");
        fs::write(&path, format!("{header}{}", rows.concat())).expect("write");
        let followed = tail.poll().expect("poll").run.expect("a run");
        let whole = super::super::read_run(&spec).expect("read");
        (followed, whole)
    }

    #[test]
    fn a_growing_stdout_log_drops_overlong_names_as_a_whole_read_does() {
        // A damaged line's 300-byte key is no metric name, followed or read whole.
        let dir = tempfile::tempdir().expect("temp dir");
        let long = "k".repeat(300);
        let header = "***** Running training *****\n  Num Epochs = 1\n  Num update steps per epoch = 2\n  Total optimization steps = 2\n";
        let rows = [
            "{'loss': 1.0, 'epoch': 0.5}\n".to_string(),
            format!("{{'loss': 0.5, '{long}': 1.0, 'epoch': 1.0}}\n"),
        ];
        let (followed, whole) = followed_and_whole(dir.path(), header, &rows, 1);
        assert!(!followed.series.contains_key(long.as_str()));
        assert_eq!(followed.series, whole.series);
    }

    #[test]
    fn files_that_appear_later_read_as_a_whole_read_of_the_finished_run() {
        // The real 8-process run's files as the trainer writes them: the log and the jsonl in
        // parts, the results files last. A whole read finds them in name order, and where two
        // give one fact it takes the first it finds (all_results.json's throughput, not the
        // stdout summary's rounded copy); the jsonl's total steps, stated by its first row, is
        // one fact however many parts it arrives in.
        let src = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/gen/lf2_8proc_ga8"
        ));
        let dir = tempfile::tempdir().expect("temp dir");
        let spec = live(dir.path().to_path_buf());
        let mut tail = Tail::new(spec.clone());
        let jsonl = fs::read_to_string(src.join("trainer_log.jsonl")).expect("jsonl");
        let rows: Vec<&str> = jsonl.split_inclusive('\n').collect();
        fs::copy(src.join("config.yaml"), dir.path().join("config.yaml")).expect("copy");
        fs::copy(src.join("train.log"), dir.path().join("train.log")).expect("copy");
        for part in [&rows[..3], &rows[3..10], &rows[10..]] {
            let mut f = fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.path().join("trainer_log.jsonl"))
                .expect("open");
            std::io::Write::write_all(&mut f, part.concat().as_bytes()).expect("append");
            tail.poll().expect("poll");
        }
        for f in [
            "train_results.json",
            "all_results.json",
            "trainer_state.json",
        ] {
            fs::copy(src.join(f), dir.path().join(f)).expect("copy");
        }
        let followed = tail.poll().expect("poll").run.expect("a run");
        let whole = super::super::read_run(&spec).expect("read");
        assert_eq!(followed.config, whole.config);
        assert_eq!(followed.sources, whole.sources);
        assert_eq!(followed.series, whole.series);
    }

    #[test]
    fn a_growing_stdout_log_reads_as_the_whole_does() {
        // The real 8-process log, written in uneven pieces (some cut inside a line, some inside
        // a progress bar's carriage-return updates), read after each.
        let log = fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/gen/lf2_8proc_ga8/train.log"
        ))
        .expect("fixture");
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("train.log");
        let spec = live(path.clone());
        let mut tail = Tail::new(spec.clone());
        let mut written = 0;
        for piece in [7_000, 13, 40_000, 1, 2_500, 9_999, 120_000] {
            written = (written + piece).min(log.len());
            fs::write(&path, &log[..written]).expect("write");
            tail.poll().expect("poll");
        }
        fs::write(&path, &log).expect("write");
        let followed = tail.poll().expect("poll").run.expect("a run");
        let whole = super::super::read_run(&spec).expect("read");
        assert_eq!(followed.series, whole.series);
        assert_eq!(followed.config, whole.config);
    }
}
