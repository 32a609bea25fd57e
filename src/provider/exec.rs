//! `exec:COMMAND`: any program as a provider.
//!
//! `COMMAND` runs as `sh -c COMMAND` in the folder promptgate runs in. The rendered prompt
//! ([`ProviderRequest::as_text`]: the user message, or the messages as a JSON
//! array of `{role, content}`) is written to its stdin, which is then closed;
//! the output is its stdout (UTF-8, invalid sequences replaced) without one
//! trailing newline. An empty stdout with exit status 0 is a valid, empty
//! answer (a program may legitimately print nothing). A non-zero exit is an
//! error carrying the exit status and the last [`STDERR_TAIL_CHARS`]
//! characters of stderr. A stdout larger than [`MAX_OUTPUT_BYTES`] is an error
//! too: promptgate stops reading and kills the command rather than buffer it.
//!
//! # Processes
//!
//! On Unix the command runs in a process group of its own, and promptgate
//! signals the whole group (`SIGKILL`), so that nothing it started outlives
//! the case:
//!
//! - once `sh` has exited, promptgate waits at most [`EXIT_GRACE`] for stdout
//!   and stderr to be closed, then kills the group and uses the output read so
//!   far. A command that leaves a process running in the background
//!   (`exec:sleep 30 & echo hi`) therefore answers as soon as `sh` exits
//!   (here `hi`, `sh` having exited 0) and the background process is killed;
//! - when the command runs longer than the provider's timeout (`timeout_ms`,
//!   default 120 000 ms), or its output exceeds [`MAX_OUTPUT_BYTES`];
//! - when the call is dropped (cancelled) before it finished.
//!
//! Because the group is not promptgate's, the terminal's Ctrl-C (`SIGINT` to
//! the foreground process group) does not reach exec commands: promptgate's
//! own Ctrl-C handling stops scheduling cases and lets the cases in flight
//! finish, so their commands run to completion (or to their timeout). A
//! second Ctrl-C exits promptgate at once without signalling the commands
//! still running; they lose their stdin/stdout pipes (a write to stdout then
//! fails with `SIGPIPE`) but are otherwise left to finish on their own.
//!
//! Elsewhere only `sh` itself is killed (on timeout, on drop, and when the
//! output is too large); the grace period after it exits still applies.

use std::io;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

use super::http::tail;
use super::{Provider, ProviderConfig, ProviderError, ProviderRequest, ProviderResponse};

/// Characters of stderr kept in the error of a failed command (its end).
pub const STDERR_TAIL_CHARS: usize = 500;

/// The largest stdout accepted from a command (10 MiB). A larger output is an
/// [`ProviderError::Exec`] error ("output exceeds 10 MiB"); reading stops at
/// that point and the command is killed.
pub const MAX_OUTPUT_BYTES: usize = 10 * 1024 * 1024;

/// How long promptgate waits, after `sh` itself has exited, for stdout and
/// stderr to be closed by the processes it left behind before it kills them
/// and uses the output read so far.
pub const EXIT_GRACE: Duration = Duration::from_millis(250);

/// Bytes of stderr kept in memory (its end): enough for
/// [`STDERR_TAIL_CHARS`] characters of any UTF-8 text. The rest is read and
/// discarded, so that a chatty command never blocks on a full pipe.
const STDERR_KEEP_BYTES: usize = 64 * 1024;

/// Size of one read from the command's stdout or stderr.
const READ_CHUNK: usize = 64 * 1024;

/// The `exec:COMMAND` provider: the prompt on stdin, the answer from stdout
/// (see the module docs for the exact contract).
#[derive(Debug, Clone)]
pub struct Exec {
    id: String,
    command: String,
    work_dir: PathBuf,
    timeout: Duration,
}

impl Exec {
    /// The provider `id` running `command` (a `sh -c` command line) in
    /// `work_dir`, with the timeout of `config`.
    pub fn new(id: &str, command: &str, config: &ProviderConfig, work_dir: &Path) -> Self {
        Exec {
            id: id.to_string(),
            command: command.to_string(),
            work_dir: work_dir.to_path_buf(),
            timeout: config.timeout(),
        }
    }

    fn error(&self, message: String) -> ProviderError {
        ProviderError::Exec {
            provider: self.id.clone(),
            message,
        }
    }
}

/// `s` without one trailing newline (`\n` or `\r\n`).
fn strip_one_newline(mut s: String) -> String {
    if s.ends_with('\n') {
        s.pop();
        if s.ends_with('\r') {
            s.pop();
        }
    }
    s
}

