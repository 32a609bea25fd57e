//! The registry's rules over its data: the activation rule over recorded
//! runs, and the target of a rollback.

use super::{AuditEntry, Eligibility, RegistryError, Result, RunRecord, RunSuite, RunVerdict, Store, PRODUCTION};

/// Rollback's (current, target) from the store's state: `to` (which must
/// have been active before), else the version active before the current one.
pub(super) fn rollback_target(store: &dyn Store, prompt: &str, to: Option<u32>) -> Result<(u32, u32)> {
    let versions = store.versions(prompt)?;
    let current = versions
        .iter()
        .find(|v| v.labels.iter().any(|l| l == PRODUCTION))
        .map(|v| v.number)
        .ok_or_else(|| RegistryError::NotFound(format!("{prompt} has no active version to roll back from")))?;
    let moves: Vec<AuditEntry> = store
        .audit(Some(prompt))?
        .into_iter()
        .filter(|e| e.label.as_deref() == Some(PRODUCTION) && e.to_version.is_some())
        .collect();
    let target = match to {
        Some(v) => {
            if !moves.iter().any(|e| e.to_version == Some(v)) {
                let was: Vec<String> = moves
                    .iter()
                    .filter_map(|e| e.to_version)
                    .map(|n| n.to_string())
                    .collect();
                return Err(RegistryError::NotFound(format!(
                    "{prompt}@{v} was never active, so it cannot be rolled back to (versions that were active: {})",
                    if was.is_empty() { "none".into() } else { was.join(", ") }
                )));
            }
            v
        }
        None => moves
            .iter()
            .rev()
            .find(|e| e.to_version == Some(current))
            .and_then(|e| e.from_version)
            .ok_or_else(|| {
                RegistryError::NotFound(format!(
                    "{prompt}@{current} is the first active version; there is nothing to roll back to"
                ))
            })?,
    };
    if target == current {
        return Err(RegistryError::Invalid(format!(
            "{prompt}@{target} is already the active version"
        )));
    }
    Ok((current, target))
}

/// The activation rule over recorded runs (oldest first); see
/// [`super::Registry::eligibility`].
pub fn eligibility_of(runs: &[RunRecord], required: &[RunSuite]) -> Eligibility {
    if runs.is_empty() {
        return Eligibility::NeverRan;
    }
    let lacking = |r: &RunRecord| -> Vec<String> {
        required
            .iter()
            .filter(|s| !r.suite_hashes.iter().any(|h| h == &s.sha256))
            .map(|s| {
                if r.suites.iter().any(|n| n == &s.name) {
                    format!("{} (changed since)", s.file)
                } else {
                    s.file.clone()
                }
            })
            .collect()
    };
    let Some(last_pass) = runs.iter().rposition(|r| r.counts_as_pass()) else {
        return Eligibility::NoPassingRun;
    };
    let Some(last_full) = runs.iter().rposition(|r| r.counts_as_pass() && lacking(r).is_empty()) else {
        return Eligibility::Incomplete {
            run: runs[last_pass].id,
            missing: lacking(&runs[last_pass]),
        };
    };
    if let Some(f) = runs[last_full + 1..].iter().find(|r| r.verdict == RunVerdict::Fail) {
        return Eligibility::FailedLater { run: f.id };
    }
    Eligibility::Passed {
        run: runs[last_full].id,
    }
}
