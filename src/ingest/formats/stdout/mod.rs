//! Captured stdout/stderr of the HF Trainer and the tools built on it (LLaMA-Factory, TRL,
//! axolotl, llmtuner): Python-dict metric lines (`{'loss': 0.35, ...}`, or transformers 5.x's
//! `{'loss': '0.5216', ...}`), the `***** Running training *****` header, LLaMA-Factory's
//! `world size: N`, tqdm bars separated by carriage returns, ANSI colours, CRLF.
//!
//! The file is streamed in fixed-size chunks: memory is bounded by the longest line kept
//! ([`MAX_LINE`]), whatever the file size. A metric dict carries no step; it is recovered as
//! `round(epoch × steps per epoch)` from the header, else from the tqdm counter of the training
//! bar, else left to the merge (which says how it placed the points).

use crate::model::At;
use std::io::Read;

mod args_dump;
mod banner;
mod deepspeed;
mod header;
mod scan;
mod split;
mod tqdm;

use banner::*;
use deepspeed::*;
use header::*;
use scan::*;
use split::*;
use tqdm::*;

use super::{Format, Growth, Head, Sniff, Source};
use crate::ingest::lenient::{
    PyValue, decimal, for_each_py_pair_shaped, integer_at, parse_number, parse_py_dict,
    small_integer,
};
use crate::ingest::shape::Shape;
use crate::ingest::source::{self, IngestError};
use crate::ingest::{Fact, Names, Parsed, Record};
use crate::model::{ConfigValue, Key};

/// The longest line looked at; longer ones (a runaway progress line, a binary blob) are counted
/// and skipped without being held in memory.
pub const MAX_LINE: usize = 1 << 20;

/// Yes when the head shows a metric dict or the training header; not sure for other text files
/// named like logs (the metrics may start later); no otherwise.
pub fn sniff(head: &str, name: &str) -> Option<bool> {
    if head.contains("{'loss'")
        || head.contains("{'eval_loss'")
        || head.contains("{'train_runtime'")
        || head.contains("***** Running training *****")
    {
        return Some(true);
    }
    let base = name.strip_suffix(".gz").unwrap_or(name);
    let texty = [".log", ".txt", ".out", ".err"]
        .iter()
        .any(|e| base.ends_with(e))
        || !base.contains('.');
    // JSON opens with `{"` or `[{`, `["`, `[[`; a log line may open with `[2025-01-10 …]` or
    // `[INFO|…`.
    let t = head.trim_start();
    let json = t.starts_with('{')
        || t.strip_prefix('[')
            .is_some_and(|r| r.trim_start().starts_with(['{', '"', '[', ']']));
    if texty && !json { None } else { Some(false) }
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
    /// How many records had been read at the last training header.
    dicts_at_header: usize,
    /// A training header came before the part of the file this state reads (the second half
    /// of a split file, when the file's head holds one): as if `headers_seen` were not 0.
    headed: bool,
    block: Block,
    /// The training bar's last counter (step) and total.
    bar: Option<Bar>,
    /// The largest total of a bar without a description, and its line: the training bar's
    /// total (the total steps) when nothing else states it.
    largest_bar: Option<(f64, u32)>,
    /// tqdm hint for each record, by index.
    hints: Hints,
    /// Training has started (a training header or a metric was seen): the preamble's one-off
    /// lines (world size, transformers version, DeepSpeed's configuration) are no longer
    /// looked for.
    training: bool,
    world_seen: bool,
    version_seen: bool,
    ds_config_seen: [bool; 3],
    ds_seen: bool,
    /// The line number (counting `\n`) at the scanner's position.
    line: u32,
    names: Names,
    /// Bytes before the block being scanned (from the start of the file).
    offset: u64,
    /// NUL bytes seen: the line and byte offset of the first, and how many lines held any.
    nul: Option<(u32, u64)>,
    nul_lines: usize,
    /// Dict lines that could not be read.
    bad_dicts: crate::ingest::Skipped,
    /// The metrics of the dict being read, by name number ([`Names::number`]).
    metrics: Vec<(u32, f64)>,
    /// The epoch of the end-of-training summary dict (`train_runtime`, …, `epoch`), the last
    /// one read: where training ended, for dicts no bar places.
    summary_epoch: Option<f64>,
    /// What each key of the dicts read before means, by position ([`DictKey`]).
    dict_shape: Shape<DictKey>,
    /// A printout of the trainer's arguments being read ([`args_dump`]).
    dump: Option<args_dump::Dump>,
    /// The epoch and `eval_loss` of the last evaluation dict.
    last_eval: Option<(Option<f64>, f64)>,
}

