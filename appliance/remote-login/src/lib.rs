//! Checks an end user's password against the mailbox on the customer's own
//! POP3 or IMAP server, so that users log in to the manager with the
//! password they already have, per domain.
//!
//! [`verify`] is blocking (the manager is a thread-per-request server) and
//! bounded by one deadline. The dialogues are sans-I/O state machines
//! (`pop3`, `imap`) that a small driver (`net`) runs over std::net and
//! rustls. A password never goes out in clear unless the caller allowed it
//! ([`TlsTrust::allow_plaintext`]), and never into an error or a log line.

#![forbid(unsafe_code)]

mod dialogue;
mod imap;
mod net;
mod pop3;

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use net::verify;

/// Which protocol the customer's mail server speaks for the check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// POP3 (RFC 1939): USER and PASS.
    Pop3,
    /// IMAP (RFC 3501): LOGIN.
    Imap,
}

/// How the connection is protected before the password is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    /// TLS from the first byte (IMAPS 993, POP3S 995).
    Tls,
    /// Clear at first, then STARTTLS (IMAP) or STLS (POP3) on 143 / 110.
    StartTls,
    /// No TLS: the password crosses the network readable. Refused unless
    /// the caller sets [`TlsTrust::allow_plaintext`].
    Plain,
}

/// The customer's mail server that knows the users' passwords; part of a
/// domain's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteServer {
    /// Host name (checked against the certificate) or IP address.
    pub host: String,
    /// TCP port; see [`RemoteServer::default_port`].
    pub port: u16,
    /// POP3 or IMAP.
    pub protocol: Protocol,
    /// TLS, STARTTLS or (only when allowed) plain.
    pub security: Security,
}

impl RemoteServer {
    /// The usual port for a protocol and security, so that a settings form
    /// can fill it in: 993/143 for IMAP, 995/110 for POP3.
    pub fn default_port(protocol: Protocol, security: Security) -> u16 {
        match (protocol, security) {
            (Protocol::Imap, Security::Tls) => 993,
            (Protocol::Imap, _) => 143,
            (Protocol::Pop3, Security::Tls) => 995,
            (Protocol::Pop3, _) => 110,
        }
    }
}

/// Which certificates [`verify`] trusts, and whether it may speak in clear.
#[derive(Debug, Clone, Default)]
pub struct TlsTrust {
    /// Extra CA certificates (PEM) trusted besides the public ones: a
    /// customer's private CA, or a test's own.
    pub extra_roots_pem: Option<Vec<u8>>,
    /// Leave out the public CAs (webpki-roots), trusting only
    /// `extra_roots_pem`.
    pub only_extra_roots: bool,
    /// Lets [`Security::Plain`] send the password unencrypted. Off by
    /// default: only for a server on a trusted network the box owner vouches
    /// for.
    pub allow_plaintext: bool,
}

/// Why a password could not be confirmed. Each message tells an
/// administrator what to do; none holds the password.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum RemoteLoginError {
    /// The server refused the user name or password.
    #[error("the mail server refused the user name or password")]
    Rejected,
    /// No connection could be made: DNS, refused, unreachable, or connect
    /// timed out.
    #[error("the mail server {server} cannot be reached ({reason}); it may be down, try again later, or check its host and port in the domain's settings")]
    Unreachable {
        /// `host:port`.
        server: String,
        /// What the system said.
        reason: String,
    },
    /// The TLS handshake failed, most often over the certificate.
    #[error("TLS with the mail server {server} failed: {reason}; it needs a valid, unexpired certificate for its host name from a trusted CA (or add its CA to the trusted roots)")]
    Tls {
        /// `host:port`.
        server: String,
        /// What rustls said.
        reason: String,
    },
    /// The server answered something the protocol does not allow here.
    #[error("the mail server {server} answered unexpectedly: {detail}; check that the protocol, security and port in the domain's settings match the server")]
    Protocol {
        /// `host:port`.
        server: String,
        /// What was wrong, with the server's words quoted.
        detail: String,
    },
    /// The server says it cannot check now (overloaded, its database down).
    #[error("the mail server {server} cannot check the login now ({detail}); try again later")]
    Temporary {
        /// `host:port`.
        server: String,
        /// The server's words.
        detail: String,
    },
    /// The dialogue did not end before the deadline.
    #[error("the mail server {server} did not answer within {timeout:?}; it may be overloaded, try again later")]
    Timeout {
        /// `host:port`.
        server: String,
        /// The deadline given.
        timeout: Duration,
    },
    /// The settings say plain and plain is not allowed.
    #[error("refusing to send a password in clear to {server}: choose TLS or STARTTLS in the domain's settings")]
    InsecureRefused {
        /// `host:port`.
        server: String,
    },
}
