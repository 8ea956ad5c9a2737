//! Issue 17, `--plan`: a configuration judged against the baseline before anything is trained.
//! The baseline is the real 1-GPU LLaMA-Factory run; the plans are its own config.yaml (as the
//! seed's user reused it) at other world sizes, launch scripts and DeepSpeed configs around it.

mod common;

use std::fs;

use common::predicate::str::contains;
use common::{json_of, losscmp};
use serde_json::Value;

const BASE: &str = "fixtures/lf_1gpu_ga8";
const YAML: &str = "fixtures/lf_1gpu_ga8/config.yaml";

/// A proposed change: (option, from, to, file to edit).
type Change = (String, Value, Value, Value);

/// The verdict's causes as (run, finding id, changes).
fn causes(doc: &Value) -> Vec<(String, String, Vec<Change>)> {
    doc["verdict"]["causes"]
        .as_array()
        .expect("causes")
        .iter()
        .map(|c| {
            let changes = c["changes"]
                .as_object()
                .expect("changes")
                .iter()
                .map(|(option, ch)| {
                    (
                        option.clone(),
                        ch["from"].clone(),
                        ch["to"].clone(),
                        ch["file"].clone(),
                    )
                })
                .collect();
            (
                c["run"].as_str().expect("run").to_string(),
                c["id"].as_str().expect("id").to_string(),
                changes,
            )
        })
        .collect()
}

fn run_named<'a>(doc: &'a Value, label: &str) -> &'a Value {
    doc["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .find(|r| r["label"] == label)
        .expect("the run")
}

#[test]
fn the_shipped_config_at_world_size_8_is_flagged_with_ga_8_to_1_before_training() {
    let doc = json_of(&[
        BASE,
        "--plan",
        YAML,
        "--label",
        &format!("new={YAML}"),
        "--set",
        "new:world_size=8",
    ]);
    let new = run_named(&doc, "new");
    assert_eq!(new["planned"], true);
    assert_eq!(new["config"]["effective_batch"]["value"], 128.0);
    assert_eq!(new["config"]["total_steps"]["value"], 48.0);
    let src = new["config"]["total_steps"]["source"]
        .as_str()
        .expect("source");
    assert_eq!(src, "derived: predicted: ⌈steps_per_epoch 16 × epochs 3⌉");
    let src = new["config"]["steps_per_epoch"]["source"]
        .as_str()
        .expect("source");
    assert!(src.starts_with("derived: predicted: ⌈num_examples 2048 ÷ (per_device_batch 2 × world_size 8)⌉ = 128 batches per process, ÷ grad_accum 8 rounded"), "{src}");
    assert!(
        src.ends_with("the same rule gives the baseline lf_1gpu_ga8's 128"),
        "{src}"
    );
    let src = new["config"]["num_examples"]["source"]
        .as_str()
        .expect("source");
    assert!(
        src.starts_with("assumed: as in the baseline lf_1gpu_ga8"),
        "{src}"
    );
    let c = causes(&doc);
    assert_eq!(c.len(), 1, "{c:?}");
    assert_eq!(c[0].0, "new");
    assert_eq!(c[0].1, "oversized-effective-batch");
    assert_eq!(c[0].2.len(), 1, "one change: {:?}", c[0].2);
    let (option, from, to, file) = &c[0].2[0];
    assert_eq!(option, "gradient_accumulation_steps");
    assert_eq!((from, to), (&Value::from(8.0), &Value::from(1.0)));
    let file = file.as_str().expect("the file to edit");
    assert!(
        file.contains("config.yaml") && file.contains("line 32"),
        "{file}"
    );
    let cause = &doc["verdict"]["causes"][0];
    let finding = &doc["findings"][cause["finding"].as_u64().expect("index") as usize];
    let summary = finding["summary"].as_str().expect("summary");
    assert!(summary.starts_with("Planned: new on 8 processes would use an 8× larger effective batch than lf_1gpu_ga8 on 1 process (128 vs 16"), "{summary}");
    assert!(summary.contains("(48 vs 384)"), "{summary}");
    assert_eq!(finding["severity"], "warning");
    assert_eq!(finding["planned"], true);
}

