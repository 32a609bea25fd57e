//! Providers: the LLM APIs (and local stand-ins) that answer a rendered prompt.
//!
//! Ids are spelled as promptfoo spells them:
//!
//! | id | wire format |
//! |----|-------------|
//! | `openai:chat:MODEL`, alias `openai:MODEL` | OpenAI chat completions ([`openai`]) |
//! | `openai:embedding:MODEL`, alias `openai:embeddings:MODEL` | OpenAI embeddings, for graders ([`openai_embedding`]) |
//! | `anthropic:messages:MODEL` | Anthropic Messages API ([`anthropic`]) |
//! | `ollama:chat:MODEL` | Ollama `/api/chat` ([`ollama`]) |
//! | `echo` | returns the rendered prompt ([`echo`]) |
//! | `exec:COMMAND` | rendered prompt on stdin, output from stdout ([`exec`]) |
//!
//! Every provider turns a [`ProviderRequest`] into a [`ProviderResponse`] or a
//! [`ProviderError`]. API keys are read from environment variables when the
//! provider is built and are never put in an error, a log line or a file.
//!
//! The module holds one file per wire format and the pieces they share:
//! [`request`] (what is sent and received), [`error`], [`config`] (a suite's
//! provider `config` and the environment), [`kind`] (parsing ids) and
//! [`factory`] (building a provider from both).

pub mod anthropic;
pub mod config;
pub mod echo;
pub mod error;
pub mod exec;
pub mod factory;
mod http;
pub mod kind;
pub mod layers;
pub mod ollama;
pub mod openai;
pub mod openai_embedding;
pub mod pricing;
pub mod request;
pub mod resilience;
pub mod slot;
mod spec;

pub use config::{CachePolicy, Env, ProviderConfig};
pub use error::{ProviderError, INSUFFICIENT_QUOTA};
pub use factory::build;
pub use kind::{ProviderIdError, ProviderKind, SUPPORTED_IDS};
pub use request::{Message, ModelSettings, ProviderRequest, ProviderResponse, TokenUsage};
pub use spec::ProviderSpec;

/// A configured provider. Implementations are cheap to share (`Arc`).
#[async_trait::async_trait]
pub trait Provider: Send + Sync {
    /// The provider id, e.g. `openai:chat:gpt-4o-mini`.
    fn id(&self) -> &str;

    /// Sends one request and waits for the whole answer (no streaming).
    ///
    /// # Errors
    /// [`ProviderError`]: an infrastructure error (transport, HTTP status,
    /// malformed body, missing key, ...), never a verdict on the prompt.
    async fn call(&self, request: &ProviderRequest) -> Result<ProviderResponse, ProviderError>;

    /// Checks, before any call, that the provider can be called at all (an
    /// API key is present). Called once per run for every provider in use,
    /// except in replay mode.
    ///
    /// # Errors
    /// [`ProviderError::MissingApiKey`] naming the variable to set.
    fn check_ready(&self) -> Result<(), ProviderError> {
        Ok(())
    }

    /// True when answers are computed locally and deterministically
    /// (`echo`): such providers are neither recorded nor replayed.
    fn is_local(&self) -> bool {
        false
    }

    /// The URL requests are sent to (part of the response cache key), when
    /// the provider speaks HTTP.
    fn endpoint(&self) -> Option<&str> {
        None
    }

    /// The suite's `config` of this provider, when it was built from one
    /// (cache policy, prices).
    fn config(&self) -> Option<&ProviderConfig> {
        None
    }
}
