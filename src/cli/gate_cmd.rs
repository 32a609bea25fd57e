//! `promptgate gate [SUITES...]`: for each prompt file in `prompts/` whose
//! content differs from its active version (and each `--prompt NAME=PATH`
//! candidate): register it, run the suites that use it, record the run,
//! compare with the active version, and activate it only when every suite
//! passed and the comparison shows no significant regression (nor a token
//! growth above `max_token_growth` without a significant improvement).
//!
//! Fail closed: when provider errors keep any candidate from a verdict,
//! nothing is activated and the exit code is 3.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args;

use crate::analysis::compare::{self, Comparison};
use crate::cli::exit;
use crate::diagnostic::Diagnostics;
use crate::prompt::PromptCatalog;
use crate::registry::record::Coverage;
use crate::registry::{self, record, Registry, Version, PRODUCTION};
use crate::report::console::ConsoleReporter;
use crate::report::Reporter;
use crate::result::{RunVerdict, Verdict};
use crate::session::{self as pipeline, ModeFlags};
use crate::settings::{self, Config};

use super::test_registry::{append_step_summary, run_baseline};

/// Exit codes of `promptgate gate`, as printed in `--help`.
pub const HELP: &str = "\
Exit codes:
  0  every changed prompt was activated, or nothing changed
  1  a changed prompt was blocked (a failing case or threshold, a significant regression, token growth)
  2  invalid input (suites, prompts, flags, config), a corrupt registry, or no registry with --require-registry
  3  provider errors kept a run from a verdict, or the registry was unavailable; nothing was activated";

/// Arguments of `promptgate gate`.
#[derive(Debug, Args)]
pub struct GateArgs {
    /// Suite files or folders.
    #[arg(default_value = "suites")]
    pub paths: Vec<PathBuf>,
    /// Also gate the candidate file PATH for prompt NAME (repeatable).
    #[arg(long = "prompt", value_name = "NAME=PATH", value_parser = super::parse_name_path)]
    pub prompts: Vec<(String, PathBuf)>,
    /// The registry file [default: $PROMPTGATE_REGISTRY, else `[registry] path`, else .promptgate/registry.db].
    #[arg(long, value_name = "PATH")]
    pub registry: Option<PathBuf>,
    /// Where prompt files are [default: prompts].
    #[arg(long, value_name = "DIR")]
    pub prompts_dir: Option<PathBuf>,
    /// Cases in flight at once [default: 8, or `jobs` in promptgate.toml].
    #[arg(short = 'j', long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=settings::MAX_JOBS as i64))]
    pub jobs: Option<u16>,
    /// Answer from the recordings in DIR.
    #[arg(long, value_name = "DIR", conflicts_with = "live")]
    pub replay: Option<PathBuf>,
    /// Call the providers even when promptgate.toml sets `replay`.
    #[arg(long)]
    pub live: bool,
    /// Who activates (audited) [default: git user.name, else $USER].
    #[arg(long)]
    pub author: Option<String>,
    /// Refuse to run (exit 2) when the registry file does not exist, instead
    /// of starting an empty one, which would activate every prompt with no
    /// comparison. CI uses it so that a lost registry (an evicted cache) is an
    /// error; run once without it to bootstrap a new registry deliberately.
    #[arg(long)]
    pub require_registry: bool,
    /// Print the decisions as JSON on stdout (the runs' console reports go to stderr).
    #[arg(long)]
    pub json: bool,
    /// Project config file [default: promptgate.toml when present].
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
}

/// What the gate decided for one prompt.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Decision {
    /// The prompt.
    pub prompt: String,
    /// The candidate version.
    pub version: u32,
    /// Its SHA-256.
    pub sha256: String,
    /// The active version before the gate.
    pub was: Option<u32>,
    /// `activated`, `blocked` or `error` (no verdict).
    pub outcome: &'static str,
    /// Why (failing cases, regressions, token growth).
    pub reasons: Vec<String>,
    /// The recorded run.
    pub run_id: Option<i64>,
    /// The suites (file, hash) the activation requires a passing run to cover.
    #[serde(skip)]
    pub required: Vec<registry::RunSuite>,
}

