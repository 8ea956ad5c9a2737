//! Text that came from a log or a path, made safe for where it is shown: the terminal (no
//! control character reaches it: a metric named `"\u001b]0;PWNED\u0007"` cannot set the
//! window title), HTML/SVG (no character XML forbids) and Markdown (no markup: labels land in
//! pull-request comments). Every renderer passes external text through one of these.

use std::borrow::Cow;

/// Whether `c` must not reach a terminal or an XML document as it is: C0 and C1 control
/// characters but tab and newline, DEL, and the bidirectional overrides that reorder what a
/// terminal shows ("Trojan Source").
fn unsafe_char(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Whether `s` holds an [`unsafe_char`], found by its UTF-8 bytes: a C0 control byte but
/// newline and tab (every byte looked at, in a loop the compiler vectorises), and at each DEL,
/// `0xC2` or `0xE2` byte (found by `memchr`) the C1 controls `C2 80`–`C2 9F` and the bidi
/// overrides `E2 80 AA`–`E2 80 AE`, `E2 81 A6`–`E2 81 A9`. A report's JSON has no control byte
/// and many `E2` characters (`≈`, `–`): it is read in a few passes over its bytes, not decoded
/// character by character (a hundred runs' 780 KB took 4–7 ms on the main thread).
fn holds_unsafe(s: &str) -> bool {
    let b = s.as_bytes();
    let c0 = b.iter().fold(false, |any, &x| {
        any | (x < 0x20 && x != b'\n' && x != b'\t')
    });
    c0 || memchr::memchr3_iter(0x7f, 0xc2, 0xe2, b).any(|i| {
        let (next, last) = (b.get(i + 1).copied(), b.get(i + 2).copied());
        match (b[i], next, last) {
            (0x7f, ..) => true,
            (0xc2, Some(n), _) => (0x80..=0x9f).contains(&n),
            (0xe2, Some(0x80), Some(l)) => (0xaa..=0xae).contains(&l),
            (0xe2, Some(0x81), Some(l)) => (0xa6..=0xa9).contains(&l),
            _ => false,
        }
    })
}

/// `s` with every character `escaped` selects written as a visible escape (`\u{1b}`).
fn escape_chars(s: &str, escaped: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !s.chars().any(&escaped) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if escaped(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// `s` with every unsafe character written as a visible escape (`\u{1b}`).
pub fn printable(s: &str) -> Cow<'_, str> {
    escape_chars(s, unsafe_char)
}

/// `s` as one line of printable text: newlines and tabs too become visible escapes (a label
/// or a metric name never spans lines).
pub fn one_line(s: &str) -> Cow<'_, str> {
    escape_chars(s, |c| unsafe_char(c) || c == '\n' || c == '\t')
}

/// JSON as serde_json writes it, with the characters JSON lets through raw but a terminal may
/// act on (DEL, C1 controls, bidi overrides) written as `\uXXXX` escapes: the same strings,
/// safe to print (`--json -`). They can only occur inside strings, where the escape means the
/// same character.
pub fn json_escapes(json: String) -> String {
    if !holds_unsafe(&json) {
        return json;
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if unsafe_char(c) {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// Escapes text for HTML and SVG content and attribute values: markup characters as entities,
/// unsafe characters as visible escapes (XML 1.0 allows none of them, not even as references).
pub fn html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in printable(s).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Escapes text for Markdown (GitHub-flavoured, in a paragraph or a table cell): HTML as
/// entities, so `<img src=x onerror=…>` is shown, not rendered; Markdown punctuation
/// backslash-escaped, so no emphasis, link, code span or table cell starts or ends inside it
/// (the text is placed after a list marker or in a cell, never at the start of a line);
/// one line.
pub fn markdown(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in one_line(s).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            // What can open or close markup inside a line: emphasis, code spans, links
            // (`[`, so no `](…)` either), table cells, strikethrough. Line-start markers (`#`,
            // `-`, `+`) cannot occur: the text never starts a line.
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '~' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_become_visible() {
        assert_eq!(printable("loss"), "loss");
        assert_eq!(printable("\u{1b}]0;PWNED\u{7}"), "\\u{1b}]0;PWNED\\u{7}");
        assert_eq!(printable("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(printable("x\u{9b}y\u{202e}z"), "x\\u{9b}y\\u{202e}z");
        assert_eq!(printable("two\nlines"), "two\nlines");
        assert_eq!(one_line("two\nlines"), "two\\u{a}lines");
    }

    #[test]
    fn json_keeps_its_meaning_without_raw_controls() {
        let raw = serde_json::to_string(&serde_json::json!({"l\u{7f}ss\u{9b}": "a\u{202e}b"}))
            .expect("serialises");
        let safe = json_escapes(raw.clone());
        assert_eq!(safe, "{\"l\\u007fss\\u009b\":\"a\\u202eb\"}");
        let a: serde_json::Value = serde_json::from_str(&raw).expect("parses");
        let b: serde_json::Value = serde_json::from_str(&safe).expect("parses");
        assert_eq!(a, b);
        // ASCII only: DEL and C0 controls are still found (the all-ASCII check passes over
        // printable bytes, newlines and tabs alone).
        assert_eq!(json_escapes("\"x\u{7f}\"".into()), "\"x\\u007f\"");
        assert_eq!(
            json_escapes("\"\u{1b}[2J\r\"".into()),
            "\"\\u001b[2J\\u000d\""
        );
        assert_eq!(json_escapes("{\n\t\"a\": 1\n}".into()), "{\n\t\"a\": 1\n}");
    }

    /// The byte-level check finds what the character-level definition does, on text made of
    /// the characters around every boundary it draws, and on any text.
    #[test]
    fn unsafe_characters_are_found_by_their_bytes() {
        use proptest::prelude::*;
        let edges: Vec<char> = [
            0x00, 0x08, 0x09, 0x0a, 0x0b, 0x1f, 0x20, 0x7e, 0x7f, 0x80, 0x9f, 0xa0, 0xc2, 0xd7,
            0x2013, 0x2029, 0x202a, 0x202e, 0x202f, 0x2065, 0x2066, 0x2069, 0x206a, 0x2248,
            0x10ffff,
        ]
        .into_iter()
        .filter_map(char::from_u32)
        .collect();
        let mut runner = proptest::test_runner::TestRunner::new(proptest::test_runner::Config {
            cases: 2000,
            failure_persistence: None,
            ..Default::default()
        });
        let edgy = proptest::collection::vec(proptest::sample::select(edges), 0..12)
            .prop_map(|cs| cs.into_iter().collect::<String>());
        let any = proptest::collection::vec(any::<char>(), 0..12)
            .prop_map(|cs| cs.into_iter().collect::<String>());
        for strategy in [edgy.boxed(), any.boxed()] {
            runner
                .run(&strategy, |s| {
                    prop_assert_eq!(holds_unsafe(&s), s.chars().any(unsafe_char), "{:?}", s);
                    Ok(())
                })
                .expect("same answer");
        }
        assert!(!holds_unsafe("≈ effective_batch 16 × steps – 1"));
        assert!(holds_unsafe("a\u{202e}b"));
    }

    #[test]
    fn html_has_no_markup_and_no_control_character() {
        let s = html("<b>\"x\" & 'y'\u{1b}</b>");
        assert_eq!(
            s,
            "&lt;b&gt;&quot;x&quot; &amp; &#39;y&#39;\\u{1b}&lt;/b&gt;"
        );
    }

    #[test]
    fn markdown_renders_no_html_and_breaks_no_code_span() {
        let s = markdown("<img src=x onerror=alert(1)> `a|b` *c*");
        assert!(!s.contains('<') && !s.contains('>'), "{s}");
        assert!(s.contains("\\`a\\|b\\`"), "{s}");
        assert!(s.contains("\\*c\\*"), "{s}");
    }
}
