//! Suite-level thresholds, checked once every case of a group is in.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::plan::Case;
use crate::analysis::thresholds::{evaluate, GroupStats, ThresholdOutcome};
use crate::result::CaseResult;

/// Suite-level thresholds: per suite × prompt × provider group, the
/// thresholds and the running counts of its cases (a few numbers per group,
/// not the results).
pub(super) struct ThresholdGroups {
    groups: BTreeMap<GroupKey, (Arc<Case>, GroupStats)>,
}

/// Suite file, prompt label, provider display name.
type GroupKey = (std::path::PathBuf, String, String);

impl ThresholdGroups {
    pub(super) fn new(cases: &[Case]) -> Self {
        let mut groups = BTreeMap::new();
        for c in cases.iter().filter(|c| c.suite.thresholds.is_some()) {
            let key = (
                c.suite.file.clone(),
                c.prompt.label(),
                c.provider.spec.display().to_string(),
            );
            groups
                .entry(key)
                .or_insert_with(|| (Arc::new(c.clone()), Default::default()));
        }
        ThresholdGroups { groups }
    }

    pub(super) fn add(&mut self, r: &CaseResult) {
        if self.groups.is_empty() {
            return;
        }
        let label = format!("{}@{}", r.prompt, r.prompt_hash);
        let key = (r.suite_file.clone(), label, r.provider.clone());
        if let Some((_, stats)) = self.groups.get_mut(&key) {
            stats.add(r);
        }
    }

    pub(super) fn finish(self) -> Vec<ThresholdOutcome> {
        self.groups
            .into_values()
            .filter_map(|(case, mut stats)| {
                let t = case.suite.thresholds.as_ref()?;
                // Cases not run leave the set incomplete: no verdict on it.
                stats.errored += std::mem::take(&mut stats.skipped);
                let (verdict, checks, error) = evaluate(t, &stats);
                Some(ThresholdOutcome {
                    suite: case.suite.name.clone(),
                    suite_file: case.suite.file.clone(),
                    line: t.line,
                    prompt: case.prompt.name.clone(),
                    prompt_hash: case.prompt.short_hash().to_string(),
                    provider: case.provider.spec.display().to_string(),
                    verdict,
                    checks,
                    error,
                    stats,
                    bounds: t.clone(),
                })
            })
            .collect()
    }
}
