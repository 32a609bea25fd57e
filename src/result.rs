//! The outcome of one case, as the runner emits it and reporters read it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::provider::TokenUsage;

/// The verdict of a whole run: what CI gates on (the CLI maps it to the
/// process exit code 0 / 1 / 3) and what the registry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunVerdict {
    /// Every case passed (and every suite-level threshold held): exit 0.
    Pass,
    /// An assertion or threshold failed: exit 1.
    Fail,
    /// No verdict (provider errors, skipped cases): exit 3.
    Error,
}

impl RunVerdict {
    /// `pass`, `fail`, `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            RunVerdict::Pass => "pass",
            RunVerdict::Fail => "fail",
            RunVerdict::Error => "error",
        }
    }
}

impl std::str::FromStr for RunVerdict {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "pass" => Ok(RunVerdict::Pass),
            "fail" => Ok(RunVerdict::Fail),
            "error" => Ok(RunVerdict::Error),
            _ => Err(format!("unknown run verdict `{s}`")),
        }
    }
}

/// The verdict of a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
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
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct GraderDetails {
    /// Every call made to a grader (text or embedding), in order.
    pub calls: Vec<GraderCall>,
    /// `context-faithfulness` / `context-recall`: each claim (or reference
    /// statement) with the grader's verdict.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub claims: Vec<ClaimVerdict>,
    /// The grader's last reply, verbatim (kept so that a grader error or a
    /// surprising score can be checked by a human).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_reply: Option<String>,
    /// True when `--max-cost` refused a grader call: the assertion was not
    /// evaluated (its `error` says why), and it makes the case skipped
    /// rather than an ERROR.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub over_budget: bool,
}

/// One call to a grader.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct GraderCall {
    /// Which step of the assertion (`grade`, `extract-claims`, `verify-claims`, `embed-output`, ...).
    pub step: String,
    /// The grader's provider id.
    pub provider: String,
    /// Wall time of the call in ms (as recorded, when replayed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    /// Tokens the call used, when reported.
    pub tokens: TokenUsage,
    /// True when answered from the recordings.
    pub replayed: bool,
    /// True when promptgate's response cache answered (no request sent).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cached: bool,
    /// HTTP requests the call took (1 = first try; 0 = none sent: replayed,
    /// cached, or a local provider).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub attempts: u32,
    /// Cost of the call in USD, when the grader's model has a price (also
    /// when replayed or cached: what the call costs; the run's summary
    /// counts only the calls sent as spent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
    /// Set when the call failed (the assertion is then an ERROR).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A claim of the answer (or a statement of the reference) and whether the
/// grader found it supported by the context.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ClaimVerdict {
    /// The claim, as the grader stated it.
    pub claim: String,
    /// True when the context supports it.
    pub supported: bool,
    /// The grader's reason.
    #[serde(default, skip_serializing_if = "String::is_empty")]
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

/// The runs of a case under `--repeat N`, and the verdict rule applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Repeats {
    /// Runs made (N).
    pub runs: u32,
    /// Runs that passed (k).
    pub passed: u32,
    /// Runs that failed.
    pub failed: u32,
    /// Runs without a verdict (errors).
    pub errored: u32,
    /// Runs not made (skipped).
    pub skipped: u32,
    /// The share of runs that had to pass, in [0, 1].
    pub min_pass_rate: f64,
    /// Wilson 95% score interval of the pass rate over the runs that reached
    /// a verdict (passed + failed) ([`crate::stats::wilson`]).
    pub interval: (f64, f64),
    /// True when some runs passed and others failed.
    pub flaky: bool,
    /// Every run in order: its verdict and, when it did not pass, why.
    pub outcomes: Vec<RepeatOutcome>,
}

