//! A reader for the JSON objects training logs are made of: `log_history` entries and
//! `trainer_log.jsonl` rows are objects of scalar values. Such an object is read here straight
//! from the bytes into an [`Entry`]: keys and strings with their escapes decoded, numbers by the
//! standard library's correctly rounded parser (as serde_json's `float_roundtrip` does), Python's
//! `NaN`/`Infinity` as the text [`sanitize_json`](super::lenient::sanitize_json) would have
//! quoted, nested values skipped (read as [`Val::Other`], as serde's `Entry` reads them). What is
//! not JSON (a syntax error, a value cut short) returns `None`: the caller decides what that
//! means.

use std::borrow::Cow;

use super::lenient::{Entry, Val, decimal_prefix};
use super::shape::{Keys, Known, Layout, Shape, Shaped, Slot, Syntax, ValueKind, fields};

/// The position of the first byte at or after `i` that is not JSON whitespace.
pub fn ws(b: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\n' | b'\r' | b'\t') = b.get(i) {
        i += 1;
    }
    i
}

/// The string opening at `i` (a `"`): its text, escapes decoded, and the position after it.
pub fn string(text: &str, i: usize) -> Option<(Cow<'_, str>, usize)> {
    let b = text.as_bytes();
    if b.get(i) != Some(&b'"') {
        return None;
    }
    let (end, escaped) = string_span(b, i)?;
    let raw = &text[i + 1..end - 1];
    let s = if escaped {
        Cow::Owned(unescape(raw)?)
    } else {
        Cow::Borrowed(raw)
    };
    Some((s, end))
}

/// The text of a JSON string holding escapes, decoded; `None` for an escape JSON does not have
/// (a lone surrogate among them, which serde refuses too).
fn unescape(raw: &str) -> Option<String> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(k) = rest.find('\\') {
        out.push_str(&rest[..k]);
        let b = rest.as_bytes();
        let (c, used) = match *b.get(k + 1)? {
            b'"' => ('"', 2),
            b'\\' => ('\\', 2),
            b'/' => ('/', 2),
            b'b' => ('\u{8}', 2),
            b'f' => ('\u{c}', 2),
            b'n' => ('\n', 2),
            b'r' => ('\r', 2),
            b't' => ('\t', 2),
            b'u' => {
                let hi = hex4(rest.get(k + 2..k + 6)?)?;
                if (0xD800..0xDC00).contains(&hi) {
                    if rest.get(k + 6..k + 8)? != "\\u" {
                        return None;
                    }
                    let lo = hex4(rest.get(k + 8..k + 12)?)?;
                    if !(0xDC00..0xE000).contains(&lo) {
                        return None;
                    }
                    let c = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                    (char::from_u32(c)?, 12)
                } else {
                    (char::from_u32(hi)?, 6)
                }
            }
            _ => return None,
        };
        out.push(c);
        rest = &rest[k + used..];
    }
    out.push_str(rest);
    Some(out)
}

/// The four hex digits of a `\u` escape.
fn hex4(s: &str) -> Option<u32> {
    if !s.bytes().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(s, 16).ok()
}

/// The value at `i` and the position after it; a nested one is skipped and reads as
/// [`Val::Other`].
pub fn value(text: &str, i: usize) -> Option<(Val<'_>, usize)> {
    let b = text.as_bytes();
    let literal = |word: &str| {
        b[i..]
            .starts_with(word.as_bytes())
            .then_some(i + word.len())
    };
    match *b.get(i)? {
        b'"' => {
            let (s, next) = string(text, i)?;
            Some((Val::Text(s), next))
        }
        b'N' => Some((Val::Text(Cow::Borrowed("NaN")), literal("NaN")?)),
        b'I' => Some((Val::Text(Cow::Borrowed("Infinity")), literal("Infinity")?)),
        b'-' if b.get(i + 1) == Some(&b'I') => {
            Some((Val::Text(Cow::Borrowed("-Infinity")), literal("-Infinity")?))
        }
        b'-' | b'0'..=b'9' => {
            // A plain decimal read in one pass when the span of number bytes ends with it;
            // anything else as the whole span, by the standard parser.
            if let Some((x, len)) = decimal_prefix(&b[i..]) {
                if !b.get(i + len).is_some_and(number_byte) {
                    return Some((Val::Num(x), i + len));
                }
            }
            let len = b[i..]
                .iter()
                .position(|c| !number_byte(c))
                .unwrap_or(b.len() - i);
            let x = text[i..i + len].parse::<f64>().ok()?;
            Some((Val::Num(x), i + len))
        }
        b't' => Some((Val::Other, literal("true")?)),
        b'f' => Some((Val::Other, literal("false")?)),
        b'n' => Some((Val::Other, literal("null")?)),
        b'{' | b'[' => Some((Val::Other, skip_value(text, i)?)),
        _ => None,
    }
}

