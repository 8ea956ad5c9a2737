//! End-to-end: what losscmp reads from real run directories and single files, checked against
//! the trainers' own files (fixtures/expected.json) and against broken inputs.

mod common;

use common::predicate;
use common::{fixture, json_of, losscmp, text_of};
use serde_json::Value;

fn expected() -> Value {
    let text = std::fs::read_to_string(fixture("expected.json")).expect("fixtures/expected.json");
    serde_json::from_str(&text).expect("valid expectations")
}

fn config_value(run: &Value, key: &str) -> Value {
    run["config"][key]["value"].clone()
}

#[test]
fn every_fixture_run_reads_as_its_trainer_wrote_it() {
    let exp = expected();
    for (name, want) in exp.as_object().expect("object") {
        let doc = json_of(&[&format!("fixtures/{name}")]);
        let run = &doc["runs"][0];
        assert_eq!(run["label"], name.rsplit('/').next().expect("a name"));
        for key in [
            "world_size",
            "per_device_batch",
            "grad_accum",
            "effective_batch",
            "total_steps",
        ] {
            assert_eq!(
                config_value(run, key).as_f64(),
                want[key].as_f64(),
                "{name}: {key}"
            );
            let source = run["config"][key]["source"].as_str().expect("source");
            assert!(
                source.contains("fixtures/") || source.starts_with("derived"),
                "{name}: {key} from {source}"
            );
        }
        let loss = &run["metrics"]["loss"];
        assert_eq!(loss["points"], want["loss_points"], "{name}: loss points");
        assert_eq!(
            loss["final"], want["final_loss"],
            "{name}: final loss, full precision from trainer_state.json"
        );
        assert_eq!(
            run["metrics"]["eval_loss"]["points"], want["eval_loss_points"],
            "{name}"
        );
        assert_eq!(
            run["metrics"]["eval_loss"]["final"], want["final_eval_loss"],
            "{name}"
        );
        assert!(
            loss["source"]
                .as_str()
                .expect("source")
                .ends_with("trainer_state.json"),
            "{name}: trainer state wins"
        );
    }
}

#[test]
fn summary_shows_batch_factors_with_sources_steps_and_points() {
    losscmp()
        .args(["fixtures/lf_1gpu_ga8", "fixtures/lf_8proc_ga8", "-v"])
        .assert()
        .success()
        .stdout(predicate::str::contains("effective batch 16 = world 1 × per-device 2 × grad accum 8"))
        .stdout(predicate::str::contains("effective batch 128 = world 8 × per-device 2 × grad accum 8"))
        .stdout(predicate::str::contains("world_size               8            fixtures/lf_8proc_ga8/train.log: line 14 (world size)"))
        .stdout(predicate::str::contains("optimizer steps 384"))
        .stdout(predicate::str::contains("optimizer steps 48"))
        .stdout(predicate::str::contains("final loss 0.521622 at step 48 (6,144 samples)"))
        .stdout(predicate::str::contains("fixtures/lf_8proc_ga8/eval_results.json (hf_results): 1 record (eval_loss)\n"))
        .stdout(predicate::str::contains("fixtures/lf_8proc_ga8/trainer_log.jsonl (llamafactory_jsonl): 26 records (eval_loss, learning_rate, loss), 1 config value\n"))
        .stdout(predicate::str::contains("points: eval_loss 2, eval_runtime 2, eval_samples_per_second 2, eval_steps_per_second 2, grad_norm 24, learning_rate 24, loss 24"));
}

#[test]
fn a_lone_trainer_state_derives_the_batch_from_throughput() {
    let doc = json_of(&["fixtures/lf_8proc_ga8/trainer_state.json"]);
    let run = &doc["runs"][0];
    assert_eq!(run["label"], "lf_8proc_ga8");
    assert_eq!(config_value(run, "effective_batch"), 128.0);
    let src = run["config"]["effective_batch"]["source"]
        .as_str()
        .expect("source");
    assert!(
        src.starts_with(
            "derived: ≈ train_samples_per_second 378.718 × train_runtime 16.2232 ÷ 48 steps"
        ),
        "{src}"
    );
    assert_eq!(config_value(run, "per_device_batch"), 2.0);
    assert_eq!(
        config_value(run, "world_size"),
        Value::Null,
        "world × GA = 64 cannot be split"
    );
    assert_eq!(run["config"]["world_size"]["source"], "unknown");
}

#[test]
fn a_lone_stdout_log_reads_the_header_and_places_steps() {
    let doc = json_of(&["fixtures/lf_8proc_ga8/train.log"]);
    let run = &doc["runs"][0];
    assert_eq!(config_value(run, "effective_batch"), 128.0);
    assert_eq!(config_value(run, "world_size"), 8.0);
    let loss = &run["metrics"]["loss"];
    assert_eq!(loss["points"], 24);
    assert_eq!(
        loss["final"], 0.5216,
        "transformers 5 prints 4 significant digits"
    );
    assert_eq!(loss["final_step"], 48.0);
    assert_eq!(
        loss["step_origin"],
        "epoch × steps per epoch (training header)"
    );
}

#[test]
fn a_lone_jsonl_says_what_it_cannot_determine() {
    losscmp()
        .arg("fixtures/lf_8proc_ga8/trainer_log.jsonl")
        .arg("-v")
        .assert()
        .success()
        .stdout(predicate::str::contains("effective batch unknown"))
        .stdout(predicate::str::contains(
            "world_size               unknown      not in the logs; set it with --set",
        ));
    let doc = json_of(&[
        "fixtures/lf_8proc_ga8/trainer_log.jsonl",
        "--set",
        "lf_8proc_ga8:effective_batch=128",
    ]);
    let run = &doc["runs"][0];
    assert_eq!(config_value(run, "effective_batch"), 128.0);
    assert_eq!(
        run["config"]["effective_batch"]["source"],
        "override: --set effective_batch=128"
    );
    assert_eq!(run["metrics"]["loss"]["final_samples"], 6144.0);
}

