//! The subcommands: each asks the API and prints the answer, as a table for
//! people or as the API's JSON for scripts.

pub mod admin;
pub mod domain;
pub mod domain_set;
pub mod quarantine;
pub mod queue;
pub mod smtp_account;
pub mod stats;
pub mod tls;
pub mod tracking;
pub mod user;

use std::io::Write;

use serde::Serialize;

/// Where results go, and in which form.
pub struct Out<'a> {
    /// Standard output (a buffer in tests).
    pub w: &'a mut dyn Write,
    /// `--json`.
    pub json: bool,
}

impl Out<'_> {
    /// Prints `value` as JSON, or `human()` for people.
    pub fn emit<T: Serialize>(
        &mut self,
        value: &T,
        human: impl FnOnce() -> String,
    ) -> anyhow::Result<()> {
        if self.json {
            serde_json::to_writer_pretty(&mut *self.w, value)?;
            self.w.write_all(b"\n")?;
        } else {
            self.w.write_all(human().as_bytes())?;
        }
        Ok(())
    }

    /// A confirmation for people; nothing in JSON mode (the exit code says it).
    pub fn done(&mut self, message: &str) -> anyhow::Result<()> {
        if !self.json {
            writeln!(self.w, "{message}")?;
        }
        Ok(())
    }
}

/// A time for people.
pub fn time(ms: u64) -> String {
    model::time::format_rfc3339(ms)
}
