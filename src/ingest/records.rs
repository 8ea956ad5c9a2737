//! A file's metric records, kept compact: a million-line log yields a million records, so each is
//! a fixed 64-byte head (unknown values as NaN) plus its metrics in one array shared by the
//! records of a chunk, instead of a struct of options with a vector of its own. The records are
//! stored in chunks so that the merge can free them chunk by chunk as it turns them into points:
//! a file's records and its points are never all held at once.

use std::fmt;

use super::{Name, Record};
use crate::model::Coord;

/// Records per chunk: large enough that chunk overhead is nothing, small enough (about 8 MB)
/// that freeing one at a time keeps the peak near the points alone.
const CHUNK: usize = 1 << 16;

/// Metric records in file order.
#[derive(Clone, Default)]
pub struct Records {
    chunks: Vec<Chunk>,
    len: usize,
    /// Records pushed with a non-finite step or coordinate (NaN, ±inf), which was dropped.
    nonfinite: usize,
}

/// Equal when they hold the same records in the same order, however they are chunked.
impl PartialEq for Records {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && self.iter().eq(other.iter())
    }
}

/// A list of records, however they are chunked.
impl fmt::Debug for Records {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// Up to [`CHUNK`] records and their metrics.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Chunk {
    heads: Vec<Head>,
    metrics: Vec<(Name, f64)>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Head {
    step: Coord,
    step_origin: Option<&'static str>,
    epoch: Coord,
    time: Coord,
    tokens: Coord,
    samples: Coord,
    line: u32,
    /// Where this record's metrics end in the chunk's `metrics` (they start where the previous
    /// record's end).
    end: u32,
}

/// One record, read from the store: the fields of [`Record`] with the metrics borrowed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rec<'a> {
    pub step: Option<f64>,
    pub step_origin: Option<&'static str>,
    pub epoch: Option<f64>,
    pub time: Option<f64>,
    pub tokens: Option<f64>,
    pub samples: Option<f64>,
    pub metrics: &'a [(Name, f64)],
    pub line: u32,
}

impl Records {
    /// How many records.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many records were pushed with a non-finite step or coordinate (dropped: a coordinate
    /// is finite or unknown).
    pub fn nonfinite(&self) -> usize {
        self.nonfinite
    }

    /// Appends a record.
    pub fn push(&mut self, mut rec: Record) {
        let metrics = std::mem::take(&mut rec.metrics);
        self.push_with(&rec, metrics);
    }

    /// Appends the record `rec` describes (its own `metrics` ignored) with `metrics`: a reader
    /// that collects metrics in a buffer of its own hands them over without a vector per record.
    pub fn push_with(&mut self, rec: &Record, metrics: impl IntoIterator<Item = (Name, f64)>) {
        if self.chunks.last().is_none_or(|c| c.heads.len() >= CHUNK) {
            // Sized once: a chunk grown by doubling would leave its outgrown copies resident.
            let heads = if self.chunks.is_empty() { 64 } else { CHUNK };
            self.chunks.push(Chunk {
                heads: Vec::with_capacity(heads),
                metrics: Vec::with_capacity(heads * 4),
            });
        }
        let Some(chunk) = self.chunks.last_mut() else {
            return;
        };
        let coords = [rec.step, rec.epoch, rec.time, rec.tokens, rec.samples];
        if coords.iter().flatten().any(|x| !x.is_finite()) {
            self.nonfinite += 1;
        }
        chunk.metrics.extend(metrics);
        chunk.heads.push(Head {
            step: rec.step.into(),
            step_origin: rec.step_origin,
            epoch: rec.epoch.into(),
            time: rec.time.into(),
            tokens: rec.tokens.into(),
            samples: rec.samples.into(),
            line: rec.line,
            end: u32::try_from(chunk.metrics.len()).unwrap_or(u32::MAX),
        });
        self.len += 1;
    }

    /// Appends another file part's records after these.
    pub fn append(&mut self, mut other: Records) {
        self.len += other.len;
        self.nonfinite += other.nonfinite;
        self.chunks.append(&mut other.chunks);
    }

