//! Providers: the LLM APIs (and local stand-ins) that answer a rendered prompt.
//!
//! Ids are spelled as promptfoo spells them:
//!
//! | id | wire format |
//! |----|-------------|
//! | `openai:chat:MODEL`, alias `openai:MODEL` | OpenAI chat completions ([`openai`]) |
//! | `openai:embedding:MODEL`, alias `openai:embeddings:MODEL` | OpenAI embeddings, for graders ([`openai_embedding`]) |
//! | `anthropic:messages:MODEL` | Anthropic Messages API ([`anthropic`]) |
//! | `ollama:chat:MODEL` | Ollama `/api/chat` ([`ollama`]) |
//! | `echo` | returns the rendered prompt ([`echo`]) |
//! | `exec:COMMAND` | rendered prompt on stdin, output from stdout ([`exec`]) |
//!
//! Every provider turns a [`ProviderRequest`] into a [`ProviderResponse`] or a
//! [`ProviderError`]. API keys are read from environment variables when the
//! provider is built and are never put in an error, a log line or a file.

pub mod anthropic;
pub mod echo;
pub mod exec;
mod http;
pub mod layers;
pub mod ollama;
pub mod openai;
pub mod openai_embedding;
pub mod pricing;
pub mod resilience;
pub mod slot;
mod spec;

pub use spec::ProviderSpec;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenUsage {
    /// Input (prompt) tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<u64>,
    /// Output (completion) tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<u64>,
    /// Input tokens served from the provider's own prompt cache.
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
    /// [`resilience::Resilient`]; never stored in recordings.
    #[serde(skip)]
    pub attempts: u32,
    /// True when promptgate's response cache answered (no request sent).
    #[serde(skip)]
    pub from_cache: bool,
}

/// Why a provider call produced no usable answer. Never a verdict on the
/// prompt: a case whose call failed is an ERROR (exit 3), not a failure.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum ProviderError {
    /// The environment variable holding the API key is not set.
    #[error("{provider}: the API key is missing: set the environment variable {var}")]
    MissingApiKey {
        /// Provider id.
        provider: String,
        /// Name of the variable to set.
        var: String,
    },
    /// The provider answered with a non-success HTTP status.
    #[error("{provider}: HTTP {status}: {message}")]
    Http {
        /// Provider id.
        provider: String,
        /// HTTP status code.
        status: u16,
        /// The provider's error message (from its error body), or the body itself.
        message: String,
        /// The wait the server asked for (`retry-after-ms`, else `retry-after`
        /// in seconds or as an HTTP date), in milliseconds, capped at 60 000.
        retry_after_ms: Option<u64>,
        /// The error body's `error.type` (OpenAI: `insufficient_quota`,
        /// `invalid_request_error`, ...; Anthropic: `overloaded_error`, ...),
        /// when the body is JSON and has one.
        error_type: Option<String>,
        /// The error body's `error.code` (OpenAI: `insufficient_quota`,
        /// `rate_limit_exceeded`, `invalid_api_key`, ...), when the body is
        /// JSON and has one.
        code: Option<String>,
    },
    /// The request could not be sent or the answer not received.
    #[error("{provider}: request failed: {message}")]
    Transport {
        /// Provider id.
        provider: String,
        /// What went wrong (connection refused, timeout, ...).
        message: String,
    },
    /// The provider answered 2xx but the body was not what its API documents.
    #[error("{provider}: unexpected response: {message}")]
    InvalidResponse {
        /// Provider id.
        provider: String,
        /// What was wrong with the body.
        message: String,
    },
    /// The provider answered 2xx with a body that is not JSON of the
    /// documented shape (a truncated or garbled answer): retried.
    #[error("{provider}: unexpected response: {message}")]
    Malformed {
        /// Provider id.
        provider: String,
        /// The parse error and an excerpt of the body.
        message: String,
    },
    /// Every attempt failed with a retryable error; `last` is the last one.
    #[error("{last} (gave up after {attempts} attempts)")]
    Exhausted {
        /// Attempts made (retries + 1).
        attempts: u32,
        /// The last attempt's error.
        last: Box<ProviderError>,
    },
    /// The circuit breaker is open: the provider failed too many calls in a
    /// row, so this run sends it nothing more. Shown as `not called: ...`
    /// when this call sent nothing, and as `stopped after N attempts: ...`
    /// when it opened while this call was being retried.
    #[error("{provider}: {}: the circuit breaker opened after {failures} consecutive failed requests (last: {last}); set `config.circuit_breaker` to change the limit (0 disables it)", breaker_outcome(*.attempts))]
    BreakerOpen {
        /// Provider id.
        provider: String,
        /// Requests this call had sent before the breaker stopped it (0:
        /// none, the breaker was already open).
        attempts: u32,
        /// The consecutive failures that opened it.
        failures: u32,
        /// The error that opened it.
        last: String,
    },
    /// `--max-cost` would be exceeded by this call.
    #[error("not run: budget reached: the estimated cost would pass --max-cost {budget_usd} USD (spent so far: {spent_usd:.6} USD)")]
    OverBudget {
        /// The budget, USD.
        budget_usd: f64,
        /// Spent so far, USD.
        spent_usd: f64,
    },
    /// `exec:` command failed to start or exited non-zero.
    #[error("{provider}: {message}")]
    Exec {
        /// Provider id.
        provider: String,
        /// Exit status and stderr.
        message: String,
    },
    /// Replay mode and no recording matches the request.
    #[error("no recording for this request in {dir} (provider {provider}, model {model:?}, key {key}, last message: {excerpt:?}); record it with `--record {dir}` (calls the provider), or call the provider without replaying (`--live`, instead of `--replay`)")]
    NotRecorded {
        /// Provider id.
        provider: String,
        /// Model of the request.
        model: String,
        /// The request hash that was looked up.
        key: String,
        /// The start of the request's last message.
        excerpt: String,
        /// The recordings folder.
        dir: String,
    },
}

