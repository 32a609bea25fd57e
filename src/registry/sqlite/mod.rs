//! The SQLite [`Store`]: one file, WAL journal, a busy timeout, migrations
//! keyed on `PRAGMA user_version`.
//!
//! Integrity is enforced by the schema, not only by this code:
//! * versions are immutable: `BEFORE UPDATE` / `BEFORE DELETE` triggers abort;
//! * the audit log and recorded runs are append-only (the same triggers);
//! * a label points at one version per prompt: a unique index on
//!   `labels(prompt_id, label)`;
//! * every multi-row change is one transaction; label moves use
//!   `BEGIN IMMEDIATE`, so concurrent writers serialize on the write lock
//!   (waiting up to [`BUSY_TIMEOUT`]) instead of failing half-way.

use std::path::Path;

use rusqlite::{params, Connection, ErrorCode, OptionalExtension, TransactionBehavior};

use super::model::{AuditEntry, LabelMove, NewRun, NewVersion, RunCase, RunRecord, RunVerdict, Version};
use super::{RegistryError, Result, Store};
use crate::result::Verdict;

mod schema;

pub(crate) use schema::MIGRATIONS;
pub use schema::{busy_timeout, BUSY_TIMEOUT, SCHEMA_VERSION};

/// A registry in one SQLite file.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Connection,
    path: String,
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl SqliteStore {
    /// Opens the registry at `path`; with `create`, a missing file (and its
    /// folder) is created. Sets WAL mode, the busy timeout and foreign keys,
    /// and migrates an older schema in one transaction.
    ///
    /// # Errors
    /// A newer schema or a file that is not a registry ([`RegistryError::Corrupt`]);
    /// a missing file without `create` ([`RegistryError::NotFound`]); a lock
    /// held past the timeout ([`RegistryError::Unavailable`]).
    pub fn open(path: &Path, create: bool) -> Result<SqliteStore> {
        let shown = path.display().to_string();
        if path.is_dir() {
            return Err(RegistryError::Invalid(format!(
                "registry {shown} is a folder, not a database file"
            )));
        }
        if !path.exists() {
            if !create {
                return Err(RegistryError::NotFound(format!(
                    "no registry at {shown}; `promptgate registry add NAME --file PATH` creates it \
                     (or point --registry / ${} at an existing one)",
                    super::ENV_VAR
                )));
            }
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).map_err(|e| {
                    RegistryError::Unavailable(format!("cannot create the registry folder {}: {e}", parent.display()))
                })?;
            }
        }
        let conn = Connection::open(path)
            .map_err(|e| RegistryError::Unavailable(format!("cannot open the registry {shown}: {e}")))?;
        let store = SqliteStore { conn, path: shown };
        store.setup()?;
        Ok(store)
    }

    fn err(&self, e: rusqlite::Error) -> RegistryError {
        map_err(&self.path, e)
    }

    fn setup(&self) -> Result<()> {
        self.conn.busy_timeout(busy_timeout()).map_err(|e| self.err(e))?;
        // Read-only checks first: a file that is refused (newer schema, not a
        // registry, not a database) is left byte for byte as it was.
        let version: i64 = self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        if version > SCHEMA_VERSION {
            return Err(RegistryError::Corrupt(format!(
                "the registry {} has schema version {version}, written by a newer promptgate; this one reads up to \
                 version {SCHEMA_VERSION}. Upgrade promptgate (nothing was changed)",
                self.path
            )));
        }
        if version == 0 {
            self.refuse_foreign(&self.conn)?;
        }
        // Only now switch the file to WAL (journal_mode returns a row; WAL
        // lets readers run beside the one writer).
        let _: String = self
            .conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        self.conn
            .execute_batch("PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;")
            .map_err(|e| self.err(e))?;
        if version == SCHEMA_VERSION {
            return Ok(());
        }
        // Migrate under the write lock; re-read the version inside, since a
        // concurrent process may have migrated meanwhile.
        let tx = rusqlite::Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)
            .map_err(|e| self.err(e))?;
        let current: i64 = tx
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| map_err(&self.path, e))?;
        if current == 0 {
            self.refuse_foreign(&tx)?;
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(current.max(0) as usize) {
            tx.execute_batch(sql).map_err(|e| map_err(&self.path, e))?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)
                .map_err(|e| map_err(&self.path, e))?;
        }
        // The label rule holds for rows written before migration 2 too: a
        // file that breaks it is refused (the transaction rolls back).
        let crossed: i64 = tx
            .query_row(
                "SELECT count(*) FROM labels l JOIN versions v ON v.id = l.version_id WHERE v.prompt_id != l.prompt_id",
                [],
                |r| r.get(0),
            )
            .map_err(|e| map_err(&self.path, e))?;
        if crossed > 0 {
            return Err(RegistryError::Corrupt(format!(
                "the registry {} has {crossed} label(s) pointing at another prompt's version; fix or restore it \
                 (nothing was changed)",
                self.path
            )));
        }
        tx.commit().map_err(|e| map_err(&self.path, e))
    }

    /// Refuses an SQLite file that has tables but no registry schema version.
    fn refuse_foreign(&self, conn: &Connection) -> Result<()> {
        let tables: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_master WHERE type = 'table'", [], |r| {
                r.get(0)
            })
            .map_err(|e| self.err(e))?;
        if tables > 0 {
            return Err(RegistryError::Corrupt(format!(
                "{} is an SQLite database but not a promptgate registry (it has tables and no registry schema \
                 version); point --registry at another file (nothing was changed)",
                self.path
            )));
        }
        Ok(())
    }

    /// The raw connection (tests use it to prove the schema's guards).
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    fn prompt_id(conn: &Connection, name: &str) -> rusqlite::Result<Option<i64>> {
        conn.query_row("SELECT id FROM prompts WHERE name = ?1", [name], |r| r.get(0))
            .optional()
    }
}

