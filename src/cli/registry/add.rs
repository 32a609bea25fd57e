//! `promptgate registry add NAME --file PATH`: register a prompt file as a
//! new version (the existing version when the content is already registered).

use std::io::Write;
use std::path::Path;

use serde_json::json;

use super::{version_json, Context};
use crate::cli::{exit, output};
use crate::registry::{self, Registry, RegistryError};

/// Runs `registry add`; returns the exit code.
///
/// # Errors
/// A bad name or file, a registry that cannot be opened or written.
pub(super) fn run(
    cx: &Context,
    name: &str,
    file: &Path,
    author: Option<&str>,
    notes: Option<&str>,
) -> Result<i32, RegistryError> {
    let (path, json) = (cx.path.as_path(), cx.json);
    let mut out = std::io::stdout().lock();
    registry::validate_prompt_name(name)?;
    if !file.is_file() {
        return Err(RegistryError::Invalid(format!(
            "--file {}: no such file",
            file.display()
        )));
    }
    let nv = registry::new_version_from_file(name, file, &registry::actor(author), notes)?;
    let reg = Registry::open(path)?;
    let (v, created) = reg.store().register(&nv)?;
    if json {
        let mut j = version_json(&v);
        j["created"] = json!(created);
        output::json(&j);
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
