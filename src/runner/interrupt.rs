//! Ctrl-C, and the run's stop flag (why no new case starts).

use std::sync::atomic::{AtomicU8, Ordering};

use tokio::sync::mpsc;

use crate::result::SkipReason;

/// Why the run stopped scheduling, shared by the feeders and the cases.
#[derive(Debug, Default)]
pub(super) struct StopFlag(AtomicU8);

/// Values of [`StopFlag`].
const RUNNING: u8 = 0;
const FAIL_FAST: u8 = 1;
const INTERRUPTED: u8 = 2;

impl StopFlag {
    /// Why no new case may start, or `None` while the run goes on.
    pub(super) fn reason(&self) -> Option<SkipReason> {
        match self.0.load(Ordering::SeqCst) {
            RUNNING => None,
            FAIL_FAST => Some(SkipReason::FailFast),
            _ => Some(SkipReason::Interrupted),
        }
    }

    /// Stops the run for `reason`, unless it is stopped already (the first
    /// reason is the one reported).
    pub(super) fn stop(&self, reason: SkipReason) {
        let value = match reason {
            SkipReason::FailFast => FAIL_FAST,
            SkipReason::Interrupted => INTERRUPTED,
        };
        let _ = self
            .0
            .compare_exchange(RUNNING, value, Ordering::SeqCst, Ordering::SeqCst);
    }

    /// Stops the run for a Ctrl-C, whatever stopped it before.
    pub(super) fn interrupt(&self) {
        self.0.store(INTERRUPTED, Ordering::SeqCst);
    }
}

/// Ctrl-C (SIGINT), listened for from the moment of creation.
pub(super) enum Interrupts {
    #[cfg(unix)]
    Unix(tokio::signal::unix::Signal),
    /// Elsewhere, or when the handler cannot be installed: tokio's `ctrl_c`.
    Portable,
}

impl Interrupts {
    /// Starts listening (from now on, Ctrl-C no longer ends the process).
    pub(super) fn listen() -> Self {
        #[cfg(unix)]
        if let Ok(sig) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()) {
            return Interrupts::Unix(sig);
        }
        Interrupts::Portable
    }

    /// Waits for the next Ctrl-C; false when none can come any more.
    async fn next(&mut self) -> bool {
        match self {
            #[cfg(unix)]
            Interrupts::Unix(sig) => sig.recv().await.is_some(),
            Interrupts::Portable => tokio::signal::ctrl_c().await.is_ok(),
        }
    }

    /// Forwards every Ctrl-C to the returned channel (numbered from 1),
    /// setting `stop` at the first at once.
    pub(super) fn forward(
        mut self,
        stop: std::sync::Arc<StopFlag>,
    ) -> (tokio::task::JoinHandle<()>, mpsc::UnboundedReceiver<u32>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            let mut n = 0;
            while self.next().await {
                n += 1;
                if n == 1 {
                    stop.interrupt();
                }
                if tx.send(n).is_err() {
                    break;
                }
            }
        });
        (task, rx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_reason_to_stop_is_kept_but_ctrl_c_wins() {
        let stop = StopFlag::default();
        assert_eq!(stop.reason(), None);
        stop.stop(SkipReason::FailFast);
        stop.stop(SkipReason::Interrupted);
        assert_eq!(stop.reason(), Some(SkipReason::FailFast));
        stop.interrupt();
        assert_eq!(stop.reason(), Some(SkipReason::Interrupted));
    }
}
