use super::*;

fn reg() -> (tempfile::TempDir, Registry) {
    let dir = tempfile::tempdir().unwrap();
    let r = Registry::open(dir.path().join("sub/registry.db")).unwrap();
    (dir, r)
}

fn add(r: &Registry, name: &str, text: &str) -> (Version, bool) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join(format!("{name}.txt"));
    std::fs::write(&p, text).unwrap();
    let nv = new_version_from_file(name, &p, "alice", Some("notes")).unwrap();
    r.store().register(&nv).unwrap()
}

fn run(r: &Registry, v: &Version, verdict: RunVerdict, filtered: bool) -> i64 {
    r.store()
        .record_run(&NewRun {
            started_at: "2026-01-01T00:00:00Z".into(),
            actor: "ci".into(),
            command: "promptgate test".into(),
            verdict,
            exit_code: 0,
            counts: [1, 0, 0, 0],
            filtered,
            metrics: serde_json::json!({}),
            versions: vec![(v.prompt.clone(), v.sha256.clone())],
            suites: vec![RunSuite {
                name: "s".into(),
                file: "suites/s.yaml".into(),
                sha256: "0".repeat(64),
                prompts: vec![v.prompt.clone()],
            }],
            cases: vec![],
        })
        .unwrap()
}

#[test]
fn versions_are_numbered_hashed_and_deduplicated() {
    let (_d, r) = reg();
    let (v1, created) = add(&r, "qa", "Answer: {{ question }} from {{ context }}");
    assert!(created);
    assert_eq!(v1.number, 1);
    assert_eq!(v1.sha256, crate::prompt::sha256_hex(v1.content.as_bytes()));
    assert_eq!(v1.variables, vec!["context".to_string(), "question".to_string()]);
    assert!(v1.token_count > 3 && v1.tokenizer == "cl100k_base", "{v1:?}");
    assert_eq!(v1.author, "alice");
    assert!(chrono::DateTime::parse_from_rfc3339(&v1.created_at).is_ok());
    let (again, created) = add(&r, "qa", "Answer: {{ question }} from {{ context }}");
    assert!(!created);
    assert_eq!(again.number, 1);
    let (v2, _) = add(&r, "qa", "Answer briefly: {{ question }}");
    assert_eq!(v2.number, 2);
    assert_eq!(r.versions("qa").unwrap().len(), 2);
}

#[test]
fn activation_needs_a_passing_unfiltered_run_and_no_later_failure() {
    let (_d, r) = reg();
    let (v1, _) = add(&r, "qa", "v1 {{ q }}");
    let refused = r
        .set_label(&v1, PRODUCTION, true, "bob", None, "promptgate test suites/")
        .unwrap_err();
    assert!(matches!(refused, RegistryError::Refused(_)), "{refused}");
    assert!(refused.to_string().contains("no recorded test run"), "{refused}");
    assert_eq!(refused.exit_code(), 1);
    run(&r, &v1, RunVerdict::Pass, true);
    assert_eq!(r.eligibility("qa", 1).unwrap(), Eligibility::NoPassingRun);
    let pass = run(&r, &v1, RunVerdict::Pass, false);
    assert_eq!(r.eligibility("qa", 1).unwrap(), Eligibility::Passed { run: pass });
    run(&r, &v1, RunVerdict::Error, false);
    assert_eq!(r.eligibility("qa", 1).unwrap(), Eligibility::Passed { run: pass });
    let fail = run(&r, &v1, RunVerdict::Fail, false);
    assert_eq!(r.eligibility("qa", 1).unwrap(), Eligibility::FailedLater { run: fail });
    let pass2 = run(&r, &v1, RunVerdict::Pass, false);
    assert_eq!(r.set_label(&v1, PRODUCTION, true, "bob", None, "").unwrap(), None);
    let active = r.active("qa").unwrap();
    assert_eq!((active.version, active.content.as_str()), (1, "v1 {{ q }}"));
    let audit = r.store().audit(Some("qa")).unwrap();
    let last = audit.last().unwrap();
    assert_eq!(
        (last.action.as_str(), last.run_id, last.to_version),
        ("activate", Some(pass2), Some(1))
    );
}

#[test]
fn force_and_rollback_are_audited() {
    let (_d, r) = reg();
    let (v1, _) = add(&r, "qa", "one");
    let (v2, _) = add(&r, "qa", "two");
    let (v3, _) = add(&r, "qa", "three");
    r.set_label(&v1, PRODUCTION, true, "a", Some("hotfix"), "").unwrap();
    r.set_label(&v3, PRODUCTION, true, "a", Some("hotfix"), "").unwrap();
    assert_eq!(r.rollback("qa", None, "b", None).unwrap(), (3, 1));
    assert_eq!(r.active("qa").unwrap().version, 1);
    assert_eq!(r.rollback("qa", Some(3), "b", None).unwrap(), (1, 3));
    let never = r.rollback("qa", Some(2), "b", None).unwrap_err();
    assert!(never.to_string().contains("never active"), "{never}");
    let _ = v2;
    let moves: Vec<(String, Option<u32>, Option<u32>)> = r
        .store()
        .audit(Some("qa"))
        .unwrap()
        .into_iter()
        .map(|e| (e.action, e.from_version, e.to_version))
        .collect();
    assert_eq!(
        moves,
        vec![
            ("force".to_string(), None, Some(1)),
            ("force".to_string(), Some(1), Some(3)),
            ("rollback".to_string(), Some(3), Some(1)),
            ("rollback".to_string(), Some(1), Some(3)),
        ]
    );
}

