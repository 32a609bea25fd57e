//! Test cases from a file: `tests: file://cases.csv|.yaml|.yml|.jsonl|.json`.
//!
//! * CSV: the header row names the vars; special columns (promptfoo's):
//!   `__expected` (and `__expected1`, `__expected2`, ...) hold one assertion
//!   each as `type:value` (e.g. `contains:rte_mempool_create`,
//!   `not-icontains:paris`, `regex:^\d+$`); `__description`; `__threshold`;
//!   `__metric` (applied to the row's assertions); `__metadata:KEY`.
//! * YAML / JSON: a list of test cases, as in a suite's `tests`.
//! * JSONL: one test case object per line.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value as Json};
use serde_yaml::Value;

use super::context::{parse_yaml, read_text, FileCx};
use super::raw::{kind_of, RawAssertion, RawTest, Section};
use super::vars_asserts::{build_assertion, build_assertions, resolve_vars};
use crate::assertion::Assertion;
use crate::diagnostic::{display_path, Diagnostic, Diagnostics, Location};
use crate::template::Templates;
use crate::util::yaml_spans::{YamlLocations, YamlPath};

/// A test case read from a cases file, before `defaultTest` is merged.
pub(super) struct LoadedCase {
    pub test: RawTest,
    pub file: PathBuf,
    pub line: Option<usize>,
    pub assertions: Vec<Assertion>,
    pub vars: Map<String, Json>,
    pub options: super::vars_asserts::TestOptions,
}

/// Loads the cases in `path`; `at` is where the suite references it.
/// `hint` is shown when the file does not exist (see `relative_path_hint`).
pub(super) fn load_cases_file(
    path: &Path,
    hint: Option<String>,
    at: &Location,
    diags: &mut Diagnostics,
    templates: &Templates,
) -> Vec<LoadedCase> {
    let shown = display_path(path);
    if !path.exists() {
        let mut d = Diagnostic::error(format!("cases file not found: {}", shown.display()), Some(at.clone()));
        if let Some(h) = hint {
            d = d.with_help(h);
        }
        diags.push(d);
        return Vec::new();
    }
    if let Some(kind) = super::context::not_regular(path) {
        diags.push(Diagnostic::error(
            format!("cases file {} is {kind}, not a regular file", shown.display()),
            Some(at.clone()),
        ));
        return Vec::new();
    }
    let text = match read_text(path, &shown, "cases file") {
        Ok(t) => t,
        Err(d) => {
            diags.push(d);
            return Vec::new();
        }
    };
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match ext.as_str() {
        "csv" => load_csv(&text, &shown, dir, diags, templates),
        "yaml" | "yml" | "json" => load_yaml_list(&text, &shown, dir, diags, templates),
        "jsonl" => load_jsonl(&text, &shown, dir, diags, templates),
        _ => {
            diags.push(
                Diagnostic::error(
                    format!("unsupported cases file type: {}", shown.display()),
                    Some(at.clone()),
                )
                .with_help("use .csv, .yaml, .yml, .json or .jsonl"),
            );
            Vec::new()
        }
    }
}

fn load_yaml_list(
    text: &str,
    shown: &Path,
    dir: PathBuf,
    diags: &mut Diagnostics,
    templates: &Templates,
) -> Vec<LoadedCase> {
    let Some(root) = parse_yaml(text, shown, diags) else {
        return Vec::new();
    };
    let mut cx = FileCx {
        file: shown.to_path_buf(),
        dir,
        locs: YamlLocations::index(text),
        diags,
        fixed_line: None,
        specs: Default::default(),
        suggested: Default::default(),
        item: None,
    };
    let Value::Sequence(items) = root else {
        cx.error(
            format!("a cases file holds a list of test cases, found {}", kind_of(&root)),
            &YamlPath::root(),
        );
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let p = YamlPath::root().index(i);
        if let Some(c) = one_case(&mut cx, item, &p, templates) {
            out.push(c);
        }
    }
    out
}