impl State {
    fn new(line: u32, bar: Option<Bar>) -> Self {
        State {
            out: Parsed::default(),
            header_facts: Vec::new(),
            headers_seen: 0,
            dicts_at_header: 0,
            headed: false,
            block: Block::None,
            bar,
            largest_bar: None,
            hints: Hints::default(),
            training: false,
            world_seen: false,
            version_seen: false,
            ds_config_seen: [false; 3],
            ds_seen: false,
            line,
            names: Names::default(),
            offset: 0,
            nul: None,
            nul_lines: 0,
            metrics: Vec::new(),
            summary_epoch: None,
            dict_shape: Shape::default(),
            bad_dicts: crate::ingest::Skipped::default(),
            dump: None,
            last_eval: None,
        }
    }

    /// Appends what the scan of the next part of the same file found. That part numbered its
    /// lines from 1 (it could not know how many came before it): they are renumbered after this
    /// part's.
    fn join(&mut self, mut next: State) {
        let before = self.line.saturating_sub(1);
        next.out.records.shift_lines(before);
        for f in next.out.facts.iter_mut().chain(&mut next.header_facts) {
            f.locator = std::mem::replace(&mut f.locator, At::Whole).shifted(before);
        }
        // Values taken where first found: the first half's, when it found them (world size,
        // transformers version, DeepSpeed's configuration).
        let once = [
            Key::WorldSize,
            Key::TransformersVersion,
            Key::EffectiveBatch,
            Key::PerDeviceBatch,
            Key::GradAccum,
        ];
        let found: Vec<Key> = once
            .into_iter()
            .filter(|&k| self.out.facts.iter().any(|f| f.key == k))
            .collect();
        self.out.facts.extend(
            next.out
                .facts
                .into_iter()
                .filter(|f| !found.contains(&f.key)),
        );
        let (records, hints) = (&mut self.out.records, &mut self.hints);
        rayon::join(
            || records.append(next.out.records),
            || hints.append(next.hints),
        );
        self.out.warnings.extend(next.out.warnings);
        if next.headers_seen > 0 {
            self.header_facts = next.header_facts;
        }
        self.headers_seen += next.headers_seen;
        // The largest bar total, first seen: this part's, unless the next part's is larger.
        if let Some((total, line)) = next.largest_bar {
            if self.largest_bar.is_none_or(|(t, _)| total > t) {
                self.largest_bar = Some((total, line.saturating_add(before)));
            }
        }
        if self.nul.is_none() {
            self.nul = next.nul.map(|(l, o)| (l.saturating_add(before), o));
        }
        self.nul_lines += next.nul_lines;
        self.summary_epoch = next.summary_epoch.or(self.summary_epoch);
        self.bad_dicts.count += next.bad_dicts.count;
        if self.bad_dicts.first.is_none() {
            self.bad_dicts.first = next.bad_dicts.first.map(|l| l + before as usize);
        }
    }
}

/// Streams a stdout log.
pub fn read(reader: impl Read, path: &str) -> Result<Parsed, IngestError> {
    let (st, too_long) = scan(reader, State::new(1, None), path)?;
    Ok(finish(st, too_long))
}

/// Scans a stream from `st` on; returns the state and how many overlong lines were skipped.
fn scan(mut reader: impl Read, mut st: State, path: &str) -> Result<(State, usize), IngestError> {
    let needles = Needles::new();
    let too_long = for_each_block(&mut reader, |block, skip_first| {
        scan_block(&needles, &mut st, block, skip_first);
        st.offset += block.len() as u64;
    })
    .map_err(|e| IngestError::Io {
        path: path.into(),
        error: e,
    })?;
    Ok((st, too_long))
}

