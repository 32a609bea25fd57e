//! The libtest-style console report:
//!
//! ```text
//! running 12 test cases from 3 suites
//! test rag_grounding::uses_context [rag_system@1a2b3c4d5e6f openai:chat:gpt-4o-mini] ... ok
//! ...
//! failures:
//!
//! ---- rag_grounding::refuses_outside_context [rag_system@... openai:chat:gpt-4o-mini] ----
//! ...
//! test result: FAILED. 41 passed; 2 failed; 1 errored; 0 skipped; finished in 3.21s
//! ```
//!
//! followed by the pass rate per suite and per category. A progress bar is
//! drawn on stderr only when it is a terminal and `CI` is not set; lines are
//! printed through it so they never tear.
//!
//! Provider outputs, assertion reasons, expected values, errors and
//! descriptions are untrusted text: every terminal control character in them
//! except newline and tab is shown escaped ([`sanitize_for_terminal`]), so a
//! model's answer cannot move the cursor, recolour or rewrite the terminal.
//! Inside GitHub Actions the failures section, which quotes that text, can be
//! wrapped in `::stop-commands::TOKEN` … `::TOKEN::`
//! ([`ConsoleReporter::with_stop_commands`]), so an output line such as
//! `::add-mask::x` or `::error::…` is printed, not run as a workflow command.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write;
use std::sync::Arc;

use console::style;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

mod render;

use render::{check_line, rate_table, run_notes, threshold_name};
pub use render::{failure_block, sanitize_for_terminal, threshold_block};

use super::Reporter;
use crate::analysis::thresholds::ThresholdOutcome;
use crate::report::Event;
use crate::result::{CaseResult, RunSummary, Verdict};

/// Longest output shown in a failure, in characters.
const MAX_OUTPUT_CHARS: usize = 2000;

/// Console reporter. Keeps only the failing cases (for the failure list) and counters.
pub struct ConsoleReporter {
    out: Box<dyn Write + Send>,
    progress: Option<ProgressBar>,
    failures: Vec<Arc<CaseResult>>,
    thresholds: Vec<Arc<ThresholdOutcome>>,
    by_suite: BTreeMap<String, Tally>,
    by_category: BTreeMap<String, Tally>,
    closed: bool,
    /// Token of the `::stop-commands::` wrapper around the failures section.
    stop_commands: Option<String>,
}

#[derive(Default, Clone, Copy)]
struct Tally {
    passed: usize,
    total: usize,
}

