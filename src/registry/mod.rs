//! The prompt registry: every version of every prompt, immutable and hashed;
//! labels (`production` = the active version) that move only when the suites
//! have passed on exactly that content; recorded test runs; an append-only
//! audit log.
//!
//! The policy (which moves are allowed, what rollback means) lives in
//! [`Registry`]; the data lives behind the small [`Store`] trait, implemented
//! for SQLite by [`sqlite::SqliteStore`] (a server database can implement the
//! trait later without touching callers).
//!
//! ```no_run
//! # fn main() -> Result<(), promptgate::registry::RegistryError> {
//! let live = promptgate::registry::Registry::open(".promptgate/registry.db")?.active("rag_system")?;
//! println!("rag_system v{} ({}): {}", live.version, &live.sha256[..12], live.content);
//! # Ok(())
//! # }
//! ```

pub mod drift;
mod error;
mod files;
mod model;
mod policy;
pub mod record;
pub mod sqlite;

use std::path::{Path, PathBuf};

pub use model::{
    AuditEntry, LabelMove, NewRun, NewVersion, RunCase, RunRecord, RunSuite, RunVerdict, Selector, Version, VersionRef,
};

pub use error::{ErrorClass, RegistryError};
pub use files::{actor, count_tokens, new_version_from_file, validate_prompt_name};
pub use policy::eligibility_of;
use policy::rollback_target;

pub use crate::settings::{PRODUCTION, REGISTRY_ENV as ENV_VAR, REGISTRY_PATH as DEFAULT_PATH};

/// Result alias for registry operations.
pub type Result<T, E = RegistryError> = std::result::Result<T, E>;

/// The storage behind the registry. Every method that writes more than one
/// row does so in one transaction: a killed process leaves either all of a
/// change or none of it.
pub trait Store: Send {
    /// Stores a version, or returns the existing version with the same
    /// content hash (`false` = not created). Numbers are 1, 2, 3, ... per prompt.
    fn register(&self, new: &NewVersion) -> Result<(Version, bool)>;
    /// Names of every registered prompt, sorted.
    fn prompts(&self) -> Result<Vec<String>>;
    /// Every version of `prompt`, oldest first, with their labels.
    fn versions(&self, prompt: &str) -> Result<Vec<Version>>;
    /// Moves a label in one transaction that also appends the audit entry;
    /// returns the version number the label pointed at before (if any).
    /// Concurrent moves serialize (`BEGIN IMMEDIATE`); at most one version
    /// holds a label per prompt (a unique index).
    fn move_label(&self, mv: &LabelMove) -> Result<Option<u32>>;
    /// Like [`Store::move_label`], but `decide` runs inside the move's
    /// write transaction (after `BEGIN IMMEDIATE`, with reads through the
    /// given store seeing exactly the state the move is applied to) and
    /// returns the move, or an error that aborts it with nothing written.
    /// This is how the activation rule and rollback's choice of target
    /// cannot race a concurrent run or move.
    fn move_label_checked(&self, decide: &mut dyn FnMut(&dyn Store) -> Result<LabelMove>) -> Result<Option<u32>>;
    /// Audit entries (of `prompt`, or all), oldest first.
    fn audit(&self, prompt: Option<&str>) -> Result<Vec<AuditEntry>>;
    /// Records a finished test run with its cases, suites and audit entries;
    /// returns the run id.
    fn record_run(&self, run: &NewRun) -> Result<i64>;
    /// Runs that covered `prompt` version `number`, oldest first.
    fn runs_of(&self, prompt: &str, number: u32) -> Result<Vec<RunRecord>>;
    /// Cases of run `run_id` (all prompts).
    fn run_cases(&self, run_id: i64) -> Result<Vec<RunCase>>;
    /// A cheap integrity check of the storage (SQLite: `PRAGMA quick_check`),
    /// so that a command that will write finds a damaged registry before it
    /// does any work.
    ///
    /// # Errors
    /// [`RegistryError::Corrupt`] naming the damage.
    fn check(&self) -> Result<()>;
}

/// The content of an active prompt version, as applications load it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivePrompt {
    /// The prompt's name.
    pub name: String,
    /// Its version number (1, 2, 3, ...).
    pub version: u32,
    /// SHA-256 of the content, lowercase hex (64 characters).
    pub sha256: String,
    /// The exact content.
    pub content: String,
}

/// Whether a version may take a protected label (see [`Registry::eligibility`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Eligibility {
    /// A run passed on exactly this content and no later run failed.
    Passed {
        /// The latest passing run.
        run: i64,
    },
    /// No recorded run covers this version.
    NeverRan,
    /// Runs exist, none passed (errors or filtered runs do not count).
    NoPassingRun,
    /// Complete passing runs exist, but none covered every suite that tests
    /// the prompt now with the suite's current content.
    Incomplete {
        /// The latest passing run.
        run: i64,
        /// The suites it lacks: `FILE` (not run) or `FILE (changed since)`.
        missing: Vec<String>,
    },
    /// A run after the last pass failed.
    FailedLater {
        /// The failing run.
        run: i64,
    },
}

