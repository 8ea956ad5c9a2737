//! Property tests (issue 13): every reader, and the align → diagnose → report path, on inputs
//! a fuzzer would make. No input may panic, hang, put a non-finite coordinate into a run, or
//! produce output a viewer refuses (a control character in the HTML/SVG, JSON that does not
//! parse). Seeded and bounded: `LOSSCMP_PROPTEST_CASES` (default 48) and
//! `LOSSCMP_PROPTEST_SEED` (default 1) set how many cases and which; the mutation script
//! `fuzz/mutate.py` runs the binary itself for longer.

use std::path::PathBuf;

use losscmp::align::{AlignOptions, Axis, align};
use losscmp::diagnose::{Context, DiagnoseOptions, diagnose};
use losscmp::ingest::{RunSpec, read_run};
use losscmp::model::{
    ConfigValue, Key, Locator, Point, Provenance, Run, RunConfig, Series, Sourced,
};
use losscmp::report::{Report, charts, html, json, markdown, term};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

fn config() -> Config {
    let var = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    Config {
        cases: u32::try_from(var("LOSSCMP_PROPTEST_CASES", 48)).unwrap_or(48),
        rng_seed: RngSeed::Fixed(var("LOSSCMP_PROPTEST_SEED", 1)),
        failure_persistence: None,
        ..Config::default()
    }
}

/// One file of each format the readers know, as the seed of mutations.
const SEEDS: [&str; 15] = [
    "lf_8proc_ga8/trainer_state.json",
    "lf_8proc_ga8/trainer_log.jsonl",
    "lf_8proc_ga8/train.log",
    "lf_8proc_ga8/all_results.json",
    "lf_8proc_ga8/config.yaml",
    "hf_8proc_ga8_crashed_at_exit/training_args.json",
    "public/31_ms-swift-logging-jsonl-qwen3-8b/logging.jsonl",
    "public/13_megatron-ds-bigscience-176B-reshaping/reshaping-log.txt",
    "public/06_nanogpt-nan-loss/train.log",
    "handmade/torchtune_lora/logs/log_1764300000.txt",
    "public/23_mlflow-filestore-metric-loss/loss",
    "trackers/lf_1gpu_ga8/tb/events.out.tfevents.1764300000.localhost.0",
    "trackers/lf_1gpu_ga8/wandb/run-6g4y5jl9.wandb",
    "tables/wandb_export_lf_8proc_ga8.csv",
    "public/22_deepspeed-hf-interleaved-fate-llm/guest.log.excerpt.txt",
];

const TOKENS: [&[u8]; 16] = [
    b"NaN",
    b"1e309",
    b"-1e308",
    b"9223372036854775807",
    b"\x00\x00",
    b"\xff\xfe",
    b"\x1b]0;x\x07",
    b"[[[[[[[[",
    b"{'loss': ",
    b"\"step\": ",
    b"\n",
    b"\r",
    b"}",
    b",",
    b"-1",
    b"  Num update steps per epoch = NaN\n",
];

/// A mutation: (kind, where as a fraction of the length, a byte).
fn mutation() -> impl Strategy<Value = (u8, u16, u8)> {
    (0u8..5, any::<u16>(), any::<u8>())
}

fn apply(mut data: Vec<u8>, ops: &[(u8, u16, u8)]) -> Vec<u8> {
    for &(kind, at, byte) in ops {
        let pos = (usize::from(at) * data.len()) / usize::from(u16::MAX).max(1);
        let pos = pos.min(data.len());
        match kind {
            0 => data.truncate(pos),
            1 if pos < data.len() => data[pos] ^= byte | 1,
            2 => {
                let t = TOKENS[usize::from(byte) % TOKENS.len()];
                data.splice(pos..pos, t.iter().copied());
            }
            3 => {
                let end = (pos + usize::from(byte)).min(data.len());
                data.drain(pos..end);
            }
            _ => {
                let end = (pos + usize::from(byte) * 8).min(data.len());
                let copy = data[pos..end].to_vec();
                data.splice(end..end, copy);
            }
        }
    }
    data
}

fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(rel)
}

