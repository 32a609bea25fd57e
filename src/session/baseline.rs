//! The registry side of a test run: `--baseline LABEL` (run the labelled
//! versions on the same cases first, compare when the run finishes) and
//! `--registry PATH` / `--record-run` (record the run). [`RegistryRun`]
//! wraps one run: [`RegistryRun::prepare`] before it, [`RegistryRun::reporters`]
//! during it, [`RegistryRun::finish`] after it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use super::{FinishedRun, Notice, RunRequest, SessionError};
use crate::analysis::compare::{self, Comparison};
use crate::diagnostic::Diagnostic;
use crate::registry::record::{self, Coverage};
use crate::registry::{self, Registry, RegistryError, Version};
use crate::report::junit::ExtraProperties;
use crate::report::{Event, Reporter};
use crate::result::{CaseResult, RunVerdict};
use crate::suite::Project;

/// The baseline run: the labelled versions on the same cases.
#[derive(Debug)]
pub struct Baseline {
    /// `production: rag_system@1`.
    pub label: String,
    /// Its cases.
    pub cases: Vec<Arc<CaseResult>>,
    /// The baseline run's verdict (`Error` when provider errors kept cases from a verdict).
    pub verdict: RunVerdict,
}

/// Runs the versions holding `label` (for every registered prompt in
/// `prompts`) with `request` (its overrides extended with those versions),
/// silently. `Ok(None)` (with a [`Notice::NoBaselineVersion`]) when no
/// prompt has a version holding the label: there is nothing to compare with.
///
/// # Errors
/// Input errors in the baseline's suites; a registry that cannot be read.
pub fn run_baseline(
    reg: &Registry,
    label: &str,
    prompts: &BTreeSet<String>,
    request: &RunRequest,
    notify: &mut dyn FnMut(Notice),
) -> Result<Option<Baseline>, SessionError> {
    let tmp =
        tempfile::tempdir().map_err(|e| Diagnostic::error(format!("cannot create a temporary folder: {e}"), None))?;
    let mut request = request.clone();
    let mut versions = Vec::new();
    for name in prompts {
        if let Some(v) = reg.labelled(name, label)? {
            let file = tmp.path().join(format!("{name}.{}", v.file_ext));
            std::fs::write(&file, &v.content)
                .map_err(|e| Diagnostic::error(format!("cannot write {}: {e}", file.display()), None))?;
            request.overrides.insert(name.clone(), file);
            versions.push(v);
        }
    }
    if versions.is_empty() {
        notify(Notice::NoBaselineVersion {
            label: label.to_string(),
        });
        return Ok(None);
    }
    let shown: Vec<String> = versions.iter().map(Version::display).collect();
    let label_text = format!("{label}: {}", shown.join(", "));
    notify(Notice::BaselineStarting {
        label: label_text.clone(),
    });
    let project = request.load()?;
    let finished = request.run_suites(
        project.suites,
        project.templates,
        vec![Box::new(crate::report::console::StderrNotices)],
        notify,
    )?;
    Ok(Some(Baseline {
        label: label_text,
        cases: finished.cases,
        verdict: finished.verdict,
    }))
}

/// The baseline's run of a candidate's `request`: the same suites, filters,
/// graders, mode, calls and jobs, each case once (no `--repeat`, no shard,
/// no fail-fast).
fn baseline_request(request: &RunRequest) -> RunRequest {
    RunRequest {
        plan: crate::runner::PlanOptions {
            graders: request.plan.graders.clone(),
            ..Default::default()
        },
        run: crate::runner::RunOptions {
            jobs: request.run.jobs,
            ..Default::default()
        },
        ..request.clone()
    }
}

/// The comparison and the cases whose pairs were lost to errors, filled when the run finishes.
type SharedComparison = Arc<Mutex<Option<(Comparison, Vec<String>)>>>;

/// Computes the comparison when the run finishes (before the JUnit reporter
/// writes, so that it can carry the comparison as properties).
struct ComparisonReporter {
    baseline: Arc<Baseline>,
    alphas: BTreeMap<String, f64>,
    cases: Vec<Arc<CaseResult>>,
    out: SharedComparison,
    props: ExtraProperties,
}

