//! Suites: test cases for prompts, in a compatible subset of promptfoo's
//! YAML config (<https://www.promptfoo.dev/docs/configuration/reference/>).
//!
//! ```yaml
//! description: RAG grounding
//! prompts: [rag_system]                  # names in prompts/, file://paths or inline text
//! providers:
//!   - id: openai:chat:gpt-4o-mini
//!     config: {temperature: 0, max_tokens: 300}
//! defaultTest:                           # merged into every test
//!   metadata: {category: happy_path}
//! tests:                                 # or: tests: file://cases.csv|.yaml|.jsonl
//!   - description: uses the fact from the context
//!     vars: {context: file://docs/mempool.md, query: How is the mempool set up?}
//!     assert:
//!       - type: contains
//!         value: rte_mempool_create
//! ```
//!
//! Loading validates everything up front: an unknown key is an error naming
//! the file, line, column and the nearest valid key; a promptfoo key that
//! promptgate does not implement is a one-line warning.
//!
//! Loading runs in phases, one module each: `load` finds the suite files;
//! `suite_file` parses one into the raw model (`raw`, located by `context`)
//! and resolves its references (`refs`: prompts and providers;
//! `vars_asserts`: variables and assertions; `cases`: cases files);
//! `validate` merges `defaultTest` into each test case and checks the result.

mod cases;
mod context;
mod load;
mod raw;
mod refs;
mod suite_file;
mod validate;
mod vars_asserts;

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{Map, Value};

pub use crate::provider::ProviderSpec;
pub use load::{discover, load, LoadOptions, Project};

use crate::assertion::Assertion;
use crate::prompt::Prompt;

/// One test case, with `defaultTest` merged in.
#[derive(Debug, Clone)]
pub struct TestCase {
    /// Unique name within the suite: the description as an identifier
    /// (`declines_when_context_empty`), else `test_N`.
    pub name: String,
    /// The description as written.
    pub description: Option<String>,
    /// Variables (`file://` values already read). Shared with every result
    /// of the test, so that big documents are not copied per case.
    pub vars: Arc<Map<String, Value>>,
    /// Assertions: `defaultTest`'s first, then the test's own.
    pub assertions: Vec<Assertion>,
    /// Weighted-score threshold (pass = score ≥ threshold).
    pub threshold: Option<f64>,
    /// With `--repeat N`: the share of runs, in [0, 1], that must pass for the
    /// case to pass (the test's, else `defaultTest`'s; unset = `--min-pass-rate`, default 1).
    pub min_pass_rate: Option<f64>,
    /// Free metadata (the suite's, `defaultTest`'s, the test's own); `category`
    /// is reported on. Shared by the tests that add none of their own.
    pub metadata: Arc<Map<String, Value>>,
    /// File the test is written in (the suite or a cases file), shared by
    /// the tests of that file.
    pub file: Arc<std::path::Path>,
    /// 1-based line of the test in `file`.
    pub line: Option<usize>,
}

impl TestCase {
    /// `metadata.category`, when it is a string.
    pub fn category(&self) -> Option<&str> {
        self.metadata.get("category").and_then(Value::as_str)
    }
}

/// A loaded, validated suite.
#[derive(Debug, Clone)]
pub struct Suite {
    /// Name used in case names (the file stem, made unique).
    pub name: String,
    /// The suite file.
    pub file: PathBuf,
    /// `description`.
    pub description: Option<String>,
    /// Prompts under test.
    pub prompts: Vec<Arc<Prompt>>,
    /// Providers to run against.
    pub providers: Vec<ProviderSpec>,
    /// Test cases.
    pub tests: Vec<Arc<TestCase>>,
    /// Suite-level `thresholds`, checked per prompt × provider after its cases ran.
    pub thresholds: Option<crate::analysis::thresholds::SuiteThresholds>,
    /// `gate.alpha`: the significance level of the registry gate's comparison
    /// for this suite, in (0, 1) (default: `[registry] alpha`).
    pub gate_alpha: Option<f64>,
}

/// Turns a description into an identifier: lowercase ASCII letters, digits
/// and `_`, at most 64 characters.
pub fn slug(text: &str) -> String {
    let mut out = String::new();
    let mut gap = false;
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            if gap && !out.is_empty() {
                out.push('_');
            }
            gap = false;
            out.push(c.to_ascii_lowercase());
        } else {
            gap = true;
        }
        if out.len() >= 64 {
            break;
        }
    }
    out.truncate(64);
    out.trim_end_matches('_').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_identifiers() {
        assert_eq!(
            slug("Declines when context is empty!"),
            "declines_when_context_is_empty"
        );
        assert_eq!(slug("  JSON -> output  "), "json_output");
        assert_eq!(slug("!!!"), "");
        assert!(slug(&"a b ".repeat(100)).len() <= 64);
    }
}
