//! Issue 11: one verdict you can trust — the same cause and fix whatever order the runs come
//! in, every printed ratio the ratio of the values beside it, one value per option, checkpoint
//! folders read with their runs, and the `--set` named when a fact is missing.

mod common;

use std::collections::BTreeMap;

use common::{json_of, losscmp, sweep_runs, text_of};
use serde_json::Value;

/// The real fixture runs that can be paired (the corpus's, and the second set made for these
/// tests on the same recipe with a different tiny model and task: fixtures/gen/).
const RUNS: [&str; 5] = [
    "fixtures/lf_1gpu_ga8",
    "fixtures/lf_8proc_ga8",
    "fixtures/lf_8proc_ga1",
    "fixtures/hf_1gpu_ga8_resumed",
    "fixtures/hf_8proc_ga8_crashed_at_exit",
];
const GEN: [&str; 4] = [
    "fixtures/gen/lf2_1gpu_ga8",
    "fixtures/gen/lf2_2proc_ga8",
    "fixtures/gen/lf2_8proc_ga8_24ep",
    "fixtures/gen/lf2_8proc_ga8",
];

/// The verdict's causes as (run, cause id, changes option → (from, to)), sorted.
type Causes = Vec<(String, String, BTreeMap<String, (Value, Value)>)>;