    /// The records in order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = Rec<'_>> {
        self.chunks.iter().flat_map(Chunk::iter)
    }

    /// Lets `f` change each record's step, axes and line, given its index: steps placed once
    /// the whole file is known, tokens derived from the step, lines renumbered. `f` is handed the record without its
    /// metrics (`metrics` is empty, and what `f` puts there is ignored).
    pub fn edit(&mut self, mut f: impl FnMut(usize, &mut Record)) {
        let mut index = 0;
        for chunk in &mut self.chunks {
            for h in &mut chunk.heads {
                let mut rec = h.record();
                f(index, &mut rec);
                index += 1;
                h.step = rec.step.into();
                h.step_origin = rec.step_origin;
                h.epoch = rec.epoch.into();
                h.time = rec.time.into();
                h.tokens = rec.tokens.into();
                h.samples = rec.samples.into();
                h.line = rec.line;
            }
        }
    }

    /// Gives the records up one chunk at a time, so that each is freed once used.
    pub fn into_chunks(self) -> impl Iterator<Item = Chunk> {
        self.chunks.into_iter()
    }

    /// The records as owned values (tests, and readers' unit tests in particular).
    pub fn to_vec(&self) -> Vec<Record> {
        let mut out = Vec::with_capacity(self.len);
        for chunk in &self.chunks {
            for (i, h) in chunk.heads.iter().enumerate() {
                out.push(Record {
                    metrics: chunk.get(i).metrics.to_vec(),
                    ..h.record()
                });
            }
        }
        out
    }
}

impl Head {
    /// The record this head describes, without its metrics.
    fn record(&self) -> Record {
        Record {
            step: self.step.get(),
            step_origin: self.step_origin,
            epoch: self.epoch.get(),
            time: self.time.get(),
            tokens: self.tokens.get(),
            samples: self.samples.get(),
            metrics: Vec::new(),
            line: self.line,
        }
    }
}

impl Chunk {
    fn get(&self, i: usize) -> Rec<'_> {
        let h = &self.heads[i];
        let start = i.checked_sub(1).map_or(0, |p| self.heads[p].end as usize);
        Rec {
            step: h.step.get(),
            step_origin: h.step_origin,
            epoch: h.epoch.get(),
            time: h.time.get(),
            tokens: h.tokens.get(),
            samples: h.samples.get(),
            metrics: &self.metrics[start..h.end as usize],
            line: h.line,
        }
    }

    /// The chunk's records in order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = Rec<'_>> {
        (0..self.heads.len()).map(|i| self.get(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_read_back_as_pushed_across_chunks() {
        let loss: Name = "loss".into();
        let lr: Name = "learning_rate".into();
        let mut rs = Records::default();
        let n = CHUNK + 10;
        for i in 0..n {
            let mut rec = Record {
                step: (i % 3 != 0).then_some(i as f64),
                epoch: Some(i as f64 / 100.0),
                line: i as u32 + 1,
                ..Record::default()
            };
            rec.metrics.push((loss.clone(), i as f64));
            if i % 2 == 0 {
                rec.metrics.push((lr.clone(), 1e-5));
            }
            rs.push(rec);
        }
        assert_eq!(rs.len(), n);
        assert_eq!(rs.chunks.len(), 2);
        let back = rs.to_vec();
        assert_eq!(back[CHUNK + 4].metrics.len(), 2);
        assert_eq!(
            back[CHUNK + 5].metrics,
            vec![(loss.clone(), (CHUNK + 5) as f64)]
        );
        assert_eq!(back[3].step, None);
        assert_eq!(rs.iter().next_back().map(|r| r.line), Some(n as u32));

        rs.edit(|i, r| {
            if r.step.is_none() {
                r.step = Some(i as f64 * 10.0 + r.epoch.unwrap_or(0.0));
                r.step_origin = Some("test");
            }
        });
        let back = rs.to_vec();
        assert_eq!(back[3].step, Some(30.03));
        assert_eq!(back[3].step_origin, Some("test"));
        assert_eq!(back[4].step, Some(4.0));
        assert_eq!(back[4].step_origin, None);
        let counted: usize = rs.into_chunks().map(|c| c.iter().count()).sum();
        assert_eq!(counted, n);
    }
}
