//! JSON assertions: `is-json`, `contains-json` (both with an optional JSON
//! Schema) and `equals` with a JSON value, with promptfoo's semantics.
//!
//! Parsing is serde_json's; `contains-json` finds embedded values by trying a
//! streaming parse at each `{` / `[` of the output, so prose and Markdown code
//! fences around the JSON need no special handling.

use serde_json::Value;

use super::text::{json_kind, quote, truncate, QUOTE_CHARS};
use crate::assertion::{AssertionError, AssertionType, CompiledValue, Evaluation};

/// Most schema validation errors a reason lists.
const SCHEMA_ERRORS_SHOWN: usize = 3;

/// Longest single schema error message, in characters, a reason shows.
const SCHEMA_ERROR_CHARS: usize = 160;

/// `is-json` / `contains-json` (un-negated).
///
/// With `CompiledValue::Schema`, the JSON must also validate against the schema.
///
/// # Errors
/// When called for another assertion type.
pub(crate) fn evaluate(
    kind: AssertionType,
    compiled: &CompiledValue,
    output: &str,
) -> Result<Evaluation, AssertionError> {
    let schema = match compiled {
        CompiledValue::Schema(v) => Some(v.as_ref()),
        _ => None,
    };
    match kind {
        AssertionType::IsJson => Ok(is_json(output, schema)),
        AssertionType::ContainsJson => Ok(contains_json(output, schema)),
        other => Err(AssertionError::WrongFamily {
            kind: other,
            family: "JSON",
        }),
    }
}

/// `equals` with a non-string value: compares parsed JSON.
///
/// Objects compare without regard to key order and numbers by value
/// (`1` equals `1.0`). An output that is not JSON fails.
pub(crate) fn equals_json(expected: &Value, output: &str) -> Evaluation {
    let actual = match serde_json::from_str::<Value>(output.trim()) {
        Ok(v) => v,
        Err(e) => {
            return Evaluation::new(
                false,
                format!("output is not JSON ({e}), so it cannot equal {}", quote_json(expected)),
            )
        }
    };
    match first_difference(expected, &actual, &mut String::new()) {
        None => Evaluation::new(true, format!("output equals the JSON {}", quote_json(expected))),
        Some(diff) => Evaluation::new(false, format!("output JSON differs from the expected value: {diff}")),
    }
}

/// A JSON value for a reason: compact JSON (already escaped), truncated.
fn quote_json(v: &Value) -> String {
    truncate(&v.to_string(), QUOTE_CHARS).into_owned()
}

/// Where `actual` first differs from `expected`, as "at /path: ...", or
/// `None` when they are equal.
fn first_difference(expected: &Value, actual: &Value, path: &mut String) -> Option<String> {
    let at = |path: &str| {
        if path.is_empty() {
            "at the top level".to_string()
        } else {
            format!("at {path}")
        }
    };
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            if let Some(key) = e.keys().find(|k| !a.contains_key(*k)) {
                return Some(format!("{}: missing key {}", at(path), quote(key)));
            }
            if let Some(key) = a.keys().find(|k| !e.contains_key(*k)) {
                return Some(format!("{}: unexpected key {}", at(path), quote(key)));
            }
            e.iter().find_map(|(key, ev)| {
                let len = path.len();
                path.push('/');
                path.push_str(&key.replace('~', "~0").replace('/', "~1"));
                let diff = first_difference(ev, &a[key], path);
                path.truncate(len);
                diff
            })
        }
        (Value::Array(e), Value::Array(a)) => {
            let items = e.iter().zip(a).enumerate().find_map(|(i, (ev, av))| {
                let len = path.len();
                path.push_str(&format!("/{i}"));
                let diff = first_difference(ev, av, path);
                path.truncate(len);
                diff
            });
            items.or_else(|| {
                (e.len() != a.len()).then(|| format!("{}: expected {} items, got {}", at(path), e.len(), a.len()))
            })
        }
        (Value::Number(e), Value::Number(a)) => {
            let same = e == a || ((e.is_f64() || a.is_f64()) && e.as_f64() == a.as_f64());
            (!same).then(|| format!("{}: expected {e}, got {a}", at(path)))
        }
        (e, a) if e == a => None,
        (e, a) if std::mem::discriminant(e) == std::mem::discriminant(a) => Some(format!(
            "{}: expected {}, got {}",
            at(path),
            quote_json(e),
            quote_json(a)
        )),
        (e, a) => Some(format!(
            "{}: expected {} {}, got {} {}",
            at(path),
            json_kind(e),
            quote_json(e),
            json_kind(a),
            quote_json(a)
        )),
    }
}

