//! `Cli` → [`Config`]: every flag resolved and validated here, nowhere else. The pipeline never
//! sees clap types.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use rayon::prelude::*;

use crate::align::Axis;
use crate::cli::{AxisArg, Cli, ColorArg, SeverityArg};
use crate::ingest::RunSpec;
use crate::model::{ConfigValue, Key, Severity};

/// Where an output goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Standard output.
    Stdout,
    /// A file, written atomically.
    File(PathBuf),
}

/// The trainers `--set RUN:trainer=NAME` takes: each names the options a fix edits
/// (docs/diagnostics.md, "Fixes in the trainer's words").
const TRAINERS: [&str; 10] = [
    "hf",
    "trl",
    "llamafactory",
    "axolotl",
    "deepspeed",
    "megatron",
    "nanogpt",
    "ms-swift",
    "torchtune",
    "olmo",
];

/// Everything the pipeline needs, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The runs to read, labels unique.
    pub runs: Vec<RunSpec>,
    /// Index of the reference run in `runs`.
    pub baseline: usize,
    /// The x-axis for comparisons.
    pub axis: Axis,
    /// Whether `--x` chose it (else it is the default, samples seen).
    pub axis_chosen: bool,
    /// EMA weight per 1/100 of the x range, if smoothing.
    pub smooth: Option<f64>,
    /// Relative loss increase that counts as a regression.
    pub tolerance: f64,
    /// Exit 1 when a finding at or above this severity exists.
    pub fail_on: Option<Severity>,
    /// JSON output.
    pub json: Option<Output>,
    /// Whether to colour the terminal summary.
    pub color: anstream::ColorChoice,
    /// Show a progress bar on stderr while reading (a terminal, and reading is slow).
    pub progress: bool,
    /// HTML report.
    pub out: Option<PathBuf>,
    /// The headline pair alone (SVG or PNG), and the PNG's scale.
    pub plot: Option<PathBuf>,
    pub plot_scale: f64,
    /// Long-table exports.
    pub csv: Option<Output>,
    pub parquet: Option<Output>,
    /// Markdown summary.
    pub markdown: Option<Output>,
    /// JUnit XML of the findings.
    pub junit: Option<Output>,
    /// The Parquet dataset to append to, and the date partition.
    pub dataset: Option<PathBuf>,
    pub dataset_date: Option<String>,
    /// Print GitHub Actions annotations (`GITHUB_ACTIONS=true`).
    pub annotations: bool,
    /// Show each run's block in the terminal summary.
    pub verbose: bool,
    /// Print each stage's wall time to stderr.
    pub timings: bool,
    /// `--follow`: keep reading the runs as they grow.
    pub follow: Option<Follow>,
}

/// `--follow` settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Follow {
    /// Time between reads.
    pub interval: std::time::Duration,
    /// Intervals without growth after which following stops.
    pub idle: u32,
}

impl Config {
    /// Whether an output draws charts (the page or the plot).
    pub fn draws_charts(&self) -> bool {
        self.out.is_some() || self.plot.is_some()
    }

    /// Whether an output goes to standard output (`-`): then the terminal summary does not.
    pub fn writes_stdout(&self) -> bool {
        [
            &self.json,
            &self.markdown,
            &self.csv,
            &self.parquet,
            &self.junit,
        ]
        .into_iter()
        .any(|o| *o == Some(Output::Stdout))
    }

    /// Whether an output exports every point (CSV, Parquet, the dataset).
    pub fn exports_points(&self) -> bool {
        self.csv.is_some() || self.parquet.is_some() || self.dataset.is_some()
    }

