//! What readers push: a [`Record`] is one logged record before it becomes a row of its file's
//! [`Frame`] (the coordinates) and values of the frame's metric columns. Nothing keeps records:
//! each is pushed as it is read.

use super::Record;
use crate::model::{Frame, Row};

/// A file's metric records, as a reader builds them: a frame.
pub type Records = Frame;

impl Record {
    /// A record at `row`, its metrics still to come.
    pub fn new(row: Row) -> Record {
        Record {
            row,
            metrics: Vec::new(),
        }
    }
}

impl Frame {
    /// Appends a record.
    pub fn push(&mut self, rec: Record) {
        self.push_row(rec.row, rec.metrics);
    }

    /// The rows in order (coordinates and line; the metrics are in the columns).
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = Row> + '_ {
        self.rows()
    }

    /// The records as owned values, each with its metrics in column order (readers' unit tests).
    pub fn to_vec(&self) -> Vec<Record> {
        self.to_rows()
            .into_iter()
            .map(|(row, metrics)| Record { row, metrics })
            .collect()
    }
}
