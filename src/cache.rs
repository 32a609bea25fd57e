//! The response cache and the call log: one SQLite file (default
//! `.promptgate/cache.db`, rusqlite with bundled SQLite).
//!
//! # Tables
//!
//! - `responses(key TEXT PRIMARY KEY, provider, model, response TEXT (JSON of
//!   the provider response), created_at INTEGER (Unix seconds))`: successful
//!   answers only (errors are never stored), keyed by [`cache_key`]. Entries
//!   older than the TTL ([`DEFAULT_TTL_DAYS`] days) are never returned.
//! - `calls(id, at TEXT (RFC 3339 UTC), suite, prompt, prompt_hash, provider,
//!   model, tokens_in, tokens_out, tokens_cached, cost_usd REAL NULL,
//!   latency_ms, cached INTEGER (1 = answered by this cache))`: one row per
//!   provider call of a live run, and per cache hit (its cost is what the
//!   cache saved). `promptgate costs` reports from it.
//!
//! # Consistency
//!
//! WAL journal, `synchronous=NORMAL`, a 10 s busy timeout. Writes (cache
//! entries and call-log rows) go to a writer thread with its own connection,
//! which commits whatever has queued up in one transaction (a few hundred rows
//! cost one commit instead of one each); [`Store::flush`] waits for it. Two
//! runs can share the file, and a run killed at any point leaves a readable
//! database holding every batch it committed and nothing half-written
//! (SQLite's atomic commit); only the writes of the last batch window (25 ms)
//! are lost.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use crate::provider::{ProviderRequest, ProviderResponse};

pub use crate::settings::{CACHE_PATH as DEFAULT_PATH, CACHE_TTL_DAYS as DEFAULT_TTL_DAYS};

/// The key of a request in the cache: SHA-256 (hex) of the canonical JSON of
/// `{provider, endpoint, request: {model, messages, settings}, repeat}`.
/// Every setting is part of it; so is the repeat index (`--repeat N` makes N
/// independent calls, each cached on its own).
pub fn cache_key(provider_id: &str, endpoint: Option<&str>, request: &ProviderRequest, repeat: u32) -> String {
    let request_hash = crate::recording::request_key(provider_id, request);
    crate::util::sha256_hex(format!("{request_hash}\u{0}{}\u{0}{repeat}", endpoint.unwrap_or("")).as_bytes())
}

/// True when the request should produce the same answer every time:
/// temperature 0, or a seed.
pub fn is_deterministic(request: &ProviderRequest) -> bool {
    request.settings.temperature == Some(0.0) || request.settings.seed.is_some()
}

/// One call, as logged in the `calls` table.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CallRecord {
    /// Suite name.
    pub suite: String,
    /// Prompt name.
    pub prompt: String,
    /// Prompt hash (12 hex characters).
    pub prompt_hash: String,
    /// Provider id.
    pub provider: String,
    /// Model.
    pub model: String,
    /// Input tokens.
    pub tokens_in: u64,
    /// Output tokens.
    pub tokens_out: u64,
    /// Input tokens read from the provider's prompt cache.
    pub tokens_cached: u64,
    /// Cost in USD, when the model has a price.
    pub cost_usd: Option<f64>,
    /// Provider latency, ms.
    pub latency_ms: u64,
    /// Answered by promptgate's response cache (no request sent).
    pub cached: bool,
}

/// Entries of the response cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CacheStats {
    /// Entries stored.
    pub entries: u64,
    /// Of which older than the TTL (never returned; removed by `cache clear --expired`).
    pub expired: u64,
    /// Size of the database file, in bytes.
    pub file_bytes: u64,
}

