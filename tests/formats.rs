//! End-to-end: the other ecosystems' formats (TensorBoard, MLflow, Megatron, nanoGPT, ms-swift),
//! read from real files, and checked against the trainer's own record of the same run where one
//! exists.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::predicate;
use common::{fixture, json_of, losscmp};

/// The MLflow run directory the fixture script wrote (its ids are random).
fn mlflow_run() -> PathBuf {
    let root = fixture("trackers/lf_1gpu_ga8/mlruns");
    let mut runs: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("mlruns")
        .flat_map(|e| {
            std::fs::read_dir(e.expect("entry").path())
                .into_iter()
                .flatten()
        })
        .map(|e| e.expect("entry").path())
        .filter(|p| p.join("metrics").is_dir())
        .collect();
    assert_eq!(runs.len(), 1, "one MLflow run in the fixture");
    runs.remove(0)
}

/// (run, metric) → step → value, from losscmp's CSV export of the given runs.
fn exported(runs: &[&str]) -> BTreeMap<(String, String), BTreeMap<i64, f64>> {
    let dir = tempfile::tempdir().expect("temp dir");
    let csv = dir.path().join("points.csv");
    losscmp()
        .args(runs)
        .arg("--csv")
        .arg(&csv)
        .args(["--json", "-"])
        .assert()
        .success();
    let text = std::fs::read_to_string(&csv).expect("csv");
    let mut out: BTreeMap<(String, String), BTreeMap<i64, f64>> = BTreeMap::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let step: f64 = f[2].parse().expect("step");
        out.entry((f[0].to_string(), f[1].to_string()))
            .or_default()
            .insert(step as i64, f[7].parse().expect("value"));
    }
    out
}

/// The same points, up to float32 rounding (TensorBoard stores scalars as f32).
fn assert_same_points(
    points: &BTreeMap<(String, String), BTreeMap<i64, f64>>,
    a: &str,
    b: &str,
    metrics: &[&str],
) {
    for m in metrics {
        let key = |r: &str| (r.to_string(), m.to_string());
        let (x, y) = (&points[&key(a)], &points[&key(b)]);
        assert_eq!(
            x.keys().collect::<Vec<_>>(),
            y.keys().collect::<Vec<_>>(),
            "{m}: same steps"
        );
        for (step, v) in x {
            let w = y[step];
            assert!(
                (v - w).abs() <= 1e-6 * v.abs().max(1e-12),
                "{m} at step {step}: {v} vs {w}"
            );
        }
    }
}

#[test]
fn tensorboard_events_agree_point_for_point_with_the_trainer_state() {
    let points = exported(&["fixtures/lf_1gpu_ga8", "fixtures/trackers/lf_1gpu_ga8/tb"]);
    assert_eq!(points[&("tb".into(), "loss".into())].len(), 192);
    assert_same_points(
        &points,
        "lf_1gpu_ga8",
        "tb",
        &["loss", "eval_loss", "learning_rate", "grad_norm"],
    );
}

#[test]
fn an_mlflow_run_reads_its_params_and_agrees_with_the_trainer_state() {
    let run = mlflow_run();
    // Named by meta.yaml's run_name, not by the run id it is kept under.
    let doc = json_of(&[
        run.to_str().expect("utf-8"),
        "--set",
        "lf_1gpu_ga8:world_size=1",
    ]);
    let r = &doc["runs"][0];
    assert_eq!(r["label"], "lf_1gpu_ga8");
    assert_eq!(r["config"]["per_device_batch"]["value"], 2.0);
    assert_eq!(r["config"]["grad_accum"]["value"], 8.0);
    assert_eq!(r["config"]["effective_batch"]["value"], 16.0);
    assert!(
        r["config"]["grad_accum"]["source"]
            .as_str()
            .expect("source")
            .ends_with("params: gradient_accumulation_steps")
    );
    // Beside the trainer's own run of the same name, each takes the parent that tells them apart.
    let experiment = run.parent().and_then(Path::file_name).expect("experiment");
    let label = format!("{}/lf_1gpu_ga8", experiment.to_string_lossy());
    let points = exported(&["fixtures/lf_1gpu_ga8", run.to_str().expect("utf-8")]);
    assert_same_points(
        &points,
        "fixtures/lf_1gpu_ga8",
        &label,
        &["loss", "eval_loss", "learning_rate"],
    );
}