/// Maps SQLite errors to registry errors: busy/locked → unavailable (exit 3),
/// not-a-database/corrupt → corrupt (exit 2).
fn map_err(path: &str, e: rusqlite::Error) -> RegistryError {
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => RegistryError::Locked {
            path: path.to_string(),
            waited: busy_timeout(),
        },
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => RegistryError::NotARegistry {
            path: path.to_string(),
            source: e,
        },
        Some(ErrorCode::CannotOpen | ErrorCode::ReadOnly | ErrorCode::PermissionDenied | ErrorCode::DiskFull) => {
            RegistryError::CannotWrite {
                path: path.to_string(),
                source: e,
            }
        }
        _ => RegistryError::Sqlite {
            path: path.to_string(),
            source: e,
        },
    }
}

const VERSION_COLUMNS: &str = "v.number, v.sha256, v.content, v.file_ext, v.variables, v.token_count, v.tokenizer, \
                               v.model, v.settings, v.author, v.notes, v.created_at, v.id";

fn version_row(prompt: &str, r: &rusqlite::Row<'_>) -> rusqlite::Result<(i64, Version)> {
    let variables: String = r.get(4)?;
    let settings: Option<String> = r.get(8)?;
    Ok((
        r.get(12)?,
        Version {
            prompt: prompt.to_string(),
            number: r.get(0)?,
            sha256: r.get(1)?,
            content: r.get(2)?,
            file_ext: r.get(3)?,
            variables: serde_json::from_str(&variables).unwrap_or_default(),
            token_count: r.get::<_, i64>(5)? as u64,
            tokenizer: r.get(6)?,
            model: r.get(7)?,
            settings: settings.and_then(|s| serde_json::from_str(&s).ok()),
            author: r.get(9)?,
            notes: r.get(10)?,
            created_at: r.get(11)?,
            labels: Vec::new(),
        },
    ))
}

