//! A script's printout of its trainer arguments, read from the preamble: transformers' example
//! scripts (and many scripts after them) log `Training/evaluation parameters {training_args}`,
//! which prints `TrainingArguments(` and then one `name=value,` per line up to `)`; TRL's
//! configs (`SFTConfig(`, `DPOConfig(`, …) print the same way, and older transformers printed
//! the dataclass on one line (`TrainingArguments(output_dir='out', …, lr_scheduler_type=
//! <SchedulerType.LINEAR: 'linear'>, …)`). What the trainer was given, as it ran: read as the
//! run's arguments (rank 1) with each option's line.

use super::*;
use crate::ingest::formats::run_args;

/// The printout being read: its option names and values, each with its line.
#[derive(Default)]
pub(super) struct Dump {
    pairs: Vec<(String, String, u32)>,
}

/// Reads `text` (line `lineno`, colours stripped) as part of a printout of trainer arguments:
/// its opening line, an option line of the one being read, its closing `)`, or a whole
/// printout on one line. Facts go to `st.out` when a printout ends. Whether the line was part
/// of one.
pub(super) fn on_line(st: &mut State, text: &str, lineno: u32) -> bool {
    let t = text.trim();
    if st.dump.is_some() {
        // A CRLF log's `\r` ends a line of its own: the empty line after it is no line of the
        // printout's, nor its end.
        if t.is_empty() {
            return true;
        }
        if t == ")" {
            close(st);
            return true;
        }
        if let Some((name, value)) = option(t.strip_suffix(',').unwrap_or(t)) {
            if let Some(d) = st.dump.as_mut() {
                d.pairs.push((name.to_string(), value, lineno));
            }
            return true;
        }
        // Anything else ends it (a log line of another process, a printout cut short).
        close(st);
    }
    let Some(open) = opening(t) else {
        return false;
    };
    let rest = &t[open..];
    if rest.is_empty() {
        st.dump = Some(Dump::default());
        return true;
    }
    // The one-line form: the options up to the closing parenthesis.
    let Some(inner) = rest.strip_suffix(')') else {
        return false;
    };
    let pairs: Vec<_> = top_level(inner)
        .into_iter()
        .filter_map(|part| option(part.trim()))
        .map(|(n, v)| (n.to_string(), v, lineno))
        .collect();
    if pairs.is_empty() {
        return false;
    }
    st.dump = Some(Dump { pairs });
    close(st);
    true
}

/// Where the options start after a printout's opening (`TrainingArguments(`,
/// `Seq2SeqTrainingArguments(`, `SFTConfig(`, anywhere on the line, as a logger's prefix comes
/// first), or `None`.
fn opening(t: &str) -> Option<usize> {
    let paren = t.find('(')?;
    let head = &t[..paren];
    let start = head
        .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .map_or(0, |i| i + 1);
    let name = &head[start..];
    let class = name.starts_with(|c: char| c.is_ascii_uppercase())
        && (name.ends_with("TrainingArguments") || name.ends_with("Config"));
    class.then_some(paren + 1)
}

/// `name=value`, the value as the trainer means it ([`plain`]); `None` when the name is not an
/// identifier.
fn option(part: &str) -> Option<(&str, String)> {
    let (name, value) = part.split_once('=')?;
    crate::ingest::lenient::identifier(name).then(|| (name, plain(value.trim())))
}

/// A printed value as a configuration file would hold it: a quoted string without its quotes,
/// an enum by its value (`<SchedulerType.LINEAR: 'linear'>` and `SchedulerType.LINEAR` are
/// `linear`, `OptimizerNames.ADAMW_TORCH` is `adamw_torch`).
fn plain(v: &str) -> String {
    if let Some(inner) = v.strip_prefix('<').and_then(|r| r.strip_suffix('>')) {
        if let Some((_, value)) = inner.split_once(": ") {
            return unquote(value).to_string();
        }
    }
    if let Some((class, member)) = v.split_once('.') {
        let enum_like = class.starts_with(|c: char| c.is_ascii_uppercase())
            && class.chars().all(|c| c.is_ascii_alphanumeric())
            && !member.is_empty()
            && member
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
        if enum_like {
            return member.to_ascii_lowercase();
        }
    }
    unquote(v).to_string()
}

fn unquote(v: &str) -> &str {
    for q in ['\'', '"'] {
        if let Some(inner) = v.strip_prefix(q).and_then(|r| r.strip_suffix(q)) {
            return inner;
        }
    }
    v
}

/// The parts of a one-line printout, split at the commas outside quotes and brackets.
fn top_level(s: &str) -> Vec<&str> {
    let mut depth = 0i32;
    let mut quote = None;
    let mut start = 0;
    let mut cuts = Vec::new();
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '(' | '[' | '{' | '<') => depth += 1,
            (None, ')' | ']' | '}' | '>') => depth -= 1,
            (None, ',') if depth == 0 => {
                cuts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    cuts.push(&s[start..]);
    cuts
}

/// The options a printout must name to be a trainer's arguments (a model's or an adapter's
/// configuration prints the same way).
const TRAINING: [&str; 4] = [
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "learning_rate",
    "num_train_epochs",
];

