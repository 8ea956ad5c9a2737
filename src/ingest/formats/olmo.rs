//! OLMo's console log (the `olmo` trainer's tab-separated logger, `scripts/train.py`): a
//! `[step=N/M,epoch=E]` line opens each logged step, followed by indented `key=value` lines —
//! `train/CrossEntropyLoss=2.998`, `train/Perplexity=20.04`, `optim/total_grad_norm=0.237`,
//! `optim/learning_rate_group0=0.0003`, `throughput/total_tokens=2,097,152` (thousands
//! separators), `eval/<set>/CrossEntropyLoss=…`. The `TrainConfig(…)` line printed at start
//! states the batch: `global_train_batch_size` (the effective batch),
//! `device_train_microbatch_size` (one forward pass per device), `device_train_grad_accum`,
//! `learning_rate`, `max_duration` (steps, when a plain number).
//!
//! `device_train_batch_size` is per device per optimizer step (micro batch × accumulation), not
//! losscmp's per-device batch; the world size is left to be derived (global ÷ (micro × GA)).
//! `train/Perplexity` is exp of the loss, kept as its own series.

use super::{Growth, TextFormat};
use crate::ingest::lenient::parse_number;
use crate::ingest::source::IngestError;
use crate::ingest::{Names, Parsed, Record};
use crate::model::At;
use crate::model::Key;
use crate::model::Row;

/// `TrainConfig` fields and the key each sets.
const CONFIG: [(&str, Key); 4] = [
    ("global_train_batch_size=", Key::EffectiveBatch),
    ("device_train_microbatch_size=", Key::PerDeviceBatch),
    ("device_train_grad_accum=", Key::GradAccum),
    ("learning_rate=", Key::LearningRate),
];

/// Yes when the head shows OLMo's step line with its metric lines, or its `TrainConfig`.
pub fn sniff(head: &str) -> Option<bool> {
    let steps = head.contains("[step=") && head.contains("train/CrossEntropyLoss=");
    let config = head.contains("TrainConfig(") && head.contains("global_train_batch_size=");
    Some(steps || config)
}

/// Reads an OLMo console log.
pub fn read(text: &str, _path: &str) -> Result<Parsed, IngestError> {
    let mut out = Parsed::default();
    let mut names = Names::default();
    let mut current: Option<Record> = None;
    let mut total_seen = false;
    let mut config_seen = false;
    for (i, line) in text.lines().enumerate() {
        let lineno = u32::try_from(i + 1).unwrap_or(u32::MAX);
        if let Some(at) = line.find("[step=") {
            if let Some(rec) = current.take() {
                if !rec.metrics.is_empty() {
                    out.records.push(rec);
                }
            }
            let rest = &line[at + "[step=".len()..];
            let field_end = rest.find([',', ']']).unwrap_or(rest.len());
            let (step, total) = match rest[..field_end].split_once('/') {
                Some((s, t)) => (parse_number(s), parse_number(t)),
                None => (parse_number(&rest[..field_end]), None),
            };
            let Some(step) = step else { continue };
            if let (Some(t), false) = (total, total_seen) {
                out.fact(
                    Key::TotalSteps,
                    t,
                    At::line(lineno, format!("step {step}/{t}")),
                    0,
                );
                total_seen = true;
            }
            current = Some(Record::new(Row {
                step: Some(step),
                line: lineno,
                ..Row::default()
            }));
            continue;
        }
        if !config_seen && line.contains("TrainConfig(") {
            config_seen = true;
            for (field, key) in CONFIG {
                // The first occurrence: `learning_rate=` of the optimizer comes before any
                // scheduler's.
                if let Some(x) = value_after(line, field) {
                    let name = field.trim_end_matches('=');
                    out.fact(key, x, At::line(lineno, name.to_string()), 1);
                }
            }
            if let Some(x) = value_after(line, "max_duration=") {
                out.fact(Key::TotalSteps, x, At::line(lineno, "max_duration"), 1);
            }
            out.text_fact(Key::Trainer, "olmo", At::line(lineno, "TrainConfig"), 1);
            continue;
        }
        let Some(rec) = current.as_mut() else {
            continue;
        };
        // Metric lines are indented; anything else ends the step's block.
        if !line.starts_with([' ', '\t']) {
            if !rec.metrics.is_empty() {
                out.records.push(current.take().unwrap_or_default());
            } else {
                current = None;
            }
            continue;
        }
        let Some((key, value)) = line.trim().split_once('=') else {
            continue;
        };
        let Some(x) = parse_number(value) else {
            continue;
        };
        match key {
            "throughput/total_tokens" => rec.row.tokens = Some(x),
            _ => {
                if let Some(name) = metric_name(key) {
                    rec.metrics.push((names.get(&name), x));
                }
            }
        }
    }
    if let Some(rec) = current {
        if !rec.metrics.is_empty() {
            out.records.push(rec);
        }
    }
    Ok(out)
}

