//! Report formats on hand-built results: JUnit XML (well-formed whatever the
//! outputs hold, valid against the Jenkins/xunit `junit-10.xsd`), the streamed
//! JSON report and the GitHub Actions annotations and step summary.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use promptgate::report::github::{escape_data, escape_property, GithubReporter};
use promptgate::report::json::JsonReporter;
use promptgate::report::junit::{self, JunitReporter};
use promptgate::report::Reporter;
use promptgate::result::{AssertionResult, CaseResult, RunSummary, Verdict};
use promptgate::runner::{Event, RunInfo};

const NASTY: &str = "nul:\u{0} soh:\u{1} ansi:\u{1b}[31mred\u{1b}[0m cdata:]]> lone:<&> \"quoted\" 'single' \
                     non-ascii: Ünïcödé — 東京 🚀 nonchar:\u{FFFE}\u{FFFF}\ttab\r\ncrlf";

fn assertion(kind: &str, pass: bool, reason: &str, line: usize) -> AssertionResult {
    AssertionResult {
        kind: kind.into(),
        expected: Some(format!("expected for {kind} <&>")),
        pass,
        score: if pass { 1.0 } else { 0.0 },
        weight: 1.0,
        metric: None,
        reason: reason.into(),
        error: None,
        line: Some(line),
        file: Some("suites/rag.yaml".into()),
        grader: None,
    }
}

fn case(index: usize, test: &str, provider: &str, verdict: Verdict) -> CaseResult {
    let mut c = CaseResult::new(index, format!("rag::{test}"))
        .with_suite("rag", "suites/rag.yaml")
        .with_test_file("suites/rag.yaml", Some(10 + index))
        .with_prompt("rag_system", "1a2b3c4d5e6f")
        .with_provider(provider)
        .with_verdict(verdict)
        .with_assertions(vec![assertion("contains", true, "found", 20)], 1.0)
        .with_output(format!("output of {test}"));
    c.latency_ms = Some(120);
    c.finish_reason = Some("stop".into());
    c.duration_ms = 1234;
    c
}

/// pass, fail (two failing assertions, threshold), error (case error), error
/// (assertion error), skipped; outputs with every kind of nasty character.
fn cases() -> Vec<Arc<CaseResult>> {
    let mut pass = case(0, "capital", "openai:gpt-4o-mini", Verdict::Pass);
    pass.output = Some("Ünïcödé — 東京 🚀 <b>bold</b> & done".into());

    let mut fail = case(1, "refusal", "openai:gpt-4o-mini", Verdict::Fail);
    fail.line = Some(12);
    fail.score = 1.0 / 3.0;
    fail.threshold = Some(0.8);
    fail.assertions = vec![
        assertion("contains", true, "found", 13),
        assertion("icontains", false, "output lacks \"Paris\" ]]> <&>", 14),
        assertion("not-regex", false, &format!("matched: {NASTY}"), 15),
    ];
    fail.output = Some(NASTY.into());

    let mut error = case(2, "timeout", "anthropic:claude", Verdict::Error);
    error.error = Some("provider timed out after 30 s <&> \u{1}".into());
    error.output = None;
    error.assertions = vec![];

    let mut graded = case(3, "graded", "anthropic:claude", Verdict::Error);
    let mut broken = assertion("llm-rubric", false, "", 30);
    broken.error = Some("grader returned no JSON".into());
    graded.assertions = vec![broken];

    let mut skipped = case(4, "later", "openai:gpt-4o-mini", Verdict::Skipped);
    skipped.error = Some("not run: --fail-fast".into());
    skipped.output = None;
    skipped.assertions = vec![];

    // Completion order differs from plan order.
    vec![skipped, error, fail, pass, graded]
        .into_iter()
        .map(Arc::new)
        .collect()
}

fn summary_of(cases: &[Arc<CaseResult>]) -> RunSummary {
    let mut s = RunSummary {
        duration_ms: 4321,
        ..RunSummary::default()
    };
    for c in cases {
        s.count(c.verdict);
    }
    s
}

