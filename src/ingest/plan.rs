//! `--plan FILE`: a training configuration that has not run, read as a [`Run`] with a predicted
//! configuration and no series, so that the batch checks can judge it before launch.
//!
//! FILE is one of:
//! - run arguments: LLaMA-Factory or axolotl YAML, HF `training_args.json` (read as for a run);
//! - a DeepSpeed JSON (`train_micro_batch_size_per_gpu`, `gradient_accumulation_steps`,
//!   `train_batch_size`, `optimizer.params.lr`);
//! - a torchtune recipe YAML (`batch_size`, `gradient_accumulation_steps`, `epochs`,
//!   `optimizer.lr`; recognised by its `_component_` keys);
//! - a launch script or command line, its shell variables followed: `torchrun --nproc_per_node
//!   8 …`, `NPROC_PER_NODE=8 FORCE_TORCHRUN=1 llamafactory-cli train x.yaml`, `export
//!   NPROC_PER_NODE=8`, `accelerate launch --num_processes 8 …`, `deepspeed --num_gpus 8 …`,
//!   `python -m torch.distributed.run …`. The world size is read from
//!   the launcher, HF options given inline (`--gradient_accumulation_steps 8`) are read, and the
//!   config files it names (`x.yaml`, `--deepspeed ds.json`) are read beside it.
//!
//! What the plan does not state comes from the baseline, marked "assumed": the number of
//! examples (the same data), the epochs, the trainer; the world size is assumed 1 when nothing
//! names it, with a warning naming the `--set` that gives it. The planned optimizer steps are
//! predicted with the HF Trainer's rule, ⌈N ÷ (b × w)⌉ batches per process and epoch, divided by
//! the accumulation (rounded the way that reproduces the baseline's own steps per epoch).

use crate::model::At;
use std::path::{Path, PathBuf};

use super::formats::{self, run_args};
use super::{Fact, Parsed, ReadFile, RunSpec, resolve};
use crate::ingest::IngestError;
use crate::model::{ConfigValue, Key, Provenance, Run, SourceFile};

/// DeepSpeed's configuration keys.
const DEEPSPEED: [(&str, Key); 4] = [
    ("train_micro_batch_size_per_gpu", Key::PerDeviceBatch),
    ("gradient_accumulation_steps", Key::GradAccum),
    ("train_batch_size", Key::EffectiveBatch),
    ("optimizer.params.lr", Key::LearningRate),
];

/// torchtune recipe keys.
const TORCHTUNE: [(&str, Key); 5] = [
    ("batch_size", Key::PerDeviceBatch),
    ("gradient_accumulation_steps", Key::GradAccum),
    ("epochs", Key::Epochs),
    ("optimizer.lr", Key::LearningRate),
    ("lr_scheduler.num_warmup_steps", Key::WarmupSteps),
];

/// HF `TrainingArguments` given on a command line (`--name value` or `--name=value`).
const INLINE: [(&str, Key); 9] = [
    ("per_device_train_batch_size", Key::PerDeviceBatch),
    ("gradient_accumulation_steps", Key::GradAccum),
    ("learning_rate", Key::LearningRate),
    ("num_train_epochs", Key::Epochs),
    ("max_steps", Key::TotalSteps),
    ("warmup_ratio", Key::WarmupRatio),
    ("warmup_steps", Key::WarmupSteps),
    ("lr_scheduler_type", Key::Scheduler),
    ("optim", Key::Optimizer),
];