    /// Validates the command line.
    pub fn from_cli(cli: Cli) -> Result<Config> {
        let mut runs: Vec<RunSpec> = Vec::new();
        let mut labelled: Vec<(String, PathBuf)> = Vec::new();
        for l in &cli.labels {
            // A label may itself contain '=': split where the rest names one of the RUN paths,
            // else at the first '='.
            let split = l
                .match_indices('=')
                .map(|(i, _)| (&l[..i], &l[i + 1..]))
                .find(|(_, p)| {
                    cli.runs
                        .iter()
                        .chain(&cli.plans)
                        .any(|r| same_path(r, Path::new(p)))
                })
                .or_else(|| l.split_once('='));
            let (name, path) = split.with_context(|| {
                format!("--label {l:?}: expected NAME=PATH, e.g. --label run8=runs/8gpu")
            })?;
            if name.trim().is_empty() {
                bail!("--label {l:?}: the name is empty; e.g. --label run8={path}");
            }
            if let Some((other, _)) = labelled.iter().find(|(_, p)| same_path(p, Path::new(path))) {
                bail!("--label {l:?}: {path} is already labelled {other:?}; one name per run");
            }
            if let Some((_, p)) = labelled.iter().find(|(n, _)| n == name) {
                bail!(
                    "--label {l:?}: the name {name:?} is already given to {}; one run per name",
                    p.display()
                );
            }
            labelled.push((name.to_string(), PathBuf::from(path)));
        }
        // Each RUN's --label, if it has one; the others take default names told apart.
        let given: Vec<Option<&String>> = cli
            .runs
            .iter()
            .map(|path| {
                labelled
                    .iter()
                    .find(|(_, p)| same_path(p, path))
                    .map(|(n, _)| n)
            })
            .collect();
        let named: Vec<bool> = given.iter().map(Option::is_some).collect();
        let defaults = distinct_labels(&cli.runs, &named);
        for ((path, default), given) in cli.runs.iter().zip(defaults).zip(given) {
            let label = given.cloned().unwrap_or(default);
            let mut unique = label.clone();
            let mut n = 2;
            while runs.iter().any(|r| r.label == unique) {
                unique = format!("{label}#{n}");
                n += 1;
            }
            runs.push(RunSpec {
                label: unique,
                path: path.clone(),
                overrides: Vec::new(),
                columns: Vec::new(),
                planned: false,
            });
        }
        // A label whose path is not a RUN argument adds that run (TensorBoard's
        // `--logdir_spec name:path` habit), after the RUN arguments, in label order.
        for (name, path) in &labelled {
            if runs.iter().any(|r| same_path(&r.path, path))
                || cli.plans.iter().any(|p| same_path(p, path))
            {
                // Named one of the RUN arguments (above) or a plan (below).
                continue;
            }
            if runs.iter().any(|r| r.label == *name) {
                bail!("--label {name}: two runs cannot share a name");
            }
            runs.push(RunSpec {
                label: name.clone(),
                path: path.clone(),
                overrides: Vec::new(),
                columns: Vec::new(),
                planned: false,
            });
        }
        if runs.is_empty() {
            bail!("no run to read: give run directories or log files, or --label NAME=PATH");
        }
        for path in &cli.plans {
            if path.as_os_str() == "-" {
                bail!("--plan -: give the plan as a file");
            }
            let given = labelled
                .iter()
                .find(|(_, p)| same_path(p, path))
                .map(|(n, _)| n.clone());
            let label = given.clone().unwrap_or_else(|| plan_label(path));
            // A plan named like a run (its config.yaml taken from the baseline's own folder)
            // would be told apart only by a number, and a --set meant for it would change the
            // run: it is named by the user instead.
            if let Some(run) = runs.iter().find(|r| r.label == label) {
                match given {
                    Some(_) => bail!(
                        "--label {label}={}: the run {} already has the name {label}; one run per name",
                        path.display(),
                        run.path.display()
                    ),
                    None => bail!(
                        "--plan {}: it would be named {label}, as the run {} is; name it, e.g. --label new={}",
                        path.display(),
                        run.path.display(),
                        path.display()
                    ),
                }
            }
            runs.push(RunSpec {
                label,
                path: path.clone(),
                overrides: Vec::new(),
                columns: Vec::new(),
                planned: true,
            });
        }
        if runs.iter().filter(|r| r.path.as_os_str() == "-").count() > 1 {
            bail!("standard input (-) can be given only once");
        }
        let mut columns = Vec::new();
        for c in &cli.columns {
            let (key, column) = c
                .split_once('=')
                .with_context(|| format!("--columns {c:?}: expected KEY=COLUMN, e.g. step=Step"))?;
            columns.push((key.trim().to_string(), column.trim().to_string()));
        }
        if !columns.is_empty() && !columns.iter().any(|(k, _)| k == "step") {
            bail!("--columns: map the step column too, e.g. --columns step=Step,loss=train/loss");
        }
        for run in &mut runs {
            run.columns = columns.clone();
        }
        let mut set_by: Vec<(usize, Key, &str)> = Vec::new();
        for s in &cli.sets {
            // A label may hold ':' (and '='): the split is the ':' after which a known key
            // follows, for a run of that name if there is one.
            let splits: Vec<(&str, &str, &str)> = s
                .match_indices(':')
                .filter_map(|(i, _)| {
                    let (key, value) = s[i + 1..].split_once('=')?;
                    Some((&s[..i], key, value))
                })
                .collect();
            let known = |k: &str| Key::from_name(k.trim()).is_some();
            let (run, key, value) = splits
                .iter()
                .find(|(r, k, _)| known(k) && find_run(&runs, r).is_some())
                .or_else(|| splits.iter().find(|(_, k, _)| known(k)))
                .or_else(|| splits.first())
                .copied()
                .with_context(|| {
                    format!("--set {s:?}: expected RUN:KEY=VALUE, e.g. --set run8:world_size=8")
                })?;
            let key = Key::from_name(key.trim()).with_context(|| {
                let names: Vec<&str> = Key::ALL.iter().map(|k| k.name()).collect();
                format!(
                    "--set {s:?}: unknown key {key:?}; known keys: {}",
                    names.join(", ")
                )
            })?;
            let value = if key.is_text() {
                let text = value.trim();
                if text.is_empty() {
                    bail!("--set {s:?}: {} needs a value", key.name());
                }
                if key == Key::Trainer && !TRAINERS.contains(&text) {
                    bail!(
                        "--set {s:?}: unknown trainer {text:?}; known trainers: {}",
                        TRAINERS.join(", ")
                    );
                }
                ConfigValue::Text(text.to_string())
            } else {
                // No warmup is a warmup of 0; every other number is a positive count or rate.
                let zero_ok = matches!(key, Key::WarmupSteps | Key::WarmupRatio);
                let x: f64 = value
                    .trim()
                    .parse()
                    .ok()
                    .filter(|x: &f64| x.is_finite() && (*x > 0.0 || (zero_ok && *x == 0.0)))
                    .with_context(|| {
                        if zero_ok {
                            format!("--set {s:?}: {value:?} is not a number of 0 or more")
                        } else {
                            format!("--set {s:?}: {value:?} is not a positive number")
                        }
                    })?;
                if key == Key::WarmupRatio && x >= 1.0 {
                    bail!(
                        "--set {s:?}: warmup_ratio is the share of the steps spent warming up, below 1 (warmup_steps=N gives a count)"
                    );
                }
                // Processes, samples and steps are counted: 2.5 processes is a typo.
                let counted = matches!(
                    key,
                    Key::WorldSize
                        | Key::PerDeviceBatch
                        | Key::GradAccum
                        | Key::EffectiveBatch
                        | Key::NumExamples
                        | Key::TotalSteps
                        | Key::StepsPerEpoch
                        | Key::LoggingSteps
                );
                if counted && x.fract() != 0.0 {
                    bail!(
                        "--set {s:?}: {} is a count; {value:?} is not a whole number",
                        key.name()
                    );
                }
                ConfigValue::Number(x)
            };
            let target = find_run(&runs, run)
                .with_context(|| format!("--set {s:?}: no run labelled {run:?}"))?;
            if let Some((_, _, earlier)) = set_by.iter().find(|(t, k, _)| *t == target && *k == key)
            {
                bail!(
                    "--set {s:?}: {} of {} is already set by --set {earlier:?}; give it once",
                    key.name(),
                    runs[target].label
                );
            }
            set_by.push((target, key, s));
            runs[target].overrides.push((key, value));
        }
        let baseline = match &cli.baseline {
            None => 0,
            Some(b) => find_run(&runs, b).with_context(|| {
                format!("--baseline {b:?}: not a label or path of the given runs")
            })?,
        };
        if runs[baseline].planned {
            bail!(
                "--baseline {}: a plan has not run; the baseline must be a run that has",
                runs[baseline].label
            );
        }
        let follow = if cli.follow {
            if !(cli.interval.is_finite() && cli.interval > 0.0) {
                bail!(
                    "--interval {}: must be a positive number of seconds",
                    cli.interval
                );
            }
            if cli.idle == 0 {
                bail!(
                    "--idle 0: must be at least 1 (the intervals with no growth after which --follow stops)"
                );
            }
            if runs.iter().any(|r| r.path.as_os_str() == "-") {
                bail!("--follow reads files as they grow; standard input (-) cannot be followed");
            }
            Some(Follow {
                interval: std::time::Duration::from_secs_f64(cli.interval),
                idle: cli.idle,
            })
        } else {
            None
        };
        if let Some(w) = cli.smooth {
            if !(0.0..1.0).contains(&w) {
                bail!("--smooth {w}: the weight must be in [0, 1), e.g. --smooth 0.6");
            }
        }
        if !(cli.tolerance.is_finite() && cli.tolerance >= 0.0) {
            bail!(
                "--tolerance {}: must be a non-negative fraction, e.g. 0.05 for 5%",
                cli.tolerance
            );
        }
        let output = |p: PathBuf| {
            if p.as_os_str() == "-" {
                Output::Stdout
            } else {
                Output::File(p)
            }
        };
        let json = cli.json.map(output);
        let markdown = cli.markdown.map(output);
        let csv = cli.csv.map(output);
        let parquet = cli.parquet.map(output);
        let junit = cli.junit.map(output);
        let to_stdout: Vec<&str> = [
            ("--json", &json),
            ("--markdown", &markdown),
            ("--csv", &csv),
            ("--parquet", &parquet),
            ("--junit", &junit),
        ]
        .into_iter()
        .filter(|(_, o)| **o == Some(Output::Stdout))
        .map(|(flag, _)| flag)
        .collect();
        if let [first, second, ..] = to_stdout.as_slice() {
            bail!("{first} - and {second} - both want stdout; send one of them to a file");
        }
        // The page, the plot and the dataset are files (a directory) only.
        for (flag, path) in [
            ("--out", &cli.out),
            ("--plot", &cli.plot),
            ("--dataset", &cli.dataset),
        ] {
            if path.as_ref().is_some_and(|p| p.as_os_str() == "-") {
                bail!("{flag} -: {flag} writes to a file, not to stdout; give a file name");
            }
        }
        if let Some(p) = cli
            .plot
            .as_ref()
            .filter(|p| !has_extension(p, &["svg", "png"]))
        {
            bail!(
                "--plot {}: the file name must end in .svg or .png",
                p.display()
            );
        }
        // The page is HTML: a name that says otherwise is most likely a slip (another file of
        // the run's directory, `--out run8/adapter_config.json`), and would be overwritten.
        if let Some(p) = cli
            .out
            .as_ref()
            .filter(|p| !has_extension(p, &["html", "htm"]))
        {
            bail!(
                "--out {}: the report is an HTML page; the file name must end in .html",
                p.display()
            );
        }
        // The dataset's folders (`runs/`, `points/`) inside a run's directory would be read as
        // part of that run the next time.
        if let Some(d) = &cli.dataset {
            if let Some(run) = cli.runs.iter().find(|r| r.is_dir() && within(d, r)) {
                bail!(
                    "--dataset {}: that is inside the run directory {}, whose next reading would take the dataset's folders for its own; choose a directory outside it",
                    d.display(),
                    run.display()
                );
            }
        }
        if !(1.0..=4.0).contains(&cli.plot_scale) {
            bail!(
                "--plot-scale {}: must be between 1 and 4, e.g. --plot-scale 2",
                cli.plot_scale
            );
        }
        if let Some(d) = &cli.dataset_date {
            if !crate::report::dataset::is_date(d) {
                bail!("--dataset-date {d:?}: expected YYYY-MM-DD, e.g. 2026-12-01");
            }
        }
        // anstream decides `auto` (a terminal, NO_COLOR, CLICOLOR, CLICOLOR_FORCE).
        let color = match cli.color {
            ColorArg::Always => anstream::ColorChoice::Always,
            ColorArg::Never => anstream::ColorChoice::Never,
            ColorArg::Auto => anstream::ColorChoice::Auto,
        };
        let progress = std::io::stderr().is_terminal();
        Ok(Config {
            runs,
            baseline,
            axis: match cli.x.unwrap_or(AxisArg::Samples) {
                AxisArg::Samples => Axis::Samples,
                AxisArg::Tokens => Axis::Tokens,
                AxisArg::Epoch => Axis::Epoch,
                AxisArg::Step => Axis::Step,
                AxisArg::Time => Axis::Time,
            },
            axis_chosen: cli.x.is_some(),
            smooth: cli.smooth,
            tolerance: cli.tolerance,
            fail_on: cli.fail_on.map(|s| match s {
                SeverityArg::Info => Severity::Info,
                SeverityArg::Warning => Severity::Warning,
                SeverityArg::Error => Severity::Error,
            }),
            json,
            color,
            progress,
            out: cli.out,
            plot: cli.plot,
            plot_scale: cli.plot_scale,
            csv,
            parquet,
            markdown,
            junit,
            dataset: cli.dataset,
            dataset_date: cli.dataset_date,
            annotations: std::env::var_os("GITHUB_ACTIONS").is_some_and(|v| v == "true"),
            verbose: cli.verbose,
            timings: cli.timings,
            follow,
        })
    }
}

