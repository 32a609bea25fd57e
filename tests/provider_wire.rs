//! Wire-level tests of the providers: the exact request each HTTP provider
//! sends (checked on a wiremock server on 127.0.0.1), how it reads the
//! provider's documented success and error bodies, missing keys, transport
//! errors, and the `exec:` provider's process handling.
//!
//! No test reads the real environment (`Env::from_map`) or the network beyond
//! 127.0.0.1.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use promptgate::provider::anthropic::AnthropicMessages;
use promptgate::provider::exec::Exec;
use promptgate::provider::ollama::OllamaChat;
use promptgate::provider::openai::OpenAiChat;
use promptgate::provider::*;
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

/// The API key used in tests; it must never appear in an error's `Display`.
const KEY: &str = "sk-test-SECRET";

fn env(vars: &[(&str, &str)]) -> Env {
    Env::from_map(
        vars.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
    )
}

fn config(base: Option<String>) -> ProviderConfig {
    ProviderConfig {
        api_base_url: base,
        ..Default::default()
    }
}

fn request(model: &str, messages: Vec<Message>, settings: ModelSettings) -> ProviderRequest {
    ProviderRequest {
        model: model.to_string(),
        messages,
        settings,
    }
}

fn user(text: &str) -> Vec<Message> {
    vec![Message::new("user", text)]
}

/// The one request the server received.
async fn only_request(server: &MockServer) -> Request {
    let mut received = server.received_requests().await.unwrap_or_default();
    assert_eq!(
        received.len(),
        1,
        "expected exactly one request, got {}",
        received.len()
    );
    received.remove(0)
}

fn header<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers.get(name).and_then(|v| v.to_str().ok())
}

fn body(req: &Request) -> Value {
    req.body_json().expect("request body is JSON")
}

fn keys(v: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = v
        .as_object()
        .expect("a JSON object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

fn assert_no_key(err: &ProviderError) {
    let shown = err.to_string();
    assert!(!shown.contains(KEY), "the API key leaked into an error: {shown}");
    assert!(
        !format!("{err:?}").contains(KEY),
        "the API key leaked into an error's Debug: {err:?}"
    );
}

async fn mount(server: &MockServer, route: &str, response: ResponseTemplate) {
    Mock::given(method("POST"))
        .and(path(route))
        .respond_with(response)
        .mount(server)
        .await;
}

// ---------------------------------------------------------------- OpenAI

fn openai_success() -> Value {
    json!({
        "id": "chatcmpl-123",
        "object": "chat.completion",
        "created": 1_741_569_952,
        "model": "gpt-4o-mini-2024-07-18",
        "system_fingerprint": "fp_44709d6fcb",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": "Paris.", "refusal": null},
            "logprobs": null,
            "finish_reason": "stop"
        }],
        "usage": {
            "prompt_tokens": 19,
            "completion_tokens": 10,
            "total_tokens": 29,
            "prompt_tokens_details": {"cached_tokens": 4, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0}
        }
    })
}

