//! End-to-end: the diagnoses on the real fixture pairs, exit codes and the JSON findings.

mod common;

use common::predicate;
use common::{finding_ids, json_of, losscmp, sweep_runs, text_of};

#[test]
fn the_8_process_run_with_ga_8_is_diagnosed_in_the_first_lines() {
    let out = losscmp()
        .args(["fixtures/lf_1gpu_ga8", "fixtures/lf_8proc_ga8"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0), "no --fail-on: exit 0");
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let head: String = text.lines().take(8).collect::<Vec<_>>().join("\n");
    assert!(
        head.contains(
            "error   lf_8proc_ga8: short of optimizer updates  [oversized-effective-batch]"
        ),
        "{head}"
    );
    assert!(
        head.contains("used an 8× larger effective batch than lf_1gpu_ga8 (128 vs 16"),
        "{head}"
    );
    assert!(
        head.contains("made 8× fewer optimizer updates (48 vs 384)"),
        "{head}"
    );
    assert!(
        head.contains("At 6,144 samples seen its loss is 0.521622 vs 0.001163 (449×)"),
        "{head}"
    );
    assert!(
        head.contains(
            "change: gradient_accumulation_steps: 8 → 1   (edit fixtures/lf_8proc_ga8/config.yaml: line 32 (gradient_accumulation_steps))"
        ),
        "{head}"
    );
}

#[test]
fn fail_on_error_separates_the_broken_pair_from_the_fixed_one() {
    losscmp()
        .args([
            "fixtures/lf_1gpu_ga8",
            "fixtures/lf_8proc_ga8",
            "--fail-on",
            "error",
        ])
        .assert()
        .code(1);
    losscmp()
        .args([
            "fixtures/lf_1gpu_ga8",
            "fixtures/lf_8proc_ga1",
            "--fail-on",
            "error",
        ])
        .assert()
        .code(0);
}

#[test]
fn the_fix_is_machine_readable() {
    let doc = json_of(&["fixtures/lf_1gpu_ga8", "fixtures/lf_8proc_ga8"]);
    let f = &doc["findings"][0];
    assert_eq!(f["id"], "oversized-effective-batch");
    assert_eq!(f["severity"], "error");
    assert_eq!(
        f["runs"],
        serde_json::json!(["lf_1gpu_ga8", "lf_8proc_ga8"])
    );
    let change = &f["fix"]["changes"]["gradient_accumulation_steps"];
    assert_eq!(change["from"], 8.0);
    assert_eq!(change["to"], 1.0);
    assert_eq!(change["run"], "lf_8proc_ga8");
    let evidence = f["evidence"].as_array().expect("evidence");
    let eff = evidence
        .iter()
        .find(|e| e["name"] == "effective_batch[lf_8proc_ga8]")
        .expect("effective batch evidence");
    assert_eq!(eff["value"], 128.0);
    assert!(
        eff["source"]
            .as_str()
            .expect("source")
            .contains("train.log: line 240 (Total train batch size")
    );
    assert!(
        evidence
            .iter()
            .all(|e| !e["source"].as_str().expect("source").is_empty()),
        "every number has a source"
    );
}

#[test]
fn the_equivalent_pair_has_no_batch_finding() {
    let doc = json_of(&["fixtures/lf_1gpu_ga8", "fixtures/lf_8proc_ga1"]);
    let ids = finding_ids(&doc);
    for id in [
        "oversized-effective-batch",
        "lr-not-scaled",
        "loss-regression",
        "not-comparable",
        "critical-batch-size",
    ] {
        assert!(!ids.iter().any(|i| i == id), "{id} in {ids:?}");
    }
}

#[test]
fn a_run_against_itself_yields_nothing_above_info() {
    losscmp()
        .args([
            "fixtures/lf_1gpu_ga8",
            "fixtures/lf_1gpu_ga8",
            "--fail-on",
            "warning",
        ])
        .assert()
        .code(0)
        .stdout(predicate::str::contains(
            "ok lf_1gpu_ga8#2 matches the baseline lf_1gpu_ga8 to within 0.1%",
        ));
}

