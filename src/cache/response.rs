//! The `responses` table: successful answers keyed by [`super::cache_key`].

use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use super::writer::Write;
use super::{now_secs, CacheError, Store};
use crate::provider::ProviderResponse;

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

impl Store {
    /// The stored response for `key`, if there is one younger than the TTL.
    /// A row that cannot be read (a newer format) is a miss.
    pub fn get(&self, key: &str) -> Option<ProviderResponse> {
        let oldest = self.oldest_valid();
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
    pub fn put(&self, key: &str, provider: &str, model: &str, response: &ProviderResponse) -> Result<(), CacheError> {
        let json = serde_json::to_string(response)?;
        self.queue(Write::Put {
            key: key.to_string(),
            provider: provider.to_string(),
            model: model.to_string(),
            json,
            at: now_secs(),
        })
    }

    /// Entry counts and file size.
    ///
    /// # Errors
    /// The database cannot be read.
    pub fn stats(&self) -> Result<CacheStats, CacheError> {
        self.flush()?;
        let oldest = self.oldest_valid();
        let conn = self.conn();
        let count = |sql: &str| -> rusqlite::Result<u64> {
            conn.query_row(sql, params![oldest], |r| r.get::<_, i64>(0))
                .map(|n| n as u64)
        };
        let entries = count("SELECT COUNT(*) FROM responses WHERE ?1 = ?1")?;
        let expired = count("SELECT COUNT(*) FROM responses WHERE created_at < ?1")?;
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
    pub fn clear(&self, expired_only: bool) -> Result<u64, CacheError> {
        let oldest = if expired_only { self.oldest_valid() } else { i64::MAX };
        self.flush()?;
        let conn = self.conn();
        let n = conn.execute("DELETE FROM responses WHERE created_at < ?1", params![oldest])?;
        let _ = conn.execute_batch("VACUUM");
        Ok(n as u64)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

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
    fn a_file_that_is_not_a_database_is_a_setup_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.db");
        std::fs::write(&path, "not a database, but long enough to have a header of sorts......").unwrap();
        let err = Store::open(&path, Duration::from_secs(60)).unwrap_err();
        assert!(matches!(err, CacheError::Setup { .. }), "{err:?}");
        assert!(err
            .to_string()
            .starts_with(&format!("cannot use {} as the cache database: ", path.display())));
    }
}
