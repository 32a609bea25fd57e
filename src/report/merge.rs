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

/// Why shard reports cannot be merged. Every message names the files.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// A report file cannot be read.
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        /// The report.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file is not a JSON report (or not one this promptgate can read).
    #[error("{}: not a promptgate JSON report (written by `promptgate test --json PATH`): {source}", path.display())]
    NotAReport {
        /// The file.
        path: PathBuf,
        /// Where and why it does not parse as a report.
        source: serde_json::Error,
    },
    /// A report of another format version.
    #[error("{}: report format version {version} (this promptgate reads version {})", path.display(), super::json::FORMAT_VERSION)]
    FormatVersion {
        /// The report.
        path: PathBuf,
        /// Its `version`.
        version: u32,
    },
    /// Some reports come from a `--shard` run and others do not.
    #[error(
        "{} not from a --shard run, the others are: merge the reports of one split only",
        display_paths(unsharded)
    )]
    MixedWithUnsharded {
        /// The reports without a `shard`.
        unsharded: Vec<PathBuf>,
    },
    /// Two reports are shards of splits into different numbers of parts.
    #[error(
        "{} is shard {}/{}, but {} is shard {}/{}: the reports are from different splits",
        path.display(), shard.index, shard.total, first_path.display(), first_shard.index, first_shard.total
    )]
    DifferentSplits {
        /// The report whose split differs from the first one's.
        path: PathBuf,
        /// Its shard.
        shard: crate::settings::Shard,
        /// The first sharded report.
        first_path: PathBuf,
        /// The first report's shard.
        first_shard: crate::settings::Shard,
    },
    /// Two reports are the same part of the split.
    #[error("shard {}/{} appears twice ({} and {})", shard.index, shard.total, first_path.display(), path.display())]
    ShardTwice {
        /// The part.
        shard: crate::settings::Shard,
        /// The report read first.
        first_path: PathBuf,
        /// The other report of the same part.
        path: PathBuf,
    },
    /// Parts of the split have no report.
    #[error(
        "shard {} missing: a merge of part of a split would gate on part of the cases",
        missing.iter().map(|i| format!("{i}/{total}")).collect::<Vec<_>>().join(", ")
    )]
    ShardsMissing {
        /// The missing parts (1-based).
        missing: Vec<u32>,
        /// Parts in the split.
        total: u32,
    },
    /// A shard report without a plan digest (from an older promptgate).
    #[error("{} has no plan digest (it was written by an older promptgate), so it cannot be checked to be a shard of the same suites and prompts as the others: run that shard again with this promptgate", path.display())]
    NoPlanDigest {
        /// The report.
        path: PathBuf,
    },
    /// Shard reports of different plans (suites, prompts, filters, ...).
    #[error("{} and {} were made from different suites or prompts (plan digests differ: the suite files, cases, prompts, providers, graders, --filter or --repeat changed between the shards): merge the shards of one run of one commit", first_path.display(), path.display())]
    DifferentPlans {
        /// The first report.
        first_path: PathBuf,
        /// A report whose plan digest differs from the first one's.
        path: PathBuf,
    },
    /// A case found in two reports.
    #[error("case `{case}` is in both {} and {}: the reports overlap (the same shard twice, or shards of different splits)", first_path.display(), path.display())]
    CaseInTwoReports {
        /// The case's full name (`suite::test [prompt@hash provider]`).
        case: String,
        /// The report read first.
        first_path: PathBuf,
        /// The other report.
        path: PathBuf,
    },
}

