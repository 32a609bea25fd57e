//! Calling the grader providers: which providers grade
//! ([`GraderProviders`]), the calls the runner makes for us
//! ([`GraderBackend`]), and asking for a parseable reply ([`ask`]).

use serde_json::{Map, Value};

use super::reply::{first_json_object, ReplyError};
use super::GraderError;
use crate::provider::{Message, ProviderSpec};

/// The grader providers an assertion uses: a chat model for judging and an
/// embedding model for `similar` / `answer-relevance`. promptfoo's
/// `options.provider` accepts an id, `{id, config}`, or `{text, embedding}`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GraderProviders {
    /// The chat model that judges (boxed: most assertions grade nothing, and
    /// a `ProviderSpec` inline would make every assertion ~1 KB bigger).
    pub text: Option<Box<ProviderSpec>>,
    /// The embedding model.
    pub embedding: Option<Box<ProviderSpec>>,
}

impl GraderProviders {
    /// `self`, with each missing provider taken from `fallback`.
    pub fn or(&self, fallback: &GraderProviders) -> GraderProviders {
        GraderProviders {
            text: self.text.clone().or_else(|| fallback.text.clone()),
            embedding: self.embedding.clone().or_else(|| fallback.embedding.clone()),
        }
    }
}

/// Calls to the grader providers, made by the runner (through recordings,
/// the response cache, retries, concurrency limits and the `--max-cost`
/// budget).
#[async_trait::async_trait]
pub trait GraderBackend: Send + Sync {
    /// Sends `messages` to the text grader with temperature 0 and JSON output
    /// requested; returns the reply text. `step` names the call in reports.
    ///
    /// # Errors
    /// [`GraderError::NoTextGrader`], [`GraderError::Call`] with the
    /// provider's error (an ERROR for the assertion);
    /// [`GraderError::OverBudget`] when `--max-cost` refused it.
    async fn complete(&self, step: &str, messages: Vec<Message>) -> Result<String, GraderError>;

    /// Embeds `text` with the embedding grader; returns the vector.
    ///
    /// # Errors
    /// As [`GraderBackend::complete`] ([`GraderError::NoEmbeddingGrader`]
    /// without an embedding model); also [`GraderError::NotAVector`].
    async fn embed(&self, step: &str, text: &str) -> Result<Vec<f64>, GraderError>;
}

/// Asks the grader and parses its reply with `parse`; a reply that does not
/// parse is asked again once with the bad reply quoted. Returns the parsed
/// value and the raw reply that gave it.
///
/// # Errors
/// The backend's error, or [`GraderError::UnusableReply`] when the reply to
/// the retry does not parse either.
pub(crate) async fn ask<T>(
    backend: &dyn GraderBackend,
    step: &str,
    messages: Vec<Message>,
    parse: impl Fn(&Map<String, Value>) -> Result<T, ReplyError>,
) -> Result<(T, String), GraderError> {
    let mut conversation = messages;
    let reply = backend.complete(step, conversation.clone()).await?;
    let first_problem = match parse_reply(&reply, &parse) {
        Ok(v) => return Ok((v, reply)),
        Err(problem) => problem,
    };
    conversation.push(Message::new("assistant", reply.clone()));
    conversation.push(Message::new(
        "user",
        format!(
            "That reply could not be used: {first_problem}. Reply again with only the JSON object in the format described above."
        ),
    ));
    let retry = backend.complete(step, conversation).await?;
    match parse_reply(&retry, &parse) {
        Ok(v) => Ok((v, retry)),
        Err(problem) => Err(GraderError::UnusableReply {
            step: step.to_string(),
            problem: Box::new(problem),
            first_problem: Box::new(first_problem),
            raw: format!("{reply}\n--- reply to the retry ---\n{retry}"),
        }),
    }
}

fn parse_reply<T>(reply: &str, parse: &impl Fn(&Map<String, Value>) -> Result<T, ReplyError>) -> Result<T, ReplyError> {
    let obj = first_json_object(reply).ok_or(ReplyError::NoJsonObject)?;
    parse(&obj)
}
