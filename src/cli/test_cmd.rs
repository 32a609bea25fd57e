//! `promptgate test`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;

use crate::cli::exit;
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::provider::Env;
use crate::recording::{Mode, RecordingStore};
use crate::report::console::ConsoleReporter;
use crate::report::github::GithubReporter;
use crate::report::json::JsonReporter;
use crate::report::junit::JunitReporter;
use crate::report::Reporter;
use crate::result::RunVerdict;
use crate::runner::{self, RunContext, RunOptions};
use crate::settings::{self, Config};
use crate::suite::{self, LoadOptions};

/// Arguments of `promptgate test`.
#[derive(Debug, Args)]
pub struct TestArgs {
    /// Suite files or folders (searched recursively for *.yaml / *.yml).
    #[arg(default_value = "suites")]
    pub paths: Vec<PathBuf>,
    /// Cases calling at once (a case waiting out a retry backoff gives its place up) [default: 8, or `jobs` in promptgate.toml].
    #[arg(short = 'j', long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=settings::MAX_JOBS as i64))]
    pub jobs: Option<u16>,
    /// Run prompt NAME from the candidate file PATH instead of its default file (repeatable).
    #[arg(long = "prompt", value_name = "NAME=PATH", value_parser = super::parse_name_path)]
    pub prompts: Vec<(String, PathBuf)>,
    /// Run only cases whose full name contains PATTERN (repeatable; any match).
    #[arg(long, value_name = "PATTERN")]
    pub filter: Vec<String>,
    /// List the selected cases without calling anything.
    #[arg(long)]
    pub list: bool,
    /// Stop scheduling new cases after the first failure or error.
    #[arg(long)]
    pub fail_fast: bool,
    /// JUnit XML report path [default: reports/junit.xml].
    #[arg(long, value_name = "PATH")]
    pub junit: Option<PathBuf>,
    /// Also write a JSON report with every case (vars, output, assertions, score, latency, tokens).
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,
    /// Call the providers and store every response in DIR.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["replay", "live"])]
    pub record: Option<PathBuf>,
    /// Answer from the recordings in DIR; never call a provider.
    #[arg(long, value_name = "DIR", conflicts_with = "live")]
    pub replay: Option<PathBuf>,
    /// Call the providers even when promptgate.toml sets `replay`.
    #[arg(long)]
    pub live: bool,
    /// Where prompt names are looked up [default: prompts].
    #[arg(long, value_name = "DIR")]
    pub prompts_dir: Option<PathBuf>,
    /// Grader for model-graded assertions that name none (after the
    /// assertion's `provider`, the test's and `defaultTest`'s `options.provider`).
    #[arg(long, value_name = "PROVIDER_ID")]
    pub grader: Option<String>,
    /// Embedding model for `similar` / `answer-relevance` when the suite names none.
    #[arg(long, value_name = "PROVIDER_ID")]
    pub grader_embedding: Option<String>,
    /// Project config file [default: promptgate.toml when present].
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Run every case N times (independent calls); the verdict uses min_pass_rate.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub repeat: Option<u32>,
    /// With --repeat: the share of runs that must pass when the test sets no `min_pass_rate` [default: 1].
    #[arg(long, value_name = "RATE", value_parser = parse_rate)]
    pub min_pass_rate: Option<f64>,
    /// Run only part I of N of the cases (stable hash of suite file, test, prompt and provider).
    #[arg(long, value_name = "I/N", value_parser = runner::Shard::parse)]
    pub shard: Option<runner::Shard>,
    /// Neither read nor write the response cache (calls are still logged).
    #[arg(long)]
    pub no_cache: bool,
    /// Stop making calls once their estimated cost would pass USD; the rest are skipped (exit 3).
    #[arg(long, value_name = "USD", value_parser = parse_usd)]
    pub max_cost: Option<f64>,
    /// Record the run in the prompt registry at PATH (see also --record-run).
    #[arg(long, value_name = "PATH")]
    pub registry: Option<PathBuf>,
    /// Record the run in the registry ($PROMPTGATE_REGISTRY, promptgate.toml, or .promptgate/registry.db).
    #[arg(long)]
    pub record_run: bool,
    /// Also run the versions holding LABEL (e.g. production) on the same cases and compare.
    #[arg(long, value_name = "LABEL")]
    pub baseline: Option<String>,
    /// Who runs (recorded with the run) [default: git user.name, else $USER].
    #[arg(long, value_name = "NAME")]
    pub author: Option<String>,
}

fn parse_rate(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(r) if r > 0.0 && r <= 1.0 => Ok(r),
        _ => Err(format!(
            "expected a number above 0 and at most 1 (e.g. 0.8; 0 could never fail), got `{s}`"
        )),
    }
}