impl Reporter for ComparisonReporter {
    fn on_event(&mut self, event: &Event) -> std::io::Result<()> {
        match event {
            Event::RunStarted(_) => self.cases.clear(),
            Event::CaseFinished(c) => self.cases.push(Arc::clone(c)),
            Event::RunFinished(_) => {
                let cmp = compare::compare(&self.baseline.label, &self.baseline.cases, &self.cases)
                    .with_suite_alphas(&self.alphas);
                if let Ok(mut p) = self.props.lock() {
                    p.extend(cmp.junit_properties());
                }
                let lost = compare::lost_to_errors(&self.baseline.cases, &self.cases);
                if let Ok(mut o) = self.out.lock() {
                    *o = Some((cmp, lost));
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// What the registry side of a test run is asked to do.
#[derive(Debug, Clone, Default)]
pub struct RegistryRunOptions {
    /// The registry file (resolved: flag, env, config, default).
    pub registry_path: PathBuf,
    /// Record the run (`--registry` / `--record-run`).
    pub record: bool,
    /// `--baseline LABEL`.
    pub baseline: Option<String>,
    /// `--author`; the actor is resolved (which may run `git`) only when the run is recorded.
    pub author: Option<String>,
    /// The significance level of the comparison (`[registry] alpha`).
    pub alpha: f64,
}

/// The registry side of one `promptgate test` run: the baseline and its
/// comparison, and the recording of the run.
pub struct RegistryRun {
    opts: RegistryRunOptions,
    /// The run covers only part of the cases (`--filter`, or one shard of
    /// several): it is recorded but never justifies an activation.
    filtered: bool,
    registry: Option<Registry>,
    coverage: Coverage,
    baseline: Option<Arc<Baseline>>,
    alphas: BTreeMap<String, f64>,
    comparison: SharedComparison,
    props: ExtraProperties,
}

/// The comparison with the baseline, once the run finished.
#[derive(Debug)]
pub struct BaselineComparison {
    /// The paired comparison.
    pub comparison: Comparison,
    /// Its significance level.
    pub alpha: f64,
    /// Every case passed but the run is significantly worse than the
    /// baseline: the run fails (as the gate would block it).
    pub worse: bool,
    /// Provider errors in the baseline run, or pairs lost to errors (their
    /// names): no verdict on the comparison.
    pub incomplete: Option<Vec<String>>,
}

/// A run recorded in the registry.
#[derive(Debug)]
pub struct RecordedRun {
    /// The run's id.
    pub id: i64,
    /// Versions the recording registered (content not registered before).
    pub registered: Vec<Version>,
    /// The versions the run covered, `NAME@SHA12`.
    pub versions: Vec<String>,
    /// The registry file.
    pub path: String,
}

/// The end of a run with its registry side.
#[derive(Debug)]
pub struct RunConclusion {
    /// The final verdict (a comparison or a failed recording can change the run's).
    pub verdict: RunVerdict,
    /// The comparison, with `--baseline` when there was something to compare with.
    pub comparison: Option<BaselineComparison>,
    /// The recording, when asked for: the run, or why it could not be recorded.
    pub recorded: Option<Result<RecordedRun, RegistryError>>,
}

impl RegistryRun {
    /// Before the run: opens the registry when asked to and runs the
    /// baseline on the cases of `request` (the candidate run's).
    ///
    /// # Errors
    /// A registry that cannot be opened ([`SessionError::Registry`]), input
    /// errors of the baseline ([`SessionError::Input`]).
    pub fn prepare(
        opts: RegistryRunOptions,
        project: &Project,
        request: &RunRequest,
        notify: &mut dyn FnMut(Notice),
    ) -> Result<RegistryRun, SessionError> {
        let wanted = opts.record || opts.baseline.is_some();
        let path = &opts.registry_path;
        // Recording: open and check the registry before the run, so that a
        // damaged file is found (exit 2) before any case runs.
        let registry = if opts.record {
            Some(Registry::open_checked(path)?)
        } else if wanted && path.exists() {
            Some(Registry::open_existing(path)?)
        } else {
            None
        };
        let coverage = Coverage::of(&project.suites);
        let mut baseline = None;
        if let Some(label) = &opts.baseline {
            match &registry {
                None => notify(Notice::NoRegistry { path: path.clone() }),
                Some(reg) => {
                    let names: BTreeSet<String> = coverage.prompts.iter().map(|(n, _, _)| n.clone()).collect();
                    let baseline_request = baseline_request(request);
                    baseline = run_baseline(reg, label, &names, &baseline_request, notify)?.map(Arc::new);
                }
            }
        }
        let alphas = project
            .suites
            .iter()
            .filter_map(|s| s.gate_alpha.map(|a| (s.name.clone(), a)))
            .collect();
        Ok(RegistryRun {
            opts,
            filtered: !request.filters.is_empty() || request.plan.shard.is_some_and(|s| s.total > 1),
            registry,
            coverage,
            baseline,
            alphas,
            comparison: Arc::new(Mutex::new(None)),
            props: Arc::new(Mutex::new(Vec::new())),
        })
    }

    /// True when the run must keep every case (to record them).
    pub fn keeps_cases(&self) -> bool {
        self.opts.record && self.registry.is_some()
    }

    /// Reporters to put first in the run's list.
    pub fn reporters(&self) -> Vec<Box<dyn Reporter>> {
        let mut out: Vec<Box<dyn Reporter>> = Vec::new();
        if let Some(b) = &self.baseline {
            out.push(Box::new(ComparisonReporter {
                baseline: Arc::clone(b),
                alphas: self.alphas.clone(),
                cases: Vec::new(),
                out: Arc::clone(&self.comparison),
                props: Arc::clone(&self.props),
            }));
        }
        out
    }

    /// The comparison's JUnit properties (filled when the run finishes).
    pub fn junit_properties(&self) -> ExtraProperties {
        Arc::clone(&self.props)
    }

    /// After the run: judges the comparison and records the run. A run
    /// whose cases all passed but that is significantly worse than the
    /// baseline fails; an incomplete comparison leaves a passing run
    /// without a verdict (`Error`); a run that could not be recorded is
    /// `Error` unless it already failed.
    pub fn finish(self, run: &FinishedRun) -> RunConclusion {
        let mut verdict = run.verdict;
        let cmp = self.comparison.lock().ok().and_then(|mut c| c.take());
        let comparison = cmp.map(|(cmp, lost)| {
            let alpha = self.opts.alpha;
            let worse = verdict == RunVerdict::Pass && !cmp.regressions(alpha).is_empty();
            if worse {
                verdict = RunVerdict::Fail;
            }
            let baseline_errored = self.baseline.as_ref().is_some_and(|b| b.verdict == RunVerdict::Error);
            let incomplete = (baseline_errored || !lost.is_empty()).then_some(lost);
            // A run that already fails keeps exit 1: the lost pairs cannot turn it into a pass.
            if incomplete.is_some() && verdict == RunVerdict::Pass {
                verdict = RunVerdict::Error;
            }
            BaselineComparison {
                comparison: cmp,
                alpha,
                worse,
                incomplete,
            }
        });
        let recorded = match (self.opts.record, &self.registry) {
            (true, Some(reg)) => {
                let actor = registry::actor(self.opts.author.as_deref());
                let report = record::RunReport {
                    coverage: &self.coverage,
                    cases: &run.cases,
                    summary: &run.summary,
                    verdict,
                    filtered: self.filtered,
                    started_at: &run.started_at,
                    actor: &actor,
                    command: record::command_line(),
                };
                let r = record::record(reg, &report).map(|(id, registered)| RecordedRun {
                    id,
                    registered,
                    versions: self
                        .coverage
                        .prompts
                        .iter()
                        .map(|(n, h, _)| format!("{n}@{}", &h[..12.min(h.len())]))
                        .collect(),
                    path: reg.path().map(|p| p.display().to_string()).unwrap_or_default(),
                });
                if r.is_err() && verdict == RunVerdict::Pass {
                    verdict = RunVerdict::Error;
                }
                Some(r)
            }
            _ => None,
        };
        RunConclusion {
            verdict,
            comparison,
            recorded,
        }
    }
}
