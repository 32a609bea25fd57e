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

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;

use console::style;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::Reporter;
use crate::result::{CaseResult, RunSummary, Verdict};
use crate::runner::Event;

/// Longest output shown in a failure, in characters.
const MAX_OUTPUT_CHARS: usize = 2000;

/// Console reporter. Keeps only the failing cases (for the failure list) and counters.
pub struct ConsoleReporter {
    out: Box<dyn Write + Send>,
    progress: Option<ProgressBar>,
    failures: Vec<Arc<CaseResult>>,
    by_suite: BTreeMap<String, Tally>,
    by_category: BTreeMap<String, Tally>,
    closed: bool,
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
            by_suite: BTreeMap::new(),
            by_category: BTreeMap::new(),
            closed: false,
        }
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
        if !self.failures.is_empty() {
            self.failures.sort_by_key(|c| c.index);
            text.push_str("\nfailures:\n");
            for case in &self.failures {
                text.push('\n');
                text.push_str(&failure_block(case));
            }
            text.push_str("\nfailures:\n");
            for case in &self.failures {
                text.push_str(&format!("    {}\n", case.full_name()));
            }
        }
        let ok = summary.exit_code() == crate::exit::SUCCESS;
        let word = if ok {
            style("ok").green().to_string()
        } else {
            style("FAILED").red().to_string()
        };
        text.push_str(&format!(
            "\ntest result: {word}. {} passed; {} failed; {} errored; {} skipped; finished in {:.2}s\n",
            summary.passed,
            summary.failed,
            summary.errored,
            summary.skipped,
            summary.duration_ms as f64 / 1000.0
        ));
        if !self.by_suite.is_empty() {
            text.push_str(&rate_table("pass rate by suite", &self.by_suite));
        }
        if !self.by_category.is_empty() {
            text.push_str(&rate_table("pass rate by category", &self.by_category));
        }
        if self.closed {
            return Ok(());
        }
        let result = write!(self.out, "{text}").and_then(|()| self.out.flush());
        self.check(result)
    }
}

fn rate_table(title: &str, rows: &BTreeMap<String, Tally>) -> String {
    let width = rows.keys().map(|k| k.chars().count()).max().unwrap_or(0);
    let mut s = format!("\n{title}:\n");
    for (name, t) in rows {
        let pct = if t.total > 0 {
            100.0 * t.passed as f64 / t.total as f64
        } else {
            0.0
        };
        s.push_str(&format!(
            "    {name:<width$}  {:>4}/{:<4} {pct:5.1}%\n",
            t.passed, t.total
        ));
    }
    s
}

fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => format!(
            "{}… ({} more bytes; the full output is in --json and JUnit)",
            &text[..i],
            text.len() - i
        ),
        None => text.to_string(),
    }
}

fn indent(text: &str, by: &str) -> String {
    text.lines().map(|l| format!("{by}{l}")).collect::<Vec<_>>().join("\n")
}

/// The block printed for one failed or errored case.
pub fn failure_block(case: &CaseResult) -> String {
    let mut s = format!("---- {} ----\n", case.full_name());
    s.push_str(&format!("at {}\n", case.location()));
    if let Some(d) = &case.description {
        s.push_str(&format!("description: {d}\n"));
    }
    if case.verdict == Verdict::Error {
        if let Some(e) = &case.error {
            s.push_str(&format!("{}: {e}\n", style("error").red()));
        }
    }
    for a in case.failed_assertions() {
        let line = a.line.map(|l| format!(" (line {l})")).unwrap_or_default();
        let tag = if a.error.is_some() { "error in" } else { "failed" };
        s.push_str(&format!(
            "  {} {tag} {}{line}: {}\n",
            style("✗").red(),
            a.kind,
            a.reason
        ));
        if let Some(exp) = &a.expected {
            s.push_str(&format!("      expected: {}\n", truncate(exp, 200)));
        }
    }
    if let Some(t) = case.threshold {
        s.push_str(&format!("  score {:.3} vs threshold {t}\n", case.score));
    }
    if let Some(out) = &case.output {
        s.push_str("output:\n");
        s.push_str(&indent(&truncate(out, MAX_OUTPUT_CHARS), "    "));
        s.push('\n');
    }
    s
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
                let line = format!("test {} ... {word}", case.full_name());
                self.print(&line)?;
                if let Some(pb) = &self.progress {
                    pb.inc(1);
                }
                for (map, key) in [
                    (&mut self.by_suite, Some(case.suite.clone())),
                    (&mut self.by_category, case.category.clone()),
                ] {
                    if let Some(k) = key {
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
            Event::RunFinished(summary) => self.finish(summary),
        }
    }
}