/// `--set` is for what a log lacks: a value that replaces one a file states is used, and the
/// replaced value is named with its file and line (a typo, or a value meant for another run).
#[test]
fn a_set_value_that_replaces_a_logged_one_says_so() {
    let out = losscmp()
        .args(["fixtures/lf_1gpu_ga8", "--set", "lf_1gpu_ga8:num_examples=5000"])
        .args(["--json", "-"])
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "[lf_1gpu_ga8] num_examples: --set num_examples=5000 is used, not 2048 that fixtures/lf_1gpu_ga8/train.log: line 204 (Num examples) says",
        ));
    let doc: Value = serde_json::from_slice(&out.get_output().stdout).expect("json");
    assert_eq!(config_value(&doc["runs"][0], "num_examples"), 5000.0);
    // The same value as the log's: nothing to say.
    losscmp()
        .args([
            "fixtures/lf_1gpu_ga8",
            "--set",
            "lf_1gpu_ga8:num_examples=2048",
        ])
        .assert()
        .success()
        .stderr(predicate::str::contains("num_examples").not());
}

/// A stdout log beside its trainer state (hand-made in the shape of a real seq2seq run's,
/// `Jaong/Checkpoint-of-CPT`): the log's last dict, at epoch 9.11 × 549 steps an epoch =
/// step 5,001, is the state's last entry (step 5,000) again, not an 11th point past it.
#[test]
fn a_stdout_copy_of_the_last_entry_is_not_a_point_past_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let steps: Vec<u32> = (1..=10).map(|k| k * 500).collect();
    let loss = |s: u32| 0.2645 + f64::from(5000 - s) / 10_000.0;
    let entries: Vec<String> = steps
        .iter()
        .map(|&s| {
            format!(
                "{{\"epoch\": {}, \"loss\": {}, \"step\": {s}}}",
                f64::from(s) / 549.0,
                loss(s)
            )
        })
        .collect();
    std::fs::write(
        dir.path().join("trainer_state.json"),
        format!(
            "{{\"global_step\": 5000, \"max_steps\": 5000, \"num_train_epochs\": 10, \"logging_steps\": 500, \"log_history\": [{}]}}",
            entries.join(", ")
        ),
    )
    .expect("state");
    let mut log = String::from(
        "***** Running training *****\n  Num examples = 4,392\n  Num Epochs = 10\n  Num update steps per epoch = 549\n  Total optimization steps = 5,000\n",
    );
    for &s in &steps {
        log.push_str(&format!(
            "{{'loss': {:.4}, 'learning_rate': 1e-05, 'epoch': {:.2}}}\n",
            loss(s),
            f64::from(s) / 549.0
        ));
    }
    std::fs::write(dir.path().join("train.log"), log).expect("log");
    let doc = json_of(&[dir.path().to_str().expect("utf-8")]);
    let loss = &doc["runs"][0]["metrics"]["loss"];
    assert_eq!(loss["points"], 10, "{loss}");
    assert_eq!(loss["final_step"], 5000.0, "{loss}");
    assert_eq!(loss["extended_points"], 0, "{loss}");
}

/// public/05's state with the `all_results.json` its repository holds beside it
/// (`P4P4N1CK/whisper-large-v2-japanese-5k-steps`): max_steps 5,000 ends the run at epoch
/// 38.17, so the planned 39 epochs are rounded up; the batch is the one whose ⌈6,505 ÷ b⌉ is
/// the 131 steps an epoch the logged epochs give (50, as samples/s × runtime ÷ steps has it),
/// not 6,505 × 39 ÷ 5,000 ≈ 51.
#[test]
fn a_run_max_steps_ends_mid_epoch_takes_its_batch_from_an_epochs_steps() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::copy(
        fixture("public/05_hf-state-old-noGradNorm-whisper-38ep/trainer_state.json"),
        dir.path().join("trainer_state.json"),
    )
    .expect("state");
    std::fs::write(
        dir.path().join("all_results.json"),
        r#"{"epoch": 38.17, "train_loss": 0.01890342615880072, "train_runtime": 77350.9963, "train_samples": 6505, "train_samples_per_second": 3.232, "train_steps_per_second": 0.065}"#,
    )
    .expect("results");
    let doc = json_of(&[dir.path().to_str().expect("utf-8")]);
    let run = &doc["runs"][0];
    assert_eq!(config_value(run, "effective_batch"), 50.0);
    assert_eq!(run["metrics"]["loss"]["final_samples"], 250_000.0);
}

#[test]
fn a_resumed_run_keeps_one_point_per_step_and_says_so() {
    losscmp()
        .arg("fixtures/hf_1gpu_ga8_resumed/train.log")
        .args(["--json", "-"])
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "steps 194–206 were logged more than once",
        ))
        .stderr(predicate::str::contains(
            "dropped the earlier points (7 of loss)",
        ))
        .stdout(predicate::str::contains("\"dropped_duplicates\": 7"));
}

#[test]
fn stdin_gzip_and_crlf_read_like_the_file() {
    let raw = std::fs::read(fixture("lf_8proc_ga8/train.log")).expect("fixture");
    let dir = tempfile::tempdir().expect("tempdir");
    let gz = dir.path().join("train.log.gz");
    std::fs::write(&gz, common::gzip(&raw)).expect("write");
    let crlf = dir.path().join("crlf.log");
    std::fs::write(&crlf, String::from_utf8_lossy(&raw).replace('\n', "\r\n")).expect("write");
    let points = |doc: &Value| doc["runs"][0]["metrics"]["loss"]["points"].clone();
    assert_eq!(points(&json_of(&[gz.to_str().expect("utf-8")])), 24);
    assert_eq!(points(&json_of(&[crlf.to_str().expect("utf-8")])), 24);
    let out = losscmp()
        .args(["-", "--json", "-"])
        .write_stdin(raw)
        .output()
        .expect("runs");
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(points(&doc), 24);
    assert_eq!(doc["runs"][0]["label"], "stdin");
    // Its values are said to come from stdin, not from a file named "-".
    let source = doc["runs"][0]["metrics"]["loss"]["source"]
        .as_str()
        .expect("source");
    assert_eq!(source, "stdin");
}

