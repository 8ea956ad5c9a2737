//! `--dataset DIR`: appends this comparison to a hive-partitioned Parquet dataset, the input of
//! a nightly dashboard. Two tables, each its own dataset root, one file per comparison per day:
//!
//! ```text
//! DIR/points/date=YYYY-MM-DD/<comparison>.parquet   every point (the long table of --parquet)
//! DIR/runs/date=YYYY-MM-DD/<comparison>.parquet     one row per run: summary and findings
//! ```
//!
//! readable as they are by DuckDB (`read_parquet('DIR/runs/**/*.parquet', hive_partitioning =
//! true)`), polars (`pl.scan_parquet('DIR/runs/**/*.parquet', hive_partitioning=True)`) and Spark
//! (`spark.read.parquet('DIR/runs')`). Columns are documented in docs/dataset.md. Files are
//! written atomically (a hidden temporary file, renamed), so a reader never sees half of one.
//!
//! `verdict_change` compares each run's findings with the latest earlier row of the same run
//! (label) and baseline in the dataset: `first`, `same`, or what appeared and cleared.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result};
use polars::prelude::*;

use super::Report;
use crate::model::{Key, Run};

/// A comparison's place in the dataset: its date partition and its id (the file name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    /// `YYYY-MM-DD`.
    pub date: String,
    /// Unique within the day: seconds since the epoch and the process id.
    pub id: String,
}

impl Stamp {
    /// Now (UTC), or on `date` when given.
    pub fn now(date: Option<&str>) -> Stamp {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Stamp {
            date: date.map_or_else(|| civil_date(secs), str::to_string),
            id: format!("{secs}-{}", std::process::id()),
        }
    }
}

/// `YYYY-MM-DD` of a Unix time (UTC), by Howard Hinnant's days-to-civil algorithm.
pub fn civil_date(secs: u64) -> String {
    let z = i64::try_from(secs / 86_400).unwrap_or(0) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// Whether `s` is a `YYYY-MM-DD` date.
pub fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
        && (1..=12).contains(&s[5..7].parse::<u32>().unwrap_or(0))
        && (1..=31).contains(&s[8..10].parse::<u32>().unwrap_or(0))
}

/// Appends the comparison to the dataset under `dir`; returns the two files written.
pub fn append(report: &Report<'_>, dir: &Path, stamp: &Stamp) -> Result<Vec<PathBuf>> {
    let mut points = super::export::table(report)?;
    let n = points.height();
    points.with_column(Column::new("comparison".into(), vec![stamp.id.as_str(); n]))?;
    let previous = previous_findings(dir, report)?;
    let mut runs = runs_table(report, stamp, &previous)?;
    let mut written = Vec::new();
    for (table, df) in [("points", &mut points), ("runs", &mut runs)] {
        let part = dir.join(table).join(format!("date={}", stamp.date));
        std::fs::create_dir_all(&part)
            .with_context(|| format!("--dataset: cannot create {}", part.display()))?;
        let path = part.join(format!("{}.parquet", stamp.id));
        super::write_atomic_with(&path, |file: &mut File| {
            ParquetWriter::new(file)
                .finish(df)
                .map(|_| ())
                .map_err(std::io::Error::other)
        })?;
        written.push(path);
    }
    Ok(written)
}

/// Whether a finding is about `run`: it is its subject, or a comparison that addresses no run
/// names it. A finding about the other run of a pair is not the baseline's, so a dashboard
/// that trends a run's worst severity does not show the baseline failing with it.
fn about(f: &crate::model::Finding, run: &Run) -> bool {
    match &f.subject {
        Some(subject) => *subject == run.label,
        None => f.runs.contains(&run.label),
    }
}

/// The findings of a run ([`about`]), as `id:severity` joined by commas, in report order.
fn findings_of(report: &Report<'_>, run: &Run) -> String {
    report
        .findings
        .iter()
        .filter(|f| about(f, run))
        .map(|f| format!("{}:{}", f.id, f.severity.name()))
        .collect::<Vec<_>>()
        .join(",")
}