fn causes(doc: &Value) -> Causes {
    let mut out: Causes = doc["verdict"]["causes"]
        .as_array()
        .expect("causes")
        .iter()
        .map(|c| {
            let changes = c["changes"]
                .as_object()
                .expect("changes")
                .iter()
                .map(|(k, v)| (k.clone(), (v["from"].clone(), v["to"].clone())))
                .collect();
            (
                c["run"].as_str().expect("run").to_string(),
                c["id"].as_str().expect("id").to_string(),
                changes,
            )
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
    out
}

#[test]
fn every_pair_gives_the_same_verdict_in_both_orders() {
    // Every pair of the real runs, across the two recipes too (a 24-epoch run beside a 3-epoch
    // one is worse per sample whichever is the baseline).
    let all: Vec<&str> = RUNS.iter().chain(&GEN).copied().collect();
    for (i, a) in all.iter().enumerate() {
        for b in &all[i + 1..] {
            let ab = causes(&json_of(&[a, b]));
            let ba = causes(&json_of(&[b, a]));
            assert_eq!(ab, ba, "{a} vs {b}");
        }
    }
    // The seed pair, either way: the 8-process run is the one to change, GA 8 → 1.
    for order in [
        ["fixtures/lf_1gpu_ga8", "fixtures/lf_8proc_ga8"],
        ["fixtures/lf_8proc_ga8", "fixtures/lf_1gpu_ga8"],
    ] {
        let c = causes(&json_of(&order));
        assert_eq!(c.len(), 1, "{c:?}");
        assert_eq!(
            (c[0].0.as_str(), c[0].1.as_str()),
            ("lf_8proc_ga8", "oversized-effective-batch")
        );
        assert_eq!(
            c[0].2["gradient_accumulation_steps"],
            (Value::from(8.0), Value::from(1.0))
        );
    }
}

/// A real 2-process run with the 1-GPU recipe: GA 8 → 4 (2 × 2 × 4 = 16), either order.
#[test]
fn the_two_process_run_gets_ga_8_to_4() {
    for order in [
        ["fixtures/gen/lf2_1gpu_ga8", "fixtures/gen/lf2_2proc_ga8"],
        ["fixtures/gen/lf2_2proc_ga8", "fixtures/gen/lf2_1gpu_ga8"],
    ] {
        let doc = json_of(&order);
        let c = causes(&doc);
        assert_eq!(c.len(), 1, "{c:?}");
        assert_eq!(
            (c[0].0.as_str(), c[0].1.as_str()),
            ("lf2_2proc_ga8", "oversized-effective-batch")
        );
        assert_eq!(
            c[0].2["gradient_accumulation_steps"],
            (Value::from(8.0), Value::from(4.0))
        );
        // 0.00156 vs 0.00052: a gap the regression gate's floor calls noise, so a warning
        // (`--fail-on error` passes it, as it passes the gate), and the summary says why.
        let cause = &doc["findings"][doc["verdict"]["causes"][0]["finding"]
            .as_u64()
            .expect("index") as usize];
        assert_eq!(cause["severity"], "warning");
        let summary = cause["summary"].as_str().expect("summary");
        assert!(
            summary.contains("within the regression gate's floor of 0.01"),
            "{summary}"
        );
    }
}

/// Three real runs on one recipe (1 GPU, 2 and 8 processes, all with GA 8), in every order:
/// both multi-process runs are short of updates against the 1-GPU run, with the same change,
/// whichever run is the baseline.
#[test]
fn three_runs_give_the_same_verdict_in_every_order() {
    let runs = [GEN[0], GEN[1], GEN[3]];
    let expected: Causes = {
        let ga = |to: f64| {
            BTreeMap::from([(
                "gradient_accumulation_steps".to_string(),
                (Value::from(8.0), Value::from(to)),
            )])
        };
        vec![
            (
                "lf2_2proc_ga8".into(),
                "oversized-effective-batch".into(),
                ga(4.0),
            ),
            (
                "lf2_8proc_ga8".into(),
                "oversized-effective-batch".into(),
                ga(1.0),
            ),
        ]
    };
    for order in [
        [0, 1, 2],
        [0, 2, 1],
        [1, 0, 2],
        [1, 2, 0],
        [2, 0, 1],
        [2, 1, 0],
    ] {
        let args: Vec<&str> = order.iter().map(|&i| runs[i]).collect();
        assert_eq!(causes(&json_of(&args)), expected, "{args:?}");
    }
}

/// A real run with the baseline's number of updates but 8× the epochs (8× the samples) is worse
/// per sample but ends lower: a warning about sample efficiency, not a regression error.
#[test]
fn a_run_that_ends_lower_after_more_samples_is_not_a_regression() {
    let doc = json_of(&[
        "fixtures/gen/lf2_1gpu_ga8",
        "fixtures/gen/lf2_8proc_ga8_24ep",
    ]);
    let ids = common::finding_ids(&doc);
    assert!(!ids.contains(&"loss-regression".to_string()), "{ids:?}");
    let f = common::finding(&doc, "lower-sample-efficiency");
    assert_eq!(f["severity"], "warning");
    let s = f["summary"].as_str().expect("summary");
    assert!(s.contains("ends lower: 0.000500503 vs 0.000523592"), "{s}");
    assert!(
        s.contains("49,152 samples seen (8.0× the baseline's 6,144)"),
        "{s}"
    );
    losscmp()
        .args([
            "fixtures/gen/lf2_1gpu_ga8",
            "fixtures/gen/lf2_8proc_ga8_24ep",
            "--fail-on",
            "error",
        ])
        .assert()
        .code(0);
}

#[test]
fn the_new_run_first_still_fails_the_gate_and_says_why() {
    losscmp()
        .args([
            "fixtures/lf_8proc_ga8",
            "fixtures/lf_1gpu_ga8",
            "--fail-on",
            "error",
        ])
        .assert()
        .code(1)
        .stdout(common::predicate::str::contains(
            "The baseline lf_8proc_ga8 is the run short of updates.",
        ))
        .stderr(common::predicate::str::contains(
            "--fail-on error: 1 finding at or above it: oversized-effective-batch",
        ));
}

/// Every option of every run gets one value in the whole output.
#[test]
fn no_option_gets_two_values() {
    for args in [
        vec!["fixtures/lf_1gpu_ga8", "fixtures/lf_8proc_ga8"],
        vec!["fixtures/lf_8proc_ga8", "fixtures/lf_1gpu_ga8"],
        RUNS.to_vec(),
        vec![GEN[3], GEN[0], GEN[1]],
        vec![GEN[0], GEN[1], GEN[3]],
    ] {
        let doc = json_of(&args);
        // The sentences too: no fix left standing argues for another value of an option a
        // cause sets ("Set gradient_accumulation_steps 8 → 2" beside the cause's 8 → 1).
        for c in doc["verdict"]["causes"].as_array().expect("causes") {
            for (option, change) in c["changes"].as_object().into_iter().flatten() {
                let said = regex::Regex::new(&format!(r"{option}:? (\S+) → ([0-9.e+-]+)"))
                    .expect("pattern");
                for f in doc["findings"].as_array().expect("findings") {
                    if f["subject"] != c["run"] {
                        continue;
                    }
                    let text = f["fix"]["summary"].as_str().unwrap_or("");
                    for m in said.captures_iter(text) {
                        let to: f64 = m[2].trim_end_matches('.').parse().expect("number");
                        assert_eq!(Some(to), change["to"].as_f64(), "{text}: {args:?}");
                    }
                }
            }
        }
        let mut seen: BTreeMap<(String, String), Value> = BTreeMap::new();
        let mut record = |changes: &Value| {
            for (option, c) in changes.as_object().into_iter().flatten() {
                let key = (c["run"].as_str().unwrap_or("").to_string(), option.clone());
                if let Some(before) = seen.insert(key.clone(), c["to"].clone()) {
                    assert_eq!(before, c["to"], "{key:?} gets two values: {args:?}");
                }
            }
        };
        for c in doc["verdict"]["causes"].as_array().expect("causes") {
            record(&c["changes"]);
        }
        for f in doc["findings"].as_array().expect("findings") {
            record(&f["fix"]["changes"]);
        }
    }
}

/// Parses "A vs B (R×)" in the text, the pair in both orders, and checks R against A ÷ B: to
/// the rounding of the three numbers as printed, and with two significant digits at least (a
/// run far below the other is not "0.00×").
#[test]
fn every_printed_ratio_matches_the_values_beside_it() {
    for pair in [
        ["fixtures/lf_1gpu_ga8", "fixtures/lf_8proc_ga8"],
        ["fixtures/lf_8proc_ga8", "fixtures/lf_1gpu_ga8"],
    ] {
        let (text, _) = text_of(&pair);
        let mut checked = 0;
        for line in text.lines() {
            let mut rest = line;
            while let Some(vs) = rest.find(" vs ") {
                let before = &rest[..vs];
                let after = &rest[vs + 4..];
                rest = after;
                let a = before
                    .rsplit([' ', '('])
                    .next()
                    .and_then(|s| s.parse::<f64>().ok());
                let Some(b_end) = after.find(" (") else {
                    continue;
                };
                let b = after[..b_end].parse::<f64>().ok();
                let printed = after[b_end + 2..].split('×').next().unwrap_or("");
                let r = printed.parse::<f64>().ok();
                if let (Some(a), Some(b), Some(r)) = (a, b, r) {
                    let want = a / b;
                    // Half a unit of the ratio's last printed digit, and the values' own
                    // rounding (6 significant digits).
                    let decimals = printed.split_once('.').map_or(0, |(_, d)| d.len());
                    let step = 0.5 * 10f64.powi(-(decimals as i32));
                    assert!(
                        (want - r).abs() <= step + want * 1e-4,
                        "{line}: {a} / {b} = {want}, printed {r}"
                    );
                    assert!(
                        (want - r).abs() <= 0.05 * want,
                        "{line}: {a} / {b} = {want}, printed {r}: fewer than two significant digits"
                    );
                    checked += 1;
                }
            }
        }
        assert!(
            checked >= 3,
            "{pair:?}: only {checked} ratios found:\n{text}"
        );
    }
}

/// A pair with neither samples nor epochs for one run is compared on steps alone: the
/// matched-samples and matched-steps comparisons are then one, printed once, and so are the
/// steps to the target loss.
#[test]
fn a_pair_on_steps_alone_prints_each_comparison_once() {
    let (text, _) = text_of(&[
        "fixtures/real/09_megatron-gpt2-batch-size-changes-after-eval",
        "fixtures/real/01_ms-swift-2024-global-step-rows-twice",
    ]);
    assert!(text.contains("compared by optimizer step"), "{text}");
    let at: Vec<&str> = text
        .lines()
        .filter(|l| l.trim_start().starts_with("at step "))
        .collect();
    assert_eq!(at.len(), 1, "{text}");
    let reach = text
        .lines()
        .find(|l| l.contains("to reach loss"))
        .expect("a target line");
    assert_eq!(reach.matches(" vs ").count(), 1, "{reach}");
    assert!(reach.ends_with(" steps"), "{reach}");
}

/// A run that logged no training loss (killed by an OOM after its first eval) has no curve to
/// compare: the summary names it instead of saying the curves do not overlap.
#[test]
fn a_run_without_a_training_loss_is_named_in_its_comparison() {
    let (text, _) = text_of(&[
        "fixtures/real/12_wandb-run-dir-nanogpt-keyboardinterrupt",
        "fixtures/real/25_wandb-run-dir-nanogpt-oom-after-first-eval",
    ]);
    assert!(
        text.contains(
            "no training loss logged by 25_wandb-run-dir-nanogpt-oom-after-first-eval; nothing to compare"
        ),
        "{text}"
    );
    assert!(!text.contains("do not overlap"), "{text}");
}

/// Two runs kept in folders of the same name (`1gpu/output`, `8gpu/output`) are named by the
/// parent that tells them apart, and those names work in --baseline and --set.
#[test]
fn runs_in_folders_of_the_same_name_take_their_parents_name() {
    let tmp = tempfile::tempdir().expect("temp dir");
    for (from, to) in [("lf_1gpu_ga8", "1gpu"), ("lf_8proc_ga8", "8gpu")] {
        let dest = tmp.path().join(to).join("output");
        std::fs::create_dir_all(&dest).expect("mkdir");
        for entry in std::fs::read_dir(format!("fixtures/{from}")).expect("fixture") {
            let path = entry.expect("entry").path();
            if path.is_file() {
                std::fs::copy(&path, dest.join(path.file_name().expect("name"))).expect("copy");
            }
        }
    }
    let out = losscmp()
        .current_dir(tmp.path())
        .args(["1gpu/output", "8gpu/output"])
        .output()
        .expect("runs");
    let text = String::from_utf8(out.stdout).expect("utf-8");
    assert!(text.contains("baseline 1gpu/output"), "{text}");
    assert!(
        text.contains("8gpu/output: short of optimizer updates"),
        "{text}"
    );
    let out = losscmp()
        .current_dir(tmp.path())
        .args([
            "1gpu/output",
            "8gpu/output",
            "--baseline",
            "8gpu/output",
            "--set",
            "1gpu/output:world_size=1",
            "--json",
            "-",
        ])
        .output()
        .expect("runs");
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(doc["baseline"], "8gpu/output");
}

/// The overlap in the JSON has every field docs/json.md lists, and its last quarter starts
/// where the summary says ("over the last quarter (samples 4,672–6,144)").
#[test]
fn the_json_overlap_has_its_documented_fields() {
    let doc = json_of(&["fixtures/lf_1gpu_ga8", "fixtures/lf_8proc_ga8"]);
    let o = &doc["comparisons"][0]["matched_samples"];
    let mut keys: Vec<&str> = o
        .as_object()
        .expect("an overlap")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "axis",
            "end",
            "gap_last_quarter",
            "last_from",
            "mean_abs_gap",
            "ratio_last_quarter",
            "ratio_overall",
            "reference_at_end",
            "run_at_end",
            "start"
        ]
    );
    assert_eq!(o["last_from"].as_f64(), Some(4672.0));
    assert_eq!(o["end"].as_f64(), Some(6144.0));
}

