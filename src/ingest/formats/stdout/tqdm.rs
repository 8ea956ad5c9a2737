//! tqdm progress bars: the `n/total` counter of the last bar before a dict, ANSI colours
//! stripped.

use memchr::memmem;

use super::*;

/// A tqdm bar's counter and total (`100/3815`).
pub(super) type Bar = (f64, f64);

/// Takes the training bar's counter from the last tqdm update in `region`, if any.
pub(super) fn last_bar(n: &Needles, st: &mut State, region: &[u8]) {
    let Some(p) = n.bar.rfind(region) else {
        return;
    };
    let start = memchr::memrchr2(b'\n', b'\r', &region[..p]).map_or(0, |q| q + 1);
    let line = &region[start..line_end(region, p)];
    if let Some(bar) = parse_bar(&without_ansi(line)) {
        st.bar = Some(bar);
    }
}

pub(super) fn without_ansi(raw: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if memchr::memchr(0x1b, raw).is_some() {
        strip_ansi(raw).into()
    } else {
        raw.into()
    }
}

/// Parses a tqdm bar `  3%|███▏  | 100/3815 [00:52<27:37,  2.24it/s]` into (100, 3815).
pub(super) fn parse_bar(bytes: &[u8]) -> Option<Bar> {
    let bar_end = memchr::memrchr_iter(b'|', bytes).find(|&i| bytes.get(i + 1) == Some(&b' '))?;
    let after = &bytes[bar_end + 2..];
    let counts = &after[..memmem::find(after, b" [").unwrap_or(after.len())];
    let slash = memchr::memchr(b'/', counts)?;
    let num = |b: &[u8]| std::str::from_utf8(b).ok()?.trim().parse().ok();
    Some((num(&counts[..slash])?, num(&counts[slash + 1..])?))
}

pub(super) fn strip_ansi(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == 0x1b && bytes.get(i + 1) == Some(&b'[') {
            i += 2;
            while i < bytes.len() && !(0x40..=0x7e).contains(&bytes[i]) {
                i += 1;
            }
            i += 1;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}
