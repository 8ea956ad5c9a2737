//! The crash a console log ends with: the exception of a Python traceback after the log's last
//! metric record, near its end (a rank's own before torchrun's `ChildFailedError`, which only
//! says that a rank failed), said beside the run's other warnings so that a run cut short says
//! why. A traceback that training went on after (a fallback caught and printed) is not one.

use std::borrow::Cow;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

/// How far from its end a log is searched: a traceback, a few ranks' and torchrun's summary.
pub const TAIL: usize = 32 << 10;
/// The longest exception text quoted (CUDA's out-of-memory message runs to 500 characters).
const QUOTED: usize = 200;
const HEADER: &[u8] = b"Traceback (most recent call last):";
const LAUNCHER: &str = "ChildFailedError";
/// What Python prints between the tracebacks of a chain; the last one is what was raised.
const CHAINED: [&str; 2] = [
    "During handling of the above exception",
    "The above exception was the direct cause",
];

/// The exception a log ends with: the line it is on (from 1) and its text; or the scheduler's
/// line saying it stopped the job.
#[derive(Debug, Clone, PartialEq)]
pub struct Crash {
    pub line: u64,
    pub exception: String,
    /// Whether it is slurm's cancel line (`*** JOB 1565157 ON kn173 CANCELLED AT … DUE TO TIME
    /// LIMIT ***`), not a Python exception: the ranks' tracebacks after it are its echo.
    pub cancelled: bool,
}

/// What slurm's step daemon prints when it stops a job: `slurmstepd: error: *** JOB <id> ON
/// <node> CANCELLED AT <time> DUE TO TIME LIMIT ***` (or `… CANCELLED AT <time> ***` for a
/// cancel by hand, `DUE TO PREEMPTION`, `DUE TO NODE FAILURE`), glued to the last tqdm update
/// when the bar had no newline.
const SLURM_JOB: &[u8] = b"*** JOB ";
const SLURM_CANCELLED: &str = " CANCELLED AT ";

/// The crash at the end of the plain text file at `path`, after line `last_record` (the last
/// line a metric was read from), if any.
pub fn at_end(path: &Path, last_record: u64) -> io::Result<Option<Crash>> {
    let mut file = File::open(path)?;
    let mut magic = [0u8; 2];
    if (&mut file).take(2).read(&mut magic)? == 2 && magic == [0x1f, 0x8b] {
        // Compressed: its end is not text (its reader kept the end it decompressed).
        return Ok(None);
    }
    let len = file.metadata()?.len();
    let from = len.saturating_sub(TAIL as u64);
    file.seek(SeekFrom::Start(from))?;
    let mut tail = Vec::new();
    (&mut file).take(TAIL as u64).read_to_end(&mut tail)?;
    in_tail(&tail, last_record, || {
        // Lines before the tail, counted only when there is something to say.
        if from == 0 {
            return Ok(0);
        }
        file.seek(SeekFrom::Start(0))?;
        count_newlines((&mut file).take(from))
    })
}

/// The crash at the end of a log whose last bytes are `tail`, after line `last_record`, if any;
/// `before` counts the lines before the tail (asked only when the tail holds a traceback).
pub fn in_tail(
    tail: &[u8],
    last_record: u64,
    before: impl FnOnce() -> io::Result<u64>,
) -> io::Result<Option<Crash>> {
    let found = tracebacks(tail);
    let cancel = cancelled(tail);
    if found.is_empty() && cancel.is_none() {
        return Ok(None);
    }
    let before = before()?;
    let line = |at: usize| before + memchr::memchr_iter(b'\n', &tail[..at]).count() as u64 + 1;
    if let Some((at, text)) = cancel.filter(|&(at, _)| line(at) > last_record) {
        return Ok(Some(Crash {
            line: line(at),
            exception: text,
            cancelled: true,
        }));
    }
    let after: Vec<_> = found
        .into_iter()
        .filter(|t| line(t.at) > last_record)
        .collect();
    Ok(chosen(tail, &after)
        .filter(|&(at, _)| !went_on(&tail[at..]))
        .map(|(at, exception)| Crash {
            line: line(at),
            exception,
            cancelled: false,
        }))
}