#[test]
fn bad_inputs_fail_with_the_file_named_and_exit_2() {
    for (file, message) in [
        ("bad/empty.log", "fixtures/bad/empty.log: the file is empty"),
        (
            "bad/binary.log",
            "fixtures/bad/binary.log: a binary file, not a training log",
        ),
        (
            "bad/no_metrics.log",
            "fixtures/bad/no_metrics.log: no training metrics found",
        ),
        (
            "bad/lfs_pointer_trainer_log.jsonl",
            "a Git LFS pointer, not the log itself",
        ),
        (
            "does/not/exist",
            "fixtures/does/not/exist: no such file or directory",
        ),
    ] {
        losscmp()
            .arg(format!("fixtures/{file}"))
            .assert()
            .code(2)
            .stderr(predicate::str::starts_with("losscmp: error: "))
            .stderr(predicate::str::contains(message))
            .stderr(predicate::str::contains("panicked").not());
    }
    let empty = tempfile::tempdir().expect("tempdir");
    losscmp()
        .arg(empty.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "no training metrics found; found: no files",
        ));
}

#[test]
fn a_truncated_state_is_used_with_a_warning() {
    losscmp()
        .arg("fixtures/bad/truncated_trainer_state.json")
        .arg("-v")
        .assert()
        .success()
        .stderr(predicate::str::contains("truncated JSON: the text ends at line 127, inside a log_history entry from line 125"))
        .stderr(predicate::str::contains("read the 16 complete log_history entries"))
        .stdout(predicate::str::contains("eval_loss 1, eval_runtime 1, eval_samples_per_second 1, eval_steps_per_second 1, grad_norm 15, learning_rate 15, loss 15"));
}

#[test]
fn a_line_longer_than_the_limit_is_skipped_not_loaded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("huge.log");
    let mut text = vec![b'#'; 5 << 20];
    text.extend_from_slice(
        b"\n{'loss': 1.5, 'epoch': 0.5, 'step': 10}\n{'loss': 1.0, 'epoch': 1.0, 'step': 20}\n",
    );
    std::fs::write(&path, text).expect("write");
    losscmp()
        .arg(&path)
        .arg("-v")
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "1 line longer than 1048576 bytes was skipped",
        ))
        .stdout(predicate::str::contains("final loss 1 at step 20"));
}

#[test]
fn inputs_are_never_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = dir.path().join("run");
    std::fs::create_dir(&run).expect("mkdir");
    for f in ["trainer_state.json", "train.log", "config.yaml"] {
        std::fs::copy(fixture(&format!("lf_8proc_ga8/{f}")), run.join(f)).expect("copy");
    }
    let before: Vec<_> = std::fs::read_dir(&run)
        .expect("ls")
        .map(|e| e.expect("entry").path())
        .collect();
    let bytes: Vec<Vec<u8>> = before
        .iter()
        .map(|p| std::fs::read(p).expect("read"))
        .collect();
    losscmp().arg(&run).assert().success();
    let after: Vec<_> = std::fs::read_dir(&run)
        .expect("ls")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(before.len(), after.len());
    for (p, b) in before.iter().zip(bytes) {
        assert_eq!(
            std::fs::read(p).expect("read"),
            b,
            "{} changed",
            p.display()
        );
    }
}

#[test]
fn public_logs_with_their_traps() {
    // World size 7 from a LLaMA-Factory running_log header (112 = 7 × 2 × 8), and no loss at all.
    let out = losscmp()
        .args([
            "fixtures/public/01_lf-qwen3-14b-world7-nolosslog",
            "--json",
            "-",
        ])
        .output()
        .expect("runs");
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
    let run = &doc["runs"][0];
    assert_eq!(config_value(run, "world_size"), 7.0);
    assert_eq!(
        run["config"]["world_size"]["source"],
        "derived: effective_batch 112 ÷ (per_device_batch 2 × grad_accum 8)"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("no training loss in any file"));
    // nn.DataParallel over 4 GPUs in transformers 4.15: no world-size line, the factor 4 is derived.
    let run = &json_of(&["fixtures/public/11_hf-stdout-dataparallel-ngpu4-tf4.15"])["runs"][0];
    assert_eq!(config_value(run, "world_size"), 4.0);
    assert_eq!(config_value(run, "effective_batch"), 64.0);
    // llmtuner printed every log twice (its callback, then HF's dict): one point per step remains.
    let run = &json_of(&["fixtures/public/10_llmtuner-stdout-duplicated-loss-lines"])["runs"][0];
    assert_eq!(run["metrics"]["loss"]["points"], 20);
    assert_eq!(run["metrics"]["loss"]["dropped_duplicates"], 20);
    assert_eq!(run["metrics"]["loss"]["final"], 0.9876);
    // Two writers on one trainer_log.jsonl: every step twice, the later kept.
    let run =
        &json_of(&["fixtures/public/34_lf-jsonl-every-step-twice-concurrent-writers"])["runs"][0];
    assert_eq!(run["metrics"]["loss"]["points"], 10);
    assert_eq!(run["metrics"]["loss"]["dropped_duplicates"], 10);
}

#[test]
fn a_run_with_final_values_only_is_still_a_run() {
    // axolotl's stdout holding only the end-of-training summary, beside its YAML (hand-made:
    // fixtures/README.md).
    let doc = json_of(&["fixtures/handmade/axolotl_summary_only"]);
    let run = &doc["runs"][0];
    assert_eq!(run["config"]["train_runtime"]["value"], 612.4);
    assert_eq!(run["config"]["per_device_batch"]["value"], 2.0);
    assert_eq!(run["config"]["trainer"]["value"], "axolotl");
    assert!(run["metrics"].as_object().expect("metrics").is_empty());
    assert!(
        doc["warnings"].to_string().contains("no curve was logged"),
        "{}",
        doc["warnings"]
    );
    // Compared with a run that has curves: what can be compared is, and it says so.
    losscmp()
        .args([
            "fixtures/lf_1gpu_ga8",
            "fixtures/handmade/axolotl_summary_only",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "axolotl_summary_only logged no curve (final values only)",
        ));
}

#[test]
fn a_folder_of_lfs_pointers_says_to_pull_them() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pointer = std::fs::read("fixtures/bad/lfs_pointer_trainer_log.jsonl").expect("fixture");
    for name in ["trainer_state.json", "trainer_log.jsonl"] {
        std::fs::write(dir.path().join(name), &pointer).expect("write");
    }
    losscmp()
        .arg(dir.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "2 of its files are Git LFS pointers, not the logs themselves; run `git lfs pull`",
        ));
}

