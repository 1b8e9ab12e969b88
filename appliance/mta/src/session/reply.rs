//! SMTP replies (RFC 5321 section 4.2) carrying enhanced status codes
//! (RFC 3463, announced with ENHANCEDSTATUSCODES per RFC 2034).
//!
//! RFC 2034 exempts the greeting and the positive EHLO/HELO answers from
//! enhanced codes; every other reply of the mta carries one, so clients and
//! the tracking log can tell e.g. "unknown user" (5.1.1) from "relaying
//! denied" (5.7.1) without parsing free text.

use std::fmt;

/// One reply: a three-digit code and one or more text lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// The reply code, 200..=599.
    pub code: u16,
    /// The text lines, each already prefixed with the enhanced status code
    /// where one applies.
    pub lines: Vec<String>,
}

impl Reply {
    /// A one-line reply with an enhanced status code, e.g. `(550, "5.7.1", "relaying denied")`.
    pub fn new(code: u16, enhanced: &str, text: impl fmt::Display) -> Reply {
        Reply {
            code,
            lines: vec![format!("{enhanced} {}", sanitize(&text.to_string()))],
        }
    }

    /// A reply without an enhanced code (greeting, EHLO/HELO), one line per item.
    pub fn plain<S: Into<String>>(code: u16, lines: impl IntoIterator<Item = S>) -> Reply {
        Reply {
            code,
            lines: lines.into_iter().map(|l| sanitize(&l.into())).collect(),
        }
    }

    /// Appends the wire form (`code-text` continuation lines, `code text` last) to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        let last = self.lines.len().saturating_sub(1);
        if self.lines.is_empty() {
            out.extend_from_slice(format!("{}\r\n", self.code).as_bytes());
        }
        for (i, line) in self.lines.iter().enumerate() {
            let sep = if i == last { ' ' } else { '-' };
            out.extend_from_slice(format!("{}{sep}{line}\r\n", self.code).as_bytes());
        }
    }

    /// The wire form as bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_to(&mut out);
        out
    }
}

/// One line for logs and tracking: `550 5.7.1 relaying denied`.
impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code, self.lines.join(" / "))
    }
}

/// Reply text never contains control characters: a CR or LF coming from a
/// milter's reply text or a client's argument must not split the reply.
fn sanitize(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_and_multi_line_wire_forms() {
        let r = Reply::new(550, "5.7.1", "relaying denied");
        assert_eq!(r.to_bytes(), b"550 5.7.1 relaying denied\r\n");
        assert_eq!(r.to_string(), "550 5.7.1 relaying denied");
        let m = Reply::plain(250, ["mx.test", "PIPELINING", "HELP"]);
        assert_eq!(
            m.to_bytes(),
            b"250-mx.test\r\n250-PIPELINING\r\n250 HELP\r\n"
        );
    }

    #[test]
    fn control_characters_cannot_split_a_reply() {
        let r = Reply::new(550, "5.7.1", "bad\r\n250 ok");
        assert_eq!(r.to_bytes(), b"550 5.7.1 bad  250 ok\r\n");
    }
}
