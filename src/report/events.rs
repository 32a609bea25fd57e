//! Events the runner emits while a run progresses. Reporters consume them;
//! the runner knows nothing of consoles, JUnit or JSON.

use std::sync::Arc;

use crate::result::{CaseResult, RunSummary};

/// What a run is about to do.
#[derive(Debug, Clone)]
pub struct RunInfo {
    /// Cases that will run.
    pub total_cases: usize,
    /// Distinct suites in the plan.
    pub suites: usize,
    /// Local time the run started.
    pub started_at: chrono::DateTime<chrono::Local>,
    /// `--shard I/N`, when the run is one part of a split (written into the
    /// JSON report so that `report merge` can check every part is there).
    pub shard: Option<crate::settings::Shard>,
    /// The plan's digest (`runner::Plan::digest`), written into the JSON
    /// report so that `report merge` refuses shards of different plans.
    pub plan_digest: Option<String>,
}

/// One step of a run, in the order reporters receive them: `RunStarted`,
/// any number of `CaseFinished` (in completion order, not plan order), one
/// `ThresholdsChecked` per suite × prompt × provider whose suite sets
/// `thresholds`, then `RunFinished`. Notices may come in between:
/// `Warning`s, at most one `Interrupted`, and `Aborted`, which ends the
/// run instead of `RunFinished` (nothing follows it).
#[derive(Debug, Clone)]
pub enum Event {
    /// The plan is made; nothing has been called yet.
    RunStarted(RunInfo),
    /// One case reached a verdict (or an error, or was skipped).
    CaseFinished(Arc<CaseResult>),
    /// A group's suite-level thresholds were checked (after all its cases).
    ThresholdsChecked(Arc<crate::analysis::thresholds::ThresholdOutcome>),
    /// Every case finished.
    RunFinished(RunSummary),
    /// Something went wrong that fails no case (a cache entry or call-log
    /// row that could not be written): one line, without `warning: `.
    Warning(String),
    /// Ctrl-C: no new case starts; the cases in flight finish, the rest are
    /// reported as skipped and every report is still written.
    Interrupted,
    /// A second Ctrl-C: the run stops at once, with the cases in flight.
    /// What was recorded was saved; reports must not be written. `errors`
    /// are what failed while saving (one line each, without `error: `).
    Aborted {
        /// Recordings or cache writes that failed while stopping.
        errors: Vec<String>,
    },
}