#[tokio::test]
async fn openai_sends_the_documented_request_and_reads_the_answer() {
    let server = MockServer::start().await;
    mount(
        &server,
        "/v1/chat/completions",
        ResponseTemplate::new(200).set_body_json(openai_success()),
    )
    .await;
    // A trailing slash on the base URL is dropped.
    let cfg = config(Some(format!("{}/v1/", server.uri())));
    let provider = OpenAiChat::new(
        "openai:chat:gpt-4o-mini",
        "gpt-4o-mini",
        &cfg,
        &env(&[("OPENAI_API_KEY", KEY)]),
        reqwest::Client::new(),
    );
    assert_eq!(provider.id(), "openai:chat:gpt-4o-mini");
    assert_eq!(provider.check_ready(), Ok(()));

    let settings = ModelSettings {
        temperature: Some(0.0),
        max_tokens: Some(50),
        seed: Some(7),
        stop: Some(vec!["END".into()]),
        response_format: Some(json!({"type": "json_object"})),
        ..Default::default()
    };
    let messages = vec![
        Message::new("system", "Be brief."),
        Message::new("user", "Capital of France?"),
    ];
    let resp = provider
        .call(&request("gpt-4o-mini", messages, settings))
        .await
        .expect("success");

    let req = only_request(&server).await;
    assert_eq!(req.method.as_str(), "POST");
    assert_eq!(req.url.path(), "/v1/chat/completions");
    assert_eq!(header(&req, "authorization"), Some("Bearer sk-test-SECRET"));
    assert_eq!(header(&req, "content-type"), Some("application/json"));
    let sent = body(&req);
    assert_eq!(
        keys(&sent),
        [
            "max_tokens",
            "messages",
            "model",
            "response_format",
            "seed",
            "stop",
            "temperature"
        ]
    );
    assert_eq!(sent["model"], "gpt-4o-mini");
    assert_eq!(
        sent["messages"],
        json!([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Capital of France?"}])
    );
    assert_eq!(sent["temperature"], json!(0.0));
    assert_eq!(sent["max_tokens"], 50);
    assert_eq!(sent["seed"], 7);
    assert_eq!(sent["stop"], json!(["END"]));
    assert_eq!(sent["response_format"], json!({"type": "json_object"}));
    assert!(sent.get("top_p").is_none());

    assert_eq!(resp.output, "Paris.");
    assert_eq!(resp.finish_reason.as_deref(), Some("stop"));
    assert_eq!(
        resp.tokens,
        TokenUsage {
            input: Some(19),
            output: Some(10),
            cached_input: Some(4)
        }
    );
    assert_eq!(resp.cost_usd, None);
}

#[tokio::test]
async fn openai_compatible_server_without_key_gets_no_authorization_and_no_unset_settings() {
    let server = MockServer::start().await;
    mount(
        &server,
        "/v1/chat/completions",
        ResponseTemplate::new(200).set_body_json(openai_success()),
    )
    .await;
    let cfg = config(Some(format!("{}/v1", server.uri())));
    let provider = OpenAiChat::new("openai:chat:llama3", "llama3", &cfg, &env(&[]), reqwest::Client::new());
    assert_eq!(provider.check_ready(), Ok(()));
    provider
        .call(&request("llama3", user("hi"), ModelSettings::default()))
        .await
        .expect("success");

    let req = only_request(&server).await;
    assert_eq!(header(&req, "authorization"), None);
    let sent = body(&req);
    assert_eq!(keys(&sent), ["messages", "model"]);
    assert_eq!(sent["messages"], json!([{"role": "user", "content": "hi"}]));
}

#[tokio::test]
async fn openai_base_url_and_key_variable_come_from_the_environment() {
    let server = MockServer::start().await;
    mount(
        &server,
        "/proxy/v1/chat/completions",
        ResponseTemplate::new(200).set_body_json(openai_success()),
    )
    .await;
    let cfg = ProviderConfig {
        api_key_envar: Some("MY_OPENAI_KEY".into()),
        ..Default::default()
    };
    let vars = env(&[
        ("OPENAI_BASE_URL", &format!("{}/proxy/v1", server.uri())),
        ("MY_OPENAI_KEY", KEY),
    ]);
    let provider = OpenAiChat::new("openai:gpt-4o", "gpt-4o", &cfg, &vars, reqwest::Client::new());
    let resp = provider
        .call(&request("gpt-4o", user("hi"), ModelSettings::default()))
        .await
        .expect("success");
    assert_eq!(resp.output, "Paris.");
    let req = only_request(&server).await;
    assert_eq!(req.url.path(), "/proxy/v1/chat/completions");
    assert_eq!(header(&req, "authorization"), Some("Bearer sk-test-SECRET"));
}

#[tokio::test]
async fn openai_refusal_is_the_output_when_content_is_null() {
    let server = MockServer::start().await;
    let answer = json!({
        "choices": [{"index": 0, "message": {"role": "assistant", "content": null, "refusal": "I can't help with that."}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 7}
    });
    mount(
        &server,
        "/v1/chat/completions",
        ResponseTemplate::new(200).set_body_json(answer),
    )
    .await;
    let cfg = config(Some(format!("{}/v1", server.uri())));
    let provider = OpenAiChat::new(
        "openai:chat:gpt-4o",
        "gpt-4o",
        &cfg,
        &env(&[("OPENAI_API_KEY", KEY)]),
        reqwest::Client::new(),
    );
    let resp = provider
        .call(&request("gpt-4o", user("x"), ModelSettings::default()))
        .await
        .expect("success");
    assert_eq!(resp.output, "I can't help with that.");
    assert_eq!(
        resp.tokens,
        TokenUsage {
            input: Some(5),
            output: Some(7),
            cached_input: None
        }
    );
}

#[tokio::test]
async fn openai_choice_without_text_is_invalid_not_an_empty_answer() {
    // Null content and no refusal: filtered, or tool calls only. An empty
    // output would pass `not-contains` assertions, so it must be an error.
    let filtered = json!({"role": "assistant", "content": null, "refusal": null});
    let tool_calls = json!({"role": "assistant", "content": null, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}
    ]});
    let no_content = json!({"role": "assistant"});
    for (message, finish_reason, shown) in [
        (filtered, json!("content_filter"), "content_filter"),
        (tool_calls, json!("tool_calls"), "tool_calls"),
        (no_content, Value::Null, "none"),
    ] {
        let server = MockServer::start().await;
        let answer = json!({
            "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 0}
        });
        mount(
            &server,
            "/v1/chat/completions",
            ResponseTemplate::new(200).set_body_json(answer),
        )
        .await;
        let cfg = config(Some(format!("{}/v1", server.uri())));
        let provider = OpenAiChat::new(
            "openai:chat:gpt-4o",
            "gpt-4o",
            &cfg,
            &env(&[("OPENAI_API_KEY", KEY)]),
            reqwest::Client::new(),
        );
        let err = provider
            .call(&request("gpt-4o", user("x"), ModelSettings::default()))
            .await
            .expect_err("no text");
        assert_eq!(
            err,
            ProviderError::InvalidResponse {
                provider: "openai:chat:gpt-4o".into(),
                message: format!("the response has no text (finish_reason: {shown})"),
            }
        );
        assert!(
            err.to_string().ends_with(&format!(
                "unexpected response: the response has no text (finish_reason: {shown})"
            )),
            "{err}"
        );
        assert_no_key(&err);
    }
}

#[tokio::test]
async fn openai_explicit_empty_content_is_an_empty_answer() {
    let server = MockServer::start().await;
    let answer = json!({
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "", "refusal": null}, "finish_reason": "stop"}]
    });
    mount(
        &server,
        "/v1/chat/completions",
        ResponseTemplate::new(200).set_body_json(answer),
    )
    .await;
    let cfg = config(Some(format!("{}/v1", server.uri())));
    let provider = OpenAiChat::new("openai:chat:m", "m", &cfg, &env(&[]), reqwest::Client::new());
    let resp = provider
        .call(&request("m", user("x"), ModelSettings::default()))
        .await
        .expect("an explicit empty string is a valid answer");
    assert_eq!(resp.output, "");
    assert_eq!(resp.finish_reason.as_deref(), Some("stop"));
}

#[tokio::test]
async fn openai_error_body_is_an_http_error_with_the_message_and_code() {
    let server = MockServer::start().await;
    let error = json!({"error": {
        "message": "Incorrect API key provided: sk-test-****CRET. You can find your API key at https://platform.openai.com/account/api-keys.",
        "type": "invalid_request_error",
        "param": null,
        "code": "invalid_api_key"
    }});
    mount(
        &server,
        "/v1/chat/completions",
        ResponseTemplate::new(401).set_body_json(error),
    )
    .await;
    let cfg = config(Some(format!("{}/v1", server.uri())));
    let provider = OpenAiChat::new(
        "openai:chat:gpt-4o",
        "gpt-4o",
        &cfg,
        &env(&[("OPENAI_API_KEY", KEY)]),
        reqwest::Client::new(),
    );
    let err = provider
        .call(&request("gpt-4o", user("x"), ModelSettings::default()))
        .await
        .expect_err("401");
    match &err {
        ProviderError::Http {
            provider,
            status,
            message,
            ..
        } => {
            assert_eq!(provider, "openai:chat:gpt-4o");
            assert_eq!(*status, 401);
            assert!(message.starts_with("Incorrect API key provided"), "{message}");
            assert!(
                message.ends_with(" (invalid_api_key) [the API key is read from $OPENAI_API_KEY]"),
                "{message}"
            );
        }
        other => panic!("expected Http, got {other:?}"),
    }
    assert_no_key(&err);
}

/// An OpenAI provider at `server` behind the retry layer (fast backoff).
fn resilient_openai(server: &MockServer) -> promptgate::provider::resilience::Resilient {
    let cfg = ProviderConfig {
        retry_delay_ms: Some(1),
        retries: Some(2),
        ..config(Some(format!("{}/v1", server.uri())))
    };
    let inner = OpenAiChat::new(
        "openai:chat:gpt-4o",
        "gpt-4o",
        &cfg,
        &env(&[("OPENAI_API_KEY", KEY)]),
        reqwest::Client::new(),
    );
    promptgate::provider::resilience::Resilient::new(std::sync::Arc::new(inner), &cfg)
}

