//! Executing a plan.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{mpsc, Semaphore};

use super::plan::{Case, Plan};
use crate::assertion::graded::GradeInput;
use crate::assertion::{aggregate, EvalContext, GraderBackend, GraderError};
use crate::cache::{cache_key, is_deterministic, CallRecord, Store};
use crate::provider::pricing::{Budget, PriceTable};
use crate::provider::{CachePolicy, Provider, ProviderError, ProviderRequest, ProviderResponse};
use crate::provider::{Message, ModelSettings};
use crate::recording::{request_key, Entry, Mode, RecordingStore};
use crate::report::Reporter;
use crate::report::{Event, RunInfo};
use crate::result::GraderCall;
use crate::result::{combine_repeats, AssertionResult, CaseResult, RunSummary, Verdict};
use crate::template::Templates;

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Most cases in flight at once (`-j`), at least 1.
    pub jobs: usize,
    /// Stop scheduling new cases after the first failure or error.
    pub fail_fast: bool,
    /// `--min-pass-rate`: the share of `--repeat` runs that must pass when
    /// the test sets no `min_pass_rate` (default 1.0).
    pub min_pass_rate: f64,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            jobs: 8,
            fail_fast: false,
            min_pass_rate: 1.0,
        }
    }
}

/// What every case needs, shared.
#[derive(Debug)]
pub struct RunContext {
    /// The compiled templates.
    pub templates: Templates,
    /// Recordings (record / replay / live).
    pub recordings: RecordingStore,
    /// The response cache and call log (live and record modes), when open.
    pub store: Option<Store>,
    /// Whether the cache may answer (false with `--no-cache`; calls are still logged and stored).
    pub use_cache: bool,
    /// Prices, for the cost of every call.
    pub prices: PriceTable,
    /// `--max-cost`, when set.
    pub budget: Option<Arc<Budget>>,
}

impl RunContext {
    /// A context without cache, call log or budget, with the built-in prices.
    pub fn new(templates: Templates, recordings: RecordingStore) -> Self {
        RunContext {
            templates,
            recordings,
            store: None,
            use_cache: false,
            prices: PriceTable::default(),
            budget: None,
        }
    }
}

