//! The settings a log prints before training in its own words, read from the preamble (every
//! line before the first metric dict or training header, up to [`PREAMBLE_LINES`]):
//!
//! - Unsloth's banner, what the trainer says it uses (rank 0): `Num GPUs used = 1`, `Num examples
//!   = 312 | Num Epochs = 3 | Total steps = 117`, `Batch size per device = 2 | Gradient
//!   accumulation steps = 4`, `Data Parallel GPUs = 1 | Total batch size (2 x 4 x 1) = 8`;
//! - a training script's own banner, what it was given (rank 1): `Epochs: 5`, `LR : 0.0002`,
//!   `Batch size: 8`, `Train: 120개` (examples), `Gradient accumulation: 4`, `Max steps: 500` —
//!   one `label: number` or `label = number` per segment (segments split at `|`), the label
//!   after any leading emoji or box drawing, matched whole and case-insensitively.

use super::*;
use crate::model::At;

/// How many preamble lines are looked at, at most (a preamble is a few hundred lines; a log
/// with no dict at all is not read line by line to its end).
pub(super) const PREAMBLE_LINES: u32 = 5_000;

/// Labels and the key each sets, with the rank of what they say.
const LABELS: [(&str, Key, u8); 19] = [
    // Unsloth's banner.
    ("num gpus used", Key::WorldSize, 0),
    ("data parallel gpus", Key::WorldSize, 0),
    ("num examples", Key::NumExamples, 0),
    ("num epochs", Key::Epochs, 0),
    ("total steps", Key::TotalSteps, 0),
    ("batch size per device", Key::PerDeviceBatch, 0),
    ("gradient accumulation steps", Key::GradAccum, 0),
    ("total batch size", Key::EffectiveBatch, 0),
    // Scripts' own banners.
    ("epochs", Key::Epochs, 1),
    ("lr", Key::LearningRate, 1),
    ("learning rate", Key::LearningRate, 1),
    ("batch size", Key::PerDeviceBatch, 1),
    ("per device batch size", Key::PerDeviceBatch, 1),
    ("gradient accumulation", Key::GradAccum, 1),
    ("max steps", Key::TotalSteps, 1),
    ("train", Key::NumExamples, 1),
    ("train examples", Key::NumExamples, 1),
    ("train samples", Key::NumExamples, 1),
    ("effective batch size", Key::EffectiveBatch, 1),
];

/// Reads the settings on one preamble line.
pub(super) fn on_preamble_line(st: &mut State, raw: &[u8], lineno: u32) {
    // A printout of the trainer's arguments: its lines are options, not a banner's.
    if st.dump.is_some()
        || memchr::memmem::find(raw, b"Arguments(").is_some()
        || memchr::memmem::find(raw, b"Config(").is_some()
    {
        let text = String::from_utf8_lossy(&without_ansi(raw)).into_owned();
        if super::args_dump::on_line(st, &text, lineno) {
            return;
        }
    }
    if raw.len() > 400 || memchr::memchr(0, raw).is_some() {
        return;
    }
    // DeepSpeed's launcher: `[launch.py:164:main] dist_world_size=6`, the processes it started.
    const DIST: &[u8] = b"dist_world_size=";
    if let Some(at) = memchr::memmem::find(raw, DIST) {
        if let Some((n, _)) = integer_at(raw, at + DIST.len()) {
            if !st.out.facts.iter().any(|f| f.key == Key::WorldSize) {
                st.out
                    .fact(Key::WorldSize, n, At::line(lineno, "dist_world_size"), 0);
            }
        }
        return;
    }
    let bytes = without_ansi(raw);
    let text = String::from_utf8_lossy(&bytes);
    for segment in text.split('|') {
        // The last colon: a logger's own `INFO:__main__:` comes before the label.
        let Some((label, value)) = segment
            .split_once(" = ")
            .or_else(|| segment.rsplit_once(':'))
        else {
            continue;
        };
        // "Total batch size (2 x 4 x 1)": the label before its parenthesis.
        let shown = words(label.split('(').next().unwrap_or(label));
        let Some(&(_, key, rank)) = LABELS
            .iter()
            .find(|(l, _, _)| l.eq_ignore_ascii_case(shown))
        else {
            continue;
        };
        let Some(x) = leading_number(value) else {
            continue;
        };
        // Unsloth's `Num GPUs used` counts the GPUs a model is spread over too (a 30B model
        // over 3 cards in one process); `Data Parallel GPUs` counts the processes that each take
        // a batch, the world size, and replaces it.
        if shown.eq_ignore_ascii_case("data parallel gpus") {
            st.out.facts.retain(|f| {
                !(f.key == Key::WorldSize && f.locator.what().eq_ignore_ascii_case("num gpus used"))
            });
        }
        if st.out.states(key, rank) {
            continue;
        }
        st.out
            .fact(key, x, At::line(lineno, shown.to_string()), rank);
    }
}

/// The words at the end of a label: what follows the last character that is not a letter, a
/// digit or a space (an emoji, Unsloth's ASCII sloth, a `[DATA]` tag).
fn words(label: &str) -> &str {
    let from = label
        .char_indices()
        .rfind(|(_, c)| !(c.is_ascii_alphanumeric() || *c == ' '))
        .map_or(0, |(i, c)| i + c.len_utf8());
    label[from..].trim()
}

