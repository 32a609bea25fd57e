//! Suite-level thresholds: the gate a held-out set must clear.
//!
//! ```yaml
//! thresholds:
//!   pass_rate: 0.95              # passed / cases with a verdict
//!   metrics:
//!     faithfulness: {mean: 0.85} # mean of the metric over the cases that have it
//!     tone: {min: 0.6}           # smallest value of the metric
//! ```
//!
//! Evaluated per suite × prompt × provider once all its cases ran. A breach
//! fails the run (exit 1). A group with cases that reached no verdict
//! (provider or grader errors) cannot be judged: its thresholds are an ERROR
//! (exit 3), unless the pass rate is breached even if every such case had
//! passed.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::result::{CaseResult, MetricSummary, Verdict};

/// The `thresholds` of a suite.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SuiteThresholds {
    /// Least share of cases that must pass, in [0, 1].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pass_rate: Option<f64>,
    /// Per named metric, the least mean and/or least minimum, in [0, 1].
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metrics: BTreeMap<String, MetricThreshold>,
    /// 1-based line of `thresholds:` in the suite file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
}

impl SuiteThresholds {
    /// True when nothing is set.
    pub fn is_empty(&self) -> bool {
        self.pass_rate.is_none() && self.metrics.is_empty()
    }
}

/// The bounds on one metric.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MetricThreshold {
    /// Least mean over the cases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean: Option<f64>,
    /// Least value of any case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
}

/// What the cases of one suite × prompt × provider group add up to.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GroupStats {
    /// Cases that passed.
    pub passed: usize,
    /// Cases that failed.
    pub failed: usize,
    /// Cases with no verdict.
    pub errored: usize,
    /// Cases not run.
    pub skipped: usize,
    /// Named metrics over the cases that have them.
    pub metrics: BTreeMap<String, MetricSummary>,
    /// Per metric, cases (with a verdict) where an assertion naming it could
    /// not be evaluated (a grader error beside a failed assertion): their
    /// value is unknown, so a bound on the metric cannot be judged.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metric_errors: BTreeMap<String, usize>,
}

impl GroupStats {
    /// Adds one case.
    pub fn add(&mut self, r: &CaseResult) {
        match r.verdict {
            Verdict::Pass => self.passed += 1,
            Verdict::Fail => self.failed += 1,
            Verdict::Error => self.errored += 1,
            Verdict::Skipped => self.skipped += 1,
        }
        if r.verdict != Verdict::Error && r.verdict != Verdict::Skipped {
            for (name, v) in &r.metrics {
                self.metrics
                    .entry(name.clone())
                    .or_insert_with(MetricSummary::empty)
                    .add(*v);
            }
            let unknown: std::collections::BTreeSet<&String> = r
                .assertions
                .iter()
                .filter(|a| a.error.is_some())
                .filter_map(|a| a.metric.as_ref())
                .collect();
            for name in unknown {
                *self.metric_errors.entry(name.clone()).or_default() += 1;
            }
        }
    }
}

/// One checked bound.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ThresholdCheck {
    /// `pass_rate`, or `METRIC.mean` / `METRIC.min`.
    pub name: String,
    /// The measured value (`None` when it could not be measured).
    pub measured: Option<f64>,
    /// The bound.
    pub threshold: f64,
    /// Cases the value is computed over.
    pub cases: usize,
    /// True when measured ≥ threshold.
    pub pass: bool,
}

/// The verdict on a group's thresholds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ThresholdOutcome {
    /// Suite name.
    pub suite: String,
    /// The suite file.
    pub suite_file: std::path::PathBuf,
    /// Line of `thresholds:`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// Prompt name.
    pub prompt: String,
    /// Prompt hash (12 hex).
    pub prompt_hash: String,
    /// Provider label or id.
    pub provider: String,
    /// Pass, Fail (a bound breached) or Error (cases without a verdict).
    pub verdict: Verdict,
    /// Every bound, checked.
    pub checks: Vec<ThresholdCheck>,
    /// Why the verdict is an error, when it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The group's counts.
    pub stats: GroupStats,
    /// The suite's `thresholds` as written (to check merged shards again).
    pub bounds: SuiteThresholds,
}

impl ThresholdOutcome {
    /// `suite::thresholds`, the JUnit test case name.
    pub fn name(&self) -> String {
        format!("{}::thresholds", self.suite)
    }

    /// The checks that failed, in words (`pass_rate 0.80 < 0.95 over 20 cases`).
    pub fn breaches(&self) -> Vec<String> {
        self.checks
            .iter()
            .filter(|c| !c.pass)
            .map(|c| match c.measured {
                Some(m) => format!("{} {m:.4} < {} over {} cases", c.name, c.threshold, c.cases),
                None => format!("{}: no case has a value (threshold {})", c.name, c.threshold),
            })
            .collect()
    }
}