/// Runs `plan`, sending every event to every reporter, and returns the
/// summary. Reporter I/O errors are returned after the run completes.
///
/// # Errors
/// The first reporter error (the run itself always completes).
pub async fn run(
    plan: Plan,
    ctx: Arc<RunContext>,
    opts: &RunOptions,
    reporters: &mut [Box<dyn Reporter>],
) -> (RunSummary, Vec<std::io::Error>) {
    let started = Instant::now();
    let mut report_errors = Vec::new();
    let mut emit = |ev: &Event, errs: &mut Vec<std::io::Error>| {
        for r in reporters.iter_mut() {
            if let Err(e) = r.on_event(ev) {
                errs.push(e);
            }
        }
    };
    let total = plan.distinct_cases();
    let repeats = plan.cases.first().map_or(1, |c| c.repeats.max(1)) as usize;
    emit(
        &Event::RunStarted(RunInfo {
            total_cases: total,
            suites: plan.suites,
            started_at: chrono::Local::now(),
            shard: plan.shard,
            plan_digest: Some(plan.digest.clone()),
        }),
        &mut report_errors,
    );

    let (tx, mut rx) = mpsc::unbounded_channel::<CaseResult>();
    let global = Arc::new(Semaphore::new(opts.jobs.max(1)));
    let stop = Arc::new(AtomicU8::new(RUNNING));
    // Ctrl-C: stop scheduling, let the cases in flight finish, report the
    // rest as skipped and write every report. A second Ctrl-C exits at once.
    let on_interrupt = {
        let stop = stop.clone();
        let ctx = ctx.clone();
        // Registered now, before any case starts, so an early Ctrl-C is never
        // handled by the default action (which would leave no reports).
        let mut interrupts = Interrupts::listen();
        tokio::spawn(async move {
            if interrupts.next().await {
                stop.store(INTERRUPTED, Ordering::SeqCst);
                eprintln!("\ninterrupted: finishing the cases in flight (Ctrl-C again to exit now)");
                if interrupts.next().await {
                    // Keep what was recorded (paid for) before leaving; reports
                    // are not written (their temporary files are left behind).
                    if let Err(e) = ctx.recordings.save() {
                        eprintln!("error: saving recordings: {e}");
                    }
                    if let Some(Err(e)) = ctx.store.as_ref().map(Store::flush) {
                        eprintln!("error: {e}");
                    }
                    std::process::exit(130);
                }
            }
        })
    };
    // One feeder per provider instance, so that a provider waiting on its own
    // `max_concurrency` never holds `-j` slots other providers could use.
    // With `-j 1` there is nothing to share: one feeder runs the cases in
    // plan order, so a sequential run (and what --fail-fast skips) is
    // reproducible.
    let mut thresholds = ThresholdGroups::new(&plan.cases);
    let mut groups: BTreeMap<*const super::plan::ProviderSlot, Vec<Case>> = BTreeMap::new();
    if opts.jobs <= 1 {
        groups.insert(std::ptr::null(), plan.cases);
    } else {
        for case in plan.cases {
            groups.entry(Arc::as_ptr(&case.provider)).or_default().push(case);
        }
    }
    for (_, cases) in groups {
        let tx = tx.clone();
        let global = global.clone();
        let stop = stop.clone();
        let ctx = ctx.clone();
        let fail_fast = opts.fail_fast;
        let release_on_backoff = opts.jobs > 1;
        tokio::spawn(async move { feed(cases, ctx, global, stop, fail_fast, release_on_backoff, tx).await });
    }
    drop(tx);

    let mut summary = RunSummary::default();
    // Runs of a repeated case are held until the last one arrives, then
    // combined into one result (reporters see cases, never runs).
    let mut pending: std::collections::HashMap<usize, Vec<CaseResult>> = std::collections::HashMap::new();
    while let Some(result) = rx.recv().await {
        let result = if repeats > 1 {
            let index = result.index;
            let runs = pending.entry(index).or_default();
            runs.push(result);
            if runs.len() < repeats {
                continue;
            }
            let runs = pending.remove(&index).unwrap_or_default();
            let rate = runs[0].min_pass_rate.unwrap_or(opts.min_pass_rate);
            combine_repeats(runs, rate)
        } else {
            result
        };
        summary.add(&result);
        thresholds.add(&result);
        emit(&Event::CaseFinished(Arc::new(result)), &mut report_errors);
    }
    on_interrupt.abort();
    for outcome in thresholds.finish() {
        match outcome.verdict {
            Verdict::Pass => summary.thresholds_passed += 1,
            Verdict::Fail => summary.thresholds_failed += 1,
            _ => summary.thresholds_errored += 1,
        }
        emit(&Event::ThresholdsChecked(Arc::new(outcome)), &mut report_errors);
    }
    summary.duration_ms = started.elapsed().as_millis() as u64;
    if let Err(e) = ctx.recordings.save() {
        report_errors.push(e);
    }
    if let Some(Err(e)) = ctx.store.as_ref().map(Store::flush) {
        report_errors.push(std::io::Error::other(e));
    }
    emit(&Event::RunFinished(summary.clone()), &mut report_errors);
    (summary, report_errors)
}

async fn feed(
    cases: Vec<Case>,
    ctx: Arc<RunContext>,
    global: Arc<Semaphore>,
    stop: Arc<AtomicU8>,
    fail_fast: bool,
    release_on_backoff: bool,
    tx: mpsc::UnboundedSender<CaseResult>,
) {
    let mut tasks = tokio::task::JoinSet::new();
    let mut running: BTreeMap<tokio::task::Id, Case> = BTreeMap::new();
    for case in cases {
        let why = stop.load(Ordering::SeqCst);
        if why != RUNNING {
            let _ = tx.send(skipped(&case, why));
            continue;
        }
        let provider_permit = match &case.provider.limit {
            Some(sem) => sem.clone().acquire_owned().await.ok().map(|p| (sem.clone(), p)),
            None => None,
        };
        let Ok(permit) = global.clone().acquire_owned().await else {
            break;
        };
        let slot = crate::provider::slot::Slot::new((global.clone(), permit), provider_permit, release_on_backoff);
        let why = stop.load(Ordering::SeqCst);
        if why != RUNNING {
            let _ = tx.send(skipped(&case, why));
            continue;
        }
        let (ctx2, stop2, tx2, case2) = (ctx.clone(), stop.clone(), tx.clone(), case.clone());
        let handle = tasks.spawn(slot.hold(async move {
            let result = run_case(&case2, &ctx2).await;
            if fail_fast && matches!(result.verdict, Verdict::Fail | Verdict::Error) {
                let _ = stop2.compare_exchange(RUNNING, FAIL_FAST, Ordering::SeqCst, Ordering::SeqCst);
            }
            let _ = tx2.send(result);
        }));
        running.insert(handle.id(), case);
        while let Some(done) = tasks.try_join_next_with_id() {
            settle(done, &mut running, &tx);
        }
    }
    while let Some(done) = tasks.join_next_with_id().await {
        settle(done, &mut running, &tx);
    }
}

