//! [`ProviderError`]: why a provider call produced no usable answer, and which
//! errors are worth retrying.

use std::time::Duration;

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
        last: Box<ProviderError>,
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
