//! tqdm progress bars: the `n/total` counter of the last bar before a dict, ANSI colours
//! stripped.

use memchr::memmem;

use super::*;

/// A tqdm bar's counter and total (`100/3815`).
pub(super) type Bar = (f64, f64);

/// Takes the training bar's counter from the last tqdm update in `region` (lines with no
/// needle, mostly tqdm updates), if any. The region's lines are counted: `st.line` is the line
/// at its end, and a bar's line is found by counting back from there (a few bytes). While no
/// header has stated the total steps, every bar of the region is looked at for the largest
/// total (a header-less log's only step count may be its training bar's total).
pub(super) fn pass(st: &mut State, region: &[u8]) {
    let Some(p) = last_percent_bar(region) else {
        return;
    };
    // The line of the bar starting (or ending) at `at`: the newlines after it, counted back.
    let line_of = |st: &State, at: usize| st.line.saturating_sub(count_lines(&region[at..]));
    if st.headers_seen == 0 && !st.headed && !st.out.facts.iter().any(|f| f.key == Key::TotalSteps)
    {
        for q in memmem::find_iter(&region[..p], b"%|") {
            let start = line_start(region, 0, q);
            if let Some(bar) = parse_bar(&without_ansi(&region[start..line_end(region, q)])) {
                if st.largest_bar.is_none_or(|(t, _)| bar.1 > t) {
                    st.largest_bar = Some((bar.1, line_of(st, start)));
                }
            }
        }
    }
    let start = line_start(region, 0, p);
    // Most updates are a plain bar, read in one pass to the end of their line; any other is
    // cut out, stripped of colours and read by the general reading.
    if let Some((bar, len)) = plain_bar(&region[start..]) {
        seen_bar(st, bar, line_of(st, start + len));
        return;
    }
    let end = line_end(region, p);
    if let Some(bar) = parse_bar(&without_ansi(&region[start..end])) {
        // The bar's own bytes hold no newline: only those after it are counted.
        seen_bar(st, bar, line_of(st, end));
    }
}

/// The bar of a tqdm update the way the Trainer's training bar prints it, read in one pass:
/// spaces, a percentage of one to three digits, `%|`, the bar (no `|` in it), `| `, the
/// counter, `/`, the total (plain integers of up to fifteen digits), ` [`, and then no `|`
/// nor ESC up to the end of the line (the first `\r` or `\n`, or the end of `b`). The bar and
/// the line's length; `None` for anything else, which [`parse_bar`] reads (for these lines it
/// reads the same: the tests compare the two).
fn plain_bar(b: &[u8]) -> Option<(Bar, usize)> {
    let mut i = 0;
    while b.get(i) == Some(&b' ') {
        i += 1;
    }
    let digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
    if !(1..=3).contains(&digits) {
        return None;
    }
    i += digits;
    if b.get(i..i + 2) != Some(b"%|") {
        return None;
    }
    i += 2;
    // The bar: block characters (bytes past ASCII) and spaces, up to its closing `|`, with no
    // line end nor ESC before it.
    let close = i + memchr::memchr3(b'|', b'\n', b'\r', &b[i..])?;
    if b[close] != b'|' || memchr::memchr(0x1b, &b[i..close]).is_some() {
        return None;
    }
    i = close;
    if b.get(i + 1) != Some(&b' ') {
        return None;
    }
    i += 2;
    let (counter, end) = integer_at(b, i)?;
    if b.get(end) != Some(&b'/') {
        return None;
    }
    let (total, end) = integer_at(b, end + 1)?;
    i = end;
    if b.get(i..i + 2) != Some(b" [") {
        return None;
    }
    i += 2;
    let end = i + memchr::memchr2(b'\n', b'\r', &b[i..]).unwrap_or(b.len() - i);
    if memchr::memchr2(b'|', 0x1b, &b[i..end]).is_some() {
        return None;
    }
    Some(((counter, total), end))
}

/// A training-like bar (no description) was seen at `lineno`: its counter is the step hint for
/// the dicts after it, and the largest total is kept for the run's total steps.
pub(super) fn seen_bar(st: &mut State, bar: Bar, lineno: u32) {
    st.bar = Some(bar);
    if st.largest_bar.is_none_or(|(t, _)| bar.1 > t) {
        st.largest_bar = Some((bar.1, lineno));
    }
}

pub(super) fn without_ansi(raw: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if memchr::memchr(0x1b, raw).is_some() {
        strip_ansi(raw).into()
    } else {
        raw.into()
    }
}

