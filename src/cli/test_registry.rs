//! The registry side of `promptgate test`: `--baseline LABEL` (run the
//! labelled versions on the same cases first, compare when the run finishes)
//! and `--registry PATH` / `--record-run` (record the run). Kept apart from
//! `test_cmd` so that the test command itself only calls three hooks.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::analysis::compare::{self, Comparison};
use crate::cli::exit;
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::registry::record::Coverage;
use crate::registry::{self, record, Registry, Version};
use crate::report::junit::ExtraProperties;
use crate::report::Reporter;
use crate::result::{CaseResult, RunVerdict};
use crate::runner::Event;
use crate::session::{self as pipeline, ModeFlags};
use crate::settings::Config;
use crate::suite::Project;

use super::test_cmd::TestArgs;

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

/// Runs the versions holding `label` (for every registered prompt the
/// suites use) on the same suites and cases, silently. `Ok(None)` (with a
/// warning) when the registry or the label does not exist yet: there is
/// nothing to compare with.
///
/// # Errors
/// Input errors in the baseline's suites; a registry that cannot be read.
#[allow(clippy::too_many_arguments)]
pub fn run_baseline(
    reg: &Registry,
    label: &str,
    prompts: &BTreeSet<String>,
    paths: &[PathBuf],
    prompts_dir: &std::path::Path,
    user_overrides: &BTreeMap<String, PathBuf>,
    filters: &[String],
    plan_opts: &crate::runner::PlanOptions,
    flags: &ModeFlags,
    jobs: usize,
    calls: &pipeline::CallSettings,
) -> Result<Option<Baseline>, Diagnostics> {
    let tmp =
        tempfile::tempdir().map_err(|e| Diagnostic::error(format!("cannot create a temporary folder: {e}"), None))?;
    let mut overrides = user_overrides.clone();
    let mut versions = Vec::new();
    for name in prompts {
        let v = reg
            .labelled(name, label)
            .map_err(|e| Diagnostic::error(e.to_string(), None))?;
        if let Some(v) = v {
            let file = tmp.path().join(format!("{name}.{}", v.file_ext));
            std::fs::write(&file, &v.content)
                .map_err(|e| Diagnostic::error(format!("cannot write {}: {e}", file.display()), None))?;
            overrides.insert(name.clone(), file);
            versions.push(v);
        }
    }
    if versions.is_empty() {
        eprintln!(
            "warning: no prompt under test has a `{label}` version in the registry; nothing to compare with (run `promptgate registry activate NAME@V` first)"
        );
        return Ok(None);
    }
    let shown: Vec<String> = versions.iter().map(Version::display).collect();
    let label_text = format!("{label}: {}", shown.join(", "));
    eprintln!("running the baseline ({label_text}) on the same cases");
    let project = pipeline::load(paths, prompts_dir, overrides)?;
    let outcome = pipeline::run_suites(
        project.suites,
        project.templates,
        filters,
        plan_opts,
        flags,
        jobs,
        calls,
        vec![Box::new(crate::report::console::StderrNotices)],
    )?;
    Ok(Some(Baseline {
        label: label_text,
        cases: outcome.cases,
        verdict: outcome.verdict,
    }))
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

/// The registry hooks of one `promptgate test` run.
pub struct Hooks {
    registry: Option<Registry>,
    record: bool,
    coverage: Coverage,
    baseline: Option<Arc<Baseline>>,
    alphas: BTreeMap<String, f64>,
    comparison: SharedComparison,
    props: ExtraProperties,
    collector: crate::report::collect::Collector,
    alpha: f64,
    filtered: bool,
    /// `--author`; the actor is resolved (which may run `git`) only when the run is recorded.
    author: Option<String>,
    started_at: String,
}

impl Hooks {
    /// Before the run: opens the registry when asked to and runs the baseline.
    ///
    /// # Errors
    /// A registry that cannot be opened (exit 2; a locked one is reported by
    /// the caller as the registry error's own code), input errors of the baseline.
    pub fn prepare(
        args: &TestArgs,
        config: &Config,
        project: &Project,
        prompts_dir: &std::path::Path,
        calls: &pipeline::CallSettings,
    ) -> Result<Hooks, (i32, Diagnostics)> {
        // `--list` calls nothing: no baseline run, nothing recorded.
        let record = !args.list && (args.registry.is_some() || args.record_run);
        let baseline_label = args.baseline.as_ref().filter(|_| !args.list);
        let wanted = record || baseline_label.is_some();
        let path = registry::resolve_path(args.registry.as_deref(), config);
        let to_diag = |e: registry::RegistryError| {
            (
                exit::of_registry_error(&e),
                Diagnostics::from(Diagnostic::error(e.to_string(), None)),
            )
        };
        // Recording: open and check the registry before the run, so that a
        // damaged file is found (exit 2) before any case runs.
        let registry = if record {
            Some(Registry::open_checked(&path).map_err(to_diag)?)
        } else if wanted && path.exists() {
            Some(Registry::open_existing(&path).map_err(to_diag)?)
        } else {
            None
        };
        let coverage = Coverage::of(&project.suites);
        let mut baseline = None;
        if let Some(label) = baseline_label {
            match &registry {
                None => eprintln!(
                    "warning: no registry at {}; nothing to compare with (`promptgate registry add` creates it)",
                    path.display()
                ),
                Some(reg) => {
                    let names: BTreeSet<String> = coverage.prompts.iter().map(|(n, _, _)| n.clone()).collect();
                    let flags = ModeFlags {
                        record: args.record.clone(),
                        replay: args.replay.clone(),
                        live: args.live,
                        config_replay: config.test.replay.clone(),
                    };
                    let jobs = args.jobs.map(usize::from).or(config.test.jobs).unwrap_or(8);
                    let overrides: BTreeMap<String, PathBuf> = args.prompts.iter().cloned().collect();
                    let plan_opts = crate::runner::PlanOptions {
                        graders: super::test_cmd::grader_flags(args).map_err(|d| (exit::INVALID_INPUT, d))?,
                        ..Default::default()
                    };
                    baseline = run_baseline(
                        reg,
                        label,
                        &names,
                        &args.paths,
                        prompts_dir,
                        &overrides,
                        &args.filter,
                        &plan_opts,
                        &flags,
                        jobs,
                        calls,
                    )
                    .map_err(|d| (exit::INVALID_INPUT, d))?
                    .map(Arc::new);
                }
            }
        }
        let alphas = project
            .suites
            .iter()
            .filter_map(|s| s.gate_alpha.map(|a| (s.name.clone(), a)))
            .collect();
        Ok(Hooks {
            registry,
            record,
            coverage,
            baseline,
            alphas,
            comparison: Arc::new(Mutex::new(None)),
            props: Arc::new(Mutex::new(Vec::new())),
            collector: crate::report::collect::Collector::new(),
            alpha: config.registry.alpha(),
            // A run of one shard (of several) covers only part of the cases:
            // like a --filter run it is recorded but never justifies an activation.
            filtered: !args.filter.is_empty() || args.shard.is_some_and(|s| s.total > 1),
            author: args.author.clone(),
            started_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        })
    }

    /// Reporters to put first in the list.
    pub fn reporters(&self) -> Vec<Box<dyn Reporter>> {
        let mut out: Vec<Box<dyn Reporter>> = Vec::new();
        if self.record && self.registry.is_some() {
            // Only a recorded run needs every case kept until the end.
            out.push(Box::new(self.collector.clone()));
        }
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

    /// After the run: prints the comparison (console and step summary) and
    /// records the run. Returns the exit code: a run whose cases all passed
    /// but that is significantly worse than the baseline is exit 1 (as the
    /// gate would block it); a run that could not be recorded is exit 3
    /// unless it already failed.
    pub fn finish(self, verdict: RunVerdict, summary: &crate::result::RunSummary) -> RunVerdict {
        let cmp = self.comparison.lock().ok().and_then(|mut c| c.take());
        let mut verdict = verdict;
        if let Some((cmp, lost)) = &cmp {
            let mut out = std::io::stdout().lock();
            let _ = write!(out, "{}", cmp.console(self.alpha));
            append_step_summary(&cmp.markdown(self.alpha));
            if verdict == RunVerdict::Pass && !cmp.regressions(self.alpha).is_empty() {
                let _ = writeln!(out, "comparison: FAILED (significantly worse than {})", cmp.baseline);
                verdict = RunVerdict::Fail;
            }
            let baseline_errored = self.baseline.as_ref().is_some_and(|b| b.verdict == RunVerdict::Error);
            if baseline_errored || !lost.is_empty() {
                // A regression could hide in the pairs lost to errors: no verdict.
                let _ = writeln!(
                    out,
                    "comparison: INCOMPLETE (provider errors in the baseline run {}{}); no verdict on the comparison",
                    cmp.baseline,
                    if lost.is_empty() {
                        String::new()
                    } else {
                        format!("; pairs lost: {}", lost.join(", "))
                    }
                );
                // A run that already fails keeps exit 1: the lost pairs cannot turn it into a pass.
                if verdict == RunVerdict::Pass {
                    verdict = RunVerdict::Error;
                }
            }
        }
        if let (true, Some(reg)) = (self.record, &self.registry) {
            let cases = self.collector.cases();
            let actor = registry::actor(self.author.as_deref());
            let report = record::RunReport {
                coverage: &self.coverage,
                cases: &cases,
                summary,
                verdict,
                filtered: self.filtered,
                started_at: &self.started_at,
                actor: &actor,
                command: record::command_line(),
            };
            match record::record(reg, &report) {
                Ok((id, registered)) => {
                    for v in registered {
                        eprintln!("registered {} ({})", v.display(), &v.sha256[..12]);
                    }
                    let versions: Vec<String> = self
                        .coverage
                        .prompts
                        .iter()
                        .map(|(n, h, _)| format!("{n}@{}", &h[..12]))
                        .collect();
                    eprintln!(
                        "recorded run {id} ({}) in {}: {}",
                        verdict.as_str(),
                        reg.path().map(|p| p.display().to_string()).unwrap_or_default(),
                        versions.join(", ")
                    );
                }
                Err(e) => {
                    eprintln!("error: cannot record the run: {e}");
                    if verdict == RunVerdict::Pass {
                        verdict = RunVerdict::Error;
                    }
                }
            }
        }
        verdict
    }
}

/// Appends Markdown to `$GITHUB_STEP_SUMMARY` when it is set (GitHub Actions).
pub fn append_step_summary(markdown: &str) {
    let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) else {
        return;
    };
    let r = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(format!("\n{markdown}\n").as_bytes()));
    if let Err(e) = r {
        eprintln!("warning: cannot append to $GITHUB_STEP_SUMMARY: {e}");
    }
}
