//! The two-halves split: a large plain log is read by two threads, cut at a metric dict past
//! the middle with the training bar's counter just before it, and the halves joined.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use memchr::memmem;

use super::*;

/// Files at least this large are read by two threads, one half each.
pub(super) const SPLIT_MIN: u64 = 64 << 20;

/// Reads a stdout log: a large plain file in two halves on two threads, anything else (gzip,
/// stdin, a FIFO, small files) streamed.
pub fn read_input(mut input: source::Input, display: &str) -> Result<Parsed, IngestError> {
    if let Some(path) = input.path() {
        if let Some(parsed) = read_halves(path, display, SPLIT_MIN)? {
            return Ok(parsed);
        }
    }
    // Streamed from where sniffing left the file (its head handed back first).
    read(input.blocks()?, display)
}

/// [`read_input`] of a file by path, in two halves when it is at least `min` bytes.
#[cfg(test)]
pub(super) fn read_path_split_from(
    path: &Path,
    display: &str,
    min: u64,
) -> Result<Parsed, IngestError> {
    match read_halves(path, display, min)? {
        Some(parsed) => Ok(parsed),
        None => read(source::open_blocks(path)?, display),
    }
}

/// The file read in two halves on two threads, or `None` when it cannot be cut (smaller than
/// `min`, compressed, no cut near the middle, one thread).
fn read_halves(path: &Path, display: &str, min: u64) -> Result<Option<Parsed>, IngestError> {
    let io = |e| IngestError::Io {
        path: display.into(),
        error: e,
    };
    let cut = if rayon::current_num_threads() < 2 {
        None
    } else {
        split_point(path, min).map_err(io)?
    };
    match cut {
        Some((split, bar)) => {
            let headed = head_has_header(path, split).map_err(io)?;
            let (first, second) = rayon::join(
                || -> Result<_, IngestError> {
                    let file = File::open(path).map_err(io)?;
                    scan(file.take(split), State::new(1, None), display)
                },
                || -> Result<_, IngestError> {
                    let mut file = File::open(path).map_err(io)?;
                    file.seek(SeekFrom::Start(split)).map_err(io)?;
                    // Lines numbered from the cut; `join` adds the first half's. The cut is
                    // past the preamble (it is at a metric dict).
                    let st = State {
                        training: true,
                        headed,
                        offset: split,
                        ..State::new(1, bar)
                    };
                    scan(file, st, display)
                },
            );
            let (mut st, too_long) = first?;
            let (mut next, more) = second?;
            if st.ds_seen || st.ds_config_seen.contains(&true) {
                let ds = deepspeed_rescan(path, split, bar, display)?;
                next.out.records.append(ds.out.records);
                next.hints.append(ds.hints);
            }
            st.join(next);
            Ok(Some(finish(st, too_long + more)))
        }
        None => Ok(None),
    }
}

/// Where a large plain file can be cut so that both halves read as the whole does: the start of
/// a metric dict line past the middle (a dict ends any header block), with the training bar's
/// counter just before it. None for small, compressed or unseekable input, or when no such line
/// is near the middle.
pub(super) fn split_point(path: &Path, min: u64) -> io::Result<Option<(u64, Option<Bar>)>> {
    let Some((mut file, len)) = source::splittable(path, min)? else {
        return Ok(None);
    };
    // A window either side of the middle: before it for the last bar, after it for the cut. A
    // log with a dict every few hundred bytes has both within a few KiB, so a small window is
    // read first (the cut and its bar are the same in any window that holds them both).
    for window in [SMALL_WINDOW, LARGE_WINDOW] {
        let window = (len / 2).min(window);
        if let Some(cut) = cut_in(&mut file, len / 2 - window, window)? {
            return Ok(Some(cut));
        }
        if window == len / 2 {
            break;
        }
    }
    Ok(None)
}

/// Bytes read either side of the middle, first and then when the first finds no cut.
pub(super) const SMALL_WINDOW: u64 = 64 << 10;
pub(super) const LARGE_WINDOW: u64 = 4 << 20;

/// The cut in `window` bytes either side of `from + window`, and the bar before it: the first
/// dict line after the middle and the last training bar before that line, its whole update in
/// the window. None when the window holds no such pair.
fn cut_in(file: &mut File, from: u64, window: u64) -> io::Result<Option<(u64, Option<Bar>)>> {
    file.seek(SeekFrom::Start(from))?;
    let mut buf = Vec::new();
    (&mut *file).take(2 * window).read_to_end(&mut buf)?;
    let window = usize::try_from(window).unwrap_or(usize::MAX).min(buf.len());
    let Some(cut) = memmem::find(&buf[window..], b"\n{'").map(|p| window + p + 1) else {
        return Ok(None);
    };
    let before = &buf[..cut];
    let bar = last_percent_bar(before).and_then(|p| {
        let start = line_start(before, 0, p);
        // An update that starts before the window may be cut short: a larger window reads it.
        if start == 0 && from > 0 {
            return None;
        }
        parse_bar(&without_ansi(&before[start..line_end(before, p)]))
    });
    // A dict between that bar and the cut would have been given the same bar: fine. No bar in
    // the window at all is rare enough to read the file in one piece.
    Ok(bar.map(|bar| (from + cut as u64, Some(bar))))
}

/// Whether the first MiB of the file (before `cut`) holds a training header: the second half
/// then reads as a part after a header does (it looks only at the last bar before each dict for
/// the run's total steps, as the first half does once it has passed the header).
fn head_has_header(path: &Path, cut: u64) -> io::Result<bool> {
    let mut head = Vec::new();
    File::open(path)?
        .take(cut.min(1 << 20))
        .read_to_end(&mut head)?;
    Ok(memmem::find(&head, b"***** Running training *****").is_some())
}
