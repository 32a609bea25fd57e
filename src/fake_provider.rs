//! A fake OpenAI-compatible chat completions server, for tests, benchmarks
//! and regenerating the example recordings. It speaks the documented wire
//! format (<https://platform.openai.com/docs/api-reference/chat/create>):
//! `POST /v1/chat/completions` (also `/chat/completions`) answers
//! `{id, object: "chat.completion", created, model, choices: [{index,
//! message: {role, content}, finish_reason}], usage}`.
//!
//! The reply is chosen by [`Rule`]s matched against the request's messages
//! (all contents joined by newlines); without a matching rule it echoes the
//! last message's content. Every answer waits `latency` first.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

/// One scripted answer: when `pattern` matches (and `unless` does not), reply `reply`.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Must match the joined message contents.
    pub pattern: regex::Regex,
    /// Must not match, when set.
    pub unless: Option<regex::Regex>,
    /// The answer.
    pub reply: String,
}

/// A rule as written in a script file (YAML list of `{match, unless?, reply}`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    #[serde(rename = "match")]
    pattern: String,
    #[serde(default)]
    unless: Option<String>,
    reply: String,
}

/// Parses a script file's text.
///
/// # Errors
/// Malformed YAML or an invalid regex, as a message.
pub fn parse_script(text: &str) -> Result<Vec<Rule>, String> {
    let raw: Vec<RawRule> = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
    raw.into_iter()
        .map(|r| {
            Ok(Rule {
                pattern: regex::Regex::new(&r.pattern).map_err(|e| e.to_string())?,
                unless: r
                    .unless
                    .map(|u| regex::Regex::new(&u))
                    .transpose()
                    .map_err(|e| e.to_string())?,
                reply: r.reply,
            })
        })
        .collect()
}

/// Server behaviour.
#[derive(Debug, Clone, Default)]
pub struct FakeConfig {
    /// Wait before answering.
    pub latency: Duration,
    /// Scripted answers, first match wins.
    pub rules: Vec<Rule>,
}

struct AppState {
    config: FakeConfig,
    requests: AtomicU64,
    in_flight: AtomicU64,
    max_in_flight: AtomicU64,
}

/// A running server.
pub struct FakeServer {
    /// Where it listens.
    pub addr: SocketAddr,
    state: Arc<AppState>,
    handle: tokio::task::JoinHandle<()>,
}

impl FakeServer {
    /// Base URL for `apiBaseUrl` / `OPENAI_BASE_URL` (`http://127.0.0.1:PORT/v1`).
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Requests answered so far.
    pub fn requests(&self) -> u64 {
        self.state.requests.load(Ordering::Relaxed)
    }

    /// The most requests that were in progress at the same time.
    pub fn max_in_flight(&self) -> u64 {
        self.state.max_in_flight.load(Ordering::SeqCst)
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

/// Starts a server on `addr` (use port 0 for any free port) inside the
/// current tokio runtime.
///
/// # Errors
/// The address cannot be bound.
pub async fn start(addr: SocketAddr, config: FakeConfig) -> std::io::Result<FakeServer> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let state = Arc::new(AppState {
        config,
        requests: AtomicU64::new(0),
        in_flight: AtomicU64::new(0),
        max_in_flight: AtomicU64::new(0),
    });
    let app = Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/chat/completions", post(chat))
        .with_state(state.clone());
    let handle = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(FakeServer { addr, state, handle })
}

async fn chat(State(state): State<Arc<AppState>>, body: axum::body::Bytes) -> (StatusCode, Json<Value>) {
    state.requests.fetch_add(1, Ordering::Relaxed);
    let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    state.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let answer = answer(&state, &body).await;
    state.in_flight.fetch_sub(1, Ordering::SeqCst);
    answer
}

async fn answer(state: &AppState, body: &[u8]) -> (StatusCode, Json<Value>) {
    let req: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                Json(
                    json!({"error": {"message": format!("invalid JSON body: {e}"), "type": "invalid_request_error", "param": null, "code": null}}),
                ),
            )
        }
    };
    let contents: Vec<&str> = req["messages"]
        .as_array()
        .map(|m| m.iter().filter_map(|x| x["content"].as_str()).collect())
        .unwrap_or_default();
    let joined = contents.join("\n");
    let reply = state
        .config
        .rules
        .iter()
        .find(|r| r.pattern.is_match(&joined) && !r.unless.as_ref().is_some_and(|u| u.is_match(&joined)))
        .map(|r| r.reply.clone())
        .unwrap_or_else(|| contents.last().copied().unwrap_or("").to_string());
    if !state.config.latency.is_zero() {
        tokio::time::sleep(state.config.latency).await;
    }
    let prompt_tokens = joined.len().div_ceil(4);
    let completion_tokens = reply.len().div_ceil(4);
    let n = state.requests.load(Ordering::Relaxed);
    (
        StatusCode::OK,
        Json(json!({
            "id": format!("chatcmpl-fake{n}"),
            "object": "chat.completion",
            "created": 1_700_000_000u64,
            "model": req["model"].as_str().unwrap_or("fake"),
            "system_fingerprint": "fp_fake",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": reply, "refusal": null}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "total_tokens": prompt_tokens + completion_tokens}
        })),
    )
}
