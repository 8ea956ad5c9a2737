//! Issue 16: the nightly job's outputs — a hive-partitioned Parquet dataset read back with
//! polars, JUnit XML that validates, GitHub Actions annotations — and `--label NAME=PATH` alone
//! adding its run.

mod common;

use std::fs::File;
use std::path::Path;

use common::{fixture, losscmp, predicate};
use polars::prelude::*;

fn runs_table(path: &Path) -> DataFrame {
    ParquetReader::new(File::open(path).expect("written"))
        .finish()
        .expect("a Parquet table")
}

fn parquet_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .expect("partition exists")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    out.sort();
    out
}

#[test]
fn two_nights_append_to_a_hive_partitioned_dataset() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ds = dir.path().join("ds");
    for (night, tonight) in [
        ("2026-11-30", "fixtures/lf_8proc_ga1"),
        ("2026-12-01", "fixtures/lf_8proc_ga8"),
    ] {
        losscmp()
            .args(["fixtures/lf_1gpu_ga8", tonight, "--dataset"])
            .arg(&ds)
            .args(["--dataset-date", night])
            .assert()
            .success()
            .stderr(predicate::str::contains(format!("runs/date={night}/")));
    }
    // Night 2 again, the same comparison: nothing changed since.
    losscmp()
        .args(["fixtures/lf_1gpu_ga8", "fixtures/lf_8proc_ga8", "--dataset"])
        .arg(&ds)
        .args(["--dataset-date", "2026-12-01"])
        .assert()
        .success();
    let first = parquet_files(&ds.join("runs/date=2026-11-30"));
    let second = parquet_files(&ds.join("runs/date=2026-12-01"));
    assert_eq!((first.len(), second.len()), (1, 2));
    assert_eq!(parquet_files(&ds.join("points/date=2026-12-01")).len(), 2);

    let night1 = runs_table(&first[0]);
    let run = night1.column("run").expect("run").str().expect("text");
    assert_eq!(run.get(0), Some("lf_1gpu_ga8"));
    assert_eq!(run.get(1), Some("lf_8proc_ga1"));
    let change = night1.column("verdict_change").expect("col");
    assert_eq!(change.str().expect("text").get(1), Some("first"));
    for col in [
        "comparison",
        "baseline",
        "is_baseline",
        "final_loss",
        "min_loss",
        "effective_batch",
        "world_size",
        "findings",
        "worst_severity",
    ] {
        assert!(night1.column(col).is_ok(), "runs table lacks {col}");
    }
    let eff = night1.column("effective_batch").expect("col");
    assert_eq!(eff.f64().expect("numbers").get(1), Some(16.0));

    // Night 2's first comparison: a new run (lf_8proc_ga8) with findings of its own.
    let mut by_time: Vec<DataFrame> = second.iter().map(|p| runs_table(p)).collect();
    by_time.sort_by_key(|df| {
        df.column("comparison")
            .expect("col")
            .str()
            .expect("text")
            .get(0)
            .map(str::to_string)
    });
    let findings = by_time[0].column("findings").expect("col");
    assert!(
        findings
            .str()
            .expect("text")
            .get(1)
            .is_some_and(|f| f.contains("oversized-effective-batch:error")),
        "{findings:?}"
    );
    // The baseline (row 0) does not carry the new run's findings: the batch error is about
    // lf_8proc_ga8, so the baseline's worst is what the pair's shared comparisons say.
    let worst = by_time[0].column("worst_severity").expect("col");
    let worst = worst.str().expect("text");
    assert_eq!(worst.get(1), Some("error"));
    assert_ne!(worst.get(0), Some("error"), "{worst:?}");
    assert!(
        !findings
            .str()
            .expect("text")
            .get(0)
            .is_some_and(|f| f.contains("oversized-effective-batch")),
        "{findings:?}"
    );
    // The repeat: the same findings as the night before, for both runs.
    let change = by_time[1].column("verdict_change").expect("col");
    let change = change.str().expect("text");
    assert_eq!((change.get(0), change.get(1)), (Some("same"), Some("same")));

    // The points table is the long table of --parquet, with the comparison id.
    let points = runs_table(&parquet_files(&ds.join("points/date=2026-11-30"))[0]);
    for col in [
        "comparison",
        "run",
        "metric",
        "step",
        "samples_seen",
        "value",
    ] {
        assert!(points.column(col).is_ok(), "points table lacks {col}");
    }
    assert!(points.height() > 400);
}

