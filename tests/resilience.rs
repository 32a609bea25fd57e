//! Runs that survive real providers, end to end against the in-project fake
//! OpenAI-compatible server: retries (Retry-After, non-JSON 200, no retry of a
//! 401), the circuit breaker, the response cache (no request on a rerun,
//! errors never stored, a killed run leaves a readable cache), `--max-cost`,
//! `--repeat` with flakiness, the fault mix, and shards merged back.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use promptgate::fake_provider::{start, FakeConfig, FakeServer, Fault, FaultMix};

const KEY: &str = "sk-test-resilience-0123456789abcdef";

/// A fake server in its own runtime, and a project folder.
struct Setup {
    _runtime: tokio::runtime::Runtime,
    server: FakeServer,
    dir: tempfile::TempDir,
}

impl Setup {
    fn new(config: FakeConfig) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let server = runtime
            .block_on(start(SocketAddr::from(([127, 0, 0, 1], 0)), config))
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("prompts")).unwrap();
        std::fs::write(dir.path().join("prompts/say.txt"), "Say {{ n }}").unwrap();
        Setup {
            _runtime: runtime,
            server,
            dir,
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `s.yaml`: `cases` tests of prompt `say` against the server with
    /// the extra provider `config` lines (YAML flow mapping entries).
    fn suite(&self, cases: usize, config: &str, assertion: &str) {
        let mut s = format!(
            "prompts: [say]\nproviders:\n  - id: openai:chat:fake\n    config: {{apiBaseUrl: '{}', {config}}}\ntests:\n",
            self.server.base_url()
        );
        for n in 0..cases {
            writeln!(s, "  - vars: {{n: {n}}}\n    assert: [{assertion}]").unwrap();
        }
        std::fs::write(self.path().join("s.yaml"), s).unwrap();
    }

    fn command(&self) -> Command {
        let mut cmd = Command::cargo_bin("promptgate").unwrap();
        cmd.current_dir(self.path())
            .env("CI", "true")
            .env_remove("GITHUB_ACTIONS")
            .env("OPENAI_API_KEY", KEY);
        cmd
    }

    fn run(&self, args: &[&str]) -> (Option<i32>, String, String) {
        let out: Output = self.command().args(["test", "s.yaml"]).args(args).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn json(&self, name: &str) -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(self.path().join(name)).unwrap()).unwrap()
    }
}

fn config(scripted: Option<(Fault, u32)>) -> FakeConfig {
    FakeConfig {
        scripted,
        ..Default::default()
    }
}

#[test]
fn a_429_with_retry_after_is_retried_after_that_delay() {
    let s = Setup::new(config(Some((Fault::RateLimited { retry_after_ms: 400 }, 1))));
    // The backoff alone would wait at least 10 s: finishing sooner proves
    // the server's retry-after-ms was used instead.
    s.suite(
        1,
        "temperature: 0, retry_delay_ms: 10000",
        "{type: contains, value: Say}",
    );
    let started = Instant::now();
    let (code, out, err) = s.run(&["--json", "r.json", "--no-cache"]);
    let took = started.elapsed();
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(took >= Duration::from_millis(400), "did not wait: {took:?}");
    assert!(took < Duration::from_secs(9), "waited for the backoff: {took:?}");
    assert_eq!(s.server.requests(), 2);
    assert!(out.contains("retried: 1 case succeeded after a retry"), "{out}");
    let r = s.json("r.json");
    assert_eq!(r["cases"][0]["attempts"], 2);
    assert_eq!(r["summary"]["retried"], 1);
}

#[test]
fn a_401_is_not_retried_and_names_the_key_variable() {
    let s = Setup::new(config(Some((Fault::Unauthorized, u32::MAX))));
    s.suite(1, "temperature: 0, retry_delay_ms: 1", "{type: contains, value: Say}");
    let (code, out, err) = s.run(&["--json", "r.json"]);
    assert_eq!(code, Some(3), "{out}\n{err}");
    assert_eq!(s.server.requests(), 1, "a 401 is never retried");
    assert!(out.contains("HTTP 401") && out.contains("$OPENAI_API_KEY"), "{out}");
    let report = std::fs::read_to_string(s.path().join("r.json")).unwrap();
    for text in [&out, &err, &report] {
        assert!(!text.contains(KEY), "the key leaked: {text}");
    }
}

