//! `--repeat N`: the runs of one case combined into one result.

use serde::{Deserialize, Serialize};

use super::{is_zero, CaseResult, GraderCall, Verdict};

/// The runs of a case under `--repeat N`, and the verdict rule applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Repeats {
    /// Runs made (N).
    pub runs: u32,
    /// Runs that passed (k).
    pub passed: u32,
    /// Runs that failed.
    pub failed: u32,
    /// Runs without a verdict (errors).
    pub errored: u32,
    /// Runs not made (skipped).
    pub skipped: u32,
    /// The share of runs that had to pass, in [0, 1].
    pub min_pass_rate: f64,
    /// Wilson 95% score interval of the pass rate over the runs that reached
    /// a verdict (passed + failed) ([`crate::stats::wilson`]).
    pub interval: (f64, f64),
    /// True when some runs passed and others failed.
    pub flaky: bool,
    /// Every run in order: its verdict and, when it did not pass, why.
    pub outcomes: Vec<RepeatRun>,
}

/// One run of a repeated case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RepeatRun {
    /// The run's verdict.
    pub verdict: Verdict,
    /// The failed assertions or the error, when it did not pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The output of that run, when it did not pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// True when the run's own call got an answer (sent, cached or replayed).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub answered: bool,
    /// True when that answer came from promptgate's response cache.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cached: bool,
    /// HTTP requests the run's own call took (0: none sent).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub attempts: u32,
    /// Cost of the run's own call in USD, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
    /// The run's grader calls (of every model-graded assertion), for the
    /// run's cost and cache figures: the case's `assertions` show only one run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grader_calls: Vec<GraderCall>,
}

impl Repeats {
    /// `3/5 passed (95% CI 23–88%)`, plus `, flaky` when flaky.
    pub fn describe(&self) -> String {
        let (lo, hi) = self.interval;
        format!(
            "{}/{} passed, min pass rate {}% (95% CI {:.0}–{:.0}%){}",
            self.passed,
            self.passed + self.failed,
            fmt_pct(self.min_pass_rate),
            lo * 100.0,
            hi * 100.0,
            if self.flaky { ", flaky" } else { "" }
        )
    }
}

fn fmt_pct(rate: f64) -> String {
    let pct = rate * 100.0;
    if (pct - pct.round()).abs() < 1e-9 {
        format!("{}", pct.round() as i64)
    } else {
        format!("{pct:.1}")
    }
}

