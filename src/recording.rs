//! Recordings: provider responses stored as text so that CI (and a fork's
//! pull request, which gets no secrets) runs without API keys.
//!
//! `--record DIR` calls the providers and stores every response; `--replay
//! DIR` answers from the store and never calls the network: a request that
//! was never recorded fails its case with an error naming the request.
//!
//! Layout: one YAML file per provider id in DIR (`openai_chat_gpt-4o-mini.yaml`),
//! a list of entries sorted by key, each holding the request (so a reviewer
//! can read what was asked) and the response:
//!
//! ```yaml
//! - key: 3f2a…            # SHA-256 of {provider, model, messages, settings}
//!   provider: openai:chat:gpt-4o-mini
//!   request: {model: gpt-4o-mini, messages: [{role: user, content: …}], settings: {temperature: 0}}
//!   response: {output: …, latency_ms: 812, tokens: {input: 120, output: 14}, finish_reason: stop}
//! ```
//!
//! The key covers the provider id, the model, the rendered messages and every
//! setting sent, but not the base URL or API key, so a recording made against
//! one endpoint replays anywhere. No key or header is ever stored.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::diagnostic::{display_path, Diagnostic, Location};
use crate::provider::ProviderResponse;

pub use crate::provider::layers::replay::{recording_key, request_key, Recording};

/// What the run does with recordings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Mode {
    /// Call providers; store nothing.
    #[default]
    Live,
    /// Call providers and store every response in the folder.
    Record(PathBuf),
    /// Answer from the folder; never call a (non-local) provider.
    Replay(PathBuf),
}

/// The recordings of one run.
#[derive(Debug, Default)]
pub struct RecordingStore {
    mode: Mode,
    entries: Mutex<BTreeMap<String, Recording>>,
    /// Entries recorded by this run that differ from what the folder held.
    fresh: Mutex<BTreeMap<String, Recording>>,
    recorded: Mutex<usize>,
}

impl RecordingStore {
    /// A store in `mode`; replay and record modes read the folder's existing
    /// recordings (record mode keeps them and adds or replaces entries).
    ///
    /// # Errors
    /// A recording file that cannot be read or parsed (file and line named).
    pub fn open(mode: Mode) -> Result<Self, Diagnostic> {
        let mut entries = BTreeMap::new();
        match &mode {
            Mode::Live => {}
            Mode::Replay(dir) => {
                if !dir.is_dir() {
                    return Err(
                        Diagnostic::error(format!("recordings folder not found: {}", dir.display()), None)
                            .with_help("record one with `--record DIR` (calls the providers), or run with `--live`"),
                    );
                }
                read_dir(dir, &mut entries)?;
            }
            Mode::Record(dir) => {
                if dir.is_dir() {
                    read_dir(dir, &mut entries)?;
                }
            }
        }
        Ok(RecordingStore {
            mode,
            entries: Mutex::new(entries),
            fresh: Mutex::new(BTreeMap::new()),
            recorded: Mutex::new(0),
        })
    }

    /// The mode.
    pub fn mode(&self) -> &Mode {
        &self.mode
    }

    /// The stored response for `key`.
    pub fn get(&self, key: &str) -> Option<ProviderResponse> {
        self.entries.lock().ok()?.get(key).map(|e| e.response.clone())
    }

    /// Stores a response (record mode). When the folder already holds the
    /// same answer (output, tokens, finish reason) for the key, the stored
    /// entry is kept, so re-recording an unchanged suite leaves the files
    /// byte-identical instead of rewriting every latency.
    pub fn insert(&self, entry: Recording) {
        if let Ok(mut m) = self.entries.lock() {
            let unchanged = m.get(&entry.key).is_some_and(|old| {
                old.response.output == entry.response.output
                    && old.response.tokens == entry.response.tokens
                    && old.response.finish_reason == entry.response.finish_reason
            });
            if !unchanged {
                if let Ok(mut f) = self.fresh.lock() {
                    f.insert(entry.key.clone(), entry.clone());
                }
                m.insert(entry.key.clone(), entry);
            }
        }
        if let Ok(mut n) = self.recorded.lock() {
            *n += 1;
        }
    }

    /// Number of responses recorded in this run.
    pub fn recorded(&self) -> usize {
        self.recorded.lock().map(|n| *n).unwrap_or(0)
    }

