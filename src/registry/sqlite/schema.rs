//! The registry's SQLite schema, as migrations keyed on `PRAGMA
//! user_version`, and the busy timeout.

use std::time::Duration;

/// The schema version this build writes (`PRAGMA user_version`).
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// How long a writer waits for the lock before giving up (exit 3), unless
/// `$PROMPTGATE_REGISTRY_BUSY_TIMEOUT_MS` says otherwise.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// The busy timeout in force: `$PROMPTGATE_REGISTRY_BUSY_TIMEOUT_MS` (milliseconds) or [`BUSY_TIMEOUT`].
pub fn busy_timeout() -> Duration {
    std::env::var("PROMPTGATE_REGISTRY_BUSY_TIMEOUT_MS")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_millis)
        .unwrap_or(BUSY_TIMEOUT)
}

/// Migrations: `MIGRATIONS[i]` takes the schema from version `i` to `i + 1`.
pub(crate) const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE prompts (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_at  TEXT NOT NULL
);
CREATE TABLE versions (
    id          INTEGER PRIMARY KEY,
    prompt_id   INTEGER NOT NULL REFERENCES prompts(id),
    number      INTEGER NOT NULL CHECK (number >= 1),
    content     TEXT NOT NULL,
    sha256      TEXT NOT NULL CHECK (length(sha256) = 64),
    file_ext    TEXT NOT NULL,
    variables   TEXT NOT NULL,            -- JSON list of names
    token_count INTEGER NOT NULL,
    tokenizer   TEXT NOT NULL,
    model       TEXT,
    settings    TEXT,                     -- JSON object
    author      TEXT NOT NULL,
    notes       TEXT,
    created_at  TEXT NOT NULL,
    UNIQUE (prompt_id, number),
    UNIQUE (prompt_id, sha256)
);
CREATE TRIGGER versions_no_update BEFORE UPDATE ON versions
BEGIN SELECT RAISE(ABORT, 'prompt versions are immutable'); END;
CREATE TRIGGER versions_no_delete BEFORE DELETE ON versions
BEGIN SELECT RAISE(ABORT, 'prompt versions are immutable'); END;

CREATE TABLE labels (
    prompt_id   INTEGER NOT NULL REFERENCES prompts(id),
    label       TEXT NOT NULL,
    version_id  INTEGER NOT NULL REFERENCES versions(id),
    updated_at  TEXT NOT NULL
);
CREATE UNIQUE INDEX labels_one_version_per_label ON labels (prompt_id, label);

CREATE TABLE audit (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    at           TEXT NOT NULL,
    actor        TEXT NOT NULL,
    action       TEXT NOT NULL,
    prompt       TEXT NOT NULL,
    label        TEXT,
    from_version INTEGER,
    to_version   INTEGER,
    run_id       INTEGER,
    reason       TEXT
);
CREATE INDEX audit_by_prompt ON audit (prompt, id);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;

CREATE TABLE runs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at  TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    actor       TEXT NOT NULL,
    command     TEXT NOT NULL,
    verdict     TEXT NOT NULL CHECK (verdict IN ('pass', 'fail', 'error')),
    exit_code   INTEGER NOT NULL,
    passed      INTEGER NOT NULL,
    failed      INTEGER NOT NULL,
    errored     INTEGER NOT NULL,
    skipped     INTEGER NOT NULL,
    filtered    INTEGER NOT NULL,
    metrics     TEXT NOT NULL
);
CREATE TABLE run_versions (
    run_id      INTEGER NOT NULL REFERENCES runs(id),
    version_id  INTEGER NOT NULL REFERENCES versions(id),
    PRIMARY KEY (run_id, version_id)
);
CREATE INDEX run_versions_by_version ON run_versions (version_id, run_id);
CREATE TABLE run_suites (
    run_id      INTEGER NOT NULL REFERENCES runs(id),
    name        TEXT NOT NULL,
    file        TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    prompts     TEXT NOT NULL             -- JSON list of prompt names
);
CREATE TABLE run_cases (
    run_id      INTEGER NOT NULL REFERENCES runs(id),
    name        TEXT NOT NULL,
    suite       TEXT NOT NULL,
    prompt      TEXT NOT NULL,
    prompt_sha256 TEXT NOT NULL,
    provider    TEXT NOT NULL,
    verdict     TEXT NOT NULL,
    score       REAL NOT NULL,
    metrics     TEXT NOT NULL
);
CREATE INDEX run_cases_by_run ON run_cases (run_id);
CREATE TRIGGER runs_no_update BEFORE UPDATE ON runs BEGIN SELECT RAISE(ABORT, 'recorded runs are append-only'); END;
CREATE TRIGGER runs_no_delete BEFORE DELETE ON runs BEGIN SELECT RAISE(ABORT, 'recorded runs are append-only'); END;
CREATE TRIGGER run_versions_no_update BEFORE UPDATE ON run_versions BEGIN SELECT RAISE(ABORT, 'recorded runs are append-only'); END;
CREATE TRIGGER run_versions_no_delete BEFORE DELETE ON run_versions BEGIN SELECT RAISE(ABORT, 'recorded runs are append-only'); END;
CREATE TRIGGER run_suites_no_update BEFORE UPDATE ON run_suites BEGIN SELECT RAISE(ABORT, 'recorded runs are append-only'); END;
CREATE TRIGGER run_suites_no_delete BEFORE DELETE ON run_suites BEGIN SELECT RAISE(ABORT, 'recorded runs are append-only'); END;
CREATE TRIGGER run_cases_no_update BEFORE UPDATE ON run_cases BEGIN SELECT RAISE(ABORT, 'recorded runs are append-only'); END;
CREATE TRIGGER run_cases_no_delete BEFORE DELETE ON run_cases BEGIN SELECT RAISE(ABORT, 'recorded runs are append-only'); END;
"#,
    // 2: prompts are immutable too (versions, labels and the audit log name
    // them), and a label can only point at a version of its own prompt.
    r#"
CREATE TRIGGER prompts_no_update BEFORE UPDATE ON prompts
BEGIN SELECT RAISE(ABORT, 'prompts are immutable'); END;
CREATE TRIGGER prompts_no_delete BEFORE DELETE ON prompts
BEGIN SELECT RAISE(ABORT, 'prompts are immutable'); END;
CREATE TRIGGER labels_own_version_insert BEFORE INSERT ON labels
WHEN (SELECT prompt_id FROM versions WHERE id = NEW.version_id) IS NOT NEW.prompt_id
BEGIN SELECT RAISE(ABORT, 'a label must point at a version of its own prompt'); END;
CREATE TRIGGER labels_own_version_update BEFORE UPDATE ON labels
WHEN (SELECT prompt_id FROM versions WHERE id = NEW.version_id) IS NOT NEW.prompt_id
BEGIN SELECT RAISE(ABORT, 'a label must point at a version of its own prompt'); END;
"#,
    // 3: a run records its verdict only; the process exit code is the
    // command line's business, not the registry's.
    r#"
ALTER TABLE runs DROP COLUMN exit_code;
"#,
];
