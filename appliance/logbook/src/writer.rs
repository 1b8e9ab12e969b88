//! The writer thread: takes lines from the bounded queue, appends them to
//! the files and hands them to the syslog forwarder. It alone touches the
//! disk, so a slow or full disk stalls only this thread, never a role.

use std::sync::mpsc::{Receiver, Sender};
use std::time::Instant;

use crate::files::{FileSettings, LogFiles};
use crate::report::{to_stderr, Throttle};
use crate::syslog::{entry, Forwarder};

/// A request to the writer thread.
pub enum Msg {
    /// A line of a source, already cut to the line cap.
    Line {
        /// Who printed it.
        source: String,
        /// When it was recorded (unix milliseconds).
        ts_ms: u64,
        /// The line.
        text: String,
    },
    /// `count` lines of `source` were dropped because the queue was full.
    Dropped {
        /// Whose lines.
        source: String,
        /// When there was room again.
        ts_ms: u64,
        /// How many.
        count: u64,
    },
    /// Answer `files` once everything before is written, and pass
    /// `network` on to the forwarder (or drop it when there is none).
    Flush {
        /// Answered by the writer.
        files: Sender<()>,
        /// Answered by the forwarder.
        network: Sender<()>,
    },
    /// New file settings and what becomes of the forwarder.
    Reconfigure {
        /// Used from the next line on.
        files: FileSettings,
        /// The forwarder's fate.
        syslog: SyslogChange,
    },
}

/// What a reconfiguration does to the syslog forwarder.
pub enum SyslogChange {
    /// Its settings did not change.
    Keep,
    /// Remote syslog was turned off.
    Stop,
    /// Replaces the current one (if any).
    Start(Forwarder),
}

/// Runs until every sender of `queue` is gone.
pub fn run(queue: Receiver<Msg>, settings: FileSettings, mut syslog: Option<Forwarder>) {
    let mut files = LogFiles::new(settings);
    let mut trouble = Throttle::default();
    for msg in queue {
        match msg {
            Msg::Line {
                source,
                ts_ms,
                text,
            } => store(&mut files, &mut trouble, &syslog, &source, ts_ms, &text),
            Msg::Dropped {
                source,
                ts_ms,
                count,
            } => {
                let text = format!("[{count} lines dropped]");
                store(&mut files, &mut trouble, &syslog, &source, ts_ms, &text);
            }
            Msg::Flush {
                files: ack,
                network,
            } => {
                let _ = ack.send(());
                if let Some(forwarder) = &syslog {
                    forwarder.flush(network);
                }
            }
            Msg::Reconfigure {
                files: settings,
                syslog: change,
            } => {
                files.set_settings(settings);
                match change {
                    SyslogChange::Keep => {}
                    SyslogChange::Stop => syslog = None,
                    SyslogChange::Start(forwarder) => syslog = Some(forwarder),
                }
            }
        }
    }
}

/// Appends a line to its file and forwards it; a failed write is counted
/// and reported at most once a minute, and never stops the forwarding.
fn store(
    files: &mut LogFiles,
    trouble: &mut Throttle,
    syslog: &Option<Forwarder>,
    source: &str,
    ts_ms: u64,
    text: &str,
) {
    if let Err(e) = files.append(source, ts_ms, text) {
        if let Some(count) = trouble.fail(Instant::now()) {
            to_stderr(&format!(
                "cannot write the log of {source}: {e} ({count} line(s) lost since the last report)"
            ));
        }
    }
    if let Some(forwarder) = syslog {
        forwarder.send(entry(source, ts_ms, text));
    }
}
