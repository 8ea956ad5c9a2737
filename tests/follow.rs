//! Issue 17, `--follow`: runs watched while they train. The live run is the real 8-process
//! LLaMA-Factory run (fixtures/gen/lf2_8proc_ga8) replayed into a fresh directory at ten times
//! its real pace, line by line as the trainer wrote it (its config first, then train.log and
//! trainer_log.jsonl row by row at their logged times, the results at the end).

mod common;

use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::predicate::str::contains;
use common::{fixture, losscmp};

const BASE: &str = "fixtures/gen/lf2_1gpu_ga8";

/// Seconds of `"elapsed_time": "0:00:45"`.
fn elapsed(row: &str) -> f64 {
    let v: serde_json::Value = serde_json::from_str(row).expect("a JSON row");
    let t = v["elapsed_time"].as_str().expect("elapsed_time");
    t.split(':')
        .map(|p| p.parse::<f64>().expect("a number"))
        .fold(0.0, |acc, x| acc * 60.0 + x)
}

/// The folder `live` in `dir`, which a test writes into as a trainer would.
fn live_dir(dir: &Path) -> PathBuf {
    let live = dir.join("live");
    fs::create_dir(&live).expect("mkdir");
    live
}

fn append(path: &Path, text: &str) {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("open for append");
    f.write_all(text.as_bytes()).expect("append");
}

/// Replays `src` into `dst` at `speedup` times its real pace; `rows` counts the JSONL rows
/// written. With `finish`, writes the results files at the end, as the trainer does.
fn replay(
    src: PathBuf,
    dst: PathBuf,
    speedup: f64,
    finish: bool,
    rows: Arc<AtomicUsize>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        fs::copy(src.join("config.yaml"), dst.join("config.yaml")).expect("config");
        let log = fs::read_to_string(src.join("train.log")).expect("train.log");
        let log: Vec<&str> = log.split_inclusive('\n').collect();
        let dicts: Vec<usize> = log
            .iter()
            .enumerate()
            .filter(|(_, l)| l.contains("{'"))
            .map(|(i, _)| i)
            .collect();
        let jsonl = fs::read_to_string(src.join("trainer_log.jsonl")).expect("jsonl");
        let jsonl: Vec<&str> = jsonl.lines().collect();
        let start = Instant::now();
        let mut written = dicts[0];
        append(&dst.join("train.log"), &log[..written].concat());
        for (i, row) in jsonl.iter().enumerate() {
            let at = Duration::from_secs_f64(elapsed(row) / speedup);
            if let Some(wait) = at.checked_sub(start.elapsed()) {
                std::thread::sleep(wait);
            }
            // The stdout dicts in proportion to the JSONL rows.
            let upto = (dicts.len() * (i + 1)).div_ceil(jsonl.len());
            let end = if upto >= dicts.len() {
                log.len()
            } else {
                dicts[upto]
            };
            if i + 1 < jsonl.len() || finish {
                append(
                    &dst.join("train.log"),
                    &log[written..end.max(written)].concat(),
                );
                written = end.max(written);
            }
            append(&dst.join("trainer_log.jsonl"), &format!("{row}\n"));
            rows.fetch_add(1, Ordering::SeqCst);
        }
        if finish {
            // The trainer saves its state and results a moment after its summary line.
            std::thread::sleep(Duration::from_millis(100));
            for f in [
                "trainer_state.json",
                "train_results.json",
                "all_results.json",
            ] {
                fs::copy(src.join(f), dst.join(f)).expect("results");
            }
        }
    })
}

