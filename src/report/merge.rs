//! `promptgate report merge`: shard reports (`--shard I/N --json ...`) back
//! into one run.
//!
//! Each JSON report ([`super::json`], format version 1) carries every case
//! with everything the reporters need (verdict, assertions, output, score,
//! metrics, repeats, tokens, cost). Merging reads them, refuses a case that
//! appears in two reports (overlapping shards, or the same shard twice),
//! orders the cases stably (suite file, test line, name, target) and replays
//! them as one run's events through the ordinary reporters, so the merged
//! JUnit, JSON and console summary are exactly what one unsharded run would
//! have written. Run-level aggregates (counts, metrics, flaky, costs) are
//! recomputed from the per-case results, never added up from the shards'
//! summaries; suite-level thresholds are re-evaluated on the merged set by
//! [`reevaluate_suite_thresholds`] (a shard's own threshold verdicts are
//! ignored: each saw only part of the suite).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::json::JsonReport;
use super::Reporter;
use crate::analysis::thresholds::{GroupStats, SuiteThresholds, ThresholdOutcome};
use crate::report::{Event, RunInfo};
use crate::result::{CaseResult, RunSummary, Verdict};

/// A suite × prompt × provider group: suite file, prompt name, prompt hash, provider.
type GroupKey = (PathBuf, String, String, String);

fn group_key(c: &CaseResult) -> GroupKey {
    (
        c.suite_file.clone(),
        c.prompt.clone(),
        c.prompt_hash.clone(),
        c.provider.clone(),
    )
}

/// Reads one JSON report.
///
/// # Errors
/// The file cannot be read, is not a promptgate JSON report, or has another
/// format version; the message names the file.
pub fn read_report(path: &Path) -> Result<JsonReport, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let report: JsonReport = serde_json::from_str(&text).map_err(|e| {
        format!(
            "{}: not a promptgate JSON report (written by `promptgate test --json PATH`): {e}",
            path.display()
        )
    })?;
    if report.version != super::json::FORMAT_VERSION {
        return Err(format!(
            "{}: report format version {} (this promptgate reads version {})",
            path.display(),
            report.version,
            super::json::FORMAT_VERSION
        ));
    }
    Ok(report)
}

/// The merged run: every case once, in a stable order, with its summary.
#[derive(Debug)]
pub struct Merged {
    /// The cases, re-indexed 0.. in merged order.
    pub cases: Vec<CaseResult>,
    /// Recomputed from the cases; the wall time is the longest shard's.
    pub summary: RunSummary,
    /// Suite thresholds re-evaluated on the merged cases.
    pub thresholds: Vec<ThresholdOutcome>,
    /// The earliest start among the shards.
    pub started_at: chrono::DateTime<chrono::Local>,
    /// The plan digest every report shares (none when they do not share one).
    pub plan_digest: Option<String>,
}

/// Checks that sharded reports are a whole split: every part 1..N exactly
/// once, all of the same N, all of the same plan (the same `plan_digest`:
/// the same suites, cases, prompts, providers, graders, filters and
/// repeats). A merge of some of the parts would gate on a subset of the
/// cases; a merge of parts of different plans (another commit's suites or
/// prompts) on a mix that no run had. A shard report without a digest
/// (written before promptgate recorded it) cannot be checked, so it is
/// refused too: re-run that shard.
///
/// # Errors
/// What is missing, repeated or mixed, naming the files.
pub fn check_complete(reports: &[(PathBuf, JsonReport)]) -> Result<(), String> {
    let sharded: Vec<(&PathBuf, crate::settings::Shard)> =
        reports.iter().filter_map(|(p, r)| r.shard.map(|s| (p, s))).collect();
    if sharded.is_empty() {
        return Ok(());
    }
    if sharded.len() != reports.len() {
        let plain: Vec<String> = reports
            .iter()
            .filter(|(_, r)| r.shard.is_none())
            .map(|(p, _)| p.display().to_string())
            .collect();
        return Err(format!(
            "{} not from a --shard run, the others are: merge the reports of one split only",
            plain.join(", ")
        ));
    }
    let total = sharded[0].1.total;
    if let Some((p, s)) = sharded.iter().find(|(_, s)| s.total != total) {
        return Err(format!(
            "{} is shard {}/{}, but {} is shard {}/{total}: the reports are from different splits",
            p.display(),
            s.index,
            s.total,
            sharded[0].0.display(),
            sharded[0].1.index
        ));
    }
    check_same_plan(reports)?;
    let mut seen: BTreeMap<u32, &PathBuf> = BTreeMap::new();
    for (p, s) in &sharded {
        if let Some(other) = seen.insert(s.index, p) {
            return Err(format!(
                "shard {}/{total} appears twice ({} and {})",
                s.index,
                other.display(),
                p.display()
            ));
        }
    }
    let missing: Vec<String> = (1..=total)
        .filter(|i| !seen.contains_key(i))
        .map(|i| format!("{i}/{total}"))
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "shard {} missing: a merge of part of a split would gate on part of the cases",
            missing.join(", ")
        ));
    }
    Ok(())
}

/// Every report has a plan digest, and all are the same.
fn check_same_plan(reports: &[(PathBuf, JsonReport)]) -> Result<(), String> {
    if let Some((p, _)) = reports.iter().find(|(_, r)| r.plan_digest.is_none()) {
        return Err(format!(
            "{} has no plan digest (it was written by an older promptgate), so it cannot be checked to be a shard of the same suites and prompts as the others: run that shard again with this promptgate",
            p.display()
        ));
    }
    let (first_path, first) = &reports[0];
    if let Some((p, _)) = reports.iter().find(|(_, r)| r.plan_digest != first.plan_digest) {
        return Err(format!(
            "{} and {} were made from different suites or prompts (plan digests differ: the suite files, cases, prompts, providers, graders, --filter or --repeat changed between the shards): merge the shards of one run of one commit",
            first_path.display(),
            p.display()
        ));
    }
    Ok(())
}

