//! What a provider call costs, in USD, from its token counts and a price table.
//!
//! Prices are USD per **million** tokens: `input`, `output` and
//! `cached_input` (input tokens served from the provider's own prompt cache).
//! The built-in [`PRICES`] table is overridden by `[prices."MODEL"]` in
//! `promptgate.toml` and by a provider's `config.cost` (which wins).
//!
//! - OpenAI: `prompt_tokens` *includes* `cached_tokens`, so cost =
//!   (input − cached) × input price + cached × cached-input price + output ×
//!   output price (<https://platform.openai.com/docs/guides/prompt-caching>).
//! - Anthropic: `input_tokens` *excludes* the cache, which is billed apart:
//!   cache reads at 0.1× and cache writes at 1.25× the input price (5-minute
//!   TTL) (<https://docs.anthropic.com/en/docs/build-with-claude/prompt-caching>).
//! - `ollama`, `echo` and `exec` cost nothing unless priced in the config.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::{ProviderError, ProviderKind, ProviderRequest, ProviderResponse};

pub use crate::settings::Price;

/// Anthropic's cache-write price relative to input (5-minute TTL).
pub const ANTHROPIC_CACHE_WRITE: f64 = 1.25;
/// Anthropic's cache-read price relative to input.
pub const ANTHROPIC_CACHE_READ: f64 = 0.1;

/// Built-in prices: (model name prefix, input, output, cached input), USD per
/// million tokens, standard (not batch) tier.
///
/// Checked 2025-11 against <https://openai.com/api/pricing/> and
/// <https://platform.openai.com/docs/pricing>, and
/// <https://docs.anthropic.com/en/docs/about-claude/pricing>. Prices change:
/// override them in `promptgate.toml` (`[prices."MODEL"]`) or per provider
/// (`config.cost`). A dated model name (`gpt-4o-2024-08-06`) uses the longest
/// listed prefix.
pub const PRICES: &[(&str, f64, f64, f64)] = &[
    // OpenAI
    ("gpt-5", 1.25, 10.00, 0.125),
    ("gpt-5-mini", 0.25, 2.00, 0.025),
    ("gpt-5-nano", 0.05, 0.40, 0.005),
    ("gpt-4.1", 2.00, 8.00, 0.50),
    ("gpt-4.1-mini", 0.40, 1.60, 0.10),
    ("gpt-4.1-nano", 0.10, 0.40, 0.025),
    ("gpt-4o", 2.50, 10.00, 1.25),
    ("gpt-4o-mini", 0.15, 0.60, 0.075),
    ("o3", 2.00, 8.00, 0.50),
    ("o3-mini", 1.10, 4.40, 0.55),
    ("o4-mini", 1.10, 4.40, 0.275),
    ("o1", 15.00, 60.00, 7.50),
    ("text-embedding-3-small", 0.02, 0.0, 0.02),
    ("text-embedding-3-large", 0.13, 0.0, 0.13),
    // Anthropic (cached input = 0.1 × input)
    ("claude-opus-4-5", 5.00, 25.00, 0.50),
    ("claude-opus-4-1", 15.00, 75.00, 1.50),
    ("claude-opus-4", 15.00, 75.00, 1.50),
    ("claude-sonnet-4-5", 3.00, 15.00, 0.30),
    ("claude-sonnet-4", 3.00, 15.00, 0.30),
    ("claude-3-7-sonnet", 3.00, 15.00, 0.30),
    ("claude-haiku-4-5", 1.00, 5.00, 0.10),
    ("claude-3-5-haiku", 0.80, 4.00, 0.08),
    ("claude-3-haiku", 0.25, 1.25, 0.03),
];

/// The built-in price of `model`: the entry with the longest name that is
/// `model` or a prefix of it followed by `-` (a dated snapshot).
pub fn builtin(model: &str) -> Option<Price> {
    PRICES
        .iter()
        .filter(|(name, ..)| model == *name || model.strip_prefix(name).is_some_and(|rest| rest.starts_with('-')))
        .max_by_key(|(name, ..)| name.len())
        .map(|&(_, input, output, cached)| Price {
            input,
            output,
            cached_input: Some(cached),
        })
}

/// The price table of a run: the built-in prices under the project's overrides.
#[derive(Debug, Clone, Default)]
pub struct PriceTable {
    /// `[prices."MODEL"]` from promptgate.toml.
    pub overrides: BTreeMap<String, Price>,
}

impl PriceTable {
    /// The price of `model`: the provider's own `config.cost`, else the
    /// project override, else the built-in table.
    pub fn price(&self, model: &str, provider_override: Option<Price>) -> Option<Price> {
        provider_override
            .or_else(|| self.overrides.get(model).copied())
            .or_else(|| builtin(model))
    }

