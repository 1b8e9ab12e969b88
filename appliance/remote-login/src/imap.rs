//! The IMAP login dialogue (RFC 3501, RFC 9051), sans I/O: greeting,
//! CAPABILITY, STARTTLS when asked, LOGIN, LOGOUT.

use std::collections::VecDeque;

use crate::dialogue::{quote_redacted, Action, Failure};

#[derive(Debug)]
enum State {
    Greeting,
    Capability,
    StartTlsSent,
    /// LOGIN sent; `rest` holds the literals still waiting for a `+`.
    Login {
        rest: VecDeque<Vec<u8>>,
    },
    Done,
}

/// One IMAP login check.
pub struct Imap {
    state: State,
    starttls: bool,
    tls_done: bool,
    tag: u32,
    caps: Vec<String>,
    user: String,
    password: String,
}

impl Imap {
    /// A dialogue that logs `user` in; `starttls` upgrades with STARTTLS first.
    pub fn new(user: &str, password: &str, starttls: bool) -> Self {
        Imap {
            state: State::Greeting,
            starttls,
            tls_done: false,
            tag: 0,
            caps: Vec::new(),
            user: user.to_owned(),
            password: password.to_owned(),
        }
    }

    /// Checks that the credentials can be sent at all: NUL, CR and LF fit
    /// neither a quoted string nor (NUL) a literal, and no real account has
    /// them.
    pub fn check_credentials(user: &str, password: &str) -> Result<(), Failure> {
        let bad = |s: &str| s.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0);
        if user.is_empty() || bad(user) || bad(password) {
            return Err(Failure::Rejected);
        }
        Ok(())
    }

    /// Takes the server's next reply line.
    pub fn on_line(&mut self, line: &[u8]) -> Result<Action, Failure> {
        if let State::Greeting = self.state {
            return if line.starts_with(b"* OK") {
                Ok(self.send_capability())
            } else if line.starts_with(b"* PREAUTH") {
                Err(Failure::Protocol(
                    "the server logs in without a password (PREAUTH)".into(),
                ))
            } else if line.starts_with(b"* BYE") {
                Err(Failure::Temporary(self.quote(line)))
            } else {
                Err(Failure::Protocol(format!(
                    "not an IMAP greeting: {}",
                    self.quote(line)
                )))
            };
        }
        if let Some(rest) = line.strip_prefix(b"* ") {
            return self.untagged(rest, line);
        }
        if line == b"+" || line.starts_with(b"+ ") {
            return self.continuation(line);
        }
        let tag = self.current_tag();
        let Some(rest) = line
            .strip_prefix(tag.as_bytes())
            .and_then(|r| r.strip_prefix(b" "))
        else {
            return Err(Failure::Protocol(format!(
                "unexpected reply: {}",
                self.quote(line)
            )));
        };
        let (status, text) = split_word(rest);
        let status = status.to_ascii_uppercase();
        let code = response_code(text);
        match (
            std::mem::replace(&mut self.state, State::Done),
            status.as_slice(),
        ) {
            (State::Capability, b"OK") => self.after_capability(),
            (State::StartTlsSent, b"OK") => Ok(Action::StartTls),
            (State::StartTlsSent, _) => Err(Failure::Protocol(format!(
                "the server refused STARTTLS: {}",
                self.quote(line)
            ))),
            (State::Login { .. }, b"OK") => {
                let logout = format!("{} LOGOUT\r\n", self.next_tag());
                Ok(Action::Accepted(logout.into_bytes()))
            }
            (State::Login { .. }, b"NO") => match code.as_deref() {
                Some("UNAVAILABLE") | Some("INUSE") | Some("SERVERBUG") | Some("LIMIT") => {
                    Err(Failure::Temporary(self.quote(line)))
                }
                _ => Err(Failure::Rejected),
            },
            _ => Err(Failure::Protocol(format!(
                "unexpected reply: {}",
                self.quote(line)
            ))),
        }
    }

    /// The TLS handshake after STARTTLS succeeded: what the server said in
    /// clear counts no more (RFC 3501 6.2.1), ask for its capabilities again.
    pub fn tls_established(&mut self) -> Action {
        self.tls_done = true;
        self.caps.clear();
        self.send_capability()
    }

    fn untagged(&mut self, rest: &[u8], line: &[u8]) -> Result<Action, Failure> {
        let (word, text) = split_word(rest);
        match word.to_ascii_uppercase().as_slice() {
            b"CAPABILITY" if matches!(self.state, State::Capability) => {
                self.caps = String::from_utf8_lossy(text)
                    .split_ascii_whitespace()
                    .map(str::to_ascii_uppercase)
                    .collect();
                Ok(Action::Read)
            }
            // The server is closing: usually overload or shutdown.
            b"BYE" => Err(Failure::Temporary(self.quote(line))),
            // Other untagged data (OK notices, capabilities sent unasked)
            // does not change the verdict.
            _ => Ok(Action::Read),
        }
    }

    fn continuation(&mut self, line: &[u8]) -> Result<Action, Failure> {
        let next = match &mut self.state {
            State::Login { rest } => rest.pop_front(),
            _ => None,
        };
        next.map(Action::Send).ok_or_else(|| {
            Failure::Protocol(format!("unexpected continuation: {}", self.quote(line)))
        })
    }

    fn after_capability(&mut self) -> Result<Action, Failure> {
        let has = |c: &str| self.caps.iter().any(|x| x == c);
        if self.starttls && !self.tls_done {
            if !has("STARTTLS") {
                return Err(Failure::Protocol(
                    "the server does not offer STARTTLS".into(),
                ));
            }
            self.state = State::StartTlsSent;
            let cmd = format!("{} STARTTLS\r\n", self.next_tag());
            return Ok(Action::Send(cmd.into_bytes()));
        }
        if has("LOGINDISABLED") {
            return Err(Failure::Protocol(
                "the server does not allow LOGIN (LOGINDISABLED)".into(),
            ));
        }
        let literal_plus = has("LITERAL+") || has("LITERAL-");
        let tag = self.next_tag();
        let mut parts = login_command(&tag, &self.user, &self.password, literal_plus);
        let first = parts.pop_front().unwrap_or_default();
        self.state = State::Login { rest: parts };
        Ok(Action::Send(first))
    }

    /// The server's line for an error message, never showing the password.
    fn quote(&self, line: &[u8]) -> String {
        quote_redacted(line, &self.password)
    }

    fn send_capability(&mut self) -> Action {
        self.state = State::Capability;
        Action::Send(format!("{} CAPABILITY\r\n", self.next_tag()).into_bytes())
    }

    fn next_tag(&mut self) -> String {
        self.tag += 1;
        self.current_tag()
    }

    fn current_tag(&self) -> String {
        format!("a{}", self.tag)
    }
}

