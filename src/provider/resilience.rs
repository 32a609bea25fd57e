//! Retries, client-side rate limits and a circuit breaker around any
//! [`Provider`]: [`Resilient`] decorates the provider of every provider slot
//! (built in `runner::plan`), so every call of a run — a case's own call and a
//! grader's — gets the same treatment.
//!
//! - **Retries** (`config.retries`, default [`DEFAULT_RETRIES`]; N retries =
//!   N + 1 attempts) of the errors [`ProviderError::is_retryable`] accepts
//!   (408, 409, 429 except `insufficient_quota`, 5xx, transport errors and
//!   timeouts, a 2xx body that does not parse), never 400/401/403/404.
//!   Exponential backoff with jitter from `config.retry_delay_ms` (default
//!   500 ms, doubling, at most 8 s: the OpenAI SDK's schedule), replaced by the
//!   server's `retry-after-ms` / `retry-after` when it sends one (capped at
//!   60 s). Built on `backon` (its `adjust` hook honours Retry-After).
//! - **Rate limits** (`config.rpm`, `config.tpm`): GCRA limiters from
//!   `governor`; a request waits for its turn, and for its estimated tokens
//!   (input characters / 4 plus the request's token limit, at most one
//!   minute's budget).
//! - **Adaptive back-off**: after [`SATURATION_429S`] rate-limit answers in a
//!   row, no new request is sent until the wait the last one asked for (else
//!   1 s) has passed: the provider is saturated, so every caller slows down,
//!   not only the one that was refused. An isolated 429 only delays its own retry.
//! - **Circuit breaker** (`config.circuit_breaker`, default
//!   [`DEFAULT_BREAKER`], 0 = off): after that many failed requests in a row
//!   (a success resets the count) the provider is not called again in this
//!   run; every later call fails at once with [`ProviderError::BreakerOpen`],
//!   one clear message instead of hammering a dead endpoint. Retryable rate
//!   limits (429) and request-specific errors (400, 413, 422) do not count:
//!   they say nothing about the endpoint being down.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use super::{Provider, ProviderConfig, ProviderError, ProviderRequest, ProviderResponse};

/// Retries per call unless `config.retries` says otherwise.
pub const DEFAULT_RETRIES: u32 = 3;
/// The most retries `config.retries` accepts.
pub const MAX_RETRIES: u32 = 10;
/// First backoff delay unless `config.retry_delay_ms` says otherwise, in ms.
pub const DEFAULT_RETRY_DELAY_MS: u64 = 500;
/// Longest backoff delay (before jitter), in ms.
pub const MAX_RETRY_DELAY_MS: u64 = 8_000;
/// Consecutive failed requests that open the breaker, unless `config.circuit_breaker` says otherwise.
pub const DEFAULT_BREAKER: u32 = 10;
/// Rate-limit answers in a row after which every caller of the provider pauses.
pub const SATURATION_429S: u32 = 3;

/// A provider with retries, rate limits and a circuit breaker (see the module docs).
pub struct Resilient {
    inner: Arc<dyn Provider>,
    config: ProviderConfig,
    retries: u32,
    retry_delay: Duration,
    breaker_threshold: u32,
    consecutive_failures: AtomicU32,
    consecutive_429s: AtomicU32,
    breaker: OnceLock<(u32, ProviderError)>,
    pause_until: Mutex<Option<tokio::time::Instant>>,
    requests: Option<DefaultDirectRateLimiter>,
    tokens: Option<(DefaultDirectRateLimiter, NonZeroU32)>,
}

impl std::fmt::Debug for Resilient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resilient")
            .field("provider", &self.inner.id())
            .field("retries", &self.retries)
            .field("breaker_threshold", &self.breaker_threshold)
            .finish()
    }
}

impl Resilient {
    /// Wraps `inner` with the limits of `config` (`retries`, `retry_delay_ms`,
    /// `circuit_breaker`, `rpm`, `tpm`; defaults in the module docs).
    pub fn new(inner: Arc<dyn Provider>, config: &ProviderConfig) -> Self {
        let per_minute = |n: Option<u32>| n.and_then(NonZeroU32::new);
        Resilient {
            inner,
            config: config.clone(),
            retries: config.retries.unwrap_or(DEFAULT_RETRIES).min(MAX_RETRIES),
            retry_delay: Duration::from_millis(config.retry_delay_ms.unwrap_or(DEFAULT_RETRY_DELAY_MS)),
            breaker_threshold: config.circuit_breaker.unwrap_or(DEFAULT_BREAKER),
            consecutive_failures: AtomicU32::new(0),
            consecutive_429s: AtomicU32::new(0),
            breaker: OnceLock::new(),
            pause_until: Mutex::new(None),
            requests: per_minute(config.rpm).map(|n| RateLimiter::direct(Quota::per_minute(n))),
            tokens: per_minute(config.tpm).map(|n| (RateLimiter::direct(Quota::per_minute(n)), n)),
        }
    }

