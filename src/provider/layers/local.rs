//! The local shortcut: a provider whose answers are computed locally
//! (`echo`, [`Provider::is_local`]) is called directly; nothing else of the
//! stack applies (no recording, cache, budget, price or call log), and no
//! request counts as sent (0 attempts).

use super::{CallResponse, CallSite, ProviderCall};
use crate::provider::{Provider, ProviderError, ProviderRequest, ProviderResponse};

/// Calls a local provider directly, everything else through `inner`.
pub struct Local<'a, L> {
    provider: &'a dyn Provider,
    inner: L,
}

impl<'a, L> Local<'a, L> {
    /// `inner`, bypassed when `provider` is local.
    pub fn new(provider: &'a dyn Provider, inner: L) -> Self {
        Local { provider, inner }
    }
}

impl<L: ProviderCall> ProviderCall for Local<'_, L> {
    async fn call(&self, request: &ProviderRequest, site: &CallSite<'_>) -> Result<CallResponse, ProviderError> {
        if !self.provider.is_local() {
            return self.inner.call(request, site).await;
        }
        // Computed here: no request is sent (0 attempts, as documented).
        let response = self.provider.call(request).await?;
        Ok(CallResponse {
            response: ProviderResponse {
                attempts: 0,
                ..response
            },
            replayed: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{block_on, request, Scripted};
    use super::*;

    /// A layer that must not be reached.
    struct Unreachable;
    impl ProviderCall for Unreachable {
        async fn call(&self, _: &ProviderRequest, _: &CallSite<'_>) -> Result<CallResponse, ProviderError> {
            panic!("the local shortcut called further in")
        }
    }

    #[test]
    fn a_local_provider_is_called_directly_with_no_attempts() {
        let provider = Scripted {
            local: true,
            ..Default::default()
        };
        let stack = Local::new(&provider, Unreachable);
        let r = block_on(stack.call(&request("hi"), &CallSite::default())).unwrap();
        assert_eq!((r.response.attempts, r.replayed), (0, false));
        assert_eq!(r.response.output, "answer to hi");
    }

    #[test]
    fn other_providers_go_through_the_stack() {
        let provider = Scripted::default();
        let stack = Local::new(&provider, super::super::Direct(&provider));
        let r = block_on(stack.call(&request("hi"), &CallSite::default())).unwrap();
        assert_eq!(r.response.attempts, 1);
        assert_eq!(provider.calls(), 1);
    }
}
