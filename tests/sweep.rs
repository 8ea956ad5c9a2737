//! Issue 18: the critical batch from a real sweep (fixtures/sweep: LLaMA-Factory runs at
//! effective batch 2…256 on one task, one with a second learning rate at batch 128).

mod common;

use std::path::Path;

use common::{json_of, losscmp, predicate, sweep_runs};
use serde_json::Value;

/// Steps to `target` straight from a run's trainer_state.json, with the definition the docs
/// give (forward and backward EMAs of weight 0.6 per logged point, averaged; the first crossing
/// interpolated between logged points): computed here, not by losscmp.
fn steps_to(run: &str, target: f64) -> Option<f64> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(run)
        .join("trainer_state.json");
    let state: Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    let (steps, losses): (Vec<f64>, Vec<f64>) = state["log_history"]
        .as_array()?
        .iter()
        .filter_map(|e| Some((e["step"].as_f64()?, e["loss"].as_f64()?)))
        .unzip();
    let ema = |xs: Vec<f64>| -> Vec<f64> {
        let mut m = xs[0];
        xs.iter()
            .map(|&x| {
                m = 0.6 * m + 0.4 * x;
                m
            })
            .collect()
    };
    let forward = ema(losses.clone());
    let backward: Vec<f64> = ema(losses.into_iter().rev().collect())
        .into_iter()
        .rev()
        .collect();
    let smoothed: Vec<f64> = forward
        .iter()
        .zip(&backward)
        .map(|(f, b)| (f + b) / 2.0)
        .collect();
    let i = smoothed.iter().position(|&v| v <= target)?;
    if i == 0 {
        return Some(steps[0]);
    }
    let (s0, s1, v0, v1) = (steps[i - 1], steps[i], smoothed[i - 1], smoothed[i]);
    Some(s0 + (s1 - s0) * (v0 - target) / (v0 - v1))
}

/// B_crit by least squares of ln S on ln(S_min (1 + B_crit/B)), on a fine grid: the textbook
/// fit, written here independently of losscmp.
fn direct_fit(points: &[(f64, f64)]) -> f64 {
    let (mut best, mut best_e) = (0.0, f64::INFINITY);
    for i in 0..=20_000 {
        let bc = (0.01f64.ln() + (1e5f64.ln() - 0.01f64.ln()) * f64::from(i) / 20_000.0).exp();
        let r: Vec<f64> = points
            .iter()
            .map(|(b, s)| s.ln() - (1.0 + bc / b).ln())
            .collect();
        let m = r.iter().sum::<f64>() / r.len() as f64;
        let e: f64 = r.iter().map(|x| (x - m).powi(2)).sum();
        if e < best_e {
            (best, best_e) = (bc, e);
        }
    }
    best
}

#[test]
fn the_sweep_fit_agrees_with_a_direct_fit_within_its_interval() {
    let runs = sweep_runs();
    assert!(runs.len() >= 8, "{runs:?}");
    let args: Vec<&str> = runs.iter().map(String::as_str).collect();
    let doc = json_of(&args);
    let sweep = &doc["sweep"];
    let fits = sweep["fits"].as_array().expect("fits");
    assert!(fits.len() >= 3, "{sweep}");
    // One run per batch: the second learning rate at batch 128 is named as left out.
    let left = sweep["left_out"].as_array().expect("left_out");
    assert_eq!(left.len(), runs.len() - 8, "{left:?}");
    for f in fits {
        let loss = f["loss"].as_f64().expect("loss");
        let b_crit = f["b_crit"].as_f64().expect("b_crit");
        let (low, high) = (f["b_crit_low"].as_f64(), f["b_crit_high"].as_f64());
        let used: Vec<(f64, f64)> = f["reach"]
            .as_array()
            .expect("reach")
            .iter()
            .map(|r| {
                let run = format!("fixtures/sweep/{}", r["run"].as_str().expect("run"));
                let steps = steps_to(&run, loss).expect("every run reaches every target");
                // losscmp's steps-to-target are the ones computed here.
                let got = r["steps"].as_f64().expect("steps");
                assert!(
                    (got - steps).abs() <= 1e-6 * steps.max(1.0),
                    "{run} at {loss}: {got} vs {steps}"
                );
                (r["batch"].as_f64().expect("batch"), steps)
            })
            .collect();
        let direct = direct_fit(&used);
        let (lo, hi) = (low.unwrap_or(0.0), high.unwrap_or(f64::INFINITY));
        assert!(
            lo <= direct && direct <= hi,
            "loss {loss}: direct fit {direct} outside [{lo}, {hi}]"
        );
        assert!(
            (direct / b_crit - 1.0).abs() < 0.02,
            "loss {loss}: {direct} vs {b_crit}"
        );
    }
}

#[test]
fn the_report_draws_the_trade_off_and_recommends_a_batch() {
    let runs = sweep_runs();
    let dir = tempfile::tempdir().expect("temp dir");
    let html = dir.path().join("sweep.html");
    let out = losscmp()
        .args(&runs)
        .arg("--out")
        .arg(&html)
        .assert()
        .success()
        .stdout(predicate::str::contains("critical-batch-size"))
        .stdout(predicate::str::contains(
            "Recommendation: by the fit, batch",
        ));
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    // Its ratios are the fit's, to the fitted minimums it names: 1 + B_crit/B and 1 + B/B_crit
    // for the recommended batches at the lowest target.
    let args: Vec<&str> = runs.iter().map(String::as_str).collect();
    let doc = json_of(&args);
    let fits = doc["sweep"]["fits"].as_array().expect("fits");
    let last = fits.last().expect("a fit");
    let (bc, s_min) = (
        last["b_crit"].as_f64().expect("b_crit"),
        last["s_min"].as_f64().expect("s_min"),
    );
    let (lo, hi) = (16.0, 32.0);
    let steps = format!(
        "batches 16–32 reach loss {} in about {:.1}–{:.1}× the fitted minimum steps (S_min ≈ {})",
        text.split("batches 16–32 reach loss ")
            .nth(1)
            .and_then(|t| t.split(' ').next())
            .expect("the recommendation's loss"),
        1.0 + bc / hi,
        1.0 + bc / lo,
        s_min.round()
    );
    assert!(text.contains(&steps), "{steps}\n{text}");
    let samples = format!(
        "{:.1}–{:.1}× the fitted minimum samples",
        1.0 + lo / bc,
        1.0 + hi / bc
    );
    assert!(text.contains(&samples), "{samples}\n{text}");
    // One finding for the sweep, not one per pair.
    assert_eq!(text.matches("critical-batch-size  [").count(), 1, "{text}");
    let page = std::fs::read_to_string(&html).expect("written");
    assert!(
        page.contains("Steps vs samples to loss"),
        "the trade-off chart"
    );
    assert!(page.contains("B_crit ≈"), "B_crit marked");
}

#[test]
fn two_runs_give_an_interval_or_say_what_they_cannot() {
    let doc = json_of(&["fixtures/lf_1gpu_ga8", "fixtures/lf_8proc_ga8"]);
    assert!(doc["sweep"].is_null());
    let f = common::finding(&doc, "critical-batch-size");
    let s = f["summary"].as_str().expect("summary");
    assert!(
        s.contains("at most about") && s.contains("cannot bound it from below"),
        "{s}"
    );
}