#[tokio::test]
async fn openai_insufficient_quota_is_read_from_the_error_body_and_never_retried() {
    // The documented body (https://platform.openai.com/docs/guides/error-codes).
    let server = MockServer::start().await;
    let error = json!({"error": {
        "message": "You exceeded your current quota, please check your plan and billing details.",
        "type": "insufficient_quota",
        "param": null,
        "code": "insufficient_quota"
    }});
    mount(
        &server,
        "/v1/chat/completions",
        ResponseTemplate::new(429).set_body_json(error),
    )
    .await;
    let err = resilient_openai(&server)
        .call(&request("gpt-4o", user("x"), ModelSettings::default()))
        .await
        .expect_err("429");
    match &err {
        ProviderError::Http {
            status,
            error_type,
            code,
            ..
        } => {
            assert_eq!(*status, 429);
            assert_eq!(error_type.as_deref(), Some("insufficient_quota"));
            assert_eq!(code.as_deref(), Some("insufficient_quota"));
        }
        other => panic!("expected Http, got {other:?}"),
    }
    assert!(!err.is_retryable());
    assert_eq!(server.received_requests().await.unwrap().len(), 1, "never retried");

    // A rate limit is decided by its code, not by words in its message.
    let server = MockServer::start().await;
    let error = json!({"error": {
        "message": "Rate limit reached (this is not insufficient_quota: slow down)",
        "type": "requests",
        "param": null,
        "code": "rate_limit_exceeded"
    }});
    mount(
        &server,
        "/v1/chat/completions",
        ResponseTemplate::new(429).set_body_json(error),
    )
    .await;
    let err = resilient_openai(&server)
        .call(&request("gpt-4o", user("x"), ModelSettings::default()))
        .await
        .expect_err("429 every time");
    assert!(err.to_string().contains("gave up after 3 attempts"), "{err}");
    assert_eq!(server.received_requests().await.unwrap().len(), 3, "retried");
}

#[tokio::test]
async fn openai_non_json_error_body_is_truncated() {
    let server = MockServer::start().await;
    let html = format!("<html>{}</html>", "bad gateway ".repeat(200));
    mount(
        &server,
        "/v1/chat/completions",
        ResponseTemplate::new(502).set_body_string(html),
    )
    .await;
    let cfg = config(Some(format!("{}/v1", server.uri())));
    let provider = OpenAiChat::new("openai:chat:m", "m", &cfg, &env(&[]), reqwest::Client::new());
    let err = provider
        .call(&request("m", user("x"), ModelSettings::default()))
        .await
        .expect_err("502");
    match err {
        ProviderError::Http {
            status: 502, message, ..
        } => {
            assert!(message.starts_with("<html>bad gateway"), "{message}");
            assert!(
                message.chars().count() <= 501,
                "not truncated: {} chars",
                message.chars().count()
            );
        }
        other => panic!("expected Http 502, got {other:?}"),
    }
}

#[tokio::test]
async fn openai_success_body_that_is_not_a_completion_is_invalid() {
    for answer in [
        ResponseTemplate::new(200).set_body_string("not json"),
        ResponseTemplate::new(200).set_body_json(json!({"choices": []})),
        ResponseTemplate::new(200).set_body_json(json!({"object": "list"})),
    ] {
        let server = MockServer::start().await;
        mount(&server, "/v1/chat/completions", answer).await;
        let cfg = config(Some(format!("{}/v1", server.uri())));
        let provider = OpenAiChat::new(
            "openai:chat:m",
            "m",
            &cfg,
            &env(&[("OPENAI_API_KEY", KEY)]),
            reqwest::Client::new(),
        );
        let err = provider
            .call(&request("m", user("x"), ModelSettings::default()))
            .await
            .expect_err("invalid");
        assert!(
            matches!(
                err,
                ProviderError::InvalidResponse { .. } | ProviderError::Malformed { .. }
            ),
            "{err:?}"
        );
        assert_no_key(&err);
    }
}

#[tokio::test]
async fn openai_public_endpoint_without_key_is_missing_api_key() {
    // No base URL: the public endpoint, which needs a key. The error comes
    // before any request (this test has no network to reach it anyway).
    let provider = OpenAiChat::new(
        "openai:chat:gpt-4o",
        "gpt-4o",
        &config(None),
        &env(&[]),
        reqwest::Client::new(),
    );
    let expected = ProviderError::MissingApiKey {
        provider: "openai:chat:gpt-4o".into(),
        var: "OPENAI_API_KEY".into(),
    };
    assert_eq!(provider.check_ready(), Err(expected.clone()));
    assert_eq!(
        provider
            .call(&request("gpt-4o", user("x"), ModelSettings::default()))
            .await,
        Err(expected)
    );

    // The public endpoint spelled out (trailing slash too), with a custom key variable.
    let cfg = ProviderConfig {
        api_key_envar: Some("TEAM_OPENAI_KEY".into()),
        ..Default::default()
    };
    let vars = env(&[
        ("OPENAI_BASE_URL", "https://api.openai.com/v1/"),
        ("OPENAI_API_KEY", KEY),
    ]);
    let provider = OpenAiChat::new("openai:gpt-4o", "gpt-4o", &cfg, &vars, reqwest::Client::new());
    let err = provider.check_ready().expect_err("missing");
    assert_eq!(
        err,
        ProviderError::MissingApiKey {
            provider: "openai:gpt-4o".into(),
            var: "TEAM_OPENAI_KEY".into()
        }
    );
    assert!(err.to_string().contains("TEAM_OPENAI_KEY"));
}

// ---------------------------------------------------------------- Anthropic

fn anthropic_success() -> Value {
    json!({
        "id": "msg_013Zva2CMHLNnXjNJJKqJ2EF",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": [
            {"type": "text", "text": "Hello"},
            {"type": "tool_use", "id": "toolu_1", "name": "noop", "input": {}},
            {"type": "text", "text": ", world"}
        ],
        "stop_reason": "end_turn",
        "stop_sequence": null,
        "usage": {
            "input_tokens": 2095,
            "output_tokens": 503,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 1800
        }
    })
}

