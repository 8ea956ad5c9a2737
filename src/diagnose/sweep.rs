//! `critical-batch-size` from a sweep (info): with three or more runs at different effective
//! batches on the same data, the critical batch is fitted over all of them.
//!
//! Method (McCandlish, Kaplan, Amodei 2018, "An Empirical Model of Large-Batch Training",
//! arXiv 1812.06162): to reach a fixed loss, steps S and samples E = S·B trade off as
//! (S/S_min − 1)(E/E_min − 1) = 1, i.e. S(B) = S_min (1 + B_crit/B) and
//! E(B) = E_min (1 + B/B_crit), with B_crit = E_min / S_min.
//!
//! - **Targets**: [`TARGETS`] losses, log-spaced between half the lowest starting loss and the
//!   lowest loss every run reaches (×1.1). Steps-to-target S_i(τ) is where the run's smoothed
//!   loss first reaches τ, interpolated between logged points, with the smoothing every
//!   steps-to-target in losscmp uses ([`crate::align::target_smoothing`]: forward and backward
//!   EMAs of weight 0.6 per logged point, averaged, so one noisy dip does not count and the
//!   crossing does not lag); E_i = S_i · B_i.
//! - **One run per batch**: several runs at one batch (a learning-rate sweep) contribute the
//!   one with the fewest steps to the lowest target — the best learning rate for that batch
//!   (the model assumes each batch runs at its tuned learning rate) — and the finding says so.
//! - **Fit**: least squares in log space, Σᵢ (ln Sᵢ − ln S_min − ln(1 + B_crit/Bᵢ))², over a
//!   log grid of B_crit (ln S_min is the mean residual for each B_crit), refined around the best.
//! - **Interval**: the range of B_crit over the leave-one-out fits (the fit repeated without
//!   each run) and over fits with every steps-to-target moved by its run's logging interval
//!   (all later, all earlier, the smaller half later and the larger earlier, and the reverse):
//!   the runs' spread and the logging's resolution; and the central 95% of a bootstrap over the
//!   runs ([`BOOTSTRAP`] resamples with a fixed seed). A side that any of those fits pushes to
//!   the grid's edge is said to be unbounded.
//! - **Reading**: per swept batch, steps and samples relative to the fewest, 1 + B_crit/B and
//!   1 + B/B_crit; the recommendation names the swept batches within 2× of B_crit and the cost of
//!   the largest.

use crate::align::{Crossing, target_smoothing};
use crate::model::{Key, Run};
use rayon::prelude::*;

/// Target losses per sweep.
pub const TARGETS: usize = 4;
/// Fewest distinct batches for a fit.
pub const MIN_BATCHES: usize = 3;
/// Bootstrap resamples of the runs for the interval.
const BOOTSTRAP: usize = 400;

/// One swept run at one target.
#[derive(Debug, Clone, PartialEq)]
pub struct Reach {
    /// The run's label.
    pub run: String,
    /// Its effective batch.
    pub batch: f64,
    /// Steps and samples to the target.
    pub steps: f64,
    pub samples: f64,
    /// How precisely the steps are known: the run's median logging interval, in steps.
    pub resolution: f64,
}

/// The fit at one target loss.
#[derive(Debug, Clone, PartialEq)]
pub struct Fit {
    /// The target loss.
    pub loss: f64,
    /// Each run's steps and samples to it.
    pub reach: Vec<Reach>,
    /// The fitted critical batch, fewest steps and fewest samples.
    pub b_crit: f64,
    pub s_min: f64,
    pub e_min: f64,
    /// The leave-one-out range of B_crit; `None` on a side the data does not bound.
    pub low: Option<f64>,
    pub high: Option<f64>,
}

/// A sweep: the runs used (one per batch), those left out (another learning rate at the same
/// batch), and the fit per target, highest target first.
#[derive(Debug, Clone, PartialEq)]
pub struct Sweep {
    pub used: Vec<String>,
    pub left_out: Vec<(String, String)>,
    pub fits: Vec<Fit>,
}