#[test]
fn fail_on_warning_refuses_the_launch_and_the_terminal_says_the_fix() {
    losscmp()
        .args([BASE, "--plan", YAML, "--set"])
        .arg("config:world_size=8")
        .args(["--label", &format!("config={YAML}"), "--fail-on", "warning"])
        .assert()
        .code(1)
        .stdout(contains(
            "config: short of optimizer updates (planned)  [oversized-effective-batch]",
        ))
        .stdout(contains("change: gradient_accumulation_steps: 8 → 1"))
        .stderr(contains("--fail-on warning: "));
}

#[test]
fn the_same_config_on_the_same_world_size_passes() {
    let out = losscmp()
        .args([BASE, "--plan", YAML, "--label", &format!("same={YAML}")])
        .args([
            "--set",
            "same:world_size=1",
            "--fail-on",
            "warning",
            "--json",
            "-",
        ])
        .assert()
        .success();
    let doc: Value = serde_json::from_slice(&out.get_output().stdout).expect("json");
    assert!(causes(&doc).is_empty());
    let matches = doc["verdict"]["matches"].to_string();
    assert!(
        matches.contains("same (planned): effective batch 16 (16 for lf_1gpu_ga8), 384 optimizer updates (384 for lf_1gpu_ga8); no problem predicted."),
        "{matches}"
    );
}

#[test]
fn a_plan_that_restores_the_batch_at_world_8_passes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let yaml = fs::read_to_string(YAML).expect("yaml").replace(
        "gradient_accumulation_steps: 8",
        "gradient_accumulation_steps: 1",
    );
    let plan = dir.path().join("ga1.yaml");
    fs::write(&plan, yaml).expect("write");
    let doc = json_of(&[
        BASE,
        "--plan",
        plan.to_str().expect("utf-8"),
        "--set",
        "ga1:world_size=8",
        "--fail-on",
        "warning",
    ]);
    assert!(causes(&doc).is_empty(), "{}", doc["verdict"]);
    assert_eq!(
        run_named(&doc, "ga1")["config"]["effective_batch"]["value"],
        16.0
    );
}

#[test]
fn a_launch_script_gives_the_world_size_and_its_config() {
    let dir = tempfile::tempdir().expect("temp dir");
    fs::copy(YAML, dir.path().join("sft.yaml")).expect("copy");
    let script = dir.path().join("launch.sh");
    fs::write(
        &script,
        "#!/bin/sh\nset -e\nNPROC_PER_NODE=8 FORCE_TORCHRUN=1 llamafactory-cli train sft.yaml\n",
    )
    .expect("write");
    let doc = json_of(&[BASE, "--plan", script.to_str().expect("utf-8")]);
    let plan = run_named(&doc, "launch");
    let world = &plan["config"]["world_size"];
    assert_eq!(world["value"], 8.0);
    assert!(
        world["source"]
            .as_str()
            .expect("source")
            .ends_with("launch.sh: line 3 (NPROC_PER_NODE 8)"),
        "{world}"
    );
    let c = causes(&doc);
    assert_eq!(c[0].1, "oversized-effective-batch");
    let file = c[0].2[0].3.as_str().expect("file");
    assert!(
        file.contains("sft.yaml") && file.contains("line 32"),
        "{file}"
    );
}

/// Scripts that set the process count in a variable: exported on a line of its own (how
/// LLaMA-Factory's multi-GPU scripts are often written), or given to torchrun as `$NGPU` or
/// `${NGPU:-8}`. Each is the 8× batch, and `--fail-on warning` refuses the launch.
#[test]
fn a_launch_script_that_sets_the_world_size_in_a_variable_is_judged() {
    let dir = tempfile::tempdir().expect("temp dir");
    fs::copy(YAML, dir.path().join("sft.yaml")).expect("copy");
    for (name, text, line) in [
        (
            "exported",
            "export FORCE_TORCHRUN=1\nexport NPROC_PER_NODE=8\nllamafactory-cli train sft.yaml\n",
            2,
        ),
        (
            "variable",
            "NGPU=8\ntorchrun --nproc_per_node $NGPU src/train.py sft.yaml\n",
            1,
        ),
        (
            "default",
            "torchrun --nproc_per_node ${NGPU:-8} src/train.py sft.yaml\n",
            1,
        ),
    ] {
        let script = dir.path().join(format!("{name}.sh"));
        fs::write(&script, text).expect("write");
        let doc = json_of(&[BASE, "--plan", script.to_str().expect("utf-8")]);
        let world = &run_named(&doc, name)["config"]["world_size"];
        assert_eq!(world["value"], 8.0, "{name}: {world}");
        assert!(
            world["source"]
                .as_str()
                .expect("source")
                .contains(&format!("{name}.sh: line {line} ")),
            "{name}: {world}"
        );
        assert_eq!(causes(&doc)[0].1, "oversized-effective-batch", "{name}");
        losscmp()
            .args([
                BASE,
                "--plan",
                script.to_str().expect("utf-8"),
                "--fail-on",
                "warning",
            ])
            .assert()
            .code(1);
    }
}

