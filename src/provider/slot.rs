//! The place a case holds in the run's concurrency (`-j`, and its provider's
//! `max_concurrency`), and giving it up while a call waits out a retry.
//!
//! A case whose request failed with a 5xx waits its backoff (500 ms, doubling)
//! before trying again; holding its place meanwhile would leave that place
//! idle, so a handful of retried cases could slow a whole run down.
//! [`backoff_sleep`] gives the place up for the wait and takes one again
//! (waiting its turn behind the cases already queued) before the next
//! attempt. Requests in flight never exceed `-j`; cases started may, by the
//! number of cases waiting out a backoff. With `-j 1` the place is kept, so a
//! sequential run stays in plan order.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

tokio::task_local! {
    static SLOT: Arc<Slot>;
}

/// A case's claim on the run's concurrency.
pub(crate) struct Slot {
    global: Arc<Semaphore>,
    provider: Option<Arc<Semaphore>>,
    /// Give the place up during backoffs (false with `-j 1`).
    release: bool,
    /// Other places the case holds meanwhile (a grader's `max_concurrency`):
    /// while any is held the case keeps its `-j` place too, or a case waiting
    /// for a `-j` place while holding the grader's could block every case
    /// holding a `-j` place and waiting for the grader's.
    pinned: std::sync::atomic::AtomicU32,
    held: Mutex<Option<Permits>>,
}

/// While alive, the current case keeps its place during backoffs (see
/// [`Slot`]'s `pinned`).
pub(crate) struct Pin(Option<Arc<Slot>>);

/// Keeps the current case's place during backoffs until the returned guard
/// is dropped: call it before taking another limited place (a grader's
/// `max_concurrency`). Outside a case it does nothing.
pub(crate) fn pin() -> Pin {
    let slot = SLOT.try_with(Arc::clone).ok();
    if let Some(s) = &slot {
        s.pinned.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
    Pin(slot)
}

impl Drop for Pin {
    fn drop(&mut self) {
        if let Some(s) = &self.0 {
            s.pinned.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        }
    }
}

type Permits = (OwnedSemaphorePermit, Option<OwnedSemaphorePermit>);

impl Slot {
    /// A place held with `global` (from `-j`) and, when the provider sets
    /// `max_concurrency`, `provider_permit`.
    pub(crate) fn new(
        global: (Arc<Semaphore>, OwnedSemaphorePermit),
        provider: Option<(Arc<Semaphore>, OwnedSemaphorePermit)>,
        release: bool,
    ) -> Arc<Slot> {
        let (provider, provider_permit) = match provider {
            Some((s, p)) => (Some(s), Some(p)),
            None => (None, None),
        };
        Arc::new(Slot {
            global: global.0,
            provider,
            release,
            pinned: Default::default(),
            held: Mutex::new(Some((global.1, provider_permit))),
        })
    }

    /// Runs `fut` (a case) holding this place; the place is given back when
    /// `fut` ends and the last handle to it is dropped.
    pub(crate) async fn hold<F: std::future::Future>(self: Arc<Self>, fut: F) -> F::Output {
        SLOT.scope(self, fut).await
    }

    fn held(&self) -> std::sync::MutexGuard<'_, Option<Permits>> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Sleeps `delay` (a retry backoff) without holding the current case's place,
/// then waits for a place again (its provider's first, then `-j`, in the
/// order the runner takes them). Outside a case, with `-j 1`, or while the
/// case holds a grader's `max_concurrency` place (`pin`), it only sleeps.
pub async fn backoff_sleep(delay: Duration) {
    let slot = SLOT
        .try_with(Arc::clone)
        .ok()
        .filter(|s| s.release && s.pinned.load(std::sync::atomic::Ordering::SeqCst) == 0);
    let Some(slot) = slot else {
        tokio::time::sleep(delay).await;
        return;
    };
    drop(slot.held().take());
    tokio::time::sleep(delay).await;
    let provider = match &slot.provider {
        Some(s) => Arc::clone(s).acquire_owned().await.ok(),
        None => None,
    };
    // A closed semaphore (the run is ending) grants nothing: go on without.
    if let Ok(global) = Arc::clone(&slot.global).acquire_owned().await {
        *slot.held() = Some((global, provider));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_backoff_gives_the_place_up_and_takes_it_back() {
        let global = Arc::new(Semaphore::new(1));
        let permit = Arc::clone(&global).acquire_owned().await.unwrap();
        let slot = Slot::new((Arc::clone(&global), permit), None, true);
        let g = Arc::clone(&global);
        slot.hold(async move {
            assert_eq!(g.available_permits(), 0);
            let during = tokio::spawn({
                let g = Arc::clone(&g);
                async move {
                    // Another case gets the place while this one waits.
                    let p = g.acquire_owned().await.unwrap();
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    drop(p);
                }
            });
            backoff_sleep(Duration::from_millis(10)).await;
            // Taken back (after the other case gave it up).
            assert_eq!(g.available_permits(), 0);
            during.await.unwrap();
        })
        .await;
        assert_eq!(global.available_permits(), 1, "given back when the case ends");
    }

    #[tokio::test]
    async fn a_pinned_case_keeps_its_place() {
        let global = Arc::new(Semaphore::new(1));
        let permit = Arc::clone(&global).acquire_owned().await.unwrap();
        let slot = Slot::new((Arc::clone(&global), permit), None, true);
        let g = Arc::clone(&global);
        slot.hold(async move {
            let pin = pin();
            let sleeping = backoff_sleep(Duration::from_millis(10));
            tokio::pin!(sleeping);
            tokio::select! {
                _ = &mut sleeping => panic!("slept less than 10 ms"),
                _ = tokio::time::sleep(Duration::from_millis(2)) => {
                    assert_eq!(g.available_permits(), 0, "kept while pinned");
                }
            }
            sleeping.await;
            drop(pin);
        })
        .await;
    }

    #[tokio::test]
    async fn with_one_job_or_outside_a_case_the_place_is_kept() {
        let global = Arc::new(Semaphore::new(1));
        let permit = Arc::clone(&global).acquire_owned().await.unwrap();
        let slot = Slot::new((Arc::clone(&global), permit), None, false);
        let g = Arc::clone(&global);
        slot.hold(async move {
            let sleeping = backoff_sleep(Duration::from_millis(10));
            tokio::pin!(sleeping);
            tokio::select! {
                _ = &mut sleeping => {}
                _ = tokio::time::sleep(Duration::from_millis(2)) => {
                    assert_eq!(g.available_permits(), 0, "kept during the backoff");
                }
            }
            sleeping.await;
        })
        .await;
        backoff_sleep(Duration::from_millis(1)).await;
    }
}