/// A byte a JSON number's span is made of.
#[inline]
fn number_byte(c: &u8) -> bool {
    matches!(c, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
}

/// The object opening at `i` (a `{`) and the position after its `}`.
pub fn object(text: &str, i: usize) -> Option<(Entry<'_>, usize)> {
    let mut fields = Vec::with_capacity(8);
    let end = object_with(text, i, |k, v| fields.push((k, v)))?;
    Some((
        Entry {
            fields,
            object: true,
        },
        end,
    ))
}

/// [`object`] handing each field to `field` as it is read, with no vector built (a caller that
/// reads a million entries keeps what it needs). Fields are handed over before the object is
/// known to be whole: on `None`, the caller drops what it was given.
pub fn object_with<'t>(
    text: &'t str,
    i: usize,
    field: impl FnMut(Cow<'t, str>, Val<'t>),
) -> Option<usize> {
    fields(&Json(text), i, &mut Plain(text), field)
}

/// [`object_with`] for a reader that knows its keys by a `K`: each key is handed over as what
/// `kind` made of it — of this object's key, or of the same key at the same position of an
/// earlier object, as `shape` remembers. `kind` sees every key new at its position, decoded.
/// Where the text between two values is what it was at the same position of an object before
/// (rows of one shape, printed alike), the next value is found by comparing it whole
/// ([`Shape::glue`]). An object laid out as the last one read field by field, its values of
/// the same kinds, is read by that layout ([`Layout`]), one comparison a field, and only then
/// handed over; the fields `ignored` says the caller has no use for are only checked, not
/// handed over.
pub fn object_shaped<'t, K: Copy>(
    text: &'t str,
    i: usize,
    shape: &mut Shape<K>,
    kind: impl FnMut(&str) -> K,
    ignored: impl Fn(K) -> bool,
    mut field: impl FnMut(K, Val<'t>),
) -> Option<usize> {
    let bytes = text.as_bytes();
    let trying = shape.misses < MISSES_BEFORE_PAUSE || shape.misses % RETRY_EVERY == 0;
    if trying {
        let first = shape.last_used;
        for l in [first, 1 - first] {
            if let Some(end) = laid_out(text, i, &mut shape.layouts[l], &mut field) {
                shape.last_used = l;
                shape.misses = 0;
                return Some(end);
            }
        }
    }
    let read = |i| string(text, i);
    let end = fields(
        &Json(text),
        i,
        &mut Shaped {
            bytes,
            shape,
            kind,
            read,
        },
        field,
    )?;
    if trying {
        learn_layout(bytes, i, end, shape, ignored);
    }
    // A layout learned when the layouts were paused gets the next row to read.
    shape.misses = if trying && shape.misses >= MISSES_BEFORE_PAUSE {
        MISSES_BEFORE_PAUSE - 1
    } else {
        shape.misses.saturating_add(1)
    };
    Some(end)
}

/// Rows read field by field in a row after which the layouts are tried only every
/// [`RETRY_EVERY`] rows.
const MISSES_BEFORE_PAUSE: u32 = 4;
/// How often paused layouts are tried again (and one relearned, which the next row then
/// tries): a log whose rows settle into one or two kinds again is read by layouts again
/// within about this many rows.
const RETRY_EVERY: u32 = 64;

