//! Loading and validating suite files.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value as Json};
use serde_yaml::Value;

use super::raw::{kind_of, RawAssertion, RawPrompt, RawProvider, RawSuite, RawTest, Section};
use super::{cases, slug, ProviderSpec, Suite, TestCase};
use crate::assertion::{self, Assertion, TYPE_NAMES};
use crate::diagnostic::{display_path, nearest, Diagnostic, Diagnostics, Location};
use crate::prompt::{self, Prompt, PromptCatalog};
use crate::provider::{ProviderKind, SUPPORTED_IDS};
use crate::template::{is_template, Templates};
use crate::yaml_loc::{Seg, YamlLocations, YamlPath};

/// Where prompts are found and which candidates replace them.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// The prompts folder (default `prompts`).
    pub prompts_dir: PathBuf,
    /// `--prompt NAME=PATH`: candidate files replacing prompt NAME.
    pub prompt_overrides: BTreeMap<String, PathBuf>,
}

/// Everything a run needs from the input files.
#[derive(Debug)]
pub struct Project {
    /// The suites, in file order.
    pub suites: Vec<Suite>,
    /// Every compiled template (prompts).
    pub templates: Templates,
    /// Warnings (promptfoo keys ignored, tests without assertions, ...).
    pub warnings: Vec<Diagnostic>,
}

/// The suite files under `paths`: files as given, folders searched
/// recursively for `*.yaml` / `*.yml`, sorted.
///
/// # Errors
/// A path that does not exist, or no suite file at all.
pub fn discover(paths: &[PathBuf]) -> Result<Vec<(PathBuf, bool)>, Diagnostics> {
    let mut out = Vec::new();
    let mut diags = Diagnostics::default();
    for p in paths {
        if p.is_dir() {
            let mut found = Vec::new();
            walk(p, &mut found);
            found.sort();
            out.extend(found.into_iter().map(|f| (f, false)));
        } else if p.is_file() {
            out.push((p.clone(), true));
        } else {
            diags.push(
                Diagnostic::error(format!("no such file or folder: {}", p.display()), None)
                    .with_help("give suite files or folders holding *.yaml suites, e.g. `promptgate test suites/`"),
            );
        }
    }
    if diags.has_errors() {
        return Err(diags);
    }
    if out.is_empty() {
        let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        return Err(Diagnostic::error(format!("no suite files (*.yaml, *.yml) in {}", shown.join(", ")), None).into());
    }
    Ok(out)
}

/// Collects `*.yaml` / `*.yml` below `dir`. Symlinked folders are not
/// followed (a link to a parent would loop); unreadable folders are skipped
/// with a warning.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            eprintln!(
                "warning: {}: cannot read folder: {e}; skipped",
                display_path(dir).display()
            );
            return;
        }
    };
    for e in entries.flatten() {
        let p = e.path();
        let is_link = e.file_type().is_ok_and(|t| t.is_symlink());
        if p.is_dir() {
            if !is_link {
                walk(&p, out);
            }
        } else if p
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e == "yaml" || e == "yml")
        {
            out.push(p);
        }
    }
}

/// Loads and validates every suite under `paths`.
///
/// # Errors
/// Every error found (all files are checked before giving up), each with
/// file, line and column where one exists.
pub fn load(paths: &[PathBuf], opts: &LoadOptions) -> Result<Project, Diagnostics> {
    let files = discover(paths)?;
    let mut diags = Diagnostics::default();
    let mut templates = Templates::new();
    let mut catalog = PromptCatalog::new(opts.prompts_dir.clone(), opts.prompt_overrides.clone());
    let mut suites: Vec<Suite> = Vec::new();
    let mut names = BTreeSet::new();
    for (file, explicit) in files {
        let shown = display_path(&file);
        if let Some(mut suite) = load_one(&file, &shown, explicit, &mut catalog, &mut templates, &mut diags) {
            let mut name = suite.name.clone();
            if names.contains(&name) {
                name = shown
                    .with_extension("")
                    .to_string_lossy()
                    .replace(std::path::MAIN_SEPARATOR, "/");
            }
            names.insert(name.clone());
            suite.name = name;
            suites.push(suite);
        }
    }
    for unused in catalog.unused_overrides() {
        let used: BTreeSet<String> = suites
            .iter()
            .flat_map(|s| s.prompts.iter().map(|p| p.name.clone()))
            .collect();
        let mut d = Diagnostic::error(
            format!("--prompt {unused}=...: no suite uses a prompt named `{unused}`"),
            None,
        );
        let list: Vec<&str> = used.iter().map(String::as_str).collect();
        d = match nearest(&unused, list.iter().copied()) {
            Some(n) => d.with_help(format!("did you mean `{n}`? (prompts used: {})", list.join(", "))),
            None => d.with_help(format!("prompts used by the suites: {}", list.join(", "))),
        };
        diags.push(d);
    }
    if diags.has_errors() {
        return Err(diags);
    }
    if suites.is_empty() {
        return Err(Diagnostic::error(
            "no suites to run (every YAML file found is a list of test cases, not a suite)",
            None,
        )
        .into());
    }
    Ok(Project {
        suites,
        templates,
        warnings: diags.warnings().cloned().collect(),
    })
}

