//! Prices every answer that comes back without a cost (fresh answers, cache
//! hits, replays: stored answers carry no cost, so they are priced with the
//! prices of the run that reads them).

use super::{CallResponse, CallSite, ProviderCall};
use crate::provider::pricing::{Price, PriceTable};
use crate::provider::{ProviderError, ProviderRequest, ProviderResponse};

/// The prices of one provider: the run's table and the provider's
/// `config.cost`, which wins.
#[derive(Clone, Copy)]
pub struct PriceList<'a> {
    /// The run's prices.
    pub table: &'a PriceTable,
    /// Provider id (the wire format decides how cached tokens are billed).
    pub provider_id: &'a str,
    /// The provider's `config.cost`, when set.
    pub price_override: Option<Price>,
}

impl PriceList<'_> {
    /// `response` with its cost, in USD, when it had none and the model has a price.
    pub fn price(&self, request: &ProviderRequest, mut response: ProviderResponse) -> ProviderResponse {
        if response.cost_usd.is_none() {
            response.cost_usd = self
                .table
                .cost(self.provider_id, &request.model, self.price_override, &response);
        }
        response
    }
}

/// Prices what `inner` answers.
pub struct Priced<'a, L> {
    prices: PriceList<'a>,
    inner: L,
}

impl<'a, L> Priced<'a, L> {
    /// `inner`, its answers priced with `prices`.
    pub fn new(prices: PriceList<'a>, inner: L) -> Self {
        Priced { prices, inner }
    }
}

impl<L: ProviderCall> ProviderCall for Priced<'_, L> {
    async fn call(&self, request: &ProviderRequest, site: &CallSite<'_>) -> Result<CallResponse, ProviderError> {
        let CallResponse { response, replayed } = self.inner.call(request, site).await?;
        Ok(CallResponse {
            response: self.prices.price(request, response),
            replayed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{block_on, request, Scripted};
    use super::super::Direct;
    use super::*;

    #[test]
    fn answers_get_a_cost_when_the_model_has_a_price() {
        let provider = Scripted::default();
        let table = PriceTable::default();
        let prices = PriceList {
            table: &table,
            provider_id: "openai:chat:gpt-4o-mini",
            price_override: None,
        };
        let r = block_on(Priced::new(prices, Direct(&provider)).call(&request("hi"), &CallSite::default())).unwrap();
        let cost = r.response.cost_usd.expect("gpt-4o-mini has a built-in price");
        assert!(cost > 0.0);
        // An unknown model: no cost (unknown, not free).
        let mut unknown = request("hi");
        unknown.model = "no-such-model".into();
        let r = block_on(Priced::new(prices, Direct(&provider)).call(&unknown, &CallSite::default())).unwrap();
        assert_eq!(r.response.cost_usd, None);
    }

    #[test]
    fn a_cost_already_set_is_kept() {
        let table = PriceTable::default();
        let prices = PriceList {
            table: &table,
            provider_id: "openai:chat:gpt-4o-mini",
            price_override: None,
        };
        let response = ProviderResponse {
            cost_usd: Some(9.0),
            ..Default::default()
        };
        assert_eq!(prices.price(&request("hi"), response).cost_usd, Some(9.0));
    }
}
