//! `similar`: the highest cosine similarity of the output's embedding to a
//! reference text's (the value, or each of a list).

use serde_json::Value;

use super::{relation, Grade};
use crate::assertion::display_value;
use crate::assertion::graded::{cosine, GradeInput, GraderBackend, GraderError};

/// Grades the output (un-negated).
pub(crate) async fn grade(
    input: GradeInput<'_>,
    threshold: f64,
    backend: &dyn GraderBackend,
) -> Result<Grade, GraderError> {
    let refs: Vec<String> = match input.value {
        Some(Value::Array(items)) => items.iter().map(display_value).collect(),
        Some(v) => vec![display_value(v)],
        None => Vec::new(),
    };
    if refs.is_empty() {
        return Err(GraderError::NoSimilarReference);
    }
    let out = backend.embed("embed-output", input.output).await?;
    let mut best = f64::NEG_INFINITY;
    for r in &refs {
        let e = backend.embed("embed-reference", r).await?;
        best = best.max(cosine(&out, &e)?);
    }
    let score = best.clamp(0.0, 1.0);
    let pass = score >= threshold;
    let cmp = relation(pass);
    Ok(Grade {
        score,
        pass,
        reason: format!("cosine similarity {best:.4} {cmp} threshold {threshold}"),
        claims: Vec::new(),
        raw: None,
    })
}
