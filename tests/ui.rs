//! Diagnostics snapshots: every folder under `tests/ui/` is a small project
//! with one broken input, and its full stderr is a reviewed insta snapshot
//! (`tests/snapshots/ui__<folder>.snap`). Error messages are this tool's face:
//! a change to one shows up in review as a snapshot diff.
//!
//! A case folder holds `suites/*.yaml`, optionally `prompts/*`,
//! `promptgate.toml`, data files, and an `args` file (the arguments after
//! `promptgate`, one per line; default `test` and `suites/`). Without a
//! `prompts/` folder the case gets `prompts/greet.txt` (`Answer: {{ query }}`).
//! Each case runs in a copy in a temporary folder (nothing is written into the
//! tree), must exit 2 (invalid input) and must write no report; the temporary
//! folder's path is shown as `[TMP]` in the snapshot.
//!
//! Add a case: create the folder, run `INSTA_UPDATE=always cargo test --test ui`
//! (or `cargo insta test --test ui`), read the new `.snap` file, commit both.

use std::path::{Path, PathBuf};

use libtest_mimic::{Arguments, Failed, Trial};

/// The prompt a case gets when it has no `prompts/` folder.
const GREET: &str = "Answer: {{ query }}\n";

fn main() {
    let args = Arguments::from_args();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ui");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("tests/ui exists")
        .map(|e| e.expect("a readable tests/ui entry").path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    let trials = cases
        .into_iter()
        .map(|dir| {
            let name = dir
                .file_name()
                .and_then(|n| n.to_str())
                .expect("a UTF-8 case folder name")
                .to_string();
            Trial::test(name.clone(), move || run_case(&name, &dir))
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}

/// Copies `from` into `to`, recursively.
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// Runs one case: exit code 2, no report written, stderr as the snapshot.
fn run_case(name: &str, dir: &Path) -> Result<(), Failed> {
    let tmp = tempfile::tempdir()?;
    // Canonical, so that the path promptgate prints (which may resolve
    // symlinks such as macOS's /var -> /private/var) is redacted too.
    let work = tmp.path().canonicalize()?;
    copy_tree(dir, &work)?;
    if !work.join("prompts").exists() {
        std::fs::create_dir_all(work.join("prompts"))?;
        std::fs::write(work.join("prompts/greet.txt"), GREET)?;
    }
    let args: Vec<String> = match std::fs::read_to_string(work.join("args")) {
        Ok(text) => text.lines().map(str::to_string).filter(|l| !l.is_empty()).collect(),
        Err(_) => vec!["test".into(), "suites/".into()],
    };
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_promptgate"))
        .args(&args)
        .current_dir(&work)
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_STEP_SUMMARY")
        .env("CI", "true")
        .env_remove("CLICOLOR_FORCE")
        .env("NO_COLOR", "1")
        .env_remove("OPENAI_API_KEY")
        .env_remove("OPENAI_BASE_URL")
        .env_remove("ANTHROPIC_API_KEY")
        .env_remove("PROMPTGATE_REGISTRY")
        .output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    if out.status.code() != Some(2) {
        return Err(format!(
            "expected exit 2, got {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
            out.status.code()
        )
        .into());
    }
    if work.join("reports").exists() || stdout.contains("test result:") {
        return Err(format!("an invalid input ran or wrote reports:\nstdout:\n{stdout}").into());
    }
    let shown = stderr.replace(&*work.to_string_lossy(), "[TMP]");
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots"));
    settings.set_prepend_module_to_snapshot(true);
    settings.set_description(args.join(" "));
    settings.bind(|| insta::assert_snapshot!(name, shown));
    Ok(())
}
