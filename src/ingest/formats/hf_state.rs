//! HF Trainer `trainer_state.json`: `log_history` entries (train, eval, predict and the final
//! summary) and the top-level fields (`max_steps`, `num_train_epochs`, `train_batch_size` =
//! per-device batch, `logging_steps`, `num_input_tokens_seen`, and `global_step` with its
//! unrounded `epoch`).
//! Python writes `NaN`/`Infinity`; a crashed writer leaves JSON cut short or zero-filled, from
//! which every complete entry is kept. One reader, streaming: the file's text is never held whole.

use crate::model::Row;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use super::{Format, Head, Sniff, Source};
use crate::ingest::flat_json;
use crate::ingest::lenient::{Entry, Val};
use crate::ingest::shape::Shape;
use crate::ingest::source;
use crate::ingest::source::IngestError;
use crate::ingest::{Names, Parsed, Stood};
use crate::model::{At, Key, Locator};

/// Keys of the summary entry; they describe the whole run, not a step.
const SUMMARY_KEYS: [&str; 5] = [
    "train_runtime",
    "train_samples_per_second",
    "train_steps_per_second",
    "total_flos",
    "train_loss",
];

/// Yes when the head is a JSON object with a `log_history` array.
pub fn sniff(head: &str) -> Option<bool> {
    let t = head.trim_start();
    if !t.starts_with('{') {
        return Some(false);
    }
    Some(t.contains("\"log_history\""))
}

/// What `log_history` yields: records, the summary entry's facts, entries skipped.
#[derive(Default)]
struct History {
    out: Parsed,
    names: Names,
    entries: usize,
    no_step: usize,
    /// Entries whose `step` is no step count (text, a negative number), skipped.
    bad_step: Junk,
    /// Metric values that are text which is no number (`"loss": "abc"`), skipped; said only of
    /// metrics logged as numbers elsewhere in the file (see [`finish`]).
    bad_values: Vec<(String, Junk)>,
    /// The metrics of the entry being read ([`History::push_object`]), by name number
    /// ([`Names::number`]).
    metrics: Vec<(u32, f64)>,
    /// The keys of the entries read, by position, with their roles.
    shape: Shape<Role>,
}

/// How many of something were skipped, and the first: its entry (0-based) and what it held.
#[derive(Default, Debug)]
struct Junk {
    count: usize,
    first: Option<(usize, String)>,
}

impl Junk {
    fn add(&mut self, entry: usize, held: impl FnOnce() -> String) {
        self.count += 1;
        if self.first.is_none() {
            self.first = Some((entry, held()));
        }
    }

    fn join(&mut self, next: Junk, shift: usize) {
        self.count += next.count;
        if self.first.is_none() {
            self.first = next.first.map(|(i, v)| (i + shift, v));
        }
    }
}

/// What an entry's fields come to, taken one by one: whether it is the summary, its step
/// (the first `step` field, as `Entry::num` finds it), epoch and tokens; its metrics go to
/// [`History::metrics`]. A value that is no number where one belongs is noted, with what it
/// held (as JSON), for the warnings.
#[derive(Default)]
struct Fields {
    summary: bool,
    step: Option<f64>,
    step_seen: bool,
    bad_step: Option<String>,
    epoch: Option<f64>,
    tokens: Option<f64>,
    bad_values: Vec<(u32, String)>,
}

/// What a key of an entry is: whether it names the summary, and which field it fills. Worked
/// out once per key at its position ([`Shape`]), not once per entry.
#[derive(Clone, Copy)]
struct Role {
    summary: bool,
    field: Field,
}

#[derive(Clone, Copy)]
enum Field {
    Step,
    Epoch,
    Tokens,
    /// A metric, by its name's number ([`Names::number`]).
    Metric(u32),
}

impl Role {
    fn of(k: &str, names: &mut Names) -> Role {
        // Keys are compared with the summary's only when they could be one of them.
        let summary =
            (k.starts_with("train_") || k.starts_with("total_")) && SUMMARY_KEYS.contains(&k);
        let field = match k {
            "step" => Field::Step,
            "epoch" => Field::Epoch,
            "num_input_tokens_seen" => Field::Tokens,
            _ => Field::Metric(names.number(k)),
        };
        Role { summary, field }
    }
}

impl Fields {
    fn take(&mut self, role: Role, v: &Val<'_>, metrics: &mut Vec<(u32, f64)>) {
        self.summary |= role.summary;
        let x = v.num();
        match role.field {
            Field::Step if !self.step_seen => {
                self.step_seen = true;
                // A step is a count: text or a negative number is no step.
                self.step = x.filter(|&s| s >= 0.0);
                if self.step.is_none() && !matches!(v, Val::Other) {
                    self.bad_step = Some(shown(v));
                }
            }
            Field::Step => {}
            Field::Epoch => self.epoch = x.or(self.epoch),
            Field::Tokens => self.tokens = x.map(|x| (x > 0.0).then_some(x)).unwrap_or(self.tokens),
            Field::Metric(n) => match x {
                Some(x) => metrics.push((n, x)),
                None if matches!(v, Val::Text(_)) => self.bad_values.push((n, shown(v))),
                None => {}
            },
        }
    }
}

/// A value as the file holds it, for a warning.
fn shown(v: &Val<'_>) -> String {
    match v {
        Val::Num(x) => crate::model::format_number(*x),
        Val::Text(s) => format!("{s:?}"),
        Val::Other => "null".into(),
    }
}

impl History {
    /// Reads the object at `i` of `t` as entry number `self.entries`, straight into the frame
    /// (no [`Entry`] is built). The position after it, or `None` (nothing taken in) when it is
    /// not a whole JSON object.
    fn push_object(&mut self, t: &str, i: usize) -> Option<usize> {
        let mut f = Fields::default();
        self.metrics.clear();
        let (names, metrics) = (&mut self.names, &mut self.metrics);
        let next = flat_json::object_shaped(
            t,
            i,
            &mut self.shape,
            |k| Role::of(k, names),
            |_| false,
            |role, v| f.take(role, &v, metrics),
        )?;
        if f.summary {
            // Once per run: read again whole, as the summary it is.
            let (entry, _) = flat_json::object(t, i)?;
            self.push(&entry);
        } else {
            self.push_fields(f);
        }
        Some(next)
    }

