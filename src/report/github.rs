//! GitHub Actions integration: `::error` annotations on failing tests and a
//! Markdown section in the job's step summary.
//!
//! Workflow commands and their escaping follow GitHub's documentation
//! ("Workflow commands for GitHub Actions"): in the message `%`, CR and LF
//! become `%25`, `%0D` and `%0A`; in properties (`file`, `line`, `title`) `:`
//! and `,` also become `%3A` and `%2C`. The step summary
//! (`$GITHUB_STEP_SUMMARY`) is GitHub-flavoured Markdown, at most 1 MiB per
//! step: the failure list is capped at [`MAX_LISTED_FAILURES`], the table at
//! [`MAX_TABLE_ROWS`] rows, every cell at a few hundred characters and the whole
//! section at about [`SUMMARY_BUDGET`] bytes.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::report::Event;
use crate::report::Reporter;
use crate::result::{CaseResult, RunSummary, Verdict};

/// Failing cases listed in the step summary; the rest are counted.
pub const MAX_LISTED_FAILURES: usize = 50;
/// Rows of the suite × prompt × provider table in the step summary.
pub const MAX_TABLE_ROWS: usize = 200;
/// Longest reason (or cell) in the step summary, in characters.
const MAX_CELL_CHARS: usize = 300;
/// Bytes after which the step summary stops adding table rows or failures
/// (GitHub allows 1 MiB per step, shared with the step's other writers).
pub const SUMMARY_BUDGET: usize = 256 * 1024;
/// Longest annotation message, in characters (GitHub shows only the start).
const MAX_ANNOTATION_CHARS: usize = 4000;

/// Pass counts of one suite × prompt × provider combination.
#[derive(Debug, Default, Clone)]
struct TargetCounts {
    suite: String,
    target: String,
    provider: String,
    first_index: usize,
    passed: usize,
    failed: usize,
    errored: usize,
    skipped: usize,
}

/// Writes GitHub Actions annotations as cases fail and a step summary at the end.
pub struct GithubReporter {
    annotations: Box<dyn Write + Send>,
    summary_path: Option<PathBuf>,
    rows: Vec<TargetCounts>,
    row_of: HashMap<(String, String, String, String), usize>,
    /// Failing and erroring cases, for the summary (at most `MAX_LISTED_FAILURES`).
    failures: Vec<Arc<CaseResult>>,
    /// Failing and erroring cases not kept in `failures`.
    more_failures: usize,
    /// Checked suite thresholds, for the summary.
    thresholds: Vec<Arc<crate::analysis::thresholds::ThresholdOutcome>>,
}

impl std::fmt::Debug for GithubReporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GithubReporter")
            .field("summary_path", &self.summary_path)
            .field("rows", &self.rows.len())
            .field("failures", &self.failures.len())
            .finish_non_exhaustive()
    }
}

impl GithubReporter {
    /// The reporter for the current environment: `Some` only inside GitHub
    /// Actions (`GITHUB_ACTIONS=true`). Annotations go to stdout, where the
    /// runner reads workflow commands; the summary goes to `$GITHUB_STEP_SUMMARY`
    /// when that is set.
    pub fn from_env() -> Option<Self> {
        if std::env::var("GITHUB_ACTIONS").ok().as_deref() != Some("true") {
            return None;
        }
        let summary = std::env::var_os("GITHUB_STEP_SUMMARY")
            .filter(|p| !p.is_empty())
            .map(PathBuf::from);
        Some(Self::new(Box::new(io::stdout()), summary))
    }

    /// A reporter writing annotations to `annotations` and appending its summary
    /// to `summary_path` (if any).
    pub fn new(annotations: Box<dyn Write + Send>, summary_path: Option<PathBuf>) -> Self {
        Self {
            annotations,
            summary_path,
            rows: Vec::new(),
            row_of: HashMap::new(),
            failures: Vec::new(),
            more_failures: 0,
            thresholds: Vec::new(),
        }
    }

