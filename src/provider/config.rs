//! [`ProviderConfig`]: the `config` of a provider entry in a suite
//! (promptfoo's keys), and [`Env`], where providers read their environment.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Error as _, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

use super::pricing::Price;
use super::ModelSettings;

/// `config` of a provider entry in a suite, promptfoo's keys
/// (<https://www.promptfoo.dev/docs/providers/openai/#configuring-parameters>):
/// one flat mapping holding connection keys, the model settings and
/// promptgate's call options (concurrency, timeout, retries, limits, cache,
/// prices).
///
/// Deserialized by hand (see [`ProviderConfig::KEYS`]) so that the model
/// settings, written flat in the mapping, land in [`ProviderConfig::settings`]
/// while unknown keys still reach `serde_ignored` and type errors keep their
/// key in `serde_path_to_error` (a derived `#[serde(flatten)]` would hide
/// both). Serialized flat, in the order of [`ProviderConfig::KEYS`].
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ProviderConfig {
    /// Base URL of the API (OpenAI-compatible: up to `/v1`; Anthropic: the host; Ollama: the host).
    #[serde(rename = "apiBaseUrl", skip_serializing_if = "Option::is_none")]
    pub api_base_url: Option<String>,
    /// Name of the environment variable that holds the API key (default per provider).
    #[serde(rename = "apiKeyEnvar", skip_serializing_if = "Option::is_none")]
    pub api_key_envar: Option<String>,
    /// The model settings set here (`temperature`, `max_tokens`,
    /// `max_completion_tokens`, `top_p`, `seed`, `stop`, `response_format`,
    /// written flat in `config`); they override the prompt file's.
    #[serde(flatten)]
    pub settings: ModelSettings,
    /// Most calls in flight at once to this provider (default: unbounded, only `-j`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_concurrency: Option<usize>,
    /// Per-request timeout in milliseconds (default 120 000).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Retries of a failed request (default 3: up to 4 attempts), 0 to 10.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retries: Option<u32>,
    /// First backoff delay between attempts, in ms (default 500; doubles up to 8 s, with jitter).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_delay_ms: Option<u64>,
    /// Consecutive failed requests after which the provider is not called
    /// again in this run (default 10; 0 disables the breaker).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub circuit_breaker: Option<u32>,
    /// Requests per minute sent at most (client-side limit).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rpm: Option<u32>,
    /// Tokens per minute sent at most (estimated: input characters / 4 plus
    /// the request's token limit), client-side.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tpm: Option<u32>,
    /// Response cache policy: `deterministic` (default: only requests with
    /// temperature 0 or a seed), `always`, or `never`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache: Option<CachePolicy>,
    /// Prices overriding the built-in table, USD per million tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost: Option<Price>,
    /// `anthropic:messages`: mark the system prompt `cache_control:
    /// {type: ephemeral}` so Anthropic caches it (5-minute TTL).
    #[serde(skip_serializing_if = "Option::is_none")]
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
    /// Every key of a provider `config`, in the order they are serialized.
    pub const KEYS: &'static [&'static str] = &[
        "apiBaseUrl",
        "apiKeyEnvar",
        "temperature",
        "max_tokens",
        "max_completion_tokens",
        "top_p",
        "seed",
        "stop",
        "response_format",
        "max_concurrency",
        "timeout_ms",
        "retries",
        "retry_delay_ms",
        "circuit_breaker",
        "rpm",
        "tpm",
        "cache",
        "cost",
        "cache_system_prompt",
    ];

    /// A copy of [`ProviderConfig::settings`], the model settings this config sets.
    pub fn settings(&self) -> ModelSettings {
        self.settings.clone()
    }

    /// The request timeout (default 120 s).
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms.unwrap_or(120_000))
    }
}

impl<'de> Deserialize<'de> for ProviderConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_struct("ProviderConfig", ProviderConfig::KEYS, ConfigVisitor)
    }
}

/// Reads a `config` mapping key by key: each known key into its field (the
/// model settings into [`ProviderConfig::settings`]), unknown keys skipped as
/// `IgnoredAny` (so `serde_ignored` reports them).
struct ConfigVisitor;