    /// Takes in entry number `self.entries`, read whole.
    fn push(&mut self, entry: &Entry<'_>) {
        let mut f = Fields::default();
        self.metrics.clear();
        for (k, v) in &entry.fields {
            f.take(Role::of(k, &mut self.names), v, &mut self.metrics);
        }
        if f.summary {
            let i = self.entries;
            self.entries += 1;
            self.out.throughput(
                |field| entry.num(field),
                |field| At::EntryField(i as u32 + 1, field.into()),
            );
        } else if !entry.object {
            self.entries += 1;
        } else {
            self.push_fields(f);
        }
    }

    /// Takes in entry number `self.entries`, an object that is not the summary, from its fields
    /// (its metrics in [`History::metrics`]).
    fn push_fields(&mut self, f: Fields) {
        let index = self.entries;
        self.entries += 1;
        for (n, held) in f.bad_values {
            let name = self.names.name(n);
            let i = match self.bad_values.iter().position(|(m, _)| **m == **name) {
                Some(i) => i,
                None => {
                    self.bad_values.push((name.to_string(), Junk::default()));
                    self.bad_values.len() - 1
                }
            };
            self.bad_values[i].1.add(index, || held);
        }
        let Some(step) = f.step else {
            match f.bad_step {
                Some(held) => self.bad_step.add(index, || held),
                None => self.no_step += 1,
            }
            return;
        };
        let row = Row {
            step: Some(step),
            line: u32::try_from(index + 1).unwrap_or(u32::MAX),
            epoch: f.epoch,
            tokens: f.tokens,
            ..Row::default()
        };
        let names = &self.names;
        let metrics = self.metrics.drain(..).map(|(n, x)| (names.name(n), x));
        self.out.records.push_row(row, metrics);
    }
}

/// Reads a `trainer_state.json`, streamed in blocks so that its text is never held whole (read
/// by the stream straight into its buffer: a buffered reader would copy each byte once more).
/// What is not JSON stops the reading there: the entries before it are kept, with a warning
/// that says where and why (a crashed writer leaves a file cut short, or zero-filled).
pub fn read_input(mut input: source::Input, display: &str) -> Result<Parsed, IngestError> {
    let io = |e| IngestError::Io {
        path: display.into(),
        error: e,
    };
    if let Some(path) = input.path().filter(|_| rayon::current_num_threads() >= 2) {
        if let Some(cut) = split_point(path, SPLIT_MIN).map_err(io)? {
            return read_halves(path, cut, display);
        }
    }
    read_stream(input.blocks()?, display)
}

/// Reads a `trainer_state.json` held in memory.
#[cfg(test)]
pub fn read(text: &str, path: &str) -> Result<Parsed, IngestError> {
    read_stream(text.as_bytes(), path)
}

/// Where the reader is in the document.
#[derive(Clone, Copy, PartialEq, Default)]
enum Pos {
    /// Before the top-level `{`.
    #[default]
    Start,
    /// Before a key, or the closing `}` when `first`.
    Key { first: bool },
    /// Inside `log_history`, before an entry, or the closing `]` when `first`.
    History { first: bool },
    /// After an entry: `,` or `]`.
    AfterEntry,
    /// After a value: `,` or `}`.
    AfterValue,
    /// After the top-level `}`.
    End,
}

/// The reader's state between pieces of text.
#[derive(Default)]
struct Flat {
    h: History,
    tops: Vec<(String, Option<f64>)>,
    seen_history: bool,
    /// What `log_history` held when it was not a list (`"a string"`): said, not read.
    history_not_list: Option<&'static str>,
    at: Pos,
}

/// What [`Flat::advance`] came to.
enum Advance {
    /// The document is read.
    Done,
    /// More text is needed; parsing resumes at this position.
    More(usize),
    /// What is at this position is not JSON, or (`cut`) the text ends inside it.
    Stop { at: usize, cut: bool },
}

/// What a top-level `"key": value` came to.
enum Step {
    /// Read: the state and position after it.
    Go(Pos, usize),
    /// Not whole in the text held.
    More,
    /// Not JSON, or not a `trainer_state.json` (a second `log_history`).
    Bad,
}

/// A value not ended after this many bytes is not one a trainer wrote: the reader stops there
/// rather than hold the rest of the file.
const MAX_PENDING: usize = 64 << 20;

impl Flat {
    /// Parses as much of `t` from `pos` on as is whole; `eof`: no text follows `t`.
    fn advance(&mut self, t: &str, mut pos: usize, eof: bool) -> Advance {
        let b = t.as_bytes();
        loop {
            let i = flat_json::ws(b, pos);
            let stop = |cut| Advance::Stop { at: i, cut };
            let step = match self.at {
                Pos::Start => match b.get(i) {
                    Some(b'{') => Some((Pos::Key { first: true }, i + 1)),
                    Some(_) => return stop(false),
                    None => None,
                },
                Pos::Key { first } => match b.get(i) {
                    Some(b'}') if first => Some((Pos::End, i + 1)),
                    Some(_) => match key_value(
                        t,
                        i,
                        eof,
                        &mut self.tops,
                        (&mut self.seen_history, &mut self.history_not_list),
                    ) {
                        Step::Go(at, next) => Some((at, next)),
                        Step::More => None,
                        Step::Bad => return stop(false),
                    },
                    None => None,
                },
                Pos::History { first } => match b.get(i) {
                    Some(b']') if first => Some((Pos::AfterValue, i + 1)),
                    Some(_) => match self.h.push_object(t, i) {
                        Some(next) => Some((Pos::AfterEntry, next)),
                        // Not an object: an entry that is skipped, counted as one.
                        None if b[i] != b'{' => flat_json::skip_value(t, i).map(|next| {
                            self.h.push(&Entry::default());
                            (Pos::AfterEntry, next)
                        }),
                        // An object whose brackets close but which does not read: not JSON.
                        None if flat_json::skip_value(t, i).is_some() => return stop(false),
                        None => None,
                    },
                    None => None,
                },
                Pos::AfterEntry => match b.get(i) {
                    Some(b',') => Some((Pos::History { first: false }, i + 1)),
                    Some(b']') => Some((Pos::AfterValue, i + 1)),
                    Some(_) => return stop(false),
                    None => None,
                },
                Pos::AfterValue => match b.get(i) {
                    Some(b',') => Some((Pos::Key { first: false }, i + 1)),
                    Some(b'}') => Some((Pos::End, i + 1)),
                    Some(_) => return stop(false),
                    None => None,
                },
                Pos::End if i < b.len() => return stop(false),
                Pos::End => None,
            };
            match step {
                Some((at, next)) => {
                    self.at = at;
                    pos = next;
                }
                None if eof && self.at == Pos::End => return Advance::Done,
                None if eof => return stop(unfinished(t, i, self.at)),
                None if b.len() - i > MAX_PENDING => return stop(false),
                None => return Advance::More(pos),
            }
        }
    }