/// The number right after `field` in a `TrainConfig(…)` repr, when it is a plain number
/// (`max_duration='2e12T'`, a token budget, is not a step count).
fn value_after(line: &str, field: &str) -> Option<f64> {
    let at = line.find(field)? + field.len();
    let rest = &line[at..];
    let end = rest.find([',', ')']).unwrap_or(rest.len());
    let v = rest[..end].trim().trim_matches('\'');
    parse_number(v).filter(|x| x.is_finite() && *x > 0.0)
}

/// OLMo's metric names as HF's: the training cross-entropy is the loss, an eval set's is its
/// eval loss; throughput and memory are not curves to compare.
fn metric_name(key: &str) -> Option<String> {
    Some(match key {
        "train/CrossEntropyLoss" => "loss".into(),
        "train/Perplexity" => "perplexity".into(),
        "optim/total_grad_norm" => "grad_norm".into(),
        "optim/learning_rate_group0" => "learning_rate".into(),
        k if k.starts_with("throughput/") || k.starts_with("System/") => return None,
        k => match k.strip_prefix("eval/") {
            Some(rest) => match rest.rsplit_once('/') {
                Some((set, "CrossEntropyLoss")) => format!("eval_{}_loss", set.replace('/', "_")),
                _ => format!("eval_{}", rest.replace('/', "_")),
            },
            None => k.replace('/', "_"),
        },
    })
}

/// OLMo's console log.
pub static FORMAT: TextFormat = TextFormat {
    name: "olmo",
    priority: 14,
    sniff,
    read,
    growth: Growth::Lines,
    trainer: Some("olmo"),
    console: true,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_step_blocks_and_the_train_config() {
        let log = [
            "2025-12-12 11:03:40\thost:0\ttrain:98\tINFO\tTrainConfig(run_name='x', optimizer=OptimizerConfig(name='adamw', learning_rate=0.0003, weight_decay=0.1), max_duration=15000, global_train_batch_size=512, device_train_batch_size=64, device_train_microbatch_size=8, device_train_grad_accum=8)",
            "2025-12-12 11:05:02\thost:0\tolmo.train:979\tINFO\t[step=1/15000,epoch=0]",
            "    optim/total_grad_norm=0.2370",
            "    train/CrossEntropyLoss=2.998",
            "    train/Perplexity=20.04",
            "    throughput/total_tokens=2,097,152",
            "2025-12-12 11:05:05\thost:0\tolmo.train:979\tINFO\t[step=2/15000,epoch=0]",
            "    train/CrossEntropyLoss=2.919",
            "    throughput/total_tokens=4,194,304",
            "Traceback (most recent call last):",
        ]
        .join("\n");
        let log = log.as_str();
        let p = read(log, "training.log").expect("reads");
        let recs = p.records.to_vec();
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[0].row.step, Some(1.0));
        assert_eq!(recs[0].row.tokens, Some(2_097_152.0));
        let loss: Vec<f64> = recs
            .iter()
            .flat_map(|r| {
                r.metrics
                    .iter()
                    .filter(|(n, _)| &**n == "loss")
                    .map(|(_, v)| *v)
            })
            .collect();
        assert_eq!(loss, vec![2.998, 2.919]);
        let fact = |k: Key| {
            p.facts
                .iter()
                .find(|f| f.key == k && f.rank == 1)
                .and_then(|f| f.value.as_f64())
        };
        assert_eq!(fact(Key::EffectiveBatch), Some(512.0));
        assert_eq!(fact(Key::PerDeviceBatch), Some(8.0));
        assert_eq!(fact(Key::GradAccum), Some(8.0));
        assert_eq!(fact(Key::LearningRate), Some(0.0003));
        assert_eq!(fact(Key::TotalSteps), Some(15000.0));
    }
}