#[test]
fn a_non_json_200_is_retried() {
    let s = Setup::new(config(Some((Fault::NotJson, 1))));
    s.suite(3, "temperature: 0, retry_delay_ms: 1", "{type: contains, value: Say}");
    let (code, out, err) = s.run(&["--json", "r.json"]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert_eq!(s.server.requests(), 6, "each case: one garbled answer, one good");
    for case in s.json("r.json")["cases"].as_array().unwrap() {
        assert_eq!(case["attempts"], 2);
    }
}

#[test]
fn the_breaker_opens_after_the_configured_failures() {
    let s = Setup::new(config(Some((Fault::ServerError, u32::MAX))));
    s.suite(
        10,
        "temperature: 0, retries: 0, circuit_breaker: 3",
        "{type: contains, value: Say}",
    );
    let (code, out, err) = s.run(&["-j", "1", "--json", "r.json"]);
    assert_eq!(code, Some(3), "{out}\n{err}");
    assert_eq!(s.server.requests(), 3, "nothing sent once the breaker is open");
    assert!(out.contains("0 passed; 0 failed; 10 errored"), "{out}");
    let cases = s.json("r.json")["cases"].as_array().unwrap().clone();
    let open = cases
        .iter()
        .filter(|c| {
            c["error"]
                .as_str()
                .is_some_and(|e| e.contains("circuit breaker opened after 3 consecutive failed requests"))
        })
        .count();
    assert_eq!(open, 7, "{cases:#?}");
}

#[test]
fn the_cache_answers_without_a_request_and_never_stores_errors() {
    // Every request's first attempt fails; without retries the first run errors.
    let s = Setup::new(config(Some((Fault::ServerError, 1))));
    s.suite(3, "temperature: 0, retries: 0", "{type: contains, value: Say}");
    let (code, out, _) = s.run(&[]);
    assert_eq!(code, Some(3), "{out}");
    assert_eq!(s.server.requests(), 3);
    // Errors were not cached: the second run asks again (and now succeeds).
    let (code, out, _) = s.run(&[]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(s.server.requests(), 6);
    // The third run is answered by the cache: no request at all.
    let (code, out, _) = s.run(&["--json", "r.json"]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(s.server.requests(), 6, "a cached rerun makes no request");
    // `fake` has no price: what the cache saved is unknown, not $0.
    assert!(
        out.contains("response cache: 3 of 3 answers from the cache (no request sent), saved: unknown (no price)"),
        "{out}"
    );
    for case in s.json("r.json")["cases"].as_array().unwrap() {
        assert_eq!(case["cached"], true);
        assert_eq!(case["attempts"], 0);
    }
    // --no-cache asks again; a sampled request (temperature 0.7) is never cached.
    s.run(&["--no-cache"]);
    assert_eq!(s.server.requests(), 9);
    s.suite(3, "temperature: 0.7, retries: 0", "{type: contains, value: Say}");
    s.run(&[]);
    s.run(&[]);
    assert_eq!(s.server.requests(), 15);
    // `cache: always` caches it.
    s.suite(3, "temperature: 0.7, cache: always", "{type: contains, value: Say}");
    s.run(&[]);
    s.run(&[]);
    assert_eq!(s.server.requests(), 18);
    let stats = s.command().args(["cache", "stats"]).output().unwrap();
    assert!(String::from_utf8_lossy(&stats.stdout).contains("entries: 6 (0 expired)"));
    let clear = s.command().args(["cache", "clear"]).output().unwrap();
    assert!(String::from_utf8_lossy(&clear.stdout).contains("removed 6 cached responses"));
    // --no-cache neither reads nor writes: after it, the cache is still empty.
    s.suite(3, "temperature: 0", "{type: contains, value: Say}");
    let (code, out, _) = s.run(&["--no-cache"]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(cache_entries(&s.path().join(".promptgate/cache.db")), 0);
}

fn cache_entries(path: &Path) -> i64 {
    let conn = rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    conn.query_row("SELECT COUNT(*) FROM responses", [], |r| r.get(0))
        .unwrap_or(0)
}

#[test]
fn a_killed_run_leaves_a_readable_cache() {
    let s = Setup::new(FakeConfig {
        latency: Duration::from_millis(50),
        ..Default::default()
    });
    s.suite(400, "temperature: 0", "{type: contains, value: Say}");
    let db: PathBuf = s.path().join(".promptgate/cache.db");
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("promptgate"))
        .current_dir(s.path())
        .env("CI", "true")
        .env_remove("GITHUB_ACTIONS")
        .args(["test", "s.yaml", "-j", "4"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !(db.exists() && cache_entries(&db) >= 20) {
        assert!(Instant::now() < deadline, "the run stored nothing");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL: no chance to clean up
    child.wait().unwrap();
    let conn = rusqlite::Connection::open(&db).unwrap();
    let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(check, "ok");
    drop(conn);
    let kept = cache_entries(&db);
    assert!((20..400).contains(&kept), "{kept}");
    let before = s.server.requests();
    let (code, out, _) = s.run(&["-j", "32"]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(
        s.server.requests() - before,
        400 - kept as u64,
        "the rerun asks only for what the killed run did not store"
    );
}

#[test]
fn max_cost_stops_at_the_budget() {
    let s = Setup::new(FakeConfig::default());
    // $1 per token: "Say N" is 2 tokens in and 2 out (the fake counts
    // characters / 4), so each call costs $4 and is estimated at $4.
    s.suite(
        5,
        "temperature: 0, max_tokens: 2, cost: {input: 1000000, output: 1000000}",
        "{type: contains, value: Say}",
    );
    let (code, out, err) = s.run(&["-j", "1", "--max-cost", "10", "--json", "r.json"]);
    assert_eq!(code, Some(3), "{out}\n{err}");
    assert_eq!(s.server.requests(), 2, "a third call would pass $10");
    assert!(out.contains("2 passed; 0 failed; 0 errored; 3 skipped"), "{out}");
    assert!(out.contains("cost: $8.0000"), "{out}");
    let r = s.json("r.json");
    let skipped: Vec<_> = r["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["verdict"] == "skipped")
        .collect();
    assert_eq!(skipped.len(), 3);
    assert!(
        skipped[0]["error"].as_str().unwrap().contains("--max-cost 10 USD"),
        "{skipped:?}"
    );
    // Every live call is in the log.
    let costs = s.command().args(["costs", "--by", "suite"]).output().unwrap();
    let costs = String::from_utf8_lossy(&costs.stdout);
    assert!(costs.contains("$8.0000 spent"), "{costs}");
}

#[test]
fn cost_assertions_use_computed_costs() {
    let s = Setup::new(FakeConfig::default());
    s.suite(
        2,
        "temperature: 0, cost: {input: 1000000, output: 1000000}",
        "{type: cost, threshold: 5}",
    );
    let (code, out, err) = s.run(&[]);
    assert_eq!(code, Some(0), "$4 per call is under $5: {out}\n{err}");
    s.suite(
        2,
        "temperature: 0, cost: {input: 1000000, output: 1000000}",
        "{type: cost, threshold: 3}",
    );
    let (code, out, _) = s.run(&[]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("cost $4 > threshold $3"), "{out}");
}

#[test]
fn repeat_5_on_a_case_that_passes_3_of_5_reports_3_of_5_the_wilson_interval_and_flaky() {
    let s = Setup::new(FakeConfig {
        cycle: ["good", "good", "bad", "good", "bad"].map(String::from).to_vec(),
        ..Default::default()
    });
    s.suite(1, "temperature: 0", "{type: contains, value: good}");
    let (code, out, err) = s.run(&["--repeat", "5", "--json", "r.json", "--junit", "j.xml"]);
    assert_eq!(code, Some(1), "min_pass_rate 1 by default: {out}\n{err}");
    assert_eq!(s.server.requests(), 5);
    // Wilson 95% for 3/5: (0.2307, 0.8824).
    assert!(out.contains("(3/5 passed, 95% CI 23–88%) flaky"), "{out}");
    assert!(out.contains("flaky: 1 case both passed and failed"), "{out}");
    assert!(out.contains("0 passed; 1 failed"), "{out}");
    let r = s.json("r.json");
    let repeats = &r["cases"][0]["repeats"];
    assert_eq!(
        (repeats["runs"].as_u64(), repeats["passed"].as_u64()),
        (Some(5), Some(3))
    );
    assert_eq!(repeats["flaky"], true);
    let lo = repeats["interval"][0].as_f64().unwrap();
    let hi = repeats["interval"][1].as_f64().unwrap();
    assert!((lo - 0.2307).abs() < 1e-3 && (hi - 0.8824).abs() < 1e-3, "{lo} {hi}");
    let xml = std::fs::read_to_string(s.path().join("j.xml")).unwrap();
    assert!(xml.contains("<failure"), "{xml}");
    assert_eq!(xml.matches("<rerunFailure").count(), 1, "{xml}");

    // At a 60% minimum the same runs pass, still flaky.
    let (code, out, _) = s.run(&["--repeat", "5", "--min-pass-rate", "0.6", "--junit", "j.xml"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("... ok (3/5 passed"), "{out}");
    let xml = std::fs::read_to_string(s.path().join("j.xml")).unwrap();
    assert_eq!(xml.matches("<flakyFailure").count(), 2, "{xml}");
    assert!(!xml.contains("<failure"), "{xml}");

    // The GitHub step summary says so too.
    let md = s.path().join("summary.md");
    let out = s
        .command()
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &md)
        .args(["test", "s.yaml", "--repeat", "5", "--min-pass-rate", "0.6"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let md = std::fs::read_to_string(md).unwrap();
    assert!(
        md.contains("1 flaky (passed and failed across `--repeat` runs)"),
        "{md}"
    );
}

#[test]
fn the_fault_mix_reaches_every_verdict() {
    let s = Setup::new(FakeConfig {
        faults: FaultMix::standard(),
        ..Default::default()
    });
    s.suite(
        300,
        "temperature: 0, retry_delay_ms: 20",
        "{type: regex, value: '^Say \\d+$'}",
    );
    let (code, out, err) = s.run(&["-j", "32", "--json", "r.json", "--no-cache"]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(out.contains("300 passed; 0 failed; 0 errored"), "{out}");
    assert!(s.server.faults() > 20, "the mix produced faults: {}", s.server.faults());
    assert_eq!(s.server.requests(), 300 + s.server.faults());
}

/// An echo-only project: no server needed.
fn echo_project(cases: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    // 6 of 40 cases fail: a pass rate of 0.85, under the suite's 0.9.
    let mut s = "prompts: ['Say {{ n }}']\nproviders: [echo]\nthresholds: {pass_rate: 0.9}\ntests:\n".to_string();
    for n in 0..cases {
        // Every seventh case fails.
        let value = if n % 7 == 0 { "nope" } else { "Say" };
        writeln!(
            s,
            "  - description: case {n}\n    vars: {{n: {n}}}\n    assert: [{{type: contains, value: {value}}}]"
        )
        .unwrap();
    }
    std::fs::write(dir.path().join("s.yaml"), s).unwrap();
    dir
}

fn promptgate(dir: &Path, args: &[&str]) -> Output {
    Command::cargo_bin("promptgate")
        .unwrap()
        .current_dir(dir)
        .env("CI", "true")
        .env_remove("GITHUB_ACTIONS")
        .args(args)
        .output()
        .unwrap()
}

fn verdicts(report: &serde_json::Value) -> std::collections::BTreeMap<String, String> {
    report["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["verdict"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn shards_cover_every_case_exactly_once_and_merge_to_the_unsharded_verdicts() {
    let dir = echo_project(40);
    let p = dir.path();
    let whole = promptgate(p, &["test", "s.yaml", "--json", "whole.json", "--junit", "whole.xml"]);
    assert_eq!(whole.status.code(), Some(1));
    let whole: serde_json::Value = serde_json::from_slice(&std::fs::read(p.join("whole.json")).unwrap()).unwrap();
    let mut seen = std::collections::BTreeMap::new();
    for i in 1..=3 {
        let json = format!("shard{i}.json");
        let out = promptgate(
            p,
            &[
                "test",
                "s.yaml",
                "--shard",
                &format!("{i}/3"),
                "--json",
                &json,
                "--junit",
                &format!("shard{i}.xml"),
            ],
        );
        assert!(matches!(out.status.code(), Some(0 | 1)), "{out:?}");
        let report: serde_json::Value = serde_json::from_slice(&std::fs::read(p.join(&json)).unwrap()).unwrap();
        let cases = report["cases"].as_array().unwrap();
        assert!(!cases.is_empty() && cases.len() < 40, "shard {i} holds {}", cases.len());
        for name in verdicts(&report).into_keys() {
            assert!(seen.insert(name.clone(), i).is_none(), "{name} in two shards");
        }
    }
    assert_eq!(seen.len(), 40, "every case in exactly one shard");
    // The same split again: a case keeps its shard.
    let again = promptgate(p, &["test", "s.yaml", "--shard", "2/3", "--list"]);
    let listed = String::from_utf8_lossy(&again.stdout)
        .lines()
        .filter(|l| l.ends_with(": case"))
        .count();
    assert_eq!(listed, seen.values().filter(|&&s| s == 2).count());

    let merged = promptgate(
        p,
        &[
            "report",
            "merge",
            "shard1.json",
            "shard2.json",
            "shard3.json",
            "-o",
            "merged",
        ],
    );
    assert_eq!(merged.status.code(), Some(1), "{merged:?}");
    let stdout = String::from_utf8_lossy(&merged.stdout);
    assert!(stdout.contains("34 passed; 6 failed; 0 errored"), "{stdout}");
    let merged_json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(p.join("merged/report.json")).unwrap()).unwrap();
    assert_eq!(verdicts(&merged_json), verdicts(&whole));
    assert_eq!(merged_json["summary"]["failed"], whole["summary"]["failed"]);
    // The suite threshold is judged on the merged set, as in the whole run.
    assert_eq!(whole["summary"]["thresholds_failed"], 1);
    assert_eq!(merged_json["summary"]["thresholds_failed"], 1);
    assert_eq!(merged_json["thresholds"][0]["stats"]["failed"], 6);
    assert_eq!(merged_json["thresholds"], whole["thresholds"]);
    let xml = std::fs::read_to_string(p.join("merged/junit.xml")).unwrap();
    assert_eq!(xml.matches("<testcase").count(), 41, "40 cases and the thresholds");
    assert_eq!(xml.matches("<failure").count(), 7);

    // A shard given twice is refused.
    let twice = promptgate(p, &["report", "merge", "shard1.json", "shard1.json", "-o", "x"]);
    assert_eq!(twice.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&twice.stderr).contains("shard 1/3 appears twice"),
        "{twice:?}"
    );
    // Part of a split is refused: it would gate on part of the cases.
    let part = promptgate(p, &["report", "merge", "shard1.json", "shard2.json", "-o", "x"]);
    assert_eq!(part.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&part.stderr).contains("shard 3/3 missing"),
        "{part:?}"
    );
    assert!(!p.join("x").exists(), "nothing is written");
    // So is a mix of split and whole runs.
    let mixed = promptgate(p, &["report", "merge", "shard1.json", "whole.json", "-o", "x"]);
    assert_eq!(mixed.status.code(), Some(2), "{mixed:?}");
}

#[test]
fn min_pass_rate_comes_from_the_test_else_default_test_and_is_validated() {
    let s = Setup::new(FakeConfig {
        cycle: ["good", "good", "bad", "good", "bad"].map(String::from).to_vec(),
        ..Default::default()
    });
    let write = |default_rate: &str, test_rate: &str| {
        let suite = format!(
            "prompts: [say]\nproviders:\n  - id: openai:chat:fake\n    config: {{apiBaseUrl: '{}', temperature: 0}}\ndefaultTest:\n  min_pass_rate: {default_rate}\ntests:\n  - vars: {{n: 1}}\n{test_rate}    assert: [{{type: contains, value: good}}]\n",
            s.server.base_url()
        );
        std::fs::write(s.path().join("s.yaml"), suite).unwrap();
    };
    write("0.6", "");
    let (code, out, _) = s.run(&["--repeat", "5"]);
    assert_eq!(code, Some(0), "the suite's 60% applies: {out}");
    write("0.6", "    min_pass_rate: 0.8\n");
    let (code, out, _) = s.run(&["--repeat", "5", "--min-pass-rate", "0.1"]);
    assert_eq!(code, Some(1), "the test's 80% wins over the suite and the flag: {out}");
    write("1.5", "");
    let (code, _, err) = s.run(&["--repeat", "5"]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("`min_pass_rate` must be above 0 and at most 1 (0 could never fail), got 1.5"),
        "{err}"
    );
    // 0 would pass a case that never passed: an input error.
    write("0", "");
    let (code, _, err) = s.run(&["--repeat", "5"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("got 0"), "{err}");
}

#[test]
fn each_repeat_is_recorded_and_replayed_on_its_own() {
    let s = Setup::new(FakeConfig {
        cycle: ["good", "good", "bad", "good", "bad"].map(String::from).to_vec(),
        ..Default::default()
    });
    s.suite(1, "temperature: 0", "{type: contains, value: good}");
    let (_, out, err) = s.run(&["--repeat", "5", "--no-cache", "--record", "rec", "-j", "1"]);
    assert!(out.contains("(3/5 passed"), "{out}\n{err}");
    assert_eq!(s.server.requests(), 5);
    let (_, out, err) = s.run(&["--repeat", "5", "--replay", "rec"]);
    assert!(
        out.contains("(3/5 passed"),
        "replay gives the recorded runs back: {out}\n{err}"
    );
    assert_eq!(s.server.requests(), 5, "a replay makes no request");
}

#[test]
fn shards_of_different_plans_are_refused_and_one_plan_has_one_digest() {
    let dir = echo_project(40);
    let p = dir.path();
    let json =
        |name: &str| -> serde_json::Value { serde_json::from_slice(&std::fs::read(p.join(name)).unwrap()).unwrap() };
    let shard = |i: u32, name: &str| {
        let out = promptgate(
            p,
            &[
                "test",
                "s.yaml",
                "--shard",
                &format!("{i}/2"),
                "--json",
                name,
                "--junit",
                "j.xml",
            ],
        );
        assert!(matches!(out.status.code(), Some(0 | 1)), "{out:?}");
    };
    shard(1, "a1.json");
    shard(2, "a2.json");
    let whole = promptgate(p, &["test", "s.yaml", "--json", "whole.json", "--junit", "j.xml"]);
    assert_eq!(whole.status.code(), Some(1), "{whole:?}");
    // Every shard of one plan, and the unsharded run, carry the same digest.
    let digest = json("a1.json")["plan_digest"]
        .as_str()
        .expect("a plan digest")
        .to_string();
    assert_eq!(digest.len(), 64, "{digest}");
    assert_eq!(json("a2.json")["plan_digest"], digest.as_str());
    assert_eq!(json("whole.json")["plan_digest"], digest.as_str());
    // Other repeats or another --filter make another plan.
    for extra in [["--repeat", "2"], ["--filter", "case_1"]] {
        let out = promptgate(
            p,
            &[
                &["test", "s.yaml", "--json", "other.json", "--junit", "j.xml"],
                &extra[..],
            ]
            .concat(),
        );
        assert!(matches!(out.status.code(), Some(0 | 1)), "{out:?}");
        assert_ne!(json("other.json")["plan_digest"], digest.as_str(), "{extra:?}");
    }

    // The suite changes between the shards (one more test case): the second
    // shard is of another plan, with the same split 2 of 2.
    let mut suite = std::fs::read_to_string(p.join("s.yaml")).unwrap();
    suite.push_str("  - description: added later\n    vars: {n: 99}\n    assert: [{type: contains, value: Say}]\n");
    std::fs::write(p.join("s.yaml"), suite).unwrap();
    shard(2, "b2.json");
    assert_ne!(json("b2.json")["plan_digest"], digest.as_str());
    let mixed = promptgate(p, &["report", "merge", "a1.json", "b2.json", "-o", "out"]);
    assert_eq!(mixed.status.code(), Some(2), "{mixed:?}");
    let err = String::from_utf8_lossy(&mixed.stderr);
    assert!(
        err.contains("a1.json") && err.contains("b2.json") && err.contains("different suites or prompts"),
        "{err}"
    );
    assert!(!p.join("out").exists(), "nothing is written");

    // The reports of one plan merge, and the merged report is that plan's.
    let merged = promptgate(p, &["report", "merge", "a1.json", "a2.json", "-o", "out"]);
    assert_eq!(merged.status.code(), Some(1), "{merged:?}");
    assert_eq!(json("out/report.json")["plan_digest"], digest.as_str());

    // A shard report without a digest (an older promptgate) cannot be
    // checked: refused, saying so, rather than merged on trust.
    let mut old = json("a2.json");
    old.as_object_mut().unwrap().remove("plan_digest");
    std::fs::write(p.join("old2.json"), serde_json::to_vec(&old).unwrap()).unwrap();
    let refused = promptgate(p, &["report", "merge", "a1.json", "old2.json", "-o", "out2"]);
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("old2.json") && err.contains("no plan digest"), "{err}");
    assert!(!p.join("out2").exists());
}

#[test]
fn the_cache_line_counts_answers_not_cases_with_repeat() {
    let s = Setup::new(FakeConfig::default());
    s.suite(
        2,
        "temperature: 0, cost: {input: 1000000, output: 1000000}",
        "{type: contains, value: Say}",
    );
    let (code, out, err) = s.run(&["--repeat", "3"]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert_eq!(s.server.requests(), 6);
    assert!(!out.contains("response cache"), "nothing came from the cache: {out}");
    // Each call costs $4 (2 tokens in, 2 out, $1 per token): 6 calls.
    assert!(out.contains("cost: $24.0000"), "{out}");
    // Everything again from the cache: 6 answers, not 2 cases.
    let (code, out, _) = s.run(&["--repeat", "3", "--json", "r.json"]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(s.server.requests(), 6);
    assert!(
        out.contains("response cache: 6 of 6 answers from the cache (no request sent), saved $24.0000"),
        "{out}"
    );
    let summary = &s.json("r.json")["summary"];
    assert_eq!(
        (summary["cached_answers"].as_u64(), summary["sent_answers"].as_u64()),
        (Some(6), Some(0))
    );
    assert_eq!(summary["saved_usd"], 24.0);
    // A fourth run of each case is new: 6 answers from the cache, 2 requests.
    let (code, out, _) = s.run(&["--repeat", "4", "--json", "r.json"]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(s.server.requests(), 8);
    assert!(
        out.contains("response cache: 6 of 8 answers from the cache (2 requests sent), saved $24.0000"),
        "{out}"
    );
    assert!(out.contains("cost: $8.0000"), "only the 2 new calls were paid: {out}");
    let summary = &s.json("r.json")["summary"];
    assert_eq!(
        (summary["cached_answers"].as_u64(), summary["sent_answers"].as_u64()),
        (Some(6), Some(2))
    );
}

#[test]
fn max_cost_with_an_unpriced_model_is_an_input_error_unless_replayed() {
    let s = Setup::new(FakeConfig::default());
    // `fake` is in no price table.
    s.suite(2, "temperature: 0", "{type: contains, value: Say}");
    let (code, out, err) = s.run(&["--max-cost", "1"]);
    assert_eq!(code, Some(2), "{out}\n{err}");
    assert_eq!(s.server.requests(), 0, "nothing is called");
    assert!(
        err.contains("--max-cost: provider openai:chat:fake (model `fake`) has no price"),
        "{err}"
    );
    assert!(
        err.contains("config: {cost: {input:") && err.contains("[prices.\"fake\"]"),
        "{err}"
    );
    // A price in promptgate.toml is enough.
    std::fs::write(
        s.path().join("promptgate.toml"),
        "[prices.\"fake\"]\ninput = 0\noutput = 0\n",
    )
    .unwrap();
    let (code, out, err) = s.run(&["--max-cost", "1"]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    std::fs::remove_file(s.path().join("promptgate.toml")).unwrap();
    // A replayed run calls nothing, so it needs no price.
    let (code, out, err) = s.run(&["--record", "rec", "--no-cache"]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    let (code, out, err) = s.run(&["--replay", "rec", "--max-cost", "1"]);
    assert_eq!(code, Some(0), "{out}\n{err}");

    // An unpriced grader is refused the same way; `echo` under test needs no price.
    let suite = format!(
        "prompts: [say]\nproviders: [echo]\ntests:\n  - vars: {{n: 1}}\n    assert:\n      - type: llm-rubric\n        value: is polite\n        provider:\n          id: openai:chat:judge\n          config: {{apiBaseUrl: '{}'}}\n",
        s.server.base_url()
    );
    std::fs::write(s.path().join("s.yaml"), suite).unwrap();
    let (code, out, err) = s.run(&["--max-cost", "1"]);
    assert_eq!(code, Some(2), "{out}\n{err}");
    assert!(
        err.contains("--max-cost: grader openai:chat:judge (model `judge`) has no price"),
        "{err}"
    );
}

#[test]
fn costs_show_unpriced_models_as_unpriced_not_free() {
    let s = Setup::new(FakeConfig::default());
    // `fake` has no price.
    s.suite(2, "temperature: 0", "{type: contains, value: Say}");
    let (code, out, err) = s.run(&[]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    let table = s.command().args(["costs"]).output().unwrap();
    let table = String::from_utf8_lossy(&table.stdout).into_owned();
    let row = table
        .lines()
        .find(|l| l.starts_with("openai:chat:fake fake"))
        .unwrap_or_else(|| panic!("{table}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells[6], "—", "the cost is unknown, not $0: {table}");
    assert!(table.contains("2 calls without a price"), "{table}");
    assert!(
        table.contains("[prices.\"MODEL\"]") && table.contains("config.cost"),
        "{table}"
    );
    let json = s.command().args(["costs", "--json"]).output().unwrap();
    let rows: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(rows[0]["cost_usd"], serde_json::Value::Null, "{rows}");
    assert_eq!(rows[0]["unpriced_calls"], 2, "{rows}");

    // Priced calls show their cost.
    s.suite(
        2,
        "temperature: 0.5, cost: {input: 1000000, output: 1000000}",
        "{type: contains, value: Say}",
    );
    s.run(&[]);
    let json = s.command().args(["costs", "--json", "--by", "suite"]).output().unwrap();
    let rows: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(rows[0]["cost_usd"], 8.0, "{rows}");
    assert_eq!(rows[0]["unpriced_calls"], 2, "{rows}");
    let table = s.command().args(["costs", "--by", "suite"]).output().unwrap();
    let table = String::from_utf8_lossy(&table.stdout).into_owned();
    assert!(table.contains("8.0000*"), "partly priced: {table}");
}

/// A case waiting out a retry backoff gives its `-j` place up: with `-j 2`,
/// every case's first attempt is sent before any retry (a 300 ms backoff
/// against an instant server). With `-j 1` the run stays in plan order: each
/// case's retry comes right after its failed attempt.
#[test]
fn a_case_waiting_out_a_backoff_gives_its_place_up() {
    let s = Setup::new(config(Some((Fault::ServerError, 1))));
    s.suite(6, "temperature: 0, retry_delay_ms: 300", "{type: contains, value: Say}");
    let (code, out, err) = s.run(&["-j", "2", "--no-cache"]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert_eq!(s.server.arrivals(), vec![0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1], "{out}");

    let s = Setup::new(config(Some((Fault::ServerError, 1))));
    s.suite(3, "temperature: 0, retry_delay_ms: 50", "{type: contains, value: Say}");
    let (code, out, err) = s.run(&["-j", "1", "--no-cache"]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert_eq!(s.server.arrivals(), vec![0, 1, 0, 1, 0, 1], "{out}");
}

/// `test --baseline` runs the production version through the same response
/// cache and the same `--max-cost` budget as the candidate: a rerun makes no
/// request at all, and a budget with an unpriced model stops before the
/// baseline calls anything.
#[test]
fn the_baseline_run_uses_the_cache_and_the_budget() {
    let s = Setup::new(FakeConfig::default());
    s.suite(4, "temperature: 0", "{type: contains, value: Say}");
    let reg = |args: &[&str]| {
        let out = s.command().arg("registry").args(args).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    reg(&["add", "say", "--file", "prompts/say.txt"]);
    reg(&["activate", "say@1", "--force", "--reason", "bootstrap"]);

    let (code, out, err) = s.run(&["--baseline", "production"]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(err.contains("running the baseline"), "{err}");
    // The baseline asked first; the candidate (the same prompt) was answered from the cache.
    assert_eq!(s.server.requests(), 4, "{out}");
    let (code, out, err) = s.run(&["--baseline", "production"]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert_eq!(s.server.requests(), 4, "a rerun calls nothing: {out}");

    // `fake` has no price: a budget cannot bound it, for the baseline either.
    let (code, out, err) = s.run(&["--baseline", "production", "--max-cost", "1", "--no-cache"]);
    assert_eq!(code, Some(2), "{out}\n{err}");
    assert!(err.contains("price"), "{err}");
    assert_eq!(s.server.requests(), 4, "nothing was called: {out}");
}