#[test]
fn megatron_samples_come_from_consumed_samples_and_restarts_are_reported() {
    let doc = json_of(&["fixtures/public/13_megatron-ds-bigscience-176B-reshaping"]);
    let run = &doc["runs"][0];
    assert_eq!(run["config"]["effective_batch"]["value"], 2048.0);
    let loss = &run["metrics"]["loss"];
    assert_eq!(
        loss["final"], 2.000182,
        "the last restart's value (line 67)"
    );
    assert_eq!(loss["final_samples"], 177_931_184.0);
    let warnings = doc["warnings"].to_string();
    assert!(
        warnings.contains("steps 94768–94770 were logged more than once"),
        "{warnings}"
    );
    let text = losscmp()
        .arg("fixtures/public/13_megatron-ds-bigscience-176B-reshaping")
        .arg("-v")
        .assert()
        .success();
    text.stdout(predicate::str::contains(
        "at step 94,770 (177,931,184 samples)",
    ));
}

#[test]
fn nanogpt_nan_losses_are_found_with_their_line() {
    losscmp()
        .arg("fixtures/public/06_nanogpt-nan-loss")
        .assert()
        .success()
        .stdout(predicate::str::contains("nonfinite-loss"))
        .stdout(predicate::str::contains("train.log: line 104"));
}

/// nanoGPT's gradient_accumulation_steps is the total over all processes (its train.py divides
/// it by the world size): with the world size known, the effective batch is still batch × it.
#[test]
fn nanogpt_accumulation_is_a_total_whatever_the_world_size() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("gpt2.log");
    // The GPT-2 recipe's settings as train.py echoes them (hand-made: no block_size line, so
    // the batch comes from its factors, not from the tokens per iteration).
    let mut text = String::from(
        "Overriding: batch_size = 12\nOverriding: gradient_accumulation_steps = 40\ntokens per iteration will be: 491,520\n",
    );
    for i in 0..30 {
        text += &format!(
            "iter {}: loss {:.4}, time 100.00ms, mfu 30.00%\n",
            i * 10,
            11.0 - 0.1 * f64::from(i)
        );
    }
    std::fs::write(&log, text).expect("write");
    let out = losscmp()
        .arg(&log)
        .args(["--set", "gpt2:world_size=8", "-v"])
        .output()
        .expect("runs");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains(
            "effective batch 480 = per-device 12 × grad accum 40 (the total over all processes)"
        ),
        "{stdout}"
    );
    // 300 iterations × 480, not × 3,840.
    assert!(stdout.contains("(139,200 samples)"), "{stdout}");
    assert!(!stderr.contains("is not"), "{stderr}");
    // A logged batch that the world size would contradict for other trainers agrees here.
    let out = losscmp()
        .arg("fixtures/real/17_nanogpt-stdout-config-file-echo")
        .args([
            "--set",
            "17_nanogpt-stdout-config-file-echo:world_size=8",
            "-v",
        ])
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(
            "effective batch 32 = per-device 32 × grad accum 1 (the total over all processes)"
        ),
        "{stdout}"
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains("is not"));
}