/// `TAG LOGIN user password\r\n`, in the pieces to send: a piece after the
/// first waits for the server's `+` unless `literal_plus`. Printable ASCII
/// goes as a quoted string (`\` and `"` escaped); anything else as a
/// literal, which carries any byte but NUL, CR and LF.
fn login_command(tag: &str, user: &str, password: &str, literal_plus: bool) -> VecDeque<Vec<u8>> {
    let mut parts = VecDeque::new();
    let mut cur = format!("{tag} LOGIN ").into_bytes();
    for (i, s) in [user, password].into_iter().enumerate() {
        if i > 0 {
            cur.push(b' ');
        }
        if s.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            cur.push(b'"');
            for b in s.bytes() {
                if b == b'"' || b == b'\\' {
                    cur.push(b'\\');
                }
                cur.push(b);
            }
            cur.push(b'"');
        } else if literal_plus {
            cur.extend_from_slice(format!("{{{}+}}\r\n", s.len()).as_bytes());
            cur.extend_from_slice(s.as_bytes());
        } else {
            cur.extend_from_slice(format!("{{{}}}\r\n", s.len()).as_bytes());
            parts.push_back(std::mem::take(&mut cur));
            cur.extend_from_slice(s.as_bytes());
        }
    }
    cur.extend_from_slice(b"\r\n");
    parts.push_back(cur);
    parts
}

fn split_word(s: &[u8]) -> (&[u8], &[u8]) {
    match s.iter().position(|&b| b == b' ') {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, b""),
    }
}

