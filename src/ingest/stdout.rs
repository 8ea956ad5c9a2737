//! Captured stdout/stderr of the HF Trainer and the tools built on it (LLaMA-Factory, TRL,
//! axolotl, llmtuner): Python-dict metric lines (`{'loss': 0.35, ...}`, or transformers 5.x's
//! `{'loss': '0.5216', ...}`), the `***** Running training *****` header, LLaMA-Factory's
//! `world size: N`, tqdm bars separated by carriage returns, ANSI colours, CRLF.
//!
//! The file is streamed in fixed-size chunks: memory is bounded by the longest line kept
//! ([`MAX_LINE`]), whatever the file size. A metric dict carries no step; it is recovered as
//! `round(epoch × steps per epoch)` from the header, else from the tqdm counter of the training
//! bar, else left to the merge (which says how it placed the points).

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use memchr::memmem;

use super::lenient::{PyValue, for_each_py_pair, parse_number, parse_py_dict};
use super::source::{self, IngestError};
use super::{Fact, Name, Names, Parsed, Record, deepspeed};
use crate::model::{ConfigValue, Key};

/// The longest line looked at; longer ones (a runaway progress line, a binary blob) are counted
/// and skipped without being held in memory.
pub const MAX_LINE: usize = 1 << 20;

/// Bytes asked for per `read` call: small enough that the block being scanned is still in the
/// CPU cache.
const READ: usize = 128 << 10;

/// Header lines of the HF Trainer's `***** Running training *****` block and the key each sets.
const HEADER: [(&str, Key); 8] = [
    ("Num examples =", Key::NumExamples),
    ("Num Epochs =", Key::Epochs),
    ("Num update steps per epoch =", Key::StepsPerEpoch),
    ("Instantaneous batch size per device =", Key::PerDeviceBatch),
    ("Instantaneous batch size per GPU =", Key::PerDeviceBatch),
    (
        "Total train batch size (w. parallel, distributed & accumulation) =",
        Key::EffectiveBatch,
    ),
    ("Gradient Accumulation steps =", Key::GradAccum),
    ("Total optimization steps =", Key::TotalSteps),
];

/// Keys of the end-of-training dict; they describe the run, not a step.
const SUMMARY_KEYS: [&str; 4] = [
    "train_runtime",
    "train_samples_per_second",
    "train_steps_per_second",
    "train_loss",
];

/// Yes when the head shows a metric dict or the training header; not sure for other text files
/// named like logs (the metrics may start later); no otherwise.
pub fn sniff(head: &str, name: &str) -> Option<bool> {
    if head.contains("{'loss'")
        || head.contains("{'eval_loss'")
        || head.contains("***** Running training *****")
    {
        return Some(true);
    }
    let base = name.strip_suffix(".gz").unwrap_or(name);
    let texty = [".log", ".txt", ".out", ".err"]
        .iter()
        .any(|e| base.ends_with(e))
        || !base.contains('.');
    let t = head.trim_start();
    if texty && !t.starts_with('{') && !t.starts_with('[') {
        None
    } else {
        Some(false)
    }
}

/// What the scanner looks for. Dicts and `*****` headers hold a `{` or a `*`, bytes no tqdm
/// update has: one `memchr2` pass over each block of lines finds them, and everything between
/// two hits (mostly tqdm updates) is skipped without being split into lines. `world size: ` and
/// `transformers_version` are each searched for until first found.
struct Needles {
    /// A tqdm bar's `%|`, searched backwards for the last bar before a dict.
    bar: memmem::FinderRev<'static>,
    dict: memmem::Finder<'static>,
    header: memmem::Finder<'static>,
    eval_header: memmem::Finder<'static>,
    predict_header: memmem::Finder<'static>,
    world: memmem::Finder<'static>,
    version: memmem::Finder<'static>,
    /// DeepSpeed's configuration names ([`deepspeed::CONFIG`]), searched for until found.
    ds_config: [memmem::Finder<'static>; 3],
    /// DeepSpeed's step line; once one is seen, every block is searched for step and timer lines.
    ds_step: memmem::Finder<'static>,
    ds_timer: memmem::Finder<'static>,
}

const WORLD: &str = "world size: ";
const VERSION: &str = "\"transformers_version\": \"";

impl Needles {
    fn new() -> Self {
        Needles {
            bar: memmem::FinderRev::new("%|"),
            dict: memmem::Finder::new("{'"),
            header: memmem::Finder::new("***** Running training *****"),
            eval_header: memmem::Finder::new("***** Running Evaluation *****"),
            predict_header: memmem::Finder::new("***** Running Prediction *****"),
            world: memmem::Finder::new(WORLD),
            version: memmem::Finder::new(VERSION),
            ds_config: deepspeed::CONFIG.map(|(name, _)| memmem::Finder::new(name)),
            ds_step: memmem::Finder::new("] step="),
            ds_timer: memmem::Finder::new("RunningAvgSamplesPerSec="),
        }
    }
}

/// A tqdm bar's counter and total (`100/3815`).
type Bar = (f64, f64);

#[derive(PartialEq)]
enum Block {
    None,
    TrainHeader,
    Other,
}

struct State {
    out: Parsed,
    header_facts: Vec<Fact>,
    headers_seen: usize,
    block: Block,
    /// The training bar's last counter (step) and total.
    bar: Option<Bar>,
    /// tqdm hint for each record, by index.
    hints: Vec<Option<Bar>>,
    /// Training has started (a training header or a metric was seen): the preamble's one-off
    /// lines (world size, transformers version, DeepSpeed's configuration) are no longer
    /// looked for.
    training: bool,
    world_seen: bool,
    version_seen: bool,
    ds_config_seen: [bool; 3],
    ds_seen: bool,
    /// The line number (counting `\n`) at the scanner's position.
    line: u32,
    names: Names,
    /// Bytes before the block being scanned (from the start of the file).
    offset: u64,
    /// NUL bytes seen: the line and byte offset of the first, and how many lines held any.
    nul: Option<(u32, u64)>,
    nul_lines: usize,
    /// The metrics of the dict being read.
    metrics: Vec<(Name, f64)>,
}

impl State {
    fn new(line: u32, bar: Option<Bar>) -> Self {
        State {
            out: Parsed::default(),
            header_facts: Vec::new(),
            headers_seen: 0,
            block: Block::None,
            bar,
            hints: Vec::new(),
            training: false,
            world_seen: false,
            version_seen: false,
            ds_config_seen: [false; 3],
            ds_seen: false,
            line,
            names: Names::default(),
            offset: 0,
            nul: None,
            nul_lines: 0,
            metrics: Vec::new(),
        }
    }

