//! Lenient value readers shared by the format parsers: JSON as Python writes it (`NaN`,
//! `Infinity`), numbers written as strings (transformers 5.x prints `'loss': '0.5216'`),
//! Python dict literals from stdout, and `str(timedelta)` durations.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::shape::{Keys, Shape, Shaped, Syntax, fields};

/// Rewrites the bare `NaN`, `Infinity` and `-Infinity` tokens Python's `json` module writes into
/// quoted strings, so a strict JSON parser accepts the document; `number` reads them back.
pub fn sanitize_json(text: &str) -> Cow<'_, str> {
    // Most text has neither an `N` nor an `I`; a line of a million-line log is not searched
    // twice for words.
    let bytes = text.as_bytes();
    if memchr::memchr2(b'N', b'I', bytes).is_none()
        || (memchr::memmem::find(bytes, b"NaN").is_none()
            && memchr::memmem::find(bytes, b"Infinity").is_none())
    {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    let mut in_string = false;
    let mut escaped = false;
    let mut i = 0;
    let mut copied = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            i += 1;
            continue;
        }
        if b == b'"' {
            in_string = true;
            i += 1;
            continue;
        }
        let token = ["-Infinity", "Infinity", "NaN"]
            .into_iter()
            .find(|t| bytes[i..].starts_with(t.as_bytes()));
        if let Some(t) = token {
            out.push_str(&text[copied..i]);
            out.push('"');
            out.push_str(t);
            out.push('"');
            i += t.len();
            copied = i;
        } else {
            i += 1;
        }
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

/// One JSON object read without building a tree: its keys, borrowed from the text unless they
/// hold escapes, and its scalar values (nested values are skipped). Anything that is not an
/// object reads as `object: false` with no fields.
#[derive(Debug, Default)]
pub struct Entry<'a> {
    /// The fields, in order.
    pub fields: Vec<(Cow<'a, str>, Val<'a>)>,
    /// Whether the value was an object.
    pub object: bool,
}

/// A scalar JSON value as the log readers need it.
#[derive(Debug)]
pub enum Val<'a> {
    /// A JSON number.
    Num(f64),
    /// A string, which may hold a number (`"0.5216"`, `"NaN"`) or a duration.
    Text(Cow<'a, str>),
    /// `null`, a boolean, an array or an object.
    Other,
}

impl Val<'_> {
    /// The number: a JSON number or a string holding one.
    pub fn num(&self) -> Option<f64> {
        match self {
            Val::Num(x) => Some(*x),
            Val::Text(s) => parse_number(s),
            Val::Other => None,
        }
    }
}

impl Entry<'_> {
    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&Val<'_>> {
        self.fields.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The number under `key`, if present and numeric.
    pub fn num(&self, key: &str) -> Option<f64> {
        self.get(key).and_then(Val::num)
    }

    /// Whether `key` is present.
    pub fn has(&self, key: &str) -> bool {
        self.fields.iter().any(|(k, _)| k == key)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Entry<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Entry<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Entry<'a>, M::Error> {
                let mut fields = Vec::with_capacity(8);
                while let Some(k) = map.next_key::<Key<'a>>()? {
                    fields.push((k.0, map.next_value()?));
                }
                Ok(Entry {
                    fields,
                    object: true,
                })
            }
            fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Entry<'a>, S::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Entry::default())
            }
            fn visit_str<E>(self, _: &str) -> Result<Entry<'a>, E> {
                Ok(Entry::default())
            }
            fn visit_f64<E>(self, _: f64) -> Result<Entry<'a>, E> {
                Ok(Entry::default())
            }
            fn visit_i64<E>(self, _: i64) -> Result<Entry<'a>, E> {
                Ok(Entry::default())
            }
            fn visit_u64<E>(self, _: u64) -> Result<Entry<'a>, E> {
                Ok(Entry::default())
            }
            fn visit_bool<E>(self, _: bool) -> Result<Entry<'a>, E> {
                Ok(Entry::default())
            }
            fn visit_unit<E>(self) -> Result<Entry<'a>, E> {
                Ok(Entry::default())
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// A key, borrowed from the text unless it holds escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Key<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Key(text(d)?))
    }
}

fn text<'de: 'a, 'a, D: Deserializer<'de>>(d: D) -> Result<Cow<'a, str>, D::Error> {
    struct V<'a>(PhantomData<&'a ()>);
    impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
        type Value = Cow<'a, str>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a string")
        }
        fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Cow<'a, str>, E> {
            Ok(Cow::Borrowed(s))
        }
        fn visit_str<E>(self, s: &str) -> Result<Cow<'a, str>, E> {
            Ok(Cow::Owned(s.to_owned()))
        }
    }
    d.deserialize_str(V(PhantomData))
}