fn started_at() -> chrono::DateTime<chrono::Local> {
    chrono::Local::now()
}

fn render() -> String {
    let cases = cases();
    junit::render(&cases, &summary_of(&cases), started_at()).expect("render")
}

fn attr<'a>(node: roxmltree::Node<'a, '_>, name: &str) -> &'a str {
    node.attribute(name)
        .unwrap_or_else(|| panic!("<{}> has no {name}", node.tag_name().name()))
}

fn children<'a, 'i>(node: roxmltree::Node<'a, 'i>, tag: &str) -> Vec<roxmltree::Node<'a, 'i>> {
    node.children()
        .filter(|n| n.is_element() && n.has_tag_name(tag))
        .collect()
}

#[test]
fn junit_is_well_formed_with_nasty_outputs() {
    let xml = render();
    let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
    let text: String = doc.descendants().filter_map(|n| n.text()).collect::<Vec<_>>().join("");
    let attrs: String = doc
        .descendants()
        .flat_map(|n| n.attributes().map(|a| a.value().to_string()))
        .collect();
    for all in [&text, &attrs] {
        assert!(!all.contains('\u{0}') && !all.contains('\u{1}') && !all.contains('\u{1b}'));
        assert!(!all.contains('\u{FFFE}') && !all.contains('\u{FFFF}'));
    }
    assert!(text.contains("ansi:red cdata:]]> lone:<&>"), "{text}");
    assert!(text.contains("Ünïcödé — 東京 🚀 <b>bold</b> & done"));
    assert!(!xml.contains("<b>bold"), "markup in outputs must be escaped");
}

#[test]
fn junit_counts_names_and_order() {
    let xml = render();
    let doc = roxmltree::Document::parse(&xml).expect("parse");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    assert_eq!(attr(root, "name"), "promptgate");
    assert_eq!(attr(root, "tests"), "5");
    assert_eq!(attr(root, "failures"), "1");
    assert_eq!(attr(root, "errors"), "2");
    assert_eq!(attr(root, "skipped"), "1");
    assert_eq!(attr(root, "time"), "4.321");

    let suites = children(root, "testsuite");
    let names: Vec<_> = suites.iter().map(|s| attr(*s, "name")).collect();
    assert_eq!(
        names,
        [
            "rag [rag_system@1a2b3c4d5e6f openai:gpt-4o-mini]",
            "rag [rag_system@1a2b3c4d5e6f anthropic:claude]",
        ]
    );
    let openai = suites[0];
    assert_eq!(attr(openai, "tests"), "3");
    assert_eq!(attr(openai, "failures"), "1");
    assert_eq!(attr(openai, "errors"), "0");
    assert_eq!(attr(openai, "skipped"), "1");
    assert!(openai.attribute("timestamp").is_some());
    let anthropic = suites[1];
    assert_eq!(attr(anthropic, "tests"), "2");
    assert_eq!(attr(anthropic, "errors"), "2");

    let case_names: Vec<_> = children(openai, "testcase")
        .into_iter()
        .map(|c| (attr(c, "name"), attr(c, "classname"), attr(c, "time")))
        .collect();
    assert_eq!(
        case_names,
        [
            ("capital [rag_system@1a2b3c4d5e6f openai:gpt-4o-mini]", "rag", "1.234"),
            ("refusal [rag_system@1a2b3c4d5e6f openai:gpt-4o-mini]", "rag", "1.234"),
            ("later [rag_system@1a2b3c4d5e6f openai:gpt-4o-mini]", "rag", "1.234"),
        ]
    );
    // Names are unique across the report (GitLab keeps the first of duplicates).
    let all: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .map(|n| attr(n, "name"))
        .collect();
    let mut dedup = all.clone();
    dedup.sort_unstable();
    dedup.dedup();
    assert_eq!(all.len(), dedup.len());
}

