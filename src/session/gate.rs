//! The gate's runs: for each candidate prompt file whose content differs
//! from its active version, register it, run the suites that use it, record
//! the run, compare with the active version, and decide ([`crate::gate`]);
//! then, fail closed, activate the candidates that passed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::{baseline, CallSettings, FinishedRun, ModeFlags, Notice, RunRequest, SessionError};
use crate::analysis::compare::{self, Comparison};
use crate::gate::{self as rules, GateDecision, GateOutcome};
use crate::prompt::PromptCatalog;
use crate::registry::record::{self, Coverage};
use crate::registry::{self, Registry, Version, PRODUCTION};
use crate::report::Reporter;
use crate::runner::{PlanOptions, RunOptions};

/// The hint a refused activation prints: the command that makes the suites pass.
const HINT: &str = "promptgate gate suites/";

/// What the gate is asked to do.
#[derive(Debug, Clone, Default)]
pub struct GateRequest {
    /// Suite files or folders.
    pub paths: Vec<PathBuf>,
    /// Where prompt files are.
    pub prompts_dir: PathBuf,
    /// Prompt `NAME` → candidate file: the prompt files in the folder, then `--prompt` files.
    pub candidates: BTreeMap<String, PathBuf>,
    /// Replay or live.
    pub mode: ModeFlags,
    /// Cases in flight at once.
    pub jobs: usize,
    /// Cache and prices (no budget).
    pub calls: CallSettings,
    /// Significance level of the comparison.
    pub alpha: f64,
    /// `max_token_growth`, a fraction (0.10 = 10%).
    pub max_token_growth: f64,
    /// Who registers and activates (audited).
    pub actor: String,
    /// The project's suites folder: an activation requires a passing run
    /// of every suite there that tests the prompt, too.
    pub project_suites: PathBuf,
}

/// What the gate did.
#[derive(Debug, Default)]
pub struct GateReport {
    /// One decision per changed prompt, in name order.
    pub decisions: Vec<GateDecision>,
    /// The comparisons with the active versions.
    pub comparisons: Vec<Comparison>,
}

/// The prompt files in `prompts_dir` (version files `NAME.vN.ext` excluded),
/// then `explicit` (`--prompt NAME=PATH`, over a file of the same name).
pub fn candidates(prompts_dir: &Path, explicit: &[(String, PathBuf)]) -> BTreeMap<String, PathBuf> {
    let catalog = PromptCatalog::new(prompts_dir.to_path_buf(), Default::default());
    let mut out: BTreeMap<String, PathBuf> = catalog
        .available()
        .into_iter()
        .filter_map(|n| catalog.find(&n).map(|f| (n, f)))
        .collect();
    out.extend(explicit.iter().cloned());
    out
}

/// Runs the gate over `request.candidates`; `reporters` makes each run's
/// reporters (console, annotations), `notify` hears what happens.
///
/// # Errors
/// Input errors in the suites (nothing is activated), a registry that
/// cannot be read or written.
pub fn run_gate(
    reg: &Registry,
    request: &GateRequest,
    reporters: &mut dyn FnMut() -> Vec<Box<dyn Reporter>>,
    notify: &mut dyn FnMut(Notice),
) -> Result<GateReport, SessionError> {
    // Phase 1: test every changed prompt; activate nothing yet.
    let mut report = GateReport::default();
    for (name, file) in &request.candidates {
        let nv = registry::new_version_from_file(name, file, &request.actor, Some("registered by promptgate gate"))?;
        let active = reg.labelled(name, PRODUCTION)?;
        if active.as_ref().is_some_and(|a| a.sha256 == nv.sha256) {
            continue;
        }
        let (version, _) = reg.store().register(&nv)?;
        notify(Notice::GateTesting {
            candidate: version.display(),
            short_sha: version.sha256[..12.min(version.sha256.len())].to_string(),
            active: active.as_ref().map(Version::display).unwrap_or_else(|| "none".into()),
        });
        let (decision, cmp) = gate_one(reg, request, name, file, &version, active.as_ref(), reporters, notify)?;
        report.decisions.push(decision);
        report.comparisons.extend(cmp);
    }

    // Phase 2: fail closed, then activate.
    rules::fail_closed(&mut report.decisions);
    for d in report
        .decisions
        .iter_mut()
        .filter(|d| d.outcome == GateOutcome::Activated)
    {
        let v = reg.resolve(&registry::VersionRef {
            prompt: d.prompt.clone(),
            selector: registry::Selector::Number(d.version),
        })?;
        if let Err(e) = reg.set_label(&v, PRODUCTION, true, &request.actor, None, &d.required, HINT) {
            d.activation_failed(&e);
        }
    }
    Ok(report)
}

