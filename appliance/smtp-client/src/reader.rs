//! Sans-I/O framing of server replies with smtp-proto's `ResponseReceiver`.
//!
//! Bytes are pushed as they arrive; complete replies are taken out one at a
//! time. Bytes after a complete reply stay buffered for the next one, which is
//! what makes pipelining work: a server may answer MAIL, RCPT and DATA in a
//! single packet.

use crate::Reply;
use smtp_proto::response::parser::ResponseReceiver;

/// Largest number of raw octets one reply may span (all its lines).
///
/// RFC 5321 reply lines are at most 512 octets, so honest multi-line replies
/// (EHLO lists, explanations) stay far below this; the cap stops a hostile or
/// broken server from making us read forever. smtp-proto additionally caps the
/// reply *text* at `smtp_proto::response::parser::MAX_RESPONSE_LENGTH` (4 KiB).
pub const MAX_REPLY_BYTES: usize = 64 * 1024;

/// Turns a byte stream into [`Reply`] values.
#[derive(Default)]
pub(crate) struct ReplyReader {
    receiver: ResponseReceiver,
    /// Received bytes not yet consumed by the parser.
    pending: Vec<u8>,
    /// Raw octets consumed so far by the reply being parsed.
    reply_bytes: usize,
    /// Those octets (at most [`MAX_REPLY_BYTES`]), for the transcript.
    raw: Vec<u8>,
    /// The raw octets of the last complete reply.
    last_raw: Vec<u8>,
}

impl ReplyReader {
    /// Appends bytes read from the socket.
    pub(crate) fn push(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
    }

    /// The raw octets (CRLFs included) of the last complete reply.
    pub(crate) fn last_raw(&self) -> &[u8] {
        &self.last_raw
    }

    /// True when bytes arrived beyond the last complete reply (a server
    /// that talks after its STARTTLS reply is injecting).
    pub(crate) fn has_pending(&self) -> bool {
        !self.pending.is_empty() || self.reply_bytes > 0
    }

    /// The next complete reply, `Ok(None)` if more bytes are needed, or a
    /// description of why the input is not a valid reply.
    ///
    /// When it returns `Ok(None)` every pending byte has been consumed, so
    /// the caller's buffer never holds more than one read.
    pub(crate) fn next_reply(&mut self) -> Result<Option<Reply>, String> {
        let mut unread = self.pending.iter();
        let parsed = self.receiver.parse(&mut unread);
        let consumed = self.pending.len() - unread.len();
        self.reply_bytes += consumed;
        if self.reply_bytes > MAX_REPLY_BYTES {
            return Err(format!("reply longer than {MAX_REPLY_BYTES} octets"));
        }
        self.raw.extend(self.pending.drain(..consumed));
        match parsed {
            Ok(response) => {
                self.receiver.reset();
                self.reply_bytes = 0;
                self.last_raw = std::mem::take(&mut self.raw);
                if !(200..=599).contains(&response.code) {
                    return Err(format!("reply code {} out of range", response.code));
                }
                Ok(Some(Reply::from_response(response)))
            }
            Err(smtp_proto::Error::NeedsMoreData { .. }) => Ok(None),
            Err(smtp_proto::Error::ResponseTooLong) => Err("reply text too long".to_string()),
            Err(other) => Err(format!("malformed reply: {other:?}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_replies(reader: &mut ReplyReader) -> Vec<Reply> {
        let mut replies = Vec::new();
        while let Some(reply) = reader.next_reply().expect("valid replies") {
            replies.push(reply);
        }
        replies
    }

    #[test]
    fn several_replies_in_one_chunk_are_all_kept() {
        let mut reader = ReplyReader::default();
        reader.push(
            b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550-5.1.1 no\r\n550 5.1.1 such user\r\n354 go\r\n",
        );
        assert_eq!(
            all_replies(&mut reader),
            vec![
                Reply::new(250, "2.1.0 Ok"),
                Reply::new(250, "2.1.5 Ok"),
                Reply::new(550, "5.1.1 no\nsuch user"),
                Reply::new(354, "go"),
            ]
        );
        assert_eq!(reader.last_raw(), b"354 go\r\n");
        assert!(!reader.has_pending());
    }

    #[test]
    fn raw_reply_is_kept_whole_across_reads() {
        let mut reader = ReplyReader::default();
        reader.push(b"220-mx.test ESMTP\r\n22");
        assert_eq!(reader.next_reply(), Ok(None));
        assert!(reader.has_pending());
        reader.push(b"0 welcome\r\n250 extra");
        assert!(reader.next_reply().unwrap().is_some());
        assert_eq!(reader.last_raw(), b"220-mx.test ESMTP\r\n220 welcome\r\n");
        assert!(
            reader.has_pending(),
            "the start of the next reply is waiting"
        );
    }

    #[test]
    fn replies_split_across_reads() {
        let wire = b"220-mx.test ESMTP\r\n220 welcome\r\n250 Ok\r\n";
        let mut reader = ReplyReader::default();
        let mut replies = Vec::new();
        for byte in wire {
            reader.push(&[*byte]);
            replies.extend(all_replies(&mut reader));
        }
        assert_eq!(
            replies,
            vec![
                Reply::new(220, "mx.test ESMTP\nwelcome"),
                Reply::new(250, "Ok")
            ]
        );
    }

    #[test]
    fn garbage_is_a_protocol_error() {
        let mut reader = ReplyReader::default();
        reader.push(b"hello there\r\n");
        assert!(reader.next_reply().is_err());
    }

    #[test]
    fn code_out_of_range_is_rejected() {
        let mut reader = ReplyReader::default();
        reader.push(b"199 what\r\n");
        assert!(reader.next_reply().unwrap_err().contains("out of range"));
    }

    #[test]
    fn a_reply_spanning_more_than_the_cap_is_rejected() {
        let mut reader = ReplyReader::default();
        reader.push(b"250-x");
        // Bare CRs do not grow smtp-proto's text buffer: only our cap stops this.
        let flood = vec![b'\r'; 8 * 1024];
        let mut outcome = Ok(None);
        for _ in 0..(MAX_REPLY_BYTES / flood.len() + 1) {
            reader.push(&flood);
            outcome = reader.next_reply();
            if outcome.is_err() {
                break;
            }
        }
        assert!(outcome.unwrap_err().contains("longer than"));
    }

    #[test]
    fn overlong_text_is_rejected() {
        let mut reader = ReplyReader::default();
        reader.push(b"250 ");
        reader.push(&vec![b'a'; 5000]);
        reader.push(b"\r\n");
        assert!(reader.next_reply().is_err());
    }
}
