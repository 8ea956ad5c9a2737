//! The significance test behind "clearly higher" and "significantly worse": a one-sided t-test
//! that the mean log-ratio d = ln(run ÷ reference) is above zero, over the run's own logged
//! points (reference interpolated at the same x).
//!
//! The noise variance of d is estimated from successive differences (von Neumann's mean square
//! successive difference, σ² = Σ(dᵢ₊₁ − dᵢ)² ÷ 2(n − 1)) rather than from the spread around the
//! mean: the gap between two loss curves usually drifts (one run keeps improving), and a plain
//! variance would count that drift as noise and hide a real difference. t = mean ÷ (σ ÷ √n),
//! n − 1 degrees of freedom, Student's t from statrs. The p-value is kept as its base-10
//! logarithm too: far in the tail `sf(t)` underflows to 0, so there the log comes from the
//! tail's leading term, ln sf(t) ≈ ln C + ((ν+1)/2 − 1) ln ν − ν ln t with
//! C = Γ((ν+1)/2) / (√(νπ) Γ(ν/2)) (the density integrated from t with 1 + t²/ν ≈ t²/ν).

use statrs::distribution::{ContinuousCDF, StudentsT};
use statrs::function::gamma::ln_gamma;

use crate::align::LogRatios;

/// A test result.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Test {
    /// Mean log-ratio (positive: the run is worse).
    pub mean_log_ratio: f64,
    /// One-sided p-value for "the run is worse" (0 when it underflows: see `log10_p`).
    pub p_value: f64,
    /// Its base-10 logarithm, finite even where `p_value` underflows; `None` when the noise
    /// estimate is zero (the log-ratio is a constant: no test can be made).
    pub log10_p: Option<f64>,
    /// Points used.
    pub n: usize,
}

/// Fewest points for a test: below this a p-value says nothing.
pub const MIN_POINTS: usize = 4;

/// Tests whether the numerator of the log-ratios `d` is above their denominator.
pub fn worse(d: &LogRatios) -> Option<Test> {
    let n = d.n();
    if n < MIN_POINTS {
        return None;
    }
    let mean = d.mean();
    let var = d.successive() / (2.0 * (n - 1) as f64);
    let (p_value, log10_p) = if var <= 0.0 {
        (if mean > 0.0 { 0.0 } else { 1.0 }, None)
    } else {
        let t = mean / (var / n as f64).sqrt();
        if !t.is_finite() {
            // statrs' incomplete beta asserts its argument is in [0, 1].
            return None;
        }
        let nu = (n - 1) as f64;
        let dist = StudentsT::new(0.0, 1.0, nu).ok()?;
        let p = dist.sf(t);
        let log10 = if p > 1e-290 {
            p.log10()
        } else {
            let ln_c = ln_gamma((nu + 1.0) / 2.0)
                - ln_gamma(nu / 2.0)
                - 0.5 * (nu * std::f64::consts::PI).ln();
            (ln_c + ((nu + 1.0) / 2.0 - 1.0) * nu.ln() - nu * t.ln()) / std::f64::consts::LN_10
        };
        (p, Some(log10))
    };
    Some(Test {
        mean_log_ratio: mean,
        p_value,
        log10_p,
        n,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test over points `(x, run, reference)`.
    fn worse_of(points: &[(f64, f64, f64)]) -> Option<Test> {
        worse(&LogRatios::of(points.iter().map(|p| (p.1, p.2))))
    }

    #[test]
    fn clear_gap_is_significant_and_equal_runs_are_not() {
        let worse_pts: Vec<_> = (0..20)
            .map(|i| (i as f64, 2.0 + 0.01 * (i % 3) as f64, 1.0))
            .collect();
        assert!(worse_of(&worse_pts).expect("test").p_value < 0.001);
        let equal: Vec<_> = (0..20)
            .map(|i| (i as f64, 1.0 + 0.01 * ((i % 2) as f64 - 0.5), 1.0))
            .collect();
        assert!(worse_of(&equal).expect("test").p_value > 0.05);
        assert!(worse_of(&equal[..3]).is_none(), "too few points");
    }

    #[test]
    fn tiny_p_values_keep_their_logarithm() {
        // 40 points with a clear gap and little noise: p underflows, its log does not.
        let pts: Vec<_> = (0..40)
            .map(|i| (i as f64, 500.0 * (1.0 + 0.01 * (i % 2) as f64), 1.0))
            .collect();
        let t = worse_of(&pts).expect("test");
        let log10 = t.log10_p.expect("noise is not zero");
        assert!(log10 < -50.0 && log10.is_finite(), "{log10}");
        // Where both are representable they agree.
        let pts: Vec<_> = (0..12)
            .map(|i| (i as f64, 1.2 + 0.05 * ((i * 7) % 5) as f64, 1.0))
            .collect();
        let t = worse_of(&pts).expect("test");
        assert!((t.p_value.log10() - t.log10_p.expect("log")).abs() < 1e-9);
    }

    #[test]
    fn a_drifting_gap_is_still_significant() {
        // The reference keeps improving while the run stalls: d grows steadily.
        let drift: Vec<_> = (0..12)
            .map(|i| (i as f64, 0.5, 0.01 / (1.0 + i as f64)))
            .collect();
        assert!(worse_of(&drift).expect("test").p_value < 1e-6);
    }
}
