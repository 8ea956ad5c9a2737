//! LLaMA-Factory `trainer_log.jsonl`: one JSON object per line with `current_steps`,
//! `total_steps`, `loss`, `lr` (older: `learning_rate`), `eval_loss`, `epoch`, `elapsed_time`
//! (`str(timedelta)`), optional `total_tokens`/`throughput`. Nulls and rows without metrics are
//! progress-only. The file is appended to, so resumed runs repeat steps.

use super::{Growth, TextFormat};
use crate::ingest::flat_json;
use crate::ingest::lenient::{Entry, Val, parse_duration, sanitize_json};
use crate::ingest::shape::Shape;
use crate::ingest::source::IngestError;
use crate::ingest::{Names, Parsed, Skipped};
use crate::model::At;
use crate::model::Key;
use crate::model::Row;

/// Yes when the first non-empty line is a JSON object with `current_steps`.
pub fn sniff(head: &str) -> Option<bool> {
    let first = head.lines().map(str::trim).find(|l| !l.is_empty())?;
    Some(first.starts_with('{') && first.contains("\"current_steps\""))
}

/// Reads a `trainer_log.jsonl`; malformed lines are counted and the first one reported.
pub fn read(text: &str, _path: &str) -> Result<Parsed, IngestError> {
    Ok(read_with(text, true))
}

/// [`read`], with or without the fast path for flat rows (the tests compare the two).
fn read_with(text: &str, fast: bool) -> Parsed {
    let mut out = Parsed::default();
    let mut rows = Rows::default();
    let mut start = 0;
    let mut lineno = 0;
    // Lines as `str::lines` splits them (its `\r` trimmed below with the rest).
    while start < text.len() {
        let end =
            memchr::memchr(b'\n', &text.as_bytes()[start..]).map_or(text.len(), |k| start + k);
        let line = trim(&text[start..end]);
        start = end + 1;
        lineno += 1;
        if line.is_empty() {
            continue;
        }
        // Flat rows are read straight from the bytes; anything else through serde.
        if fast {
            let mut f = Fields::default();
            rows.metrics.clear();
            let (names, metrics) = (&mut rows.names, &mut rows.metrics);
            let whole = flat_json::object_shaped(
                line,
                0,
                &mut rows.shape,
                |k| Role::of(k, names),
                |role| matches!(role, Role::Ignored),
                |role, v| f.take(role, &v, metrics),
            );
            if whole == Some(line.len()) {
                rows.push(f, lineno, &mut out);
                continue;
            }
        }
        let clean = sanitize_json(line);
        match serde_json::from_str::<Entry>(&clean) {
            Ok(row) => rows.take(&row, lineno, &mut out),
            Err(_) => rows.skipped.line(lineno),
        }
    }
    rows.skipped
        .warn(&mut out, "line is not a log row", "lines are not log rows");
    out
}

/// `s` without its leading and trailing whitespace; a row that starts and ends with a visible
/// ASCII byte (`{` … `}`) is returned as it is.
fn trim(s: &str) -> &str {
    match (s.as_bytes().first(), s.as_bytes().last()) {
        (Some(a), Some(z)) if a.is_ascii_graphic() && z.is_ascii_graphic() => s,
        _ => s.trim(),
    }
}

/// What reading the rows keeps from one to the next.
#[derive(Default)]
struct Rows {
    names: Names,
    skipped: Skipped,
    /// Whether a row's `total_steps` has been taken.
    total_seen: bool,
    /// The metrics of the row being read, by name number ([`Names::number`]).
    metrics: Vec<(u32, f64)>,
    /// The keys of the rows read, by position, with their roles.
    shape: Shape<Role>,
}

/// What a row's fields come to, taken one by one: of a key given twice the first counts (as
/// `Entry::get` finds it); every numeric field that is not progress is a metric, in order.
#[derive(Default)]
struct Fields {
    step: Option<Option<f64>>,
    total: Option<Option<f64>>,
    time: Option<Option<f64>>,
    epoch: Option<Option<f64>>,
    tokens: Option<Option<f64>>,
}

/// Which field a row's key fills, worked out once per key at its position
/// ([`Shape`]), not once per row.
#[derive(Clone, Copy)]
enum Role {
    Step,
    Total,
    Epoch,
    Tokens,
    Time,
    /// Progress only (`percentage`, `remaining_time`).
    Ignored,
    /// A metric, by its name's number ([`Names::number`]; `lr` is `learning_rate`).
    Metric(u32),
}

impl Role {
    fn of(k: &str, names: &mut Names) -> Role {
        match k {
            "current_steps" => Role::Step,
            "total_steps" => Role::Total,
            "epoch" => Role::Epoch,
            "total_tokens" => Role::Tokens,
            "elapsed_time" => Role::Time,
            "percentage" | "remaining_time" => Role::Ignored,
            "lr" => Role::Metric(names.number("learning_rate")),
            _ => Role::Metric(names.number(k)),
        }
    }
}

