//! (in progress)
use super::*;
/// placeholder
pub struct OllamaChat;
impl OllamaChat {
    /// placeholder
    pub fn new(_id: &str, _model: &str, _config: &ProviderConfig, _env: &Env, _client: reqwest::Client) -> Self { OllamaChat }
}
#[async_trait::async_trait]
impl Provider for OllamaChat {
    fn id(&self) -> &str { "" }
    async fn call(&self, _r: &ProviderRequest) -> Result<ProviderResponse, ProviderError> { Err(ProviderError::Transport { provider: String::new(), message: "in progress".into() }) }
}