#[test]
fn junit_properties_carry_prompt_hash_and_provider() {
    let xml = render();
    let doc = roxmltree::Document::parse(&xml).expect("parse");
    for suite in children(doc.root_element(), "testsuite") {
        let props = children(suite, "properties");
        assert_eq!(props.len(), 1);
        let pairs: Vec<_> = children(props[0], "property")
            .into_iter()
            .map(|p| (attr(p, "name"), attr(p, "value")))
            .collect();
        assert!(pairs.contains(&("prompt_hash", "1a2b3c4d5e6f")), "{pairs:?}");
        assert!(pairs.contains(&("prompt", "rag_system")));
        assert!(pairs.contains(&("suite_file", "suites/rag.yaml")));
        let provider = pairs.iter().find(|(n, _)| *n == "provider").expect("provider");
        assert!(attr(suite, "name").ends_with(&format!(" {}]", provider.1)));
    }
}

fn testcase<'a, 'i>(doc: &'a roxmltree::Document<'i>, prefix: &str) -> roxmltree::Node<'a, 'i> {
    doc.descendants()
        .find(|n| n.has_tag_name("testcase") && attr(*n, "name").starts_with(prefix))
        .unwrap_or_else(|| panic!("no testcase {prefix}"))
}

#[test]
fn junit_failure_error_and_skipped_details() {
    let xml = render();
    let doc = roxmltree::Document::parse(&xml).expect("parse");

    let fail = testcase(&doc, "refusal ");
    let failure = children(fail, "failure");
    assert_eq!(failure.len(), 1);
    let failure = failure[0];
    let message = attr(failure, "message");
    assert!(
        message.starts_with("icontains: output lacks \"Paris\" ]]> <&>"),
        "{message}"
    );
    assert!(!message.contains('\n'));
    assert_eq!(attr(failure, "type"), "icontains");
    let text = failure.text().unwrap_or_default();
    assert!(text.contains("suites/rag.yaml:12"), "{text}");
    assert!(text.contains("icontains") && text.contains("not-regex"), "{text}");
    assert!(text.contains("expected for icontains <&>"), "{text}");
    assert!(text.contains("threshold 0.800"), "{text}");
    assert!(text.contains("0.333"), "{text}");
    assert!(
        !text.contains("- contains"),
        "passing assertions are not listed: {text}"
    );
    let out = children(fail, "system-out");
    assert_eq!(out.len(), 1);
    assert!(out[0].text().unwrap_or_default().contains("ansi:red"));

    let error = testcase(&doc, "timeout ");
    let e = children(error, "error");
    assert_eq!(e.len(), 1);
    assert_eq!(attr(e[0], "type"), "error");
    assert_eq!(attr(e[0], "message"), "provider timed out after 30 s <&>");
    assert!(children(error, "failure").is_empty());

    let graded = testcase(&doc, "graded ");
    let e = children(graded, "error");
    assert_eq!(attr(e[0], "message"), "llm-rubric: grader returned no JSON");

    let skipped = testcase(&doc, "later ");
    let s = children(skipped, "skipped");
    assert_eq!(s.len(), 1);
    assert_eq!(attr(s[0], "message"), "not run: --fail-fast");

    let pass = testcase(&doc, "capital ");
    assert!(children(pass, "failure").is_empty() && children(pass, "error").is_empty());
    assert_eq!(children(pass, "system-out").len(), 1);
}

/// Removes the `skipped` attribute quick-junit writes on `<testsuites>`: the one
/// thing junit-10.xsd does not allow there. Nothing else is touched.
fn strip_testsuites_skipped(xml: &str) -> String {
    let start = xml.find("<testsuites").expect("<testsuites");
    let end = start + xml[start..].find('>').expect("end of <testsuites>");
    let tag = &xml[start..end];
    let Some(at) = tag.find(" skipped=\"") else {
        return xml.to_string();
    };
    let value_start = at + " skipped=\"".len();
    let close = value_start + tag[value_start..].find('"').expect("closing quote");
    format!("{}{}{}", &xml[..start + at], &xml[start + close + 1..end], &xml[end..])
}

