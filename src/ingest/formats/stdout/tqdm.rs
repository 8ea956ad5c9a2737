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
    let end = line_end(region, p);
    if let Some(bar) = parse_bar(&without_ansi(&region[start..end])) {
        // The bar's own bytes hold no newline: only those after it are counted.
        seen_bar(st, bar, line_of(st, end));
    }
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
