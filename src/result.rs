//! The outcome of one case, as the runner emits it and reporters read it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use crate::provider::TokenUsage;

/// The verdict of a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Every assertion passed (or the weighted score reached the test's threshold).
    Pass,
    /// An assertion failed: the prompt under test did something wrong.
    Fail,
    /// No verdict could be reached: a provider, template or grader error.
    Error,
    /// Not run (`--fail-fast` stopped the run first).
    Skipped,
}

impl Verdict {
    /// `ok`, `FAILED`, `ERROR`, `skipped`: the libtest-style word.
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Pass => "ok",
            Verdict::Fail => "FAILED",
            Verdict::Error => "ERROR",
            Verdict::Skipped => "skipped",
        }
    }
}

/// The result of one assertion on one output.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AssertionResult {
    /// The assertion type as written, with its `not-` prefix (`not-icontains`).
    #[serde(rename = "type")]
    pub kind: String,
    /// The (rendered) expected value, for reports.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// True when the assertion held (after `not-` inversion).
    pub pass: bool,
    /// Score in [0, 1] (1 = pass for deterministic assertions).
    pub score: f64,
    /// Weight in the test's weighted score (default 1).
    pub weight: f64,
    /// The named metric this assertion feeds, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metric: Option<String>,
    /// Why it passed or failed, in one or a few lines.
    pub reason: String,
    /// Set when the assertion could not be evaluated (the case is then an ERROR).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// 1-based line of the assertion in its suite or cases file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// The file the assertion is written in (a `defaultTest` assertion lives
    /// in the suite even when the test comes from a cases file).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    /// For model-graded assertions: the grader's calls, claims and raw reply.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grader: Option<Box<GraderDetails>>,
}

/// What a model-graded assertion asked its grader and what came back.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct GraderDetails {
    /// Every call made to a grader (text or embedding), in order.
    pub calls: Vec<GraderCall>,
    /// `context-faithfulness` / `context-recall`: each claim (or reference
    /// statement) with the grader's verdict.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub claims: Vec<ClaimVerdict>,
    /// The grader's last reply, verbatim (kept so that a grader error or a
    /// surprising score can be checked by a human).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw_reply: Option<String>,
}

/// One call to a grader.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GraderCall {
    /// Which step of the assertion (`grade`, `extract-claims`, `verify-claims`, `embed-output`, ...).
    pub step: String,
    /// The grader's provider id.
    pub provider: String,
    /// Wall time of the call in ms (as recorded, when replayed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    /// Tokens the call used, when reported.
    pub tokens: TokenUsage,
    /// True when answered from the recordings.
    pub replayed: bool,
    /// Set when the call failed (the assertion is then an ERROR).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A claim of the answer (or a statement of the reference) and whether the
/// grader found it supported by the context.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClaimVerdict {
    /// The claim, as the grader stated it.
    pub claim: String,
    /// True when the context supports it.
    pub supported: bool,
    /// The grader's reason.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
}

impl AssertionResult {
    /// `file:line` of the assertion, when known.
    pub fn location(&self) -> Option<String> {
        match (&self.file, self.line) {
            (Some(f), Some(l)) => Some(format!("{}:{l}", f.display())),
            (Some(f), None) => Some(f.display().to_string()),
            _ => None,
        }
    }
}

/// Everything known about one finished case. Shared with reporters as `Arc`.
#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    /// Position of the case in the plan (0-based), for stable ordering.
    pub index: usize,
    /// `suite::test`, unique within a suite.
    pub name: String,
    /// The suite's name (file stem).
    pub suite: String,
    /// The suite file.
    pub suite_file: PathBuf,
    /// 1-based line of the test in the suite (or cases) file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// The file the test was defined in (the suite, or a `file://` cases file).
    pub test_file: PathBuf,
    /// The test's description, if it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The prompt's name.
    pub prompt: String,
    /// First 12 hex characters of the SHA-256 of the prompt file's content.
    pub prompt_hash: String,
    /// The provider id (or its label).
    pub provider: String,
    /// `metadata.category`, if set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// The test's variables.
    pub vars: std::sync::Arc<serde_json::Map<String, serde_json::Value>>,
    /// The verdict.
    pub verdict: Verdict,
    /// Weighted score in [0, 1] over the assertions.
    pub score: f64,
    /// The test's `threshold`, if set (then pass = score ≥ threshold).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// Named metrics (the mean score of the assertions that name each metric).
    pub metrics: BTreeMap<String, f64>,
    /// One entry per assertion, in suite order.
    pub assertions: Vec<AssertionResult>,
    /// The provider's output, when there was one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// Why the case has no verdict (verdict `error` or `skipped`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Provider latency in milliseconds (recorded latency when replayed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    /// Token usage.
    pub tokens: TokenUsage,
    /// Finish reason reported by the provider.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
    /// Cost in USD, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
    /// True when the answer came from a recording.
    pub replayed: bool,
    /// Wall time of the whole case (render, call, assertions), in milliseconds.
    pub duration_ms: u64,
}

impl CaseResult {
    /// `rag_system@1a2b3c4d5e6f openai:chat:gpt-4o-mini`: what ran.
    pub fn target(&self) -> String {
        format!("{}@{} {}", self.prompt, self.prompt_hash, self.provider)
    }

    /// `suite::test [prompt@hash provider]`: the full, unique display name.
    pub fn full_name(&self) -> String {
        format!("{} [{}]", self.name, self.target())
    }

    /// `file:line` of the test, for messages and annotations.
    pub fn location(&self) -> String {
        match self.line {
            Some(line) => format!("{}:{line}", self.test_file.display()),
            None => self.test_file.display().to_string(),
        }
    }

    /// The failed (or errored) assertions.
    pub fn failed_assertions(&self) -> impl Iterator<Item = &AssertionResult> {
        self.assertions.iter().filter(|a| !a.pass || a.error.is_some())
    }
}

/// Counts and timing of a whole run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
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
    /// Suite × prompt × provider groups whose `thresholds` were breached.
    pub thresholds_failed: usize,
    /// Groups whose `thresholds` could not be judged (cases without a verdict).
    pub thresholds_errored: usize,
    /// Groups whose `thresholds` were met.
    pub thresholds_passed: usize,
    /// Assertions that could not be evaluated (e.g. a grader error) in cases
    /// that still reached a verdict (a failure elsewhere decided them).
    pub assertions_errored: usize,
}

/// A named metric aggregated over cases: each case contributes its own value
/// (the mean score of its assertions naming the metric).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
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

    /// The process exit code this run maps to: 1 if any case failed or any
    /// suite-level threshold was breached, else 3 if any case errored (or was
    /// skipped) or thresholds could not be judged, else 0. Never 0 when a
    /// case errored.
    pub fn exit_code(&self) -> i32 {
        if self.failed > 0 || self.thresholds_failed > 0 {
            crate::exit::TEST_FAILED
        } else if self.errored > 0 || self.skipped > 0 || self.thresholds_errored > 0 {
            crate::exit::INFRA_ERROR
        } else {
            crate::exit::SUCCESS
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
    fn exit_code_is_never_zero_with_errors() {
        let mut s = RunSummary::default();
        s.count(Verdict::Pass);
        assert_eq!(s.exit_code(), 0);
        s.count(Verdict::Error);
        assert_eq!(s.exit_code(), 3);
        s.count(Verdict::Fail);
        assert_eq!(s.exit_code(), 1);
    }
}
