//! One value per configuration key: `--set` overrides first, then the facts files state (the
//! lowest rank wins: what the trainer printed it used, then the arguments it was given, then
//! state written after the fact), then what can be derived from those. Every value keeps its
//! provenance; conflicts between files are reported.

use super::ReadFile;
use crate::model::{ConfigValue, Coordinate, Key, Provenance, RunConfig, Shown, Sourced};

/// How close to a whole number a derived batch size must be to be taken as that number; the
/// samples/s route loses precision to 3-decimal rounding and partial last batches.
const INTEGER_TOLERANCE: f64 = 0.02;

/// Relative difference within which two files state the same value (4 significant digits).
const PRINTED_PRECISION: f64 = 1e-3;

/// Resolves a run's configuration from its files and overrides.
pub fn resolve(
    files: &[ReadFile],
    overrides: &[(Key, ConfigValue)],
    warnings: &mut Vec<String>,
) -> RunConfig {
    let mut cfg = RunConfig::default();
    for (key, value) in overrides {
        cfg.values.insert(
            *key,
            Sourced::new(
                value.clone(),
                Provenance::Override(format!("--set {}={value}", key.name())),
            ),
        );
    }
    let mut facts: Vec<_> = files
        .iter()
        .flat_map(|f| f.parsed.facts.iter().map(move |fact| (f, fact)))
        .collect();
    // Within a rank, what a log printed as the run went comes before a file of arguments,
    // which may have been edited since.
    let arguments = |f: &ReadFile| f.format.role() == super::formats::Role::Arguments;
    facts.sort_by_key(|(f, fact)| (fact.rank, arguments(f)));
    let mut overridden: Vec<Key> = Vec::new();
    // The rank of each value taken from a file, and whether a log stated it.
    let mut taken: Vec<(Key, u8, bool)> = Vec::new();
    for (file, fact) in &facts {
        let provenance = Provenance::file(file.path.clone(), fact.locator.clone());
        if let Some(why) = fact.value.as_f64().and_then(|x| invalid(fact.key, x)) {
            warnings.push(format!(
                "{}: {provenance} says {}, {why}; ignored",
                fact.key.name(),
                fact.value
            ));
            continue;
        }
        if fact.key == Key::TotalSteps && fact.rank == 1 && cfg.step_limit.is_none() {
            cfg.step_limit = Some(provenance.clone());
        }
        // The run's own arguments say where a fix edits the option, whichever value wins.
        if file.format.role() == super::formats::Role::Arguments && fact.rank == 1 {
            cfg.set_in
                .entry(fact.key)
                .or_insert_with(|| provenance.clone());
        }
        match cfg.values.get(&fact.key) {
            None => {
                taken.push((fact.key, fact.rank, !arguments(file)));
                cfg.values
                    .insert(fact.key, Sourced::new(fact.value.clone(), provenance));
            }
            Some(kept)
                if !same(&kept.value, &fact.value)
                    && !matches!(kept.source, Provenance::Override(_)) =>
            {
                // Two TensorBoard sessions of one output directory: the newest came first.
                let logged = taken
                    .iter()
                    .any(|&(k, rank, log)| k == fact.key && rank == fact.rank && log);
                let why = if [&kept.source, &provenance].iter().all(|p| tensorboard(p)) {
                    "the newest TensorBoard session's (each trainer.train() in one output directory writes its own; the run's state is the newest's)"
                } else if logged && arguments(file) {
                    "the log's (printed as the run went; the file of arguments may have been edited since)"
                } else {
                    "the first (what the trainer reported it used ranks first)"
                };
                warnings.push(format!(
                    "{}: {} says {}, but {} says {}; using {why}",
                    fact.key.name(),
                    kept.source,
                    kept.value,
                    provenance,
                    fact.value
                ));
                // A fix edits this file's line, which holds another value than the run used:
                // the place says both, so a patch is not read against a line it does not fit.
                if cfg.set_in.get(&fact.key) == Some(&provenance) {
                    let at = fact.locator.clone();
                    let what = format!(
                        "{}; it says {}, the run used {}",
                        at.what(),
                        fact.value,
                        kept.value
                    );
                    cfg.set_in
                        .insert(fact.key, Provenance::file(file.path.clone(), at.with(what)));
                }
            }
            // `--set` is for what a log lacks: one that replaces what a file states is said
            // once (a value meant for another run, or a typo, shows here).
            Some(kept) if !same(&kept.value, &fact.value) && !overridden.contains(&fact.key) => {
                overridden.push(fact.key);
                let name = fact.key.name();
                warnings.push(format!(
                    "{name}: --set {name}={} is used, not {} that {provenance} says",
                    kept.value, fact.value
                ));
            }
            Some(_) => {}
        }
    }
    // The trainer first: how its batch is made (nanoGPT's accumulation is a total) is part of
    // what is derived.
    trainer(&mut cfg, files);
    derive(&mut cfg, files);
    steps_for_samples(&mut cfg, warnings);
    check_product(&cfg, warnings);
    cfg
}

