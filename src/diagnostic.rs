//! Errors and warnings about user input (suites, prompts, flags, config),
//! printed in a compiler-like style that names the file, line and column:
//!
//! ```text
//! error: unknown key `asert` in a test case
//!   --> suites/rag.yaml:12:5
//!   = help: did you mean `assert`?
//! ```
//!
//! Any error diagnostic stops the run before anything is called and maps to
//! exit code 2 in the command line.

use std::fmt;
use std::path::{Path, PathBuf};

/// A position in an input file. `line` and `col` are 1-based.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Location {
    /// The file as the user named it (relative paths stay relative).
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub col: Option<usize>,
}

impl Location {
    /// A location naming only a file.
    pub fn file(file: impl Into<PathBuf>) -> Self {
        Location {
            file: file.into(),
            line: None,
            col: None,
        }
    }

    /// A location at `line:col` of `file`.
    pub fn at(file: impl Into<PathBuf>, line: usize, col: usize) -> Self {
        Location {
            file: file.into(),
            line: Some(line),
            col: Some(col),
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.col {
                write!(f, ":{col}")?;
            }
        }
        Ok(())
    }
}

/// How serious a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// Stops the run (exit 2).
    Error,
    /// Printed, the run goes on.
    Warning,
}

/// One message about the user's input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// What is wrong, in one line.
    pub message: String,
    /// Where, when the problem is in a file.
    pub location: Option<Location>,
    /// What would be right (a suggestion, the valid values).
    pub help: Option<String>,
}

impl Diagnostic {
    /// An error at `location`.
    pub fn error(message: impl Into<String>, location: Option<Location>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            message: message.into(),
            location,
            help: None,
        }
    }

    /// A warning at `location`.
    pub fn warning(message: impl Into<String>, location: Option<Location>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            message: message.into(),
            location,
            help: None,
        }
    }

    /// Adds a help line.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// True for errors.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// The one-line form used for warnings: `warning: FILE:LINE:COL: message`.
    pub fn one_line(&self) -> String {
        let kind = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        match &self.location {
            Some(loc) => format!("{kind}: {loc}: {}", self.message),
            None => format!("{kind}: {}", self.message),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{kind}: {}", self.message)?;
        if let Some(loc) = &self.location {
            write!(f, "\n  --> {loc}")?;
        }
        if let Some(help) = &self.help {
            for (i, line) in help.lines().enumerate() {
                if i == 0 {
                    write!(f, "\n  = help: {line}")?;
                } else {
                    write!(f, "\n          {line}")?;
                }
            }
        }
        Ok(())
    }
}

/// The errors (and warnings) that stopped loading. Displays every error.
#[derive(Debug, Clone, Default)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// Adds one diagnostic.
    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }

    /// True when at least one is an error.
    pub fn has_errors(&self) -> bool {
        self.0.iter().any(Diagnostic::is_error)
    }

    /// The errors only.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.is_error())
    }

    /// The warnings only.
    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| !d.is_error())
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for d in self.errors() {
            if !first {
                writeln!(f)?;
            }
            first = false;
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

impl From<Diagnostic> for Diagnostics {
    fn from(d: Diagnostic) -> Self {
        Diagnostics(vec![d])
    }
}

/// The nearest candidate to `word` (Jaro-Winkler similarity ≥ 0.8, or a
/// Levenshtein distance ≤ 2), for "did you mean" hints.
pub fn nearest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let mut best: Option<(&str, f64)> = None;
    for c in candidates {
        let sim = strsim::jaro_winkler(&word.to_lowercase(), &c.to_lowercase());
        let close = sim >= 0.8 || strsim::levenshtein(word, c) <= 2;
        if close && best.is_none_or(|(_, s)| sim > s) {
            best = Some((c, sim));
        }
    }
    best.map(|(c, _)| c)
}

/// Shows `path` relative to the current directory when it is inside it.
pub fn display_path(path: &Path) -> PathBuf {
    if let Ok(cwd) = std::env::current_dir() {
        if let Ok(rel) = path.strip_prefix(&cwd) {
            return rel.to_path_buf();
        }
    }
    path.to_path_buf()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_finds_typos() {
        let keys = ["description", "vars", "assert", "threshold", "metadata", "options"];
        assert_eq!(nearest("asert", keys), Some("assert"));
        assert_eq!(nearest("var", keys), Some("vars"));
        assert_eq!(nearest("descripton", keys), Some("description"));
        assert_eq!(nearest("zzzz", keys), None);
    }

    #[test]
    fn display_names_file_line_and_help() {
        let d = Diagnostic::error(
            "unknown key `asert` in a test case",
            Some(Location::at("s.yaml", 12, 5)),
        )
        .with_help("did you mean `assert`?");
        let text = d.to_string();
        assert!(text.contains("s.yaml:12:5"), "{text}");
        assert!(text.contains("did you mean `assert`?"), "{text}");
    }
}