/// The registry: policy on top of a [`Store`].
pub struct Registry {
    store: Box<dyn Store>,
    path: Option<PathBuf>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").field("path", &self.path).finish()
    }
}

impl Registry {
    /// Opens (creating it and its folder when missing) the SQLite registry at
    /// `path`, migrating an older schema.
    ///
    /// # Errors
    /// [`RegistryError::Corrupt`] for a file that is not a registry or was
    /// written by a newer promptgate; [`RegistryError::Unavailable`] when it
    /// cannot be opened or stays locked.
    pub fn open(path: impl AsRef<Path>) -> Result<Registry> {
        let path = path.as_ref();
        Ok(Registry {
            store: Box::new(sqlite::SqliteStore::open(path, true)?),
            path: Some(path.to_path_buf()),
        })
    }

    /// Opens an existing registry; a missing file is [`RegistryError::NotFound`].
    ///
    /// # Errors
    /// As [`Registry::open`], and a missing file.
    pub fn open_existing(path: impl AsRef<Path>) -> Result<Registry> {
        let path = path.as_ref();
        Ok(Registry {
            store: Box::new(sqlite::SqliteStore::open(path, false)?),
            path: Some(path.to_path_buf()),
        })
    }

    /// Opens (creating it when missing) and checks the registry's integrity
    /// ([`Store::check`]): for commands that will record into it after a
    /// long run.
    ///
    /// # Errors
    /// As [`Registry::open`], and [`RegistryError::Corrupt`] for a damaged file.
    pub fn open_checked(path: impl AsRef<Path>) -> Result<Registry> {
        let reg = Registry::open(path)?;
        reg.store.check()?;
        Ok(reg)
    }

    /// A registry over any store.
    pub fn with_store(store: Box<dyn Store>) -> Registry {
        Registry { store, path: None }
    }

    /// The underlying store.
    pub fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    /// The registry file, when it is one.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Registers the prompt file at `path` as a version of `name` (see
    /// [`new_version_from_file`]); returns the existing version when the
    /// content is already registered.
    ///
    /// # Errors
    /// An unreadable or invalid prompt file; storage errors.
    pub fn register_file(&self, name: &str, path: &Path, author: &str, notes: Option<&str>) -> Result<Version> {
        let nv = new_version_from_file(name, path, author, notes)?;
        Ok(self.store.register(&nv)?.0)
    }

    /// The active (`production`) version of `prompt`: content, version number and hash.
    ///
    /// # Errors
    /// [`RegistryError::NotFound`] for an unknown prompt or one with no active version.
    pub fn active(&self, prompt: &str) -> Result<ActivePrompt> {
        let v = self.resolve(&VersionRef {
            prompt: prompt.to_string(),
            selector: model::Selector::Label(PRODUCTION.to_string()),
        })?;
        Ok(ActivePrompt {
            name: prompt.to_string(),
            version: v.number,
            sha256: v.sha256,
            content: v.content,
        })
    }

    /// The version holding `label`, if any (no error when none does).
    ///
    /// # Errors
    /// Storage errors.
    pub fn labelled(&self, prompt: &str, label: &str) -> Result<Option<Version>> {
        Ok(self
            .store
            .versions(prompt)?
            .into_iter()
            .find(|v| v.labels.iter().any(|l| l == label)))
    }

    /// Every version of `prompt`, oldest first.
    ///
    /// # Errors
    /// [`RegistryError::NotFound`] for an unknown prompt.
    pub fn versions(&self, prompt: &str) -> Result<Vec<Version>> {
        let v = self.store.versions(prompt)?;
        if v.is_empty() {
            return Err(self.unknown_prompt(prompt));
        }
        Ok(v)
    }

    fn unknown_prompt(&self, prompt: &str) -> RegistryError {
        let known = self.store.prompts().unwrap_or_default();
        let hint = match crate::diagnostic::nearest(prompt, known.iter().map(String::as_str)) {
            Some(n) => format!("; did you mean `{n}`?"),
            None if known.is_empty() => "; the registry is empty (`promptgate registry add NAME --file PATH`)".into(),
            None => format!("; registered prompts: {}", known.join(", ")),
        };
        RegistryError::UnknownPrompt {
            name: prompt.to_string(),
            hint,
        }
    }

    /// Resolves `NAME@V`, `NAME@LABEL` or `NAME@HASHPREFIX` to a version.
    ///
    /// # Errors
    /// [`RegistryError::NotFound`] naming what exists instead.
    pub fn resolve(&self, r: &VersionRef) -> Result<Version> {
        let versions = self.versions(&r.prompt)?;
        let found = match &r.selector {
            model::Selector::Number(n) => versions.iter().find(|v| v.number == *n),
            model::Selector::Label(l) => versions.iter().find(|v| v.labels.iter().any(|x| x == l)),
            model::Selector::Hash(h) => {
                let m: Vec<&Version> = versions.iter().filter(|v| v.sha256.starts_with(h.as_str())).collect();
                if m.len() > 1 {
                    return Err(RegistryError::Invalid(format!(
                        "hash prefix `{h}` matches several versions of {}",
                        r.prompt
                    )));
                }
                m.into_iter().next()
            }
        };
        found.cloned().ok_or_else(|| {
            let mut labels: Vec<String> = versions.iter().flat_map(|v| v.labels.iter().cloned()).collect();
            labels.sort_unstable();
            RegistryError::UnknownVersion {
                prompt: r.prompt.clone(),
                selector: r.selector.clone(),
                numbers: versions.iter().map(|v| v.number).collect(),
                labels,
            }
        })
    }