#[tokio::test]
async fn anthropic_sends_the_documented_request_and_reads_the_answer() {
    let server = MockServer::start().await;
    mount(
        &server,
        "/v1/messages",
        ResponseTemplate::new(200).set_body_json(anthropic_success()),
    )
    .await;
    let cfg = config(Some(format!("{}/", server.uri())));
    let provider = AnthropicMessages::new(
        "anthropic:messages:claude-sonnet-4-5",
        "claude-sonnet-4-5",
        &cfg,
        &env(&[("ANTHROPIC_API_KEY", KEY)]),
        reqwest::Client::new(),
    );
    assert_eq!(provider.id(), "anthropic:messages:claude-sonnet-4-5");
    assert_eq!(provider.check_ready(), Ok(()));

    let settings = ModelSettings {
        temperature: Some(0.2),
        top_p: Some(0.9),
        seed: Some(42),
        stop: Some(vec!["\n\nHuman:".into()]),
        response_format: Some(json!({"type": "json_object"})),
        ..Default::default()
    };
    let messages = vec![
        Message::new("system", "You are terse."),
        Message::new("user", "Hi"),
        Message::new("assistant", "Hello."),
        Message::new("system", "Answer in English."),
        Message::new("user", "Greet the world"),
    ];
    let resp = provider
        .call(&request("claude-sonnet-4-5", messages, settings))
        .await
        .expect("success");

    let req = only_request(&server).await;
    assert_eq!(req.method.as_str(), "POST");
    assert_eq!(req.url.path(), "/v1/messages");
    assert_eq!(header(&req, "x-api-key"), Some(KEY));
    assert_eq!(header(&req, "anthropic-version"), Some("2023-06-01"));
    assert_eq!(header(&req, "content-type"), Some("application/json"));
    assert_eq!(header(&req, "authorization"), None);
    let sent = body(&req);
    assert_eq!(
        keys(&sent),
        [
            "max_tokens",
            "messages",
            "model",
            "stop_sequences",
            "system",
            "temperature",
            "top_p"
        ]
    );
    assert_eq!(sent["model"], "claude-sonnet-4-5");
    assert_eq!(
        sent["max_tokens"], 1024,
        "the API requires max_tokens; the default is 1024"
    );
    assert_eq!(sent["system"], "You are terse.\n\nAnswer in English.");
    assert_eq!(
        sent["messages"],
        json!([
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello."},
            {"role": "user", "content": "Greet the world"}
        ])
    );
    assert_eq!(sent["temperature"], json!(0.2));
    assert_eq!(sent["top_p"], json!(0.9));
    assert_eq!(sent["stop_sequences"], json!(["\n\nHuman:"]));
    for absent in ["seed", "response_format", "stop"] {
        assert!(sent.get(absent).is_none(), "`{absent}` must not be sent to Anthropic");
    }

    assert_eq!(resp.output, "Hello, world");
    assert_eq!(resp.finish_reason.as_deref(), Some("end_turn"));
    assert_eq!(
        resp.tokens,
        TokenUsage {
            input: Some(2095),
            output: Some(503),
            cached_input: Some(1800)
        }
    );
}

#[tokio::test]
async fn anthropic_cache_system_prompt_marks_the_system_block_and_reads_cache_tokens() {
    let server = MockServer::start().await;
    mount(
        &server,
        "/v1/messages",
        ResponseTemplate::new(200).set_body_json(json!({
            "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
            "content": [{"type": "text", "text": "ok"}], "stop_reason": "end_turn",
            "usage": {"input_tokens": 10, "output_tokens": 2,
                      "cache_creation_input_tokens": 1500, "cache_read_input_tokens": 0}
        })),
    )
    .await;
    let cfg = ProviderConfig {
        api_base_url: Some(server.uri()),
        cache_system_prompt: Some(true),
        ..Default::default()
    };
    let provider = AnthropicMessages::new(
        "anthropic:messages:claude-sonnet-4-5",
        "claude-sonnet-4-5",
        &cfg,
        &env(&[("ANTHROPIC_API_KEY", KEY)]),
        reqwest::Client::new(),
    );
    let messages = vec![Message::new("system", "Long policy."), Message::new("user", "Hi")];
    let resp = provider
        .call(&request("claude-sonnet-4-5", messages, ModelSettings::default()))
        .await
        .expect("success");
    let sent = body(&only_request(&server).await);
    assert_eq!(
        sent["system"],
        json!([{"type": "text", "text": "Long policy.", "cache_control": {"type": "ephemeral"}}])
    );
    assert_eq!(resp.cache_write_tokens, Some(1500));
    // Priced with the 1.25x write multiplier: 10 x $3 + 1500 x $3.75 + 2 x $15 per million.
    let usd = promptgate::provider::pricing::PriceTable::default()
        .cost("anthropic:messages:claude-sonnet-4-5", "claude-sonnet-4-5", None, &resp)
        .unwrap();
    assert!(
        (usd - (10.0 * 3.0 + 1500.0 * 3.75 + 2.0 * 15.0) / 1e6).abs() < 1e-12,
        "{usd}"
    );
}

#[tokio::test]
async fn anthropic_minimal_request_from_env_base_url() {
    let server = MockServer::start().await;
    mount(
        &server,
        "/v1/messages",
        ResponseTemplate::new(200).set_body_json(anthropic_success()),
    )
    .await;
    let cfg = ProviderConfig {
        api_key_envar: Some("CLAUDE_KEY".into()),
        ..Default::default()
    };
    let vars = env(&[("ANTHROPIC_BASE_URL", &server.uri()), ("CLAUDE_KEY", KEY)]);
    let provider = AnthropicMessages::new("anthropic:messages:m", "m", &cfg, &vars, reqwest::Client::new());
    let settings = ModelSettings {
        max_tokens: Some(64),
        ..Default::default()
    };
    provider
        .call(&request("m", user("hi"), settings))
        .await
        .expect("success");

    let req = only_request(&server).await;
    assert_eq!(header(&req, "x-api-key"), Some(KEY));
    let sent = body(&req);
    assert_eq!(keys(&sent), ["max_tokens", "messages", "model"]);
    assert_eq!(sent["max_tokens"], 64);
}

#[tokio::test]
async fn anthropic_overloaded_is_an_http_error_with_type_and_message() {
    let server = MockServer::start().await;
    let error = json!({
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
        "request_id": "req_011CSHoEeqs5C35K2UUqR7Fy"
    });
    mount(&server, "/v1/messages", ResponseTemplate::new(529).set_body_json(error)).await;
    let provider = AnthropicMessages::new(
        "anthropic:messages:m",
        "m",
        &config(Some(server.uri())),
        &env(&[("ANTHROPIC_API_KEY", KEY)]),
        reqwest::Client::new(),
    );
    let err = provider
        .call(&request("m", user("x"), ModelSettings::default()))
        .await
        .expect_err("529");
    assert_eq!(
        err,
        ProviderError::Http {
            provider: "anthropic:messages:m".into(),
            status: 529,
            message: "overloaded_error: Overloaded".into(),
            retry_after_ms: None,
            error_type: Some("overloaded_error".into()),
            code: None,
        }
    );
    assert_no_key(&err);
}

