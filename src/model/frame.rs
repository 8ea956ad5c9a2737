//! The one shape a logged value has from reader to report: columns.
//!
//! A [`Frame`] is a table of logged records. Each record is a row, placed by one column per
//! coordinate (step, epoch, samples, tokens, time) and the line (or entry, or record) it came
//! from; each metric is a [`Column`] of (row, value) pairs, so a record's four values share its
//! coordinates instead of repeating them. A reader pushes rows into its file's frame; the merge
//! places every row (its step, its samples seen) in place, joins the files' rows into the run's
//! frame, and hands each metric over as [`Points`]: row numbers into that shared frame and the
//! values, in step order. A [`Point`] is only ever a view of one row and one value.
//!
//! Unknown coordinates are NaN. A coordinate column is stored only up to its last known value
//! (a log that never counts tokens stores no token column), so a frame costs 8 bytes per known
//! coordinate, 4 per row for the line and 12 per logged value.

use std::fmt;
use std::sync::Arc;

use rayon::prelude::*;

use super::{Coord, Point};

/// A metric name, shared by every row of a file that logs it (a million-entry log holds a
/// handful of distinct names).
pub type Name = Arc<str>;

/// A row's coordinates: what a reader pushes, and what the frame gives back.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Row {
    /// The optimizer step, when logged or recovered by the reader.
    pub step: Option<f64>,
    /// How `step` was known, when it was not logged.
    pub step_origin: Option<&'static str>,
    /// The epoch, when logged.
    pub epoch: Option<f64>,
    /// Seconds since training started, when logged.
    pub time: Option<f64>,
    /// Tokens seen so far, when counted.
    pub tokens: Option<f64>,
    /// Samples seen so far, when counted (Megatron's consumed samples) or derived by the merge.
    pub samples: Option<f64>,
    /// 1-based line, entry or record in the file.
    pub line: u32,
}

/// One metric's values: the rows they were logged in, and the values, in push order.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// The metric name, normalised to HF's spelling.
    pub name: Name,
    /// The row of each value.
    pub rows: Vec<u32>,
    /// The values as logged (NaN and ±inf kept).
    pub values: Vec<f64>,
}

/// The coordinates of a frame's rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Coordinate {
    Step,
    Epoch,
    Samples,
    Tokens,
    Time,
}

/// Logged records as rows, and their metrics as columns.
#[derive(Clone, Default, PartialEq)]
pub struct Frame {
    len: usize,
    step: Vec<f64>,
    epoch: Vec<f64>,
    samples: Vec<f64>,
    tokens: Vec<f64>,
    time: Vec<f64>,
    line: Vec<u32>,
    /// Per row, 1 + the index in `origins` of how its step was known; 0 for none. Stored up to
    /// the last row that has one.
    origin: Vec<u8>,
    origins: Vec<&'static str>,
    columns: Vec<Column>,
    /// Where the last value went: the next value most likely goes to the next column.
    hint: usize,
    /// Rows pushed with a non-finite coordinate, which was dropped.
    nonfinite: usize,
}

/// A value of a coordinate column: NaN past its stored end.
#[inline]
fn at(col: &[f64], i: usize) -> f64 {
    col.get(i).copied().unwrap_or(f64::NAN)
}

/// Sets row `i` of a lazily stored column to `v` (NaN: unknown).
#[inline]
fn put(col: &mut Vec<f64>, i: usize, v: f64) {
    if i < col.len() {
        col[i] = v;
    } else if !v.is_nan() {
        col.resize(i, f64::NAN);
        col.push(v);
    }
}

/// A known, finite value as itself, anything else as NaN; counts non-finite values dropped.
#[inline]
fn coord(x: Option<f64>, bad: &mut bool) -> f64 {
    match x {
        Some(v) if v.is_finite() => v,
        Some(_) => {
            *bad = true;
            f64::NAN
        }
        None => f64::NAN,
    }
}