    /// The history read, with the top-level fields' facts.
    fn finish(mut self) -> History {
        let tops = &self.tops;
        let top = |k: &str| tops.iter().find(|(n, _)| n == k).and_then(|(_, v)| *v);
        top_level_facts(&mut self.h.out, TOP_LEVEL.map(top));
        if let Some(what) = self.history_not_list {
            self.h.out.warnings.push(format!(
                "log_history is {what}, not a list of entries: no metric records in it"
            ));
        }
        self.h
    }
}

/// Bytes read per block.
const BLOCK: usize = 256 << 10;

/// Reads `reader` in blocks (invalid UTF-8 read as U+FFFD, as a lossy read of the whole would).
fn read_stream(reader: impl Read, display: &str) -> Result<Parsed, IngestError> {
    let mut flat = Flat::default();
    let outcome = Stream::new(reader, true).run(&mut flat, display)?;
    flat.conclude(outcome, display)
}

/// A document streamed into a [`Flat`], block by block.
struct Stream<R> {
    reader: R,
    /// Whether the reader's end is the document's (not a part's).
    last: bool,
    /// The text held: parsed up to `pos`, the rest not yet. Blocks are read straight in behind
    /// it, into the spare room, and read as UTF-8 where they lie: a character a block cuts
    /// waits there for the next.
    text: Vec<u8>,
    pos: usize,
    eof: bool,
    /// Lines in the text parsed and dropped: where a problem is, is said by line.
    lines: usize,
}

/// Where a [`Stream::run`] ended.
enum Outcome {
    /// The document is read.
    Done,
    /// At a problem: where, by line.
    Stop(Problem),
    /// At the end of a part that is not the last.
    Paused,
}

impl<R: Read> Stream<R> {
    fn new(reader: R, last: bool) -> Self {
        Stream {
            reader,
            last,
            // Room for a block behind the unparsed end of the one before: read without
            // growing (or clearing) the buffer.
            text: Vec::with_capacity(2 * BLOCK),
            pos: 0,
            eof: false,
            lines: 0,
        }
    }

    /// Feeds the reader's text to `flat` until the document is read, a problem stops it, or
    /// the part ends.
    fn run(&mut self, flat: &mut Flat, display: &str) -> Result<Outcome, IngestError> {
        loop {
            let held = &self.text;
            let t = match std::str::from_utf8(held) {
                Ok(t) => t,
                // A character cut by the block's end: what is before it, now.
                Err(e) if e.error_len().is_none() && !self.eof => {
                    std::str::from_utf8(&held[..e.valid_up_to()]).unwrap_or_default()
                }
                Err(_) => {
                    self.replace_invalid();
                    continue;
                }
            };
            match flat.advance(t, self.pos, self.eof) {
                Advance::Done => return Ok(Outcome::Done),
                Advance::Stop { at, cut } => {
                    let b = t.as_bytes();
                    return Ok(Outcome::Stop(Problem {
                        line: self.lines + newlines(&b[..at]) + 1,
                        end: cut.then(|| self.lines + newlines(b) + 1),
                        nul: b.get(at) == Some(&0),
                    }));
                }
                Advance::More(p) => self.pos = p,
            }
            // More text: keep the unparsed part, read the next block in behind it (into the
            // buffer's spare room: nothing is cleared first).
            self.lines += newlines(&self.text[..self.pos]);
            self.text.drain(..self.pos);
            self.pos = 0;
            self.text.reserve(BLOCK);
            let n = (&mut self.reader)
                .take(BLOCK as u64)
                .read_to_end(&mut self.text)
                .map_err(|error| IngestError::Io {
                    path: display.into(),
                    error,
                })?;
            if n == 0 {
                if !self.last {
                    return Ok(Outcome::Paused);
                }
                // A character cut by the end of the file is read as U+FFFD (above).
                self.eof = true;
                continue;
            }
        }
    }

    /// Writes each invalid sequence in the text held as one U+FFFD (as a lossy read of the
    /// whole would); a character cut by the block's end is left for the next block, or at the
    /// end of the file written as U+FFFD too.
    fn replace_invalid(&mut self) {
        let mut whole = String::new();
        let rest = push_valid(&mut whole, &self.text);
        let mut fixed = whole.into_bytes();
        if self.eof && rest < self.text.len() {
            fixed.extend_from_slice(char::REPLACEMENT_CHARACTER.to_string().as_bytes());
        } else {
            fixed.extend_from_slice(&self.text[rest..]);
        }
        self.text = fixed;
    }

    /// Whether the part read ends just before a `log_history` entry: what is left is
    /// whitespace after an entry's comma.
    fn before_entry(&self, flat: &Flat) -> bool {
        flat.at == (Pos::History { first: false })
            && flat_json::ws(&self.text, self.pos) == self.text.len()
    }

