//! `promptgate gate [SUITES...]`: for each prompt file in `prompts/` whose
//! content differs from its active version (and each `--prompt NAME=PATH`
//! candidate): register it, run the suites that use it, record the run,
//! compare with the active version, and activate it only when every suite
//! passed and the comparison shows no significant regression (nor a token
//! growth above `max_token_growth` without a significant improvement).
//!
//! Fail closed: when provider errors keep any candidate from a verdict,
//! nothing is activated and the exit code is 3.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args;

use crate::cli::{exit, output};
use crate::gate::{GateDecision, GateOutcome};
use crate::registry::{self, Registry};
use crate::report::console::ConsoleReporter;
use crate::report::Reporter;
use crate::session::gate::{self, GateRequest};
use crate::session::{CallSettings, ModeFlags, Notice, SessionError};
use crate::settings::{self, Settings};

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
    #[arg(default_value = settings::SUITES_DIR)]
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

/// Runs `promptgate gate`; returns the exit code: 0 every changed prompt was
/// activated (or nothing changed), 1 something was blocked, 2 bad input,
/// 3 provider errors kept a verdict from being reached (nothing activated).
pub fn run(args: GateArgs) -> i32 {
    let settings = match Settings::load(args.config.as_deref()) {
        Ok(s) => s,
        Err(d) => {
            eprintln!("{d}");
            return exit::INVALID_INPUT;
        }
    };
    let path = settings.registry_path(args.registry.as_deref());
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
    for (name, file) in &args.prompts {
        if !file.is_file() {
            eprintln!("error: --prompt {name}={}: no such file", file.display());
            return exit::INVALID_INPUT;
        }
    }
    let prompts_dir = settings.prompts_dir(args.prompts_dir.as_deref());
    let alpha = settings.config.registry.alpha();
    let request = GateRequest {
        paths: args.paths.clone(),
        candidates: gate::candidates(&prompts_dir, &args.prompts),
        prompts_dir,
        mode: ModeFlags {
            record: None,
            replay: args.replay.clone(),
            live: args.live,
            config_replay: settings.replay().map(Path::to_path_buf),
        },
        jobs: settings.jobs(args.jobs),
        // The gate's runs use the response cache and call log like `promptgate test`.
        calls: CallSettings::from_config(&settings.config, false),
        alpha,
        max_token_growth: settings.config.registry.max_token_growth(),
        actor: registry::actor(args.author.as_deref()),
        project_suites: PathBuf::from(settings::SUITES_DIR),
    };
    let json = args.json;
    let mut reporters = || -> Vec<Box<dyn Reporter>> {
        // The run's console report goes to stderr when --json owns stdout.
        let sink: Box<dyn Write + Send> = if json {
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
        reporters
    };
    let mut notify = |n: Notice| match n {
        Notice::Comparison(text) if !json => print!("{text}"),
        other => output::notice(&other),
    };
    let report = match gate::run_gate(&reg, &request, &mut reporters, &mut notify) {
        Ok(r) => r,
        Err(e) => {
            match &e {
                SessionError::Registry(r) => eprintln!("error: {r}"),
                SessionError::Input(d) => output::errors(d),
                SessionError::Aborted(_) => {}
            }
            return exit::of_session_error(&e);
        }
    };
    let decisions = &report.decisions;
    print_table(decisions, json);
    let mut md =
        String::from("### promptgate gate\n\n| prompt | version | was | outcome | why |\n|---|---|---|---|---|\n");
    for d in decisions {
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
    for c in &report.comparisons {
        md.push('\n');
        md.push_str(&c.markdown(alpha));
    }
    output::append_step_summary(&md);
    exit::of_gate(GateOutcome::overall(decisions))
}

fn print_table(decisions: &[GateDecision], json: bool) {
    if json {
        output::json(decisions);
        return;
    }
    let mut out = std::io::stdout().lock();
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
            d.outcome.as_str().to_uppercase(),
            if d.reasons.is_empty() {
                "every suite passed".to_string()
            } else {
                d.reasons.join("; ")
            }
        );
    }
}
