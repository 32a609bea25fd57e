//! Templates: prompts and assertion values are minijinja templates
//! (Jinja2 syntax, <https://docs.rs/minijinja>) rendered in strict mode, so
//! that a variable the test does not provide is an error naming the variable,
//! never an empty string.

use std::collections::BTreeSet;

use minijinja::{Environment, UndefinedBehavior};
use serde_json::{Map, Value};

/// True when `s` contains template syntax (`{{`, `{%` or `{#`).
pub fn is_template(s: &str) -> bool {
    s.contains("{{") || s.contains("{%") || s.contains("{#")
}

/// A template syntax error: message and 1-based line within the template.
/// Shown as the message alone (the line is part of the location).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SyntaxError {
    /// What is wrong.
    pub message: String,
    /// 1-based line inside the template, when known.
    pub line: Option<usize>,
}

/// Why a template did not render.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// The template reads variables the test does not define (minijinja's
    /// own message does not name them). Shown as ``undefined template
    /// variable `x` (the test's vars are: a, b)``.
    #[error("{}", undefined_message(missing, defined))]
    UndefinedVariables {
        /// The variables missing, sorted.
        missing: Vec<String>,
        /// The variables the test defines, in order.
        defined: Vec<String>,
    },
    /// Any other error of minijinja (a one-off template that does not
    /// compile, an undefined attribute, a failing filter), shown as
    /// `KIND: DETAIL (template line N)`.
    #[error("{}", describe(.0))]
    Minijinja(minijinja::Error),
}

impl From<minijinja::Error> for TemplateError {
    fn from(e: minijinja::Error) -> Self {
        TemplateError::Minijinja(e)
    }
}

/// A set of compiled templates sharing one strict environment.
#[derive(Debug)]
pub struct Templates {
    env: Environment<'static>,
    next: usize,
}

impl Default for Templates {
    fn default() -> Self {
        Self::new()
    }
}

/// Handle to a template in a [`Templates`] set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateId(String);

impl Templates {
    /// An empty set with strict undefined behaviour and no auto-escaping.
    pub fn new() -> Self {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
        // A var written as `key:` (YAML null) renders as nothing, not "none".
        env.set_formatter(|out, state, value| {
            if value.is_none() {
                Ok(())
            } else {
                minijinja::escape_formatter(out, state, value)
            }
        });
        // Keep the text as written: a prompt's trailing newline is part of it.
        if let Ok(syntax) = minijinja::syntax::SyntaxConfig::builder()
            .keep_trailing_newline(true)
            .build()
        {
            env.set_syntax(syntax);
        }
        Templates { env, next: 0 }
    }

    /// Compiles `source`.
    ///
    /// # Errors
    /// The syntax error with its line inside `source`.
    pub fn add(&mut self, source: &str) -> Result<TemplateId, SyntaxError> {
        let name = format!("t{}", self.next);
        self.next += 1;
        self.env
            .add_template_owned(name.clone(), source.to_string())
            .map_err(|e| SyntaxError {
                message: describe(&e),
                line: e.line(),
            })?;
        Ok(TemplateId(name))
    }

    /// Checks that `source` compiles, without keeping it.
    ///
    /// # Errors
    /// The syntax error.
    pub fn check(&self, source: &str) -> Result<(), SyntaxError> {
        self.env.template_from_str(source).map(|_| ()).map_err(|e| SyntaxError {
            message: describe(&e),
            line: e.line(),
        })
    }

    /// The top-level variables template `id` reads.
    pub fn variables(&self, id: &TemplateId) -> BTreeSet<String> {
        match self.env.get_template(&id.0) {
            Ok(t) => t.undeclared_variables(false).into_iter().collect(),
            Err(_) => BTreeSet::new(),
        }
    }

    /// Renders template `id` with `vars`.
    ///
    /// # Errors
    /// `undefined variable `x`` naming every variable the template reads and
    /// `vars` lacks, or minijinja's render error (e.g. an undefined attribute).
    pub fn render(&self, id: &TemplateId, vars: &Map<String, Value>) -> Result<String, TemplateError> {
        let tmpl = self.env.get_template(&id.0)?;
        render_strict(&tmpl, vars)
    }

    /// Renders a one-off template string (assertion values) with `vars`.
    ///
    /// # Errors
    /// As [`Self::render`].
    pub fn render_str(&self, source: &str, vars: &Map<String, Value>) -> Result<String, TemplateError> {
        let tmpl = self.env.template_from_str(source)?;
        render_strict(&tmpl, vars)
    }