/// What the circuit breaker did to a call that had sent `attempts` requests.
fn breaker_outcome(attempts: u32) -> String {
    match attempts {
        0 => "not called".to_string(),
        1 => "stopped after 1 attempt".to_string(),
        n => format!("stopped after {n} attempts"),
    }
}

/// OpenAI's error code (and type) for an account out of credit.
pub const INSUFFICIENT_QUOTA: &str = "insufficient_quota";

impl ProviderError {
    /// True when trying again may succeed: HTTP 408, 409, 429 (except
    /// OpenAI's `insufficient_quota`) and 5xx, transport errors (connection
    /// reset, timeout) and 2xx bodies that do not parse. Never 400, 401, 403,
    /// 404, a missing key or a replay miss. The rule of OpenAI's and
    /// Anthropic's official SDKs.
    ///
    /// `insufficient_quota` (out of credit: waiting does not help) is read
    /// from the error body's `error.code` or `error.type`
    /// (<https://platform.openai.com/docs/guides/error-codes>); only when the
    /// body gave neither (not JSON, e.g. from a proxy) is the message searched
    /// for the word.
    pub fn is_retryable(&self) -> bool {
        match self {
            ProviderError::Http {
                status,
                message,
                error_type,
                code,
                ..
            } => match status {
                429 => match (error_type.as_deref(), code.as_deref()) {
                    (None, None) => !message.contains(INSUFFICIENT_QUOTA),
                    (kind, code) => kind != Some(INSUFFICIENT_QUOTA) && code != Some(INSUFFICIENT_QUOTA),
                },
                408 | 409 => true,
                s => *s >= 500,
            },
            ProviderError::Transport { .. } | ProviderError::Malformed { .. } => true,
            _ => false,
        }
    }

    /// The wait the server asked for, when it did (429, 503, 529).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ProviderError::Http {
                retry_after_ms: Some(ms),
                ..
            } => Some(Duration::from_millis(*ms)),
            _ => None,
        }
    }
}