fn find_run(runs: &[RunSpec], name: &str) -> Option<usize> {
    runs.iter().position(|r| r.label == name).or_else(|| {
        runs.iter()
            .position(|r| same_path(&r.path, Path::new(name)))
    })
}

/// Whether two paths name one run: spelled alike (by components, so `a/` is `a`), or both
/// there and the same once resolved (`./a`, an absolute path, a link).
fn same_path(a: &Path, b: &Path) -> bool {
    if a.components().eq(b.components()) {
        return true;
    }
    if a.as_os_str() == "-" || b.as_os_str() == "-" {
        return false;
    }
    matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
}

/// Whether a file name is one trainers give the same file in every run.
fn generic_file_name(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    const GENERIC: [&str; 22] = [
        "trainer_state.json",
        "trainer_log.jsonl",
        "train.log",
        "training.log",
        "train.txt",
        "log.txt",
        "output.log",
        "stdout.log",
        "stdout.txt",
        "nohup.out",
        "logging.jsonl",
        "all_results.json",
        "train_results.json",
        "eval_results.json",
        "config.yaml",
        "training_args.json",
        "training_args.yaml",
        "metrics.csv",
        "wandb-summary.json",
        "running_log.txt",
        "loss",
        "guest.log",
    ];
    GENERIC.contains(&name)
        || name.starts_with("events.out.tfevents")
        || name.starts_with("run-") && name.ends_with(".wandb")
        || name.starts_with("log_") && name.ends_with(".txt")
}

