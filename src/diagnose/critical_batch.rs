//! `critical-batch-size` (info): McCandlish et al. 2018, "An Empirical Model of Large-Batch
//! Training". With three or more batch sizes the fit over the whole sweep (`sweep`) is the one
//! finding; this module's two-point estimate is for a pair. To reach a fixed loss, steps S and samples E trade off as
//! (S/S_min − 1)(E/E_min − 1) = 1, so S(B) = S_min + E_min/B, and B_crit = E_min/S_min.
//!
//! Two runs at batches B₁ < B₂ reaching a common target loss (10% above the worse run's best
//! smoothed loss, see `align`) at S₁, S₂ steps give E_min = (S₁ − S₂)/(1/B₁ − 1/B₂),
//! S_min = S₁ − E_min/B₁.
//!
//! Both runs' loss logs must begin near step 0 (within two logging intervals), since steps to
//! the target count from there; a log that starts mid-run gives no finding.
//!
//! An estimate is reported only when both are positive; otherwise the
//! finding says what the data shows instead (S₂ ≈ S₁: the larger batch bought nothing per step —
//! update-limited, or its learning rate was not scaled, which the model assumes tuned).
//!
//! Where both runs log `grad_norm`, the simple noise scale B_simple = tr(Σ)/|G|² is estimated
//! from the two batch sizes (McCandlish App. A.1): |G|² ≈ (B₂|G_B₂|² − B₁|G_B₁|²)/(B₂ − B₁),
//! tr(Σ) ≈ (|G_B₁|² − |G_B₂|²)/(1/B₁ − 1/B₂), each averaged over loss levels both runs pass
//! (matching at equal loss, not equal step) before the ratio. The logged norm is the last step's
//! global pre-clip norm (adapter parameters only under LoRA), so this is approximate.

use super::{Context, derived, round_sig};
use crate::align::{Axis, Curve, ema};
use crate::model::{Finding, Key, Run, Severity, format_count as count, format_number as num};

/// Loss levels at which grad norms are matched.
const LEVELS: usize = 8;

/// Steps-to-target within this ratio count as "the larger batch bought no progress per step".
const STEPS_ALIKE: f64 = 0.8;

/// The median step gap between a run's logged losses: how precisely steps-to-target is known.
fn log_interval(run: &Run) -> f64 {
    let Some(loss) = run.loss() else { return 0.0 };
    let mut gaps: Vec<f64> = loss
        .points
        .iter()
        .zip(loss.points.iter().skip(1))
        .map(|(a, b)| b.step - a.step)
        .collect();
    gaps.sort_by(f64::total_cmp);
    gaps.get(gaps.len() / 2).copied().unwrap_or(0.0)
}

/// Whether a run's loss log begins near step 0 (within two logging intervals). Steps to the target
/// are counted from step 0; a log that starts mid-run (resumed, or an excerpt) cannot give them.
fn starts_near_zero(run: &Run) -> bool {
    let first = run
        .loss()
        .and_then(|s| s.points.first())
        .map_or(0.0, |p| p.step);
    first <= 2.0 * log_interval(run).max(1.0)
}