#[test]
fn the_hf_script_pair_agrees_with_the_llamafactory_pair() {
    let doc = json_of(&[
        "fixtures/hf_1gpu_ga8_resumed",
        "fixtures/hf_8proc_ga8_crashed_at_exit",
    ]);
    let ids = finding_ids(&doc);
    assert_eq!(ids[0], "oversized-effective-batch");
    assert_eq!(
        doc["findings"][0]["fix"]["changes"]["gradient_accumulation_steps"]["to"],
        1.0
    );
}

#[test]
fn baseline_and_tolerance_flags_change_the_comparison() {
    let doc = json_of(&[
        "fixtures/lf_8proc_ga8",
        "fixtures/lf_1gpu_ga8",
        "--baseline",
        "lf_1gpu_ga8",
    ]);
    assert_eq!(doc["baseline"], "lf_1gpu_ga8");
    assert_eq!(doc["comparisons"][0]["run"], "lf_8proc_ga8");
    assert!(finding_ids(&doc).contains(&"oversized-effective-batch".to_string()));
}

#[test]
fn a_nan_loss_is_a_finding_not_an_error() {
    let out = losscmp()
        .args([
            "fixtures/bad/nan_loss_trainer_state.json",
            "--fail-on",
            "error",
        ])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).expect("utf-8");
    assert!(text.contains("nonfinite-loss"), "{text}");
    assert!(
        text.contains(
            "the first at step 30 (fixtures/bad/nan_loss_trainer_state.json: log_history[15])"
        ),
        "{text}"
    );
}

#[test]
fn usage_errors_exit_2_and_name_the_flag() {
    losscmp()
        .args(["fixtures/lf_1gpu_ga8", "--set", "x"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--set"));
    losscmp()
        .args(["fixtures/lf_1gpu_ga8", "--fail-on", "fatal"])
        .assert()
        .code(2);
    losscmp().assert().code(2);
}

#[test]
fn json_to_a_file_is_written_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("report.json");
    losscmp()
        .args(["fixtures/lf_1gpu_ga8", "--json"])
        .arg(&out)
        .assert()
        .success();
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).expect("written")).expect("json");
    assert_eq!(doc["schema_version"], 2);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).expect("ls").collect();
    assert_eq!(leftovers.len(), 1, "no temporary file left behind");
}

#[test]
fn a_real_loss_collapse_to_zero_is_an_error() {
    losscmp()
        .args([
            "fixtures/public/16_lf-jsonl-loss-collapses-to-0",
            "--fail-on",
            "error",
        ])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("collapsed-loss"))
        .stdout(predicate::str::contains(
            "exactly 0.0 at 36 logged steps after training began (first at step 20)",
        ));
}