/// Tests one candidate `version` of `name` (from `file`) against `active`.
#[allow(clippy::too_many_arguments)]
fn gate_one(
    reg: &Registry,
    request: &GateRequest,
    name: &str,
    file: &Path,
    version: &Version,
    active: Option<&Version>,
    reporters: &mut dyn FnMut() -> Vec<Box<dyn Reporter>>,
    notify: &mut dyn FnMut(Notice),
) -> Result<(GateDecision, Option<Comparison>), SessionError> {
    let alpha = request.alpha;
    let mut decision = GateDecision::new(name, version, active);
    // Graders: the suites' own (`options.provider`) or the defaults.
    let run_request = RunRequest {
        paths: request.paths.clone(),
        prompts_dir: request.prompts_dir.clone(),
        overrides: BTreeMap::from([(name.to_string(), file.to_path_buf())]),
        filters: Vec::new(),
        plan: PlanOptions::default(),
        mode: request.mode.clone(),
        calls: request.calls.clone(),
        run: RunOptions {
            jobs: request.jobs,
            ..Default::default()
        },
    };
    let project = run_request.load()?;
    let suites: Vec<_> = project
        .suites
        .into_iter()
        .filter(|s| s.prompts.iter().any(|p| p.name == name))
        .collect();
    if suites.is_empty() {
        decision.no_suite(&request.paths);
        return Ok((decision, None));
    }
    let suite_files: Vec<PathBuf> = suites.iter().map(|s| s.file.clone()).collect();
    let alphas: BTreeMap<String, f64> = suites
        .iter()
        .filter_map(|s| s.gate_alpha.map(|a| (s.name.clone(), a)))
        .collect();
    let coverage = Coverage::of(&suites);
    let outcome = run_request.run_suites(suites, project.templates, reporters(), notify)?;
    // What an activation requires: every suite that tests the prompt, in
    // the gate's paths and in the project's suites folder.
    decision.required = coverage.suites.clone();
    if request.project_suites.is_dir() {
        for s in super::suites_testing(
            name,
            &version.content,
            &version.file_ext,
            std::slice::from_ref(&request.project_suites),
            &request.prompts_dir,
        )? {
            if !decision.required.iter().any(|r| r.sha256 == s.sha256) {
                decision.required.push(s);
            }
        }
    }
    if !decision.judge_run(outcome.verdict, &outcome.cases, &outcome.thresholds) {
        record_decision(reg, &mut decision, &coverage, &outcome, &request.actor);
        return Ok((decision, None));
    }
    // Compare with the active version on the same cases.
    let Some(active) = active else {
        record_decision(reg, &mut decision, &coverage, &outcome, &request.actor);
        return Ok((decision, None));
    };
    let baseline_request = RunRequest {
        paths: suite_files,
        overrides: BTreeMap::new(),
        ..run_request
    };
    let names = BTreeSet::from([name.to_string()]);
    let Some(baseline) = baseline::run_baseline(reg, PRODUCTION, &names, &baseline_request, notify)? else {
        record_decision(reg, &mut decision, &coverage, &outcome, &request.actor);
        return Ok((decision, None));
    };
    let cmp = compare::compare(&baseline.label, &baseline.cases, &outcome.cases).with_suite_alphas(&alphas);
    let lost = compare::lost_to_errors(&baseline.cases, &outcome.cases);
    notify(Notice::Comparison(cmp.console(alpha)));
    decision.judge_comparison(active, &cmp, baseline.verdict, &lost, alpha);
    decision.judge_token_growth(version, active, request.max_token_growth, cmp.improved(alpha));
    record_decision(reg, &mut decision, &coverage, &outcome, &request.actor);
    Ok((decision, Some(cmp)))
}

/// Records the candidate's run with the gate's decision as its verdict
/// ([`GateOutcome::run_verdict`]).
fn record_decision(reg: &Registry, decision: &mut GateDecision, coverage: &Coverage, run: &FinishedRun, actor: &str) {
    let report = record::RunReport {
        coverage,
        cases: &run.cases,
        summary: &run.summary,
        verdict: decision.outcome.run_verdict(),
        filtered: false,
        started_at: &run.started_at,
        actor,
        command: record::command_line(),
    };
    match record::record(reg, &report) {
        Ok((id, _)) => decision.run_id = Some(id),
        Err(e) => decision.recording_failed(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_first_passing_version_is_activated_and_an_unchanged_one_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("prompts")).unwrap();
        std::fs::create_dir_all(root.join("suites")).unwrap();
        std::fs::write(root.join("prompts/greet.txt"), "Hello {{query}}").unwrap();
        std::fs::write(
            root.join("suites/s.yaml"),
            "prompts: [greet]\nproviders: [echo]\ntests:\n  - vars: {query: world}\n    assert: [{type: contains, value: world}]\n",
        )
        .unwrap();
        let reg = Registry::open(root.join("r.db")).unwrap();
        let request = GateRequest {
            paths: vec![root.join("suites")],
            candidates: candidates(&root.join("prompts"), &[]),
            prompts_dir: root.join("prompts"),
            jobs: 2,
            alpha: 0.05,
            max_token_growth: 0.1,
            actor: "test".into(),
            project_suites: root.join("suites"),
            ..Default::default()
        };
        let mut notices = Vec::new();
        let report = run_gate(&reg, &request, &mut Vec::new, &mut |n| notices.push(n)).unwrap();
        assert_eq!(report.decisions.len(), 1);
        let d = &report.decisions[0];
        assert_eq!(
            (d.outcome, d.version, d.was),
            (GateOutcome::Activated, 1, None),
            "{:?}",
            d.reasons
        );
        assert!(d.run_id.is_some());
        assert!(matches!(&notices[..], [Notice::GateTesting { active, .. }] if active == "none"));
        assert_eq!(reg.active("greet").unwrap().version, 1);

        let again = run_gate(&reg, &request, &mut Vec::new, &mut |_| {}).unwrap();
        assert!(again.decisions.is_empty());
    }
}