/// One line of `promptgate costs`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CostRow {
    /// The model, suite or prompt.
    pub key: String,
    /// Calls sent (not answered by the cache).
    pub calls: u64,
    /// Cache hits.
    pub cache_hits: u64,
    /// Input tokens of the calls sent.
    pub tokens_in: u64,
    /// Output tokens of the calls sent.
    pub tokens_out: u64,
    /// USD spent on the calls sent that have a price; `null` when none has
    /// (every call was to a model without a price: unknown, not free).
    pub cost_usd: Option<f64>,
    /// USD the cache hits with a price would have cost; `null` when there
    /// were hits and none has a price.
    pub saved_usd: Option<f64>,
    /// Calls sent whose model had no price when they were logged (not in `cost_usd`).
    pub unpriced_calls: u64,
    /// Cache hits whose model had no price (not in `saved_usd`).
    pub unpriced_hits: u64,
}

/// The open database.
#[derive(Debug)]
pub struct Store {
    conn: Mutex<Connection>,
    path: PathBuf,
    ttl: Duration,
    writer: Mutex<Option<Writer>>,
}

/// A queued write.
#[derive(Debug)]
enum Write {
    Put {
        key: String,
        provider: String,
        model: String,
        json: String,
        at: i64,
    },
    Log(Box<CallRecord>, String),
}

/// The writer thread and its queue.
#[derive(Debug)]
struct Writer {
    tx: std::sync::mpsc::Sender<Write>,
    handle: std::thread::JoinHandle<Result<(), String>>,
}

/// Most writes committed in one transaction.
const MAX_BATCH: usize = 1024;

/// How long the writer waits after the first write of a batch for more to
/// queue up (a killed run loses at most the writes of this window).
const BATCH_WINDOW: Duration = Duration::from_millis(25);

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    Ok(())
}

