//! One finished case: [`CaseResult`], its constructor and the reasons a case is skipped.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{AssertionResult, GraderCall, Repeats, Verdict};
use crate::provider::TokenUsage;

/// Everything known about one finished case. Shared with reporters as `Arc`.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
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
    /// True when the answer came from promptgate's response cache (no request sent).
    #[serde(default)]
    pub cached: bool,
    /// HTTP requests the case's call took (1 = first try; 0 = none sent:
    /// replayed, cached, local provider, or no call made). Summed over repeats.
    #[serde(default)]
    pub attempts: u32,
    /// The test's `min_pass_rate`, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_pass_rate: Option<f64>,
    /// With `--repeat N` (N > 1): how the N runs went.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeats: Option<Repeats>,
    /// Wall time of the whole case (render, call, assertions), in milliseconds.
    pub duration_ms: u64,
}

/// One answer a case got — its own call's or a grader's, in any `--repeat`
/// run — as the run's cost and cache figures count it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReceivedAnswer<'a> {
    /// The provider that answered (the case's id or label; a grader's id).
    pub provider: &'a str,
    /// What the call costs in USD, when the model has a price.
    pub cost_usd: Option<f64>,
    /// Answered by promptgate's response cache.
    pub cached: bool,
    /// Answered by a request to the provider (not cached, not replayed,
    /// not a local provider such as `echo`): the calls the run paid for.
    pub sent: bool,
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

    /// Why the case did not pass, in one line: the error, else the failed
    /// assertions' reasons joined with `; `.
    pub fn reason(&self) -> String {
        if let Some(e) = &self.error {
            return e.clone();
        }
        self.failed_assertions()
            .map(|a| format!("{}: {}", a.kind, a.reason))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// True when runs of this case both passed and failed (`--repeat`).
    pub fn is_flaky(&self) -> bool {
        self.repeats.as_ref().is_some_and(|r| r.flaky)
    }

    /// The grader calls of the assertions shown (one run's).
    pub fn grader_calls(&self) -> impl Iterator<Item = &GraderCall> {
        self.assertions
            .iter()
            .filter_map(|a| a.grader.as_deref())
            .flat_map(|g| g.calls.iter())
    }

    /// Every answer the case got: its own call's and its graders' (failed
    /// calls got none), over all its `--repeat` runs.
    pub fn answers(&self) -> Vec<ReceivedAnswer<'_>> {
        let own = |cost_usd, cached, attempts: u32| ReceivedAnswer {
            provider: &self.provider,
            cost_usd,
            cached,
            sent: attempts > 0,
        };
        let mut out = Vec::new();
        fn grader(c: &GraderCall) -> ReceivedAnswer<'_> {
            ReceivedAnswer {
                provider: &c.provider,
                cost_usd: c.cost_usd,
                cached: c.cached,
                sent: c.attempts > 0,
            }
        }
        match &self.repeats {
            Some(r) => {
                for run in &r.outcomes {
                    if run.answered {
                        out.push(own(run.cost_usd, run.cached, run.attempts));
                    }
                    out.extend(run.grader_calls.iter().filter(|c| c.error.is_none()).map(grader));
                }
            }
            None => {
                if self.output.is_some() {
                    out.push(own(self.cost_usd, self.cached, self.attempts));
                }
                out.extend(self.grader_calls().filter(|c| c.error.is_none()).map(grader));
            }
        }
        out
    }
}

impl CaseResult {
    /// A case named `name` (`suite::test`) at position `index` of the plan,
    /// with no verdict yet (`Error`, score 0), nothing measured and every
    /// other field empty: set them with the `with_*` methods (or the public
    /// fields). The one way results are built, by the runner and by tests.
    pub fn new(index: usize, name: impl Into<String>) -> Self {
        CaseResult {
            index,
            name: name.into(),
            suite: String::new(),
            suite_file: PathBuf::new(),
            line: None,
            test_file: PathBuf::new(),
            description: None,
            prompt: String::new(),
            prompt_hash: String::new(),
            provider: String::new(),
            category: None,
            vars: Default::default(),
            verdict: Verdict::Error,
            score: 0.0,
            threshold: None,
            metrics: BTreeMap::new(),
            assertions: Vec::new(),
            output: None,
            error: None,
            latency_ms: None,
            tokens: TokenUsage::default(),
            finish_reason: None,
            cost_usd: None,
            replayed: false,
            cached: false,
            attempts: 0,
            min_pass_rate: None,
            repeats: None,
            duration_ms: 0,
        }
    }

