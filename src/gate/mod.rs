//! The gate's decision rules: given a candidate prompt version's run, its
//! comparison with the active version and its token growth, whether it is
//! activated, blocked, or left without a verdict. The runs themselves are
//! made by `session::gate`; the CLI prints the decisions and maps them to
//! an exit code.
//!
//! Fail closed: when provider errors keep any candidate from a verdict,
//! nothing is activated ([`fail_closed`]).

use std::sync::Arc;

use crate::analysis::compare::Comparison;
use crate::analysis::thresholds::ThresholdOutcome;
use crate::registry::{RegistryError, RunSuite, Version};
use crate::result::{CaseResult, RunVerdict, Verdict};

/// What the gate decided for one candidate. Serialized as `activated`,
/// `blocked` or `error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GateOutcome {
    /// Every suite passed and the comparison shows no significant
    /// regression: the version becomes `production`.
    Activated,
    /// A failing case or threshold, a significant regression, too much token
    /// growth, no suite, or a refused move.
    Blocked,
    /// Provider errors kept the run (or the comparison) from a verdict, or
    /// the registry was unavailable.
    Error,
}

impl GateOutcome {
    /// `activated`, `blocked` or `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            GateOutcome::Activated => "activated",
            GateOutcome::Blocked => "blocked",
            GateOutcome::Error => "error",
        }
    }

    /// The verdict the candidate's run is recorded with: activated = pass,
    /// blocked = fail, error = error (so that a version the gate blocked
    /// cannot be activated later on the strength of its cases alone).
    pub fn run_verdict(self) -> RunVerdict {
        match self {
            GateOutcome::Activated => RunVerdict::Pass,
            GateOutcome::Blocked => RunVerdict::Fail,
            GateOutcome::Error => RunVerdict::Error,
        }
    }

    /// The outcome of the whole gate: `Error` when any decision is an error,
    /// else `Blocked` when any is blocked, else `Activated` (also when
    /// nothing changed).
    pub fn overall(decisions: &[GateDecision]) -> GateOutcome {
        if decisions.iter().any(|d| d.outcome == GateOutcome::Error) {
            GateOutcome::Error
        } else if decisions.iter().any(|d| d.outcome == GateOutcome::Blocked) {
            GateOutcome::Blocked
        } else {
            GateOutcome::Activated
        }
    }
}

impl std::fmt::Display for GateOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the gate decided for one prompt, and why.
#[derive(Debug, Clone, serde::Serialize)]
pub struct GateDecision {
    /// The prompt.
    pub prompt: String,
    /// The candidate version.
    pub version: u32,
    /// Its SHA-256, lowercase hex.
    pub sha256: String,
    /// The active version before the gate.
    pub was: Option<u32>,
    /// Activated, blocked or error.
    pub outcome: GateOutcome,
    /// Why (failing cases, regressions, token growth), in the order found.
    pub reasons: Vec<String>,
    /// The recorded run.
    pub run_id: Option<i64>,
    /// The suites (file, hash) the activation requires a passing run to cover.
    #[serde(skip)]
    pub required: Vec<RunSuite>,
}

impl GateDecision {
    /// A candidate `version` of `prompt`, replacing `active`: activated until a rule says otherwise.
    pub fn new(prompt: &str, version: &Version, active: Option<&Version>) -> GateDecision {
        GateDecision {
            prompt: prompt.to_string(),
            version: version.number,
            sha256: version.sha256.clone(),
            was: active.map(|a| a.number),
            outcome: GateOutcome::Activated,
            reasons: Vec::new(),
            run_id: None,
            required: Vec::new(),
        }
    }

    /// Blocks the candidate: no suite in `paths` tests it.
    pub fn no_suite(&mut self, paths: &[std::path::PathBuf]) {
        self.outcome = GateOutcome::Blocked;
        self.reasons.push(format!(
            "no suite in {} tests prompt `{}`; nothing can vouch for it",
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            self.prompt
        ));
    }