/// A stdout buffered by nohup writes 20 dicts at once after the bar has reached the next
/// evaluation: all follow the same bar counter. None is dropped as a duplicate; each is placed by
/// its epoch (the bar's total 1,755 ÷ the summary's epoch 3 = 585 steps an epoch), in order,
/// and the warning says so and how close that is.
#[test]
fn dicts_written_in_bursts_after_the_bar_are_placed_by_their_epochs() {
    let doc = json_of(&["fixtures/public/41_trl-sft-nohup-stdout-dicts-in-bursts"]);
    let loss = &doc["runs"][0]["metrics"]["loss"];
    assert_eq!(loss["points"], 55, "{loss}");
    assert_eq!(loss["dropped_duplicates"], 0, "{loss}");
    // The last dict, epoch 2.99: 2.99 × 585 = 1,749.15.
    assert_eq!(loss["final_step"], 1749.0, "{loss}");
    // Its script's banner gives the epochs (line 53, `Epochs: 3`): every dict is placed by
    // its epoch × 1,755 ÷ 3 = 585 steps an epoch, the bar's counter of a burst never used.
    assert_eq!(
        loss["step_origin"],
        "epoch × steps per epoch (the log's total steps ÷ its epochs)"
    );
    let warnings = doc["warnings"].to_string();
    assert!(!warnings.contains("logged more than once"), "{warnings}");
    // Without the banner's epochs, the end-of-training summary's epoch places the burst dicts.
    let dir = tempfile::tempdir().expect("temp dir");
    let log = std::fs::read_to_string(
        "fixtures/public/41_trl-sft-nohup-stdout-dicts-in-bursts/training.log",
    )
    .expect("log")
    .replace("INFO:__main__:   Epochs: 3\n", "");
    std::fs::write(dir.path().join("training.log"), log).expect("write");
    let doc = json_of(&[dir.path().to_str().expect("utf-8")]);
    let loss = &doc["runs"][0]["metrics"]["loss"];
    assert_eq!(
        (&loss["points"], &loss["final_step"]),
        (&55.into(), &1749.0.into()),
        "{loss}"
    );
    let warnings = doc["warnings"].to_string();
    assert!(
        warnings
            .contains("57 metric dicts were written in bursts after the progress bar had moved on")
            && warnings.contains("about ±3 steps"),
        "{warnings}"
    );
    assert!(!warnings.contains("logged more than once"), "{warnings}");
    let out = losscmp()
        .arg("fixtures/public/41_trl-sft-nohup-stdout-dicts-in-bursts")
        .args(["--csv", "-"])
        .output()
        .expect("runs");
    let csv = String::from_utf8_lossy(&out.stdout);
    let steps: Vec<f64> = csv
        .lines()
        .filter(|l| l.contains(",loss,"))
        .map(|l| {
            l.split(',')
                .nth(2)
                .and_then(|s| s.parse().ok())
                .expect("step")
        })
        .collect();
    assert_eq!(steps.len(), 55);
    assert!(steps.windows(2).all(|w| w[0] < w[1]), "{steps:?}");
    // The first, epoch 0.02 (logged at step 10): 0.02 × 585 = 11.7.
    assert_eq!(steps[0], 12.0);
}

/// The same bursts in a run killed before its end-of-training summary (Ctrl-C at step 244 of
/// 8,264): nothing in the log gives an epoch's steps, so the dicts are left to the run's
/// configuration, whose `logging_steps` 10 places the n-th at step 10n where its epoch agrees
/// (2 decimals of a 4,132-step epoch leave ±20 steps). Before, every dict of a burst took the
/// bar's counter and 22 of 24 losses were dropped as "logged more than once".
#[test]
fn bursts_with_no_summary_are_placed_by_the_logging_interval() {
    let dir = "fixtures/public/45_hf-stdout-buffered-bursts-no-summary-killed";
    let doc = json_of(&[dir]);
    let run = &doc["runs"][0];
    let loss = &run["metrics"]["loss"];
    assert_eq!(loss["points"], 24, "{loss}");
    assert_eq!(loss["dropped_duplicates"], 0, "{loss}");
    assert_eq!(loss["final_step"], 240.0, "{loss}");
    assert_eq!(loss["final"], 0.488, "{loss}");
    assert_eq!(
        loss["step_origin"],
        "dict number × logging_steps, within the rounding of its epoch × steps per epoch (run configuration)"
    );
    // The eval after the first burst shares the step of the dict before it: 200.
    assert_eq!(run["metrics"]["eval_loss"]["final_step"], 200.0);
    let warnings = doc["warnings"].to_string();
    assert!(
        warnings
            .contains("25 metric dicts were written in bursts after the progress bar had moved on")
            && warnings.contains("placed by the run's configuration"),
        "{warnings}"
    );
    assert!(!warnings.contains("logged more than once"), "{warnings}");
}

