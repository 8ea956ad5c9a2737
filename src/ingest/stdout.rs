//! Captured stdout/stderr of the HF Trainer and the tools built on it (LLaMA-Factory, TRL,
//! axolotl, llmtuner): Python-dict metric lines (`{'loss': 0.35, ...}`, or transformers 5.x's
//! `{'loss': '0.5216', ...}`), the `***** Running training *****` header, LLaMA-Factory's
//! `world size: N`, tqdm bars separated by carriage returns, ANSI colours, CRLF.
//!
//! The file is streamed in fixed-size chunks: memory is bounded by the longest line kept
//! ([`MAX_LINE`]), whatever the file size. A metric dict carries no step; it is recovered as
//! `round(epoch × steps per epoch)` from the header, else from the tqdm counter of the training
//! bar, else left to the merge (which says how it placed the points).

use std::io::{self, Read};

use memchr::memmem;

use super::lenient::{PyValue, parse_number, parse_py_dict};
use super::source::IngestError;
use super::{Fact, Parsed, Record};
use crate::model::{ConfigValue, Key};

/// The longest line looked at; longer ones (a runaway progress line, a binary blob) are counted
/// and skipped without being held in memory.
pub const MAX_LINE: usize = 1 << 20;

/// Header lines of the HF Trainer's `***** Running training *****` block and the key each sets.
const HEADER: [(&str, Key); 8] = [
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
const SUMMARY_KEYS: [&str; 4] = [
    "train_runtime",
    "train_samples_per_second",
    "train_steps_per_second",
    "train_loss",
];

/// Yes when the head shows a metric dict or the training header; not sure for other text files
/// named like logs (the metrics may start later); no otherwise.
pub fn sniff(head: &str, name: &str) -> Option<bool> {
    if head.contains("{'loss'")
        || head.contains("{'eval_loss'")
        || head.contains("***** Running training *****")
    {
        return Some(true);
    }
    let base = name.strip_suffix(".gz").unwrap_or(name);
    let texty = [".log", ".txt", ".out", ".err"]
        .iter()
        .any(|e| base.ends_with(e))
        || !base.contains('.');
    let t = head.trim_start();
    if texty && !t.starts_with('{') && !t.starts_with('[') {
        None
    } else {
        Some(false)
    }
}

struct Finders {
    dict: memmem::Finder<'static>,
    header: memmem::Finder<'static>,
    eval_header: memmem::Finder<'static>,
    predict_header: memmem::Finder<'static>,
    world: memmem::Finder<'static>,
    version: memmem::Finder<'static>,
    bar: memmem::Finder<'static>,
}

impl Finders {
    fn new() -> Self {
        Finders {
            dict: memmem::Finder::new("{'"),
            header: memmem::Finder::new("***** Running training *****"),
            eval_header: memmem::Finder::new("***** Running Evaluation *****"),
            predict_header: memmem::Finder::new("***** Running Prediction *****"),
            world: memmem::Finder::new("world size: "),
            version: memmem::Finder::new("\"transformers_version\": \""),
            bar: memmem::Finder::new("%|"),
        }
    }
}

#[derive(PartialEq)]
enum Block {
    None,
    TrainHeader,
    Other,
}

struct State {
    out: Parsed,
    header_facts: Vec<Fact>,
    headers_seen: usize,
    block: Block,
    /// The training bar's last counter (step) and total.
    bar: Option<(f64, f64)>,
    /// tqdm hint for each record, by index.
    hints: Vec<Option<(f64, f64)>>,
    world_seen: bool,
    version_seen: bool,
}

/// Streams a stdout log.
pub fn read(mut reader: impl Read, path: &str) -> Result<Parsed, IngestError> {
    let finders = Finders::new();
    let mut st = State {
        out: Parsed::default(),
        header_facts: Vec::new(),
        headers_seen: 0,
        block: Block::None,
        bar: None,
        hints: Vec::new(),
        world_seen: false,
        version_seen: false,
    };
    let too_long = for_each_line(&mut reader, |line, lineno| {
        on_line(&finders, &mut st, line, lineno)
    })
    .map_err(|e| IngestError::Io {
        path: path.into(),
        source: e,
    })?;
    if too_long > 0 {
        st.out.warnings.push(format!(
            "{too_long} lines longer than {MAX_LINE} bytes were skipped"
        ));
    }
    if st.headers_seen > 1 {
        st.out.warnings.push(format!(
            "{} training headers in one file (a resumed run or several runs); the last header's settings are used",
            st.headers_seen
        ));
    }
    let mut out = st.out;
    out.facts.append(&mut st.header_facts);
    place_steps(&mut out, &st.hints);
    Ok(out)
}

/// Gives each dict record a step from its epoch (with the header's steps per epoch) or the
/// training bar's counter.
fn place_steps(out: &mut Parsed, hints: &[Option<(f64, f64)>]) {
    let fact = |k: Key| {
        out.facts
            .iter()
            .rev()
            .find(|f| f.key == k)
            .and_then(|f| f.value.as_f64())
    };
    let total = fact(Key::TotalSteps);
    let spe = fact(Key::StepsPerEpoch).or_else(|| Some(total? / fact(Key::Epochs)?));
    for (rec, hint) in out.records.iter_mut().zip(hints) {
        if rec.step.is_some() {
            continue;
        }
        // The training bar's counter, when it belongs to the training bar (not an eval bar).
        let bar = hint
            .filter(|(_, m)| total.is_none_or(|t| t == *m))
            .map(|(n, _)| n);
        match (spe, rec.epoch, bar) {
            (Some(spe), Some(epoch), bar) => {
                let estimate = epoch * spe;
                // Printed epochs are rounded: 2 decimals in older transformers, 4 significant
                // digits in 5.x. When that leaves more than a step of doubt (long epochs), the
                // bar's counter inside the doubt is the exact step.
                let doubt = EPOCH_ROUNDING.max(epoch * EPOCH_REL_ROUNDING) * spe;
                match bar {
                    Some(n) if doubt >= 1.0 && (n - estimate).abs() <= doubt + 1.0 => {
                        rec.step = Some(n);
                        rec.step_origin = Some(
                            "training progress bar counter (within the rounding of the logged epoch)",
                        );
                    }
                    _ => {
                        rec.step = Some(estimate.round());
                        rec.step_origin = Some("epoch × steps per epoch (training header)");
                    }
                }
            }
            (_, _, Some(n)) => {
                rec.step = Some(n);
                rec.step_origin = Some("training progress bar counter");
            }
            _ => {}
        }
    }
}

/// Absolute rounding of epochs printed with 2 decimals (older transformers).
const EPOCH_ROUNDING: f64 = 0.005;
/// Relative rounding of epochs printed with 4 significant digits (transformers 5).
const EPOCH_REL_ROUNDING: f64 = 5e-4;

fn on_line(f: &Finders, st: &mut State, raw: &[u8], lineno: u32) {
    if raw.is_empty() {
        return;
    }
    let cleaned;
    let bytes = if memchr::memchr(0x1b, raw).is_some() {
        cleaned = strip_ansi(raw);
        &cleaned[..]
    } else {
        raw
    };
    if let Some(at) = f.dict.find(bytes) {
        let text = String::from_utf8_lossy(&bytes[at..]);
        if let Some((pairs, _)) = parse_py_dict(&text) {
            on_dict(st, &pairs, lineno);
        }
        return;
    }
    if f.bar.find(bytes).is_some() {
        if let Some(bar) = parse_bar(bytes) {
            st.bar = Some(bar);
        }
        return;
    }
    if f.header.find(bytes).is_some() {
        st.block = Block::TrainHeader;
        st.headers_seen += 1;
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
                        locator: format!("line {lineno} ({label})"),
                        rank: 0,
                    });
                }
                return;
            }
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
                    locator: format!("line {lineno} (DataParallel over {} GPUs)", adj / pd),
                    rank: 0,
                });
            }
        }
        return;
    }
    if !st.world_seen {
        if let Some(at) = f.world.find(bytes) {
            let rest = String::from_utf8_lossy(&bytes[at + 12..]);
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            if let Ok(n) = digits.parse::<f64>() {
                st.world_seen = true;
                st.out
                    .fact(Key::WorldSize, n, format!("line {lineno} (world size)"), 0);
            }
            return;
        }
    }
    if !st.version_seen {
        if let Some(at) = f.version.find(bytes) {
            let rest = String::from_utf8_lossy(&bytes[at + 25..]);
            if let Some(v) = rest.split('"').next() {
                st.version_seen = true;
                st.out.text_fact(
                    Key::TransformersVersion,
                    v,
                    format!("line {lineno} (transformers_version)"),
                    1,
                );
            }
        }
    }
}

