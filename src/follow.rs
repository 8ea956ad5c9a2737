//! `--follow`: the pipeline run again at every interval on runs that are still training.
//!
//! Each interval every run is polled ([`ingest::Tail`]: only what its files gained is read); when
//! any grew, the runs are aligned and diagnosed again, the output files are rewritten atomically
//! and a line goes to stderr with each live run's progress; another line when the verdict
//! changes. It stops:
//! - with `--fail-on`, as soon as a finding at that severity holds: the full summary, exit 1;
//! - when every run that grew while followed has written its end-of-training summary
//!   (`train_runtime`): the full summary, exit 0 (or 1 by `--fail-on`);
//! - after `--idle` intervals in which no run grew: the full summary, exit 0.

use std::collections::BTreeSet;
use std::time::Instant;

use anyhow::{Context as _, Result};

use crate::config::{Config, Follow};
use crate::exit::ExitStatus;
use crate::model::{Key, Run};
use crate::{Judged, ingest, report};

/// Follows the runs until one of the stops above.
pub fn follow(config: &Config, f: Follow) -> Result<ExitStatus> {
    let started = Instant::now();
    let mut tails: Vec<ingest::Tail> = config
        .runs
        .iter()
        .filter(|s| !s.planned)
        .cloned()
        .map(ingest::Tail::new)
        .collect();
    // Runs that gained data after the first read: the ones training.
    let mut live: BTreeSet<String> = BTreeSet::new();
    let mut quiet = 0;
    let mut polls = 0u64;
    let mut last: Option<Judged> = None;
    let mut said: Option<String> = None;
    let mut waiting_said: Option<String> = None;
    // Runs whose console log ends with a crash: said once, and done training.
    let mut crashed: BTreeSet<String> = BTreeSet::new();
    // Every live run has ended; stopped at the first interval after that adds nothing.
    let mut ending = false;
    loop {
        let tick = Instant::now();
        polls += 1;
        let mut grew = false;
        let mut runs: Vec<Run> = Vec::new();
        let mut waiting: Vec<String> = Vec::new();
        for t in &mut tails {
            let p = t
                .poll()
                .with_context(|| format!("cannot read run {:?}", t.label()))?;
            if p.grew {
                grew = true;
                if polls > 1 {
                    live.insert(t.label().to_string());
                }
            }
            if let Some(crash) = &p.crashed {
                if crashed.insert(t.label().to_string()) {
                    say(started, &format!("{} crashed: {crash}", t.label()));
                }
            }
            match p.run {
                Some(run) => runs.push(run),
                None => waiting.push(format!(
                    "{}: {}",
                    t.label(),
                    p.waiting.unwrap_or_else(|| "nothing read yet".into())
                )),
            }
        }
        if !waiting.is_empty() {
            let line = format!("waiting for {}", waiting.join("; "));
            if waiting_said.as_ref() != Some(&line) {
                say(started, &line);
                waiting_said = Some(line);
            }
        } else if grew || last.is_none() {
            for spec in config.runs.iter().filter(|s| s.planned) {
                let plan = ingest::read_plan(spec, &runs[config.baseline])
                    .with_context(|| format!("cannot read plan {:?}", spec.label))?;
                runs.push(plan);
            }
            let judged = Judged::of(runs, config, &mut crate::Stopwatch::new(false));
            report::emit_interim(&judged.report(config), config)?;
            let progress: Vec<String> = judged
                .runs
                .iter()
                .filter(|r| live.contains(&r.label))
                .map(progress)
                .collect();
            if !progress.is_empty() {
                say(started, &progress.join("; "));
            }
            // The verdict with its cause's severity: a cause first called from the configuration
            // (a warning) and later confirmed by the curves (an error) is said again.
            let severity = judged
                .verdict
                .causes
                .first()
                .and_then(|c| judged.findings.get(c.finding))
                .map_or(String::new(), |f| format!(" ({})", f.severity.name()));
            let verdict = format!("{}{severity}", live_verdict(&judged, config));
            // Said when it changes: a cause by its line; a match (or a better run) by its runs,
            // not by its sentence, whose window moves on as the runs grow.
            let v = &judged.verdict;
            let key = if !v.causes.is_empty() {
                verdict.clone()
            } else if !v.matches.is_empty() {
                let runs: Vec<&str> = v.matches.iter().map(|(r, _)| r.as_str()).collect();
                format!("matches: {}", runs.join(", "))
            } else if let Some((runs, _)) = &v.better {
                format!("better: {}", runs.join(", "))
            } else {
                verdict.clone()
            };
            if said.as_ref() != Some(&key) {
                say(started, &format!("verdict: {verdict}"));
                said = Some(key);
            }
            // A run being watched is short of its plan until it ends: whether it was cut short
            // is known only when the watch stops (runs idle, or training ended), which judges
            // it then.
            let tripped = !judged
                .tripped_but(config, |f| f.id == crate::diagnose::CUT_SHORT)
                .is_empty();
            let ended = !live.is_empty()
                && judged
                    .runs
                    .iter()
                    .filter(|r| live.contains(&r.label))
                    .all(|r| {
                        r.config.get(Key::TrainRuntime).is_some() || crashed.contains(&r.label)
                    });
            // Training ended: the trainer writes its state and results files just after its
            // summary line, so the watch reads on until an interval adds nothing, and the
            // outputs hold their full-precision values, as a read of the finished run would —
            // a finding that trips `--fail-on` then too (the stop below gives its exit code).
            ending |= ended;
            if tripped && !ending {
                judged.emit(config)?;
                return Ok(judged.exit_status(config, true));
            }
            last = Some(judged);
        }
        if ending && !grew {
            if let Some(judged) = last {
                say(
                    started,
                    if live.iter().any(|l| crashed.contains(l)) {
                        "training ended (crashed, or its end-of-training summary was written)"
                    } else {
                        "training ended (its end-of-training summary was written)"
                    },
                );
                judged.emit(config)?;
                return Ok(judged.exit_status(config, true));
            }
        }
        quiet = if grew { 0 } else { quiet + 1 };
        if quiet >= f.idle {
            // A run with nothing to compare when the watch stops (not yet written, or its log
            // emptied since) fails as one read of its files would: the outputs of an earlier
            // interval are not what its files hold now.
            let Some(judged) = last.filter(|_| waiting.is_empty()) else {
                anyhow::bail!(
                    "after {} intervals without growth, nothing to compare for {}",
                    f.idle,
                    waiting.join("; ")
                );
            };
            say(
                started,
                &format!(
                    "no run grew for {} interval{}; stopping",
                    f.idle,
                    if f.idle == 1 { "" } else { "s" }
                ),
            );
            judged.emit(config)?;
            return Ok(judged.exit_status(config, true));
        }
        std::thread::sleep(f.interval.saturating_sub(tick.elapsed()));
    }
}

