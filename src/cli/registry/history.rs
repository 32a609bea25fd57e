//! `promptgate registry history NAME`: every version of a prompt.

use std::io::Write;

use serde_json::json;

use super::{short, version_json, Context};
use crate::cli::{exit, output};
use crate::registry::{Registry, RegistryError};

/// Runs `registry history`; returns the exit code.
///
/// # Errors
/// An unknown prompt, a registry that cannot be read.
pub(super) fn run(cx: &Context, name: &str) -> Result<i32, RegistryError> {
    let (path, json) = (cx.path.as_path(), cx.json);
    let mut out = std::io::stdout().lock();
    let reg = Registry::open_existing(path)?;
    let versions = reg.versions(name)?;
    let mut rows = Vec::new();
    for v in &versions {
        let runs = reg.store().runs_of(name, v.number)?;
        let last = runs.last();
        let mut j = version_json(v);
        j["last_run"] = json!(
            last.map(|r| json!({"id": r.id, "verdict": r.verdict, "started_at": r.started_at, "filtered": r.filtered}))
        );
        rows.push(j);
    }
    if json {
        output::json(&json!(rows));
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
