//! A provider as a suite names it: id, label and `config`.

use super::ProviderConfig;

/// A provider entry of a suite.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderSpec {
    /// The promptfoo-style id (`openai:chat:gpt-4o-mini`).
    pub id: String,
    /// Display label, when the suite gives one.
    pub label: Option<String>,
    /// The provider's `config`.
    pub config: ProviderConfig,
}

impl ProviderSpec {
    /// The label, else the id.
    pub fn display(&self) -> &str {
        self.label.as_deref().unwrap_or(&self.id)
    }
}
