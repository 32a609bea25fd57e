//! `promptgate registry show REF`: a version's content.

use std::io::Write;

use super::Context;
use crate::cli::{exit, output};
use crate::registry::{Registry, RegistryError};

/// Runs `registry show`; returns the exit code.
///
/// # Errors
/// A malformed or unknown reference, a registry that cannot be read.
pub(super) fn run(cx: &Context, reference: &str) -> Result<i32, RegistryError> {
    let (path, json) = (cx.path.as_path(), cx.json);
    let mut out = std::io::stdout().lock();
    let reg = Registry::open_existing(path)?;
    let v = reg.resolve(&reference.parse()?)?;
    if json {
        output::json(&serde_json::to_value(&v).unwrap_or_default());
    } else {
        let _ = write!(out, "{}", v.content);
    }
    Ok(exit::SUCCESS)
}
