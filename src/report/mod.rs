//! Stage 4: findings and runs → what the user sees. Renderers compute no statistics: they format
//! what `ingest`, `align` and `diagnose` produced. Outputs to files are written atomically.

pub mod charts;
pub mod downsample;
pub mod export;
pub mod html;
pub mod json;
pub mod markdown;
pub mod scale;
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

impl Report<'_> {
    /// Every warning of reading and aligning, run warnings prefixed with `[label]`: what stderr,
    /// the JSON and the HTML page all show.
    pub fn warnings(&self) -> Vec<String> {
        self.runs
            .iter()
            .flat_map(|r| r.warnings.iter().map(move |w| format!("[{}] {w}", r.label)))
            .chain(self.aligned.warnings.iter().cloned())
            .collect()
    }
}

/// Writes every requested output: warnings to stderr; files (HTML, plot, JSON, CSV, Parquet,
/// Markdown); then the terminal summary to stdout unless JSON or Markdown was sent there.
pub fn emit(report: &Report<'_>, config: &Config) -> Result<()> {
    let mut err = io::stderr().lock();
    for w in report.warnings() {
        writeln!(err, "losscmp: warning: {w}")?;
    }
    if let Some(path) = &config.out {
        write_atomic(path, html::render(report)?.as_bytes())?;
    }
    if let Some(path) = &config.plot {
        let chart = html::main_chart(report);
        let is_png = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("png"));
        if is_png {
            write_atomic_with(path, |f| {
                let tmp = tempfile_beside(path);
                charts::png(&chart, &tmp).map_err(io::Error::other)?;
                let bytes = fs::read(&tmp);
                let _ = fs::remove_file(&tmp);
                f.write_all(&bytes?)
            })?;
        } else {
            write_atomic(path, charts::svg(&chart)?.as_bytes())?;
        }
    }
    if let Some(path) = &config.csv {
        export::csv(report, path)?;
    }
    if let Some(path) = &config.parquet {
        export::parquet(report, path)?;
    }
    let mut stdout_taken = false;
    for (target, text) in [
        (
            &config.json,
            config.json.as_ref().map(|_| json::render(report)),
        ),
        (
            &config.markdown,
            config.markdown.as_ref().map(|_| markdown::render(report)),
        ),
    ] {
        match (target, text) {
            (Some(Output::Stdout), Some(text)) => {
                io::stdout().lock().write_all(text.as_bytes())?;
                stdout_taken = true;
            }
            (Some(Output::File(path)), Some(text)) => write_atomic(path, text.as_bytes())?,
            _ => {}
        }
    }
    if !stdout_taken {
        let text = term::render(report, config.color);
        io::stdout().lock().write_all(text.as_bytes())?;
    }
    Ok(())
}

fn tempfile_beside(path: &Path) -> std::path::PathBuf {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    dir.join(format!(".losscmp-plot.{}.png", std::process::id()))
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename, so a
/// reader never sees a half-written file and a failed write leaves the old one intact.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |f| f.write_all(bytes))
}

/// Like [`write_atomic`], for writers that need the file itself.
pub fn write_atomic_with(
    path: &Path,
    write: impl FnOnce(&mut fs::File) -> io::Result<()>,
) -> Result<()> {
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
        write(&mut f)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.with_context(|| format!("cannot write {}", path.display()))
}
