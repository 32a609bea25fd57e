//! Text assertions: `equals` (string values), `contains` and its `i`/`-any`/`-all`
//! variants, `starts-with`, `regex`, `levenshtein`, `latency`, `cost` and
//! `word-count`, with promptfoo's semantics.
//!
//! Every check returns the un-negated [`Evaluation`]; `Assertion::evaluate` applies
//! the `not-` inversion. Reasons describe what was found and quote values with
//! [`quote`], so a failure report never dumps a whole output.

use std::borrow::Cow;

use serde_json::Value;

use crate::assertion::error::AssertionError;
use crate::assertion::{display_value, AssertionType, CompiledValue, EvalContext, Evaluation};

/// Longest quoted excerpt, in characters, that a reason shows.
pub(crate) const QUOTE_CHARS: usize = 80;

/// Most list items a `contains-any` / `contains-all` reason names.
const LIST_ITEMS_SHOWN: usize = 8;

/// Default maximum edit distance for `levenshtein`.
const DEFAULT_LEVENSHTEIN_THRESHOLD: f64 = 5.0;

/// Evaluates the text-family assertions (un-negated).
///
/// `value` is the rendered value, `threshold` the assertion's own threshold,
/// `compiled` the precompiled regex (if any).
///
/// # Errors
/// When the assertion cannot be evaluated: a value of the wrong shape, an
/// invalid regex, an empty list, or a latency / cost that was not measured.
pub(crate) fn evaluate(
    kind: AssertionType,
    value: Option<&Value>,
    threshold: Option<f64>,
    compiled: &CompiledValue,
    ctx: &EvalContext<'_>,
) -> Result<Evaluation, AssertionError> {
    let output = ctx.output;
    match kind {
        AssertionType::Equals => equals(&text_value(kind, value)?, output),
        AssertionType::Contains => Ok(contains(output, &text_value(kind, value)?, false)),
        AssertionType::IContains => Ok(contains(output, &text_value(kind, value)?, true)),
        AssertionType::ContainsAny => Ok(contains_any(output, &list_value(kind, value)?, false)),
        AssertionType::IContainsAny => Ok(contains_any(output, &list_value(kind, value)?, true)),
        AssertionType::ContainsAll => Ok(contains_all(output, &list_value(kind, value)?, false)),
        AssertionType::IContainsAll => Ok(contains_all(output, &list_value(kind, value)?, true)),
        AssertionType::StartsWith => Ok(starts_with(output, &text_value(kind, value)?)),
        AssertionType::Regex => regex_match(output, value, compiled),
        AssertionType::Levenshtein => levenshtein(output, &text_value(kind, value)?, threshold),
        AssertionType::Latency => latency(ctx.latency_ms, threshold),
        AssertionType::Cost => cost(ctx.cost_usd, threshold),
        AssertionType::WordCount => word_count(output, value),
        AssertionType::IsJson | AssertionType::ContainsJson => {
            Err(AssertionError::WrongFamily { kind, family: "text" })
        }
        other => Err(AssertionError::ModelGraded { kind: other }),
    }
}

/// Quotes `s` with Rust's `{:?}` escaping, truncated to about 80 characters
/// (a trailing `…` marks the cut).
pub(crate) fn quote(s: &str) -> String {
    match s.char_indices().nth(QUOTE_CHARS) {
        Some((cut, _)) => format!("{:?}…", &s[..cut]),
        None => format!("{s:?}"),
    }
}

/// `s` cut to about `max_chars` characters (a trailing `…` marks the cut).
pub(crate) fn truncate(s: &str, max_chars: usize) -> Cow<'_, str> {
    match s.char_indices().nth(max_chars) {
        Some((cut, _)) => Cow::Owned(format!("{}…", &s[..cut])),
        None => Cow::Borrowed(s),
    }
}

/// A number formatted for a reason: integers without a fraction, others with
/// at most six decimals (or in scientific notation when smaller than that).
pub(crate) fn fmt_num(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        return format!("{x:.0}");
    }
    let fixed = format!("{x:.6}");
    let fixed = fixed.trim_end_matches('0').trim_end_matches('.');
    if fixed == "0" || fixed == "-0" {
        format!("{x:e}")
    } else {
        fixed.to_string()
    }
}

/// The value as text: strings as they are, numbers in their JSON form.
fn text_value<'v>(kind: AssertionType, value: Option<&'v Value>) -> Result<Cow<'v, str>, AssertionError> {
    match value {
        Some(Value::String(s)) => Ok(Cow::Borrowed(s)),
        Some(Value::Number(n)) => Ok(Cow::Owned(n.to_string())),
        Some(other) => Err(AssertionError::NotText {
            kind,
            found: json_kind(other),
        }),
        None => Err(AssertionError::NoValue { kind }),
    }
}

