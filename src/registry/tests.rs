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
    run_suites(r, v, verdict, filtered, vec![suite("s", "0")])
}

fn suite(name: &str, hash_digit: &str) -> RunSuite {
    RunSuite {
        name: name.into(),
        file: format!("suites/{name}.yaml"),
        sha256: hash_digit.repeat(64),
        prompts: vec!["qa".into()],
    }
}

fn run_suites(r: &Registry, v: &Version, verdict: RunVerdict, filtered: bool, suites: Vec<RunSuite>) -> i64 {
    r.store()
        .record_run(&NewRun {
            started_at: "2026-01-01T00:00:00Z".into(),
            actor: "ci".into(),
            command: "promptgate test".into(),
            verdict,
            counts: [1, 0, 0, 0],
            filtered,
            metrics: serde_json::json!({}),
            versions: vec![(v.prompt.clone(), v.sha256.clone())],
            suites,
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
    assert_eq!(v1.sha256, crate::util::sha256_hex(v1.content.as_bytes()));
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
        .set_label(&v1, PRODUCTION, true, "bob", None, &[], "promptgate test suites/")
        .unwrap_err();
    assert!(matches!(refused, RegistryError::Refused(_)), "{refused}");
    assert!(refused.to_string().contains("no recorded test run"), "{refused}");
    assert!(matches!(refused, RegistryError::Refused(_)), "{refused}");
    run(&r, &v1, RunVerdict::Pass, true);
    assert_eq!(r.eligibility("qa", 1, &[]).unwrap(), Eligibility::NoPassingRun);
    let pass = run(&r, &v1, RunVerdict::Pass, false);
    assert_eq!(r.eligibility("qa", 1, &[]).unwrap(), Eligibility::Passed { run: pass });
    run(&r, &v1, RunVerdict::Error, false);
    assert_eq!(r.eligibility("qa", 1, &[]).unwrap(), Eligibility::Passed { run: pass });
    let fail = run(&r, &v1, RunVerdict::Fail, false);
    assert_eq!(
        r.eligibility("qa", 1, &[]).unwrap(),
        Eligibility::FailedLater { run: fail }
    );
    let pass2 = run(&r, &v1, RunVerdict::Pass, false);
    assert_eq!(r.set_label(&v1, PRODUCTION, true, "bob", None, &[], "").unwrap(), None);
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
    r.set_label(&v1, PRODUCTION, true, "a", Some("hotfix"), &[], "")
        .unwrap();
    r.set_label(&v3, PRODUCTION, true, "a", Some("hotfix"), &[], "")
        .unwrap();
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
    r.set_label(&v1, PRODUCTION, true, "a", Some("x"), &[], "").unwrap();
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
    // Prompts cannot be renamed or deleted, and a label cannot point at
    // another prompt's version.
    assert!(c
        .execute("UPDATE prompts SET name = 'other'", [])
        .unwrap_err()
        .to_string()
        .contains("immutable"));
    assert!(c.execute("DELETE FROM prompts", []).is_err());
    add(&r, "other", "w");
    let e = c
        .execute(
            "UPDATE labels SET version_id = (SELECT v.id FROM versions v JOIN prompts p ON p.id = v.prompt_id \
             WHERE p.name = 'other')",
            [],
        )
        .unwrap_err();
    assert!(e.to_string().contains("its own prompt"), "{e}");
    let e = c
        .execute(
            "INSERT INTO labels (prompt_id, label, version_id, updated_at) SELECT p.id, 'staging', \
             (SELECT v.id FROM versions v JOIN prompts q ON q.id = v.prompt_id WHERE q.name = 'other'), 'x' \
             FROM prompts p WHERE p.name = 'qa'",
            [],
        )
        .unwrap_err();
    assert!(e.to_string().contains("its own prompt"), "{e}");
    assert_eq!(r.active("qa").unwrap().content, "one");
}

#[test]
fn a_schema_1_registry_is_migrated_and_gains_the_new_guards() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(sqlite::MIGRATIONS[0]).unwrap();
        c.execute_batch(
            "PRAGMA user_version = 1;
             INSERT INTO prompts (id, name, created_at) VALUES (1, 'qa', 'x'), (2, 'other', 'x');
             INSERT INTO versions (id, prompt_id, number, content, sha256, file_ext, variables, token_count, tokenizer, author, created_at)
               VALUES (1, 1, 1, 'one', printf('%064d', 1), 'txt', '[]', 1, 'cl100k_base', 'a', 'x'),
                      (2, 2, 1, 'w', printf('%064d', 2), 'txt', '[]', 1, 'cl100k_base', 'a', 'x');
             INSERT INTO labels (prompt_id, label, version_id, updated_at) VALUES (1, 'production', 1, 'x');",
        )
        .unwrap();
    }
    let r = Registry::open(&path).unwrap();
    assert_eq!(r.active("qa").unwrap().content, "one");
    let store = sqlite::SqliteStore::open(&path, false).unwrap();
    let c = store.connection();
    let v: i64 = c.query_row("PRAGMA user_version", [], |row| row.get(0)).unwrap();
    assert_eq!(v, sqlite::SCHEMA_VERSION);
    assert!(c.execute("UPDATE prompts SET name = 'x'", []).is_err());
    assert!(c.execute("UPDATE labels SET version_id = 2", []).is_err());
    // A schema-1 file whose label crosses prompts is refused, not migrated.
    let bad = dir.path().join("bad.db");
    {
        let c = rusqlite::Connection::open(&bad).unwrap();
        c.execute_batch(sqlite::MIGRATIONS[0]).unwrap();
        c.execute_batch(
            "PRAGMA user_version = 1;
             INSERT INTO prompts (id, name, created_at) VALUES (1, 'qa', 'x'), (2, 'other', 'x');
             INSERT INTO versions (id, prompt_id, number, content, sha256, file_ext, variables, token_count, tokenizer, author, created_at)
               VALUES (2, 2, 1, 'w', printf('%064d', 2), 'txt', '[]', 1, 'cl100k_base', 'a', 'x');
             INSERT INTO labels (prompt_id, label, version_id, updated_at) VALUES (1, 'production', 2, 'x');",
        )
        .unwrap();
    }
    let e = Registry::open(&bad).unwrap_err();
    assert!(
        e.to_string().contains("another prompt's version") && e.is_invalid_input(),
        "{e}"
    );
    let c = rusqlite::Connection::open(&bad).unwrap();
    let v: i64 = c.query_row("PRAGMA user_version", [], |row| row.get(0)).unwrap();
    assert_eq!(v, 1, "a refused migration was half-applied");
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
    // A refused file is left byte for byte as it was (not switched to WAL).
    let newer = dir.path().join("newer.db");
    {
        let c = rusqlite::Connection::open(&newer).unwrap();
        c.execute_batch("PRAGMA journal_mode = DELETE; CREATE TABLE future (x); PRAGMA user_version = 99;")
            .unwrap();
    }
    let before = std::fs::read(&newer).unwrap();
    let e = Registry::open(&newer).unwrap_err();
    assert!(
        matches!(e, RegistryError::Corrupt(_)) && e.to_string().contains("newer promptgate"),
        "{e}"
    );
    assert!(
        std::fs::read(&newer).unwrap() == before,
        "a refused newer registry was modified"
    );
    assert!(!dir.path().join("newer.db-wal").exists());
    let foreign = dir.path().join("foreign.db");
    {
        let c = rusqlite::Connection::open(&foreign).unwrap();
        c.execute_batch("PRAGMA journal_mode = DELETE; CREATE TABLE t (x); INSERT INTO t VALUES (1);")
            .unwrap();
    }
    let before = std::fs::read(&foreign).unwrap();
    let e = Registry::open(&foreign).unwrap_err();
    assert!(e.to_string().contains("not a promptgate registry"), "{e}");
    assert!(
        std::fs::read(&foreign).unwrap() == before,
        "a refused foreign database was modified"
    );
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
    assert!(e.is_invalid_input(), "{e}");
    let missing = Registry::open_existing(dir.path().join("none.db")).unwrap_err();
    assert!(matches!(missing, RegistryError::NotFound(_)));
}