fn on_dict(st: &mut State, pairs: &[(&str, PyValue<'_>)], lineno: u32) {
    st.block = Block::None;
    let num = |k: &str| {
        pairs
            .iter()
            .find(|(n, _)| *n == k)
            .and_then(|(_, v)| match v {
                PyValue::Number(x) => Some(*x),
                PyValue::Other(_) => None,
            })
    };
    if pairs.iter().any(|(k, _)| SUMMARY_KEYS.contains(k)) {
        if let Some(x) = num("train_runtime") {
            st.out.fact(
                Key::TrainRuntime,
                x,
                format!("line {lineno} (train_runtime)"),
                2,
            );
        }
        if let Some(x) = num("train_samples_per_second") {
            st.out.fact(
                Key::TrainSamplesPerSecond,
                x,
                format!("line {lineno} (train_samples_per_second)"),
                2,
            );
        }
        return;
    }
    let mut rec = Record {
        line: lineno,
        epoch: num("epoch"),
        step: num("step"),
        ..Record::default()
    };
    for (k, v) in pairs {
        if let PyValue::Number(x) = v {
            match *k {
                "epoch" | "step" => {}
                "num_input_tokens_seen" => rec.tokens = (*x > 0.0).then_some(*x),
                _ => rec.metrics.push((k.to_string(), *x)),
            }
        }
    }
    if rec.metrics.is_empty() {
        return;
    }
    st.out.records.push(rec);
    st.hints.push(st.bar);
}

/// Parses a tqdm bar `  3%|███▏  | 100/3815 [00:52<27:37,  2.24it/s]` into (100, 3815).
fn parse_bar(bytes: &[u8]) -> Option<(f64, f64)> {
    let text = std::str::from_utf8(bytes).ok()?;
    let after = &text[text.rfind("| ")? + 2..];
    let counts = after.split(" [").next()?.trim();
    let (n, m) = counts.split_once('/')?;
    Some((n.trim().parse().ok()?, m.trim().parse().ok()?))
}

fn strip_ansi(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == 0x1b && bytes.get(i + 1) == Some(&b'[') {
            i += 2;
            while i < bytes.len() && !(0x40..=0x7e).contains(&bytes[i]) {
                i += 1;
            }
            i += 1;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

/// Calls `f` with every line (split at `\n` and `\r`) and its 1-based line number (counting
/// `\n` only, as an editor does). Returns how many lines over [`MAX_LINE`] were skipped.
pub fn for_each_line(reader: &mut impl Read, mut f: impl FnMut(&[u8], u32)) -> io::Result<usize> {
    let mut buf = vec![0u8; MAX_LINE];
    let mut filled = 0;
    let mut lineno: u32 = 1;
    let mut skipping = false;
    let mut too_long = 0;
    loop {
        let n = match reader.read(&mut buf[filled..]) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        filled += n;
        let mut start = 0;
        while let Some(pos) = memchr::memchr2(b'\n', b'\r', &buf[start..filled]) {
            let end = start + pos;
            if skipping {
                skipping = false;
            } else {
                f(&buf[start..end], lineno);
            }
            if buf[end] == b'\n' {
                lineno = lineno.saturating_add(1);
            }
            start = end + 1;
        }
        if n == 0 {
            if start < filled && !skipping {
                f(&buf[start..filled], lineno);
            }
            return Ok(too_long);
        }
        if start == 0 && filled == buf.len() {
            if !skipping {
                too_long += 1;
            }
            skipping = true;
            filled = 0;
            continue;
        }
        buf.copy_within(start..filled, 0);
        filled -= start;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "[INFO|2026-11-28 05:33:17] llamafactory.hparams.parser:523 >> Process rank: 0, world size: 8, device: cpu:0\n\
[INFO|trainer.py:1469] 2026-11-28 >> ***** Running training *****\n\
[INFO|trainer.py:1470] 2026-11-28 >>   Num examples = 2,048\n\
[INFO|trainer.py:1471] 2026-11-28 >>   Num Epochs = 3\n\
[INFO|trainer.py:1473] 2026-11-28 >>   Instantaneous batch size per device = 2\n\
[INFO|trainer.py:1476] 2026-11-28 >>   Total train batch size (w. parallel, distributed & accumulation) = 128\n\
[INFO|trainer.py:1477] 2026-11-28 >>   Gradient Accumulation steps = 8\n\
[INFO|trainer.py:1478] 2026-11-28 >>   Total optimization steps = 48\n\
{'loss': '7.995', 'grad_norm': '3.106', 'learning_rate': '0.0006667', 'epoch': '0.125'}\n\
 10%|\u{2588}         | 5/48 [00:01<00:14,  2.98it/s]\r 12%|\u{2588}        | 6/48 [00:02<00:13,  3.05it/s]\r\n\
\u{1b}[32m{'loss': '7.306', 'grad_norm': nan, 'learning_rate': '0.00199', 'epoch': '0.375'}\u{1b}[0m\r\n\
***** Running Evaluation *****\n  Num examples = 128\n\
[A{'eval_loss': '1.247', 'eval_runtime': '0.157', 'epoch': '0.375'}\n\
{'train_runtime': '16.22', 'train_samples_per_second': '378.7', 'train_loss': '2.5', 'epoch': '3'}\n";

    #[test]
    fn reads_header_dicts_and_places_steps() {
        let p = read(LOG.as_bytes(), "train.log").expect("reads");
        let fact = |k| p.facts.iter().find(|f| f.key == k).expect("fact");
        assert_eq!(fact(Key::NumExamples).value.as_f64(), Some(2048.0));
        assert_eq!(
            fact(Key::EffectiveBatch).locator,
            "line 6 (Total train batch size (w. parallel, distributed & accumulation))"
        );
        assert_eq!(fact(Key::WorldSize).value.as_f64(), Some(8.0));
        assert_eq!(p.records.len(), 3);
        assert_eq!(p.records[0].step, Some(2.0));
        assert_eq!(p.records[1].step, Some(6.0));
        assert_eq!(p.records[1].line, 11);
        assert!(p.records[1].metrics[1].1.is_nan());
        assert_eq!(p.records[2].metrics[0], ("eval_loss".to_string(), 1.247));
        assert_eq!(fact(Key::TrainSamplesPerSecond).value.as_f64(), Some(378.7));
        assert!(
            !p.facts
                .iter()
                .any(|f| f.key == Key::NumExamples && f.value.as_f64() == Some(128.0))
        );
    }

    #[test]
    fn long_epochs_take_the_step_from_the_bar() {
        // 1,000,000 steps per epoch: '0.5' (4 significant digits) cannot tell step 500,010 from
        // 500,000; the bar can.
        let log = "***** Running training *****\n  Num update steps per epoch = 1,000,000\n  Total optimization steps = 3,000,000\n\
 17%|#  | 500000/3000000 [00:01<00:14,  3it/s]\n{'loss': '1.0', 'epoch': '0.5'}\n\
 17%|#  | 500010/3000000 [00:01<00:14,  3it/s]\n{'loss': '0.9', 'epoch': '0.5'}\n";
        let p = read(log.as_bytes(), "train.log").expect("reads");
        let steps: Vec<_> = p.records.iter().map(|r| r.step).collect();
        assert_eq!(steps, vec![Some(500_000.0), Some(500_010.0)]);
    }

    #[test]
    fn long_lines_are_skipped_with_bounded_memory() {
        let mut text = vec![b'x'; MAX_LINE * 3];
        text.extend_from_slice(b"\n{'loss': 1.0, 'epoch': 0.5}\n");
        let mut lines = Vec::new();
        let skipped =
            for_each_line(&mut &text[..], |l, n| lines.push((l.len(), n))).expect("reads");
        assert_eq!(skipped, 1);
        assert_eq!(lines, vec![(27, 2)]);
    }

    #[test]
    fn bars_and_ansi() {
        assert_eq!(
            parse_bar(" 3%|\u{2588}   | 100/3815 [00:52<27:37,  2.24it/s]".as_bytes()),
            Some((100.0, 3815.0))
        );
        assert_eq!(strip_ansi(b"\x1b[38;20mhi\x1b[0m"), b"hi");
    }
}
