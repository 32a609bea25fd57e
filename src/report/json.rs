//! JSON report, streamed: memory does not grow with the outputs.
//!
//! # Format (version 1)
//!
//! One JSON document; each case sits on a line of its own, so the file can also
//! be read line by line:
//!
//! ```text
//! {"version":1,"started_at":"2025-01-31T10:00:00.123+01:00","cases":[
//! {"index":0,"name":"suite::test",...},
//! {"index":2,"name":"suite::other",...}
//! ],"thresholds":[...],"summary":{"passed":1,"failed":1,"errored":0,"skipped":0,"duration_ms":1234}}
//! ```
//!
//! - `version`: this format's version, `1`.
//! - `started_at`: RFC 3339 local time the run started.
//! - `shard` (only with `--shard I/N`): `{"index": I, "total": N}`.
//! - `plan_digest`: SHA-256 (hex) of the plan before sharding
//!   (`runner::Plan::digest`): every shard of one split has the same.
//! - `cases`: one object per case in **completion order** (sort by `index` for
//!   plan order), with the fields of [`CaseResult`]: `index`, `name`, `suite`,
//!   `suite_file`, `line`, `test_file`, `description`, `prompt`, `prompt_hash`,
//!   `provider`, `category`, `vars`, `verdict` (`pass` | `fail` | `error` |
//!   `skipped`), `score`, `threshold`, `metrics`, `assertions` (each `type`,
//!   `expected`, `pass`, `score`, `weight`, `metric`, `reason`, `error`, `line`,
//!   `file`),
//!   `file`, and for model-graded types `grader`: `calls` (each `step`,
//!   `provider`, `latency_ms`, `tokens`, `replayed`, `cached`, `attempts`,
//!   `cost_usd`, `error`), `over_budget`, `claims` (each
//!   `claim`, `supported`, `reason`), `raw_reply`),
//!   `output`, `error`, `latency_ms`, `tokens` (`input`, `output`,
//!   `cached_input`), `finish_reason`, `cost_usd`, `replayed`, `duration_ms`.
//!   Optional fields are left out when unset.
//! - `thresholds`: one object per suite × prompt × provider whose suite sets
//!   `thresholds` ([`crate::analysis::thresholds::ThresholdOutcome`]): `suite`,
//!   `suite_file`, `line`, `prompt`, `prompt_hash`, `provider`, `verdict`,
//!   `checks` (each `name`, `measured`, `threshold`, `cases`, `pass`),
//!   `error`, `stats`, and `bounds` (the suite's `thresholds` as written, so
//!   merged shards can be checked again).
//! - `summary`: the [`RunSummary`] counts, the run's wall time and `metrics`
//!   (each named metric's `count`, `mean`, `min`, `max` over the cases that
//!   reached a verdict), `cached_answers` / `sent_answers` (answers of cases
//!   and graders, every `--repeat` run), `cost_by_suite` / `cost_by_provider`
//!   (USD of the calls sent, graders included), `saved_usd`, and
//!   `unpriced_sent` / `unpriced_cached` (answers of models without a price,
//!   left out of those amounts).
//!
//! # Atomicity
//!
//! On `RunStarted` the reporter opens a temporary file beside the target (in the
//! same directory, created if missing) and appends to it as cases finish; on
//! `RunFinished` it completes the document and renames the temporary file over
//! the target. Until then the target is untouched, so a killed run never leaves
//! a half-written report (a reporter dropped before `RunFinished` deletes its
//! temporary file).

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Local};
use tempfile::NamedTempFile;

use crate::report::Event;
use crate::report::Reporter;
use crate::result::{CaseResult, RunSummary};

/// The `version` field of the reports this module writes.
pub const FORMAT_VERSION: u32 = 1;

/// Streams a JSON report into a temporary file and persists it on `RunFinished`.
#[derive(Debug)]
pub struct JsonReporter {
    path: PathBuf,
    /// The open temporary file, between `RunStarted` and `RunFinished`.
    out: Option<BufWriter<NamedTempFile>>,
    /// Cases written so far (for the separating commas).
    written: usize,
    /// Set after the first write error: the report is abandoned (reported once).
    failed: bool,
    /// Checked suite thresholds, written before the summary.
    thresholds: Vec<std::sync::Arc<crate::analysis::thresholds::ThresholdOutcome>>,
}

impl JsonReporter {
    /// A reporter that will write to `path`.
    ///
    /// # Errors
    /// When `path` names an existing directory or has no file name.
    pub fn new(path: PathBuf) -> io::Result<Self> {
        crate::util::fs::check_writable(&path)?;
        Ok(Self {
            path,
            out: None,
            written: 0,
            failed: false,
            thresholds: Vec::new(),
        })
    }