impl ConsoleReporter {
    /// A reporter writing to `out`; `progress` draws a bar on stderr.
    pub fn new(out: Box<dyn Write + Send>, progress: bool) -> Self {
        let progress = progress.then(|| {
            let pb = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            if let Ok(style) =
                ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} cases {msg}")
            {
                pb.set_style(style);
            }
            pb
        });
        ConsoleReporter {
            out,
            progress,
            failures: Vec::new(),
            thresholds: Vec::new(),
            by_suite: BTreeMap::new(),
            by_category: BTreeMap::new(),
            closed: false,
            stop_commands: None,
        }
    }

    /// Wraps the failures section (the only part that quotes provider
    /// outputs, reasons and errors) in GitHub Actions'
    /// `::stop-commands::TOKEN` … `::TOKEN::` lines, so that no line of it is
    /// run as a workflow command. `token` must be unguessable by whatever
    /// produced the text (use [`ConsoleReporter::stop_commands_token`]) and
    /// made of letters and digits only.
    #[must_use]
    pub fn with_stop_commands(mut self, token: String) -> Self {
        debug_assert!(
            !token.is_empty() && token.chars().all(|c| c.is_ascii_alphanumeric()),
            "a stop-commands token is letters and digits"
        );
        self.stop_commands = Some(token);
        self
    }

    /// A fresh token for [`ConsoleReporter::with_stop_commands`]: 64 hex
    /// digits of the SHA-256 of the process id, the current time in
    /// nanoseconds, the address of a stack variable and a value of the
    /// standard library's randomly keyed hasher. Nothing a provider returns
    /// can predict it.
    pub fn stop_commands_token() -> String {
        use sha2::{Digest, Sha256};
        use std::hash::{BuildHasher, Hasher};

        let marker = 0u8;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let keyed = std::collections::hash_map::RandomState::new().build_hasher().finish();
        let mut hasher = Sha256::new();
        hasher.update(std::process::id().to_le_bytes());
        hasher.update(nanos.to_le_bytes());
        hasher.update((std::ptr::addr_of!(marker) as usize).to_le_bytes());
        hasher.update(keyed.to_le_bytes());
        hex::encode(hasher.finalize())
    }

    /// True when a progress bar should be drawn: stderr is a terminal and
    /// this is not CI.
    pub fn want_progress() -> bool {
        console::Term::stderr().is_term() && !is_ci::cached()
    }

    fn print(&mut self, text: &str) -> std::io::Result<()> {
        if self.closed {
            return Ok(());
        }
        let out = &mut self.out;
        let result = match &self.progress {
            Some(pb) => pb.suspend(|| writeln!(out, "{text}")),
            None => writeln!(out, "{text}"),
        };
        self.check(result)
    }

    /// A closed pipe (`promptgate test | head`) is not an error: stop writing.
    fn check(&mut self, result: std::io::Result<()>) -> std::io::Result<()> {
        match result {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(())
            }
            other => other,
        }
    }

    fn finish(&mut self, summary: &RunSummary) -> std::io::Result<()> {
        if let Some(pb) = self.progress.take() {
            pb.finish_and_clear();
        }
        let mut text = String::new();
        let failed_thresholds: Vec<&Arc<ThresholdOutcome>> =
            self.thresholds.iter().filter(|t| t.verdict != Verdict::Pass).collect();
        if !self.failures.is_empty() || !failed_thresholds.is_empty() {
            self.failures.sort_by_key(|c| c.index);
            if let Some(token) = &self.stop_commands {
                let _ = write!(text, "\n::stop-commands::{token}\n");
            }
            text.push_str("\nfailures:\n");
            for case in &self.failures {
                text.push('\n');
                text.push_str(&failure_block(case));
            }
            for t in &failed_thresholds {
                text.push('\n');
                text.push_str(&threshold_block(t));
            }
            text.push_str("\nfailures:\n");
            for case in &self.failures {
                let _ = writeln!(text, "    {}", sanitize_for_terminal(&case.full_name()));
            }
            for t in &failed_thresholds {
                let _ = writeln!(text, "    {}", sanitize_for_terminal(&threshold_name(t)));
            }
            if let Some(token) = &self.stop_commands {
                let _ = writeln!(text, "::{token}::");
            }
        }
        let ok = summary.verdict() == crate::result::RunVerdict::Pass;
        let word = if ok {
            style("ok").green().to_string()
        } else {
            style("FAILED").red().to_string()
        };
        let unevaluated = match summary.assertions_errored {
            0 => String::new(),
            1 => " (1 assertion in them could not be evaluated)".to_string(),
            n => format!(" ({n} assertions in them could not be evaluated)"),
        };
        let thresholds = if self.thresholds.is_empty() {
            String::new()
        } else {
            format!(
                "; thresholds: {} met, {} breached, {} undecided",
                summary.thresholds_passed, summary.thresholds_failed, summary.thresholds_errored
            )
        };
        text.push_str(&format!(
            "\ntest result: {word}. {} passed; {} failed{unevaluated}; {} errored; {} skipped{thresholds}; finished in {:.2}s\n",
            summary.passed,
            summary.failed,
            summary.errored,
            summary.skipped,
            summary.duration_ms as f64 / 1000.0
        ));
        text.push_str(&run_notes(summary));
        if !self.by_suite.is_empty() {
            text.push_str(&rate_table("pass rate by suite", &self.by_suite));
        }
        if !self.by_category.is_empty() {
            text.push_str(&rate_table("pass rate by category", &self.by_category));
        }
        if !summary.metrics.is_empty() {
            let width = summary.metrics.keys().map(|k| k.chars().count()).max().unwrap_or(0);
            text.push_str("\nmetrics (over the cases that have them):\n");
            for (name, m) in &summary.metrics {
                let name = sanitize_for_terminal(name);
                text.push_str(&format!(
                    "    {name:<width$}  mean {:.3}  min {:.3}  max {:.3}  n={}\n",
                    m.mean, m.min, m.max, m.count
                ));
            }
        }
        if !self.thresholds.is_empty() {
            text.push_str("\nsuite thresholds:\n");
            for t in &self.thresholds {
                let word = match t.verdict {
                    Verdict::Pass => style("met").green().to_string(),
                    Verdict::Fail => style("BREACHED").red().to_string(),
                    _ => style("UNDECIDED").red().to_string(),
                };
                let _ = writeln!(text, "    {} ... {word}", sanitize_for_terminal(&threshold_name(t)));
                for c in &t.checks {
                    let _ = writeln!(text, "        {}", check_line(c));
                }
            }
        }
        if self.closed {
            return Ok(());
        }
        let result = write!(self.out, "{text}").and_then(|()| self.out.flush());
        self.check(result)
    }
}

