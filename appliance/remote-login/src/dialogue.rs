//! What the sans-I/O state machines of [`crate::pop3`] and [`crate::imap`]
//! share: the actions they ask the driver for, how they fail, and the
//! line framing with its cap.

/// Longest reply line accepted, CRLF included. Real servers stay far below
/// (RFC 3501 suggests 8000 octets for commands); a hostile or broken server
/// must not make the manager buffer without end.
pub const MAX_LINE: usize = 8 * 1024;

/// Longest piece of a server's reply quoted in an error message: enough for
/// an administrator to recognise it, short enough for a log line.
const MAX_QUOTE: usize = 200;

/// What a state machine wants done next.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    /// Write these bytes (may hold the password: never log them).
    Send(Vec<u8>),
    /// Read the next line.
    Read,
    /// Start the TLS handshake now; report it with `tls_established`.
    StartTls,
    /// The server accepted the credentials; write these bytes (the
    /// polite logout) and close.
    Accepted(Vec<u8>),
}

/// Why a dialogue ended without a yes.
#[derive(Debug, PartialEq, Eq)]
pub enum Failure {
    /// The server refused the user name or password.
    Rejected,
    /// The server says it cannot check now (`[SYS/TEMP]`, `[UNAVAILABLE]`, BYE).
    Temporary(String),
    /// A reply that does not fit the protocol, or a refusal that is not
    /// about the credentials.
    Protocol(String),
}

/// Makes a server's reply fit for an error message: printable ASCII only,
/// at most [`MAX_QUOTE`] characters. Replies never hold the password: the
/// server is not sent it before the reply that quotes it could come.
pub fn quote(line: &[u8]) -> String {
    let text: String = line
        .iter()
        .take(MAX_QUOTE)
        .map(|&b| {
            if (0x20..0x7f).contains(&b) {
                b as char
            } else {
                '?'
            }
        })
        .collect();
    if line.len() > MAX_QUOTE {
        format!("{text}...")
    } else {
        text
    }
}

/// [`quote`] with every copy of `secret` (raw, or escaped as in an IMAP
/// quoted string) replaced first: a hostile or careless server may echo the
/// command that held the password, and errors end up in logs.
pub fn quote_redacted(line: &[u8], secret: &str) -> String {
    if secret.is_empty() {
        return quote(line);
    }
    let escaped: String = secret
        .chars()
        .flat_map(|c| match c {
            '"' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect();
    let mut out = line.to_vec();
    for needle in [escaped.as_bytes(), secret.as_bytes()] {
        out = replace_all(&out, needle, b"<password>");
    }
    quote(&out)
}

fn replace_all(hay: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(hay.len());
    let mut i = 0;
    while i < hay.len() {
        if hay[i..].starts_with(needle) {
            out.extend_from_slice(with);
            i += needle.len();
        } else {
            out.push(hay[i]);
            i += 1;
        }
    }
    out
}

/// Reply lines split out of the bytes read, each at most [`MAX_LINE`] long.
#[derive(Debug, Default)]
pub struct LineBuffer {
    buf: Vec<u8>,
}

impl LineBuffer {
    /// Adds bytes read from the server.
    pub fn extend(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete line without its CRLF (or bare LF), `Ok(None)` if
    /// more bytes are needed, an error once a line passes the cap.
    pub fn next_line(&mut self) -> Result<Option<Vec<u8>>, Failure> {
        match self.buf.iter().position(|&b| b == b'\n') {
            Some(end) if end < MAX_LINE => {
                let mut line: Vec<u8> = self.buf.drain(..=end).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                Ok(Some(line))
            }
            Some(_) => Err(too_long()),
            None if self.buf.len() >= MAX_LINE => Err(too_long()),
            None => Ok(None),
        }
    }

    /// Whether bytes are waiting that no line has taken yet: after a
    /// STARTTLS reply there must be none (CVE-2011-0411: an attacker
    /// injects replies in clear that would be read as if under TLS).
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}

fn too_long() -> Failure {
    Failure::Protocol(format!("reply line longer than {MAX_LINE} bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_crlf_and_lf_lines() {
        let mut b = LineBuffer::default();
        b.extend(b"+OK hi\r\nsecond\nthi");
        assert_eq!(b.next_line().unwrap().unwrap(), b"+OK hi");
        assert_eq!(b.next_line().unwrap().unwrap(), b"second");
        assert_eq!(b.next_line().unwrap(), None);
        assert!(!b.is_empty());
        b.extend(b"rd\r\n");
        assert_eq!(b.next_line().unwrap().unwrap(), b"third");
        assert!(b.is_empty());
    }

    #[test]
    fn caps_overlong_lines_with_and_without_newline() {
        let mut b = LineBuffer::default();
        b.extend(&vec![b'a'; MAX_LINE]);
        assert!(matches!(b.next_line(), Err(Failure::Protocol(_))));
        let mut b = LineBuffer::default();
        let mut long = vec![b'a'; MAX_LINE + 5];
        long.extend_from_slice(b"\r\n");
        b.extend(&long);
        assert!(matches!(b.next_line(), Err(Failure::Protocol(_))));
    }

    #[test]
    fn quote_redacted_hides_the_password_in_every_form() {
        let q = quote_redacted(b"a2 BAD LOGIN \"bob\" \"p\\\"w\" and p\"w", "p\"w");
        assert_eq!(q, "a2 BAD LOGIN \"bob\" \"<password>\" and <password>");
        assert_eq!(quote_redacted(b"-ERR x", ""), "-ERR x");
    }

    #[test]
    fn quote_is_printable_and_short() {
        assert_eq!(quote(b"-ERR \x1b[31mno\x00"), "-ERR ?[31mno?");
        let q = quote(&[b'x'; 1000]);
        assert_eq!(q.len(), MAX_QUOTE + 3);
    }
}