/// Slurm's last cancel line in `tail`: where its line starts, and its words between the
/// asterisks ("JOB 1565157 ON kn173 CANCELLED AT 2025-12-09T11:07:08 DUE TO TIME LIMIT").
fn cancelled(tail: &[u8]) -> Option<(usize, String)> {
    memchr::memmem::rfind_iter(tail, SLURM_JOB).find_map(|start| {
        let line_start = memchr::memrchr(b'\n', &tail[..start]).map_or(0, |p| p + 1);
        let end = memchr::memchr(b'\n', &tail[start..]).map_or(tail.len(), |e| start + e);
        // The words between the asterisks.
        let words = String::from_utf8_lossy(&tail[start..end]);
        let words = words.trim_end().trim_matches('*').trim();
        words
            .contains(SLURM_CANCELLED)
            .then(|| (line_start, clip(words.to_string())))
    })
}

/// Whether the trainer printed its results (`***** eval metrics *****`) or started an evaluation
/// or prediction in `after`, what follows an exception: the exception was caught and the
/// process lived on, so the log does not end with it.
fn went_on(after: &[u8]) -> bool {
    memchr::memmem::find_iter(after, b"***** ").any(|i| {
        let line = &after[i..];
        let line = &line[..memchr::memchr(b'\n', line).unwrap_or(line.len())];
        [
            &b" metrics *****"[..],
            b"***** Running Evaluation",
            b"***** Running Prediction",
        ]
        .iter()
        .any(|needle| memchr::memmem::find(line, needle).is_some())
    })
}