fn apply(conn: &Connection, w: &Write) -> rusqlite::Result<()> {
    match w {
        Write::Put {
            key,
            provider,
            model,
            json,
            at,
        } => conn
            .prepare_cached(
                "INSERT OR REPLACE INTO responses (key, provider, model, response, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![key, provider, model, json, at])
            .map(drop),
        Write::Log(c, at) => conn
            .prepare_cached(
                "INSERT INTO calls (at, suite, prompt, prompt_hash, provider, model, tokens_in, tokens_out, tokens_cached, cost_usd, latency_ms, cached)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )?
            .execute(params![
                at,
                c.suite,
                c.prompt,
                c.prompt_hash,
                c.provider,
                c.model,
                c.tokens_in as i64,
                c.tokens_out as i64,
                c.tokens_cached as i64,
                c.cost_usd,
                c.latency_ms as i64,
                c.cached,
            ])
            .map(drop),
    }
}

/// The writer thread: commits what has queued up, batch by batch, until the
/// queue is closed. Returns the first error (later writes are still tried).
fn write_loop(path: PathBuf, rx: std::sync::mpsc::Receiver<Write>) -> Result<(), String> {
    let fail = |e: rusqlite::Error| format!("cannot write to the cache {}: {e}", path.display());
    let mut conn = Connection::open(&path).map_err(fail)?;
    configure(&conn).map_err(fail)?;
    let mut first_error = None;
    while let Ok(first) = rx.recv() {
        // Let the writes of the next few milliseconds queue up without waking
        // this thread for each (a context switch per call on a busy machine);
        // `flush` wakes it at once.
        std::thread::park_timeout(BATCH_WINDOW);
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(w) => batch.push(w),
                Err(_) => break,
            }
        }
        let result = (|| -> rusqlite::Result<()> {
            let tx = conn.transaction()?;
            for w in &batch {
                apply(&tx, w)?;
            }
            tx.commit()
        })();
        if let Err(e) = result {
            first_error.get_or_insert_with(|| fail(e));
        }
        // Fold the batch into the database now, off the run's critical path:
        // otherwise closing the file at the end of the run copies the whole
        // WAL (up to 1,000 pages) and fsyncs it, and a WAL left behind would
        // be read whole by the next run's open. PASSIVE: never waits for readers.
        let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
    }
    first_error.map_or(Ok(()), Err)
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl Store {
    /// Opens (creating folder, file and tables when missing) the database at
    /// `path`, with entries valid for `ttl`.
    ///
    /// # Errors
    /// The folder cannot be created or the file is not a SQLite database.
    pub fn open(path: &Path, ttl: Duration) -> Result<Store, String> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        let conn = Connection::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        let setup = || -> rusqlite::Result<()> {
            configure(&conn)?;
            conn.execute_batch(
                "CREATE TABLE IF NOT EXISTS responses (
                    key TEXT PRIMARY KEY,
                    provider TEXT NOT NULL,
                    model TEXT NOT NULL,
                    response TEXT NOT NULL,
                    created_at INTEGER NOT NULL
                 );
                 CREATE TABLE IF NOT EXISTS calls (
                    id INTEGER PRIMARY KEY,
                    at TEXT NOT NULL,
                    suite TEXT NOT NULL,
                    prompt TEXT NOT NULL,
                    prompt_hash TEXT NOT NULL,
                    provider TEXT NOT NULL,
                    model TEXT NOT NULL,
                    tokens_in INTEGER NOT NULL,
                    tokens_out INTEGER NOT NULL,
                    tokens_cached INTEGER NOT NULL,
                    cost_usd REAL,
                    latency_ms INTEGER NOT NULL,
                    cached INTEGER NOT NULL
                 );
                 CREATE INDEX IF NOT EXISTS calls_at ON calls(at);",
            )
        };
        setup().map_err(|e| format!("cannot use {} as the cache database: {e}", path.display()))?;
        Ok(Store {
            conn: Mutex::new(conn),
            path: path.to_path_buf(),
            ttl,
            writer: Mutex::new(None),
        })
    }

    /// Queues a write, starting the writer thread when none runs.
    fn queue(&self, w: Write) -> Result<(), String> {
        let mut writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let writer = match &mut *writer {
            Some(w) => w,
            slot => {
                let (tx, rx) = std::sync::mpsc::channel();
                let path = self.path.clone();
                let handle = std::thread::Builder::new()
                    .name("promptgate-cache-writer".into())
                    .spawn(move || write_loop(path, rx))
                    .map_err(|e| format!("cannot start the cache writer: {e}"))?;
                slot.insert(Writer { tx, handle })
            }
        };
        writer
            .tx
            .send(w)
            .map_err(|_| format!("the cache writer of {} stopped", self.path.display()))
    }

    /// Waits until every queued write is committed.
    ///
    /// # Errors
    /// The first write that failed since the last flush.
    pub fn flush(&self) -> Result<(), String> {
        let writer = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take();
        match writer {
            Some(Writer { tx, handle }) => {
                drop(tx);
                handle.thread().unpark();
                handle.join().map_err(|_| "the cache writer panicked".to_string())?
            }
            None => Ok(()),
        }
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The stored response for `key`, if there is one younger than the TTL.
    /// A row that cannot be read (a newer format) is a miss.
    pub fn get(&self, key: &str) -> Option<ProviderResponse> {
        let oldest = now_secs() - self.ttl.as_secs() as i64;
        let conn = self.conn();
        let text: Option<String> = conn
            .prepare_cached("SELECT response FROM responses WHERE key = ?1 AND created_at >= ?2")
            .and_then(|mut stmt| stmt.query_row(params![key, oldest], |row| row.get(0)).optional())
            .ok()
            .flatten();
        drop(conn);
        text.and_then(|t| serde_json::from_str(&t).ok())
    }

    /// Stores a successful response under `key` (replacing an older one),
    /// committed by the writer thread ([`Store::flush`] waits for it).
    ///
    /// # Errors
    /// The response cannot be serialized or the writer is gone.
    pub fn put(&self, key: &str, provider: &str, model: &str, response: &ProviderResponse) -> Result<(), String> {
        let json = serde_json::to_string(response).map_err(|e| e.to_string())?;
        self.queue(Write::Put {
            key: key.to_string(),
            provider: provider.to_string(),
            model: model.to_string(),
            json,
            at: now_secs(),
        })
    }

    /// Appends one call to the log (committed by the writer thread).
    ///
    /// # Errors
    /// The writer is gone.
    pub fn log_call(&self, c: &CallRecord) -> Result<(), String> {
        let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        self.queue(Write::Log(Box::new(c.clone()), at))
    }

    /// Entry counts and file size.
    ///
    /// # Errors
    /// The database cannot be read.
    pub fn stats(&self) -> Result<CacheStats, String> {
        self.flush()?;
        let oldest = now_secs() - self.ttl.as_secs() as i64;
        let conn = self.conn();
        let count = |sql: &str| -> rusqlite::Result<u64> {
            conn.query_row(sql, params![oldest], |r| r.get::<_, i64>(0))
                .map(|n| n as u64)
        };
        let entries = count("SELECT COUNT(*) FROM responses WHERE ?1 = ?1").map_err(|e| e.to_string())?;
        let expired = count("SELECT COUNT(*) FROM responses WHERE created_at < ?1").map_err(|e| e.to_string())?;
        let file_bytes = std::fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0);
        Ok(CacheStats {
            entries,
            expired,
            file_bytes,
        })
    }

    /// Removes cached responses (all, or only the expired ones); the call log
    /// is kept. Returns how many were removed.
    ///
    /// # Errors
    /// The database cannot be written.
    pub fn clear(&self, expired_only: bool) -> Result<u64, String> {
        let oldest = if expired_only {
            now_secs() - self.ttl.as_secs() as i64
        } else {
            i64::MAX
        };
        self.flush()?;
        let conn = self.conn();
        let n = conn
            .execute("DELETE FROM responses WHERE created_at < ?1", params![oldest])
            .map_err(|e| e.to_string())?;
        let _ = conn.execute_batch("VACUUM");
        Ok(n as u64)
    }

    /// Costs of the last `days` days grouped by `by` (`model`, `suite` or
    /// `prompt`), most expensive first.
    ///
    /// # Errors
    /// The database cannot be read.
    pub fn costs(&self, days: u32, by: CostGroup) -> Result<Vec<CostRow>, String> {
        self.flush()?;
        let since = (chrono::Utc::now() - chrono::Duration::days(i64::from(days)))
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let column = match by {
            CostGroup::Model => "provider || ' ' || model",
            CostGroup::Suite => "suite",
            CostGroup::Prompt => "prompt || '@' || prompt_hash",
        };
        let sql = format!(
            "SELECT {column} AS k,
                    SUM(cached = 0), SUM(cached = 1),
                    SUM(CASE WHEN cached = 0 THEN tokens_in ELSE 0 END),
                    SUM(CASE WHEN cached = 0 THEN tokens_out ELSE 0 END),
                    TOTAL(CASE WHEN cached = 0 THEN cost_usd END),
                    TOTAL(CASE WHEN cached = 1 THEN cost_usd END),
                    SUM(cached = 0 AND cost_usd IS NULL),
                    SUM(cached = 1 AND cost_usd IS NULL)
             FROM calls WHERE at >= ?1 GROUP BY k ORDER BY 6 DESC, k"
        );
        let conn = self.conn();
        let mut stmt = conn.prepare(&sql).map_err(|e| e.to_string())?;
        let rows = stmt
            .query_map(params![since], |r| {
                let calls = r.get::<_, i64>(1)? as u64;
                let cache_hits = r.get::<_, i64>(2)? as u64;
                let unpriced_calls = r.get::<_, i64>(7)? as u64;
                let unpriced_hits = r.get::<_, i64>(8)? as u64;
                // All unpriced: the amount is unknown, never 0.
                let known = |n: u64, unpriced: u64, usd: f64| (n == 0 || unpriced < n).then_some(usd);
                Ok(CostRow {
                    key: r.get(0)?,
                    calls,
                    cache_hits,
                    tokens_in: r.get::<_, i64>(3)? as u64,
                    tokens_out: r.get::<_, i64>(4)? as u64,
                    cost_usd: known(calls, unpriced_calls, r.get(5)?),
                    saved_usd: known(cache_hits, unpriced_hits, r.get(6)?),
                    unpriced_calls,
                    unpriced_hits,
                })
            })
            .map_err(|e| e.to_string())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| e.to_string())
    }
}

