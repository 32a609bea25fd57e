//! One run of suites, the only orchestration: load the project, plan, check
//! that the providers are ready (API keys, prices under a budget), open the
//! response cache and the recordings, run with the given reporters, and
//! return a [`FinishedRun`]. `promptgate test` drives the stages one by one
//! ([`RunRequest::plan`], [`PlannedRun::prepare`], [`ReadyRun::run`]); the
//! baseline run ([`baseline`]) and the gate's runs ([`gate`]) call
//! [`RunRequest::run_suites`], which chains the same stages.
//!
//! Nothing here prints or exits: what a command shows along the way is a
//! [`Notice`], what it ends with is a typed result.

pub mod baseline;
pub mod gate;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::provider::Env;
use crate::recording::{Mode, RecordingStore};
use crate::registry::record::Coverage;
use crate::registry::{RegistryError, RunSuite};
use crate::report::collect::RunResults;
use crate::report::Reporter;
use crate::result::{CaseResult, RunSummary, RunVerdict};
use crate::runner::{self, Plan, PlanOptions, RunContext, RunOptions, Shard};
use crate::suite::{self, LoadOptions, Suite};

/// What can stop a session before or while it runs.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// Bad input (suites, prompts, flags, config, missing API keys): exit 2, nothing was run.
    #[error("{0}")]
    Input(Diagnostics),
    /// The registry could not be opened, read or written (its own exit code).
    #[error("{0}")]
    Registry(#[from] RegistryError),
    /// A second Ctrl-C aborted the run at once (what was recorded is saved;
    /// no report is written). Command lines exit with status 130.
    #[error("{0}")]
    Aborted(#[from] runner::Aborted),
}

impl From<Diagnostics> for SessionError {
    fn from(d: Diagnostics) -> Self {
        SessionError::Input(d)
    }
}

impl From<Diagnostic> for SessionError {
    fn from(d: Diagnostic) -> Self {
        SessionError::Input(d.into())
    }
}

/// Something a command shows while a session goes on (the CLI prints it on
/// stderr, except [`Notice::Comparison`], which goes where the run's
/// console report goes). `Display` is the exact line.
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    /// `--shard I/N` selected nothing: not an error, the (empty) reports are still written.
    EmptyShard(Shard),
    /// A reporter failed (a report that could not be written).
    ReportError(String),
    /// The baseline run is starting (`production: rag_system@1, ...`).
    BaselineStarting {
        /// The label and the versions it holds.
        label: String,
    },
    /// No prompt under test has a version holding the baseline label.
    NoBaselineVersion {
        /// The label.
        label: String,
    },
    /// `--baseline` without a registry file: nothing to compare with.
    NoRegistry {
        /// Where the registry was looked for.
        path: PathBuf,
    },
    /// The gate found a changed prompt and tests it.
    GateTesting {
        /// The candidate, `NAME@V`.
        candidate: String,
        /// The first 12 hex digits of its SHA-256.
        short_sha: String,
        /// The active version, `NAME@V` or `none`.
        active: String,
    },
    /// The gate's comparison with the active version, as console text.
    Comparison(String),
}

impl std::fmt::Display for Notice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Notice::EmptyShard(s) => write!(f, "note: shard {}/{} holds no test cases", s.index, s.total),
            Notice::ReportError(e) => write!(f, "error: {e}"),
            Notice::BaselineStarting { label } => write!(f, "running the baseline ({label}) on the same cases"),
            Notice::NoBaselineVersion { label } => write!(
                f,
                "warning: no prompt under test has a `{label}` version in the registry; nothing to compare with (run `promptgate registry activate NAME@V` first)"
            ),
            Notice::NoRegistry { path } => write!(
                f,
                "warning: no registry at {}; nothing to compare with (`promptgate registry add` creates it)",
                path.display()
            ),
            Notice::GateTesting {
                candidate,
                short_sha,
                active,
            } => write!(
                f,
                "gate: {candidate} ({short_sha}) differs from the active version ({active}); testing it"
            ),
            Notice::Comparison(text) => f.write_str(text),
        }
    }
}