/// A header-less log's training bar is the one its loss dicts were written under, not a larger
/// bar with no description run before training (a `datasets.map` over 71,514 examples at
/// 3,272 it/s; hand-made in the layout of a real log that showed it, `2200xiaohu/LMSYS`).
#[test]
fn the_training_bar_is_the_one_the_loss_dicts_follow() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("train.log");
    let mut text = String::from(
        "100%|##########| 71514/71514 [00:21<00:00, 3272.12it/s]\n  0%|          | 0/8264 [00:00<?, ?it/s]\n",
    );
    for i in 1..=5 {
        text += &format!(
            "  0%|          | {}/8264 [0{i}:00<16:00:00,  7.00s/it]\n{{'loss': {:.4}, 'grad_norm': 1.5, 'learning_rate': 7e-05, 'epoch': 0.0{i}}}\n",
            i * 10,
            1.0 - 0.1 * f64::from(i)
        );
    }
    std::fs::write(&log, text).expect("write");
    let doc = json_of(&[log.to_str().expect("utf-8")]);
    let total = &doc["runs"][0]["config"]["total_steps"];
    assert_eq!(total["value"], 8264.0, "{total}");
    assert!(
        total["source"]
            .as_str()
            .is_some_and(|s| s.contains("the bar the training loss dicts were written under")),
        "{total}"
    );
}

/// An Unsloth GRPO banner's examples ÷ batch (20 steps an epoch) that the training bar
/// contradicts (it makes 80: each prompt is several completions): the bar's counters give the
/// steps, so the run reaches its 250 steps, not 63.
#[test]
fn a_banner_batch_the_bar_contradicts_gives_way_to_the_bar() {
    let doc = json_of(&["fixtures/public/44_unsloth-grpo-stdout-banner-counts-prompts"]);
    let loss = &doc["runs"][0]["metrics"]["loss"];
    assert_eq!(loss["final_step"], 250.0, "{loss}");
    let warnings = doc["warnings"].to_string();
    assert!(
        warnings.contains("the training progress bar's counters do not fit the 20 steps an epoch worked out from the header"),
        "{warnings}"
    );
}

#[test]
fn ms_swift_steps_come_from_the_progress_string() {
    let doc = json_of(&["fixtures/public/31_ms-swift-logging-jsonl-qwen3-8b"]);
    let run = &doc["runs"][0];
    assert_eq!(run["metrics"]["loss"]["final_step"], 430.0);
    assert_eq!(run["config"]["total_steps"]["value"], 438.0);
    assert_eq!(doc["warnings"].as_array().map(Vec::len), Some(0), "{doc}");
}

#[test]
fn a_lone_mlflow_metric_file_is_read_by_content() {
    let doc = json_of(&["fixtures/public/23_mlflow-filestore-metric-loss/loss"]);
    assert_eq!(doc["runs"][0]["metrics"]["loss"]["points"], 10);
}

#[test]
fn corrupt_and_cut_event_files_keep_what_is_valid_and_say_where() {
    let src = std::fs::read(fixture(
        "trackers/lf_1gpu_ga8/tb/events.out.tfevents.1764300000.localhost.0",
    ))
    .expect("events");
    let dir = tempfile::tempdir().expect("temp dir");
    // A flipped byte inside the 10th record's data, and the last record cut short.
    let mut bytes = src.clone();
    let mut at = 0;
    for _ in 0..9 {
        let len = u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8")) as usize;
        at += 12 + len + 4;
    }
    bytes[at + 14] ^= 0x55;
    bytes.truncate(bytes.len() - 7);
    let path = dir.path().join("events.out.tfevents.1.host");
    std::fs::write(&path, &bytes).expect("writes");
    losscmp()
        .arg(&path)
        .assert()
        .success()
        .stderr(predicate::str::contains("events.out.tfevents.1.host"))
        .stderr(predicate::str::contains("(first: record 10 at byte"))
        .stderr(predicate::str::contains("the file ends inside record"));
}

#[test]
fn a_wandb_export_with_the_batch_set_shows_the_oversized_batch() {
    let doc = json_of(&[
        "fixtures/lf_1gpu_ga8",
        "fixtures/tables/wandb_export_lf_8proc_ga8.csv",
        "--label",
        "w8=fixtures/tables/wandb_export_lf_8proc_ga8.csv",
        "--set",
        "w8:effective_batch=128",
    ]);
    let w8 = &doc["runs"][1];
    assert_eq!(w8["label"], "w8");
    assert_eq!(w8["metrics"]["loss"]["final_samples"], 48.0 * 128.0);
    assert_eq!(w8["metrics"]["eval_loss"]["points"], 2);
    let ids = common::finding_ids(&doc);
    assert!(
        ids.iter().any(|i| i == "oversized-effective-batch"),
        "{ids:?}"
    );
}

