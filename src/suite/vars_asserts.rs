//! Vars and assertions of a test case, as written in a suite or a cases file.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Value as Json};
use serde_yaml::Value;

use super::context::FileCx;
use super::raw::RawAssertion;
use crate::assertion::{self, Assertion, AssertionSpec, TYPE_NAMES};
use crate::diagnostic::{display_path, nearest};
use crate::template::{is_template, Templates};
use crate::util::yaml_spans::YamlPath;

/// Converts vars to JSON, reading `file://` values relative to the file's folder.
pub(super) fn resolve_vars(
    cx: &mut FileCx<'_>,
    vars: Option<&BTreeMap<String, Value>>,
    at: &YamlPath,
) -> Map<String, Json> {
    let Some(vars) = vars else { return Map::new() };
    let mut out = Map::with_capacity(vars.len());
    for (k, v) in vars {
        let vp = at.key("vars").key(k);
        if matches!(
            k.as_str(),
            "assert" | "threshold" | "min_pass_rate" | "metadata" | "options" | "description"
        ) {
            // `assert:` indented under `vars:` would silently drop the assertions.
            cx.error_help(
                format!("`vars` has a key `{k}`, a test-case key"),
                &vp,
                format!("indent `{k}:` at the level of `vars:`, not inside it"),
            );
            continue;
        }
        if let Value::String(s) = v {
            if let Some(rel) = s.strip_prefix("file://") {
                let path = cx.dir.join(rel);
                match read_referenced(&path) {
                    Ok(text) => {
                        out.insert(k.clone(), Json::String(text));
                    }
                    Err(e) => {
                        let loc = cx.at(&vp);
                        let mut d = crate::diagnostic::Diagnostic::error(format!("var `{k}`: {e}"), Some(loc));
                        if let Some(h) = relative_path_hint(&cx.dir, rel) {
                            d = d.with_help(h);
                        }
                        cx.diags.push(d);
                    }
                }
                continue;
            }
        }
        match serde_json::to_value(v) {
            Ok(j) => {
                out.insert(k.clone(), j);
            }
            Err(e) => cx.error(format!("var `{k}` cannot be used: {e}"), &vp),
        }
    }
    out
}

/// A test's (or `defaultTest`'s) `options` that promptgate implements: the
/// grader providers and the `rubricPrompt`, inherited by every model-graded
/// assertion of the test that does not set its own.
#[derive(Debug, Clone, Default)]
pub(super) struct TestOptions {
    pub graders: crate::assertion::GraderProviders,
    pub rubric_prompt: Option<std::sync::Arc<crate::assertion::RubricPrompt>>,
}

impl TestOptions {
    /// Fills what `self` leaves unset from `fallback`.
    pub fn or(&self, fallback: &TestOptions) -> TestOptions {
        TestOptions {
            graders: self.graders.or(&fallback.graders),
            rubric_prompt: self.rubric_prompt.clone().or_else(|| fallback.rubric_prompt.clone()),
        }
    }

    /// Applies the options to the assertions that do not set their own.
    pub fn apply(&self, assertions: &mut [Assertion]) {
        for a in assertions.iter_mut().filter(|a| a.kind.is_model_graded()) {
            a.graders = a.graders.or(&self.graders);
            if a.rubric_prompt.is_none() {
                a.rubric_prompt = self.rubric_prompt.clone();
            }
        }
    }
}

/// Parses a test's `options` (at `at.options`).
pub(super) fn test_options(
    cx: &mut FileCx<'_>,
    options: Option<&super::raw::RawOptions>,
    at: &YamlPath,
    templates: &Templates,
) -> TestOptions {
    let mut out = TestOptions::default();
    let Some(o) = options else { return out };
    let p = at.key("options");
    if let Some(v) = &o.provider {
        if let Some(g) = super::refs::parse_grader_providers(cx, v, &p.key("provider")) {
            out.graders = g;
        }
    }
    if let Some(v) = &o.rubric_prompt {
        out.rubric_prompt =
            super::refs::parse_rubric_prompt(cx, v, &p.key("rubricPrompt"), templates).map(std::sync::Arc::new);
    }
    out
}

