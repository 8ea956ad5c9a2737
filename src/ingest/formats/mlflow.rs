//! MLflow file store runs: `mlruns/<experiment>/<run>/` with `meta.yaml`, `metrics/<name>`
//! (one line per logged value, `<unix ms> <value> <step>`; names may hold `/` and become
//! sub-directories) and `params/<name>` (the value is the file's text). HF's MLflow callback logs
//! every `TrainingArguments` field as a param, so batch, accumulation and learning rate can be
//! read back; the world size is not among them.
//!
//! A run directory is read as one unit: one [`Parsed`] per metric file (so each point's line
//! is a line of that file), the params as the run's arguments. The `epoch` metric gives the
//! other metrics their epochs.

use crate::model::At;
use crate::model::Row;
use std::fs;
use std::path::{Path, PathBuf};

use super::run_args;
use super::{Format, Head, Sniff, Source};
use crate::ingest::lenient::parse_number;
use crate::ingest::source::IngestError;
use crate::ingest::{Names, Parsed, Record, Skipped};

/// Yes when every line of the head is `<unix ms> <value> <step>` (a metric file on its own).
pub fn sniff(head: &str) -> Option<bool> {
    let metric = |l: &str| {
        let f: Vec<&str> = l.split_whitespace().collect();
        matches!(f.len(), 2 | 3)
            && f[0].len() >= 12
            && f[0].bytes().all(|b| b.is_ascii_digit())
            && f[1..].iter().all(|x| parse_number(x).is_some())
    };
    // The head may end mid-line: its last line is not looked at then. The first line that is
    // not a metric line decides (another log's head is not walked to its end).
    let cut = !head.ends_with('\n');
    let mut lines = head.lines().filter(|l| !l.trim().is_empty()).peekable();
    let mut any = false;
    while let Some(l) = lines.next() {
        if cut && lines.peek().is_none() {
            break;
        }
        if !metric(l) {
            return Some(false);
        }
        any = true;
    }
    Some(any)
}

/// Reads one metric file outside a run directory; the metric is named after the file.
pub fn read_metric_file(text: &str, path: &Path) -> Parsed {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    metric_file(text, &name, None, &mut Names::default())
}

/// Whether `dir` looks like an MLflow run: `meta.yaml` beside a `metrics` directory.
pub fn is_run_dir(dir: &Path) -> bool {
    dir.join("meta.yaml").is_file() && dir.join("metrics").is_dir()
}

/// The run's name from its `meta.yaml` (`run_name:`), when `dir` is an MLflow run that has
/// one: what labels the run, rather than its 32-digit id.
pub fn run_name(dir: &Path) -> Option<String> {
    if !is_run_dir(dir) {
        return None;
    }
    let meta = fs::read_to_string(dir.join("meta.yaml")).ok()?;
    let name = meta
        .lines()
        .find_map(|l| l.strip_prefix("run_name:"))?
        .trim()
        .trim_matches(['\'', '"']);
    (!name.is_empty()).then(|| name.to_string())
}

/// Reads a run directory: (file, what it yielded) for every metric file, then the params.
pub fn read_run_dir(dir: &Path) -> Result<Vec<(PathBuf, Parsed)>, IngestError> {
    let start_ms = fs::read_to_string(dir.join("meta.yaml"))
        .ok()
        .and_then(|meta| {
            meta.lines()
                .find_map(|l| l.strip_prefix("start_time:"))
                .and_then(parse_number)
        });
    let metrics = dir.join("metrics");
    let mut files = Vec::new();
    walk(&metrics, &mut files)?;
    let mut names = Names::default();
    let mut out = Vec::new();
    for file in files {
        let name = relative(&metrics, &file);
        let text = read(&file)?;
        out.push((file, metric_file(&text, &name, start_ms, &mut names)));
    }
    let params = dir.join("params");
    if params.is_dir() {
        let mut files = Vec::new();
        walk(&params, &mut files)?;
        let mut pairs = Vec::new();
        for file in &files {
            pairs.push((relative(&params, file), read(file)?.trim().to_string()));
        }
        out.push((
            params.clone(),
            run_args::options(pairs, |option| At::field(option.to_string())),
        ));
    }
    Ok(out)
}

