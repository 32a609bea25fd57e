//! Grader calls of model-graded assertions, made through the same layers
//! (recordings, cache, budget, call log) and limits as a case's own call.

use super::call::call_provider;
use super::plan::{GraderSlots, ProviderSlot};
use super::RunContext;
use crate::assertion::{GraderBackend, GraderError};
use crate::provider::layers::{CallResponse, CallSite};
use crate::provider::{Message, ModelSettings, ProviderError, ProviderRequest};
use crate::result::GraderCall;

/// The runner's side of model-graded assertions: grader calls go through
/// [`call_provider`] like every other call (recordings, concurrency limits), and each
/// one is kept, with its latency and tokens, for the report.
pub(super) struct CaseGrader<'a> {
    slots: &'a GraderSlots,
    ctx: &'a RunContext,
    /// The case's suite and prompt (call log), and its repeat index (cache key).
    site: CallSite<'a>,
    calls: std::sync::Mutex<Vec<GraderCall>>,
}

impl<'a> CaseGrader<'a> {
    /// A grader for one assertion of a case, with its grader `slots`, called from `site`.
    pub(super) fn new(slots: &'a GraderSlots, ctx: &'a RunContext, site: CallSite<'a>) -> Self {
        CaseGrader {
            slots,
            ctx,
            site,
            calls: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// The calls made, in order.
    pub(super) fn into_calls(self) -> Vec<GraderCall> {
        self.calls.into_inner().unwrap_or_else(|e| e.into_inner())
    }

    async fn send(
        &self,
        slot: &ProviderSlot,
        step: &str,
        messages: Vec<Message>,
        defaults: ModelSettings,
    ) -> Result<String, GraderError> {
        let request = ProviderRequest {
            model: slot.model.clone().unwrap_or_default(),
            messages,
            // The grader's own config wins over the grading defaults.
            settings: defaults.overlay(&slot.spec.config.settings()),
        };
        // Holding the grader's place, the case must keep its `-j` place
        // through backoffs (see runner::slot): pin before taking it.
        let _pin = slot.limit.is_some().then(crate::provider::slot::pin);
        let _permit = match &slot.limit {
            Some(sem) => sem.clone().acquire_owned().await.ok(),
            None => None,
        };
        let outcome = call_provider(&slot.spec.id, slot.provider.as_ref(), self.ctx, &request, &self.site).await;
        let mut record = GraderCall {
            step: step.to_string(),
            provider: slot.spec.id.clone(),
            latency_ms: None,
            tokens: Default::default(),
            replayed: false,
            cached: false,
            attempts: 0,
            cost_usd: None,
            error: None,
        };
        let result = match outcome {
            Ok(CallResponse { response: r, replayed }) => {
                record.latency_ms = Some(r.latency_ms);
                record.tokens = r.tokens;
                record.replayed = replayed;
                record.cached = r.from_cache;
                record.attempts = r.attempts;
                record.cost_usd = r.cost_usd;
                Ok(r.output)
            }
            Err(ProviderError::OverBudget { budget_usd, spent_usd }) => {
                let refused = GraderError::OverBudget {
                    grader: slot.spec.id.clone(),
                    step: step.to_string(),
                    budget_usd,
                    spent_usd,
                };
                record.error = Some(refused.to_string());
                Err(refused)
            }
            Err(e) => {
                record.error = Some(e.to_string());
                Err(GraderError::Call {
                    grader: slot.spec.id.clone(),
                    step: step.to_string(),
                    source: Box::new(e),
                })
            }
        };
        if let Ok(mut calls) = self.calls.lock() {
            calls.push(record);
        }
        result
    }
}

#[async_trait::async_trait]
impl GraderBackend for CaseGrader<'_> {
    async fn complete(&self, step: &str, messages: Vec<Message>) -> Result<String, GraderError> {
        let slot = self.slots.text.as_ref().ok_or(GraderError::NoTextGrader)?;
        // JSON mode where the provider supports it (OpenAI-compatible; Ollama
        // maps it to `format`; Anthropic ignores it). OpenAI rejects JSON mode
        // unless the word "JSON" appears in the messages: a custom
        // `rubricPrompt` without it is sent without JSON mode.
        let mentions_json = messages.iter().any(|m| m.content.to_ascii_lowercase().contains("json"));
        let defaults = ModelSettings {
            temperature: Some(0.0),
            response_format: mentions_json.then(|| serde_json::json!({"type": "json_object"})),
            ..Default::default()
        };
        self.send(slot, step, messages, defaults).await
    }

    async fn embed(&self, step: &str, text: &str) -> Result<Vec<f64>, GraderError> {
        let slot = self.slots.embedding.as_ref().ok_or(GraderError::NoEmbeddingGrader)?;
        let out = self
            .send(slot, step, vec![Message::new("user", text)], ModelSettings::default())
            .await?;
        serde_json::from_str::<Vec<f64>>(&out).map_err(|source| GraderError::NotAVector {
            grader: slot.spec.id.clone(),
            source,
        })
    }
}