    /// Renders every template string inside `value` (strings in arrays and
    /// objects too); other values are returned as they are.
    ///
    /// # Errors
    /// As [`Self::render`].
    ///
    /// A string that is exactly one variable (`"{{ fruits }}"`) becomes that
    /// variable's value, so a list stays a list (for `contains-any`) instead
    /// of its printed form.
    pub fn render_value(&self, value: &Value, vars: &Map<String, Value>) -> Result<Value, TemplateError> {
        if let Value::String(s) = value {
            if let Some(v) = sole_variable(s).and_then(|name| vars.get(name)) {
                if !v.is_string() && !v.is_null() {
                    return Ok(v.clone());
                }
            }
        }
        Ok(match value {
            Value::String(s) if is_template(s) => Value::String(self.render_str(s, vars)?),
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|v| self.render_value(v, vars))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| Ok((k.clone(), self.render_value(v, vars)?)))
                    .collect::<Result<_, TemplateError>>()?,
            ),
            other => other.clone(),
        })
    }
}

/// `name` when `s` is exactly `{{ name }}` (whitespace allowed).
fn sole_variable(s: &str) -> Option<&str> {
    let inner = s.trim().strip_prefix("{{")?.strip_suffix("}}")?.trim();
    let mut chars = inner.chars();
    let first = chars.next()?;
    ((first.is_ascii_alphabetic() || first == '_') && chars.all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .then_some(inner)
}

/// Renders; on an undefined-value error, names the variables the template
/// reads that `vars` lacks (minijinja's own message does not name them).
/// Variables guarded by `is defined` are fine: only a failed render is checked.
fn render_strict(tmpl: &minijinja::Template<'_, '_>, vars: &Map<String, Value>) -> Result<String, TemplateError> {
    match tmpl.render(minijinja::Value::from(minijinja::value::Serde(vars))) {
        Ok(s) => Ok(s),
        Err(e) if e.kind() == minijinja::ErrorKind::UndefinedError => {
            // Variables the template guards with `is defined` may be missing;
            // name the others (all of them if every one is guarded).
            let source = tmpl.source();
            let needed: Vec<String> = tmpl.undeclared_variables(false).into_iter().collect();
            let unguarded: Vec<String> = needed.iter().filter(|v| !is_guarded(source, v)).cloned().collect();
            check_defined(
                if unguarded.iter().any(|v| !vars.contains_key(v)) {
                    unguarded
                } else {
                    needed
                },
                vars,
            )?;
            Err(e.into())
        }
        Err(e) => Err(e.into()),
    }
}

/// True when `source` tests `name` with `is defined` / `is undefined` / `is not defined`.
fn is_guarded(source: &str, name: &str) -> bool {
    source.match_indices(name).any(|(i, _)| {
        let before_ok = source[..i]
            .chars()
            .next_back()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
        let rest = source[i + name.len()..].trim_start();
        let rest = rest.strip_prefix("is").map(str::trim_start);
        before_ok
            && rest.is_some_and(|r| {
                let r = r.strip_prefix("not").map(str::trim_start).unwrap_or(r);
                r.starts_with("defined") || r.starts_with("undefined")
            })
    })
}

/// `Err` naming the variables of `needed` that `vars` lacks.
fn check_defined(needed: impl IntoIterator<Item = String>, vars: &Map<String, Value>) -> Result<(), TemplateError> {
    let mut missing: Vec<String> = needed.into_iter().filter(|v| !vars.contains_key(v)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    missing.sort();
    Err(TemplateError::UndefinedVariables {
        missing,
        defined: vars.keys().cloned().collect(),
    })
}

/// The message of [`TemplateError::UndefinedVariables`].
fn undefined_message(missing: &[String], defined: &[String]) -> String {
    let names = missing.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", ");
    let have = if defined.is_empty() {
        "the test defines no vars".to_string()
    } else {
        format!("the test's vars are: {}", defined.join(", "))
    };
    let noun = if missing.len() == 1 { "variable" } else { "variables" };
    format!("undefined template {noun} {names} ({have})")
}

/// minijinja's error as `KIND: DETAIL (template line N)`.
fn describe(e: &minijinja::Error) -> String {
    let mut s = match e.detail() {
        Some(d) => format!("{}: {d}", e.kind()),
        None => e.kind().to_string(),
    };
    if let Some(line) = e.line() {
        s.push_str(&format!(" (template line {line})"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn renders_and_keeps_text() {
        let mut t = Templates::new();
        let id = t.add("Context: {{ context }}\nQ: {{ q }}\n").unwrap();
        let out = t.render(&id, &vars(json!({"context": "c", "q": "why?"}))).unwrap();
        assert_eq!(out, "Context: c\nQ: why?\n");
        assert_eq!(t.variables(&id).into_iter().collect::<Vec<_>>(), vec!["context", "q"]);
    }

    #[test]
    fn a_missing_variable_is_an_error_naming_it() {
        let mut t = Templates::new();
        let id = t.add("Hello {{ name }} from {{ place }}").unwrap();
        let err = t.render(&id, &vars(json!({"name": "x"}))).unwrap_err();
        let err = err.to_string();
        assert!(err.contains("`place`"), "{err}");
        assert!(err.contains("name"), "{err}");
    }

    #[test]
    fn undefined_variables_are_typed_and_read_as_before() {
        let mut t = Templates::new();
        let id = t.add("{{ a }} {{ b }} {{ c }}").unwrap();
        let err = t.render(&id, &vars(json!({"c": 1}))).unwrap_err();
        assert!(matches!(&err, TemplateError::UndefinedVariables { missing, .. } if missing == &["a", "b"]));
        assert_eq!(
            err.to_string(),
            "undefined template variables `a`, `b` (the test's vars are: c)"
        );
        let err = t.render(&id, &Map::new()).unwrap_err();
        assert!(err.to_string().ends_with("(the test defines no vars)"), "{err}");
        let err = t.render_str("{{ x | nope }}", &Map::new()).unwrap_err();
        assert!(matches!(err, TemplateError::Minijinja(_)));
        assert!(err.to_string().starts_with("unknown filter"), "{err}");
    }

    #[test]
    fn a_variable_guarded_by_is_defined_may_be_missing() {
        let mut t = Templates::new();
        let id = t
            .add("{% if fmt is defined and fmt == 'json' %}JSON {% endif %}{{ q }}")
            .unwrap();
        assert_eq!(t.render(&id, &vars(json!({"q": "x"}))).unwrap(), "x");
        assert_eq!(
            t.render(&id, &vars(json!({"q": "x", "fmt": "json"}))).unwrap(),
            "JSON x"
        );
    }

    #[test]
    fn the_error_names_only_unguarded_missing_variables() {
        let mut t = Templates::new();
        let id = t
            .add("{% if z is defined %}{{ z }}{% endif %}{{ n }}{{ missing }}")
            .unwrap();
        let err = t.render(&id, &vars(json!({"n": 1}))).unwrap_err();
        let err = err.to_string();
        assert!(err.contains("`missing`"), "{err}");
        assert!(!err.contains("`z`"), "{err}");
        assert!(!err.contains("`n`"), "{err}");
    }

    #[test]
    fn a_missing_attribute_is_an_error() {
        let mut t = Templates::new();
        let id = t.add("{{ user.name }}").unwrap();
        assert!(t.render(&id, &vars(json!({"user": {}}))).is_err());
    }

    #[test]
    fn syntax_errors_carry_the_line() {
        let mut t = Templates::new();
        let err = t.add("line one\n{{ oops ").unwrap_err();
        assert_eq!(err.line, Some(2));
    }

    #[test]
    fn renders_nested_values() {
        let t = Templates::new();
        let v = t
            .render_value(&json!(["{{ a }}", 3, {"k": "x{{ a }}"}]), &vars(json!({"a": "1"})))
            .unwrap();
        assert_eq!(v, json!(["1", 3, {"k": "x1"}]));
    }

    #[test]
    fn a_sole_variable_keeps_its_json_value_and_null_renders_empty() {
        let t = Templates::new();
        let v = vars(json!({"fruits": ["apple", "pear"], "n": 3, "s": "x", "nothing": null}));
        assert_eq!(
            t.render_value(&json!("{{ fruits }}"), &v).unwrap(),
            json!(["apple", "pear"])
        );
        assert_eq!(t.render_value(&json!("{{n}}"), &v).unwrap(), json!(3));
        assert_eq!(t.render_value(&json!("{{ s }}"), &v).unwrap(), json!("x"));
        assert_eq!(t.render_str("a{{ nothing }}b", &v).unwrap(), "ab");
    }

    #[test]
    fn no_html_escaping() {
        let t = Templates::new();
        assert_eq!(t.render_str("{{ a }}", &vars(json!({"a": "<b>&"}))).unwrap(), "<b>&");
    }
}
