//! W&B's run file `run-<id>.wandb`: the transaction log an offline (or online) run writes, and
//! the only place an offline run keeps its history. A 7-byte header (`:W&B`, magic 0xBEE1,
//! version 0), then LevelDB log framing — 32 KiB blocks of records, each a CRC-32 (of the type
//! byte and the data), a length, a type (full, first, middle, last) and the data — around
//! protobuf `Record`s. losscmp reads the `history` records (one per `wandb.log` call: items with a
//! key and a JSON value) and the `config` records (the run's config, where HF's W&B callback puts
//! every `TrainingArguments` field).
//!
//! The step is `train/global_step` when HF logged it, else W&B's own `_step`; `_runtime` is the
//! time axis; names are renamed as for TensorBoard (`train/loss` → `loss`, `eval/loss` →
//! `eval_loss`, `train/epoch` → the epoch). A record failing its CRC is skipped and counted; a file
//! cut inside a record keeps everything before it.

use crate::model::At;
use crate::model::Row;
use std::io::Read;

use prost::Message;

use super::run_args;
use super::{Growth, RecordFormat, TextFormat};
use crate::ingest::lenient::{parse_number, tracker_name};
use crate::ingest::source::IngestError;
use crate::ingest::{Names, Parsed, Record};

/// The file header.
const HEADER: [u8; 7] = [b':', b'W', b'&', b'B', 0xe1, 0xbe, 0];
const BLOCK: usize = 32 * 1024;

/// `wandb_internal.Record`, the members losscmp reads.
#[derive(Clone, PartialEq, Message)]
struct WbRecord {
    #[prost(int64, tag = "1")]
    num: i64,
    #[prost(message, optional, tag = "2")]
    history: Option<Items>,
    #[prost(message, optional, tag = "5")]
    config: Option<ConfigItems>,
    #[prost(message, optional, tag = "17")]
    run: Option<RunRec>,
}

/// `RunRecord`: the run's start, with its initial config (`config = 4`).
#[derive(Clone, PartialEq, Message)]
struct RunRec {
    #[prost(message, optional, tag = "4")]
    config: Option<ConfigItems>,
}

/// `HistoryRecord` (`item = 1`).
#[derive(Clone, PartialEq, Message)]
struct Items {
    #[prost(message, repeated, tag = "1")]
    item: Vec<Item>,
}

/// `ConfigRecord` (`update = 1`).
#[derive(Clone, PartialEq, Message)]
struct ConfigItems {
    #[prost(message, repeated, tag = "1")]
    update: Vec<Item>,
}

/// `HistoryItem` / `ConfigItem`: a key (or a nested key path) and the value as JSON text.
#[derive(Clone, PartialEq, Message)]
struct Item {
    #[prost(string, tag = "1")]
    key: String,
    #[prost(string, repeated, tag = "2")]
    nested_key: Vec<String>,
    #[prost(string, tag = "16")]
    value_json: String,
}

impl Item {
    fn name(&self) -> String {
        if self.key.is_empty() {
            self.nested_key.join(".")
        } else {
            self.key.clone()
        }
    }
}

/// Yes when the head is a `wandb-summary.json`: a JSON object with W&B's `_step` and `_runtime`.
pub fn sniff_summary(head: &str) -> Option<bool> {
    let t = head.trim_start();
    Some(t.starts_with('{') && t.contains("\"_step\"") && t.contains("\"_runtime\""))
}

