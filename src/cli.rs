//! The command line, as clap derives it. Only declarations live here; `config` turns them into
//! the validated [`crate::config::Config`] the pipeline runs on.

use std::path::PathBuf;

use clap::{Parser, ValueEnum};

/// Compare LLM fine-tuning runs by samples seen and explain why one did worse.
///
/// Each RUN is a run directory as the trainer left it (trainer_state.json, trainer_log.jsonl,
/// captured stdout, run configs), a single log file, or `-` for standard input.
#[derive(Debug, Parser)]
#[command(name = "losscmp", bin_name = "losscmp", version, max_term_width = 100)]
pub struct Cli {
    /// Run directories or log files to read; `-` reads standard input.
    #[arg(value_name = "RUN", required_unless_present_any = ["labels"])]
    pub runs: Vec<PathBuf>,

    /// Name a run: `--label run8=path/to/run`. A PATH that is not among the RUN arguments is
    /// added as a run (after them), so `--label a=runs/1gpu --label b=runs/8gpu` is a
    /// comparison. Default name: the directory's name as given (a symlink's own), a file's stem
    /// (`b8.jsonl.gz`: `b8`), or for a name every run's file has (`trainer_state.json`,
    /// `train.log`) its directory's; runs in folders of the same name take the parents that tell
    /// them apart (`1gpu/output`, `8gpu/output`).
    #[arg(long = "label", value_name = "NAME=PATH")]
    pub labels: Vec<String>,

    /// Judge a training configuration before launch against the baseline run: LLaMA-Factory
    /// or axolotl YAML, training_args.json, DeepSpeed JSON, torchtune YAML, or a launch script
    /// (`torchrun --nproc_per_node 8 …`), whose world size is read. Repeatable; named by the
    /// file stem (`new.yaml`: new), by its folder for a name every run's config has
    /// (`run8/config.yaml`: run8), or by `--label NAME=FILE`.
    #[arg(long = "plan", value_name = "FILE")]
    pub plans: Vec<PathBuf>,

    /// Keep reading the runs as they grow (only what each file gained), rewrite the outputs
    /// each interval, and print a line when the verdict changes. Stops when the runs stop
    /// growing for `--idle` intervals or training ends (exit 0), or, with `--fail-on`, as soon
    /// as a finding at that severity holds (exit 1).
    #[arg(long)]
    pub follow: bool,

