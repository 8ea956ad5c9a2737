//! nanoGPT's stdout (`iter 100: loss 3.4036, time 1434.03ms, mfu 0.01%`, evaluations
//! `step 100: train loss 3.4633, val loss 3.4987`, and `tokens per iteration will be: 491,520`),
//! build-nanogpt's stdout (`step 0 | loss: 10.938573 | lr: 6.0000e-05 | norm: 27.0159 | …`,
//! `total desired batch size: 524288`) and its `log.txt` (`0 train 10.934416`, `0 val 10.9310`,
//! `0 hella 0.2413`).
//!
//! Tokens per iteration already counts gradient accumulation, world size, batch and block size,
//! so tokens seen = iteration × that. Where the log echoes the configuration's `block_size`,
//! the effective batch in sequences is tokens per iteration ÷ block size (so samples seen are
//! known); otherwise the token axis is the one to compare on.

use super::{Growth, TextFormat, lines_starting};
use crate::ingest::lenient::parse_number;
use crate::ingest::source::IngestError;
use crate::ingest::{Names, Parsed, Record};
use crate::model::At;
use crate::model::Key;
use crate::model::Row;

/// Yes when the head holds nanoGPT's or build-nanogpt's lines.
pub fn sniff(head: &str) -> Option<bool> {
    // nanoGPT's banner and iteration lines, build-nanogpt's banner; both print `step` lines
    // (nanoGPT's evaluation, build-nanogpt's `|`-separated ones), looked at once.
    let banner = head.contains("tokens per iteration will be:")
        || head.contains("total desired batch size:");
    Some(
        banner
            || lines_starting(head, "iter ").any(|l| iter_line(l).is_some())
            || lines_starting(head, "step ")
                .any(|l| eval_line(l).is_some() || pipe_line(l).is_some())
            || log_txt_head(head),
    )
}

/// Whether the head's first non-empty lines (up to 8) are all build-nanogpt `log.txt` lines.
fn log_txt_head(head: &str) -> bool {
    let first: Vec<&str> = head
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take(8)
        .collect();
    !first.is_empty() && first.iter().all(|l| log_txt_line(l).is_some())
}

/// Reads any of the three shapes; they can share a file.
pub fn read(text: &str, _path: &str) -> Result<Parsed, IngestError> {
    let mut out = Parsed::default();
    let mut names = Names::default();
    let mut per_iter: Option<(f64, usize)> = None;
    let mut block: Option<(f64, usize)> = None;
    let mut bpc: Option<usize> = None;
    let mut training = false;
    for (i, raw) in text.lines().enumerate() {
        let lineno = i + 1;
        let line = raw.trim_end_matches('\r');
        // nanoGPT echoes its configuration before training: `Overriding: batch_size = 1`, or the
        // config file itself after `Overriding config with config/x.py:`.
        if let Some((name, x)) = assignment(line).filter(|_| !training) {
            if let Some(&(option, key)) = CONFIG.iter().find(|(o, _)| *o == name) {
                out.fact(key, x, At::line(lineno, option), 1);
                continue;
            }
            if name == "block_size" {
                block = Some((x, lineno));
                continue;
            }
        }
        for label in ["tokens per iteration will be:", "total desired batch size:"] {
            if let Some(at) = line.find(label) {
                if let Some(x) = parse_number(&line[at + label.len()..]) {
                    per_iter = Some((x, lineno));
                }
            }
        }
        let parsed = iter_line(line)
            .or_else(|| eval_line(line))
            .or_else(|| pipe_line(line))
            .or_else(|| log_txt_line(line));
        let Some((step, metrics)) = parsed else {
            continue;
        };
        if bpc.is_none() && line.contains(" BPC") {
            bpc = Some(lineno);
        }
        training = true;
        out.records.push(Record {
            row: Row {
                step: Some(step),
                line: lineno as u32,
                ..Row::default()
            },
            metrics: metrics
                .into_iter()
                .map(|(n, x)| (names.get(n), x))
                .collect(),
        });
    }
    if let Some(line) = bpc {
        out.warnings.push(format!(
            "the training losses are printed in bits per character (BPC, from line {line}): read as nats (× ln 2), the unit of its eval losses and of other runs"
        ));
    }
    if let (Some((n, lineno)), Some((b, block_line))) = (per_iter, block) {
        // Sequences per iteration, when the tokens divide into whole blocks.
        let batch = n / b;
        if batch >= 1.0 && batch.fract() == 0.0 {
            out.fact(
                Key::EffectiveBatch,
                batch,
                At::line(
                    lineno,
                    format!(
                        "tokens per iteration ÷ block_size {} of line {block_line}",
                        crate::model::format_count(b)
                    ),
                ),
                2,
            );
        }
    }
    if let Some((n, lineno)) = per_iter {
        out.records
            .edit(|_, rec| rec.tokens = rec.step.map(|s| s * n));
        out.fact(
            Key::TokensSeen,
            out.records
                .iter()
                .filter_map(|r| r.tokens)
                .fold(0.0, f64::max),
            At::line(lineno, "tokens seen: the last step × tokens per iteration"),
            2,
        );
    }
    Ok(out)
}

