//! `promptgate registry rollback NAME [--to V]`: move `production` back.

use std::io::Write;

use serde_json::json;

use super::Context;
use crate::cli::{exit, output};
use crate::registry::{self, Registry, RegistryError, PRODUCTION};

/// Runs `registry rollback`; returns the exit code.
///
/// # Errors
/// No earlier active version (or `--to` one that never was), a registry
/// that cannot be read or written.
pub(super) fn run(
    cx: &Context,
    name: &str,
    to: Option<u32>,
    reason: Option<&str>,
    author: Option<&str>,
) -> Result<i32, RegistryError> {
    let (path, json) = (cx.path.as_path(), cx.json);
    let mut out = std::io::stdout().lock();
    let reg = Registry::open_existing(path)?;
    let (from, to) = reg.rollback(name, to, &registry::actor(author), reason)?;
    if json {
        output::json(&json!({"prompt": name, "label": PRODUCTION, "from": from, "to": to}));
    } else {
        let _ = writeln!(out, "rolled back {name}: production {name}@{from} -> {name}@{to}");
    }
    Ok(exit::SUCCESS)
}
