//! Parsing a grader's reply: its first JSON object (prose and code fences
//! around it are ignored), then typed fields. What is wrong with a reply is a
//! [`ReplyError`]; the caller asks again once with it quoted
//! ([`ask`](super::client::ask)).

use serde_json::{Map, Value};

use super::metrics::factuality::CATEGORIES;
use crate::assertion::display_value;

/// What makes a grader's reply unusable. The message is shown to the grader
/// when it is asked again, and in the assertion's error.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReplyError {
    /// No `{` in the reply starts a valid JSON object.
    #[error("the reply contains no JSON object")]
    NoJsonObject,
    /// A required field is absent.
    #[error("the reply has no `{key}` field")]
    MissingField {
        /// The field.
        key: String,
    },
    /// A required list is absent or not a list (`verdicts`, `relevant`).
    #[error("the reply has no `{key}` list")]
    MissingList {
        /// The field.
        key: &'static str,
    },
    /// A field that should be a boolean (or yes/no text) is not.
    #[error("`{key}` is {found}, not a boolean")]
    NotABoolean {
        /// The field.
        key: String,
        /// The value as shown: a string with Rust escaping, else JSON.
        found: String,
    },
    /// A numeric field lies outside its range.
    #[error("`{key}` is {value}, outside [{lo}, {hi}]")]
    OutOfRange {
        /// The field.
        key: String,
        /// The number found.
        value: f64,
        /// Lowest accepted value.
        lo: f64,
        /// Highest accepted value.
        hi: f64,
    },
    /// A numeric field is not a number (nor numeric text).
    #[error("`{key}` is {found}, not a number")]
    NotANumber {
        /// The field.
        key: String,
        /// The value found.
        found: Value,
    },
    /// A list of texts has a blank entry.
    #[error("`{key}` has a blank entry")]
    BlankEntry {
        /// The field.
        key: String,
    },
    /// A list of texts has an entry that is not text.
    #[error("`{key}` has {found}, not a string")]
    NotAString {
        /// The field.
        key: String,
        /// The entry found.
        found: Value,
    },
    /// A field that should be a list is something else.
    #[error("`{key}` is {found}, not a list")]
    NotAList {
        /// The field.
        key: String,
        /// The value found.
        found: Value,
    },
    /// `answer-relevance`: the grader generated no question.
    #[error("`questions` is empty")]
    NoQuestions,
    /// Claim verification: the number of verdicts is not the number of claims.
    #[error("{found} verdicts for {expected} claims")]
    VerdictCount {
        /// Verdicts in the reply.
        found: usize,
        /// Claims sent.
        expected: usize,
    },
    /// Claim verification: a verdict is not a JSON object.
    #[error("a verdict is not an object")]
    VerdictNotObject,
    /// `context-relevance`: an entry of `relevant` is not a sentence number.
    #[error("`relevant` has {found}, not a sentence number")]
    NotASentenceNumber {
        /// The entry found.
        found: Value,
    },
    /// `context-relevance`: a sentence number beyond the sentences sent.
    #[error("`relevant` names sentence {index}, but there are {count}")]
    NoSuchSentence {
        /// The 1-based number given (0 is also out of range).
        index: u64,
        /// Sentences sent.
        count: usize,
    },
    /// `factuality`: the category is none of the five.
    #[error("`category` is {found:?}, not one of {}", CATEGORIES.join(", "))]
    UnknownCategory {
        /// The category found, normalized (lowercase, `-` for `_` and spaces).
        found: String,
    },
}

/// The first JSON object in `text`: prose, code fences and anything after the
/// object are ignored. `None` when no `{` starts a valid object.
pub fn first_json_object(text: &str) -> Option<Map<String, Value>> {
    for (i, _) in text.match_indices('{').take(64) {
        let mut stream = serde_json::Deserializer::from_str(&text[i..]).into_iter::<Value>();
        if let Some(Ok(Value::Object(m))) = stream.next() {
            return Some(m);
        }
    }
    None
}

/// A boolean field: `true`/`false`, or the strings yes/no, true/false,
/// pass/fail, y/n (any case).
pub(crate) fn bool_field(obj: &Map<String, Value>, key: &str) -> Result<bool, ReplyError> {
    match obj.get(key) {
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "yes" | "y" | "true" | "pass" | "passed" => Ok(true),
            "no" | "n" | "false" | "fail" | "failed" => Ok(false),
            _ => Err(ReplyError::NotABoolean {
                key: key.to_string(),
                found: format!("{s:?}"),
            }),
        },
        Some(other) => Err(ReplyError::NotABoolean {
            key: key.to_string(),
            found: other.to_string(),
        }),
        None => Err(missing(key)),
    }
}

