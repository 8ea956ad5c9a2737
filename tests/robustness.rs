//! Issue 13: never lose data, never hang, never let a log write to the user's terminal. Each
//! fault found by fuzzing and by hand has a test here that failed before its fix.

mod common;

use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use common::{copy_dir, fixture, gzip, losscmp, predicate, text_of};

/// A copy of a fixture run in a temporary directory, so a test that writes near the inputs can
/// never damage the fixtures themselves.
fn copy_run(name: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let dest = dir.path().join(name);
    copy_dir(&fixture(name), &dest);
    (dir, dest)
}

/// Fault 1: an output flag pointed at a log of a run must not replace it.
#[test]
fn outputs_never_overwrite_inputs() {
    let (_tmp, run) = copy_run("lf_1gpu_ga8");
    let run_arg = run.to_str().expect("utf-8 path");
    let targets = [
        ("--out", run.join("trainer_log.jsonl")),
        ("--json", run.join("trainer_log.jsonl")),
        ("--csv", run.join("trainer_log.jsonl")),
        ("--markdown", run.join("train.log")),
        ("--parquet", run.join("trainer_state.json")),
        ("--plot", run.join("all_results.json")),
        (
            "--out",
            run.join("checkpoint-384").join("trainer_state.json"),
        ),
        // Another spelling of the same file.
        ("--json", run.join(".").join("config.yaml")),
    ];
    for (flag, target) in targets {
        let before = fs::read(&target).expect("input exists");
        let named = match flag {
            "--plot" => Some("loss.svg"),
            "--out" => Some("report.html"),
            _ => None,
        };
        let target_arg = if let Some(name) = named {
            // --plot insists on .svg/.png, --out on .html: a symlink named so, pointing at
            // the input.
            let link = run.join(name);
            let _ = fs::remove_file(&link);
            std::os::unix::fs::symlink(&target, &link).expect("symlink");
            link
        } else {
            target.clone()
        };
        losscmp()
            .args([run_arg, flag, target_arg.to_str().expect("utf-8")])
            .assert()
            .code(2)
            .stderr(predicate::str::contains("an input of run lf_1gpu_ga8"))
            .stderr(predicate::str::contains("never writes over"));
        assert_eq!(
            fs::read(&target).expect("still there"),
            before,
            "{flag} {target:?}"
        );
    }
    // A file of the run's directory that is not read (adapter weights' config) is not a page:
    // --out refuses the name before anything is written.
    let adapter = run.join("adapter_config.json");
    let before = fs::read(&adapter).expect("adapter config");
    losscmp()
        .args([run_arg, "--out", adapter.to_str().expect("utf-8")])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("must end in .html"));
    assert_eq!(fs::read(&adapter).expect("still there"), before);
    // The dataset's folders inside the run would be read as the run's next time.
    losscmp()
        .args([
            run_arg,
            "--dataset",
            run.join("ds").to_str().expect("utf-8"),
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("inside the run directory"));
    assert!(!run.join("ds").exists());
    // A hard link is the same file too.
    let link = run.join("hard-link.json");
    fs::hard_link(run.join("trainer_state.json"), &link).expect("hard link");
    losscmp()
        .args([run_arg, "--json", link.to_str().expect("utf-8")])
        .assert()
        .code(2);
    // Two outputs to one new file.
    let out = run.join("new.txt");
    losscmp()
        .args([run_arg, "--json", out.to_str().expect("utf-8")])
        .args(["--markdown", out.to_str().expect("utf-8")])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("two outputs to one file"));
}

fn state_with(entries: &str) -> String {
    format!(
        "{{\"global_step\": 3, \"max_steps\": 3, \"log_history\": [{entries}], \"train_batch_size\": 2}}"
    )
}

