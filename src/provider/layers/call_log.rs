//! The call log: one row per answer of a live or recording run (sent, or
//! served by the response cache: its cost is then what the cache saved),
//! which `promptgate costs` reports from.

use serde::Serialize;

use super::{CallResponse, CallSite, ProviderCall, WarningSink};
use crate::provider::{ProviderError, ProviderRequest};

/// One call, as logged.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CallRecord {
    /// Suite name.
    pub suite: String,
    /// Prompt name.
    pub prompt: String,
    /// Prompt hash (12 hex characters).
    pub prompt_hash: String,
    /// Provider id.
    pub provider: String,
    /// Model.
    pub model: String,
    /// Input tokens.
    pub tokens_in: u64,
    /// Output tokens.
    pub tokens_out: u64,
    /// Input tokens read from the provider's prompt cache.
    pub tokens_cached: u64,
    /// Cost in USD, when the model has a price.
    pub cost_usd: Option<f64>,
    /// Provider latency, ms.
    pub latency_ms: u64,
    /// Answered by promptgate's response cache (no request sent).
    pub cached: bool,
}

/// Where calls are logged (the `calls` table of `cache::Store`).
pub trait CallLog: Sync {
    /// Why a row could not be written.
    type Error: std::fmt::Display;

    /// Appends one call.
    ///
    /// # Errors
    /// The row cannot be written (reported as a warning; the call stands).
    fn log_call(&self, record: &CallRecord) -> Result<(), Self::Error>;
}

/// Logs every answer of `inner`.
pub struct Logged<'a, C, L> {
    log: Option<&'a C>,
    provider_id: &'a str,
    warn: WarningSink<'a>,
    inner: L,
}

impl<'a, C, L> Logged<'a, C, L> {
    /// `inner`, its answers to `provider_id` logged in `log` (none: nothing
    /// is logged); rows that cannot be written go to `warn`.
    pub fn new(log: Option<&'a C>, provider_id: &'a str, warn: WarningSink<'a>, inner: L) -> Self {
        Logged {
            log,
            provider_id,
            warn,
            inner,
        }
    }
}

impl<C: CallLog, L: ProviderCall> ProviderCall for Logged<'_, C, L> {
    async fn call(&self, request: &ProviderRequest, site: &CallSite<'_>) -> Result<CallResponse, ProviderError> {
        let answer = self.inner.call(request, site).await?;
        if let Some(log) = self.log {
            let r = &answer.response;
            let record = CallRecord {
                suite: site.suite.to_string(),
                prompt: site.prompt.to_string(),
                prompt_hash: site.prompt_hash.to_string(),
                provider: self.provider_id.to_string(),
                model: request.model.clone(),
                tokens_in: r.tokens.input.unwrap_or(0),
                tokens_out: r.tokens.output.unwrap_or(0),
                tokens_cached: r.tokens.cached_input.unwrap_or(0),
                cost_usd: r.cost_usd,
                latency_ms: r.latency_ms,
                cached: r.from_cache,
            };
            if let Err(e) = log.log_call(&record) {
                (self.warn)(e.to_string());
            }
        }
        Ok(answer)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::super::testing::{block_on, request, Scripted};
    use super::super::Direct;
    use super::*;

    #[derive(Default)]
    struct Rows(Mutex<Vec<CallRecord>>, bool);
    impl CallLog for Rows {
        type Error = &'static str;
        fn log_call(&self, record: &CallRecord) -> Result<(), &'static str> {
            if self.1 {
                return Err("disk full");
            }
            self.0.lock().unwrap().push(record.clone());
            Ok(())
        }
    }

    #[test]
    fn every_answer_is_logged_with_its_call_site() {
        let provider = Scripted::default();
        let rows = Rows::default();
        let warn = |_: String| panic!("no warning expected");
        let stack = Logged::new(Some(&rows), "openai:chat:gpt-4o-mini", &warn, Direct(&provider));
        let site = CallSite {
            suite: "s",
            prompt: "p",
            prompt_hash: "abc",
            repeat: 0,
        };
        block_on(stack.call(&request("hi"), &site)).unwrap();
        let rows = rows.0.lock().unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(
            (
                rows[0].suite.as_str(),
                rows[0].prompt_hash.as_str(),
                rows[0].tokens_in,
                rows[0].cached
            ),
            ("s", "abc", 10, false)
        );
    }

    #[test]
    fn a_row_that_cannot_be_written_is_a_warning() {
        let provider = Scripted::default();
        let rows = Rows(Mutex::default(), true);
        let warnings = Mutex::new(Vec::new());
        let warn = |m: String| warnings.lock().unwrap().push(m);
        let stack = Logged::new(Some(&rows), "p", &warn, Direct(&provider));
        assert!(block_on(stack.call(&request("hi"), &CallSite::default())).is_ok());
        assert_eq!(*warnings.lock().unwrap(), ["disk full"]);
    }
}