impl Reporter for ConsoleReporter {
    fn on_event(&mut self, event: &Event) -> std::io::Result<()> {
        match event {
            Event::RunStarted(info) => {
                if let Some(pb) = &self.progress {
                    pb.set_length(info.total_cases as u64);
                }
                let cases = if info.total_cases == 1 { "case" } else { "cases" };
                let suites = if info.suites == 1 { "suite" } else { "suites" };
                self.print(&format!(
                    "\nrunning {} test {cases} from {} {suites}",
                    info.total_cases, info.suites
                ))
            }
            Event::CaseFinished(case) => {
                let word = match case.verdict {
                    Verdict::Pass => style(case.verdict.word()).green(),
                    Verdict::Fail | Verdict::Error => style(case.verdict.word()).red(),
                    Verdict::Skipped => style(case.verdict.word()).yellow(),
                };
                let mut line = format!("test {} ... {word}", sanitize_for_terminal(&case.full_name()));
                if let Some(repeats) = &case.repeats {
                    let flaky = if repeats.flaky {
                        format!(" {}", style("flaky").yellow())
                    } else {
                        String::new()
                    };
                    let (lo, hi) = repeats.interval;
                    line.push_str(&format!(
                        " ({}/{} passed, 95% CI {:.0}–{:.0}%){flaky}",
                        repeats.passed,
                        repeats.passed + repeats.failed,
                        lo * 100.0,
                        hi * 100.0
                    ));
                }
                self.print(&line)?;
                if let Some(pb) = &self.progress {
                    pb.inc(1);
                }
                for (map, key) in [
                    (&mut self.by_suite, Some(case.suite.clone())),
                    (&mut self.by_category, case.category.clone()),
                ] {
                    // Skipped cases were not run: they are not in the pass rate.
                    if let Some(k) = key.filter(|_| case.verdict != Verdict::Skipped) {
                        let t = map.entry(k).or_default();
                        t.total += 1;
                        if case.verdict == Verdict::Pass {
                            t.passed += 1;
                        }
                    }
                }
                if matches!(case.verdict, Verdict::Fail | Verdict::Error) {
                    self.failures.push(case.clone());
                }
                Ok(())
            }
            Event::ThresholdsChecked(t) => {
                let word = match t.verdict {
                    Verdict::Pass => style("ok").green(),
                    Verdict::Fail => style("FAILED").red(),
                    _ => style("ERROR").red(),
                };
                let line = format!("test {} ... {word}", sanitize_for_terminal(&threshold_name(t)));
                self.thresholds.push(t.clone());
                self.print(&line)
            }
            Event::RunFinished(summary) => self.finish(summary),
            Event::Warning(_) | Event::Interrupted | Event::Aborted { .. } => {
                let progress = &self.progress;
                print_notice(event, |text| match progress {
                    Some(pb) => pb.suspend(|| eprintln!("{text}")),
                    None => eprintln!("{text}"),
                });
                Ok(())
            }
        }
    }
}

/// The stderr lines of a notice event (warning, Ctrl-C), passed to `print`
/// one by one; nothing for other events.
fn print_notice(event: &Event, mut print: impl FnMut(&str)) {
    match event {
        Event::Warning(message) => print(&format!("warning: {message}")),
        Event::Interrupted => print("\ninterrupted: finishing the cases in flight (Ctrl-C again to exit now)"),
        Event::Aborted { errors } => {
            for e in errors {
                print(&format!("error: {e}"));
            }
        }
        _ => {}
    }
}

/// Prints only the notices of a run (warnings, Ctrl-C) to stderr, as the
/// console reporter does: for runs that report nothing else (a baseline run).
#[derive(Debug, Default, Clone, Copy)]
pub struct StderrNotices;