/// A run's loss by step as logged (finite, positive points only), smoothed as every
/// steps-to-target is ([`target_smoothing`]).
fn smoothed_loss(run: &Run) -> Option<(Vec<f64>, Vec<f64>)> {
    let s = run.loss()?;
    let (xs, ys): (Vec<f64>, Vec<f64>) = s
        .points
        .iter()
        .filter(|p| p.value.is_finite() && p.value > 0.0)
        .map(|p| (p.step, p.value))
        .unzip();
    (xs.len() >= 3).then(|| (xs, target_smoothing(&ys)))
}

/// The first step where the smoothed loss `ys` reaches `target`, between logged points.
fn first_below(xs: &[f64], ys: &[f64], target: f64) -> Option<f64> {
    Some(Crossing::of(ys, target)?.at(xs))
}

/// Least squares in log space over B_crit; returns (B_crit, S_min, sum of squares), or `None`
/// when the best B_crit sits on the grid's edge (the data does not bound it).
pub fn fit(points: &[(f64, f64)]) -> Option<(f64, f64, f64, bool)> {
    if points.len() < 2 || points.iter().any(|(b, s)| !(*b > 0.0 && *s > 0.0)) {
        return None;
    }
    let (bmin, bmax) = points
        .iter()
        .fold((f64::INFINITY, 0.0f64), |(lo, hi), (b, _)| {
            (lo.min(*b), hi.max(*b))
        });
    // ln S of each point, taken once: the search below evaluates the sum of squares some 700
    // times.
    let ln_s: Vec<f64> = points.iter().map(|(_, s)| s.ln()).collect();
    let mut r: Vec<f64> = Vec::with_capacity(points.len());
    let mut sse = |bc: f64| {
        r.clear();
        r.extend(
            points
                .iter()
                .zip(&ln_s)
                .map(|((b, _), ln_s)| ln_s - (1.0 + bc / b).ln()),
        );
        let ln_smin = r.iter().sum::<f64>() / r.len() as f64;
        let e = r.iter().map(|x| (x - ln_smin).powi(2)).sum::<f64>();
        (e, ln_smin.exp())
    };
    // A log grid three decades either side of the swept batches.
    let (lo, hi) = ((bmin / 1000.0).ln(), (bmax * 1000.0).ln());
    const N: usize = 600;
    let grid = |i: usize| (lo + (hi - lo) * i as f64 / N as f64).exp();
    let best = (0..=N)
        .map(|i| (i, sse(grid(i)).0))
        .min_by(|a, b| a.1.total_cmp(&b.1))?
        .0;
    let edge = best == 0 || best == N;
    // Refine by golden-section search between the neighbours.
    let (mut a, mut b) = (
        grid(best.saturating_sub(1)).ln(),
        grid((best + 1).min(N)).ln(),
    );
    let g = (5f64.sqrt() - 1.0) / 2.0;
    for _ in 0..60 {
        let (c, d) = (b - g * (b - a), a + g * (b - a));
        if sse(c.exp()).0 < sse(d.exp()).0 {
            b = d;
        } else {
            a = c;
        }
    }
    let bc = ((a + b) / 2.0).exp();
    let (e, s_min) = sse(bc);
    Some((bc, s_min, e, edge))
}

/// The distinct batch sizes among `batches`, in order.
fn distinct(batches: impl Iterator<Item = f64>) -> Vec<f64> {
    let mut batches: Vec<f64> = batches.collect();
    batches.sort_by(f64::total_cmp);
    batches.dedup();
    batches
}