/// A metric's or param's name: its path below `dir`, with `/` (names may hold `/`).
fn relative(dir: &Path, file: &Path) -> String {
    file.strip_prefix(dir)
        .unwrap_or(file)
        .to_string_lossy()
        .replace('\\', "/")
}

fn read(path: &Path) -> Result<String, IngestError> {
    fs::read_to_string(path).map_err(|e| IngestError::Io {
        path: path.display().to_string(),
        error: e,
    })
}

/// All files under `dir`, sorted, depth first.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), IngestError> {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(|e| IngestError::Io {
            path: dir.display().to_string(),
            error: e,
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for e in entries {
        if e.is_dir() {
            walk(&e, out)?;
        } else if e.is_file() {
            out.push(e);
        }
    }
    Ok(())
}

/// One metric file: `<unix ms> <value> <step>` per line (old stores omit the step: 0).
fn metric_file(text: &str, name: &str, start_ms: Option<f64>, names: &mut Names) -> Parsed {
    let mut out = Parsed::default();
    let metric = names.get(name);
    let mut skipped = Skipped::default();
    for (i, line) in text.lines().enumerate() {
        let mut it = line.split_whitespace();
        let (Some(ts), Some(value)) = (it.next(), it.next()) else {
            if !line.trim().is_empty() {
                skipped.line(i + 1);
            }
            continue;
        };
        let (Some(ts), Some(value)) = (parse_number(ts), parse_number(value)) else {
            skipped.line(i + 1);
            continue;
        };
        let step = it.next().and_then(parse_number).unwrap_or(0.0);
        let mut rec = Record::new(Row {
            step: Some(step),
            time: start_ms.map(|s| (ts - s) / 1000.0),
            line: (i + 1) as u32,
            ..Row::default()
        });
        if name == "epoch" {
            rec.row.epoch = Some(value);
        } else {
            rec.metrics.push((metric.clone(), value));
        }
        out.records.push(rec);
    }
    skipped.warn(
        &mut out,
        "line is not `<unix ms> <value> <step>`",
        "lines are not `<unix ms> <value> <step>`",
    );
    out
}

/// An MLflow file store's metric file (a run directory is read by discovery, file by file).
pub struct MlflowMetric;

impl Format for MlflowMetric {
    fn name(&self) -> &'static str {
        "mlflow"
    }
    fn priority(&self) -> u8 {
        6
    }
    fn sniff(&self, head: &Head<'_>) -> Sniff {
        Sniff::from(sniff(head.text))
    }
    fn read(&self, src: Source<'_>) -> Result<Parsed, IngestError> {
        let path = src.path;
        src.text(|text, _| Ok(read_metric_file(text, path)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_lines_become_points_with_time_from_the_run_start() {
        let mut names = Names::default();
        let p = metric_file(
            "1628697792090 332.68 0\n1628697795789 297.6 1\ngarbage\n",
            "loss",
            Some(1_628_697_790_090.0),
            &mut names,
        );
        assert_eq!(p.records.len(), 2);
        assert_eq!(p.records.to_vec()[1].row.step, Some(1.0));
        assert_eq!(p.records.to_vec()[0].row.time, Some(2.0));
        assert_eq!(p.records.to_vec()[1].metrics[0], ("loss".into(), 297.6));
        assert!(p.warnings[0].contains("first at line 3"));
    }

    #[test]
    fn sniffs_whole_metric_lines_only() {
        assert_eq!(
            sniff("1628697792090 332.68 0\n1628697795789 297.6 1\n"),
            Some(true)
        );
        assert_eq!(sniff("1628697792090 332.68 0\n16286977"), Some(true));
        assert_eq!(
            sniff("################"),
            Some(false),
            "one unfinished line"
        );
        assert_eq!(sniff("12 0.5 1\n"), Some(false), "not a unix-ms time");
        assert_eq!(
            sniff("1628697792090 332.68 0\nloss went down\n1628697795789 297.6 1\n"),
            Some(false),
            "a line that is not a metric line, anywhere"
        );
        assert_eq!(
            sniff("1628697792090 332.68 0\n\n  \n1628697795789 297.6 1\n"),
            Some(true),
            "blank lines between"
        );
    }
}
