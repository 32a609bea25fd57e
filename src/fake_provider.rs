//! A fake OpenAI-compatible chat completions server, for tests, benchmarks
//! and regenerating the example recordings. It speaks the documented wire
//! format (<https://platform.openai.com/docs/api-reference/chat/create>):
//! `POST /v1/chat/completions` (also `/chat/completions`) answers
//! `{id, object: "chat.completion", created, model, choices: [{index,
//! message: {role, content}, finish_reason}], usage}`.
//!
//! The reply is chosen by [`Rule`]s matched against the request's messages
//! (all contents joined by newlines); without a matching rule it echoes the
//! last message's content (or, with [`FakeConfig::cycle`], the next of a
//! list of replies). Every answer waits `latency` first.
//!
//! Faults, for retry tests and the benchmark: a [`FaultMix`] answers a share
//! of requests with 429 (with `retry-after-ms`), 500 or a 200 whose body is
//! not JSON. The choice is deterministic: a hash of the request body and of
//! how many times that body was seen before, so a retry (the same body, one
//! more time) gets a fresh roll and two runs see the same faults. A
//! [`FakeConfig::scripted`] fault answers the first attempts of every request.

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

/// Why a script file could not be read; shown as the underlying error's text.
#[derive(Debug, thiserror::Error)]
pub enum ScriptError {
    /// Not a YAML list of `{match, unless?, reply}`.
    #[error(transparent)]
    Yaml(#[from] serde_yaml::Error),
    /// A `match` or `unless` that is not a valid regex.
    #[error(transparent)]
    Regex(#[from] regex::Error),
}

/// Parses a script file's text.
///
/// # Errors
/// [`ScriptError`]: malformed YAML or an invalid regex.
pub fn parse_script(text: &str) -> Result<Vec<Rule>, ScriptError> {
    let raw: Vec<RawRule> = serde_yaml::from_str(text)?;
    raw.into_iter()
        .map(|r| {
            Ok(Rule {
                pattern: regex::Regex::new(&r.pattern)?,
                unless: r.unless.map(|u| regex::Regex::new(&u)).transpose()?,
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
    /// Without a matching rule: the k-th time a request body is seen (from
    /// 0) it is answered `cycle[k % len]` instead of the echo.
    pub cycle: Vec<String>,
    /// Random-looking but deterministic faults.
    pub faults: FaultMix,
    /// `(fault, n)`: the first `n` attempts of every distinct request get `fault`.
    pub scripted: Option<(Fault, u32)>,
}

/// One way to fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// 429 `rate_limit_exceeded` with `retry-after-ms: MS`.
    RateLimited {
        /// The `retry-after-ms` value.
        retry_after_ms: u64,
    },
    /// 500 `server_error`.
    ServerError,
    /// 200 with a body that is not JSON.
    NotJson,
    /// 401 `invalid_api_key`.
    Unauthorized,
}

/// Shares (0–1) of requests answered with each fault.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FaultMix {
    /// Share answered 429.
    pub rate_limited: f64,
    /// Share answered 500.
    pub server_error: f64,
    /// Share answered 200 with a non-JSON body.
    pub not_json: f64,
    /// The `retry-after-ms` of the 429s.
    pub retry_after_ms: u64,
}

impl FaultMix {
    /// Issue 5's benchmark mix: 10% 429 (retry-after 50 ms), 5% 500, 1% non-JSON 200.
    pub fn standard() -> Self {
        FaultMix {
            rate_limited: 0.10,
            server_error: 0.05,
            not_json: 0.01,
            retry_after_ms: 50,
        }
    }

    /// The fault for a roll in [0, 1), if any.
    fn pick(&self, roll: f64) -> Option<Fault> {
        let mut edge = self.rate_limited;
        if roll < edge {
            return Some(Fault::RateLimited {
                retry_after_ms: self.retry_after_ms,
            });
        }
        edge += self.server_error;
        if roll < edge {
            return Some(Fault::ServerError);
        }
        edge += self.not_json;
        (roll < edge).then_some(Fault::NotJson)
    }
}

struct AppState {
    config: FakeConfig,
    /// Times each request body (by hash) was seen.
    seen: std::sync::Mutex<std::collections::HashMap<u64, u32>>,
    /// Per request, in arrival order: how many times its body was seen before.
    arrivals: std::sync::Mutex<Vec<u32>>,
    faults: AtomicU64,
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

    /// For each request so far, in arrival order, how many times the same
    /// body had been sent before (0 for a first attempt, 1 for its first
    /// retry, ...).
    pub fn arrivals(&self) -> Vec<u32> {
        self.state.arrivals.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Requests answered so far.
    pub fn requests(&self) -> u64 {
        self.state.requests.load(Ordering::Relaxed)
    }

    /// Requests answered with a fault so far.
    pub fn faults(&self) -> u64 {
        self.state.faults.load(Ordering::Relaxed)
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
        seen: Default::default(),
        arrivals: Default::default(),
        faults: AtomicU64::new(0),
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

async fn chat(State(state): State<Arc<AppState>>, body: axum::body::Bytes) -> axum::response::Response {
    state.requests.fetch_add(1, Ordering::Relaxed);
    let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    state.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let answer = answer(&state, &body).await;
    state.in_flight.fetch_sub(1, Ordering::SeqCst);
    answer
}

/// FNV-1a, 64 bits: a stable hash that needs no dependency.
fn fnv1a(bytes: &[u8], seed: u64) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64 ^ seed;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn fault_response(fault: Fault) -> axum::response::Response {
    use axum::response::IntoResponse;
    let error = |status: StatusCode, kind: &str, code: &str, message: &str| {
        (
            status,
            Json(json!({"error": {"message": message, "type": kind, "param": null, "code": code}})),
        )
    };
    match fault {
        Fault::RateLimited { retry_after_ms } => {
            let mut r = error(
                StatusCode::TOO_MANY_REQUESTS,
                "requests",
                "rate_limit_exceeded",
                "Rate limit reached for requests",
            )
            .into_response();
            if let Ok(v) = axum::http::HeaderValue::from_str(&retry_after_ms.to_string()) {
                r.headers_mut().insert("retry-after-ms", v);
            }
            r
        }
        Fault::ServerError => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "server_error",
            "The server had an error while processing your request.",
        )
        .into_response(),
        Fault::NotJson => (StatusCode::OK, "<html>upstream hiccup</html>").into_response(),
        Fault::Unauthorized => error(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            "invalid_api_key",
            "Incorrect API key provided.",
        )
        .into_response(),
    }
}

/// Waits until `latency` after `since`, to within tens of microseconds.
///
/// tokio's timer has millisecond ticks and rounds every deadline up to the
/// next one: a 20 ms latency would average ~20.5 ms, and every answer due in
/// the same tick would leave in one burst (which real networks do not do).
/// A thread of the blocking pool sleeps the exact remainder instead (idle
/// threads cost no CPU; there is one per answer in flight).
async fn wait(since: std::time::Instant, latency: Duration) {
    if latency.is_zero() {
        return;
    }
    let deadline = since + latency;
    let sleep = tokio::task::spawn_blocking(move || {
        std::thread::sleep(deadline.saturating_duration_since(std::time::Instant::now()))
    });
    if sleep.await.is_err() {
        tokio::time::sleep_until(deadline.into()).await;
    }
}

async fn answer(state: &AppState, body: &[u8]) -> axum::response::Response {
    use axum::response::IntoResponse;
    let since = std::time::Instant::now();
    let key = fnv1a(body, 0);
    let seen = {
        let mut map = state.seen.lock().unwrap_or_else(|e| e.into_inner());
        let n = map.entry(key).or_insert(0);
        *n += 1;
        *n - 1
    };
    state.arrivals.lock().unwrap_or_else(|e| e.into_inner()).push(seen);
    let fault = match state.config.scripted {
        Some((fault, n)) if seen < n => Some(fault),
        _ => {
            let roll = (fnv1a(&seen.to_le_bytes(), key) >> 11) as f64 / (1u64 << 53) as f64;
            state.config.faults.pick(roll)
        }
    };
    if let Some(fault) = fault {
        wait(since, state.config.latency).await;
        state.faults.fetch_add(1, Ordering::Relaxed);
        return fault_response(fault);
    }
    let req: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                Json(
                    json!({"error": {"message": format!("invalid JSON body: {e}"), "type": "invalid_request_error", "param": null, "code": null}}),
                ),
            )
                .into_response()
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
        .or_else(|| {
            let cycle = &state.config.cycle;
            (!cycle.is_empty()).then(|| cycle[seen as usize % cycle.len()].clone())
        })
        .unwrap_or_else(|| contents.last().copied().unwrap_or("").to_string());
    wait(since, state.config.latency).await;
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
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_script_and_reports_bad_yaml_and_regexes() {
        let rules =
            parse_script("- {match: 'capital of (France|Spain)', unless: Lyon, reply: Paris}\n").expect("valid script");
        assert_eq!(rules.len(), 1);
        assert!(rules[0].pattern.is_match("the capital of France?"));
        assert_eq!(rules[0].reply, "Paris");
        assert!(matches!(parse_script("- {match: x}"), Err(ScriptError::Yaml(_))));
        let err = parse_script("- {match: '(', reply: r}").unwrap_err();
        assert!(matches!(err, ScriptError::Regex(_)), "{err:?}");
        assert!(err.to_string().contains("unclosed group"), "{err}");
    }
}
