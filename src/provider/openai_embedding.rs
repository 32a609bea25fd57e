//! `openai:embedding:MODEL`: the OpenAI embeddings API and the servers that
//! speak it, used by the `similar` and `answer-relevance` assertions.
//!
//! Follows <https://platform.openai.com/docs/api-reference/embeddings/create>:
//! `POST {base}/embeddings` with `{model, input}`; the answer is
//! `{data: [{index, embedding: [f32...]}], usage: {prompt_tokens}}`. Base URL
//! and key are resolved as for `openai:chat` (`apiBaseUrl`, `$OPENAI_BASE_URL`,
//! `apiKeyEnvar`, `OPENAI_API_KEY`).
//!
//! So that embedding calls go through the same path as every other call
//! (recordings, cache, concurrency), this provider implements the ordinary
//! [`Provider`] interface: the text to embed is the content of the request's
//! last message, and the output is the vector as a JSON array of numbers.

use serde::Deserialize;
use serde_json::json;

use super::http;
use super::openai::{error_text, OpenAiEndpoint};
use super::{Env, Provider, ProviderConfig, ProviderError, ProviderRequest, ProviderResponse, TokenUsage};

/// The `openai:embedding:MODEL` provider: the OpenAI embeddings wire format
/// (<https://platform.openai.com/docs/api-reference/embeddings/create>; see
/// the module docs).
#[derive(Debug)]
pub struct OpenAiEmbedding {
    id: String,
    model: String,
    api: OpenAiEndpoint,
}

impl OpenAiEmbedding {
    /// The provider `id` for `model`, configured like `openai:chat`.
    pub fn new(id: &str, model: &str, config: &ProviderConfig, env: &Env, client: reqwest::Client) -> Self {
        OpenAiEmbedding {
            id: id.to_string(),
            model: model.to_string(),
            api: OpenAiEndpoint::new(id, "embeddings", config, env, client),
        }
    }
}

#[derive(Debug, Deserialize)]
struct EmbeddingList {
    #[serde(default)]
    data: Vec<EmbeddingItem>,
    #[serde(default)]
    usage: Option<EmbeddingUsage>,
}

#[derive(Debug, Deserialize)]
struct EmbeddingItem {
    embedding: Vec<f64>,
}

#[derive(Debug, Deserialize)]
struct EmbeddingUsage {
    #[serde(default)]
    prompt_tokens: Option<u64>,
}

#[async_trait::async_trait]
impl Provider for OpenAiEmbedding {
    fn id(&self) -> &str {
        &self.id
    }

    async fn call(&self, request: &ProviderRequest) -> Result<ProviderResponse, ProviderError> {
        let input = request.messages.last().map(|m| m.content.as_str()).unwrap_or("");
        let body = json!({"model": request.model_or(&self.model), "input": input});
        let raw = self.api.post(&body).await?;
        let endpoint = self.api.endpoint();
        if !raw.is_success() {
            return Err(endpoint.http_error(&raw, &http::error_message(&raw.body, error_text)));
        }
        let list: EmbeddingList = endpoint.parse(&raw)?;
        let Some(first) = list.data.into_iter().next() else {
            return Err(endpoint.invalid("the response has no embedding (`data` is empty)"));
        };
        if first.embedding.is_empty() || first.embedding.iter().any(|x| !x.is_finite()) {
            return Err(endpoint.invalid("the embedding is empty or has a non-finite number"));
        }
        Ok(ProviderResponse {
            output: serde_json::to_string(&first.embedding).unwrap_or_default(),
            latency_ms: raw.latency_ms,
            tokens: TokenUsage {
                input: list.usage.and_then(|u| u.prompt_tokens),
                output: None,
                cached_input: None,
            },
            ..Default::default()
        })
    }

    /// A key is required when the base URL is OpenAI's public endpoint.
    fn check_ready(&self) -> Result<(), ProviderError> {
        self.api.check_ready()
    }
}