/// A world size given with --set that the log's batch line contradicts: named as a
/// contradiction, and no option change is worked out from factors that disagree; one that
/// agrees gives the change whose product is the baseline's batch.
#[test]
fn a_set_the_log_contradicts_gives_no_option_change() {
    let (text, err) = text_of(&[
        "fixtures/lf_1gpu_ga8",
        "fixtures/lf_8proc_ga8",
        "--set",
        "lf_8proc_ga8:world_size=4",
    ]);
    // 4 × 2 × 8 is not the logged 128: which fact is wrong is not known, so no option change
    // is worked out from them (a GA 8 → 2 would give 32 on the 8 processes the log says ran).
    assert!(
        text.contains("Its batch facts disagree (see the warnings), so no option change is worked out from them."),
        "{text}"
    );
    assert!(!text.contains("gradient_accumulation_steps 8 →"), "{text}");
    assert!(err.contains("is not world_size 4"), "{err}");
    // A --set that agrees with the log changes nothing: GA 8 → 1, 8 × 2 × 1 = 16.
    let (text, _) = text_of(&[
        "fixtures/lf_1gpu_ga8",
        "fixtures/lf_8proc_ga8",
        "--set",
        "lf_8proc_ga8:world_size=8",
    ]);
    assert!(
        text.contains(
            "gradient_accumulation_steps 8 → 1 for lf_8proc_ga8: 8 × 2 × 1 = 16 restores"
        ),
        "{text}"
    );
}

