//! What readers push: a [`Record`] is one logged record before it becomes a row of its file's
//! [`Frame`] (the coordinates) and values of the frame's metric columns. Nothing keeps records:
//! each is pushed as it is read.

use super::{Name, Record};
use crate::model::{Frame, Row};

/// A file's metric records, as a reader builds them: a frame.
pub type Records = Frame;

impl Record {
    /// The record's coordinates and line.
    pub fn row(&self) -> Row {
        Row {
            step: self.step,
            step_origin: self.step_origin,
            epoch: self.epoch,
            time: self.time,
            tokens: self.tokens,
            samples: self.samples,
            line: self.line,
        }
    }
}

impl Frame {
    /// Appends a record.
    pub fn push(&mut self, mut rec: Record) {
        let metrics = std::mem::take(&mut rec.metrics);
        self.push_row(rec.row(), metrics);
    }

    /// Appends the record `rec` describes (its own `metrics` ignored) with `metrics`: a reader
    /// that collects metrics in a buffer of its own hands them over without a vector per record.
    pub fn push_with(&mut self, rec: &Record, metrics: impl IntoIterator<Item = (Name, f64)>) {
        self.push_row(rec.row(), metrics);
    }

    /// The rows in order (coordinates and line; the metrics are in the columns).
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = Row> + '_ {
        self.rows()
    }

    /// The records as owned values, each with its metrics in column order (readers' unit tests).
    pub fn to_vec(&self) -> Vec<Record> {
        self.to_rows()
            .into_iter()
            .map(|(r, metrics)| Record {
                step: r.step,
                step_origin: r.step_origin,
                epoch: r.epoch,
                time: r.time,
                tokens: r.tokens,
                samples: r.samples,
                metrics,
                line: r.line,
            })
            .collect()
    }
}
