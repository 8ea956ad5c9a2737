//! Stage 4: findings and runs → what the user sees. Renderers compute no statistics: they format
//! what `ingest`, `align` and `diagnose` produced. Outputs to files are written atomically.

pub mod charts;
pub mod ci;
pub mod dataset;
pub mod downsample;
pub mod export;
pub mod guard;
pub mod html;
pub mod json;
pub mod markdown;
pub mod progress;
pub mod scale;
pub mod term;
pub mod text;
pub mod view;

use std::fs;
use std::io::{self, Write};
use std::path::Path;

use anyhow::{Context as _, Result};

use crate::align::Aligned;
use crate::config::{Config, Output};
use crate::model::{Cause, Finding, Run, Verdict};

/// Everything a renderer may show.
pub struct Report<'a> {
    /// The runs, in command-line order.
    pub runs: &'a [Run],
    /// Comparisons.
    pub aligned: &'a Aligned,
    /// What is drawn and summarised, built once for every output.
    pub view: &'a view::View,
    /// Findings, most severe first.
    pub findings: &'a [Finding],
    /// The answer: per run its root cause and changes, matches, unchecked facts.
    pub verdict: &'a Verdict,
    /// The batch-size sweep, when three or more batches were compared.
    pub sweep: Option<&'a crate::diagnose::sweep::Sweep>,
    /// Index of the reference run.
    pub baseline: usize,
}

/// One pair's comparison, as [`Report::compared`] gives it.
pub struct Compared {
    pub run: String,
    pub reference: String,
    pub lines: Vec<String>,
}