/// The verdict line while the watch runs. Without a cause it names the warnings that stand,
/// for nothing is printed below it until the stop; `run-cut-short` is not one of them, which
/// every run being trained is until it ends (it counts at the stop, as for `--fail-on`).
fn live_verdict(judged: &Judged, config: &Config) -> String {
    let report = judged.report(config);
    let v = &judged.verdict;
    if !(v.causes.is_empty() && v.matches.is_empty() && v.better.is_none()) {
        return report::term::verdict_line(&report);
    }
    let mut warned: Vec<&str> = report
        .other_findings()
        .filter(|(_, f)| {
            f.severity >= crate::model::Severity::Warning && f.id != crate::diagnose::CUT_SHORT
        })
        .map(|(_, f)| f.id)
        .collect();
    warned.dedup();
    if warned.is_empty() {
        "No run needs a change so far: no check found a cause to fix at warning or above.".into()
    } else {
        format!(
            "No run needs a configuration change so far; warnings stand: {}",
            warned.join(", ")
        )
    }
}

/// One line on stderr, stamped with the time since following started.
fn say(started: Instant, line: &str) {
    let s = started.elapsed().as_secs();
    eprintln!(
        "losscmp: follow +{}:{:02}:{:02}: {}",
        s / 3600,
        s / 60 % 60,
        s % 60,
        report::text::printable(line)
    );
}

/// "run8 at step 24 of 48 (50%), loss 0.41".
fn progress(run: &Run) -> String {
    let Some(p) = run.loss().and_then(|s| s.last_finite()) else {
        return format!("{}: no loss yet", run.label);
    };
    let of = run
        .config
        .num(Key::TotalSteps)
        .map(|t| {
            format!(
                " of {} ({:.0}%)",
                crate::model::format_count(t),
                100.0 * p.step / t
            )
        })
        .unwrap_or_default();
    format!(
        "{} at step {}{of}, loss {}",
        run.label,
        crate::model::format_count(p.step),
        crate::model::format_number(p.value)
    )
}
