//! JUnit XML report, for CI dashboards (Jenkins, GitLab, dorny/test-reporter,
//! mikepenz/action-junit-report).
//!
//! Layout:
//!
//! ```text
//! <testsuites name="promptgate" tests=.. failures=.. errors=.. time=..>
//!   <testsuite name="{suite} [{prompt}@{hash} {provider}]" ...>   one per combination
//!     <properties> suite_file, prompt, prompt_hash, provider </properties>
//!     <testcase name="{test} [{prompt}@{hash} {provider}]" classname="{suite}" time="s">
//!       <failure message=".." type="{assertion type}">every failing assertion, file:line</failure>
//!       | <error message=".." type="error">..</error> | <skipped message=".."/>
//!       <system-out>the provider's output</system-out>
//!     </testcase>
//! ```
//!
//! Test cases are named with their target so that names are unique (GitLab keeps
//! only the first of duplicate names). The schema the dashboards follow
//! (jenkinsci/xunit-plugin `junit-10.xsd`) allows no `file`/`line` attributes on
//! `<testcase>`, so the test's `file:line` goes into the failure text instead.
//!
//! Any text can come out of a model: quick-junit's `XmlString` strips ANSI
//! escapes and the control characters XML 1.0 forbids (and also tabs and CRs),
//! and quick-xml escapes `&<>"'`; this module additionally drops U+FFFE and
//! U+FFFF (not XML characters either) and turns tabs into spaces and CRs into
//! LFs before that, so the report is well-formed whatever the outputs hold and
//! keeps their layout. Outputs go into escaped text, not CDATA, so `]]>` is
//! harmless.

mod builder;
mod testcase;

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Local};
use quick_junit::Report;

use crate::analysis::thresholds::ThresholdOutcome;
use crate::report::Event;
use crate::report::Reporter;
use crate::result::{CaseResult, RunSummary};

pub use builder::ReportBuilder;

/// The `<testsuites name>` of every report.
pub const REPORT_NAME: &str = "promptgate";

/// Writes a JUnit XML file when the run finishes.
///
/// Keeps a compact record of each finished case (its `<testcase>` parts, not
/// the whole result: a run of 100,000 cases would otherwise hold every
/// result's vars, assertions and grader calls until the end), then writes the
/// file atomically.
#[derive(Debug)]
pub struct JunitReporter {
    path: PathBuf,
    started_at: Option<DateTime<Local>>,
    builder: ReportBuilder,
    thresholds: Vec<Arc<ThresholdOutcome>>,
    extra: Option<ExtraProperties>,
}

/// Properties added to the `<testsuite>`s of one suite when the run finishes:
/// (suite name, property name, value). Filled by another reporter placed
/// before this one (the baseline comparison, [`crate::analysis::compare`]).
pub type ExtraProperties = Arc<std::sync::Mutex<Vec<(String, String, String)>>>;

impl JunitReporter {
    /// A reporter that writes to `path` (created, with its parent directory, on `RunFinished`).
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            started_at: None,
            builder: ReportBuilder::default(),
            thresholds: Vec::new(),
            extra: None,
        }
    }

    /// Also writes the properties in `extra` (read when the run finishes).
    pub fn with_extra_properties(mut self, extra: ExtraProperties) -> Self {
        self.extra = Some(extra);
        self
    }
}

impl Reporter for JunitReporter {
    fn on_event(&mut self, event: &Event) -> std::io::Result<()> {
        match event {
            Event::RunStarted(info) => {
                self.started_at = Some(info.started_at);
                self.builder = ReportBuilder::default();
            }
            Event::CaseFinished(case) => self.builder.add(case),
            Event::ThresholdsChecked(t) => self.thresholds.push(Arc::clone(t)),
            Event::RunFinished(summary) => {
                let started_at = self.started_at.unwrap_or_else(Local::now);
                let builder = std::mem::take(&mut self.builder);
                let extra = self
                    .extra
                    .as_ref()
                    .and_then(|e| e.lock().ok().map(|e| e.clone()))
                    .unwrap_or_default();
                let path = self.path.clone();
                crate::util::fs::write_atomically_with(&self.path, |out| {
                    builder
                        .write(&self.thresholds, &extra, summary, started_at, out, WRITE_CHUNK)
                        .map_err(|e| {
                            std::io::Error::new(e.kind(), format!("cannot write JUnit report {}: {e}", path.display()))
                        })
                })?;
            }
            Event::Warning(_) | Event::Interrupted | Event::Aborted { .. } => {}
        }
        Ok(())
    }
}

