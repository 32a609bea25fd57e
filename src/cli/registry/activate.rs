//! `promptgate registry activate NAME@V` and `promote NAME@V --label L`:
//! move a label (protected labels follow the activation rule: a recorded
//! passing run of every suite that uses the version, on exactly its content).

use std::path::{Path, PathBuf};

use serde_json::json;

use super::{short, Context};
use crate::cli::{exit, output};
use crate::prompt::PromptCatalog;
use crate::registry::{self, Registry, RegistryError, Version, VersionRef, PRODUCTION};
use crate::settings::{self, Settings};

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
fn suites_hint(v: &Version, config: &Settings, common: &super::RegistryFlags) -> String {
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

/// Moves `label` to the version `reference` names; returns the exit code.
///
/// # Errors
/// A malformed or unknown reference, `--force` without `--reason`, a move
/// the activation rule refuses, a registry that cannot be read or written.
pub(super) fn move_label(
    cx: &Context,
    reference: &str,
    label: &str,
    force: bool,
    reason: Option<&str>,
    author: Option<&str>,
) -> Result<i32, RegistryError> {
    let (path, json, config, common) = (cx.path.as_path(), cx.json, cx.settings, cx.flags);
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
            output::json(
                &json!({"prompt": v.prompt, "label": label, "from": v.number, "to": v.number, "changed": false}),
            );
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
        output::json(
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