fn fail(d: &Diagnostics) -> i32 {
    for e in d.errors() {
        eprintln!("{e}\n");
    }
    exit::INVALID_INPUT
}

/// Runs `promptgate gate`; returns the exit code: 0 every changed prompt was
/// activated (or nothing changed), 1 something was blocked, 2 bad input,
/// 3 provider errors kept a verdict from being reached (nothing activated).
pub fn run(args: GateArgs) -> i32 {
    let config = match &args.config {
        Some(p) => Config::load(p, true),
        None => Config::load(Path::new(settings::FILE_NAME), false),
    };
    let config = match config {
        Ok(c) => c,
        Err(d) => {
            eprintln!("{d}");
            return exit::INVALID_INPUT;
        }
    };
    let path = registry::resolve_path(args.registry.as_deref(), &config);
    if args.require_registry && !path.exists() {
        eprintln!(
            "error: no registry at {} (--require-registry): the gate would start an empty registry and activate \
             every prompt with no comparison.\n  Restore the registry file (e.g. from the last `prompt-registry` \
             artifact), or, to start a new registry deliberately, run `promptgate gate` once without \
             --require-registry (in the workflow: run it by hand with `bootstrap: true`).",
            path.display()
        );
        return exit::INVALID_INPUT;
    }
    let reg = match Registry::open_checked(&path) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::of_registry_error(&e);
        }
    };
    let prompts_dir = args
        .prompts_dir
        .clone()
        .or(config.test.prompts_dir.clone())
        .unwrap_or_else(|| PathBuf::from("prompts"));
    let actor = registry::actor(args.author.as_deref());
    let flags = ModeFlags {
        record: None,
        replay: args.replay.clone(),
        live: args.live,
        config_replay: config.test.replay.clone(),
    };
    let jobs = args.jobs.map(usize::from).or(config.test.jobs).unwrap_or(8);
    let alpha = config.registry.alpha();

    // The candidates: prompt files in the folder, then explicit --prompt files.
    let catalog = PromptCatalog::new(prompts_dir.clone(), Default::default());
    let mut candidates: BTreeMap<String, PathBuf> = catalog
        .available()
        .into_iter()
        .filter_map(|n| catalog.find(&n).map(|f| (n, f)))
        .collect();
    for (name, file) in &args.prompts {
        if !file.is_file() {
            eprintln!("error: --prompt {name}={}: no such file", file.display());
            return exit::INVALID_INPUT;
        }
        candidates.insert(name.clone(), file.clone());
    }

    // Phase 1: test every changed prompt; activate nothing yet.
    let mut decisions: Vec<Decision> = Vec::new();
    let mut comparisons: Vec<Comparison> = Vec::new();
    for (name, file) in &candidates {
        let nv = match registry::new_version_from_file(name, file, &actor, Some("registered by promptgate gate")) {
            Ok(v) => v,
            Err(e) => {
                eprintln!("error: {e}");
                return exit::of_registry_error(&e);
            }
        };
        let active = match reg.labelled(name, PRODUCTION) {
            Ok(a) => a,
            Err(e) => {
                eprintln!("error: {e}");
                return exit::of_registry_error(&e);
            }
        };
        if active.as_ref().is_some_and(|a| a.sha256 == nv.sha256) {
            continue;
        }
        let (version, _) = match reg.store().register(&nv) {
            Ok(v) => v,
            Err(e) => {
                eprintln!("error: {e}");
                return exit::of_registry_error(&e);
            }
        };
        eprintln!(
            "gate: {} ({}) differs from the active version ({}); testing it",
            version.display(),
            &version.sha256[..12],
            active.as_ref().map(Version::display).unwrap_or_else(|| "none".into())
        );
        match gate_one(
            &reg,
            &args,
            &config,
            &prompts_dir,
            &flags,
            jobs,
            &actor,
            name,
            file,
            &version,
            active.as_ref(),
        ) {
            Ok((d, cmp)) => {
                decisions.push(d);
                comparisons.extend(cmp);
            }
            Err(d) => return fail(&d),
        }
    }

    // Phase 2: fail closed, then activate.
    let any_error = decisions.iter().any(|d| d.outcome == "error");
    if any_error {
        for d in decisions.iter_mut().filter(|d| d.outcome == "activated") {
            d.outcome = "blocked";
            d.reasons
                .push("not activated: provider errors kept another prompt's run from a verdict (fail closed)".into());
        }
    }
    for d in decisions.iter_mut().filter(|d| d.outcome == "activated") {
        let v = match reg.resolve(&registry::VersionRef {
            prompt: d.prompt.clone(),
            selector: registry::Selector::Number(d.version),
        }) {
            Ok(v) => v,
            Err(e) => {
                eprintln!("error: {e}");
                return exit::of_registry_error(&e);
            }
        };
        let hint = "promptgate gate suites/";
        if let Err(e) = reg.set_label(&v, PRODUCTION, true, &actor, None, &d.required, hint) {
            d.outcome = if exit::of_registry_error(&e) == exit::INFRA_ERROR {
                "error"
            } else {
                "blocked"
            };
            d.reasons.push(e.to_string());
        }
    }

    print_table(&decisions, args.json);
    let mut md =
        String::from("### promptgate gate\n\n| prompt | version | was | outcome | why |\n|---|---|---|---|---|\n");
    for d in &decisions {
        md.push_str(&format!(
            "| {} | v{} `{}` | {} | **{}** | {} |\n",
            d.prompt,
            d.version,
            &d.sha256[..12],
            d.was.map(|n| format!("v{n}")).unwrap_or_else(|| "-".into()),
            d.outcome,
            d.reasons.join("; ").replace('|', "\\|").replace('\n', " ")
        ));
    }
    if decisions.is_empty() {
        md.push_str("| - | - | - | nothing changed | - |\n");
    }
    for c in &comparisons {
        md.push('\n');
        md.push_str(&c.markdown(alpha));
    }
    append_step_summary(&md);

    if decisions.iter().any(|d| d.outcome == "error") {
        exit::INFRA_ERROR
    } else if decisions.iter().any(|d| d.outcome == "blocked") {
        exit::TEST_FAILED
    } else {
        exit::SUCCESS
    }
}

