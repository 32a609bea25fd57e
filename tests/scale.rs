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
