//! Layers around a provider call, each a wrapper of the one inside it, like
//! [`super::resilience::Resilient`]: replay/record, response cache, budget,
//! call log, pricing, and the local shortcut. The runner stacks them for
//! every call of a run (a case's own and a grader's), outermost first:
//!
//! ```text
//! Local ─▶ Recorded ─▶ Logged ─▶ Priced ─▶ Replayed ─▶ Cached ─▶ Budgeted ─▶ Direct (Resilient provider)
//! ```
//!
//! - [`local::Local`]: a local provider (`echo`) is called directly, nothing
//!   else applies (0 attempts).
//! - [`replay::Recorded`]: `--record`: stores every answer that comes back.
//! - [`call_log::Logged`]: appends every answer to the call log.
//! - [`pricing::Priced`]: prices every answer that has no cost yet.
//! - [`replay::Replayed`]: `--replay`: answers from the recordings and never
//!   calls further in.
//! - [`cache::Cached`]: answers from the response cache, stores fresh answers.
//! - [`budget::Budgeted`]: `--max-cost`: reserves an estimate before the
//!   call, settles the real cost after.
//!
//! A layer whose store is absent (no cache, live mode, no budget) passes the
//! call through. Layers borrow the run's shared state and are generic over
//! the layer inside, so composing a stack allocates nothing and a call
//! through it is statically dispatched: building one per call is free. The
//! stores they use (recordings, cache, call log) are traits here, implemented
//! by the higher-level modules that own them (`recording`, `cache`).

use std::future::Future;

use super::{Provider, ProviderError, ProviderRequest, ProviderResponse};

pub mod budget;
pub mod cache;
pub mod call_log;
pub mod local;
pub mod pricing;
pub mod replay;

/// Where a provider call comes from, for the response cache key, the
/// recording key and the call log.
#[derive(Debug, Clone, Copy, Default)]
pub struct CallSite<'a> {
    /// Suite name.
    pub suite: &'a str,
    /// Prompt name.
    pub prompt: &'a str,
    /// Prompt hash (12 hex characters).
    pub prompt_hash: &'a str,
    /// Repeat index (`--repeat`), part of the cache and recording keys.
    pub repeat: u32,
}

/// What a stack of layers returns: the response, and whether it was
/// answered from the recordings.
#[derive(Debug, Clone, PartialEq)]
pub struct CallResponse {
    /// The response (`from_cache` set when the response cache answered;
    /// `cost_usd` set when the model has a price).
    pub response: ProviderResponse,
    /// True when answered from the recordings (`--replay`).
    pub replayed: bool,
}

/// Where a layer reports what went wrong without failing the call (a cache
/// entry or call-log row that could not be written): one line, without the
/// `warning: ` prefix.
pub type WarningSink<'a> = &'a (dyn Fn(String) + Sync);

/// One provider call as the layers see it: a request from a call site, to
/// the provider at the bottom of the stack.
pub trait ProviderCall: Sync {
    /// Sends `request` (from `site`) through this layer and the ones inside it.
    ///
    /// # Errors
    /// The provider's error, or the layer's own ([`ProviderError::NotRecorded`],
    /// [`ProviderError::OverBudget`]).
    fn call(
        &self,
        request: &ProviderRequest,
        site: &CallSite<'_>,
    ) -> impl Future<Output = Result<CallResponse, ProviderError>> + Send;
}

/// The bottom of a stack: the provider itself (usually
/// [`super::resilience::Resilient`]).
#[derive(Clone, Copy)]
pub struct Direct<'a>(pub &'a dyn Provider);

impl ProviderCall for Direct<'_> {
    async fn call(&self, request: &ProviderRequest, _site: &CallSite<'_>) -> Result<CallResponse, ProviderError> {
        let response = self.0.call(request).await?;
        Ok(CallResponse {
            response,
            replayed: false,
        })
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! A scripted provider for the layers' tests.

    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Mutex;

    use super::*;
    use crate::provider::{Message, ModelSettings, TokenUsage};

    /// Answers `output` with 10 input and 5 output tokens (1 attempt), or
    /// `error` when set; counts its calls.
    #[derive(Default)]
    pub struct Scripted {
        pub calls: AtomicU32,
        pub error: Mutex<Option<ProviderError>>,
        pub local: bool,
    }

    #[async_trait::async_trait]
    impl Provider for Scripted {
        fn id(&self) -> &str {
            "openai:chat:gpt-4o-mini"
        }
        async fn call(&self, request: &ProviderRequest) -> Result<ProviderResponse, ProviderError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if let Some(e) = self.error.lock().unwrap().clone() {
                return Err(e);
            }
            Ok(ProviderResponse {
                output: format!("answer to {}", request.messages[0].content),
                latency_ms: 3,
                tokens: TokenUsage {
                    input: Some(10),
                    output: Some(5),
                    cached_input: None,
                },
                attempts: 1,
                ..Default::default()
            })
        }
        fn is_local(&self) -> bool {
            self.local
        }
    }

    impl Scripted {
        pub fn calls(&self) -> u32 {
            self.calls.load(Ordering::SeqCst)
        }
    }

    /// A deterministic request (temperature 0) for `gpt-4o-mini`.
    pub fn request(text: &str) -> ProviderRequest {
        ProviderRequest {
            model: "gpt-4o-mini".into(),
            messages: vec![Message::new("user", text)],
            settings: ModelSettings {
                temperature: Some(0.0),
                ..Default::default()
            },
        }
    }

    /// Runs a future to completion on a current-thread runtime.
    pub fn block_on<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }
}
