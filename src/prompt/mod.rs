//! Prompts: the text under test.
//!
//! A prompt is a file in `prompts/` referenced by name (`rag_system` →
//! `prompts/rag_system.txt|.md|.j2|.yaml|.yml`), a file referenced by path
//! (`file://prompts/x.txt`), or inline text in the suite. A file named
//! `NAME.vN.ext` is version N of prompt NAME, never a prompt of its own.
//!
//! * Text prompts (`.txt`, `.md`, `.j2`, inline) are one minijinja template
//!   rendered into a single `user` message (promptfoo's rule).
//! * YAML prompts hold `messages` (a list of `{role, content}`, each content a
//!   template) or `template` (one text template), model settings (`model`,
//!   `temperature`, `max_tokens`, `top_p`, `seed`, `stop`, `response_format`)
//!   and free `changelog` / `description` / `metadata`.
//!
//! Every prompt carries the SHA-256 of its exact content; reports show the
//! first 12 hex characters (`rag_system@1a2b3c4d5e6f`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::util::{sha256_hex, strip_location};
use serde::Deserialize;

use crate::diagnostic::{display_path, nearest, Diagnostic, Location};
use crate::provider::{Message, ModelSettings};
use crate::template::{TemplateId, Templates};
use crate::util::yaml_spans::{YamlLocations, YamlPath};

/// File extensions looked up for a prompt referenced by name, in order.
pub const PROMPT_EXTENSIONS: &[&str] = &["txt", "md", "j2", "yaml", "yml", "json"];

/// How a prompt's messages are built.
#[derive(Debug, Clone)]
pub enum PromptBody {
    /// One template, sent as a single `user` message.
    Text(TemplateId),
    /// Chat messages, each with a role and a content template.
    Chat(Vec<(String, TemplateId)>),
}

/// A loaded prompt.
#[derive(Debug, Clone)]
pub struct Prompt {
    /// The prompt's name (file stem without `.vN`, or the suite's label).
    pub name: String,
    /// The file it came from; `None` for inline prompts.
    pub file: Option<PathBuf>,
    /// The exact content (the file's text, or the inline text).
    pub content: String,
    /// Full SHA-256 of `content`, lowercase hex (64 characters).
    pub sha256: String,
    /// How messages are built.
    pub body: PromptBody,
    /// Model named by a YAML prompt (used when the provider id names none).
    pub model: Option<String>,
    /// Settings from a YAML prompt (the suite's provider config overrides them).
    pub settings: ModelSettings,
}

impl Prompt {
    /// The first 12 hex characters of the SHA-256 of the content.
    pub fn short_hash(&self) -> &str {
        &self.sha256[..12]
    }

    /// `name@hash`.
    pub fn label(&self) -> String {
        format!("{}@{}", self.name, self.short_hash())
    }

    /// Renders the messages with `vars`.
    ///
    /// # Errors
    /// An undefined variable (named) or a render error.
    pub fn render(
        &self,
        templates: &Templates,
        vars: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Vec<Message>, crate::template::TemplateError> {
        match &self.body {
            PromptBody::Text(id) => Ok(vec![Message::new("user", templates.render(id, vars)?)]),
            PromptBody::Chat(msgs) => msgs
                .iter()
                .map(|(role, id)| Ok(Message::new(role.clone(), templates.render(id, vars)?)))
                .collect(),
        }
    }
}

/// The prompt name for a file: its stem without a `.vN` version suffix
/// (`rag_system.v2.txt` → `rag_system`).
pub fn name_from_path(path: &Path) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    match version_suffix(&stem) {
        Some((base, _)) => base.to_string(),
        None => stem,
    }
}