/// `a.json, b.json`.
fn display_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Reads one JSON report.
///
/// # Errors
/// The file cannot be read, is not a promptgate JSON report, or has another
/// format version; the message names the file.
pub fn read_report(path: &Path) -> Result<JsonReport, MergeError> {
    let text = std::fs::read_to_string(path).map_err(|source| MergeError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let report: JsonReport = serde_json::from_str(&text).map_err(|source| MergeError::NotAReport {
        path: path.to_path_buf(),
        source,
    })?;
    if report.version != super::json::FORMAT_VERSION {
        return Err(MergeError::FormatVersion {
            path: path.to_path_buf(),
            version: report.version,
        });
    }
    Ok(report)
}

/// The merged run: every case once, in a stable order, with its summary.
#[derive(Debug)]
pub struct MergedRun {
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
pub fn check_complete(reports: &[(PathBuf, JsonReport)]) -> Result<(), MergeError> {
    let sharded: Vec<(&PathBuf, crate::settings::Shard)> =
        reports.iter().filter_map(|(p, r)| r.shard.map(|s| (p, s))).collect();
    if sharded.is_empty() {
        return Ok(());
    }
    if sharded.len() != reports.len() {
        let unsharded = reports
            .iter()
            .filter(|(_, r)| r.shard.is_none())
            .map(|(p, _)| p.clone())
            .collect();
        return Err(MergeError::MixedWithUnsharded { unsharded });
    }
    let (first_path, first_shard) = sharded[0];
    let total = first_shard.total;
    if let Some((p, s)) = sharded.iter().find(|(_, s)| s.total != total) {
        return Err(MergeError::DifferentSplits {
            path: (*p).clone(),
            shard: *s,
            first_path: first_path.clone(),
            first_shard,
        });
    }
    check_same_plan(reports)?;
    let mut seen: BTreeMap<u32, &PathBuf> = BTreeMap::new();
    for (p, s) in &sharded {
        if let Some(other) = seen.insert(s.index, p) {
            return Err(MergeError::ShardTwice {
                shard: *s,
                first_path: other.clone(),
                path: (*p).clone(),
            });
        }
    }
    let missing: Vec<u32> = (1..=total).filter(|i| !seen.contains_key(i)).collect();
    if !missing.is_empty() {
        return Err(MergeError::ShardsMissing { missing, total });
    }
    Ok(())
}

/// Every report has a plan digest, and all are the same.
fn check_same_plan(reports: &[(PathBuf, JsonReport)]) -> Result<(), MergeError> {
    if let Some((p, _)) = reports.iter().find(|(_, r)| r.plan_digest.is_none()) {
        return Err(MergeError::NoPlanDigest { path: p.clone() });
    }
    let (first_path, first) = &reports[0];
    if let Some((p, _)) = reports.iter().find(|(_, r)| r.plan_digest != first.plan_digest) {
        return Err(MergeError::DifferentPlans {
            first_path: first_path.clone(),
            path: p.clone(),
        });
    }
    Ok(())
}

/// Merges shard reports (`(path, report)` pairs).
///
/// # Errors
/// Reports that are not one whole split ([`check_complete`]), or a case
/// (same full name in the same suite file) found in two reports.
pub fn merge(reports: Vec<(PathBuf, JsonReport)>) -> Result<MergedRun, MergeError> {
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
                return Err(MergeError::CaseInTwoReports {
                    case: case.full_name(),
                    first_path: other,
                    path,
                });
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
    Ok(MergedRun {
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
pub fn replay(merged: MergedRun, reporters: &mut [Box<dyn Reporter>]) -> Vec<std::io::Error> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Shard;

    fn report(shard: Option<(u32, u32)>, digest: Option<&str>) -> JsonReport {
        JsonReport {
            version: 1,
            started_at: None,
            shard: shard.map(|(index, total)| Shard { index, total }),
            plan_digest: digest.map(Into::into),
            cases: Vec::new(),
            thresholds: Vec::new(),
            summary: RunSummary::default(),
        }
    }

    fn error_of(reports: Vec<(&str, JsonReport)>) -> String {
        let reports = reports.into_iter().map(|(p, r)| (PathBuf::from(p), r)).collect();
        match merge(reports) {
            Ok(_) => panic!("the reports merged"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn split_errors_name_the_files() {
        assert_eq!(
            error_of(vec![
                ("a.json", report(Some((1, 2)), Some("d"))),
                ("b.json", report(None, Some("d")))
            ]),
            "b.json not from a --shard run, the others are: merge the reports of one split only"
        );
        assert_eq!(
            error_of(vec![
                ("a.json", report(Some((1, 2)), Some("d"))),
                ("b.json", report(Some((2, 3)), Some("d")))
            ]),
            "b.json is shard 2/3, but a.json is shard 1/2: the reports are from different splits"
        );
        assert_eq!(
            error_of(vec![
                ("a.json", report(Some((1, 3)), Some("d"))),
                ("b.json", report(Some((1, 3)), Some("d")))
            ]),
            "shard 1/3 appears twice (a.json and b.json)"
        );
        assert_eq!(
            error_of(vec![("a.json", report(Some((2, 3)), Some("d")))]),
            "shard 1/3, 3/3 missing: a merge of part of a split would gate on part of the cases"
        );
        assert!(error_of(vec![
            ("a.json", report(Some((1, 2)), Some("d"))),
            ("b.json", report(Some((2, 2)), None))
        ])
        .starts_with("b.json has no plan digest (it was written by an older promptgate), so it"));
        assert!(error_of(vec![
            ("a.json", report(Some((1, 2)), Some("d"))),
            ("b.json", report(Some((2, 2)), Some("e")))
        ])
        .starts_with("a.json and b.json were made from different suites or prompts (plan digests differ:"));
    }

    #[test]
    fn reading_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.json");
        std::fs::write(&path, r#"{"version":2,"cases":[],"summary":{"passed":0,"failed":0,"errored":0,"skipped":0,"duration_ms":0,"metrics":{}}}"#).unwrap();
        let err = read_report(&path).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "{}: report format version 2 (this promptgate reads version 1)",
                path.display()
            )
        );
        std::fs::write(&path, "[]").unwrap();
        let err = read_report(&path).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!(
                "{}: not a promptgate JSON report (written by `promptgate test --json PATH`): ",
                path.display()
            )),
            "{err}"
        );
        let missing = dir.path().join("none.json");
        let err = read_report(&missing).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("{}: cannot read: ", missing.display())),
            "{err}"
        );
    }
}
