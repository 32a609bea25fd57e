//! Planning: which cases run, and with which provider instance.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::assertion::GraderProviders;
use crate::diagnostic::{Diagnostic, Diagnostics, Location};
use crate::prompt::Prompt;
use crate::provider::resilience::Resilient;
use crate::provider::{self, Env, Provider, ProviderKind};
pub use crate::settings::Shard;
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
    /// `--repeat N`: runs of every case (0 or 1 = once).
    pub repeat: u32,
    /// `--shard I/N`.
    pub shard: Option<Shard>,
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
    /// are added or removed. A test without a description is named by its
    /// position (`test_N`), so it is identified by its content instead (its
    /// vars and assertions).
    pub fn identity(&self) -> String {
        let test = if self.test.description.is_some() {
            self.test.name.clone()
        } else {
            use sha2::{Digest, Sha256};
            let mut h = Sha256::new();
            h.update(serde_json::to_string(&*self.test.vars).unwrap_or_default());
            for a in &self.test.assertions {
                h.update(b"\0");
                h.update(a.type_name());
                h.update(a.value.as_ref().map(|v| v.to_string()).unwrap_or_default());
            }
            format!("content:{}", hex::encode(&h.finalize()[..12]))
        };
        format!(
            "{}\u{0}{}\u{0}{}\u{0}{}",
            self.suite.file.display(),
            test,
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
    /// Distinct grader provider instances (never shared with `providers`, so
    /// a grader call never waits on the `max_concurrency` of the case that
    /// made it).
    pub graders: Vec<Arc<ProviderSlot>>,
    /// Number of suites with at least one case.
    pub suites: usize,
    /// `--shard I/N`, when the plan is one part of a split.
    pub shard: Option<Shard>,
    /// The plan's digest (SHA-256, hex): the same for every shard of one
    /// split and for the unsharded run, different when the suites, cases
    /// files, prompts, providers, graders, filters or repeats differ (see
    /// `PlanDigest` in the source for what it covers).
    pub digest: String,
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

/// [`plan`], with the grader fallbacks, repeats and shard of `opts`
/// (repeats of a case are adjacent in the plan).
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
    let repeats = opts.repeat.max(1);
    let mut slots: BTreeMap<String, Arc<ProviderSlot>> = BTreeMap::new();
    let mut grader_slots: BTreeMap<String, Arc<ProviderSlot>> = BTreeMap::new();
    let mut diags = Diagnostics::default();
    let mut cases = Vec::new();
    let mut suite_count = 0;
    let mut digest = PlanDigest::new(repeats);
    // Most tests grade nothing: they share one empty list of slots.
    let no_graders: Arc<[GraderSlots]> = Arc::from(Vec::new());
    for mut suite in suites {
        // The cases hold the tests, not the suite: a test is freed once its
        // cases have run.
        let tests = std::mem::take(&mut suite.tests);
        let suite = Arc::new(suite);
        let suite_hash = file_hash(&suite.file);
        let before = cases.len();
        let test_graders: Vec<Arc<[GraderSlots]>> = tests
            .iter()
            .map(|t| {
                resolve_graders(t, &opts.graders, env, client, work_dir, &mut grader_slots, &mut diags)
                    .unwrap_or_else(|| no_graders.clone())
            })
            .collect();
        let test_hashes: Vec<[u8; 32]> = tests.iter().zip(&test_graders).map(|(t, g)| test_hash(t, g)).collect();
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
                                diags.push(Diagnostic::error(msg.to_string(), None));
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
                        slots.insert(key.clone(), slot.clone());
                        slot
                    }
                };
                for (t, test) in tests.iter().enumerate() {
                    let case = Case {
                        index: 0,
                        suite: suite.clone(),
                        test: test.clone(),
                        prompt: prompt.clone(),
                        provider: slot.clone(),
                        repeat: 0,
                        repeats,
                        graders: test_graders[t].clone(),
                    };
                    if !case.matches(filters) {
                        continue;
                    }
                    let identity = case.identity();
                    digest.add(&[
                        suite_hash.as_bytes(),
                        identity.as_bytes(),
                        &test_hashes[t],
                        prompt.sha256.as_bytes(),
                        key.as_bytes(),
                    ]);
                    if opts.shard.is_some_and(|s| !s.contains(&identity)) {
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
        shard: opts.shard,
        digest: digest.finish(),
    })
}

/// The SHA-256 of a file's content, hex; `unreadable` when it cannot be read.
fn file_hash(path: &Path) -> String {
    use sha2::{Digest, Sha256};
    match std::fs::read(path) {
        Ok(bytes) => hex::encode(Sha256::digest(&bytes)),
        Err(_) => "unreadable".to_string(),
    }
}

/// What a test contributes to the plan digest: its vars, assertions
/// (type, value, threshold, weight, metric), threshold and min_pass_rate
/// (cases files are not in the suite file's hash), and its graders' ids and
/// configs (`--grader` is not in any file).
fn test_hash(test: &TestCase, graders: &[GraderSlots]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    let mut field = |bytes: &[u8]| {
        h.update((bytes.len() as u64).to_be_bytes());
        h.update(bytes);
    };
    field(serde_json::to_string(&*test.vars).unwrap_or_default().as_bytes());
    for a in &test.assertions {
        field(a.type_name().as_bytes());
        field(a.value.as_ref().map(|v| v.to_string()).unwrap_or_default().as_bytes());
        field(format!("{:?} {} {:?}", a.threshold, a.weight, a.metric).as_bytes());
    }
    field(format!("{:?} {:?}", test.threshold, test.min_pass_rate).as_bytes());
    for g in graders {
        for slot in [&g.text, &g.embedding].into_iter().flatten() {
            field(slot.spec.id.as_bytes());
            field(serde_json::to_string(&slot.spec.config).unwrap_or_default().as_bytes());
        }
    }
    h.finalize().into()
}

