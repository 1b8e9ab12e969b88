//! The line editor of a dumb terminal: raw bytes in, one line (or Ctrl-C,
//! or a refused line) out, and the bytes to echo. Sans-I/O, like the menu.
//!
//! Printable ASCII is echoed as typed (unless echo is off, for passwords);
//! other characters are kept but echoed as one `?` each, so a serial line
//! never carries escape sequences back. Backspace (0x08) and DEL (0x7f) erase
//! one character with `\b \b`, Ctrl-U erases the line, Ctrl-C abandons it,
//! and CR, LF or CRLF end it. Any other control character (arrow and
//! function keys send ESC sequences) taints the line: it is refused whole
//! at its end, as are lines longer than [`MAX_LINE`] and lines that are not
//! UTF-8, so garbage never reaches the menu.

/// Longest line in bytes: a 128-character password of 4-byte characters
/// fits; anything longer is refused rather than cut.
pub const MAX_LINE: usize = 512;

const BACKSPACE: u8 = 0x08;
const DEL: u8 = 0x7f;
const CTRL_C: u8 = 0x03;
const CTRL_U: u8 = 0x15;
const CR: u8 = b'\r';
const LF: u8 = b'\n';
const NUL: u8 = 0x00;
const ERASE: &[u8] = b"\x08 \x08";

/// What a byte completed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineEvent {
    /// A line, without its line end.
    Line(String),
    /// Ctrl-C.
    Interrupt,
    /// The line was refused; why, for people.
    Invalid(String),
}

/// The line being typed.
#[derive(Debug, Default)]
pub struct LineEditor {
    buf: Vec<u8>,
    echo: bool,
    after_cr: bool,
    control: bool,
    overlong: bool,
}

impl LineEditor {
    /// An empty line, echo on.
    pub fn new() -> LineEditor {
        LineEditor {
            echo: true,
            ..LineEditor::default()
        }
    }

    /// Echo typed characters (off for passwords).
    pub fn set_echo(&mut self, echo: bool) {
        self.echo = echo;
    }

    /// Forgets the line typed so far (after an idle timeout).
    pub fn clear(&mut self) {
        self.buf.clear();
        self.control = false;
        self.overlong = false;
    }

    /// Takes one byte; appends what to echo to `echo_out`; returns an event
    /// when the byte ended a line.
    pub fn feed(&mut self, byte: u8, echo_out: &mut Vec<u8>) -> Option<LineEvent> {
        let after_cr = std::mem::replace(&mut self.after_cr, byte == CR);
        match byte {
            LF if after_cr => None,
            CR | LF => {
                echo_out.extend_from_slice(b"\r\n");
                Some(self.finish())
            }
            CTRL_C => {
                echo_out.extend_from_slice(b"^C\r\n");
                self.clear();
                Some(LineEvent::Interrupt)
            }
            BACKSPACE | DEL => {
                self.erase_char(echo_out);
                None
            }
            CTRL_U => {
                while !self.buf.is_empty() {
                    self.erase_char(echo_out);
                }
                self.clear();
                None
            }
            // Some terminals send CR NUL; a NUL means nothing.
            NUL => None,
            b if b < 0x20 => {
                self.control = true;
                None
            }
            b => {
                self.push(b, echo_out);
                None
            }
        }
    }

    fn push(&mut self, b: u8, echo_out: &mut Vec<u8>) {
        if self.buf.len() >= MAX_LINE {
            self.overlong = true;
            return;
        }
        self.buf.push(b);
        if self.echo && shown(b) {
            echo_out.push(if b.is_ascii() { b } else { b'?' });
        }
    }

    /// Removes the last character (all its UTF-8 bytes).
    fn erase_char(&mut self, echo_out: &mut Vec<u8>) {
        while self.buf.last().is_some_and(|b| is_continuation(*b)) {
            self.buf.pop();
        }
        if let Some(b) = self.buf.pop() {
            if self.echo && shown(b) {
                echo_out.extend_from_slice(ERASE);
            }
        }
    }

    fn finish(&mut self) -> LineEvent {
        let bytes = std::mem::take(&mut self.buf);
        let (control, overlong) = (self.control, self.overlong);
        self.clear();
        if control {
            return LineEvent::Invalid(
                "Ignored: the line held control characters (arrow or function keys?).".into(),
            );
        }
        if overlong {
            return LineEvent::Invalid(format!(
                "Ignored: the line was longer than {MAX_LINE} bytes."
            ));
        }
        match String::from_utf8(bytes) {
            Ok(line) => LineEvent::Line(line),
            Err(_) => LineEvent::Invalid("Ignored: the line is not valid UTF-8 text.".into()),
        }
    }
}

fn is_continuation(b: u8) -> bool {
    b & 0xc0 == 0x80
}