#[test]
fn the_8_process_run_is_stopped_with_exit_1_before_its_replay_ends() {
    let dir = tempfile::tempdir().expect("temp dir");
    let live = live_dir(dir.path());
    let rows = Arc::new(AtomicUsize::new(0));
    let total = fs::read_to_string(fixture("gen/lf2_8proc_ga8/trainer_log.jsonl"))
        .expect("jsonl")
        .lines()
        .count();
    let writer = replay(
        fixture("gen/lf2_8proc_ga8"),
        live.clone(),
        10.0,
        true,
        Arc::clone(&rows),
    );
    let json = dir.path().join("live.json");
    let out = losscmp()
        .args([BASE, "--label"])
        .arg(format!("live={}", live.display()))
        .args([
            "--follow",
            "--interval",
            "0.2",
            "--fail-on",
            "error",
            "--json",
        ])
        .arg(&json)
        .timeout(Duration::from_secs(60))
        .assert()
        .code(1)
        // Called from the configuration first (a warning), said again when the curves confirm
        // it (an error), which stops the run.
        .stderr(contains(
            "verdict: live: short of optimizer updates — gradient_accumulation_steps 8 → 1 (error)",
        ))
        .stderr(contains("--fail-on error: "))
        .stderr(contains("oversized-effective-batch (lf2_1gpu_ga8 vs live)"))
        .stdout(contains("gradient_accumulation_steps 8 → 1"));
    let at_exit = rows.load(Ordering::SeqCst);
    writer.join().expect("writer");
    assert!(
        at_exit < total,
        "stopped after {at_exit} of {total} rows: {}",
        String::from_utf8_lossy(&out.get_output().stderr)
    );
    // The JSON written at the stop holds the verdict and what was read by then.
    let doc: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&json).expect("json written")).expect("json");
    assert_eq!(
        doc["verdict"]["causes"][0]["id"],
        "oversized-effective-batch"
    );
    let samples = doc["runs"][1]["metrics"]["loss"]["final_samples"]
        .as_f64()
        .expect("samples");
    assert!(
        samples < 6144.0,
        "caught before the end: {samples} of 6,144 samples"
    );
}

#[test]
fn finished_runs_stop_after_the_idle_intervals_with_the_full_summary() {
    losscmp()
        .args([BASE, "fixtures/gen/lf2_8proc_ga8", "--follow"])
        .args(["--interval", "0.05", "--idle", "3"])
        .timeout(Duration::from_secs(30))
        .assert()
        .success()
        .stderr(contains("no run grew for 3 intervals; stopping"))
        .stdout(contains("lf2_8proc_ga8: short of optimizer updates"));
}

#[test]
fn a_run_that_ends_stops_the_watch_when_its_summary_is_written() {
    let dir = tempfile::tempdir().expect("temp dir");
    let live = live_dir(dir.path());
    let rows = Arc::new(AtomicUsize::new(0));
    let writer = replay(
        fixture("gen/lf2_8proc_ga8"),
        live.clone(),
        20.0,
        true,
        Arc::clone(&rows),
    );
    let out = dir.path().join("report.html");
    let json = dir.path().join("report.json");
    losscmp()
        .args([BASE, "--label"])
        .arg(format!("live={}", live.display()))
        .args(["--follow", "--interval", "0.2", "--idle", "200", "--out"])
        .arg(&out)
        .arg("--json")
        .arg(&json)
        .timeout(Duration::from_secs(60))
        .assert()
        .success()
        .stderr(contains("training ended"))
        .stderr(contains("live at step 48 of 48 (100%)"));
    writer.join().expect("writer");
    let html = fs::read_to_string(&out).expect("report written");
    assert!(html.contains("live"), "the page names the live run");
    // The results written after the summary line were read: the throughput at full precision
    // (all_results.json's 136.45), not the summary line's 4 digits (136.4).
    let doc: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&json).expect("json written")).expect("json");
    let live_run = doc["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .find(|r| r["label"] == "live")
        .expect("the live run");
    assert_eq!(
        live_run["config"]["train_samples_per_second"]["value"],
        136.45
    );
}