#[test]
fn torchrun_with_a_deepspeed_config_uses_deepspeeds_option_names() {
    let dir = tempfile::tempdir().expect("temp dir");
    fs::write(
        dir.path().join("ds.json"),
        "{\n  \"train_micro_batch_size_per_gpu\": 2,\n  \"gradient_accumulation_steps\": 8,\n  \"zero_optimization\": {\"stage\": 2}\n}\n",
    )
    .expect("write");
    let script = dir.path().join("run.sh");
    fs::write(
        &script,
        "torchrun --nnodes 2 --nproc_per_node 4 train.py \\\n  --deepspeed ds.json --learning_rate 2e-3 --num_train_epochs 3\n",
    )
    .expect("write");
    let doc = json_of(&[BASE, "--plan", script.to_str().expect("utf-8")]);
    let plan = run_named(&doc, "run");
    assert_eq!(plan["config"]["world_size"]["value"], 8.0);
    assert_eq!(plan["config"]["effective_batch"]["value"], 128.0);
    let c = causes(&doc);
    assert_eq!(c.len(), 1, "{c:?}");
    let (option, from, to, file) = &c[0].2[0];
    assert_eq!(option, "gradient_accumulation_steps");
    assert_eq!((from, to), (&Value::from(8.0), &Value::from(1.0)));
    assert!(file.as_str().expect("file").contains("ds.json"), "{file}");
}

/// A DeepSpeed config that sets train_batch_size (DeepSpeed checks it equals micro batch ×
/// accumulation × world size) gets it changed with the accumulation, at its own line.
#[test]
fn a_deepspeed_train_batch_size_changes_with_the_accumulation() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ds = dir.path().join("ds.json");
    fs::write(
        &ds,
        "{\n  \"train_micro_batch_size_per_gpu\": 2,\n  \"gradient_accumulation_steps\": 8,\n  \"train_batch_size\": 128\n}\n",
    )
    .expect("write");
    let doc = json_of(&[BASE, "--plan", ds.to_str().expect("utf-8")]);
    let c = causes(&doc);
    assert_eq!(c.len(), 1, "{c:?}");
    let changes: Vec<(String, Value, Value)> = c[0]
        .2
        .iter()
        .map(|(o, f, t, file)| {
            assert!(file.as_str().expect("file").contains("ds.json"), "{file}");
            (o.clone(), f.clone(), t.clone())
        })
        .collect();
    assert_eq!(
        changes,
        [
            (
                "gradient_accumulation_steps".into(),
                Value::from(8.0),
                Value::from(1.0)
            ),
            (
                "train_batch_size".into(),
                Value::from(128.0),
                Value::from(16.0)
            ),
        ]
    );
}

#[test]
fn no_world_size_is_assumed_1_and_says_how_to_give_it() {
    losscmp()
        .args([BASE, "--plan", YAML, "--label", &format!("p={YAML}")])
        .assert()
        .success()
        .stderr(contains("no world size in the plan; assumed 1 process"))
        .stderr(contains("--set p:world_size=N"));
}

#[test]
fn a_missing_plan_is_a_clear_error() {
    losscmp()
        .args([BASE, "--plan", "no/such/plan.yaml"])
        .assert()
        .code(2)
        .stderr(contains("no/such/plan.yaml"));
    losscmp()
        .args(["--plan", YAML, "--label", &format!("x={YAML}")])
        .assert()
        .code(2)
        .stderr(contains("no run to read"));
}

