//! The JSON output (`--json`), schema version 2, documented in docs/json.md. Keys are sorted;
//! non-finite numbers are written as `null` (JSON has no NaN), everything else as logged.

use rayon::prelude::*;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

use super::Report;
use crate::align::Overlap;
use crate::model::{ConfigChange, ConfigValue, Finding, Key, Run};

/// The schema version; bumped on any incompatible change.
pub const SCHEMA_VERSION: u32 = 2;

/// Renders the report as pretty-printed JSON with a trailing newline.
pub fn render(report: &Report<'_>) -> String {
    // Each run's part (its summaries scan its series, and it is most of the document) is built
    // and written out in parallel, then placed as it is.
    let runs: Vec<Box<RawValue>> = report
        .runs
        .par_iter()
        .enumerate()
        .map(|(i, r)| nested(&run(r, &report.view.summaries[i]), RUN_DEPTH))
        .collect();
    let comparisons: Vec<Value> = report
        .aligned
        .pairs
        .iter()
        .map(|p| {
            json!({
                "reference": report.runs[p.reference].label,
                "run": report.runs[p.run].label,
                "matched_samples": p.by_data.as_ref().map(overlap),
                "matched_steps": p.by_steps.as_ref().map(overlap),
                // Where each run reaches the target on the data axis (`axis`), and in samples
                // only when that axis is samples: an epoch or a step is not a sample count.
                "target": p.target.as_ref().map(|t| {
                    let samples = report.aligned.data_axis == crate::align::Axis::Samples;
                    json!({
                        "loss": t.loss,
                        "axis": report.aligned.data_axis.name(),
                        "reference_at": t.reference_samples,
                        "run_at": t.run_samples,
                        "reference_samples": samples.then_some(t.reference_samples),
                        "run_samples": samples.then_some(t.run_samples),
                        "reference_steps": t.reference_steps,
                        "run_steps": t.run_steps,
                    })
                }),
            })
        })
        .collect();
    let doc = Document {
        axis: report.aligned.axis.name(),
        baseline: &report.runs[report.baseline].label,
        comparisons,
        data_axis: report.aligned.data_axis.name(),
        findings: report
            .findings
            .iter()
            .enumerate()
            .map(|(i, f)| finding(report, i, f))
            .collect(),
        runs,
        schema_version: SCHEMA_VERSION,
        sweep: report.sweep.map_or(Value::Null, sweep),
        verdict: verdict(report),
        warnings: report.warnings(),
    };
    let mut s = serde_json::to_string_pretty(&doc).expect("the document always serialises");
    s.push('\n');
    super::text::json_escapes(s)
}

/// The document's top level, its keys in sorted order (as a `serde_json::Map` sorts them).
#[derive(serde::Serialize)]
struct Document<'a> {
    axis: &'a str,
    baseline: &'a str,
    comparisons: Vec<Value>,
    data_axis: &'a str,
    findings: Vec<Value>,
    runs: Vec<Box<RawValue>>,
    schema_version: u32,
    sweep: Value,
    verdict: Value,
    warnings: Vec<String>,
}

/// How deep a run's object sits in the document: in `runs`, in the top-level object.
const RUN_DEPTH: usize = 2;

/// `value` pretty-printed as it reads at `depth` in the document: its lines after the first
/// indented by the pretty printer's two spaces a level (a JSON string holds no raw newline).
fn nested(value: &Value, depth: usize) -> Box<RawValue> {
    let alone = serde_json::to_string_pretty(value).expect("a serde_json::Value always serialises");
    let indent = "  ".repeat(depth);
    let mut text = String::with_capacity(alone.len() + alone.len() / 8);
    for (i, line) in alone.split('\n').enumerate() {
        if i > 0 {
            text.push('\n');
            text.push_str(&indent);
        }
        text.push_str(line);
    }
    RawValue::from_string(text).expect("serde_json wrote valid JSON")
}

fn num(x: f64) -> Value {
    serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
}

fn run(r: &Run, summaries: &std::collections::BTreeMap<String, crate::model::Summary>) -> Value {
    let mut config = Map::new();
    for key in Key::ALL {
        let entry = match r.config.get(key) {
            Some(v) => json!({
                "value": match &v.value { ConfigValue::Number(x) => num(*x), ConfigValue::Text(s) => Value::String(s.clone()) },
                "source": v.source.to_string(),
            }),
            None if super::view::CORE_KEYS.contains(&key) => {
                json!({"value": null, "source": "unknown"})
            }
            None => continue,
        };
        config.insert(key.name().to_string(), entry);
    }
    let mut metrics = Map::new();
    for (name, s) in &r.series {
        let Some(sum) = summaries.get(name).cloned() else {
            continue;
        };
        let fin = sum.final_point;
        metrics.insert(
            name.clone(),
            json!({
                "points": sum.points,
                "final": fin.map(|p| num(p.value)),
                "final_step": fin.map(|p| num(p.step)),
                "final_samples": fin.and_then(|p| p.samples.get()).map(num),
                "last_step": sum.last.map(|p| num(p.step)),
                "min": sum.min.map(num),
                "nonfinite": sum.nonfinite,
                "source": s.source,
                "step_origin": s.step_origin,
                "also_in": s.also_in,
                "extended_points": s.extended,
                "dropped_duplicates": s.dropped_duplicates,
            }),
        );
    }
    let mut out = json!({
        "label": r.label,
        "path": r.path,
        "planned": r.planned,
    });
    out["sources"] = r
        .sources
        .iter()
        .map(|s| json!({"path": s.path, "format": s.format.unwrap_or("skipped"), "note": s.note}))
        .collect();
    out["config"] = Value::Object(config);
    out["metrics"] = Value::Object(metrics);
    out
}

