//! End-to-end: the HTML report, the standalone plot and the data exports.

mod common;

use std::path::Path;

use common::{fixture, losscmp, text_of};
use polars::prelude::*;

fn report(args: &[&str], dir: &Path) -> String {
    let out = dir.join("report.html");
    losscmp()
        .args(args)
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    std::fs::read_to_string(out).expect("report written")
}

/// The page without what changes from release to release (the version in the footer).
fn normalized(page: &str) -> String {
    page.lines()
        .map(|l| {
            if l.starts_with("<footer>losscmp ") {
                "<footer>losscmp VERSION</footer>"
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Compares with a golden file; `LOSSCMP_BLESS=1` rewrites it. On a difference the actual
/// output is saved beside the golden (`*.actual`) and the first differing line is printed.
fn golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    let actual = normalized(actual);
    if std::env::var_os("LOSSCMP_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().expect("dir")).expect("mkdir");
        std::fs::write(&path, &actual).expect("bless");
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("{} missing: run with LOSSCMP_BLESS=1", path.display()));
    let expected = normalized(&expected);
    if expected != actual {
        let saved = path.with_extension("html.actual");
        std::fs::write(&saved, &actual).expect("save the actual page");
        let (n, (want, got)) = expected
            .lines()
            .chain(std::iter::repeat(""))
            .zip(actual.lines().chain(std::iter::repeat("")))
            .enumerate()
            .find(|(_, (a, b))| a != b)
            .expect("some line differs");
        panic!(
            "{name} differs from the golden file at line {}:\n- {want}\n+ {got}\nactual saved as {}; inspect, then re-run with LOSSCMP_BLESS=1",
            n + 1,
            saved.display()
        );
    }
}

#[test]
fn the_report_of_the_headline_pair_is_golden() {
    let dir = tempfile::tempdir().expect("tempdir");
    let html = report(
        &["fixtures/lf_1gpu_ga8", "fixtures/lf_8proc_ga8"],
        dir.path(),
    );
    golden("lf_1gpu_ga8-vs-lf_8proc_ga8.html", &html);
}

#[test]
fn the_report_states_the_fix_above_the_plots_and_has_every_chart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let html = report(
        &["fixtures/lf_1gpu_ga8", "fixtures/lf_8proc_ga8"],
        dir.path(),
    );
    let fix = html
        .find("+ gradient_accumulation_steps: 1")
        .expect("the fix as a config diff");
    let first_chart = html.find("<svg").expect("charts");
    assert!(fix < first_chart, "the fix comes before the plots");
    for title in [
        "Training loss vs samples seen",
        "Training loss vs optimizer steps",
        "Eval loss vs samples seen",
        "Learning rate vs samples seen",
        "Grad norm vs samples seen",
        "Loss ÷ baseline loss vs samples seen",
    ] {
        assert!(html.contains(title), "missing chart {title}");
    }
    assert_eq!(html.matches("<svg").count(), 6);
    assert!(
        html.contains("title=\"fixtures/lf_8proc_ga8/train.log: line 240 (Total train batch size"),
        "sources on hover"
    );
}

#[test]
fn the_report_is_self_contained() {
    let dir = tempfile::tempdir().expect("tempdir");
    let html = report(
        &[
            "fixtures/lf_1gpu_ga8",
            "fixtures/lf_8proc_ga8",
            "--smooth",
            "0.6",
        ],
        dir.path(),
    );
    // The SVG namespace is a name, not a resource the browser loads; `url(#clip)` points inside
    // the page.
    let html = html
        .replace("xmlns=\"http://www.w3.org/2000/svg\"", "")
        .replace("\"http://www.w3.org/2000/svg\"", "")
        .replace("url(#", "");
    for needle in [
        "http://", "https://", "//cdn", "src=", "<link", "@import", "url(",
    ] {
        assert!(!html.contains(needle), "external reference {needle:?}");
    }
    // Scripts only inline: the interactive charts' code and their data; every static chart and
    // the whole verdict are there without them.
    assert_eq!(html.matches("<script").count(), 2);
    assert!(html.contains("<script type=\"application/json\" id=\"losscmp-data\">"));
    assert!(html.matches("<svg").count() >= 6, "the static charts");
}

#[test]
fn a_hostile_label_cannot_inject_markup() {
    let dir = tempfile::tempdir().expect("tempdir");
    let evil = "<img src=x onerror=alert(1)>";
    let label = format!("--label={evil}=fixtures/lf_8proc_ga8");
    let html = report(
        &["fixtures/lf_1gpu_ga8", "fixtures/lf_8proc_ga8", &label],
        dir.path(),
    );
    assert!(!html.contains(evil));
    assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));
}

