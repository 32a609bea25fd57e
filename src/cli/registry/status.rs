//! `promptgate registry status`: for every prompt file, whether it is the
//! active version, a registered but inactive one, or new (drift).

use std::io::Write;
use std::path::Path;

use super::Context;
use crate::cli::{exit, output};
use crate::registry::drift::{self, DriftState};
use crate::registry::RegistryError;

/// Runs `registry status`; returns the exit code (1 when a file is not active).
///
/// # Errors
/// A missing prompts folder, a registry that cannot be read.
pub(super) fn run(cx: &Context, prompts_dir: Option<&Path>) -> Result<i32, RegistryError> {
    let (path, json) = (cx.path.as_path(), cx.json);
    let mut out = std::io::stdout().lock();
    let dir = cx.settings.prompts_dir(prompts_dir);
    let rows = drift::status(path, &dir)?;
    let drift = rows.iter().any(|r| r.state != DriftState::Active);
    if json {
        output::json(&rows);
    } else {
        if rows.is_empty() {
            let _ = writeln!(out, "no prompt files in {}", dir.display());
        }
        for r in &rows {
            let _ = writeln!(out, "{:<24} {:<40} {}", r.prompt, r.file, r.summary);
        }
    }
    Ok(if drift { exit::TEST_FAILED } else { exit::SUCCESS })
}
