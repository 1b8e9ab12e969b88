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
//! socket work under timeouts, `tls` the STARTTLS upgrade, `proof` what a
//! delivery proves. [`deliver`] is [`send`] with STARTTLS and the [`Proof`].

#![forbid(unsafe_code)]

mod body;
mod config;
mod driver;
mod ehlo;
mod error;
mod probe;
mod proof;
mod reader;
mod reply;
mod report;
mod session;
mod tls;

pub use config::{ClientConfig, Destination, DsnRequest, Envelope, RecipientDsnRequest};
pub use driver::{connect_tcp, deliver, send, send_logged};
pub use error::{ClientError, Stage};
pub use probe::{probe, Probe, ProbeOutcome, ProbeStep};
pub use proof::{Delivery, Proof, MAX_TRANSCRIPT_BYTES};
pub use reader::MAX_REPLY_BYTES;
pub use reply::Reply;
pub use report::{DeliveryReport, RecipientResult};
pub use tls::{TlsInfo, TlsMode};
