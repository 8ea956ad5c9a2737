//! Helpers for the end-to-end tests: run the built binary on fixtures.

#![allow(dead_code)] // each test file uses a different subset

use std::path::PathBuf;

use assert_cmd::Command;

/// The binary under test, run from the repository root so fixture paths read as in the docs.
pub fn losscmp() -> Command {
    let mut cmd = Command::cargo_bin("losscmp").expect("the binary is built by cargo test");
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1");
    cmd
}

/// A path under fixtures/.
pub fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(rel)
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

/// The finding ids in a JSON report.
pub fn finding_ids(doc: &serde_json::Value) -> Vec<String> {
    doc["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| f["id"].as_str().expect("id").to_string())
        .collect()
}