/// A config with no setting losscmp reads plans nothing: refused, as a script without a
/// launcher is, rather than judged on every default and passed.
#[test]
fn a_plan_with_no_setting_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, text) in [("empty.yaml", ""), ("other.json", "{\"foo\": 1}")] {
        let plan = dir.path().join(name);
        fs::write(&plan, text).expect("write");
        losscmp()
            .args([BASE, "--plan"])
            .arg(&plan)
            .assert()
            .code(2)
            .stderr(contains(format!(
                "{name}: read as plan (a run config or launch command), but it holds no metric records or run settings"
            )));
    }
}

/// A value that is no number is said at its line, not taken for an option the plan leaves out.
#[test]
fn a_plan_value_that_is_no_number_is_said_at_its_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let plan = dir.path().join("gaabc.yaml");
    let yaml = fs::read_to_string(YAML).expect("config");
    fs::write(
        &plan,
        yaml.replace(
            "gradient_accumulation_steps: 8",
            "gradient_accumulation_steps: abc",
        ),
    )
    .expect("write");
    losscmp()
        .args([BASE, "--plan"])
        .arg(&plan)
        .assert()
        .success()
        .stderr(contains(
            "gaabc.yaml: line 32 (gradient_accumulation_steps): gradient_accumulation_steps \"abc\" is not a number; ignored",
        ))
        .stderr(contains("the plan gives no value for gradient_accumulation_steps"));
}

/// A DeepSpeed option set to "auto" is set there, to what the HF arguments give: the fix names
/// its line and says so, rather than "not set there; add" a second key.
#[test]
fn a_deepspeed_auto_option_is_fixed_at_its_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let plan = dir.path().join("ds_auto.json");
    fs::write(
        &plan,
        "{\n  \"train_batch_size\": \"auto\",\n  \"train_micro_batch_size_per_gpu\": \"auto\",\n  \"gradient_accumulation_steps\": \"auto\"\n}\n",
    )
    .expect("write");
    let out = losscmp()
        .args([BASE, "--plan"])
        .arg(&plan)
        .args([
            "--set",
            "ds_auto:per_device_batch=2",
            "--set",
            "ds_auto:grad_accum=8",
            "--set",
            "ds_auto:world_size=8",
        ])
        .output()
        .expect("runs");
    let text = String::from_utf8(out.stdout).expect("utf-8");
    assert!(
        text.contains("change: gradient_accumulation_steps: 8 → 1   (edit ")
            && text.contains(
                "ds_auto.json: line 4 (gradient_accumulation_steps is \"auto\": DeepSpeed takes it from the HF arguments))"
            ),
        "{text}"
    );
    assert!(!text.contains("not set there"), "{text}");
}

#[test]
fn axolotl_and_torchtune_plans_are_judged_in_their_own_option_names() {
    let dir = tempfile::tempdir().expect("temp dir");
    fs::write(
        dir.path().join("sft.yml"),
        "base_model: ./tiny\nmicro_batch_size: 2\ngradient_accumulation_steps: 8\nnum_epochs: 3\nlearning_rate: 0.002\nsequence_len: 64\n",
    )
    .expect("write");
    let axolotl = dir.path().join("axolotl.sh");
    fs::write(
        &axolotl,
        "accelerate launch --num_processes 8 -m axolotl.cli.train sft.yml\n",
    )
    .expect("write");
    fs::write(
        dir.path().join("tt.yaml"),
        "batch_size: 2\ngradient_accumulation_steps: 8\nepochs: 3\noptimizer:\n  _component_: torch.optim.AdamW\n  lr: 2e-3\n",
    )
    .expect("write");
    let torchtune = dir.path().join("tune.sh");
    fs::write(
        &torchtune,
        "tune run --nproc_per_node 8 lora_finetune_distributed --config tt.yaml\n",
    )
    .expect("write");
    let doc = json_of(&[
        BASE,
        "--plan",
        axolotl.to_str().expect("utf-8"),
        "--plan",
        torchtune.to_str().expect("utf-8"),
    ]);
    for (label, file, trainer) in [
        ("axolotl", "sft.yml", "axolotl"),
        ("tune", "tt.yaml", "torchtune"),
    ] {
        let plan = run_named(&doc, label);
        assert_eq!(plan["config"]["effective_batch"]["value"], 128.0, "{label}");
        assert_eq!(plan["config"]["trainer"]["value"], trainer, "{label}");
        let c = causes(&doc);
        let cause = c.iter().find(|c| c.0 == label).expect("a cause");
        assert_eq!(cause.1, "oversized-effective-batch");
        let (option, from, to, at) = &cause.2[0];
        assert_eq!(option, "gradient_accumulation_steps", "{label}");
        assert_eq!((from, to), (&Value::from(8.0), &Value::from(1.0)));
        assert!(at.as_str().expect("file").contains(file), "{at}");
    }
}

