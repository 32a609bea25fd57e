//! Model-graded assertions end to end: the binary runs suites whose answers
//! come from `echo` (the rendered `{{ answer }}`) and whose grader is the
//! in-project fake OpenAI-compatible server, scripted by rules that match the
//! grader prompts. Embeddings come from a wiremock server with known vectors.

use std::net::SocketAddr;
use std::path::Path;

use assert_cmd::Command;
use promptgate::fake_provider::{parse_script, start, FakeConfig, FakeServer};
use serde_json::Value;

/// Grader replies, by the answer (or claim) markers in the grader prompts.
const SCRIPT: &str = r#"
# context-faithfulness, step 1: claims of the answer
- match: "(?s)Break the ANSWER.*ANSWER-FAITHFUL"
  reply: '{"claims": ["[F1] The pool is created with rte_mempool_create().", "[F2] The pool has a per-core cache."]}'
- match: "(?s)Break the ANSWER.*ANSWER-PARTLY"
  reply: '{"claims": ["[P1] a", "[P2] b", "[P3] c", "[P4] The pool lives in GPU memory."]}'
- match: "(?s)Break the ANSWER.*ANSWER-NOCLAIMS"
  reply: '{"claims": []}'
- match: "(?s)Break the ANSWER.*ANSWER-BLANKCLAIMS"
  reply: '{"claims": ["", "   "]}'
- match: "(?s)Break the ANSWER.*ANSWER-BROKENGRADER"
  reply: 'nonsense'
# context-faithfulness, step 2: verdicts
- match: "(?s)numbered CLAIM.*\\[F1\\]"
  reply: '{"verdicts": [{"claim": "[F1]", "supported": true, "reason": "stated"}, {"claim": "[F2]", "supported": true, "reason": "stated"}]}'
- match: "(?s)numbered CLAIM.*\\[P1\\]"
  reply: '{"verdicts": [{"claim": "a", "supported": true, "reason": "ok"}, {"claim": "b", "supported": "yes", "reason": "ok"}, {"claim": "c", "supported": true, "reason": "ok"}, {"claim": "d", "supported": false, "reason": "the context never mentions GPU memory"}]}'
# llm-rubric
- match: "(?s)Grade the ANSWER.*ANSWER-FENCED"
  reply: "Here is my evaluation:\n```json\n{\"reason\": \"polite and on topic\", \"pass\": true, \"score\": 0.9}\n```\nLet me know if you need more."
- match: "(?s)Grade the ANSWER.*ANSWER-GARBAGE"
  reply: "I think the answer is quite good overall."
- match: "(?s)Grade the ANSWER.*ANSWER-CONTRADICTS"
  reply: '{"reason": "looks fine", "pass": true, "score": 0}'
- match: "(?s)Grade the ANSWER.*ANSWER-RUDE"
  reply: '{"reason": "insults the user", "pass": false, "score": 0.1}'
- match: "(?s)Grade the ANSWER.*ANSWER-SAYSFAIL"
  reply: '{"reason": "hmm", "pass": false, "score": 0.9}'
- match: "(?s)Grade the ANSWER.*ANSWER-OUTOFRANGE"
  reply: '{"reason": "great", "pass": true, "score": 7}'
- match: "(?s)Grade the ANSWER.*ANSWER-SCORE-(0\\.\\d+)"
  reply: '{"reason": "scripted", "pass": true, "score": SCORE}'
"#;

/// Starts the fake grader; `SCORE` replies are expanded per marker.
fn grader(rt: &tokio::runtime::Runtime, scores: &[&str]) -> FakeServer {
    let mut script = SCRIPT.to_string();
    // One rule per scripted score (the fake server replies with fixed text).
    let generic = "- match: \"(?s)Grade the ANSWER.*ANSWER-SCORE-(0\\\\.\\\\d+)\"\n  reply: '{\"reason\": \"scripted\", \"pass\": true, \"score\": SCORE}'\n";
    script = script.replace(generic, "");
    for s in scores {
        script.push_str(&format!(
            "- match: \"(?s)Grade the ANSWER.*ANSWER-SCORE-{s}\\\\b\"\n  reply: '{{\"reason\": \"scripted\", \"pass\": true, \"score\": {s}}}'\n"
        ));
    }
    let rules = parse_script(&script).expect("script");
    rt.block_on(start(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        FakeConfig {
            latency: std::time::Duration::ZERO,
            rules,
            ..Default::default()
        },
    ))
    .expect("start the fake grader")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    report: Value,
    junit: String,
}