    /// The lines read so far, the text held included.
    fn lines_read(&self) -> usize {
        self.lines + newlines(&self.text)
    }
}

/// Files at least this large are read by two threads, one half each.
const SPLIT_MIN: u64 = 64 << 20;

/// Where a large plain file can be cut so that both halves read as the whole does: the `{` of a
/// `log_history` entry after another's `},` past the middle. Only a candidate: the first half,
/// read up to it, says whether it is one ([`Stream::before_entry`]). None for small or
/// compressed files, or when no such place is near the middle.
fn split_point(path: &Path, min: u64) -> io::Result<Option<u64>> {
    let Some((mut file, len)) = source::splittable(path, min)? else {
        return Ok(None);
    };
    let middle = len / 2;
    file.seek(SeekFrom::Start(middle))?;
    let mut window = Vec::new();
    (&mut file).take(1 << 20).read_to_end(&mut window)?;
    let mut from = 0;
    while let Some(p) = memchr::memmem::find(&window[from..], b"},") {
        let brace = flat_json::ws(&window, from + p + 2);
        if window.get(brace) == Some(&b'{') {
            return Ok(Some(middle + brace as u64));
        }
        from += p + 2;
    }
    Ok(None)
}

/// Reads a large file in two halves on two threads, cut at `cut`; when the first half does not
/// end just before an entry there, it reads on to the end and the second half is dropped.
fn read_halves(path: &Path, cut: u64, display: &str) -> Result<Parsed, IngestError> {
    let io = |e| IngestError::Io {
        path: display.into(),
        error: e,
    };
    let (first, second) = rayon::join(
        || -> Result<_, IngestError> {
            let mut flat = Flat::default();
            let mut stream = Stream::new(File::open(path).map_err(io)?.take(cut), false);
            let outcome = stream.run(&mut flat, display)?;
            Ok((flat, stream, outcome))
        },
        || -> Result<_, IngestError> {
            let mut file = File::open(path).map_err(io)?;
            file.seek(SeekFrom::Start(cut)).map_err(io)?;
            let mut flat = Flat {
                at: Pos::History { first: false },
                seen_history: true,
                ..Flat::default()
            };
            let outcome = Stream::new(file, true).run(&mut flat, display)?;
            Ok((flat, outcome))
        },
    );
    let (mut flat, mut stream, outcome) = first?;
    if !matches!(outcome, Outcome::Paused) || !stream.before_entry(&flat) {
        // Not a place where the halves join (or the first half stopped at a problem): the
        // first half's reader reads on.
        stream.reader.set_limit(u64::MAX);
        stream.last = true;
        let outcome = match outcome {
            Outcome::Paused => stream.run(&mut flat, display)?,
            done => done,
        };
        return flat.conclude(outcome, display);
    }
    let (next, outcome) = second?;
    let lines = stream.lines_read();
    let outcome = match outcome {
        Outcome::Stop(p) => Outcome::Stop(Problem {
            line: p.line + lines,
            end: p.end.map(|e| e + lines),
            nul: p.nul,
        }),
        other => other,
    };
    flat.join(next);
    flat.conclude(outcome, display)
}

/// Pushes the whole characters at the front of `bytes` to `text` (each invalid sequence as one
/// U+FFFD) and returns where what may be a character cut short starts.
fn push_valid(text: &mut String, bytes: &[u8]) -> usize {
    let mut start = 0;
    loop {
        match std::str::from_utf8(&bytes[start..]) {
            Ok(v) => {
                text.push_str(v);
                return bytes.len();
            }
            Err(e) => {
                let valid = e.valid_up_to();
                if let Ok(v) = std::str::from_utf8(&bytes[start..start + valid]) {
                    text.push_str(v);
                }
                start += valid;
                match e.error_len() {
                    Some(n) => {
                        text.push(char::REPLACEMENT_CHARACTER);
                        start += n;
                    }
                    None => return start,
                }
            }
        }
    }
}

/// The number of line breaks in `b`.
fn newlines(b: &[u8]) -> usize {
    memchr::memchr_iter(b'\n', b).count()
}

/// Whether the text ends inside what the reader expects at `i` (rather than holding something
/// that is not JSON there).
fn unfinished(t: &str, i: usize, at: Pos) -> bool {
    let b = t.as_bytes();
    let open = |i: usize| match b.get(i) {
        None => true,
        Some(b'{' | b'[' | b'"') => flat_json::skip_value(t, i).is_none(),
        Some(_) => false,
    };
    match at {
        Pos::Key { .. } => match flat_json::skip_value(t, i) {
            None => open(i),
            Some(k) => {
                let j = flat_json::ws(b, k);
                match b.get(j) {
                    None => true,
                    Some(b':') => open(flat_json::ws(b, j + 1)),
                    Some(_) => false,
                }
            }
        },
        _ => open(i),
    }
}

/// Where the reading stopped, for the message.
struct Problem {
    /// The line of what is not JSON, or of what the text ends inside.
    line: usize,
    /// The last line, when the text ends inside a value.
    end: Option<usize>,
    /// Whether it is a NUL byte.
    nul: bool,
}

impl Flat {
    /// The document read: its records, facts and warnings.
    fn conclude(self, outcome: Outcome, path: &str) -> Result<Parsed, IngestError> {
        match outcome {
            Outcome::Stop(problem) => self.stopped(problem, path),
            Outcome::Done | Outcome::Paused => Ok(finish(self.finish())),
        }
    }