    /// The suite: its name and file.
    pub fn with_suite(mut self, name: impl Into<String>, file: impl Into<PathBuf>) -> Self {
        self.suite = name.into();
        self.suite_file = file.into();
        self
    }

    /// The file the test is defined in, and its 1-based line there.
    pub fn with_test_file(mut self, file: impl Into<PathBuf>, line: Option<usize>) -> Self {
        self.test_file = file.into();
        self.line = line;
        self
    }

    /// The prompt: its name and hash (12 hex characters).
    pub fn with_prompt(mut self, name: impl Into<String>, hash: impl Into<String>) -> Self {
        self.prompt = name.into();
        self.prompt_hash = hash.into();
        self
    }

    /// The provider id (or label).
    pub fn with_provider(mut self, provider: impl Into<String>) -> Self {
        self.provider = provider.into();
        self
    }

    /// The verdict.
    pub fn with_verdict(mut self, verdict: Verdict) -> Self {
        self.verdict = verdict;
        self
    }

    /// The output of the provider.
    pub fn with_output(mut self, output: impl Into<String>) -> Self {
        self.output = Some(output.into());
        self
    }

    /// Why the case has no verdict.
    pub fn with_error(mut self, error: impl Into<String>) -> Self {
        self.error = Some(error.into());
        self
    }

    /// The assertion results (in suite order) and the weighted score.
    pub fn with_assertions(mut self, assertions: Vec<AssertionResult>, score: f64) -> Self {
        self.assertions = assertions;
        self.score = score;
        self
    }

    /// Marks the case as not run, for `reason`.
    pub fn skipped(mut self, reason: SkipReason) -> Self {
        self.verdict = Verdict::Skipped;
        self.error = Some(reason.message().to_string());
        self
    }
}

/// Why a case was not run (its verdict is then `skipped`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// `--fail-fast` stopped the run after the first failure.
    FailFast,
    /// The run was interrupted (Ctrl-C).
    Interrupted,
}

impl SkipReason {
    /// What the report says instead of an error.
    pub fn message(self) -> &'static str {
        match self {
            SkipReason::FailFast => "not run: --fail-fast stopped the run after the first failure",
            SkipReason::Interrupted => "not run: the run was interrupted (Ctrl-C)",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_case_has_no_verdict_and_names_what_ran() {
        let c = CaseResult::new(3, "s::t")
            .with_suite("s", "s.yaml")
            .with_test_file("cases.yaml", Some(4))
            .with_prompt("p", "abc")
            .with_provider("echo");
        assert_eq!((c.index, c.verdict, c.score), (3, Verdict::Error, 0.0));
        assert_eq!(c.full_name(), "s::t [p@abc echo]");
        assert_eq!(c.location(), "cases.yaml:4");
    }

    #[test]
    fn skipped_cases_say_why() {
        let c = CaseResult::new(0, "s::t").skipped(SkipReason::Interrupted);
        assert_eq!(c.verdict, Verdict::Skipped);
        assert_eq!(c.reason(), "not run: the run was interrupted (Ctrl-C)");
    }

    #[test]
    fn answers_count_the_own_call_and_the_graders() {
        let mut c = CaseResult::new(0, "s::t").with_provider("p").with_output("hi");
        c.attempts = 1;
        c.cost_usd = Some(0.5);
        let answers = c.answers();
        assert_eq!(answers.len(), 1);
        assert!(answers[0].sent && !answers[0].cached);
        assert_eq!(CaseResult::new(0, "s::t").answers().len(), 0, "no output, no answer");
    }
}
