//! Helpers shared by the logbook's integration tests: configurations, and
//! parsers of what the logbook produces (file lines, RFC 5424 messages),
//! written independently of the crate's own formatting code.

#![allow(dead_code)] // each test binary uses its own subset

use std::path::Path;

use model::config::{LoggingConfig, SyslogConfig, SyslogProtocol};

/// A file-only configuration.
pub fn config(dir: &Path, max_file_bytes: u64, files_kept: u32) -> LoggingConfig {
    LoggingConfig {
        dir: dir.to_owned(),
        max_file_bytes,
        files_kept,
        remote_syslog: None,
    }
}

/// A configuration forwarding to `address`.
pub fn with_syslog(dir: &Path, address: String, protocol: SyslogProtocol) -> LoggingConfig {
    LoggingConfig {
        remote_syslog: Some(SyslogConfig { address, protocol }),
        ..config(dir, 64 * 1024, 2)
    }
}

/// Checks `2026-11-22T02:20:48.123Z`: UTC with milliseconds.
pub fn assert_timestamp(ts: &str) {
    let shape: String = ts
        .chars()
        .map(|c| if c.is_ascii_digit() { 'd' } else { c })
        .collect();
    assert_eq!(shape, "dddd-dd-ddTdd:dd:dd.dddZ", "timestamp {ts:?}");
    assert!(ts.starts_with("20"), "timestamp {ts:?} is not now-ish");
}

/// The texts of a log file's lines, each line's timestamp checked.
pub fn texts(path: &Path) -> Vec<String> {
    let content = std::fs::read_to_string(path).unwrap_or_default();
    assert!(content.is_empty() || content.ends_with('\n'), "{path:?}");
    content
        .lines()
        .map(|line| {
            let (ts, text) = line.split_once(' ').expect("timestamp and text");
            assert_timestamp(ts);
            text.to_owned()
        })
        .collect()
}

/// An RFC 5424 message taken apart.
#[derive(Debug)]
pub struct Syslog {
    pub facility: u8,
    pub severity: u8,
    pub timestamp: String,
    pub hostname: String,
    pub app_name: String,
    pub msg: String,
}

/// Parses `<PRI>1 TIMESTAMP HOSTNAME APP-NAME - - - MSG`.
pub fn parse_syslog(message: &str) -> Syslog {
    let rest = message.strip_prefix('<').expect("<PRI>");
    let (pri, rest) = rest.split_once('>').expect("<PRI>");
    let pri: u8 = pri.parse().expect("numeric PRI");
    let fields: Vec<&str> = rest.splitn(7, ' ').collect();
    assert_eq!(fields.len(), 7, "{message:?}");
    assert_eq!(fields[0], "1", "version in {message:?}");
    assert_eq!(&fields[4..6], ["-", "-"], "PROCID MSGID in {message:?}");
    let (sd, msg) = fields[6].split_once(' ').expect("SD and MSG");
    assert_eq!(sd, "-", "STRUCTURED-DATA in {message:?}");
    assert_timestamp(fields[1]);
    Syslog {
        facility: pri / 8,
        severity: pri % 8,
        timestamp: fields[1].to_owned(),
        hostname: fields[2].to_owned(),
        app_name: fields[3].to_owned(),
        msg: msg.strip_prefix('\u{feff}').unwrap_or(msg).to_owned(),
    }
}
