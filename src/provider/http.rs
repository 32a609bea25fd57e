//! Plumbing shared by the HTTP providers ([`super::openai`], [`super::anthropic`],
//! [`super::ollama`]): base-URL and API-key resolution from the suite's
//! `config` and the environment ([`ApiAccess`]), request bodies holding only
//! the settings that are set ([`insert_set`]), one JSON `POST` with a
//! per-request timeout and latency measurement, error-body extraction,
//! truncation, and redaction of the API key from every message built here.

use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

use super::{Env, ProviderConfig, ProviderError};

/// Longest excerpt of a response body, in characters, put into an error message.
pub(crate) const MAX_BODY_CHARS: usize = 500;

/// `url` without surrounding whitespace and trailing slashes
/// (`https://api.openai.com/v1/` → `https://api.openai.com/v1`).
pub(crate) fn normalize_base(url: &str) -> String {
    url.trim().trim_end_matches('/').to_string()
}

/// The base URL to use: `configured` (the suite's `apiBaseUrl`), else the
/// environment variable `var`, else `default`; normalised by [`normalize_base`].
/// Blank values count as unset.
pub(crate) fn resolve_base(configured: Option<&str>, env: &Env, var: &str, default: &str) -> String {
    configured
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .or_else(|| env.get(var).filter(|s| !s.trim().is_empty()))
        .map(|s| normalize_base(&s))
        .unwrap_or_else(|| normalize_base(default))
}

/// Where one HTTP API reads its base URL and API key when the suite's
/// `config` sets neither (`apiBaseUrl`, `apiKeyEnvar`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ApiDefaults {
    /// Variable holding the base URL when `apiBaseUrl` is not set (`OPENAI_BASE_URL`).
    pub(crate) base_url_var: &'static str,
    /// Base URL when neither `apiBaseUrl` nor the variable is set.
    pub(crate) base_url: &'static str,
    /// Variable holding the API key unless `apiKeyEnvar` names another
    /// (`OPENAI_API_KEY`); `None` for an API without keys (Ollama).
    pub(crate) key_var: Option<&'static str>,
}

/// An API key: the variable it is read from (named in errors) and its value,
/// when set. Never printed: `Debug` shows `<set>` instead of the value.
#[derive(Clone)]
pub(crate) struct ApiKey {
    /// The environment variable (`OPENAI_API_KEY`, or `apiKeyEnvar`).
    pub(crate) var: String,
    /// Its value, when set and not empty.
    pub(crate) value: Option<String>,
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKey")
            .field("var", &self.var)
            .field("value", &self.value.as_ref().map(|_| "<set>"))
            .finish()
    }
}

/// A provider's base URL and API key, resolved once (when the provider is
/// built) from its suite `config` and the environment.
#[derive(Debug, Clone)]
pub(crate) struct ApiAccess {
    /// The base URL, normalised ([`resolve_base`]).
    pub(crate) base_url: String,
    /// The key, for an API that has keys.
    pub(crate) key: Option<ApiKey>,
}

impl ApiAccess {
    /// The base URL: `config.api_base_url`, else `$base_url_var`, else the
    /// default ([`resolve_base`]); the key: the variable named by
    /// `config.api_key_envar` (blank counts as unset), else `key_var`.
    pub(crate) fn resolve(config: &ProviderConfig, env: &Env, defaults: ApiDefaults) -> Self {
        let base_url = resolve_base(
            config.api_base_url.as_deref(),
            env,
            defaults.base_url_var,
            defaults.base_url,
        );
        let key = defaults.key_var.map(|default_var| {
            let var = config
                .api_key_envar
                .as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .unwrap_or(default_var)
                .to_string();
            ApiKey {
                value: env.get(&var),
                var,
            }
        });
        ApiAccess { base_url, key }
    }
}

/// `s` cut to at most `max` characters (never inside a UTF-8 sequence), with
/// `…` appended when something was cut.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_string(),
    }
}

/// The last `max` characters of `s` (never inside a UTF-8 sequence), with `…`
/// prepended when something was cut.
pub(crate) fn tail(s: &str, max: usize) -> String {
    let count = s.chars().count();
    if count <= max {
        return s.to_string();
    }
    match s.char_indices().nth(count - max) {
        Some((cut, _)) => format!("…{}", &s[cut..]),
        None => s.to_string(),
    }
}