/// Samples and steps to the target loss are read at one crossing of one smoothed curve, so
/// samples ÷ steps is each run's effective batch — for every pair of the headline runs (both
/// orders) and of the sweep.
#[test]
fn samples_and_steps_to_the_target_agree_with_the_batch() {
    let batch_of = |doc: &serde_json::Value, label: &str| {
        doc["runs"]
            .as_array()
            .expect("runs")
            .iter()
            .find(|r| r["label"] == label)
            .and_then(|r| r["config"]["effective_batch"]["value"].as_f64())
            .expect("a batch")
    };
    let mut checked = 0;
    for args in [
        vec![
            "fixtures/lf_1gpu_ga8".to_string(),
            "fixtures/lf_8proc_ga8".into(),
        ],
        vec![
            "fixtures/lf_8proc_ga8".to_string(),
            "fixtures/lf_1gpu_ga8".into(),
        ],
        sweep_runs(),
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let doc = json_of(&args);
        for c in doc["comparisons"].as_array().expect("comparisons") {
            let t = &c["target"];
            if t.is_null() {
                continue;
            }
            for (who, samples, steps) in [
                ("reference", "reference_samples", "reference_steps"),
                ("run", "run_samples", "run_steps"),
            ] {
                let label = c[who].as_str().expect("label");
                let b = batch_of(&doc, label);
                let (x, s) = (
                    t[samples].as_f64().expect("x"),
                    t[steps].as_f64().expect("s"),
                );
                assert!(
                    (x / s - b).abs() <= 1e-6 * b,
                    "{label}: {x} samples at step {s}, batch {b}"
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 20, "only {checked} targets checked");
}

/// A critical batch estimate lies within the interval printed beside it.
#[test]
fn a_critical_batch_estimate_lies_within_its_interval() {
    let mut seen = 0;
    for pair in [
        ["fixtures/lf_1gpu_ga8", "fixtures/lf_8proc_ga8"],
        [
            "fixtures/hf_1gpu_ga8_resumed",
            "fixtures/hf_8proc_ga8_crashed_at_exit",
        ],
        ["fixtures/gen/lf2_1gpu_ga8", "fixtures/gen/lf2_2proc_ga8"],
        ["fixtures/gen/lf2_1gpu_ga8", "fixtures/gen/lf2_8proc_ga8"],
        // Both ends of its interval round to the estimate: said as one value.
        [
            "fixtures/gen/lf2_1gpu_ga8",
            "fixtures/gen/lf2_8proc_ga8_24ep",
        ],
    ] {
        let (text, _) = text_of(&pair);
        for line in text.lines().filter(|l| l.contains("Critical batch size")) {
            seen += 1;
            let Some(rest) = line.split("Critical batch size ≈ ").nth(1) else {
                continue;
            };
            let num = |s: &str| s.replace(',', "").parse::<f64>().expect("a number");
            let est = num(rest.split(' ').next().expect("estimate"));
            // A noise scale that disagrees with the fit: the range said spans both estimates.
            if let Some(range) = line.split("known only to lie between ").nth(1) {
                let b_simple = num(line
                    .split("B_simple ≈ ")
                    .nth(1)
                    .and_then(|s| s.split(',').next())
                    .expect("B_simple"));
                let from = num(range.split(' ').next().expect("from"));
                let to = num(range
                    .split(" and ")
                    .nth(1)
                    .and_then(|s| s.split(' ').next())
                    .expect("to"));
                assert!(from <= est && est <= to, "{line}");
                assert!(from == b_simple || to == b_simple, "{line}");
            }
            if let Some(still) = rest.split("(still ").nth(1) {
                let one = num(still.split(' ').next().expect("value"));
                assert_eq!(one, est, "{line}");
                assert!(!line.contains("(between"), "{line}");
                continue;
            }
            let between = rest.split("(between ").nth(1).expect("an interval");
            let lo = num(between.split(' ').next().expect("low"));
            let hi = num(between
                .split(" and ")
                .nth(1)
                .expect("high")
                .split(' ')
                .next()
                .expect("high"));
            assert!(lo <= est && est <= hi, "{line}");
        }
    }
    assert!(seen > 0, "no critical batch finding");
}

/// Infinite grad norms with a finite loss (steps an fp16 loss scaler skipped) are named for the
/// grad norm, not called a non-finite loss; a stronger cause of the same run comes first.
#[test]
fn overflowed_grad_norms_are_not_a_non_finite_loss() {
    let out = losscmp()
        .arg("fixtures/bad/inf_grad_norm_trainer_state.json")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).expect("utf-8");
    assert!(!text.contains("nonfinite-loss"), "{text}");
    assert!(
        text.contains("logged 2 non-finite grad_norm values out of 24, the first at step 30 (fixtures/bad/inf_grad_norm_trainer_state.json: log_history[15]). Its loss stayed finite"),
        "{text}"
    );
    // Too few updates is the stronger cause of this run; the grad norms stay a finding.
    assert!(
        text.contains(
            "inf_grad_norm_trainer_state: too few optimizer updates  [too-few-optimizer-steps]"
        ),
        "{text}"
    );
    assert!(
        text.contains("warning nonfinite-grad-norm  [inf_grad_norm_trainer_state]"),
        "{text}"
    );
}

/// A larger-batch run cut short: the batch accounts for 8× fewer updates per epoch, the early
/// stop for the rest, and the sentence says so in both orders (not "8× larger batch and so 12.8×
/// fewer updates").
#[test]
fn a_cut_short_larger_batch_run_credits_the_batch_with_its_own_share_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = dir.path().join("cut");
    std::fs::create_dir(&run).expect("run dir");
    let state = std::fs::read(common::fixture("lf_8proc_ga8/trainer_state.json")).expect("state");
    std::fs::write(run.join("trainer_state.json"), &state[..3000]).expect("cut copy");
    let base = common::fixture("lf_1gpu_ga8");
    for text in common::both_orders(&base, &run) {
        assert!(
            text.contains("and so made 8× fewer optimizer updates per epoch; in all it made 12.8× fewer (30 vs 384), as it also trained fewer epochs (1.875 vs 3)."),
            "{text}"
        );
    }
}

/// Runs their step limit stops (`max_steps`) are lengthened or shortened by that limit: the
/// epochs of such a run follow from it, so changing them would change nothing.
#[test]
fn a_run_stopped_by_max_steps_is_changed_by_max_steps() {
    // Overfitting in a run that reached max_steps 5000 at epoch 38.17 of a derived 39. Its eval
    // loss was best at step 1000, but it keeps its best checkpoint by WER (best_metric 0.7432,
    // its eval_wer at step 3000, still falling after step 1000): the change stops it there.
    let (text, _) = text_of(&["fixtures/public/05_hf-state-old-noGradNorm-whisper-38ep"]);
    assert!(text.contains("change: max_steps: 5000 → 3000"), "{text}");
    assert!(
        text.contains("The run keeps its best checkpoint by eval_wer (best_metric 0.743156 at step 3,000), which went on improving after the eval loss's best (step 1,000): stop at that checkpoint, not at the eval loss's best, or regularise."),
        "{text}"
    );
    assert!(!text.contains("num_train_epochs"), "{text}");
    // A 2× batch in a sweep run whose YAML sets max_steps: its accumulation halves and its
    // step limit doubles, so it sees the same samples; in both orders.
    let (b2, b4) = ("fixtures/sweep/b2_lr0.0007071", "fixtures/sweep/b4_lr0.001");
    for args in [[b2, b4], [b4, b2]] {
        let (text, _) = text_of(&args);
        assert!(
            text.contains("change: gradient_accumulation_steps: 2 → 1   (edit fixtures/sweep/b4_lr0.001/config.yaml: line 31 (gradient_accumulation_steps))"),
            "{text}"
        );
        assert!(
            text.contains("change: max_steps: 1600 → 3200   (edit fixtures/sweep/b4_lr0.001/config.yaml: line 33 (max_steps))"),
            "{text}"
        );
        assert!(
            text.contains("train 2× as many steps (max_steps 1600 → 3200)"),
            "{text}"
        );
    }
    // A run its epochs stop keeps the epochs advice.
    let (text, _) = text_of(&["fixtures/lf_1gpu_ga8", "fixtures/lf_8proc_ga8"]);
    assert!(!text.contains("max_steps"), "{text}");
    assert!(
        text.contains("train 8× as many epochs (num_train_epochs)"),
        "{text}"
    );
}

/// A resumed run's train_samples_per_second is all its samples over its last session's runtime;
/// the efficiency uses the session's own share (192 of 384 steps), and says so.
#[test]
fn a_resumed_runs_throughput_is_taken_over_its_last_session() {
    let (text, _) = text_of(&[
        "fixtures/hf_1gpu_ga8_resumed",
        "fixtures/hf_8proc_ga8_crashed_at_exit",
    ]);
    assert!(
        text.contains("vs hf_1gpu_ga8_resumed on 1 process at 494.735 samples/s (494.735 per process; the logged 989.469 divides all its samples by the runtime of its last session, which resumed at step 192 of 384): 16% per-process efficiency."),
        "{text}"
    );
    // 494.735 = 989.469 × (384 − 192) ÷ 384; 16% = 78.0535 ÷ 494.735.
}

/// Where the data axis is not samples (a run with no batch), the target says its axis and gives
/// no sample counts: an epoch or a step is not one.
#[test]
fn a_target_off_the_samples_axis_gives_no_sample_counts() {
    let doc = json_of(&[
        "fixtures/real/09_megatron-gpt2-batch-size-changes-after-eval",
        "fixtures/real/01_ms-swift-2024-global-step-rows-twice",
    ]);
    assert_eq!(doc["data_axis"], "step");
    let t = &doc["comparisons"][0]["target"];
    assert_eq!(t["axis"], "step", "{t}");
    assert!(
        t["reference_samples"].is_null() && t["run_samples"].is_null(),
        "{t}"
    );
    assert_eq!(t["reference_at"], t["reference_steps"], "{t}");
    assert!(t["run_at"].as_f64().is_some_and(|x| x > 0.0), "{t}");
}

/// A run whose logs stop short of its plan (still running, or killed) is said to be set to make
/// its planned updates, with where it is, not to have made them.
#[test]
fn a_run_still_going_is_set_to_make_its_updates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = dir.path().join("live");
    std::fs::create_dir(&run).expect("run dir");
    let log = std::fs::read_to_string(common::fixture("lf_8proc_ga8/train.log")).expect("log");
    // The stdout log up to its 8th metric dict (step 16 of 48).
    let mut kept = Vec::new();
    let mut dicts = 0;
    for line in log.lines() {
        kept.push(line);
        dicts += usize::from(line.contains("{'loss'"));
        if dicts == 8 {
            break;
        }
    }
    std::fs::write(run.join("train.log"), kept.join("\n") + "\n").expect("write");
    let base = common::fixture("lf_1gpu_ga8");
    for text in common::both_orders(&base, &run) {
        assert!(
            text.contains("and so is set to make 8× fewer optimizer updates (48 vs 384 planned; live is at step 16 of 48)."),
            "{text}"
        );
        assert!(
            text.contains(
                "live is set to make only 48 optimizer updates (its logs stop at step 16);"
            ),
            "{text}"
        );
    }
}

