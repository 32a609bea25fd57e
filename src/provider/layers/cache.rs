//! The response cache: a cacheable request (see [`CachePolicy`]) is answered
//! from the cache when it holds the answer (no request sent: 0 attempts,
//! `from_cache` set); otherwise the answer that comes back from further in
//! is stored, without its cost (a hit is priced with the prices of the run
//! that reads it). Errors are never stored.

use super::replay::request_key;
use super::{CallResponse, CallSite, ProviderCall, WarningSink};
use crate::provider::{CachePolicy, ProviderError, ProviderRequest, ProviderResponse};

/// The key of a request in the cache: SHA-256 (hex) of the canonical JSON of
/// `{provider, endpoint, request: {model, messages, settings}, repeat}`.
/// Every setting is part of it; so is the repeat index (`--repeat N` makes N
/// independent calls, each cached on its own).
pub fn cache_key(provider_id: &str, endpoint: Option<&str>, request: &ProviderRequest, repeat: u32) -> String {
    let request_hash = request_key(provider_id, request);
    crate::util::sha256_hex(format!("{request_hash}\u{0}{}\u{0}{repeat}", endpoint.unwrap_or("")).as_bytes())
}

/// True when the request should produce the same answer every time:
/// temperature 0, or a seed.
pub fn is_deterministic(request: &ProviderRequest) -> bool {
    request.settings.temperature == Some(0.0) || request.settings.seed.is_some()
}

/// Where answers are cached (the `responses` table of `cache::Store`).
pub trait ResponseCache: Sync {
    /// Why an answer could not be stored.
    type Error: std::fmt::Display;

    /// The stored answer for `key`, if there is one still valid.
    fn get(&self, key: &str) -> Option<ProviderResponse>;

    /// Stores `response` under `key`.
    ///
    /// # Errors
    /// The answer cannot be stored (reported as a warning; the call stands).
    fn put(&self, key: &str, provider: &str, model: &str, response: &ProviderResponse) -> Result<(), Self::Error>;
}

/// Answers from, and stores into, a response cache.
pub struct Cached<'a, C, L> {
    cache: Option<&'a C>,
    provider_id: &'a str,
    endpoint: Option<&'a str>,
    policy: CachePolicy,
    warn: WarningSink<'a>,
    inner: L,
}

impl<'a, C, L> Cached<'a, C, L> {
    /// `inner` behind `cache` (none, e.g. `--no-cache`: neither read nor
    /// written) for the provider `provider_id` at `endpoint` with its
    /// `policy`; answers that cannot be stored go to `warn`.
    pub fn new(
        cache: Option<&'a C>,
        provider_id: &'a str,
        endpoint: Option<&'a str>,
        policy: CachePolicy,
        warn: WarningSink<'a>,
        inner: L,
    ) -> Self {
        Cached {
            cache,
            provider_id,
            endpoint,
            policy,
            warn,
            inner,
        }
    }
}

