//! HF Trainer `trainer_state.json`: `log_history` entries (train, eval, predict and the final
//! summary) and the top-level fields (`global_step`, `max_steps`, `num_train_epochs`,
//! `train_batch_size` = per-device batch, `logging_steps`, `num_input_tokens_seen`).
//! Python writes `NaN`/`Infinity`; a crashed writer leaves truncated JSON, from which every
//! complete entry is salvaged.

use crate::model::At;
use std::fmt;

use serde::Deserialize;
use serde::de::{Deserializer, SeqAccess, Visitor};

use std::io::{self, Read};

use super::{Format, Head, Sniff, Source};
use crate::ingest::flat_json;
use crate::ingest::lenient::{Entry, Val, sanitize_json};
use crate::ingest::source;
use crate::ingest::source::IngestError;
use crate::ingest::{Names, Parsed, Record};
use crate::model::Key;
use crate::model::Locator;

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

/// The document, deserialised without building a tree: each `log_history` entry becomes a
/// [`Record`] as soon as it is read ([`History`]), other top-level fields are read only when
/// named here.
#[derive(Deserialize)]
struct Doc<'a> {
    #[serde(default)]
    log_history: Option<History>,
    #[serde(borrow)]
    max_steps: Option<Val<'a>>,
    #[serde(borrow)]
    num_train_epochs: Option<Val<'a>>,
    #[serde(borrow)]
    train_batch_size: Option<Val<'a>>,
    #[serde(borrow)]
    logging_steps: Option<Val<'a>>,
    #[serde(borrow)]
    num_input_tokens_seen: Option<Val<'a>>,
}

/// What `log_history` yields: records, the summary entry's facts, entries skipped.
#[derive(Default)]
struct History {
    out: Parsed,
    names: Names,
    entries: usize,
    no_step: usize,
}

impl History {
    /// Takes in entry number `self.entries`.
    fn push(&mut self, entry: &Entry<'_>) {
        let i = self.entries;
        self.entries += 1;
        // Once per run: keys are compared only when they could be one of these.
        let summary = entry.fields.iter().any(|(k, _)| {
            (k.starts_with("train_") || k.starts_with("total_")) && SUMMARY_KEYS.contains(&&**k)
        });
        if summary {
            self.out.throughput(
                |field| entry.num(field),
                |field| At::EntryField(i as u32 + 1, field.into()),
            );
            return;
        }
        if !entry.object {
            return;
        }
        let Some(step) = entry.num("step") else {
            self.no_step += 1;
            return;
        };
        let rec = entry_record(entry, step, i, &mut self.names);
        self.out.records.push(rec);
    }
}

impl<'de> Deserialize<'de> for History {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = History;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("the log_history array")
            }
            fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<History, S::Error> {
                let mut h = History::default();
                while let Some(entry) = seq.next_element::<Entry>()? {
                    h.push(&entry);
                }
                Ok(h)
            }
        }
        d.deserialize_seq(V)
    }
}

/// Reads a `trainer_state.json` from a path: as the trainer writes it (flat `log_history`
/// entries, no escapes in what is read) through [`flat_json`], a large file streamed in blocks
/// so that its text is never held whole; anything else (escapes, nested entries, truncation,
/// invalid UTF-8) read whole through serde, which decides what errors and salvage mean.
pub fn read_input(mut input: source::Input, display: &str) -> Result<Parsed, IngestError> {
    let Some(path) = input
        .path()
        .filter(|p| std::fs::metadata(p).map_or(0, |m| m.len()) > STREAM_MIN)
    else {
        let text = input.text()?;
        let mut parsed = read(&text, display)?;
        crate::ingest::damage_warning(&text, &mut parsed);
        return Ok(parsed);
    };
    let streamed = read_flat_stream(source::open(path)?).map_err(|e| IngestError::Io {
        path: display.into(),
        source: e,
    })?;
    match streamed {
        Some(h) => Ok(finish(h)),
        // The flat reader gave up on this text: straight to serde, not through it again.
        None => read_serde(&source::read_to_string(path)?, display),
    }
}

/// Files at least this large are streamed; smaller ones are read whole and parsed in place.
const STREAM_MIN: u64 = 16 << 20;

/// Reads a `trainer_state.json` held in memory.
pub fn read(text: &str, path: &str) -> Result<Parsed, IngestError> {
    let mut flat = Flat::default();
    match flat.advance(text, 0, true) {
        Advance::Done => Ok(finish(flat.finish())),
        _ => read_serde(text, path),
    }
}

