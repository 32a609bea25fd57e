//! Recording a finished test run in the registry.

use std::sync::Arc;

use super::{new_version_from_file, NewRun, Registry, RegistryError, Result, RunVerdict, Version};
use std::path::PathBuf;

use super::{RunCase, RunSuite};
use crate::result::{CaseResult, RunSummary};
use crate::suite::Suite;

/// What to record about a run.
#[derive(Debug)]
pub struct RunReport<'a> {
    /// What the run covered.
    pub coverage: &'a Coverage,
    /// Every case.
    pub cases: &'a [Arc<CaseResult>],
    /// Counts and metrics.
    pub summary: &'a RunSummary,
    /// The run's verdict.
    pub verdict: RunVerdict,
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
        verdict: r.verdict,
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

/// What a run covered: file-backed prompts (name, full SHA-256, file) and suites.
#[derive(Debug, Clone, Default)]
pub struct Coverage {
    /// (prompt name, SHA-256, file) of every file-backed prompt run.
    pub prompts: Vec<(String, String, PathBuf)>,
    /// The suites.
    pub suites: Vec<RunSuite>,
}

impl Coverage {
    /// Describes `suites` before they are planned.
    pub fn of(suites: &[Suite]) -> Coverage {
        let mut prompts: Vec<(String, String, PathBuf)> = Vec::new();
        let mut out = Vec::new();
        for s in suites {
            for p in &s.prompts {
                if let Some(f) = &p.file {
                    if !prompts.iter().any(|(n, h, _)| n == &p.name && h == &p.sha256) {
                        prompts.push((p.name.clone(), p.sha256.clone(), f.clone()));
                    }
                }
            }
            let sha = std::fs::read(&s.file)
                .map(|b| crate::util::sha256_hex(&b))
                .unwrap_or_default();
            out.push(RunSuite {
                name: s.name.clone(),
                file: s.file.display().to_string(),
                sha256: sha,
                prompts: s.prompts.iter().map(|p| p.name.clone()).collect(),
            });
        }
        Coverage { prompts, suites: out }
    }

    /// The full SHA-256 of a case's prompt (cases carry the first 12 characters).
    pub fn sha_of(&self, case: &CaseResult) -> Option<&str> {
        self.prompts
            .iter()
            .find(|(n, h, _)| n == &case.prompt && h.starts_with(&case.prompt_hash))
            .map(|(_, h, _)| h.as_str())
    }

    /// The recorded form of `cases`.
    pub fn run_cases(&self, cases: &[Arc<CaseResult>]) -> Vec<RunCase> {
        cases
            .iter()
            .map(|c| RunCase {
                name: c.name.clone(),
                suite: c.suite.clone(),
                prompt: c.prompt.clone(),
                prompt_sha256: self.sha_of(c).unwrap_or(&c.prompt_hash).to_string(),
                provider: c.provider.clone(),
                verdict: c.verdict,
                score: c.score,
                metrics: serde_json::to_value(&c.metrics).unwrap_or_default(),
            })
            .collect()
    }
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
