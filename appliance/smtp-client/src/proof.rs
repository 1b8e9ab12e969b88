//! What a delivery proves: who took the message, over what, and exactly
//! what was said; the mta stores it in the `delivered` tracking event.

use crate::{DeliveryReport, TlsInfo};

/// Most octets of commands and replies kept in a transcript; a hostile
/// server cannot make it grow past this (a 100-recipient transaction with
/// its EHLO list stays far below).
pub const MAX_TRANSCRIPT_BYTES: usize = 256 * 1024;

/// The result of [`crate::deliver`]: the per-recipient report and the proof.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// Each recipient's fate.
    pub report: DeliveryReport,
    /// The evidence of the conversation.
    pub proof: Proof,
}

/// The evidence of one SMTP conversation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Proof {
    /// The first word of the server's 220 banner: the name it gives itself.
    pub banner_name: String,
    /// The first word of its (last) EHLO or HELO reply.
    pub ehlo_name: String,
    /// The protocol and cipher, when STARTTLS succeeded.
    pub tls: Option<TlsInfo>,
    /// `C: ` lines sent and `S: ` lines received, verbatim and in order;
    /// the message data appears as one `C: [message data ...]` line.
    pub transcript: Vec<String>,
    /// SHA-256 (hex) of the exact octets sent after DATA (dot-stuffed, with
    /// the final `.\r\n`), when the message was sent; their count is
    /// [`DeliveryReport::bytes_sent`].
    pub body_sha256: Option<String>,
}

/// The transcript being recorded, capped at [`MAX_TRANSCRIPT_BYTES`].
#[derive(Debug, Default)]
pub(crate) struct Transcript {
    lines: Vec<String>,
    bytes: usize,
    truncated: bool,
}

impl Transcript {
    /// Records command lines as written.
    pub(crate) fn sent(&mut self, bytes: &[u8]) {
        self.lines_with("C: ", bytes);
    }

    /// Records a reply's raw lines as received.
    pub(crate) fn received(&mut self, raw: &[u8]) {
        self.lines_with("S: ", raw);
    }

    /// Records an event that is not a line on the wire (TLS, the data).
    pub(crate) fn note(&mut self, line: String) {
        self.push(line);
    }

    /// The recorded lines.
    pub(crate) fn into_lines(self) -> Vec<String> {
        self.lines
    }

    fn lines_with(&mut self, prefix: &str, bytes: &[u8]) {
        for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            self.push(format!("{prefix}{}", String::from_utf8_lossy(line)));
        }
    }

    fn push(&mut self, line: String) {
        if self.truncated {
            return;
        }
        if self.bytes + line.len() > MAX_TRANSCRIPT_BYTES {
            self.truncated = true;
            self.lines.push("[transcript truncated]".to_string());
            return;
        }
        self.bytes += line.len();
        self.lines.push(line);
    }
}

/// The first word of a reply's text (the host name in a banner or an EHLO
/// reply), skipping an enhanced status code some servers put first.
pub(crate) fn first_word(text: &str) -> String {
    let mut words = text.split_ascii_whitespace();
    let first = words.next().unwrap_or_default();
    let is_status = first.split('.').count() == 3
        && first.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && matches!(first.as_bytes().first(), Some(b'2' | b'4' | b'5'));
    if is_status {
        return words.next().unwrap_or_default().to_string();
    }
    first.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transcript_keeps_lines_verbatim_and_stops_at_the_cap() {
        let mut t = Transcript::default();
        t.sent(b"MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\n");
        t.received(b"250-mx.test\r\n250 PIPELINING\r\n");
        t.note("TLS: TLSv1.3".into());
        assert_eq!(
            t.into_lines(),
            [
                "C: MAIL FROM:<a@x>",
                "C: RCPT TO:<b@y>",
                "S: 250-mx.test",
                "S: 250 PIPELINING",
                "TLS: TLSv1.3"
            ]
        );
        let mut t = Transcript::default();
        let line = vec![b'a'; 1000];
        for _ in 0..(MAX_TRANSCRIPT_BYTES / 1000 + 10) {
            t.received(&line);
        }
        let lines = t.into_lines();
        assert_eq!(lines.last().unwrap(), "[transcript truncated]");
        assert!(lines.iter().map(String::len).sum::<usize>() <= MAX_TRANSCRIPT_BYTES + 30);
    }

    #[test]
    fn first_word_skips_an_enhanced_code() {
        assert_eq!(
            first_word("mx.example.test ESMTP Postfix"),
            "mx.example.test"
        );
        assert_eq!(first_word("2.0.0 mx.test ready"), "mx.test");
        assert_eq!(first_word(""), "");
    }
}