/// Reads a plan and predicts what it will do from the baseline.
pub fn read_plan(spec: &RunSpec, baseline: &Run) -> Result<Run, IngestError> {
    let path = &spec.path;
    let mut files = Vec::new();
    let mut warnings = Vec::new();
    let mut autos = Vec::new();
    read_plan_file(path, &mut files, &mut warnings, &mut autos, 0)?;
    // What reading a file warned of (a value that is not a number, at its line), as a run's.
    for f in &files {
        for w in &f.parsed.warnings {
            warnings.push(format!("{}: {w}", f.path));
        }
    }
    // With max_steps set, transformers ignores num_train_epochs (it trains max_steps updates and
    // writes the epochs that takes, rounded up): the plan's epochs say nothing then.
    let step_limited = files
        .iter()
        .any(|f| f.parsed.facts.iter().any(|x| x.key == Key::TotalSteps));
    if step_limited {
        for f in &mut files {
            f.parsed.facts.retain(|x| x.key != Key::Epochs);
        }
    }
    let mut cfg = resolve::resolve(&files, &spec.overrides, &mut warnings);
    // A DeepSpeed option set to "auto" is where a fix of it is made (its line named, with
    // what "auto" means), not an option to add.
    for (key, at) in autos {
        cfg.set_in.entry(key).or_insert(at);
    }
    let sources = files
        .iter()
        .map(|f| SourceFile {
            path: f.path.clone(),
            format: Some("plan"),
            note: format!("{} planned settings", f.parsed.facts.len()),
        })
        .collect();
    let from_baseline = |key: Key| -> Option<(ConfigValue, Provenance)> {
        let v = baseline.config.get(key)?;
        Some((
            v.value.clone(),
            Provenance::Assumed(format!(
                "as in the baseline {} ({}): the plan does not say",
                baseline.label, v.source
            )),
        ))
    };
    if cfg.get(Key::WorldSize).is_none() && cfg.get(Key::EffectiveBatch).is_none() {
        warnings.push(format!(
            "{}: no world size in the plan; assumed 1 process (give the launch command, or --set {}:world_size=N)",
            path.display(),
            crate::model::shell_label(&spec.label)
        ));
        cfg.set_if_absent(
            Key::WorldSize,
            ConfigValue::Number(1.0),
            Provenance::Assumed(format!(
                "1 process: the plan names no launcher or world size (--set {}:world_size=N)",
                crate::model::shell_label(&spec.label)
            )),
        );
    }
    trainer_defaults(&mut cfg, spec, &mut warnings);
    for key in [Key::NumExamples, Key::Trainer, Key::Optimizer] {
        if cfg.get(key).is_none() {
            if let Some((v, p)) = from_baseline(key) {
                cfg.set_if_absent(key, v, p);
            }
        }
    }
    if cfg.get(Key::Epochs).is_none() && cfg.get(Key::TotalSteps).is_none() {
        if let Some((v, p)) = from_baseline(Key::Epochs) {
            cfg.set_if_absent(Key::Epochs, v, p);
        }
    }
    resolve::derive(&mut cfg, &files);
    predict_steps(&mut cfg, baseline);
    Ok(Run {
        label: spec.label.clone(),
        path: path.display().to_string(),
        sources,
        config: cfg,
        series: Default::default(),
        warnings,
        planned: true,
        crashed: None,
        stopped_early: None,
    })
}

/// The batch options an HF Trainer or LLaMA-Factory plan leaves out take transformers'
/// defaults, what the trainer will run with (per-device batch 8, accumulation 1), marked assumed
/// and said. Other trainers' plans are not filled: axolotl's accumulation is read from its
/// `batch_size` where it is derived from it (`run_args`), DeepSpeed's `"auto"` follows from the
/// trainer's arguments, nanoGPT's default is 40. A plan that states its effective batch needs
/// neither.
fn trainer_defaults(cfg: &mut crate::model::RunConfig, spec: &RunSpec, warnings: &mut Vec<String>) {
    if cfg.get(Key::EffectiveBatch).is_some()
        || !matches!(cfg.text(Key::Trainer), None | Some("llamafactory"))
    {
        return;
    }
    let source = "transformers' TrainingArguments";
    let mut assumed = Vec::new();
    for (key, value, option) in [
        (Key::PerDeviceBatch, 8.0, "per_device_train_batch_size"),
        (Key::GradAccum, 1.0, "gradient_accumulation_steps"),
    ] {
        if cfg.get(key).is_none() {
            cfg.set_if_absent(
                key,
                ConfigValue::Number(value),
                Provenance::Assumed(format!(
                    "the default of {source}; the plan gives no value for {option} (--set {}:{}=N)",
                    crate::model::shell_label(&spec.label),
                    key.name()
                )),
            );
            assumed.push((option, value, key.name()));
        }
    }
    if !assumed.is_empty() {
        let list = |f: &dyn Fn(&(&str, f64, &str)) -> String, sep: &str| {
            assumed.iter().map(f).collect::<Vec<_>>().join(sep)
        };
        warnings.push(format!(
            "{}: the plan gives no value for {}; assumed the default{} of {source}: {} ({})",
            spec.path.display(),
            list(&|a| a.0.to_string(), " or "),
            if assumed.len() == 1 { "" } else { "s" },
            list(&|a| crate::model::format_number(a.1), " and "),
            list(
                &|a| format!("--set {}:{}=N", crate::model::shell_label(&spec.label), a.2),
                ", "
            )
        ));
    }
}