/// The response code of a tagged reply (`[AUTHENTICATIONFAILED] ...`).
fn response_code(text: &[u8]) -> Option<String> {
    let r = text.strip_prefix(b"[")?;
    let end = r.iter().position(|&b| b == b']' || b == b' ')?;
    Some(String::from_utf8_lossy(&r[..end]).to_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send(s: &str) -> Result<Action, Failure> {
        Ok(Action::Send(s.as_bytes().to_vec()))
    }

    fn play(imap: &mut Imap, script: &[(&str, Result<Action, Failure>)]) {
        for (line, want) in script {
            assert_eq!(&imap.on_line(line.as_bytes()), want, "after {line:?}");
        }
    }

    #[test]
    fn login_over_implicit_tls() {
        let mut i = Imap::new("bob", "s3cret", false);
        play(
            &mut i,
            &[
                (
                    "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] Dovecot ready.",
                    send("a1 CAPABILITY\r\n"),
                ),
                (
                    "* CAPABILITY IMAP4rev1 LITERAL+ AUTH=PLAIN",
                    Ok(Action::Read),
                ),
                (
                    "a1 OK Pre-login capabilities listed, post-login capabilities have more.",
                    send("a2 LOGIN \"bob\" \"s3cret\"\r\n"),
                ),
                ("* CAPABILITY IMAP4rev1 IDLE", Ok(Action::Read)),
                (
                    "a2 OK [CAPABILITY IMAP4rev1] Logged in",
                    Ok(Action::Accepted(b"a3 LOGOUT\r\n".to_vec())),
                ),
            ],
        );
    }

    #[test]
    fn starttls_then_capability_again_then_login() {
        let mut i = Imap::new("bob", "pw", true);
        play(
            &mut i,
            &[
                ("* OK ready", send("a1 CAPABILITY\r\n")),
                (
                    "* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED",
                    Ok(Action::Read),
                ),
                ("a1 OK done", send("a2 STARTTLS\r\n")),
                ("a2 OK Begin TLS negotiation now.", Ok(Action::StartTls)),
            ],
        );
        assert_eq!(
            i.tls_established(),
            Action::Send(b"a3 CAPABILITY\r\n".to_vec())
        );
        play(
            &mut i,
            &[
                ("* CAPABILITY IMAP4rev1 AUTH=PLAIN", Ok(Action::Read)),
                ("a3 OK done", send("a4 LOGIN \"bob\" \"pw\"\r\n")),
                (
                    "a4 NO [AUTHENTICATIONFAILED] Authentication failed.",
                    Err(Failure::Rejected),
                ),
            ],
        );
    }

    #[test]
    fn starttls_missing_or_refused() {
        let mut i = Imap::new("bob", "pw", true);
        i.on_line(b"* OK ready").unwrap();
        i.on_line(b"* CAPABILITY IMAP4rev1").unwrap();
        assert!(matches!(i.on_line(b"a1 OK"), Err(Failure::Protocol(_))));
        let mut i = Imap::new("bob", "pw", true);
        i.on_line(b"* OK ready").unwrap();
        i.on_line(b"* CAPABILITY IMAP4rev1 STARTTLS").unwrap();
        i.on_line(b"a1 OK").unwrap();
        assert!(matches!(i.on_line(b"a2 BAD no"), Err(Failure::Protocol(_))));
    }

    #[test]
    fn logindisabled_is_refused_without_sending_the_password() {
        let mut i = Imap::new("bob", "pw", false);
        i.on_line(b"* OK ready").unwrap();
        i.on_line(b"* CAPABILITY IMAP4rev1 LOGINDISABLED").unwrap();
        assert!(matches!(i.on_line(b"a1 OK"), Err(Failure::Protocol(_))));
    }

    #[test]
    fn quoting_and_literals() {
        let q = login_command("a2", "bob", "a\"b\\c d", false);
        assert_eq!(q, [b"a2 LOGIN \"bob\" \"a\\\"b\\\\c d\"\r\n".to_vec()]);
        let q = login_command("a2", "bob", "pässwörd", true);
        assert_eq!(
            q,
            ["a2 LOGIN \"bob\" {10+}\r\npässwörd\r\n".as_bytes().to_vec()]
        );
        let q = login_command("a2", "bob", "pässwörd", false);
        assert_eq!(
            q,
            [
                b"a2 LOGIN \"bob\" {10}\r\n".to_vec(),
                "pässwörd\r\n".as_bytes().to_vec()
            ]
        );
        assert_eq!(
            Imap::check_credentials("bob", "x\r\na3 DELETE INBOX"),
            Err(Failure::Rejected)
        );
        assert_eq!(
            Imap::check_credentials("bob", "x\0"),
            Err(Failure::Rejected)
        );
    }

    #[test]
    fn synchronizing_literal_waits_for_continuation() {
        let mut i = Imap::new("bob", "pässwörd", false);
        i.on_line(b"* OK ready").unwrap();
        assert_eq!(i.on_line(b"a1 OK"), send("a2 LOGIN \"bob\" {10}\r\n"));
        assert_eq!(
            i.on_line(b"+ OK"),
            Ok(Action::Send("pässwörd\r\n".as_bytes().to_vec()))
        );
        assert!(matches!(i.on_line(b"+ again"), Err(Failure::Protocol(_))));
    }

    #[test]
    fn temporary_refusals() {
        for line in ["a2 NO [UNAVAILABLE] db down", "* BYE shutting down"] {
            let mut i = Imap::new("bob", "pw", false);
            i.on_line(b"* OK ready").unwrap();
            i.on_line(b"a1 OK").unwrap();
            assert!(
                matches!(i.on_line(line.as_bytes()), Err(Failure::Temporary(_))),
                "{line}"
            );
        }
        let mut i = Imap::new("bob", "pw", false);
        assert!(matches!(
            i.on_line(b"* BYE too many"),
            Err(Failure::Temporary(_))
        ));
    }

    #[test]
    fn hostile_and_garbage_replies() {
        for greeting in [
            "+OK POP3 ready",
            "* PREAUTH welcome",
            "",
            "\u{1b}[2J",
            "a1 OK",
        ] {
            let mut i = Imap::new("bob", "pw", false);
            assert!(
                matches!(i.on_line(greeting.as_bytes()), Err(Failure::Protocol(_))),
                "{greeting:?}"
            );
        }
        // A tagged OK for a tag never sent, or for LOGIN before it was sent.
        let mut i = Imap::new("bob", "pw", false);
        i.on_line(b"* OK ready").unwrap();
        assert!(matches!(
            i.on_line(b"a2 OK Logged in"),
            Err(Failure::Protocol(_))
        ));
        let mut i = Imap::new("bob", "pw", false);
        i.on_line(b"* OK ready").unwrap();
        i.on_line(b"a1 OK").unwrap();
        assert!(matches!(
            i.on_line(b"a2 BAD syntax"),
            Err(Failure::Protocol(_))
        ));
        assert!(matches!(i.on_line(b"a2 OK"), Err(Failure::Protocol(_))));
    }
}