/// A plan is named by its file stem (`new.yaml`: `new`), or by its directory when the file has
/// a name every run's config has (`config.yaml`).
fn plan_label(path: &Path) -> String {
    let generic = generic_file_name(path);
    match (generic, path.file_stem()) {
        (false, Some(stem)) => stem.to_string_lossy().into_owned(),
        _ => default_label(path),
    }
}

fn default_label(path: &Path) -> String {
    label_parts(path).pop().unwrap_or_default()
}

/// Whether the file name of `path` ends in one of `extensions` (any case).
fn has_extension(path: &Path, extensions: &[&str]) -> bool {
    path.extension()
        .is_some_and(|e| extensions.contains(&e.to_string_lossy().to_ascii_lowercase().as_str()))
}

/// Whether `path` (which may not exist yet) is `dir` or lies inside it, compared by canonical
/// paths: the nearest existing ancestor of `path` is resolved, the rest appended.
fn within(path: &Path, dir: &Path) -> bool {
    let Ok(dir) = dir.canonicalize() else {
        return false;
    };
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut existing = absolute.as_path();
    let mut rest = Vec::new();
    while !existing.exists() {
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                existing = parent;
            }
            _ => return false,
        }
    }
    let Ok(mut full) = existing.canonicalize() else {
        return false;
    };
    for name in rest.iter().rev() {
        full.push(name);
    }
    full.starts_with(&dir)
}

