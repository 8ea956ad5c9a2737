//! The scanner: the log in fixed-size blocks of whole lines, only the lines that hold a needle
//! looked at (a `{` or `*` no tqdm update has, DeepSpeed's names), overlong lines skipped
//! without being held.

use std::io::{self, Read};

use memchr::memmem;

use super::*;

/// Bytes asked for per `read` call: small enough that the block being scanned is still in the
/// CPU cache.
pub(super) const READ: usize = 128 << 10;

/// What the scanner looks for. Dicts and `*****` headers hold a `{` or a `*`, bytes no tqdm
/// update has: one `memchr2` pass over each block of lines finds them, and everything between
/// two hits (mostly tqdm updates) is skipped without being split into lines. `world size: ` and
/// `transformers_version` are each searched for until first found.
pub(super) struct Needles {
    pub(super) dict: memmem::Finder<'static>,
    pub(super) header: memmem::Finder<'static>,
    pub(super) eval_header: memmem::Finder<'static>,
    pub(super) predict_header: memmem::Finder<'static>,
    pub(super) world: memmem::Finder<'static>,
    pub(super) version: memmem::Finder<'static>,
    /// DeepSpeed's configuration names ([`deepspeed::CONFIG`]), searched for until found.
    pub(super) ds_config: [memmem::Finder<'static>; 3],
    /// DeepSpeed's step line; once one is seen, every block is searched for step and timer lines.
    pub(super) ds_step: memmem::Finder<'static>,
    pub(super) ds_timer: memmem::Finder<'static>,
}

impl Needles {
    pub(super) fn new() -> Self {
        Needles {
            dict: memmem::Finder::new("{'"),
            header: memmem::Finder::new("***** Running training *****"),
            eval_header: memmem::Finder::new("***** Running Evaluation *****"),
            predict_header: memmem::Finder::new("***** Running Prediction *****"),
            world: memmem::Finder::new(WORLD),
            version: memmem::Finder::new(VERSION),
            ds_config: deepspeed::CONFIG.map(|(name, _)| memmem::Finder::new(name)),
            ds_step: memmem::Finder::new("] step="),
            ds_timer: memmem::Finder::new("RunningAvgSamplesPerSec="),
        }
    }
}

/// Looks at one block of whole lines (each ends in `\n` or `\r`, but maybe the file's last):
/// only the lines holding a needle, the lines of a training header block, and the last tqdm bar
/// before each dict. `skip_first`: the first line is the end of an overlong line.
pub(super) fn scan_block(n: &Needles, st: &mut State, b: &[u8], skip_first: bool) {
    let first_line = st.line;
    if memchr::memchr(0, b).is_some() {
        note_nul(st, b, first_line);
    }
    let mut at = 0;
    if skip_first {
        at = next_line(st, b, line_end(b, 0));
    }
    // Printed once, before training: one search per block until found or training starts.
    for (seen, finder) in [(st.world_seen, &n.world), (st.version_seen, &n.version)] {
        if seen || st.training {
            continue;
        }
        if let Some(hit) = finder.find(&b[at..]) {
            let hit = at + hit;
            let start = line_start(b, 0, hit);
            let lineno = first_line.saturating_add(count_lines(&b[..start]));
            on_line(n, st, &b[start..line_end(b, hit)], lineno);
        }
    }
    if !st.training && st.line <= PREAMBLE_LINES {
        preamble(n, st, b, at);
    }
    deepspeed_lines(n, st, b, at, first_line);
    // One search finds the needles and the newlines: lines are counted as the scan passes
    // them, not by a second pass over the lines between two needles. `region`: where the lines
    // not yet looked at for a bar start.
    let mut region = at;
    while at < b.len() {
        if st.block == Block::TrainHeader {
            let end = line_end(b, at);
            on_line(n, st, &b[at..end], st.line);
            at = next_line(st, b, end);
            region = at;
            continue;
        }
        let Some(hit) = memchr::memchr3(b'{', b'*', b'\n', &b[at..]) else {
            break;
        };
        let hit = at + hit;
        if b[hit] == b'\n' {
            st.line = st.line.saturating_add(1);
            at = hit + 1;
            continue;
        }
        let start = line_start(b, region, hit);
        pass(st, &b[region..start]);
        let end = line_end(b, hit);
        on_line(n, st, &b[start..end], st.line);
        at = next_line(st, b, end);
        region = at;
    }
    // The scan stopped where no newline is left: the lines up to the block's end are counted.
    if region < b.len() {
        pass(st, &b[region..]);
    }
}

/// Every line of the preamble in this block, for the banners: up to the first metric dict (a
/// dict with an `'epoch'`; a configuration printed as a dict is not one) or training header
/// (training starts there), or [`PREAMBLE_LINES`].
fn preamble(n: &Needles, st: &mut State, b: &[u8], mut at: usize) {
    let mut line = st.line;
    while at < b.len() && line <= PREAMBLE_LINES {
        let end = line_end(b, at);
        let raw = &b[at..end];
        let metrics = n.dict.find(raw).is_some() && memmem::find(raw, b"'epoch'").is_some();
        if metrics || n.header.find(raw).is_some() {
            return;
        }
        on_preamble_line(st, raw, line);
        if b.get(end) == Some(&b'\n') {
            line = line.saturating_add(1);
        }
        at = end + 1;
    }
}

/// Where the line holding byte `at` starts: after the last `\n` or `\r` before it, and not
/// before `from`.
pub(super) fn line_start(b: &[u8], from: usize, at: usize) -> usize {
    // What is looked for sits near the start of its line (a dict, a bar's percentage): a byte
    // loop back over a few bytes finds most starts before a vector search's set-up pays.
    let near = at.saturating_sub(64).max(from);
    match b[near..at].iter().rposition(|&c| c == b'\n' || c == b'\r') {
        Some(p) => near + p + 1,
        None => memchr::memrchr2(b'\n', b'\r', &b[from..near]).map_or(from, |p| from + p + 1),
    }
}

/// Where the line holding `at` ends: its terminator, or the end of the block.
pub(super) fn line_end(b: &[u8], at: usize) -> usize {
    memchr::memchr2(b'\n', b'\r', &b[at..]).map_or(b.len(), |p| at + p)
}

/// Steps over the terminator at `end` (counting it when it is a `\n`) to the next line.
pub(super) fn next_line(st: &mut State, b: &[u8], end: usize) -> usize {
    if b.get(end) == Some(&b'\n') {
        st.line = st.line.saturating_add(1);
    }
    (end + 1).min(b.len())
}

pub(super) fn count_lines(b: &[u8]) -> u32 {
    // Most counts are of a bar's last update (tens of bytes): a byte loop there, before the
    // vector count's set-up pays.
    let n = if b.len() < 256 {
        b.iter().filter(|&&c| c == b'\n').count()
    } else {
        memchr::memchr_iter(b'\n', b).count()
    };
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Counts the lines of a block that hold NUL bytes (a crashed writer's zero-filled tail, or a
/// damaged block); `on_line` skips them.
pub(super) fn note_nul(st: &mut State, b: &[u8], first_line: u32) {
    let mut at = 0;
    while let Some(p) = memchr::memchr(0, &b[at..]) {
        let nul = at + p;
        if st.nul.is_none() {
            let line = first_line.saturating_add(count_lines(&b[..nul]));
            st.nul = Some((line, st.offset + nul as u64));
        }
        st.nul_lines += 1;
        at = line_end(b, nul) + 1;
        if at >= b.len() {
            break;
        }
    }
}

/// Calls `f` with blocks of whole lines (each ending in `\n` or `\r`, but the file's last line)
/// read in chunks of [`MAX_LINE`] bytes, and whether the block's first line is the end of a line
/// over [`MAX_LINE`] that is to be skipped. Returns how many such lines there were.
pub fn for_each_block(reader: &mut impl Read, mut f: impl FnMut(&[u8], bool)) -> io::Result<usize> {
    // Grown (up to MAX_LINE) only when a line does not fit: a small file is not given a
    // megabyte to clear.
    let mut buf = vec![0u8; 2 * READ];
    let mut filled = 0;
    let mut skipping = false;
    let mut too_long = 0;
    loop {
        let upto = (filled + READ).min(buf.len());
        let n = match reader.read(&mut buf[filled..upto]) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        filled += n;
        if n == 0 {
            if filled > 0 {
                f(&buf[..filled], skipping);
            }
            return Ok(too_long);
        }
        match memchr::memrchr2(b'\n', b'\r', &buf[..filled]) {
            Some(p) => {
                f(&buf[..=p], skipping);
                skipping = false;
                buf.copy_within(p + 1..filled, 0);
                filled -= p + 1;
            }
            None if filled == buf.len() && buf.len() < MAX_LINE => {
                buf.resize((buf.len() * 2).min(MAX_LINE), 0);
            }
            None if filled == buf.len() => {
                too_long += usize::from(!skipping);
                skipping = true;
                filled = 0;
            }
            None => {}
        }
    }
}