fn finish(mut st: State, too_long: usize) -> Parsed {
    args_dump::close(&mut st);
    let out = std::mem::take(&mut st.out);
    let header = std::mem::take(&mut st.header_facts);
    complete(out, header, &st, too_long)
}

/// A stdout log read as it grows (`--follow`): the scanner's state is kept between reads, so a
/// dict read later is placed by the bar and header read earlier, as in one read of the whole.
pub struct Tail {
    st: State,
    too_long: usize,
}

impl Tail {
    /// A log read from its first line.
    pub fn new() -> Tail {
        Tail {
            st: State::new(1, None),
            too_long: 0,
        }
    }

    /// Reads the next part of the log: whole lines, continuing where the last part ended.
    pub fn feed(&mut self, reader: impl Read, path: &str) -> Result<(), IngestError> {
        let st = std::mem::replace(&mut self.st, State::new(1, None));
        let (st, too_long) = scan(reader, st, path)?;
        self.st = st;
        self.too_long += too_long;
        Ok(())
    }

    /// What the log holds so far, as [`read`] would give it.
    pub fn parsed(&self) -> Parsed {
        complete(
            self.st.out.clone(),
            self.st.header_facts.clone(),
            &self.st,
            self.too_long,
        )
    }
}

/// The records and facts of a scan, with its warnings and the steps placed.
fn complete(mut out: Parsed, mut header_facts: Vec<Fact>, st: &State, too_long: usize) -> Parsed {
    if let Some((line, offset)) = st.nul {
        let damage = source::NulDamage {
            line: line as usize,
            offset: usize::try_from(offset).unwrap_or(usize::MAX),
            lines: st.nul_lines,
        };
        out.warnings.push(damage.warning());
    }
    if too_long > 0 {
        out.warnings.push(if too_long == 1 {
            format!("1 line longer than {MAX_LINE} bytes was skipped")
        } else {
            format!("{too_long} lines longer than {MAX_LINE} bytes were skipped")
        });
    }
    st.bad_dicts.warn(
        &mut out,
        "metric dict line could not be read (cut short, as a killed run's last line is, or mangled)",
        "metric dict lines could not be read (cut short, as a killed run's last line is, or mangled)",
    );
    if st.headers_seen > 1 {
        out.warnings.push(format!(
            "{} training headers in one file (a resumed run or several runs); the last header's settings are used",
            st.headers_seen
        ));
    }
    // A dataset with no length (streaming): the Trainer prints `Num Epochs` as `sys.maxsize`,
    // and its `Num examples` is the total batch × max_steps, not the data: not a count of
    // examples.
    let endless = header_facts.iter().any(|f| {
        f.key == Key::Epochs
            && f.value
                .as_f64()
                .is_some_and(|e| e >= crate::ingest::resolve::SENTINEL)
    });
    if endless {
        header_facts.retain(|f| f.key != Key::NumExamples);
    }
    out.facts.append(&mut header_facts);
    // Where nothing states the total steps (a header does: then no pass over the losses), the
    // training bar's: the one the training loss dicts were written under (a bar run before
    // training, a `datasets.map` with no description, may be larger), else the largest bar
    // without a description.
    let stated = out.facts.iter().any(|f| f.key == Key::TotalSteps);
    let train_dicts = out.records.column("loss").map_or(0, |c| c.rows.len());
    if !stated && train_dicts > 0 {
        let under_loss = out.records.column("loss").and_then(|c| {
            let mut bar_of = st.hints.in_order();
            // The largest total, and the first dict under it.
            c.rows
                .iter()
                .filter_map(|&r| Some((bar_of(r as usize)?.1, r)))
                .filter(|(t, _)| t.is_finite())
                .fold(None, |best: Option<(f64, u32)>, (t, r)| match best {
                    Some((b, _)) if b >= t => best,
                    _ => Some((t, r)),
                })
                .map(|(t, r)| (t, out.records.line(r as usize)))
        });
        let training_bar = match (under_loss, st.largest_bar) {
            (Some((t, line)), _) => Some((
                t,
                line,
                "progress bar total; the bar the training loss dicts were written under (this line's dict the first)",
            )),
            (None, Some((t, line))) => Some((
                t,
                line,
                "progress bar total; assumed the training bar's, the largest bar without a description",
            )),
            (None, None) => None,
        };
        if let Some((total, line, why)) = training_bar
            && total >= train_dicts as f64
        {
            out.fact(Key::TotalSteps, total, At::line(line, why), 2);
        }
    }
    place_steps(&mut out, &st.hints, st.summary_epoch);
    crate::ingest::rate_named_lr(&mut out.records);
    out
}

