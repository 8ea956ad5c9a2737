//! Option names in each trainer's own words, so a fix says what to edit where the user edits it
//! (the house rule: "names from the domain, options from the trainer"). The trainer comes from
//! the run's `trainer` key (ingest names it from the files it read); the file and line to edit
//! from the run's `set_in` (where its own arguments set the option).
//!
//! | trainer | grad accumulation | per-device batch | global batch | learning rate | epochs |
//! |---|---|---|---|---|---|
//! | HF Trainer, TRL, LLaMA-Factory, Unsloth (`hf`, `llamafactory`) | `gradient_accumulation_steps` | `per_device_train_batch_size` | — (derived) | `learning_rate` | `num_train_epochs` |
//! | axolotl | `gradient_accumulation_steps` | `micro_batch_size` | — (`batch_size` is per GPU) | `learning_rate` | `num_epochs` |
//! | DeepSpeed JSON | `gradient_accumulation_steps` | `train_micro_batch_size_per_gpu` | `train_batch_size` | `optimizer.params.lr` | — |
//! | Megatron-LM | — (derived: global ÷ (micro × data-parallel size)) | `--micro-batch-size` | `--global-batch-size` | `--lr` | — (`--train-iters`) |
//! | ms-swift | `--gradient_accumulation_steps` | `--per_device_train_batch_size` | — | `--learning_rate` | `--num_train_epochs` |
//! | torchtune recipe | `gradient_accumulation_steps` | `batch_size` | — | `optimizer.lr` | `epochs` |
//! | OLMo (`TrainConfig`) | — (derived: global ÷ (micro × world)) | `device_train_microbatch_size` | `global_train_batch_size` | `optimizer.learning_rate` | — (`max_duration`) |
//! | nanoGPT (`train.py` config) | `gradient_accumulation_steps` (divided by the world size under DDP) | `batch_size` | — | `learning_rate` | — (`max_iters`) |
//!
//! Sources: each trainer's argument parser or config loader (transformers `TrainingArguments`,
//! axolotl's config schema, DeepSpeed's batch-size check, Megatron-LM's arguments, ms-swift's
//! `TrainArguments`, torchtune's recipes, nanoGPT's `train.py`), with commits, in
//! docs/trainers.md.

use crate::model::{ConfigChange, Key, Provenance, Run, format_number};

/// A trainer, as far as its option names go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trainer {
    /// HF Trainer and what is built on it: TRL, LLaMA-Factory, Unsloth.
    Hf,
    Axolotl,
    DeepSpeed,
    Megatron,
    MsSwift,
    Torchtune,
    NanoGpt,
    Olmo,
}

impl Trainer {
    /// The trainer of a run (HF's names when it is not known: the most common).
    pub fn of(run: &Run) -> Trainer {
        match run.config.text(Key::Trainer) {
            Some("axolotl") => Trainer::Axolotl,
            Some("deepspeed") => Trainer::DeepSpeed,
            Some("megatron") => Trainer::Megatron,
            Some("ms-swift") => Trainer::MsSwift,
            Some("torchtune") => Trainer::Torchtune,
            Some("nanogpt") => Trainer::NanoGpt,
            Some("olmo") => Trainer::Olmo,
            _ => Trainer::Hf,
        }
    }