#[test]
fn no_metrics_says_what_was_found() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::copy(
        "fixtures/lf_1gpu_ga8/config.yaml",
        dir.path().join("config.yaml"),
    )
    .expect("copy");
    std::fs::write(dir.path().join("notes.txt"), "nothing to see\n").expect("write");
    losscmp()
        .arg(dir.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "no training metrics found; found: config.yaml (run_args: 0 records, 8 config values), notes.txt (skipped)",
        ));
}

/// A sweep folder's README (it names gradient_accumulation_steps and learning_rate) passed
/// among the runs by a glob: refused as what it is, not a training log, rather than as a
/// config with invalid YAML.
#[test]
fn a_readme_among_the_runs_is_named_as_not_a_log() {
    losscmp()
        .args(["fixtures/sweep/README.md", "fixtures/sweep/b16_lr0.002"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "fixtures/sweep/README.md: no training metrics found; found: README.md (skipped)",
        ))
        .stderr(predicate::str::contains("YAML").not());
}

/// A directory whose only file is passed over by its name (a log kept as markdown) says which
/// files it passed over and that the file itself can be given, which reads it.
#[test]
fn a_folder_of_passed_over_files_names_them() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = dir.path().join("reshaping-log.md");
    std::fs::copy(
        "fixtures/public/13_megatron-ds-bigscience-176B-reshaping/reshaping-log.txt",
        &log,
    )
    .expect("copy");
    losscmp()
        .arg(dir.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "found: no file losscmp opens (reshaping-log.md passed over by name",
        ))
        .stderr(predicate::str::contains(
            "read when passed as the RUN itself",
        ));
    losscmp().arg(&log).assert().success();
}

/// A run killed early (a real OLMo console log, 20 of 15,000 steps, no end-of-training summary)
/// is said to stop short; a finished run (its last log an interval before the end) is not.
#[test]
fn a_run_cut_short_says_where_it_stopped() {
    losscmp()
        .arg("fixtures/real/08_olmo-console-step-blocks-killed-run")
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "the training loss stops at step 20 of 15,000 (under 1%) and no end-of-training summary was found",
        ));
    losscmp()
        .arg("fixtures/sweep/b16_lr0.002/trainer_log.jsonl")
        .assert()
        .success()
        .stderr(predicate::str::contains("stops at step").not());
    losscmp()
        .arg("fixtures/lf_1gpu_ga8")
        .assert()
        .success()
        .stderr(predicate::str::contains("stops at step").not());
}

/// Loss dicts that could not be placed (no step, nothing gives one) are why a run has no loss,
/// not a logging interval larger than the run.
#[test]
fn unplaced_loss_records_are_named_as_the_reason_for_no_loss() {
    losscmp()
        .arg("fixtures/public/22_deepspeed-hf-interleaved-fate-llm")
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "no training loss could be placed: the metric records without a step were skipped",
        ))
        .stderr(predicate::str::contains("logging_steps larger than the run").not())
        // What it suggests places them: their epochs × the steps of an epoch.
        .stderr(predicate::str::contains(
            "add --set 22_deepspeed-hf-interleaved-fate-llm:steps_per_epoch=N (their epochs then give their steps)",
        ));
    losscmp()
        .args([
            "fixtures/public/22_deepspeed-hf-interleaved-fate-llm",
            "--set",
            "22_deepspeed-hf-interleaved-fate-llm:steps_per_epoch=100",
        ])
        .assert()
        .success()
        .stderr(predicate::str::contains("no training loss could be placed").not());
}

#[test]
fn contradictory_batch_facts_are_named_and_result_dicts_are_not_metrics() {
    // A real 2021 HF Trainer output (fixtures/real/13): the header says 8 per device × GA 1 but a
    // total batch of 4; after training the script prints fill-mask results as dicts.
    let case = "fixtures/real/13_hf-2021-readme-log-contradictory-batch-fillmask-after";
    let doc = json_of(&[case]);
    let warnings = doc["warnings"].to_string();
    assert!(
        warnings.contains("the batch facts contradict each other: effective_batch 4")
            && warnings.contains("line 50")
            && warnings.contains("line 49")
            && warnings.contains("line 51"),
        "{warnings}"
    );
    let metrics = doc["runs"][0]["metrics"].as_object().expect("metrics");
    assert!(
        !metrics.contains_key("score") && !metrics.contains_key("token"),
        "{metrics:?}"
    );
    assert!(!warnings.contains("logged more than once"), "{warnings}");
}

#[test]
fn steps_per_epoch_prefer_the_planned_total_and_carry_the_rounding_of_an_epoch() {
    // A crashed LLaMA-Factory run: its last row is at step 39, epoch 0.1 (rounded to 2 decimals
    // by LLaMA-Factory), of 1,218 planned steps over 3 epochs (406 per epoch).
    let dir = tempfile::tempdir().expect("temp dir");
    let rows: String = [13, 26, 39]
        .iter()
        .map(|s| {
            format!(
                "{{\"current_steps\": {s}, \"total_steps\": 1218, \"loss\": 1.5, \"epoch\": {}}}\n",
                (f64::from(*s) / 406.0 * 100.0).round() / 100.0
            )
        })
        .collect();
    std::fs::write(dir.path().join("trainer_log.jsonl"), rows).expect("write");
    let doc = json_of(&[dir.path().to_str().expect("utf-8")]);
    let spe = &doc["runs"][0]["config"]["steps_per_epoch"];
    assert_eq!(spe["value"], 390.0, "{spe}");
    assert!(
        spe["source"]
            .as_str()
            .expect("source")
            .ends_with("the epoch is rounded, so between 260 and 780"),
        "{spe}"
    );
    std::fs::write(
        dir.path().join("config.yaml"),
        "num_train_epochs: 3\nlearning_rate: 1.0e-4\nper_device_train_batch_size: 2\n",
    )
    .expect("write");
    let doc = json_of(&[dir.path().to_str().expect("utf-8")]);
    let spe = &doc["runs"][0]["config"]["steps_per_epoch"];
    assert_eq!(spe["value"], 406.0, "{spe}");
    assert_eq!(spe["source"], "derived: total_steps 1218 ÷ epochs 3");
}

