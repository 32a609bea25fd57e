//! `promptgate registry list`: the registered prompts with their active
//! version and labels.

use std::io::Write;

use serde_json::json;

use super::Context;
use crate::cli::{exit, output};
use crate::registry::{Registry, RegistryError, PRODUCTION};

/// Runs `registry list`; returns the exit code.
///
/// # Errors
/// A registry that cannot be read.
pub(super) fn run(cx: &Context) -> Result<i32, RegistryError> {
    let (path, json) = (cx.path.as_path(), cx.json);
    let mut out = std::io::stdout().lock();
    let reg = Registry::open_existing(path)?;
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
        output::json(&json!(rows));
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
