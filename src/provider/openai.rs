//! `openai:chat:MODEL`: the OpenAI chat completions API and the servers that
//! speak it (vLLM, Ollama's `/v1`, LM Studio, ...).
//!
//! Follows <https://platform.openai.com/docs/api-reference/chat/create>:
//!
//! - `POST {base}/chat/completions`, `base` = the suite's `apiBaseUrl`, else
//!   `$OPENAI_BASE_URL`, else `https://api.openai.com/v1` (trailing `/` dropped).
//! - `Authorization: Bearer KEY`, the key read from the variable named by
//!   `apiKeyEnvar`, else `OPENAI_API_KEY`. A key is required only by the public
//!   endpoint (`api.openai.com`); elsewhere a missing key sends no header.
//! - Request body: `model`, `messages: [{role, content}]`, and only the settings
//!   that are set: `temperature`, `max_tokens`, `top_p`, `seed`, `stop`,
//!   `response_format`.
//! - Response: `{choices: [{message: {content | null, refusal}, finish_reason}],
//!   usage: {prompt_tokens, completion_tokens, prompt_tokens_details: {cached_tokens}}}`.
//!   The output is `content`, else the `refusal` text; a first choice with
//!   neither (`finish_reason` `content_filter`, `tool_calls`) is an invalid
//!   response, so the case is an error rather than an empty answer.
//! - Error body: `{"error": {message, type, param, code}}`.

use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::http::{self, ApiAccess, ApiDefaults, Endpoint, RawResponse};
use super::{Env, Provider, ProviderConfig, ProviderError, ProviderRequest, ProviderResponse, TokenUsage};

/// Base URL used when neither `apiBaseUrl` nor `$OPENAI_BASE_URL` is set.
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";
/// Variable holding the API key unless `apiKeyEnvar` names another.
pub const DEFAULT_KEY_VAR: &str = "OPENAI_API_KEY";
/// Variable holding the base URL unless `apiBaseUrl` is set.
pub const BASE_URL_VAR: &str = "OPENAI_BASE_URL";

/// Where OpenAI-compatible providers (`openai:chat`, `openai:embedding`) read
/// their base URL and key by default.
const API: ApiDefaults = ApiDefaults {
    base_url_var: BASE_URL_VAR,
    base_url: DEFAULT_BASE_URL,
    key_var: Some(DEFAULT_KEY_VAR),
};

/// One endpoint of an OpenAI-compatible API (`{base}/chat/completions`,
/// `{base}/embeddings`): the key is sent as `Authorization: Bearer KEY` and
/// required only by OpenAI's public endpoint (`api.openai.com`).
#[derive(Debug)]
pub(crate) struct OpenAiEndpoint {
    endpoint: Endpoint,
    key_required: bool,
}

impl OpenAiEndpoint {
    /// The endpoint `{base}/{path}` of provider `id`: base URL, key and
    /// timeout resolved from `config` and `env` (see the module docs).
    pub(crate) fn new(id: &str, path: &str, config: &ProviderConfig, env: &Env, client: reqwest::Client) -> Self {
        let access = ApiAccess::resolve(config, env, API);
        let url = format!("{}/{path}", access.base_url);
        OpenAiEndpoint {
            key_required: is_public_endpoint(&access.base_url),
            endpoint: Endpoint::new(id, client, url, config.timeout(), access.key),
        }
    }

    /// The underlying endpoint (URL, errors, parsing).
    pub(crate) fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// [`ProviderError::MissingApiKey`] when the public endpoint has no key.
    pub(crate) fn check_ready(&self) -> Result<(), ProviderError> {
        if self.key_required && self.endpoint.api_key().is_none() {
            return Err(self.endpoint.missing_key());
        }
        Ok(())
    }

    /// `POST`s `body` with the bearer key (when there is one).
    pub(crate) async fn post(&self, body: &Value) -> Result<RawResponse, ProviderError> {
        self.check_ready()?;
        let auth = self.endpoint.api_key().map(|k| format!("Bearer {k}"));
        let headers: Vec<(&str, &str)> = auth.as_deref().map(|a| ("authorization", a)).into_iter().collect();
        self.endpoint.post_json(&headers, body).await
    }
}

/// The `openai:chat:MODEL` provider: the OpenAI chat completions wire format
/// (<https://platform.openai.com/docs/api-reference/chat/create>; see the
/// module docs).
#[derive(Debug)]
pub struct OpenAiChat {
    id: String,
    model: String,
    api: OpenAiEndpoint,
}

impl OpenAiChat {
    /// The provider `id` for `model`: base URL, key and timeout are resolved
    /// now from `config` and `env` (see the module docs); `client` is the run's
    /// shared connection pool.
    pub fn new(id: &str, model: &str, config: &ProviderConfig, env: &Env, client: reqwest::Client) -> Self {
        OpenAiChat {
            id: id.to_string(),
            model: model.to_string(),
            api: OpenAiEndpoint::new(id, "chat/completions", config, env, client),
        }
    }

    /// The JSON body sent for `request` (only the settings that are set).
    fn body(&self, request: &ProviderRequest) -> Value {
        let model = request.model_or(&self.model);
        let messages: Vec<Value> = request
            .messages
            .iter()
            .map(|m| json!({ "role": m.role, "content": m.content }))
            .collect();
        let mut body = Map::new();
        body.insert("model".into(), json!(model));
        body.insert("messages".into(), Value::Array(messages));
        let s = &request.settings;
        http::insert_set(&mut body, "temperature", s.temperature);
        http::insert_set(&mut body, "max_completion_tokens", s.max_completion_tokens);
        http::insert_set(&mut body, "max_tokens", s.max_tokens);
        http::insert_set(&mut body, "top_p", s.top_p);
        http::insert_set(&mut body, "seed", s.seed);
        http::insert_set(&mut body, "stop", s.stop.as_ref());
        http::insert_set(&mut body, "response_format", s.response_format.as_ref());
        Value::Object(body)
    }
}