/// Checks every pair with different effective batches.
pub fn check(ctx: &Context<'_>, earlier: &[Finding]) -> Vec<Finding> {
    // Three or more batches: one fit over all of them instead of a finding per pair.
    if let Some(sweep) = ctx.sweep {
        return vec![sweep_finding(sweep)];
    }
    let mut out = Vec::new();
    for pair in &ctx.aligned.pairs {
        let (ra, rb) = ctx.pair_runs(pair);
        let Some((ba, bb)) = ctx.pair_num(pair, Key::EffectiveBatch) else {
            continue;
        };
        if ba == bb {
            continue;
        }
        let Some(t) = &pair.target else { continue };
        if !starts_near_zero(ra) || !starts_near_zero(rb) {
            continue;
        }
        // Two jobs (other data, another model): what one's batch bought over the other's is
        // not the batch's doing.
        if super::not_comparable::other_task(ra, rb, earlier) {
            continue;
        }
        // Order by batch: 1 = small, 2 = big.
        let ((b1, s1, r1), (b2, s2, r2)) = if ba < bb {
            ((ba, t.reference_steps, ra), (bb, t.run_steps, rb))
        } else {
            ((bb, t.run_steps, rb), (ba, t.reference_steps, ra))
        };
        let fit = |s1: f64, s2: f64| {
            let e_min = (s1 - s2) / (1.0 / b1 - 1.0 / b2);
            let s_min = s1 - e_min / b1;
            (e_min > 0.0 && s_min > 0.0).then_some((e_min, s_min, e_min / s_min))
        };
        // Steps-to-target are known to within one logging interval of each run.
        let (d1, d2) = (log_interval(r1), log_interval(r2));
        let spread: Vec<f64> = [(s1 - d1, s2 + d2), (s1 + d1, s2 - d2)]
            .into_iter()
            .map(|(a, b)| fit(a, b).map_or(f64::NAN, |f| f.2))
            .collect();
        // The interval the logging allows: each steps-to-target known to one logging interval.
        // A side the perturbed fits do not bound (no positive fit, or below one sample) is
        // said to be unbounded, not given a number.
        // Moving s1 down and s2 up narrows their gap and lowers the fit; the other way raises
        // it: the first is the low end, the second the high (NaN: no positive fit that way).
        let (lo, hi) = (spread[0], spread[1]);
        // How the estimate is stated: a value with its interval, an upper bound only, or no
        // number at all.
        let estimate = |b_crit: f64| {
            match (bounds_below(lo), hi.is_finite()) {
            // Both ends round alike: a range of one value is said as that value.
            (true, true) if lo.round() == hi.round() => format!(
                "≈ {} (still {} when each steps-to-target moves by one logging interval)",
                samples(b_crit.round()),
                num(lo.round())
            ),
            (true, true) => format!(
                "≈ {} (between {} and {} when each steps-to-target moves by one logging interval)",
                samples(b_crit.round()),
                num(lo.round()),
                num(hi.round())
            ),
            (false, true) => format!(
                "at most about {} (within one logging interval of each steps-to-target the data cannot bound it from below)",
                samples(hi.round().max(1.0))
            ),
            _ => "cannot be pinned down (one logging interval of either steps-to-target changes the fit completely)".to_string(),
        }
        };
        let mut evidence = vec![
            derived(
                "target_loss",
                t.loss,
                "10% above the worse run's best smoothed loss",
            ),
            derived(
                format!("steps_to_target[{}]", r1.label),
                s1,
                "first step where the smoothed loss reaches the target",
            ),
            derived(
                format!("steps_to_target[{}]", r2.label),
                s2,
                "first step where the smoothed loss reaches the target",
            ),
        ];
        let steps_alike = s2 >= s1 * STEPS_ALIKE;
        let central = fit(s1, s2);
        let mut summary = match central {
            Some((e_min, s_min, b_crit)) => {
                evidence.push(derived("S_min", s_min, "S₁ − E_min/B₁"));
                evidence.push(derived("E_min", e_min, "(S₁ − S₂)/(1/B₁ − 1/B₂)"));
                // The evidence says what the summary says: a value only when both ends are
                // bounded, and each bound the logging allows.
                let bounded_below = bounds_below(lo);
                if bounded_below && hi.is_finite() {
                    evidence.push(derived("B_crit", b_crit, "E_min ÷ S_min"));
                }
                if bounded_below {
                    evidence.push(derived(
                        "B_crit_low",
                        lo,
                        format!("the fit with {}'s steps-to-target one logging interval ({}) earlier and {}'s one ({}) later", r1.label, num(d1), r2.label, num(d2)),
                    ));
                }
                if hi.is_finite() {
                    evidence.push(derived(
                        "B_crit_high",
                        hi,
                        format!("the fit with {}'s steps-to-target one logging interval ({}) later and {}'s one ({}) earlier", r1.label, num(d1), r2.label, num(d2)),
                    ));
                }
                let reading = if steps_alike {
                    format!(
                        " The larger batch bought almost no progress per step ({} vs {} steps): both runs are update-limited, at or above the critical batch, and a smaller batch would reach the loss with fewer samples.",
                        count(s2.round()),
                        count(s1.round())
                    )
                } else {
                    String::new()
                };
                format!(
                    "Critical batch size {} at loss {}, from batches {} and {} reaching it in {} and {} steps. A two-point fit of McCandlish et al. 2018; it assumes each batch ran at its tuned learning rate.{reading}",
                    estimate(b_crit),
                    num(t.loss),
                    num(b1),
                    num(b2),
                    count(s1.round()),
                    count(s2.round())
                )
            }
            None if steps_alike => format!(
                "No critical batch size can be estimated: the {}-sample batch needed {} steps to reach loss {} and the {}-sample batch {} — the larger batch bought no progress per step (update-limited, or its learning rate was not scaled).",
                num(b2),
                count(s2.round()),
                num(t.loss),
                num(b1),
                count(s1.round())
            ),
            None => format!(
                "No critical batch size can be estimated from {} and {} steps to loss {} at batches {} and {}: the two-point fit gives a non-positive S_min or E_min.",
                num(s1.round()),
                num(s2.round()),
                num(t.loss),
                num(b1),
                num(b2)
            ),
        };
        if let Some((b_simple, levels)) = noise_scale(r1, b1, r2, b2) {
            evidence.push(derived(
                "B_simple",
                b_simple,
                format!(
                    "tr(Σ)/|G|² from grad_norm² of both runs matched at {levels} equal-loss levels"
                ),
            ));
            let bounds = central.and_then(|(_, _, b_crit)| fitted_range(b_crit, lo, hi));
            summary.push_str(&noise_sentence(b_simple, bounds));
        }
        out.push(Finding {
            id: "critical-batch-size",
            severity: Severity::Info,
            runs: vec![r1.label.clone(), r2.label.clone()],
            subject: None,
            summary,
            evidence,
            fix: None,
        });
    }
    out
}

