//! Integration tests of the SMTP client against real peers over real sockets:
//! Postfix's smtp-sink, a scripted tokio server (per-recipient codes, exact
//! wire bytes, timeouts), unix-domain streams, and a tokio-rustls server
//! for STARTTLS.

mod scripted;
mod scripted_tcp;
mod sink;
mod smtp_sink;
mod starttls;
mod unix;

use std::time::Duration;

/// A configuration with short limits, so a hanging peer fails a test fast.
pub fn test_config() -> smtp_client::ClientConfig {
    smtp_client::ClientConfig {
        helo_name: "client.test".to_string(),
        command_timeout: Duration::from_secs(10),
        data_timeout: Duration::from_secs(10),
    }
}

/// The reference normalisation: every line ends in CRLF (bare CR and bare
/// LF included), and a final line without an ending gets one.
pub fn normalise(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut index = 0;
    while index < message.len() {
        match message[index] {
            b'\r' => {
                out.extend_from_slice(b"\r\n");
                if message.get(index + 1) == Some(&b'\n') {
                    index += 1;
                }
            }
            b'\n' => out.extend_from_slice(b"\r\n"),
            other => out.push(other),
        }
        index += 1;
    }
    if !out.is_empty() && !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// A message full of traps: leading dots, the smuggling sequences, a bare
/// CR, 8-bit text and no final line ending.
pub const TRICKY: &[u8] = b"Subject: tricky\r\nX-Test: caf\xc3\xa9\r\n\r\n.leading dot\r\n..two dots\nbare lf\n.\nafter lf-dot-lf\r.\rafter cr-dot-cr\n.\r\nafter lf-dot-crlf\r\nend without crlf";

/// The reference DATA payload: normalised, a dot added before every line
/// that starts with one, then the terminating `.\r\n`.
pub fn stuffed(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for line in normalise(message).split_inclusive(|b| *b == b'\n') {
        if line.starts_with(b".") {
            out.push(b'.');
        }
        out.extend_from_slice(line);
    }
    out.extend_from_slice(b".\r\n");
    out
}

/// Owned recipient lists, as the envelope borrows them.
pub fn recipients(list: &[&str]) -> Vec<String> {
    list.iter().map(|r| r.to_string()).collect()
}
