//! [`ProviderKind`]: a promptfoo-style provider id, parsed.

/// The parsed form of a provider id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderKind {
    /// `openai:chat:MODEL` / `openai:MODEL`.
    OpenAiChat {
        /// Model name.
        model: String,
    },
    /// `openai:embedding:MODEL` / `openai:embeddings:MODEL`: embeddings, for
    /// `similar` and `answer-relevance`; never a provider under test.
    OpenAiEmbedding {
        /// Model name.
        model: String,
    },
    /// `anthropic:messages:MODEL`.
    AnthropicMessages {
        /// Model name.
        model: String,
    },
    /// `ollama:chat:MODEL`.
    OllamaChat {
        /// Model name.
        model: String,
    },
    /// `echo`.
    Echo,
    /// `exec:COMMAND`.
    Exec {
        /// Shell command line.
        command: String,
    },
}

/// The id forms promptgate understands, for error messages.
pub const SUPPORTED_IDS: &str =
    "openai:chat:MODEL, openai:MODEL, anthropic:messages:MODEL, ollama:chat:MODEL, echo, exec:COMMAND (graders also openai:embedding:MODEL)";

/// Why a provider id is not one promptgate understands. The ids are
/// promptfoo's (<https://www.promptfoo.dev/docs/providers/>); [`SUPPORTED_IDS`]
/// lists the forms accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderIdError {
    /// A form that needs a model (`openai:chat:`) names none.
    #[error("provider id `{id}` names no model (expected e.g. `openai:chat:gpt-4o-mini`)")]
    NoModel {
        /// The id, trimmed.
        id: String,
    },
    /// `exec:` names no command.
    #[error("provider id `exec:` names no command (expected `exec:COMMAND`)")]
    NoCommand,
    /// An OpenAI API other than chat completions and embeddings
    /// (`openai:completion:...`, `openai:responses:...`, ...).
    #[error("provider `{id}`: the OpenAI {api} API is not supported; use `openai:chat:MODEL`")]
    UnsupportedOpenAiApi {
        /// The id, trimmed.
        id: String,
        /// The API named (`completion`, `assistant`, `image`, `responses`, `realtime`).
        api: &'static str,
    },
    /// A known vendor prefix in a form that is not supported
    /// (`anthropic:claude`, `ollama:completion:llama3`).
    #[error("provider `{id}`: expected {expected}")]
    UnsupportedForm {
        /// The id, trimmed.
        id: String,
        /// The form expected for this vendor, in backticks, with a note.
        expected: &'static str,
    },
    /// No provider of that name.
    #[error("unknown provider id `{id}`")]
    Unknown {
        /// The id, trimmed.
        id: String,
    },
}

impl ProviderKind {
    /// Parses a promptfoo-style provider id (surrounding whitespace ignored).
    ///
    /// # Errors
    /// [`ProviderIdError`] when the id is not one of [`SUPPORTED_IDS`].
    pub fn parse(id: &str) -> Result<ProviderKind, ProviderIdError> {
        let id = id.trim();
        let nonempty = |m: &str| -> Result<String, ProviderIdError> {
            if m.is_empty() {
                Err(ProviderIdError::NoModel { id: id.to_string() })
            } else {
                Ok(m.to_string())
            }
        };
        if id == "echo" {
            return Ok(ProviderKind::Echo);
        }
        if let Some(cmd) = id.strip_prefix("exec:") {
            let cmd = cmd.trim();
            if cmd.is_empty() {
                return Err(ProviderIdError::NoCommand);
            }
            return Ok(ProviderKind::Exec {
                command: cmd.to_string(),
            });
        }
        if let Some(rest) = id.strip_prefix("openai:") {
            if let Some(model) = rest.strip_prefix("chat:") {
                return Ok(ProviderKind::OpenAiChat {
                    model: nonempty(model)?,
                });
            }
            for prefix in ["embedding:", "embeddings:"] {
                if let Some(model) = rest.strip_prefix(prefix) {
                    return Ok(ProviderKind::OpenAiEmbedding {
                        model: nonempty(model)?,
                    });
                }
            }
            for api in ["completion", "assistant", "image", "responses", "realtime"] {
                if rest.strip_prefix(api).is_some_and(|r| r.starts_with(':')) {
                    return Err(ProviderIdError::UnsupportedOpenAiApi {
                        id: id.to_string(),
                        api,
                    });
                }
            }
            return Ok(ProviderKind::OpenAiChat { model: nonempty(rest)? });
        }
        if let Some(rest) = id.strip_prefix("anthropic:") {
            if let Some(model) = rest.strip_prefix("messages:") {
                return Ok(ProviderKind::AnthropicMessages {
                    model: nonempty(model)?,
                });
            }
            return Err(ProviderIdError::UnsupportedForm {
                id: id.to_string(),
                expected: "`anthropic:messages:MODEL`",
            });
        }
        if let Some(rest) = id.strip_prefix("ollama:") {
            if let Some(model) = rest.strip_prefix("chat:") {
                return Ok(ProviderKind::OllamaChat {
                    model: nonempty(model)?,
                });
            }
            return Err(ProviderIdError::UnsupportedForm {
                id: id.to_string(),
                expected: "`ollama:chat:MODEL` (the completion API is not supported)",
            });
        }
        Err(ProviderIdError::Unknown { id: id.to_string() })
    }

