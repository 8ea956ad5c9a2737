//! Megatron-LM and Megatron-DeepSpeed (and forks such as FlagScale) training logs: iteration
//! lines `iteration 6900/ 159576 | consumed samples: 251312 | … | learning rate: 6.000E-05 |
//! global batch size: 96 | lm loss: 6.365808E+00 | … | grad norm: 95313.572 | …`, validation
//! lines `validation loss at iteration 3000 | lm loss value: 6.826255E+00 | …`, and the
//! arguments block (`  global_batch_size ....... 16`). Launchers prefix lines (`[default7]:`);
//! forks drop `|` separators, so fields are found by label, not by position.
//!
//! Samples and tokens seen come straight from `consumed samples` / `consumed tokens` (they stay
//! right through batch-size ramp-up). The batch math uses `data_parallel_size`, not the world
//! size: under tensor or pipeline parallelism most ranks do not add samples.

use super::{Growth, TextFormat};
use crate::ingest::lenient::parse_number;
use crate::ingest::source::IngestError;
use crate::ingest::{Fact, Names, Parsed, Record};
use crate::model::At;
use crate::model::Row;
use crate::model::{ConfigValue, Key};

/// Labels of the iteration line's fields and the metric each becomes (HF spelling).
const METRICS: [(&str, &str); 6] = [
    ("lm loss:", "loss"),
    ("learning rate:", "learning_rate"),
    ("grad norm:", "grad_norm"),
    ("loss scale:", "loss_scale"),
    ("number of skipped iterations:", "skipped_iterations"),
    ("number of nan iterations:", "nan_iterations"),
];

/// Arguments-block names, the key each sets and the label shown with it.
const ARGUMENTS: [(&str, Key, &str); 6] = [
    (
        "global_batch_size",
        Key::EffectiveBatch,
        "global_batch_size argument",
    ),
    (
        "micro_batch_size",
        Key::PerDeviceBatch,
        "micro_batch_size argument",
    ),
    (
        "data_parallel_size",
        Key::WorldSize,
        "data_parallel_size argument: data-parallel ranks, used as the world size in the batch math",
    ),
    ("train_iters", Key::TotalSteps, "train_iters argument"),
    ("lr", Key::LearningRate, "lr argument (peak learning rate)"),
    ("log_interval", Key::LoggingSteps, "log_interval argument"),
];

/// Megatron's start-up line stating the gradient accumulation (micro-batches per step).
const MICRO_BATCHES: &str = "setting number of micro-batches to constant ";

/// Yes when the head holds an iteration line or Megatron's arguments block.
pub fn sniff(head: &str) -> Option<bool> {
    let iteration = head.contains("iteration") && head.contains("consumed samples:");
    let arguments = head.contains("------------------------ arguments ------------------------")
        && head.contains("micro_batch_size");
    Some(iteration || arguments)
}

/// Reads a Megatron log.
pub fn read(text: &str, _path: &str) -> Result<Parsed, IngestError> {
    let mut out = Parsed::default();
    let mut names = Names::default();
    let mut in_arguments = false;
    let mut batch: Option<(f64, usize)> = None;
    // Each logged global batch: (value, iterations logged with it, first line).
    let mut batches: Vec<(f64, usize, usize)> = Vec::new();
    let mut ramp: Vec<String> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let lineno = i + 1;
        let line = raw.trim_end_matches('\r');
        if line.contains("-- arguments --") {
            in_arguments = true;
            continue;
        }
        if in_arguments {
            if line.contains("-- end of arguments --") {
                in_arguments = false;
            } else if let Some((name, value)) = argument(line) {
                if let Some((_, key, label)) = ARGUMENTS.iter().find(|(n, ..)| *n == name) {
                    if let Some(x) = parse_number(value) {
                        out.fact(*key, x, At::line(lineno, label.to_string()), 1);
                    }
                }
            }
            continue;
        }
        if let Some(at) = line.find(MICRO_BATCHES) {
            if let Some(x) = leading(&line[at + MICRO_BATCHES.len()..]) {
                out.fact(
                    Key::GradAccum,
                    x,
                    At::line(lineno, "number of micro-batches"),
                    0,
                );
            }
            continue;
        }
        if let Some(at) = line.find("validation loss at iteration") {
            let rest = &line[at + "validation loss at iteration".len()..];
            if let (Some(step), Some(loss)) = (leading(rest), field(line, "lm loss value:")) {
                out.records.push(Record {
                    row: Row {
                        step: Some(step),
                        line: line_number(lineno),
                        ..Row::default()
                    },
                    metrics: vec![(names.get("eval_loss"), loss)],
                });
            }
            continue;
        }
        let Some(at) = line.find("iteration") else {
            continue;
        };
        let rest = &line[at + "iteration".len()..];
        let Some(step) = leading(rest) else { continue };
        let mut rec = Record::new(Row {
            step: Some(step),
            samples: field(line, "consumed samples:"),
            tokens: field(line, "consumed tokens:"),
            line: line_number(lineno),
            ..Row::default()
        });
        for (label, name) in METRICS {
            if let Some(x) = field(line, label) {
                rec.metrics.push((names.get(name), x));
            }
        }
        if rec.metrics.is_empty() && rec.row.samples.is_none() {
            continue;
        }
        let logged_total = out
            .facts
            .iter()
            .any(|f| f.key == Key::TotalSteps && f.rank == 0);
        if !logged_total {
            if let Some(total) = rest.split_once('/').and_then(|(_, t)| leading(t)) {
                out.fact(
                    Key::TotalSteps,
                    total,
                    At::line(lineno, "iteration N/total"),
                    0,
                );
            }
        }
        if let Some(gbs) = field(line, "global batch size:") {
            match batches.iter_mut().find(|b| b.0 == gbs) {
                Some(b) => b.1 += 1,
                None => batches.push((gbs, 1, lineno)),
            }
            match batch {
                Some((b, _)) if b == gbs => {}
                Some((b, _)) => {
                    ramp.push(format!("{b} → {gbs} at iteration {step} (line {lineno})"));
                    batch = Some((gbs, lineno));
                }
                None => batch = Some((gbs, lineno)),
            }
        }
        out.records.push(rec);
    }
    // The run's batch is the one most iterations were logged with (after a ramp-up, the final
    // one; after a drop for an evaluation, the one before it); on a tie, the later.
    let logged = batches.iter().map(|b| b.1).sum::<usize>();
    if let Some(&(gbs, n, lineno)) = batches.iter().max_by_key(|b| b.1) {
        let share = if batches.len() > 1 {
            format!(", {n} of {logged} logged iterations")
        } else {
            String::new()
        };
        out.facts.push(Fact {
            key: Key::EffectiveBatch,
            value: ConfigValue::Number(gbs),
            locator: At::line(lineno, format!("global batch size{share}")),
            rank: 0,
        });
        if !ramp.is_empty() {
            out.warnings.push(format!(
                "the global batch size changed during training ({}); samples seen come from the logged consumed samples, the run's batch is taken as {gbs}, the one of most logged iterations ({n} of {logged})",
                ramp.join(", ")
            ));
        }
    }
    Ok(out)
}

