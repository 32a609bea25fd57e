//! `--max-cost`: before a call is sent, its estimated cost is reserved from
//! the run's [`Budget`] (a call that would pass the limit is refused with
//! [`ProviderError::OverBudget`] and never sent); once it answers, the
//! estimate is replaced by the real cost (nothing, when it failed).

use super::pricing::PriceList;
use super::{CallResponse, CallSite, ProviderCall};
use crate::provider::pricing::Budget;
use crate::provider::{ProviderError, ProviderRequest};

/// Spends from `budget` for every call `inner` sends.
pub struct Budgeted<'a, L> {
    budget: Option<&'a Budget>,
    prices: PriceList<'a>,
    inner: L,
}

impl<'a, L> Budgeted<'a, L> {
    /// `inner` under `budget` (no budget: the calls pass through), its
    /// answers priced with `prices` (the cost settled is the real one).
    pub fn new(budget: Option<&'a Budget>, prices: PriceList<'a>, inner: L) -> Self {
        Budgeted { budget, prices, inner }
    }
}

impl<L: ProviderCall> ProviderCall for Budgeted<'_, L> {
    async fn call(&self, request: &ProviderRequest, site: &CallSite<'_>) -> Result<CallResponse, ProviderError> {
        let Some(budget) = self.budget else {
            return self.inner.call(request, site).await;
        };
        let estimate = budget.reserve(
            self.prices.table,
            self.prices.provider_id,
            request,
            self.prices.price_override,
        )?;
        match self.inner.call(request, site).await {
            Ok(CallResponse { response, replayed }) => {
                let response = self.prices.price(request, response);
                budget.settle(estimate, Some(&response));
                Ok(CallResponse { response, replayed })
            }
            Err(e) => {
                budget.settle(estimate, None);
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{block_on, request, Scripted};
    use super::super::Direct;
    use super::*;
    use crate::provider::pricing::PriceTable;

    fn prices(table: &PriceTable) -> PriceList<'_> {
        PriceList {
            table,
            provider_id: "openai:chat:gpt-4o-mini",
            price_override: None,
        }
    }

    #[test]
    fn spends_the_real_cost_and_refuses_past_the_limit() {
        let provider = Scripted::default();
        let table = PriceTable::default();
        let budget = Budget::new(1.0);
        let stack = Budgeted::new(Some(&budget), prices(&table), Direct(&provider));
        let r = block_on(stack.call(&request("hi"), &CallSite::default())).unwrap();
        let cost = r.response.cost_usd.expect("priced");
        assert!((budget.spent() - cost).abs() < 1e-12);
        let none = Budget::new(0.0);
        let stack = Budgeted::new(Some(&none), prices(&table), Direct(&provider));
        let err = block_on(stack.call(&request("hi"), &CallSite::default())).unwrap_err();
        assert!(matches!(err, ProviderError::OverBudget { .. }), "{err}");
        assert_eq!(provider.calls(), 1, "a refused call is never sent");
    }

    #[test]
    fn a_failed_call_gives_its_estimate_back() {
        let provider = Scripted::default();
        *provider.error.lock().unwrap() = Some(ProviderError::Transport {
            provider: "p".into(),
            message: "refused".into(),
        });
        let table = PriceTable::default();
        let budget = Budget::new(1.0);
        let stack = Budgeted::new(Some(&budget), prices(&table), Direct(&provider));
        assert!(block_on(stack.call(&request("hi"), &CallSite::default())).is_err());
        assert_eq!(budget.spent(), 0.0);
    }

    #[test]
    fn without_a_budget_calls_pass_through_unpriced() {
        let provider = Scripted::default();
        let table = PriceTable::default();
        let stack = Budgeted::new(None, prices(&table), Direct(&provider));
        let r = block_on(stack.call(&request("hi"), &CallSite::default())).unwrap();
        assert_eq!(r.response.cost_usd, None);
    }
}
