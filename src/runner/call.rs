//! Every provider call of a run, through the layers of
//! [`crate::provider::layers`], stacked the way the run is set up.

use crate::cache::Store;
use crate::provider::layers::budget::Budgeted;
use crate::provider::layers::cache::Cached;
use crate::provider::layers::call_log::Logged;
use crate::provider::layers::local::Local;
use crate::provider::layers::pricing::{PriceList, Priced};
use crate::provider::layers::replay::{Recorded, Replayed};
use crate::provider::layers::{CallResponse, CallSite, Direct, ProviderCall};
use crate::provider::{Provider, ProviderError, ProviderRequest};
use crate::recording::{Mode, RecordingStore};

use super::RunContext;

/// Sends `request` to `provider` (id `provider_id`) the way the run is set
/// up: live, recording, or answered from the recordings; live and recording
/// runs go through the response cache, the `--max-cost` budget and the call
/// log; a local provider is called directly. Every provider call of a run
/// goes through here: the case's own call and grader calls alike. Returns
/// the response (with its cost, when the model has a price; `from_cache` set
/// when the cache answered) and whether it was replayed.
///
/// # Errors
/// The provider's error, [`ProviderError::NotRecorded`] (replay) or
/// [`ProviderError::OverBudget`] (`--max-cost`).
pub(crate) async fn call_provider(
    provider_id: &str,
    provider: &dyn Provider,
    ctx: &RunContext,
    request: &ProviderRequest,
    site: &CallSite<'_>,
) -> Result<CallResponse, ProviderError> {
    let config = provider.config();
    let prices = PriceList {
        table: &ctx.prices,
        provider_id,
        price_override: config.and_then(|c| c.cost),
    };
    let (replay, record) = match ctx.recordings.mode() {
        Mode::Replay(dir) => (Some((&ctx.recordings, dir.as_path())), None),
        Mode::Record(_) => (None, Some(&ctx.recordings)),
        Mode::Live => (None, None),
    };
    // A replayed run calls nothing: no cache, call log or budget.
    let live = replay.is_none();
    let store = ctx.store.as_ref().filter(|_| live);
    let warn = |message: String| ctx.warn(message);
    // `--no-cache` / `[cache] enabled = false`: the cache is neither read nor written.
    let cache = store.filter(|_| ctx.use_cache);
    let budget = ctx.budget.as_deref().filter(|_| live);
    let stack = Local::new(
        provider,
        Recorded::<RecordingStore, _>::new(
            record,
            provider_id,
            Logged::<Store, _>::new(
                store,
                provider_id,
                &warn,
                Priced::new(
                    prices,
                    Replayed::<RecordingStore, _>::new(
                        replay,
                        provider_id,
                        Cached::<Store, _>::new(
                            cache,
                            provider_id,
                            provider.endpoint(),
                            config.and_then(|c| c.cache).unwrap_or_default(),
                            &warn,
                            Budgeted::new(budget, prices, Direct(provider)),
                        ),
                    ),
                ),
            ),
        ),
    );
    stack.call(request, site).await
}