/// The value as a list: a JSON array of strings or numbers, or a string split
/// on commas (items trimmed, empty items ignored).
fn list_value(kind: AssertionType, value: Option<&Value>) -> Result<Vec<String>, AssertionError> {
    let items: Vec<String> = match value {
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(s) => Ok(s.clone()),
                Value::Number(n) => Ok(n.to_string()),
                other => Err(AssertionError::BadListItem {
                    kind,
                    item: i + 1,
                    found: json_kind(other),
                }),
            })
            .collect::<Result<_, _>>()?,
        Some(Value::String(s)) => s
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(str::to_string)
            .collect(),
        Some(Value::Number(n)) => vec![n.to_string()],
        Some(other) => {
            return Err(AssertionError::NotAList {
                kind,
                found: json_kind(other),
            })
        }
        None => return Err(AssertionError::NoValue { kind }),
    };
    if items.is_empty() {
        return Err(AssertionError::EmptyList { kind });
    }
    Ok(items)
}

/// "an object", "an array", ... for error messages.
pub(crate) fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn equals(expected: &str, output: &str) -> Result<Evaluation, AssertionError> {
    if output == expected {
        return Ok(Evaluation::new(true, format!("output equals {}", quote(expected))));
    }
    let diff = output
        .char_indices()
        .zip(expected.chars())
        .find(|((_, a), b)| a != b)
        .map(|((i, _), _)| i)
        .unwrap_or_else(|| output.len().min(expected.len()));
    let detail = if diff == expected.len() {
        format!(
            "the output has {} extra bytes after the expected text: {}",
            output.len() - diff,
            quote(&output[diff..])
        )
    } else if diff == output.len() {
        format!(
            "the output ends at byte {diff}, the expected text goes on with {}",
            quote(&expected[diff..])
        )
    } else {
        format!(
            "first difference at byte {diff}: expected {}, got {}",
            quote(&expected[diff..]),
            quote(&output[diff..])
        )
    };
    Ok(Evaluation::new(
        false,
        format!("output does not equal {} ({detail})", quote(expected)),
    ))
}

/// `s` lowercased, and for each char of `s` (in order) the byte offset of its
/// lowercase form in the result, so that a match in the lowercased text can
/// be mapped back to the original.
struct Lowered {
    text: String,
    /// (offset in `text`, offset in the original) for each original char.
    starts: Vec<(usize, usize)>,
    original_len: usize,
}

impl Lowered {
    fn new(s: &str) -> Self {
        let mut starts = Vec::with_capacity(s.len());
        let mut at = 0;
        for (i, c) in s.char_indices() {
            starts.push((at, i));
            at += c.to_lowercase().map(char::len_utf8).sum::<usize>();
        }
        let mut text = s.to_lowercase();
        // `str::to_lowercase` only differs from per-char lowering for the final
        // sigma, which has the same length; should that ever change, lower per
        // char so that the offsets stay right.
        if at != text.len() {
            text = s.chars().flat_map(char::to_lowercase).collect();
        }
        Lowered {
            text,
            starts,
            original_len: s.len(),
        }
    }

    /// The original span of the lowercased span `start..end`, widened to whole
    /// original chars.
    fn original(&self, start: usize, end: usize) -> (usize, usize) {
        let first = self.starts.partition_point(|&(lowered, _)| lowered <= start);
        let start = first.checked_sub(1).map_or(0, |i| self.starts[i].1);
        let last = self.starts.partition_point(|&(lowered, _)| lowered < end);
        let end = self.starts.get(last).map_or(self.original_len, |&(_, orig)| orig);
        (start, end.max(start))
    }
}

/// Where `needle` occurs in `output`: (start, end) byte offsets in `output`.
fn find(output: &str, needle: &str, ignore_case: bool) -> Option<(usize, usize)> {
    if !ignore_case {
        return output.find(needle).map(|i| (i, i + needle.len()));
    }
    let lowered = Lowered::new(output);
    find_lowered(&lowered, &needle.to_lowercase())
}

fn find_lowered(lowered: &Lowered, needle_lower: &str) -> Option<(usize, usize)> {
    let at = lowered.text.find(needle_lower)?;
    Some(lowered.original(at, at + needle_lower.len()))
}

fn contains(output: &str, needle: &str, ignore_case: bool) -> Evaluation {
    match find(output, needle, ignore_case) {
        Some((start, end)) if ignore_case && &output[start..end] != needle => Evaluation::new(
            true,
            format!(
                "output contains {} (ignoring case) as {} at byte {start}",
                quote(needle),
                quote(&output[start..end])
            ),
        ),
        Some((start, _)) => {
            let case = if ignore_case { " (ignoring case)" } else { "" };
            Evaluation::new(true, format!("output contains {}{case} at byte {start}", quote(needle)))
        }
        None => {
            let case = if ignore_case { " (ignoring case)" } else { "" };
            Evaluation::new(false, format!("output does not contain {}{case}", quote(needle)))
        }
    }
}

