//! HF Trainer `trainer_state.json`: `log_history` entries (train, eval, predict and the final
//! summary) and the top-level fields (`global_step`, `max_steps`, `num_train_epochs`,
//! `train_batch_size` = per-device batch, `logging_steps`, `num_input_tokens_seen`).
//! Python writes `NaN`/`Infinity`; a crashed writer leaves truncated JSON, from which every
//! complete entry is salvaged.

use serde_json::{Map, Value};

use super::lenient::{number, sanitize_json};
use super::source::IngestError;
use super::{Parsed, Record};
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

/// Reads a `trainer_state.json`.
pub fn read(text: &str, path: &str) -> Result<Parsed, IngestError> {
    let text = sanitize_json(text);
    let mut out = Parsed::default();
    let (top, entries) = match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(mut top)) => {
            let entries = match top.remove("log_history") {
                Some(Value::Array(a)) => a,
                _ => Vec::new(),
            };
            (Some(top), entries)
        }
        Ok(_) => {
            return Err(IngestError::Syntax {
                path: path.into(),
                line: 1,
                message: "expected a JSON object with log_history".into(),
            });
        }
        Err(e) => {
            let entries = salvage_log_history(&text);
            if entries.is_empty() {
                return Err(IngestError::Syntax {
                    path: path.into(),
                    line: e.line(),
                    message: format!(
                        "invalid JSON ({e}) and no complete log_history entry before it"
                    ),
                });
            }
            out.warnings.push(format!(
                "truncated or invalid JSON at line {} ({e}); read the {} complete log_history entries before it",
                e.line(),
                entries.len()
            ));
            (None, entries)
        }
    };
    if let Some(top) = &top {
        top_level_facts(top, &mut out);
    }
    let mut no_step = 0;
    for (i, entry) in entries.iter().enumerate() {
        let Value::Object(entry) = entry else {
            continue;
        };
        let index = format!("log_history[{i}]");
        if SUMMARY_KEYS.iter().any(|k| entry.contains_key(*k)) {
            if let Some(x) = entry.get("train_runtime").and_then(number) {
                out.fact(Key::TrainRuntime, x, format!("{index}.train_runtime"), 2);
            }
            if let Some(x) = entry.get("train_samples_per_second").and_then(number) {
                out.fact(
                    Key::TrainSamplesPerSecond,
                    x,
                    format!("{index}.train_samples_per_second"),
                    2,
                );
            }
            continue;
        }
        let Some(step) = entry.get("step").and_then(number) else {
            no_step += 1;
            continue;
        };
        out.records.push(entry_record(entry, step, i));
    }
    if no_step > 0 {
        out.warnings.push(format!(
            "{no_step} log_history entries without a step (predict results) were skipped"
        ));
    }
    Ok(out)
}

fn entry_record(entry: &Map<String, Value>, step: f64, index: usize) -> Record {
    let mut rec = Record {
        step: Some(step),
        line: index as u32 + 1,
        ..Record::default()
    };
    for (k, v) in entry {
        let Some(x) = number(v) else { continue };
        match k.as_str() {
            "step" => {}
            "epoch" => rec.epoch = Some(x),
            "num_input_tokens_seen" => rec.tokens = (x > 0.0).then_some(x),
            _ => rec.metrics.push((k.clone(), x)),
        }
    }
    rec
}

fn top_level_facts(top: &Map<String, Value>, out: &mut Parsed) {
    let get = |k: &str| top.get(k).and_then(number);
    if let Some(x) = get("max_steps").filter(|&x| x > 0.0) {
        out.fact(Key::TotalSteps, x, "max_steps", 2);
    }
    if let Some(x) = get("num_train_epochs").filter(|&x| x > 0.0) {
        out.fact(Key::Epochs, x, "num_train_epochs", 2);
    }
    if let Some(x) = get("train_batch_size").filter(|&x| x > 0.0) {
        out.fact(Key::PerDeviceBatch, x, "train_batch_size (per device)", 2);
    }
    if let Some(x) = get("logging_steps").filter(|&x| x > 0.0) {
        out.fact(Key::LoggingSteps, x, "logging_steps", 2);
    }
    if let Some(x) = get("num_input_tokens_seen").filter(|&x| x > 0.0) {
        out.fact(Key::TokensSeen, x, "num_input_tokens_seen", 2);
    }
}

/// Recovers the complete objects of `"log_history": [ ... ` from a document cut short.
fn salvage_log_history(text: &str) -> Vec<Value> {
    let Some(start) = text.find("\"log_history\"") else {
        return Vec::new();
    };
    let Some(open) = text[start..].find('[') else {
        return Vec::new();
    };
    let bytes = text.as_bytes();
    let mut out = Vec::new();
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
        match serde_json::from_str::<Value>(&text[i..=end]) {
            Ok(v) => out.push(v),
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
        assert_eq!(p.records[0].step, Some(2.0));
        let gn = p.records[0]
            .metrics
            .iter()
            .find(|(k, _)| k == "grad_norm")
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
