//! Recordings, as layers: [`Replayed`] answers from them (`--replay`) and
//! never calls further in; [`Recorded`] stores every answer (`--record`).
//! The store itself (files, locking) is `recording::RecordingStore`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{CallResponse, CallSite, ProviderCall};
use crate::provider::{ProviderError, ProviderRequest, ProviderResponse};
use crate::util::sha256_hex;

/// One stored call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recording {
    /// [`request_key`] of the request (with `.rN` for repeat N > 0).
    pub key: String,
    /// Provider id.
    pub provider: String,
    /// What was sent.
    pub request: ProviderRequest,
    /// What came back (without its cost).
    pub response: ProviderResponse,
}

/// The hash that identifies a request: SHA-256 (hex) of the JSON of
/// `{provider, model, messages, settings}`.
pub fn request_key(provider_id: &str, request: &ProviderRequest) -> String {
    #[derive(Serialize)]
    struct KeyInput<'a> {
        provider: &'a str,
        request: &'a ProviderRequest,
    }
    let value = serde_json::to_value(KeyInput {
        provider: provider_id,
        request,
    })
    .unwrap_or_default();
    // Object keys sorted, so that `{type, json_schema}` and `{json_schema,
    // type}` in a `response_format` are the same request.
    let json = serde_json::to_vec(&canonical(value)).unwrap_or_default();
    sha256_hex(&json)
}

/// `v` with the keys of every object in sorted order.
fn canonical(v: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Object(map) => {
            let sorted: BTreeMap<String, Value> = map.into_iter().map(|(k, v)| (k, canonical(v))).collect();
            Value::Object(sorted.into_iter().collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(canonical).collect()),
        other => other,
    }
}

/// The key of a request's recording: [`request_key`], with `.rN` for
/// `--repeat` index N > 0 (repeat 0 keeps the plain key, so recordings made
/// without `--repeat` still answer it).
pub fn recording_key(provider_id: &str, request: &ProviderRequest, repeat: u32) -> String {
    match repeat {
        0 => request_key(provider_id, request),
        n => format!("{}.r{n}", request_key(provider_id, request)),
    }
}

/// Where recordings are read and stored (`recording::RecordingStore`).
pub trait Recordings: Sync {
    /// The stored response for `key`.
    fn get(&self, key: &str) -> Option<ProviderResponse>;
    /// Stores a recording.
    fn insert(&self, recording: Recording);
}

/// Answers from the recordings in `dir`, never calling further in (when
/// replaying; otherwise the calls pass through).
pub struct Replayed<'a, R, L> {
    replay: Option<(&'a R, &'a Path)>,
    provider_id: &'a str,
    inner: L,
}

impl<'a, R, L> Replayed<'a, R, L> {
    /// `inner`, replaced by `replay` (the recordings and their folder) when set.
    pub fn new(replay: Option<(&'a R, &'a Path)>, provider_id: &'a str, inner: L) -> Self {
        Replayed {
            replay,
            provider_id,
            inner,
        }
    }
}

impl<R: Recordings, L: ProviderCall> ProviderCall for Replayed<'_, R, L> {
    async fn call(&self, request: &ProviderRequest, site: &CallSite<'_>) -> Result<CallResponse, ProviderError> {
        let Some((recordings, dir)) = self.replay else {
            return self.inner.call(request, site).await;
        };
        let key = recording_key(self.provider_id, request, site.repeat);
        match recordings.get(&key) {
            Some(response) => Ok(CallResponse {
                response,
                replayed: true,
            }),
            None => {
                let last = request.messages.last().map(|m| m.content.as_str()).unwrap_or("");
                let excerpt: String = last.chars().take(80).collect();
                let excerpt = if excerpt.len() < last.len() {
                    format!("{excerpt}…")
                } else {
                    excerpt
                };
                Err(ProviderError::NotRecorded {
                    provider: self.provider_id.to_string(),
                    model: request.model.clone(),
                    key,
                    excerpt,
                    dir: dir.display().to_string(),
                })
            }
        }
    }
}

