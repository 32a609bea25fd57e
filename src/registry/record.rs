//! Recording a finished test run in the registry.

use std::sync::Arc;

use super::{new_version_from_file, NewRun, Registry, RegistryError, Result, RunVerdict, Version};
use crate::pipeline::Coverage;
use crate::result::{CaseResult, RunSummary};

/// What to record about a run.
#[derive(Debug)]
pub struct RunReport<'a> {
    /// What the run covered.
    pub coverage: &'a Coverage,
    /// Every case.
    pub cases: &'a [Arc<CaseResult>],
    /// Counts and metrics.
    pub summary: &'a RunSummary,
    /// The run's exit code (its verdict: 0 pass, 1 fail, else error).
    pub exit_code: i32,
    /// True when `--filter` selected a subset.
    pub filtered: bool,
    /// Start, UTC, RFC 3339.
    pub started_at: &'a str,
    /// Who ran it.
    pub actor: &'a str,
    /// The command line.
    pub command: String,
}

/// Registers the run's prompt versions that are not registered yet (label-free,
/// so that the run points at immutable content), then records the run.
/// Returns the run id and the versions registered now.
///
/// # Errors
/// A prompt file that changed while the run was going (its hash no longer
/// matches), and storage errors.
pub fn record(reg: &Registry, r: &RunReport<'_>) -> Result<(i64, Vec<Version>)> {
    let mut registered = Vec::new();
    for (name, sha, file) in &r.coverage.prompts {
        let known = reg.store().versions(name)?.into_iter().any(|v| &v.sha256 == sha);
        if known {
            continue;
        }
        let nv = new_version_from_file(name, file, r.actor, Some("registered by a recorded test run"))?;
        if &nv.sha256 != sha {
            return Err(RegistryError::Invalid(format!(
                "{} changed while the run was going; run again",
                file.display()
            )));
        }
        let (v, created) = reg.store().register(&nv)?;
        if created {
            registered.push(v);
        }
    }
    let s = r.summary;
    let run = NewRun {
        started_at: r.started_at.to_string(),
        actor: r.actor.to_string(),
        command: r.command.clone(),
        verdict: RunVerdict::from_exit_code(r.exit_code),
        exit_code: r.exit_code,
        counts: [s.passed as u64, s.failed as u64, s.errored as u64, s.skipped as u64],
        filtered: r.filtered,
        metrics: serde_json::to_value(&s.metrics).unwrap_or_default(),
        versions: r
            .coverage
            .prompts
            .iter()
            .map(|(n, h, _)| (n.clone(), h.clone()))
            .collect(),
        suites: r.coverage.suites.clone(),
        cases: r.coverage.run_cases(r.cases),
    };
    let id = reg.store().record_run(&run)?;
    Ok((id, registered))
}

/// The command line of this process, for the run record.
pub fn command_line() -> String {
    let mut args = std::env::args();
    let _ = args.next();
    std::iter::once("promptgate".to_string())
        .chain(args)
        .collect::<Vec<_>>()
        .join(" ")
}