/// Parses a tqdm bar `  3%|███▏  | 100/3815 [00:52<27:37,  2.24it/s]` into (100, 3815). A bar
/// with a description (`Map: 100%|…`, `Running tokenizer on dataset: …`) is another task's,
/// not the training bar (the HF Trainer's has none): `None`.
pub(super) fn parse_bar(bytes: &[u8]) -> Option<Bar> {
    let bar_end = memchr::memrchr_iter(b'|', bytes).find(|&i| bytes.get(i + 1) == Some(&b' '))?;
    if let Some(pct) = percent_bar(bytes) {
        let before = bytes[..pct].trim_ascii_end();
        let digits = before
            .iter()
            .rev()
            .take_while(|b| b.is_ascii_digit())
            .count();
        if before[..before.len() - digits]
            .iter()
            .any(u8::is_ascii_alphabetic)
        {
            return None;
        }
    }
    let after = &bytes[bar_end + 2..];
    let open = memchr::memchr_iter(b'[', after).find(|&i| i > 0 && after[i - 1] == b' ');
    let counts = &after[..open.map_or(after.len(), |i| i - 1)];
    let slash = memchr::memchr(b'/', counts)?;
    let num = |b: &[u8]| {
        let t = b.trim_ascii();
        match small_integer(t).or_else(|| decimal(t)) {
            Some(x) => Some(x),
            None => std::str::from_utf8(b).ok()?.trim().parse().ok(),
        }
    };
    Some((num(&counts[..slash])?, num(&counts[slash + 1..])?))
}

/// Where the first `%|` (a tqdm bar's percentage, then the bar) starts.
pub(super) fn percent_bar(bytes: &[u8]) -> Option<usize> {
    memchr::memchr_iter(b'|', bytes).find_map(|i| (i > 0 && bytes[i - 1] == b'%').then(|| i - 1))
}

/// Where the last `%|` starts.
pub(super) fn last_percent_bar(bytes: &[u8]) -> Option<usize> {
    memchr::memrchr_iter(b'|', bytes).find_map(|i| (i > 0 && bytes[i - 1] == b'%').then(|| i - 1))
}

