//! Rendering the grader prompts: the reviewed built-in prompts in
//! `src/assertion/graded/prompts/` (one file per step; their bytes are part of
//! the request hashes that key the committed recordings, so any change to
//! them misses every recording), a `rubricPrompt` in place of the judging
//! step's, the variables they see, and the guard that keeps inserted text
//! from closing the prompts' data tags.

use std::sync::LazyLock;

use serde_json::{json, Map, Value};

use super::{GradeInput, GraderError};
use crate::assertion::{display_value, Assertion};
use crate::provider::Message;

/// A `rubricPrompt`: replaces the judging step's prompt. A string is one user
/// message; a list of `{role, content}` is the whole conversation. Both are
/// minijinja templates over the test's vars plus `output`, `rubric` (the
/// assertion's value), `query`, `context`, and the step's own inputs
/// (`claims`, `sentences`).
#[derive(Debug, Clone, PartialEq)]
pub enum RubricPrompt {
    /// One user message.
    Text(String),
    /// Several messages.
    Messages(Vec<Message>),
}

/// The system message of every built-in step: the inserted text is data.
const SYSTEM: &str = include_str!("prompts/system.txt");
/// `llm-rubric`: judge the output against the rubric.
pub(crate) const LLM_RUBRIC: &str = include_str!("prompts/llm_rubric.txt");
/// `context-faithfulness`, step 1: the claims of the answer.
pub(crate) const FAITHFULNESS_CLAIMS: &str = include_str!("prompts/faithfulness_claims.txt");
/// `context-faithfulness`, step 2: is each claim supported by the context?
pub(crate) const FAITHFULNESS_VERIFY: &str = include_str!("prompts/faithfulness_verify.txt");
/// `context-recall`: is each reference statement attributable to the context?
pub(crate) const CONTEXT_RECALL: &str = include_str!("prompts/context_recall.txt");
/// `context-relevance`: which context sentences the question needs.
pub(crate) const CONTEXT_RELEVANCE: &str = include_str!("prompts/context_relevance.txt");
/// `factuality`: the category of the output against the reference.
pub(crate) const FACTUALITY: &str = include_str!("prompts/factuality.txt");
/// `model-graded-closedqa`: does the output meet the criterion?
pub(crate) const CLOSED_QA: &str = include_str!("prompts/closedqa.txt");
/// `answer-relevance`: questions the answer answers.
pub(crate) const ANSWER_RELEVANCE: &str = include_str!("prompts/answer_relevance.txt");
/// `g-eval`: evaluation steps, then a 1–10 score.
pub(crate) const G_EVAL: &str = include_str!("prompts/g_eval.txt");

/// One strict minijinja environment for grader prompts (a missing variable
/// in a `rubricPrompt` is an error, never an empty string).
static ENV: LazyLock<minijinja::Environment<'static>> = LazyLock::new(|| {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env
});

fn render(template: &str, vars: &Map<String, Value>) -> Result<String, GraderError> {
    ENV.render_str(template, minijinja::Value::from(minijinja::value::Serde(vars)))
        .map_err(|source| GraderError::Render { source })
}

/// The variables every grader prompt sees: the test's vars, then `output`,
/// `query`, `context` and the step's own.
pub(crate) fn prompt_vars(input: &GradeInput<'_>, a: &Assertion, extra: Value) -> Map<String, Value> {
    let mut vars = input.vars.clone();
    vars.insert("output".into(), Value::String(neutralize(input.output)));
    vars.insert(
        "query".into(),
        Value::String(neutralize(&question(input.vars).unwrap_or_default())),
    );
    if let Some(c) = context(a, input.vars) {
        vars.insert("context".into(), Value::String(neutralize(&c)));
    }
    if let Some(v) = input.value {
        let text = display_value(v);
        for k in ["rubric", "reference", "criterion", "criteria", "value"] {
            vars.insert(k.into(), Value::String(text.clone()));
        }
    }
    if let Value::Object(m) = extra {
        vars.extend(m.into_iter().map(|(k, v)| (k, neutralize_value(v))));
    }
    vars.insert("threshold".into(), json!(a.threshold.or(a.kind.default_threshold())));
    vars
}

/// The tags that delimit data in the grader prompts.
static DATA_TAGS: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(
        r"(?i)<\s*/?\s*(answer|context|claims|question|reference|rubric|criterion|criteria|statements|sentences)\s*>",
    )
    .expect("a valid pattern")
});

/// Text inserted into a grader prompt cannot open or close the prompt's data
/// tags (`</answer>` followed by instructions would otherwise end the data
/// block): such tags are shown as `[/answer]`.
fn neutralize(text: &str) -> String {
    DATA_TAGS
        .replace_all(text, |c: &regex::Captures<'_>| {
            let closing = if c[0].contains('/') { "/" } else { "" };
            format!("[{closing}{}]", &c[1])
        })
        .into_owned()
}

fn neutralize_value(v: Value) -> Value {
    match v {
        Value::String(s) => Value::String(neutralize(&s)),
        Value::Array(items) => Value::Array(items.into_iter().map(neutralize_value).collect()),
        other => other,
    }
}

/// The messages of a step: the built-in prompt, or the `rubricPrompt` when
/// `judging` (the step that decides the verdict).
///
/// # Errors
/// [`GraderError::Render`] when a prompt does not render.
pub(crate) fn messages(
    a: &Assertion,
    builtin: &str,
    vars: &Map<String, Value>,
    judging: bool,
) -> Result<Vec<Message>, GraderError> {
    // A rubricPrompt without a system message of its own keeps the built-in
    // one, which tells the grader to treat the inserted text as data.
    let guard = || Message::new("system", SYSTEM.trim_end());
    match a.rubric_prompt.as_deref().filter(|_| judging) {
        Some(RubricPrompt::Text(t)) => Ok(vec![guard(), Message::new("user", render(t, vars)?)]),
        Some(RubricPrompt::Messages(ms)) => {
            let mut out: Vec<Message> = ms
                .iter()
                .map(|m| Ok(Message::new(m.role.clone(), render(&m.content, vars)?)))
                .collect::<Result<_, GraderError>>()?;
            if !ms.iter().any(|m| m.role == "system") {
                out.insert(0, guard());
            }
            Ok(out)
        }
        None => Ok(vec![
            Message::new("system", SYSTEM.trim_end()),
            Message::new("user", render(builtin, vars)?.trim_end()),
        ]),
    }
}

/// The user's question: `vars.query`, else `vars.question`.
pub fn question(vars: &Map<String, Value>) -> Option<String> {
    ["query", "question"]
        .iter()
        .find_map(|k| vars.get(*k))
        .map(display_value)
        .filter(|s| !s.trim().is_empty())
}

/// The retrieved context: `vars[contextVar]`, else `vars.context`; a list is
/// joined with blank lines.
pub fn context(a: &Assertion, vars: &Map<String, Value>) -> Option<String> {
    let name = a.context_var.as_deref().unwrap_or("context");
    vars.get(name).map(|v| match v {
        Value::Array(items) => items.iter().map(display_value).collect::<Vec<_>>().join("\n\n"),
        other => display_value(other),
    })
}