impl Run {
    fn case(&self, description: &str) -> &Value {
        self.report["cases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["description"] == description)
            .unwrap_or_else(|| panic!("no case {description:?} in {}", self.report))
    }

    fn verdict(&self, description: &str) -> &str {
        self.case(description)["verdict"].as_str().unwrap()
    }

    fn assertion(&self, description: &str) -> &Value {
        &self.case(description)["assertions"][0]
    }
}

/// A project whose prompt is `{{ answer }}`, answered by `echo`, graded by `grader_url`.
fn project(dir: &Path, grader_url: &str, tests: &str, extra: &str) {
    project_with(dir, grader_url, tests, extra, "");
}

/// [`project`], with more keys in the grader's `config` (flow mapping
/// entries after `apiBaseUrl`, e.g. `, cost: {input: 1, output: 1}`).
fn project_with(dir: &Path, grader_url: &str, tests: &str, extra: &str, grader_config: &str) {
    std::fs::create_dir_all(dir.join("prompts")).unwrap();
    std::fs::write(dir.join("prompts/answer.txt"), "{{ answer }}").unwrap();
    std::fs::write(
        dir.join("suite.yaml"),
        format!(
            "description: graders\nprompts: [answer]\nproviders: [echo]\n{extra}defaultTest:\n  vars:\n    context: The mempool is created with rte_mempool_create() and has a per-core cache.\n    query: How is the mempool created?\n  options:\n    provider:\n      id: openai:chat:grader-model\n      config: {{apiBaseUrl: \"{grader_url}\"{grader_config}}}\ntests:\n{tests}"
        ),
    )
    .unwrap();
}

fn run(dir: &Path, args: &[&str]) -> Run {
    let out = Command::cargo_bin("promptgate")
        .unwrap()
        .current_dir(dir)
        .env("CI", "true")
        .env_remove("GITHUB_ACTIONS")
        .env_remove("OPENAI_API_KEY")
        .env_remove("OPENAI_BASE_URL")
        .args(["test", "suite.yaml", "--json", "report.json", "--junit", "junit.xml"])
        .args(args)
        .output()
        .unwrap();
    let report = std::fs::read_to_string(dir.join("report.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null);
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        report,
        junit: std::fs::read_to_string(dir.join("junit.xml")).unwrap_or_default(),
    }
}

fn case(description: &str, answer: &str, assertion: &str) -> String {
    format!("  - description: {description}\n    vars: {{answer: \"{answer}\"}}\n    assert:\n{assertion}")
}

#[test]
fn faithfulness_scores_claims_against_the_context() {
    let rt = runtime();
    let server = grader(&rt, &[]);
    let dir = tempfile::tempdir().unwrap();
    let tests = [
        case(
            "faithful",
            "ANSWER-FAITHFUL",
            "      - type: context-faithfulness\n        threshold: 0.85\n        metric: faithfulness\n",
        ),
        case(
            "one of four unsupported",
            "ANSWER-PARTLY",
            "      - type: context-faithfulness\n        threshold: 0.85\n        metric: faithfulness\n",
        ),
        case(
            "no claims",
            "ANSWER-NOCLAIMS",
            "      - type: faithfulness\n        threshold: 0.85\n",
        ),
    ]
    .concat();
    project(dir.path(), &server.base_url(), &tests, "");
    let r = run(dir.path(), &[]);
    assert_eq!(r.code, Some(1), "{}\n{}", r.stdout, r.stderr);

    assert_eq!(r.verdict("faithful"), "pass");
    assert_eq!(r.assertion("faithful")["score"], 1.0);
    let claims = r.assertion("faithful")["grader"]["claims"].as_array().unwrap();
    assert_eq!(claims.len(), 2);
    // Two grader calls (claims, verdicts), each kept with its step.
    let calls = r.assertion("faithful")["grader"]["calls"].as_array().unwrap();
    let steps: Vec<&str> = calls.iter().map(|c| c["step"].as_str().unwrap()).collect();
    assert_eq!(steps, ["extract-claims", "verify-claims"]);
    assert!(calls
        .iter()
        .all(|c| c["provider"] == "openai:chat:grader-model" && c["tokens"]["input"].is_u64()));

    assert_eq!(r.verdict("one of four unsupported"), "fail");
    let a = r.assertion("one of four unsupported");
    assert_eq!(a["score"], 0.75);
    let reason = a["reason"].as_str().unwrap();
    assert!(reason.contains("3/4 claims supported"), "{reason}");
    assert!(reason.contains("0.75 < threshold 0.85"), "{reason}");
    assert!(
        reason.contains("GPU memory"),
        "the unsupported claim is listed: {reason}"
    );
    assert_eq!(r.case("one of four unsupported")["metrics"]["faithfulness"], 0.75);

    // "I don't know"-style answers have no claims: score 1.
    assert_eq!(r.verdict("no claims"), "pass");
    assert_eq!(r.assertion("no claims")["score"], 1.0);

    // The console failure shows the score and the claims with their verdicts.
    assert!(r.stdout.contains("score: 0.750"), "{}", r.stdout);
    assert!(
        r.stdout.contains("✗ unsupported: [P4] The pool lives in GPU memory."),
        "{}",
        r.stdout
    );
    // So does the JUnit failure text.
    assert!(
        r.junit
            .contains("claim (UNSUPPORTED): [P4] The pool lives in GPU memory."),
        "{}",
        r.junit
    );
}

#[test]
fn rubric_replies_in_prose_contradictions_and_negation() {
    let rt = runtime();
    let server = grader(&rt, &[]);
    let dir = tempfile::tempdir().unwrap();
    let tests = [
        case(
            "fenced reply",
            "ANSWER-FENCED",
            "      - type: llm-rubric\n        value: is polite\n",
        ),
        case(
            "contradiction",
            "ANSWER-CONTRADICTS",
            "      - type: llm-rubric\n        value: is polite\n",
        ),
        case(
            "negated",
            "ANSWER-RUDE",
            "      - type: not-llm-rubric\n        value: is polite\n",
        ),
        case(
            "negated contradiction",
            "ANSWER-SAYSFAIL",
            "      - type: not-llm-rubric\n        value: is polite\n",
        ),
        case(
            "threshold above the score",
            "ANSWER-FENCED",
            "      - type: llm-rubric\n        value: is polite\n        threshold: 0.95\n",
        ),
    ]
    .concat();
    project(dir.path(), &server.base_url(), &tests, "");
    let r = run(dir.path(), &[]);
    assert_eq!(r.code, Some(1), "{}\n{}", r.stdout, r.stderr);

    assert_eq!(r.verdict("fenced reply"), "pass");
    assert_eq!(r.assertion("fenced reply")["score"], 0.9);
    assert!(r.assertion("fenced reply")["reason"]
        .as_str()
        .unwrap()
        .contains("polite and on topic"));

    // pass: true with score 0: the score decides (threshold 0.5), never `pass` alone.
    assert_eq!(r.verdict("contradiction"), "fail");
    let reason = r.assertion("contradiction")["reason"].as_str().unwrap();
    assert!(
        reason.contains("the grader said pass, but its score 0.00 is below the threshold 0.5"),
        "{reason}"
    );

    assert_eq!(r.verdict("negated"), "pass");
    let neg = r.assertion("negated");
    assert_eq!(neg["type"], "not-llm-rubric");
    assert!((neg["score"].as_f64().unwrap() - 0.9).abs() < 1e-9, "{neg}");

    assert_eq!(r.verdict("threshold above the score"), "fail");
    // `pass: false` with score 0.9 is resolved by the score (0.9 ≥ 0.5): the
    // rubric is met, so its negation fails.
    assert_eq!(r.verdict("negated contradiction"), "fail");
    assert!(r.assertion("negated contradiction")["reason"]
        .as_str()
        .unwrap()
        .contains("resolved by the score"));
}

#[test]
fn blank_claims_are_a_grader_error_and_an_ungraded_metric_leaves_the_threshold_undecided() {
    let rt = runtime();
    let server = grader(&rt, &[]);
    let dir = tempfile::tempdir().unwrap();
    let tests = [
        case(
            "blank claims",
            "ANSWER-BLANKCLAIMS",
            "      - type: context-faithfulness\n        threshold: 0.9\n",
        ),
        case(
            "faithful",
            "ANSWER-FAITHFUL",
            "      - type: context-faithfulness\n        metric: faithfulness\n",
        ),
        // The grader fails here, and another assertion fails too: the case is
        // a failure, and its faithfulness is unknown.
        case(
            "broken grader beside a failure",
            "ANSWER-BROKENGRADER",
            "      - type: context-faithfulness\n        metric: faithfulness\n      - type: contains\n        value: zzz\n",
        ),
    ]
    .concat();
    project(
        dir.path(),
        &server.base_url(),
        &tests,
        "thresholds:\n  metrics:\n    faithfulness: {mean: 0.85}\n",
    );
    let r = run(dir.path(), &[]);
    assert_eq!(r.code, Some(1), "{}\n{}", r.stdout, r.stderr);
    assert_eq!(r.verdict("blank claims"), "error");
    assert!(r.assertion("blank claims")["error"]
        .as_str()
        .unwrap()
        .contains("blank entry"));
    assert_eq!(r.verdict("broken grader beside a failure"), "fail");
    // Not "met" on the one faithful case: undecided.
    let t = &r.report["thresholds"][0];
    assert_eq!(t["verdict"], "error", "{t}");
    assert!(
        t["error"]
            .as_str()
            .unwrap()
            .contains("`faithfulness` could not be graded in 1 case"),
        "{t}"
    );
    // The JUnit failure names the evaluated failure first and lists the grader error apart.
    assert!(r.junit.contains("failure message=\"contains:"), "{}", r.junit);
    assert!(
        r.junit
            .contains("1 assertion could not be evaluated (not counted as failures)"),
        "{}",
        r.junit
    );
    assert!(
        r.stdout
            .contains("1 failed (1 assertion in them could not be evaluated); 1 errored"),
        "{}",
        r.stdout
    );
}

#[test]
fn an_unparseable_grader_reply_is_retried_once_then_an_error_with_exit_3() {
    let rt = runtime();
    let server = grader(&rt, &[]);
    let dir = tempfile::tempdir().unwrap();
    let tests = case(
        "garbage",
        "ANSWER-GARBAGE",
        "      - type: llm-rubric\n        value: is polite\n",
    );
    project(dir.path(), &server.base_url(), &tests, "");
    let r = run(dir.path(), &[]);
    assert_eq!(r.code, Some(3), "a grader error is exit 3\n{}\n{}", r.stdout, r.stderr);
    assert_eq!(server.requests(), 2, "asked once, retried once");
    assert_eq!(r.verdict("garbage"), "error");
    let a = r.assertion("garbage");
    assert_eq!(a["pass"], false);
    assert!(a["error"].as_str().unwrap().contains("grader error"), "{a}");
    assert!(a["error"].as_str().unwrap().contains("no JSON object"), "{a}");
    // Both replies are kept, verbatim.
    assert_eq!(
        a["grader"]["raw_reply"],
        "I think the answer is quite good overall.\n--- reply to the retry ---\nI think the answer is quite good overall."
    );
    assert_eq!(a["grader"]["calls"].as_array().unwrap().len(), 2);
    assert!(r.stdout.contains("grader reply:"), "{}", r.stdout);
    assert!(r.stdout.contains("0 passed; 0 failed; 1 errored"), "{}", r.stdout);
}

#[test]
fn a_score_out_of_range_is_a_grader_error_never_a_pass() {
    let rt = runtime();
    let server = grader(&rt, &[]);
    let dir = tempfile::tempdir().unwrap();
    let tests = case(
        "out of range",
        "ANSWER-OUTOFRANGE",
        "      - type: llm-rubric\n        value: is polite\n",
    );
    project(dir.path(), &server.base_url(), &tests, "");
    let r = run(dir.path(), &[]);
    assert_eq!(r.code, Some(3), "{}\n{}", r.stdout, r.stderr);
    assert_eq!(r.verdict("out of range"), "error");
    assert!(r.assertion("out of range")["error"]
        .as_str()
        .unwrap()
        .contains("`score` is 7, outside [0, 1]"));
    // Negating a grader error does not turn it into a pass either.
    let tests = case(
        "negated garbage",
        "ANSWER-GARBAGE",
        "      - type: not-llm-rubric\n        value: is polite\n",
    );
    project(dir.path(), &server.base_url(), &tests, "");
    let r = run(dir.path(), &[]);
    assert_eq!(r.code, Some(3));
    assert_eq!(r.verdict("negated garbage"), "error");
}

/// Ten cases whose rubric scores average `mean`, under `thresholds`.
fn threshold_suite(scores: &[&str]) -> String {
    scores
        .iter()
        .enumerate()
        .map(|(i, s)| {
            case(
                &format!("case {i}"),
                &format!("ANSWER-SCORE-{s}"),
                "      - type: llm-rubric\n        value: answers the question\n        metric: quality\n        threshold: 0.5\n",
            )
        })
        .collect()
}

#[test]
fn the_suite_mean_threshold_fails_at_084_and_passes_at_086() {
    let low = ["0.9", "0.8", "0.7", "0.74", "0.86", "0.95", "0.85", "0.8", "0.9", "0.9"]; // mean 0.84
    let high = ["0.9", "0.8", "0.9", "0.74", "0.86", "0.95", "0.85", "0.8", "0.9", "0.9"]; // mean 0.86
    let mut all: Vec<&str> = low.iter().chain(&high).copied().collect();
    all.sort();
    all.dedup();
    let rt = runtime();
    let server = grader(&rt, &all);
    let thresholds = "thresholds:\n  pass_rate: 1.0\n  metrics:\n    quality: {mean: 0.85}\n";

    let dir = tempfile::tempdir().unwrap();
    project(dir.path(), &server.base_url(), &threshold_suite(&low), thresholds);
    let r = run(dir.path(), &[]);
    assert_eq!(
        r.code,
        Some(1),
        "every case passes, the mean does not\n{}\n{}",
        r.stdout,
        r.stderr
    );
    assert!(r.stdout.contains("10 passed; 0 failed; 0 errored"), "{}", r.stdout);
    assert!(
        r.stdout.contains("quality.mean 0.8400 < 0.85 (10 cases)"),
        "{}",
        r.stdout
    );
    let t = &r.report["thresholds"][0];
    assert_eq!(t["verdict"], "fail");
    assert!(
        (t["checks"][1]["measured"].as_f64().unwrap() - 0.84).abs() < 1e-9,
        "{t}"
    );
    assert!(r.junit.contains("thresholds [answer@"), "{}", r.junit);
    assert!(
        r.junit
            .contains("suite threshold breached: quality.mean 0.8400 &lt; 0.85 over 10 cases"),
        "{}",
        r.junit
    );

    let dir = tempfile::tempdir().unwrap();
    project(dir.path(), &server.base_url(), &threshold_suite(&high), thresholds);
    let r = run(dir.path(), &[]);
    assert_eq!(r.code, Some(0), "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("quality.mean 0.8600 ≥ 0.85 (10 cases)"),
        "{}",
        r.stdout
    );
    assert_eq!(r.report["thresholds"][0]["verdict"], "pass");
}

#[test]
fn grader_calls_are_recorded_and_replay_offline() {
    let rt = runtime();
    let server = grader(&rt, &[]);
    let dir = tempfile::tempdir().unwrap();
    let tests = [
        case("faithful", "ANSWER-FAITHFUL", "      - type: context-faithfulness\n"),
        case(
            "fenced",
            "ANSWER-FENCED",
            "      - type: llm-rubric\n        value: is polite\n",
        ),
    ]
    .concat();
    project(dir.path(), &server.base_url(), &tests, "");
    let recorded = run(dir.path(), &["--record", "recordings"]);
    assert_eq!(recorded.code, Some(0), "{}\n{}", recorded.stdout, recorded.stderr);
    assert_eq!(server.requests(), 3);
    drop(server);

    let replayed = run(dir.path(), &["--replay", "recordings"]);
    assert_eq!(replayed.code, Some(0), "{}\n{}", replayed.stdout, replayed.stderr);
    for d in ["faithful", "fenced"] {
        assert_eq!(replayed.verdict(d), recorded.verdict(d));
        assert_eq!(replayed.assertion(d)["score"], recorded.assertion(d)["score"]);
        let calls = replayed.assertion(d)["grader"]["calls"].as_array().unwrap();
        assert!(calls.iter().all(|c| c["replayed"] == true), "{calls:?}");
    }
}

#[test]
fn similar_uses_embedding_cosine_with_known_vectors() {
    use wiremock::matchers::{body_partial_json, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let rt = runtime();
    let server = rt.block_on(async {
        let server = MockServer::start().await;
        for (input, vector) in [
            ("reference text", [1.0, 0.0, 0.0]),
            ("close answer", [0.8, 0.6, 0.0]),
            ("far answer", [0.6, 0.8, 0.0]),
        ] {
            Mock::given(method("POST"))
                .and(path("/v1/embeddings"))
                .and(body_partial_json(
                    serde_json::json!({"model": "embed-model", "input": input}),
                ))
                .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                    "object": "list",
                    "data": [{"object": "embedding", "index": 0, "embedding": vector}],
                    "model": "embed-model",
                    "usage": {"prompt_tokens": 2, "total_tokens": 2}
                })))
                .mount(&server)
                .await;
        }
        server
    });
    let dir = tempfile::tempdir().unwrap();
    let embed = format!("{}/v1", server.uri());
    let tests = [
        case(
            "close",
            "close answer",
            "      - type: similar\n        value: reference text\n",
        ),
        case(
            "far",
            "far answer",
            "      - type: similar\n        value: reference text\n",
        ),
        case(
            "far, lower threshold",
            "far answer",
            "      - type: similar\n        value: reference text\n        threshold: 0.6\n",
        ),
        case(
            "not similar",
            "far answer",
            "      - type: not-similar\n        value: reference text\n",
        ),
    ]
    .concat();
    std::fs::create_dir_all(dir.path().join("prompts")).unwrap();
    std::fs::write(dir.path().join("prompts/answer.txt"), "{{ answer }}").unwrap();
    std::fs::write(
        dir.path().join("suite.yaml"),
        format!(
            "prompts: [answer]\nproviders: [echo]\ndefaultTest:\n  options:\n    provider:\n      embedding:\n        id: openai:embedding:embed-model\n        config: {{apiBaseUrl: \"{embed}\"}}\ntests:\n{tests}"
        ),
    )
    .unwrap();
    let r = run(dir.path(), &[]);
    assert_eq!(r.code, Some(1), "{}\n{}", r.stdout, r.stderr);
    assert_eq!(r.verdict("close"), "pass");
    assert!((r.assertion("close")["score"].as_f64().unwrap() - 0.8).abs() < 1e-9);
    assert_eq!(r.verdict("far"), "fail");
    assert!(r.assertion("far")["reason"]
        .as_str()
        .unwrap()
        .contains("cosine similarity 0.6000 < threshold 0.75"));
    assert_eq!(r.verdict("far, lower threshold"), "pass");
    assert_eq!(r.verdict("not similar"), "pass");
}

