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

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Local};
use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestRerun, TestSuite, XmlString};

use crate::analysis::thresholds::ThresholdOutcome;
use crate::report::Event;
use crate::report::Reporter;
use crate::result::{CaseResult, RunSummary, Verdict};

/// The `<testsuites name>` of every report.
pub const REPORT_NAME: &str = "promptgate";

/// Longest `message` attribute, in characters (the full text is in the element body).
const MAX_MESSAGE_CHARS: usize = 1000;

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

/// Collects cases one at a time as compact `<testcase>` records, then builds
/// the [`Report`] ([`build_report_with`]'s layout).
#[derive(Debug, Default)]
pub struct ReportBuilder {
    /// suite × prompt × hash × provider → index in `groups`.
    group_of: HashMap<(String, String, String, String), u32>,
    groups: Vec<Group>,
    cases: Vec<Kept>,
}

/// One `<testsuite>`: a suite × prompt × provider.
#[derive(Debug)]
struct Group {
    suite: String,
    suite_file: String,
    prompt: String,
    prompt_hash: String,
    provider: String,
}

/// What is kept of a finished case: its plan index, group, time, test name,
/// output, and its status unless it is a plain pass.
#[derive(Debug)]
struct Kept {
    index: usize,
    group: u32,
    duration_ms: u64,
    test: Box<str>,
    output: Option<Box<str>>,
    status: Option<Box<TestCaseStatus>>,
}

impl ReportBuilder {
    /// Adds one finished case.
    pub fn add(&mut self, case: &CaseResult) {
        let same = |g: &Group| {
            g.suite == case.suite
                && g.prompt == case.prompt
                && g.prompt_hash == case.prompt_hash
                && g.provider == case.provider
        };
        // Cases mostly arrive from the group of the one before: no lookup (and no key) then.
        let last = self
            .cases
            .last()
            .map(|k| k.group)
            .filter(|g| same(&self.groups[*g as usize]));
        let key = || {
            (
                case.suite.clone(),
                case.prompt.clone(),
                case.prompt_hash.clone(),
                case.provider.clone(),
            )
        };
        let group = match last.or_else(|| self.group_of.get(&key()).copied()) {
            Some(g) => g,
            None => {
                let g = self.groups.len() as u32;
                self.groups.push(Group {
                    suite: case.suite.clone(),
                    suite_file: case.suite_file.display().to_string(),
                    prompt: case.prompt.clone(),
                    prompt_hash: case.prompt_hash.clone(),
                    provider: case.provider.clone(),
                });
                self.group_of.insert(key(), g);
                g
            }
        };
        let test = case.name.split_once("::").map_or(case.name.as_str(), |(_, test)| test);
        let status = test_case_status(case);
        let plain_pass = case.verdict == Verdict::Pass && case.repeats.is_none();
        self.cases.push(Kept {
            index: case.index,
            group,
            duration_ms: case.duration_ms,
            test: test.into(),
            output: case.output.as_deref().map(Into::into),
            status: (!plain_pass).then(|| Box::new(status)),
        });
    }

    /// The report: one `<testsuite>` per group in the order of its first
    /// case, cases in plan order, each group's thresholds last.
    pub fn finish(
        self,
        thresholds: &[Arc<ThresholdOutcome>],
        summary: &RunSummary,
        started_at: DateTime<Local>,
    ) -> Report {
        let (mut report, groups) = self.skeleton(thresholds, &[], summary, started_at);
        for (suite, (target, classname, cases)) in report.test_suites.iter_mut().zip(groups) {
            // The skeleton counted these cases already: keep its counts.
            let (tests, failures, errors, skipped) = (suite.tests, suite.failures, suite.errors, suite.skipped);
            let thresholds = std::mem::take(&mut suite.test_cases);
            suite.add_test_cases(cases.into_iter().map(|k| k.into_test_case(&target, &classname)));
            suite.add_test_cases(thresholds);
            (suite.tests, suite.failures, suite.errors, suite.skipped) = (tests, failures, errors, skipped);
        }
        report
    }