/// The pair's critical batch is bounded above only ("at most about 3"): its evidence gives that
/// bound and no point value the text does not stand by.
#[test]
fn a_critical_batch_bound_is_the_bound_in_the_evidence() {
    let doc = json_of(&["fixtures/lf_1gpu_ga8", "fixtures/lf_8proc_ga8"]);
    let f = common::finding(&doc, "critical-batch-size");
    let summary = f["summary"].as_str().expect("summary");
    let value = |name: &str| {
        f["evidence"]
            .as_array()
            .expect("evidence")
            .iter()
            .find(|e| e["name"] == name)
            .and_then(|e| e["value"].as_f64())
    };
    assert!(summary.contains("at most about 3 samples"), "{summary}");
    assert_eq!(value("B_crit_high").map(f64::round), Some(3.0));
    assert_eq!(value("B_crit"), None);
    assert_eq!(value("B_crit_low"), None);
}

/// A run three log lines in (still going, or killed early) whose configuration makes it 8× short
/// of updates gets that cause from its configuration, as a plan does, in both orders: not only
/// the symptom (too few updates) with another change.
#[test]
fn a_run_just_started_is_predicted_short_of_updates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = dir.path().join("live");
    std::fs::create_dir(&run).expect("run dir");
    std::fs::copy(
        common::fixture("lf_8proc_ga8/config.yaml"),
        run.join("config.yaml"),
    )
    .expect("config");
    let log =
        std::fs::read_to_string(common::fixture("lf_8proc_ga8/trainer_log.jsonl")).expect("log");
    let head: String = log.lines().take(3).map(|l| format!("{l}\n")).collect();
    std::fs::write(run.join("trainer_log.jsonl"), head).expect("log head");
    let base = common::fixture("lf_1gpu_ga8");
    for order in [[&base, &run], [&run, &base]] {
        let args: Vec<&str> = order.iter().map(|p| p.to_str().expect("utf-8")).collect();
        let doc = json_of(&args);
        let cause = &doc["verdict"]["causes"][0];
        assert_eq!(cause["run"], "live", "{args:?}");
        assert_eq!(cause["id"], "oversized-effective-batch", "{args:?}");
        assert_eq!(cause["changes"]["gradient_accumulation_steps"]["to"], 1.0);
        let f = &doc["findings"][cause["finding"].as_u64().expect("index") as usize];
        assert_eq!(f["severity"], "warning");
        assert!(
            f["summary"]
                .as_str()
                .is_some_and(|s| s.contains("its logs stop at step 6 of 48, too early")),
            "{f}"
        );
    }
}

