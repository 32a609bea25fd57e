//! `answer-relevance` (RAGAS): the grader writes questions the answer
//! answers (and says whether it is noncommittal); score = mean cosine
//! similarity of their embeddings to the user's question's (0 when
//! noncommittal).

use serde_json::json;

use super::{relation, Grade};
use crate::assertion::graded::client::ask;
use crate::assertion::graded::prompt::{messages, prompt_vars, question, ANSWER_RELEVANCE};
use crate::assertion::graded::reply::{bool_field, string_list, ReplyError};
use crate::assertion::graded::{cosine, GradeInput, GraderBackend, GraderError};
use crate::assertion::Assertion;

/// Number of questions `answer-relevance` asks the grader for (RAGAS uses 3).
pub const ANSWER_RELEVANCE_QUESTIONS: usize = 3;

/// Grades the output (un-negated).
pub(crate) async fn grade(
    a: &Assertion,
    input: GradeInput<'_>,
    threshold: f64,
    backend: &dyn GraderBackend,
) -> Result<Grade, GraderError> {
    let Some(q) = question(input.vars) else {
        return Err(GraderError::MissingQuestion {
            assertion: "answer-relevance".into(),
        });
    };
    let vars = prompt_vars(&input, a, json!({ "n": ANSWER_RELEVANCE_QUESTIONS }));
    let msgs = messages(a, ANSWER_RELEVANCE, &vars, true)?;
    let ((questions, noncommittal), raw) = ask(backend, "generate-questions", msgs, |o| {
        let qs = string_list(o, "questions")?;
        if qs.is_empty() {
            return Err(ReplyError::NoQuestions);
        }
        let nc = match o.get("noncommittal") {
            None => false,
            Some(_) => bool_field(o, "noncommittal")?,
        };
        Ok((qs, nc))
    })
    .await?;
    if noncommittal {
        return Ok(Grade {
            score: 0.0,
            pass: false,
            reason: "the grader found the answer noncommittal: relevance 0".into(),
            claims: Vec::new(),
            raw: Some(raw),
        });
    }
    let original = backend.embed("embed-question", &q).await?;
    let mut sims = Vec::with_capacity(questions.len());
    for g in &questions {
        let e = backend.embed("embed-generated-question", g).await?;
        sims.push(cosine(&original, &e)?.max(0.0));
    }
    let score = sims.iter().sum::<f64>() / sims.len() as f64;
    let pass = score >= threshold;
    let cmp = relation(pass);
    Ok(Grade {
        score,
        pass,
        reason: format!(
            "mean similarity of the question to {} questions the answer answers: {score:.2} {cmp} threshold {threshold} ({})",
            sims.len(),
            questions.join(" | ")
        ),
        claims: Vec::new(),
        raw: Some(raw),
    })
}