/// The object opening at `open` read by `layout`, when it is laid out alike: each glue the
/// same bytes, each value of the kind remembered. Its fields are handed to `field` (those
/// ignored only checked) once the whole object is read, so `None` hands over nothing: the
/// caller reads the object field by field. A string is spanned as [`value`] spans it (one
/// with an escape is not this layout's). A number is read by the one-pass parse [`value`]
/// tries first, without `value`'s check of the byte after it (sharing `value`'s number
/// reading, check included, cost 4 % more instructions on ten bench runs): the glue that
/// follows is that check, as a glue starts with whitespace, a comma or the closing brace, so
/// a number followed by more number bytes (`1e`, `1.5.3`) is not read here.
#[inline]
fn laid_out<'t, K: Copy>(
    text: &'t str,
    open: usize,
    layout: &mut Layout<K>,
    field: &mut impl FnMut(K, Val<'t>),
) -> Option<usize> {
    let Layout {
        slots,
        close,
        cells,
    } = layout;
    let close = close.as_ref()?;
    let b = text.as_bytes();
    if b.get(open) != Some(&b'{') {
        return None;
    }
    // Each used value's number, or its text's span.
    cells.clear();
    let mut at = open + 1;
    for slot in slots.iter() {
        if !slot.glue.matches(b.get(at..)?) {
            return None;
        }
        let start = at + slot.glue.width();
        at = match slot.kind {
            ValueKind::Number => {
                if !matches!(b.get(start), Some(b'-' | b'0'..=b'9')) {
                    return None;
                }
                if slot.ignored {
                    plain_number_end(b, start)?
                } else {
                    let (x, len) = decimal_prefix(&b[start..])?;
                    cells.push((x, 0, 0));
                    start + len
                }
            }
            ValueKind::Text => {
                if b.get(start) != Some(&b'"') {
                    return None;
                }
                let (next, escaped) = string_span(b, start)?;
                if escaped {
                    return None;
                }
                if !slot.ignored {
                    cells.push((0.0, start + 1, next - 1));
                }
                next
            }
        };
    }
    if !close.matches(b.get(at..)?) {
        return None;
    }
    for (slot, &(x, start, end)) in slots.iter().filter(|s| !s.ignored).zip(cells.iter()) {
        let value = match slot.kind {
            ValueKind::Number => Val::Num(x),
            ValueKind::Text => Val::Text(Cow::Borrowed(&text[start..end])),
        };
        field(slot.glue.k, value);
    }
    Some(at + close.width())
}

/// Where the plain decimal at `i` (`-?digits[.digits][e[±]digits]`) ends, when one is there:
/// a number [`value`] reads, whose value is not needed.
fn plain_number_end(b: &[u8], mut i: usize) -> Option<usize> {
    let digits = |i: usize| {
        let n = b[i.min(b.len())..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        (n > 0).then_some(i + n)
    };
    if b.get(i) == Some(&b'-') {
        i += 1;
    }
    i = digits(i)?;
    if b.get(i) == Some(&b'.') {
        i = digits(i + 1)?;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        i = digits(i)?;
    }
    Some(i)
}

/// Learns the layout of the object just read field by field, from `open` to `end`, from the
/// glues `shape` remembers: kept when every field's glue is remembered and every value is a
/// plain decimal or a string without escapes; else no layout is kept. It reads no number, so
/// a log whose rows alternate between two layouts pays little more than the field-by-field
/// reading.
fn learn_layout<K: Copy>(
    b: &[u8],
    open: usize,
    end: usize,
    shape: &mut Shape<K>,
    ignored: impl Fn(K) -> bool,
) {
    // The layout not used last is replaced.
    let l = 1 - shape.last_used;
    let mut slots = std::mem::take(&mut shape.layouts[l].slots);
    slots.clear();
    shape.layouts[l].close = None;
    let mut at = open + 1;
    while let Some((k, n)) = shape.glue(slots.len(), &b[at..end]) {
        let start = at + n;
        let (kind, next) = match b[start] {
            b'"' => match string_span(b, start) {
                Some((next, false)) => (ValueKind::Text, next),
                _ => return,
            },
            // A plain decimal is read whole by `value`'s one pass: where it ends is found
            // without parsing it again.
            b'-' | b'0'..=b'9' => match plain_number_end(b, start) {
                Some(next) if !b.get(next).is_some_and(number_byte) => (ValueKind::Number, next),
                _ => return,
            },
            _ => return,
        };
        slots.push(Slot {
            glue: Known::new(&b[at..start], k),
            kind,
            ignored: ignored(k),
        });
        at = next;
    }
    // Only whitespace then the closing brace left: the glues reached every field.
    if ws(b, at) + 1 == end && b[end - 1] == b'}' {
        shape.layouts[l].slots = slots;
        shape.layouts[l].close = Some(Known::new(&b[at..end], ()));
        shape.last_used = l;
    }
}

/// Keys read as their text, each time.
struct Plain<'t>(&'t str);

