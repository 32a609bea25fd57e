//! The arithmetic of the metrics: sentence splitting (the unit that
//! `context-recall` and `context-relevance` count) and cosine similarity of
//! embeddings.

use super::EmbeddingError;

/// Splits text into sentences: at `.`, `!` or `?` followed by whitespace, and
/// at line breaks; blank pieces are dropped. Good enough for grading prompts
/// (the grader sees each piece numbered), not a linguistic tokenizer.
pub fn sentences(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut start = 0;
        let chars: Vec<(usize, char)> = line.char_indices().collect();
        for (k, (i, c)) in chars.iter().enumerate() {
            let next_is_space = chars.get(k + 1).is_none_or(|(_, n)| n.is_whitespace());
            if matches!(c, '.' | '!' | '?') && next_is_space {
                let end = i + c.len_utf8();
                out.push(line[start..end].to_string());
                start = end;
            }
        }
        out.push(line[start..].to_string());
    }
    out.into_iter()
        .map(|s| s.trim().trim_start_matches(['-', '*', '#', '>']).trim().to_string())
        .filter(|s| s.chars().any(char::is_alphanumeric))
        .collect()
}

/// Cosine similarity of two vectors, in [−1, 1].
///
/// # Errors
/// [`EmbeddingError`]: vectors of different lengths, or a zero vector.
pub fn cosine(a: &[f64], b: &[f64]) -> Result<f64, EmbeddingError> {
    if a.len() != b.len() {
        return Err(EmbeddingError::LengthMismatch {
            left: a.len(),
            right: b.len(),
        });
    }
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    let nb = b.iter().map(|x| x * x).sum::<f64>().sqrt();
    if na == 0.0 || nb == 0.0 {
        return Err(EmbeddingError::ZeroVector);
    }
    Ok((dot / (na * nb)).clamp(-1.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences_split_at_ends_and_lines() {
        let s = sentences("# Title\nThe pool has a cache. It is per core! Version 2.1 is out?\n\n- item one");
        assert_eq!(
            s,
            vec![
                "Title",
                "The pool has a cache.",
                "It is per core!",
                "Version 2.1 is out?",
                "item one"
            ]
        );
        assert!(sentences("  \n ... \n").is_empty());
    }

    #[test]
    fn cosine_of_known_vectors() {
        assert_eq!(cosine(&[1.0, 0.0], &[1.0, 0.0]), Ok(1.0));
        assert_eq!(cosine(&[1.0, 0.0], &[0.0, 1.0]), Ok(0.0));
        let c = cosine(&[1.0, 2.0, 3.0], &[2.0, 4.0, 6.5]).unwrap();
        assert!((c - 0.999_283).abs() < 1e-6, "{c}");
        assert!(cosine(&[1.0], &[1.0, 2.0]).is_err());
        assert!(cosine(&[0.0, 0.0], &[1.0, 2.0]).is_err());
    }
}
