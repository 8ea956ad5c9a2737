//! `run-crashed`: a run whose console log ends with a Python exception after its last metric
//! record (out of memory, an NCCL timeout, a rank killed). Severity warning: its last values
//! are where it stopped, not where training would have gone, and a nightly gate must not pass
//! it as "matches the baseline". Info when the exception came after the end-of-training summary
//! (training had finished; the process died on its way out).

use super::Context;
use crate::model::{At, Evidence, Finding, Provenance, Severity};

/// Checks every run.
pub fn check(ctx: &Context<'_>) -> Vec<Finding> {
    ctx.runs
        .iter()
        .filter_map(|run| {
            let c = run.crashed.as_ref()?;
            let said = c.sentence();
            let said = said.trim_end_matches('.');
            let finished = c.after_summary.is_some();
            let stopped = run
                .loss()
                .and_then(|s| s.last_finite())
                .map(|p| format!(" Its last training loss is at {}.", p.position()))
                .unwrap_or_default();
            Some(Finding {
                id: "run-crashed",
                severity: if finished {
                    Severity::Info
                } else {
                    Severity::Warning
                },
                runs: vec![run.label.clone()],
                subject: Some(run.label.clone()),
                summary: if finished {
                    format!(
                        "{} crashed on its way out: {said}.",
                        run.label
                    )
                } else {
                    format!(
                        "{} crashed: {said}.{stopped} Its last values are where it stopped, not a finished run's.",
                        run.label
                    )
                },
                evidence: vec![Evidence {
                    name: format!("exception_line[{}]", run.label),
                    value: c.line as f64,
                    source: Provenance::file(c.path.clone(), At::line(c.line, "Python exception")),
                }],
                fix: None,
            })
        })
        .collect()
}
