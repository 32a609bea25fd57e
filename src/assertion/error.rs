//! Why an assertion is invalid (found when the suite is loaded) or cannot be
//! evaluated on a case: one enum for the deterministic checks and the
//! assertion's spec. Model-graded evaluations have their own
//! [`GraderError`](super::GraderError); unknown type names are a
//! [`TypeNameError`](super::TypeNameError).
//!
//! The messages are read by users (in diagnostics and reports) and by tests:
//! they are one line each and name the assertion as written.

use serde_json::Value;

use super::AssertionType;

/// Why an assertion is invalid or cannot be evaluated.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AssertionError {
    // ---- the spec, checked at load time ------------------------------------
    /// The type needs a `value` and has none.
    #[error("assertion `{assertion}` needs a `value`")]
    ValueRequired {
        /// The type as written (`not-contains`).
        assertion: String,
    },
    /// The type needs a `threshold` (`latency`, `cost`) and has none.
    #[error("assertion `{assertion}` needs a `threshold` (in {unit})")]
    ThresholdRequired {
        /// The type as written.
        assertion: String,
        /// The threshold's unit (`milliseconds`, `USD`).
        unit: &'static str,
    },
    /// `weight` is negative, infinite or NaN.
    #[error("`weight` must be a number ≥ 0, got {weight}")]
    InvalidWeight {
        /// The weight given.
        weight: f64,
    },
    /// A `contains`-like type with an empty needle, which every output contains.
    #[error("`{assertion}` with an empty value matches every output, so it can never fail (or, negated, never pass)")]
    EmptyNeedle {
        /// The type as written.
        assertion: String,
    },
    /// `factuality` / `model-graded-closedqa` decide by yes/no: no threshold.
    #[error("`{assertion}` takes no `threshold`: its verdict is the grader's yes/no (score 1 or 0)")]
    ThresholdNotAllowed {
        /// The type as written.
        assertion: String,
    },
    /// A model-graded threshold outside (0, 1].
    #[error(
        "`threshold` of `{assertion}` is a score above 0 and at most 1, got {threshold}{}",
        if *threshold == 0.0 { " (every score is ≥ 0, so a threshold of 0 could never fail)" } else { "" }
    )]
    ScoreThresholdOutOfRange {
        /// The type as written.
        assertion: String,
        /// The threshold given.
        threshold: f64,
    },
    /// A model-graded type that reads the output, question and context was given a `value`.
    #[error("`{assertion}` takes no `value` (it reads the output, the question and the context)")]
    GradedValueNotAllowed {
        /// The type as written.
        assertion: String,
    },
    /// A type that takes no `value` was given one.
    #[error("`{assertion}` takes no `value`")]
    ValueNotAllowed {
        /// The type as written.
        assertion: String,
    },
    /// `context-recall`'s reference answer has no sentence.
    #[error("`context-recall` needs the reference answer as `value`: it has no sentence")]
    NoReferenceSentence,
    /// A model-graded type's value is blank.
    #[error("`{assertion}` with an empty value gives the grader nothing to compare against")]
    EmptyGradedValue {
        /// The type as written.
        assertion: String,
    },
    /// `similar`'s value is neither a text nor a list of texts.
    #[error("`similar` needs a reference text, or a list of texts, as `value`")]
    SimilarValueShape,
    /// A model-graded type's value is not text.
    #[error("`{assertion}` needs a text as `value`")]
    GradedValueNotText {
        /// The type as written.
        assertion: String,
    },

    // ---- the test's vars, checked at load time -----------------------------
    /// The var named by `contextVar` is missing.
    #[error("`{assertion}` reads the retrieved context: the test has no var `{var}` (named by `contextVar`)")]
    MissingContextVar {
        /// The type as written.
        assertion: String,
        /// The var `contextVar` names.
        var: String,
    },
    /// `vars.context` is missing (and no `contextVar` names another var).
    #[error(
        "`{assertion}` reads the retrieved context: the test has no var `context`; give the retrieved context in `vars.context`, or name its var with `contextVar`"
    )]
    MissingContext {
        /// The type as written.
        assertion: String,
    },
    /// Neither `vars.query` nor `vars.question` is there.
    #[error(
        "`{assertion}` reads the user's question: the test has neither `vars.query` nor `vars.question` (or it is empty)"
    )]
    MissingQuestion {
        /// The type as written.
        assertion: String,
    },

    // ---- evaluation ---------------------------------------------------------
    /// A model-graded type was evaluated without a grader.
    #[error("`{assertion}` needs a grader and was evaluated without one")]
    NeedsGrader {
        /// The type as written.
        assertion: String,
    },
    /// A type given to the wrong evaluator (a bug, not an input error).
    #[error("`{kind}` is not a {family} assertion")]
    WrongFamily {
        /// The type.
        kind: AssertionType,
        /// The evaluator's family (`text`, `JSON`).
        family: &'static str,
    },
    /// A model-graded type given to a deterministic evaluator.
    #[error("`{kind}` is model-graded: it needs a grader")]
    ModelGraded {
        /// The type.
        kind: AssertionType,
    },
    /// The (rendered) value is absent.
    #[error("`{kind}` needs a `value`")]
    NoValue {
        /// The type.
        kind: AssertionType,
    },
    /// The value should be text (or a number).
    #[error("`{kind}` needs a text (or number) `value`, got {found}")]
    NotText {
        /// The type.
        kind: AssertionType,
        /// What the value is (`an object`, ...).
        found: &'static str,
    },
    /// The value should be a list (or comma-separated text).
    #[error("`{kind}` needs a list (or comma-separated text) as `value`, got {found}")]
    NotAList {
        /// The type.
        kind: AssertionType,
        /// What the value is.
        found: &'static str,
    },
    /// An item of the list is neither text nor a number.
    #[error("`{kind}` list items must be text or numbers, item {item} is {found}")]
    BadListItem {
        /// The type.
        kind: AssertionType,
        /// 1-based position of the item.
        item: usize,
        /// What the item is.
        found: &'static str,
    },
    /// The list has no item.
    #[error("`{kind}` needs at least one item in `value`, the list is empty")]
    EmptyList {
        /// The type.
        kind: AssertionType,
    },
    /// A `regex` value that is not a string (at load time).
    #[error("`regex` needs a string pattern as `value`")]
    PatternRequired,
    /// A `regex` value that is not a string (after rendering).
    #[error("`regex` needs a string pattern as `value`, got {found}")]
    PatternNotText {
        /// What the value is.
        found: &'static str,
    },
    /// The pattern does not compile.
    #[error("invalid regex: {}", one_line(&source.to_string()))]
    InvalidRegex {
        /// The `regex` crate's error (shown on one line).
        source: regex::Error,
    },
    /// A JSON Schema given as text does not parse.
    #[error("the JSON Schema in `value` is not JSON: {message}")]
    SchemaNotJson {
        /// serde_json's error.
        message: String,
    },
    /// The JSON Schema is invalid.
    #[error("invalid JSON Schema: {message}")]
    InvalidSchema {
        /// The `jsonschema` crate's error.
        message: String,
    },
    /// A threshold that is negative, infinite or NaN.
    #[error("`{kind}` needs a `threshold` ≥ 0, got {threshold}")]
    NegativeThreshold {
        /// The type.
        kind: AssertionType,
        /// The threshold given.
        threshold: f64,
    },
    /// `latency` / `cost` without a threshold.
    #[error("`{kind}` needs a `threshold` (in {unit})")]
    NoThreshold {
        /// The type.
        kind: AssertionType,
        /// The threshold's unit.
        unit: &'static str,
    },
    /// The call's latency is unknown.
    #[error(
        "latency was not measured for this call (no timing is known for this output), so `latency` cannot be checked"
    )]
    LatencyUnknown,
    /// The call's cost is unknown.
    #[error(
        "no cost is known for this call (the model has no price: set the provider's `config.cost` or `[prices]` in promptgate.toml; or the provider reported no token usage), so `cost` cannot be checked"
    )]
    CostUnknown,
    /// The provider reported a cost that is not a number.
    #[error("the provider reported an invalid cost ({usd})")]
    InvalidCost {
        /// The cost reported, in USD.
        usd: f64,
    },
    /// `word-count` without a value.
    #[error("{WORD_COUNT_SHAPE}")]
    WordCountShape,
    /// `word-count` `{min, max}` with another key.
    #[error("{WORD_COUNT_SHAPE}; unknown key `{key}`")]
    WordCountUnknownKey {
        /// The key.
        key: String,
    },
    /// `word-count` `{}` with neither bound.
    #[error("{WORD_COUNT_SHAPE}; give `min`, `max` or both")]
    WordCountNoBound,
    /// A `word-count` bound that is not a whole number ≥ 0.
    #[error("`word-count` `{key}` must be a whole number ≥ 0, got {found}")]
    WordCountBound {
        /// `min` or `max`.
        key: &'static str,
        /// The bound given.
        found: Value,
    },
    /// `word-count` with `min` > `max`.
    #[error("`word-count` `min` ({min}) is greater than `max` ({max})")]
    WordCountMinAboveMax {
        /// The lower bound.
        min: usize,
        /// The upper bound.
        max: usize,
    },
    /// A `word-count` value that is not a number of words.
    #[error("{WORD_COUNT_SHAPE}, got {found}")]
    WordCountNotANumber {
        /// The value, quoted.
        found: String,
    },
}