/// Per-file loading context: positions and diagnostics.
pub(super) struct FileCx<'a> {
    pub file: PathBuf,
    pub dir: PathBuf,
    pub locs: YamlLocations,
    pub diags: &'a mut Diagnostics,
    /// Fixed line for every position (JSONL: the line of the record).
    pub fixed_line: Option<usize>,
}

impl FileCx<'_> {
    pub fn at(&self, path: &YamlPath) -> Location {
        if let Some(line) = self.fixed_line {
            return Location {
                file: self.file.clone(),
                line: Some(line),
                col: None,
            };
        }
        match self.locs.node(path) {
            Some((l, c)) => Location::at(&self.file, l, c),
            None => Location::file(&self.file),
        }
    }

    pub fn key_at(&self, path: &YamlPath) -> Location {
        if let Some(line) = self.fixed_line {
            return Location {
                file: self.file.clone(),
                line: Some(line),
                col: None,
            };
        }
        match self.locs.key(path) {
            Some((l, c)) => Location::at(&self.file, l, c),
            None => Location::file(&self.file),
        }
    }

    pub fn error(&mut self, msg: impl Into<String>, path: &YamlPath) {
        let loc = self.at(path);
        self.diags.push(Diagnostic::error(msg, Some(loc)));
    }

    pub fn error_help(&mut self, msg: impl Into<String>, path: &YamlPath, help: impl Into<String>) {
        let loc = self.at(path);
        self.diags.push(Diagnostic::error(msg, Some(loc)).with_help(help));
    }

    /// Deserializes `value` (found at `base`) as a `section`, reporting
    /// unknown keys (error + nearest valid key), promptfoo-only keys
    /// (warning) and type errors, each at its line.
    pub fn deserialize<T: DeserializeOwned>(&mut self, value: &Value, base: &YamlPath, section: Section) -> Option<T> {
        let mut ignored: Vec<YamlPath> = Vec::new();
        let mut on_ignored = |p: serde_ignored::Path<'_>| ignored.push(YamlPath::from_ignored(&p));
        let de = serde_ignored::Deserializer::new(value, &mut on_ignored);
        let result: Result<T, _> = serde_path_to_error::deserialize(de);
        for rel in ignored {
            let sec = section_of(section, &rel.parent());
            let key = rel.last_key().unwrap_or("?").to_string();
            let full = base.join(&rel);
            let loc = self.key_at(&full);
            if sec == Section::Suite && key.starts_with("x-") {
                // `x-...` keys hold YAML anchors for reuse (`x-defaults: &d`).
                continue;
            }
            if key == "apiKey" && sec == Section::ProviderConfig {
                self.diags.push(
                    Diagnostic::error("API keys never go in suite files", Some(loc))
                        .with_help("remove `apiKey`; set the provider's environment variable (OPENAI_API_KEY, ANTHROPIC_API_KEY) or name another one with `apiKeyEnvar`"),
                );
            } else if sec.promptfoo_keys().contains(&key.as_str()) {
                self.diags.push(Diagnostic::warning(
                    format!(
                        "`{key}` in {} is a promptfoo key that promptgate does not implement; ignored",
                        sec.noun()
                    ),
                    Some(loc),
                ));
            } else {
                let valid = sec.valid_keys();
                let mut d = Diagnostic::error(format!("unknown key `{key}` in {}", sec.noun()), Some(loc));
                let promptfoo_near = nearest(&key, sec.promptfoo_keys().iter().copied());
                d = match (nearest(&key, valid.iter().copied()), promptfoo_near) {
                    (Some(n), _) => d.with_help(format!("did you mean `{n}`? (valid keys: {})", valid.join(", "))),
                    (None, Some(n)) => d.with_help(format!(
                        "did you mean `{n}`? (a promptfoo key that promptgate does not implement yet)"
                    )),
                    (None, None) if valid.is_empty() => d.with_help("promptgate implements no key here yet"),
                    (None, None) => d.with_help(format!("valid keys: {}", valid.join(", "))),
                };
                self.diags.push(d);
            }
        }
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                let rel = YamlPath::from_serde(e.path());
                let full = base.join(&rel);
                let inner = humanize(&prompt::strip_location(&e.inner().to_string()));
                let what = if rel.0.is_empty() {
                    String::new()
                } else {
                    format!("`{rel}`: ")
                };
                let loc = self.at(&full);
                self.diags.push(Diagnostic::error(
                    format!("invalid {}: {what}{inner}", section.noun()),
                    Some(loc),
                ));
                None
            }
        }
    }
}

