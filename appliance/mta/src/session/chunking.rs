//! CHUNKING (RFC 3030): the message in `BDAT <size> [LAST]` chunks.
//!
//! Each BDAT is followed by exactly `size` octets of message, with no dot
//! stuffing and no end marker; the octets are always read, even when the
//! command is refused, so a refused chunk is never taken for commands. A
//! chunk is answered `250 2.0.0` once read; the LAST one gets the final
//! reply of the message, exactly as the end of DATA does (filter, queue,
//! fsync, then 250). BDAT without MAIL and RCPT is refused with 503 (554
//! when no recipient was accepted); DATA after a BDAT of the same
//! transaction with 503.
//!
//! The stored message follows the rules of DATA (see [`super::parser`]):
//! bare CR and LF become CRLF, so the delivery side, which relays with DATA,
//! cannot see a different message; a text line over [`MAX_DATA_LINE`] or a
//! message over the size limit fails the transaction at the chunk that
//! crossed it (500 5.5.6, 552 5.3.4), and chunks the client had already
//! pipelined after it are read and refused with 503 (RFC 3030 section 4.2).
//! BODY=BINARYMIME is not offered: binary content cannot be relayed with
//! DATA, and the delivery client does not speak BDAT.

use super::parser::{DataOutcome, MAX_DATA_LINE};
use super::{Phase, Reply, Session, Step};

/// The EHLO keyword.
pub(super) const KEYWORD: &str = "CHUNKING";

/// The message assembled so far in the open transaction.
#[derive(Debug, Default)]
pub(super) struct Chunking {
    message: Option<ChunkedMessage>,
}

impl Chunking {
    /// True when the transaction `queue_id` already received a BDAT chunk.
    pub(super) fn started(&self, queue_id: &str) -> bool {
        self.message
            .as_ref()
            .is_some_and(|m| m.queue_id == queue_id)
    }
}

/// The chunk being read: its octets still to come.
#[derive(Debug)]
pub(super) struct Chunk {
    remaining: usize,
    size: usize,
    last: bool,
    /// The reply when the chunk is refused: it is read and dropped.
    refusal: Option<Reply>,
}

/// A message under assembly, with DATA's line-end normalisation and caps.
#[derive(Debug)]
struct ChunkedMessage {
    queue_id: String,
    body: Vec<u8>,
    max_size: usize,
    line_len: usize,
    pending_cr: bool,
    too_big: bool,
    line_too_long: bool,
}

impl ChunkedMessage {
    fn new(queue_id: String, max_size: usize) -> ChunkedMessage {
        ChunkedMessage {
            queue_id,
            body: Vec::new(),
            max_size,
            line_len: 0,
            pending_cr: false,
            too_big: false,
            line_too_long: false,
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if std::mem::take(&mut self.pending_cr) {
                self.end_line();
                if b == b'\n' {
                    continue;
                }
            }
            match b {
                b'\r' => self.pending_cr = true,
                b'\n' => self.end_line(),
                _ => {
                    self.line_len += 1;
                    if self.line_len + 2 > MAX_DATA_LINE {
                        self.line_too_long = true;
                    }
                    self.store(&[b]);
                }
            }
        }
    }

    fn end_line(&mut self) {
        self.line_len = 0;
        self.store(b"\r\n");
    }

    fn store(&mut self, bytes: &[u8]) {
        if self.body.len() + bytes.len() > self.max_size {
            self.too_big = true;
        } else if !self.too_big {
            self.body.extend_from_slice(bytes);
        }
    }

    /// The message, ending with CRLF like every message received with DATA.
    fn finish(mut self) -> DataOutcome {
        if self.pending_cr || (!self.body.is_empty() && !self.body.ends_with(b"\r\n")) {
            self.end_line();
        }
        DataOutcome {
            body: self.body,
            too_big: self.too_big,
            line_too_long: self.line_too_long,
        }
    }
}

impl Session {
    /// `BDAT size [LAST]`: starts reading the chunk (refused or not).
    pub(super) fn bdat(&mut self, size: usize, last: bool) -> Option<Step> {
        let refusal = match &self.envelope {
            None => Some(Reply::new(503, "5.5.1", "need MAIL and RCPT before BDAT")),
            Some(e) if e.rcpt_attempts == 0 => {
                Some(Reply::new(503, "5.5.1", "need RCPT before BDAT"))
            }
            Some(e) if e.recipients.is_empty() => {
                Some(Reply::new(554, "5.5.1", "no valid recipients"))
            }
            Some(e) => {
                if !self.chunking.started(&e.queue_id) {
                    let max = self.config.max_message_size;
                    self.chunking.message = Some(ChunkedMessage::new(e.queue_id.clone(), max));
                }
                None
            }
        };
        self.phase = Phase::Chunk(Chunk {
            remaining: size,
            size,
            last,
            refusal,
        });
        None
    }

