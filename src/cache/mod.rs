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

use rusqlite::Connection;

use crate::provider::layers::cache::ResponseCache;
use crate::provider::layers::call_log::CallLog;
use crate::provider::ProviderResponse;

mod call_log;
mod costs;
mod response;
mod writer;

pub use crate::provider::layers::cache::{cache_key, is_deterministic};
pub use crate::provider::layers::call_log::CallRecord;
pub use crate::settings::{CACHE_PATH as DEFAULT_PATH, CACHE_TTL_DAYS as DEFAULT_TTL_DAYS};
pub use costs::{CostGroup, CostRow};
pub use response::CacheStats;

use writer::{Write, Writer};

/// What went wrong with the cache database.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// The folder of the database could not be created.
    #[error("cannot create {}: {source}", .path.display())]
    CreateDir {
        /// The folder.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file could not be opened.
    #[error("cannot open {}: {source}", .path.display())]
    Open {
        /// The database file.
        path: PathBuf,
        /// Why.
        source: rusqlite::Error,
    },
    /// The file is not a SQLite database this version can use.
    #[error("cannot use {} as the cache database: {source}", .path.display())]
    Setup {
        /// The database file.
        path: PathBuf,
        /// Why.
        source: rusqlite::Error,
    },
    /// A batch of writes (cache entries, call-log rows) failed.
    #[error("cannot write to the cache {}: {source}", .path.display())]
    Write {
        /// The database file.
        path: PathBuf,
        /// Why.
        source: rusqlite::Error,
    },
    /// The writer thread could not be started.
    #[error("cannot start the cache writer: {0}")]
    StartWriter(std::io::Error),
    /// The writer thread is gone (it could not open the database).
    #[error("the cache writer of {} stopped", .0.display())]
    WriterStopped(PathBuf),
    /// The writer thread panicked.
    #[error("the cache writer panicked")]
    WriterPanicked,
    /// A response could not be serialized.
    #[error("{0}")]
    Serialize(#[from] serde_json::Error),
    /// A query failed.
    #[error("{0}")]
    Query(#[from] rusqlite::Error),
}

/// The open database.
#[derive(Debug)]
pub struct Store {
    conn: Mutex<Connection>,
    path: PathBuf,
    ttl: Duration,
    writer: Mutex<Option<Writer>>,
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    Ok(())
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
    pub fn open(path: &Path, ttl: Duration) -> Result<Store, CacheError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| CacheError::CreateDir {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        let conn = Connection::open(path).map_err(|source| CacheError::Open {
            path: path.to_path_buf(),
            source,
        })?;
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
        setup().map_err(|source| CacheError::Setup {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Store {
            conn: Mutex::new(conn),
            path: path.to_path_buf(),
            ttl,
            writer: Mutex::new(None),
        })
    }

    /// Queues a write, starting the writer thread when none runs.
    fn queue(&self, w: Write) -> Result<(), CacheError> {
        let mut writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let writer = match &mut *writer {
            Some(w) => w,
            slot => slot.insert(Writer::start(self.path.clone())?),
        };
        writer.send(w).map_err(|_| CacheError::WriterStopped(self.path.clone()))
    }

    /// Waits until every queued write is committed.
    ///
    /// # Errors
    /// The first write that failed since the last flush.
    pub fn flush(&self) -> Result<(), CacheError> {
        let writer = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take();
        match writer {
            Some(w) => w.finish(),
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

    /// The oldest `created_at` (Unix seconds) still valid under the TTL.
    fn oldest_valid(&self) -> i64 {
        now_secs() - self.ttl.as_secs() as i64
    }
}

impl Drop for Store {
    /// Commits what is still queued (errors were already reported by [`Store::flush`], if called).
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

impl ResponseCache for Store {
    type Error = CacheError;
    fn get(&self, key: &str) -> Option<ProviderResponse> {
        Store::get(self, key)
    }
    fn put(&self, key: &str, provider: &str, model: &str, response: &ProviderResponse) -> Result<(), CacheError> {
        Store::put(self, key, provider, model, response)
    }
}

impl CallLog for Store {
    type Error = CacheError;
    fn log_call(&self, record: &CallRecord) -> Result<(), CacheError> {
        Store::log_call(self, record)
    }
}