/// A --set of the accumulation the log already states otherwise gives no change "1 → 1".
#[test]
fn a_set_against_the_log_gives_no_empty_change() {
    let (text, _) = text_of(&[
        "fixtures/lf_1gpu_ga8",
        "fixtures/lf_8proc_ga8",
        "--set",
        "lf_8proc_ga8:grad_accum=1",
    ]);
    assert!(!text.contains("1 → 1"), "{text}");
    assert!(text.contains("Its batch facts disagree"), "{text}");
}

/// Counts agree with their nouns: "8 warnings, 1 info", "1 warning".
#[test]
fn finding_counts_agree_with_their_nouns() {
    for args in [
        sweep_runs(),
        vec![
            "fixtures/lf_1gpu_ga8".into(),
            "fixtures/lf_8proc_ga8".into(),
        ],
    ] {
        let (text, _) = text_of(&args);
        let line = text
            .lines()
            .find(|l| l.starts_with("Other findings ("))
            .expect("other findings");
        let counts = line
            .trim_start_matches("Other findings (")
            .trim_end_matches(')');
        for part in counts.split(", ") {
            let (n, noun) = part.split_once(' ').expect("N noun");
            let plural = noun.ends_with('s');
            assert_eq!(plural, n != "1" && noun != "info", "{line}");
        }
    }
}

