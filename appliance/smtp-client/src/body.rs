//! The message as it goes on the wire after DATA: CRLF-normalised,
//! dot-stuffed, terminated by `.\r\n`, produced in bounded chunks.
//!
//! Every bare LF and every bare CR in the input becomes CRLF. That closes the
//! SMTP smuggling bug class: a receiver that (wrongly) accepts `\n.\n`,
//! `\r.\r` or `\n.\r\n` as the end of data can never be made to see a second
//! message hidden in ours, because those sequences never reach the wire.

/// Size of one body write. Large enough for throughput, small enough that a
/// 25 MB message is never copied whole.
pub(crate) const BODY_CHUNK: usize = 64 * 1024;

/// Streams the encoded form of a message chunk by chunk.
pub(crate) struct DotStuffer<'a> {
    input: &'a [u8],
    position: usize,
    at_line_start: bool,
    finished: bool,
    chunk_size: usize,
}

impl<'a> DotStuffer<'a> {
    /// Encodes `input` in chunks of about `chunk_size` octets.
    pub(crate) fn new(input: &'a [u8], chunk_size: usize) -> Self {
        DotStuffer {
            input,
            position: 0,
            at_line_start: true,
            finished: false,
            chunk_size: chunk_size.max(1),
        }
    }

    /// Replaces `out` with the next chunk; `false` once everything, including
    /// the final `.\r\n`, has been produced.
    pub(crate) fn next_chunk(&mut self, out: &mut Vec<u8>) -> bool {
        out.clear();
        while out.len() < self.chunk_size && self.position < self.input.len() {
            self.encode_run(out);
        }
        if self.position == self.input.len() && !self.finished {
            // An empty message is just the terminator; otherwise the last
            // line gets its missing CRLF before the dot.
            if !self.at_line_start {
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b".\r\n");
            self.finished = true;
        }
        !out.is_empty()
    }

    /// Copies the rest of the current line (or as much as fits), stuffing a
    /// leading dot and normalising the line ending.
    fn encode_run(&mut self, out: &mut Vec<u8>) {
        let rest = &self.input[self.position..];
        if self.at_line_start && rest[0] == b'.' {
            out.push(b'.');
        }
        let room = self.chunk_size.saturating_sub(out.len()).max(1);
        match rest.iter().position(|b| *b == b'\r' || *b == b'\n') {
            Some(end) if end <= room => {
                out.extend_from_slice(&rest[..end]);
                out.extend_from_slice(b"\r\n");
                let crlf = rest[end] == b'\r' && rest.get(end + 1) == Some(&b'\n');
                self.position += end + if crlf { 2 } else { 1 };
                self.at_line_start = true;
            }
            _ => {
                let take = room.min(rest.len());
                out.extend_from_slice(&rest[..take]);
                self.position += take;
                self.at_line_start = false;
            }
        }
    }
}

/// The message size as RFC 1870 (SIZE) counts it: after line-ending
/// normalisation, without stuffing dots and without the final `.\r\n`.
pub(crate) fn wire_size(message: &[u8]) -> u64 {
    let bare_line_ends = (0..message.len())
        .filter(|&i| match message[i] {
            b'\r' => message.get(i + 1) != Some(&b'\n'),
            b'\n' => i == 0 || message[i - 1] != b'\r',
            _ => false,
        })
        .count();
    let unterminated = !matches!(message.last(), None | Some(b'\r' | b'\n'));
    (message.len() + bare_line_ends + if unterminated { 2 } else { 0 }) as u64
}

/// Whether 8BITMIME matters: any octet with the high bit set.
pub(crate) fn has_eight_bit(message: &[u8]) -> bool {
    message.iter().any(|b| *b >= 0x80)
}

#[cfg(test)]
mod tests;