/// Renders the JUnit XML of a run (see the module docs for the layout).
///
/// `cases` may be in any order; suites and cases are ordered by the cases' plan
/// `index`.
///
/// # Errors
/// Only quick-junit serialisation errors (writing into a `String` does not fail
/// in practice).
pub fn render(
    cases: &[Arc<CaseResult>],
    summary: &RunSummary,
    started_at: DateTime<Local>,
) -> Result<String, quick_junit::SerializeError> {
    build_report(cases, summary, started_at).to_string()
}

/// Builds the quick-junit [`Report`] that [`render`] serialises.
///
/// The `<testsuites>` element carries name, counts and time only: the schema
/// allows no timestamp there, so the run's start time goes on each `<testsuite>`.
pub fn build_report(cases: &[Arc<CaseResult>], summary: &RunSummary, started_at: DateTime<Local>) -> Report {
    build_report_with(cases, &[], summary, started_at)
}

/// [`build_report`], plus one `<testcase name="{suite}::thresholds [target]">`
/// per checked suite-level threshold, in its suite × prompt × provider
/// `<testsuite>`: a failure when breached (the text lists every bound with the
/// measured value, the threshold and the number of cases), an error when
/// undecided.
pub fn build_report_with(
    cases: &[Arc<CaseResult>],
    thresholds: &[Arc<ThresholdOutcome>],
    summary: &RunSummary,
    started_at: DateTime<Local>,
) -> Report {
    let mut builder = ReportBuilder::default();
    for case in cases {
        builder.add(case);
    }
    builder.finish(thresholds, summary, started_at)
}
/// `<testcase>`s the reporter builds at a time when writing ([`ReportBuilder::write`]).
const WRITE_CHUNK: usize = 512;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::result::{AssertionResult, Verdict};

    fn case(index: usize, suite: &str, provider: &str, verdict: Verdict) -> Arc<CaseResult> {
        let assertion = AssertionResult {
            kind: "equals".into(),
            expected: Some("x".into()),
            pass: verdict != Verdict::Fail,
            score: 0.0,
            weight: 1.0,
            metric: None,
            reason: "nope\u{FFFF}".into(),
            error: None,
            line: None,
            file: None,
            grader: None,
        };
        let mut c = CaseResult::new(index, format!("{suite}::t{index}"))
            .with_suite(suite, format!("suites/{suite}.yaml"))
            .with_test_file(format!("suites/{suite}.yaml"), Some(3 + index))
            .with_prompt("p", "0123456789ab")
            .with_provider(provider)
            .with_verdict(verdict)
            .with_assertions(vec![assertion], 0.0)
            .with_output("out\u{FFFE}");
        c.duration_ms = 1500;
        Arc::new(c)
    }

    #[test]
    fn suites_are_grouped_and_ordered_by_smallest_index() {
        let cases = vec![
            case(3, "b", "echo", Verdict::Pass),
            case(1, "a", "x", Verdict::Fail),
            case(0, "a", "echo", Verdict::Pass),
            case(2, "a", "echo", Verdict::Skipped),
        ];
        let report = build_report(&cases, &RunSummary::default(), Local::now());
        let names: Vec<_> = report.test_suites.iter().map(|s| s.name.to_string()).collect();
        assert_eq!(
            names,
            [
                "a [p@0123456789ab echo]",
                "a [p@0123456789ab x]",
                "b [p@0123456789ab echo]"
            ]
        );
        let first: Vec<_> = report.test_suites[0]
            .test_cases
            .iter()
            .map(|c| c.name.to_string())
            .collect();
        assert_eq!(first, ["t0 [p@0123456789ab echo]", "t2 [p@0123456789ab echo]"]);
        assert_eq!(report.tests, 4);
        assert_eq!(report.failures, 1);
        assert_eq!(report.skipped, 1);
    }

    #[test]
    fn non_characters_are_dropped() {
        let cases = vec![case(0, "a", "x", Verdict::Fail)];
        let xml = render(&cases, &RunSummary::default(), Local::now()).unwrap();
        assert!(!xml.contains(['\u{FFFE}', '\u{FFFF}']));
        assert!(xml.contains("suites/a.yaml:3"));
    }
}