impl<'de: 'a, 'a> Deserialize<'de> for Val<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Val<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_f64<E>(self, x: f64) -> Result<Val<'a>, E> {
                Ok(Val::Num(x))
            }
            fn visit_i64<E>(self, x: i64) -> Result<Val<'a>, E> {
                Ok(Val::Num(x as f64))
            }
            fn visit_u64<E>(self, x: u64) -> Result<Val<'a>, E> {
                Ok(Val::Num(x as f64))
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Val<'a>, E> {
                Ok(Val::Text(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Val<'a>, E> {
                Ok(Val::Text(Cow::Owned(s.to_owned())))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Val<'a>, E> {
                Ok(Val::Other)
            }
            fn visit_unit<E>(self) -> Result<Val<'a>, E> {
                Ok(Val::Other)
            }
            fn visit_map<M: MapAccess<'de>>(self, mut m: M) -> Result<Val<'a>, M::Error> {
                while m.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Val::Other)
            }
            fn visit_seq<S: SeqAccess<'de>>(self, mut s: S) -> Result<Val<'a>, S::Error> {
                while s.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Val::Other)
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// A tracker's name for a logged value (TensorBoard tag, W&B key, exported column) as HF's log
/// key: `train/loss` → `loss`, `eval/loss` → `eval_loss`, other names unchanged; `None` for the
/// epoch (`train/epoch`, `epoch`), which is not a metric but the points' epoch.
pub fn tracker_name(tag: &str) -> Option<String> {
    match tag {
        "train/epoch" | "epoch" => None,
        _ => Some(match tag.strip_prefix("eval/") {
            Some(rest) => format!("eval_{rest}"),
            None => tag.strip_prefix("train/").unwrap_or(tag).to_string(),
        }),
    }
}

/// Reads a number from a JSON value: a JSON number, or a string holding one (`"0.5216"`,
/// `"NaN"`, `"2.28%"`, `"10,163"`). Anything else is not a number.
pub fn number(v: &serde_json::Value) -> Option<f64> {
    match v {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => parse_number(s),
        _ => None,
    }
}

/// Whether `name` is an identifier as Python and the shell spell one: ASCII letters, digits
/// and `_`, not starting with a digit (an option of a printed `TrainingArguments(`, a shell
/// variable).
pub fn identifier(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Parses a number as trainers print it: plain, E-notation, Python's `nan`/`inf`, JSON's
/// `NaN`/`Infinity`, thousands separators, a trailing `%`.
pub fn parse_number(s: &str) -> Option<f64> {
    // Most values are bare numbers: parsed before any trimming.
    if let Some(x) = decimal(s.as_bytes()) {
        return Some(x);
    }
    if let Ok(x) = s.parse::<f64>() {
        return Some(x);
    }
    let s = s.trim().trim_end_matches('%');
    if let Ok(x) = s.parse::<f64>() {
        return Some(x);
    }
    match s {
        "nan" | "NaN" | "-nan" => return Some(f64::NAN),
        "Infinity" | "inf" => return Some(f64::INFINITY),
        "-Infinity" | "-inf" => return Some(f64::NEG_INFINITY),
        _ => {}
    }
    if s.contains(',') && s.bytes().all(|b| b.is_ascii_digit() || b == b',') {
        return s.replace(',', "").parse().ok();
    }
    None
}

/// A plain decimal (`-0.5216`, `199165`, `1.25e-05`, `7.961062200267734`) as the double
/// `str::parse` gives. `None` for anything that is not digits with perhaps a sign, a point and
/// an exponent (words, spaces, separators): the caller parses it its own way.
pub fn decimal(b: &[u8]) -> Option<f64> {
    decimal_prefix(b)
        .filter(|&(_, len)| len == b.len())
        .map(|(x, _)| x)
}

/// [`decimal`] of the number `b` starts with, and how many bytes it takes; `None` when `b` does
/// not start with one (the caller then parses the whole span).
///
/// fast-float2 reads it in one pass, rounded as the standard parser rounds (the Eisel-Lemire
/// algorithm with its exact fallback); it is about 1.5× faster than the hand-written reader it
/// replaced, on the numbers of the bench runs (bench/README.md). It also takes `inf` and `nan`
/// words, which are not numbers here: a number starts with a digit or a point.
#[inline]
pub fn decimal_prefix(b: &[u8]) -> Option<(f64, usize)> {
    let sign = usize::from(matches!(b.first(), Some(b'-' | b'+')));
    if !matches!(b.get(sign), Some(b'0'..=b'9' | b'.')) {
        return None;
    }
    fast_float2::parse_partial::<f64, _>(b).ok()
}

/// [`decimal_prefix`] for a printed log's values, which are mostly short (transformers 5 prints
/// `'8.018'`): one to fifteen digits with a point or not, and no exponent, are read by their
/// digit loop and one division (the digits below 2^53 and the power of ten below 10^23 are exact
/// doubles, so their quotient is the correctly rounded value); anything else by
/// [`decimal_prefix`]. Not used for JSON, whose values are mostly 16 or 17 digits: a long
/// number's digits would be looked at twice (bench/README.md).
#[inline]
pub fn short_decimal_prefix(b: &[u8]) -> Option<(f64, usize)> {
    const POW10: [f64; 16] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
    ];
    let sign = usize::from(matches!(b.first(), Some(b'-' | b'+')));
    let mut m = 0u64;
    let int_end = digits(b, sign, &mut m);
    let (end, fraction) = if b.get(int_end) == Some(&b'.') {
        let end = digits(b, int_end + 1, &mut m);
        (end, end - int_end - 1)
    } else {
        (int_end, 0)
    };
    let count = int_end - sign + fraction;
    if !(1..=15).contains(&count) || matches!(b.get(end), Some(b'e' | b'E')) {
        return decimal_prefix(b);
    }
    let x = m as f64 / POW10[fraction];
    Some((if b[0] == b'-' { -x } else { x }, end))
}

/// A plain integer of one to fifteen digits (a tqdm counter), by the digit loop alone; `None`
/// for anything else, which the decimal readers take.
#[inline]
pub fn small_integer(b: &[u8]) -> Option<f64> {
    integer_at(b, 0).and_then(|(x, end)| (end == b.len()).then_some(x))
}

