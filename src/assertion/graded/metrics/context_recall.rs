//! `context-recall` (RAGAS): the share of the reference answer's statements
//! (its sentences) that the retrieved context supports.

use super::{missing_context, ratio_outcome, verify, Grade};
use crate::assertion::display_value;
use crate::assertion::graded::prompt::{context, CONTEXT_RECALL};
use crate::assertion::graded::{sentences, GradeInput, GraderBackend, GraderError};
use crate::assertion::Assertion;

/// Grades the output (un-negated).
pub(crate) async fn grade(
    a: &Assertion,
    input: GradeInput<'_>,
    threshold: f64,
    backend: &dyn GraderBackend,
) -> Result<Grade, GraderError> {
    if context(a, input.vars).is_none() {
        return Err(missing_context(a));
    }
    let reference = input.value.map(display_value).unwrap_or_default();
    let statements = sentences(&reference);
    if statements.is_empty() {
        return Err(GraderError::NoReferenceSentences);
    }
    let (verdicts, raw) = verify(a, &input, CONTEXT_RECALL, &statements, backend).await?;
    Ok(ratio_outcome("reference statements", verdicts, threshold, Some(raw)))
}