#[test]
fn a_lone_run_whose_logged_loss_is_16x_its_eval_loss_is_told_so() {
    // Real case 18: a notebook run at gradient accumulation 16 (not in its state file) whose
    // logged training loss ends at 5.0244 beside an eval loss of 0.303802 at step 600.
    let case = common::fixture("real/18_hf-final-checkpoint-state-train-loss-scale-mismatch");
    let (stdout, _) = text_of(&[case.to_str().expect("utf-8")]);
    assert!(
        stdout.contains(
            "Verdict\n  No run needs a configuration change, but the warning below needs reading."
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("warning loss-logging-artifact")
            && stdout.contains(
                "logged training loss is 17× its eval loss at the same steps (the median over its last 3 evals: at step 500, 5.1796 vs 0.307745)"
            ),
        "{stdout}"
    );
    // The last 3 evals' ratios (steps 400, 500, 600) are 16.9, 16.8 and 16.5: the median is
    // step 500's.
}

#[test]
fn runs_of_other_jobs_get_no_batch_or_speed_comparison() {
    // A 14B model on 7 processes against the tiny Llama on one: their speeds are not the world
    // size's doing, so no scaling efficiency (it said 1%). Other data and model (KoELECTRA
    // against the tiny Llama): no critical batch from their steps. not-comparable says why.
    for (a, b, gone) in [
        (
            "fixtures/public/01_lf-qwen3-14b-world7-nolosslog",
            "fixtures/lf_1gpu_ga8",
            "scaling-efficiency",
        ),
        (
            "fixtures/real/06_hf-stdout-custom-banner-integer-epochs",
            "fixtures/lf_1gpu_ga8",
            "critical-batch-size",
        ),
    ] {
        for (x, y) in [(a, b), (b, a)] {
            let ids = finding_ids(&json_of(&[x, y]));
            assert!(!ids.iter().any(|i| i == gone), "{x} {y}: {ids:?}");
            assert!(
                ids.iter().any(|i| i == "not-comparable"),
                "{x} {y}: {ids:?}"
            );
        }
    }
    // The same data at another batch (a sweep run, its example count worked out to within a
    // batch: ≈1,920 against 2,048) is still one job: its critical batch is estimated.
    let doc = json_of(&[
        "fixtures/lf_1gpu_ga8",
        "fixtures/sweep/b128_lr0.002/trainer_state.json",
    ]);
    let ids = finding_ids(&doc);
    assert!(ids.iter().any(|i| i == "critical-batch-size"), "{ids:?}");
}

#[test]
fn a_zero_loss_gives_no_ratio_in_either_order() {
    // A run whose loss collapsed to exactly 0 against one that did not: 0 ÷ x and x ÷ 0 say
    // nothing the two values do not, and read alike whichever run comes first.
    let (a, b) = (
        "fixtures/lf_1gpu_ga8",
        "fixtures/public/16_lf-jsonl-loss-collapses-to-0",
    );
    for args in [[a, b], [b, a]] {
        let (text, _) = text_of(&args);
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with("at 2.96 epochs: loss"))
            .unwrap_or_else(|| panic!("{text}"));
        assert!(
            line.contains("(—); over the last quarter (epochs 2.24–2.96) —;"),
            "{line}"
        );
    }
}