impl Drop for Store {
    /// Commits what is still queued (errors were already reported by [`Store::flush`], if called).
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

/// How `promptgate costs` groups the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CostGroup {
    /// Per provider and model.
    Model,
    /// Per suite.
    Suite,
    /// Per prompt version (name@hash).
    Prompt,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::{Message, ModelSettings};

    fn request(temperature: Option<f64>) -> ProviderRequest {
        ProviderRequest {
            model: "m".into(),
            messages: vec![Message::new("user", "hi")],
            settings: ModelSettings {
                temperature,
                ..Default::default()
            },
        }
    }

    #[test]
    fn keys_cover_endpoint_settings_and_repeat() {
        let r = request(Some(0.0));
        let k = cache_key("openai:chat:m", Some("http://a/v1"), &r, 0);
        assert_eq!(k, cache_key("openai:chat:m", Some("http://a/v1"), &r, 0));
        assert_ne!(k, cache_key("openai:chat:m", Some("http://b/v1"), &r, 0));
        assert_ne!(k, cache_key("openai:chat:m", Some("http://a/v1"), &r, 1));
        assert_ne!(
            k,
            cache_key("openai:chat:m", Some("http://a/v1"), &request(Some(0.5)), 0)
        );
        assert_ne!(k, cache_key("openai:chat:other", Some("http://a/v1"), &r, 0));
    }