#[test]
fn columns_map_any_table_and_a_mapping_without_step_is_a_usage_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("metrics.tsv");
    std::fs::write(&path, "it\tconsumed\tmy loss\n1\t32\t4.0\n2\t64\t3.0\n").expect("writes");
    let p = path.to_str().expect("utf-8");
    let doc = json_of(&[p, "--columns", "step=it,samples=consumed,loss=my loss"]);
    assert_eq!(doc["runs"][0]["metrics"]["loss"]["final_samples"], 64.0);
    losscmp()
        .args([p, "--columns", "loss=my loss"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "--columns: map the step column too",
        ));
    // A typo in the one metric mapped: the error says which column the header lacks.
    losscmp()
        .args([p, "--columns", "step=it,loss=my los"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "holds no metric records or run settings: --columns loss=my los: no such column (the header has it, consumed, my loss)",
        ));
}

#[test]
fn deepspeed_config_and_step_lines_inside_an_hf_log() {
    let doc = json_of(&["fixtures/public/22_deepspeed-hf-interleaved-fate-llm"]);
    let run = &doc["runs"][0];
    assert_eq!(run["config"]["effective_batch"]["value"], 16.0);
    assert!(
        run["config"]["effective_batch"]["source"]
            .as_str()
            .expect("source")
            .ends_with("line 6 (DeepSpeed train_batch_size)")
    );
    assert_eq!(run["config"]["per_device_batch"]["value"], 16.0);
    assert_eq!(run["metrics"]["skipped_steps"]["points"], 4);
    assert_eq!(run["metrics"]["deepspeed_lr"]["final_step"], 40.0);
    assert_eq!(
        run["metrics"]["samples_per_second"]["final"],
        109.53330286609649
    );
}

#[test]
fn a_wandb_run_file_reads_its_config_and_agrees_with_the_trainer_state() {
    let doc = json_of(&[
        "fixtures/trackers/lf_1gpu_ga8/wandb",
        "--set",
        "lf_1gpu_ga8:world_size=1",
    ]);
    // Named by its output directory, as `wandb/` is a folder the trainer writes in it.
    assert_eq!(doc["runs"][0]["label"], "lf_1gpu_ga8");
    let run = &doc["runs"][0];
    assert_eq!(run["config"]["effective_batch"]["value"], 16.0);
    assert!(
        run["config"]["grad_accum"]["source"]
            .as_str()
            .expect("source")
            .ends_with(".wandb: config gradient_accumulation_steps")
    );
    let points = exported(&[
        "fixtures/lf_1gpu_ga8",
        "fixtures/trackers/lf_1gpu_ga8/wandb",
        "--label",
        "wandb=fixtures/trackers/lf_1gpu_ga8/wandb",
    ]);
    assert_same_points(
        &points,
        "lf_1gpu_ga8",
        "wandb",
        &["loss", "eval_loss", "learning_rate", "grad_norm"],
    );
}

#[test]
fn a_torchtune_disk_log_reads_with_the_batch_given_on_the_command_line() {
    let doc = json_of(&[
        "fixtures/handmade/torchtune_lora/logs",
        "--label",
        "tt=fixtures/handmade/torchtune_lora/logs",
        "--set",
        "tt:effective_batch=8",
    ]);
    let run = &doc["runs"][0];
    assert_eq!(run["metrics"]["loss"]["points"], 40);
    assert_eq!(run["metrics"]["loss"]["final_samples"], 320.0);
    assert_eq!(run["metrics"]["learning_rate"]["final"], 0.0003);
    assert_eq!(
        run["metrics"]["tokens_per_second_per_gpu"]["final_step"],
        40.0
    );
}

#[test]
fn a_log_that_starts_mid_run_gives_no_critical_batch_estimate() {
    // The Megatron excerpt starts at iteration 94,768: steps to a target loss cannot be counted.
    let doc = json_of(&[
        "fixtures/lf_1gpu_ga8",
        "fixtures/public/13_megatron-ds-bigscience-176B-reshaping",
    ]);
    let ids = common::finding_ids(&doc);
    assert!(ids.iter().any(|i| i == "not-comparable"), "{ids:?}");
    assert!(!ids.iter().any(|i| i == "critical-batch-size"), "{ids:?}");
}