#[test]
fn steps_per_epoch_of_a_run_cut_by_max_steps_come_from_its_unrounded_epoch() {
    // HF Trainer writes `num_train_epochs: 1` for `max_steps: 3000` when an epoch is 10,827
    // steps (the count is rounded up), and rounds logged epochs to 2 decimals (real case 22).
    // Its top-level `epoch` is unrounded.
    let dir = tempfile::tempdir().expect("temp dir");
    let entries: Vec<String> = [500, 1000]
        .iter()
        .map(|s| {
            let epoch = (f64::from(*s) / 10827.0 * 100.0).round() / 100.0;
            format!("{{\"epoch\": {epoch}, \"loss\": 1.2, \"step\": {s}}}")
        })
        .collect();
    let state = |top: &str| {
        format!(
            "{{{top}\"log_history\": [{}], \"max_steps\": 3000, \"num_train_epochs\": 1}}",
            entries.join(", ")
        )
    };
    let path = dir.path().join("trainer_state.json");
    std::fs::write(
        &path,
        state("\"epoch\": 0.09235955575053684, \"global_step\": 1000, "),
    )
    .expect("write");
    let doc = json_of(&[dir.path().to_str().expect("utf-8")]);
    let spe = &doc["runs"][0]["config"]["steps_per_epoch"];
    assert_eq!(spe["value"], 10827.0, "{spe}");
    let source = spe["source"].as_str().expect("source");
    assert!(
        source.starts_with("derived: step 1000 ÷ epoch 0.09235955575053684 (")
            && source.contains("trainer_state.json: global_step and epoch)")
            && source.ends_with(
                "total_steps 3000 ÷ epochs 1 = 3000 does not fit the logged epochs: the planned epochs are rounded up when max_steps ends a run mid-epoch"
            ),
        "{source}"
    );
    // A mid-epoch checkpoint whose dataloader (130 batches) is no multiple of the accumulation
    // (8): 17 updates an epoch (51 over 3 epochs), epoch 80 ÷ 130 at global step 10, which is
    // 16.25 steps an epoch: one step off, and it fits the planned 17.
    let ckpt = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        ckpt.path().join("trainer_state.json"),
        "{\"epoch\": 0.6153846153846154, \"global_step\": 10, \"log_history\": [{\"epoch\": 0.62, \"loss\": 1.9, \"step\": 10}], \"max_steps\": 51, \"num_train_epochs\": 3}",
    )
    .expect("write");
    let doc = json_of(&[ckpt.path().to_str().expect("utf-8")]);
    let spe = &doc["runs"][0]["config"]["steps_per_epoch"];
    assert_eq!(spe["value"], 17.0, "{spe}");
    assert_eq!(spe["source"], "derived: total_steps 51 ÷ epochs 3");
    // Without the top level, the last logged epoch (0.09, rounded) says it, with its bounds.
    std::fs::write(&path, state("")).expect("write");
    let doc = json_of(&[dir.path().to_str().expect("utf-8")]);
    let spe = &doc["runs"][0]["config"]["steps_per_epoch"];
    assert_eq!(spe["value"], 11111.0, "{spe}");
    assert!(
        spe["source"]
            .as_str()
            .expect("source")
            .contains("the epoch is rounded, so between 10527 and 11764"),
        "{spe}"
    );
}

#[test]
fn a_log_that_holds_part_of_a_finished_run_is_said_and_its_results_sit_at_their_epoch() {
    // Real case 16: trainer_log.jsonl through step 810 of 6,750; all_results.json, written at
    // the end of training (epoch 3), holds the final eval_loss.
    let case = fixture("real/16_lf-jsonl-separate-eval-rows-with-all-results");
    let doc = json_of(&[case.to_str().expect("utf-8")]);
    let warnings = doc["warnings"].to_string();
    assert!(
        warnings.contains("the training loss stops at step 810 (12%) of the 6,750 that ")
            && warnings.contains(
                "all_results.json says training reached (epoch 3): these logs hold part of the run"
            ),
        "{warnings}"
    );
    let eval = &doc["runs"][0]["metrics"]["eval_loss"];
    assert_eq!(eval["final_step"], 6750.0, "{eval}");
    // 6,750 steps × the effective batch 8 (all_results.json's throughput × runtime ÷ steps).
    assert_eq!(eval["final_samples"], 54000.0, "{eval}");

    // Real case 21: losses every 25 steps, the last at step 75 of the 80 the state reached, no
    // logging_steps key: a finished run's last log, not a part.
    let case = fixture("real/21_hf-state-2021-era-summary-without-train-loss");
    let doc = json_of(&[case.to_str().expect("utf-8")]);
    let warnings = doc["warnings"].to_string();
    assert!(!warnings.contains("hold part of the run"), "{warnings}");
}