impl<'t> Keys for Plain<'t> {
    type K = Cow<'t, str>;
    fn glue(&mut self, _: usize, _: usize) -> Option<(Self::K, usize)> {
        None
    }
    fn key(&mut self, _: usize, i: usize) -> Option<(Self::K, usize)> {
        string(self.0, i)
    }
    fn learn(&mut self, _: usize, _: usize, _: usize, _: &Self::K) {}
}

/// JSON: its four whitespace bytes, no comma after the last field, values read by [`value`].
struct Json<'t>(&'t str);

impl<'t> Syntax for Json<'t> {
    type V = Val<'t>;
    const TRAILING_COMMA: bool = false;
    #[inline]
    fn bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
    #[inline]
    fn ws(&self, i: usize) -> usize {
        ws(self.0.as_bytes(), i)
    }
    #[inline]
    fn value(&self, i: usize) -> Option<(Val<'t>, usize)> {
        value(self.0, i)
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
        _ => value(text, i).map(|(_, next)| next),
    }
}

/// The position after the string opening at `i`, escapes allowed.
fn string_end(b: &[u8], i: usize) -> Option<usize> {
    string_span(b, i).map(|(end, _)| end)
}

/// The position after the string opening at `i`, and whether it holds an escape.
fn string_span(b: &[u8], i: usize) -> Option<(usize, bool)> {
    let mut j = i + 1;
    let mut escaped = false;
    loop {
        j += memchr::memchr2(b'"', b'\\', b.get(j..)?)?;
        if b[j] == b'\\' {
            escaped = true;
            j += 2;
        } else {
            return Some((j + 1, escaped));
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
    fn numbers_read_as_the_standard_parser_reads_their_span() {
        let numbers = [
            "0",
            "-0",
            "7.990520200274015",
            "0.0019999987662997036",
            "1.25e-05",
            "2E+3",
            "1e1234",
            "12345678901234567890",
            "5",
            "-3.5e",
            "1.5.3",
            "1e5e5",
            "9007199254740993",
        ];
        for n in numbers {
            for after in ["", ",", "}", " ", "\n"] {
                let text = format!("{n}{after}");
                let std = n.parse::<f64>().ok().map(|x| (x.to_bits(), n.len()));
                let read = value(&text, 0).and_then(|(v, end)| match v {
                    Val::Num(x) => Some((x.to_bits(), end)),
                    _ => None,
                });
                assert_eq!(read, std, "{text:?}");
            }
        }
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
    fn escapes_and_nested_values_read_as_serde_reads_them() {
        for text in [
            r#"{"a\"b": 1}"#,
            r#"{"a": "x\ny\t\\\/\b\f\r"}"#,
            r#"{"a": "\u00e9\u20ac\ud83d\ude00", "\u006c\u006fss": 0.5}"#,
            r#"{"a": [1, 2], "b": 3}"#,
            r#"{"a": {"b": [1, {"c": "}]"}]}, "d": "e"}"#,
            r#"{"naïve": "ünï", "x": "\"quoted\""}"#,
        ] {
            let (e, end) = object(text, 0).expect("read");
            assert_eq!(end, text.len(), "{text}");
            assert_eq!(format!("{:?}", e.fields), by_serde(text), "{text}");
        }
    }

    #[test]
    fn what_is_not_json_is_not_read() {
        for text in [
            r#"{"a": 1,}"#,
            r#"{"a" 1}"#,
            r#"{"a": 1"#,
            r#"{"a": nul}"#,
            r#"{"a": 1e}"#,
            r#"{"a": "\x"}"#,
            r#"{"a": "\ud800"}"#,
            r#"{"a": "\u12"}"#,
            r#"{"a": "cut\"#,
            r#"{"a": [1, 2}"#,
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

    /// Rows whose whitespace grows or shrinks past what was remembered between two values,
    /// or whose key changes under the same whitespace: read as the plain reader reads them.
    #[test]
    fn a_remembered_glue_is_used_only_where_it_is_all_there_is() {
        let rows = [
            r#"{"a": 1, "b": 2}"#,
            r#"{"a":  1, "b":   2}"#,
            r#"{"a": 1 , "b": 2 }"#,
            r#"{"a": 1,"b": 2}"#,
            r#"{"a": 1, "bb": 2}"#,
            "{\n  \"a\": 1,\n  \"b\": 2\n}",
            "{\n    \"a\": 1,\n  \"b\": 2\n}",
            "{\n  \"a\": 1,\n    \"b\": 2\n}",
            r#"{"a": 1, "b": 2, "c": 3}"#,
            r#"{"a": 1}"#,
            r#"{"a": 1, "b": 2}"#,
            r#"{"a":1, "b":2}"#,
        ];
        let mut shape = Shape::default();
        let mut names: Vec<String> = Vec::new();
        for _ in 0..2 {
            for text in rows {
                let mut plain = Vec::new();
                let end = object_with(text, 0, |k, v| plain.push(format!("{k}={v:?}")));
                let mut shaped = Vec::new();
                let end2 = object_shaped(
                    text,
                    0,
                    &mut shape,
                    |k| {
                        names.push(k.to_string());
                        names.len() - 1
                    },
                    |_| false,
                    |k, v| shaped.push((k, format!("{v:?}"))),
                );
                let shaped: Vec<String> = shaped
                    .into_iter()
                    .map(|(k, v)| format!("{}={v}", names[k]))
                    .collect();
                assert_eq!((end, &plain), (end2, &shaped), "{text}");
                assert_eq!(end, Some(text.len()), "{text}");
            }
        }
    }

    /// Keys the property tests draw from: some sharing a prefix, one with an escape.
    const KEYS: [&str; 6] = [
        r#""loss""#,
        r#""loss_scale""#,
        r#""los""#,
        r#""lo\"ss""#,
        r#""epoch""#,
        r#""step""#,
    ];

    /// Objects of keys drawn from a few, some sharing a prefix, one with an escape, in any
    /// order and number, laid out with whitespace that changes from object to object (so what
    /// lies between two values is sometimes as remembered, sometimes a prefix of it, sometimes
    /// longer): each key handed over by its remembered shape is the key the plain reader reads
    /// there, each value the same, and both end (or fail) at the same place.
    #[test]
    fn shaped_objects_read_their_keys_as_the_plain_reader_does() {
        use proptest::prelude::*;
        let keys = KEYS;
        let gaps = ["", " ", "  ", "\n      ", "\n    "];
        let values = [
            "1",
            "-2.5e-3",
            "0.0019999987662997036",
            "\"x\"",
            "[1, {}]",
            "NaN",
            "1e",
        ];
        let gap = || 0..gaps.len();
        let field = (0..keys.len(), gap(), gap(), gap(), 0..values.len(), gap());
        let object = (prop::collection::vec(field, 0..6), gap());
        let config = proptest::test_runner::Config {
            cases: 1024,
            failure_persistence: None,
            ..Default::default()
        };
        proptest::test_runner::TestRunner::new(config)
            .run(&prop::collection::vec(object, 1..8), |objects| {
                let mut shape = Shape::default();
                let mut seen: Vec<String> = Vec::new();
                for (fields, close) in objects {
                    let body: Vec<String> = fields
                        .iter()
                        .map(|&(k, before, colon, after, v, trail)| {
                            let (key, value) = (keys[k], values[v]);
                            let [before, colon, after, trail] =
                                [before, colon, after, trail].map(|g| gaps[g]);
                            format!("{before}{key}{colon}:{after}{value}{trail}")
                        })
                        .collect();
                    let text = format!("{{{}{}}}", body.join(","), gaps[close]);
                    let mut plain = Vec::new();
                    let end = object_with(&text, 0, |k, v| {
                        plain.push((k.into_owned(), format!("{v:?}")))
                    });
                    let mut shaped = Vec::new();
                    let end2 = object_shaped(
                        &text,
                        0,
                        &mut shape,
                        |k| match seen.iter().position(|s| s == k) {
                            Some(i) => i,
                            None => {
                                seen.push(k.to_string());
                                seen.len() - 1
                            }
                        },
                        |_| false,
                        |k, v| shaped.push((k, format!("{v:?}"))),
                    );
                    prop_assert_eq!(end, end2, "{}", text);
                    let shaped: Vec<(String, String)> = shaped
                        .into_iter()
                        .map(|(k, v)| (seen[k].clone(), v))
                        .collect();
                    prop_assert_eq!(&plain, &shaped, "{}", text);
                }
                Ok(())
            })
            .expect("shaped keys agree");
    }

    /// Rows made from a few layouts (keys, whitespace) with values of every kind, so that a
    /// row is often laid out as the one before, sometimes with a value of another kind, an
    /// escape, or a number the plain reader refuses: each row ends where the plain reader ends
    /// it, with the fields it reads (those the caller ignores aside).
    #[test]
    fn rows_read_by_their_layout_read_as_the_plain_reader_reads_them() {
        use proptest::prelude::*;
        let keys = KEYS;
        let names = ["loss", "loss_scale", "los", "lo\"ss", "epoch", "step"];
        let number = |k: &str| names.iter().position(|n| *n == k).expect("a key");
        // "los" and "epoch" are fields the caller has no use for.
        let ignored = |k: usize| k == 2 || k == 4;
        let gaps = ["", " ", "\n      ", "\n    "];
        let values = [
            "1",
            "-2.5e-3",
            "0.0019999987662997036",
            "2E+3",
            "-0",
            "01",
            "\"x\"",
            "\"\"",
            r#""a\"b""#,
            "[1, {}]",
            "null",
            "NaN",
            "-Infinity",
            "1e",
            "1.5.3",
            ".5",
        ];
        let gap = || 0..gaps.len();
        let layout = (
            prop::collection::vec((0..keys.len(), gap(), gap(), gap()), 0..5),
            gap(),
        );
        let row = (0..3usize, prop::collection::vec(0..values.len(), 5));
        let rows = (
            prop::collection::vec(layout, 1..3),
            prop::collection::vec(row, 1..24),
        );
        let config = proptest::test_runner::Config {
            cases: 1024,
            failure_persistence: None,
            ..Default::default()
        };
        proptest::test_runner::TestRunner::new(config)
            .run(&rows, |(layouts, rows)| {
                let mut shape = Shape::default();
                for (which, vals) in rows {
                    let (fields, close) = &layouts[which % layouts.len()];
                    let body: Vec<String> = fields
                        .iter()
                        .zip(&vals)
                        .map(|(&(k, before, after, trail), &v)| {
                            let [before, after, trail] = [before, after, trail].map(|g| gaps[g]);
                            format!("{before}{}:{after}{}{trail}", keys[k], values[v])
                        })
                        .collect();
                    let text = format!("{{{}{}}}", body.join(","), gaps[*close]);
                    let mut plain = Vec::new();
                    let end = object_with(&text, 0, |k, v| {
                        if !ignored(number(&k)) {
                            plain.push((k.into_owned(), format!("{v:?}")));
                        }
                    });
                    let mut shaped = Vec::new();
                    let end2 = object_shaped(&text, 0, &mut shape, number, ignored, |k, v| {
                        if !ignored(k) {
                            shaped.push((names[k].to_string(), format!("{v:?}")));
                        }
                    });
                    prop_assert_eq!(end, end2, "{}", text);
                    if end.is_some() {
                        prop_assert_eq!(&plain, &shaped, "{}", text);
                    }
                }
                Ok(())
            })
            .expect("rows read by their layout agree");
    }
}
