//! Planning: which cases run, and with which provider instance.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::assertion::GraderProviders;
use crate::diagnostic::{Diagnostic, Diagnostics, Location};
use crate::prompt::Prompt;
use crate::provider::{self, Env, Provider, ProviderKind};
use crate::suite::{ProviderSpec, Suite, TestCase};

/// A provider instance shared by every case that uses the same id and config.
pub struct ProviderSlot {
    /// The suite's entry.
    pub spec: ProviderSpec,
    /// The model named by the id, if any.
    pub model: Option<String>,
    /// The built provider.
    pub provider: Arc<dyn Provider>,
    /// `max_concurrency`, when set.
    pub limit: Option<Arc<Semaphore>>,
}

impl std::fmt::Debug for ProviderSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderSlot").field("spec", &self.spec).finish()
    }
}

/// One unit of work: a test of a suite, for one prompt and one provider.
#[derive(Debug, Clone)]
pub struct Case {
    /// Position in the plan.
    pub index: usize,
    /// The suite.
    pub suite: Arc<Suite>,
    /// The test case.
    pub test: Arc<TestCase>,
    /// The prompt under test.
    pub prompt: Arc<Prompt>,
    /// The provider.
    pub provider: Arc<ProviderSlot>,
    /// The graders of the test's assertions, by assertion index; an empty
    /// list when the test has no model-graded assertion. Shared by every
    /// case of the test.
    pub graders: Arc<[GraderSlots]>,
}

/// The grader providers one model-graded assertion calls.
#[derive(Debug, Clone, Default)]
pub struct GraderSlots {
    /// The chat model that judges.
    pub text: Option<Arc<ProviderSlot>>,
    /// The embedding model.
    pub embedding: Option<Arc<ProviderSlot>>,
}

/// Planning settings beyond the suites.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// Graders for model-graded assertions that name none (`--grader`,
    /// `--grader-embedding`): the last fallback, after the assertion's
    /// `provider` and the test's and `defaultTest`'s `options.provider`.
    pub graders: GraderProviders,
}

impl Case {
    /// `suite::test`.
    pub fn name(&self) -> String {
        format!("{}::{}", self.suite.name, self.test.name)
    }

    /// `suite::test [prompt@hash provider]`.
    pub fn full_name(&self) -> String {
        format!(
            "{} [{} {}]",
            self.name(),
            self.prompt.label(),
            self.provider.spec.display()
        )
    }

    /// True when any pattern is a substring of the full name (libtest's rule).
    pub fn matches(&self, filters: &[String]) -> bool {
        if filters.is_empty() {
            return true;
        }
        let full = self.full_name();
        filters.iter().any(|f| full.contains(f.as_str()))
    }
}

/// The cases of a run, in plan order, and the providers they use.
#[derive(Debug)]
pub struct Plan {
    /// Cases to run.
    pub cases: Vec<Case>,
    /// Distinct provider instances.
    pub providers: Vec<Arc<ProviderSlot>>,
    /// Distinct grader provider instances (never shared with `providers`, so
    /// a grader call never waits on the `max_concurrency` of the case that
    /// made it).
    pub graders: Vec<Arc<ProviderSlot>>,
    /// Number of suites with at least one case.
    pub suites: usize,
}

/// Plans the run: every suite × prompt × provider × test that `filters` selects.
///
/// # Errors
/// A provider whose model cannot be determined.
pub fn plan(
    suites: Vec<Suite>,
    filters: &[String],
    env: &Env,
    client: &reqwest::Client,
    work_dir: &Path,
) -> Result<Plan, Diagnostics> {
    plan_with(suites, filters, env, client, work_dir, &PlanOptions::default())
}