/// Predicts the optimizer steps per epoch and in all, when the plan does not fix `max_steps`.
fn predict_steps(cfg: &mut crate::model::RunConfig, baseline: &Run) {
    use Key::*;
    if cfg.get(NumExamples).is_none() {
        return;
    }
    // Batches per process and epoch, then updates: HF's DistributedSampler pads every process to
    // ⌈N ÷ w⌉ examples, the dataloader makes ⌈· ÷ b⌉ batches; the Trainer divides by GA.
    let per_epoch = |c: &crate::model::RunConfig, ceil: bool| -> Option<(f64, String)> {
        let n = c.num(NumExamples)?;
        if let (Some(w), Some(b), Some(g)) =
            (c.num(WorldSize), c.num(PerDeviceBatch), c.num(GradAccum))
        {
            let batches = (n / (b * w)).ceil();
            let s = if ceil {
                (batches / g).ceil()
            } else {
                (batches / g).floor()
            };
            let how = format!(
                "⌈num_examples {n} ÷ (per_device_batch {b} × world_size {w})⌉ = {batches} batches per process, ÷ grad_accum {g} rounded {}",
                if ceil { "up" } else { "down" }
            );
            return Some((s.max(1.0), how));
        }
        let e = c.num(EffectiveBatch)?;
        Some((
            (n / e).ceil().max(1.0),
            format!("⌈num_examples {n} ÷ effective_batch {e}⌉"),
        ))
    };
    // The rounding that reproduces the baseline's own steps per epoch (transformers changed it
    // in 4.46); down, the older rule, when the baseline cannot tell.
    let base_spe = baseline.config.num(StepsPerEpoch);
    let ceil = base_spe.is_some_and(|spe| {
        per_epoch(&baseline.config, true).is_some_and(|(s, _)| s == spe)
            && per_epoch(&baseline.config, false).is_none_or(|(s, _)| s != spe)
    });
    let check = match (base_spe, per_epoch(&baseline.config, ceil)) {
        (Some(spe), Some((s, _))) if s == spe => format!(
            "; the same rule gives the baseline {}'s {spe}",
            baseline.label
        ),
        _ => String::new(),
    };
    if cfg.get(StepsPerEpoch).is_none() {
        if let Some((spe, how)) = per_epoch(cfg, ceil) {
            cfg.set_if_absent(
                StepsPerEpoch,
                ConfigValue::Number(spe),
                Provenance::Derived(format!("predicted: {how}{check}")),
            );
        }
    }
    if cfg.get(TotalSteps).is_none() {
        if let (Some(spe), Some(e)) = (cfg.num(StepsPerEpoch), cfg.num(Epochs)) {
            cfg.set_if_absent(
                TotalSteps,
                ConfigValue::Number((spe * e).ceil()),
                Provenance::Derived(format!("predicted: ⌈steps_per_epoch {spe} × epochs {e}⌉")),
            );
        }
    }
    if cfg.get(Epochs).is_none() {
        // A plan stopped by max_steps: the epochs it takes.
        if let (Some(spe), Some(t)) = (cfg.num(StepsPerEpoch), cfg.num(TotalSteps)) {
            cfg.set_if_absent(
                Epochs,
                ConfigValue::Number(t / spe),
                Provenance::Derived(format!(
                    "predicted: total_steps {t} ÷ steps_per_epoch {spe}"
                )),
            );
        }
    }
    if cfg.get(WarmupSteps).is_none() {
        if let (Some(r), Some(t)) = (cfg.num(WarmupRatio), cfg.num(TotalSteps)) {
            cfg.set_if_absent(
                WarmupSteps,
                ConfigValue::Number((r * t).ceil()),
                Provenance::Derived(format!("predicted: ⌈warmup_ratio {r} × total_steps {t}⌉")),
            );
        }
    }
}

