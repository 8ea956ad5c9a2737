//! Stage 4: findings and runs → what the user sees. Renderers compute no statistics: they format
//! what `ingest`, `align` and `diagnose` produced. Outputs to files are written atomically.

pub mod json;
pub mod term;

use std::fs;
use std::io::{self, Write};
use std::path::Path;

use anyhow::{Context as _, Result};

use crate::align::Aligned;
use crate::config::{Config, Output};
use crate::model::{Finding, Run};

/// Everything a renderer may show.
pub struct Report<'a> {
    /// The runs, in command-line order.
    pub runs: &'a [Run],
    /// Curves and comparisons.
    pub aligned: &'a Aligned,
    /// Findings, most severe first.
    pub findings: &'a [Finding],
    /// Index of the reference run.
    pub baseline: usize,
}

/// Writes every requested output: warnings to stderr, the terminal summary to stdout (unless
/// JSON goes there), JSON where asked.
pub fn emit(report: &Report<'_>, config: &Config) -> Result<()> {
    let mut err = io::stderr().lock();
    for w in report
        .runs
        .iter()
        .flat_map(|r| r.warnings.iter().map(move |w| (r, w)))
    {
        writeln!(err, "losscmp: warning: [{}] {}", w.0.label, w.1)?;
    }
    for w in &report.aligned.warnings {
        writeln!(err, "losscmp: warning: {w}")?;
    }
    let json_to_stdout = config.json == Some(Output::Stdout);
    if let Some(target) = &config.json {
        let text = json::render(report);
        match target {
            Output::Stdout => io::stdout().lock().write_all(text.as_bytes())?,
            Output::File(path) => write_atomic(path, text.as_bytes())?,
        }
    }
    if !json_to_stdout {
        let text = term::render(report, config.color);
        io::stdout().lock().write_all(text.as_bytes())?;
    }
    Ok(())
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename, so a
/// reader never sees a half-written file and a failed write leaves the old one intact.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .with_context(|| format!("{}: not a file name", path.display()))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| -> io::Result<()> {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.with_context(|| format!("cannot write {}", path.display()))
}
