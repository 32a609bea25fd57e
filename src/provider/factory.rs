//! Building a provider from its id, its suite `config` and the environment.

use std::path::Path;
use std::sync::Arc;

use super::{anthropic, echo, exec, ollama, openai, openai_embedding};
use super::{Env, Provider, ProviderConfig, ProviderIdError, ProviderKind};

/// Builds the provider for `id` with `config`.
///
/// `client` is shared by every HTTP provider of a run (one connection pool).
///
/// # Errors
/// [`ProviderIdError`]: an unknown or malformed id.
pub fn build(
    id: &str,
    config: &ProviderConfig,
    env: &Env,
    client: &reqwest::Client,
    work_dir: &Path,
) -> Result<Arc<dyn Provider>, ProviderIdError> {
    let kind = ProviderKind::parse(id)?;
    Ok(match kind {
        ProviderKind::OpenAiChat { model } => {
            Arc::new(openai::OpenAiChat::new(id, &model, config, env, client.clone()))
        }
        ProviderKind::OpenAiEmbedding { model } => Arc::new(openai_embedding::OpenAiEmbedding::new(
            id,
            &model,
            config,
            env,
            client.clone(),
        )),
        ProviderKind::AnthropicMessages { model } => Arc::new(anthropic::AnthropicMessages::new(
            id,
            &model,
            config,
            env,
            client.clone(),
        )),
        ProviderKind::OllamaChat { model } => {
            Arc::new(ollama::OllamaChat::new(id, &model, config, env, client.clone()))
        }
        ProviderKind::Echo => Arc::new(echo::Echo),
        ProviderKind::Exec { command } => Arc::new(exec::Exec::new(id, &command, config, work_dir)),
    })
}
