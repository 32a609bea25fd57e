//! The assertion types, by promptfoo name: one table ([`TYPES`]) holds each
//! type's name, aliases and properties; parsing, display, the list of valid
//! names and every property query read it.

/// The assertion types promptgate implements, by promptfoo name.
///
/// The discriminants index [`TYPES`] (checked at compile time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AssertionType {
    /// `equals`
    Equals,
    /// `contains`
    Contains,
    /// `icontains`
    IContains,
    /// `contains-any`
    ContainsAny,
    /// `contains-all`
    ContainsAll,
    /// `icontains-any`
    IContainsAny,
    /// `icontains-all`
    IContainsAll,
    /// `starts-with`
    StartsWith,
    /// `regex`
    Regex,
    /// `is-json`
    IsJson,
    /// `contains-json`
    ContainsJson,
    /// `levenshtein`
    Levenshtein,
    /// `latency`
    Latency,
    /// `cost`
    Cost,
    /// `word-count`
    WordCount,
    /// `llm-rubric`: a grader judges the output against a rubric.
    LlmRubric,
    /// `context-faithfulness` (alias `faithfulness`): share of the answer's claims the context supports.
    ContextFaithfulness,
    /// `factuality` (alias `model-graded-factuality`): consistency with a reference answer.
    Factuality,
    /// `model-graded-closedqa`: a yes/no judgement on a criterion.
    ClosedQa,
    /// `answer-relevance`: how well the answer addresses the question (RAGAS).
    AnswerRelevance,
    /// `context-recall`: share of the reference answer the context supports (RAGAS).
    ContextRecall,
    /// `context-relevance`: share of the context relevant to the question (RAGAS).
    ContextRelevance,
    /// `similar`: cosine similarity of embeddings.
    Similar,
    /// `g-eval`: a 1–10 score on criteria, chain-of-thought style (G-Eval).
    GEval,
}

/// Which grader, if any, evaluates a type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GradedBy {
    /// None: the check is computed (deterministic types).
    None,
    /// A text grader (a chat model).
    Text,
    /// An embedding model.
    Embedding,
    /// Both a text grader and an embedding model (`answer-relevance`).
    TextAndEmbedding,
}

/// What the table knows of one assertion type.
#[derive(Debug, Clone, Copy)]
pub struct TypeInfo {
    /// The type.
    pub kind: AssertionType,
    /// The promptfoo name.
    pub name: &'static str,
    /// Other promptfoo names for the same type.
    pub aliases: &'static [&'static str],
    /// Which grader evaluates it.
    pub graded_by: GradedBy,
    /// True when the type needs a `value`.
    pub needs_value: bool,
    /// `Some(unit)` when the type needs a `threshold`, in that unit
    /// (`milliseconds`, `USD`).
    pub threshold_unit: Option<&'static str>,
    /// The pass threshold of a model-graded type when the assertion sets
    /// none (a score in [0, 1]).
    pub default_threshold: Option<f64>,
    /// True when the type reads the retrieved context (`vars.context` or `contextVar`).
    pub reads_context: bool,
    /// True when the type reads the user's question (`vars.query` or `vars.question`).
    pub reads_question: bool,
}

impl TypeInfo {
    /// A deterministic type that needs a `value` and no threshold.
    const fn checked(kind: AssertionType, name: &'static str) -> Self {
        TypeInfo {
            kind,
            name,
            aliases: &[],
            graded_by: GradedBy::None,
            needs_value: true,
            threshold_unit: None,
            default_threshold: None,
            reads_context: false,
            reads_question: false,
        }
    }

    /// A model-graded type that needs a `value` and reads no context nor
    /// question.
    const fn graded(kind: AssertionType, name: &'static str, graded_by: GradedBy, default_threshold: f64) -> Self {
        TypeInfo {
            graded_by,
            default_threshold: Some(default_threshold),
            ..Self::checked(kind, name)
        }
    }

    const fn aliases(self, aliases: &'static [&'static str]) -> Self {
        TypeInfo { aliases, ..self }
    }

    const fn no_value(self) -> Self {
        TypeInfo {
            needs_value: false,
            ..self
        }
    }

    const fn threshold_in(self, unit: &'static str) -> Self {
        TypeInfo {
            threshold_unit: Some(unit),
            ..self
        }
    }

    const fn reads(self, context: bool, question: bool) -> Self {
        TypeInfo {
            reads_context: context,
            reads_question: question,
            ..self
        }
    }
}

