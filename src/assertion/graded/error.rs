//! Why a model-graded assertion has no score: one error type for the grader
//! calls (made by the runner through [`GraderBackend`](super::GraderBackend))
//! and for the grading around them.

use crate::provider::ProviderError;

use super::reply::ReplyError;

/// Why a grader call or a grading produced no score.
///
/// [`GraderError::OverBudget`] is not an error of the grader: `--max-cost`
/// refused the call, the assertion is not evaluated and (unless another
/// assertion already decides the case) the case is **skipped**, like a case
/// whose own call the budget refused. Every other variant makes the
/// assertion a grader ERROR, never a pass and never a failure of the prompt
/// under test.
#[derive(Debug, thiserror::Error)]
pub enum GraderError {
    /// The assertion needs a text grader (a chat model) and none is configured.
    #[error("no grader is configured")]
    NoTextGrader,
    /// The assertion needs an embedding model and none is configured.
    #[error("no embedding grader is configured")]
    NoEmbeddingGrader,
    /// The grader provider's call failed.
    #[error("grader {grader} ({step}): {source}")]
    Call {
        /// The grader provider's id.
        grader: String,
        /// The grading step that made the call (`grade`, `extract-claims`, ...).
        step: String,
        /// The provider's error (boxed: it is large, and rare).
        source: Box<ProviderError>,
    },
    /// The embedding grader's reply is not a JSON list of numbers.
    #[error("embedding grader {grader} returned no vector ({source})")]
    NotAVector {
        /// The embedding provider's id.
        grader: String,
        /// Why the reply does not parse as a vector.
        source: serde_json::Error,
    },
    /// `--max-cost` refused the call before it was made.
    #[error(
        "budget reached: grader {grader} ({step}) was not called: its estimated cost would pass --max-cost {budget_usd} USD (spent so far: {spent_usd:.6} USD)"
    )]
    OverBudget {
        /// The grader provider's id.
        grader: String,
        /// The grading step that would have made the call.
        step: String,
        /// The `--max-cost` budget, in USD.
        budget_usd: f64,
        /// What the run had spent when the call was refused, in USD.
        spent_usd: f64,
    },
    /// The assertion's value renders to blank text: nothing to grade against.
    #[error("the value of `{assertion}` is empty (after rendering its template): nothing to grade against")]
    EmptyValue {
        /// The assertion type as written (`not-llm-rubric`).
        assertion: String,
    },
    /// A deterministic type was given to the grading.
    #[error("`{kind}` is not a model-graded type")]
    NotModelGraded {
        /// The type's promptfoo name.
        kind: &'static str,
    },
    /// A grader prompt (built-in, or a `rubricPrompt`) does not render, e.g.
    /// it uses a variable the test does not have.
    #[error("cannot render the grader prompt: {source}")]
    Render {
        /// minijinja's error.
        source: minijinja::Error,
    },
    /// A context-based type found no retrieved context in the test's vars.
    #[error("`{kind}` needs the retrieved context in `vars.{var}`")]
    MissingContext {
        /// The type's promptfoo name.
        kind: &'static str,
        /// The var that should hold the context (`contextVar`, default `context`).
        var: String,
    },
    /// A type that reads the user's question found neither `vars.query` nor
    /// `vars.question`.
    #[error("{assertion} needs the question in `vars.query` or `vars.question`")]
    MissingQuestion {
        /// The assertion type as the message names it (`` `context-relevance` ``
        /// in backquotes; `answer-relevance` without).
        assertion: String,
    },
    /// `context-recall`'s reference answer has no sentence to check.
    #[error("the reference answer (`value`) has no sentences")]
    NoReferenceSentences,
    /// `similar` has no reference text.
    #[error("`similar` needs a reference text as `value`")]
    NoSimilarReference,
    /// Two embeddings cannot be compared.
    #[error(transparent)]
    Embedding(#[from] EmbeddingError),
    /// The grader's reply could not be used, twice (the first reply and the
    /// reply to the retry that quoted it).
    #[error("{step}: unusable reply after a retry: {problem} (first reply: {first_problem})")]
    UnusableReply {
        /// The grading step.
        step: String,
        /// What is wrong with the reply to the retry (boxed, as the next).
        problem: Box<ReplyError>,
        /// What was wrong with the first reply (boxed: the variant stays small).
        first_problem: Box<ReplyError>,
        /// Both raw replies, separated by a `--- reply to the retry ---` line.
        raw: String,
    },
}

impl GraderError {
    /// True when `--max-cost` refused a grader call (the assertion was not
    /// evaluated; not an error of the grader).
    pub fn is_over_budget(&self) -> bool {
        matches!(self, GraderError::OverBudget { .. })
    }

    /// The grader's raw replies, when the error is about them.
    pub fn raw_reply(&self) -> Option<&str> {
        match self {
            GraderError::UnusableReply { raw, .. } => Some(raw),
            _ => None,
        }
    }
}

/// Why two embeddings cannot be compared by [`cosine`](super::cosine).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EmbeddingError {
    /// The vectors have different lengths (different embedding models).
    #[error("embeddings of different lengths ({left} and {right}): the same embedding model must embed both")]
    LengthMismatch {
        /// Length of the first vector.
        left: usize,
        /// Length of the second vector.
        right: usize,
    },
    /// A vector is all zeros (it has no direction).
    #[error("an embedding is the zero vector")]
    ZeroVector,
}