impl Frame {
    /// Rows in the frame.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it has no rows.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Rows pushed with a non-finite step or coordinate (NaN, ±inf), which was dropped: a
    /// coordinate is finite or unknown.
    pub fn nonfinite(&self) -> usize {
        self.nonfinite
    }

    /// Appends a row and its metrics.
    pub fn push_row<N: std::borrow::Borrow<Name>>(
        &mut self,
        row: Row,
        metrics: impl IntoIterator<Item = (N, f64)>,
    ) {
        let i = self.len;
        let Ok(r) = u32::try_from(i) else {
            return;
        };
        self.set_row(i, row);
        self.line.push(row.line);
        self.len += 1;
        for (name, value) in metrics {
            let c = self.column_index(name.borrow());
            let col = &mut self.columns[c];
            col.rows.push(r);
            col.values.push(value);
        }
    }

    /// Whether a metric column named `name` holds any value.
    pub fn has_column(&self, name: &str) -> bool {
        self.columns
            .iter()
            .any(|c| &*c.name == name && !c.values.is_empty())
    }

    /// The column for `name`, made when new: the one after the last used is tried first
    /// (records list their metrics in the same order), then each by pointer, then by text.
    fn column_index(&mut self, name: &Name) -> usize {
        let n = self.columns.len();
        let guess = if self.hint + 1 < n { self.hint + 1 } else { 0 };
        let found = if self
            .columns
            .get(guess)
            .is_some_and(|c| Arc::ptr_eq(&c.name, name))
        {
            Some(guess)
        } else {
            self.columns
                .iter()
                .position(|c| Arc::ptr_eq(&c.name, name))
                .or_else(|| self.columns.iter().position(|c| c.name == *name))
        };
        let c = found.unwrap_or_else(|| {
            self.columns.push(Column {
                name: Arc::clone(name),
                rows: Vec::new(),
                values: Vec::new(),
            });
            n
        });
        self.hint = c;
        c
    }

    /// Writes row `i`'s coordinates (not its line).
    fn set_row(&mut self, i: usize, row: Row) {
        let mut bad = false;
        let step = coord(row.step, &mut bad);
        let epoch = coord(row.epoch, &mut bad);
        let samples = coord(row.samples, &mut bad);
        let tokens = coord(row.tokens, &mut bad);
        let time = coord(row.time, &mut bad);
        if bad {
            self.nonfinite += 1;
        }
        put(&mut self.step, i, step);
        put(&mut self.epoch, i, epoch);
        put(&mut self.samples, i, samples);
        put(&mut self.tokens, i, tokens);
        put(&mut self.time, i, time);
        self.set_origin(i, row.step_origin);
    }

    fn set_origin(&mut self, i: usize, origin: Option<&'static str>) {
        let code = match origin {
            None => 0,
            Some(o) => self.origin_code(o),
        };
        self.put_origin(i, code);
    }

    /// The code row origins store `o` as (1 + its index in `origins`), given it when new.
    fn origin_code(&mut self, o: &'static str) -> u8 {
        let k = match self
            .origins
            .iter()
            .position(|x| std::ptr::eq(*x, o) || *x == o)
        {
            Some(k) => k,
            None => {
                self.origins.push(o);
                self.origins.len() - 1
            }
        };
        u8::try_from(k + 1).unwrap_or(u8::MAX)
    }

    #[inline]
    fn put_origin(&mut self, i: usize, code: u8) {
        if i < self.origin.len() {
            self.origin[i] = code;
        } else if code != 0 {
            self.origin.resize(i, 0);
            self.origin.push(code);
        }
    }

    /// Row `i`'s coordinates and line.
    pub fn row(&self, i: usize) -> Row {
        Row {
            step: self.known(Coordinate::Step, i),
            step_origin: self.origin_of(i),
            epoch: self.known(Coordinate::Epoch, i),
            time: self.known(Coordinate::Time, i),
            tokens: self.known(Coordinate::Tokens, i),
            samples: self.known(Coordinate::Samples, i),
            line: self.line(i),
        }
    }

