//! CI conventions: a JUnit XML file (`--junit FILE`), which Jenkins, GitLab and GitHub test
//! reporters show, and GitHub Actions workflow annotations (`::error title=…::…`) when
//! `GITHUB_ACTIONS=true`. Both render the findings as they are; nothing is computed here.
//!
//! JUnit: one `<testsuite name="losscmp">` holding one `<testcase>` per finding
//! (`classname="losscmp.<id>"`, `name="<id> [<runs>]"`), failed (`<failure type="<severity>">`)
//! when the finding is at or above `--fail-on`, passing otherwise; with no finding, one passing
//! test case says so. Annotations: one line per finding on stderr (stdout may carry `--json -`),
//! `::error` for errors, `::warning` for warnings, `::notice` for info.

use std::fmt::Write as _;

use super::Report;
use super::text;
use crate::model::{Finding, Severity};

/// Renders the JUnit XML document.
pub fn junit(report: &Report<'_>, fail_on: Option<Severity>) -> String {
    let failing = |f: &Finding| fail_on.is_some_and(|level| f.severity >= level);
    let failures = report.findings.iter().filter(|f| failing(f)).count();
    let tests = report.findings.len().max(1);
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        x,
        "<testsuites name=\"losscmp\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\">"
    );
    let _ = writeln!(
        x,
        "  <testsuite name=\"losscmp\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" skipped=\"0\">"
    );
    let _ = writeln!(x, "    <properties>");
    let _ = writeln!(
        x,
        "      <property name=\"baseline\" value=\"{}\"/>",
        text::html(&report.runs[report.baseline].label)
    );
    if let Some(level) = fail_on {
        let _ = writeln!(
            x,
            "      <property name=\"fail-on\" value=\"{}\"/>",
            level.name()
        );
    }
    let _ = writeln!(x, "    </properties>");
    if report.findings.is_empty() {
        let _ = writeln!(
            x,
            "    <testcase classname=\"losscmp\" name=\"no findings\"/>"
        );
    }
    for f in report.findings {
        let name = format!("{} [{}]", f.id, f.runs.join(" vs "));
        let _ = write!(
            x,
            "    <testcase classname=\"losscmp.{}\" name=\"{}\"",
            f.id,
            text::html(&name)
        );
        let mut body = f.summary.clone();
        if let Some(fix) = &f.fix {
            body.push_str("\nfix: ");
            body.push_str(&fix.summary);
        }
        if failing(f) {
            let _ = writeln!(
                x,
                ">\n      <failure type=\"{}\" message=\"{}\">{}</failure>\n    </testcase>",
                f.severity.name(),
                text::html(&f.summary),
                text::html(&body)
            );
        } else {
            let _ = writeln!(
                x,
                ">\n      <system-out>{}: {}</system-out>\n    </testcase>",
                f.severity.name(),
                text::html(&body)
            );
        }
    }
    let _ = writeln!(x, "  </testsuite>\n</testsuites>");
    x
}

/// GitHub Actions workflow commands, one line per finding.
pub fn annotations(report: &Report<'_>) -> String {
    let mut out = String::new();
    for f in report.findings {
        let level = match f.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "notice",
        };
        let title = format!("losscmp {} ({})", f.id, f.runs.join(" vs "));
        let mut message = f.summary.clone();
        if let Some(fix) = &f.fix {
            message.push_str("\nfix: ");
            message.push_str(&fix.summary);
        }
        let _ = writeln!(
            out,
            "::{level} title={}::{}",
            escape_property(&text::one_line(&title)),
            escape_data(&text::printable(&message))
        );
    }
    out
}

/// The escaping GitHub's runner expects in a command's message.
fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// The escaping GitHub's runner expects in a command's property values.
fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workflow_command_escaping() {
        assert_eq!(escape_data("50% of\nit"), "50%25 of%0Ait");
        assert_eq!(escape_property("a: b, c"), "a%3A b%2C c");
    }
}
