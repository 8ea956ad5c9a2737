//! The HTML report (`--out FILE.html`): one self-contained page — inline CSS and SVG, no script,
//! no external URL — assembled from a view of the report: the verdict (findings with their fix
//! as a config diff), the runs table (each value's source on hover), then the charts. Every text
//! that comes from logs or the command line is HTML-escaped. Output is deterministic.

use std::fmt::Write as _;

use anyhow::Result;
use rayon::prelude::*;

use super::Report;
use super::charts::{self, Chart, Line, MAX_DRAWN_POINTS, Rule};
use super::downsample::{lttb, lttb_columns};
use super::view::Marker;
use crate::align::Curve;
use crate::model::{Finding, Key, Run, format_count as count, format_number as num};

const WIDTH: u32 = 620;
const HEIGHT: u32 = 340;

/// Escapes text for HTML content and attribute values (markup and control characters).
pub fn escape(s: &str) -> String {
    super::text::html(s)
}

/// One line per run (two when smoothed: faint raw, then smoothed), each already reduced to the
/// points that will be drawn, so a long run is never copied whole; runs in parallel.
fn lines<'a>(report: &Report<'a>, pick: impl Fn(usize) -> &'a Curve + Sync) -> Vec<Line> {
    let per_run: Vec<Vec<Line>> = (0..report.runs.len())
        .into_par_iter()
        .map(|i| run_lines(report, i, pick(i)))
        .collect();
    per_run.into_iter().flatten().collect()
}

fn run_lines(report: &Report<'_>, i: usize, c: &Curve) -> Vec<Line> {
    let run = &report.runs[i];
    let mut out = Vec::new();
    {
        if c.is_empty() {
            return out;
        }
        let raw = lttb_columns(&c.xs, &c.ys, MAX_DRAWN_POINTS);
        if report.aligned.smooth.is_some() {
            out.push(Line {
                label: String::new(),
                color: i,
                points: raw,
                faint: true,
                dots: false,
            });
            let smooth = lttb_columns(&c.xs, c.smoothed(), MAX_DRAWN_POINTS);
            out.push(Line {
                label: run.label.clone(),
                color: i,
                points: smooth,
                faint: false,
                dots: false,
            });
        } else {
            out.push(Line {
                label: run.label.clone(),
                color: i,
                points: raw,
                faint: false,
                dots: false,
            });
        }
    }
    out
}

fn rules<'a>(report: &Report<'a>, pick: impl Fn(usize) -> &'a [Marker]) -> Vec<Rule> {
    let n = report.runs.len();
    let mut out: Vec<Rule> = Vec::new();
    for i in 0..n {
        for m in pick(i) {
            // A marker every run has at the same place (epoch ends of runs on the same data) is
            // drawn once, unlabelled by run.
            let shared = (0..n).all(|j| {
                pick(j)
                    .iter()
                    .any(|o| o.label == m.label && (o.x - m.x).abs() <= 1e-6 * m.x.abs().max(1.0))
            });
            if shared && i > 0 {
                continue;
            }
            let label = if shared || n == 1 {
                m.label.clone()
            } else {
                format!("{} ({})", m.label, report.runs[i].label)
            };
            out.push(Rule {
                x: m.x,
                label,
                color: if shared { usize::MAX } else { i },
            });
        }
    }
    // One label for a run's epoch ends ("epochs 1, 2 (lf_8proc_ga8)"), at the first of them;
    // the others keep their line and lose their text.
    for color in (0..n).chain([usize::MAX]) {
        let epochs: Vec<usize> = (0..out.len())
            .filter(|&k| out[k].color == color && out[k].label.starts_with("epoch "))
            .collect();
        if epochs.len() < 2 {
            continue;
        }
        let numbers: Vec<String> = epochs
            .iter()
            .filter_map(|&k| {
                out[k]
                    .label
                    .strip_prefix("epoch ")
                    .map(|r| r.split(' ').next().unwrap_or(r).to_string())
            })
            .collect();
        let suffix = if color == usize::MAX || n == 1 {
            String::new()
        } else {
            format!(" ({})", report.runs[color].label)
        };
        out[epochs[0]].label = format!("epochs {}{suffix}", numbers.join(", "));
        for &k in &epochs[1..] {
            out[k].label.clear();
        }
    }
    out
}

