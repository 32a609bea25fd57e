//! Planning: which cases run, and with which provider instance.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::prompt::Prompt;
use crate::provider::resilience::Resilient;
use crate::provider::{self, Env, Provider, ProviderKind};
use crate::suite::{ProviderSpec, Suite, TestCase};

/// A provider instance shared by every case that uses the same id and config.
pub struct ProviderSlot {
    /// The suite's entry.
    pub spec: ProviderSpec,
    /// The model named by the id, if any.
    pub model: Option<String>,
    /// The built provider, behind its retries, rate limits and circuit
    /// breaker ([`Resilient`]).
    pub provider: Arc<dyn Provider>,
    /// `max_concurrency`, when set.
    pub limit: Option<Arc<Semaphore>>,
}

impl Plan {
    /// Distinct cases (repeats of a case count once).
    pub fn distinct_cases(&self) -> usize {
        self.cases.iter().filter(|c| c.repeat == 0).count()
    }
}

impl std::fmt::Debug for ProviderSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderSlot").field("spec", &self.spec).finish()
    }
}

/// One unit of work: a test of a suite, for one prompt and one provider.
#[derive(Debug, Clone)]
pub struct Case {
    /// Position of the case in the plan (repeats of a case share it).
    pub index: usize,
    /// The suite.
    pub suite: Arc<Suite>,
    /// The test case.
    pub test: Arc<TestCase>,
    /// The prompt under test.
    pub prompt: Arc<Prompt>,
    /// The provider.
    pub provider: Arc<ProviderSlot>,
    /// Which run of the case this is, 0-based (`--repeat N` runs 0..N).
    pub repeat: u32,
    /// How many times the case runs (`--repeat`, default 1).
    pub repeats: u32,
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

    /// The case's identity for sharding: suite file, test, prompt name and
    /// provider — not its position, so a case keeps its shard when others
    /// are added or removed.
    pub fn identity(&self) -> String {
        format!(
            "{}\u{0}{}\u{0}{}\u{0}{}",
            self.suite.file.display(),
            self.test.name,
            self.prompt.name,
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

/// `--shard I/N`: run the I-th of N parts (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This part, 1 to `total`.
    pub index: u32,
    /// Number of parts, at least 1.
    pub total: u32,
}

impl Shard {
    /// Parses `I/N` with 1 ≤ I ≤ N.
    ///
    /// # Errors
    /// A message saying what form is expected.
    pub fn parse(s: &str) -> Result<Shard, String> {
        let bad = || format!("expected I/N with 1 <= I <= N (e.g. 2/3), got `{s}`");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: u32 = i.trim().parse().map_err(|_| bad())?;
        let total: u32 = n.trim().parse().map_err(|_| bad())?;
        if index == 0 || total == 0 || index > total {
            return Err(bad());
        }
        Ok(Shard { index, total })
    }

    /// True when the case with `identity` belongs to this shard: the first
    /// 8 bytes of the SHA-256 of the identity, modulo N, equal I − 1. Stable
    /// across runs, machines and plan changes.
    pub fn contains(&self, identity: &str) -> bool {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(identity.as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        u64::from_be_bytes(first) % u64::from(self.total) == u64::from(self.index - 1)
    }
}

/// What to plan beyond the suites themselves.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// `--filter` patterns (any match; none = every case).
    pub filters: Vec<String>,
    /// `--repeat N`: runs of every case (0 or 1 = once).
    pub repeat: u32,
    /// `--shard I/N`.
    pub shard: Option<Shard>,
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
    let opts = PlanOptions {
        filters: filters.to_vec(),
        ..Default::default()
    };
    plan_with(suites, &opts, env, client, work_dir)
}

/// Plans the run: every suite × prompt × provider × test that the filters
/// select and the shard holds, each `repeat` times (repeats of a case are
/// adjacent in the plan).
///
/// # Errors
/// A provider whose model cannot be determined.
pub fn plan_with(
    suites: Vec<Suite>,
    opts: &PlanOptions,
    env: &Env,
    client: &reqwest::Client,
    work_dir: &Path,
) -> Result<Plan, Diagnostics> {
    let filters = &opts.filters;
    let repeats = opts.repeat.max(1);
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
                            provider: Arc::new(Resilient::new(built, &spec.config)),
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
                        repeat: 0,
                        repeats,
                    };
                    if !case.matches(filters) || opts.shard.is_some_and(|s| !s.contains(&case.identity())) {
                        continue;
                    }
                    for repeat in 0..repeats {
                        cases.push(Case { repeat, ..case.clone() });
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
    // Repeats of a case share its index: the runner combines them into one result.
    let mut next = 0;
    for c in cases.iter_mut() {
        if c.repeat == 0 {
            next += 1;
        }
        c.index = next - 1;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_shards() {
        assert_eq!(Shard::parse("2/3"), Ok(Shard { index: 2, total: 3 }));
        for bad in ["0/3", "4/3", "1/0", "x/3", "3", ""] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_identity_is_in_exactly_one_shard_and_shards_are_balanced() {
        let shards: Vec<Shard> = (1..=3).map(|i| Shard { index: i, total: 3 }).collect();
        let mut sizes = [0usize; 3];
        for n in 0..3000 {
            let id = format!("suites/a.yaml\u{0}test_{n}\u{0}p\u{0}echo");
            let homes: Vec<usize> = (0..3).filter(|&i| shards[i].contains(&id)).collect();
            assert_eq!(homes.len(), 1, "{id}");
            sizes[homes[0]] += 1;
        }
        assert!(sizes.iter().all(|&s| (900..1100).contains(&s)), "{sizes:?}");
        // Stable: the hash of the identity, nothing else.
        assert!(Shard { index: 1, total: 1 }.contains("anything"));
    }
}
