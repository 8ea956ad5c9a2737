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

use crate::model::At;
use crate::model::Row;
use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::path::Path;

use super::*;
use crate::ingest::lenient::parse_number;
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

/// DeepSpeed's step and timer lines in the part of a file from `split` on, numbered from the cut,
/// for a first part that showed DeepSpeed: the second part's own scan could not know whether the
/// log has any, and looking for them in every block of every log would cost a search of the
/// whole part. Only logs that showed DeepSpeed pay for this second read.
pub(super) fn deepspeed_rescan(
    path: &Path,
    split: u64,
    bar: Option<Bar>,
    display: &str,
) -> Result<State, IngestError> {
    let io = |e| IngestError::Io {
        path: display.into(),
        error: e,
    };
    let mut file = File::open(path).map_err(io)?;
    file.seek(SeekFrom::Start(split)).map_err(io)?;
    let needles = Needles::new();
    let mut st = State {
        training: true,
        ds_seen: true,
        ..State::new(1, bar)
    };
    for_each_block(&mut file, |b, _| {
        let first = st.line;
        deepspeed_lines(&needles, &mut st, b, 0, first);
        st.line = st.line.saturating_add(count_lines(b));
    })
    .map_err(io)?;
    Ok(st)
}

/// DeepSpeed's configuration values and, once a DeepSpeed step line has been seen, every step and
/// timer line of the block, as records of their own. DeepSpeed prints its configuration when its
/// engine starts, before training: the configuration is looked for until found or until training
/// starts (the training header or the first metric; not the first progress bar, since dataset
/// preprocessing shows bars before the engine starts), and step lines only in logs that showed
/// DeepSpeed's configuration. A log without DeepSpeed then costs nothing once training has
/// started. (The second half of a file read in two looks for none of them: see
/// [`deepspeed_rescan`].)
pub(super) fn deepspeed_lines(n: &Needles, st: &mut State, b: &[u8], from: usize, first_line: u32) {
    let preamble = !st.training;
    let line_at = |hit: usize| {
        let start = line_start(b, 0, hit);
        (start, line_end(b, hit))
    };
    for (k, (name, key)) in deepspeed::CONFIG.iter().enumerate() {
        if st.ds_config_seen[k] || !preamble {
            continue;
        }
        for hit in n.ds_config[k].find_iter(&b[from..]) {
            let (start, end) = line_at(from + hit);
            let line = String::from_utf8_lossy(&b[start..end]);
            let at = from + hit - start;
            let Some(x) = line
                .is_char_boundary(at)
                .then(|| deepspeed::config_value(&line, at, name))
                .flatten()
            else {
                continue;
            };
            let lineno = first_line.saturating_add(count_lines(&b[..start]));
            st.ds_config_seen[k] = true;
            // Rank 0: what DeepSpeed printed it used outranks the trainer's arguments.
            st.out
                .fact(*key, x, At::line(lineno, format!("DeepSpeed {name}")), 0);
            break;
        }
    }
    let possible = st.ds_config_seen.contains(&true);
    let found = st.ds_seen || possible && n.ds_step.find(&b[from..]).is_some();
    if !found {
        return;
    }
    st.ds_seen = true;
    let mut hits: Vec<usize> = n.ds_step.find_iter(&b[from..]).collect();
    hits.extend(n.ds_timer.find_iter(&b[from..]));
    hits.sort_unstable();
    let (mut counted, mut lineno) = (0, first_line);
    for hit in hits {
        let (start, end) = line_at(from + hit);
        lineno = lineno.saturating_add(count_lines(&b[counted.min(start)..start]));
        counted = start;
        let line = String::from_utf8_lossy(&b[start..end]);
        let Some((step, metrics)) = deepspeed::step_line(&line) else {
            continue;
        };
        if metrics.is_empty() {
            continue;
        }
        st.out.records.push(Record {
            row: Row {
                step: Some(step),
                line: lineno,
                ..Row::default()
            },
            metrics: metrics
                .into_iter()
                .map(|(k, x)| (st.names.get(k), x))
                .collect(),
        });
        st.hints.push(None);
    }
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
