//! STARTTLS (RFC 3207) and SMTP AUTH PLAIN/LOGIN (RFC 4954, 4616) in the
//! sans-I/O session.
//!
//! STARTTLS answers 220 and then throws away every byte buffered after the
//! command: bytes a client (or a man in the middle) pipelined in clear text
//! must never be read as commands of the encrypted session (CVE-2011-0411).
//! The driver does the handshake and calls [`Session::tls_started`], which
//! forgets the EHLO and the transaction, as RFC 3207 section 4.2 requires.
//!
//! AUTH is offered and accepted only over TLS (538 5.7.11 otherwise), so
//! passwords never cross the network in clear. The session decodes the
//! SASL exchange and asks the driver to check the login ([`Ask::Auth`]);
//! the answer is 235 2.7.0 or the driver's refusal (535 5.7.8).

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;

use super::parser::LineFramer;
use super::{Ask, Pending, Phase, Reply, Session, Step, Verdict};

/// A login the client gave with AUTH; the password never appears in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The authentication identity.
    pub username: String,
    /// The password, to be checked and forgotten.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// The TLS and AUTH state of one session.
#[derive(Debug, Default)]
pub(super) struct Security {
    /// STARTTLS may be offered (a certificate is loaded, a TCP listener).
    tls_offered: bool,
    /// The connection is encrypted (after STARTTLS, or implicit TLS).
    tls_active: bool,
    /// AUTH may be offered at all (not on the inject socket).
    auth_offered: bool,
    /// The identity of a successful AUTH.
    authenticated: Option<String>,
    /// An AUTH exchange waiting for the client's next line.
    exchange: Option<Exchange>,
    /// Failed AUTH attempts in this session.
    failures: u32,
    /// A submission port (587, 465).
    submission: bool,
}

/// Where a multi-line SASL exchange stands.
#[derive(Debug)]
enum Exchange {
    /// AUTH PLAIN without an initial response: waiting for it.
    Plain,
    /// AUTH LOGIN: waiting for the user name.
    LoginUser,
    /// AUTH LOGIN: waiting for the password of this user.
    LoginPassword(String),
}

impl Security {
    /// The EHLO keywords for the current state.
    pub(super) fn keywords(&self) -> Vec<String> {
        let mut words = Vec::new();
        if self.tls_offered && !self.tls_active {
            words.push("STARTTLS".to_string());
        }
        if self.auth_offered && self.tls_active && self.authenticated.is_none() {
            words.push("AUTH PLAIN LOGIN".to_string());
        }
        words
    }

    /// True while an AUTH exchange owns the next input line.
    pub(super) fn in_exchange(&self) -> bool {
        self.exchange.is_some()
    }
}

impl Session {
    /// Offers STARTTLS and AUTH on this connection (TCP listeners with a
    /// certificate); the inject socket offers neither.
    pub fn offer_security(&mut self, tls: bool) {
        self.security.tls_offered = tls;
        self.security.auth_offered = true;
    }

    /// Marks a submission port (587, 465): the driver then refuses MAIL
    /// from clients that neither authenticated nor sit in a relay network.
    pub fn set_submission(&mut self) {
        self.security.submission = true;
    }

    /// True on a submission port.
    pub fn is_submission(&self) -> bool {
        self.security.submission
    }

    /// The connection is now encrypted: after STARTTLS's handshake, or from
    /// the start with implicit TLS. The client must greet again.
    pub fn tls_started(&mut self) {
        self.security.tls_active = true;
        self.helo = None;
        self.reset_transaction();
    }

    /// True once the connection is encrypted.
    pub fn tls_active(&self) -> bool {
        self.security.tls_active
    }

    /// The identity of a successful AUTH: such a session may relay.
    pub fn authenticated(&self) -> Option<&str> {
        self.security.authenticated.as_deref()
    }

    /// Failed AUTH attempts so far, for the driver's growing delay.
    pub fn auth_failures(&self) -> u32 {
        self.security.failures
    }

    /// STARTTLS: 220, drop whatever was pipelined after it, and hand over.
    pub(super) fn starttls(&mut self) -> Option<Step> {
        let refusal = if !self.security.tls_offered {
            Some(Reply::new(502, "5.5.1", "STARTTLS not available"))
        } else if self.security.tls_active {
            Some(Reply::new(503, "5.5.1", "TLS already active"))
        } else {
            None
        };
        if let Some(reply) = refusal {
            self.reply(reply);
            return None;
        }
        self.reply(Reply::new(220, "2.0.0", "Ready to start TLS"));
        self.input.clear();
        self.framer = LineFramer::default();
        Some(Step::StartTls)
    }