/// transformers before 4.5 logged steps per second as `train_samples_per_second`: 3.969 ×
/// 20.155 s is real/21's 80 steps, not 80 samples. No batch of 1 is derived from it, and it is
/// said; where the example scripts' `train_samples` is known, the batch comes from it.
#[test]
fn an_old_transformers_samples_per_second_that_counts_steps_gives_no_batch() {
    let case = fixture("real/21_hf-state-2021-era-summary-without-train-loss");
    let doc = json_of(&[case.to_str().expect("utf-8")]);
    let config = &doc["runs"][0]["config"];
    assert!(config["effective_batch"]["value"].is_null(), "{config}");
    assert!(
        config["train_samples_per_second"]["value"].is_null(),
        "{config}"
    );
    let warnings = doc["warnings"].to_string();
    assert!(
        warnings.contains("× train_runtime 20.155 is 80, the run's 80 steps: transformers before 4.5 logged steps per second under that name"),
        "{warnings}"
    );

    let case = fixture("public/40_hf-2021-results-samples-per-second-counts-steps");
    let doc = json_of(&[case.to_str().expect("utf-8")]);
    let config = &doc["runs"][0]["config"];
    assert_eq!(config["num_examples"]["value"], 14732.0, "{config}");
    assert_eq!(config["effective_batch"]["value"], 64.0, "{config}");
    assert!(
        config["effective_batch"]["source"]
            .as_str()
            .is_some_and(|s| s.contains("num_examples 14732 × epochs 3 ÷ total_steps 693")),
        "{config}"
    );
    let warnings = doc["warnings"].to_string();
    assert!(
        warnings.contains("is 693, the run's 693 steps"),
        "{warnings}"
    );
    // One loss, at step 500 of 693, logged every 500: the run's last log, not a part of it.
    assert!(!warnings.contains("hold part of the run"), "{warnings}");
    let loss = &doc["runs"][0]["metrics"]["loss"];
    assert_eq!(loss["final_samples"], 32000.0, "{loss}");
    // The results were written where the state says training ended (global_step 693), not at
    // the last logged loss (500); their memory deltas and example count are no metrics.
    let metrics = &doc["runs"][0]["metrics"];
    assert_eq!(metrics["eval_loss"]["final_step"], 693.0, "{metrics}");
    assert!(
        metrics["eval_samples"].is_null() && metrics["eval_mem_cpu_alloc_delta"].is_null(),
        "{metrics}"
    );
}

#[test]
fn a_throughput_batch_is_a_multiple_of_the_per_device_batch() {
    // 260 examples at per-device batch 2 and GA 8: 17 steps an epoch, the last one partial.
    // HF counts 260 × 3 samples over 51 steps: 15.29 a step, which is no batch of 2s; 16 is.
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("trainer_state.json"),
        "{\"epoch\": 3.0, \"global_step\": 51, \"log_history\": [{\"epoch\": 2.94, \"loss\": 0.35, \"step\": 50}, {\"epoch\": 3.0, \"step\": 51, \"train_runtime\": 10.0, \"train_samples_per_second\": 78.0, \"train_loss\": 0.9}], \"max_steps\": 51, \"num_train_epochs\": 3, \"train_batch_size\": 2}",
    )
    .expect("write");
    let doc = json_of(&[dir.path().to_str().expect("utf-8")]);
    let batch = &doc["runs"][0]["config"]["effective_batch"];
    assert_eq!(batch["value"], 16.0, "{batch}");
    assert!(
        batch["source"]
            .as_str()
            .expect("source")
            .ends_with("= 15.29, rounded up to a multiple of per_device_batch 2 (a partial last batch of an epoch counts fewer samples)"),
        "{batch}"
    );
}

#[test]
fn a_results_file_past_the_runs_planned_steps_is_another_runs() {
    // The 1-GPU run's whole trainer_log.jsonl (384 of 384 steps) beside an all_results.json an
    // earlier 6-epoch run left in the same output directory.
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::copy(
        fixture("lf_1gpu_ga8/trainer_log.jsonl"),
        dir.path().join("trainer_log.jsonl"),
    )
    .expect("copy");
    std::fs::write(
        dir.path().join("all_results.json"),
        "{\"epoch\": 6.0, \"eval_loss\": 0.0012, \"train_runtime\": 36.0, \"train_samples_per_second\": 341.0}",
    )
    .expect("write");
    let doc = json_of(&[dir.path().to_str().expect("utf-8")]);
    let warnings = doc["warnings"].to_string();
    assert!(
        warnings.contains("all_results.json says training reached step 768 (epoch 6), past the 384 steps this run plans: it is another run's"),
        "{warnings}"
    );
    assert!(!warnings.contains("hold part of the run"), "{warnings}");
    let eval = &doc["runs"][0]["metrics"]["eval_loss"];
    assert_eq!(eval["final_step"], 384.0, "{eval}");
}

#[test]
fn custom_trainer_dicts_two_segments_two_ranks_and_a_cut_last_line() {
    let run = "fixtures/handmade/custom_dicts_resumed_ranks_truncated";
    let out = losscmp()
        .args([run, "--set", "custom_dicts_resumed_ranks_truncated:total_steps=30"])
        .args(["--set", "custom_dicts_resumed_ranks_truncated:epochs=1.5", "--json", "-"])
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "1 metric dict line could not be read (cut short, as a killed run's last line is, or mangled) (first at line 8)",
        ))
        .stderr(predicate::str::contains(
            "steps 10–20 were logged more than once",
        ));
    let doc: Value = serde_json::from_slice(&out.get_output().stdout).expect("json");
    let loss = &doc["runs"][0]["metrics"]["loss"];
    // The restart's values win at the steps both segments logged; the rank copy is one point.
    assert_eq!(loss["points"], 3);
    assert_eq!(loss["final"], 1.0);
    assert_eq!(loss["final_step"], 30.0);
    assert_eq!(loss["dropped_duplicates"], 3);
}

/// A trainer_state.json that is not the Trainer's state (a top-level array) is named in a
/// warning, with what it lacks; the run's other logs are read.
#[test]
fn a_state_file_that_is_not_one_is_said() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = dir.path().join("run");
    std::fs::create_dir(&run).expect("run dir");
    std::fs::write(
        run.join("trainer_state.json"),
        r#"[{"step": 1, "loss": 1.0}]"#,
    )
    .expect("state");
    std::fs::copy(
        common::fixture("lf_1gpu_ga8/trainer_log.jsonl"),
        run.join("trainer_log.jsonl"),
    )
    .expect("jsonl");
    let out = common::losscmp().arg(&run).output().expect("runs");
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8(out.stderr).expect("utf-8");
    assert!(
        err.contains(
            "trainer_state.json: not a Trainer state: not a JSON object with a log_history; skipped"
        ),
        "{err}"
    );
}