/// One row per run.
fn runs_table(
    report: &Report<'_>,
    stamp: &Stamp,
    previous: &[(String, String, Option<String>)],
) -> Result<DataFrame> {
    let baseline = &report.runs[report.baseline].label;
    let mut cols: Vec<(&str, Vec<Option<f64>>)> = Vec::new();
    let num = |f: &dyn Fn(&Run) -> Option<f64>| report.runs.iter().map(f).collect::<Vec<_>>();
    // Per run, from the view's summaries (the numbers every other output shows).
    let per_run = |f: &dyn Fn(&crate::model::Summary) -> Option<f64>, metric: &str| {
        (0..report.runs.len())
            .map(|i| report.view.summary(i, metric).and_then(f))
            .collect::<Vec<_>>()
    };
    let final_of = |s: &crate::model::Summary| s.final_point.map(|p| p.value);
    cols.push(("final_loss", per_run(&final_of, "loss")));
    cols.push(("min_loss", per_run(&|s| s.min, "loss")));
    cols.push((
        "final_step",
        per_run(
            &|s| s.final_point.map(|p| p.step).filter(|x| x.is_finite()),
            "loss",
        ),
    ));
    cols.push((
        "final_samples",
        per_run(&|s| s.final_point.and_then(|p| p.samples.get()), "loss"),
    ));
    cols.push(("final_eval_loss", per_run(&final_of, "eval_loss")));
    for (name, key) in [
        ("effective_batch", Key::EffectiveBatch),
        ("world_size", Key::WorldSize),
        ("per_device_batch", Key::PerDeviceBatch),
        ("grad_accum", Key::GradAccum),
        ("learning_rate", Key::LearningRate),
        ("total_steps", Key::TotalSteps),
    ] {
        cols.push((name, num(&|r: &Run| r.config.num(key))));
    }
    let labels: Vec<&str> = report.runs.iter().map(|r| r.label.as_str()).collect();
    let findings: Vec<String> = report.runs.iter().map(|r| findings_of(report, r)).collect();
    let worst: Vec<Option<&str>> = report
        .runs
        .iter()
        .map(|r| {
            report
                .findings
                .iter()
                .filter(|f| about(f, r))
                .map(|f| f.severity)
                .max()
                .map(|s| s.name())
        })
        .collect();
    let change: Vec<String> = report
        .runs
        .iter()
        .zip(&findings)
        .map(|(r, now)| {
            let before = previous
                .iter()
                .find(|(run, base, _)| run == &r.label && base == baseline)
                .map(|(_, _, f)| f.clone().unwrap_or_default());
            verdict_change(before.as_deref(), now)
        })
        .collect();
    let n = report.runs.len();
    let mut columns = vec![
        Column::new("comparison".into(), vec![stamp.id.as_str(); n]),
        Column::new("run".into(), labels),
        Column::new(
            "path".into(),
            report
                .runs
                .iter()
                .map(|r| r.path.as_str())
                .collect::<Vec<_>>(),
        ),
        Column::new("baseline".into(), vec![baseline.as_str(); n]),
        Column::new(
            "is_baseline".into(),
            (0..n).map(|i| i == report.baseline).collect::<Vec<_>>(),
        ),
    ];
    for (name, values) in cols {
        let values: Vec<Option<f64>> = values
            .into_iter()
            .map(|v| v.filter(|x| x.is_finite()))
            .collect();
        columns.push(Column::new(name.into(), values));
    }
    columns.push(Column::new("findings".into(), findings));
    columns.push(Column::new("worst_severity".into(), worst));
    columns.push(Column::new("verdict_change".into(), change));
    Ok(DataFrame::new_infer_height(columns)?)
}