/// The finding of a sweep: B_crit per target with its leave-one-out interval, how it moves as
/// the target falls, and what each swept batch costs in steps and samples.
fn sweep_finding(s: &super::sweep::Sweep) -> Finding {
    let interval = |f: &super::sweep::Fit| match (f.low, f.high) {
        (Some(lo), Some(hi)) => format!("{}–{}", num(sig2(lo)), num(sig2(hi))),
        (None, Some(hi)) => format!("below {}", num(sig2(hi))),
        (Some(lo), None) => format!("above {}", num(sig2(lo))),
        (None, None) => "not bounded by these runs".into(),
    };
    let per_target: Vec<String> = s
        .fits
        .iter()
        .map(|f| {
            format!(
                "loss {}: B_crit ≈ {} (interval {}), S_min ≈ {} steps, E_min ≈ {} samples",
                num(sig3(f.loss)),
                num(sig2(f.b_crit)),
                interval(f),
                count(f.s_min.round()),
                count(f.e_min.round())
            )
        })
        .collect();
    let last = s.fits.last().expect("a sweep has a fit");
    let first = &s.fits[0];
    let trend = if s.fits.len() > 1 {
        let dir = if last.b_crit > first.b_crit * 1.2 {
            "grows"
        } else if last.b_crit < first.b_crit / 1.2 {
            "shrinks"
        } else {
            "stays about the same"
        };
        format!(
            " As the target falls from {} to {}, B_crit {dir} ({} → {}; McCandlish et al. expect it to grow as the loss falls).",
            num(sig3(first.loss)),
            num(sig3(last.loss)),
            num(sig2(first.b_crit)),
            num(sig2(last.b_crit))
        )
    } else {
        String::new()
    };
    // The recommendation at the lowest target: swept batches within 2× of B_crit.
    let bc = last.b_crit;
    let cost = |b: f64| (1.0 + bc / b, 1.0 + b / bc);
    let near: Vec<f64> = last
        .reach
        .iter()
        .map(|r| r.batch)
        .filter(|&b| b >= bc / 2.0 && b <= bc * 2.0)
        .collect();
    let pick = if near.is_empty() {
        last.reach
            .iter()
            .map(|r| r.batch)
            .min_by(|a, b| (a / bc).ln().abs().total_cmp(&(b / bc).ln().abs()))
            .into_iter()
            .collect()
    } else {
        near
    };
    let (lo_b, hi_b) = (pick[0], pick[pick.len() - 1]);
    let (s_lo, e_lo) = cost(lo_b);
    let (s_hi, e_hi) = cost(hi_b);
    let batches = if lo_b == hi_b {
        format!("batch {}", num(lo_b))
    } else {
        format!("batches {}–{}", num(lo_b), num(hi_b))
    };
    let largest = last.reach.iter().map(|r| r.batch).fold(0.0f64, f64::max);
    let (s_big, e_big) = cost(largest);
    // "1.7–2.4×", or "1.2×" when one batch (or two that cost alike) is recommended.
    let range = |a: f64, b: f64| {
        let (lo, hi) = (format!("{:.1}", a.min(b)), format!("{:.1}", a.max(b)));
        if lo == hi {
            format!("{lo}×")
        } else {
            format!("{lo}–{hi}×")
        }
    };
    let verb = if lo_b == hi_b { "reaches" } else { "reach" };
    // The ratios are the fit's (1 + B_crit/B, 1 + B/B_crit): to its S_min and E_min, which no
    // run reaches, not to the fewest any run took; the text says so and gives both minimums.
    let recommendation = format!(
        " Recommendation: by the fit, {batches} {verb} loss {} in about {} the fitted minimum steps (S_min ≈ {}) and {} the fitted minimum samples (E_min ≈ {}); at {} it gives {:.1}× E_min for {:.2}× S_min.",
        num(sig3(last.loss)),
        range(s_lo, s_hi),
        count(last.s_min.round()),
        range(e_lo, e_hi),
        count(last.e_min.round()),
        num(largest),
        e_big,
        s_big
    );
    let left = if s.left_out.is_empty() {
        String::new()
    } else {
        let l: Vec<String> = s
            .left_out
            .iter()
            .map(|(drop, keep)| {
                format!(
                    "{drop} (same batch as {keep}, which reached the lowest target in fewer steps)"
                )
            })
            .collect();
        format!(
            " Left out, one run per batch at its best learning rate: {}.",
            l.join("; ")
        )
    };
    let mut evidence = Vec::new();
    for f in &s.fits {
        for r in &f.reach {
            evidence.push(derived(
                format!("steps_to_target[{}]@{}", r.run, num(sig3(f.loss))),
                r.steps,
                "where the smoothed loss (forward and backward EMA 0.6 per logged point, averaged) first reaches the target, between logged points",
            ));
        }
        evidence.push(derived(
            format!("B_crit@{}", num(sig3(f.loss))),
            f.b_crit,
            "least squares of ln S = ln S_min + ln(1 + B_crit/B) over the runs",
        ));
    }
    Finding {
        id: "critical-batch-size",
        severity: Severity::Info,
        runs: s.used.clone(),
        subject: None,
        summary: format!(
            "From {} batch sizes ({}), McCandlish et al. 2018's S(B) = S_min (1 + B_crit/B) fitted over all runs (intervals: leave-one-out, each steps-to-target moved by its logging interval, and a bootstrap over the runs): {}.{trend}{recommendation}{left} The model assumes each batch ran at its tuned learning rate.",
            s.fits[0].reach.len(),
            s.fits[0]
                .reach
                .iter()
                .map(|r| num(r.batch))
                .collect::<Vec<_>>()
                .join(", "),
            per_target.join("; ")
        ),
        evidence,
        fix: None,
    }
}