#[test]
fn grader_flag_is_the_last_fallback_and_a_missing_var_is_exit_2() {
    let rt = runtime();
    let server = grader(&rt, &[]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("prompts")).unwrap();
    std::fs::write(dir.path().join("prompts/answer.txt"), "{{ answer }}").unwrap();
    std::fs::write(
        dir.path().join("suite.yaml"),
        "prompts: [answer]\nproviders: [echo]\ntests:\n  - description: fenced\n    vars: {answer: ANSWER-FENCED}\n    assert:\n      - type: llm-rubric\n        value: is polite\n",
    )
    .unwrap();
    let out = Command::cargo_bin("promptgate")
        .unwrap()
        .current_dir(dir.path())
        .env("CI", "true")
        .env("OPENAI_BASE_URL", server.base_url())
        .env_remove("OPENAI_API_KEY")
        .env_remove("GITHUB_ACTIONS")
        .args(["test", "suite.yaml", "--grader", "openai:chat:grader-model"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(server.requests(), 1);

    // context-faithfulness without vars.context: an input error with the line, nothing called.
    std::fs::write(
        dir.path().join("suite.yaml"),
        "prompts: [answer]\nproviders: [echo]\ntests:\n  - description: no context\n    vars: {answer: x, query: q}\n    assert:\n      - type: context-faithfulness\n",
    )
    .unwrap();
    let out = Command::cargo_bin("promptgate")
        .unwrap()
        .current_dir(dir.path())
        .env("CI", "true")
        .env_remove("GITHUB_ACTIONS")
        .args(["test", "suite.yaml", "--grader", "openai:chat:grader-model"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("suite.yaml:7"), "{stderr}");
    assert!(stderr.contains("the test has no var `context`"), "{stderr}");
    assert_eq!(server.requests(), 1, "nothing was called");
}

/// USD per million tokens that make every grader call cost dollars.
const PRICED: &str = ", cost: {input: 1000000, output: 1000000}, max_tokens: 20";

#[test]
fn a_grader_call_refused_by_max_cost_skips_the_case_like_its_own_call() {
    let rt = runtime();
    let server = grader(&rt, &["0.9"]);
    let dir = tempfile::tempdir().unwrap();
    let tests = [
        case(
            "graded",
            "ANSWER-SCORE-0.9",
            "      - type: llm-rubric\n        value: is polite\n",
        ),
        case(
            "fails anyway",
            "ANSWER-SCORE-0.9",
            "      - type: contains\n        value: nope\n      - type: llm-rubric\n        value: is polite\n",
        ),
    ]
    .concat();
    project_with(dir.path(), &server.base_url(), &tests, "", PRICED);
    // Every grader call is estimated at dollars: a cent's budget refuses them all.
    let r = run(dir.path(), &["--max-cost", "0.01"]);
    assert_eq!(server.requests(), 0, "no grader call is made");
    assert_eq!(
        r.code,
        Some(1),
        "a failed assertion still fails: {}\n{}",
        r.stdout,
        r.stderr
    );
    assert_eq!(r.verdict("graded"), "skipped", "{}", r.stdout);
    assert_eq!(r.verdict("fails anyway"), "fail");
    let error = r.case("graded")["error"].as_str().unwrap();
    assert!(
        error.contains("budget reached") && error.contains("--max-cost 0.01"),
        "{error}"
    );
    assert!(r.assertion("graded")["grader"]["over_budget"] == true, "{}", r.report);
    assert!(
        r.stdout
            .contains("0 passed; 1 failed (1 assertion in them could not be evaluated); 0 errored; 1 skipped"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("not evaluated: budget reached: grader openai:chat:grader-model (grade) was not called"),
        "{}",
        r.stdout
    );
    assert_eq!(
        r.report["summary"]["assertions_errored"], 1,
        "only the failing case's unevaluated grader"
    );

    // Without the deterministic failure: skipped, exit 3 (no verdict), never an error.
    let r = run(dir.path(), &["--max-cost", "0.01", "--filter", "::graded "]);
    assert_eq!(r.code, Some(3), "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("0 passed; 0 failed; 0 errored; 1 skipped"),
        "{}",
        r.stdout
    );
    assert!(r.junit.contains("<skipped"), "{}", r.junit);
}

#[test]
fn grader_calls_are_priced_and_counted_in_the_cost_summary_and_the_cache_line() {
    let rt = runtime();
    let server = grader(&rt, &["0.9"]);
    let dir = tempfile::tempdir().unwrap();
    let tests = [
        case(
            "one",
            "ANSWER-SCORE-0.9",
            "      - type: llm-rubric\n        value: is polite\n",
        ),
        case(
            "two",
            "ANSWER-SCORE-0.9 again",
            "      - type: llm-rubric\n        value: is polite\n",
        ),
    ]
    .concat();
    // temperature 0 is the grading default, so grader answers are cached.
    project_with(dir.path(), &server.base_url(), &tests, "", PRICED);
    let r = run(dir.path(), &[]);
    assert_eq!(r.code, Some(0), "{}\n{}", r.stdout, r.stderr);
    assert_eq!(server.requests(), 2);
    let mut total = 0.0;
    for d in ["one", "two"] {
        let calls = r.assertion(d)["grader"]["calls"].as_array().unwrap();
        assert_eq!(calls.len(), 1);
        let usd = calls[0]["cost_usd"]
            .as_f64()
            .unwrap_or_else(|| panic!("a priced grader call: {calls:?}"));
        assert!(usd > 1.0, "dollars per token: {usd}");
        total += usd;
    }
    let summary = &r.report["summary"];
    let by_provider = summary["cost_by_provider"]["openai:chat:grader-model"]
        .as_f64()
        .unwrap();
    assert!((by_provider - total).abs() < 1e-9, "{summary}");
    assert!(
        (summary["cost_by_suite"]["suite"].as_f64().unwrap() - total).abs() < 1e-9,
        "{summary}"
    );
    assert!(r.stdout.contains(&format!("cost: ${total:.4}")), "{}", r.stdout);
    assert!(
        r.stdout
            .contains(&format!("model openai:chat:grader-model  ${total:.4}")),
        "{}",
        r.stdout
    );

    // The rerun's grader answers come from the response cache: counted as answers, and saved.
    let again = run(dir.path(), &[]);
    assert_eq!(again.code, Some(0));
    assert_eq!(server.requests(), 2, "no grader request");
    assert!(
        again.stdout.contains(&format!(
            "response cache: 2 of 2 answers from the cache (no request sent), saved ${total:.4}"
        )),
        "{}",
        again.stdout
    );
    assert!(!again.stdout.contains("cost: $"), "nothing was paid: {}", again.stdout);
    let call = &again.assertion("one")["grader"]["calls"][0];
    assert_eq!(call["cached"], true, "{call}");
}

/// A grader with `max_concurrency: 1` whose calls are retried: a case holding
/// the grader's place keeps its `-j` place through the backoff (else a case
/// waiting for a `-j` place while holding the grader's, and cases holding `-j`
/// places while waiting for the grader's, would wait for each other forever).
#[test]
fn a_retried_grader_call_under_max_concurrency_never_deadlocks() {
    let rt = runtime();
    let ok = "- match: \"(?s)Grade the ANSWER.*ANSWER-OK\"\n  reply: '{\"reason\": \"fine\", \"pass\": true, \"score\": 1}'\n";
    let rules = parse_script(&format!("{SCRIPT}{ok}")).expect("script");
    let server = rt
        .block_on(start(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            FakeConfig {
                rules,
                // The first attempt of every grader request is a 500.
                scripted: Some((promptgate::fake_provider::Fault::ServerError, 1)),
                ..Default::default()
            },
        ))
        .expect("start the fake grader");
    let dir = tempfile::tempdir().unwrap();
    let tests: String = (0..12)
        .map(|i| {
            case(
                &format!("case {i}"),
                &format!("ANSWER-OK {i}"),
                "      - type: llm-rubric\n        value: is helpful\n",
            )
        })
        .collect();
    project_with(
        dir.path(),
        &server.base_url(),
        &tests,
        "",
        ", max_concurrency: 1, retry_delay_ms: 50",
    );
    let out = assert_cmd::Command::cargo_bin("promptgate")
        .unwrap()
        .current_dir(dir.path())
        .env("CI", "true")
        .env_remove("GITHUB_ACTIONS")
        .env_remove("OPENAI_API_KEY")
        .args(["test", "suite.yaml", "-j", "4", "--no-cache"])
        .timeout(std::time::Duration::from_secs(60))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("12 passed"), "{stdout}");
    assert_eq!(server.requests(), 24, "each grader request: one 500, one answer");
}