/// The trainer that wrote the run, from the files it left (when no file of arguments named
/// it): its option names are the ones a fix uses.
fn trainer(cfg: &mut RunConfig, files: &[ReadFile]) {
    if cfg.get(Key::Trainer).is_some() {
        return;
    }
    let by_format = |f: &ReadFile| f.format.trainer();
    let named = files
        .iter()
        .find_map(|f| Some((by_format(f)?, f)))
        .or_else(|| {
            // DeepSpeed's printed configuration: its option names are the config's. Not under
            // the HF Trainer (its training header printed in the same log: LLaMA-Factory, TRL),
            // whose own arguments set them and hand DeepSpeed "auto".
            files.iter().find_map(|f| {
                let facts = &f.parsed.facts;
                let deepspeed = facts
                    .iter()
                    .any(|x| x.locator.what().starts_with("DeepSpeed "));
                let hf = facts.iter().any(|x| {
                    x.key == Key::TotalSteps && x.locator.what() == "Total optimization steps"
                });
                (deepspeed && !hf).then_some(("deepspeed", f))
            })
        });
    if let Some((name, f)) = named {
        cfg.set_if_absent(
            Key::Trainer,
            ConfigValue::Text(name.into()),
            Provenance::Derived(format!("{name}'s log format ({})", f.path)),
        );
    }
}

/// Whether a value was read from a TensorBoard events file.
fn tensorboard(p: &Provenance) -> bool {
    matches!(p, Provenance::File { path, .. }
        if std::path::Path::new(path)
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("events.out.tfevents")))
}

/// Largest count taken as a value: Python's `sys.maxsize` (9223372036854775807) and similar
/// numbers are "no limit" sentinels (`num_train_epochs` of a streaming run), not counts.
pub(crate) const SENTINEL: f64 = 1e15;

/// Why a number cannot be the value of `key`, if it cannot: non-finite, out of range, or a
/// sentinel. Counts and rates are positive; `max_steps: -1` means "not set".
fn invalid(key: Key, x: f64) -> Option<&'static str> {
    use Key::*;
    if !x.is_finite() {
        return Some("which is not a number");
    }
    match key {
        WarmupSteps if x < 0.0 => Some("which is negative"),
        WarmupRatio if !(0.0..=1.0).contains(&x) => Some("which is not a fraction in [0, 1]"),
        WarmupSteps | WarmupRatio => None,
        _ if x.abs() >= SENTINEL => Some("a \"no limit\" sentinel, not a count"),
        _ if x <= 0.0 => Some("which is not positive (\"not set\")"),
        _ => None,
    }
}

fn same(a: &ConfigValue, b: &ConfigValue) -> bool {
    match (a, b) {
        (ConfigValue::Number(x), ConfigValue::Number(y)) => same_printed(*x, *y),
        _ => a == b,
    }
}

/// Whether two numbers agree to the precision logs print them with (transformers 5 prints 4
/// significant digits): agreement to that precision is agreement.
pub(in crate::ingest) fn same_printed(x: f64, y: f64) -> bool {
    (x - y).abs() <= PRINTED_PRECISION * x.abs().max(y.abs())
}

fn near_integer(x: f64) -> Option<f64> {
    let r = x.round();
    (r >= 1.0 && (x - r).abs() <= INTEGER_TOLERANCE * r).then_some(r)
}

/// Of the whole numbers either side of `x` (steps per epoch as a step over its epoch says it),
/// the one `total` steps are a whole number of epochs of, when exactly one is.
fn whole_epochs(x: f64, total: f64) -> Option<f64> {
    if !(x >= 1.0 && total >= x.floor()) {
        return None;
    }
    let divides = |c: f64| c >= 1.0 && total % c == 0.0;
    match (x.floor(), x.ceil()) {
        (lo, hi) if lo == hi => divides(lo).then_some(lo),
        (lo, hi) => match (divides(lo), divides(hi)) {
            (true, false) => Some(lo),
            (false, true) => Some(hi),
            _ => None,
        },
    }
}

/// Half a unit of the last decimal `x` is written with, when it has at most 4 decimals (written
/// rounded, as LLaMA-Factory's `round(epoch, 2)` and transformers 5's 4 digits do); `None` for
/// full-precision numbers and whole ones.
fn rounding(x: f64) -> Option<f64> {
    let text = format!("{x}");
    let decimals = text.split_once('.').map_or(0, |(_, d)| d.len());
    (1..=4)
        .contains(&decimals)
        .then(|| 0.5 * 10f64.powi(-(decimals as i32)))
}

/// Whether `spe` steps per epoch fits `other`, a count of an epoch's steps from elsewhere (the
/// examples over the batch, a logged epoch): one step either way (a partial last batch, rounded
/// either way), or [`INTEGER_TOLERANCE`] of it.
pub(in crate::ingest) fn fits(spe: f64, other: f64) -> bool {
    (spe - other).abs() <= 1.0_f64.max(INTEGER_TOLERANCE * spe)
}

