//! Assertions: checks on a provider's output, with promptfoo's names and
//! semantics (<https://www.promptfoo.dev/docs/configuration/expected-outputs/>).
//!
//! Every type accepts the `not-` prefix (the result is inverted, score 1 − s),
//! `weight` (default 1; the share of the assertion in the test's score), `metric` (a named score
//! the summary aggregates) and, where it makes sense, `threshold`:
//!
//! | type | value | passes when |
//! |------|-------|-------------|
//! | `equals` | text, or JSON (object/array/number) | output equals it (JSON values compare as parsed JSON) |
//! | `contains` / `icontains` | text | output contains it (`i`: case-insensitive) |
//! | `contains-any` / `icontains-any` | list (or comma-separated text) | output contains at least one |
//! | `contains-all` / `icontains-all` | list (or comma-separated text) | output contains every one |
//! | `starts-with` | text | output starts with it |
//! | `regex` | Rust `regex` pattern | the pattern matches somewhere in the output |
//! | `is-json` | optional JSON Schema | the whole output is JSON (valid against the schema) |
//! | `contains-json` | optional JSON Schema | some JSON object/array inside the output parses (and validates) |
//! | `levenshtein` | text; `threshold` = max distance (default 5) | edit distance ≤ threshold |
//! | `latency` | `threshold` in ms (required) | provider latency ≤ threshold |
//! | `cost` | `threshold` in USD (required) | call cost ≤ threshold |
//! | `word-count` | a number, or `{min, max}` | whitespace-separated word count matches |
//!
//! String values are minijinja templates rendered with the test's vars
//! (`{{ expected }}`) before evaluation.
//!
//! Layout: [`kind`] (the table of types and their properties), `spec` (what
//! an assertion checks, validated at load time), `evaluate` (the deterministic
//! evaluation and the `not-` inversion), `deterministic/` (text and JSON
//! checks), [`graded`] (model-graded types: grader calls, prompts, reply
//! parsing, one file per metric), and `error` ([`AssertionError`]).

mod deterministic;
mod error;
mod evaluate;
pub mod graded;
pub mod kind;
mod spec;

pub use error::AssertionError;
pub use evaluate::EvalContext;
pub(crate) use evaluate::Evaluation;
pub use graded::{GraderBackend, GraderError, GraderProviders, RubricPrompt};
pub use kind::{parse_type, AssertionType, TypeNameError, PROMPTFOO_ONLY_TYPES, TYPE_NAMES};
pub use spec::{AssertionSpec, CompiledValue};

use std::sync::Arc;

use serde_json::Value;

use crate::result::AssertionResult;

/// One assertion of a test case: the line it is written on, and what it
/// checks ([`AssertionSpec`], read through `Deref`).
///
/// The spec is shared by every test that writes the same assertion in the
/// same file (a suite of 100,000 tests with three assertions each holds a
/// handful of specs, not 300,000); changing it through `DerefMut` copies it
/// first when it is shared.
#[derive(Debug, Clone)]
pub struct Assertion {
    /// 1-based line in the file the assertion came from.
    pub line: Option<usize>,
    spec: Arc<AssertionSpec>,
}

impl Assertion {
    /// An assertion written at `line`.
    pub fn new(spec: AssertionSpec, line: Option<usize>) -> Self {
        Assertion {
            line,
            spec: Arc::new(spec),
        }
    }

    /// An assertion at `line` sharing `spec` with others.
    pub fn shared(spec: Arc<AssertionSpec>, line: Option<usize>) -> Self {
        Assertion { line, spec }
    }

    /// The shared spec.
    pub fn spec(&self) -> &Arc<AssertionSpec> {
        &self.spec
    }
}

impl std::ops::Deref for Assertion {
    type Target = AssertionSpec;
    fn deref(&self) -> &AssertionSpec {
        &self.spec
    }
}

impl std::ops::DerefMut for Assertion {
    fn deref_mut(&mut self) -> &mut AssertionSpec {
        Arc::make_mut(&mut self.spec)
    }
}

/// A value as shown in reports: strings bare, anything else as JSON.
pub fn display_value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The weighted score of a case and its pass/fail, promptfoo's rule: with a
/// test `threshold`, pass = score ≥ threshold; without one, every assertion
/// must pass (whatever its weight). Score = Σ wᵢ·sᵢ / Σ wᵢ (1 when there are
/// no assertions, 0 when every weight is 0).
pub fn aggregate(results: &[AssertionResult], threshold: Option<f64>) -> (bool, f64) {
    let total_weight: f64 = results.iter().map(|r| r.weight).sum();
    let score = if total_weight > 0.0 {
        results.iter().map(|r| r.weight * r.score).sum::<f64>() / total_weight
    } else if results.is_empty() {
        1.0
    } else {
        // Only weight-0 assertions: nothing counts towards the score (the
        // loader rejects a threshold in that case).
        0.0
    };
    let pass = match threshold {
        Some(t) => score >= t,
        None => results.iter().all(|r| r.pass),
    };
    (pass, score)
}