#[test]
fn the_plot_alone_as_svg_and_png() {
    let dir = tempfile::tempdir().expect("tempdir");
    let svg = dir.path().join("loss.svg");
    let png = dir.path().join("loss.png");
    losscmp()
        .args(["fixtures/lf_1gpu_ga8", "fixtures/lf_8proc_ga8", "--plot"])
        .arg(&svg)
        .assert()
        .success();
    losscmp()
        .args(["fixtures/lf_1gpu_ga8", "fixtures/lf_8proc_ga8", "--plot"])
        .arg(&png)
        .assert()
        .success();
    let text = std::fs::read_to_string(&svg).expect("svg");
    assert!(text.starts_with("<svg") && text.contains("Training loss vs samples seen"));
    let img = image::open(&png).expect("a PNG").to_rgb8();
    let blue = img.pixels().filter(|p| p.0 == [31, 119, 180]).count();
    let red = img.pixels().filter(|p| p.0 == [214, 39, 40]).count();
    assert!(
        blue > 300 && red > 300,
        "both runs drawn: {blue} blue, {red} red pixels"
    );
    losscmp()
        .args(["fixtures/lf_1gpu_ga8", "--plot", "x.pdf"])
        .assert()
        .code(2);
}

#[test]
fn csv_and_parquet_hold_every_point_and_agree_with_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (csv, pq) = (
        dir.path().join("points.csv"),
        dir.path().join("points.parquet"),
    );
    let out = losscmp()
        .args([
            "fixtures/lf_1gpu_ga8",
            "fixtures/lf_8proc_ga8",
            "--json",
            "-",
            "--csv",
        ])
        .arg(&csv)
        .arg("--parquet")
        .arg(&pq)
        .output()
        .expect("runs");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let from_csv = CsvReadOptions::default()
        .with_has_header(true)
        .try_into_reader_with_file_path(Some(csv.clone()))
        .expect("csv reader")
        .finish()
        .expect("csv parses");
    let from_pq = ParquetReader::new(std::fs::File::open(&pq).expect("parquet"))
        .finish()
        .expect("parquet parses");
    assert_eq!(
        from_csv.shape(),
        from_pq.shape(),
        "CSV and Parquet hold the same table"
    );
    for col in ["step", "samples_seen", "value", "smoothed"] {
        let a = from_csv
            .column(col)
            .expect("csv column")
            .cast(&DataType::Float64)
            .expect("cast");
        let b = from_pq.column(col).expect("parquet column");
        assert!(a.equals_missing(b), "{col} differs between CSV and Parquet");
    }
    let names: Vec<&str> = from_pq
        .get_column_names()
        .iter()
        .map(|s| s.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "run",
            "metric",
            "step",
            "epoch",
            "samples_seen",
            "tokens_seen",
            "time_s",
            "value",
            "smoothed"
        ]
    );
    let mut total = 0;
    for run in doc["runs"].as_array().expect("runs") {
        let label = run["label"].as_str().expect("label");
        for (metric, m) in run["metrics"].as_object().expect("metrics") {
            let rows = from_pq.clone().lazy_free_filter(label, metric);
            assert_eq!(
                rows.0,
                m["points"].as_u64().expect("points") as usize,
                "{label}/{metric}"
            );
            assert_eq!(Some(rows.1), m["final"].as_f64(), "{label}/{metric} final");
            total += rows.0;
        }
    }
    assert_eq!(total, from_pq.height());
    assert!(fixture("lf_1gpu_ga8").is_dir());
}

