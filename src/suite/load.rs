//! Loading and validating suite files: discovery, the per-file flow
//! (`defaultTest` merged into each test, case names, thresholds) and the
//! checks across suites.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Map, Value as Json};
use serde_yaml::Value;

use super::context::{parse_yaml, read_text, FileCx};
use super::raw::{kind_of, RawSuite, RawTest, Section};
use super::refs::{load_prompts, load_providers};
use super::vars_asserts::{build_assertions, resolve_vars};
use super::{cases, slug, Suite, TestCase};
use crate::diagnostic::{display_path, nearest, Diagnostic, Diagnostics, Location};
use crate::prompt::PromptCatalog;
use crate::template::Templates;
use crate::util::yaml_spans::{YamlLocations, YamlPath};

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
/// A suite read test by test (see [`crate::util::yaml_spans::TestsSplit`]) turned
/// out not to cut exactly: it is read again as one document.
struct Inexact;

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
    if let Some(split) = crate::util::yaml_spans::split_tests(&text) {
        let before = diags.0.len();
        match load_text(file, shown, explicit, &text, Some(&split), catalog, templates, diags) {
            Ok(suite) => return suite,
            Err(Inexact) => diags.0.truncate(before),
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
) -> Result<Option<Suite>, Inexact> {
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
    let mut finisher = Finisher {
        enabled: cx.diags.errors().count() == errors_before,
        vars: default_vars,
        meta: Arc::new(default_meta),
        file: None,
        asserts: default_asserts,
        options: default_options,
        threshold: default_test.threshold,
        min_pass_rate: default_test.min_pass_rate,
        used: BTreeSet::new(),
        read: 0,
        tests: Vec::new(),
    };

    let tpath = root_path.key("tests");
    match (split, raw.tests) {
        (Some(split), _) => {
            for (i, item) in split.items.iter().enumerate() {
                let p = tpath.index(i);
                let slice = split.item_text(text, i);
                // A test that does not parse alone is reported by reading the
                // whole document, so the message is the same as without the cut.
                let Ok(mut value) = serde_yaml::from_str::<Value>(slice) else {
                    return Err(Inexact);
                };
                if value.apply_merge().is_err() {
                    return Err(Inexact);
                }
                let Value::Sequence(mut one) = value else {
                    return Err(Inexact);
                };
                let (Some(value), true) = (one.pop(), one.is_empty()) else {
                    return Err(Inexact);
                };
                cx.item = Some(super::context::ItemPositions {
                    at: p.clone(),
                    node_line: item.node_line,
                    assert_lines: split.assert_lines[item.asserts.clone()].to_vec(),
                    text: slice.to_string(),
                    first_line: item.line,
                    locs: Default::default(),
                });
                read_test(&mut cx, &value, &p, templates, &mut finisher);
            }
            cx.item = None;
        }
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
                        finisher.add(&mut cx, case);
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
                read_test(&mut cx, &item, &tpath.index(i), templates, &mut finisher);
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
    if finisher.read == 0 {
        cx.error("the suite has no test cases", &tpath);
        return Ok(None);
    }
    let tests = finisher.tests;
    let (Some(prompts), Some(providers)) = (prompts, providers) else {
        return Ok(None);
    };
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
            return Ok(None);
        }
    }
    let mut seen = BTreeSet::new();
    for (i, prompt) in prompts.iter().enumerate() {
        if !seen.insert(prompt.label()) {
            let at = YamlPath::root().key("prompts").index(i);
            cx.error(format!("prompt `{}` appears twice in this suite", prompt.label()), &at);
            return Ok(None);
        }
    }
    let thresholds = match raw.thresholds {
        Some(t) => match suite_thresholds(&mut cx, t, &tests) {
            Some(t) => Some(t),
            None => return Ok(None),
        },
        None => None,
    };
    let gate_alpha = match raw.gate.and_then(|g| g.alpha) {
        Some(a) if !(a > 0.0 && a < 1.0) => {
            cx.error_help(
                format!("`gate.alpha` must be between 0 and 1 (exclusive), got {a}"),
                &YamlPath::root().key("gate").key("alpha"),
                "0.05 is the usual significance level",
            );
            return Ok(None);
        }
        a => a,
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
/// file or a test mapping; every case read goes to `finisher`.
fn read_test(cx: &mut FileCx<'_>, item: &Value, p: &YamlPath, templates: &Templates, finisher: &mut Finisher) {
    if let Some(rel) = item.as_str().and_then(|s| s.strip_prefix("file://")) {
        let at = cx.at(p);
        let path = cx.dir.join(rel);
        let hint = super::vars_asserts::relative_path_hint(&cx.dir, rel);
        for case in cases::load_cases_file(&path, hint, &at, cx.diags, templates) {
            finisher.add(cx, case);
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
        finisher.add_read(
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

/// Turns each test read into its [`TestCase`]: `defaultTest` merged in, a
/// unique name, its thresholds and variables checked.
struct Finisher {
    /// False when the suite-level parts had errors: tests are then only read
    /// (for their own errors), not finished.
    enabled: bool,
    vars: Map<String, Json>,
    meta: Arc<Map<String, Json>>,
    /// The file of the last test added (its tests share the path).
    file: Option<Arc<Path>>,
    asserts: Vec<crate::assertion::Assertion>,
    options: super::vars_asserts::TestOptions,
    threshold: Option<f64>,
    min_pass_rate: Option<f64>,
    used: BTreeSet<String>,
    /// Tests read so far (named `test_N` by this count when undescribed).
    read: usize,
    tests: Vec<Arc<TestCase>>,
}

impl Finisher {
    /// Adds a test case of a cases file.
    fn add(&mut self, cx: &mut FileCx<'_>, case: cases::LoadedCase) {
        self.add_read(cx, false, case);
    }

    /// Adds a test case; `flawed`: reading it reported errors (so an empty
    /// list of assertions is no news).
    fn add_read(&mut self, cx: &mut FileCx<'_>, flawed: bool, case: cases::LoadedCase) {
        self.read += 1;
        if !self.enabled {
            return;
        }
        let cases::LoadedCase {
            test: t,
            file: tfile,
            line,
            assertions: asserts,
            vars,
            options,
        } = case;
        let default_asserts = &self.asserts;
        // Exact sizes (no growth slack), and no copy when there is nothing
        // to merge: a suite of 100,000 tests holds all of these at once.
        let all_vars = if self.vars.is_empty() {
            vars
        } else {
            let mut all = self.vars.clone();
            all.extend(vars);
            all
        };
        let metadata = match &t.metadata {
            Some(own) if !own.is_empty() => {
                let mut m = (*self.meta).clone();
                m.extend(yaml_map_to_json(Some(own)));
                Arc::new(m)
            }
            _ => Arc::clone(&self.meta),
        };
        let mut assertions = Vec::with_capacity(default_asserts.len() + asserts.len());
        assertions.extend(default_asserts.iter().cloned());
        assertions.extend(asserts);
        options.or(&self.options).apply(&mut assertions);
        let mut name = t
            .description
            .as_deref()
            .map(slug)
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| format!("test_{}", self.read));
        if self.used.contains(&name) {
            let mut n = 2;
            while self.used.contains(&format!("{name}_{n}")) {
                n += 1;
            }
            name = format!("{name}_{n}");
        }
        self.used.insert(name.clone());
        let here = |tfile: &PathBuf| Location {
            file: tfile.clone(),
            line,
            col: None,
        };
        if assertions.is_empty() && !flawed {
            cx.diags.push(Diagnostic::warning(
                format!("test `{name}` has no assertions: it passes whenever the provider answers"),
                Some(here(&tfile)),
            ));
        }
        let threshold = t.threshold.or(self.threshold);
        if threshold.is_some() && !assertions.is_empty() && assertions.iter().all(|a| a.weight == 0.0) {
            cx.diags.push(Diagnostic::error(
                format!("test `{name}` has a `threshold` but every assertion has weight 0, so its score is always 0"),
                Some(here(&tfile)),
            ));
            return;
        }
        if let Some(th) = threshold.filter(|th| !(0.0..=1.0).contains(th)) {
            cx.diags.push(
                Diagnostic::error(
                    format!("test `{name}`: `threshold` must be a number from 0 to 1, got {th}"),
                    Some(here(&tfile)),
                )
                .with_help("the threshold is compared with the weighted score of the assertions, which is in [0, 1]"),
            );
            return;
        }
        let min_pass_rate = t.min_pass_rate.or(self.min_pass_rate);
        if let Some(rate) = min_pass_rate.filter(|r| !(*r > 0.0 && *r <= 1.0)) {
            cx.diags.push(
                Diagnostic::error(
                    format!(
                        "test `{name}`: `min_pass_rate` must be above 0 and at most 1 (0 could never fail), got {rate}"
                    ),
                    Some(here(&tfile)),
                )
                .with_help("the share of `--repeat` runs that must pass, e.g. 0.8"),
            );
            return;
        }
        let mut vars_ok = true;
        for a in &assertions {
            if let Err(msg) = a.check_vars(&all_vars) {
                let (file, line) = match (&a.file, a.line) {
                    (Some(f), Some(l)) if f == &tfile || default_asserts.is_empty() => (f.clone(), Some(l)),
                    _ => (tfile.clone(), line),
                };
                cx.diags.push(Diagnostic::error(
                    format!("test `{name}`: {msg}"),
                    Some(Location { file, line, col: None }),
                ));
                vars_ok = false;
            }
        }
        if !vars_ok {
            return;
        }
        let file = match &self.file {
            Some(f) if **f == *tfile => Arc::clone(f),
            _ => {
                let f: Arc<Path> = Arc::from(tfile.as_path());
                self.file = Some(Arc::clone(&f));
                f
            }
        };
        self.tests.push(Arc::new(TestCase {
            name,
            description: t.description,
            vars: Arc::new(all_vars),
            assertions,
            threshold,
            min_pass_rate,
            metadata,
            file,
            line,
        }));
    }
}

/// Validates `thresholds`: bounds in [0, 1], and every metric named by some
/// assertion of the suite (a typo would otherwise be a breach in every run).
fn suite_thresholds(
    cx: &mut FileCx<'_>,
    raw: super::raw::RawThresholds,
    tests: &[Arc<TestCase>],
) -> Option<crate::analysis::thresholds::SuiteThresholds> {
    use crate::analysis::thresholds::{MetricThreshold, SuiteThresholds};
    let at = YamlPath::root().key("thresholds");
    let mut ok = true;
    let check = |cx: &mut FileCx<'_>, v: Option<f64>, p: YamlPath| -> bool {
        match v.filter(|x| !(*x > 0.0 && *x <= 1.0)) {
            Some(x) => {
                let why = if x == 0.0 { " (0 could never fail)" } else { "" };
                cx.error(
                    format!("a suite threshold is a number above 0 and at most 1, got {x}{why}"),
                    &p,
                );
                false
            }
            None => true,
        }
    };
    ok &= check(cx, raw.pass_rate, at.key("pass_rate"));
    let named: BTreeSet<&str> = tests
        .iter()
        .flat_map(|t| t.assertions.iter().filter_map(|a| a.metric.as_deref()))
        .collect();
    let mut metrics = BTreeMap::new();
    for (name, m) in raw.metrics.unwrap_or_default() {
        let mp = at.key("metrics").key(&name);
        ok &= check(cx, m.mean, mp.key("mean"));
        ok &= check(cx, m.min, mp.key("min"));
        if m.mean.is_none() && m.min.is_none() {
            cx.error_help(
                format!("metric threshold `{name}` sets no bound"),
                &mp,
                "give `mean`, `min` or both, e.g. faithfulness: {mean: 0.85}",
            );
            ok = false;
        }
        if !named.contains(name.as_str()) {
            let help = match crate::diagnostic::nearest(&name, named.iter().copied()) {
                Some(n) => format!(
                    "did you mean `{n}`? metrics in this suite: {}",
                    named.iter().copied().collect::<Vec<_>>().join(", ")
                ),
                None if named.is_empty() => "name it on an assertion with `metric: NAME`".to_string(),
                None => format!(
                    "metrics in this suite: {}",
                    named.iter().copied().collect::<Vec<_>>().join(", ")
                ),
            };
            let loc = cx.key_at(&mp);
            cx.diags.push(
                Diagnostic::error(format!("no assertion in this suite has `metric: {name}`"), Some(loc))
                    .with_help(help),
            );
            ok = false;
        }
        metrics.insert(
            name,
            MetricThreshold {
                mean: m.mean,
                min: m.min,
            },
        );
    }
    let t = SuiteThresholds {
        pass_rate: raw.pass_rate,
        metrics,
        line: cx.key_at(&at).line,
    };
    if t.is_empty() {
        cx.error_help("`thresholds` sets nothing", &at, "set `pass_rate` and/or `metrics`");
        ok = false;
    }
    ok.then_some(t)
}
fn yaml_map_to_json(m: Option<&BTreeMap<String, Value>>) -> Map<String, Json> {
    m.map(|m| {
        m.iter()
            .filter_map(|(k, v)| serde_json::to_value(v).ok().map(|j| (k.clone(), j)))
            .collect()
    })
    .unwrap_or_default()
}
