//! The per-file loading context: positions and diagnostics of one file,
//! validated deserialization, and reading and parsing YAML text.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde_yaml::Value;

use super::raw::Section;
use crate::diagnostic::{nearest, Diagnostic, Diagnostics, Location};
use crate::util::yaml_spans::{Seg, YamlLocations, YamlPath};

/// Per-file loading context: positions and diagnostics.
pub(super) struct FileCx<'a> {
    /// The file as shown in messages.
    pub(super) file: PathBuf,
    /// The file's folder: `file://` references are relative to it.
    pub(super) dir: PathBuf,
    /// Positions of the nodes and keys of the file's YAML.
    pub(super) locs: YamlLocations,
    /// Where errors and warnings go.
    pub(super) diags: &'a mut Diagnostics,
    /// Fixed line for every position (JSONL: the line of the record).
    pub(super) fixed_line: Option<usize>,
    /// While a test of a suite read test by test is loaded: its positions.
    pub(super) item: Option<ItemPositions>,
    /// Assertion specs built so far in this file, by their YAML as written
    /// (see [`super::vars_asserts::build_assertion`]).
    pub(super) specs: std::collections::HashMap<String, std::sync::Arc<crate::assertion::AssertionSpec>>,
    /// Keys that an unknown key's "did you mean" named (`provider:` ->
    /// `providers`), with the path of their mapping: their absence is not
    /// reported a second time (see [`Self::was_suggested`]).
    pub(super) suggested: Vec<(YamlPath, &'static str)>,
}

/// Positions in one test of a suite read test by test: the lines a loaded
/// test keeps (its own, its assertions') come from the split; the test's text
/// is indexed only when a message needs another position.
pub(super) struct ItemPositions {
    /// `tests[i]`.
    pub at: YamlPath,
    /// The test's line.
    pub node_line: usize,
    /// The lines of its `assert` entries.
    pub assert_lines: Vec<usize>,
    /// The test's text and its first line in the file.
    pub text: String,
    pub first_line: usize,
    pub locs: std::cell::OnceCell<YamlLocations>,
}

impl ItemPositions {
    /// The index for `path` when it lies in this test.
    fn locs_for(&self, path: &YamlPath) -> Option<&YamlLocations> {
        path.0.starts_with(&self.at.0).then(|| {
            self.locs
                .get_or_init(|| YamlLocations::index_item(&self.text, self.first_line, &self.at))
        })
    }
}