/// nanoGPT's configuration variables and the key each sets. Its `gradient_accumulation_steps`
/// is the total over all processes (train.py divides it by the world size), so with the
/// per-process `batch_size` it gives the effective batch whatever the world size.
const CONFIG: [(&str, Key); 6] = [
    ("batch_size", Key::PerDeviceBatch),
    ("gradient_accumulation_steps", Key::GradAccum),
    ("learning_rate", Key::LearningRate),
    ("max_iters", Key::TotalSteps),
    ("log_interval", Key::LoggingSteps),
    ("warmup_iters", Key::WarmupSteps),
];

/// A configuration line's variable and the number it is given (`batch_size = 32`, or
/// `Overriding: batch_size = 32`), read once; not an expression (`'cuda' if … else 'cpu'`).
fn assignment(line: &str) -> Option<(&str, f64)> {
    let line = line.trim();
    let line = line.strip_prefix("Overriding:").map_or(line, str::trim);
    let (name, value) = line.split_once('=')?;
    Some((name.trim(), value.trim().parse::<f64>().ok()?))
}

type Parsed1 = (f64, Vec<(&'static str, f64)>);

/// `iter 100: loss 3.4036, time 1434.03ms, mfu 0.01%`; the loss may be `nan`.
fn iter_line(line: &str) -> Option<Parsed1> {
    let rest = line.trim_start().strip_prefix("iter ")?;
    let (n, rest) = rest.split_once(':')?;
    let step = n.trim().parse::<f64>().ok()?;
    let loss = rest.trim_start().strip_prefix("loss ")?;
    let loss = value(loss.split(',').next()?)?;
    Some((step, vec![("loss", loss)]))
}

/// `step 100: train loss 3.4633, val loss 3.4987`.
fn eval_line(line: &str) -> Option<Parsed1> {
    let rest = line.trim_start().strip_prefix("step ")?;
    let (n, rest) = rest.split_once(':')?;
    let step = n.trim().parse::<f64>().ok()?;
    let mut metrics = Vec::new();
    for part in rest.split(',') {
        let part = part.trim();
        if let Some(x) = part.strip_prefix("train loss ") {
            metrics.push(("eval_train_loss", value(x)?));
        } else if let Some(x) = part.strip_prefix("val loss ") {
            metrics.push(("eval_loss", value(x)?));
        }
    }
    (!metrics.is_empty()).then_some((step, metrics))
}

/// A logged number with an optional unit after it. Bits per character (`6.1551 BPC`, as forks
/// print it) are read in nats, as every other loss (eval lines, other runs) is: × ln 2.
fn value(s: &str) -> Option<f64> {
    let mut words = s.split_whitespace();
    let x = parse_number(words.next()?)?;
    Some(match words.next() {
        Some("BPC") => x * std::f64::consts::LN_2,
        _ => x,
    })
}

/// build-nanogpt: `step 0 | loss: 10.938573 | lr: 6.0000e-05 | norm: 27.0159 | time: …`.
fn pipe_line(line: &str) -> Option<Parsed1> {
    let rest = line.trim_start().strip_prefix("step ")?;
    let mut parts = rest.split('|');
    let step = parts.next()?.trim().parse::<f64>().ok()?;
    let mut metrics = Vec::new();
    for part in parts {
        let Some((k, v)) = part.split_once(':') else {
            continue;
        };
        let name = match k.trim() {
            "loss" => "loss",
            "lr" => "learning_rate",
            "norm" => "grad_norm",
            _ => continue,
        };
        metrics.push((name, parse_number(v.trim().trim_end_matches("ms"))?));
    }
    metrics
        .iter()
        .any(|(n, _)| *n == "loss")
        .then_some((step, metrics))
}

/// build-nanogpt `log.txt`: `<step> train|val|hella <value>`.
fn log_txt_line(line: &str) -> Option<Parsed1> {
    let mut it = line.split_whitespace();
    let step = it.next()?.parse::<f64>().ok()?;
    let name = match it.next()? {
        "train" => "loss",
        "val" => "eval_loss",
        "hella" => "eval_hellaswag_acc",
        _ => return None,
    };
    let x = parse_number(it.next()?)?;
    it.next().is_none().then_some((step, vec![(name, x)]))
}

/// nanoGPT and build-nanogpt stdout, build-nanogpt `log.txt`.
pub static FORMAT: TextFormat = TextFormat {
    name: "nanogpt",
    priority: 4,
    sniff,
    read,
    growth: Growth::Lines,
    trainer: Some("nanogpt"),
    console: true,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_configuration_nanogpt_echoes() {
        let log = "Overriding config with config/train_shakespeare_char.py:\n\nbatch_size = 32\ngradient_accumulation_steps = 1\nlearning_rate = 1e-3\nmax_iters = 3000\ndevice = 'cuda' if x else 'cpu'\nOverriding: log_interval = 20\ntokens per iteration will be: 4,096\niter 0: loss 4.1867, time 1412.47ms, mfu -100.00%\nbatch_size = 7\n";
        let p = read(log, "train.log").expect("reads");
        let fact = |k| {
            p.facts
                .iter()
                .find(|f| f.key == k)
                .and_then(|f| f.value.as_f64())
        };
        assert_eq!(
            fact(Key::PerDeviceBatch),
            Some(32.0),
            "the one before training"
        );
        assert_eq!(fact(Key::GradAccum), Some(1.0));
        assert_eq!(fact(Key::LearningRate), Some(0.001));
        assert_eq!(fact(Key::TotalSteps), Some(3000.0));
        assert_eq!(fact(Key::LoggingSteps), Some(20.0));
        // No block size echoed: the tokens per iteration do not give sequences.
        assert_eq!(fact(Key::EffectiveBatch), None);
        let with_block = log.replace("max_iters", "block_size = 128\nmax_iters");
        let p = read(&with_block, "train.log").expect("reads");
        let batch = p.facts.iter().find(|f| f.key == Key::EffectiveBatch);
        assert_eq!(
            batch.and_then(|f| f.value.as_f64()),
            Some(32.0),
            "4,096 ÷ 128"
        );
    }

    /// A fork's losses in bits per character are read in nats, as its eval lines are.
    #[test]
    fn bits_per_character_are_read_as_nats() {
        let log = "iter 0: loss 6.1551 BPC, time 100ms\nstep 0: train loss 4.2664, val loss 4.2650\niter 10: loss 3.0 BPC, time 90ms\n";
        let p = read(log, "output.log").expect("reads");
        let losses: Vec<f64> = p
            .records
            .to_vec()
            .iter()
            .flat_map(|r| {
                r.metrics
                    .iter()
                    .filter(|(n, _)| &**n == "loss")
                    .map(|(_, x)| *x)
            })
            .collect();
        assert_eq!(
            losses,
            [
                6.1551 * std::f64::consts::LN_2,
                3.0 * std::f64::consts::LN_2
            ]
        );
        assert!(
            p.warnings[0].contains("bits per character (BPC, from line 1)"),
            "{:?}",
            p.warnings
        );
    }

    #[test]
    fn reads_nanogpt_stdout_with_tokens_and_nan() {
        let log = "tokens per iteration will be: 491,520\nstep 0: train loss 4.2367, val loss 4.2475\n\
iter 0: loss 4.2709, time 10268.08ms, mfu -100.00%\niter 5: loss nan, time 1431.27ms, mfu 0.01%\n";
        assert_eq!(sniff(log), Some(true));
        let p = read(log, "train.log").expect("reads");
        assert_eq!(p.records.len(), 3);
        assert_eq!(
            p.records.to_vec()[0].metrics[1],
            ("eval_loss".into(), 4.2475)
        );
        assert_eq!(p.records.to_vec()[2].row.tokens, Some(5.0 * 491_520.0));
        assert!(p.records.to_vec()[2].metrics[0].1.is_nan());
    }

    #[test]
    fn reads_build_nanogpt_log_txt_and_stdout() {
        let log = "0 val 10.9310\n0 hella 0.2413\n0 train 10.934416\n1 train 9.8\n";
        assert_eq!(sniff(log), Some(true));
        let p = read(log, "log.txt").expect("reads");
        assert_eq!(p.records.len(), 4);
        assert_eq!(
            p.records.to_vec()[1].metrics[0],
            ("eval_hellaswag_acc".into(), 0.2413)
        );
        let out = "total desired batch size: 524288\nstep    0 | loss: 10.938573 | lr: 6.0000e-05 | norm: 27.0159 | time: 17830.71ms | tokens/sec: 29403.65\n";
        let p = read(out, "out.txt").expect("reads");
        assert_eq!(p.records.to_vec()[0].metrics.len(), 3);
        assert_eq!(p.records.to_vec()[0].row.tokens, Some(0.0));
    }
}