/// The JUnit file parses and has one test case per finding, failures at `--fail-on`.
#[test]
fn junit_lists_each_finding_as_a_test_case() {
    let dir = tempfile::tempdir().expect("temp dir");
    let xml = dir.path().join("losscmp.xml");
    losscmp()
        .args([
            "fixtures/lf_1gpu_ga8",
            "fixtures/lf_8proc_ga8",
            "--fail-on",
            "error",
        ])
        .arg("--junit")
        .arg(&xml)
        .assert()
        .code(1);
    let text = std::fs::read_to_string(&xml).expect("written");
    assert!(text.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites"));
    assert!(text.contains("classname=\"losscmp.oversized-effective-batch\""));
    assert!(text.contains("<failure type=\"error\""));
    let cases = text.matches("<testcase ").count();
    let failures = text.matches("<failure ").count();
    assert!(cases >= failures && failures >= 1, "{text}");
    assert!(text.contains(&format!("failures=\"{failures}\"")));
    // Against the JUnit schema the CI reporters use, where xmllint is installed (CI installs it).
    let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/junit.xsd");
    match std::process::Command::new("xmllint")
        .args(["--noout", "--schema"])
        .arg(&schema)
        .arg(&xml)
        .output()
    {
        Ok(out) => assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(_) if std::env::var_os("LOSSCMP_REQUIRE_TOOLS").is_none() => {
            eprintln!("xmllint not installed: schema validation skipped");
        }
        Err(e) => panic!("xmllint is required here: {e}"),
    }
}

#[test]
fn github_actions_get_annotations() {
    losscmp()
        .env("GITHUB_ACTIONS", "true")
        .args([
            "fixtures/lf_1gpu_ga8",
            "fixtures/lf_8proc_ga8",
            "--json",
            "-",
        ])
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "::error title=losscmp oversized-effective-batch (lf_1gpu_ga8 vs lf_8proc_ga8)::",
        ))
        .stderr(predicate::str::contains(
            "::warning title=losscmp lr-not-scaled",
        ));
    // Without GITHUB_ACTIONS, none.
    losscmp()
        .args(["fixtures/lf_1gpu_ga8", "fixtures/lf_8proc_ga8"])
        .assert()
        .success()
        .stderr(predicate::str::contains("::error").not());
}

#[test]
fn a_label_alone_adds_the_run() {
    let doc = common::json_of(&[
        "--label",
        "single=fixtures/lf_1gpu_ga8",
        "--label",
        "multi=fixtures/lf_8proc_ga8",
    ]);
    assert_eq!(doc["baseline"], "single");
    let labels: Vec<&str> = doc["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .map(|r| r["label"].as_str().expect("label"))
        .collect();
    assert_eq!(labels, vec!["single", "multi"]);
}

/// `-` sends one table or document to standard output, for a pipe: the CSV, the Parquet file
/// and the JUnit XML are the same bytes as written to a file, and the terminal summary stays
/// out. Two outputs may not both take it, and the page, plot and dataset refuse it.
#[test]
fn a_dash_writes_one_output_to_stdout() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pair = [fixture("lf_1gpu_ga8"), fixture("lf_8proc_ga8")];
    for (flag, name) in [
        ("--csv", "points.csv"),
        ("--parquet", "points.parquet"),
        ("--junit", "findings.xml"),
    ] {
        let file = dir.path().join(name);
        losscmp()
            .args(&pair)
            .arg(flag)
            .arg(&file)
            .assert()
            .success();
        let piped = losscmp()
            .args(&pair)
            .args([flag, "-"])
            .current_dir(dir.path())
            .assert()
            .success();
        let out = &piped.get_output().stdout;
        assert_eq!(out, &std::fs::read(&file).expect("written"), "{flag}");
        assert!(
            !dir.path().join("-").exists(),
            "{flag} - made a file named -"
        );
    }
    let table = ParquetReader::new(std::io::Cursor::new(
        std::fs::read(dir.path().join("points.parquet")).expect("written"),
    ))
    .finish()
    .expect("a Parquet table");
    assert!(table.height() > 0);
    losscmp()
        .args(&pair)
        .args(["--csv", "-", "--json", "-"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("both want stdout"));
    for flag in ["--out", "--plot", "--dataset"] {
        losscmp()
            .args(&pair)
            .args([flag, "-"])
            .current_dir(dir.path())
            .assert()
            .code(2)
            .stderr(predicate::str::contains(format!("{flag} -: ")));
    }
}