/// `"a", "b", "c"`, at most [`LIST_ITEMS_SHOWN`] items then "and N more".
fn quote_list<S: AsRef<str>>(items: &[S]) -> String {
    let mut shown: Vec<String> = items.iter().take(LIST_ITEMS_SHOWN).map(|s| quote(s.as_ref())).collect();
    if items.len() > LIST_ITEMS_SHOWN {
        shown.push(format!("and {} more", items.len() - LIST_ITEMS_SHOWN));
    }
    shown.join(", ")
}

/// For each item, where it occurs in `output` (if it does).
fn find_all(output: &str, items: &[String], ignore_case: bool) -> Vec<Option<(usize, usize)>> {
    if ignore_case {
        let lowered = Lowered::new(output);
        items
            .iter()
            .map(|item| find_lowered(&lowered, &item.to_lowercase()))
            .collect()
    } else {
        items.iter().map(|item| find(output, item, false)).collect()
    }
}

fn contains_any(output: &str, items: &[String], ignore_case: bool) -> Evaluation {
    let case = if ignore_case { " (ignoring case)" } else { "" };
    let found = find_all(output, items, ignore_case);
    match items.iter().zip(&found).find_map(|(item, at)| at.map(|at| (item, at))) {
        Some((item, (start, _))) => Evaluation::new(true, format!("found {}{case} at byte {start}", quote(item))),
        None => Evaluation::new(false, format!("output contains none of {}{case}", quote_list(items))),
    }
}

fn contains_all(output: &str, items: &[String], ignore_case: bool) -> Evaluation {
    let case = if ignore_case { " (ignoring case)" } else { "" };
    let found = find_all(output, items, ignore_case);
    let missing: Vec<&String> = items
        .iter()
        .zip(&found)
        .filter(|(_, at)| at.is_none())
        .map(|(item, _)| item)
        .collect();
    if missing.is_empty() {
        let what = if items.len() == 1 {
            format!("found {}{case}", quote(&items[0]))
        } else {
            format!("found all {} items{case}", items.len())
        };
        Evaluation::new(true, what)
    } else {
        Evaluation::new(
            false,
            format!(
                "output is missing {}{case} (found {} of {})",
                quote_list(&missing),
                items.len() - missing.len(),
                items.len()
            ),
        )
    }
}

fn starts_with(output: &str, prefix: &str) -> Evaluation {
    if output.starts_with(prefix) {
        return Evaluation::new(true, format!("output starts with {}", quote(prefix)));
    }
    let head_len = output
        .char_indices()
        .nth(prefix.chars().count().max(1))
        .map_or(output.len(), |(i, _)| i);
    Evaluation::new(
        false,
        format!(
            "output does not start with {} (it starts with {})",
            quote(prefix),
            quote(&output[..head_len])
        ),
    )
}

fn regex_match(output: &str, value: Option<&Value>, compiled: &CompiledValue) -> Result<Evaluation, AssertionError> {
    let owned;
    let re = match compiled {
        CompiledValue::Regex(re) => re.as_ref(),
        _ => {
            let pattern = match value {
                Some(Value::String(p)) => p,
                Some(other) => {
                    return Err(AssertionError::PatternNotText {
                        found: json_kind(other),
                    })
                }
                None => {
                    return Err(AssertionError::NoValue {
                        kind: AssertionType::Regex,
                    })
                }
            };
            owned = regex::Regex::new(pattern).map_err(|source| AssertionError::InvalidRegex { source })?;
            &owned
        }
    };
    let pattern = quote(re.as_str());
    Ok(match re.find(output) {
        Some(m) => Evaluation::new(
            true,
            format!("regex {pattern} matched {} at byte {}", quote(m.as_str()), m.start()),
        ),
        None => Evaluation::new(false, format!("regex {pattern} does not match the output")),
    })
}

/// Checks that a threshold is a finite number ≥ 0.
fn check_threshold(kind: AssertionType, threshold: f64) -> Result<f64, AssertionError> {
    if threshold.is_finite() && threshold >= 0.0 {
        Ok(threshold)
    } else {
        Err(AssertionError::NegativeThreshold { kind, threshold })
    }
}

fn levenshtein(output: &str, expected: &str, threshold: Option<f64>) -> Result<Evaluation, AssertionError> {
    let max = check_threshold(
        AssertionType::Levenshtein,
        threshold.unwrap_or(DEFAULT_LEVENSHTEIN_THRESHOLD),
    )?;
    let distance = strsim::levenshtein(output, expected);
    let pass = distance as f64 <= max;
    let op = if pass { "≤" } else { ">" };
    Ok(Evaluation::new(
        pass,
        format!(
            "edit distance to {} is {distance} {op} threshold {}",
            quote(expected),
            fmt_num(max)
        ),
    ))
}