/// The runs' default labels, where two would be the same name (`a/output`, `b/output`) each
/// taking as many of its parent folders as tell them apart (`a/output`, `b/output`); the same
/// path given twice stays one name (numbered by the caller). A run `named` by `--label` keeps
/// its name and tells no other apart.
fn distinct_labels(paths: &[PathBuf], named: &[bool]) -> Vec<String> {
    // Each path resolved on the pool's threads (a hundred runs are a thousand system calls).
    let parts: Vec<Vec<String>> = paths.par_iter().map(|p| label_parts(p)).collect();
    let suffix = |p: &[String], depth: usize| p[p.len().saturating_sub(depth)..].join("/");
    let mut labels: Vec<String> = parts.iter().map(|p| suffix(p, 1)).collect();
    for i in 0..paths.len() {
        let same: Vec<usize> = (0..paths.len())
            .filter(|&j| !named[j] && labels[j] == labels[i] && !same_path(&paths[j], &paths[i]))
            .collect();
        if named[i] || same.is_empty() || labels[i].contains('/') {
            continue;
        }
        let group: Vec<usize> = std::iter::once(i).chain(same).collect();
        let deepest = group.iter().map(|&j| parts[j].len()).max().unwrap_or(1);
        // The fewest parent folders that tell every path of the group apart, the same for all.
        let depth = (2..=deepest).find(|&d| {
            let names: Vec<String> = group.iter().map(|&j| suffix(&parts[j], d)).collect();
            names.iter().enumerate().all(|(k, n)| {
                names[..k]
                    .iter()
                    .zip(&group)
                    .all(|(m, &j)| m != n || same_path(&paths[j], &paths[group[k]]))
            })
        });
        if let Some(d) = depth {
            for &j in &group {
                labels[j] = suffix(&parts[j], d);
            }
        }
    }
    labels
}

