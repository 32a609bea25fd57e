//! A reporter that keeps every finished case, for the commands that look at
//! a run as a whole once it finished (the baseline comparison, the gate, the
//! registry record).

use std::sync::{Arc, Mutex};

use super::{Event, Reporter};
use crate::result::CaseResult;

/// The results of a run as they finish: a reporter that keeps every
/// finished case and suite-threshold outcome (a shared handle: clones see the
/// same results).
#[derive(Debug, Clone, Default)]
pub struct RunResults {
    cases: Arc<Mutex<Vec<Arc<CaseResult>>>>,
    thresholds: Arc<Mutex<Vec<Arc<crate::analysis::thresholds::ThresholdOutcome>>>>,
}

impl RunResults {
    /// No results yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The cases collected so far, in plan order.
    pub fn cases(&self) -> Vec<Arc<CaseResult>> {
        let mut v = self.cases.lock().map(|c| c.clone()).unwrap_or_default();
        v.sort_by_key(|c| c.index);
        v
    }

    /// The suite-level threshold outcomes collected so far.
    pub fn thresholds(&self) -> Vec<Arc<crate::analysis::thresholds::ThresholdOutcome>> {
        self.thresholds.lock().map(|t| t.clone()).unwrap_or_default()
    }
}

impl Reporter for RunResults {
    fn on_event(&mut self, event: &Event) -> std::io::Result<()> {
        match event {
            Event::CaseFinished(c) => {
                if let Ok(mut cases) = self.cases.lock() {
                    cases.push(Arc::clone(c));
                }
            }
            Event::ThresholdsChecked(t) => {
                if let Ok(mut all) = self.thresholds.lock() {
                    all.push(Arc::clone(t));
                }
            }
            _ => {}
        }
        Ok(())
    }
}
