//! JSON report, streamed: memory does not grow with the outputs.
//!
//! # Format (version 1)
//!
//! One JSON document; each case sits on a line of its own, so the file can also
//! be read line by line:
//!
//! ```text
//! {"version":1,"started_at":"2025-01-31T10:00:00.123+01:00","plan_digest":"…","cases":[
//! {"index":0,"name":"suite::test",...},
//! {"index":2,"name":"suite::other",...}
//! ],"thresholds":[...],"summary":{"passed":1,"failed":1,"errored":0,"skipped":0,"duration_ms":1234,...}}
//! ```
//!
//! The fields are those of [`JsonReport`]; its JSON Schema ([`schema`]),
//! generated from the types and their docs, is committed as
//! `docs/src/reference/report.schema.json` and a test keeps it current and
//! checks real reports against it. In short:
//!
//! - `version`: this format's version, [`FORMAT_VERSION`].
//! - `started_at`: RFC 3339 local time the run started.
//! - `shard` (only with `--shard I/N`): `{"index": I, "total": N}`.
//! - `plan_digest`: SHA-256 (hex) of the plan before sharding: every shard
//!   of one split has the same.
//! - `cases`: one [`CaseResult`] per case in **completion order** (sort by
//!   `index` for plan order), with its assertions (and their grader calls
//!   and claims), tokens, cost, cache use and, under `--repeat N`, its runs.
//! - `thresholds`: one [`ThresholdOutcome`] per suite × prompt × provider
//!   whose suite sets `thresholds`, with the suite's bounds as written (so
//!   merged shards can be checked again).
//! - `summary`: the [`RunSummary`]: counts, wall time, named metrics, cache
//!   use, costs by suite and provider, threshold counts.
//!
//! Optional fields are left out when unset (the schema lists which are
//! always written).
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
use schemars::generate::SchemaSettings;
use schemars::transform::RecursiveTransform;
use schemars::JsonSchema;
use serde::Deserialize;
use tempfile::NamedTempFile;

use crate::analysis::thresholds::ThresholdOutcome;
use crate::report::Event;
use crate::report::Reporter;
use crate::result::{CaseResult, RunSummary};
use crate::settings::Shard;

/// The `version` field of the reports this module writes.
pub const FORMAT_VERSION: u32 = 1;

/// A JSON report (`promptgate test --json PATH`), format version 1: what
/// [`JsonReporter`] writes and `promptgate report merge` reads back.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct JsonReport {
    /// The format's version: 1.
    #[schemars(extend("const" = FORMAT_VERSION))]
    pub version: u32,
    /// When the run started: RFC 3339, local time with its offset. Always
    /// written; a report without it is still read.
    #[schemars(with = "String", extend("format" = "date-time"))]
    pub started_at: Option<String>,
    /// `--shard I/N` of the run that wrote it; absent when not sharded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<Shard>,
    /// SHA-256 (hex) of the run's plan before sharding: every shard of one
    /// split has the same. Absent in reports written before promptgate
    /// recorded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_digest: Option<String>,
    /// Every case, in completion order (sort by `index` for plan order).
    pub cases: Vec<CaseResult>,
    /// The suite thresholds checked by the run, with their bounds.
    #[serde(default)]
    pub thresholds: Vec<ThresholdOutcome>,
    /// The run's counts, wall time, metrics, cache use and costs.
    pub summary: RunSummary,
}

/// The JSON Schema (draft 2020-12) of [`JsonReport`] as written, generated
/// from the types and their doc comments. Fields left out when unset are
/// optional, every other field is required, and objects admit no field the
/// schema does not list (`additionalProperties: false`), so a field added to
/// the report without its schema fails validation.
pub fn schema() -> serde_json::Value {
    SchemaSettings::draft2020_12()
        .for_serialize()
        .with_transform(RecursiveTransform(tidy as fn(&mut schemars::Schema)))
        .into_generator()
        .into_root_schema_for::<JsonReport>()
        .to_value()
}

/// Closes an object schema with `properties` that does not say otherwise
/// (`additionalProperties: false`; maps keep their value schemas), and turns
/// the rustdoc links of a description (``[`x`]``) into plain code (`` `x` ``).
fn tidy(schema: &mut schemars::Schema) {
    let Some(object) = schema.as_object_mut() else { return };
    if object.contains_key("properties") && !object.contains_key("additionalProperties") {
        object.insert("additionalProperties".into(), false.into());
    }
    if let Some(serde_json::Value::String(text)) = object.get_mut("description") {
        *text = text.replace("[`", "`").replace("`]", "`");
    }
}

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
    thresholds: Vec<std::sync::Arc<ThresholdOutcome>>,
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
        shard: Option<Shard>,
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
        let report: JsonReport = serde_json::from_value(v).unwrap();
        assert_eq!(report.version, FORMAT_VERSION);
        assert!(report.started_at.is_some());
    }

    #[test]
    fn a_report_without_the_optional_fields_is_read() {
        let text = r#"{"version":1,"cases":[],"summary":{"passed":0,"failed":0,"errored":0,"skipped":0,"duration_ms":0,"metrics":{}}}"#;
        let report: JsonReport = serde_json::from_str(text).unwrap();
        assert!(report.started_at.is_none() && report.plan_digest.is_none() && report.thresholds.is_empty());
    }

    #[test]
    fn schema_closes_objects_but_not_maps() {
        let schema = schema();
        assert!(!schema.to_string().contains("[`"), "a rustdoc link in a description");
        assert_eq!(schema["additionalProperties"], false);
        assert_eq!(schema["$defs"]["CaseResult"]["additionalProperties"], false);
        assert_eq!(
            schema["$defs"]["CaseResult"]["properties"]["metrics"]["additionalProperties"]["type"],
            "number"
        );
    }
}
