//! What a run is given: its options and the state every case shares.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::cache::Store;
use crate::provider::pricing::{Budget, PriceTable};
use crate::recording::RecordingStore;
use crate::template::Templates;

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Most cases in flight at once (`-j`), at least 1.
    pub jobs: usize,
    /// Stop scheduling new cases after the first failure or error.
    pub fail_fast: bool,
    /// `--min-pass-rate`: the share of `--repeat` runs that must pass when
    /// the test sets no `min_pass_rate` (default 1.0).
    pub min_pass_rate: f64,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            jobs: 8,
            fail_fast: false,
            min_pass_rate: 1.0,
        }
    }
}

/// What every case needs, shared.
#[derive(Debug)]
pub struct RunContext {
    /// The compiled templates.
    pub templates: Templates,
    /// Recordings (record / replay / live).
    pub recordings: RecordingStore,
    /// The response cache and call log (live and record modes), when open.
    pub store: Option<Store>,
    /// Whether the cache may answer (false with `--no-cache`; calls are still logged and stored).
    pub use_cache: bool,
    /// Prices, for the cost of every call.
    pub prices: PriceTable,
    /// `--max-cost`, when set.
    pub budget: Option<Arc<Budget>>,
    /// Warnings of the calls (cache or call-log writes that failed), until
    /// the run reports them.
    warnings: Warnings,
}

impl RunContext {
    /// A context without cache, call log or budget, with the built-in prices.
    pub fn new(templates: Templates, recordings: RecordingStore) -> Self {
        RunContext {
            templates,
            recordings,
            store: None,
            use_cache: false,
            prices: PriceTable::default(),
            budget: None,
            warnings: Warnings::default(),
        }
    }

    /// Queues a warning (one line, without `warning: `) for the run to report.
    pub fn warn(&self, message: String) {
        self.warnings.push(message);
    }

    /// The warnings queued since the last call, oldest first. [`super::run`]
    /// reports them as [`super::Event::Warning`]; a harness calling
    /// [`super::run_case`] directly reads them here.
    pub fn take_warnings(&self) -> Vec<String> {
        self.warnings.take()
    }
}

/// A queue of warnings that costs one atomic load to find empty.
#[derive(Debug, Default)]
struct Warnings {
    any: AtomicBool,
    queue: Mutex<Vec<String>>,
}

impl Warnings {
    fn push(&self, message: String) {
        self.queue.lock().unwrap_or_else(|e| e.into_inner()).push(message);
        self.any.store(true, Ordering::Release);
    }

    fn take(&self) -> Vec<String> {
        if !self.any.swap(false, Ordering::Acquire) {
            return Vec::new();
        }
        std::mem::take(&mut *self.queue.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_are_taken_once_in_order() {
        let w = Warnings::default();
        assert!(w.take().is_empty());
        w.push("a".into());
        w.push("b".into());
        assert_eq!(w.take(), ["a", "b"]);
        assert!(w.take().is_empty());
    }
}
