//! What a reader made of the keys of the rows it read before. Log rows repeat one shape (the
//! same keys in the same order, row after row): a key found again at its position is matched
//! by its bytes and handed over as what the reader made of it then, with no scan for its
//! closing quote and no lookup of what it means. The JSON readers ([`super::flat_json`]) and
//! the Python dicts of stdout logs ([`super::lenient`]) share it.

/// The keys of the rows read before, one per position, each with its quotes and what the
/// reader made of it (`K`: a field's role, a metric's number).
#[derive(Debug)]
pub struct Shape<K> {
    keys: Vec<(Box<[u8]>, K)>,
}

impl<K> Default for Shape<K> {
    fn default() -> Self {
        Shape { keys: Vec::new() }
    }
}

impl<K: Copy> Shape<K> {
    /// What was made of the key at position `p`, when `rest` starts with its bytes (quotes
    /// included, so a longer key does not match), and how many bytes it takes.
    #[inline]
    pub fn recall(&self, p: usize, rest: &[u8]) -> Option<(K, usize)> {
        let (raw, k) = self.keys.get(p)?;
        rest.starts_with(raw).then_some((*k, raw.len()))
    }

    /// Remembers `raw` (a key, its quotes included) at position `p` as `k`, forgetting the keys
    /// after it (a key that changed changes the shape). `None`: a key whose bytes are not its
    /// text (it holds escapes) is not remembered, nor is any after it.
    pub fn learn(&mut self, p: usize, raw: Option<&[u8]>, k: K) {
        self.keys.truncate(p);
        if let Some(raw) = raw {
            if self.keys.len() == p {
                self.keys.push((raw.into(), k));
            }
        }
    }
}
