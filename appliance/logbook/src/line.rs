//! What one log line becomes before it is stored: a millisecond UTC
//! timestamp, a length cap, a single physical line, and a file name that
//! cannot escape the log directory.

/// Longest line text kept whole (in bytes); a role printing a megabyte of
/// base64 on one line must not fill the log (or the queue's memory) with it.
pub const MAX_LINE_BYTES: usize = 16 * 1024;

/// Longest file (and syslog APP-NAME) stem made from a source name.
pub const MAX_NAME_BYTES: usize = 48;

/// `2026-11-22T02:20:48.123Z`: RFC 3339 in UTC with milliseconds, the
/// timestamp of both the files and RFC 5424 messages.
pub fn timestamp(ms: u64) -> String {
    let seconds = model::time::format_rfc3339(ms);
    let stem = seconds.strip_suffix('Z').unwrap_or(&seconds);
    format!("{stem}.{:03}Z", ms % 1000)
}

/// The text as stored: CR and LF become spaces (one entry is one line of the
/// file), and text beyond `cap` bytes is cut at a character boundary and
/// replaced by a marker saying how long the line was.
pub fn cut(text: &str, cap: usize) -> String {
    let flat = |s: &str| s.replace(['\r', '\n'], " ");
    if text.len() <= cap {
        return flat(text);
    }
    let mut end = cap;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{} {}", flat(&text[..end]), cut_marker(text.len()))
}

/// The marker ending a cut line.
pub fn cut_marker(original_len: usize) -> String {
    format!("[line cut: {original_len} bytes]")
}

/// A source name as a file stem: ASCII letters, digits, `-` and `_` are kept,
/// anything else (`/`, `.`, spaces, non-ASCII) becomes `_`, so no name can
/// climb out of the directory, hide itself or clash with a rotated file's
/// `.log.N` suffix. Different sources may map to one name; callers use plain
/// names (`mta`, `ntpd`) anyway.
pub fn sanitise(source: &str) -> String {
    let name: String = source
        .chars()
        .take(MAX_NAME_BYTES)
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '-' | '_' => c,
            _ => '_',
        })
        .collect();
    if name.is_empty() {
        "_".into()
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_have_milliseconds_in_utc() {
        assert_eq!(timestamp(1_795_314_048_123), "2026-11-22T02:20:48.123Z");
        assert_eq!(timestamp(7), "1970-01-01T00:00:00.007Z");
    }

    #[test]
    fn short_lines_are_kept_and_flattened() {
        assert_eq!(cut("INFO  mta: hello", 100), "INFO  mta: hello");
        assert_eq!(cut("a\r\nb", 100), "a  b");
    }

    #[test]
    fn long_lines_are_cut_at_a_character_boundary() {
        let text = "é".repeat(10); // 20 bytes
        let cut = cut(&text, 5);
        assert_eq!(cut, "éé [line cut: 20 bytes]");
    }

    #[test]
    fn names_cannot_escape_the_directory() {
        assert_eq!(sanitise("mta"), "mta");
        assert_eq!(sanitise("../../etc/passwd"), "______etc_passwd");
        assert_eq!(sanitise(".."), "__");
        assert_eq!(sanitise(""), "_");
        assert_eq!(sanitise("udhcpc eth0"), "udhcpc_eth0");
        assert_eq!(sanitise(&"x".repeat(100)).len(), MAX_NAME_BYTES);
    }
}
