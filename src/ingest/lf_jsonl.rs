//! LLaMA-Factory `trainer_log.jsonl`: one JSON object per line with `current_steps`,
//! `total_steps`, `loss`, `lr` (older: `learning_rate`), `eval_loss`, `epoch`, `elapsed_time`
//! (`str(timedelta)`), optional `total_tokens`/`throughput`. Nulls and rows without metrics are
//! progress-only. The file is appended to, so resumed runs repeat steps.

use super::lenient::{Entry, Val, parse_duration, sanitize_json};
use super::source::IngestError;
use super::{Names, Parsed, Record, Skipped};
use crate::model::Key;

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
    let mut out = Parsed::default();
    let mut names = Names::default();
    let mut skipped = Skipped::default();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let lineno = i + 1;
        let clean = sanitize_json(line);
        let row = match serde_json::from_str::<Entry>(&clean) {
            Ok(row) if row.object => row,
            _ => {
                skipped.line(lineno);
                continue;
            }
        };
        let Some(step) = row.num("current_steps") else {
            skipped.line(lineno);
            continue;
        };
        if let Some(total) = row.num("total_steps").filter(|&t| t > 0.0) {
            if !out.facts.iter().any(|f| f.key == Key::TotalSteps) {
                out.fact(
                    Key::TotalSteps,
                    total,
                    format!("line {lineno} total_steps"),
                    2,
                );
            }
        }
        let mut rec = Record {
            step: Some(step),
            line: u32::try_from(lineno).unwrap_or(u32::MAX),
            ..Record::default()
        };
        rec.epoch = row.num("epoch");
        rec.time = row.get("elapsed_time").and_then(|v| match v {
            Val::Text(s) => parse_duration(s),
            other => other.num(),
        });
        rec.tokens = row.num("total_tokens").filter(|&t| t > 0.0);
        for (k, v) in &row.fields {
            if PROGRESS_KEYS.contains(&&**k) || k == "total_tokens" {
                continue;
            }
            let Some(x) = v.num() else { continue };
            let name = if k == "lr" { "learning_rate" } else { k };
            rec.metrics.push((names.get(name), x));
        }
        if !rec.metrics.is_empty() || rec.tokens.is_some() {
            out.records.push(rec);
        }
    }
    skipped.warn(&mut out, "lines are not log rows");
    Ok(out)
}

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
        assert_eq!(r.time, Some(1.0));
        assert!(r.metrics.contains(&("learning_rate".into(), 0.0006)));
        assert!(p.warnings[0].contains("line 3"));
        assert_eq!(p.facts[0].value.as_f64(), Some(48.0));
    }
}