impl<C: ResponseCache, L: ProviderCall> ProviderCall for Cached<'_, C, L> {
    async fn call(&self, request: &ProviderRequest, site: &CallSite<'_>) -> Result<CallResponse, ProviderError> {
        let cacheable = match self.policy {
            CachePolicy::Always => true,
            CachePolicy::Never => false,
            CachePolicy::Deterministic => is_deterministic(request),
        };
        let (Some(cache), true) = (self.cache, cacheable) else {
            return self.inner.call(request, site).await;
        };
        let key = cache_key(self.provider_id, self.endpoint, request, site.repeat);
        if let Some(mut hit) = cache.get(&key) {
            hit.from_cache = true;
            hit.attempts = 0;
            return Ok(CallResponse {
                response: hit,
                replayed: false,
            });
        }
        let answer = self.inner.call(request, site).await?;
        let stored = ProviderResponse {
            cost_usd: None,
            ..answer.response.clone()
        };
        if let Err(e) = cache.put(&key, self.provider_id, &request.model, &stored) {
            (self.warn)(e.to_string());
        }
        Ok(answer)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use super::super::testing::{block_on, request, Scripted};
    use super::super::Direct;
    use super::*;
    use crate::provider::{Message, ModelSettings};

    #[derive(Default)]
    struct Memory(Mutex<HashMap<String, ProviderResponse>>);
    impl ResponseCache for Memory {
        type Error = String;
        fn get(&self, key: &str) -> Option<ProviderResponse> {
            self.0.lock().unwrap().get(key).cloned()
        }
        fn put(&self, key: &str, _: &str, _: &str, response: &ProviderResponse) -> Result<(), String> {
            self.0.lock().unwrap().insert(key.to_string(), response.clone());
            Ok(())
        }
    }

    fn no_warning(_: String) {
        panic!("no warning expected")
    }

    #[test]
    fn a_second_call_is_a_hit_with_no_attempts() {
        let provider = Scripted::default();
        let cache = Memory::default();
        let stack = Cached::new(
            Some(&cache),
            "p",
            None,
            CachePolicy::Deterministic,
            &no_warning,
            Direct(&provider),
        );
        let first = block_on(stack.call(&request("hi"), &CallSite::default())).unwrap();
        assert!(!first.response.from_cache);
        let second = block_on(stack.call(&request("hi"), &CallSite::default())).unwrap();
        assert_eq!((second.response.from_cache, second.response.attempts), (true, 0));
        assert_eq!(second.response.output, first.response.output);
        assert_eq!(provider.calls(), 1);
        // Another repeat is another call.
        let other = CallSite {
            repeat: 1,
            ..Default::default()
        };
        block_on(stack.call(&request("hi"), &other)).unwrap();
        assert_eq!(provider.calls(), 2);
    }

    #[test]
    fn sampled_requests_are_cached_only_when_the_policy_says_always() {
        let provider = Scripted::default();
        let cache = Memory::default();
        let mut sampled = request("hi");
        sampled.settings.temperature = Some(0.7);
        let stack = Cached::new(
            Some(&cache),
            "p",
            None,
            CachePolicy::Deterministic,
            &no_warning,
            Direct(&provider),
        );
        block_on(stack.call(&sampled, &CallSite::default())).unwrap();
        assert!(cache.0.lock().unwrap().is_empty());
        let always = Cached::new(
            Some(&cache),
            "p",
            None,
            CachePolicy::Always,
            &no_warning,
            Direct(&provider),
        );
        block_on(always.call(&sampled, &CallSite::default())).unwrap();
        assert_eq!(cache.0.lock().unwrap().len(), 1);
    }

    fn settings_request(temperature: Option<f64>) -> ProviderRequest {
        ProviderRequest {
            model: "m".into(),
            messages: vec![Message::new("user", "hi")],
            settings: ModelSettings {
                temperature,
                ..Default::default()
            },
        }
    }

    #[test]
    fn keys_cover_endpoint_settings_and_repeat() {
        let r = settings_request(Some(0.0));
        let k = cache_key("openai:chat:m", Some("http://a/v1"), &r, 0);
        assert_eq!(k, cache_key("openai:chat:m", Some("http://a/v1"), &r, 0));
        assert_ne!(k, cache_key("openai:chat:m", Some("http://b/v1"), &r, 0));
        assert_ne!(k, cache_key("openai:chat:m", Some("http://a/v1"), &r, 1));
        assert_ne!(
            k,
            cache_key("openai:chat:m", Some("http://a/v1"), &settings_request(Some(0.5)), 0)
        );
        assert_ne!(k, cache_key("openai:chat:other", Some("http://a/v1"), &r, 0));
    }

    #[test]
    fn only_temperature_zero_or_a_seed_is_deterministic() {
        assert!(is_deterministic(&settings_request(Some(0.0))));
        assert!(!is_deterministic(&settings_request(Some(0.7))));
        assert!(!is_deterministic(&settings_request(None)));
        let mut seeded = settings_request(None);
        seeded.settings.seed = Some(1);
        assert!(is_deterministic(&seeded));
    }
}
