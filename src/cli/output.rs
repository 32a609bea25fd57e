//! What the commands print, in one place: JSON on stdout (`--json`),
//! diagnostics and notices on stderr, the GitHub step summary.

use std::io::Write;

use crate::diagnostic::Diagnostics;
use crate::session::Notice;

/// Prints `value` as pretty JSON on stdout (one document, then a newline).
pub fn json<T: serde::Serialize + ?Sized>(value: &T) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", serde_json::to_string_pretty(value).unwrap_or_default());
}

/// Prints the input's warnings (one line each) and errors, and a count of
/// the errors (`error: N problems in the input; nothing was run`).
pub fn diagnostics(d: &Diagnostics) {
    let mut err = std::io::stderr().lock();
    for w in d.warnings() {
        let _ = writeln!(err, "{}", w.one_line());
    }
    for e in d.errors() {
        let _ = writeln!(err, "{e}\n");
    }
    let n = d.errors().count();
    if n > 0 {
        let s = if n == 1 { "" } else { "s" };
        let _ = writeln!(err, "error: {n} problem{s} in the input; nothing was run");
    }
}

/// Prints the errors only, each followed by a blank line (the gate's form).
pub fn errors(d: &Diagnostics) {
    let mut err = std::io::stderr().lock();
    for e in d.errors() {
        let _ = writeln!(err, "{e}\n");
    }
}

/// Prints a session's notice on stderr.
pub fn notice(n: &Notice) {
    let mut err = std::io::stderr().lock();
    match n {
        // Console text: ends with its own newline.
        Notice::Comparison(text) => {
            let _ = write!(err, "{text}");
        }
        _ => {
            let _ = writeln!(err, "{n}");
        }
    }
}

/// Appends Markdown to `$GITHUB_STEP_SUMMARY` when it is set (GitHub Actions).
pub fn append_step_summary(markdown: &str) {
    let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) else {
        return;
    };
    let r = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(format!("\n{markdown}\n").as_bytes()));
    if let Err(e) = r {
        eprintln!("warning: cannot append to $GITHUB_STEP_SUMMARY: {e}");
    }
}