#[test]
fn a_run_stopped_early_shows_where_it_stopped_beside_its_planned_steps() {
    // lf_1gpu_ga8's state as an early-stopping callback leaves it: entries up to step 200, an
    // end-of-training summary there (HF's throughput is over the planned samples), and the top
    // level at global_step 200 of max_steps 384.
    let text = std::fs::read_to_string(fixture("lf_1gpu_ga8/trainer_state.json")).expect("fixture");
    let mut state: serde_json::Value = serde_json::from_str(&text).expect("json");
    let history = state["log_history"].as_array_mut().expect("history");
    history
        .retain(|e| e["step"].as_f64().is_some_and(|s| s <= 200.0) && e["train_runtime"].is_null());
    history.push(serde_json::json!({
        "epoch": 1.5625, "step": 200, "train_loss": 0.9, "train_runtime": 10.0,
        "train_samples_per_second": 614.4, "train_steps_per_second": 38.4
    }));
    state["global_step"] = 200.into();
    state["epoch"] = 1.5625.into();
    let dir = tempfile::tempdir().expect("temp dir");
    let run = dir.path().join("early");
    std::fs::create_dir(&run).expect("dir");
    std::fs::write(run.join("trainer_state.json"), state.to_string()).expect("write");
    let run = run.to_str().expect("utf-8");

    let (out, err) = text_of(&[run, "-v", "--color", "never"]);
    assert!(
        err.contains("trainer_state.json: its end-of-training summary says training ended at step 200 (global_step), of the 384 planned, and the training loss ends there too: it was stopped early"),
        "{err}"
    );
    assert!(
        out.contains("  optimizer steps 200 of 384 (stopped early)\n"),
        "{out}"
    );
    assert!(out.contains("final loss "), "{out}");
    assert!(out.contains(" at step 200 ("), "{out}");
    let (table, _) = text_of(&[run, "--markdown", "-"]);
    assert!(table.contains("| 200 of 384 (stopped early) |"), "{table}");
    // The checks read the planned steps (said in the warning); the configuration keeps them.
    let doc = json_of(&[run]);
    assert_eq!(doc["runs"][0]["config"]["total_steps"]["value"], 384.0);
    // Beside a log whose training loss goes on to step 384, the state's summary says nothing
    // of where training ended: not stopped early.
    std::fs::copy(
        fixture("lf_1gpu_ga8/trainer_log.jsonl"),
        dir.path().join("early/trainer_log.jsonl"),
    )
    .expect("copy");
    let (out, err) = text_of(&[run, "-v", "--color", "never"]);
    assert!(out.contains("  optimizer steps 384\n"), "{out}");
    assert!(!err.contains("stopped early"), "{err}");
}

#[test]
fn a_results_file_that_says_training_ended_early_is_said_with_its_epoch() {
    // lf_1gpu_ga8's log up to step 200 of its 384 and an all_results.json written there (epoch
    // 1.5625 at 128 steps an epoch): stopped early, said from the results file's epoch.
    let dir = tempfile::tempdir().expect("temp dir");
    let run = dir.path().join("early");
    std::fs::create_dir(&run).expect("dir");
    let log = std::fs::read_to_string(fixture("lf_1gpu_ga8/trainer_log.jsonl")).expect("fixture");
    let kept: String = log
        .lines()
        .filter(|l| {
            let row: serde_json::Value = serde_json::from_str(l).expect("row");
            row["current_steps"].as_f64().is_some_and(|s| s <= 200.0)
        })
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(run.join("trainer_log.jsonl"), kept).expect("write");
    std::fs::write(
        run.join("all_results.json"),
        r#"{"epoch": 1.5625, "train_loss": 0.9, "train_runtime": 10.0, "train_samples_per_second": 614.4, "train_steps_per_second": 38.4}"#,
    )
    .expect("write");
    let run = run.to_str().expect("utf-8");
    let (out, err) = text_of(&[run, "-v", "--color", "never"]);
    assert!(
        err.contains("all_results.json: its end-of-training summary says training ended at step 200 (epoch 1.5625), of the 384 planned"),
        "{err}"
    );
    assert!(
        out.contains("  optimizer steps 200 of 384 (stopped early)\n"),
        "{out}"
    );
}

#[test]
fn steps_per_epoch_from_a_fractional_step_over_epoch_is_the_trainers_count() {
    // LLaMA-Factory's jsonl epochs count micro-batches: step 100 at epoch 0.10667 says 937.5
    // steps an epoch; the trainer made 938 (6,566 steps are 7 epochs of them), not 937.
    let out = losscmp()
        .args([
            "fixtures/public/34_lf-jsonl-every-step-twice-concurrent-writers",
            "-v",
            "--color",
            "never",
        ])
        .output()
        .expect("runs");
    let text = String::from_utf8(out.stdout).expect("utf-8");
    assert!(
        text.contains("steps_per_epoch          938          derived: step 100 ÷ epoch 0.10666666666666667 = 937.5, so 938: total_steps 6566 is 7 whole epochs of it"),
        "{text}"
    );
    assert!(
        text.contains(
            "epochs                   7            derived: total_steps 6566 ÷ steps_per_epoch 938"
        ),
        "{text}"
    );
}

#[test]
fn a_gap_in_the_logged_loss_is_said() {
    // Head and tail excerpts of a real jsonl: losses at steps 5–60 and 8,705–8,710. A
    // comparison in between would read a line drawn across 8,645 steps.
    let out = losscmp()
        .arg("fixtures/public/04_lf-jsonl-nullfields-luojiu7b")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8(out.stderr).expect("utf-8");
    assert!(
        stderr.contains("the training loss has a gap: none is logged from step 60 to step 8,705 (8,645 steps; elsewhere it is logged every 5), so a comparison inside it reads a straight line drawn across it"),
        "{stderr}"
    );
    // A loss logged evenly has none.
    let out = losscmp()
        .arg("fixtures/lf_1gpu_ga8")
        .output()
        .expect("runs");
    let stderr = String::from_utf8(out.stderr).expect("utf-8");
    assert!(!stderr.contains("has a gap"), "{stderr}");
}