fn line_number(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// `  global_batch_size ............. 16` → (`global_batch_size`, `16`).
fn argument(line: &str) -> Option<(&str, &str)> {
    let (name, rest) = line.trim().split_once(' ')?;
    let value = rest.trim_start_matches(['.', ' ']).trim();
    (rest.trim_start().starts_with("..") && !value.is_empty()).then_some((name, value))
}

/// The number after `label` in `line`.
fn field(line: &str, label: &str) -> Option<f64> {
    let at = line.find(label)? + label.len();
    leading(&line[at..])
}

/// The number at the start of `s`, after spaces, up to a space, `|`, `/` or `,`.
fn leading(s: &str) -> Option<f64> {
    let t = s.trim_start();
    let end = t.find([' ', '|', '/', ',']).unwrap_or(t.len());
    parse_number(&t[..end])
}

/// Megatron-LM / Megatron-DeepSpeed iteration lines and arguments block.
pub static FORMAT: TextFormat = TextFormat {
    name: "megatron",
    priority: 3,
    sniff,
    read,
    growth: Growth::Lines,
    trainer: Some("megatron"),
    console: true,
};

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "------------------------ arguments ------------------------
  data_parallel_size .............................. 2
  global_batch_size ............................... 16
  micro_batch_size ................................ 2
  tensor_model_parallel_size ...................... 2
-------------------- end of arguments ---------------------
[default7]: iteration        1/     100 | consumed samples:           16 | consumed tokens: 32768 | elapsed time per iteration (ms): 1849.6 | learning rate: 6.000E-05 | global batch size:    16 | lm loss: 1.094388E+01 | loss scale: 4096.0 | grad norm: 9.572 | number of skipped iterations:   0 | number of nan iterations:   0 |
 iteration        2/     100 | consumed samples:           48 | chip_throughput: 1196.22 /s  learning rate: 1.875E-09 | global batch size:    32 | lm loss: 1.0E+01 |
 validation loss at iteration 2 | lm loss value: 9.826255E+00 | lm loss PPL: 9.217327E+02 |
";

    #[test]
    fn reads_iterations_validation_and_arguments() {
        assert_eq!(sniff(LOG), Some(true));
        let p = read(LOG, "log.txt").expect("reads");
        assert_eq!(p.records.len(), 3);
        let r = &p.records.to_vec()[0];
        assert_eq!(
            (r.row.step, r.row.samples, r.row.tokens),
            (Some(1.0), Some(16.0), Some(32768.0))
        );
        assert_eq!(r.metrics[0], ("loss".into(), 10.94388));
        // No `|` before `learning rate:` (FlagScale): still read.
        assert!(
            p.records.to_vec()[1]
                .metrics
                .contains(&("learning_rate".into(), 1.875e-9))
        );
        assert_eq!(
            p.records.to_vec()[2].metrics,
            vec![("eval_loss".into(), 9.826255)]
        );
        let fact = |k: Key, rank: u8| {
            p.facts
                .iter()
                .find(|f| f.key == k && f.rank == rank)
                .and_then(|f| f.value.as_f64())
        };
        assert_eq!(fact(Key::WorldSize, 1), Some(2.0));
        assert_eq!(fact(Key::EffectiveBatch, 1), Some(16.0));
        assert_eq!(
            fact(Key::EffectiveBatch, 0),
            Some(32.0),
            "on a tie of iterations, the later batch"
        );
        assert_eq!(fact(Key::TotalSteps, 0), Some(100.0));
        assert!(
            p.warnings[0].contains("16 → 32 at iteration 2"),
            "{:?}",
            p.warnings
        );
    }
}
