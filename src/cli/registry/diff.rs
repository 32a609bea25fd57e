//! `promptgate registry diff FROM TO`: unified diff between two versions.

use std::io::Write;

use serde_json::json;

use super::{version_json, Context};
use crate::cli::{exit, output};
use crate::registry::{Registry, RegistryError};

/// Runs `registry diff`; returns the exit code.
///
/// # Errors
/// A malformed or unknown reference, a registry that cannot be read.
pub(super) fn run(cx: &Context, from: &str, to: &str) -> Result<i32, RegistryError> {
    let (path, json) = (cx.path.as_path(), cx.json);
    let mut out = std::io::stdout().lock();
    let reg = Registry::open_existing(path)?;
    let a = reg.resolve(&from.parse()?)?;
    let b = reg.resolve(&to.parse()?)?;
    let diff = similar::TextDiff::from_lines(&a.content, &b.content)
        .unified_diff()
        .context_radius(3)
        .header(&a.display(), &b.display())
        .to_string();
    if json {
        output::json(&json!({"from": version_json(&a), "to": version_json(&b), "diff": diff}));
    } else {
        let _ = write!(out, "{diff}");
    }
    Ok(exit::SUCCESS)
}