/// A run still training is short of its plan: `--fail-on warning` does not stop the watch for
/// `run-cut-short` while it grows (the baseline replayed against itself, which ends clean).
#[test]
fn a_growing_run_is_not_cut_short() {
    let dir = tempfile::tempdir().expect("temp dir");
    let live = live_dir(dir.path());
    let rows = Arc::new(AtomicUsize::new(0));
    let writer = replay(
        fixture("gen/lf2_1gpu_ga8"),
        live.clone(),
        20.0,
        true,
        Arc::clone(&rows),
    );
    losscmp()
        .args([BASE, "--label"])
        .arg(format!("live={}", live.display()))
        .args(["--follow", "--interval", "0.2", "--idle", "200"])
        .args(["--fail-on", "warning"])
        .timeout(Duration::from_secs(60))
        .assert()
        .success()
        .stderr(contains("training ended"))
        .stderr(contains("run-cut-short").not())
        // Nor is its being short of its plan while it trains a warning to read.
        .stderr(contains("the warning below needs reading").not());
    writer.join().expect("writer");
}

/// A run that matches the baseline as it grows is said to once: the "verdict:" line is not
/// repeated each interval as the match's window moves on (the fixed 8-process run's jsonl
/// written row by row).
#[test]
fn a_match_is_said_once_while_its_window_moves() {
    let dir = tempfile::tempdir().expect("temp dir");
    let live = live_dir(dir.path());
    let src = fixture("lf_8proc_ga1");
    fs::copy(src.join("config.yaml"), live.join("config.yaml")).expect("config");
    let rows: Vec<String> = fs::read_to_string(src.join("trainer_log.jsonl"))
        .expect("jsonl")
        .lines()
        .map(str::to_string)
        .collect();
    let jsonl = live.join("trainer_log.jsonl");
    let writer = std::thread::spawn(move || {
        for row in rows {
            append(&jsonl, &format!("{row}\n"));
            std::thread::sleep(Duration::from_millis(25));
        }
    });
    let out = losscmp()
        .args(["fixtures/lf_1gpu_ga8", "--label"])
        .arg(format!("live={}", live.display()))
        .args(["--follow", "--interval", "0.2", "--idle", "5"])
        .timeout(Duration::from_secs(60))
        .assert()
        .success();
    writer.join().expect("writer");
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    let said = stderr
        .lines()
        .filter(|l| l.contains("verdict: live matches the baseline"))
        .count();
    assert_eq!(said, 1, "{stderr}");
}

#[test]
fn a_run_that_crashes_is_said_to_and_stops_the_watch() {
    // The 8-process run's stdout log, written a few dicts at a time up to three quarters of
    // its training; then, as a run dies, a traceback.
    let dir = tempfile::tempdir().expect("temp dir");
    let live = live_dir(dir.path());
    let src = fs::read_to_string(fixture("gen/lf2_8proc_ga8/train.log")).expect("train.log");
    let lines: Vec<String> = src.split_inclusive('\n').map(str::to_string).collect();
    let dicts: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].contains("{'loss'"))
        .collect();
    let log = live.join("train.log");
    append(&log, &lines[..dicts[2]].concat());
    let writer = std::thread::spawn(move || {
        let stop = dicts[dicts.len() * 3 / 4];
        for w in dicts[2..].windows(2).take_while(|w| w[1] <= stop) {
            std::thread::sleep(Duration::from_millis(150));
            append(&log, &lines[w[0]..w[1]].concat());
        }
        std::thread::sleep(Duration::from_millis(300));
        append(
            &log,
            "[rank3]: Traceback (most recent call last):\n[rank3]:   File \"train.py\", line 9, in <module>\n[rank3]: torch.OutOfMemoryError: CUDA out of memory.\n",
        );
    });
    losscmp()
        .args([BASE, "--label"])
        .arg(format!("live={}", live.display()))
        .args([
            "--follow",
            "--interval",
            "0.1",
            "--idle",
            "200",
            "--json",
            "-",
        ])
        .timeout(Duration::from_secs(60))
        .assert()
        .success()
        .stderr(contains("live crashed: "))
        .stderr(contains("train.log ends with a Python exception (line "))
        .stderr(contains("torch.OutOfMemoryError: CUDA out of memory."))
        .stderr(contains("training ended (crashed"))
        .stdout(contains("\"id\": \"run-crashed\""));
    writer.join().expect("writer");
}

