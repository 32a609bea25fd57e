//! The GitHub workflows and install instructions users copy: checks that
//! CI consumers and first-time users get what the docs promise.

use std::path::Path;

/// Every step of every workflow in `.github/workflows/` that uses `action`
/// (by its name before `@`): (workflow file, the step's `with:` map).
fn steps_using(action: &str) -> Vec<(String, serde_yaml::Mapping)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(".github/workflows");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "yml" && e != "yaml") {
            continue;
        }
        let doc: serde_yaml::Value = serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let Some(jobs) = doc.get("jobs").and_then(|j| j.as_mapping()) else {
            continue;
        };
        for job in jobs.values() {
            let Some(steps) = job.get("steps").and_then(|s| s.as_sequence()) else {
                continue;
            };
            for step in steps {
                let uses = step.get("uses").and_then(|u| u.as_str()).unwrap_or("");
                if uses.split('@').next() == Some(action) {
                    let with = step
                        .get("with")
                        .and_then(|w| w.as_mapping())
                        .cloned()
                        .unwrap_or_default();
                    out.push((path.file_name().unwrap().to_string_lossy().to_string(), with));
                }
            }
        }
    }
    out
}

/// Issue 11, item 12: JUnit reports published under one check name overwrite
/// each other on a pull request (the action's default is "Test Results").
#[test]
fn every_published_junit_report_has_a_check_name_of_its_own() {
    let steps = steps_using("EnricoMi/publish-unit-test-result-action");
    assert!(
        steps.len() >= 2,
        "expected the workflows to publish JUnit reports: {steps:?}"
    );
    let mut names = std::collections::BTreeMap::new();
    for (file, with) in &steps {
        let name = with
            .get("check_name")
            .and_then(|n| n.as_str())
            .unwrap_or_else(|| panic!("{file}: a publish step without `check_name` is published as \"Test Results\""));
        if let Some(other) = names.insert(name.to_string(), file.clone()) {
            panic!("{file} and {other} both publish under the check name {name:?}");
        }
    }
}

/// Issue 11, item 15: an install without `--locked` re-resolves every
/// dependency to versions CI never tested.
#[test]
fn install_instructions_use_the_lock_file() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("README.md")];
    for entry in std::fs::read_dir(root.join("docs/src")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            files.push(path);
        }
    }
    let mut seen = 0;
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            if line.contains("cargo install --path") {
                seen += 1;
                assert!(
                    line.contains("--locked"),
                    "{}:{}: `cargo install --path` without `--locked`: {line}",
                    file.display(),
                    n + 1
                );
            }
        }
    }
    assert!(seen > 0, "no install instruction found");
}