/// Fault 2: losses of ±1e308 (a range whose width overflows) and a step of 1e309 (read as
/// +inf) hung the chart's tick loop.
#[test]
fn overflowing_values_do_not_hang_the_charts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let run = dir.path().join("huge");
    fs::create_dir(&run).expect("mkdir");
    fs::write(
        run.join("trainer_state.json"),
        state_with(
            "{\"step\": 1, \"loss\": 1e308}, {\"step\": 2, \"loss\": -1e308}, {\"step\": 3, \"loss\": 1.0}, {\"step\": 1e309, \"loss\": 2.0}",
        ),
    )
    .expect("write");
    let html = dir.path().join("r.html");
    let svg = dir.path().join("r.svg");
    losscmp()
        .timeout(Duration::from_secs(60))
        .args([
            run.to_str().expect("utf-8"),
            "fixtures/lf_1gpu_ga8",
            "--out",
        ])
        .arg(&html)
        .arg("--plot")
        .arg(&svg)
        .assert()
        .success()
        .stderr(predicate::str::contains("not drawn"))
        .stderr(predicate::str::contains("non-finite step"));
    assert!(
        fs::read_to_string(&html)
            .expect("written")
            .contains("not drawn")
    );
    assert!(
        fs::read_to_string(&svg)
            .expect("written")
            .starts_with("<svg")
    );
}

/// Fault 3: `Num update steps per epoch = NaN` put points at step NaN, and align panicked.
#[test]
fn a_nan_in_the_header_is_ignored_with_a_warning() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = dir.path().join("train.log");
    let mut text = String::from(
        "***** Running training *****\n  Num examples = 2,048\n  Num Epochs = 3\n  Num update steps per epoch = NaN\n  Total optimization steps = 90\n",
    );
    for i in 1..=30 {
        text.push_str(&format!(
            "{{'loss': {}, 'epoch': {}}}\n",
            2.0 / f64::from(i),
            f64::from(i) / 10.0
        ));
    }
    fs::write(&log, text).expect("write");
    losscmp()
        .args(["fixtures/lf_1gpu_ga8"])
        .arg(&log)
        .assert()
        .success()
        .stderr(predicate::str::contains("which is not a number; ignored"))
        .stderr(predicate::str::contains("panicked").not());
}

/// Faults 4 and 5: metric names and directory names with escape sequences reach neither the
/// terminal nor the SVG/HTML raw.
#[test]
fn control_characters_from_logs_are_escaped_everywhere() {
    let dir = tempfile::tempdir().expect("temp dir");
    let run = dir.path().join("run\u{1b}[2J");
    fs::create_dir(&run).expect("mkdir");
    fs::write(
        run.join("trainer_state.json"),
        state_with(
            "{\"step\": 1, \"loss\": 2.0, \"\\u001b]0;PWNED\\u0007\": 1.0, \"\\u001b[2J\": 3.0}, {\"step\": 2, \"loss\": 1.0, \"\\u001b]0;PWNED\\u0007\": 1.0}, {\"step\": 3, \"loss\": 0.5}",
        ),
    )
    .expect("write");
    let html = dir.path().join("r.html");
    let md = dir.path().join("r.md");
    let assert = losscmp()
        .arg(&run)
        .arg("fixtures/lf_1gpu_ga8")
        .arg("-v")
        .arg("--out")
        .arg(&html)
        .arg("--markdown")
        .arg(&md)
        .assert()
        .success();
    let out = assert.get_output();
    for (what, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        assert!(
            !bytes.contains(&0x1b) && !bytes.contains(&0x07),
            "{what} holds a raw control character: {}",
            String::from_utf8_lossy(bytes)
        );
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("run\\u{1b}[2J"), "{stdout}");
    assert!(stdout.contains("\\u{1b}]0;PWNED\\u{7}"), "{stdout}");
    let page = fs::read_to_string(&html).expect("written");
    assert!(
        !page
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\t' | '\r')),
        "the HTML holds a control character"
    );
    // The JSON on stdout too: JSON lets DEL and C1 controls through raw; losscmp escapes them.
    // (Found by an hour of fuzz/mutate.py: a flipped bit made a metric `l\x7fss`.)
    fs::write(
        run.join("trainer_state.json"),
        state_with(
            "{\"step\": 1, \"loss\": 2.0, \"l\\u007fss\\u009b\": 1.0}, {\"step\": 2, \"loss\": 1.0}",
        ),
    )
    .expect("write");
    let out = losscmp()
        .arg(&run)
        .args(["--json", "-"])
        .output()
        .expect("runs");
    let json = String::from_utf8(out.stdout).expect("utf-8");
    assert!(
        !json.chars().any(|c| c.is_control() && !matches!(c, '\n')),
        "{json}"
    );
    assert!(json.contains("l\\u007fss\\u009b"), "{json}");
}

