//! Why the filter role could not run.

use std::io;

/// Errors of [`crate::run`]; per-connection problems are logged, not returned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FilterError {
    /// `filter.listen` names no endpoint.
    #[error("filter.listen is empty: the filter has nowhere to listen")]
    NoListeners,
    /// Another process already serves this unix socket.
    #[error("{endpoint} is in use by another process")]
    InUse {
        /// The endpoint.
        endpoint: String,
    },
    /// The unix socket path holds something that is not a socket.
    #[error("{endpoint}: the path exists and is not a socket; refusing to replace it")]
    NotASocket {
        /// The endpoint.
        endpoint: String,
    },
    /// A listener could not be set up.
    #[error("cannot listen on {endpoint}: {source}")]
    Listen {
        /// The endpoint.
        endpoint: String,
        /// The OS error.
        source: io::Error,
    },
    /// `history.db` could not be opened.
    #[error(transparent)]
    History(#[from] sender_history::HistoryError),
    /// `filter.nameservers` is invalid.
    #[error("filter DNS resolver: {0}")]
    Resolver(#[from] crate::auth::ResolverError),
}