    /// The backoff schedule: `retry_delay` doubling up to 8 s, with jitter, `retries` times.
    fn backoff(&self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_min_delay(self.retry_delay)
            .with_max_delay(Duration::from_millis(MAX_RETRY_DELAY_MS).max(self.retry_delay))
            .with_factor(2.0)
            .with_jitter()
            .with_max_times(self.retries as usize)
    }

    /// Waits until this request may be sent: the adaptive pause, then the
    /// request and token budgets.
    async fn wait_turn(&self, request: &ProviderRequest) {
        let pause = *self.pause_until.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(at) = pause {
            tokio::time::sleep_until(at).await;
        }
        if let Some(limiter) = &self.requests {
            limiter.until_ready().await;
        }
        if let Some((limiter, budget)) = &self.tokens {
            let n = NonZeroU32::new(estimate_tokens(request).clamp(1, budget.get())).unwrap_or(NonZeroU32::MIN);
            // `n` never exceeds the budget, so capacity is always sufficient.
            let _ = limiter.until_n_ready(n).await;
        }
    }

    /// Updates the breaker and the saturation count after one attempt.
    fn record(&self, result: &Result<ProviderResponse, ProviderError>) {
        match result {
            Ok(_) => {
                self.consecutive_failures.store(0, Ordering::SeqCst);
                self.consecutive_429s.store(0, Ordering::SeqCst);
            }
            Err(e) => {
                let status = match e {
                    ProviderError::Http { status, .. } => Some(*status),
                    _ => None,
                };
                if status == Some(429) && e.is_retryable() {
                    let n = self.consecutive_429s.fetch_add(1, Ordering::SeqCst) + 1;
                    if n >= SATURATION_429S {
                        let wait = e.retry_after().unwrap_or(Duration::from_secs(1));
                        let mut pause = self.pause_until.lock().unwrap_or_else(|e| e.into_inner());
                        let until = tokio::time::Instant::now() + wait;
                        if pause.is_none_or(|p| p < until) {
                            *pause = Some(until);
                        }
                    }
                    return;
                }
                if matches!(status, Some(400 | 413 | 422)) || self.breaker_threshold == 0 {
                    return;
                }
                let n = self.consecutive_failures.fetch_add(1, Ordering::SeqCst) + 1;
                if n >= self.breaker_threshold {
                    let _ = self.breaker.set((n, e.clone()));
                }
            }
        }
    }

    /// [`ProviderError::BreakerOpen`] when the breaker has opened, for a call
    /// that has sent `attempts` requests so far.
    fn check_breaker(&self, attempts: u32) -> Result<(), ProviderError> {
        match self.breaker.get() {
            Some((failures, last)) => Err(ProviderError::BreakerOpen {
                provider: self.inner.id().to_string(),
                attempts,
                failures: *failures,
                last: Box::new(last.clone()),
            }),
            None => Ok(()),
        }
    }
}

/// Tokens a request is expected to use: input characters / 4 (a common
/// rule of thumb for English with OpenAI's and Anthropic's tokenizers) plus
/// the request's output limit when it sets one.
pub fn estimate_tokens(request: &ProviderRequest) -> u32 {
    let chars: usize = request.messages.iter().map(|m| m.content.len()).sum();
    let output = request
        .settings
        .max_tokens
        .or(request.settings.max_completion_tokens)
        .unwrap_or(0);
    u32::try_from(chars.div_ceil(4))
        .unwrap_or(u32::MAX)
        .saturating_add(output)
}

#[async_trait::async_trait]
impl Provider for Resilient {
    fn id(&self) -> &str {
        self.inner.id()
    }

