//! `anthropic:messages:MODEL`: the Anthropic Messages API.
//!
//! Follows <https://docs.anthropic.com/en/api/messages>:
//!
//! - `POST {base}/v1/messages`, `base` = the suite's `apiBaseUrl`, else
//!   `$ANTHROPIC_BASE_URL`, else `https://api.anthropic.com` (trailing `/`
//!   dropped; a base that already ends in `/v1` gets no second `/v1`).
//! - Headers `x-api-key: KEY` (from the variable named by `apiKeyEnvar`, else
//!   `ANTHROPIC_API_KEY`; always required), `anthropic-version: 2023-06-01`,
//!   `content-type: application/json`.
//! - Request body: `model`, `max_tokens` (required by the API; default
//!   [`DEFAULT_MAX_TOKENS`]), `messages` (the `user`/`assistant` messages),
//!   `system` (the system messages joined with a blank line, as a plain string,
//!   when there are any), and only when set `temperature`, `top_p`,
//!   `stop_sequences` (from `stop`). With `config.cache_system_prompt: true`
//!   the system prompt is sent as `[{type: "text", text, cache_control:
//!   {type: "ephemeral"}}]` so Anthropic caches it (prompt caching). `seed` and `response_format` have no
//!   Anthropic counterpart and are not sent.
//! - Response: `{content: [{type: "text", text}, ...], stop_reason,
//!   usage: {input_tokens, output_tokens, cache_creation_input_tokens,
//!   cache_read_input_tokens}}`; the text
//!   blocks are concatenated. A response without any text block (`stop_reason`
//!   `refusal`, only `tool_use`) is an invalid response, so the case is an
//!   error rather than an empty answer.
//! - Error body: `{"type": "error", "error": {type, message}}`.

use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::http::{self, ApiAccess, ApiDefaults, Endpoint};
use super::{Env, Provider, ProviderConfig, ProviderError, ProviderRequest, ProviderResponse, TokenUsage};

/// Base URL used when neither `apiBaseUrl` nor `$ANTHROPIC_BASE_URL` is set.
pub const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";
/// Variable holding the API key unless `apiKeyEnvar` names another.
pub const DEFAULT_KEY_VAR: &str = "ANTHROPIC_API_KEY";
/// Variable holding the base URL unless `apiBaseUrl` is set.
pub const BASE_URL_VAR: &str = "ANTHROPIC_BASE_URL";
/// The `anthropic-version` header sent with every request.
pub const API_VERSION: &str = "2023-06-01";
/// `max_tokens` sent when the settings set none (the API requires one).
pub const DEFAULT_MAX_TOKENS: u32 = 1024;

/// Where `anthropic:messages` reads its base URL and key by default.
const API: ApiDefaults = ApiDefaults {
    base_url_var: BASE_URL_VAR,
    base_url: DEFAULT_BASE_URL,
    key_var: Some(DEFAULT_KEY_VAR),
};

/// The `anthropic:messages:MODEL` provider: the Anthropic Messages wire
/// format (<https://docs.anthropic.com/en/api/messages>; see the module docs).
#[derive(Debug)]
pub struct AnthropicMessages {
    id: String,
    model: String,
    cache_system_prompt: bool,
    endpoint: Endpoint,
}

impl AnthropicMessages {
    /// The provider `id` for `model`: base URL, key and timeout are resolved
    /// now from `config` and `env` (see the module docs); `client` is the run's
    /// shared connection pool.
    pub fn new(id: &str, model: &str, config: &ProviderConfig, env: &Env, client: reqwest::Client) -> Self {
        let access = ApiAccess::resolve(config, env, API);
        let base = &access.base_url;
        let url = if base.ends_with("/v1") {
            format!("{base}/messages")
        } else {
            format!("{base}/v1/messages")
        };
        AnthropicMessages {
            id: id.to_string(),
            model: model.to_string(),
            cache_system_prompt: config.cache_system_prompt.unwrap_or(false),
            endpoint: Endpoint::new(id, client, url, config.timeout(), access.key),
        }
    }

