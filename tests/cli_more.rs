//! More CLI tests: mistakes a new user makes, verdict rules, config
//! precedence and suite forms. Every run is local (`echo`, `exec:`).

use std::path::{Path, PathBuf};

use assert_cmd::Command;

struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn new() -> Self {
        let p = Project {
            dir: tempfile::tempdir().expect("a temporary folder"),
        };
        p.write("prompts/greet.txt", "Answer: {{ query }}");
        p
    }

    fn join(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn write(&self, rel: &str, text: &str) {
        let path = self.join(rel);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }

    /// Runs `promptgate test ARGS` here; returns (exit code, stdout, stderr).
    fn run(&self, args: &[&str]) -> (Option<i32>, String, String) {
        let out = Command::cargo_bin("promptgate")
            .expect("the binary")
            .current_dir(self.dir.path())
            .env("CI", "true")
            .env("NO_COLOR", "1")
            .env_remove("GITHUB_ACTIONS")
            .env_remove("GITHUB_STEP_SUMMARY")
            .env_remove("OPENAI_API_KEY")
            .arg("test")
            .args(args)
            .output()
            .expect("run promptgate");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

#[test]
fn a_prompt_named_with_its_extension_is_a_file_not_inline_text() {
    let p = Project::new();
    p.write("s.yaml", "prompts: [greet.txt]\nproviders: [echo]\ntests:\n  - vars: {query: hi}\n    assert: [{type: contains, value: 'Answer: hi'}]\n");
    let (code, out, err) = p.run(&["s.yaml"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("[greet@"), "{out}");
    p.write("s.yaml", "prompts: [greter.txt]\nproviders: [echo]\ntests:\n  - vars: {query: hi}\n    assert: [{type: contains, value: hi}]\n");
    let (code, _, err) = p.run(&["s.yaml"]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("prompt file `greter.txt` not found") && err.contains("s.yaml:1"),
        "{err}"
    );
}

#[test]
fn assert_indented_under_vars_and_unquoted_templates_are_errors_with_a_fix() {
    let p = Project::new();
    p.write("s.yaml", "prompts: [greet]\nproviders: [echo]\ntests:\n  - vars:\n      query: hi\n      assert:\n        - type: contains\n          value: hi\n");
    let (code, _, err) = p.run(&["s.yaml"]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("`vars` has a key `assert`") && err.contains("indent `assert:`"),
        "{err}"
    );
    p.write("s.yaml", "prompts: [greet]\nproviders: [echo]\ntests:\n  - vars: {query: hi}\n    assert:\n      - type: contains\n        value: {{ query }}\n");
    let (code, _, err) = p.run(&["s.yaml"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("quote templates") && err.contains("s.yaml:7"), "{err}");
}

#[test]
fn a_failed_assertion_beside_an_errored_one_is_a_failure_without_threshold_and_an_error_with_one() {
    let p = Project::new();
    let suite = |threshold: &str| {
        format!("prompts: [greet]\nproviders: [echo]\ntests:\n  - vars: {{query: hi}}\n{threshold}    assert:\n      - type: contains\n        value: ZZZ\n      - type: cost\n        threshold: 0.01\n")
    };
    p.write("s.yaml", &suite(""));
    // `echo` has no price, so the `cost` assertion cannot be evaluated.
    let (code, out, _) = p.run(&["s.yaml"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("0 passed; 1 failed (1 assertion in them could not be evaluated); 0 errored"),
        "{out}"
    );
    p.write("s.yaml", &suite("    threshold: 0.5\n"));
    let (code, out, _) = p.run(&["s.yaml"]);
    assert_eq!(code, Some(3), "{out}");
    assert!(out.contains("0 passed; 0 failed; 1 errored"), "{out}");
}

#[test]
fn jobs_1_runs_in_plan_order_across_providers() {
    let p = Project::new();
    let mut suite = "prompts: [greet]\nproviders:\n  - echo\n  - {id: echo, label: echo-two}\ntests:\n".to_string();
    for i in 0..6 {
        suite.push_str(&format!(
            "  - vars: {{query: q{i}}}\n    assert: [{{type: contains, value: q{i}}}]\n"
        ));
    }
    p.write("s.yaml", &suite);
    let (_, listed, _) = p.run(&["s.yaml", "--list"]);
    let planned: Vec<&str> = listed.lines().filter_map(|l| l.strip_suffix(": case")).collect();
    assert_eq!(planned.len(), 12);
    for _ in 0..3 {
        let (code, out, _) = p.run(&["s.yaml", "-j", "1"]);
        assert_eq!(code, Some(0));
        let ran: Vec<&str> = out
            .lines()
            .filter_map(|l| l.strip_prefix("test ").and_then(|l| l.strip_suffix(" ... ok")))
            .collect();
        assert_eq!(ran, planned);
    }
}

#[test]
fn a_file_path_written_relative_to_the_working_dir_gets_a_hint() {
    let p = Project::new();
    p.write("data/cases.csv", "query,__expected\nhi,contains:hi\n");
    p.write(
        "suites/s.yaml",
        "prompts: [greet]\nproviders: [echo]\ntests: file://data/cases.csv\n",
    );
    let (code, _, err) = p.run(&["suites"]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("cases file not found") && err.contains("relative to the file that holds them"),
        "{err}"
    );
    p.write(
        "suites/s.yaml",
        "prompts: [greet]\nproviders: [echo]\ntests: file://../data/cases.csv\n",
    );
    assert_eq!(p.run(&["suites"]).0, Some(0));
}

#[test]
fn skipped_cases_are_not_in_the_pass_rate() {
    let p = Project::new();
    p.write(
        "s.yaml",
        "prompts: [greet]\nproviders: [echo]\ntests:\n  - vars: {query: a}\n    assert: [{type: contains, value: ZZZ}]\n  - vars: {query: b}\n    assert: [{type: contains, value: b}]\n",
    );
    let (code, out, _) = p.run(&["s.yaml", "-j", "1", "--fail-fast"]);
    assert_eq!(code, Some(1));
    assert!(out.contains("0 passed; 1 failed; 0 errored; 1 skipped"), "{out}");
    assert!(out.contains("0/1 "), "the skipped case is not counted: {out}");
}

#[test]
fn config_file_settings_and_flag_precedence() {
    let p = Project::new();
    std::fs::rename(p.join("prompts"), p.join("my_prompts")).unwrap();
    p.write("answer.sh", "#!/bin/sh\ncat\n");
    p.write(
        "s.yaml",
        "prompts: [greet]\nproviders: ['exec: sh answer.sh']\ntests:\n  - vars: {query: hi}\n    assert: [{type: contains, value: hi}]\n",
    );
    std::fs::create_dir_all(p.join("recs")).unwrap();
    p.write(
        "promptgate.toml",
        "[test]\nprompts_dir = \"my_prompts\"\nreplay = \"recs\"\njunit = \"out/j.xml\"\n",
    );
    // The config's replay folder is empty: the exec call was never recorded.
    let (code, out, _) = p.run(&["s.yaml"]);
    assert_eq!(code, Some(3), "{out}");
    assert!(out.contains("no recording"), "{out}");
    // --live overrides the config; the config's junit path is used.
    let (code, out, err) = p.run(&["s.yaml", "--live"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(p.join("out/j.xml").is_file());
    // --prompts-dir overrides prompts_dir.
    let (code, _, err) = p.run(&["s.yaml", "--live", "--prompts-dir", "nowhere"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("prompt `greet` not found"), "{err}");
    // --config names another file.
    p.write("other.toml", "[test]\nprompts_dir = \"my_prompts\"\n");
    assert_eq!(p.run(&["s.yaml", "--config", "other.toml"]).0, Some(0));
}

#[test]
fn suite_forms_prompt_objects_targets_csv_columns_and_default_test_merge() {
    let p = Project::new();
    p.write(
        "cases.csv",
        "query,__expected1,__expected2,__threshold,__metric,__description\nhi there,contains:hi,contains:ZZZ,0.5,words,half of it\n",
    );
    p.write(
        "s.yaml",
        "prompts:\n  - {id: greet, label: g}\n  - {raw: 'Raw {{ query }}'}\ntargets: [echo]\ndefaultTest:\n  vars: {query: default, extra: x}\ntests:\n  - vars: {query: mine}\n    assert: [{type: contains, value: mine}]\n  - file://cases.csv\n",
    );
    let (code, out, err) = p.run(&["s.yaml", "--json", "r.json"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("[g@"), "label names the prompt: {out}");
    assert!(out.contains("4 passed"), "{out}");
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(p.join("r.json")).unwrap()).unwrap();
    let csv_case = report["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["description"] == "half of it")
        .unwrap();
    assert_eq!(csv_case["threshold"], 0.5);
    assert_eq!(csv_case["score"], 0.5);
    assert_eq!(csv_case["metrics"]["words"], 0.5);
    let own = report["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["vars"]["query"] == "mine")
        .unwrap();
    assert_eq!(
        own["vars"]["extra"], "x",
        "defaultTest vars are merged, the test's own win"
    );
}

#[test]
fn an_api_key_in_a_suite_is_an_error() {
    let p = Project::new();
    p.write(
        "s.yaml",
        "prompts: [greet]\nproviders:\n  - id: openai:chat:m\n    config:\n      apiKey: sk-oops\ntests:\n  - vars: {query: hi}\n    assert: [{type: contains, value: hi}]\n",
    );
    let (code, out, err) = p.run(&["s.yaml"]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("API keys never go in suite files") && err.contains("s.yaml:5"),
        "{err}"
    );
    assert!(!out.contains("sk-oops") && !err.contains("sk-oops"));
    let _ = p.path();
}

#[test]
fn a_test_without_description_keeps_its_shard_when_a_test_is_inserted_before_it() {
    let p = Project::new();
    let suite = |first: bool| {
        let mut s = String::from("prompts: [greet]\nproviders: [echo]\ntests:\n");
        if first {
            s.push_str("  - vars: {query: inserted}\n    assert: [{type: contains, value: inserted}]\n");
        }
        for i in 0..30 {
            s.push_str(&format!(
                "  - vars: {{query: q{i}}}\n    assert: [{{type: contains, value: q{i}}}]\n"
            ));
        }
        s
    };
    // Which queries shard 1/3 holds, read from the listed case names is not
    // possible (names are positional): run the shard and read the outputs.
    let members = |p: &Project| -> std::collections::BTreeSet<String> {
        let (code, _, err) = p.run(&["s.yaml", "--shard", "1/3", "--json", "r.json"]);
        assert_eq!(code, Some(0), "{err}");
        let report: serde_json::Value =
            serde_json::from_slice(&std::fs::read(p.path().join("r.json")).unwrap()).unwrap();
        report["cases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["vars"]["query"].as_str().unwrap().to_string())
            .collect()
    };
    p.write("s.yaml", &suite(false));
    let before = members(&p);
    p.write("s.yaml", &suite(true));
    let mut after = members(&p);
    after.remove("inserted");
    assert!(!before.is_empty());
    assert_eq!(before, after, "every case stays on its shard");
}

/// An assertion written twice the same way is built once and shared, but only
/// when building it said nothing: a problem in it is reported at every line.
#[test]
fn a_problem_in_a_repeated_assertion_is_reported_at_each_line() {
    let p = Project::new();
    let rubric = "{type: llm-rubric, value: ok, provider: {id: openai:chat:m, config: {apiKey: sk-oops}}}";
    p.write(
        "s.yaml",
        &format!(
            "prompts: [greet]\nproviders: [echo]\ntests:\n  - vars: {{query: a}}\n    assert: [{rubric}]\n  - vars: {{query: b}}\n    assert: [{rubric}]\n"
        ),
    );
    let (code, _out, err) = p.run(&["s.yaml", "--list"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("s.yaml:5:") && err.contains("s.yaml:7:"), "{err}");
    assert_eq!(err.matches("API keys never go in suite files").count(), 2, "{err}");
}

/// A YAML error inside one test of a big list is reported as reading the whole
/// file reports it (the path names the test, not the piece cut out for it).
#[test]
fn a_yaml_error_inside_one_test_names_that_test() {
    let p = Project::new();
    p.write(
        "s.yaml",
        "prompts: [greet]\nproviders: [echo]\ntests:\n  - vars: {query: a}\n  - vars: {query: b}\n    vars: {query: c}\n",
    );
    let (code, _out, err) = p.run(&["s.yaml", "--list"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("tests[1]") && err.contains("duplicate entry"), "{err}");
    assert!(!err.contains(".[0]") && !err.contains("no assertions"), "{err}");
}

/// Issue 11, item 18: the read-only commands create no cache database.
#[test]
fn costs_and_cache_stats_create_no_cache_database() {
    let p = Project::new();
    for args in [
        &["costs"][..],
        &["costs", "--json"],
        &["cache", "stats"],
        &["cache", "clear"],
    ] {
        let out = Command::cargo_bin("promptgate")
            .expect("the binary")
            .current_dir(p.path())
            .env("NO_COLOR", "1")
            .args(args)
            .output()
            .expect("run promptgate");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stdout}");
        assert!(
            !p.join(".promptgate").exists(),
            "{args:?} created {}",
            p.join(".promptgate").display()
        );
        if args == ["costs", "--json"] {
            let rows: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
            assert_eq!(rows, serde_json::json!([]));
        }
        if args == ["cache", "stats"] {
            assert!(stdout.contains("entries: 0"), "{stdout}");
        }
    }
}
