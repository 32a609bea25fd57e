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

use super::http::{self, Endpoint};
use super::{Env, Provider, ProviderConfig, ProviderError, ProviderRequest, ProviderResponse, TokenUsage};

/// The `openai:embedding:MODEL` provider.
#[derive(Debug)]
pub struct OpenAiEmbedding {
    id: String,
    model: String,
    key_var: String,
    key_required: bool,
    endpoint: Endpoint,
}

impl OpenAiEmbedding {
    /// The provider `id` for `model`, configured like `openai:chat`.
    pub fn new(id: &str, model: &str, config: &ProviderConfig, env: &Env, client: reqwest::Client) -> Self {
        let base = http::resolve_base(
            config.api_base_url.as_deref(),
            env,
            super::openai::BASE_URL_VAR,
            super::openai::DEFAULT_BASE_URL,
        );
        let key_var = config
            .api_key_envar
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .unwrap_or(super::openai::DEFAULT_KEY_VAR)
            .to_string();
        let api_key = env.get(&key_var);
        let key_required = super::openai::is_public_endpoint(&base);
        OpenAiEmbedding {
            id: id.to_string(),
            model: model.to_string(),
            key_var,
            key_required,
            endpoint: Endpoint::new(id, client, format!("{base}/embeddings"), config.timeout(), api_key),
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
        self.check_ready()?;
        let input = request.messages.last().map(|m| m.content.as_str()).unwrap_or("");
        let body = json!({"model": request.model_or(&self.model), "input": input});
        let auth = self.endpoint.api_key().map(|k| format!("Bearer {k}"));
        let headers: Vec<(&str, &str)> = auth.as_deref().map(|a| ("authorization", a)).into_iter().collect();
        let raw = self.endpoint.post_json(&headers, &body).await?;
        if !raw.is_success() {
            let (error_type, code) = http::error_type_and_code(&raw.body);
            let message = http::error_message(&raw.body, super::openai::error_text);
            return Err(self.endpoint.http_error_coded(&raw, &message, error_type, code));
        }
        let list: EmbeddingList = self.endpoint.parse(&raw)?;
        let Some(first) = list.data.into_iter().next() else {
            return Err(self.endpoint.invalid("the response has no embedding (`data` is empty)"));
        };
        if first.embedding.is_empty() || first.embedding.iter().any(|x| !x.is_finite()) {
            return Err(self
                .endpoint
                .invalid("the embedding is empty or has a non-finite number"));
        }
        Ok(ProviderResponse {
            output: serde_json::to_string(&first.embedding).unwrap_or_default(),
            latency_ms: raw.latency_ms,
            tokens: TokenUsage {
                input: list.usage.and_then(|u| u.prompt_tokens),
                output: None,
                cached_input: None,
            },
            finish_reason: None,
            cost_usd: None,
            ..Default::default()
        })
    }

    fn check_ready(&self) -> Result<(), ProviderError> {
        if self.key_required && self.endpoint.api_key().is_none() {
            return Err(self.endpoint.missing_key(&self.key_var));
        }
        Ok(())
    }
}