    /// Writes the report [`Self::finish`] builds to `out`, building at most
    /// `chunk` `<testcase>`s at a time. quick-junit serialises whole reports
    /// only, and holding one for a run of 100,000 cases costs ~40 MB at its
    /// end; so the `<testsuite>`s (properties, counts, thresholds) are
    /// serialised first, and each chunk of cases is serialised by quick-junit
    /// as a report of its own whose `<testcase>` elements are spliced in after
    /// their suite's `</properties>`. Escaping and layout stay quick-junit's
    /// (the output is byte-identical to [`Self::finish`]'s, which a test checks).
    ///
    /// # Errors
    /// I/O errors of `out`, and quick-junit's serialisation errors.
    pub fn write(
        self,
        thresholds: &[Arc<ThresholdOutcome>],
        extra: &[(String, String, String)],
        summary: &RunSummary,
        started_at: DateTime<Local>,
        out: &mut dyn std::io::Write,
        chunk: usize,
    ) -> std::io::Result<()> {
        let (report, groups) = self.skeleton(thresholds, extra, summary, started_at);
        let xml = report.to_string().map_err(std::io::Error::other)?;
        drop(report);
        const CLOSE: &str = "</properties>";
        let mut rest = xml.as_str();
        for (target, classname, cases) in groups {
            // Every suite has properties (suite_file, prompt, ...): its cases go
            // after the end of the line that closes them.
            let at = rest
                .find(CLOSE)
                .and_then(|i| rest[i..].find('\n').map(|j| i + j + 1))
                .ok_or_else(|| std::io::Error::other("JUnit skeleton without </properties>"))?;
            out.write_all(&rest.as_bytes()[..at])?;
            rest = &rest[at..];
            let mut cases = cases.into_iter().peekable();
            while cases.peek().is_some() {
                let mut suite = TestSuite::new("chunk");
                suite.add_test_cases(
                    cases
                        .by_ref()
                        .take(chunk.max(1))
                        .map(|k| k.into_test_case(&target, &classname)),
                );
                let mut part = Report::new(REPORT_NAME);
                part.add_test_suite(suite);
                let part = part.to_string().map_err(std::io::Error::other)?;
                let start = part
                    .find("<testcase")
                    .map(|i| part[..i].rfind('\n').map_or(0, |n| n + 1));
                let end = part
                    .rfind("</testsuite>")
                    .map(|i| part[..i].rfind('\n').map_or(0, |n| n + 1));
                match (start, end) {
                    (Some(a), Some(b)) if a <= b => out.write_all(&part.as_bytes()[a..b])?,
                    _ => return Err(std::io::Error::other("JUnit chunk without <testcase>")),
                }
            }
        }
        out.write_all(rest.as_bytes())
    }

    /// The report without the cases' `<testcase>`s (but counting them), and
    /// per `<testsuite>` the cases' target, classname and records.
    fn skeleton(
        mut self,
        thresholds: &[Arc<ThresholdOutcome>],
        extra: &[(String, String, String)],
        summary: &RunSummary,
        started_at: DateTime<Local>,
    ) -> (Report, Vec<(String, String, Vec<Kept>)>) {
        self.cases.sort_by_key(|c| c.index);
        let mut by_group: Vec<Vec<Kept>> = self.groups.iter().map(|_| Vec::new()).collect();
        let mut order: Vec<u32> = Vec::new();
        for kept in self.cases {
            let g = kept.group as usize;
            if by_group[g].is_empty() {
                order.push(kept.group);
            }
            by_group[g].push(kept);
        }
        let mut report = Report::new(REPORT_NAME);
        report.set_time(Duration::from_millis(summary.duration_ms));
        let timestamp = started_at.fixed_offset();
        let mut out = Vec::with_capacity(order.len());
        for g in order {
            let group = &self.groups[g as usize];
            let cases = std::mem::take(&mut by_group[g as usize]);
            let target = format!("{}@{} {}", group.prompt, group.prompt_hash, group.provider);
            let name = format!("{} [{target}]", group.suite);
            let mut suite = TestSuite::new(xml_text(&name));
            suite.set_timestamp(timestamp);
            suite.add_properties([
                Property::new("suite_file", xml_text(&group.suite_file)),
                Property::new("prompt", xml_text(&group.prompt)),
                Property::new("prompt_hash", xml_text(&group.prompt_hash)),
                Property::new("provider", xml_text(&group.provider)),
            ]);
            suite.add_properties(
                extra
                    .iter()
                    .filter(|(s, _, _)| name.starts_with(&format!("{s} [")))
                    .map(|(_, k, v)| Property::new(xml_text(k), xml_text(v))),
            );
            let total_ms: u64 = cases.iter().map(|c| c.duration_ms).sum();
            suite.set_time(Duration::from_millis(total_ms));
            for kept in &cases {
                suite.tests += 1;
                match kept.status.as_deref() {
                    Some(TestCaseStatus::NonSuccess { kind, .. }) => match kind {
                        NonSuccessKind::Failure => suite.failures += 1,
                        NonSuccessKind::Error => suite.errors += 1,
                    },
                    Some(TestCaseStatus::Skipped { .. }) => suite.skipped += 1,
                    _ => {}
                }
            }
            for t in thresholds.iter().filter(|t| {
                t.suite == group.suite
                    && t.prompt == group.prompt
                    && t.prompt_hash == group.prompt_hash
                    && t.provider == group.provider
            }) {
                suite.add_test_case(threshold_case(t));
            }
            report.add_test_suite(suite);
            out.push((target, xml_text(&group.suite), cases));
        }
        (report, out)
    }
}