impl Store for SqliteStore {
    fn register(&self, new: &NewVersion) -> Result<(Version, bool)> {
        let at = now();
        let run = || -> rusqlite::Result<(Version, bool)> {
            let tx = rusqlite::Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)?;
            tx.execute(
                "INSERT INTO prompts (name, created_at) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING",
                params![new.prompt, at],
            )?;
            let pid: i64 = tx.query_row("SELECT id FROM prompts WHERE name = ?1", [&new.prompt], |r| r.get(0))?;
            let sql = format!("SELECT {VERSION_COLUMNS} FROM versions v WHERE v.prompt_id = ?1 AND v.sha256 = ?2");
            if let Some((_, v)) = tx
                .query_row(&sql, params![pid, new.sha256], |r| version_row(&new.prompt, r))
                .optional()?
            {
                tx.commit()?;
                return Ok((v, false));
            }
            let number: i64 = tx.query_row(
                "SELECT coalesce(max(number), 0) + 1 FROM versions WHERE prompt_id = ?1",
                [pid],
                |r| r.get(0),
            )?;
            tx.execute(
                "INSERT INTO versions (prompt_id, number, content, sha256, file_ext, variables, token_count, tokenizer, \
                 model, settings, author, notes, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                params![
                    pid,
                    number,
                    new.content,
                    new.sha256,
                    new.file_ext,
                    serde_json::to_string(&new.variables).unwrap_or_else(|_| "[]".into()),
                    new.token_count as i64,
                    new.tokenizer,
                    new.model,
                    new.settings.as_ref().map(|s| s.to_string()),
                    new.author,
                    new.notes,
                    at
                ],
            )?;
            let (_, v) = tx.query_row(&sql, params![pid, new.sha256], |r| version_row(&new.prompt, r))?;
            tx.commit()?;
            Ok((v, true))
        };
        run().map_err(|e| self.err(e))
    }

    fn prompts(&self) -> Result<Vec<String>> {
        let run = || -> rusqlite::Result<Vec<String>> {
            let mut st = self.conn.prepare("SELECT name FROM prompts ORDER BY name")?;
            let rows = st.query_map([], |r| r.get(0))?;
            rows.collect()
        };
        run().map_err(|e| self.err(e))
    }

    fn versions(&self, prompt: &str) -> Result<Vec<Version>> {
        let run = || -> rusqlite::Result<Vec<Version>> {
            let Some(pid) = Self::prompt_id(&self.conn, prompt)? else {
                return Ok(Vec::new());
            };
            let sql = format!("SELECT {VERSION_COLUMNS} FROM versions v WHERE v.prompt_id = ?1 ORDER BY v.number");
            let mut st = self.conn.prepare(&sql)?;
            let rows: Vec<(i64, Version)> = st
                .query_map([pid], |r| version_row(prompt, r))?
                .collect::<rusqlite::Result<_>>()?;
            let mut st = self
                .conn
                .prepare("SELECT version_id, label FROM labels WHERE prompt_id = ?1 ORDER BY label")?;
            let labels: Vec<(i64, String)> = st
                .query_map([pid], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            Ok(rows
                .into_iter()
                .map(|(id, mut v)| {
                    v.labels = labels
                        .iter()
                        .filter(|(vid, _)| *vid == id)
                        .map(|(_, l)| l.clone())
                        .collect();
                    v
                })
                .collect())
        };
        run().map_err(|e| self.err(e))
    }

    fn move_label(&self, mv: &LabelMove) -> Result<Option<u32>> {
        self.move_label_checked(&mut |_| Ok(mv.clone()))
    }

    fn move_label_checked(&self, decide: &mut dyn FnMut(&dyn Store) -> Result<LabelMove>) -> Result<Option<u32>> {
        let at = now();
        // IMMEDIATE: take the write lock before deciding and before reading
        // the current label, so that concurrent movers serialize, the
        // decision sees the state the move is applied to, and each audit
        // row's from-version is the one it really replaced.
        let tx = rusqlite::Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)
            .map_err(|e| self.err(e))?;
        // The reads run on this connection, inside the transaction. An error
        // (a refusal) drops `tx`, which rolls back: nothing is written.
        let mv = decide(self)?;
        let mv = &mv;
        let run = || -> rusqlite::Result<std::result::Result<Option<u32>, RegistryError>> {
            let Some(pid) = Self::prompt_id(&tx, &mv.prompt)? else {
                return Ok(Err(RegistryError::UnknownPrompt {
                    name: mv.prompt.clone(),
                    hint: String::new(),
                }));
            };
            let Some(vid) = tx
                .query_row(
                    "SELECT id FROM versions WHERE prompt_id = ?1 AND number = ?2",
                    params![pid, mv.to_version],
                    |r| r.get::<_, i64>(0),
                )
                .optional()?
            else {
                return Ok(Err(RegistryError::NotFound(format!(
                    "{} has no version {}",
                    mv.prompt, mv.to_version
                ))));
            };
            let from: Option<u32> = tx
                .query_row(
                    "SELECT v.number FROM labels l JOIN versions v ON v.id = l.version_id \
                     WHERE l.prompt_id = ?1 AND l.label = ?2",
                    params![pid, mv.label],
                    |r| r.get(0),
                )
                .optional()?;
            tx.execute(
                "INSERT INTO labels (prompt_id, label, version_id, updated_at) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (prompt_id, label) DO UPDATE SET version_id = excluded.version_id, updated_at = excluded.updated_at",
                params![pid, mv.label, vid, at],
            )?;
            tx.execute(
                "INSERT INTO audit (at, actor, action, prompt, label, from_version, to_version, run_id, reason) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    at,
                    mv.actor,
                    mv.action,
                    mv.prompt,
                    mv.label,
                    from,
                    mv.to_version,
                    mv.run_id,
                    mv.reason
                ],
            )?;
            Ok(Ok(from))
        };
        let from = run().map_err(|e| self.err(e))??;
        // Tests act here: label and audit written, not yet committed.
        #[cfg(test)]
        if let Some(hook) = tests_hook::take() {
            hook();
        }
        tx.commit().map_err(|e| self.err(e))?;
        Ok(from)
    }

    fn audit(&self, prompt: Option<&str>) -> Result<Vec<AuditEntry>> {
        let run = || -> rusqlite::Result<Vec<AuditEntry>> {
            let mut st = self.conn.prepare(
                "SELECT id, at, actor, action, prompt, label, from_version, to_version, run_id, reason FROM audit \
                 WHERE ?1 IS NULL OR prompt = ?1 ORDER BY id",
            )?;
            let rows = st.query_map([prompt], |r| {
                Ok(AuditEntry {
                    id: r.get(0)?,
                    at: r.get(1)?,
                    actor: r.get(2)?,
                    action: r.get(3)?,
                    prompt: r.get(4)?,
                    label: r.get(5)?,
                    from_version: r.get(6)?,
                    to_version: r.get(7)?,
                    run_id: r.get(8)?,
                    reason: r.get(9)?,
                })
            })?;
            rows.collect()
        };
        run().map_err(|e| self.err(e))
    }

    fn record_run(&self, run_in: &NewRun) -> Result<i64> {
        let at = now();
        let run = || -> rusqlite::Result<std::result::Result<i64, RegistryError>> {
            let tx = rusqlite::Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)?;
            let [passed, failed, errored, skipped] = run_in.counts;
            tx.execute(
                "INSERT INTO runs (started_at, recorded_at, actor, command, verdict, passed, failed, errored, \
                 skipped, filtered, metrics) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                params![
                    run_in.started_at,
                    at,
                    run_in.actor,
                    run_in.command,
                    run_in.verdict.as_str(),
                    passed as i64,
                    failed as i64,
                    errored as i64,
                    skipped as i64,
                    run_in.filtered,
                    run_in.metrics.to_string()
                ],
            )?;
            let run_id = tx.last_insert_rowid();
            for (prompt, sha) in &run_in.versions {
                let found: Option<(i64, u32)> = tx
                    .query_row(
                        "SELECT v.id, v.number FROM versions v JOIN prompts p ON p.id = v.prompt_id \
                         WHERE p.name = ?1 AND v.sha256 = ?2",
                        params![prompt, sha],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .optional()?;
                let Some((vid, number)) = found else {
                    return Ok(Err(RegistryError::NotFound(format!(
                        "run covers {prompt}@{} which is not registered",
                        &sha[..12.min(sha.len())]
                    ))));
                };
                tx.execute(
                    "INSERT OR IGNORE INTO run_versions (run_id, version_id) VALUES (?1, ?2)",
                    params![run_id, vid],
                )?;
                tx.execute(
                    "INSERT INTO audit (at, actor, action, prompt, label, from_version, to_version, run_id, reason) \
                     VALUES (?1, ?2, 'run', ?3, NULL, NULL, ?4, ?5, ?6)",
                    params![at, run_in.actor, prompt, number, run_id, run_in.verdict.as_str()],
                )?;
            }
            for s in &run_in.suites {
                tx.execute(
                    "INSERT INTO run_suites (run_id, name, file, sha256, prompts) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![
                        run_id,
                        s.name,
                        s.file,
                        s.sha256,
                        serde_json::to_string(&s.prompts).unwrap_or_else(|_| "[]".into())
                    ],
                )?;
            }
            {
                let mut st = tx.prepare(
                    "INSERT INTO run_cases (run_id, name, suite, prompt, prompt_sha256, provider, verdict, score, metrics) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )?;
                for c in &run_in.cases {
                    st.execute(params![
                        run_id,
                        c.name,
                        c.suite,
                        c.prompt,
                        c.prompt_sha256,
                        c.provider,
                        c.verdict.as_str(),
                        c.score,
                        c.metrics.to_string()
                    ])?;
                }
            }
            tx.commit()?;
            Ok(Ok(run_id))
        };
        run().map_err(|e| self.err(e))?
    }

    fn runs_of(&self, prompt: &str, number: u32) -> Result<Vec<RunRecord>> {
        let run = || -> rusqlite::Result<Vec<RunRecord>> {
            let mut st = self.conn.prepare(
                "SELECT r.id, r.started_at, r.verdict, r.filtered FROM runs r \
                 JOIN run_versions rv ON rv.run_id = r.id JOIN versions v ON v.id = rv.version_id \
                 JOIN prompts p ON p.id = v.prompt_id WHERE p.name = ?1 AND v.number = ?2 ORDER BY r.id",
            )?;
            let rows: Vec<(i64, String, String, bool)> = st
                .query_map(params![prompt, number], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })?
                .collect::<rusqlite::Result<_>>()?;
            let mut suites_st = self
                .conn
                .prepare("SELECT name, prompts, sha256 FROM run_suites WHERE run_id = ?1 ORDER BY name")?;
            let mut out = Vec::new();
            for (id, started_at, verdict, filtered) in rows {
                let covered: Vec<(String, String)> = suites_st
                    .query_map([id], |r| {
                        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?))
                    })?
                    .filter_map(|r| r.ok())
                    .filter(|(_, p, _)| {
                        serde_json::from_str::<Vec<String>>(p).is_ok_and(|ps| ps.iter().any(|x| x == prompt))
                    })
                    .map(|(n, _, h)| (n, h))
                    .collect();
                let (suites, suite_hashes) = covered.into_iter().unzip();
                out.push(RunRecord {
                    id,
                    started_at,
                    verdict: verdict.parse().unwrap_or(RunVerdict::Error),
                    filtered,
                    suites,
                    suite_hashes,
                });
            }
            Ok(out)
        };
        run().map_err(|e| self.err(e))
    }

    fn check(&self) -> Result<()> {
        let problems: Vec<String> = (|| -> rusqlite::Result<Vec<String>> {
            let mut st = self.conn.prepare("PRAGMA quick_check")?;
            let rows = st.query_map([], |r| r.get::<_, String>(0))?;
            rows.collect()
        })()
        .map_err(|e| self.err(e))?;
        if problems.len() == 1 && problems[0] == "ok" {
            return Ok(());
        }
        Err(RegistryError::Corrupt(format!(
            "the registry {} is corrupt ({}); restore it from a backup or point --registry at another file",
            self.path,
            problems.into_iter().take(3).collect::<Vec<_>>().join("; ")
        )))
    }

    fn run_cases(&self, run_id: i64) -> Result<Vec<RunCase>> {
        let run = || -> rusqlite::Result<Vec<RunCase>> {
            let mut st = self.conn.prepare(
                "SELECT name, suite, prompt, prompt_sha256, provider, verdict, score, metrics FROM run_cases \
                 WHERE run_id = ?1 ORDER BY rowid",
            )?;
            let rows = st.query_map([run_id], |r| {
                let metrics: String = r.get(7)?;
                let verdict: String = r.get(5)?;
                Ok(RunCase {
                    name: r.get(0)?,
                    suite: r.get(1)?,
                    prompt: r.get(2)?,
                    prompt_sha256: r.get(3)?,
                    provider: r.get(4)?,
                    // A verdict this build does not know reads as an error (never a pass).
                    verdict: Verdict::parse(&verdict).unwrap_or(Verdict::Error),
                    score: r.get(6)?,
                    metrics: serde_json::from_str(&metrics).unwrap_or_default(),
                })
            })?;
            rows.collect()
        };
        run().map_err(|e| self.err(e))
    }
}

/// A test hook run inside the label move's transaction, after the label
/// and audit rows are written and before the commit (tests use it to act,
/// or to kill the process, at that exact point).
#[cfg(test)]
pub(crate) mod tests_hook {
    use std::cell::RefCell;

    thread_local! {
        static HOOK: RefCell<Option<Box<dyn FnOnce()>>> = RefCell::new(None);
    }

    /// Runs `f` inside the next label move of this thread.
    pub(crate) fn set(f: impl FnOnce() + 'static) {
        HOOK.with(|h| *h.borrow_mut() = Some(Box::new(f)));
    }

    pub(super) fn take() -> Option<Box<dyn FnOnce()>> {
        HOOK.with(|h| h.borrow_mut().take())
    }
}
