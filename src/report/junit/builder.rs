//! [`ReportBuilder`]: cases collected one at a time as compact records,
//! grouped into one `<testsuite>` per suite × prompt × provider, then built
//! into a quick-junit [`Report`] or written in chunks.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Local};
use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

use super::testcase::{test_case_status, threshold_case, xml_text};
use super::REPORT_NAME;
use crate::analysis::thresholds::ThresholdOutcome;
use crate::result::{CaseResult, RunSummary, Verdict};

/// Collects cases one at a time as compact `<testcase>` records, then builds
/// the [`Report`] ([`super::build_report_with`]'s layout).
#[derive(Debug, Default)]
pub struct ReportBuilder {
    /// suite × prompt × hash × provider → index in `groups`.
    group_of: HashMap<(String, String, String, String), u32>,
    groups: Vec<SuiteGroup>,
    cases: Vec<CaseRecord>,
}

/// One `<testsuite>`: a suite × prompt × provider.
#[derive(Debug)]
struct SuiteGroup {
    suite: String,
    suite_file: String,
    prompt: String,
    prompt_hash: String,
    provider: String,
}

/// What is kept of a finished case: its plan index, group, time, test name,
/// output, and its status unless it is a plain pass.
#[derive(Debug)]
struct CaseRecord {
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
        let same = |g: &SuiteGroup| {
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
                self.groups.push(SuiteGroup {
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
        self.cases.push(CaseRecord {
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
    ) -> (Report, Vec<(String, String, Vec<CaseRecord>)>) {
        self.cases.sort_by_key(|c| c.index);
        let mut by_group: Vec<Vec<CaseRecord>> = self.groups.iter().map(|_| Vec::new()).collect();
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

impl CaseRecord {
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
