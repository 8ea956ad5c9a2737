//! What a reader made of the keys of the rows it read before. Log rows repeat one shape (the
//! same keys in the same order, row after row): a key found again at its position is matched
//! by its bytes and handed over as what the reader made of it then, with no scan for its
//! closing quote and no lookup of what it means; they also remember what lies between values
//! (whitespace, comma, key, colon), so a row laid out as the one before is read with one
//! comparison a field. The JSON readers ([`super::flat_json`]) and the Python dicts of stdout
//! logs ([`super::lenient`]) share it, and the one loop over a row's fields ([`fields`]), each
//! telling it its syntax ([`Syntax`]) and how it reads keys ([`Keys`]). For JSON rows it also
//! keeps the last two whole layouts ([`Layout`]), which a row laid out alike is read by in one
//! pass before any field is handed over.

/// The keys of the rows read before, one per position, each with its quotes and what the
/// reader made of it (`K`: a field's role, a metric's number); and per position, the glue
/// before each value.
#[derive(Debug)]
pub struct Shape<K> {
    /// The layouts of the last two rows read field by field that differ, whole: what a JSON
    /// row laid out alike is read by ([`Layout`]). Two, for logs that interleave two kinds of
    /// row (a training entry, then an evaluation entry).
    pub layouts: [Layout<K>; 2],
    /// The layout that read the last row laid out alike (the other is replaced first).
    pub last_used: usize,
    /// Rows read field by field in a row since a layout last read one: past a few, the
    /// layouts are tried (and learned) only now and then, so rows of more than two layouts in
    /// turn cost the field-by-field reading alone.
    pub misses: u32,
    keys: Vec<Known<K>>,
    /// Per position, in step with `keys` (never longer): the bytes from the end of the token
    /// before the field (its object's `{`, or the value before) to the first byte of its
    /// value — whitespace, comma, the key, the colon — as the last row laid out alike had them.
    /// A row laid out as the one before is read from value to value, one comparison a field.
    glues: Vec<Known<K>>,
}

/// A whole row as the last one read field by field was laid out: per field, the glue before
/// its value, what kind of value followed it and whether the reader has any use for it; and
/// the bytes from the last value's end through the closing brace. The JSON reader
/// ([`super::flat_json`]) learns it and reads by it: a row of the same bytes around values of
/// the same kinds is the same keys, read with one comparison a field.
#[derive(Debug)]
pub struct Layout<K> {
    pub slots: Vec<Slot<K>>,
    /// `None`: no layout learned (or the last row could not be one).
    pub close: Option<Known<()>>,
    /// The values of the row being read by it, each a number or a text's span (kept for
    /// their room).
    pub cells: Vec<(f64, usize, usize)>,
}

/// One field of a [`Layout`].
#[derive(Debug)]
pub struct Slot<K> {
    /// The bytes before the value (the key among them), and what the reader made of the key.
    pub glue: Known<K>,
    pub kind: ValueKind,
    /// The reader ignores the field: its value is only checked to be one the field-by-field
    /// reading would take.
    pub ignored: bool,
}

/// The kind of value a [`Slot`] holds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ValueKind {
    /// A plain decimal.
    Number,
    /// A string without escapes.
    Text,
}

impl<K> Default for Layout<K> {
    fn default() -> Self {
        Layout {
            slots: Vec::new(),
            close: None,
            cells: Vec::new(),
        }
    }
}

/// One remembered key or glue. Most keys, quotes included, fit in 16 bytes, and most glues in
/// 32: those are compared as one or two 128-bit words (the bytes that follow masked off)
/// instead of by `memcmp`.
#[derive(Debug)]
pub struct Known<K> {
    raw: Box<[u8]>,
    /// The first two words (zeros past the end), each read little-endian.
    head: [u128; 2],
    /// Ones over the bytes within each of `head`'s words.
    mask: [u128; 2],
    /// What the reader made of it.
    pub k: K,
}

const WORD: usize = 16;

/// How the loop over a row's fields ([`fields`]) finds each field's key: by reading it each
/// time, or as a [`Shape`] remembers it ([`Shaped`]).
pub trait Keys {
    /// What a key is made into.
    type K;
    /// What the field at position `p` is, and where its value starts, when known from where
    /// the token before it ends (`at`) without reading.
    fn glue(&mut self, p: usize, at: usize) -> Option<(Self::K, usize)>;
    /// The key at position `p`, opening at `i`: what it is and where it ends.
    fn key(&mut self, p: usize, i: usize) -> Option<(Self::K, usize)>;
    /// The field at position `p`, `k`, was read from `at` (where the token before it ends) to
    /// `start` (where its value starts).
    fn learn(&mut self, p: usize, at: usize, start: usize, k: &Self::K);
}

