//! The `<testcase>` of one case or of a suite's thresholds: its status
//! (`<failure>`, `<error>`, `<skipped>`, reruns under `--repeat`) with the
//! failure text, and the sanitising every text goes through.

use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestRerun, XmlString};

use crate::analysis::thresholds::ThresholdOutcome;
use crate::result::{CaseResult, Verdict};

/// Longest `message` attribute, in characters (the full text is in the element body).
const MAX_MESSAGE_CHARS: usize = 1000;
/// The status of one case's `<testcase>`.
pub(super) fn test_case_status(case: &CaseResult) -> TestCaseStatus {
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
pub(super) fn threshold_case(t: &ThresholdOutcome) -> TestCase {
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
pub(super) fn xml_text(s: &str) -> String {
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

    #[test]
    fn one_line_caps_and_flattens() {
        assert_eq!(one_line("a\nb\r\n  c"), "a b c");
        let long = "x".repeat(MAX_MESSAGE_CHARS + 10);
        assert_eq!(one_line(&long).chars().count(), MAX_MESSAGE_CHARS + 1);
    }
}
