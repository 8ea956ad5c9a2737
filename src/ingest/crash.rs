//! The crash a console log ends with: the exception of the last Python traceback near its end
//! (a rank's own before torchrun's `ChildFailedError`, which only says that a rank failed), said
//! beside the run's other warnings so that a run cut short says why.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

/// How far from its end a log is searched: a traceback, a few ranks' and torchrun's summary.
const TAIL: u64 = 32 << 10;
/// The longest exception text quoted (CUDA's out-of-memory message runs to 500 characters).
const QUOTED: usize = 200;
const HEADER: &[u8] = b"Traceback (most recent call last):";
const LAUNCHER: &str = "ChildFailedError";

/// The exception a log ends with: the line it is on (from 1) and its text.
#[derive(Debug, Clone, PartialEq)]
pub struct Crash {
    pub line: u64,
    pub exception: String,
}

impl Crash {
    /// The warning, without the file's path (the caller adds it).
    pub fn warning(&self) -> String {
        format!(
            "the log ends with a Python exception (line {}): {}",
            self.line, self.exception
        )
    }
}

/// The crash at the end of the plain file at `path`, if any.
pub fn at_end(path: &Path) -> io::Result<Option<Crash>> {
    let mut file = File::open(path)?;
    let mut magic = [0u8; 2];
    if (&mut file).take(2).read(&mut magic)? == 2 && magic == [0x1f, 0x8b] {
        // Compressed: its end is not text.
        return Ok(None);
    }
    let len = file.metadata()?.len();
    let from = len.saturating_sub(TAIL);
    file.seek(SeekFrom::Start(from))?;
    let mut tail = Vec::new();
    (&mut file).take(TAIL).read_to_end(&mut tail)?;
    let Some((at, exception)) = exception(&tail) else {
        return Ok(None);
    };
    // Lines before the tail, counted only now that there is something to say.
    let before = if from == 0 {
        0
    } else {
        file.seek(SeekFrom::Start(0))?;
        count_newlines((&mut file).take(from))?
    };
    let within = memchr::memchr_iter(b'\n', &tail[..at]).count() as u64;
    Ok(Some(Crash {
        line: before + within + 1,
        exception,
    }))
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

/// The exception of the tracebacks in `tail`: the first one's that is not the launcher's, else
/// the launcher's with the first failure's exit code. Its byte offset in `tail` and its text.
fn exception(tail: &[u8]) -> Option<(usize, String)> {
    let mut launcher = None;
    for start in memchr::memmem::find_iter(tail, HEADER) {
        let Some((at, text)) = raised(tail, start + HEADER.len()) else {
            continue;
        };
        if !text.contains(LAUNCHER) {
            return Some((at, text));
        }
        launcher.get_or_insert((at, text));
    }
    let (at, text) = launcher?;
    // torchrun's summary names the rank that failed first ("Root Cause") and how it ended (an
    // exit code, or the signal that killed it); failures listed before it are the ranks it
    // stopped.
    let root = lines(tail, at).find(|(_, l)| l.starts_with("Root Cause"));
    let (summary, first) = root.map_or((at, ""), |(root, _)| (root, "first failure: "));
    let field = |name: &str| {
        lines(tail, summary).find_map(|(_, l)| {
            let (key, value) = l.trim().split_once(':')?;
            (key.trim() == name).then(|| value.split_whitespace().collect::<Vec<_>>().join(" "))
        })
    };
    let text = text.trim_end_matches([':', ' ']).to_string();
    let text = match (field("rank"), field("exitcode")) {
        (Some(rank), Some(code)) => format!("{text} ({first}rank {rank}, exit code {code})"),
        (None, Some(code)) => format!("{text} ({first}exit code {code})"),
        _ => text,
    };
    Some((at, clip(text)))
}

/// The exception line of the traceback whose frames start at `from`: the first line that is not
/// indented (a frame, its code, a caret line), a rank's `[rank3]: ` prefix taken off.
fn raised(tail: &[u8], from: usize) -> Option<(usize, String)> {
    lines(tail, from).skip(1).find_map(|(at, line)| {
        let line = unranked(line);
        if line.trim().is_empty() || line.starts_with([' ', '\t']) {
            return None;
        }
        Some((at, clip(line.trim_end().to_string())))
    })
}

/// The lines of `tail` from `from` on (the first may be the rest of one), with their offsets.
fn lines(tail: &[u8], from: usize) -> impl Iterator<Item = (usize, &str)> {
    let text = &tail[from.min(tail.len())..];
    let mut at = from;
    text.split(|&b| b == b'\n').map(move |l| {
        let here = at;
        at += l.len() + 1;
        (here, std::str::from_utf8(l).unwrap_or(""))
    })
}

/// A line without the `[rank3]: ` or `[rank3]:` that torchrun puts before each rank's output.
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
    fn the_launchers_alone_is_given_with_the_exit_code() {
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
}