/// Fault 6: a label made of HTML goes into the Markdown summary as text, not markup.
#[test]
fn markdown_is_escaped() {
    let out = losscmp()
        .args(["fixtures/lf_1gpu_ga8", "fixtures/lf_8proc_ga8"])
        .args([
            "--label",
            "<img src=x onerror=alert(1)>`x`=fixtures/lf_8proc_ga8",
        ])
        .args(["--markdown", "-"])
        .output()
        .expect("runs");
    let md = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.code().is_some_and(|c| c < 2), "{md}");
    assert!(!md.contains("<img"), "{md}");
    assert!(
        md.contains("&lt;img src=x onerror=alert(1)&gt;\\`x\\`"),
        "{md}"
    );
}

/// Fault 7: endless stdin was buffered (2 GB) before anything was decided.
#[test]
fn endless_stdin_is_sniffed_from_its_head() {
    losscmp()
        .timeout(Duration::from_secs(30))
        .arg("-")
        .stdin_file(fs::File::open("/dev/zero").expect("/dev/zero"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("a binary file"));
}

/// Fault 8: a FIFO was opened twice (to sniff, then to read) and the second open hung.
#[test]
fn a_fifo_is_read_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let fifo = dir.path().join("train.log");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    let log = fs::read(fixture("lf_8proc_ga8/train.log")).expect("fixture");
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || fs::write(fifo, log))
    };
    losscmp()
        .timeout(Duration::from_secs(60))
        .arg(&fifo)
        .args(["--json", "-"])
        .assert()
        .success()
        .stdout(predicate::str::contains("\"points\": 24"));
    writer.join().expect("writer").expect("written");
}

/// Fault 9: a log whose writer died leaving zero bytes at its end was thrown away whole.
#[test]
fn a_crashed_log_with_a_nul_tail_keeps_what_was_written() {
    let log = fs::read_to_string(fixture("lf_1gpu_ga8/train.log")).expect("fixture");
    // The first half: everything up to the 96th loss dict.
    let cut = log
        .match_indices("{'loss'")
        .nth(96)
        .map(|(i, _)| i)
        .expect("192 dicts");
    let dir = tempfile::tempdir().expect("temp dir");
    let run = dir.path().join("crashed");
    fs::create_dir(&run).expect("mkdir");
    let mut bytes = log.as_bytes()[..cut].to_vec();
    bytes.extend_from_slice(b"\0\0\0\0garbage\xff\0\0");
    fs::write(run.join("train.log"), &bytes).expect("write");
    let line = log[..cut].matches('\n').count() + 1;
    losscmp()
        .arg(&run)
        .args(["--json", "-"])
        .assert()
        .success()
        .stdout(predicate::str::contains("\"points\": 96"))
        .stderr(predicate::str::contains(format!(
            "NUL bytes from line {line} (byte {cut}) on"
        )));
}

#[test]
fn an_output_that_is_a_device_or_fifo_is_written_in_place_not_replaced() {
    use std::os::unix::fs::FileTypeExt;
    // `--json /dev/null` used to rename a temporary file over the device (as root, /dev/null
    // became a regular file). A FIFO stands in for the device here: it must stay a FIFO, and
    // its reader gets the document.
    let dir = tempfile::tempdir().expect("temp dir");
    let fifo = dir.path().join("out.json");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo");
    assert!(made.success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read_to_string(&fifo).expect("read the fifo"))
    };
    common::losscmp()
        .args(["fixtures/lf_1gpu_ga8", "--json"])
        .arg(&fifo)
        .assert()
        .success();
    // Checked before joining: a reader of a FIFO that was replaced would wait forever.
    let kind = std::fs::symlink_metadata(&fifo).expect("meta").file_type();
    assert!(kind.is_fifo(), "the FIFO was replaced by a {kind:?}");
    let text = reader.join().expect("reader");
    assert!(text.contains("\"schema_version\""), "{text}");
}

