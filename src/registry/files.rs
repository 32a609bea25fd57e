//! Reading prompt files into new versions, checking prompt names, and who
//! is acting.

use std::path::Path;

use super::{NewVersion, RegistryError, Result};

/// Registers the prompt file at `path` as a version of `name`: the content
/// (byte-order mark dropped, as runs read it), its SHA-256, template
/// variables, token count and model settings.
///
/// # Errors
/// [`RegistryError::Invalid`] when the file cannot be read or is not a valid
/// prompt (the message names file and line).
pub fn new_version_from_file(name: &str, path: &Path, author: &str, notes: Option<&str>) -> Result<NewVersion> {
    let mut templates = crate::template::Templates::new();
    let prompt = crate::prompt::load_file(path, name, &mut templates)
        .map_err(|d| RegistryError::Invalid(d.to_string().trim_start_matches("error: ").to_string()))?;
    let mut variables: Vec<String> = match &prompt.body {
        crate::prompt::PromptBody::Text(id) => templates.variables(id).into_iter().collect(),
        crate::prompt::PromptBody::Chat(m) => m.iter().flat_map(|(_, id)| templates.variables(id)).collect(),
    };
    variables.sort();
    variables.dedup();
    let (token_count, tokenizer) = count_tokens(&prompt.content, prompt.model.as_deref());
    let settings = serde_json::to_value(&prompt.settings)
        .ok()
        .filter(|v| v.as_object().is_some_and(|o| !o.is_empty()));
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("txt")
        .to_ascii_lowercase();
    Ok(NewVersion {
        prompt: name.to_string(),
        content: prompt.content,
        sha256: prompt.sha256,
        file_ext: ext,
        variables,
        token_count,
        tokenizer,
        model: prompt.model,
        settings,
        author: author.to_string(),
        notes: notes.map(str::to_string),
    })
}

/// Tokens in `text` with tiktoken: the tokenizer of `model` when tiktoken
/// knows it, else `cl100k_base`. Returns (count, tokenizer name).
pub fn count_tokens(text: &str, model: Option<&str>) -> (u64, String) {
    use tiktoken_rs::tokenizer::{get_tokenizer, Tokenizer};
    let tok = model.and_then(get_tokenizer).unwrap_or(Tokenizer::Cl100kBase);
    let (tok, bpe) = match tiktoken_rs::bpe_for_tokenizer(tok) {
        Ok(b) => (tok, b),
        Err(_) => (Tokenizer::Cl100kBase, tiktoken_rs::cl100k_base_singleton()),
    };
    let name = match tok {
        Tokenizer::Cl100kBase => "cl100k_base".to_string(),
        Tokenizer::O200kBase => "o200k_base".to_string(),
        other => format!("{other:?}").to_lowercase(),
    };
    (bpe.encode_with_special_tokens(text).len() as u64, name)
}

/// Checks a prompt name for `registry add`: ASCII letters, digits, `_`, `-`
/// and `.`, starting with a letter or digit, and not ending in `.vN` (that
/// suffix marks a stored version file, `NAME.vN.ext`, in `prompts/`).
///
/// # Errors
/// [`RegistryError::Invalid`] saying what is wrong and what would be right.
pub fn validate_prompt_name(name: &str) -> Result<()> {
    let bad = |why: String| {
        Err(RegistryError::Invalid(format!(
            "`{name}` is not a prompt name: {why} (a name is letters, digits, `_`, `-` and `.`, e.g. rag_system)"
        )))
    };
    let Some(first) = name.chars().next() else {
        return bad("it is empty".into());
    };
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
    {
        return bad(format!("`{c}` is not allowed"));
    }
    if !first.is_ascii_alphanumeric() {
        return bad("it must start with a letter or a digit".into());
    }
    if let Some((stem, n)) = name.rsplit_once(".v") {
        if !stem.is_empty() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) {
            return bad(format!(
                "it ends in `.v{n}`, which marks version {n} of `{stem}` in prompts/; register the file as `{stem}`"
            ));
        }
    }
    Ok(())
}

/// Who is acting: `--author`, else `git config user.name`, else `$USER`,
/// else `unknown`.
pub fn actor(flag: Option<&str>) -> String {
    if let Some(a) = flag.map(str::trim).filter(|a| !a.is_empty()) {
        return a.to_string();
    }
    let git = std::process::Command::new("git")
        .args(["config", "user.name"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    git.or_else(|| std::env::var("USER").ok().filter(|u| !u.is_empty()))
        .unwrap_or_else(|| "unknown".to_string())
}