/// Splits `rag_system.v2` into (`rag_system`, 2).
pub fn version_suffix(stem: &str) -> Option<(&str, u32)> {
    let (base, v) = stem.rsplit_once(".v")?;
    let n = v.parse::<u32>().ok()?;
    (!base.is_empty()).then_some((base, n))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct YamlPromptFile {
    #[serde(default)]
    messages: Option<Vec<YamlMessage>>,
    #[serde(default)]
    template: Option<String>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    temperature: Option<f64>,
    #[serde(default)]
    max_tokens: Option<u32>,
    #[serde(default)]
    max_completion_tokens: Option<u32>,
    #[serde(default)]
    top_p: Option<f64>,
    #[serde(default)]
    seed: Option<i64>,
    #[serde(default)]
    stop: Option<Vec<String>>,
    #[serde(default)]
    response_format: Option<serde_json::Value>,
    #[serde(default)]
    #[allow(dead_code)]
    changelog: Option<serde_yaml::Value>,
    #[serde(default)]
    #[allow(dead_code)]
    description: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    metadata: Option<serde_yaml::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct YamlMessage {
    role: String,
    content: String,
}

const YAML_PROMPT_KEYS: &[&str] = &[
    "messages",
    "template",
    "model",
    "temperature",
    "max_tokens",
    "max_completion_tokens",
    "top_p",
    "seed",
    "stop",
    "response_format",
    "changelog",
    "description",
    "metadata",
];

/// Loads a prompt file. `name` is the name to give it.
///
/// # Errors
/// A diagnostic naming the file (and line) when the file cannot be read, is
/// not UTF-8, is malformed YAML, has unknown keys, or a template does not compile.
pub fn load_file(path: &Path, name: &str, templates: &mut Templates) -> Result<Prompt, Diagnostic> {
    let shown = display_path(path);
    let bytes = std::fs::read(path)
        .map_err(|e| Diagnostic::error(format!("cannot read prompt file: {e}"), Some(Location::file(&shown))))?;
    let mut content = String::from_utf8(bytes).map_err(|e| {
        let before = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = before.iter().filter(|b| **b == b'\n').count() + 1;
        Diagnostic::error(
            "prompt file is not UTF-8 text",
            Some(Location {
                file: shown.clone(),
                line: Some(line),
                col: None,
            }),
        )
        .with_help("save it as UTF-8")
    })?;
    // A byte-order mark is an editor artefact, not part of the prompt.
    if let Some(rest) = content.strip_prefix('\u{feff}') {
        content = rest.to_string();
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    if ext == "yaml" || ext == "yml" {
        load_yaml(&content, &shown, name, templates)
    } else if ext == "json" {
        load_json_chat(&content, &shown, name, templates)
    } else {
        let id = compile(templates, &content, &shown, 1)?;
        Ok(Prompt {
            name: name.to_string(),
            file: Some(shown),
            sha256: sha256_hex(content.as_bytes()),
            content,
            body: PromptBody::Text(id),
            model: None,
            settings: ModelSettings::default(),
        })
    }
}

/// An inline prompt (text written in the suite).
///
/// # Errors
/// The template does not compile; `at` locates the text in the suite.
pub fn inline(text: &str, name: Option<&str>, templates: &mut Templates, at: &Location) -> Result<Prompt, Diagnostic> {
    let sha = sha256_hex(text.as_bytes());
    let id = templates.add(text).map_err(|e| {
        Diagnostic::error(
            format!("inline prompt is not a valid template: {}", e.message),
            Some(at.clone()),
        )
    })?;
    Ok(Prompt {
        name: name
            .map(str::to_string)
            .unwrap_or_else(|| format!("inline-{}", &sha[..8])),
        file: None,
        sha256: sha,
        content: text.to_string(),
        body: PromptBody::Text(id),
        model: None,
        settings: ModelSettings::default(),
    })
}

/// Compiles `source`, whose first line is line `first_line` of `file`.
fn compile(templates: &mut Templates, source: &str, file: &Path, first_line: usize) -> Result<TemplateId, Diagnostic> {
    templates.add(source).map_err(|e| {
        let loc = match e.line {
            Some(l) => Location {
                file: file.to_path_buf(),
                line: Some(first_line + l.saturating_sub(1)),
                col: None,
            },
            None => Location::file(file),
        };
        Diagnostic::error(format!("prompt template does not compile: {}", e.message), Some(loc))
    })
}

fn load_yaml(content: &str, file: &Path, name: &str, templates: &mut Templates) -> Result<Prompt, Diagnostic> {
    use crate::util::yaml_depth::{check_depth, MAX_YAML_DEPTH};
    if let Err(e) = check_depth(content, MAX_YAML_DEPTH) {
        return Err(Diagnostic::error(
            format!("invalid YAML prompt: {e}"),
            Some(Location::at(file, e.line, 1)),
        ));
    }
    let locs = YamlLocations::index(content);
    let at = |path: &YamlPath| {
        let (line, col) = locs.key(path).unwrap_or((1, 1));
        Location::at(file, line, col)
    };
    let parsed: YamlPromptFile = serde_yaml::from_str(content).map_err(|e| {
        let loc = e
            .location()
            .map(|l| Location::at(file, l.line(), l.column()))
            .unwrap_or_else(|| Location::file(file));
        let msg = e.to_string();
        let mut d = Diagnostic::error(format!("invalid YAML prompt: {}", strip_location(&msg)), Some(loc));
        if let Some(key) = unknown_field(&msg) {
            if let Some(n) = nearest(&key, YAML_PROMPT_KEYS.iter().copied()) {
                d = d.with_help(format!("did you mean `{n}`?"));
            } else {
                d = d.with_help(format!("valid keys: {}", YAML_PROMPT_KEYS.join(", ")));
            }
        }
        d
    })?;
    let body = match (parsed.messages, parsed.template) {
        (Some(_), Some(_)) => {
            return Err(Diagnostic::error(
                "a YAML prompt holds either `messages` or `template`, not both",
                Some(at(&YamlPath::root().key("template"))),
            ))
        }
        (None, None) => {
            return Err(Diagnostic::error(
                "a YAML prompt needs `messages` (a list of {role, content}) or `template` (text)",
                Some(Location::file(file)),
            ))
        }
        (None, Some(t)) => {
            let line = first_text_line(content, locs.node(&YamlPath::root().key("template")));
            PromptBody::Text(compile(templates, &t, file, line)?)
        }
        (Some(msgs), None) => {
            if msgs.is_empty() {
                return Err(Diagnostic::error(
                    "`messages` is empty",
                    Some(at(&YamlPath::root().key("messages"))),
                ));
            }
            let mut out = Vec::new();
            for (i, m) in msgs.into_iter().enumerate() {
                let p = YamlPath::root().key("messages").index(i);
                if !matches!(m.role.as_str(), "system" | "user" | "assistant") {
                    return Err(Diagnostic::error(
                        format!("unknown message role `{}`", m.role),
                        Some(at(&p.key("role"))),
                    )
                    .with_help("roles are system, user and assistant"));
                }
                let line = first_text_line(content, locs.node(&p.key("content")));
                out.push((m.role, compile(templates, &m.content, file, line)?));
            }
            PromptBody::Chat(out)
        }
    };
    Ok(Prompt {
        name: name.to_string(),
        file: Some(file.to_path_buf()),
        sha256: sha256_hex(content.as_bytes()),
        content: content.to_string(),
        body,
        model: parsed.model,
        settings: ModelSettings {
            temperature: parsed.temperature,
            max_tokens: parsed.max_tokens,
            max_completion_tokens: parsed.max_completion_tokens,
            top_p: parsed.top_p,
            seed: parsed.seed,
            stop: parsed.stop,
            response_format: parsed.response_format,
        },
    })
}

/// The file line holding the first line of a YAML scalar's text: the line
/// after a block scalar's `|` / `>` indicator, else the scalar's own line.
fn first_text_line(text: &str, pos: Option<(usize, usize)>) -> usize {
    let Some((line, col)) = pos else { return 1 };
    let at = text
        .lines()
        .nth(line.saturating_sub(1))
        .and_then(|l| l.chars().nth(col.saturating_sub(1)));
    if matches!(at, Some('|' | '>')) {
        line + 1
    } else {
        line
    }
}

/// A `.json` prompt: a list of `{role, content}` chat messages (promptfoo's
/// chat format), each content a template.
fn load_json_chat(content: &str, file: &Path, name: &str, templates: &mut Templates) -> Result<Prompt, Diagnostic> {
    let messages: Vec<YamlMessage> = serde_json::from_str(content).map_err(|e| {
        Diagnostic::error(
            format!("invalid JSON prompt: {}", strip_location(&e.to_string())),
            Some(Location::at(file, e.line(), e.column())),
        )
        .with_help(r#"a JSON prompt is a list of chat messages: [{"role": "system", "content": "..."}, ...]"#)
    })?;
    if messages.is_empty() {
        return Err(Diagnostic::error(
            "the JSON prompt holds no messages",
            Some(Location::file(file)),
        ));
    }
    let mut out = Vec::new();
    for m in messages {
        if !matches!(m.role.as_str(), "system" | "user" | "assistant") {
            return Err(
                Diagnostic::error(format!("unknown message role `{}`", m.role), Some(Location::file(file)))
                    .with_help("roles are system, user and assistant"),
            );
        }
        let id = compile(templates, &m.content, file, 1)?;
        out.push((m.role, id));
    }
    Ok(Prompt {
        name: name.to_string(),
        file: Some(file.to_path_buf()),
        sha256: sha256_hex(content.as_bytes()),
        content: content.to_string(),
        body: PromptBody::Chat(out),
        model: None,
        settings: ModelSettings::default(),
    })
}

/// serde's "unknown field `x`, expected ..." → `x`.
fn unknown_field(msg: &str) -> Option<String> {
    let rest = msg.split("unknown field `").nth(1)?;
    Some(rest.split('`').next()?.to_string())
}

/// Finds and loads prompts by name from the prompts folder, with
/// `--prompt NAME=PATH` overrides, loading each file once.
#[derive(Debug)]
pub struct PromptCatalog {
    dir: PathBuf,
    overrides: BTreeMap<String, PathBuf>,
    used_overrides: std::collections::BTreeSet<String>,
    loaded: BTreeMap<(String, PathBuf), Arc<Prompt>>,
}

impl PromptCatalog {
    /// A catalog over `dir` with candidate overrides (`NAME` → file).
    pub fn new(dir: impl Into<PathBuf>, overrides: BTreeMap<String, PathBuf>) -> Self {
        PromptCatalog {
            dir: dir.into(),
            overrides,
            used_overrides: Default::default(),
            loaded: BTreeMap::new(),
        }
    }

    /// The prompts folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Names given with `--prompt` that no suite used.
    pub fn unused_overrides(&self) -> Vec<String> {
        self.overrides
            .keys()
            .filter(|k| !self.used_overrides.contains(*k))
            .cloned()
            .collect()
    }

    /// Names of the prompts in the folder (version files excluded).
    pub fn available(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.is_file()
                    && p.extension()
                        .and_then(|e| e.to_str())
                        .is_some_and(|e| PROMPT_EXTENSIONS.contains(&e))
                    && p.file_stem()
                        .and_then(|s| s.to_str())
                        .is_some_and(|s| version_suffix(s).is_none())
            })
            .filter_map(|p| p.file_stem().and_then(|s| s.to_str()).map(str::to_string))
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// The file for prompt `name` in the folder, if one exists.
    pub fn find(&self, name: &str) -> Option<PathBuf> {
        PROMPT_EXTENSIONS
            .iter()
            .map(|ext| self.dir.join(format!("{name}.{ext}")))
            .find(|p| p.is_file())
    }

    /// Loads `path` as prompt `name`, or the `--prompt` candidate for `name`
    /// when one was given.
    ///
    /// # Errors
    /// As [`load_file`].
    pub fn load(&mut self, name: &str, path: &Path, templates: &mut Templates) -> Result<Arc<Prompt>, Diagnostic> {
        let path = match self.overrides.get(name) {
            Some(candidate) => {
                self.used_overrides.insert(name.to_string());
                candidate.clone()
            }
            None => path.to_path_buf(),
        };
        let key = (name.to_string(), path.clone());
        if let Some(p) = self.loaded.get(&key) {
            return Ok(p.clone());
        }
        let prompt = Arc::new(load_file(&path, name, templates)?);
        self.loaded.insert(key, prompt.clone());
        Ok(prompt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn version_files_belong_to_their_prompt() {
        assert_eq!(name_from_path(Path::new("prompts/rag_system.v2.txt")), "rag_system");
        assert_eq!(name_from_path(Path::new("prompts/rag_system.txt")), "rag_system");
        assert_eq!(name_from_path(Path::new("prompts/a.vx.txt")), "a.vx");
        assert_eq!(version_suffix("rag_system.v12"), Some(("rag_system", 12)));
    }

    #[test]
    fn text_prompt_is_one_user_message_with_its_hash() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("greet.txt");
        std::fs::write(&p, "Hi {{ name }}").unwrap();
        let mut t = Templates::new();
        let prompt = load_file(&p, "greet", &mut t).unwrap();
        assert_eq!(prompt.sha256, sha256_hex(b"Hi {{ name }}"));
        assert_eq!(prompt.short_hash().len(), 12);
        let msgs = prompt.render(&t, json!({"name": "Ada"}).as_object().unwrap()).unwrap();
        assert_eq!(msgs, vec![Message::new("user", "Hi Ada")]);
    }

    #[test]
    fn yaml_prompt_has_messages_and_settings() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("chat.yaml");
        std::fs::write(
            &p,
            "model: gpt-4o-mini\ntemperature: 0.2\nmax_tokens: 50\nchangelog: first\nmessages:\n  - role: system\n    content: Be brief.\n  - role: user\n    content: \"{{ q }}\"\n",
        )
        .unwrap();
        let mut t = Templates::new();
        let prompt = load_file(&p, "chat", &mut t).unwrap();
        assert_eq!(prompt.model.as_deref(), Some("gpt-4o-mini"));
        assert_eq!(prompt.settings.temperature, Some(0.2));
        let msgs = prompt.render(&t, json!({"q": "why?"}).as_object().unwrap()).unwrap();
        assert_eq!(
            msgs,
            vec![Message::new("system", "Be brief."), Message::new("user", "why?")]
        );
    }

    #[test]
    fn yaml_prompt_typo_is_an_error_with_line_and_hint() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.yaml");
        std::fs::write(&p, "template: hi\ntemprature: 0\n").unwrap();
        let err = load_file(&p, "bad", &mut Templates::new()).unwrap_err();
        assert_eq!(err.location.as_ref().and_then(|l| l.line), Some(2));
        assert_eq!(err.help.as_deref(), Some("did you mean `temperature`?"));
    }

    #[test]
    fn yaml_template_errors_point_at_the_file_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.yaml");
        std::fs::write(&p, "messages:\n  - role: user\n    content: |\n      {{ q\n").unwrap();
        let err = load_file(&p, "c", &mut Templates::new()).unwrap_err();
        assert_eq!(err.location.as_ref().and_then(|l| l.line), Some(4), "{err}");
        std::fs::write(&p, "template: \"{{ q\"\n").unwrap();
        let err = load_file(&p, "c", &mut Templates::new()).unwrap_err();
        assert_eq!(err.location.as_ref().and_then(|l| l.line), Some(1), "{err}");
    }

    #[test]
    fn json_prompt_is_chat_messages_and_bom_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("chat.json");
        std::fs::write(&p, "\u{feff}[{\"role\": \"system\", \"content\": \"Be brief.\"}, {\"role\": \"user\", \"content\": \"{{ q }}\"}]").unwrap();
        let mut t = Templates::new();
        let prompt = load_file(&p, "chat", &mut t).unwrap();
        assert!(!prompt.content.starts_with('\u{feff}'));
        let msgs = prompt.render(&t, json!({"q": "why?"}).as_object().unwrap()).unwrap();
        assert_eq!(
            msgs,
            vec![Message::new("system", "Be brief."), Message::new("user", "why?")]
        );
        std::fs::write(&p, "{\"not\": \"a list\"}").unwrap();
        assert!(load_file(&p, "chat", &mut Templates::new()).is_err());
    }

    #[test]
    fn template_syntax_error_names_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.txt");
        std::fs::write(&p, "ok\nstill ok\n{{ broken\n").unwrap();
        let err = load_file(&p, "bad", &mut Templates::new()).unwrap_err();
        assert_eq!(err.location.as_ref().and_then(|l| l.line), Some(3));
    }

    #[test]
    fn catalog_finds_by_name_and_applies_overrides() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), "A").unwrap();
        std::fs::write(dir.path().join("a.v2.txt"), "A2").unwrap();
        let mut overrides = BTreeMap::new();
        overrides.insert("a".to_string(), dir.path().join("a.v2.txt"));
        let mut cat = PromptCatalog::new(dir.path(), overrides);
        assert_eq!(cat.available(), vec!["a"]);
        let found = cat.find("a").unwrap();
        let p = cat.load("a", &found, &mut Templates::new()).unwrap();
        assert_eq!(p.content, "A2");
        assert_eq!(p.name, "a");
        assert!(cat.unused_overrides().is_empty());
    }
}
