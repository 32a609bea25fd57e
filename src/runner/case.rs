//! One case: render the prompt, call the provider (through the layers),
//! then the assertions, deterministic first and model-graded after.

use std::collections::BTreeMap;
use std::time::Instant;

use super::call::call_provider;
use super::grader::CaseGrader;
use super::plan::Case;
use super::RunContext;
use crate::assertion::graded::GradeInput;
use crate::assertion::{aggregate, EvalContext};
use crate::provider::layers::{CallResponse, CallSite};
use crate::provider::{ProviderError, ProviderRequest};
use crate::result::{AssertionResult, CaseResult, SkipReason, Verdict};

/// The result of `case` before anything ran: what ran, no verdict yet.
pub(super) fn base_result(case: &Case) -> CaseResult {
    let mut r = CaseResult::new(case.index, case.name())
        .with_suite(case.suite.name.clone(), case.suite.file.clone())
        .with_test_file(case.test.file.to_path_buf(), case.test.line)
        .with_prompt(case.prompt.name.clone(), case.prompt.short_hash())
        .with_provider(case.provider.spec.display().to_string());
    r.description = case.test.description.clone();
    r.category = case.test.category().map(str::to_string);
    r.vars = case.test.vars.clone();
    r.threshold = case.test.threshold;
    r.min_pass_rate = case.test.min_pass_rate;
    r
}

/// `case`, not run for `reason`.
pub(super) fn skipped(case: &Case, reason: SkipReason) -> CaseResult {
    base_result(case).skipped(reason)
}

/// Renders, calls (or replays) and asserts one case. Used by [`super::run`], and
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
    let CallResponse { response, replayed } = match call_provider(
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
        let backend = CaseGrader::new(&slots, ctx, site);
        let input = GradeInput {
            output: &response.output,
            value: value.as_ref(),
            vars: &case.test.vars,
        };
        let mut res = crate::assertion::graded::evaluate(a, input, &backend).await;
        let calls = backend.into_calls();
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