/// Removes a finished task; a task that panicked still yields a result.
fn settle(
    done: Result<(tokio::task::Id, ()), tokio::task::JoinError>,
    running: &mut BTreeMap<tokio::task::Id, Case>,
    tx: &mpsc::UnboundedSender<CaseResult>,
) {
    match done {
        Ok((id, ())) => {
            running.remove(&id);
        }
        Err(e) => {
            if let Some(case) = running.remove(&e.id()) {
                let mut r = base_result(&case);
                r.verdict = Verdict::Error;
                r.error = Some(format!("internal error: the case's task failed: {e}"));
                let _ = tx.send(r);
            }
        }
    }
}

fn base_result(case: &Case) -> CaseResult {
    CaseResult {
        index: case.index,
        name: case.name(),
        suite: case.suite.name.clone(),
        suite_file: case.suite.file.clone(),
        line: case.test.line,
        test_file: case.test.file.to_path_buf(),
        description: case.test.description.clone(),
        prompt: case.prompt.name.clone(),
        prompt_hash: case.prompt.short_hash().to_string(),
        provider: case.provider.spec.display().to_string(),
        category: case.test.category().map(str::to_string),
        vars: case.test.vars.clone(),
        verdict: Verdict::Error,
        score: 0.0,
        threshold: case.test.threshold,
        metrics: BTreeMap::new(),
        assertions: Vec::new(),
        output: None,
        error: None,
        latency_ms: None,
        tokens: Default::default(),
        finish_reason: None,
        cost_usd: None,
        replayed: false,
        cached: false,
        attempts: 0,
        min_pass_rate: case.test.min_pass_rate,
        repeats: None,
        duration_ms: 0,
    }
}

/// Ctrl-C (SIGINT), listened for from the moment of creation.
enum Interrupts {
    #[cfg(unix)]
    Unix(tokio::signal::unix::Signal),
    /// Elsewhere, or when the handler cannot be installed: tokio's `ctrl_c`.
    Portable,
}

impl Interrupts {
    fn listen() -> Self {
        #[cfg(unix)]
        if let Ok(sig) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()) {
            return Interrupts::Unix(sig);
        }
        Interrupts::Portable
    }

    /// Waits for the next Ctrl-C; false when none can come any more.
    async fn next(&mut self) -> bool {
        match self {
            #[cfg(unix)]
            Interrupts::Unix(sig) => sig.recv().await.is_some(),
            Interrupts::Portable => tokio::signal::ctrl_c().await.is_ok(),
        }
    }
}

/// Values of the run's stop flag.
const RUNNING: u8 = 0;
const FAIL_FAST: u8 = 1;
const INTERRUPTED: u8 = 2;

fn skipped(case: &Case, why: u8) -> CaseResult {
    let mut r = base_result(case);
    r.verdict = Verdict::Skipped;
    r.error = Some(if why == INTERRUPTED {
        "not run: the run was interrupted (Ctrl-C)".into()
    } else {
        "not run: --fail-fast stopped the run after the first failure".into()
    });
    r
}