fn count_newlines(mut r: impl Read) -> io::Result<u64> {
    let mut buf = vec![0u8; 256 << 10];
    let mut n = 0;
    loop {
        match r.read(&mut buf) {
            Ok(0) => return Ok(n),
            Ok(k) => n += memchr::memchr_iter(b'\n', &buf[..k]).count() as u64,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// One traceback's exception: where its line starts in the tail, and its text.
#[derive(Debug)]
struct Raised {
    at: usize,
    text: String,
}

/// The exceptions of the tracebacks in `tail`, in order; of a chain ("During handling of the
/// above exception, another exception occurred:"), only the last.
fn tracebacks(tail: &[u8]) -> Vec<Raised> {
    let mut out: Vec<Raised> = Vec::new();
    let mut chained = false;
    for start in memchr::memmem::find_iter(tail, HEADER) {
        let line_start = memchr::memrchr(b'\n', &tail[..start]).map_or(0, |p| p + 1);
        let prefix = &tail[line_start..start];
        let Some((raised, continues)) = raised(tail, start + HEADER.len(), prefix) else {
            continue;
        };
        if chained {
            out.pop();
        }
        chained = continues;
        out.push(raised);
    }
    out
}

/// Of the exceptions after the last record: the first that is not the launcher's, else the
/// launcher's with the first failure of its summary.
fn chosen(tail: &[u8], found: &[Raised]) -> Option<(usize, String)> {
    if let Some(r) = found.iter().find(|r| !r.text.contains(LAUNCHER)) {
        return Some((r.at, r.text.clone()));
    }
    let r = found.first()?;
    // torchrun's summary names the rank that failed first ("Root Cause") and how it ended (an
    // exit code, or the signal that killed it); failures listed before it are the ranks it
    // stopped.
    let root = lines(tail, r.at).find(|(_, l)| l.starts_with("Root Cause"));
    let (summary, first) = root.map_or((r.at, ""), |(root, _)| (root, "first failure: "));
    let field = |name: &str| {
        lines(tail, summary).find_map(|(_, l)| {
            let (key, value) = l.trim().split_once(':')?;
            (key.trim() == name).then(|| value.split_whitespace().collect::<Vec<_>>().join(" "))
        })
    };
    let text = r.text.trim_end_matches([':', ' ']).to_string();
    let field = |name: &str| {
        let v = field(name)?;
        Some(if name == "exitcode" { signalled(v) } else { v })
    };
    let text = match (field("rank"), field("exitcode")) {
        (Some(rank), Some(code)) => format!("{text} ({first}rank {rank}, exit code {code})"),
        (None, Some(code)) => format!("{text} ({first}exit code {code})"),
        _ => text,
    };
    Some((r.at, clip(text)))
}

/// A torchrun exit code with the signal that ended the rank named, when the summary does not
/// name it: "-9 (pid: 5097)" is "-9 (pid: 5097), killed by SIGKILL (often the host's
/// out-of-memory killer)".
fn signalled(code: String) -> String {
    let number = code
        .split_whitespace()
        .next()
        .and_then(|c| c.parse::<i32>().ok());
    let name = match number {
        _ if code.contains("SIG") => None,
        Some(-9) => Some("SIGKILL (often the host's out-of-memory killer)"),
        Some(-15) => Some("SIGTERM (a scheduler's time limit or cancel, or torchrun stopping it)"),
        Some(-6) => Some("SIGABRT"),
        Some(-11) => Some("SIGSEGV"),
        Some(-7) => Some("SIGBUS"),
        Some(-2) => Some("SIGINT"),
        _ => None,
    };
    match name {
        Some(name) => format!("{code}, killed by {name}"),
        None => code,
    }
}

/// The exception line of the traceback whose frames start at `from`, and whether a chained
/// traceback follows it. Each line loses the header line's prefix (`[rank3]: `, `[default7]:`,
/// `0: `, a timestamp: the same bytes, digits aside); a line without it is another writer's
/// and is passed over, as is another traceback's header. The exception is the first line left
/// that is not indented (a frame, its code, a caret line).
fn raised(tail: &[u8], from: usize, prefix: &[u8]) -> Option<(Raised, bool)> {
    let mut rest = lines(tail, from).skip(1).filter_map(|(at, line)| {
        let own = unprefixed(line.as_bytes(), prefix)?;
        let own = String::from_utf8_lossy(own);
        let own = unranked(&own).trim_end().to_string();
        Some((at, own))
    });
    let (at, text) = rest.find(|(_, l)| {
        !l.is_empty()
            && !l.starts_with([' ', '\t'])
            && !l.as_bytes().windows(HEADER.len()).any(|w| w == HEADER)
    })?;
    let continues = rest
        .find(|(_, l)| !l.trim().is_empty())
        .is_some_and(|(_, l)| CHAINED.iter().any(|c| l.starts_with(c)));
    Some((
        Raised {
            at,
            text: clip(text),
        },
        continues,
    ))
}

/// `line` without `prefix` (compared byte for byte, any digit matching any digit), or `None`
/// when it does not start with it.
fn unprefixed<'a>(line: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    let head = line.get(..prefix.len())?;
    let same = head
        .iter()
        .zip(prefix)
        .all(|(a, b)| a == b || (a.is_ascii_digit() && b.is_ascii_digit()));
    same.then(|| &line[prefix.len()..])
}

/// The lines of `tail` from `from` on (the first may be the rest of one), with their offsets,
/// decoded lossily.
fn lines(tail: &[u8], from: usize) -> impl Iterator<Item = (usize, Cow<'_, str>)> {
    let text = &tail[from.min(tail.len())..];
    let mut at = from;
    text.split(|&b| b == b'\n').map(move |l| {
        let here = at;
        at += l.len() + 1;
        let l = l.strip_suffix(b"\r").unwrap_or(l);
        (here, String::from_utf8_lossy(l))
    })
}

/// A line without the `[rank3]: ` or `[rank3]:` that torchrun puts before each rank's output
/// (when the header had no such prefix of its own).
fn unranked(line: &str) -> &str {
    line.strip_prefix("[rank")
        .and_then(|r| r.split_once("]:"))
        .filter(|(n, _)| n.bytes().all(|b| b.is_ascii_digit()))
        .map_or(line, |(_, rest)| rest.strip_prefix(' ').unwrap_or(rest))
}

/// At most [`QUOTED`] characters, "…" where cut.
fn clip(s: String) -> String {
    match s.char_indices().nth(QUOTED) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exception(tail: &[u8]) -> Option<(usize, String)> {
        chosen(tail, &tracebacks(tail))
    }

    #[test]
    fn a_ranks_exception_comes_before_the_launchers() {
        let tail = b"step 3 loss 1.0\n\
[rank1]: Traceback (most recent call last):\n\
[rank1]:   File \"train.py\", line 9, in <module>\n\
[rank1]:     x = y.cuda()\n\
[rank1]: torch.OutOfMemoryError: CUDA out of memory.\n\
Traceback (most recent call last):\n\
  File \"torchrun\", line 6, in <module>\n\
torch.distributed.elastic.multiprocessing.errors.ChildFailedError: \n\
  exitcode  : 1 (pid: 77)\n";
        let (at, text) = exception(tail).expect("found");
        assert_eq!(text, "torch.OutOfMemoryError: CUDA out of memory.");
        assert_eq!(memchr::memchr_iter(b'\n', &tail[..at]).count(), 4);
    }

    #[test]
    fn the_launchers_alone_is_given_with_the_first_failure() {
        let tail = b"Traceback (most recent call last):\n  File \"torchrun\", line 6\n    sys.exit(main())\n             ^^^^^^\n\
torch.distributed.elastic.multiprocessing.errors.ChildFailedError: \n=====\nFailures:\n[1]:\n  rank      : 0 (local_rank: 0)\n  exitcode  : -15 (pid: 5097)  (SIGTERM)\n\
-----\nRoot Cause (first observed failure):\n[0]:\n  rank      : 1 (local_rank: 1)\n  exitcode  : -6 (pid: 5098)  (SIGABRT)\n";
        let (_, text) = exception(tail).expect("found");
        assert_eq!(
            text,
            "torch.distributed.elastic.multiprocessing.errors.ChildFailedError (first failure: rank 1 (local_rank: 1), exit code -6 (pid: 5098) (SIGABRT))"
        );
        // Without the root cause (a log cut short), the failure listed.
        let cut = &tail[..memchr::memmem::find(tail, b"-----").expect("cut")];
        assert!(exception(cut).expect("found").1.ends_with(
            "ChildFailedError (rank 0 (local_rank: 0), exit code -15 (pid: 5097) (SIGTERM))"
        ));
    }

    #[test]
    fn a_signal_the_summary_does_not_name_is_named() {
        let tail = b"Traceback (most recent call last):\n  File \"torchrun\", line 6\n\
torch.distributed.elastic.multiprocessing.errors.ChildFailedError: \n=====\nRoot Cause (first observed failure):\n[0]:\n  rank      : 0 (local_rank: 0)\n  exitcode  : -9 (pid: 5097)\n";
        let (_, text) = exception(tail).expect("found");
        assert!(
            text.ends_with(
                "(first failure: rank 0 (local_rank: 0), exit code -9 (pid: 5097), killed by SIGKILL (often the host's out-of-memory killer))"
            ),
            "{text}"
        );
        assert_eq!(signalled("1 (pid: 77)".into()), "1 (pid: 77)");
        assert_eq!(
            signalled("-15 (pid: 5097)  (SIGTERM)".into()),
            "-15 (pid: 5097)  (SIGTERM)",
            "named already"
        );
    }

    #[test]
    fn a_traceback_the_trainer_went_on_after_is_not_the_end() {
        let caught = b"Traceback (most recent call last):\n  File \"a\"\nRuntimeError: CUDA error\n[INFO] saving\n***** eval metrics *****\n  eval_loss = 0.0012\n";
        let (at, _) = exception(caught).expect("a traceback");
        assert!(went_on(&caught[at..]));
        let evaluating = b"RuntimeError: x\n***** Running Evaluation *****\n";
        assert!(went_on(evaluating));
        let died = b"RuntimeError: x\n***** dying *****\nwandb: Waiting for W&B process\n";
        assert!(!went_on(died));
    }

    #[test]
    fn slurms_cancel_line_ends_the_run_before_the_ranks_tracebacks() {
        // Glued to the last bar update (no newline before it), and the ranks' tracebacks that
        // its SIGTERM caused after it.
        let tail = b"{'loss': 0.70, 'epoch': 1.59}\n 80%| 747/930 [23:55:51<5:13:13]slurmstepd: error: *** JOB 1565157 ON kn173 CANCELLED AT 2025-12-09T11:07:08 DUE TO TIME LIMIT ***\nTraceback (most recent call last):\n  File \"a\"\nKeyboardInterrupt\n";
        let crash = in_tail(tail, 1, || Ok(40)).expect("read").expect("found");
        assert_eq!(
            crash,
            Crash {
                line: 42,
                exception:
                    "JOB 1565157 ON kn173 CANCELLED AT 2025-12-09T11:07:08 DUE TO TIME LIMIT".into(),
                cancelled: true,
            }
        );
        // Before the last record, it says nothing of the end; nor does a line that only looks
        // like it.
        assert_eq!(in_tail(tail, 45, || Ok(40)).expect("read"), None);
        assert_eq!(
            in_tail(b"*** JOB 12 ON n1 STARTED ***\n", 0, || Ok(0)).expect("read"),
            None
        );
    }

    #[test]
    fn no_traceback_no_crash_and_long_messages_are_clipped() {
        assert_eq!(exception(b"step 3 loss 1.0\nTraceback mentioned\n"), None);
        let long = format!(
            "Traceback (most recent call last):\n  File \"a\"\nRuntimeError: {}\n",
            "x".repeat(500)
        );
        let (_, text) = exception(long.as_bytes()).expect("found");
        assert_eq!(text.chars().count(), QUOTED + 1);
        assert!(text.ends_with('…'));
    }

    #[test]
    fn prefixes_interleaving_chains_and_stray_bytes() {
        // Megatron's `[default7]:`, srun's `0: `, a logger's timestamp: each line's own.
        for prefix in ["[default7]:", "0: ", "2024-05-01 10:00:00,123 - ERROR - "] {
            let other = prefix.replace('7', "3").replace("0:0", "1:0");
            let tail = format!(
                "{prefix}Traceback (most recent call last):\n{prefix}  File \"t.py\", line 1\n{other}  x()\n{prefix}RuntimeError: NCCL timeout\n"
            );
            assert_eq!(
                exception(tail.as_bytes()).map(|e| e.1).as_deref(),
                Some("RuntimeError: NCCL timeout"),
                "{prefix}"
            );
        }
        // Two ranks' tracebacks interleaved, unprefixed: a header is not an exception.
        let tail = b"Traceback (most recent call last):\nTraceback (most recent call last):\n  File \"t.py\"\n  File \"t.py\"\nValueError: bad\nValueError: bad\n";
        assert_eq!(
            exception(tail).map(|e| e.1).as_deref(),
            Some("ValueError: bad")
        );
        // A chain ends with what was raised last.
        let tail = b"Traceback (most recent call last):\n  File \"a\"\nRuntimeError: CUDA error\n\nDuring handling of the above exception, another exception occurred:\n\nTraceback (most recent call last):\n  File \"b\"\nKeyboardInterrupt\n";
        assert_eq!(
            exception(tail).map(|e| e.1).as_deref(),
            Some("KeyboardInterrupt")
        );
        // A byte that is not UTF-8 is replaced, not taken for a blank line.
        let tail = b"Traceback (most recent call last):\n  File \"a\"\nOSError: caf\xff\nwandb: Waiting for W&B process to finish\n";
        assert_eq!(
            exception(tail).map(|e| e.1).as_deref(),
            Some("OSError: caf\u{fffd}")
        );
    }
}
