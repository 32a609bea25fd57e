//! `exec:COMMAND`: any program as a provider.
//!
//! `COMMAND` runs as `sh -c COMMAND` in the folder promptgate runs in. The rendered prompt
//! ([`ProviderRequest::as_text`]: the user message, or the messages as a JSON
//! array of `{role, content}`) is written to its stdin, which is then closed;
//! the output is its stdout (UTF-8, invalid sequences replaced) without one
//! trailing newline. A non-zero exit is an error carrying the exit status and
//! the last [`STDERR_TAIL_CHARS`] characters of stderr. The command is killed
//! when it runs longer than the provider's timeout (`timeout_ms`, default
//! 120 000 ms).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

use super::http::tail;
use super::{Provider, ProviderConfig, ProviderError, ProviderRequest, ProviderResponse, TokenUsage};

/// Characters of stderr kept in the error of a failed command (its end).
pub const STDERR_TAIL_CHARS: usize = 500;

/// The `exec:COMMAND` provider.
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

#[async_trait::async_trait]
impl Provider for Exec {
    fn id(&self) -> &str {
        &self.id
    }

    async fn call(&self, request: &ProviderRequest) -> Result<ProviderResponse, ProviderError> {
        let started = Instant::now();
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(&self.command)
            .current_dir(&self.work_dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                self.error(format!(
                    "could not start `sh -c {}` in {}: {e}",
                    self.command,
                    self.work_dir.display()
                ))
            })?;

        let input = request.as_text();
        let stdin = child.stdin.take();
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        // Write, read and wait concurrently: a command may print before (or
        // without) reading all its input.
        let write = async move {
            if let Some(mut stdin) = stdin {
                // A command that exits without reading its input is not an error here.
                let _ = stdin.write_all(input.as_bytes()).await;
                let _ = stdin.shutdown().await;
            }
        };
        let read_out = async move {
            let mut buf = Vec::new();
            if let Some(mut out) = stdout {
                out.read_to_end(&mut buf).await.map(|_| buf)
            } else {
                Ok(buf)
            }
        };
        let read_err = async move {
            let mut buf = Vec::new();
            if let Some(mut err) = stderr {
                let _ = err.read_to_end(&mut buf).await;
            }
            buf
        };
        let run = async { tokio::join!(write, read_out, read_err, child.wait()) };
        let (_, out, err, status) = match tokio::time::timeout(self.timeout, run).await {
            Ok(done) => done,
            Err(_) => {
                let _ = child.start_kill();
                let _ = child.wait().await;
                return Err(self.error(format!(
                    "`{}` timed out after {} ms",
                    self.command,
                    self.timeout.as_millis()
                )));
            }
        };
        let status = status.map_err(|e| self.error(format!("could not wait for `{}`: {e}", self.command)))?;
        let out = out.map_err(|e| self.error(format!("could not read the output of `{}`: {e}", self.command)))?;
        let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        if !status.success() {
            let stderr = String::from_utf8_lossy(&err);
            let stderr = stderr.trim_end();
            let stderr = if stderr.is_empty() {
                "(no stderr)".to_string()
            } else {
                tail(stderr, STDERR_TAIL_CHARS)
            };
            return Err(self.error(format!("`{}` failed ({status}): {stderr}", self.command)));
        }
        Ok(ProviderResponse {
            output: strip_one_newline(String::from_utf8_lossy(&out).into_owned()),
            latency_ms,
            tokens: TokenUsage::default(),
            finish_reason: None,
            cost_usd: None,
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
}
