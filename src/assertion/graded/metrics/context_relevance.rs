//! `context-relevance` (RAGAS): the share of the context's sentences that the
//! question needs.

use serde_json::{json, Value};

use super::{relation, require_context_and_question, Grade};
use crate::assertion::graded::client::ask;
use crate::assertion::graded::prompt::{context, messages, prompt_vars, CONTEXT_RELEVANCE};
use crate::assertion::graded::reply::{string_field, ReplyError};
use crate::assertion::graded::{sentences, GradeInput, GraderBackend, GraderError};
use crate::assertion::Assertion;

/// Grades the output (un-negated).
pub(crate) async fn grade(
    a: &Assertion,
    input: GradeInput<'_>,
    threshold: f64,
    backend: &dyn GraderBackend,
) -> Result<Grade, GraderError> {
    require_context_and_question(a, &input)?;
    let ctx = context(a, input.vars).unwrap_or_default();
    let sents = sentences(&ctx);
    if sents.is_empty() {
        return Ok(Grade {
            score: 0.0,
            pass: threshold <= 0.0,
            reason: "the context is empty: no sentence is relevant".into(),
            claims: Vec::new(),
            raw: None,
        });
    }
    let vars = prompt_vars(&input, a, json!({ "sentences": sents }));
    let msgs = messages(a, CONTEXT_RELEVANCE, &vars, true)?;
    let n = sents.len();
    let ((relevant, why), raw) = ask(backend, "grade", msgs, |o| {
        let Some(Value::Array(items)) = o.get("relevant") else {
            return Err(ReplyError::MissingList { key: "relevant" });
        };
        let mut idx = std::collections::BTreeSet::new();
        for i in items {
            let k = i
                .as_u64()
                .or_else(|| i.as_str().and_then(|s| s.trim().parse().ok()))
                .ok_or_else(|| ReplyError::NotASentenceNumber { found: i.clone() })?;
            if k == 0 || k as usize > n {
                return Err(ReplyError::NoSuchSentence { index: k, count: n });
            }
            idx.insert(k as usize);
        }
        Ok((idx, string_field(o, "reason")))
    })
    .await?;
    let score = relevant.len() as f64 / n as f64;
    let pass = score >= threshold;
    let cmp = relation(pass);
    Ok(Grade {
        score,
        pass,
        reason: format!(
            "{}/{n} context sentences relevant to the question: {score:.2} {cmp} threshold {threshold}{}",
            relevant.len(),
            if why.is_empty() {
                String::new()
            } else {
                format!(": {why}")
            }
        ),
        claims: Vec::new(),
        raw: Some(raw),
    })
}