    /// Appends what the scan of the next part of the same file found. That part numbered its
    /// lines from 1 (it could not know how many came before it): they are renumbered after this
    /// part's.
    fn join(&mut self, mut next: State) {
        let before = self.line.saturating_sub(1);
        next.out
            .records
            .edit(|_, rec| rec.line = rec.line.saturating_add(before));
        for f in next.out.facts.iter_mut().chain(&mut next.header_facts) {
            f.locator = shift_line_locator(&f.locator, before);
        }
        // Values taken where first found: the first half's, when it found them (world size,
        // transformers version, DeepSpeed's configuration).
        let once = [
            Key::WorldSize,
            Key::TransformersVersion,
            Key::EffectiveBatch,
            Key::PerDeviceBatch,
            Key::GradAccum,
        ];
        let found: Vec<Key> = once
            .into_iter()
            .filter(|&k| self.out.facts.iter().any(|f| f.key == k))
            .collect();
        self.out.facts.extend(
            next.out
                .facts
                .into_iter()
                .filter(|f| !found.contains(&f.key)),
        );
        self.out.records.append(next.out.records);
        self.out.warnings.extend(next.out.warnings);
        self.hints.extend(next.hints);
        if next.headers_seen > 0 {
            self.header_facts = next.header_facts;
        }
        self.headers_seen += next.headers_seen;
        if self.nul.is_none() {
            self.nul = next.nul.map(|(l, o)| (l.saturating_add(before), o));
        }
        self.nul_lines += next.nul_lines;
    }
}

/// Files at least this large are read by two threads, one half each.
const SPLIT_MIN: u64 = 64 << 20;

/// Reads a stdout log: a large plain file in two halves on two threads, anything else (gzip,
/// stdin, a FIFO, small files) streamed.
pub fn read_input(mut input: source::Input, display: &str) -> Result<Parsed, IngestError> {
    match input.path() {
        Some(path) => read_path_split_from(path, display, SPLIT_MIN),
        None => read(input.reader()?, display),
    }
}

fn read_path_split_from(path: &Path, display: &str, min: u64) -> Result<Parsed, IngestError> {
    let io = |e| IngestError::Io {
        path: display.into(),
        source: e,
    };
    let cut = if rayon::current_num_threads() < 2 {
        None
    } else {
        split_point(path, min).map_err(io)?
    };
    match cut {
        Some((split, bar)) => {
            let (first, second) = rayon::join(
                || -> Result<_, IngestError> {
                    let file = File::open(path).map_err(io)?;
                    scan(file.take(split), State::new(1, None), display)
                },
                || -> Result<_, IngestError> {
                    let mut file = File::open(path).map_err(io)?;
                    file.seek(SeekFrom::Start(split)).map_err(io)?;
                    // Lines numbered from the cut; `join` adds the first half's. The cut is
                    // past the preamble (it is at a metric dict).
                    let st = State {
                        training: true,
                        offset: split,
                        ..State::new(1, bar)
                    };
                    scan(file, st, display)
                },
            );
            let (mut st, too_long) = first?;
            let (mut next, more) = second?;
            if st.ds_seen || st.ds_config_seen.contains(&true) {
                let ds = deepspeed_rescan(path, split, bar, display)?;
                next.out.records.append(ds.out.records);
                next.hints.extend(ds.hints);
            }
            st.join(next);
            Ok(finish(st, too_long + more))
        }
        None => read(source::open(path)?, display),
    }
}

/// Where a large plain file can be cut so that both halves read as the whole does: the start of
/// a metric dict line past the middle (a dict ends any header block), with the training bar's
/// counter just before it. None for small, compressed or unseekable input, or when no such line
/// is near the middle.
fn split_point(path: &Path, min: u64) -> io::Result<Option<(u64, Option<Bar>)>> {
    if path.as_os_str() == "-" {
        return Ok(None);
    }
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() || meta.len() < min.max(2) {
        return Ok(None);
    }
    let mut file = File::open(path)?;
    let mut magic = [0u8; 2];
    file.read_exact(&mut magic)?;
    if magic == [0x1f, 0x8b] {
        return Ok(None);
    }
    // A window before the middle (for the last bar) and one after (for the cut).
    let window = (meta.len() / 2).min(4 << 20);
    let from = meta.len() / 2 - window;
    file.seek(SeekFrom::Start(from))?;
    let mut buf = Vec::new();
    (&mut file).take(2 * window).read_to_end(&mut buf)?;
    let window = usize::try_from(window).unwrap_or(usize::MAX).min(buf.len());
    let Some(cut) = memmem::find(&buf[window..], b"\n{'").map(|p| window + p + 1) else {
        return Ok(None);
    };
    let before = &buf[..cut];
    let bar = memmem::rfind(before, b"%|").and_then(|p| {
        let start = memchr::memrchr2(b'\n', b'\r', &before[..p]).map_or(0, |q| q + 1);
        parse_bar(&without_ansi(&before[start..line_end(before, p)]))
    });
    // A dict between that bar and the cut would have been given the same bar: fine. No bar in
    // the window at all is rare enough to read the file in one piece.
    if bar.is_none() {
        return Ok(None);
    }
    Ok(Some((from + cut as u64, bar)))
}

/// DeepSpeed's step and timer lines in the part of a file from `split` on, numbered from the cut,
/// for a first part that showed DeepSpeed: the second part's own scan could not know whether the
/// log has any, and looking for them in every block of every log would cost a search of the
/// whole part. Only logs that showed DeepSpeed pay for this second read.
fn deepspeed_rescan(
    path: &Path,
    split: u64,
    bar: Option<Bar>,
    display: &str,
) -> Result<State, IngestError> {
    let io = |e| IngestError::Io {
        path: display.into(),
        source: e,
    };
    let mut file = File::open(path).map_err(io)?;
    file.seek(SeekFrom::Start(split)).map_err(io)?;
    let needles = Needles::new();
    let mut st = State {
        training: true,
        ds_seen: true,
        ..State::new(1, bar)
    };
    for_each_block(&mut file, |b, _| {
        let first = st.line;
        deepspeed_lines(&needles, &mut st, b, 0, first);
        st.line = st.line.saturating_add(count_lines(b));
    })
    .map_err(io)?;
    Ok(st)
}

/// `line N (what)` with N moved `by` lines on: every locator this reader writes has that form.
fn shift_line_locator(locator: &str, by: u32) -> String {
    let Some(rest) = locator.strip_prefix("line ") else {
        return locator.to_string();
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    match rest[..digits].parse::<u32>() {
        Ok(n) => format!("line {}{}", n.saturating_add(by), &rest[digits..]),
        Err(_) => locator.to_string(),
    }
}

/// Streams a stdout log.
pub fn read(reader: impl Read, path: &str) -> Result<Parsed, IngestError> {
    let (st, too_long) = scan(reader, State::new(1, None), path)?;
    Ok(finish(st, too_long))
}

/// Scans a stream from `st` on; returns the state and how many overlong lines were skipped.
fn scan(mut reader: impl Read, mut st: State, path: &str) -> Result<(State, usize), IngestError> {
    let needles = Needles::new();
    let too_long = for_each_block(&mut reader, |block, skip_first| {
        scan_block(&needles, &mut st, block, skip_first);
        st.offset += block.len() as u64;
    })
    .map_err(|e| IngestError::Io {
        path: path.into(),
        source: e,
    })?;
    Ok((st, too_long))
}

fn finish(mut st: State, too_long: usize) -> Parsed {
    let out = std::mem::take(&mut st.out);
    let header = std::mem::take(&mut st.header_facts);
    complete(out, header, &st, too_long)
}

/// A stdout log read as it grows (`--follow`): the scanner's state is kept between reads, so a
/// dict read later is placed by the bar and header read earlier, as in one read of the whole.
pub struct Tail {
    st: State,
    too_long: usize,
}

impl Tail {
    /// A log read from its first line.
    pub fn new() -> Tail {
        Tail {
            st: State::new(1, None),
            too_long: 0,
        }
    }

    /// Reads the next part of the log: whole lines, continuing where the last part ended.
    pub fn feed(&mut self, reader: impl Read, path: &str) -> Result<(), IngestError> {
        let st = std::mem::replace(&mut self.st, State::new(1, None));
        let (st, too_long) = scan(reader, st, path)?;
        self.st = st;
        self.too_long += too_long;
        Ok(())
    }

    /// What the log holds so far, as [`read`] would give it.
    pub fn parsed(&self) -> Parsed {
        complete(
            self.st.out.clone(),
            self.st.header_facts.clone(),
            &self.st,
            self.too_long,
        )
    }
}

/// The records and facts of a scan, with its warnings and the steps placed.
fn complete(mut out: Parsed, mut header_facts: Vec<Fact>, st: &State, too_long: usize) -> Parsed {
    if let Some((line, offset)) = st.nul {
        let damage = source::NulDamage {
            line: line as usize,
            offset: usize::try_from(offset).unwrap_or(usize::MAX),
            lines: st.nul_lines,
        };
        out.warnings.push(damage.warning());
    }
    if too_long > 0 {
        out.warnings.push(format!(
            "{too_long} lines longer than {MAX_LINE} bytes were skipped"
        ));
    }
    if st.headers_seen > 1 {
        out.warnings.push(format!(
            "{} training headers in one file (a resumed run or several runs); the last header's settings are used",
            st.headers_seen
        ));
    }
    out.facts.append(&mut header_facts);
    place_steps(&mut out, &st.hints);
    out
}

/// Gives each dict record a step from its epoch (with the header's steps per epoch) or the
/// training bar's counter.
fn place_steps(out: &mut Parsed, hints: &[Option<Bar>]) {
    let fact = |k: Key| {
        out.facts
            .iter()
            .rev()
            .find(|f| f.key == k)
            .and_then(|f| f.value.as_f64())
    };
    let total = fact(Key::TotalSteps);
    let spe = fact(Key::StepsPerEpoch)
        .or_else(|| Some(total? / fact(Key::Epochs)?))
        .filter(|s| s.is_finite() && *s > 0.0);
    out.records.edit(|i, rec| {
        if rec.step.is_some() {
            return;
        }
        // The training bar's counter, when it belongs to the training bar (not an eval bar).
        let bar = hints
            .get(i)
            .copied()
            .flatten()
            .filter(|(_, m)| total.is_none_or(|t| t == *m))
            .map(|(n, _)| n);
        match (spe, rec.epoch, bar) {
            (Some(spe), Some(epoch), bar) => {
                let estimate = epoch * spe;
                // Printed epochs are rounded: 2 decimals in older transformers, 4 significant
                // digits in 5.x. When that leaves more than a step of doubt (long epochs), the
                // bar's counter inside the doubt is the exact step.
                let doubt = EPOCH_ROUNDING.max(epoch * EPOCH_REL_ROUNDING) * spe;
                match bar {
                    Some(n) if doubt >= 1.0 && (n - estimate).abs() <= doubt + 1.0 => {
                        rec.step = Some(n);
                        rec.step_origin = Some(
                            "training progress bar counter (within the rounding of the logged epoch)",
                        );
                    }
                    _ => {
                        rec.step = Some(estimate.round());
                        rec.step_origin = Some("epoch × steps per epoch (training header)");
                    }
                }
            }
            (_, _, Some(n)) => {
                rec.step = Some(n);
                rec.step_origin = Some("training progress bar counter");
            }
            _ => {}
        }
    });
}

/// Absolute rounding of epochs printed with 2 decimals (older transformers).
const EPOCH_ROUNDING: f64 = 0.005;
/// Relative rounding of epochs printed with 4 significant digits (transformers 5).
const EPOCH_REL_ROUNDING: f64 = 5e-4;

/// Looks at one block of whole lines (each ends in `\n` or `\r`, but maybe the file's last):
/// only the lines holding a needle, the lines of a training header block, and the last tqdm bar
/// before each dict. `skip_first`: the first line is the end of an overlong line.
fn scan_block(n: &Needles, st: &mut State, b: &[u8], skip_first: bool) {
    let first_line = st.line;
    if memchr::memchr(0, b).is_some() {
        note_nul(st, b, first_line);
    }
    let mut at = 0;
    if skip_first {
        at = next_line(st, b, line_end(b, 0));
    }
    // Printed once, before training: one search per block until found or training starts.
    for (seen, finder) in [(st.world_seen, &n.world), (st.version_seen, &n.version)] {
        if seen || st.training {
            continue;
        }
        if let Some(hit) = finder.find(&b[at..]) {
            let hit = at + hit;
            let start = memchr::memrchr2(b'\n', b'\r', &b[..hit]).map_or(0, |p| p + 1);
            let lineno = first_line.saturating_add(count_lines(&b[..start]));
            on_line(n, st, &b[start..line_end(b, hit)], lineno);
        }
    }
    deepspeed_lines(n, st, b, at, first_line);
    while at < b.len() {
        if st.block == Block::TrainHeader {
            let end = line_end(b, at);
            on_line(n, st, &b[at..end], st.line);
            at = next_line(st, b, end);
            continue;
        }
        let Some(hit) = memchr::memchr2(b'{', b'*', &b[at..]) else {
            break;
        };
        let hit = at + hit;
        let start = memchr::memrchr2(b'\n', b'\r', &b[at..hit]).map_or(at, |p| at + p + 1);
        last_bar(n, st, &b[at..start]);
        st.line = st.line.saturating_add(count_lines(&b[at..start]));
        let end = line_end(b, hit);
        on_line(n, st, &b[start..end], st.line);
        at = next_line(st, b, end);
    }
    if at < b.len() {
        last_bar(n, st, &b[at..]);
        st.line = st.line.saturating_add(count_lines(&b[at..]));
    }
}

/// DeepSpeed's configuration values and, once a DeepSpeed step line has been seen, every step and
/// timer line of the block, as records of their own. DeepSpeed prints its configuration when its
/// engine starts, before training: the configuration is looked for until found or until training
/// starts (the training header or the first metric; not the first progress bar, since dataset
/// preprocessing shows bars before the engine starts), and step lines only in logs that showed
/// DeepSpeed's configuration. A log without DeepSpeed then costs nothing once training has
/// started. (The second half of a file read in two looks for none of them: see
/// [`deepspeed_rescan`].)
fn deepspeed_lines(n: &Needles, st: &mut State, b: &[u8], from: usize, first_line: u32) {
    let preamble = !st.training;
    let line_at = |hit: usize| {
        let start = memchr::memrchr2(b'\n', b'\r', &b[..hit]).map_or(0, |p| p + 1);
        (start, line_end(b, hit))
    };
    for (k, (name, key)) in deepspeed::CONFIG.iter().enumerate() {
        if st.ds_config_seen[k] || !preamble {
            continue;
        }
        for hit in n.ds_config[k].find_iter(&b[from..]) {
            let (start, end) = line_at(from + hit);
            let line = String::from_utf8_lossy(&b[start..end]);
            let at = from + hit - start;
            let Some(x) = line
                .is_char_boundary(at)
                .then(|| deepspeed::config_value(&line, at, name))
                .flatten()
            else {
                continue;
            };
            let lineno = first_line.saturating_add(count_lines(&b[..start]));
            st.ds_config_seen[k] = true;
            // Rank 0: what DeepSpeed printed it used outranks the trainer's arguments.
            st.out
                .fact(*key, x, format!("line {lineno} (DeepSpeed {name})"), 0);
            break;
        }
    }
    let possible = st.ds_config_seen.contains(&true);
    let found = st.ds_seen || possible && n.ds_step.find(&b[from..]).is_some();
    if !found {
        return;
    }
    st.ds_seen = true;
    let mut hits: Vec<usize> = n.ds_step.find_iter(&b[from..]).collect();
    hits.extend(n.ds_timer.find_iter(&b[from..]));
    hits.sort_unstable();
    let (mut counted, mut lineno) = (0, first_line);
    for hit in hits {
        let (start, end) = line_at(from + hit);
        lineno = lineno.saturating_add(count_lines(&b[counted.min(start)..start]));
        counted = start;
        let line = String::from_utf8_lossy(&b[start..end]);
        let Some((step, metrics)) = deepspeed::step_line(&line) else {
            continue;
        };
        if metrics.is_empty() {
            continue;
        }
        st.out.records.push(Record {
            step: Some(step),
            metrics: metrics
                .into_iter()
                .map(|(k, x)| (st.names.get(k), x))
                .collect(),
            line: lineno,
            ..Record::default()
        });
        st.hints.push(None);
    }
}

/// Where the line holding `at` ends: its terminator, or the end of the block.
fn line_end(b: &[u8], at: usize) -> usize {
    memchr::memchr2(b'\n', b'\r', &b[at..]).map_or(b.len(), |p| at + p)
}

/// Steps over the terminator at `end` (counting it when it is a `\n`) to the next line.
fn next_line(st: &mut State, b: &[u8], end: usize) -> usize {
    if b.get(end) == Some(&b'\n') {
        st.line = st.line.saturating_add(1);
    }
    (end + 1).min(b.len())
}

fn count_lines(b: &[u8]) -> u32 {
    u32::try_from(memchr::memchr_iter(b'\n', b).count()).unwrap_or(u32::MAX)
}

/// Takes the training bar's counter from the last tqdm update in `region`, if any.
fn last_bar(n: &Needles, st: &mut State, region: &[u8]) {
    let Some(p) = n.bar.rfind(region) else {
        return;
    };
    let start = memchr::memrchr2(b'\n', b'\r', &region[..p]).map_or(0, |q| q + 1);
    let line = &region[start..line_end(region, p)];
    if let Some(bar) = parse_bar(&without_ansi(line)) {
        st.bar = Some(bar);
    }
}

fn without_ansi(raw: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if memchr::memchr(0x1b, raw).is_some() {
        strip_ansi(raw).into()
    } else {
        raw.into()
    }
}

/// Counts the lines of a block that hold NUL bytes (a crashed writer's zero-filled tail, or a
/// damaged block); `on_line` skips them.
fn note_nul(st: &mut State, b: &[u8], first_line: u32) {
    let mut at = 0;
    while let Some(p) = memchr::memchr(0, &b[at..]) {
        let nul = at + p;
        if st.nul.is_none() {
            let line = first_line.saturating_add(count_lines(&b[..nul]));
            st.nul = Some((line, st.offset + nul as u64));
        }
        st.nul_lines += 1;
        at = line_end(b, nul) + 1;
        if at >= b.len() {
            break;
        }
    }
}

fn on_line(f: &Needles, st: &mut State, raw: &[u8], lineno: u32) {
    if raw.is_empty() || memchr::memchr(0, raw).is_some() {
        return;
    }
    let bytes = &*without_ansi(raw);
    if let Some(at) = f.dict.find(bytes) {
        // Valid UTF-8 is borrowed as is; `from_utf8_lossy` walks it more slowly.
        let text = match std::str::from_utf8(&bytes[at..]) {
            Ok(t) => std::borrow::Cow::Borrowed(t),
            Err(_) => String::from_utf8_lossy(&bytes[at..]),
        };
        on_dict(st, &text, lineno);
        return;
    }
    if f.bar.rfind(bytes).is_some() {
        if let Some(bar) = parse_bar(bytes) {
            st.bar = Some(bar);
        }
        // The progress bar starts after the training header's last line.
        if st.block == Block::TrainHeader {
            st.block = Block::None;
        }
        return;
    }
    if f.header.find(bytes).is_some() {
        st.block = Block::TrainHeader;
        st.training = true;
        st.headers_seen += 1;
        st.header_facts.clear();
        return;
    }
    if f.eval_header.find(bytes).is_some() || f.predict_header.find(bytes).is_some() {
        st.block = Block::Other;
        return;
    }
    if st.block == Block::TrainHeader {
        let text = String::from_utf8_lossy(bytes);
        for (needle, key) in HEADER {
            if let Some(at) = text.find(needle) {
                if let Some(x) = parse_number(&text[at + needle.len()..]) {
                    let label = needle.trim_end_matches(" =");
                    st.header_facts.push(Fact {
                        key,
                        value: ConfigValue::Number(x),
                        locator: format!("line {lineno} ({label})"),
                        rank: 0,
                    });
                }
                return;
            }
        }
        if let Some(at) = text.find("DataParallel so batch size has been adjusted to:") {
            let per_device = st
                .header_facts
                .iter()
                .find(|f| f.key == Key::PerDeviceBatch)
                .and_then(|f| f.value.as_f64());
            if let (Some(adj), Some(pd)) = (parse_number(&text[at + 49..]), per_device) {
                st.header_facts.push(Fact {
                    key: Key::WorldSize,
                    value: ConfigValue::Number(adj / pd),
                    locator: format!("line {lineno} (DataParallel over {} GPUs)", adj / pd),
                    rank: 0,
                });
            }
        }
        return;
    }
    if !st.world_seen {
        if let Some(at) = f.world.find(bytes) {
            let rest = String::from_utf8_lossy(&bytes[at + WORLD.len()..]);
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            if let Ok(n) = digits.parse::<f64>() {
                st.world_seen = true;
                st.out
                    .fact(Key::WorldSize, n, format!("line {lineno} (world size)"), 0);
            }
            return;
        }
    }
    if !st.version_seen {
        if let Some(at) = f.version.find(bytes) {
            let rest = String::from_utf8_lossy(&bytes[at + VERSION.len()..]);
            if let Some(v) = rest.split('"').next() {
                st.version_seen = true;
                st.out.text_fact(
                    Key::TransformersVersion,
                    v,
                    format!("line {lineno} (transformers_version)"),
                    1,
                );
            }
        }
    }
}

fn on_dict(st: &mut State, text: &str, lineno: u32) {
    // One pass over the dict, its metrics into one buffer for every dict: no allocation per line.
    let (mut epoch, mut step, mut tokens, mut summary) = (None, None, None, false);
    st.metrics.clear();
    let names = &mut st.names;
    let metrics = &mut st.metrics;
    let parsed = for_each_py_pair(text, |k, v| {
        summary |= k.starts_with("train_") && SUMMARY_KEYS.contains(&k);
        let PyValue::Number(x) = v else {
            return;
        };
        match k {
            "epoch" => {
                epoch.get_or_insert(x);
            }
            "step" => {
                step.get_or_insert(x);
            }
            "num_input_tokens_seen" => tokens = (x > 0.0).then_some(x),
            _ => metrics.push((names.get(k), x)),
        }
    });
    if parsed.is_none() {
        return;
    }
    st.block = Block::None;
    if summary {
        // The end-of-training dict, once per run: read again as pairs.
        if let Some((pairs, _)) = parse_py_dict(text) {
            let num = |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .and_then(|(_, v)| match v {
                        PyValue::Number(x) => Some(*x),
                        PyValue::Other(_) => None,
                    })
            };
            st.out
                .throughput(num, |field| format!("line {lineno} ({field})"));
        }
        return;
    }
    if st.metrics.is_empty() {
        return;
    }
    let rec = Record {
        line: lineno,
        epoch,
        step,
        tokens,
        ..Record::default()
    };
    st.out.records.push_with(&rec, st.metrics.drain(..));
    st.training = true;
    st.hints.push(st.bar);
}

/// Parses a tqdm bar `  3%|███▏  | 100/3815 [00:52<27:37,  2.24it/s]` into (100, 3815).
fn parse_bar(bytes: &[u8]) -> Option<Bar> {
    let bar_end = memchr::memrchr_iter(b'|', bytes).find(|&i| bytes.get(i + 1) == Some(&b' '))?;
    let after = &bytes[bar_end + 2..];
    let counts = &after[..memmem::find(after, b" [").unwrap_or(after.len())];
    let slash = memchr::memchr(b'/', counts)?;
    let num = |b: &[u8]| std::str::from_utf8(b).ok()?.trim().parse().ok();
    Some((num(&counts[..slash])?, num(&counts[slash + 1..])?))
}

fn strip_ansi(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == 0x1b && bytes.get(i + 1) == Some(&b'[') {
            i += 2;
            while i < bytes.len() && !(0x40..=0x7e).contains(&bytes[i]) {
                i += 1;
            }
            i += 1;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

/// Calls `f` with blocks of whole lines (each ending in `\n` or `\r`, but the file's last line)
/// read in chunks of [`MAX_LINE`] bytes, and whether the block's first line is the end of a line
/// over [`MAX_LINE`] that is to be skipped. Returns how many such lines there were.
pub fn for_each_block(reader: &mut impl Read, mut f: impl FnMut(&[u8], bool)) -> io::Result<usize> {
    // Grown (up to MAX_LINE) only when a line does not fit: a small file is not given a
    // megabyte to clear.
    let mut buf = vec![0u8; 2 * READ];
    let mut filled = 0;
    let mut skipping = false;
    let mut too_long = 0;
    loop {
        let upto = (filled + READ).min(buf.len());
        let n = match reader.read(&mut buf[filled..upto]) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        filled += n;
        if n == 0 {
            if filled > 0 {
                f(&buf[..filled], skipping);
            }
            return Ok(too_long);
        }
        match memchr::memrchr2(b'\n', b'\r', &buf[..filled]) {
            Some(p) => {
                f(&buf[..=p], skipping);
                skipping = false;
                buf.copy_within(p + 1..filled, 0);
                filled -= p + 1;
            }
            None if filled == buf.len() && buf.len() < MAX_LINE => {
                buf.resize((buf.len() * 2).min(MAX_LINE), 0);
            }
            None if filled == buf.len() => {
                too_long += usize::from(!skipping);
                skipping = true;
                filled = 0;
            }
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::Trickle;

    const LOG: &str = "[INFO|2026-11-28 05:33:17] llamafactory.hparams.parser:523 >> Process rank: 0, world size: 8, device: cpu:0\n\
[INFO|trainer.py:1469] 2026-11-28 >> ***** Running training *****\n\
[INFO|trainer.py:1470] 2026-11-28 >>   Num examples = 2,048\n\
[INFO|trainer.py:1471] 2026-11-28 >>   Num Epochs = 3\n\
[INFO|trainer.py:1473] 2026-11-28 >>   Instantaneous batch size per device = 2\n\
[INFO|trainer.py:1476] 2026-11-28 >>   Total train batch size (w. parallel, distributed & accumulation) = 128\n\
[INFO|trainer.py:1477] 2026-11-28 >>   Gradient Accumulation steps = 8\n\
[INFO|trainer.py:1478] 2026-11-28 >>   Total optimization steps = 48\n\
{'loss': '7.995', 'grad_norm': '3.106', 'learning_rate': '0.0006667', 'epoch': '0.125'}\n\
 10%|\u{2588}         | 5/48 [00:01<00:14,  2.98it/s]\r 12%|\u{2588}        | 6/48 [00:02<00:13,  3.05it/s]\r\n\
\u{1b}[32m{'loss': '7.306', 'grad_norm': nan, 'learning_rate': '0.00199', 'epoch': '0.375'}\u{1b}[0m\r\n\
***** Running Evaluation *****\n  Num examples = 128\n\
[A{'eval_loss': '1.247', 'eval_runtime': '0.157', 'epoch': '0.375'}\n\
{'train_runtime': '16.22', 'train_samples_per_second': '378.7', 'train_loss': '2.5', 'epoch': '3'}\n";

    #[test]
    fn reads_header_dicts_and_places_steps() {
        let p = read(LOG.as_bytes(), "train.log").expect("reads");
        let fact = |k| p.facts.iter().find(|f| f.key == k).expect("fact");
        assert_eq!(fact(Key::NumExamples).value.as_f64(), Some(2048.0));
        assert_eq!(
            fact(Key::EffectiveBatch).locator,
            "line 6 (Total train batch size (w. parallel, distributed & accumulation))"
        );
        assert_eq!(fact(Key::WorldSize).value.as_f64(), Some(8.0));
        assert_eq!(p.records.len(), 3);
        assert_eq!(p.records.to_vec()[0].step, Some(2.0));
        assert_eq!(p.records.to_vec()[1].step, Some(6.0));
        assert_eq!(p.records.to_vec()[1].line, 11);
        assert!(p.records.to_vec()[1].metrics[1].1.is_nan());
        assert_eq!(
            p.records.to_vec()[2].metrics[0],
            ("eval_loss".into(), 1.247)
        );
        assert_eq!(fact(Key::TrainSamplesPerSecond).value.as_f64(), Some(378.7));
        assert!(
            !p.facts
                .iter()
                .any(|f| f.key == Key::NumExamples && f.value.as_f64() == Some(128.0))
        );
    }

    #[test]
    fn block_boundaries_do_not_change_what_is_read() {
        let whole = read(LOG.as_bytes(), "train.log").expect("reads");
        for step in [1, 2, 3, 7, 64] {
            let p = read(Trickle(LOG.as_bytes(), step), "train.log").expect("reads");
            // Debug text, not `==`: the log holds a NaN.
            assert_eq!(
                format!("{p:?}"),
                format!("{whole:?}"),
                "reads of {step} bytes"
            );
        }
    }

    #[test]
    fn two_halves_read_as_the_whole_does() {
        let mut log = LOG.replace(
            "Total optimization steps = 48",
            "Total optimization steps = 4000",
        );
        for step in 1..=4000 {
            log.push_str(&format!(" 1%|#  | {step}/4000 [00:01<00:14,  3it/s]\r"));
            if step % 10 == 0 {
                let epoch = f64::from(step) / 4000.0 * 3.0;
                log.push_str(&format!(
                    "\n{{'loss': '{}', 'epoch': '{epoch}'}}\n",
                    1.0 / f64::from(step)
                ));
            }
            if step == 3500 {
                // A resumed run's header, in the second half: its facts' lines are counted
                // from the cut and renumbered.
                log.push_str("\n***** Running training *****\n  Num examples = 4,096\n  Total optimization steps = 4000\n");
            }
        }
        log.push_str(
            "\n{'train_runtime': 16.2, 'train_samples_per_second': 378.7, 'train_loss': 0.3}\n",
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("train.log");
        std::fs::write(&path, &log).expect("writes");
        assert!(
            split_point(&path, 0).expect("reads").is_some(),
            "the test must split"
        );
        let whole = read(log.as_bytes(), "train.log").expect("reads");
        let halves = read_path_split_from(&path, "train.log", 0).expect("reads");
        assert_eq!(whole.records.len(), 403);
        let runtime = whole
            .facts
            .iter()
            .rev()
            .find(|f| f.key == Key::TrainRuntime);
        assert!(
            runtime.is_some_and(|f| f.locator == "line 821 (train_runtime)"),
            "{runtime:?}"
        );
        assert_eq!(format!("{halves:?}"), format!("{whole:?}"));
    }

    #[test]
    fn deepspeed_lines_in_the_second_half_are_found() {
        let mut log = String::from(
            "[INFO] [config.py:962:print_user_config]   json = {\n    \"train_batch_size\": 16,\n}\n\
             ***** Running training *****\n  Num update steps per epoch = 1000\n  Total optimization steps = 1000\n",
        );
        for step in 1..=1000 {
            log.push_str(&format!(" 1%|#  | {step}/1000 [00:01<00:14,  3it/s]\r"));
            if step % 10 == 0 {
                log.push_str(&format!(
                    "\n[INFO] [logging.py:96:log_dist] [Rank 0] step={step}, skipped=0, lr=[0.0003], mom=[(0.9, 0.999)]\n\
                     {{'loss': '{}', 'epoch': '{}'}}\n",
                    1.0 / f64::from(step),
                    f64::from(step) / 1000.0
                ));
            }
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("train.log");
        std::fs::write(&path, &log).expect("writes");
        let whole = read(log.as_bytes(), "train.log").expect("reads");
        let halves = read_path_split_from(&path, "train.log", 0).expect("reads");
        assert_eq!(whole.records.len(), 200);
        // The second half's DeepSpeed records come after its dicts; the same records otherwise.
        let by_line = |p: &Parsed| {
            let mut r = p.records.to_vec();
            r.sort_by_key(|r| r.line);
            format!("{r:?}")
        };
        assert_eq!(by_line(&halves), by_line(&whole));
        assert_eq!(halves.facts, whole.facts);
    }

    #[test]
    fn long_epochs_take_the_step_from_the_bar() {
        // 1,000,000 steps per epoch: '0.5' (4 significant digits) cannot tell step 500,010 from
        // 500,000; the bar can.
        let log = "***** Running training *****\n  Num update steps per epoch = 1,000,000\n  Total optimization steps = 3,000,000\n\
 17%|#  | 500000/3000000 [00:01<00:14,  3it/s]\n{'loss': '1.0', 'epoch': '0.5'}\n\
 17%|#  | 500010/3000000 [00:01<00:14,  3it/s]\n{'loss': '0.9', 'epoch': '0.5'}\n";
        let p = read(log.as_bytes(), "train.log").expect("reads");
        let steps: Vec<_> = p.records.iter().map(|r| r.step).collect();
        assert_eq!(steps, vec![Some(500_000.0), Some(500_010.0)]);
    }

    #[test]
    fn long_lines_are_skipped_with_bounded_memory() {
        let mut text = vec![b'x'; MAX_LINE * 3];
        text.extend_from_slice(b"\n{'loss': 1.0, 'epoch': 0.5}\n");
        let p = read(&text[..], "train.log").expect("reads");
        assert_eq!(p.records.len(), 1);
        assert_eq!(p.records.to_vec()[0].line, 2);
        assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
    }

    #[test]
    fn bars_and_ansi() {
        assert_eq!(
            parse_bar(" 3%|\u{2588}   | 100/3815 [00:52<27:37,  2.24it/s]".as_bytes()),
            Some((100.0, 3815.0))
        );
        assert_eq!(strip_ansi(b"\x1b[38;20mhi\x1b[0m"), b"hi");
    }
}
