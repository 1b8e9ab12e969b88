//! Forwarding to a remote syslog server, on its own thread behind its own
//! bounded queue: a slow or absent server never holds up the files. While
//! the server cannot be reached the queue fills, further lines are dropped
//! and counted, and a line saying how many were lost is sent once the server
//! takes messages again.

mod backoff;
mod link;
pub mod message;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender, TrySendError};
use std::sync::Arc;

use model::config::SyslogConfig;

use self::link::{Link, Stopped};
use self::message::{format, severity_of, Entry, Severity};
use crate::LogbookError;

/// Lines waiting for the server; beyond it lines are dropped (and counted).
pub const SYSLOG_QUEUE_LINES: usize = 1024;

/// The APP-NAME of the logbook's own messages.
const OWN_NAME: &str = "logbook";

/// What the forwarder thread is asked to do.
enum Request {
    Send(Entry),
    /// Answer once everything queued before has been handed to the network.
    Flush(Sender<()>),
}

/// The handle of a running forwarder; dropping it stops the thread (lines
/// still queued are sent if the server is reachable, else given up).
pub struct Forwarder {
    queue: SyncSender<Request>,
    dropped: Arc<AtomicU64>,
    _stop: Sender<()>,
}

impl Forwarder {
    /// Checks the address (`HOST:PORT`) and starts the thread; the server
    /// is contacted on the first line.
    pub fn start(config: &SyslogConfig, hostname: &str) -> Result<Forwarder, LogbookError> {
        check_address(&config.address)?;
        let (queue, requests) = mpsc::sync_channel(SYSLOG_QUEUE_LINES);
        let (stop, stopped) = mpsc::channel();
        let dropped = Arc::new(AtomicU64::new(0));
        let link = Link::new(config.clone(), stopped);
        let counter = dropped.clone();
        let hostname = hostname.to_owned();
        std::thread::Builder::new()
            .name("logbook-syslog".into())
            .spawn(move || run(requests, link, &counter, &hostname))
            .map_err(LogbookError::Thread)?;
        Ok(Forwarder {
            queue,
            dropped,
            _stop: stop,
        })
    }

    /// Queues a line without waiting; counts it as dropped when the queue is full.
    pub fn send(&self, entry: Entry) {
        if let Err(TrySendError::Full(_)) = self.queue.try_send(Request::Send(entry)) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Has `ack` answered once the lines queued so far are sent; when the
    /// queue is full `ack` is dropped at once, which the waiter sees too.
    pub fn flush(&self, ack: Sender<()>) {
        let _ = self.queue.try_send(Request::Flush(ack));
    }
}

/// `HOST:PORT` with a non-zero port; the host is resolved at each connect.
fn check_address(address: &str) -> Result<(), LogbookError> {
    let valid = address
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0));
    if valid {
        Ok(())
    } else {
        Err(LogbookError::SyslogAddress(address.to_owned()))
    }
}

/// The forwarder thread: until the queue is closed or the link is stopped.
fn run(requests: Receiver<Request>, mut link: Link, dropped: &AtomicU64, hostname: &str) {
    for request in requests {
        let entry = match request {
            Request::Flush(ack) => {
                let _ = ack.send(());
                continue;
            }
            Request::Send(entry) => entry,
        };
        if forward(&mut link, dropped, hostname, &entry).is_err() {
            return;
        }
    }
}

/// Sends the count of lines dropped since the last message, then `entry`.
fn forward(
    link: &mut Link,
    dropped: &AtomicU64,
    hostname: &str,
    entry: &Entry,
) -> Result<(), Stopped> {
    let lost = dropped.swap(0, Ordering::Relaxed);
    if lost > 0 {
        let notice = Entry {
            ts_ms: entry.ts_ms,
            source: OWN_NAME.into(),
            text: format!(
                "WARN  logbook: [{lost} lines dropped] (syslog server too slow or unreachable)"
            ),
            severity: Severity::Warning,
        };
        link.deliver(&format(&notice, hostname))?;
    }
    link.deliver(&format(entry, hostname))
}

/// The entry for a line of `source`, its severity read from its level.
pub fn entry(source: &str, ts_ms: u64, text: &str) -> Entry {
    Entry {
        ts_ms,
        source: source.to_owned(),
        text: text.to_owned(),
        severity: severity_of(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_need_a_host_and_a_port() {
        assert!(check_address("logs.example.test:514").is_ok());
        assert!(check_address("127.0.0.1:6514").is_ok());
        assert!(check_address("[::1]:514").is_ok());
        for bad in [
            "logs.example.test",
            ":514",
            "host:0",
            "host:port",
            "host:70000",
            "",
        ] {
            assert!(
                matches!(check_address(bad), Err(LogbookError::SyslogAddress(_))),
                "{bad}"
            );
        }
    }
}
