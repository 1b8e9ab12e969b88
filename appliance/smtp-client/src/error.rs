//! Transport-level failures of a delivery attempt.
//!
//! An SMTP *answer* (a 4xx or 5xx reply) is not an error here: it is recorded
//! per recipient in the [`crate::DeliveryReport`]. A [`ClientError`] means the
//! conversation itself broke before every recipient's fate was known, so the
//! caller must treat all recipients as temporarily failed and retry later.

use std::fmt;

/// The step of the SMTP conversation during which something happened.
///
/// Carried by every [`ClientError`] so logs and tracking events can say
/// *where* a delivery broke (a timeout at `body` means something else than a
/// timeout at `greeting`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stage {
    /// Resolving the host and opening the TCP connection.
    Connect,
    /// Waiting for the server's 220 banner.
    Greeting,
    /// EHLO, or the HELO fallback.
    Ehlo,
    /// STARTTLS, its reply and the TLS handshake.
    Tls,
    /// MAIL FROM (with pipelining: the whole MAIL/RCPT/DATA group write).
    Mail,
    /// RCPT TO.
    Rcpt,
    /// The DATA command and its 354 reply.
    Data,
    /// Streaming the message and reading the final reply after the dot.
    Body,
    /// QUIT and its reply.
    Quit,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stage::Connect => "connect",
            Stage::Greeting => "greeting",
            Stage::Ehlo => "ehlo",
            Stage::Tls => "starttls",
            Stage::Mail => "mail",
            Stage::Rcpt => "rcpt",
            Stage::Data => "data",
            Stage::Body => "body",
            Stage::Quit => "quit",
        })
    }
}

/// Why a delivery attempt failed as a whole.
///
/// Every variant means "temporary failure for all recipients": the message
/// may or may not have reached the server, and only a retry can tell.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The socket failed (refused, reset, closed by the peer).
    #[error("I/O error during {stage}: {source}")]
    Io {
        /// Where it happened.
        stage: Stage,
        /// The underlying error; `UnexpectedEof` when the peer closed.
        source: std::io::Error,
    },
    /// A read or write did not finish within the configured time limit.
    #[error("timeout during {stage}")]
    Timeout {
        /// Where it happened.
        stage: Stage,
    },
    /// The server sent something that is not a valid SMTP reply here.
    #[error("protocol error during {stage}: {detail}")]
    Protocol {
        /// Where it happened.
        stage: Stage,
        /// What was wrong, for the logs.
        detail: String,
    },
}

impl ClientError {
    /// The stage at which the conversation broke.
    pub fn stage(&self) -> Stage {
        match self {
            ClientError::Io { stage, .. }
            | ClientError::Timeout { stage }
            | ClientError::Protocol { stage, .. } => *stage,
        }
    }
}
