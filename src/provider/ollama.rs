//! `ollama:chat:MODEL`: Ollama's native chat API.
//!
//! Follows <https://github.com/ollama/ollama/blob/main/docs/api.md#generate-a-chat-completion>:
//!
//! - `POST {base}/api/chat`, `base` = the suite's `apiBaseUrl`, else
//!   `$OLLAMA_HOST`, else `http://localhost:11434`. A base without a scheme
//!   (`127.0.0.1:11434`, as `OLLAMA_HOST` is often written) gets `http://`, and
//!   then, as Ollama itself does, port 11434 when it names none. No API key.
//! - Request body: `{model, messages: [{role, content}], stream: false,
//!   options: {temperature, seed, num_predict (from max_tokens), top_p, stop},
//!   format}`; `options` holds only the settings that are set and is left out
//!   when empty; `format` is `"json"` for a `response_format` of type
//!   `json_object` and the JSON schema itself for type `json_schema`.
//! - Response: `{message: {role, content}, done_reason, prompt_eval_count, eval_count}`;
//!   a `message` without a string `content` is an invalid response (the case
//!   is an error, not an empty answer).
//! - Error body: `{"error": "..."}`.

use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::http::{self, ApiAccess, ApiDefaults, Endpoint};
use super::{Env, Provider, ProviderConfig, ProviderError, ProviderRequest, ProviderResponse, TokenUsage};

/// Base URL used when neither `apiBaseUrl` nor `$OLLAMA_HOST` is set.
pub const DEFAULT_BASE_URL: &str = "http://localhost:11434";
/// Variable holding the host unless `apiBaseUrl` is set.
pub const HOST_VAR: &str = "OLLAMA_HOST";

/// Where `ollama:chat` reads its base URL by default (it has no key).
const API: ApiDefaults = ApiDefaults {
    base_url_var: HOST_VAR,
    base_url: DEFAULT_BASE_URL,
    key_var: None,
};

/// The `ollama:chat:MODEL` provider: Ollama `/api/chat`, not streamed
/// (<https://github.com/ollama/ollama/blob/main/docs/api.md#generate-a-chat-completion>;
/// see the module docs).
#[derive(Debug)]
pub struct OllamaChat {
    id: String,
    model: String,
    endpoint: Endpoint,
}

impl OllamaChat {
    /// The provider `id` for `model`: base URL and timeout are resolved now
    /// from `config` and `env` (see the module docs); `client` is the run's
    /// shared connection pool.
    pub fn new(id: &str, model: &str, config: &ProviderConfig, env: &Env, client: reqwest::Client) -> Self {
        let base = with_scheme(&ApiAccess::resolve(config, env, API).base_url);
        let url = format!("{base}/api/chat");
        OllamaChat {
            id: id.to_string(),
            model: model.to_string(),
            endpoint: Endpoint::new(id, client, url, config.timeout(), None),
        }
    }

    /// The JSON body sent for `request`.
    fn body(&self, request: &ProviderRequest) -> Value {
        let model = request.model_or(&self.model);
        let s = &request.settings;
        let messages: Vec<Value> = request
            .messages
            .iter()
            .map(|m| json!({ "role": m.role, "content": m.content }))
            .collect();
        let mut options = Map::new();
        http::insert_set(&mut options, "temperature", s.temperature);
        http::insert_set(&mut options, "seed", s.seed);
        http::insert_set(&mut options, "num_predict", s.max_tokens.or(s.max_completion_tokens));
        http::insert_set(&mut options, "top_p", s.top_p);
        http::insert_set(&mut options, "stop", s.stop.as_ref());
        let mut body = Map::new();
        body.insert("model".into(), json!(model));
        body.insert("messages".into(), Value::Array(messages));
        body.insert("stream".into(), Value::Bool(false));
        if !options.is_empty() {
            body.insert("options".into(), Value::Object(options));
        }
        if let Some(format) = s.response_format.as_ref().and_then(format_for) {
            body.insert("format".into(), format);
        }
        Value::Object(body)
    }
}

/// `base` with `http://` prepended when it has no scheme, and then `:11434`
/// appended when it names no port (`127.0.0.1` → `http://127.0.0.1:11434`).
fn with_scheme(base: &str) -> String {
    if base.contains("://") {
        return base.to_string();
    }
    let (hostport, path) = match base.find('/') {
        Some(i) => base.split_at(i),
        None => (base, ""),
    };
    let hostport = if let Some(rest) = hostport.strip_prefix('[') {
        // `[v6]` or `[v6]:port`
        match rest.split_once(']') {
            Some((_, after)) if after.starts_with(':') => hostport.to_string(),
            _ => format!("{hostport}:11434"),
        }
    } else {
        match hostport.matches(':').count() {
            0 if hostport.is_empty() => "127.0.0.1:11434".to_string(),
            0 => format!("{hostport}:11434"),
            1 if hostport.starts_with(':') => format!("127.0.0.1{hostport}"),
            1 => hostport.to_string(),
            _ => format!("[{hostport}]:11434"), // a bare IPv6 address
        }
    };
    format!("http://{hostport}{path}")
}