#[test]
fn a_run_that_does_not_exist_yet_is_waited_for() {
    let dir = tempfile::tempdir().expect("temp dir");
    let live = dir.path().join("later");
    let rows = Arc::new(AtomicUsize::new(0));
    let spawn = {
        let live = live.clone();
        let rows = Arc::clone(&rows);
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(500));
            fs::create_dir(&live).expect("mkdir");
            replay(fixture("gen/lf2_8proc_ga8"), live, 40.0, true, rows)
                .join()
                .expect("writer");
        })
    };
    losscmp()
        .args([BASE, "--label"])
        .arg(format!("later={}", live.display()))
        .args(["--follow", "--interval", "0.1", "--idle", "100"])
        .timeout(Duration::from_secs(60))
        .assert()
        .success()
        .stderr(contains("waiting for later: "))
        .stderr(contains("does not exist yet"))
        .stderr(contains("training ended"));
    spawn.join().expect("spawner");
}

#[test]
fn follow_refuses_standard_input() {
    losscmp()
        .args(["-", "--follow"])
        .assert()
        .code(2)
        .stderr(contains("standard input (-) cannot be followed"));
}

/// A live run of a jsonl and a stdout log (the 8-process run's first rows and dicts).
fn partial_run(dir: &Path) -> PathBuf {
    let live = live_dir(dir);
    let src = fixture("gen/lf2_8proc_ga8");
    let jsonl = fs::read_to_string(src.join("trainer_log.jsonl")).expect("jsonl");
    let rows: Vec<&str> = jsonl.lines().take(10).collect();
    append(&live.join("trainer_log.jsonl"), &(rows.join("\n") + "\n"));
    let log = fs::read_to_string(src.join("train.log")).expect("train.log");
    let lines: Vec<&str> = log.split_inclusive('\n').collect();
    let dict = lines
        .iter()
        .position(|l| l.contains("{'loss'"))
        .expect("a dict");
    append(&live.join("train.log"), &lines[..=dict].concat());
    live
}

/// Empties `file` half a second from now, as a restarted `python train.py > train.log` does.
fn empty_later(file: PathBuf) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(500));
        fs::File::create(&file).expect("truncate");
    })
}

#[test]
fn a_log_emptied_while_followed_is_gone_from_the_outputs() {
    // Its header gave the world size and the batch: after it is emptied the watch ends with
    // what one read of the files gives, not with what the log held before.
    let dir = tempfile::tempdir().expect("temp dir");
    let live = partial_run(dir.path());
    let label = format!("live={}", live.display());
    let writer = empty_later(live.join("train.log"));
    let followed = losscmp()
        .args([BASE, "--label", &label])
        .args([
            "--follow",
            "--interval",
            "0.1",
            "--idle",
            "10",
            "--json",
            "-",
        ])
        .timeout(Duration::from_secs(60))
        .output()
        .expect("runs");
    writer.join().expect("writer");
    assert!(followed.status.success());
    let once = losscmp()
        .args([BASE, "--label", &label, "--json", "-"])
        .output()
        .expect("runs");
    // What the files say, not how an empty file is described (being written, to the watch).
    let judged = |out: Vec<u8>| {
        let mut v: serde_json::Value = serde_json::from_slice(&out).expect("JSON");
        v["warnings"] = serde_json::Value::Null;
        for run in v["runs"].as_array_mut().expect("runs") {
            run["sources"] = serde_json::Value::Null;
        }
        v
    };
    let (followed, once) = (judged(followed.stdout), judged(once.stdout));
    // Without the header no batch is known for the live run: compared by epoch.
    assert_eq!(once["axis"], "epoch");
    assert_eq!(followed, once);
}

