//! What a reader made of the keys of the rows it read before. Log rows repeat one shape (the
//! same keys in the same order, row after row): a key found again at its position is matched
//! by its bytes and handed over as what the reader made of it then, with no scan for its
//! closing quote and no lookup of what it means. The JSON readers ([`super::flat_json`]) and
//! the Python dicts of stdout logs ([`super::lenient`]) share it.

/// The keys of the rows read before, one per position, each with its quotes and what the
/// reader made of it (`K`: a field's role, a metric's number).
#[derive(Debug)]
pub struct Shape<K> {
    keys: Vec<Known<K>>,
}

/// One remembered key. Most keys, quotes included, fit in 16 bytes: those are compared as one
/// 128-bit word (the bytes that follow them masked off) instead of by `memcmp`.
#[derive(Debug)]
struct Known<K> {
    raw: Box<[u8]>,
    /// The key's first 16 bytes (zeros past its end), read little-endian.
    head: u128,
    /// Ones over the key's bytes within `head`.
    mask: u128,
    k: K,
}

const WORD: usize = 16;

impl<K> Default for Shape<K> {
    fn default() -> Self {
        Shape { keys: Vec::new() }
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
        let n = known.raw.len();
        if n <= WORD {
            if let Some(word) = rest.first_chunk::<WORD>() {
                let word = u128::from_le_bytes(*word);
                return ((word ^ known.head) & known.mask == 0).then_some((known.k, n));
            }
        }
        rest.starts_with(&known.raw).then_some((known.k, n))
    }

    /// Remembers `raw` (a key, its quotes included) at position `p` as `k`, forgetting the keys
    /// after it (a key that changed changes the shape). `None`: a key whose bytes are not its
    /// text (it holds escapes) is not remembered, nor is any after it.
    fn learn(&mut self, p: usize, raw: Option<&[u8]>, k: K) {
        self.keys.truncate(p);
        let Some(raw) = raw else {
            return;
        };
        if self.keys.len() != p {
            return;
        }
        let mut first = [0u8; WORD];
        let n = raw.len().min(WORD);
        first[..n].copy_from_slice(&raw[..n]);
        let mask = if n == WORD {
            u128::MAX
        } else {
            (1u128 << (8 * n)) - 1
        };
        self.keys.push(Known {
            raw: raw.into(),
            head: u128::from_le_bytes(first),
            mask,
            k,
        });
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