/// A configured provider. Implementations are cheap to share (`Arc`).
#[async_trait::async_trait]
pub trait Provider: Send + Sync {
    /// The provider id, e.g. `openai:chat:gpt-4o-mini`.
    fn id(&self) -> &str;

    /// Sends one request. Errors are infrastructure errors, never verdicts.
    async fn call(&self, request: &ProviderRequest) -> Result<ProviderResponse, ProviderError>;

    /// Checks, before any call, that the provider can be called at all (an
    /// API key is present). Called once per run for every provider in use,
    /// except in replay mode.
    fn check_ready(&self) -> Result<(), ProviderError> {
        Ok(())
    }

    /// True when answers are computed locally and deterministically
    /// (`echo`): such providers are neither recorded nor replayed.
    fn is_local(&self) -> bool {
        false
    }

    /// The URL requests are sent to (part of the response cache key), when
    /// the provider speaks HTTP.
    fn endpoint(&self) -> Option<&str> {
        None
    }

    /// The suite's `config` of this provider, when it was built from one
    /// (cache policy, prices).
    fn config(&self) -> Option<&ProviderConfig> {
        None
    }
}

/// `config` of a provider entry in a suite, promptfoo's keys.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProviderConfig {
    /// Base URL of the API (OpenAI-compatible: up to `/v1`; Anthropic: the host; Ollama: the host).
    #[serde(default, rename = "apiBaseUrl", skip_serializing_if = "Option::is_none")]
    pub api_base_url: Option<String>,
    /// Name of the environment variable that holds the API key (default per provider).
    #[serde(default, rename = "apiKeyEnvar", skip_serializing_if = "Option::is_none")]
    pub api_key_envar: Option<String>,
    /// Sampling temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Upper bound on generated tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// OpenAI `max_completion_tokens` (o-series models).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<u32>,
    /// Nucleus sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Sampling seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    /// Stop sequences.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<Vec<String>>,
    /// OpenAI `response_format`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<serde_json::Value>,
    /// Most calls in flight at once to this provider (default: unbounded, only `-j`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrency: Option<usize>,
    /// Per-request timeout in milliseconds (default 120 000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Retries of a failed request (default 3: up to 4 attempts), 0 to 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<u32>,
    /// First backoff delay between attempts, in ms (default 500; doubles up to 8 s, with jitter).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_delay_ms: Option<u64>,
    /// Consecutive failed requests after which the provider is not called
    /// again in this run (default 10; 0 disables the breaker).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub circuit_breaker: Option<u32>,
    /// Requests per minute sent at most (client-side limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpm: Option<u32>,
    /// Tokens per minute sent at most (estimated: input characters / 4 plus
    /// the request's token limit), client-side.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tpm: Option<u32>,
    /// Response cache policy: `deterministic` (default: only requests with
    /// temperature 0 or a seed), `always`, or `never`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<CachePolicy>,
    /// Prices overriding the built-in table, USD per million tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<crate::provider::pricing::Price>,
    /// `anthropic:messages`: mark the system prompt `cache_control:
    /// {type: ephemeral}` so Anthropic caches it (5-minute TTL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_system_prompt: Option<bool>,
}

/// When the response cache may answer a provider's requests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CachePolicy {
    /// Only deterministic requests: temperature 0 or a seed.
    #[default]
    Deterministic,
    /// Every request (sampled answers are then frozen until the entry expires).
    Always,
    /// Never.
    Never,
}

impl ProviderConfig {
    /// The sampling settings this config sets.
    pub fn settings(&self) -> ModelSettings {
        ModelSettings {
            temperature: self.temperature,
            max_tokens: self.max_tokens,
            max_completion_tokens: self.max_completion_tokens,
            top_p: self.top_p,
            seed: self.seed,
            stop: self.stop.clone(),
            response_format: self.response_format.clone(),
        }
    }

    /// The request timeout (default 120 s).
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms.unwrap_or(120_000))
    }
}

