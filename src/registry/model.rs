//! The registry's records: versions, label moves, audit entries, runs.

use std::str::FromStr;

use serde::Serialize;

use super::RegistryError;
pub use crate::result::RunVerdict;

/// One immutable prompt version.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Version {
    /// The prompt's name.
    pub prompt: String,
    /// 1, 2, 3, ... per prompt.
    pub number: u32,
    /// SHA-256 of `content`, lowercase hex (64 characters).
    pub sha256: String,
    /// The exact content.
    pub content: String,
    /// The extension of the file it was registered from (`txt`, `yaml`, ...):
    /// how the content is parsed.
    pub file_ext: String,
    /// Template variables the prompt reads, sorted.
    pub variables: Vec<String>,
    /// Tokens in the content ([`Version::tokenizer`]).
    pub token_count: u64,
    /// The tiktoken encoding counted with (`cl100k_base` unless the prompt names a model).
    pub tokenizer: String,
    /// The model a YAML prompt names.
    pub model: Option<String>,
    /// Model settings of a YAML prompt (JSON object), if any.
    pub settings: Option<serde_json::Value>,
    /// Who registered it.
    pub author: String,
    /// Notes / changelog.
    pub notes: Option<String>,
    /// When it was registered, UTC, RFC 3339.
    pub created_at: String,
    /// Labels pointing at it now (`production`, `staging`, ...).
    pub labels: Vec<String>,
}

impl Version {
    /// `name@N`.
    pub fn display(&self) -> String {
        format!("{}@{}", self.prompt, self.number)
    }
}

/// A version to register.
#[derive(Debug, Clone, PartialEq)]
pub struct NewVersion {
    /// The prompt's name.
    pub prompt: String,
    /// The exact content.
    pub content: String,
    /// SHA-256 of `content`, lowercase hex.
    pub sha256: String,
    /// The file extension the content is parsed as.
    pub file_ext: String,
    /// Template variables.
    pub variables: Vec<String>,
    /// Token count.
    pub token_count: u64,
    /// Tokenizer name.
    pub tokenizer: String,
    /// Model named by the prompt.
    pub model: Option<String>,
    /// Model settings (JSON object).
    pub settings: Option<serde_json::Value>,
    /// Author.
    pub author: String,
    /// Notes.
    pub notes: Option<String>,
}

/// A label move to store (with its audit entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelMove {
    /// The prompt.
    pub prompt: String,
    /// The label.
    pub label: String,
    /// The version number it moves to.
    pub to_version: u32,
    /// Who moves it.
    pub actor: String,
    /// `activate`, `promote`, `force` or `rollback`.
    pub action: String,
    /// The run that justified the move, if any.
    pub run_id: Option<i64>,
    /// Why (required for `force`).
    pub reason: Option<String>,
}

/// One row of the append-only audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    /// Sequence number.
    pub id: i64,
    /// When, UTC, RFC 3339.
    pub at: String,
    /// Who.
    pub actor: String,
    /// `activate`, `promote`, `force`, `rollback`, `run`.
    pub action: String,
    /// The prompt.
    pub prompt: String,
    /// The label moved (none for `run`).
    pub label: Option<String>,
    /// The version the label pointed at before.
    pub from_version: Option<u32>,
    /// The version it points at now (for `run`: the version tested).
    pub to_version: Option<u32>,
    /// The run involved.
    pub run_id: Option<i64>,
    /// Why (forced moves, rollbacks), or the run's verdict.
    pub reason: Option<String>,
}

/// A suite file a run covered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunSuite {
    /// The suite's name.
    pub name: String,
    /// The file.
    pub file: String,
    /// SHA-256 of the file's bytes.
    pub sha256: String,
    /// The prompts it tests.
    pub prompts: Vec<String>,
}

/// One case of a recorded run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunCase {
    /// `suite::test`.
    pub name: String,
    /// The suite.
    pub suite: String,
    /// The prompt's name.
    pub prompt: String,
    /// Full SHA-256 of the prompt content.
    pub prompt_sha256: String,
    /// The provider.
    pub provider: String,
    /// The case's verdict.
    pub verdict: crate::result::Verdict,
    /// Weighted score in [0, 1].
    pub score: f64,
    /// Named metrics.
    pub metrics: serde_json::Value,
}

