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

pub mod graded;
mod json;
pub mod kind;
mod text;

pub use graded::{GraderBackend, GraderError, GraderProviders, RubricPrompt};
pub use kind::{parse_type, AssertionType, TypeNameError, PROMPTFOO_ONLY_TYPES, TYPE_NAMES};

use std::sync::Arc;

use serde_json::Value;

use crate::result::AssertionResult;

/// Work done once at load time for a value that contains no template.
#[derive(Debug, Clone, Default)]
pub enum Compiled {
    /// Nothing to precompute (or the value is a template, compiled per case).
    #[default]
    None,
    /// A `regex` pattern.
    Regex(Arc<regex::Regex>),
    /// A JSON Schema for `is-json` / `contains-json`.
    Schema(Arc<jsonschema::Validator>),
}

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

/// What an assertion checks, as loaded from a suite and validated.
#[derive(Debug, Clone)]
pub struct AssertionSpec {
    /// The type.
    pub kind: AssertionType,
    /// True for the `not-` form.
    pub negate: bool,
    /// The value as written (strings may be templates).
    pub value: Option<Value>,
    /// True when some string in `value` is a minijinja template.
    pub templated: bool,
    /// Assertion-level threshold (levenshtein: max distance; latency: ms; cost: USD).
    pub threshold: Option<f64>,
    /// Weight in the test's score (≥ 0, default 1).
    pub weight: f64,
    /// Named metric this assertion feeds.
    pub metric: Option<String>,
    /// The file the assertion came from.
    pub file: Option<std::path::PathBuf>,
    /// Precompiled regex or schema (static values only).
    pub compiled: Compiled,
    /// Model-graded types: the grader providers the suite names (assertion
    /// `provider`, else the test's, else `defaultTest`'s `options.provider`);
    /// what is still missing comes from `--grader` when the run is planned.
    pub graders: GraderProviders,
    /// Model-graded types: a `rubricPrompt` replacing the judging prompt.
    pub rubric_prompt: Option<Arc<RubricPrompt>>,
    /// Context-based types: the var holding the context (`contextVar`, default `context`).
    pub context_var: Option<String>,
}

impl AssertionSpec {
    /// `not-contains`: the type as written.
    pub fn type_name(&self) -> String {
        if self.negate {
            format!("not-{}", self.kind.name())
        } else {
            self.kind.name().to_string()
        }
    }

