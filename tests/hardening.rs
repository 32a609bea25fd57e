//! Hostile or unusual inputs and outputs: deep YAML and JSON, FIFOs and
//! devices where files are expected, temporary files left by a killed run.
//! Every child process runs under a timeout, so a regression fails, never hangs.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use assert_cmd::Command;

struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn new() -> Self {
        let p = Project {
            dir: tempfile::tempdir().expect("a temporary folder"),
        };
        p.write("prompts/greet.txt", "Answer: {{ query }}");
        p
    }

    fn join(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn write(&self, rel: &str, text: &str) {
        let path = self.join(rel);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }

    /// Runs `promptgate test ARGS` here under a 20 s timeout; returns (exit
    /// code, stdout, stderr). A timeout is `None` for the code.
    fn run(&self, args: &[&str]) -> (Option<i32>, String, String) {
        let out = Command::cargo_bin("promptgate")
            .expect("the binary")
            .current_dir(self.dir.path())
            .env("CI", "true")
            .env("NO_COLOR", "1")
            .env_remove("GITHUB_ACTIONS")
            .env_remove("GITHUB_STEP_SUMMARY")
            .env_remove("OPENAI_API_KEY")
            .arg("test")
            .args(args)
            .timeout(Duration::from_secs(20))
            .output()
            .expect("run promptgate");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    #[allow(dead_code)]
    fn path(&self) -> &Path {
        self.dir.path()
    }
}

#[test]
fn a_forty_thousand_level_yaml_document_is_refused_at_once() {
    let p = Project::new();
    let deep = format!(
        "prompts: [greet]\nproviders: [echo]\ntests:\n  - vars:\n      query: {}{}\n",
        "[".repeat(40_000),
        "]".repeat(40_000)
    );
    p.write("suites/deep.yaml", &deep);
    let start = Instant::now();
    let (code, _, err) = p.run(&["suites/"]);
    let took = start.elapsed();
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("YAML nested more than 256 levels deep"), "{err}");
    assert!(err.contains("deep.yaml:5"), "{err}");
    assert!(took < Duration::from_secs(2), "took {took:?}");
}

/// Makes a FIFO at `path` (nothing ever writes to it: opening it to read blocks).
#[cfg(unix)]
fn mkfifo(path: &Path) {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).expect("a path without NUL");
    // SAFETY: a valid NUL-terminated path; mkfifo only creates a file.
    assert_eq!(
        unsafe { libc::mkfifo(c.as_ptr(), 0o600) },
        0,
        "mkfifo {}",
        path.display()
    );
}

#[cfg(unix)]
#[test]
fn a_file_var_naming_a_fifo_is_refused_not_waited_on() {
    let p = Project::new();
    p.write(
        "suites/s.yaml",
        "prompts: [greet]\nproviders: [echo]\ntests:\n  - vars:\n      query: file://pipe\n",
    );
    mkfifo(&p.join("suites/pipe"));
    for args in [&["suites/", "--list"][..], &["suites/"][..]] {
        let (code, _, err) = p.run(args);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(err.contains("a FIFO"), "{err}");
        assert!(err.contains("suites/pipe"), "{err}");
        assert!(err.contains("s.yaml:5"), "{err}");
    }
    // A cases file that is a FIFO too.
    p.write(
        "suites/s.yaml",
        "prompts: [greet]\nproviders: [echo]\ntests: file://cases.csv\n",
    );
    mkfifo(&p.join("suites/cases.csv"));
    let (code, _, err) = p.run(&["suites/", "--list"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("a FIFO"), "{err}");
}

#[cfg(unix)]
#[test]
fn a_junit_path_that_is_a_fifo_or_a_symlink_to_one_is_written_in_place() {
    use std::os::unix::fs::FileTypeExt;
    let p = Project::new();
    p.write(
        "suites/s.yaml",
        "prompts: [greet]\nproviders: [echo]\ntests:\n  - vars: {query: hi}\n    assert: [{type: contains, value: hi}]\n",
    );
    mkfifo(&p.join("pipe"));
    std::os::unix::fs::symlink(p.join("pipe"), p.join("link")).expect("symlink");
    for target in ["pipe", "link"] {
        let fifo = p.join("pipe");
        let (tx, rx) = std::sync::mpsc::channel();
        // The reader: it blocks until promptgate opens the FIFO to write.
        std::thread::spawn(move || {
            let _ = tx.send(std::fs::read_to_string(fifo));
        });
        let (code, _, err) = p.run(&["suites/", "--junit", target]);
        assert_eq!(code, Some(0), "{target}: {err}");
        let xml = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the report reached the reader")
            .expect("readable");
        assert!(xml.contains("<testsuites"), "{xml}");
        assert!(std::fs::symlink_metadata(p.join("pipe"))
            .expect("pipe")
            .file_type()
            .is_fifo());
        assert!(std::fs::symlink_metadata(p.join("link"))
            .expect("link")
            .file_type()
            .is_symlink());
    }
}

#[test]
fn temporary_report_files_of_dead_processes_are_removed_by_the_next_run() {
    let p = Project::new();
    p.write(
        "suites/s.yaml",
        "prompts: [greet]\nproviders: [echo]\ntests:\n  - vars: {query: hi}\n    assert: [{type: contains, value: hi}]\n",
    );
    // 999999999 is above any Linux pid_max: that process is gone.
    let stale = ".promptgate-tmp-999999999-Ab12Cd";
    let live = format!(".promptgate-tmp-{}-Ab12Cd", std::process::id());
    p.write(&format!("out/{stale}"), "<half");
    p.write(&format!("out/{live}"), "<in use");
    p.write("out/.tmpXyZ123", "someone else's");
    let (code, _, err) = p.run(&["suites/", "--junit", "out/j.xml"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(p.join("out/j.xml").is_file());
    assert!(
        !p.join(&format!("out/{stale}")).exists(),
        "the stale temporary file is removed"
    );
    assert!(p.join(&format!("out/{live}")).exists(), "a live process's file is kept");
    assert!(p.join("out/.tmpXyZ123").exists(), "other files are not touched");
    let left: Vec<String> = std::fs::read_dir(p.join("out"))
        .expect("out")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left.len(), 3, "{left:?}");
}
