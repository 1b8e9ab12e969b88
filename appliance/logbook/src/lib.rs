//! The logbook: every line the roles and services print, kept in
//! size-bounded, rotated files on the data partition (`DIR/<source>.log`,
//! each line `2026-11-22T02:20:48.123Z LINE`) and, when configured, sent to a
//! remote syslog server as RFC 5424 messages over UDP or TCP.
//!
//! [`Logbook::record`] never blocks: it puts the line in a bounded queue
//! ([`QUEUE_LINES`]) read by a writer thread, which alone touches the disk
//! and hands each line on to a syslog thread behind a second bounded queue
//! ([`SYSLOG_QUEUE_LINES`]). A full queue drops lines and counts them; the
//! count is written as `[N lines dropped]` where the lines went missing.
//! Lines are stored as given: the roles must not log secrets.
//!
//! ```
//! let data = tempfile::tempdir().unwrap();
//! let config = model::config::LoggingConfig {
//!     dir: data.path().join("logs"),
//!     ..Default::default()
//! };
//! let logbook = logbook::Logbook::open(&config, "box.example.test").unwrap();
//! logbook.record("mta", "INFO  mta::server: listening");
//! logbook.flush();
//! let file = std::fs::read_to_string(data.path().join("logs/mta.log")).unwrap();
//! assert!(file.ends_with("Z INFO  mta::server: listening\n"));
//! ```

mod error;
mod files;
mod line;
mod report;
mod syslog;
mod writer;

use std::collections::HashMap;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use model::config::{LoggingConfig, SyslogConfig};

pub use error::LogbookError;
pub use files::MIN_FILE_BYTES;
pub use line::{sanitise as file_stem, MAX_LINE_BYTES};
pub use syslog::message::{FACILITY_DAEMON, MAX_DATAGRAM};
pub use syslog::SYSLOG_QUEUE_LINES;

use files::FileSettings;
use syslog::Forwarder;
use writer::{Msg, SyslogChange};

/// Lines waiting for the writer thread; beyond it lines are dropped (and
/// counted). With [`MAX_LINE_BYTES`] per line this bounds the queue's memory.
pub const QUEUE_LINES: usize = 1024;

/// Longest wait in [`Logbook::flush`] for the syslog thread, which may be
/// waiting for an unreachable server.
pub const NETWORK_FLUSH_WAIT: Duration = Duration::from_secs(2);

/// Longest wait of [`Logbook::flush`] and [`Logbook::reconfigure`] for the
/// writer thread (a hung disk stalls it).
pub const WRITER_WAIT: Duration = Duration::from_secs(10);

/// How often a full queue is looked at again while waiting for room.
const QUEUE_POLL: Duration = Duration::from_millis(5);

/// Sources with a pending drop count at most; more are counted under
/// [`OVERFLOW_SOURCE`], so a caller inventing names cannot grow the map.
const MAX_DROP_SOURCES: usize = 64;

/// Where drops of sources beyond [`MAX_DROP_SOURCES`] are reported.
const OVERFLOW_SOURCE: &str = "logbook";

/// Permissions of the log directory: the supervisor's group may read it.
const DIR_MODE: u32 = 0o750;

/// The log of the box. Cheap to clone: every clone feeds the same writer,
/// which stops once the last clone is dropped.
#[derive(Clone)]
pub struct Logbook {
    inner: Arc<Inner>,
}

struct Inner {
    queue: SyncSender<Msg>,
    /// Lines dropped per source since its last `[N lines dropped]`.
    dropped: Mutex<HashMap<String, u64>>,
    /// Set while `dropped` is not empty: `record`'s fast path reads only this.
    any_dropped: AtomicBool,
    /// The forwarder's settings (address, protocol, hostname); the lock also
    /// orders concurrent reconfigurations.
    syslog: Mutex<Option<(SyslogConfig, String)>>,
}

impl Logbook {
    /// Creates the log directory (mode 0750) and starts the writer (and the
    /// syslog forwarder when `remote_syslog` is set). `hostname` is the
    /// HOSTNAME of syslog messages.
    pub fn open(config: &LoggingConfig, hostname: &str) -> Result<Logbook, LogbookError> {
        let settings = file_settings(config)?;
        let forwarder = match &config.remote_syslog {
            Some(syslog) => Some(Forwarder::start(syslog, hostname)?),
            None => None,
        };
        let (queue, lines) = mpsc::sync_channel(QUEUE_LINES);
        std::thread::Builder::new()
            .name("logbook-writer".into())
            .spawn(move || writer::run(lines, settings, forwarder))
            .map_err(LogbookError::Thread)?;
        let syslog = config
            .remote_syslog
            .clone()
            .map(|s| (s, hostname.to_owned()));
        Ok(Logbook {
            inner: Arc::new(Inner {
                queue,
                dropped: Mutex::new(HashMap::new()),
                any_dropped: AtomicBool::new(false),
                syslog: Mutex::new(syslog),
            }),
        })
    }