    /// The cost of `response` in USD, when the model has a price and the
    /// provider reported token counts.
    pub fn cost(
        &self,
        provider_id: &str,
        model: &str,
        over: Option<Price>,
        response: &ProviderResponse,
    ) -> Option<f64> {
        let price = self.price(model, over)?;
        let kind = ProviderKind::parse(provider_id).ok()?;
        let t = &response.tokens;
        if t.input.is_none() && t.output.is_none() {
            return None;
        }
        let input = t.input.unwrap_or(0) as f64;
        let output = t.output.unwrap_or(0) as f64;
        let cached = t.cached_input.unwrap_or(0) as f64;
        let per_token = |p: f64| p / 1_000_000.0;
        let usd = match kind {
            ProviderKind::AnthropicMessages { .. } => {
                let read = price.cached_input.unwrap_or(price.input * ANTHROPIC_CACHE_READ);
                let write = response.cache_write_tokens.unwrap_or(0) as f64;
                input * per_token(price.input)
                    + cached * per_token(read)
                    + write * per_token(price.input * ANTHROPIC_CACHE_WRITE)
                    + output * per_token(price.output)
            }
            _ => {
                let cached = cached.min(input);
                let read = price.cached_input.unwrap_or(price.input);
                (input - cached) * per_token(price.input) + cached * per_token(read) + output * per_token(price.output)
            }
        };
        Some(usd)
    }
}

/// Output tokens assumed for a call before any call of the run has answered
/// (and the request sets no token limit).
pub const DEFAULT_OUTPUT_ESTIMATE: u64 = 256;

/// `--max-cost USD`: a budget for the calls of one run.
///
/// Before each call its cost is estimated (input characters / 4, plus the
/// request's token limit, else the mean output of the run's calls so far,
/// else [`DEFAULT_OUTPUT_ESTIMATE`] tokens) and reserved; when the spent and
/// reserved amounts plus the estimate would pass the budget, the call is not
/// made ([`ProviderError::OverBudget`]) and neither is any later one. After
/// the call the reservation is replaced by the real cost. A run with a
/// budget has a price for every model it pays for (the runner's `require_prices`);
/// calls of the exempt providers are not counted.
#[derive(Debug)]
pub struct Budget {
    limit_usd: f64,
    state: Mutex<BudgetState>,
}

#[derive(Debug, Default)]
struct BudgetState {
    /// Spent plus reserved, USD.
    committed: f64,
    output_tokens: u64,
    answered: u64,
    exhausted: bool,
}

