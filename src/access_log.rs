//! The access log: one JSON line per request (README, "Operations"), written off the request path.
//!
//! Lines go through a bounded channel to a writer thread (`tracing-appender`'s non-blocking
//! writer), so a slow terminal or disk never blocks a request; when the channel is full a line is
//! dropped rather than a request delayed. A record has no field that could hold a name, birth
//! date, CI, DI, phone, token or secret: privacy is by construction, not by filtering.

use std::io::Write;
use std::path::Path;

use serde::Serialize;
use tracing_appender::non_blocking::{NonBlocking, NonBlockingBuilder, WorkerGuard};

/// The fields of one access-log line.
#[derive(Debug, Serialize)]
pub struct AccessRecord<'a> {
    pub time: jiff::Timestamp,
    pub request_id: &'a str,
    pub method: &'a str,
    pub path: &'a str,
    pub route: Option<&'a str>,
    /// 0 when no response was written (the client went away).
    pub status: u16,
    pub verdict: Option<&'a str>,
    pub reason: Option<&'a str>,
    /// The `error` code of a refused or failed request (README, "The gateway's own answers"); `None` on success.
    pub error: Option<&'a str>,
    pub imp_uid: Option<&'a str>,
    /// `hit` or `miss`.
    pub cache: Option<&'a str>,
    pub api_ms: Option<f64>,
    pub total_ms: f64,
    /// The TCP peer.
    pub client: Option<String>,
    /// The client verigate believes in: the peer, or with a trusted peer the rightmost
    /// untrusted address of `X-Forwarded-For` (README, "Forwarding headers").
    pub forwarded_for: Option<&'a str>,
}

/// A non-blocking JSON-lines writer.
///
/// The writer thread starts at the first line, not when the log is opened: `run --daemon`
/// forks after the log is opened, and a thread started before the fork would not exist in the
/// daemon (its lines would queue forever).
pub struct AccessLog {
    /// The destination, until the writer thread takes it.
    sink: std::sync::Mutex<Option<Box<dyn Write + Send>>>,
    writer: std::sync::OnceLock<Option<NonBlocking>>,
    /// Dropping the guard flushes the queued lines and stops the thread.
    worker: std::sync::Mutex<Option<WorkerGuard>>,
}

/// Lines buffered before new ones are dropped.
const BUFFERED_LINES: usize = 64 * 1024;

impl AccessLog {
    /// Writes to standard output.
    pub fn stdout() -> Self {
        Self::to(std::io::stdout())
    }

    /// Appends to the file at `path`, creating it.
    pub fn file(path: &Path) -> std::io::Result<Self> {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(Self::to(f))
    }

    fn to(w: impl Write + Send + 'static) -> Self {
        AccessLog {
            sink: std::sync::Mutex::new(Some(Box::new(w))),
            writer: std::sync::OnceLock::new(),
            worker: std::sync::Mutex::new(None),
        }
    }

    /// The writer, starting its thread on first use; `None` once the log is closed.
    fn writer(&self) -> Option<&NonBlocking> {
        self.writer
            .get_or_init(|| {
                let sink = self.sink.lock().ok()?.take()?;
                let (writer, worker) = NonBlockingBuilder::default()
                    .lossy(true)
                    .buffered_lines_limit(BUFFERED_LINES)
                    .thread_name("verigate-access-log")
                    .finish(sink);
                *self.worker.lock().ok()? = Some(worker);
                Some(writer)
            })
            .as_ref()
    }

    /// Flushes the queued lines and stops the writer (before the process exits).
    pub fn close(&self) {
        let worker = self.worker.lock().ok().and_then(|mut w| w.take());
        drop(worker);
    }

    /// Queues one line.
    pub fn write(&self, record: &AccessRecord<'_>) {
        let Ok(mut line) = serde_json::to_vec(record) else {
            return;
        };
        line.push(b'\n');
        // One write call is one queued line.
        if let Some(writer) = self.writer() {
            let _ = writer.clone().write_all(&line);
        }
    }
}
