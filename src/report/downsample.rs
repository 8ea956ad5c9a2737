//! Largest-triangle-three-buckets (Steinarsson 2013): reduces a curve to `n` points for drawing
//! while keeping its visual shape (peaks, spikes and the ends). Pure; used by the chart renderer
//! so a report of long runs stays small.

/// Returns at most `n` points of `pts` (sorted by x); all of them when there are fewer.
pub fn lttb(pts: &[(f64, f64)], n: usize) -> Vec<(f64, f64)> {
    lttb_xy(pts.len(), |i| pts[i], n)
}

/// [`lttb`] over a curve kept as separate x and y columns, without pairing every point first.
pub fn lttb_columns(xs: &[f64], ys: &[f64], n: usize) -> Vec<(f64, f64)> {
    lttb_xy(xs.len().min(ys.len()), |i| (xs[i], ys[i]), n)
}

fn lttb_xy(len: usize, at: impl Fn(usize) -> (f64, f64), n: usize) -> Vec<(f64, f64)> {
    lttb_indices(len, &at, n).into_iter().map(at).collect()
}

/// The indices LTTB keeps of `len` points given by `at`: all of them when there are at most
/// `n`. The one downsampling of the report: the charts draw these points, and the page's
/// interactive charts embed every coordinate of the same points.
pub fn lttb_indices(len: usize, at: impl Fn(usize) -> (f64, f64), n: usize) -> Vec<usize> {
    if n < 3 || len <= n {
        return (0..len).collect();
    }
    let pts = Points { len, at };
    let mut out = Vec::with_capacity(n);
    out.push(0);
    let bucket = (pts.len() - 2) as f64 / (n - 2) as f64;
    let mut a = 0usize;
    for i in 0..n - 2 {
        let start = (i as f64 * bucket) as usize + 1;
        let end = (((i + 1) as f64 * bucket) as usize + 1).min(pts.len() - 1);
        let next_start = end;
        let next_end = (((i + 2) as f64 * bucket) as usize + 1).min(pts.len());
        let next = next_start..next_end.max(next_start + 1).min(pts.len());
        let count = next.len() as f64;
        let (cx, cy) = next
            .map(|k| pts.get(k))
            .fold((0.0, 0.0), |s, p| (s.0 + p.0, s.1 + p.1));
        let (cx, cy) = (cx / count, cy / count);
        let (ax, ay) = pts.get(a);
        let mut best = start;
        let mut best_area = -1.0;
        for j in start..end.max(start + 1) {
            let (x, y) = pts.get(j);
            let area = ((ax - cx) * (y - ay) - (ax - x) * (cy - ay)).abs();
            if area > best_area {
                best_area = area;
                best = j;
            }
        }
        out.push(best);
        a = best;
    }
    out.push(pts.len() - 1);
    out
}

/// Points by index.
struct Points<F> {
    len: usize,
    at: F,
}

impl<F: Fn(usize) -> (f64, f64)> Points<F> {
    fn len(&self) -> usize {
        self.len
    }

    fn get(&self, i: usize) -> (f64, f64) {
        (self.at)(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_ends_and_spikes() {
        let mut pts: Vec<(f64, f64)> = (0..10_000).map(|i| (i as f64, 1.0)).collect();
        pts[5_000].1 = 50.0;
        let out = lttb(&pts, 100);
        assert_eq!(out.len(), 100);
        assert_eq!(out[0], pts[0]);
        assert_eq!(out[99], pts[9_999]);
        assert!(out.iter().any(|p| p.1 == 50.0), "the spike survives");
        assert!(
            out.windows(2).all(|w| w[0].0 < w[1].0),
            "x stays increasing"
        );
    }

    #[test]
    fn short_curves_are_unchanged() {
        let pts = vec![(0.0, 1.0), (1.0, 2.0)];
        assert_eq!(lttb(&pts, 100), pts);
    }
}
