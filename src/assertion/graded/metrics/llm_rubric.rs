//! `llm-rubric`: the grader judges the output against a rubric and gives
//! `{reason, pass, score}`; the verdict is score ≥ threshold (a `pass` its own
//! score contradicts is resolved by the score).

use serde_json::Value;

use super::Grade;
use crate::assertion::graded::client::ask;
use crate::assertion::graded::prompt::{messages, prompt_vars, LLM_RUBRIC};
use crate::assertion::graded::reply::{bool_field, number_field, string_field};
use crate::assertion::graded::{GradeInput, GraderBackend, GraderError};
use crate::assertion::Assertion;

/// Grades the output (un-negated).
pub(crate) async fn grade(
    a: &Assertion,
    input: GradeInput<'_>,
    threshold: f64,
    backend: &dyn GraderBackend,
) -> Result<Grade, GraderError> {
    let vars = prompt_vars(&input, a, Value::Null);
    let msgs = messages(a, LLM_RUBRIC, &vars, true)?;
    let ((pass, score, reason), raw) = ask(backend, "grade", msgs, |o| {
        Ok((
            bool_field(o, "pass")?,
            number_field(o, "score", 0.0, 1.0)?,
            string_field(o, "reason"),
        ))
    })
    .await?;
    // A `pass` that its own score contradicts is resolved by the threshold,
    // never by trusting `pass` alone (in either direction, so that `not-`
    // inverts the same decision).
    let verdict = score >= threshold;
    let note = if pass && !verdict {
        format!(" (the grader said pass, but its score {score:.2} is below the threshold {threshold}: resolved by the score)")
    } else if !pass && verdict {
        format!(" (the grader said fail, but its score {score:.2} reaches the threshold {threshold}: resolved by the score)")
    } else {
        String::new()
    };
    Ok(Grade {
        score,
        pass: verdict,
        reason: format!("score {score:.2}, threshold {threshold}: {reason}{note}"),
        claims: Vec::new(),
        raw: Some(raw),
    })
}