fn latency(latency_ms: Option<u64>, threshold: Option<f64>) -> Result<Evaluation, AssertionError> {
    let max = threshold.ok_or(AssertionError::NoThreshold {
        kind: AssertionType::Latency,
        unit: "milliseconds",
    })?;
    let max = check_threshold(AssertionType::Latency, max)?;
    let ms = latency_ms.ok_or(AssertionError::LatencyUnknown)?;
    let pass = ms as f64 <= max;
    let op = if pass { "≤" } else { ">" };
    Ok(Evaluation::new(
        pass,
        format!("latency {ms} ms {op} threshold {} ms", fmt_num(max)),
    ))
}

fn cost(cost_usd: Option<f64>, threshold: Option<f64>) -> Result<Evaluation, AssertionError> {
    let max = threshold.ok_or(AssertionError::NoThreshold {
        kind: AssertionType::Cost,
        unit: "USD",
    })?;
    let max = check_threshold(AssertionType::Cost, max)?;
    let usd = cost_usd.ok_or(AssertionError::CostUnknown)?;
    if !usd.is_finite() {
        return Err(AssertionError::InvalidCost { usd });
    }
    let pass = usd <= max;
    let op = if pass { "≤" } else { ">" };
    Ok(Evaluation::new(
        pass,
        format!("cost ${} {op} threshold ${}", fmt_num(usd), fmt_num(max)),
    ))
}