/// "at /path: message" for up to three schema errors, "and N more" after.
fn schema_errors(validator: &jsonschema::Validator, instance: &Value) -> Option<String> {
    let mut shown = Vec::new();
    let mut total = 0usize;
    for error in validator.iter_errors(instance) {
        total += 1;
        if shown.len() < SCHEMA_ERRORS_SHOWN {
            let path = error.instance_path().to_string();
            let path = if path.is_empty() { "(root)".to_string() } else { path };
            let message = error.to_string();
            let message = truncate(&message, SCHEMA_ERROR_CHARS);
            shown.push(format!("at {path}: {message}"));
        }
    }
    if total == 0 {
        return None;
    }
    let mut out = shown.join("; ");
    if total > shown.len() {
        out.push_str(&format!("; and {} more", total - shown.len()));
    }
    Some(out)
}

fn is_json(output: &str, schema: Option<&jsonschema::Validator>) -> Evaluation {
    let depth = json_depth(output);
    if depth <= SHALLOW_JSON_DEPTH {
        return is_json_at_any_depth(output, schema);
    }
    if depth > MAX_JSON_DEPTH {
        return Evaluation::new(
            false,
            format!(
                "output is nested {depth} levels deep; is-json checks JSON up to {MAX_JSON_DEPTH} levels, so it was not parsed (this says nothing about whether it is valid)"
            ),
        );
    }
    // serde_json parses (and drops) nested values recursively: give the
    // parse a stack that fits the depth (reserved, touched only as used).
    let stack = 1024 * 1024 + depth * 16 * 1024;
    std::thread::scope(|scope| {
        match std::thread::Builder::new()
            .stack_size(stack)
            .spawn_scoped(scope, || is_json_at_any_depth(output, schema))
        {
            Ok(handle) => handle.join().unwrap_or_else(|p| std::panic::resume_unwind(p)),
            Err(e) => Evaluation::new(
                false,
                format!("output is nested {depth} levels deep and could not be checked: {e}"),
            ),
        }
    })
}

/// Nesting up to which `is-json` parses on the calling thread (serde_json's
/// own recursion limit is 128).
const SHALLOW_JSON_DEPTH: usize = 100;

/// Deepest nesting `is-json` parses (on a thread with a stack to match).
pub(crate) const MAX_JSON_DEPTH: usize = 20_000;