    /// Takes in what the second half read: its entries after these, numbered on from them; its
    /// top-level fields after these (the last one read counts).
    fn join(&mut self, next: Flat) {
        let before = u32::try_from(self.h.entries).unwrap_or(u32::MAX);
        let mut out = next.h.out;
        out.records.shift_lines(before);
        for f in &mut out.facts {
            f.locator = std::mem::replace(&mut f.locator, At::Whole).shifted(before);
        }
        self.h.out.records.append(out.records);
        self.h.out.facts.extend(out.facts);
        self.h.out.warnings.extend(out.warnings);
        self.h.entries += next.h.entries;
        self.h.no_step += next.h.no_step;
        let shift = before as usize;
        self.h.bad_step.join(next.h.bad_step, shift);
        for (name, junk) in next.h.bad_values {
            match self.h.bad_values.iter_mut().find(|(m, _)| *m == name) {
                Some((_, mine)) => mine.join(junk, shift),
                None => {
                    let mut mine = Junk::default();
                    mine.join(junk, shift);
                    self.h.bad_values.push((name, mine));
                }
            }
        }
        for (key, x) in next.tops {
            match self.tops.iter_mut().find(|(k, _)| *k == key) {
                Some(top) => top.1 = x,
                None => self.tops.push((key, x)),
            }
        }
        self.at = next.at;
    }

    /// The entries before a problem, with a warning saying where and why; an error when there are
    /// none.
    fn stopped(self, p: Problem, path: &str) -> Result<Parsed, IngestError> {
        let what = match self.at {
            Pos::Start => {
                return Err(IngestError::Syntax {
                    path: path.into(),
                    line: p.line,
                    message: "expected a JSON object with log_history".into(),
                });
            }
            Pos::Key { .. } => "a top-level field",
            Pos::AfterValue => "the top-level object",
            Pos::History { .. } | Pos::AfterEntry => "a log_history entry",
            Pos::End => "the text after the closing brace",
        };
        let problem = match p.end {
            Some(end) => format!(
                "truncated JSON: the text ends at line {end}, inside {what} from line {}",
                p.line
            ),
            None if p.nul => format!(
                "NUL bytes from line {} on (the zero-filled tail of a writer that died?)",
                p.line
            ),
            None => format!("invalid JSON at line {}, in {what}", p.line),
        };
        let h = self.finish();
        if h.entries == 0 {
            return Err(IngestError::Syntax {
                path: path.into(),
                line: p.end.unwrap_or(p.line),
                message: format!("{problem}, and no complete log_history entry before it"),
            });
        }
        let warning = format!(
            "{problem}; read the {} complete log_history entries before it",
            h.entries
        );
        let mut out = finish(h);
        out.warnings.insert(0, warning);
        Ok(out)
    }
}