/// How provider calls are answered, as the flags and config say.
#[derive(Debug, Clone, Default)]
pub struct ModeFlags {
    /// `--record DIR`.
    pub record: Option<PathBuf>,
    /// `--replay DIR`.
    pub replay: Option<PathBuf>,
    /// `--live`.
    pub live: bool,
    /// `replay` in `promptgate.toml`.
    pub config_replay: Option<PathBuf>,
}

impl ModeFlags {
    /// The recording mode for a plan: live when no provider calls out,
    /// else the flag given, else the config's `replay`, else live.
    pub fn mode(&self, calls_out: bool) -> Mode {
        if !calls_out {
            Mode::Live
        } else if let Some(d) = &self.record {
            Mode::Record(d.clone())
        } else if let Some(d) = &self.replay {
            Mode::Replay(d.clone())
        } else if self.live {
            Mode::Live
        } else if let Some(d) = &self.config_replay {
            Mode::Replay(d.clone())
        } else {
            Mode::Live
        }
    }
}

/// What every run of one command shares about its calls: the response
/// cache and call log, the prices, and the `--max-cost` budget (one budget
/// for all of the command's runs: a `--baseline` run spends from it too).
#[derive(Debug, Clone, Default)]
pub struct CallSettings {
    /// The cache database and its TTL (`[cache]`); `None`: no cache, no call log.
    pub cache: Option<(PathBuf, std::time::Duration)>,
    /// Read and write cached answers (false with `--no-cache`: calls are
    /// still logged).
    pub use_cache: bool,
    /// The price table (built-in prices and `[prices]`).
    pub prices: crate::provider::pricing::PriceTable,
    /// `--max-cost`: prices are required (outside replay) and calls stop when it is spent.
    pub budget: Option<Arc<crate::provider::pricing::Budget>>,
}

impl CallSettings {
    /// The settings `promptgate.toml` gives, without a budget.
    pub fn from_config(config: &crate::settings::Config, no_cache: bool) -> Self {
        CallSettings {
            cache: Some((config.cache.path(), config.cache.ttl())),
            use_cache: !no_cache && config.cache.enabled.unwrap_or(true),
            prices: crate::provider::pricing::PriceTable {
                overrides: config.prices.clone(),
            },
            budget: None,
        }
    }
}

/// Everything one run needs besides its reporters.
#[derive(Debug, Clone, Default)]
pub struct RunRequest {
    /// Suite files or folders.
    pub paths: Vec<PathBuf>,
    /// Where prompt names are looked up.
    pub prompts_dir: PathBuf,
    /// Prompt `NAME` → the file that stands in for its default file.
    pub overrides: BTreeMap<String, PathBuf>,
    /// `--filter` patterns (a case runs when its full name contains any).
    pub filters: Vec<String>,
    /// Graders, repeats and shard.
    pub plan: PlanOptions,
    /// Record, replay or live.
    pub mode: ModeFlags,
    /// Cache, prices and budget.
    pub calls: CallSettings,
    /// Jobs, fail-fast, min pass rate.
    pub run: RunOptions,
}

impl RunRequest {
    /// Loads the suites with the prompt overrides.
    ///
    /// # Errors
    /// Input errors (exit 2).
    pub fn load(&self) -> Result<suite::Project, Diagnostics> {
        load(&self.paths, &self.prompts_dir, self.overrides.clone())
    }

