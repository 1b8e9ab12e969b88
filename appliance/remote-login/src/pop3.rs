//! The POP3 login dialogue (RFC 1939, STLS from RFC 2595, response codes
//! from RFC 2449 and RFC 3206), sans I/O: it is fed reply lines and says
//! what to send.

use crate::dialogue::{quote_redacted, Action, Failure};

/// Where the dialogue stands.
#[derive(Debug)]
enum State {
    Greeting,
    StlsSent,
    UserSent,
    PassSent,
    Done,
}

/// One POP3 login check: USER/PASS, after STLS when asked to.
pub struct Pop3 {
    state: State,
    starttls: bool,
    user: String,
    password: String,
}

impl Pop3 {
    /// A dialogue that logs `user` in; `starttls` sends STLS first.
    pub fn new(user: &str, password: &str, starttls: bool) -> Self {
        Pop3 {
            state: State::Greeting,
            starttls,
            user: user.to_owned(),
            password: password.to_owned(),
        }
    }

    /// Checks that the credentials fit on a POP3 command line.
    pub fn check_credentials(user: &str, password: &str) -> Result<(), Failure> {
        // A CR or LF would end the command early and start another one.
        let bad = |s: &str| s.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0);
        if user.is_empty() || bad(user) || bad(password) {
            return Err(Failure::Rejected);
        }
        Ok(())
    }

    /// Takes the server's next reply line.
    pub fn on_line(&mut self, line: &[u8]) -> Result<Action, Failure> {
        let Some(reply) = Reply::parse(line) else {
            return Err(Failure::Protocol(format!(
                "not a POP3 reply: {}",
                self.quote(line)
            )));
        };
        match (&self.state, reply) {
            (State::Greeting, Reply::Ok) if self.starttls => {
                self.state = State::StlsSent;
                Ok(Action::Send(b"STLS\r\n".to_vec()))
            }
            (State::Greeting, Reply::Ok) => Ok(self.send_user()),
            (State::Greeting, Reply::Err(_)) => Err(Failure::Temporary(format!(
                "the server refused the connection: {}",
                self.quote(line)
            ))),
            (State::StlsSent, Reply::Ok) => Ok(Action::StartTls),
            (State::StlsSent, Reply::Err(_)) => Err(Failure::Protocol(format!(
                "the server does not offer STLS ({})",
                self.quote(line)
            ))),
            (State::UserSent, Reply::Ok) => {
                self.state = State::PassSent;
                let mut cmd = b"PASS ".to_vec();
                cmd.extend_from_slice(self.password.as_bytes());
                cmd.extend_from_slice(b"\r\n");
                Ok(Action::Send(cmd))
            }
            (State::UserSent | State::PassSent, Reply::Err(code)) => {
                self.state = State::Done;
                match code {
                    // RFC 2449: authentication succeeded, the maildrop is
                    // only locked by another session.
                    Some(Code::InUse) => Ok(Action::Accepted(b"QUIT\r\n".to_vec())),
                    Some(Code::Temp) => Err(Failure::Temporary(self.quote(line))),
                    Some(Code::Other) => Err(Failure::Protocol(self.quote(line))),
                    Some(Code::Auth) | None => Err(Failure::Rejected),
                }
            }
            (State::PassSent, Reply::Ok) => {
                self.state = State::Done;
                Ok(Action::Accepted(b"QUIT\r\n".to_vec()))
            }
            (State::Done, _) => Err(Failure::Protocol("reply after the end".into())),
        }
    }

    /// The TLS handshake after STLS succeeded: log in now.
    pub fn tls_established(&mut self) -> Action {
        self.send_user()
    }

    /// The server's line for an error message, never showing the password.
    fn quote(&self, line: &[u8]) -> String {
        quote_redacted(line, &self.password)
    }

    fn send_user(&mut self) -> Action {
        self.state = State::UserSent;
        let mut cmd = b"USER ".to_vec();
        cmd.extend_from_slice(self.user.as_bytes());
        cmd.extend_from_slice(b"\r\n");
        Action::Send(cmd)
    }
}

/// The response codes of RFC 2449 / RFC 3206 that change the verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Code {
    Auth,
    InUse,
    Temp,
    Other,
}

enum Reply {
    Ok,
    Err(Option<Code>),
}