/// One run of a repeated case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RepeatOutcome {
    /// The run's verdict.
    pub verdict: Verdict,
    /// The failed assertions or the error, when it did not pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The output of that run, when it did not pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// True when the run's own call got an answer (sent, cached or replayed).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub answered: bool,
    /// True when that answer came from promptgate's response cache.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cached: bool,
    /// HTTP requests the run's own call took (0: none sent).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub attempts: u32,
    /// Cost of the run's own call in USD, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
    /// The run's grader calls (of every model-graded assertion), for the
    /// run's cost and cache figures: the case's `assertions` show only one run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grader_calls: Vec<GraderCall>,
}

/// One answer a case got — its own call's or a grader's, in any `--repeat`
/// run — as the run's cost and cache figures count it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Answer<'a> {
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

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl Repeats {
    /// `3/5 passed (95% CI 23–88%)`, plus `, flaky` when flaky.
    pub fn describe(&self) -> String {
        let (lo, hi) = self.interval;
        format!(
            "{}/{} passed, min pass rate {}% (95% CI {:.0}–{:.0}%){}",
            self.passed,
            self.passed + self.failed,
            fmt_pct(self.min_pass_rate),
            lo * 100.0,
            hi * 100.0,
            if self.flaky { ", flaky" } else { "" }
        )
    }
}

fn fmt_pct(rate: f64) -> String {
    let pct = rate * 100.0;
    if (pct - pct.round()).abs() < 1e-9 {
        format!("{}", pct.round() as i64)
    } else {
        format!("{pct:.1}")
    }
}

