//! Loading suites, the project level: discovery of the suite files, each
//! file loaded (see [`super::suite_file`]), suite names made unique, and the
//! checks across suites (`--prompt` overrides that no suite uses).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::suite_file::load_one;
use super::Suite;
use crate::diagnostic::{display_path, nearest, Diagnostic, Diagnostics};
use crate::prompt::PromptCatalog;
use crate::template::Templates;

/// Where prompts are found and which candidates replace them.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// The prompts folder (default `prompts`).
    pub prompts_dir: PathBuf,
    /// `--prompt NAME=PATH`: candidate files replacing prompt NAME.
    pub prompt_overrides: BTreeMap<String, PathBuf>,
}

/// Everything a run needs from the input files.
#[derive(Debug)]
pub struct Project {
    /// The suites, in file order.
    pub suites: Vec<Suite>,
    /// Every compiled template (prompts).
    pub templates: Templates,
    /// Warnings (promptfoo keys ignored, tests without assertions, ...).
    pub warnings: Vec<Diagnostic>,
}

/// The suite files under `paths`: files as given (`true`: named
/// explicitly), folders searched recursively for `*.yaml` / `*.yml`, sorted;
/// and warnings about folders that could not be read (skipped).
///
/// # Errors
/// A path that does not exist, or no suite file at all.
pub fn discover(paths: &[PathBuf]) -> Result<SuiteFiles, Diagnostics> {
    let mut out = Vec::new();
    let mut warnings = Vec::new();
    let mut diags = Diagnostics::default();
    for p in paths {
        if p.is_dir() {
            let mut found = Vec::new();
            walk(p, &mut found, &mut warnings);
            found.sort();
            out.extend(found.into_iter().map(|f| (f, false)));
        } else if p.is_file() {
            out.push((p.clone(), true));
        } else {
            diags.push(
                Diagnostic::error(format!("no such file or folder: {}", p.display()), None)
                    .with_help("give suite files or folders holding *.yaml suites, e.g. `promptgate test suites/`"),
            );
        }
    }
    if diags.has_errors() {
        return Err(diags);
    }
    if out.is_empty() {
        let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        return Err(Diagnostic::error(format!("no suite files (*.yaml, *.yml) in {}", shown.join(", ")), None).into());
    }
    Ok(SuiteFiles { files: out, warnings })
}

/// What [`discover`] found.
#[derive(Debug, Default)]
pub struct SuiteFiles {
    /// The suite files, sorted; `true` when the file was named explicitly
    /// (not found in a folder).
    pub files: Vec<(PathBuf, bool)>,
    /// Folders that could not be read (skipped).
    pub warnings: Vec<Diagnostic>,
}

/// Collects `*.yaml` / `*.yml` below `dir`. Symlinked folders are not
/// followed (a link to a parent would loop); unreadable folders are skipped
/// with a warning.
fn walk(dir: &Path, out: &mut Vec<PathBuf>, warnings: &mut Vec<Diagnostic>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            warnings.push(Diagnostic::warning(
                format!("{}: cannot read folder: {e}; skipped", display_path(dir).display()),
                None,
            ));
            return;
        }
    };
    for e in entries.flatten() {
        let p = e.path();
        let is_link = e.file_type().is_ok_and(|t| t.is_symlink());
        if p.is_dir() {
            if !is_link {
                walk(&p, out, warnings);
            }
        } else if p
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e == "yaml" || e == "yml")
        {
            out.push(p);
        }
    }
}

/// Loads and validates every suite under `paths`.
///
/// # Errors
/// Every error found (all files are checked before giving up), each with
/// file, line and column where one exists.
pub fn load(paths: &[PathBuf], opts: &LoadOptions) -> Result<Project, Diagnostics> {
    let SuiteFiles { files, warnings } = discover(paths)?;
    let mut diags = Diagnostics::default();
    for w in warnings {
        diags.push(w);
    }
    let mut templates = Templates::new();
    let mut catalog = PromptCatalog::new(opts.prompts_dir.clone(), opts.prompt_overrides.clone());
    let mut suites: Vec<Suite> = Vec::new();
    let mut names = BTreeSet::new();
    for (file, explicit) in files {
        let shown = display_path(&file);
        if let Some(mut suite) = load_one(&file, &shown, explicit, &mut catalog, &mut templates, &mut diags) {
            let mut name = suite.name.clone();
            if names.contains(&name) {
                name = shown
                    .with_extension("")
                    .to_string_lossy()
                    .replace(std::path::MAIN_SEPARATOR, "/");
            }
            names.insert(name.clone());
            suite.name = name;
            suites.push(suite);
        }
    }
    for unused in catalog.unused_overrides() {
        let used: BTreeSet<String> = suites
            .iter()
            .flat_map(|s| s.prompts.iter().map(|p| p.name.clone()))
            .collect();
        let mut d = Diagnostic::error(
            format!("--prompt {unused}=...: no suite uses a prompt named `{unused}`"),
            None,
        );
        let list: Vec<&str> = used.iter().map(String::as_str).collect();
        d = match nearest(&unused, list.iter().copied()) {
            Some(n) => d.with_help(format!("did you mean `{n}`? (prompts used: {})", list.join(", "))),
            None => d.with_help(format!("prompts used by the suites: {}", list.join(", "))),
        };
        diags.push(d);
    }
    if diags.has_errors() {
        return Err(diags);
    }
    if suites.is_empty() {
        return Err(Diagnostic::error(
            "no suites to run (every YAML file found is a list of test cases, not a suite)",
            None,
        )
        .into());
    }
    Ok(Project {
        suites,
        templates,
        warnings: diags.warnings().cloned().collect(),
    })
}