    /// The option that sets `key` in this trainer, if it has one.
    pub fn option(self, key: Key) -> Option<&'static str> {
        use Trainer::*;
        Some(match (self, key) {
            (Megatron, Key::GradAccum) => return None,
            (Megatron, Key::PerDeviceBatch) => "--micro-batch-size",
            (Megatron, Key::EffectiveBatch) => "--global-batch-size",
            (Megatron, Key::LearningRate) => "--lr",
            (Megatron, Key::Epochs) => return None,
            (MsSwift, Key::GradAccum) => "--gradient_accumulation_steps",
            (MsSwift, Key::PerDeviceBatch) => "--per_device_train_batch_size",
            (MsSwift, Key::LearningRate) => "--learning_rate",
            (MsSwift, Key::Epochs) => "--num_train_epochs",
            (DeepSpeed, Key::PerDeviceBatch) => "train_micro_batch_size_per_gpu",
            (DeepSpeed, Key::EffectiveBatch) => "train_batch_size",
            (DeepSpeed, Key::LearningRate) => "optimizer.params.lr",
            (DeepSpeed, Key::Epochs) => "num_train_epochs",
            (Axolotl, Key::PerDeviceBatch) => "micro_batch_size",
            (Axolotl, Key::Epochs) => "num_epochs",
            (Torchtune, Key::PerDeviceBatch) => "batch_size",
            (Torchtune, Key::LearningRate) => "optimizer.lr",
            (Torchtune, Key::Epochs) => "epochs",
            (Olmo, Key::GradAccum) => return None,
            (Olmo, Key::PerDeviceBatch) => "device_train_microbatch_size",
            (Olmo, Key::EffectiveBatch) => "global_train_batch_size",
            (Olmo, Key::LearningRate) => "optimizer.learning_rate",
            (Olmo, Key::Epochs) => return None,
            (NanoGpt, Key::PerDeviceBatch) => "batch_size",
            (NanoGpt, Key::Epochs) => return None,
            (_, Key::GradAccum) => "gradient_accumulation_steps",
            (_, Key::PerDeviceBatch) => "per_device_train_batch_size",
            (_, Key::LearningRate) => "learning_rate",
            (_, Key::Epochs) => "num_train_epochs",
            (_, Key::WarmupRatio) => "warmup_ratio",
            (Megatron, Key::TotalSteps) => "--train-iters",
            (MsSwift, Key::TotalSteps) => "--max_steps",
            (NanoGpt, Key::TotalSteps) => "max_iters",
            (Torchtune | Olmo, Key::TotalSteps) => return None,
            (_, Key::TotalSteps) => "max_steps",
            (_, Key::EffectiveBatch) => return None,
            _ => return None,
        })
    }

    /// Whether the effective batch of a run grows with the number of processes at a fixed
    /// configuration. nanoGPT divides its configured `gradient_accumulation_steps` by the world
    /// size, and Megatron-LM with a fixed `--global-batch-size` derives its accumulation from
    /// it: their effective batch does not grow with GPUs.
    pub fn batch_grows_with_world(self) -> bool {
        !matches!(self, Trainer::NanoGpt)
    }
}

/// A change of `key` for `run` from `from` to `to`, named as the run's trainer names it, with
/// the file and line that set it where known. An option the run's arguments file does not set
/// (its value a default, or read from the logs) is to be added there: the file that sets the
/// run's other options is named, with the line to add. `None` when the trainer has no such
/// option.
pub fn change(run: &Run, key: Key, from: Option<f64>, to: f64) -> Option<ConfigChange> {
    let option = Trainer::of(run).option(key)?;
    let file = match run.config.set_in.get(&key) {
        Some(at) => Some(at.to_string()),
        None => arguments_file(run).map(|path| {
            // In the file's own syntax: a command line's flag, a JSON member, a YAML key.
            let line = if option.starts_with("--") {
                format!("{option} {}", format_number(to))
            } else if path.to_ascii_lowercase().ends_with(".json") {
                format!("\"{option}\": {}", format_number(to))
            } else {
                format!("{option}: {}", format_number(to))
            };
            let assumed = match (&run.config.get(key).map(|v| &v.source), from) {
                (Some(Provenance::Assumed(_)), Some(x)) => {
                    format!(" ({} is assumed, the trainer's default)", format_number(x))
                }
                _ => String::new(),
            };
            format!("{path}: not set there; add `{line}`{assumed}")
        }),
    };
    Some(ConfigChange {
        run: run.label.clone(),
        option: option.into(),
        file,
        from,
        to,
    })
}

