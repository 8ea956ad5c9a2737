//! The terminal summary: findings first (most severe first, each with its fix), then one block
//! per run with its configuration (and where each value came from), final losses and point
//! counts. Plain text, optionally coloured; no statistics are computed here. Every text that
//! came from a log or a path goes through `text::printable` (directly, or inside [`Paint`]):
//! no control character from a file reaches the terminal.

use std::fmt::Write as _;

use anstyle::{AnsiColor, Style};
use rayon::prelude::*;

use super::Report;
use super::text::printable as s;
use crate::model::{Finding, Key, Run, Severity, format_count as count, format_number as num};

/// Styles text with anstyle; `emit` writes the result through anstream, which drops the styles
/// where colour is off (`--color never`, `NO_COLOR`, not a terminal).
struct Paint {
    on: bool,
}

impl Paint {
    /// `text`, made printable, in `style` when colour is on.
    fn wrap(&self, style: Style, text: &str) -> String {
        let text = s(text);
        if self.on {
            format!("{style}{text}{style:#}")
        } else {
            text.into_owned()
        }
    }
    fn severity(&self, s: Severity) -> String {
        let (color, word) = match s {
            Severity::Error => (AnsiColor::Red, "error"),
            Severity::Warning => (AnsiColor::Yellow, "warning"),
            Severity::Info => (AnsiColor::Cyan, "info"),
        };
        self.wrap(
            Style::new().bold().fg_color(Some(color.into())),
            &format!("{word:<7}"),
        )
    }
    fn bold(&self, s: &str) -> String {
        self.wrap(Style::new().bold(), s)
    }
    fn dim(&self, s: &str) -> String {
        self.wrap(Style::new().dimmed(), s)
    }
}

/// What the terminal shows: `verbose` adds each run's block (configuration with provenance,
/// points, files read).
pub struct View {
    /// Style the text (anstream drops the styles where colour is off).
    pub color: bool,
    /// Show each run's block.
    pub verbose: bool,
}

/// The short name of a run's trouble, by the id of its cause.
pub fn headline(id: &str) -> &'static str {
    match id {
        "oversized-effective-batch" => "short of optimizer updates",
        "nonfinite-loss" => "non-finite loss",
        "nonfinite-grad-norm" => "non-finite grad norms",
        "collapsed-loss" => "loss collapsed to zero",
        "divergence" => "diverged",
        "lr-not-scaled" => "learning rate not scaled to the batch",
        "too-few-optimizer-steps" => "too few optimizer updates",
        "overfitting" => "overfits",
        "loss-spike" => "loss spikes",
        "lower-sample-efficiency" => "learns less per sample",
        "loss-regression" => "worse than the baseline; no cause found",
        _ => "needs attention",
    }
}

/// The verdict in one line, for the plot's subtitle and the live line of `--follow`: the most
/// severe cause (the first of equals, in run order) and its change.
pub fn verdict_line(report: &Report<'_>) -> String {
    let v = report.verdict;
    // The most severe cause leads (the first of equals, in run order): a warning's run listed
    // before an error's does not hide it under "+1 more".
    let severity = |c: &&crate::model::Cause| report.findings[c.finding].severity;
    let lead = v.causes.iter().rev().max_by_key(severity);
    if let Some(cause) = lead {
        let change = cause.changes.first().map_or_else(String::new, |c| {
            format!(
                " — {} {} → {}",
                c.option,
                c.from.map_or_else(|| "?".to_string(), num),
                num(c.to)
            )
        });
        let more = match v.causes.len() {
            1 => String::new(),
            n => format!(" (+{} more)", n - 1),
        };
        return format!("{}: {}{change}{more}", cause.run, report.headline(cause));
    }
    if let Some((_, sentence)) = v.matches.first() {
        return sentence.clone();
    }
    if let Some((_, sentence)) = &v.better {
        return sentence.clone();
    }
    report.no_cause()
}

