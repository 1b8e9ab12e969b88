//! The one logger of every role: a line per record on stderr.
//!
//! Roles run as children of the supervisor, which reads their stderr, prefixes
//! each line with the time and the role, and (on the box) files it. So a line
//! here carries only the level, the module and the message.

use std::io::Write;

use log::{Level, LevelFilter, Log, Metadata, Record};

struct StderrLogger {
    level: LevelFilter,
    /// Set for the supervisor: its own lines look like the roles' lines it forwards.
    source: Option<&'static str>,
}

impl Log for StderrLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= self.level && !noisy(metadata.target(), metadata.level())
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let line = format!(
            "{:<5} {}: {}",
            record.level(),
            record.target(),
            record.args()
        );
        match self.source {
            Some(source) => supervisor::print_line(source, &line),
            // A closed stderr must not take the role down with it.
            None => drop(writeln!(std::io::stderr().lock(), "{line}")),
        }
    }

    fn flush(&self) {
        let _ = std::io::stderr().flush();
    }
}

/// Third-party crates that are chatty at debug level.
fn noisy(target: &str, level: Level) -> bool {
    level > Level::Info
        && ["sled", "tiny_http", "mio", "tokio", "miltr"]
            .iter()
            .any(|t| target.starts_with(t))
}

/// Installs the logger; the level comes from `FILTERBOX_LOG` (error, warn,
/// info, debug, trace), `info` when unset or unreadable. `source` prefixes
/// each line with the time and that name, as the supervisor does for roles.
pub fn init(source: Option<&'static str>) {
    let level = std::env::var("FILTERBOX_LOG")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(LevelFilter::Info);
    if log::set_boxed_logger(Box::new(StderrLogger { level, source })).is_ok() {
        log::set_max_level(level);
    }
}
