//! Axis geometry, apart from drawing: whether a y-axis should be logarithmic, the range to show,
//! and "nice" tick positions with their labels. Pure functions, unit-tested; `charts` only draws.

/// Values spanning more than this ratio (max ÷ min) get a log axis: 0.0009 and 0.35 must both be
/// readable on one loss chart.
pub const LOG_SPAN: f64 = 20.0;

/// A value axis: its range (in log10 units when `log`), and its ticks.
#[derive(Debug, Clone, PartialEq)]
pub struct Scale {
    /// Whether positions are log10 of the values.
    pub log: bool,
    /// The shown range, in position units.
    pub min: f64,
    pub max: f64,
    /// Tick positions (in position units) and labels.
    pub ticks: Vec<(f64, String)>,
}

impl Scale {
    /// The position of a value on this axis (`None` for values a log axis cannot show).
    pub fn pos(&self, v: f64) -> Option<f64> {
        if !v.is_finite() {
            return None;
        }
        if self.log {
            (v > 0.0).then(|| v.log10())
        } else {
            Some(v)
        }
    }
}

/// The most ticks an axis gets, whatever its range: every tick loop is bounded by it.
const MAX_TICKS: usize = 50;

/// A linear axis over `[lo, hi]` with about `target` nice ticks. Defined for any finite range
/// whose width is finite; [`drawable`] says whether one is.
pub fn linear(lo: f64, hi: f64, target: usize) -> Scale {
    let (lo, hi) = if !drawable(lo, hi) {
        (0.0, 1.0)
    } else if hi > lo {
        (lo, hi)
    } else {
        (
            lo - 0.5_f64.max(lo.abs() * 0.1),
            hi + 0.5_f64.max(hi.abs() * 0.1),
        )
    };
    let step = nice_step((hi - lo) / target.clamp(1, MAX_TICKS) as f64);
    let first = (lo / step).ceil() * step;
    // Ticks by index, not by adding `step` to a running total: near 1e308 an addition can
    // leave the total where it was.
    let ticks = (0..=MAX_TICKS)
        .map(|i| first + step * i as f64)
        .take_while(|t| *t <= hi + step * 1e-9)
        .map(|t| (t, label(t, step)))
        .collect();
    Scale {
        log: false,
        min: lo,
        max: hi,
        ticks,
    }
}

/// Whether `[lo, hi]` can be drawn: both ends finite and the width finite too (values of
/// ±1e308 have an infinite width, and no pixel mapping).
pub fn drawable(lo: f64, hi: f64) -> bool {
    lo.is_finite() && hi.is_finite() && (hi - lo).is_finite() && (hi.abs() - lo.abs()).is_finite()
}

/// A y-axis for positive values: logarithmic when they span more than [`LOG_SPAN`], else linear
/// from a rounded-down minimum.
pub fn for_values(values: impl Iterator<Item = f64>, target: usize) -> Scale {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    let mut min_pos = f64::INFINITY;
    for v in values.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
        if v > 0.0 {
            min_pos = min_pos.min(v);
        }
    }
    if !lo.is_finite() {
        return linear(0.0, 1.0, target);
    }
    if lo > 0.0 && hi / lo > LOG_SPAN {
        return logarithmic(min_pos, hi);
    }
    let pad = (hi - lo) * 0.05;
    linear(
        if lo >= 0.0 {
            (lo - pad).max(0.0)
        } else {
            lo - pad
        },
        hi + pad,
        target,
    )
}

/// A log axis from `lo` to `hi` (both > 0): ticks at 1, 2, 5 × 10ⁿ when few decades, else at
/// powers of ten.
pub fn logarithmic(lo: f64, hi: f64) -> Scale {
    let (a, b) = (
        lo.log10().floor(),
        hi.log10().ceil().max(lo.log10().floor() + 1.0),
    );
    let decades = (b - a) as i32;
    // A log axis spans at most ~630 decades of f64; ticks at powers of ten only past a few,
    // and at most MAX_TICKS of them.
    let every = ((decades as usize) / MAX_TICKS + 1) as i32;
    let mults: &[f64] = if decades <= 3 {
        &[1.0, 2.0, 5.0]
    } else {
        &[1.0]
    };
    let mut ticks = Vec::new();
    for e in ((a as i32)..=(b as i32)).step_by(every as usize) {
        for &m in mults {
            let v = m * 10f64.powi(e);
            let p = v.log10();
            if p >= a - 1e-9 && p <= b + 1e-9 {
                ticks.push((p, compact(v)));
            }
        }
    }
    Scale {
        log: true,
        min: a,
        max: b,
        ticks,
    }
}