#[tokio::test]
async fn anthropic_response_without_text_blocks_is_invalid_not_an_empty_answer() {
    let refusal = json!({
        "id": "msg_01", "type": "message", "role": "assistant", "model": "m",
        "content": [], "stop_reason": "refusal", "stop_sequence": null,
        "usage": {"input_tokens": 10, "output_tokens": 0}
    });
    let tool_use = json!({
        "id": "msg_02", "type": "message", "role": "assistant", "model": "m",
        "content": [{"type": "tool_use", "id": "toolu_01", "name": "lookup", "input": {}}],
        "stop_reason": "tool_use", "stop_sequence": null,
        "usage": {"input_tokens": 10, "output_tokens": 5}
    });
    let no_reason = json!({"content": []});
    for (answer, shown) in [(refusal, "refusal"), (tool_use, "tool_use"), (no_reason, "none")] {
        let server = MockServer::start().await;
        mount(
            &server,
            "/v1/messages",
            ResponseTemplate::new(200).set_body_json(answer),
        )
        .await;
        let provider = AnthropicMessages::new(
            "anthropic:messages:m",
            "m",
            &config(Some(server.uri())),
            &env(&[("ANTHROPIC_API_KEY", KEY)]),
            reqwest::Client::new(),
        );
        let err = provider
            .call(&request("m", user("x"), ModelSettings::default()))
            .await
            .expect_err("no text");
        assert_eq!(
            err,
            ProviderError::InvalidResponse {
                provider: "anthropic:messages:m".into(),
                message: format!("the response has no text (stop_reason: {shown})"),
            }
        );
        assert_no_key(&err);
    }
}

#[tokio::test]
async fn anthropic_explicit_empty_text_block_is_an_empty_answer() {
    let server = MockServer::start().await;
    let answer = json!({
        "content": [{"type": "text", "text": ""}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 10, "output_tokens": 0}
    });
    mount(
        &server,
        "/v1/messages",
        ResponseTemplate::new(200).set_body_json(answer),
    )
    .await;
    let provider = AnthropicMessages::new(
        "anthropic:messages:m",
        "m",
        &config(Some(server.uri())),
        &env(&[("ANTHROPIC_API_KEY", KEY)]),
        reqwest::Client::new(),
    );
    let resp = provider
        .call(&request("m", user("x"), ModelSettings::default()))
        .await
        .expect("an explicit empty text block is a valid answer");
    assert_eq!(resp.output, "");
    assert_eq!(resp.finish_reason.as_deref(), Some("end_turn"));
}

#[tokio::test]
async fn anthropic_without_key_is_missing_api_key_and_sends_nothing() {
    let server = MockServer::start().await;
    mount(
        &server,
        "/v1/messages",
        ResponseTemplate::new(200).set_body_json(anthropic_success()),
    )
    .await;
    for (cfg, var) in [
        (config(Some(server.uri())), "ANTHROPIC_API_KEY"),
        (
            ProviderConfig {
                api_key_envar: Some("CLAUDE_KEY".into()),
                ..config(Some(server.uri()))
            },
            "CLAUDE_KEY",
        ),
    ] {
        // The default variable is set but empty, which counts as unset.
        let provider = AnthropicMessages::new(
            "anthropic:messages:m",
            "m",
            &cfg,
            &env(&[("ANTHROPIC_API_KEY", "")]),
            reqwest::Client::new(),
        );
        let expected = ProviderError::MissingApiKey {
            provider: "anthropic:messages:m".into(),
            var: var.into(),
        };
        assert_eq!(provider.check_ready(), Err(expected.clone()));
        let err = provider
            .call(&request("m", user("x"), ModelSettings::default()))
            .await
            .expect_err("missing key");
        assert_eq!(err, expected);
        assert!(err.to_string().contains(var));
    }
    assert_eq!(server.received_requests().await.unwrap_or_default().len(), 0);
}

// ---------------------------------------------------------------- Ollama

fn ollama_success() -> Value {
    json!({
        "model": "llama3.2",
        "created_at": "2023-12-12T14:13:43.416799Z",
        "message": {"role": "assistant", "content": "{\"city\": \"Paris\"}"},
        "done": true,
        "done_reason": "stop",
        "total_duration": 5_191_566_416_u64,
        "load_duration": 2_154_458,
        "prompt_eval_count": 26,
        "prompt_eval_duration": 383_809_000,
        "eval_count": 298,
        "eval_duration": 4_799_921_000_u64
    })
}

#[tokio::test]
async fn ollama_sends_the_documented_request_and_reads_the_answer() {
    let server = MockServer::start().await;
    mount(
        &server,
        "/api/chat",
        ResponseTemplate::new(200).set_body_json(ollama_success()),
    )
    .await;
    // OLLAMA_HOST is often written without a scheme.
    let host = server.uri().trim_start_matches("http://").to_string();
    let provider = OllamaChat::new(
        "ollama:chat:llama3.2",
        "llama3.2",
        &config(None),
        &env(&[("OLLAMA_HOST", &host)]),
        reqwest::Client::new(),
    );
    assert_eq!(provider.id(), "ollama:chat:llama3.2");
    assert_eq!(provider.check_ready(), Ok(()));

    let schema = json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]});
    let settings = ModelSettings {
        temperature: Some(0.0),
        seed: Some(1),
        max_tokens: Some(100),
        stop: Some(vec!["}".into()]),
        response_format: Some(
            json!({"type": "json_schema", "json_schema": {"name": "answer", "schema": schema.clone(), "strict": true}}),
        ),
        ..Default::default()
    };
    let messages = vec![
        Message::new("system", "Reply in JSON."),
        Message::new("user", "Capital of France?"),
    ];
    let resp = provider
        .call(&request("llama3.2", messages, settings))
        .await
        .expect("success");

    let req = only_request(&server).await;
    assert_eq!(req.method.as_str(), "POST");
    assert_eq!(req.url.path(), "/api/chat");
    assert_eq!(header(&req, "content-type"), Some("application/json"));
    assert_eq!(header(&req, "authorization"), None);
    let sent = body(&req);
    assert_eq!(keys(&sent), ["format", "messages", "model", "options", "stream"]);
    assert_eq!(sent["model"], "llama3.2");
    assert_eq!(sent["stream"], json!(false));
    assert_eq!(
        sent["messages"],
        json!([{"role": "system", "content": "Reply in JSON."}, {"role": "user", "content": "Capital of France?"}])
    );
    assert_eq!(
        sent["options"],
        json!({"temperature": 0.0, "seed": 1, "num_predict": 100, "stop": ["}"]})
    );
    assert_eq!(sent["format"], schema);

    assert_eq!(resp.output, "{\"city\": \"Paris\"}");
    assert_eq!(resp.finish_reason.as_deref(), Some("stop"));
    assert_eq!(
        resp.tokens,
        TokenUsage {
            input: Some(26),
            output: Some(298),
            cached_input: None
        }
    );
}

