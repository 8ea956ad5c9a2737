//! Tables of metrics: CSV or TSV files with a header (or JSON lines, with a mapping), read through
//! a column mapping given with `--columns step=Step,loss=train/loss,...`, or recognised without one: a W&B UI export
//! (`Step`, `<run> - train/loss`, `<run> - train/loss__MIN`, ...) or a plain table with a step
//! column (`step`, `global_step`, `iteration`, `iter`) and a loss column. The catch-all for
//! anything no other reader knows.
//!
//! Mapping keys: `step` (required), `epoch`, `samples`, `tokens`, `time`; any other key is a metric
//! of that name (`loss`, `eval_loss`, `learning_rate`, ...). Without a mapping, columns are
//! renamed as HF's trackers spell them back to its log keys (`train/loss` → `loss`, `eval/loss`
//! → `eval_loss`, `train/epoch` → the epoch).

use super::{Format, Head, Sniff, Source};
use crate::ingest::lenient::{Entry, parse_number, sanitize_json, tracker_name};
use crate::ingest::source::IngestError;
use crate::ingest::{Names, Parsed, Record, Skipped};
use crate::model::Row;

/// What a column becomes.
#[derive(Debug, Clone, PartialEq)]
enum Target {
    Step,
    Epoch,
    Samples,
    Tokens,
    Time,
    Metric(String),
}

impl Target {
    /// Puts `x` where this column goes in `rec`.
    fn set(&self, rec: &mut Record, x: f64, names: &mut Names) {
        match self {
            Target::Step => rec.row.step = Some(x),
            Target::Epoch => rec.row.epoch = Some(x),
            Target::Samples => rec.row.samples = Some(x),
            Target::Tokens => rec.row.tokens = Some(x),
            Target::Time => rec.row.time = Some(x),
            Target::Metric(name) => rec.metrics.push((names.get(name), x)),
        }
    }
}

/// Column names that hold the step in tables written without a mapping.
const STEP_COLUMNS: [&str; 6] = [
    "step",
    "Step",
    "global_step",
    "train/global_step",
    "iteration",
    "iter",
];

/// Yes for a `.csv`/`.tsv` file whose header has the mapped columns (with `--columns`), or looks
/// like a W&B export or a step-and-loss table (without).
pub fn sniff(head: &str, name: &str, columns: &[(String, String)]) -> bool {
    let base = name
        .strip_suffix(".gz")
        .unwrap_or(name)
        .to_ascii_lowercase();
    if base.ends_with(".jsonl") {
        return jsonl_step_key(head, columns).is_some();
    }
    let named = base.ends_with(".csv") || base.ends_with(".tsv");
    let Some(header) = head.lines().next() else {
        return false;
    };
    let Some(cols) = records(head, delimiter(header)).headers().ok().map(fields) else {
        return false;
    };
    // Any other text file is a table by its content alone: a header of metric names and a
    // first row of numbers (a script's own `step<TAB>loss` log named train.log).
    if !named && (!columns.is_empty() || !plain_table(head, header, &cols)) {
        return false;
    }
    if !columns.is_empty() {
        return columns
            .iter()
            .any(|(k, c)| k == "step" && cols.iter().any(|h| h == c));
    }
    mapping(&cols).is_ok()
}

/// Whether a file not named as a table holds one: a header of two or more delimited names (a
/// letter or `_` first, then letters, digits, `_`, `/`, `.`, `-`) and a first row that has as
/// many fields, each a number.
fn plain_table(head: &str, header: &str, cols: &[String]) -> bool {
    let name = |c: &String| {
        let mut chars = c.chars();
        chars
            .next()
            .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
            && chars.all(|ch| ch.is_ascii_alphanumeric() || "_/.-".contains(ch))
    };
    let Some(row) = head.lines().nth(1) else {
        return false;
    };
    let values: Vec<&str> = row
        .trim_end_matches('\r')
        .split(delimiter(header))
        .collect();
    cols.len() >= 2
        && cols.iter().all(name)
        && values.len() == cols.len()
        && values
            .iter()
            .all(|v| crate::ingest::lenient::decimal(v.trim().as_bytes()).is_some())
}

/// With `--columns`, a JSONL file whose first row has the mapped step key: that key.
fn jsonl_step_key<'a>(head: &str, columns: &'a [(String, String)]) -> Option<&'a str> {
    let step = columns
        .iter()
        .find(|(k, _)| k == "step")
        .map(|(_, c)| c.as_str())?;
    let first = head.lines().map(str::trim).find(|l| !l.is_empty())?;
    (first.starts_with('{') && first.contains(&format!("\"{step}\""))).then_some(step)
}