/// Renders, calls (or replays) and asserts one case. Used by [`run`], and
/// directly by harnesses that schedule cases themselves (the `cargo test`
/// target that runs the prompt suites).
pub async fn run_case(case: &Case, ctx: &RunContext) -> CaseResult {
    let started = Instant::now();
    let mut r = base_result(case);
    let finish = |mut r: CaseResult| {
        r.duration_ms = started.elapsed().as_millis() as u64;
        r
    };
    let messages = match case.prompt.render(&ctx.templates, &case.test.vars) {
        Ok(m) => m,
        Err(e) => {
            r.error = Some(format!("template error in prompt {}: {e}", case.prompt.name));
            return finish(r);
        }
    };
    let slot = &case.provider;
    let model = match slot.model.clone().or_else(|| case.prompt.model.clone()) {
        Some(m) => m,
        None if slot.provider.is_local() || slot.spec.id.starts_with("exec:") => String::new(),
        None => {
            r.error = Some(format!(
                "provider {} names no model and prompt {} sets none",
                slot.spec.id, case.prompt.name
            ));
            return finish(r);
        }
    };
    let request = ProviderRequest {
        model,
        messages,
        settings: case.prompt.settings.overlay(&slot.spec.config.settings()),
    };
    let site = CallSite {
        suite: &case.suite.name,
        prompt: &case.prompt.name,
        prompt_hash: case.prompt.short_hash(),
        repeat: case.repeat,
    };
    let (response, replayed) = match call_at(
        &case.provider.spec.id,
        case.provider.provider.as_ref(),
        ctx,
        &request,
        &site,
    )
    .await
    {
        Ok(x) => x,
        Err(e) => {
            if let ProviderError::Exhausted { attempts, .. } | ProviderError::BreakerOpen { attempts, .. } = &e {
                r.attempts = *attempts;
            }
            if matches!(e, ProviderError::OverBudget { .. }) {
                r.verdict = Verdict::Skipped;
            }
            r.error = Some(e.to_string());
            return finish(r);
        }
    };
    r.replayed = replayed;
    r.cached = response.from_cache;
    r.attempts = response.attempts;
    r.latency_ms = Some(response.latency_ms);
    r.tokens = response.tokens;
    r.finish_reason = response.finish_reason.clone();
    r.cost_usd = response.cost_usd;
    let eval = EvalContext {
        output: &response.output,
        latency_ms: Some(response.latency_ms),
        cost_usd: response.cost_usd,
    };
    let mut results: Vec<AssertionResult> = Vec::with_capacity(case.test.assertions.len());
    // Deterministic assertions first (free), then the model-graded ones,
    // which call graders; results keep the order the assertions are written in.
    let mut graded: Vec<(usize, Option<serde_json::Value>)> = Vec::new();
    for (i, a) in case.test.assertions.iter().enumerate() {
        let rendered = if a.templated {
            match a
                .value
                .as_ref()
                .map(|v| ctx.templates.render_value(v, &case.test.vars))
                .transpose()
            {
                Ok(v) => v,
                Err(e) => {
                    let mut res = a.evaluate(a.value.as_ref(), &eval);
                    res.pass = false;
                    res.score = 0.0;
                    res.reason = format!("template error in assertion value: {e}");
                    res.error = Some(res.reason.clone());
                    res.grader = None;
                    results.push(res);
                    continue;
                }
            }
        } else {
            a.value.clone()
        };
        if a.kind.is_model_graded() {
            // A placeholder, replaced below.
            results.push(a.evaluate(rendered.as_ref(), &eval));
            graded.push((i, rendered));
        } else {
            results.push(a.evaluate(rendered.as_ref(), &eval));
        }
    }
    for (i, value) in graded {
        let a = &case.test.assertions[i];
        let slots = case.graders.get(i).cloned().unwrap_or_default();
        let backend = RunGrader {
            slots: &slots,
            ctx,
            site,
            calls: std::sync::Mutex::new(Vec::new()),
        };
        let input = GradeInput {
            output: &response.output,
            value: value.as_ref(),
            vars: &case.test.vars,
        };
        let mut res = crate::assertion::graded::evaluate(a, input, &backend).await;
        let calls = backend.calls.into_inner().unwrap_or_else(|e| e.into_inner());
        res.grader.get_or_insert_with(Default::default).calls = calls;
        results[i] = res;
    }
    let (pass, score) = aggregate(&results, case.test.threshold);
    r.score = score;
    r.metrics = metrics(&results);
    // An assertion that could not be evaluated leaves the case without a
    // verdict, unless the verdict does not depend on it: without a threshold
    // every assertion must pass, so one that was evaluated and failed is a
    // definite failure (the error is still reported with its assertion).
    // An assertion whose grader call `--max-cost` refused was not evaluated
    // either; unless the case is decided without it, or another assertion
    // has a real error, the case is skipped (as when its own call is refused).
    let evaluated_failure = results.iter().any(|a| a.error.is_none() && !a.pass);
    let over_budget = |a: &AssertionResult| a.grader.as_ref().is_some_and(|g| g.over_budget);
    let error = results.iter().filter(|a| !over_budget(a)).find_map(|a| a.error.clone());
    let refused = results.iter().filter(|a| over_budget(a)).find_map(|a| a.error.clone());
    r.verdict = if error.is_some() || refused.is_some() {
        if case.test.threshold.is_none() && evaluated_failure {
            Verdict::Fail
        } else if let Some(err) = error {
            r.error = Some(err);
            Verdict::Error
        } else {
            r.error = refused;
            Verdict::Skipped
        }
    } else if pass {
        Verdict::Pass
    } else {
        Verdict::Fail
    };
    r.assertions = results;
    r.output = Some(response.output);
    finish(r)
}

