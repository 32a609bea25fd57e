//! The text blocks of the console report: failure and threshold blocks, the
//! run's notes and rate tables, and the sanitising of model output for a
//! terminal.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write as _;

use console::style;

use super::{Tally, MAX_OUTPUT_CHARS};
use crate::analysis::thresholds::ThresholdOutcome;
use crate::result::{CaseResult, RunSummary, Verdict};

/// Flaky cases, retried calls, the response cache and costs, when there is
/// anything to say.
pub(super) fn run_notes(summary: &RunSummary) -> String {
    let mut text = String::new();
    if summary.flaky > 0 {
        let _ = writeln!(
            text,
            "flaky: {} case{} both passed and failed across --repeat runs",
            summary.flaky,
            if summary.flaky == 1 { "" } else { "s" }
        );
    }
    if summary.retried > 0 {
        let _ = writeln!(
            text,
            "retried: {} case{} succeeded after a retry",
            summary.retried,
            if summary.retried == 1 { "" } else { "s" }
        );
    }
    if summary.cached_answers > 0 {
        let sent = match summary.sent_answers {
            0 => "no request sent".to_string(),
            1 => "1 request sent".to_string(),
            n => format!("{n} requests sent"),
        };
        // An answer without a price saved an unknown amount, not $0.
        let saved = if summary.unpriced_cached == summary.cached_answers {
            "saved: unknown (no price)".to_string()
        } else {
            format!(
                "saved ${:.4}{}",
                summary.saved_usd,
                unpriced_note(summary.unpriced_cached)
            )
        };
        let total = summary.cached_answers + summary.sent_answers;
        let _ = writeln!(
            text,
            "response cache: {} of {total} answer{} from the cache ({sent}), {saved}",
            summary.cached_answers,
            if total == 1 { "" } else { "s" },
        );
    }
    if !summary.cost_by_suite.is_empty() {
        let _ = writeln!(
            text,
            "cost: ${:.4}{}",
            summary.cost_usd(),
            unpriced_note(summary.unpriced_sent)
        );
        for (suite, usd) in &summary.cost_by_suite {
            let _ = writeln!(text, "    suite {}  ${usd:.4}", sanitize_for_terminal(suite));
        }
        for (provider, usd) in &summary.cost_by_provider {
            let _ = writeln!(text, "    model {}  ${usd:.4}", sanitize_for_terminal(provider));
        }
    }
    text
}

/// ` (N answers without a price not included)`, or nothing.
pub(super) fn unpriced_note(n: usize) -> String {
    match n {
        0 => String::new(),
        1 => " (1 answer without a price not included)".to_string(),
        n => format!(" ({n} answers without a price not included)"),
    }
}

pub(super) fn rate_table(title: &str, rows: &BTreeMap<String, Tally>) -> String {
    let width = rows
        .keys()
        .map(|k| sanitize_for_terminal(k).chars().count())
        .max()
        .unwrap_or(0);
    let mut s = format!("\n{title}:\n");
    for (name, t) in rows {
        let pct = if t.total > 0 {
            100.0 * t.passed as f64 / t.total as f64
        } else {
            0.0
        };
        let name = sanitize_for_terminal(name);
        s.push_str(&format!(
            "    {name:<width$}  {:>4}/{:<4} {pct:5.1}%\n",
            t.passed, t.total
        ));
    }
    s
}

pub(super) fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => format!(
            "{}… ({} more bytes; the full output is in --json and JUnit)",
            &text[..i],
            text.len() - i
        ),
        None => text.to_string(),
    }
}

pub(super) fn indent(text: &str, by: &str) -> String {
    text.lines().map(|l| format!("{by}{l}")).collect::<Vec<_>>().join("\n")
}