    /// Records one line printed by `source` (a role or service name), stamped
    /// now. Returns at once: when the writer is behind and its queue full,
    /// the line is dropped and counted instead.
    pub fn record(&self, source: &str, line: &str) {
        let ts_ms = model::time::now_ms();
        // Keep each source's drop count where its lines went missing.
        if self.inner.any_dropped.load(Ordering::Acquire) && !self.send_drop_counts(ts_ms) {
            self.count_drops(source, 1);
            return;
        }
        let msg = Msg::Line {
            source: source.to_owned(),
            ts_ms,
            text: line::cut(line, MAX_LINE_BYTES),
        };
        if let Err(TrySendError::Full(_)) = self.inner.queue.try_send(msg) {
            self.count_drops(source, 1);
        }
    }

    /// Applies new settings: files (directory, sizes) from the next line on;
    /// the syslog forwarder is started, stopped or replaced only when its
    /// settings or `hostname` changed.
    pub fn reconfigure(&self, config: &LoggingConfig, hostname: &str) -> Result<(), LogbookError> {
        let files = file_settings(config)?;
        let wanted = config
            .remote_syslog
            .clone()
            .map(|s| (s, hostname.to_owned()));
        let mut current = lock(&self.inner.syslog);
        let syslog = match &wanted {
            _ if *current == wanted => SyslogChange::Keep,
            None => SyslogChange::Stop,
            Some((syslog, hostname)) => SyslogChange::Start(Forwarder::start(syslog, hostname)?),
        };
        let deadline = Instant::now() + WRITER_WAIT;
        self.send_by(Msg::Reconfigure { files, syslog }, deadline)?;
        *current = wanted;
        Ok(())
    }

    /// Waits until every line recorded so far is written to its file, and
    /// until it is handed to the syslog server; for shutdown and tests.
    /// Bounded, so that a hung disk or server cannot hang a shutdown: at
    /// most [`WRITER_WAIT`] for the files, then [`NETWORK_FLUSH_WAIT`].
    pub fn flush(&self) {
        let ts_ms = model::time::now_ms();
        let deadline = Instant::now() + WRITER_WAIT;
        let pending = std::mem::take(&mut *lock(&self.inner.dropped));
        self.inner.any_dropped.store(false, Ordering::Release);
        for (source, count) in pending {
            let msg = Msg::Dropped {
                source,
                ts_ms,
                count,
            };
            if let Err(LogbookError::WriterStalled) = self.send_by(msg, deadline) {
                return;
            }
        }
        let (files, files_done) = mpsc::channel();
        let (network, network_done) = mpsc::channel();
        if self
            .send_by(Msg::Flush { files, network }, deadline)
            .is_ok()
        {
            let wait = deadline.saturating_duration_since(Instant::now());
            if files_done.recv_timeout(wait).is_ok() {
                let _ = network_done.recv_timeout(NETWORK_FLUSH_WAIT);
            }
        }
    }

    /// Queues `msg`, waiting for room until `deadline`; a drop count that
    /// cannot be queued is counted again, to be written later.
    fn send_by(&self, mut msg: Msg, deadline: Instant) -> Result<(), LogbookError> {
        loop {
            match self.inner.queue.try_send(msg) {
                Ok(()) => return Ok(()),
                Err(TrySendError::Disconnected(_)) => return Err(LogbookError::Stopped),
                Err(TrySendError::Full(unsent)) if Instant::now() >= deadline => {
                    if let Msg::Dropped { source, count, .. } = unsent {
                        self.count_drops(&source, count);
                    }
                    return Err(LogbookError::WriterStalled);
                }
                Err(TrySendError::Full(unsent)) => {
                    msg = unsent;
                    std::thread::sleep(QUEUE_POLL);
                }
            }
        }
    }

    /// Queues the pending drop counts; false when the queue is still full.
    fn send_drop_counts(&self, ts_ms: u64) -> bool {
        let mut dropped = lock(&self.inner.dropped);
        let mut all_sent = true;
        dropped.retain(|source, count| {
            let msg = Msg::Dropped {
                source: source.clone(),
                ts_ms,
                count: *count,
            };
            let full = matches!(self.inner.queue.try_send(msg), Err(TrySendError::Full(_)));
            all_sent &= !full;
            full
        });
        if dropped.is_empty() {
            self.inner.any_dropped.store(false, Ordering::Release);
        }
        all_sent
    }

    fn count_drops(&self, source: &str, count: u64) {
        let mut dropped = lock(&self.inner.dropped);
        let key = if dropped.len() < MAX_DROP_SOURCES || dropped.contains_key(source) {
            source
        } else {
            OVERFLOW_SOURCE
        };
        *dropped.entry(key.to_owned()).or_default() += count;
        self.inner.any_dropped.store(true, Ordering::Release);
    }
}

/// The file settings of `config`, its directory created.
fn file_settings(config: &LoggingConfig) -> Result<FileSettings, LogbookError> {
    if config.max_file_bytes < MIN_FILE_BYTES {
        return Err(LogbookError::FileTooSmall(config.max_file_bytes));
    }
    create_dir(&config.dir)?;
    Ok(FileSettings {
        dir: config.dir.clone(),
        max_file_bytes: config.max_file_bytes,
        files_kept: config.files_kept,
    })
}

fn create_dir(dir: &Path) -> Result<(), LogbookError> {
    let fail = |source| LogbookError::CreateDir {
        dir: dir.to_owned(),
        source,
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)
        .map_err(fail)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(DIR_MODE)).map_err(fail)
}

/// A lock that survives a panic elsewhere: the data (counts, settings) stays usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