/// The digest of a plan: SHA-256 over the sorted per-case hashes of every
/// case the filters select, *before* sharding, then the repeat count. A
/// case's hash covers its suite file's content hash, its identity
/// ([`Case::identity`]: suite file, test, prompt name, provider), its test's
/// content ([`test_hash`]), the prompt's full SHA-256, and the provider's
/// id, label and config. Two runs with the same digest ran the same cases
/// the same way, so their shards can be merged; the order of suites and
/// cases does not matter. 32 bytes per case are kept until the end.
struct PlanDigest {
    cases: Vec<[u8; 32]>,
    repeats: u32,
}

impl PlanDigest {
    fn new(repeats: u32) -> Self {
        PlanDigest {
            cases: Vec::new(),
            repeats,
        }
    }

    /// Adds one case, from its length-prefixed parts.
    fn add(&mut self, parts: &[&[u8]]) {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for part in parts {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part);
        }
        self.cases.push(h.finalize().into());
    }

    fn finish(mut self) -> String {
        use sha2::{Digest, Sha256};
        self.cases.sort_unstable();
        let mut h = Sha256::new();
        for c in &self.cases {
            h.update(c);
        }
        h.update(b"repeat");
        h.update(self.repeats.to_be_bytes());
        hex::encode(h.finalize())
    }
}

/// The grader slots of every assertion of `test` (`None` when it has no
/// model-graded assertion); a model-graded assertion
/// without a grader is an error at its line.
fn resolve_graders(
    test: &TestCase,
    fallback: &GraderProviders,
    env: &Env,
    client: &reqwest::Client,
    work_dir: &Path,
    slots: &mut BTreeMap<String, Arc<ProviderSlot>>,
    diags: &mut Diagnostics,
) -> Option<Arc<[GraderSlots]>> {
    if !test.assertions.iter().any(|a| a.kind.is_model_graded()) {
        // No slots (indexed only for model-graded assertions).
        return None;
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
                    chosen.text.as_deref(),
                    "a grader",
                    "--grader",
                    "defaultTest.options.provider",
                    "openai:chat:gpt-4o-mini",
                );
            }
            if a.kind.needs_embedding() {
                g.embedding = need(
                    chosen.embedding.as_deref(),
                    "an embedding grader",
                    "--grader-embedding",
                    "defaultTest.options.provider.embedding",
                    "openai:embedding:text-embedding-3-small",
                );
            }
        }
        out.push(g);
    }
    Some(out.into())
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
        provider: Arc::new(Resilient::new(built, &spec.config)),
        limit: spec.config.max_concurrency.map(|n| Arc::new(Semaphore::new(n))),
    });
    slots.insert(key, slot.clone());
    Some(slot)
}

/// `--max-cost` can only bound calls it can price: checks, before anything
/// runs, that every provider and grader of `plan` that calls a paid API has
/// a price (its `config.cost`, `[prices."MODEL"]`, or the built-in table).
///
/// Exempt: `echo` and `exec:` (no token bill), and `ollama:chat` (a local
/// server: free unless priced in its `config.cost`). Replayed runs call
/// nothing, so the caller skips this check for them. An OpenAI-compatible
/// server that is free (vLLM, LM Studio) is declared so with
/// `config: {cost: {input: 0, output: 0}}`.
///
/// # Errors
/// One diagnostic per unpriced provider or grader, naming it, its model, and
/// the two ways to give a price.
pub fn require_prices(plan: &Plan, prices: &crate::provider::pricing::PriceTable) -> Result<(), Diagnostics> {
    use crate::diagnostic::{Diagnostic, Diagnostics};
    let mut diags = Diagnostics::default();
    let mut seen = std::collections::BTreeSet::new();
    let slots = plan
        .providers
        .iter()
        .map(|s| ("provider", s))
        .chain(plan.graders.iter().map(|s| ("grader", s)));
    for (what, slot) in slots {
        let exempt = slot.provider.is_local()
            || matches!(
                crate::provider::ProviderKind::parse(&slot.spec.id),
                Ok(crate::provider::ProviderKind::Echo
                    | crate::provider::ProviderKind::Exec { .. }
                    | crate::provider::ProviderKind::OllamaChat { .. })
            );
        let Some(model) = slot.model.as_deref().filter(|_| !exempt) else {
            continue;
        };
        if prices.price(model, slot.spec.config.cost).is_some() || !seen.insert((what, &slot.spec.id)) {
            continue;
        }
        diags.push(
            Diagnostic::error(
                format!(
                    "--max-cost: {what} {} (model `{model}`) has no price, so its calls could not be counted against the budget",
                    slot.spec.id
                ),
                None,
            )
            .with_help(format!(
                "give it a price in USD per million tokens: on the {what}, `config: {{cost: {{input: 0.15, output: 0.60}}}}`, or in promptgate.toml, `[prices.\"{model}\"]` with `input = 0.15` and `output = 0.60` (0 for a free model)"
            )),
        );
    }
    if diags.has_errors() {
        Err(diags)
    } else {
        Ok(())
    }
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