/// Fits a sweep of runs, or `None` when fewer than [`MIN_BATCHES`] distinct batches reach
/// common targets.
pub fn analyse(runs: &[Run]) -> Option<Sweep> {
    // Fewer batch sizes than a sweep needs among the runs that state one: no sweep, and no
    // curve smoothed to find that out.
    let stated = distinct(
        runs.iter()
            .filter_map(|r| r.config.num(Key::EffectiveBatch)),
    );
    if stated.len() < MIN_BATCHES {
        return None;
    }
    // (run, batch, smoothed curve) for runs with a known batch and a loss from near step 0,
    // smoothed on every core.
    let cands: Vec<(&Run, f64, Vec<f64>, Vec<f64>)> = runs
        .par_iter()
        .filter_map(|r| {
            let b = r.config.num(Key::EffectiveBatch)?;
            let (xs, ys) = smoothed_loss(r)?;
            // Steps count from 0: a log that starts mid-run cannot give them.
            let interval = (xs[xs.len() - 1] - xs[0]) / (xs.len() - 1) as f64;
            (xs[0] <= 2.0 * interval.max(1.0)).then_some((r, b, xs, ys))
        })
        .collect();
    let batches = distinct(cands.iter().map(|c| c.1));
    if batches.len() < MIN_BATCHES {
        return None;
    }
    // Targets every candidate reaches.
    let reach_low = cands
        .iter()
        .map(|c| c.3.iter().copied().fold(f64::INFINITY, f64::min))
        .fold(0.0f64, f64::max)
        * 1.1;
    let reach_high = cands.iter().map(|c| c.3[0]).fold(f64::INFINITY, f64::min) * 0.9;
    if !(reach_high > reach_low && reach_low > 0.0) {
        return None;
    }
    let targets: Vec<f64> = (0..TARGETS)
        .map(|i| {
            let t = i as f64 / (TARGETS - 1) as f64;
            (reach_high.ln() + (reach_low.ln() - reach_high.ln()) * t).exp()
        })
        .collect();
    let lowest = targets[TARGETS - 1];
    // One run per batch: the fewest steps to the lowest target (the best learning rate).
    let to_lowest = |c: &(&Run, f64, Vec<f64>, Vec<f64>)| {
        first_below(&c.2, &c.3, lowest).unwrap_or(f64::INFINITY)
    };
    let mut left_out = Vec::new();
    let mut best: Vec<(&Run, f64, Vec<f64>, Vec<f64>)> = Vec::new();
    for &b in &batches {
        let mut at: Vec<_> = cands.iter().filter(|c| c.1 == b).cloned().collect();
        at.sort_by(|x, y| to_lowest(x).total_cmp(&to_lowest(y)));
        let mut at = at.into_iter();
        let Some(winner) = at.next() else { continue };
        for other in at {
            left_out.push((other.0.label.clone(), winner.0.label.clone()));
        }
        best.push(winner);
    }
    // Each target's fits (hundreds, for the bootstrap) on their own thread.
    let fits: Vec<Fit> = targets
        .par_iter()
        .filter_map(|&loss| {
            let reach: Vec<Reach> = best
                .iter()
                .filter_map(|(r, b, xs, ys)| {
                    let s = first_below(xs, ys, loss)?;
                    let mut gaps: Vec<f64> = xs.windows(2).map(|w| w[1] - w[0]).collect();
                    gaps.sort_by(f64::total_cmp);
                    Some(Reach {
                        run: r.label.clone(),
                        batch: *b,
                        steps: s,
                        samples: s * b,
                        resolution: gaps.get(gaps.len() / 2).copied().unwrap_or(0.0),
                    })
                })
                .collect();
            if reach.len() < MIN_BATCHES {
                return None;
            }
            let pts: Vec<(f64, f64)> = reach.iter().map(|r| (r.batch, r.steps)).collect();
            let (b_crit, s_min, _, edge) = fit(&pts)?;
            // Leave-one-out fits, and fits with every steps-to-target moved within its logging
            // interval (all later, all earlier, small batches later and large earlier, and the
            // reverse): the interval covers both the runs' spread and the logging's resolution.
            let mut loo: Vec<Option<(f64, bool)>> = (0..pts.len())
                .map(|i| {
                    let rest: Vec<(f64, f64)> = pts
                        .iter()
                        .enumerate()
                        .filter(|(j, _)| *j != i)
                        .map(|(_, p)| *p)
                        .collect();
                    fit(&rest).map(|(bc, _, _, e)| (bc, e))
                })
                .collect();
            let half = pts.len() / 2;
            for signs in [[1.0, 1.0], [-1.0, -1.0], [1.0, -1.0], [-1.0, 1.0]] {
                let moved: Vec<(f64, f64)> = reach
                    .iter()
                    .enumerate()
                    .map(|(i, r)| {
                        let sign = if i < half { signs[0] } else { signs[1] };
                        (r.batch, (r.steps + sign * r.resolution).max(r.steps * 0.5))
                    })
                    .collect();
                loo.push(fit(&moved).map(|(bc, _, _, e)| (bc, e)));
            }
            // A bootstrap over the runs (resampled with replacement, a fixed seed so the report
            // is the same every time): its central 95% joins the range.
            let mut boot: Vec<f64> = Vec::new();
            let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
            let mut next = || {
                seed = seed
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                (seed >> 33) as usize
            };
            for _ in 0..BOOTSTRAP {
                let sample: Vec<(f64, f64)> =
                    (0..pts.len()).map(|_| pts[next() % pts.len()]).collect();
                let mut distinct: Vec<f64> = sample.iter().map(|p| p.0).collect();
                distinct.sort_by(f64::total_cmp);
                distinct.dedup();
                if distinct.len() < MIN_BATCHES {
                    continue;
                }
                if let Some((bc, _, _, false)) = fit(&sample) {
                    boot.push(bc);
                }
            }
            boot.sort_by(f64::total_cmp);
            if boot.len() >= 20 {
                let at = |q: f64| boot[((boot.len() - 1) as f64 * q).round() as usize];
                loo.push(Some((at(0.025), false)));
                loo.push(Some((at(0.975), false)));
            }
            let unbounded = edge || loo.iter().any(|f| f.is_none_or(|(_, e)| e));
            let vals: Vec<f64> = loo
                .iter()
                .flatten()
                .map(|(bc, _)| *bc)
                .chain([b_crit])
                .collect();
            let (lo, hi) = vals
                .iter()
                .fold((f64::INFINITY, 0.0f64), |(a, b), v| (a.min(*v), b.max(*v)));
            let (bmin, bmax) = (batches[0], batches[batches.len() - 1]);
            Some(Fit {
                loss,
                reach,
                b_crit,
                s_min,
                e_min: b_crit * s_min,
                low: (!unbounded || lo > bmin / 1000.0 * 1.01).then_some(lo),
                high: (!unbounded || hi < bmax * 1000.0 / 1.01).then_some(hi),
            })
        })
        .collect();
    if fits.is_empty() {
        return None;
    }
    Some(Sweep {
        used: best.iter().map(|b| b.0.label.clone()).collect(),
        left_out,
        fits,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fit_recovers_a_known_critical_batch() {
        // S(B) = 100 (1 + 8/B), with 3% noise alternating in sign.
        let pts: Vec<(f64, f64)> = [2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0]
            .iter()
            .enumerate()
            .map(|(i, &b)| {
                (
                    b,
                    100.0 * (1.0 + 8.0 / b) * if i % 2 == 0 { 1.03 } else { 0.97 },
                )
            })
            .collect();
        let (bc, s_min, _, edge) = fit(&pts).expect("fits");
        assert!(!edge);
        assert!((bc / 8.0 - 1.0).abs() < 0.15, "B_crit {bc}");
        assert!((s_min / 100.0 - 1.0).abs() < 0.05, "S_min {s_min}");
    }

    #[test]
    fn batches_all_far_above_critical_leave_the_low_side_unbounded() {
        // Every batch takes the same steps: B_crit ≪ every batch.
        let pts = [(16.0, 50.0), (64.0, 50.0), (128.0, 50.0)];
        let (_, _, _, edge) = fit(&pts).expect("fits");
        assert!(edge, "the data cannot bound B_crit from below");
    }
}