/// The file the run's own arguments were read from (where a fix adds an option they leave
/// out): the one that sets its batch or learning rate, else any.
fn arguments_file(run: &Run) -> Option<&str> {
    let path = |key| match run.config.set_in.get(&key)? {
        Provenance::File { path, .. } => Some(path.as_str()),
        _ => None,
    };
    [
        Key::GradAccum,
        Key::PerDeviceBatch,
        Key::LearningRate,
        Key::Epochs,
    ]
    .into_iter()
    .find_map(path)
    .or_else(|| run.config.set_in.keys().find_map(|&k| path(k)))
}

/// The step count a run was set to stop at, when that (not its epochs) is what ended it: a
/// maximum step count in its own arguments (`max_steps: 1600` in a LLaMA-Factory YAML, or in
/// the `TrainingArguments(` its script printed), or —
/// known from its logs alone — a run that reached its total steps partway through an epoch
/// (the Trainer then derives `num_train_epochs` from `max_steps`, rounded up, and changing the
/// epochs changes nothing). A fix that changes how long such a run trains changes this.
pub fn step_limit(run: &Run) -> Option<f64> {
    let total = run.config.num(Key::TotalSteps).filter(|t| *t > 0.0)?;
    if run.config.step_limit.is_some() {
        return Some(total);
    }
    let epochs = run.config.num(Key::Epochs)?;
    let last = run.loss()?.last_finite()?;
    let epoch = last.epoch.get()?;
    let reached = last.step >= total - run.config.num(Key::LoggingSteps).unwrap_or(1.0);
    if !reached || last.step <= 0.0 {
        return None;
    }
    // The epoch at the total step, from the last loss's: that loss may be a logging interval
    // before the end (step 60 at epoch 2.857 of a run whose epochs ended it at step 63, epoch
    // 3), and its printed epoch's rounding grows with the projection.
    let on = total / last.step;
    let at_total = epoch * on;
    let doubt = (crate::ingest::epoch_doubt(epoch) * on).max(0.01);
    (at_total < epochs - doubt).then_some(total)
}

/// The changes that set `run`'s gradient accumulation from `from` to `to`: the accumulation and,
/// where the run's DeepSpeed config sets `train_batch_size` (DeepSpeed refuses one that is not
/// micro batch × accumulation × world size), that too, scaled alike. Empty when the trainer
/// has no accumulation option.
pub fn accumulation(run: &Run, from: f64, to: f64) -> Vec<ConfigChange> {
    if let Some(batch) = axolotl_batch_size(run, from, to) {
        return vec![batch];
    }
    let Some(ga) = change(run, Key::GradAccum, Some(from), to) else {
        return Vec::new();
    };
    let global = (Trainer::of(run) == Trainer::DeepSpeed
        && run.config.set_in.contains_key(&Key::EffectiveBatch))
    .then(|| run.config.num(Key::EffectiveBatch))
    .flatten()
    .map(|b| (b, b * to / from))
    .filter(|(_, new)| *new >= 1.0 && (new - new.round()).abs() < 1e-9)
    .and_then(|(b, new)| change(run, Key::EffectiveBatch, Some(b), new.round()));
    std::iter::once(ga).chain(global).collect()
}

/// An axolotl config that gives `batch_size` and no accumulation: axolotl derives the
/// accumulation from it (`batch_size` ÷ `micro_batch_size`) and refuses a config that sets
/// both, so the change is to `batch_size`, at the micro batch × the new accumulation.
fn axolotl_batch_size(run: &Run, from: f64, to: f64) -> Option<ConfigChange> {
    if Trainer::of(run) != Trainer::Axolotl {
        return None;
    }
    let set = run.config.set_in.get(&Key::GradAccum)?;
    let Provenance::File { at, .. } = set else {
        return None;
    };
    if !at.what().starts_with(crate::ingest::AXOLOTL_BATCH) {
        return None;
    }
    let micro = run.config.num(Key::PerDeviceBatch)?;
    Some(ConfigChange {
        run: run.label.clone(),
        option: "batch_size".into(),
        file: Some(set.to_string()),
        from: Some(micro * from),
        to: micro * to,
    })
}
