//! The `calls` table: one row per answer of a live or recording run.

use super::writer::Write;
use super::{CacheError, CallRecord, Store};

impl Store {
    /// Appends one call to the log (committed by the writer thread).
    ///
    /// # Errors
    /// The writer is gone.
    pub fn log_call(&self, c: &CallRecord) -> Result<(), CacheError> {
        let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        self.queue(Write::Log(Box::new(c.clone()), at))
    }
}