/// Renders the summary: the verdict first, then the other findings, the compared numbers, the
/// run blocks (with `-v`); the files written follow it ([`written`]).
pub fn render(report: &Report<'_>, view: &View) -> String {
    let p = Paint { on: view.color };
    let mut out = String::new();
    let baseline = &report.runs[report.baseline];
    if report.runs.len() > 1 {
        let _ = writeln!(
            out,
            "{} runs compared by {}; baseline {}",
            report.runs.len(),
            report.aligned.data_axis.label(),
            p.bold(&baseline.label)
        );
    } else {
        let _ = writeln!(
            out,
            "{} checked on its own (give a second run to compare with)",
            p.bold(&baseline.label)
        );
    }
    verdict(&mut out, &p, report);
    let others: Vec<&Finding> = report.other_findings().map(|(_, f)| f).collect();
    if !others.is_empty() {
        let counts = [Severity::Error, Severity::Warning, Severity::Info]
            .map(|sev| (sev, others.iter().filter(|f| f.severity == sev).count()));
        let parts: Vec<String> = counts
            .iter()
            .filter(|(_, n)| *n > 0)
            // "1 warning", "2 warnings", "3 info".
            .map(|(sev, n)| {
                let plural = *n != 1 && *sev != Severity::Info;
                format!("{n} {}{}", sev.name(), if plural { "s" } else { "" })
            })
            .collect();
        let _ = writeln!(out, "\n{} ({})", p.bold("Other findings"), parts.join(", "));
        for f in others {
            finding(&mut out, &p, f);
        }
    }
    comparisons(&mut out, &p, report);
    if view.verbose {
        // Each block scans its run's series (final and smallest values): built in parallel,
        // joined in order.
        let blocks: Vec<String> = report
            .runs
            .par_iter()
            .enumerate()
            .map(|(i, run)| {
                let mut block = String::from("\n");
                run_block(
                    &mut block,
                    &p,
                    run,
                    &report.view.summaries[i],
                    i == report.baseline && report.runs.len() > 1,
                );
                block
            })
            .collect();
        for block in blocks {
            out.push_str(&block);
        }
    } else {
        let _ = writeln!(
            out,
            "\n{}",
            p.dim("Each run's configuration, with the file and line of every value: -v")
        );
    }
    out
}

/// The files this invocation wrote ("report: report.html" lines), shown after the summary.
pub fn written(lines: &[String]) -> String {
    let mut out = String::new();
    if !lines.is_empty() {
        out.push('\n');
        for w in lines {
            let _ = writeln!(out, "{}", s(w));
        }
    }
    out
}

/// The verdict: per run that needs a change, its cause, the one set of changes and what the
/// cause also explains; the runs that match the baseline; the checks that could not run.
fn verdict(out: &mut String, p: &Paint, report: &Report<'_>) {
    let v = report.verdict;
    let _ = writeln!(out, "\n{}", p.bold("Verdict"));
    if v.causes.is_empty() && v.matches.is_empty() {
        let _ = writeln!(out, "  {}", report.no_cause());
    }
    for cause in &v.causes {
        let f = &report.findings[cause.finding];
        let _ = writeln!(
            out,
            "\n  {} {}: {}  [{}]",
            p.severity(f.severity),
            p.bold(&cause.run),
            report.headline(cause),
            f.id
        );
        let _ = writeln!(out, "    {}", s(&f.summary));
        for c in &cause.changes {
            let from = c.from.map_or_else(|| "?".to_string(), num);
            let at = c
                .file
                .as_ref()
                .map_or_else(String::new, |f| format!("   (edit {})", s(f)));
            let _ = writeln!(
                out,
                "    {} {}: {} → {}{at}",
                p.bold("change:"),
                s(&c.option),
                from,
                num(c.to)
            );
        }
        if let Some(fix) = &f.fix {
            let _ = writeln!(out, "    {} {}", p.bold("why:"), s(&fix.summary));
            for a in &fix.alternatives {
                let _ = writeln!(out, "    {} {}", p.dim("alternative:"), s(a));
            }
        }
        if !cause.explains.is_empty() {
            let _ = writeln!(out, "    {}:", report.folds_heading(cause));
            for &i in &cause.explains {
                let e = &report.findings[i];
                let _ = writeln!(
                    out,
                    "      - {} ({}): {}",
                    e.id,
                    e.severity.name(),
                    s(&e.summary)
                );
            }
        }
    }
    for (_, sentence) in &v.matches {
        let _ = writeln!(out, "\n  {} {}", p.bold("ok"), s(sentence));
    }
    if let Some((_, sentence)) = &v.better {
        let _ = writeln!(out, "\n  {} {}", p.bold("note"), s(sentence));
    }
    for u in &v.unchecked {
        let missing: Vec<&str> = u.missing.iter().map(|k| k.name()).collect();
        let _ = writeln!(
            out,
            "\n  {} {} for {}: {} unknown; supply it with {}",
            p.dim("not checked:"),
            u.check,
            s(&u.run),
            missing.join(", "),
            s(&u.set)
        );
    }
}

fn comparisons(out: &mut String, p: &Paint, report: &Report<'_>) {
    for c in report.compared() {
        let _ = writeln!(
            out,
            "\n{} {} vs {}",
            p.bold("compared:"),
            s(&c.run),
            s(&c.reference)
        );
        for line in &c.lines {
            let _ = writeln!(out, "  {}", s(line));
        }
    }
}

fn finding(out: &mut String, p: &Paint, f: &Finding) {
    let _ = writeln!(
        out,
        "\n{} {}  [{}]",
        p.severity(f.severity),
        p.bold(f.id),
        s(&f.runs.join(" vs "))
    );
    let _ = writeln!(out, "  {}", s(&f.summary));
    if let Some(fix) = &f.fix {
        let _ = writeln!(out, "  {} {}", p.bold("fix:"), s(&fix.summary));
        for c in &fix.changes {
            let from = c.from.map_or_else(|| "?".to_string(), num);
            let _ = writeln!(
                out,
                "       {}: {} → {}   ({})",
                s(&c.option),
                from,
                num(c.to),
                s(&c.run)
            );
        }
        for a in &fix.alternatives {
            let _ = writeln!(out, "  {} {}", p.dim("alternative:"), s(a));
        }
    }
}