    /// Reads the current chunk from the input; at its end, answers it.
    pub(super) fn chunk_input(&mut self) -> Option<Step> {
        let Phase::Chunk(chunk) = &mut self.phase else {
            return None;
        };
        let n = chunk.remaining.min(self.input.len());
        if chunk.refusal.is_none() {
            if let Some(m) = &mut self.chunking.message {
                m.push(&self.input[..n]);
            }
        }
        self.input.drain(..n);
        chunk.remaining -= n;
        if chunk.remaining > 0 {
            return Some(Step::NeedInput);
        }
        let Phase::Chunk(chunk) = std::mem::replace(&mut self.phase, Phase::Command) else {
            return None;
        };
        if let Some(reply) = chunk.refusal {
            self.reply(reply);
            return None;
        }
        let failed = self
            .chunking
            .message
            .as_ref()
            .is_some_and(|m| m.too_big || m.line_too_long);
        if chunk.last || failed {
            let outcome = self.chunking.message.take()?.finish();
            return self.message_complete(outcome);
        }
        self.reply(Reply::new(
            250,
            "2.0.0",
            format!("{} octets received", chunk.size),
        ));
        None
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Ask, SessionConfig, Verdict};
    use super::*;

    /// Feeds `input` one byte at a time, accepting everything; returns the
    /// output and the bodies of the messages handed over.
    fn byte_by_byte(input: &[u8]) -> (String, Vec<Vec<u8>>) {
        let mut s = Session::new(SessionConfig {
            hostname: "mx.test".into(),
            max_message_size: 1000,
            max_recipients: 5,
        });
        let mut bodies = Vec::new();
        for b in input {
            s.feed(&[*b]);
            loop {
                match s.next_step() {
                    Step::NeedInput | Step::Close => break,
                    Step::Ask(Ask::Message(txn)) => {
                        bodies.push(txn.body);
                        s.message_done(Reply::new(250, "2.0.0", "queued"));
                    }
                    Step::Ask(_) => s.decide(Verdict::Accept),
                    _ => {}
                }
            }
        }
        (String::from_utf8(s.take_output()).unwrap(), bodies)
    }

    #[test]
    fn chunks_split_across_reads_are_data_not_commands() {
        let (out, bodies) = byte_by_byte(
            b"EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\n\
              BDAT 9\r\nQUIT\r\nabcBDAT 0 LAST\r\nNOOP\r\n",
        );
        assert_eq!(bodies, [b"QUIT\r\nabc\r\n".to_vec()]);
        assert!(
            out.ends_with(
                "250 2.1.5 Ok\r\n250 2.0.0 9 octets received\r\n\
                 250 2.0.0 queued\r\n250 2.0.0 Ok\r\n"
            ),
            "{out}"
        );
    }

    fn assemble(chunks: &[&[u8]]) -> DataOutcome {
        let mut m = ChunkedMessage::new("q".into(), 1 << 20);
        for c in chunks {
            m.push(c);
        }
        m.finish()
    }

    #[test]
    fn octets_are_kept_as_sent_without_unstuffing() {
        let out = assemble(&[b"Subject: x\r\n\r\n", b".leading dot\r\n.\r\n"]);
        assert_eq!(out.body, b"Subject: x\r\n\r\n.leading dot\r\n.\r\n");
    }

    #[test]
    fn bare_line_ends_become_crlf_even_across_chunks() {
        let out = assemble(&[b"a\nb\r", b"\nc\r", b"d\r\n\r"]);
        assert_eq!(out.body, b"a\r\nb\r\nc\r\nd\r\n\r\n");
        assert_eq!(
            assemble(&[b"no final line end"]).body,
            b"no final line end\r\n"
        );
        assert_eq!(assemble(&[]).body, b"");
    }

    #[test]
    fn caps() {
        let long = vec![b'x'; MAX_DATA_LINE - 1];
        assert!(assemble(&[&long]).line_too_long);
        assert!(!assemble(&[&long[1..], b"\r\n"]).line_too_long);
        let mut m = ChunkedMessage::new("q".into(), 10);
        m.push(b"0123456789\r\n");
        assert!(m.finish().too_big);
    }
}