impl Fields {
    fn take(&mut self, role: Role, v: &Val<'_>, metrics: &mut Vec<(u32, f64)>) {
        match role {
            Role::Step => _ = self.step.get_or_insert_with(|| v.num()),
            Role::Total => _ = self.total.get_or_insert_with(|| v.num()),
            Role::Epoch => _ = self.epoch.get_or_insert_with(|| v.num()),
            Role::Tokens => _ = self.tokens.get_or_insert_with(|| v.num()),
            Role::Time => {
                _ = self.time.get_or_insert_with(|| match v {
                    Val::Text(s) => parse_duration(s),
                    other => other.num(),
                })
            }
            Role::Ignored => {}
            Role::Metric(n) => {
                if let Some(x) = v.num() {
                    metrics.push((n, x));
                }
            }
        }
    }
}

impl Rows {
    /// Turns row `lineno`, read whole, into a record (or counts it as skipped).
    fn take(&mut self, row: &Entry<'_>, lineno: usize, out: &mut Parsed) {
        if !row.object {
            self.skipped.line(lineno);
            return;
        }
        let mut f = Fields::default();
        self.metrics.clear();
        for (k, v) in &row.fields {
            f.take(Role::of(k, &mut self.names), v, &mut self.metrics);
        }
        self.push(f, lineno, out);
    }

    /// Turns row `lineno` into a record from its fields (its metrics in [`Rows::metrics`]), or
    /// counts it as skipped when it has no step.
    fn push(&mut self, f: Fields, lineno: usize, out: &mut Parsed) {
        let Some(step) = f.step.flatten() else {
            self.skipped.line(lineno);
            return;
        };
        if !self.total_seen {
            if let Some(total) = f.total.flatten().filter(|&t| t > 0.0) {
                self.total_seen = true;
                out.fact(Key::TotalSteps, total, At::line(lineno, "total_steps"), 2);
            }
        }
        let record = Row {
            step: Some(step),
            line: u32::try_from(lineno).unwrap_or(u32::MAX),
            epoch: f.epoch.flatten(),
            time: f.time.flatten(),
            tokens: f.tokens.flatten().filter(|&t| t > 0.0),
            ..Row::default()
        };
        if !self.metrics.is_empty() || record.tokens.is_some() {
            let names = &self.names;
            let metrics = self.metrics.drain(..).map(|(n, x)| (names.name(n), x));
            out.records.push_row(record, metrics);
        }
    }
}

/// LLaMA-Factory `trainer_log.jsonl`.
pub static FORMAT: TextFormat = TextFormat {
    name: "llamafactory_jsonl",
    priority: 2,
    sniff,
    read,
    growth: Growth::Lines,
    trainer: Some("llamafactory"),
    console: false,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rows_renames_lr_and_skips_junk() {
        let text = concat!(
            r#"{"current_steps": 2, "total_steps": 48, "loss": 7.99, "lr": 0.0006, "epoch": 0.125, "percentage": 4.17, "elapsed_time": "0:00:01", "remaining_time": "0:00:16"}"#,
            "\n",
            r#"{"current_steps": 2, "total_steps": 48, "eval_loss": null, "epoch": 0.125}"#,
            "\n{not json\n",
            r#"{"current_steps": 48, "total_steps": 48, "epoch": 3.0, "percentage": 100.0}"#,
            "\n"
        );
        let p = read(text, "t.jsonl").expect("reads");
        assert_eq!(p.records.len(), 1);
        let r = &p.records.to_vec()[0];
        assert_eq!(r.row.time, Some(1.0));
        assert!(r.metrics.contains(&("learning_rate".into(), 0.0006)));
        assert!(p.warnings[0].contains("line 3"));
        assert_eq!(p.facts[0].value.as_f64(), Some(48.0));
    }

    /// Every jsonl fixture, and rows the fast path leaves to serde, read alike both ways.
    #[test]
    fn the_fast_path_reads_as_serde_does() {
        let mut texts = vec![concat!(
            r#"{"current_steps": 1, "loss": NaN, "lr": 1e-5, "note": "a\"b", "elapsed_time": "0:00:01"}"#,
            "\n",
            r#"{"current_steps": 2, "loss": 0.5, "extra": {"nested": 1}}"#,
            "\n",
            r#"{"current_steps": 3, "loss": 0.4}"#,
        )
        .to_string()];
        for path in [
            "fixtures/lf_1gpu_ga8/trainer_log.jsonl",
            "fixtures/lf_8proc_ga8/trainer_log.jsonl",
            "fixtures/lf_8proc_ga1/trainer_log.jsonl",
            "fixtures/public/16_lf-jsonl-loss-collapses-to-0/trainer_log.jsonl",
            "fixtures/public/01_lf-qwen3-14b-world7-nolosslog/trainer_log.jsonl",
            "fixtures/public/34_lf-jsonl-every-step-twice-concurrent-writers/trainer_log.jsonl.head-excerpt",
        ] {
            let full = concat!(env!("CARGO_MANIFEST_DIR"), "/").to_string() + path;
            texts.push(std::fs::read_to_string(&full).expect(path));
        }
        for text in &texts {
            let (fast, slow) = (read_with(text, true), read_with(text, false));
            assert!(!fast.records.is_empty());
            assert_eq!(format!("{fast:?}"), format!("{slow:?}"));
        }
    }
}