/// A lone trainer_log.jsonl has no batch, so no samples seen: the warning names that run and
/// the --set that gives them.
#[test]
fn a_run_without_samples_is_named_with_its_set() {
    let (_, err) = text_of(&[
        "fixtures/lf_1gpu_ga8",
        "fixtures/lf_8proc_ga8/trainer_log.jsonl",
    ]);
    assert!(
        err.contains(
            "losscmp: warning: samples seen unknown for lf_8proc_ga8 (--set lf_8proc_ga8:effective_batch=N gives them); the charts use epoch instead"
        ),
        "{err}"
    );
    // `--x` named only when it was given.
    let (_, err) = text_of(&[
        "fixtures/lf_1gpu_ga8",
        "fixtures/lf_8proc_ga8/trainer_log.jsonl",
        "--x",
        "samples",
    ]);
    assert!(
        err.contains("losscmp: warning: --x samples: samples seen unknown for lf_8proc_ga8"),
        "{err}"
    );
    // Two runs without it: one --set each, and following them puts both on samples seen.
    let (_, err) = text_of(&[
        "fixtures/lf_1gpu_ga8/trainer_log.jsonl",
        "fixtures/lf_8proc_ga8/trainer_log.jsonl",
    ]);
    assert!(
        err.contains(
            "(--set lf_1gpu_ga8:effective_batch=N --set lf_8proc_ga8:effective_batch=N give them)"
        ),
        "{err}"
    );
    let (text, err) = text_of(&[
        "fixtures/lf_1gpu_ga8/trainer_log.jsonl",
        "fixtures/lf_8proc_ga8/trainer_log.jsonl",
        "--set",
        "lf_1gpu_ga8:effective_batch=16",
        "--set",
        "lf_8proc_ga8:effective_batch=128",
    ]);
    assert!(!err.contains("samples seen unknown"), "{err}");
    assert!(
        text.starts_with("2 runs compared by samples seen"),
        "{text}"
    );
}

/// Where the batch's factors are unknown (a lone trainer_log.jsonl), the fix says to reduce the
/// batch and the alternatives say to train longer — once, not in both.
#[test]
fn training_longer_is_advised_once() {
    let (text, _) = text_of(&[
        "fixtures/lf_1gpu_ga8",
        "fixtures/lf_8proc_ga8/trainer_log.jsonl",
    ]);
    let longer = text
        .lines()
        .filter(|l| l.contains("as many epochs") || l.contains("as long"))
        .count();
    assert_eq!(longer, 1, "{text}");
}

#[test]
fn checkpoint_folders_are_read_with_their_runs() {
    let doc = json_of(&[
        "fixtures/lf_1gpu_ga8/checkpoint-192",
        "fixtures/lf_8proc_ga8/checkpoint-48",
    ]);
    let labels: Vec<&str> = doc["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .map(|r| r["label"].as_str().expect("label"))
        .collect();
    assert_eq!(labels, vec!["lf_1gpu_ga8", "lf_8proc_ga8"]);
    let c = causes(&doc);
    assert_eq!(c.len(), 1, "{c:?}");
    assert_eq!(c[0].1, "oversized-effective-batch");
    assert!(
        doc["warnings"]
            .to_string()
            .contains("a checkpoint folder; read with its run directory fixtures/lf_8proc_ga8"),
        "{}",
        doc["warnings"]
    );
}

/// A W&B CSV export has no batch facts. With its epochs, the batch ratio is inferred from the
/// steps per epoch and said to be assumed; without epochs, the verdict says which check did not
/// run and the `--set` that unlocks it — which then gives the cause.
#[test]
fn a_missing_fact_is_inferred_or_named_with_its_set() {
    let csv = "fixtures/tables/wandb_export_lf_8proc_ga8.csv";
    let doc = json_of(&["fixtures/lf_1gpu_ga8", csv]);
    let c = causes(&doc);
    assert_eq!(
        c.first().map(|c| c.1.as_str()),
        Some("oversized-effective-batch"),
        "{c:?}"
    );
    let summary = doc["verdict"]["causes"][0]["summary"]
        .as_str()
        .expect("summary");
    assert!(
        summary.contains("assumed: the same examples per epoch"),
        "{summary}"
    );

    // The same export without its epoch column.
    let text = std::fs::read_to_string(common::fixture("tables/wandb_export_lf_8proc_ga8.csv"))
        .expect("fixture");
    let header: Vec<&str> = text.lines().next().expect("header").split(',').collect();
    let keep: Vec<usize> = (0..header.len())
        .filter(|&i| !header[i].contains("epoch"))
        .collect();
    let stripped: String = text
        .lines()
        .map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            keep.iter()
                .map(|&i| cells.get(i).copied().unwrap_or(""))
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect::<Vec<_>>()
        .join("\n");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("run8.csv");
    std::fs::write(&path, stripped).expect("write");
    let path = path.to_str().expect("utf-8");
    let doc = json_of(&["fixtures/lf_1gpu_ga8", path]);
    let unchecked = doc["verdict"]["unchecked"].as_array().expect("unchecked");
    assert!(
        unchecked
            .iter()
            .any(|u| u["check"] == "oversized-effective-batch"
                && u["set"] == "--set run8:effective_batch=N"),
        "{unchecked:?}"
    );
    let doc = json_of(&[
        "fixtures/lf_1gpu_ga8",
        path,
        "--set",
        "run8:effective_batch=128",
    ]);
    let c = causes(&doc);
    assert_eq!(
        c.first().map(|c| c.1.as_str()),
        Some("oversized-effective-batch"),
        "{c:?}"
    );
}

/// A log holding only the metric dicts (`python train.py > train.log`: no header, no bars)
/// names the `--set` that places its steps; with it, the batch ratio is inferred (assumed: the
/// same examples per epoch) and the run short of updates is found.
#[test]
fn stdout_only_dicts_name_their_set_and_the_cause_is_inferred() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut paths = Vec::new();
    for run in ["lf_1gpu_ga8", "lf_8proc_ga8"] {
        let log =
            std::fs::read_to_string(common::fixture(&format!("{run}/train.log"))).expect("fixture");
        // What `python train.py > train.log` keeps: only the dicts (transformers prints its
        // header and progress bars to stderr).
        let dicts: String = log
            .split(['\n', '\r'])
            .filter_map(|l| l.find("{'").map(|i| &l[i..]))
            .map(|l| format!("{l}\n"))
            .collect();
        let d = dir.path().join(run);
        std::fs::create_dir(&d).expect("mkdir");
        std::fs::write(d.join("train.log"), dicts).expect("write");
        paths.push(d.to_str().expect("utf-8").to_string());
    }
    // Nothing places their steps: kept on the epoch axis, compared at matched epochs, and the
    // batch check (which needs steps) says what to set.
    losscmp()
        .args([&paths[0], &paths[1]])
        .assert()
        .success()
        .stdout(common::predicate::str::contains("2 runs compared by epoch"))
        .stdout(common::predicate::str::contains(
            "not checked: oversized-effective-batch for lf_8proc_ga8: logging_steps unknown; supply it with --set lf_8proc_ga8:logging_steps=N",
        ))
        .stderr(common::predicate::str::contains(
            "208 metric records with epochs but no steps, and nothing gives them (steps per epoch, a logging interval); kept on the epoch axis, steps unknown — add --set lf_1gpu_ga8:steps_per_epoch=N (their epochs then give their steps, a resumed segment's too) or --set lf_1gpu_ga8:logging_steps=N",
        ));
    let doc = json_of(&[
        &paths[0],
        &paths[1],
        "--set",
        "lf_1gpu_ga8:logging_steps=2",
        "--set",
        "lf_8proc_ga8:logging_steps=2",
    ]);
    let c = causes(&doc);
    assert_eq!(
        c.first().map(|c| (c.0.as_str(), c.1.as_str())),
        Some(("lf_8proc_ga8", "oversized-effective-batch")),
        "{c:?}"
    );
}

