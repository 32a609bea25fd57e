//! (in progress)
use super::*;
/// placeholder
pub struct Exec;
impl Exec {
    /// placeholder
    pub fn new(_id: &str, _command: &str, _config: &ProviderConfig, _work_dir: &std::path::Path) -> Self { Exec }
}
#[async_trait::async_trait]
impl Provider for Exec {
    fn id(&self) -> &str { "" }
    async fn call(&self, _r: &ProviderRequest) -> Result<ProviderResponse, ProviderError> { Err(ProviderError::Transport { provider: String::new(), message: "in progress".into() }) }
}
