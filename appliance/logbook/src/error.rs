//! What can go wrong when the logbook is opened or reconfigured. Recording
//! itself never fails: trouble writing is reported on stderr instead.

use std::path::PathBuf;

/// An error of [`crate::Logbook::open`] or [`crate::Logbook::reconfigure`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogbookError {
    /// The log directory cannot be created or given its permissions.
    #[error("cannot create the log directory {dir}: {source}")]
    CreateDir {
        /// The directory.
        dir: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// `max_file_bytes` cannot hold even one cut line.
    #[error("logging.max_file_bytes is {0}, below the minimum of {min}", min = crate::MIN_FILE_BYTES)]
    FileTooSmall(u64),
    /// The remote syslog address is not `HOST:PORT`.
    #[error("remote syslog address {0:?} is not HOST:PORT")]
    SyslogAddress(String),
    /// A thread could not be started.
    #[error("cannot start a logbook thread: {0}")]
    Thread(std::io::Error),
    /// The writer thread did not take the request in time (a hung disk).
    #[error("the log writer is stalled")]
    WriterStalled,
    /// The writer thread is gone (it never stops while a handle exists, so
    /// this would be a bug).
    #[error("the log writer has stopped")]
    Stopped,
}
