//! Run arguments: LLaMA-Factory recipe YAML (`config.yaml`, `training_args.yaml`), the web UI's
//! `llamaboard_config.yaml` (`train.batch_size`, ...), W&B's `files/config.yaml` (each value
//! under `value:`; HF's W&B callback logs every `TrainingArguments` field), and JSON dumps of
//! `TrainingArguments` (`training_args.json`, or a script's own args file). These say what the run was asked to do;
//! the stdout header, when present, says what it did and outranks them.

use crate::model::At;
use serde_json::Value;
use yaml_rust2::{Yaml, YamlLoader};

use super::{Format, Head, Role, Sniff, Source};
use crate::ingest::Parsed;
use crate::ingest::lenient::{number, parse_number, sanitize_json};
use crate::ingest::source::IngestError;
use crate::model::{Key, format_number};

/// Option names (as trainers spell them) and the key each one sets.
const OPTIONS: [(&str, Key); 21] = [
    ("per_device_train_batch_size", Key::PerDeviceBatch),
    ("train.batch_size", Key::PerDeviceBatch),
    ("gradient_accumulation_steps", Key::GradAccum),
    ("train.gradient_accumulation_steps", Key::GradAccum),
    ("learning_rate", Key::LearningRate),
    ("train.learning_rate", Key::LearningRate),
    ("num_train_epochs", Key::Epochs),
    ("train.num_train_epochs", Key::Epochs),
    ("max_steps", Key::TotalSteps),
    ("lr_scheduler_type", Key::Scheduler),
    ("train.lr_scheduler_type", Key::Scheduler),
    ("warmup_ratio", Key::WarmupRatio),
    ("warmup_steps", Key::WarmupSteps),
    ("logging_steps", Key::LoggingSteps),
    ("optim", Key::Optimizer),
    ("world_size", Key::WorldSize),
    // ms-swift's args.json: the processes of the whole job (`local_world_size` is one node's).
    ("global_world_size", Key::WorldSize),
    // axolotl's names.
    ("micro_batch_size", Key::PerDeviceBatch),
    ("num_epochs", Key::Epochs),
    // nanoGPT's names (its `train.py` globals, as W&B's config.yaml holds them).
    ("max_iters", Key::TotalSteps),
    ("log_interval", Key::LoggingSteps),
];

/// nanoGPT's `batch_size` is the per-process micro batch; other tools' `batch_size` may be the
/// global one, so it is read only from a nanoGPT configuration (one naming these globals).
const NANOGPT_KEYS: [&str; 3] = ["max_iters", "block_size", "eval_interval"];

/// Keys that name the trainer a file of arguments belongs to.
const TRAINER_KEYS: [(&str, &str); 6] = [
    ("micro_batch_size", "axolotl"),
    ("base_model", "axolotl"),
    ("finetuning_type", "llamafactory"),
    ("stage", "llamafactory"),
    ("train.finetuning_type", "llamafactory"),
    ("eval_interval", "nanogpt"),
];

/// Yes when the head is YAML or JSON naming at least two training options; not sure for other
/// YAML, no otherwise.
pub fn sniff(head: &str, name: &str) -> Option<bool> {
    // Prose and scripts name the options too (a README, a launch script), and so does a
    // console log that printed its arguments (`Namespace(per_device_train_batch_size=1, …)`):
    // never a config.
    const NOT_CONFIG: [&str; 11] = [
        ".md",
        ".markdown",
        ".rst",
        ".txt",
        ".py",
        ".sh",
        ".html",
        ".ipynb",
        ".log",
        ".out",
        ".err",
    ];
    let base = name.strip_suffix(".gz").unwrap_or(name);
    if NOT_CONFIG.iter().any(|ext| base.ends_with(ext)) || super::own_report(head) {
        return Some(false);
    }
    let hits = [
        "per_device_train_batch_size",
        "gradient_accumulation_steps",
        "learning_rate",
        "num_train_epochs",
        "train.batch_size",
    ]
    .iter()
    .filter(|k| head.contains(*k))
    .count();
    if hits >= 2 {
        return Some(true);
    }
    let yaml = name.ends_with(".yaml") || name.ends_with(".yml");
    if yaml { None } else { Some(false) }
}

/// Reads the options losscmp understands; every other key is ignored.
pub fn read(text: &str, path: &str) -> Result<Parsed, IngestError> {
    let pairs = if text.trim_start().starts_with('{') {
        json_pairs(text, path)?
    } else {
        yaml_pairs(text, path)?
    };
    Ok(from_pairs(&pairs, text))
}

