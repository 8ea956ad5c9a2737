//! A fast path for the flat JSON objects training logs are made of: `log_history` entries and
//! `trainer_log.jsonl` rows hold keys without escapes and scalar values. Such an object is read
//! here straight from the bytes into an [`Entry`] (numbers by the standard library's correctly
//! rounded parser, as serde_json's `float_roundtrip` does; Python's `NaN`/`Infinity` as the text
//! [`sanitize_json`](super::lenient::sanitize_json) would have quoted). Anything else (an escape,
//! a nested value, a syntax error) returns `None`, and the caller reads that text with serde as
//! before: the fast path never decides what a malformed file means.

use std::borrow::Cow;

use super::lenient::{Entry, Val};

/// The position of the first byte at or after `i` that is not JSON whitespace.
pub fn ws(b: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\n' | b'\r' | b'\t') = b.get(i) {
        i += 1;
    }
    i
}

/// The string opening at `i` (a `"`), if it holds no escape: its text and the position after it.
pub fn string(text: &str, i: usize) -> Option<(&str, usize)> {
    let b = text.as_bytes();
    if b.get(i) != Some(&b'"') {
        return None;
    }
    let end = i + 1 + memchr::memchr2(b'"', b'\\', &b[i + 1..])?;
    if b[end] != b'"' {
        return None;
    }
    Some((&text[i + 1..end], end + 1))
}

/// The scalar value at `i` and the position after it; `None` for a nested value.
pub fn scalar(text: &str, i: usize) -> Option<(Val<'_>, usize)> {
    let b = text.as_bytes();
    let literal = |word: &str| {
        b[i..]
            .starts_with(word.as_bytes())
            .then_some(i + word.len())
    };
    match *b.get(i)? {
        b'"' => {
            let (s, next) = string(text, i)?;
            Some((Val::Text(Cow::Borrowed(s)), next))
        }
        b'N' => Some((Val::Text(Cow::Borrowed("NaN")), literal("NaN")?)),
        b'I' => Some((Val::Text(Cow::Borrowed("Infinity")), literal("Infinity")?)),
        b'-' if b.get(i + 1) == Some(&b'I') => {
            Some((Val::Text(Cow::Borrowed("-Infinity")), literal("-Infinity")?))
        }
        b'-' | b'0'..=b'9' => {
            let len = b[i..]
                .iter()
                .position(|c| !matches!(c, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
                .unwrap_or(b.len() - i);
            let x = text[i..i + len].parse::<f64>().ok()?;
            Some((Val::Num(x), i + len))
        }
        b't' => Some((Val::Other, literal("true")?)),
        b'f' => Some((Val::Other, literal("false")?)),
        b'n' => Some((Val::Other, literal("null")?)),
        _ => None,
    }
}

/// The flat object opening at `i` (a `{`) and the position after its `}`.
pub fn object(text: &str, i: usize) -> Option<(Entry<'_>, usize)> {
    let b = text.as_bytes();
    if b.get(i) != Some(&b'{') {
        return None;
    }
    let mut fields = Vec::with_capacity(8);
    let mut i = ws(b, i + 1);
    if b.get(i) == Some(&b'}') {
        return Some((
            Entry {
                fields,
                object: true,
            },
            i + 1,
        ));
    }
    loop {
        let (key, next) = string(text, i)?;
        i = ws(b, next);
        if b.get(i) != Some(&b':') {
            return None;
        }
        let (value, next) = scalar(text, ws(b, i + 1))?;
        fields.push((Cow::Borrowed(key), value));
        i = ws(b, next);
        match b.get(i)? {
            b',' => i = ws(b, i + 1),
            b'}' => {
                return Some((
                    Entry {
                        fields,
                        object: true,
                    },
                    i + 1,
                ));
            }
            _ => return None,
        }
    }
}

/// Skips any JSON value at `i` (nested ones included, strings with escapes too); the position
/// after it, or `None` when it does not end.
pub fn skip_value(text: &str, i: usize) -> Option<usize> {
    let b = text.as_bytes();
    match *b.get(i)? {
        b'{' | b'[' => {
            // The closers expected, innermost last: a mismatched bracket is not skipped.
            let mut open = Vec::new();
            let mut j = i;
            while j < b.len() {
                match b[j] {
                    b'"' => j = string_end(b, j)?,
                    b'{' => {
                        open.push(b'}');
                        j += 1;
                    }
                    b'[' => {
                        open.push(b']');
                        j += 1;
                    }
                    c @ (b'}' | b']') => {
                        if open.pop() != Some(c) {
                            return None;
                        }
                        j += 1;
                        if open.is_empty() {
                            return Some(j);
                        }
                    }
                    _ => j += 1,
                }
            }
            None
        }
        b'"' => string_end(b, i),
        _ => scalar(text, i).map(|(_, next)| next),
    }
}

/// The position after the string opening at `i`, escapes allowed.
fn string_end(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    loop {
        j += memchr::memchr2(b'"', b'\\', &b[j..])?;
        if b[j] == b'\\' {
            j += 2;
        } else {
            return Some(j + 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::lenient::sanitize_json;

    /// What serde reads from the same text, as text for comparison (NaN != NaN).
    fn by_serde(text: &str) -> String {
        let clean = sanitize_json(text);
        let e: Entry = serde_json::from_str(&clean).expect("serde reads it");
        format!("{:?}", e.fields)
    }

    #[test]
    fn flat_objects_read_as_serde_reads_them() {
        for text in [
            r#"{"epoch": 3e-06, "grad_norm": 1.272010880111355, "loss": 7.99, "step": 1}"#,
            r#"{ "current_steps" : 2 , "lr": -1.5E-5, "elapsed_time": "0:00:01", "x": null, "y": true }"#,
            r#"{"loss": NaN, "grad_norm": Infinity, "z": -Infinity, "big": 18446744073709551616}"#,
            "{\n  \"a\": 0,\n  \"b\": -0.0\n}",
            "{}",
        ] {
            let (e, end) = object(text, 0).expect("fast path takes it");
            assert_eq!(end, text.len(), "{text}");
            assert_eq!(format!("{:?}", e.fields), by_serde(text), "{text}");
        }
    }

    #[test]
    fn anything_else_is_left_to_serde() {
        for text in [
            r#"{"a\"b": 1}"#,
            r#"{"a": "x\ny"}"#,
            r#"{"a": [1, 2]}"#,
            r#"{"a": {"b": 1}}"#,
            r#"{"a": 1,}"#,
            r#"{"a" 1}"#,
            r#"{"a": 1"#,
            r#"{"a": nul}"#,
            r#"{"a": 1e}"#,
        ] {
            assert!(object(text, 0).is_none(), "{text}");
        }
    }

    #[test]
    fn nested_values_are_skipped_whole() {
        let text = r#"{"a": [1, {"b": "]}\""}], "c": 2} tail"#;
        assert_eq!(skip_value(text, 0), Some(text.len() - 5));
        assert_eq!(skip_value(r#""x\"y" z"#, 0), Some(6));
        assert_eq!(skip_value("[1, 2", 0), None);
        assert_eq!(skip_value("[1, 2}", 0), None);
    }
}