/// Reads one plan file (and, for a launch script, the files it names) into `files`.
fn read_plan_file(
    path: &Path,
    files: &mut Vec<ReadFile>,
    warnings: &mut Vec<String>,
    autos: &mut Vec<(Key, Provenance)>,
    depth: usize,
) -> Result<(), IngestError> {
    let display = path.display().to_string();
    let before = files.len();
    let text = super::source::read_to_string(path)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let json = text.trim_start().starts_with('{');
    let yaml = name.ends_with(".yaml") || name.ends_with(".yml");
    // A JSON plan is split into its pairs once. A DeepSpeed config is told by its own batch
    // keys, as keys: HF's training_args.json holds `per_device_train_batch_size`, whose text
    // contains `train_batch_size`.
    let pairs = if json {
        Some(run_args::json_pairs(&text, &display)?)
    } else {
        None
    };
    let own = |k: &str| k == DEEPSPEED[0].0 || k == DEEPSPEED[2].0;
    let parsed = if let Some(pairs) = pairs.as_ref().filter(|p| p.iter().any(|(k, _)| own(k))) {
        for (option, value) in pairs {
            let Some(&(_, key)) = DEEPSPEED.iter().find(|(o, _)| o == option) else {
                continue;
            };
            if value.trim_matches('"').eq_ignore_ascii_case("auto") {
                let at = run_args::locate(&text, option);
                let what = format!(
                    "{} is \"auto\": DeepSpeed takes it from the HF arguments",
                    at.what()
                );
                autos.push((key, Provenance::file(display.clone(), at.with(what))));
            }
        }
        let mut p = mapped(pairs, &DEEPSPEED, &text);
        p.text_fact(
            Key::Trainer,
            "deepspeed",
            "train_micro_batch_size_per_gpu",
            1,
        );
        p
    } else if yaml && text.contains("_component_") {
        let pairs = run_args::yaml_pairs(&text, &display)?;
        let mut p = mapped(&pairs, &TORCHTUNE, &text);
        p.text_fact(Key::Trainer, "torchtune", "_component_", 1);
        p
    } else if let Some(pairs) = &pairs {
        run_args::from_pairs(pairs, &text)
    } else if yaml {
        run_args::read(&text, &display)?
    } else {
        let launch = launch_command(&text);
        if launch.facts.is_empty() && launch.configs.is_empty() {
            return Err(IngestError::NothingUsable {
                path: display,
                format: "plan (a run config or launch command)",
                why: String::new(),
            });
        }
        let p = Parsed {
            facts: launch.facts,
            ..Default::default()
        };
        if depth == 0 {
            let dir = path.parent().unwrap_or(Path::new("."));
            for c in launch.configs {
                let found = [dir.join(&c), PathBuf::from(&c)]
                    .into_iter()
                    .find(|p| p.is_file());
                match found {
                    Some(f) => read_plan_file(&f, files, warnings, autos, depth + 1)?,
                    None => warnings.push(format!(
                        "{display}: names {c}, which is not there (looked beside it and in the current directory); its settings are not read"
                    )),
                }
            }
        }
        p
    };
    // A config with no setting read (empty, or none of the options losscmp knows), and no
    // config it names read either, plans nothing: refused as a launch script without a
    // launcher is, not judged on defaults.
    if parsed.facts.is_empty() && files.len() == before {
        if depth == 0 {
            return Err(IngestError::NothingUsable {
                path: display,
                format: "plan (a run config or launch command)",
                why: String::new(),
            });
        }
        warnings.push(format!(
            "{display}: holds no setting losscmp reads (batch, accumulation, learning rate, epochs, steps)"
        ));
    }
    // A launch script comes first: what it states (the world size) outranks nothing, but its
    // config files are read after it.
    let file = ReadFile {
        path: display,
        format: formats::RUN_ARGS,
        parsed,
    };
    if depth == 0 {
        files.insert(0, file);
    } else {
        files.push(file);
    }
    Ok(())
}

