//! Comparison of a candidate run with a baseline run (the active prompt
//! versions) on the same cases: per suite, the cases that newly fail and newly
//! pass, the pass rates with Wilson 95% intervals, McNemar's exact test on the
//! paired pass/fail outcomes, and for each named score metric the mean
//! difference with a paired t-test.
//!
//! Cases are paired by suite, test, prompt name and provider; only pairs where
//! both runs reached a verdict (pass or fail) count: an error is no outcome.
//! Formulas and sources are in [`crate::stats`].
//!
//! The comparison is computed after the run, from the finished cases, and
//! rendered by [`Comparison::console`] (a table), [`Comparison::markdown`]
//! (for `$GITHUB_STEP_SUMMARY`) and [`Comparison::junit_properties`]
//! (`render.rs`); reporters and the runner are not involved.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::Serialize;

use crate::result::{CaseResult, Verdict};
use crate::stats::{self, Interval};

mod render;

pub use render::fmt_p;

/// A metric's paired comparison over the cases where both runs have it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricComparison {
    /// The metric's name (`metric:` on assertions).
    pub name: String,
    /// Pairs with a value in both runs.
    pub n: usize,
    /// Mean in the baseline, in [0, 1].
    pub baseline_mean: f64,
    /// Mean in the candidate, in [0, 1].
    pub candidate_mean: f64,
    /// Mean of candidate − baseline.
    pub mean_diff: f64,
    /// Two-sided p of the paired t-test; none (not enough pairs, never a
    /// regression nor an improvement) for fewer than three pairs.
    pub p_value: Option<f64>,
}

/// One suite's comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SuiteComparison {
    /// The suite.
    pub suite: String,
    /// Paired cases with a verdict in both runs.
    pub pairs: usize,
    /// Baseline passes among the pairs.
    pub baseline_passed: usize,
    /// Candidate passes among the pairs.
    pub candidate_passed: usize,
    /// Wilson 95% interval of the baseline pass rate.
    pub baseline_interval: Interval,
    /// Wilson 95% interval of the candidate pass rate.
    pub candidate_interval: Interval,
    /// Cases the baseline passed and the candidate fails (McNemar's b).
    pub newly_failing: Vec<String>,
    /// Cases the baseline failed and the candidate passes (McNemar's c).
    pub newly_passing: Vec<String>,
    /// McNemar's exact two-sided p on (b, c).
    pub mcnemar_p: f64,
    /// Score metrics.
    pub metrics: Vec<MetricComparison>,
    /// The suite's own significance level (`gate: {alpha}` in the suite), if set.
    pub alpha: Option<f64>,
}

impl SuiteComparison {
    /// Why the candidate is significantly worse, if it is: at the suite's own
    /// `alpha` when it sets one, else at `default_alpha`.
    pub fn regression(&self, default_alpha: f64) -> Option<String> {
        let alpha = self.alpha.unwrap_or(default_alpha);
        let (b, c) = (self.newly_failing.len(), self.newly_passing.len());
        if b > c && self.mcnemar_p < alpha {
            return Some(format!(
                "{}: pass rate fell from {}/{} to {}/{} (McNemar exact p = {} < {alpha})",
                self.suite,
                self.baseline_passed,
                self.pairs,
                self.candidate_passed,
                self.pairs,
                fmt_p(self.mcnemar_p)
            ));
        }
        self.metrics.iter().find_map(|m| {
            let p = m.p_value?;
            (m.mean_diff < 0.0 && p < alpha).then(|| {
                format!(
                    "{}: metric {} fell by {:.3} (paired t-test p = {} < {alpha})",
                    self.suite,
                    m.name,
                    -m.mean_diff,
                    fmt_p(p)
                )
            })
        })
    }

    /// Whether the candidate is significantly better (alpha as in [`SuiteComparison::regression`]).
    pub fn improved(&self, default_alpha: f64) -> bool {
        let alpha = self.alpha.unwrap_or(default_alpha);
        let (b, c) = (self.newly_failing.len(), self.newly_passing.len());
        (c > b && self.mcnemar_p < alpha)
            || self
                .metrics
                .iter()
                .any(|m| m.mean_diff > 0.0 && m.p_value.is_some_and(|p| p < alpha))
    }
}

/// The comparison of a whole run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// What the baseline is (`production: rag_system@1`).
    pub baseline: String,
    /// Per suite, in the order suites first appear in the candidate run.
    pub suites: Vec<SuiteComparison>,
}

type Key = (String, String, String, String);

/// A (baseline, candidate) pair of one case.
type Pair<'a> = (&'a Arc<CaseResult>, &'a Arc<CaseResult>);

fn key(c: &CaseResult) -> Key {
    (c.suite.clone(), c.name.clone(), c.prompt.clone(), c.provider.clone())
}

fn outcome(v: Verdict) -> Option<bool> {
    match v {
        Verdict::Pass => Some(true),
        Verdict::Fail => Some(false),
        Verdict::Error | Verdict::Skipped => None,
    }
}