#[test]
fn schema_forbids_changing_versions_and_audit_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.db");
    let r = Registry::open(&path).unwrap();
    let (v1, _) = add(&r, "qa", "one");
    r.set_label(&v1, PRODUCTION, true, "a", Some("x"), "").unwrap();
    let store = sqlite::SqliteStore::open(&path, false).unwrap();
    let c = store.connection();
    let e = c.execute("UPDATE versions SET content = 'evil'", []).unwrap_err();
    assert!(e.to_string().contains("immutable"), "{e}");
    assert!(c.execute("DELETE FROM versions", []).is_err());
    assert!(c.execute("UPDATE audit SET actor = 'x'", []).is_err());
    assert!(c.execute("DELETE FROM audit", []).is_err());
    // A second production row for the same prompt violates the unique index.
    assert!(c
        .execute(
            "INSERT INTO labels (prompt_id, label, version_id, updated_at) SELECT prompt_id, 'production', id, 'x' FROM versions",
            [],
        )
        .is_err());
    assert_eq!(r.active("qa").unwrap().content, "one");
}

#[test]
fn newer_schema_and_foreign_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.db");
    drop(Registry::open(&path).unwrap());
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.pragma_update(None, "user_version", 99).unwrap();
    }
    let e = Registry::open(&path).unwrap_err();
    assert!(
        matches!(e, RegistryError::Corrupt(_)) && e.to_string().contains("newer promptgate"),
        "{e}"
    );
    let junk = dir.path().join("junk.db");
    std::fs::write(
        &junk,
        b"this is not a database at all, just text that is long enough to be a header",
    )
    .unwrap();
    let e = Registry::open(&junk).unwrap_err();
    assert_eq!(e.exit_code(), 2, "{e}");
    let missing = Registry::open_existing(dir.path().join("none.db")).unwrap_err();
    assert!(matches!(missing, RegistryError::NotFound(_)));
}

#[test]
fn references_parse_and_resolve_with_helpful_errors() {
    let (_d, r) = reg();
    let (v1, _) = add(&r, "qa", "one");
    add(&r, "qa", "two");
    r.set_label(&v1, "staging", false, "a", None, "").unwrap();
    let get = |s: &str| r.resolve(&s.parse().unwrap()).map(|v| v.number);
    assert_eq!(get("qa@2").unwrap(), 2);
    assert_eq!(get("qa@v1").unwrap(), 1);
    assert_eq!(get("qa@staging").unwrap(), 1);
    assert_eq!(get(&format!("qa@sha:{}", &v1.sha256[..8])).unwrap(), 1);
    assert!(get("qa").unwrap_err().to_string().contains("no active version"));
    assert!(get("qa@7").unwrap_err().to_string().contains("versions: 1, 2"));
    assert!(get("qa@canary").unwrap_err().to_string().contains("labels: staging"));
    assert!(get("qb@1").unwrap_err().to_string().contains("did you mean `qa`"));
    assert!("@1".parse::<VersionRef>().is_err());
    assert!("qa@".parse::<VersionRef>().is_err());
}

#[test]
fn tokens_use_the_model_encoding_when_tiktoken_knows_it() {
    let (n, enc) = count_tokens("hello world", None);
    assert_eq!((n, enc.as_str()), (2, "cl100k_base"));
    assert_eq!(count_tokens("hello world", Some("gpt-4o")).1, "o200k_base");
    assert_eq!(count_tokens("hello world", Some("no-such-model")).1, "cl100k_base");
}

#[test]
fn yaml_prompts_keep_model_settings_and_chat_variables() {
    let (_d, r) = reg();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("chat.yaml");
    std::fs::write(
        &p,
        "model: gpt-4o\ntemperature: 0.2\nmessages:\n  - {role: system, content: 'Use {{ context }}'}\n  - {role: user, content: '{{ query }}'}\n",
    )
    .unwrap();
    let v = r.register_file("chat", &p, "alice", None).unwrap();
    assert_eq!(v.file_ext, "yaml");
    assert_eq!(v.model.as_deref(), Some("gpt-4o"));
    assert_eq!(v.tokenizer, "o200k_base");
    assert_eq!(v.settings, Some(serde_json::json!({"temperature": 0.2})));
    assert_eq!(v.variables, vec!["context".to_string(), "query".to_string()]);
    let text = r.register_file("plain", &dir.path().join("missing.txt"), "a", None);
    assert!(matches!(text, Err(RegistryError::Invalid(_))));
}