    /// How row `i`'s step was known, when the reader or the merge said.
    pub fn origin_of(&self, i: usize) -> Option<&'static str> {
        match self.origin.get(i).copied().unwrap_or(0) {
            0 => None,
            k => self.origins.get(usize::from(k) - 1).copied(),
        }
    }

    /// The rows in order.
    pub fn rows(&self) -> impl DoubleEndedIterator<Item = Row> + '_ {
        (0..self.len).map(|i| self.row(i))
    }

    /// One coordinate of row `i` (NaN: unknown).
    #[inline]
    pub fn get(&self, c: Coordinate, i: usize) -> f64 {
        at(self.coordinate(c), i)
    }

    /// One coordinate of row `i`, when known.
    #[inline]
    pub fn known(&self, c: Coordinate, i: usize) -> Option<f64> {
        Some(self.get(c, i)).filter(|x| !x.is_nan())
    }

    /// Row `i`'s 1-based line (or entry) in its file.
    #[inline]
    pub fn line(&self, i: usize) -> u32 {
        self.line.get(i).copied().unwrap_or(0)
    }

    /// The last row with a known `c`, found from the end of its column (stored only up to its
    /// last known value).
    pub fn last_known(&self, c: Coordinate) -> Option<usize> {
        self.coordinate(c).iter().rposition(|x| !x.is_nan())
    }

    fn coordinate(&self, c: Coordinate) -> &[f64] {
        match c {
            Coordinate::Step => &self.step,
            Coordinate::Epoch => &self.epoch,
            Coordinate::Samples => &self.samples,
            Coordinate::Tokens => &self.tokens,
            Coordinate::Time => &self.time,
        }
    }

    /// Sets one coordinate of row `i` (NaN: unknown).
    pub fn set(&mut self, c: Coordinate, i: usize, v: f64) {
        let col = match c {
            Coordinate::Step => &mut self.step,
            Coordinate::Epoch => &mut self.epoch,
            Coordinate::Samples => &mut self.samples,
            Coordinate::Tokens => &mut self.tokens,
            Coordinate::Time => &mut self.time,
        };
        put(col, i, v);
    }

    /// The largest known `c` of any row.
    pub fn max(&self, c: Coordinate) -> Option<f64> {
        // One comparison a value, which an unknown (NaN) fails: no filter, and none of
        // `f64::max`'s NaN handling, over a million rows. Coordinates are finite (a
        // non-finite one is dropped), so -inf is no value's.
        let m = self
            .coordinate(c)
            .iter()
            .fold(f64::NEG_INFINITY, |m, &x| if x > m { x } else { m });
        (m > f64::NEG_INFINITY).then_some(m)
    }

    /// Whether some row has no value of `c`.
    pub fn lacks(&self, c: Coordinate) -> bool {
        let col = self.coordinate(c);
        col.len() < self.len || col.iter().any(|x| x.is_nan())
    }

    /// Sets row `i`'s step and how it was known.
    pub fn set_step(&mut self, i: usize, step: f64, origin: Option<&'static str>) {
        put(&mut self.step, i, step);
        self.set_origin(i, origin);
    }

    /// Lets `f` change each row's coordinates and line, given its index: steps placed once the
    /// whole file is known, lines renumbered. Metrics are untouched.
    pub fn edit(&mut self, mut f: impl FnMut(usize, &mut Row)) {
        for i in 0..self.len {
            let before = self.row(i);
            let mut row = before;
            f(i, &mut row);
            if row != before {
                self.set_row(i, row);
                self.line[i] = row.line;
            }
        }
    }

    /// Gives each row without a step the one `f` finds from the row's index and epoch, with how
    /// it was found. A non-finite step is dropped and counted, as a pushed one is.
    pub fn fill_steps(
        &mut self,
        mut f: impl FnMut(usize, Option<f64>) -> Option<(f64, &'static str)>,
    ) {
        // The origin given last, and its code: a file's rows are placed one way, row after row.
        let mut last: Option<(&'static str, u8)> = None;
        for i in 0..self.len {
            if !at(&self.step, i).is_nan() {
                continue;
            }
            if let Some((step, origin)) = f(i, self.known(Coordinate::Epoch, i)) {
                let mut bad = false;
                let step = coord(Some(step), &mut bad);
                self.nonfinite += usize::from(bad);
                put(&mut self.step, i, step);
                let code = match last {
                    Some((o, code)) if std::ptr::eq(o, origin) => code,
                    _ => {
                        let code = self.origin_code(origin);
                        last = Some((origin, code));
                        code
                    }
                };
                self.put_origin(i, code);
            }
        }
    }

    /// Moves every row's line `by` on (a part of a file read from its middle).
    pub fn shift_lines(&mut self, by: u32) {
        for l in &mut self.line {
            *l = l.saturating_add(by);
        }
    }

    /// Appends another part's rows and metrics after these, as if they had been pushed here.
    /// The rows and each metric column are copied at once (on the pool's threads): a large
    /// part's copy is mostly the kernel's first touch of the pages it is copied into.
    pub fn append(&mut self, mut other: Frame) {
        let offset = self.len;
        let Ok(shift) = u32::try_from(offset) else {
            return;
        };
        let theirs = std::mem::take(&mut other.columns);
        let targets: Vec<usize> = theirs.iter().map(|c| self.column_index(&c.name)).collect();
        let mut columns = std::mem::take(&mut self.columns);
        let mut by_target: Vec<Option<Column>> = columns.iter().map(|_| None).collect();
        for (col, t) in theirs.into_iter().zip(targets) {
            by_target[t] = Some(col);
        }
        rayon::join(
            || self.append_rows(&other),
            || {
                columns
                    .par_iter_mut()
                    .zip(by_target)
                    .for_each(|(mine, theirs)| {
                        if let Some(col) = theirs {
                            mine.rows.extend(col.rows.iter().map(|r| r + shift));
                            mine.values.extend_from_slice(&col.values);
                        }
                    });
            },
        );
        self.columns = columns;
    }

    /// Makes room for `rows` rows in all in every coordinate column, so that coordinates filled
    /// in row by row and other frames' rows appended do not regrow the columns (each regrowth
    /// copies them into fresh pages). Room a column does not use is given back by
    /// [`Frame::shrink_to_fit`].
    pub fn reserve_rows(&mut self, rows: usize) {
        for col in self.coordinates_mut() {
            col.reserve_exact(rows.saturating_sub(col.len()));
        }
        self.line
            .reserve_exact(rows.saturating_sub(self.line.len()));
        self.origin
            .reserve_exact(rows.saturating_sub(self.origin.len()));
    }

    /// The five coordinate columns, in the order of [`Frame::coordinates_mut`].
    fn coordinates(&self) -> [&Vec<f64>; 5] {
        [
            &self.step,
            &self.epoch,
            &self.samples,
            &self.tokens,
            &self.time,
        ]
    }

    /// The five coordinate columns.
    fn coordinates_mut(&mut self) -> [&mut Vec<f64>; 5] {
        [
            &mut self.step,
            &mut self.epoch,
            &mut self.samples,
            &mut self.tokens,
            &mut self.time,
        ]
    }

    /// Appends another frame's rows (not its metrics); returns the row the first of them got.
    pub fn append_rows(&mut self, other: &Frame) -> usize {
        let offset = self.len;
        let total = offset + other.len;
        for (mine, theirs) in self.coordinates_mut().into_iter().zip(other.coordinates()) {
            if !theirs.is_empty() {
                mine.reserve(total - mine.len());
                mine.resize(offset, f64::NAN);
                mine.extend_from_slice(theirs);
            }
        }
        self.line.extend_from_slice(&other.line);
        for i in 0..other.origin.len() {
            self.set_origin(offset + i, other.origin_of(i));
        }
        self.len = total;
        self.nonfinite += other.nonfinite;
        offset
    }

    /// Appends row `i` of `other` (its coordinates and line; not its step's origin, nor its
    /// metrics); returns the row it got here.
    pub fn copy_row(&mut self, other: &Frame, i: usize) -> u32 {
        let r = self.len;
        for (mine, theirs) in self.coordinates_mut().into_iter().zip(other.coordinates()) {
            put(mine, r, at(theirs, i));
        }
        self.line.push(other.line(i));
        self.len += 1;
        u32::try_from(r).unwrap_or(u32::MAX)
    }

    /// The metric columns, in the order their names first appeared.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// The column of metric `name`.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| &*c.name == name)
    }

    /// Names metric `from` `to`, where no column is named `to` already.
    pub fn rename_column(&mut self, from: &str, to: &str) {
        if self.column(to).is_some() {
            return;
        }
        if let Some(c) = self.columns.iter_mut().find(|c| &*c.name == from) {
            c.name = Name::from(to);
        }
    }

    /// Keeps the metric columns `keep` says yes to, and drops the others.
    pub fn retain_columns(&mut self, keep: impl FnMut(&Column) -> bool) {
        self.columns.retain(keep);
        self.hint = 0;
    }

    /// Takes the metric columns out, leaving the rows.
    pub fn take_columns(&mut self) -> Vec<Column> {
        std::mem::take(&mut self.columns)
    }

    /// Frees what the rows' vectors hold beyond their length, and drops the rows' step origins
    /// (the merge has read them: `origin_of` answers `None` afterwards).
    pub fn shrink_to_fit(&mut self) {
        for col in self.coordinates_mut() {
            col.shrink_to_fit();
        }
        self.line.shrink_to_fit();
        self.origin = Vec::new();
    }

    /// The point of row `row` with `value`.
    #[inline]
    pub fn point(&self, row: usize, value: f64) -> Point {
        Point {
            step: at(&self.step, row),
            epoch: Coord::from_raw(at(&self.epoch, row)),
            samples: Coord::from_raw(at(&self.samples, row)),
            tokens: Coord::from_raw(at(&self.tokens, row)),
            time: Coord::from_raw(at(&self.time, row)),
            value,
            line: self.line(row),
        }
    }

    /// Every row with the metrics logged in it, in column order (tests, and readers' unit tests
    /// in particular).
    pub fn to_rows(&self) -> Vec<(Row, Vec<(Name, f64)>)> {
        let mut out: Vec<(Row, Vec<(Name, f64)>)> = self.rows().map(|r| (r, Vec::new())).collect();
        for col in &self.columns {
            for (&r, &v) in col.rows.iter().zip(&col.values) {
                if let Some(slot) = out.get_mut(r as usize) {
                    slot.1.push((Arc::clone(&col.name), v));
                }
            }
        }
        out
    }
}