impl Kept {
    fn into_test_case(self, target: &str, classname: &str) -> TestCase {
        let status = self.status.map_or_else(TestCaseStatus::success, |s| *s);
        let mut tc = TestCase::new(xml_text(&format!("{} [{target}]", self.test)), status);
        tc.set_classname(classname);
        tc.set_time(Duration::from_millis(self.duration_ms));
        if let Some(output) = &self.output {
            tc.set_system_out(xml_text(output));
        }
        tc
    }
}

/// `<testcase>`s the reporter builds at a time when writing ([`ReportBuilder::write`]).
const WRITE_CHUNK: usize = 512;

/// The status of one case's `<testcase>`.
fn test_case_status(case: &CaseResult) -> TestCaseStatus {
    let mut status = match case.verdict {
        Verdict::Pass => TestCaseStatus::success(),
        Verdict::Fail => failure_status(case),
        Verdict::Error => error_status(case),
        Verdict::Skipped => {
            let mut status = TestCaseStatus::skipped();
            status.set_message(one_line(case.error.as_deref().unwrap_or("not run")));
            status
        }
    };
    if let Some(repeats) = &case.repeats {
        add_reruns(&mut status, case, repeats);
    }
    status
}

/// `--repeat`: the runs that did not pass, as `<flakyFailure>`/`<flakyError>`
/// in a passing case (it is flaky) and `<rerunFailure>`/`<rerunError>` in a
/// failing one (besides the run its `<failure>` shows). Each has a `type`
/// (`repeat`), as the Jenkins schema requires, the run's reason as message and
/// its output.
fn add_reruns(status: &mut TestCaseStatus, case: &CaseResult, repeats: &crate::result::Repeats) {
    let mut shown_one = case.verdict == Verdict::Pass;
    for (i, run) in repeats.outcomes.iter().enumerate() {
        let kind = match run.verdict {
            Verdict::Fail => NonSuccessKind::Failure,
            Verdict::Error => NonSuccessKind::Error,
            Verdict::Pass | Verdict::Skipped => continue,
        };
        if !shown_one && run.verdict == case.verdict {
            // This is the run the case's own <failure>/<error> reports.
            shown_one = true;
            continue;
        }
        let mut rerun = TestRerun::new(kind);
        rerun.set_type(xml_text("repeat"));
        rerun.set_message(one_line(&format!(
            "run {} of {}: {}",
            i + 1,
            repeats.runs,
            run.reason.as_deref().unwrap_or("did not pass")
        )));
        if let Some(out) = &run.output {
            rerun.set_system_out(xml_text(out));
        }
        status.add_rerun(rerun);
    }
}