/// One top-level `"key": value` at `i`: `log_history`'s opening (its entries come next), a field
/// [`TOP_LEVEL`] names (repeated, the last one counts, as Python's `json` has it), or anything
/// else skipped.
fn key_value(
    t: &str,
    i: usize,
    eof: bool,
    tops: &mut Vec<(String, Option<f64>)>,
    (seen_history, not_list): (&mut bool, &mut Option<&'static str>),
) -> Step {
    let b = t.as_bytes();
    if b[i] != b'"' {
        return Step::Bad;
    }
    let Some((key, next)) = flat_json::string(t, i) else {
        return Step::More;
    };
    let j = flat_json::ws(b, next);
    match b.get(j) {
        Some(b':') => {}
        Some(_) => return Step::Bad,
        None => return Step::More,
    }
    let j = flat_json::ws(b, j + 1);
    if key == "log_history" {
        if *seen_history {
            return Step::Bad;
        }
        if b[j..].starts_with(b"null") {
            *seen_history = true;
            return Step::Go(Pos::AfterValue, j + 4);
        }
        return match b.get(j) {
            Some(b'[') => {
                *seen_history = true;
                Step::Go(Pos::History { first: true }, j + 1)
            }
            Some(_) if b"null".starts_with(&b[j..]) => Step::More,
            // Another JSON value: the document goes on, its history said to be no list.
            Some(&c) => match flat_json::value(t, j) {
                Some((_, next)) if next < b.len() || eof => {
                    *seen_history = true;
                    *not_list = Some(match c {
                        b'"' => "a string",
                        b'{' => "an object",
                        b't' | b'f' => "a boolean",
                        _ => "a number",
                    });
                    Step::Go(Pos::AfterValue, next)
                }
                Some(_) => Step::More,
                // A string or object may go on past the text held; anything else that does not
                // read, with text after it, is not JSON.
                None if !eof && (matches!(c, b'"' | b'{') || b.len() - j < 32) => Step::More,
                None => Step::Bad,
            },
            None => Step::More,
        };
    }
    let Some((v, next)) = flat_json::value(t, j) else {
        return Step::More;
    };
    // A number cut at the block's end would read as a shorter one: it must be followed by
    // something.
    if next >= b.len() && !eof {
        return Step::More;
    }
    if TOP_LEVEL.contains(&&*key) {
        let x = v.num();
        match tops.iter_mut().find(|(k, _)| *k == key) {
            Some(top) => top.1 = x,
            None => tops.push((key.into_owned(), x)),
        }
    }
    Step::Go(Pos::AfterValue, next)
}

/// The top-level fields read, in the order [`top_level_facts`] takes them.
const TOP_LEVEL: [&str; 8] = [
    "max_steps",
    "num_train_epochs",
    "train_batch_size",
    "logging_steps",
    "num_input_tokens_seen",
    "global_step",
    "epoch",
    "best_metric",
];

fn finish(h: History) -> Parsed {
    let mut out = h.out;
    if h.no_step > 0 {
        out.warnings.push(format!(
            "{} log_history entries without a step (predict results) were skipped",
            h.no_step
        ));
    }
    if let Some((i, held)) = &h.bad_step.first {
        out.warnings.push(format!(
            "{} log_history {} a step that is no step count (first: entry {}, \"step\": {held}); skipped",
            h.bad_step.count,
            if h.bad_step.count == 1 { "entry has" } else { "entries have" },
            i + 1
        ));
    }
    // Text under a metric logged as numbers elsewhere is damage; under a key that is never a
    // number it is not a metric (a note a callback logs), and no warning.
    for (name, junk) in &h.bad_values {
        if let (Some((i, held)), true) = (&junk.first, out.records.has_column(name)) {
            out.warnings.push(format!(
                "{} {name} {} in log_history {} not a number (first: entry {}, \"{name}\": {held}); skipped",
                junk.count,
                if junk.count == 1 { "value" } else { "values" },
                if junk.count == 1 { "is" } else { "are" },
                i + 1
            ));
        }
    }
    crate::ingest::rate_named_lr(&mut out.records);
    out
}

/// Facts from the top-level fields, given in [`TOP_LEVEL`]'s order.
fn top_level_facts(out: &mut Parsed, values: [Option<f64>; 8]) {
    // The best metric may be any finite number (a loss, an accuracy, a negative reward).
    let best = values[7].filter(|x| x.is_finite());
    let [max_steps, epochs, batch, logging, tokens, step, epoch, _] =
        values.map(|v| v.filter(|&x| x > 0.0 && x.is_finite()));
    if let (Some(step), Some(epoch)) = (step, epoch) {
        // A step past the planned total, or one that makes an epoch shorter than a step or
        // longer than a trillion, is no position a trainer wrote.
        let per_epoch = step / epoch;
        if max_steps.is_some_and(|t| step > t) || !(1.0..=1e12).contains(&per_epoch) {
            out.warnings.push(format!(
                "global_step {} at epoch {} (top level) is not where a run of {} stood; not used",
                crate::model::format_number(step),
                crate::model::format_number(epoch),
                max_steps.map_or("unknown length".to_string(), |t| format!("{t} steps"))
            ));
        } else {
            out.stood = Some(Stood {
                step: Some(step),
                epoch,
            });
        }
    }
    if let Some(x) = max_steps {
        out.fact(Key::TotalSteps, x, "max_steps", 2);
    }
    if let Some(x) = epochs {
        out.fact(Key::Epochs, x, "num_train_epochs", 2);
    }
    if let Some(x) = batch {
        out.fact(Key::PerDeviceBatch, x, "train_batch_size (per device)", 2);
    }
    if let Some(x) = logging {
        out.fact(Key::LoggingSteps, x, "logging_steps", 2);
    }
    if let Some(x) = tokens {
        out.fact(Key::TokensSeen, x, "num_input_tokens_seen", 2);
    }
    if let Some(x) = best {
        out.fact(Key::BestMetric, x, "best_metric", 2);
    }
}

/// HF Trainer `trainer_state.json`.
pub struct HfState;

impl Format for HfState {
    fn name(&self) -> &'static str {
        "hf_trainer_state"
    }
    fn priority(&self) -> u8 {
        1
    }
    fn sniff(&self, head: &Head<'_>) -> Sniff {
        Sniff::from(sniff(head.text))
    }
    fn read(&self, src: Source<'_>) -> Result<Parsed, IngestError> {
        read_input(src.input, src.display)
    }
    fn locator(&self) -> Locator {
        Locator::LogHistoryEntry
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::Trickle;

    const STATE: &str = r#"{
  "global_step": 4, "max_steps": 4, "num_train_epochs": 1, "train_batch_size": 2,
  "log_history": [
    {"epoch": 0.5, "grad_norm": NaN, "learning_rate": 0.001, "loss": 2.5, "step": 2},
    {"epoch": 1.0, "eval_loss": 2.0, "step": 2},
    {"epoch": 1.0, "predict_loss": 2.0},
    {"epoch": 1.0, "step": 4, "train_runtime": 10.0, "train_samples_per_second": 3.2, "train_loss": 2.4}
  ]
}"#;

    #[test]
    fn reads_entries_summary_and_top_level() {
        let p = read(STATE, "s.json").expect("parses");
        assert_eq!(p.records.len(), 2);
        let records = p.records.to_vec();
        assert_eq!(records[0].row.step, Some(2.0));
        let gn = records[0]
            .metrics
            .iter()
            .find(|(k, _)| &**k == "grad_norm")
            .expect("grad_norm");
        assert!(gn.1.is_nan());
        assert!(p.facts.iter().any(|f| f.key == Key::TrainRuntime));
        assert!(
            p.facts
                .iter()
                .any(|f| f.key == Key::PerDeviceBatch && f.value.as_f64() == Some(2.0))
        );
        assert_eq!(p.warnings.len(), 1, "the predict entry is reported");
        assert_eq!(
            p.stood, None,
            "a global_step without an epoch says no epoch"
        );
        let p = read(&STATE.replacen("{\n", "{\n  \"epoch\": 0.99,", 1), "s.json").expect("parses");
        assert_eq!(
            p.stood,
            Some(Stood {
                step: Some(4.0),
                epoch: 0.99
            })
        );
        // A summary at global_step 4 of max_steps 40: where it stood, with no word of an early
        // stop (whether the run stopped there is the run's to say, from all its files).
        let p = read(
            &STATE
                .replacen("{\n", "{\n  \"epoch\": 0.5,", 1)
                .replace("\"max_steps\": 4,", "\"max_steps\": 40,"),
            "s.json",
        )
        .expect("parses");
        assert_eq!(p.stood.and_then(|s| s.step), Some(4.0));
        assert!(
            !p.warnings.iter().any(|w| w.contains("stopped early")),
            "{:?}",
            p.warnings
        );
        // A global_step past max_steps is no position a trainer wrote: said, not used.
        let p = read(
            &STATE
                .replacen("{\n", "{\n  \"epoch\": 0.5,", 1)
                .replace("\"global_step\": 4", "\"global_step\": 1e18"),
            "s.json",
        )
        .expect("parses");
        assert_eq!(p.stood, None);
        assert!(
            p.warnings
                .iter()
                .any(|w| w.contains("(top level) is not where a run of 4 steps stood; not used")),
            "{:?}",
            p.warnings
        );
    }

    #[test]
    fn salvages_a_truncated_file() {
        let cut = &STATE[..STATE.find("\"predict_loss\"").expect("marker") - 20];
        let p = read(cut, "s.json").expect("salvaged");
        assert_eq!(p.records.len(), 2);
        assert!(p.warnings[0].contains("truncated"));
    }

    #[test]
    fn garbage_is_an_error_with_a_line() {
        let e = read("{\n\"log_history\": [\n oops", "s.json").expect_err("fails");
        assert!(e.to_string().starts_with("s.json:3:"), "{e}");
    }

    /// The document as serde reads it (a tree, then each entry as serde's `Entry`), through the
    /// same [`History`]: what the streaming reader must agree with on valid JSON.
    fn by_serde(text: &str) -> String {
        let clean = crate::ingest::lenient::sanitize_json(text);
        let doc: serde_json::Value = serde_json::from_str(&clean).expect("valid JSON");
        let mut h = History::default();
        for entry in doc["log_history"].as_array().into_iter().flatten() {
            let text = entry.to_string();
            let entry: Entry = serde_json::from_str(&text).expect("an entry");
            h.push(&entry);
        }
        let top = |k: &str| doc.get(k).and_then(crate::ingest::lenient::number);
        top_level_facts(&mut h.out, TOP_LEVEL.map(top));
        format!("{:?}", Ok::<_, IngestError>(finish(h)))
    }

    /// Every trainer_state.json fixture reads as serde reads it.
    #[test]
    fn fixtures_read_as_serde_reads_them() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
        let mut stack = vec![root];
        let mut seen = 0;
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(&dir).expect("fixture dir") {
                let path = e.expect("entry").path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.file_name().is_some_and(|n| n == "trainer_state.json")
                    && !path.starts_with(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/bad"))
                {
                    let text = std::fs::read_to_string(&path).expect("reads");
                    let name = path.display().to_string();
                    assert_eq!(
                        format!("{:?}", read(&text, &name)),
                        by_serde(&text),
                        "{name}"
                    );
                    seen += 1;
                }
            }
        }
        assert!(seen >= 20, "{seen} files");
    }

    #[test]
    fn escapes_nested_values_and_odd_entries_read_as_serde_reads_them() {
        for text in [
            STATE,
            r#"{"log_history": [{"step": 1, "loss": 1.0, "x": [1, {"y": "]"}]}], "max_steps": 10}"#,
            r#"{"log_history": [{"st\u0065p": 1, "lo\"ss": 1.0, "note": "a\nb"}]}"#,
            r#"{"log_history": [1, "two", null, {"step": 3, "loss": 0.5}, []]}"#,
            r#"{"trial_params": {"a": [1, 2]}, "log_history": [{"step": 1, "loss": 1.0}]}"#,
            r#"{"log_history": null, "max_steps": 5}"#,
            r#"{"log_history": [], "max_steps": 5}"#,
            "{}",
        ] {
            assert_eq!(
                format!("{:?}", read(text, "s.json")),
                by_serde(text),
                "{text}"
            );
        }
    }

    /// A log_history that is another JSON value than a list is said to be one, in a warning,
    /// and the rest of the document is read; a byte at a time too (values cut at every place).
    #[test]
    fn a_log_history_that_is_no_list_is_said_to_be_none() {
        for (value, what) in [
            (r#""oops""#, "a string"),
            (r#"{"step": 1, "loss": 1.0}"#, "an object"),
            ("12.5", "a number"),
            ("true", "a boolean"),
        ] {
            let text = format!(r#"{{"log_history": {value}, "max_steps": 7}}"#);
            for parsed in [
                read(&text, "s.json"),
                read_stream(crate::ingest::Trickle(text.as_bytes(), 1), "s.json"),
            ] {
                let parsed = parsed.expect(value);
                assert!(parsed.records.is_empty(), "{value}");
                assert_eq!(
                    parsed.warnings,
                    [format!(
                        "log_history is {what}, not a list of entries: no metric records in it"
                    )],
                    "{value}"
                );
                assert!(
                    parsed.facts.iter().any(|f| f.key == Key::TotalSteps),
                    "{value}: max_steps after it is read"
                );
            }
        }
        // Not JSON where the list should be is still an error.
        assert!(read(r#"{"log_history": oops, "max_steps": 7}"#, "s.json").is_err());
    }

    /// Two halves read as one pass does, wherever the cut is: at each entry (where they join),
    /// inside a string that looks like an entry's start, inside an entry (where the first half
    /// reads on); with the file cut short, or not JSON, in the second half.
    /// The fixture with damaged values in `log_history`: a loss that is text (twice, the second
    /// in the second half), a step that is text, a negative step.
    fn garbled(text: &str) -> String {
        let mut doc: serde_json::Value = serde_json::from_str(text).expect("fixture");
        let history = doc["log_history"].as_array_mut().expect("entries");
        history[3]["loss"] = "abc".into();
        history[4]["step"] = (-10).into();
        history[5]["step"] = "x".into();
        history[20]["loss"] = "nan?".into();
        serde_json::to_string_pretty(&doc).expect("json")
    }

    /// Values that are no number where one belongs are skipped and said: text under a metric
    /// logged as numbers, a step that is text or negative; text under a key that is never a
    /// number is no metric and no warning.
    #[test]
    fn damaged_values_are_skipped_with_a_warning() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/lf_8proc_ga8/trainer_state.json"
        ))
        .expect("fixture");
        let clean = read(&text, "s.json").expect("reads");
        let p = read(&garbled(&text), "s.json").expect("reads");
        assert_eq!(
            p.warnings,
            [
                "2 log_history entries have a step that is no step count (first: entry 5, \"step\": -10); skipped",
                "2 loss values in log_history are not a number (first: entry 4, \"loss\": \"abc\"); skipped",
            ]
        );
        assert_eq!(p.records.len(), clean.records.len() - 2);
        assert!(p.records.iter().all(|r| r.step.is_some_and(|s| s >= 0.0)));
        let noted = text.replacen("\"loss\":", "\"note\": \"warmup done\", \"loss\":", 3);
        assert!(read(&noted, "s.json").expect("reads").warnings.is_empty());
    }

    #[test]
    fn two_halves_read_as_one_pass_does() {
        let dir = tempfile::tempdir().expect("temp dir");
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/lf_8proc_ga8/trainer_state.json"
        ))
        .expect("fixture");
        let tricky = text.replacen(
            "\"loss\":",
            "\"note\": \"}, {\\\"step\\\": 99, \\\"loss\\\": 9}\", \"loss\":",
            1,
        );
        let short = text[..text.len() * 3 / 4].to_string();
        let bad = {
            let at = text.len() * 3 / 4 + text[text.len() * 3 / 4..].find('{').expect("entry");
            format!("{}{{\"step\": nope}},{}", &text[..at], &text[at..])
        };
        let garbled = garbled(&text);
        for (name, doc) in [
            ("plain", &text),
            ("tricky", &tricky),
            ("short", &short),
            ("bad", &bad),
            ("garbled", &garbled),
        ] {
            let path = dir.path().join(format!("{name}.json"));
            std::fs::write(&path, doc).expect("write");
            let whole = format!("{:?}", read_stream(doc.as_bytes(), "s.json"));
            let mut joined = 0;
            let cuts =
                (1..doc.len()).filter(|&i| i % 13 == 0 || matches!(doc.as_bytes()[i], b'{' | b'"'));
            for cut in cuts {
                let halves = format!("{:?}", read_halves(&path, cut as u64, "s.json"));
                assert_eq!(halves, whole, "{name}, cut at {cut}");
                joined += usize::from(doc[..cut].trim_end().ends_with(','));
            }
            assert!(joined > 10, "{name}: {joined} cuts between entries");
            let cut = split_point(&path, 0).expect("reads").expect("a cut");
            assert_eq!(doc.as_bytes()[cut as usize], b'{', "{name}");
        }
    }

    #[test]
    fn line_breaks_are_counted_in_any_length() {
        for len in [0, 1, 31, 32, 33, 8159, 8160, 8161, 20000] {
            let b: Vec<u8> = (0..len)
                .map(|i| match i % 5 {
                    0 | 3 => b'\n',
                    1 => 0x8a,
                    2 => 0x0b,
                    _ => i as u8,
                })
                .collect();
            assert_eq!(
                newlines(&b),
                b.iter().filter(|&&c| c == b'\n').count(),
                "{len}"
            );
        }
        assert_eq!(newlines(&[b'\n'; 20000]), 20000);
    }

    #[test]
    fn a_repeated_top_level_field_counts_its_last_value() {
        let p = read(
            r#"{"max_steps": 5, "max_steps": 6, "log_history": [{"step": 1, "loss": 1.0}]}"#,
            "s.json",
        )
        .expect("reads");
        let max = p
            .facts
            .iter()
            .find(|f| f.key == Key::TotalSteps)
            .expect("fact");
        assert_eq!(max.value.as_f64(), Some(6.0));
        assert!(p.warnings.is_empty());
    }

    #[test]
    fn a_problem_stops_the_reading_there_with_its_line() {
        let entry = |s| format!("    {{\"step\": {s}, \"loss\": 1.0}}");
        let lines = |n: usize| (1..=n).map(entry).collect::<Vec<_>>().join(",\n");
        let head = format!(
            "{{\n  \"max_steps\": 9,\n  \"log_history\": [\n{}",
            lines(3)
        );
        for (tail, warning) in [
            // Cut inside the fourth entry (line 7), the last line being 8.
            (
                ",\n    {\"step\": 4,\n    \"lo",
                "truncated JSON: the text ends at line 8, inside a log_history entry from line 7",
            ),
            (
                ",\n    {\"step\": 4, \"loss\": nan},\n    {\"step\": 5, \"loss\": 1.0}\n  ]\n}",
                "invalid JSON at line 7, in a log_history entry",
            ),
            (
                ",\n\0\0\0\0",
                "NUL bytes from line 7 on (the zero-filled tail of a writer that died?)",
            ),
            (
                "\n  ],\n  \"total_flos\": 1",
                "truncated JSON: the text ends at line 8",
            ),
            (
                "\n  ]\n} trailing",
                "invalid JSON at line 8, in the text after the closing brace",
            ),
        ] {
            let text = format!("{head}{tail}");
            let p = read(&text, "s.json").expect("the entries before it");
            assert_eq!(p.records.len(), 3, "{text}");
            assert!(
                p.warnings[0].starts_with(warning),
                "{text:?}: {}",
                p.warnings[0]
            );
            assert!(
                p.warnings[0].ends_with("read the 3 complete log_history entries before it"),
                "{}",
                p.warnings[0]
            );
            // The top-level field read before the problem is kept.
            assert!(p.facts.iter().any(|f| f.key == Key::TotalSteps), "{text}");
        }
    }

    #[test]
    fn blocks_cut_anywhere_read_as_the_whole_does() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/lf_8proc_ga8/trainer_state.json"
        ))
        .expect("fixture");
        let accented = text.replacen('{', "{\"note\": \"naïve ünïcode\",", 1);
        let mut invalid = text.clone().into_bytes();
        invalid.splice(1..1, b"\"n\xffote\xe2\x82\": 1,".iter().copied());
        let short = &text.as_bytes()[..text.len() / 2];
        // A character cut by the end of the file.
        let mut cut_at_end = text.clone().into_bytes();
        cut_at_end.extend_from_slice(b"\xe2\x82");
        for bytes in [
            text.as_bytes(),
            accented.as_bytes(),
            &invalid,
            short,
            &cut_at_end,
        ] {
            let whole = format!("{:?}", read_stream(bytes, "s.json"));
            assert!(whole.starts_with("Ok"), "{whole}");
            for step in [1, 2, 3, 5, 7, 64, 4096] {
                let cut = format!("{:?}", read_stream(Trickle(bytes, step), "s.json"));
                assert_eq!(cut, whole, "reads of {step} bytes");
            }
        }
        // Invalid UTF-8 reads as a lossy read of the whole would.
        for bytes in [&invalid, &cut_at_end] {
            let lossy = String::from_utf8_lossy(bytes).into_owned();
            assert_eq!(
                format!("{:?}", read_stream(&bytes[..], "s.json")),
                format!("{:?}", read(&lossy, "s.json"))
            );
        }
    }
}