    /// Opens the temporary file and writes the document's head.
    fn start(
        &mut self,
        started_at: DateTime<Local>,
        shard: Option<crate::settings::Shard>,
        plan_digest: Option<&str>,
    ) -> io::Result<()> {
        let parent = parent_dir(&self.path);
        std::fs::create_dir_all(&parent).map_err(|e| with_path(e, "cannot create", &parent))?;
        let tmp = NamedTempFile::new_in(&parent).map_err(|e| with_path(e, "cannot write in", &parent))?;
        crate::util::fs::readable_by_all(tmp.as_file())?;
        let mut out = BufWriter::new(tmp);
        let started_at = serde_json::to_string(&started_at.to_rfc3339()).map_err(io::Error::other)?;
        let shard = match shard {
            Some(s) => format!(",\"shard\":{{\"index\":{},\"total\":{}}}", s.index, s.total),
            None => String::new(),
        };
        let digest = match plan_digest {
            Some(d) => format!(
                ",\"plan_digest\":{}",
                serde_json::to_string(d).map_err(io::Error::other)?
            ),
            None => String::new(),
        };
        write!(
            out,
            "{{\"version\":{FORMAT_VERSION},\"started_at\":{started_at}{shard}{digest},\"cases\":["
        )
        .map_err(|e| self.write_error(e))?;
        self.out = Some(out);
        self.written = 0;
        Ok(())
    }

    fn case(&mut self, case: &CaseResult) -> io::Result<()> {
        if self.out.is_none() {
            // No RunStarted (a caller feeding events by hand): start now.
            self.start(Local::now(), None, None)?;
        }
        let line = serde_json::to_string(case).map_err(io::Error::other)?;
        let separator = if self.written == 0 { "\n" } else { ",\n" };
        let result = match self.out.as_mut() {
            Some(out) => out
                .write_all(separator.as_bytes())
                .and_then(|()| out.write_all(line.as_bytes())),
            None => Ok(()),
        };
        result.map_err(|e| self.write_error(e))?;
        self.written += 1;
        Ok(())
    }

    fn finish(&mut self, summary: &RunSummary) -> io::Result<()> {
        if self.out.is_none() {
            self.start(Local::now(), None, None)?;
        }
        let Some(mut out) = self.out.take() else {
            return Ok(());
        };
        let summary = serde_json::to_string(summary).map_err(io::Error::other)?;
        let thresholds = serde_json::to_string(&self.thresholds).map_err(io::Error::other)?;
        write!(out, "\n],\"thresholds\":{thresholds},\"summary\":{summary}}}\n").map_err(|e| self.write_error(e))?;
        let tmp = out.into_inner().map_err(|e| self.write_error(e.into_error()))?;
        tmp.as_file().sync_all().map_err(|e| self.write_error(e))?;
        tmp.persist(&self.path)
            .map_err(|e| with_path(e.error, "cannot write", &self.path))?;
        Ok(())
    }

    fn write_error(&self, e: io::Error) -> io::Error {
        with_path(e, "cannot write", &self.path)
    }
}

impl Reporter for JsonReporter {
    fn on_event(&mut self, event: &Event) -> io::Result<()> {
        if self.failed {
            return Ok(());
        }
        let result = match event {
            Event::RunStarted(info) => self.start(info.started_at, info.shard, info.plan_digest.as_deref()),
            Event::CaseFinished(case) => self.case(case),
            Event::ThresholdsChecked(t) => {
                self.thresholds.push(t.clone());
                Ok(())
            }
            Event::RunFinished(summary) => self.finish(summary),
            Event::Warning(_) | Event::Interrupted | Event::Aborted { .. } => Ok(()),
        };
        if result.is_err() {
            // One error per report, not one per case; the temporary file is dropped.
            self.failed = true;
            self.out = None;
        }
        result
    }
}

/// The directory the report (and its temporary file) goes in.
fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn with_path(e: io::Error, what: &str, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        assert!(JsonReporter::new(dir.path().to_path_buf()).is_err());
    }

    #[test]
    fn finish_without_start_writes_an_empty_report() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/report.json");
        let mut r = JsonReporter::new(path.clone()).unwrap();
        r.on_event(&Event::RunFinished(RunSummary::default())).unwrap();
        let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(v["version"], 1);
        assert_eq!(v["cases"].as_array().map(Vec::len), Some(0));
        assert_eq!(v["summary"]["passed"], 0);
    }
}