/// Facts from `(option, value)` pairs through a table of option names.
fn mapped(pairs: &[(String, String)], table: &[(&str, Key)], text: &str) -> Parsed {
    let mut out = Parsed::default();
    for (option, value) in pairs {
        let Some(&(_, key)) = table.iter().find(|(o, _)| o == option) else {
            continue;
        };
        if let Some(x) = super::lenient::parse_number(value) {
            if x > 0.0 {
                out.fact(key, x, run_args::locate(text, option), 1);
            }
        }
    }
    out
}

/// A launch script's shell variables, line by line: `NAME=value` (set), `export NAME=value`
/// (set and in the environment of the commands after it), each with the line it is set on.
#[derive(Default)]
struct Shell {
    vars: Vec<(String, String, usize)>,
    exported: Vec<String>,
}

impl Shell {
    /// Takes the assignments of a line that is only assignments (`A=1 B=2`, `export A=1`);
    /// false for a command.
    fn assigns(&mut self, words: &[(usize, String)]) -> bool {
        let export = words.first().is_some_and(|(_, w)| w == "export");
        let rest = &words[usize::from(export)..];
        let assignment = |w: &str| {
            w.split_once('=')
                .is_some_and(|(name, _)| crate::ingest::lenient::identifier(name))
        };
        if rest.is_empty() || !rest.iter().all(|(_, w)| assignment(w)) {
            // `export NAME` of a variable set before.
            if export && !rest.is_empty() && rest.iter().all(|(_, w)| !w.contains('=')) {
                self.exported.extend(rest.iter().map(|(_, w)| w.clone()));
                return true;
            }
            return false;
        }
        for (line, w) in rest {
            let Some((name, value)) = w.split_once('=') else {
                continue;
            };
            let value = self.expand_text(value);
            self.vars.retain(|(n, _, _)| n != name);
            self.vars.push((name.to_string(), value, *line));
            if export {
                self.exported.push(name.to_string());
            }
        }
        true
    }

    /// The value of `$NAME`, `${NAME}`, `${NAME:-default}` and `${NAME-default}` references in
    /// `text` (a name never set gives its default, or stays as written).
    fn expand_text(&self, text: &str) -> String {
        self.expand_word(text).0
    }

    /// [`Shell::expand_text`], and the line the last variable it used was set on.
    fn expand_word(&self, text: &str) -> (String, Option<usize>) {
        let mut out = String::with_capacity(text.len());
        let mut line = None;
        let mut rest = text;
        while let Some(at) = rest.find('$') {
            out.push_str(&rest[..at]);
            let after = &rest[at + 1..];
            let (name, default, len) = if let Some(body) = after.strip_prefix('{') {
                let Some(close) = body.find('}') else {
                    out.push('$');
                    rest = after;
                    continue;
                };
                let inner = &body[..close];
                let (name, default) = match inner.split_once(":-").or_else(|| inner.split_once('-'))
                {
                    Some((n, d)) => (n, Some(d)),
                    None => (inner, None),
                };
                (name, default, close + 2)
            } else {
                let len = after
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(after.len());
                (&after[..len], None, len)
            };
            match self.vars.iter().find(|(n, _, _)| n == name) {
                Some((_, value, set)) if !name.is_empty() => {
                    out.push_str(value);
                    line = Some(*set);
                }
                _ => match default {
                    Some(d) if !name.is_empty() => out.push_str(&self.expand_text(d)),
                    _ => out.push_str(&rest[at..at + 1 + len]),
                },
            }
            rest = &after[len..];
        }
        out.push_str(rest);
        (out, line)
    }