/// Every implemented type, in [`AssertionType`] order.
pub const TYPES: &[TypeInfo] = {
    use AssertionType as T;
    use TypeInfo as I;
    &[
        I::checked(T::Equals, "equals"),
        I::checked(T::Contains, "contains"),
        I::checked(T::IContains, "icontains"),
        I::checked(T::ContainsAny, "contains-any"),
        I::checked(T::ContainsAll, "contains-all"),
        I::checked(T::IContainsAny, "icontains-any"),
        I::checked(T::IContainsAll, "icontains-all"),
        I::checked(T::StartsWith, "starts-with"),
        I::checked(T::Regex, "regex"),
        I::checked(T::IsJson, "is-json").no_value(),
        I::checked(T::ContainsJson, "contains-json").no_value(),
        I::checked(T::Levenshtein, "levenshtein"),
        I::checked(T::Latency, "latency")
            .no_value()
            .threshold_in("milliseconds"),
        I::checked(T::Cost, "cost").no_value().threshold_in("USD"),
        I::checked(T::WordCount, "word-count"),
        I::graded(T::LlmRubric, "llm-rubric", GradedBy::Text, 0.5),
        I::graded(T::ContextFaithfulness, "context-faithfulness", GradedBy::Text, 0.5)
            .aliases(&["faithfulness"])
            .no_value()
            .reads(true, true),
        I::graded(T::Factuality, "factuality", GradedBy::Text, 0.5).aliases(&["model-graded-factuality"]),
        I::graded(T::ClosedQa, "model-graded-closedqa", GradedBy::Text, 0.5),
        I::graded(T::AnswerRelevance, "answer-relevance", GradedBy::TextAndEmbedding, 0.7)
            .no_value()
            .reads(false, true),
        I::graded(T::ContextRecall, "context-recall", GradedBy::Text, 0.5).reads(true, false),
        I::graded(T::ContextRelevance, "context-relevance", GradedBy::Text, 0.5)
            .no_value()
            .reads(true, true),
        I::graded(T::Similar, "similar", GradedBy::Embedding, 0.75),
        I::graded(T::GEval, "g-eval", GradedBy::Text, 0.7),
    ]
};

// The table is in `AssertionType` order, so that `info` is an index.
const _: () = {
    let mut i = 0;
    while i < TYPES.len() {
        assert!(TYPES[i].kind as usize == i, "TYPES is not in AssertionType order");
        i += 1;
    }
};

const TYPE_COUNT: usize = TYPES.len();

const NAMES: [&str; TYPE_COUNT] = {
    let mut names = [""; TYPE_COUNT];
    let mut i = 0;
    while i < TYPE_COUNT {
        names[i] = TYPES[i].name;
        i += 1;
    }
    names
};

/// Every implemented type name, for "valid types are ..." messages.
pub const TYPE_NAMES: &[&str] = &NAMES;

/// promptfoo assertion types promptgate does not implement (yet), so that a
/// migrating user gets "not supported" rather than "unknown".
pub const PROMPTFOO_ONLY_TYPES: &[&str] = &[
    "select-best",
    "javascript",
    "python",
    "webhook",
    "rouge-n",
    "bleu",
    "perplexity",
    "perplexity-score",
    "is-valid-openai-tools-call",
    "is-valid-openai-function-call",
    "is-xml",
    "contains-xml",
    "is-sql",
    "contains-sql",
    "classifier",
    "moderation",
    "is-refusal",
    "guardrails",
    "finish-reason",
    "ends-with",
    "trace-span-count",
];