    /// Sends `request` with retries; the response's `attempts` says how many
    /// requests it took.
    ///
    /// # Errors
    /// A permanent error as the provider gave it; the last retryable error
    /// wrapped in [`ProviderError::Exhausted`] when every attempt failed;
    /// [`ProviderError::BreakerOpen`] once the breaker is open.
    async fn call(&self, request: &ProviderRequest) -> Result<ProviderResponse, ProviderError> {
        let attempts = AtomicU32::new(0);
        let attempt = || async {
            self.check_breaker(attempts.load(Ordering::SeqCst))?;
            self.wait_turn(request).await;
            self.check_breaker(attempts.load(Ordering::SeqCst))?;
            attempts.fetch_add(1, Ordering::SeqCst);
            let result = self.inner.call(request).await;
            self.record(&result);
            result
        };
        let result = attempt
            .retry(self.backoff())
            // The case gives its place up while it waits (see runner::slot).
            .sleep(crate::provider::slot::backoff_sleep)
            .when(ProviderError::is_retryable)
            .adjust(|e, delay| delay.map(|d| e.retry_after().unwrap_or(d)))
            .await;
        let attempts = attempts.load(Ordering::SeqCst);
        match result {
            Ok(mut response) => {
                response.attempts = attempts;
                Ok(response)
            }
            Err(e) if attempts > 1 && e.is_retryable() => Err(ProviderError::Exhausted {
                attempts,
                last: Box::new(e),
            }),
            Err(e) => Err(e),
        }
    }

    fn check_ready(&self) -> Result<(), ProviderError> {
        self.inner.check_ready()
    }

    fn is_local(&self) -> bool {
        self.inner.is_local()
    }

    fn endpoint(&self) -> Option<&str> {
        self.inner.endpoint()
    }