/// Rows of one run and metric: (count, last value), without polars' lazy API (not built).
trait Filter {
    fn lazy_free_filter(self, run: &str, metric: &str) -> (usize, f64);
}

impl Filter for DataFrame {
    fn lazy_free_filter(self, run: &str, metric: &str) -> (usize, f64) {
        let runs = self.column("run").expect("run").str().expect("str").clone();
        let metrics = self
            .column("metric")
            .expect("metric")
            .str()
            .expect("str")
            .clone();
        let values = self
            .column("value")
            .expect("value")
            .f64()
            .expect("f64")
            .clone();
        let mut n = 0;
        let mut last = f64::NAN;
        for i in 0..self.height() {
            if runs.get(i) == Some(run) && metrics.get(i) == Some(metric) {
                n += 1;
                last = values.get(i).unwrap_or(f64::NAN);
            }
        }
        (n, last)
    }
}

/// The terminal's `compared:` lines of the seed pair (the loss at the end of each axis' overlap,
/// the last quarter, the samples and steps to the target loss) are on the page and in the
/// Markdown summary too, word for word.
#[test]
fn the_page_and_the_summary_compare_the_pair_as_the_terminal_does() {
    let args = ["fixtures/lf_1gpu_ga8", "fixtures/lf_8proc_ga8"];
    let out = losscmp().args(args).output().expect("runs");
    let terminal = String::from_utf8(out.stdout).expect("utf-8");
    let lines: Vec<&str> = terminal
        .lines()
        .skip_while(|l| !l.starts_with("compared: lf_8proc_ga8 vs lf_1gpu_ga8"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .map(str::trim)
        .collect();
    assert_eq!(lines.len(), 3, "{terminal}");
    assert!(lines[1].starts_with("at step 48: loss 0.521622 vs 0.343435 (1.52×)"));
    let dir = tempfile::tempdir().expect("tempdir");
    let page = report(&args, dir.path());
    assert!(page.contains("<h2>Compared</h2>"), "{page}");
    let out = losscmp()
        .args(args)
        .args(["--markdown", "-"])
        .output()
        .expect("runs");
    let markdown = String::from_utf8(out.stdout).expect("utf-8");
    assert!(markdown.contains("### Compared"), "{markdown}");
    for line in lines {
        assert!(page.contains(&format!("<li>{line}</li>")), "{line}");
        assert!(markdown.contains(&format!("  - {line}\n")), "{line}");
    }
}

#[test]
fn markdown_summary_for_a_ci_job() {
    let out = losscmp()
        .args([
            "fixtures/lf_1gpu_ga8",
            "fixtures/lf_8proc_ga8",
            "--markdown",
            "-",
        ])
        .output()
        .expect("runs");
    let text = String::from_utf8(out.stdout).expect("utf-8");
    // Labels are escaped for Markdown (issue 13): `\_` renders as `_`.
    assert!(
        text.starts_with("## losscmp: 2 runs, baseline lf\\_1gpu\\_ga8"),
        "{text}"
    );
    assert!(
        text.contains("| lf\\_8proc\\_ga8 | 8 | 2 | 8 | 128 | 0.002 | 48 | 0.521622 | 0.554618 |"),
        "{text}"
    );
    assert!(
        text.contains("`gradient_accumulation_steps`: `8` → `1` (lf\\_8proc\\_ga8)"),
        "{text}"
    );
    // The fix as the terminal gives it: why, the alternatives, and what else the cause
    // explains, each with its severity and sentence.
    assert!(
        text.contains("\n  - why: Set gradient\\_accumulation\\_steps 8 → 1 for lf\\_8proc\\_ga8: 8 × 2 × 1 = 16 restores"),
        "{text}"
    );
    assert!(
        text.contains(
            "\n  - alternative: Keep the batch and scale learning\\_rate 0.002 → 0.00566"
        ),
        "{text}"
    );
    assert!(text.contains("\n  - this also explains:\n    - `loss-regression` (error): lf\\_8proc\\_ga8 is worse than the baseline"), "{text}");
    assert!(
        text.contains("\n    - `too-few-optimizer-steps` (warning): lf\\_8proc\\_ga8 made only 48 optimizer updates"),
        "{text}"
    );
}

#[test]
fn long_runs_are_thinned_for_drawing_and_the_page_stays_small() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut paths = Vec::new();
    for (name, rate) in [("a", 1.0e-4), ("b", 0.5e-4)] {
        let run = dir.path().join(name);
        std::fs::create_dir(&run).expect("mkdir");
        let mut text = String::new();
        for step in 1..=120_000u32 {
            let s = f64::from(step);
            let loss = 0.5 + 3.0 * (-s * rate).exp() + 0.05 * (s * 0.37).sin();
            text.push_str(&format!(
                "{{\"current_steps\": {step}, \"total_steps\": 120000, \"loss\": {loss}, \"lr\": 0.0001, \"epoch\": {}, \"elapsed_time\": \"0:00:01\"}}\n",
                s / 40_000.0
            ));
        }
        std::fs::write(run.join("trainer_log.jsonl"), text).expect("write");
        paths.push(run);
    }
    let out = dir.path().join("report.html");
    losscmp()
        .args(&paths)
        .args(["--x", "step", "--out"])
        .arg(&out)
        .assert()
        .success();
    let html = std::fs::read_to_string(&out).expect("report");
    assert!(
        html.len() < 1_000_000,
        "{} bytes for 2 × 120,000 points",
        html.len()
    );
    let longest = html
        .split("<polyline")
        .skip(1)
        .filter_map(|p| p.split("points=\"").nth(1))
        .map(|q| q.split('"').next().unwrap_or("").split_whitespace().count())
        .max();
    assert!(
        longest.is_some_and(|n| n <= 1500),
        "a drawn line keeps at most 1,500 points: {longest:?}"
    );
}

/// Points kept on the epoch axis (their steps unknown) export an empty step, as every other
/// unknown coordinate does, not the text NaN.
#[test]
fn an_unknown_step_exports_empty() {
    let dir = tempfile::tempdir().expect("temp dir");
    let csv = dir.path().join("points.csv");
    losscmp()
        .arg("fixtures/handmade/custom_dicts_resumed_ranks_truncated")
        .arg("--csv")
        .arg(&csv)
        .assert()
        .success();
    let text = std::fs::read_to_string(&csv).expect("csv");
    assert!(!text.contains("NaN"), "{text}");
    let row = text.lines().nth(1).expect("a row");
    assert_eq!(row.split(',').nth(2), Some(""), "{row}");
}

/// The runs tables show where a run that stopped short stopped, against its plan, and an
/// unknown value as the page does ("—"), not "?".
#[test]
fn the_runs_table_shows_where_a_cut_short_run_stopped() {
    let out = losscmp()
        .args([
            "fixtures/real/09_megatron-gpt2-batch-size-changes-after-eval",
            "fixtures/real/17_nanogpt-stdout-config-file-echo",
            "--markdown",
            "-",
        ])
        .output()
        .expect("runs");
    let md = String::from_utf8(out.stdout).expect("utf-8");
    assert!(
        md.contains("| 09\\_megatron-gpt2-batch-size-changes-after-eval | 8 | 4 | 1 | 32 | 0.00015 | 211 of 500000 |"),
        "{md}"
    );
    assert!(
        md.contains("| 17\\_nanogpt-stdout-config-file-echo | — | 32 | 1 | 32 |"),
        "{md}"
    );
}

/// A lone run is said to be checked on its own, in the terminal, the page and the Markdown —
/// not "1 runs compared" or an empty first line.
#[test]
fn a_lone_run_is_said_to_be_checked_on_its_own() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (page, md) = (dir.path().join("r.html"), dir.path().join("r.md"));
    let out = losscmp()
        .arg("fixtures/lf_8proc_ga8/train.log")
        .arg("--out")
        .arg(&page)
        .arg("--markdown")
        .arg(&md)
        .output()
        .expect("runs");
    let text = String::from_utf8(out.stdout).expect("utf-8");
    assert!(
        text.starts_with("lf_8proc_ga8 checked on its own (give a second run to compare with)\n"),
        "{text}"
    );
    let page = std::fs::read_to_string(&page).expect("page");
    assert!(
        page.contains("<b>lf_8proc_ga8</b> checked on its own"),
        "page"
    );
    let md = std::fs::read_to_string(&md).expect("markdown");
    assert!(
        md.starts_with("## losscmp: lf\\_8proc\\_ga8, checked on its own"),
        "{md}"
    );
}