/// The rows with their metrics.
impl fmt::Debug for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.to_rows()).finish()
    }
}

/// One metric's points: rows of a shared frame and the values logged in them, in step order.
#[derive(Clone)]
pub struct Points {
    frame: Arc<Frame>,
    rows: Vec<u32>,
    values: Vec<f64>,
}

impl Default for Points {
    fn default() -> Self {
        Points {
            frame: Arc::new(Frame::default()),
            rows: Vec::new(),
            values: Vec::new(),
        }
    }
}

impl Points {
    /// The values logged in `rows` of `frame`, in that order.
    pub fn new(frame: Arc<Frame>, rows: Vec<u32>, values: Vec<f64>) -> Self {
        debug_assert_eq!(rows.len(), values.len());
        Points {
            frame,
            rows,
            values,
        }
    }

    /// How many points.
    #[inline]
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Point `i`.
    #[inline]
    pub fn get(&self, i: usize) -> Option<Point> {
        let value = *self.values.get(i)?;
        Some(self.frame.point(self.rows[i] as usize, value))
    }

    /// Each point's coordinate `c` (NaN: unknown), read from that column alone.
    pub fn coordinates(&self, c: Coordinate) -> impl ExactSizeIterator<Item = f64> + '_ {
        let col = self.frame.coordinate(c);
        self.rows.iter().map(move |&r| at(col, r as usize))
    }

    /// Coordinate `c` of point `i` (NaN: unknown), read from that column alone: what a pass
    /// over a long series reads instead of building each [`Point`].
    #[inline]
    pub fn coordinate(&self, c: Coordinate, i: usize) -> f64 {
        at(self.frame.coordinate(c), self.rows[i] as usize)
    }

    /// The first point.
    pub fn first(&self) -> Option<Point> {
        self.get(0)
    }

    /// The last point.
    pub fn last(&self) -> Option<Point> {
        self.get(self.len().checked_sub(1)?)
    }

    /// The points in step order.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            points: self,
            front: 0,
            back: self.len(),
        }
    }

    /// How many rows the frame they view holds (theirs, and other series' of the run).
    #[cfg(test)]
    pub fn frame_rows(&self) -> usize {
        self.frame.len()
    }

    /// The values alone, in step order.
    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// The values, to change in place (tests that perturb a series).
    pub fn values_mut(&mut self) -> &mut [f64] {
        &mut self.values
    }

    /// The index of the first point for which `pred` is false (the points are partitioned by
    /// it, as by a step bound on points in step order).
    pub fn partition_point(&self, mut pred: impl FnMut(Point) -> bool) -> usize {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.get(mid) {
                Some(p) if pred(p) => lo = mid + 1,
                _ => hi = mid,
            }
        }
        lo
    }
}