impl Report<'_> {
    /// A cause's headline in a few words ("short of optimizer updates"), marked "(planned)"
    /// for a plan.
    pub fn headline(&self, cause: &Cause) -> String {
        let f = &self.findings[cause.finding];
        let planned = self.runs.iter().any(|r| r.label == cause.run && r.planned);
        let unlike = cause
            .explains
            .iter()
            .any(|&i| self.findings[i].id == "not-comparable");
        let words = if f.id == "loss-regression" && unlike {
            "worse than the baseline, which it differs from in more than the batch".to_string()
        } else if f.id == "lower-sample-efficiency" {
            // Per sample, or per what the runs were compared by when samples are unknown.
            format!("learns less per {}", self.aligned.data_axis.one())
        } else {
            term::headline(f.id).to_string()
        };
        if planned {
            format!("{words} (planned)")
        } else {
            words
        }
    }

    /// How the findings folded under a cause are introduced: what the cause explains, or — under
    /// a regression no cause was found for — what it may come from.
    pub fn folds_heading(&self, cause: &Cause) -> &'static str {
        let unlike = |&i: &usize| self.findings[i].id == "not-comparable";
        if self.findings[cause.finding].id == "loss-regression" && cause.explains.iter().all(unlike)
        {
            "what differs between the runs"
        } else {
            "this also explains"
        }
    }

    /// The cause finding `i` is folded under, if a cause explains it.
    pub fn folded_into(&self, i: usize) -> Option<&Cause> {
        self.verdict.causes.iter().find(|c| c.explains.contains(&i))
    }

    /// Whether finding `i` is a run's root cause.
    pub fn is_cause(&self, i: usize) -> bool {
        self.verdict.causes.iter().any(|c| c.finding == i)
    }

    /// The findings shown after the verdict: neither a cause nor folded under one, most
    /// severe first.
    pub fn other_findings(&self) -> impl Iterator<Item = (usize, &Finding)> {
        self.findings
            .iter()
            .enumerate()
            .filter(|(i, _)| !self.is_cause(*i) && self.folded_into(*i).is_none())
    }

    /// The verdict when it names no cause (and no run matching the baseline): that no run needs
    /// a change, and, when warnings that are not causes stand below it (a logged loss that is
    /// not comparable), that they need reading: `--fail-on warning` fails on them.
    pub fn no_cause(&self) -> String {
        let warnings = self
            .other_findings()
            .filter(|(_, f)| f.severity >= crate::model::Severity::Warning)
            .count();
        match warnings {
            0 => "No run needs a change: no check found a cause to fix at warning or above.".into(),
            1 => "No run needs a configuration change, but the warning below needs reading.".into(),
            n => format!(
                "No run needs a configuration change, but the {n} warnings below need reading."
            ),
        }
    }

    /// Each pair of runs as every output prints it: the run, the reference, and the lines that
    /// compare them (the loss at the end of the overlap on each axis, the last quarter's ratio,
    /// the mean gap, what each took to reach the target loss), in plain text for each renderer
    /// to make safe.
    pub fn compared(&self) -> Vec<Compared> {
        self.aligned
            .pairs
            .iter()
            .map(|pair| Compared {
                run: self.runs[pair.run].label.clone(),
                reference: self.runs[pair.reference].label.clone(),
                lines: self.pair_lines(pair),
            })
            .collect()
    }

    fn pair_lines(&self, pair: &crate::align::Pair) -> Vec<String> {
        use crate::align::Axis;
        use crate::diagnose::ratio_words;
        use crate::model::{format_count as count, format_number as num};
        let (a, b) = (&self.runs[pair.reference], &self.runs[pair.run]);
        let mut lines = Vec::new();
        // With neither samples nor epochs known the data axis is steps: the two overlaps are
        // one, printed once.
        let by_steps = pair
            .by_steps
            .as_ref()
            .filter(|_| self.aligned.data_axis != Axis::Step);
        for o in [pair.by_data.as_ref(), by_steps].into_iter().flatten() {
            let at = match o.axis {
                Axis::Step => format!("step {}", count(o.end)),
                axis => format!("{} {}", axis.amount_of(o.end), axis.amount()),
            };
            lines.push(format!(
                "at {at}: loss {} vs {} ({}); over the last quarter ({}) {}; mean absolute gap over the overlap {}",
                num(o.run_at_end),
                num(o.reference_at_end),
                ratio_words(o.ratio_at_end()),
                o.axis.window(o.last_from, o.end),
                ratio_words(o.ratio_last),
                num(o.mean_abs_gap)
            ));
        }
        if let Some(t) = &pair.target {
            let axis = self.aligned.data_axis;
            let steps = format!(
                "{} vs {} steps",
                count(t.run_steps.round()),
                count(t.reference_steps.round())
            );
            let reach = if axis == Axis::Step {
                steps
            } else {
                format!(
                    "{} vs {} {}, {steps}",
                    axis.amount_of(t.run_samples),
                    axis.amount_of(t.reference_samples),
                    axis.amount()
                )
            };
            lines.push(format!("to reach loss {}: {reach}", num(t.loss)));
        }
        if !b.planned && b.series.is_empty() {
            lines.push(format!(
                "{} logged no curve (final values only): compared on its configuration and throughput",
                b.label
            ));
        } else if b.planned {
            lines.push("a plan: nothing trained yet; judged on its configuration".into());
        } else if pair.by_data.is_none() && pair.by_steps.is_none() {
            // A run without a training loss has no curve to overlap: say which.
            let lossless: Vec<&str> = [a, b]
                .iter()
                .filter(|r| r.loss().is_none())
                .map(|r| r.label.as_str())
                .collect();
            lines.push(if !lossless.is_empty() {
                format!(
                    "no training loss logged by {}; nothing to compare",
                    lossless.join(" and ")
                )
            } else if pair.target.is_some() {
                "the loss curves do not overlap; compared only by when each reached the loss above"
                    .into()
            } else {
                "the loss curves do not overlap; nothing to compare".into()
            });
        }
        lines
    }

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
/// Nothing is written over a file a run was read from ([`guard::check`] runs first).
pub fn emit(report: &Report<'_>, config: &Config) -> Result<()> {
    emit_as(report, config, true)
}

