//! Planning: which cases run, and with which provider instance.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::diagnostic::{Diagnostic, Diagnostics};
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
    let mut slots: BTreeMap<String, Arc<ProviderSlot>> = BTreeMap::new();
    let mut diags = Diagnostics::default();
    let mut cases = Vec::new();
    let mut suite_count = 0;
    for suite in suites {
        let suite = Arc::new(suite);
        let before = cases.len();
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
                for test in &suite.tests {
                    let case = Case {
                        index: 0,
                        suite: suite.clone(),
                        test: test.clone(),
                        prompt: prompt.clone(),
                        provider: slot.clone(),
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
    Ok(Plan {
        cases,
        providers,
        suites: suite_count,
    })
}