/// `x` to two significant digits.
fn sig2(x: f64) -> f64 {
    round_sig(x, 2)
}

/// `x` to three significant digits.
fn sig3(x: f64) -> f64 {
    round_sig(x, 3)
}

/// "1 sample", "32 samples".
fn samples(n: f64) -> String {
    if n == 1.0 {
        "1 sample".into()
    } else {
        format!("{} samples", num(n))
    }
}

/// Whether the low end of the fit's interval bounds the critical batch from below: a positive
/// fit of at least one sample (NaN: no positive fit that way).
fn bounds_below(lo: f64) -> bool {
    lo.is_finite() && lo >= 1.0
}

/// What the two-point fit says of the critical batch, as the lowest and highest values it
/// allows (rounded as the summary shows them): its estimate and the interval around it, or up to
/// the interval's top when nothing bounds it from below; `None` when it cannot be pinned down.
fn fitted_range(b_crit: f64, lo: f64, hi: f64) -> Option<(f64, f64)> {
    if !hi.is_finite() {
        return None;
    }
    if bounds_below(lo) {
        let b = b_crit.round();
        Some((lo.round().min(b), hi.round().max(b)))
    } else {
        Some((1.0, hi.round().max(1.0)))
    }
}

/// The noise scale's sentence, set beside the fit's range when there is one: in line with it
/// (within 2× of its ends: McCandlish et al. find the critical batch near the noise scale, and
/// B_simple from logged norms is rough), or not, and then the critical batch is said to lie
/// only somewhere between the two.
fn noise_sentence(b_simple: f64, fitted: Option<(f64, f64)>) -> String {
    let shown = b_simple.round().max(1.0);
    let said = format!(
        " Gradient noise scale from the logged grad norms: B_simple ≈ {}",
        num(shown)
    );
    let rough = "last-step pre-clip norms, matched at equal loss";
    match fitted {
        None => format!("{said} (approximate: {rough})."),
        Some((low, high)) if b_simple >= low / 2.0 && b_simple <= 2.0 * high => format!(
            "{said}, in line with the fit (McCandlish et al. find the critical batch near the noise scale; this one is approximate: {rough})."
        ),
        Some((low, high)) => {
            // Both estimates whole: from the lower one's bottom to the higher one's top.
            let side = if b_simple > high { "above" } else { "below" };
            let (from, to) = (low.min(shown), high.max(shown));
            format!(
                "{said}, well {side} what the steps give: the two estimates disagree, so the critical batch is known only to lie between {} and {}. Of the two, the fit (from the steps the runs took to the target) is the firmer; B_simple (from {rough}) the rougher.",
                num(from),
                samples(to)
            )
        }
    }
}