#[tokio::test]
async fn ollama_minimal_request_has_no_options_and_json_object_is_format_json() {
    let server = MockServer::start().await;
    mount(
        &server,
        "/api/chat",
        ResponseTemplate::new(200).set_body_json(ollama_success()),
    )
    .await;
    let provider = OllamaChat::new(
        "ollama:chat:llama3.2",
        "llama3.2",
        &config(Some(server.uri())),
        &env(&[]),
        reqwest::Client::new(),
    );
    provider
        .call(&request("llama3.2", user("hi"), ModelSettings::default()))
        .await
        .expect("success");
    let settings = ModelSettings {
        response_format: Some(json!({"type": "json_object"})),
        ..Default::default()
    };
    provider
        .call(&request("llama3.2", user("hi"), settings))
        .await
        .expect("success");

    let received = server.received_requests().await.unwrap_or_default();
    assert_eq!(received.len(), 2);
    let plain = body(&received[0]);
    assert_eq!(keys(&plain), ["messages", "model", "stream"]);
    assert_eq!(plain["stream"], json!(false));
    let json_mode = body(&received[1]);
    assert_eq!(keys(&json_mode), ["format", "messages", "model", "stream"]);
    assert_eq!(json_mode["format"], "json");
}

#[tokio::test]
async fn ollama_message_without_content_is_invalid_not_an_empty_answer() {
    for (message, done_reason, shown) in [
        (json!({"role": "assistant"}), json!("stop"), "stop"),
        (json!({"role": "assistant", "content": null}), json!("length"), "length"),
        (json!({"role": "assistant", "content": null}), Value::Null, "none"),
    ] {
        let server = MockServer::start().await;
        let answer = json!({"model": "llama3.2", "message": message, "done": true, "done_reason": done_reason});
        mount(&server, "/api/chat", ResponseTemplate::new(200).set_body_json(answer)).await;
        let provider = OllamaChat::new(
            "ollama:chat:llama3.2",
            "llama3.2",
            &config(Some(server.uri())),
            &env(&[]),
            reqwest::Client::new(),
        );
        let err = provider
            .call(&request("llama3.2", user("x"), ModelSettings::default()))
            .await
            .expect_err("no text");
        assert_eq!(
            err,
            ProviderError::InvalidResponse {
                provider: "ollama:chat:llama3.2".into(),
                message: format!("the response has no text (done_reason: {shown})"),
            }
        );
    }
}

#[tokio::test]
async fn ollama_explicit_empty_content_is_an_empty_answer() {
    let server = MockServer::start().await;
    let answer = json!({"model": "llama3.2", "message": {"role": "assistant", "content": ""}, "done": true, "done_reason": "stop"});
    mount(&server, "/api/chat", ResponseTemplate::new(200).set_body_json(answer)).await;
    let provider = OllamaChat::new(
        "ollama:chat:llama3.2",
        "llama3.2",
        &config(Some(server.uri())),
        &env(&[]),
        reqwest::Client::new(),
    );
    let resp = provider
        .call(&request("llama3.2", user("x"), ModelSettings::default()))
        .await
        .expect("an explicit empty string is a valid answer");
    assert_eq!(resp.output, "");
    assert_eq!(resp.finish_reason.as_deref(), Some("stop"));
}

#[tokio::test]
async fn ollama_model_not_found_is_an_http_error() {
    let server = MockServer::start().await;
    mount(
        &server,
        "/api/chat",
        ResponseTemplate::new(404).set_body_json(json!({"error": "model \"nope\" not found, try pulling it first"})),
    )
    .await;
    let provider = OllamaChat::new(
        "ollama:chat:nope",
        "nope",
        &config(Some(server.uri())),
        &env(&[]),
        reqwest::Client::new(),
    );
    let err = provider
        .call(&request("nope", user("x"), ModelSettings::default()))
        .await
        .expect_err("404");
    assert_eq!(
        err,
        ProviderError::Http {
            provider: "ollama:chat:nope".into(),
            status: 404,
            message: "model \"nope\" not found, try pulling it first".into(),
            retry_after_ms: None,
            error_type: None,
            code: None,
        }
    );
}

// ---------------------------------------------------------------- transport

/// A 127.0.0.1 port that nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    port
}

#[tokio::test]
async fn connection_refused_is_a_transport_error_without_the_key() {
    let base = format!("http://127.0.0.1:{}", closed_port());
    let openai = OpenAiChat::new(
        "openai:chat:m",
        "m",
        &config(Some(format!("{base}/v1"))),
        &env(&[("OPENAI_API_KEY", KEY)]),
        reqwest::Client::new(),
    );
    let anthropic = AnthropicMessages::new(
        "anthropic:messages:m",
        "m",
        &config(Some(base.clone())),
        &env(&[("ANTHROPIC_API_KEY", KEY)]),
        reqwest::Client::new(),
    );
    let ollama = OllamaChat::new(
        "ollama:chat:m",
        "m",
        &config(Some(base)),
        &env(&[]),
        reqwest::Client::new(),
    );
    let req = request("m", user("x"), ModelSettings::default());
    for err in [
        openai.call(&req).await.expect_err("refused"),
        anthropic.call(&req).await.expect_err("refused"),
        ollama.call(&req).await.expect_err("refused"),
    ] {
        assert!(matches!(err, ProviderError::Transport { .. }), "{err:?}");
        assert_no_key(&err);
    }
}