/// [`read`] of a document already split into its (option, value) pairs; `text` is where the
/// options are located.
pub(in crate::ingest) fn from_pairs(pairs: &[(String, String)], text: &str) -> Parsed {
    let mut out = options(pairs.iter().cloned(), |option| locate(text, option));
    let bare = |k: &str| k.strip_suffix(".value").unwrap_or(k).to_string();
    // The number an option holds, by its bare name.
    let number = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| bare(k) == name)
            .and_then(|(_, v)| parse_number(v))
    };
    let nanogpt = NANOGPT_KEYS
        .iter()
        .all(|n| pairs.iter().any(|(k, _)| bare(k) == *n));
    if nanogpt {
        if let Some(x) = number("batch_size") {
            out.fact(Key::PerDeviceBatch, x, locate(text, "batch_size"), 1);
        }
    }
    let trainer = TRAINER_KEYS
        .iter()
        .find(|(o, _)| pairs.iter().any(|(k, _)| bare(k) == *o));
    if let Some((option, trainer)) = trainer {
        out.text_fact(Key::Trainer, trainer, locate(text, option), 1);
    }
    // axolotl derives its accumulation from `batch_size` when a config gives that instead
    // (docs/trainers.md, axolotl's normalize_config): `batch_size` // `micro_batch_size`, the
    // batch per process, then × the world size.
    if trainer.is_some_and(|(_, t)| *t == "axolotl")
        && number("gradient_accumulation_steps").is_none()
    {
        if let (Some(batch), Some(micro)) = (number("batch_size"), number("micro_batch_size")) {
            let ga = (batch / micro).floor();
            if micro >= 1.0 && ga >= 1.0 {
                let at = locate(text, "batch_size").with(format!(
                    "{AXOLOTL_BATCH} {} ÷ micro_batch_size {}: axolotl's gradient_accumulation_steps",
                    format_number(batch),
                    format_number(micro)
                ));
                out.fact(Key::GradAccum, ga, at, 1);
            }
        }
    }
    out
}

/// How the place of an accumulation axolotl derives from `batch_size` begins ([`from_pairs`]):
/// a fix changes `batch_size` there, not the accumulation (axolotl refuses both).
pub(crate) const AXOLOTL_BATCH: &str = "batch_size";

/// `line N (option)`: the first line that sets `option` (its last dotted part) as a YAML key
/// or a JSON member, so a fix can say where to edit; the option alone when none does.
pub(in crate::ingest) fn locate(text: &str, option: &str) -> At {
    let leaf = option.rsplit('.').next().unwrap_or(option);
    let yaml = format!("{leaf}:");
    let json = format!("\"{leaf}\"");
    text.lines()
        .position(|l| {
            let l = l.trim_start();
            l.starts_with(&yaml) || l.starts_with(&json)
        })
        .map_or_else(
            || At::field(option.to_string()),
            |i| At::line(u32::try_from(i + 1).unwrap_or(u32::MAX), option.to_string()),
        )
}

/// Facts from option names and values, each located by `locate(option)`.
pub fn options(
    pairs: impl IntoIterator<Item = (String, String)>,
    locate: impl Fn(&str) -> At,
) -> Parsed {
    let mut out = Parsed::default();
    // W&B's `files/config.yaml` nests each value: `name: {desc: null, value: 2}`.
    let pairs: Vec<(String, String)> = pairs
        .into_iter()
        .map(|(o, v)| match o.strip_suffix(".value") {
            Some(bare) => (bare.to_string(), v),
            None => (o, v),
        })
        .collect();
    // A `max_steps` above 0 ends the run there, and the HF Trainer ignores `num_train_epochs`
    // then (the epochs are how far the steps go, which the logs say).
    let stepped = pairs
        .iter()
        .any(|(o, v)| o == "max_steps" && parse_number(v).is_some_and(|x| x > 0.0));
    for (option, value) in &pairs {
        let option = option.as_str();
        let Some(&(_, key)) = OPTIONS.iter().find(|(o, _)| *o == option) else {
            continue;
        };
        if key == Key::Epochs && stepped {
            continue;
        }
        let locator = locate(option);
        match key {
            Key::Scheduler | Key::Optimizer => out.text_fact(key, value, locator, 1),
            _ => {
                let Some(x) = parse_number(value) else {
                    // Unset (`null`, empty) or left to the launcher (DeepSpeed's `"auto"`) is
                    // no value; anything else is one that cannot be read.
                    let unset = ["", "~", "null", "none", "auto"]
                        .contains(&value.trim().to_ascii_lowercase().as_str());
                    if !unset {
                        out.warnings.push(format!(
                            "{locator}: {option} {value:?} is not a number; ignored"
                        ));
                    }
                    continue;
                };
                match key {
                    // `max_steps: -1` means "use epochs".
                    Key::TotalSteps if x <= 0.0 => {}
                    // transformers 5 reads `warmup_steps < 1` as a ratio of the total steps.
                    Key::WarmupSteps if x > 0.0 && x < 1.0 => {
                        out.fact(Key::WarmupRatio, x, locator, 1)
                    }
                    Key::WarmupRatio | Key::WarmupSteps if x == 0.0 => {}
                    _ => out.fact(key, x, locator, 1),
                }
            }
        }
    }
    out
}