/// Whether `b` takes a column on screen when echoed (ASCII, or the first
/// byte of a character echoed as `?`).
fn shown(b: u8) -> bool {
    !is_continuation(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `bytes`; returns the events and everything echoed.
    fn run(ed: &mut LineEditor, bytes: &[u8]) -> (Vec<LineEvent>, Vec<u8>) {
        let mut echo = Vec::new();
        let events = bytes
            .iter()
            .filter_map(|b| ed.feed(*b, &mut echo))
            .collect();
        (events, echo)
    }

    fn line(s: &str) -> LineEvent {
        LineEvent::Line(s.into())
    }

    #[test]
    fn cr_lf_and_crlf_each_end_one_line() {
        let mut ed = LineEditor::new();
        let (ev, echo) = run(&mut ed, b"a\rb\nc\r\nd\r\r\n");
        assert_eq!(ev, [line("a"), line("b"), line("c"), line("d"), line("")]);
        assert_eq!(echo, b"a\r\nb\r\nc\r\nd\r\n\r\n");
        // An LF that does not follow a CR is a line end of its own.
        assert_eq!(run(&mut ed, b"\n").0, [line("")]);
    }

    #[test]
    fn backspace_and_del_erase_one_character() {
        let mut ed = LineEditor::new();
        let (ev, echo) = run(&mut ed, b"abc\x08d\x7f\x7f\x7fxy\r");
        assert_eq!(ev, [line("xy")]);
        assert_eq!(echo, b"abc\x08 \x08d\x08 \x08\x08 \x08\x08 \x08xy\r\n");
        // Backspace on an empty line echoes nothing.
        let (ev, echo) = run(&mut ed, b"\x08\x7fz\r");
        assert_eq!((ev, echo), (vec![line("z")], b"z\r\n".to_vec()));
    }

    #[test]
    fn multibyte_characters_echo_as_one_column_and_erase_whole() {
        let mut ed = LineEditor::new();
        let (ev, echo) = run(&mut ed, "aé\x7fü\r".as_bytes());
        assert_eq!(ev, [line("aü")]);
        assert_eq!(echo, b"a?\x08 \x08?\r\n");
    }

    #[test]
    fn ctrl_u_clears_the_line() {
        let mut ed = LineEditor::new();
        let (ev, echo) = run(&mut ed, b"wrong\x15ok\r");
        assert_eq!(ev, [line("ok")]);
        assert_eq!(
            echo,
            [b"wrong".as_slice(), &ERASE.repeat(5), b"ok\r\n"].concat()
        );
        // Ctrl-U also forgets a control character typed before it.
        assert_eq!(run(&mut ed, b"\x1b[A\x15x\r").0, [line("x")]);
    }

    #[test]
    fn ctrl_c_abandons_the_line() {
        let mut ed = LineEditor::new();
        let (ev, echo) = run(&mut ed, b"half\x03rest\r");
        assert_eq!(ev, [LineEvent::Interrupt, line("rest")]);
        assert_eq!(echo, b"half^C\r\nrest\r\n");
    }

    #[test]
    fn echo_off_echoes_only_the_line_end() {
        let mut ed = LineEditor::new();
        ed.set_echo(false);
        let (ev, echo) = run(&mut ed, b"s3cret\x7ft\r");
        assert_eq!(ev, [line("s3cret")]);
        assert_eq!(echo, b"\r\n");
    }

    #[test]
    fn control_characters_taint_the_line() {
        let mut ed = LineEditor::new();
        let (ev, echo) = run(&mut ed, b"1\x1b[A\r");
        assert!(matches!(&ev[..], [LineEvent::Invalid(m)] if m.contains("control characters")));
        assert_eq!(echo, b"1[A\r\n");
        // The next line is clean again.
        assert_eq!(run(&mut ed, b"2\r").0, [line("2")]);
        // Tab is a control character too; NUL after CR is ignored.
        assert!(matches!(
            run(&mut ed, b"a\tb\r\0").0[..],
            [LineEvent::Invalid(_)]
        ));
        assert_eq!(run(&mut ed, b"\0c\r").0, [line("c")]);
    }

    #[test]
    fn invalid_utf8_is_refused() {
        let mut ed = LineEditor::new();
        let (ev, echo) = run(&mut ed, b"a\xff\xfeb\r");
        assert!(matches!(&ev[..], [LineEvent::Invalid(m)] if m.contains("UTF-8")));
        assert_eq!(echo, b"a??b\r\n");
    }

    #[test]
    fn overlong_lines_are_refused_not_cut() {
        let mut ed = LineEditor::new();
        let long = vec![b'x'; MAX_LINE + 10];
        let (ev, echo) = run(&mut ed, &[long.as_slice(), b"\r"].concat());
        assert!(matches!(&ev[..], [LineEvent::Invalid(m)] if m.contains("longer than 512")));
        // What did not fit was not echoed either.
        assert_eq!(echo.len(), MAX_LINE + 2);
        let exact = vec![b'y'; MAX_LINE];
        let (ev, _) = run(&mut ed, &[exact.as_slice(), b"\n"].concat());
        assert_eq!(ev, [LineEvent::Line("y".repeat(MAX_LINE))]);
    }
}
