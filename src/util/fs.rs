//! File helpers shared by every layer: atomic writes of reports and
//! recordings, and the check that a report path is writable.

/// Writes `bytes` to `path` atomically: into a temporary file beside it, then
/// renamed over it, so a killed run never leaves a half-written report.
/// Creates the parent directory. A `path` that exists and is not a regular
/// file (`/dev/null`, `/dev/stdout`, a FIFO; through symlinks too) is written
/// in place, never renamed over: a device or a pipe stays what it is.
///
/// # Errors
/// I/O errors, with the path in the message.
pub fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomically_with(path, |out| out.write_all(bytes))
}

/// [`write_atomically`], with the content written by `write` (buffered), so
/// that a big report need not be held in memory as one string.
///
/// # Errors
/// I/O errors, with the path in the message, and `write`'s errors.
pub fn write_atomically_with(
    path: &std::path::Path,
    write: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    use std::io::Write;
    if is_special(path) {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| std::io::Error::new(e.kind(), format!("cannot write {}: {e}", path.display())))?;
        let mut out = std::io::BufWriter::new(file);
        write(&mut out)?;
        out.flush()?;
        return Ok(());
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent)
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot create {}: {e}", parent.display())))?;
    remove_stale_temp_files(&parent);
    let tmp = temp_file_in(&parent)
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot write in {}: {e}", parent.display())))?;
    let mut out = std::io::BufWriter::new(tmp);
    write(&mut out)?;
    out.flush()?;
    let tmp = out.into_inner().map_err(|e| e.into_error())?;
    readable_by_all(tmp.as_file())?;
    tmp.persist(path)
        .map_err(|e| std::io::Error::new(e.error.kind(), format!("cannot write {}: {}", path.display(), e.error)))?;
    Ok(())
}

/// Checks, before a run, that a report can be written at `path`: it is not a
/// folder, its folder exists or can be created, and a file can be created
/// there. Saves calling every provider only to fail at the end.
///
/// # Errors
/// What is wrong, naming the path.
pub fn check_writable(path: &std::path::Path) -> std::io::Result<()> {
    if path.file_name().is_none() || path.is_dir() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{} is a folder, not a file path", path.display()),
        ));
    }
    if is_special(path) {
        // Opening a FIFO here would wait for its reader: it is written at the end.
        return Ok(());
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent)
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot create {}: {e}", parent.display())))?;
    temp_file_in(&parent)
        .map(drop)
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot write in {}: {e}", parent.display())))
}

/// Prefix of the temporary files reports are written to, followed by the
/// writer's process id: `.promptgate-tmp-<pid>-XXXXXX`.
pub const TEMP_PREFIX: &str = ".promptgate-tmp-";

/// A temporary file in `dir` named [`TEMP_PREFIX`]`<pid>-...`, so that a
/// later run can tell one left by a killed process from one in use.
fn temp_file_in(dir: &std::path::Path) -> std::io::Result<tempfile::NamedTempFile> {
    tempfile::Builder::new()
        .prefix(&format!("{TEMP_PREFIX}{}-", std::process::id()))
        .tempfile_in(dir)
}

/// Removes from `dir` the temporary files of processes that no longer run
/// (left by a run killed with SIGKILL, which no cleanup survives). Each folder
/// is looked at once per process; failures are ignored (best effort).
pub fn remove_stale_temp_files(dir: &std::path::Path) {
    static SEEN: std::sync::Mutex<Vec<std::path::PathBuf>> = std::sync::Mutex::new(Vec::new());
    {
        let mut seen = SEEN.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if seen.iter().any(|d| d == dir) {
            return;
        }
        seen.push(dir.to_path_buf());
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(TEMP_PREFIX))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !process_alive(pid) && entry.file_type().is_ok_and(|t| t.is_file()) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Whether a process with id `pid` exists (on other systems than Unix: assumed).
fn process_alive(pid: u32) -> bool {
    #[cfg(unix)]
    {
        let Ok(pid) = libc::pid_t::try_from(pid) else {
            return false;
        };
        if pid <= 0 {
            return true;
        }
        // SAFETY: signal 0 sends nothing; it only checks that the process exists.
        let r = unsafe { libc::kill(pid, 0) };
        r == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        true
    }
}

/// `path` exists (following symlinks) and is neither a regular file nor a
/// folder: a device, a FIFO, a socket.
fn is_special(path: &std::path::Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir())
}

/// Temporary files are created owner-only (0600); reports and recordings are
/// ordinary files that CI uploads and other users read, so make them 0644.
///
/// # Errors
/// The permissions cannot be set.
pub fn readable_by_all(file: &std::fs::File) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    #[cfg(not(unix))]
    let _ = file;
    Ok(())
}
