//! HF `all_results.json`, `train_results.json` and `eval_results.json`: flat JSON written at the
//! end of a run. They give the runtime and throughput (for the effective batch and scaling
//! checks) and final eval metrics that may be nowhere else.

use crate::model::At;
use crate::model::Row;
use serde_json::Value;

use super::{Growth, TextFormat};
use crate::ingest::lenient::{number, sanitize_json};
use crate::ingest::source::IngestError;
use crate::ingest::{Parsed, Record, Stood};
use crate::model::Key;

/// Yes when the head is a flat JSON object with a run-summary key.
pub fn sniff(head: &str) -> Option<bool> {
    let t = head.trim_start();
    if !t.starts_with('{') || t.contains("\"log_history\"") || t.contains("\"current_steps\"") {
        return Some(false);
    }
    if super::own_report(t) {
        return Some(false);
    }
    Some(
        [
            "\"train_runtime\"",
            "\"eval_loss\"",
            "\"eval_runtime\"",
            "\"train_loss\"",
        ]
        .iter()
        .any(|k| t.contains(k)),
    )
}

/// Reads one results file: throughput facts, and the final eval metrics as one record.
pub fn read(text: &str, path: &str) -> Result<Parsed, IngestError> {
    let value: Value =
        serde_json::from_str(&sanitize_json(text)).map_err(|e| IngestError::Syntax {
            path: path.into(),
            line: e.line(),
            message: format!("invalid JSON: {e}"),
        })?;
    let Value::Object(map) = value else {
        return Err(IngestError::Syntax {
            path: path.into(),
            line: 1,
            message: "expected a JSON object".into(),
        });
    };
    let mut out = Parsed::default();
    out.throughput(|field| map.get(field).and_then(number), At::from);
    if let Some(x) = map
        .get("num_input_tokens_seen")
        .and_then(number)
        .filter(|&x| x > 0.0)
    {
        out.fact(Key::TokensSeen, x, "num_input_tokens_seen", 2);
    }
    // The example scripts' (run_clm.py, run_summarization.py …) count of training examples.
    if let Some(x) = map
        .get("train_samples")
        .and_then(number)
        .filter(|&x| x >= 1.0 && x.fract() == 0.0)
    {
        out.fact(Key::NumExamples, x, "train_samples", 2);
    }
    let epoch = map.get("epoch").and_then(number);
    // Written when training ended: where it stood then.
    out.stood = epoch
        .filter(|&e| e > 0.0 && e.is_finite())
        .map(|epoch| Stood { step: None, epoch });
    let mut rec = Record::new(Row {
        epoch,
        line: 1,
        ..Row::default()
    });
    for (k, v) in &map {
        // Metrics, not the evaluation's runtime, throughput, memory (`eval_mem_*_delta`) or
        // size (`eval_samples`, the example scripts' count of evaluation examples).
        if k.starts_with("eval_")
            && !k.ends_with("_runtime")
            && !k.ends_with("_per_second")
            && k != "eval_samples"
            && !k.contains("_mem_")
        {
            if let Some(x) = number(v) {
                rec.metrics.push((k.as_str().into(), x));
            }
        }
    }
    if !rec.metrics.is_empty() {
        rec.row.step_origin = Some("end of training (results file)");
        out.records.push(rec);
    }
    Ok(out)
}

/// HF `all_results.json` / `train_results.json` / `eval_results.json`.
pub static FORMAT: TextFormat = TextFormat {
    name: "hf_results",
    priority: 11,
    sniff,
    read,
    growth: Growth::Rewritten,
    trainer: None,
    console: false,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_losscmp_report_is_not_a_results_file() {
        let report = r#"{
  "axis": "samples",
  "baseline": "a",
  "comparisons": [],
  "data_axis": "samples",
  "runs": [{"metrics": {"eval_loss": {"final": 0.5}}, "config": {"train_runtime": {"value": 10}}}]"#;
        assert_eq!(sniff(report), Some(false));
        assert_eq!(sniff(r#"{"epoch": 3.0, "eval_loss": 0.55}"#), Some(true));
    }

    #[test]
    fn reads_throughput_and_final_eval() {
        let p = read(
            r#"{"epoch": 3.0, "eval_loss": 0.55, "eval_runtime": 0.1, "train_runtime": 16.2, "train_samples_per_second": 378.7}"#,
            "all_results.json",
        )
        .expect("reads");
        assert_eq!(p.facts.len(), 2);
        assert_eq!(
            p.records.to_vec()[0].metrics,
            vec![("eval_loss".into(), 0.55)]
        );
        assert_eq!(p.records.to_vec()[0].row.step, None);
        assert_eq!(
            p.stood,
            Some(Stood {
                step: None,
                epoch: 3.0
            })
        );
    }
}