    /// Writes the folder (record mode; a no-op otherwise): one file per
    /// provider, entries sorted by key, each file replaced atomically.
    ///
    /// # Errors
    /// I/O errors naming the file.
    ///
    /// Two runs may record into the same folder at once: the folder is locked
    /// while it is written, and what is on disk then (another run's entries)
    /// is merged with this run's new entries, which win on equal keys.
    pub fn save(&self) -> std::io::Result<()> {
        let Mode::Record(dir) = &self.mode else { return Ok(()) };
        let fresh = match self.fresh.lock() {
            Ok(f) => f.clone(),
            Err(_) => return Ok(()),
        };
        if fresh.is_empty() {
            return Ok(());
        }
        std::fs::create_dir_all(dir)?;
        // flock(2) on the folder itself: no lock file to commit or clean up.
        // Where a folder cannot be opened as a file, writes are not serialised.
        let lock = std::fs::File::open(dir).ok().filter(|f| f.lock().is_ok());
        let mut entries = BTreeMap::new();
        read_dir(dir, &mut entries).map_err(|d| std::io::Error::other(d.to_string()))?;
        entries.extend(fresh);
        let mut by_file: BTreeMap<String, Vec<Recording>> = BTreeMap::new();
        for e in entries.into_values() {
            by_file.entry(file_name(&e.provider)).or_default().push(e);
        }
        for (name, list) in by_file {
            let yaml = serde_yaml::to_string(&list).map_err(std::io::Error::other)?;
            let text = format!("{HEADER}{yaml}");
            crate::util::fs::write_atomically(&dir.join(name), text.as_bytes())?;
        }
        drop(lock);
        Ok(())
    }
}

const HEADER: &str = "# promptgate recordings: provider responses keyed by a hash of the request.\n# Written by `promptgate test --record`; replayed by `--replay` (no network, no keys).\n";

/// `openai:chat:gpt-4o-mini` → `openai_chat_gpt-4o-mini.yaml`.
pub fn file_name(provider: &str) -> String {
    let safe: String = provider
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '.') {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect();
    format!("{safe}.yaml")
}

impl crate::provider::layers::replay::Recordings for RecordingStore {
    fn get(&self, key: &str) -> Option<ProviderResponse> {
        RecordingStore::get(self, key)
    }
    fn insert(&self, recording: Recording) {
        RecordingStore::insert(self, recording)
    }
}