/// Combines the runs of one case (`--repeat N`, in any order) into one
/// result. With `rate` the share of runs that must pass and N runs: the case
/// passes when at least ⌈rate·N⌉ runs passed, fails when even counting every
/// run without a verdict as a pass it could not get there, and otherwise has
/// no verdict (an ERROR, or skipped when no run errored). The result shown is
/// the first failing run (else the first errored, else the first passing
/// one); `attempts`, `duration_ms` and `cost_usd` are summed over the runs.
pub fn combine_repeats(mut runs: Vec<CaseResult>, rate: f64) -> CaseResult {
    let count = |v: Verdict| runs.iter().filter(|r| r.verdict == v).count() as u32;
    let (passed, failed, errored, skipped) = (
        count(Verdict::Pass),
        count(Verdict::Fail),
        count(Verdict::Error),
        count(Verdict::Skipped),
    );
    let n = runs.len() as u32;
    let needed = ((rate * f64::from(n)) - 1e-9).ceil().max(0.0) as u32;
    let verdict = if passed >= needed && passed + failed > 0 {
        Verdict::Pass
    } else if passed + errored + skipped < needed {
        Verdict::Fail
    } else if errored > 0 {
        Verdict::Error
    } else {
        Verdict::Skipped
    };
    let interval = crate::stats::wilson(u64::from(passed), u64::from(passed + failed));
    let outcomes = runs
        .iter()
        .map(|r| RepeatOutcome {
            verdict: r.verdict,
            reason: (r.verdict != Verdict::Pass).then(|| r.reason()),
            output: if r.verdict == Verdict::Pass {
                None
            } else {
                r.output.clone()
            },
            answered: r.output.is_some(),
            cached: r.cached,
            attempts: r.attempts,
            cost_usd: r.cost_usd,
            grader_calls: r.grader_calls().cloned().collect(),
        })
        .collect();
    let attempts = runs.iter().map(|r| r.attempts).sum();
    let duration_ms = runs.iter().map(|r| r.duration_ms).sum();
    let cost: Option<f64> = runs.iter().map(|r| r.cost_usd).sum();
    let cached = runs.iter().all(|r| r.cached);
    let pick = [Verdict::Fail, Verdict::Error, Verdict::Pass, Verdict::Skipped]
        .iter()
        .find_map(|v| runs.iter().position(|r| r.verdict == *v))
        .unwrap_or(0);
    let mut out = runs.swap_remove(pick);
    out.verdict = verdict;
    if verdict == Verdict::Pass {
        out.error = None;
    } else if verdict == Verdict::Error && out.error.is_none() {
        out.error = runs.iter().find_map(|r| r.error.clone());
    }
    out.attempts = attempts;
    out.duration_ms = duration_ms;
    out.cost_usd = cost;
    out.cached = cached;
    out.repeats = Some(Repeats {
        runs: n,
        passed,
        failed,
        errored,
        skipped,
        min_pass_rate: rate,
        interval: (interval.low, interval.high),
        flaky: passed > 0 && failed > 0,
        outcomes,
    });
    out
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
    pub fn answers(&self) -> Vec<Answer<'_>> {
        let own = |cost_usd, cached, attempts: u32| Answer {
            provider: &self.provider,
            cost_usd,
            cached,
            sent: attempts > 0,
        };
        let mut out = Vec::new();
        fn grader(c: &GraderCall) -> Answer<'_> {
            Answer {
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

    fn run(verdict: Verdict) -> CaseResult {
        CaseResult {
            index: 0,
            name: "s::t".into(),
            suite: "s".into(),
            suite_file: "s.yaml".into(),
            line: None,
            test_file: "s.yaml".into(),
            description: None,
            prompt: "p".into(),
            prompt_hash: "abc".into(),
            provider: "echo".into(),
            category: None,
            vars: Default::default(),
            verdict,
            score: 0.0,
            threshold: None,
            metrics: BTreeMap::new(),
            assertions: Vec::new(),
            output: Some(format!("{verdict:?}")),
            error: (verdict == Verdict::Error).then(|| "HTTP 500".to_string()),
            latency_ms: None,
            tokens: Default::default(),
            finish_reason: None,
            cost_usd: Some(0.5),
            replayed: false,
            cached: false,
            attempts: 1,
            min_pass_rate: None,
            repeats: None,
            duration_ms: 10,
        }
    }

    fn combined(verdicts: &[Verdict], rate: f64) -> CaseResult {
        combine_repeats(verdicts.iter().map(|v| run(*v)).collect(), rate)
    }

    #[test]
    fn repeats_pass_at_the_min_pass_rate_with_a_wilson_interval() {
        use Verdict::*;
        let c = combined(&[Pass, Pass, Fail, Pass, Fail], 1.0);
        assert_eq!(c.verdict, Fail);
        let r = c.repeats.as_ref().unwrap();
        assert_eq!((r.runs, r.passed, r.failed, r.flaky), (5, 3, 2, true));
        assert!((r.interval.0 - 0.2307).abs() < 1e-3 && (r.interval.1 - 0.8824).abs() < 1e-3);
        assert_eq!(c.output.as_deref(), Some("Fail"), "a failing run is shown");
        assert_eq!((c.attempts, c.duration_ms, c.cost_usd), (5, 50, Some(2.5)));
        assert_eq!(combined(&[Pass, Pass, Fail, Pass, Fail], 0.6).verdict, Pass);
        assert_eq!(combined(&[Pass, Pass, Fail, Pass, Fail], 0.61).verdict, Fail);
        assert!(combined(&[Pass; 4], 1.0).repeats.unwrap().interval.1 > 0.99);
        assert!(!combined(&[Pass; 4], 1.0).is_flaky());
    }

    #[test]
    fn runs_without_a_verdict_decide_only_when_they_matter() {
        use Verdict::*;
        // 4 of 5 passed: the error cannot change a 0.8 requirement.
        assert_eq!(combined(&[Pass, Pass, Pass, Pass, Error], 0.8).verdict, Pass);
        // It could have passed with the errored run: no verdict.
        let c = combined(&[Pass, Pass, Pass, Fail, Error], 0.8);
        assert_eq!(c.verdict, Error);
        assert_eq!(c.error.as_deref(), Some("HTTP 500"));
        // Even counting the error as a pass it fails.
        assert_eq!(combined(&[Pass, Fail, Fail, Fail, Error], 0.8).verdict, Fail);
        assert_eq!(combined(&[Error, Error], 1.0).verdict, Error);
        assert_eq!(combined(&[Skipped, Skipped], 1.0).verdict, Skipped);
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
}