/// `s` safe to print on a terminal: every control character except `\n` and
/// `\t` (the other C0 controls, among them CR and ESC; DEL; the C1 controls
/// U+0080–U+009F) is replaced by its visible escape, such as `\u{1b}`.
/// Borrows `s` when there is nothing to replace.
pub fn sanitize_for_terminal(s: &str) -> Cow<'_, str> {
    fn unsafe_char(c: char) -> bool {
        c.is_control() && c != '\n' && c != '\t'
    }
    let Some(first) = s.find(unsafe_char) else {
        return Cow::Borrowed(s);
    };
    let mut out = String::with_capacity(s.len() + 8);
    out.push_str(&s[..first]);
    for c in s[first..].chars() {
        if unsafe_char(c) {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// `suite::thresholds [prompt@hash provider]`.
pub(super) fn threshold_name(t: &ThresholdOutcome) -> String {
    format!("{} [{}@{} {}]", t.name(), t.prompt, t.prompt_hash, t.provider)
}

/// `faithfulness.mean 0.8400 < 0.85 ✗ (12 cases)`.
pub(super) fn check_line(c: &crate::analysis::thresholds::ThresholdCheck) -> String {
    let (cmp, mark) = if c.pass {
        ("≥", style("✓").green().to_string())
    } else {
        ("<", style("✗").red().to_string())
    };
    match c.measured {
        Some(m) => format!(
            "{mark} {} {m:.4} {cmp} {} ({} cases)",
            sanitize_for_terminal(&c.name),
            c.threshold,
            c.cases
        ),
        None => format!(
            "{mark} {}: no case has a value (threshold {})",
            sanitize_for_terminal(&c.name),
            c.threshold
        ),
    }
}

/// The block printed for a breached or undecided suite threshold.
pub fn threshold_block(t: &ThresholdOutcome) -> String {
    let mut s = format!("---- {} ----\n", sanitize_for_terminal(&threshold_name(t)));
    match t.line {
        Some(l) => s.push_str(&format!("at {}:{l}\n", t.suite_file.display())),
        None => s.push_str(&format!("at {}\n", t.suite_file.display())),
    }
    if let Some(e) = &t.error {
        s.push_str(&format!("{}: {}\n", style("error").red(), sanitize_for_terminal(e)));
    }
    for c in &t.checks {
        s.push_str(&format!("  {}\n", check_line(c)));
    }
    let st = &t.stats;
    s.push_str(&format!(
        "  cases: {} passed, {} failed, {} without a verdict\n",
        st.passed, st.failed, st.errored
    ));
    s
}

/// The block printed for one failed or errored case. Every piece of text in
/// it goes through [`sanitize_for_terminal`].
pub fn failure_block(case: &CaseResult) -> String {
    let clean = |text: &str| sanitize_for_terminal(text).into_owned();
    let mut s = format!("---- {} ----\n", clean(&case.full_name()));
    s.push_str(&format!("at {}\n", clean(&case.location())));
    if let Some(d) = &case.description {
        s.push_str(&format!("description: {}\n", clean(d)));
    }
    if case.verdict == Verdict::Error {
        if let Some(e) = &case.error {
            s.push_str(&format!("{}: {}\n", style("error").red(), clean(e)));
        }
    }
    for a in case.failed_assertions() {
        // The assertion's own place: its line, or file:line when it lives in
        // another file than the test (a defaultTest assertion of a CSV case).
        let line = match (&a.file, a.line) {
            (Some(f), Some(l)) if *f != case.test_file => format!(" ({}:{l})", f.display()),
            (_, Some(l)) => format!(" (line {l})"),
            _ => String::new(),
        };
        let tag = if a.error.is_some() { "error in" } else { "failed" };
        s.push_str(&format!(
            "  {} {tag} {}{line}: {}\n",
            style("✗").red(),
            clean(&a.kind),
            clean(&a.reason)
        ));
        if let Some(exp) = &a.expected {
            let not = if a.kind.starts_with("not-") { "not " } else { "" };
            s.push_str(&format!("      expected: {not}{}\n", clean(&truncate(exp, 200))));
        }
        if let Some(g) = &a.grader {
            if a.error.is_none() {
                s.push_str(&format!("      score: {:.3}\n", a.score));
            }
            if !g.claims.is_empty() {
                s.push_str("      claims:\n");
                for c in &g.claims {
                    let mark = if c.supported {
                        style("✓ supported").green().to_string()
                    } else {
                        style("✗ unsupported").red().to_string()
                    };
                    let why = if c.reason.is_empty() {
                        String::new()
                    } else {
                        format!(" — {}", clean(&c.reason))
                    };
                    s.push_str(&format!("        {mark}: {}{why}\n", clean(&c.claim)));
                }
            }
            if a.error.is_some() {
                if let Some(raw) = &g.raw_reply {
                    s.push_str("      grader reply:\n");
                    s.push_str(&indent(&clean(&truncate(raw, 500)), "          "));
                    s.push('\n');
                }
            }
        }
    }
    if let Some(repeats) = &case.repeats {
        s.push_str(&format!("repeats: {}\n", repeats.describe()));
        for (i, run) in repeats.outcomes.iter().enumerate() {
            if let Some(reason) = &run.reason {
                s.push_str(&format!(
                    "  run {}: {} {}\n",
                    i + 1,
                    run.verdict.word(),
                    clean(&truncate(reason, 300))
                ));
            }
        }
    }
    if let Some(t) = case.threshold.filter(|_| case.verdict == Verdict::Fail) {
        s.push_str(&format!("  score {:.3} vs threshold {t}\n", case.score));
    }
    if let Some(out) = &case.output {
        s.push_str("output:\n");
        s.push_str(&indent(&clean(&truncate(out, MAX_OUTPUT_CHARS)), "    "));
        s.push('\n');
    }
    s
}