/// A bad flag or value is one line on stderr, `losscmp: error: …`, exit 2, whether clap or
/// losscmp refuses it; negative numbers reach losscmp's own checks (not clap's `-- -1` tip).
#[test]
fn bad_flags_are_one_line_errors() {
    for (args, says) in [
        (
            &["--smooth", "-0.1"][..],
            "--smooth -0.1: the weight must be in [0, 1)",
        ),
        (
            &["--tolerance", "-1"],
            "--tolerance -1: must be a non-negative fraction",
        ),
        (
            &["--x", "foo"],
            "invalid value 'foo' for '--x <X>' [possible values: samples, tokens, epoch, step, time]",
        ),
        (
            &["--fail-on", "fatal"],
            "invalid value 'fatal' for '--fail-on <SEVERITY>'",
        ),
        (&["--bogus"], "unexpected argument '--bogus' found"),
        (&["--follow", "--idle", "0"], "--idle 0: must be at least 1"),
        (
            &["--follow", "--interval", "-1"],
            "--interval -1: must be a positive number of seconds",
        ),
    ] {
        let out = losscmp()
            .arg("fixtures/lf_1gpu_ga8")
            .args(args)
            .output()
            .expect("runs");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8(out.stderr).expect("utf-8");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("losscmp: error: "), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

#[test]
fn a_compressed_log_cut_short_is_read_as_far_as_it_goes() {
    // lf_8proc_ga8's train.log compressed, the compressed file cut at three quarters of its
    // bytes (a copy interrupted, a writer killed): what decompresses is read, and the cut is
    // said.
    let log = fs::read(fixture("lf_8proc_ga8/train.log")).expect("log");
    let gz = gzip(&log);
    let dir = tempfile::tempdir().expect("temp dir");
    let cut = dir.path().join("train.log.gz");
    let cut_at = gz.len() * 3 / 4;
    fs::write(&cut, &gz[..cut_at]).expect("write");
    let said = "train.log.gz: the compressed data stops short (incomplete deflate stream): a file cut short, still being written or damaged; read what comes before";
    let out = losscmp()
        .args([cut.to_str().expect("utf-8"), "--json", "-"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8(out.stderr).expect("utf-8");
    assert!(err.contains(said), "{err}");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let points = doc["runs"][0]["metrics"]["loss"]["points"]
        .as_u64()
        .expect("points");
    assert!((1..24).contains(&points), "{points}");
    // The same bytes piped in.
    let out = losscmp()
        .args(["-", "--json", "-"])
        .write_stdin(gz[..cut_at].to_vec())
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8(out.stderr).expect("utf-8");
    assert!(
        err.contains("stdin: the compressed data stops short (incomplete deflate stream)"),
        "{err}"
    );
    // Nothing decompresses (a damaged header): no log cut short, an error.
    let bad = dir.path().join("bad.log.gz");
    fs::write(&bad, b"\x1f\x8bnot the rest of a gzip header").expect("write");
    losscmp()
        .arg(&bad)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "bad.log.gz: cannot read: invalid gzip header",
        ));
}

#[test]
fn a_crash_is_found_at_the_end_of_a_compressed_log_and_of_stdin() {
    // The 8-process run's train.log, its torchrun summary at line 278, behind 3,000 lines of
    // other output (more than the end kept), compressed and piped: its end is kept as it is
    // read, and the crash is said with its line as in the plain file.
    let log = fs::read(fixture("hf_8proc_ga8_crashed_at_exit/train.log")).expect("log");
    let filler: String = (0..3000)
        .map(|i| format!("[INFO|setup] worker {i:04} ready on its device\n"))
        .collect();
    let mut text = filler.into_bytes();
    text.extend_from_slice(&log);
    let dir = tempfile::tempdir().expect("temp dir");
    let plain = dir.path().join("plain/train.log");
    let gz = dir.path().join("gz/train.log.gz");
    fs::create_dir_all(plain.parent().expect("dir")).expect("dir");
    fs::create_dir_all(gz.parent().expect("dir")).expect("dir");
    fs::write(&plain, &text).expect("write");
    fs::write(&gz, gzip(&text)).expect("write");
    let said = "ends with a Python exception (line 3278), after training had finished (its end-of-training summary is at line 3196): torch.distributed.elastic.multiprocessing.errors.ChildFailedError (first failure: rank 1 (local_rank: 1), exit code -6 (pid: 5098) (SIGABRT))";
    for run in [&plain, &gz] {
        let (stdout, _) = text_of(&[run.to_str().expect("utf-8")]);
        assert!(stdout.contains(said), "{run:?}: {stdout}");
    }
    let out = losscmp().arg("-").write_stdin(text).output().expect("runs");
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    assert!(stdout.contains(&format!("stdin {said}")), "{stdout}");
    // A log read whole (nanoGPT's output.log, real case 25), compressed: the same.
    let oom = fixture(
        "real/25_wandb-run-dir-nanogpt-oom-after-first-eval/wandb/run-20240215_024534-7y698k9k/files/output.log",
    );
    let gz = dir.path().join("output.log.gz");
    fs::write(&gz, gzip(&fs::read(oom).expect("log"))).expect("write");
    let (stdout, _) = text_of(&[gz.to_str().expect("utf-8")]);
    assert!(
        stdout.contains(
            "output.log.gz ends with a Python exception (line 46): torch.cuda.OutOfMemoryError"
        ),
        "{stdout}"
    );
}

/// A run killed with no traceback (SIGKILL, a scheduler's time limit) halfway through: a
/// `run-cut-short` warning, which a nightly gate at `--fail-on warning` fails on and JUnit
/// reports, and no "matches the baseline"; a checkpoint's own state given as a run is info.
#[test]
fn a_run_killed_halfway_fails_the_gate() {
    let dir = tempfile::tempdir().expect("temp dir");
    let half = dir.path().join("half");
    fs::create_dir(&half).expect("mkdir");
    let base = fixture("lf_1gpu_ga8");
    fs::copy(base.join("config.yaml"), half.join("config.yaml")).expect("config");
    let jsonl = fs::read_to_string(base.join("trainer_log.jsonl")).expect("jsonl");
    let head: String = jsonl.lines().take(100).map(|l| format!("{l}\n")).collect();
    fs::write(half.join("trainer_log.jsonl"), head).expect("jsonl");
    let log = fs::read(base.join("train.log")).expect("log");
    fs::write(half.join("train.log"), &log[..30_000]).expect("log");
    let junit = dir.path().join("gate.xml");
    losscmp()
        .args([base.to_str().expect("utf-8"), half.to_str().expect("utf-8")])
        .args(["--fail-on", "warning", "--junit"])
        .arg(&junit)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("run-cut-short (half)"))
        .stdout(predicate::str::contains(
            "half's training loss stops at step 186 of 384 (48%) and its logs have no end-of-training summary",
        ))
        .stdout(predicate::str::contains("half matches the baseline").not());
    let xml = fs::read_to_string(&junit).expect("junit");
    assert!(
        xml.contains("run-cut-short") && xml.contains("<failure"),
        "{xml}"
    );
    let checkpoint = base.join("checkpoint-128");
    let (stdout, _) = text_of(&[checkpoint
        .join("trainer_state.json")
        .to_str()
        .expect("utf-8")]);
    assert!(
        stdout.contains("info    run-cut-short")
            && stdout.contains("checkpoint-128's training loss is a checkpoint's: it stops at step 128 of 384 (33%)"),
        "{stdout}"
    );
}

#[test]
fn a_crash_at_the_end_of_a_console_log_is_named_with_its_line() {
    // Real case 25: nanoGPT's output.log ends in CUDA running out of memory: a warning finding,
    // which a nightly gate at --fail-on warning fails on.
    let oom = fixture("real/25_wandb-run-dir-nanogpt-oom-after-first-eval");
    let oom = oom.to_str().expect("utf-8");
    let (stdout, _) = text_of(&[oom]);
    assert!(
        stdout.contains("warning run-crashed")
            && stdout.contains(
                "files/output.log ends with a Python exception (line 46): torch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate 20.00 MiB."
            ),
        "{stdout}"
    );
    losscmp()
        .args([oom, "--fail-on", "warning"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("run-crashed"));
    // The generated 8-process run's train.log ends in torchrun's summary of a rank killed by
    // SIGABRT after training had finished: info.
    let torchrun = fixture("hf_8proc_ga8_crashed_at_exit");
    let (stdout, _) = text_of(&[torchrun.to_str().expect("utf-8")]);
    assert!(
        stdout.contains("info    run-crashed")
            && stdout.contains(
                "train.log ends with a Python exception (line 278), after training had finished (its end-of-training summary is at line 196): torch.distributed.elastic.multiprocessing.errors.ChildFailedError (first failure: rank 1 (local_rank: 1), exit code -6 (pid: 5098) (SIGABRT))"
            ),
        "{stdout}"
    );
    // A finished run's log: nothing said.
    let clean = fixture("lf_1gpu_ga8");
    let (stdout, stderr) = text_of(&[clean.to_str().expect("utf-8")]);
    assert!(
        !stdout.contains("Python exception") && !stderr.contains("Python exception"),
        "{stdout}"
    );
    // A traceback that training went on after (a fallback caught and printed): not a crash.
    // Real case 17's log with one before its first iteration.
    let dir = tempfile::tempdir().expect("temp dir");
    let case = fixture("real/17_nanogpt-stdout-config-file-echo/train_shakespeare_char.log");
    let log = fs::read_to_string(case).expect("log");
    let first_iter = log.find("iter 0:").expect("iter 0");
    let caught = "Traceback (most recent call last):\n  File \"c.py\", line 1\nModuleNotFoundError: No module named 'triton'\n";
    fs::write(
        dir.path().join("train_shakespeare_char.log"),
        format!("{}{caught}{}", &log[..first_iter], &log[first_iter..]),
    )
    .expect("write");
    let (stdout, _) = text_of(&[dir.path().to_str().expect("utf-8")]);
    assert!(!stdout.contains("Python exception"), "{stdout}");
    // One after training that the trainer went on after to print its results and evaluate:
    // lf_1gpu_ga8's train.log with a caught exception before its `***** train metrics *****`.
    let dir = tempfile::tempdir().expect("temp dir");
    let log = fs::read_to_string(fixture("lf_1gpu_ga8/train.log")).expect("log");
    let metrics = log
        .find("***** train metrics *****")
        .expect("metrics block");
    let caught = "Traceback (most recent call last):\n  File \"t.py\", line 80\nRuntimeError: CUDA error: an illegal memory access was encountered\n";
    fs::write(
        dir.path().join("train.log"),
        format!("{}{caught}{}", &log[..metrics], &log[metrics..]),
    )
    .expect("write");
    let (stdout, stderr) = text_of(&[dir.path().to_str().expect("utf-8")]);
    assert!(
        !stdout.contains("Python exception") && !stderr.contains("Python exception"),
        "{stdout}"
    );
}

/// Fault found by the seeded fuzz pass: a key mutated to 100 MB became a metric, written whole
/// as a series and in the file's note (a 209 MB JSON, 2.4 s). A key over 256 bytes is not a
/// metric name: its values are not read, a warning says so, and the rest of the rows are read.
#[test]
fn a_key_too_long_for_a_metric_name_is_not_one() {
    let dir = tempfile::tempdir().expect("temp dir");
    let run = dir.path().join("run");
    fs::create_dir(&run).expect("mkdir");
    let over = "p".repeat(257);
    let longest = "q".repeat(256);
    let rows: String = (1..=20)
        .map(|i| {
            format!(
                "{{\"current_steps\": {i}, \"total_steps\": 20, \"loss\": {}, \"lr\": 0.001, \"epoch\": {}, \"{over}\": 0.5, \"{longest}\": 0.25}}\n",
                2.0 / f64::from(i),
                f64::from(i) / 20.0
            )
        })
        .collect();
    fs::write(run.join("trainer_log.jsonl"), rows).expect("write");
    let out = losscmp()
        .arg(&run)
        .args(["--json", "-"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8(out.stderr).expect("utf-8");
    assert!(
        stderr.contains(
            "a field keyed by 257 bytes (over 256): not a metric name, so its values were not read"
        ),
        "{stderr}"
    );
    let json = String::from_utf8(out.stdout).expect("utf-8");
    assert!(!json.contains(&over), "the long key is in the JSON");
    assert!(json.contains(&longest), "a 256-byte key is a metric name");
    assert!(json.contains("\"loss\""), "the rows' other fields are read");
}

#[test]
fn a_run_whose_only_metric_has_such_a_key_is_refused_with_the_reason() {
    // The error of a run with no metric left names what its file's reader dropped: a failed
    // run's warnings are not printed on their own.
    let dir = tempfile::tempdir().expect("temp dir");
    let run = dir.path().join("run");
    fs::create_dir(&run).expect("mkdir");
    let over = "p".repeat(300);
    let rows: String = (1..=5)
        .map(|i| format!("{{\"current_steps\": {i}, \"total_steps\": 5, \"{over}\": 0.5}}\n"))
        .collect();
    fs::write(run.join("trainer_log.jsonl"), rows).expect("write");
    let out = losscmp().arg(&run).output().expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).expect("utf-8");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(
            "no training metrics found; found: trainer_log.jsonl (llamafactory_jsonl: 5 records, 1 config value; a field keyed by 300 bytes (over 256): not a metric name, so its values were not read)"
        ),
        "{stderr}"
    );
}

#[test]
fn an_output_that_cannot_be_written_stops_all_of_them_first() {
    // A nightly job with one bad output path is not left with some files new and others stale:
    // every output is checked before any is written.
    let dir = tempfile::tempdir().expect("temp dir");
    let (csv, md, sub) = (
        dir.path().join("ok.csv"),
        dir.path().join("ok.md"),
        dir.path().join("adir"),
    );
    fs::create_dir(&sub).expect("mkdir");
    // Refused with exit 2: what it says.
    let refused = |args: &[&std::ffi::OsStr]| {
        let out = losscmp().args(args).output().expect("runs");
        assert_eq!(out.status.code(), Some(2));
        String::from_utf8(out.stderr).expect("utf-8")
    };
    let stderr = refused(&[
        "fixtures/lf_1gpu_ga8".as_ref(),
        "fixtures/lf_8proc_ga8".as_ref(),
        "--csv".as_ref(),
        csv.as_os_str(),
        "--json".as_ref(),
        sub.as_os_str(),
        "--markdown".as_ref(),
        md.as_os_str(),
    ]);
    assert!(
        stderr.contains(&format!(
            "--json {}: that is a directory; give a file path",
            sub.display()
        )),
        "{stderr}"
    );
    assert!(!csv.exists() && !md.exists(), "an output was written");
    // A directory that does not exist, named before anything is read into a file.
    let missing = dir.path().join("missing").join("x.csv");
    let stderr = refused(&[
        "fixtures/lf_1gpu_ga8".as_ref(),
        "--csv".as_ref(),
        missing.as_os_str(),
        "--markdown".as_ref(),
        md.as_os_str(),
    ]);
    assert!(
        stderr.contains("cannot write there:") && stderr.contains("is not a directory that exists"),
        "{stderr}"
    );
    assert!(!md.exists(), "an output was written");
    // Leaves no temporary file behind.
    let left: Vec<_> = fs::read_dir(dir.path())
        .expect("list")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".losscmp-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// Text saved with a byte-order mark reads as the same text without one: a UTF-8 BOM (Notepad,
/// PowerShell 7's `Out-File -Encoding utf8BOM`) is dropped, UTF-16 (Windows PowerShell's `>`) is
/// transcoded, plain or gzipped, in a run directory, alone, or on stdin.
#[test]
fn byte_order_marks_read_as_the_text_without_them() {
    let (tmp, run) = copy_run("lf_1gpu_ga8");
    let run_arg = run.to_str().expect("utf-8 path").to_string();
    let plain = |name: &str| fs::read(run.join(name)).expect("read");
    let json = |args: &[&str], stdin: Option<Vec<u8>>| {
        let mut cmd = losscmp();
        cmd.args(args).args(["--json", "-"]);
        if let Some(bytes) = stdin {
            cmd.write_stdin(bytes);
        }
        let out = cmd.output().expect("runs");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        // Every value, not where it was read from (the files have other names).
        let metrics = doc["runs"][0]["metrics"].as_object_mut().expect("metrics");
        for m in metrics.values_mut() {
            m.as_object_mut().expect("metric").remove("source");
        }
        doc["runs"][0]["metrics"].to_string()
    };
    let bom = |bytes: Vec<u8>| [vec![0xef, 0xbb, 0xbf], bytes].concat();
    let utf16 = |bytes: &[u8]| {
        let text = String::from_utf8(bytes.to_vec()).expect("utf-8");
        let mut out = vec![0xff, 0xfe];
        out.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
        out
    };
    // Each file alone, with and without its mark, gives the same metrics.
    for name in ["trainer_state.json", "trainer_log.jsonl", "train.log"] {
        let want = json(&[run.join(name).to_str().expect("path")], None);
        for (tag, bytes) in [("utf8", bom(plain(name))), ("utf16", utf16(&plain(name)))] {
            let p = tmp.path().join(format!("{tag}-{name}"));
            fs::write(&p, &bytes).expect("write");
            assert_eq!(
                json(&[p.to_str().expect("path")], None),
                want,
                "{tag} {name}"
            );
            let gz = tmp.path().join(format!("{tag}-{name}.gz"));
            fs::write(&gz, gzip(&bytes)).expect("write");
            assert_eq!(
                json(&[gz.to_str().expect("path")], None),
                want,
                "{tag} {name}.gz"
            );
            assert_eq!(json(&["-"], Some(bytes)), want, "{tag} {name} on stdin");
        }
    }
    // The whole run with its files marked reads as the run.
    let want = json(&[&run_arg], None);
    for name in ["trainer_state.json", "trainer_log.jsonl"] {
        fs::write(run.join(name), bom(plain(name))).expect("write");
    }
    fs::write(run.join("train.log"), utf16(&plain("train.log"))).expect("write");
    assert_eq!(json(&[&run_arg], None), want);
}

/// `--set` values a user would give are taken, and mistakes are refused with exit 2 and what
/// is wrong: no warmup is a warmup of 0; a ratio of 1.5, an empty scheduler, an unknown
/// trainer, one key set twice and an empty label are refused; a label holding ':' is
/// targeted; a label with a space is suggested quoted.
#[test]
fn set_values_and_labels_are_checked() {
    let pair = ["fixtures/lf_1gpu_ga8", "fixtures/lf_8proc_ga8"];
    losscmp()
        .args(pair)
        .args(["--set", "lf_8proc_ga8:warmup_steps=0"])
        .assert()
        .success();
    for (args, says) in [
        (
            vec!["--set", "lf_8proc_ga8:warmup_ratio=1.5"],
            "warmup_ratio is the share of the steps",
        ),
        (
            vec!["--set", "lf_8proc_ga8:scheduler="],
            "scheduler needs a value",
        ),
        (
            vec!["--set", "lf_8proc_ga8:trainer=bogus"],
            "unknown trainer \"bogus\"; known trainers: hf,",
        ),
        (
            vec![
                "--set",
                "lf_8proc_ga8:world_size=8",
                "--set",
                "lf_8proc_ga8:world_size=4",
            ],
            "world_size of lf_8proc_ga8 is already set by --set \"lf_8proc_ga8:world_size=8\"",
        ),
    ] {
        losscmp()
            .args(pair)
            .args(&args)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(says));
    }
    // A planned total the logs ran past is said.
    losscmp()
        .args(["fixtures/lf_8proc_ga8", "--set", "lf_8proc_ga8:total_steps=10"])
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "total_steps 10 (override: --set total_steps=10) is less than the step the training loss is logged to, 48",
        ));
    losscmp()
        .args(["--label", "=fixtures/lf_1gpu_ga8", "fixtures/lf_8proc_ga8"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("the name is empty"));
    losscmp()
        .args([
            "--label",
            "a:b=fixtures/lf_1gpu_ga8",
            "fixtures/lf_8proc_ga8",
        ])
        .args(["--set", "a:b:learning_rate=0.002", "-v"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "override: --set learning_rate=0.002",
        ));
    let dir = tempfile::tempdir().expect("temp dir");
    let run = dir.path().join("my run");
    fs::create_dir(&run).expect("mkdir");
    fs::copy(
        fixture("lf_8proc_ga8/trainer_log.jsonl"),
        run.join("trainer_log.jsonl"),
    )
    .expect("copy");
    losscmp()
        .arg(&run)
        .arg("fixtures/lf_1gpu_ga8")
        .assert()
        .success()
        .stderr(predicate::str::contains("--set 'my run':effective_batch=N"));
}

/// A run is named as the user named its file: a gzipped log as it would be uncompressed
/// (`b8train.log.gz`: b8train), a symlink by its own name, not its target's.
#[test]
fn a_compressed_or_linked_log_is_named_as_given() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = fs::read(fixture("lf_8proc_ga8/train.log")).expect("read");
    fs::write(dir.path().join("b8train.log.gz"), gzip(&log)).expect("write");
    fs::write(dir.path().join("target.log"), &log).expect("write");
    #[cfg(unix)]
    std::os::unix::fs::symlink(dir.path().join("target.log"), dir.path().join("link.log"))
        .expect("symlink");
    for (file, label) in [("b8train.log.gz", "b8train"), ("link.log", "link")] {
        if cfg!(not(unix)) && file == "link.log" {
            continue;
        }
        let doc = common::json_of(&[dir.path().join(file).to_str().expect("utf-8")]);
        assert_eq!(doc["runs"][0]["label"], label, "{file}");
    }
}