/// Reads a table; values that are empty or not numbers are skipped, rows without a step counted.
pub fn read(text: &str, path: &str, columns: &[(String, String)]) -> Result<Parsed, IngestError> {
    if text.trim_start().starts_with('{') && !columns.is_empty() {
        return Ok(read_jsonl(text, columns));
    }
    let Some(header) = text.lines().next() else {
        return Ok(Parsed::default());
    };
    let mut reader = records(text, delimiter(header));
    let cols = match reader.headers() {
        Ok(h) => fields(h),
        Err(e) => {
            return Err(IngestError::Syntax {
                path: path.into(),
                line: 1,
                message: format!("invalid CSV header: {e}"),
            });
        }
    };
    let mut out = Parsed::default();
    let targets: Vec<Option<Target>> = if columns.is_empty() {
        let (targets, note) = mapping(&cols).map_err(|message| IngestError::Syntax {
            path: path.into(),
            line: 1,
            message,
        })?;
        out.warnings.extend(note);
        targets
    } else {
        let mut targets = vec![None; cols.len()];
        for (key, column) in columns {
            match cols.iter().position(|h| h == column) {
                Some(i) => targets[i] = Some(target_of(key)),
                None => out.warnings.push(format!(
                    "--columns {key}={column}: no such column (the header has {})",
                    cols.join(", ")
                )),
            }
        }
        targets
    };
    let mut names = Names::default();
    let mut skipped = Skipped::default();
    let mut row = csv::StringRecord::new();
    loop {
        // The line the next row starts on (1-based; the csv crate counts the header's).
        let before = reader.position().line() as usize + 1;
        match reader.read_record(&mut row) {
            Ok(true) => {}
            Ok(false) => break,
            Err(_) => {
                // An unreadable row (invalid UTF-8, a quote never closed): skipped and counted.
                skipped.line(before);
                continue;
            }
        }
        let lineno = row.position().map_or(before, |p| p.line() as usize + 1);
        if row.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        let mut rec = Record::new(Row {
            line: u32::try_from(lineno).unwrap_or(u32::MAX),
            ..Row::default()
        });
        for (value, target) in row.iter().zip(&targets) {
            let (Some(target), Some(x)) = (target, parse_number(value)) else {
                continue;
            };
            target.set(&mut rec, x, &mut names);
        }
        if rec.row.step.is_none() {
            skipped.line(lineno);
            continue;
        }
        if !rec.metrics.is_empty() {
            out.records.push(rec);
        }
    }
    skipped.warn(&mut out, "row has no step", "rows have no step");
    Ok(out)
}

/// JSON lines through the `--columns` mapping (keys of each object instead of header columns).
fn read_jsonl(text: &str, columns: &[(String, String)]) -> Parsed {
    let mut out = Parsed::default();
    let mut names = Names::default();
    let targets: Vec<(Target, &str)> = columns
        .iter()
        .map(|(k, c)| (target_of(k), c.as_str()))
        .collect();
    let mut skipped = Skipped::default();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let clean = sanitize_json(line);
        let row = serde_json::from_str::<Entry>(&clean)
            .ok()
            .filter(|r| r.object);
        let mut rec = Record::new(Row {
            line: u32::try_from(i + 1).unwrap_or(u32::MAX),
            ..Row::default()
        });
        for (target, key) in &targets {
            let Some(x) = row.as_ref().and_then(|r| r.num(key)) else {
                continue;
            };
            target.set(&mut rec, x, &mut names);
        }
        if rec.row.step.is_none() {
            skipped.line(i + 1);
        } else if !rec.metrics.is_empty() {
            out.records.push(rec);
        }
    }
    skipped.warn(
        &mut out,
        "line is not an object with the mapped step",
        "lines are not objects with the mapped step",
    );
    out
}

fn target_of(key: &str) -> Target {
    match key {
        "step" => Target::Step,
        "epoch" => Target::Epoch,
        "samples" => Target::Samples,
        "tokens" => Target::Tokens,
        "time" => Target::Time,
        metric => Target::Metric(metric.to_string()),
    }
}