/// The printout's options as facts (the run's arguments), each at its line.
pub(super) fn close(st: &mut State) {
    let Some(dump) = st.dump.take() else {
        return;
    };
    let named = |o: &str| dump.pairs.iter().any(|(n, _, _)| n == o);
    if TRAINING.iter().filter(|o| named(o)).count() < 2 {
        return;
    }
    let line = |option: &str| {
        dump.pairs
            .iter()
            .find(|(n, _, _)| n == option)
            .map_or(0, |(_, _, l)| *l)
    };
    let parsed = run_args::options(
        dump.pairs.iter().map(|(n, v, _)| (n.clone(), v.clone())),
        |option| At::line(line(option), option.to_string()),
    );
    st.out.warnings.extend(parsed.warnings);
    for fact in parsed.facts {
        if !st.out.states(fact.key, fact.rank) {
            st.out.facts.push(fact);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(lines: &[&str]) -> Vec<(Key, String, u32)> {
        let mut st = State::new(1, None);
        for (i, l) in lines.iter().enumerate() {
            on_line(&mut st, l, i as u32 + 1);
        }
        close(&mut st);
        st.out
            .facts
            .iter()
            .map(|f| {
                let line = match f.locator {
                    At::Line(n, _) => n,
                    _ => 0,
                };
                (f.key, f.value.to_string(), line)
            })
            .collect()
    }

    #[test]
    fn the_multi_line_printout_with_a_loggers_prefix() {
        let got = facts(&[
            "12/01/2026 10:00:00 - INFO - __main__ - Training/evaluation parameters TrainingArguments(",
            "_n_gpu=1,",
            "accelerator_config={'split_batches': False, 'even_batches': True},",
            "gradient_accumulation_steps=4,",
            "learning_rate=0.0005,",
            "logging_steps=2,",
            "lr_scheduler_type=SchedulerType.COSINE,",
            "max_steps=-1,",
            "num_train_epochs=2.0,",
            "optim=OptimizerNames.ADAMW_TORCH,",
            "per_device_train_batch_size=4,",
            "warmup_ratio=0.0,",
            "warmup_steps=5,",
            ")",
            "12/01/2026 10:00:01 - INFO - something else",
        ]);
        assert_eq!(
            got,
            vec![
                (Key::GradAccum, "4".into(), 4),
                (Key::LearningRate, "0.0005".into(), 5),
                (Key::LoggingSteps, "2".into(), 6),
                (Key::Scheduler, "cosine".into(), 7),
                (Key::Epochs, "2".into(), 9),
                (Key::Optimizer, "adamw_torch".into(), 10),
                (Key::PerDeviceBatch, "4".into(), 11),
                (Key::WarmupSteps, "5".into(), 13),
            ]
        );
    }

    #[test]
    fn a_crlf_logs_empty_lines_do_not_end_it() {
        let got = facts(&[
            "TrainingArguments(",
            "",
            "gradient_accumulation_steps=8,",
            "",
            "learning_rate=0.0002,",
            "",
            ")",
        ]);
        assert_eq!(got.len(), 2, "{got:?}");
    }

    #[test]
    fn the_one_line_printout_of_older_releases() {
        let got = facts(&[
            "Training/evaluation parameters TrainingArguments(output_dir='/w/out, a', per_device_train_batch_size=8, gradient_accumulation_steps=2, learning_rate=5e-05, lr_scheduler_type=<SchedulerType.LINEAR: 'linear'>, max_steps=-1, num_train_epochs=3.0, report_to=['wandb'])",
        ]);
        assert_eq!(
            got,
            vec![
                (Key::PerDeviceBatch, "8".into(), 1),
                (Key::GradAccum, "2".into(), 1),
                (Key::LearningRate, "5e-5".into(), 1),
                (Key::Scheduler, "linear".into(), 1),
                (Key::Epochs, "3".into(), 1),
            ]
        );
    }

    #[test]
    fn max_steps_overrides_the_epochs() {
        let got = facts(&[
            "SFTConfig(",
            "learning_rate=5e-05,",
            "max_steps=100,",
            "num_train_epochs=3.0,",
            "per_device_train_batch_size=1,",
            ")",
        ]);
        let keys: Vec<_> = got.iter().map(|(k, _, _)| *k).collect();
        assert_eq!(
            keys,
            vec![Key::LearningRate, Key::TotalSteps, Key::PerDeviceBatch]
        );
    }

    #[test]
    fn a_model_config_or_a_cut_printout_is_not_read_as_arguments() {
        // A model's configuration names no training option.
        assert!(facts(&["LoraConfig(r=8, lora_alpha=16, learning_rate_ish=1)"]).is_empty());
        assert!(facts(&["Namespace(per_device_train_batch_size=1, learning_rate=0.1)"]).is_empty());
        // A printout that another line cuts keeps what it read.
        let got = facts(&[
            "TrainingArguments(",
            "gradient_accumulation_steps=8,",
            "[rank1]: a warning",
            "learning_rate=0.1,",
        ]);
        assert!(got.is_empty(), "one training option is not enough: {got:?}");
    }
}