/// The plain integer of one to fifteen digits that starts at `i`, and where its digits end:
/// one pass over the digits. `None` for no digit or more than fifteen.
/// A tqdm bar's counter and total, and the header's counts (`world size: 8`, `global step 192`).
#[inline]
pub fn integer_at(b: &[u8], i: usize) -> Option<(f64, usize)> {
    let mut n = 0u64;
    let end = digits(b, i, &mut n);
    // Fifteen digits are below 2^53: the double is exact.
    (1..=15)
        .contains(&(end.saturating_sub(i)))
        .then_some((n as f64, end))
}

/// Reads the ASCII digits from `i` on into `m` (decimal, wrapping); returns where they end.
#[inline]
fn digits(b: &[u8], mut i: usize, m: &mut u64) -> usize {
    while let Some(&c) = b.get(i) {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        *m = m.wrapping_mul(10).wrapping_add(u64::from(d));
        i += 1;
    }
    i
}

/// One value of a Python dict literal.
#[derive(Debug, Clone, PartialEq)]
pub enum PyValue<'a> {
    /// A number, or a string that holds one.
    Number(f64),
    /// Any other value, unparsed (bytes that are not UTF-8 replaced, as
    /// [`String::from_utf8_lossy`] does).
    Other(Cow<'a, str>),
}

/// Parses a flat Python dict literal such as `{'loss': 0.35, 'grad_norm': nan, 'epoch': '0.5'}`.
/// Returns the pairs in order, or `None` when the text is not such a dict. Nested values are kept
/// as `Other`.
pub fn parse_py_dict(s: &str) -> Option<(Vec<(&str, PyValue<'_>)>, usize)> {
    let mut pairs = Vec::new();
    let end = for_each_py_pair(s, |k, v| pairs.push((k, v)))?;
    Some((pairs, end))
}

/// [`parse_py_dict`] without the vector: hands each pair to `pair` as it is read (a reader of a
/// million dicts keeps what it needs in buffers of its own). Returns where the dict ends, or
/// `None` when the text is not such a dict (`pair` may have seen some pairs by then).
pub fn for_each_py_pair<'a>(s: &'a str, pair: impl FnMut(&'a str, PyValue<'a>)) -> Option<usize> {
    py_pairs(s.as_bytes(), &mut PyKeys(s), pair)
}

/// [`for_each_py_pair`] for a reader that knows its keys by a `K`: each key is handed over as
/// what `kind` made of it — of this dict's key, or of the same key at the same position of an
/// earlier dict, as `shape` remembers (a log prints the same keys dict after dict). Where the
/// text between two values is what it was at the same position of a dict before, the next
/// value is found by comparing it whole ([`Shape::glue`]). The dict is bytes, as a log holds
/// them: only a key new at its position and a value that is not a number are looked at as
/// text (bytes that are not UTF-8 replaced, as [`String::from_utf8_lossy`] does), not the
/// whole line.
pub fn for_each_py_pair_shaped<'a, K: Copy>(
    b: &'a [u8],
    shape: &mut Shape<K>,
    kind: impl FnMut(&str) -> K,
    pair: impl FnMut(K, PyValue<'a>),
) -> Option<usize> {
    let read = |i: usize| {
        let (start, end) = py_key(b, i)?;
        Some((String::from_utf8_lossy(&b[start..end]), end + 1))
    };
    py_pairs(
        b,
        &mut Shaped {
            bytes: b,
            shape,
            kind,
            read,
        },
        pair,
    )
}

/// Keys read as their text, each time.
struct PyKeys<'a>(&'a str);

impl<'a> Keys for PyKeys<'a> {
    type K = &'a str;
    fn glue(&mut self, _: usize, _: usize) -> Option<(Self::K, usize)> {
        None
    }
    fn key(&mut self, _: usize, i: usize) -> Option<(Self::K, usize)> {
        // The quotes are ASCII: the key between them is whole characters of the text.
        let (start, end) = py_key(self.0.as_bytes(), i)?;
        Some((&self.0[start..end], end + 1))
    }
    fn learn(&mut self, _: usize, _: usize, _: usize, _: &Self::K) {}
}

/// The key whose quote opens at `i`: where its text starts and where its closing quote is.
fn py_key(b: &[u8], i: usize) -> Option<(usize, usize)> {
    let quote = *b.get(i)?;
    if !matches!(quote, b'\'' | b'"') {
        return None;
    }
    let start = i + 1;
    Some((start, start + find_near(quote, &b[start..])?))
}

/// Where `needle` first is in `hay`: keys and printed values are short, so the first bytes are
/// looked at one by one before a vector search's set-up would pay.
#[inline]
fn find_near(needle: u8, hay: &[u8]) -> Option<usize> {
    let near = hay.len().min(24);
    match hay[..near].iter().position(|&c| c == needle) {
        Some(p) => Some(p),
        None => memchr::memchr(needle, &hay[near..]).map(|p| near + p),
    }
}

