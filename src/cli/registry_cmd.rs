//! `promptgate registry ...`: add, list, history, show, diff, activate,
//! promote, rollback, status, audit. Every subcommand has `--json`.
//!
//! Exit codes: 0 done; 1 refused by the activation rule, or `status` found
//! drift; 2 bad input (unknown prompt, version or label, a corrupt registry or
//! one written by a newer promptgate); 3 the registry is locked or cannot be
//! written.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use serde_json::json;

use crate::cli::exit;
use crate::prompt::PromptCatalog;
use crate::registry::{self, Registry, RegistryError, Version, VersionRef, PRODUCTION};
use crate::settings::{self, Settings};

/// Exit codes of `promptgate registry`, as printed in `--help`.
pub const HELP: &str = "\
Exit codes:
  0  done
  1  refused: no recorded passing run on exactly that version (or a later run failed); `status`: a prompt file differs from its active version
  2  invalid input: unknown prompt, version or label; a corrupt registry or one written by a newer promptgate
  3  the registry is locked by another process (after the busy timeout, 30 s unless $PROMPTGATE_REGISTRY_BUSY_TIMEOUT_MS) or cannot be written";

/// Options every registry subcommand takes.
#[derive(Debug, Args, Clone)]
pub struct Common {
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
    /// Common options.
    #[command(flatten)]
    pub common: Common,
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
    let config = match Settings::load(args.common.config.as_deref()) {
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

fn out_json(v: &serde_json::Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

fn short(sha: &str) -> &str {
    &sha[..12.min(sha.len())]
}

fn version_json(v: &Version) -> serde_json::Value {
    let mut j = serde_json::to_value(v).unwrap_or_default();
    if let Some(o) = j.as_object_mut() {
        o.remove("content");
    }
    j
}

/// A path as a shell word: single-quoted unless it is made of safe characters.
fn shell_word(p: &Path) -> String {
    let s = p.display().to_string();
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c)) {
        s
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// The command that makes the suites pass on `v`, for refusals; it carries
/// `--registry` and `--config` when they were given, so that it records the
/// run where the refusal looked.
fn suites_hint(v: &Version, config: &Settings, common: &Common) -> String {
    let mut flags = String::new();
    if let Some(r) = &common.registry {
        flags.push_str(&format!(" --registry {}", shell_word(r)));
    }
    if let Some(c) = &common.config {
        flags.push_str(&format!(" --config {}", shell_word(c)));
    }
    let prompts_dir = config.prompts_dir(None);
    let catalog = PromptCatalog::new(prompts_dir.clone(), Default::default());
    let current = catalog
        .find(&v.prompt)
        .and_then(|f| std::fs::read(&f).ok().map(|b| (f, b)))
        .filter(|(_, b)| crate::util::sha256_hex(b.strip_prefix("\u{feff}".as_bytes()).unwrap_or(b)) == v.sha256);
    let suites = crate::session::suite_files_using(&v.prompt, Path::new(settings::SUITES_DIR), &prompts_dir);
    let which = if suites.is_empty() {
        String::new()
    } else {
        format!("suites using {}: {}\n  ", v.prompt, suites.join(", "))
    };
    match current {
        Some(_) => format!("{which}promptgate test suites/ --record-run{flags}"),
        None => {
            let file = format!("/tmp/{}.v{}.{}", v.prompt, v.number, v.file_ext);
            format!(
                "{which}promptgate registry show {}{flags} > {file} && promptgate test suites/ --record-run{flags} --prompt {}={file}",
                v.display(),
                v.prompt
            )
        }
    }
}

/// The suites in `suites/` that test `v`'s prompt now (file and content
/// hash): a protected move needs a passing run that covered all of them.
///
/// # Errors
/// Suites that do not load ([`RegistryError::Invalid`], exit 2).
fn required_suites(v: &Version, config: &Settings) -> Result<Vec<registry::RunSuite>, RegistryError> {
    let dir = PathBuf::from(settings::SUITES_DIR);
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let prompts_dir = config.prompts_dir(None);
    crate::session::suites_testing(&v.prompt, &v.content, &v.file_ext, &[dir], &prompts_dir).map_err(|d| {
        let msgs: Vec<String> = d.errors().map(|e| e.to_string()).collect();
        RegistryError::Invalid(format!(
            "cannot load the suites that decide whether {} may be activated:\n{}",
            v.display(),
            msgs.join("\n")
        ))
    })
}

fn run_inner(args: &RegistryArgs, config: &Settings) -> Result<i32, RegistryError> {
    let path = config.registry_path(args.common.registry.as_deref());
    let json = args.common.json;
    let mut out = std::io::stdout().lock();
    match &args.command {
        RegistryCommand::Add {
            name,
            file,
            author,
            notes,
        } => {
            registry::validate_prompt_name(name)?;
            if !file.is_file() {
                return Err(RegistryError::Invalid(format!(
                    "--file {}: no such file",
                    file.display()
                )));
            }
            let nv =
                registry::new_version_from_file(name, file, &registry::actor(author.as_deref()), notes.as_deref())?;
            let reg = Registry::open(&path)?;
            let (v, created) = reg.store().register(&nv)?;
            if json {
                let mut j = version_json(&v);
                j["created"] = json!(created);
                out_json(&j);
            } else if created {
                let _ = writeln!(
                    out,
                    "registered {} sha256:{} ({} tokens)",
                    v.display(),
                    v.sha256,
                    v.token_count
                );
            } else {
                let _ = writeln!(
                    out,
                    "unchanged: {} already holds this content (sha256:{})",
                    v.display(),
                    v.sha256
                );
            }
            Ok(exit::SUCCESS)
        }
        RegistryCommand::List => {
            let reg = Registry::open_existing(&path)?;
            let mut rows = Vec::new();
            for name in reg.store().prompts()? {
                let versions = reg.versions(&name)?;
                let active = versions.iter().find(|v| v.labels.iter().any(|l| l == PRODUCTION));
                let labels: Vec<String> = versions
                    .iter()
                    .flat_map(|v| v.labels.iter().map(move |l| format!("{l}={}", v.number)))
                    .collect();
                rows.push(json!({
                    "prompt": name,
                    "versions": versions.len(),
                    "active": active.map(|v| v.number),
                    "active_sha256": active.map(|v| v.sha256.clone()),
                    "labels": labels,
                }));
            }
            if json {
                out_json(&json!(rows));
            } else if rows.is_empty() {
                let _ = writeln!(out, "no prompts registered in {}", path.display());
            } else {
                let _ = writeln!(out, "{:<24} {:>8}  {:<8}  labels", "prompt", "versions", "active");
                for r in rows {
                    let _ = writeln!(
                        out,
                        "{:<24} {:>8}  {:<8}  {}",
                        r["prompt"].as_str().unwrap_or(""),
                        r["versions"].as_u64().unwrap_or(0),
                        r["active"]
                            .as_u64()
                            .map(|n| format!("v{n}"))
                            .unwrap_or_else(|| "-".into()),
                        r["labels"]
                            .as_array()
                            .map(|a| a.iter().filter_map(|x| x.as_str()).collect::<Vec<_>>().join(", "))
                            .unwrap_or_default()
                    );
                }
            }
            Ok(exit::SUCCESS)
        }
        RegistryCommand::History { name } => {
            let reg = Registry::open_existing(&path)?;
            let versions = reg.versions(name)?;
            let mut rows = Vec::new();
            for v in &versions {
                let runs = reg.store().runs_of(name, v.number)?;
                let last = runs.last();
                let mut j = version_json(v);
                j["last_run"] = json!(last.map(
                    |r| json!({"id": r.id, "verdict": r.verdict, "started_at": r.started_at, "filtered": r.filtered})
                ));
                rows.push(j);
            }
            if json {
                out_json(&json!(rows));
            } else {
                let _ = writeln!(
                    out,
                    "{:<4} {:<12}  {:<16} {:<24}  {:>6}  {:<14}  {:<10}  notes",
                    "ver", "sha256", "author", "created (UTC)", "tokens", "last run", "labels"
                );
                for (v, j) in versions.iter().zip(&rows) {
                    let last = j["last_run"]
                        .as_object()
                        .map(|r| format!("#{} {}", r["id"], r["verdict"].as_str().unwrap_or("")))
                        .unwrap_or_else(|| "-".into());
                    let _ = writeln!(
                        out,
                        "v{:<3} {:<12}  {:<16} {:<24}  {:>6}  {:<14}  {:<10}  {}",
                        v.number,
                        short(&v.sha256),
                        v.author,
                        v.created_at,
                        v.token_count,
                        last,
                        if v.labels.is_empty() {
                            "-".to_string()
                        } else {
                            v.labels.join(",")
                        },
                        v.notes.as_deref().unwrap_or("").lines().next().unwrap_or("")
                    );
                }
            }
            Ok(exit::SUCCESS)
        }
        RegistryCommand::Show { reference } => {
            let reg = Registry::open_existing(&path)?;
            let v = reg.resolve(&reference.parse()?)?;
            if json {
                out_json(&serde_json::to_value(&v).unwrap_or_default());
            } else {
                let _ = write!(out, "{}", v.content);
            }
            Ok(exit::SUCCESS)
        }
        RegistryCommand::Diff { from, to } => {
            let reg = Registry::open_existing(&path)?;
            let a = reg.resolve(&from.parse()?)?;
            let b = reg.resolve(&to.parse()?)?;
            let diff = similar::TextDiff::from_lines(&a.content, &b.content)
                .unified_diff()
                .context_radius(3)
                .header(&a.display(), &b.display())
                .to_string();
            if json {
                out_json(&json!({"from": version_json(&a), "to": version_json(&b), "diff": diff}));
            } else {
                let _ = write!(out, "{diff}");
            }
            Ok(exit::SUCCESS)
        }
        RegistryCommand::Activate {
            reference,
            force,
            reason,
            author,
        } => label_move(
            &path,
            config,
            reference,
            PRODUCTION,
            *force,
            reason.as_deref(),
            author.as_deref(),
            &args.common,
        ),
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
            label_move(
                &path,
                config,
                reference,
                label,
                *force,
                reason.as_deref(),
                author.as_deref(),
                &args.common,
            )
        }
        RegistryCommand::Rollback {
            name,
            to,
            reason,
            author,
        } => {
            let reg = Registry::open_existing(&path)?;
            let (from, to) = reg.rollback(name, *to, &registry::actor(author.as_deref()), reason.as_deref())?;
            if json {
                out_json(&json!({"prompt": name, "label": PRODUCTION, "from": from, "to": to}));
            } else {
                let _ = writeln!(out, "rolled back {name}: production {name}@{from} -> {name}@{to}");
            }
            Ok(exit::SUCCESS)
        }
        RegistryCommand::Status { prompts_dir } => {
            let dir = config.prompts_dir(prompts_dir.as_deref());
            let rows = status(&path, &dir)?;
            let drift = rows.iter().any(|r| r["state"] != "active");
            if json {
                out_json(&json!(rows));
            } else {
                if rows.is_empty() {
                    let _ = writeln!(out, "no prompt files in {}", dir.display());
                }
                for r in &rows {
                    let _ = writeln!(
                        out,
                        "{:<24} {:<40} {}",
                        r["prompt"].as_str().unwrap_or(""),
                        r["file"].as_str().unwrap_or(""),
                        r["summary"].as_str().unwrap_or("")
                    );
                }
            }
            Ok(if drift { exit::TEST_FAILED } else { exit::SUCCESS })
        }
        RegistryCommand::Audit { name } => {
            let reg = Registry::open_existing(&path)?;
            if let Some(n) = name {
                reg.versions(n)?;
            }
            let entries = reg.store().audit(name.as_deref())?;
            if json {
                out_json(&serde_json::to_value(&entries).unwrap_or_default());
            } else {
                for e in entries {
                    let v = |x: Option<u32>| x.map(|n| format!("v{n}")).unwrap_or_else(|| "-".into());
                    let what = match e.action.as_str() {
                        "run" => format!(
                            "run {} on {}@{}: {}",
                            e.run_id.unwrap_or_default(),
                            e.prompt,
                            v(e.to_version),
                            e.reason.clone().unwrap_or_default()
                        ),
                        _ => format!(
                            "{} {} {}: {} -> {}{}{}",
                            e.action,
                            e.prompt,
                            e.label.clone().unwrap_or_default(),
                            v(e.from_version),
                            v(e.to_version),
                            e.run_id.map(|r| format!(" (run {r})")).unwrap_or_default(),
                            e.reason.as_ref().map(|r| format!(" reason: {r}")).unwrap_or_default()
                        ),
                    };
                    let _ = writeln!(out, "#{:<4} {}  {:<16} {what}", e.id, e.at, e.actor);
                }
            }
            Ok(exit::SUCCESS)
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn label_move(
    path: &Path,
    config: &Settings,
    reference: &str,
    label: &str,
    force: bool,
    reason: Option<&str>,
    author: Option<&str>,
    common: &Common,
) -> Result<i32, RegistryError> {
    let json = common.json;
    let r: VersionRef = VersionRef::parse_with_default(reference, PRODUCTION)?;
    if matches!(r.selector, registry::Selector::Label(ref l) if l == label) {
        return Err(RegistryError::Invalid(format!(
            "`{reference}`: name the version to move `{label}` to, e.g. {}@2",
            r.prompt
        )));
    }
    if force && reason.is_none_or(|r| r.trim().is_empty()) {
        return Err(RegistryError::Invalid(
            "--force needs --reason TEXT (it is audited)".into(),
        ));
    }
    let reg = Registry::open_existing(path)?;
    let v = reg.resolve(&r)?;
    if v.labels.iter().any(|l| l == label) {
        if json {
            out_json(&json!({"prompt": v.prompt, "label": label, "from": v.number, "to": v.number, "changed": false}));
        } else {
            println!("{} already holds `{label}`; nothing changed", v.display());
        }
        return Ok(exit::SUCCESS);
    }
    let protected = config.config.registry.is_protected(label);
    let actor = registry::actor(author);
    let required = if protected && !force {
        required_suites(&v, config)?
    } else {
        Vec::new()
    };
    let from = reg.set_label(
        &v,
        label,
        protected,
        &actor,
        if force { reason } else { None },
        &required,
        &suites_hint(&v, config, common),
    )?;
    if json {
        out_json(
            &json!({"prompt": v.prompt, "label": label, "from": from, "to": v.number, "changed": true, "forced": force}),
        );
    } else {
        let was = from
            .map(|n| format!("{}@{n}", v.prompt))
            .unwrap_or_else(|| "none".into());
        let verb = if label == PRODUCTION { "activated" } else { "promoted" };
        let forced = if force { " (forced, audited)" } else { "" };
        println!(
            "{verb} {} ({}) as `{label}`{forced}; was {was}",
            v.display(),
            short(&v.sha256)
        );
    }
    Ok(exit::SUCCESS)
}

/// The drift check: one JSON row per prompt file in `dir` (version files
/// `NAME.vN.ext` excluded): `state` is `active`, `inactive` (a registered
/// version that is not the active one) or `new`.
///
/// # Errors
/// A registry that cannot be read.
pub fn status(path: &Path, dir: &Path) -> Result<Vec<serde_json::Value>, RegistryError> {
    if !dir.is_dir() {
        return Err(RegistryError::Invalid(format!(
            "prompts folder {} does not exist",
            dir.display()
        )));
    }
    let reg = if path.exists() {
        Some(Registry::open_existing(path)?)
    } else {
        None
    };
    let catalog = PromptCatalog::new(dir.to_path_buf(), Default::default());
    let mut rows = Vec::new();
    for name in catalog.available() {
        let Some(file) = catalog.find(&name) else { continue };
        let bytes =
            std::fs::read(&file).map_err(|e| RegistryError::Invalid(format!("cannot read {}: {e}", file.display())))?;
        let sha = crate::util::sha256_hex(bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(&bytes));
        let versions = match &reg {
            Some(r) => r.store().versions(&name)?,
            None => Vec::new(),
        };
        let active = versions.iter().find(|v| v.labels.iter().any(|l| l == PRODUCTION));
        let same = versions.iter().find(|v| v.sha256 == sha);
        let (state, summary) = match (same, active) {
            (Some(v), Some(a)) if v.number == a.number => {
                ("active", format!("active: {} ({})", v.display(), short(&sha)))
            }
            (Some(v), a) => (
                "inactive",
                format!(
                    "registered as {} but not active (active: {})",
                    v.display(),
                    a.map(Version::display).unwrap_or_else(|| "none".into())
                ),
            ),
            (None, a) => (
                "new",
                format!(
                    "new content {} (active: {})",
                    short(&sha),
                    a.map(Version::display).unwrap_or_else(|| "none".into())
                ),
            ),
        };
        rows.push(json!({
            "prompt": name,
            "file": file.display().to_string(),
            "sha256": sha,
            "state": state,
            "version": same.map(|v| v.number),
            "active_version": active.map(|v| v.number),
            "summary": summary,
        }));
    }
    Ok(rows)
}