/// What `word-count` accepts, for its messages.
const WORD_COUNT_SHAPE: &str = "`word-count` needs a `value` that is a number of words or {min, max}";

/// `s` on one line: its non-blank lines, trimmed, joined with spaces.
pub(crate) fn one_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_read_as_before() {
        let cases = [
            (
                AssertionError::ScoreThresholdOutOfRange {
                    assertion: "llm-rubric".into(),
                    threshold: 0.0,
                },
                "`threshold` of `llm-rubric` is a score above 0 and at most 1, got 0 (every score is ≥ 0, so a threshold of 0 could never fail)",
            ),
            (
                AssertionError::ScoreThresholdOutOfRange {
                    assertion: "g-eval".into(),
                    threshold: 7.0,
                },
                "`threshold` of `g-eval` is a score above 0 and at most 1, got 7",
            ),
            (
                AssertionError::WordCountUnknownKey { key: "minimum".into() },
                "`word-count` needs a `value` that is a number of words or {min, max}; unknown key `minimum`",
            ),
            (
                AssertionError::NoThreshold {
                    kind: AssertionType::Latency,
                    unit: "milliseconds",
                },
                "`latency` needs a `threshold` (in milliseconds)",
            ),
            (
                AssertionError::LatencyUnknown,
                "latency was not measured for this call (no timing is known for this output), so `latency` cannot be checked",
            ),
            (
                AssertionError::CostUnknown,
                "no cost is known for this call (the model has no price: set the provider's `config.cost` or `[prices]` in promptgate.toml; or the provider reported no token usage), so `cost` cannot be checked",
            ),
            (
                AssertionError::BadListItem {
                    kind: AssertionType::ContainsAny,
                    item: 2,
                    found: "an object",
                },
                "`contains-any` list items must be text or numbers, item 2 is an object",
            ),
        ];
        for (error, message) in cases {
            assert_eq!(error.to_string(), message);
        }
        let pattern = String::from("(unclosed");
        let source = regex::Regex::new(&pattern).unwrap_err();
        let shown = AssertionError::InvalidRegex { source }.to_string();
        assert!(shown.starts_with("invalid regex: ") && !shown.contains('\n'), "{shown}");
    }
}