fn parse_usd(s: &str) -> Result<f64, String> {
    match s.trim().trim_start_matches('$').parse::<f64>() {
        Ok(r) if r.is_finite() && r >= 0.0 => Ok(r),
        _ => Err(format!("expected an amount in USD (e.g. 2.50), got `{s}`")),
    }
}

/// `--grader` / `--grader-embedding` as grader providers, checked.
pub(super) fn grader_flags(args: &TestArgs) -> Result<crate::assertion::GraderProviders, Diagnostics> {
    use crate::provider::ProviderKind;
    let mut out = crate::assertion::GraderProviders::default();
    for (flag, id, embedding) in [
        ("--grader", &args.grader, false),
        ("--grader-embedding", &args.grader_embedding, true),
    ] {
        let Some(id) = id else { continue };
        let kind = ProviderKind::parse(id).map_err(|e| Diagnostic::error(format!("{flag}: {e}"), None))?;
        let is_embedding = matches!(kind, ProviderKind::OpenAiEmbedding { .. });
        if is_embedding != embedding {
            let want = if embedding {
                "an embedding model, e.g. openai:embedding:text-embedding-3-small"
            } else {
                "a chat model, e.g. openai:chat:gpt-4o-mini (embedding models go to --grader-embedding)"
            };
            return Err(Diagnostic::error(format!("{flag} {id}: expected {want}"), None).into());
        }
        let spec = crate::suite::ProviderSpec {
            id: id.clone(),
            label: None,
            config: Default::default(),
        };
        if embedding {
            out.embedding = Some(Box::new(spec));
        } else {
            out.text = Some(Box::new(spec));
        }
    }
    Ok(out)
}

fn print_diagnostics(d: &Diagnostics) {
    let mut err = std::io::stderr().lock();
    for w in d.warnings() {
        let _ = writeln!(err, "{}", w.one_line());
    }
    for e in d.errors() {
        let _ = writeln!(err, "{e}\n");
    }
    let n = d.errors().count();
    if n > 0 {
        let s = if n == 1 { "" } else { "s" };
        let _ = writeln!(err, "error: {n} problem{s} in the input; nothing was run");
    }
}

/// Runs `promptgate test`; returns the exit code.
pub fn run(args: TestArgs) -> i32 {
    match run_inner(args) {
        Ok(code) => code,
        Err(d) => {
            print_diagnostics(&d);
            exit::INVALID_INPUT
        }
    }
}

