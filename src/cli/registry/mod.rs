//! `promptgate registry ...`: add, list, history, show, diff, activate,
//! promote, rollback, status, audit. Every subcommand has `--json`.
//!
//! Exit codes: 0 done; 1 refused by the activation rule, or `status` found
//! drift; 2 bad input (unknown prompt, version or label, a corrupt registry or
//! one written by a newer promptgate); 3 the registry is locked or cannot be
//! written.

mod activate;
mod add;
mod audit;
mod diff;
mod history;
mod list;
mod rollback;
mod show;
mod status;

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::cli::exit;
use crate::registry::{RegistryError, Version, PRODUCTION};
use crate::settings::Settings;

/// Exit codes of `promptgate registry`, as printed in `--help`.
pub const HELP: &str = "\
Exit codes:
  0  done
  1  refused: no recorded passing run on exactly that version (or a later run failed); `status`: a prompt file differs from its active version
  2  invalid input: unknown prompt, version or label; a corrupt registry or one written by a newer promptgate
  3  the registry is locked by another process (after the busy timeout, 30 s unless $PROMPTGATE_REGISTRY_BUSY_TIMEOUT_MS) or cannot be written";

/// Options every registry subcommand takes.
#[derive(Debug, Args, Clone)]
pub struct RegistryFlags {
    /// The registry file [default: $PROMPTGATE_REGISTRY, else `[registry] path`, else .promptgate/registry.db].
    #[arg(long, value_name = "PATH", global = true)]
    pub registry: Option<PathBuf>,
    /// Machine-readable JSON on stdout.
    #[arg(long, global = true)]
    pub json: bool,
    /// Project config file [default: promptgate.toml when present].
    #[arg(long, value_name = "PATH", global = true)]
    pub config: Option<PathBuf>,
}

/// Arguments of `promptgate registry`.
#[derive(Debug, Args)]
pub struct RegistryArgs {
    /// Options every subcommand takes.
    #[command(flatten)]
    pub flags: RegistryFlags,
    /// The subcommand.
    #[command(subcommand)]
    pub command: RegistryCommand,
}

/// `promptgate registry` subcommands.
#[derive(Debug, Subcommand)]
pub enum RegistryCommand {
    /// Register a prompt file as a new version (the existing version when the content is already registered).
    Add {
        /// The prompt's name.
        name: String,
        /// The prompt file.
        #[arg(long, value_name = "PATH")]
        file: PathBuf,
        /// Author [default: git user.name, else $USER].
        #[arg(long)]
        author: Option<String>,
        /// Notes / changelog.
        #[arg(long)]
        notes: Option<String>,
    },
    /// List the registered prompts with their active version and labels.
    List,
    /// Every version of a prompt: hash, author, date, labels, last run, tokens.
    History {
        /// The prompt's name.
        name: String,
    },
    /// Print a version's content (NAME is NAME@production).
    Show {
        /// NAME, NAME@V, NAME@LABEL or NAME@sha:PREFIX.
        reference: String,
    },
    /// Unified diff between two versions.
    Diff {
        /// The old version (NAME@V or NAME@LABEL).
        from: String,
        /// The new version.
        to: String,
    },
    /// Make a version the active one (moves `production`); needs a recorded passing run of every suite that uses it, on exactly its content.
    Activate {
        /// NAME@V.
        reference: String,
        /// Override the rule (audited; needs --reason).
        #[arg(long, requires = "reason")]
        force: bool,
        /// Why (recorded in the audit log).
        #[arg(long)]
        reason: Option<String>,
        /// Who [default: git user.name, else $USER].
        #[arg(long)]
        author: Option<String>,
    },
    /// Move another label to a version (protected labels follow the activation rule).
    Promote {
        /// NAME@V.
        reference: String,
        /// The label (`staging`, `canary`, ...).
        #[arg(long)]
        label: String,
        /// Override the rule for a protected label (audited; needs --reason).
        #[arg(long, requires = "reason")]
        force: bool,
        /// Why (recorded in the audit log).
        #[arg(long)]
        reason: Option<String>,
        /// Who [default: git user.name, else $USER].
        #[arg(long)]
        author: Option<String>,
    },
    /// Move `production` back to the previously active version (or --to V); no test run needed.
    Rollback {
        /// The prompt's name.
        name: String,
        /// The version to return to (must have been active before).
        #[arg(long, value_name = "V")]
        to: Option<u32>,
        /// Why (recorded in the audit log).
        #[arg(long)]
        reason: Option<String>,
        /// Who [default: git user.name, else $USER].
        #[arg(long)]
        author: Option<String>,
    },
    /// For every prompt file in prompts/: active, registered but inactive, or new. Exit 1 when any is not active.
    Status {
        /// The prompts folder [default: `prompts_dir` in promptgate.toml, else prompts].
        #[arg(long, value_name = "DIR")]
        prompts_dir: Option<PathBuf>,
    },
    /// The audit log (label moves, runs, forced overrides), oldest first.
    Audit {
        /// Only this prompt.
        name: Option<String>,
    },
}

