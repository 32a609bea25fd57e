//! The deterministic assertions: checks computed from the output, its
//! latency and its cost, with no grader. `text` holds the string checks,
//! `latency`, `cost` and `word-count`; `json` the JSON ones.

pub(crate) mod json;
pub(crate) mod text;

use serde_json::Value;

use super::error::AssertionError;
use super::evaluate::{EvalContext, Evaluation};
use super::spec::CompiledValue;
use super::AssertionType;

/// Evaluates a deterministic assertion (un-negated).
///
/// `value` is the rendered value, `threshold` the assertion's own threshold,
/// `compiled` the regex or schema compiled from the value (if any).
///
/// # Errors
/// When the assertion cannot be evaluated: a value of the wrong shape, an
/// invalid regex, an empty list, a latency / cost that was not measured, or
/// a model-graded type.
pub(crate) fn evaluate(
    kind: AssertionType,
    value: Option<&Value>,
    threshold: Option<f64>,
    compiled: &CompiledValue,
    ctx: &EvalContext<'_>,
) -> Result<Evaluation, AssertionError> {
    match (kind, value) {
        (AssertionType::IsJson | AssertionType::ContainsJson, _) => json::evaluate(kind, compiled, ctx.output),
        (AssertionType::Equals, Some(v)) if !v.is_string() => Ok(json::equals_json(v, ctx.output)),
        _ => text::evaluate(kind, value, threshold, compiled, ctx),
    }
}
