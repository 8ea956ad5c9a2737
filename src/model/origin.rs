//! The one origin type: where a value came from — a place in a file (line, `log_history`
//! entry, record, field), a derivation, an assumption or a `--set` — carried typed from the
//! reader to the finding and put into words only when shown.

use std::borrow::Cow;
use std::fmt;

/// Where a value came from: a file and a place in it, a derivation, an assumption or a flag.
#[derive(Debug, Clone, PartialEq)]
pub enum Provenance {
    /// Read from a file: its path and where in it.
    File { path: String, at: At },
    /// Computed from other values; the text says how.
    Derived(String),
    /// Not in any log; assumed, and the text says why.
    Assumed(String),
    /// Given on the command line with `--set`.
    Override(String),
}

impl Provenance {
    /// A place in the file at `path`.
    pub fn file(path: impl Into<String>, at: At) -> Self {
        Provenance::File {
            path: path.into(),
            at,
        }
    }
}

impl fmt::Display for Provenance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Provenance::File {
                path,
                at: At::Whole,
            } => write!(f, "{path}"),
            Provenance::File { path, at } => write!(f, "{path}: {at}"),
            Provenance::Derived(how) => write!(f, "derived: {how}"),
            Provenance::Assumed(why) => write!(f, "assumed: {why}"),
            Provenance::Override(flag) => write!(f, "override: {flag}"),
        }
    }
}

/// A place in a file. Numbers are 1-based, as a user looks them up; the text says what the
/// value is there (empty: the place's own metric value).
#[derive(Debug, Clone, PartialEq)]
pub enum At {
    /// The file as a whole.
    Whole,
    /// A line of a text log or JSONL file.
    Line(u32, Cow<'static, str>),
    /// An entry of `log_history` (JSON documents), shown 0-based as Python indexes it.
    Entry(u32, Cow<'static, str>),
    /// A field of an entry of `log_history`: `log_history[3].train_runtime`.
    EntryField(u32, Cow<'static, str>),
    /// A record of a TFRecord file (TensorBoard events).
    Record(u32, Cow<'static, str>),
    /// A field (key, option) of a document.
    Field(Cow<'static, str>),
}

impl At {
    /// Line `n`, holding `what`.
    pub fn line(n: impl TryInto<u32>, what: impl Into<Cow<'static, str>>) -> At {
        At::Line(n.try_into().unwrap_or(u32::MAX), what.into())
    }

    /// Field `name`.
    pub fn field(name: impl Into<Cow<'static, str>>) -> At {
        At::Field(name.into())
    }

    /// The same place with `what` said of it.
    pub fn with(self, what: impl Into<Cow<'static, str>>) -> At {
        match self {
            At::Line(n, _) => At::Line(n, what.into()),
            At::Entry(n, _) => At::Entry(n, what.into()),
            At::Record(n, _) => At::Record(n, what.into()),
            other => other,
        }
    }

    /// The same place `by` lines (entries, records) on: a part of a file read from its middle,
    /// numbered from its start. A field or the whole file is where it is.
    pub fn shifted(self, by: u32) -> At {
        match self {
            At::Line(n, what) => At::Line(n.saturating_add(by), what),
            At::Entry(n, what) => At::Entry(n.saturating_add(by), what),
            At::EntryField(n, what) => At::EntryField(n.saturating_add(by), what),
            At::Record(n, what) => At::Record(n.saturating_add(by), what),
            other => other,
        }
    }

    /// What is said of the place.
    pub fn what(&self) -> &str {
        match self {
            At::Whole => "",
            At::Line(_, w)
            | At::Entry(_, w)
            | At::EntryField(_, w)
            | At::Record(_, w)
            | At::Field(w) => w,
        }
    }
}

/// A field named by a static string (`max_steps`).
impl From<&'static str> for At {
    fn from(name: &'static str) -> At {
        At::Field(Cow::Borrowed(name))
    }
}

impl fmt::Display for At {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let said = |f: &mut fmt::Formatter<'_>, w: &str| {
            if w.is_empty() {
                Ok(())
            } else {
                write!(f, " ({w})")
            }
        };
        match self {
            At::Whole => Ok(()),
            At::Line(n, w) => {
                write!(f, "line {n}")?;
                said(f, w)
            }
            At::Entry(n, w) => {
                write!(f, "log_history[{}]", n.saturating_sub(1))?;
                said(f, w)
            }
            At::EntryField(n, field) => write!(f, "log_history[{}].{field}", n.saturating_sub(1)),
            At::Record(n, w) => {
                write!(f, "record {n}")?;
                said(f, w)
            }
            At::Field(name) => write!(f, "{name}"),
        }
    }
}

/// What a point's `line` counts in its source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locator {
    /// A 1-based line number (text logs, JSONL).
    Line,
    /// A 1-based entry of `log_history` (JSON documents).
    LogHistoryEntry,
    /// A 1-based record of a TFRecord file (TensorBoard events).
    Record,
}

impl Locator {
    /// The place of point `n`.
    pub fn at(self, n: u32) -> At {
        match self {
            Locator::Line => At::Line(n, Cow::Borrowed("")),
            Locator::LogHistoryEntry => At::Entry(n, Cow::Borrowed("")),
            Locator::Record => At::Record(n, Cow::Borrowed("")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_are_put_into_words_only_when_shown() {
        let p = Provenance::file("run/train.log", At::line(12, "world size"));
        assert_eq!(p.to_string(), "run/train.log: line 12 (world size)");
        let shifted = At::line(12, "world size").shifted(100);
        assert_eq!(shifted, At::line(112, "world size"));
        assert_eq!(Locator::LogHistoryEntry.at(4).to_string(), "log_history[3]");
        assert_eq!(
            Locator::Record.at(7).with("train/loss").to_string(),
            "record 7 (train/loss)"
        );
        assert_eq!(Provenance::file("a.json", At::Whole).to_string(), "a.json");
        assert_eq!(At::field("max_steps").shifted(3).to_string(), "max_steps");
    }
}