/// Issue 12: an output directory holding only the HF Trainer's default `logging_dir`
/// (`runs/<date>_<host>/events.out.tfevents.*`) is read one level down, with a note.
#[test]
fn tensorboard_events_under_runs_are_found() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sub = dir
        .path()
        .join("out")
        .join("runs")
        .join("Dec01_10-00-00_host");
    std::fs::create_dir_all(&sub).expect("mkdir");
    std::fs::copy(
        fixture("trackers/lf_1gpu_ga8/tb/events.out.tfevents.1764300000.localhost.0"),
        sub.join("events.out.tfevents.1764300000.host.0"),
    )
    .expect("copy");
    let out = losscmp()
        .arg(dir.path().join("out"))
        .args(["--json", "-"])
        .output()
        .expect("runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(doc["runs"][0]["metrics"]["loss"]["points"], 192);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("read 1 file from runs/"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The `TrainingArguments(` printout of a log written with CRLF line ends (a Windows run, as a
/// real LLaMA-Factory log in `NearMugi/llm` is): the real fixtures/gen/hf5_1proc_ga4 log with
/// its `\n` made `\r\n` reads the same values at the same lines.
#[test]
fn a_crlf_logs_printed_arguments_are_read() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = std::fs::read_to_string("fixtures/gen/hf5_1proc_ga4/train.log").expect("log");
    std::fs::write(dir.path().join("train.log"), log.replace('\n', "\r\n")).expect("write");
    let doc = json_of(&[dir.path().to_str().expect("utf-8")]);
    let config = &doc["runs"][0]["config"];
    assert_eq!(config["learning_rate"]["value"], 0.0005, "{config}");
    assert!(
        config["learning_rate"]["source"]
            .as_str()
            .expect("source")
            .ends_with("train.log: line 62 (learning_rate)"),
        "{config}"
    );
    assert_eq!(config["scheduler"]["value"], "cosine", "{config}");
    assert_eq!(doc["runs"][0]["metrics"]["loss"]["points"], 100);
}

/// transformers 4.5x with `include_tokens_per_second` adds `train_runtime` and
/// `train_tokens_per_second` to every step's dict (a real run's log in `saforem2/ezpz` prints
/// them so): those are steps, not the end-of-training summary, whose runtime is the run's.
/// Hand-made in that log's shape.
#[test]
fn step_dicts_with_the_runtime_so_far_are_steps() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut log = String::from(
        "***** Running training *****\n  Num examples = 2,400\n  Instantaneous batch size per device = 1\n  Total train batch size (w. parallel, distributed & accumulation) = 24\n  Gradient Accumulation steps = 1\n  Total optimization steps = 10\n  0%|          | 0/10 [00:00<?, ?it/s]\n",
    );
    for k in 1..=10 {
        log.push_str(&format!(
            "{:3}%|#         | {k}/10 [00:27<04:05, 3.5s/it]\n",
            k * 10
        ));
        log.push_str(&format!(
            "{{'loss': {:.4}, 'grad_norm': 1.5, 'learning_rate': 5e-05, 'epoch': {:.2}, 'num_input_tokens_seen': {}, 'train_runtime': {:.4}, 'train_tokens_per_second': 7201.711}}\n",
            2.6 - 0.02 * f64::from(k),
            f64::from(k) / 100.0,
            196_608 * k,
            27.3 + 3.5 * f64::from(k - 1)
        ));
    }
    log.push_str("{'train_runtime': 425.43, 'train_samples_per_second': 5.641, 'train_steps_per_second': 0.235, 'train_loss': 2.49, 'epoch': 0.1}\n");
    std::fs::write(dir.path().join("train.log"), log).expect("write");
    let doc = json_of(&[dir.path().to_str().expect("utf-8")]);
    let run = &doc["runs"][0];
    assert_eq!(run["metrics"]["loss"]["points"], 10, "{}", run["metrics"]);
    assert_eq!(run["metrics"]["loss"]["final_step"], 10.0);
    assert_eq!(run["config"]["train_runtime"]["value"], 425.43);
    assert!(
        !doc["warnings"].to_string().contains("train_runtime"),
        "{}",
        doc["warnings"]
    );
}