#[test]
fn two_arguments_that_are_one_run_are_said_to_be() {
    let stderr = |args: &[&str]| {
        let out = losscmp().args(args).output().expect("runs");
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        String::from_utf8(out.stderr).expect("utf-8")
    };
    // Two checkpoint folders of one run: each is read with the run directory.
    let err = stderr(&[
        "fixtures/lf_1gpu_ga8/checkpoint-192",
        "fixtures/lf_1gpu_ga8/checkpoint-384",
    ]);
    assert!(
        err.contains("[lf_1gpu_ga8#2] read from the same files as lf_1gpu_ga8 (fixtures/lf_1gpu_ga8/checkpoint-192): the two are one run (a checkpoint folder is read with its run directory; to compare checkpoints, give their trainer_state.json files)"),
        "{err}"
    );
    // One directory spelled two ways.
    let err = stderr(&["./fixtures/lf_1gpu_ga8", "fixtures/lf_1gpu_ga8"]);
    assert!(
        err.contains("[lf_1gpu_ga8#2] read from the same files as lf_1gpu_ga8 (./fixtures/lf_1gpu_ga8): the two are one run\n"),
        "{err}"
    );
    // Two runs, two files of one directory, and two checkpoints' own states: none.
    for args in [
        ["fixtures/lf_1gpu_ga8", "fixtures/lf_8proc_ga8"],
        [
            "fixtures/lf_1gpu_ga8/train.log",
            "fixtures/lf_1gpu_ga8/trainer_log.jsonl",
        ],
        [
            "fixtures/lf_1gpu_ga8/checkpoint-192/trainer_state.json",
            "fixtures/lf_1gpu_ga8/checkpoint-384/trainer_state.json",
        ],
        // Two checkpoint folders of an output folder that holds a stale checkpoint of another
        // run (real): each folder's own state is read, two curves, two runs.
        [
            "fixtures/real/15_hf-output-dir-stale-checkpoint-from-other-run/checkpoint-100",
            "fixtures/real/15_hf-output-dir-stale-checkpoint-from-other-run/checkpoint-191",
        ],
    ] {
        let err = stderr(&args);
        assert!(!err.contains("same files"), "{args:?}: {err}");
    }
}

/// A run_clm-style script's `TrainingArguments(` printout (real, fixtures/gen/hf5_1proc_ga4):
/// the options no training header prints come from it, each at its line, enums by their
/// value.
#[test]
fn a_printed_arguments_block_is_read_with_its_lines() {
    let (out, _) = text_of(&["fixtures/gen/hf5_1proc_ga4/train.log", "-v"]);
    let row = |key: &str| {
        out.lines()
            // A configuration row, indented under its run's summary lines.
            .find(|l| l.starts_with(&format!("    {key} ")))
            .unwrap_or_else(|| panic!("no {key} row: {out}"))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert!(
        row("learning_rate").ends_with("train.log: line 62 (learning_rate)"),
        "{}",
        row("learning_rate")
    );
    assert!(
        row("learning_rate").contains(" 0.0005 "),
        "{}",
        row("learning_rate")
    );
    assert!(
        row("scheduler").starts_with("scheduler cosine "),
        "{}",
        row("scheduler")
    );
    assert!(
        row("optimizer").starts_with("optimizer adamw_torch_fused "),
        "{}",
        row("optimizer")
    );
    assert!(
        row("logging_steps").contains("line 72 (logging_steps)"),
        "{}",
        row("logging_steps")
    );
    assert!(
        row("warmup_steps").starts_with("warmup_steps 5 "),
        "{}",
        row("warmup_steps")
    );
}

/// A file of arguments beside the log that printed the run's arguments, disagreeing on the
/// learning rate (edited after the run): the log's value is used and the warning says why; a
/// fix still edits the file of arguments.
#[test]
fn a_printed_arguments_block_outranks_an_edited_arguments_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::copy(
        fixture("gen/hf5_1proc_ga4/train.log"),
        dir.path().join("train.log"),
    )
    .expect("log");
    std::fs::write(
        dir.path().join("config.yaml"),
        "per_device_train_batch_size: 4\ngradient_accumulation_steps: 4\nlearning_rate: 1.0e-4\n",
    )
    .expect("yaml");
    let run = dir.path().to_str().expect("utf-8");
    let doc = json_of(&[run]);
    let lr = &doc["runs"][0]["config"]["learning_rate"];
    assert_eq!(lr["value"], 0.0005, "{lr}");
    let (_, err) = text_of(&[run]);
    assert!(
        err.contains("learning_rate: ") && err.contains("train.log: line 62 (learning_rate) says 0.0005, but ")
            && err.contains("config.yaml: line 3 (learning_rate) says 0.0001; using the log's (printed as the run went; the file of arguments may have been edited since)"),
        "{err}"
    );
}

/// W&B's folders given as the RUN (the real nanoGPT run of fixtures/real/12 laid out as W&B
/// keeps runs, an older copy beside it and `latest-run` linking the newest): `out/wandb` reads
/// its newest run and says which, `latest-run` and a run's `files/` read that run; each is
/// named as its output directory or run folder is, not `wandb`, `latest-run` or `files`.
#[cfg(unix)]
#[test]
fn wandb_folders_given_as_the_run_read_the_run_they_hold() {
    let dir = tempfile::tempdir().expect("temp dir");
    let wandb = dir.path().join("out").join("wandb");
    let real = fixture(
        "real/12_wandb-run-dir-nanogpt-keyboardinterrupt/wandb/run-20240214_191025-bn1klkfl",
    );
    common::copy_dir(&real, &wandb.join("run-20240101_000000-older"));
    common::copy_dir(&real, &wandb.join("run-20240214_191025-bn1klkfl"));
    std::os::unix::fs::symlink("run-20240214_191025-bn1klkfl", wandb.join("latest-run"))
        .expect("link");
    let (out, err) = text_of(&[wandb.to_str().expect("utf-8")]);
    assert!(out.contains("out checked on its own"), "{out}");
    assert!(
        err.contains("W&B's folder; read its newest run, run-20240214_191025-bn1klkfl (pass another run-* folder to read that one)"),
        "{err}"
    );
    let (out, _) = text_of(&[wandb.join("latest-run").to_str().expect("utf-8")]);
    assert!(out.contains("out checked on its own"), "{out}");
    let files = wandb.join("run-20240101_000000-older").join("files");
    let doc = json_of(&[files.to_str().expect("utf-8")]);
    assert_eq!(doc["runs"][0]["label"], "run-20240101_000000-older");
    assert_eq!(
        doc["runs"][0]["metrics"]["loss"]["points"], 134,
        "{}",
        doc["runs"][0]["metrics"]["loss"]
    );
}