/// The batch whose epochs of `n` examples, the last batch partial, make `t` steps in `e` whole
/// epochs: the smallest b with ⌈n ÷ b⌉ = t ÷ e, when ⌈n ÷ b⌉ is that and b is not 1 (a batch
/// of 1 has no partial batch). With the steps per epoch.
fn batch_of_epoch(n: f64, e: f64, t: f64) -> Option<(f64, f64)> {
    let spe = near_integer(t / e).filter(|s| (s * e - t).abs() < 0.5)?;
    Some((batch_of_steps(n, spe)?, spe))
}

/// The smallest batch b with ⌈n ÷ b⌉ = `spe` steps an epoch, when there is one and it is not 1
/// (a batch of 1 has no partial batch).
fn batch_of_steps(n: f64, spe: f64) -> Option<f64> {
    if !(n.fract() == 0.0 && spe >= 1.0 && n >= spe) {
        return None;
    }
    let b = (n / spe).ceil();
    (b >= 2.0 && (n / b).ceil() == spe).then_some(b)
}

/// The steps a printed rate × runtime make, when only one whole number lies within the rate's
/// rounding (the Trainer rounds it to 3 decimals: 0.043 steps/s × 702 s is 29.8 to 30.5, so 30;
/// 1.234 × 36,000 s is 44,406 to 44,442, so none).
fn steps_of_rate(rate: f64, runtime: f64) -> Option<f64> {
    if !(rate > 0.0 && runtime > 0.0) {
        return None;
    }
    // Half a unit of the last decimal printed (at most 3).
    let decimals = (0..=3)
        .find(|&d| {
            let scaled = rate * 10f64.powi(d);
            (scaled - scaled.round()).abs() < 1e-9
        })
        .unwrap_or(3);
    let half = 0.5 / 10f64.powi(decimals);
    let (lo, hi) = ((rate - half) * runtime, (rate + half) * runtime);
    let t = lo.ceil();
    (t >= 1.0 && t <= hi && t + 1.0 > hi).then_some(t)
}

/// Whether a run's `train_samples_per_second` counts steps: transformers before 4.5 divided
/// its steps, not its samples, by the runtime, so that figure × runtime is the step count, and
/// wrote no `train_steps_per_second` beside it. Read so only where the run's batch is not known
/// to be 1 (then the two are one).
fn counts_steps(sps: f64, runtime: f64, steps: f64, cfg: &RunConfig) -> bool {
    let per_step = sps * runtime / steps;
    (per_step - 1.0).abs() <= 0.01
        && cfg.get(Key::TrainStepsPerSecond).is_none()
        && cfg.num(Key::EffectiveBatch).is_none_or(|b| b > 1.0)
}

/// The effective batch a throughput ratio `r` (samples ÷ steps) says, and how it was rounded.
/// HF counts the examples times the epochs as the samples, so a partial last batch of an epoch
/// makes `r` up to a step's worth of an epoch short of the batch: with the per-device batch
/// known (and the world size), the batch is the multiple of it within 2% of `r`, else the one
/// above `r` that such a shortfall explains; without it, the whole number within 2% of `r`.
fn batch_of_throughput(cfg: &RunConfig, r: f64) -> Option<(f64, String)> {
    use Key::*;
    let Some(per_device) = cfg.num(PerDeviceBatch) else {
        return near_integer(r).map(|b| (b, String::new()));
    };
    let (unit, of) = match cfg.num(WorldSize) {
        Some(w) => (
            per_device * w,
            format!("per_device_batch {per_device} × world_size {w}"),
        ),
        None => (per_device, format!("per_device_batch {per_device}")),
    };
    // Steps per epoch, for the shortfall a partial last batch makes.
    let spe = cfg
        .num(StepsPerEpoch)
        .or_else(|| Some(cfg.num(TotalSteps)? / cfg.num(Epochs)?))
        .filter(|&s| s > 1.0);
    let short = spe.map_or(1.0, |s| s / (s - 1.0));
    let nearest = (r / unit).round().max(1.0) * unit;
    if (nearest - r).abs() <= INTEGER_TOLERANCE * r {
        return Some((nearest, String::new()));
    }
    let above = (r / unit).ceil().max(1.0) * unit;
    (above <= r * (1.0 + INTEGER_TOLERANCE) * short).then(|| {
        (
            above,
            format!(", rounded up to a multiple of {of} (a partial last batch of an epoch counts fewer samples)"),
        )
    })
}

/// A step and the epoch logged at it, and where: what says steps per epoch when nothing states
/// it.
struct Logged {
    step: f64,
    epoch: f64,
    /// Whether the epoch is known unrounded (else it may be written rounded, [`rounding`]).
    exact: bool,
    origin: String,
}

