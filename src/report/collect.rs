//! A reporter that keeps every finished case, for the commands that look at
//! a run as a whole once it finished (the baseline comparison, the gate, the
//! registry record).

use std::sync::{Arc, Mutex};

use super::{Event, Reporter};
use crate::result::CaseResult;

/// The results of a run as they finish: a reporter that keeps every
/// finished case (unless made with [`RunResults::thresholds_only`]) and
/// suite-threshold outcome (a shared handle: clones see the same results).
#[derive(Debug, Clone)]
pub struct RunResults {
    keep_cases: bool,
    cases: Arc<Mutex<Vec<Arc<CaseResult>>>>,
    thresholds: Arc<Mutex<Vec<Arc<crate::analysis::thresholds::ThresholdOutcome>>>>,
}

/// The suite-level threshold outcomes of a run.
pub type ThresholdOutcomes = Vec<Arc<crate::analysis::thresholds::ThresholdOutcome>>;

impl Default for RunResults {
    fn default() -> Self {
        RunResults {
            keep_cases: true,
            cases: Arc::default(),
            thresholds: Arc::default(),
        }
    }
}

impl RunResults {
    /// No results yet; keeps every case.
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps the threshold outcomes only (a big run whose cases the caller
    /// does not need is not held in memory).
    pub fn thresholds_only() -> Self {
        RunResults {
            keep_cases: false,
            ..Self::default()
        }
    }

    /// Takes the results out: the cases (in plan order) and the threshold
    /// outcomes; the handle is empty afterwards.
    pub fn take(&self) -> (Vec<Arc<CaseResult>>, ThresholdOutcomes) {
        let mut cases = self
            .cases
            .lock()
            .map(|mut c| std::mem::take(&mut *c))
            .unwrap_or_default();
        cases.sort_by_key(|c| c.index);
        let thresholds = self
            .thresholds
            .lock()
            .map(|mut t| std::mem::take(&mut *t))
            .unwrap_or_default();
        (cases, thresholds)
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
            Event::CaseFinished(c) if self.keep_cases => {
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
