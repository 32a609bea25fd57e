//! Executing a plan: the scheduler. Cases run concurrently (bounded by `-j`
//! and each provider's `max_concurrency`), their results stream to the
//! reporters as they finish, `--repeat` runs are combined, and suite-level
//! thresholds are checked at the end.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{mpsc, Semaphore};

use super::case::{base_result, run_case, skipped};
use super::interrupt::{Interrupts, StopFlag};
use super::plan::{Case, Plan, ProviderSlot};
use super::thresholds::ThresholdGroups;
use super::{RunContext, RunOptions};
use crate::cache::Store;
use crate::report::Reporter;
use crate::report::{Event, RunInfo};
use crate::result::{combine_repeats, CaseResult, RunSummary, SkipReason, Verdict};

/// A second Ctrl-C stopped the run at once: the cases in flight were
/// abandoned and no report was finished ([`Event::Aborted`] was the last
/// event). Command-line front ends exit with status 130.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the run was aborted (Ctrl-C twice)")]
pub struct Aborted;

/// Runs `plan`, sending every event to every reporter, and returns the
/// summary and the reporters' I/O errors (the run itself completes whatever
/// they are).
///
/// Ctrl-C stops scheduling: the cases in flight finish, the rest are
/// reported as skipped and every report is written ([`Event::Interrupted`]).
///
/// # Errors
/// [`Aborted`] at a second Ctrl-C, at once (after saving what was recorded).
pub async fn run(
    plan: Plan,
    ctx: Arc<RunContext>,
    opts: &RunOptions,
    reporters: &mut [Box<dyn Reporter>],
) -> Result<(RunSummary, Vec<std::io::Error>), Aborted> {
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
    let stop = Arc::new(StopFlag::default());
    // Ctrl-C: stop scheduling, let the cases in flight finish, report the
    // rest as skipped and write every report. A second Ctrl-C ends the run
    // at once. Registered now, before any case starts, so an early Ctrl-C is
    // never handled by the default action (which would leave no reports).
    let (on_interrupt, mut interrupts) = Interrupts::listen().forward(stop.clone());
    // One feeder per provider instance, so that a provider waiting on its own
    // `max_concurrency` never holds `-j` slots other providers could use.
    // With `-j 1` there is nothing to share: one feeder runs the cases in
    // plan order, so a sequential run (and what --fail-fast skips) is
    // reproducible.
    let mut thresholds = ThresholdGroups::new(&plan.cases);
    let mut groups: BTreeMap<*const ProviderSlot, Vec<Case>> = BTreeMap::new();
    if opts.jobs <= 1 {
        groups.insert(std::ptr::null(), plan.cases);
    } else {
        for case in plan.cases {
            groups.entry(Arc::as_ptr(&case.provider)).or_default().push(case);
        }
    }
    for (_, cases) in groups {
        let feeder = Feeder {
            ctx: ctx.clone(),
            global: global.clone(),
            stop: stop.clone(),
            fail_fast: opts.fail_fast,
            release_on_backoff: opts.jobs > 1,
            tx: tx.clone(),
        };
        tokio::spawn(feeder.feed(cases));
    }
    drop(tx);

    let mut summary = RunSummary::default();
    // Runs of a repeated case are held until the last one arrives, then
    // combined into one result (reporters see cases, never runs).
    let mut pending: HashMap<usize, Vec<CaseResult>> = HashMap::new();
    let mut listening = true;
    loop {
        let result = tokio::select! {
            result = rx.recv() => match result {
                Some(result) => result,
                None => break,
            },
            n = interrupts.recv(), if listening => {
                match n {
                    None => listening = false,
                    Some(1) => emit(&Event::Interrupted, &mut report_errors),
                    Some(_) => {
                        on_interrupt.abort();
                        // Keep what was recorded (paid for) before leaving;
                        // reports are not written.
                        let (recordings, cache) = save(&ctx);
                        let errors = recordings
                            .map(|e| format!("saving recordings: {e}"))
                            .into_iter()
                            .chain(cache.map(|e| e.to_string()))
                            .collect();
                        emit(&Event::Aborted { errors }, &mut report_errors);
                        return Err(Aborted);
                    }
                }
                continue;
            }
        };
        for warning in ctx.take_warnings() {
            emit(&Event::Warning(warning), &mut report_errors);
        }
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
    for warning in ctx.take_warnings() {
        emit(&Event::Warning(warning), &mut report_errors);
    }
    for outcome in thresholds.finish() {
        match outcome.verdict {
            Verdict::Pass => summary.thresholds_passed += 1,
            Verdict::Fail => summary.thresholds_failed += 1,
            _ => summary.thresholds_errored += 1,
        }
        emit(&Event::ThresholdsChecked(Arc::new(outcome)), &mut report_errors);
    }
    summary.duration_ms = started.elapsed().as_millis() as u64;
    let (recordings, cache) = save(&ctx);
    report_errors.extend(recordings);
    report_errors.extend(cache.map(std::io::Error::other));
    emit(&Event::RunFinished(summary.clone()), &mut report_errors);
    Ok((summary, report_errors))
}

/// Saves the recordings (record mode) and commits the cache's queued
/// writes; returns what failed of each.
fn save(ctx: &RunContext) -> (Option<std::io::Error>, Option<crate::cache::CacheError>) {
    let recordings = ctx.recordings.save().err();
    let cache = ctx.store.as_ref().map(Store::flush).and_then(Result::err);
    (recordings, cache)
}

/// Starts the cases of one provider (or all, with `-j 1`) as places free up.
struct Feeder {
    ctx: Arc<RunContext>,
    global: Arc<Semaphore>,
    stop: Arc<StopFlag>,
    fail_fast: bool,
    release_on_backoff: bool,
    tx: mpsc::UnboundedSender<CaseResult>,
}

impl Feeder {
    async fn feed(self, cases: Vec<Case>) {
        let mut tasks = tokio::task::JoinSet::new();
        let mut running: BTreeMap<tokio::task::Id, Case> = BTreeMap::new();
        for case in cases {
            if let Some(why) = self.stop.reason() {
                let _ = self.tx.send(skipped(&case, why));
                continue;
            }
            let provider_permit = match &case.provider.limit {
                Some(sem) => sem.clone().acquire_owned().await.ok().map(|p| (sem.clone(), p)),
                None => None,
            };
            let Ok(permit) = self.global.clone().acquire_owned().await else {
                break;
            };
            let slot = crate::provider::slot::Slot::new(
                (self.global.clone(), permit),
                provider_permit,
                self.release_on_backoff,
            );
            if let Some(why) = self.stop.reason() {
                let _ = self.tx.send(skipped(&case, why));
                continue;
            }
            let (ctx, stop, tx, case2) = (self.ctx.clone(), self.stop.clone(), self.tx.clone(), case.clone());
            let fail_fast = self.fail_fast;
            let handle = tasks.spawn(slot.hold(async move {
                let result = run_case(&case2, &ctx).await;
                if fail_fast && matches!(result.verdict, Verdict::Fail | Verdict::Error) {
                    stop.stop(SkipReason::FailFast);
                }
                let _ = tx.send(result);
            }));
            running.insert(handle.id(), case);
            while let Some(done) = tasks.try_join_next_with_id() {
                settle(done, &mut running, &self.tx);
            }
        }
        while let Some(done) = tasks.join_next_with_id().await {
            settle(done, &mut running, &self.tx);
        }
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
                let r = base_result(&case)
                    .with_verdict(Verdict::Error)
                    .with_error(format!("internal error: the case's task failed: {e}"));
                let _ = tx.send(r);
            }
        }
    }
}