fn load_jsonl(
    text: &str,
    shown: &Path,
    dir: PathBuf,
    diags: &mut Diagnostics,
    templates: &Templates,
) -> Vec<LoadedCase> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let lineno = i + 1;
        let parsed = serde_json::from_str::<Json>(line).map_err(|e| {
            let msg = e.to_string();
            let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
            (msg, Some(e.column()))
        });
        let value: Value = match parsed.and_then(|j| serde_yaml::to_value(j).map_err(|e| (e.to_string(), None))) {
            Ok(v) => v,
            Err((msg, col)) => {
                diags.push(Diagnostic::error(
                    format!("malformed JSON: {msg}"),
                    Some(Location {
                        file: shown.to_path_buf(),
                        line: Some(lineno),
                        col,
                    }),
                ));
                continue;
            }
        };
        let mut cx = FileCx {
            file: shown.to_path_buf(),
            dir: dir.clone(),
            locs: YamlLocations::default(),
            diags,
            fixed_line: Some(lineno),
            specs: Default::default(),
            suggested: Default::default(),
            item: None,
        };
        if let Some(c) = one_case(&mut cx, &value, &YamlPath::root(), templates) {
            out.push(c);
        }
    }
    out
}

fn one_case(cx: &mut FileCx<'_>, item: &Value, p: &YamlPath, templates: &Templates) -> Option<LoadedCase> {
    if !matches!(item, Value::Mapping(_)) {
        cx.error(
            format!(
                "a test case is a mapping (description, vars, assert, ...), found {}",
                kind_of(item)
            ),
            p,
        );
        return None;
    }
    let test: RawTest = cx.deserialize(item, p, Section::Test)?;
    let assertions = build_assertions(cx, test.assert.as_deref().unwrap_or(&[]), p, templates);
    let vars = resolve_vars(cx, test.vars.as_ref(), p);
    let options = super::vars_asserts::test_options(cx, test.options.as_ref(), p, templates);
    let line = cx.at(p).line;
    Some(LoadedCase {
        test,
        file: cx.file.clone(),
        line,
        assertions,
        vars,
        options,
    })
}

/// The diagnostic for a CSV row that does not parse: a row whose field count
/// differs from the header's says so in a suite author's words (the csv
/// crate's message repeats the position the location already gives).
fn csv_row_error(e: &csv::Error, shown: &Path, line: Option<usize>) -> Diagnostic {
    let at = Some(Location {
        file: shown.to_path_buf(),
        line,
        col: None,
    });
    match e.kind() {
        csv::ErrorKind::UnequalLengths { expected_len, len, .. } => Diagnostic::error(
            format!("malformed CSV: this row has {len} field(s), the header has {expected_len}"),
            at,
        )
        .with_help("quote a field holding a comma or a line break (\"a, b\"), and close every quote"),
        _ => Diagnostic::error(format!("malformed CSV: {e}"), at),
    }
}

