//! `promptgate.toml`, the project's settings, read from the current folder
//! when present, and the built-in defaults. [`Settings`] resolves each
//! setting once, in one order: flag, environment, this file, built-in.
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
//!
//! [registry]
//! path = ".promptgate/registry.db" # the registry file (--registry and $PROMPTGATE_REGISTRY win)
//! protected_labels = ["staging"]  # labels that move only after a passing run (production always does)
//! alpha = 0.05                    # significance level of the gate's regression tests
//! max_token_growth = 0.10         # largest prompt growth (fraction) without a significant improvement
//! ```

mod resolve;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::diagnostic::{Diagnostic, Location};

pub use resolve::Settings;

/// The label of the active version. Always protected: it moves only after a
/// passing run (or with `--force --reason`).
pub const PRODUCTION: &str = "production";

/// The response cache's default file, relative to the project root.
pub const CACHE_PATH: &str = ".promptgate/cache.db";

/// Days a cached response is used by default.
pub const CACHE_TTL_DAYS: u64 = 14;

/// The registry's default file, relative to the project root.
pub const REGISTRY_PATH: &str = ".promptgate/registry.db";

/// The environment variable naming the registry file (over `[registry] path`,
/// under `--registry`).
pub const REGISTRY_ENV: &str = "PROMPTGATE_REGISTRY";

/// The project's suites folder, where the suites an activation requires are
/// looked up (`promptgate test`'s and `gate`'s default path).
pub const SUITES_DIR: &str = "suites";

/// The default prompts folder (`--prompts-dir`, `[test] prompts_dir`).
pub const PROMPTS_DIR: &str = "prompts";

/// The default JUnit report path (`--junit`, `[test] junit`).
pub const JUNIT_PATH: &str = "reports/junit.xml";

/// The default number of cases calling at once (`-j`, `[test] jobs`).
pub const JOBS: usize = 8;

/// Prices of one model, USD per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// Input (prompt) tokens.
    pub input: f64,
    /// Output (completion) tokens.
    pub output: f64,
    /// Input tokens read from the provider's prompt cache (default: the
    /// input price, or 0.1 × input for Anthropic).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_input: Option<f64>,
}

/// The default config file name.
pub const FILE_NAME: &str = "promptgate.toml";

/// The whole file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[test]`: defaults for `promptgate test`.
    #[serde(default)]
    pub test: TestConfig,
    /// `[registry]`: the prompt registry and the gate.
    #[serde(default)]
    pub registry: RegistryConfig,
    /// `[cache]`: the response cache.
    #[serde(default)]
    pub cache: CacheConfig,
    /// `[prices."MODEL"]`: prices over the built-in table (`provider::pricing`).
    #[serde(default)]
    pub prices: std::collections::BTreeMap<String, Price>,
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
        self.path.clone().unwrap_or_else(|| PathBuf::from(CACHE_PATH))
    }

    /// The entries' time to live.
    pub fn ttl(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.ttl_days.unwrap_or(CACHE_TTL_DAYS) * 86_400)
    }
}

/// `[registry]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryConfig {
    /// The registry file (default `.promptgate/registry.db`).
    pub path: Option<PathBuf>,
    /// Labels that, like `production`, move only to a version with a passing run.
    #[serde(default)]
    pub protected_labels: Vec<String>,
    /// Significance level of the gate's paired tests, in (0, 1) (default 0.05).
    pub alpha: Option<f64>,
    /// Largest growth of the prompt's token count, as a fraction (0.10 = 10%),
    /// allowed without a significant improvement (default 0.10).
    pub max_token_growth: Option<f64>,
}

impl RegistryConfig {
    /// `alpha`, default 0.05.
    pub fn alpha(&self) -> f64 {
        self.alpha.unwrap_or(0.05)
    }

    /// `max_token_growth`, default 0.10.
    pub fn max_token_growth(&self) -> f64 {
        self.max_token_growth.unwrap_or(0.10)
    }

    /// Whether `label` is protected (`production` always is).
    pub fn is_protected(&self, label: &str) -> bool {
        label == PRODUCTION || self.protected_labels.iter().any(|l| l == label)
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
        if let Some(alpha) = config.registry.alpha {
            if !(alpha > 0.0 && alpha < 1.0) {
                return Err(Diagnostic::error(
                    format!("invalid config: `alpha` must be between 0 and 1 (exclusive), got {alpha}"),
                    Some(at(text.find("alpha").unwrap_or(0))),
                )
                .with_help("0.05 is the usual significance level"));
            }
        }
        if let Some(g) = config.registry.max_token_growth {
            if !(g >= 0.0 && g.is_finite()) {
                return Err(Diagnostic::error(
                    format!("invalid config: `max_token_growth` must be a fraction >= 0 (0.10 = 10%), got {g}"),
                    Some(at(text.find("max_token_growth").unwrap_or(0))),
                ));
            }
        }
        Ok(config)
    }
}

/// A `--shard` value that is not `I/N` with 1 ≤ I ≤ N.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected I/N with 1 <= I <= N (e.g. 2/3), got `{given}`")]
pub struct ShardError {
    /// The value given.
    pub given: String,
}

/// `--shard I/N`: run the I-th of N parts (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Shard {
    /// This part, 1 to `total`.
    pub index: u32,
    /// Number of parts, at least 1.
    pub total: u32,
}

impl Shard {
    /// Parses `I/N` with 1 ≤ I ≤ N (also `--shard`'s clap value parser).
    ///
    /// # Errors
    /// [`ShardError`], saying what form is expected.
    pub fn parse(s: &str) -> Result<Shard, ShardError> {
        let bad = || ShardError { given: s.to_string() };
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: u32 = i.trim().parse().map_err(|_| bad())?;
        let total: u32 = n.trim().parse().map_err(|_| bad())?;
        if index == 0 || total == 0 || index > total {
            return Err(bad());
        }
        Ok(Shard { index, total })
    }

    /// True when the case with `identity` belongs to this shard: the first
    /// 8 bytes of the SHA-256 of the identity, modulo N, equal I − 1. Stable
    /// across runs, machines and plan changes.
    pub fn contains(&self, identity: &str) -> bool {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(identity.as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        u64::from_be_bytes(first) % u64::from(self.total) == u64::from(self.index - 1)
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

    #[test]
    fn reads_registry_settings_and_checks_them() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(FILE_NAME);
        std::fs::write(
            &p,
            "[registry]\npath = \"x.db\"\nprotected_labels = [\"staging\"]\nalpha = 0.01\nmax_token_growth = 0.2\n",
        )
        .unwrap();
        let c = Config::load(&p, true).unwrap();
        assert_eq!(c.registry.path, Some(PathBuf::from("x.db")));
        assert!(c.registry.is_protected("staging") && c.registry.is_protected("production"));
        assert!(!c.registry.is_protected("canary"));
        assert_eq!((c.registry.alpha(), c.registry.max_token_growth()), (0.01, 0.2));
        std::fs::write(&p, "[registry]\nalpha = 1.5\n").unwrap();
        let err = Config::load(&p, true).unwrap_err();
        assert!(err.message.contains("alpha"), "{}", err.message);
        std::fs::write(&p, "[registry]\npaht = \"x\"\n").unwrap();
        assert!(Config::load(&p, true).is_err());
    }
}