    /// AUTH with a mechanism and maybe an initial response.
    pub(super) fn auth(&mut self, mechanism: u64, initial: &str) -> Option<Step> {
        let refusal = if !self.security.auth_offered {
            Some(Reply::new(502, "5.5.1", "AUTH not available"))
        } else if !self.security.tls_active {
            Some(Reply::new(
                538,
                "5.7.11",
                "encryption required for requested authentication mechanism",
            ))
        } else if self.helo.is_none() {
            Some(Reply::new(503, "5.5.1", "send EHLO first"))
        } else if self.security.authenticated.is_some() {
            Some(Reply::new(503, "5.5.1", "already authenticated"))
        } else if self.envelope.is_some() {
            Some(Reply::new(
                503,
                "5.5.1",
                "AUTH not permitted during a mail transaction",
            ))
        } else {
            None
        };
        if let Some(reply) = refusal {
            self.reply(reply);
            return None;
        }
        match (mechanism, initial) {
            (smtp_proto::AUTH_PLAIN, "") => self.challenge(Exchange::Plain, ""),
            (smtp_proto::AUTH_PLAIN, response) => self.plain_response(response),
            (smtp_proto::AUTH_LOGIN, "") => self.challenge(Exchange::LoginUser, "Username:"),
            (smtp_proto::AUTH_LOGIN, user) => match decode(user) {
                Some(user) => self.challenge(Exchange::LoginPassword(user), "Password:"),
                None => self.bad_encoding(),
            },
            _ => {
                self.reply(Reply::new(504, "5.5.4", "unrecognized authentication type"));
                None
            }
        }
    }

    /// The client's next line of an AUTH exchange.
    pub(super) fn auth_continue(&mut self, line: &[u8]) -> Option<Step> {
        let exchange = self.security.exchange.take()?;
        let text = String::from_utf8_lossy(line);
        let text = text.trim_end_matches(['\r', '\n']);
        if text == "*" {
            self.reply(Reply::new(501, "5.0.0", "authentication cancelled"));
            return None;
        }
        match exchange {
            Exchange::Plain => self.plain_response(text),
            Exchange::LoginUser => match decode(text) {
                Some(user) => self.challenge(Exchange::LoginPassword(user), "Password:"),
                None => self.bad_encoding(),
            },
            Exchange::LoginPassword(username) => match decode(text) {
                Some(password) => self.ask_auth(Credentials { username, password }),
                None => self.bad_encoding(),
            },
        }
    }

    /// Records the driver's verdict on [`Ask::Auth`].
    pub(super) fn auth_decided(&mut self, username: String, verdict: Verdict) {
        match verdict {
            Verdict::Accept => {
                self.security.authenticated = Some(username);
                self.reply(Reply::new(235, "2.7.0", "Authentication successful"));
            }
            Verdict::Refuse(reply) => {
                self.security.failures += 1;
                self.reply(reply);
            }
        }
    }

    fn challenge(&mut self, next: Exchange, prompt: &str) -> Option<Step> {
        self.security.exchange = Some(next);
        self.reply(Reply::plain(334, [BASE64.encode(prompt)]));
        None
    }

    /// `authzid NUL authcid NUL passwd` (RFC 4616); `=` is an empty response.
    fn plain_response(&mut self, response: &str) -> Option<Step> {
        let decoded = if response == "=" {
            Some(String::new())
        } else {
            decode(response)
        };
        let Some(decoded) = decoded else {
            return self.bad_encoding();
        };
        let mut parts = decoded.split('\0');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(authz), Some(user), Some(password), None)
                if (authz.is_empty() || authz == user) && !user.is_empty() =>
            {
                self.ask_auth(Credentials {
                    username: user.to_string(),
                    password: password.to_string(),
                })
            }
            _ => {
                self.reply(Reply::new(501, "5.5.2", "malformed PLAIN response"));
                None
            }
        }
    }

    fn ask_auth(&mut self, credentials: Credentials) -> Option<Step> {
        self.phase = Phase::Pending(Pending::Auth {
            username: credentials.username.clone(),
        });
        Some(Step::Ask(Ask::Auth(credentials)))
    }

    fn bad_encoding(&mut self) -> Option<Step> {
        self.reply(Reply::new(501, "5.5.2", "cannot decode base64 response"));
        None
    }
}

/// Base64 text to UTF-8; `None` when either fails.
fn decode(text: &str) -> Option<String> {
    let bytes = BASE64.decode(text.trim()).ok()?;
    String::from_utf8(bytes).ok()
}