/// Suite-level thresholds: per suite × prompt × provider group, the
/// thresholds and the running counts of its cases (a few numbers per group,
/// not the results).
struct ThresholdGroups {
    groups: BTreeMap<GroupKey, (Arc<Case>, crate::analysis::thresholds::GroupStats)>,
}

/// Suite file, prompt label, provider display name.
type GroupKey = (std::path::PathBuf, String, String);

impl ThresholdGroups {
    fn new(cases: &[Case]) -> Self {
        let mut groups = BTreeMap::new();
        for c in cases.iter().filter(|c| c.suite.thresholds.is_some()) {
            let key = (
                c.suite.file.clone(),
                c.prompt.label(),
                c.provider.spec.display().to_string(),
            );
            groups
                .entry(key)
                .or_insert_with(|| (Arc::new(c.clone()), Default::default()));
        }
        ThresholdGroups { groups }
    }

    fn add(&mut self, r: &CaseResult) {
        if self.groups.is_empty() {
            return;
        }
        let label = format!("{}@{}", r.prompt, r.prompt_hash);
        let key = (r.suite_file.clone(), label, r.provider.clone());
        if let Some((_, stats)) = self.groups.get_mut(&key) {
            stats.add(r);
        }
    }

    fn finish(self) -> Vec<crate::analysis::thresholds::ThresholdOutcome> {
        self.groups
            .into_values()
            .filter_map(|(case, mut stats)| {
                let t = case.suite.thresholds.as_ref()?;
                // Cases not run leave the set incomplete: no verdict on it.
                stats.errored += std::mem::take(&mut stats.skipped);
                let (verdict, checks, error) = crate::analysis::thresholds::evaluate(t, &stats);
                Some(crate::analysis::thresholds::ThresholdOutcome {
                    suite: case.suite.name.clone(),
                    suite_file: case.suite.file.clone(),
                    line: t.line,
                    prompt: case.prompt.name.clone(),
                    prompt_hash: case.prompt.short_hash().to_string(),
                    provider: case.provider.spec.display().to_string(),
                    verdict,
                    checks,
                    error,
                    stats,
                    bounds: t.clone(),
                })
            })
            .collect()
    }
}

/// The runner's side of model-graded assertions: grader calls go through
/// [`call_at`] like every other call (recordings, concurrency limits), and each
/// one is kept, with its latency and tokens, for the report.
struct RunGrader<'a> {
    slots: &'a super::plan::GraderSlots,
    ctx: &'a RunContext,
    /// The case's suite and prompt (call log), and its repeat index (cache key).
    site: CallSite<'a>,
    calls: std::sync::Mutex<Vec<GraderCall>>,
}

impl RunGrader<'_> {
    async fn send(
        &self,
        slot: &super::plan::ProviderSlot,
        step: &str,
        messages: Vec<Message>,
        defaults: ModelSettings,
    ) -> Result<String, GraderError> {
        let request = ProviderRequest {
            model: slot.model.clone().unwrap_or_default(),
            messages,
            // The grader's own config wins over the grading defaults.
            settings: defaults.overlay(&slot.spec.config.settings()),
        };
        // Holding the grader's place, the case must keep its `-j` place
        // through backoffs (see runner::slot): pin before taking it.
        let _pin = slot.limit.is_some().then(crate::provider::slot::pin);
        let _permit = match &slot.limit {
            Some(sem) => sem.clone().acquire_owned().await.ok(),
            None => None,
        };
        let outcome = call_at(&slot.spec.id, slot.provider.as_ref(), self.ctx, &request, &self.site).await;
        let mut record = GraderCall {
            step: step.to_string(),
            provider: slot.spec.id.clone(),
            latency_ms: None,
            tokens: Default::default(),
            replayed: false,
            cached: false,
            attempts: 0,
            cost_usd: None,
            error: None,
        };
        let result = match outcome {
            Ok((r, replayed)) => {
                record.latency_ms = Some(r.latency_ms);
                record.tokens = r.tokens;
                record.replayed = replayed;
                record.cached = r.from_cache;
                record.attempts = r.attempts;
                record.cost_usd = r.cost_usd;
                Ok(r.output)
            }
            Err(ProviderError::OverBudget { budget_usd, spent_usd }) => {
                let refused = GraderError::OverBudget {
                    grader: slot.spec.id.clone(),
                    step: step.to_string(),
                    budget_usd,
                    spent_usd,
                };
                record.error = Some(refused.to_string());
                Err(refused)
            }
            Err(e) => {
                record.error = Some(e.to_string());
                Err(GraderError::Call {
                    grader: slot.spec.id.clone(),
                    step: step.to_string(),
                    source: Box::new(e),
                })
            }
        };
        if let Ok(mut calls) = self.calls.lock() {
            calls.push(record);
        }
        result
    }
}