/// Merges shard reports (`(path, report)` pairs).
///
/// # Errors
/// Reports that are not one whole split ([`check_complete`]), or a case
/// (same full name in the same suite file) found in two reports.
pub fn merge(reports: Vec<(PathBuf, JsonReport)>) -> Result<Merged, String> {
    check_complete(&reports)?;
    let mut seen: BTreeMap<(PathBuf, String), PathBuf> = BTreeMap::new();
    let mut cases = Vec::new();
    let mut duration_ms = 0;
    let mut started_at: Option<chrono::DateTime<chrono::Local>> = None;
    let plan_digest = reports.first().and_then(|(_, r)| r.plan_digest.clone());
    let plan_digest = plan_digest.filter(|d| reports.iter().all(|(_, r)| r.plan_digest.as_ref() == Some(d)));
    let mut bounds: BTreeMap<GroupKey, SuiteThresholds> = BTreeMap::new();
    for (path, report) in reports {
        for t in report.thresholds {
            bounds
                .entry((t.suite_file, t.prompt, t.prompt_hash, t.provider))
                .or_insert(t.bounds);
        }
        duration_ms = duration_ms.max(report.summary.duration_ms);
        if let Some(t) = report
            .started_at
            .as_deref()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        {
            let t = t.with_timezone(&chrono::Local);
            started_at = Some(started_at.map_or(t, |s| s.min(t)));
        }
        for case in report.cases {
            let key = (case.suite_file.clone(), case.full_name());
            if let Some(other) = seen.insert(key, path.clone()) {
                return Err(format!(
                    "case `{}` is in both {} and {}: the reports overlap (the same shard twice, or shards of different splits)",
                    case.full_name(),
                    other.display(),
                    path.display()
                ));
            }
            cases.push(case);
        }
    }
    cases.sort_by(|a, b| {
        (&a.suite_file, a.line, &a.name, a.target()).cmp(&(&b.suite_file, b.line, &b.name, b.target()))
    });
    let mut summary = RunSummary::default();
    for (i, case) in cases.iter_mut().enumerate() {
        case.index = i;
    }
    for case in &cases {
        summary.add(case);
    }
    let thresholds = reevaluate_suite_thresholds(&cases, &bounds);
    for t in &thresholds {
        match t.verdict {
            Verdict::Pass => summary.thresholds_passed += 1,
            Verdict::Fail => summary.thresholds_failed += 1,
            _ => summary.thresholds_errored += 1,
        }
    }
    summary.duration_ms = duration_ms;
    Ok(Merged {
        cases,
        summary,
        thresholds,
        started_at: started_at.unwrap_or_else(chrono::Local::now),
        plan_digest,
    })
}

/// Suite-level thresholds (`thresholds:` of a suite) evaluated on the merged
/// set of cases, per suite × prompt × provider group, so that "95% of this
/// suite passes" is judged on the whole suite, never per shard. `bounds` are
/// the thresholds as the shards' reports carry them
/// ([`ThresholdOutcome::bounds`]); every group with bounds is evaluated with
/// [`crate::analysis::thresholds::evaluate`] over all its merged cases (cases not run
/// count as without a verdict, as in a run).
pub fn reevaluate_suite_thresholds(
    cases: &[CaseResult],
    bounds: &BTreeMap<GroupKey, SuiteThresholds>,
) -> Vec<ThresholdOutcome> {
    let mut groups: BTreeMap<&GroupKey, (GroupStats, Option<&CaseResult>)> =
        bounds.keys().map(|k| (k, (GroupStats::default(), None))).collect();
    for c in cases {
        if let Some((stats, first)) = groups.get_mut(&group_key(c)) {
            stats.add(c);
            first.get_or_insert(c);
        }
    }
    groups
        .into_iter()
        .filter_map(|(key, (mut stats, first))| {
            let first = first?;
            let t = &bounds[key];
            stats.errored += std::mem::take(&mut stats.skipped);
            let (verdict, checks, error) = crate::analysis::thresholds::evaluate(t, &stats);
            Some(ThresholdOutcome {
                suite: first.suite.clone(),
                suite_file: key.0.clone(),
                line: t.line,
                prompt: key.1.clone(),
                prompt_hash: key.2.clone(),
                provider: key.3.clone(),
                verdict,
                checks,
                error,
                stats,
                bounds: t.clone(),
            })
        })
        .collect()
}

/// Replays `merged` through `reporters` as one run; returns the reporters' errors.
pub fn replay(merged: Merged, reporters: &mut [Box<dyn Reporter>]) -> Vec<std::io::Error> {
    let mut errors = Vec::new();
    let mut emit = |ev: &Event| {
        for r in reporters.iter_mut() {
            if let Err(e) = r.on_event(ev) {
                errors.push(e);
            }
        }
    };
    let suites = merged
        .cases
        .iter()
        .map(|c| &c.suite_file)
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    emit(&Event::RunStarted(RunInfo {
        total_cases: merged.cases.len(),
        suites,
        started_at: merged.started_at,
        shard: None,
        plan_digest: merged.plan_digest.clone(),
    }));
    for case in merged.cases {
        emit(&Event::CaseFinished(Arc::new(case)));
    }
    for t in merged.thresholds {
        emit(&Event::ThresholdsChecked(Arc::new(t)));
    }
    emit(&Event::RunFinished(merged.summary));
    errors
}