fn load_csv(text: &str, shown: &Path, dir: PathBuf, diags: &mut Diagnostics, templates: &Templates) -> Vec<LoadedCase> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(text.as_bytes());
    let headers = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            diags.push(Diagnostic::error(
                format!("malformed CSV header: {e}"),
                Some(Location {
                    file: shown.to_path_buf(),
                    line: Some(1),
                    col: None,
                }),
            ));
            return Vec::new();
        }
    };
    for h in headers.iter() {
        let known = h == "__description"
            || h == "__threshold"
            || h == "__metric"
            || h.starts_with("__metadata:")
            || h.strip_prefix("__expected")
                .is_some_and(|n| n.chars().all(|c| c.is_ascii_digit()));
        if h.starts_with("__") && !known {
            diags.push(
                Diagnostic::error(
                    format!("unknown special column `{h}`"),
                    Some(Location {
                        file: shown.to_path_buf(),
                        line: Some(1),
                        col: None,
                    }),
                )
                .with_help(
                    "special columns: __expected, __expectedN, __description, __threshold, __metric, __metadata:KEY",
                ),
            );
            return Vec::new();
        }
    }
    let mut out = Vec::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map(|p| p.line() as usize);
                diags.push(csv_row_error(&e, shown, line));
                continue;
            }
        };
        let line = record.position().map(|p| p.line() as usize);
        let mut cx = FileCx {
            file: shown.to_path_buf(),
            dir: dir.clone(),
            locs: YamlLocations::default(),
            diags,
            fixed_line: line,
            specs: Default::default(),
            suggested: Default::default(),
            item: None,
        };
        let mut test = RawTest::default();
        let mut vars = std::collections::BTreeMap::new();
        let mut expected: Vec<(String, String)> = Vec::new();
        let mut metric = None;
        let mut metadata = std::collections::BTreeMap::new();
        let mut bad = false;
        for (h, v) in headers.iter().zip(record.iter()) {
            if h.starts_with("__expected") {
                if !v.trim().is_empty() {
                    expected.push((h.to_string(), v.to_string()));
                }
            } else if h == "__description" {
                test.description = Some(v.to_string()).filter(|s| !s.is_empty());
            } else if h == "__threshold" {
                if !v.trim().is_empty() {
                    match v.trim().parse::<f64>() {
                        Ok(t) => test.threshold = Some(t),
                        Err(_) => {
                            cx.error(
                                format!("column `__threshold`: {v:?} is not a number"),
                                &YamlPath::root(),
                            );
                            bad = true;
                        }
                    }
                }
            } else if h == "__metric" {
                metric = Some(v.to_string()).filter(|s| !s.is_empty());
            } else if let Some(key) = h.strip_prefix("__metadata:") {
                if !v.is_empty() {
                    metadata.insert(key.to_string(), Value::String(v.to_string()));
                }
            } else {
                vars.insert(h.to_string(), Value::String(v.to_string()));
            }
        }
        let mut assertions = Vec::new();
        for (col, cell) in expected {
            let Some((kind, value)) = cell.split_once(':') else {
                cx.error_help(
                    format!("column `{col}`: {cell:?} is not an assertion"),
                    &YamlPath::root(),
                    "write `type:value`, e.g. `contains:Paris`, `not-icontains:sorry`, `equals:42`",
                );
                bad = true;
                continue;
            };
            let value = value.strip_prefix(' ').unwrap_or(value);
            // promptfoo's CSV shorthand: `grade:RUBRIC` is `llm-rubric:RUBRIC`.
            let kind = match kind.trim() {
                "grade" => "llm-rubric",
                "not-grade" => "not-llm-rubric",
                other => other,
            };
            let raw = RawAssertion {
                kind: kind.to_string(),
                value: (!value.is_empty()).then(|| Value::String(value.to_string())),
                threshold: None,
                weight: None,
                metric: metric.clone(),
                provider: None,
                rubric_prompt: None,
                context_var: None,
            };
            let before = cx.diags.0.len();
            match build_assertion(&mut cx, &raw, &YamlPath::root(), line, templates) {
                Some(a) => assertions.push(a),
                None => {
                    // Name the column in the errors just added.
                    for d in cx.diags.0.iter_mut().skip(before) {
                        d.message = format!("column `{col}`: {}", d.message);
                    }
                    bad = true;
                }
            }
        }
        if bad {
            continue;
        }
        test.metadata = (!metadata.is_empty()).then_some(metadata);
        let vars_json = resolve_vars(&mut cx, Some(&vars), &YamlPath::root());
        out.push(LoadedCase {
            test,
            file: shown.to_path_buf(),
            line,
            assertions,
            vars: vars_json,
            options: Default::default(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv_errors(text: &str) -> Vec<Diagnostic> {
        let mut diags = Diagnostics::default();
        let cases = load_csv(
            text,
            Path::new("cases.csv"),
            PathBuf::new(),
            &mut diags,
            &Templates::new(),
        );
        assert!(cases.len() < text.lines().count().saturating_sub(1), "{text}");
        diags.0
    }

    #[test]
    fn a_row_with_the_wrong_field_count_says_so_at_its_line() {
        let errs = csv_errors("query,__expected\nhello,contains:hello\na,b,c\n");
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(
            errs[0].message,
            "malformed CSV: this row has 3 field(s), the header has 2"
        );
        assert_eq!(errs[0].location.as_ref().and_then(|l| l.line), Some(3));
        assert!(errs[0].help.as_deref().unwrap().contains("quote"));
    }

    #[test]
    fn an_unknown_special_column_is_an_error_on_line_1() {
        let errs = csv_errors("query,__expect\nhello,x\n");
        assert_eq!(errs[0].message, "unknown special column `__expect`");
        assert_eq!(errs[0].location.as_ref().and_then(|l| l.line), Some(1));
    }
}