#[async_trait::async_trait]
impl GraderBackend for RunGrader<'_> {
    async fn complete(&self, step: &str, messages: Vec<Message>) -> Result<String, GraderError> {
        let slot = self.slots.text.as_ref().ok_or(GraderError::NoTextGrader)?;
        // JSON mode where the provider supports it (OpenAI-compatible; Ollama
        // maps it to `format`; Anthropic ignores it). OpenAI rejects JSON mode
        // unless the word "JSON" appears in the messages: a custom
        // `rubricPrompt` without it is sent without JSON mode.
        let mentions_json = messages.iter().any(|m| m.content.to_ascii_lowercase().contains("json"));
        let defaults = ModelSettings {
            temperature: Some(0.0),
            response_format: mentions_json.then(|| serde_json::json!({"type": "json_object"})),
            ..Default::default()
        };
        self.send(slot, step, messages, defaults).await
    }

    async fn embed(&self, step: &str, text: &str) -> Result<Vec<f64>, GraderError> {
        let slot = self.slots.embedding.as_ref().ok_or(GraderError::NoEmbeddingGrader)?;
        let out = self
            .send(slot, step, vec![Message::new("user", text)], ModelSettings::default())
            .await?;
        serde_json::from_str::<Vec<f64>>(&out).map_err(|source| GraderError::NotAVector {
            grader: slot.spec.id.clone(),
            source,
        })
    }
}

/// Named metrics: the mean score of the assertions that name each metric
/// (assertions that could not be evaluated are left out, not counted as 0).
fn metrics(results: &[AssertionResult]) -> BTreeMap<String, f64> {
    let mut sums: BTreeMap<String, (f64, usize)> = BTreeMap::new();
    for a in results.iter().filter(|a| a.error.is_none()) {
        if let Some(m) = &a.metric {
            let e = sums.entry(m.clone()).or_default();
            e.0 += a.score;
            e.1 += 1;
        }
    }
    sums.into_iter().map(|(k, (s, n))| (k, s / n as f64)).collect()
}

/// Where a provider call comes from, for the response cache key and the call log.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CallSite<'a> {
    /// Suite name.
    pub suite: &'a str,
    /// Prompt name.
    pub prompt: &'a str,
    /// Prompt hash (12 hex characters).
    pub prompt_hash: &'a str,
    /// Repeat index (`--repeat`), part of the cache key.
    pub repeat: u32,
}

/// [`call_at`] with no call site (repeat 0, no suite or prompt in the call log).
#[allow(dead_code)] // kept for callers outside a case (none at the moment)
pub(crate) async fn call(
    provider_id: &str,
    provider: &dyn Provider,
    ctx: &RunContext,
    request: &ProviderRequest,
) -> Result<(ProviderResponse, bool), ProviderError> {
    call_at(provider_id, provider, ctx, request, &CallSite::default()).await
}

