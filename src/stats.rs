//! Statistics for noisy outputs: Wilson score intervals for pass rates,
//! McNemar's exact test for paired pass/fail outcomes, and a paired t-test for
//! paired scores.
//!
//! statrs supplies the distributions (Binomial, Student's t); it has no Wilson
//! interval, McNemar or paired t-test, so those few formulas are written here
//! on top of it. Formulas: Wilson (1927), "Probable inference, the law of
//! succession, and statistical inference", JASA 22; McNemar (1947),
//! Psychometrika 12, exact form as the two-sided binomial (sign) test.

use statrs::distribution::{Binomial, ContinuousCDF, DiscreteCDF, StudentsT};

/// z for a two-sided 95% interval (the 0.975 quantile of the standard normal).
pub const Z95: f64 = 1.959_963_984_540_054;

/// A closed interval `[low, high]` of proportions in [0, 1].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Interval {
    /// Lower bound, in [0, 1].
    pub low: f64,
    /// Upper bound, in [0, 1].
    pub high: f64,
}

/// Wilson score interval at 95% for `k` successes out of `n` trials.
///
/// centre = (p̂ + z²/2n) / (1 + z²/n); half = z·√(p̂(1−p̂)/n + z²/4n²) / (1 + z²/n).
/// For `n == 0` the interval is the whole of [0, 1] (nothing is known).
/// Example: 45/50 → (0.7864, 0.9565). `k > n` is clamped to `n`.
pub fn wilson(k: u64, n: u64) -> Interval {
    wilson_z(k, n, Z95)
}

/// Wilson score interval with an explicit `z` (e.g. 2.5758 for 99%).
pub fn wilson_z(k: u64, n: u64, z: f64) -> Interval {
    if n == 0 {
        return Interval { low: 0.0, high: 1.0 };
    }
    let n_f = n as f64;
    let p = k.min(n) as f64 / n_f;
    let z2 = z * z;
    let denom = 1.0 + z2 / n_f;
    let centre = (p + z2 / (2.0 * n_f)) / denom;
    let half = z * (p * (1.0 - p) / n_f + z2 / (4.0 * n_f * n_f)).sqrt() / denom;
    Interval {
        low: (centre - half).max(0.0),
        high: (centre + half).min(1.0),
    }
}

/// McNemar's exact two-sided test on paired binary outcomes.
///
/// `b` = cases the baseline passed and the candidate failed, `c` = the reverse.
/// p = min(1, 2·P[X ≤ min(b, c)]) with X ~ Binomial(b + c, ½). With no
/// discordant pairs (b = c = 0) there is no evidence of a difference: p = 1.
/// Examples: b=10, c=2 → p ≈ 0.0386; b=5, c=5 → p = 1.
pub fn mcnemar_exact(b: u64, c: u64) -> f64 {
    let n = b + c;
    if n == 0 {
        return 1.0;
    }
    // Binomial::new only fails for p outside [0, 1]; 0.5 is always valid.
    let dist = Binomial::new(0.5, n).expect("p = 0.5 is a valid probability");
    (2.0 * dist.cdf(b.min(c))).min(1.0)
}

/// Result of a paired t-test on per-case score differences (candidate − baseline).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PairedT {
    /// Number of pairs.
    pub n: usize,
    /// Mean of the differences (candidate − baseline), in the score's units.
    pub mean_diff: f64,
    /// The t statistic, mean(d) / (sd(d)/√n); 0 when every difference is equal to 0.
    pub t: f64,
    /// Two-sided p-value from Student's t with n − 1 degrees of freedom.
    pub p_value: f64,
}

/// The fewest pairs [`paired_t`] tests (3).
pub const PAIRED_T_MIN_PAIRS: usize = 3;

/// Paired t-test: t = mean(d)/(sd(d)/√n), df = n − 1, two-sided p from statrs'
/// `StudentsT`. Returns `None` (no test: not enough pairs) for fewer than
/// [`PAIRED_T_MIN_PAIRS`] pairs: with one degree of freedom the variance
/// estimate is too weak to decide anything, and two identical differences
/// would otherwise count as a certain shift.
/// When every difference is identical (n ≥ 3) the test is degenerate: p = 1
/// when the common difference is 0, else p = 0 (a constant, non-zero shift
/// over at least three pairs).
pub fn paired_t(diffs: &[f64]) -> Option<PairedT> {
    let n = diffs.len();
    if n < PAIRED_T_MIN_PAIRS {
        return None;
    }
    let n_f = n as f64;
    let mean = diffs.iter().sum::<f64>() / n_f;
    let var = diffs.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / (n_f - 1.0);
    let sd = var.sqrt();
    if sd <= f64::EPSILON * mean.abs().max(1.0) {
        let p_value = if mean.abs() <= f64::EPSILON { 1.0 } else { 0.0 };
        return Some(PairedT {
            n,
            mean_diff: mean,
            t: 0.0,
            p_value,
        });
    }
    let t = mean / (sd / n_f.sqrt());
    let dist = StudentsT::new(0.0, 1.0, n_f - 1.0).ok()?;
    let p_value = (2.0 * (1.0 - dist.cdf(t.abs()))).clamp(0.0, 1.0);
    Some(PairedT {
        n,
        mean_diff: mean,
        t,
        p_value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn wilson_matches_the_reference_example() {
        let i = wilson(45, 50);
        assert!(close(i.low, 0.7864, 1e-4), "{i:?}");
        assert!(close(i.high, 0.9565, 1e-4), "{i:?}");
    }

    #[test]
    fn wilson_edges() {
        assert_eq!(wilson(0, 0), Interval { low: 0.0, high: 1.0 });
        let all = wilson(5, 5);
        assert!(all.high == 1.0 && all.low > 0.5 && all.low < 0.6, "{all:?}");
        let none = wilson(0, 5);
        assert!(none.low == 0.0 && none.high < 0.5, "{none:?}");
        let i = wilson(3, 5);
        assert!(close(i.low, 0.2307, 1e-4) && close(i.high, 0.8824, 1e-4), "{i:?}");
    }

    #[test]
    fn mcnemar_matches_known_values() {
        assert!(close(mcnemar_exact(10, 2), 0.0386, 1e-4), "{}", mcnemar_exact(10, 2));
        assert_eq!(mcnemar_exact(5, 5), 1.0);
        assert_eq!(mcnemar_exact(0, 0), 1.0);
        assert!(close(mcnemar_exact(2, 10), mcnemar_exact(10, 2), 1e-12));
        // 6 vs 0: 2 · 0.5^6 = 0.03125
        assert!(close(mcnemar_exact(6, 0), 0.03125, 1e-12));
    }

    #[test]
    fn paired_t_known_value() {
        // d = [1, 2, 3, 4, 5]: mean 3, sd 1.5811, t = 4.2426, df 4, p ≈ 0.01324
        let r = paired_t(&[1.0, 2.0, 3.0, 4.0, 5.0]).unwrap();
        assert!(close(r.t, 4.2426, 1e-4), "{r:?}");
        assert!(close(r.p_value, 0.01324, 1e-4), "{r:?}");
        assert!(paired_t(&[0.3]).is_none());
        assert_eq!(paired_t(&[0.0, 0.0, 0.0]).unwrap().p_value, 1.0);
        // Two pairs are not enough for a test, even with a constant shift.
        assert!(paired_t(&[-0.1, -0.1]).is_none());
        assert!(paired_t(&[-0.1, -0.3]).is_none());
        assert_eq!(paired_t(&[-0.1, -0.1, -0.1]).unwrap().p_value, 0.0);
    }
}
