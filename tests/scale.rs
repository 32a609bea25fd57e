//! 1,000 cases at `-j 32` against the in-project fake OpenAI-compatible
//! server (20 ms latency): the run completes and every verdict is right.
//! Timing is measured in the benchmark, not here.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use assert_cmd::Command;
use promptgate::fake_provider::{start, FakeConfig};

#[test]
fn a_thousand_cases_against_a_local_openai_compatible_server() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = runtime
        .block_on(start(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            FakeConfig {
                latency: Duration::from_millis(20),
                rules: Vec::new(),
                ..Default::default()
            },
        ))
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("prompts")).unwrap();
    std::fs::write(dir.path().join("prompts/echo_n.txt"), "Echo {{ n }}").unwrap();
    let mut suite = format!(
        "description: scale\nprompts: [echo_n]\nproviders:\n  - id: openai:chat:fake-model\n    config:\n      apiBaseUrl: {}\n      temperature: 0\ntests:\n",
        server.base_url()
    );
    for n in 0..1000 {
        // The fake server echoes the prompt; every tenth case asserts
        // something false, so exactly 100 cases must fail.
        let extra = if n % 10 == 0 {
            "      - type: not-contains\n        value: \"Echo\"\n"
        } else {
            ""
        };
        write!(
            suite,
            "  - description: case {n}\n    vars: {{n: {n}}}\n    assert:\n      - type: equals\n        value: \"Echo {{{{ n }}}}\"\n      - type: regex\n        value: '^Echo \\d+$'\n{extra}"
        )
        .unwrap();
    }
    std::fs::write(dir.path().join("scale.yaml"), suite).unwrap();

    let out = Command::cargo_bin("promptgate")
        .unwrap()
        .current_dir(dir.path())
        .env("CI", "true")
        .env_remove("GITHUB_ACTIONS")
        .env_remove("OPENAI_API_KEY")
        .args([
            "test",
            "scale.yaml",
            "-j",
            "32",
            "--json",
            "report.json",
            "--junit",
            "junit.xml",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("test result: FAILED. 900 passed; 100 failed; 0 errored; 0 skipped"),
        "{stdout}"
    );

    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("report.json")).unwrap()).unwrap();
    let cases = report["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 1000);
    for case in cases {
        let n = case["vars"]["n"].as_u64().unwrap();
        assert_eq!(case["output"].as_str().unwrap(), format!("Echo {n}"));
        let expected = if n % 10 == 0 { "fail" } else { "pass" };
        assert_eq!(case["verdict"], expected, "case {n}");
    }
    assert_eq!(server.requests(), 1000, "one request per case");
    drop(server);
}

/// Runs `cases` cases of a suite against a fake server with 150 ms latency
/// and returns the most requests the server saw at once. Each answer takes
/// long enough that the calls a bound allows do overlap, even on a starved
/// machine (12 cases at 3 at a time: 4 rounds, about 0.6 s).
fn peak_concurrency(cases: usize, jobs: &str, provider_limit: Option<usize>) -> u64 {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = runtime
        .block_on(start(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            FakeConfig {
                latency: Duration::from_millis(150),
                rules: Vec::new(),
                ..Default::default()
            },
        ))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let limit = provider_limit
        .map(|n| format!("      max_concurrency: {n}\n"))
        .unwrap_or_default();
    let mut suite = format!(
        "prompts: ['Say {{{{ n }}}}']\nproviders:\n  - id: openai:chat:m\n    config:\n      apiBaseUrl: {}\n{limit}tests:\n",
        server.base_url()
    );
    for n in 0..cases {
        write!(
            suite,
            "  - vars: {{n: {n}}}\n    assert: [{{type: contains, value: Say}}]\n"
        )
        .unwrap();
    }
    std::fs::write(dir.path().join("s.yaml"), suite).unwrap();
    Command::cargo_bin("promptgate")
        .unwrap()
        .current_dir(dir.path())
        .env("CI", "true")
        .env_remove("GITHUB_ACTIONS")
        .args(["test", "s.yaml", "-j", jobs, "--junit", "j.xml"])
        .assert()
        .code(0);
    assert_eq!(server.requests(), cases as u64);
    server.max_in_flight()
}

// Exact equality: the peak proves both that the bound holds and that it is
// reached (the calls do run concurrently).
#[test]
fn jobs_bound_the_calls_in_flight() {
    assert_eq!(peak_concurrency(12, "3", None), 3);
}

#[test]
fn a_providers_max_concurrency_bounds_its_calls_below_jobs() {
    assert_eq!(peak_concurrency(12, "8", Some(2)), 2);
}