/// What changed between two findings lists (`id:severity,…`).
fn verdict_change(before: Option<&str>, now: &str) -> String {
    let Some(before) = before else {
        return "first".into();
    };
    let split = |s: &str| -> Vec<String> {
        s.split(',')
            .filter(|x| !x.is_empty())
            .map(str::to_string)
            .collect()
    };
    let (b, n) = (split(before), split(now));
    let new: Vec<&String> = n.iter().filter(|x| !b.contains(x)).collect();
    let gone: Vec<&String> = b.iter().filter(|x| !n.contains(x)).collect();
    match (new.is_empty(), gone.is_empty()) {
        (true, true) => "same".into(),
        _ => {
            let mut parts = Vec::new();
            if !new.is_empty() {
                parts.push(format!(
                    "new {}",
                    new.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(",")
                ));
            }
            if !gone.is_empty() {
                parts.push(format!(
                    "cleared {}",
                    gone.iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(",")
                ));
            }
            parts.join("; ")
        }
    }
}

/// For each run of this comparison, the findings of the latest earlier row in the dataset with
/// the same run and baseline: (run, baseline, findings). Date partitions are read newest first,
/// and only until every run has been found.
fn previous_findings(
    dir: &Path,
    report: &Report<'_>,
) -> Result<Vec<(String, String, Option<String>)>> {
    let root = dir.join("runs");
    let Ok(entries) = std::fs::read_dir(&root) else {
        return Ok(Vec::new());
    };
    let mut dates: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_prefix("date="))
                .is_some_and(is_date)
        })
        .collect();
    dates.sort();
    let baseline = &report.runs[report.baseline].label;
    let mut found: Vec<(String, String, Option<String>)> = Vec::new();
    for date in dates.iter().rev() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(date)
            .with_context(|| format!("--dataset: cannot list {}", date.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
            .collect();
        // Ids start with the Unix time: the newest comparison of the day last.
        files.sort_by_key(|p| {
            p.file_stem()
                .and_then(|s| s.to_str())
                .and_then(|s| s.split('-').next())
                .and_then(|s| s.parse::<u64>().ok())
                .unwrap_or(0)
        });
        for file in files.iter().rev() {
            let opened = File::open(file)
                .with_context(|| format!("--dataset: cannot read {}", file.display()))?;
            let df = anyhow::Context::with_context(ParquetReader::new(opened).finish(), || {
                format!("--dataset: {} is not a runs table", file.display())
            })?;
            let (Ok(run), Ok(base), Ok(fs)) = (
                df.column("run"),
                df.column("baseline"),
                df.column("findings"),
            ) else {
                continue;
            };
            let (run, base, fs) = (run.str()?, base.str()?, fs.str()?);
            for i in 0..df.height() {
                let (Some(r), Some(b)) = (run.get(i), base.get(i)) else {
                    continue;
                };
                if b == baseline && !found.iter().any(|(fr, fb, _)| fr == r && fb == b) {
                    found.push((r.to_string(), b.to_string(), fs.get(i).map(str::to_string)));
                }
            }
            if report
                .runs
                .iter()
                .all(|r| found.iter().any(|(fr, _, _)| fr == &r.label))
            {
                return Ok(found);
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_date(0), "1970-01-01");
        assert_eq!(civil_date(951_782_400), "2000-02-29");
        assert_eq!(civil_date(1_796_083_200), "2026-12-01");
        assert!(is_date("2026-12-01"));
        assert!(!is_date("2026-13-01") && !is_date("20261201") && !is_date("2026-1-011"));
    }

    #[test]
    fn verdict_changes() {
        assert_eq!(verdict_change(None, "a:error"), "first");
        assert_eq!(verdict_change(Some("a:error"), "a:error"), "same");
        assert_eq!(
            verdict_change(Some("a:error"), "b:warning"),
            "new b:warning; cleared a:error"
        );
        assert_eq!(verdict_change(Some(""), ""), "same");
    }
}