    fn thresholds(&mut self, t: &Arc<crate::analysis::thresholds::ThresholdOutcome>) -> io::Result<()> {
        if t.verdict != Verdict::Pass {
            let file = workspace_relative(
                &t.suite_file,
                std::env::var_os("GITHUB_WORKSPACE").map(PathBuf::from).as_deref(),
            );
            let mut props = format!("file={}", escape_property(&file));
            if let Some(line) = t.line {
                let _ = write!(props, ",line={line}");
            }
            let title = format!(
                "{} [{}@{} {}] {}",
                t.name(),
                t.prompt,
                t.prompt_hash,
                t.provider,
                t.verdict.word()
            );
            let _ = write!(props, ",title={}", escape_property(&title));
            let message = match &t.error {
                Some(e) => e.clone(),
                None => format!("suite threshold breached: {}", t.breaches().join("; ")),
            };
            let line = format!("::error {props}::{}\n", escape_data(&message));
            self.annotations.write_all(line.as_bytes())?;
            self.annotations.flush()?;
        }
        self.thresholds.push(Arc::clone(t));
        Ok(())
    }

    fn case(&mut self, case: &Arc<CaseResult>) -> io::Result<()> {
        let key = (
            case.suite.clone(),
            case.prompt.clone(),
            case.prompt_hash.clone(),
            case.provider.clone(),
        );
        let slot = match self.row_of.get(&key) {
            Some(&slot) => slot,
            None => {
                self.rows.push(TargetCounts {
                    suite: case.suite.clone(),
                    target: format!("{}@{}", case.prompt, case.prompt_hash),
                    provider: case.provider.clone(),
                    first_index: case.index,
                    ..TargetCounts::default()
                });
                self.row_of.insert(key, self.rows.len() - 1);
                self.rows.len() - 1
            }
        };
        let row = &mut self.rows[slot];
        row.first_index = row.first_index.min(case.index);
        match case.verdict {
            Verdict::Pass => row.passed += 1,
            Verdict::Fail => row.failed += 1,
            Verdict::Error => row.errored += 1,
            Verdict::Skipped => row.skipped += 1,
        }

        if matches!(case.verdict, Verdict::Fail | Verdict::Error) {
            // One write per line, so annotations never interleave mid-line.
            let line = annotation(case);
            self.annotations.write_all(line.as_bytes())?;
            self.annotations.flush()?;
            if self.failures.len() < MAX_LISTED_FAILURES {
                self.failures.push(Arc::clone(case));
            } else {
                self.more_failures += 1;
            }
        }
        Ok(())
    }

    fn finish(&mut self, summary: &RunSummary) -> io::Result<()> {
        let Some(path) = &self.summary_path else {
            return Ok(());
        };
        let mut rows = self.rows.clone();
        rows.sort_by_key(|r| r.first_index);
        let mut failures = self.failures.clone();
        failures.sort_by_key(|c| c.index);
        let mut markdown = step_summary(summary, &rows, &failures, self.more_failures);
        markdown.push_str(&thresholds_table(&self.thresholds));
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| io::Error::new(e.kind(), format!("cannot open {}: {e}", path.display())))?;
        file.write_all(markdown.as_bytes())
            .map_err(|e| io::Error::new(e.kind(), format!("cannot write {}: {e}", path.display())))
    }
}

impl Reporter for GithubReporter {
    fn on_event(&mut self, event: &Event) -> io::Result<()> {
        match event {
            Event::RunStarted(_) => {
                self.rows.clear();
                self.row_of.clear();
                self.failures.clear();
                self.more_failures = 0;
                self.thresholds.clear();
                Ok(())
            }
            Event::CaseFinished(case) => self.case(case),
            Event::ThresholdsChecked(t) => self.thresholds(t),
            Event::RunFinished(summary) => self.finish(summary),
            Event::Warning(_) | Event::Interrupted | Event::Aborted { .. } => Ok(()),
        }
    }
}