/// The parsed form of a provider id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderKind {
    /// `openai:chat:MODEL` / `openai:MODEL`.
    OpenAiChat {
        /// Model name.
        model: String,
    },
    /// `openai:embedding:MODEL` / `openai:embeddings:MODEL`: embeddings, for
    /// `similar` and `answer-relevance`; never a provider under test.
    OpenAiEmbedding {
        /// Model name.
        model: String,
    },
    /// `anthropic:messages:MODEL`.
    AnthropicMessages {
        /// Model name.
        model: String,
    },
    /// `ollama:chat:MODEL`.
    OllamaChat {
        /// Model name.
        model: String,
    },
    /// `echo`.
    Echo,
    /// `exec:COMMAND`.
    Exec {
        /// Shell command line.
        command: String,
    },
}

/// The id forms promptgate understands, for error messages.
pub const SUPPORTED_IDS: &str =
    "openai:chat:MODEL, openai:MODEL, anthropic:messages:MODEL, ollama:chat:MODEL, echo, exec:COMMAND (graders also openai:embedding:MODEL)";

impl ProviderKind {
    /// Parses a promptfoo-style provider id.
    ///
    /// # Errors
    /// A message naming the supported forms when the id is not one of them.
    pub fn parse(id: &str) -> Result<ProviderKind, String> {
        let id = id.trim();
        let nonempty = |m: &str| -> Result<String, String> {
            if m.is_empty() {
                Err(format!(
                    "provider id `{id}` names no model (expected e.g. `openai:chat:gpt-4o-mini`)"
                ))
            } else {
                Ok(m.to_string())
            }
        };
        if id == "echo" {
            return Ok(ProviderKind::Echo);
        }
        if let Some(cmd) = id.strip_prefix("exec:") {
            let cmd = cmd.trim();
            if cmd.is_empty() {
                return Err("provider id `exec:` names no command (expected `exec:COMMAND`)".into());
            }
            return Ok(ProviderKind::Exec {
                command: cmd.to_string(),
            });
        }
        if let Some(rest) = id.strip_prefix("openai:") {
            if let Some(model) = rest.strip_prefix("chat:") {
                return Ok(ProviderKind::OpenAiChat {
                    model: nonempty(model)?,
                });
            }
            for prefix in ["embedding:", "embeddings:"] {
                if let Some(model) = rest.strip_prefix(prefix) {
                    return Ok(ProviderKind::OpenAiEmbedding {
                        model: nonempty(model)?,
                    });
                }
            }
            for unsupported in ["completion:", "assistant:", "image:", "responses:", "realtime:"] {
                if rest.starts_with(unsupported) {
                    return Err(format!(
                        "provider `{id}`: the OpenAI {} API is not supported; use `openai:chat:MODEL`",
                        unsupported.trim_end_matches(':')
                    ));
                }
            }
            return Ok(ProviderKind::OpenAiChat { model: nonempty(rest)? });
        }
        if let Some(rest) = id.strip_prefix("anthropic:") {
            if let Some(model) = rest.strip_prefix("messages:") {
                return Ok(ProviderKind::AnthropicMessages {
                    model: nonempty(model)?,
                });
            }
            return Err(format!("provider `{id}`: expected `anthropic:messages:MODEL`"));
        }
        if let Some(rest) = id.strip_prefix("ollama:") {
            if let Some(model) = rest.strip_prefix("chat:") {
                return Ok(ProviderKind::OllamaChat {
                    model: nonempty(model)?,
                });
            }
            return Err(format!(
                "provider `{id}`: expected `ollama:chat:MODEL` (the completion API is not supported)"
            ));
        }
        Err(format!("unknown provider id `{id}`"))
    }

    /// The model named in the id, if any.
    pub fn model(&self) -> Option<&str> {
        match self {
            ProviderKind::OpenAiChat { model }
            | ProviderKind::OpenAiEmbedding { model }
            | ProviderKind::AnthropicMessages { model }
            | ProviderKind::OllamaChat { model } => Some(model),
            ProviderKind::Echo | ProviderKind::Exec { .. } => None,
        }
    }
}