    /// Plans the cases of `suites` with the request's filters and plan options.
    ///
    /// # Errors
    /// A plan that cannot be made (unknown providers, bad options; exit 2).
    pub fn plan(&self, suites: Vec<Suite>, templates: crate::template::Templates) -> Result<PlannedRun, Diagnostics> {
        let env = Env::process();
        let client = reqwest::Client::builder()
            .user_agent(concat!("promptgate/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Diagnostic::error(format!("cannot start the HTTP client: {e}"), None))?;
        let work_dir = std::env::current_dir().unwrap_or_default();
        let plan = runner::plan_with(suites, &self.filters, &env, &client, &work_dir, &self.plan)?;
        Ok(PlannedRun { plan, templates })
    }

    /// Plans, checks and runs `suites` with `reporters`, keeping every case
    /// in the outcome: what the baseline and the gate's runs do.
    ///
    /// # Errors
    /// As [`RunRequest::plan`], [`PlannedRun::require_cases`],
    /// [`PlannedRun::prepare`] and [`ReadyRun::run`].
    pub fn run_suites(
        &self,
        suites: Vec<Suite>,
        templates: crate::template::Templates,
        reporters: Vec<Box<dyn Reporter>>,
        notify: &mut dyn FnMut(Notice),
    ) -> Result<FinishedRun, SessionError> {
        let planned = self.plan(suites, templates)?;
        if let Some(n) = planned.require_cases(&self.filters)? {
            notify(n);
        }
        let finished = planned.prepare(self)?.run(&self.run, reporters, true)?;
        for e in &finished.report_errors {
            notify(Notice::ReportError(e.clone()));
        }
        Ok(finished)
    }
}

/// A planned run, before anything is checked or called.
pub struct PlannedRun {
    plan: Plan,
    templates: crate::template::Templates,
}

impl PlannedRun {
    /// The plan (`--list` prints its cases).
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// A plan with no case is an error, unless it is one shard of a split
    /// (a small suite over many shards): then a [`Notice::EmptyShard`].
    ///
    /// # Errors
    /// No test cases (matching the filters).
    pub fn require_cases(&self, filters: &[String]) -> Result<Option<Notice>, Diagnostic> {
        if !self.plan.cases.is_empty() {
            return Ok(None);
        }
        if let Some(shard) = self.plan.shard {
            return Ok(Some(Notice::EmptyShard(shard)));
        }
        let what = if filters.is_empty() {
            String::new()
        } else {
            format!(" match --filter {}", filters.join(", "))
        };
        Err(Diagnostic::error(format!("no test cases{what}"), None)
            .with_help("`promptgate test --list` lists the cases"))
    }

    /// True when a provider or grader of the plan calls out (not `echo`/`exec`).
    fn calls_out(&self) -> bool {
        self.plan
            .providers
            .iter()
            .chain(&self.plan.graders)
            .any(|s| !s.provider.is_local())
    }

    /// Chooses the recording mode and checks the run can start: API keys
    /// (outside replay), prices (under a budget, outside replay), the
    /// response cache (live and record runs only) and the recordings.
    ///
    /// # Errors
    /// A missing API key, a model without a price under a budget, a cache
    /// file that is not a cache database, a recordings folder that cannot be
    /// used (exit 2).
    pub fn prepare(self, request: &RunRequest) -> Result<ReadyRun, Diagnostics> {
        // Only providers that call out are recorded or replayed; graders
        // call out too: they are recorded, replayed and need their keys.
        let calls_out = self.calls_out();
        let mode = request.mode.mode(calls_out);
        let replay = matches!(mode, Mode::Replay(_));
        if !replay {
            let mut diags = Diagnostics::default();
            for slot in self.plan.providers.iter().chain(&self.plan.graders) {
                if let Err(e) = slot.provider.check_ready() {
                    diags.push(Diagnostic::error(e.to_string(), None).with_help(
                        "API keys come only from environment variables; to run without keys, replay recordings with `--replay DIR`",
                    ));
                }
            }
            if diags.has_errors() {
                return Err(diags);
            }
        }
        let calls = &request.calls;
        if calls.budget.is_some() && !replay {
            runner::require_prices(&self.plan, &calls.prices)?;
        }
        // The response cache and call log: live and record runs only (a
        // replayed run calls nothing; its recordings are the source of truth).
        let store = match (&calls.cache, replay || !calls_out) {
            (Some((path, ttl)), false) => Some(crate::cache::Store::open(path, *ttl).map_err(|e| {
                Diagnostic::error(e.to_string(), None)
                    .with_help("remove the file, or set [cache] path in promptgate.toml")
            })?),
            _ => None,
        };
        let recordings = RecordingStore::open(mode)?;
        let mut ctx = RunContext::new(self.templates, recordings);
        ctx.store = store;
        ctx.use_cache = calls.use_cache;
        ctx.prices = calls.prices.clone();
        ctx.budget = calls.budget.clone();
        Ok(ReadyRun {
            plan: self.plan,
            ctx: Arc::new(ctx),
        })
    }
}

/// A checked run, ready to call.
pub struct ReadyRun {
    plan: Plan,
    ctx: Arc<RunContext>,
}

impl ReadyRun {
    /// Runs every case with `reporters`; `keep_cases` keeps every finished
    /// case in [`FinishedRun::cases`] (a comparison or a recorded run needs
    /// them; a plain run does not hold them all in memory).
    ///
    /// # Errors
    /// The async runtime cannot start ([`SessionError::Input`]); a second
    /// Ctrl-C aborted the run ([`SessionError::Aborted`]).
    pub fn run(
        self,
        opts: &RunOptions,
        mut reporters: Vec<Box<dyn Reporter>>,
        keep_cases: bool,
    ) -> Result<FinishedRun, SessionError> {
        let kept = if keep_cases {
            RunResults::new()
        } else {
            RunResults::thresholds_only()
        };
        reporters.push(Box::new(kept.clone()));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|e| Diagnostic::error(format!("cannot start the runtime: {e}"), None))?;
        let started_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let ctx = Arc::clone(&self.ctx);
        let (summary, errors) = runtime.block_on(runner::run(self.plan, ctx, opts, &mut reporters))?;
        let recorded = match self.ctx.recordings.mode() {
            Mode::Record(dir) => Some((self.ctx.recordings.recorded(), dir.clone())),
            _ => None,
        };
        // A report that could not be written makes the run `Error` unless a case failed.
        let verdict = if errors.is_empty() {
            summary.verdict()
        } else if summary.failed > 0 {
            RunVerdict::Fail
        } else {
            RunVerdict::Error
        };
        drop(reporters);
        let (cases, thresholds) = kept.take();
        Ok(FinishedRun {
            cases,
            thresholds,
            summary,
            verdict,
            started_at,
            report_errors: errors.iter().map(ToString::to_string).collect(),
            recorded,
        })
    }
}

/// A finished run.
#[derive(Debug)]
pub struct FinishedRun {
    /// Every case, in plan order (empty unless the run kept them).
    pub cases: Vec<Arc<CaseResult>>,
    /// Counts and metrics.
    pub summary: RunSummary,
    /// Suite-level threshold outcomes (suites with `thresholds:`).
    pub thresholds: Vec<Arc<crate::analysis::thresholds::ThresholdOutcome>>,
    /// The run's verdict (a report that could not be written makes it
    /// `Error` unless a case failed).
    pub verdict: RunVerdict,
    /// When the run started, UTC, RFC 3339.
    pub started_at: String,
    /// Reporters' errors (reports that could not be written).
    pub report_errors: Vec<String>,
    /// With `--record DIR`: the number of responses recorded, and DIR.
    pub recorded: Option<(usize, PathBuf)>,
}

/// Loads the suites under `paths` with `overrides` (`NAME` → file).
///
/// # Errors
/// Input errors, as `promptgate test`.
pub fn load(
    paths: &[PathBuf],
    prompts_dir: &Path,
    overrides: BTreeMap<String, PathBuf>,
) -> Result<suite::Project, Diagnostics> {
    suite::load(
        paths,
        &LoadOptions {
            prompts_dir: prompts_dir.to_path_buf(),
            prompt_overrides: overrides,
        },
    )
}

/// The suites in `paths` that test prompt `name` now (file and content
/// hash), loaded with `content` standing in for the prompt's file (so that
/// it does not matter what `prompts/` holds at the moment). This is what an
/// activation of that content requires a passing run to have covered.
///
/// # Errors
/// Suites that do not load (bad input, exit 2).
pub fn suites_testing(
    name: &str,
    content: &str,
    file_ext: &str,
    paths: &[PathBuf],
    prompts_dir: &Path,
) -> Result<Vec<RunSuite>, Diagnostics> {
    let tmp =
        tempfile::tempdir().map_err(|e| Diagnostic::error(format!("cannot create a temporary folder: {e}"), None))?;
    let file = tmp.path().join(format!("{name}.{file_ext}"));
    std::fs::write(&file, content)
        .map_err(|e| Diagnostic::error(format!("cannot write {}: {e}", file.display()), None))?;
    let project = load(paths, prompts_dir, BTreeMap::from([(name.to_string(), file)]))?;
    let suites: Vec<Suite> = project
        .suites
        .into_iter()
        .filter(|s| s.prompts.iter().any(|p| p.name == name))
        .collect();
    Ok(Coverage::of(&suites).suites)
}

/// Names of the suite files in `dir` that test `prompt` now (best effort:
/// none when they do not load).
pub fn suite_files_using(prompt: &str, dir: &Path, prompts_dir: &Path) -> Vec<String> {
    if !dir.is_dir() {
        return Vec::new();
    }
    load(&[dir.to_path_buf()], prompts_dir, Default::default())
        .map(|p| {
            p.suites
                .iter()
                .filter(|s| s.prompts.iter().any(|x| x.name == prompt))
                .map(|s| s.file.display().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project() -> (tempfile::TempDir, RunRequest) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("prompts")).unwrap();
        std::fs::create_dir_all(dir.path().join("suites")).unwrap();
        std::fs::write(dir.path().join("prompts/greet.txt"), "Hello {{query}}").unwrap();
        std::fs::write(
            dir.path().join("suites/s.yaml"),
            "prompts: [greet]\nproviders: [echo]\ntests:\n  - description: says hello\n    vars: {query: world}\n    assert: [{type: contains, value: world}]\n",
        )
        .unwrap();
        let request = RunRequest {
            paths: vec![dir.path().join("suites")],
            prompts_dir: dir.path().join("prompts"),
            run: RunOptions {
                jobs: 2,
                ..Default::default()
            },
            ..Default::default()
        };
        (dir, request)
    }

    #[test]
    fn the_mode_follows_the_flags_then_the_config() {
        let flags = ModeFlags {
            replay: Some("r".into()),
            config_replay: Some("c".into()),
            ..Default::default()
        };
        assert!(matches!(flags.mode(false), Mode::Live));
        assert!(matches!(flags.mode(true), Mode::Replay(d) if d == Path::new("r")));
        let live = ModeFlags {
            live: true,
            config_replay: Some("c".into()),
            ..Default::default()
        };
        assert!(matches!(live.mode(true), Mode::Live));
        let config = ModeFlags {
            config_replay: Some("c".into()),
            ..Default::default()
        };
        assert!(matches!(config.mode(true), Mode::Replay(d) if d == Path::new("c")));
    }

    #[test]
    fn a_run_keeps_its_cases_and_says_nothing_when_all_is_well() {
        let (_dir, request) = project();
        let project = request.load().unwrap();
        let mut notices = Vec::new();
        let finished = request
            .run_suites(project.suites, project.templates, Vec::new(), &mut |n| notices.push(n))
            .unwrap();
        assert_eq!(finished.verdict, RunVerdict::Pass);
        assert_eq!(finished.cases.len(), 1);
        assert!(finished.report_errors.is_empty() && finished.recorded.is_none());
        assert!(notices.is_empty(), "{notices:?}");
    }

    #[test]
    fn no_selected_case_is_an_error_naming_the_filter() {
        let (_dir, mut request) = project();
        request.filters = vec!["nothing-like-it".into()];
        let project = request.load().unwrap();
        let err = request
            .run_suites(project.suites, project.templates, Vec::new(), &mut |_| {})
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("no test cases match --filter nothing-like-it"), "{text}");
        assert!(text.contains("`promptgate test --list` lists the cases"), "{text}");
    }

    #[test]
    fn notices_read_as_the_cli_prints_them() {
        let shard = Notice::EmptyShard(Shard { index: 2, total: 3 });
        assert_eq!(shard.to_string(), "note: shard 2/3 holds no test cases");
        let none = Notice::NoBaselineVersion {
            label: "production".into(),
        };
        assert!(none
            .to_string()
            .starts_with("warning: no prompt under test has a `production` version"));
    }
}
