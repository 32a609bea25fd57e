//! The JSON report's schema: the committed `docs/src/reference/report.schema.json`
//! is the one generated from the types (`promptgate::report::json::schema`),
//! and the reports the binary writes for the example suites validate against
//! it, every field described (`additionalProperties: false`).
//!
//! After changing a type of the report, regenerate the file with
//! `UPDATE_SCHEMA=1 cargo test --test report_schema` and review the diff.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

/// The committed schema, relative to the crate.
const SCHEMA_FILE: &str = "docs/src/reference/report.schema.json";

/// The generated schema, as committed: pretty-printed, with a final newline.
fn generated_text() -> String {
    let mut text = serde_json::to_string_pretty(&promptgate::report::json::schema()).expect("the schema serializes");
    text.push('\n');
    text
}

fn schema_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(SCHEMA_FILE)
}

#[test]
fn committed_schema_is_the_generated_one() {
    let generated = generated_text();
    let path = schema_path();
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::create_dir_all(path.parent().expect("a parent folder")).expect("create docs/src/reference");
        std::fs::write(&path, &generated).expect("write the schema");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{SCHEMA_FILE} is not the schema generated from the report's types: \
         run `UPDATE_SCHEMA=1 cargo test --test report_schema` and review the diff"
    );
}

/// The generated schema, compiled.
fn validator() -> jsonschema::Validator {
    jsonschema::validator_for(&promptgate::report::json::schema()).expect("the schema compiles")
}

/// Every way `report` breaks the schema, one line each.
fn violations(validator: &jsonschema::Validator, report: &Value) -> Vec<String> {
    validator
        .iter_errors(report)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

/// `promptgate test suites/ ARGS --json <tmp>` on the example project (answers
/// replayed from its recordings); returns the report it wrote.
fn report_of(args: &[&str], expected_exit: i32) -> Value {
    let tmp = tempfile::tempdir().expect("a temporary folder");
    let json = tmp.path().join("report.json");
    let out = Command::cargo_bin("promptgate")
        .expect("the promptgate binary")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("CI", "true")
        .env("NO_COLOR", "1")
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_STEP_SUMMARY")
        .env_remove("CLICOLOR_FORCE")
        .args(["test", "suites/"])
        .args(args)
        .arg("--junit")
        .arg(tmp.path().join("junit.xml"))
        .arg("--json")
        .arg(&json)
        .output()
        .expect("promptgate runs");
    assert_eq!(
        out.status.code(),
        Some(expected_exit),
        "promptgate test suites/ {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&json).expect("the JSON report was written");
    serde_json::from_str(&text).expect("the JSON report parses")
}

fn assert_valid(report: &Value, what: &str) {
    let errors = violations(&validator(), report);
    assert!(
        errors.is_empty(),
        "{what}: the report breaks the schema:\n{}",
        errors.join("\n")
    );
}

#[test]
fn report_of_the_example_suites_validates() {
    let report = report_of(&[], 0);
    assert!(!report["cases"].as_array().expect("cases").is_empty());
    assert!(!report["thresholds"].as_array().expect("thresholds").is_empty());
    assert_valid(&report, "the passing run");
}

#[test]
fn report_of_a_failing_sharded_repeated_run_validates() {
    // The v2 candidate fails the grounding case; a shard and repeats add
    // `shard` and each case's `repeats`.
    let report = report_of(
        &[
            "--prompt",
            "rag_system=prompts/rag_system.v2.txt",
            "--shard",
            "1/1",
            "--repeat",
            "2",
        ],
        1,
    );
    assert_eq!(report["shard"]["total"], 1);
    assert!(report["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .any(|c| c.get("repeats").is_some()));
    assert_valid(&report, "the failing run");
}

#[test]
fn unknown_or_missing_fields_do_not_validate() {
    let validator = validator();
    let report = report_of(&[], 0);

    let mut unknown_top = report.clone();
    unknown_top["surprise"] = Value::Bool(true);
    assert!(
        !violations(&validator, &unknown_top).is_empty(),
        "an unknown top-level field validates"
    );

    let mut unknown_in_case = report.clone();
    unknown_in_case["cases"][0]["surprise"] = Value::Bool(true);
    assert!(
        !violations(&validator, &unknown_in_case).is_empty(),
        "an unknown case field validates"
    );

    let mut unknown_in_summary = report.clone();
    unknown_in_summary["summary"]["surprise"] = Value::from(1);
    assert!(
        !violations(&validator, &unknown_in_summary).is_empty(),
        "an unknown summary field validates"
    );

    let mut missing = report.clone();
    missing.as_object_mut().expect("an object").remove("summary");
    assert!(
        !violations(&validator, &missing).is_empty(),
        "a report without a summary validates"
    );

    let mut wrong_version = report;
    wrong_version["version"] = Value::from(2);
    assert!(
        !violations(&validator, &wrong_version).is_empty(),
        "version 2 validates"
    );
}