/// [`plan`], with the grader fallbacks of `opts`.
///
/// # Errors
/// A provider that cannot be built, or a model-graded assertion with no grader.
pub fn plan_with(
    suites: Vec<Suite>,
    filters: &[String],
    env: &Env,
    client: &reqwest::Client,
    work_dir: &Path,
    opts: &PlanOptions,
) -> Result<Plan, Diagnostics> {
    let mut slots: BTreeMap<String, Arc<ProviderSlot>> = BTreeMap::new();
    let mut grader_slots: BTreeMap<String, Arc<ProviderSlot>> = BTreeMap::new();
    let mut diags = Diagnostics::default();
    let mut cases = Vec::new();
    let mut suite_count = 0;
    for suite in suites {
        let suite = Arc::new(suite);
        let before = cases.len();
        let test_graders: Vec<Arc<[GraderSlots]>> = suite
            .tests
            .iter()
            .map(|t| resolve_graders(t, &opts.graders, env, client, work_dir, &mut grader_slots, &mut diags))
            .collect();
        for prompt in &suite.prompts {
            for spec in &suite.providers {
                // One instance per id, label and config: a label is part of
                // the case name, so entries that differ only by label stay apart.
                let key = format!(
                    "{}\u{0}{}\u{0}{}",
                    spec.id,
                    spec.label.as_deref().unwrap_or(""),
                    serde_json::to_string(&spec.config).unwrap_or_default()
                );
                let slot = match slots.get(&key) {
                    Some(s) => s.clone(),
                    None => {
                        let built = match provider::build(&spec.id, &spec.config, env, client, work_dir) {
                            Ok(p) => p,
                            Err(msg) => {
                                diags.push(Diagnostic::error(msg, None));
                                continue;
                            }
                        };
                        let slot = Arc::new(ProviderSlot {
                            spec: spec.clone(),
                            model: ProviderKind::parse(&spec.id)
                                .ok()
                                .and_then(|k| k.model().map(str::to_string)),
                            provider: built,
                            limit: spec.config.max_concurrency.map(|n| Arc::new(Semaphore::new(n))),
                        });
                        slots.insert(key, slot.clone());
                        slot
                    }
                };
                for (t, test) in suite.tests.iter().enumerate() {
                    let case = Case {
                        index: 0,
                        suite: suite.clone(),
                        test: test.clone(),
                        prompt: prompt.clone(),
                        provider: slot.clone(),
                        graders: test_graders[t].clone(),
                    };
                    if case.matches(filters) {
                        cases.push(case);
                    }
                }
            }
        }
        if cases.len() > before {
            suite_count += 1;
        }
    }
    if diags.has_errors() {
        return Err(diags);
    }
    for (i, c) in cases.iter_mut().enumerate() {
        c.index = i;
    }
    let used: std::collections::BTreeSet<*const ProviderSlot> =
        cases.iter().map(|c| Arc::as_ptr(&c.provider)).collect();
    let providers = slots.into_values().filter(|s| used.contains(&Arc::as_ptr(s))).collect();
    let used: std::collections::BTreeSet<*const ProviderSlot> = cases
        .iter()
        .flat_map(|c| c.graders.iter().flat_map(|g| [g.text.as_ref(), g.embedding.as_ref()]))
        .flatten()
        .map(Arc::as_ptr)
        .collect();
    let graders = grader_slots
        .into_values()
        .filter(|s| used.contains(&Arc::as_ptr(s)))
        .collect();
    Ok(Plan {
        cases,
        providers,
        graders,
        suites: suite_count,
    })
}

/// The grader slots of every assertion of `test`; a model-graded assertion
/// without a grader is an error at its line.
fn resolve_graders(
    test: &TestCase,
    fallback: &GraderProviders,
    env: &Env,
    client: &reqwest::Client,
    work_dir: &Path,
    slots: &mut BTreeMap<String, Arc<ProviderSlot>>,
    diags: &mut Diagnostics,
) -> Arc<[GraderSlots]> {
    if !test.assertions.iter().any(|a| a.kind.is_model_graded()) {
        // Most tests grade nothing: no slots (indexed only for model-graded assertions).
        return Arc::from(Vec::new());
    }
    let mut out = Vec::with_capacity(test.assertions.len());
    for a in &test.assertions {
        let mut g = GraderSlots::default();
        if a.kind.is_model_graded() {
            let chosen = a.graders.or(fallback);
            let loc = a.file.as_ref().map(|f| Location {
                file: f.clone(),
                line: a.line,
                col: None,
            });
            let mut need = |spec: Option<&ProviderSpec>, what: &str, flag: &str, key: &str, example: &str| match spec {
                Some(spec) => grader_slot(spec, env, client, work_dir, slots, diags, loc.clone()),
                None => {
                    diags.push(
                            Diagnostic::error(
                                format!(
                                    "model-graded assertion `{}` needs {what}: set {flag} or {key}",
                                    a.type_name()
                                ),
                                loc.clone(),
                            )
                            .with_help(format!(
                                "e.g. `promptgate test {flag} {example}`, or in the suite: defaultTest: {{options: {{provider: {example}}}}}; promptgate never picks a paid grader by itself"
                            )),
                        );
                    None
                }
            };
            if a.kind.needs_text_grader() {
                g.text = need(
                    chosen.text.as_ref(),
                    "a grader",
                    "--grader",
                    "defaultTest.options.provider",
                    "openai:chat:gpt-4o-mini",
                );
            }
            if a.kind.needs_embedding() {
                g.embedding = need(
                    chosen.embedding.as_ref(),
                    "an embedding grader",
                    "--grader-embedding",
                    "defaultTest.options.provider.embedding",
                    "openai:embedding:text-embedding-3-small",
                );
            }
        }
        out.push(g);
    }
    out.into()
}

fn grader_slot(
    spec: &ProviderSpec,
    env: &Env,
    client: &reqwest::Client,
    work_dir: &Path,
    slots: &mut BTreeMap<String, Arc<ProviderSlot>>,
    diags: &mut Diagnostics,
    loc: Option<Location>,
) -> Option<Arc<ProviderSlot>> {
    let key = format!(
        "{}\u{0}{}",
        spec.id,
        serde_json::to_string(&spec.config).unwrap_or_default()
    );
    if let Some(s) = slots.get(&key) {
        return Some(s.clone());
    }
    let built = match provider::build(&spec.id, &spec.config, env, client, work_dir) {
        Ok(p) => p,
        Err(msg) => {
            diags.push(Diagnostic::error(format!("grader: {msg}"), loc));
            return None;
        }
    };
    let slot = Arc::new(ProviderSlot {
        spec: spec.clone(),
        model: ProviderKind::parse(&spec.id)
            .ok()
            .and_then(|k| k.model().map(str::to_string)),
        provider: built,
        limit: spec.config.max_concurrency.map(|n| Arc::new(Semaphore::new(n))),
    });
    slots.insert(key, slot.clone());
    Some(slot)
}