/// Builds and validates assertions (types, values, regexes, schemas).
pub(super) fn build_assertions(
    cx: &mut FileCx<'_>,
    raws: &[RawAssertion],
    at: &YamlPath,
    templates: &Templates,
) -> Vec<Assertion> {
    let mut out = Vec::with_capacity(raws.len());
    for (i, raw) in raws.iter().enumerate() {
        let p = at.key("assert").index(i);
        let line = cx.line(&p);
        if let Some(a) = build_assertion(cx, raw, &p, line, templates) {
            out.push(a);
        }
    }
    out
}

/// Builds one assertion. `p` locates it for messages.
pub(super) fn build_assertion(
    cx: &mut FileCx<'_>,
    raw: &RawAssertion,
    p: &YamlPath,
    line: Option<usize>,
    templates: &Templates,
) -> Option<Assertion> {
    // The same assertion written again in this file (every test of a big
    // suite checking the same thing) shares the spec built the first time.
    let key = format!("{raw:?}");
    if let Some(spec) = cx.specs.get(&key) {
        return Some(Assertion::shared(Arc::clone(spec), line));
    }
    // Only a spec built without any message is shared: one with a warning or
    // an error (an `apiKey` in its provider) must report it at each line.
    let messages_before = cx.diags.0.len();
    let (kind, negate) = match assertion::parse_type(&raw.kind) {
        Ok(t) => t,
        Err(msg) => {
            let base = raw.kind.trim_start_matches("not-");
            let help = match nearest(base, TYPE_NAMES.iter().copied()) {
                Some(n) if !assertion::PROMPTFOO_ONLY_TYPES.contains(&base) => {
                    format!("did you mean `{n}`? valid types: {}", TYPE_NAMES.join(", "))
                }
                _ => format!("valid types (each also as not-TYPE): {}", TYPE_NAMES.join(", ")),
            };
            cx.error_help(msg.to_string(), &p.key("type"), help);
            return None;
        }
    };
    let mut value = match &raw.value {
        Some(v) => match serde_json::to_value(v) {
            Ok(j) => Some(j),
            Err(e) => {
                cx.error(format!("assertion value cannot be used: {e}"), &p.key("value"));
                return None;
            }
        },
        None => None,
    };
    if let Some(Json::String(s)) = &value {
        if let Some(rel) = s.strip_prefix("file://") {
            let path = cx.dir.join(rel);
            match read_referenced(&path) {
                Ok(text) => {
                    let is_data = path
                        .extension()
                        .and_then(|e| e.to_str())
                        .is_some_and(|e| matches!(e, "json" | "yaml" | "yml"));
                    value = Some(if is_data {
                        match serde_yaml::from_str::<Value>(&text)
                            .ok()
                            .and_then(|v| serde_json::to_value(v).ok())
                        {
                            Some(j) => j,
                            None => {
                                cx.error(
                                    format!("{} is not valid JSON/YAML", display_path(&path).display()),
                                    &p.key("value"),
                                );
                                return None;
                            }
                        }
                    } else {
                        Json::String(text)
                    });
                }
                Err(e) => {
                    cx.error(e.to_string(), &p.key("value"));
                    return None;
                }
            }
        }
    }
    let templated = value.as_ref().is_some_and(has_template);
    if templated {
        if let Some(v) = &value {
            if let Err(e) = check_templates(v, templates) {
                cx.error(format!("assertion value is not a valid template: {e}"), &p.key("value"));
                return None;
            }
        }
    }
    let graders = match &raw.provider {
        Some(v) => super::refs::parse_grader_providers(cx, v, &p.key("provider"))?,
        None => Default::default(),
    };
    if kind == crate::assertion::AssertionType::Similar {
        if let Some(text) = &graders.text {
            cx.error_help(
                format!("`similar` compares embeddings: `{}` is a chat model", text.id),
                &p.key("provider"),
                "give an embedding model, e.g. provider: openai:embedding:text-embedding-3-small",
            );
            return None;
        }
    }
    let rubric_prompt = match &raw.rubric_prompt {
        Some(v) => Some(std::sync::Arc::new(super::refs::parse_rubric_prompt(
            cx,
            v,
            &p.key("rubricPrompt"),
            templates,
        )?)),
        None => None,
    };
    if !kind.is_model_graded() {
        for (key, set) in [
            ("provider", raw.provider.is_some()),
            ("rubricPrompt", raw.rubric_prompt.is_some()),
            ("contextVar", raw.context_var.is_some()),
        ] {
            if set {
                cx.error(
                    format!("`{key}` only applies to model-graded assertions, not `{}`", raw.kind),
                    &p.key(key),
                );
                return None;
            }
        }
    } else if raw.context_var.is_some() && !kind.needs_context() {
        cx.error(
            format!(
                "`contextVar` only applies to context-based assertions, not `{}`",
                raw.kind
            ),
            &p.key("contextVar"),
        );
        return None;
    }
    let mut a = AssertionSpec {
        kind,
        negate,
        value,
        templated,
        threshold: raw.threshold,
        weight: raw.weight.unwrap_or(1.0),
        metric: raw.metric.clone(),
        file: Some(cx.file.clone()),
        compiled: Default::default(),
        graders: graders.clone(),
        rubric_prompt: rubric_prompt.clone(),
        context_var: raw.context_var.clone(),
    };
    if let Err(msg) = a.prepare().map_err(|e| e.to_string()) {
        if raw.value.is_none() && cx.was_suggested(p, "value") {
            return None; // a misspelled `value:` key, already reported
        }
        let key = if msg.contains("threshold") {
            "threshold"
        } else if msg.contains("weight") {
            "weight"
        } else {
            "value"
        };
        let target = if raw.value.is_none() && key == "value" {
            p.clone()
        } else {
            p.key(key)
        };
        cx.error(msg, &target);
        return None;
    }
    let spec = Arc::new(a);
    if cx.diags.0.len() == messages_before {
        cx.specs.insert(key, Arc::clone(&spec));
    }
    Some(Assertion::shared(spec, line))
}