pub(in crate::ingest) fn json_pairs(
    text: &str,
    path: &str,
) -> Result<Vec<(String, String)>, IngestError> {
    let v: Value = serde_json::from_str(&sanitize_json(text)).map_err(|e| IngestError::Syntax {
        path: path.into(),
        line: e.line(),
        message: format!("invalid JSON: {e}"),
    })?;
    let mut out = Vec::new();
    if v.is_object() {
        flatten_json("", &v, &mut out);
    }
    Ok(out)
}

/// Members as `a.b.c` paths (DeepSpeed nests `optimizer.params.lr`), strings and numbers only.
fn flatten_json(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten_json(&key, v, out);
            }
        }
        Value::String(s) => out.push((prefix.to_string(), s.clone())),
        other => {
            if let Some(x) = number(other) {
                out.push((prefix.to_string(), x.to_string()));
            }
        }
    }
}

pub(in crate::ingest) fn yaml_pairs(
    text: &str,
    path: &str,
) -> Result<Vec<(String, String)>, IngestError> {
    let docs = YamlLoader::load_from_str(text).map_err(|e| IngestError::Syntax {
        path: path.into(),
        line: e.marker().line(),
        message: format!("invalid YAML: {}", e.info()),
    })?;
    let mut out = Vec::new();
    for doc in &docs {
        flatten("", doc, &mut out);
    }
    Ok(out)
}

