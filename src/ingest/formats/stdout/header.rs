//! The HF Trainer's lines: the `***** Running training *****` header block, LLaMA-Factory's
//! `world size: N`, the transformers version, and the metric dicts (the end-of-training summary
//! among them).

use super::*;
use crate::model::At;
use crate::model::Row;

/// Header lines of the HF Trainer's `***** Running training *****` block and the key each sets.
pub(super) const HEADER: [(&str, Key); 8] = [
    ("Num examples =", Key::NumExamples),
    ("Num Epochs =", Key::Epochs),
    ("Num update steps per epoch =", Key::StepsPerEpoch),
    ("Instantaneous batch size per device =", Key::PerDeviceBatch),
    ("Instantaneous batch size per GPU =", Key::PerDeviceBatch),
    (
        "Total train batch size (w. parallel, distributed & accumulation) =",
        Key::EffectiveBatch,
    ),
    ("Gradient Accumulation steps =", Key::GradAccum),
    ("Total optimization steps =", Key::TotalSteps),
];

/// Keys of the end-of-training dict; they describe the run, not a step.
pub(super) const SUMMARY_KEYS: [&str; 4] = [
    "train_runtime",
    "train_samples_per_second",
    "train_steps_per_second",
    "train_loss",
];

pub(super) const WORLD: &str = "world size: ";

pub(super) const VERSION: &str = "\"transformers_version\": \"";

pub(super) fn on_line(f: &Needles, st: &mut State, raw: &[u8], lineno: u32) {
    // One search for both bytes that matter before the line is read: a NUL (a damaged line,
    // skipped) and an ESC (ANSI colours, stripped).
    let plain = match memchr::memchr2(0, 0x1b, raw) {
        None => true,
        Some(_) if memchr::memchr(0, raw).is_some() => return,
        Some(_) => false,
    };
    if raw.is_empty() {
        return;
    }
    let stripped;
    let bytes = if plain {
        raw
    } else {
        stripped = strip_ansi(raw);
        &stripped
    };
    // A metric line starts with its dict (the scan found its `{`): no search for it then.
    let dict = if bytes.starts_with(b"{'") {
        Some(0)
    } else {
        f.dict.find(bytes)
    };
    if let Some(at) = dict {
        // A dict that is a quoted key's value (`'optim': {'lr': 5e-07,`) is part of a printed
        // structure, not a metric dict (a logger's `INFO:__main__:{'loss': …}` is one).
        let before = bytes[..at].trim_ascii_end();
        if before.ends_with(b"':") || before.ends_with(b"\":") {
            st.metrics.clear();
            return;
        }
        on_dict(st, &bytes[at..], lineno, at > 0);
        return;
    }
    if last_percent_bar(bytes).is_some() {
        if let Some(bar) = parse_bar(bytes) {
            seen_bar(st, bar, lineno);
        }
        // The progress bar starts after the training header's last line.
        if st.block == Block::TrainHeader {
            st.block = Block::None;
        }
        return;
    }
    if f.header.find(bytes).is_some() {
        st.block = Block::TrainHeader;
        st.training = true;
        // Each process of a distributed run may print the header (LLaMA-Factory's ranks do):
        // headers with no metric dict between them are one header, a resumed or another run's
        // comes after dicts.
        let dicts = st.out.records.len();
        if st.headers_seen == 0 || st.dicts_at_header != dicts {
            st.headers_seen += 1;
        }
        st.dicts_at_header = dicts;
        st.header_facts.clear();
        return;
    }
    if f.eval_header.find(bytes).is_some() || f.predict_header.find(bytes).is_some() {
        st.block = Block::Other;
        return;
    }
    if st.block == Block::TrainHeader {
        let text = String::from_utf8_lossy(bytes);
        for (needle, key) in HEADER {
            if let Some(at) = text.find(needle) {
                if let Some(x) = parse_number(&text[at + needle.len()..]) {
                    let label = needle.trim_end_matches(" =");
                    st.header_facts.push(Fact {
                        key,
                        value: ConfigValue::Number(x),
                        locator: At::line(lineno, label.to_string()),
                        rank: 0,
                    });
                }
                return;
            }
        }
        // "Resuming training from checkpoint with epoch 1 and global step 192" (transformers
        // 4.4x and later), "Continuing training from global step 192" (earlier): where this
        // session started, which its throughput is over.
        if text.contains("Resuming training from checkpoint")
            || text.contains("Continuing training from")
        {
            let global = text.find("global step ");
            if let Some((step, _)) = global.and_then(|at| integer_at(text.as_bytes(), at + 12)) {
                st.header_facts.push(Fact {
                    key: Key::ResumedFromStep,
                    value: ConfigValue::Number(step),
                    locator: At::line(lineno, "global step"),
                    rank: 0,
                });
            }
            return;
        }
        if let Some(at) = text.find("DataParallel so batch size has been adjusted to:") {
            let per_device = st
                .header_facts
                .iter()
                .find(|f| f.key == Key::PerDeviceBatch)
                .and_then(|f| f.value.as_f64());
            if let (Some(adj), Some(pd)) = (parse_number(&text[at + 49..]), per_device) {
                st.header_facts.push(Fact {
                    key: Key::WorldSize,
                    value: ConfigValue::Number(adj / pd),
                    locator: At::line(lineno, format!("DataParallel over {} GPUs", adj / pd)),
                    rank: 0,
                });
            }
        }
        return;
    }
    if !st.world_seen {
        if let Some(at) = f.world.find(bytes) {
            if let Some((n, _)) = integer_at(bytes, at + WORLD.len()) {
                st.world_seen = true;
                st.out
                    .fact(Key::WorldSize, n, At::line(lineno, "world size"), 0);
            }
            return;
        }
    }
    if !st.version_seen {
        if let Some(at) = f.version.find(bytes) {
            let rest = String::from_utf8_lossy(&bytes[at + VERSION.len()..]);
            if let Some(v) = rest.split('"').next() {
                st.version_seen = true;
                st.out.text_fact(
                    Key::TransformersVersion,
                    v,
                    At::line(lineno, "transformers_version"),
                    1,
                );
            }
        }
    }
}

