//! `factuality` (alias `model-graded-factuality`): the output's consistency
//! with a reference answer, in promptfoo's five categories (A–E); it fails
//! only when they disagree.

use serde_json::Value;

use super::Grade;
use crate::assertion::graded::client::ask;
use crate::assertion::graded::prompt::{messages, prompt_vars, FACTUALITY};
use crate::assertion::graded::reply::{string_field, ReplyError};
use crate::assertion::graded::{GradeInput, GraderBackend, GraderError};
use crate::assertion::Assertion;

/// The five `factuality` categories (promptfoo's A–E, in that order).
pub(crate) const CATEGORIES: [&str; 5] = ["subset", "superset", "same", "disagrees", "differs-but-consistent"];

/// Grades the output (un-negated).
pub(crate) async fn grade(
    a: &Assertion,
    input: GradeInput<'_>,
    backend: &dyn GraderBackend,
) -> Result<Grade, GraderError> {
    let vars = prompt_vars(&input, a, Value::Null);
    let msgs = messages(a, FACTUALITY, &vars, true)?;
    let ((category, reason), raw) = ask(backend, "grade", msgs, |o| {
        let c = string_field(o, "category")
            .trim()
            .to_ascii_lowercase()
            .replace(['_', ' '], "-");
        let c = match c.as_str() {
            "a" => "subset",
            "b" => "superset",
            "c" => "same",
            "d" => "disagrees",
            "e" => "differs-but-consistent",
            other => CATEGORIES
                .iter()
                .find(|k| **k == other)
                .copied()
                .ok_or_else(|| ReplyError::UnknownCategory {
                    found: other.to_string(),
                })?,
        };
        Ok((c, string_field(o, "reason")))
    })
    .await?;
    let pass = category != "disagrees";
    Ok(Grade {
        score: if pass { 1.0 } else { 0.0 },
        pass,
        reason: format!("{category}: {reason}"),
        claims: Vec::new(),
        raw: Some(raw),
    })
}