/// The number a value starts with (`312`, `0.0002`, `1,000`, `120개`), when nothing but a unit
/// or counter word follows it; not a path or a list.
fn leading_number(value: &str) -> Option<f64> {
    let v = value.trim();
    let end = v
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_digit() || matches!(c, '.' | ',' | 'e' | 'E' | '-' | '+')))
        .map_or(v.len(), |(i, _)| i);
    if end == 0 {
        return None;
    }
    let rest = &v[end..];
    // A path, a ratio or another field follows: not a setting's value.
    if rest.starts_with(['/', ':', 'x', '*']) || rest.trim_start().starts_with('(') {
        return None;
    }
    if rest.chars().any(|c| c.is_ascii_alphanumeric())
        && !rest.trim().chars().all(|c| !c.is_ascii())
    {
        return None;
    }
    parse_number(&v[..end]).filter(|x| x.is_finite() && *x > 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(lines: &[&str]) -> Vec<(Key, f64, u8)> {
        let mut st = State::new(1, None);
        for (i, l) in lines.iter().enumerate() {
            on_preamble_line(&mut st, l.as_bytes(), i as u32 + 1);
        }
        st.out
            .facts
            .iter()
            .map(|f| (f.key, f.value.as_f64().unwrap_or(f64::NAN), f.rank))
            .collect()
    }

    #[test]
    fn unsloths_banner() {
        let got = facts(&[
            "==((====))==  Unsloth - 2x faster free finetuning | Num GPUs used = 1",
            "   \\\\   /|    Num examples = 312 | Num Epochs = 3 | Total steps = 117",
            "O^O/ \\_/ \\    Batch size per device = 2 | Gradient accumulation steps = 4",
            "\\        /    Data Parallel GPUs = 1 | Total batch size (2 x 4 x 1) = 8",
            " \"-____-\"     Trainable parameters = 18,464,768 of 1,562,179,072 (1.18% trained)",
        ]);
        assert_eq!(
            got,
            // The world size is the data-parallel count's (it replaces `Num GPUs used`).
            vec![
                (Key::NumExamples, 312.0, 0),
                (Key::Epochs, 3.0, 0),
                (Key::TotalSteps, 117.0, 0),
                (Key::PerDeviceBatch, 2.0, 0),
                (Key::GradAccum, 4.0, 0),
                (Key::WorldSize, 1.0, 0),
                (Key::EffectiveBatch, 8.0, 0),
            ]
        );
    }

    #[test]
    fn a_scripts_banner_but_not_paths_or_prose() {
        let got = facts(&[
            "📊 Train data: data/train_koelectra_120.csv",
            "📝 Epochs: 5",
            "📦 Batch size: 8",
            "  LR          : 0.0002",
            "✅ Train: 120개",
            "🔧 Model: monologg/koelectra-base-v3-discriminator",
            "Epochs: see below",
            "[DATA] Train: 312  |  Validation: 16",
        ]);
        assert_eq!(
            got,
            vec![
                (Key::Epochs, 5.0, 1),
                (Key::PerDeviceBatch, 8.0, 1),
                (Key::LearningRate, 0.0002, 1),
                (Key::NumExamples, 120.0, 1),
            ]
        );
    }

    /// Unsloth spreading one model over 3 GPUs in one process (a real multi-card QLoRA log in
    /// `unslothai/unsloth`'s README_amd_radeon.md): the world size is its data-parallel count.
    #[test]
    fn unsloths_data_parallel_gpus_are_the_world_size() {
        let got = facts(&[
            "==((====))==  Unsloth - 2x faster free finetuning | Num GPUs used = 3",
            "   \\\\   /|    Num examples = 1,000 | Num Epochs = 1 | Total steps = 100",
            "O^O/ \\_/ \\    Batch size per device = 1 | Gradient accumulation steps = 2",
            "\\        /    Data Parallel GPUs = 1 | Total batch size (1 x 2 x 1) = 2",
        ]);
        let world: Vec<_> = got.iter().filter(|f| f.0 == Key::WorldSize).collect();
        assert_eq!(world, [&(Key::WorldSize, 1.0, 0)]);
    }

    /// DeepSpeed's launcher line (a real log in `yunsaijc/Eso-LLaVA` prints
    /// `dist_world_size=1` and no configuration).
    #[test]
    fn deepspeeds_launcher_gives_the_world_size() {
        let got = facts(&[
            "[2024-08-19 10:28:01,817] [INFO] [launch.py:163:main] nnodes=1, num_local_procs=1, node_rank=0",
            "[2024-08-19 10:28:01,817] [INFO] [launch.py:163:main] dist_world_size=1",
        ]);
        assert_eq!(got, vec![(Key::WorldSize, 1.0, 0)]);
    }

    /// A script's banner through Python's logging (`INFO:__main__:`), as a real QLoRA run
    /// printed it (sweep of public logs: `Ariz-Mohammadi/finetuned-qwen3-medical-qlora`).
    #[test]
    fn a_banner_behind_a_loggers_prefix() {
        let got = facts(&[
            "INFO:__main__:📊 Train samples: 18689",
            "INFO:__main__:📊 Eval samples: 984",
            "INFO:__main__:   Trainable params: 3,833,856 (0.08%)",
            "INFO:__main__:   Batch size (per device): 1",
            "INFO:__main__:   Gradient accumulation: 32",
            "INFO:__main__:   Effective batch size: 32",
            "INFO:__main__:   Learning rate: 0.0002",
            "2025-01-10 12:00:00,123 - INFO - Epochs: 3",
            "INFO:__main__:   Max sequence length: 2048",
        ]);
        assert_eq!(
            got,
            vec![
                (Key::NumExamples, 18689.0, 1),
                (Key::PerDeviceBatch, 1.0, 1),
                (Key::GradAccum, 32.0, 1),
                (Key::EffectiveBatch, 32.0, 1),
                (Key::LearningRate, 0.0002, 1),
                (Key::Epochs, 3.0, 1),
            ]
        );
    }
}