/// The process group of a running command, killed (`SIGKILL`) on
/// [`kill`](Self::kill) or, if that was never called, on drop, so that a
/// cancelled call leaves nothing behind. A no-op outside Unix.
struct ProcessGroup {
    /// The group id (the pid of `sh`, its leader); `None` once killed.
    #[cfg_attr(not(unix), allow(dead_code))]
    pgid: Option<u32>,
}

impl ProcessGroup {
    /// Kills every process of the group still running, once.
    ///
    /// After `sh` has been reaped its pid may in principle be reused, but not
    /// while a process of its group still exists, and this runs right after
    /// `sh` exits (within [`EXIT_GRACE`]), so the window is negligible.
    fn kill(&mut self) {
        #[cfg(unix)]
        if let Some(pgid) = self.pgid.take().and_then(|p| libc::pid_t::try_from(p).ok()) {
            // A pgid of 0 or 1 would mean our own group or init's: never signal those.
            if pgid > 1 {
                // SAFETY: killpg only sends a signal; it touches no memory of
                // ours. ESRCH (the group is already gone) is the expected
                // outcome when the command left nothing behind, so the result
                // is ignored.
                unsafe {
                    libc::killpg(pgid, libc::SIGKILL);
                }
            }
        }
        #[cfg(not(unix))]
        {
            self.pgid = None;
        }
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Why reading a command's stdout stopped early.
enum StdoutError {
    /// More than [`MAX_OUTPUT_BYTES`].
    TooLarge,
    /// Reading failed.
    Io(io::Error),
}

/// Appends `reader` to `buf` until EOF; stops with [`StdoutError::TooLarge`]
/// as soon as `buf` holds more than `cap` bytes.
async fn read_capped<R: AsyncRead + Unpin>(
    reader: Option<R>,
    buf: &mut Vec<u8>,
    cap: usize,
) -> Result<(), StdoutError> {
    let Some(mut reader) = reader else {
        return Ok(());
    };
    let mut chunk = vec![0u8; READ_CHUNK];
    loop {
        match reader.read(&mut chunk).await {
            Ok(0) => return Ok(()),
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                if buf.len() > cap {
                    return Err(StdoutError::TooLarge);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(StdoutError::Io(e)),
        }
    }
}

/// Reads `reader` to EOF (or its first error), keeping only its last `keep`
/// bytes in `buf`.
async fn read_tail<R: AsyncRead + Unpin>(reader: Option<R>, buf: &mut Vec<u8>, keep: usize) {
    let Some(mut reader) = reader else {
        return;
    };
    let mut chunk = vec![0u8; READ_CHUNK];
    loop {
        match reader.read(&mut chunk).await {
            Ok(0) => return,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                if buf.len() > 2 * keep {
                    buf.drain(..buf.len() - keep);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

/// How a command's run ended, before its process group is killed.
enum CommandEnd {
    /// `sh` exited; stdout and stderr were read to EOF or for [`EXIT_GRACE`].
    Exited(io::Result<std::process::ExitStatus>),
    /// Stdout was larger than [`MAX_OUTPUT_BYTES`].
    TooLarge,
    /// Stdout could not be read.
    ReadFailed(io::Error),
}

/// Kills `sh` (if the group kill has not already) and waits for it.
async fn reap(child: &mut tokio::process::Child) {
    let _ = child.start_kill();
    let _ = child.wait().await;
}

#[async_trait::async_trait]
impl Provider for Exec {
    fn id(&self) -> &str {
        &self.id
    }

    async fn call(&self, request: &ProviderRequest) -> Result<ProviderResponse, ProviderError> {
        let started = Instant::now();
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(&self.command)
            .current_dir(&self.work_dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        // Its own process group (pgid = the pid of `sh`), so that everything
        // the command starts can be killed together; see the module docs.
        #[cfg(unix)]
        command.process_group(0);
        let mut child = command.spawn().map_err(|e| {
            self.error(format!(
                "could not start `sh -c {}` in {}: {e}",
                self.command,
                self.work_dir.display()
            ))
        })?;
        // Declared after `child`, so dropped (the group killed) before it.
        let mut group = ProcessGroup { pgid: child.id() };

        let input = request.as_text();
        let stdin = child.stdin.take();
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let mut out_buf = Vec::new();
        let mut err_buf = Vec::new();

        // Write, read and wait concurrently: a command may print before (or
        // without) reading all its input.
        let run = async {
            let mut write = Box::pin(async move {
                if let Some(mut stdin) = stdin {
                    // A command that exits without reading its input is not an error here.
                    let _ = stdin.write_all(input.as_bytes()).await;
                    let _ = stdin.shutdown().await;
                }
            });
            let read_out = read_capped(stdout, &mut out_buf, MAX_OUTPUT_BYTES);
            let read_err = read_tail(stderr, &mut err_buf, STDERR_KEEP_BYTES);
            tokio::pin!(read_out, read_err);
            let (mut written, mut out_done, mut err_done) = (false, false, false);
            let status = loop {
                tokio::select! {
                    status = child.wait() => break status,
                    () = &mut write, if !written => written = true,
                    r = &mut read_out, if !out_done => match r {
                        Ok(()) => out_done = true,
                        Err(StdoutError::TooLarge) => return CommandEnd::TooLarge,
                        Err(StdoutError::Io(e)) => return CommandEnd::ReadFailed(e),
                    },
                    () = &mut read_err, if !err_done => err_done = true,
                }
            };
            // `sh` has exited: what it left running may hold the pipes open.
            // Give them a moment, then go with what was read. Nobody needs
            // the prompt now: stop writing it and close stdin.
            drop(write);
            let drain = async {
                let out = async {
                    if out_done {
                        Ok(())
                    } else {
                        (&mut read_out).await
                    }
                };
                let err = async {
                    if !err_done {
                        (&mut read_err).await;
                    }
                };
                tokio::join!(out, err).0
            };
            match tokio::time::timeout(EXIT_GRACE, drain).await {
                Ok(Err(StdoutError::TooLarge)) => CommandEnd::TooLarge,
                Ok(Err(StdoutError::Io(e))) => CommandEnd::ReadFailed(e),
                Ok(Ok(())) | Err(_) => CommandEnd::Exited(status),
            }
        };
        let ended = tokio::time::timeout(self.timeout, run).await;
        // Whatever happened, nothing the command started outlives the call.
        group.kill();
        let ended = match ended {
            Ok(ended) => ended,
            Err(_) => {
                reap(&mut child).await;
                return Err(self.error(format!(
                    "`{}` timed out after {} ms",
                    self.command,
                    self.timeout.as_millis()
                )));
            }
        };
        let status = match ended {
            CommandEnd::Exited(status) => {
                status.map_err(|e| self.error(format!("could not wait for `{}`: {e}", self.command)))?
            }
            CommandEnd::TooLarge => {
                reap(&mut child).await;
                return Err(self.error(format!(
                    "`{}`: output exceeds {} MiB",
                    self.command,
                    MAX_OUTPUT_BYTES / (1024 * 1024)
                )));
            }
            CommandEnd::ReadFailed(e) => {
                reap(&mut child).await;
                return Err(self.error(format!("could not read the output of `{}`: {e}", self.command)));
            }
        };
        let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        if !status.success() {
            let stderr = String::from_utf8_lossy(&err_buf);
            let stderr = stderr.trim_end();
            let stderr = if stderr.is_empty() {
                "(no stderr)".to_string()
            } else {
                tail(stderr, STDERR_TAIL_CHARS)
            };
            return Err(self.error(format!("`{}` failed ({status}): {stderr}", self.command)));
        }
        Ok(ProviderResponse {
            output: strip_one_newline(String::from_utf8_lossy(&out_buf).into_owned()),
            latency_ms,
            ..Default::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_exactly_one_newline() {
        assert_eq!(strip_one_newline("a\n\n".into()), "a\n");
        assert_eq!(strip_one_newline("a\r\n".into()), "a");
        assert_eq!(strip_one_newline("a".into()), "a");
    }

    #[tokio::test]
    async fn read_capped_stops_past_the_cap() {
        let data = [b'a'; 100];
        let mut buf = Vec::new();
        let r = read_capped(Some(&data[..]), &mut buf, 10).await;
        assert!(matches!(r, Err(StdoutError::TooLarge)));
        let mut buf = Vec::new();
        assert!(read_capped(Some(&data[..]), &mut buf, 100).await.is_ok());
        assert_eq!(buf.len(), 100);
    }

    #[tokio::test]
    async fn read_tail_keeps_the_end() {
        let data: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
        let mut buf = Vec::new();
        read_tail(Some(&data[..]), &mut buf, 100).await;
        assert!(buf.len() >= 100 && buf.ends_with(&data[data.len() - 100..]));
    }
}