/// Two runs whose curves share no stretch of any axis but both reach a loss: the comparison
/// gives when each reached it and says that is all it compares, not "nothing to compare" under
/// the line that compares them (sweep 10).
#[test]
fn curves_that_do_not_overlap_are_compared_by_the_loss_both_reached() {
    let (text, _) = text_of(&[
        "fixtures/real/01_ms-swift-2024-global-step-rows-twice",
        "fixtures/real/02_hf-state-2022-era-no-grad-norm-100-epochs",
    ]);
    assert!(
        text.contains("  to reach loss 0.26347: 22.691 vs 0.11 epochs, 703 vs 207 steps\n  the loss curves do not overlap; compared only by when each reached the loss above\n"),
        "{text}"
    );
    assert!(!text.contains("nothing to compare"), "{text}");
}

/// The plot's one-line verdict leads with the most severe cause: the 2-process run's warning
/// comes first in run order, the 8-process run's error is the headline (sweep 10).
#[test]
fn the_plot_subtitle_leads_with_the_most_severe_cause() {
    let dir = tempfile::tempdir().expect("tempdir");
    let svg = dir.path().join("plot.svg");
    losscmp()
        .args([
            "fixtures/gen/lf2_1gpu_ga8",
            "fixtures/gen/lf2_2proc_ga8",
            "fixtures/gen/lf2_8proc_ga8",
            "fixtures/gen/lf2_8proc_ga8_24ep",
            "--plot",
        ])
        .arg(&svg)
        .assert()
        .success();
    let text = std::fs::read_to_string(&svg).expect("plot");
    assert!(
        text.contains(
            "lf2_8proc_ga8: short of optimizer updates — gradient_accumulation_steps 8 → 1 (+2 more)"
        ),
        "{}",
        &text[..text.len().min(3000)]
    );
}

/// A run that crashed after its step-0 evaluation, before its first logged loss, made no
/// optimizer steps of its 5000 planned: the runs tables say "0 of 5000", not "5000" (sweep 10).
#[test]
fn a_run_that_never_logged_a_loss_shows_where_it_stopped() {
    let (text, _) = text_of(&[
        "fixtures/real/12_wandb-run-dir-nanogpt-keyboardinterrupt",
        "fixtures/real/25_wandb-run-dir-nanogpt-oom-after-first-eval",
        "--markdown",
        "-",
    ]);
    assert!(
        text.contains("| 64 | 1 | 64 | 0.001 | 0 of 5000 | — | 8.77552 |"),
        "{text}"
    );
    assert!(text.contains("| 1330 of 5000 | 1.26215 |"), "{text}");
}