/// Checks `t` against `stats`.
pub fn evaluate(t: &SuiteThresholds, stats: &GroupStats) -> (Verdict, Vec<ThresholdCheck>, Option<String>) {
    let mut checks = Vec::new();
    let decided = stats.passed + stats.failed;
    if let Some(min_rate) = t.pass_rate {
        let measured = (decided > 0).then(|| stats.passed as f64 / decided as f64);
        checks.push(ThresholdCheck {
            name: "pass_rate".into(),
            measured,
            threshold: min_rate,
            cases: decided,
            pass: measured.is_some_and(|m| m >= min_rate),
        });
    }
    for (name, bound) in &t.metrics {
        let m = stats.metrics.get(name);
        for (what, threshold, value) in [
            ("mean", bound.mean, m.map(|m| m.mean)),
            ("min", bound.min, m.map(|m| m.min)),
        ] {
            if let Some(threshold) = threshold {
                checks.push(ThresholdCheck {
                    name: format!("{name}.{what}"),
                    measured: value,
                    threshold,
                    cases: m.map_or(0, |m| m.count),
                    pass: value.is_some_and(|v| v >= threshold),
                });
            }
        }
    }
    // Cases without a verdict (and metric values that could not be graded)
    // leave some checks undecided; a check that fails whatever those
    // unknowns would have been is still a definite breach.
    let unknown = stats.errored;
    let mut undecided: Vec<String> = Vec::new();
    let mut definite_breach = false;
    for c in &checks {
        if c.name == "pass_rate" {
            let best = if decided + unknown == 0 {
                None
            } else {
                Some((stats.passed + unknown) as f64 / (decided + unknown) as f64)
            };
            match best {
                Some(b) if b < c.threshold => definite_breach = true,
                _ if unknown > 0 => undecided.push(c.name.clone()),
                _ => definite_breach |= !c.pass,
            }
        } else {
            let metric = c.name.rsplit_once('.').map_or(c.name.as_str(), |(m, _)| m);
            let graded_errors = stats.metric_errors.get(metric).copied().unwrap_or(0);
            if unknown > 0 || graded_errors > 0 {
                undecided.push(c.name.clone());
            } else {
                definite_breach |= !c.pass;
            }
        }
    }
    if definite_breach {
        return (Verdict::Fail, checks, None);
    }
    if !undecided.is_empty() {
        let mut why = Vec::new();
        if unknown > 0 {
            let s = if unknown == 1 { "" } else { "s" };
            why.push(format!(
                "{unknown} case{s} reached no verdict (provider or grader errors, or not run)"
            ));
        }
        for (metric, n) in &stats.metric_errors {
            if undecided.iter().any(|u| u.starts_with(&format!("{metric}."))) {
                let s = if *n == 1 { "" } else { "s" };
                why.push(format!("`{metric}` could not be graded in {n} case{s}"));
            }
        }
        return (
            Verdict::Error,
            checks,
            Some(format!("{}: {} cannot be judged", why.join("; "), undecided.join(", "))),
        );
    }
    if decided == 0 {
        return (
            Verdict::Error,
            checks,
            Some("no case reached a verdict: the thresholds cannot be judged".into()),
        );
    }
    let verdict = if checks.iter().all(|c| c.pass) {
        Verdict::Pass
    } else {
        Verdict::Fail
    };
    (verdict, checks, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(values: &[f64], passed: usize, failed: usize, errored: usize) -> GroupStats {
        let mut m = MetricSummary::empty();
        for v in values {
            m.add(*v);
        }
        GroupStats {
            passed,
            failed,
            errored,
            skipped: 0,
            metrics: BTreeMap::from([("faithfulness".to_string(), m)]),
            metric_errors: BTreeMap::new(),
        }
    }

    fn mean_at(t: f64) -> SuiteThresholds {
        SuiteThresholds {
            pass_rate: None,
            metrics: BTreeMap::from([(
                "faithfulness".to_string(),
                MetricThreshold {
                    mean: Some(t),
                    min: None,
                },
            )]),
            line: None,
        }
    }

    #[test]
    fn mean_threshold_fails_at_084_and_passes_at_086() {
        // Ten cases with mean 0.85.
        let s = stats(&[1.0, 1.0, 1.0, 0.75, 0.75, 0.75, 0.75, 1.0, 0.5, 1.0], 10, 0, 0);
        assert!((s.metrics["faithfulness"].mean - 0.85).abs() < 1e-12);
        assert_eq!(evaluate(&mean_at(0.84), &s).0, Verdict::Pass);
        let (v, checks, _) = evaluate(&mean_at(0.86), &s);
        assert_eq!(v, Verdict::Fail);
        assert_eq!(checks[0].cases, 10);
    }

    #[test]
    fn pass_rate_and_errors() {
        let t = SuiteThresholds {
            pass_rate: Some(0.9),
            ..Default::default()
        };
        assert_eq!(evaluate(&t, &stats(&[], 9, 1, 0)).0, Verdict::Pass);
        assert_eq!(evaluate(&t, &stats(&[], 8, 2, 0)).0, Verdict::Fail);
        // One error: 9/10 if it had passed, so undecided.
        let (v, _, e) = evaluate(&t, &stats(&[], 8, 1, 1));
        assert_eq!(v, Verdict::Error);
        assert!(e.unwrap().contains("1 case reached no verdict"));
        // A metric value that could not be graded leaves its bound undecided.
        let mut s = stats(&[1.0, 1.0], 3, 0, 0);
        s.metric_errors.insert("faithfulness".into(), 1);
        let (v, _, e) = evaluate(&mean_at(0.85), &s);
        assert_eq!(v, Verdict::Error);
        assert!(
            e.unwrap().contains("`faithfulness` could not be graded in 1 case"),
            "undecided"
        );
        // Breached even if the errored case had passed.
        assert_eq!(evaluate(&t, &stats(&[], 6, 3, 1)).0, Verdict::Fail);
        // A metric no case has is a breach, not a pass.
        let (v, checks, _) = evaluate(
            &mean_at(0.5),
            &GroupStats {
                passed: 3,
                ..Default::default()
            },
        );
        assert_eq!(v, Verdict::Fail);
        assert_eq!(checks[0].measured, None);
    }
}
