//! Loading one suite file, from text to a [`Suite`]: the YAML parsed into
//! the raw model ([`super::raw`]), references resolved (prompts, providers,
//! `file://` vars and cases files, assertions), and each test handed to the
//! [`TestCaseBuilder`] that validates it; the suite-level checks last.

use std::path::Path;
use std::sync::Arc;

use serde_yaml::Value;

use super::context::{parse_yaml, read_text, FileCx};
use super::raw::{kind_of, RawSuite, RawTest, Section};
use super::refs::{load_prompts, load_providers};
use super::validate::{
    check_gate_alpha, check_unique_labels, suite_thresholds, yaml_map_to_json, TestCaseBuilder, TestDefaults,
};
use super::vars_asserts::{build_assertions, resolve_vars};
use super::{cases, Suite};
use crate::diagnostic::{Diagnostic, Diagnostics, Location};
use crate::prompt::PromptCatalog;
use crate::template::Templates;
use crate::util::yaml_spans::{YamlLocations, YamlPath};

/// A suite read test by test (see [`crate::util::yaml_spans::TestsSplit`]) turned
/// out not to cut exactly: it is read again as one document.
struct SplitNotExact;

/// Loads the suite file `file` (shown as `shown`; `explicit`: named on the
/// command line, so a YAML file that is no suite is an error, not skipped).
/// `None` when it has errors (in `diags`) or is not a suite.
pub(super) fn load_one(
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
    if let Some(d) = super::context::too_deep(&text, shown) {
        diags.push(d);
        return None;
    }
    if let Some(split) = crate::util::yaml_spans::split_tests(&text) {
        let before = diags.0.len();
        match load_text(file, shown, explicit, &text, Some(&split), catalog, templates, diags) {
            Ok(suite) => return suite,
            Err(SplitNotExact) => diags.0.truncate(before),
        }
    }
    load_text(file, shown, explicit, &text, None, catalog, templates, diags).unwrap_or(None)
}