/// Where the flat reader is in the document.
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

/// The flat reader's state between pieces of text.
#[derive(Default)]
struct Flat {
    h: History,
    tops: Vec<(String, Option<f64>)>,
    seen_history: bool,
    at: Pos,
}

/// What [`Flat::advance`] came to.
enum Advance {
    /// The document is read.
    Done,
    /// More text is needed; parsing resumes at this position.
    More(usize),
    /// Not plain: left to serde.
    GiveUp,
}

impl Flat {
    /// Parses as much of `t` from `pos` on as is whole; `eof`: no text follows `t`.
    fn advance(&mut self, t: &str, mut pos: usize, eof: bool) -> Advance {
        let b = t.as_bytes();
        loop {
            let i = flat_json::ws(b, pos);
            let step = match self.at {
                Pos::Start => match b.get(i) {
                    Some(b'{') => Some((Pos::Key { first: true }, i + 1)),
                    Some(_) => return Advance::GiveUp,
                    None => None,
                },
                Pos::Key { first } => match b.get(i) {
                    Some(b'}') if first => Some((Pos::End, i + 1)),
                    Some(_) => key_value(t, i, &mut self.tops, &mut self.seen_history),
                    None => None,
                },
                Pos::History { first } => match b.get(i) {
                    Some(b']') if first => Some((Pos::AfterValue, i + 1)),
                    Some(_) => flat_json::object(t, i).map(|(entry, next)| {
                        self.h.push(&entry);
                        (Pos::AfterEntry, next)
                    }),
                    None => None,
                },
                Pos::AfterEntry => match b.get(i) {
                    Some(b',') => Some((Pos::History { first: false }, i + 1)),
                    Some(b']') => Some((Pos::AfterValue, i + 1)),
                    Some(_) => return Advance::GiveUp,
                    None => None,
                },
                Pos::AfterValue => match b.get(i) {
                    Some(b',') => Some((Pos::Key { first: false }, i + 1)),
                    Some(b'}') => Some((Pos::End, i + 1)),
                    Some(_) => return Advance::GiveUp,
                    None => None,
                },
                Pos::End if i < b.len() => return Advance::GiveUp,
                Pos::End => None,
            };
            match step {
                Some((at, next)) => {
                    self.at = at;
                    pos = next;
                }
                None if eof && self.at == Pos::End => return Advance::Done,
                None if eof => return Advance::GiveUp,
                None => return Advance::More(pos),
            }
        }
    }

    /// The history read, with the top-level fields' facts.
    fn finish(mut self) -> History {
        let tops = &self.tops;
        let top = |k: &str| tops.iter().find(|(n, _)| n == k).and_then(|(_, v)| *v);
        top_level_facts(&mut self.h.out, TOP_LEVEL.map(top));
        self.h
    }
}

/// Bytes read per block.
const BLOCK: usize = 1 << 20;

/// The fast path over a stream, in blocks: `Ok(None)` as soon as anything is not plain.
fn read_flat_stream(mut reader: impl Read) -> io::Result<Option<History>> {
    let mut flat = Flat::default();
    // Validated text not yet parsed, and bytes read after it that do not yet form whole
    // characters.
    let (mut text, mut pending) = (String::new(), Vec::new());
    let mut block = vec![0u8; BLOCK];
    let (mut pos, mut eof) = (0, false);
    loop {
        match flat.advance(&text, pos, eof) {
            Advance::Done => return Ok(Some(flat.finish())),
            Advance::GiveUp => return Ok(None),
            Advance::More(p) => pos = p,
        }
        // More text: keep the unparsed part, add what the next block validates.
        text.drain(..pos);
        pos = 0;
        let n = loop {
            match reader.read(&mut block) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                other => break other?,
            }
        };
        if n == 0 {
            if !pending.is_empty() {
                return Ok(None);
            }
            eof = true;
            continue;
        }
        pending.extend_from_slice(&block[..n]);
        let valid = match std::str::from_utf8(&pending) {
            Ok(v) => v.len(),
            // An error other than a character cut at the block's end: not UTF-8.
            Err(e) if e.error_len().is_some() => return Ok(None),
            Err(e) => e.valid_up_to(),
        };
        let Ok(whole) = std::str::from_utf8(&pending[..valid]) else {
            return Ok(None);
        };
        text.push_str(whole);
        pending.drain(..valid);
    }
}

