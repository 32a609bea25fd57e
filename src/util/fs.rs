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
    let tmp = tempfile::NamedTempFile::new_in(&parent)
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
    tempfile::NamedTempFile::new_in(&parent)
        .map(drop)
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot write in {}: {e}", parent.display())))
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