fn run_inner(args: TestArgs) -> Result<i32, Diagnostics> {
    let config = match &args.config {
        Some(p) => Config::load(p, true)?,
        None => Config::load(std::path::Path::new(settings::FILE_NAME), false)?,
    };
    for (name, path) in &args.prompts {
        if !path.is_file() {
            return Err(Diagnostic::error(format!("--prompt {name}={}: no such file", path.display()), None).into());
        }
    }
    let opts = LoadOptions {
        prompts_dir: args
            .prompts_dir
            .clone()
            .or(config.test.prompts_dir.clone())
            .unwrap_or_else(|| PathBuf::from("prompts")),
        prompt_overrides: args.prompts.iter().cloned().collect::<BTreeMap<_, _>>(),
    };
    let project = suite::load(&args.paths, &opts)?;
    // One budget for the whole command: a `--baseline` run spends from it too,
    // and uses the same cache and prices.
    let calls = crate::session::CallSettings {
        budget: args
            .max_cost
            .map(|usd| Arc::new(crate::provider::pricing::Budget::new(usd))),
        ..crate::session::CallSettings::from_config(&config, args.no_cache)
    };
    let hooks = match super::test_registry::Hooks::prepare(&args, &config, &project, &opts.prompts_dir, &calls) {
        Ok(h) => h,
        Err((code, d)) => {
            print_diagnostics(&d);
            return Ok(code);
        }
    };
    {
        let mut err = std::io::stderr().lock();
        for w in &project.warnings {
            let _ = writeln!(err, "{}", w.one_line());
        }
    }
    let env = Env::process();
    let client = reqwest::Client::builder()
        .user_agent(concat!("promptgate/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Diagnostic::error(format!("cannot start the HTTP client: {e}"), None))?;
    let work_dir = std::env::current_dir().unwrap_or_default();
    let plan_opts = runner::PlanOptions {
        graders: grader_flags(&args)?,
        repeat: args.repeat.unwrap_or(1),
        shard: args.shard,
    };
    let plan = runner::plan_with(project.suites, &args.filter, &env, &client, &work_dir, &plan_opts)?;

    if args.list {
        let mut out = std::io::stdout().lock();
        for c in plan.cases.iter().filter(|c| c.repeat == 0) {
            let _ = writeln!(out, "{}: case", c.full_name());
        }
        let _ = writeln!(out, "\n{} cases", plan.distinct_cases());
        return Ok(exit::SUCCESS);
    }
    if let (true, Some(shard)) = (plan.cases.is_empty(), args.shard) {
        // A small suite over many shards: an empty shard is not an error; it
        // still writes (empty) reports for the merge.
        eprintln!("note: shard {}/{} holds no test cases", shard.index, shard.total);
    } else if plan.cases.is_empty() {
        let what = if args.filter.is_empty() {
            String::new()
        } else {
            format!(" match --filter {}", args.filter.join(", "))
        };
        return Err(Diagnostic::error(format!("no test cases{what}"), None)
            .with_help("`promptgate test --list` lists the cases")
            .into());
    }

    let junit = args
        .junit
        .clone()
        .or(config.test.junit.clone())
        .unwrap_or_else(|| PathBuf::from("reports/junit.xml"));
    if let Err(e) = crate::util::fs::check_writable(&junit) {
        return Err(Diagnostic::error(format!("--junit {}: {e}", junit.display()), None)
            .with_help("give a file path in a writable folder, e.g. --junit reports/junit.xml")
            .into());
    }
    // Only providers that call out are recorded or replayed.
    let calls_out = plan
        .providers
        .iter()
        .chain(&plan.graders)
        .any(|s| !s.provider.is_local());
    let mode = crate::session::ModeFlags {
        record: args.record.clone(),
        replay: args.replay.clone(),
        live: args.live,
        config_replay: config.test.replay.clone(),
    }
    .mode(calls_out);
    if !matches!(mode, Mode::Replay(_)) {
        let mut diags = Diagnostics::default();
        for slot in plan.providers.iter().chain(&plan.graders) {
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
    let prices = calls.prices.clone();
    if args.max_cost.is_some() && !matches!(mode, Mode::Replay(_)) {
        crate::runner::require_prices(&plan, &prices)?;
    }
    // The response cache and call log: live and record runs only (a replayed
    // run calls nothing; its recordings are the source of truth).
    let store = if matches!(mode, Mode::Replay(_)) || !calls_out {
        None
    } else {
        let path = config.cache.path();
        Some(crate::cache::Store::open(&path, config.cache.ttl()).map_err(|e| {
            Diagnostic::error(e.to_string(), None).with_help("remove the file, or set [cache] path in promptgate.toml")
        })?)
    };
    let recordings = RecordingStore::open(mode)?;

    let mut reporters: Vec<Box<dyn Reporter>> = hooks.reporters();
    let mut console = ConsoleReporter::new(Box::new(std::io::stdout()), ConsoleReporter::want_progress());
    if std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true") {
        // Model output in the failure list must not run workflow commands.
        console = console.with_stop_commands(ConsoleReporter::stop_commands_token());
    }
    reporters.push(Box::new(console));
    reporters.push(Box::new(
        JunitReporter::new(junit).with_extra_properties(hooks.junit_properties()),
    ));
    if let Some(path) = &args.json {
        let r = JsonReporter::new(path.clone())
            .map_err(|e| Diagnostic::error(format!("cannot write --json {}: {e}", path.display()), None))?;
        reporters.push(Box::new(r));
    }
    if let Some(gh) = GithubReporter::from_env() {
        reporters.push(Box::new(gh));
    }

    let jobs = args.jobs.map(usize::from).or(config.test.jobs).unwrap_or(8);
    let run_opts = RunOptions {
        jobs,
        fail_fast: args.fail_fast,
        min_pass_rate: args.min_pass_rate.unwrap_or(1.0),
    };
    let mut ctx = RunContext::new(project.templates, recordings);
    ctx.store = store;
    ctx.use_cache = calls.use_cache;
    ctx.prices = prices;
    ctx.budget = calls.budget.clone();
    let ctx = Arc::new(ctx);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Diagnostic::error(format!("cannot start the runtime: {e}"), None))?;
    let Ok((summary, errors)) = runtime.block_on(runner::run(plan, ctx.clone(), &run_opts, &mut reporters)) else {
        // A second Ctrl-C: leave at once, without writing the reports.
        std::process::exit(130);
    };
    if let Mode::Record(dir) = ctx.recordings.mode() {
        eprintln!("recorded {} responses in {}", ctx.recordings.recorded(), dir.display());
    }
    let verdict = if !errors.is_empty() {
        for e in &errors {
            eprintln!("error: {e}");
        }
        if summary.failed > 0 {
            RunVerdict::Fail
        } else {
            RunVerdict::Error
        }
    } else {
        summary.verdict()
    };
    Ok(exit::of_verdict(hooks.finish(verdict, &summary)))
}