/// HF's training_args.json is read as the Trainer's arguments, not as a DeepSpeed config (its
/// `per_device_train_batch_size` holds the text `train_batch_size`), and judged with the world
/// size it lacks assumed and said.
#[test]
fn an_hf_training_args_plan_is_read_as_the_trainer_arguments() {
    let out = losscmp()
        .args([
            "fixtures/hf_1gpu_ga8_resumed",
            "--plan",
            "fixtures/hf_8proc_ga8_crashed_at_exit/training_args.json",
            "-v",
        ])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let err = String::from_utf8(out.stderr).expect("utf-8");
    assert!(!text.contains("deepspeed"), "{text}");
    for line in [
        "per_device_train_batch_size",
        "training_args.json: line 6 (learning_rate)",
        "training_args.json: line 17 (gradient_accumulation_steps)",
    ] {
        assert!(text.contains(line), "{line}: {text}");
    }
    assert!(
        err.contains("no world size in the plan; assumed 1 process"),
        "{err}"
    );
    // Its batch at the assumed world size is the baseline's, which is no pass: the same file
    // on 8 processes is the seed mistake. The check waits for the world size.
    assert!(
        text.contains("not checked: oversized-effective-batch for hf_8proc_ga8_crashed_at_exit: world_size unknown; supply it with --set hf_8proc_ga8_crashed_at_exit:world_size=N"),
        "{text}"
    );
    assert!(!text.contains("no problem predicted"), "{text}");
    // The tables say the world size is assumed (a pull request's comment shows no source).
    let summary = losscmp()
        .args([
            "fixtures/hf_1gpu_ga8_resumed",
            "--plan",
            "fixtures/hf_8proc_ga8_crashed_at_exit/training_args.json",
            "--markdown",
            "-",
        ])
        .output()
        .expect("runs");
    let summary = String::from_utf8(summary.stdout).expect("utf-8");
    assert!(
        summary.contains("| hf\\_8proc\\_ga8\\_crashed\\_at\\_exit (planned) | 1 (assumed) |"),
        "{summary}"
    );
    let given = losscmp()
        .args([
            "fixtures/hf_1gpu_ga8_resumed",
            "--plan",
            "fixtures/hf_8proc_ga8_crashed_at_exit/training_args.json",
            "--set",
            "hf_8proc_ga8_crashed_at_exit:world_size=1",
        ])
        .output()
        .expect("runs");
    let text = String::from_utf8(given.stdout).expect("utf-8");
    assert!(!text.contains("not checked"), "{text}");
    assert!(
        text.contains("(planned): effective batch 16 (16 for hf_1gpu_ga8_resumed), 384 optimizer updates (384 for hf_1gpu_ga8_resumed); no problem predicted."),
        "{text}"
    );
}