fn xmllint_available() -> bool {
    let found = Command::new("xmllint").arg("--version").output().is_ok();
    if !found {
        if std::env::var_os("CI").is_some() {
            panic!("xmllint is required in CI (apt-get install libxml2-utils)");
        }
        // Straight to stderr, not `eprintln!`: libtest would capture that.
        let _ = writeln!(
            std::io::stderr(),
            "\n*** NOTE: xmllint not found: JUnit schema validation SKIPPED. \
             Install libxml2-utils to run it (CI requires it). ***\n"
        );
    }
    found
}

fn validate(xml: &str) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let file = dir.path().join("report.xml");
    std::fs::write(&file, xml).map_err(|e| e.to_string())?;
    let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/junit-10.xsd");
    let out = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(&schema)
        .arg(&file)
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[test]
fn junit_validates_against_junit_10_xsd() {
    if !xmllint_available() {
        return;
    }
    let xml = render();
    let stripped = strip_testsuites_skipped(&xml);
    assert_ne!(stripped, xml, "quick-junit no longer writes testsuites@skipped?");
    assert!(!stripped.contains("<testsuites name=\"promptgate\" tests=\"5\" skipped"));
    if let Err(e) = validate(&stripped) {
        panic!("schema validation failed:\n{e}\n{stripped}");
    }
    // The schema check does catch what it should: the unstripped report fails.
    assert!(validate(&xml).is_err());
}

#[test]
fn junit_reporter_writes_the_file_on_run_finished() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("reports/junit.xml");
    let mut reporter = JunitReporter::new(path.clone());
    let cases = cases();
    reporter
        .on_event(&Event::RunStarted(run_info(cases.len())))
        .expect("started");
    for c in &cases {
        reporter.on_event(&Event::CaseFinished(Arc::clone(c))).expect("case");
    }
    assert!(!path.exists());
    reporter
        .on_event(&Event::RunFinished(summary_of(&cases)))
        .expect("finished");
    let xml = std::fs::read_to_string(&path).expect("report");
    let doc = roxmltree::Document::parse(&xml).expect("parse");
    assert_eq!(attr(doc.root_element(), "tests"), "5");
}

fn run_info(total: usize) -> RunInfo {
    RunInfo {
        total_cases: total,
        suites: 1,
        started_at: started_at(),
        shard: None,
        plan_digest: None,
    }
}

#[test]
fn json_report_streams_and_persists_atomically() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("out/report.json");
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(&path, "previous report").expect("seed");

    let mut reporter = JsonReporter::new(path.clone()).expect("reporter");
    let cases = cases();
    reporter
        .on_event(&Event::RunStarted(run_info(cases.len())))
        .expect("started");
    for c in &cases {
        reporter.on_event(&Event::CaseFinished(Arc::clone(c))).expect("case");
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            "previous report",
            "the target must not hold partial content"
        );
    }
    reporter
        .on_event(&Event::RunFinished(summary_of(&cases)))
        .expect("finished");

    let text = std::fs::read_to_string(&path).expect("read");
    let v: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    assert_eq!(v["version"], 1);
    assert!(v["started_at"].as_str().is_some_and(|s| s.contains('T')));
    let json_cases = v["cases"].as_array().expect("cases");
    assert_eq!(json_cases.len(), 5);
    // Completion order, as streamed.
    let indexes: Vec<_> = json_cases.iter().map(|c| c["index"].as_u64()).collect();
    assert_eq!(indexes, [4, 2, 1, 0, 3].map(Some));
    let fail = &json_cases[2];
    assert_eq!(fail["verdict"], "fail");
    assert_eq!(fail["output"], NASTY, "JSON keeps outputs verbatim");
    assert_eq!(fail["assertions"][1]["type"], "icontains");
    assert_eq!(v["summary"]["passed"], 1);
    assert_eq!(v["summary"]["failed"], 1);
    assert_eq!(v["summary"]["errored"], 2);
    assert_eq!(v["summary"]["skipped"], 1);
    assert_eq!(v["summary"]["duration_ms"], 4321);
    // One case per line.
    assert_eq!(text.lines().count(), 1 + 5 + 1);

    // Only the report is left in its directory: no temporary files.
    let entries: Vec<_> = std::fs::read_dir(path.parent().expect("parent"))
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(entries, ["report.json"]);
}

