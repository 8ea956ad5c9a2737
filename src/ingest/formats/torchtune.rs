//! torchtune's metric logs: the stdout logger and the disk logger (`<output_dir>/logs/log_<ts>.txt`)
//! both write `Step 33 | loss:1.5400923490524292 lr:9.9e-05 tokens_per_second_per_gpu:101.22`
//! (sometimes `Step 1  |` with two spaces). The file holds no batch, accumulation or world size:
//! give them with `--set` to compare by samples.

use super::{Growth, TextFormat, lines_starting};
use crate::ingest::lenient::parse_number;
use crate::ingest::source::IngestError;
use crate::ingest::{Names, Parsed, Record};
use crate::model::Row;

/// Yes when a line of the head is a torchtune metric line.
pub fn sniff(head: &str) -> Option<bool> {
    Some(lines_starting(head, "Step ").any(|l| parse(l).is_some()))
}

/// Reads a torchtune log.
pub fn read(text: &str, _path: &str) -> Result<Parsed, IngestError> {
    let mut out = Parsed::default();
    let mut names = Names::default();
    for (i, line) in text.lines().enumerate() {
        let Some((step, fields)) = parse(line) else {
            continue;
        };
        let mut rec = Record::new(Row {
            step: Some(step),
            line: (i + 1) as u32,
            ..Row::default()
        });
        for (k, x) in fields {
            let name = if k == "lr" { "learning_rate" } else { k };
            rec.metrics.push((names.get(name), x));
        }
        out.records.push(rec);
    }
    Ok(out)
}

/// `Step N | key:value key:value …` → (N, fields).
fn parse(line: &str) -> Option<(f64, Vec<(&str, f64)>)> {
    let rest = line.trim().strip_prefix("Step ")?;
    let (n, fields) = rest.split_once('|')?;
    let step = n.trim().parse::<f64>().ok()?;
    let fields: Vec<(&str, f64)> = fields
        .split_whitespace()
        .filter_map(|kv| {
            let (k, v) = kv.split_once(':')?;
            Some((k, parse_number(v)?))
        })
        .collect();
    fields
        .iter()
        .any(|(k, _)| *k == "loss")
        .then_some((step, fields))
}

/// torchtune metric logs.
pub static FORMAT: TextFormat = TextFormat {
    name: "torchtune",
    priority: 5,
    sniff,
    read,
    growth: Growth::Lines,
    trainer: Some("torchtune"),
    console: true,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_steps_and_renames_lr() {
        let log = "INFO:torchtune.utils._logging:Running FullFinetuneRecipe\nStep 1  | loss:1.9 lr:2e-05 tokens_per_second_per_gpu:99.5\nStep 2 | loss:1.5400923490524292 lr:9.9e-05 peak_memory_active:3.1\n";
        assert_eq!(sniff(log), Some(true));
        let p = read(log, "log_1700000000.txt").expect("reads");
        assert_eq!(p.records.len(), 2);
        assert_eq!(
            p.records.to_vec()[0].metrics[1],
            ("learning_rate".into(), 2e-5)
        );
        assert_eq!(p.records.to_vec()[1].row.line, 3);
    }
}