/// A metric name the HF Trainer and the tools built on it log.
fn trainer_metric(name: &str) -> bool {
    matches!(name, "loss" | "learning_rate" | "grad_norm" | "train_loss")
        || name.starts_with("eval_")
        || name.starts_with("rewards/")
        || name.starts_with("train/")
}

/// What a dict's key means to the reader, worked out once per key and position.
#[derive(Clone, Copy)]
pub(super) struct DictKey {
    role: Role,
    /// One of the end-of-training dict's keys ([`SUMMARY_KEYS`]).
    summary: bool,
    /// A metric some rule below looks at.
    watched: Option<Watched>,
}

/// The metrics a dict's reading depends on: which dicts are a step's, an echo or an
/// evaluation repeated.
#[derive(Clone, Copy)]
enum Watched {
    Loss,
    LearningRate,
    EvalLoss,
}

/// The watched metrics of one dict.
#[derive(Default)]
struct Seen {
    loss: Option<f64>,
    learning_rate: Option<f64>,
    eval_loss: Option<f64>,
}

#[derive(Clone, Copy)]
enum Role {
    Epoch,
    Step,
    Tokens,
    /// A metric, by its name's number ([`Names::number`]).
    Metric(u32),
}

/// What follows the first quoted string of `text` (which opens with `{'`), its leading
/// whitespace skipped; `None` when the string is not closed.
fn after_first_string(text: &[u8]) -> Option<&[u8]> {
    let close = memchr::memchr(b'\'', text.get(2..)?)?;
    Some(text[2 + close + 1..].trim_ascii_start())
}

/// Whether `text` opens a Python set of strings (`{'a', 'b'}`), not a dict: its first quoted
/// string is followed by a comma or the closing brace.
fn set_literal(text: &[u8]) -> bool {
    after_first_string(text).is_some_and(|after| matches!(after.first(), Some(b',' | b'}')))
}

/// Whether the first value of the dict `text` opens a dict or a list.
fn nested_first_value(text: &[u8]) -> bool {
    after_first_string(text)
        .and_then(|after| after.strip_prefix(b":"))
        .is_some_and(|value| matches!(value.trim_ascii_start().first(), Some(b'{' | b'[')))
}

