//! The prompts and providers a suite references.

use std::path::PathBuf;
use std::sync::Arc;

use serde_yaml::Value;

use super::context::FileCx;
use super::raw::{kind_of, RawPrompt, RawProvider, Section};
use super::ProviderSpec;
use crate::diagnostic::{nearest, Diagnostic};
use crate::prompt::{self, Prompt, PromptCatalog};
use crate::provider::{ProviderKind, SUPPORTED_IDS};
use crate::template::Templates;
use crate::util::yaml_spans::YamlPath;

/// The suite's `prompts`, loaded and compiled; `None` after an error.
pub(super) fn load_prompts(
    cx: &mut FileCx<'_>,
    value: Option<&Value>,
    catalog: &mut PromptCatalog,
    templates: &mut Templates,
) -> Option<Vec<Arc<Prompt>>> {
    let base = YamlPath::root().key("prompts");
    let items = list_of(
        cx,
        value,
        "prompts",
        "add `prompts: [NAME]` naming a file in prompts/, a `file://` path, or inline text",
    )?;
    let mut out = Vec::new();
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        let p = base.index(i);
        let (reference, label) = match item {
            Value::String(s) => (s.clone(), None),
            Value::Mapping(_) => match cx.deserialize::<RawPrompt>(item, &p, Section::Prompt) {
                Some(RawPrompt {
                    id: Some(id),
                    raw: None,
                    label,
                }) => (id, label),
                Some(RawPrompt {
                    id: None,
                    raw: Some(raw),
                    label,
                }) => {
                    let at = cx.at(&p);
                    match prompt::inline(&raw, label.as_deref(), templates, &at) {
                        Ok(pr) => out.push(Arc::new(pr)),
                        Err(d) => {
                            cx.diags.push(d);
                            ok = false;
                        }
                    }
                    continue;
                }
                Some(_) => {
                    cx.error(
                        "a prompt object needs exactly one of `id` (a name or file://path) and `raw` (inline text)",
                        &p,
                    );
                    ok = false;
                    continue;
                }
                None => {
                    ok = false;
                    continue;
                }
            },
            other => {
                cx.error(
                    format!(
                        "a prompt is a name, a file:// path or inline text, found {}",
                        kind_of(other)
                    ),
                    &p,
                );
                ok = false;
                continue;
            }
        };
        match resolve_prompt(cx, &reference, label.as_deref(), &p, catalog, templates) {
            Some(pr) => out.push(pr),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// A required top-level list (`prompts`, `providers`); a single string counts
/// as a one-item list. Reports a missing or empty list with `help`.
fn list_of(cx: &mut FileCx<'_>, value: Option<&Value>, key: &str, help: &str) -> Option<Vec<Value>> {
    match value {
        None => {
            if !cx.was_suggested(&YamlPath::root(), key) {
                cx.error_help(format!("the suite has no `{key}`"), &YamlPath::root(), help);
            }
            None
        }
        Some(Value::Sequence(items)) if items.is_empty() => {
            cx.error_help(format!("`{key}` is empty"), &YamlPath::root().key(key), help);
            None
        }
        Some(Value::Sequence(items)) => Some(items.clone()),
        Some(Value::String(s)) => Some(vec![Value::String(s.clone())]),
        Some(other) => {
            cx.error(
                format!("`{key}` must be a non-empty list, found {}", kind_of(other)),
                &YamlPath::root().key(key),
            );
            None
        }
    }
}

fn looks_like_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

fn resolve_prompt(
    cx: &mut FileCx<'_>,
    reference: &str,
    label: Option<&str>,
    at: &YamlPath,
    catalog: &mut PromptCatalog,
    templates: &mut Templates,
) -> Option<Arc<Prompt>> {
    let loc = cx.at(at);
    if let Some(rel) = reference.strip_prefix("file://") {
        let candidates = [cx.dir.join(rel), PathBuf::from(rel)];
        let Some(path) = candidates.iter().find(|p| p.is_file()).cloned() else {
            cx.diags.push(
                Diagnostic::error(format!("prompt file not found: {reference}"), Some(loc)).with_help(format!(
                    "looked for {} and {}",
                    candidates[0].display(),
                    candidates[1].display()
                )),
            );
            return None;
        };
        let name = label
            .map(str::to_string)
            .unwrap_or_else(|| prompt::name_from_path(&path));
        return match catalog.load(&name, &path, templates) {
            Ok(p) => Some(p),
            Err(d) => {
                cx.diags.push(d);
                None
            }
        };
    }
    if let Some((base, n)) = prompt::version_suffix(reference).filter(|_| looks_like_name(reference)) {
        cx.diags.push(
            Diagnostic::error(format!("`{reference}` is version {n} of prompt `{base}`, not a prompt of its own"), Some(loc))
                .with_help(format!(
                    "reference `{base}` and run the candidate with `--prompt {base}=PATH`, or write `file://PATH` to test that file under the name `{base}`"
                )),
        );
        return None;
    }
    // `greeter.txt`: a file name in the prompts folder (or a typo of one),
    // never the inline text "greeter.txt".
    let with_ext = std::path::Path::new(reference)
        .extension()
        .and_then(|e| e.to_str())
        .filter(|e| prompt::PROMPT_EXTENSIONS.contains(e))
        .is_some();
    if looks_like_name(reference) && with_ext {
        let in_dir = catalog.dir().join(reference);
        if in_dir.is_file() {
            let name = label
                .map(str::to_string)
                .unwrap_or_else(|| prompt::name_from_path(&in_dir));
            return match catalog.load(&name, &in_dir, templates) {
                Ok(p) => Some(p),
                Err(d) => {
                    cx.diags.push(d);
                    None
                }
            };
        }
        let stem = prompt::name_from_path(std::path::Path::new(reference));
        cx.diags.push(
            Diagnostic::error(format!("prompt file `{reference}` not found in {}", shown_dir(catalog.dir())), Some(loc))
                .with_help(format!(
                    "name a prompt without its extension (`{stem}`), or give a path as `file://PATH` (relative to the suite)"
                )),
        );
        return None;
    }
    if looks_like_name(reference) {
        if let Some(path) = catalog.find(reference) {
            let name = label.unwrap_or(reference).to_string();
            return match catalog.load(&name, &path, templates) {
                Ok(p) => Some(p),
                Err(d) => {
                    cx.diags.push(d);
                    None
                }
            };
        }
        if !reference.contains('.') || prompt::version_suffix(reference).is_some() {
            let available = catalog.available();
            let exts = prompt::PROMPT_EXTENSIONS
                .iter()
                .map(|e| format!("{reference}.{e}"))
                .collect::<Vec<_>>()
                .join(", ");
            let looked = format!("looked in {} for {exts}", shown_dir(catalog.dir()));
            let help = match nearest(reference, available.iter().map(String::as_str)) {
                Some(n) => format!("did you mean `{n}`? {looked}"),
                None if !available.is_empty() => format!("{looked}; prompts there: {}", available.join(", ")),
                None => looked,
            } + "; the prompts folder is relative to where promptgate runs (see --prompts-dir)";
            cx.diags
                .push(Diagnostic::error(format!("prompt `{reference}` not found"), Some(loc)).with_help(help));
            return None;
        }
    }
    match prompt::inline(reference, label, templates, &loc) {
        Ok(p) => Some(Arc::new(p)),
        Err(d) => {
            cx.diags.push(d);
            None
        }
    }
}

/// The suite's `providers`, validated; `None` after an error.
pub(super) fn load_providers(cx: &mut FileCx<'_>, value: Option<&Value>) -> Option<Vec<ProviderSpec>> {
    let base = YamlPath::root().key("providers");
    let items = list_of(
        cx,
        value,
        "providers",
        &format!("add `providers: [ID]`; ids: {SUPPORTED_IDS}"),
    )?;
    let mut out = Vec::new();
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        let p = base.index(i);
        let Some((spec, kind)) = parse_provider(cx, item, &p) else {
            ok = false;
            continue;
        };
        if matches!(kind, ProviderKind::OpenAiEmbedding { .. }) {
            let idp = if matches!(item, Value::Mapping(_)) {
                p.key("id")
            } else {
                p.clone()
            };
            cx.error_help(
                format!("`{}` is an embedding model: it grades (`similar`, `answer-relevance`) but cannot answer a prompt", spec.id),
                &idp,
                "put it under `defaultTest.options.provider.embedding` (or an assertion's `provider`), and list a chat provider here",
            );
            ok = false;
            continue;
        }
        if matches!(kind, ProviderKind::AnthropicMessages { .. }) {
            // The Messages API has neither; say so instead of dropping them silently.
            for (key, set) in [
                ("seed", spec.config.settings.seed.is_some()),
                ("response_format", spec.config.settings.response_format.is_some()),
            ] {
                if set {
                    let loc = cx.key_at(&p.key("config").key(key));
                    cx.diags.push(Diagnostic::warning(
                        format!("`{key}` is not part of the Anthropic Messages API; it is not sent"),
                        Some(loc),
                    ));
                }
            }
        }
        if let Some(n) = spec
            .config
            .retries
            .filter(|n| *n > crate::provider::resilience::MAX_RETRIES)
        {
            cx.error(
                format!(
                    "`retries` must be at most {}, got {n}",
                    crate::provider::resilience::MAX_RETRIES
                ),
                &p.key("config").key("retries"),
            );
            ok = false;
            continue;
        }
        if let Some(n) = spec
            .config
            .max_concurrency
            .filter(|n| !(1..=crate::settings::MAX_JOBS).contains(n))
        {
            cx.error(
                format!(
                    "`max_concurrency` must be between 1 and {}, got {n}",
                    crate::settings::MAX_JOBS
                ),
                &p.key("config").key("max_concurrency"),
            );
            ok = false;
            continue;
        }
        out.push(spec);
    }
    ok.then_some(out)
}

/// One provider entry (an id, or a mapping with `id`, `label`, `config`),
/// parsed and its id checked; errors are reported at `p`.
pub(super) fn parse_provider(cx: &mut FileCx<'_>, item: &Value, p: &YamlPath) -> Option<(ProviderSpec, ProviderKind)> {
    let spec = match item {
        Value::String(id) => ProviderSpec {
            id: id.clone(),
            label: None,
            config: Default::default(),
        },
        Value::Mapping(_) => {
            let r = cx.deserialize::<RawProvider>(item, p, Section::Provider)?;
            ProviderSpec {
                id: r.id,
                label: r.label,
                config: r.config.unwrap_or_default(),
            }
        }
        other => {
            cx.error(
                format!("a provider is an id or a mapping with `id`, found {}", kind_of(other)),
                p,
            );
            return None;
        }
    };
    match ProviderKind::parse(&spec.id) {
        Ok(k) => Some((spec, k)),
        Err(msg) => {
            let idp = if matches!(item, Value::Mapping(_)) {
                p.key("id")
            } else {
                p.clone()
            };
            cx.error_help(msg.to_string(), &idp, format!("supported ids: {SUPPORTED_IDS}"));
            None
        }
    }
}

/// A grader `provider` (assertion or test `options`): an id, a mapping with
/// `id`, or promptfoo's `{text: ..., embedding: ...}`. An embedding model
/// given alone is taken as the embedding grader.
pub(super) fn parse_grader_providers(
    cx: &mut FileCx<'_>,
    value: &Value,
    p: &YamlPath,
) -> Option<crate::assertion::GraderProviders> {
    let mut out = crate::assertion::GraderProviders::default();
    if matches!(value, Value::Null) {
        cx.error_help(
            "`provider` is empty",
            p,
            "name the grader, e.g. provider: openai:chat:gpt-4o-mini, or remove the key",
        );
        return None;
    }
    let split = matches!(value, Value::Mapping(m) if !m.contains_key("id")
        && m.keys().all(|k| matches!(k.as_str(), Some("text" | "embedding"))) && !m.is_empty());
    if split {
        let Value::Mapping(m) = value else { return None };
        for (k, v) in m {
            let key = k.as_str().unwrap_or_default();
            let (spec, kind) = parse_provider(cx, v, &p.key(key))?;
            let is_embedding = matches!(kind, ProviderKind::OpenAiEmbedding { .. });
            if (key == "embedding") != is_embedding {
                let want = if key == "embedding" {
                    "an embedding model (e.g. openai:embedding:text-embedding-3-small)"
                } else {
                    "a chat model (e.g. openai:chat:gpt-4o-mini)"
                };
                cx.error(format!("`{key}` grader `{}` must be {want}", spec.id), &p.key(key));
                return None;
            }
            if is_embedding {
                out.embedding = Some(Box::new(spec));
            } else {
                out.text = Some(Box::new(spec));
            }
        }
        return Some(out);
    }
    if let Value::Mapping(m) = value {
        if !m.contains_key("id") {
            cx.error_help(
                "a grader `provider` is an id, a mapping with `id`, or `{text: ..., embedding: ...}`",
                p,
                "e.g. provider: openai:chat:gpt-4o-mini, or provider: {id: openai:chat:gpt-4o-mini, config: {temperature: 0}}",
            );
            return None;
        }
    }
    let (spec, kind) = parse_provider(cx, value, p)?;
    if matches!(kind, ProviderKind::OpenAiEmbedding { .. }) {
        out.embedding = Some(Box::new(spec));
    } else {
        out.text = Some(Box::new(spec));
    }
    Some(out)
}

/// A `rubricPrompt`: a template string, or a list of `{role, content}` messages.
pub(super) fn parse_rubric_prompt(
    cx: &mut FileCx<'_>,
    value: &Value,
    p: &YamlPath,
    templates: &crate::template::Templates,
) -> Option<crate::assertion::RubricPrompt> {
    use crate::assertion::RubricPrompt;
    use crate::provider::Message;
    let rp = match value {
        Value::String(s) => RubricPrompt::Text(s.clone()),
        Value::Sequence(items) => {
            let mut msgs = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let role = item.get("role").and_then(Value::as_str);
                let content = item.get("content").and_then(Value::as_str);
                if let Value::Mapping(m) = item {
                    if let Some(k) = m.keys().find(|k| !matches!(k.as_str(), Some("role" | "content"))) {
                        let k = k.as_str().unwrap_or("?");
                        cx.error(
                            format!("unknown key `{k}` in a `rubricPrompt` message (valid keys: role, content)"),
                            &p.index(i).key(k),
                        );
                        return None;
                    }
                }
                match (role, content) {
                    (Some(r @ ("system" | "user" | "assistant")), Some(c)) => msgs.push(Message::new(r, c)),
                    _ => {
                        cx.error_help(
                            "a `rubricPrompt` message needs `role` (system, user or assistant) and `content` (text)",
                            &p.index(i),
                            "e.g. - {role: user, content: \"Grade {{ output }} against: {{ rubric }}\"}",
                        );
                        return None;
                    }
                }
            }
            if msgs.is_empty() {
                cx.error("`rubricPrompt` is an empty list", p);
                return None;
            }
            RubricPrompt::Messages(msgs)
        }
        other => {
            cx.error(
                format!(
                    "`rubricPrompt` is a template string or a list of messages, found {}",
                    kind_of(other)
                ),
                p,
            );
            return None;
        }
    };
    let blank = match &rp {
        RubricPrompt::Text(t) => t.trim().is_empty(),
        RubricPrompt::Messages(ms) => ms.iter().all(|m| m.content.trim().is_empty()),
    };
    if blank {
        cx.error("`rubricPrompt` is empty: the grader would be asked nothing", p);
        return None;
    }
    let texts: Vec<&str> = match &rp {
        RubricPrompt::Text(t) => vec![t.as_str()],
        RubricPrompt::Messages(ms) => ms.iter().map(|m| m.content.as_str()).collect(),
    };
    for t in texts {
        if let Err(e) = templates.check(t) {
            cx.error(format!("`rubricPrompt` is not a valid template: {}", e.message), p);
            return None;
        }
    }
    Some(rp)
}

/// A folder as shown in messages: `prompts/` relative to the working directory,
/// with the working directory named when the folder does not exist.
fn shown_dir(dir: &std::path::Path) -> String {
    if dir.is_dir() {
        return format!("{}/", dir.display());
    }
    match std::env::current_dir() {
        Ok(cwd) => format!("{}/ (no such folder under {})", dir.display(), cwd.display()),
        Err(_) => format!("{}/", dir.display()),
    }
}
