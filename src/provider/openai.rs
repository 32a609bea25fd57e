//! (in progress)
use super::*;
/// placeholder
pub struct OpenAiChat;
impl OpenAiChat {
    /// placeholder
    pub fn new(_id: &str, _model: &str, _config: &ProviderConfig, _env: &Env, _client: reqwest::Client) -> Self { OpenAiChat }
}
#[async_trait::async_trait]
impl Provider for OpenAiChat {
    fn id(&self) -> &str { "" }
    async fn call(&self, _r: &ProviderRequest) -> Result<ProviderResponse, ProviderError> { Err(ProviderError::Transport { provider: String::new(), message: "in progress".into() }) }
}