#[test]
fn json_report_of_an_interrupted_run_leaves_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("report.json");
    let mut reporter = JsonReporter::new(path.clone()).expect("reporter");
    reporter.on_event(&Event::RunStarted(run_info(1))).expect("started");
    reporter
        .on_event(&Event::CaseFinished(Arc::new(case(0, "t", "echo", Verdict::Pass))))
        .expect("case");
    assert!(!path.exists());
    drop(reporter);
    assert!(!path.exists());
    assert_eq!(std::fs::read_dir(dir.path()).expect("read_dir").count(), 0);
}

/// A `Write` whose bytes the test can read afterwards.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().expect("lock").clone()).expect("utf-8")
    }
}

#[test]
fn github_escaping_follows_the_workflow_command_rules() {
    assert_eq!(escape_data("100% done\r\nnext: a,b"), "100%25 done%0D%0Anext: a,b");
    assert_eq!(escape_property("C:\\dir,x%y\nz"), "C%3A\\dir%2Cx%25y%0Az");
}

#[test]
fn github_annotations_and_step_summary() {
    let dir = tempfile::tempdir().expect("tempdir");
    let summary_path = dir.path().join("step_summary.md");
    std::fs::write(&summary_path, "previous step\n").expect("seed");
    let captured = Captured::default();
    let mut reporter = GithubReporter::new(Box::new(captured.clone()), Some(summary_path.clone()));

    let mut cases = cases();
    // A failing case whose file and message need escaping.
    let mut odd = case(5, "odd", "echo", Verdict::Fail);
    odd.test_file = PathBuf::from("suites/a,b:c.yaml");
    odd.line = Some(7);
    odd.assertions = vec![assertion("equals", false, "50% off\nsecond line | pipe", 8)];
    cases.push(Arc::new(odd));

    reporter
        .on_event(&Event::RunStarted(run_info(cases.len())))
        .expect("started");
    for c in &cases {
        reporter.on_event(&Event::CaseFinished(Arc::clone(c))).expect("case");
    }
    reporter
        .on_event(&Event::RunFinished(summary_of(&cases)))
        .expect("finished");

    let out = captured.text();
    let lines: Vec<_> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}"); // 2 fail + 2 error, nothing for pass/skip
    assert!(lines.iter().all(|l| l.starts_with("::error file=")));
    let odd_line = lines.iter().find(|l| l.contains("odd")).expect("odd annotation");
    assert!(
        odd_line.starts_with("::error file=suites/a%2Cb%3Ac.yaml,line=7,title=rag%3A%3Aodd "),
        "{odd_line}"
    );
    assert!(
        odd_line.ends_with("::equals: 50%25 off%0Asecond line | pipe"),
        "{odd_line}"
    );
    let refusal = lines.iter().find(|l| l.contains("refusal")).expect("refusal");
    assert!(refusal.contains("line=12,"), "{refusal}");
    assert!(refusal.contains("icontains: output lacks"), "{refusal}");
    assert!(refusal.contains("%0Anot-regex: matched"), "{refusal}");
    assert!(refusal.contains("%0Ascore 0.333 below threshold 0.800"), "{refusal}");
    let timeout = lines.iter().find(|l| l.contains("timeout")).expect("timeout");
    assert!(
        timeout.ends_with("::provider timed out after 30 s <&> \u{1}"),
        "{timeout}"
    );

    let md = std::fs::read_to_string(&summary_path).expect("summary");
    assert!(md.starts_with("previous step\n"), "appends: {md}");
    assert!(md.contains("1 passed, 2 failed, 2 errored, 1 skipped"), "{md}");
    assert!(md.contains("| Suite | Prompt | Provider |"), "{md}");
    assert!(
        md.contains("| rag | rag\\_system@1a2b3c4d5e6f | openai:gpt-4o-mini | 1/3 | 1 | 0 | 1 |"),
        "{md}"
    );
    assert!(
        md.contains("| rag | rag\\_system@1a2b3c4d5e6f | echo | 0/1 | 1 | 0 | 0 |"),
        "{md}"
    );
    assert!(md.contains("### Failures"), "{md}");
    assert!(md.contains("suites/rag.yaml:12"), "{md}");
    assert!(md.contains("50% off second line \\| pipe"), "{md}");
    assert!(!md.contains("<&>"), "HTML is escaped: {md}");
}

