//! [`ProviderConfig`]: the `config` of a provider entry in a suite
//! (promptfoo's keys), and [`Env`], where providers read their environment.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::ModelSettings;

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