/// The main comparison chart: training loss against the data axis (samples seen, else epoch),
/// whatever `--x` says (`--x` sets the other charts' axis).
pub fn main_chart(report: &Report<'_>) -> Chart {
    let axis = report.aligned.data_axis;
    let markers: Vec<Vec<Marker>> = (0..report.runs.len())
        .map(|i| {
            if axis == report.aligned.axis {
                report.view.plots[i].markers.clone()
            } else {
                Vec::new()
            }
        })
        .collect();
    sized(
        format!("Training loss vs {}", axis.label()),
        axis.label(),
        "loss",
        lines(report, |i| &report.view.plots[i].loss_data),
        rules(report, |i| &markers[i]),
    )
}

/// The steps–samples trade-off of a sweep at its lowest target loss (McCandlish et al. 2018):
/// one dot per run at (steps, samples) to the target, the fitted hyperbola
/// (S/S_min − 1)(E/E_min − 1) = 1 traced over batch sizes, and B_crit marked where S = 2 S_min,
/// E = 2 E_min.
fn tradeoff_chart(report: &Report<'_>, s: &crate::diagnose::sweep::Sweep) -> Chart {
    let f = s.fits.last().expect("a sweep has a fit");
    let color_of = |label: &str| {
        report
            .runs
            .iter()
            .position(|r| r.label == label)
            .unwrap_or(usize::MAX)
    };
    let mut lines: Vec<Line> = f
        .reach
        .iter()
        .map(|r| Line {
            label: format!("{} (batch {})", r.run, num(r.batch)),
            color: color_of(&r.run),
            points: vec![(r.steps, r.samples)],
            faint: false,
            dots: true,
        })
        .collect();
    let (bmin, bmax) = f.reach.iter().fold((f64::INFINITY, 0.0f64), |(a, b), r| {
        (a.min(r.batch), b.max(r.batch))
    });
    let (lo, hi) = ((bmin / 2.0).ln(), (bmax * 2.0).ln());
    let curve: Vec<(f64, f64)> = (0..=120)
        .map(|i| {
            let b = (lo + (hi - lo) * f64::from(i) / 120.0).exp();
            (
                f.s_min * (1.0 + f.b_crit / b),
                f.e_min * (1.0 + b / f.b_crit),
            )
        })
        .collect();
    lines.push(Line {
        label: "fit: S = S_min (1 + B_crit/B)".into(),
        color: usize::MAX,
        points: curve,
        faint: false,
        dots: false,
    });
    Chart {
        rules: vec![Rule {
            x: 2.0 * f.s_min,
            label: format!("B_crit ≈ {}", num((f.b_crit * 10.0).round() / 10.0)),
            color: usize::MAX,
        }],
        ..sized(
            format!(
                "Steps vs samples to loss {} (batch-size sweep)",
                num(f.loss)
            ),
            "optimizer steps to the target",
            "samples to the target",
            lines,
            vec![],
        )
    }
}

/// A chart of the page's size without a reference line.
fn sized(title: String, x: &str, y: &str, lines: Vec<Line>, rules: Vec<Rule>) -> Chart {
    Chart {
        title,
        x_label: x.into(),
        y_label: y.into(),
        lines,
        rules,
        hline: None,
        width: WIDTH,
        height: HEIGHT,
    }
}