/// The message of an error response: what `extract` finds in the body parsed
/// as JSON, else the raw body truncated to [`MAX_BODY_CHARS`] characters
/// (`(empty body)` when there is none).
pub(crate) fn error_message(body: &str, extract: impl FnOnce(&Value) -> Option<String>) -> String {
    if let Some(message) = serde_json::from_str::<Value>(body).ok().as_ref().and_then(extract) {
        if !message.trim().is_empty() {
            return message;
        }
    }
    let body = body.trim();
    if body.is_empty() {
        "(empty body)".to_string()
    } else {
        truncate(body, MAX_BODY_CHARS)
    }
}

/// `error.type` and `error.code` of a JSON error body (OpenAI's and
/// Anthropic's shape: `{"error": {"type": ..., "code": ...}}`; a numeric code
/// as its digits); `(None, None)` when the body is not JSON or has neither.
pub(crate) fn error_type_and_code(body: &str) -> (Option<String>, Option<String>) {
    let Ok(value) = serde_json::from_str::<Value>(body) else {
        return (None, None);
    };
    let Some(error) = value.get("error") else {
        return (None, None);
    };
    let code = match error.get("code") {
        Some(Value::String(c)) if !c.is_empty() => Some(c.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    (str_field(error, "type").map(str::to_string), code)
}

/// Inserts `key: value` into a JSON request body when `value` is set: the
/// wire formats send only the settings a request sets, in the order inserted.
pub(crate) fn insert_set<T: Serialize>(body: &mut Map<String, Value>, key: &str, value: Option<T>) {
    if let Some(value) = value.and_then(|v| serde_json::to_value(v).ok()) {
        body.insert(key.to_string(), value);
    }
}

/// `value[key]` as a string, when it is a non-empty string.
pub(crate) fn str_field<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// A response as received: status code, body text and the wall time of the
/// call (request sent → body fully read), in milliseconds.
#[derive(Debug)]
pub(crate) struct RawResponse {
    /// HTTP status code.
    pub(crate) status: u16,
    /// The body, decoded as UTF-8 (invalid sequences replaced).
    pub(crate) body: String,
    /// Wall time of the call, in milliseconds.
    pub(crate) latency_ms: u64,
    /// The wait asked for by `retry-after-ms` / `retry-after`, in ms (capped at 60 s).
    pub(crate) retry_after_ms: Option<u64>,
}

/// Longest server-requested wait honoured, in milliseconds (the OpenAI SDK's cap).
pub(crate) const MAX_RETRY_AFTER_MS: u64 = 60_000;

/// The wait a response asks for: `retry-after-ms` (milliseconds, OpenAI), else
/// `retry-after` as seconds or as an HTTP date (RFC 9110 §10.2.3), capped at
/// [`MAX_RETRY_AFTER_MS`]. `None` when absent or unreadable.
pub(crate) fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<u64> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    let ms = if let Some(ms) = text("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        ms
    } else {
        let v = text("retry-after")?;
        match v.parse::<f64>() {
            Ok(secs) => secs * 1000.0,
            Err(_) => {
                let at = chrono::DateTime::parse_from_rfc2822(v).ok()?;
                (at.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_milliseconds() as f64
            }
        }
    };
    (ms.is_finite() && ms >= 0.0).then(|| (ms as u64).min(MAX_RETRY_AFTER_MS))
}

impl RawResponse {
    /// True for a 2xx status.
    pub(crate) fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// One HTTP endpoint of a provider: where requests go, with which client and
/// timeout, and the API key (if any) to keep out of every message.
#[derive(Debug)]
pub(crate) struct Endpoint {
    provider: String,
    client: reqwest::Client,
    url: String,
    timeout: Duration,
    key: Option<ApiKey>,
}

impl Endpoint {
    /// An endpoint of provider `provider` (its id) at `url`, with the key
    /// `key` (for an API that has keys).
    pub(crate) fn new(
        provider: &str,
        client: reqwest::Client,
        url: String,
        timeout: Duration,
        key: Option<ApiKey>,
    ) -> Self {
        Endpoint {
            provider: provider.to_string(),
            client,
            url,
            timeout,
            key,
        }
    }

    /// The URL requests are posted to.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// The API key, when one was found in the environment.
    pub(crate) fn api_key(&self) -> Option<&str> {
        self.key.as_ref().and_then(|k| k.value.as_deref())
    }

    /// `message` with the API key (if any) replaced by `[REDACTED]`.
    pub(crate) fn redact(&self, message: &str) -> String {
        match self.api_key() {
            Some(key) if !key.is_empty() && message.contains(key) => message.replace(key, "[REDACTED]"),
            _ => message.to_string(),
        }
    }

    /// [`ProviderError::Http`] for `raw`'s status with `message` (redacted),
    /// the wait asked for, and the error body's `error.type` and `error.code`
    /// when it has them ([`error_type_and_code`]).
    pub(crate) fn http_error(&self, raw: &RawResponse, message: &str) -> ProviderError {
        let (error_type, code) = error_type_and_code(&raw.body);
        ProviderError::Http {
            provider: self.provider.clone(),
            status: raw.status,
            message: self.redact(message),
            retry_after_ms: raw.retry_after_ms,
            error_type: error_type.map(|t| self.redact(&t)),
            code: code.map(|c| self.redact(&c)),
        }
    }

    /// [`ProviderError::InvalidResponse`] with `message` (redacted).
    pub(crate) fn invalid(&self, message: &str) -> ProviderError {
        ProviderError::InvalidResponse {
            provider: self.provider.clone(),
            message: self.redact(message),
        }
    }

    /// [`ProviderError::Transport`] with `message` (redacted).
    fn transport(&self, message: &str) -> ProviderError {
        ProviderError::Transport {
            provider: self.provider.clone(),
            message: self.redact(message),
        }
    }

    /// [`ProviderError::MissingApiKey`] naming the variable the key is read from.
    pub(crate) fn missing_key(&self) -> ProviderError {
        ProviderError::MissingApiKey {
            provider: self.provider.clone(),
            var: self.key.as_ref().map(|k| k.var.clone()).unwrap_or_default(),
        }
    }

    /// `message` with ` [the API key is read from $VAR]` appended when `raw`
    /// is a 401: the variable (never the key) is named so the fix is obvious.
    pub(crate) fn with_key_hint(&self, raw: &RawResponse, mut message: String) -> String {
        if let (401, Some(key)) = (raw.status, &self.key) {
            message.push_str(&format!(" [the API key is read from ${}]", key.var));
        }
        message
    }

    /// A 2xx body parsed as `T`; [`ProviderError::Malformed`] (with an
    /// excerpt of the body; retried) when it is not JSON of that shape.
    pub(crate) fn parse<T: DeserializeOwned>(&self, raw: &RawResponse) -> Result<T, ProviderError> {
        serde_json::from_str(&raw.body).map_err(|e| ProviderError::Malformed {
            provider: self.provider.clone(),
            message: self.redact(&format!(
                "the body is not the documented JSON ({e}); body: {}",
                truncate(raw.body.trim(), MAX_BODY_CHARS)
            )),
        })
    }

    /// `POST`s `body` as JSON (`content-type: application/json`) with the extra
    /// `headers`, within the endpoint's timeout, and reads the whole answer.
    /// Header values that contain the API key are marked sensitive (never
    /// printed by `Debug`).
    ///
    /// # Errors
    /// [`ProviderError::Transport`] when the request cannot be sent or the
    /// answer not read (connection refused, timeout, ...). Any status is `Ok`.
    pub(crate) async fn post_json(&self, headers: &[(&str, &str)], body: &Value) -> Result<RawResponse, ProviderError> {
        let mut request = self.client.post(&self.url).timeout(self.timeout).json(body);
        for (name, value) in headers {
            let mut value = reqwest::header::HeaderValue::from_str(value).map_err(|_| {
                self.transport(&format!(
                    "the value of the `{name}` header contains characters not allowed in HTTP headers"
                ))
            })?;
            if self
                .api_key()
                .is_some_and(|k| !k.is_empty() && value.as_bytes().windows(k.len()).any(|w| w == k.as_bytes()))
            {
                value.set_sensitive(true);
            }
            request = request.header(*name, value);
        }
        let started = Instant::now();
        let response = request.send().await.map_err(|e| self.transport(&self.describe(&e)))?;
        let status = response.status().as_u16();
        let retry_after_ms = retry_after(response.headers());
        let bytes = response.bytes().await.map_err(|e| self.transport(&self.describe(&e)))?;
        let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        // A server that echoes the request (a hostile proxy, a debug endpoint)
        // could return the key: remove it from the whole body here, before any
        // excerpt is cut from it (a cut inside the key would defeat a later redaction).
        Ok(RawResponse {
            status,
            body: self.redact(&String::from_utf8_lossy(&bytes)),
            latency_ms,
            retry_after_ms,
        })
    }

    /// A one-line description of a transport error: the error and its causes.
    /// reqwest's messages name the URL, never a header, so the key is not in
    /// them (and [`Endpoint::redact`] is applied anyway).
    fn describe(&self, err: &reqwest::Error) -> String {
        if err.is_timeout() {
            return format!("timed out after {} ms (POST {})", self.timeout.as_millis(), self.url);
        }
        let mut message = err.to_string();
        let mut source = std::error::Error::source(err);
        while let Some(cause) = source {
            let text = cause.to_string();
            if !message.contains(&text) {
                message.push_str(": ");
                message.push_str(&text);
            }
            source = cause.source();
        }
        message
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn normalises_and_resolves_base_urls() {
        assert_eq!(
            normalize_base(" https://api.openai.com/v1/ "),
            "https://api.openai.com/v1"
        );
        let env = Env::from_map(BTreeMap::from([("X_BASE".to_string(), "http://env:1/".to_string())]));
        assert_eq!(
            resolve_base(Some("http://cfg/"), &env, "X_BASE", "http://default"),
            "http://cfg"
        );
        assert_eq!(resolve_base(None, &env, "X_BASE", "http://default"), "http://env:1");
        assert_eq!(
            resolve_base(Some("  "), &Env::from_map(BTreeMap::new()), "X_BASE", "http://d/"),
            "http://d"
        );
    }

    #[test]
    fn api_access_reads_config_then_env_then_defaults() {
        const API: ApiDefaults = ApiDefaults {
            base_url_var: "X_BASE",
            base_url: "http://default/",
            key_var: Some("X_KEY"),
        };
        let env = Env::from_map(BTreeMap::from([
            ("X_KEY".to_string(), "k1".to_string()),
            ("OTHER_KEY".to_string(), "k2".to_string()),
        ]));
        let access = ApiAccess::resolve(&ProviderConfig::default(), &env, API);
        assert_eq!(access.base_url, "http://default");
        let key = access.key.expect("an API with keys");
        assert_eq!((key.var.as_str(), key.value.as_deref()), ("X_KEY", Some("k1")));
        assert!(!format!("{key:?}").contains("k1"), "Debug never shows the key");

        let config = ProviderConfig {
            api_base_url: Some("http://cfg/v1/".into()),
            api_key_envar: Some(" OTHER_KEY ".into()),
            ..Default::default()
        };
        let access = ApiAccess::resolve(&config, &env, API);
        assert_eq!(access.base_url, "http://cfg/v1");
        let key = access.key.expect("an API with keys");
        assert_eq!((key.var.as_str(), key.value.as_deref()), ("OTHER_KEY", Some("k2")));

        let blank = ProviderConfig {
            api_key_envar: Some("  ".into()),
            ..Default::default()
        };
        let keyless = ApiDefaults { key_var: None, ..API };
        assert_eq!(
            ApiAccess::resolve(&blank, &env, API).key.map(|k| k.var).as_deref(),
            Some("X_KEY")
        );
        assert!(ApiAccess::resolve(&config, &env, keyless).key.is_none());
    }

    #[test]
    fn reads_retry_after_headers_capped_at_60_s() {
        use reqwest::header::{HeaderMap, HeaderValue};
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert("retry-after", HeaderValue::from_static("2"));
        assert_eq!(retry_after(&h), Some(2000));
        h.insert("retry-after-ms", HeaderValue::from_static("50"));
        assert_eq!(retry_after(&h), Some(50), "retry-after-ms wins");
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("3600"));
        assert_eq!(retry_after(&h), Some(MAX_RETRY_AFTER_MS));
        h.insert("retry-after", HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"));
        assert_eq!(retry_after(&h), None, "a date in the past asks for no wait");
        h.insert("retry-after", HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn truncates_on_char_boundaries() {
        assert_eq!(truncate("héllo", 2), "hé…");
        assert_eq!(truncate("hi", 2), "hi");
        assert_eq!(tail("héllo", 3), "…llo");
        assert_eq!(tail("hé", 5), "hé");
    }

    #[test]
    fn error_type_and_code_come_from_a_json_body_only() {
        let quota = r#"{"error":{"message":"m","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#;
        assert_eq!(
            error_type_and_code(quota),
            (Some("insufficient_quota".into()), Some("insufficient_quota".into()))
        );
        assert_eq!(
            error_type_and_code(r#"{"error":{"type":"x","code":429}}"#),
            (Some("x".into()), Some("429".into()))
        );
        assert_eq!(error_type_and_code("insufficient_quota"), (None, None));
        assert_eq!(error_type_and_code(r#"{"error":"boom"}"#), (None, None));
    }

    #[test]
    fn error_message_falls_back_to_the_body() {
        let pick = |v: &Value| v.get("error").and_then(Value::as_str).map(str::to_string);
        assert_eq!(error_message(r#"{"error":"boom"}"#, pick), "boom");
        assert_eq!(
            error_message("<html>bad gateway</html>", pick),
            "<html>bad gateway</html>"
        );
        assert_eq!(error_message("", pick), "(empty body)");
        assert_eq!(
            error_message(&"x".repeat(600), pick).chars().count(),
            MAX_BODY_CHARS + 1
        );
    }
}
