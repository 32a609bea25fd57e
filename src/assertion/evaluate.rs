//! Evaluating a deterministic assertion on a case's output: the check of its
//! type, then the `not-` inversion, as an [`AssertionResult`].

use serde_json::Value;

use super::deterministic;
use super::error::AssertionError;
use super::spec::{compile, CompiledValue};
use super::{display_value, Assertion, AssertionSpec};
use crate::result::AssertionResult;

/// What an assertion sees of a case.
#[derive(Debug, Clone, Copy)]
pub struct EvalContext<'a> {
    /// The provider's output.
    pub output: &'a str,
    /// Provider latency in ms, when measured (or recorded).
    pub latency_ms: Option<u64>,
    /// Cost of the call in USD, when known.
    pub cost_usd: Option<f64>,
}

/// The un-negated evaluation of a deterministic check.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Evaluation {
    pub pass: bool,
    pub score: f64,
    /// Describes what was found, phrased for the un-negated check.
    pub reason: String,
}

impl Evaluation {
    /// A pass (score 1) or a failure (score 0), with why.
    pub(crate) fn new(pass: bool, reason: impl Into<String>) -> Self {
        Evaluation {
            pass,
            score: if pass { 1.0 } else { 0.0 },
            reason: reason.into(),
        }
    }
}

impl AssertionSpec {
    /// The un-negated check of `value` on `ctx`, with `compiled` the regex or
    /// schema compiled from it.
    ///
    /// # Errors
    /// When the assertion cannot be evaluated (see [`AssertionError`]).
    pub(crate) fn check(
        &self,
        value: Option<&Value>,
        compiled: &CompiledValue,
        ctx: &EvalContext<'_>,
    ) -> Result<Evaluation, AssertionError> {
        deterministic::evaluate(self.kind, value, self.threshold, compiled, ctx)
    }

    /// [`Assertion::evaluate`] for an assertion written at `line`.
    pub fn evaluate_at(&self, line: Option<usize>, value: Option<&Value>, ctx: &EvalContext<'_>) -> AssertionResult {
        match self.try_evaluate(value, ctx) {
            Ok(o) => {
                let pass = o.pass != self.negate;
                let score = if self.negate { 1.0 - o.score } else { o.score };
                let reason = if self.negate && !pass {
                    format!("expected the opposite: {}", o.reason)
                } else {
                    o.reason
                };
                AssertionResult {
                    kind: self.type_name(),
                    expected: value.map(display_value),
                    pass,
                    score,
                    weight: self.weight,
                    metric: self.metric.clone(),
                    reason,
                    error: None,
                    line,
                    file: self.file.clone(),
                    grader: None,
                }
            }
            Err(e) => self.errored_at(line, value, e.to_string()),
        }
    }

    fn try_evaluate(&self, value: Option<&Value>, ctx: &EvalContext<'_>) -> Result<Evaluation, AssertionError> {
        if self.kind.is_model_graded() {
            return Err(AssertionError::NeedsGrader {
                assertion: self.type_name(),
            });
        }
        if self.templated {
            let compiled = value.map(|v| compile(self.kind, v)).transpose()?.unwrap_or_default();
            self.check(value, &compiled, ctx)
        } else {
            self.check(value, &self.compiled, ctx)
        }
    }

    /// The result of an assertion at `line` that could not be evaluated.
    pub fn errored_at(&self, line: Option<usize>, value: Option<&Value>, error: String) -> AssertionResult {
        AssertionResult {
            kind: self.type_name(),
            expected: value.map(display_value),
            pass: false,
            score: 0.0,
            weight: self.weight,
            metric: self.metric.clone(),
            reason: error.clone(),
            error: Some(error),
            line,
            file: self.file.clone(),
            grader: None,
        }
    }
}

impl Assertion {
    /// Evaluates the assertion on `ctx.output`. `value` is the value with its
    /// templates rendered (or `self.value` when static). Model-graded types
    /// need a grader: they are evaluated by [`graded::evaluate`](super::graded::evaluate),
    /// and here only produce an error.
    pub fn evaluate(&self, value: Option<&Value>, ctx: &EvalContext<'_>) -> AssertionResult {
        self.spec().evaluate_at(self.line, value, ctx)
    }

    /// The result of this assertion when it could not be evaluated.
    pub fn errored(&self, value: Option<&Value>, error: String) -> AssertionResult {
        self.spec().errored_at(self.line, value, error)
    }
}