/// B_simple from grad norms of two runs at batches b1 < b2, matched at equal smoothed loss.
fn noise_scale(r1: &Run, b1: f64, r2: &Run, b2: f64) -> Option<(f64, usize)> {
    let prep = |r: &Run| -> Option<(Vec<f64>, Vec<f64>)> {
        let loss = Curve::of(&r.loss()?.points, Axis::Step);
        let gn = Curve::of(&r.series.get("grad_norm")?.points, Axis::Step);
        if loss.xs.len() < 3 || gn.xs.len() < 3 {
            return None;
        }
        let s = ema(
            &loss.xs,
            &loss.ys,
            0.6,
            (loss.xs[loss.xs.len() - 1] - loss.xs[0]) / 100.0,
        );
        let g2: Vec<f64> = loss
            .xs
            .iter()
            .map(|&x| crate::align::interpolate(&gn.xs, &gn.ys, x).map_or(f64::NAN, |g| g * g))
            .collect();
        Some((s, g2))
    };
    let (l1, g1) = prep(r1)?;
    let (l2, g2) = prep(r2)?;
    let lo = l1
        .iter()
        .copied()
        .fold(f64::INFINITY, f64::min)
        .max(l2.iter().copied().fold(f64::INFINITY, f64::min));
    let hi = l1[0].min(l2[0]);
    if !(lo > 0.0 && hi > lo) {
        return None;
    }
    let at_level = |l: &[f64], g: &[f64], level: f64| {
        l.iter()
            .position(|&v| v <= level)
            .map(|i| g[i])
            .filter(|v| v.is_finite())
    };
    let (mut sum1, mut sum2, mut n) = (0.0, 0.0, 0);
    for i in 1..LEVELS {
        let level = (lo.ln() + (hi.ln() - lo.ln()) * i as f64 / LEVELS as f64).exp();
        if let (Some(a), Some(b)) = (at_level(&l1, &g1, level), at_level(&l2, &g2, level)) {
            sum1 += a;
            sum2 += b;
            n += 1;
        }
    }
    if n < 3 {
        return None;
    }
    let (g_small, g_big) = (sum1 / n as f64, sum2 / n as f64);
    let g2_true = (b2 * g_big - b1 * g_small) / (b2 - b1);
    let tr_sigma = (g_small - g_big) / (1.0 / b1 - 1.0 / b2);
    (g2_true > 0.0 && tr_sigma > 0.0).then(|| (tr_sigma / g2_true, n))
}

#[cfg(test)]
mod tests {
    use super::{fitted_range, noise_sentence};

    #[test]
    fn the_fit_allows_its_estimate_and_interval_or_up_to_its_top() {
        assert_eq!(fitted_range(3.2, 2.6, 4.4), Some((3.0, 4.0)));
        // An estimate outside its rounded interval widens it.
        assert_eq!(fitted_range(5.0, 2.6, 4.4), Some((3.0, 5.0)));
        // Not bounded below: anything up to the top.
        assert_eq!(fitted_range(3.2, f64::NAN, 9.6), Some((1.0, 10.0)));
        assert_eq!(fitted_range(3.2, 0.4, 9.6), Some((1.0, 10.0)));
        assert_eq!(fitted_range(3.2, 2.0, f64::NAN), None);
    }

    #[test]
    fn the_noise_scale_is_set_beside_the_fit() {
        // Within 2× of the fit's ends: in line.
        let s = noise_sentence(7.6, Some((3.0, 4.0)));
        assert!(s.contains("B_simple ≈ 8, in line with the fit"), "{s}");
        let s = noise_sentence(1.6, Some((3.0, 4.0)));
        assert!(s.contains("B_simple ≈ 2, in line with the fit"), "{s}");
        // Further: the two disagree, and the critical batch lies between them.
        let s = noise_sentence(15.4, Some((3.0, 4.0)));
        assert!(
            s.contains("B_simple ≈ 15, well above what the steps give")
                && s.contains("known only to lie between 3 and 15 samples"),
            "{s}"
        );
        let s = noise_sentence(1.2, Some((30.0, 40.0)));
        assert!(
            s.contains("well below what the steps give") && s.contains("between 1 and 40 samples"),
            "{s}"
        );
        // No fit to set it beside: said alone.
        let s = noise_sentence(15.4, None);
        assert_eq!(
            s,
            " Gradient noise scale from the logged grad norms: B_simple ≈ 15 (approximate: last-step pre-clip norms, matched at equal loss)."
        );
    }
}