/// A dict's value, cut out: a number when it reads as one ([`parse_number`]), else as it is.
fn py_value(raw: Cow<'_, str>) -> PyValue<'_> {
    match parse_number(&raw) {
        Some(x) => PyValue::Number(x),
        None => PyValue::Other(raw),
    }
}

/// [`py_value`] of bytes cut out of a dict, `trim`med of whitespace or not.
fn py_value_of(raw: &[u8], trim: bool) -> PyValue<'_> {
    let text = String::from_utf8_lossy(raw);
    match (trim, text) {
        (false, text) => py_value(text),
        (true, Cow::Borrowed(t)) => py_value(Cow::Borrowed(t.trim())),
        (true, Cow::Owned(t)) => py_value(Cow::Owned(t.trim().to_string())),
    }
}

/// A flat Python dict literal: its pairs read by the loop every reader of rows shares
/// ([`fields`]), from the `{` after any leading whitespace.
#[inline(always)]
fn py_pairs<'a, C: Keys>(
    bytes: &'a [u8],
    keys: &mut C,
    pair: impl FnMut(C::K, PyValue<'a>),
) -> Option<usize> {
    fields(&Python(bytes), skip_ws(bytes, 0), keys, pair)
}

/// Python: ASCII whitespace (a form feed among it), a comma allowed after the last pair,
/// values read by [`py_value_at`].
struct Python<'a>(&'a [u8]);

impl<'a> Syntax for Python<'a> {
    type V = PyValue<'a>;
    const TRAILING_COMMA: bool = true;
    #[inline]
    fn bytes(&self) -> &[u8] {
        self.0
    }
    #[inline]
    fn ws(&self, i: usize) -> usize {
        skip_ws(self.0, i)
    }
    #[inline]
    fn value(&self, i: usize) -> Option<(PyValue<'a>, usize)> {
        py_value_at(self.0, i)
    }
}

/// The value starting at `i` (its first byte, not whitespace), and where it ends. Most values
/// are plain numbers, quoted (transformers 5) or not: read where they start, and taken when
/// their closing quote (or the `,` or `}` after a bare one) follows at once. Anything else is
/// cut out first, then parsed.
#[inline(always)]
fn py_value_at(bytes: &[u8], i: usize) -> Option<(PyValue<'_>, usize)> {
    Some(match bytes.get(i)? {
        q @ (b'\'' | b'"') => {
            let start = i + 1;
            match short_decimal_prefix(&bytes[start..]) {
                Some((x, len)) if bytes.get(start + len) == Some(q) => {
                    (PyValue::Number(x), start + len + 1)
                }
                _ => {
                    let end = start + find_near(*q, &bytes[start..])?;
                    (py_value_of(&bytes[start..end], false), end + 1)
                }
            }
        }
        b'{' | b'[' | b'(' => {
            let end = matching_close(bytes, i)?;
            (py_value_of(&bytes[i..=end], false), end + 1)
        }
        _ => match short_decimal_prefix(&bytes[i..]) {
            Some((x, len)) if matches!(bytes.get(i + len), Some(b',' | b'}')) => {
                (PyValue::Number(x), i + len)
            }
            _ => {
                let len = memchr::memchr2(b',', b'}', &bytes[i..])?;
                (py_value_of(&bytes[i..i + len], true), i + len)
            }
        },
    })
}