impl Logged {
    /// Half a unit of the epoch's last written decimal, when it may be rounded.
    fn rounding(&self) -> Option<f64> {
        if self.exact {
            None
        } else {
            rounding(self.epoch)
        }
    }

    /// Whether `spe` steps per epoch fits the epoch logged at the step: within its rounding,
    /// widened by one step either way (a partial last accumulation puts step ÷ epoch up to one
    /// step off the count the trainer makes) or [`INTEGER_TOLERANCE`] of it.
    fn allows(&self, spe: f64) -> bool {
        let h = self.rounding().unwrap_or(0.0);
        let lo = self.step / (self.epoch + h);
        let hi = if self.epoch > h {
            self.step / (self.epoch - h)
        } else {
            f64::INFINITY
        };
        fits(spe, spe.clamp(lo, hi))
    }
}

/// The step and epoch that say steps per epoch best: where a `trainer_state.json` says training
/// stood (its epoch unrounded), else the record with the largest step (the last of equals) of a
/// format that logs full-precision epochs (HF state, LLaMA-Factory jsonl; 2-decimal stdout
/// epochs are too coarse and are not used).
fn logged_epoch(files: &[ReadFile]) -> Option<Logged> {
    let stood = files
        .iter()
        .filter_map(|f| {
            let st = f.parsed.stood?;
            Some((f, st.step?, st.epoch))
        })
        .max_by(|a, b| a.1.total_cmp(&b.1));
    if let Some((f, step, epoch)) = stood {
        return Some(Logged {
            step,
            epoch,
            exact: true,
            origin: format!("{}: global_step and epoch", f.path),
        });
    }
    let mut last: Option<(&ReadFile, u32, f64, f64)> = None;
    for f in files.iter().filter(|f| f.format.exact_epochs()) {
        let frame = &f.parsed.records;
        for i in 0..frame.len() {
            let (s, e) = (
                frame.get(Coordinate::Step, i),
                frame.get(Coordinate::Epoch, i),
            );
            // Unknown (NaN) fails both tests.
            if s > 0.0 && e > 0.0 && last.is_none_or(|l| s.total_cmp(&l.2).is_ge()) {
                last = Some((f, frame.line(i), s, e));
            }
        }
    }
    last.map(|(f, line, step, epoch)| Logged {
        step,
        epoch,
        exact: false,
        origin: format!("{} {}", f.path, f.locator().at(line)),
    })
}

fn num(x: f64) -> ConfigValue {
    ConfigValue::Number(x)
}

