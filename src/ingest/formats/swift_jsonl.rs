//! ms-swift `logging.jsonl`: one JSON object per line, the step inside the string
//! `"global_step/max_steps": "10/438"` (ms-swift 2.x, 2024: an integer `"global_step": 10`, and
//! each row may be written twice — the merge keeps one per step), `"percentage": "2.28%"`, durations such as
//! `"elapsed_time": "1m 42s"`. Eval rows repeat the step of the train row before them; a
//! summary row (`train_runtime`, …) and a last row holding the run's whole `log_history` and
//! dataset statistics end the file. The summary gives throughput; the last row is not a log.

use super::{Growth, TextFormat};
use crate::ingest::lenient::{Entry, Val, parse_duration, sanitize_json};
use crate::ingest::source::IngestError;
use crate::ingest::{Names, Parsed, Record, Skipped};
use crate::model::At;
use crate::model::Key;
use crate::model::Row;

/// Keys that describe progress, not a metric.
const PROGRESS_KEYS: [&str; 6] = [
    "global_step/max_steps",
    "global_step",
    "percentage",
    "elapsed_time",
    "remaining_time",
    "epoch",
];

/// Yes when the first non-empty line is a JSON object with `global_step/max_steps`, or (ms-swift
/// 2.x, 2024) an integer `global_step` beside ms-swift's own `train_speed(iter/s)`.
pub fn sniff(head: &str) -> Option<bool> {
    let first = head.lines().map(str::trim).find(|l| !l.is_empty())?;
    Some(
        first.starts_with('{')
            && (first.contains("\"global_step/max_steps\"")
                || first.contains("\"global_step\":") && first.contains("\"train_speed(iter/s)\"")),
    )
}

/// Reads a `logging.jsonl`; rows that are not logs are counted and the first reported.
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
        let Ok(row) = serde_json::from_str::<Entry>(&clean) else {
            skipped.line(lineno);
            continue;
        };
        // The closing row (the whole log_history, dataset statistics) is expected: nothing of it
        // is a point, whatever step keys it has (a 2.x run's holds an integer global_step), and
        // nothing is said of it.
        if row.has("log_history") {
            continue;
        }
        if row.num("train_runtime").is_some() {
            out.throughput(|field| row.num(field), |field| At::line(lineno, field));
            continue;
        }
        let progress = match row.get("global_step/max_steps") {
            Some(Val::Text(s)) => s.split_once('/').and_then(|(a, b)| {
                Some((a.trim().parse::<f64>().ok()?, b.trim().parse::<f64>().ok()?))
            }),
            // ms-swift 2.x: the step alone, no planned total.
            _ => row.num("global_step").map(|s| (s, 0.0)),
        };
        let Some((step, total)) = progress else {
            skipped.line(lineno);
            continue;
        };
        if total > 0.0 && !out.facts.iter().any(|f| f.key == Key::TotalSteps) {
            out.fact(
                Key::TotalSteps,
                total,
                At::line(lineno, "global_step/max_steps"),
                2,
            );
        }
        let mut rec = Record::new(Row {
            step: Some(step),
            epoch: row.num("epoch"),
            time: match row.get("elapsed_time") {
                Some(Val::Text(s)) => parse_duration(s),
                Some(v) => v.num(),
                None => None,
            },
            line: lineno as u32,
            ..Row::default()
        });
        // Eval rows repeat the train row's step and its memory and speed: keep their eval_ keys.
        let eval = row.fields.iter().any(|(k, _)| k.starts_with("eval_"));
        for (k, v) in &row.fields {
            if PROGRESS_KEYS.contains(&&**k) || eval && !k.starts_with("eval_") {
                continue;
            }
            if let Some(x) = v.num() {
                rec.metrics.push((names.get(k), x));
            }
        }
        if !rec.metrics.is_empty() {
            out.records.push(rec);
        }
    }
    skipped.warn(&mut out, "line is not a log row", "lines are not log rows");
    Ok(out)
}

/// ms-swift `logging.jsonl`.
pub static FORMAT: TextFormat = TextFormat {
    name: "ms_swift_jsonl",
    priority: 0,
    sniff,
    read,
    growth: Growth::Lines,
    trainer: Some("ms-swift"),
    console: false,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ms_swift_2_rows_with_an_integer_step() {
        let text = "{\"loss\": 5.0, \"learning_rate\": 1e-07, \"train_speed(iter/s)\": 0.1, \"epoch\": 0.0, \"global_step\": 1}\n{\"loss\": 4.9, \"learning_rate\": 5e-07, \"train_speed(iter/s)\": 0.3, \"epoch\": 0.01, \"global_step\": 5}\n";
        assert_eq!(sniff(text), Some(true));
        let p = read(text, "logging.jsonl").expect("reads");
        let steps: Vec<_> = p.records.iter().map(|r| r.step).collect();
        assert_eq!(steps, vec![Some(1.0), Some(5.0)]);
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    }

    /// A 2.x run's closing row has an integer global_step beside its log_history (a public
    /// run's logging.jsonl, sweep 10b): no point of it, no best_metric or memory series.
    #[test]
    fn a_closing_row_with_an_integer_step_is_no_point() {
        let log = r#"{"loss": 0.15, "learning_rate": 8e-08, "epoch": 0.98, "global_step/max_steps": "430/438", "elapsed_time": "48m 2s"}
{"train_dataset": "287.5±12.1, min=150", "best_metric": 0.129, "global_step": 438, "log_history": [{"loss": 0.15, "step": 430}], "memory": 16.5625}
"#;
        let p = read(log, "logging.jsonl").expect("reads");
        assert_eq!(p.records.len(), 1, "{:?}", p.records);
        let names: Vec<_> = p
            .records
            .columns()
            .iter()
            .map(|c| c.name.to_string())
            .collect();
        assert_eq!(names, ["loss", "learning_rate"]);
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    }

    #[test]
    fn reads_string_steps_durations_and_skips_the_closing_row() {
        let log = r#"{"loss": 20.53, "grad_norm": 52.2, "learning_rate": 0.0001, "epoch": 0.0023, "global_step/max_steps": "1/438", "percentage": "0.23%", "elapsed_time": "1m 42s", "memory(GiB)": 15.97}
{"eval_loss": 0.13, "epoch": 1.0, "global_step/max_steps": "438/438", "percentage": "100.00%", "elapsed_time": "49m 19s", "memory(GiB)": 16.5}
{"train_runtime": 2959.8, "train_samples_per_second": 2.363, "epoch": 1.0, "global_step/max_steps": "438/438"}
{"model_parameter_info": "x", "log_history": [{"loss": 1.0, "step": 1}], "memory": 16.5}
"#;
        assert_eq!(sniff(log), Some(true));
        let p = read(log, "logging.jsonl").expect("reads");
        assert_eq!(p.records.len(), 2);
        assert_eq!(p.records.to_vec()[0].row.step, Some(1.0));
        assert_eq!(p.records.to_vec()[0].row.time, Some(102.0));
        assert!(
            p.records.to_vec()[0]
                .metrics
                .contains(&("memory(GiB)".into(), 15.97))
        );
        assert_eq!(
            p.records.to_vec()[1].metrics,
            vec![("eval_loss".into(), 0.13)]
        );
        assert!(p.facts.iter().any(|f| f.key == Key::TrainRuntime));
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    }
}
