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
#[derive(Clone, Copy, Debug, Default)]
pub struct Envelope<'a> {
    /// The reverse-path without angle brackets; `""` is the null
    /// reverse-path `<>` used for bounces.
    pub sender: &'a str,
    /// The forward-paths without angle brackets, in the order results are
    /// reported.
    pub recipients: &'a [String],
    /// The message was received with SMTPUTF8 (RFC 6531) or has UTF-8
    /// addresses: `SMTPUTF8` goes on MAIL, and a server that does not offer
    /// it refuses the message for good (553 5.6.7, locally) rather than
    /// seeing it mangled.
    pub smtputf8: bool,
    /// What the sender asked to be told (RFC 3461), passed on to a server
    /// offering DSN so that it reports in our place.
    pub dsn: Option<&'a DsnRequest>,
}

/// DSN parameters as they go on the wire; values are plain text and are
/// xtext-encoded when sent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DsnRequest {
    /// `FULL` or `HDRS`.
    pub ret: Option<String>,
    /// The sender's envelope id.
    pub envid: Option<String>,
    /// Per envelope recipient, in envelope order (missing ones have none).
    pub recipients: Vec<RecipientDsnRequest>,
}

/// One recipient's DSN parameters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecipientDsnRequest {
    /// `NEVER` or a comma list of `SUCCESS`, `FAILURE`, `DELAY`.
    pub notify: Option<String>,
    /// The original recipient, without its `rfc822;` type.
    pub orcpt: Option<String>,
}

/// RFC 3461 section 4 xtext: `+`, `=`, controls, space and non-ASCII as
/// `+HH`.
pub(crate) fn xtext(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if (b'!'..=b'~').contains(&b) && b != b'+' && b != b'=' {
            out.push(b as char);
        } else {
            out.push_str(&format!("+{b:02X}"));
        }
    }
    out
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