/// The deepest nesting of `[` / `{` in `text` outside JSON strings, in one
/// linear pass (an upper bound on the depth a parser would reach).
fn json_depth(text: &str) -> usize {
    let (mut depth, mut max, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for b in text.bytes() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// `is-json`, with serde_json's recursion limit off: call it only on text
/// whose [`json_depth`] the current thread's stack can take.
fn is_json_at_any_depth(output: &str, schema: Option<&jsonschema::Validator>) -> Evaluation {
    let trimmed = output.trim();
    let parsed = {
        let mut de = serde_json::Deserializer::from_str(trimmed);
        de.disable_recursion_limit();
        serde::Deserialize::deserialize(&mut de).and_then(|v: Value| de.end().map(|()| v))
    };
    let value = match parsed {
        Ok(v) => v,
        Err(e) => {
            let start = if trimmed.is_empty() {
                "the output is empty".to_string()
            } else {
                format!("it starts with {}", quote(trimmed))
            };
            return Evaluation::new(false, format!("output is not valid JSON: {e} ({start})"));
        }
    };
    match schema {
        None => Evaluation::new(true, format!("output is JSON ({})", json_kind(&value))),
        Some(validator) => match schema_errors(validator, &value) {
            None => Evaluation::new(
                true,
                format!("output is JSON ({}) and matches the schema", json_kind(&value)),
            ),
            Some(errors) => Evaluation::new(
                false,
                format!(
                    "output is JSON ({}) but does not match the schema: {errors}",
                    json_kind(&value)
                ),
            ),
        },
    }
}

/// A JSON object or array found inside an output.
struct Embedded {
    start: usize,
    end: usize,
    value: Value,
}

/// The objects and arrays embedded in `output`, in order, without overlap:
/// at each `{` or `[` one value is parsed (greedily, by serde_json); after a
/// success the scan resumes after that value. Also returns the parse error of
/// the first candidate, for the reason when nothing parses.
fn embedded_json(output: &str) -> (Vec<Embedded>, Option<(usize, serde_json::Error)>) {
    let mut found = Vec::new();
    let mut first_error = None;
    let mut from = 0;
    while let Some(offset) = output[from..].find(['{', '[']) {
        let start = from + offset;
        let mut stream = serde_json::Deserializer::from_str(&output[start..]).into_iter::<Value>();
        match stream.next() {
            Some(Ok(value)) => {
                let end = start + stream.byte_offset();
                found.push(Embedded { start, end, value });
                from = end;
            }
            Some(Err(e)) => {
                if first_error.is_none() {
                    first_error = Some((start, e));
                }
                from = start + 1;
            }
            None => from = start + 1,
        }
    }
    (found, first_error)
}

fn contains_json(output: &str, schema: Option<&jsonschema::Validator>) -> Evaluation {
    let (found, first_error) = embedded_json(output);
    if found.is_empty() {
        let detail = match first_error {
            Some((at, e)) => format!(
                " (the first candidate, {} at byte {at}, does not parse: {e})",
                quote(&output[at..at + 1])
            ),
            None => " (it has no `{` or `[`)".to_string(),
        };
        return Evaluation::new(false, format!("no JSON object or array found in the output{detail}"));
    }
    let describe = |e: &Embedded, what: &str| {
        let noun = if e.value.is_array() { "array" } else { "object" };
        format!(
            "a JSON {noun}{what} at byte {}: {}",
            e.start,
            quote(&output[e.start..e.end])
        )
    };
    let Some(validator) = schema else {
        return Evaluation::new(true, format!("found {}", describe(&found[0], "")));
    };
    if let Some(valid) = found.iter().find(|e| validator.is_valid(&e.value)) {
        return Evaluation::new(true, format!("found {}", describe(valid, " matching the schema")));
    }
    let errors = schema_errors(validator, &found[0].value).unwrap_or_default();
    let count = if found.len() == 1 {
        "found 1 JSON value".to_string()
    } else {
        format!("found {} JSON values", found.len())
    };
    Evaluation::new(
        false,
        format!(
            "{count} but none matches the schema; the first, {}, fails: {errors}",
            describe(&found[0], "")
        ),
    )
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use crate::assertion::{parse_type, Assertion, AssertionType, CompiledValue, EvalContext};
    use crate::result::AssertionResult;

    fn assertion(kind: &str, value: Option<Value>) -> Assertion {
        let (kind, negate) = parse_type(kind).expect("known type");
        Assertion::new(
            crate::assertion::AssertionSpec {
                kind,
                negate,
                value,
                templated: false,
                threshold: None,
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

    /// Builds, prepares and evaluates an assertion on `output`.
    fn eval(kind: &str, value: Option<Value>, output: &str) -> AssertionResult {
        let mut a = assertion(kind, value);
        a.prepare().unwrap_or_else(|e| panic!("prepare failed for {kind}: {e}"));
        a.evaluate(
            a.value.as_ref(),
            &EvalContext {
                output,
                latency_ms: None,
                cost_usd: None,
            },
        )
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

    fn person_schema() -> Value {
        json!({
            "type": "object",
            "required": ["name", "age"],
            "properties": {
                "name": {"type": "string"},
                "age": {"type": "integer", "minimum": 0}
            }
        })
    }

    #[test]
    fn is_json_accepts_valid_json_at_any_depth_and_names_the_limit_beyond() {
        for depth in [127, 128, 129, 1_000, super::MAX_JSON_DEPTH] {
            let deep = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
            let r = eval("is-json", None, &deep);
            passes(&r);
            assert_eq!(r.reason, "output is JSON (an array)");
            fails(&eval("not-is-json", None, &deep));
            // Deep and invalid is still invalid.
            let r = eval(
                "is-json",
                None,
                &format!("{}{}", "[".repeat(depth), "]".repeat(depth - 1)),
            );
            fails(&r);
            assert!(r.reason.starts_with("output is not valid JSON"), "{}", r.reason);
        }
        let too_deep = format!(
            "{}{}",
            "{\"a\":[".repeat(super::MAX_JSON_DEPTH),
            "]}".repeat(super::MAX_JSON_DEPTH)
        );
        let r = eval("is-json", None, &too_deep);
        fails(&r);
        assert!(
            r.reason.contains("40000 levels deep") && r.reason.contains("not parsed"),
            "{}",
            r.reason
        );
        assert!(!r.reason.contains("not valid"), "{}", r.reason);
    }

    #[test]
    fn is_json() {
        let r = eval("is-json", None, "  {\"a\": [1, 2]}\n");
        passes(&r);
        assert_eq!(r.reason, "output is JSON (an object)");
        passes(&eval("is-json", None, "[1, 2, 3]"));
        passes(&eval("is-json", None, "42"));
        let r = eval("is-json", None, "Sure! {\"a\": 1}");
        fails(&r);
        assert!(r.reason.starts_with("output is not valid JSON: "), "{}", r.reason);
        assert!(
            r.reason.contains(r#"it starts with "Sure! {\"a\": 1}""#),
            "{}",
            r.reason
        );
        fails(&eval("is-json", None, "{\"a\": 1"));
        fails(&eval("is-json", None, ""));
        // A code fence is not JSON.
        fails(&eval("is-json", None, "```json\n{\"a\": 1}\n```"));
    }

    #[test]
    fn not_is_json() {
        passes(&eval("not-is-json", None, "plain prose"));
        let r = eval("not-is-json", None, "{}");
        fails(&r);
        assert!(
            r.reason.starts_with("expected the opposite: output is JSON"),
            "{}",
            r.reason
        );
    }

    #[test]
    fn is_json_failure_never_dumps_the_output() {
        let output = format!("x{}", "y".repeat(10_000));
        let r = eval("is-json", None, &output);
        fails(&r);
        assert!(r.reason.len() < 300, "{}", r.reason);
    }

    #[test]
    fn is_json_with_schema() {
        let schema = Some(person_schema());
        let r = eval("is-json", schema.clone(), r#"{"name": "Ada", "age": 36}"#);
        passes(&r);
        assert_eq!(r.reason, "output is JSON (an object) and matches the schema");
        let r = eval("is-json", schema.clone(), r#"{"name": 7, "age": -1}"#);
        fails(&r);
        assert!(r.reason.contains("does not match the schema"), "{}", r.reason);
        assert!(r.reason.contains("at /name: "), "{}", r.reason);
        assert!(r.reason.contains("at /age: "), "{}", r.reason);
        let r = eval("is-json", schema.clone(), r#"{"name": "Ada"}"#);
        fails(&r);
        assert!(r.reason.contains("at (root): "), "{}", r.reason);
        assert!(r.reason.contains("age"), "{}", r.reason);
        // Not JSON at all still fails as such.
        let r = eval("is-json", schema, "nope");
        fails(&r);
        assert!(r.reason.starts_with("output is not valid JSON"), "{}", r.reason);
    }

    #[test]
    fn schema_errors_are_capped() {
        let schema = json!({"type": "array", "items": {"type": "string"}});
        let r = eval("is-json", Some(schema), "[1, 2, 3, 4, 5]");
        fails(&r);
        assert_eq!(r.reason.matches("at /").count(), 3, "{}", r.reason);
        assert!(r.reason.ends_with("; and 2 more"), "{}", r.reason);
    }

    #[test]
    fn schema_as_json_text() {
        let schema = Value::String(person_schema().to_string());
        passes(&eval("is-json", Some(schema.clone()), r#"{"name": "Ada", "age": 36}"#));
        fails(&eval("is-json", Some(schema), r#"{"name": "Ada"}"#));
    }

    #[test]
    fn invalid_schema_fails_at_prepare() {
        let mut a = assertion("is-json", Some(json!({"type": "no-such-type"})));
        let e = a.prepare().unwrap_err().to_string();
        assert!(e.starts_with("invalid JSON Schema"), "{e}");
        let mut a = assertion("contains-json", Some(json!("{not json")));
        assert!(a.prepare().unwrap_err().to_string().contains("not JSON"));
    }

    #[test]
    fn contains_json_in_prose() {
        let output = "Here is the result: {\"city\": \"Paris\"}. Hope that helps!";
        let r = eval("contains-json", None, output);
        passes(&r);
        assert_eq!(r.reason, r#"found a JSON object at byte 20: "{\"city\": \"Paris\"}""#);
        let r = eval("contains-json", None, "No JSON here, sorry.");
        fails(&r);
        assert!(r.reason.starts_with("no JSON object or array found"), "{}", r.reason);
        let r = eval("contains-json", None, "Broken: {\"a\": 1,");
        fails(&r);
        assert!(r.reason.contains("at byte 8, does not parse"), "{}", r.reason);
    }

    #[test]
    fn contains_json_in_code_fence() {
        let output = "Sure, here it is:\n\n```json\n{\n  \"name\": \"Ada\",\n  \"age\": 36\n}\n```\n";
        let r = eval("contains-json", None, output);
        passes(&r);
        assert!(r.reason.contains("a JSON object at byte 27"), "{}", r.reason);
        passes(&eval("contains-json", Some(person_schema()), output));
    }

    #[test]
    fn contains_json_skips_unparseable_brackets() {
        let output = "Use {braces} and [brackets] wisely; data: [1, 2, {\"x\": null}] done";
        let r = eval("contains-json", None, output);
        passes(&r);
        assert!(
            r.reason.contains(r#"a JSON array at byte 42: "[1, 2, {\"x\": null}]""#),
            "{}",
            r.reason
        );
    }

    #[test]
    fn contains_json_with_schema() {
        let schema = Some(person_schema());
        // The first embedded value does not validate, the second does.
        let output = r#"Draft: {"name": "Ada"}. Final: {"name": "Ada", "age": 36}"#;
        let r = eval("contains-json", schema.clone(), output);
        passes(&r);
        assert!(
            r.reason
                .starts_with("found a JSON object matching the schema at byte 31"),
            "{}",
            r.reason
        );
        let r = eval(
            "contains-json",
            schema.clone(),
            r#"Result: {"name": "Ada", "age": "old"} and [1]"#,
        );
        fails(&r);
        assert!(
            r.reason.starts_with("found 2 JSON values but none matches the schema"),
            "{}",
            r.reason
        );
        assert!(r.reason.contains("at /age: "), "{}", r.reason);
        fails(&eval("contains-json", schema, "no json"));
    }

    #[test]
    fn not_contains_json() {
        passes(&eval("not-contains-json", None, "just text"));
        fails(&eval("not-contains-json", None, "text [1] text"));
        passes(&eval("not-contains-json", Some(person_schema()), r#"{"name": 1}"#));
    }

    #[test]
    fn equals_json_value() {
        let r = eval(
            "equals",
            Some(json!({"a": 1, "b": [true, null]})),
            "{\"b\": [true, null], \"a\": 1.0}\n",
        );
        passes(&r);
        assert!(r.reason.starts_with("output equals the JSON"), "{}", r.reason);
        passes(&eval("equals", Some(json!(42)), " 42 "));
        passes(&eval("equals", Some(json!([1, 2])), "[1,2]"));
        let r = eval("equals", Some(json!({"a": {"b": [1, 2]}})), r#"{"a": {"b": [1, 3]}}"#);
        fails(&r);
        assert_eq!(
            r.reason,
            "output JSON differs from the expected value: at /a/b/1: expected 2, got 3"
        );
        let r = eval("equals", Some(json!({"a": 1, "b": 2})), r#"{"a": 1}"#);
        fails(&r);
        assert!(
            r.reason.ends_with(r#"at the top level: missing key "b""#),
            "{}",
            r.reason
        );
        let r = eval("equals", Some(json!({"a": 1})), r#"{"a": 1, "c": 3}"#);
        fails(&r);
        assert!(r.reason.ends_with(r#"unexpected key "c""#), "{}", r.reason);
        let r = eval("equals", Some(json!([1, 2])), "[1, 2, 3]");
        fails(&r);
        assert!(r.reason.ends_with("expected 2 items, got 3"), "{}", r.reason);
        let r = eval("equals", Some(json!({"a": "1"})), r#"{"a": 1}"#);
        fails(&r);
        assert!(
            r.reason.ends_with(r#"at /a: expected a string "1", got a number 1"#),
            "{}",
            r.reason
        );
        fails(&eval("equals", Some(json!(42)), "43"));
    }

    #[test]
    fn equals_json_with_non_json_output_fails() {
        let r = eval("equals", Some(json!({"a": 1})), "The answer: {\"a\": 1}");
        fails(&r);
        assert!(r.reason.starts_with("output is not JSON"), "{}", r.reason);
        passes(&eval("not-equals", Some(json!({"a": 1})), "not json"));
        fails(&eval("not-equals", Some(json!([1])), "[1]"));
    }

    #[test]
    fn evaluate_rejects_other_kinds() {
        assert!(super::evaluate(AssertionType::Contains, &CompiledValue::None, "x").is_err());
    }
}