/// Sends `request` to `provider` (id `provider_id`) the way the run is set
/// up: live, recording, or answered from the recordings; live and recording
/// runs go through the response cache, the `--max-cost` budget and the call
/// log. Every provider call of a run goes through here: the case's own call
/// and grader calls alike. Returns the response (with its cost, when the
/// model has a price; `from_cache` set when the cache answered) and whether
/// it was replayed.
pub(crate) async fn call_at(
    provider_id: &str,
    provider: &dyn Provider,
    ctx: &RunContext,
    request: &ProviderRequest,
    site: &CallSite<'_>,
) -> Result<(ProviderResponse, bool), ProviderError> {
    if provider.is_local() {
        // Computed here: no request is sent (0 attempts, as documented).
        return provider
            .call(request)
            .await
            .map(|r| (ProviderResponse { attempts: 0, ..r }, false));
    }
    let price_override = provider.config().and_then(|c| c.cost);
    let priced = |mut r: ProviderResponse| {
        if r.cost_usd.is_none() {
            r.cost_usd = ctx.prices.cost(provider_id, &request.model, price_override, &r);
        }
        r
    };
    let log = |r: &ProviderResponse| {
        if let Some(store) = &ctx.store {
            let record = CallRecord {
                suite: site.suite.to_string(),
                prompt: site.prompt.to_string(),
                prompt_hash: site.prompt_hash.to_string(),
                provider: provider_id.to_string(),
                model: request.model.clone(),
                tokens_in: r.tokens.input.unwrap_or(0),
                tokens_out: r.tokens.output.unwrap_or(0),
                tokens_cached: r.tokens.cached_input.unwrap_or(0),
                cost_usd: r.cost_usd,
                latency_ms: r.latency_ms,
                cached: r.from_cache,
            };
            if let Err(e) = store.log_call(&record) {
                eprintln!("warning: {e}");
            }
        }
    };
    // With `--repeat`, each repeat is its own recording (repeat 0 keeps the
    // plain key, so recordings made without --repeat still answer it).
    let recording_key = || match site.repeat {
        0 => request_key(provider_id, request),
        n => format!("{}.r{n}", request_key(provider_id, request)),
    };
    let record = |response: &ProviderResponse| {
        if matches!(ctx.recordings.mode(), Mode::Record(_)) {
            ctx.recordings.insert(Entry {
                key: recording_key(),
                provider: provider_id.to_string(),
                request: request.clone(),
                response: ProviderResponse {
                    cost_usd: None,
                    ..response.clone()
                },
            });
        }
    };
    match ctx.recordings.mode() {
        Mode::Replay(dir) => {
            let key = recording_key();
            match ctx.recordings.get(&key) {
                Some(r) => Ok((priced(r), true)),
                None => {
                    let last = request.messages.last().map(|m| m.content.as_str()).unwrap_or("");
                    let excerpt: String = last.chars().take(80).collect();
                    let excerpt = if excerpt.len() < last.len() {
                        format!("{excerpt}…")
                    } else {
                        excerpt
                    };
                    Err(ProviderError::NotRecorded {
                        provider: provider_id.to_string(),
                        model: request.model.clone(),
                        key,
                        excerpt,
                        dir: dir.display().to_string(),
                    })
                }
            }
        }
        Mode::Live | Mode::Record(_) => {
            let policy = provider.config().and_then(|c| c.cache).unwrap_or_default();
            let cacheable = match policy {
                CachePolicy::Always => true,
                CachePolicy::Never => false,
                CachePolicy::Deterministic => is_deterministic(request),
            };
            let key = match &ctx.store {
                Some(_) if cacheable => Some(cache_key(provider_id, provider.endpoint(), request, site.repeat)),
                _ => None,
            };
            if let (Some(store), Some(key), true) = (&ctx.store, &key, ctx.use_cache) {
                if let Some(mut hit) = store.get(key) {
                    hit.from_cache = true;
                    hit.attempts = 0;
                    let hit = priced(hit);
                    log(&hit);
                    record(&hit);
                    return Ok((hit, false));
                }
            }
            let estimate = match &ctx.budget {
                Some(budget) => Some(budget.reserve(&ctx.prices, provider_id, request, price_override)?),
                None => None,
            };
            let result = provider.call(request).await;
            let response = match result {
                Ok(r) => priced(r),
                Err(e) => {
                    if let (Some(budget), Some(estimate)) = (&ctx.budget, estimate) {
                        budget.settle(estimate, None);
                    }
                    return Err(e);
                }
            };
            if let (Some(budget), Some(estimate)) = (&ctx.budget, estimate) {
                budget.settle(estimate, Some(&response));
            }
            // `--no-cache` / `[cache] enabled = false`: neither read nor write.
            if let (Some(store), Some(key), true) = (&ctx.store, &key, ctx.use_cache) {
                // Stored without its cost: a hit is priced with the prices of
                // the run that reads it.
                let stored = ProviderResponse {
                    cost_usd: None,
                    ..response.clone()
                };
                if let Err(e) = store.put(key, provider_id, &request.model, &stored) {
                    eprintln!("warning: {e}");
                }
            }
            log(&response);
            record(&response);
            Ok((response, false))
        }
    }
}