/// Fills what can be derived from what `cfg` holds (also after a plan's assumptions are added).
pub(super) fn derive(cfg: &mut RunConfig, files: &[ReadFile]) {
    use Key::*;
    // The largest step a loss was logged at: read only by the last way to the effective batch
    // below, so only worked out there (a dense log has a million losses).
    let last_step = || {
        files
            .iter()
            .filter_map(|f| {
                let frame = &f.parsed.records;
                let loss = frame.column("loss")?;
                Some(
                    loss.rows
                        .iter()
                        .filter_map(move |&r| frame.known(Coordinate::Step, r as usize)),
                )
            })
            .flatten()
            .fold(None, |m: Option<f64>, s| Some(m.map_or(s, |m| m.max(s))))
    };

    // The effective batch of its parts, before steps per epoch reads it (the examples over it).
    if let (None, Some((product, how))) = (cfg.get(EffectiveBatch), cfg.batch_product()) {
        cfg.set_if_absent(EffectiveBatch, num(product), Provenance::Derived(how));
    }
    // Steps per epoch, the first of: the planned total over the epochs, when both are stated,
    // divide evenly and fit what else is known (exact, where a logged epoch may be rounded: a
    // crashed run's last epoch 0.1 at step 39 says 390, the run's true 406); a logged step over
    // its epoch; the stated examples over the batch, when the planned total did not fit them;
    // the planned total over the epochs as it is, when nothing contradicts it.
    let total = cfg.num(TotalSteps);
    let logged = logged_epoch(files).and_then(|l| {
        let (s, e) = (l.step, l.epoch);
        // Step ÷ epoch is the trainer's count to within a step (the epoch counts micro-batches,
        // and a partial last accumulation is a step of its own: 7,500 micro-batches at GA 8 log
        // 937.5 steps an epoch and make 938). Of the whole numbers either side, the one the
        // planned total divides into whole epochs is taken when only one does; else the nearest.
        let whole = total.and_then(|t| whole_epochs(s / e, t));
        let spe = whole
            .or_else(|| near_integer(s / e))
            .filter(|spe| (spe * e - s).abs() < 0.5)?;
        // The epoch as written may be rounded: with d decimals it is ± half a unit of the last
        // one, and steps per epoch somewhere in s ÷ (e ± that).
        let bound = l
            .rounding()
            .map(|h| ((s / (e + h)).ceil(), (s / (e - h)).floor()))
            .filter(|(lo, hi)| hi > lo)
            .map_or_else(String::new, |(lo, hi)| {
                format!("; the epoch is rounded, so between {lo} and {hi}")
            });
        // Said when step ÷ epoch is not the whole number taken.
        let fitted = match (whole, total) {
            (Some(w), Some(t)) if (s / e - w).abs() > 1e-6 => format!(
                " = {}, so {w}: total_steps {t} is {} of it",
                crate::model::format_number(s / e),
                super::source::plural((t / w) as usize, "whole epoch")
            ),
            _ => String::new(),
        };
        let how = format!("step {s} ÷ epoch {e}{fitted} ({}){bound}", l.origin);
        Some((l, spe, how))
    });
    // The examples a stated count says an epoch holds, over the effective batch (stated, or of
    // its parts above): an epoch's steps to within one (the last batch may be partial, and rounded
    // either way), where the steps carry no epoch of their own (a stdout log's dicts).
    let data = cfg
        .get(NumExamples)
        .filter(|v| !matches!(v.source, Provenance::Derived(_)))
        .and_then(|v| {
            let (n, b) = (v.value.as_f64()?, cfg.num(EffectiveBatch)?);
            (n > 0.0 && b > 0.0)
                .then(|| (n / b, format!("≈ ⌈num_examples {n} ÷ effective_batch {b}⌉")))
        });
    let planned = match (cfg.get(StepsPerEpoch), cfg.num(TotalSteps), cfg.num(Epochs)) {
        (None, Some(t), Some(e)) if e > 0.0 => Some((t, e)),
        _ => None,
    };
    // The planned total over the epochs is rounded up when `max_steps` ends a run mid-epoch
    // (3,000 steps of a 10,827-step epoch is "1 epoch"): overruled by a logged epoch, or else
    // the examples, that it does not fit (one step either way, or 2%, is fit).
    let contradicted = planned.is_some_and(|(t, e)| match (&logged, &data) {
        (Some((l, _, _)), _) => !l.allows(t / e),
        (None, Some((per_epoch, _))) => !fits(t / e, *per_epoch),
        (None, None) => false,
    });
    // The planned total over the epochs when they divide evenly.
    let even = planned.and_then(|(t, e)| {
        near_integer(t / e)
            .filter(|s| (s * e - t).abs() < 1e-6)
            .map(|spe| (t, e, spe))
    });
    let overruled = match (planned, contradicted) {
        (Some((t, e)), true) => format!(
            "; total_steps {} ÷ epochs {} = {} does not fit {}: the planned epochs are rounded up when max_steps ends a run mid-epoch",
            Shown(t),
            Shown(e),
            (t / e * 10.0).round() / 10.0,
            if logged.is_some() {
                "the logged epochs"
            } else {
                "the examples"
            }
        ),
        _ => String::new(),
    };
    if let (Some((t, e, spe)), false) = (even, contradicted) {
        cfg.set_if_absent(
            StepsPerEpoch,
            num(spe),
            Provenance::Derived(format!("total_steps {} ÷ epochs {}", Shown(t), Shown(e))),
        );
    }
    if let Some((_, spe, how)) = &logged {
        cfg.set_if_absent(
            StepsPerEpoch,
            num(*spe),
            Provenance::Derived(format!("{how}{overruled}")),
        );
    }
    if let (Some((per_epoch, how)), true) = (&data, contradicted) {
        cfg.set_if_absent(
            StepsPerEpoch,
            num(per_epoch.ceil()),
            Provenance::Derived(format!("{how}{overruled}")),
        );
    }
    if let (Some(t), Some(spe), None) =
        (cfg.num(TotalSteps), cfg.num(StepsPerEpoch), cfg.get(Epochs))
    {
        cfg.set_if_absent(
            Epochs,
            num(t / spe),
            Provenance::Derived(format!(
                "total_steps {} ÷ steps_per_epoch {}",
                Shown(t),
                Shown(spe)
            )),
        );
    }
    if let (Some(t), Some(e), false) = (cfg.num(TotalSteps), cfg.num(Epochs), contradicted) {
        if e > 0.0 {
            cfg.set_if_absent(
                StepsPerEpoch,
                num(t / e),
                Provenance::Derived(format!("total_steps {} ÷ epochs {}", Shown(t), Shown(e))),
            );
        }
    }
    // The planned total, where nothing states it: the epochs' steps (the Trainer makes
    // ⌈epochs × steps per epoch⌉), else the end-of-training steps per second × runtime when the
    // rounding of the printed rate leaves one whole number.
    if let (None, Some(e), Some(spe)) =
        (cfg.get(TotalSteps), cfg.num(Epochs), cfg.num(StepsPerEpoch))
    {
        let t = (e * spe - 1e-6).ceil();
        if t >= 1.0 {
            cfg.set_if_absent(
                TotalSteps,
                num(t),
                Provenance::Derived(format!(
                    "⌈epochs {} × steps_per_epoch {}⌉",
                    Shown(e),
                    Shown(spe)
                )),
            );
        }
    }
    if let (None, Some(sps), Some(rt)) = (
        cfg.get(TotalSteps),
        cfg.get(TrainStepsPerSecond),
        cfg.num(TrainRuntime),
    ) && let Some(x) = sps.value.as_f64()
        && let Some(t) = steps_of_rate(x, rt)
    {
        let how = format!(
            "train_steps_per_second {x} ({}) × train_runtime {rt} = {}, the one whole number within the rate's printed rounding",
            sps.source,
            crate::model::format_number(x * rt)
        );
        cfg.set_if_absent(TotalSteps, num(t), Provenance::Derived(how));
    }
    if cfg.get(EffectiveBatch).is_none() {
        // A run max_steps ended mid-epoch: its planned epochs are rounded up (39 for the 38.17 it
        // ran), and examples × epochs ÷ steps is as far off (51 for a batch of 50); the steps of
        // an epoch the logged epochs give are what the batch makes of the examples.
        let mid_epoch = match (cfg.num(StepsPerEpoch), cfg.num(Epochs), cfg.num(TotalSteps)) {
            (Some(spe), Some(e), Some(t)) => !fits(t / e, spe),
            _ => false,
        };
        if let (true, Some(n), Some(spe)) =
            (mid_epoch, cfg.num(NumExamples), cfg.num(StepsPerEpoch))
            && let Some(b) = batch_of_steps(n, spe)
        {
            cfg.set_if_absent(
                EffectiveBatch,
                num(b),
                Provenance::Derived(format!(
                    "num_examples {n} in ⌈{n} ÷ {b}⌉ = {} steps an epoch (the planned epochs are rounded up: max_steps ends the run mid-epoch)",
                    Shown(spe)
                )),
            );
        } else if let (Some(n), Some(e), Some(t)) =
            (cfg.num(NumExamples), cfg.num(Epochs), cfg.num(TotalSteps))
        {
            if let Some(b) = near_integer(n * e / t) {
                cfg.set_if_absent(
                    EffectiveBatch,
                    num(b),
                    Provenance::Derived(format!(
                        "≈ num_examples {n} × epochs {} ÷ total_steps {t}",
                        Shown(e)
                    )),
                );
            } else if let Some((b, spe)) = batch_of_epoch(n, e, t) {
                cfg.set_if_absent(
                    EffectiveBatch,
                    num(b),
                    Provenance::Derived(format!(
                        "num_examples {n} in ⌈{n} ÷ {b}⌉ = {} steps an epoch, total_steps {t} ÷ epochs {} (the last batch of each epoch partial)",
                        Shown(spe),
                        Shown(e)
                    )),
                );
            }
        } else if let (Some(sps), Some(rt)) =
            (cfg.num(TrainSamplesPerSecond), cfg.num(TrainRuntime))
            && let Some(t) = cfg.num(TotalSteps).or_else(last_step)
            && !counts_steps(sps, rt, t, cfg)
        {
            let r = sps * rt / t;
            if let Some((b, unit)) = batch_of_throughput(cfg, r) {
                cfg.set_if_absent(
                    EffectiveBatch,
                    num(b),
                    Provenance::Derived(format!(
                        "≈ train_samples_per_second {sps} × train_runtime {rt} ÷ {t} steps = {r:.2}{unit}"
                    )),
                );
            }
        }
    }
    if let Some(eff) = cfg.num(EffectiveBatch) {
        let (w, b, g) = (
            cfg.num(WorldSize),
            cfg.num(PerDeviceBatch),
            cfg.num(GradAccum),
        );
        // nanoGPT's gradient_accumulation_steps is the total over all processes (train.py
        // divides it by the world size): batch × it is the effective batch on any number of
        // processes, and says nothing of how many there were.
        let total = cfg.accumulation_is_total();
        // The one factor missing: the effective batch over the product of the others, when that
        // is a whole number.
        let missing = match (w, b, g) {
            (_, Some(_), Some(_)) if total => None,
            (_, Some(b), None) if total => Some((
                GradAccum,
                b,
                format!(
                    "effective_batch {eff} ÷ per_device_batch {b} (the accumulation is the total over all processes)"
                ),
            )),
            (_, None, Some(g)) if total => Some((
                PerDeviceBatch,
                g,
                format!("effective_batch {eff} ÷ grad_accum {g} (the total over all processes)"),
            )),
            (None, Some(b), Some(g)) => Some((
                WorldSize,
                b * g,
                format!("effective_batch {eff} ÷ (per_device_batch {b} × grad_accum {g})"),
            )),
            (Some(w), Some(b), None) => Some((
                GradAccum,
                b * w,
                format!("effective_batch {eff} ÷ (per_device_batch {b} × world_size {w})"),
            )),
            (Some(w), None, Some(g)) => Some((
                PerDeviceBatch,
                g * w,
                format!("effective_batch {eff} ÷ (world_size {w} × grad_accum {g})"),
            )),
            _ => None,
        };
        if let Some((key, others, how)) = missing
            && let Some(x) = near_integer(eff / others).filter(|x| (x * others - eff).abs() < 0.5)
        {
            cfg.set_if_absent(key, num(x), Provenance::Derived(how));
        }
        if let (None, Some(spe)) = (cfg.get(NumExamples), cfg.num(StepsPerEpoch)) {
            cfg.set_if_absent(
                NumExamples,
                num((eff * spe).round()),
                Provenance::Derived(format!(
                    "≈ effective_batch {eff} × steps_per_epoch {} (upper bound: last batch may be partial)",
                    Shown(spe)
                )),
            );
        }
    }
    if cfg.get(LearningRate).is_none() {
        // The largest logged learning rate (the last of equals): (file, line, value).
        let mut peak: Option<(&ReadFile, u32, f64)> = None;
        for f in files {
            let frame = &f.parsed.records;
            let Some(lr) = frame.column("learning_rate") else {
                continue;
            };
            for (&r, &v) in lr.rows.iter().zip(&lr.values) {
                if v.is_finite() && peak.is_none_or(|p| v.total_cmp(&p.2).is_ge()) {
                    peak = Some((f, frame.line(r as usize), v));
                }
            }
        }
        if let Some((f, line, v)) = peak {
            cfg.set_if_absent(
                LearningRate,
                num(v),
                Provenance::Derived(format!(
                    "peak of the logged learning_rate ({} {})",
                    f.path,
                    f.locator().at(line)
                )),
            );
        }
    }
    if cfg.get(TokensSeen).is_none() {
        let last = files.iter().rev().find_map(|f| {
            let frame = &f.parsed.records;
            let i = frame.last_known(Coordinate::Tokens)?;
            Some((f, frame.get(Coordinate::Tokens, i), frame.line(i)))
        });
        if let Some((f, t, line)) = last {
            cfg.set_if_absent(
                TokensSeen,
                num(t),
                Provenance::file(f.path.clone(), f.locator().at(line).with("tokens seen")),
            );
        }
    }
}

