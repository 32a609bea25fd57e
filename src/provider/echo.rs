//! `echo`: answers with the rendered prompt. Local, instant, never recorded;
//! useful to test templates and assertions without a model.

use super::{Provider, ProviderError, ProviderRequest, ProviderResponse};

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
            finish_reason: Some("stop".into()),
            ..Default::default()
        })
    }

    fn is_local(&self) -> bool {
        true
    }
}