/// Escapes a workflow command's message: `%`, CR, LF.
pub fn escape_data(s: &str) -> String {
    s.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// Escapes a workflow command's property value: as [`escape_data`], plus `:` and `,`.
pub fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// The `::error file=F,line=N,title=T::MESSAGE` line (with its newline) of a
/// failing or erroring case.
pub fn annotation(case: &CaseResult) -> String {
    let file = workspace_relative(
        &case.test_file,
        std::env::var_os("GITHUB_WORKSPACE").map(PathBuf::from).as_deref(),
    );
    let mut props = format!("file={}", escape_property(&file));
    if let Some(line) = case.line {
        let _ = write!(props, ",line={line}");
    }
    let title = format!("{} {}", case.full_name(), case.verdict.word());
    let _ = write!(props, ",title={}", escape_property(&title));
    let full = case_message(case);
    let mut message: String = full.chars().take(MAX_ANNOTATION_CHARS).collect();
    if message.len() < full.len() {
        message.push('…');
    }
    format!("::error {props}::{}\n", escape_data(&message))
}

/// `path` as GitHub wants it in an annotation: relative to the repository
/// root (`$GITHUB_WORKSPACE`), with `/` separators, whatever folder
/// promptgate ran in and however the path was written (`./s.yaml`, `../x`).
/// Paths outside the workspace (or without one) are left as they are.
pub fn workspace_relative(path: &Path, workspace: Option<&Path>) -> String {
    let shown = || path.display().to_string();
    let Some(ws) = workspace else { return shown() };
    let absolute = match std::path::absolute(path) {
        Ok(a) => a,
        Err(_) => return shown(),
    };
    // Resolve `..` and symlinks where the file exists, so the prefix compares.
    let absolute = absolute.canonicalize().unwrap_or(absolute);
    let ws = ws.canonicalize().unwrap_or_else(|_| ws.to_path_buf());
    match absolute.strip_prefix(&ws) {
        Ok(rel) => rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/"),
        Err(_) => shown(),
    }
}

/// What went wrong with a case: its failing assertions' reasons (one per line,
/// with the score against the threshold when one is set), or its error.
pub fn case_message(case: &CaseResult) -> String {
    if case.verdict == Verdict::Error {
        if let Some(error) = &case.error {
            return error.clone();
        }
    }
    let mut lines: Vec<String> = case
        .failed_assertions()
        .map(|a| match &a.error {
            Some(error) => format!("{}: {error}", a.kind),
            None => format!("{}: {}", a.kind, a.reason),
        })
        .collect();
    if let Some(threshold) = case.threshold {
        if case.score < threshold {
            lines.push(format!("score {:.3} below threshold {threshold:.3}", case.score));
        }
    }
    if lines.is_empty() {
        lines.push(case.error.clone().unwrap_or_else(|| case.verdict.word().to_string()));
    }
    lines.join("\n")
}

/// The Markdown section appended to the step summary.
fn step_summary(
    summary: &RunSummary,
    rows: &[TargetCounts],
    failures: &[Arc<CaseResult>],
    more_failures: usize,
) -> String {
    let mut md = String::new();
    let icon =
        if summary.failed > 0 || summary.errored > 0 || summary.thresholds_failed > 0 || summary.thresholds_errored > 0
        {
            "❌"
        } else if summary.skipped > 0 {
            "⚠️"
        } else {
            "✅"
        };
    let _ = writeln!(md, "## {icon} promptgate\n");
    let _ = writeln!(
        md,
        "**{} passed, {} failed, {} errored, {} skipped** of {} cases in {:.2} s\n",
        summary.passed,
        summary.failed,
        summary.errored,
        summary.skipped,
        summary.total(),
        summary.duration_ms as f64 / 1000.0
    );
    let mut notes = Vec::new();
    if summary.flaky > 0 {
        notes.push(format!(
            "{} flaky (passed and failed across `--repeat` runs)",
            summary.flaky
        ));
    }
    if summary.retried > 0 {
        notes.push(format!("{} succeeded after a retry", summary.retried));
    }
    if summary.cached_answers > 0 {
        let saved = if summary.unpriced_cached == summary.cached_answers {
            "saved: unknown, no price".to_string()
        } else {
            format!("saved ${:.4}", summary.saved_usd)
        };
        notes.push(format!(
            "{} of {} answers from the response cache ({saved})",
            summary.cached_answers,
            summary.cached_answers + summary.sent_answers,
        ));
    }
    if !summary.cost_by_suite.is_empty() {
        notes.push(format!("cost ${:.4}", summary.cost_usd()));
    }
    if !notes.is_empty() {
        let _ = writeln!(md, "{}\n", notes.join(" · "));
    }

    if !rows.is_empty() {
        md.push_str("| Suite | Prompt | Provider | Passed | Failed | Errored | Skipped |\n");
        md.push_str("|---|---|---|---:|---:|---:|---:|\n");
        let mut shown = 0;
        for row in rows.iter().take(MAX_TABLE_ROWS) {
            if md.len() > SUMMARY_BUDGET / 2 {
                break;
            }
            shown += 1;
            let total = row.passed + row.failed + row.errored + row.skipped;
            let _ = writeln!(
                md,
                "| {} | {} | {} | {}/{total} | {} | {} | {} |",
                md_cell(&row.suite),
                md_cell(&row.target),
                md_cell(&row.provider),
                row.passed,
                row.failed,
                row.errored,
                row.skipped
            );
        }
        if rows.len() > shown {
            let _ = writeln!(md, "\n…and {} more rows", rows.len() - shown);
        }
        md.push('\n');
    }

    if !failures.is_empty() {
        md.push_str("### Failures\n\n");
        let mut more = more_failures;
        for (i, case) in failures.iter().enumerate() {
            if md.len() > SUMMARY_BUDGET {
                more += failures.len() - i;
                break;
            }
            let _ = writeln!(
                md,
                "- **{}** {} at {}: {}",
                case.verdict.word(),
                md_cell(&case.full_name()),
                md_cell(&case.location()),
                md_cell(&case_message(case))
            );
        }
        if more > 0 {
            let _ = writeln!(md, "- …and {more} more");
        }
        md.push('\n');
    }
    md
}

/// The suite-thresholds table of the step summary (empty when no suite sets any).
fn thresholds_table(outcomes: &[Arc<crate::analysis::thresholds::ThresholdOutcome>]) -> String {
    if outcomes.is_empty() {
        return String::new();
    }
    let mut md = String::from("### Suite thresholds\n\n| Suite | Prompt | Provider | Check | Measured | Threshold | Cases | Result |\n|---|---|---|---|---:|---:|---:|---|\n");
    for t in outcomes.iter().take(MAX_TABLE_ROWS) {
        for c in &t.checks {
            let measured = c.measured.map_or("—".to_string(), |m| format!("{m:.4}"));
            let result = if c.pass { "✅ met" } else { "❌ breached" };
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {measured} | {} | {} | {result} |",
                md_cell(&t.suite),
                md_cell(&format!("{}@{}", t.prompt, t.prompt_hash)),
                md_cell(&t.provider),
                md_cell(&c.name),
                c.threshold,
                c.cases
            );
        }
        if let Some(e) = &t.error {
            let _ = writeln!(
                md,
                "| {} | {} | {} | — | — | — | — | ⚠️ {} |",
                md_cell(&t.suite),
                md_cell(&format!("{}@{}", t.prompt, t.prompt_hash)),
                md_cell(&t.provider),
                md_cell(e)
            );
        }
    }
    md.push('\n');
    md
}