    #[test]
    fn only_temperature_zero_or_a_seed_is_deterministic() {
        assert!(is_deterministic(&request(Some(0.0))));
        assert!(!is_deterministic(&request(Some(0.7))));
        assert!(!is_deterministic(&request(None)));
        let mut seeded = request(None);
        seeded.settings.seed = Some(1);
        assert!(is_deterministic(&seeded));
    }

    #[test]
    fn stores_returns_expires_and_clears() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/cache.db");
        let store = Store::open(&path, Duration::from_secs(3600)).unwrap();
        assert!(store.get("k").is_none());
        let resp = ProviderResponse {
            output: "hello".into(),
            latency_ms: 7,
            ..Default::default()
        };
        store.put("k", "p", "m", &resp).unwrap();
        store.flush().unwrap();
        assert_eq!(store.get("k").unwrap().output, "hello");
        assert_eq!(store.stats().unwrap().entries, 1);
        // A second connection (another run) sees it.
        let other = Store::open(&path, Duration::from_secs(3600)).unwrap();
        assert_eq!(other.get("k").unwrap().latency_ms, 7);
        // Expired entries are not returned.
        let expired = Store::open(&path, Duration::ZERO).unwrap();
        other
            .conn()
            .execute("UPDATE responses SET created_at = created_at - 10", [])
            .unwrap();
        assert!(expired.get("k").is_none());
        assert_eq!(expired.stats().unwrap().expired, 1);
        assert_eq!(store.clear(false).unwrap(), 1);
        assert!(store.get("k").is_none());
    }

    #[test]
    fn logs_calls_and_groups_costs() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("c.db"), Duration::from_secs(60)).unwrap();
        let call = |suite: &str, cost: f64, cached: bool| CallRecord {
            suite: suite.into(),
            prompt: "p".into(),
            prompt_hash: "abc".into(),
            provider: "openai:chat:m".into(),
            model: "m".into(),
            tokens_in: 10,
            tokens_out: 5,
            cost_usd: Some(cost),
            cached,
            ..Default::default()
        };
        store.log_call(&call("a", 1.0, false)).unwrap();
        store.log_call(&call("a", 1.0, true)).unwrap();
        store.log_call(&call("b", 3.0, false)).unwrap();
        let rows = store.costs(30, CostGroup::Suite).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].key.as_str(), rows[0].cost_usd), ("b", Some(3.0)));
        assert_eq!(
            (
                rows[1].calls,
                rows[1].cache_hits,
                rows[1].cost_usd,
                rows[1].saved_usd,
                rows[1].tokens_in
            ),
            (1, 1, Some(1.0), Some(1.0), 10)
        );
        let by_model = store.costs(30, CostGroup::Model).unwrap();
        assert_eq!(by_model[0].key, "openai:chat:m m");
    }
}