    fn config(&self) -> Option<&ProviderConfig> {
        Some(&self.config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::Message;
    use std::collections::VecDeque;
    use std::time::Instant;

    /// Answers from a script of results, counting calls.
    struct Scripted {
        answers: Mutex<VecDeque<Result<ProviderResponse, ProviderError>>>,
        calls: AtomicU32,
    }

    #[async_trait::async_trait]
    impl Provider for Scripted {
        fn id(&self) -> &str {
            "scripted"
        }
        async fn call(&self, _: &ProviderRequest) -> Result<ProviderResponse, ProviderError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            self.answers.lock().unwrap().pop_front().unwrap_or_else(|| Ok(ok()))
        }
    }

    fn ok() -> ProviderResponse {
        ProviderResponse {
            output: "fine".into(),
            ..Default::default()
        }
    }

    fn http(status: u16, message: &str, retry_after_ms: Option<u64>) -> ProviderError {
        ProviderError::Http {
            provider: "scripted".into(),
            status,
            message: message.into(),
            retry_after_ms,
            error_type: None,
            code: None,
        }
    }

    fn setup(
        answers: Vec<Result<ProviderResponse, ProviderError>>,
        config: ProviderConfig,
    ) -> (Arc<Scripted>, Resilient) {
        let inner = Arc::new(Scripted {
            answers: Mutex::new(answers.into()),
            calls: AtomicU32::new(0),
        });
        let r = Resilient::new(inner.clone(), &config);
        (inner, r)
    }

    fn request() -> ProviderRequest {
        ProviderRequest {
            model: "m".into(),
            messages: vec![Message::new("user", "hello there")],
            settings: Default::default(),
        }
    }

    fn fast() -> ProviderConfig {
        ProviderConfig {
            retry_delay_ms: Some(1),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn retries_retryable_errors_and_counts_attempts() {
        let (inner, r) = setup(
            vec![
                Err(http(500, "boom", None)),
                Err(ProviderError::Malformed {
                    provider: "scripted".into(),
                    message: "not json".into(),
                }),
            ],
            fast(),
        );
        let response = r.call(&request()).await.unwrap();
        assert_eq!(response.attempts, 3);
        assert_eq!(inner.calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn never_retries_permanent_errors() {
        for e in [
            http(400, "bad", None),
            http(401, "key", None),
            http(403, "no", None),
            http(404, "model", None),
            http(429, "You exceeded your current quota (insufficient_quota)", None),
        ] {
            let (inner, r) = setup(vec![Err(e.clone())], fast());
            assert_eq!(r.call(&request()).await.unwrap_err(), e);
            assert_eq!(inner.calls.load(Ordering::SeqCst), 1, "{e}");
        }
    }

    #[tokio::test]
    async fn gives_up_after_the_configured_retries() {
        let config = ProviderConfig {
            retries: Some(2),
            ..fast()
        };
        let (inner, r) = setup(vec![Err(http(503, "down", None)); 5], config);
        let err = r.call(&request()).await.unwrap_err();
        assert_eq!(inner.calls.load(Ordering::SeqCst), 3);
        assert!(
            err.to_string().ends_with("HTTP 503: down (gave up after 3 attempts)"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn honours_retry_after_instead_of_the_backoff() {
        // A backoff of 5 s would time the test out; the server asks for 60 ms.
        let config = ProviderConfig {
            retry_delay_ms: Some(5_000),
            ..Default::default()
        };
        let (_, r) = setup(vec![Err(http(429, "slow down", Some(60)))], config);
        let started = Instant::now();
        let response = r.call(&request()).await.unwrap();
        let waited = started.elapsed();
        assert_eq!(response.attempts, 2);
        assert!(waited >= Duration::from_millis(60), "{waited:?}");
        assert!(waited < Duration::from_secs(4), "{waited:?}");
    }

    #[tokio::test]
    async fn the_breaker_opens_after_consecutive_failures() {
        let config = ProviderConfig {
            retries: Some(0),
            circuit_breaker: Some(3),
            ..fast()
        };
        let (inner, r) = setup(vec![Err(http(502, "bad gateway", None)); 10], config);
        for _ in 0..3 {
            assert!(matches!(r.call(&request()).await, Err(ProviderError::Http { .. })));
        }
        let err = r.call(&request()).await.unwrap_err();
        assert!(matches!(err, ProviderError::BreakerOpen { failures: 3, .. }), "{err:?}");
        assert!(
            matches!(&err, ProviderError::BreakerOpen { last, .. } if matches!(**last, ProviderError::Http { status: 502, .. })),
            "the error that opened the breaker is kept as it was: {err:?}"
        );
        assert!(err.to_string().contains("HTTP 502: bad gateway"), "{err}");
        assert_eq!(inner.calls.load(Ordering::SeqCst), 3, "nothing sent once open");
    }

    #[tokio::test]
    async fn the_breaker_message_is_true_for_a_call_it_stopped_mid_retry_and_for_one_never_sent() {
        let config = ProviderConfig {
            retries: Some(3),
            circuit_breaker: Some(2),
            ..fast()
        };
        let (inner, r) = setup(vec![Err(http(502, "bad gateway", None)); 10], config);
        // The call's own two failures open the breaker: its third attempt is not sent.
        let err = r.call(&request()).await.unwrap_err();
        assert_eq!(inner.calls.load(Ordering::SeqCst), 2);
        assert!(matches!(err, ProviderError::BreakerOpen { attempts: 2, .. }), "{err:?}");
        let text = err.to_string();
        assert!(!text.contains("not called"), "{text}");
        assert!(
            text.contains("stopped after 2 attempts: the circuit breaker opened after 2 consecutive failed requests"),
            "{text}"
        );
        // A later call is never sent.
        let err = r.call(&request()).await.unwrap_err();
        assert!(matches!(err, ProviderError::BreakerOpen { attempts: 0, .. }), "{err:?}");
        assert!(
            err.to_string()
                .contains("not called: the circuit breaker opened after 2 consecutive failed requests"),
            "{err}"
        );
        assert_eq!(inner.calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_success_resets_the_breaker_and_429s_do_not_count() {
        let config = ProviderConfig {
            retries: Some(0),
            circuit_breaker: Some(2),
            ..fast()
        };
        let answers = vec![
            Err(http(500, "x", None)),
            Ok(ok()),
            Err(http(500, "x", None)),
            Err(http(429, "rate", Some(0))),
            Ok(ok()),
        ];
        let (_, r) = setup(answers, config);
        for _ in 0..5 {
            let _ = r.call(&request()).await;
        }
        assert!(r.check_breaker(0).is_ok());
    }

    #[tokio::test]
    async fn rpm_spaces_requests() {
        // 600 per minute = one every 100 ms after the first (burst of 600 is
        // governor's default, so use a quota whose burst is 1).
        let config = ProviderConfig { rpm: Some(1), ..fast() };
        let (_, r) = setup(vec![], config);
        r.call(&request()).await.unwrap();
        let second = tokio::time::timeout(Duration::from_millis(200), r.call(&request())).await;
        assert!(second.is_err(), "a second request within the minute must wait");
    }

    #[test]
    fn estimates_tokens_from_characters_and_the_output_limit() {
        let mut r = request();
        assert_eq!(estimate_tokens(&r), 3);
        r.settings.max_tokens = Some(100);
        assert_eq!(estimate_tokens(&r), 103);
    }
}