/// Points built one by one (synthetic runs, tests): a frame of their own, a row each.
impl FromIterator<Point> for Points {
    fn from_iter<I: IntoIterator<Item = Point>>(iter: I) -> Self {
        let mut frame = Frame::default();
        let mut values = Vec::new();
        for p in iter {
            let known = |c: Coord| c.get();
            frame.push_row::<Name>(
                Row {
                    step: Some(p.step).filter(|s| !s.is_nan()),
                    step_origin: None,
                    epoch: known(p.epoch),
                    time: known(p.time),
                    tokens: known(p.tokens),
                    samples: known(p.samples),
                    line: p.line,
                },
                [],
            );
            values.push(p.value);
        }
        let rows = (0..values.len() as u32).collect();
        Points::new(Arc::new(frame), rows, values)
    }
}

impl From<Vec<Point>> for Points {
    fn from(points: Vec<Point>) -> Self {
        points.into_iter().collect()
    }
}

/// Equal when they hold the same points, whichever frames they view.
impl PartialEq for Points {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl fmt::Debug for Points {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// The points of a [`Points`], by value.
#[derive(Clone)]
pub struct Iter<'a> {
    points: &'a Points,
    front: usize,
    back: usize,
}

impl Iterator for Iter<'_> {
    type Item = Point;