/// Every output a report renders, checked the way a viewer would.
fn render_all(runs: &[Run]) {
    let aligned = align(
        runs,
        0,
        AlignOptions {
            axis: Axis::Samples,
            chosen: false,
            smooth: Some(0.6),
        },
    );
    let ctx = Context::new(runs, &aligned, 0, DiagnoseOptions { tolerance: 0.05 }, None);
    let mut findings = diagnose(&ctx);
    let verdict = losscmp::diagnose::verdict(&ctx, &mut findings);
    let view =
        losscmp::report::view::View::build(runs, &aligned, 0, losscmp::report::view::Needs::ALL);
    let report = Report {
        runs,
        aligned: &aligned,
        view: &view,
        findings: &findings,
        verdict: &verdict,
        sweep: None,
        baseline: 0,
    };
    let text = term::render(
        &report,
        &term::View {
            color: true,
            verbose: true,
        },
    );
    assert!(
        !text
            .replace("\x1b[", "")
            .bytes()
            .any(|b| b == 0x1b || b == 0x07),
        "a raw control character in the terminal summary"
    );
    let doc = json::render(&report);
    serde_json::from_str::<serde_json::Value>(&doc).expect("the JSON parses");
    let md = markdown::render(&report);
    assert!(!md.contains('<'), "markup in the Markdown: {md}");
    let all = html::all_charts(&report);
    let page = html::render(&report, &all).expect("renders");
    assert!(
        !page
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\t' | '\r')),
        "a control character in the HTML"
    );
    for chart in &all {
        charts::svg(chart).expect("draws");
    }
}

fn assert_coordinates_finite(run: &Run) {
    for s in run.series.values() {
        for p in &s.points {
            assert!(p.step.is_finite(), "{}: step {}", s.name, p.step);
            for c in [p.epoch, p.samples, p.tokens, p.time] {
                assert!(c.get().is_none_or(f64::is_finite), "{}: {c:?}", s.name);
            }
        }
    }
}

proptest! {
    #![proptest_config(config())]

    /// Every reader, through sniffing, resolve and merge, on a mutated file of its format.
    #[test]
    fn readers_never_panic_and_keep_coordinates_finite(
        seed in 0..SEEDS.len(),
        ops in proptest::collection::vec(mutation(), 0..6),
    ) {
        let source = fixture(SEEDS[seed]);
        let data = apply(std::fs::read(&source).expect("seed fixture"), &ops);
        let dir = tempfile::tempdir().expect("temp dir");
        let name = source.file_name().expect("a file name");
        std::fs::write(dir.path().join(name), &data).expect("write");
        let spec = RunSpec {
            label: "fuzzed".into(),
            path: dir.path().to_path_buf(),
            overrides: Vec::new(),
            columns: Vec::new(),
            planned: false,
        };
        if let Ok(run) = read_run(&spec) {
            assert_coordinates_finite(&run);
            let base = read_run(&RunSpec {
                label: "base".into(),
                path: fixture("lf_1gpu_ga8"),
                overrides: Vec::new(),
                columns: Vec::new(),
            planned: false,
            })
            .expect("the fixture reads");
            render_all(&[base, run.clone()]);
            render_all(&[run]);
        }
    }

    /// The align, diagnose and report stages on runs holding any values at any steps: NaN,
    /// infinities, ±1e308, repeated and unordered steps, hostile names.
    #[test]
    fn align_and_report_take_any_series(
        series in proptest::collection::vec(
            proptest::collection::vec((-1e308f64..1e308, prop_oneof![
                Just(f64::NAN), Just(f64::INFINITY), Just(-1e308), Just(1e308), Just(0.0),
                -10.0f64..10.0, 1e-9f64..1e-3,
            ]), 0..40),
            1..4,
        ),
        batch in prop_oneof![Just(None), (1.0f64..1e6).prop_map(Some)],
        name in "[a-z\\x1b\\x07<>&|`]{1,8}",
    ) {
        let runs: Vec<Run> = series
            .into_iter()
            .enumerate()
            .map(|(i, pts)| synthetic(&format!("{name}{i}"), pts, batch))
            .collect();
        render_all(&runs);
    }
}

/// A run from (step, loss) pairs; steps sorted as ingest leaves them.
fn synthetic(label: &str, mut pts: Vec<(f64, f64)>, batch: Option<f64>) -> Run {
    pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    pts.dedup_by(|a, b| a.0 == b.0);
    let mut config = RunConfig::default();
    if let Some(b) = batch {
        config.values.insert(
            Key::EffectiveBatch,
            Sourced::new(ConfigValue::Number(b), Provenance::Assumed("test".into())),
        );
    }
    let points: Vec<Point> = pts
        .iter()
        .enumerate()
        .map(|(i, &(step, value))| Point {
            samples: batch.map(|b| step * b).into(),
            ..Point::at_step(step, value, u32::try_from(i).unwrap_or(0) + 1)
        })
        .collect();
    let mut series = std::collections::BTreeMap::new();
    for metric in ["loss", "grad_norm"] {
        series.insert(
            metric.to_string(),
            Series {
                name: metric.into(),
                points: points.clone().into(),
                source: format!("{label}/log"),
                locator: Locator::Line,
                step_origin: "logged".into(),
                also_in: vec![],
                extended: 0,
                dropped_duplicates: 0,
            },
        );
    }
    Run {
        label: label.into(),
        path: label.into(),
        sources: vec![],
        config,
        series,
        warnings: vec![],
        planned: false,
        crashed: None,
        stopped_early: None,
    }
}