/// A word count from a value: a non-negative integer, or text holding one
/// (a templated value renders to text).
fn count_value(v: &Value) -> Option<usize> {
    match v {
        Value::Number(n) => match n.as_u64() {
            Some(u) => usize::try_from(u).ok(),
            None => n
                .as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f < 1e15)
                .map(|f| f as usize),
        },
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn word_count(output: &str, value: Option<&Value>) -> Result<Evaluation, AssertionError> {
    let words = output.split_whitespace().count();
    let plural = if words == 1 { "word" } else { "words" };
    let value = value.ok_or(AssertionError::WordCountShape)?;
    if let Value::Object(map) = value {
        if let Some(key) = map.keys().find(|k| *k != "min" && *k != "max") {
            return Err(AssertionError::WordCountUnknownKey { key: key.clone() });
        }
        let bound = |key: &'static str| -> Result<Option<usize>, AssertionError> {
            match map.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => count_value(v)
                    .map(Some)
                    .ok_or_else(|| AssertionError::WordCountBound { key, found: v.clone() }),
            }
        };
        let (min, max) = (bound("min")?, bound("max")?);
        let (pass, expected) = match (min, max) {
            (None, None) => return Err(AssertionError::WordCountNoBound),
            (Some(lo), Some(hi)) if lo > hi => return Err(AssertionError::WordCountMinAboveMax { min: lo, max: hi }),
            (Some(lo), Some(hi)) => (lo <= words && words <= hi, format!("between {lo} and {hi}")),
            (Some(lo), None) => (lo <= words, format!("at least {lo}")),
            (None, Some(hi)) => (words <= hi, format!("at most {hi}")),
        };
        return Ok(Evaluation::new(
            pass,
            format!("output has {words} {plural}, expected {expected}"),
        ));
    }
    let expected = count_value(value).ok_or_else(|| AssertionError::WordCountNotANumber {
        found: quote(&display_value(value)),
    })?;
    Ok(Evaluation::new(
        words == expected,
        format!("output has {words} {plural}, expected exactly {expected}"),
    ))
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use crate::assertion::{aggregate, parse_type, Assertion, CompiledValue, EvalContext};
    use crate::result::AssertionResult;

    /// Output, latency and cost of a case under test.
    fn ctx(output: &str) -> EvalContext<'_> {
        EvalContext {
            output,
            latency_ms: None,
            cost_usd: None,
        }
    }

    fn assertion(kind: &str, value: Option<Value>, threshold: Option<f64>) -> Assertion {
        let (kind, negate) = parse_type(kind).expect("known type");
        Assertion::new(
            crate::assertion::AssertionSpec {
                kind,
                negate,
                value,
                templated: false,
                threshold,
                weight: 1.0,
                metric: None,
                file: None,
                compiled: CompiledValue::None,
                graders: Default::default(),
                rubric_prompt: None,
                context_var: None,
            },
            None,
        )
    }

    /// Builds, prepares and evaluates an assertion.
    fn eval_with(kind: &str, value: Option<Value>, threshold: Option<f64>, ctx: EvalContext<'_>) -> AssertionResult {
        let mut a = assertion(kind, value, threshold);
        // A bad static value is rejected by prepare() (a load-time error);
        // surface it as the errored result the evaluation would give.
        if let Err(e) = a.prepare() {
            return a.errored(a.value.as_ref(), e.to_string());
        }
        a.evaluate(a.value.as_ref(), &ctx)
    }

    fn eval(kind: &str, value: Value, output: &str) -> AssertionResult {
        eval_with(kind, Some(value), None, ctx(output))
    }

    #[track_caller]
    fn passes(r: &AssertionResult) {
        assert!(r.pass && r.error.is_none() && r.score == 1.0, "expected a pass: {r:?}");
    }

    #[track_caller]
    fn fails(r: &AssertionResult) {
        assert!(
            !r.pass && r.error.is_none() && r.score == 0.0,
            "expected a failure: {r:?}"
        );
    }

    #[track_caller]
    fn errors(r: &AssertionResult) {
        assert!(
            !r.pass && r.error.is_some() && r.score == 0.0,
            "expected an error: {r:?}"
        );
    }

    const CITY: &str = "The capital of France is Paris.";

    #[test]
    fn quote_escapes_and_truncates() {
        assert_eq!(super::quote("a\"b\n"), r#""a\"b\n""#);
        let long = "x".repeat(500);
        let q = super::quote(&long);
        assert!(q.len() < 100 && q.ends_with('…'), "{q}");
        assert_eq!(super::quote(&"é".repeat(100)).chars().count(), 80 + 3);
    }

    #[test]
    fn fmt_num_is_readable() {
        assert_eq!(super::fmt_num(5.0), "5");
        assert_eq!(super::fmt_num(0.01), "0.01");
        assert_eq!(super::fmt_num(0.1 + 0.2), "0.3");
        assert_eq!(super::fmt_num(2.5e-9), "2.5e-9");
    }

    #[test]
    fn equals_string() {
        let r = eval("equals", json!("Paris"), "Paris");
        passes(&r);
        assert_eq!(r.reason, r#"output equals "Paris""#);
        let r = eval("equals", json!("Paris"), "Paris.");
        fails(&r);
        assert!(r.reason.contains("1 extra bytes"), "{}", r.reason);
        let r = eval("equals", json!("Paris"), "Pars");
        fails(&r);
        assert!(r.reason.contains("first difference at byte 3"), "{}", r.reason);
        let r = eval("equals", json!("Paris"), "Par");
        fails(&r);
        assert!(r.reason.contains("ends at byte 3"), "{}", r.reason);
        // Exact: no trimming, case-sensitive.
        fails(&eval("equals", json!("Paris"), "paris"));
        fails(&eval("equals", json!("Paris"), "Paris\n"));
    }

    #[test]
    fn equals_failure_never_dumps_the_output() {
        let output = format!("{}{}", "a".repeat(10_000), "b");
        let r = eval("equals", json!("a"), &output);
        fails(&r);
        assert!(r.reason.len() < 300, "{}", r.reason);
    }

    #[test]
    fn not_equals() {
        passes(&eval("not-equals", json!("London"), "Paris"));
        let r = eval("not-equals", json!("Paris"), "Paris");
        fails(&r);
        assert!(
            r.reason.starts_with("expected the opposite: output equals"),
            "{}",
            r.reason
        );
    }

    #[test]
    fn contains_reports_position() {
        let r = eval("contains", json!("Paris"), CITY);
        passes(&r);
        assert_eq!(r.reason, r#"output contains "Paris" at byte 25"#);
        let r = eval("contains", json!("rte_mempool_create"), CITY);
        fails(&r);
        assert_eq!(r.reason, r#"output does not contain "rte_mempool_create""#);
        fails(&eval("contains", json!("paris"), CITY));
    }

    #[test]
    fn contains_number_value() {
        passes(&eval("contains", json!(42), "the answer is 42"));
        fails(&eval("contains", json!(43), "the answer is 42"));
        passes(&eval("contains", json!(2.5), "about 2.5 km"));
    }

    #[test]
    fn contains_rejects_non_text_value() {
        errors(&eval("contains", json!({"a": 1}), CITY));
        errors(&eval("not-contains", json!(["a"]), CITY));
    }

    #[test]
    fn not_contains() {
        passes(&eval("not-contains", json!("London"), CITY));
        let r = eval("not-contains", json!("Paris"), CITY);
        fails(&r);
        assert_eq!(r.reason, r#"expected the opposite: output contains "Paris" at byte 25"#);
    }

    #[test]
    fn icontains_ignores_case() {
        let r = eval("icontains", json!("PARIS"), CITY);
        passes(&r);
        assert_eq!(
            r.reason,
            r#"output contains "PARIS" (ignoring case) as "Paris" at byte 25"#
        );
        fails(&eval("icontains", json!("LONDON"), CITY));
        passes(&eval("not-icontains", json!("london"), CITY));
        fails(&eval("not-icontains", json!("pArIs"), CITY));
        // Non-ASCII case folding, and positions map back to the original text.
        let r = eval("icontains", json!("ÉTÉ"), "Un bel été");
        passes(&r);
        assert!(r.reason.contains("as \"été\" at byte 7"), "{}", r.reason);
        // A char whose lowercase form is longer than itself before the match.
        let r = eval("icontains", json!("x"), "İX");
        passes(&r);
        assert!(r.reason.contains(r#"as "X" at byte 2"#), "{}", r.reason);
        // A match inside such a char reports the whole original char.
        let r = eval("icontains", json!("i"), "İ");
        passes(&r);
        assert!(r.reason.contains(r#"as "İ" at byte 0"#), "{}", r.reason);
        // Final sigma: lowered the same way on both sides.
        passes(&eval("icontains", json!("οδος"), "ΟΔΟΣ"));
        passes(&eval("icontains", json!("ΟΔΟΣ"), "η οδος"));
    }

    #[test]
    fn contains_any() {
        let r = eval("contains-any", json!(["London", "Paris", "Rome"]), CITY);
        passes(&r);
        assert_eq!(r.reason, r#"found "Paris" at byte 25"#);
        let r = eval("contains-any", json!(["London", "Rome"]), CITY);
        fails(&r);
        assert_eq!(r.reason, r#"output contains none of "London", "Rome""#);
        fails(&eval("contains-any", json!(["paris"]), CITY));
    }

    #[test]
    fn contains_any_comma_separated() {
        passes(&eval("contains-any", json!(" London , Paris,,"), CITY));
        fails(&eval("contains-any", json!("London, Rome"), CITY));
        // A single item without commas is a one-item list.
        passes(&eval("contains-any", json!("France"), CITY));
    }

    #[test]
    fn contains_all() {
        let r = eval("contains-all", json!(["capital", "Paris"]), CITY);
        passes(&r);
        assert_eq!(r.reason, "found all 2 items");
        let r = eval("contains-all", json!(["capital", "Berlin", "Paris", "Germany"]), CITY);
        fails(&r);
        assert_eq!(r.reason, r#"output is missing "Berlin", "Germany" (found 2 of 4)"#);
    }

    #[test]
    fn contains_all_comma_separated_and_numbers() {
        passes(&eval("contains-all", json!("capital,  France ,Paris"), CITY));
        fails(&eval("contains-all", json!("capital, Berlin"), CITY));
        passes(&eval("contains-all", json!([1, "two"]), "1 and two"));
    }

    #[test]
    fn icontains_any_and_all() {
        passes(&eval("icontains-any", json!(["LONDON", "PARIS"]), CITY));
        fails(&eval("icontains-any", json!("london, rome"), CITY));
        passes(&eval("icontains-all", json!("THE CAPITAL, paris"), CITY));
        let r = eval("icontains-all", json!(["CAPITAL", "berlin"]), CITY);
        fails(&r);
        assert!(r.reason.contains(r#"missing "berlin" (ignoring case)"#), "{}", r.reason);
    }

    #[test]
    fn not_contains_any_and_all() {
        passes(&eval("not-contains-any", json!(["London", "Rome"]), CITY));
        fails(&eval("not-contains-any", json!(["London", "Paris"]), CITY));
        passes(&eval("not-contains-all", json!(["Paris", "Berlin"]), CITY));
        fails(&eval("not-contains-all", json!(["Paris", "France"]), CITY));
    }

    #[test]
    fn empty_lists_are_errors() {
        for kind in ["contains-any", "contains-all", "icontains-any", "icontains-all"] {
            errors(&eval(kind, json!([]), CITY));
            errors(&eval(kind, json!(" , ,"), CITY));
            // An error stays an error under `not-`.
            errors(&eval(&format!("not-{kind}"), json!([]), CITY));
        }
        errors(&eval("contains-any", json!([{"a": 1}]), CITY));
        errors(&eval("contains-all", json!({"a": 1}), CITY));
    }

    #[test]
    fn long_lists_are_abbreviated() {
        let items: Vec<String> = (0..20).map(|i| format!("item{i}")).collect();
        let r = eval("contains-any", json!(items), CITY);
        fails(&r);
        assert!(r.reason.ends_with("and 12 more"), "{}", r.reason);
    }

    #[test]
    fn starts_with() {
        let r = eval("starts-with", json!("The capital"), CITY);
        passes(&r);
        assert_eq!(r.reason, r#"output starts with "The capital""#);
        let r = eval("starts-with", json!("Paris"), CITY);
        fails(&r);
        assert_eq!(
            r.reason,
            r#"output does not start with "Paris" (it starts with "The c")"#
        );
        passes(&eval("not-starts-with", json!("Paris"), CITY));
        fails(&eval("starts-with", json!("longer than the output"), "short"));
    }

    #[test]
    fn regex() {
        let r = eval("regex", json!(r"\b[A-Z][a-z]+\.$"), CITY);
        passes(&r);
        assert_eq!(r.reason, r#"regex "\\b[A-Z][a-z]+\\.$" matched "Paris." at byte 25"#);
        let r = eval("regex", json!(r"^\d+$"), CITY);
        fails(&r);
        assert!(r.reason.contains("does not match"), "{}", r.reason);
        passes(&eval("regex", json!("(?i)PARIS"), CITY));
        passes(&eval("not-regex", json!(r"\d"), CITY));
        fails(&eval("not-regex", json!("Paris"), CITY));
    }

    #[test]
    fn regex_match_is_truncated() {
        let output = "a".repeat(1000);
        let r = eval("regex", json!("a+"), &output);
        passes(&r);
        assert!(r.reason.len() < 150, "{}", r.reason);
    }

    #[test]
    fn invalid_regex_fails_at_prepare() {
        let mut a = assertion("regex", Some(json!("(unclosed")), None);
        let e = a.prepare().unwrap_err().to_string();
        assert!(e.starts_with("invalid regex"), "{e}");
        assert!(!e.contains('\n'), "{e}");
        let mut a = assertion("not-regex", Some(json!("[z-a]")), None);
        assert!(a.prepare().is_err());
        let mut a = assertion("regex", Some(json!(12)), None);
        assert!(a.prepare().is_err());
    }

    #[test]
    fn templated_invalid_regex_is_an_error_even_when_negated() {
        let mut a = assertion("not-regex", Some(json!("{{ pattern }}")), None);
        a.templated = true;
        a.prepare().expect("templates are compiled per case");
        let rendered = json!("(unclosed");
        errors(&a.evaluate(Some(&rendered), &ctx(CITY)));
        let rendered = json!("Rome");
        passes(&a.evaluate(Some(&rendered), &ctx(CITY)));
    }

    #[test]
    fn regex_compiled_here_when_not_precompiled() {
        let a = assertion("regex", Some(json!("Par+is")), None);
        passes(&a.evaluate(a.value.as_ref(), &ctx(CITY)));
        let r = super::evaluate(
            crate::assertion::AssertionType::Regex,
            Some(&json!("(")),
            None,
            &CompiledValue::None,
            &ctx(CITY),
        );
        assert!(r.unwrap_err().to_string().starts_with("invalid regex"));
    }

    #[test]
    fn levenshtein_default_threshold() {
        let r = eval("levenshtein", json!("kitten"), "sitting");
        passes(&r);
        assert_eq!(r.reason, r#"edit distance to "kitten" is 3 ≤ threshold 5"#);
        // Distance 5 is still within the default.
        passes(&eval("levenshtein", json!("abcde"), "vwxyz"));
        let r = eval("levenshtein", json!("abcdef"), "uvwxyz");
        fails(&r);
        assert_eq!(r.reason, r#"edit distance to "abcdef" is 6 > threshold 5"#);
    }

    #[test]
    fn levenshtein_explicit_threshold() {
        let run = |t: f64| eval_with("levenshtein", Some(json!("kitten")), Some(t), ctx("sitting"));
        passes(&run(3.0));
        fails(&run(2.0));
        passes(&run(10.0));
        passes(&eval_with("levenshtein", Some(json!("same")), Some(0.0), ctx("same")));
        passes(&eval_with(
            "not-levenshtein",
            Some(json!("kitten")),
            Some(1.0),
            ctx("sitting"),
        ));
        errors(&run(-1.0));
    }

    #[test]
    fn latency() {
        let with = |ms: Option<u64>, kind: &str| {
            eval_with(
                kind,
                None,
                Some(500.0),
                EvalContext {
                    output: "x",
                    latency_ms: ms,
                    cost_usd: None,
                },
            )
        };
        let r = with(Some(120), "latency");
        passes(&r);
        assert_eq!(r.reason, "latency 120 ms ≤ threshold 500 ms");
        passes(&with(Some(500), "latency"));
        let r = with(Some(501), "latency");
        fails(&r);
        assert_eq!(r.reason, "latency 501 ms > threshold 500 ms");
        let r = with(None, "latency");
        errors(&r);
        assert!(r.reason.starts_with("latency was not measured"), "{}", r.reason);
        // Unknown latency is an error under `not-` too, never a pass.
        errors(&with(None, "not-latency"));
        passes(&with(Some(900), "not-latency"));
    }

    #[test]
    fn latency_and_cost_need_a_threshold() {
        assert!(assertion("latency", None, None).prepare().is_err());
        assert!(assertion("cost", None, None).prepare().is_err());
    }

    #[test]
    fn cost() {
        let with = |usd: Option<f64>, kind: &str| {
            eval_with(
                kind,
                None,
                Some(0.01),
                EvalContext {
                    output: "x",
                    latency_ms: None,
                    cost_usd: usd,
                },
            )
        };
        let r = with(Some(0.0012), "cost");
        passes(&r);
        assert_eq!(r.reason, "cost $0.0012 ≤ threshold $0.01");
        passes(&with(Some(0.0), "cost"));
        let r = with(Some(0.05), "cost");
        fails(&r);
        assert_eq!(r.reason, "cost $0.05 > threshold $0.01");
        let r = with(None, "cost");
        errors(&r);
        assert!(r.reason.contains("no cost is known"), "{}", r.reason);
        errors(&with(None, "not-cost"));
        passes(&with(Some(1.0), "not-cost"));
    }

    #[test]
    fn word_count_exact() {
        let r = eval("word-count", json!(5), "one two  three\nfour\tfive");
        passes(&r);
        assert_eq!(r.reason, "output has 5 words, expected exactly 5");
        let r = eval("word-count", json!(4), "one two three four five");
        fails(&r);
        assert_eq!(r.reason, "output has 5 words, expected exactly 4");
        passes(&eval("word-count", json!(0), "   "));
        // A rendered template gives text.
        passes(&eval("word-count", json!("2"), "two words"));
        passes(&eval("not-word-count", json!(3), "two words"));
    }

    #[test]
    fn word_count_range() {
        let text = "one two three four five";
        let r = eval("word-count", json!({"min": 3, "max": 10}), text);
        passes(&r);
        assert_eq!(r.reason, "output has 5 words, expected between 3 and 10");
        passes(&eval("word-count", json!({"min": 5}), text));
        passes(&eval("word-count", json!({"max": 5}), text));
        let r = eval("word-count", json!({"min": 6}), text);
        fails(&r);
        assert_eq!(r.reason, "output has 5 words, expected at least 6");
        let r = eval("word-count", json!({"max": 4}), text);
        fails(&r);
        assert_eq!(r.reason, "output has 5 words, expected at most 4");
        fails(&eval("word-count", json!({"min": 1, "max": 1}), text));
    }

    #[test]
    fn word_count_bad_values() {
        for bad in [
            json!({}),
            json!({"min": null}),
            json!({"minimum": 3}),
            json!({"min": 5, "max": 2}),
            json!({"min": -1}),
            json!({"max": 2.5}),
            json!(-3),
            json!(1.5),
            json!("ten"),
            json!([1, 2]),
            json!(true),
        ] {
            errors(&eval("word-count", bad.clone(), "a b"));
            errors(&eval("not-word-count", bad, "a b"));
        }
    }

    fn result(pass: bool, weight: f64) -> AssertionResult {
        AssertionResult {
            kind: "contains".into(),
            expected: None,
            pass,
            score: if pass { 1.0 } else { 0.0 },
            weight,
            metric: None,
            reason: String::new(),
            error: None,
            line: None,
            file: None,
            grader: None,
        }
    }

    #[test]
    fn aggregate_weights() {
        let mut heavy = assertion("contains", Some(json!("Paris")), None);
        heavy.weight = 3.0;
        heavy.prepare().unwrap();
        let light = assertion("contains", Some(json!("Berlin")), None);
        let c = ctx(CITY);
        let results = [
            heavy.evaluate(heavy.value.as_ref(), &c),
            light.evaluate(light.value.as_ref(), &c),
        ];
        let (pass, score) = aggregate(&results, None);
        assert!(!pass);
        assert!((score - 0.75).abs() < 1e-12, "{score}");
        // Zero weights: nothing counts towards the score (0), and without a
        // threshold every assertion must still pass.
        let (pass, score) = aggregate(&[result(false, 0.0)], None);
        assert!(!pass);
        assert_eq!(score, 0.0);
    }

    #[test]
    fn aggregate_threshold() {
        let results = [result(true, 3.0), result(false, 1.0)];
        assert_eq!(aggregate(&results, Some(0.75)), (true, 0.75));
        assert_eq!(aggregate(&results, Some(0.7)), (true, 0.75));
        assert_eq!(aggregate(&results, Some(0.8)), (false, 0.75));
    }

    #[test]
    fn aggregate_without_threshold_needs_every_pass() {
        let all = [result(true, 1.0), result(true, 2.0)];
        assert_eq!(aggregate(&all, None), (true, 1.0));
        let one_failing = [result(true, 1.0), result(false, 1.0)];
        assert_eq!(aggregate(&one_failing, None), (false, 0.5));
    }

    #[test]
    fn aggregate_of_nothing_passes() {
        assert_eq!(aggregate(&[], None), (true, 1.0));
        assert_eq!(aggregate(&[], Some(0.5)), (true, 1.0));
    }

    #[test]
    fn weight_must_be_non_negative() {
        let mut a = assertion("contains", Some(json!("x")), None);
        a.weight = -1.0;
        assert!(a.prepare().is_err());
    }
}
