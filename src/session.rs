//! Load → plan → run as one library call, for the commands that run suites
//! more than once (`test --baseline`, `gate`): the baseline run, and the
//! gate's candidate runs. `promptgate test`'s own flow is in `cli::test_cmd`;
//! the mode choice here follows the same rules (`--record` / `--replay` /
//! `--live` / `promptgate.toml`'s `replay`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::provider::Env;
use crate::recording::{Mode, RecordingStore};
use crate::registry::record::Coverage;
use crate::registry::RunSuite;
use crate::report::collect::Collector;
use crate::report::Reporter;
use crate::result::{CaseResult, RunSummary, RunVerdict};
use crate::runner::{self, RunContext, RunOptions};
use crate::suite::{self, LoadOptions, Suite};

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
    /// `--max-cost`.
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

/// A finished run.
#[derive(Debug)]
pub struct Outcome {
    /// Every case, in plan order.
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
}

/// Runs `suites` with `reporters` (a [`Collector`] is added) and returns the
/// outcome; `plan_opts` carries the graders of `--grader` / `--grader-embedding`,
/// `calls` the cache, prices and budget (a live run answers from the cache and
/// logs its calls like `promptgate test`).
///
/// # Errors
/// Input errors (exit 2): a plan that cannot be made, a missing API key
/// outside replay, a model without a price under a budget, no case selected,
/// a cache file that is not a cache database.
#[allow(clippy::too_many_arguments)]
pub fn run_suites(
    suites: Vec<Suite>,
    templates: crate::template::Templates,
    filters: &[String],
    plan_opts: &runner::PlanOptions,
    flags: &ModeFlags,
    jobs: usize,
    calls: &CallSettings,
    mut reporters: Vec<Box<dyn Reporter>>,
) -> Result<Outcome, Diagnostics> {
    let env = Env::process();
    let client = reqwest::Client::builder()
        .user_agent(concat!("promptgate/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Diagnostic::error(format!("cannot start the HTTP client: {e}"), None))?;
    let work_dir = std::env::current_dir().unwrap_or_default();
    let plan = runner::plan_with(suites, filters, &env, &client, &work_dir, plan_opts)?;
    if plan.cases.is_empty() {
        return Err(Diagnostic::error("no test cases", None).into());
    }
    // Graders call out too: they are recorded, replayed and need their keys.
    let mode = flags.mode(
        plan.providers
            .iter()
            .chain(&plan.graders)
            .any(|s| !s.provider.is_local()),
    );
    if !matches!(mode, Mode::Replay(_)) {
        let mut diags = Diagnostics::default();
        for slot in plan.providers.iter().chain(&plan.graders) {
            if let Err(e) = slot.provider.check_ready() {
                diags.push(Diagnostic::error(e.to_string(), None));
            }
        }
        if diags.has_errors() {
            return Err(diags);
        }
    }
    let replay = matches!(mode, Mode::Replay(_));
    if calls.budget.is_some() && !replay {
        crate::runner::require_prices(&plan, &calls.prices)?;
    }
    let calls_out = plan
        .providers
        .iter()
        .chain(&plan.graders)
        .any(|s| !s.provider.is_local());
    // The response cache and call log: live and record runs only.
    let store = match (&calls.cache, replay || !calls_out) {
        (Some((path, ttl)), false) => Some(crate::cache::Store::open(path, *ttl).map_err(|e| {
            Diagnostic::error(e.to_string(), None).with_help("remove the file, or set [cache] path in promptgate.toml")
        })?),
        _ => None,
    };
    let recordings = RecordingStore::open(mode)?;
    let collector = Collector::new();
    reporters.push(Box::new(collector.clone()));
    let mut ctx = RunContext::new(templates, recordings);
    ctx.store = store;
    ctx.use_cache = calls.use_cache;
    ctx.prices = calls.prices.clone();
    ctx.budget = calls.budget.clone();
    let ctx = Arc::new(ctx);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Diagnostic::error(format!("cannot start the runtime: {e}"), None))?;
    let started_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let opts = RunOptions {
        jobs,
        ..Default::default()
    };
    let Ok((summary, errors)) = runtime.block_on(runner::run(plan, ctx, &opts, &mut reporters)) else {
        // A second Ctrl-C: leave at once, as `promptgate test` does.
        // TODO: return a typed outcome for the command line to map to 130.
        std::process::exit(130);
    };
    for e in &errors {
        eprintln!("error: {e}");
    }
    let verdict = if errors.is_empty() {
        summary.verdict()
    } else if summary.failed > 0 {
        RunVerdict::Fail
    } else {
        RunVerdict::Error
    };
    Ok(Outcome {
        cases: collector.cases(),
        thresholds: collector.thresholds(),
        summary,
        verdict,
        started_at,
    })
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
    let tmp = tempfile::tempdir()
        .map_err(|e| crate::diagnostic::Diagnostic::error(format!("cannot create a temporary folder: {e}"), None))?;
    let file = tmp.path().join(format!("{name}.{file_ext}"));
    std::fs::write(&file, content)
        .map_err(|e| crate::diagnostic::Diagnostic::error(format!("cannot write {}: {e}", file.display()), None))?;
    let project = load(paths, prompts_dir, BTreeMap::from([(name.to_string(), file)]))?;
    let suites: Vec<Suite> = project
        .suites
        .into_iter()
        .filter(|s| s.prompts.iter().any(|p| p.name == name))
        .collect();
    Ok(Coverage::of(&suites).suites)
}