/// What a row's fields are written in (a JSON object, a Python dict): its whitespace, whether
/// a comma may follow the last field, and how a value is read.
pub trait Syntax {
    /// What a value is read as.
    type V;
    /// The text the row is in.
    fn bytes(&self) -> &[u8];
    /// Python allows a comma after a dict's last pair; JSON does not.
    const TRAILING_COMMA: bool;
    /// The position of the first byte at or after `i` that is not whitespace.
    fn ws(&self, i: usize) -> usize;
    /// The value whose first byte is at `i`, and where it ends.
    fn value(&self, i: usize) -> Option<(Self::V, usize)>;
}

/// The one loop over a row's fields every reader of rows shares: the object opens at `open`
/// (its `{`) in `syntax`'s text; at each position the key found by `keys` (at once from what lies between the
/// values, when it knows that; else the comma and colon read here around the key it reads),
/// the value read by `syntax`, both handed to `field`. Where the object ends, or `None` when
/// it is not one (fields may have been handed over by then).
#[inline(always)]
pub fn fields<S: Syntax, C: Keys>(
    syntax: &S,
    open: usize,
    keys: &mut C,
    mut field: impl FnMut(C::K, S::V),
) -> Option<usize> {
    let b = syntax.bytes();
    if b.get(open) != Some(&b'{') {
        return None;
    }
    // Where the token before the next field ends: the `{`, then each value.
    let mut at = open + 1;
    let mut position = 0;
    loop {
        let (k, start) = match keys.glue(position, at) {
            Some(known) => known,
            None => {
                let mut i = syntax.ws(at);
                match b.get(i)? {
                    b'}' => return Some(i + 1),
                    b',' if position > 0 => {
                        i = syntax.ws(i + 1);
                        if S::TRAILING_COMMA && b.get(i) == Some(&b'}') {
                            return Some(i + 1);
                        }
                    }
                    _ if position > 0 => return None,
                    _ => {}
                }
                let (k, key_end) = keys.key(position, i)?;
                i = syntax.ws(key_end);
                if b.get(i) != Some(&b':') {
                    return None;
                }
                i = syntax.ws(i + 1);
                keys.learn(position, at, i, &k);
                (k, i)
            }
        };
        position += 1;
        let (value, next) = syntax.value(start)?;
        field(k, value);
        at = next;
    }
}

/// Keys known by what `kind` made of them, as `shape` remembers them and the glue around them;
/// a key new at its position is read by `read` (given where its quote opens: its text, escapes
/// decoded, and where it ends).
pub struct Shaped<'t, 's, K, F, R> {
    pub bytes: &'t [u8],
    pub shape: &'s mut Shape<K>,
    pub kind: F,
    pub read: R,
}