/// serde's wording in words a suite author uses: `expected f64` → `expected a
/// number`, `a sequence` → `a list`, `a map` → `a mapping`.
fn humanize(msg: &str) -> String {
    let mut out = msg.to_string();
    for (from, to) in [
        ("expected f64", "expected a number"),
        ("expected f32", "expected a number"),
        ("expected u64", "expected a whole number ≥ 0"),
        ("expected u32", "expected a whole number ≥ 0"),
        ("expected u16", "expected a whole number ≥ 0"),
        ("expected usize", "expected a whole number ≥ 0"),
        ("expected i64", "expected a whole number"),
        ("expected a sequence", "expected a list (`- item` lines or `[a, b]`)"),
        (
            "expected a map",
            "expected a mapping (`key: value` lines or `{key: value}`)",
        ),
        ("invalid type: sequence", "invalid type: a list"),
        ("invalid type: map", "invalid type: a mapping"),
    ] {
        out = out.replace(from, to);
    }
    out
}

/// The section of the mapping at `rel` (relative to a value of section `root`).
fn section_of(root: Section, rel: &YamlPath) -> Section {
    let segs = &rel.0;
    match (segs.len(), segs.last()) {
        (0, _) => root,
        (_, Some(Seg::Key(k))) if k == "defaultTest" => Section::Test,
        (_, Some(Seg::Key(k))) if k == "options" => Section::Options,
        (_, Some(Seg::Key(k))) if k == "config" => Section::ProviderConfig,
        (n, Some(Seg::Index(_))) if n >= 2 => match &segs[n - 2] {
            Seg::Key(k) if k == "assert" => Section::Assertion,
            Seg::Key(k) if k == "tests" => Section::Test,
            Seg::Key(k) if k == "providers" || k == "targets" => Section::Provider,
            Seg::Key(k) if k == "prompts" => Section::Prompt,
            _ => root,
        },
        _ => root,
    }
}

/// Parses YAML text, reporting a syntax error with its position.
pub(super) fn parse_yaml(text: &str, shown: &Path, diags: &mut Diagnostics) -> Option<Value> {
    match serde_yaml::from_str::<Value>(text) {
        Ok(mut v) => {
            if let Err(e) = v.apply_merge() {
                diags.push(Diagnostic::error(
                    format!("invalid YAML merge key: {e}"),
                    Some(Location::file(shown)),
                ));
                return None;
            }
            Some(v)
        }
        Err(e) => {
            let loc = e
                .location()
                .map(|l| Location::at(shown, l.line(), l.column()))
                .unwrap_or_else(|| Location::file(shown));
            diags.push(Diagnostic::error(
                format!("malformed YAML: {}", prompt::strip_location(&e.to_string())),
                Some(loc),
            ));
            None
        }
    }
}

/// Reads a UTF-8 text file, dropping a leading byte-order mark.
///
/// # Errors
/// Unreadable or not UTF-8 (with the line of the first bad byte).
pub(super) fn read_text(path: &Path, shown: &Path, what: &str) -> Result<String, Diagnostic> {
    let bytes = std::fs::read(path)
        .map_err(|e| Diagnostic::error(format!("cannot read {what}: {e}"), Some(Location::file(shown))))?;
    match String::from_utf8(bytes) {
        Ok(t) => Ok(match t.strip_prefix('\u{feff}') {
            Some(rest) => rest.to_string(),
            None => t,
        }),
        Err(e) => {
            let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
            let line = valid.iter().filter(|b| **b == b'\n').count() + 1;
            Err(Diagnostic::error(
                format!("{what} is not UTF-8 text"),
                Some(Location {
                    file: shown.to_path_buf(),
                    line: Some(line),
                    col: None,
                }),
            )
            .with_help("save it as UTF-8"))
        }
    }
}

