//! SMTP client for delivery and re-injection: a sans-I/O protocol core with
//! a tokio driver.
//!
//! The mta uses it to deliver queued mail to customer servers, the manager to
//! re-inject a released quarantine message into the mta over a unix socket.
//! [`send`] runs one transaction over any byte stream and returns a
//! [`DeliveryReport`] with the deciding reply per recipient; a
//! [`ClientError`] means the connection broke before every recipient was
//! decided, so the caller retries all of them.
//!
//! Layout: `session` is the state machine (no I/O), `reader` frames replies
//! with smtp-proto, `body` encodes the message for DATA, `driver` does the
//! socket work under timeouts.

#![forbid(unsafe_code)]

mod body;
mod config;
mod driver;
mod ehlo;
mod error;
mod reader;
mod reply;
mod report;
mod session;

pub use config::{ClientConfig, Envelope};
pub use driver::{connect_tcp, send, send_logged};
pub use error::{ClientError, Stage};
pub use reader::MAX_REPLY_BYTES;
pub use reply::Reply;
pub use report::{DeliveryReport, RecipientResult};
