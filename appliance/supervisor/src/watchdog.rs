//! The hardware watchdog: a device that resets the machine unless it is
//! written to regularly. The supervisor writes only while every role is
//! healthy, so a hung box is reset.
//!
//! Writes happen on a thread of their own: opening a device (or, in tests,
//! a FIFO) and writing to it may block, and the supervisor's loop must not.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};

/// Commands queued for the writer thread; a full queue drops feeds (the
/// next one comes soon) but never blocks the loop.
const QUEUE: usize = 4;

/// The byte written to feed the watchdog.
const FEED: &[u8] = b"1";

/// The "magic close": the watchdog is disarmed when the device is closed
/// right after it (drivers with `nowayout` ignore it).
const MAGIC_CLOSE: &[u8] = b"V";

enum Command {
    Feed,
    Close(std::sync::mpsc::Sender<()>),
}

/// An open watchdog device.
pub struct Watchdog {
    queue: SyncSender<Command>,
}

impl Watchdog {
    /// Opens `device` on the writer thread; `None`, with a warning, when
    /// the device does not exist.
    pub fn open(device: &Path) -> Option<Watchdog> {
        if !device.exists() {
            log::warn!(
                "watchdog device {} is absent; running without a watchdog",
                device.display()
            );
            return None;
        }
        let (queue, commands) = sync_channel(QUEUE);
        let path = device.to_path_buf();
        let spawned = std::thread::Builder::new()
            .name("watchdog".into())
            .spawn(move || run(path, commands));
        match spawned {
            Ok(_) => Some(Watchdog { queue }),
            Err(e) => {
                log::error!("cannot start the watchdog thread: {e}");
                None
            }
        }
    }

    /// Writes one byte to the device, soon.
    pub fn feed(&self) {
        if let Err(TrySendError::Full(_)) = self.queue.try_send(Command::Feed) {
            log::warn!("the watchdog device is not taking writes");
        }
    }

    /// Writes the magic close and closes the device: an orderly exit must
    /// not reset the machine. Waits at most a second.
    pub fn close(self) {
        let (done, wait) = std::sync::mpsc::channel();
        if self.queue.try_send(Command::Close(done)).is_ok() {
            let _ = wait.recv_timeout(std::time::Duration::from_secs(1));
        }
    }
}

fn run(path: PathBuf, commands: std::sync::mpsc::Receiver<Command>) {
    let mut device = match std::fs::OpenOptions::new().write(true).open(&path) {
        Ok(f) => {
            log::info!("watchdog {} armed", path.display());
            f
        }
        Err(e) => {
            log::error!("cannot open the watchdog {}: {e}", path.display());
            return;
        }
    };
    let mut failing = false;
    for command in commands {
        match command {
            Command::Feed => match device.write_all(FEED) {
                Ok(()) => failing = false,
                Err(e) if !failing => {
                    failing = true;
                    log::error!("cannot feed the watchdog {}: {e}", path.display());
                }
                Err(_) => {}
            },
            Command::Close(done) => {
                if let Err(e) = device.write_all(MAGIC_CLOSE) {
                    log::warn!("cannot disarm the watchdog: {e}");
                }
                drop(device);
                let _ = done.send(());
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_absent_device_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        assert!(Watchdog::open(&dir.path().join("watchdog")).is_none());
    }

    #[test]
    fn feeds_then_the_magic_close_reach_the_device() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("watchdog");
        std::fs::write(&path, b"").unwrap();
        let w = Watchdog::open(&path).unwrap();
        w.feed();
        w.feed();
        w.close();
        assert_eq!(std::fs::read(&path).unwrap(), b"11V");
    }
}
