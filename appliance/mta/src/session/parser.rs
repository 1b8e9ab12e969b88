//! Framing of the client's byte stream: command lines and the DATA text.
//!
//! Both framers consume exactly the bytes that belong to them and leave the
//! rest in the caller's buffer, so pipelined input is processed in order and
//! nothing is read twice or skipped.
//!
//! # Command lines
//! A command ends at LF (a preceding CR is part of the terminator). A line
//! longer than [`MAX_COMMAND_LINE`] is discarded up to its LF and reported
//! once as [`Framed::TooLong`]; the session then goes on.
//!
//! # DATA text: end of data and smuggling
//! Only `CRLF . CRLF` ends the message: the `.` line must follow a real CRLF
//! (or be the first line) and be terminated by a real CRLF. The policy for
//! bare line ends is "normalise", as Postfix's
//! `smtpd_forbid_bare_newline = normalize`: a bare LF, or a bare CR not
//! followed by LF, ends the line and is stored as CRLF. Sequences such as
//! `\n.\n`, `\n.\r\n`, `\r\n.\n` or `\r.\r` therefore never end the data; the
//! `.` line they contain is ordinary content, stored as `.` (the delivery
//! client dot-stuffs it again). Every other line starting with `.` is
//! dot-unstuffed (RFC 5321 section 4.5.2). The stored message therefore
//! uses CRLF exclusively, so the downstream side cannot see a different end
//! of data than we did.
//!
//! Caps: a text line longer than [`MAX_DATA_LINE`] octets (with its CRLF) or
//! a message longer than the configured size is read to its end but not
//! kept, and the outcome says so, so the session can answer 500 5.5.6 or
//! 552 5.3.4 and carry on.

/// Longest command line accepted, CRLF included (RFC 5321 section 4.5.3.1.4).
pub const MAX_COMMAND_LINE: usize = 512;

/// Longest text line in DATA, CRLF included (RFC 5321 section 4.5.3.1.6).
pub const MAX_DATA_LINE: usize = 1000;

/// What the command framer found in the buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Framed {
    /// One complete command line, terminator included.
    Line(Vec<u8>),
    /// An over-long line was discarded up to and including its LF.
    TooLong,
    /// No complete line yet: read more input.
    Incomplete,
}

/// Cuts command lines out of the input buffer.
#[derive(Debug, Default)]
pub struct LineFramer {
    /// True while skipping the rest of an over-long line.
    discarding: bool,
}

impl LineFramer {
    /// Takes the next command line (or over-long line) off the front of `buf`.
    pub fn next(&mut self, buf: &mut Vec<u8>) -> Framed {
        match buf.iter().position(|&b| b == b'\n') {
            Some(lf) => {
                let line: Vec<u8> = buf.drain(..=lf).collect();
                if std::mem::take(&mut self.discarding) || line.len() > MAX_COMMAND_LINE {
                    Framed::TooLong
                } else {
                    Framed::Line(line)
                }
            }
            None if buf.len() > MAX_COMMAND_LINE || self.discarding => {
                // Keep no more than the cap: the rest of the line is junk.
                self.discarding = true;
                buf.clear();
                Framed::Incomplete
            }
            None => Framed::Incomplete,
        }
    }
}

/// The result of a complete DATA phase.
#[derive(Debug, PartialEq, Eq)]
pub struct DataOutcome {
    /// The message, unstuffed, with CRLF line ends; incomplete if a cap was hit.
    pub body: Vec<u8>,
    /// The message was larger than the size limit.
    pub too_big: bool,
    /// A text line was longer than [`MAX_DATA_LINE`].
    pub line_too_long: bool,
}

