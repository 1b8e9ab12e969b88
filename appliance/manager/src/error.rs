//! Why the manager could not start or stop cleanly.

use std::path::PathBuf;

use crate::store::StoreError;

/// A failure of the manager role as a whole (request-level problems are
/// API answers, not these).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManagerError {
    /// `data.db` could not be opened (another manager holds it, or the disk failed).
    #[error("cannot open the database {path}: {source}")]
    Open {
        /// The database directory.
        path: PathBuf,
        /// What sled said.
        source: StoreError,
    },
    /// Reading or writing the database failed.
    #[error("database: {0}")]
    Store(#[from] StoreError),
    /// `initial_data` in system.json holds something the API would refuse.
    #[error("initial_data in system.json: {0}")]
    InitialData(String),
    /// The API token file could not be read or created.
    #[error("API token file {path}: {source}")]
    Token {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A listener could not be opened.
    #[error("cannot listen on {endpoint}: {source}")]
    Listen {
        /// Where.
        endpoint: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A live manager already answers on the API socket.
    #[error("another manager is already serving {0}")]
    AlreadyRunning(PathBuf),
    /// The runtime for releases could not be built.
    #[error("cannot start the release runtime: {0}")]
    Runtime(std::io::Error),
    /// A start or stop task panicked.
    #[error("manager task failed: {0}")]
    Task(String),
}