/// True when `base` is OpenAI's own API (host `api.openai.com`), which needs a key.
pub(crate) fn is_public_endpoint(base: &str) -> bool {
    reqwest::Url::parse(base)
        .ok()
        .and_then(|u| u.host_str().map(|h| h.eq_ignore_ascii_case("api.openai.com")))
        .unwrap_or(false)
}

/// The message of an OpenAI error body `{"error": {message, type, code}}`:
/// `message`, plus ` (code)` when a code is given.
pub(crate) fn error_text(body: &Value) -> Option<String> {
    let error = body.get("error")?;
    if let Some(s) = error.as_str() {
        return Some(s.to_string());
    }
    let message = http::str_field(error, "message")?;
    let code = match error.get("code") {
        Some(Value::String(c)) if !c.is_empty() => Some(c.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    Some(match code {
        Some(code) => format!("{message} ({code})"),
        None => message.to_string(),
    })
}

/// `chat.completion` as far as promptgate reads it.
#[derive(Debug, Deserialize)]
struct ChatCompletion {
    #[serde(default)]
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Debug, Deserialize)]
struct Choice {
    #[serde(default)]
    message: Option<ChoiceMessage>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ChoiceMessage {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    refusal: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Usage {
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens: Option<u64>,
    #[serde(default)]
    prompt_tokens_details: Option<PromptTokensDetails>,
}

#[derive(Debug, Deserialize)]
struct PromptTokensDetails {
    #[serde(default)]
    cached_tokens: Option<u64>,
}

#[async_trait::async_trait]
impl Provider for OpenAiChat {
    fn id(&self) -> &str {
        &self.id
    }

    fn endpoint(&self) -> Option<&str> {
        Some(self.api.endpoint().url())
    }

    async fn call(&self, request: &ProviderRequest) -> Result<ProviderResponse, ProviderError> {
        let raw = self.api.post(&self.body(request)).await?;
        let endpoint = self.api.endpoint();
        if !raw.is_success() {
            let message = endpoint.with_key_hint(&raw, http::error_message(&raw.body, error_text));
            return Err(endpoint.http_error(&raw, &message));
        }
        let completion: ChatCompletion = endpoint.parse(&raw)?;
        let Some(choice) = completion.choices.into_iter().next() else {
            return Err(endpoint.invalid("the response has no choices"));
        };
        let Some(message) = choice.message else {
            return Err(endpoint.invalid("the first choice has no message"));
        };
        // No text at all (a content filter, only tool calls) is an error, never
        // an empty answer that assertions such as `not-contains` would pass.
        let output = match (message.content, message.refusal) {
            (Some(content), _) => content,
            (None, Some(refusal)) => refusal,
            (None, None) => {
                return Err(endpoint.invalid(&format!(
                    "the response has no text (finish_reason: {})",
                    choice.finish_reason.as_deref().unwrap_or("none")
                )));
            }
        };
        let tokens = completion
            .usage
            .map(|u| TokenUsage {
                input: u.prompt_tokens,
                output: u.completion_tokens,
                cached_input: u.prompt_tokens_details.and_then(|d| d.cached_tokens),
            })
            .unwrap_or_default();
        Ok(ProviderResponse {
            output,
            latency_ms: raw.latency_ms,
            tokens,
            finish_reason: choice.finish_reason,
            ..Default::default()
        })
    }

    /// A key is required when the base URL is OpenAI's public endpoint.
    fn check_ready(&self) -> Result<(), ProviderError> {
        self.api.check_ready()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A request with every setting set, and a system and a user message.
    fn full_request() -> ProviderRequest {
        ProviderRequest {
            model: String::new(),
            messages: vec![
                crate::provider::Message::new("system", "be brief"),
                crate::provider::Message::new("user", "hi"),
            ],
            settings: crate::provider::ModelSettings {
                temperature: Some(0.0),
                max_tokens: Some(10),
                max_completion_tokens: Some(5),
                top_p: Some(0.5),
                seed: Some(7),
                stop: Some(vec!["END".into()]),
                response_format: Some(json!({"type": "json_object"})),
            },
        }
    }

    fn provider() -> OpenAiChat {
        OpenAiChat::new(
            "openai:chat:m",
            "m",
            &ProviderConfig::default(),
            &Env::default(),
            reqwest::Client::new(),
        )
    }

    #[test]
    fn request_body_bytes_are_pinned() {
        let body = serde_json::to_string(&provider().body(&full_request())).unwrap();
        assert_eq!(
            body,
            r#"{"model":"m","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"}],"temperature":0.0,"max_completion_tokens":5,"max_tokens":10,"top_p":0.5,"seed":7,"stop":["END"],"response_format":{"type":"json_object"}}"#
        );
    }

    #[test]
    fn only_the_public_endpoint_needs_a_key() {
        assert!(is_public_endpoint("https://api.openai.com/v1"));
        assert!(!is_public_endpoint("http://localhost:11434/v1"));
        assert!(!is_public_endpoint("not a url"));
    }

    #[test]
    fn error_text_appends_the_code() {
        let body = json!({"error": {"message": "bad key", "type": "invalid_request_error", "code": "invalid_api_key"}});
        assert_eq!(error_text(&body).as_deref(), Some("bad key (invalid_api_key)"));
        let body = json!({"error": {"message": "slow down", "type": "x", "code": null}});
        assert_eq!(error_text(&body).as_deref(), Some("slow down"));
    }
}