/// Receives the DATA text up to `CRLF . CRLF` (see the module doc).
#[derive(Debug)]
pub struct DataReceiver {
    body: Vec<u8>,
    max_size: usize,
    /// Wire octets of the current line so far, without its terminator.
    line_len: usize,
    /// Nothing of the current line has been seen yet.
    line_start: bool,
    /// The current line so far is exactly one `.` (not yet stored).
    dot_only: bool,
    /// The previous line ended with a real CRLF (or this is the first line).
    after_crlf: bool,
    /// A CR was seen; the next byte decides whether it was CRLF or bare.
    pending_cr: bool,
    too_big: bool,
    line_too_long: bool,
}

impl DataReceiver {
    /// A receiver keeping at most `max_size` octets of message.
    pub fn new(max_size: usize) -> DataReceiver {
        DataReceiver {
            body: Vec::new(),
            max_size,
            line_len: 0,
            line_start: true,
            dot_only: false,
            after_crlf: true,
            pending_cr: false,
            too_big: false,
            line_too_long: false,
        }
    }

    /// Consumes input up to the end of data; returns how many bytes of
    /// `input` were consumed and whether the end of data was reached.
    pub fn ingest(&mut self, input: &[u8]) -> (usize, bool) {
        let mut i = 0;
        while i < input.len() {
            let b = input[i];
            if self.pending_cr {
                self.pending_cr = false;
                if b == b'\n' {
                    i += 1;
                    if self.end_line(true) {
                        return (i, true);
                    }
                    continue;
                }
                // Bare CR: a line end; `b` is looked at again below.
                self.end_line(false);
            }
            i += 1;
            match b {
                b'\r' => self.pending_cr = true,
                b'\n' => {
                    self.end_line(false);
                }
                _ => self.content(b),
            }
        }
        (i, false)
    }

    /// The received message and whether a cap was hit.
    pub fn finish(self) -> DataOutcome {
        DataOutcome {
            body: self.body,
            too_big: self.too_big,
            line_too_long: self.line_too_long,
        }
    }

    fn content(&mut self, b: u8) {
        self.line_len += 1;
        if self.line_len + 2 > MAX_DATA_LINE {
            self.line_too_long = true;
        }
        if self.line_start {
            self.line_start = false;
            if b == b'.' {
                // Held back: dot-stuffing, or the end-of-data line.
                self.dot_only = true;
                return;
            }
        }
        // A held-back leading dot followed by more text is a stuffed dot: drop it.
        self.dot_only = false;
        self.store(&[b]);
    }

    /// Ends the current line; true when it was the end-of-data line.
    fn end_line(&mut self, real_crlf: bool) -> bool {
        if self.dot_only {
            if real_crlf && self.after_crlf {
                return true;
            }
            self.store(b".");
        }
        self.store(b"\r\n");
        self.after_crlf = real_crlf;
        self.line_start = true;
        self.dot_only = false;
        self.line_len = 0;
        false
    }

