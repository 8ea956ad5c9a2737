//! LLaMA-Factory `trainer_log.jsonl`: one JSON object per line with `current_steps`,
//! `total_steps`, `loss`, `lr` (older: `learning_rate`), `eval_loss`, `epoch`, `elapsed_time`
//! (`str(timedelta)`), optional `total_tokens`/`throughput`. Nulls and rows without metrics are
//! progress-only. The file is appended to, so resumed runs repeat steps.

use super::{Growth, TextFormat};
use crate::ingest::flat_json;
use crate::ingest::lenient::{Entry, Val, parse_duration, sanitize_json};
use crate::ingest::source::IngestError;
use crate::ingest::{Names, Parsed, Skipped};
use crate::model::At;
use crate::model::Key;
use crate::model::Row;

/// Keys that describe progress, not a metric.
const PROGRESS_KEYS: [&str; 6] = [
    "current_steps",
    "total_steps",
    "epoch",
    "percentage",
    "elapsed_time",
    "remaining_time",
];

/// Yes when the first non-empty line is a JSON object with `current_steps`.
pub fn sniff(head: &str) -> Option<bool> {
    let first = head.lines().map(str::trim).find(|l| !l.is_empty())?;
    Some(first.starts_with('{') && first.contains("\"current_steps\""))
}

/// Reads a `trainer_log.jsonl`; malformed lines are counted and the first one reported.
pub fn read(text: &str, _path: &str) -> Result<Parsed, IngestError> {
    Ok(read_with(text, true))
}

/// [`read`], with or without the fast path for flat rows (the tests compare the two).
fn read_with(text: &str, fast: bool) -> Parsed {
    let mut out = Parsed::default();
    let mut rows = Rows::default();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let lineno = i + 1;
        // Flat rows are read straight from the bytes; anything else through serde.
        let flat = fast.then(|| flat_json::object(line, 0)).flatten();
        match flat.filter(|(_, end)| *end == line.len()) {
            Some((row, _)) => rows.take(&row, lineno, &mut out),
            None => {
                let clean = sanitize_json(line);
                match serde_json::from_str::<Entry>(&clean) {
                    Ok(row) => rows.take(&row, lineno, &mut out),
                    Err(_) => rows.skipped.line(lineno),
                }
            }
        }
    }
    rows.skipped.warn(&mut out, "lines are not log rows");
    out
}

/// What reading the rows keeps from one to the next.
#[derive(Default)]
struct Rows {
    names: Names,
    skipped: Skipped,
    /// Whether a row's `total_steps` has been taken.
    total_seen: bool,
    /// The metrics of the row being read, by name number ([`Names::number`]).
    metrics: Vec<(u32, f64)>,
}

impl Rows {
    /// Turns row `lineno` into a record (or counts it as skipped).
    fn take(&mut self, row: &Entry<'_>, lineno: usize, out: &mut Parsed) {
        if !row.object {
            self.skipped.line(lineno);
            return;
        }
        let Some(step) = row.num("current_steps") else {
            self.skipped.line(lineno);
            return;
        };
        if !self.total_seen {
            if let Some(total) = row.num("total_steps").filter(|&t| t > 0.0) {
                self.total_seen = true;
                out.fact(Key::TotalSteps, total, At::line(lineno, "total_steps"), 2);
            }
        }
        let time = row.get("elapsed_time").and_then(|v| match v {
            Val::Text(s) => parse_duration(s),
            other => other.num(),
        });
        let record = Row {
            step: Some(step),
            line: u32::try_from(lineno).unwrap_or(u32::MAX),
            epoch: row.num("epoch"),
            time,
            tokens: row.num("total_tokens").filter(|&t| t > 0.0),
            ..Row::default()
        };
        self.metrics.clear();
        for (k, v) in &row.fields {
            if PROGRESS_KEYS.contains(&&**k) || k == "total_tokens" {
                continue;
            }
            let Some(x) = v.num() else { continue };
            let name = if k == "lr" { "learning_rate" } else { k };
            self.metrics.push((self.names.number(name), x));
        }
        if !self.metrics.is_empty() || record.tokens.is_some() {
            let names = &self.names;
            let metrics = self.metrics.drain(..).map(|(n, x)| (names.name(n), x));
            out.records.push_row(record, metrics);
        }
    }
}

/// LLaMA-Factory `trainer_log.jsonl`.
pub static FORMAT: TextFormat = TextFormat {
    name: "llamafactory_jsonl",
    priority: 2,
    sniff,
    read,
    growth: Growth::Lines,
    trainer: Some("llamafactory"),
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rows_renames_lr_and_skips_junk() {
        let text = concat!(
            r#"{"current_steps": 2, "total_steps": 48, "loss": 7.99, "lr": 0.0006, "epoch": 0.125, "percentage": 4.17, "elapsed_time": "0:00:01", "remaining_time": "0:00:16"}"#,
            "\n",
            r#"{"current_steps": 2, "total_steps": 48, "eval_loss": null, "epoch": 0.125}"#,
            "\n{not json\n",
            r#"{"current_steps": 48, "total_steps": 48, "epoch": 3.0, "percentage": 100.0}"#,
            "\n"
        );
        let p = read(text, "t.jsonl").expect("reads");
        assert_eq!(p.records.len(), 1);
        let r = &p.records.to_vec()[0];
        assert_eq!(r.row.time, Some(1.0));
        assert!(r.metrics.contains(&("learning_rate".into(), 0.0006)));
        assert!(p.warnings[0].contains("line 3"));
        assert_eq!(p.facts[0].value.as_f64(), Some(48.0));
    }

    /// Every jsonl fixture, and rows the fast path leaves to serde, read alike both ways.
    #[test]
    fn the_fast_path_reads_as_serde_does() {
        let mut texts = vec![concat!(
            r#"{"current_steps": 1, "loss": NaN, "lr": 1e-5, "note": "a\"b", "elapsed_time": "0:00:01"}"#,
            "\n",
            r#"{"current_steps": 2, "loss": 0.5, "extra": {"nested": 1}}"#,
            "\n",
            r#"{"current_steps": 3, "loss": 0.4}"#,
        )
        .to_string()];
        for path in [
            "fixtures/lf_1gpu_ga8/trainer_log.jsonl",
            "fixtures/lf_8proc_ga8/trainer_log.jsonl",
            "fixtures/lf_8proc_ga1/trainer_log.jsonl",
            "fixtures/public/16_lf-jsonl-loss-collapses-to-0/trainer_log.jsonl",
            "fixtures/public/01_lf-qwen3-14b-world7-nolosslog/trainer_log.jsonl",
            "fixtures/public/34_lf-jsonl-every-step-twice-concurrent-writers/trainer_log.jsonl.head-excerpt",
        ] {
            let full = concat!(env!("CARGO_MANIFEST_DIR"), "/").to_string() + path;
            texts.push(std::fs::read_to_string(&full).expect(path));
        }
        for text in &texts {
            let (fast, slow) = (read_with(text, true), read_with(text, false));
            assert!(!fast.records.is_empty());
            assert_eq!(format!("{fast:?}"), format!("{slow:?}"));
        }
    }
}