/// The mapping of a table written without `--columns`, and a note when some columns were left
/// out; an error saying what is missing when it is neither a W&B export nor a step-and-loss table.
#[allow(clippy::type_complexity)]
fn mapping(cols: &[String]) -> Result<(Vec<Option<Target>>, Option<String>), String> {
    let Some(step) = cols.iter().position(|c| STEP_COLUMNS.contains(&c.as_str())) else {
        return Err(format!(
            "no step column (one of {}) in the header; map the columns with --columns step=COLUMN,loss=COLUMN",
            STEP_COLUMNS.join(", ")
        ));
    };
    let mut targets = vec![None; cols.len()];
    targets[step] = Some(Target::Step);
    // W&B's UI export: `<run> - <metric>` columns, with `__MIN`/`__MAX` companions.
    let wandb: Vec<(usize, &str, &str)> = cols
        .iter()
        .enumerate()
        .filter_map(|(i, c)| {
            let (run, metric) = c.split_once(" - ")?;
            (!metric.ends_with("__MIN") && !metric.ends_with("__MAX")).then_some((i, run, metric))
        })
        .collect();
    let mut note = None;
    if !wandb.is_empty() {
        let first = wandb[0].1;
        let mut runs: Vec<&str> = wandb.iter().map(|w| w.1).collect();
        runs.dedup();
        if runs.len() > 1 {
            note = Some(format!(
                "a W&B export of {} runs ({}); read the first, {first:?}: export one run per file, or pick columns with --columns",
                runs.len(),
                runs.join(", ")
            ));
        }
        for &(i, run, metric) in &wandb {
            if run == first && i != step {
                targets[i] = Some(renamed(metric));
            }
        }
    } else {
        let lightning = is_lightning(cols);
        for (i, c) in cols.iter().enumerate() {
            if i != step && !c.starts_with('_') {
                targets[i] = Some(if lightning {
                    lightning_name(c)
                } else {
                    renamed(c)
                });
            }
        }
    }
    let has_loss = targets
        .iter()
        .any(|t| matches!(t, Some(Target::Metric(m)) if m.contains("loss")));
    if !has_loss {
        return Err(
            "no loss column in the header; map the columns with --columns step=COLUMN,loss=COLUMN"
                .into(),
        );
    }
    Ok((targets, note))
}

/// PyTorch Lightning's CSVLogger `metrics.csv`: `epoch` and `step` columns, and metrics logged
/// both per step and per epoch (`train_loss_step`, `train_loss_epoch`) or for validation
/// (`val_loss`).
fn is_lightning(cols: &[String]) -> bool {
    let has = |n: &str| cols.iter().any(|c| c == n);
    has("epoch")
        && has("step")
        && cols
            .iter()
            .any(|c| c.ends_with("_step") || c.ends_with("_epoch") || c.starts_with("val_"))
}

/// A Lightning column as HF's log key: the per-step value of a metric is the metric
/// (`train_loss_step` → `loss`), validation metrics are eval metrics (`val_loss` →
/// `eval_loss`), `lr-AdamW` (LearningRateMonitor) is the learning rate; epoch means
/// (`train_loss_epoch`) stay their own series, never merged into the per-step ones.
fn lightning_name(column: &str) -> Target {
    if column == "epoch" {
        return Target::Epoch;
    }
    if column.starts_with("lr-") || column == "lr" {
        return Target::Metric("learning_rate".into());
    }
    let base = column.strip_suffix("_step").unwrap_or(column);
    let name = if let Some(m) = base.strip_prefix("val_") {
        format!("eval_{m}")
    } else if let Some(m) = base.strip_prefix("train_") {
        m.to_string()
    } else {
        base.to_string()
    };
    Target::Metric(name)
}

/// A tracker's column name as HF's log key.
fn renamed(column: &str) -> Target {
    if column == "train/global_step" {
        return Target::Step;
    }
    tracker_name(column).map_or(Target::Epoch, Target::Metric)
}

/// Tab when the header has tabs and no commas, else comma.
fn delimiter(header: &str) -> char {
    if header.contains('\t') && !header.contains(',') {
        '\t'
    } else {
        ','
    }
}

/// A CSV/TSV reader over `text` (the csv crate: quoted fields may hold the delimiter, quotes
/// and newlines; rows may be short or long).
fn records(text: &str, delim: char) -> csv::Reader<&[u8]> {
    csv::ReaderBuilder::new()
        .delimiter(delim as u8)
        .flexible(true)
        .has_headers(true)
        .from_reader(text.as_bytes())
}

/// A record's fields as strings.
fn fields(r: &csv::StringRecord) -> Vec<String> {
    r.iter().map(str::to_string).collect()
}

/// CSV/TSV tables: W&B exports, step-and-loss tables, anything mapped with `--columns`.
pub struct Table;