/// Every chart of the page, in order; empty ones are left out.
pub fn all_charts(report: &Report<'_>) -> Vec<Chart> {
    let p = &report.view.plots;
    let axis = report.aligned.axis;
    let x = axis.label();
    let baseline = &report.runs[report.baseline].label;
    let ratio_lines = (0..report.runs.len())
        .filter(|&i| !p[i].ratio.is_empty())
        .map(|i| Line {
            label: report.runs[i].label.clone(),
            color: i,
            points: lttb(&p[i].ratio, MAX_DRAWN_POINTS),
            faint: false,
            dots: false,
        })
        .collect();
    let steps = sized(
        "Training loss vs optimizer steps".into(),
        "optimizer step",
        "loss",
        lines(report, |i| &p[i].loss_steps),
        rules(report, |i| &p[i].markers_steps),
    );
    // `--x tokens|time|epoch` adds the loss on that axis too; `--x samples|step` is the
    // headline pair itself.
    let extra = (axis != report.aligned.data_axis && axis != crate::align::Axis::Step).then(|| {
        sized(
            format!("Training loss vs {x}"),
            x,
            "loss",
            lines(report, |i| &p[i].loss),
            rules(report, |i| &p[i].markers),
        )
    });
    vec![main_chart(report), steps]
        .into_iter()
        .chain(extra)
        .chain(report.sweep.map(|s| tradeoff_chart(report, s)))
        .chain([
            sized(
                format!("Eval loss vs {x}"),
                x,
                "eval loss",
                lines(report, |i| &p[i].eval_loss),
                vec![],
            ),
            sized(
                format!("Learning rate vs {x}"),
                x,
                "learning rate",
                lines(report, |i| &p[i].learning_rate),
                rules(report, |i| &p[i].markers),
            ),
            sized(
                format!("Grad norm vs {x}"),
                x,
                "grad norm",
                lines(report, |i| &p[i].grad_norm),
                vec![],
            ),
            Chart {
                hline: Some(1.0),
                ..sized(
                    format!("Loss ÷ baseline loss vs {x}"),
                    x,
                    &format!("loss ÷ {baseline}'s loss"),
                    ratio_lines,
                    vec![],
                )
            },
        ])
        .filter(|c| !c.is_empty() || c.title.starts_with("Training loss"))
        .collect()
}

/// A static chart's class: `replaced` when the interactive charts draw the same metric (the
/// script hides it then); the ratio and trade-off charts stay.
fn chart_class(chart: &Chart) -> &'static str {
    let replaced = ["Training loss", "Eval loss", "Learning rate", "Grad norm"]
        .iter()
        .any(|t| chart.title.starts_with(t));
    if replaced { "chart replaced" } else { "chart" }
}

/// The interactive charts' script: inline, no request outside the file.
const WORKBENCH: &str = include_str!("workbench.js");

/// Points per line embedded for the interactive charts (the exports keep every point).
const EMBEDDED_POINTS: usize = 800;

/// The metrics the interactive charts show: (metric, title with `{x}` for the chosen axis, fixed
/// axis or none, y label).
const WORKBENCH_CHARTS: [(&str, &str, Option<&str>, &str); 5] = [
    ("loss", "Training loss vs {x}", None, "loss"),
    (
        "loss",
        "Training loss vs optimizer steps",
        Some("step"),
        "loss",
    ),
    ("eval_loss", "Eval loss vs {x}", None, "eval loss"),
    (
        "learning_rate",
        "Learning rate vs {x}",
        None,
        "learning rate",
    ),
    ("grad_norm", "Grad norm vs {x}", None, "grad norm"),
];

/// One column of a point: its value or a coordinate.
type Coordinate = dyn Fn(&crate::model::Point) -> Option<f64>;