    /// Whether `prompt` version `number` may take a protected label: a
    /// recorded, unfiltered run passed on exactly its content **and covered
    /// every suite in `required`** (the suite files that test the prompt now,
    /// matched by content hash, so a run of a subset of the suites, or one
    /// from before a suite changed, does not count), and no run after that
    /// pass failed (a gate that blocked the version records a failing run).
    /// Errored runs are no evidence either way. An empty `required` asks for
    /// any complete passing run.
    ///
    /// # Errors
    /// Storage errors.
    pub fn eligibility(&self, prompt: &str, number: u32, required: &[RunSuite]) -> Result<Eligibility> {
        let runs = self.store.runs_of(prompt, number)?;
        Ok(eligibility_of(&runs, required))
    }

    /// Moves `label` of `version`'s prompt to it. For a protected label
    /// (`production` always is) the version must pass [`Registry::eligibility`]
    /// unless `force_reason` is given (then the move is audited as forced with
    /// the reason). Returns the version number the label held before.
    ///
    /// # Errors
    /// [`RegistryError::Refused`] with what to run; storage errors.
    // The policy's inputs are all independent; a builder would only hide them.
    #[allow(clippy::too_many_arguments)]
    pub fn set_label(
        &self,
        version: &Version,
        label: &str,
        protected: bool,
        actor: &str,
        force_reason: Option<&str>,
        required: &[RunSuite],
        suites_hint: &str,
    ) -> Result<Option<u32>> {
        let action = if force_reason.is_some() {
            "force"
        } else if label == PRODUCTION {
            "activate"
        } else {
            "promote"
        };
        let check = protected && force_reason.is_none();
        self.store.move_label_checked(&mut |store| {
            let mut run_id = None;
            if check {
                let runs = store.runs_of(&version.prompt, version.number)?;
                let why = match eligibility_of(&runs, required) {
                    Eligibility::Passed { run } => {
                        run_id = Some(run);
                        None
                    }
                    Eligibility::NeverRan => Some("no recorded test run covers it".to_string()),
                    Eligibility::NoPassingRun => Some("no recorded run passed on it".to_string()),
                    Eligibility::Incomplete { run, missing } => Some(format!(
                        "its last complete passing run ({run}) did not cover every suite that tests it now; missing or changed since: {}",
                        missing.join(", ")
                    )),
                    Eligibility::FailedLater { run } => Some(format!(
                        "run {run} failed on it (or the gate blocked it) after its last pass"
                    )),
                };
                if let Some(why) = why {
                    return Err(RegistryError::Refused(format!(
                        "refusing to move `{label}` of {} to version {} ({}): {why}.\n\
                         The suites covering it must pass on exactly this content first:\n  {suites_hint}\n\
                         (or override with --force --reason TEXT, which is audited)",
                        version.prompt,
                        version.number,
                        &version.sha256[..12]
                    )));
                }
            }
            Ok(LabelMove {
                prompt: version.prompt.clone(),
                label: label.to_string(),
                to_version: version.number,
                actor: actor.to_string(),
                action: action.to_string(),
                run_id,
                reason: force_reason.map(str::to_string),
            })
        })
    }

    /// Moves `production` back: to `to` (which must have been active before),
    /// else to the version that was active before the current one. No test
    /// run is needed; the move is audited. Returns (from, to).
    ///
    /// # Errors
    /// [`RegistryError::NotFound`] when there is nothing to roll back to, or
    /// `to` was never active.
    pub fn rollback(&self, prompt: &str, to: Option<u32>, actor: &str, reason: Option<&str>) -> Result<(u32, u32)> {
        self.versions(prompt)?;
        let mut decided = None;
        // The target is decided inside the move's transaction, so that a
        // concurrent activation cannot slip in between the choice and the move.
        self.store.move_label_checked(&mut |store| {
            let (current, target) = rollback_target(store, prompt, to)?;
            decided = Some((current, target));
            Ok(LabelMove {
                prompt: prompt.to_string(),
                label: PRODUCTION.to_string(),
                to_version: target,
                actor: actor.to_string(),
                action: "rollback".to_string(),
                run_id: None,
                reason: reason.map(str::to_string),
            })
        })?;
        decided.ok_or_else(|| RegistryError::Unavailable(format!("rollback of {prompt} decided nothing")))
    }
}

#[cfg(test)]
mod tests;