/// Gives each dict record a step from its epoch (with the header's steps per epoch) or the
/// training bar's counter.
fn place_steps(out: &mut Parsed, hints: &Hints, summary_epoch: Option<f64>) {
    let fact = |k: Key| {
        out.facts
            .iter()
            .rev()
            .find(|f| f.key == k)
            .and_then(|f| f.value.as_f64())
    };
    let total = fact(Key::TotalSteps);
    let stated = fact(Key::StepsPerEpoch);
    let planned = total
        .zip(fact(Key::Epochs))
        .map(|(t, e)| t / e)
        .filter(|s| s.is_finite() && *s > 0.0);
    // The header's examples over its total batch: an epoch's steps to within one. The total over
    // the epochs is rounded up when max_steps ends the run mid-epoch, and then does not fit it.
    let per_epoch = fact(Key::NumExamples)
        .zip(fact(Key::EffectiveBatch))
        .map(|(n, b)| n / b)
        .filter(|s| s.is_finite() && *s > 0.0);
    // With whether the steps of an epoch are the examples ÷ the batch.
    let (spe, origin, by_examples) = match (stated, planned, per_epoch) {
        (Some(s), _, _) => (Some(s), "epoch × steps per epoch (training header)", false),
        (None, Some(p), Some(d)) if !crate::ingest::resolve::fits(p, d) => (
            Some(d.ceil()),
            "epoch × steps per epoch (the log's examples ÷ its total batch; its total steps ÷ its epochs is rounded up by max_steps)",
            true,
        ),
        (None, p, _) => (
            p,
            "epoch × steps per epoch (the log's total steps ÷ its epochs)",
            false,
        ),
    };
    let spe = spe.filter(|s| s.is_finite() && *s > 0.0);
    // Steps per epoch worked out from the examples ÷ the batch (where the planned total over
    // the epochs did not fit them) that the training bar contradicts: the bar's counters are the
    // steps. (A GRPO run's banner counts prompts: 80 examples at a total batch of 4 is not 20
    // steps an epoch when each prompt is several completions; its bar makes 80.)
    let spe = match (by_examples, spe) {
        (true, Some(s)) => {
            let off = bar_steps_per_epoch(&out.records, hints, total)
                .is_some_and(|b| (b / s - 1.0).abs() > 0.05);
            if off {
                out.warnings.push(format!(
                    "the training progress bar's counters do not fit the {} steps an epoch worked out from the header's examples ÷ batch (its counter ÷ epoch is more than 5% away: what the header counts is not what a step takes a batch of, as a GRPO run's prompts, each several completions, are not); the counters give the steps",
                    crate::model::format_number(s)
                ));
                None
            } else {
                Some(s)
            }
        }
        (_, spe) => spe,
    };
    // Where no header gives the steps of an epoch, the dicts are placed by the bar. But dicts a
    // buffered stdout (nohup, a pipe) wrote in one burst after the bar had moved on all have
    // the bar's counter when they were written, not their steps: those are placed by their
    // epochs, at the bar's total over the epoch the end-of-training summary ended at.
    let at_end = total
        .zip(summary_epoch)
        .map(|(t, e)| t / e)
        .filter(|s| spe.is_none() && s.is_finite() && *s >= 1.0);
    let burst = if spe.is_none() {
        hints.bursts(&out.records)
    } else {
        Vec::new()
    };
    // Burst dicts placed by the summary's epoch, and those left for the run's configuration.
    let (mut by_epoch, mut left) = (0usize, 0usize);
    let mut bar_of = hints.in_order();
    out.records.fill_steps(|i, epoch| {
        let in_burst = burst.get(i).copied().unwrap_or(false);
        // The training bar's counter, when it belongs to the training bar (not an eval bar).
        let bar = bar_of(i)
            .filter(|(_, m)| total.is_none_or(|t| t == *m))
            .map(|(n, _)| n);
        match (spe, epoch, bar) {
            (_, Some(epoch), _) if in_burst => match at_end {
                Some(burst_spe) => {
                    by_epoch += 1;
                    Some(((epoch * burst_spe).round(), BURST_BY_END))
                }
                // No summary to place them by: no step here, and the merge places them by
                // the run's configuration (its logging interval, its steps per epoch).
                None => {
                    left += 1;
                    None
                }
            },
            (Some(spe), Some(epoch), bar) => {
                let estimate = epoch * spe;
                // Printed epochs are rounded: 2 decimals in older transformers, 4 significant
                // digits in 5.x. When that leaves more than a step of doubt (long epochs), the
                // bar's counter inside the doubt is the exact step.
                let doubt = crate::ingest::epoch_doubt(epoch) * spe;
                match bar {
                    Some(n) if doubt >= 1.0 && (n - estimate).abs() <= doubt + 1.0 => Some((
                        n,
                        "training progress bar counter (within the rounding of the logged epoch)",
                    )),
                    // No bar (`disable_tqdm`) and an epoch rounded to more than a step: dicts
                    // logged a few steps apart share one rounded epoch, so their estimates
                    // fall on one step. Left to the merge, which numbers them by the run's
                    // logging interval where their epochs agree.
                    None if doubt >= 1.0 => None,
                    _ => Some((estimate.round(), origin)),
                }
            }
            (_, _, Some(n)) => Some((n, "training progress bar counter")),
            _ => None,
        }
    });
    if left > 0 {
        out.warnings.push(format!(
            "{left} metric dicts were written in bursts after the progress bar had moved on (stdout buffered: nohup, a pipe, a file), so the bar does not give their steps, and no end-of-training summary gives an epoch's steps; they are placed by the run's configuration (its logging_steps, its steps per epoch)"
        ));
    }
    if by_epoch > 0 {
        // The printed epoch's absolute rounding (its doubt at epoch 0), in steps.
        let doubt = at_end.map_or(0.0, |s| (crate::ingest::epoch_doubt(0.0) * s).ceil());
        out.warnings.push(format!(
            "{by_epoch} metric dicts were written in bursts after the progress bar had moved on (stdout buffered: nohup, a pipe, a file), so the bar does not give their steps; placed by epoch × steps per epoch instead, to within the logged epoch's rounding (about ±{} steps)",
            crate::model::format_count(doubt)
        ));
    }
}