/// A `train_samples_per_second` that counts steps (transformers before 4.5) is no throughput:
/// dropped, with a warning, so no batch or efficiency is worked out from it.
fn steps_for_samples(cfg: &mut RunConfig, warnings: &mut Vec<String>) {
    use Key::*;
    let (Some(sps), Some(rt), Some(t)) = (
        cfg.get(TrainSamplesPerSecond),
        cfg.num(TrainRuntime),
        cfg.num(TotalSteps),
    ) else {
        return;
    };
    let Some(x) = sps.value.as_f64() else {
        return;
    };
    if matches!(sps.source, Provenance::Override(_)) || !counts_steps(x, rt, t, cfg) {
        return;
    }
    warnings.push(format!(
        "train_samples_per_second {x} ({}) × train_runtime {rt} is {}, the run's {t} steps: transformers before 4.5 logged steps per second under that name (and no train_steps_per_second beside it); not used as a throughput (no batch or scaling efficiency is worked out from it)",
        sps.source,
        (x * rt).round()
    ));
    cfg.values.remove(&TrainSamplesPerSecond);
}

fn check_product(cfg: &RunConfig, warnings: &mut Vec<String>) {
    use Key::*;
    // Without the world size, the effective batch must still be a whole multiple of the
    // per-device batch × accumulation: the header saying 8 per device × 1 but a total of 4
    // contradicts itself.
    if let (Some(eff), None, Some(b), Some(g), false) = (
        cfg.get(EffectiveBatch),
        cfg.num(WorldSize),
        cfg.get(PerDeviceBatch),
        cfg.get(GradAccum),
        cfg.accumulation_is_total(),
    ) {
        if let (Some(e), Some(bv), Some(gv)) =
            (eff.value.as_f64(), b.value.as_f64(), g.value.as_f64())
        {
            let w = e / (bv * gv);
            let whole = w >= 1.0 && (w - w.round()).abs() < INTEGER_TOLERANCE;
            if !whole && !matches!(eff.source, Provenance::Derived(_)) {
                warnings.push(format!(
                    "the batch facts contradict each other: effective_batch {e} ({}) is not a whole multiple of per_device_batch {bv} ({}) × grad_accum {gv} ({}); the effective batch is used as stated, check which is right (a deprecated --per_gpu_train_batch_size, DataParallel)",
                    eff.source, b.source, g.source
                ));
            }
        }
    }
    if let (Some(eff), Some((product, _))) = (cfg.get(EffectiveBatch), cfg.batch_product()) {
        if let Some(e) = eff.value.as_f64() {
            if (product - e).abs() > 0.5 && !matches!(eff.source, Provenance::Derived(_)) {
                let at = |k: Key| {
                    let v = cfg.num(k).map_or_else(String::new, |x| x.to_string());
                    let from = cfg
                        .get(k)
                        .map_or_else(String::new, |v| format!(" ({})", v.source));
                    format!("{} {v}{from}", k.name())
                };
                let (factors, hint) = if cfg.accumulation_is_total() {
                    (
                        format!("{} × {}", at(PerDeviceBatch), at(GradAccum)),
                        "the accumulation is nanoGPT's total over all processes",
                    )
                } else {
                    (
                        format!(
                            "{} × {} × {}",
                            at(WorldSize),
                            at(PerDeviceBatch),
                            at(GradAccum)
                        ),
                        "check world_size (DataParallel, tensor/pipeline parallelism)",
                    )
                };
                warnings.push(format!(
                    "effective_batch {e} ({}) is not {factors} = {product}; {hint}",
                    eff.source,
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{batch_of_epoch, whole_epochs};

    #[test]
    fn a_rate_gives_steps_only_where_its_rounding_leaves_one() {
        use super::steps_of_rate;
        assert_eq!(steps_of_rate(0.043, 702.0), Some(30.0));
        assert_eq!(steps_of_rate(1.234, 36_000.0), None);
        assert_eq!(steps_of_rate(0.5, 10.0), Some(5.0));
        assert_eq!(steps_of_rate(0.0, 10.0), None);
    }

    #[test]
    fn a_batch_is_the_one_an_epochs_steps_make_of_the_examples() {
        use super::batch_of_steps;
        // 6,505 examples in 131 steps an epoch: 50 (⌈6505 ÷ 51⌉ is 128).
        assert_eq!(batch_of_steps(6505.0, 131.0), Some(50.0));
        assert_eq!(batch_of_steps(2048.0, 128.0), Some(16.0));
        // No batch makes 100 steps of 150 examples but 2 (⌈150 ÷ 2⌉ = 75).
        assert_eq!(batch_of_steps(150.0, 100.0), None);
        assert_eq!(batch_of_steps(100.0, 100.0), None);
    }

    #[test]
    fn a_batch_is_the_one_whose_partial_epochs_make_the_steps() {
        // 260 examples in batches of 16: 17 steps an epoch (the last of 4), 51 in 3 epochs.
        assert_eq!(batch_of_epoch(260.0, 3.0, 51.0), Some((16.0, 17.0)));
        // 14,732 examples, 693 steps in 3 epochs: 231 an epoch, batches of 64.
        assert_eq!(batch_of_epoch(14732.0, 3.0, 693.0), Some((64.0, 231.0)));
        // A batch of 1 has no partial batch; steps that are no whole number an epoch, none.
        assert_eq!(batch_of_epoch(100.0, 1.0, 100.0), None);
        assert_eq!(batch_of_epoch(260.0, 3.0, 50.0), None);
    }

    #[test]
    fn a_derivation_shows_a_value_it_used_as_the_table_does() {
        use crate::model::{ConfigValue, Key, Provenance, RunConfig};
        let mut cfg = RunConfig::default();
        let stated = |what: &'static str| Provenance::file("trainer_state.json", what.into());
        for (key, x, what) in [
            (Key::TotalSteps, 4000.0, "max_steps"),
            (Key::Epochs, 3.0, "num_train_epochs"),
            (Key::EffectiveBatch, 2.0, "train_batch_size"),
        ] {
            cfg.set_if_absent(key, ConfigValue::Number(x), stated(what));
        }
        super::derive(&mut cfg, &[]);
        let how = |key| match &cfg.get(key).expect("derived").source {
            Provenance::Derived(how) => how.clone(),
            other => panic!("{other:?}"),
        };
        // 4,000 ÷ 3 is shown as the table shows it (1333.33), not as 1333.3333333333333.
        assert_eq!(how(Key::StepsPerEpoch), "total_steps 4000 ÷ epochs 3");
        assert_eq!(
            how(Key::NumExamples),
            "≈ effective_batch 2 × steps_per_epoch 1333.33 (upper bound: last batch may be partial)"
        );
    }

    #[test]
    fn steps_per_epoch_is_the_neighbour_the_total_divides() {
        // 7,500 micro-batches at GA 8: the epoch says 937.5 steps; the trainer made 938, and
        // 6,566 steps are 7 epochs of them (a real LLaMA-Factory jsonl).
        assert_eq!(
            whole_epochs(100.0 / 0.10666666666666667, 6566.0),
            Some(938.0)
        );
        // Float noise on a whole number: the number itself.
        assert_eq!(whole_epochs(1_000.000_000_1, 3000.0), Some(1000.0));
        assert_eq!(whole_epochs(999.999_999_9, 3_000.0), Some(1000.0));
        // A run stopped by max_steps mid-epoch: neither neighbour divides it, nothing is chosen.
        assert_eq!(whole_epochs(1000.4, 2500.0), None);
        // Both divide the total: neither is chosen over the other, the nearest is taken.
        assert_eq!(whole_epochs(2.5, 6.0), None);
        // Fewer steps than an epoch, or no step count: none.
        assert_eq!(whole_epochs(1000.4, 500.0), None);
        assert_eq!(whole_epochs(f64::NAN, 500.0), None);
    }
}