#[test]
fn github_summary_caps_the_failure_list() {
    let dir = tempfile::tempdir().expect("tempdir");
    let summary_path = dir.path().join("summary.md");
    let mut reporter = GithubReporter::new(Box::new(std::io::sink()), Some(summary_path.clone()));
    let mut summary = RunSummary::default();
    for i in 0..120 {
        let mut c = case(i, &format!("t{i}"), "echo", Verdict::Fail);
        c.assertions = vec![assertion("equals", false, &"long reason ".repeat(200), 1)];
        summary.count(c.verdict);
        reporter.on_event(&Event::CaseFinished(Arc::new(c))).expect("case");
    }
    reporter.on_event(&Event::RunFinished(summary)).expect("finished");
    let md = std::fs::read_to_string(&summary_path).expect("summary");
    let listed = md.lines().filter(|l| l.starts_with("- **FAILED**")).count();
    assert_eq!(listed, 50);
    assert!(md.contains("- …and 70 more"), "{md}");
    assert!(md.len() < 100 * 1024, "{} bytes", md.len());
}

#[test]
fn github_summary_stays_within_budget_for_huge_matrices() {
    let dir = tempfile::tempdir().expect("tempdir");
    let summary_path = dir.path().join("summary.md");
    let mut reporter = GithubReporter::new(Box::new(std::io::sink()), Some(summary_path.clone()));
    let mut summary = RunSummary::default();
    // Names made of characters that escape to five bytes each, one row per case.
    let wide = "&".repeat(1000);
    for i in 0..1000 {
        let mut c = case(i, &format!("t{i}"), &format!("{wide}{i}"), Verdict::Error);
        c.suite = format!("{wide}{i}");
        c.error = Some("<".repeat(10_000));
        summary.count(c.verdict);
        reporter.on_event(&Event::CaseFinished(Arc::new(c))).expect("case");
    }
    reporter.on_event(&Event::RunFinished(summary)).expect("finished");
    let md = std::fs::read_to_string(&summary_path).expect("summary");
    assert!(md.len() < 512 * 1024, "{} bytes", md.len());
    assert!(md.contains("more rows"), "rows are capped");
    assert!(md.contains("- …and "), "failures are capped");
}

#[test]
fn github_reporter_from_env_needs_github_actions() {
    // The variable is not set here (that would race with other tests): the
    // result is checked against whatever the environment holds, both ways.
    // tests/cli.rs runs the binary with and without `GITHUB_ACTIONS=true`.
    let in_actions = std::env::var("GITHUB_ACTIONS").ok().as_deref() == Some("true");
    assert_eq!(
        GithubReporter::from_env().is_some(),
        in_actions,
        "from_env() must be Some exactly when GITHUB_ACTIONS=true (it is {:?})",
        std::env::var("GITHUB_ACTIONS").ok()
    );
}

/// The reporter writes the report in chunks of cases (so a big run never
/// holds the whole report): the output is byte for byte the whole report's.
#[test]
fn chunked_writing_is_identical_to_the_whole_report() {
    let cases = cases();
    let summary = summary_of(&cases);
    let at = started_at();
    let whole = junit::render(&cases, &summary, at).expect("render");
    for chunk in [1, 2, 3, 100] {
        let mut builder = junit::ReportBuilder::default();
        for c in &cases {
            builder.add(c);
        }
        let mut out = Vec::new();
        builder.write(&[], &[], &summary, at, &mut out, chunk).expect("write");
        assert_eq!(String::from_utf8(out).expect("utf-8"), whole, "chunk {chunk}");
    }
}
