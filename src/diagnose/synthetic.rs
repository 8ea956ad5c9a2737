//! Synthetic runs for the checks' unit tests: a configuration and curves given as functions of
//! the step, so each check can be tested on the exact shape it looks for.

use std::collections::BTreeMap;

use crate::align::{AlignOptions, Aligned, Axis, align};
use crate::model::{ConfigValue, Key, Locator, Point, Provenance, Run, RunConfig, Series, Sourced};

use super::{Context, DiagnoseOptions};

/// A run with the given effective batch and steps, logging every `every` steps.
pub fn run(label: &str, batch: f64, steps: u32, every: u32, loss: impl Fn(f64) -> f64) -> Run {
    let mut config = RunConfig::default();
    let src = Provenance::Assumed("synthetic".into());
    for (k, v) in [
        (Key::EffectiveBatch, batch),
        (Key::TotalSteps, f64::from(steps)),
        (Key::LearningRate, 1e-3),
    ] {
        config
            .values
            .insert(k, Sourced::new(ConfigValue::Number(v), src.clone()));
    }
    let mut r = Run {
        label: label.into(),
        path: label.into(),
        sources: vec![],
        config,
        series: BTreeMap::new(),
        warnings: vec![],
        planned: false,
        crashed: None,
        stopped_early: None,
    };
    set_series(&mut r, "loss", every, steps, loss);
    r
}

/// Sets a config value.
pub fn with(mut r: Run, key: Key, v: f64) -> Run {
    r.config.values.insert(
        key,
        Sourced::new(
            ConfigValue::Number(v),
            Provenance::Assumed("synthetic".into()),
        ),
    );
    r
}

/// Adds or replaces a metric series logged every `every` steps up to `steps`.
pub fn set_series(r: &mut Run, name: &str, every: u32, steps: u32, f: impl Fn(f64) -> f64) {
    let batch = r.config.num(Key::EffectiveBatch).unwrap_or(1.0);
    let points = (1..=steps / every)
        .map(|i| {
            let step = f64::from(i * every);
            Point {
                samples: Some(step * batch).into(),
                ..Point::at_step(step, f(step), i)
            }
        })
        .collect();
    r.series.insert(
        name.into(),
        Series {
            name: name.into(),
            points,
            source: format!("{}/synthetic.json", r.label),
            locator: Locator::Line,
            step_origin: "logged".into(),
            also_in: vec![],
            extended: 0,
            dropped_duplicates: 0,
        },
    );
}

/// Aligns and diagnoses `runs` against the first; returns the finding ids and severities.
pub fn diagnose(runs: &[Run]) -> Vec<(&'static str, crate::model::Severity)> {
    findings(runs)
        .into_iter()
        .map(|f| (f.id, f.severity))
        .collect()
}

/// Aligns and diagnoses `runs` against the first; returns the findings.
pub fn findings(runs: &[Run]) -> Vec<crate::model::Finding> {
    in_context(runs, super::diagnose)
}

/// Aligns and diagnoses `runs` against the first; returns the verdict and the findings as it
/// leaves them.
pub fn judged(runs: &[Run]) -> (crate::model::Verdict, Vec<crate::model::Finding>) {
    in_context(runs, |ctx| {
        let mut findings = super::diagnose(ctx);
        (super::verdict(ctx, &mut findings), findings)
    })
}

/// `f` of `runs` aligned by samples against the first, at the default 5% tolerance.
fn in_context<T>(runs: &[Run], f: impl FnOnce(&Context<'_>) -> T) -> T {
    let aligned: Aligned = align(
        runs,
        0,
        AlignOptions {
            axis: Axis::Samples,
            chosen: false,
            smooth: None,
        },
    );
    f(&Context::new(
        runs,
        &aligned,
        0,
        DiagnoseOptions { tolerance: 0.05 },
        None,
    ))
}

/// Whether `id` is among the findings.
pub fn has(found: &[(&'static str, crate::model::Severity)], id: &str) -> bool {
    found.iter().any(|(i, _)| *i == id)
}