/// Rewrites the output files of a comparison still in progress (`--follow`): the page, the
/// plot, the exports and the JSON/Markdown files, atomically; not the warnings, the terminal
/// summary, standard output, annotations or the dataset (appended once, at the end).
pub fn emit_interim(report: &Report<'_>, config: &Config) -> Result<()> {
    emit_as(report, config, false)
}

fn emit_as(report: &Report<'_>, config: &Config, last: bool) -> Result<()> {
    guard::check(report.runs, config)?;
    // Every text this call writes is rendered first, at once (none reads another): the charts
    // (built once for the page and the plot, each line thinned once), the JSON and Markdown
    // documents, and the summary (the files written are added to it at the end). A chart that
    // cannot be drawn is warned about once.
    let summary = last && !config.writes_stdout();
    let (mut charts, mut json_text, mut markdown_text, mut summary_text) = (None, None, None, None);
    rayon::scope(|s| {
        s.spawn(|_| charts = config.draws_charts().then(|| html::all_charts(report)));
        s.spawn(|_| json_text = rendered(&config.json, last).then(|| json::render(report)));
        s.spawn(|_| {
            markdown_text = rendered(&config.markdown, last).then(|| markdown::render(report));
        });
        let view = term::View {
            color: config.color != anstream::ColorChoice::Never,
            verbose: config.verbose,
        };
        summary_text = summary.then(|| term::render(report, &view));
    });
    // Standard error is locked only now: a render on another thread would wait for it.
    let mut err = io::stderr().lock();
    // Standard error is unbuffered: the warnings go in one write, not three per line.
    let mut warned = String::new();
    for w in report.warnings().into_iter().filter(|_| last) {
        warned.push_str("losscmp: warning: ");
        warned.push_str(&text::printable(&w));
        warned.push('\n');
    }
    err.write_all(warned.as_bytes())?;
    // What was written, for the terminal's last lines.
    let mut written: Vec<String> = Vec::new();
    let mut wrote = |what: &str, path: &Path| written.push(format!("{what}: {}", path.display()));
    if let Some(all) = &charts {
        let shown = if config.out.is_some() { all.len() } else { 2 };
        for why in all
            .iter()
            .take(shown)
            .filter_map(charts::Chart::undrawable)
            .filter(|_| last)
        {
            writeln!(err, "losscmp: warning: {}", text::printable(&why))?;
        }
    }
    if let (Some(path), Some(all)) = (&config.out, &charts) {
        write_atomic(path, html::render(report, all)?.as_bytes())?;
        wrote("report", path);
    }
    if let (Some(path), Some(all)) = (&config.plot, &charts) {
        // The headline pair side by side, under the verdict in one line.
        let pair = &all[..all.len().min(2)];
        let subtitle = term::verdict_line(report);
        let is_png = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("png"));
        if is_png {
            // plotters writes the PNG to a path: a temporary one beside the target, renamed.
            let tmp = temp_beside(path, ".png")?;
            charts::panels_png(pair, &subtitle, tmp.path(), config.plot_scale)?;
            persist(tmp, path)?;
        } else {
            write_atomic(path, charts::panels_svg(pair, &subtitle)?.as_bytes())?;
        }
        wrote("plot", path);
    }
    if let Some(path) = put(&config.csv, last, |w| export::csv(report, w))? {
        wrote("csv", path);
    }
    if let Some(path) = put(&config.parquet, last, |w| export::parquet(report, w))? {
        wrote("parquet", path);
    }
    let junit = |w: &mut dyn Write| w.write_all(ci::junit(report, config.fail_on).as_bytes());
    if let Some(path) = put(&config.junit, last, junit)? {
        wrote("junit", path);
    }
    if let Some(dir) = config.dataset.as_ref().filter(|_| last) {
        let stamp = dataset::Stamp::now(config.dataset_date.as_deref());
        for file in dataset::append(report, dir, &stamp)? {
            writeln!(
                err,
                "losscmp: dataset: wrote {}",
                text::printable(&file.display().to_string())
            )?;
            wrote("dataset", &file);
        }
    }
    if config.annotations && last {
        err.write_all(ci::annotations(report).as_bytes())?;
    }
    for (what, target, text) in [
        ("json", &config.json, json_text),
        ("markdown", &config.markdown, markdown_text),
    ] {
        let Some(text) = text else { continue };
        if let Some(path) = put(target, last, |w| w.write_all(text.as_bytes()))? {
            wrote(what, path);
        }
    }
    if let Some(mut text) = summary_text {
        text.push_str(&term::written(&written));
        anstream::AutoStream::new(io::stdout().lock(), config.color).write_all(text.as_bytes())?;
    }
    Ok(())
}

