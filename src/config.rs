//! `promptgate.toml`, the project's settings, read from the current folder
//! when present. Command-line flags override it.
//!
//! ```toml
//! [test]
//! prompts_dir = "prompts"         # where prompt names are looked up
//! replay = "recordings"           # answer from recordings unless --live / --record
//! junit = "reports/junit.xml"     # JUnit report path
//! jobs = 8                        # cases in flight
//!
//! [cache]
//! path = ".promptgate/cache.db"   # response cache and call log (SQLite)
//! ttl_days = 14                   # cached responses older than this are not used
//! enabled = true                  # false = like --no-cache
//!
//! [prices."my-finetune"]          # USD per million tokens, over the built-in table
//! input = 0.30
//! output = 1.20
//! cached_input = 0.15
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::diagnostic::{Diagnostic, Location};

/// The default config file name.
pub const FILE_NAME: &str = "promptgate.toml";

/// The whole file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[test]`: defaults for `promptgate test`.
    #[serde(default)]
    pub test: TestConfig,
    /// `[cache]`: the response cache.
    #[serde(default)]
    pub cache: CacheConfig,
    /// `[prices."MODEL"]`: prices over the built-in table ([`crate::cost`]).
    #[serde(default)]
    pub prices: std::collections::BTreeMap<String, crate::cost::Price>,
}

/// `[cache]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheConfig {
    /// The SQLite file (default `.promptgate/cache.db`).
    pub path: Option<PathBuf>,
    /// Days a cached response is used (default 14).
    pub ttl_days: Option<u64>,
    /// `false` turns the cache off, like `--no-cache` (calls are still logged).
    pub enabled: Option<bool>,
}

impl CacheConfig {
    /// The database path.
    pub fn path(&self) -> PathBuf {
        self.path
            .clone()
            .unwrap_or_else(|| PathBuf::from(crate::cache::DEFAULT_PATH))
    }

    /// The entries' time to live.
    pub fn ttl(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.ttl_days.unwrap_or(crate::cache::DEFAULT_TTL_DAYS) * 86_400)
    }
}

/// `[test]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestConfig {
    /// The prompts folder (default `prompts`).
    pub prompts_dir: Option<PathBuf>,
    /// Replay from this recordings folder by default.
    pub replay: Option<PathBuf>,
    /// JUnit report path (default `reports/junit.xml`).
    pub junit: Option<PathBuf>,
    /// Cases in flight (default 8), 1 to [`MAX_JOBS`].
    pub jobs: Option<usize>,
}

/// The most cases in flight `-j` and `jobs` accept.
pub const MAX_JOBS: usize = 10_000;

impl Config {
    /// Reads `path`; a missing file gives the defaults when `required` is false.
    ///
    /// # Errors
    /// An unreadable or invalid file, with line and column.
    pub fn load(path: &Path, required: bool) -> Result<Config, Diagnostic> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
            Err(e) => {
                return Err(Diagnostic::error(
                    format!("cannot read config: {e}"),
                    Some(Location::file(path)),
                ))
            }
        };
        let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
        let at = |offset: usize| {
            let before = &text[..offset.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let col = before.rsplit('\n').next().map(|l| l.chars().count() + 1).unwrap_or(1);
            Location::at(path, line, col)
        };
        let config: Config = toml::from_str(text).map_err(|e| {
            let loc = e.span().map(|s| at(s.start)).unwrap_or_else(|| Location::file(path));
            Diagnostic::error(format!("invalid config: {}", e.message()), Some(loc))
        })?;
        if let Some(jobs) = config.test.jobs {
            if !(1..=MAX_JOBS).contains(&jobs) {
                let offset = text.find("jobs").unwrap_or(0);
                return Err(Diagnostic::error(
                    format!("invalid config: `jobs` must be between 1 and {MAX_JOBS}, got {jobs}"),
                    Some(at(offset)),
                ));
            }
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_test_settings_and_rejects_unknown_keys() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(FILE_NAME);
        std::fs::write(&p, "[test]\nreplay = \"recordings\"\njobs = 4\n").unwrap();
        let c = Config::load(&p, true).unwrap();
        assert_eq!(c.test.replay, Some(PathBuf::from("recordings")));
        assert_eq!(c.test.jobs, Some(4));
        std::fs::write(&p, "[test]\nreplya = \"x\"\n").unwrap();
        let err = Config::load(&p, true).unwrap_err();
        assert_eq!(err.location.and_then(|l| l.line), Some(2));
        assert!(Config::load(&dir.path().join("none.toml"), false).is_ok());
    }
}
