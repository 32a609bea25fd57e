//! The validated phase of a suite: each test case with `defaultTest` merged
//! in, named and checked ([`TestCaseBuilder`]), then the suite-level checks
//! (distinct providers and prompts, `thresholds`, `gate.alpha`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Map, Value as Json};
use serde_yaml::Value;

use super::context::FileCx;
use super::{cases, slug, TestCase};
use crate::diagnostic::{Diagnostic, Location};
use crate::util::yaml_spans::YamlPath;

/// What `defaultTest` (and the suite's `metadata`) gives every test case.
pub(super) struct TestDefaults {
    /// `defaultTest.vars` (`file://` values read).
    pub vars: Map<String, Json>,
    /// The suite's `metadata`, then `defaultTest.metadata` (later wins).
    pub metadata: Arc<Map<String, Json>>,
    /// `defaultTest.assert`, placed before each test's own.
    pub assertions: Vec<crate::assertion::Assertion>,
    /// `defaultTest.options` (grader, rubric prompt).
    pub options: super::vars_asserts::TestOptions,
    /// `defaultTest.threshold`.
    pub threshold: Option<f64>,
    /// `defaultTest.min_pass_rate`.
    pub min_pass_rate: Option<f64>,
}

/// Turns each test read into its [`TestCase`]: `defaultTest` merged in, a
/// unique name, its thresholds and variables checked.
pub(super) struct TestCaseBuilder {
    /// False when the suite-level parts had errors: tests are then only read
    /// (for their own errors), not finished.
    enabled: bool,
    defaults: TestDefaults,
    /// The file of the last test added (its tests share the path).
    file: Option<Arc<Path>>,
    /// Case names given so far.
    used: BTreeSet<String>,
    /// Tests read so far (named `test_N` by this count when undescribed).
    read: usize,
    tests: Vec<Arc<TestCase>>,
}

impl TestCaseBuilder {
    /// A builder merging `defaults` into each test; with `enabled` false
    /// (the suite-level parts had errors) tests are only counted.
    pub fn new(enabled: bool, defaults: TestDefaults) -> Self {
        TestCaseBuilder {
            enabled,
            defaults,
            file: None,
            used: BTreeSet::new(),
            read: 0,
            tests: Vec::new(),
        }
    }

    /// How many tests were read (valid or not).
    pub fn read(&self) -> usize {
        self.read
    }

    /// The test cases built, in the order read.
    pub fn into_tests(self) -> Vec<Arc<TestCase>> {
        self.tests
    }

    /// Adds a test case of a cases file.
    pub fn add(&mut self, cx: &mut FileCx<'_>, case: cases::LoadedCase) {
        self.add_read(cx, false, case);
    }

    /// Adds a test case; `flawed`: reading it reported errors (so an empty
    /// list of assertions is no news).
    pub fn add_read(&mut self, cx: &mut FileCx<'_>, flawed: bool, case: cases::LoadedCase) {
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
        let default_asserts = &self.defaults.assertions;
        // Exact sizes (no growth slack), and no copy when there is nothing
        // to merge: a suite of 100,000 tests holds all of these at once.
        let all_vars = if self.defaults.vars.is_empty() {
            vars
        } else {
            let mut all = self.defaults.vars.clone();
            all.extend(vars);
            all
        };
        let metadata = match &t.metadata {
            Some(own) if !own.is_empty() => {
                let mut m = (*self.defaults.metadata).clone();
                m.extend(yaml_map_to_json(Some(own)));
                Arc::new(m)
            }
            _ => Arc::clone(&self.defaults.metadata),
        };
        let mut assertions = Vec::with_capacity(default_asserts.len() + asserts.len());
        assertions.extend(default_asserts.iter().cloned());
        assertions.extend(asserts);
        options.or(&self.defaults.options).apply(&mut assertions);
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
        let threshold = t.threshold.or(self.defaults.threshold);
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
        let min_pass_rate = t.min_pass_rate.or(self.defaults.min_pass_rate);
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
pub(super) fn suite_thresholds(
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
/// A YAML mapping as JSON (values that do not convert are left out).
pub(super) fn yaml_map_to_json(m: Option<&BTreeMap<String, Value>>) -> Map<String, Json> {
    m.map(|m| {
        m.iter()
            .filter_map(|(k, v)| serde_json::to_value(v).ok().map(|j| (k.clone(), j)))
            .collect()
    })
    .unwrap_or_default()
}

/// Checks that no two providers and no two prompts of a suite are shown
/// alike (case names must be unique: JUnit consumers keep only the first of
/// duplicate names). False after reporting the first duplicate.
pub(super) fn check_unique_labels(
    cx: &mut FileCx<'_>,
    providers: &[crate::provider::ProviderSpec],
    prompts: &[Arc<crate::prompt::Prompt>],
) -> bool {
    let mut seen = BTreeSet::new();
    for (i, spec) in providers.iter().enumerate() {
        if !seen.insert(spec.display().to_string()) {
            let at = YamlPath::root().key("providers").index(i);
            cx.error_help(
                format!("provider `{}` appears twice in this suite", spec.display()),
                &at,
                "give each entry a distinct `label` (e.g. label: gpt-4o-mini-t0)",
            );
            return false;
        }
    }
    let mut seen = BTreeSet::new();
    for (i, prompt) in prompts.iter().enumerate() {
        if !seen.insert(prompt.label()) {
            let at = YamlPath::root().key("prompts").index(i);
            cx.error_help(
                format!("prompt `{}` appears twice in this suite", prompt.label()),
                &at,
                format!(
                    "list it once; to compare a version with it, run `promptgate test --prompt {}=PATH`",
                    prompt.name
                ),
            );
            return false;
        }
    }
    true
}

/// Checks `gate.alpha`: a significance level in (0, 1).
///
/// # Errors
/// `Err(())` after reporting a value outside (0, 1).
pub(super) fn check_gate_alpha(cx: &mut FileCx<'_>, alpha: Option<f64>) -> Result<Option<f64>, ()> {
    match alpha {
        Some(a) if !(a > 0.0 && a < 1.0) => {
            cx.error_help(
                format!("`gate.alpha` must be between 0 and 1 (exclusive), got {a}"),
                &YamlPath::root().key("gate").key("alpha"),
                "0.05 is the usual significance level",
            );
            Err(())
        }
        a => Ok(a),
    }
}
