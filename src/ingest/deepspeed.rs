//! DeepSpeed's own lines inside a captured stdout (DeepSpeed alone, or under the HF Trainer):
//! its printed configuration (the `print_user_config` JSON, `"train_batch_size": 16`, and the
//! `config.py … print` block, `train_batch_size ......... 16`), the engine's step lines
//! `[Rank 0] step=10, skipped=0, lr=[0.00033], mom=[(0.9, 0.999)]` and the timer lines
//! `epoch=0/micro_step=10/global_step=10, RunningAvgSamplesPerSec=110.87, CurrSamplesPerSec=111.3, …`
//! (console wrapping may break a field name; fields are read leniently). The stdout reader finds
//! these lines; this module says what they hold.
//!
//! `train_batch_size` is micro batch × accumulation × data-parallel ranks: the effective batch
//! DeepSpeed used, which overrides what the trainer's own arguments said.

use super::lenient::parse_number;
use crate::model::Key;

/// Configuration names DeepSpeed prints and the key each sets.
pub const CONFIG: [(&str, Key); 3] = [
    ("train_batch_size", Key::EffectiveBatch),
    ("train_micro_batch_size_per_gpu", Key::PerDeviceBatch),
    ("gradient_accumulation_steps", Key::GradAccum),
];

/// The value of configuration name `name` found at byte `at` of `line`, when it is DeepSpeed's
/// form: `"name": N` (its JSON) or `name ...... N` (its print block) — not a longer name such
/// as `per_device_train_batch_size`, nor `name=N` from another tool's argument dump.
pub fn config_value(line: &str, at: usize, name: &str) -> Option<f64> {
    let before = line[..at].chars().next_back();
    if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
        return None;
    }
    let rest = &line[at + name.len()..];
    let value = if let Some(r) = rest.strip_prefix("\":") {
        r
    } else if rest.starts_with(" ..") {
        rest.trim_start_matches([' ', '.'])
    } else {
        return None;
    };
    parse_number(value.trim().trim_end_matches(','))
}

/// A step line or a timer line: (global step, metrics).
pub fn step_line(line: &str) -> Option<(f64, Vec<(&'static str, f64)>)> {
    if let Some(at) = line.find("] step=") {
        let rest = &line[at + "] step=".len()..];
        let step = parse_number(rest.split(',').next()?)?;
        let mut metrics = Vec::new();
        if let Some(x) = field(rest, "skipped=") {
            metrics.push(("skipped_steps", x));
        }
        if let Some(i) = rest.find("lr=[") {
            let lr = rest[i + 4..]
                .split([',', ']'])
                .next()
                .and_then(parse_number);
            if let Some(x) = lr {
                metrics.push(("deepspeed_lr", x));
            }
        }
        return Some((step, metrics));
    }
    let at = line.find("global_step=")?;
    let step = field(&line[at..], "global_step=")?;
    let metrics = field(line, "CurrSamplesPerSec=")
        .map(|x| vec![("samples_per_second", x)])
        .unwrap_or_default();
    Some((step, metrics))
}

/// The number after `label`, up to a comma, a slash or a space.
fn field(s: &str, label: &str) -> Option<f64> {
    let at = s.find(label)? + label.len();
    parse_number(s[at..].split([',', '/', ' ']).next()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_values_in_both_forms_and_not_in_longer_names() {
        let json = r#"    "train_batch_size": 16,"#;
        assert_eq!(
            config_value(
                json,
                json.find("train_batch_size").unwrap(),
                "train_batch_size"
            ),
            Some(16.0)
        );
        let print = "[INFO] [config.py:976:print]   train_batch_size ............. 128";
        assert_eq!(
            config_value(
                print,
                print.find("train_batch_size").unwrap(),
                "train_batch_size"
            ),
            Some(128.0)
        );
        let hf = "per_device_train_batch_size=2,";
        assert_eq!(
            config_value(hf, hf.find("train_batch_size").unwrap(), "train_batch_size"),
            None
        );
        let other = "train_batch_size=16";
        assert_eq!(config_value(other, 0, "train_batch_size"), None);
    }

    #[test]
    fn step_and_timer_lines() {
        let (step, m) = step_line("[2023-12-29 13:02:49,647] [INFO] [logging.py:96:log_dist] [Rank 0] step=10, skipped=2, lr=[0.0003333333333333334, 0.1], mom=[(0.9, 0.999)]").expect("step line");
        assert_eq!(step, 10.0);
        assert_eq!(
            m,
            vec![
                ("skipped_steps", 2.0),
                ("deepspeed_lr", 0.0003333333333333334)
            ]
        );
        let (step, m) = step_line("[INFO] [timer.py:260:stop] epoch=0/micro_step=20/global_step=20, RunningAvgSamplesPerSec=111.01, CurrSamplesPerSec=111.13, MemAl          located=1.87GB").expect("timer line");
        assert_eq!((step, m), (20.0, vec![("samples_per_second", 111.13)]));
    }
}