    fn store(&mut self, bytes: &[u8]) {
        if self.body.len() + bytes.len() > self.max_size {
            self.too_big = true;
        } else if !self.too_big {
            self.body.extend_from_slice(bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receive(input: &[u8]) -> (DataOutcome, usize) {
        let mut r = DataReceiver::new(1 << 20);
        let (used, done) = r.ingest(input);
        assert!(done, "end of data not found in {input:?}");
        (r.finish(), used)
    }

    #[test]
    fn command_lines_and_overlong_lines() {
        let mut f = LineFramer::default();
        let mut buf = b"NOOP\r\nQUIT\r\npartial".to_vec();
        assert_eq!(f.next(&mut buf), Framed::Line(b"NOOP\r\n".to_vec()));
        assert_eq!(f.next(&mut buf), Framed::Line(b"QUIT\r\n".to_vec()));
        assert_eq!(f.next(&mut buf), Framed::Incomplete);
        assert_eq!(buf, b"partial");

        let mut buf = vec![b'x'; MAX_COMMAND_LINE + 10];
        assert_eq!(f.next(&mut buf), Framed::Incomplete);
        assert!(buf.is_empty(), "over-long input is not kept");
        buf.extend_from_slice(b"yyy\r\nNOOP\r\n");
        assert_eq!(f.next(&mut buf), Framed::TooLong);
        assert_eq!(f.next(&mut buf), Framed::Line(b"NOOP\r\n".to_vec()));

        // Exactly at the cap is fine, one more octet is not.
        let mut line = vec![b'N'; MAX_COMMAND_LINE - 2];
        line.extend_from_slice(b"\r\n");
        let mut buf = line.clone();
        assert_eq!(f.next(&mut buf), Framed::Line(line));
        let mut buf = vec![b'N'; MAX_COMMAND_LINE - 1];
        buf.extend_from_slice(b"\r\n");
        assert_eq!(f.next(&mut buf), Framed::TooLong);
    }

    #[test]
    fn ends_only_at_crlf_dot_crlf_and_leaves_the_rest() {
        let input = b"Subject: x\r\n\r\nbody\r\n.\r\nQUIT\r\n";
        let (out, used) = receive(input);
        assert_eq!(out.body, b"Subject: x\r\n\r\nbody\r\n");
        assert_eq!(&input[used..], b"QUIT\r\n");
    }

    #[test]
    fn empty_message_ends_at_the_first_line() {
        let (out, used) = receive(b".\r\nNOOP\r\n");
        assert_eq!((out.body.as_slice(), used), (b"".as_slice(), 3));
    }

    #[test]
    fn dot_unstuffing() {
        let (out, _) = receive(b"..leading\r\n...\r\nmid.dle\r\n.\r\n");
        assert_eq!(out.body, b".leading\r\n..\r\nmid.dle\r\n");
    }

    #[test]
    fn bare_line_ends_never_end_data_and_are_normalised() {
        let cases: [(&[u8], &[u8]); 6] = [
            (b"a\n.\nb\r\n.\r\n", b"a\r\n.\r\nb\r\n"),
            (b"a\n.\r\nb\r\n.\r\n", b"a\r\n.\r\nb\r\n"),
            (b"a\r\n.\nb\r\n.\r\n", b"a\r\n.\r\nb\r\n"),
            (b"a\r.\rb\r\n.\r\n", b"a\r\n.\r\nb\r\n"),
            (b"a\r\n.\rb\r\n.\r\n", b"a\r\n.\r\nb\r\n"),
            (b"x\ry\nz\r\r\n.\r\n", b"x\r\ny\r\nz\r\n\r\n"),
        ];
        for (input, expected) in cases {
            let (out, used) = receive(input);
            assert_eq!(out.body, expected, "input {input:?}");
            assert_eq!(used, input.len(), "input {input:?}");
        }
    }

    #[test]
    fn end_of_data_split_across_chunks() {
        let input = b"line\r\n.\r\nNEXT";
        let end = input.len() - 4;
        for split in 0..input.len() {
            let mut r = DataReceiver::new(1 << 20);
            let (a, done) = r.ingest(&input[..split]);
            let used = if done {
                a
            } else {
                assert_eq!(a, split, "split {split}");
                let (b, done) = r.ingest(&input[split..]);
                assert!(done, "split {split}");
                a + b
            };
            assert_eq!(used, end, "split {split}");
            assert_eq!(r.finish().body, b"line\r\n");
        }
    }

    #[test]
    fn caps_are_reported_but_the_data_is_read_to_its_end() {
        let mut long = vec![b'a'; MAX_DATA_LINE - 2];
        long.extend_from_slice(b"\r\nok\r\n.\r\n");
        let (out, used) = receive(&long);
        assert!(
            !out.line_too_long,
            "a line of exactly 1000 octets is allowed"
        );
        assert_eq!(used, long.len());
        let mut long = vec![b'a'; MAX_DATA_LINE - 1];
        long.extend_from_slice(b"\r\n.\r\n");
        assert!(receive(&long).0.line_too_long);

        let mut r = DataReceiver::new(10);
        let (_, done) = r.ingest(b"0123456789\r\nmore\r\n.\r\n");
        assert!(done);
        let out = r.finish();
        assert!(out.too_big && !out.line_too_long);
    }
}