/// One top-level `"key": value` at `i`: `log_history`'s opening (its entries come next), a field
/// [`TOP_LEVEL`] names, or anything else skipped. None when it is not whole in `t`, or not plain
/// (a repeated field: the caller gives up at the end of the stream).
fn key_value(
    t: &str,
    i: usize,
    tops: &mut Vec<(String, Option<f64>)>,
    seen_history: &mut bool,
) -> Option<(Pos, usize)> {
    let b = t.as_bytes();
    let (key, next) = flat_json::string(t, i)?;
    let j = flat_json::ws(b, next);
    if b.get(j) != Some(&b':') {
        return None;
    }
    let j = flat_json::ws(b, j + 1);
    if key == "log_history" {
        if *seen_history {
            return None;
        }
        if b[j..].starts_with(b"null") {
            *seen_history = true;
            return Some((Pos::AfterValue, j + 4));
        }
        if b.get(j) != Some(&b'[') {
            return None;
        }
        *seen_history = true;
        return Some((Pos::History { first: true }, j + 1));
    }
    if TOP_LEVEL.contains(&key) {
        if tops.iter().any(|(k, _)| k == key) {
            return None;
        }
        let (v, next) = flat_json::scalar(t, j)?;
        // A number cut at the block's end would read as a shorter one: it must be followed
        // by something.
        if next >= b.len() {
            return None;
        }
        tops.push((key.to_string(), v.num()));
        return Some((Pos::AfterValue, next));
    }
    let next = flat_json::skip_value(t, j)?;
    (next < b.len()).then_some((Pos::AfterValue, next))
}

/// The top-level fields read, in the order [`top_level_facts`] takes them.
const TOP_LEVEL: [&str; 5] = [
    "max_steps",
    "num_train_epochs",
    "train_batch_size",
    "logging_steps",
    "num_input_tokens_seen",
];

/// [`read`] through serde alone.
fn read_serde(text: &str, path: &str) -> Result<Parsed, IngestError> {
    let text = sanitize_json(text);
    if !text.trim_start().starts_with('{') {
        return Err(IngestError::Syntax {
            path: path.into(),
            line: 1,
            message: "expected a JSON object with log_history".into(),
        });
    }
    let out = match serde_json::from_str::<Doc>(&text) {
        Ok(mut doc) => {
            let mut h = doc.log_history.take().unwrap_or_default();
            let num = |v: &Option<Val>| v.as_ref().and_then(Val::num);
            top_level_facts(
                &mut h.out,
                [
                    num(&doc.max_steps),
                    num(&doc.num_train_epochs),
                    num(&doc.train_batch_size),
                    num(&doc.logging_steps),
                    num(&doc.num_input_tokens_seen),
                ],
            );
            finish(h)
        }
        Err(e) => {
            let h = salvage_log_history(&text);
            if h.entries == 0 {
                return Err(IngestError::Syntax {
                    path: path.into(),
                    line: e.line(),
                    message: format!(
                        "invalid JSON ({e}) and no complete log_history entry before it"
                    ),
                });
            }
            let warning = format!(
                "truncated or invalid JSON at line {} ({e}); read the {} complete log_history entries before it",
                e.line(),
                h.entries
            );
            let mut out = finish(h);
            out.warnings.insert(0, warning);
            out
        }
    };
    Ok(out)
}

fn finish(h: History) -> Parsed {
    let mut out = h.out;
    if h.no_step > 0 {
        out.warnings.push(format!(
            "{} log_history entries without a step (predict results) were skipped",
            h.no_step
        ));
    }
    out
}

fn entry_record(entry: &Entry<'_>, step: f64, index: usize, names: &mut Names) -> Record {
    let mut rec = Record {
        step: Some(step),
        line: u32::try_from(index + 1).unwrap_or(u32::MAX),
        ..Record::default()
    };
    for (k, v) in &entry.fields {
        let Some(x) = v.num() else { continue };
        match &**k {
            "step" => {}
            "epoch" => rec.epoch = Some(x),
            "num_input_tokens_seen" => rec.tokens = (x > 0.0).then_some(x),
            _ => rec.metrics.push((names.get(k), x)),
        }
    }
    rec
}

