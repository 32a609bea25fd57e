//! What an assertion checks ([`AssertionSpec`]) and its load-time checks:
//! the value's shape, thresholds, weights, the vars a model-graded type
//! reads, and the regex or JSON Schema compiled once from a static value.

use std::sync::Arc;

use serde_json::Value;

use super::error::AssertionError;
use super::{graded, AssertionType, EvalContext, GraderProviders, RubricPrompt};

/// Work done once at load time for a value that contains no template.
#[derive(Debug, Clone, Default)]
pub enum CompiledValue {
    /// Nothing to precompute (or the value is a template, compiled per case).
    #[default]
    None,
    /// A `regex` pattern.
    Regex(Arc<regex::Regex>),
    /// A JSON Schema for `is-json` / `contains-json`.
    Schema(Arc<jsonschema::Validator>),
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
    pub compiled: CompiledValue,
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
    /// What is wrong with the value, the threshold or the weight.
    pub fn prepare(&mut self) -> Result<(), AssertionError> {
        if self.kind.needs_value() && self.value.is_none() {
            return Err(AssertionError::ValueRequired {
                assertion: self.type_name(),
            });
        }
        if let (Some(unit), None) = (self.kind.info().threshold_unit, self.threshold) {
            return Err(AssertionError::ThresholdRequired {
                assertion: self.type_name(),
                unit,
            });
        }
        if !(self.weight.is_finite() && self.weight >= 0.0) {
            return Err(AssertionError::InvalidWeight { weight: self.weight });
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
                return Err(AssertionError::EmptyNeedle {
                    assertion: self.type_name(),
                });
            }
        }
        self.compiled = match &self.value {
            Some(v) => compile_cached(self.kind, v)?,
            None => CompiledValue::None,
        };
        // A static value's shape (an empty list, `word-count: {minimum: 3}`, a
        // negative threshold) is checked now, by a dry run on an empty output:
        // an evaluation error here is a load error, not a per-case error later.
        let probe = EvalContext {
            output: "",
            latency_ms: Some(0),
            cost_usd: Some(0.0),
        };
        self.check(self.value.as_ref(), &self.compiled, &probe).map(|_| ())
    }

    /// Load-time checks of a model-graded assertion: a threshold is a score
    /// in [0, 1], and a static value has the right shape.
    fn prepare_graded(&self) -> Result<(), AssertionError> {
        let assertion = self.type_name();
        if let Some(threshold) = self.threshold {
            if matches!(self.kind, AssertionType::Factuality | AssertionType::ClosedQa) {
                return Err(AssertionError::ThresholdNotAllowed { assertion });
            }
            if !(threshold > 0.0 && threshold <= 1.0) {
                return Err(AssertionError::ScoreThresholdOutOfRange { assertion, threshold });
            }
        }
        if !self.kind.needs_value() && self.value.is_some() {
            return Err(AssertionError::GradedValueNotAllowed { assertion });
        }
        if let (AssertionType::ContextRecall, Some(Value::String(v)), false) = (self.kind, &self.value, self.templated)
        {
            if graded::sentences(v).is_empty() {
                return Err(AssertionError::NoReferenceSentence);
            }
        }
        match (&self.value, self.kind) {
            (Some(Value::Array(items)), AssertionType::Similar)
                if !items.is_empty() && items.iter().all(|i| i.as_str().is_some_and(|s| !s.trim().is_empty())) =>
            {
                Ok(())
            }
            (Some(Value::String(s)), _) if s.trim().is_empty() && self.kind.needs_value() => {
                Err(AssertionError::EmptyGradedValue { assertion })
            }
            (Some(Value::String(_)), _) | (None, _) => Ok(()),
            (Some(_), AssertionType::Similar) => Err(AssertionError::SimilarValueShape),
            (Some(_), kind) if kind.needs_value() => Err(AssertionError::GradedValueNotText { assertion }),
            (Some(_), _) => Err(AssertionError::ValueNotAllowed { assertion }),
        }
    }

    /// Checks, once per test, that the vars a model-graded type reads are
    /// there (`context` / `contextVar`, `query` / `question`).
    ///
    /// # Errors
    /// Which var is missing and what would be right.
    pub fn check_vars(&self, vars: &serde_json::Map<String, Value>) -> Result<(), AssertionError> {
        if self.kind.needs_context() {
            let name = self.context_var.as_deref().unwrap_or("context");
            if vars.get(name).is_none_or(Value::is_null) {
                let assertion = self.type_name();
                return Err(match &self.context_var {
                    Some(var) => AssertionError::MissingContextVar {
                        assertion,
                        var: var.clone(),
                    },
                    None => AssertionError::MissingContext { assertion },
                });
            }
        }
        if self.kind.needs_question() && graded::question(vars).is_none() {
            return Err(AssertionError::MissingQuestion {
                assertion: self.type_name(),
            });
        }
        Ok(())
    }
}

/// [`compile`] through a process-wide cache keyed by type and value. A suite
/// often repeats the same static pattern or schema in every test; a compiled
/// `regex` with Unicode classes costs tens of KB and ~0.1 ms, so 10,000 copies
/// would dominate loading. Only static values (written in suite files, so
/// bounded by their size) go through the cache, never per-case rendered ones.
fn compile_cached(kind: AssertionType, value: &Value) -> Result<CompiledValue, AssertionError> {
    use std::collections::HashMap;
    use std::sync::{LazyLock, Mutex};
    static CACHE: LazyLock<Mutex<HashMap<(&'static str, String), CompiledValue>>> =
        LazyLock::new(|| Mutex::new(HashMap::new()));
    if !matches!(
        kind,
        AssertionType::Regex | AssertionType::IsJson | AssertionType::ContainsJson
    ) {
        return Ok(CompiledValue::None);
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

/// Compiles a `regex` pattern or an `is-json` / `contains-json` schema
/// (given as JSON, or as text holding JSON); other types compile nothing.
///
/// # Errors
/// A pattern that is not text or does not compile; a schema that is not
/// JSON or not a valid JSON Schema.
pub(crate) fn compile(kind: AssertionType, value: &Value) -> Result<CompiledValue, AssertionError> {
    match kind {
        AssertionType::Regex => {
            let pattern = value.as_str().ok_or(AssertionError::PatternRequired)?;
            regex::Regex::new(pattern)
                .map(|r| CompiledValue::Regex(Arc::new(r)))
                .map_err(|source| AssertionError::InvalidRegex { source })
        }
        AssertionType::IsJson | AssertionType::ContainsJson => {
            let schema = match value {
                Value::String(s) => serde_json::from_str::<Value>(s)
                    .map_err(|e| AssertionError::SchemaNotJson { message: e.to_string() })?,
                other => other.clone(),
            };
            jsonschema::validator_for(&schema)
                .map(|v| CompiledValue::Schema(Arc::new(v)))
                .map_err(|e| AssertionError::InvalidSchema { message: e.to_string() })
        }
        _ => Ok(CompiledValue::None),
    }
}
