//! The writer thread: cache entries and call-log rows are queued to a thread
//! with its own connection, which commits whatever has queued up in one
//! transaction.

use std::path::PathBuf;
use std::time::Duration;

use rusqlite::{params, Connection};

use super::{configure, CacheError, CallRecord};

/// A queued write.
#[derive(Debug)]
pub(super) enum Write {
    /// A response to store.
    Put {
        key: String,
        provider: String,
        model: String,
        json: String,
        at: i64,
    },
    /// A call to log, with its RFC 3339 time.
    Log(Box<CallRecord>, String),
}

/// The writer thread and its queue.
#[derive(Debug)]
pub(super) struct Writer {
    tx: std::sync::mpsc::Sender<Write>,
    handle: std::thread::JoinHandle<Result<(), CacheError>>,
}

/// Most writes committed in one transaction.
const MAX_BATCH: usize = 1024;

/// How long the writer waits after the first write of a batch for more to
/// queue up (a killed run loses at most the writes of this window).
const BATCH_WINDOW: Duration = Duration::from_millis(25);

impl Writer {
    /// Starts a writer thread for the database at `path`.
    pub(super) fn start(path: PathBuf) -> Result<Writer, CacheError> {
        let (tx, rx) = std::sync::mpsc::channel();
        let handle = std::thread::Builder::new()
            .name("promptgate-cache-writer".into())
            .spawn(move || write_loop(path, rx))
            .map_err(CacheError::StartWriter)?;
        Ok(Writer { tx, handle })
    }

    /// Queues a write; gives it back when the thread is gone.
    pub(super) fn send(&self, w: Write) -> Result<(), std::sync::mpsc::SendError<Write>> {
        self.tx.send(w)
    }

    /// Closes the queue and waits for the thread to commit it.
    ///
    /// # Errors
    /// The first write that failed.
    pub(super) fn finish(self) -> Result<(), CacheError> {
        let Writer { tx, handle } = self;
        drop(tx);
        handle.thread().unpark();
        handle.join().map_err(|_| CacheError::WriterPanicked)?
    }
}

fn apply(conn: &Connection, w: &Write) -> rusqlite::Result<()> {
    match w {
        Write::Put {
            key,
            provider,
            model,
            json,
            at,
        } => conn
            .prepare_cached(
                "INSERT OR REPLACE INTO responses (key, provider, model, response, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![key, provider, model, json, at])
            .map(drop),
        Write::Log(c, at) => conn
            .prepare_cached(
                "INSERT INTO calls (at, suite, prompt, prompt_hash, provider, model, tokens_in, tokens_out, tokens_cached, cost_usd, latency_ms, cached)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )?
            .execute(params![
                at,
                c.suite,
                c.prompt,
                c.prompt_hash,
                c.provider,
                c.model,
                c.tokens_in as i64,
                c.tokens_out as i64,
                c.tokens_cached as i64,
                c.cost_usd,
                c.latency_ms as i64,
                c.cached,
            ])
            .map(drop),
    }
}

/// The writer thread: commits what has queued up, batch by batch, until the
/// queue is closed. Returns the first error (later writes are still tried).
fn write_loop(path: PathBuf, rx: std::sync::mpsc::Receiver<Write>) -> Result<(), CacheError> {
    let fail = |source: rusqlite::Error| CacheError::Write {
        path: path.clone(),
        source,
    };
    let mut conn = Connection::open(&path).map_err(fail)?;
    configure(&conn).map_err(fail)?;
    let mut first_error = None;
    while let Ok(first) = rx.recv() {
        // Let the writes of the next few milliseconds queue up without waking
        // this thread for each (a context switch per call on a busy machine);
        // `flush` wakes it at once.
        std::thread::park_timeout(BATCH_WINDOW);
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(w) => batch.push(w),
                Err(_) => break,
            }
        }
        let result = (|| -> rusqlite::Result<()> {
            let tx = conn.transaction()?;
            for w in &batch {
                apply(&tx, w)?;
            }
            tx.commit()
        })();
        if let Err(e) = result {
            first_error.get_or_insert_with(|| fail(e));
        }
        // Fold the batch into the database now, off the run's critical path:
        // otherwise closing the file at the end of the run copies the whole
        // WAL (up to 1,000 pages) and fsyncs it, and a WAL left behind would
        // be read whole by the next run's open. PASSIVE: never waits for readers.
        let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
    }
    first_error.map_or(Ok(()), Err)
}
