//! `run-crashed`: a run whose console log ends with a Python exception after its last metric
//! record (out of memory, an NCCL timeout, a rank killed), or with slurm's line saying it
//! cancelled the job (its time limit). Severity warning: its last values
//! are where it stopped, not where training would have gone, and a nightly gate must not pass
//! it as "matches the baseline". Info when the exception came after the end-of-training summary
//! (training had finished; the process died on its way out).
//!
//! `run-cut-short`: a run whose training loss stops well short of its planned steps with no
//! end-of-training summary and no exception (killed by a signal or the scheduler, hung, still
//! running, or a checkpoint's logs). A warning for the same reason; `--follow` does not stop on
//! it while the run still grows.

use super::{Context, config_evidence};
use crate::model::{At, Evidence, Finding, Key, Provenance, Severity, format_count, format_share};

/// Checks every run.
pub fn check(ctx: &Context<'_>) -> Vec<Finding> {
    ctx.runs
        .iter()
        .filter_map(|run| {
            let Some(c) = run.crashed.as_ref() else {
                return cut_short(run);
            };
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
                        "{} {}: {said}.{stopped} Its last values are where it stopped, not a finished run's.",
                        run.label,
                        if c.cancelled {
                            "was stopped by its scheduler"
                        } else {
                            "crashed"
                        }
                    )
                },
                evidence: vec![Evidence {
                    name: format!("exception_line[{}]", run.label),
                    value: c.line as f64,
                    source: Provenance::file(
                        c.path.clone(),
                        At::line(
                            c.line,
                            if c.cancelled {
                                "slurm's cancel line"
                            } else {
                                "Python exception"
                            },
                        ),
                    ),
                }],
                fix: None,
            })
        })
        .collect()
}

/// The id `--follow` leaves out of `--fail-on` while a run still grows.
pub const CUT_SHORT: &str = "run-cut-short";

/// A run whose loss stops short of its plan with no summary and no exception, as a finding.
fn cut_short(run: &crate::model::Run) -> Option<Finding> {
    if run.planned {
        return None;
    }
    let (last, total) = run.stopped_short()?;
    let loss = run.loss()?;
    let point = loss.points.last()?;
    let mut evidence = vec![super::logged(run, "loss", point)];
    evidence.extend(config_evidence(run, Key::TotalSteps));
    let (last, total, share) = (
        format_count(last),
        format_count(total),
        format_share(last, total),
    );
    // A checkpoint's state, given as the run: where it stops is known, and chosen.
    let checkpoint = run.loss_from_checkpoint();
    Some(Finding {
        id: CUT_SHORT,
        severity: if checkpoint {
            Severity::Info
        } else {
            Severity::Warning
        },
        runs: vec![run.label.clone()],
        subject: Some(run.label.clone()),
        summary: if checkpoint {
            format!(
                "{}'s training loss is a checkpoint's: it stops at step {last} of {total} ({share}), where the checkpoint was saved. Its last values are the checkpoint's, not a finished run's.",
                run.label
            )
        } else {
            format!(
                "{}'s training loss stops at step {last} of {total} ({share}) and its logs have no end-of-training summary: the run was cut short (killed, hung), is still running, or these are a checkpoint's logs. Its last values are where it stopped, not a finished run's.",
                run.label
            )
        },
        evidence,
        fix: None,
    })
}