fn skip_ws(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() && bytes[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

/// Finds the bracket that closes the one at `open`, skipping quoted text.
fn matching_close(bytes: &[u8], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut quote: Option<u8> = None;
    for (i, &b) in bytes.iter().enumerate().skip(open) {
        if let Some(q) = quote {
            if b == q {
                quote = None;
            }
            continue;
        }
        match b {
            b'\'' | b'"' => quote = Some(b),
            b'{' | b'[' | b'(' => depth += 1,
            b'}' | b']' | b')' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// Parses Python's `str(timedelta)` (`0:32:48`, `1 day, 0:03:02`, `0:00:01.5`) and ms-swift's
/// `1m 42s` into seconds.
pub fn parse_duration(s: &str) -> Option<f64> {
    clock(s.as_bytes()).or_else(|| duration_by_parts(s))
}

/// [`parse_duration`] part by part: days, then `:`-separated fields or units.
fn duration_by_parts(s: &str) -> Option<f64> {
    let s = s.trim();
    let (days, rest) = match s.split_once(" day") {
        Some((d, rest)) => {
            let rest = rest.trim_start_matches('s').trim_start_matches(',').trim();
            (d.trim().parse::<f64>().ok()?, rest)
        }
        None => (0.0, s),
    };
    if rest.contains(':') {
        let mut total = 0.0;
        for part in rest.split(':') {
            total = total * 60.0 + part.trim().parse::<f64>().ok()?;
        }
        return Some(days * 86400.0 + total);
    }
    let mut total = 0.0;
    let mut any = false;
    for part in rest.split_whitespace() {
        let unit_at = part.find(|c: char| c.is_ascii_alphabetic())?;
        let (num, unit) = part.split_at(unit_at);
        let x: f64 = num.parse().ok()?;
        total += x * match unit {
            "d" => 86400.0,
            "h" => 3600.0,
            "m" | "min" => 60.0,
            "s" => 1.0,
            _ => return None,
        };
        any = true;
    }
    any.then_some(days * 86400.0 + total)
}

/// `H:MM:SS` with plain digits, seconds perhaps with a fraction (`0:00:01.5`), as
/// [`parse_duration`] reads it — the same sums in the same order — in one pass; `None` for
/// anything else.
fn clock(b: &[u8]) -> Option<f64> {
    let (mut h, mut m) = (0u64, 0u64);
    let i = digits(b, 0, &mut h);
    if i == 0 || i > 15 || b.get(i) != Some(&b':') {
        return None;
    }
    let j = digits(b, i + 1, &mut m);
    if j == i + 1 || j > i + 3 || b.get(j) != Some(&b':') {
        return None;
    }
    // Seconds are mostly two digits: read by the short reader's digit loop.
    let rest = b.get(j + 1..)?;
    let seconds = short_decimal_prefix(rest)
        .filter(|&(_, len)| len == rest.len())
        .map(|(x, _)| x)?;
    if !b[j + 1].is_ascii_digit() {
        return None;
    }
    Some((h as f64 * 60.0 + m as f64) * 60.0 + seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A property-test runner for `cases` cases that writes no failure file.
    fn runner(cases: u32) -> proptest::test_runner::TestRunner {
        proptest::test_runner::TestRunner::new(proptest::test_runner::Config {
            cases,
            failure_persistence: None,
            ..Default::default()
        })
    }

    /// The digit loop reads what the decimal reader reads, and leaves it what is not one to
    /// fifteen digits.
    #[test]
    fn small_integers_read_as_decimals() {
        for s in [
            "0",
            "7",
            "100",
            "3815",
            "1249992",
            "000123",
            "999999999999999",
        ] {
            assert_eq!(small_integer(s.as_bytes()), decimal(s.as_bytes()), "{s}");
        }
        for s in ["", "1.5", "2k", "-3", "1234567890123456", " 12"] {
            assert_eq!(small_integer(s.as_bytes()), None, "{s}");
        }
    }

    /// An integer read where it starts, in one pass, is the one its digits, cut out, read as by
    /// the standard parser: one to fifteen digits, and nothing for none or more.
    #[test]
    fn integers_at_a_place_read_as_their_digits_cut_out() {
        use proptest::prelude::*;
        let chars: Vec<char> = "0123456789012345678901234567890123456789/ .x"
            .chars()
            .collect();
        let text = (
            prop::collection::vec(prop::sample::select(chars), 0..24),
            0usize..26,
        );
        runner(4096)
            .run(&text, |(t, at)| {
                let t: String = t.into_iter().collect();
                let b = t.as_bytes();
                let cut = b.get(at..).and_then(|rest| {
                    let n = rest.iter().take_while(|c| c.is_ascii_digit()).count();
                    let digits = std::str::from_utf8(&rest[..n]).expect("ASCII digits");
                    (1..=15)
                        .contains(&n)
                        .then(|| (digits.parse::<f64>().expect("digits"), at + n))
                });
                prop_assert_eq!(integer_at(b, at), cut, "{} at {}", t, at);
                Ok(())
            })
            .expect("integers agree");
    }

    /// A value read in place (a number followed at once by its closing quote, or a bare one by
    /// `,` or `}`) reads as the value cut out first and given to `parse_number` does: values of
    /// digits, points, exponents, signs, spaces, `%`, `_`, `nan` and text, quoted either way
    /// or bare, some cut short (fails when the in-place reading takes a number the cut-out
    /// value would not be, or another one).
    #[test]
    fn values_read_in_place_as_cut_out() {
        use proptest::prelude::*;
        let parts = [
            "1", "05", ".", "e", "-", "+", " ", "%", "_", "nan", "x", "9",
        ];
        let value = prop::collection::vec(0..parts.len(), 0..8);
        let quote = prop::sample::select(vec!["'", "\"", ""]);
        runner(4096)
            .run(&(value, quote, any::<bool>()), |(picks, q, more)| {
                let v: String = picks.iter().map(|&i| parts[i]).collect();
                let tail = if more { ", 'b': 1}" } else { "}" };
                let text = format!("{{'a': {q}{v}{q}{tail}");
                // The reading before values were read in place: cut out, then parsed.
                let cut = if q.is_empty() {
                    text[6..].find([',', '}']).map(|n| text[6..6 + n].trim())
                } else {
                    text[7..].find(q).map(|n| &text[7..7 + n])
                };
                let expected = cut.map(|raw| format!("{:?}", py_value(raw.into())));
                let mut first = None;
                for_each_py_pair(&text, |_, v| {
                    first.get_or_insert(format!("{v:?}"));
                });
                if let (Some(e), Some(f)) = (&expected, &first) {
                    prop_assert_eq!(e, f, "{}", text);
                }
                Ok(())
            })
            .expect("values read alike");
    }

    /// Dicts of keys sharing prefixes, quoted either way, in any order, with any whitespace (a
    /// form feed among it) or none around every token, a comma after the last pair or not, one
    /// cut short: the shaped reading hands over what the plain one reads, dict after dict with
    /// one shape (fails when a remembered key may match a longer one, a key is handed over as
    /// what another meant, or a remembered glue is taken where more whitespace follows it).
    #[test]
    fn shaped_dicts_read_as_plain_ones() {
        use proptest::prelude::*;
        let keys = [
            "'loss'",
            "'loss_scale'",
            "'los'",
            "\"loss\"",
            "'epoch'",
            "'step'",
        ];
        let values = ["'0.5'", "0.25", "nan", "'1e-05'", "[1, 2]", "'x'"];
        // Few kinds of whitespace: two dicts laid out alike up to one more byte of it are
        // common, so a glue remembered from one is tried where more follows it in the next.
        let spaces = ["", " ", " \x0c"];
        let ws = || prop::sample::select(spaces.to_vec());
        let pair = (0..keys.len(), 0..values.len(), [ws(), ws(), ws(), ws()]);
        let dict = (
            prop::collection::vec(pair, 0..6),
            ws(),
            any::<bool>(),
            any::<bool>(),
        );
        runner(4096)
            .run(&prop::collection::vec(dict, 1..8), |dicts| {
                let mut shape = Shape::default();
                let mut seen: Vec<String> = Vec::new();
                for (pairs, end_ws, comma, cut) in dicts {
                    let body: Vec<String> = pairs
                        .iter()
                        .map(|&(k, v, [a, b, c, d])| {
                            format!("{a}{}{b}:{c}{}{d}", keys[k], values[v])
                        })
                        .collect();
                    let last = if comma { "," } else { "" };
                    let mut text = format!("{{{}{last}{end_ws}}}", body.join(","));
                    if cut {
                        text.truncate(text.len() / 2);
                    }
                    let mut plain = Vec::new();
                    let end = for_each_py_pair(&text, |k, v| plain.push((k.to_string(), v)));
                    let mut shaped = Vec::new();
                    let kind = |k: &str| match seen.iter().position(|s| s == k) {
                        Some(i) => i,
                        None => {
                            seen.push(k.to_string());
                            seen.len() - 1
                        }
                    };
                    let end2 =
                        for_each_py_pair_shaped(text.as_bytes(), &mut shape, kind, |k, v| {
                            shaped.push((k, v))
                        });
                    prop_assert_eq!(end, end2, "{:?}", text);
                    let shaped: Vec<(String, PyValue)> = shaped
                        .into_iter()
                        .map(|(k, v)| (seen[k].clone(), v))
                        .collect();
                    prop_assert_eq!(format!("{plain:?}"), format!("{shaped:?}"), "{:?}", text);
                }
                Ok(())
            })
            .expect("shaped dicts agree");
    }

    /// Dicts whose whitespace grows or shrinks past what was remembered between two values (a
    /// form feed, Python whitespace JSON lacks, among it), whose key changes under the same
    /// whitespace, or that end with a comma: read as the plain reading reads them.
    #[test]
    fn a_remembered_glue_is_used_only_where_it_is_all_there_is() {
        let dicts = [
            "{'loss': '0.5', 'epoch': 1}",
            "{'loss': \x0c'0.5', 'epoch':\t1}",
            "{'loss': '0.5' , 'epoch': 1 }",
            "{'loss': '0.5','epoch': 1,}",
            "{'loss': '0.5', 'epochs': 1}",
            "{'loss': '0.5', \"epoch\": 1}",
            "{\x0c'loss': '0.5', 'epoch': 1}",
            "{'loss': '0.5', 'epoch': 1, 'step': 2}",
            "{'loss': '0.5'}",
            "{'loss': '0.5', 'epoch': 1}",
            "{'loss':'0.5', 'epoch':1}",
        ];
        let mut shape = Shape::default();
        let mut names: Vec<String> = Vec::new();
        for _ in 0..2 {
            for text in dicts {
                let mut plain = Vec::new();
                let end = for_each_py_pair(text, |k, v| plain.push(format!("{k}={v:?}")));
                let mut shaped = Vec::new();
                let kind = |k: &str| {
                    names.push(k.to_string());
                    names.len() - 1
                };
                let end2 = for_each_py_pair_shaped(text.as_bytes(), &mut shape, kind, |k, v| {
                    shaped.push((k, v))
                });
                let shaped: Vec<String> = shaped
                    .into_iter()
                    .map(|(k, v)| format!("{}={v:?}", names[k]))
                    .collect();
                assert_eq!((end, &plain), (end2, &shaped), "{text:?}");
                assert_eq!(end, Some(text.len()), "{text:?}");
            }
        }
    }

    /// Dicts holding bytes that are not UTF-8 (in a key, a string value, a bare value, a
    /// nested one), read from the bytes: what the plain reading makes of the line made text
    /// by `from_utf8_lossy`, as the reader did before it read bytes.
    #[test]
    fn bytes_that_are_not_text_read_as_their_lossy_text() {
        let dicts: [&[u8]; 6] = [
            b"{'loss': '0.5', 'name': 'a\xffb', 'epoch': 1}",
            b"{'lo\xe9ss': '0.5', 'epoch': 1}",
            b"{'loss': 0.5\xc3, 'epoch': 1}",
            b"{'loss': [1, '\xf0\x9f'], 'epoch': 1}",
            b"{'loss': '0.5', 'epoch': 1}",
            b"{'lo\xe9ss': '0.5', 'epoch': 1}",
        ];
        let mut shape = Shape::default();
        let mut names: Vec<String> = Vec::new();
        for bytes in dicts {
            let text = String::from_utf8_lossy(bytes);
            let mut plain = Vec::new();
            let end = for_each_py_pair(&text, |k, v| plain.push(format!("{k}={v:?}")));
            let mut shaped = Vec::new();
            let kind = |k: &str| {
                names.push(k.to_string());
                names.len() - 1
            };
            let end2 = for_each_py_pair_shaped(bytes, &mut shape, kind, |k, v| {
                shaped.push((k, format!("{v:?}")))
            });
            let shaped: Vec<String> = shaped
                .into_iter()
                .map(|(k, v)| format!("{}={v}", names[k]))
                .collect();
            assert_eq!(plain, shaped, "{text}");
            assert_eq!(end.is_some(), end2.is_some(), "{text}");
            assert!(plain.len() >= 2, "{text}");
        }
    }

    #[test]
    fn clocks_read_in_one_pass_as_part_by_part() {
        for s in [
            "0:00:01",
            "0:32:48",
            "12:05:59.25",
            "123456:59:59.999999",
            "0:00:01.",
            "0:0:7",
            "1:02:03e1",
            "0:00:-1",
            "0:00:+1",
            " 0:00:01",
            "0:00:01 ",
            "0:000:01",
            ":00:01",
            "0::01",
            "0:00:",
            "0:00",
            "1 day, 0:03:02",
            "1m 42s",
            "0:00:1.5.5",
        ] {
            let fast = clock(s.as_bytes());
            if let Some(x) = fast {
                assert_eq!(
                    Some(x.to_bits()),
                    duration_by_parts(s).map(f64::to_bits),
                    "{s}"
                );
            }
            assert_eq!(
                parse_duration(s).map(f64::to_bits),
                duration_by_parts(s).map(f64::to_bits),
                "{s}"
            );
        }
        assert_eq!(clock(b"0:32:48"), Some(1968.0));
        assert_eq!(clock(b"1 day, 0:03:02"), None);
    }

    #[test]
    fn entries_borrow_keys_and_skip_nested_values() {
        let text = r#"{"loss": 0.5, "lr": "1e-4", "tag": "x", "a\"b": 1, "nested": {"x": [1, 2]}, "ok": null}"#;
        let e: Entry = serde_json::from_str(text).expect("parses");
        assert!(e.object);
        assert_eq!(e.num("loss"), Some(0.5));
        assert_eq!(e.num("lr"), Some(1e-4));
        assert_eq!(e.num("tag"), None);
        assert_eq!(e.num("a\"b"), Some(1.0));
        assert!(matches!(e.get("nested"), Some(Val::Other)));
        assert!(matches!(e.fields[0].0, Cow::Borrowed(_)));
        let not: Entry = serde_json::from_str("[1, 2]").expect("parses");
        assert!(!not.object);
    }

    #[test]
    fn python_json_tokens_become_strings_outside_strings_only() {
        let s = sanitize_json(r#"{"a": NaN, "b": -Infinity, "c": "NaN stays", "d": [Infinity]}"#);
        let v: serde_json::Value = serde_json::from_str(&s).expect("sanitized JSON parses");
        assert!(number(&v["a"]).expect("a").is_nan());
        assert_eq!(number(&v["b"]), Some(f64::NEG_INFINITY));
        assert_eq!(v["c"], "NaN stays");
        assert_eq!(number(&v["d"][0]), Some(f64::INFINITY));
    }

    #[test]
    fn decimals_agree_with_the_standard_parser_on_made_up_text() {
        use proptest::prelude::*;
        let chars: Vec<char> = "0123456789012345678901234567890123456789.-+eE"
            .chars()
            .collect();
        let text = prop::collection::vec(prop::sample::select(chars), 0..26);
        runner(4096)
            .run(&text, |t| {
                let t: String = t.into_iter().collect();
                if let Some(x) = decimal(t.as_bytes()) {
                    let std = t.parse::<f64>();
                    prop_assert!(std.is_ok(), "{t} parsed, the standard parser refuses it");
                    prop_assert_eq!(x.to_bits(), std.unwrap_or_default().to_bits(), "{}", t);
                }
                let read = decimal_prefix(t.as_bytes());
                let short = short_decimal_prefix(t.as_bytes());
                prop_assert_eq!(
                    short.map(|(x, len)| (x.to_bits(), len)),
                    read.map(|(x, len)| (x.to_bits(), len)),
                    "the short reader: {}",
                    t
                );
                if let Some((x, len)) = read {
                    let std = t[..len].parse::<f64>();
                    prop_assert!(
                        std.is_ok(),
                        "{t}: prefix {len} read, the standard parser refuses it"
                    );
                    prop_assert_eq!(x.to_bits(), std.unwrap_or_default().to_bits(), "{}", t);
                }
                Ok(())
            })
            .expect("the fast path agrees");
    }

    /// Doubles as Python and Rust print them (shortest round trip, 16-17 digits, exponents from
    /// -300 to 300), plain and in E-notation: read exactly as the standard parser reads them.
    #[test]
    fn printed_doubles_read_as_the_standard_parser_reads_them() {
        use proptest::prelude::*;
        let doubles = (any::<u64>(), -300i32..300).prop_map(|(bits, e)| {
            let unit = f64::from_bits(bits >> 12 | 0x3ff0_0000_0000_0000) - 1.0;
            unit * 10f64.powi(e)
        });
        runner(4096)
            .run(&doubles, |x| {
                for t in [format!("{x}"), format!("{x:e}"), format!("{:.17}", x)] {
                    let std = t.parse::<f64>().expect("printed");
                    let read = decimal(t.as_bytes());
                    prop_assert_eq!(read.map(f64::to_bits), Some(std.to_bits()), "{}", t);
                    for read in [decimal_prefix, short_decimal_prefix] {
                        let (y, len) = read(format!("{t},").as_bytes()).expect("prefix");
                        prop_assert_eq!((y.to_bits(), len), (std.to_bits(), t.len()), "{}", t);
                    }
                }
                Ok(())
            })
            .expect("printed doubles agree");
    }

    /// Seventeen to nineteen digits (wider than a double's 53 bits) with a point anywhere or
    /// an exponent, and leading zeros: bit for bit as the standard parser.
    #[test]
    fn wide_digits_read_as_the_standard_parser_reads_them() {
        use proptest::prelude::*;
        let wide = (
            (1u64 << 53)..u64::MAX,
            0usize..21,
            0usize..4,
            prop::option::of(-25i32..25),
        );
        runner(8192)
            .run(&wide, |(m, point, zeros, e)| {
                let digits = m.to_string();
                let point = point.min(digits.len());
                let mut t = if point > 0 {
                    format!("{}.{}", &digits[..point], &digits[point..])
                } else {
                    format!("0.{}{}", "0".repeat(zeros), digits)
                };
                if let Some(e) = e {
                    t = format!("{t}e{e}");
                }
                let std = t.parse::<f64>().expect("digits");
                let (y, len) = decimal_prefix(format!("{t},").as_bytes()).expect("prefix");
                prop_assert_eq!((y.to_bits(), len), (std.to_bits(), t.len()), "{}", t);
                Ok(())
            })
            .expect("wide digits agree");
        // Ties and near-ties: 2^53 + 1 is halfway between two doubles; 2^54 + 2 likewise. The
        // four fractions after them divide to a quotient that shows exactly halfway, and only
        // the remainder says they lie above it (found by searching 19-digit fractions).
        for t in [
            "0.3797550684240878216",
            "0.2233107216370650433",
            "0.8431600592780733039",
            "0.9937378467919561476",
            "9007199254740993",
            "9007199254740993.0",
            "900719925474099.3e1",
            "18014398509481986",
            "18014398509481987",
            "0.0019999987662997036",
            "7.990520200274015",
            "18446744073709551615",
            "1844674407370955161.5",
        ] {
            let (y, _) = decimal_prefix(t.as_bytes()).expect("number");
            assert_eq!(
                y.to_bits(),
                t.parse::<f64>().expect("number").to_bits(),
                "{t}"
            );
        }
    }

    #[test]
    fn decimals_parse_as_the_standard_parser_does() {
        let cases = [
            "0",
            "-0",
            "+5",
            "5.",
            ".5",
            "0.5216",
            "-3.274",
            "199165",
            "1250000",
            "1.25e-05",
            "1.25E+05",
            "2e22",
            "2e23",
            "9007199254740992",
            "9007199254740993",
            "0.1",
            "0.3",
            "1234567890123456789",
            "12345678901234567890",
            "1e",
            "1e-",
            "-",
            ".",
            "",
            "1.2.3",
            "1e1234",
            "nan",
            "inf",
            "1,000",
            " 1",
            "1 ",
            "0.000000000000000000001",
            "123456.7890123456",
            "4.9406564584124654e-324",
            "1.7976931348623157e308",
        ];
        for c in cases {
            if let Some(x) = decimal(c.as_bytes()) {
                let std = c.parse::<f64>().expect(c);
                assert_eq!(x.to_bits(), std.to_bits(), "{c}");
            }
        }
        assert_eq!(decimal(b"0.5216"), Some(0.5216));
        assert_eq!(decimal(b"1.25e-05"), Some(1.25e-05));
        assert_eq!(decimal(b"-0").map(f64::to_bits), Some((-0.0f64).to_bits()));
        assert_eq!(decimal(b"1,000"), None);
        for word in [
            "inf",
            "-inf",
            "+inf",
            "nan",
            "NaN",
            "Infinity",
            "-Infinity",
            "-",
            ".",
        ] {
            assert_eq!(decimal_prefix(word.as_bytes()), None, "{word}");
        }
        assert_eq!(
            decimal(b"12345678901234567890"),
            Some(12345678901234567890.0)
        );
    }

    #[test]
    fn numbers_in_strings_and_with_separators() {
        assert_eq!(parse_number("0.5216"), Some(0.5216));
        assert_eq!(parse_number("10,163"), Some(10163.0));
        assert_eq!(parse_number("2.28%"), Some(2.28));
        assert_eq!(parse_number("6.365808E+00"), Some(6.365808));
        assert!(parse_number("nan").expect("nan").is_nan());
        assert_eq!(parse_number("abc"), None);
    }

    #[test]
    fn python_dicts_old_and_new_style() {
        let (pairs, end) =
            parse_py_dict("{'loss': 0.6483, 'grad_norm': nan, 'epoch': 0.07} tail").expect("dict");
        assert_eq!(end, 49);
        assert_eq!(pairs[0], ("loss", PyValue::Number(0.6483)));
        assert!(matches!(pairs[1].1, PyValue::Number(x) if x.is_nan()));
        let (pairs, _) =
            parse_py_dict("{'loss': '0.5216', 'name': 'x, y', 'nested': {'a': 1}, 'e': '3'}")
                .expect("dict");
        assert_eq!(pairs[0].1, PyValue::Number(0.5216));
        assert_eq!(pairs[1].1, PyValue::Other("x, y".into()));
        assert_eq!(pairs[2].1, PyValue::Other("{'a': 1}".into()));
        assert_eq!(pairs[3].1, PyValue::Number(3.0));
        assert!(parse_py_dict("{'loss': 0.5").is_none());
        assert!(parse_py_dict("not a dict").is_none());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("0:00:16"), Some(16.0));
        assert_eq!(parse_duration("1 day, 0:03:02"), Some(86400.0 + 182.0));
        assert_eq!(
            parse_duration("9 days, 22:13:15"),
            Some(9.0 * 86400.0 + 80_000.0 - 5.0)
        );
        assert_eq!(parse_duration("1m 42s"), Some(102.0));
        assert_eq!(parse_duration("soon"), None);
    }
}
