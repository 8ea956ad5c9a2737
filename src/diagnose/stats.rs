//! The significance test behind "clearly higher" and "significantly worse": a one-sided t-test
//! that the mean log-ratio d = ln(run ÷ reference) is above zero, over the run's own logged
//! points (reference interpolated at the same x).
//!
//! The noise variance of d is estimated from successive differences (von Neumann's mean square
//! successive difference, σ² = Σ(dᵢ₊₁ − dᵢ)² ÷ 2(n − 1)) rather than from the spread around the
//! mean: the gap between two loss curves usually drifts (one run keeps improving), and a plain
//! variance would count that drift as noise and hide a real difference. t = mean ÷ (σ ÷ √n),
//! n − 1 degrees of freedom, Student's t from statrs.

use statrs::distribution::{ContinuousCDF, StudentsT};

/// A test result.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Test {
    /// Mean log-ratio (positive: the run is worse).
    pub mean_log_ratio: f64,
    /// One-sided p-value for "the run is worse".
    pub p_value: f64,
    /// Points used.
    pub n: usize,
}

/// Fewest points for a test: below this a p-value says nothing.
pub const MIN_POINTS: usize = 4;

/// Tests whether `run` is above `reference` over the paired points `(x, run, reference)`.
pub fn worse(paired: &[(f64, f64, f64)]) -> Option<Test> {
    let d: Vec<f64> = paired
        .iter()
        .filter(|p| p.1 > 0.0 && p.2 > 0.0)
        .map(|p| (p.1 / p.2).ln())
        .collect();
    let n = d.len();
    if n < MIN_POINTS {
        return None;
    }
    let mean = d.iter().sum::<f64>() / n as f64;
    let var = d.windows(2).map(|w| (w[1] - w[0]).powi(2)).sum::<f64>() / (2.0 * (n - 1) as f64);
    let p_value = if var <= 0.0 {
        if mean > 0.0 { 0.0 } else { 1.0 }
    } else {
        let t = mean / (var / n as f64).sqrt();
        let dist = StudentsT::new(0.0, 1.0, (n - 1) as f64).ok()?;
        1.0 - dist.cdf(t)
    };
    Some(Test {
        mean_log_ratio: mean,
        p_value,
        n,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clear_gap_is_significant_and_equal_runs_are_not() {
        let worse_pts: Vec<_> = (0..20)
            .map(|i| (i as f64, 2.0 + 0.01 * (i % 3) as f64, 1.0))
            .collect();
        assert!(worse(&worse_pts).expect("test").p_value < 0.001);
        let equal: Vec<_> = (0..20)
            .map(|i| (i as f64, 1.0 + 0.01 * ((i % 2) as f64 - 0.5), 1.0))
            .collect();
        assert!(worse(&equal).expect("test").p_value > 0.05);
        assert!(worse(&equal[..3]).is_none(), "too few points");
    }

    #[test]
    fn a_drifting_gap_is_still_significant() {
        // The reference keeps improving while the run stalls: d grows steadily.
        let drift: Vec<_> = (0..12)
            .map(|i| (i as f64, 0.5, 0.01 / (1.0 + i as f64)))
            .collect();
        assert!(worse(&drift).expect("test").p_value < 1e-6);
    }
}
