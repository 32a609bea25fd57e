//! Every setting resolved once, in one order: command-line flag, then
//! environment variable (where there is one), then `promptgate.toml`, then
//! the built-in default. Commands call one method per setting; no other
//! code knows a default.

use std::path::{Path, PathBuf};

use super::{Config, FILE_NAME, JOBS, JUNIT_PATH, PROMPTS_DIR, REGISTRY_ENV, REGISTRY_PATH};
use crate::diagnostic::Diagnostic;

/// The project's settings: `promptgate.toml` (or `--config PATH`), with the
/// resolution of every setting a flag can override.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// The project file's content; the defaults when there is no file.
    pub config: Config,
    /// `--config PATH`, when given (refusal hints repeat it).
    pub config_flag: Option<PathBuf>,
}

impl Settings {
    /// Reads `--config PATH` (which must exist), else `promptgate.toml` in
    /// the current folder when present, else the defaults.
    ///
    /// # Errors
    /// An unreadable or invalid file, with line and column.
    pub fn load(config_flag: Option<&Path>) -> Result<Settings, Diagnostic> {
        let config = match config_flag {
            Some(p) => Config::load(p, true)?,
            None => Config::load(Path::new(FILE_NAME), false)?,
        };
        Ok(Settings {
            config,
            config_flag: config_flag.map(Path::to_path_buf),
        })
    }

    /// The prompts folder: `--prompts-dir`, else `[test] prompts_dir`, else `prompts`.
    pub fn prompts_dir(&self, flag: Option<&Path>) -> PathBuf {
        flag.map(Path::to_path_buf)
            .or_else(|| self.config.test.prompts_dir.clone())
            .unwrap_or_else(|| PathBuf::from(PROMPTS_DIR))
    }

    /// Cases in flight: `-j`, else `[test] jobs`, else 8.
    pub fn jobs(&self, flag: Option<u16>) -> usize {
        flag.map(usize::from).or(self.config.test.jobs).unwrap_or(JOBS)
    }

    /// The JUnit report path: `--junit`, else `[test] junit`, else `reports/junit.xml`.
    pub fn junit(&self, flag: Option<&Path>) -> PathBuf {
        flag.map(Path::to_path_buf)
            .or_else(|| self.config.test.junit.clone())
            .unwrap_or_else(|| PathBuf::from(JUNIT_PATH))
    }

    /// The registry file: `--registry`, else `$PROMPTGATE_REGISTRY` (when
    /// not empty), else `[registry] path`, else `.promptgate/registry.db`.
    pub fn registry_path(&self, flag: Option<&Path>) -> PathBuf {
        self.registry_path_with(flag, std::env::var_os(REGISTRY_ENV))
    }

    /// [`Settings::registry_path`] with the environment variable's value given.
    fn registry_path_with(&self, flag: Option<&Path>, env: Option<std::ffi::OsString>) -> PathBuf {
        if let Some(p) = flag {
            return p.to_path_buf();
        }
        if let Some(p) = env.filter(|v| !v.is_empty()) {
            return PathBuf::from(p);
        }
        self.config
            .registry
            .path
            .clone()
            .unwrap_or_else(|| PathBuf::from(REGISTRY_PATH))
    }

    /// The recordings folder runs replay from by default (`[test] replay`).
    pub fn replay(&self) -> Option<&Path> {
        self.config.test.replay.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_the_file_and_the_file_over_the_defaults() {
        let none = Settings::default();
        assert_eq!(none.prompts_dir(None), PathBuf::from("prompts"));
        assert_eq!(none.jobs(None), 8);
        assert_eq!(none.junit(None), PathBuf::from("reports/junit.xml"));
        assert_eq!(
            none.registry_path_with(None, None),
            PathBuf::from(".promptgate/registry.db")
        );

        let mut config = Config::default();
        config.test.prompts_dir = Some("p".into());
        config.test.jobs = Some(3);
        config.test.junit = Some("j.xml".into());
        config.registry.path = Some("r.db".into());
        let file = Settings {
            config,
            config_flag: None,
        };
        assert_eq!(file.prompts_dir(None), PathBuf::from("p"));
        assert_eq!(file.jobs(None), 3);
        assert_eq!(file.junit(None), PathBuf::from("j.xml"));
        assert_eq!(file.registry_path_with(None, Some("".into())), PathBuf::from("r.db"));
        assert_eq!(
            file.registry_path_with(None, Some("e.db".into())),
            PathBuf::from("e.db")
        );

        assert_eq!(file.prompts_dir(Some(Path::new("f"))), PathBuf::from("f"));
        assert_eq!(file.jobs(Some(5)), 5);
        assert_eq!(file.junit(Some(Path::new("f.xml"))), PathBuf::from("f.xml"));
        assert_eq!(
            file.registry_path_with(Some(Path::new("f.db")), Some("e.db".into())),
            PathBuf::from("f.db")
        );
    }

    #[test]
    fn a_missing_explicit_config_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(Settings::load(Some(&dir.path().join("none.toml"))).is_err());
    }
}