    /// Judges the candidate's run (`verdict`, its `cases` and `thresholds`):
    /// a failing run blocks it (naming the failing cases of this prompt and
    /// the breached thresholds); a run without a verdict is an error.
    /// Returns false when there is nothing more to judge (no verdict).
    pub fn judge_run(
        &mut self,
        verdict: RunVerdict,
        cases: &[Arc<CaseResult>],
        thresholds: &[Arc<ThresholdOutcome>],
    ) -> bool {
        let mine: Vec<_> = cases.iter().filter(|c| c.prompt == self.prompt).collect();
        let names = |pred: &dyn Fn(Verdict) -> bool| -> Vec<String> {
            mine.iter()
                .filter(|c| pred(c.verdict))
                .map(|c| c.name.clone())
                .collect()
        };
        match verdict {
            RunVerdict::Pass => true,
            RunVerdict::Fail => {
                self.outcome = GateOutcome::Blocked;
                let failing = names(&|v| v == Verdict::Fail);
                if !failing.is_empty() {
                    self.reasons.push(format!("failing: {}", failing.join(", ")));
                }
                for t in thresholds.iter().filter(|t| t.verdict == Verdict::Fail) {
                    let breached: Vec<String> = t
                        .checks
                        .iter()
                        .filter(|c| !c.pass)
                        .map(|c| match c.measured {
                            Some(m) => format!("{} {m:.3} < {}", c.name, c.threshold),
                            None => format!("{} not measured (threshold {})", c.name, c.threshold),
                        })
                        .collect();
                    self.reasons
                        .push(format!("{}::thresholds: {}", t.suite, breached.join(", ")));
                }
                if self.reasons.is_empty() {
                    self.reasons
                        .push("the run failed (another prompt's case in the same suites)".into());
                }
                true
            }
            RunVerdict::Error => {
                let errored = names(&|v| matches!(v, Verdict::Error | Verdict::Skipped));
                self.outcome = GateOutcome::Error;
                self.reasons.push(format!(
                    "no verdict (provider errors{}); nothing is activated",
                    if errored.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", errored.join(", "))
                    }
                ));
                false
            }
        }
    }

    /// Judges the comparison with the `active` version: an incomplete one
    /// (the baseline run errored, or pairs were `lost` to errors) leaves an
    /// otherwise activated candidate without a verdict (a regression could
    /// hide there); a significant regression blocks it.
    pub fn judge_comparison(
        &mut self,
        active: &Version,
        cmp: &Comparison,
        baseline_verdict: RunVerdict,
        lost: &[String],
        alpha: f64,
    ) {
        if baseline_verdict == RunVerdict::Error || !lost.is_empty() {
            let why = format!(
                "comparison with {} incomplete: provider errors in the baseline run{}",
                active.display(),
                if lost.is_empty() {
                    String::new()
                } else {
                    format!(" (pairs lost: {})", lost.join(", "))
                }
            );
            if self.outcome == GateOutcome::Activated {
                self.outcome = GateOutcome::Error;
            }
            self.reasons.push(why);
        }
        let regressions = cmp.regressions(alpha);
        if !regressions.is_empty() {
            self.outcome = GateOutcome::Blocked;
            self.reasons.extend(
                regressions
                    .into_iter()
                    .map(|r| format!("significantly worse than {}: {r}", active.display())),
            );
        }
    }

    /// Blocks a candidate whose token count grew over `active`'s by more
    /// than `limit` (a fraction: 0.10 = 10%) unless the comparison showed a
    /// significant improvement (`improved`).
    pub fn judge_token_growth(&mut self, version: &Version, active: &Version, limit: f64, improved: bool) {
        if active.token_count == 0 {
            return;
        }
        let growth = version.token_count as f64 / active.token_count as f64 - 1.0;
        if growth > limit && !improved {
            self.outcome = GateOutcome::Blocked;
            self.reasons.push(format!(
                "prompt grew {:.0}% ({} -> {} tokens), more than max_token_growth {:.0}%, with no significant improvement",
                100.0 * growth,
                active.token_count,
                version.token_count,
                100.0 * limit
            ));
        }
    }

    /// The run could not be recorded: no verdict.
    pub fn recording_failed(&mut self, e: &RegistryError) {
        self.outcome = GateOutcome::Error;
        self.reasons.push(format!("cannot record the run: {e}"));
    }

    /// The activation itself failed: an unavailable registry is an error
    /// (try again), anything else (a refused move) blocks.
    pub fn activation_failed(&mut self, e: &RegistryError) {
        self.outcome = if e.is_unavailable() {
            GateOutcome::Error
        } else {
            GateOutcome::Blocked
        };
        self.reasons.push(e.to_string());
    }
}

/// Fail closed: when any candidate has no verdict, the ones that would be
/// activated are blocked instead.
pub fn fail_closed(decisions: &mut [GateDecision]) {
    if !decisions.iter().any(|d| d.outcome == GateOutcome::Error) {
        return;
    }
    for d in decisions.iter_mut().filter(|d| d.outcome == GateOutcome::Activated) {
        d.outcome = GateOutcome::Blocked;
        d.reasons
            .push("not activated: provider errors kept another prompt's run from a verdict (fail closed)".into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decision(outcome: GateOutcome) -> GateDecision {
        GateDecision {
            prompt: "p".into(),
            version: 2,
            sha256: "0".repeat(64),
            was: Some(1),
            outcome,
            reasons: Vec::new(),
            run_id: None,
            required: Vec::new(),
        }
    }

    #[test]
    fn outcomes_serialize_as_lowercase_words() {
        let json = serde_json::to_value(decision(GateOutcome::Activated)).unwrap();
        assert_eq!(json["outcome"], "activated");
        assert_eq!(serde_json::to_value(GateOutcome::Blocked).unwrap(), "blocked");
        assert_eq!(GateOutcome::Error.to_string(), "error");
    }

    #[test]
    fn one_error_blocks_every_activation() {
        let mut all = vec![decision(GateOutcome::Activated), decision(GateOutcome::Error)];
        fail_closed(&mut all);
        assert_eq!(all[0].outcome, GateOutcome::Blocked);
        assert!(all[0].reasons[0].contains("fail closed"));
        assert_eq!(GateOutcome::overall(&all), GateOutcome::Error);
        assert_eq!(GateOutcome::overall(&[]), GateOutcome::Activated);
    }

    #[test]
    fn a_run_without_verdict_is_an_error_and_stops_judging() {
        let mut d = decision(GateOutcome::Activated);
        assert!(!d.judge_run(RunVerdict::Error, &[], &[]));
        assert_eq!(d.outcome, GateOutcome::Error);
        assert_eq!(d.reasons, ["no verdict (provider errors); nothing is activated"]);
        let mut d = decision(GateOutcome::Activated);
        assert!(d.judge_run(RunVerdict::Fail, &[], &[]));
        assert_eq!(d.outcome, GateOutcome::Blocked);
    }
}