/// 1, 2 or 5 × 10ⁿ, the smallest not below `raw`.
fn nice_step(raw: f64) -> f64 {
    if raw.is_nan() || raw <= 0.0 || !raw.is_finite() {
        return 1.0;
    }
    let mag = 10f64.powf(raw.log10().floor());
    let f = raw / mag;
    let n = if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    };
    n * mag
}

fn label(v: f64, step: f64) -> String {
    if v.abs() < step * 1e-9 {
        return "0".into();
    }
    if v.abs() >= 1.0 && v == v.trunc() {
        return compact(v);
    }
    let decimals = (-step.log10().floor()).max(0.0) as usize;
    format!("{v:.decimals$}")
}

/// Short labels: 6144 → "6,144", 1.5e6 → "1.5M", 0.001 → "0.001", 0.0005 → "5e-4".
pub fn compact(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        let s = format!("{:.1}", v / 1e6);
        return format!("{}M", s.trim_end_matches(".0"));
    }
    if a >= 1e4 {
        let s = format!("{:.1}", v / 1e3);
        return format!("{}k", s.trim_end_matches(".0"));
    }
    if a >= 1.0 || a == 0.0 {
        if v == v.trunc() {
            return crate::model::format_count(v);
        }
        // A few significant digits: a tick at 10^3.5 reads 3,162, not 3162.2776601683795.
        let digits = (2 - a.log10().floor() as i32).max(0) as usize;
        let s = format!("{v:.digits$}");
        let s = if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        };
        return match s.parse::<f64>() {
            Ok(r) if r == r.trunc() => crate::model::format_count(r),
            _ => s,
        };
    }
    if a >= 0.001 {
        return format!("{v}");
    }
    let e = a.log10().floor() as i32;
    let m = v / 10f64.powi(e);
    if (m - m.round()).abs() < 1e-9 {
        format!("{}e{e}", m.round())
    } else {
        format!("{m:.1}e{e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn losses_spanning_decades_get_a_log_axis() {
        let s = for_values([0.0009, 0.35, 8.0].into_iter(), 5);
        assert!(s.log);
        assert_eq!((s.min, s.max), (-4.0, 1.0));
        let labels: Vec<&str> = s.ticks.iter().map(|t| t.1.as_str()).collect();
        assert_eq!(labels, vec!["1e-4", "0.001", "0.01", "0.1", "1", "10"]);
        assert_eq!(s.pos(0.01), Some(-2.0));
        assert_eq!(s.pos(0.0), None);
    }

    #[test]
    fn narrow_ranges_stay_linear_with_nice_ticks() {
        let s = for_values([0.5, 0.6, 0.9].into_iter(), 5);
        assert!(!s.log);
        let labels: Vec<&str> = s.ticks.iter().map(|t| t.1.as_str()).collect();
        assert_eq!(labels, vec!["0.5", "0.6", "0.7", "0.8", "0.9"]);
        let x = linear(0.0, 6144.0, 6);
        assert_eq!(
            x.ticks.iter().map(|t| t.1.as_str()).collect::<Vec<_>>(),
            vec!["0", "2,000", "4,000", "6,000"]
        );
    }

    #[test]
    fn degenerate_inputs_do_not_panic() {
        assert!(!for_values(std::iter::empty(), 5).ticks.is_empty());
        assert!(!for_values([1.0, 1.0].into_iter(), 5).ticks.is_empty());
        assert!(!for_values([f64::NAN].into_iter(), 5).ticks.is_empty());
        // Issue 13: a range whose width overflows never loops forever.
        let s = for_values([1e308, -1e308].into_iter(), 5);
        assert!(s.ticks.len() <= MAX_TICKS + 1);
        let s = linear(1e308, 1.7e308, 5);
        assert!(!s.ticks.is_empty() && s.ticks.len() <= MAX_TICKS + 1);
        assert!(!drawable(-1e308, 1e308));
        assert!(drawable(0.0, 1e300));
        let s = logarithmic(1e-300, 1e300);
        assert!(s.ticks.len() <= 2 * MAX_TICKS, "{}", s.ticks.len());
    }

    #[test]
    fn compact_labels() {
        assert_eq!(compact(6144.0), "6,144");
        assert_eq!(compact(1_500_000.0), "1.5M");
        assert_eq!(compact(25_000.0), "25k");
        assert_eq!(compact(0.0005), "5e-4");
        assert_eq!(compact(0.25), "0.25");
        assert_eq!(compact(3162.2776601683795), "3,162");
        assert_eq!(compact(31.622776601683795), "31.6");
    }
}
