//! The outcome of one case, as the runner emits it and reporters read it:
//! verdicts and assertion results here, the case in `case` ([`CaseResult`]),
//! `--repeat` runs in `repeats` ([`combine_repeats`]), the whole run in
//! `summary` ([`RunSummary`]).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::provider::TokenUsage;

mod case;
mod repeats;
mod summary;

pub use case::{CaseResult, ReceivedAnswer, SkipReason};
pub use repeats::{combine_repeats, RepeatRun, Repeats};
pub use summary::{MetricSummary, RunSummary};

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
    /// `pass`, `fail`, `error`, `skipped`: the serialized form (JSON report,
    /// registry).
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Error => "error",
            Verdict::Skipped => "skipped",
        }
    }

    /// Parses [`Verdict::as_str`]'s form; `None` for anything else.
    pub fn parse(s: &str) -> Option<Verdict> {
        [Verdict::Pass, Verdict::Fail, Verdict::Error, Verdict::Skipped]
            .into_iter()
            .find(|v| v.as_str() == s)
    }

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

fn is_zero(n: &u32) -> bool {
    *n == 0
}