/// The data the interactive charts draw, as JSON: the axes every run has, each run's label and
/// colour, and per metric the points LTTB keeps (on steps) with every coordinate (`null` where
/// unknown). Numbers with six significant digits; markup characters escaped so no text can end
/// the script element.
fn workbench_data(report: &Report<'_>) -> String {
    use crate::align::Axis;
    let has = |axis: Axis| {
        report.runs.iter().all(|r| {
            r.loss()
                .is_none_or(|s| s.points.iter().any(|p| axis.of(p).is_some()))
        })
    };
    let mut axes: Vec<Axis> = vec![report.aligned.axis, report.aligned.data_axis];
    axes.extend([
        Axis::Samples,
        Axis::Step,
        Axis::Epoch,
        Axis::Tokens,
        Axis::Time,
    ]);
    let mut names: Vec<&str> = Vec::new();
    for a in axes {
        if has(a) && !names.contains(&a.name()) {
            names.push(a.name());
        }
    }
    let log = super::scale::for_values(
        report
            .runs
            .iter()
            .filter_map(|r| r.loss())
            .flat_map(|s| s.points.values().iter().copied()),
        6,
    )
    .log;
    let mut j = String::with_capacity(64 * 1024);
    // `--smooth`: the slider starts there, so the drawn curves are the static charts'.
    let smooth = report
        .aligned
        .smooth
        .map_or_else(|| "null".to_string(), num);
    let _ = write!(
        j,
        "{{\"axes\":{},\"log\":{log},\"smooth\":{smooth},\"charts\":[",
        serde_json::to_string(&names).unwrap_or_default()
    );
    let present = |m: &str| report.runs.iter().any(|r| r.series.contains_key(m));
    let mut first = true;
    for (metric, title, x, y) in WORKBENCH_CHARTS {
        if !present(metric) {
            continue;
        }
        if !first {
            j.push(',');
        }
        first = false;
        let _ = write!(
            j,
            "{{\"metric\":\"{metric}\",\"title\":\"{title}\",\"y\":\"{y}\"{}}}",
            x.map_or_else(String::new, |x| format!(",\"x\":\"{x}\""))
        );
    }
    j.push_str("],\"runs\":[");
    // Each run's part on its own thread: a long run's pass over its points is most of the
    // page's cost.
    let parts: Vec<String> = report
        .runs
        .par_iter()
        .enumerate()
        .map(|(i, run)| {
            let marks = report.view.plots.get(i).map(|p| &p.markers_steps[..]);
            workbench_run(i, run, marks.unwrap_or_default())
        })
        .collect();
    j.push_str(&parts.join(","));
    j.push_str("]}");
    // `<`, `>` and `&` as JSON escapes: no text of a label can end the script element or read
    // as markup.
    j.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// One run's part of [`workbench_data`]: its label and colour, its schedule markers (warmup
/// end, epoch ends) by step, and per metric the points LTTB keeps of its finite values (thinned
/// by step, or for a series kept on the epoch axis by epoch, else by order) with every
/// coordinate. The points are read where they are, not copied: only the kept ones are made.
fn workbench_run(i: usize, run: &Run, marks: &[super::view::Marker]) -> String {
    use crate::model::{Coordinate as C, Point};
    let mut j = String::with_capacity(16 * 1024);
    let number = |j: &mut String, v: Option<f64>| match v.filter(|v| v.is_finite()) {
        Some(v) => j.push_str(&num(v)),
        None => j.push_str("null"),
    };
    let marks: Vec<String> = marks
        .iter()
        .map(|m| {
            format!(
                "{{\"step\":{},\"label\":{}}}",
                num(m.x),
                serde_json::to_string(&m.label).unwrap_or_default()
            )
        })
        .collect();
    let _ = write!(
        j,
        "{{\"label\":{},\"color\":\"{}\",\"marks\":[{}],\"metrics\":{{",
        serde_json::to_string(&run.label).unwrap_or_default(),
        charts::hex(i),
        marks.join(",")
    );
    let mut first = true;
    for metric in ["loss", "eval_loss", "learning_rate", "grad_norm"] {
        let Some(s) = run.series.get(metric) else {
            continue;
        };
        let (points, values) = (&s.points, s.points.values());
        // The finite points' indices, when some are not (most series have none).
        let finite: Option<Vec<usize>> = values.iter().any(|v| !v.is_finite()).then(|| {
            (0..values.len())
                .filter(|&k| values[k].is_finite())
                .collect()
        });
        let index = |k: usize| finite.as_ref().map_or(k, |f| f[k]);
        let len = finite.as_ref().map_or(values.len(), Vec::len);
        let x_of = |k: usize| {
            let at = index(k);
            let step = points.coordinate(C::Step, at);
            if step.is_finite() {
                return step;
            }
            let epoch = points.coordinate(C::Epoch, at);
            if epoch.is_finite() { epoch } else { k as f64 }
        };
        let keep: Vec<Point> =
            super::downsample::lttb_indices(len, |k| (x_of(k), values[index(k)]), EMBEDDED_POINTS)
                .into_iter()
                .filter_map(|k| points.get(index(k)))
                .collect();
        if !first {
            j.push(',');
        }
        first = false;
        let _ = write!(j, "\"{metric}\":{{");
        let columns: [(&str, &Coordinate); 6] = [
            ("value", &|p| Some(p.value)),
            ("step", &|p| Some(p.step).filter(|s| s.is_finite())),
            ("samples", &|p| p.samples.get()),
            ("epoch", &|p| p.epoch.get()),
            ("tokens", &|p| p.tokens.get()),
            ("time", &|p| p.time.get()),
        ];
        let mut first_col = true;
        for (name, get) in columns {
            // A coordinate no point has is left out, not written as a column of nulls.
            if keep.iter().all(|p| get(p).is_none()) {
                continue;
            }
            if !first_col {
                j.push(',');
            }
            first_col = false;
            let _ = write!(j, "\"{name}\":[");
            for (n, p) in keep.iter().enumerate() {
                if n > 0 {
                    j.push(',');
                }
                number(&mut j, get(p));
            }
            j.push(']');
        }
        j.push('}');
    }
    j.push_str("}}");
    j
}

const STYLE: &str = "
body{font-family:-apple-system,'Segoe UI',Roboto,'DejaVu Sans',Arial,sans-serif;margin:0 auto;max-width:1320px;padding:24px;color:#1d232a;background:#fafbfc}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 10px}
.sub{color:#5a6570;margin:0 0 18px}
.finding{background:#fff;border:1px solid #dde2e7;border-left:5px solid #888;border-radius:6px;padding:12px 16px;margin:10px 0}
.finding.error{border-left-color:#c62828}.finding.warning{border-left-color:#ef8f00}.finding.info{border-left-color:#1f77b4}
.badge{display:inline-block;font-size:11px;font-weight:700;text-transform:uppercase;padding:2px 7px;border-radius:3px;color:#fff;margin-right:8px}
.error .badge{background:#c62828}.warning .badge{background:#ef8f00}.info .badge{background:#1f77b4}
.id{font-family:ui-monospace,Menlo,Consolas,monospace;font-weight:600}
.finding p{margin:8px 0;line-height:1.45}
pre.diff{background:#f6f8fa;border:1px solid #e1e4e8;border-radius:4px;padding:8px 12px;margin:8px 0;font-size:13px;overflow-x:auto}
.del{color:#b31d28}.add{color:#22863a;font-weight:600}
.alt{color:#5a6570;font-size:13px}
details{font-size:13px;color:#3a4550}summary{cursor:pointer}
table{border-collapse:collapse;background:#fff;font-size:13px}
th,td{border:1px solid #dde2e7;padding:5px 9px;text-align:right;white-space:nowrap}
th{background:#f0f3f6;font-weight:600}td:first-child,th:first-child{text-align:left}
td[title]{text-decoration:underline dotted #9aa5b1;cursor:help}
td.differs{background:#fff8e1;font-weight:600}td.fix{background:#fdecea;font-weight:700}td .to{color:#22863a}
th{white-space:normal;max-width:110px}
.swatch{display:inline-block;width:11px;height:11px;border-radius:2px;margin-right:6px;vertical-align:-1px}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(560px,1fr));gap:16px}
.chart{background:#fff;border:1px solid #dde2e7;border-radius:6px;padding:6px}
.chart svg{width:100%;height:auto;display:block}
.evidence td{text-align:left;white-space:normal}
footer{margin-top:30px;color:#8a949e;font-size:12px}
.wb-on .replaced{display:none}
.wb-controls{font-size:13px;margin:14px 0 6px}.wb-controls select,.wb-controls input{vertical-align:middle;margin:0 6px}.wb-hint{color:#8a949e}
.wb-legend{display:flex;flex-wrap:wrap;gap:6px 16px;font-size:13px;margin:6px 0}.wb-item{cursor:pointer;user-select:none}.wb-item.off{opacity:.35;text-decoration:line-through}
.wb-notes{font-size:12px;color:#5a6570;min-height:16px}
.wb-chart{position:relative}.wb-chart svg{cursor:crosshair}
.wb-tip{display:none;position:absolute;left:70px;top:34px;background:rgba(255,255,255,.94);border:1px solid #ccd3da;border-radius:4px;padding:4px 8px;font-size:12px;pointer-events:none;max-width:85%}
.wide{overflow-x:auto}
";

/// Renders the page around `charts` (from [`all_charts`]).
pub fn render(report: &Report<'_>, charts: &[Chart]) -> Result<String> {
    let mut h = String::new();
    let labels: Vec<String> = report.runs.iter().map(|r| r.label.clone()).collect();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>losscmp: {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        escape(&labels.join(" vs "))
    );
    let _ = writeln!(h, "<h1>losscmp report</h1>");
    let baseline = escape(&report.runs[report.baseline].label);
    let _ = if report.runs.len() == 1 {
        writeln!(
            h,
            "<p class=\"sub\"><b>{baseline}</b> checked on its own (give a second run to compare with)</p>"
        )
    } else {
        writeln!(
            h,
            "<p class=\"sub\">{} runs compared by {}; baseline <b>{baseline}</b></p>",
            report.runs.len(),
            escape(report.aligned.data_axis.label()),
        )
    };
    verdict(&mut h, report);
    // The headline pair (loss by samples seen, by optimizer steps) right under the verdict;
    // the runs table, the other findings and the other charts after it.
    let (headline, rest) = charts.split_at(charts.len().min(2));
    // The interactive charts (hover, legend, zoom, axes, smoothing) when JavaScript runs; the
    // static SVGs below otherwise (the script hides them once it has drawn its own).
    let _ = writeln!(
        h,
        "<div id=\"workbench\"></div>\n<script type=\"application/json\" id=\"losscmp-data\">{}</script>",
        workbench_data(report)
    );
    let _ = writeln!(h, "<div class=\"charts\">");
    for chart in headline {
        let svg = charts::svg(chart)?;
        let _ = writeln!(h, "<div class=\"{}\">{svg}</div>", chart_class(chart));
    }
    let _ = writeln!(h, "</div>");
    other_findings(&mut h, report);
    compared(&mut h, report);
    runs_table(&mut h, report);
    if !rest.is_empty() {
        let _ = writeln!(h, "<h2>Curves</h2>\n<div class=\"charts\">");
        for chart in rest {
            let svg = charts::svg(chart)?;
            let _ = writeln!(h, "<div class=\"{}\">{svg}</div>", chart_class(chart));
        }
        let _ = writeln!(h, "</div>");
    }
    warnings(&mut h, report);
    let _ = writeln!(h, "<script>{WORKBENCH}</script>");
    let _ = writeln!(
        h,
        "<footer>losscmp {}</footer>\n</body>\n</html>",
        env!("CARGO_PKG_VERSION")
    );
    Ok(h)
}

fn verdict(h: &mut String, report: &Report<'_>) {
    let v = report.verdict;
    let _ = writeln!(h, "<h2>Verdict</h2>");
    if v.causes.is_empty() && v.matches.is_empty() {
        let _ = writeln!(h, "<p>{}</p>", escape(&report.no_cause()));
    }
    for cause in &v.causes {
        let f = &report.findings[cause.finding];
        let sev = f.severity.name();
        let _ = writeln!(
            h,
            "<div class=\"finding {sev}\" id=\"verdict-{}\">",
            escape(&cause.run)
        );
        let _ = writeln!(
            h,
            "<span class=\"badge\">{sev}</span><b>{}</b>: {} <span class=\"id\">{}</span>",
            escape(&cause.run),
            report.headline(cause),
            f.id
        );
        let _ = writeln!(h, "<p>{}</p>", escape(&f.summary));
        changes_diff(h, &cause.changes);
        if let Some(fix) = &f.fix {
            let _ = writeln!(h, "<p><b>Why:</b> {}</p>", escape(&fix.summary));
            for a in &fix.alternatives {
                let _ = writeln!(h, "<p class=\"alt\">Alternative: {}</p>", escape(a));
            }
        }
        if !cause.explains.is_empty() {
            let ids: Vec<&str> = cause
                .explains
                .iter()
                .map(|&i| report.findings[i].id)
                .collect();
            let heading = report.folds_heading(cause);
            let _ = writeln!(
                h,
                "<details><summary>{}{}: {}</summary>",
                heading[..1].to_uppercase(),
                &heading[1..],
                ids.join(", ")
            );
            for &i in &cause.explains {
                finding(h, &report.findings[i], i);
            }
            let _ = writeln!(h, "</details>");
        }
        evidence(h, f);
        let _ = writeln!(h, "</div>");
    }
    for (run, sentence) in &v.matches {
        let _ = writeln!(
            h,
            "<div class=\"finding info\" id=\"verdict-{}\"><span class=\"badge\">ok</span>{}</div>",
            escape(run),
            escape(sentence)
        );
    }
    if let Some((_, sentence)) = &v.better {
        let _ = writeln!(
            h,
            "<div class=\"finding info\" id=\"verdict-better\"><span class=\"badge\">note</span>{}</div>",
            escape(sentence)
        );
    }
    for u in &v.unchecked {
        let missing: Vec<&str> = u.missing.iter().map(|k| k.name()).collect();
        let _ = writeln!(
            h,
            "<p class=\"alt\">Not checked: {} for {}: {} unknown; supply it with <code>{}</code>.</p>",
            u.check,
            escape(&u.run),
            missing.join(", "),
            escape(&u.set)
        );
    }
}

/// The findings that are neither a cause nor folded under one.
fn other_findings(h: &mut String, report: &Report<'_>) {
    let others: Vec<(usize, &Finding)> = report.other_findings().collect();
    if others.is_empty() {
        return;
    }
    let _ = writeln!(h, "<h2>Other findings</h2>");
    for (i, f) in others {
        finding(h, f, i);
    }
}

/// Each pair's comparison, line for line as the terminal prints it.
fn compared(h: &mut String, report: &Report<'_>) {
    let pairs = report.compared();
    if pairs.is_empty() {
        return;
    }
    let _ = writeln!(h, "<h2>Compared</h2>");
    for c in pairs {
        let _ = writeln!(
            h,
            "<p><b>{}</b> vs <b>{}</b></p>\n<ul class=\"compared\">",
            escape(&c.run),
            escape(&c.reference)
        );
        for line in &c.lines {
            let _ = writeln!(h, "<li>{}</li>", escape(line));
        }
        let _ = writeln!(h, "</ul>");
    }
}

/// Config changes as a diff, each with the file to edit where it is known.
fn changes_diff(h: &mut String, changes: &[crate::model::ConfigChange]) {
    if changes.is_empty() {
        return;
    }
    let _ = write!(h, "<pre class=\"diff\">");
    for c in changes {
        let from = c.from.map_or_else(|| "?".to_string(), num);
        let at = c
            .file
            .as_ref()
            .map_or_else(String::new, |f| format!(" — edit {}", escape(f)));
        let _ = write!(
            h,
            "# {}{at}\n<span class=\"del\">- {}: {}</span>\n<span class=\"add\">+ {}: {}</span>\n",
            escape(&c.run),
            escape(&c.option),
            from,
            escape(&c.option),
            num(c.to)
        );
    }
    let _ = writeln!(h, "</pre>");
}

fn evidence(h: &mut String, f: &Finding) {
    if f.evidence.is_empty() {
        return;
    }
    let _ = writeln!(
        h,
        "<details><summary>Evidence ({} values)</summary><table class=\"evidence\">",
        f.evidence.len()
    );
    for e in &f.evidence {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&e.name),
            num(e.value),
            escape(&e.source.to_string())
        );
    }
    let _ = writeln!(h, "</table></details>");
}

fn finding(h: &mut String, f: &Finding, n: usize) {
    let sev = f.severity.name();
    let _ = writeln!(h, "<div class=\"finding {sev}\" id=\"{}-{n}\">", f.id);
    let _ = writeln!(
        h,
        "<span class=\"badge\">{sev}</span><span class=\"id\">{}</span> <span class=\"alt\">{}</span>",
        f.id,
        escape(&f.runs.join(" vs "))
    );
    let _ = writeln!(h, "<p>{}</p>", escape(&f.summary));
    if let Some(fix) = &f.fix {
        let _ = writeln!(h, "<p><b>Fix:</b> {}</p>", escape(&fix.summary));
        changes_diff(h, &fix.changes);
        for a in &fix.alternatives {
            let _ = writeln!(h, "<p class=\"alt\">Alternative: {}</p>", escape(a));
        }
    }
    evidence(h, f);
    let _ = writeln!(h, "</div>");
}

/// A configuration cell: the value with its source on hover; `differs` when the runs do not all
/// agree on it (W&B's "diff only" habit), `fix` (with the change) when the verdict changes it.
fn cell(report: &Report<'_>, run: &Run, key: Key) -> String {
    let values: Vec<Option<String>> = report
        .runs
        .iter()
        .map(|r| r.config.get(key).map(|v| v.value.to_string()))
        .collect();
    let differs = values.windows(2).any(|w| w[0] != w[1]);
    let change = fix_for(report, run, key);
    let class = match (differs, change.is_some()) {
        (_, true) => " class=\"fix\"",
        (true, false) => " class=\"differs\"",
        _ => "",
    };
    let marker = change.map_or_else(String::new, |c| {
        format!(" <span class=\"to\">→ {}</span>", num(c.to))
    });
    match (run.config.get(key), super::view::table_value(run, key)) {
        (Some(v), Some(shown)) => format!(
            "<td{class} title=\"{}\">{}{marker}</td>",
            escape(&v.source.to_string()),
            escape(&shown)
        ),
        _ => format!("<td{class} title=\"not in the logs\">—{marker}</td>"),
    }
}

/// The verdict's change of `key` for `run`, if it makes one.
fn fix_for<'a>(
    report: &'a Report<'_>,
    run: &Run,
    key: Key,
) -> Option<&'a crate::model::ConfigChange> {
    let option = crate::diagnose::options::Trainer::of(run).option(key)?;
    report
        .verdict
        .causes
        .iter()
        .filter(|c| c.run == run.label)
        .flat_map(|c| c.changes.iter())
        .find(|c| c.option == option)
}

fn runs_table(h: &mut String, report: &Report<'_>) {
    let _ = writeln!(
        h,
        "<h2>Runs</h2>\n<div class=\"wide\"><table>\n<tr><th>run</th>{}<th>samples at final loss</th><th>final train loss</th><th>final eval loss</th><th>samples/s</th></tr>",
        super::view::TABLE_KEYS
            .iter()
            .map(|&k| format!("<th>{}</th>", super::view::title(k)))
            .collect::<String>()
    );
    for (i, run) in report.runs.iter().enumerate() {
        let _ = write!(
            h,
            "<tr><td title=\"{}\"><span class=\"swatch\" style=\"background:{}\"></span>{}{}</td>",
            escape(&run.path),
            charts::hex(i),
            escape(&run.label),
            if i == report.baseline && report.runs.len() > 1 {
                " (baseline)"
            } else {
                ""
            }
        );
        for key in super::view::TABLE_KEYS {
            h.push_str(&cell(report, run, key));
        }
        let last = |m: &str| {
            let s = run.series.get(m)?;
            Some((s, report.view.summary(i, m)?.final_point?))
        };
        match last("loss") {
            Some((s, p)) => {
                let at = s.origin(&p).to_string();
                // The samples seen when the last training loss was logged: not steps × batch
                // when the run went on past its last logged loss.
                let _ = write!(
                    h,
                    "<td title=\"at step {}\">{}</td><td title=\"{}\">{}</td>",
                    count(p.step),
                    p.samples.get().map_or_else(|| "—".into(), count),
                    escape(&at),
                    num(p.value)
                );
            }
            None => h.push_str("<td>—</td><td>—</td>"),
        }
        match last("eval_loss") {
            Some((s, p)) => {
                let at = s.origin(&p).to_string();
                let _ = write!(h, "<td title=\"{}\">{}</td>", escape(&at), num(p.value));
            }
            None => h.push_str("<td>—</td>"),
        }
        h.push_str(&cell(report, run, Key::TrainSamplesPerSecond));
        let _ = writeln!(h, "</tr>");
    }
    let _ = writeln!(h, "</table></div>");
}

fn warnings(h: &mut String, report: &Report<'_>) {
    let all: Vec<String> = report.warnings();
    if all.is_empty() {
        return;
    }
    let _ = writeln!(h, "<h2>Reading notes</h2>\n<ul>");
    for w in all {
        let _ = writeln!(h, "<li>{}</li>", escape(&w));
    }
    let _ = writeln!(h, "</ul>");
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_markup() {
        assert_eq!(
            super::escape("<script>alert('x')</script> & \"y\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;y&quot;"
        );
        assert_eq!(super::escape("a\u{1b}b"), "a\\u{1b}b");
    }
}