    /// The JSON body sent for `request` (only the settings Anthropic has).
    fn body(&self, request: &ProviderRequest) -> Value {
        let model = request.model_or(&self.model);
        let s = &request.settings;
        let system: Vec<&str> = request
            .messages
            .iter()
            .filter(|m| m.role == "system")
            .map(|m| m.content.as_str())
            .collect();
        let messages: Vec<Value> = request
            .messages
            .iter()
            .filter(|m| m.role != "system")
            .map(|m| json!({ "role": m.role, "content": m.content }))
            .collect();
        let mut body = Map::new();
        body.insert("model".into(), json!(model));
        body.insert(
            "max_tokens".into(),
            json!(s.max_tokens.or(s.max_completion_tokens).unwrap_or(DEFAULT_MAX_TOKENS)),
        );
        body.insert("messages".into(), Value::Array(messages));
        if !system.is_empty() && self.cache_system_prompt {
            body.insert(
                "system".into(),
                json!([{"type": "text", "text": system.join("\n\n"), "cache_control": {"type": "ephemeral"}}]),
            );
        } else if !system.is_empty() {
            body.insert("system".into(), json!(system.join("\n\n")));
        }
        http::insert_set(&mut body, "temperature", s.temperature);
        http::insert_set(&mut body, "top_p", s.top_p);
        http::insert_set(&mut body, "stop_sequences", s.stop.as_ref());
        Value::Object(body)
    }
}

/// The message of an Anthropic error body `{"type": "error", "error": {type, message}}`:
/// `TYPE: MESSAGE` (or just the message when there is no type).
fn error_text(body: &Value) -> Option<String> {
    let error = body.get("error")?;
    let message = http::str_field(error, "message")?;
    Some(match http::str_field(error, "type") {
        Some(kind) => format!("{kind}: {message}"),
        None => message.to_string(),
    })
}

/// A Messages API response as far as promptgate reads it.
#[derive(Debug, Deserialize)]
struct MessageResponse {
    content: Vec<ContentBlock>,
    #[serde(default)]
    stop_reason: Option<String>,
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Debug, Deserialize)]
struct ContentBlock {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Usage {
    #[serde(default)]
    input_tokens: Option<u64>,
    #[serde(default)]
    output_tokens: Option<u64>,
    #[serde(default)]
    cache_creation_input_tokens: Option<u64>,
    #[serde(default)]
    cache_read_input_tokens: Option<u64>,
}

#[async_trait::async_trait]
impl Provider for AnthropicMessages {
    fn id(&self) -> &str {
        &self.id
    }

    fn endpoint(&self) -> Option<&str> {
        Some(self.endpoint.url())
    }

    async fn call(&self, request: &ProviderRequest) -> Result<ProviderResponse, ProviderError> {
        let Some(key) = self.endpoint.api_key() else {
            return Err(self.endpoint.missing_key());
        };
        let headers = [("x-api-key", key), ("anthropic-version", API_VERSION)];
        let raw = self.endpoint.post_json(&headers, &self.body(request)).await?;
        if !raw.is_success() {
            let message = self
                .endpoint
                .with_key_hint(&raw, http::error_message(&raw.body, error_text));
            return Err(self.endpoint.http_error(&raw, &message));
        }
        let message: MessageResponse = self.endpoint.parse(&raw)?;
        let texts: Vec<&str> = message
            .content
            .iter()
            .filter(|b| b.kind == "text")
            .filter_map(|b| b.text.as_deref())
            .collect();
        // No text block at all (a refusal, only tool use) is an error, never an
        // empty answer that assertions such as `not-contains` would pass.
        if texts.is_empty() {
            return Err(self.endpoint.invalid(&format!(
                "the response has no text (stop_reason: {})",
                message.stop_reason.as_deref().unwrap_or("none")
            )));
        }
        let output = texts.concat();
        let cache_write_tokens = message.usage.as_ref().and_then(|u| u.cache_creation_input_tokens);
        let tokens = message
            .usage
            .map(|u| TokenUsage {
                input: u.input_tokens,
                output: u.output_tokens,
                cached_input: u.cache_read_input_tokens,
            })
            .unwrap_or_default();
        Ok(ProviderResponse {
            output,
            latency_ms: raw.latency_ms,
            tokens,
            finish_reason: message.stop_reason,
            cache_write_tokens,
            ..Default::default()
        })
    }

    /// The API key is always required.
    fn check_ready(&self) -> Result<(), ProviderError> {
        match self.endpoint.api_key() {
            Some(_) => Ok(()),
            None => Err(self.endpoint.missing_key()),
        }
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

    fn provider() -> AnthropicMessages {
        AnthropicMessages::new(
            "anthropic:messages:m",
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
            r#"{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"hi"}],"system":"be brief","temperature":0.0,"top_p":0.5,"stop_sequences":["END"]}"#
        );
    }
}