    #[inline]
    fn next(&mut self) -> Option<Point> {
        if self.front >= self.back {
            return None;
        }
        let p = self.points.get(self.front);
        self.front += 1;
        p
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.back - self.front;
        (n, Some(n))
    }
}

impl DoubleEndedIterator for Iter<'_> {
    #[inline]
    fn next_back(&mut self) -> Option<Point> {
        if self.front >= self.back {
            return None;
        }
        self.back -= 1;
        self.points.get(self.back)
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl<'a> IntoIterator for &'a Points {
    type Item = Point;
    type IntoIter = Iter<'a>;
    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_read_back_as_pushed_and_unknown_columns_cost_nothing() {
        let loss: Name = "loss".into();
        let lr: Name = "learning_rate".into();
        let mut f = Frame::default();
        for i in 0..100u32 {
            let mut m = vec![(loss.clone(), f64::from(i))];
            if i % 2 == 0 {
                m.push((lr.clone(), 1e-5));
            }
            f.push_row(
                Row {
                    step: (i % 3 != 0).then_some(f64::from(i)),
                    epoch: Some(f64::from(i) / 100.0),
                    line: i + 1,
                    ..Row::default()
                },
                m,
            );
        }
        assert_eq!(f.len(), 100);
        assert!(f.tokens.is_empty() && f.time.is_empty());
        let rows = f.to_rows();
        assert_eq!(rows[4].1.len(), 2);
        assert_eq!(rows[5].1, vec![(loss.clone(), 5.0)]);
        assert_eq!(rows[3].0.step, None);
        assert_eq!(f.rows().next_back().map(|r| r.line), Some(100));

        f.edit(|i, r| {
            if r.step.is_none() {
                r.step = Some(i as f64 * 10.0);
                r.step_origin = Some("test");
            }
        });
        assert_eq!(f.row(3).step, Some(30.0));
        assert_eq!(f.row(3).step_origin, Some("test"));
        assert_eq!(f.row(4).step_origin, None);
    }

    #[test]
    fn two_parts_appended_equal_one_pass() {
        let names: Vec<Name> = ["loss", "eval_loss", "grad_norm"].map(Name::from).to_vec();
        let push = |f: &mut Frame, i: u32| {
            let m: Vec<(Name, f64)> = names
                .iter()
                .enumerate()
                .filter(|(k, _)| (i as usize + k) % 3 != 0)
                .map(|(_, n)| (n.clone(), f64::from(i)))
                .collect();
            f.push_row(
                Row {
                    step: Some(f64::from(i)),
                    tokens: (i > 7).then_some(f64::from(i) * 3.0),
                    step_origin: (i % 4 == 0).then_some("four"),
                    line: i,
                    ..Row::default()
                },
                m,
            );
        };
        let mut whole = Frame::default();
        (0..20).for_each(|i| push(&mut whole, i));
        let mut a = Frame::default();
        let mut b = Frame::default();
        (0..5).for_each(|i| push(&mut a, i));
        (5..20).for_each(|i| push(&mut b, i));
        a.append(b);
        assert_eq!(a.to_rows(), whole.to_rows());
        assert_eq!(a.columns().len(), 3);
    }

    #[test]
    fn column_reads_without_a_row() {
        let mut f = Frame::default();
        for (i, tokens) in [Some(5.0), None, Some(9.0), None].into_iter().enumerate() {
            f.push_row::<Name>(
                Row {
                    step: Some(i as f64),
                    tokens,
                    line: 20 + i as u32,
                    ..Row::default()
                },
                [],
            );
        }
        assert_eq!(f.last_known(Coordinate::Tokens), Some(2));
        assert_eq!(f.last_known(Coordinate::Time), None);
        assert_eq!(f.known(Coordinate::Tokens, 1), None);
        assert_eq!(f.known(Coordinate::Tokens, 3), None);
        assert_eq!(f.known(Coordinate::Step, 3), Some(3.0));
        assert_eq!((f.line(3), f.line(4)), (23, 0));
        for i in 0..f.len() {
            let row = f.row(i);
            assert_eq!(
                (row.tokens, row.line),
                (f.known(Coordinate::Tokens, i), f.line(i))
            );
        }
    }

    #[test]
    fn points_view_rows_of_a_shared_frame() {
        let mut f = Frame::default();
        for i in 0..4u32 {
            f.push_row::<Name>(
                Row {
                    step: Some(f64::from(i)),
                    samples: Some(f64::from(i) * 8.0),
                    line: i + 10,
                    ..Row::default()
                },
                [],
            );
        }
        let p = Points::new(Arc::new(f), vec![1, 3], vec![0.5, f64::INFINITY]);
        assert_eq!(p.len(), 2);
        let first = p.first().expect("a point");
        assert_eq!(
            (first.step, first.samples.get(), first.line),
            (1.0, Some(8.0), 11)
        );
        assert_eq!(p.last().expect("a point").value, f64::INFINITY);
        assert_eq!(
            p.iter().rev().map(|q| q.line).collect::<Vec<_>>(),
            vec![13, 11]
        );
        let copy: Points = p.iter().collect();
        assert_eq!(copy, p);
    }
}
