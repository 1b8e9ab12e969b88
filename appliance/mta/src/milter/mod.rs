//! The milter client: the mta asks the filter (Sendmail milter protocol,
//! version 6) about every transaction as it happens.
//!
//! [`frame`] is the wire framing, [`client`] one milter connection
//! (`decode` interprets what the filter answers), [`apply`] the edits the filter asks for at the end of the message. The
//! policy for failures is `milter_default_action = tempfail`: an unreachable
//! filter or a protocol error makes the transaction fail with 451 4.7.1, so
//! unfiltered mail is never accepted.

pub mod apply;
pub mod client;
mod decode;
pub mod frame;

use crate::session::Reply;

/// The filter's answer at one step of the transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Response {
    /// Go on with the next step.
    Continue,
    /// Accept without further filtering (of this message, or at connect
    /// time of the whole connection).
    Accept,
    /// Refuse with this reply (5xx).
    Reject(Reply),
    /// Refuse for now with this reply (4xx).
    Tempfail(Reply),
    /// Accept but silently drop the message (the filter quarantined it).
    Discard,
    /// Stop sending body chunks (only after we offered SMFIP_SKIP).
    Skip,
}

impl Response {
    /// The default reply to SMFIR_REJECT.
    pub fn reject() -> Response {
        Response::Reject(Reply::new(
            550,
            "5.7.1",
            "message rejected by the content filter",
        ))
    }

    /// The default reply to SMFIR_TEMPFAIL.
    pub fn tempfail() -> Response {
        Response::Tempfail(Reply::new(451, "4.7.1", "try again later"))
    }
}

/// An edit requested at the end of the message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Modification {
    /// SMFIR_ADDHEADER: append a field.
    AddHeader {
        /// Field name.
        name: String,
        /// Field value.
        value: String,
    },
    /// SMFIR_INSHEADER: insert a field at a position (0 = first).
    InsertHeader {
        /// Position among all fields.
        index: u32,
        /// Field name.
        name: String,
        /// Field value.
        value: String,
    },
    /// SMFIR_CHGHEADER: change the `index`-th (1-based) field of that name;
    /// an empty value deletes it.
    ChangeHeader {
        /// 1-based among fields of this name.
        index: u32,
        /// Field name.
        name: String,
        /// New value; empty deletes.
        value: String,
    },
    /// SMFIR_ADDRCPT.
    AddRecipient(String),
    /// SMFIR_DELRCPT (the filter quarantined the message for this recipient).
    DeleteRecipient(String),
}

/// The filter's verdict on a complete message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndOfMessage {
    /// The final action.
    pub response: Response,
    /// Edits to apply when the message is accepted.
    pub modifications: Vec<Modification>,
}

/// Why talking to the filter failed; every variant tempfails the transaction.
#[derive(Debug, thiserror::Error)]
pub enum MilterError {
    /// The filter's socket could not be reached.
    #[error("cannot connect to the milter at {endpoint}: {source}")]
    Connect {
        /// Where we tried.
        endpoint: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The connection failed or was closed.
    #[error("milter connection: {0}")]
    Io(#[from] std::io::Error),
    /// The filter did not answer in time.
    #[error("milter did not answer {0} in time")]
    Timeout(&'static str),
    /// The filter sent something that breaks the protocol.
    #[error("milter protocol error: {0}")]
    Protocol(String),
}
