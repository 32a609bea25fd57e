//! `promptgate registry audit [NAME]`: the audit log, oldest first.

use std::io::Write;

use super::Context;
use crate::cli::{exit, output};
use crate::registry::{Registry, RegistryError};

/// Runs `registry audit`; returns the exit code.
///
/// # Errors
/// An unknown prompt, a registry that cannot be read.
pub(super) fn run(cx: &Context, name: Option<&str>) -> Result<i32, RegistryError> {
    let (path, json) = (cx.path.as_path(), cx.json);
    let mut out = std::io::stdout().lock();
    let reg = Registry::open_existing(path)?;
    if let Some(n) = name {
        reg.versions(n)?;
    }
    let entries = reg.store().audit(name)?;
    if json {
        output::json(&serde_json::to_value(&entries).unwrap_or_default());
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
