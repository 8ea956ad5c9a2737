//! Exit codes, in one place. `main` is the only caller of [`ExitStatus::code`].
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success: no finding at or above `--fail-on` (or no `--fail-on`) |
//! | 1 | a finding at or above `--fail-on` exists |
//! | 2 | usage error, or an input could not be read |
//!
//! A closed stdout (`losscmp ... | head`) is success.

/// How a run of losscmp ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Nothing failed.
    Success,
    /// A finding at or above `--fail-on`.
    FindingsAtThreshold,
    /// Bad usage or unreadable input.
    Error,
}

impl ExitStatus {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            ExitStatus::Success => 0,
            ExitStatus::FindingsAtThreshold => 1,
            ExitStatus::Error => 2,
        }
    }
}
