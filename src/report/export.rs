//! Data exports for dashboards and notebooks: one long table of every point of every run
//! (`--csv`, `--parquet`, through polars). Columns, in order: `run`, `metric`, `step`, `epoch`,
//! `samples_seen`, `tokens_seen`, `time_s`, `value`, `smoothed` (null where unknown or non-finite).
//! Rows are sorted by run (command-line order), metric name, step.

use std::io::{self, Write};

use anyhow::Result;
use polars::prelude::*;

use super::Report;

fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

/// Builds the long table.
pub fn table(report: &Report<'_>) -> Result<DataFrame> {
    let n: usize = report
        .runs
        .iter()
        .flat_map(|r| r.series.values())
        .map(|s| s.points.len())
        .sum();
    let mut run = Vec::with_capacity(n);
    let mut metric = Vec::with_capacity(n);
    let (mut step, mut epoch, mut samples, mut tokens, mut time, mut value, mut smoothed) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for (i, r) in report.runs.iter().enumerate() {
        for (name, s) in &r.series {
            let sm = report.view.smoothed.get(i).and_then(|m| m.get(name));
            for (k, p) in s.points.iter().enumerate() {
                run.push(r.label.as_str());
                metric.push(name.as_str());
                step.push(finite(p.step));
                epoch.push(p.epoch.get());
                samples.push(p.samples.get());
                tokens.push(p.tokens.get());
                time.push(p.time.get());
                value.push(finite(p.value));
                // No smoothed values: smoothing is off and each value is its own.
                let sv = sm.map_or(Some(p.value), |v| v.get(k).copied());
                smoothed.push(sv.and_then(finite));
            }
        }
    }
    let df = DataFrame::new_infer_height(vec![
        Column::new("run".into(), run),
        Column::new("metric".into(), metric),
        Column::new("step".into(), step),
        Column::new("epoch".into(), epoch),
        Column::new("samples_seen".into(), samples),
        Column::new("tokens_seen".into(), tokens),
        Column::new("time_s".into(), time),
        Column::new("value".into(), value),
        Column::new("smoothed".into(), smoothed),
    ])?;
    Ok(df)
}

/// Writes the table as CSV to `out`.
pub fn csv(report: &Report<'_>, out: &mut dyn Write) -> io::Result<()> {
    let mut df = table(report).map_err(io::Error::other)?;
    CsvWriter::new(out)
        .finish(&mut df)
        .map_err(|e| io::Error::other(format!("formatting CSV: {e}")))
}

/// Writes the table as a Parquet file to `out`.
pub fn parquet(report: &Report<'_>, out: &mut dyn Write) -> io::Result<()> {
    let mut df = table(report).map_err(io::Error::other)?;
    ParquetWriter::new(out)
        .finish(&mut df)
        .map(|_| ())
        .map_err(|e| io::Error::other(format!("formatting Parquet: {e}")))
}