#[tokio::test]
async fn slow_answer_is_a_transport_timeout() {
    let server = MockServer::start().await;
    let slow = ResponseTemplate::new(200)
        .set_body_json(anthropic_success())
        .set_delay(Duration::from_secs(5));
    mount(&server, "/v1/messages", slow).await;
    let cfg = ProviderConfig {
        api_base_url: Some(server.uri()),
        timeout_ms: Some(200),
        ..Default::default()
    };
    let provider = AnthropicMessages::new(
        "anthropic:messages:m",
        "m",
        &cfg,
        &env(&[("ANTHROPIC_API_KEY", KEY)]),
        reqwest::Client::new(),
    );
    let started = Instant::now();
    let err = provider
        .call(&request("m", user("x"), ModelSettings::default()))
        .await
        .expect_err("timeout");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "the timeout was not applied"
    );
    match &err {
        ProviderError::Transport { message, .. } => {
            assert!(message.contains("timed out after 200 ms"), "{message}")
        }
        other => panic!("expected Transport, got {other:?}"),
    }
    assert_no_key(&err);
}

#[tokio::test]
async fn build_wires_ids_to_providers() {
    let server = MockServer::start().await;
    mount(
        &server,
        "/v1/chat/completions",
        ResponseTemplate::new(200).set_body_json(openai_success()),
    )
    .await;
    let cfg = config(Some(format!("{}/v1", server.uri())));
    let provider = build(
        "openai:gpt-4o-mini",
        &cfg,
        &env(&[]),
        &reqwest::Client::new(),
        Path::new("."),
    )
    .expect("builds");
    assert_eq!(provider.id(), "openai:gpt-4o-mini");
    let resp = provider
        .call(&request("gpt-4o-mini", user("x"), ModelSettings::default()))
        .await
        .expect("success");
    assert_eq!(resp.output, "Paris.");
    assert_eq!(body(&only_request(&server).await)["model"], "gpt-4o-mini");
}

// ---------------------------------------------------------------- exec

fn exec(command: &str, timeout_ms: Option<u64>, dir: &Path) -> Exec {
    let cfg = ProviderConfig {
        timeout_ms,
        ..Default::default()
    };
    Exec::new(&format!("exec:{command}"), command, &cfg, dir)
}

#[tokio::test]
async fn exec_cat_gets_the_prompt_on_stdin() {
    let provider = exec("cat", None, Path::new("."));
    assert_eq!(provider.id(), "exec:cat");
    let resp = provider
        .call(&request("", user("line one\nline two"), ModelSettings::default()))
        .await
        .expect("success");
    assert_eq!(resp.output, "line one\nline two");

    let messages = vec![Message::new("system", "s"), Message::new("user", "u")];
    let resp = provider
        .call(&request("", messages, ModelSettings::default()))
        .await
        .expect("success");
    assert_eq!(
        resp.output,
        r#"[{"role":"system","content":"s"},{"role":"user","content":"u"}]"#
    );
}

#[tokio::test]
async fn exec_trims_exactly_one_trailing_newline_and_runs_in_the_work_dir() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("answer.txt"), "from the work dir\n\n").expect("write");
    let resp = exec("cat answer.txt", None, dir.path())
        .call(&request("", user("ignored"), ModelSettings::default()))
        .await
        .expect("success");
    assert_eq!(resp.output, "from the work dir\n");
}

#[tokio::test]
async fn exec_that_ignores_a_large_stdin_still_answers() {
    let big = "x".repeat(2 * 1024 * 1024);
    let resp = exec("echo ok", None, Path::new("."))
        .call(&request("", user(&big), ModelSettings::default()))
        .await
        .expect("success");
    assert_eq!(resp.output, "ok");
}

#[tokio::test]
async fn exec_nonzero_exit_is_an_exec_error_with_stderr() {
    let provider = exec(
        "cat >/dev/null; echo 'model crashed: bad input' >&2; exit 3",
        None,
        Path::new("."),
    );
    let err = provider
        .call(&request("", user("x"), ModelSettings::default()))
        .await
        .expect_err("exit 3");
    match &err {
        ProviderError::Exec { provider, message } => {
            assert!(provider.starts_with("exec:"));
            assert!(message.contains("model crashed: bad input"), "{message}");
            assert!(message.contains('3'), "{message}");
        }
        other => panic!("expected Exec, got {other:?}"),
    }
}

#[tokio::test]
async fn exec_keeps_only_the_end_of_a_long_stderr() {
    let provider = exec(
        "head -c 3000 /dev/zero | tr '\\0' a >&2; echo END >&2; exit 1",
        None,
        Path::new("."),
    );
    let err = provider
        .call(&request("", user("x"), ModelSettings::default()))
        .await
        .expect_err("exit 1");
    let message = err.to_string();
    assert!(message.contains("aaaEND"), "{message}");
    assert!(
        message.chars().count() < 700,
        "stderr not cut: {} chars",
        message.chars().count()
    );
}

#[tokio::test]
async fn exec_timeout_kills_the_command() {
    let provider = exec("sleep 10", Some(200), Path::new("."));
    let started = Instant::now();
    let err = provider
        .call(&request("", user("x"), ModelSettings::default()))
        .await
        .expect_err("timeout");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the timeout was not applied"
    );
    match &err {
        ProviderError::Exec { message, .. } => {
            assert!(message.contains("timed out after 200 ms"), "{message}")
        }
        other => panic!("expected Exec, got {other:?}"),
    }
}

/// Whether the process `pid` still runs. A killed process whose parent is
/// gone may stay a zombie where PID 1 does not reap (in containers), and
/// `kill -0` succeeds on zombies: so where `/proc` exists, a process is gone
/// when `/proc/PID/stat` is missing or its state (the field after the `)`
/// closing the command name) is `Z` (zombie) or `X` (dead). `kill -0` is only
/// the fallback without `/proc`.
#[cfg(unix)]
fn process_exists(pid: &str) -> bool {
    if Path::new("/proc/self/stat").exists() {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            return false;
        };
        // The command name may itself hold `)` or spaces: split at the last `)`.
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("unexpected /proc/{pid}/stat: {stat:?}"));
        return !matches!(state, "Z" | "X");
    }
    std::process::Command::new("kill")
        .args(["-0", pid])
        .stderr(std::process::Stdio::null())
        .status()
        .expect("run kill -0")
        .success()
}