/// Ollama's `format` for OpenAI's `response_format`: `"json"` for
/// `{"type": "json_object"}`, the schema for `{"type": "json_schema",
/// "json_schema": {"schema": ...}}` (`"json"` if it carries none), nothing otherwise.
fn format_for(response_format: &Value) -> Option<Value> {
    match response_format.get("type").and_then(Value::as_str) {
        Some("json_object") => Some(json!("json")),
        Some("json_schema") => Some(
            response_format
                .get("json_schema")
                .and_then(|j| j.get("schema"))
                .cloned()
                .unwrap_or_else(|| json!("json")),
        ),
        _ => None,
    }
}

/// The message of an Ollama error body `{"error": "..."}`.
fn error_text(body: &Value) -> Option<String> {
    http::str_field(body, "error").map(str::to_string)
}

/// A non-streamed `/api/chat` response as far as promptgate reads it.
#[derive(Debug, Deserialize)]
struct ChatResponse {
    #[serde(default)]
    message: Option<ChatMessage>,
    #[serde(default)]
    done_reason: Option<String>,
    #[serde(default)]
    prompt_eval_count: Option<u64>,
    #[serde(default)]
    eval_count: Option<u64>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ChatMessage {
    #[serde(default)]
    content: Option<String>,
}

#[async_trait::async_trait]
impl Provider for OllamaChat {
    fn id(&self) -> &str {
        &self.id
    }

    fn endpoint(&self) -> Option<&str> {
        Some(self.endpoint.url())
    }

    async fn call(&self, request: &ProviderRequest) -> Result<ProviderResponse, ProviderError> {
        let raw = self.endpoint.post_json(&[], &self.body(request)).await?;
        if !raw.is_success() {
            return Err(self
                .endpoint
                .http_error(&raw, &http::error_message(&raw.body, error_text)));
        }
        let chat: ChatResponse = self.endpoint.parse(&raw)?;
        if let Some(error) = chat.error {
            return Err(self
                .endpoint
                .invalid(&format!("error in a {} response: {error}", raw.status)));
        }
        let Some(message) = chat.message else {
            return Err(self.endpoint.invalid("the response has no `message`"));
        };
        // A missing or null `content` is an error, never an empty answer that
        // assertions such as `not-contains` would pass.
        let Some(output) = message.content else {
            return Err(self.endpoint.invalid(&format!(
                "the response has no text (done_reason: {})",
                chat.done_reason.as_deref().unwrap_or("none")
            )));
        };
        Ok(ProviderResponse {
            output,
            latency_ms: raw.latency_ms,
            tokens: TokenUsage {
                input: chat.prompt_eval_count,
                output: chat.eval_count,
                cached_input: None,
            },
            finish_reason: chat.done_reason,
            ..Default::default()
        })
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

    fn provider() -> OllamaChat {
        OllamaChat::new(
            "ollama:chat:m",
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
            r#"{"model":"m","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"}],"stream":false,"options":{"temperature":0.0,"seed":7,"num_predict":10,"top_p":0.5,"stop":["END"]},"format":"json"}"#
        );
    }

    #[test]
    fn ollama_host_forms() {
        assert_eq!(with_scheme("http://localhost:11434"), "http://localhost:11434");
        assert_eq!(with_scheme("127.0.0.1:11434"), "http://127.0.0.1:11434");
        assert_eq!(with_scheme("example.com"), "http://example.com:11434");
        assert_eq!(with_scheme(":8080"), "http://127.0.0.1:8080");
        assert_eq!(with_scheme("[::1]:9000"), "http://[::1]:9000");
        assert_eq!(with_scheme("[::1]"), "http://[::1]:11434");
        assert_eq!(with_scheme("::1"), "http://[::1]:11434");
        assert_eq!(with_scheme("gpu-box:11434/ollama"), "http://gpu-box:11434/ollama");
    }

    #[test]
    fn response_format_maps_to_format() {
        assert_eq!(format_for(&json!({"type": "json_object"})), Some(json!("json")));
        let schema = json!({"type": "object", "properties": {"a": {"type": "string"}}});
        let rf = json!({"type": "json_schema", "json_schema": {"name": "x", "schema": schema.clone()}});
        assert_eq!(format_for(&rf), Some(schema));
        assert_eq!(format_for(&json!({"type": "text"})), None);
    }
}