/// Runs `promptgate registry ...`; returns the exit code.
pub fn run(args: RegistryArgs) -> i32 {
    let config = match Settings::load(args.flags.config.as_deref()) {
        Ok(c) => c,
        Err(d) => {
            eprintln!("{d}");
            return exit::INVALID_INPUT;
        }
    };
    match run_inner(&args, &config) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            exit::of_registry_error(&e)
        }
    }
}

/// Shortens a SHA-256 to its first 12 hex digits.
fn short(sha: &str) -> &str {
    &sha[..12.min(sha.len())]
}

/// A version as JSON, without its content.
fn version_json(v: &Version) -> serde_json::Value {
    let mut j = serde_json::to_value(v).unwrap_or_default();
    if let Some(o) = j.as_object_mut() {
        o.remove("content");
    }
    j
}

/// What every registry subcommand works with.
pub(super) struct Context<'a> {
    /// The registry file (resolved).
    path: PathBuf,
    /// `--json`.
    json: bool,
    /// The project's settings.
    settings: &'a Settings,
    /// The flags every subcommand takes (refusal hints repeat them).
    flags: &'a RegistryFlags,
}

fn run_inner(args: &RegistryArgs, settings: &Settings) -> Result<i32, RegistryError> {
    let cx = Context {
        path: settings.registry_path(args.flags.registry.as_deref()),
        json: args.flags.json,
        settings,
        flags: &args.flags,
    };
    match &args.command {
        RegistryCommand::Add {
            name,
            file,
            author,
            notes,
        } => add::run(&cx, name, file, author.as_deref(), notes.as_deref()),
        RegistryCommand::List => list::run(&cx),
        RegistryCommand::History { name } => history::run(&cx, name),
        RegistryCommand::Show { reference } => show::run(&cx, reference),
        RegistryCommand::Diff { from, to } => diff::run(&cx, from, to),
        RegistryCommand::Activate {
            reference,
            force,
            reason,
            author,
        } => activate::move_label(&cx, reference, PRODUCTION, *force, reason.as_deref(), author.as_deref()),
        RegistryCommand::Promote {
            reference,
            label,
            force,
            reason,
            author,
        } => {
            if label.trim().is_empty() || label.contains('@') {
                return Err(RegistryError::Invalid(format!("`{label}` is not a label name")));
            }
            activate::move_label(&cx, reference, label, *force, reason.as_deref(), author.as_deref())
        }
        RegistryCommand::Rollback {
            name,
            to,
            reason,
            author,
        } => rollback::run(&cx, name, *to, reason.as_deref(), author.as_deref()),
        RegistryCommand::Status { prompts_dir } => status::run(&cx, prompts_dir.as_deref()),
        RegistryCommand::Audit { name } => audit::run(&cx, name.as_deref()),
    }
}