/// The pid a command wrote to `dir/pid`, and whether the process is gone
/// within five seconds.
#[cfg(unix)]
async fn background_pid_is_gone(dir: &Path) -> (String, bool) {
    let pid = std::fs::read_to_string(dir.join("pid")).expect("the command wrote its pid");
    let pid = pid.trim().to_string();
    assert!(pid.parse::<u32>().is_ok(), "not a pid: {pid:?}");
    for _ in 0..100 {
        if !process_exists(&pid) {
            return (pid, true);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (pid, false)
}

#[cfg(unix)]
#[tokio::test]
async fn exec_answers_when_sh_exits_and_kills_what_it_left_in_the_background() {
    let dir = tempfile::tempdir().expect("tempdir");
    let provider = exec("sleep 30 & echo $! > pid; echo hi", Some(5000), dir.path());
    let started = Instant::now();
    let resp = provider
        .call(&request("", user("x"), ModelSettings::default()))
        .await
        .expect("sh exited 0");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "waited for the background process: {:?}",
        started.elapsed()
    );
    assert_eq!(resp.output, "hi");
    let (pid, gone) = background_pid_is_gone(dir.path()).await;
    if !gone {
        let _ = std::process::Command::new("kill").args(["-9", &pid]).status();
    }
    assert!(gone, "the background `sleep 30` (pid {pid}) outlived the call");
}

#[cfg(unix)]
#[tokio::test]
async fn exec_timeout_kills_the_whole_process_group() {
    let dir = tempfile::tempdir().expect("tempdir");
    // 2 s leaves `sh` ample time to start the background `sleep 30` and write
    // its pid even on a loaded machine; the foreground `sleep 10` outlasts it,
    // so the call still ends by the timeout.
    let provider = exec("sleep 30 & echo $! > pid; sleep 10", Some(2000), dir.path());
    let started = Instant::now();
    let err = provider
        .call(&request("", user("x"), ModelSettings::default()))
        .await
        .expect_err("timeout");
    assert!(
        started.elapsed() < Duration::from_secs(9),
        "the timeout was not applied: {:?}",
        started.elapsed()
    );
    assert!(err.to_string().contains("timed out after 2000 ms"), "{err}");
    let (pid, gone) = background_pid_is_gone(dir.path()).await;
    if !gone {
        let _ = std::process::Command::new("kill").args(["-9", &pid]).status();
    }
    assert!(gone, "the background `sleep 30` (pid {pid}) outlived the timeout");
}

#[cfg(unix)]
#[tokio::test]
async fn exec_cancelled_call_kills_the_whole_process_group() {
    let dir = tempfile::tempdir().expect("tempdir");
    let provider = exec("sleep 30 & echo $! > pid; sleep 10", Some(60_000), dir.path());
    let req = request("", user("x"), ModelSettings::default());
    let call = provider.call(&req);
    // Drop the call once the command has written its pid.
    let waited = tokio::time::timeout(Duration::from_secs(5), async {
        tokio::pin!(call);
        loop {
            tokio::select! {
                r = &mut call => panic!("the call finished: {r:?}"),
                () = tokio::time::sleep(Duration::from_millis(50)) => {
                    if std::fs::read_to_string(dir.path().join("pid")).is_ok_and(|p| p.ends_with('\n')) {
                        return;
                    }
                }
            }
        }
    })
    .await;
    assert!(waited.is_ok(), "the command never wrote its pid");
    let (pid, gone) = background_pid_is_gone(dir.path()).await;
    if !gone {
        let _ = std::process::Command::new("kill").args(["-9", &pid]).status();
    }
    assert!(
        gone,
        "the background `sleep 30` (pid {pid}) outlived the cancelled call"
    );
}

#[tokio::test]
async fn exec_output_over_the_cap_is_an_exec_error() {
    let provider = exec("head -c 11000000 /dev/zero | tr '\\0' a", Some(60_000), Path::new("."));
    let err = provider
        .call(&request("", user("x"), ModelSettings::default()))
        .await
        .expect_err("too large");
    match &err {
        ProviderError::Exec { message, .. } => {
            assert!(message.contains("output exceeds 10 MiB"), "{message}")
        }
        other => panic!("expected Exec, got {other:?}"),
    }
}

#[tokio::test]
async fn exec_output_of_exactly_the_cap_is_kept_whole() {
    let provider = exec("head -c 10485760 /dev/zero | tr '\\0' a", Some(60_000), Path::new("."));
    let resp = provider
        .call(&request("", user("x"), ModelSettings::default()))
        .await
        .expect("exactly the cap is accepted");
    assert_eq!(resp.output.len(), 10 * 1024 * 1024);
}

#[tokio::test]
async fn exec_empty_stdout_with_exit_zero_is_an_empty_answer() {
    let resp = exec("true", None, Path::new("."))
        .call(&request("", user("x"), ModelSettings::default()))
        .await
        .expect("an empty answer");
    assert_eq!(resp.output, "");
}

#[tokio::test]
async fn exec_in_a_missing_dir_is_an_exec_error() {
    let provider = exec("cat", None, Path::new("/definitely/not/a/dir"));
    let err = provider
        .call(&request("", user("x"), ModelSettings::default()))
        .await
        .expect_err("no dir");
    assert!(matches!(err, ProviderError::Exec { .. }), "{err:?}");
}

#[tokio::test]
async fn max_completion_tokens_goes_to_openai_as_is_and_is_the_limit_elsewhere() {
    let settings = ModelSettings {
        max_completion_tokens: Some(64),
        ..Default::default()
    };

    let server = MockServer::start().await;
    mount(
        &server,
        "/v1/chat/completions",
        ResponseTemplate::new(200).set_body_json(openai_success()),
    )
    .await;
    let cfg = config(Some(format!("{}/v1", server.uri())));
    let provider = OpenAiChat::new(
        "openai:chat:o4-mini",
        "o4-mini",
        &cfg,
        &env(&[]),
        reqwest::Client::new(),
    );
    provider
        .call(&request("o4-mini", user("hi"), settings.clone()))
        .await
        .expect("success");
    let sent = body(&only_request(&server).await);
    assert_eq!(sent["max_completion_tokens"], json!(64));
    assert!(sent.get("max_tokens").is_none(), "{sent}");

    let server = MockServer::start().await;
    let anthropic_ok = json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "m",
        "content": [{"type": "text", "text": "ok"}], "stop_reason": "end_turn",
        "usage": {"input_tokens": 1, "output_tokens": 1}});
    mount(
        &server,
        "/v1/messages",
        ResponseTemplate::new(200).set_body_json(anthropic_ok),
    )
    .await;
    let provider = AnthropicMessages::new(
        "anthropic:messages:m",
        "m",
        &config(Some(server.uri())),
        &env(&[("ANTHROPIC_API_KEY", KEY)]),
        reqwest::Client::new(),
    );
    provider
        .call(&request("m", user("hi"), settings))
        .await
        .expect("success");
    let sent = body(&only_request(&server).await);
    assert_eq!(sent["max_tokens"], json!(64));
}