/// Reads a `wandb-summary.json`: the last value of every metric, as one point at the last step.
pub fn read_summary(text: &str, path: &str) -> Result<Parsed, IngestError> {
    let clean = crate::ingest::lenient::sanitize_json(text);
    let entry: crate::ingest::lenient::Entry =
        serde_json::from_str(&clean).map_err(|e| IngestError::Syntax {
            path: path.into(),
            line: e.line(),
            message: format!("invalid JSON: {e}"),
        })?;
    let mut out = Parsed::default();
    let mut names = Names::default();
    // `_step` counts W&B's log calls, not optimizer steps: the step is the trainer's own key.
    let step = ["train/global_step", "global_step", "iter", "step"]
        .iter()
        .find_map(|k| entry.num(k));
    // nanoGPT logs `{iter, train/loss, val/loss, lr, mfu}` at each evaluation: its train/loss is
    // an estimate on the training split, not the training curve.
    let nanogpt = ["iter", "train/loss", "val/loss", "mfu"]
        .iter()
        .all(|k| entry.fields.iter().any(|(f, _)| f == k));
    let mut rec = Record::new(Row {
        step,
        time: entry.num("_runtime"),
        line: 1,
        step_origin: step.is_none().then_some("end of training (W&B summary)"),
        ..Row::default()
    });
    for (k, v) in &entry.fields {
        let Some(x) = v.num() else { continue };
        if k.starts_with('_')
            || ["train/global_step", "global_step", "iter", "step"].contains(&&**k)
        {
            continue;
        }
        if nanogpt {
            let name = match &**k {
                "train/loss" => "eval_train_loss",
                "val/loss" => "eval_loss",
                "lr" => "learning_rate",
                other => other,
            };
            rec.metrics.push((names.get(name), x));
            continue;
        }
        match tracker_name(k) {
            None => rec.row.epoch = Some(x),
            Some(name) => rec.metrics.push((names.get(&name), x)),
        }
    }
    if !rec.metrics.is_empty() {
        out.records.push(rec);
    }
    Ok(out)
}

/// Yes when the file starts with the W&B header.
pub fn sniff(head: &[u8]) -> bool {
    head.starts_with(&HEADER)
}

/// Reads a `.wandb` file.
pub fn read(mut reader: impl Read, path: &str) -> Result<Parsed, IngestError> {
    let mut bytes = Vec::new();
    reader
        .read_to_end(&mut bytes)
        .map_err(|e| IngestError::Io {
            path: path.into(),
            error: e,
        })?;
    let mut out = Parsed::default();
    let mut names = Names::default();
    let mut config = Vec::new();
    let (records, problems) = frames(&bytes);
    out.warnings.extend(problems);
    for (index, data) in records.iter().enumerate() {
        let Ok(rec) = WbRecord::decode(&data[..]) else {
            continue;
        };
        let n = u32::try_from(index + 1).unwrap_or(u32::MAX);
        if let Some(h) = rec.history {
            if let Some(r) = history(&h, n, &mut names) {
                out.records.push(r);
            }
        }
        for c in [rec.run.and_then(|r| r.config), rec.config]
            .into_iter()
            .flatten()
        {
            for item in &c.update {
                let value = serde_json::from_str::<String>(&item.value_json)
                    .unwrap_or_else(|_| item.value_json.clone());
                config.push((item.name(), value));
            }
        }
    }
    let facts = run_args::options(config, |option| At::field(format!("config {option}")));
    out.facts.extend(facts.facts);
    Ok(out)
}

/// One history record as a point: step, time, epoch, metrics.
fn history(h: &Items, n: u32, names: &mut Names) -> Option<Record> {
    let value = |k: &str| {
        h.item
            .iter()
            .find(|i| i.name() == k)
            .and_then(|i| parse_number(&i.value_json))
    };
    let step = value("train/global_step").or_else(|| value("_step"))?;
    let mut rec = Record::new(Row {
        step: Some(step),
        time: value("_runtime"),
        line: n,
        ..Row::default()
    });
    for item in &h.item {
        let name = item.name();
        if name.starts_with('_') || name == "train/global_step" {
            continue;
        }
        let Some(x) = parse_number(&item.value_json) else {
            continue;
        };
        match tracker_name(&name) {
            None => rec.row.epoch = Some(x),
            Some(metric) => rec.metrics.push((names.get(&metric), x)),
        }
    }
    (!rec.metrics.is_empty() || rec.row.epoch.is_some()).then_some(rec)
}