/// The steps of an epoch the training bar's counters say, where at least three dicts with an
/// epoch follow a bar of the run's total steps: the median of counter ÷ epoch.
fn bar_steps_per_epoch(
    frame: &crate::model::Frame,
    hints: &Hints,
    total: Option<f64>,
) -> Option<f64> {
    let mut bar_of = hints.in_order();
    let mut ratios: Vec<f64> = (0..frame.len())
        .filter_map(|i| {
            let (n, t) = bar_of(i)?;
            let e = frame.known(crate::model::Coordinate::Epoch, i)?;
            (total.is_none_or(|total| total == t) && e > 0.0 && n > 0.0).then_some(n / e)
        })
        .filter(|r| r.is_finite())
        .collect();
    if ratios.len() < 3 {
        return None;
    }
    ratios.sort_by(f64::total_cmp);
    Some(ratios[ratios.len() / 2])
}

/// How a dict of a burst was placed when no header gave the steps of an epoch.
const BURST_BY_END: &str =
    "epoch × steps per epoch (the progress bar's total ÷ the epoch of the end-of-training summary)";

/// Captured stdout/stderr of HF Trainer, LLaMA-Factory, TRL, axolotl.
pub struct Stdout;

impl Format for Stdout {
    fn name(&self) -> &'static str {
        "stdout"
    }
    fn priority(&self) -> u8 {
        10
    }
    fn sniff(&self, head: &Head<'_>) -> Sniff {
        Sniff::from(sniff(head.text, head.name))
    }
    fn read(&self, src: Source<'_>) -> Result<Parsed, IngestError> {
        read_input(src.input, src.display)
    }
    fn growth(&self) -> Growth {
        Growth::Stream
    }
    fn exact_epochs(&self) -> bool {
        false
    }
    fn console(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::Trickle;

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
            fact(Key::EffectiveBatch).locator.to_string(),
            "line 6 (Total train batch size (w. parallel, distributed & accumulation))"
        );
        assert_eq!(fact(Key::WorldSize).value.as_f64(), Some(8.0));
        assert_eq!(p.records.len(), 3);
        assert_eq!(p.records.to_vec()[0].row.step, Some(2.0));
        assert_eq!(p.records.to_vec()[1].row.step, Some(6.0));
        assert_eq!(p.records.to_vec()[1].row.line, 11);
        assert!(p.records.to_vec()[1].metrics[1].1.is_nan());
        assert_eq!(
            p.records.to_vec()[2].metrics[0],
            ("eval_loss".into(), 1.247)
        );
        assert_eq!(fact(Key::TrainSamplesPerSecond).value.as_f64(), Some(378.7));
        assert!(
            !p.facts
                .iter()
                .any(|f| f.key == Key::NumExamples && f.value.as_f64() == Some(128.0))
        );
    }

    #[test]
    fn a_max_steps_header_places_dicts_by_its_examples_over_its_batch() {
        // transformers 4.x stopped by max_steps 300: "Num Epochs = 3" is rounded up from
        // 300 ÷ 128; the dicts carry no step, and 2-decimal epochs.
        let log = "***** Running training *****\n  Num examples = 2,048\n  Num Epochs = 3\n\
  Total train batch size (w. parallel, distributed & accumulation) = 16\n\
  Total optimization steps = 300\n\
{'loss': 0.5, 'learning_rate': 1e-05, 'epoch': 1.17}\n\
{'loss': 0.12, 'learning_rate': 0.0, 'epoch': 2.34}\n";
        let p = read(log.as_bytes(), "train.log").expect("reads");
        let rows = p.records.to_vec();
        assert_eq!(rows[1].row.step, Some(300.0), "2.34 × 128, not × 100");
        assert!(
            rows[1]
                .row
                .step_origin
                .expect("origin")
                .contains("examples ÷ its total batch")
        );
        // A run not stopped by max_steps keeps its total ÷ its epochs.
        let log = log.replace("= 300", "= 384");
        let p = read(log.as_bytes(), "train.log").expect("reads");
        assert_eq!(p.records.to_vec()[1].row.step, Some(300.0), "2.34 × 128");
        assert!(
            p.records.to_vec()[1]
                .row
                .step_origin
                .expect("origin")
                .contains("total steps ÷ its epochs")
        );
    }

    #[test]
    fn block_boundaries_do_not_change_what_is_read() {
        let whole = read(LOG.as_bytes(), "train.log").expect("reads");
        for step in [1, 2, 3, 7, 64] {
            let p = read(Trickle(LOG.as_bytes(), step), "train.log").expect("reads");
            // Debug text, not `==`: the log holds a NaN.
            assert_eq!(
                format!("{p:?}"),
                format!("{whole:?}"),
                "reads of {step} bytes"
            );
        }
    }

    #[test]
    fn two_halves_read_as_the_whole_does() {
        let mut log = LOG.replace(
            "Total optimization steps = 48",
            "Total optimization steps = 4000",
        );
        for step in 1..=4000 {
            log.push_str(&format!(" 1%|#  | {step}/4000 [00:01<00:14,  3it/s]\r"));
            if step % 10 == 0 {
                let epoch = f64::from(step) / 4000.0 * 3.0;
                log.push_str(&format!(
                    "\n{{'loss': '{}', 'epoch': '{epoch}'}}\n",
                    1.0 / f64::from(step)
                ));
            }
            if step == 3500 {
                // A resumed run's header, in the second half: its facts' lines are counted
                // from the cut and renumbered.
                log.push_str("\n***** Running training *****\n  Num examples = 4,096\n  Total optimization steps = 4000\n");
            }
        }
        log.push_str(
            "\n{'train_runtime': 16.2, 'train_samples_per_second': 378.7, 'train_loss': 0.3}\n",
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("train.log");
        std::fs::write(&path, &log).expect("writes");
        assert!(
            split_point(&path, 0).expect("reads").is_some(),
            "the test must split"
        );
        let whole = read(log.as_bytes(), "train.log").expect("reads");
        let halves = read_path_split_from(&path, "train.log", 0).expect("reads");
        assert_eq!(whole.records.len(), 403);
        let runtime = whole
            .facts
            .iter()
            .rev()
            .find(|f| f.key == Key::TrainRuntime);
        assert!(
            runtime.is_some_and(|f| f.locator.to_string() == "line 821 (train_runtime)"),
            "{runtime:?}"
        );
        assert_eq!(format!("{halves:?}"), format!("{whole:?}"));
    }

    /// A log with no header, its training bar's total first seen in the second half (a run
    /// resumed with a longer schedule): the total steps the halves assume are the whole's.
    #[test]
    fn the_largest_bar_of_the_second_half_is_the_whole_logs() {
        let mut log = String::new();
        for step in 1..=3000 {
            let total = if step < 2000 { 2000 } else { 4000 };
            log.push_str(&format!(" 1%|#  | {step}/{total} [00:01<00:14,  3it/s]\r"));
            if step % 10 == 0 {
                log.push_str(&format!(
                    "\n{{'loss': '{}', 'epoch': '{}'}}\n",
                    1.0 / f64::from(step),
                    f64::from(step) / 1000.0
                ));
            }
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("train.log");
        std::fs::write(&path, &log).expect("writes");
        let (cut, _) = split_point(&path, 0).expect("reads").expect("a cut");
        assert!(log[..cut as usize].ends_with("\n") && !log[..cut as usize].contains("/4000 "));
        let whole = read(log.as_bytes(), "train.log").expect("reads");
        let halves = read_path_split_from(&path, "train.log", 0).expect("reads");
        let total = |p: &Parsed| {
            p.facts
                .iter()
                .find(|f| f.key == Key::TotalSteps)
                .map(|f| (f.value.clone(), f.locator.to_string()))
        };
        assert_eq!(
            total(&whole).map(|t| t.0),
            Some(ConfigValue::Number(4000.0))
        );
        assert_eq!(total(&halves), total(&whole));
        assert_eq!(format!("{halves:?}"), format!("{whole:?}"));
    }

    #[test]
    fn a_cut_beyond_the_small_window_is_found_in_the_large_one() {
        // Dicts only in the first third, then more than the small window of bar updates with
        // no dict, then one dict and more bars: the cut is that dict, found by the large window.
        let mut log = LOG.replace(
            "Total optimization steps = 48",
            "Total optimization steps = 9000",
        );
        let bar = |step: u32| format!(" 1%|#  | {step}/9000 [00:01<00:14,  3it/s]\r");
        for step in 1..=9000 {
            log.push_str(&bar(step));
            if step % 10 == 0 && (step < 3000 || step == 8000) {
                let epoch = f64::from(step) / 9000.0;
                log.push_str(&format!(
                    "\n{{'loss': '{}', 'epoch': '{epoch}'}}\n",
                    1.0 / f64::from(step)
                ));
            }
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("train.log");
        std::fs::write(&path, &log).expect("writes");
        let len = log.len() as u64;
        let (cut, bar_before) = split_point(&path, 0).expect("reads").expect("a cut");
        assert!(cut > len / 2 + SMALL_WINDOW, "{cut} of {len}");
        assert_eq!(&log.as_bytes()[cut as usize..][..8], b"{'loss':");
        assert_eq!(bar_before, Some((8000.0, 9000.0)));
        let whole = read(log.as_bytes(), "train.log").expect("reads");
        let halves = read_path_split_from(&path, "train.log", 0).expect("reads");
        assert_eq!(whole.records.len(), 303);
        assert_eq!(format!("{halves:?}"), format!("{whole:?}"));
    }

    #[test]
    fn deepspeed_lines_in_the_second_half_are_found() {
        let mut log = String::from(
            "[INFO] [config.py:962:print_user_config]   json = {\n    \"train_batch_size\": 16,\n}\n\
             ***** Running training *****\n  Num update steps per epoch = 1000\n  Total optimization steps = 1000\n",
        );
        for step in 1..=1000 {
            log.push_str(&format!(" 1%|#  | {step}/1000 [00:01<00:14,  3it/s]\r"));
            if step % 10 == 0 {
                log.push_str(&format!(
                    "\n[INFO] [logging.py:96:log_dist] [Rank 0] step={step}, skipped=0, lr=[0.0003], mom=[(0.9, 0.999)]\n\
                     {{'loss': '{}', 'epoch': '{}'}}\n",
                    1.0 / f64::from(step),
                    f64::from(step) / 1000.0
                ));
            }
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("train.log");
        std::fs::write(&path, &log).expect("writes");
        let whole = read(log.as_bytes(), "train.log").expect("reads");
        let halves = read_path_split_from(&path, "train.log", 0).expect("reads");
        assert_eq!(whole.records.len(), 200);
        // The second half's DeepSpeed records come after its dicts; the same records otherwise.
        let by_line = |p: &Parsed| {
            let mut r = p.records.to_vec();
            r.sort_by_key(|r| r.row.line);
            format!("{r:?}")
        };
        assert_eq!(by_line(&halves), by_line(&whole));
        assert_eq!(halves.facts, whole.facts);
    }

    /// A configuration pretty-printed as nested dicts over many lines (verl's `pprint`, each
    /// line behind a Ray prefix) is neither metric records nor damaged ones; a logger's
    /// `INFO:__main__:` before a metric dict still is one (sweep 10b).
    #[test]
    fn a_printed_nested_config_is_no_damaged_dict() {
        let log = "(main_task pid=4579) {'actor_rollout_ref': {'actor': {'clip_ratio': 0.2,\n\
(main_task pid=4579)                                  'entropy_coeff': 0.001,\n\
(main_task pid=4579)                                  'fsdp_config': {'fsdp_size': -1,\n\
(main_task pid=4579)                                                  'wrap_policy': {'min_num_params': 0}},\n\
(main_task pid=4579)                                  'optim': {'lr': 5e-07,\n\
(main_task pid=4579)                                            'warmup_style': 'constant'},\n\
INFO:__main__:{'loss': 1.0, 'epoch': 0.1}\n";
        let p = read(log.as_bytes(), "log.log").expect("reads");
        assert_eq!(p.records.len(), 1, "{:?}", p.records);
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    }

    #[test]
    fn a_dict_quoted_by_a_message_is_not_a_metric() {
        // A GRPO environment's type error quotes its step's dict (public/44): the dict has a
        // step and numbers, but words follow it on its line. Trailing whitespace does not count.
        let log = "{'loss': 0.5, 'epoch': 0.1}  \n\
{'step': 0, 'agent_id': 'market_maker', 'direction': 0.03, 'reward': -0.67} of type {'step': Number} is not assignable to {'step': None}\n\
{'loss': 0.4, 'epoch': 0.2}\r\n";
        let p = read(log.as_bytes(), "train.log").expect("reads");
        let names: Vec<_> = p
            .records
            .columns()
            .iter()
            .map(|c| c.name.to_string())
            .collect();
        assert_eq!(names, ["loss"]);
        assert_eq!(p.records.len(), 2);
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    }

    #[test]
    fn a_set_in_a_message_is_no_damaged_dict() {
        // A seq2seq save message (transformers 4.38) prints a set of tensor names.
        let log = "{'loss': 0.2645, 'epoch': 9.11}\nRemoved shared tensor {'model.shared.weight', 'lm_head.weight'} while saving.\n{'loss': 0.2\n";
        let p = read(log.as_bytes(), "train.log").expect("reads");
        assert_eq!(p.records.len(), 1);
        // The cut-short last dict is still counted, at its line.
        assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
        assert!(
            p.warnings[0].contains("(first at line 3)"),
            "{:?}",
            p.warnings
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
        let p = read(&text[..], "train.log").expect("reads");
        assert_eq!(p.records.len(), 1);
        assert_eq!(p.records.to_vec()[0].row.line, 2);
        assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
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
