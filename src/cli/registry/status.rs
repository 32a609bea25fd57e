//! `promptgate registry status`: for every prompt file, whether it is the
//! active version, a registered but inactive one, or new (drift).

use std::io::Write;
use std::path::Path;

use serde_json::json;

use super::{short, Context};
use crate::cli::{exit, output};
use crate::prompt::PromptCatalog;
use crate::registry::{Registry, RegistryError, Version, PRODUCTION};

/// Runs `registry status`; returns the exit code (1 when a file is not active).
///
/// # Errors
/// A missing prompts folder, a registry that cannot be read.
pub(super) fn run(cx: &Context, prompts_dir: Option<&Path>) -> Result<i32, RegistryError> {
    let (path, json) = (cx.path.as_path(), cx.json);
    let mut out = std::io::stdout().lock();
    let dir = cx.settings.prompts_dir(prompts_dir);
    let rows = status(path, &dir)?;
    let drift = rows.iter().any(|r| r["state"] != "active");
    if json {
        output::json(&json!(rows));
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

/// The drift check: one JSON row per prompt file in `dir` (version files
/// `NAME.vN.ext` excluded): `state` is `active`, `inactive` (a registered
/// version that is not the active one) or `new`.
///
/// # Errors
/// A registry that cannot be read.
fn status(path: &Path, dir: &Path) -> Result<Vec<serde_json::Value>, RegistryError> {
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
