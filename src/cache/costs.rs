//! `promptgate costs`: the call log grouped by model, suite or prompt.

use rusqlite::params;
use serde::Serialize;

use super::{CacheError, Store};

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

impl Store {
    /// Costs of the last `days` days grouped by `by` (`model`, `suite` or
    /// `prompt`), most expensive first.
    ///
    /// # Errors
    /// The database cannot be read.
    pub fn costs(&self, days: u32, by: CostGroup) -> Result<Vec<CostRow>, CacheError> {
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
        let mut stmt = conn.prepare(&sql)?;
        let rows = stmt.query_map(params![since], |r| {
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
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::CallRecord;
    use super::*;

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