impl AssertionType {
    /// What the table knows of this type.
    pub fn info(self) -> &'static TypeInfo {
        &TYPES[self as usize]
    }

    /// Parses a type name or alias, without the `not-` prefix.
    pub fn parse(name: &str) -> Option<Self> {
        TYPES
            .iter()
            .find(|t| t.name == name || t.aliases.contains(&name))
            .map(|t| t.kind)
    }

    /// The promptfoo name.
    pub fn name(self) -> &'static str {
        self.info().name
    }

    /// True for the types a grader (an LLM or an embedding model) evaluates.
    pub fn is_model_graded(self) -> bool {
        self.info().graded_by != GradedBy::None
    }

    /// True when the type asks a text grader (a chat model).
    pub fn needs_text_grader(self) -> bool {
        matches!(self.info().graded_by, GradedBy::Text | GradedBy::TextAndEmbedding)
    }

    /// True when the type needs an embedding model (`similar`, `answer-relevance`).
    pub fn needs_embedding(self) -> bool {
        matches!(self.info().graded_by, GradedBy::Embedding | GradedBy::TextAndEmbedding)
    }

    /// True when the type reads the retrieved context (`vars.context` or `contextVar`).
    pub fn needs_context(self) -> bool {
        self.info().reads_context
    }

    /// True when the type reads the user's question (`vars.query` or `vars.question`).
    pub fn needs_question(self) -> bool {
        self.info().reads_question
    }

    /// The pass threshold of a model-graded type when the assertion sets none
    /// (a score in [0, 1]); `None` for deterministic types.
    pub fn default_threshold(self) -> Option<f64> {
        self.info().default_threshold
    }

    /// True when the type needs a `value`.
    pub fn needs_value(self) -> bool {
        self.info().needs_value
    }

    /// True when the type needs a `threshold`.
    pub fn needs_threshold(self) -> bool {
        self.info().threshold_unit.is_some()
    }
}

impl std::fmt::Display for AssertionType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a type name is not one promptgate implements.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TypeNameError {
    /// A promptfoo type promptgate does not implement.
    #[error("assertion type `{name}` is a promptfoo type that promptgate does not support yet")]
    Unsupported {
        /// The type as written (with its `not-`).
        name: String,
    },
    /// Neither a promptgate nor a promptfoo type.
    #[error("unknown assertion type `{name}`")]
    Unknown {
        /// The type as written (with its `not-`).
        name: String,
    },
}

/// Parses `not-contains` into (`contains`, negated).
///
/// # Errors
/// [`TypeNameError`]: an unknown type, or a promptfoo type promptgate does
/// not support.
pub fn parse_type(full: &str) -> Result<(AssertionType, bool), TypeNameError> {
    let (negate, base) = match full.strip_prefix("not-") {
        Some(rest) => (true, rest),
        None => (false, full),
    };
    if let Some(t) = AssertionType::parse(base) {
        return Ok((t, negate));
    }
    let name = full.to_string();
    if PROMPTFOO_ONLY_TYPES.contains(&base) {
        return Err(TypeNameError::Unsupported { name });
    }
    Err(TypeNameError::Unknown { name })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_and_alias_parses_back() {
        for t in TYPES {
            assert_eq!(AssertionType::parse(t.name), Some(t.kind));
            assert_eq!(t.kind.name(), t.name);
            for alias in t.aliases {
                assert_eq!(AssertionType::parse(alias), Some(t.kind));
            }
        }
        assert_eq!(TYPE_NAMES.len(), TYPES.len());
        assert_eq!(TYPE_NAMES[0], "equals");
        assert_eq!(TYPE_NAMES[TYPE_NAMES.len() - 1], "g-eval");
    }

    #[test]
    fn properties_are_as_before() {
        use AssertionType as T;
        let graded: Vec<_> = TYPES
            .iter()
            .filter(|t| t.kind.is_model_graded())
            .map(|t| t.name)
            .collect();
        assert_eq!(
            graded,
            [
                "llm-rubric",
                "context-faithfulness",
                "factuality",
                "model-graded-closedqa",
                "answer-relevance",
                "context-recall",
                "context-relevance",
                "similar",
                "g-eval"
            ]
        );
        assert!(T::AnswerRelevance.needs_text_grader() && T::AnswerRelevance.needs_embedding());
        assert!(!T::Similar.needs_text_grader() && T::Similar.needs_embedding());
        assert_eq!(T::Similar.default_threshold(), Some(0.75));
        assert_eq!(T::GEval.default_threshold(), Some(0.7));
        assert_eq!(T::Regex.default_threshold(), None);
        assert!(T::Latency.needs_threshold() && !T::Latency.needs_value());
        assert!(T::ContextRecall.needs_context() && !T::ContextRecall.needs_question());
    }

    #[test]
    fn unknown_and_unsupported_names() {
        assert_eq!(
            parse_type("not-faithfulness"),
            Ok((AssertionType::ContextFaithfulness, true))
        );
        assert_eq!(
            parse_type("not-javascript").unwrap_err().to_string(),
            "assertion type `not-javascript` is a promptfoo type that promptgate does not support yet"
        );
        assert_eq!(
            parse_type("containz").unwrap_err().to_string(),
            "unknown assertion type `containz`"
        );
    }
}