/// Where providers read their environment (API keys, base URLs). A map in
/// tests, the process environment otherwise.
#[derive(Debug, Clone, Default)]
pub struct Env {
    overrides: Option<BTreeMap<String, String>>,
}

impl Env {
    /// The process environment.
    pub fn process() -> Self {
        Env { overrides: None }
    }

    /// A fixed set of variables (nothing from the process).
    pub fn from_map(vars: BTreeMap<String, String>) -> Self {
        Env { overrides: Some(vars) }
    }

    /// The value of `name`, if set and not empty.
    pub fn get(&self, name: &str) -> Option<String> {
        let v = match &self.overrides {
            Some(map) => map.get(name).cloned(),
            None => std::env::var(name).ok(),
        };
        v.filter(|s| !s.is_empty())
    }
}

/// Builds the provider for `id` with `config`.
///
/// `client` is shared by every HTTP provider of a run (one connection pool).
///
/// # Errors
/// An unknown or malformed id.
pub fn build(
    id: &str,
    config: &ProviderConfig,
    env: &Env,
    client: &reqwest::Client,
    work_dir: &std::path::Path,
) -> Result<Arc<dyn Provider>, String> {
    let kind = ProviderKind::parse(id)?;
    Ok(match kind {
        ProviderKind::OpenAiChat { model } => {
            Arc::new(openai::OpenAiChat::new(id, &model, config, env, client.clone()))
        }
        ProviderKind::OpenAiEmbedding { model } => Arc::new(openai_embedding::OpenAiEmbedding::new(
            id,
            &model,
            config,
            env,
            client.clone(),
        )),
        ProviderKind::AnthropicMessages { model } => Arc::new(anthropic::AnthropicMessages::new(
            id,
            &model,
            config,
            env,
            client.clone(),
        )),
        ProviderKind::OllamaChat { model } => {
            Arc::new(ollama::OllamaChat::new(id, &model, config, env, client.clone()))
        }
        ProviderKind::Echo => Arc::new(echo::Echo),
        ProviderKind::Exec { command } => Arc::new(exec::Exec::new(id, &command, config, work_dir)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_promptfoo_ids() {
        assert_eq!(
            ProviderKind::parse("openai:chat:gpt-4o-mini"),
            Ok(ProviderKind::OpenAiChat {
                model: "gpt-4o-mini".into()
            })
        );
        assert_eq!(
            ProviderKind::parse("openai:gpt-4o"),
            Ok(ProviderKind::OpenAiChat { model: "gpt-4o".into() })
        );
        assert_eq!(
            ProviderKind::parse("anthropic:messages:claude-sonnet-4-5"),
            Ok(ProviderKind::AnthropicMessages {
                model: "claude-sonnet-4-5".into()
            })
        );
        assert_eq!(
            ProviderKind::parse("ollama:chat:llama3.2"),
            Ok(ProviderKind::OllamaChat {
                model: "llama3.2".into()
            })
        );
        assert_eq!(ProviderKind::parse("echo"), Ok(ProviderKind::Echo));
        assert_eq!(
            ProviderKind::parse("exec: python3 x.py"),
            Ok(ProviderKind::Exec {
                command: "python3 x.py".into()
            })
        );
    }

    #[test]
    fn rejects_unknown_and_unsupported_ids() {
        assert!(ProviderKind::parse("bedrock:foo")
            .unwrap_err()
            .contains("unknown provider id"));
        assert!(ProviderKind::parse("openai:completion:x")
            .unwrap_err()
            .contains("not supported"));
        assert_eq!(
            ProviderKind::parse("openai:embedding:text-embedding-3-small"),
            Ok(ProviderKind::OpenAiEmbedding {
                model: "text-embedding-3-small".into()
            })
        );
        assert!(ProviderKind::parse("openai:chat:")
            .unwrap_err()
            .contains("names no model"));
        assert!(ProviderKind::parse("anthropic:claude").is_err());
        assert!(ProviderKind::parse("exec:").is_err());
    }

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
