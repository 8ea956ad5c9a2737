//! Helpers for the end-to-end tests: run the built binary on fixtures and check what a user
//! sees. A few lines of std instead of assert_cmd + predicates, whose dependencies would turn on
//! features of the normal build's crates and make `cargo test` rebuild the polars stack.

#![allow(dead_code)] // each test file uses a different subset

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A command line for the binary under test.
pub struct Cmd {
    cmd: Command,
    stdin: Option<Vec<u8>>,
    stdin_file: Option<std::fs::File>,
    timeout: std::time::Duration,
}

/// The binary under test, run from the repository root so fixture paths read as in the docs.
pub fn losscmp() -> Cmd {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_losscmp"));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .env_remove("GITHUB_ACTIONS");
    Cmd {
        cmd,
        stdin: None,
        stdin_file: None,
        timeout: std::time::Duration::from_secs(120),
    }
}

impl Cmd {
    /// Adds arguments.
    pub fn args<I, S>(&mut self, args: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.cmd.args(args);
        self
    }

    /// Adds one argument.
    pub fn arg(&mut self, arg: impl AsRef<std::ffi::OsStr>) -> &mut Self {
        self.cmd.arg(arg);
        self
    }

    /// Sets an environment variable.
    pub fn env(&mut self, key: &str, value: impl AsRef<std::ffi::OsStr>) -> &mut Self {
        self.cmd.env(key, value);
        self
    }

    /// Runs in `dir`.
    pub fn current_dir(&mut self, dir: impl AsRef<std::path::Path>) -> &mut Self {
        self.cmd.current_dir(dir);
        self
    }

    /// Feeds `bytes` on standard input.
    pub fn write_stdin(&mut self, bytes: impl Into<Vec<u8>>) -> &mut Self {
        self.stdin = Some(bytes.into());
        self
    }

    /// Standard input from a file (`/dev/zero`, say).
    pub fn stdin_file(&mut self, file: std::fs::File) -> &mut Self {
        self.stdin_file = Some(file);
        self
    }

    /// Kills the run after `limit` (default two minutes) and fails the test: a hang is a bug.
    pub fn timeout(&mut self, limit: std::time::Duration) -> &mut Self {
        self.timeout = limit;
        self
    }

    /// Runs to completion (or to the timeout, which panics).
    pub fn output(&mut self) -> std::io::Result<Output> {
        let stdin = match (self.stdin_file.take(), &self.stdin) {
            (Some(f), _) => Stdio::from(f),
            (None, Some(_)) => Stdio::piped(),
            (None, None) => Stdio::null(),
        };
        self.cmd
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = self.cmd.spawn()?;
        if let Some(bytes) = self.stdin.take() {
            let mut pipe = child.stdin.take().expect("stdin was piped");
            // A writer thread: the child may exit (or fill its stdout) before reading it all.
            std::thread::spawn(move || {
                let _ = pipe.write_all(&bytes);
            });
        }
        // Pipes drained on threads, so a chatty child never blocks on a full pipe.
        let drain = |r: Option<Box<dyn std::io::Read + Send>>| {
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                if let Some(mut r) = r {
                    let _ = r.read_to_end(&mut buf);
                }
                buf
            })
        };
        let out = drain(child.stdout.take().map(|p| Box::new(p) as _));
        let err = drain(child.stderr.take().map(|p| Box::new(p) as _));
        let start = std::time::Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            if start.elapsed() > self.timeout {
                let _ = child.kill();
                let _ = child.wait();
                panic!("losscmp did not finish within {:?}: a hang", self.timeout);
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        };
        Ok(Output {
            status,
            stdout: out.join().expect("stdout reader"),
            stderr: err.join().expect("stderr reader"),
        })
    }

    /// Runs to completion and returns the outcome to check.
    pub fn assert(&mut self) -> Assert {
        let out = self.output().expect("the binary runs");
        Assert { out }
    }
}

/// What a run printed and how it exited.
pub struct Assert {
    out: Output,
}

impl Assert {
    fn context(&self) -> String {
        format!(
            "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.out.status.code(),
            String::from_utf8_lossy(&self.out.stdout),
            String::from_utf8_lossy(&self.out.stderr)
        )
    }