/// `--smooth` changes the drawing, never a quoted number.
#[test]
fn smoothing_does_not_change_the_diagnosis() {
    let plain = json_of(&["fixtures/lf_1gpu_ga8", "fixtures/lf_8proc_ga8"]);
    let smooth = json_of(&[
        "fixtures/lf_1gpu_ga8",
        "fixtures/lf_8proc_ga8",
        "--smooth",
        "0.9",
    ]);
    assert_eq!(plain["findings"], smooth["findings"]);
    assert_eq!(plain["verdict"], smooth["verdict"]);
}

/// `--x step` keeps the by-samples / by-steps pair in the report.
#[test]
fn the_headline_pair_stays_with_x_step() {
    let dir = tempfile::tempdir().expect("temp dir");
    let html = dir.path().join("r.html");
    losscmp()
        .args([
            "fixtures/lf_1gpu_ga8",
            "fixtures/lf_8proc_ga8",
            "--x",
            "step",
        ])
        .arg("--out")
        .arg(&html)
        .assert()
        .success();
    let page = std::fs::read_to_string(&html).expect("written");
    // Each drawn once as a static chart (the interactive charts draw from the embedded data).
    assert_eq!(
        page.matches("Training loss vs samples seen\n</text>")
            .count(),
        1
    );
    assert_eq!(
        page.matches("Training loss vs optimizer steps\n</text>")
            .count(),
        1
    );
}