/// A plan read from the baseline's own folder would take the baseline's name: it is refused
/// with the --label that names it, so a --set meant for the plan cannot land on the run.
#[test]
fn a_plan_named_like_its_baseline_must_be_named() {
    let out = losscmp()
        .args([BASE, "--plan", YAML, "--set", "lf_1gpu_ga8:world_size=8"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).expect("utf-8");
    assert_eq!(
        err.trim_end(),
        "losscmp: error: --plan fixtures/lf_1gpu_ga8/config.yaml: it would be named lf_1gpu_ga8, as the run fixtures/lf_1gpu_ga8 is; name it, e.g. --label new=fixtures/lf_1gpu_ga8/config.yaml"
    );
    // Named, the --set reaches the plan, and -v never prints a product that does not hold.
    let out = losscmp()
        .args([BASE, "--plan", YAML, "--label", &format!("new={YAML}")])
        .args(["--set", "new:world_size=8", "-v"])
        .output()
        .expect("runs");
    let text = String::from_utf8(out.stdout).expect("utf-8");
    assert!(
        text.contains("effective batch 16 = world 1 × per-device 2 × grad accum 8"),
        "{text}"
    );
    assert!(
        text.contains("effective batch 128 = world 8 × per-device 2 × grad accum 8"),
        "{text}"
    );
}

#[test]
fn a_plan_without_batch_options_is_judged_with_the_trainers_defaults() {
    // The seed's config.yaml without its two batch lines: LLaMA-Factory runs it with
    // transformers' defaults, per-device batch 8 and accumulation 1 (batch 8 against 16).
    let dir = tempfile::tempdir().expect("temp dir");
    let yaml: String = fs::read_to_string(YAML)
        .expect("config.yaml")
        .lines()
        .filter(|l| {
            !l.starts_with("per_device_train_batch_size")
                && !l.starts_with("gradient_accumulation_steps")
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let plan = dir.path().join("nobatch.yaml");
    fs::write(&plan, yaml).expect("write");
    let plan = plan.to_str().expect("utf-8");
    let out = losscmp()
        .args([BASE, "--plan", plan, "--json", "-"])
        .assert()
        .success()
        .stderr(contains(
            "the plan gives no value for per_device_train_batch_size or gradient_accumulation_steps; assumed the defaults of transformers' TrainingArguments: 8 and 1 (--set nobatch:per_device_batch=N, --set nobatch:grad_accum=N)",
        ));
    let doc: Value = serde_json::from_slice(&out.get_output().stdout).expect("json");
    let planned = run_named(&doc, "nobatch");
    assert_eq!(planned["config"]["effective_batch"]["value"], 8.0);
    assert!(
        planned["config"]["grad_accum"]["source"]
            .as_str()
            .expect("source")
            .starts_with("assumed: the default of transformers' TrainingArguments"),
        "{planned}"
    );
    // Its smaller batch at the baseline's rate: the plan, not the finished run, is told to
    // change, by √2 down.
    let lr = common::finding(&doc, "lr-not-scaled");
    assert!(
        lr["fix"]["summary"]
            .as_str()
            .expect("summary")
            .contains("÷√2 ≈ 1.41"),
        "{lr}"
    );
    assert_eq!(lr["subject"], "nobatch", "{lr}");
    let change = &lr["fix"]["changes"]["learning_rate"];
    assert_eq!(
        change["file"],
        format!("{plan}: line 31 (learning_rate)"),
        "{lr}"
    );
    // 0.002 ÷ √2 = 0.0014142…, to the three digits of the factor printed beside it.
    assert_eq!(change["to"].as_f64(), Some(0.00141), "{lr}");
    assert!(
        lr["fix"]["summary"]
            .as_str()
            .expect("summary")
            .contains("0.002 → 0.00141 "),
        "{lr}"
    );

    // The same YAML launched on 8 processes: a batch of 64, and the fix sets the per-device
    // batch the YAML leaves out, so it says to add the line there.
    let launch = dir.path().join("launch.sh");
    fs::write(
        &launch,
        "FORCE_TORCHRUN=1 NPROC_PER_NODE=8 llamafactory-cli train nobatch.yaml\n",
    )
    .expect("write");
    let doc = json_of(&[BASE, "--plan", launch.to_str().expect("utf-8")]);
    let oversized = common::finding(&doc, "oversized-effective-batch");
    let change = &oversized["fix"]["changes"]["per_device_train_batch_size"];
    assert_eq!(
        (change["from"].as_f64(), change["to"].as_f64()),
        (Some(8.0), Some(2.0))
    );
    assert_eq!(
        change["file"],
        format!(
            "{plan}: not set there; add `per_device_train_batch_size: 2` (8 is assumed, the trainer's default)"
        ),
        "{oversized}"
    );

    // axolotl derives its accumulation from batch_size ÷ micro_batch_size when a config gives
    // that instead: 128 ÷ 2 = 64, a batch of 128 on one process. Nothing is assumed, and the fix
    // changes batch_size (axolotl refuses a config that sets both).
    let axolotl = dir.path().join("axolotl.yaml");
    fs::write(
        &axolotl,
        "base_model: tiny\nmicro_batch_size: 2\nbatch_size: 128\nlearning_rate: 0.002\nnum_epochs: 3\n",
    )
    .expect("write");
    let axolotl = axolotl.to_str().expect("utf-8");
    let out = losscmp()
        .args([BASE, "--plan", axolotl, "--json", "-"])
        .assert()
        .success();
    assert!(
        !String::from_utf8_lossy(&out.get_output().stderr).contains("assumed the default"),
        "nothing assumed for axolotl"
    );
    let doc: Value = serde_json::from_slice(&out.get_output().stdout).expect("json");
    let planned = run_named(&doc, "axolotl");
    assert_eq!(planned["config"]["grad_accum"]["value"], 64.0, "{planned}");
    assert_eq!(
        planned["config"]["grad_accum"]["source"],
        format!(
            "{axolotl}: line 3 (batch_size 128 ÷ micro_batch_size 2: axolotl's gradient_accumulation_steps)"
        )
    );
    assert_eq!(planned["config"]["effective_batch"]["value"], 128.0);
    let oversized = common::finding(&doc, "oversized-effective-batch");
    let change = &oversized["fix"]["changes"]["batch_size"];
    assert_eq!(
        (change["from"].as_f64(), change["to"].as_f64()),
        (Some(128.0), Some(16.0)),
        "{oversized}"
    );
    assert!(
        oversized["fix"]["summary"]
            .as_str()
            .expect("summary")
            .starts_with("Set batch_size 128 → 16 for axolotl: 1 × 2 × 8 = 16"),
        "{oversized}"
    );
    assert!(
        oversized["fix"]["changes"]["gradient_accumulation_steps"].is_null(),
        "{oversized}"
    );
}

/// The JSON of the baseline's own config with `max_steps: N` added, as plan `capped` on 8
/// processes.
fn capped_plan(max_steps: u32) -> Value {
    let dir = tempfile::tempdir().expect("temp dir");
    let plan = dir.path().join("capped.yaml");
    fs::write(
        &plan,
        format!(
            "{}max_steps: {max_steps}\n",
            fs::read_to_string(YAML).expect("config.yaml")
        ),
    )
    .expect("write");
    json_of(&[
        BASE,
        "--plan",
        plan.to_str().expect("utf-8"),
        "--set",
        "capped:world_size=8",
    ])
}

#[test]
fn a_plan_stopped_by_max_steps_keeps_the_baselines_examples() {
    // transformers ignores num_train_epochs when max_steps is set: 200 ÷ 3 is no epoch.
    let doc = capped_plan(200);
    let planned = run_named(&doc, "capped");
    let config = &planned["config"];
    assert_eq!(config["num_examples"]["value"], 2048.0, "{config}");
    // 2,048 ÷ (2 × 8) = 128 batches per process, ÷ GA 8: 16 updates an epoch; 200 ÷ 16.
    assert_eq!(config["steps_per_epoch"]["value"], 16.0, "{config}");
    assert_eq!(config["epochs"]["value"], 12.5, "{config}");
    assert_eq!(config["total_steps"]["value"], 200.0, "{config}");
}

/// A plan stopped by max_steps sees other data than the baseline (60 × 128 samples, not
/// 384 × 16), and its fix restores the batch, not the number of updates: the steps are
/// max_steps' to set, which the fix says after.
#[test]
fn a_plan_stopped_by_max_steps_is_said_to_see_other_data() {
    let doc = capped_plan(60);
    let finding = doc["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["id"] == "oversized-effective-batch")
        .expect("the batch finding");
    let summary = finding["summary"].as_str().expect("summary");
    assert!(
        summary.contains("fewer optimizer updates (60 vs 384) over 7,680 vs 6,144 samples."),
        "{summary}"
    );
    let why = finding["fix"]["summary"].as_str().expect("fix");
    assert!(
        why.contains("restores lf_1gpu_ga8's effective batch of 16. It stops at max_steps 60"),
        "{why}"
    );
}

#[test]
fn the_markdown_runs_table_marks_a_plan() {
    let out = losscmp()
        .args([BASE, "--plan", YAML, "--label", &format!("new={YAML}")])
        .args(["--set", "new:world_size=8", "--markdown", "-"])
        .output()
        .expect("runs");
    let md = String::from_utf8(out.stdout).expect("utf-8");
    assert!(md.contains("| new (planned) | 8 | 2 | 8 | 128 |"), "{md}");
    assert!(md.contains("| lf\\_1gpu\\_ga8 | 1 |"), "{md}");
}