/// The candidate's cases whose comparison was lost to an error: the paired
/// baseline case (or the candidate case itself) errored, so the pair has no
/// outcome. A comparison with such cases is incomplete: a regression could
/// hide in them, so the gate treats it as no verdict (fail closed).
pub fn lost_to_errors(baseline: &[Arc<CaseResult>], candidate: &[Arc<CaseResult>]) -> Vec<String> {
    let base: BTreeMap<Key, &Arc<CaseResult>> = baseline.iter().map(|c| (key(c), c)).collect();
    let mut out: Vec<String> = candidate
        .iter()
        .filter(|c| c.verdict != Verdict::Skipped)
        .filter(|c| c.verdict == Verdict::Error || base.get(&key(c)).is_some_and(|b| b.verdict == Verdict::Error))
        .map(|c| c.full_name())
        .collect();
    out.sort();
    out
}

/// Compares `candidate` with `baseline` (both one run's cases).
pub fn compare(baseline_label: &str, baseline: &[Arc<CaseResult>], candidate: &[Arc<CaseResult>]) -> Comparison {
    let base: BTreeMap<Key, &Arc<CaseResult>> = baseline.iter().map(|c| (key(c), c)).collect();
    let mut order: Vec<String> = Vec::new();
    let mut per_suite: BTreeMap<String, Vec<Pair<'_>>> = BTreeMap::new();
    let mut sorted: Vec<&Arc<CaseResult>> = candidate.iter().collect();
    sorted.sort_by_key(|c| c.index);
    for cand in sorted {
        if !per_suite.contains_key(&cand.suite) {
            order.push(cand.suite.clone());
            per_suite.insert(cand.suite.clone(), Vec::new());
        }
        if let Some(b) = base.get(&key(cand)) {
            if let Some(v) = per_suite.get_mut(&cand.suite) {
                v.push((b, cand));
            }
        }
    }
    let suites = order
        .into_iter()
        .map(|suite| {
            let pairs = per_suite.remove(&suite).unwrap_or_default();
            compare_suite(suite, &pairs)
        })
        .collect();
    Comparison {
        baseline: baseline_label.to_string(),
        suites,
    }
}