/// A number field (or a numeric string) within `[lo, hi]`.
pub(crate) fn number_field(obj: &Map<String, Value>, key: &str, lo: f64, hi: f64) -> Result<f64, ReplyError> {
    let (n, found) = match obj.get(key) {
        Some(v @ Value::Number(n)) => (n.as_f64(), v),
        Some(v @ Value::String(s)) => (s.trim().parse::<f64>().ok(), v),
        Some(v) => (None, v),
        None => return Err(missing(key)),
    };
    match n {
        Some(x) if x.is_finite() && (lo..=hi).contains(&x) => Ok(x),
        Some(value) => Err(ReplyError::OutOfRange {
            key: key.to_string(),
            value,
            lo,
            hi,
        }),
        None => Err(ReplyError::NotANumber {
            key: key.to_string(),
            found: found.clone(),
        }),
    }
}

/// A field as text (empty when absent).
pub(crate) fn string_field(obj: &Map<String, Value>, key: &str) -> String {
    obj.get(key).map(display_value).unwrap_or_default()
}

/// A list of non-blank texts, each trimmed.
pub(crate) fn string_list(obj: &Map<String, Value>, key: &str) -> Result<Vec<String>, ReplyError> {
    match obj.get(key) {
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| match i {
                Value::String(s) if !s.trim().is_empty() => Ok(s.trim().to_string()),
                Value::String(_) => Err(ReplyError::BlankEntry { key: key.to_string() }),
                other => Err(ReplyError::NotAString {
                    key: key.to_string(),
                    found: other.clone(),
                }),
            })
            .collect(),
        Some(other) => Err(ReplyError::NotAList {
            key: key.to_string(),
            found: other.clone(),
        }),
        None => Err(missing(key)),
    }
}

fn missing(key: &str) -> ReplyError {
    ReplyError::MissingField { key: key.to_string() }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn first_json_object_skips_prose_and_fences() {
        let reply = "Sure! Here is my grade:\n```json\n{\"pass\": true, \"score\": 0.9, \"reason\": \"ok {fine}\"}\n```\nHope it helps {not json}";
        let o = first_json_object(reply).unwrap();
        assert_eq!(o["score"], json!(0.9));
        assert!(first_json_object("no json here").is_none());
        assert!(first_json_object("{broken").is_none());
        // A stray brace before the object is skipped.
        let o = first_json_object("I think {maybe} {\"pass\": \"yes\"}").unwrap();
        assert_eq!(bool_field(&o, "pass"), Ok(true));
    }

    #[test]
    fn fields_are_checked() {
        let o = first_json_object(r#"{"pass": "No", "score": "0.25", "bad": 1.5}"#).unwrap();
        assert_eq!(bool_field(&o, "pass"), Ok(false));
        assert_eq!(number_field(&o, "score", 0.0, 1.0), Ok(0.25));
        assert!(number_field(&o, "bad", 0.0, 1.0)
            .unwrap_err()
            .to_string()
            .contains("outside"));
        assert!(number_field(&o, "missing", 0.0, 1.0)
            .unwrap_err()
            .to_string()
            .contains("no `missing`"));
        assert!(bool_field(&o, "score").is_err());
    }

    #[test]
    fn messages_read_as_before() {
        let o = first_json_object(r#"{"pass": "maybe", "n": true, "list": 3, "items": ["a", 2, " "]}"#).unwrap();
        assert_eq!(
            bool_field(&o, "pass").unwrap_err().to_string(),
            r#"`pass` is "maybe", not a boolean"#
        );
        assert_eq!(
            bool_field(&o, "list").unwrap_err().to_string(),
            "`list` is 3, not a boolean"
        );
        assert_eq!(
            number_field(&o, "n", 0.0, 1.0).unwrap_err().to_string(),
            "`n` is true, not a number"
        );
        assert_eq!(
            string_list(&o, "list").unwrap_err().to_string(),
            "`list` is 3, not a list"
        );
        assert_eq!(
            string_list(&o, "items").unwrap_err().to_string(),
            "`items` has 2, not a string"
        );
        assert_eq!(
            ReplyError::UnknownCategory { found: "maybe".into() }.to_string(),
            r#"`category` is "maybe", not one of subset, superset, same, disagrees, differs-but-consistent"#
        );
    }
}