    /// The model named in the id, if any.
    pub fn model(&self) -> Option<&str> {
        match self {
            ProviderKind::OpenAiChat { model }
            | ProviderKind::OpenAiEmbedding { model }
            | ProviderKind::AnthropicMessages { model }
            | ProviderKind::OllamaChat { model } => Some(model),
            ProviderKind::Echo | ProviderKind::Exec { .. } => None,
        }
    }
}

impl std::str::FromStr for ProviderKind {
    type Err = ProviderIdError;

    /// [`ProviderKind::parse`].
    fn from_str(id: &str) -> Result<Self, Self::Err> {
        ProviderKind::parse(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_promptfoo_ids() {
        assert_eq!(
            ProviderKind::parse("openai:chat:gpt-4o-mini"),
            Ok(ProviderKind::OpenAiChat {
                model: "gpt-4o-mini".into()
            })
        );
        assert_eq!(
            ProviderKind::parse("openai:gpt-4o"),
            Ok(ProviderKind::OpenAiChat { model: "gpt-4o".into() })
        );
        assert_eq!(
            ProviderKind::parse("anthropic:messages:claude-sonnet-4-5"),
            Ok(ProviderKind::AnthropicMessages {
                model: "claude-sonnet-4-5".into()
            })
        );
        assert_eq!(
            ProviderKind::parse("ollama:chat:llama3.2"),
            Ok(ProviderKind::OllamaChat {
                model: "llama3.2".into()
            })
        );
        assert_eq!(ProviderKind::parse("echo"), Ok(ProviderKind::Echo));
        assert_eq!(
            ProviderKind::parse("exec: python3 x.py"),
            Ok(ProviderKind::Exec {
                command: "python3 x.py".into()
            })
        );
    }

    #[test]
    fn rejects_unknown_and_unsupported_ids() {
        assert!(ProviderKind::parse("bedrock:foo")
            .unwrap_err()
            .to_string()
            .contains("unknown provider id"));
        assert!(ProviderKind::parse("openai:completion:x")
            .unwrap_err()
            .to_string()
            .contains("not supported"));
        assert_eq!(
            ProviderKind::parse("openai:embedding:text-embedding-3-small"),
            Ok(ProviderKind::OpenAiEmbedding {
                model: "text-embedding-3-small".into()
            })
        );
        assert!(ProviderKind::parse("openai:chat:")
            .unwrap_err()
            .to_string()
            .contains("names no model"));
        assert!(ProviderKind::parse("anthropic:claude").is_err());
        assert!(ProviderKind::parse("exec:").is_err());
    }

    #[test]
    fn id_errors_read_as_before() {
        let text = |id: &str| ProviderKind::parse(id).unwrap_err().to_string();
        assert_eq!(
            text(" openai:chat: "),
            "provider id `openai:chat:` names no model (expected e.g. `openai:chat:gpt-4o-mini`)"
        );
        assert_eq!(
            text("exec:  "),
            "provider id `exec:` names no command (expected `exec:COMMAND`)"
        );
        assert_eq!(
            text("openai:responses:gpt-4o"),
            "provider `openai:responses:gpt-4o`: the OpenAI responses API is not supported; use `openai:chat:MODEL`"
        );
        assert_eq!(
            text("anthropic:claude"),
            "provider `anthropic:claude`: expected `anthropic:messages:MODEL`"
        );
        assert_eq!(
            text("ollama:llama3"),
            "provider `ollama:llama3`: expected `ollama:chat:MODEL` (the completion API is not supported)"
        );
        assert_eq!(text("bedrock:x"), "unknown provider id `bedrock:x`");
        assert_eq!("echo".parse::<ProviderKind>(), Ok(ProviderKind::Echo));
        assert_eq!(
            ProviderKind::parse("openai:image:dall-e"),
            Err(ProviderIdError::UnsupportedOpenAiApi {
                id: "openai:image:dall-e".into(),
                api: "image"
            })
        );
    }
}