/// Text made safe for one Markdown table cell or list item: one line, at most
/// [`MAX_CELL_CHARS`] characters, HTML and Markdown punctuation escaped, and
/// no control character (C0 including CR and ESC, DEL, C1): whitespace ones
/// become a space, the others are dropped. Every piece of case text in the
/// step summary goes through here.
fn md_cell(s: &str) -> String {
    let flat = s.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out = String::with_capacity(flat.len());
    for (i, c) in flat.chars().enumerate() {
        if i == MAX_CELL_CHARS {
            out.push('…');
            break;
        }
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '#' | '~' | '!' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {

    #[test]
    fn annotation_paths_are_relative_to_the_workspace() {
        let ws = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(ws.path().join("proj/suites")).unwrap();
        let file = ws.path().join("proj/suites/a.yaml");
        std::fs::write(&file, "x").unwrap();
        let dotted = ws.path().join("proj/suites/../suites/./a.yaml");
        assert_eq!(workspace_relative(&dotted, Some(ws.path())), "proj/suites/a.yaml");
        assert_eq!(workspace_relative(&file, Some(ws.path())), "proj/suites/a.yaml");
        assert_eq!(workspace_relative(Path::new("suites/a.yaml"), None), "suites/a.yaml");
        let outside = tempfile::tempdir().unwrap();
        let other = outside.path().join("b.yaml");
        assert_eq!(workspace_relative(&other, Some(ws.path())), other.display().to_string());
    }

    use super::*;

    #[test]
    fn escapes_data_and_properties() {
        assert_eq!(escape_data("50%\r\nok: a,b"), "50%25%0D%0Aok: a,b");
        assert_eq!(escape_property("a:b,c%\n"), "a%3Ab%2Cc%25%0A");
    }

    #[test]
    fn md_cell_is_one_safe_line() {
        assert_eq!(md_cell("a | b\n<script>"), "a \\| b &lt;script&gt;");
        assert_eq!(md_cell(&"x".repeat(400)).chars().count(), MAX_CELL_CHARS + 1);
    }

    #[test]
    fn md_cell_drops_control_characters() {
        assert_eq!(
            md_cell("\u{1b}[31mred\r\nnext\u{7}\u{0}\u{7f}\u{9b}2J\u{85}end"),
            "\\[31mred next2J end"
        );
    }

    fn is_raw_control(c: char) -> bool {
        c.is_control() && c != '\n'
    }

    #[test]
    fn step_summary_has_no_raw_control_characters() {
        use crate::result::AssertionResult;

        let hostile = "::add-mask::secret\r\n\u{1b}[31mred\u{7}\u{0}\u{7f}\u{9b}2J\u{85}\t|";
        let failed = AssertionResult {
            kind: "not-contains".into(),
            expected: Some(hostile.into()),
            pass: false,
            score: 0.0,
            weight: 1.0,
            metric: None,
            reason: format!("output contains {hostile}"),
            error: None,
            line: Some(9),
            file: None,
            grader: None,
        };
        let case = |index: usize, verdict: Verdict| {
            let mut c = CaseResult::new(index, format!("s::t{index}\u{1b}[2J"))
                .with_suite("s\u{1b}", "suites/s.yaml")
                .with_test_file("suites/s\u{1b}.yaml", Some(4))
                .with_prompt("p\r", "0123456789ab")
                .with_provider("echo\u{9b}")
                .with_verdict(verdict)
                .with_assertions(vec![failed.clone()], 0.0)
                .with_output(hostile);
            c.description = Some(hostile.into());
            c.threshold = Some(0.5);
            c.error = (verdict == Verdict::Error).then(|| format!("provider said {hostile}"));
            c.duration_ms = 1;
            c
        };
        let mut reporter = GithubReporter::new(Box::new(io::sink()), None);
        let mut summary = RunSummary::default();
        for (i, verdict) in [Verdict::Fail, Verdict::Error].into_iter().enumerate() {
            summary.count(verdict);
            reporter.case(&Arc::new(case(i, verdict))).expect("case");
        }
        let md = step_summary(&summary, &reporter.rows, &reporter.failures, 0);
        assert!(md.contains("### Failures"), "{md}");
        assert!(md.contains("provider said ::add-mask::secret \\[31mred2J \\|"), "{md}");
        let bad: Vec<char> = md.chars().filter(|&c| is_raw_control(c)).collect();
        assert!(bad.is_empty(), "raw control characters {bad:?} in:\n{md}");
        // Each failure is one list item on one line.
        assert_eq!(md.lines().filter(|l| l.starts_with("- **")).count(), 2, "{md}");
    }
}