impl<'de> Visitor<'de> for ConfigVisitor {
    type Value = ProviderConfig;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("struct ProviderConfig")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ProviderConfig, A::Error> {
        let mut c = ProviderConfig::default();
        let mut seen = BTreeSet::new();
        while let Some(ConfigKey(key)) = map.next_key()? {
            if let Some(known) = ProviderConfig::KEYS.iter().find(|k| **k == key) {
                if !seen.insert(*known) {
                    return Err(A::Error::duplicate_field(known));
                }
            }
            let s = &mut c.settings;
            match key.as_str() {
                "apiBaseUrl" => c.api_base_url = map.next_value()?,
                "apiKeyEnvar" => c.api_key_envar = map.next_value()?,
                "temperature" => s.temperature = map.next_value()?,
                "max_tokens" => s.max_tokens = map.next_value()?,
                "max_completion_tokens" => s.max_completion_tokens = map.next_value()?,
                "top_p" => s.top_p = map.next_value()?,
                "seed" => s.seed = map.next_value()?,
                "stop" => s.stop = map.next_value()?,
                "response_format" => s.response_format = map.next_value()?,
                "max_concurrency" => c.max_concurrency = map.next_value()?,
                "timeout_ms" => c.timeout_ms = map.next_value()?,
                "retries" => c.retries = map.next_value()?,
                "retry_delay_ms" => c.retry_delay_ms = map.next_value()?,
                "circuit_breaker" => c.circuit_breaker = map.next_value()?,
                "rpm" => c.rpm = map.next_value()?,
                "tpm" => c.tpm = map.next_value()?,
                "cache" => c.cache = map.next_value()?,
                "cost" => c.cost = map.next_value()?,
                "cache_system_prompt" => c.cache_system_prompt = map.next_value()?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(c)
    }
}

/// A key of a `config` mapping, read as an identifier: a key that is not a
/// string (`1:`) is an error, as with a derived struct.
struct ConfigKey(String);

impl<'de> Deserialize<'de> for ConfigKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = ConfigKey;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("field identifier")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ConfigKey, E> {
                Ok(ConfigKey(v.to_string()))
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<ConfigKey, E> {
                Ok(ConfigKey(String::from_utf8_lossy(v).into_owned()))
            }
        }
        deserializer.deserialize_identifier(KeyVisitor)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Deserializes a YAML `config` the way the suite loader does: unknown
    /// keys reported by `serde_ignored`, errors located by `serde_path_to_error`.
    fn load(yaml: &str) -> (Result<ProviderConfig, String>, Vec<String>) {
        let value: serde_yaml::Value = serde_yaml::from_str(yaml).expect("YAML");
        let mut ignored = Vec::new();
        let mut on_ignored = |p: serde_ignored::Path<'_>| ignored.push(p.to_string());
        let de = serde_ignored::Deserializer::new(&value, &mut on_ignored);
        let result: Result<ProviderConfig, _> = serde_path_to_error::deserialize(de);
        (result.map_err(|e| format!("{}: {}", e.path(), e.inner())), ignored)
    }

    const EVERY_KEY: &str = r#"
apiBaseUrl: http://localhost:1/v1
apiKeyEnvar: MY_KEY
temperature: 0
max_tokens: 10
max_completion_tokens: 20
top_p: 0.5
seed: 7
stop: ["END"]
response_format: {type: json_object}
max_concurrency: 2
timeout_ms: 1000
retries: 1
retry_delay_ms: 5
circuit_breaker: 3
rpm: 60
tpm: 1000
cache: always
cost: {input: 1.0, output: 2.0}
cache_system_prompt: true
"#;

    #[test]
    fn every_key_is_read_and_written_back_in_order() {
        let (config, ignored) = load(EVERY_KEY);
        let config = config.expect("valid");
        assert!(ignored.is_empty(), "{ignored:?}");
        assert_eq!(config.settings().temperature, Some(0.0));
        assert_eq!(config.settings().seed, Some(7));
        assert_eq!(config.timeout(), Duration::from_millis(1000));
        // The JSON form is part of case hashes and slot keys: byte-identical.
        assert_eq!(
            serde_json::to_string(&config).unwrap(),
            r#"{"apiBaseUrl":"http://localhost:1/v1","apiKeyEnvar":"MY_KEY","temperature":0.0,"max_tokens":10,"max_completion_tokens":20,"top_p":0.5,"seed":7,"stop":["END"],"response_format":{"type":"json_object"},"max_concurrency":2,"timeout_ms":1000,"retries":1,"retry_delay_ms":5,"circuit_breaker":3,"rpm":60,"tpm":1000,"cache":"always","cost":{"input":1.0,"output":2.0},"cache_system_prompt":true}"#
        );
        assert_eq!(serde_json::to_string(&ProviderConfig::default()).unwrap(), "{}");
        let written = serde_json::to_value(&config).unwrap();
        let keys: Vec<&str> = written.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ProviderConfig::KEYS);
    }

    #[test]
    fn unknown_keys_are_ignored_and_reported() {
        let (config, ignored) = load("temperature: 0.2\napiKey: sk-x\ntemprature: 1\n");
        assert_eq!(config.expect("valid").settings().temperature, Some(0.2));
        assert_eq!(ignored, ["apiKey", "temprature"]);
    }

    #[test]
    fn a_key_given_twice_is_an_error() {
        let err = serde_json::from_str::<ProviderConfig>(r#"{"seed": 1, "seed": 2}"#).unwrap_err();
        assert!(err.to_string().starts_with("duplicate field `seed`"), "{err}");
    }

    #[test]
    fn a_wrong_type_is_located_at_its_key() {
        let (config, _) = load("seed: 1\ntemperature: hot\n");
        assert_eq!(
            config.unwrap_err(),
            "temperature: invalid type: string \"hot\", expected f64"
        );
        let (config, _) = load("retries: -1\n");
        assert_eq!(
            config.unwrap_err(),
            "retries: invalid value: integer `-1`, expected u32"
        );
        let (config, _) = load("[1, 2]");
        assert_eq!(
            config.unwrap_err(),
            ".: invalid type: sequence, expected struct ProviderConfig"
        );
        let (config, ig) = load("1: x\nseed: 2");
        assert_eq!(
            format!("{config:?} {ig:?}"),
            "Err(\"?: invalid type: integer `1`, expected field identifier\") []"
        );
        let (config, _) = load("7");
        assert_eq!(
            config.unwrap_err(),
            ".: invalid type: integer `7`, expected struct ProviderConfig"
        );
    }
}