/// Stores every answer of `inner` in the recordings (when recording;
/// otherwise the calls pass through).
pub struct Recorded<'a, R, L> {
    recordings: Option<&'a R>,
    provider_id: &'a str,
    inner: L,
}

impl<'a, R, L> Recorded<'a, R, L> {
    /// `inner`, its answers stored in `recordings` when set.
    pub fn new(recordings: Option<&'a R>, provider_id: &'a str, inner: L) -> Self {
        Recorded {
            recordings,
            provider_id,
            inner,
        }
    }
}

impl<R: Recordings, L: ProviderCall> ProviderCall for Recorded<'_, R, L> {
    async fn call(&self, request: &ProviderRequest, site: &CallSite<'_>) -> Result<CallResponse, ProviderError> {
        let answer = self.inner.call(request, site).await?;
        if let Some(recordings) = self.recordings {
            recordings.insert(Recording {
                key: recording_key(self.provider_id, request, site.repeat),
                provider: self.provider_id.to_string(),
                request: request.clone(),
                response: ProviderResponse {
                    cost_usd: None,
                    ..answer.response.clone()
                },
            });
        }
        Ok(answer)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use super::super::testing::{block_on, request, Scripted};
    use super::super::Direct;
    use super::*;

    #[derive(Default)]
    struct Memory(Mutex<HashMap<String, Recording>>);
    impl Recordings for Memory {
        fn get(&self, key: &str) -> Option<ProviderResponse> {
            self.0.lock().unwrap().get(key).map(|r| r.response.clone())
        }
        fn insert(&self, recording: Recording) {
            self.0.lock().unwrap().insert(recording.key.clone(), recording);
        }
    }

    #[test]
    fn what_is_recorded_replays_without_a_call() {
        let provider = Scripted::default();
        let store = Memory::default();
        let site = CallSite {
            repeat: 2,
            ..Default::default()
        };
        let record = Recorded::new(Some(&store), "p", Direct(&provider));
        let live = block_on(record.call(&request("hi"), &site)).unwrap();
        let key = recording_key("p", &request("hi"), 2);
        assert!(key.ends_with(".r2"), "{key}");
        assert!(store.0.lock().unwrap().contains_key(&key));
        let replay = Replayed::new(Some((&store, Path::new("recs"))), "p", Direct(&provider));
        let replayed = block_on(replay.call(&request("hi"), &site)).unwrap();
        assert!(replayed.replayed);
        assert_eq!(replayed.response.output, live.response.output);
        assert_eq!(provider.calls(), 1);
    }

    #[test]
    fn a_request_never_recorded_is_an_error_naming_it() {
        let provider = Scripted::default();
        let store = Memory::default();
        let replay = Replayed::new(Some((&store, Path::new("recs"))), "p", Direct(&provider));
        let long = "x".repeat(100);
        let err = block_on(replay.call(&request(&long), &CallSite::default())).unwrap_err();
        match err {
            ProviderError::NotRecorded { excerpt, dir, key, .. } => {
                assert_eq!(excerpt, format!("{}…", "x".repeat(80)));
                assert_eq!(dir, "recs");
                assert_eq!(key, request_key("p", &request(&long)));
            }
            other => panic!("{other}"),
        }
        assert_eq!(provider.calls(), 0);
    }

    #[test]
    fn request_keys_ignore_object_key_order() {
        let mut a = request("hi");
        a.settings.response_format = Some(serde_json::json!({"type": "json_schema", "json_schema": {"b": 1, "a": 2}}));
        let mut b = request("hi");
        b.settings.response_format = Some(serde_json::json!({"json_schema": {"a": 2, "b": 1}, "type": "json_schema"}));
        assert_eq!(request_key("p", &a), request_key("p", &b));
    }
}
