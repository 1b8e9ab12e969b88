//! The mta's error type: what can stop the role from starting or shutting down cleanly.

use crate::queue::QueueError;

/// Why the mta could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MtaError {
    /// The queue database could not be opened or flushed.
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// A listener could not be bound (address in use, permissions, bad path).
    #[error("cannot listen on {address}: {source}")]
    Listen {
        /// The address or `unix:` path.
        address: String,
        /// The OS error.
        source: std::io::Error,
    },
}
