//! `--markdown FILE|-`: a compact summary for a CI job summary or a pull-request comment — one
//! table of runs and the findings with their fixes (the change, why, the alternatives, and what
//! else the cause explains, as the terminal gives them). Text from logs and paths is escaped
//! (`text::markdown`): no HTML, no Markdown markup, no broken table cell or code span.

use std::fmt::Write as _;

use super::Report;
use super::view::{TABLE_KEYS, title};
use crate::model::{Key, format_number as num};

fn cell(s: &str) -> String {
    super::text::markdown(s)
}

/// Renders the summary.
pub fn render(report: &Report<'_>) -> String {
    let mut m = String::new();
    let baseline = cell(&report.runs[report.baseline].label);
    let _ = if report.runs.len() == 1 {
        writeln!(m, "## losscmp: {baseline}, checked on its own\n")
    } else {
        writeln!(
            m,
            "## losscmp: {} runs, baseline {baseline}\n",
            report.runs.len()
        )
    };
    let titles: Vec<&str> = TABLE_KEYS.iter().map(|&k| title(k)).collect();
    let _ = writeln!(
        m,
        "| run | {} | final loss | final eval loss |",
        titles.join(" | ")
    );
    let _ = writeln!(m, "|---|{}---:|---:|", "---:|".repeat(TABLE_KEYS.len()));
    for (i, run) in report.runs.iter().enumerate() {
        // Unknown as on the page and in the terminal: "—".
        let v =
            |k: Key| super::view::table_value(run, k).map_or_else(|| "—".to_string(), |v| cell(&v));
        let last = |name: &str| {
            report
                .view
                .summary(i, name)
                .and_then(|s| s.final_point)
                .map_or_else(|| "—".into(), |p| num(p.value))
        };
        let values: Vec<String> = TABLE_KEYS.iter().map(|&k| v(k)).collect();
        // A plan is marked as the page and the terminal mark it.
        let planned = if run.planned { " (planned)" } else { "" };
        let _ = writeln!(
            m,
            "| {}{planned} | {} | {} | {} |",
            cell(&run.label),
            values.join(" | "),
            last("loss"),
            last("eval_loss")
        );
    }
    let _ = writeln!(m);
    let v = report.verdict;
    let _ = writeln!(m, "### Verdict\n");
    if v.causes.is_empty() && v.matches.is_empty() {
        let _ = writeln!(m, "{}", report.no_cause());
    }
    for cause in &v.causes {
        let f = &report.findings[cause.finding];
        let _ = writeln!(
            m,
            "- **{}** {}: {} (`{}`). {}",
            f.severity.name(),
            cell(&cause.run),
            report.headline(cause),
            f.id,
            cell(&f.summary)
        );
        for c in &cause.changes {
            let from = c.from.map_or_else(|| "?".to_string(), num);
            let at = c
                .file
                .as_ref()
                .map_or_else(String::new, |f| format!(" — edit {}", cell(f)));
            let _ = writeln!(
                m,
                "  - change `{}`: `{}` → `{}` ({}){at}",
                c.option,
                from,
                num(c.to),
                cell(&c.run)
            );
        }
        if let Some(fix) = &f.fix {
            let _ = writeln!(m, "  - why: {}", cell(&fix.summary));
            for a in &fix.alternatives {
                let _ = writeln!(m, "  - alternative: {}", cell(a));
            }
        }
        if !cause.explains.is_empty() {
            let _ = writeln!(m, "  - {}:", report.folds_heading(cause));
            for &i in &cause.explains {
                let e = &report.findings[i];
                let _ = writeln!(
                    m,
                    "    - `{}` ({}): {}",
                    e.id,
                    e.severity.name(),
                    cell(&e.summary)
                );
            }
        }
    }
    for (_, sentence) in &v.matches {
        let _ = writeln!(m, "- ok: {}", cell(sentence));
    }
    if let Some((_, sentence)) = &v.better {
        let _ = writeln!(m, "- note: {}", cell(sentence));
    }
    for u in &v.unchecked {
        let missing: Vec<&str> = u.missing.iter().map(|k| k.name()).collect();
        let _ = writeln!(
            m,
            "- not checked: `{}` for {}: {} unknown; supply it with {}",
            u.check,
            cell(&u.run),
            missing.join(", "),
            cell(&u.set)
        );
    }
    let others: Vec<&crate::model::Finding> = report.other_findings().map(|(_, f)| f).collect();
    if !others.is_empty() {
        let _ = writeln!(m, "\n### Other findings\n");
    }
    for f in others {
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
            for a in &fix.alternatives {
                let _ = writeln!(m, "  - alternative: {}", cell(a));
            }
        }
    }
    let pairs = report.compared();
    if !pairs.is_empty() {
        let _ = writeln!(m, "\n### Compared\n");
    }
    for c in pairs {
        let _ = writeln!(m, "- {} vs {}", cell(&c.run), cell(&c.reference));
        for line in &c.lines {
            let _ = writeln!(m, "  - {}", cell(line));
        }
    }
    m
}