fn load_one(
    file: &Path,
    shown: &Path,
    explicit: bool,
    catalog: &mut PromptCatalog,
    templates: &mut Templates,
    diags: &mut Diagnostics,
) -> Option<Suite> {
    let text = match read_text(file, shown, "suite file") {
        Ok(t) => t,
        Err(d) => {
            diags.push(d);
            return None;
        }
    };
    let root = parse_yaml(&text, shown, diags)?;
    match &root {
        Value::Mapping(m) if !explicit && !["prompts", "providers", "tests"].iter().any(|k| m.contains_key(*k)) => {
            // A data file next to the suites (a JSON Schema, a config): not a suite.
            diags.push(Diagnostic::warning(
                "not a suite (no `prompts`, `providers` or `tests`); skipped",
                Some(Location::file(shown)),
            ));
            return None;
        }
        Value::Mapping(_) => {}
        Value::Sequence(_) if !explicit => return None, // a cases file next to the suites
        other => {
            let what = if matches!(other, Value::Sequence(_)) {
                "this file is a list of test cases, not a suite; reference it from a suite with `tests: file://...`"
                    .to_string()
            } else {
                format!(
                    "a suite is a mapping with `prompts`, `providers` and `tests`, found {}",
                    kind_of(other)
                )
            };
            diags.push(Diagnostic::error(what, Some(Location::file(shown))));
            return None;
        }
    }
    let dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut cx = FileCx {
        file: shown.to_path_buf(),
        dir,
        locs: YamlLocations::index(&text),
        diags,
        fixed_line: None,
    };
    let root_path = YamlPath::root();
    let raw: RawSuite = cx.deserialize(&root, &root_path, Section::Suite)?;
    let errors_before = cx.diags.errors().count();

    let prompts = load_prompts(&mut cx, raw.prompts.as_ref(), catalog, templates);
    let providers = load_providers(&mut cx, raw.providers.as_ref());
    let default_test = raw.default_test.unwrap_or_default();
    let dpath = root_path.key("defaultTest");
    let default_asserts = build_assertions(
        &mut cx,
        default_test.assert.as_deref().unwrap_or(&[]),
        &dpath,
        templates,
    );
    let default_vars = resolve_vars(&mut cx, default_test.vars.as_ref(), &dpath);

    let mut raw_tests: Vec<cases::LoadedCase> = Vec::new();
    let tpath = root_path.key("tests");
    match raw.tests {
        None => cx.error_help(
            "the suite has no `tests`",
            &root_path,
            "add `tests:` with a list of test cases, or `tests: file://cases.csv`",
        ),
        Some(Value::String(s)) => {
            let at = cx.at(&tpath);
            match s.strip_prefix("file://") {
                Some(rel) => {
                    let path = cx.dir.join(rel);
                    raw_tests.extend(cases::load_cases_file(&path, &at, cx.diags, templates));
                }
                None => cx.error_help(
                    format!("`tests` is a string but not a file reference: {s:?}"),
                    &tpath,
                    "write `tests: file://cases.csv` (or .yaml / .jsonl), or a list of test cases",
                ),
            }
        }
        Some(Value::Sequence(items)) => {
            for (i, item) in items.iter().enumerate() {
                let p = tpath.index(i);
                if let Some(rel) = item.as_str().and_then(|s| s.strip_prefix("file://")) {
                    let at = cx.at(&p);
                    let path = cx.dir.join(rel);
                    raw_tests.extend(cases::load_cases_file(&path, &at, cx.diags, templates));
                    continue;
                }
                if !matches!(item, Value::Mapping(_)) {
                    cx.error(
                        format!(
                            "a test case is a mapping (description, vars, assert, ...), found {}",
                            kind_of(item)
                        ),
                        &p,
                    );
                    continue;
                }
                if let Some(t) = cx.deserialize::<RawTest>(item, &p, Section::Test) {
                    let asserts = build_assertions(&mut cx, t.assert.as_deref().unwrap_or(&[]), &p, templates);
                    let vars = resolve_vars(&mut cx, t.vars.as_ref(), &p);
                    let line = cx.at(&p).line;
                    raw_tests.push(cases::LoadedCase {
                        test: t,
                        file: cx.file.clone(),
                        line,
                        assertions: asserts,
                        vars,
                    });
                }
            }
        }
        Some(other) => cx.error(
            format!(
                "`tests` must be a list of test cases or `file://...`, found {}",
                kind_of(&other)
            ),
            &tpath,
        ),
    }

    if cx.diags.errors().count() > errors_before {
        return None;
    }
    if raw_tests.is_empty() {
        cx.error("the suite has no test cases", &tpath);
        return None;
    }

    // Metadata: the suite's, then defaultTest's, then the test's own (later wins).
    let mut default_meta = yaml_map_to_json(raw.metadata.as_ref());
    default_meta.extend(yaml_map_to_json(default_test.metadata.as_ref()));
    let mut used = BTreeSet::new();
    let mut tests = Vec::new();
    for (i, case) in raw_tests.into_iter().enumerate() {
        let cases::LoadedCase {
            test: t,
            file: tfile,
            line,
            assertions: asserts,
            vars,
        } = case;
        let mut all_vars = default_vars.clone();
        all_vars.extend(vars);
        let mut metadata = default_meta.clone();
        metadata.extend(yaml_map_to_json(t.metadata.as_ref()));
        let mut assertions = default_asserts.clone();
        assertions.extend(asserts);
        let mut name = t
            .description
            .as_deref()
            .map(slug)
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| format!("test_{}", i + 1));
        if used.contains(&name) {
            let mut n = 2;
            while used.contains(&format!("{name}_{n}")) {
                n += 1;
            }
            name = format!("{name}_{n}");
        }
        used.insert(name.clone());
        if assertions.is_empty() {
            cx.diags.push(Diagnostic::warning(
                format!("test `{name}` has no assertions: it passes whenever the provider answers"),
                Some(Location {
                    file: tfile.clone(),
                    line,
                    col: None,
                }),
            ));
        }
        let threshold = t.threshold.or(default_test.threshold);
        if threshold.is_some() && !assertions.is_empty() && assertions.iter().all(|a| a.weight == 0.0) {
            cx.diags.push(Diagnostic::error(
                format!("test `{name}` has a `threshold` but every assertion has weight 0, so its score is always 0"),
                Some(Location {
                    file: tfile.clone(),
                    line,
                    col: None,
                }),
            ));
            continue;
        }
        if let Some(th) = threshold.filter(|th| !(0.0..=1.0).contains(th)) {
            cx.diags.push(
                Diagnostic::error(
                    format!("test `{name}`: `threshold` must be a number from 0 to 1, got {th}"),
                    Some(Location {
                        file: tfile.clone(),
                        line,
                        col: None,
                    }),
                )
                .with_help("the threshold is compared with the weighted score of the assertions, which is in [0, 1]"),
            );
            continue;
        }
        tests.push(Arc::new(TestCase {
            name,
            description: t.description,
            vars: Arc::new(all_vars),
            assertions,
            threshold,
            metadata,
            file: tfile,
            line,
        }));
    }
    let (prompts, providers) = (prompts?, providers?);
    // Case names must be unique (JUnit consumers keep only the first of
    // duplicate names): two providers or prompts shown alike need labels.
    let mut seen = BTreeSet::new();
    for (i, spec) in providers.iter().enumerate() {
        if !seen.insert(spec.display().to_string()) {
            let at = YamlPath::root().key("providers").index(i);
            cx.error_help(
                format!("provider `{}` appears twice in this suite", spec.display()),
                &at,
                "give each entry a distinct `label` (e.g. label: gpt-4o-mini-t0)",
            );
            return None;
        }
    }
    let mut seen = BTreeSet::new();
    for (i, prompt) in prompts.iter().enumerate() {
        if !seen.insert(prompt.label()) {
            let at = YamlPath::root().key("prompts").index(i);
            cx.error(format!("prompt `{}` appears twice in this suite", prompt.label()), &at);
            return None;
        }
    }
    let name = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "suite".into());
    Some(Suite {
        name,
        file: shown.to_path_buf(),
        description: raw.description,
        prompts,
        providers,
        tests,
    })
}