/// `echoed`: the dict follows other text on its line (a logger's prefix).
pub(super) fn on_dict(st: &mut State, text: &[u8], lineno: u32, echoed: bool) {
    // One pass over the dict, its metrics into one buffer for every dict: no allocation per line.
    let (mut epoch, mut step, mut tokens, mut summary) = (None, None, None, false);
    st.metrics.clear();
    let names = &mut st.names;
    let metrics = &mut st.metrics;
    let kind = |k: &str| DictKey {
        role: match k {
            "epoch" => Role::Epoch,
            "step" => Role::Step,
            "num_input_tokens_seen" => Role::Tokens,
            _ => Role::Metric(names.number(k)),
        },
        summary: k.starts_with("train_") && SUMMARY_KEYS.contains(&k),
        watched: match k {
            "loss" => Some(Watched::Loss),
            "learning_rate" => Some(Watched::LearningRate),
            "eval_loss" => Some(Watched::EvalLoss),
            _ => None,
        },
    };
    let mut seen = Seen::default();
    let parsed = for_each_py_pair_shaped(text, &mut st.dict_shape, kind, |k, v| {
        summary |= k.summary;
        let PyValue::Number(x) = v else {
            return;
        };
        match k.role {
            Role::Epoch => {
                epoch.get_or_insert(x);
            }
            Role::Step => {
                step.get_or_insert(x);
            }
            Role::Tokens => tokens = (x > 0.0).then_some(x),
            Role::Metric(n) => {
                metrics.push((n, x));
                match k.watched {
                    Some(Watched::Loss) => seen.loss = Some(x),
                    Some(Watched::LearningRate) => seen.learning_rate = Some(x),
                    Some(Watched::EvalLoss) => seen.eval_loss = Some(x),
                    None => {}
                }
            }
        }
    });
    let Some(end) = parsed else {
        // A dict cut short (the last line of a killed run) or mangled: counted for a warning.
        // Not a set a message prints (`Removed shared tensor {'model.shared.weight', …} while
        // saving`): its first string is followed by a comma, a key by a colon.
        // Nor a configuration printed as nested dicts (verl's `pprint` of its config:
        // `{'actor_rollout_ref': {'actor': {'clip_ratio': 0.2,` over many lines): its first value
        // opens another dict or a list, as no trainer's metric dict does.
        if text.starts_with(b"{'") && !set_literal(text) && !nested_first_value(text) {
            st.bad_dicts.line(lineno as usize);
        }
        return;
    };
    // The trainers print a metric dict alone on its line. One with words after it is quoted by a
    // message (a type checker's `{'step': 0, 'agent_id': …} of type {…} is not assignable to
    // …` in a GRPO environment's log): not a training metric.
    if !text.get(end..).unwrap_or_default().trim_ascii().is_empty() {
        st.metrics.clear();
        return;
    }
    st.block = Block::None;
    // A step's dict may carry the run's time so far too (`include_tokens_per_second` adds
    // `train_runtime` and `train_tokens_per_second` to every log in transformers 4.5x): one with
    // a training loss is a step's, not the end-of-training summary.
    if summary && seen.loss.is_none() {
        // The end-of-training dict, once per run: read again as pairs.
        if let Some((pairs, _)) = parse_py_dict(&String::from_utf8_lossy(text)) {
            let num = |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .and_then(|(_, v)| match v {
                        PyValue::Number(x) => Some(*x),
                        PyValue::Other(_) => None,
                    })
            };
            st.out.throughput(num, |field| At::line(lineno, field));
            st.summary_epoch = num("epoch").filter(|e| e.is_finite() && *e > 0.0);
        }
        return;
    }
    if st.metrics.is_empty() {
        return;
    }
    // LLaMA-Factory's (llmtuner's) callback echoes every log through its logger, the
    // end-of-training one too, whose missing loss and learning rate it prints as 0
    // (`… llmtuner.extras.callbacks - {'loss': 0.0000, 'learning_rate': 0.0000e+00, 'epoch':
    // 3.00}`): not a step whose loss collapsed.
    if echoed && seen.loss == Some(0.0) && seen.learning_rate == Some(0.0) {
        st.metrics.clear();
        return;
    }
    // A script's evaluation after training (`trainer.evaluate()`) where the last one during
    // training was (same epoch, same eval_loss): the same evaluation again, one point, not a
    // step logged twice.
    if let Some(loss) = seen.eval_loss {
        if st.last_eval == Some((epoch, loss)) {
            st.metrics.clear();
            return;
        }
        st.last_eval = Some((epoch, loss));
    }
    // The Trainer's logs always carry the epoch; a dict with neither epoch nor step and no metric
    // the trainers log is something else the script printed (a fill-mask result, a generation
    // sample, another task's scores): not a training metric.
    if epoch.is_none()
        && step.is_none()
        && !st
            .metrics
            .iter()
            .any(|&(n, _)| trainer_metric(st.names.name(n)))
    {
        st.metrics.clear();
        return;
    }
    let row = Row {
        line: lineno,
        epoch,
        step,
        tokens,
        ..Row::default()
    };
    let names = &st.names;
    let metrics = st.metrics.drain(..).map(|(n, x)| (names.name(n), x));
    st.out.records.push_row(row, metrics);
    st.training = true;
    st.hints.push(st.bar);
}