impl Budget {
    /// A budget of `limit_usd` USD.
    pub fn new(limit_usd: f64) -> Self {
        Budget {
            limit_usd,
            state: Mutex::new(BudgetState::default()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, BudgetState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// USD spent (and reserved by calls in flight).
    pub fn spent(&self) -> f64 {
        self.state().committed
    }

    /// Reserves the estimated cost of `request`; returns the estimate (USD).
    ///
    /// # Errors
    /// [`ProviderError::OverBudget`] when the budget would be passed, or an
    /// earlier call already stopped at it.
    pub fn reserve(
        &self,
        prices: &PriceTable,
        provider_id: &str,
        request: &ProviderRequest,
        over: Option<Price>,
    ) -> Result<f64, ProviderError> {
        let mut st = self.state();
        let output = request
            .settings
            .max_tokens
            .or(request.settings.max_completion_tokens)
            .map(u64::from)
            .unwrap_or_else(|| {
                if st.answered > 0 {
                    st.output_tokens.div_ceil(st.answered)
                } else {
                    DEFAULT_OUTPUT_ESTIMATE
                }
            });
        let input: usize = request.messages.iter().map(|m| m.content.len()).sum();
        let guess = ProviderResponse {
            tokens: crate::provider::TokenUsage {
                input: Some(input.div_ceil(4) as u64),
                output: Some(output),
                cached_input: None,
            },
            ..Default::default()
        };
        let estimate = prices.cost(provider_id, &request.model, over, &guess).unwrap_or(0.0);
        if st.exhausted || st.committed + estimate > self.limit_usd {
            st.exhausted = true;
            return Err(ProviderError::OverBudget {
                budget_usd: self.limit_usd,
                spent_usd: st.committed,
            });
        }
        st.committed += estimate;
        Ok(estimate)
    }

    /// Replaces the reservation `estimate` by the cost of `response` (none
    /// when the call failed: errors are not billed).
    pub fn settle(&self, estimate: f64, response: Option<&ProviderResponse>) {
        let mut st = self.state();
        st.committed -= estimate;
        if let Some(r) = response {
            st.committed += r.cost_usd.unwrap_or(0.0);
            st.output_tokens += r.tokens.output.unwrap_or(0);
            st.answered += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::TokenUsage;

    fn response(input: u64, output: u64, cached: Option<u64>, write: Option<u64>) -> ProviderResponse {
        ProviderResponse {
            tokens: TokenUsage {
                input: Some(input),
                output: Some(output),
                cached_input: cached,
            },
            cache_write_tokens: write,
            ..Default::default()
        }
    }

    #[test]
    fn the_budget_stops_before_the_call_that_would_pass_it() {
        let mut prices = PriceTable::default();
        // $1 per token in and out: a request of 4 characters with
        // max_tokens 1 is estimated at 2 USD.
        prices.overrides.insert(
            "m".into(),
            Price {
                input: 1e6,
                output: 1e6,
                cached_input: None,
            },
        );
        let request = ProviderRequest {
            model: "m".into(),
            messages: vec![crate::provider::Message::new("user", "abcd")],
            settings: crate::provider::ModelSettings {
                max_tokens: Some(1),
                ..Default::default()
            },
        };
        let budget = Budget::new(5.0);
        let e1 = budget.reserve(&prices, "openai:chat:m", &request, None).unwrap();
        assert_eq!(e1, 2.0);
        budget.settle(e1, Some(&response(1, 1, None, None).with_cost(2.0)));
        let e2 = budget.reserve(&prices, "openai:chat:m", &request, None).unwrap();
        budget.settle(e2, Some(&response(1, 1, None, None).with_cost(2.0)));
        assert_eq!(budget.spent(), 4.0);
        assert!(matches!(
            budget.reserve(&prices, "openai:chat:m", &request, None),
            Err(ProviderError::OverBudget { .. })
        ));
        // Once stopped, it stays stopped (even for a cheaper call).
        let mut cheap = request.clone();
        cheap.messages[0].content.clear();
        assert!(budget.reserve(&prices, "openai:chat:m", &cheap, None).is_err());
    }

    trait WithCost {
        fn with_cost(self, usd: f64) -> Self;
    }
    impl WithCost for ProviderResponse {
        fn with_cost(mut self, usd: f64) -> Self {
            self.cost_usd = Some(usd);
            self
        }
    }

    #[test]
    fn dated_models_use_the_longest_prefix() {
        assert_eq!(builtin("gpt-4o-mini-2024-07-18").unwrap().input, 0.15);
        assert_eq!(builtin("gpt-4o-2024-08-06").unwrap().input, 2.50);
        assert_eq!(builtin("claude-sonnet-4-5-20250929").unwrap().output, 15.0);
        assert!(builtin("gpt-4oops").is_none());
        assert_eq!(builtin("text-embedding-3-small").unwrap().input, 0.02);
        assert!(builtin("llama3.2").is_none());
    }

    #[test]
    fn openai_cached_tokens_are_part_of_the_input() {
        let t = PriceTable::default();
        // 1M input of which 400k cached, 100k output, gpt-4o-mini.
        let usd = t
            .cost(
                "openai:chat:gpt-4o-mini",
                "gpt-4o-mini",
                None,
                &response(1_000_000, 100_000, Some(400_000), None),
            )
            .unwrap();
        let expected = 0.6 * 0.15 + 0.4 * 0.075 + 0.1 * 0.60;
        assert!((usd - expected).abs() < 1e-12, "{usd} vs {expected}");
    }

    #[test]
    fn anthropic_cache_writes_and_reads_use_their_multipliers() {
        let t = PriceTable::default();
        let usd = t
            .cost(
                "anthropic:messages:claude-sonnet-4-5",
                "claude-sonnet-4-5",
                None,
                &response(1_000_000, 1_000_000, Some(1_000_000), Some(1_000_000)),
            )
            .unwrap();
        // input 3 + read 0.3 + write 3.75 + output 15
        assert!((usd - 22.05).abs() < 1e-9, "{usd}");
    }

    #[test]
    fn overrides_win_and_unknown_models_have_no_cost() {
        let mut t = PriceTable::default();
        assert!(t
            .cost("openai:chat:mine", "mine", None, &response(10, 10, None, None))
            .is_none());
        t.overrides.insert(
            "mine".into(),
            Price {
                input: 1.0,
                output: 2.0,
                cached_input: None,
            },
        );
        let usd = t.cost("openai:chat:mine", "mine", None, &response(1_000_000, 0, None, None));
        assert_eq!(usd, Some(1.0));
        let over = Price {
            input: 10.0,
            output: 0.0,
            cached_input: None,
        };
        assert_eq!(
            t.cost(
                "openai:chat:mine",
                "mine",
                Some(over),
                &response(1_000_000, 0, None, None)
            ),
            Some(10.0)
        );
    }
}
