//! `promptgate test`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;

use crate::cli::{exit, output};
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::report::console::ConsoleReporter;
use crate::report::github::GithubReporter;
use crate::report::json::JsonReporter;
use crate::report::junit::JunitReporter;
use crate::report::Reporter;
use crate::runner::{self, RunOptions};
use crate::session::baseline::{RegistryRun, RegistryRunOptions, RunConclusion};
use crate::session::{CallSettings, ModeFlags, RunRequest, SessionError};
use crate::settings::{self, Settings};

/// Arguments of `promptgate test`.
#[derive(Debug, Args)]
pub struct TestArgs {
    /// Suite files or folders (searched recursively for *.yaml / *.yml).
    #[arg(default_value = settings::SUITES_DIR)]
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

/// `--min-pass-rate`: a clap value parser (clap's contract is a `String` error).
fn parse_rate(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(r) if r > 0.0 && r <= 1.0 => Ok(r),
        _ => Err(format!(
            "expected a number above 0 and at most 1 (e.g. 0.8; 0 could never fail), got `{s}`"
        )),
    }
}

/// `--max-cost`: a clap value parser (clap's contract is a `String` error).
fn parse_usd(s: &str) -> Result<f64, String> {
    match s.trim().trim_start_matches('$').parse::<f64>() {
        Ok(r) if r.is_finite() && r >= 0.0 => Ok(r),
        _ => Err(format!("expected an amount in USD (e.g. 2.50), got `{s}`")),
    }
}

/// `--grader` / `--grader-embedding` as grader providers, checked.
fn grader_flags(args: &TestArgs) -> Result<crate::assertion::GraderProviders, Diagnostics> {
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

/// Runs `promptgate test`; returns the exit code.
pub fn run(args: TestArgs) -> i32 {
    match run_inner(args) {
        Ok(code) => code,
        Err(e) => {
            match &e {
                SessionError::Input(d) => output::diagnostics(d),
                SessionError::Registry(r) => output::diagnostics(&Diagnostic::error(r.to_string(), None).into()),
                SessionError::Aborted(_) => {}
            }
            exit::of_session_error(&e)
        }
    }
}

fn run_inner(args: TestArgs) -> Result<i32, SessionError> {
    let settings = Settings::load(args.config.as_deref())?;
    for (name, path) in &args.prompts {
        if !path.is_file() {
            return Err(Diagnostic::error(format!("--prompt {name}={}: no such file", path.display()), None).into());
        }
    }
    let request = RunRequest {
        paths: args.paths.clone(),
        prompts_dir: settings.prompts_dir(args.prompts_dir.as_deref()),
        overrides: args.prompts.iter().cloned().collect::<BTreeMap<_, _>>(),
        filters: args.filter.clone(),
        plan: runner::PlanOptions {
            graders: grader_flags(&args)?,
            repeat: args.repeat.unwrap_or(1),
            shard: args.shard,
        },
        mode: ModeFlags {
            record: args.record.clone(),
            replay: args.replay.clone(),
            live: args.live,
            config_replay: settings.replay().map(Path::to_path_buf),
        },
        // One budget for the whole command: a `--baseline` run spends from
        // it too, and uses the same cache and prices.
        calls: CallSettings {
            budget: args
                .max_cost
                .map(|usd| Arc::new(crate::provider::pricing::Budget::new(usd))),
            ..CallSettings::from_config(&settings.config, args.no_cache)
        },
        run: RunOptions {
            jobs: settings.jobs(args.jobs),
            fail_fast: args.fail_fast,
            min_pass_rate: args.min_pass_rate.unwrap_or(1.0),
        },
    };
    let project = request.load()?;
    // `--list` calls nothing: no baseline run, nothing recorded.
    let registry_opts = RegistryRunOptions {
        registry_path: settings.registry_path(args.registry.as_deref()),
        record: !args.list && (args.registry.is_some() || args.record_run),
        baseline: args.baseline.clone().filter(|_| !args.list),
        author: args.author.clone(),
        alpha: settings.config.registry.alpha(),
    };
    let registry_run = RegistryRun::prepare(registry_opts, &project, &request, &mut |n| output::notice(&n))?;
    {
        let mut err = std::io::stderr().lock();
        for w in &project.warnings {
            let _ = writeln!(err, "{}", w.one_line());
        }
    }
    let planned = request.plan(project.suites, project.templates)?;

    if args.list {
        let plan = planned.plan();
        let mut out = std::io::stdout().lock();
        for c in plan.cases.iter().filter(|c| c.repeat == 0) {
            let _ = writeln!(out, "{}: case", c.full_name());
        }
        let _ = writeln!(out, "\n{} cases", plan.distinct_cases());
        return Ok(exit::SUCCESS);
    }
    if let Some(n) = planned.require_cases(&args.filter)? {
        output::notice(&n);
    }

    let junit = settings.junit(args.junit.as_deref());
    if let Err(e) = crate::util::fs::check_writable(&junit) {
        return Err(Diagnostic::error(format!("--junit {}: {e}", junit.display()), None)
            .with_help("give a file path in a writable folder, e.g. --junit reports/junit.xml")
            .into());
    }
    let ready = planned.prepare(&request)?;

    let mut reporters: Vec<Box<dyn Reporter>> = registry_run.reporters();
    let mut console = ConsoleReporter::new(Box::new(std::io::stdout()), ConsoleReporter::want_progress());
    if std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true") {
        // Model output in the failure list must not run workflow commands.
        console = console.with_stop_commands(ConsoleReporter::stop_commands_token());
    }
    reporters.push(Box::new(console));
    reporters.push(Box::new(
        JunitReporter::new(junit).with_extra_properties(registry_run.junit_properties()),
    ));
    if let Some(path) = &args.json {
        let r = JsonReporter::new(path.clone())
            .map_err(|e| Diagnostic::error(format!("cannot write --json {}: {e}", path.display()), None))?;
        reporters.push(Box::new(r));
    }
    if let Some(gh) = GithubReporter::from_env() {
        reporters.push(Box::new(gh));
    }

    let finished = ready.run(&request.run, reporters, registry_run.keeps_cases())?;
    if let Some((n, dir)) = &finished.recorded {
        eprintln!("recorded {n} responses in {}", dir.display());
    }
    for e in &finished.report_errors {
        eprintln!("error: {e}");
    }
    let conclusion = registry_run.finish(&finished);
    print_conclusion(&conclusion);
    Ok(exit::of_verdict(conclusion.verdict))
}

/// Prints the comparison with the baseline (console and step summary) and
/// what was recorded in the registry.
fn print_conclusion(c: &RunConclusion) {
    if let Some(b) = &c.comparison {
        let cmp = &b.comparison;
        let mut out = std::io::stdout().lock();
        let _ = write!(out, "{}", cmp.console(b.alpha));
        output::append_step_summary(&cmp.markdown(b.alpha));
        if b.worse {
            let _ = writeln!(out, "comparison: FAILED (significantly worse than {})", cmp.baseline);
        }
        if let Some(lost) = &b.incomplete {
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
        }
    }
    match &c.recorded {
        Some(Ok(run)) => {
            for v in &run.registered {
                eprintln!("registered {} ({})", v.display(), &v.sha256[..12.min(v.sha256.len())]);
            }
            eprintln!(
                "recorded run {} ({}) in {}: {}",
                run.id,
                c.verdict.as_str(),
                run.path,
                run.versions.join(", ")
            );
        }
        Some(Err(e)) => eprintln!("error: cannot record the run: {e}"),
        None => {}
    }
}
