//! `echo`: answers with the rendered prompt. Local, instant, never recorded;
//! useful to test templates and assertions without a model.

use super::{Provider, ProviderError, ProviderRequest, ProviderResponse, TokenUsage};

/// The `echo` provider: answers [`ProviderRequest::as_text`], no wire format.
#[derive(Debug, Clone, Copy, Default)]
pub struct Echo;

#[async_trait::async_trait]
impl Provider for Echo {
    fn id(&self) -> &str {
        "echo"
    }

    async fn call(&self, request: &ProviderRequest) -> Result<ProviderResponse, ProviderError> {
        Ok(ProviderResponse {
            output: request.as_text(),
            latency_ms: 0,
            tokens: TokenUsage::default(),
            finish_reason: Some("stop".into()),
            cost_usd: None,
            ..Default::default()
        })
    }

    fn is_local(&self) -> bool {
        true
    }
}