/// llmtuner (LLaMA-Factory before its rename) echoes each log through its logger, then HF
/// prints it; at the end it echoes the end-of-training log with its missing loss and learning
/// rate as 0 (a real run's log in `NearMugi/llm` ends so). Hand-made in that log's shape: the
/// last loss is the last step's, and no collapse is found.
#[test]
fn llmtuners_echo_of_the_end_of_training_log_is_no_zero_loss() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut log = String::from(
        "***** Running training *****\n  Num examples = 640\n  Num Epochs = 3\n  Instantaneous batch size per device = 4\n  Total train batch size (w. parallel, distributed & accumulation) = 64\n  Gradient Accumulation steps = 16\n  Total optimization steps = 30\n",
    );
    for k in 1..=10 {
        let (loss, epoch) = (1.5 - 0.05 * f64::from(k), 0.3 * f64::from(k));
        log.push_str(&format!(
            "02/16/2024 02:19:01 - INFO - llmtuner.extras.callbacks - {{'loss': {loss:.4}, 'learning_rate': 1.0000e-04, 'epoch': {epoch:.2}}}\n{{'loss': {loss:.4}, 'learning_rate': 0.0001, 'epoch': {epoch:.2}}}\n"
        ));
    }
    log.push_str("\n\nTraining completed. Do not forget to share your model on huggingface.co/models =)\n\n\n");
    log.push_str("02/16/2024 02:21:27 - INFO - llmtuner.extras.callbacks - {'loss': 0.0000, 'learning_rate': 0.0000e+00, 'epoch': 3.00}\n");
    log.push_str("{'train_runtime': 1029.3, 'train_samples_per_second': 1.865, 'train_steps_per_second': 0.029, 'train_loss': 1.22, 'epoch': 3.0}\n");
    std::fs::write(dir.path().join("train.log"), log).expect("write");
    let doc = json_of(&[dir.path().to_str().expect("utf-8")]);
    let loss = &doc["runs"][0]["metrics"]["loss"];
    assert_eq!(
        (&loss["final"], &loss["min"]),
        (&1.0.into(), &1.0.into()),
        "{loss}"
    );
    assert_eq!(loss["final_step"], 30.0, "{loss}");
    assert!(
        !common::finding_ids(&doc).contains(&"collapsed-loss".to_string()),
        "{:?}",
        common::finding_ids(&doc)
    );
}

/// A run with no progress bar (`disable_tqdm`) whose epochs are printed to 2 decimals, in a
/// 12,500-step epoch: ten dicts share each rounded epoch (0.01 is 125 steps). Placed by their
/// number × the `logging_steps` its printed arguments give, where their epochs agree, not
/// stacked on one step each and dropped as duplicates. Hand-made in the shape of a real
/// ChatGLM P-tuning log (`CambriconKnight/dev-env-ubuntu`, whose doc drops the bars).
#[test]
fn dicts_without_a_bar_sharing_a_rounded_epoch_are_numbered() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut log = String::from(
        "01/01/2024 00:00:00 - INFO - __main__ - Training/evaluation parameters TrainingArguments(\n_n_gpu=1,\ngradient_accumulation_steps=1,\nlearning_rate=5e-05,\nlogging_steps=10,\nmax_steps=400,\nnum_train_epochs=3.0,\nper_device_train_batch_size=8,\n)\n***** Running training *****\n  Num examples = 100,000\n  Num Epochs = 1\n  Instantaneous batch size per device = 8\n  Total train batch size (w. parallel, distributed & accumulation) = 8\n  Gradient Accumulation steps = 1\n  Total optimization steps = 400\n",
    );
    for k in 1..=40 {
        let step = 10 * k;
        log.push_str(&format!(
            "{{'loss': {:.4}, 'learning_rate': {}, 'epoch': {:.2}}}\n",
            3.0 - 0.03 * f64::from(k),
            5e-05 * f64::from(400 - step) / 400.0,
            f64::from(step) / 12_500.0
        ));
    }
    std::fs::write(dir.path().join("train.log"), log).expect("write");
    let doc = json_of(&[dir.path().to_str().expect("utf-8")]);
    let loss = &doc["runs"][0]["metrics"]["loss"];
    assert_eq!(loss["points"], 40, "{loss}");
    assert_eq!(loss["final_step"], 400.0, "{loss}");
    assert_eq!(loss["dropped_duplicates"], 0, "{loss}");
    assert!(
        !doc["warnings"].to_string().contains("more than once"),
        "{}",
        doc["warnings"]
    );
}