/// The `<testcase>` of a suite's thresholds for one prompt × provider.
fn threshold_case(t: &ThresholdOutcome) -> TestCase {
    let mut text = match t.line {
        Some(l) => format!("at {}:{l}\n", t.suite_file.display()),
        None => format!("at {}\n", t.suite_file.display()),
    };
    for c in &t.checks {
        let mark = if c.pass { "ok" } else { "BREACHED" };
        match c.measured {
            Some(m) => text.push_str(&format!(
                "- {}: measured {m:.4}, threshold {}, {} cases: {mark}\n",
                c.name, c.threshold, c.cases
            )),
            None => text.push_str(&format!(
                "- {}: no case has a value, threshold {}: {mark}\n",
                c.name, c.threshold
            )),
        }
    }
    text.push_str(&format!(
        "cases: {} passed, {} failed, {} without a verdict\n",
        t.stats.passed, t.stats.failed, t.stats.errored
    ));
    let status = match t.verdict {
        Verdict::Pass => TestCaseStatus::success(),
        Verdict::Fail => {
            let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
            st.set_message(one_line(&format!(
                "suite threshold breached: {}",
                t.breaches().join("; ")
            )))
            .set_type("threshold")
            .set_description(xml_text(&text));
            st
        }
        _ => {
            let mut st = TestCaseStatus::non_success(NonSuccessKind::Error);
            if let Some(e) = &t.error {
                text.insert_str(0, &format!("{e}\n"));
            }
            st.set_message(one_line(t.error.as_deref().unwrap_or("thresholds could not be judged")))
                .set_type("error")
                .set_description(xml_text(&text));
            st
        }
    };
    let mut tc = TestCase::new(
        xml_text(&format!("thresholds [{}@{} {}]", t.prompt, t.prompt_hash, t.provider)),
        status,
    );
    tc.set_classname(xml_text(&t.suite));
    if t.verdict == Verdict::Pass {
        tc.set_system_out(xml_text(&text));
    }
    tc
}

/// Grader details of an assertion for the failure text: score, claims, and
/// (for a grader error) the raw reply.
fn grader_text(a: &crate::result::AssertionResult) -> String {
    let Some(g) = &a.grader else { return String::new() };
    let mut text = String::new();
    if a.error.is_none() {
        text.push_str(&format!("\n  score: {:.3}", a.score));
    }
    for c in &g.claims {
        let mark = if c.supported { "supported" } else { "UNSUPPORTED" };
        text.push_str(&format!("\n  claim ({mark}): {}", indent(&c.claim)));
        if !c.reason.is_empty() {
            text.push_str(&format!(" — {}", indent(&c.reason)));
        }
    }
    if a.error.is_some() {
        if let Some(raw) = &g.raw_reply {
            text.push_str(&format!("\n  grader reply: {}", indent(raw)));
        }
    }
    text
}

/// `<failure>`: message and type from the first failing assertion, text listing
/// all of them with the test's location and the score vs the threshold.
fn failure_status(case: &CaseResult) -> TestCaseStatus {
    // Evaluated failures first; assertions that could not be evaluated (a
    // grader error) are listed apart: they are not failures of the prompt.
    let failed: Vec<_> = case
        .assertions
        .iter()
        .filter(|a| !a.pass && a.error.is_none())
        .collect();
    let unevaluated: Vec<_> = case.assertions.iter().filter(|a| a.error.is_some()).collect();
    let below_threshold = case.threshold.map(|t| case.score < t).unwrap_or(false);
    let (message, ty) = match failed.first() {
        Some(first) => {
            let mut message = format!("{}: {}", first.kind, first.reason);
            if failed.len() > 1 {
                message.push_str(&format!(" (and {} more)", failed.len() - 1));
            }
            (message, first.kind.clone())
        }
        None => match case.threshold {
            Some(threshold) => (
                format!("score {:.3} below threshold {threshold:.3}", case.score),
                "threshold".to_string(),
            ),
            None => ("failed".to_string(), "failure".to_string()),
        },
    };

    let mut text = format!("at {}\n", case.location());
    if let Some(description) = &case.description {
        text.push_str(&format!("test: {description}\n"));
    }
    if !failed.is_empty() {
        text.push_str(&format!(
            "{} of {} assertions failed:\n",
            failed.len(),
            case.assertions.len()
        ));
    }
    for a in &failed {
        text.push_str(&format!("- {}", a.kind));
        if let Some(loc) = a.location() {
            text.push_str(&format!(" ({loc})"));
        }
        if let Some(expected) = &a.expected {
            text.push_str(&format!("\n  expected: {}", indent(expected)));
        }
        text.push_str(&format!("\n  reason: {}", indent(&a.reason)));
        if let Some(error) = &a.error {
            text.push_str(&format!("\n  error: {}", indent(error)));
        }
        text.push_str(&grader_text(a));
        text.push('\n');
    }
    if !unevaluated.is_empty() {
        let n = unevaluated.len();
        let s = if n == 1 { "" } else { "s" };
        text.push_str(&format!(
            "{n} assertion{s} could not be evaluated (not counted as failures):\n"
        ));
        for a in &unevaluated {
            text.push_str(&format!("- {}", a.kind));
            if let Some(loc) = a.location() {
                text.push_str(&format!(" ({loc})"));
            }
            text.push_str(&format!(
                "\n  error: {}{}\n",
                indent(a.error.as_deref().unwrap_or_default()),
                grader_text(a)
            ));
        }
    }
    if let Some(threshold) = case.threshold {
        let relation = if below_threshold { "<" } else { ">=" };
        text.push_str(&format!(
            "score {:.3} {relation} threshold {threshold:.3}\n",
            case.score
        ));
    }

    let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
    status
        .set_message(one_line(&message))
        .set_type(xml_text(&ty))
        .set_description(xml_text(&text));
    status
}