fn overlap(o: &Overlap) -> Value {
    json!({
        "axis": o.axis.name(),
        "start": num(o.start),
        "end": num(o.end),
        "last_from": num(o.last_from),
        "reference_at_end": num(o.reference_at_end),
        "run_at_end": num(o.run_at_end),
        "ratio_last_quarter": num(o.ratio_last),
        "gap_last_quarter": num(o.gap_last),
        "ratio_overall": num(o.ratio_all),
        "mean_abs_gap": num(o.mean_abs_gap),
    })
}

/// The batch-size sweep's fits, per target loss.
fn sweep(s: &crate::diagnose::sweep::Sweep) -> Value {
    json!({
        "runs": s.used,
        "left_out": s.left_out.iter().map(|(drop, keep)| json!({"run": drop, "kept": keep})).collect::<Vec<_>>(),
        "fits": s.fits.iter().map(|f| json!({
            "loss": num(f.loss),
            "b_crit": num(f.b_crit),
            "b_crit_low": f.low.map(num),
            "b_crit_high": f.high.map(num),
            "s_min": num(f.s_min),
            "e_min": num(f.e_min),
            "reach": f.reach.iter().map(|r| json!({
                "run": r.run, "batch": num(r.batch), "steps": num(r.steps), "samples": num(r.samples),
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

fn change(c: &ConfigChange) -> Value {
    json!({"from": c.from.map(num), "to": num(c.to), "run": c.run, "file": c.file})
}

/// Per run that needs a change: its cause (a finding index), the changes, what it explains;
/// matches and unchecked checks.
fn verdict(report: &Report<'_>) -> Value {
    let v = report.verdict;
    json!({
        "causes": v.causes.iter().map(|c| {
            let mut changes = Map::new();
            for ch in &c.changes {
                changes.insert(ch.option.clone(), change(ch));
            }
            json!({
                "run": c.run,
                "finding": c.finding,
                "id": report.findings[c.finding].id,
                "severity": report.findings[c.finding].severity.name(),
                "summary": report.findings[c.finding].summary,
                "changes": changes,
                "explains": c.explains.iter().map(|&i| json!({"finding": i, "id": report.findings[i].id})).collect::<Vec<_>>(),
            })
        }).collect::<Vec<_>>(),
        "matches": v.matches.iter().map(|(run, text)| json!({"run": run, "summary": text})).collect::<Vec<_>>(),
        "better": v.better.as_ref().map(|(runs, text)| json!({"runs": runs, "summary": text})),
        "unchecked": v.unchecked.iter().map(|u| json!({
            "check": u.check,
            "run": u.run,
            "missing": u.missing.iter().map(|k| k.name()).collect::<Vec<_>>(),
            "set": u.set,
        })).collect::<Vec<_>>(),
    })
}

fn finding(report: &Report<'_>, i: usize, f: &Finding) -> Value {
    json!({
        "id": f.id,
        "severity": f.severity.name(),
        "runs": f.runs,
        "subject": f.subject,
        "planned": f.subject.as_ref().is_some_and(|s| report.runs.iter().any(|r| &r.label == s && r.planned)),
        "explained_by": report.folded_into(i).map(|c| c.finding),
        "summary": f.summary,
        "evidence": f.evidence.iter().map(|e| json!({"name": e.name, "value": num(e.value), "source": e.source.to_string()})).collect::<Vec<_>>(),
        "fix": f.fix.as_ref().map(|fix| {
            let mut changes = Map::new();
            for c in &fix.changes {
                changes.insert(c.option.clone(), change(c));
            }
            json!({"summary": fix.summary, "changes": changes, "alternatives": fix.alternatives})
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_part_written_alone_reads_as_written_in_place() {
        let part = json!({
            "config": {"source": "a.log: line 3 (x)\nnot a line", "value": 1.5},
            "empty": {}, "none": [], "list": [1, [2, {"deep": "x"}]], "text": "tab\tend",
        });
        #[derive(serde::Serialize)]
        struct Doc {
            a: u32,
            runs: Vec<Box<RawValue>>,
        }
        let alone = Doc {
            a: 1,
            runs: vec![nested(&part, RUN_DEPTH), nested(&json!([]), RUN_DEPTH)],
        };
        let whole = json!({"a": 1, "runs": [part, []]});
        assert_eq!(
            serde_json::to_string_pretty(&alone).expect("serialises"),
            serde_json::to_string_pretty(&whole).expect("serialises")
        );
    }
}