impl Reporter for StderrNotices {
    fn on_event(&mut self, event: &Event) -> std::io::Result<()> {
        print_notice(event, |text| eprintln!("{text}"));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::render::*;
    use super::*;

    #[test]
    fn notices_keep_their_stderr_text() {
        let lines = |event: &Event| {
            let mut out = Vec::new();
            print_notice(event, |t| out.push(t.to_string()));
            out
        };
        assert_eq!(lines(&Event::Warning("disk full".into())), ["warning: disk full"]);
        assert_eq!(
            lines(&Event::Interrupted),
            ["\ninterrupted: finishing the cases in flight (Ctrl-C again to exit now)"]
        );
        let aborted = Event::Aborted {
            errors: vec!["saving recordings: denied".into(), "locked".into()],
        };
        assert_eq!(lines(&aborted), ["error: saving recordings: denied", "error: locked"]);
    }
    use crate::report::RunInfo;
    use crate::result::AssertionResult;
    use std::sync::Mutex;

    /// A writer whose bytes the test can read after the reporter is done.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Shared {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).expect("UTF-8")
        }
    }

    const HOSTILE: &str = "::add-mask::secret\n\u{1b}[31mred\r";

    fn assertion(kind: &str, expected: &str, reason: &str) -> AssertionResult {
        AssertionResult {
            kind: kind.into(),
            expected: Some(expected.into()),
            pass: false,
            score: 0.0,
            weight: 1.0,
            metric: None,
            reason: reason.into(),
            error: None,
            line: Some(7),
            file: None,
            grader: None,
        }
    }

    fn case(verdict: Verdict, output: Option<&str>, assertions: Vec<AssertionResult>) -> CaseResult {
        let mut c = CaseResult::new(0, "rag::refuses")
            .with_suite("rag", "suites/rag.yaml")
            .with_test_file("suites/rag.yaml", Some(5))
            .with_prompt("p", "0123456789ab")
            .with_provider("echo")
            .with_verdict(verdict)
            .with_assertions(assertions, 0.0);
        c.description = Some("desc\u{1b}]0;title\u{7}".into());
        c.output = output.map(str::to_string);
        c.duration_ms = 1;
        c
    }

    /// Runs `cases` through a reporter (with `token` as its stop-commands
    /// token, if any) and returns everything it wrote.
    fn report(cases: Vec<CaseResult>, token: Option<&str>) -> String {
        let buf = Shared::default();
        let mut reporter = ConsoleReporter::new(Box::new(buf.clone()), false);
        if let Some(token) = token {
            reporter = reporter.with_stop_commands(token.to_string());
        }
        let info = RunInfo {
            total_cases: cases.len(),
            suites: 1,
            started_at: chrono::Local::now(),
            shard: None,
            plan_digest: None,
        };
        reporter.on_event(&Event::RunStarted(info)).unwrap();
        let mut summary = RunSummary::default();
        for c in cases {
            summary.count(c.verdict);
            reporter.on_event(&Event::CaseFinished(Arc::new(c))).unwrap();
        }
        reporter.on_event(&Event::RunFinished(summary)).unwrap();
        buf.text()
    }

    /// Fails when `text` holds a raw control character other than `\n`/`\t`,
    /// ignoring the colour codes the reporter itself adds when colours are on.
    fn assert_no_raw_controls(text: &str) {
        let mut text = text.to_string();
        if console::colors_enabled() {
            for ours in ["\u{1b}[31m", "\u{1b}[32m", "\u{1b}[33m", "\u{1b}[0m"] {
                text = text.replace(ours, "");
            }
        }
        let bad: Vec<char> = text
            .chars()
            .filter(|&c| c.is_control() && c != '\n' && c != '\t')
            .collect();
        assert!(bad.is_empty(), "raw control characters {bad:?} in:\n{text}");
    }

    #[test]
    fn sanitize_borrows_clean_text() {
        for clean in ["", "plain", "two\nlines\tand a tab", "unicode é ✗ 日本"] {
            assert!(matches!(sanitize_for_terminal(clean), Cow::Borrowed(s) if s == clean));
        }
    }

    #[test]
    fn sanitize_escapes_c0_del_and_c1_but_keeps_newline_and_tab() {
        assert_eq!(sanitize_for_terminal("\u{1b}[31mred\r\n"), "\\u{1b}[31mred\\u{d}\n");
        assert_eq!(sanitize_for_terminal("a\u{0}b\u{7}c\u{8}"), "a\\u{0}b\\u{7}c\\u{8}");
        assert_eq!(sanitize_for_terminal("del\u{7f}"), "del\\u{7f}");
        assert_eq!(
            sanitize_for_terminal("csi\u{9b}31m st\u{9c} \u{80}\u{9f}"),
            "csi\\u{9b}31m st\\u{9c} \\u{80}\\u{9f}"
        );
        assert_eq!(sanitize_for_terminal("é\t✗\u{a0}"), "é\t✗\u{a0}");
        assert!(matches!(sanitize_for_terminal("x\u{1b}"), Cow::Owned(_)));
    }

    #[test]
    fn failures_section_is_wrapped_in_stop_commands_and_escaped() {
        let token = ConsoleReporter::stop_commands_token();
        let failing = case(
            Verdict::Fail,
            Some(HOSTILE),
            vec![assertion(
                "contains",
                "ok\u{1b}[2J",
                "output lacks \"ok\": \u{1b}[31mred\r",
            )],
        );
        let mut errored = case(Verdict::Error, None, vec![]);
        errored.index = 1;
        errored.name = "rag::errors".into();
        errored.error = Some("provider said \u{9b}2J\r\n::error::boom".into());
        let text = report(vec![failing, errored], Some(&token));

        let start = format!("::stop-commands::{token}");
        let end = format!("::{token}::");
        let lines: Vec<&str> = text.lines().collect();
        let open = lines.iter().position(|l| *l == start).expect("stop-commands line");
        let close = lines.iter().position(|l| *l == end).expect("resume line");
        assert!(open < close);
        assert_eq!(text.matches(&start).count(), 1);
        assert_eq!(text.matches(&end).count(), 1);
        // Every line that could be read as a workflow command is inside the wrapper.
        for (i, line) in lines.iter().enumerate() {
            if line.trim_start().starts_with("::") {
                assert!(open <= i && i <= close, "line {i} outside the wrapper: {line:?}");
            }
        }
        let inside = lines[open..=close].join("\n");
        assert!(inside.contains("\n    ::add-mask::secret\n"), "{inside}");
        assert!(inside.contains("    \\u{1b}[31mred\\u{d}"), "{inside}");
        assert!(inside.contains("::error::boom"), "{inside}");
        assert!(inside.contains("provider said \\u{9b}2J\\u{d}"), "{inside}");
        assert!(inside.contains("description: desc\\u{1b}]0;title\\u{7}"), "{inside}");
        assert!(inside.contains("expected: ok\\u{1b}[2J"), "{inside}");
        // The summary line comes after the wrapper, where commands are processed again.
        let result = lines
            .iter()
            .position(|l| l.starts_with("test result:"))
            .expect("result");
        assert!(result > close);
        assert!(!text.contains('\r'), "raw CR in:\n{text}");
        assert!(!text.contains("\u{1b}[31mred"), "raw ESC from the output in:\n{text}");
        assert_no_raw_controls(&text);
    }

    #[test]
    fn without_a_token_there_is_no_wrapper_but_controls_are_still_escaped() {
        let text = report(
            vec![case(
                Verdict::Fail,
                Some(HOSTILE),
                vec![assertion("equals", "x", "differs")],
            )],
            None,
        );
        assert!(!text.contains("::stop-commands::"), "{text}");
        assert!(text.contains("    ::add-mask::secret\n"), "{text}");
        assert!(!text.contains('\r'));
        assert_no_raw_controls(&text);
    }

    #[test]
    fn passing_run_has_no_wrapper() {
        let mut pass = case(Verdict::Pass, Some(HOSTILE), vec![]);
        pass.description = None;
        let text = report(vec![pass], Some("abc123"));
        assert!(!text.contains("stop-commands"), "{text}");
        assert!(!text.contains("::abc123::"), "{text}");
        assert!(
            !text.contains("add-mask"),
            "outputs of passing cases are not printed: {text}"
        );
    }

    #[test]
    fn negated_assertion_shows_expected_not() {
        let block = failure_block(&case(
            Verdict::Fail,
            Some("I cannot share the password"),
            vec![
                assertion("not-icontains", "password", "output contains \"password\""),
                assertion("icontains", "sorry", "output lacks \"sorry\""),
            ],
        ));
        assert!(block.contains("      expected: not password\n"), "{block}");
        assert!(block.contains("      expected: sorry\n"), "{block}");
    }

    #[test]
    fn stop_commands_tokens_are_fresh_hex() {
        let a = ConsoleReporter::stop_commands_token();
        let b = ConsoleReporter::stop_commands_token();
        assert_eq!(a.len(), 64);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()), "{a}");
        assert_ne!(a, b);
    }
}
