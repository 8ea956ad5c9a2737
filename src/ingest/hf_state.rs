//! HF Trainer `trainer_state.json`: `log_history` entries (train, eval, predict and the final
//! summary) and the top-level fields (`global_step`, `max_steps`, `num_train_epochs`,
//! `train_batch_size` = per-device batch, `logging_steps`, `num_input_tokens_seen`).
//! Python writes `NaN`/`Infinity`; a crashed writer leaves truncated JSON, from which every
//! complete entry is salvaged.

use std::fmt;

use serde::Deserialize;
use serde::de::{Deserializer, SeqAccess, Visitor};

use super::lenient::{Entry, Val, sanitize_json};
use super::source::IngestError;
use super::{Names, Parsed, Record};
use crate::model::Key;

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
        if SUMMARY_KEYS.iter().any(|k| entry.has(k)) {
            self.out.throughput(
                |field| entry.num(field),
                |field| format!("log_history[{i}].{field}"),
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

/// Reads a `trainer_state.json`.
pub fn read(text: &str, path: &str) -> Result<Parsed, IngestError> {
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
            top_level_facts(&doc, &mut h.out);
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

fn top_level_facts(doc: &Doc<'_>, out: &mut Parsed) {
    let get = |v: &Option<Val>| v.as_ref().and_then(Val::num).filter(|&x| x > 0.0);
    if let Some(x) = get(&doc.max_steps) {
        out.fact(Key::TotalSteps, x, "max_steps", 2);
    }
    if let Some(x) = get(&doc.num_train_epochs) {
        out.fact(Key::Epochs, x, "num_train_epochs", 2);
    }
    if let Some(x) = get(&doc.train_batch_size) {
        out.fact(Key::PerDeviceBatch, x, "train_batch_size (per device)", 2);
    }
    if let Some(x) = get(&doc.logging_steps) {
        out.fact(Key::LoggingSteps, x, "logging_steps", 2);
    }
    if let Some(x) = get(&doc.num_input_tokens_seen) {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
