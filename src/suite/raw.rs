//! The suite file as written (serde structs), and the key tables used to
//! tell a typo (error, with the nearest valid key) from a promptfoo key that
//! promptgate does not implement (one-line warning).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_yaml::Value;

/// Top level of a suite file.
#[derive(Debug, Deserialize, Default)]
pub(crate) struct RawSuite {
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub prompts: Option<Value>,
    #[serde(default, alias = "targets")]
    pub providers: Option<Value>,
    #[serde(default, rename = "defaultTest")]
    pub default_test: Option<RawTest>,
    #[serde(default)]
    pub tests: Option<Value>,
    #[serde(default)]
    pub metadata: Option<BTreeMap<String, Value>>,
    #[serde(default, rename = "$schema")]
    #[allow(dead_code)]
    pub schema: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    pub thresholds: Option<RawThresholds>,
    #[serde(default)]
    pub gate: Option<RawGate>,
}

/// Suite-level `gate` settings (the registry gate's comparison).
#[derive(Debug, Deserialize, Default, Clone)]
pub(crate) struct RawGate {
    #[serde(default)]
    pub alpha: Option<f64>,
}

/// Suite-level `thresholds`.
#[derive(Debug, Deserialize, Default, Clone)]
pub(crate) struct RawThresholds {
    #[serde(default)]
    pub pass_rate: Option<f64>,
    #[serde(default)]
    pub metrics: Option<BTreeMap<String, RawMetricThreshold>>,
}

/// `thresholds.metrics.NAME`.
#[derive(Debug, Deserialize, Default, Clone)]
pub(crate) struct RawMetricThreshold {
    #[serde(default)]
    pub mean: Option<f64>,
    #[serde(default)]
    pub min: Option<f64>,
}

/// One test case (also `defaultTest`).
#[derive(Debug, Deserialize, Default, Clone)]
pub(crate) struct RawTest {
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub vars: Option<BTreeMap<String, Value>>,
    #[serde(default)]
    pub assert: Option<Vec<RawAssertion>>,
    #[serde(default)]
    pub threshold: Option<f64>,
    #[serde(default)]
    pub min_pass_rate: Option<f64>,
    #[serde(default)]
    pub metadata: Option<BTreeMap<String, Value>>,
    #[serde(default)]
    pub options: Option<RawOptions>,
}

/// Test `options`: the grader settings; every other promptfoo option is
/// recognised and warned about.
#[derive(Debug, Deserialize, Default, Clone)]
pub(crate) struct RawOptions {
    #[serde(default)]
    pub provider: Option<Value>,
    #[serde(default, rename = "rubricPrompt")]
    pub rubric_prompt: Option<Value>,
}

/// One assertion.
#[derive(Debug, Deserialize, Clone)]
pub(crate) struct RawAssertion {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub value: Option<Value>,
    #[serde(default)]
    pub threshold: Option<f64>,
    #[serde(default)]
    pub weight: Option<f64>,
    #[serde(default)]
    pub metric: Option<String>,
    #[serde(default)]
    pub provider: Option<Value>,
    #[serde(default, rename = "rubricPrompt")]
    pub rubric_prompt: Option<Value>,
    #[serde(default, rename = "contextVar")]
    pub context_var: Option<String>,
}

/// A provider given as an object.
#[derive(Debug, Deserialize)]
pub(crate) struct RawProvider {
    pub id: String,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub config: Option<crate::provider::ProviderConfig>,
}

/// A prompt given as an object.
#[derive(Debug, Deserialize)]
pub(crate) struct RawPrompt {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub raw: Option<String>,
    #[serde(default)]
    pub label: Option<String>,
}

/// Which part of a suite a mapping is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Section {
    Suite,
    Test,
    /// `defaultTest`: a test case's keys, named as itself in messages.
    DefaultTest,
    Assertion,
    Options,
    Provider,
    ProviderConfig,
    Prompt,
    Thresholds,
    MetricThreshold,
    Gate,
}

impl Section {
    pub fn noun(self) -> &'static str {
        match self {
            Section::Suite => "the suite",
            Section::Test => "a test case",
            Section::DefaultTest => "`defaultTest`",
            Section::Assertion => "an assertion",
            Section::Options => "test options",
            Section::Provider => "a provider",
            Section::ProviderConfig => "a provider config",
            Section::Prompt => "a prompt",
            Section::Thresholds => "`thresholds`",
            Section::MetricThreshold => "a metric threshold",
            Section::Gate => "`gate`",
        }
    }

    /// Keys promptgate implements here.
    pub fn valid_keys(self) -> &'static [&'static str] {
        match self {
            Section::Suite => &[
                "description",
                "prompts",
                "providers",
                "defaultTest",
                "tests",
                "metadata",
                "thresholds",
                "gate",
            ],
            Section::Test | Section::DefaultTest => &[
                "description",
                "vars",
                "assert",
                "threshold",
                "min_pass_rate",
                "metadata",
                "options",
            ],
            Section::Assertion => &[
                "type",
                "value",
                "threshold",
                "weight",
                "metric",
                "provider",
                "rubricPrompt",
                "contextVar",
            ],
            Section::Options => &["provider", "rubricPrompt"],
            Section::Provider => &["id", "label", "config"],
            Section::ProviderConfig => crate::provider::ProviderConfig::KEYS,
            Section::Prompt => &["id", "raw", "label"],
            Section::Thresholds => &["pass_rate", "metrics"],
            Section::MetricThreshold => &["mean", "min"],
            Section::Gate => &["alpha"],
        }
    }

    /// Keys promptfoo has here that promptgate does not implement: a warning.
    pub fn promptfoo_keys(self) -> &'static [&'static str] {
        match self {
            Section::Suite => &[
                "sharing",
                "outputPath",
                "env",
                "evaluateOptions",
                "commandLineOptions",
                "scenarios",
                "nunjucksFilters",
                "derivedMetrics",
                "extensions",
                "tags",
                "redteam",
                "writeLatestResults",
                "tracing",
            ],
            Section::Test | Section::DefaultTest => &[
                "provider",
                "providerOutput",
                "assertScoringFunction",
                "prompts",
                "providers",
            ],
            Section::Assertion => &["transform", "contextTransform", "config", "assert"],
            Section::Options => &[
                "transform",
                "postprocess",
                "prefix",
                "suffix",
                "storeOutputAs",
                "disableVarExpansion",
                "disableConversationVar",
                "runSerially",
                "factuality",
            ],
            Section::Provider => &["prompts", "transform", "delay", "env", "inputs"],
            Section::ProviderConfig => &[
                "frequency_penalty",
                "presence_penalty",
                "functions",
                "tools",
                "tool_choice",
                "headers",
                "organization",
                "apiHost",
                "passthrough",
                "showThinking",
                "thinking",
                "logprobs",
                "top_logprobs",
                "num_ctx",
                "top_k",
            ],
            Section::Prompt => &["config", "function"],
            Section::Thresholds | Section::MetricThreshold | Section::Gate => &[],
        }
    }
}

/// What serde_yaml's `Value` is, in words.
pub(crate) fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing (null)",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}