/// The logical records of the LevelDB-framed body, and what was wrong with the rest.
fn frames(bytes: &[u8]) -> (Vec<Vec<u8>>, Vec<String>) {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    let (mut bad, mut first_bad) = (0usize, None);
    let mut partial: Option<Vec<u8>> = None;
    let mut off = HEADER.len();
    while off < bytes.len() {
        let left = BLOCK - off % BLOCK;
        if left < 7 {
            off += left;
            continue;
        }
        let Some(head) = bytes.get(off..off + 7) else {
            problems.push(format!(
                "the file ends inside a record header at byte {off} (a run that was stopped); read the {} records before it",
                out.len()
            ));
            break;
        };
        let crc = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        let len = usize::from(u16::from_le_bytes([head[4], head[5]]));
        let kind = head[6];
        if kind == 0 && len == 0 {
            // Zero padding: the rest of the block is empty.
            off += left;
            continue;
        }
        let Some(data) = bytes.get(off + 7..off + 7 + len) else {
            problems.push(format!(
                "the file ends inside record at byte {off} (a run that was stopped); read the {} records before it",
                out.len()
            ));
            break;
        };
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&[kind]);
        hasher.update(data);
        let at = off;
        off += 7 + len;
        if hasher.finalize() != crc {
            bad += 1;
            first_bad.get_or_insert(at);
            partial = None;
            continue;
        }
        match kind {
            1 => out.push(data.to_vec()),
            2 => partial = Some(data.to_vec()),
            3 => {
                if let Some(p) = partial.as_mut() {
                    p.extend_from_slice(data);
                }
            }
            4 => {
                if let Some(mut p) = partial.take() {
                    p.extend_from_slice(data);
                    out.push(p);
                }
            }
            _ => {
                bad += 1;
                first_bad.get_or_insert(at);
            }
        }
    }
    if let Some(at) = first_bad {
        problems.push(format!(
            "{bad} records failed their CRC or have an unknown type (first at byte {at}); skipped"
        ));
    }
    (out, problems)
}

/// W&B's `run-<id>.wandb` transaction log.
pub static RUN: RecordFormat = RecordFormat {
    name: "wandb",
    priority: 9,
    sniff,
    read,
};

/// W&B's `wandb-summary.json`: final values, like results files.
pub static SUMMARY: TextFormat = TextFormat {
    name: "wandb_summary",
    priority: 12,
    sniff: sniff_summary,
    read: read_summary,
    growth: Growth::Rewritten,
    trainer: None,
    console: false,
};

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: u8, data: &[u8]) -> Vec<u8> {
        let mut h = crc32fast::Hasher::new();
        h.update(&[kind]);
        h.update(data);
        let mut out = h.finalize().to_le_bytes().to_vec();
        out.extend((data.len() as u16).to_le_bytes());
        out.push(kind);
        out.extend(data);
        out
    }

    fn history_record(step: &str, loss: &str) -> Vec<u8> {
        let item = |k: &str, v: &str| Item {
            key: String::new(),
            nested_key: vec![k.into()],
            value_json: v.into(),
        };
        WbRecord {
            num: 0,
            history: Some(Items {
                item: vec![
                    item("train/loss", loss),
                    item("_step", step),
                    item("_runtime", "1.5"),
                ],
            }),
            config: None,
            run: None,
        }
        .encode_to_vec()
    }

    #[test]
    fn reads_a_summary_as_the_last_point() {
        let text = r#"{"train/loss": 0.5, "eval/loss": 0.6, "train/global_step": 384, "_step": 384, "_runtime": 18.2, "_wandb": {"runtime": 18}, "train/epoch": 3}"#;
        assert_eq!(sniff_summary(text), Some(true));
        let p = read_summary(text, "wandb-summary.json").expect("reads");
        let r = &p.records.to_vec()[0];
        assert_eq!(
            (r.row.step, r.row.epoch, r.row.time),
            (Some(384.0), Some(3.0), Some(18.2))
        );
        assert_eq!(
            r.metrics,
            vec![("loss".into(), 0.5), ("eval_loss".into(), 0.6)]
        );
    }

    #[test]
    fn reads_history_across_fragments_and_skips_corrupt_records() {
        let mut bytes = HEADER.to_vec();
        bytes.extend(frame(1, &history_record("1", "2.5")));
        let second = history_record("2", "NaN");
        bytes.extend(frame(2, &second[..10]));
        bytes.extend(frame(4, &second[10..]));
        let mut bad = frame(1, &history_record("3", "1.0"));
        bad[9] ^= 1;
        bytes.extend(bad);
        assert!(sniff(&bytes));
        let p = read(&bytes[..], "run-x.wandb").expect("reads");
        assert_eq!(p.records.len(), 2);
        assert_eq!(p.records.to_vec()[0].metrics[0], ("loss".into(), 2.5));
        assert_eq!(p.records.to_vec()[0].row.time, Some(1.5));
        assert!(p.records.to_vec()[1].metrics[0].1.is_nan());
        assert!(
            p.warnings[0].contains("1 records failed their CRC"),
            "{:?}",
            p.warnings
        );
    }
}