/// Writes one document where [`rendered`] says it goes now: to its file (atomically, through a
/// buffer) or to standard output; the file written, for the terminal's list.
fn put(
    target: &Option<Output>,
    last: bool,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<Option<&Path>> {
    if !rendered(target, last) {
        return Ok(None);
    }
    if let Some(Output::File(path)) = target {
        write_atomic_with(path, |f| {
            let mut out = io::BufWriter::new(f);
            write(&mut out)?;
            out.flush()
        })?;
        return Ok(Some(path));
    }
    let mut out = io::BufWriter::new(io::stdout().lock());
    write(&mut out)?;
    out.flush()?;
    Ok(None)
}

/// Whether a document for `target` is rendered: a file always, standard output only by the
/// last call (an interim one leaves standard output to it).
fn rendered(target: &Option<Output>, last: bool) -> bool {
    match target {
        Some(Output::File(_)) => true,
        Some(Output::Stdout) => last,
        None => false,
    }
}

/// A temporary file in `path`'s directory (so the rename that replaces `path` stays on one file
/// system).
fn temp_beside(path: &Path, suffix: &str) -> Result<tempfile::NamedTempFile> {
    let dir = folder_of(path);
    let mut builder = tempfile::Builder::new();
    builder.prefix(".losscmp-").suffix(suffix);
    if let Some(p) = output_permissions(path) {
        builder.permissions(p);
    }
    builder.tempfile_in(dir).with_context(|| {
        format!(
            "cannot write {}: no temporary file beside it",
            path.display()
        )
    })
}

/// The folder an output is written in (its temporary file made there first): `.` for a bare
/// file name.
fn folder_of(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// The permissions an output gets: those of the file it replaces, else what a new file gets
/// (rw-r--r--, not the temporary file's private rw-------). `None`: the platform's default.
fn output_permissions(path: &Path) -> Option<fs::Permissions> {
    if let Ok(meta) = fs::metadata(path) {
        return Some(meta.permissions());
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        Some(fs::Permissions::from_mode(0o644))
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// Moves a finished temporary file over `path`.
/// Whether `path` is an existing file that is not a regular one (`/dev/null`, a FIFO, a
/// terminal): such a target is written in place, never replaced by a rename (which would put a
/// regular file where the device was).
fn special(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir())
}

fn persist(mut tmp: tempfile::NamedTempFile, path: &Path) -> Result<()> {
    if special(path) {
        let mut out = fs::OpenOptions::new()
            .write(true)
            .open(path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        io::Seek::rewind(tmp.as_file_mut())
            .and_then(|_| io::copy(tmp.as_file_mut(), &mut out))
            .with_context(|| format!("cannot write {}", path.display()))?;
        return Ok(());
    }
    tmp.as_file()
        .sync_all()
        .with_context(|| format!("cannot write {}", path.display()))?;
    tmp.persist(path)
        .map(|_| ())
        .map_err(|e| e.error)
        .with_context(|| format!("cannot write {}", path.display()))
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
    if special(path) {
        let mut out = fs::OpenOptions::new()
            .write(true)
            .open(path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        return write(&mut out).with_context(|| format!("cannot write {}", path.display()));
    }
    let mut tmp = temp_beside(path, ".tmp")?;
    write(tmp.as_file_mut()).with_context(|| format!("cannot write {}", path.display()))?;
    persist(tmp, path)
}