fn compare_suite(suite: String, pairs: &[Pair<'_>]) -> SuiteComparison {
    let mut n = 0usize;
    let (mut bp, mut cp) = (0usize, 0usize);
    let (mut newly_failing, mut newly_passing) = (Vec::new(), Vec::new());
    let mut metric_pairs: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for (b, c) in pairs {
        for (name, bv) in &b.metrics {
            if let Some(cv) = c.metrics.get(name) {
                if outcome(b.verdict).is_some() && outcome(c.verdict).is_some() {
                    metric_pairs.entry(name.clone()).or_default().push((*bv, *cv));
                }
            }
        }
        let (Some(bo), Some(co)) = (outcome(b.verdict), outcome(c.verdict)) else {
            continue;
        };
        n += 1;
        bp += usize::from(bo);
        cp += usize::from(co);
        match (bo, co) {
            (true, false) => newly_failing.push(c.full_name()),
            (false, true) => newly_passing.push(c.full_name()),
            _ => {}
        }
    }
    let metrics = metric_pairs
        .into_iter()
        .map(|(name, v)| {
            let m = v.len() as f64;
            let diffs: Vec<f64> = v.iter().map(|(b, c)| c - b).collect();
            MetricComparison {
                name,
                n: v.len(),
                baseline_mean: v.iter().map(|p| p.0).sum::<f64>() / m,
                candidate_mean: v.iter().map(|p| p.1).sum::<f64>() / m,
                mean_diff: diffs.iter().sum::<f64>() / m,
                p_value: stats::paired_t(&diffs).map(|t| t.p_value),
            }
        })
        .collect();
    SuiteComparison {
        suite,
        pairs: n,
        baseline_passed: bp,
        candidate_passed: cp,
        baseline_interval: stats::wilson(bp as u64, n as u64),
        candidate_interval: stats::wilson(cp as u64, n as u64),
        mcnemar_p: stats::mcnemar_exact(newly_failing.len() as u64, newly_passing.len() as u64),
        newly_failing,
        newly_passing,
        metrics,
        alpha: None,
    }
}

impl Comparison {
    /// Sets each suite's own significance level (suite name → `gate.alpha`).
    pub fn with_suite_alphas(mut self, alphas: &BTreeMap<String, f64>) -> Self {
        for s in &mut self.suites {
            s.alpha = alphas.get(&s.suite).copied();
        }
        self
    }

    /// Reasons the candidate is significantly worse at `alpha` (empty = none).
    pub fn regressions(&self, alpha: f64) -> Vec<String> {
        self.suites.iter().filter_map(|s| s.regression(alpha)).collect()
    }

    /// Whether any suite is significantly better at `alpha`.
    pub fn improved(&self, alpha: f64) -> bool {
        self.suites.iter().any(|s| s.improved(alpha))
    }

    /// The suites compared.
    pub fn suite_names(&self) -> BTreeSet<&str> {
        self.suites.iter().map(|s| s.suite.as_str()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(index: usize, suite: &str, test: &str, verdict: Verdict, metric: Option<f64>) -> Arc<CaseResult> {
        let mut c = CaseResult::new(index, format!("{suite}::{test}"))
            .with_suite(suite, "s.yaml")
            .with_test_file("s.yaml", None)
            .with_prompt("p", "0123456789ab")
            .with_provider("echo")
            .with_verdict(verdict);
        c.metrics = metric
            .map(|m| BTreeMap::from([("faith".to_string(), m)]))
            .unwrap_or_default();
        Arc::new(c)
    }

    #[test]
    fn pairs_cases_and_counts_discordant_outcomes() {
        use Verdict::*;
        // 12 discordant pairs: 10 newly failing, 2 newly passing, plus 3 concordant.
        let mut base = Vec::new();
        let mut cand = Vec::new();
        for i in 0..15 {
            let (b, c) = match i {
                0..=9 => (Pass, Fail),
                10..=11 => (Fail, Pass),
                12 => (Pass, Pass),
                13 => (Fail, Fail),
                _ => (Pass, Error),
            };
            base.push(case(i, "s", &format!("t{i}"), b, None));
            cand.push(case(i, "s", &format!("t{i}"), c, None));
        }
        let cmp = compare("production: p@1", &base, &cand);
        let s = &cmp.suites[0];
        assert_eq!((s.pairs, s.newly_failing.len(), s.newly_passing.len()), (14, 10, 2));
        assert_eq!((s.baseline_passed, s.candidate_passed), (11, 3));
        assert!((s.mcnemar_p - 0.0386).abs() < 1e-4, "{}", s.mcnemar_p);
        assert!(cmp.regressions(0.05)[0].contains("McNemar exact p = 0.0386"));
        assert!(cmp.regressions(0.01).is_empty());
        assert!(!cmp.improved(0.05));
        // A suite's own `gate: {alpha}` wins over the default.
        let strict = cmp
            .clone()
            .with_suite_alphas(&BTreeMap::from([("s".to_string(), 0.01)]));
        assert!(strict.regressions(0.05).is_empty());
        assert!(strict.console(0.05).contains("s (alpha 0.01)"));
        let text = cmp.console(0.05);
        assert!(text.contains("newly failing: s::t0 [p@0123456789ab echo]"), "{text}");
        assert!(cmp.markdown(0.05).contains("| s | 11/14 79%"), "{}", cmp.markdown(0.05));
        let props = cmp.junit_properties();
        assert!(props
            .iter()
            .any(|(s, k, v)| s == "s" && k == "comparison.mcnemar_p" && v.starts_with("0.03857")));
    }

    #[test]
    fn balanced_changes_are_not_significant_and_metrics_use_a_paired_test() {
        use Verdict::*;
        let mut base = Vec::new();
        let mut cand = Vec::new();
        for i in 0..10 {
            let (b, c) = if i < 5 { (Pass, Fail) } else { (Fail, Pass) };
            base.push(case(i, "s", &format!("t{i}"), b, Some(0.9)));
            cand.push(case(i, "s", &format!("t{i}"), c, Some(0.5 + 0.01 * i as f64)));
        }
        let cmp = compare("b", &base, &cand);
        let s = &cmp.suites[0];
        assert_eq!(s.mcnemar_p, 1.0);
        let m = &s.metrics[0];
        assert_eq!(m.n, 10);
        assert!(m.mean_diff < -0.3 && m.p_value.unwrap() < 0.001, "{m:?}");
        let reg = cmp.regressions(0.05);
        assert!(reg[0].contains("metric faith fell"), "{reg:?}");
    }

    #[test]
    fn two_pairs_are_not_enough_for_a_metric_test_even_with_a_constant_shift() {
        use Verdict::*;
        let base: Vec<_> = (0..2)
            .map(|i| case(i, "s", &format!("t{i}"), Pass, Some(0.9)))
            .collect();
        let cand: Vec<_> = (0..2)
            .map(|i| case(i, "s", &format!("t{i}"), Pass, Some(0.8)))
            .collect();
        let cmp = compare("b", &base, &cand);
        let m = &cmp.suites[0].metrics[0];
        assert_eq!((m.n, m.p_value), (2, None), "{m:?}");
        assert!(cmp.regressions(0.05).is_empty());
        assert!(
            cmp.console(0.05).contains("no test: fewer than 3 pairs"),
            "{}",
            cmp.console(0.05)
        );
        // Three pairs with the same shift: the degenerate test applies.
        let base: Vec<_> = (0..3)
            .map(|i| case(i, "s", &format!("t{i}"), Pass, Some(0.9)))
            .collect();
        let cand: Vec<_> = (0..3)
            .map(|i| case(i, "s", &format!("t{i}"), Pass, Some(0.8)))
            .collect();
        assert_eq!(compare("b", &base, &cand).regressions(0.05).len(), 1);
    }
}
