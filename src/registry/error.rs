//! What can go wrong with the registry, and the class of each error (the
//! CLI maps a class to a process exit code).

use std::time::Duration;

use super::model::Selector;
use super::PRODUCTION;

/// What can go wrong with the registry. Each error has a [`ErrorClass`]
/// (refused 1; invalid input 2; unavailable 3 as exit codes).
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// No prompt of that name is registered (exit 2).
    #[error("unknown prompt `{name}`{hint}")]
    UnknownPrompt {
        /// The name asked for.
        name: String,
        /// What to do instead, starting with `; ` (`; did you mean ...?`), or empty.
        hint: String,
    },
    /// The prompt has no version matching the selector (exit 2).
    #[error("{}", unknown_version(.prompt, .selector, .numbers, .labels))]
    UnknownVersion {
        /// The prompt.
        prompt: String,
        /// What was asked for: a number, a label or a hash prefix.
        selector: Selector,
        /// The prompt's version numbers.
        numbers: Vec<u32>,
        /// The labels its versions hold, sorted.
        labels: Vec<String>,
    },
    /// Another unknown thing (a missing registry file, no version to roll
    /// back to) (exit 2).
    #[error("{0}")]
    NotFound(String),
    /// Invalid input: a bad file, a malformed reference (exit 2).
    #[error("{0}")]
    Invalid(String),
    /// The database file is not a registry, is corrupt, or was written by a
    /// newer promptgate (exit 2).
    #[error("{0}")]
    Corrupt(String),
    /// SQLite says the file is not a database or is corrupt (exit 2).
    #[error(
        "{path} is not a promptgate registry or is corrupt ({source}); restore it from a backup or point --registry \
         at another file"
    )]
    NotARegistry {
        /// The registry file.
        path: String,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// Another SQLite error (exit 2).
    #[error("registry {path}: {source}")]
    Sqlite {
        /// The registry file.
        path: String,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// Another writer held the lock past the busy timeout (exit 3: try again).
    #[error("the registry {path} is locked by another process (waited {}); try again", fmt_wait(.waited))]
    Locked {
        /// The registry file.
        path: String,
        /// How long this process waited.
        waited: Duration,
    },
    /// The file cannot be opened or written (permissions, a full disk) (exit 3).
    #[error("the registry {path} cannot be written: {source}")]
    CannotWrite {
        /// The registry file.
        path: String,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// The database cannot be opened or its folder created (exit 3: try again).
    #[error("{0}")]
    Unavailable(String),
    /// The move is refused by the activation rule (exit 1): no passing run on
    /// this version, or a later run failed.
    #[error("{0}")]
    Refused(String),
}

/// The kind of a [`RegistryError`], as far as a caller decides on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The caller's mistake or an unusable file: an unknown prompt, version
    /// or label, a malformed argument, a corrupt or newer database.
    InvalidInput,
    /// The activation rule refused the move.
    Refused,
    /// The database is locked or cannot be opened or written: trying again may work.
    Unavailable,
}

impl RegistryError {
    /// The error's class.
    pub fn class(&self) -> ErrorClass {
        match self {
            RegistryError::UnknownPrompt { .. }
            | RegistryError::UnknownVersion { .. }
            | RegistryError::NotFound(_)
            | RegistryError::Invalid(_)
            | RegistryError::Corrupt(_)
            | RegistryError::NotARegistry { .. }
            | RegistryError::Sqlite { .. } => ErrorClass::InvalidInput,
            RegistryError::Refused(_) => ErrorClass::Refused,
            RegistryError::Locked { .. } | RegistryError::CannotWrite { .. } | RegistryError::Unavailable(_) => {
                ErrorClass::Unavailable
            }
        }
    }

    /// True for the caller's mistakes and unusable files (an unknown prompt,
    /// version or label, a malformed argument, a corrupt or newer database),
    /// as opposed to a refused move or an unavailable database.
    pub fn is_invalid_input(&self) -> bool {
        self.class() == ErrorClass::InvalidInput
    }

    /// True when the database is locked or cannot be opened: trying again may work.
    pub fn is_unavailable(&self) -> bool {
        self.class() == ErrorClass::Unavailable
    }
}

/// A wait for messages: `30 s`, `1.5 s`, `200 ms`.
pub(super) fn fmt_wait(d: &Duration) -> String {
    if d.as_millis() < 1000 {
        format!("{} ms", d.as_millis())
    } else if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// The message of [`RegistryError::UnknownVersion`], naming what exists instead.
fn unknown_version(prompt: &str, selector: &Selector, numbers: &[u32], labels: &[String]) -> String {
    match selector {
        Selector::Number(n) => {
            let numbers: Vec<String> = numbers.iter().map(u32::to_string).collect();
            format!("{prompt} has no version {n} (versions: {})", numbers.join(", "))
        }
        Selector::Label(l) if l == PRODUCTION => {
            format!("{prompt} has no active version; activate one with `promptgate registry activate {prompt}@N`")
        }
        Selector::Label(l) => format!(
            "{prompt} has no label `{l}` (labels: {})",
            if labels.is_empty() {
                "none".to_string()
            } else {
                labels.join(", ")
            }
        ),
        Selector::Hash(h) => format!("no version of {prompt} has a hash starting with `{h}`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_classes() {
        let e = RegistryError::UnknownVersion {
            prompt: "p".into(),
            selector: Selector::Number(3),
            numbers: vec![1, 2],
            labels: vec![],
        };
        assert_eq!(e.to_string(), "p has no version 3 (versions: 1, 2)");
        assert!(e.is_invalid_input());
        let e = RegistryError::UnknownVersion {
            prompt: "p".into(),
            selector: Selector::Label("staging".into()),
            numbers: vec![1],
            labels: vec![],
        };
        assert_eq!(e.to_string(), "p has no label `staging` (labels: none)");
        let e = RegistryError::Locked {
            path: "r.db".into(),
            waited: Duration::from_millis(1500),
        };
        assert_eq!(
            e.to_string(),
            "the registry r.db is locked by another process (waited 1.5 s); try again"
        );
        assert!(e.is_unavailable());
        assert_eq!(RegistryError::Refused("no".into()).class(), ErrorClass::Refused);
        assert_eq!(fmt_wait(&Duration::from_secs(30)), "30 s");
        assert_eq!(fmt_wait(&Duration::from_millis(200)), "200 ms");
    }
}