fn run_block(
    out: &mut String,
    p: &Paint,
    run: &Run,
    summaries: &std::collections::BTreeMap<String, crate::model::Summary>,
    is_baseline: bool,
) {
    let tag = if is_baseline { "  (baseline)" } else { "" };
    let _ = writeln!(out, "{}  {}{tag}", p.bold(&run.label), p.dim(&run.path));
    let c = &run.config;
    let eff = match c.num(Key::EffectiveBatch) {
        Some(b) => {
            // The factors as printed, multiplied as the configuration multiplies them:
            // nanoGPT's accumulation is the total over all processes, so the world size is not
            // among them.
            let factors = c.batch_product().map(|(p, _)| {
                let part = |k: Key| c.num(k).map_or_else(String::new, num);
                let text = if c.accumulation_is_total() {
                    format!(
                        "per-device {} × grad accum {} (the total over all processes)",
                        part(Key::PerDeviceBatch),
                        part(Key::GradAccum)
                    )
                } else {
                    format!(
                        "world {} × per-device {} × grad accum {}",
                        part(Key::WorldSize),
                        part(Key::PerDeviceBatch),
                        part(Key::GradAccum)
                    )
                };
                (p, text)
            });
            // An equation only where it holds: facts that contradict each other (warned
            // about when read) are listed, not multiplied.
            let product = match factors {
                Some((p, text)) if (p - b).abs() <= 1e-9 * b.abs() => format!(" = {text}"),
                Some((p, text)) => format!(
                    " (not {text} = {}: the facts disagree, see the warnings)",
                    num(p)
                ),
                None => String::new(),
            };
            format!("{}{product}", num(b))
        }
        None => "unknown".into(),
    };
    let _ = writeln!(out, "  effective batch {eff}");
    // As the runs tables show them: where a run that stopped short or early stopped, too.
    let steps = super::view::table_value(run, Key::TotalSteps).unwrap_or_else(|| "unknown".into());
    let _ = writeln!(out, "  optimizer steps {steps}");
    // One row per key: its value and where it came from, the values in one column as wide
    // as the longest (an optimizer's name can be `adamw_torch_fused`).
    let rows: Vec<(&str, String, String)> = Key::ALL
        .into_iter()
        .filter_map(|key| match c.get(key) {
            Some(v) => Some((
                key.name(),
                s(&v.value.to_string()).into_owned(),
                v.source.to_string(),
            )),
            None if super::view::CORE_KEYS.contains(&key) => Some((
                key.name(),
                "unknown".into(),
                "not in the logs; set it with --set".into(),
            )),
            None => None,
        })
        .collect();
    let width = rows
        .iter()
        .map(|(_, v, _)| v.chars().count())
        .max()
        .unwrap_or(0)
        .max(12);
    for (name, value, source) in rows {
        let _ = writeln!(out, "    {name:<24} {value:<width$} {}", p.dim(&source));
    }
    for name in ["loss", "eval_loss"] {
        if let Some(sum) = summaries.get(name) {
            if let Some(last) = &sum.final_point {
                let at = if last.step.is_finite() {
                    format!("step {}", count(last.step))
                } else {
                    last.position()
                };
                let at = match last.samples.get() {
                    Some(x) => format!("{at} ({} samples)", count(x)),
                    None => at,
                };
                let min = sum
                    .min
                    .map_or_else(String::new, |m| format!("; min {}", num(m)));
                let _ = writeln!(out, "  final {name} {} at {at}{min}", num(last.value));
            }
        }
    }
    let counts: Vec<String> = run
        .series
        .values()
        .map(|series| format!("{} {}", s(&series.name), series.points.len()))
        .collect();
    if run.planned {
        let _ = writeln!(out, "  planned: nothing trained yet, no points");
    } else if run.series.is_empty() {
        let _ = writeln!(
            out,
            "  points: none (no curve was logged; final values only)"
        );
    } else {
        let _ = writeln!(out, "  points: {}", counts.join(", "));
    }
    for src in &run.sources {
        if let Some(format) = src.format {
            let _ = writeln!(
                out,
                "  {} {} ({}): {}",
                p.dim("read"),
                s(&src.path),
                format,
                s(&src.note)
            );
        }
    }
    let series_notes: Vec<String> = run
        .series
        .values()
        .filter(|series| series.name == "loss")
        .map(|series| {
            let mut n = format!("loss from {} (steps {})", series.source, series.step_origin);
            if !series.also_in.is_empty() {
                n.push_str(&format!("; also in {}", series.also_in.join(", ")));
            }
            if series.extended > 0 {
                n.push_str(&format!(
                    "; {} later points from other files",
                    series.extended
                ));
            }
            n
        })
        .collect();
    for n in series_notes {
        let _ = writeln!(out, "  {}", p.dim(&n));
    }
}
