//! What goes to a provider and what comes back: [`ProviderRequest`] (the
//! rendered [`Message`]s and the effective [`ModelSettings`]) and
//! [`ProviderResponse`] (the text, [`TokenUsage`], timing).
//!
//! These types are the wire-independent shape of a call; each provider maps
//! them to its API (see the provider modules). Their serde form is also what
//! recordings store and hash, so a field's name or order never changes.

use serde::{Deserialize, Serialize};

/// One chat message. `role` is `system`, `user` or `assistant`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// The text of the message.
    pub content: String,
}

impl Message {
    /// A message with the given role.
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        Message {
            role: role.into(),
            content: content.into(),
        }
    }
}

/// Sampling and output settings sent with a request. `None` means "not sent";
/// the provider's own default applies. Merged from the prompt file's settings
/// and the suite's provider `config` (the provider config wins).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSettings {
    /// Sampling temperature (OpenAI 0–2, Anthropic 0–1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Upper bound on generated tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// OpenAI's `max_completion_tokens` (the only limit o-series reasoning
    /// models accept); Anthropic and Ollama use it as their limit when
    /// `max_tokens` is not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<u32>,
    /// Nucleus sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Best-effort deterministic sampling seed (OpenAI, Ollama).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    /// Stop sequences.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<Vec<String>>,
    /// OpenAI's `response_format`, e.g. `{"type": "json_object"}` or
    /// `{"type": "json_schema", "json_schema": {...}}`; mapped to Ollama's
    /// `format`; ignored by Anthropic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<serde_json::Value>,
}

impl ModelSettings {
    /// `self` with every field that `over` sets replaced by `over`'s value.
    pub fn overlay(&self, over: &ModelSettings) -> ModelSettings {
        ModelSettings {
            temperature: over.temperature.or(self.temperature),
            max_tokens: over.max_tokens.or(self.max_tokens),
            max_completion_tokens: over.max_completion_tokens.or(self.max_completion_tokens),
            top_p: over.top_p.or(self.top_p),
            seed: over.seed.or(self.seed),
            stop: over.stop.clone().or_else(|| self.stop.clone()),
            response_format: over.response_format.clone().or_else(|| self.response_format.clone()),
        }
    }
}

/// What is sent to a provider: the rendered messages and the effective settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProviderRequest {
    /// The model name sent on the wire (from the provider id, else the prompt file).
    pub model: String,
    /// Rendered chat messages, in order.
    pub messages: Vec<Message>,
    /// Effective settings.
    pub settings: ModelSettings,
}

impl ProviderRequest {
    /// The model to send: the request's, else `default` (the model named in
    /// the provider id) when the request names none.
    pub fn model_or<'a>(&'a self, default: &'a str) -> &'a str {
        if self.model.is_empty() {
            default
        } else {
            &self.model
        }
    }

    /// The prompt as one string, for providers without chat roles (`echo`,
    /// `exec`): the content of a single user message, else the messages as a
    /// JSON array of `{role, content}`.
    pub fn as_text(&self) -> String {
        match self.messages.as_slice() {
            [m] if m.role == "user" => m.content.clone(),
            msgs => serde_json::to_string(msgs).unwrap_or_default(),
        }
    }
}

/// Token counts reported by the provider's `usage` object, in tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TokenUsage {
    /// Input (prompt) tokens: OpenAI `usage.prompt_tokens`, Anthropic
    /// `usage.input_tokens`, Ollama `prompt_eval_count`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<u64>,
    /// Output (completion) tokens: OpenAI `usage.completion_tokens`,
    /// Anthropic `usage.output_tokens`, Ollama `eval_count`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<u64>,
    /// Input tokens served from the provider's own prompt cache: OpenAI
    /// `usage.prompt_tokens_details.cached_tokens`, Anthropic
    /// `usage.cache_read_input_tokens`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_input: Option<u64>,
}

/// A provider's answer to one request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProviderResponse {
    /// The generated text.
    pub output: String,
    /// Wall time of the call, in milliseconds.
    pub latency_ms: u64,
    /// Token usage, when the provider reports it.
    #[serde(default)]
    pub tokens: TokenUsage,
    /// Why generation stopped (`stop`, `length`, `end_turn`, ...), as the provider says it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
    /// Cost of the call in USD, when known (price tables arrive with cost tracking).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
    /// Input tokens written to the provider's prompt cache (Anthropic
    /// `cache_creation_input_tokens`), billed at 1.25× input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_tokens: Option<u64>,
    /// HTTP attempts the call took (1 = no retry); 0 when no request was
    /// sent (replayed, cached, or a local provider). Set by
    /// [`Resilient`](super::resilience::Resilient); never stored in recordings.
    #[serde(skip)]
    pub attempts: u32,
    /// True when promptgate's response cache answered (no request sent).
    #[serde(skip)]
    pub from_cache: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_config_overrides_prompt_settings() {
        let prompt = ModelSettings {
            temperature: Some(0.7),
            max_tokens: Some(100),
            ..Default::default()
        };
        let cfg = ModelSettings {
            temperature: Some(0.0),
            ..Default::default()
        };
        let eff = prompt.overlay(&cfg);
        assert_eq!(eff.temperature, Some(0.0));
        assert_eq!(eff.max_tokens, Some(100));
    }

    #[test]
    fn as_text_is_the_user_message_or_json() {
        let one = ProviderRequest {
            model: "m".into(),
            messages: vec![Message::new("user", "hi")],
            settings: Default::default(),
        };
        assert_eq!(one.as_text(), "hi");
        let two = ProviderRequest {
            model: "m".into(),
            messages: vec![Message::new("system", "s"), Message::new("user", "u")],
            settings: Default::default(),
        };
        assert_eq!(
            two.as_text(),
            r#"[{"role":"system","content":"s"},{"role":"user","content":"u"}]"#
        );
    }
}