#[test]
fn a_run_whose_only_log_is_emptied_fails_as_one_read_does() {
    let dir = tempfile::tempdir().expect("temp dir");
    let live = partial_run(dir.path());
    fs::remove_file(live.join("train.log")).expect("rm");
    let writer = empty_later(live.join("trainer_log.jsonl"));
    losscmp()
        .args([BASE, "--label"])
        .arg(format!("live={}", live.display()))
        .args(["--follow", "--interval", "0.1", "--idle", "10"])
        .timeout(Duration::from_secs(60))
        .assert()
        .code(2)
        .stderr(contains(
            "after 10 intervals without growth, nothing to compare for live: ",
        ));
    writer.join().expect("writer");
}

/// A run that ends with a finding `--fail-on` stops at reads on as any ending run does, until
/// an interval adds nothing: the outputs hold the results file's full-precision throughput,
/// not the summary line's rounded copy (168.886 samples/s, not 168.9). The rest of the log
/// and the results files are written once the watch has said the run reached its last step.
#[test]
fn a_run_that_trips_as_it_ends_is_read_to_its_results() {
    use std::io::{BufRead as _, BufReader};
    let dir = tempfile::tempdir().expect("temp dir");
    let live = live_dir(dir.path());
    let src = fixture("lf_8proc_ga1");
    fs::copy(src.join("config.yaml"), live.join("config.yaml")).expect("config");
    let log = fs::read_to_string(src.join("train.log")).expect("train.log");
    let lines: Vec<&str> = log.split_inclusive('\n').collect();
    let summary = lines
        .iter()
        .position(|l| l.contains("{'train_runtime'"))
        .expect("the summary dict");
    let first = lines
        .iter()
        .position(|l| l.contains("{'loss'"))
        .expect("a dict");
    append(&live.join("train.log"), &lines[..=first].concat());
    let jsonl = fs::read_to_string(src.join("trainer_log.jsonl")).expect("jsonl");
    let (head, rest) = jsonl.split_at(jsonl.find('\n').expect("a row") + 1);
    append(&live.join("trainer_log.jsonl"), head);
    let mut watch = std::process::Command::new(env!("CARGO_BIN_EXE_losscmp"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .args(["fixtures/lf_1gpu_ga8", "--label"])
        .arg(format!("live={}", live.display()))
        .args(["--follow", "--interval", "0.2", "--idle", "100"])
        .args(["--fail-on", "warning", "--json", "-"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawns");
    // The JSON is read as it comes (a full pipe would stop the watch writing it).
    let mut stdout = watch.stdout.take().expect("stdout");
    let json = std::thread::spawn(move || {
        let mut all = Vec::new();
        std::io::Read::read_to_end(&mut stdout, &mut all).expect("stdout");
        all
    });
    let stderr = BufReader::new(watch.stderr.take().expect("stderr"));
    let mut said = String::new();
    let (mut grown, mut ended) = (false, false);
    for line in stderr.lines() {
        let line = line.expect("a line");
        said.push_str(&line);
        said.push('\n');
        if !grown {
            // The watch has read the run's start: it grows to its summary line.
            grown = true;
            append(&live.join("trainer_log.jsonl"), rest);
            append(
                &live.join("train.log"),
                &lines[first + 1..=summary].concat(),
            );
        }
        if !ended && line.contains("live at step 384 of 384") {
            ended = true;
            // Seen: the trainer writes the rest of its log and its results now.
            append(&live.join("train.log"), &lines[summary + 1..].concat());
            for f in [
                "trainer_state.json",
                "train_results.json",
                "all_results.json",
            ] {
                fs::copy(src.join(f), live.join(f)).expect("results");
            }
        }
    }
    let status = watch.wait().expect("ends");
    assert_eq!(status.code(), Some(1), "{said}");
    assert!(said.contains("training ended"), "{said}");
    let doc: serde_json::Value =
        serde_json::from_slice(&json.join().expect("reader")).expect("JSON");
    let run = doc["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .find(|r| r["label"] == "live")
        .expect("the live run");
    assert_eq!(
        run["config"]["train_samples_per_second"]["value"], 168.886,
        "{said}"
    );
}
