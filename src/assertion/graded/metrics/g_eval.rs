//! `g-eval` (Liu et al., 2023, arXiv:2303.16634): evaluation steps, then a
//! 1–10 score on the criteria; score = (s − 1) / 9.

use serde_json::Value;

use super::{relation, Grade};
use crate::assertion::graded::client::ask;
use crate::assertion::graded::prompt::{messages, prompt_vars, G_EVAL};
use crate::assertion::graded::reply::{number_field, string_field};
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
    let msgs = messages(a, G_EVAL, &vars, true)?;
    let ((raw_score, reason), raw) = ask(backend, "grade", msgs, |o| {
        Ok((number_field(o, "score", 1.0, 10.0)?, string_field(o, "reason")))
    })
    .await?;
    let score = (raw_score - 1.0) / 9.0;
    let pass = score >= threshold;
    let cmp = relation(pass);
    Ok(Grade {
        score,
        pass,
        reason: format!("{raw_score}/10 → {score:.2} {cmp} threshold {threshold}: {reason}"),
        claims: Vec::new(),
        raw: Some(raw),
    })
}