/// Facts from the top-level fields, given in [`TOP_LEVEL`]'s order.
fn top_level_facts(out: &mut Parsed, values: [Option<f64>; 5]) {
    let [max_steps, epochs, batch, logging, tokens] = values.map(|v| v.filter(|&x| x > 0.0));
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
}

/// Recovers the complete objects of `"log_history": [ ... ` from a document cut short.
fn salvage_log_history(text: &str) -> History {
    let Some(start) = text.find("\"log_history\"") else {
        return History::default();
    };
    let Some(open) = text[start..].find('[') else {
        return History::default();
    };
    let bytes = text.as_bytes();
    let mut out = History::default();
    let mut i = start + open + 1;
    loop {
        while i < bytes.len() && (bytes[i].is_ascii_whitespace() || bytes[i] == b',') {
            i += 1;
        }
        if i >= bytes.len() || bytes[i] != b'{' {
            return out;
        }
        let Some(end) = object_end(bytes, i) else {
            return out;
        };
        match serde_json::from_str::<Entry>(&text[i..=end]) {
            Ok(v) => out.push(&v),
            Err(_) => return out,
        }
        i = end + 1;
    }
}

fn object_end(bytes: &[u8], open: usize) -> Option<usize> {
    let (mut depth, mut in_str, mut esc) = (0usize, false, false);
    for (i, &b) in bytes.iter().enumerate().skip(open) {
        if in_str {
            match (esc, b) {
                (true, _) => esc = false,
                (false, b'\\') => esc = true,
                (false, b'"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_str = true,
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
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
        assert_eq!(records[0].step, Some(2.0));
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

    /// Every trainer_state.json fixture is taken by the fast path and reads as serde reads it.
    #[test]
    fn the_fast_path_reads_fixtures_as_serde_does() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
        let mut stack = vec![root];
        let mut seen = 0;
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(&dir).expect("fixture dir") {
                let path = e.expect("entry").path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.file_name().is_some_and(|n| n == "trainer_state.json") {
                    let text = std::fs::read_to_string(&path).expect("reads");
                    let name = path.display().to_string();
                    let streamed = read_flat_stream(text.as_bytes()).expect("reads");
                    assert!(streamed.is_some(), "{name}: fast path");
                    let fast = format!("{:?}", read(&text, &name));
                    assert_eq!(fast, format!("{:?}", read_serde(&text, &name)), "{name}");
                    seen += 1;
                }
            }
        }
        assert!(seen >= 20, "{seen} files");
    }

    #[test]
    fn what_the_fast_path_leaves_reads_as_before() {
        for text in [
            STATE,
            r#"{"log_history": [{"step": 1, "loss": 1.0, "x": [1]}], "max_steps": 10}"#,
            r#"{"log_history": [{"step": 1, "loss": 1.0}, {"step": 2, "lo"#,
            r#"{"max_steps": 5, "max_steps": 6, "log_history": [{"step": 1, "loss": 1.0}]}"#,
            r#"{"log_history": null, "max_steps": 5}"#,
        ] {
            assert_eq!(
                format!("{:?}", read(text, "s.json")),
                format!("{:?}", read_serde(text, "s.json")),
                "{text}"
            );
        }
    }

    #[test]
    fn blocks_cut_anywhere_read_as_the_whole_does() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/lf_8proc_ga8/trainer_state.json"
        ))
        .expect("fixture");
        let whole = format!(
            "{:?}",
            read_flat_stream(text.as_bytes())
                .expect("reads")
                .map(finish)
        );
        assert!(whole.starts_with("Some"));
        for step in [1, 2, 3, 5, 7, 64, 4096] {
            let cut = read_flat_stream(Trickle(text.as_bytes(), step)).expect("reads");
            assert_eq!(
                format!("{:?}", cut.map(finish)),
                whole,
                "reads of {step} bytes"
            );
        }
        // A multi-byte character cut between reads, in a skipped field.
        let accented = text.replacen('{', "{\"note\": \"naïve ünïcode\",", 1);
        for step in [1, 2, 3] {
            let cut = read_flat_stream(Trickle(accented.as_bytes(), step)).expect("reads");
            assert!(cut.is_some(), "reads of {step} bytes");
        }
        // Cut short: left to serde's salvage.
        let short = &text[..text.len() / 2];
        assert!(
            read_flat_stream(Trickle(short.as_bytes(), 7))
                .expect("reads")
                .is_none()
        );
    }
}