impl Format for Table {
    fn name(&self) -> &'static str {
        "table"
    }
    fn priority(&self) -> u8 {
        8
    }
    fn sniff(&self, head: &Head<'_>) -> Sniff {
        if sniff(head.text, head.name, head.columns) {
            Sniff::Yes
        } else {
            Sniff::No
        }
    }
    fn read(&self, src: Source<'_>) -> Result<Parsed, IngestError> {
        let columns = src.columns;
        src.text(|text, path| read(text, path, columns))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_wandb_export_and_says_when_it_holds_several_runs() {
        let csv = "\"Step\",\"run-a - train/loss\",\"run-a - train/loss__MIN\",\"run-a - eval/loss\",\"run-b - train/loss\"\n\
10,2.5,2.4,,3.0\n20,1.5,1.4,1.6,2.0\n";
        assert!(sniff(csv, "wandb_export_2026.csv", &[]));
        let p = read(csv, "export.csv", &[]).expect("reads");
        assert_eq!(p.records.len(), 2);
        assert_eq!(p.records.to_vec()[0].metrics, vec![("loss".into(), 2.5)]);
        assert_eq!(p.records.to_vec()[1].metrics[1], ("eval_loss".into(), 1.6));
        assert!(
            p.warnings[0].contains("2 runs (run-a, run-b)"),
            "{:?}",
            p.warnings
        );
    }

    #[test]
    fn maps_columns_given_on_the_command_line() {
        let tsv = "it\tconsumed\tmy loss\tnote\n1\t32\t4.0\tx\n2\t64\t3.0\t\n\t\t\t\n";
        let map = vec![
            ("step".to_string(), "it".to_string()),
            ("samples".to_string(), "consumed".to_string()),
            ("loss".to_string(), "my loss".to_string()),
            ("lr".to_string(), "missing".to_string()),
        ];
        assert!(sniff(tsv, "metrics.tsv", &map));
        assert!(!sniff(tsv, "metrics.tsv", &[]), "no step column of its own");
        let p = read(tsv, "metrics.tsv", &map).expect("reads");
        assert_eq!(p.records.len(), 2);
        assert_eq!(p.records.to_vec()[1].row.samples, Some(64.0));
        assert_eq!(p.records.to_vec()[1].metrics, vec![("loss".into(), 3.0)]);
        assert!(p.warnings[0].contains("--columns lr=missing: no such column"));
    }

    #[test]
    fn maps_jsonl_keys() {
        let jsonl = "{\"it\": 1, \"metrics\": {\"x\": 1}, \"l\": \"2.5\"}\n{\"it\": 2, \"l\": 1.5}\nnot json\n";
        let map = vec![
            ("step".to_string(), "it".to_string()),
            ("loss".to_string(), "l".to_string()),
        ];
        assert!(sniff(jsonl, "metrics.jsonl", &map));
        assert!(!sniff(jsonl, "metrics.jsonl", &[]));
        let p = read(jsonl, "metrics.jsonl", &map).expect("reads");
        assert_eq!(p.records.len(), 2);
        assert_eq!(p.records.to_vec()[0].metrics, vec![("loss".into(), 2.5)]);
        assert!(p.warnings[0].contains("first at line 3"));
    }

    #[test]
    fn quoted_fields_hold_commas_quotes_and_newlines() {
        // A pandas export with a free-text column: the note of step 2 spans two lines.
        let csv = "step,note,loss\r\n1,\"warmup, \"\"slow\"\"\",2.5\r\n2,\"resumed\nfrom ckpt\",2.0\r\n3,,1.5\r\n";
        let p = read(csv, "log.csv", &[]).expect("reads");
        let got: Vec<(Option<f64>, u32, f64)> = p
            .records
            .to_vec()
            .iter()
            .map(|r| (r.row.step, r.row.line, r.metrics[0].1))
            .collect();
        assert_eq!(
            got,
            vec![
                (Some(1.0), 2, 2.5),
                (Some(2.0), 3, 2.0),
                (Some(3.0), 5, 1.5)
            ]
        );
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    }

    #[test]
    fn plain_tables_need_a_step_and_a_loss() {
        assert!(sniff("step,loss,lr\n1,2.0,0.1\n", "log.csv", &[]));
        assert!(!sniff("step,accuracy\n1,0.5\n", "log.csv", &[]));
        // Any other name: by the content alone, a header of names over a row of numbers.
        assert!(sniff("step,loss\n1,2.0\n", "log.txt", &[]));
        assert!(sniff("step\tloss\r\n10\t8.46\r\n", "train.log", &[]));
        assert!(!sniff("step,loss\n", "log.txt", &[]));
        assert!(!sniff("step,loss\nstep 1, loss 2.0\n", "log.txt", &[]));
        assert!(!sniff("step,loss\n1,2.0,3\n", "log.txt", &[]));
        assert!(!sniff("train step,loss\n1,2.0\n", "log.txt", &[]));
        assert!(!sniff(
            "step 0: train loss 4.2, val loss 4.3\n",
            "log.txt",
            &[]
        ));
        assert!(!sniff("step,accuracy\n1,0.5\n", "log.txt", &[]));
        let mut r = records("a,\"b,c\",\"d\"\"e\"\n", ',');
        assert_eq!(
            fields(r.headers().expect("header")),
            vec!["a", "b,c", "d\"e"]
        );
    }
}