/// The regression gate is the one check the baseline orients; the verdict still says which run
/// did worse in either order: as the gate's error when the worse run comes second, as a note
/// when it is the baseline (exit 0 under --fail-on error, as a gate should).
#[test]
fn a_worse_baseline_is_noted_whichever_order() {
    let (b2, b256) = (
        "fixtures/sweep/b2_lr0.0007071",
        "fixtures/sweep/b256_lr0.008",
    );
    let (text, _) = text_of(&[b2, b256]);
    assert!(
        text.contains(
            "error   b256_lr0.008: worse than the baseline; no cause found  [loss-regression]"
        ),
        "{text}"
    );
    assert!(!text.contains("  note "), "{text}");
    let out = losscmp()
        .args([b256, b2, "--fail-on", "error", "--json", "-"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let better = &doc["verdict"]["better"];
    assert_eq!(
        better["runs"],
        serde_json::json!(["b2_lr0.0007071"]),
        "{better}"
    );
    let summary = better["summary"].as_str().expect("summary");
    assert!(
        summary.starts_with("b2_lr0.0007071 is better than the baseline b256_lr0.008 at matched samples seen: over the last quarter of the overlap (samples 4,714–6,200) the baseline's loss averages 13818× b2_lr0.0007071's (p < 1e-6)."),
        "{summary}"
    );
    let (text, _) = text_of(&[b256, b2]);
    assert!(text.contains(&format!("  note {summary}")), "{text}");
    // A baseline with a cause of its own is explained by it, not noted.
    let doc = json_of(&["fixtures/lf_8proc_ga8", "fixtures/lf_1gpu_ga8"]);
    assert!(doc["verdict"]["better"].is_null(), "{}", doc["verdict"]);
}

/// A regression no cause explains, between runs that differ in more than the batch (another
/// trainer, task and data): the verdict's entry says so and carries the differences, the
/// estimated ones marked as estimates.
#[test]
fn an_unexplained_regression_between_unlike_runs_says_they_differ() {
    let (text, _) = text_of(&[
        "fixtures/lf_1gpu_ga8",
        "fixtures/public/31_ms-swift-logging-jsonl-qwen3-8b",
    ]);
    assert!(
        text.contains("error   31_ms-swift-logging-jsonl-qwen3-8b: worse than the baseline, which it differs from in more than the batch  [loss-regression]"),
        "{text}"
    );
    assert!(
        text.contains("    what differs between the runs:\n      - not-comparable (warning): lf_1gpu_ga8 and 31_ms-swift-logging-jsonl-qwen3-8b differ in more than the batch: training examples: 2,048 vs ≈7,008; epochs: 3 vs ≈1;"),
        "{text}"
    );
    assert!(!text.contains("Other findings"), "{text}");
}

/// Where the batch facts contradict each other (here a --set against the logs), -v lists them
/// without an equation that does not hold.
#[test]
fn contradicting_batch_facts_are_not_printed_as_an_equation() {
    let (text, err) = text_of(&[
        "fixtures/lf_1gpu_ga8",
        "--set",
        "lf_1gpu_ga8:world_size=8",
        "-v",
    ]);
    assert!(
        text.contains("effective batch 16 (not world 8 × per-device 2 × grad accum 8 = 128: the facts disagree, see the warnings)"),
        "{text}"
    );
    assert!(!text.contains("16 = world 8"), "{text}");
    assert!(err.contains("is not world_size 8"), "{err}");
}

#[test]
fn the_unchecked_example_in_docs_json_holds() {
    // docs/json.md's example of a cause check that could not run, word for word.
    let doc = json_of(&[
        "fixtures/lf_1gpu_ga8",
        "fixtures/public/06_nanogpt-nan-loss",
    ]);
    assert_eq!(
        doc["verdict"]["unchecked"],
        serde_json::json!([{
            "check": "oversized-effective-batch",
            "missing": ["effective_batch"],
            "run": "06_nanogpt-nan-loss",
            "set": "--set 06_nanogpt-nan-loss:effective_batch=N"
        }])
    );
}

/// Three runs, two of them at the baseline's batch: the cause is said against the baseline,
/// whatever the other run is named (it was the alphabetically first of the tied runs).
#[test]
fn among_runs_tied_at_one_batch_the_headline_names_the_baseline() {
    for other in ["aaa", "zzz"] {
        let out = losscmp()
            .args(["--label", "base=fixtures/lf_1gpu_ga8"])
            .args(["--label", "big=fixtures/lf_8proc_ga8"])
            .arg("--label")
            .arg(format!("{other}=fixtures/lf_8proc_ga1"))
            .output()
            .expect("runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let headline = stdout
            .lines()
            .find(|l| l.contains("big used an 8× larger effective batch than"))
            .expect("the cause");
        assert!(
            headline.contains("than base (128 vs 16"),
            "{other}: {headline}"
        );
        assert!(
            stdout.contains("restores base's effective batch of 16"),
            "{other}: {stdout}"
        );
    }
}

/// Plain transformers runs whose script printed its `TrainingArguments` (real, made by
/// fixtures/gen/run_hf.sh): the logs alone give the learning rate and the optimizer, so the
/// alternative scales the printed rate by that optimizer's rule with nothing assumed, either
/// order.
#[test]
fn a_printed_arguments_block_gives_the_rate_and_the_optimizer() {
    let (one, four) = ("fixtures/gen/hf5_1proc_ga4", "fixtures/gen/hf5_4proc_ga4");
    for order in [[one, four], [four, one]] {
        let c = causes(&json_of(&order));
        assert_eq!(c.len(), 1, "{c:?}");
        assert_eq!(
            (c[0].0.as_str(), c[0].1.as_str()),
            ("hf5_4proc_ga4", "oversized-effective-batch")
        );
        assert_eq!(
            c[0].2["gradient_accumulation_steps"],
            (Value::from(4.0), Value::from(1.0))
        );
        let (out, _) = text_of(&order);
        assert!(
            out.contains("scale learning_rate 0.0005 → 0.001 (square-root scaling rule for Adam-family optimizers (adamw_torch_fused)"),
            "{out}"
        );
        assert!(!out.contains("assumed"), "{out}");
    }
}

/// Two real LLaMA-Factory slurm runs of one recipe on 4 and 8 GPUs (fixtures/public/46, 47):
/// the 8-GPU run lags by 5–6% at matched samples and keeps pace at matched steps. The gap the
/// regression gate fails is the gap the batch cause explains, so either order gives the one
/// cause and fix (GA 8 → 4) and fails `--fail-on error`; the options are the trainer's, though
/// DeepSpeed printed its configuration; the ranks' copies of the header are one header.
#[test]
fn a_real_4_to_8_gpu_pair_just_over_the_gate_gets_the_batch_cause_either_order() {
    let (four, eight) = (
        "fixtures/public/46_lf-slurm-4proc-ga8-every-rank-prints-header",
        "fixtures/public/47_lf-slurm-8proc-ga8-deepspeed-config-printed",
    );
    for order in [[four, eight], [eight, four]] {
        let c = causes(&json_of(&order));
        assert_eq!(c.len(), 1, "{c:?}");
        assert_eq!(
            (c[0].0.as_str(), c[0].1.as_str()),
            (
                "47_lf-slurm-8proc-ga8-deepspeed-config-printed",
                "oversized-effective-batch"
            )
        );
        assert_eq!(
            c[0].2["gradient_accumulation_steps"],
            (Value::from(8.0), Value::from(4.0))
        );
        let out = losscmp()
            .args(order)
            .args(["--fail-on", "error"])
            .output()
            .expect("runs");
        assert_eq!(out.status.code(), Some(1), "{order:?}");
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert!(stdout.contains("scale learning_rate "), "{stdout}");
        assert!(!stdout.contains("optimizer.params.lr"), "{stdout}");
        // The two logged peaks, equal within 1% but printed apart, are both given.
        assert!(
            stdout.contains("at about the same learning rate (9.986e-5 vs 9.999e-5)"),
            "{stdout}"
        );
        assert!(!stderr.contains("training headers in one file"), "{stderr}");
    }
}

/// A file of arguments beside a log that disagrees with what the run used (GA 2 in the file,
/// 4 in the training header): the fix still edits the file's line, and the place says that line
/// holds another value than the run used, so the patch is not read against a line it does not
/// fit.
#[test]
fn a_fix_at_a_line_that_holds_another_value_says_so() {
    let dir = tempfile::tempdir().expect("temp dir");
    let run = dir.path().join("hf5_4proc_ga4");
    common::copy_dir(std::path::Path::new("fixtures/gen/hf5_4proc_ga4"), &run);
    std::fs::write(
        run.join("config.yaml"),
        "### train\nper_device_train_batch_size: 4\ngradient_accumulation_steps: 2\nlearning_rate: 1.0e-4\n",
    )
    .expect("yaml");
    let doc = json_of(&["fixtures/gen/hf5_1proc_ga4", run.to_str().expect("utf-8")]);
    let c = &doc["verdict"]["causes"][0]["changes"]["gradient_accumulation_steps"];
    assert_eq!((&c["from"], &c["to"]), (&4.0.into(), &1.0.into()), "{c}");
    let file = c["file"].as_str().expect("file");
    assert!(
        file.ends_with(
            "config.yaml: line 3 (gradient_accumulation_steps; it says 2, the run used 4)"
        ),
        "{file}"
    );
}

/// A baseline whose learning rate is not scaled against one run (b16_lr0.002) is still said to
/// be worse than another run it is far behind (b16_lr0.004): its batch cause names the one run,
/// and says nothing of the other (sweep 10).
#[test]
fn a_baseline_cause_against_one_run_leaves_the_note_for_another() {
    let base = [
        "fixtures/sweep/b128_lr0.002",
        "fixtures/sweep/b128_lr0.005657",
        "fixtures/sweep/b16_lr0.004",
    ];
    let better = |doc: &Value| doc["verdict"]["better"]["runs"].clone();
    assert_eq!(better(&json_of(&base)), serde_json::json!(["b16_lr0.004"]));
    let mut with = base.to_vec();
    with.push("fixtures/sweep/b16_lr0.002");
    let doc = json_of(&with);
    let cause = &doc["verdict"]["causes"][0];
    assert_eq!(cause["run"], "b128_lr0.002", "{cause}");
    assert_eq!(better(&doc), serde_json::json!(["b16_lr0.004"]), "{doc:#}");
}