pub(super) fn strip_ansi(bytes: &[u8]) -> Vec<u8> {
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

/// The training bar's counter as each record was read, for [`place_steps`]: the counters in
/// one column (8 bytes a record) and the totals as runs (the record each starts at), `None`
/// while no bar had been seen. A log's bar changes its total rarely (an eval bar, a resumed
/// run), so this holds a third of what a bar per record would.
#[derive(Debug, Default)]
pub(super) struct Hints {
    counters: Vec<f64>,
    totals: Vec<(usize, Option<f64>)>,
}

impl Hints {
    /// The bar before the next record.
    pub(super) fn push(&mut self, bar: Option<Bar>) {
        let total = bar.map(|(_, t)| t);
        // Totals compared by their bits: a NaN total starts no new run each time.
        if self
            .totals
            .last()
            .is_none_or(|&(_, t)| t.map(f64::to_bits) != total.map(f64::to_bits))
        {
            self.totals.push((self.counters.len(), total));
        }
        self.counters.push(bar.map_or(f64::NAN, |(n, _)| n));
    }

    /// The bar before each record asked for, records asked for mostly in order: the run of the
    /// last record asked for is where the next one's is looked for first, not searched for
    /// again (an eval bar between two dicts starts a run: a log with an eval every few thousand
    /// steps has hundreds).
    pub(super) fn in_order(&self) -> impl FnMut(usize) -> Option<Bar> + '_ {
        let mut run = 0;
        move |i| {
            let counter = *self.counters.get(i)?;
            if self.totals.get(run).is_some_and(|&(from, _)| from <= i) {
                while self.totals.get(run + 1).is_some_and(|&(from, _)| from <= i) {
                    run += 1;
                }
            } else {
                run = self
                    .totals
                    .partition_point(|&(from, _)| from <= i)
                    .checked_sub(1)?;
            }
            Some((counter, self.totals.get(run)?.1?))
        }
    }

    /// Which records were written in a burst: a run of records in a row with the same bar
    /// counter whose epochs differ (several logged steps cannot all be the one step the bar was
    /// at). What a buffered stdout (nohup, a pipe) gives: the bar, on unbuffered stderr, runs
    /// ahead, and the dicts come out together later. Empty when there is none.
    pub(super) fn bursts(&self, frame: &crate::model::Frame) -> Vec<bool> {
        use crate::model::Coordinate;
        let mut burst: Vec<bool> = Vec::new();
        let n = self.counters.len().min(frame.len());
        let mut start = 0;
        while start < n {
            let c = self.counters[start];
            let mut end = start + 1;
            while end < n && self.counters[end].to_bits() == c.to_bits() {
                end += 1;
            }
            // A record alone at its counter (every one, in most logs) is no burst.
            let mut epochs = (start..end).filter_map(|i| frame.known(Coordinate::Epoch, i));
            if end - start > 1
                && !c.is_nan()
                && epochs.next().is_some_and(|f| epochs.any(|e| e != f))
            {
                if burst.is_empty() {
                    burst = vec![false; n];
                }
                burst[start..end].fill(true);
            }
            start = end;
        }
        burst
    }

    /// Appends the next part's hints, after these.
    pub(super) fn append(&mut self, next: Hints) {
        let offset = self.counters.len();
        for (from, total) in next.totals {
            if self
                .totals
                .last()
                .is_none_or(|&(_, t)| t.map(f64::to_bits) != total.map(f64::to_bits))
            {
                self.totals.push((offset + from, total));
            }
        }
        self.counters.extend_from_slice(&next.counters);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines made of a bar's parts, whole, mutated or in any order: where the one-pass reading
    /// takes a line as a plain bar, the general reading of the line to its first terminator
    /// reads the same counter and total (fails when the one pass takes a line the general
    /// reading reads otherwise: a description, a second bar, colours, a `|` after the counts).
    #[test]
    fn plain_bars_read_as_the_general_reading_reads_them() {
        use proptest::prelude::*;
        let whole = [
            "  3%|          | 49616/1250000 [00:00<12:34,  3.00it/s]",
            "100%|\u{2588}\u{2588}\u{2588}\u{2588}| 40/40 [00:52<00:00,  2.24it/s]",
            " 50%|\u{2588}\u{2588}\u{258c}  | 20/40 [00:26<00:26, ?it/s]\r 55%",
        ];
        for line in whole {
            let (bar, len) = plain_bar(line.as_bytes()).expect("a plain bar");
            assert_eq!(Some(bar), parse_bar(&line.as_bytes()[..len]), "{line}");
        }
        let parts = [
            " ",
            "3",
            "100",
            "%",
            "|",
            "%|",
            "| ",
            "\u{2588}",
            "\u{258f}",
            "5",
            "/",
            "40",
            " [",
            "[",
            "00:01<00:02",
            ",",
            "it/s]",
            "\x1b[32m",
            // An escape whose final byte is a `|`: stripped whole, the `|` with it.
            "\x1b[",
            "Map: ",
            "a",
            "\r",
            "\n",
            "1e3",
            "1234567890123456",
            "+",
        ];
        let template = prop::sample::select(whole.to_vec());
        let edits = prop::collection::vec((0usize..80, 0..parts.len(), any::<bool>()), 0..3);
        let random = prop::collection::vec(0..parts.len(), 0..24);
        proptest::test_runner::TestRunner::new(proptest::test_runner::Config {
            cases: 8192,
            failure_persistence: None,
            ..Default::default()
        })
        .run(
            &(template, edits, random, any::<bool>()),
            |(t, edits, picks, mix)| {
                let mut line = if mix {
                    picks
                        .iter()
                        .map(|&i| parts[i])
                        .collect::<String>()
                        .into_bytes()
                } else {
                    t.as_bytes().to_vec()
                };
                for (at, part, insert) in edits {
                    let at = at.min(line.len());
                    if !insert && at < line.len() {
                        line.remove(at);
                    }
                    line.splice(at..at, parts[part].bytes());
                }
                if let Some((bar, len)) = plain_bar(&line) {
                    let end = line.iter().position(|&c| c == b'\n' || c == b'\r');
                    prop_assert_eq!(len, end.unwrap_or(line.len()));
                    let general = parse_bar(&without_ansi(&line[..len]));
                    prop_assert_eq!(
                        general.map(|(n, t)| (n.to_bits(), t.to_bits())),
                        Some((bar.0.to_bits(), bar.1.to_bits())),
                        "{:?}",
                        String::from_utf8_lossy(&line)
                    );
                }
                Ok(())
            },
        )
        .expect("plain bars read alike");
    }

    #[test]
    fn hints_give_back_each_records_bar() {
        let bars = [
            None,
            Some((1.0, 40.0)),
            Some((2.0, 40.0)),
            Some((3.0, 8.0)),
            None,
            Some((f64::NAN, 40.0)),
            Some((5.0, 40.0)),
        ];
        let mut whole = Hints::default();
        bars.iter().for_each(|&b| whole.push(b));
        let mut want: Vec<_> = bars.to_vec();
        want.push(None);
        // Asked for in order, backwards, and each by a reader of its own (which walks the runs
        // from the first): NaN != NaN, so compared by their debug text.
        let mut bar_of = whole.in_order();
        let got: Vec<_> = (0..bars.len() + 1).map(&mut bar_of).collect();
        assert_eq!(format!("{got:?}"), format!("{want:?}"));
        let mut bar_of = whole.in_order();
        let mut back: Vec<_> = (0..bars.len() + 1).rev().map(&mut bar_of).collect();
        back.reverse();
        assert_eq!(format!("{back:?}"), format!("{want:?}"));
        let each: Vec<_> = (0..bars.len() + 1).map(|i| whole.in_order()(i)).collect();
        assert_eq!(format!("{each:?}"), format!("{want:?}"));
        // Runs of one total: none, 40, 8, none, 40.
        assert_eq!(whole.totals.len(), 5);
        // Two parts appended read as one, at any cut.
        for cut in 0..=bars.len() {
            let (mut first, mut second) = (Hints::default(), Hints::default());
            bars[..cut].iter().for_each(|&b| first.push(b));
            bars[cut..].iter().for_each(|&b| second.push(b));
            first.append(second);
            assert_eq!(format!("{first:?}"), format!("{whole:?}"), "cut at {cut}");
        }
    }
}