fn read_dir(dir: &Path, entries: &mut BTreeMap<String, Recording>) -> Result<(), Diagnostic> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Diagnostic::error(format!("cannot read recordings folder {}: {e}", dir.display()), None))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| e == "yaml" || e == "yml")
        })
        .collect();
    files.sort();
    for f in files {
        let shown = display_path(&f);
        let text = std::fs::read_to_string(&f)
            .map_err(|e| Diagnostic::error(format!("cannot read recording: {e}"), Some(Location::file(&shown))))?;
        let list: Vec<Recording> = serde_yaml::from_str::<Option<Vec<Recording>>>(&text)
            .map_err(|e| {
                let loc = e
                    .location()
                    .map(|l| Location::at(&shown, l.line(), l.column()))
                    .unwrap_or_else(|| Location::file(&shown));
                Diagnostic::error(
                    format!("malformed recording: {}", crate::util::strip_location(&e.to_string())),
                    Some(loc),
                )
            })?
            .unwrap_or_default();
        for e in list {
            entries.insert(e.key.clone(), e);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::{Message, ModelSettings, ProviderRequest, TokenUsage};

    fn req(content: &str) -> ProviderRequest {
        ProviderRequest {
            model: "m".into(),
            messages: vec![Message::new("user", content)],
            settings: ModelSettings {
                temperature: Some(0.0),
                ..Default::default()
            },
        }
    }

    fn resp(out: &str) -> ProviderResponse {
        ProviderResponse {
            output: out.into(),
            latency_ms: 5,
            tokens: TokenUsage::default(),
            finish_reason: None,
            cost_usd: None,
            ..Default::default()
        }
    }

    #[test]
    fn key_depends_on_provider_messages_and_settings() {
        let a = request_key("openai:chat:m", &req("x"));
        assert_eq!(a, request_key("openai:chat:m", &req("x")));
        assert_ne!(a, request_key("openai:chat:n", &req("x")));
        assert_ne!(a, request_key("openai:chat:m", &req("y")));
        let mut r = req("x");
        r.settings.temperature = Some(0.5);
        assert_ne!(a, request_key("openai:chat:m", &r));
    }

    #[test]
    fn record_then_replay_round_trips_in_sorted_stable_files() {
        let dir = tempfile::tempdir().unwrap();
        let rec = RecordingStore::open(Mode::Record(dir.path().to_path_buf())).unwrap();
        for (i, text) in ["b", "a", "c"].iter().enumerate() {
            let r = req(text);
            let key = request_key("openai:chat:m", &r);
            rec.insert(Recording {
                key,
                provider: "openai:chat:m".into(),
                request: r,
                response: resp(&format!("out{i}")),
            });
        }
        rec.save().unwrap();
        let file = dir.path().join("openai_chat_m.yaml");
        let first = std::fs::read_to_string(&file).unwrap();
        rec.save().unwrap();
        assert_eq!(
            first,
            std::fs::read_to_string(&file).unwrap(),
            "saving twice gives the same bytes"
        );
        let replay = RecordingStore::open(Mode::Replay(dir.path().to_path_buf())).unwrap();
        let key = request_key("openai:chat:m", &req("a"));
        assert_eq!(replay.get(&key).unwrap().output, "out1");
        assert!(replay.get(&request_key("openai:chat:m", &req("zzz"))).is_none());
    }

    #[test]
    fn re_recording_the_same_answer_keeps_the_stored_entry() {
        let dir = tempfile::tempdir().unwrap();
        let r = req("x");
        let key = request_key("p", &r);
        let rec = RecordingStore::open(Mode::Record(dir.path().to_path_buf())).unwrap();
        rec.insert(Recording {
            key: key.clone(),
            provider: "p".into(),
            request: r.clone(),
            response: resp("same"),
        });
        rec.save().unwrap();
        let before = std::fs::read_to_string(dir.path().join("p.yaml")).unwrap();
        let again = RecordingStore::open(Mode::Record(dir.path().to_path_buf())).unwrap();
        let mut slower = resp("same");
        slower.latency_ms = 999;
        again.insert(Recording {
            key: key.clone(),
            provider: "p".into(),
            request: r.clone(),
            response: slower,
        });
        again.save().unwrap();
        assert_eq!(before, std::fs::read_to_string(dir.path().join("p.yaml")).unwrap());
        again.insert(Recording {
            key: key.clone(),
            provider: "p".into(),
            request: r,
            response: resp("changed"),
        });
        assert_eq!(again.get(&key).unwrap().output, "changed");
    }

    #[test]
    fn two_runs_recording_into_one_folder_keep_both_runs_entries() {
        let dir = tempfile::tempdir().unwrap();
        let a = RecordingStore::open(Mode::Record(dir.path().to_path_buf())).unwrap();
        let b = RecordingStore::open(Mode::Record(dir.path().to_path_buf())).unwrap();
        for (store, text) in [(&a, "from a"), (&b, "from b")] {
            let r = req(text);
            let key = request_key("p", &r);
            store.insert(Recording {
                key,
                provider: "p".into(),
                request: r,
                response: resp(text),
            });
        }
        a.save().unwrap();
        b.save().unwrap();
        let replay = RecordingStore::open(Mode::Replay(dir.path().to_path_buf())).unwrap();
        assert!(replay.get(&request_key("p", &req("from a"))).is_some());
        assert!(replay.get(&request_key("p", &req("from b"))).is_some());
    }

    #[test]
    fn key_ignores_the_order_of_keys_in_settings() {
        let mut a = req("x");
        a.settings.response_format = Some(serde_json::json!({"type": "json_schema", "json_schema": {"name": "n"}}));
        let mut b = req("x");
        b.settings.response_format = Some(serde_json::json!({"json_schema": {"name": "n"}, "type": "json_schema"}));
        assert_eq!(request_key("p", &a), request_key("p", &b));
    }

    #[test]
    fn a_missing_replay_folder_is_an_error() {
        let err = RecordingStore::open(Mode::Replay(PathBuf::from("/nonexistent/recs"))).unwrap_err();
        assert!(err.message.contains("recordings folder not found"));
    }
}
