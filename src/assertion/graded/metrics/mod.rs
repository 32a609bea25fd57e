//! The model-graded metrics, one file each, and what several share: claim
//! verification and claim-ratio scores.

pub(crate) mod answer_relevance;
pub(crate) mod closedqa;
pub(crate) mod context_faithfulness;
pub(crate) mod context_recall;
pub(crate) mod context_relevance;
pub(crate) mod factuality;
pub(crate) mod g_eval;
pub(crate) mod llm_rubric;
pub(crate) mod similar;

use serde_json::{json, Map, Value};

use super::client::ask;
use super::prompt::{context, messages, prompt_vars, question};
use super::reply::{bool_field, string_field, ReplyError};
use super::{GradeInput, GraderBackend, GraderError};
use crate::assertion::{Assertion, AssertionType};
use crate::result::ClaimVerdict;

/// The un-negated outcome of a grading.
pub(crate) struct Grade {
    /// Score in [0, 1].
    pub score: f64,
    /// The verdict, before `not-`.
    pub pass: bool,
    /// Why, phrased for the un-negated check.
    pub reason: String,
    /// Claim-level verdicts (claim-ratio metrics).
    pub claims: Vec<ClaimVerdict>,
    /// The grader's raw reply to the deciding step.
    pub raw: Option<String>,
}

/// Grades `a` with the metric of its type (un-negated).
///
/// # Errors
/// A [`GraderError`]: a failed or refused call, a reply unusable twice,
/// missing vars, or a type that is not model-graded.
pub(crate) async fn grade(
    a: &Assertion,
    input: GradeInput<'_>,
    threshold: f64,
    backend: &dyn GraderBackend,
) -> Result<Grade, GraderError> {
    match a.kind {
        AssertionType::LlmRubric => llm_rubric::grade(a, input, threshold, backend).await,
        AssertionType::ContextFaithfulness => context_faithfulness::grade(a, input, threshold, backend).await,
        AssertionType::ContextRecall => context_recall::grade(a, input, threshold, backend).await,
        AssertionType::ContextRelevance => context_relevance::grade(a, input, threshold, backend).await,
        AssertionType::Factuality => factuality::grade(a, input, backend).await,
        AssertionType::ClosedQa => closedqa::grade(a, input, backend).await,
        AssertionType::AnswerRelevance => answer_relevance::grade(a, input, threshold, backend).await,
        AssertionType::Similar => similar::grade(input, threshold, backend).await,
        AssertionType::GEval => g_eval::grade(a, input, threshold, backend).await,
        other => Err(GraderError::NotModelGraded { kind: other.name() }),
    }
}

/// `≥` when the score reached the threshold, else `<`, for reasons.
pub(crate) fn relation(pass: bool) -> &'static str {
    if pass {
        "≥"
    } else {
        "<"
    }
}

/// The error for a context-based type without its context var.
pub(crate) fn missing_context(a: &Assertion) -> GraderError {
    GraderError::MissingContext {
        kind: a.kind.name(),
        var: a.context_var.as_deref().unwrap_or("context").to_string(),
    }
}

/// Checks that the test has the retrieved context and the question.
pub(crate) fn require_context_and_question(a: &Assertion, input: &GradeInput<'_>) -> Result<(), GraderError> {
    if context(a, input.vars).is_none() {
        return Err(missing_context(a));
    }
    if question(input.vars).is_none() {
        return Err(GraderError::MissingQuestion {
            assertion: format!("`{}`", a.kind.name()),
        });
    }
    Ok(())
}

fn parse_verdicts(o: &Map<String, Value>, expected: usize) -> Result<Vec<(bool, String)>, ReplyError> {
    let Some(Value::Array(items)) = o.get("verdicts") else {
        return Err(ReplyError::MissingList { key: "verdicts" });
    };
    if items.len() != expected {
        return Err(ReplyError::VerdictCount {
            found: items.len(),
            expected,
        });
    }
    items
        .iter()
        .map(|v| {
            let obj = v.as_object().ok_or(ReplyError::VerdictNotObject)?;
            Ok((bool_field(obj, "supported")?, string_field(obj, "reason")))
        })
        .collect()
}

/// Verifies `claims` against the context: the claim verdicts and the raw reply.
pub(crate) async fn verify(
    a: &Assertion,
    input: &GradeInput<'_>,
    template: &str,
    claims: &[String],
    backend: &dyn GraderBackend,
) -> Result<(Vec<ClaimVerdict>, String), GraderError> {
    let vars = prompt_vars(input, a, json!({ "claims": claims }));
    let msgs = messages(a, template, &vars, true)?;
    let n = claims.len();
    let (verdicts, raw) = ask(backend, "verify-claims", msgs, |o| parse_verdicts(o, n)).await?;
    let claims = claims
        .iter()
        .zip(verdicts)
        .map(|(c, (supported, reason))| ClaimVerdict {
            claim: c.clone(),
            supported,
            reason,
        })
        .collect();
    Ok((claims, raw))
}

/// Score and reason for a claim-ratio metric.
pub(crate) fn ratio_outcome(what: &str, claims: Vec<ClaimVerdict>, threshold: f64, raw: Option<String>) -> Grade {
    let total = claims.len();
    let supported = claims.iter().filter(|c| c.supported).count();
    let score = if total == 0 {
        1.0
    } else {
        supported as f64 / total as f64
    };
    let pass = score >= threshold;
    let cmp = relation(pass);
    let mut reason = if total == 0 {
        format!("no {what} to check: score 1 (threshold {threshold})")
    } else {
        format!("{supported}/{total} {what} supported by the context: {score:.2} {cmp} threshold {threshold}")
    };
    let unsupported: Vec<String> = claims
        .iter()
        .filter(|c| !c.supported)
        .map(|c| {
            if c.reason.is_empty() {
                format!("{:?}", c.claim)
            } else {
                format!("{:?} ({})", c.claim, c.reason)
            }
        })
        .collect();
    if !unsupported.is_empty() {
        reason.push_str("; unsupported: ");
        reason.push_str(&unsupported.join("; "));
    }
    Grade {
        score,
        pass,
        reason,
        claims,
        raw,
    }
}