impl FileCx<'_> {
    /// The positions index for `path`: the current test's, else the file's.
    fn locs(&self, path: &YamlPath) -> &YamlLocations {
        self.item.as_ref().and_then(|i| i.locs_for(path)).unwrap_or(&self.locs)
    }

    /// The line of the node at `path` (what [`Self::at`] gives), without
    /// indexing the current test for its own line and its assertions'.
    pub(super) fn line(&self, path: &YamlPath) -> Option<usize> {
        if let (None, Some(item)) = (self.fixed_line, &self.item) {
            if let Some(rest) = path.0.strip_prefix(&item.at.0[..]) {
                match rest {
                    [] => return Some(item.node_line),
                    [Seg::Key(k), Seg::Index(j)] if k == "assert" && *j < item.assert_lines.len() => {
                        return Some(item.assert_lines[*j])
                    }
                    _ => {}
                }
            }
        }
        self.at(path).line
    }

    /// The location of the node at `path`.
    pub(super) fn at(&self, path: &YamlPath) -> Location {
        if let Some(line) = self.fixed_line {
            return Location {
                file: self.file.clone(),
                line: Some(line),
                col: None,
            };
        }
        match self.locs(path).node(path) {
            Some((l, c)) => Location::at(&self.file, l, c),
            None => Location::file(&self.file),
        }
    }

    /// The location of the key of the entry at `path`.
    pub(super) fn key_at(&self, path: &YamlPath) -> Location {
        if let Some(line) = self.fixed_line {
            return Location {
                file: self.file.clone(),
                line: Some(line),
                col: None,
            };
        }
        match self.locs(path).key(path) {
            Some((l, c)) => Location::at(&self.file, l, c),
            None => Location::file(&self.file),
        }
    }

    /// Reports an error at the node at `path`.
    pub(super) fn error(&mut self, msg: impl Into<String>, path: &YamlPath) {
        let loc = self.at(path);
        self.diags.push(Diagnostic::error(msg, Some(loc)));
    }

    /// Reports an error with a help line at the node at `path`.
    pub(super) fn error_help(&mut self, msg: impl Into<String>, path: &YamlPath, help: impl Into<String>) {
        let loc = self.at(path);
        self.diags.push(Diagnostic::error(msg, Some(loc)).with_help(help));
    }

    /// True when an unknown key of the mapping at `mapping` was reported
    /// with "did you mean `key`?": a missing `key` there needs no second error.
    pub(super) fn was_suggested(&self, mapping: &YamlPath, key: &str) -> bool {
        self.suggested.iter().any(|(m, k)| m == mapping && *k == key)
    }

    /// Deserializes `value` (found at `base`) as a `section`, reporting
    /// unknown keys (error + nearest valid key), promptfoo-only keys
    /// (warning) and type errors, each at its line.
    pub(super) fn deserialize<T: DeserializeOwned>(
        &mut self,
        value: &Value,
        base: &YamlPath,
        section: Section,
    ) -> Option<T> {
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
                    (Some(n), _) => {
                        self.suggested.push((full.parent(), n));
                        d.with_help(format!("did you mean `{n}`? (valid keys: {})", valid.join(", ")))
                    }
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
                let inner = humanize(&crate::util::strip_location(&e.inner().to_string()));
                let what = if rel.0.is_empty() {
                    String::new()
                } else {
                    format!("`{rel}`: ")
                };
                let loc = self.at(&full);
                self.diags.push(Diagnostic::error(
                    format!("in {}: {what}{inner}", section.noun()),
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
    if msg.contains("non-string key") {
        // `value: {{ name }}` unquoted: YAML reads `{...}` as a flow mapping.
        return "an unquoted `{{ ... }}` is read by YAML as a mapping: quote templates, e.g. value: \"{{ name }}\""
            .to_string();
    }
    let mut out = msg.to_string();
    for (from, to) in [
        (
            "expected struct RawThresholds",
            "expected a mapping like `{pass_rate: 0.95, metrics: {faithfulness: {mean: 0.85}}}`",
        ),
        (
            "expected struct RawMetricThreshold",
            "expected a mapping like `{mean: 0.85}` or `{min: 0.6}`",
        ),
        (
            "expected struct RawOptions",
            "expected a mapping (`provider`, `rubricPrompt`)",
        ),
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
        (_, Some(Seg::Key(k))) if k == "defaultTest" => Section::DefaultTest,
        (_, Some(Seg::Key(k))) if k == "options" => Section::Options,
        (_, Some(Seg::Key(k))) if k == "config" => Section::ProviderConfig,
        (1, Some(Seg::Key(k))) if k == "thresholds" => Section::Thresholds,
        (1, Some(Seg::Key(k))) if k == "gate" => Section::Gate,
        (n, Some(Seg::Key(_))) if n >= 2 && matches!(&segs[n - 2], Seg::Key(m) if m == "metrics") => {
            Section::MetricThreshold
        }
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
    if let Some(d) = too_deep(text, shown) {
        diags.push(d);
        return None;
    }
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
            let message = crate::util::strip_location(&e.to_string());
            let mut d = Diagnostic::error(format!("malformed YAML: {message}"), Some(loc));
            if let Some(help) = yaml_error_help(text, &e, &message) {
                d = d.with_help(help);
            }
            diags.push(d);
            None
        }
    }
}

/// The error for a YAML document nested deeper than the parsers are given
/// (checked on the text, in linear time, before parsing it).
pub(super) fn too_deep(text: &str, shown: &Path) -> Option<Diagnostic> {
    let e = crate::util::yaml_depth::check_depth(text, crate::util::yaml_depth::MAX_YAML_DEPTH).err()?;
    Some(
        Diagnostic::error(e.to_string(), Some(Location::at(shown, e.line, 1)))
            .with_help("flatten the document: promptgate reads YAML nested at most 256 levels deep"),
    )
}

/// A help for the YAML mistakes whose parser message does not say what to
/// do: a tab where indentation is expected, a key given twice.
fn yaml_error_help(text: &str, e: &serde_yaml::Error, message: &str) -> Option<&'static str> {
    if message.contains("duplicate entry") {
        return Some("a key may appear once in a mapping: keep one of them");
    }
    if message.contains("end of stream") {
        return Some("a quote, `[` or `{` opened above is not closed");
    }
    if message.contains("did not find expected key") {
        return Some("check the indentation here: the keys of one mapping start in the same column");
    }
    let at = e.location()?.index();
    text.get(at..)
        .is_some_and(|rest| rest.starts_with('\t'))
        .then_some("YAML indentation is spaces only: replace the tab with spaces")
}

/// What `path` is when it exists and is not a regular file ("a FIFO", "a
/// device", "a folder", ...): reading a FIFO or a device would block or never
/// end, so a `file://` reference must name a regular file.
pub(super) fn not_regular(path: &Path) -> Option<&'static str> {
    let kind = std::fs::metadata(path).ok()?.file_type();
    if kind.is_file() {
        return None;
    }
    if kind.is_dir() {
        return Some("a folder");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return Some("a FIFO (named pipe)");
        }
        if kind.is_socket() {
            return Some("a socket");
        }
        if kind.is_char_device() || kind.is_block_device() {
            return Some("a device");
        }
    }
    Some("not a regular file")
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

#[cfg(test)]
mod tests {
    use super::*;

    fn first_error(text: &str) -> Diagnostic {
        let mut diags = Diagnostics::default();
        assert!(parse_yaml(text, Path::new("s.yaml"), &mut diags).is_none(), "{text}");
        diags.0.remove(0)
    }

    #[test]
    fn malformed_yaml_names_the_position_and_helps_with_common_mistakes() {
        let d = first_error("tests:\n\t- a: 1\n");
        let loc = d.location.clone().unwrap();
        assert_eq!((loc.line, loc.col), (Some(2), Some(1)));
        assert!(d.help.as_deref().unwrap().contains("tab"), "{d:?}");
        let d = first_error("a: 1\na: 2\n");
        assert!(d.message.contains("duplicate entry"), "{d:?}");
        assert!(d.help.as_deref().unwrap().contains("once"), "{d:?}");
        let d = first_error("a: \"open\n");
        assert!(d.help.as_deref().unwrap().contains("not closed"), "{d:?}");
        let d = first_error("a: [1, 2\n");
        assert!(d.message.starts_with("malformed YAML: "), "{d:?}");
    }

    #[test]
    fn default_test_is_named_in_messages_and_takes_a_test_case_keys() {
        let p = YamlPath::root().key("defaultTest");
        let sec = section_of(Section::Suite, &p);
        assert_eq!(sec, Section::DefaultTest);
        assert_eq!(sec.noun(), "`defaultTest`");
        assert_eq!(sec.valid_keys(), Section::Test.valid_keys());
    }
}