/// A GRPO run's loss is a policy objective near 0, often negative: its rise from −0.15 toward 0
/// is no divergence, nor is any loss whose best is not above 0.
#[test]
fn a_grpo_policy_loss_rising_toward_zero_is_no_divergence() {
    let doc = json_of(&["fixtures/public/42_trl-grpo-state-loss-near-zero"]);
    let ids: Vec<&str> = doc["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| f["id"].as_str())
        .collect();
    assert!(!ids.contains(&"divergence"), "{ids:?}");
    assert!(!ids.contains(&"collapsed-loss"), "{ids:?}");
}

/// A run whose own best-checkpoint metric (WER) is best at its last eval is not told to stop at
/// that checkpoint, which is where it stopped: its eval loss rose, but by the measure the run
/// chose training went on paying.
#[test]
fn a_run_whose_own_metric_is_best_at_the_end_is_not_overfitting() {
    let ids = finding_ids(&json_of(&[
        "fixtures/public/43_hf-whisper-best-wer-at-last-eval",
    ]));
    assert!(!ids.iter().any(|i| i == "overfitting"), "{ids:?}");
    // The Whisper run whose WER was best at step 3000 of 5000 still is.
    let ids = finding_ids(&json_of(&[
        "fixtures/public/05_hf-state-old-noGradNorm-whisper-38ep",
    ]));
    assert!(ids.iter().any(|i| i == "overfitting"), "{ids:?}");
}

/// A real run `max_steps 30` stopped (fixtures/gen/hf5_1proc_max_steps30, its script given
/// `--num_train_epochs 3 --max_steps 30`): too few updates, and the fix raises the limit; a
/// smaller accumulation or more epochs would not add one.
#[test]
fn too_few_updates_under_a_step_limit_raises_the_limit() {
    let doc = json_of(&["fixtures/gen/hf5_1proc_max_steps30"]);
    let f = common::finding(&doc, "too-few-optimizer-steps");
    let changes = f["fix"]["changes"].as_object().expect("changes");
    assert_eq!(changes.keys().collect::<Vec<_>>(), ["max_steps"], "{f}");
    assert_eq!(changes["max_steps"]["from"], 30.0);
    assert_eq!(changes["max_steps"]["to"], 100.0);
    let summary = f["fix"]["summary"].as_str().expect("summary");
    assert!(summary.contains("step limit (max_steps 30)"), "{summary}");
}

/// A slurm job its time limit stopped (public/49, a real log): slurm's cancel line, glued to
/// the last tqdm update, is quoted as why the run stopped, with its line.
#[test]
fn a_job_slurm_cancelled_says_so_with_its_line() {
    let dir = "fixtures/public/49_lf-slurm-4proc-cancelled-at-time-limit";
    let doc = json_of(&[dir]);
    let f = common::finding(&doc, "run-crashed");
    let summary = f["summary"].as_str().expect("summary");
    assert!(
        summary.contains("was stopped by its scheduler")
            && summary.contains("ends with slurm cancelling the job (line 4642): JOB 1565157 ON kn173 CANCELLED AT 2025-12-09T11:07:08 DUE TO TIME LIMIT."),
        "{summary}"
    );
    assert!(
        f["evidence"][0]["source"]
            .as_str()
            .is_some_and(|s| s.ends_with("line 4642 (slurm's cancel line)")),
        "{f}"
    );
}

/// A run its epochs ended a few steps after its last logged loss (public/48: the loss at step
/// 60, epoch 2.857; the run ends at step 63, epoch 3.0, of 3 epochs) was no step limit's: the
/// last loss's epoch, carried to the total step, is the planned epochs. Its fix is a smaller
/// batch or more epochs, with no `max_steps` in it.
#[test]
fn a_run_its_epochs_ended_after_its_last_loss_has_no_step_limit() {
    let dir = "fixtures/public/48_lf-state-epochs-end-3-steps-after-last-loss";
    let doc = json_of(&[dir]);
    let f = common::finding(&doc, "too-few-optimizer-steps");
    let fix = f["fix"]["summary"].as_str().expect("summary");
    assert!(!fix.contains("step limit"), "{f}");
    assert!(
        fix.contains("a smaller effective batch or more epochs"),
        "{f}"
    );
    assert!(f["fix"]["changes"].get("max_steps").is_none(), "{f}");
    // Beside a run of another length, the lengths are epochs, not a step limit's.
    let doc = json_of(&[dir, "fixtures/lf_1gpu_ga8"]);
    let text = doc.to_string();
    assert!(!text.contains("stopped at its step limit"), "{text}");
}

/// The same run as a streaming dataset has it: the Trainer prints `Num Epochs =
/// 9,223,372,036,854,775,807` (no length) and no steps per epoch, so only the `max_steps=30` of the printed
/// `TrainingArguments(` says a step limit ended the run; the fix still raises it.
#[test]
fn a_printed_max_steps_is_a_step_limit() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = std::fs::read_to_string("fixtures/gen/hf5_1proc_max_steps30/train.log")
        .expect("log")
        .replace(
            "Num Epochs = 1\n",
            "Num Epochs = 9,223,372,036,854,775,807\n",
        )
        // nor does it know an epoch's steps.
        .replace("  Num update steps per epoch = 100\n", "");
    assert!(log.contains("9,223,372,036,854,775,807"));
    std::fs::write(dir.path().join("train.log"), log).expect("write");
    let doc = json_of(&[dir.path().to_str().expect("utf-8")]);
    let f = common::finding(&doc, "too-few-optimizer-steps");
    let changes = f["fix"]["changes"].as_object().expect("changes");
    assert_eq!(changes.keys().collect::<Vec<_>>(), ["max_steps"], "{f}");
    assert_eq!(changes["max_steps"]["from"], 30.0);
    // Such a header's `Num examples` is the total batch × max_steps, not the data: not read.
    assert!(
        doc["runs"][0]["config"]["num_examples"]["value"].is_null(),
        "{}",
        doc["runs"][0]["config"]
    );
}