/// The path's components down to the name that labels its run, that name last (a file's stem,
/// the folder a generic file or a checkpoint is named by, an MLflow run's `run_name`);
/// `["stdin"]` for `-`.
fn label_parts(path: &Path) -> Vec<String> {
    if path.as_os_str() == "-" {
        return vec!["stdin".into()];
    }
    // A run is usually named by its directory; a file a trainer names the same in every run
    // (trainer_state.json, train.log) takes the directory's name too, since its name says
    // nothing about the run. Any other file is named by its stem (`wandb_export_run8.csv`:
    // `wandb_export_run8`).
    // The folder resolved, the name kept: a symlink is named as the user named it, not by
    // its target.
    let full = match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) => {
            let parent = if parent.as_os_str().is_empty() {
                Path::new(".")
            } else {
                parent
            };
            parent
                .canonicalize()
                .map(|p| p.join(name))
                .unwrap_or_else(|_| path.to_path_buf())
        }
        _ => path.canonicalize().unwrap_or_else(|_| path.to_path_buf()),
    };
    let names = |p: &Path| -> Vec<String> {
        p.components()
            .filter_map(|c| match c {
                std::path::Component::Normal(n) => Some(n.to_string_lossy().into_owned()),
                _ => None,
            })
            .collect()
    };
    // A checkpoint folder is read with its run and named by it.
    let checkpoint = crate::ingest::checkpoint_parent(path).is_some();
    if full.is_file() && !checkpoint && !generic_file_name(&full) {
        // A compressed file is named as it would be uncompressed (`b8.log.gz`: `b8`).
        let plain = match full.file_name() {
            Some(n) if has_extension(&full, &["gz"]) => Path::new(n).with_extension(""),
            _ => full.clone(),
        };
        if let Some(stem) = plain.file_stem() {
            let mut parts = full.parent().map(names).unwrap_or_default();
            parts.push(stem.to_string_lossy().into_owned());
            return parts;
        }
    }
    // An MLflow run directory is named by its run name (its folder is the run's id).
    if let Some(name) = crate::ingest::mlflow_run_name(&full) {
        let mut parts = full.parent().map(names).unwrap_or_default();
        parts.push(name);
        return parts;
    }
    // A folder a trainer writes inside its output directory is named by that directory, as
    // the directory itself would be (`out/wandb`, `out/wandb/latest-run`, `out/runs`: `out`),
    // and a W&B run's `files/` by its run folder.
    if full.is_dir() && !checkpoint {
        let parts = names(&full);
        let from_end = |k: usize| parts.len().checked_sub(k).map(|i| parts[i].as_str());
        let keep = match (from_end(2), from_end(1)) {
            (_, Some(name)) if crate::ingest::TRAINER_FOLDERS.contains(&name) => parts.len() - 1,
            (Some("wandb"), Some("latest-run")) => parts.len() - 2,
            (Some(run), Some("files")) if crate::ingest::wandb_run_name(run) => parts.len() - 1,
            _ => parts.len(),
        };
        if keep >= 1 {
            return parts[..keep].to_vec();
        }
    }
    let named = if full.is_file() || checkpoint {
        full.parent()
    } else {
        Some(full.as_path())
    };
    match named.filter(|p| p.file_name().is_some()) {
        Some(p) => names(p),
        None => vec![
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| path.display().to_string()),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn config(args: &[&str]) -> Result<Config> {
        Config::from_cli(Cli::try_parse_from(
            std::iter::once("losscmp").chain(args.iter().copied()),
        )?)
    }

    #[test]
    fn labels_overrides_and_baseline() {
        let c = config(&[
            "a/run",
            "b/run",
            "--label",
            "r8=b/run",
            "--set",
            "r8:world_size=8",
            "--baseline",
            "r8",
        ])
        .expect("valid");
        assert_eq!(c.runs[0].label, "run");
        assert_eq!(c.runs[1].label, "r8");
        assert_eq!(
            c.runs[1].overrides,
            vec![(Key::WorldSize, ConfigValue::Number(8.0))]
        );
        assert_eq!(c.baseline, 1);
    }

    #[test]
    fn a_label_alone_adds_its_run() {
        let c = config(&["--label", "a=runs/1gpu", "--label", "b=runs/8gpu"]).expect("valid");
        let got: Vec<(&str, &str)> = c
            .runs
            .iter()
            .map(|r| (r.label.as_str(), r.path.to_str().expect("utf-8")))
            .collect();
        assert_eq!(got, vec![("a", "runs/1gpu"), ("b", "runs/8gpu")]);
        let c = config(&["x/run", "--label", "b=y/run"]).expect("valid");
        assert_eq!(c.runs[1].label, "b");
        assert!(config(&["--label", "a=p", "--label", "a=q"]).is_err());
        let e = config(&["--label", "a=p", "--label", "b=p"]).expect_err("one path, two names");
        assert!(e.to_string().contains("already labelled \"a\""), "{e}");
        assert!(config(&["a", "--dataset-date", "2026-1-1", "--dataset", "d"]).is_err());
    }

    #[test]
    fn duplicate_names_are_made_unique() {
        // Two runs in folders of the same name take the parent that tells them apart.
        let c = config(&["a/run", "b/run"]).expect("valid");
        assert_eq!(
            (c.runs[0].label.as_str(), c.runs[1].label.as_str()),
            ("a/run", "b/run")
        );
        let c = config(&["x/a/run", "y/a/run", "z/run", "other"]).expect("valid");
        let labels: Vec<&str> = c.runs.iter().map(|r| r.label.as_str()).collect();
        assert_eq!(labels, ["x/a/run", "y/a/run", "z/run", "other"]);
        // The same path twice is one name, numbered.
        let c = config(&["a/run", "a/run"]).expect("valid");
        assert_eq!(c.runs[1].label, "run#2");
    }

    #[test]
    fn outputs_stay_out_of_the_runs() {
        let e = config(&[
            "fixtures/lf_1gpu_ga8",
            "--out",
            "fixtures/lf_1gpu_ga8/adapter_config.json",
        ])
        .expect_err("not a page");
        assert!(e.to_string().contains("must end in .html"), "{e}");
        assert!(config(&["fixtures/lf_1gpu_ga8", "--out", "r.HTML"]).is_ok());
        for inside in [
            "fixtures/lf_1gpu_ga8",
            "fixtures/lf_1gpu_ga8/new/deeper",
            "fixtures/lf_1gpu_ga8/../lf_1gpu_ga8/x",
        ] {
            let e = config(&["fixtures/lf_1gpu_ga8", "--dataset", inside]).expect_err(inside);
            assert!(
                e.to_string()
                    .contains("inside the run directory fixtures/lf_1gpu_ga8"),
                "{e}"
            );
        }
        assert!(
            config(&[
                "fixtures/lf_1gpu_ga8",
                "--dataset",
                "fixtures/lf_1gpu_ga8_elsewhere"
            ])
            .is_ok()
        );
    }

    #[test]
    fn one_name_names_one_run() {
        let e = config(&["a", "b", "--label", "x=a", "--label", "x=b"]).expect_err("twice");
        assert!(
            e.to_string()
                .contains("--label \"x=b\": the name \"x\" is already given to a"),
            "{e}"
        );
        let e = config(&["--label", "x=a", "--label", "x=b"]).expect_err("twice, as runs");
        assert!(e.to_string().contains("already given to a"), "{e}");
    }

    #[test]
    fn bad_flags_say_what_to_do() {
        let e = config(&["a", "--set", "a:wrld=8"]).expect_err("unknown key");
        assert!(e.to_string().contains("known keys: world_size"), "{e}");
        assert!(config(&["a", "--smooth", "1.5"]).is_err());
        assert!(config(&["a", "--baseline", "zzz"]).is_err());
        let e = config(&["a", "--set", "a:world_size=2.5"]).expect_err("a count");
        assert!(e.to_string().contains("world_size is a count"), "{e}");
        assert!(config(&["a", "--set", "a:learning_rate=2.5e-4"]).is_ok());
    }

    /// A path spelled another way (`./`, absolute) names the same run for --label and
    /// --baseline: not a second copy of it, nor an unknown run.
    #[test]
    fn labels_and_the_baseline_match_runs_by_the_directory_they_name() {
        let run = "fixtures/lf_8proc_ga8";
        let absolute = std::fs::canonicalize(run).expect("fixture");
        let absolute = absolute.to_str().expect("utf-8");
        for spelled in [format!("./{run}"), absolute.to_string(), format!("{run}/")] {
            let c = config(&[
                "fixtures/lf_1gpu_ga8",
                run,
                "--label",
                &format!("b={spelled}"),
            ])
            .expect("valid");
            let labels: Vec<&str> = c.runs.iter().map(|r| r.label.as_str()).collect();
            assert_eq!(labels, ["lf_1gpu_ga8", "b"], "{spelled}");
            let c = config(&["fixtures/lf_1gpu_ga8", run, "--baseline", &spelled]).expect("valid");
            assert_eq!(c.baseline, 1, "{spelled}");
        }
    }

    /// An MLflow run directory is named by its `run_name`, not by the run id it is kept under.
    #[test]
    fn an_mlflow_run_is_named_by_its_run_name() {
        let run = "fixtures/trackers/lf_1gpu_ga8/mlruns/352207801315364917/d1543bdabfa54e06acbffdfd663f0d6d";
        let c = config(&[run, "fixtures/lf_8proc_ga8"]).expect("valid");
        assert_eq!(c.runs[0].label, "lf_1gpu_ga8");
    }
}
