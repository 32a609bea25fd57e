//! Snapshot of the console report (libtest style) for the v2 candidate,
//! which fails the grounding case: the per-case lines, the failure block and
//! the summaries. `-j 1` makes the completion order the plan order; the
//! timing is redacted. Update with `INSTA_UPDATE=always cargo test --test console_snapshot`
//! and review the diff.

use assert_cmd::Command;

#[test]
fn console_report_of_a_failing_candidate() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::cargo_bin("promptgate")
        .unwrap()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("CI", "true")
        .env("NO_COLOR", "1")
        .env_remove("GITHUB_ACTIONS")
        .env_remove("CLICOLOR_FORCE")
        .args([
            "test",
            "suites/",
            "-j",
            "1",
            "--prompt",
            "rag_system=prompts/rag_system.v2.txt",
            "--junit",
        ])
        .arg(tmp.path().join("junit.xml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let redacted = regex::Regex::new(r"finished in \d+\.\d+s")
        .unwrap()
        .replace_all(&stdout, "finished in [time]");
    insta::assert_snapshot!(redacted);
}