/// A run to record.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRun {
    /// Start, UTC, RFC 3339.
    pub started_at: String,
    /// Who ran it.
    pub actor: String,
    /// The command line.
    pub command: String,
    /// The verdict.
    pub verdict: RunVerdict,
    /// Case counts: passed, failed, errored, skipped.
    pub counts: [u64; 4],
    /// True when `--filter` selected a subset: such a run never justifies an activation.
    pub filtered: bool,
    /// Aggregate metrics (the run summary's, JSON).
    pub metrics: serde_json::Value,
    /// Prompt versions covered: (prompt, full SHA-256); each must be registered.
    pub versions: Vec<(String, String)>,
    /// Suites covered.
    pub suites: Vec<RunSuite>,
    /// Every case.
    pub cases: Vec<RunCase>,
}

/// A recorded run as seen from one prompt version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunRecord {
    /// Run id.
    pub id: i64,
    /// Start, UTC, RFC 3339.
    pub started_at: String,
    /// The run's verdict.
    pub verdict: RunVerdict,
    /// Whether `--filter` selected a subset.
    pub filtered: bool,
    /// Suites the run covered that test this prompt.
    pub suites: Vec<String>,
    /// SHA-256 of each of those suite files (same order as `suites`).
    pub suite_hashes: Vec<String>,
}

impl RunRecord {
    /// A complete (unfiltered) passing run.
    pub fn counts_as_pass(&self) -> bool {
        self.verdict == RunVerdict::Pass && !self.filtered
    }
}

/// Which version of a prompt: a number, a label or a hash prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// `@3` or `@v3`.
    Number(u32),
    /// `@production`, `@staging`, ...
    Label(String),
    /// `@sha:1a2b3c` (at least 4 hex digits).
    Hash(String),
}

/// `NAME`, `NAME@V`, `NAME@LABEL` or `NAME@sha:PREFIX`; a bare NAME means `@production`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionRef {
    /// The prompt.
    pub prompt: String,
    /// Which version.
    pub selector: Selector,
}

impl VersionRef {
    /// Parses a reference; a bare NAME selects `default_label`.
    ///
    /// # Errors
    /// An empty name, nothing after `@`, or a short hash prefix.
    pub fn parse_with_default(s: &str, default_label: &str) -> Result<VersionRef, RegistryError> {
        let (name, sel) = match s.split_once('@') {
            Some((n, v)) => (n, Some(v)),
            None => (s, None),
        };
        if name.trim().is_empty() {
            return Err(RegistryError::Invalid(format!(
                "`{s}`: expected NAME, NAME@VERSION or NAME@LABEL (e.g. rag_system@2, rag_system@production)"
            )));
        }
        let selector = match sel.map(str::trim) {
            None => Selector::Label(default_label.to_string()),
            Some("") => {
                return Err(RegistryError::Invalid(format!(
                    "`{s}`: nothing after `@`; give a version number or a label"
                )))
            }
            Some(v) => {
                let digits = v
                    .strip_prefix('v')
                    .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()));
                if let Some(n) = digits.or(Some(v).filter(|d| d.bytes().all(|b| b.is_ascii_digit()))) {
                    let n: u32 = n
                        .parse()
                        .map_err(|_| RegistryError::Invalid(format!("`{s}`: version number out of range")))?;
                    Selector::Number(n)
                } else if let Some(h) = v.strip_prefix("sha:") {
                    if h.len() < 4 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
                        return Err(RegistryError::Invalid(format!(
                            "`{s}`: a hash prefix is at least 4 hex digits (sha:1a2b3c)"
                        )));
                    }
                    Selector::Hash(h.to_ascii_lowercase())
                } else {
                    Selector::Label(v.to_string())
                }
            }
        };
        Ok(VersionRef {
            prompt: name.trim().to_string(),
            selector,
        })
    }
}

impl FromStr for VersionRef {
    type Err = RegistryError;
    /// Parses with `production` as the default label.
    fn from_str(s: &str) -> Result<Self, RegistryError> {
        VersionRef::parse_with_default(s, super::PRODUCTION)
    }
}