impl Reply {
    fn parse(line: &[u8]) -> Option<Reply> {
        if line == b"+OK" || line.starts_with(b"+OK ") {
            return Some(Reply::Ok);
        }
        if line == b"-ERR" || line.starts_with(b"-ERR ") {
            let rest = &line[4..].trim_ascii_start();
            let code = rest.strip_prefix(b"[").and_then(|r| {
                let end = r.iter().position(|&b| b == b']')?;
                let code = r[..end].to_ascii_uppercase();
                Some(match code.as_slice() {
                    b"AUTH" => Code::Auth,
                    b"IN-USE" => Code::InUse,
                    b"SYS/TEMP" | b"LOGIN-DELAY" => Code::Temp,
                    _ => Code::Other,
                })
            });
            return Some(Reply::Err(code));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Plays a recorded exchange: each server line, then what the client
    /// must answer. Returns the last outcome.
    fn play(pop: &mut Pop3, script: &[(&str, Result<Action, Failure>)]) {
        for (line, want) in script {
            assert_eq!(&pop.on_line(line.as_bytes()), want, "after {line:?}");
        }
    }

    fn send(s: &str) -> Result<Action, Failure> {
        Ok(Action::Send(s.as_bytes().to_vec()))
    }

    fn accepted() -> Result<Action, Failure> {
        Ok(Action::Accepted(b"QUIT\r\n".to_vec()))
    }

    #[test]
    fn user_pass_accepted() {
        let mut p = Pop3::new("bob", "s3cret", false);
        play(
            &mut p,
            &[
                ("+OK Dovecot ready.", send("USER bob\r\n")),
                ("+OK", send("PASS s3cret\r\n")),
                ("+OK Logged in.", accepted()),
            ],
        );
    }

    #[test]
    fn stls_then_login() {
        let mut p = Pop3::new("bob", "pw", true);
        play(
            &mut p,
            &[
                ("+OK ready", send("STLS\r\n")),
                ("+OK Begin TLS negotiation now.", Ok(Action::StartTls)),
            ],
        );
        assert_eq!(p.tls_established(), Action::Send(b"USER bob\r\n".to_vec()));
        play(&mut p, &[("+OK", send("PASS pw\r\n")), ("+OK", accepted())]);
    }

    #[test]
    fn stls_refused_is_protocol_error() {
        let mut p = Pop3::new("bob", "pw", true);
        p.on_line(b"+OK ready").unwrap();
        assert!(matches!(
            p.on_line(b"-ERR unknown command"),
            Err(Failure::Protocol(_))
        ));
    }

    #[test]
    fn wrong_password_rejected_with_or_without_code() {
        for reply in ["-ERR [AUTH] Authentication failed.", "-ERR bad", "-ERR"] {
            let mut p = Pop3::new("bob", "pw", false);
            p.on_line(b"+OK").unwrap();
            p.on_line(b"+OK").unwrap();
            assert_eq!(
                p.on_line(reply.as_bytes()),
                Err(Failure::Rejected),
                "{reply}"
            );
        }
    }

    #[test]
    fn unknown_user_at_user_command_rejected() {
        let mut p = Pop3::new("nobody", "pw", false);
        p.on_line(b"+OK").unwrap();
        assert_eq!(p.on_line(b"-ERR no such user"), Err(Failure::Rejected));
    }

    #[test]
    fn response_codes() {
        let mut p = Pop3::new("bob", "pw", false);
        p.on_line(b"+OK").unwrap();
        p.on_line(b"+OK").unwrap();
        assert_eq!(p.on_line(b"-ERR [IN-USE] locked"), accepted());
        let mut p = Pop3::new("bob", "pw", false);
        p.on_line(b"+OK").unwrap();
        p.on_line(b"+OK").unwrap();
        assert!(matches!(
            p.on_line(b"-ERR [SYS/TEMP] db down"),
            Err(Failure::Temporary(_))
        ));
        let mut p = Pop3::new("bob", "pw", false);
        p.on_line(b"+OK").unwrap();
        p.on_line(b"+OK").unwrap();
        assert!(matches!(
            p.on_line(b"-ERR [SYS/PERM] broken"),
            Err(Failure::Protocol(_))
        ));
    }

    #[test]
    fn hostile_and_garbage_replies() {
        for (greeting, ok) in [
            ("* OK IMAP4rev1 ready", false),
            ("+OKAY", false),
            ("\u{0}\u{1}garbage", false),
            ("", false),
            ("-ERR too many connections", false),
        ] {
            let mut p = Pop3::new("bob", "pw", false);
            assert_eq!(p.on_line(greeting.as_bytes()).is_ok(), ok, "{greeting:?}");
        }
        let mut p = Pop3::new("bob", "pw", false);
        p.on_line(b"+OK").unwrap();
        p.on_line(b"+OK").unwrap();
        p.on_line(b"+OK").unwrap();
        assert!(matches!(p.on_line(b"+OK more"), Err(Failure::Protocol(_))));
    }

    #[test]
    fn credentials_with_line_breaks_refused() {
        assert_eq!(
            Pop3::check_credentials("bob", "a\r\nDELE 1"),
            Err(Failure::Rejected)
        );
        assert_eq!(
            Pop3::check_credentials("bob\n", "pw"),
            Err(Failure::Rejected)
        );
        assert_eq!(Pop3::check_credentials("", "pw"), Err(Failure::Rejected));
        assert_eq!(Pop3::check_credentials("bob", "pässword \""), Ok(()));
    }
}