fn load_prompts(
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
            cx.error_help(format!("the suite has no `{key}`"), &YamlPath::root(), help);
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
            let mut help = format!("looked in {} for {exts}", catalog.dir().display());
            if let Some(n) = nearest(reference, available.iter().map(String::as_str)) {
                help = format!("did you mean `{n}`? ({help})");
            } else if !available.is_empty() {
                help.push_str(&format!("; prompts there: {}", available.join(", ")));
            }
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

fn load_providers(cx: &mut FileCx<'_>, value: Option<&Value>) -> Option<Vec<ProviderSpec>> {
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
        let spec = match item {
            Value::String(id) => Some(ProviderSpec {
                id: id.clone(),
                label: None,
                config: Default::default(),
            }),
            Value::Mapping(_) => cx
                .deserialize::<RawProvider>(item, &p, Section::Provider)
                .map(|r| ProviderSpec {
                    id: r.id,
                    label: r.label,
                    config: r.config.unwrap_or_default(),
                }),
            other => {
                cx.error(
                    format!("a provider is an id or a mapping with `id`, found {}", kind_of(other)),
                    &p,
                );
                None
            }
        };
        let Some(spec) = spec else {
            ok = false;
            continue;
        };
        let kind = match ProviderKind::parse(&spec.id) {
            Ok(k) => k,
            Err(msg) => {
                let idp = if matches!(item, Value::Mapping(_)) {
                    p.key("id")
                } else {
                    p.clone()
                };
                cx.error_help(msg, &idp, format!("supported ids: {SUPPORTED_IDS}"));
                ok = false;
                continue;
            }
        };
        if matches!(kind, ProviderKind::AnthropicMessages { .. }) {
            // The Messages API has neither; say so instead of dropping them silently.
            for (key, set) in [
                ("seed", spec.config.seed.is_some()),
                ("response_format", spec.config.response_format.is_some()),
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
            .max_concurrency
            .filter(|n| !(1..=crate::config::MAX_JOBS).contains(n))
        {
            cx.error(
                format!(
                    "`max_concurrency` must be between 1 and {}, got {n}",
                    crate::config::MAX_JOBS
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

/// Converts vars to JSON, reading `file://` values relative to the file's folder.
pub(super) fn resolve_vars(
    cx: &mut FileCx<'_>,
    vars: Option<&BTreeMap<String, Value>>,
    at: &YamlPath,
) -> Map<String, Json> {
    let mut out = Map::new();
    let Some(vars) = vars else { return out };
    for (k, v) in vars {
        let vp = at.key("vars").key(k);
        if let Value::String(s) = v {
            if let Some(rel) = s.strip_prefix("file://") {
                let path = cx.dir.join(rel);
                match std::fs::read_to_string(&path) {
                    Ok(text) => {
                        out.insert(k.clone(), Json::String(text));
                    }
                    Err(e) => cx.error(
                        format!("var `{k}`: cannot read {}: {e}", display_path(&path).display()),
                        &vp,
                    ),
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

/// Builds and validates assertions (types, values, regexes, schemas).
pub(super) fn build_assertions(
    cx: &mut FileCx<'_>,
    raws: &[RawAssertion],
    at: &YamlPath,
    templates: &Templates,
) -> Vec<Assertion> {
    let mut out = Vec::new();
    for (i, raw) in raws.iter().enumerate() {
        let p = at.key("assert").index(i);
        let line = cx.at(&p).line;
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
            cx.error_help(msg, &p.key("type"), help);
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
            match std::fs::read_to_string(&path) {
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
                    cx.error(
                        format!("cannot read {}: {e}", display_path(&path).display()),
                        &p.key("value"),
                    );
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
    let mut a = Assertion {
        kind,
        negate,
        value,
        templated,
        threshold: raw.threshold,
        weight: raw.weight.unwrap_or(1.0),
        metric: raw.metric.clone(),
        line,
        file: Some(cx.file.clone()),
        compiled: Default::default(),
    };
    if let Err(msg) = a.prepare() {
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
    Some(a)
}

fn has_template(v: &Json) -> bool {
    match v {
        Json::String(s) => is_template(s),
        Json::Array(a) => a.iter().any(has_template),
        Json::Object(o) => o.values().any(has_template),
        _ => false,
    }
}

fn check_templates(v: &Json, templates: &Templates) -> Result<(), String> {
    match v {
        Json::String(s) if is_template(s) => templates.check(s).map_err(|e| e.message),
        Json::Array(a) => a.iter().try_for_each(|x| check_templates(x, templates)),
        Json::Object(o) => o.values().try_for_each(|x| check_templates(x, templates)),
        _ => Ok(()),
    }
}

fn yaml_map_to_json(m: Option<&BTreeMap<String, Value>>) -> Map<String, Json> {
    m.map(|m| {
        m.iter()
            .filter_map(|(k, v)| serde_json::to_value(v).ok().map(|j| (k.clone(), j)))
            .collect()
    })
    .unwrap_or_default()
}