/// Loads one suite from its text; with `split`, its tests one at a time.
#[allow(clippy::too_many_arguments)]
fn load_text(
    file: &Path,
    shown: &Path,
    explicit: bool,
    text: &str,
    split: Option<&crate::util::yaml_spans::TestsSplit>,
    catalog: &mut PromptCatalog,
    templates: &mut Templates,
    diags: &mut Diagnostics,
) -> Result<Option<Suite>, SplitNotExact> {
    let root_text = split.map_or(text, |s| s.head.as_str());
    let Some(root) = parse_yaml(root_text, shown, diags) else {
        return Ok(None);
    };
    match &root {
        Value::Mapping(m) if !explicit && !["prompts", "providers", "tests"].iter().any(|k| m.contains_key(*k)) => {
            // A data file next to the suites (a JSON Schema, a config): not a suite.
            diags.push(Diagnostic::warning(
                "not a suite (no `prompts`, `providers` or `tests`); skipped",
                Some(Location::file(shown)),
            ));
            return Ok(None);
        }
        Value::Mapping(_) => {}
        Value::Sequence(_) if !explicit => return Ok(None), // a cases file next to the suites
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
            return Ok(None);
        }
    }
    let dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut cx = FileCx {
        file: shown.to_path_buf(),
        dir,
        locs: YamlLocations::index(root_text),
        diags,
        fixed_line: None,
        specs: Default::default(),
        suggested: Default::default(),
        item: None,
    };
    let root_path = YamlPath::root();
    // `tests` is most of a big suite: take it out of the document instead of
    // letting RawSuite deserialize a copy of it, and free the rest of the
    // document at once (a 100,000-test suite otherwise holds its parsed YAML twice).
    let mut root = root;
    let tests_value = match &mut root {
        Value::Mapping(m) => m.shift_remove("tests"),
        _ => None,
    };
    let Some(mut raw) = cx.deserialize::<RawSuite>(&root, &root_path, Section::Suite) else {
        return Ok(None);
    };
    drop(root);
    raw.tests = tests_value;
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
    let default_options = super::vars_asserts::test_options(&mut cx, default_test.options.as_ref(), &dpath, templates);
    // Metadata: the suite's, then defaultTest's, then the test's own (later wins).
    let mut default_meta = yaml_map_to_json(raw.metadata.as_ref());
    default_meta.extend(yaml_map_to_json(default_test.metadata.as_ref()));
    // Each test becomes its case as soon as it is read (its YAML is freed
    // then), unless the suite-level parts already failed: their errors would
    // otherwise repeat once per test.
    let mut builder = TestCaseBuilder::new(
        cx.diags.errors().count() == errors_before,
        TestDefaults {
            vars: default_vars,
            metadata: Arc::new(default_meta),
            assertions: default_asserts,
            options: default_options,
            threshold: default_test.threshold,
            min_pass_rate: default_test.min_pass_rate,
        },
    );

    let tpath = root_path.key("tests");
    match (split, raw.tests) {
        (Some(split), _) => {
            for (i, item) in split.items.iter().enumerate() {
                let p = tpath.index(i);
                let slice = split.item_text(text, i);
                // A test that does not parse alone is reported by reading the
                // whole document, so the message is the same as without the cut.
                let Ok(mut value) = serde_yaml::from_str::<Value>(slice) else {
                    return Err(SplitNotExact);
                };
                if value.apply_merge().is_err() {
                    return Err(SplitNotExact);
                }
                let Value::Sequence(mut one) = value else {
                    return Err(SplitNotExact);
                };
                let (Some(value), true) = (one.pop(), one.is_empty()) else {
                    return Err(SplitNotExact);
                };
                cx.item = Some(super::context::ItemPositions {
                    at: p.clone(),
                    node_line: item.node_line,
                    assert_lines: split.assert_lines[item.asserts.clone()].to_vec(),
                    text: slice.to_string(),
                    first_line: item.line,
                    locs: Default::default(),
                });
                read_test(&mut cx, &value, &p, templates, &mut builder);
            }
            cx.item = None;
        }
        (None, None) if cx.was_suggested(&root_path, "tests") => return Ok(None), // reported as a misspelled key
        (None, None) => cx.error_help(
            "the suite has no `tests`",
            &root_path,
            "add `tests:` with a list of test cases, or `tests: file://cases.csv`",
        ),
        (None, Some(Value::String(s))) => {
            let at = cx.at(&tpath);
            match s.strip_prefix("file://") {
                Some(rel) => {
                    let path = cx.dir.join(rel);
                    let hint = super::vars_asserts::relative_path_hint(&cx.dir, rel);
                    for case in cases::load_cases_file(&path, hint, &at, cx.diags, templates) {
                        builder.add(&mut cx, case);
                    }
                }
                None => cx.error_help(
                    format!("`tests` is a string but not a file reference: {s:?}"),
                    &tpath,
                    "write `tests: file://cases.csv` (or .yaml / .jsonl), or a list of test cases",
                ),
            }
        }
        (None, Some(Value::Sequence(items))) => {
            // By value: each test's YAML is freed once its case is built.
            for (i, item) in items.into_iter().enumerate() {
                read_test(&mut cx, &item, &tpath.index(i), templates, &mut builder);
            }
        }
        (None, Some(other)) => cx.error(
            format!(
                "`tests` must be a list of test cases or `file://...`, found {}",
                kind_of(&other)
            ),
            &tpath,
        ),
    }

    if cx.diags.errors().count() > errors_before {
        return Ok(None);
    }
    if builder.read() == 0 {
        cx.error("the suite has no test cases", &tpath);
        return Ok(None);
    }
    let tests = builder.into_tests();
    let (Some(prompts), Some(providers)) = (prompts, providers) else {
        return Ok(None);
    };
    // Case names must be unique (JUnit consumers keep only the first of
    // duplicate names): two providers or prompts shown alike need labels.
    if !check_unique_labels(&mut cx, &providers, &prompts) {
        return Ok(None);
    }
    let thresholds = match raw.thresholds {
        Some(t) => match suite_thresholds(&mut cx, t, &tests) {
            Some(t) => Some(t),
            None => return Ok(None),
        },
        None => None,
    };
    let Ok(gate_alpha) = check_gate_alpha(&mut cx, raw.gate.and_then(|g| g.alpha)) else {
        return Ok(None);
    };
    let name = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "suite".into());
    Ok(Some(Suite {
        name,
        file: shown.to_path_buf(),
        description: raw.description,
        prompts,
        providers,
        tests,
        thresholds,
        gate_alpha,
    }))
}

/// Reads item `p` of a suite's `tests`: a `file://` reference to a cases
/// file or a test mapping; every case read goes to `builder`.
fn read_test(cx: &mut FileCx<'_>, item: &Value, p: &YamlPath, templates: &Templates, builder: &mut TestCaseBuilder) {
    if let Some(rel) = item.as_str().and_then(|s| s.strip_prefix("file://")) {
        let at = cx.at(p);
        let path = cx.dir.join(rel);
        let hint = super::vars_asserts::relative_path_hint(&cx.dir, rel);
        for case in cases::load_cases_file(&path, hint, &at, cx.diags, templates) {
            builder.add(cx, case);
        }
        return;
    }
    if !matches!(item, Value::Mapping(_)) {
        cx.error(
            format!(
                "a test case is a mapping (description, vars, assert, ...), found {}",
                kind_of(item)
            ),
            p,
        );
        return;
    }
    let diags_before = cx.diags.0.len();
    if let Some(t) = cx.deserialize::<RawTest>(item, p, Section::Test) {
        let assertions = build_assertions(cx, t.assert.as_deref().unwrap_or(&[]), p, templates);
        let vars = resolve_vars(cx, t.vars.as_ref(), p);
        let options = super::vars_asserts::test_options(cx, t.options.as_ref(), p, templates);
        let line = cx.line(p);
        let file = cx.file.clone();
        // A test whose assertions did not build is not "without assertions".
        let flawed = cx.diags.0[diags_before..].iter().any(Diagnostic::is_error);
        builder.add_read(
            cx,
            flawed,
            cases::LoadedCase {
                test: t,
                file,
                line,
                assertions,
                vars,
                options,
            },
        );
    }
}