#[test]
fn references_parse_and_resolve_with_helpful_errors() {
    let (_d, r) = reg();
    let (v1, _) = add(&r, "qa", "one");
    add(&r, "qa", "two");
    r.set_label(&v1, "staging", false, "a", None, &[], "").unwrap();
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

#[test]
fn activation_needs_a_pass_covering_every_current_suite_with_its_current_content() {
    let (_d, r) = reg();
    let (v1, _) = add(&r, "qa", "v1 {{ q }}");
    let required = vec![suite("a", "1"), suite("b", "2")];
    // A passing run of one suite only: a subset does not vouch for the prompt.
    let partial = run_suites(&r, &v1, RunVerdict::Pass, false, vec![suite("a", "1")]);
    assert_eq!(
        r.eligibility("qa", 1, &required).unwrap(),
        Eligibility::Incomplete {
            run: partial,
            missing: vec!["suites/b.yaml".into()]
        }
    );
    let refused = r
        .set_label(&v1, PRODUCTION, true, "bob", None, &required, "hint")
        .unwrap_err();
    assert!(matches!(refused, RegistryError::Refused(_)), "{refused}");
    assert!(refused.to_string().contains("suites/b.yaml"), "{refused}");
    // A stale pass: suite b has been tightened since (its hash changed).
    let stale = run_suites(&r, &v1, RunVerdict::Pass, false, vec![suite("a", "1"), suite("b", "9")]);
    assert_eq!(
        r.eligibility("qa", 1, &required).unwrap(),
        Eligibility::Incomplete {
            run: stale,
            missing: vec!["suites/b.yaml (changed since)".into()]
        }
    );
    let full = run_suites(&r, &v1, RunVerdict::Pass, false, required.clone());
    assert_eq!(
        r.eligibility("qa", 1, &required).unwrap(),
        Eligibility::Passed { run: full }
    );
    // A later failing run (e.g. the gate blocked it) revokes it.
    let blocked = run_suites(&r, &v1, RunVerdict::Fail, false, required.clone());
    assert_eq!(
        r.eligibility("qa", 1, &required).unwrap(),
        Eligibility::FailedLater { run: blocked }
    );
}

#[test]
fn the_activation_rule_and_the_move_share_one_write_transaction() {
    let (d, r) = reg();
    let (v1, _) = add(&r, "qa", "v1 {{ q }}");
    run(&r, &v1, RunVerdict::Pass, false);
    let other = sqlite::SqliteStore::open(&d.path().join("sub/registry.db"), false).unwrap();
    other.connection().busy_timeout(std::time::Duration::ZERO).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let fail = NewRun {
        started_at: "2026-01-01T00:00:01Z".into(),
        actor: "racer".into(),
        command: "promptgate test".into(),
        verdict: RunVerdict::Fail,
        counts: [0, 1, 0, 0],
        filtered: false,
        metrics: serde_json::json!({}),
        versions: vec![(v1.prompt.clone(), v1.sha256.clone())],
        suites: vec![],
        cases: vec![],
    };
    // Between the rule's check and the commit, another writer cannot record
    // a failing run: it would need the lock the move holds.
    sqlite::tests_hook::set(move || {
        let _ = tx.send(other.record_run(&fail).map_err(|e| e.is_unavailable()));
    });
    r.set_label(&v1, PRODUCTION, true, "bob", None, &[], "").unwrap();
    assert_eq!(
        rx.recv().unwrap(),
        Err(true),
        "a run was recorded inside the move's transaction"
    );
    assert_eq!(r.active("qa").unwrap().version, 1);
}

const ABORT_VAR: &str = "PROMPTGATE_TEST_ABORT_IN_MOVE";

#[test]
fn a_process_killed_inside_the_move_transaction_leaves_no_trace() {
    if let Ok(path) = std::env::var(ABORT_VAR) {
        // The child: abort (no destructors, no rollback) after the label and
        // audit rows are written, before the commit.
        let r = Registry::open(&path).unwrap();
        let v2 = r.resolve(&"qa@2".parse().unwrap()).unwrap();
        sqlite::tests_hook::set(|| std::process::abort());
        let _ = r.set_label(&v2, PRODUCTION, true, "killed", Some("kill"), &[], "");
        unreachable!("the hook aborts inside the transaction");
    }
    let (d, r) = reg();
    let (v1, _) = add(&r, "qa", "one");
    add(&r, "qa", "two");
    r.set_label(&v1, PRODUCTION, true, "a", Some("first"), &[], "").unwrap();
    drop(r);
    let path = d.path().join("sub/registry.db");
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "registry::tests::a_process_killed_inside_the_move_transaction_leaves_no_trace",
            "--test-threads=1",
        ])
        .env(ABORT_VAR, &path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(!status.success(), "the child was meant to abort: {status}");
    let r = Registry::open(&path).unwrap();
    assert_eq!(r.active("qa").unwrap().version, 1, "a half-done move survived the kill");
    let audit = r.store().audit(Some("qa")).unwrap();
    assert_eq!(audit.len(), 1, "{audit:?}");
    drop(r);
    let store = sqlite::SqliteStore::open(&path, false).unwrap();
    let ok: String = store
        .connection()
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
}

#[test]
fn prompt_names_are_letters_digits_and_dots_and_never_a_version_file() {
    for ok in ["rag_system", "qa-2", "support.en", "v2", "a.version"] {
        assert!(validate_prompt_name(ok).is_ok(), "{ok}");
    }
    for (bad, why) in [
        ("", "empty"),
        ("rag system", "` ` is not allowed"),
        ("rag@1", "`@` is not allowed"),
        ("a/b", "`/` is not allowed"),
        ("_x", "start with a letter"),
        ("rag_system.v2", "ends in `.v2`"),
        ("tëst", "`ë` is not allowed"),
    ] {
        let e = validate_prompt_name(bad).unwrap_err();
        assert!(e.to_string().contains(why) && e.is_invalid_input(), "{bad}: {e}");
    }
}