impl<'t, K, F, R> Keys for Shaped<'t, '_, K, F, R>
where
    K: Copy,
    F: FnMut(&str) -> K,
    R: Fn(usize) -> Option<(std::borrow::Cow<'t, str>, usize)>,
{
    type K = K;
    #[inline]
    fn glue(&mut self, p: usize, at: usize) -> Option<(K, usize)> {
        let (k, len) = self.shape.glue(p, &self.bytes[at..])?;
        Some((k, at + len))
    }
    #[inline]
    fn key(&mut self, p: usize, i: usize) -> Option<(K, usize)> {
        let read = || {
            let (k, next) = (self.read)(i)?;
            // A key with escapes is decoded (owned): its bytes are not its text.
            let plain = matches!(k, std::borrow::Cow::Borrowed(_));
            Some((k, next, plain))
        };
        self.shape.key(p, self.bytes, i, read, &mut self.kind)
    }
    fn learn(&mut self, p: usize, at: usize, start: usize, k: &K) {
        self.shape.learn_glue(p, &self.bytes[at..start], *k);
    }
}

impl<K> Default for Shape<K> {
    fn default() -> Self {
        Shape {
            layouts: [Layout::default(), Layout::default()],
            last_used: 0,
            misses: 0,
            keys: Vec::new(),
            glues: Vec::new(),
        }
    }
}

impl<K: Copy> Shape<K> {
    /// The key at position `p` of a row, opening at `i` of `b` (at its quote), as what was
    /// made of it, and where it ends: recalled when the same key was at `p` before, else read
    /// by `read` (its text, where it ends, and whether its bytes are its text: a key with
    /// escapes is not remembered), worked out by `kind` and remembered.
    #[inline]
    pub fn key<S: AsRef<str>>(
        &mut self,
        p: usize,
        b: &[u8],
        i: usize,
        read: impl FnOnce() -> Option<(S, usize, bool)>,
        kind: impl FnOnce(&str) -> K,
    ) -> Option<(K, usize)> {
        if let Some((k, len)) = self.recall(p, &b[i..]) {
            return Some((k, i + len));
        }
        let (key, next, plain) = read()?;
        let k = kind(key.as_ref());
        self.learn(p, plain.then(|| &b[i..next]), k);
        Some((k, next))
    }

    /// What was made of the key at position `p`, when `rest` starts with its bytes (quotes
    /// included, so a longer key does not match), and how many bytes it takes.
    #[inline]
    fn recall(&self, p: usize, rest: &[u8]) -> Option<(K, usize)> {
        let known = self.keys.get(p)?;
        known.matches(rest).then_some((known.k, known.raw.len()))
    }

    /// What was made of the field at position `p`, and how many bytes of `rest` (from the end
    /// of the token before the field) lead to its value: when `rest` starts with the glue
    /// remembered there and the value's first byte follows it (not more whitespace, JSON's or
    /// Python's, which the glue's own would then not be all of).
    #[inline]
    pub fn glue(&self, p: usize, rest: &[u8]) -> Option<(K, usize)> {
        let glue = self.glues.get(p)?;
        let n = glue.raw.len();
        let after = *rest.get(n)?;
        (glue.matches(rest) && !after.is_ascii_whitespace()).then_some((glue.k, n))
    }

    /// Remembers `raw` as the glue before the value at position `p`, whose key was made `k`
    /// (the glue holds that key): only while the key at `p` is remembered, and every glue
    /// before it.
    pub fn learn_glue(&mut self, p: usize, raw: &[u8], k: K) {
        if p < self.keys.len() && p <= self.glues.len() {
            self.glues.truncate(p);
            self.glues.push(Known::new(raw, k));
        }
    }

    /// Remembers `raw` (a key, its quotes included) at position `p` as `k`, forgetting the keys
    /// after it and the glues from `p` on (a key that changed changes the shape). `None`: a key
    /// whose bytes are not its text (it holds escapes) is not remembered, nor is any after it.
    fn learn(&mut self, p: usize, raw: Option<&[u8]>, k: K) {
        self.keys.truncate(p);
        self.glues.truncate(p);
        let Some(raw) = raw else {
            return;
        };
        if self.keys.len() != p {
            return;
        }
        self.keys.push(Known::new(raw, k));
    }
}

impl<K> Known<K> {
    /// Remembers `raw` as what `k` was made of.
    pub fn new(raw: &[u8], k: K) -> Self {
        let mut head = [0u128; 2];
        let mut mask = [0u128; 2];
        for (w, chunk) in raw.chunks(WORD).take(2).enumerate() {
            let mut first = [0u8; WORD];
            first[..chunk.len()].copy_from_slice(chunk);
            head[w] = u128::from_le_bytes(first);
            mask[w] = if chunk.len() == WORD {
                u128::MAX
            } else {
                (1u128 << (8 * chunk.len())) - 1
            };
        }
        Known {
            raw: raw.into(),
            head,
            mask,
            k,
        }
    }

    /// How many bytes it is.
    #[inline]
    pub fn width(&self) -> usize {
        self.raw.len()
    }

    /// Whether `rest` starts with the remembered bytes.
    #[inline]
    pub fn matches(&self, rest: &[u8]) -> bool {
        let n = self.raw.len();
        if n <= WORD {
            if let Some(word) = rest.first_chunk::<WORD>() {
                return (u128::from_le_bytes(*word) ^ self.head[0]) & self.mask[0] == 0;
            }
        } else if n <= 2 * WORD {
            if let Some(two) = rest.first_chunk::<{ 2 * WORD }>() {
                let (a, b) = two.split_at(WORD);
                let a = u128::from_le_bytes(a.try_into().expect("a word"));
                let b = u128::from_le_bytes(b.try_into().expect("a word"));
                return (a ^ self.head[0]) | ((b ^ self.head[1]) & self.mask[1]) == 0;
            }
        }
        rest.starts_with(&self.raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keys of every length up to past a word, recalled against texts that hold them, hold
    /// them with one byte changed (first, last, each in between), or stop short: only the
    /// whole key matches, whether the text has a word's bytes left or not.
    #[test]
    fn a_key_is_recalled_only_by_its_whole_bytes() {
        for n in 1..=20usize {
            let key: Vec<u8> = (0..n).map(|i| b'a' + i as u8).collect();
            let mut shape = Shape::default();
            shape.learn(0, Some(&key), n);
            for tail in [&b""[..], b": 1", b": 1.2345678901234567, "] {
                let text = [&key[..], tail].concat();
                assert_eq!(shape.recall(0, &text), Some((n, n)), "{n} {tail:?}");
                for at in 0..n {
                    let mut changed = text.clone();
                    changed[at] ^= 0x20;
                    assert_eq!(shape.recall(0, &changed), None, "{n} at {at}");
                }
                assert_eq!(shape.recall(0, &key[..n - 1]), None, "{n} short");
            }
            assert_eq!(shape.recall(1, &key), None);
        }
    }
}
