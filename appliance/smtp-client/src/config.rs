//! What the caller hands to [`crate::send`]: settings and the envelope.

use std::time::Duration;

use crate::TlsMode;

/// Per-connection settings.
///
/// The defaults are RFC 5321's recommended minimum timeouts (section 4.5.3.2),
/// which real servers rely on when they are slow under load.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientConfig {
    /// The name sent with EHLO/HELO; receivers log it and some check it.
    pub helo_name: String,
    /// Limit for each command write and each reply: greeting, EHLO, MAIL,
    /// RCPT, DATA (the 354), QUIT.
    pub command_timeout: Duration,
    /// Limit for each write of the message body and for the final reply
    /// after the dot (servers scan the message before answering).
    pub data_timeout: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            helo_name: "localhost".to_string(),
            command_timeout: Duration::from_secs(300),
            data_timeout: Duration::from_secs(600),
        }
    }
}

/// The SMTP envelope of one transaction.
#[derive(Clone, Copy, Debug)]
pub struct Envelope<'a> {
    /// The reverse-path without angle brackets; `""` is the null
    /// reverse-path `<>` used for bounces.
    pub sender: &'a str,
    /// The forward-paths without angle brackets, in the order results are
    /// reported.
    pub recipients: &'a [String],
}

/// The server a delivery goes to, as far as TLS is concerned.
#[derive(Clone, Copy, Debug)]
pub struct Destination<'a> {
    /// The name the server is known by (MX target or configured host),
    /// sent as SNI; an IP address sends none.
    pub server_name: &'a str,
    /// Whether to use STARTTLS, and whether clear text is allowed.
    pub tls: TlsMode,
}