fn has_template(v: &Json) -> bool {
    match v {
        Json::String(s) => is_template(s),
        Json::Array(a) => a.iter().any(has_template),
        Json::Object(o) => o.values().any(has_template),
        _ => false,
    }
}

/// Checks that every template string inside `v` compiles.
fn check_templates(v: &Json, templates: &Templates) -> Result<(), crate::template::SyntaxError> {
    match v {
        Json::String(s) if is_template(s) => templates.check(s),
        Json::Array(a) => a.iter().try_for_each(|x| check_templates(x, templates)),
        Json::Object(o) => o.values().try_for_each(|x| check_templates(x, templates)),
        _ => Ok(()),
    }
}

/// A `file://` reference that cannot be read (missing, not UTF-8).
#[derive(Debug, thiserror::Error)]
enum UnreadableReference {
    /// The problem was found at a line of the file (a bad byte).
    #[error("{message} ({}:{line})", shown.display())]
    AtLine {
        /// What is wrong.
        message: String,
        /// The file, as shown.
        shown: std::path::PathBuf,
        /// 1-based line.
        line: usize,
    },
    /// The file as a whole (missing, unreadable).
    #[error("{}: {message}", shown.display())]
    File {
        /// What is wrong.
        message: String,
        /// The file, as shown.
        shown: std::path::PathBuf,
    },
}

/// Reads a `file://` reference (UTF-8, byte-order mark dropped); the error
/// names the file (and the line of a bad byte).
fn read_referenced(path: &std::path::Path) -> Result<String, UnreadableReference> {
    let shown = display_path(path);
    if let Some(kind) = super::context::not_regular(path) {
        return Err(UnreadableReference::File {
            message: format!("is {kind}; a `file://` reference must name a regular file"),
            shown,
        });
    }
    super::context::read_text(path, &shown, "file").map_err(|d| match d.location.and_then(|l| l.line) {
        Some(line) => UnreadableReference::AtLine {
            message: d.message,
            shown,
            line,
        },
        None => UnreadableReference::File {
            message: d.message,
            shown,
        },
    })
}

/// When `rel` is missing next to the referencing file but exists relative to
/// the working directory, says so: `file://` paths are relative to the file
/// that holds them.
pub(super) fn relative_path_hint(dir: &std::path::Path, rel: &str) -> Option<String> {
    (!dir.join(rel).exists() && std::path::Path::new(rel).exists()).then(|| {
        format!(
            "file:// paths are relative to the file that holds them ({}); `{rel}` exists relative to the working directory instead",
            display_path(dir).display()
        )
    })
}