/// A real transformers 4.39 run with `--disable_tqdm True` (fixtures/gen/hf4_1proc_notqdm):
/// no progress bar, epochs printed to 2 decimals in an 800-step epoch, so three to five dicts
/// share each printed epoch. The printout's `logging_steps` 2 numbers them: 100 losses at steps
/// 2–200, as its trainer_state.json has them. The script's evaluation after training, at the
/// step of the last one during it with the same eval_loss, is that one point, not a step
/// logged twice.
#[test]
fn a_real_run_without_bars_keeps_every_dict() {
    let doc = json_of(&["fixtures/gen/hf4_1proc_notqdm/train.log"]);
    let run = &doc["runs"][0];
    let loss = &run["metrics"]["loss"];
    assert_eq!(loss["points"], 100, "{loss}");
    assert_eq!(loss["dropped_duplicates"], 0, "{loss}");
    assert_eq!(
        (&loss["final_step"], &loss["final"]),
        (&200.0.into(), &4.5509.into()),
        "{loss}"
    );
    assert_eq!(run["metrics"]["eval_loss"]["points"], 4);
    assert_eq!(run["metrics"]["eval_loss"]["final_step"], 200.0);
    assert!(
        !doc["warnings"].to_string().contains("more than once"),
        "{}",
        doc["warnings"]
    );
    // Every loss at the step its trainer_state.json gives it.
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string("fixtures/gen/hf4_1proc_notqdm/out/trainer_state.json")
            .expect("state"),
    )
    .expect("json");
    let logged: Vec<(f64, f64)> = state["log_history"]
        .as_array()
        .expect("history")
        .iter()
        .filter_map(|e| Some((e["step"].as_f64()?, e.get("loss")?.as_f64()?)))
        .collect();
    let out = losscmp()
        .args(["fixtures/gen/hf4_1proc_notqdm/train.log", "--csv", "-"])
        .output()
        .expect("runs");
    let csv = String::from_utf8_lossy(&out.stdout);
    let read: Vec<(f64, f64)> = csv
        .lines()
        .filter(|l| l.contains(",loss,"))
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[2].parse().expect("step"), f[7].parse().expect("value"))
        })
        .collect();
    assert_eq!(read.len(), logged.len());
    for ((s, v), (ls, lv)) in read.iter().zip(&logged) {
        assert_eq!(s, ls);
        assert!((v - lv).abs() < 1e-4, "step {s}: {v} vs {lv}");
    }
}

/// A Trainer subclass whose `log()` writes the rate as `lr` (a real trainer_state.json in
/// `HangerYang/Star` has `"lr": 0.0001` in every entry and no `learning_rate`): read as the
/// learning rate. Hand-made in that shape; a state with both keeps each as logged.
#[test]
fn a_trainer_states_lr_is_its_learning_rate() {
    let dir = tempfile::tempdir().expect("temp dir");
    let entry = |s: u32, extra: &str| {
        format!(
            "{{\"epoch\": {}, \"loss\": {}, \"lr\": 0.0001,{extra} \"step\": {s}}}",
            f64::from(s) / 100.0,
            3.0 - f64::from(s) / 100.0
        )
    };
    let state = |extra: &str| {
        let entries: Vec<String> = (1..=5).map(|k| entry(k * 20, extra)).collect();
        format!(
            "{{\"global_step\": 100, \"max_steps\": 100, \"logging_steps\": 20, \"log_history\": [{}]}}",
            entries.join(", ")
        )
    };
    std::fs::write(dir.path().join("trainer_state.json"), state("")).expect("write");
    let doc = json_of(&[dir.path().to_str().expect("utf-8")]);
    let metrics = &doc["runs"][0]["metrics"];
    assert_eq!(metrics["learning_rate"]["points"], 5, "{metrics}");
    assert!(metrics["lr"].is_null(), "{metrics}");
    assert_eq!(doc["runs"][0]["config"]["learning_rate"]["value"], 0.0001);
    std::fs::write(
        dir.path().join("trainer_state.json"),
        state(" \"learning_rate\": 0.0002,"),
    )
    .expect("write");
    let doc = json_of(&[dir.path().to_str().expect("utf-8")]);
    let metrics = &doc["runs"][0]["metrics"];
    assert_eq!(metrics["lr"]["points"], 5, "{metrics}");
    assert_eq!(metrics["learning_rate"]["final"], 0.0002, "{metrics}");
}
