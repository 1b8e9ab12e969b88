//! RFC 5424 messages and their framing (sans-I/O):
//! `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG`.
//!
//! The facility is `daemon` (3): the roles are system services, and `daemon`
//! is what a syslog server's default rules file as such (local0..7 would need
//! a rule on the server to be kept at all). PROCID, MSGID and STRUCTURED-DATA
//! are nil (`-`): a line carries only its source and text.

use crate::line::timestamp;

/// `daemon`: system daemons (RFC 5424 section 6.2.1).
pub const FACILITY_DAEMON: u8 = 3;

/// Largest datagram sent over UDP: RFC 5426 says receivers SHOULD accept
/// 2048 octets; longer messages are truncated to it.
pub const MAX_DATAGRAM: usize = 2048;

/// Longest HOSTNAME field (RFC 5424 section 6.2.4).
const MAX_HOSTNAME: usize = 255;

/// Longest APP-NAME field (RFC 5424 section 6.2.5).
const MAX_APP_NAME: usize = 48;

/// The byte order mark that RFC 5424 requires before a UTF-8 MSG.
const BOM: &str = "\u{feff}";

/// RFC 5424 severities used here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// 3: an `ERROR` line.
    Error = 3,
    /// 4: a `WARN` line.
    Warning = 4,
    /// 5: a line without a level (a third-party program's output).
    Notice = 5,
    /// 6: an `INFO` line.
    Info = 6,
    /// 7: a `DEBUG` or `TRACE` line.
    Debug = 7,
}

/// The severity of a line printed by filterbox's logger (`LEVEL target:
/// message`, the level padded to five characters); `Notice` otherwise.
pub fn severity_of(line: &str) -> Severity {
    const LEVELS: [(&str, Severity); 5] = [
        ("ERROR ", Severity::Error),
        ("WARN  ", Severity::Warning),
        ("INFO  ", Severity::Info),
        ("DEBUG ", Severity::Debug),
        ("TRACE ", Severity::Debug),
    ];
    LEVELS
        .iter()
        .find(|(prefix, _)| line.starts_with(prefix))
        .map_or(Severity::Notice, |&(_, severity)| severity)
}

/// One line to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// When it was recorded (unix milliseconds).
    pub ts_ms: u64,
    /// Its source: the APP-NAME.
    pub source: String,
    /// The line.
    pub text: String,
    /// Its severity.
    pub severity: Severity,
}

/// The RFC 5424 message for `entry` sent by `hostname`.
pub fn format(entry: &Entry, hostname: &str) -> String {
    let pri = FACILITY_DAEMON * 8 + entry.severity as u8;
    let bom = if entry.text.is_ascii() { "" } else { BOM };
    format!(
        "<{pri}>1 {} {} {} - - - {bom}{}",
        timestamp(entry.ts_ms),
        header_field(hostname, MAX_HOSTNAME),
        header_field(&entry.source, MAX_APP_NAME),
        entry.text
    )
}

/// A header field: printable ASCII without spaces (others become `_`), at
/// most `max` characters, `-` (nil) when empty.
fn header_field(value: &str, max: usize) -> String {
    let field: String = value
        .chars()
        .take(max)
        .map(|c| if c.is_ascii_graphic() { c } else { '_' })
        .collect();
    if field.is_empty() {
        "-".into()
    } else {
        field
    }
}

/// `message` cut to [`MAX_DATAGRAM`] octets at a character boundary.
pub fn datagram(message: &str) -> &str {
    let mut end = message.len().min(MAX_DATAGRAM);
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    &message[..end]
}

/// `LEN SP MSG`: octet counting, the framing of syslog over TCP (RFC 6587
/// section 3.4.1), safe for any byte in MSG.
pub fn octet_counted(message: &str) -> Vec<u8> {
    let mut frame = format!("{} ", message.len()).into_bytes();
    frame.extend_from_slice(message.as_bytes());
    frame
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(text: &str) -> Entry {
        Entry {
            ts_ms: 1_795_314_048_123,
            source: "mta".into(),
            text: text.into(),
            severity: severity_of(text),
        }
    }

    #[test]
    fn severity_follows_the_loggers_level() {
        assert_eq!(severity_of("ERROR mta::queue: x"), Severity::Error);
        assert_eq!(severity_of("WARN  mta::queue: x"), Severity::Warning);
        assert_eq!(severity_of("INFO  mta::queue: x"), Severity::Info);
        assert_eq!(severity_of("DEBUG mta::queue: x"), Severity::Debug);
        assert_eq!(severity_of("TRACE mta::queue: x"), Severity::Debug);
        assert_eq!(severity_of("udhcpc: lease obtained"), Severity::Notice);
        assert_eq!(severity_of("ERRORS: 3"), Severity::Notice);
    }

    #[test]
    fn formats_an_rfc5424_message() {
        let message = format(&entry("WARN  mta::server: slow"), "box.example.test");
        assert_eq!(
            message,
            "<28>1 2026-11-22T02:20:48.123Z box.example.test mta - - - WARN  mta::server: slow"
        );
    }

    #[test]
    fn utf8_text_gets_a_bom_and_header_fields_are_safe() {
        let message = format(&entry("grüße"), "my box");
        assert_eq!(
            message,
            "<29>1 2026-11-22T02:20:48.123Z my_box mta - - - \u{feff}grüße"
        );
        assert!(format(&entry("x"), "").contains("Z - mta - - - x"));
    }

    #[test]
    fn datagrams_are_truncated_at_a_character_boundary() {
        let long = "é".repeat(MAX_DATAGRAM);
        let cut = datagram(&long);
        assert!(cut.len() <= MAX_DATAGRAM && cut.len() >= MAX_DATAGRAM - 1);
        assert_eq!(datagram("short"), "short");
    }

    #[test]
    fn tcp_frames_count_octets() {
        assert_eq!(octet_counted("<29>1 é"), b"8 <29>1 \xc3\xa9".to_vec());
    }
}