    /// A command's words with their variables' values; a word made from a variable is at the
    /// line the variable was set on (where its value is edited).
    fn expand(&self, words: Vec<(usize, String)>) -> Vec<(usize, String)> {
        words
            .into_iter()
            .map(|(line, w)| {
                let (text, set) = self.expand_word(&w);
                (set.unwrap_or(line), text)
            })
            .collect()
    }

    /// The exported variables, as `NAME=value` words at the lines they were set on.
    fn environment(&self) -> impl Iterator<Item = (usize, String)> + '_ {
        self.vars
            .iter()
            .filter(|(n, _, _)| self.exported.contains(n))
            .map(|(n, v, line)| (*line, format!("{n}={v}")))
    }
}

/// What a launch command states.
#[derive(Debug, Default, PartialEq)]
struct Launch {
    facts: Vec<Fact>,
    /// Config files it names, as written.
    configs: Vec<String>,
}

/// Reads a launch script or command line: the world size from the launcher (`torchrun
/// --nproc_per_node N [--nnodes M]`, `accelerate launch --num_processes N`, `deepspeed
/// --num_gpus N [--num_nodes M]`, `NPROC_PER_NODE=N [NNODES=M]`, `CUDA_VISIBLE_DEVICES=0,1,…`
/// before `llamafactory-cli`), inline HF options, and the config files named.
fn launch_command(text: &str) -> Launch {
    let mut out = Launch::default();
    // Backslash-continued lines are one command; comments are dropped. Each word keeps the
    // line it is on, which is where a fix says to edit it.
    let mut logical: Vec<Vec<(usize, String)>> = Vec::new();
    let mut pending: Option<Vec<(usize, String)>> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split(" #").next().unwrap_or(raw);
        if line.trim_start().starts_with('#') {
            continue;
        }
        let (body, cont) = match line.trim_end().strip_suffix('\\') {
            Some(b) => (b, true),
            None => (line, false),
        };
        let words = body
            .split_whitespace()
            .map(|t| (i + 1, t.trim_matches(|c| c == '"' || c == '\'').to_string()));
        pending.get_or_insert_with(Vec::new).extend(words);
        if !cont {
            logical.extend(pending.take());
        }
    }
    logical.extend(pending);
    // The script's variables, as the shell would have them when each command runs: `NGPU=8`
    // for `--nproc_per_node $NGPU`, and `export NPROC_PER_NODE=8`, which the launcher reads from
    // its environment.
    let mut shell = Shell::default();
    for words in logical {
        if shell.assigns(&words) {
            continue;
        }
        let words = shell.expand(words);
        let (lines, tokens): (Vec<usize>, Vec<String>) = words.into_iter().unzip();
        let lineno = lines.first().copied().unwrap_or(1);
        let launcher = tokens.iter().any(|t| {
            let t = t.rsplit('/').next().unwrap_or(t);
            matches!(
                t,
                "torchrun"
                    | "accelerate"
                    | "deepspeed"
                    | "llamafactory-cli"
                    | "lmf"
                    | "axolotl"
                    | "tune"
            ) || t == "torch.distributed.run"
                || t == "torch.distributed.launch"
        });
        if !launcher {
            continue;
        }
        // An exported variable the command line does not set itself, as if it had.
        let (lines, tokens): (Vec<usize>, Vec<String>) = lines
            .into_iter()
            .zip(tokens)
            .chain(shell.environment())
            .unzip();
        let value = |names: &[&str]| -> Option<(f64, At)> {
            for (i, t) in tokens.iter().enumerate() {
                for n in names {
                    // The value's word, and its line (a variable's value: where it was set).
                    let v = if let Some(v) = t.strip_prefix(&format!("{n}=")) {
                        Some((v.to_string(), lines[i]))
                    } else if t == n {
                        tokens.get(i + 1).cloned().zip(lines.get(i + 1).copied())
                    } else {
                        None
                    };
                    if let Some((x, line)) =
                        v.and_then(|(v, line)| Some((super::lenient::parse_number(&v)?, line)))
                    {
                        if x.is_finite() && x > 0.0 {
                            return Some((x, At::line(line, format!("{n} {x}"))));
                        }
                    }
                }
            }
            None
        };
        let per_node = value(&[
            "--nproc_per_node",
            "--nproc-per-node",
            "--num_gpus",
            "--num-gpus",
            "NPROC_PER_NODE",
        ]);
        let nodes = value(&["--nnodes", "--num_nodes", "--num-nodes", "NNODES"]);
        let total = value(&["--num_processes", "--num-processes"]);
        let visible = tokens.iter().zip(&lines).find_map(|(t, &line)| {
            let v = t.strip_prefix("CUDA_VISIBLE_DEVICES=")?;
            let n = v.split(',').filter(|d| !d.trim().is_empty()).count();
            (n > 0).then(|| {
                (
                    n as f64,
                    At::line(line, format!("CUDA_VISIBLE_DEVICES={v}")),
                )
            })
        });
        let world = match (total, per_node, visible) {
            (Some(t), _, _) => Some(t),
            (None, Some((p, at)), _) => Some(match &nodes {
                Some((m, at_m)) => (
                    p * m,
                    At::line(lineno, format!("{} × {}", at.what(), at_m.what())),
                ),
                None => (p, at),
            }),
            (None, None, Some(v)) => Some(v),
            _ => None,
        };
        if let Some((w, at)) = world {
            out.facts.push(Fact {
                key: Key::WorldSize,
                value: ConfigValue::Number(w),
                locator: at,
                rank: 0,
            });
        }
        for &(option, key) in &INLINE {
            let flag = format!("--{option}");
            let Some((x, at)) = value(&[flag.as_str()]) else {
                if matches!(key, Key::Scheduler | Key::Optimizer) {
                    if let Some((i, v)) = tokens
                        .iter()
                        .position(|t| *t == flag)
                        .and_then(|i| Some((i, tokens.get(i + 1)?)))
                    {
                        out.facts.push(Fact {
                            key,
                            value: ConfigValue::Text(v.clone()),
                            locator: At::line(lines[i], flag.to_string()),
                            rank: 1,
                        });
                    }
                }
                continue;
            };
            out.facts.push(Fact {
                key,
                value: ConfigValue::Number(x),
                locator: at.with(flag.to_string()),
                rank: 1,
            });
        }
        for (i, t) in tokens.iter().enumerate() {
            let lower = t.to_ascii_lowercase();
            let config = [".yaml", ".yml", ".json"]
                .iter()
                .any(|e| lower.ends_with(e));
            // accelerate's own config file holds its launch settings, not the training's.
            let accelerate_cfg = i > 0 && tokens[i - 1] == "--config_file";
            if config && !accelerate_cfg && !out.configs.contains(t) {
                out.configs.push(t.clone());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn world(text: &str) -> Option<f64> {
        launch_command(text)
            .facts
            .iter()
            .find(|f| f.key == Key::WorldSize)
            .and_then(|f| f.value.as_f64())
    }

    #[test]
    fn launchers_give_the_world_size() {
        assert_eq!(world("torchrun --nproc_per_node 8 train.py"), Some(8.0));
        assert_eq!(
            world("torchrun --nnodes=2 --nproc-per-node=4 train.py"),
            Some(8.0)
        );
        assert_eq!(
            world("NPROC_PER_NODE=8 FORCE_TORCHRUN=1 llamafactory-cli train x.yaml"),
            Some(8.0)
        );
        assert_eq!(
            world("accelerate launch --num_processes 4 train.py"),
            Some(4.0)
        );
        assert_eq!(
            world("deepspeed --num_gpus 8 train.py --deepspeed ds.json"),
            Some(8.0)
        );
        assert_eq!(
            world("CUDA_VISIBLE_DEVICES=0,1,2,3 llamafactory-cli train x.yaml"),
            Some(4.0)
        );
        assert_eq!(world("llamafactory-cli train x.yaml"), None);
        assert_eq!(world("echo --nproc_per_node 8"), None, "not a launcher");
    }

    #[test]
    fn script_variables_give_the_world_size() {
        let at = |text: &str| {
            launch_command(text)
                .facts
                .iter()
                .find(|f| f.key == Key::WorldSize)
                .map(|f| (f.value.as_f64(), f.locator.clone()))
        };
        // Exported, the launcher reads it from its environment.
        assert_eq!(
            at("export FORCE_TORCHRUN=1\nexport NPROC_PER_NODE=8\nllamafactory-cli train x.yaml\n"),
            Some((Some(8.0), At::line(2, "NPROC_PER_NODE 8")))
        );
        assert_eq!(
            at("NPROC_PER_NODE=4\nexport NPROC_PER_NODE\nllamafactory-cli train x.yaml\n"),
            Some((Some(4.0), At::line(1, "NPROC_PER_NODE 4")))
        );
        // A variable's value, at the line it is set on (where it is edited).
        assert_eq!(
            at("NGPU=8\ntorchrun --nproc_per_node $NGPU train.py\n"),
            Some((Some(8.0), At::line(1, "--nproc_per_node 8")))
        );
        assert_eq!(
            at("N=2\ntorchrun --nnodes=${N} --nproc_per_node=${GPUS:-4} train.py\n").map(|a| a.0),
            Some(Some(8.0))
        );
        // The command line's own setting wins over an exported one.
        assert_eq!(
            at("export NPROC_PER_NODE=8\nNPROC_PER_NODE=2 llamafactory-cli train x.yaml\n")
                .map(|a| a.0),
            Some(Some(2.0))
        );
        // Set but not exported: the launcher does not see it, as the shell has it.
        assert_eq!(
            at("NPROC_PER_NODE=8\nllamafactory-cli train x.yaml\n"),
            None
        );
        // A value the script computes cannot be read.
        assert_eq!(
            at("NGPU=$(nvidia-smi -L | wc -l)\ntorchrun --nproc_per_node $NGPU t.py\n"),
            None
        );
    }

    #[test]
    fn scripts_name_configs_and_inline_options() {
        let l = launch_command(
            "#!/bin/sh\n# --nproc_per_node 2 in a comment\ntorchrun --nproc_per_node 8 \\\n  train.py --deepspeed ds_z2.json \\\n  --gradient_accumulation_steps=8 --learning_rate 2e-4\n",
        );
        assert_eq!(l.configs, vec!["ds_z2.json".to_string()]);
        let get = |k: Key| {
            l.facts
                .iter()
                .find(|f| f.key == k)
                .map(|f| (f.value.as_f64(), f.locator.clone()))
        };
        assert_eq!(get(Key::WorldSize).map(|g| g.0), Some(Some(8.0)));
        // Each option at the line it is written on, not where its command starts (line 3).
        assert_eq!(
            get(Key::GradAccum),
            Some((Some(8.0), At::line(5, "--gradient_accumulation_steps")))
        );
        assert_eq!(
            get(Key::LearningRate),
            Some((Some(2e-4), At::line(5, "--learning_rate")))
        );
        assert_eq!(
            get(Key::WorldSize),
            Some((Some(8.0), At::line(3, "--nproc_per_node 8")))
        );
    }
}
