//! The drift check of `promptgate registry status`: for every prompt file
//! in the prompts folder, whether its content is the active version, a
//! registered but inactive one, or new.

use std::path::Path;

use super::{Registry, RegistryError, Result, Version, PRODUCTION};
use crate::prompt::PromptCatalog;

/// Where a prompt file's content stands. Serialized as `active`, `inactive` or `new`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DriftState {
    /// The file holds the active (`production`) version.
    Active,
    /// The content is registered, but is not the active version.
    Inactive,
    /// The content is not registered.
    New,
}

/// One prompt file's state (the JSON row of `registry status --json`, fields in this order).
#[derive(Debug, Clone, serde::Serialize)]
pub struct PromptFileStatus {
    /// The prompt's name.
    pub prompt: String,
    /// The file.
    pub file: String,
    /// SHA-256 of its content (byte-order mark dropped), lowercase hex.
    pub sha256: String,
    /// Active, inactive or new.
    pub state: DriftState,
    /// The registered version holding this content.
    pub version: Option<u32>,
    /// The active version.
    pub active_version: Option<u32>,
    /// One line for people: `active: NAME@V (SHA12)`, ...
    pub summary: String,
}

/// The drift check: one row per prompt file in `dir` (version files
/// `NAME.vN.ext` excluded): `state` is `active`, `inactive` (a registered
/// version that is not the active one) or `new`.
///
/// # Errors
/// A registry that cannot be read.
pub fn status(path: &Path, dir: &Path) -> Result<Vec<PromptFileStatus>> {
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
            (Some(v), Some(a)) if v.number == a.number => (
                DriftState::Active,
                format!("active: {} ({})", v.display(), &sha[..12.min(sha.len())]),
            ),
            (Some(v), a) => (
                DriftState::Inactive,
                format!(
                    "registered as {} but not active (active: {})",
                    v.display(),
                    a.map(Version::display).unwrap_or_else(|| "none".into())
                ),
            ),
            (None, a) => (
                DriftState::New,
                format!(
                    "new content {} (active: {})",
                    &sha[..12.min(sha.len())],
                    a.map(Version::display).unwrap_or_else(|| "none".into())
                ),
            ),
        };
        rows.push(PromptFileStatus {
            version: same.map(|v| v.number),
            active_version: active.map(|v| v.number),
            prompt: name,
            file: file.display().to_string(),
            sha256: sha,
            state,
            summary,
        });
    }
    Ok(rows)
}
