//! `model-graded-closedqa`: a yes/no judgement on a criterion.

use serde_json::Value;

use super::Grade;
use crate::assertion::graded::client::ask;
use crate::assertion::graded::prompt::{messages, prompt_vars, CLOSED_QA};
use crate::assertion::graded::reply::{bool_field, string_field};
use crate::assertion::graded::{GradeInput, GraderBackend, GraderError};
use crate::assertion::Assertion;

/// Grades the output (un-negated).
pub(crate) async fn grade(
    a: &Assertion,
    input: GradeInput<'_>,
    backend: &dyn GraderBackend,
) -> Result<Grade, GraderError> {
    let vars = prompt_vars(&input, a, Value::Null);
    let msgs = messages(a, CLOSED_QA, &vars, true)?;
    let ((pass, reason), raw) = ask(backend, "grade", msgs, |o| {
        Ok((bool_field(o, "pass")?, string_field(o, "reason")))
    })
    .await?;
    Ok(Grade {
        score: if pass { 1.0 } else { 0.0 },
        pass,
        reason: format!(
            "{}: {reason}",
            if pass {
                "meets the criterion"
            } else {
                "does not meet the criterion"
            }
        ),
        claims: Vec::new(),
        raw: Some(raw),
    })
}