/// Combines the runs of one case (`--repeat N`, in any order) into one
/// result. With `rate` the share of runs that must pass and N runs: the case
/// passes when at least ⌈rate·N⌉ runs passed, fails when even counting every
/// run without a verdict as a pass it could not get there, and otherwise has
/// no verdict (an ERROR, or skipped when no run errored). The result shown is
/// the first failing run (else the first errored, else the first passing
/// one); `attempts`, `duration_ms` and `cost_usd` are summed over the runs.
pub fn combine_repeats(mut runs: Vec<CaseResult>, rate: f64) -> CaseResult {
    let count = |v: Verdict| runs.iter().filter(|r| r.verdict == v).count() as u32;
    let (passed, failed, errored, skipped) = (
        count(Verdict::Pass),
        count(Verdict::Fail),
        count(Verdict::Error),
        count(Verdict::Skipped),
    );
    let n = runs.len() as u32;
    let needed = ((rate * f64::from(n)) - 1e-9).ceil().max(0.0) as u32;
    let verdict = if passed >= needed && passed + failed > 0 {
        Verdict::Pass
    } else if passed + errored + skipped < needed {
        Verdict::Fail
    } else if errored > 0 {
        Verdict::Error
    } else {
        Verdict::Skipped
    };
    let interval = crate::stats::wilson(u64::from(passed), u64::from(passed + failed));
    let outcomes = runs
        .iter()
        .map(|r| RepeatRun {
            verdict: r.verdict,
            reason: (r.verdict != Verdict::Pass).then(|| r.reason()),
            output: if r.verdict == Verdict::Pass {
                None
            } else {
                r.output.clone()
            },
            answered: r.output.is_some(),
            cached: r.cached,
            attempts: r.attempts,
            cost_usd: r.cost_usd,
            grader_calls: r.grader_calls().cloned().collect(),
        })
        .collect();
    let attempts = runs.iter().map(|r| r.attempts).sum();
    let duration_ms = runs.iter().map(|r| r.duration_ms).sum();
    let cost: Option<f64> = runs.iter().map(|r| r.cost_usd).sum();
    let cached = runs.iter().all(|r| r.cached);
    let pick = [Verdict::Fail, Verdict::Error, Verdict::Pass, Verdict::Skipped]
        .iter()
        .find_map(|v| runs.iter().position(|r| r.verdict == *v))
        .unwrap_or(0);
    let mut out = runs.swap_remove(pick);
    out.verdict = verdict;
    if verdict == Verdict::Pass {
        out.error = None;
    } else if verdict == Verdict::Error && out.error.is_none() {
        out.error = runs.iter().find_map(|r| r.error.clone());
    }
    out.attempts = attempts;
    out.duration_ms = duration_ms;
    out.cost_usd = cost;
    out.cached = cached;
    out.repeats = Some(Repeats {
        runs: n,
        passed,
        failed,
        errored,
        skipped,
        min_pass_rate: rate,
        interval: (interval.low, interval.high),
        flaky: passed > 0 && failed > 0,
        outcomes,
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(verdict: Verdict) -> CaseResult {
        let mut r = CaseResult::new(0, "s::t")
            .with_suite("s", "s.yaml")
            .with_test_file("s.yaml", None)
            .with_prompt("p", "abc")
            .with_provider("echo")
            .with_verdict(verdict)
            .with_output(format!("{verdict:?}"));
        if verdict == Verdict::Error {
            r = r.with_error("HTTP 500");
        }
        r.cost_usd = Some(0.5);
        r.attempts = 1;
        r.duration_ms = 10;
        r
    }

    fn combined(verdicts: &[Verdict], rate: f64) -> CaseResult {
        combine_repeats(verdicts.iter().map(|v| run(*v)).collect(), rate)
    }

    #[test]
    fn repeats_pass_at_the_min_pass_rate_with_a_wilson_interval() {
        use Verdict::*;
        let c = combined(&[Pass, Pass, Fail, Pass, Fail], 1.0);
        assert_eq!(c.verdict, Fail);
        let r = c.repeats.as_ref().unwrap();
        assert_eq!((r.runs, r.passed, r.failed, r.flaky), (5, 3, 2, true));
        assert!((r.interval.0 - 0.2307).abs() < 1e-3 && (r.interval.1 - 0.8824).abs() < 1e-3);
        assert_eq!(c.output.as_deref(), Some("Fail"), "a failing run is shown");
        assert_eq!((c.attempts, c.duration_ms, c.cost_usd), (5, 50, Some(2.5)));
        assert_eq!(combined(&[Pass, Pass, Fail, Pass, Fail], 0.6).verdict, Pass);
        assert_eq!(combined(&[Pass, Pass, Fail, Pass, Fail], 0.61).verdict, Fail);
        assert!(combined(&[Pass; 4], 1.0).repeats.unwrap().interval.1 > 0.99);
        assert!(!combined(&[Pass; 4], 1.0).is_flaky());
    }

    #[test]
    fn runs_without_a_verdict_decide_only_when_they_matter() {
        use Verdict::*;
        // 4 of 5 passed: the error cannot change a 0.8 requirement.
        assert_eq!(combined(&[Pass, Pass, Pass, Pass, Error], 0.8).verdict, Pass);
        // It could have passed with the errored run: no verdict.
        let c = combined(&[Pass, Pass, Pass, Fail, Error], 0.8);
        assert_eq!(c.verdict, Error);
        assert_eq!(c.error.as_deref(), Some("HTTP 500"));
        // Even counting the error as a pass it fails.
        assert_eq!(combined(&[Pass, Fail, Fail, Fail, Error], 0.8).verdict, Fail);
        assert_eq!(combined(&[Error, Error], 1.0).verdict, Error);
        assert_eq!(combined(&[Skipped, Skipped], 1.0).verdict, Skipped);
    }
}