    /// Checks the value's shape and compiles regexes and schemas when the
    /// value is static. Called at load time so that bad input is an exit-2
    /// error with file and line.
    ///
    /// # Errors
    /// What is wrong with the value, in one line.
    pub fn prepare(&mut self) -> Result<(), String> {
        if self.kind.needs_value() && self.value.is_none() {
            return Err(format!("assertion `{}` needs a `value`", self.type_name()));
        }
        if self.kind.needs_threshold() && self.threshold.is_none() {
            let unit = self.kind.info().threshold_unit.unwrap_or_default();
            return Err(format!(
                "assertion `{}` needs a `threshold` (in {unit})",
                self.type_name()
            ));
        }
        if !(self.weight.is_finite() && self.weight >= 0.0) {
            return Err(format!("`weight` must be a number ≥ 0, got {}", self.weight));
        }
        if self.kind.is_model_graded() {
            return self.prepare_graded();
        }
        if self.templated {
            return Ok(());
        }
        if let Some(v) = &self.value {
            let needle_kind = matches!(
                self.kind,
                AssertionType::Contains
                    | AssertionType::IContains
                    | AssertionType::StartsWith
                    | AssertionType::Regex
                    | AssertionType::ContainsAny
                    | AssertionType::IContainsAny
                    | AssertionType::ContainsAll
                    | AssertionType::IContainsAll
            );
            let empty = match v {
                Value::String(s) => s.is_empty(),
                Value::Array(items) => items.iter().any(|i| i.as_str() == Some("")),
                _ => false,
            };
            if needle_kind && empty {
                return Err(format!(
                    "`{}` with an empty value matches every output, so it can never fail (or, negated, never pass)",
                    self.type_name()
                ));
            }
        }
        self.compiled = match &self.value {
            Some(v) => compile_cached(self.kind, v)?,
            None => Compiled::None,
        };
        // A static value's shape (an empty list, `word-count: {minimum: 3}`, a
        // negative threshold) is checked now, by a dry run on an empty output:
        // an evaluation error here is a load error, not a per-case error later.
        let probe = EvalContext {
            output: "",
            latency_ms: Some(0),
            cost_usd: Some(0.0),
        };
        match self.evaluate_at(None, self.value.as_ref(), &probe).error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Load-time checks of a model-graded assertion: a threshold is a score
    /// in [0, 1], and a static value has the right shape.
    fn prepare_graded(&self) -> Result<(), String> {
        if let Some(t) = self.threshold {
            if matches!(self.kind, AssertionType::Factuality | AssertionType::ClosedQa) {
                return Err(format!(
                    "`{}` takes no `threshold`: its verdict is the grader's yes/no (score 1 or 0)",
                    self.type_name()
                ));
            }
            if !(t > 0.0 && t <= 1.0) {
                let why = if t == 0.0 {
                    " (every score is ≥ 0, so a threshold of 0 could never fail)"
                } else {
                    ""
                };
                return Err(format!(
                    "`threshold` of `{}` is a score above 0 and at most 1, got {t}{why}",
                    self.type_name()
                ));
            }
        }
        if !self.kind.needs_value() && self.value.is_some() {
            return Err(format!(
                "`{}` takes no `value` (it reads the output, the question and the context)",
                self.type_name()
            ));
        }
        if let (AssertionType::ContextRecall, Some(Value::String(v)), false) = (self.kind, &self.value, self.templated)
        {
            if graded::sentences(v).is_empty() {
                return Err("`context-recall` needs the reference answer as `value`: it has no sentence".into());
            }
        }
        match (&self.value, self.kind) {
            (Some(Value::Array(items)), AssertionType::Similar)
                if !items.is_empty() && items.iter().all(|i| i.as_str().is_some_and(|s| !s.trim().is_empty())) =>
            {
                Ok(())
            }
            (Some(Value::String(s)), _) if s.trim().is_empty() && self.kind.needs_value() => Err(format!(
                "`{}` with an empty value gives the grader nothing to compare against",
                self.type_name()
            )),
            (Some(Value::String(_)), _) | (None, _) => Ok(()),
            (Some(_), AssertionType::Similar) => {
                Err("`similar` needs a reference text, or a list of texts, as `value`".into())
            }
            (Some(_), kind) if kind.needs_value() => Err(format!("`{}` needs a text as `value`", self.type_name())),
            (Some(_), _) => Err(format!("`{}` takes no `value`", self.type_name())),
        }
    }

    /// Checks, once per test, that the vars a model-graded type reads are
    /// there (`context` / `contextVar`, `query` / `question`).
    ///
    /// # Errors
    /// Which var is missing and what would be right.
    pub fn check_vars(&self, vars: &serde_json::Map<String, Value>) -> Result<(), String> {
        if self.kind.needs_context() {
            let name = self.context_var.as_deref().unwrap_or("context");
            if vars.get(name).is_none_or(Value::is_null) {
                let how = if self.context_var.is_some() {
                    format!("the test has no var `{name}` (named by `contextVar`)")
                } else {
                    "the test has no var `context`; give the retrieved context in `vars.context`, or name its var with `contextVar`".into()
                };
                return Err(format!("`{}` reads the retrieved context: {how}", self.type_name()));
            }
        }
        if self.kind.needs_question() && graded::question(vars).is_none() {
            return Err(format!(
                "`{}` reads the user's question: the test has neither `vars.query` nor `vars.question` (or it is empty)",
                self.type_name()
            ));
        }
        Ok(())
    }

    /// [`Assertion::evaluate`] for an assertion written at `line`.
    pub fn evaluate_at(&self, line: Option<usize>, value: Option<&Value>, ctx: &EvalContext<'_>) -> AssertionResult {
        if self.kind.is_model_graded() {
            return self.errored_at(
                line,
                value,
                format!("`{}` needs a grader and was evaluated without one", self.type_name()),
            );
        }
        let compiled = if self.templated {
            match value.map(|v| compile(self.kind, v)).transpose() {
                Ok(c) => c.unwrap_or_default(),
                Err(e) => return self.errored_at(line, value, e),
            }
        } else {
            self.compiled.clone()
        };
        let outcome = match self.kind {
            AssertionType::IsJson | AssertionType::ContainsJson => json::evaluate(self.kind, &compiled, ctx.output),
            AssertionType::Equals if value.is_some_and(|v| !v.is_string()) => {
                json::equals_json(value.unwrap_or(&Value::Null), ctx.output)
            }
            _ => text::evaluate(self.kind, value, self.threshold, &compiled, ctx),
        };
        match outcome {
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
            Err(e) => self.errored_at(line, value, e),
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
    /// need a grader: they are evaluated by [`graded::evaluate`], and here
    /// only produce an error.
    pub fn evaluate(&self, value: Option<&Value>, ctx: &EvalContext<'_>) -> AssertionResult {
        self.spec.evaluate_at(self.line, value, ctx)
    }

    /// The result of this assertion when it could not be evaluated.
    pub fn errored(&self, value: Option<&Value>, error: String) -> AssertionResult {
        self.spec.errored_at(self.line, value, error)
    }
}

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

/// The un-negated outcome of a check.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Outcome {
    pub pass: bool,
    pub score: f64,
    /// Describes what was found, phrased for the un-negated check.
    pub reason: String,
}

impl Outcome {
    pub(crate) fn new(pass: bool, reason: impl Into<String>) -> Self {
        Outcome {
            pass,
            score: if pass { 1.0 } else { 0.0 },
            reason: reason.into(),
        }
    }
}

/// [`compile`] through a process-wide cache keyed by type and value. A suite
/// often repeats the same static pattern or schema in every test; a compiled
/// `regex` with Unicode classes costs tens of KB and ~0.1 ms, so 10,000 copies
/// would dominate loading. Only static values (written in suite files, so
/// bounded by their size) go through the cache, never per-case rendered ones.
fn compile_cached(kind: AssertionType, value: &Value) -> Result<Compiled, String> {
    use std::collections::HashMap;
    use std::sync::{LazyLock, Mutex};
    static CACHE: LazyLock<Mutex<HashMap<(&'static str, String), Compiled>>> =
        LazyLock::new(|| Mutex::new(HashMap::new()));
    if !matches!(
        kind,
        AssertionType::Regex | AssertionType::IsJson | AssertionType::ContainsJson
    ) {
        return Ok(Compiled::None);
    }
    let key = (kind.name(), value.to_string());
    if let Some(hit) = CACHE.lock().ok().and_then(|c| c.get(&key).cloned()) {
        return Ok(hit);
    }
    let compiled = compile(kind, value)?;
    if let Ok(mut c) = CACHE.lock() {
        c.insert(key, compiled.clone());
    }
    Ok(compiled)
}

fn compile(kind: AssertionType, value: &Value) -> Result<Compiled, String> {
    match kind {
        AssertionType::Regex => {
            let pattern = value.as_str().ok_or("`regex` needs a string pattern as `value`")?;
            regex::Regex::new(pattern)
                .map(|r| Compiled::Regex(Arc::new(r)))
                .map_err(|e| format!("invalid regex: {}", one_line(&e.to_string())))
        }
        AssertionType::IsJson | AssertionType::ContainsJson => {
            let schema = match value {
                Value::String(s) => serde_json::from_str::<Value>(s)
                    .map_err(|e| format!("the JSON Schema in `value` is not JSON: {e}"))?,
                other => other.clone(),
            };
            jsonschema::validator_for(&schema)
                .map(|v| Compiled::Schema(Arc::new(v)))
                .map_err(|e| format!("invalid JSON Schema: {e}"))
        }
        _ => Ok(Compiled::None),
    }
}

fn one_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
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
