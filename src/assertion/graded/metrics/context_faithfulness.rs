//! `context-faithfulness` (alias `faithfulness`): RAGAS' claim-level
//! faithfulness. The grader lists the claims of the answer, then says of each
//! whether the context supports it; score = supported / claims (1 with no
//! claims).

use serde_json::Value;

use super::{ratio_outcome, require_context_and_question, verify, Grade};
use crate::assertion::graded::client::ask;
use crate::assertion::graded::prompt::{messages, prompt_vars, FAITHFULNESS_CLAIMS, FAITHFULNESS_VERIFY};
use crate::assertion::graded::reply::string_list;
use crate::assertion::graded::{GradeInput, GraderBackend, GraderError};
use crate::assertion::Assertion;

/// Grades the output (un-negated).
pub(crate) async fn grade(
    a: &Assertion,
    input: GradeInput<'_>,
    threshold: f64,
    backend: &dyn GraderBackend,
) -> Result<Grade, GraderError> {
    require_context_and_question(a, &input)?;
    let vars = prompt_vars(&input, a, Value::Null);
    let msgs = messages(a, FAITHFULNESS_CLAIMS, &vars, false)?;
    let (claims, raw) = ask(backend, "extract-claims", msgs, |o| string_list(o, "claims")).await?;
    if claims.is_empty() {
        return Ok(ratio_outcome("claims", Vec::new(), threshold, Some(raw)));
    }
    let (verdicts, raw) = verify(a, &input, FAITHFULNESS_VERIFY, &claims, backend).await?;
    Ok(ratio_outcome("claims", verdicts, threshold, Some(raw)))
}