fn flatten(prefix: &str, y: &Yaml, out: &mut Vec<(String, String)>) {
    match y {
        Yaml::Hash(h) => {
            for (k, v) in h {
                let Some(k) = k.as_str() else { continue };
                let key = if prefix.is_empty() {
                    k.to_string()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        Yaml::Real(s) | Yaml::String(s) => out.push((prefix.to_string(), s.clone())),
        Yaml::Integer(i) => out.push((prefix.to_string(), i.to_string())),
        _ => {}
    }
}

/// Run arguments: LLaMA-Factory and axolotl YAML, `training_args.json`, W&B's config.yaml.
pub struct RunArgs;

impl Format for RunArgs {
    fn name(&self) -> &'static str {
        "run_args"
    }
    fn priority(&self) -> u8 {
        13
    }
    fn sniff(&self, head: &Head<'_>) -> Sniff {
        Sniff::from(sniff(head.text, head.name))
    }
    fn read(&self, src: Source<'_>) -> Result<Parsed, IngestError> {
        src.text(read)
    }
    fn role(&self) -> Role {
        Role::Arguments
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_console_log_that_printed_its_arguments_is_no_config() {
        // public/45: a script's `arg is Namespace(…)` line in a log's first 64 KiB.
        let head = "wandb: Currently logged in as: someone\narg is Namespace(per_device_train_batch_size=1, gradient_accumulation_steps=16, learning_rate=7e-05)\n";
        assert_eq!(sniff(head, "train.log"), Some(false));
        assert_eq!(sniff(head, "train.log.gz"), Some(false));
        assert_eq!(sniff(head, "nohup.out"), Some(false));
        assert_eq!(sniff(head, "args"), Some(true));
    }

    #[test]
    fn reads_a_wandb_config_yaml() {
        let yaml = "_wandb:\n  value:\n    cli_version: 0.31.0\nper_device_train_batch_size:\n  desc: null\n  value: 2\ngradient_accumulation_steps:\n  desc: null\n  value: 8\n";
        assert_eq!(sniff(yaml, "config.yaml"), Some(true));
        let p = read(yaml, "files/config.yaml").expect("reads");
        let ga = p
            .facts
            .iter()
            .find(|f| f.key == Key::GradAccum)
            .expect("GA");
        assert_eq!(
            (ga.value.as_f64(), ga.locator.to_string().as_str()),
            (Some(8.0), "line 7 (gradient_accumulation_steps)")
        );
    }
    use crate::model::ConfigValue;

    /// A value that is not a number is ignored with a warning naming its line; one that is
    /// unset (`null`), left to the launcher (`auto`) or HF's `max_steps: -1` is ignored quietly.
    #[test]
    fn a_value_that_is_not_a_number_is_named() {
        let text = "learning_rate: abc\ngradient_accumulation_steps: auto\nmax_steps: -1\nnum_train_epochs: null\nper_device_train_batch_size: 2\n";
        let p = read(text, "config.yaml").expect("reads");
        assert_eq!(
            p.warnings,
            ["line 1 (learning_rate): learning_rate \"abc\" is not a number; ignored"]
        );
        assert_eq!(p.facts.len(), 1);
    }

    /// A README or a launch script that names the options is prose, not a config: the same
    /// text is claimed only under a config's name.
    #[test]
    fn prose_naming_the_options_is_not_a_config() {
        let text = "Sweep settings: `gradient_accumulation_steps: 1`, learning_rate scaled by sqrt(B/16).\n";
        for name in [
            "README.md",
            "notes.txt",
            "run_sweep.sh",
            "steps_to_target.py",
        ] {
            assert_eq!(sniff(text, name), Some(false), "{name}");
        }
        assert_eq!(sniff(text, "config.yaml"), Some(true));
        assert_eq!(sniff(text, "args"), Some(true));
    }

    #[test]
    fn reads_llamafactory_yaml_with_comments_and_crlf() {
        let text = "### train\r\nper_device_train_batch_size: 2\r\ngradient_accumulation_steps: 8\r\nlearning_rate: 2.0e-3\r\nlr_scheduler_type: cosine\r\nwarmup_ratio: 0.05\r\n";
        let p = read(text, "config.yaml").expect("reads");
        let get = |k| p.facts.iter().find(|f| f.key == k).map(|f| f.value.clone());
        assert_eq!(get(Key::PerDeviceBatch), Some(ConfigValue::Number(2.0)));
        assert_eq!(get(Key::GradAccum), Some(ConfigValue::Number(8.0)));
        assert_eq!(get(Key::LearningRate), Some(ConfigValue::Number(0.002)));
        assert_eq!(
            get(Key::Scheduler),
            Some(ConfigValue::Text("cosine".into()))
        );
    }

    #[test]
    fn reads_training_args_json_and_v5_warmup() {
        let text = r#"{"per_device_train_batch_size": 2, "gradient_accumulation_steps": 8, "max_steps": -1, "warmup_steps": 0.05, "world_size": 8}"#;
        let p = read(text, "t.json").expect("reads");
        assert!(p.facts.iter().any(|f| f.key == Key::WarmupRatio));
        assert!(!p.facts.iter().any(|f| f.key == Key::TotalSteps));
        assert!(p.facts.iter().any(|f| f.key == Key::WorldSize));
    }

    /// ms-swift's args.json states the job's processes as `global_world_size` (beside one
    /// node's `local_world_size`): the world size, read from its line.
    #[test]
    fn ms_swift_args_give_the_world_size() {
        let text = "{\n  \"per_device_train_batch_size\": 1,\n  \"gradient_accumulation_steps\": 16,\n  \"global_world_size\": 4,\n  \"local_world_size\": 2\n}\n";
        let p = read(text, "args.json").expect("reads");
        let world = p
            .facts
            .iter()
            .find(|f| f.key == Key::WorldSize)
            .expect("world size");
        assert_eq!(world.value, ConfigValue::Number(4.0));
        assert_eq!(
            p.facts.iter().filter(|f| f.key == Key::WorldSize).count(),
            1
        );
    }

    #[test]
    fn llamaboard_keys_and_string_numbers() {
        let p = read("train.batch_size: 2\ntrain.learning_rate: '5e-5'\n", "x").expect("reads");
        assert_eq!(p.facts.len(), 2);
    }

    #[test]
    fn axolotls_accumulation_from_its_batch_size() {
        let ga = |text: &str| {
            read(text, "a.yaml")
                .expect("reads")
                .facts
                .into_iter()
                .find(|f| f.key == Key::GradAccum)
                .map(|f| (f.value.as_f64(), f.locator.to_string()))
        };
        assert_eq!(
            ga("base_model: tiny\nmicro_batch_size: 4\nbatch_size: 30\n"),
            Some((
                Some(7.0),
                "line 3 (batch_size 30 ÷ micro_batch_size 4: axolotl's gradient_accumulation_steps)"
                    .into()
            )),
            "floored, as axolotl divides"
        );
        // An accumulation given wins (axolotl refuses both, and reads it first).
        assert_eq!(
            ga("micro_batch_size: 4\nbatch_size: 32\ngradient_accumulation_steps: 2\n")
                .map(|g| g.0),
            Some(Some(2.0))
        );
        // Another trainer's batch_size is not axolotl's.
        assert_eq!(
            ga("per_device_train_batch_size: 4\nbatch_size: 32\nlearning_rate: 1e-4\n"),
            None
        );
    }
}
