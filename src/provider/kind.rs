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

impl ProviderKind {
    /// Parses a promptfoo-style provider id.
    ///
    /// # Errors
    /// A message naming the supported forms when the id is not one of them.
    pub fn parse(id: &str) -> Result<ProviderKind, String> {
        let id = id.trim();
        let nonempty = |m: &str| -> Result<String, String> {
            if m.is_empty() {
                Err(format!(
                    "provider id `{id}` names no model (expected e.g. `openai:chat:gpt-4o-mini`)"
                ))
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
                return Err("provider id `exec:` names no command (expected `exec:COMMAND`)".into());
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
            for unsupported in ["completion:", "assistant:", "image:", "responses:", "realtime:"] {
                if rest.starts_with(unsupported) {
                    return Err(format!(
                        "provider `{id}`: the OpenAI {} API is not supported; use `openai:chat:MODEL`",
                        unsupported.trim_end_matches(':')
                    ));
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
            return Err(format!("provider `{id}`: expected `anthropic:messages:MODEL`"));
        }
        if let Some(rest) = id.strip_prefix("ollama:") {
            if let Some(model) = rest.strip_prefix("chat:") {
                return Ok(ProviderKind::OllamaChat {
                    model: nonempty(model)?,
                });
            }
            return Err(format!(
                "provider `{id}`: expected `ollama:chat:MODEL` (the completion API is not supported)"
            ));
        }
        Err(format!("unknown provider id `{id}`"))
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
            .contains("unknown provider id"));
        assert!(ProviderKind::parse("openai:completion:x")
            .unwrap_err()
            .contains("not supported"));
        assert_eq!(
            ProviderKind::parse("openai:embedding:text-embedding-3-small"),
            Ok(ProviderKind::OpenAiEmbedding {
                model: "text-embedding-3-small".into()
            })
        );
        assert!(ProviderKind::parse("openai:chat:")
            .unwrap_err()
            .contains("names no model"));
        assert!(ProviderKind::parse("anthropic:claude").is_err());
        assert!(ProviderKind::parse("exec:").is_err());
    }
}