    /// Exits with `code`.
    pub fn code(self, code: i32) -> Self {
        assert_eq!(self.out.status.code(), Some(code), "{}", self.context());
        self
    }

    /// Exits with 0.
    pub fn success(self) -> Self {
        self.code(0)
    }

    /// Exits with a non-zero code.
    pub fn failure(self) -> Self {
        assert!(
            self.out.status.code().is_some_and(|c| c != 0),
            "{}",
            self.context()
        );
        self
    }

    /// Its stdout satisfies `p`.
    pub fn stdout(self, p: predicate::Pred) -> Self {
        let text = String::from_utf8_lossy(&self.out.stdout).into_owned();
        assert!(p.eval(&text), "stdout: {p:?}\n{}", self.context());
        self
    }

    /// Its stderr satisfies `p`.
    pub fn stderr(self, p: predicate::Pred) -> Self {
        let text = String::from_utf8_lossy(&self.out.stderr).into_owned();
        assert!(p.eval(&text), "stderr: {p:?}\n{}", self.context());
        self
    }

    /// The raw output.
    pub fn get_output(&self) -> &Output {
        &self.out
    }
}

/// Text predicates, named like the `predicates` crate's.
pub mod predicate {
    /// A test on a text.
    #[derive(Debug, Clone)]
    pub enum Pred {
        Contains(String),
        StartsWith(String),
        Not(Box<Pred>),
    }

    impl Pred {
        /// Whether `text` satisfies it.
        pub fn eval(&self, text: &str) -> bool {
            match self {
                Pred::Contains(s) => text.contains(s.as_str()),
                Pred::StartsWith(s) => text.starts_with(s.as_str()),
                Pred::Not(p) => !p.eval(text),
            }
        }

        /// The opposite.
        pub fn not(self) -> Pred {
            Pred::Not(Box::new(self))
        }
    }

    /// Predicates on strings.
    pub mod str {
        use super::Pred;

        /// The text contains `s`.
        pub fn contains(s: impl Into<String>) -> Pred {
            Pred::Contains(s.into())
        }

        /// The text starts with `s`.
        pub fn starts_with(s: impl Into<String>) -> Pred {
            Pred::StartsWith(s.into())
        }
    }
}

/// A path under fixtures/.
pub fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(rel)
}

/// `bytes` gzip-compressed, as a `.gz` log holds them.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut enc, bytes).expect("compress");
    enc.finish().expect("compress")
}

/// Runs losscmp with `--json -` and parses its output.
pub fn json_of(args: &[&str]) -> serde_json::Value {
    let out = losscmp()
        .args(args)
        .args(["--json", "-"])
        .output()
        .expect("runs");
    assert!(
        out.status.code().is_some_and(|c| c < 2),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("valid JSON on stdout")
}

/// Runs losscmp (exit 0 or 1) and returns what it printed: (stdout, stderr).
pub fn text_of<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> (String, String) {
    let out = losscmp().args(args).output().expect("runs");
    assert!(
        out.status.code().is_some_and(|c| c < 2),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = |b: Vec<u8>| String::from_utf8(b).expect("utf-8");
    (text(out.stdout), text(out.stderr))
}

/// What losscmp prints for `a b` and for `b a`: the pair in both orders.
pub fn both_orders(a: &Path, b: &Path) -> [String; 2] {
    [[a, b], [b, a]].map(|args| text_of(&args).0)
}

/// The ten run directories of the batch-size sweep (fixtures/sweep), in name order.
pub fn sweep_runs() -> Vec<String> {
    let mut runs: Vec<String> = std::fs::read_dir(fixture("sweep"))
        .expect("sweep")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .map(|p| {
            format!(
                "fixtures/sweep/{}",
                p.file_name().expect("name").to_string_lossy()
            )
        })
        .collect();
    runs.sort();
    runs
}

/// The finding ids in a JSON report.
pub fn finding_ids(doc: &serde_json::Value) -> Vec<String> {
    doc["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| f["id"].as_str().expect("id").to_string())
        .collect()
}

/// The first finding with `id` in a JSON report (the test fails when there is none).
pub fn finding<'a>(doc: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    doc["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["id"] == id)
        .unwrap_or_else(|| panic!("no {id} finding"))
}

/// Copies the folder `from` into `to`, recursively (a fixture to change, or to lay out as a
/// trainer would).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}
