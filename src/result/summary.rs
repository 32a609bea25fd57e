//! Counts, metrics and costs of a whole run.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{CaseResult, RunVerdict, Verdict};

/// Counts and timing of a whole run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RunSummary {
    /// Cases that passed.
    pub passed: usize,
    /// Cases that failed.
    pub failed: usize,
    /// Cases with no verdict (errors).
    pub errored: usize,
    /// Cases not run.
    pub skipped: usize,
    /// Wall time of the run in milliseconds.
    pub duration_ms: u64,
    /// Every named metric (`metric:` on assertions) over the cases that have it.
    pub metrics: BTreeMap<String, MetricSummary>,
    /// Cases whose call failed at first and succeeded on a retry.
    #[serde(default)]
    pub retried: usize,
    /// Answers served by the response cache (no request sent): the cases'
    /// own calls and their graders', in every `--repeat` run.
    #[serde(default)]
    pub cached_answers: usize,
    /// Answers obtained by sending a request (cases' and graders' calls; not
    /// cached, replayed, or from a local provider such as `echo`).
    #[serde(default)]
    pub sent_answers: usize,
    /// Cases marked flaky (`--repeat`: some runs passed, some failed).
    #[serde(default)]
    pub flaky: usize,
    /// Cost of the calls sent (cases' and graders'), in USD, per suite
    /// (calls with a known cost).
    #[serde(default)]
    pub cost_by_suite: BTreeMap<String, f64>,
    /// Cost of the calls sent, in USD, per provider (a case's provider id or
    /// label; a grader's id).
    #[serde(default)]
    pub cost_by_provider: BTreeMap<String, f64>,
    /// Answers sent whose model has no price (not in the costs: unknown, not free).
    #[serde(default)]
    pub unpriced_sent: usize,
    /// Answers from the response cache whose model has no price (not in `saved_usd`).
    #[serde(default)]
    pub unpriced_cached: usize,
    /// What the answers from the response cache would have cost, USD.
    #[serde(default)]
    pub saved_usd: f64,
    /// Suite × prompt × provider groups whose `thresholds` were breached.
    #[serde(default)]
    pub thresholds_failed: usize,
    /// Groups whose `thresholds` could not be judged (cases without a verdict).
    #[serde(default)]
    pub thresholds_errored: usize,
    /// Groups whose `thresholds` were met.
    #[serde(default)]
    pub thresholds_passed: usize,
    /// Assertions that could not be evaluated (e.g. a grader error) in cases
    /// that still reached a verdict (a failure elsewhere decided them).
    #[serde(default)]
    pub assertions_errored: usize,
}

/// A named metric aggregated over cases: each case contributes its own value
/// (the mean score of its assertions naming the metric).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct MetricSummary {
    /// Cases with a value.
    pub count: usize,
    /// Mean of the values, in [0, 1].
    pub mean: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
}

impl MetricSummary {
    /// No values yet.
    pub fn empty() -> Self {
        MetricSummary {
            count: 0,
            mean: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }

    /// Adds one value.
    pub fn add(&mut self, value: f64) {
        self.mean = (self.mean * self.count as f64 + value) / (self.count + 1) as f64;
        self.count += 1;
        self.min = self.min.min(value);
        self.max = self.max.max(value);
    }
}

impl RunSummary {
    /// Adds one case.
    pub fn count(&mut self, verdict: Verdict) {
        match verdict {
            Verdict::Pass => self.passed += 1,
            Verdict::Fail => self.failed += 1,
            Verdict::Error => self.errored += 1,
            Verdict::Skipped => self.skipped += 1,
        }
    }

    /// Adds one finished case: its verdict, metrics, retries, and the cache
    /// use and cost of every answer it got ([`CaseResult::answers`]).
    pub fn add(&mut self, case: &CaseResult) {
        self.count(case.verdict);
        if !matches!(case.verdict, Verdict::Error | Verdict::Skipped) {
            self.assertions_errored += case.assertions.iter().filter(|a| a.error.is_some()).count();
            self.add_metrics(&case.metrics);
        }
        if case.is_flaky() {
            self.flaky += 1;
        }
        let runs = case.repeats.as_ref().map_or(1, |r| r.runs);
        if case.attempts > runs && case.output.is_some() {
            self.retried += 1;
        }
        for answer in case.answers() {
            if answer.cached {
                self.cached_answers += 1;
                match answer.cost_usd {
                    Some(usd) => self.saved_usd += usd,
                    None => self.unpriced_cached += 1,
                }
            } else if answer.sent {
                self.sent_answers += 1;
                match answer.cost_usd {
                    Some(usd) => {
                        *self.cost_by_suite.entry(case.suite.clone()).or_default() += usd;
                        *self.cost_by_provider.entry(answer.provider.to_string()).or_default() += usd;
                    }
                    None => self.unpriced_sent += 1,
                }
            }
        }
    }

    /// USD spent on the calls of the run.
    pub fn cost_usd(&self) -> f64 {
        self.cost_by_suite.values().sum()
    }

    /// Adds one case's named metrics.
    pub fn add_metrics(&mut self, metrics: &BTreeMap<String, f64>) {
        for (name, value) in metrics {
            self.metrics
                .entry(name.clone())
                .or_insert_with(MetricSummary::empty)
                .add(*value);
        }
    }

    /// Total cases.
    pub fn total(&self) -> usize {
        self.passed + self.failed + self.errored + self.skipped
    }

    /// The run's verdict: `Fail` if any case failed or any suite-level
    /// threshold was breached, else `Error` if any case errored (or was
    /// skipped) or thresholds could not be judged, else `Pass`. Never `Pass`
    /// when a case errored.
    pub fn verdict(&self) -> RunVerdict {
        if self.failed > 0 || self.thresholds_failed > 0 {
            RunVerdict::Fail
        } else if self.errored > 0 || self.skipped > 0 || self.thresholds_errored > 0 {
            RunVerdict::Error
        } else {
            RunVerdict::Pass
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_aggregate_mean_min_max() {
        let mut s = RunSummary::default();
        for v in [1.0, 0.5, 0.0] {
            s.add_metrics(&BTreeMap::from([("faithfulness".to_string(), v)]));
        }
        let m = s.metrics["faithfulness"];
        assert_eq!((m.count, m.mean, m.min, m.max), (3, 0.5, 0.0, 1.0));
    }

    #[test]
    fn run_verdict_is_never_pass_with_errors() {
        let mut s = RunSummary::default();
        s.count(Verdict::Pass);
        assert_eq!(s.verdict(), RunVerdict::Pass);
        s.count(Verdict::Error);
        assert_eq!(s.verdict(), RunVerdict::Error);
        s.count(Verdict::Fail);
        assert_eq!(s.verdict(), RunVerdict::Fail);
    }

    #[test]
    fn sent_answers_cost_by_suite_and_provider() {
        let mut c = CaseResult::new(0, "s::t")
            .with_suite("s", "s.yaml")
            .with_provider("p")
            .with_output("hi")
            .with_verdict(Verdict::Pass);
        c.attempts = 2;
        c.cost_usd = Some(0.25);
        let mut s = RunSummary::default();
        s.add(&c);
        assert_eq!((s.passed, s.retried, s.sent_answers), (1, 1, 1));
        assert_eq!(s.cost_by_provider["p"], 0.25);
        assert_eq!(s.cost_usd(), 0.25);
    }
}