    /// Seconds between reads with `--follow`.
    #[arg(
        long,
        value_name = "S",
        default_value_t = 30.0,
        requires = "follow",
        allow_negative_numbers = true
    )]
    pub interval: f64,

    /// With `--follow`: stop after this many intervals in which no run grew.
    #[arg(long, value_name = "N", default_value_t = 10, requires = "follow")]
    pub idle: u32,

    /// Set what a log lacks: `--set run8:world_size=8`. Keys: world_size, per_device_batch,
    /// grad_accum, effective_batch, learning_rate, num_examples, epochs, total_steps, ...
    #[arg(long = "set", value_name = "RUN:KEY=VALUE")]
    pub sets: Vec<String>,

    /// The reference run every other run is compared with (label or path). Default: the first.
    #[arg(long, value_name = "RUN")]
    pub baseline: Option<String>,

    /// The x-axis of the charts and of smoothing (default: samples). Diagnoses always compare at
    /// matched samples (epochs when samples are unknown) and at matched optimizer steps.
    #[arg(long, value_enum)]
    pub x: Option<AxisArg>,

    /// Smooth curves with an EMA over x distance: weight W in [0, 1) per 1/100 of the x range
    /// (0.6 is TensorBoard's default strength). Raw values stay in the exports.
    #[arg(long, value_name = "W", allow_negative_numbers = true)]
    pub smooth: Option<f64>,

    /// Relative loss increase over the baseline that counts as a regression (0.05 = 5%); a mean
    /// gap under 0.01 in absolute loss never does (below it, differences are logging and bf16
    /// noise: a loss of 0.0004 against 0.0002 is no regression).
    #[arg(
        long,
        value_name = "FRACTION",
        default_value_t = 0.05,
        allow_negative_numbers = true
    )]
    pub tolerance: f64,

    /// Exit with status 1 when a finding at or above this severity exists.
    #[arg(long, value_enum, value_name = "SEVERITY")]
    pub fail_on: Option<SeverityArg>,

    /// Write runs, configs with provenance, summaries and findings as JSON (`-` for stdout).
    #[arg(long, value_name = "FILE|-")]
    pub json: Option<PathBuf>,

    /// Write a self-contained HTML report (charts inline, no external URL).
    #[arg(long, value_name = "FILE.html")]
    pub out: Option<PathBuf>,

    /// Write the headline pair (loss by samples seen and by optimizer steps) side by side under
    /// the verdict in one line, as SVG or PNG (by extension).
    #[arg(long, value_name = "FILE.svg|FILE.png")]
    pub plot: Option<PathBuf>,

    /// The PNG's resolution as a multiple of the page's charts (1 to 4).
    #[arg(long, value_name = "N", default_value_t = 2.0)]
    pub plot_scale: f64,

    /// Write every point of every run as one long CSV table (`-` for stdout).
    #[arg(long, value_name = "FILE|-")]
    pub csv: Option<PathBuf>,

    /// Write every point of every run as one long Parquet table (`-` for stdout, to a pipe).
    #[arg(long, value_name = "FILE|-")]
    pub parquet: Option<PathBuf>,

    /// Write a compact Markdown summary (for a CI job summary or a PR comment; `-` for stdout).
    #[arg(long, value_name = "FILE|-")]
    pub markdown: Option<PathBuf>,

    /// Write the findings as a JUnit XML file (one test case per finding; failures at or above
    /// `--fail-on`), for the test reporters of Jenkins, GitLab and GitHub (`-` for stdout).
    #[arg(long, value_name = "FILE.xml|-")]
    pub junit: Option<PathBuf>,

    /// Append this comparison to a hive-partitioned Parquet dataset for dashboards:
    /// DIR/points/date=YYYY-MM-DD/… (every point) and DIR/runs/date=YYYY-MM-DD/… (a row per run).
    #[arg(long, value_name = "DIR")]
    pub dataset: Option<PathBuf>,

    /// The date partition `--dataset` writes to (default: today, UTC).
    #[arg(long, value_name = "YYYY-MM-DD", requires = "dataset")]
    pub dataset_date: Option<String>,

    /// When to colour terminal output (NO_COLOR is honoured with `auto`).
    #[arg(long, value_enum, default_value_t = ColorArg::Auto)]
    pub color: ColorArg,

    /// Read CSV/TSV tables through a column mapping: `--columns step=Step,loss=train/loss`.
    /// Keys: step (required), epoch, samples, tokens, time, or any metric name.
    #[arg(long, value_name = "KEY=COLUMN,...", value_delimiter = ',')]
    pub columns: Vec<String>,

    /// Show each run's configuration (every value with the file and line it came from), point
    /// counts and files read, after the verdict.
    #[arg(short, long)]
    pub verbose: bool,

    /// Print how long each stage took (read, align, diagnose, report) to stderr.
    #[arg(long)]
    pub timings: bool,
}

/// `--x` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AxisArg {
    /// Samples seen: step × effective batch.
    Samples,
    /// Tokens seen, where the trainer counted them.
    Tokens,
    /// Epochs.
    Epoch,
    /// Optimizer steps.
    Step,
    /// Seconds since the start of training.
    Time,
}

/// `--fail-on` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SeverityArg {
    /// Any finding.
    Info,
    /// Warnings and errors.
    Warning,
    /// Errors only.
    Error,
}

/// `--color` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorArg {
    /// Colour when stdout is a terminal and NO_COLOR is unset.
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}