#[allow(clippy::too_many_arguments)]
fn gate_one(
    reg: &Registry,
    args: &GateArgs,
    config: &Config,
    prompts_dir: &Path,
    flags: &ModeFlags,
    jobs: usize,
    actor: &str,
    name: &str,
    file: &Path,
    version: &Version,
    active: Option<&Version>,
) -> Result<(Decision, Option<Comparison>), Diagnostics> {
    let alpha = config.registry.alpha();
    let mut decision = Decision {
        prompt: name.to_string(),
        version: version.number,
        sha256: version.sha256.clone(),
        was: active.map(|a| a.number),
        outcome: "activated",
        reasons: Vec::new(),
        run_id: None,
        required: Vec::new(),
    };
    let overrides = BTreeMap::from([(name.to_string(), file.to_path_buf())]);
    let project = pipeline::load(&args.paths, prompts_dir, overrides.clone())?;
    let suites: Vec<_> = project
        .suites
        .into_iter()
        .filter(|s| s.prompts.iter().any(|p| p.name == name))
        .collect();
    if suites.is_empty() {
        decision.outcome = "blocked";
        decision.reasons.push(format!(
            "no suite in {} tests prompt `{name}`; nothing can vouch for it",
            args.paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
        return Ok((decision, None));
    }
    let suite_files: Vec<PathBuf> = suites.iter().map(|s| s.file.clone()).collect();
    let alphas: BTreeMap<String, f64> = suites
        .iter()
        .filter_map(|s| s.gate_alpha.map(|a| (s.name.clone(), a)))
        .collect();
    let coverage = Coverage::of(&suites);
    // The run's console report goes to stderr when --json owns stdout.
    let sink: Box<dyn Write + Send> = if args.json {
        Box::new(std::io::stderr())
    } else {
        Box::new(std::io::stdout())
    };
    let mut console = ConsoleReporter::new(sink, ConsoleReporter::want_progress());
    if std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true") {
        // Model output in the failure list must not run workflow commands.
        console = console.with_stop_commands(ConsoleReporter::stop_commands_token());
    }
    let mut reporters: Vec<Box<dyn Reporter>> = vec![Box::new(console)];
    // Under GitHub Actions: annotations at the failing tests' lines and the run's summary.
    if let Some(gh) = crate::report::github::GithubReporter::from_env() {
        reporters.push(Box::new(gh));
    }
    // Graders: the suites' own (`options.provider`) or the defaults.
    let plan_opts = crate::runner::PlanOptions::default();
    // The gate's runs use the response cache and call log like `promptgate test`.
    let calls = pipeline::CallSettings::from_config(config, false);
    let outcome = pipeline::run_suites(
        suites,
        project.templates,
        &[],
        &plan_opts,
        flags,
        jobs,
        &calls,
        reporters,
    )?;
    // What an activation requires: every suite that tests the prompt, in
    // the gate's paths and in the project's `suites/` folder.
    decision.required = coverage.suites.clone();
    let project_suites = Path::new("suites");
    if project_suites.is_dir() {
        for s in pipeline::suites_testing(
            name,
            &version.content,
            &version.file_ext,
            &[project_suites.to_path_buf()],
            prompts_dir,
        )? {
            if !decision.required.iter().any(|r| r.sha256 == s.sha256) {
                decision.required.push(s);
            }
        }
    }
    let mine: Vec<_> = outcome.cases.iter().filter(|c| c.prompt == name).collect();
    let failing: Vec<String> = mine
        .iter()
        .filter(|c| c.verdict == Verdict::Fail)
        .map(|c| c.name.clone())
        .collect();
    let errored: Vec<String> = mine
        .iter()
        .filter(|c| matches!(c.verdict, Verdict::Error | Verdict::Skipped))
        .map(|c| c.name.clone())
        .collect();
    match outcome.verdict {
        RunVerdict::Pass => {}
        RunVerdict::Fail => {
            decision.outcome = "blocked";
            if !failing.is_empty() {
                decision.reasons.push(format!("failing: {}", failing.join(", ")));
            }
            for t in outcome.thresholds.iter().filter(|t| t.verdict == Verdict::Fail) {
                let breached: Vec<String> = t
                    .checks
                    .iter()
                    .filter(|c| !c.pass)
                    .map(|c| match c.measured {
                        Some(m) => format!("{} {m:.3} < {}", c.name, c.threshold),
                        None => format!("{} not measured (threshold {})", c.name, c.threshold),
                    })
                    .collect();
                decision
                    .reasons
                    .push(format!("{}::thresholds: {}", t.suite, breached.join(", ")));
            }
            if decision.reasons.is_empty() {
                decision
                    .reasons
                    .push("the run failed (another prompt's case in the same suites)".into());
            }
        }
        _ => {
            decision.outcome = "error";
            decision.reasons.push(format!(
                "no verdict (provider errors{}); nothing is activated",
                if errored.is_empty() {
                    String::new()
                } else {
                    format!(": {}", errored.join(", "))
                }
            ));
            record_decision(reg, &mut decision, &coverage, &outcome, actor);
            return Ok((decision, None));
        }
    }
    // Compare with the active version on the same cases.
    let Some(active) = active else {
        record_decision(reg, &mut decision, &coverage, &outcome, actor);
        return Ok((decision, None));
    };
    let names = BTreeSet::from([name.to_string()]);
    let baseline = run_baseline(
        reg,
        PRODUCTION,
        &names,
        &suite_files,
        prompts_dir,
        &BTreeMap::new(),
        &[],
        &plan_opts,
        flags,
        jobs,
        &calls,
    )?;
    let Some(baseline) = baseline else {
        record_decision(reg, &mut decision, &coverage, &outcome, actor);
        return Ok((decision, None));
    };
    let cmp = compare::compare(&baseline.label, &baseline.cases, &outcome.cases).with_suite_alphas(&alphas);
    let lost = compare::lost_to_errors(&baseline.cases, &outcome.cases);
    {
        let text = cmp.console(alpha);
        if args.json {
            eprint!("{text}");
        } else {
            print!("{text}");
        }
    }
    if baseline.verdict == RunVerdict::Error || !lost.is_empty() {
        // Fail closed: a regression could hide in the pairs the errors took.
        let why = format!(
            "comparison with {} incomplete: provider errors in the baseline run{}",
            active.display(),
            if lost.is_empty() {
                String::new()
            } else {
                format!(" (pairs lost: {})", lost.join(", "))
            }
        );
        if decision.outcome == "activated" {
            decision.outcome = "error";
        }
        decision.reasons.push(why);
    }
    let regressions = cmp.regressions(alpha);
    if !regressions.is_empty() {
        decision.outcome = "blocked";
        decision.reasons.extend(
            regressions
                .into_iter()
                .map(|r| format!("significantly worse than {}: {r}", active.display())),
        );
    }
    let limit = config.registry.max_token_growth();
    if active.token_count > 0 {
        let growth = version.token_count as f64 / active.token_count as f64 - 1.0;
        if growth > limit && !cmp.improved(alpha) {
            decision.outcome = "blocked";
            decision.reasons.push(format!(
                "prompt grew {:.0}% ({} -> {} tokens), more than max_token_growth {:.0}%, with no significant improvement",
                100.0 * growth,
                active.token_count,
                version.token_count,
                100.0 * limit
            ));
        }
    }
    record_decision(reg, &mut decision, &coverage, &outcome, actor);
    Ok((decision, Some(cmp)))
}

/// Records the candidate's run with the gate's final decision as its
/// verdict (activated = pass, blocked = fail, error = error), so that a
/// version the gate blocked cannot be activated later on the strength of
/// its cases alone.
fn record_decision(
    reg: &Registry,
    decision: &mut Decision,
    coverage: &Coverage,
    outcome: &pipeline::Outcome,
    actor: &str,
) {
    let verdict = match decision.outcome {
        "activated" => RunVerdict::Pass,
        "blocked" => RunVerdict::Fail,
        _ => RunVerdict::Error,
    };
    let report = record::RunReport {
        coverage,
        cases: &outcome.cases,
        summary: &outcome.summary,
        verdict,
        filtered: false,
        started_at: &outcome.started_at,
        actor,
        command: record::command_line(),
    };
    match record::record(reg, &report) {
        Ok((id, _)) => decision.run_id = Some(id),
        Err(e) => {
            decision.outcome = "error";
            decision.reasons.push(format!("cannot record the run: {e}"));
        }
    }
}

fn print_table(decisions: &[Decision], json: bool) {
    let mut out = std::io::stdout().lock();
    if json {
        let _ = writeln!(out, "{}", serde_json::to_string_pretty(decisions).unwrap_or_default());
        return;
    }
    let _ = writeln!(out, "\ngate:");
    if decisions.is_empty() {
        let _ = writeln!(out, "  nothing changed: every prompt file matches its active version");
        return;
    }
    let _ = writeln!(
        out,
        "  {:<20} {:<18} {:<6} {:<10} why",
        "prompt", "candidate", "was", "outcome"
    );
    for d in decisions {
        let _ = writeln!(
            out,
            "  {:<20} {:<18} {:<6} {:<10} {}",
            d.prompt,
            format!("v{} {}", d.version, &d.sha256[..12]),
            d.was.map(|n| format!("v{n}")).unwrap_or_else(|| "-".into()),
            d.outcome.to_uppercase(),
            if d.reasons.is_empty() {
                "every suite passed".to_string()
            } else {
                d.reasons.join("; ")
            }
        );
    }
}