/// `<error>`: the case's error, or the erroring assertion's.
fn error_status(case: &CaseResult) -> TestCaseStatus {
    let erroring: Vec<_> = case.assertions.iter().filter(|a| a.error.is_some()).collect();
    let message = match (&case.error, erroring.first()) {
        (Some(error), _) => error.clone(),
        (None, Some(a)) => format!("{}: {}", a.kind, a.error.as_deref().unwrap_or_default()),
        (None, None) => "no verdict".to_string(),
    };
    let mut text = format!("at {}\n", case.location());
    if let Some(error) = &case.error {
        text.push_str(error);
        text.push('\n');
    }
    for a in &erroring {
        text.push_str(&format!(
            "- {}: {}{}\n",
            a.kind,
            indent(a.error.as_deref().unwrap_or_default()),
            grader_text(a)
        ));
    }
    let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
    status
        .set_message(one_line(&message))
        .set_type("error")
        .set_description(xml_text(&text));
    status
}

/// Indents continuation lines of a multi-line value under a list item.
fn indent(s: &str) -> String {
    s.trim_end().replace('\n', "\n    ")
}

/// Prepares text for quick-junit's `XmlString`, which strips ANSI escapes and
/// every control character but LF (tabs and CRs included): drops U+FFFE and
/// U+FFFF (not XML characters, and `XmlString` keeps them), expands tabs to four
/// spaces and turns CR LF and lone CRs into LF, so indentation and line breaks of
/// outputs survive.
fn xml_text(s: &str) -> String {
    if !s.contains(['\u{FFFE}', '\u{FFFF}', '\t', '\r']) {
        return s.to_string();
    }
    s.replace(['\u{FFFE}', '\u{FFFF}'], "")
        .replace('\t', "    ")
        .replace("\r\n", "\n")
        .replace('\r', "\n")
}

/// One line (attribute values lose their newlines anyway), at most
/// [`MAX_MESSAGE_CHARS`] characters. Sanitised first, so that a stripped ANSI
/// escape or control character leaves no stray whitespace behind.
fn one_line(s: &str) -> String {
    let clean = XmlString::new(xml_text(s));
    let joined = clean.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out: String = joined.chars().take(MAX_MESSAGE_CHARS).collect();
    if joined.chars().count() > MAX_MESSAGE_CHARS {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::result::AssertionResult;

    fn case(index: usize, suite: &str, provider: &str, verdict: Verdict) -> Arc<CaseResult> {
        Arc::new(CaseResult {
            index,
            name: format!("{suite}::t{index}"),
            suite: suite.into(),
            suite_file: format!("suites/{suite}.yaml").into(),
            line: Some(3 + index),
            test_file: format!("suites/{suite}.yaml").into(),
            description: None,
            prompt: "p".into(),
            prompt_hash: "0123456789ab".into(),
            provider: provider.into(),
            category: None,
            vars: Default::default(),
            verdict,
            score: 0.0,
            threshold: None,
            metrics: Default::default(),
            assertions: vec![AssertionResult {
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
            }],
            output: Some("out\u{FFFE}".into()),
            error: None,
            latency_ms: None,
            tokens: Default::default(),
            finish_reason: None,
            cost_usd: None,
            replayed: false,
            cached: false,
            attempts: 0,
            min_pass_rate: None,
            repeats: None,
            duration_ms: 1500,
        })
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

    #[test]
    fn one_line_caps_and_flattens() {
        assert_eq!(one_line("a\nb\r\n  c"), "a b c");
        let long = "x".repeat(MAX_MESSAGE_CHARS + 10);
        assert_eq!(one_line(&long).chars().count(), MAX_MESSAGE_CHARS + 1);
    }
}
