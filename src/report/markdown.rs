//! `--markdown FILE|-`: a compact summary for a CI job summary or a pull-request comment — one
//! table of runs and the findings with their fixes. Text from logs and paths is escaped
//! (`text::markdown`): no HTML, no Markdown markup, no broken table cell or code span.

use std::fmt::Write as _;

use super::Report;
use crate::model::{Key, format_number as num};

fn cell(s: &str) -> String {
    super::text::markdown(s)
}

/// Renders the summary.
pub fn render(report: &Report<'_>) -> String {
    let mut m = String::new();
    let _ = writeln!(
        m,
        "## losscmp: {} runs, baseline {}\n",
        report.runs.len(),
        cell(&report.runs[report.baseline].label)
    );
    let _ = writeln!(
        m,
        "| run | world | per-device | grad accum | effective batch | lr | steps | final loss | final eval loss |"
    );
    let _ = writeln!(m, "|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for run in report.runs {
        let v = |k: Key| {
            run.config
                .get(k)
                .map_or_else(|| "?".to_string(), |v| cell(&v.value.to_string()))
        };
        let last = |name: &str| {
            run.series
                .get(name)
                .and_then(|s| s.last_finite())
                .map_or_else(|| "—".into(), |p| num(p.value))
        };
        let _ = writeln!(
            m,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            cell(&run.label),
            v(Key::WorldSize),
            v(Key::PerDeviceBatch),
            v(Key::GradAccum),
            v(Key::EffectiveBatch),
            v(Key::LearningRate),
            v(Key::TotalSteps),
            last("loss"),
            last("eval_loss")
        );
    }
    let _ = writeln!(m);
    if report.findings.is_empty() {
        let _ = writeln!(m, "No findings.");
    }
    for f in report.findings {
        let _ = writeln!(
            m,
            "- **{}** `{}` ({}): {}",
            f.severity.name(),
            f.id,
            cell(&f.runs.join(" vs ")),
            cell(&f.summary)
        );
        if let Some(fix) = &f.fix {
            let _ = writeln!(m, "  - fix: {}", cell(&fix.summary));
            for c in &fix.changes {
                let from = c.from.map_or_else(|| "?".to_string(), num);
                let _ = writeln!(
                    m,
                    "    - `{}`: `{}` → `{}` ({})",
                    c.option,
                    from,
                    num(c.to),
                    cell(&c.run)
                );
            }
        }
    }
    m
}
