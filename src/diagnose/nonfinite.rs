//! `nonfinite-loss`: NaN or infinite values in a run's loss or eval loss (error: training broke,
//! usually fp16 overflow or a bad batch). `nonfinite-grad-norm`: the same in its grad norm
//! (warning: with a loss scaler, overflowed steps are skipped, but many of them stall training).
//! Each reports the count and the first point.

use super::{Context, logged};
use crate::model::{Finding, Severity};

/// Checks every run.
pub fn check(ctx: &Context<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for run in ctx.runs {
        let loss_broken = run
            .series
            .get("loss")
            .is_some_and(|s| s.points.values().iter().any(|v| !v.is_finite()));
        for (metric, id, severity) in [
            ("loss", "nonfinite-loss", Severity::Error),
            ("eval_loss", "nonfinite-loss", Severity::Error),
            ("grad_norm", "nonfinite-grad-norm", Severity::Warning),
        ] {
            let Some(series) = run.series.get(metric) else {
                continue;
            };
            let values = series.points.values();
            let bad = values.iter().filter(|v| !v.is_finite()).count();
            let Some(first) = values
                .iter()
                .position(|v| !v.is_finite())
                .and_then(|i| series.points.get(i))
            else {
                continue;
            };
            out.push(Finding {
                id,
                severity,
                runs: vec![run.label.clone()],
                subject: Some(run.label.clone()),
                summary: format!(
                    "{} logged {} non-finite {metric} {} out of {}, the first at {} ({}).{}",
                    run.label,
                    bad,
                    if bad == 1 { "value" } else { "values" },
                    series.points.len(),
                    first.position(),
                    series.origin(&first),
                    if metric == "grad_norm" && !loss_broken {
                        " Its loss stayed finite: with fp16's loss scaler a step whose gradients overflow is skipped, and many skipped steps stall training."
                    } else {
                        ""
                    }
                ),
                evidence: vec![logged(run, metric, first)],
                fix: Some(crate::model::Fix {
                    summary: "Check for fp16 overflow (use bf16, or lower the learning rate), clip gradients (max_grad_norm), and look for bad examples around that step.".into(),
                    changes: vec![],
                    alternatives: vec![],
                }),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::diagnose::synthetic::{findings, run, set_series};
    use crate::model::Severity;

    /// Overflowed grad norms with a finite loss: their own warning, named for the grad norm, and
    /// the run's cause; with a broken loss too, the loss is the cause.
    #[test]
    fn grad_norms_alone_are_not_called_a_non_finite_loss() {
        let mut scaled = run("scaled", 16.0, 100, 2, |s| 2.0 / (1.0 + s / 10.0));
        set_series(&mut scaled, "grad_norm", 2, 100, |s| {
            if s == 20.0 || s == 40.0 {
                f64::INFINITY
            } else {
                1.0
            }
        });
        let found = findings(std::slice::from_ref(&scaled));
        let ids: Vec<&str> = found.iter().map(|f| f.id).collect();
        assert!(!ids.contains(&"nonfinite-loss"), "{ids:?}");
        let f = found
            .iter()
            .find(|f| f.id == "nonfinite-grad-norm")
            .expect("grad norm finding");
        assert_eq!(f.severity, Severity::Warning);
        assert!(
            f.summary
                .contains("2 non-finite grad_norm values out of 50, the first at step 20"),
            "{}",
            f.summary
        );
        assert!(
            f.summary.contains("Its loss stayed finite"),
            "{}",
            f.summary
        );

        let mut broken = run("broken", 16.0, 100, 2, |s| {
            if s == 30.0 { f64::NAN } else { 1.0 }
        });
        set_series(&mut broken, "grad_norm", 2, 100, |s| {
            if s == 30.0 { f64::NAN } else { 1.0 }
        });
        let found = findings(std::slice::from_ref(&broken));
        let g = found
            .iter()
            .find(|f| f.id == "nonfinite-grad-norm")
            .expect("grad norm finding");
        assert!(!g.summary.contains("stayed finite"), "{}", g.summary);
        assert!(found.iter().any(|f| f.id == "nonfinite-loss"));
    }
}
